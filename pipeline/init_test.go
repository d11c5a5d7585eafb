package pipeline_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/store/fs"
)

func newWorker(t *testing.T, workDir string) *pipeline.Worker {
	t.Helper()
	st, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{t.TempDir()}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	w, err := pipeline.NewWorker(pipeline.WorkerConfig{NodeID: "t1", Store: st, Fetcher: memFetcher{}, WorkDir: workDir})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func oneTarget() *cluster.Map {
	return &cluster.Map{Version: 1, Primary: "g1", Nodes: []cluster.Node{
		{ID: "g1", Role: cluster.RoleGateway, URL: "http://127.0.0.1:1", State: cluster.StateActive},
		{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:2", State: cluster.StateActive},
	}}
}

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestInitDoesNotExpandTemplates: a 200-byte spec naming ten million
// shards costs nothing at init (it cost over a gigabyte per target).
func TestInitDoesNotExpandTemplates(t *testing.T) {
	w := newWorker(t, t.TempDir())
	spec, err := pipeline.ParseSpec([]byte(`{"input_bck":{"name":"in"},"input_format":{"template":"in-{0000000..9999999}.tar"},"output_format":"out-%08d.tar","output_shard_size":"1MiB","dry_run":true}`))
	if err != nil {
		t.Fatal(err)
	}
	before := heapInUse()
	if err := w.Init(t.Context(), pipeline.JobInit{ID: "srt-big", Spec: spec, Map: oneTarget()}); err != nil {
		t.Fatal(err)
	}
	if grown := heapInUse() - min(before, heapInUse()); grown > 16<<20 {
		t.Fatalf("init of a 10^7-name template holds %d MiB", grown>>20)
	}
}

// TestJobIDsThatClimbOut: ids with path segments are refused at init and
// at every call, and nothing outside the work directory is touched.
func TestJobIDsThatClimbOut(t *testing.T) {
	top := t.TempDir()
	work := filepath.Join(top, "work")
	victim := filepath.Join(top, "victim")
	os.MkdirAll(victim, 0o755)
	w := newWorker(t, work)
	spec, _ := pipeline.ParseSpec([]byte(`{"input_bck":{"name":"in"},"input_format":{"template":"in-{0..9}.tar"},"output_format":"out-{00..99}.tar"}`))
	for _, id := range []string{"x/../../victim", "../victim", "..", "", "a b", "srt-1.journal", "srt-1.finished", "srt-1.tmp-x", strings.Repeat("a", 200)} {
		err := w.Init(t.Context(), pipeline.JobInit{ID: id, Spec: spec, Map: oneTarget()})
		if !errors.Is(err, pipeline.ErrInvalidJobID) {
			t.Errorf("init %q: %v", id, err)
		}
		if err := w.Abort(t.Context(), id, "test"); !errors.Is(err, pipeline.ErrInvalidJobID) {
			t.Errorf("abort %q: %v", id, err)
		}
		if err := w.Remove(id); !errors.Is(err, pipeline.ErrInvalidJobID) {
			t.Errorf("remove %q: %v", id, err)
		}
	}
	if err := w.Init(t.Context(), pipeline.JobInit{ID: "srt-1", Spec: spec}); !errors.Is(err, pipeline.ErrInvalidInit) {
		t.Errorf("init without a map: %v", err)
	}
	// A map whose node URLs are not a node's (a path, a user) is refused:
	// its targets are dialed with signed requests.
	odd := oneTarget()
	odd.Nodes[1].URL = "http://user@127.0.0.1:6379/x?"
	if err := w.Init(t.Context(), pipeline.JobInit{ID: "srt-1", Spec: spec, Map: odd}); !errors.Is(err, pipeline.ErrInvalidInit) {
		t.Errorf("init with a target at %s: %v", odd.Nodes[1].URL, err)
	}
	if _, err := w.Estimate(t.Context(), pipeline.JobInit{ID: "srt-1", Spec: spec, Map: odd}); !errors.Is(err, pipeline.ErrInvalidInit) {
		t.Errorf("estimate with a target at %s: %v", odd.Nodes[1].URL, err)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Fatalf("the directory outside the work directory is gone: %v", err)
	}
}

// A target runs a bounded number of dSort jobs at once: one more is
// refused as busy, and taken once one ends.
func TestRunningJobsAreBounded(t *testing.T) {
	defer pipeline.SetMaxRunningJobs(2)()
	w := newWorker(t, t.TempDir())
	spec, _ := pipeline.ParseSpec([]byte(`{"input_bck":{"name":"in"},"input_format":{"template":"in-{0..9}.tar"},"output_format":"out-{00..99}.tar"}`))
	for _, id := range []string{"srt-1", "srt-2"} {
		if err := w.Init(t.Context(), pipeline.JobInit{ID: id, Spec: spec, Map: oneTarget()}); err != nil {
			t.Fatal(err)
		}
	}
	err := w.Init(t.Context(), pipeline.JobInit{ID: "srt-3", Spec: spec, Map: oneTarget()})
	if !errors.Is(err, pipeline.ErrJobBusy) || !strings.Contains(err.Error(), "2 dsort jobs") {
		t.Fatalf("a third job: %v, want ErrJobBusy naming the bound", err)
	}
	if err := w.Abort(t.Context(), "srt-1", "test"); err != nil {
		t.Fatal(err)
	}
	if err := w.Init(t.Context(), pipeline.JobInit{ID: "srt-3", Spec: spec, Map: oneTarget()}); err != nil {
		t.Fatalf("a third job once one ended: %v", err)
	}
}
