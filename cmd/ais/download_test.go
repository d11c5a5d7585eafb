package main

import (
	"encoding/json"
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
