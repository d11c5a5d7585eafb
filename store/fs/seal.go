package fs

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aisgo/aisgo/store"
)

// maxSeals bounds the seals held at once (a peer's request makes one):
// far more than destroys run together.
const maxSeals = 1024

// sealPoll is how often a seal looks whether the writes that were
// committing have ended; a commit takes milliseconds.
const sealPoll = 2 * time.Millisecond

// seals are the buckets that take no new objects, and the commits in
// flight per bucket that a seal waits out. A bucket is sealed while any
// of its seals (one per destroy that asked, by token) holds.
type seals struct {
	mu       sync.Mutex
	sealed   map[string]map[string]seal // bucket, token
	count    int
	inflight map[string]int
}

type seal struct {
	created store.Int64String
	until   time.Time
}

func sealKey(b store.Bucket) string { return b.Normalize().String() }

// sealedLocked tells whether the bucket created at created holds a seal.
func (s *Store) sealedLocked(key string, created store.Int64String, now time.Time) bool {
	for _, sl := range s.seals.sealed[key] {
		if sl.created == created && now.Before(sl.until) {
			return true
		}
	}
	return false
}

// beginCommit counts a commit into the bucket created at created, unless
// the bucket is sealed; end uncounts it.
func (s *Store) beginCommit(b store.Bucket, created store.Int64String) (end func(), err error) {
	key := sealKey(b)
	s.seals.mu.Lock()
	defer s.seals.mu.Unlock()
	if s.sealedLocked(key, created, time.Now()) {
		return nil, errSealed(b)
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
// until (or until UnsealBucket lifts this token's seal), and returns once
// the commits that began before have ended. The bucket need not be known
// here yet: a seal holds for it once it is.
func (s *Store) SealBucket(ctx context.Context, b store.Bucket, created store.Int64String, token string, until time.Time) error {
	if err := b.Validate(); err != nil {
		return err
	}
	key := sealKey(b)
	s.seals.mu.Lock()
	now := time.Now()
	for k, tokens := range s.seals.sealed {
		for t, sl := range tokens {
			if !now.Before(sl.until) {
				delete(tokens, t)
				s.seals.count--
			}
		}
		if len(tokens) == 0 {
			delete(s.seals.sealed, k)
		}
	}
	if _, ok := s.seals.sealed[key][token]; !ok && s.seals.count >= maxSeals {
		s.seals.mu.Unlock()
		return fmt.Errorf("seal %s: %d seals are held already (at most %d)", b, s.seals.count, maxSeals)
	}
	if s.seals.sealed == nil {
		s.seals.sealed = map[string]map[string]seal{}
	}
	if s.seals.sealed[key] == nil {
		s.seals.sealed[key] = map[string]seal{}
	}
	if _, ok := s.seals.sealed[key][token]; !ok {
		s.seals.count++
	}
	s.seals.sealed[key][token] = seal{created: created, until: until}
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
			s.UnsealBucket(b, token)
			return fmt.Errorf("seal %s: %d writes still committing: %w", b, busy, ctx.Err())
		case <-ticker.C:
		}
	}
}

// UnsealBucket lifts the seal of a token; the bucket takes objects again
// once no other seal holds.
func (s *Store) UnsealBucket(b store.Bucket, token string) {
	key := sealKey(b)
	s.seals.mu.Lock()
	defer s.seals.mu.Unlock()
	if _, ok := s.seals.sealed[key][token]; ok {
		delete(s.seals.sealed[key], token)
		s.seals.count--
		if len(s.seals.sealed[key]) == 0 {
			delete(s.seals.sealed, key)
		}
	}
}

// errSealed refuses a write into a bucket sealed to be destroyed.
func errSealed(b store.Bucket) error {
	return fmt.Errorf("%w: %s takes no new objects while it is destroyed if empty: retry", store.ErrBucketSealed, b)
}
