package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// errSlowBody marks a request body that arrived too slowly: a client that
// trickles bytes would otherwise hold a work file and a connection open
// for as long as it likes.
var errSlowBody = errors.New("the request body arrived too slowly")

// pacedBody puts a read deadline on a request body that moves with the
// bytes received: grace for the start, then at least minRate bytes per
// second. A legitimate upload never meets it; one byte every few seconds
// does, after the grace.
type pacedBody struct {
	body    io.ReadCloser
	control *http.ResponseController
	grace   time.Duration
	minRate int64
	start   time.Time
	read    int64
	// set is the deadline last given, zero when none could be set.
	set time.Time
	off bool
}

func newPacedBody(w http.ResponseWriter, body io.ReadCloser, grace time.Duration, minRate int64) *pacedBody {
	p := &pacedBody{body: body, control: http.NewResponseController(w), grace: grace, minRate: minRate, start: time.Now()}
	p.extend()
	return p
}

// extend moves the deadline with the bytes read; it is set again only
// when it moved by a second or more, to keep the cost per read small.
func (p *pacedBody) extend() {
	if p.off {
		return
	}
	deadline := p.start.Add(p.grace)
	if p.minRate > 0 {
		deadline = deadline.Add(time.Duration(p.read * int64(time.Second) / p.minRate))
	}
	if !p.set.IsZero() && deadline.Sub(p.set) < time.Second {
		return
	}
	if err := p.control.SetReadDeadline(deadline); err != nil {
		p.off = true // not a connection that takes deadlines (a test recorder)
		return
	}
	p.set = deadline
}

func (p *pacedBody) Read(b []byte) (int, error) {
	n, err := p.body.Read(b)
	p.read += int64(n)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return n, fmt.Errorf("%w: %d bytes in %s (at least %d bytes/s after %s)", errSlowBody, p.read, time.Since(p.start).Round(time.Second), p.minRate, p.grace)
	}
	p.extend()
	return n, err
}

func (p *pacedBody) Close() error { return p.body.Close() }
