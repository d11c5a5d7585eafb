package benchmarks

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/shards"
)

// Naming chooses the names of the objects a load puts.
type Naming int

const (
	// NamesRandom gives 32 random hex characters, as AIStore's aisloader.
	NamesRandom Naming = iota
	// NamesSequential gives PREFIX00000001, PREFIX00000002, ...
	NamesSequential
)

// ReadOrder chooses which object each GET reads.
type ReadOrder int

const (
	// ReadRandom picks any known name for each GET.
	ReadRandom ReadOrder = iota
	// ReadSequential walks the known names in order, round and round.
	ReadSequential
)

// LoadConfig describes a load: its operations, its bucket and when it
// stops. The run stops at the first bound reached among Duration, MaxOps,
// MaxPuts and TotalPutSize; at least one must be set.
type LoadConfig struct {
	// Client talks to the cluster; required.
	Client *api.Client
	// Bucket is an existing ais bucket; required.
	Bucket string
	// PutPercent is the share of PUTs, 0 to 100; the rest are GETs. Zero
	// means GETs only, of the objects listed in Bucket under Prefix.
	PutPercent int
	// MinSize and MaxSize bound the size of each PUT, chosen uniformly;
	// zero MaxSize means MinSize, a fixed size.
	MinSize, MaxSize int64
	// Workers run operations in parallel; zero means 10.
	Workers int
	// Duration bounds the run; no operation starts after it. Zero means
	// no time bound.
	Duration time.Duration
	// MaxOps bounds the number of operations, PUTs and GETs; zero means
	// no bound.
	MaxOps int64
	// MaxPuts bounds the number of PUTs; zero means no bound.
	MaxPuts int64
	// TotalPutSize stops the run once the PUTs started reach this many
	// bytes; zero means no bound.
	TotalPutSize int64
	// Seed drives sizes, names and choices; each worker derives its own
	// stream from it.
	Seed uint64
	// Names chooses the names of PUT objects; zero means NamesRandom.
	Names Naming
	// ReadOrder chooses the objects GETs read; zero means ReadRandom.
	ReadOrder ReadOrder
	// Prefix (AIStore's -subdir) starts every PUT name and selects the
	// objects a GET-only run lists.
	Prefix string
	// VerifyChecksum makes targets verify checksums on GET (AIStore's
	// -verifyhash).
	VerifyChecksum bool
	// MaxErrors stops the run once the errors exceed it; zero stops at
	// the first error, a negative value never.
	MaxErrors int64
	// Cleanup deletes every object the run put, when it ends.
	Cleanup bool
	// CleanupContext, when set, bounds the cleanup (a second interrupt
	// leaves what is not deleted yet); otherwise the run's context,
	// uncancelled, does: an interrupt stops the run, not its cleanup.
	CleanupContext context.Context
	// StatsInterval is how often Progress is called; zero means never.
	StatsInterval time.Duration
	// Progress, when set, receives the stats of each interval and the
	// totals so far, every StatsInterval.
	Progress func(interval, total LoadStats)
}

// Errors of a load.
var (
	// ErrTooManyErrors ends a run whose errors exceed MaxErrors; the
	// report is returned with it.
	ErrTooManyErrors = errors.New("benchmarks: too many errors")
	// ErrNoObjects is returned by a GET-only run on an empty bucket.
	ErrNoObjects = errors.New("benchmarks: no objects to read")
)

// patternSize is the random block PUT bodies repeat.
const patternSize = 1 << 20

// Validate checks a config, naming the field at fault.
func (c *LoadConfig) Validate() error {
	switch {
	case c.Client == nil:
		return errors.New("load: a client is required")
	case c.Bucket == "":
		return errors.New("load: a bucket is required")
	case c.PutPercent < 0 || c.PutPercent > 100:
		return fmt.Errorf("load: PUT percent %d is not within 0-100", c.PutPercent)
	case c.MinSize < 0 || c.MaxSize < 0:
		return fmt.Errorf("load: sizes cannot be negative (min %d, max %d)", c.MinSize, c.MaxSize)
	case c.MaxSize != 0 && c.MinSize > c.MaxSize:
		return fmt.Errorf("load: min size %s is larger than max size %s", shards.FormatSize(c.MinSize), shards.FormatSize(c.MaxSize))
	case c.MaxSize-c.MinSize == math.MaxInt64:
		return fmt.Errorf("load: sizes %d to %d: the span is over the largest a size can be", c.MinSize, c.MaxSize)
	case c.Duration > maxDuration:
		return fmt.Errorf("load: duration %v is over the longest a run may be (%v)", c.Duration, maxDuration)
	case c.Workers < 0:
		return fmt.Errorf("load: %d workers", c.Workers)
	case c.Duration < 0 || c.MaxOps < 0 || c.MaxPuts < 0 || c.TotalPutSize < 0:
		return errors.New("load: duration and counts cannot be negative")
	case c.StatsInterval < 0:
		return fmt.Errorf("load: stats interval %s is negative", c.StatsInterval)
	case c.TotalPutSize > 0 && max(c.MinSize, c.MaxSize) == 0:
		return fmt.Errorf("load: a total PUT size of %s is never reached by empty objects (size 0): give a number of PUTs instead", shards.FormatSize(c.TotalPutSize))
	}
	putBound := c.PutPercent > 0 && (c.MaxPuts > 0 || c.TotalPutSize > 0)
	if c.Duration == 0 && c.MaxOps == 0 && !putBound {
		if c.MaxPuts > 0 || c.TotalPutSize > 0 {
			return errors.New("load: a GET-only run never reaches a PUT bound; give a duration or a number of operations")
		}
		return errors.New("load: no stop condition; give a duration, a number of operations, of PUTs, or a total PUT size")
	}
	return nil
}

func (c *LoadConfig) withDefaults() {
	if c.Workers == 0 {
		c.Workers = 10
	}
	if c.MaxSize == 0 {
		c.MaxSize = c.MinSize
	}
}

// loader is one run.
type loader struct {
	config  LoadConfig
	client  *api.Client
	pattern []byte
	start   time.Time

	put, get, del opCounters

	ops, puts, putBytes atomic.Int64 // reserved, to enforce the bounds
	sequence            atomic.Int64 // of sequential names
	// drawn numbers the operations as they are reserved: the k-th draws
	// its choice, size and name from (seed, k), whichever worker runs it,
	// so a seed repeats a run's names and sizes.
	drawn        atomic.Uint64
	readPosition atomic.Int64
	errors       atomic.Int64

	stopped atomic.Bool
	reason  atomic.Pointer[string]

	mu struct {
		sync.RWMutex
		names []string // GET candidates: listed and put
		put   []string // put by this run, for cleanup
		// listed are the names there before the run: its cleanup does
		// not delete one it overwrote (a seed repeated names them again).
		listed map[string]bool
	}
}

// maxDuration bounds a run's duration: it and its grace fit a
// time.Duration (past it, the deadline wrapped into the past and the run
// did nothing).
const maxDuration = time.Duration(math.MaxInt64 / 11 * 10)

// DurationGrace is how long past a run's duration an operation under way
// may take before it is cut: a tenth of the duration, 5 s at least.
func DurationGrace(duration time.Duration) time.Duration { return max(5*time.Second, duration/10) }

// Load runs a load and returns its report. The report is returned with
// ErrTooManyErrors too; ctx ends the run early. With Cleanup, the PUTs
// under way finish, and the cleanup runs, past ctx's cancellation: a
// caller that must not wait for them ends the process.
func Load(ctx context.Context, cfg LoadConfig) (*LoadReport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.withDefaults()
	l := &loader{config: cfg, client: cfg.Client}
	if _, err := l.client.BucketProps(ctx, cfg.Bucket); err != nil {
		if errors.Is(err, api.ErrBucketNotFound) || errors.Is(err, api.ErrNotFound) {
			return nil, fmt.Errorf("bucket ais://%s: %w (create it with 'ais bucket create ais://%s')", cfg.Bucket, api.ErrBucketNotFound, cfg.Bucket)
		}
		return nil, fmt.Errorf("bucket ais://%s: %w", cfg.Bucket, err)
	}
	// Listed for GETs, and for PUTs that must not take an earlier run's
	// names (sequential ones), nor delete them at cleanup.
	if cfg.PutPercent < 100 || cfg.Cleanup || cfg.Names == NamesSequential {
		if err := l.listNames(ctx); err != nil {
			return nil, err
		}
		if cfg.PutPercent == 0 && len(l.mu.names) == 0 {
			return nil, fmt.Errorf("bucket ais://%s, prefix %q: %w; a GET-only run reads existing objects", cfg.Bucket, cfg.Prefix, ErrNoObjects)
		}
	}
	if cfg.PutPercent > 0 {
		l.pattern = pool.Get(patternSize)
		defer pool.Put(l.pattern)
		var seed [32]byte
		binary.LittleEndian.PutUint64(seed[:], cfg.Seed)
		rand.NewChaCha8(seed).Read(l.pattern)
	}

	report := &LoadReport{
		Endpoint: l.client.Endpoint(), Bucket: cfg.Bucket, Workers: cfg.Workers, PutPercent: cfg.PutPercent,
		MinSize: cfg.MinSize, MaxSize: cfg.MaxSize, Seed: cfg.Seed,
	}
	l.start = time.Now()
	report.Start = l.start
	// No operation starts past the duration; one under way is cut a
	// grace later (a stalled body would hold the run for ever), and not
	// counted as an error.
	opsCtx := ctx
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		opsCtx, cancel = context.WithDeadline(ctx, l.start.Add(cfg.Duration+DurationGrace(cfg.Duration)))
		defer cancel()
	}
	var workers sync.WaitGroup
	for id := range cfg.Workers {
		workers.Go(func() { l.work(opsCtx, uint64(id)) })
	}
	done := make(chan struct{})
	var progress sync.WaitGroup
	if cfg.StatsInterval > 0 {
		progress.Go(func() { l.reportProgress(done, report) })
	}
	workers.Wait()
	// Before the progress goroutine is waited for: a Progress writing to
	// a slow pipe is no time of the load's.
	report.Elapsed = time.Since(l.start)
	close(done)
	progress.Wait()
	// Interrupted while it ran: an interrupt during the cleanup leaves
	// the measurement whole.
	interrupted := ctx.Err() != nil
	if interrupted {
		l.stop("interrupted")
	}
	if reason := l.reason.Load(); reason != nil {
		report.StopReason = *reason
	}
	report.LoadStats = l.totals(report.Elapsed)

	var err error
	if l.config.MaxErrors >= 0 && l.errors.Load() > l.config.MaxErrors {
		err = fmt.Errorf("%d errors, more than the %d allowed: %w", l.errors.Load(), l.config.MaxErrors, ErrTooManyErrors)
	}
	if cfg.Cleanup {
		started := time.Now()
		cleanupCtx := cfg.CleanupContext
		if cleanupCtx == nil {
			cleanupCtx = context.WithoutCancel(ctx)
		}
		l.cleanup(cleanupCtx)
		report.CleanupElapsed = time.Since(started)
		report.Delete = l.del.stats(report.CleanupElapsed, l.del.latency.Snapshot())
	}
	if err == nil && interrupted {
		err = context.Cause(ctx)
	}
	return report, err
}

// listNames reads the GET candidates from the bucket listing.
func (l *loader) listNames(ctx context.Context) error {
	for e, err := range l.client.ListAll(ctx, l.config.Bucket, api.ListObjectsMessage{Prefix: l.config.Prefix, Props: "name"}) {
		if err != nil {
			return fmt.Errorf("list ais://%s: %w", l.config.Bucket, err)
		}
		l.mu.names = append(l.mu.names, e.Name)
		if l.mu.listed == nil {
			l.mu.listed = map[string]bool{}
		}
		l.mu.listed[e.Name] = true
		// Sequential names go on after those of an earlier run, rather
		// than write its objects again.
		if n, err := strconv.ParseInt(strings.TrimPrefix(e.Name, l.config.Prefix), 10, 64); err == nil && n > l.sequence.Load() {
			l.sequence.Store(n)
		}
	}
	return nil
}

// stop ends the run for a reason; the first reason stays.
func (l *loader) stop(reason string) {
	l.reason.CompareAndSwap(nil, &reason)
	l.stopped.Store(true)
}

// next reserves one operation and tells whether it is a PUT, and of what
// size; ok is false when the run is over. It seeds source, rng's, for
// the operation: the rest of its draws (a name) follow from it.
func (l *loader) next(ctx context.Context, source *rand.PCG, rng *rand.Rand) (put bool, size int64, ok bool) {
	cfg := &l.config
	switch {
	case l.stopped.Load():
		return false, 0, false
	case cfg.Duration > 0 && time.Since(l.start) >= cfg.Duration:
		// Before the context: the one past the duration's grace ends too.
		l.stop("duration")
		return false, 0, false
	case ctx.Err() != nil:
		l.stop("interrupted")
		return false, 0, false
	case cfg.MaxOps > 0 && l.ops.Add(1) > cfg.MaxOps:
		l.stop("operations")
		return false, 0, false
	}
	source.Seed(cfg.Seed, l.drawn.Add(1))
	put = rng.IntN(100) < cfg.PutPercent
	if !put {
		l.mu.RLock()
		empty := len(l.mu.names) == 0
		l.mu.RUnlock()
		// Nothing to read yet: a mixed run starts by writing.
		put = empty
	}
	if !put {
		return false, 0, true
	}
	size = cfg.MinSize
	if cfg.MaxSize > cfg.MinSize {
		size += rng.Int64N(cfg.MaxSize - cfg.MinSize + 1)
	}
	if cfg.MaxPuts > 0 && l.puts.Add(1) > cfg.MaxPuts {
		l.stop("puts")
		return false, 0, false
	}
	if cfg.TotalPutSize > 0 && l.putBytes.Add(size)-size >= cfg.TotalPutSize {
		l.stop("total put size")
		return false, 0, false
	}
	return true, size, true
}

// work runs operations until the run is over.
func (l *loader) work(ctx context.Context, id uint64) {
	source := rand.NewPCG(l.config.Seed, id+1)
	rng := rand.New(source)
	buf := pool.Get(pool.CopyBufferSize)
	defer pool.Put(buf)
	body := &patternReader{pattern: l.pattern}
	var random [16]byte
	for {
		put, size, ok := l.next(ctx, source, rng)
		if !ok {
			return
		}
		var err error
		if put {
			var name string
			if l.config.Names == NamesSequential {
				name = l.config.Prefix + fmt.Sprintf("%08d", l.sequence.Add(1))
			} else {
				for i := range random {
					random[i] = byte(rng.Uint32())
				}
				name = l.config.Prefix + hex.EncodeToString(random[:])
			}
			body.reset(size, rng.IntN(len(l.pattern)))
			err = l.putObject(ctx, name, body)
		} else {
			err = l.getObject(ctx, l.pickName(rng), buf)
		}
		if err != nil && !runEnded(ctx) {
			if n := l.errors.Add(1); l.config.MaxErrors >= 0 && n > l.config.MaxErrors {
				l.stop("errors")
			}
		}
	}
}

// runEnded reports the run over (interrupted, or past its deadline): an
// operation it cut is no error. The deadline is read, not only the
// context: a PUT's own copy of it may fire first.
func runEnded(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	deadline, ok := ctx.Deadline()
	return ok && !time.Now().Before(deadline)
}

func (l *loader) putObject(ctx context.Context, name string, body *patternReader) error {
	started := time.Now()
	putCtx := ctx
	if l.config.Cleanup {
		// Finished though the run is interrupted: a PUT cut on its way
		// may still land, after the cleanup looked for it. Not past the
		// run's deadline though (-duration cuts what is under way), nor
		// past an interrupt of the cleanup (the second Ctrl-C).
		var cancel context.CancelFunc
		putCtx, cancel = context.WithCancel(context.WithoutCancel(ctx))
		defer cancel()
		if deadline, ok := ctx.Deadline(); ok {
			var cancelAt context.CancelFunc
			putCtx, cancelAt = context.WithDeadline(putCtx, deadline)
			defer cancelAt()
		}
		if cleanup := l.config.CleanupContext; cleanup != nil {
			defer context.AfterFunc(cleanup, func() {
				if ctx.Err() != nil {
					cancel()
				}
			})()
		}
	}
	_, err := l.client.Put(putCtx, l.config.Bucket, name, body, api.PutOptions{Size: body.size})
	if err != nil {
		if runEnded(ctx) {
			l.put.cut(body.read.Load())
		} else {
			l.put.fail(err)
		}
		// Failed here, it may have landed all the same (cut while the
		// target committed it): the cleanup deletes it if it is there.
		l.mu.Lock()
		if l.config.Cleanup && !l.mu.listed[name] {
			l.mu.put = append(l.mu.put, name)
		}
		l.mu.Unlock()
		return err
	}
	l.put.done(body.size, time.Since(started))
	l.mu.Lock()
	if l.config.PutPercent < 100 {
		l.mu.names = append(l.mu.names, name) // GETs read it; a PUT-only run keeps no names
	}
	if l.config.Cleanup && !l.mu.listed[name] {
		l.mu.put = append(l.mu.put, name)
	}
	l.mu.Unlock()
	return nil
}

func (l *loader) pickName(rng *rand.Rand) string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.config.ReadOrder == ReadSequential {
		return l.mu.names[int((l.readPosition.Add(1)-1)%int64(len(l.mu.names)))]
	}
	return l.mu.names[rng.IntN(len(l.mu.names))]
}

// getObject reads an object through a pooled buffer and drops it.
func (l *loader) getObject(ctx context.Context, name string, buf []byte) error {
	started := time.Now()
	r, _, err := l.client.Get(ctx, l.config.Bucket, name, api.GetOptions{Validate: l.config.VerifyChecksum})
	var n int64
	if err == nil {
		for {
			k, rerr := r.Read(buf)
			n += int64(k)
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				err = fmt.Errorf("get %s: %w", name, rerr)
				break
			}
		}
		r.Close()
	}
	if err != nil {
		if runEnded(ctx) {
			l.get.cut(n)
		} else {
			l.get.fail(err)
		}
		return err
	}
	l.get.done(n, time.Since(started))
	return nil
}

// cleanup deletes what the run put, in parallel.
func (l *loader) cleanup(ctx context.Context) {
	l.mu.Lock()
	names := l.mu.put
	l.mu.put = nil
	l.mu.Unlock()
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(l.config.Workers)
	for i, name := range names {
		if ctx.Err() != nil {
			// Left, as the user asked: not failed deletions.
			for range names[i:] {
				l.del.cut(0)
			}
			break
		}
		g.Go(func() error {
			if ctx.Err() != nil {
				l.del.cut(0) // waited for a worker past the interrupt: left
				return nil
			}
			started := time.Now()
			err := l.client.Delete(ctx, l.config.Bucket, name)
			if errors.Is(err, api.ErrNotFound) {
				return nil // a PUT that failed, and did not land
			}
			if err != nil && ctx.Err() != nil {
				l.del.cut(0) // cut by the interrupt: maybe left, not failed
				return nil
			}
			if err != nil {
				l.del.fail(err)
				return nil
			}
			l.del.done(0, time.Since(started))
			return nil
		})
	}
	g.Wait()
}

// reportProgress calls Progress every interval until done closes.
func (l *loader) reportProgress(done <-chan struct{}, report *LoadReport) {
	ticker := time.NewTicker(l.config.StatsInterval)
	defer ticker.Stop()
	prevPut, prevGet := l.put.latency.Snapshot(), l.get.latency.Snapshot()
	prevPutCounts, prevGetCounts := l.put.counts(), l.get.counts()
	last := l.start
	for {
		select {
		case <-done:
			return
		case <-ticker.C:
			// The time the counters are read, not the tick's: a tick
			// late behind a Progress writing to a slow pipe carries the
			// time it was due.
			now := time.Now()
			putSnap, getSnap := l.put.latency.Snapshot(), l.get.latency.Snapshot()
			putCounts, getCounts := l.put.counts(), l.get.counts()
			elapsed := now.Sub(last)
			interval := LoadStats{
				At:      now.Sub(l.start),
				Elapsed: elapsed,
				Put:     opStatsOf(putCounts.minus(prevPutCounts), putSnap.Since(prevPut), elapsed, l.put.takeIntervalMax()),
				Get:     opStatsOf(getCounts.minus(prevGetCounts), getSnap.Since(prevGet), elapsed, l.get.takeIntervalMax()),
			}
			report.Intervals = append(report.Intervals, interval)
			if l.config.Progress != nil {
				l.config.Progress(interval, l.totals(now.Sub(l.start)))
			}
			prevPut, prevGet, prevPutCounts, prevGetCounts, last = putSnap, getSnap, putCounts, getCounts, now
		}
	}
}

// totals are the stats of the whole run so far.
func (l *loader) totals(elapsed time.Duration) LoadStats {
	return LoadStats{
		At:      elapsed,
		Elapsed: elapsed,
		Put:     l.put.stats(elapsed, l.put.latency.Snapshot()),
		Get:     l.get.stats(elapsed, l.get.latency.Snapshot()),
	}
}

// opCounters count one kind of operation without allocating.
type opCounters struct {
	ops, bytes, cuts, errors atomic.Int64
	latency                  Histogram
	intervalMax              atomic.Int64
	mu                       struct {
		sync.Mutex
		kinds map[string]int64
	}
}

func (c *opCounters) done(bytes int64, d time.Duration) {
	c.ops.Add(1)
	c.bytes.Add(bytes)
	c.latency.Record(d)
	for {
		m := c.intervalMax.Load()
		if int64(d) <= m || c.intervalMax.CompareAndSwap(m, int64(d)) {
			break
		}
	}
}

// cut counts an operation the run's end cut, and the bytes it moved: the
// run's time holds its time (a GET of many GiB cut at the end would
// otherwise leave its bytes out of the rate).
func (c *opCounters) cut(bytes int64) {
	c.cuts.Add(1)
	c.bytes.Add(bytes)
}

func (c *opCounters) fail(err error) {
	c.errors.Add(1)
	c.mu.Lock()
	if c.mu.kinds == nil {
		c.mu.kinds = map[string]int64{}
	}
	c.mu.kinds[errorKind(err)]++
	c.mu.Unlock()
}

// errorKind names an error for the report: its wire kind, or the
// transport's failure.
func errorKind(err error) string {
	if remote, ok := errors.AsType[*api.Error](err); ok {
		if remote.Kind != "" {
			return remote.Kind
		}
		return "status-" + strconv.Itoa(remote.Status)
	}
	if kind := api.KindOf(err); kind != api.KindInternal {
		return kind
	}
	return "transport"
}

func (c *opCounters) takeIntervalMax() time.Duration { return time.Duration(c.intervalMax.Swap(0)) }

type counts struct{ ops, bytes, cuts, errors int64 }

func (c counts) minus(o counts) counts {
	return counts{c.ops - o.ops, c.bytes - o.bytes, c.cuts - o.cuts, c.errors - o.errors}
}

func (c *opCounters) counts() counts {
	return counts{c.ops.Load(), c.bytes.Load(), c.cuts.Load(), c.errors.Load()}
}

func (c *opCounters) stats(elapsed time.Duration, latency HistogramSnapshot) OpStats {
	s := opStatsOf(c.counts(), latency, elapsed, latency.Max)
	c.mu.Lock()
	if len(c.mu.kinds) > 0 {
		s.ErrorKinds = make(map[string]int64, len(c.mu.kinds))
		for k, v := range c.mu.kinds {
			s.ErrorKinds[k] = v
		}
	}
	c.mu.Unlock()
	return s
}

func opStatsOf(c counts, latency HistogramSnapshot, elapsed, maxLatency time.Duration) OpStats {
	s := OpStats{Ops: c.ops, Bytes: c.bytes, Cut: c.cuts, Errors: c.errors}
	if elapsed > 0 {
		s.OpsPerSecond = float64(c.ops) / elapsed.Seconds()
		s.MiBPerSecond = float64(c.bytes) / (1 << 20) / elapsed.Seconds()
	}
	if latency.Count > 0 {
		if maxLatency <= 0 {
			maxLatency = latency.Max // an operation recorded while the interval was read
		}
		// Percentiles are bucket bounds: keep them below the exact max.
		quantile := func(q float64) time.Duration { return min(latency.Quantile(q), maxLatency) }
		s.Latency = Latency{
			Avg: latency.Mean(),
			Min: latency.Min,
			P50: quantile(0.50),
			P90: quantile(0.90),
			P99: quantile(0.99),
			Max: maxLatency,
		}
	}
	return s
}

// patternReader is a PUT body: size bytes of a repeated random block,
// from a rotating start so that objects differ. It is seekable, so a
// redirected PUT can be sent again.
type patternReader struct {
	pattern []byte
	size    int64
	start   int
	offset  int64
	// read is offset for a PUT cut at the run's end: the transport may
	// still read the body once the PUT returned.
	read atomic.Int64
}

func (p *patternReader) reset(size int64, start int) {
	p.size, p.start, p.offset = size, start, 0
	p.read.Store(0)
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.offset >= p.size {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.size-p.offset)]
	n := 0
	for n < len(b) {
		at := (int64(p.start) + p.offset + int64(n)) % int64(len(p.pattern))
		n += copy(b[n:], p.pattern[at:])
	}
	p.offset += int64(n)
	p.read.Store(p.offset)
	return n, nil
}

func (p *patternReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += p.offset
	case io.SeekEnd:
		offset += p.size
	}
	if offset < 0 {
		return 0, errors.New("patternReader: negative position")
	}
	p.offset = offset
	p.read.Store(offset)
	return offset, nil
}
