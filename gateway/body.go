package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/aisgo/aisgo/api"
)

// errSlowBody marks a request body that arrived too slowly: a client that
// trickles bytes would otherwise hold a work file and a connection open
// for as long as it likes.
var errSlowBody = api.ErrSlowBody

// errBodyCut marks a request body that ended before what it announced.
var errBodyCut = api.ErrBodyCut

// pacedBody puts a read deadline on a request body that moves with the
// bytes received: grace for the start, then at least minRate bytes per
// second. A legitimate upload never meets it; one byte every few seconds
// does, after the grace. The clock runs only while the handler waits in a
// read: its own work between reads (a durable commit of each item a peer
// streams, a member put into a big shard after the shard's rewrite) is
// not the client's slowness. It stops at the end of the body (net/http
// then reads the connection on its own, and a deadline left would cancel
// the request).
type pacedBody struct {
	body    io.ReadCloser
	control *http.ResponseController
	grace   time.Duration
	minRate int64
	start   time.Time
	read    int64
	// waited is the time spent in reads.
	waited time.Duration
	// set is the deadline last given, zero when none could be set.
	set time.Time
	off bool
}

// A grace of zero or less sets no deadline: the body's errors are still
// told as the client's.
func newPacedBody(w http.ResponseWriter, body io.ReadCloser, grace time.Duration, minRate int64) *pacedBody {
	return &pacedBody{body: body, control: http.NewResponseController(w), grace: grace, minRate: minRate, off: grace <= 0}
}

// extend gives the next read, at now, the time the body has left: the
// grace and the bytes read at minRate, less the time already waited. The
// deadline only moves later; to keep the cost per read small, it is set
// again only when it moved by a second or more, or the one set is less
// than a second away (work between reads brought it near).
func (p *pacedBody) extend(now time.Time) {
	if p.off {
		return
	}
	deadline := now.Add(p.grace - p.waited)
	if p.minRate > 0 {
		// In floating point: read × 1e9 overflows past 9 GB.
		deadline = deadline.Add(time.Duration(float64(p.read) / float64(p.minRate) * float64(time.Second)))
	}
	if !p.set.IsZero() && deadline.Sub(p.set) < time.Second && p.set.Sub(now) > time.Second {
		return
	}
	if err := p.control.SetReadDeadline(deadline); err != nil {
		p.off = true // not a connection that takes deadlines (a test recorder)
		return
	}
	p.set = deadline
}

func (p *pacedBody) Read(b []byte) (int, error) {
	now := time.Now()
	if p.start.IsZero() {
		p.start = now
	}
	p.extend(now)
	n, err := p.body.Read(b)
	p.read += int64(n)
	p.waited += time.Since(now)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return n, fmt.Errorf("%w: %d bytes in %s of waiting for them (at least %d bytes/s after %s)", errSlowBody, p.read, p.waited.Round(time.Second), p.minRate, p.grace)
	}
	if err == io.EOF {
		p.off = true // the body is whole: no deadline on what follows
		return n, err
	}
	if err != nil && !errors.Is(err, http.ErrBodyReadAfterClose) {
		// The client's fault (it closed the connection short of its
		// Content-Length, cut a chunk, sent a malformed one): a 400,
		// not a server error.
		return n, fmt.Errorf("%w (or is malformed) after %d bytes: %w", errBodyCut, p.read, err)
	}
	return n, err
}

func (p *pacedBody) Close() error { return p.body.Close() }

// stallWriter is a response a peer must keep taking: each write gets
// stall, plus its length at minRate, to go through, and Cut ends a write
// at once. Without it, a write to a peer whose host vanished waits until
// the kernel gives up (a quarter of an hour), holding all the stream
// holds, and an abort waits with it.
type stallWriter struct {
	http.ResponseWriter
	control *http.ResponseController
	stall   time.Duration
	minRate int64
	cut     atomic.Bool
	off     bool
	// wrote is set by the first write: the status is sent from then on.
	wrote atomic.Bool
}

func newStallWriter(w http.ResponseWriter, stall time.Duration, minRate int64) *stallWriter {
	return &stallWriter{ResponseWriter: w, control: http.NewResponseController(w), stall: stall, minRate: minRate}
}

// arm gives the next write of n bytes its deadline.
func (s *stallWriter) arm(n int64) {
	if s.off || s.cut.Load() {
		return
	}
	deadline := time.Now().Add(s.stall + time.Duration(n/max(s.minRate, 1))*time.Second)
	if err := s.control.SetWriteDeadline(deadline); err != nil {
		s.off = true // not a connection (a test recorder)
		return
	}
	if s.cut.Load() {
		s.control.SetWriteDeadline(time.Now()) // Cut came in between
	}
}

func (s *stallWriter) Write(p []byte) (int, error) {
	s.wrote.Store(true)
	s.arm(int64(len(p)))
	return s.ResponseWriter.Write(p)
}

// ReadFrom keeps the connection's sendfile.
func (s *stallWriter) ReadFrom(r io.Reader) (int64, error) {
	n := int64(1 << 30)
	if lr, ok := r.(*io.LimitedReader); ok {
		n = lr.N
	}
	s.wrote.Store(true)
	s.arm(n)
	if rf, ok := s.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{s.ResponseWriter}, r)
}

// Cut makes the write under way, and every later one, fail now.
func (s *stallWriter) Cut() {
	s.cut.Store(true)
	s.control.SetWriteDeadline(time.Now())
}

// done lifts the deadline for the connection's next request.
func (s *stallWriter) done() {
	if !s.off && !s.cut.Load() {
		s.control.SetWriteDeadline(time.Time{})
	}
}

func (s *stallWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
