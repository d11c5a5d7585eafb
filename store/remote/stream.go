package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/store"
)

// OpenCached opens the copy this node holds of an object, fetching
// nothing (a store.CachedOpener): store.ErrNotCached when a remote
// bucket's object is not cached here and the remote has it,
// store.ErrNotFound when it has none either (a HEAD tells, moving no
// data), and the remote's error when it cannot tell (down, refusing).
func (s *Store) OpenCached(ctx context.Context, b store.Bucket, name string) (store.Object, error) {
	obj, err := s.Store.Open(ctx, b, name, store.OpenOptions{})
	if !b.IsRemote() || !errors.Is(err, store.ErrNotFound) {
		return obj, err
	}
	be, _, _, berr := s.backend(ctx, b)
	if berr == nil {
		_, berr = be.HeadObject(ctx, b, name)
		if errors.Is(berr, store.ErrNotFound) {
			return nil, err
		}
	}
	if berr != nil {
		// Not "missing": the remote did not say it has none. Its kind
		// is kept (a refusal is 403 for good, not a 503 to retry).
		if store.Kinds.Of(berr) != "" || ctx.Err() != nil {
			return nil, fmt.Errorf("%s/%s is not cached here, and the remote could not tell whether it has it: %w", b, name, berr)
		}
		return nil, fmt.Errorf("%s/%s is not cached here, and the remote could not tell whether it has it: %w: %w", b, name, ErrUnavailable, berr)
	}
	return nil, fmt.Errorf("%s/%s: %w", b, name, store.ErrNotCached)
}

// OpenStreaming reads an object like Open, but an object not cached and
// bigger than storeFirstSize is served while it is stored: the first
// reader reads the remote's bytes as they arrive, and the cached copy is
// written from the same stream (the readers that come meanwhile wait for
// it). The object it returns for such a read is read from the start to
// the end only: no Seek, no ReadAt.
func (s *Store) OpenStreaming(ctx context.Context, b store.Bucket, name string) (store.Object, error) {
	be, props, remote, err := s.backend(ctx, b)
	if !remote || err != nil || props.Versioning.ValidateWarmGet {
		return s.Open(ctx, b, name, store.OpenOptions{})
	}
	obj, err := s.Store.Open(ctx, b, name, store.OpenOptions{})
	switch {
	case err == nil:
		return obj, nil
	case !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrBadChecksum) && !errors.Is(err, store.ErrCorrupt):
		return nil, err
	}
	// Not cached, or a copy that cannot be served: fetched (again).
	key := b.String() + "/" + name
	s.mu.Lock()
	if _, ok := s.flights[key]; ok || s.fetched[key] {
		// Under way (waited for), or ended just now, after this reader
		// missed the copy (read).
		s.mu.Unlock()
		return s.Open(ctx, b, name, store.OpenOptions{})
	}
	f := &flight{done: make(chan struct{})}
	s.flights[key] = f
	s.mu.Unlock()
	// Before the idle watch starts: a write through of the name holds
	// its lock for as long as its upload takes.
	stamp, fetched := s.startStamp(b, name)
	// The fetch outlives a reader that gives up, not a remote that stalls.
	fetchCtx, watch := s.watchIdle(context.WithoutCancel(ctx), b, name)
	// release lets the readers waiting for the fetch go (once), end
	// ends it.
	var released sync.Once
	release := func(err error) {
		released.Do(func() {
			if cause := context.Cause(fetchCtx); err != nil && cause != nil {
				err = cause // the stall, not how the read of it failed
			}
			f.err = err
			s.mu.Lock()
			delete(s.flights, key)
			if err == nil {
				s.markFetchedLocked(key)
			}
			s.mu.Unlock()
			close(f.done)
		})
	}
	end := func(err error) {
		release(err)
		watch.Stop()
	}
	body, attrs, err := be.GetObject(fetchCtx, b, name)
	if err != nil {
		fetched()
		end(err)
		return nil, f.err
	}
	raw := io.Reader(remoteBody{watch.Reader(body)})
	guarded, err := s.guardSpace(fetchCtx, b, name, raw)
	if err != nil {
		fetched()
		body.Close()
		end(err)
		return nil, err
	}
	if attrs.Size <= storeFirstSize {
		body = readCloser{guarded, body}
		// Small, or no length to announce (negative): store, then serve.
		defer body.Close()
		_, err := s.Store.Put(fetchCtx, b, name, body, s.fetchOptions(fetchCtx, b, name, attrs, stamp))
		fetched()
		err = coldGetError(err)
		if superseded(err) {
			err = nil // the newer object (or its delete) is what to read
		}
		end(err)
		if f.err != nil {
			return nil, fmt.Errorf("cold GET %s/%s: %w", b, name, f.err)
		}
		obj, err := s.Store.Open(ctx, b, name, store.OpenOptions{})
		if errors.Is(err, store.ErrNotFound) {
			return s.Open(ctx, b, name, store.OpenOptions{}) // evicted since: fetched again
		}
		return obj, err
	}
	// Streamed, the space is watched on the cache's side: a disk filling
	// up ends the copy kept, not the client's read (which has its headers
	// and part of the object already).
	body = readCloser{raw, body}
	f.streaming.Store(true)
	pr, pw := io.Pipe()
	var cached io.Reader = pr
	if s.spaceCheck != nil {
		cached = store.GuardSpace(fetchCtx, pr, s.spaceCheck)
	}
	// The copy's end of the bytes: past it, it checked them.
	readAll := &endSeen{r: cached}
	cached = readAll
	// A fetch given up (the remote stalled, or the reader did for the
	// idle timeout) ends the store that reads the tee.
	context.AfterFunc(fetchCtx, func() { pr.CloseWithError(context.Cause(fetchCtx)) })
	stored := make(chan error, 1)
	opts := s.fetchOptions(fetchCtx, b, name, attrs, stamp)
	go func() {
		_, err := s.Store.Put(fetchCtx, b, name, cached, opts)
		fetched()
		err = coldGetError(err)
		if superseded(err) {
			// The reader has the bytes it asked for; the name keeps the
			// newer object, or its delete.
			err = nil
		}
		pr.CloseWithError(err) // a failed store stops copying to it
		stored <- err
		if err != nil {
			// The readers waiting for it go on (a fetch of their own)
			// now, not once the reader that started it is done with it:
			// one that stopped reading (the fetch given up for it) may
			// keep its connection for long.
			release(err)
		}
	}()
	o := &streamingObject{
		body: body, tee: &keepServing{r: body, w: pw}, pw: pw, stored: stored, end: end, readAll: readAll,
		cause: func() error { return context.Cause(fetchCtx) },
		meta:  store.ObjectMeta{Name: name, Size: attrs.Size, Version: attrs.Version, Custom: customOf(attrs)},
	}
	o.reader = o.tee
	if !opts.Checksum.IsEmpty() {
		// Checked against the remote's checksum as it is cached: the reader
		// gets its last byte only once the copy checks, else an error
		// (its bytes changed on the way).
		o.reader = &heldLast{r: o.tee, verdict: o.verdict}
	}
	return o, nil
}

// storeFirstSize is the size up to which a cold object is stored first
// and then served from its file by sendfile: for small objects that costs
// less CPU than a tee through a pipe with a copy to the client (measured:
// cold GETs of 1 MiB objects 20-40% faster), and the wait is short.
const storeFirstSize = 8 << 20

// streamingObject is a cold object read while it is stored.
type streamingObject struct {
	body   io.ReadCloser
	tee    *keepServing
	pw     *io.PipeWriter
	stored chan error
	end    func(error)
	// cause says why the fetch was given up (a stalled remote), if it was.
	cause  func() error
	meta   store.ObjectMeta
	closed bool
	// reader is what the reader reads: the tee, or the tee holding back
	// its last byte until the cached copy is checked.
	reader io.Reader
	// storedErr is the cached copy's outcome once verdict took it.
	storedErr *error
	// readAll tells whether the cached copy read the bytes to their end.
	readAll *endSeen
}

// endSeen is a reader that tells whether it gave its end (io.EOF).
type endSeen struct {
	r    io.Reader
	seen atomic.Bool
}

func (e *endSeen) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		e.seen.Store(true)
	}
	return n, err
}

func (o *streamingObject) Meta() store.ObjectMeta { return o.meta }

func (o *streamingObject) Read(p []byte) (int, error) {
	n, err := o.reader.Read(p)
	return n, o.why(err)
}

func (o *streamingObject) WriteTo(w io.Writer) (int64, error) {
	n, err := io.Copy(w, struct{ io.Reader }{o.reader})
	return n, o.why(err)
}

// verdict ends the cached copy once the remote's bytes are all read, and
// fails when they did not match the remote's checksum, or could not be
// checked: the copy, which checks them, stopped before their end (a full
// disk, its own last read refused past the watermark, the fetch given up,
// a write failed), and with validate_cold_get a reader must not take
// unchecked bytes for the object (a GET that starts past the watermark
// fails too). A copy that read them to their end and had their size
// checked them, whatever failed it after (its commit refused: the object
// moved).
func (o *streamingObject) verdict() error {
	o.pw.Close()
	err := <-o.stored
	o.storedErr = &err
	switch {
	case err == nil, errors.Is(err, store.ErrBadChecksum):
		return err
	case o.tee.failed || !o.readAll.seen.Load() || errors.Is(err, store.ErrSizeMismatch):
		return fmt.Errorf("%w: %s: its bytes could not be checked against the remote's checksum (checksum.validate_cold_get): their cached copy failed on the way: %w", ErrUnavailable, o.meta.Name, err)
	}
	return nil
}

// heldLast reads r holding back its last byte until verdict, at r's end,
// passes: a reader that gets every byte of an object takes it as whole.
type heldLast struct {
	r       io.Reader
	verdict func() error
	held    [1]byte
	has     bool
	eof     bool  // r is read to its end
	err     error // the end: io.EOF, or why the object fails
}

func (h *heldLast) Read(p []byte) (int, error) {
	if h.err != nil {
		return 0, h.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	for !h.eof {
		var n int
		var err error
		if h.has && len(p) == 1 {
			var one [1]byte
			if n, err = h.r.Read(one[:]); n == 1 {
				p[0], h.held[0] = h.held[0], one[0]
			}
		} else {
			off := 0
			if h.has {
				off = 1
			}
			if n, err = h.r.Read(p[off:]); n > 0 {
				if h.has {
					p[0] = h.held[0]
				}
				n += off
				h.held[0], h.has = p[n-1], true
				n-- // held back
			}
		}
		switch {
		case err == io.EOF:
			h.eof = true
		case err != nil:
			// Cut short anyway: what was read goes out, then the error.
			h.err = err
			if n == 0 {
				return 0, err
			}
			return n, nil
		}
		if n > 0 {
			return n, nil
		}
	}
	if err := h.verdict(); err != nil {
		h.err = err // the held byte never goes: the object is cut short
		return 0, err
	}
	h.err = io.EOF
	if h.has {
		p[0], h.has = h.held[0], false
		return 1, nil
	}
	return 0, io.EOF
}

// why names a read's failure by the fetch's cause, when it was given up.
func (o *streamingObject) why(err error) error {
	if err != nil && err != io.EOF {
		if cause := o.cause(); cause != nil {
			return cause
		}
	}
	return err
}

func (o *streamingObject) Seek(int64, int) (int64, error) {
	return 0, errors.New("remote: an object read while it is fetched cannot seek")
}

func (o *streamingObject) ReadAt([]byte, int64) (int, error) {
	return 0, errors.New("remote: an object read while it is fetched cannot be read at an offset")
}

// Close finishes the cached copy: what the reader left unread is read
// from the remote into it.
func (o *streamingObject) Close() error {
	if o.closed {
		return nil
	}
	o.closed = true
	if o.storedErr != nil {
		// Read to the end, and the copy's outcome taken.
		o.body.Close()
		o.end(*o.storedErr)
		return nil
	}
	err := o.tee.drain()
	o.body.Close()
	o.pw.CloseWithError(err)
	stored := <-o.stored
	if stored == nil && err != nil {
		stored = err
	}
	o.end(stored)
	return nil
}

// keepServing is a tee that stops copying to w at w's first failure (the
// cached copy's store failed: a full disk) and goes on serving r: the
// reader gets the object whole, left uncached.
type keepServing struct {
	r      io.Reader
	w      io.Writer
	failed bool
}

func (t *keepServing) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 && !t.failed {
		if _, werr := t.w.Write(p[:n]); werr != nil {
			t.failed = true
		}
	}
	return n, err
}

// drain reads the rest of r into the cached copy, and stops as soon as
// that copy fails (a full disk): the rest would be fetched for nothing.
func (t *keepServing) drain() error {
	buf := pool.Get(pool.CopyBufferSize)
	defer pool.Put(buf)
	for !t.failed {
		if _, err := t.Read(buf); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
	return nil
}

// readCloser reads from one reader and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}
