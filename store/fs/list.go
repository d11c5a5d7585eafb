package fs

import (
	"context"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aisgo/aisgo/store"
)

// List returns up to opts.Limit objects after opts.StartAfter whose names
// start with opts.Prefix, in byte order. Each mountpath is walked in name
// order (see walk) and the walks are merged: a page reads the directories
// on its way (each whole: the filesystem has no seek by name) and sorts
// only their entries that sort after StartAfter, not the whole bucket.
func (s *Store) List(ctx context.Context, b store.Bucket, opts store.ListOptions) ([]store.ObjectMeta, error) {
	if _, err := s.bucketProps(b); err != nil {
		return nil, err
	}
	type cursor struct {
		next      func() (listed, bool)
		stop      func()
		head      listed
		ok        bool
		returning bool
	}
	cursors := make([]*cursor, 0, len(s.readable()))
	for _, m := range s.readable() {
		next, stop := iter.Pull(walk(m.bucketDir(b), opts.Prefix, opts.StartAfter))
		c := &cursor{next: next, stop: stop, returning: s.isReturning(m)}
		c.head, c.ok = next()
		cursors = append(cursors, c)
	}
	defer func() {
		for _, c := range cursors {
			c.stop()
		}
	}()
	var out []store.ObjectMeta
	last := ""
	for opts.Limit <= 0 || len(out) < opts.Limit {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var min *cursor
		for _, c := range cursors {
			if c.ok && (min == nil || c.head.name < min.head.name) {
				min = c
			}
		}
		if min == nil {
			break
		}
		item, returning := min.head, min.returning
		min.head, min.ok = min.next()
		if item.err != nil {
			return nil, fmt.Errorf("list %s: %w", b, classify(item.err))
		}
		if len(out) > 0 && item.name == last {
			// A mirror's other copy, or a stale one: a read of the
			// copy counts as a read of the object.
			if opts.WithMeta && out[len(out)-1].Name == item.name {
				s.laterReadOfCopy(&out[len(out)-1], item.path)
			}
			continue
		}
		last = item.name
		if returning && s.hidden(b, item.name, item.path) {
			continue
		}
		meta := store.ObjectMeta{Name: item.name, Size: item.size}
		// A file without AIS metadata is not an object (GET answers 404):
		// listing agrees.
		if opts.WithMeta {
			if err := readMeta(item.path, &meta); err != nil {
				continue // removed or replaced since it was walked
			}
			meta.Name = item.name
			if t, ok := s.accessTime(item.path); ok && t.After(meta.Atime) {
				meta.Atime = t
			}
		} else if !hasMeta(item.path) {
			continue
		}
		out = append(out, meta)
	}
	return out, nil
}

// laterReadOfCopy gives meta the access time of another copy of its
// object at path, when that copy (of the same write) was read later: a
// read goes to the least busy copy, and LRU must not take a mirrored
// object read all day for cold.
func (s *Store) laterReadOfCopy(meta *store.ObjectMeta, path string) {
	var other store.ObjectMeta
	if readMeta(path, &other) != nil || other.Stamp != meta.Stamp {
		return
	}
	if t, ok := s.accessTime(path); ok && t.After(other.Atime) {
		other.Atime = t
	}
	if other.Atime.After(meta.Atime) {
		meta.Atime = other.Atime
	}
}

type listed struct {
	name string // object name, '/'-separated
	path string
	size int64
	err  error
}

// walk yields the regular files under root whose names (relative to root)
// start with prefix and sort after startAfter, in byte order of the names.
//
// A directory "d" holds exactly the names that start with "d/", so sorting
// a directory's entries by name, with "/" appended to subdirectories, gives
// the byte order of the full names. Subtrees that cannot hold a wanted name
// are skipped without being read.
func walk(root, prefix, startAfter string) iter.Seq[listed] {
	return func(yield func(listed) bool) {
		walkDir(root, "", prefix, startAfter, yield)
	}
}

func walkDir(dir, rel, prefix, startAfter string, yield func(listed) bool) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return true
		}
		return yield(listed{err: err})
	}
	type keyed struct {
		key   string
		entry fs.DirEntry
	}
	// Only what may be listed is sorted: a page deep into a big flat
	// directory sorts what comes after it, not the whole directory.
	list := make([]keyed, 0, len(entries))
	for _, e := range entries {
		key := rel + e.Name()
		if e.IsDir() {
			key += "/"
			// Names below start with key: skip the subtree if none can
			// match the prefix or sort after startAfter.
			if !strings.HasPrefix(key, prefix) && !strings.HasPrefix(prefix, key) {
				continue
			}
			if startAfter > key && !strings.HasPrefix(startAfter, key) {
				continue
			}
		} else if !e.Type().IsRegular() || key <= startAfter || !strings.HasPrefix(key, prefix) {
			continue
		}
		list = append(list, keyed{key, e})
	}
	slices.SortFunc(list, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
	for _, k := range list {
		if k.entry.IsDir() {
			if !walkDir(filepath.Join(dir, k.entry.Name()), k.key, prefix, startAfter, yield) {
				return false
			}
			continue
		}
		info, err := k.entry.Info()
		if err != nil {
			continue // removed since the directory was read
		}
		if !yield(listed{name: k.key, path: filepath.Join(dir, k.entry.Name()), size: info.Size()}) {
			return false
		}
	}
	return true
}
