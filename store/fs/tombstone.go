package fs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/tinylib/msgp/msgp"

	"github.com/aisgo/aisgo/internal/atomicfile"
	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/store"
)

// Tombstones live apart from objects, in <mountpath>/.ais/tombstones/
// <provider>/<bucket>/<hash of the name>, one small file each: a tombstone
// of "x" never stands in the way of an object "x/y".

func (m mountpath) tombstoneDir(b store.Bucket) string {
	b = b.Normalize()
	return filepath.Join(m.path, ".ais", "tombstones", b.Provider, b.Name)
}

func (m mountpath) tombstonePath(b store.Bucket, name string) string {
	sum := sha256.Sum256([]byte(name))
	return filepath.Join(m.tombstoneDir(b), hex.EncodeToString(sum[:16]))
}

// partsSuffix names a parts tombstone (store.Tombstone.Parts), kept
// beside the name's object tombstone and never taken for it.
const partsSuffix = "-parts"

// tombstoneFile is where a tombstone of t's kind for name lives.
func (m mountpath) tombstoneFile(b store.Bucket, name string, parts bool) string {
	if parts {
		return m.tombstonePath(b, name) + partsSuffix
	}
	return m.tombstonePath(b, name)
}

func encodeTombstone(t store.Tombstone) []byte {
	fields := uint32(4)
	if t.Parts {
		fields++
	}
	b := msgp.AppendMapHeader(nil, fields)
	if t.Parts {
		b = msgp.AppendString(b, "p")
		b = msgp.AppendBool(b, true)
	}
	b = msgp.AppendString(b, "n")
	b = msgp.AppendString(b, t.Name)
	b = msgp.AppendString(b, "m")
	b = msgp.AppendInt64(b, t.Stamp.Map)
	b = msgp.AppendString(b, "c")
	b = msgp.AppendInt64(b, t.Stamp.Clock)
	b = msgp.AppendString(b, "t")
	return msgp.AppendInt64(b, t.Created)
}

// readTombstoneFile reads a tombstone file, no more than one can hold: a
// file damaged or put there larger is refused by decodeTombstone, not
// read whole at every check.
func readTombstoneFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, store.MaxNameLength+129))
}

func decodeTombstone(data []byte) (store.Tombstone, error) {
	var t store.Tombstone
	if len(data) > store.MaxNameLength+128 {
		return t, errors.New("tombstone file is too large")
	}
	n, b, err := msgp.ReadMapHeaderBytes(data)
	for i := uint32(0); err == nil && i < n; i++ {
		var key string
		if key, b, err = msgp.ReadStringBytes(b); err != nil {
			break
		}
		switch key {
		case "n":
			t.Name, b, err = msgp.ReadStringBytes(b)
		case "m":
			t.Stamp.Map, b, err = msgp.ReadInt64Bytes(b)
		case "c":
			t.Stamp.Clock, b, err = msgp.ReadInt64Bytes(b)
		case "t":
			t.Created, b, err = msgp.ReadInt64Bytes(b)
		case "p":
			t.Parts, b, err = msgp.ReadBoolBytes(b)
		default:
			b, err = msgp.Skip(b)
		}
	}
	return t, err
}

// Tombstone returns a name's tombstone, if it has one.
func (s *Store) Tombstone(b store.Bucket, name string) (store.Tombstone, bool) {
	if validBucketName(b, name) != nil {
		return store.Tombstone{}, false
	}
	return s.readTombstone(b, name)
}

// readTombstone returns a name's tombstone, the newest if mountpaths hold
// several.
func (s *Store) readTombstone(b store.Bucket, name string) (store.Tombstone, bool) {
	return s.readTombstoneOf(b, name, false)
}

// readTombstoneOf returns a name's object or parts tombstone.
func (s *Store) readTombstoneOf(b store.Bucket, name string, parts bool) (store.Tombstone, bool) {
	var best store.Tombstone
	found := false
	for _, m := range s.readable() {
		data, err := readTombstoneFile(m.tombstoneFile(b, name, parts))
		if err != nil {
			continue
		}
		t, err := decodeTombstone(data)
		if err != nil || t.Name != name || t.Parts != parts {
			continue
		}
		if !found || t.Stamp.Compare(best.Stamp) > 0 {
			best, found = t, true
		}
	}
	return best, found
}

// tombstoneWriting is a test's hook: a delete's tombstone is about to be
// written on a mountpath; an error fails that copy.
var tombstoneWriting = func(mountpath string) error { return nil }

// tombstoneCopies is how many mountpaths keep a tombstone: one disabled
// (the disk failing) must not take the only guard of a delete with it
// while a copy older than the delete may still come.
const tombstoneCopies = 2

// writeTombstone keeps t unless the name has a newer tombstone, and
// returns the mountpaths it wrote (the name's first tombstoneCopies),
// which the caller syncs (with the removals, in one group sync) before
// the delete is acknowledged; the caller holds the name's lock.
func (s *Store) writeTombstone(b store.Bucket, t store.Tombstone, durable bool) ([]mountpath, error) {
	if old, ok := s.readTombstoneOf(b, t.Name, t.Parts); ok && old.Stamp.Compare(t.Stamp) >= 0 {
		return nil, nil
	}
	mps := s.mountpathsOf(b, t.Name, tombstoneCopies)
	if len(mps) == 0 {
		return nil, fmt.Errorf("%w: no mountpath is enabled", store.ErrIO)
	}
	var written []mountpath
	for i, m := range mps {
		err := tombstoneWriting(m.path)
		if err == nil {
			err = pathsafe.MkdirAll(m.path, m.tombstoneDir(b), 0o755)
		}
		if err == nil {
			if durable && !s.config.NoSync {
				err = atomicfile.Write(m.tombstoneFile(b, t.Name, t.Parts), encodeTombstone(t), 0o644)
			} else {
				err = atomicfile.Replace(m.tombstoneFile(b, t.Name, t.Parts), encodeTombstone(t), 0o644)
			}
		}
		if err != nil {
			// One copy guards the delete; none fails it.
			if i == len(mps)-1 && len(written) == 0 {
				return nil, classify(err)
			}
			s.logger.Warn("a tombstone's copy was not written", "bucket", b.String(), "object", t.Name, "mountpath", m.path, "err", err)
			continue
		}
		written = append(written, m)
	}
	var stale []mountpath // older tombstones where this one is not
	for _, other := range s.readable() {
		if !slices.ContainsFunc(written, func(m mountpath) bool { return m.path == other.path }) {
			if _, err := os.Lstat(other.tombstoneFile(b, t.Name, t.Parts)); err == nil {
				stale = append(stale, other)
			}
		}
	}
	if len(stale) > 0 {
		// The new ones are durable before an older one goes: its removal
		// could reach the disk first (another writer's sync), and a crash
		// then leave no tombstone of an acknowledged delete.
		if err := s.syncMountpaths(written); err != nil {
			s.logger.Warn("older tombstones kept: the new ones could not be synced", "bucket", b.String(), "object", t.Name, "err", err)
			return written, nil
		}
		for _, other := range stale {
			os.Remove(other.tombstoneFile(b, t.Name, t.Parts))
		}
	}
	return written, nil
}

// Tombstones lists a bucket's tombstones.
func (s *Store) Tombstones(ctx context.Context, b store.Bucket) ([]store.Tombstone, error) {
	var out []store.Tombstone
	err := s.WalkTombstones(ctx, b, func(t store.Tombstone) error {
		out = append(out, t)
		return nil
	})
	return out, err
}

// tombstoneChunk is how many directory entries a walk of tombstones
// reads at once (a variable for tests).
var tombstoneChunk = 1024

// WalkTombstones calls fn with each of a bucket's tombstones, the newest
// of a name's across the mountpaths, in no order. It reads the
// directories a chunk at a time and keeps no set of names: a bucket's
// tombstones (millions after a long outage with heavy deletes) are never
// held whole. A file is the same name's on every mountpath, so one
// present on an earlier mountpath was taken there.
func (s *Store) WalkTombstones(ctx context.Context, b store.Bucket, fn func(store.Tombstone) error) error {
	if _, err := s.bucketProps(b); err != nil {
		return err
	}
	mps := s.readable()
	for i := range mps {
		if err := s.walkTombstoneDir(ctx, b, mps[:i], mps[i:], fn); err != nil {
			return fmt.Errorf("tombstones of %s: %w", b, err)
		}
	}
	return nil
}

// walkTombstoneDir walks the tombstone directory of later[0], leaving
// the files an earlier mountpath has, and takes each other file's newest
// copy on the later ones.
func (s *Store) walkTombstoneDir(ctx context.Context, b store.Bucket, earlier, later []mountpath, fn func(store.Tombstone) error) error {
	dir, err := os.Open(later[0].tombstoneDir(b))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return classify(err)
	}
	defer dir.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		entries, err := dir.ReadDir(tombstoneChunk)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return classify(err)
		}
	entries:
		for _, e := range entries {
			file := e.Name()
			if atomicfile.IsTemp(file) {
				continue
			}
			for _, m := range earlier {
				if _, err := os.Lstat(filepath.Join(m.tombstoneDir(b), file)); err == nil {
					continue entries
				}
			}
			var newest store.Tombstone
			found := false
			for _, m := range later {
				data, err := readTombstoneFile(filepath.Join(m.tombstoneDir(b), file))
				if err != nil {
					continue // none here, or dropped since the directory was read
				}
				t, err := decodeTombstone(data)
				if err != nil || store.ValidateName(t.Name) != nil {
					s.logger.Warn("ignoring an unreadable tombstone", "bucket", b.String(), "mountpath", m.path, "file", file, "err", err)
					continue
				}
				if !found || t.Stamp.Compare(newest.Stamp) > 0 {
					newest, found = t, true
				}
			}
			if found {
				if err := fn(newest); err != nil {
					return err
				}
			}
		}
	}
}

// DropTombstone removes a name's tombstones (of the object and of its
// parts) not newer than stamp.
func (s *Store) DropTombstone(ctx context.Context, b store.Bucket, name string, stamp store.Stamp) error {
	return s.DropTombstoneIf(ctx, b, name, stamp, nil)
}

// DropTombstoneIf is DropTombstone once precommit, when set, agrees under
// the name's lock (a rebalance's hold of the placement it moved the
// tombstone by: checked before the lock, a map that gave the name back
// meanwhile, and the tombstone with it, lost it here).
func (s *Store) DropTombstoneIf(ctx context.Context, b store.Bucket, name string, stamp store.Stamp, precommit func() (func(), error)) error {
	if err := store.ValidateName(name); err != nil {
		return err
	}
	if _, err := s.bucketProps(b); err != nil {
		return err
	}
	// A gone mountpath attached now waits for the drop (its reconcile
	// then knows it unguarded); one away already keeps the tombstone.
	s.dropMu.RLock()
	defer s.dropMu.RUnlock()
	lock := s.lockName(b, name)
	lock.Lock()
	defer lock.Unlock()
	// The caller's condition first: refused, the caller knows (a
	// rebalance whose map changed fails its run), kept or not.
	if precommit != nil {
		release, err := precommit()
		if err != nil {
			return err
		}
		defer release()
	}
	if s.away() {
		return nil // a mountpath away may hold what it hides
	}
	type dropped struct{ root, path string }
	var drops []dropped
	newest := int64(-1) // when the newest of them was written
	for _, m := range s.readable() {
		for _, path := range []string{m.tombstoneFile(b, name, false), m.tombstoneFile(b, name, true)} {
			data, err := readTombstoneFile(path)
			if err != nil {
				continue
			}
			t, err := decodeTombstone(data)
			if err == nil && t.Stamp.Compare(stamp) > 0 {
				continue
			}
			if err != nil {
				t.Created = time.Now().UnixNano() // unknown: taken as recent
			}
			newest = max(newest, t.Created)
			drops = append(drops, dropped{m.path, path})
		}
	}
	if len(drops) == 0 {
		return nil
	}
	if err := s.unguard(newest); err != nil {
		return err
	}
	for _, d := range drops {
		if err := pathsafe.Remove(d.root, d.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return classify(err)
		}
	}
	return nil
}

// unguard marks the gone mountpaths that a tombstone written at created
// guards as unguarded, before the tombstone goes: attached again, their
// copies no current one stands for are set aside. One attached again
// and being reconciled is not: what goes from now goes from it too.
func (s *Store) unguard(created int64) error {
	unguards := func(set *mountpathSet) []string {
		var out []string
		for _, path := range set.gone {
			returning := slices.ContainsFunc(set.returning, func(m mountpath) bool { return m.path == path })
			if !set.unguarded[path] && !returning && set.awaySince[path] <= created {
				out = append(out, path)
			}
		}
		return out
	}
	if len(unguards(s.mountpathSet())) == 0 {
		return nil // (the record is not written for nothing)
	}
	var lose []string
	err := s.changeMountpaths(func(set *mountpathSet) error {
		lose = unguards(set)
		for _, path := range lose {
			set.unguarded[path] = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("keep the tombstone of a delete a detached mountpath did not take: %w", err)
	}
	for _, path := range lose {
		s.logger.Warn("tombstones of deletes made while a detached mountpath was away are collected: attached again, its objects no other mountpath holds will be set aside, not served", "mountpath", path)
	}
	return nil
}

// moveTombstones moves the tombstones a detaching mountpath keeps to
// their mountpaths: the guard of a delete must not go with the disk
// while a copy older than it may still come (a rebalance, a part).
func (s *Store) moveTombstones(ctx context.Context, from mountpath, md store.BucketMetadata) error {
	var placed []string
	for b := range md.Buckets {
		dir := from.tombstoneDir(b)
		entries, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("move the tombstones of %s off %s: %w", b, from.path, classify(err))
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return context.Cause(ctx)
			}
			if atomicfile.IsTemp(e.Name()) {
				continue
			}
			path := filepath.Join(dir, e.Name())
			data, err := readTombstoneFile(path)
			if err != nil {
				continue // dropped since the directory was read
			}
			t, err := decodeTombstone(data)
			if err != nil || store.ValidateName(t.Name) != nil {
				// Guards nothing (no name to refuse): it goes, or the
				// detach would count it left for good.
				s.logger.Warn("dropping an unreadable tombstone of a detaching mountpath", "bucket", b.String(), "file", path, "err", err)
				placed = append(placed, path)
				continue
			}
			if err := s.placeTombstone(b, t, from); err != nil {
				return fmt.Errorf("move the tombstone of %s/%s off %s: %w", b, t.Name, from.path, err)
			}
			placed = append(placed, path)
		}
	}
	// Durable where they are before they go from where they were.
	if err := s.syncMountpaths(s.placement()); err != nil {
		return err
	}
	for _, path := range placed {
		pathsafe.Remove(from.path, path)
	}
	return nil
}

// placeTombstone puts a tombstone found on from on its own mountpath,
// unless a newer one is there.
func (s *Store) placeTombstone(b store.Bucket, t store.Tombstone, from mountpath) error {
	lock := s.lockName(b, t.Name)
	lock.Lock()
	defer lock.Unlock()
	// On as many mountpaths as a delete leaves it: one of them disabled
	// later, the other still hides an older copy that comes back. One
	// in place is enough, as for a delete.
	var failed error
	placed := false
	for _, dest := range s.mountpathsOf(b, t.Name, tombstoneCopies) {
		if dest.path == from.path {
			continue
		}
		newer := false
		if data, err := readTombstoneFile(dest.tombstoneFile(b, t.Name, t.Parts)); err == nil {
			if there, err := decodeTombstone(data); err == nil && there.Name == t.Name && there.Parts == t.Parts && there.Stamp.Compare(t.Stamp) >= 0 {
				newer = true
			}
		}
		if newer {
			placed = true
			continue
		}
		err := pathsafe.MkdirAll(dest.path, dest.tombstoneDir(b), 0o755)
		if err == nil {
			err = atomicfile.Replace(dest.tombstoneFile(b, t.Name, t.Parts), encodeTombstone(t), 0o644)
		}
		if err != nil {
			failed = classify(err)
			s.logger.Warn("a moved tombstone's copy was not written", "bucket", b.String(), "object", t.Name, "mountpath", dest.path, "err", err)
			continue
		}
		placed = true
	}
	if !placed && failed != nil {
		return failed
	}
	return nil
}
