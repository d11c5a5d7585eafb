package creation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/shards"
	"github.com/aisgo/aisgo/store"
)

// File is one file of a record in a stream.
type File struct {
	Name string
	Size int64
	// Raw files are whole tar entries, RawSize bytes, to copy verbatim.
	Raw     bool
	RawSize int64
	// Last marks the last file of its record.
	Last bool
}

// Stream yields the files of records in the order they were asked for.
type Stream interface {
	// Next returns the next file, or io.EOF after the last.
	Next() (File, error)
	// Read reads the current file: RawSize bytes if Raw, else Size.
	io.Reader
	Close() error
}

// Source opens streams of records held by a target.
type Source interface {
	// Open streams the records, all held by holder, in the given order.
	Open(ctx context.Context, holder int32, records []shards.RecordMeta) (Stream, error)
}

// Sink stores a finished shard; it must read r to the end and store
// nothing if r fails.
type Sink interface {
	Put(ctx context.Context, name string, r io.Reader) error
}

// Config configures creation.
type Config struct {
	// Format writes the output shards.
	Format formats.Format
	// Concurrency is the number of shards built at once; zero means 4.
	Concurrency int
}

// Counters report progress while Run works.
type Counters struct {
	Shards  atomic.Int64
	Records atomic.Int64
	Bytes   atomic.Int64 // bytes of the shards written
}

// Run builds every planned shard.
func Run(ctx context.Context, cfg Config, planned []shards.OutputShard, src Source, sink Sink, counters *Counters) error {
	if counters == nil {
		counters = new(Counters)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(cfg.Concurrency, 1))
	if cfg.Concurrency <= 0 {
		g.SetLimit(4)
	}
	for i := range planned {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			return buildAndStore(gctx, cfg.Format, &planned[i], src, sink, counters)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return context.Cause(ctx)
}

// errSinkStopped ends a shard's build when its sink stopped reading.
var errSinkStopped = errors.New("the shard's sink stopped reading")

// buildAndStore has the sink store a shard as Build writes it.
func buildAndStore(ctx context.Context, format formats.Format, shard *shards.OutputShard, src Source, sink Sink, counters *Counters) error {
	body := &shardBody{build: func(w io.Writer) error {
		return Build(ctx, format, shard, src, &countingWriter{w: w, counter: &counters.Bytes})
	}}
	err := sink.Put(ctx, shard.Name, body)
	berr := body.finish()
	// The sink's failure is the cause when it stopped reading first.
	if err != nil && (berr == nil || errors.Is(berr, errSinkStopped)) {
		return fmt.Errorf("store shard %s: %w", shard.Name, err)
	}
	if berr != nil {
		return fmt.Errorf("create shard %s: %w", shard.Name, berr)
	}
	if err != nil {
		return fmt.Errorf("store shard %s: %w", shard.Name, err)
	}
	counters.Shards.Add(1)
	counters.Records.Add(int64(len(shard.Records)))
	return nil
}

// shardBody is a shard as its sink takes it. A sink that copies it into a
// writer (a store's file: see store.SelfWriting) has it built straight
// into that writer, saving a copy of every byte; one that reads it gets
// it through a pipe from a goroutine building it.
type shardBody struct {
	build  func(io.Writer) error
	direct bool
	err    error // of a direct build
	pipe   *io.PipeReader
	built  chan error
}

var _ store.SelfWriting = (*shardBody)(nil)

func (b *shardBody) WritesItself() {}

func (b *shardBody) WriteTo(w io.Writer) (int64, error) {
	if b.pipe != nil || b.direct {
		// Read first: the rest comes through the pipe.
		return io.Copy(w, struct{ io.Reader }{b})
	}
	b.direct = true
	counted := &countingWriter{w: w, counter: new(atomic.Int64)}
	b.err = b.build(counted)
	return counted.counter.Load(), b.err
}

func (b *shardBody) Read(p []byte) (int, error) {
	if b.direct {
		return 0, io.EOF
	}
	if b.pipe == nil {
		pr, pw := io.Pipe()
		b.pipe, b.built = pr, make(chan error, 1)
		go func() {
			err := b.build(pw)
			pw.CloseWithError(err)
			b.built <- err
		}()
	}
	return b.pipe.Read(p)
}

// finish ends the build once the sink is done and returns its error.
func (b *shardBody) finish() error {
	if b.pipe == nil {
		return b.err
	}
	b.pipe.CloseWithError(errSinkStopped)
	return <-b.built
}

// FetchBatch bounds the records asked of a holder at once: a shard may
// have millions of one holder's records, and what one fetch may carry
// must not decide whether a job succeeds on so many targets.
const FetchBatch = 16 << 10

// parkGap is how many bytes of other holders' records a build may read
// between two of one holder's before that holder's stream is let go: a
// batch asked of a holder ends at such a record, and the next batch is
// asked for when its first record comes up. A stream left waiting long
// (an output sorted by name, each input shard's records in one run)
// would be cut by its holder, and hold its buffers meanwhile; a holder
// serves each record once, so a batch is never cut short to be asked
// again. A variable for the tests.
var parkGap int64 = 64 << 20

// batchedStream is a holder's records of a shard, asked for in batches of
// FetchBatch at most, each ending where the next record of the holder
// comes after more than parkGap bytes of others'; each batch is asked
// for when its first record is read.
type batchedStream struct {
	ctx    context.Context
	src    Source
	holder int32
	all    []shards.RecordMeta // the holder's records, in the shard's order
	gaps   []int64             // after each of all, as gapsAfter
	end    int                 // the end of the batches asked for
	cur    Stream
}

// open asks for the next batch.
func (b *batchedStream) open() error {
	n := min(len(b.all)-b.end, FetchBatch)
	for k := b.end; k < b.end+n; k++ {
		if b.gaps[k] > parkGap {
			n = k - b.end + 1 // its stream would wait long after it
			break
		}
	}
	s, err := b.src.Open(b.ctx, b.holder, b.all[b.end:b.end+n])
	if err != nil {
		return err
	}
	b.cur, b.end = s, b.end+n
	return nil
}

// Next returns the next file; between batches it asks for the next one,
// once the one before has ended where it should.
func (b *batchedStream) Next() (File, error) {
	for {
		if b.cur == nil {
			if b.end >= len(b.all) {
				return File{}, io.EOF
			}
			if err := b.open(); err != nil {
				return File{}, err
			}
		}
		f, err := b.cur.Next()
		if err != io.EOF || b.end >= len(b.all) {
			return f, err
		}
		b.cur.Close()
		b.cur = nil
	}
}

func (b *batchedStream) Read(p []byte) (int, error) { return b.cur.Read(p) }

// park lets the stream go after its batch's last record, which the
// holder ended there, until the next batch's first record comes up.
func (b *batchedStream) park(last shards.RecordMeta) error {
	if b.cur == nil {
		return nil
	}
	f, err := b.cur.Next()
	switch {
	case err == nil:
		return fmt.Errorf("holder %d sent file %s past record %d/%d, the last of the records asked", b.holder, f.Name, last.ID.Shard, last.ID.Record)
	case err != io.EOF:
		return err
	}
	b.cur.Close()
	b.cur = nil
	return nil
}

func (b *batchedStream) Close() error {
	if b.cur == nil {
		return nil
	}
	return b.cur.Close()
}

// gapsAfter returns, for each record of a shard, the bytes of other
// holders' records before the next of its holder's (-1 when none comes).
func gapsAfter(records []shards.RecordMeta) []int64 {
	gaps := make([]int64, len(records))
	// Sums from the end: after[i] is the bytes of records i and later.
	after := int64(0)
	nextAt := map[int32]int64{} // a holder's next record's after, once seen
	for i := len(records) - 1; i >= 0; i-- {
		r := records[i]
		if at, ok := nextAt[r.Holder]; ok {
			gaps[i] = after - at
		} else {
			gaps[i] = -1
		}
		after += r.Size
		nextAt[r.Holder] = after
	}
	return gaps
}

// Build writes one shard to w: its records in order, each from the stream
// of its holder.
func Build(ctx context.Context, format formats.Format, shard *shards.OutputShard, src Source, w io.Writer) (err error) {
	// One stream per holder, asked for that holder's records in order.
	gaps := gapsAfter(shard.Records)
	streams := map[int32]*batchedStream{}
	var holders []int32
	for i, r := range shard.Records {
		s := streams[r.Holder]
		if s == nil {
			s = &batchedStream{ctx: ctx, src: src, holder: r.Holder}
			streams[r.Holder] = s
			holders = append(holders, r.Holder)
		}
		s.all, s.gaps = append(s.all, r), append(s.gaps, gaps[i])
	}
	defer func() {
		for _, s := range streams {
			s.Close()
		}
	}()
	fw, err := format.NewWriter(w)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			// A failed shard ends as no well-formed archive (a sink that
			// streams would keep one that looks whole).
			formats.Abort(fw)
			return
		}
		err = fw.Close()
	}()
	raw, _ := fw.(formats.RawWriter)
	ender, _ := fw.(formats.RecordEnder)
	held := &heldReader{}
	buf := pool.Get(pool.CopyBufferSize)
	defer pool.Put(buf)
	for i, r := range shard.Records {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		s := streams[r.Holder]
		// The holder's files must make the record as planned: its size
		// is what the plan counted (a holder that splits records
		// otherwise, or sends more, is refused, not believed).
		var got int64
		for {
			f, err := s.Next()
			if err == io.EOF {
				return fmt.Errorf("the stream of holder %d ended before record %d/%d", r.Holder, r.ID.Shard, r.ID.Record)
			}
			if err != nil {
				return fmt.Errorf("holder %d, record %d/%d: %w", r.Holder, r.ID.Shard, r.ID.Record, err)
			}
			if f.Size < 0 {
				return fmt.Errorf("holder %d: file %s of record %d/%d has size %d", r.Holder, f.Name, r.ID.Shard, r.ID.Record, f.Size)
			}
			if got += shards.EncodedSize(f.Size); got > r.Size || (f.Last && got != r.Size) {
				return fmt.Errorf("holder %d: record %d/%d came as %d bytes or more, planned as %d", r.Holder, r.ID.Shard, r.ID.Record, got, r.Size)
			}
			switch {
			case f.Raw && raw != nil:
				if err := raw.WriteRaw(held.from(s, r, f.Name), f.RawSize); err != nil {
					if !held.failed && (errors.Is(err, formats.ErrCorrupt) || errors.Is(err, io.ErrUnexpectedEOF)) {
						// The holder's bytes, checked or cut short, not a
						// read's error (named already) nor the disk's.
						err = held.name(err)
					}
					return err
				}
			case f.Raw:
				return fmt.Errorf("file %s comes as a raw tar entry, which %s shards cannot take", f.Name, format.Name())
			default:
				if err := fw.WriteHeader(&formats.Entry{Name: f.Name, Size: f.Size}); err != nil {
					return err
				}
				n, err := io.CopyBuffer(fw, io.LimitReader(held.from(s, r, f.Name), f.Size), buf)
				if err != nil {
					return err
				}
				if n != f.Size {
					return fmt.Errorf("file %s: got %d of %d bytes", f.Name, n, f.Size)
				}
			}
			if f.Last {
				if ender != nil {
					// Two records of one key stay two.
					if err := ender.EndRecord(); err != nil {
						return err
					}
				}
				break
			}
		}
		if gaps[i] > parkGap {
			if err := s.park(r); err != nil {
				return err
			}
		}
	}
	for _, h := range holders {
		if f, err := streams[h].Next(); err != io.EOF {
			if err == nil {
				err = fmt.Errorf("holder %d sent file %s past the shard's planned records", h, f.Name)
			}
			return err
		}
	}
	return nil
}

type countingWriter struct {
	w       io.Writer
	counter *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.counter.Add(int64(n))
	return n, err
}

// heldReader names a holder, its record and file in the errors of a read
// from its stream: a write's (the output disk's) stays as it is.
type heldReader struct {
	r      io.Reader
	holder int32
	id     shards.RecordID
	file   string
	failed bool // a read failed, its error named
}

// from reads s for file of record r (one heldReader reused: no
// allocation a file).
func (h *heldReader) from(s io.Reader, r shards.RecordMeta, file string) io.Reader {
	h.r, h.holder, h.id, h.file, h.failed = s, r.Holder, r.ID, file, false
	return h
}

func (h *heldReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if err != nil && err != io.EOF {
		h.failed = true
		err = h.name(err)
	}
	return n, err
}

func (h *heldReader) name(err error) error {
	return fmt.Errorf("holder %d, record %d/%d, file %s: %w", h.holder, h.id.Shard, h.id.Record, h.file, err)
}
