package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
)

// The downloader (AIStore's POST /v1/download): files at HTTP(S) URLs
// become objects of a bucket.

// Download job types.
const (
	DownloadSingle = "single"
	DownloadRange  = "range"
	DownloadMulti  = "multi"
	// DownloadBackend fetches a remote bucket's objects (under Prefix)
	// into the cluster: a prefetch.
	DownloadBackend = "backend"
)

// QueryDownloadID names a download job.
const QueryDownloadID = "id"

// DownloadRequest is the body of POST /v1/download.
type DownloadRequest struct {
	Type   string `json:"type"`
	Bucket Bck    `json:"bucket"`
	// Link and ObjectName: a single file (the name defaults to the
	// link's last path segment).
	Link       string `json:"link,omitempty"`
	ObjectName string `json:"object_name,omitempty"`
	// Template: a range of links, e.g. https://host/train-{0000..0999}.tar.
	Template string `json:"template,omitempty"`
	// Objects: object name → link; or Links, a list of links.
	Objects DownloadObjects `json:"objects,omitzero"`
	Links   []string        `json:"links,omitempty"`
	// Prefix selects a remote bucket's objects (backend).
	Prefix string `json:"prefix,omitempty"`
	// Subdir prefixes every object name.
	Subdir string `json:"subdir,omitempty"`
	// Timeout bounds each file (a Go duration; by default none, 24h at
	// most: a file that stalls for 2 minutes is tried again); JobTimeout
	// the whole job (none by default).
	Timeout     string `json:"timeout,omitempty"`
	JobTimeout  string `json:"job_timeout,omitempty"`
	Description string `json:"description,omitempty"`
}

// DownloadObjects reads AIStore's "objects": a map of name → link, or a
// list of links.
type DownloadObjects map[string]string

// UnmarshalJSON accepts a map or a list (the names are the links' last
// segments, resolved with the job).
func (o *DownloadObjects) UnmarshalJSON(data []byte) error {
	var list []string
	if json.Unmarshal(data, &list) == nil {
		m := DownloadObjects{}
		for _, link := range list {
			m[link] = link // a name equal to its link is derived from it
		}
		*o = m
		return nil
	}
	m := map[string]string{}
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("download objects: want {name: link} or [link, ...]: %w", err)
	}
	*o = m
	return nil
}

// DownloadFailed is a file a job could not fetch, and why.
type DownloadFailed struct {
	Name  string `json:"name,omitempty"`
	Link  string `json:"link,omitempty"`
	Error string `json:"error"`
}

// DownloadStatus is a job's progress over every target.
type DownloadStatus struct {
	ID       string           `json:"id"`
	Total    int              `json:"total"`
	Finished int              `json:"finished_cnt"`
	Skipped  int              `json:"skipped_cnt"`
	Bytes    int64            `json:"bytes"`
	Errors   []DownloadFailed `json:"errors"`
	// Failed counts the files that failed, listed in Errors or not
	// (Errors also holds errors of the job, and is bounded).
	Failed  int  `json:"failed_cnt,omitempty"`
	Running bool `json:"running"`
	Aborted bool `json:"aborted"`
	Done    bool `json:"job_finished"`
}

// StartDownload starts a download job and returns its id.
func (c *Client) StartDownload(ctx context.Context, req DownloadRequest) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	err := c.doJSON(ctx, request{method: http.MethodPost, path: "/v1/download", bodyJSON: req, startsJob: true}, &out)
	return out.ID, err
}

// DownloadStatus returns a download job's progress and failures.
func (c *Client) DownloadStatus(ctx context.Context, id string) (DownloadStatus, error) {
	var s DownloadStatus
	err := c.doJSON(ctx, request{method: http.MethodGet, path: "/v1/download", query: url.Values{QueryDownloadID: {id}}, bodyJSON: downloadID{id}}, &s)
	slices.SortFunc(s.Errors, func(a, b DownloadFailed) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return s, err
}

// AbortDownload aborts a download job on every target; what it stored
// stays, nothing half-written does.
func (c *Client) AbortDownload(ctx context.Context, id string) error {
	return c.doJSON(ctx, request{method: http.MethodDelete, path: "/v1/download/abort", query: url.Values{QueryDownloadID: {id}}, bodyJSON: downloadID{id}}, nil)
}

// RemoveDownload forgets an ended download job; a running one is refused
// (ErrConflict).
func (c *Client) RemoveDownload(ctx context.Context, id string) error {
	return c.removeJob(ctx, request{method: http.MethodDelete, path: "/v1/download/remove", query: url.Values{QueryDownloadID: {id}}, bodyJSON: downloadID{id}})
}

// downloadID names a job in AIStore's way, a JSON body (the query names
// it for AIS-Go).
type downloadID struct {
	ID string `json:"id"`
}
