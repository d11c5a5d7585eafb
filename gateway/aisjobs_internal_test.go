package gateway

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/store"
)

// A target that restarted while a job ran answers without it: its part
// reads as aborted, not as done; so does one that keeps its ended parts
// (since before the job started) and restarted after the others ended.
// One that keeps none restarted after the job ended everywhere, one
// started before the job, or one not among the job's targets, adds
// nothing.
func TestLostPartsOfAJob(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(1_800_000_000+int64(s), 0) }
	job := api.JobStatus{ID: "j1", Kind: "delete-listrange", Started: at(0).UnixNano()}
	named := map[string]bool{"t1": true, "t2": true}
	for _, tc := range []struct {
		name    string
		t1      api.JobSnap
		t2Start time.Time
		t2Kept  int64
		lost    bool
	}{
		{"t2 restarted while t1 runs", api.JobSnap{ID: "j1", Running: true}, at(5), 0, true},
		{"t2 restarted before t1 ended", api.JobSnap{ID: "j1", EndTime: at(10)}, at(5), 0, true},
		{"t2 restarted after the job ended", api.JobSnap{ID: "j1", EndTime: at(10)}, at(20), 0, false},
		{"t2 keeping its parts restarted after t1 ended", api.JobSnap{ID: "j1", EndTime: at(10)}, at(20), at(-50).UnixNano(), true},
		{"t2 keeping its parts since after the job started", api.JobSnap{ID: "j1", EndTime: at(10)}, at(20), at(1).UnixNano(), false},
		{"t2 started before the job", api.JobSnap{ID: "j1", Running: true}, at(-5), 0, false},
	} {
		out := api.JobSnaps{"t1": {tc.t1}}
		lostParts(out, job, named, map[string]int64{"t1": at(-100).UnixNano(), "t2": tc.t2Start.UnixNano()}, map[string]api.NodeStatus{"t2": {JobsSince: map[string]int64{"": tc.t2Kept}}})
		got := len(out["t2"]) == 1 && out["t2"][0].Aborted && out["t2"][0].IsIdle && out["t2"][0].Err != ""
		if got != tc.lost || !tc.lost && len(out["t2"]) != 0 {
			t.Errorf("%s: t2's part %+v, want lost %v", tc.name, out["t2"], tc.lost)
		}
	}
	// The beginning of a kind's own records (its oldest pruned) holds for
	// it, not another kind's.
	for kind, lost := range map[string]bool{"delete-listrange": false, "summary": true} {
		out := api.JobSnaps{"t1": {{ID: "j1", EndTime: at(10)}}}
		t2 := api.NodeStatus{JobsSince: map[string]int64{"": at(-50).UnixNano(), kind: at(1).UnixNano()}}
		lostParts(out, job, named, map[string]int64{"t1": at(-100).UnixNano(), "t2": at(20).UnixNano()}, map[string]api.NodeStatus{"t2": t2})
		if got := len(out["t2"]) == 1; got != lost {
			t.Errorf("t2 keeping %s since after the job started: t2's part %+v, want lost %v", kind, out["t2"], lost)
		}
	}
	out := api.JobSnaps{"t1": {{ID: "j1", Running: true}}}
	lostParts(out, job, map[string]bool{"t1": true}, map[string]int64{"t3": at(5).UnixNano()}, nil)
	if len(out["t3"]) != 0 {
		t.Errorf("a target not among the job's: %+v", out["t3"])
	}
}

// A job asked for by id while a target does not answer: a 503 to ask
// again when that target may hold it (it runs there, or no target that
// answered has it), not "not found", which a waiting client takes as
// the job's end; a target offline in the map holds no job.
func TestJobByIDWithATargetSilent(t *testing.T) {
	target := func(id string, jobs ...api.JobStatus) api.NodeStatus {
		return api.NodeStatus{ID: id, Role: "target", State: "active", Jobs: jobs}
	}
	silent := func(id, state string) api.NodeStatus {
		return api.NodeStatus{ID: id, Role: "target", State: state, Error: "timed out"}
	}
	copyJob := api.JobStatus{ID: "j1", Kind: "copy-bck", Running: true, Targets: []string{"t1", "t2"}}
	rebalance := api.JobStatus{ID: "reb-3", Kind: "rebalance", Finished: time.Now().UnixNano()}
	for _, tc := range []struct {
		name  string
		id    string
		nodes []api.NodeStatus
		want  error
	}{
		{"the only target silent", "j1", []api.NodeStatus{silent("t1", "active")}, api.ErrUnavailable},
		{"found, a target of it silent", "j1", []api.NodeStatus{target("t1", copyJob), silent("t2", "active")}, api.ErrUnavailable},
		{"found, another target silent", "j1", []api.NodeStatus{target("t1", copyJob), target("t2", copyJob), silent("t3", "active")}, nil},
		{"a rebalance, a target silent", "reb-3", []api.NodeStatus{target("t1", rebalance), silent("t2", "active")}, api.ErrUnavailable},
		{"a rebalance, an offline target silent", "reb-3", []api.NodeStatus{target("t1", rebalance), silent("t2", "offline")}, nil},
		{"found, a target of it starting without it", "j1", []api.NodeStatus{target("t1", copyJob), {ID: "t2", Role: "target", State: "active", Starting: true, Started: time.Now().UnixNano()}}, api.ErrUnavailable},
		{"found, a target of it starting with it", "j1", []api.NodeStatus{target("t1", copyJob), {ID: "t2", Role: "target", State: "active", Starting: true, Jobs: []api.JobStatus{copyJob}}}, nil},
		{"unknown, a target starting", "j9", []api.NodeStatus{target("t1", copyJob), {ID: "t2", Role: "target", State: "active", Starting: true}}, api.ErrUnavailable},
		{"unknown, every target answers", "j9", []api.NodeStatus{target("t1", copyJob)}, api.ErrJobNotFound},
		{"unknown, an offline target silent", "j9", []api.NodeStatus{target("t1", copyJob), silent("t2", "offline")}, api.ErrJobNotFound},
	} {
		_, err := snapsOf(tc.nodes, api.JobQuery{ID: tc.id})
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// A cluster job with no active target to run it (every one in
// maintenance or offline) is a 503, not an id that runs nowhere.
func TestClusterJobWithNoActiveTarget(t *testing.T) {
	m := &cluster.Map{Version: 1, Primary: "g1", Nodes: []cluster.Node{
		{ID: "g1", Role: cluster.RoleGateway, State: cluster.StateActive},
		{ID: "t1", Role: cluster.RoleTarget, State: cluster.StateMaintenance},
		{ID: "t2", Role: cluster.RoleTarget, State: cluster.StateOffline},
	}}
	n := &Node{control: &laggingControl{local: membership.Snapshot{Map: m}, stuck: true}, logger: slog.New(slog.DiscardHandler)}
	id, err := n.startClusterJob(t.Context(), peer.JobRequest{Kind: jobDeleteObjects})
	if !errors.Is(err, api.ErrUnavailable) || id != "" {
		t.Fatalf("a job with no active target: id %q, %v; want a 503", id, err)
	}
	// A change of props made already is not answered as one to try
	// again: the targets run their share when they are back.
	before, after := store.DefaultProps(), store.DefaultProps()
	after.Mirror.Enabled = true
	if id, err := n.afterPropsChange(t.Context(), store.NewBucket("b"), before, after); err != nil || id != "" {
		t.Fatalf("the job of a props change with no active target: id %q, %v; want none, no error", id, err)
	}
}

// A target of a job that left the cluster gives the job an aborted part
// (its objects moved to targets that may have passed them), also once
// the others ended (when it left is not known).
func TestJobWithATargetThatLeft(t *testing.T) {
	target := func(id string, jobs ...api.JobStatus) api.NodeStatus {
		return api.NodeStatus{ID: id, Role: "target", State: "active", Jobs: jobs}
	}
	running := api.JobStatus{ID: "j1", Kind: "copy-bck", Running: true, Started: time.Now().UnixNano(), Targets: []string{"t1", "t2", "t3"}}
	ended := running
	ended.Running, ended.Finished = false, time.Now().UnixNano()
	snaps, err := snapsOf([]api.NodeStatus{target("t1", running), target("t2", ended)}, api.JobQuery{ID: "j1"})
	if err != nil || len(snaps["t3"]) != 1 || !snaps["t3"][0].Aborted || !strings.Contains(snaps["t3"][0].Err, "left the cluster") {
		t.Fatalf("a job running with a target gone: %+v %v, want t3's part aborted", snaps, err)
	}
	snaps, err = snapsOf([]api.NodeStatus{target("t1", ended), target("t2", ended)}, api.JobQuery{ID: "j1"})
	if err != nil || len(snaps["t3"]) != 1 || !snaps["t3"][0].Aborted {
		t.Fatalf("a job ended with a target gone: %+v %v, want t3's part aborted", snaps, err)
	}
	// Idle and ended, as AIStore's clients wait for (wait_for_idle would
	// wait on it for ever).
	if part := snaps["t3"][0]; !part.IsIdle || part.Running || part.EndTime.UnixNano() != ended.Finished {
		t.Fatalf("the part of a target gone: %+v, want idle, ended when the others did", part)
	}
	// A target that answers is no target gone.
	snaps, err = snapsOf([]api.NodeStatus{target("t1", ended), target("t2", ended), target("t3", ended)}, api.JobQuery{ID: "j1"})
	if err != nil || slices.ContainsFunc(snaps["t3"], func(s api.JobSnap) bool { return s.Aborted }) {
		t.Fatalf("a job ended everywhere: %+v %v", snaps, err)
	}
	// A listing marks it as the query by id does, and only the job
	// that ran on the target gone.
	other := api.JobStatus{ID: "j2", Kind: "summary", Started: time.Now().UnixNano(), Finished: time.Now().UnixNano(), Targets: []string{"t1", "t2"}}
	snaps, err = snapsOf([]api.NodeStatus{target("t1", ended, other), target("t2", ended, other)}, api.JobQuery{})
	if err != nil || len(snaps["t3"]) != 1 || snaps["t3"][0].ID != "j1" || !snaps["t3"][0].Aborted || len(snaps["t1"]) != 2 {
		t.Fatalf("a listing with a target gone: %+v %v, want t3's part of j1 aborted", snaps, err)
	}
}
