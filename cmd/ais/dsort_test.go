package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

// A job's description is any user's text: `ais dsort ls` shows its
// control characters escaped (an escape sequence would drive the
// terminal of whoever lists the jobs; a tab or newline would break the
// table).
func TestDsortListEscapesDescriptions(t *testing.T) {
	var out strings.Builder
	jobs := []api.DsortJobInfo{{ID: "srt-1", Metrics: api.DsortMetrics{Description: "a\x1b]0;pwned\x07\x1b[2J\tb\nc"}}}
	if err := writeJobTable(&out, jobs); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if strings.ContainsAny(got, "\x1b\x07") || strings.Count(got, "\n") != 2 || !strings.Contains(got, `a\x1b]0;pwned\x07\x1b[2J\x09b\x0ac`) {
		t.Fatalf("the table:\n%q", got)
	}
}

// The bytes-written bar's total is the output's, as the shards created
// so far measure it, not the input's bytes.
func TestDsortWrittenEstimate(t *testing.T) {
	for _, c := range []struct {
		creation api.DsortCreation
		want     int64
	}{
		{api.DsortCreation{ToCreate: 10}, 0},
		{api.DsortCreation{ToCreate: 10, CreatedCount: 2, CreatedSize: 2048}, 10240},
		{api.DsortCreation{ToCreate: 4, CreatedCount: 4, CreatedSize: 4000}, 4000},
		// A last shard smaller than the others: never below what is written.
		{api.DsortCreation{ToCreate: 3, CreatedCount: 3, CreatedSize: 2500}, 2500},
	} {
		if got := writtenEstimate(c.creation); got != c.want {
			t.Errorf("%+v: %d, want %d", c.creation, got, c.want)
		}
	}
}

// A follow of a dSort job rides out polls the gateway does not answer (it
// restarts), for a grace; past it, the error is the wait's.
func TestDsortPollRidesOutAMissedAnswer(t *testing.T) {
	defer func(old time.Duration) { missedPollWait = old }(missedPollWait)
	missedPollWait = time.Millisecond
	var calls atomic.Int64
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.Close() // restarting: no answer
			}
			return
		}
		json.NewEncoder(w).Encode(map[string]api.DsortJobInfo{"t1": {ID: "srt-1", Archived: true}})
	}))
	defer gw.Close()
	c := api.NewClient(gw.URL)
	sum, err := poll(t.Context(), c, "srt-1")
	if err != nil || !sum.Archived {
		t.Fatalf("a poll after two missed answers: %+v, %v", sum, err)
	}
	defer func(old time.Duration) { api.UnansweredGrace = old }(api.UnansweredGrace)
	api.UnansweredGrace = 20 * time.Millisecond
	calls.Store(-1 << 40) // never answers again
	if _, err := poll(t.Context(), c, "srt-1"); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("a poll the gateway never answers: %v, want unavailable", err)
	}
}

// A job's summary shows every warning, once each: the restart after a
// lost target among the links skipped was one of many, unseen.
func TestSummaryShowsEveryWarning(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	sum := api.DsortJobInfo{ID: "srt-1"}
	sum.Metrics.Warnings = []string{"target t2 was lost: the job starts again", "shard in-0.tar: 2 links skipped", "target t2 was lost: the job starts again"}
	printSummary(sum)
	os.Stdout = stdout
	w.Close()
	out, _ := io.ReadAll(r)
	for _, want := range sum.Metrics.Warnings[:2] {
		if strings.Count(string(out), "warning: "+want) != 1 {
			t.Fatalf("the summary:\n%s\nwant %q once", out, want)
		}
	}
}
