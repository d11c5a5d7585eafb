package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
)

// Retry-After is read as seconds or an HTTP date, bounded, and a value
// that is neither asks for no wait.
func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{" 3 ", 3 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"3600", maxRetryAfter},
		{"99999999999999999999", 0}, // not a number Go can hold: unreadable
		{"9223372036854775807", maxRetryAfter},
		{now.Add(10 * time.Second).Format(http.TimeFormat), 10 * time.Second},
		{now.Add(-10 * time.Second).Format(http.TimeFormat), 0},
		{now.Add(24 * time.Hour).Format(http.TimeFormat), maxRetryAfter},
		{"soon", 0},
	} {
		if got := originRetryAfter(tc.header, now); got != tc.want {
			t.Errorf("Retry-After %q: %s, want %s", tc.header, got, tc.want)
		}
	}
}

// The list of every download keeps each job's first failed files, the
// errors of the job itself (a target's counts not in), and counts the
// files left out from the job's count of failures.
func TestListedDownload(t *testing.T) {
	s := api.DownloadStatus{ID: "download-1", Failed: 40}
	for i := range 20 {
		s.Errors = append(s.Errors, api.DownloadFailed{Name: fmt.Sprintf("f-%02d", i), Error: "404"})
	}
	s.Errors = append(s.Errors,
		api.DownloadFailed{Error: "t1: 20 " + moreFilesFailed},
		api.DownloadFailed{Error: "target t2 did not answer, its part of the job is not counted: timeout"})
	got := listedDownload(s).Errors
	if len(got) != 12 || got[9].Name != "f-09" || !strings.HasPrefix(got[10].Error, "target t2 did not answer") || got[11].Error != "30 more files failed: see the job's status (?id=download-1)" {
		t.Fatalf("listed: %+v", got)
	}
}
