package gateway

import (
	"testing"

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
