package benchmarks_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/benchmarks"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	"github.com/aisgo/aisgo/store/faulty"
)

func newBucket(t *testing.T, c *gatewaytest.Cluster, name string) {
	t.Helper()
	if err := c.Client().CreateBucket(t.Context(), name, nil); err != nil {
		t.Fatal(err)
	}
}

// The report's counts are the ones the targets served: PUT, then GET of
// the listed objects, then a mixed run whose cleanup empties its bucket.
func TestLoadCountsMatchNodeMetrics(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true})
	newBucket(t, c, "load")
	client := c.Client()

	put, err := benchmarks.Load(t.Context(), benchmarks.LoadConfig{
		Client: client, Bucket: "load", PutPercent: 100, MinSize: 1 << 10, MaxSize: 8 << 10,
		Workers: 4, MaxOps: 60, Seed: 1, Names: benchmarks.NamesSequential,
	})
	if err != nil {
		t.Fatal(err)
	}
	if put.Put.Ops != 60 || put.Errors() != 0 || put.Get.Ops != 0 || put.StopReason != "operations" {
		t.Fatalf("PUT run: %d PUTs, %d GETs, %d errors, stopped by %q", put.Put.Ops, put.Get.Ops, put.Errors(), put.StopReason)
	}
	if put.Put.Bytes < 60<<10 || put.Put.Bytes > 60*8<<10 {
		t.Fatalf("PUT bytes %d out of the size range", put.Put.Bytes)
	}
	checkMetric(t, c, "ais_put_total", float64(put.Put.Ops))
	checkMetric(t, c, "ais_put_bytes_total", float64(put.Put.Bytes))

	get, err := benchmarks.Load(t.Context(), benchmarks.LoadConfig{
		Client: client, Bucket: "load", PutPercent: 0, Workers: 3, MaxOps: 45, Seed: 2,
		ReadOrder: benchmarks.ReadSequential, VerifyChecksum: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if get.Get.Ops != 45 || get.Put.Ops != 0 || get.Errors() != 0 {
		t.Fatalf("GET run: %d GETs, %d PUTs, %d errors", get.Get.Ops, get.Put.Ops, get.Errors())
	}
	checkMetric(t, c, "ais_get_total", 45)
	checkMetric(t, c, "ais_get_bytes_total", float64(get.Get.Bytes))
	if get.Get.Latency.P50 <= 0 || get.Get.Latency.P99 < get.Get.Latency.P50 || get.Get.Latency.Max < get.Get.Latency.P99 {
		t.Fatalf("GET latency %+v", get.Get.Latency)
	}

	newBucket(t, c, "mixed")
	mixed, err := benchmarks.Load(t.Context(), benchmarks.LoadConfig{
		Client: client, Bucket: "mixed", PutPercent: 50, MinSize: 100, Workers: 2, MaxOps: 40, Seed: 3, Cleanup: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if mixed.Put.Ops+mixed.Get.Ops != 40 || mixed.Put.Ops == 0 || mixed.Get.Ops == 0 || mixed.Put.Bytes != 100*mixed.Put.Ops {
		t.Fatalf("mixed run: %d PUTs (%d bytes), %d GETs", mixed.Put.Ops, mixed.Put.Bytes, mixed.Get.Ops)
	}
	if mixed.Delete.Ops != mixed.Put.Ops || mixed.Delete.Errors != 0 {
		t.Fatalf("cleanup deleted %d of %d objects, %d errors", mixed.Delete.Ops, mixed.Put.Ops, mixed.Delete.Errors)
	}
	checkMetric(t, c, "ais_delete_total", float64(mixed.Delete.Ops))
	page, err := client.ListObjects(t.Context(), "mixed", api.ListObjectsMessage{})
	if err != nil || len(page.Entries) != 0 {
		t.Fatalf("after cleanup the bucket lists %d objects, %v", len(page.Entries), err)
	}
	// The first bucket is untouched by the other runs.
	page, err = client.ListObjects(t.Context(), "load", api.ListObjectsMessage{})
	if err != nil || len(page.Entries) != 60 || page.Entries[0].Name != "00000001" {
		t.Fatalf("bucket load lists %d objects, %v", len(page.Entries), err)
	}
}

func checkMetric(t *testing.T, c *gatewaytest.Cluster, name string, want float64) {
	t.Helper()
	if got := c.Metric(name); got != want {
		t.Errorf("%s = %v on the nodes, the report says %v", name, got, want)
	}
}

// Each bound stops the run by itself.
func TestLoadBounds(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, NoSync: true})
	newBucket(t, c, "b")
	base := benchmarks.LoadConfig{Client: c.Client(), Bucket: "b", PutPercent: 100, MinSize: 1000, Workers: 3}
	for _, tc := range []struct {
		name   string
		adjust func(*benchmarks.LoadConfig)
		reason string
		puts   int64 // exact, or -1 when the bound is time
	}{
		{"max puts", func(c *benchmarks.LoadConfig) { c.MaxPuts = 7 }, "puts", 7},
		{"total put size", func(c *benchmarks.LoadConfig) { c.TotalPutSize = 10_000 }, "total put size", 10},
		{"total put size not a multiple", func(c *benchmarks.LoadConfig) { c.TotalPutSize = 9_500 }, "total put size", 10},
		{"operations", func(c *benchmarks.LoadConfig) { c.MaxOps = 5 }, "operations", 5},
		{"duration", func(c *benchmarks.LoadConfig) { c.Duration = 100 * time.Millisecond }, "duration", -1},
		{"first bound wins", func(c *benchmarks.LoadConfig) { c.MaxOps = 4; c.Duration = time.Hour }, "operations", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.adjust(&cfg)
			r, err := benchmarks.Load(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if r.StopReason != tc.reason || tc.puts >= 0 && r.Put.Ops != tc.puts {
				t.Fatalf("stopped by %q after %d PUTs, want %q after %d", r.StopReason, r.Put.Ops, tc.reason, tc.puts)
			}
		})
	}
}

// A run's duration is a hard stop: a PUT whose target stalls is cut a
// grace past it, not waited for, and not counted as an error.
func TestLoadDurationCutsAStalledOperation(t *testing.T) {
	// With -cleanup too: a PUT then outlives an interrupt, not the
	// duration.
	for _, cleanup := range []bool{false, true} {
		t.Run(fmt.Sprintf("cleanup=%v", cleanup), func(t *testing.T) { testLoadDurationCutsAStalledOperation(t, cleanup) })
	}
}

func testLoadDurationCutsAStalledOperation(t *testing.T, cleanup bool) {
	stalled, ended := make(chan struct{}, 16), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			w.Header().Set(api.HeaderBucketProps, `{}`)
			return
		}
		if r.Method == http.MethodGet && r.URL.Path == "/v1/buckets/b" {
			io.WriteString(w, `{"entries":[]}`) // the listing -cleanup reads first
			return
		}
		if r.Method != http.MethodPut {
			http.NotFound(w, r) // the cluster map: the client goes through this gateway
			return
		}
		io.ReadAll(r.Body)
		stalled <- struct{}{}
		// A target that takes the request and never answers.
		select {
		case <-r.Context().Done():
		case <-ended:
		}
	}))
	defer srv.Close()
	defer close(ended)
	done := make(chan struct{})
	var r *benchmarks.LoadReport
	var err error
	go func() {
		defer close(done)
		r, err = benchmarks.Load(t.Context(), benchmarks.LoadConfig{Client: api.NewClient(srv.URL), Bucket: "b", PutPercent: 100, MinSize: 10, Workers: 1, Duration: 100 * time.Millisecond, Cleanup: cleanup})
	}()
	<-stalled
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the run went on past its duration and grace, held by a stalled PUT")
	}
	if r == nil {
		t.Fatalf("no report: %v", err)
	}
	if err != nil || r.StopReason != "duration" || r.Put.Errors != 0 {
		t.Fatalf("err %v, stopped by %q, %d errors: want the duration, no errors", err, r.StopReason, r.Put.Errors)
	}
	// Its 10 bytes went: they are in the rate, the PUT is not an op.
	if r.Put.Cut != 1 || r.Put.Ops != 0 || r.Put.Bytes != 10 {
		t.Fatalf("%d cut, %d ops, %d bytes: want the stalled PUT cut with its 10 bytes", r.Put.Cut, r.Put.Ops, r.Put.Bytes)
	}
}

// A GET cut at the run's end counts the bytes it read: with objects that
// take longer than the grace, a run would report nothing moved.
func TestLoadCountsTheBytesOfACutGet(t *testing.T) {
	ended := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodHead:
			w.Header().Set(api.HeaderBucketProps, `{}`)
		case r.URL.Path == "/v1/buckets/b":
			io.WriteString(w, `{"entries":[{"name":"big"}]}`)
		case r.URL.Path != "/v1/objects/b/big":
			http.NotFound(w, r) // the cluster map: the client goes through this gateway
		default:
			// An object whose first 1000 bytes come, then nothing.
			w.Header().Set("Content-Length", "1000000")
			w.Write(make([]byte, 1000))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-ended:
			}
		}
	}))
	defer srv.Close()
	defer close(ended)
	r, err := benchmarks.Load(t.Context(), benchmarks.LoadConfig{Client: api.NewClient(srv.URL), Bucket: "b", PutPercent: 0, Workers: 1, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Get.Cut != 1 || r.Get.Ops != 0 || r.Get.Errors != 0 || r.Get.Bytes != 1000 || r.Get.MiBPerSecond <= 0 {
		t.Fatalf("%d cut, %d ops, %d errors, %d bytes at %.3f MiB/s: want the GET cut with its 1000 bytes in the rate",
			r.Get.Cut, r.Get.Ops, r.Get.Errors, r.Get.Bytes, r.Get.MiBPerSecond)
	}
	var summary strings.Builder
	r.WriteSummary(&summary)
	if !strings.Contains(summary.String(), "GET operations cut as the run ended: 1") {
		t.Fatalf("the summary does not say a GET was cut:\n%s", summary.String())
	}
}

// A run stops once its errors pass MaxErrors and says which kind.
func TestLoadStopsOnErrors(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true, Configure: func(cfg *gateway.Config) {
		if cfg.Store != nil {
			f := faulty.Wrap(cfg.Store)
			f.Inject(faulty.Fault{Op: faulty.OpPut, Prefix: "bad/", Err: syscall.EIO})
			cfg.Store = f
		}
	}})
	newBucket(t, c, "b")
	r, err := benchmarks.Load(t.Context(), benchmarks.LoadConfig{
		Client: c.Client(), Bucket: "b", PutPercent: 100, MinSize: 10, Workers: 1, MaxOps: 100, MaxErrors: 3, Prefix: "bad/",
	})
	if !errors.Is(err, benchmarks.ErrTooManyErrors) || r == nil {
		t.Fatalf("err %v, report %v", err, r)
	}
	if r.Put.Errors != 4 || r.Put.ErrorKinds[api.KindIO] != 4 || r.Put.Ops != 0 || r.StopReason != "errors" {
		t.Fatalf("%d errors %v, %d PUTs, stopped by %q", r.Put.Errors, r.Put.ErrorKinds, r.Put.Ops, r.StopReason)
	}
	if got := c.Metric("ais_errors_total", "op", "put", "kind", api.KindIO); got != 4 {
		t.Fatalf("nodes counted %v io errors of PUT", got)
	}
	// A negative MaxErrors lets the run go on.
	r, err = benchmarks.Load(t.Context(), benchmarks.LoadConfig{
		Client: c.Client(), Bucket: "b", PutPercent: 100, MinSize: 10, Workers: 1, MaxOps: 6, MaxErrors: -1, Prefix: "bad/",
	})
	if err != nil || r.Put.Errors != 6 || r.StopReason != "operations" {
		t.Fatalf("err %v, %d errors, stopped by %q", err, r.Put.Errors, r.StopReason)
	}
}

func TestLoadRefusesBadConfigs(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, NoSync: true})
	newBucket(t, c, "empty")
	client := c.Client()
	for _, tc := range []struct {
		name string
		cfg  benchmarks.LoadConfig
		want string
		err  error
	}{
		{"no client", benchmarks.LoadConfig{Bucket: "b", MaxOps: 1}, "client is required", nil},
		{"no bucket", benchmarks.LoadConfig{Client: client, MaxOps: 1}, "bucket is required", nil},
		{"negative size", benchmarks.LoadConfig{Client: client, Bucket: "b", MinSize: -1, MaxOps: 1}, "cannot be negative", nil},
		{"min above max", benchmarks.LoadConfig{Client: client, Bucket: "b", MinSize: 2048, MaxSize: 1024, MaxOps: 1}, "min size 2KiB is larger than max size 1KiB", nil},
		{"percent", benchmarks.LoadConfig{Client: client, Bucket: "b", PutPercent: 101, MaxOps: 1}, "not within 0-100", nil},
		{"no stop condition", benchmarks.LoadConfig{Client: client, Bucket: "b", PutPercent: 50}, "no stop condition", nil},
		{"GET-only with a PUT bound", benchmarks.LoadConfig{Client: client, Bucket: "b", MaxPuts: 5}, "GET-only run never reaches a PUT bound", nil},
		{"empty PUTs to a total size", benchmarks.LoadConfig{Client: client, Bucket: "b", PutPercent: 100, TotalPutSize: 1 << 20}, "never reached by empty objects", nil},
		{"unknown bucket", benchmarks.LoadConfig{Client: client, Bucket: "nosuch", MaxOps: 1}, "bucket ais://nosuch: store: bucket does not exist (create it with", api.ErrBucketNotFound},
		{"nothing to read", benchmarks.LoadConfig{Client: client, Bucket: "empty", MaxOps: 1}, "no objects to read", benchmarks.ErrNoObjects},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := benchmarks.Load(t.Context(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// Progress sees every interval; the intervals add up to the totals.
func TestLoadProgress(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, NoSync: true})
	newBucket(t, c, "b")
	var calls int
	var last benchmarks.LoadStats
	r, err := benchmarks.Load(t.Context(), benchmarks.LoadConfig{
		Client: c.Client(), Bucket: "b", PutPercent: 100, MinSize: 100, Workers: 2,
		Duration: 300 * time.Millisecond, StatsInterval: 50 * time.Millisecond,
		Progress: func(interval, total benchmarks.LoadStats) { calls++; last = total },
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 || calls != len(r.Intervals) {
		t.Fatalf("%d progress calls, %d intervals", calls, len(r.Intervals))
	}
	var sum int64
	for _, i := range r.Intervals {
		sum += i.Put.Ops
	}
	if sum > r.Put.Ops || last.Put.Ops > r.Put.Ops {
		t.Fatalf("intervals add up to %d PUTs, the last total was %d, the run did %d", sum, last.Put.Ops, r.Put.Ops)
	}
	var text strings.Builder
	r.WriteSummary(&text)
	if !strings.Contains(text.String(), "stopped by duration") || !strings.Contains(text.String(), "PUT") {
		t.Fatalf("summary:\n%s", text.String())
	}
	if results := r.Results("load"); len(results) != 1 || results[0].Ops != r.Put.Ops {
		t.Fatalf("results %+v", results)
	}
}

// A Progress that stalls (stdout a paused terminal, a full pipe) leaves
// the next interval timed by when its counters were read, not by when its
// tick was due: its rate is over the time its operations took.
func TestLoadIntervalsAfterAStalledProgress(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, NoSync: true})
	newBucket(t, c, "b")
	calls := 0
	start := time.Now()
	var seen []time.Duration // when each Progress ran, since the start
	r, err := benchmarks.Load(t.Context(), benchmarks.LoadConfig{
		Client: c.Client(), Bucket: "b", PutPercent: 100, MinSize: 100, Workers: 2,
		Duration: 900 * time.Millisecond, StatsInterval: 100 * time.Millisecond,
		Progress: func(interval, total benchmarks.LoadStats) {
			seen = append(seen, time.Since(start))
			if calls++; calls == 1 {
				time.Sleep(450 * time.Millisecond)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Intervals) < 2 || len(seen) != len(r.Intervals) {
		t.Fatalf("%d intervals, %d progress calls", len(r.Intervals), len(seen))
	}
	second := r.Intervals[1]
	if second.Elapsed < 400*time.Millisecond || second.At < seen[1]-50*time.Millisecond {
		t.Fatalf("the interval after a 450 ms stall: at %s over %s (it was reported at %s), want it timed by when it was read", second.At, second.Elapsed, seen[1])
	}
}

// An interrupted run still deletes what it put, including PUTs the
// interrupt cut that may have landed.
func TestLoadInterruptedCleansUp(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, NoSync: true})
	newBucket(t, c, "cut")
	interrupted := errors.New("interrupted")
	ctx, cancel := context.WithCancelCause(t.Context())
	time.AfterFunc(300*time.Millisecond, func() { cancel(interrupted) })
	r, err := benchmarks.Load(ctx, benchmarks.LoadConfig{
		Client: c.Client(), Bucket: "cut", PutPercent: 100, MinSize: 4 << 10, Workers: 4,
		MaxOps: 1_000_000, Duration: time.Minute, Seed: 5, Cleanup: true,
	})
	if !errors.Is(err, interrupted) {
		t.Fatalf("Load = %v, want the interrupt's cause", err)
	}
	if r.Put.Ops == 0 || r.Delete.Ops < r.Put.Ops || r.Delete.Errors != 0 {
		t.Fatalf("interrupted run: %d PUTs, cleanup deleted %d with %d errors", r.Put.Ops, r.Delete.Ops, r.Delete.Errors)
	}
	page, err := c.Client().ListObjects(t.Context(), "cut", api.ListObjectsMessage{})
	if err != nil || len(page.Entries) != 0 {
		t.Fatalf("after the interrupted run's cleanup the bucket lists %d objects, %v", len(page.Entries), err)
	}
}

// An interrupt during the cleanup (the second Ctrl-C) leaves what is not
// deleted yet, and the measurement stands: the report comes, no error.
func TestCleanupInterruptedKeepsTheReport(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, NoSync: true})
	newBucket(t, c, "b")
	stopped, stop := context.WithCancel(t.Context())
	stop()
	r, err := benchmarks.Load(t.Context(), benchmarks.LoadConfig{Client: c.Client(), Bucket: "b", PutPercent: 100, MinSize: 10, Workers: 2, MaxOps: 20,
		Cleanup: true, CleanupContext: stopped})
	if err != nil || r == nil || r.Put.Ops != 20 {
		t.Fatalf("a run whose cleanup was stopped: %+v %v, want its 20 PUTs and no error", r, err)
	}
	if r.Delete.Errors != 0 || r.Delete.Cut != 20 {
		t.Fatalf("%d deletions counted failed, %d cut: those left are not failures, and are counted", r.Delete.Errors, r.Delete.Cut)
	}
	if page, err := c.Client().ListObjects(t.Context(), "b", api.ListObjectsMessage{}); err != nil || len(page.Entries) != 20 {
		t.Fatalf("the bucket after a stopped cleanup: %d objects, %v; want the 20 left", len(page.Entries), err)
	}
}

// Deletions under way when the cleanup is stopped (a second Ctrl-C) are
// cut, not failed: what is left was asked for, and the run succeeded.
// The DELETE row's time is the cleanup's.
func TestCleanupStoppedMidwayCountsNoFailure(t *testing.T) {
	deleting := make(chan struct{}, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodHead:
			w.Header().Set(api.HeaderBucketProps, `{}`)
		case r.Method == http.MethodGet && r.URL.Path == "/v1/buckets/b":
			io.WriteString(w, `{"entries":[]}`) // the listing -cleanup reads first
		case r.Method == http.MethodPut:
			io.Copy(io.Discard, r.Body)
		case r.Method == http.MethodDelete:
			deleting <- struct{}{}
			<-r.Context().Done() // held until the cleanup is stopped
		default:
			http.NotFound(w, r) // the cluster map: the client goes through this gateway
		}
	}))
	defer srv.Close()
	cleanup, stop := context.WithCancel(t.Context())
	go func() {
		<-deleting
		stop()
	}()
	r, err := benchmarks.Load(t.Context(), benchmarks.LoadConfig{Client: api.NewClient(srv.URL), Bucket: "b", PutPercent: 100, MinSize: 10, Workers: 2, MaxOps: 10,
		Cleanup: true, CleanupContext: cleanup})
	if err != nil || r == nil {
		t.Fatalf("a run whose cleanup was stopped midway: %v", err)
	}
	if r.Put.Ops != 10 || r.Delete.Errors != 0 || r.Delete.Cut == 0 {
		t.Fatalf("a cleanup stopped midway: %d PUTs, %d deletions failed, %d cut; want 10, none failed, those under way cut", r.Put.Ops, r.Delete.Errors, r.Delete.Cut)
	}
	if r.CleanupElapsed <= 0 {
		t.Fatalf("the cleanup's time %v", r.CleanupElapsed)
	}
}

// A seed repeats a run's names and sizes whatever worker takes which
// operation: two runs of 4 workers put the same objects.
func TestSeedRepeatsNamesAndSizes(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, NoSync: true})
	objects := func(bucket string) map[string]int64 {
		newBucket(t, c, bucket)
		if _, err := benchmarks.Load(t.Context(), benchmarks.LoadConfig{Client: c.Client(), Bucket: bucket, PutPercent: 100,
			MinSize: 1, MaxSize: 4096, Workers: 4, MaxPuts: 40, Seed: 7}); err != nil {
			t.Fatal(err)
		}
		page, err := c.Client().ListObjects(t.Context(), bucket, api.ListObjectsMessage{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int64{}
		for _, e := range page.Entries {
			out[e.Name] = e.Size
		}
		return out
	}
	first, second := objects("first"), objects("second")
	if len(first) != 40 || !maps.Equal(first, second) {
		t.Fatalf("two runs of seed 7: %d and %d objects, equal %v", len(first), len(second), maps.Equal(first, second))
	}
}

// With cleanup, a PUT that failed here may have landed (cut while its
// target committed it): the cleanup deletes it too, and one that did not
// land (404) is no failed deletion.
func TestCleanupDeletesWhatFailedPutsMayHaveLeft(t *testing.T) {
	var mu sync.Mutex
	stored, deleted := map[string]bool{}, map[string]bool{}
	puts := 0
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		name := strings.TrimPrefix(r.URL.Path, "/v1/objects/b/")
		switch {
		case r.Method == http.MethodHead && r.URL.Path == "/v1/buckets/b":
			w.Header().Set(api.HeaderBucketProps, "{}")
		case r.Method == http.MethodGet && r.URL.Path == "/v1/buckets/b":
			io.WriteString(w, `{"entries":[]}`)
		case r.Method == http.MethodPut:
			io.Copy(io.Discard, r.Body)
			puts++
			if puts%2 == 1 {
				stored[name] = true // landed, answered as failed
			}
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"status":500,"message":"lost the answer"}`)
		case r.Method == http.MethodDelete:
			if !stored[name] {
				http.NotFound(w, r)
				return
			}
			delete(stored, name)
			deleted[name] = true
		default:
			http.NotFound(w, r)
		}
	}))
	defer server.Close()
	r, err := benchmarks.Load(t.Context(), benchmarks.LoadConfig{Client: api.NewClient(server.URL), Bucket: "b", PutPercent: 100,
		MinSize: 10, Workers: 1, MaxOps: 6, MaxErrors: -1, Cleanup: true})
	if err != nil || r.Put.Errors != 6 {
		t.Fatalf("a run of failed PUTs: %+v %v", r, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(stored) != 0 || len(deleted) != 3 || r.Delete.Errors != 0 {
		t.Fatalf("after the cleanup: %d landed objects left, %d deleted, %d deletions failed; want none left, 3 deleted, none failed", len(stored), len(deleted), r.Delete.Errors)
	}
}
