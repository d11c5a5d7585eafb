package rebalance

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/store"
)

// Store is what a rebalance needs of the local store.
type Store interface {
	Buckets(ctx context.Context) (store.BucketMetadata, error)
	List(ctx context.Context, b store.Bucket, opts store.ListOptions) ([]store.ObjectMeta, error)
	WalkTombstones(ctx context.Context, b store.Bucket, fn func(store.Tombstone) error) error
	Open(ctx context.Context, b store.Bucket, name string, opts store.OpenOptions) (store.Object, error)
	Delete(ctx context.Context, b store.Bucket, name string, opts store.DeleteOptions) error
	DropTombstone(ctx context.Context, b store.Bucket, name string, stamp store.Stamp) error
}

// Sender carries one batch's frame stream to a target and returns the
// target's receipts. It reads body to its end or fails. placement is the
// cluster.Map.Placement the items were placed by: the target takes them
// only under the same (see ReceiveConfig.SenderPlacement).
type Sender interface {
	Send(ctx context.Context, to cluster.Node, placement uint64, body io.Reader) ([]Receipt, error)
}

// Config configures a rebalance run.
type Config struct {
	// Self is this target's id.
	Self   string
	Store  Store
	Sender Sender
	// BatchObjects and BatchBytes bound one request; zero means 256 and
	// 64 MiB.
	BatchObjects int
	BatchBytes   int64
	// PageSize is how many objects are listed at a time; zero means 1000.
	PageSize int
	// Logger receives per-item failures; nil discards them.
	Logger *slog.Logger
	// Hold, when set, is called under each moved copy's name lock before
	// the copy goes: it holds the placement the copy was moved by, or
	// fails (ErrPlacementDiffers) when the map changed since. A copy moved
	// back here by a newer map's run must not go.
	Hold func(placement uint64) (release func(), err error)
}

func (c *Config) withDefaults() {
	if c.BatchObjects <= 0 {
		c.BatchObjects = 256
	}
	c.BatchObjects = min(c.BatchObjects, MaxBatchObjects) // its receipts fit a sender's read
	if c.BatchBytes <= 0 {
		c.BatchBytes = 64 << 20
	}
	if c.PageSize <= 0 {
		c.PageSize = 1000
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Progress counts what a run moved; safe for concurrent use.
type Progress struct {
	Objects    atomic.Int64
	Bytes      atomic.Int64
	Tombstones atomic.Int64
	// Skipped counts items an owner refused (kept here, reported).
	Skipped atomic.Int64
	// Left counts those of them left here for good as they are: the
	// owner refused the name (a conflict, an invalid name or props), not
	// the bytes. A delete at the owner must reach them.
	Left atomic.Int64
	// left are the buckets of those (LeftBuckets).
	left struct {
		mu      sync.Mutex
		buckets map[string]bool
	}
}

// maxLeftBuckets bounds the buckets a run names for its copies left:
// past it, it names "*" (every bucket).
const maxLeftBuckets = 64

func (p *Progress) leftIn(b store.Bucket) {
	p.Left.Add(1)
	p.left.mu.Lock()
	defer p.left.mu.Unlock()
	if p.left.buckets == nil {
		p.left.buckets = map[string]bool{}
	}
	if len(p.left.buckets) >= maxLeftBuckets {
		clear(p.left.buckets)
		p.left.buckets["*"] = true
	}
	if !p.left.buckets["*"] {
		p.left.buckets[b.String()] = true
	}
}

// LeftBuckets are the buckets of the copies left (Left), sorted; "*"
// stands for every bucket past maxLeftBuckets.
func (p *Progress) LeftBuckets() []string {
	p.left.mu.Lock()
	defer p.left.mu.Unlock()
	return slices.Sorted(maps.Keys(p.left.buckets))
}

// resetLeft forgets the copies left (an attempt again meets them anew).
func (p *Progress) resetLeft() {
	p.Left.Store(0)
	p.left.mu.Lock()
	p.left.buckets = nil
	p.left.mu.Unlock()
}

// ErrIncomplete marks a run that left items behind for a reason that may
// pass (a full disk on the owner): the caller runs it again later.
var ErrIncomplete = errors.New("rebalance: some objects could not move")

// Run moves what this target holds to the owners under next. It returns
// after every batch is sent and acknowledged copies are removed; an error
// of one item is counted and skipped, a failed batch or a retriable item
// failure makes the result an error to retry.
func Run(ctx context.Context, cfg Config, next *cluster.Map, progress *Progress) error {
	cfg.withDefaults()
	if progress == nil {
		progress = new(Progress)
	}
	md, err := cfg.Store.Buckets(ctx)
	if err != nil {
		return err
	}
	r := &run{cfg: cfg, progress: progress, queues: map[string]chan Item{}, placement: next.Placement()}
	walkErr := r.walk(ctx, next, md)
	for _, q := range r.queues {
		close(q)
	}
	r.senders.Wait()
	if walkErr != nil {
		return walkErr
	}
	if err := r.firstErr(); err != nil {
		return err
	}
	return ctx.Err()
}

type run struct {
	cfg      Config
	progress *Progress
	// placement is the Placement of the map the run places objects by.
	placement uint64
	queues    map[string]chan Item
	senders   sync.WaitGroup
	mu        struct {
		sync.Mutex
		err error
	}
}

func (r *run) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.err == nil {
		r.mu.err = err
	}
}

func (r *run) firstErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.err
}

// walk lists every bucket's objects and tombstones, plans, and queues the
// moves to one sender per owner.
func (r *run) walk(ctx context.Context, next *cluster.Map, md store.BucketMetadata) error {
	enqueue := func(moves []Move) error {
		for _, m := range moves {
			select {
			case r.queueFor(ctx, m.To) <- m.Item:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	// A bucket that does not read (a disk failing, a change of it the
	// store has not applied) stays, and the run goes on with the others:
	// it is to run again.
	skip := func(b store.Bucket, err error) {
		r.cfg.Logger.Warn("rebalance: a bucket could not be read to move", "bucket", b.String(), "err", err)
		r.fail(fmt.Errorf("%w: bucket %s: %w", ErrIncomplete, b, err))
	}
buckets:
	for b, props := range md.Buckets {
		// The tombstones a page at a time, as the objects after them.
		items := make([]Item, 0, r.cfg.PageSize)
		var fatal error
		flush := func() error {
			moves, err := Plan(next, r.cfg.Self, items)
			if err == nil {
				err = enqueue(moves)
			}
			items = items[:0]
			return err
		}
		err := r.cfg.Store.WalkTombstones(ctx, b, func(t store.Tombstone) error {
			// A parts tombstone guards this target's own mountpaths; sent,
			// it would delete its owner's object.
			if t.Parts {
				return nil
			}
			items = append(items, Item{Bucket: b, Created: props.Created, Meta: store.ObjectMeta{Name: t.Name, Stamp: t.Stamp}, Tombstone: true})
			if len(items) < r.cfg.PageSize {
				return nil
			}
			fatal = flush()
			return fatal
		})
		if err == nil {
			err = flush()
			fatal = err
		}
		switch {
		case fatal != nil:
			return fatal
		case errors.Is(err, store.ErrBucketNotFound):
			continue
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			skip(b, err)
			continue
		}
		after := ""
		for {
			page, err := r.cfg.Store.List(ctx, b, store.ListOptions{StartAfter: after, Limit: r.cfg.PageSize, WithMeta: true})
			if errors.Is(err, store.ErrBucketNotFound) {
				break
			}
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				skip(b, err)
				continue buckets
			}
			if len(page) == 0 {
				break
			}
			items = items[:0]
			for _, o := range page {
				items = append(items, Item{Bucket: b, Created: props.Created, Meta: o})
			}
			moves, err := Plan(next, r.cfg.Self, items)
			if err != nil {
				return err
			}
			if err := enqueue(moves); err != nil {
				return err
			}
			after = page[len(page)-1].Name
		}
	}
	return nil
}

func (r *run) queueFor(ctx context.Context, owner cluster.Node) chan Item {
	q, ok := r.queues[owner.ID]
	if ok {
		return q
	}
	q = make(chan Item, r.cfg.BatchObjects)
	r.queues[owner.ID] = q
	r.senders.Go(func() { r.send(ctx, owner, q) })
	return q
}

// send drains a queue to one owner in batches.
func (r *run) send(ctx context.Context, to cluster.Node, q <-chan Item) {
	var batch []Item
	var size int64
	// After a failed batch, the owner's items are not sent in this run
	// (it runs again later): an owner that takes minutes to fail each
	// batch (its disk hung) would hold the listing, and every other
	// owner's moves, back behind its full queue.
	failed := false
	flush := func() {
		if len(batch) > 0 && ctx.Err() == nil && !failed {
			if err := r.sendBatch(ctx, to, batch); err != nil {
				_, failed = errors.AsType[*ownerFailed](err)
				r.fail(fmt.Errorf("send to %s: %w", to.ID, err))
			}
		}
		batch, size = nil, 0
	}
	for it := range q {
		batch = append(batch, it)
		size += it.Meta.Size
		if len(batch) >= r.cfg.BatchObjects || size >= r.cfg.BatchBytes {
			flush()
		}
	}
	flush()
}

// sendBatch streams a batch, then removes the local copies the owner
// acknowledged: exactly the copies sent, not a newer one written since.
func (r *run) sendBatch(ctx context.Context, to cluster.Node, batch []Item) error {
	pr, pw := io.Pipe()
	sent, unreadable := make([]bool, len(batch)), make([]bool, len(batch))
	var writeErr error
	written := make(chan struct{})
	go func() {
		defer close(written)
		writeErr = r.writeBatch(ctx, pw, batch, sent, unreadable)
		pw.CloseWithError(writeErr)
	}()
	receipts, err := r.cfg.Sender.Send(ctx, to, r.placement, pr)
	// Whatever the answer, the writer must not wait on an unread pipe.
	pr.CloseWithError(errors.New("the receiving target stopped reading"))
	<-written
	if cut, ok := errors.AsType[*readCut](writeErr); ok && err != nil {
		// An object that failed midway (a bad sector) cut the stream:
		// it stays, and the batch goes again without it, or it would
		// fail again at every retry and hold the rest back.
		it := batch[cut.index]
		r.progress.Skipped.Add(1)
		r.cfg.Logger.Warn("rebalance: an object could not be read to move", "bucket", it.Bucket.String(), "object", it.Meta.Name, "err", cut.err)
		r.fail(fmt.Errorf("%w: read %s/%s: %w", ErrIncomplete, it.Bucket, it.Meta.Name, cut.err))
		// Those that could not be opened are left out too: counted
		// once, they would be again.
		var again []Item
		for i, it := range batch {
			if i != cut.index && !unreadable[i] {
				again = append(again, it)
			}
		}
		return r.sendBatch(ctx, to, again)
	}
	if err != nil {
		return &ownerFailed{err}
	}
	// A receipt a frame, in the order sent: a name's tombstone and its
	// object may go in one batch, each with its own. (By name, keyed by
	// the bucket with its provider, only if they do not line up.)
	key := func(b store.Bucket, name string) string { return b.String() + "/" + name }
	byName := make(map[string]Receipt, len(receipts))
	for _, rc := range receipts {
		byName[key(store.Bucket{Name: rc.Bucket, Provider: rc.Provider}, rc.Name)] = rc
	}
	next := 0
	for i, it := range batch {
		if !sent[i] {
			continue
		}
		var rc Receipt
		ok := next < len(receipts) && key(store.Bucket{Name: receipts[next].Bucket, Provider: receipts[next].Provider}, receipts[next].Name) == key(it.Bucket, it.Meta.Name)
		if ok {
			rc = receipts[next]
		} else {
			rc, ok = byName[key(it.Bucket, it.Meta.Name)]
		}
		next++
		switch {
		case !ok:
			r.fail(fmt.Errorf("%w: %s had no receipt for %s/%s", ErrIncomplete, to.ID, it.Bucket, it.Meta.Name))
		case rc.Err() != nil:
			err := rc.Err()
			r.progress.Skipped.Add(1)
			if leftHere(err) {
				r.progress.leftIn(it.Bucket)
			}
			r.cfg.Logger.Warn("rebalance: an object could not move", "bucket", it.Bucket.String(), "object", it.Meta.Name, "to", to.ID, "err", err)
			if !permanent(err) {
				r.fail(fmt.Errorf("%w: %s/%s on %s: %w", ErrIncomplete, it.Bucket, it.Meta.Name, to.ID, err))
			}
		case it.Tombstone:
			// Only under the placement it moved by: a newer map's run may
			// have moved the name back here, and the tombstone must stay.
			// Held under the name's lock where the store takes a condition
			// (the name's lock comes before the placement's); checked
			// before otherwise.
			hold := r.holdWhileCurrent(ctx)
			var err error
			if conditional, ok := r.cfg.Store.(interface {
				DropTombstoneIf(context.Context, store.Bucket, string, store.Stamp, func() (func(), error)) error
			}); ok {
				err = conditional.DropTombstoneIf(ctx, it.Bucket, it.Meta.Name, it.Meta.Stamp, hold)
			} else {
				if hold != nil {
					release, herr := hold()
					if herr != nil {
						err = herr
					} else {
						release()
					}
				}
				if err == nil {
					err = r.cfg.Store.DropTombstone(ctx, it.Bucket, it.Meta.Name, it.Meta.Stamp)
				}
			}
			if errors.Is(err, ErrPlacementDiffers) {
				r.fail(fmt.Errorf("%w: the map changed while tombstones moved to %s", ErrIncomplete, to.ID))
				return nil
			}
			if err != nil {
				// This one stays (the run fails, to try again); the
				// others the owner took still go.
				r.fail(fmt.Errorf("%w: drop moved tombstone %s/%s: %w", ErrIncomplete, it.Bucket, it.Meta.Name, err))
				continue
			}
			r.progress.Tombstones.Add(1)
		default:
			opts := store.DeleteOptions{IfStamp: it.Meta.Stamp, KeepParts: true, Precommit: r.holdWhileCurrent(ctx)}
			err := r.cfg.Store.Delete(ctx, it.Bucket, it.Meta.Name, opts)
			if errors.Is(err, ErrPlacementDiffers) {
				// The copies left go with the next map's run, or stay.
				r.fail(fmt.Errorf("%w: the map changed while copies moved to %s", ErrIncomplete, to.ID))
				return nil
			}
			if errors.Is(err, store.ErrExists) {
				// Another copy here than the one sent (rewritten since, or
				// mirror copies that disagree): it stays, not moved, and
				// the run tries again (it would be left on a non-owner).
				r.fail(fmt.Errorf("%w: %s/%s changed here after it was sent to %s", ErrIncomplete, it.Bucket, it.Meta.Name, to.ID))
				continue
			}
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				r.fail(fmt.Errorf("%w: remove moved object %s/%s: %w", ErrIncomplete, it.Bucket, it.Meta.Name, err))
				continue
			}
			r.progress.Objects.Add(1)
			r.progress.Bytes.Add(it.Meta.Size)
		}
	}
	return nil
}

// writeBatch writes the frames of a batch, marking what it sent; an object
// gone since the listing is left out, one rewritten since is sent as it is
// now.
func (r *run) writeBatch(ctx context.Context, w io.Writer, batch []Item, sent, unreadable []bool) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	buf := pool.Get(pool.CopyBufferSize)
	defer pool.Put(buf)
	header := make([]byte, 0, 512)
	for i := range batch {
		it := &batch[i]
		if it.Tombstone {
			header = appendFrame(header[:0], *it)
			if _, err := bw.Write(header); err != nil {
				return err
			}
			sent[i] = true
			continue
		}
		obj, err := r.cfg.Store.Open(ctx, it.Bucket, it.Meta.Name, store.OpenOptions{Internal: true})
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			// One object that cannot be read stays, and the batch goes
			// on without it: failing the batch would fail it again at
			// every retry, the rest of the batch held back with it.
			r.progress.Skipped.Add(1)
			unreadable[i] = true
			r.cfg.Logger.Warn("rebalance: an object could not be read to move", "bucket", it.Bucket.String(), "object", it.Meta.Name, "err", err)
			if !errors.Is(err, store.ErrCorrupt) && !errors.Is(err, store.ErrBadChecksum) {
				// It may read later (a disk coming back): a run again.
				r.fail(fmt.Errorf("%w: read %s/%s: %w", ErrIncomplete, it.Bucket, it.Meta.Name, err))
			}
			continue
		}
		it.Meta = obj.Meta()
		header = appendFrame(header[:0], *it)
		_, err = bw.Write(header)
		if err == nil {
			source := &sourceReader{r: io.LimitReader(obj, it.Meta.Size)}
			var copied int64
			copied, err = io.CopyBuffer(bw, source, buf)
			if err == nil && copied != it.Meta.Size {
				err = fmt.Errorf("%s: read %d of %d bytes", it.Meta.Name, copied, it.Meta.Size)
				source.err = err
			}
			if source.err != nil {
				err = &readCut{index: i, err: source.err}
			}
		}
		obj.Close()
		if err != nil {
			return err
		}
		sent[i] = true
	}
	return bw.Flush()
}

// ownerFailed is a batch the owner did not take (not a failure here
// after it did).
type ownerFailed struct{ err error }

func (e *ownerFailed) Error() string { return e.err.Error() }
func (e *ownerFailed) Unwrap() error { return e.err }

// readCut is a batch cut by the read of one of its objects (not by the
// receiver).
type readCut struct {
	index int
	err   error
}

func (e *readCut) Error() string { return fmt.Sprintf("object %d of the batch: %v", e.index, e.err) }
func (e *readCut) Unwrap() error { return e.err }

// sourceReader keeps the error of the reads of an object being sent,
// which a copy does not tell from the writes'.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// holdWhileCurrent holds the placement the run moves by (Config.Hold)
// while a copy or tombstone it moved is removed here, and refuses once
// the run was ended (replaced by a newer map's): the placement may be
// the run's again (targets that changed and changed back), and the newer
// run may have moved the name back here meanwhile.
func (r *run) holdWhileCurrent(ctx context.Context) func() (func(), error) {
	placement := r.placement
	return func() (func(), error) {
		release := func() {}
		if r.cfg.Hold != nil {
			var err error
			if release, err = r.cfg.Hold(placement); err != nil {
				return nil, err
			}
		}
		if ctx.Err() != nil {
			release()
			return nil, fmt.Errorf("%w: the run ended (%w) before its moved copies were removed: they stay", ErrPlacementDiffers, context.Cause(ctx))
		}
		return release, nil
	}
}
