package api_test

import (
	"strings"
	"testing"

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
// (or long before it) forgot a job whose part was done: no error.
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
