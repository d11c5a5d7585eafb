package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/aisgo/aisgo/datasets"
	"github.com/aisgo/aisgo/internal/netlab"
)

// The multihost suite puts every node of a cluster on a host of its own (a
// network namespace with its own address on a bridge, internal/netlab)
// and measures PUT, GET and a dSort job there beside the same on
// loopback, so that the cost of a real network path (veth and bridge
// rather than lo) shows. It needs root, as network namespaces do.

func multihostSuite() Suite {
	return Suite{
		Name:        "multihost",
		Doc:         "PUT, GET and dSort with every node on its own network namespace host, beside the same on loopback",
		DefaultSize: 512 << 20,
		Run:         runMultihost,
	}
}

const multihostObjectSize = 1 << 20

func multihostName(what string, lab bool) string {
	if lab {
		return what + ", hosts on a bridge"
	}
	return what + ", loopback"
}

func runMultihost(ctx context.Context, cfg Config) ([]Result, error) {
	rec := newRecorder("multihost", cfg.Logger)
	n := max(int64(16), cfg.Size/multihostObjectSize)
	shardCount := max(1, cfg.Size/(dsortRecords*dsortRecordSize))
	whats := []string{
		fmt.Sprintf("PUT %s", sizeName(multihostObjectSize)),
		fmt.Sprintf("GET %s", sizeName(multihostObjectSize)),
		fmt.Sprintf("dsort tar shuffle of %s", sizeName64(shardCount*dsortRecords*dsortRecordSize)),
	}
	skip := func(why string, labs ...bool) ([]Result, error) {
		for _, lab := range labs {
			for _, what := range whats {
				rec.skip(multihostName(what, lab), "", why)
			}
		}
		return rec.results, nil
	}
	if cfg.Aisnode == "" {
		return skip("no aisnode binary (build it with 'make build', or pass -aisnode)", false, true)
	}
	src := randomBytes(4 << 20)
	spec := datasets.Spec{Template: fmt.Sprintf("in-{%04d..%04d}.tar", 0, shardCount-1), Records: dsortRecords, RecordSize: dsortRecordSize, Extensions: []string{".jpg", ".cls"}, Seed: 1}
	for _, onLab := range []bool{false, true} {
		c := &localCluster{dir: filepath.Join(cfg.Dir, multihostName("cluster", onLab)), aisnode: cfg.Aisnode}
		if onLab {
			lab, err := netlab.New()
			if errors.Is(err, netlab.ErrNotRoot) {
				return skip("network namespaces need root", true)
			}
			if err != nil {
				return rec.results, err
			}
			defer lab.Close()
			c.lab = lab
		}
		if err := multihostRun(ctx, rec, cfg, c, onLab, whats, src, n, spec); err != nil {
			return rec.results, err
		}
	}
	return rec.results, nil
}

func multihostRun(ctx context.Context, rec *recorder, cfg Config, c *localCluster, onLab bool, whats []string, src []byte, n int64, spec datasets.Spec) error {
	if err := c.withSecret(); err != nil {
		return err
	}
	if err := c.start(ctx, 1, clusterTargets); err != nil {
		return err
	}
	defer c.stop()
	client := c.client()
	if err := client.CreateBucket(ctx, benchBucket, nil); err != nil {
		return err
	}
	note := fmt.Sprintf("1 gateway and %d targets (aisnode processes), %d workers, the Go client routing to targets", clusterTargets, httpWorkers)
	if onLab {
		note += "; each node in a network namespace of its own, on a veth to a bridge"
	}
	figures := []figure{
		{name: multihostName(whats[0], onLab), bytes: n * multihostObjectSize, ops: n, note: note},
		{name: multihostName(whats[1], onLab), bytes: n * multihostObjectSize, ops: n, note: note, repeat: true},
	}
	runs := []func() error{
		func() error { return apiPut(ctx, client, "m/", src, n, multihostObjectSize, httpWorkers) },
		func() error { return apiGet(ctx, client, "m/", n, multihostObjectSize, httpWorkers) },
	}
	for i, f := range figures {
		if onLab {
			f.baseline = multihostName(whats[i], false)
		}
		if err := rec.measureWith(ctx, f, runs[i], c); err != nil {
			return err
		}
	}
	job := figure{name: multihostName(whats[2], onLab), note: note}
	if onLab {
		job.baseline = multihostName(whats[2], false)
	}
	return measureShuffle(ctx, rec, client, c, spec, job)
}
