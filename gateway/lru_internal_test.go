package gateway

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// A shorter interval set while a long one runs takes effect at once (a
// typo of 2400h, then 10s, waited the 2400h out).
func TestEveryIntervalTakesAShorterIntervalAtOnce(t *testing.T) {
	var interval atomic.Int64
	interval.Store(int64(time.Hour))
	checks := make(chan struct{}, 100)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		everyInterval(ctx, func() time.Duration { return time.Duration(interval.Load()) }, 10*time.Millisecond, func() { checks <- struct{}{} })
	}()
	select {
	case <-checks:
		t.Fatal("checked before an hour")
	case <-time.After(100 * time.Millisecond):
	}
	interval.Store(int64(20 * time.Millisecond))
	for range 3 {
		select {
		case <-checks:
		case <-time.After(10 * time.Second):
			t.Fatal("the shorter interval did not take effect")
		}
	}
	cancel()
	<-done
}
