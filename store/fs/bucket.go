package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/store"
)

// CreateBucket creates a bucket with the given props on every mountpath.
func (s *Store) CreateBucket(ctx context.Context, b store.Bucket, props store.Props) error {
	if err := b.Validate(); err != nil {
		return err
	}
	// Zero props mean the defaults; callers that take partial props
	// decode them over store.DefaultProps.
	if props == (store.Props{}) {
		props = store.DefaultProps()
	}
	props.Checksum.Type = store.NormalizeChecksumType(props.Checksum.Type)
	if err := props.Validate(); err != nil {
		return fmt.Errorf("create bucket %s: %w", b, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.mu.md.Props(b); ok {
		return fmt.Errorf("create bucket %s: %w", b, store.ErrBucketExists)
	}
	if props.Created == 0 {
		props.Created = store.Int64String(time.Now().UnixNano())
	}
	props.Provider = b.Normalize().Provider
	if err := s.createDirs(b, props.Created); err != nil {
		return err
	}
	md := s.mu.md.Clone()
	md.Set(b, props)
	md.Version++
	return s.saveBucketsLocked(md)
}

// createDirs makes bucket b's directory on every mountpath in use, marked
// with created (bucketXattr) where it is current. The caller holds s.mu.
func (s *Store) createDirs(b store.Bucket, created store.Int64String) error {
	for _, m := range slices.Concat(s.readable(), s.mu.attaching) {
		if s.isReturning(m) {
			// Marked once reconciled: it may hold an older bucket's.
			if err := pathsafe.MkdirAll(m.path, m.bucketDir(b), 0o755); err != nil {
				return fmt.Errorf("create bucket %s on %s: %w", b, m.path, classify(err))
			}
			continue
		}
		if err := s.currentBucketDir(m, b, created); err != nil {
			return err
		}
	}
	return nil
}

// currentBucketDir makes bucket b's directory on current mountpath m,
// marked as the bucket created at created: one there of an older bucket
// of the name (a disk attached again, detached before the bucket was
// destroyed) goes first. The caller holds s.mu.
func (s *Store) currentBucketDir(m mountpath, b store.Bucket, created store.Int64String) error {
	dir := m.bucketDir(b)
	if otherBucket(dir, created) {
		s.logger.Info("a bucket directory of an older bucket of the name goes", "bucket", b.String(), "mountpath", m.path)
		moved, err := s.trashBucketDirs([]mountpath{m}, b)
		s.emptyTrashLater(b, moved) // not under the lock
		if err != nil {
			return err
		}
	}
	if err := pathsafe.MkdirAll(m.path, dir, 0o755); err != nil {
		return fmt.Errorf("create bucket %s on %s: %w", b, m.path, classify(err))
	}
	s.mark(dir, created)
	return nil
}

// mark marks a bucket directory (markBucketDir); a failure (a disk whose
// inode has no room for one more attribute) is logged: an unmarked
// directory only loses that check.
func (s *Store) mark(dir string, created store.Int64String) {
	if err := markBucketDir(dir, created); err != nil {
		s.logger.Warn("mark a bucket directory with its bucket's creation", "dir", dir, "err", err)
	}
}

// bucketXattr on a bucket's directory holds the creation time of the
// bucket it was made for: a mountpath back from away tells by it a
// directory of a bucket destroyed and made again meanwhile, whatever
// the clocks.
const bucketXattr = "user.ais.bucket"

// markBucketDir marks dir as made for the bucket created at created,
// unless it is marked already (or gone: its bucket destroyed).
func markBucketDir(dir string, created store.Int64String) error {
	if created == 0 {
		return nil
	}
	if _, err := getxattr(dir, bucketXattr, nil); err == nil || errors.Is(err, syscall.ENOENT) {
		return nil
	} else if !errors.Is(err, syscall.ENODATA) {
		return fmt.Errorf("read the mark of %s: %w", dir, err)
	}
	if err := syscall.Setxattr(dir, bucketXattr, strconv.AppendInt(nil, int64(created), 10), 0); err != nil {
		return fmt.Errorf("mark %s: %w", dir, err)
	}
	return nil
}

// otherBucket reports whether dir is marked as made for a bucket other
// than the one created at created (of the same name).
func otherBucket(dir string, created store.Int64String) bool {
	var buf [24]byte
	n, err := getxattr(dir, bucketXattr, buf[:])
	if err != nil || created == 0 {
		return false
	}
	v, err := strconv.ParseInt(string(buf[:n]), 10, 64)
	return err == nil && v != int64(created)
}

// removeBucketDirs removes a bucket's objects, tombstones and parts from
// mountpaths: moved to their trash, the moves made durable, then deleted.
// A power loss must not leave them in place, where a bucket created again
// under the name would find them.
func (s *Store) removeBucketDirs(mps []mountpath, b store.Bucket) error {
	moved, err := s.trashBucketDirs(mps, b)
	if err != nil {
		return err
	}
	return emptyTrash(b, moved)
}

// trashed is a directory moved to a mountpath's trash.
type trashed struct{ root, dir string }

// trashBucketDirs moves a bucket's directories to the trash, durably: the
// bucket disappears at once, and emptyTrash deletes them after, out of
// the store's lock (a start sweeps what a crash left in the trash).
func (s *Store) trashBucketDirs(mps []mountpath, b store.Bucket) ([]trashed, error) {
	var moved []trashed
	for _, m := range mps {
		for _, dir := range []string{m.bucketDir(b), m.tombstoneDir(b), m.partsDir(b)} {
			trash := filepath.Join(m.trashDir(), b.Name+"-"+randomName())
			if err := pathsafe.Rename(m.path, dir, trash); err != nil {
				// Not there: nothing to move. (ENOENT is also a trash
				// gone: that keeps the bucket, and is this destroy's
				// failure, not a bucket destroyed.)
				if _, serr := os.Lstat(dir); os.IsNotExist(err) && os.IsNotExist(serr) {
					continue
				}
				return moved, fmt.Errorf("destroy bucket %s on %s: %w", b, m.path, classify(err))
			}
			moved = append(moved, trashed{m.path, trash})
		}
	}
	if err := s.syncMountpaths(mps); err != nil {
		return moved, fmt.Errorf("destroy bucket %s: %w", b, err)
	}
	return moved, nil
}

// beforeEmptyTrash is a test's hook, run before a destroyed bucket's
// directories are deleted.
var beforeEmptyTrash = func() {}

// emptyTrash deletes what trashBucketDirs moved.
func emptyTrash(b store.Bucket, moved []trashed) error {
	if len(moved) > 0 {
		beforeEmptyTrash()
	}
	for _, t := range moved {
		if err := pathsafe.RemoveAll(t.root, t.dir); err != nil {
			return fmt.Errorf("destroy bucket %s on %s: %w", b, t.root, classify(err))
		}
	}
	return nil
}

// emptyTrashAfter deletes a destroyed bucket's directories once the
// store's lock is released: the deletion of millions of files holds no
// other request up. The bucket is gone already; a failure is logged (the
// next start sweeps the trash).
func (s *Store) emptyTrashAfter(b store.Bucket, moved []trashed) {
	if len(moved) > 0 {
		beforeEmptyTrash()
	}
	for _, t := range moved {
		// A file at a time, so that a closing store stops (the deletion
		// of millions of files would hold its Close for minutes).
		if err := removeTree(t.dir, s.stopping.Load); err != nil {
			if !errors.Is(err, errStopped) {
				s.logger.Warn("a destroyed bucket's files are left in the trash until the next start", "bucket", b.String(), "err", classify(err))
			}
			return
		}
	}
}

// errStopped: a deletion stopped as its store closes.
var errStopped = errors.New("stopped: the store closes")

// removeTree removes dir and all below it, a batch of entries at a time,
// until stop says to stop. It never leaves dir's parent: every name is
// resolved within it (os.Root), one at a time, so a directory swapped for
// a symbolic link (dir itself too) has the link removed, never what it
// names.
func removeTree(dir string, stop func() bool) error {
	parent, err := os.OpenRoot(filepath.Dir(dir))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer parent.Close()
	if err := removeEntry(parent, filepath.Base(dir), stop); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// removeEntry removes name, a directory of root with all below it, or
// another entry (a link) alone.
func removeEntry(root *os.Root, name string, stop func() bool) error {
	if sub, err := root.OpenRoot(name); err == nil {
		err = removeBelow(sub, stop)
		sub.Close()
		if err != nil {
			return err
		}
	}
	// Not a directory within root (a link out, a file), or emptied.
	return root.Remove(name)
}

// removeBelow removes what is in root's directory.
func removeBelow(root *os.Root, stop func() bool) error {
	for {
		f, err := root.Open(".")
		if err != nil {
			return err
		}
		entries, err := f.ReadDir(256)
		f.Close()
		if len(entries) == 0 {
			if err != nil && err != io.EOF {
				return err
			}
			return nil
		}
		for _, e := range entries {
			if stop() {
				return errStopped
			}
			if e.IsDir() {
				err = removeEntry(root, e.Name(), stop)
			} else {
				err = root.Remove(e.Name())
			}
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
}

// emptyTrashLater empties a destroyed bucket's trash in the background:
// a target syncing the metadata of a bucket destroyed elsewhere answers
// the push at once (deleting millions of files takes minutes, and the
// pushes that say the target is alive would wait behind it). Closed, the
// store leaves it to the next start's sweep.
func (s *Store) emptyTrashLater(b store.Bucket, moved []trashed) {
	if len(moved) == 0 {
		return
	}
	s.queueMu.Lock()
	defer s.queueMu.Unlock()
	if s.closed {
		return
	}
	s.background.Go(func() { s.emptyTrashAfter(b, moved) })
}

// DestroyBucket removes a bucket and all its objects.
func (s *Store) DestroyBucket(ctx context.Context, b store.Bucket) error {
	if err := b.Validate(); err != nil {
		return err
	}
	var moved []trashed
	defer func() { s.emptyTrashAfter(b, moved) }() // after the unlock
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.mu.md.Props(b); !ok {
		return fmt.Errorf("destroy bucket %s: %w", b, store.ErrBucketNotFound)
	}
	// The directories go (durably) before the metadata that names the
	// bucket: a crash or a failure between leaves the bucket listed, to
	// be destroyed again, never its objects under a name no metadata has
	// (where a bucket made again would find them).
	var err error
	if moved, err = s.trashBucketDirs(slices.Concat(s.inUse(), s.mu.attaching), b); err != nil {
		return err
	}
	md := s.mu.md.Clone()
	md.Delete(b)
	md.Version++
	return s.saveBucketsLocked(md)
}

// SetBucketProps replaces a bucket's props.
func (s *Store) SetBucketProps(ctx context.Context, b store.Bucket, props store.Props) error {
	if err := b.Validate(); err != nil {
		return err
	}
	if err := props.Validate(); err != nil {
		return fmt.Errorf("set props of %s: %w", b, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.mu.md.Props(b)
	if !ok {
		return fmt.Errorf("set props of %s: %w", b, store.ErrBucketNotFound)
	}
	props.Provider = b.Normalize().Provider
	props.Checksum.Type = store.NormalizeChecksumType(props.Checksum.Type)
	props.Created = old.Created
	md := s.mu.md.Clone()
	md.Set(b, props)
	md.Version++
	return s.saveBucketsLocked(md)
}

// Buckets returns a copy of the bucket metadata.
func (s *Store) Buckets(ctx context.Context) (store.BucketMetadata, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.md.Clone(), nil
}

// SyncBuckets adopts md when it is newer than the store's own. Every
// bucket name in md is validated before any directory is touched.
func (s *Store) SyncBuckets(ctx context.Context, md store.BucketMetadata) error {
	if err := md.Validate(); err != nil {
		return err
	}
	type destroyed struct {
		b     store.Bucket
		moved []trashed
	}
	var trash []destroyed
	defer func() { // after the unlock
		for _, d := range trash {
			s.emptyTrashLater(d.b, d.moved)
		}
	}()
	removeDirs := func(b store.Bucket) error {
		moved, err := s.trashBucketDirs(slices.Concat(s.inUse(), s.mu.attaching), b)
		trash = append(trash, destroyed{b, moved})
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if md.Version <= s.mu.md.Version {
		return nil
	}
	err := s.syncBucketsLocked(md, removeDirs)
	// A bucket whose change failed here keeps what it was: neither that
	// is served nor written to (a write into a destroyed bucket's
	// directories would go once the change is applied).
	s.mu.behind = nil
	if err != nil {
		s.mu.behind = map[store.Bucket]error{}
		for b, props := range md.Buckets {
			if old, ok := s.mu.md.Props(b); !ok || old.Created != props.Created {
				s.mu.behind[b] = err
			}
		}
		for b := range s.mu.md.Buckets {
			if _, ok := md.Props(b); !ok {
				s.mu.behind[b] = err
			}
		}
	}
	return err
}

// syncBucketsLocked makes and removes the directories md's buckets want,
// and saves md.
func (s *Store) syncBucketsLocked(md store.BucketMetadata, removeDirs func(store.Bucket) error) error {
	for b, props := range md.Buckets {
		old, ok := s.mu.md.Props(b)
		if ok && old.Created != 0 && props.Created != 0 && old.Created != props.Created {
			// Destroyed and made again while this store was away: what
			// it holds of the old bucket is not the new one's.
			s.logger.Info("a bucket made again while the store was away: its old objects go", "bucket", b.String())
			if err := removeDirs(b); err != nil {
				return err
			}
			ok = false
		}
		if !ok {
			if err := s.createDirs(b, props.Created); err != nil {
				return err
			}
		}
	}
	for b := range s.mu.md.Buckets {
		if _, ok := md.Props(b); !ok {
			if err := removeDirs(b); err != nil {
				return err
			}
		}
	}
	return s.saveBucketsLocked(md.Clone())
}

// BucketProps returns a bucket's props or ErrBucketNotFound (a
// store.PropsReader).
func (s *Store) BucketProps(ctx context.Context, b store.Bucket) (store.Props, error) {
	p, err := s.bucketProps(b)
	return p.Clone(), err
}

// bucketProps returns a bucket's props or ErrBucketNotFound.
func (s *Store) bucketProps(b store.Bucket) (store.Props, error) {
	if err := b.Validate(); err != nil {
		return store.Props{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err, ok := s.mu.behind[b.Normalize()]; ok {
		// (The cause named, not wrapped: the bucket is unavailable, its
		// disk's condition is another matter.)
		return store.Props{}, fmt.Errorf("bucket %s: %w (%v): retry", b, store.ErrBucketBehind, err)
	}
	p, ok := s.mu.md.Props(b)
	if !ok {
		return store.Props{}, fmt.Errorf("bucket %s: %w", b, store.ErrBucketNotFound)
	}
	return p, nil
}
