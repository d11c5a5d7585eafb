package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
)

// A follow of a download ends, with an error saying so, once every target
// that answers has ended its part and one has not answered for a grace:
// it waited for good.
func TestDownloadFollowEndsWhenATargetStaysSilent(t *testing.T) {
	defer func(old time.Duration) { api.UnansweredGrace = old }(api.UnansweredGrace)
	api.UnansweredGrace = 50 * time.Millisecond
	var polls atomic.Int64
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		polls.Add(1)
		json.NewEncoder(w).Encode(api.DownloadStatus{ID: "dl-1", Total: 4, Finished: 2,
			Errors: []api.DownloadFailed{{Error: "target t2 did not answer, its part of the job is not counted: timeout"}}})
	}))
	defer gw.Close()
	s, err := followDownload(t.Context(), api.NewClient(gw.URL), "dl-1")
	if err != nil {
		t.Fatal(err)
	}
	if polls.Load() < 2 {
		t.Fatalf("ended after %d polls, before the grace", polls.Load())
	}
	last := s.Errors[len(s.Errors)-1].Error
	if len(s.Errors) != 2 || !strings.Contains(last, "stopped waiting") || !strings.Contains(last, "ais job wait dl-1") {
		t.Fatalf("the errors: %+v", s.Errors)
	}
}

// A prefetch says what it fetched, found cached and skipped; an object
// named on its own that the remote does not have fails it (a template's
// gaps do not).
func TestPrefetchVerdictNamesMissingObjects(t *testing.T) {
	j := api.ClusterJob{ID: "prefetch-1", Nodes: map[string]api.JobStatus{
		"t1": {Result: json.RawMessage(`{"fetched":2,"cached":1,"skipped":1,"failed":0}`)},
		"t2": {Result: json.RawMessage(`{"fetched":3,"cached":0,"skipped":0,"failed":0}`)},
	}}
	var out strings.Builder
	err := prefetchVerdict(&out, j, "s3://b", api.ListRange{ObjNames: []string{"a", "b", "c", "d", "e", "f", "g"}})
	if err == nil || !strings.Contains(err.Error(), "1 of the 7 objects named are not in s3://b or have names") {
		t.Fatalf("named objects, one missing: %v", err)
	}
	if !strings.Contains(out.String(), "prefetched 5 objects of s3://b (1 already cached, 1 skipped: not on the remote") {
		t.Fatalf("the report: %q", out.String())
	}
	if err := prefetchVerdict(io.Discard, j, "s3://b", api.ListRange{Template: "x-{0..9}"}); err != nil {
		t.Fatalf("a template with a gap: %v", err)
	}
}
