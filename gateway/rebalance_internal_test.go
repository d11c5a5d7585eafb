package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/cluster/rebalance"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/fs"
)

// A peer's copy is asked for in its own bucket: s3://b and ais://b are
// two buckets, and a read falling back during a rebalance must not take
// one for the other.
func TestLocalObjectURLNamesTheProvider(t *testing.T) {
	n := &Node{}
	for _, b := range []store.Bucket{{Name: "b", Provider: "aws"}, store.NewBucket("b")} {
		u, err := url.Parse(n.localObjectURL(cluster.Node{URL: "http://127.0.0.1:1"}, b, "x y", 42))
		if err != nil || u.Query().Get("provider") != b.Normalize().Provider || u.Path != "/v1/internal/objects/b/x y" || u.Query().Get(queryBucketCreated) != "42" {
			t.Fatalf("%s: %v %v", b, u, err)
		}
	}
}

// listFailing fails every listing.
type listFailing struct{ store.Store }

func (listFailing) List(context.Context, store.Bucket, store.ListOptions) ([]store.ObjectMeta, error) {
	return nil, fmt.Errorf("%w: a disk that fails", store.ErrIO)
}

// A leaving target whose listing fails is not known to be empty: it does
// not say it left (the objects it may hold would go with it).
func TestObjectLeftCountsAFailedListing(t *testing.T) {
	inner, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{t.TempDir()}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	if err := inner.CreateBucket(t.Context(), store.NewBucket("b"), store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	n := &Node{config: Config{Store: listFailing{inner}}}
	if b, name := n.objectLeft(t.Context()); name == "" || b.Name != "b" {
		t.Fatalf("objectLeft with a failing listing: %s %q, want the bucket named", b, name)
	}
	n = &Node{config: Config{Store: inner}}
	if _, name := n.objectLeft(t.Context()); name != "" {
		t.Fatalf("objectLeft of an empty store: %q", name)
	}
}

// A coordinator whose jobs were settled is not silent any more: back, and
// running a new job, it gets the whole timeout, not one failed probe.
func TestSettledCoordinatorIsForgotten(t *testing.T) {
	silent := map[string]time.Time{"g2": time.Now().Add(-time.Hour), "g3": time.Now()}
	forgetSettled(silent, map[string]membership.Job{
		"srt-1": {ID: "srt-1", Coordinator: "g2", State: membership.JobAborted},
		"srt-2": {ID: "srt-2", Coordinator: "g3", State: membership.JobRunning},
	})
	if _, ok := silent["g2"]; ok {
		t.Fatal("a coordinator with no job running is still taken as silent")
	}
	if _, ok := silent["g3"]; !ok {
		t.Fatal("a silent coordinator with a job running is forgotten")
	}
}

// endlessListing is a remote bucket whose listing goes on for 1,000
// pages, counting them.
type endlessListing struct{ pages *int }

func (e endlessListing) HeadBucket(context.Context, store.Bucket, store.Props) error { return nil }
func (e endlessListing) List(ctx context.Context, b store.Bucket, props store.Props, prefix, token string, max int) ([]store.ObjectMeta, string, error) {
	*e.pages++
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	next := "more"
	if *e.pages == 1000 {
		next = ""
	}
	return []store.ObjectMeta{{Name: fmt.Sprintf("o-%d", *e.pages)}}, next, nil
}

// A job over a remote bucket's prefix stops listing at its first failure
// (a delete the remote refuses), not after paging through all of it.
func TestRemoteWalkStopsAtTheFirstFailure(t *testing.T) {
	pages := 0
	n := &Node{config: Config{RemoteBuckets: endlessListing{&pages}}}
	refused := fmt.Errorf("403 AccessDenied")
	calls := 0
	err := n.eachRemote(t.Context(), store.Bucket{Provider: store.ProviderAWS, Name: "b"}, store.Props{}, "", func(string) error {
		calls++
		return refused
	})
	if err != refused || calls != 1 || pages > 2 {
		t.Fatalf("a walk whose first object fails: %v after %d calls and %d pages", err, calls, pages)
	}
}

// stalledListing is a remote bucket whose listing never answers.
type stalledListing struct{ endlessListing }

func (stalledListing) List(ctx context.Context, b store.Bucket, props store.Props, prefix, token string, max int) ([]store.ObjectMeta, string, error) {
	<-ctx.Done()
	return nil, "", ctx.Err()
}

// A job's walk of a remote listing that stalls ends with the remote's
// failure, rather than hold the job until it is aborted.
func TestRemoteWalkEndsAtAStalledPage(t *testing.T) {
	defer func(was time.Duration) { remotePageTimeout = was }(remotePageTimeout)
	remotePageTimeout = 50 * time.Millisecond
	n := &Node{config: Config{RemoteBuckets: stalledListing{}}}
	err := n.eachRemote(t.Context(), store.Bucket{Provider: store.ProviderAWS, Name: "b"}, store.Props{}, "", func(string) error { return nil })
	if !errors.Is(err, store.ErrRemote) || !strings.Contains(err.Error(), "did not come within") {
		t.Fatalf("a walk of a stalled listing: %v, want the remote unavailable, saying why", err)
	}
}

// A read served from another target's copy gives up on a target that
// answers nothing (false: asked elsewhere), and cuts one that stalls
// midway, rather than hold the read for as long as its client waits.
func TestServeFromGivesUpOnAStalledTarget(t *testing.T) {
	defer func(first, stall time.Duration) { relayFirstByte, relayStall = first, stall }(relayFirstByte, relayStall)
	relayFirstByte, relayStall = 2*time.Second, 200*time.Millisecond
	release := make(chan struct{})
	peerServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "midway") {
			w.Header().Set("Content-Length", "100")
			w.Write([]byte("first bytes"))
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer peerServer.Close()
	defer close(release) // (before the server's Close, which waits for its handlers)
	n := &Node{peer: peer.NewClient(peer.ClientConfig{Auth: peer.NewAuth(peer.NewSecret(), peer.Options{}), Node: "t1"}), logger: slog.New(slog.DiscardHandler), control: &laggingControl{}}
	holder := cluster.Node{ID: "t2", URL: peerServer.URL}
	for _, tc := range []struct {
		name   string
		served bool
	}{{"silent", false}, {"midway", true}} {
		done := make(chan bool, 1)
		rec := httptest.NewRecorder()
		go func() {
			done <- n.serveFrom(rec, httptest.NewRequest(http.MethodGet, "/v1/objects/b/"+tc.name+"?validate-checksum=true", nil), holder, store.NewBucket("b"), tc.name, true)
		}()
		select {
		case served := <-done:
			if served != tc.served {
				t.Errorf("%s: served %v, want %v", tc.name, served, tc.served)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: the read still waits on a target that stalled", tc.name)
		}
	}
}

// A run's skipped objects and moved tombstones are in the job list: one
// that finished having skipped objects does not read as all placed.
func TestRebalanceStatusSaysWhatItSkipped(t *testing.T) {
	js := rebalanceJobStatus(rebalance.Status{ID: "reb-7", Objects: 10, Skipped: 2, Tombstones: 3, Finished: time.Unix(5, 0), Cause: "a target joined"})
	var result struct {
		Skipped, Tombstones int64
		Cause               string
	}
	if err := json.Unmarshal(js.Result, &result); err != nil || result.Skipped != 2 || result.Tombstones != 3 || result.Cause != "a target joined" {
		t.Fatalf("the run's result %s (%v)", js.Result, err)
	}
}

// A target asked for its copy of an object answers 404 when its bucket of
// the name is another (created at another time) than the asker's: behind
// on a destroy and create, its copy is the destroyed bucket's.
func TestLocalObjectOfAnotherBucketOfTheName(t *testing.T) {
	b := store.NewBucket("b")
	md := store.NewBucketMetadata()
	props := store.DefaultProps()
	props.Provider, props.Created = "ais", 1
	md.Set(b, props)
	n := &Node{control: &laggingControl{local: membership.Snapshot{Buckets: &md}}, config: Config{Store: listFailing{}}}
	r := httptest.NewRequest(http.MethodGet, "/v1/internal/objects/b/x?provider=ais&"+queryBucketCreated+"=2", nil)
	r.SetPathValue("bucket", "b")
	r.SetPathValue("object", "x")
	w := httptest.NewRecorder()
	n.handleLocalObject(w, r)
	if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "created at 1, not 2") {
		t.Fatalf("a copy asked of another bucket of the name: %d %s, want 404 saying so", w.Code, w.Body)
	}
}

// A read served from another target's copy names the bucket's creation,
// with the query the read came with.
func TestServeFromNamesTheBucketsCreation(t *testing.T) {
	var asked url.Values
	peerServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = r.URL.Query()
		w.Write([]byte("copy"))
	}))
	defer peerServer.Close()
	b := store.NewBucket("b")
	n := servingNode(b)
	rec := httptest.NewRecorder()
	if !n.serveFrom(rec, httptest.NewRequest(http.MethodGet, "/v1/objects/b/x?archpath=a.txt&"+queryBucketCreated+"=1", nil), cluster.Node{ID: "t2", URL: peerServer.URL}, b, "x", true) {
		t.Fatal("not served")
	}
	if asked.Get(queryBucketCreated) != "7" || asked.Get("archpath") != "a.txt" {
		t.Fatalf("the copy was asked with %v: want the bucket's creation (7) and the read's query", asked)
	}
}

// servingNode is a target t1 that serves reads from other targets'
// copies, with bucket b (created at 7).
func servingNode(b store.Bucket) *Node {
	md := store.NewBucketMetadata()
	props := store.DefaultProps()
	props.Provider, props.Created = "ais", 7
	md.Set(b, props)
	return &Node{peer: peer.NewClient(peer.ClientConfig{Auth: peer.NewAuth(peer.NewSecret(), peer.Options{}), Node: "t1"}), logger: slog.New(slog.DiscardHandler),
		control: &laggingControl{local: membership.Snapshot{Buckets: &md}}}
}

// A read relayed from another target's copy of a shard that has no such
// file answers 404, not "ask another" (which ends in a 503 to retry, and
// a get-batch that skips missing files failed whole); a 404 of the object
// itself is asked of another.
func TestServeFromRelaysAMissingFileOfAShardThere(t *testing.T) {
	shardThere := true
	peerServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if shardThere {
			w.Header().Set(headerShardHeld, "true")
		}
		http.Error(w, `{"message":"not found"}`, http.StatusNotFound)
	}))
	defer peerServer.Close()
	b := store.NewBucket("b")
	n := servingNode(b)
	rec := httptest.NewRecorder()
	if !n.serveFrom(rec, httptest.NewRequest(http.MethodGet, "/v1/objects/b/x.tar?archpath=nope.txt", nil), cluster.Node{ID: "t2", URL: peerServer.URL}, b, "x.tar", true) || rec.Code != http.StatusNotFound {
		t.Fatalf("a file a shard there does not have: served %d, want the 404 relayed", rec.Code)
	}
	// A target that may hold a newer copy did not answer: not the answer.
	if n.serveFrom(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/objects/b/x.tar?archpath=nope.txt", nil), cluster.Node{ID: "t2", URL: peerServer.URL}, b, "x.tar", false) {
		t.Fatal("a file missing from a copy that may not be the newest was answered 404")
	}
	shardThere = false
	if n.serveFrom(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/objects/b/x.tar?archpath=nope.txt", nil), cluster.Node{ID: "t2", URL: peerServer.URL}, b, "x.tar", true) {
		t.Fatal("a shard not there was served from that target")
	}
	// The node's own answer says so.
	w := httptest.NewRecorder()
	n.writeError(w, httptest.NewRequest(http.MethodGet, "/v1/objects/b/x.tar", nil), missingMember("x.tar", "nope.txt"))
	if w.Code != http.StatusNotFound || w.Header().Get(headerShardHeld) == "" {
		t.Fatalf("a missing file's answer: %d, %v", w.Code, w.Header())
	}
}

// A leaving target whose run ended before the node was ready (a restart
// mid-decommission) arms a retry: Start's own ask may have found the run
// still ending and skipped, and the target would stay leaving for good.
func TestLeavingTargetNotReadyRetries(t *testing.T) {
	n := &Node{config: Config{ID: "t1", LeaveRetry: time.Hour}, logger: slog.New(slog.DiscardHandler)}
	m := &cluster.Map{Version: 3, Nodes: []cluster.Node{{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:1", State: cluster.StateLeaving}}}
	n.leftIfLeaving(t.Context(), m)
	if !n.moveRetries.Load() {
		t.Fatal("a leaving target not ready yet armed no retry")
	}
}

// Tombstones wait for the ec-resilvers: one running, or the last of a
// target failed, would leave a holder's parts of a deleted object to be
// restored once its tombstone is gone; a streak of failures (one object
// it cannot restore) is waited for a day from when it was first seen,
// which a restart does not start over.
func TestTombstonesWaitForTheECResilvers(t *testing.T) {
	now := time.Now()
	status := func(jobs ...api.JobStatus) api.ClusterStatus {
		return api.ClusterStatus{Nodes: []api.NodeStatus{{ID: "t1", Role: "target"}, {ID: "t2", Role: "target", Jobs: jobs}}}
	}
	failed := api.JobStatus{Kind: jobECResilver, Started: 3, Finished: now.UnixNano(), Error: "an object unrecoverable"}
	for _, tc := range []struct {
		name  string
		jobs  []api.JobStatus
		since map[string]int64
		ended bool
		seen  bool // t2's streak kept
	}{
		{"none ran", nil, nil, true, false},
		{"ended", []api.JobStatus{{Kind: jobECResilver, Started: 1, Finished: 2}}, map[string]int64{"t2": 1}, true, false},
		{"running", []api.JobStatus{{Kind: jobECResilver, Started: 1, Running: true}}, nil, false, false},
		{"the last failed, first seen now", []api.JobStatus{{Kind: jobECResilver, Started: 1, Finished: 2}, failed}, nil, false, true},
		{"failing, first seen an hour ago", []api.JobStatus{failed}, map[string]int64{"t2": now.Add(-time.Hour).UnixNano()}, false, true},
		{"failing, first seen a day ago", []api.JobStatus{failed}, map[string]int64{"t2": now.Add(-25 * time.Hour).UnixNano()}, true, true},
		{"a failed one ran again", []api.JobStatus{{Kind: jobECResilver, Started: 1, Finished: 2, Error: "a holder did not answer"}, {Kind: jobECResilver, Started: 3, Finished: 4}}, map[string]int64{"t2": 1}, true, false},
		{"the last stopped, one before failed", []api.JobStatus{failed, {Kind: jobECResilver, Started: 5, Finished: now.UnixNano(), Error: "aborted", Aborted: true}}, nil, false, true},
		{"another kind running", []api.JobStatus{{Kind: jobScrub, Started: 1, Running: true}}, nil, true, false},
		{"none since a restart, a streak seen an hour ago", nil, map[string]int64{"t2": now.Add(-time.Hour).UnixNano()}, false, true},
		{"one running, a streak seen an hour ago", []api.JobStatus{{Kind: jobECResilver, Started: 1, Running: true}}, map[string]int64{"t2": now.Add(-time.Hour).UnixNano()}, false, true},
	} {
		ended, since := ecResilversEnded(status(tc.jobs...), tc.since, now)
		if _, seen := since["t2"]; ended != tc.ended || seen != tc.seen {
			t.Errorf("%s: ec-resilvers ended %v (streak kept %v), want %v (%v)", tc.name, ended, seen, tc.ended, tc.seen)
		}
		if first, ok := tc.since["t2"]; ok && tc.seen && since["t2"] != first {
			t.Errorf("%s: the streak's start moved from %d to %d", tc.name, first, since["t2"])
		}
	}
}

// The streaks a node saw are kept in its state directory: after a
// restart, the day a streak is waited for goes on from when it was first
// seen.
func TestECResilverStreaksOutliveARestart(t *testing.T) {
	dir := t.TempDir()
	status := api.ClusterStatus{Nodes: []api.NodeStatus{{ID: "t2", Role: "target", Jobs: []api.JobStatus{{Kind: jobECResilver, Started: 1, Finished: 2, Error: "an object unrecoverable"}}}}}
	first := &Node{config: Config{StateDir: dir}, logger: slog.New(slog.DiscardHandler)}
	if first.ecResilversSettled(status) {
		t.Fatal("a streak just seen was not waited for")
	}
	seen := first.resilverFailing.since["t2"]
	again := &Node{config: Config{StateDir: dir}, logger: slog.New(slog.DiscardHandler)}
	again.ecResilversSettled(status)
	if got := again.resilverFailing.since["t2"]; got != seen {
		t.Fatalf("after a restart the streak was first seen at %d, want %d", got, seen)
	}
}
