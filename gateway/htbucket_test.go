package gateway_test

import (
	"errors"
	"testing"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	"github.com/aisgo/aisgo/internal/egress"
	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/remote"
	"github.com/aisgo/aisgo/store/remote/ht"
)

// An ht:// bucket no one made is not found (404), as any missing bucket:
// not a bad request for the origin it lacks (one is an admin's or the
// proxy's to give, not a first access's).
func TestUnknownOriginBucketIsNotFound(t *testing.T) {
	origins := ht.Resolve(ht.NewClient(egress.Checked(nil)))
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true,
		Configure: func(cfg *gateway.Config) {
			cfg.RemoteBuckets = remote.Buckets{Resolve: origins}
			cfg.Remote = func(st store.Store) store.Store { return remote.New(st, origins) }
		}})
	client := c.Client()
	ctx := t.Context()
	if _, err := client.BucketProps(ctx, "ht://nosuch"); !errors.Is(err, api.ErrBucketNotFound) {
		t.Fatalf("HEAD of an ht:// bucket never made: %v, want 404", err)
	}
	if _, _, err := client.Get(ctx, "ht://nosuch", "a", api.GetOptions{}); !errors.Is(err, api.ErrBucketNotFound) {
		t.Fatalf("GET from an ht:// bucket never made: %v, want 404", err)
	}
	if _, err := client.ListObjects(ctx, "ht://nosuch", api.ListObjectsMessage{}); !errors.Is(err, api.ErrBucketNotFound) {
		t.Fatalf("a listing of an ht:// bucket never made: %v, want 404", err)
	}
}
