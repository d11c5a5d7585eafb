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
