package fs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aisgo/aisgo/internal/pathsafe"
)

// setAsideDir is where SetAside moves a store's contents, on each
// mountpath.
func (m mountpath) setAsideDir(name string) string {
	return filepath.Join(m.path, ".ais", "set-aside", name)
}

// SetAside moves every object, part and tombstone of the store into
// .ais/set-aside/NAME on its mountpath: out of the store's sight, and
// kept for an administrator. The buckets stay, empty. It tells whether
// there was an object to move.
func (s *Store) SetAside(ctx context.Context, name string) (bool, error) {
	if err := pathsafe.Name(name); err != nil || filepath.Base(name) != name {
		return false, fmt.Errorf("set aside: %q is not a directory name", name)
	}
	// The tombstones go aside with the objects: a mountpath away (or
	// being reconciled) cannot vouch for its copies when it is back.
	if set := s.mountpathSet(); len(set.disabled) > 0 || len(set.gone) > 0 || len(set.returning) > 0 {
		err := s.changeMountpaths(func(set *mountpathSet) error {
			for path := range set.disabled {
				set.unguarded[path] = true
			}
			for _, path := range set.gone {
				set.unguarded[path] = true
			}
			for _, m := range set.returning {
				set.unguarded[m.path] = true
			}
			return nil
		})
		if err != nil {
			return false, fmt.Errorf("set aside: %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	moved := false
	for _, m := range s.inUse() {
		dest := m.setAsideDir(name)
		for b := range s.mu.md.Buckets {
			b = b.Normalize()
			for _, dir := range []struct{ from, to string }{
				{m.bucketDir(b), filepath.Join(dest, "objects", b.Provider, b.Name)},
				{m.partsDir(b), filepath.Join(dest, "parts", b.Provider, b.Name)},
				{m.tombstoneDir(b), filepath.Join(dest, "tombstones", b.Provider, b.Name)},
			} {
				entries, err := os.ReadDir(dir.from)
				if os.IsNotExist(err) {
					continue
				}
				if err := pathsafe.MkdirAll(m.path, filepath.Dir(dir.to), 0o755); err != nil {
					return moved, fmt.Errorf("set aside %s on %s: %w", b, m.path, classify(err))
				}
				if err := pathsafe.Rename(m.path, dir.from, dir.to); err != nil {
					return moved, fmt.Errorf("set aside %s on %s: %w", b, m.path, classify(err))
				}
				if dir.from == m.bucketDir(b) && len(entries) > 0 {
					moved = true
				}
			}
		}
	}
	for b, props := range s.mu.md.Buckets {
		if err := s.createDirs(b, props.Created); err != nil {
			return moved, err
		}
	}
	// Durable before the node serves: undone by a crash, the renames
	// would bring back objects that may have been deleted meanwhile.
	if err := s.syncMountpaths(s.inUse()); err != nil {
		return moved, fmt.Errorf("set aside: %w", err)
	}
	return moved, ctx.Err()
}
