package benchmarks

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aisgo/aisgo/api"
	"golang.org/x/sync/errgroup"
)

// figure describes one measurement before it runs.
type figure struct {
	name     string
	baseline string
	bounds   []string
	bytes    int64
	ops      int64
	note     string
	// repeat marks a measurement that may run again on the same data
	// with the same meaning (reads, memory, the network without a disk);
	// it runs up to maxRuns times and the fastest run counts.
	repeat bool
	// setup, when set, runs before each run, untimed: it puts back what
	// a run needs (a cold page cache, an empty output bucket).
	setup func() error
	// ended, when set, is when the run's work ended as its nodes say (a
	// job's end): the run is timed to it, not to the poll that saw it.
	ended func() time.Time
}

// maxRuns and repeatBudget bound the runs of a repeatable figure: a run
// starts only while the runs so far took less than the budget.
const (
	maxRuns      = 3
	repeatBudget = 5 * time.Second
)

// recorder collects the results of one suite and logs each as it comes.
type recorder struct {
	suite   string
	logger  *slog.Logger
	results []Result
}

func newRecorder(suite string, logger *slog.Logger) *recorder {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &recorder{suite: suite, logger: logger}
}

func (r *recorder) add(res Result) {
	res.Suite = r.suite
	r.results = append(r.results, res)
	if res.Skipped {
		r.logger.Info("skipped", "suite", r.suite, "figure", res.Name, "why", res.Note)
		return
	}
	r.logger.Info("measured", "suite", r.suite, "figure", res.Name,
		"MiB/s", fmt.Sprintf("%.1f", res.MiBps()), "ops/s", fmt.Sprintf("%.0f", res.OpsPerSecond()),
		"time", res.Elapsed.Round(time.Millisecond))
}

// measure times fn, which moves f.bytes in f.ops operations, and records
// the peak RSS of this process while it ran. A repeatable figure keeps its
// fastest run.
func (r *recorder) measure(ctx context.Context, f figure, fn func() error) error {
	return r.measureWith(ctx, f, fn, selfPeak{})
}

// peakMeter resets and reads the peak RSS of the processes a measurement
// runs in.
type peakMeter interface {
	reset()
	peak() (int64, string)
}

// selfPeak measures this process. It returns freed memory to the system
// first, so that the peak covers what the measurement holds, not what
// earlier ones left for the garbage collector.
type selfPeak struct{}

func (selfPeak) reset() {
	debug.FreeOSMemory()
	resetPeakRSS(0)
}
func (selfPeak) peak() (int64, string) { return peakRSS(0), "" }

func (r *recorder) measureWith(ctx context.Context, f figure, fn func() error, meter peakMeter) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var best, spent time.Duration
	var rss int64
	var rssNote string
	runs := 0
	for runs == 0 || f.repeat && runs < maxRuns && spent < repeatBudget {
		if err := ctx.Err(); err != nil {
			return err
		}
		if f.setup != nil {
			if err := f.setup(); err != nil {
				return fmt.Errorf("%s: set up a run: %w", f.name, err)
			}
		}
		// After the setup: what it maps (a page-cache warm-up) is not the
		// figure's memory.
		meter.reset()
		start := time.Now()
		err := fn()
		elapsed := time.Since(start)
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		if f.ended != nil {
			if end := f.ended(); end.After(start) && end.Sub(start) < elapsed {
				elapsed = end.Sub(start)
			}
		}
		if runs == 0 || elapsed < best {
			best = elapsed
		}
		if peak, note := meter.peak(); peak >= rss {
			rss, rssNote = peak, note
		}
		spent += elapsed
		runs++
	}
	note := f.note
	if runs > 1 {
		note = strings.TrimPrefix(fmt.Sprintf("%s; best of %d runs", note, runs), "; ")
	}
	if rssNote != "" {
		note = strings.TrimPrefix(note+"; "+rssNote, "; ")
	}
	r.add(Result{Name: f.name, Bytes: f.bytes, Ops: f.ops, Elapsed: best, Baseline: f.baseline,
		Bounds: f.bounds, PeakRSS: rss, Note: note})
	return nil
}

// skip records a figure that could not be measured and why.
func (r *recorder) skip(name, baseline, why string) {
	r.add(Result{Name: name, Baseline: baseline, Skipped: true, Note: why})
}

// resetPeakRSS resets the peak resident set size the kernel keeps for a
// process (pid 0 is this one), so that the next reading covers only what
// follows. Best effort: without the right, the peak covers the process's
// life.
func resetPeakRSS(pid int) {
	os.WriteFile(procPath(pid, "clear_refs"), []byte("5"), 0)
}

// peakRSS returns a process's peak resident set size (VmHWM) in bytes, or
// 0 when it cannot be read.
func peakRSS(pid int) int64 {
	data, err := os.ReadFile(procPath(pid, "status"))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kib << 10
		}
	}
	return 0
}

func procPath(pid int, file string) string {
	if pid == 0 {
		return "/proc/self/" + file
	}
	return "/proc/" + strconv.Itoa(pid) + "/" + file
}

// randomBytes returns n seeded pseudo-random bytes, touched once so that
// the measurements reuse warm memory.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	var seed [32]byte
	copy(seed[:], "aisgo benchmark data")
	rand.NewChaCha8(seed).Read(b)
	return b
}

// slice returns the i-th window of size bytes of src, cycling through it.
func slice(src []byte, i int64, size int) []byte {
	span := int64(len(src) - size + 1)
	off := (i * int64(size)) % span
	return src[off : off+int64(size)]
}

// count is how many objects of size make up total bytes, at least one.
func count(total int64, size int) int64 { return max(1, (total+int64(size)-1)/int64(size)) }

// runWorkers calls do for every index in [0, n) from the given number of
// workers, each with its own buffer of bufSize bytes; the first error
// stops them all.
func runWorkers(ctx context.Context, workers int, n int64, bufSize int, do func(ctx context.Context, i int64, buf []byte) error) error {
	g, ctx := errgroup.WithContext(ctx)
	var next atomic.Int64
	for range workers {
		g.Go(func() error {
			buf := make([]byte, bufSize)
			for {
				i := next.Add(1) - 1
				if i >= n {
					return nil
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := do(ctx, i, buf); err != nil {
					return err
				}
			}
		})
	}
	return g.Wait()
}

// drainInto reads r to the end into buf, over and over, and returns how
// many bytes it read.
func drainInto(r io.Reader, buf []byte) (int64, error) {
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// expectSize fails unless n is want.
func expectSize(what string, n, want int64) error {
	if n != want {
		return fmt.Errorf("%s: %d bytes, want %d", what, n, want)
	}
	return nil
}

// sizeName names an object size as figures do: "1 MiB", "100 KiB".
func sizeName(size int) string { return formatBytes(int64(size)) }

// readerOnly hides everything of a reader but Read, so that io.Copy uses
// its buffer rather than a WriterTo.
type readerOnly struct{ io.Reader }

// writerOnly hides everything of a writer but Write.
type writerOnly struct{ io.Writer }

// ringWriter copies what it is given into a warm buffer, wrapping around.
type ringWriter struct {
	buf []byte
	off int
}

func (w *ringWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if w.off == len(w.buf) {
			w.off = 0
		}
		k := copy(w.buf[w.off:], p)
		w.off += k
		p = p[k:]
	}
	return n, nil
}

// cycleReader yields total bytes from src, cycling through it.
type cycleReader struct {
	src  []byte
	off  int
	left int64
}

func (r *cycleReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if r.off == len(r.src) {
		r.off = 0
	}
	p = p[:min(int64(len(p)), r.left)]
	k := copy(p, r.src[r.off:])
	r.off += k
	r.left -= int64(k)
	return k, nil
}

// jobLimit bounds how long a benchmark waits for a job it started: a job
// that never ends fails the figure rather than hang the run.
const jobLimit = 30 * time.Minute

// waitJob waits for a job of the cluster to end, as poll does: within
// jobLimit.
func waitJob(ctx context.Context, client *api.Client, id string, interval time.Duration) (api.ClusterJob, error) {
	limited, cancel := context.WithTimeoutCause(ctx, jobLimit, fmt.Errorf("job %s did not end within %s", id, jobLimit))
	defer cancel()
	job, err := client.WaitJob(limited, id, interval)
	if err != nil && ctx.Err() == nil && limited.Err() != nil {
		err = context.Cause(limited)
	}
	return job, err
}

// jobEnd is when a job ended on its last node (zero when none says): the
// nodes run on this machine, on its clock.
func jobEnd(j api.ClusterJob) time.Time {
	var last int64
	for _, n := range j.Nodes {
		last = max(last, n.Finished) // 0: not run there
	}
	if last == 0 {
		return time.Time{}
	}
	return time.Unix(0, last)
}

// poll calls done every interval until it reports true or fails, ctx
// ends, or jobLimit passes.
func poll(ctx context.Context, interval time.Duration, what string, done func() (bool, error)) error {
	giveUp := time.Now().Add(jobLimit)
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		if time.Now().After(giveUp) {
			return fmt.Errorf("%s did not end within %s", what, jobLimit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}
