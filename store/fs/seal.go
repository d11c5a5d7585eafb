package fs

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aisgo/aisgo/store"
)

// maxSeals bounds the buckets sealed at once (a peer's request makes
// one): far more than destroys run together.
const maxSeals = 1024

// sealPoll is how often a seal looks whether the writes that were
// committing have ended; a commit takes milliseconds.
const sealPoll = 2 * time.Millisecond

// seals are the buckets that take no new objects, and the commits in
// flight per bucket that a seal waits out.
type seals struct {
	mu       sync.Mutex
	sealed   map[string]seal
	inflight map[string]int
}

type seal struct {
	created store.Int64String
	until   time.Time
}

func sealKey(b store.Bucket) string { return b.Normalize().String() }

// beginCommit counts a commit into the bucket created at created, unless
// the bucket is sealed; end uncounts it.
func (s *Store) beginCommit(b store.Bucket, created store.Int64String) (end func(), err error) {
	key := sealKey(b)
	s.seals.mu.Lock()
	defer s.seals.mu.Unlock()
	if sl, ok := s.seals.sealed[key]; ok && sl.created == created && time.Now().Before(sl.until) {
		return nil, fmt.Errorf("%w: %s takes no new objects while it is destroyed if empty: retry", store.ErrBucketSealed, b)
	}
	if s.seals.inflight == nil {
		s.seals.inflight = map[string]int{}
	}
	s.seals.inflight[key]++
	return func() {
		s.seals.mu.Lock()
		defer s.seals.mu.Unlock()
		if s.seals.inflight[key]--; s.seals.inflight[key] == 0 {
			delete(s.seals.inflight, key)
		}
	}, nil
}

// SealBucket refuses new objects in the bucket created at created until
// until (or UnsealBucket), and returns once the commits that began before
// have ended. The bucket need not be known here yet: a seal holds for it
// once it is.
func (s *Store) SealBucket(ctx context.Context, b store.Bucket, created store.Int64String, until time.Time) error {
	if err := b.Validate(); err != nil {
		return err
	}
	key := sealKey(b)
	s.seals.mu.Lock()
	now := time.Now()
	for k, sl := range s.seals.sealed {
		if !now.Before(sl.until) {
			delete(s.seals.sealed, k)
		}
	}
	if _, ok := s.seals.sealed[key]; !ok && len(s.seals.sealed) >= maxSeals {
		s.seals.mu.Unlock()
		return fmt.Errorf("seal %s: %d buckets are sealed already (at most %d)", b, len(s.seals.sealed), maxSeals)
	}
	if s.seals.sealed == nil {
		s.seals.sealed = map[string]seal{}
	}
	s.seals.sealed[key] = seal{created: created, until: until}
	s.seals.mu.Unlock()
	// A commit that counted itself before the seal may still make an
	// object; every later one is refused.
	ticker := time.NewTicker(sealPoll)
	defer ticker.Stop()
	for {
		s.seals.mu.Lock()
		busy := s.seals.inflight[key]
		s.seals.mu.Unlock()
		if busy == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			s.UnsealBucket(b, created)
			return fmt.Errorf("seal %s: %d writes still committing: %w", b, busy, ctx.Err())
		case <-ticker.C:
		}
	}
}

// UnsealBucket lets the bucket created at created take objects again.
func (s *Store) UnsealBucket(b store.Bucket, created store.Int64String) {
	key := sealKey(b)
	s.seals.mu.Lock()
	defer s.seals.mu.Unlock()
	if sl, ok := s.seals.sealed[key]; ok && sl.created == created {
		delete(s.seals.sealed, key)
	}
}
