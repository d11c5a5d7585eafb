package benchmarks

import (
	"context"
	"fmt"
	"time"
)

// loaderWorkers are the workers of the loader suite's runs.
const loaderWorkers = 4

// loaderObjectSize is the size of the objects the loader suite moves.
const loaderObjectSize = 1 << 20

func loaderSuite() Suite {
	return Suite{
		Name:        "loader",
		Doc:         "the aisloader load generator (benchmarks.Load) putting and getting 1 MiB objects on an embedded node, on disk and in dry-run, beside a bare net/http server",
		DefaultSize: 512 << 20,
		Run:         runLoader,
	}
}

// runLoader measures the bare net/http bound, then a PUT-only and a
// GET-only load of the same bytes on an embedded node, on its disk and in
// dry-run.
func runLoader(ctx context.Context, cfg Config) ([]Result, error) {
	rec := newRecorder("loader", cfg.Logger)
	src := randomBytes(srcSize)
	lb, err := startLoopback(src)
	if err != nil {
		return nil, err
	}
	defer lb.close()
	if err := lb.figures(ctx, rec, cfg.Size, loaderObjectSize, loaderWorkers, ""); err != nil {
		return rec.results, err
	}
	for _, dryRun := range []bool{false, true} {
		if err := loaderFigures(ctx, rec, cfg, dryRun); err != nil {
			return rec.results, err
		}
	}
	return rec.results, nil
}

func loaderFigures(ctx context.Context, rec *recorder, cfg Config, dryRun bool) error {
	where, node, client, err := benchNode(ctx, cfg, dryRun)
	if err != nil {
		return err
	}
	defer node.close()
	n := count(cfg.Size, loaderObjectSize)
	runs := []struct {
		method string
		load   LoadConfig
	}{
		{"PUT", LoadConfig{PutPercent: 100, MaxPuts: n}},
		{"GET", LoadConfig{PutPercent: 0, MaxOps: n, ReadOrder: ReadSequential}},
	}
	for _, run := range runs {
		load := run.load
		load.Client, load.Bucket, load.Workers = client, benchBucket, loaderWorkers
		load.MinSize, load.Seed, load.Names = loaderObjectSize, 1, NamesSequential
		// Repeated as the loopback baseline is (reads, and PUTs in
		// dry-run; a PUT to disk once), the fastest run kept.
		repeat := run.method == "GET" || dryRun
		var best *LoadReport
		var rss int64
		var spent time.Duration
		runCount := 0
		for runCount == 0 || repeat && runCount < maxRuns && spent < repeatBudget {
			selfPeak{}.reset()
			report, err := Load(ctx, load)
			if err != nil {
				return fmt.Errorf("%s aisloader %s: %w", where, run.method, err)
			}
			rss = max(rss, peakRSS(0))
			if best == nil || report.Elapsed < best.Elapsed {
				best = report
			}
			spent += report.Elapsed
			runCount++
		}
		for _, r := range best.Results(rec.suite) {
			r.Name = where + ": " + r.Name
			r.Baseline = loopbackName(run.method, loaderObjectSize, loaderWorkers)
			r.PeakRSS = rss
			if runCount > 1 {
				r.Note = fmt.Sprintf("%s; best of %d runs", r.Note, runCount)
			}
			rec.add(r)
		}
	}
	return nil
}
