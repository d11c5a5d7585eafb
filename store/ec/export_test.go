package ec

import (
	"context"

	"bytes"
	"github.com/aisgo/aisgo/cluster"
	"time"

	"github.com/aisgo/aisgo/store"
)

// NewCodecChunk returns a codec whose streaming functions hold chunk bytes
// of each slice, so that small objects cross many column boundaries.
func NewCodecChunk(l Layout, chunk int64) (*Codec, error) {
	c, err := NewCodec(l)
	if err != nil {
		return nil, err
	}
	c.chunk = chunk
	return c, nil
}

// NewestParts is newestParts over parts held by no target in particular.
func NewestParts(metas []store.PartMeta, current Layout) store.PartMeta {
	parts := make([]found, len(metas))
	for i, m := range metas {
		parts[i] = found{meta: m}
	}
	return newestParts(parts, current)
}

// SetDropRetry sets how often failed deletes of parts are tried again,
// and returns the restore.
func SetDropRetry(every time.Duration) func() {
	old := dropRetryInterval.Swap(int64(every))
	return func() { dropRetryInterval.Store(old) }
}

// HoldMemory takes n bytes of the store's memory budget until the
// returned func gives them back.
func HoldMemory(s *Store, n int64) func() {
	if !s.memory.TryAcquire(n) {
		panic("the budget is taken")
	}
	return func() { s.memory.Release(n) }
}

// InMemoryRestore tells whether a restore of an object of size would be
// made in memory now.
func InMemoryRestore(s *Store, size int64) bool {
	held, release := s.holdMemory(size, 3*size)
	release()
	return held
}

// EncodesInMemory tells whether an encode of data read from storage (not
// a PUT's capture) is made in memory, or through files.
func EncodesInMemory(s *Store, layout Layout, data []byte) bool {
	out, cleanup, err := s.encode(context.Background(), layout, bytes.NewReader(data))
	if err != nil {
		panic(err)
	}
	defer cleanup()
	_, inMemory := out[0].(*bytes.Reader)
	return inMemory
}

// HoldStreams takes n bytes of the streams' budget until the returned
// func gives them back.
func HoldStreams(s *Store, n int64) func() {
	if !s.streams.TryAcquire(n) {
		panic("the budget is taken")
	}
	return func() { s.streams.Release(n) }
}

// EncodeThroughFiles encodes data as one read from storage past the
// memory limit is: through files, its columns from the budget.
func EncodeThroughFiles(ctx context.Context, s *Store, layout Layout, data []byte) error {
	_, cleanup, err := s.encode(ctx, layout, bytes.NewReader(data))
	if err == nil {
		cleanup()
	}
	return err
}

// DropLater keeps a failed delete of parts not newer than stamp on a
// target for another try.
func DropLater(s *Store, b store.Bucket, name string, stamp store.Stamp, node cluster.Node) {
	s.dropLater(context.Background(), b, name, stamp, upTo, node)
}

// DropWriteLater keeps a failed delete of one write's parts on a target
// for another try.
func DropWriteLater(s *Store, b store.Bucket, name string, stamp store.Stamp, node cluster.Node) {
	s.dropLater(context.Background(), b, name, stamp, oneWrite, node)
}

// PendingDrops counts the deletes of parts kept for another try.
func PendingDrops(s *Store) int {
	s.dropMu.Lock()
	defer s.dropMu.Unlock()
	return len(s.drops)
}

// OnProtectStored sets the hook told of each object protectStored reads,
// and returns the restore.
func OnProtectStored(hook func(name string)) func() {
	old := protecting
	protecting = hook
	return func() { protecting = old }
}

// DropIfGone exposes dropIfGone: the parts of a version sent go when the
// object is gone from here.
func (s *Store) DropIfGone(ctx context.Context, b store.Bucket, name string, sent store.Stamp) {
	s.dropIfGone(ctx, b, name, sent)
}

// DropStrays exposes dropStrays: the parts kept here that another target
// holds by map m go.
func DropStrays(ctx context.Context, s *Store, m *cluster.Map, b store.Bucket) error {
	return s.dropStrays(ctx, m, b)
}

// SetMaxRestores bounds the restores a store made from now on runs at
// once, and returns the restore.
func SetMaxRestores(n int) func() {
	old := maxRestores
	maxRestores = n
	return func() { maxRestores = old }
}

// LeftForGood is leftForGood over parts held by no target in particular,
// of the newest version newestParts finds among them.
func (s *Store) LeftForGood(metas []store.PartMeta, current Layout) bool {
	parts := make([]found, len(metas))
	for i, m := range metas {
		parts[i] = found{meta: m}
	}
	return s.leftForGood(parts, newestParts(parts, current))
}

// SetDropRetryFor sets how long failed deletes of parts are tried again
// at least, and returns the restore.
func SetDropRetryFor(d time.Duration) func() {
	old := dropRetryFor
	dropRetryFor = d
	return func() { dropRetryFor = old }
}

// KeptDeleteUntil is until when the kept delete of name's parts on node
// is tried (zero: none kept).
func KeptDeleteUntil(s *Store, node, name string) time.Time {
	s.dropMu.Lock()
	defer s.dropMu.Unlock()
	for _, d := range s.drops {
		if d.node.ID == node && d.name == name {
			return d.until
		}
	}
	return time.Time{}
}

// EncodeShort encodes a source that says it has claimed bytes but reads
// as data only (a file shorter than its object's size).
func (s *Store) EncodeShort(ctx context.Context, layout Layout, data []byte, claimed int64) error {
	_, release, err := s.encode(ctx, layout, shortSource{bytes.NewReader(data), claimed})
	if err == nil {
		release()
	}
	return err
}

type shortSource struct {
	*bytes.Reader
	claimed int64
}

func (s shortSource) Size() int64 { return s.claimed }
