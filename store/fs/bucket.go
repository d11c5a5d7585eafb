package fs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
	if err := s.createDirs(b); err != nil {
		return err
	}
	md := s.mu.md.Clone()
	md.Set(b, props)
	md.Version++
	return s.saveBucketsLocked(md)
}

func (s *Store) createDirs(b store.Bucket) error {
	for _, m := range s.readable() {
		if err := pathsafe.MkdirAll(m.path, m.bucketDir(b), 0o755); err != nil {
			return fmt.Errorf("create bucket %s on %s: %w", b, m.path, classify(err))
		}
	}
	return nil
}

// removeDirs moves the bucket's directories to the trash, then deletes
// them: the bucket disappears at once even if deletion takes a while.
func (s *Store) removeDirs(b store.Bucket) error {
	return s.removeBucketDirs(s.readable(), b)
}

// removeBucketDirs removes a bucket's objects, tombstones and parts from
// mountpaths: moved to their trash, the moves made durable, then deleted.
// A power loss must not leave them in place, where a bucket created again
// under the name would find them.
func (s *Store) removeBucketDirs(mps []mountpath, b store.Bucket) error {
	type trashed struct{ root, dir string }
	var moved []trashed
	for _, m := range mps {
		for _, dir := range []string{m.bucketDir(b), m.tombstoneDir(b), m.partsDir(b)} {
			trash := filepath.Join(m.trashDir(), b.Name+"-"+randomName())
			if err := pathsafe.Rename(m.path, dir, trash); err != nil {
				if os.IsNotExist(err) {
					continue
				}
				return fmt.Errorf("destroy bucket %s on %s: %w", b, m.path, classify(err))
			}
			moved = append(moved, trashed{m.path, trash})
		}
	}
	if err := s.syncMountpaths(mps); err != nil {
		return fmt.Errorf("destroy bucket %s: %w", b, err)
	}
	for _, t := range moved {
		if err := pathsafe.RemoveAll(t.root, t.dir); err != nil {
			return fmt.Errorf("destroy bucket %s on %s: %w", b, t.root, classify(err))
		}
	}
	return nil
}

// DestroyBucket removes a bucket and all its objects.
func (s *Store) DestroyBucket(ctx context.Context, b store.Bucket) error {
	if err := b.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.mu.md.Props(b); !ok {
		return fmt.Errorf("destroy bucket %s: %w", b, store.ErrBucketNotFound)
	}
	// The directories go (durably) before the metadata that names the
	// bucket: a crash or a failure between leaves the bucket listed, to
	// be destroyed again, never its objects under a name no metadata has
	// (where a bucket made again would find them).
	if err := s.removeDirs(b); err != nil {
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
	s.mu.Lock()
	defer s.mu.Unlock()
	if md.Version <= s.mu.md.Version {
		return nil
	}
	for b, props := range md.Buckets {
		old, ok := s.mu.md.Props(b)
		if ok && old.Created != 0 && props.Created != 0 && old.Created != props.Created {
			// Destroyed and made again while this store was away: what
			// it holds of the old bucket is not the new one's.
			s.logger.Info("a bucket made again while the store was away: its old objects go", "bucket", b.String())
			if err := s.removeDirs(b); err != nil {
				return err
			}
			ok = false
		}
		if !ok {
			if err := s.createDirs(b); err != nil {
				return err
			}
		}
	}
	for b := range s.mu.md.Buckets {
		if _, ok := md.Props(b); !ok {
			if err := s.removeDirs(b); err != nil {
				return err
			}
		}
	}
	return s.saveBucketsLocked(md.Clone())
}

// bucketProps returns a bucket's props or ErrBucketNotFound.
func (s *Store) bucketProps(b store.Bucket) (store.Props, error) {
	if err := b.Validate(); err != nil {
		return store.Props{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.mu.md.Props(b)
	if !ok {
		return store.Props{}, fmt.Errorf("bucket %s: %w", b, store.ErrBucketNotFound)
	}
	return p, nil
}
