package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
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

// A link to a node of the cluster is refused whether its port is written
// or is its scheme's default, and whether the node's URL names its port.
func TestLinksToTheClustersNodesAreRefused(t *testing.T) {
	m := &cluster.Map{Nodes: []cluster.Node{
		{ID: "t1", Role: cluster.RoleTarget, URL: "https://node1.example:443"},
		{ID: "t2", Role: cluster.RoleTarget, URL: "http://node2.example"},
		{ID: "t3", Role: cluster.RoleTarget, URL: "http://127.0.0.1:8081"},
	}}
	n := &Node{control: &laggingControl{local: membership.Snapshot{Map: m}}}
	for link, refused := range map[string]bool{
		"https://node1.example/x":     true,
		"https://node1.example:443/x": true,
		"http://node1.example/x":      false, // port 80: not the node
		"http://node2.example/x":      true,
		"http://node2.example:80/x":   true,
		"http://localhost:8081/x":     true,
		"http://127.0.0.1:8082/x":     false,
		"https://elsewhere.example/x": false,
	} {
		u, err := url.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		err = n.notClusterNode(linkHostPort(u))
		if got := errors.Is(err, api.ErrForbidden); got != refused {
			t.Errorf("%s: refused %v (%v), want %v", link, got, err, refused)
		}
	}
}
