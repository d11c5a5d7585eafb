package main

import (
	"testing"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/pipeline"
)

// `ais dsort ls` names a job whose output is being removed after an
// abort: it is not running, and not ended yet.
func TestDsortStateNamesAnAbortInProgress(t *testing.T) {
	for _, c := range []struct {
		job  api.DsortJobInfo
		want string
	}{
		{api.DsortJobInfo{Phase: pipeline.PhaseCreate}, "running"},
		{api.DsortJobInfo{Phase: pipeline.PhaseAborting}, "aborting"},
		{api.DsortJobInfo{Phase: pipeline.PhaseCreate, Aborted: true}, "aborted"},
		{api.DsortJobInfo{Phase: pipeline.PhaseFinished, Archived: true}, "finished"},
	} {
		if got := state(c.job); got != c.want {
			t.Errorf("%+v: %q, want %q", c.job, got, c.want)
		}
	}
}
