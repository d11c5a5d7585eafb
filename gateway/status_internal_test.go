package gateway

import (
	"testing"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
)

// A job's error shown to a user of its buckets only names no node's
// address (a peer's error quotes the link it was asked at) nor host
// name (a failed lookup, a certificate's names).
func TestHideAddresses(t *testing.T) {
	m := &cluster.Map{Version: 1, Nodes: []cluster.Node{{ID: "t3", URL: "https://node-3.cluster.local:8443"}}}
	n := &Node{control: &laggingControl{local: membership.Snapshot{Map: m}, stuck: true}}
	for in, want := range map[string]string{
		`copy ais://src/o to ais://dst: Put "http://10.0.0.7:8081/v1/objects/dst/o": dial tcp 10.0.0.7:8081: connect: connection refused`: `copy ais://src/o to ais://dst: Put "http://<node>/v1/objects/dst/o": dial tcp <node>: connect: connection refused`,
		`dial tcp [::1]:9090: i/o timeout`:      `dial tcp <node>: i/o timeout`,
		`dial tcp [fe80::1%eth0]:8081: refused`: `dial tcp <node>: refused`,
		`Put "https://node-3.cluster.local:8443/v1": dial tcp: lookup node-3.cluster.local: no such host`: `Put "https://<node>:8443/v1": dial tcp: lookup <node>: no such host`,
		`GET https://origin.example.com/x: 404`:                                                           `GET https://origin.example.com/x: 404`,
		`object sample-1.2.3.jpg not found`:                                                               `object sample-1.2.3.jpg not found`,
	} {
		if got := n.hideAddresses(in); got != want {
			t.Errorf("hideAddresses(%q) = %q, want %q", in, got, want)
		}
	}
}

// A summary is not started while a target's rebalance moves objects
// (those not moved yet are counted by none); an ended one, one of a
// gateway, or an offline target's absence do not hold it up.
func TestRebalanceRunning(t *testing.T) {
	run := func(running bool) api.JobStatus {
		return api.JobStatus{ID: "reb-4", Kind: "rebalance", Running: running}
	}
	for _, tc := range []struct {
		nodes []api.NodeStatus
		want  string
	}{
		{[]api.NodeStatus{{ID: "t1", Role: "target", Jobs: []api.JobStatus{run(true)}}}, "reb-4"},
		{[]api.NodeStatus{{ID: "t1", Role: "target", Jobs: []api.JobStatus{run(false)}}, {ID: "t2", Role: "target", State: "offline", Error: "refused"}}, ""},
		{[]api.NodeStatus{{ID: "g1", Role: "gateway", Jobs: []api.JobStatus{run(true)}}}, ""},
	} {
		if got := rebalanceRunning(api.ClusterStatus{Nodes: tc.nodes}); got != tc.want {
			t.Errorf("rebalanceRunning(%+v) = %q, want %q", tc.nodes, got, tc.want)
		}
	}
}
