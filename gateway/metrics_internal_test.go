package gateway

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/aisgo/aisgo/api"
)

// The job totals by kind grow with each job's progress and keep what
// ended jobs did after they leave the list; a job missing from one list
// is not counted twice when it is back.
func TestJobTotalsByKind(t *testing.T) {
	var totals jobTotals
	start := time.Now()
	check := func(what string, jobs []api.JobStatus, at time.Duration, kind string, objects, bytes int64, running int) {
		t.Helper()
		got, runs := totals.add(func() []api.JobStatus { return jobs }, start.Add(at))
		if got[kind] != (jobCounts{objects, bytes}) || runs[kind] != running {
			t.Fatalf("%s: %s totals %+v, %d running; want %d objects, %d bytes, %d running", what, kind, got[kind], runs[kind], objects, bytes, running)
		}
	}
	a := api.JobStatus{ID: "lru-1", Kind: "lru", Running: true, Objects: 5, Bytes: 500}
	b := api.JobStatus{ID: "lru-2", Kind: "lru", Running: true, Objects: 1, Bytes: 100}
	check("two jobs", []api.JobStatus{a, b}, 0, "lru", 6, 600, 2)
	a.Objects, a.Bytes, a.Running = 8, 800, false
	check("one grown and ended", []api.JobStatus{a, b}, time.Second, "lru", 9, 900, 1)
	check("the same again", []api.JobStatus{a, b}, 2*time.Second, "lru", 9, 900, 1)
	check("the ended one gone", []api.JobStatus{b}, 3*time.Second, "lru", 9, 900, 1)
	b.Objects, b.Bytes = 2, 200
	check("the ended one back", []api.JobStatus{a, b}, 4*time.Second, "lru", 10, 1000, 1)
	check("none listed", nil, 5*time.Second, "lru", 10, 1000, 0)
	// Forgotten after jobForgotten: an id used again is a new job.
	check("an id long gone used again", []api.JobStatus{{ID: "lru-1", Kind: "lru", Objects: 3, Bytes: 30}}, jobForgotten+time.Minute, "lru", 13, 1030, 0)
	// An id run again (a rebalance under the same map) counts anew.
	again := api.JobStatus{ID: "lru-1", Kind: "lru", Started: 7, Objects: 2, Bytes: 20}
	check("an id started again", []api.JobStatus{again}, jobForgotten+90*time.Second, "lru", 15, 1050, 0)
	again.Objects, again.Bytes, again.Started = 1, 10, 0
	check("the same id and start, counted from zero again", []api.JobStatus{again}, jobForgotten+100*time.Second, "lru", 16, 1060, 0)
	check("another kind", []api.JobStatus{{ID: "g1", Kind: "rebalance", Running: true, Objects: 4}}, jobForgotten+2*time.Minute, "rebalance", 4, 0, 1)
	if got, _ := totals.add(func() []api.JobStatus { return nil }, start.Add(jobForgotten+3*time.Minute)); got["lru"] != (jobCounts{16, 1060}) {
		t.Fatalf("lru totals after another kind: %+v", got["lru"])
	}
	// A job still listed is not forgotten for a gap between scrapes of
	// over an hour (Prometheus down): counted whole again, it showed as
	// a burst of work that never was.
	ended := api.JobStatus{ID: "g2", Kind: "rebalance", Objects: 10, Bytes: 1000}
	check("an ended job listed", []api.JobStatus{ended}, jobForgotten+4*time.Minute, "rebalance", 14, 1000, 0)
	check("listed still, after a gap of over an hour", []api.JobStatus{ended}, 2*jobForgotten+5*time.Minute, "rebalance", 14, 1000, 0)
}

// A relay the gateway could not make (the target down) is the gateway's
// error, counted so: the target never saw the request. One the target
// answered is a redirect, as the target counts it.
func TestFailedRelayCountsAsAnError(t *testing.T) {
	m := newMetrics()
	relay := func(err error, status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.(relayRecorder).recordRelay()
			if err != nil {
				w.(errorRecorder).recordError(err)
			}
			w.WriteHeader(status)
		}
	}
	serve := func(h http.HandlerFunc) {
		m.observe(opGet, h)(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/objects/b/o", nil))
	}
	serve(relay(nil, http.StatusOK))
	serve(relay(fmt.Errorf("%w: the target is down", api.ErrUnavailable), http.StatusServiceUnavailable))
	if got := counterValue(m.redirects.WithLabelValues(string(opGet))); got != 1 {
		t.Fatalf("%v redirects, want the one relay the target answered", got)
	}
	if got := counterValue(m.errors.WithLabelValues(string(opGet), api.KindUnavailable)); got != 1 {
		t.Fatalf("%v errors, want the relay that failed", got)
	}
}

// counterValue is a counter's value.
func counterValue(c prometheus.Counter) float64 {
	var metric dto.Metric
	c.Write(&metric)
	return metric.GetCounter().GetValue()
}
