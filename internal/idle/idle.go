package idle

import (
	"context"
	"io"
	"time"
)

// Watcher cancels a context when the body read through it makes no
// progress for its idle time.
type Watcher struct {
	timer  *time.Timer
	idle   time.Duration
	cancel context.CancelCauseFunc
}

// Watch returns a context cancelled with cause once nothing was read
// through the watcher's Reader for idle (counted from now), and the
// watcher. Stop releases both.
func Watch(ctx context.Context, idle time.Duration, cause error) (context.Context, *Watcher) {
	ctx, cancel := context.WithCancelCause(ctx)
	w := &Watcher{idle: idle, cancel: cancel}
	w.timer = time.AfterFunc(idle, func() { cancel(cause) })
	return ctx, w
}

// Reader returns body, each of whose reads restarts the watch; its end
// stops it (what the reader does with the bytes after is not the
// sender's silence).
func (w *Watcher) Reader(body io.Reader) io.Reader { return reader{body, w} }

// Stop ends the watch and releases its context.
func (w *Watcher) Stop() {
	w.timer.Stop()
	w.cancel(nil)
}

type reader struct {
	body  io.Reader
	watch *Watcher
}

func (r reader) Read(p []byte) (int, error) {
	n, err := r.body.Read(p)
	switch {
	case err != nil:
		r.watch.timer.Stop()
	case n > 0:
		r.watch.timer.Reset(r.watch.idle)
	}
	return n, err
}
