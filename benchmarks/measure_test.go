package benchmarks

import (
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
)

// A figure of a job is timed to the job's end as its nodes say, not to
// the poll that saw it end (100 ms apart at least).
func TestFigureTimedToTheJobsEnd(t *testing.T) {
	rec := newRecorder("test", nil)
	var ended time.Time
	fig := figure{name: "a job", ended: func() time.Time { return ended }}
	err := rec.measure(t.Context(), fig, func() error {
		ended = time.Now().Add(time.Millisecond)
		time.Sleep(300 * time.Millisecond) // the poll that sees the end
		return nil
	})
	if err != nil || len(rec.results) != 1 {
		t.Fatalf("%v %+v", err, rec.results)
	}
	if got := rec.results[0].Elapsed; got >= 300*time.Millisecond {
		t.Fatalf("timed %s: to the poll, not to the job's end", got)
	}
	j := api.ClusterJob{Nodes: map[string]api.JobStatus{"t1": {Finished: 5}, "t2": {Finished: 9}, "g1": {}}}
	if end := jobEnd(j); end != time.Unix(0, 9) {
		t.Fatalf("the end of a job on two targets: %v, want the later", end)
	}
	if end := jobEnd(api.ClusterJob{}); !end.IsZero() {
		t.Fatalf("the end of a job no node ran: %v", end)
	}
}
