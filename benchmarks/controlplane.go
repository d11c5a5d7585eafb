package benchmarks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aisgo/aisgo/api"
)

// The controlplane suite measures the Raft control plane: the latency of
// a control change (a bucket create) on one gateway and on three (through
// the primary and through a follower, which forwards it), the failover
// time after kill -9 of the primary, and the data path with three
// gateways beside one: Raft must not slow it (aim 0.95 or better).

const (
	// controlObjectSize is the object size of the data-path figures.
	controlObjectSize = 256 << 10
	controlWorkers    = 4
)

func controlPlaneSuite() Suite {
	return Suite{
		Name:        "controlplane",
		Doc:         "bucket-create latency with 1 and 3 gateways, failover time after kill -9 of the primary, and GET/PUT with 3 gateways beside 1",
		DefaultSize: 1 << 30,
		Run:         runControlPlane,
	}
}

func createName(gateways int, through string) string {
	if gateways == 1 {
		return "bucket create, 1 gateway"
	}
	return fmt.Sprintf("bucket create, %d gateways, through %s", gateways, through)
}

func controlDataName(method string, gateways int, redirects bool) string {
	how := "clients route to targets"
	if redirects {
		how = "through gateway redirects"
	}
	return fmt.Sprintf("%s %s, %s, %d gateway(s)", method, sizeName(controlObjectSize), how, gateways)
}

func failoverName() string {
	return "failover: kill -9 of the primary to the first bucket create, 3 gateways"
}

func runControlPlane(ctx context.Context, cfg Config) ([]Result, error) {
	rec := newRecorder("controlplane", cfg.Logger)
	if cfg.Aisnode == "" {
		why := "no aisnode binary (build it with 'make build', or pass -aisnode)"
		rec.skip(createName(1, ""), "", why)
		rec.skip(createName(3, "the primary"), createName(1, ""), why)
		rec.skip(createName(3, "a follower"), createName(1, ""), why)
		for _, redirects := range []bool{false, true} {
			for _, method := range []string{"PUT", "GET"} {
				rec.skip(controlDataName(method, 1, redirects), "", why)
				rec.skip(controlDataName(method, 3, redirects), controlDataName(method, 1, redirects), why)
			}
		}
		rec.skip(failoverName(), "", why)
		return rec.results, nil
	}
	// Both clusters run side by side, so that the data-path figures can
	// alternate between them, and in dry-run (targets discard PUT data and
	// serve GETs from memory): what differs is the control plane, not the
	// disk's state.
	clusters := map[int]*localCluster{}
	for _, gateways := range []int{1, 3} {
		dir := filepath.Join(cfg.Dir, fmt.Sprintf("gateways-%d", gateways))
		c, err := startLocalClusterOf(ctx, dir, cfg.Aisnode, gateways, clusterTargets, "-dry-run")
		if err != nil {
			return rec.results, err
		}
		defer c.stop()
		clusters[gateways] = c
	}
	creates, kills := cmp.Or(cfg.ControlCreates, 200), max(1, cmp.Or(cfg.FailoverKills, 5))
	for _, gateways := range []int{1, 3} {
		if err := measureControl(ctx, rec, clusters[gateways], gateways, creates); err != nil {
			return rec.results, err
		}
	}
	if err := measureDataPath(ctx, rec, cfg, clusters); err != nil {
		return rec.results, err
	}
	return rec.results, measureFailover(ctx, rec, clusters[3], kills)
}

// measureControl times bucket creates through the primary and, with
// several gateways, through a follower.
func measureControl(ctx context.Context, rec *recorder, c *localCluster, gateways, creates int) error {
	m, err := c.client().Map(ctx)
	if err != nil {
		return err
	}
	throughs := []string{m.Primary}
	for _, g := range m.Gateways() {
		if g.ID != m.Primary {
			throughs = append(throughs, g.ID)
			break
		}
	}
	for i, id := range throughs {
		node, _ := m.Node(id)
		through := "the primary"
		if i > 0 {
			through = "a follower"
		}
		baseline := ""
		if gateways > 1 {
			baseline = createName(1, "")
		}
		if err := measureCreates(ctx, rec, c, api.NewClient(node.URL), createName(gateways, through), baseline, fmt.Sprintf("c%d-", i), creates); err != nil {
			return err
		}
	}
	return nil
}

// measureDataPath puts and gets the same objects on the cluster of one
// gateway and on the one of three, alternating, best of three each.
func measureDataPath(ctx context.Context, rec *recorder, cfg Config, clusters map[int]*localCluster) error {
	for _, c := range clusters {
		if err := c.client().CreateBucket(ctx, benchBucket, nil); err != nil {
			return err
		}
	}
	n := count(cfg.Size, controlObjectSize)
	for _, redirects := range []bool{false, true} {
		// One client per cluster for every run: fresh clients would pile
		// up connections in this process, and later runs would pay.
		clients := map[int]*api.Client{}
		for gateways, c := range clusters {
			clients[gateways] = c.client()
			if redirects {
				clients[gateways] = api.NewClient(c.endpoint).UseRedirects()
			}
			defer clients[gateways].CloseIdleConnections()
		}
		for _, run := range []struct {
			method string
			cfg    LoadConfig
		}{
			{"PUT", LoadConfig{PutPercent: 100, MaxPuts: n}},
			{"GET", LoadConfig{PutPercent: 0, MaxOps: n, ReadOrder: ReadSequential}},
		} {
			best := map[int]time.Duration{}
			for _, c := range clusters {
				c.reset()
			}
			for round := range maxRuns {
				// Each goes first in turn: what one run leaves (garbage in
				// this process, dirty caches) weighs on both alike.
				order := []int{1, 3}
				if round%2 == 1 {
					order = []int{3, 1}
				}
				for _, gateways := range order {
					lc := run.cfg
					lc.Client = clients[gateways]
					lc.Bucket, lc.Workers, lc.MinSize, lc.Seed, lc.Names = benchBucket, controlWorkers, controlObjectSize, 1, NamesSequential
					lc.Prefix = fmt.Sprintf("r%v/", redirects)
					report, err := Load(ctx, lc)
					if err == nil && report.Put.Errors+report.Get.Errors > 0 {
						err = fmt.Errorf("%d errors", report.Put.Errors+report.Get.Errors)
					}
					if err != nil {
						return fmt.Errorf("%s: %w", controlDataName(run.method, gateways, redirects), err)
					}
					// The load's own time: without the listing before it.
					if t := report.Elapsed; best[gateways] == 0 || t < best[gateways] {
						best[gateways] = t
					}
				}
			}
			for _, gateways := range []int{1, 3} {
				rss, rssNote := clusters[gateways].peak()
				r := Result{Name: controlDataName(run.method, gateways, redirects), Bytes: n * controlObjectSize, Ops: n, Elapsed: best[gateways], PeakRSS: rss,
					Note: fmt.Sprintf("%d workers, %d dry-run targets; best of %d runs, alternating with the other cluster; %s over the runs", controlWorkers, clusterTargets, maxRuns, rssNote)}
				if gateways > 1 {
					r.Baseline = controlDataName(run.method, 1, redirects)
				}
				rec.add(r)
			}
		}
	}
	return nil
}

// measureCreates times bucket creates, one after another.
func measureCreates(ctx context.Context, rec *recorder, meter peakMeter, client *api.Client, name, baseline, prefix string, creates int) error {
	var h Histogram
	meter.reset()
	start := time.Now()
	for i := range creates {
		t := time.Now()
		if err := client.CreateBucket(ctx, fmt.Sprintf("%s%04d", prefix, i), nil); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		h.Record(time.Since(t))
	}
	elapsed := time.Since(start)
	rss, rssNote := meter.peak()
	s := h.Snapshot()
	rec.add(Result{Name: name, Ops: int64(creates), Elapsed: elapsed, Baseline: baseline, PeakRSS: rss,
		Note: fmt.Sprintf("%d creates, one after another; latency p50 %s p99 %s; %s", creates, short(s.Quantile(0.5)), short(s.Quantile(0.99)), rssNote)})
	return nil
}

// measureFailover kills the primary a number of times, timing each from
// the kill to the first bucket create that succeeds; the killed gateway
// restarts between kills. The figure is the median.
func measureFailover(ctx context.Context, rec *recorder, c *localCluster, kills int) error {
	client := c.client()
	var times []time.Duration
	c.reset()
	for i := range kills {
		m, err := client.Map(ctx)
		if err != nil {
			return err
		}
		primary := c.node(m.Primary)
		if primary == nil {
			return fmt.Errorf("failover: no process for primary %s", m.Primary)
		}
		c.kill9(primary)
		killed := time.Now()
		deadline := killed.Add(time.Minute)
		for {
			err := client.CreateBucket(ctx, fmt.Sprintf("failover-%d", i), nil)
			if err == nil || errors.Is(err, api.ErrBucketExists) {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("failover %d: no control change within a minute: %w", i+1, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		times = append(times, time.Since(killed))
		if err := c.restart(primary); err != nil {
			return err
		}
		if err := c.waitForNodes(ctx, len(c.nodes)); err != nil {
			return err
		}
		if err := waitHealthy(ctx, primary.url()); err != nil {
			return fmt.Errorf("failover %d: %s after its restart: %w", i+1, primary.name, err)
		}
	}
	sorted := slices.Sorted(slices.Values(times))
	var each []string
	for _, t := range times {
		each = append(each, short(t))
	}
	// The killed gateways' own peaks are of their last lives.
	rss, rssNote := c.peak()
	rec.add(Result{Name: failoverName(), Elapsed: sorted[len(sorted)/2], PeakRSS: rss,
		Note: fmt.Sprintf("median of %d kills: %s; aim under 5s; election timeout 1s; %s", kills, strings.Join(each, ", "), rssNote)})
	return nil
}

// waitHealthy waits until a node answers its health check.
func waitHealthy(ctx context.Context, url string) error {
	client := api.NewClient(url)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := client.Health(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
