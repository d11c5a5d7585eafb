package remote

import (
	"context"
	"time"

	"github.com/aisgo/aisgo/store"
)

// StoreFirstSize exposes storeFirstSize to the tests.
const StoreFirstSize = storeFirstSize

// Stamp is a stamp of now from the store's source, as the node stamps
// its clients' writes and deletes.
func (s *Store) Stamp() store.Stamp { return s.fetchStamp() }

// SetStreamJoinWait sets how long a reader waits for a cold GET that
// streams to another reader, and returns the restore.
func SetStreamJoinWait(d time.Duration) func() {
	old := streamJoinWait
	streamJoinWait = d
	return func() { streamJoinWait = old }
}

// SameVersion is sameVersion.
var SameVersion = sameVersion

// NameUsers is how many hold or wait for the write lock of b's name.
func (s *Store) NameUsers(b store.Bucket, name string) int {
	return s.writes.Users(b.String() + "/" + name)
}

// MayHaveReached is mayHaveReached.
var MayHaveReached = mayHaveReached

// ColdGet is the cold GET of a reader that found no cached copy.
func (s *Store) ColdGet(ctx context.Context, b store.Bucket, name string) error {
	be, _, _, err := s.backend(ctx, b)
	if err != nil {
		return err
	}
	_, err = s.coldGet(ctx, be, b, name, time.Time{})
	return err
}
