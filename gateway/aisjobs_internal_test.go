package gateway

import (
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
)

// A target that restarted while a job ran answers without it: its part
// reads as aborted, not as done; one restarted after the job ended
// everywhere, or not among the job's targets, adds nothing.
func TestLostPartsOfAJob(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(1_800_000_000+int64(s), 0) }
	job := api.JobStatus{ID: "j1", Kind: "delete-listrange", Started: at(0).UnixNano()}
	named := map[string]bool{"t1": true, "t2": true}
	for _, tc := range []struct {
		name    string
		t1      api.JobSnap
		t2Start time.Time
		lost    bool
	}{
		{"t2 restarted while t1 runs", api.JobSnap{ID: "j1", Running: true}, at(5), true},
		{"t2 restarted before t1 ended", api.JobSnap{ID: "j1", EndTime: at(10)}, at(5), true},
		{"t2 restarted after the job ended", api.JobSnap{ID: "j1", EndTime: at(10)}, at(20), false},
		{"t2 started before the job", api.JobSnap{ID: "j1", Running: true}, at(-5), false},
	} {
		out := api.JobSnaps{"t1": {tc.t1}}
		lostParts(out, job, named, map[string]int64{"t1": at(-100).UnixNano(), "t2": tc.t2Start.UnixNano()})
		got := len(out["t2"]) == 1 && out["t2"][0].Aborted && out["t2"][0].Err != ""
		if got != tc.lost || !tc.lost && len(out["t2"]) != 0 {
			t.Errorf("%s: t2's part %+v, want lost %v", tc.name, out["t2"], tc.lost)
		}
	}
	out := api.JobSnaps{"t1": {{ID: "j1", Running: true}}}
	lostParts(out, job, map[string]bool{"t1": true}, map[string]int64{"t3": at(5).UnixNano()})
	if len(out["t3"]) != 0 {
		t.Errorf("a target not among the job's: %+v", out["t3"])
	}
}
