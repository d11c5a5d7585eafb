package gateway_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/datasets"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/store"
)

// holdingStore holds the reads of one object until release is closed.
type holdingStore struct {
	store.Store
	name    string
	release chan struct{}
}

func (s holdingStore) Open(ctx context.Context, b store.Bucket, name string, opts store.OpenOptions) (store.Object, error) {
	if name == s.name {
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
	return s.Store.Open(ctx, b, name, opts)
}

// `ais dsort ls` shows a job as its metrics do: one waiting for a lost
// target to come back (within target_grace) is running, not aborted,
// and is listed with --active.
func TestDsortListShowsAJobWaitingForALostTargetAsRunning(t *testing.T) {
	release := make(chan struct{})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 2, Targets: 3, NoSync: true,
		KeepaliveInterval: 100 * time.Millisecond, KeepaliveTimeout: time.Second,
		Configure: func(cfg *gateway.Config) {
			if cfg.Store != nil {
				cfg.Store = holdingStore{Store: cfg.Store, name: "in-05.tar", release: release}
			}
		}})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	putDataset(t, client, "src", datasets.Spec{Template: "in-{00..05}.tar", Records: 10, RecordSize: 1000, Seed: 6})
	id, err := client.DsortStart(ctx, []byte(`{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":"in-{00..05}.tar"},
		"output_format":"out-{000..999}.tar","output_shard_size":"10KiB","target_grace":"1m"}`))
	if err != nil {
		t.Fatal(err)
	}
	// Extraction is under way (held at in-05.tar) when a target dies.
	for deadline := time.Now().Add(20 * time.Second); ; {
		metrics, err := client.DsortMetrics(ctx, id)
		if err == nil && api.DsortSummary(metrics).Metrics.Extraction.Running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("extraction did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	victim := c.Targets()[2]
	c.Kill(victim)
	c.WaitForState(victim.Node.ID(), cluster.StateOffline)
	// The run ends on the others; the job waits for the victim.
	waited := false
	for deadline := time.Now().Add(20 * time.Second); !waited; {
		metrics, err := client.DsortMetrics(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		sum := api.DsortSummary(metrics)
		if sum.Aborted || sum.Archived {
			t.Fatalf("the job ended instead of waiting for its lost target: %+v", sum)
		}
		waited = slices.ContainsFunc(sum.Metrics.Warnings, func(w string) bool { return strings.Contains(w, victim.Node.ID()) })
		if time.Now().After(deadline) {
			t.Fatal("no warning of the lost target")
		}
		time.Sleep(50 * time.Millisecond)
	}
	jobs, err := client.DsortList(ctx, "", true)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(jobs, func(j api.DsortJobInfo) bool { return j.ID == id })
	if i < 0 {
		t.Fatalf("the waiting job is not in the active list: %+v", jobs)
	}
	if jobs[i].Aborted || jobs[i].Archived {
		t.Fatalf("the list shows the waiting job as ended: %+v", jobs[i])
	}
	// Aborted through the other gateway, it ends: it does not start
	// again once its target is back.
	other := api.NewClient(c.Members()[1].URL())
	if err := other.DsortAbort(ctx, id); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		metrics, err := client.DsortMetrics(ctx, id)
		if err == nil && api.DsortSummary(metrics).Aborted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job aborted through another gateway goes on: %+v %v", api.DsortSummary(metrics), err)
		}
	}
}

// cleanupHoldingStore holds the writes of one output shard until their
// context ends (an abort cuts them) and the removals of another until
// release is closed: an aborted job's cleanup under way.
type cleanupHoldingStore struct {
	store.Store
	holdPut, holdDelete string
	release             chan struct{}
}

func (s cleanupHoldingStore) Put(ctx context.Context, b store.Bucket, name string, r io.Reader, opts store.PutOptions) (store.ObjectMeta, error) {
	if name == s.holdPut {
		<-ctx.Done()
		return store.ObjectMeta{}, context.Cause(ctx)
	}
	return s.Store.Put(ctx, b, name, r, opts)
}

func (s cleanupHoldingStore) Delete(ctx context.Context, b store.Bucket, name string, opts store.DeleteOptions) error {
	if name == s.holdDelete {
		<-s.release
	}
	return s.Store.Delete(ctx, b, name, opts)
}

// An aborted job whose output is still being removed reads as aborting,
// with its cause, in its metrics and in `ais dsort ls`: not running in
// its phase, and not ended before its output is gone.
func TestDsortAbortingJobReadsAsAborting(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	unhold := func() { once.Do(func() { close(release) }) }
	defer unhold()
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true,
		Configure: func(cfg *gateway.Config) {
			if cfg.Store != nil {
				cfg.Store = cleanupHoldingStore{Store: cfg.Store, holdPut: "out-003.tar", holdDelete: "out-000.tar", release: release}
			}
		}})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	putDataset(t, client, "src", datasets.Spec{Template: "in-{00..05}.tar", Records: 10, RecordSize: 1000, Seed: 6})
	id, err := client.DsortStart(ctx, []byte(`{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":"in-{00..05}.tar"},
		"output_format":"out-{000..999}.tar","output_shard_size":"10KiB","create_concurrency_max_limit":1}`))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := client.Head(ctx, "dst", "out-000.tar"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first output shard was not written")
		}
	}
	aborted := make(chan error, 1)
	go func() { aborted <- client.DsortAbort(ctx, id) }()
	var sum api.DsortJobInfo
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		metrics, err := client.DsortMetrics(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if sum = api.DsortSummary(metrics); sum.Phase == pipeline.PhaseAborting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job does not read as aborting while its output is removed: %+v", sum)
		}
	}
	mentionsAbort := func(e string) bool { return strings.Contains(e, "abort") }
	if sum.Aborted || sum.Archived || !slices.ContainsFunc(sum.Metrics.Errors, mentionsAbort) || slices.ContainsFunc(sum.Metrics.Warnings, mentionsAbort) {
		t.Fatalf("aborting: %+v", sum)
	}
	jobs, err := client.DsortList(ctx, "", true)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(jobs, func(j api.DsortJobInfo) bool { return j.ID == id }); i < 0 || jobs[i].Phase != pipeline.PhaseAborting || jobs[i].Aborted {
		t.Fatalf("the list while the output is removed: %+v", jobs)
	}
	unhold()
	if err := <-aborted; err != nil {
		t.Fatal(err)
	}
	metrics, err := client.DsortMetrics(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if sum := api.DsortSummary(metrics); !sum.Aborted || sum.Phase == pipeline.PhaseAborting {
		t.Fatalf("after the abort: %+v", sum)
	}
	if _, err := client.Head(ctx, "dst", "out-000.tar"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the aborted job's shard stays: %v", err)
	}
}

// An abort whose job's coordinator does not answer (the gateway gone, or
// cut off, not yet counted out) stops the job on its targets but is not a
// success: a coordinator cut off, waiting for a lost target, may start
// the job again, so the answer is 502 naming it, to abort again (not 503,
// which clients send again at once, to wait on the coordinator again).
func TestDsortAbortUnheardByItsCoordinatorIsNotASuccess(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	// The silence of the coordinator counts a minute: its job is not
	// settled by the leader while the abort runs.
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 2, Targets: 2, NoSync: true,
		KeepaliveInterval: 100 * time.Millisecond, KeepaliveTimeout: time.Minute,
		Configure: func(cfg *gateway.Config) {
			if cfg.Store != nil {
				cfg.Store = holdingStore{Store: cfg.Store, name: "in-05.tar", release: release}
			}
		}})
	ctx := t.Context()
	primary, coordinator := c.Client(), c.Members()[1]
	primary.CreateBucket(ctx, "src", nil)
	putDataset(t, primary, "src", datasets.Spec{Template: "in-{00..05}.tar", Records: 10, RecordSize: 1000, Seed: 6})
	id, err := api.NewClient(coordinator.URL()).DsortStart(ctx, []byte(`{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":"in-{00..05}.tar"},
		"output_format":"out-{000..999}.tar","output_shard_size":"10KiB"}`))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		metrics, err := primary.DsortMetrics(ctx, id)
		if err == nil && api.DsortSummary(metrics).Metrics.Extraction.Running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("extraction did not start: %v", err)
		}
	}
	// Cut off: its server closed, the gateway running on, and its
	// records of the job's end lost (as with the leader cut off too).
	t.Cleanup(gateway.FailJobEnds(coordinator.Node.ID()))
	coordinator.Server.CloseClientConnections()
	coordinator.Server.Close()
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, c.Primary().URL()+"/v1/sort/abort?uuid="+id, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "abort it again") {
		t.Fatalf("an abort its coordinator did not hear: %d %s, want 502 saying to abort again", resp.StatusCode, body)
	}
}
