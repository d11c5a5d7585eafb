package benchmarks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/datasets"
	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/shards"
)

// The dSort suite reshards a generated dataset of 100 KiB records in tar
// shards with a shuffle, on 1 and on 3 local targets, beside the bound a
// reshard cannot beat: the same cluster reading every input byte once and
// writing as many bytes, durably (cold cache, fsync per output file). A
// plain single-process Go reshard of the same data is the second bound.

const (
	dsortRecordSize  = 100 << 10
	dsortRecords     = 100     // per input shard, about 10 MiB
	dsortOutputShard = "32MiB" // output_shard_size
	dsortSeed        = "20261129"
	// dsortEstimateTargets is the cluster size whose job is estimated
	// first (POST /v1/sort/estimate), the estimate's error in its note.
	dsortEstimateTargets = 3
)

func dsortSuite() Suite {
	return Suite{
		Name:        "dsort",
		Doc:         "dSort shuffle of 100 KiB records on 1, 2 and 3 targets, beside a read+write copy of the same bytes and a single-process reshard",
		DefaultSize: 1 << 30,
		Run:         runDsort,
	}
}

func copyBoundName(targets int) string { return fmt.Sprintf("copy bound, %d target(s)", targets) }

// dsortTargets are the cluster sizes measured.
var dsortTargets = []int{1, 2, 3}

func dsortName(targets int) string {
	return fmt.Sprintf("dsort tar shuffle, %d target(s)", targets)
}

const singleProcessName = "single-process Go reshard"

func runDsort(ctx context.Context, cfg Config) ([]Result, error) {
	rec := newRecorder("dsort", cfg.Logger)
	if cfg.Aisnode == "" {
		why := "no aisnode binary (build it with 'make build', or pass -aisnode)"
		rec.skip(singleProcessName, "", why)
		for _, t := range dsortTargets {
			rec.skip(copyBoundName(t), "", why)
			rec.skip(dsortName(t), copyBoundName(t), why)
		}
		return rec.results, nil
	}
	shards := max(1, cfg.Size/(dsortRecords*dsortRecordSize))
	template := fmt.Sprintf("in-{%04d..%04d}.tar", 0, shards-1)
	spec := datasets.Spec{Template: template, Records: dsortRecords, RecordSize: dsortRecordSize, Extensions: []string{".jpg", ".cls"}, Seed: 1}
	var single bool
	for _, targets := range dsortTargets {
		if err := dsortOn(ctx, rec, cfg, spec, targets, !single); err != nil {
			return rec.results, err
		}
		single = true
	}
	return rec.results, nil
}

// dsortOn measures one cluster size: generate, copy bound, dSort.
func dsortOn(ctx context.Context, rec *recorder, cfg Config, spec datasets.Spec, targets int, withSingleProcess bool) error {
	dir := filepath.Join(cfg.Dir, fmt.Sprintf("dsort-%d", targets))
	tmpl, err := shards.ParseTemplate(spec.Template)
	if err != nil {
		return err
	}
	c, err := startLocalCluster(ctx, dir, cfg.Aisnode, targets)
	if err != nil {
		return err
	}
	defer c.stop()
	client := api.NewClient(c.endpoint)
	if err := client.CreateBucket(ctx, "src", nil); err != nil {
		return err
	}
	total, err := generateInto(ctx, client, "src", spec)
	if err != nil {
		return fmt.Errorf("generate the dataset: %w", err)
	}
	var inputs []string // the input bucket's directory on each target
	for _, n := range c.nodes {
		if n.role == "target" {
			inputs = append(inputs, filepath.Join(n.dir, "mp1", "ais", "src"))
		}
	}
	note := fmt.Sprintf("%s of %d KiB records in %d tar shards; 1 gateway and %d target(s), each an aisnode process; cold page cache, fsync on",
		sizeName64(total), dsortRecordSize>>10, tmpl.Count(), targets)

	coldCache := func() error {
		for _, in := range inputs {
			if err := dropCache(in); err != nil {
				return err
			}
		}
		return nil
	}
	// The bound: each target's input read once and written once. Disk
	// figures here move by a third from run to run: both the bound and
	// the job keep the best of up to three runs, each from a cold cache.
	bound := figure{name: copyBoundName(targets), bytes: total, repeat: true,
		note: "every input byte read and written once, in parallel per target, fsync per file",
		setup: func() error {
			for _, in := range inputs {
				os.RemoveAll(filepath.Join(filepath.Dir(in), "copy-bound"))
			}
			return coldCache()
		}}
	if err := rec.measure(ctx, bound, func() error { return copyBound(ctx, inputs) }); err != nil {
		return err
	}
	for _, in := range inputs {
		os.RemoveAll(filepath.Join(filepath.Dir(in), "copy-bound"))
	}
	if err := coldCache(); err != nil { // for the estimate
		return err
	}
	jobSpec := fmt.Sprintf(`{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":%q},
		"output_format":"out-{00000..99999}.tar","output_shard_size":%q,"algorithm":{"kind":"shuffle","seed":%q}}`,
		spec.Template, dsortOutputShard, dsortSeed)
	var est *api.DsortEstimate
	if targets == dsortEstimateTargets {
		// Taken from a cold cache, as the job runs; what it read is
		// dropped again before each run of the job.
		e, err := client.EstimateDsort(ctx, []byte(jobSpec))
		if err != nil {
			return fmt.Errorf("estimate the dsort job: %w", err)
		}
		est = &e
	}
	var phases []Phase
	var sum api.DsortJobInfo
	var fastest time.Duration
	job := figure{name: dsortName(targets), baseline: copyBoundName(targets), bytes: total, note: note, repeat: true,
		setup: func() error {
			if err := client.DestroyBucket(ctx, "dst"); err != nil && !errors.Is(err, api.ErrBucketNotFound) {
				return err
			}
			return coldCache()
		}}
	if targets == 1 {
		job.bounds = []string{singleProcessName}
	}
	// Timed to the job's end as its targets say, not to the poll that saw
	// it (up to a poll's interval and a metrics round later).
	var finished time.Time
	job.ended = func() time.Time { return finished }
	err = rec.measureWith(ctx, job, func() error {
		start := time.Now()
		p, s, err := runJobSummary(ctx, client, jobSpec)
		finished = s.FinishTime
		// The report shows the phases of the run it keeps: the fastest.
		if elapsed := runTime(start, finished); err == nil && (fastest == 0 || elapsed < fastest) {
			phases, sum, fastest = p, s, elapsed
		}
		return err
	}, c)
	if err != nil {
		return err
	}
	if err := client.DestroyBucket(ctx, "dst"); err != nil {
		return err
	}
	res := &rec.results[len(rec.results)-1]
	res.Phases = phases
	if est != nil {
		res.Note += "; " + estimateNote(*est, res.Elapsed, sum.Metrics)
	}
	if withSingleProcess {
		return singleProcessFigure(ctx, rec, cfg, inputs, total)
	}
	return nil
}

// generateInto generates a dataset and puts it into a bucket.
func generateInto(ctx context.Context, client *api.Client, bucket string, spec datasets.Spec) (int64, error) {
	var mu sync.Mutex
	var total int64
	_, err := datasets.Generate(ctx, spec, func(name string) (io.WriteCloser, error) {
		return &putOnClose{ctx: ctx, client: client, bucket: bucket, name: name, done: func(n int64) {
			mu.Lock()
			total += n
			mu.Unlock()
		}}, nil
	})
	return total, err
}

// putOnClose collects a generated shard and puts it when closed.
type putOnClose struct {
	bytes.Buffer
	ctx          context.Context
	client       *api.Client
	bucket, name string
	done         func(int64)
}

// Abort drops a shard whose generation failed: a short one is not put.
func (p *putOnClose) Abort() error { p.Reset(); return nil }

var _ datasets.Aborter = (*putOnClose)(nil)

func (p *putOnClose) Close() error {
	n := int64(p.Len())
	if _, err := p.client.Put(p.ctx, p.bucket, p.name, bytes.NewReader(p.Bytes()), api.PutOptions{Size: n}); err != nil {
		return err
	}
	p.done(n)
	return nil
}

// copyBound reads every file under each input directory and writes it to
// a sibling directory with fsync, one worker per directory (target).
func copyBound(ctx context.Context, inputs []string) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, in := range inputs {
		g.Go(func() error {
			out := filepath.Join(filepath.Dir(in), "copy-bound")
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			buf := pool.Get(pool.CopyBufferSize)
			defer pool.Put(buf)
			i := 0
			return filepath.WalkDir(in, func(path string, d fs.DirEntry, err error) error {
				if err != nil || !d.Type().IsRegular() {
					return err
				}
				if err := gctx.Err(); err != nil {
					return err
				}
				src, err := os.Open(path)
				if err != nil {
					return err
				}
				defer src.Close()
				i++
				dst, err := os.Create(filepath.Join(out, fmt.Sprintf("c%06d", i)))
				if err != nil {
					return err
				}
				// Through the buffer, as dSort's bytes go: a file-to-file
				// io.Copy is copy_file_range, which copies in the kernel
				// (or clones extents: no bytes moved at all).
				_, err = io.CopyBuffer(writerOnly{dst}, readerOnly{src}, buf)
				if err == nil {
					err = dst.Sync()
				}
				if cerr := dst.Close(); err == nil {
					err = cerr
				}
				return err
			})
		})
	}
	return g.Wait()
}

// singleProcessFigure reshards the same shards in one process, the plain
// way: read every shard's tar headers, shuffle the records, and write new
// tar shards by copying each record's raw tar entries, with fsync.
func singleProcessFigure(ctx context.Context, rec *recorder, cfg Config, inputs []string, total int64) error {
	out := filepath.Join(cfg.Dir, "single-process")
	defer os.RemoveAll(out)
	// Each run as the dSort job's: no output yet, a cold page cache; and
	// repeated as the job is, the best kept.
	setup := func() error {
		if err := os.RemoveAll(out); err != nil {
			return err
		}
		for _, in := range inputs {
			if err := dropCache(in); err != nil {
				return err
			}
		}
		return nil
	}
	f := figure{name: singleProcessName, bytes: total, repeat: true, setup: setup,
		note: "one Go process, one thread: read tar headers, shuffle records, copy raw entries into new shards, fsync each"}
	return rec.measure(ctx, f, func() error { return plainReshard(ctx, inputs, out) })
}

// rawRecord is a record's tar entries: one contiguous range of a shard.
type rawRecord struct {
	file        *os.File
	offset, len int64
}

func plainReshard(ctx context.Context, inputs []string, out string) error {
	tar, _ := formats.Default().ByExtension(".tar")
	var records []rawRecord
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, in := range inputs {
		err := filepath.WalkDir(in, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			files = append(files, f)
			info, err := f.Stat()
			if err != nil {
				return err
			}
			rd, err := tar.NewReader(f, info.Size(), path)
			if err != nil {
				return err
			}
			last := ""
			for {
				e, err := rd.Next()
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				name, _ := shards.SplitName(e.Name)
				if name == last && len(records) > 0 {
					records[len(records)-1].len = e.HeaderOffset + e.RawSize() - records[len(records)-1].offset
					continue
				}
				last = name
				records = append(records, rawRecord{file: f, offset: e.HeaderOffset, len: e.RawSize()})
			}
		})
		if err != nil {
			return err
		}
	}
	rng := rand.New(rand.NewPCG(20261129, 1))
	rng.Shuffle(len(records), func(i, j int) { records[i], records[j] = records[j], records[i] })
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	limit, _ := shards.ParseSize(dsortOutputShard)
	buf := pool.Get(pool.CopyBufferSize)
	defer pool.Put(buf)
	var dst *os.File
	var written int64
	finish := func() error {
		if dst == nil {
			return nil
		}
		_, err := dst.Write(make([]byte, 1024)) // the tar end marker
		if err == nil {
			err = dst.Sync()
		}
		if cerr := dst.Close(); err == nil {
			err = cerr
		}
		dst = nil
		return err
	}
	for i, r := range records {
		if err := ctx.Err(); err != nil {
			return err
		}
		if dst == nil {
			var err error
			if dst, err = os.Create(filepath.Join(out, fmt.Sprintf("out-%05d.tar", i))); err != nil {
				return err
			}
			written = 0
		}
		n, err := io.CopyBuffer(dst, io.NewSectionReader(r.file, r.offset, r.len), buf)
		if err != nil {
			return err
		}
		written += n
		if written >= limit {
			if err := finish(); err != nil {
				return err
			}
		}
	}
	return finish()
}

// runTime is how long a run that started at start took: to its job's
// end as the targets say when they say one, else to now.
func runTime(start, finished time.Time) time.Duration {
	if elapsed := time.Since(start); !finished.After(start) || finished.Sub(start) >= elapsed {
		return elapsed
	}
	return finished.Sub(start)
}

// runJobSummary starts a dSort job and waits for it, returning its phases
// and its summed metrics.
func runJobSummary(ctx context.Context, client *api.Client, spec string) ([]Phase, api.DsortJobInfo, error) {
	id, err := client.DsortStart(ctx, []byte(spec))
	if err != nil {
		return nil, api.DsortJobInfo{}, err
	}
	var phases []Phase
	var sum api.DsortJobInfo
	// Each poll asks every target: polling often would take CPU from the
	// job it times.
	err = poll(ctx, 25*time.Millisecond, "dsort job "+id, func() (bool, error) {
		metrics, err := client.DsortMetrics(ctx, id)
		if err != nil {
			return false, err
		}
		sum = api.DsortSummary(metrics)
		if sum.Aborted {
			return false, api.DsortError(sum)
		}
		if !sum.Archived {
			return false, nil
		}
		m := sum.Metrics
		phases = []Phase{
			{Name: "extract", Elapsed: time.Duration(m.Extraction.Elapsed), Bytes: m.Extraction.ExtractedSize},
			{Name: "sort", Elapsed: time.Duration(m.Sorting.Elapsed)},
			{Name: "create", Elapsed: time.Duration(m.Creation.Elapsed), Bytes: m.Creation.CreatedSize},
		}
		return true, nil
	})
	if err != nil {
		return nil, sum, err
	}
	return phases, sum, nil
}

// estimateNote compares an estimate with the job that followed it: the
// forecast's error against the measured time, and the counts, estimate
// first.
func estimateNote(est api.DsortEstimate, elapsed time.Duration, m api.DsortMetrics) string {
	f := est.Forecast
	timeError := "-"
	if elapsed > 0 {
		timeError = fmt.Sprintf("%+.0f%%", (f.Total.Seconds()-elapsed.Seconds())/elapsed.Seconds()*100)
	}
	var read, write, network [2]float64 // bytes, seconds over the targets
	for _, t := range est.Targets {
		read[0], read[1] = read[0]+float64(t.ReadBytes), read[1]+t.ReadTime.Seconds()
		write[0], write[1] = write[0]+float64(t.WriteBytes), write[1]+t.WriteTime.Seconds()
		network[0], network[1] = network[0]+float64(t.NetworkBytes), network[1]+t.NetworkTime.Seconds()
	}
	mibs := func(r [2]float64) string {
		if r[1] <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f", r[0]/r[1]/(1<<20))
	}
	return fmt.Sprintf("estimate before the run (in %s): forecast %s, %s of the measured time (extract %s, sort %s, create %s; "+
		"sampled per target, MiB/s: disk read %s, write %s, network %s); "+
		"estimate/job: %d/%d records, %d/%d output shards, %s/%s output bytes",
		est.Elapsed.Round(time.Millisecond), f.Total.Round(time.Millisecond), timeError, f.Extract.Round(time.Millisecond),
		f.Sort.Round(time.Millisecond), f.Create.Round(time.Millisecond), mibs(read), mibs(write), mibs(network),
		est.Records, m.Extraction.ExtractedRecordCount,
		est.OutputShards, m.Creation.CreatedCount, shards.FormatSize(est.OutputBytes), shards.FormatSize(m.Creation.CreatedSize))
}

func sizeName64(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
