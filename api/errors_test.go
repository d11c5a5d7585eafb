package api_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/store"
)

// TestKindsDecodeToSentinels: every kind on the wire decodes back to its
// sentinel, the store's included, and the kinds are unique.
func TestKindsDecodeToSentinels(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range api.Kinds {
		if seen[k.Name] {
			t.Errorf("kind %q twice", k.Name)
		}
		seen[k.Name] = true
		if got := api.KindOf(k.Err); got != k.Name {
			t.Errorf("KindOf(%v) = %q, want %q", k.Err, got, k.Name)
		}
		e := &api.Error{Status: 500, Kind: k.Name, Message: "m"}
		if !errors.Is(e, k.Err) {
			t.Errorf("an error of kind %q is not %v", k.Name, k.Err)
		}
	}
	for _, named := range []struct{ constant, store string }{
		{api.KindNotFound, store.Kinds.Of(store.ErrNotFound)},
		{api.KindNoSpace, store.Kinds.Of(store.ErrNoSpace)},
		{api.KindConflict, store.Kinds.Of(store.ErrConflict)},
		{api.KindCorrupt, store.Kinds.Of(store.ErrCorrupt)},
	} {
		if named.constant != named.store {
			t.Errorf("api names %q, the store %q", named.constant, named.store)
		}
	}
}

// An error of a kind the client does not know is told by its status.
func TestUnknownKindsDecodeByStatus(t *testing.T) {
	for status, want := range map[int]error{
		409: api.ErrConflict, 412: api.ErrPreconditionFailed, 410: api.ErrJobFinished, 408: api.ErrSlowBody,
		404: api.ErrNotFound, 503: api.ErrUnavailable,
	} {
		if e := (&api.Error{Status: status, Kind: "a-kind-of-a-newer-node"}); !errors.Is(e, want) {
			t.Errorf("status %d of an unknown kind: not %v", status, want)
		}
	}
}

// A proxy's 503 (no node's name, no JSON: an ingress's page after the
// gateway reset) is retried for a read, not for a request that may have
// been applied (a bucket created, a job started).
func TestProxysUnavailableIsNotRetriedForAChange(t *testing.T) {
	var posts, gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posts.Add(1)
		} else {
			gets.Add(1)
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "upstream connect error or disconnect/reset before headers")
	}))
	defer srv.Close()
	c := api.NewClient(srv.URL)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	if err := c.CreateBucket(ctx, "b", nil); err == nil || !strings.Contains(err.Error(), "no node of the cluster") {
		t.Fatalf("a create answered by a proxy's 503: %v", err)
	}
	if n := posts.Load(); n != 1 {
		t.Fatalf("the create was sent %d times, want once", n)
	}
	c.BucketProps(ctx, "b") // (a read: retried until the context ends)
	if n := gets.Load(); n < 2 {
		t.Fatalf("a read answered by a proxy's 503 was sent %d times, want it retried", n)
	}
}
