package gateway

import "testing"

// A job's error shown to a user of its buckets only names no node's
// address: a peer's error quotes the link it was asked at.
func TestHideAddresses(t *testing.T) {
	for in, want := range map[string]string{
		`copy ais://src/o to ais://dst: Put "http://10.0.0.7:8081/v1/objects/dst/o": dial tcp 10.0.0.7:8081: connect: connection refused`: `copy ais://src/o to ais://dst: Put "http://<node>/v1/objects/dst/o": dial tcp <node>: connect: connection refused`,
		`dial tcp [::1]:9090: i/o timeout`:             `dial tcp <node>: i/o timeout`,
		`https://node-3.cluster.local:8443/v1 refused`: `https://<node>/v1 refused`,
		`object sample-1.2.3.jpg not found`:            `object sample-1.2.3.jpg not found`,
	} {
		if got := hideAddresses(in); got != want {
			t.Errorf("hideAddresses(%q) = %q, want %q", in, got, want)
		}
	}
}
