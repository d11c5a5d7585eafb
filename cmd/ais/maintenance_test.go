package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
)

func TestRebalanceDone(t *testing.T) {
	target := func(id string, state cluster.State, version int64, jobs ...api.JobStatus) api.NodeStatus {
		return api.NodeStatus{ID: id, Role: string(cluster.RoleTarget), State: string(state), MapVersion: version, Jobs: jobs}
	}
	reb := func(version string, running bool, err string) api.JobStatus {
		return api.JobStatus{ID: "reb-" + version, Kind: "rebalance", Running: running, Error: err, Objects: 7}
	}
	gateway := api.NodeStatus{ID: "g1", Role: string(cluster.RoleGateway), MapVersion: 1}
	// The change took the map from version 10 to 11 (a read showed 12).
	tests := []struct {
		name    string
		nodes   []api.NodeStatus
		started bool
		pending []string // substrings, one per pending target
		failed  string
	}{
		{
			name:  "done",
			nodes: []api.NodeStatus{gateway, target("t1", cluster.StateMaintenance, 12, reb("9", false, "context canceled"), reb("11", false, "")), target("t2", cluster.StateActive, 13, reb("11", false, ""))},
			// An old failure does not count: the newest run is the change's.
			started: true,
		},
		{
			name:    "map not applied yet",
			nodes:   []api.NodeStatus{target("t1", cluster.StateMaintenance, 12, reb("11", false, "")), target("t2", cluster.StateActive, 10, reb("9", false, ""))},
			started: true,
			pending: []string{"t2 has map version 10, not 12 yet"},
		},
		{
			name:    "still moving",
			nodes:   []api.NodeStatus{target("t1", cluster.StateMaintenance, 12, reb("11", true, "")), target("t2", cluster.StateActive, 12, reb("11", false, ""))},
			started: true,
			pending: []string{"t1 is moving objects (7 so far)"},
		},
		{
			name: "moving, trying again",
			nodes: []api.NodeStatus{target("t1", cluster.StateMaintenance, 12, func() api.JobStatus {
				j := reb("11", true, "")
				j.Result = json.RawMessage(`{"retrying":"send to t2: connection reset","failed_attempts":3}`)
				return j
			}()), target("t2", cluster.StateActive, 12, reb("11", false, ""))},
			started: true,
			pending: []string{"t1 is moving objects (7 so far, trying again after: send to t2: connection reset)"},
		},
		{
			name:    "run not started",
			nodes:   []api.NodeStatus{target("t1", cluster.StateMaintenance, 12, reb("9", false, "")), target("t2", cluster.StateActive, 12, reb("11", false, ""))},
			started: true,
			pending: []string{"t1 has not started its rebalance"},
		},
		{
			name:    "no change, nothing running",
			nodes:   []api.NodeStatus{target("t1", cluster.StateMaintenance, 12, reb("9", false, "")), target("t2", cluster.StateActive, 12)},
			started: false,
		},
		{
			name:    "no change, an earlier run still moving",
			nodes:   []api.NodeStatus{target("t1", cluster.StateMaintenance, 12, reb("9", true, "")), target("t2", cluster.StateActive, 12)},
			started: false,
			pending: []string{"t1 is moving objects"},
		},
		{
			name: "unreachable and offline targets",
			nodes: []api.NodeStatus{
				{ID: "t1", Role: string(cluster.RoleTarget), State: string(cluster.StateActive), Error: "connection refused"},
				{ID: "t3", Role: string(cluster.RoleTarget), State: string(cluster.StateOffline), Error: "connection refused"},
				target("t2", cluster.StateActive, 12, reb("11", false, "")),
			},
			started: true,
			pending: []string{"t1 does not answer (connection refused)"},
		},
		{
			name:    "the newest run failed",
			nodes:   []api.NodeStatus{target("t1", cluster.StateMaintenance, 12, reb("11", false, "context canceled"), reb("12", false, "send to t2: 500")), target("t2", cluster.StateActive, 12, reb("12", false, ""))},
			started: true,
			failed:  "rebalance reb-12 on t1 failed: send to t2: 500",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pending, err := rebalanceDone(&api.ClusterStatus{Nodes: tc.nodes}, 10, 12, tc.started)
			if tc.failed != "" {
				if err == nil || !strings.Contains(err.Error(), tc.failed) {
					t.Fatalf("error %v, want %q", err, tc.failed)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(pending) != len(tc.pending) {
				t.Fatalf("pending %q, want %q", pending, tc.pending)
			}
			for i, want := range tc.pending {
				if !strings.Contains(pending[i], want) {
					t.Errorf("pending %q, want %q", pending[i], want)
				}
			}
		})
	}
}

// fakeGateway answers the map, the status and the maintenance actions of
// a cluster of one gateway and some targets. Each status read advances
// the targets one step: first they lag behind the map, then they move
// objects, then they are done.
type fakeGateway struct {
	mu      sync.Mutex
	m       cluster.Map
	actions []string
	reads   int // status reads since the last change
}

func (f *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodPut && r.URL.Path == "/v1/cluster":
		var msg api.ActionMessage
		var value struct {
			ID string `json:"id"`
		}
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil || json.Unmarshal(msg.Value, &value) != nil {
			http.Error(w, "bad action", http.StatusBadRequest)
			return
		}
		f.actions = append(f.actions, msg.Action+" "+value.ID)
		state := map[string]cluster.State{"start-maintenance": cluster.StateMaintenance, "stop-maintenance": cluster.StateActive}[msg.Action]
		for i := range f.m.Nodes {
			switch {
			case f.m.Nodes[i].ID != value.ID:
			case f.m.Nodes[i].State == cluster.StateOffline:
				// Marked for when it is back, as the gateways do.
				f.m.Nodes[i].Maintained, f.m.Nodes[i].Leaving = state == cluster.StateMaintenance, false
			default:
				f.m.Nodes[i].State = state
			}
		}
		f.m.Version++
		f.reads = 0
	case r.Method == http.MethodGet && r.URL.Query().Get(api.QueryWhat) == "status":
		f.reads++
		s := api.ClusterStatus{MapVersion: f.m.Version}
		for _, n := range f.m.Nodes {
			ns := api.NodeStatus{ID: n.ID, Role: string(n.Role), State: string(n.State), MapVersion: f.m.Version}
			if n.Role.IsTarget() {
				run := api.JobStatus{ID: "reb-" + strconv.FormatInt(f.m.Version, 10), Kind: "rebalance", Running: f.reads < 3}
				if f.reads < 2 {
					ns.MapVersion, run = f.m.Version-1, api.JobStatus{ID: "reb-1", Kind: "rebalance"}
				}
				ns.Jobs = []api.JobStatus{run}
			}
			s.Nodes = append(s.Nodes, ns)
		}
		json.NewEncoder(w).Encode(s)
	case r.Method == http.MethodGet:
		json.NewEncoder(w).Encode(&f.m)
	default:
		http.Error(w, "unexpected", http.StatusBadRequest)
	}
}

// newFakeGateway serves a map of gateway g1 and targets t1 (active) and
// t2 (in state t2).
func newFakeGateway(t *testing.T, t2 cluster.State) (*fakeGateway, *api.Client) {
	f := &fakeGateway{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.m = cluster.Map{Version: 5, UUID: "u", Primary: "g1", Nodes: []cluster.Node{
		{ID: "g1", Role: cluster.RoleGateway, URL: srv.URL, State: cluster.StateActive},
		{ID: "t1", Role: cluster.RoleTarget, URL: "http://t1:8080", State: cluster.StateActive},
		{ID: "t2", Role: cluster.RoleTarget, URL: "http://t2:8080", State: t2},
	}}
	return f, api.NewClient(srv.URL)
}

func TestMaintenanceWaitsForRebalance(t *testing.T) {
	f, c := newFakeGateway(t, cluster.StateActive)

	if err := maintenance(t.Context(), c, "t1", cluster.StateMaintenance, true); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	if got := strings.Join(f.actions, ","); got != "start-maintenance t1" || f.reads < 3 {
		t.Errorf("actions %q after %d status reads; want one start-maintenance, and the wait to last until the runs ended", got, f.reads)
	}
	f.mu.Unlock()

	// Again: nothing to change, nothing to wait for.
	if err := maintenance(t.Context(), c, "t1", cluster.StateMaintenance, true); err != nil {
		t.Fatal(err)
	}
	// t2 is now the only active target: it stays active.
	if err := maintenance(t.Context(), c, "t2", cluster.StateMaintenance, true); err != nil {
		t.Fatal(err)
	}
	if err := maintenance(t.Context(), c, "g1", cluster.StateMaintenance, false); err == nil || !strings.Contains(err.Error(), "only targets") {
		t.Errorf("maintenance of a gateway: %v", err)
	}
	if err := maintenance(t.Context(), c, "t9", cluster.StateMaintenance, false); err == nil || !strings.Contains(err.Error(), "not in the cluster") {
		t.Errorf("maintenance of an unknown node: %v", err)
	}
	if err := maintenance(t.Context(), c, "t1", cluster.StateActive, true); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if got := strings.Join(f.actions, ","); got != "start-maintenance t1,stop-maintenance t1" {
		t.Errorf("actions %q", got)
	}
}

// An offline target is marked for when it is back; the command does not
// wait for a state it cannot reach while the target is away (a pod's
// preStop hook would hold its termination until the timeout).
func TestMaintenanceOfAnOfflineTarget(t *testing.T) {
	f, c := newFakeGateway(t, cluster.StateOffline)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, want := range []cluster.State{cluster.StateMaintenance, cluster.StateMaintenance, cluster.StateActive} {
		if err := maintenance(ctx, c, "t2", want, true); err != nil {
			t.Fatalf("%s of an offline target: %v", want, err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if got := strings.Join(f.actions, ","); got != "start-maintenance t2,stop-maintenance t2" {
		t.Errorf("actions %q, want each change once", got)
	}
	if n, _ := f.m.Node("t2"); n.State != cluster.StateOffline || n.Maintained {
		t.Errorf("t2 after: %+v", n)
	}
}
