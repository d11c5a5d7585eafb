package api_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
)

// A job that names its targets has an error for one that does not
// answer; one that does not name them does not.
func TestClusterJobsWithASilentTarget(t *testing.T) {
	status := &api.ClusterStatus{Nodes: []api.NodeStatus{
		{ID: "t1", Jobs: []api.JobStatus{
			{ID: "prefetch-1", Kind: "prefetch-listrange", Targets: []string{"t1", "t2"}},
			{ID: "copy-1", Kind: "copy-bck"},
		}},
		{ID: "t2", Error: "connection refused"},
	}}
	jobs := api.ClusterJobs(status)
	if len(jobs) != 2 {
		t.Fatalf("jobs: %+v", jobs)
	}
	for _, j := range jobs {
		switch j.ID {
		case "prefetch-1":
			if len(j.Errors) != 1 || !strings.Contains(j.Errors[0], "t2: did not answer") {
				t.Fatalf("a job of a silent target: %+v", j)
			}
		case "copy-1":
			if j.Running || len(j.Errors) != 0 {
				t.Fatalf("a job that names no targets: %+v", j)
			}
		}
	}
}

// A target restarted while a job ran has no record of it: its part is
// lost, and the job says so. One restarted after the job ended everywhere
// (or long before it) forgot a job whose part was done: no error; unless
// it keeps its ended parts across restarts (JobsSince before the job
// started): then one it does not list was cut.
func TestClusterJobsWithARestartedTarget(t *testing.T) {
	targets := []string{"t1", "t2"}
	job := func(id string, running bool, started, finished int64) api.JobStatus {
		return api.JobStatus{ID: id, Kind: "prefetch-listrange", Targets: targets, Running: running, Started: started, Finished: finished}
	}
	status := &api.ClusterStatus{Nodes: []api.NodeStatus{
		{ID: "t1", Started: 10, Jobs: []api.JobStatus{
			job("running", true, 100, 0),          // t2 restarted at 150, during it
			job("ended-after", false, 100, 200),   // t2 restarted at 150, before it ended
			job("ended-before", false, 100, 120),  // t2 restarted at 150, after it ended
			job("started-after", false, 160, 170), // t2 restarted before it started, and pruned it
		}},
		{ID: "t2", Started: 150, Jobs: []api.JobStatus{job("started-after-other", false, 160, 170)}},
	}}
	want := map[string]bool{"running": true, "ended-after": true, "ended-before": false, "started-after": false}
	check := func() {
		t.Helper()
		for _, j := range api.ClusterJobs(status) {
			flagged := len(j.Errors) == 1 && strings.Contains(j.Errors[0], "t2: restarted while the job ran")
			if wanted, ok := want[j.ID]; ok && flagged != wanted {
				t.Errorf("job %s: errors %q, want the restart flagged: %v", j.ID, j.Errors, wanted)
			}
			if !flagged && len(j.Errors) > 0 {
				t.Errorf("job %s: errors %q", j.ID, j.Errors)
			}
		}
	}
	check()
	status.Nodes[1].JobsSince = map[string]int64{"": 50}
	want["ended-before"] = true
	check()
}

// A target restarted while a download ran, still starting, resumes its
// part before it lists it: it is waited for, as one that does not
// answer, not taken for one that lost its part; a wait for the job goes
// on (its lookup too, when only that target has it).
func TestClusterJobsWithAStartingTarget(t *testing.T) {
	job := api.JobStatus{ID: "download-1", Kind: "download", Targets: []string{"t1", "t2"}, Started: 100, Finished: 200}
	status := &api.ClusterStatus{Nodes: []api.NodeStatus{
		{ID: "t1", Started: 10, Role: "target", Jobs: []api.JobStatus{job}},
		{ID: "t2", Started: 150, Role: "target", Starting: true},
	}}
	jobs := api.ClusterJobs(status)
	if len(jobs) != 1 || len(jobs[0].Unanswered) != 1 || jobs[0].Unanswered[0] != "t2" ||
		len(jobs[0].Errors) != 1 || !strings.Contains(jobs[0].Errors[0], "t2: is starting") {
		t.Fatalf("a job whose target is starting again: %+v", jobs)
	}
	var watch api.JobWatch
	if watch.Ended(jobs[0]) {
		t.Fatal("the wait for a job whose target is starting again ended at once")
	}
	// A job that ended before the target restarted is not its to resume;
	// unless it keeps its ended parts, and does not list it.
	job.Finished = 120
	status.Nodes[0].Jobs = []api.JobStatus{job}
	if jobs := api.ClusterJobs(status); len(jobs) != 1 || len(jobs[0].Unanswered) != 0 || len(jobs[0].Errors) != 0 {
		t.Fatalf("a job that ended before its target restarted: %+v", jobs)
	}
	status.Nodes[1].JobsSince = map[string]int64{"": 50, "summary": 130}
	if jobs := api.ClusterJobs(status); len(jobs) != 1 || len(jobs[0].Unanswered) != 1 {
		t.Fatalf("a job that ended before its target, keeping its parts, restarted: %+v", jobs)
	}
	// One that lists its part (kept across its restart) is not waited for.
	status.Nodes[1].Jobs = []api.JobStatus{job}
	if jobs := api.ClusterJobs(status); len(jobs) != 1 || len(jobs[0].Unanswered) != 0 || len(jobs[0].Errors) != 0 {
		t.Fatalf("a job whose starting target lists its part: %+v", jobs)
	}
}

// A target of a job that has left the cluster aborts the job: what it
// held moved to others that may have passed it already.
func TestClusterJobsWithATargetThatLeft(t *testing.T) {
	job := api.JobStatus{ID: "copy-1", Kind: "copy-bck", Targets: []string{"t1", "t2", "t3"}, Started: 100, Finished: 200}
	status := &api.ClusterStatus{Nodes: []api.NodeStatus{
		{ID: "t1", Started: 10, Jobs: []api.JobStatus{job}},
		{ID: "t2", Started: 10, Jobs: []api.JobStatus{job}},
	}}
	jobs := api.ClusterJobs(status)
	if len(jobs) != 1 || !jobs[0].Aborted || len(jobs[0].Errors) != 1 || !strings.HasPrefix(jobs[0].Errors[0], "t3: has left the cluster") {
		t.Fatalf("a job whose target t3 left: %+v, want it aborted with t3 named", jobs)
	}
	status.Nodes = append(status.Nodes, api.NodeStatus{ID: "t3", Started: 10, Jobs: []api.JobStatus{job}})
	if jobs := api.ClusterJobs(status); len(jobs) != 1 || jobs[0].Aborted || len(jobs[0].Errors) != 0 {
		t.Fatalf("a job ended on each of its targets: %+v", jobs)
	}
}

// A wait for a job goes on while a target of it does not answer (one
// restarting resumes its part): it ends when that target's part ends, not
// at the first poll it misses.
func TestWaitJobWaitsForASilentTarget(t *testing.T) {
	job := func(running bool) api.JobStatus {
		return api.JobStatus{ID: "download-1", Kind: "download", Targets: []string{"t1", "t2"}, Running: running, Started: 1}
	}
	polls := []api.ClusterStatus{
		{Nodes: []api.NodeStatus{{ID: "t1", Jobs: []api.JobStatus{job(false)}}, {ID: "t2", Error: "connection refused"}}},
		{Nodes: []api.NodeStatus{{ID: "t1", Jobs: []api.JobStatus{job(false)}}, {ID: "t2", Jobs: []api.JobStatus{job(true)}}}},
		{Nodes: []api.NodeStatus{{ID: "t1", Jobs: []api.JobStatus{job(false)}}, {ID: "t2", Jobs: []api.JobStatus{job(false)}}}},
	}
	var calls atomic.Int64
	g := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get(api.QueryWhat) != "status" {
			http.Error(w, "not here", http.StatusNotFound)
			return
		}
		n := min(int(calls.Add(1)), len(polls)) - 1
		json.NewEncoder(w).Encode(polls[n])
	})
	j, err := api.NewClient(g.URL).WaitJob(t.Context(), "download-1", time.Millisecond)
	if err != nil || j.Running || len(j.Errors) != 0 || calls.Load() < 3 {
		t.Fatalf("the wait ended after %d polls with %+v, %v: want the job done everywhere, no error", calls.Load(), j, err)
	}
	// A target that never answers again ends the wait after the grace.
	defer func(old time.Duration) { api.UnansweredGrace = old }(api.UnansweredGrace)
	api.UnansweredGrace = 50 * time.Millisecond
	calls.Store(0)
	polls = polls[:1]
	j, err = api.NewClient(g.URL).WaitJob(t.Context(), "download-1", time.Millisecond)
	if err != nil || len(j.Unanswered) != 1 || j.Unanswered[0] != "t2" {
		t.Fatalf("the wait for a job whose target stays silent: %+v, %v", j, err)
	}
}

// A wait goes on through polls that fail: a job that no node answering
// has while a target does not answer (it may run the job there), and a
// gateway that cannot be reached for a moment (restarting).
func TestWaitJobWaitsThroughFailedPolls(t *testing.T) {
	job := func(running bool) api.JobStatus {
		return api.JobStatus{ID: "copy-1", Kind: "copy-bucket", Targets: []string{"t1"}, Running: running, Started: 1}
	}
	polls := []api.ClusterStatus{
		{Nodes: []api.NodeStatus{{ID: "g1", Role: "gateway"}, {ID: "t1", Role: "target", Error: "context deadline exceeded"}}},
		{}, // the gateway hangs up
		{Nodes: []api.NodeStatus{{ID: "g1", Role: "gateway"}, {ID: "t1", Role: "target", Jobs: []api.JobStatus{job(true)}}}},
		{Nodes: []api.NodeStatus{{ID: "g1", Role: "gateway"}, {ID: "t1", Role: "target", Jobs: []api.JobStatus{job(false)}}}},
	}
	var calls atomic.Int64
	proxyPage := false
	g := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		n := min(int(calls.Add(1)), len(polls)) - 1
		if n == 1 && proxyPage {
			// An ingress in front, its gateway restarting: its page.
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1>\n<hr>nginx</body></html>")
			return
		}
		if n == 1 {
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		json.NewEncoder(w).Encode(polls[n])
	})
	for _, proxyPage = range []bool{false, true} {
		calls.Store(0)
		j, err := api.NewClient(g.URL).WaitJob(t.Context(), "copy-1", time.Millisecond)
		if err != nil || j.Running || calls.Load() < int64(len(polls)) {
			t.Fatalf("the wait (a proxy's page between %v) ended after %d polls with %+v, %v: want the job done", proxyPage, calls.Load(), j, err)
		}
	}
	proxyPage = false
	// With every target answering, a job none has is not found at once.
	calls.Store(0)
	polls = polls[3:]
	if _, err := api.NewClient(g.URL).WaitJob(t.Context(), "copy-2", time.Millisecond); !errors.Is(err, api.ErrJobNotFound) || calls.Load() != 1 {
		t.Fatalf("a wait for a job no node has: %v after %d polls, want not found at the first", err, calls.Load())
	}
	// A job no answering node has while a target is silent: not found
	// (and unavailable), once the grace is over.
	defer func(old time.Duration) { api.UnansweredGrace = old }(api.UnansweredGrace)
	api.UnansweredGrace = 50 * time.Millisecond
	polls = []api.ClusterStatus{{Nodes: []api.NodeStatus{{ID: "t1", Role: "target", Error: "connection refused"}}}}
	calls.Store(0)
	if _, err := api.NewClient(g.URL).WaitJob(t.Context(), "copy-9", time.Millisecond); !errors.Is(err, api.ErrJobNotFound) || !errors.Is(err, api.ErrUnavailable) || calls.Load() < 2 {
		t.Fatalf("a wait for a job no answering node has, a target silent: %v after %d polls", err, calls.Load())
	}
	// A cluster that stays silent ends the wait after the grace, saying so.
	if _, err := api.NewClient(deadURL(t)).WaitJob(t.Context(), "copy-1", time.Millisecond); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("a wait on a gateway that never answers: %v, want unavailable", err)
	}
}

// A props change (its job started on every target before the answer) and
// a job's stop (answered once every target stopped it) wait past the
// gateway's usual time.
func TestSlowAnswersOfJobsAreWaitedFor(t *testing.T) {
	var asked atomic.Int64
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		time.Sleep(300 * time.Millisecond)
		w.WriteHeader(http.StatusOK)
	}))
	defer server.Close()
	client := api.NewClient(server.URL).SetGatewayTimeout(50 * time.Millisecond)
	if err := client.SetBucketProps(t.Context(), "b", map[string]any{"mirror": map[string]any{"enabled": true, "copies": 2}}); err != nil {
		t.Fatalf("a props change the gateway answers after its usual time: %v", err)
	}
	if err := client.StopJob(t.Context(), "srt-1"); err != nil {
		t.Fatalf("a stop the gateway answers after its usual time: %v", err)
	}
	if asked.Load() != 2 {
		t.Fatalf("%d requests, want one each", asked.Load())
	}
}

// A read at a negative offset or length is refused before it is sent.
func TestGetRefusesNegativeRanges(t *testing.T) {
	client := api.NewClient("http://127.0.0.1:1")
	for _, opts := range []api.GetOptions{{Offset: -10}, {Offset: -10, Length: 5}, {Length: -1}} {
		if _, _, err := client.Get(t.Context(), "b", "o", opts); !errors.Is(err, api.ErrBadRequest) {
			t.Errorf("a GET with %+v: %v, want a bad request", opts, err)
		}
	}
}
