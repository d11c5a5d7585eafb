package gateway

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/store"
)

// heldResilver is a store whose resilvers wait for release, counted.
type heldResilver struct {
	store.Maintainer
	started atomic.Int32
	release chan struct{}
}

func (h *heldResilver) Resilver(ctx context.Context, _ *store.Progress) error {
	h.started.Add(1)
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	return nil
}

func (h *heldResilver) MountpathStatuses() []store.MountpathStatus { return nil }

// A mountpath changed while a resilver runs gets one of its own after it
// (the running one may have passed it: a mountpath enabled would stay
// returning); many changes meanwhile, one more.
func TestMountpathChangedDuringAResilverGetsAnother(t *testing.T) {
	defer func(d time.Duration) { resilverRetry = d }(resilverRetry)
	resilverRetry = time.Millisecond
	held := &heldResilver{release: make(chan struct{})}
	n := &Node{jobs: pipeline.NewJobs(nil), logger: slog.New(slog.DiscardHandler)}
	n.setLoops(t.Context())
	n.config.Storage = held
	wait := func(want int32) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); held.started.Load() < want; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d resilvers started, want %d", held.started.Load(), want)
			}
		}
	}
	n.MountpathChanged("/mp1", "enabled", "")
	wait(1)
	for range 3 {
		n.MountpathChanged("/mp1", "enabled", "")
	}
	held.release <- struct{}{} // the first ends
	wait(2)
	close(held.release)
	for deadline := time.Now().Add(10 * time.Second); n.resilverPending.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a resilver still pending")
		}
	}
	time.Sleep(20 * time.Millisecond) // any third would have started by now
	if got := held.started.Load(); got != 2 {
		t.Fatalf("%d resilvers for a change and three during it, want 2", got)
	}
}
