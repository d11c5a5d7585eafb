package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/pipeline"
)

// A request's bad parts are refused with a 400 that names them, and a
// template naming too many files before it is expanded.
func TestDownloadRequestChecks(t *testing.T) {
	for _, tc := range []struct {
		spec api.DownloadRequest
		want string
	}{
		{api.DownloadRequest{Type: api.DownloadRange, Template: "http://h/x-{0..9999999}.txt"}, "names 10000000 files, more than 1048576"},
		{api.DownloadRequest{Type: api.DownloadSingle, Link: "http://h/f", ObjectName: "../x"}, `has a ".." segment`},
		{api.DownloadRequest{Type: api.DownloadSingle, Link: "file:///etc/passwd"}, "scheme must be http or https"},
		{api.DownloadRequest{Type: api.DownloadSingle, Link: "http:///f"}, "has no host"},
		{api.DownloadRequest{Type: api.DownloadRange, Template: "http://h/f"}, "has no range"},
		{api.DownloadRequest{Type: api.DownloadMulti}, "give objects"},
		// Bounded before expanding: long links times many files.
		{api.DownloadRequest{Type: api.DownloadRange, Template: "http://h/" + strings.Repeat("a", 1000) + "/f{0..999999}"}, "its links would take more than"},
		{api.DownloadRequest{Type: api.DownloadSingle, Link: "http://h/" + strings.Repeat("a", 9000)}, "more than 8192"},
		// Two files, one name: they would overwrite each other.
		{api.DownloadRequest{Type: api.DownloadRange, Template: "http://h/{0..9}/data.tar"}, `would both be stored as "data.tar"`},
		{api.DownloadRequest{Type: api.DownloadMulti, Links: []string{"http://a/x.tar", "http://b/x.tar?sig=secret"}}, `http://b/x.tar?... would both be stored`},
		// A subdir is part of every name: checked once, and its bytes
		// counted for every file.
		{api.DownloadRequest{Type: api.DownloadSingle, Link: "http://h/f", Subdir: strings.Repeat("d", 300)}, "subdir"},
		{api.DownloadRequest{Type: api.DownloadSingle, Link: "http://h/f", Subdir: "a/../b"}, "subdir"},
		{api.DownloadRequest{Type: api.DownloadRange, Template: "http://h/{0000000..1048575}", Subdir: strings.Repeat("d/", 120)}, "its links would take more than"},
		{api.DownloadRequest{Type: api.DownloadMulti, Links: manyLinks(300000), Subdir: strings.Repeat("d/", 120)}, "links and names of one job take more than"},
	} {
		_, err := downloadItems(&tc.spec, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, api.ErrBadRequest) {
			t.Errorf("%+v: %v, want a 400 naming %q", tc.spec, err, tc.want)
		}
	}
	// An escaped '/' in the last segment is of the name, not a separator.
	items, err := downloadItems(&api.DownloadRequest{Type: api.DownloadMulti, Links: []string{"http://h/get/report%2F2024.csv", "http://h/get/summary%2F2024.csv", "http://h/a%20b.txt"}}, nil)
	if err != nil || len(items) != 3 || items[0].Name != "report/2024.csv" || items[1].Name != "summary/2024.csv" || items[2].Name != "a b.txt" {
		t.Fatalf("links with escaped segments: %+v, %v", items, err)
	}
	items, err = downloadItems(&api.DownloadRequest{Type: api.DownloadRange, Template: "http://h/d/x-{00..02}.tar", Subdir: "in/"}, nil)
	if err != nil || len(items) != 3 || items[2] != (downloadItem{Name: "in/x-02.tar", URL: "http://h/d/x-02.tar"}) {
		t.Fatalf("range: %+v, %v", items, err)
	}
	// A target keeps its share only.
	items, err = downloadItems(&api.DownloadRequest{Type: api.DownloadRange, Template: "http://h/d/x-{00..09}.tar"}, func(name string) bool { return name < "x-03" })
	if err != nil || len(items) != 3 || items[2].Name != "x-02.tar" {
		t.Fatalf("a target's share: %+v, %v", items, err)
	}

	for _, tc := range []struct{ value, want string }{
		{"-5s", "must be positive"},
		{"0s", "must be positive"},
		{"soon", "invalid duration"},
		{"87600h", "longer than 24h0m0s"},
	} {
		if err := checkTimeout("timeout", tc.value, maxFileTimeout); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("timeout %q: %v, want an error naming %q", tc.value, err, tc.want)
		}
	}
	if err := checkTimeout("timeout", "30s", maxFileTimeout); err != nil {
		t.Errorf("timeout 30s: %v", err)
	}
}

// manyLinks makes n distinct links of 100 bytes each.
func manyLinks(n int) []string {
	links := make([]string, n)
	for i := range links {
		links[i] = fmt.Sprintf("http://h/%080d/%07d", 0, i)
	}
	return links
}

// A backend download (a prefetch by another name) counts as a download:
// objects cached already are skipped, those gone from the listing failed.
func TestBackendDownloadCounts(t *testing.T) {
	nodes := []api.NodeStatus{{ID: "t1", Role: "target", Jobs: []api.JobStatus{{ID: "dl-2", Kind: jobPrefetch, Objects: 4, Targets: []string{"t1"},
		Result: json.RawMessage(`{"fetched":4,"cached":3,"skipped":1,"failed":2}`)}}}}
	s, err := (&Node{}).sumDownload(nodes, "dl-2")
	if err != nil {
		t.Fatal(err)
	}
	if s.Total != 10 || s.Finished != 4 || s.Skipped != 3 || s.Failed != 3 || !s.Done {
		t.Fatalf("a backend download's status: %+v, want 10 in all: 4 fetched, 3 cached (skipped), 3 failed", s)
	}
}

// A download's status counts every target of the job: one that answers
// without the job (restarted while it ran: its part lost; or after it
// ended), has left the cluster or does not answer is named, and a silent
// one keeps the job from done.
func TestDownloadStatusNamesLostParts(t *testing.T) {
	part := func(objects int64) api.JobStatus {
		return api.JobStatus{ID: "dl-1", Kind: "download", Objects: objects, Targets: []string{"t1", "t2", "t3", "t4"},
			Result: json.RawMessage(fmt.Sprintf(`{"total":%d}`, objects))}
	}
	nodes := []api.NodeStatus{
		{ID: "t1", Role: "target", Jobs: []api.JobStatus{part(5)}},
		{ID: "t2", Role: "target"}, // restarted: no record of the job
		// t3 has left the map
	}
	s, err := (&Node{}).sumDownload(nodes, "dl-1")
	if err != nil {
		t.Fatal(err)
	}
	errs := fmt.Sprint(s.Errors)
	if !s.Done || s.Finished != 5 || !strings.Contains(errs, "target t2 has no record") || !strings.Contains(errs, "target t3 has left") || !strings.Contains(errs, "target t4 has left") {
		t.Fatalf("a status with lost parts: %+v", s)
	}
	nodes = append(nodes, api.NodeStatus{ID: "t4", Role: "target", Error: "connection refused"})
	if s, _ := (&Node{}).sumDownload(nodes, "dl-1"); s.Done || !strings.Contains(fmt.Sprint(s.Errors), "target t4 did not answer") {
		t.Fatalf("a status with a silent target: %+v", s)
	}
	// One that restarted while a backend download ran (after its first
	// part started, before its last ended) lost its part: said so. (A
	// download's part resumes: one without it had ended it.)
	timed := func(started, finished int64) api.JobStatus {
		j := part(5)
		j.Kind = "prefetch-listrange"
		j.Started, j.Finished = started, finished
		return j
	}
	restarted := []api.NodeStatus{
		{ID: "t1", Role: "target", Jobs: []api.JobStatus{timed(100, 300)}},
		{ID: "t2", Role: "target", Started: 200},
		{ID: "t3", Role: "target", Jobs: []api.JobStatus{timed(100, 150)}},
		{ID: "t4", Role: "target", Started: 400}, // after the job ended
	}
	s, _ = (&Node{}).sumDownload(restarted, "dl-1")
	if errs := fmt.Sprint(s.Errors); !strings.Contains(errs, "target t2 restarted while the job ran") || !strings.Contains(errs, "its part of the job is lost") ||
		!strings.Contains(errs, "target t4 has no record of the job (it restarted after its part ended)") {
		t.Fatalf("a status with a target restarted while the job ran: %+v", s)
	}
	// One that keeps its ended parts since before the job (t4) and lists
	// none after a restart lost its part too.
	restarted[3].JobsSince = map[string]int64{"": 50}
	s, _ = (&Node{}).sumDownload(restarted, "dl-1")
	if errs := fmt.Sprint(s.Errors); !strings.Contains(errs, "target t4 restarted while the job ran") {
		t.Fatalf("a status with a target keeping its parts restarted after the others ended: %+v", s)
	}
	restarted[3].JobsSince = nil
	for i := range restarted {
		for k := range restarted[i].Jobs {
			restarted[i].Jobs[k].Kind = "download"
		}
	}
	s, _ = (&Node{}).sumDownload(restarted, "dl-1")
	if errs := fmt.Sprint(s.Errors); strings.Contains(errs, "lost") || !strings.Contains(errs, "target t2 has no record of the job (it restarted after its part ended)") {
		t.Fatalf("a download's status with a target restarted after its part ended: %+v", s)
	}
	// A target still starting resumes its part then: not done.
	nodes[1].Starting = true
	if s, _ := (&Node{}).sumDownload(nodes[:2], "dl-1"); s.Done || !strings.Contains(fmt.Sprint(s.Errors), "target t2 is starting") {
		t.Fatalf("a status with a target starting: %+v", s)
	}
}

// A target still starting answers an abort or removal of a job it does
// not have with 503, not "no such job": a download it resumes once
// started would escape the abort.
func TestAbortOnATargetStartingIsRefused(t *testing.T) {
	n := &Node{jobs: pipeline.NewJobs(nil), logger: slog.New(slog.DiscardHandler)}
	for _, path := range []string{"/v1/internal/jobs/download-1", "/v1/internal/jobs/download-1?remove=true"} {
		for _, ready := range []bool{false, true} {
			n.ready.Store(ready)
			r := httptest.NewRequest(http.MethodDelete, path, nil)
			r.SetPathValue("id", "download-1")
			w := httptest.NewRecorder()
			n.handleAbortJob(w, r)
			want := http.StatusServiceUnavailable
			if ready {
				want = http.StatusNotFound
			}
			if w.Code != want {
				t.Errorf("DELETE %s (ready %v): %d %s, want %d", path, ready, w.Code, w.Body, want)
			}
		}
	}
	// Any other job is not resumed: not there is not there.
	n.ready.Store(false)
	r := httptest.NewRequest(http.MethodDelete, "/v1/internal/jobs/copies-1", nil)
	r.SetPathValue("id", "copies-1")
	w := httptest.NewRecorder()
	n.handleAbortJob(w, r)
	if w.Code != http.StatusNotFound {
		t.Errorf("DELETE of a job that is not a download on a target starting: %d %s, want 404", w.Code, w.Body)
	}
}
