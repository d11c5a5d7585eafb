package idle

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

// A body that keeps moving outlives the idle time; one that stops is
// cancelled with the cause given.
func TestWatchCancelsOnlyASilentBody(t *testing.T) {
	stalled := errors.New("stalled")
	ctx, w := Watch(t.Context(), 100*time.Millisecond, stalled)
	defer w.Stop()
	pr, pw := io.Pipe()
	go func() {
		for range 6 {
			pw.Write([]byte("x"))
			time.Sleep(40 * time.Millisecond)
		}
		<-ctx.Done()
		pw.CloseWithError(context.Cause(ctx))
	}()
	data, err := io.ReadAll(w.Reader(pr))
	if len(data) != 6 || !errors.Is(err, stalled) {
		t.Fatalf("read %d bytes, %v: want 6, then the stall", len(data), err)
	}
	if !errors.Is(context.Cause(ctx), stalled) {
		t.Fatalf("cause %v", context.Cause(ctx))
	}
}

// A body that ended is not silent: the context stays until Stop.
func TestWatchStopsAtTheBodysEnd(t *testing.T) {
	ctx, w := Watch(t.Context(), 50*time.Millisecond, errors.New("stalled"))
	io.ReadAll(w.Reader(io.LimitReader(zeros{}, 10)))
	time.Sleep(150 * time.Millisecond)
	if ctx.Err() != nil {
		t.Fatalf("the context after the body ended: %v", context.Cause(ctx))
	}
	w.Stop()
	if ctx.Err() == nil {
		t.Fatal("Stop left the context")
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
