package storetest

import (
	"context"
	"slices"
	"sync"

	"github.com/aisgo/aisgo/store"
)

// DeleteRecorder is a store that keeps the options of every delete made
// through it: a test asserts what a caller asked (a stamp, a condition).
type DeleteRecorder struct {
	store.Store
	mu      sync.Mutex
	deletes []store.DeleteOptions
}

// Delete records opts and deletes through the store.
func (r *DeleteRecorder) Delete(ctx context.Context, b store.Bucket, name string, opts store.DeleteOptions) error {
	r.mu.Lock()
	r.deletes = append(r.deletes, opts)
	r.mu.Unlock()
	return r.Store.Delete(ctx, b, name, opts)
}

// Deletes returns the options of the deletes made so far.
func (r *DeleteRecorder) Deletes() []store.DeleteOptions {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.deletes)
}
