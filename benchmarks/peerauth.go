package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/datasets"
)

// The peerauth suite measures what intra-cluster authentication costs:
// the same rebalance and the same dSort job on a cluster that signs and
// verifies every request between nodes, beside one started with
// -insecure-no-peer-auth. The aim is 0.95 or better.

func peerAuthSuite() Suite {
	return Suite{
		Name:        "peerauth",
		Doc:         "rebalance and dSort with intra-cluster authentication, beside the same without it",
		DefaultSize: 1 << 30,
		Run:         runPeerAuth,
	}
}

func peerAuthName(what string, on bool) string {
	if on {
		return what + ", authenticated"
	}
	return what + ", no peer auth"
}

func runPeerAuth(ctx context.Context, cfg Config) ([]Result, error) {
	rec := newRecorder("peerauth", cfg.Logger)
	objects := rebalanceObjects(cfg.RebalanceObjects)
	rebalance := fmt.Sprintf("rebalance %d objects of %s, %d to %d targets", objects, sizeName(rebalanceObjectSize), clusterTargets, clusterTargets+1)
	shardCount := max(1, cfg.Size/(dsortRecords*dsortRecordSize))
	dsort := fmt.Sprintf("dsort tar shuffle of %s, %d targets", sizeName64(shardCount*dsortRecords*dsortRecordSize), clusterTargets)
	if cfg.Aisnode == "" {
		why := "no aisnode binary (build it with 'make build', or pass -aisnode)"
		for _, on := range []bool{false, true} {
			rec.skip(peerAuthName(rebalance, on), "", why)
			rec.skip(peerAuthName(dsort, on), "", why)
		}
		return rec.results, nil
	}
	src := randomBytes(4 << 20)
	spec := datasets.Spec{Template: fmt.Sprintf("in-{%04d..%04d}.tar", 0, shardCount-1), Records: dsortRecords, RecordSize: dsortRecordSize, Extensions: []string{".jpg", ".cls"}, Seed: 1}
	for _, on := range []bool{false, true} {
		var args []string
		if !on {
			args = []string{"-insecure-no-peer-auth"}
		}
		dir := filepath.Join(cfg.Dir, peerAuthName("cluster", on))
		if err := peerAuthRun(ctx, rec, cfg, dir, args, on, src, objects, spec, rebalance, dsort); err != nil {
			return rec.results, err
		}
	}
	return rec.results, nil
}

func peerAuthRun(ctx context.Context, rec *recorder, cfg Config, dir string, args []string, on bool, src []byte, objects int, spec datasets.Spec, rebalance, dsort string) error {
	c, err := startLocalCluster(ctx, dir, cfg.Aisnode, clusterTargets, args...)
	if err != nil {
		return err
	}
	defer c.stop()
	client := api.NewClient(c.endpoint)
	// dSort first, on 3 targets.
	job := figure{name: peerAuthName(dsort, on), repeat: true, note: "1 gateway and 3 targets, each an aisnode process; warm page cache"}
	if on {
		job.baseline = peerAuthName(dsort, false)
	}
	if err := measureShuffle(ctx, rec, client, c, spec, job); err != nil {
		return err
	}
	for _, b := range []string{"src", "dst"} {
		if err := client.DestroyBucket(ctx, b); err != nil {
			return err
		}
	}
	// Then a rebalance onto a fourth target.
	if err := client.CreateBucket(ctx, benchBucket, nil); err != nil {
		return err
	}
	n := int64(objects)
	if err := apiPut(ctx, client, "r/", src, n, rebalanceObjectSize, httpWorkers); err != nil {
		return err
	}
	c.reset()
	start := time.Now()
	if _, err := c.addTarget(ctx); err != nil {
		return err
	}
	wait := cfg.RebalanceWait
	if wait <= 0 {
		wait = 10 * time.Second
	}
	moved, finished, err := waitForRebalance(ctx, client, start, wait)
	name := peerAuthName(rebalance, on)
	baseline := ""
	if on {
		baseline = peerAuthName(rebalance, false)
	}
	if errors.Is(err, errNoRebalance) {
		rec.skip(name, baseline, fmt.Sprintf("no node reported a rebalance job within %s of the new target's start", wait))
		return nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		rec.skip(name, baseline, fmt.Sprintf("rebalance failed: %v", err))
		return nil
	}
	rss, rssNote := c.peak()
	// As the http suite's rebalance: one that lost objects, or moved
	// none, has no speed to report.
	if why, err := rebalanceUnfit(ctx, client, n, moved); err != nil || why != "" {
		if why != "" {
			rec.skip(name, baseline, why)
		}
		return err
	}
	rec.add(Result{Name: name, Bytes: moved.Bytes, Ops: moved.Objects, Elapsed: finished.Sub(start), Baseline: baseline, PeakRSS: rss,
		Note: fmt.Sprintf("from starting the new target to the last job's end; moved %d objects, %s; %s", moved.Objects, formatBytes(moved.Bytes), rssNote)})
	return nil
}

// measureShuffle generates the dSort dataset of spec into "src" and
// measures the suite's shuffle job into "dst" as figure f (its bytes are
// the dataset's), with the job's phases.
func measureShuffle(ctx context.Context, rec *recorder, client *api.Client, meter peakMeter, spec datasets.Spec, f figure) error {
	if err := client.CreateBucket(ctx, "src", nil); err != nil {
		return err
	}
	total, err := generateInto(ctx, client, "src", spec)
	if err != nil {
		return fmt.Errorf("generate the dataset: %w", err)
	}
	jobSpec := fmt.Sprintf(`{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":%q},
		"output_format":"out-{00000..99999}.tar","output_shard_size":%q,"algorithm":{"kind":"shuffle","seed":%q}}`,
		spec.Template, dsortOutputShard, dsortSeed)
	f.bytes = total
	// Each run writes a new "dst": one over the shards of the run before
	// would be other work (their files freed as it goes).
	f.setup = func() error {
		if err := client.DestroyBucket(ctx, "dst"); err != nil && !errors.Is(err, api.ErrBucketNotFound) {
			return err
		}
		return nil
	}
	var phases []Phase
	var fastest time.Duration
	var finished time.Time
	f.ended = func() time.Time { return finished }
	if err := rec.measureWith(ctx, f, func() error {
		start := time.Now()
		p, s, err := runJobSummary(ctx, client, jobSpec)
		finished = s.FinishTime
		// The report shows the phases of the run it keeps: the fastest.
		if elapsed := runTime(start, finished); err == nil && (fastest == 0 || elapsed < fastest) {
			phases, fastest = p, elapsed
		}
		return err
	}, meter); err != nil {
		return err
	}
	rec.results[len(rec.results)-1].Phases = phases
	return nil
}
