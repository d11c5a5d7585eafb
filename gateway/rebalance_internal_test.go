package gateway

import (
	"net/url"
	"testing"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/store"
)

// A peer's copy is asked for in its own bucket: s3://b and ais://b are
// two buckets, and a read falling back during a rebalance must not take
// one for the other.
func TestLocalObjectURLNamesTheProvider(t *testing.T) {
	n := &Node{}
	for _, b := range []store.Bucket{{Name: "b", Provider: "aws"}, store.NewBucket("b")} {
		u, err := url.Parse(n.localObjectURL(cluster.Node{URL: "http://127.0.0.1:1"}, b, "x y"))
		if err != nil || u.Query().Get("provider") != b.Normalize().Provider || u.Path != "/v1/internal/objects/b/x y" {
			t.Fatalf("%s: %v %v", b, u, err)
		}
	}
}
