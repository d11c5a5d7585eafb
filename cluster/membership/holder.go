package membership

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/aisgo/aisgo/store"
)

// Holder keeps a node's current snapshot, installs new ones under the
// placement lock, and tells the node and its watchers. Every control-plane
// implementation keeps its state in one.
type Holder struct {
	current   atomic.Pointer[Snapshot]
	placement sync.Locker
	changed   func(previous, next Snapshot)
	watchers  struct {
		sync.Mutex
		chans map[chan Snapshot]struct{}
	}
}

// NewHolder returns a holder of an empty snapshot (no map). placement,
// when set, is held while the snapshot changes; changed, when set, is
// called after each change, in order.
func NewHolder(placement sync.Locker, changed func(previous, next Snapshot)) *Holder {
	h := &Holder{placement: placement, changed: changed}
	h.watchers.chans = map[chan Snapshot]struct{}{}
	empty := store.NewBucketMetadata()
	h.current.Store(&Snapshot{Buckets: &empty})
	return h
}

// Current returns the current snapshot; its Map is nil before the first.
func (h *Holder) Current() Snapshot { return *h.current.Load() }

// Install makes next the current snapshot and returns the one it
// replaced.
func (h *Holder) Install(next Snapshot) Snapshot {
	if h.placement != nil {
		h.placement.Lock()
	}
	previous := *h.current.Swap(&next)
	if h.placement != nil {
		h.placement.Unlock()
	}
	if h.changed != nil {
		h.changed(previous, next)
	}
	h.notify(next)
	return previous
}

// Watch returns a channel that receives every new snapshot (the latest,
// when the reader falls behind) until ctx ends.
func (h *Holder) Watch(ctx context.Context) <-chan Snapshot {
	ch := make(chan Snapshot, 1)
	h.watchers.Lock()
	h.watchers.chans[ch] = struct{}{}
	h.watchers.Unlock()
	context.AfterFunc(ctx, func() {
		h.watchers.Lock()
		delete(h.watchers.chans, ch)
		h.watchers.Unlock()
		close(ch)
	})
	return ch
}

func (h *Holder) notify(s Snapshot) {
	h.watchers.Lock()
	defer h.watchers.Unlock()
	for ch := range h.watchers.chans {
		select {
		case <-ch: // drop the older one the reader has not taken
		default:
		}
		ch <- s
	}
}
