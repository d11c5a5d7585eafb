package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/fs"
)

// TestRoutesOfANodeWithoutAMap: every public route of a node that has no
// cluster map yet (a target waiting to join) answers, none panics.
func TestRoutesOfANodeWithoutAMap(t *testing.T) {
	n := unstartedNode(t, Config{ID: "n1", Role: cluster.RoleAll})
	defer n.Close()
	// Given with a "/" after it, its URL is without: routes go after it.
	if n.self.URL != "http://127.0.0.1:1" {
		t.Fatalf("the node's URL %q", n.self.URL)
	}
	wildcard := regexp.MustCompile(`\{[a-z]+(\.\.\.)?\}`)
	routes := n.routeTable()
	for _, method := range objectMethods {
		routes = append(routes, route{method: method, pattern: "/v1/objects/{bucket}/{object}"}, route{method: method, pattern: "/s3/{bucket}/{object}"})
	}
	for _, rt := range routes {
		if rt.intra {
			continue
		}
		path := wildcard.ReplaceAllString(rt.pattern, "x")
		for _, query := range []string{"", "?what=node_status", "?what=smap"} {
			name := fmt.Sprintf("%s %s%s", rt.method, path, query)
			t.Run(name, func(t *testing.T) {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panic: %v", p)
					}
				}()
				w := httptest.NewRecorder()
				n.Handler().ServeHTTP(w, httptest.NewRequest(rt.method, path+query, strings.NewReader("{}")))
				if w.Code == http.StatusInternalServerError {
					t.Errorf("%d %s", w.Code, w.Body)
				}
			})
		}
	}
}

// Work a request starts in the background runs under the node's wait
// group until Close, and not after: Close's wait is not raced, nor does
// work outlive the node.
func TestBackgroundWorkStartsNotAfterClose(t *testing.T) {
	n := &Node{}
	if n.background(func() { t.Error("background work ran before Start") }) {
		t.Fatal("background work started before Start")
	}
	n.setLoops(t.Context())
	ran := make(chan struct{})
	if !n.background(func() { close(ran) }) {
		t.Fatal("background work refused on a running node")
	}
	<-ran
	n.bgMu.Lock()
	n.closing.Store(true)
	n.bgMu.Unlock()
	if n.background(func() { t.Error("background work ran after Close") }) {
		t.Fatal("background work started after Close")
	}
	n.wg.Wait()
}

// unstartedNode makes a node of cfg (its ID, role and join) on a
// directory of the test's, at 127.0.0.1:1, and does not start it.
func unstartedNode(t *testing.T, cfg Config) *Node {
	t.Helper()
	return unstartedNodeIn(t, cfg, t.TempDir())
}

// unstartedNodeIn is unstartedNode on dir, which may hold what a node
// left there.
func unstartedNodeIn(t *testing.T, cfg Config, dir string) *Node {
	t.Helper()
	meta, err := membership.NewFileStore(filepath.Join(dir, "meta"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{filepath.Join(dir, "mp")}})
	if err != nil {
		t.Fatal(err)
	}
	cfg.URL, cfg.Meta, cfg.Store, cfg.Storage, cfg.Secret = "http://127.0.0.1:1/", meta, st, st, peer.NewSecret()
	cfg.WorkDir, cfg.RaftDir = filepath.Join(dir, "work"), filepath.Join(dir, "meta", "raft")
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// setLoops gives a node made without Start the context of its loops.
func (n *Node) setLoops(ctx context.Context) { n.loops.Store(&ctx) }

// pushFirstMap pushes target t1 its first map from primary g1 and
// returns the answer.
func pushFirstMap(n *Node) *httptest.ResponseRecorder {
	m := &cluster.Map{Version: 5, UUID: "u", Primary: "g1", Nodes: []cluster.Node{
		{ID: "g1", Role: cluster.RoleGateway, URL: "http://127.0.0.1:2"},
		{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:1"},
	}}
	body, _ := json.Marshal(peer.MetaMessage{Map: m})
	req := httptest.NewRequest(http.MethodPut, "/v1/metasync", bytes.NewReader(body))
	req.Header.Set(peer.HeaderNode, "g1")
	w := httptest.NewRecorder()
	n.handleMetasync(w, req)
	return w
}

// A push that reaches a target before its Start (it serves first) is
// refused, to be sent again: taken, the first map's restart rebalance
// would have no manager to start it, and never run.
func TestMetasyncBeforeStartIsRefused(t *testing.T) {
	n := unstartedNode(t, Config{ID: "t1", Role: cluster.RoleTarget, Join: "http://127.0.0.1:2"})
	defer n.Close()
	w := pushFirstMap(n)
	if w.Code != http.StatusServiceUnavailable || n.currentMap() != nil {
		t.Fatalf("a push before Start: %d %s, map %v", w.Code, w.Body, n.currentMap())
	}
}

// A target whose saved map cannot be read catches up as one restarted
// (its copies may be older than the cluster's), not as a new one.
func TestUnreadableSavedMapCountsAsOne(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "meta"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "meta", "smap.json"), []byte(`{"version": 7, "nod`), 0o644); err != nil {
		t.Fatal(err)
	}
	n := unstartedNodeIn(t, Config{ID: "t1", Role: cluster.RoleTarget, Join: "http://127.0.0.1:2"}, dir)
	defer n.Close()
	if n.savedMap.Load() == 0 {
		t.Fatal("an unreadable saved map read as none")
	}
	fresh := unstartedNode(t, Config{ID: "t2", Role: cluster.RoleTarget, Join: "http://127.0.0.1:2"})
	defer fresh.Close()
	if v := fresh.savedMap.Load(); v != 0 {
		t.Fatalf("a new node's saved map: version %d, want none", v)
	}
}

// heldHeads is a store whose Head of one name waits until released,
// telling when it started waiting.
type heldHeads struct {
	store.Store
	name             string
	waiting, release chan struct{}
}

func (s heldHeads) Head(ctx context.Context, b store.Bucket, name string) (store.ObjectMeta, error) {
	if name == s.name {
		close(s.waiting)
		<-s.release
	}
	return s.Store.Head(ctx, b, name)
}

// A target removing the output of a dSort job its crash interrupted
// takes no map meanwhile: with one, it would serve those shards (and a
// rebalance could move them away from the removal).
func TestMetasyncWhileDsortRecoveryRunsIsRefused(t *testing.T) {
	held := heldHeads{name: "out-0.tar", waiting: make(chan struct{}), release: make(chan struct{})}
	cfg := Config{ID: "t1", Role: cluster.RoleTarget, Join: "http://127.0.0.1:2"}
	cfg.NewWorker = func(st store.Store, fetcher pipeline.Fetcher) (*pipeline.Worker, error) {
		held.Store = st
		return pipeline.NewWorker(pipeline.WorkerConfig{NodeID: "t1", Store: held, Fetcher: fetcher, WorkDir: cfg.WorkDir, Logger: slog.New(slog.DiscardHandler)})
	}
	dir := t.TempDir()
	cfg.WorkDir = filepath.Join(dir, "work")
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.WorkDir, "dsort-srt-1.journal"), []byte("\"ais://dst\"\n\"out-0.tar\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := unstartedNode(t, cfg)
	defer n.Close()
	ctx, cancel := context.WithCancel(t.Context())
	started := make(chan error, 1)
	go func() { started <- n.Start(ctx) }()
	defer func() {
		cancel() // (it joins no gateway)
		<-started
	}()
	<-held.waiting
	w := pushFirstMap(n)
	close(held.release)
	if w.Code != http.StatusServiceUnavailable || n.currentMap() != nil {
		t.Fatalf("a push while the dSort recovery runs: %d %s, map %v", w.Code, w.Body, n.currentMap())
	}
}

// A job run again on fewer targets: the one left out keeps its first
// attempt's stats (aborted, or running to its watchdog), which are not
// the job's; with every target in one attempt, all stand.
func TestCurrentAttemptLeavesOutTheTargetLeftOut(t *testing.T) {
	all := []string{"t1", "t2", "t3"}
	survivors := []string{"t1", "t3"}
	stats := map[string]pipeline.JobStats{
		"t1": {ID: "srt-x", Archived: true, Targets: survivors, Attempt: 1},
		"t2": {ID: "srt-x", Aborted: true, Targets: all},
		"t3": {ID: "srt-x", Archived: true, Targets: survivors, Attempt: 1},
	}
	got := currentAttempt(stats)
	if _, ok := got["t2"]; ok || len(got) != 2 {
		t.Fatalf("the attempt's stats: %v, want t1 and t3", slices.Sorted(maps.Keys(got)))
	}
	// Attempts need not nest: t2 left out of the second, t3 of the third.
	stats = map[string]pipeline.JobStats{
		"t1": {ID: "srt-x", Targets: []string{"t1", "t3"}, Attempt: 2},
		"t2": {ID: "srt-x", Targets: []string{"t1", "t2"}, Attempt: 1},
		"t3": {ID: "srt-x", Targets: []string{"t1", "t3"}, Attempt: 2},
	}
	if got := currentAttempt(stats); len(got) != 2 || got["t3"].Attempt != 2 {
		t.Fatalf("the third attempt's stats: %v, want t1 and t3", slices.Sorted(maps.Keys(got)))
	}
	stats["t2"] = pipeline.JobStats{ID: "srt-x", Targets: all}
	stats["t1"] = pipeline.JobStats{ID: "srt-x", Targets: all}
	stats["t3"] = pipeline.JobStats{ID: "srt-x"} // known by its finished mark: no targets
	if got := currentAttempt(stats); len(got) != 3 {
		t.Fatalf("one attempt's stats: %v, want all three", slices.Sorted(maps.Keys(got)))
	}
}

// A job the registry records finished is not aborted because a target
// left out of the attempt that finished keeps its earlier one, aborted:
// its error is a warning.
func TestFinishedJobIsNotAbortedByAnAttemptLeftOut(t *testing.T) {
	n := &Node{coordinator: pipeline.NewCoordinator(pipeline.CoordinatorConfig{})}
	leftOut := "the job starts again on targets t1, t3"
	out := map[string]api.DsortJobInfo{
		"t1": {ID: "srt-x", Archived: true},
		"t2": {ID: "srt-x", Aborted: true, Metrics: api.DsortMetrics{Aborted: true, Errors: []string{leftOut}}},
	}
	n.jobView("srt-x", out, membership.Job{ID: "srt-x", State: membership.JobFinished}, true)
	if got := out["t2"]; got.Aborted || got.Metrics.Aborted || len(got.Metrics.Errors) != 0 || !slices.Contains(got.Metrics.Warnings, leftOut) {
		t.Fatalf("the left-out target's view of a finished job: %+v, want not aborted, its error a warning", got)
	}
	if !out["t1"].Archived {
		t.Fatal("the finished target's view lost its finish")
	}
	if sum := api.DsortSummary(out); sum.Aborted || !sum.Archived {
		t.Fatalf("the job's summary: aborted %v, finished %v; want finished (a waiter stops)", sum.Aborted, sum.Archived)
	}
}
