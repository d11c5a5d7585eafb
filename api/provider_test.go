package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aisgo/aisgo/api"
)

// A bucket named with its provider ("s3://b") goes as the bare name in the
// path and the provider in the query, for objects, buckets and get-batch.
func TestBucketWithProvider(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/cluster" { // the client's look at the cluster map
			got = append(got, r.URL.Path+"?"+r.URL.Query().Get(api.QueryProvider))
		}
		w.Header().Set("Content-Type", "application/x-tar")
	}))
	defer srv.Close()
	client := api.NewClient(srv.URL)
	ctx := t.Context()
	client.GetBatch(ctx, "s3://b", api.BatchRequest{Streaming: true, In: []api.BatchEntry{{ObjName: "o"}}}, io.Discard)
	client.Head(ctx, "s3://b", "dir/o")
	want := []string{"/v1/ml/moss/b?aws", "/v1/objects/b/dir/o?aws"}
	if len(got) != len(want) {
		t.Fatalf("requests %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d: %s, want %s", i, got[i], want[i])
		}
	}
}
