package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/store"
)

// ClusterJob is a job as the cluster runs it: the same id on every node
// that runs it, with their progress summed.
type ClusterJob struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Bucket  string `json:"bucket,omitempty"`
	Running bool   `json:"running"` // on any node
	Aborted bool   `json:"aborted"` // on any node
	Objects int64  `json:"objects"`
	Bytes   int64  `json:"bytes"`
	// Errors are the nodes' errors, each prefixed with the node's id.
	Errors []string `json:"errors,omitempty"`
	// Nodes are the job's state on each node, by node id.
	Nodes map[string]JobStatus `json:"nodes"`
	// Unanswered are the job's targets that did not answer (one
	// restarting resumes its part of a download).
	Unanswered []string `json:"unanswered,omitempty"`
}

// UnansweredGrace is how long a wait for a job goes on, once no node runs
// it, while a target of the job does not answer: a target that restarts
// resumes its part.
var UnansweredGrace = time.Minute

// MinPoll is the shortest poll of a wait: each asks every node.
const MinPoll = 100 * time.Millisecond

// JobWatch tells, poll by poll, whether a wait for a job is over: not
// while the job runs, nor, for UnansweredGrace, while a target of it does
// not answer.
type JobWatch struct {
	silent time.Time
	missed time.Time // the first of the polls failing in a row
}

// Ended reports whether the wait for j is over.
func (w *JobWatch) Ended(j ClusterJob) bool {
	w.missed = time.Time{}
	switch {
	case j.Running:
		w.silent = time.Time{}
		return false
	case len(j.Unanswered) == 0:
		return true
	case w.silent.IsZero():
		w.silent = time.Now()
	}
	return time.Since(w.silent) > UnansweredGrace
}

// Missed reports whether a poll that failed with err is to be tried
// again: a cluster that does not answer for a while (a gateway
// restarting, a target of the job busy) is waited for, UnansweredGrace at
// most, as a job's silent target is.
func (w *JobWatch) Missed(err error) bool {
	if !errors.Is(err, ErrUnavailable) {
		return false
	}
	if w.missed.IsZero() {
		w.missed = time.Now()
	}
	return time.Since(w.missed) <= UnansweredGrace
}

// Jobs returns the cluster's jobs (dSort excepted: see DsortList), the
// newest last.
func (c *Client) Jobs(ctx context.Context) ([]ClusterJob, error) {
	status, err := c.ClusterStatus(ctx)
	if err != nil {
		return nil, err
	}
	return ClusterJobs(status), nil
}

// ClusterJobs gathers the jobs of a cluster status by id. A job that
// names the targets it runs on has an error for each of them that does
// not answer (its part there is unknown), for each that restarted while
// the job ran and has no record of it (its part is lost), and for each
// that has left the cluster (aborted: its part is not known done).
func ClusterJobs(status *ClusterStatus) []ClusterJob {
	byID := map[string]*ClusterJob{}
	started := map[string]int64{}
	// ended is when a job ended last on a node; ended jobs only.
	ended := map[string]int64{}
	targets := map[string]map[string]bool{}
	for _, node := range status.Nodes {
		for _, j := range node.Jobs {
			if j.Kind == "dsort" {
				continue
			}
			for _, t := range j.Targets {
				if targets[j.ID] == nil {
					targets[j.ID] = map[string]bool{}
				}
				targets[j.ID][t] = true
			}
			cj := byID[j.ID]
			if cj == nil {
				cj = &ClusterJob{ID: j.ID, Kind: j.Kind, Bucket: j.Bucket, Nodes: map[string]JobStatus{}}
				byID[j.ID] = cj
				started[j.ID] = j.Started
			}
			cj.Running = cj.Running || j.Running
			cj.Aborted = cj.Aborted || j.Aborted
			cj.Objects += j.Objects
			cj.Bytes += j.Bytes
			if j.Error != "" {
				cj.Errors = append(cj.Errors, node.ID+": "+j.Error)
			}
			cj.Nodes[node.ID] = j
			started[j.ID] = min(started[j.ID], j.Started)
			ended[j.ID] = max(ended[j.ID], j.Finished)
		}
	}
	for _, node := range status.Nodes {
		for id, j := range byID {
			switch {
			case !targets[id][node.ID]:
			case node.Error != "":
				j.Errors = append(j.Errors, node.ID+": did not answer, its part of the job is unknown: "+node.Error)
				j.Unanswered = append(j.Unanswered, node.ID)
			case hasNode(j, node.ID) || node.Started <= started[id]:
			case !j.Running && node.Started >= ended[id] && !(node.KeptSince(j.Kind) > 0 && started[id] > node.KeptSince(j.Kind)):
				// Restarted after the job ended everywhere, keeping no
				// record of its parts from before: it forgot a part done.
			case node.Starting:
				// Restarted, it resumes its jobs (downloads) before it
				// lists them: waited for, as one that did not answer.
				j.Errors = append(j.Errors, node.ID+": is starting: its part of the job (resumed, if it resumes it) is not known yet")
				j.Unanswered = append(j.Unanswered, node.ID)
			default:
				// (One that keeps its ended parts lists a part done.)
				j.Errors = append(j.Errors, node.ID+": restarted while the job ran and has no record of it: its part of the job is lost")
			}
		}
	}
	// A target of a job that is no longer in the cluster: what it held
	// moved to others that may have passed it already. When it left is
	// not known, so the job reads aborted even if it left after the job
	// ended (as the gateway's job status has it).
	for id, j := range byID {
		for t := range targets[id] {
			if !slices.ContainsFunc(status.Nodes, func(n NodeStatus) bool { return n.ID == t }) {
				j.Aborted = true
				j.Errors = append(j.Errors, t+": has left the cluster: whether its part of the job was done is not known; run the job again")
			}
		}
	}
	out := make([]ClusterJob, 0, len(byID))
	for _, j := range byID {
		slices.Sort(j.Errors)
		out = append(out, *j)
	}
	slices.SortFunc(out, func(a, b ClusterJob) int {
		if c := cmp.Compare(started[a.ID], started[b.ID]); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Job returns one cluster job; ErrJobNotFound when no node has it, which
// is ErrUnavailable too when a target did not answer (it may be running
// the job): a wait goes on a while, a lookup of a wrong id is still not
// found.
func (c *Client) Job(ctx context.Context, id string) (ClusterJob, error) {
	status, err := c.jobOnlyStatus(ctx, id)
	if err != nil {
		return ClusterJob{}, err
	}
	for _, j := range ClusterJobs(status) {
		if j.ID == id {
			return j, nil
		}
	}
	var silent []string
	for _, node := range status.Nodes {
		if (node.Error != "" || node.Starting) && cluster.Role(node.Role).IsTarget() {
			silent = append(silent, node.ID)
		}
	}
	if len(silent) > 0 {
		slices.Sort(silent)
		return ClusterJob{}, fmt.Errorf("%w: %s: no node that answered has it, and targets %s did not answer (%w)", ErrJobNotFound, id, strings.Join(silent, ", "), ErrUnavailable)
	}
	return ClusterJob{}, fmt.Errorf("%w: %s", ErrJobNotFound, id)
}

// WaitJob polls a job until it ends on every node, and returns it. A
// target of the job that does not answer is waited for (JobWatch).
func (c *Client) WaitJob(ctx context.Context, id string, poll time.Duration) (ClusterJob, error) {
	var watch JobWatch
	poll = max(poll, MinPoll)
	for {
		j, err := c.Job(ctx, id)
		switch {
		case err != nil && !watch.Missed(err):
			return j, err
		case err == nil && watch.Ended(j):
			return j, nil
		}
		select {
		case <-ctx.Done():
			return j, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// StopJob aborts a job on every node.
func (c *Client) StopJob(ctx context.Context, id string) error {
	value, _ := json.Marshal(map[string]string{"id": id})
	// Slow: a dSort job's stop is answered once every target stopped it
	// (a gateway that froze is still left for another, in time).
	return c.doJSON(ctx, request{method: http.MethodPut, path: "/v1/cluster", bodyJSON: ActionMessage{Action: ActionStopJob, Value: value}, slow: true}, nil)
}

// bucketJob sends a bucket action that starts a job and returns its id.
func (c *Client) bucketJob(ctx context.Context, bucket, action string, value any) (string, error) {
	data, err := json.Marshal(value)
	if err != nil {
		return "", err
	}
	resp, err := c.do(ctx, request{method: http.MethodPost, path: bucketPath(bucket), bodyJSON: ActionMessage{Action: action, Value: data}, startsJob: true})
	if err != nil {
		return "", err
	}
	defer drain(resp)
	id, err := io.ReadAll(io.LimitReader(resp.Body, 256))
	return strings.TrimSpace(string(id)), err
}

// MakeNCopies sets a bucket's number of copies (mirroring when more than
// one) and starts the job that makes or removes copies; it returns the
// job's id.
func (c *Client) MakeNCopies(ctx context.Context, bucket string, copies int) (string, error) {
	return c.bucketJob(ctx, bucket, ActionMakeNCopies, copies)
}

// ECEncode erasure-codes a bucket with the given ec props (data_slices,
// parity_slices, objsize_limit; nil keeps the bucket's) and starts the job
// that stores the parts of its objects; it returns the job's id.
func (c *Client) ECEncode(ctx context.Context, bucket string, props any) (string, error) {
	return c.bucketJob(ctx, bucket, ActionECEncode, props)
}

// Scrub starts the job that checks every object, copy and part of a
// bucket, and with repair fixes what it can; it returns the job's id. The
// counts are in each node's job result (store.ScrubReport).
func (c *Client) Scrub(ctx context.Context, bucket string, repair bool) (string, error) {
	return c.bucketJob(ctx, bucket, ActionScrub, map[string]bool{"repair": repair})
}

// ScrubReport sums the counts of a scrub job over its nodes.
func ScrubReport(j ClusterJob) (store.ScrubReport, error) {
	var sum store.ScrubReport
	for id, node := range j.Nodes {
		if len(node.Result) == 0 {
			continue
		}
		var r store.ScrubReport
		if err := json.Unmarshal(node.Result, &r); err != nil {
			return sum, fmt.Errorf("scrub result of %s: %w", id, err)
		}
		sum.Add(r)
	}
	return sum, nil
}

// Mountpaths returns a target's mountpaths, by the target's URL.
func (c *Client) Mountpaths(ctx context.Context, targetURL string) ([]store.MountpathStatus, error) {
	var out []store.MountpathStatus
	err := c.doJSON(ctx, request{method: http.MethodGet, path: "/v1/daemon/mountpaths", base: targetURL}, &out)
	return out, err
}

// MountpathAction attaches, detaches, enables or disables a mountpath of
// a target (ActionAttachMountpath...); a detach runs as a job whose id it
// returns.
func (c *Client) MountpathAction(ctx context.Context, targetURL, action, path string) (string, error) {
	value, _ := json.Marshal(path)
	resp, err := c.do(ctx, request{method: http.MethodPut, path: "/v1/daemon/mountpaths", base: targetURL, bodyJSON: ActionMessage{Action: action, Value: value}})
	if err != nil {
		return "", err
	}
	defer drain(resp)
	id, err := io.ReadAll(io.LimitReader(resp.Body, 256))
	return strings.TrimSpace(string(id)), err
}

// ObjectLocation is where an object is kept: the copies on its owner's
// mountpaths and the parts (erasure-coded slices or replicas) on other
// targets. GET /v1/objects/B/O?what=location.
type ObjectLocation struct {
	Target string             `json:"target"`
	Copies []store.ObjectCopy `json:"copies"`
	Parts  []PartLocation     `json:"parts,omitempty"`
	// Errors name the targets that could not be asked.
	Errors []string `json:"errors,omitempty"`
}

// PartLocation is one part of an object on a target.
type PartLocation struct {
	Target  string `json:"target"`
	Index   int    `json:"index"`
	Replica bool   `json:"replica"`
	Data    int    `json:"data_slices"`
	Parity  int    `json:"parity_slices"`
	Size    int64  `json:"size"`
	Version string `json:"version,omitempty"`
}

// ObjectLocation tells where an object's copies and parts are.
func (c *Client) ObjectLocation(ctx context.Context, bucket, name string) (*ObjectLocation, error) {
	out := &ObjectLocation{}
	err := c.doJSON(ctx, request{method: http.MethodGet, path: objectPath(bucket, name), query: url.Values{QueryWhat: {"location"}}}, out)
	return out, err
}

// bucketJobWith sends a bucket action with a method and query that starts
// a job, and returns the job's id.
func (c *Client) bucketJobWith(ctx context.Context, method, bucket string, query url.Values, action string, value any) (string, error) {
	data, err := json.Marshal(value)
	if err != nil {
		return "", err
	}
	resp, err := c.do(ctx, request{method: method, path: bucketPath(bucket), query: query, bodyJSON: ActionMessage{Action: action, Value: data}, startsJob: true})
	if err != nil {
		return "", err
	}
	defer drain(resp)
	id, err := io.ReadAll(io.LimitReader(resp.Body, 256))
	return strings.TrimSpace(string(id)), err
}

// DeleteObjects starts the job that removes a bucket's objects by names
// or by template (one without ranges is a prefix); it returns the job's id.
func (c *Client) DeleteObjects(ctx context.Context, bucket string, selection ListRange) (string, error) {
	return c.bucketJobWith(ctx, http.MethodDelete, bucket, nil, ActionDeleteListRange, selection)
}

// CopyBucket starts the job that copies a bucket's objects (all, or those
// the message selects) to another bucket, made with the source's props
// when missing; it returns the job's id.
func (c *Client) CopyBucket(ctx context.Context, from, to string, msg CopyBucketMessage) (string, error) {
	action := ActionCopyBucket
	if len(msg.ObjNames) > 0 || msg.Template != "" {
		action = ActionCopyListRange
	}
	dst, err := store.ParseBucketURI(to) // "name", or with its provider ("s3://name")
	if err != nil {
		return "", err
	}
	return c.bucketJobWith(ctx, http.MethodPost, from, url.Values{QueryBucketTo: {dst.String()}}, action, msg)
}

// BucketSummary counts the objects and bytes of a bucket (every bucket
// when bucket is ""): it starts the summary job msg asks for (its Prefix;
// ObjCached false counts a named remote bucket's own objects too, a
// listing of the remote) and polls until the targets are done.
func (c *Client) BucketSummary(ctx context.Context, bucket string, msg SummaryMessage, poll time.Duration) ([]BucketSummary, error) {
	path := "/v1/buckets/"
	if bucket != "" {
		path = bucketPath(bucket)
	}
	msg.UUID = ""
	poll = max(poll, MinPoll)
	for {
		value, _ := json.Marshal(msg)
		// The first starts the job: its answer waits for every target.
		resp, err := c.do(ctx, request{method: http.MethodGet, path: path, bodyJSON: ActionMessage{Action: ActionSummaryBucket, Value: value}, startsJob: msg.UUID == ""})
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusAccepted {
			msg.UUID = resp.Header.Get(HeaderXactionID)
			drain(resp)
			if msg.UUID == "" {
				return nil, fmt.Errorf("summary of %q: the gateway named no job", bucket)
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(poll):
			}
			continue
		}
		var out []BucketSummary
		err = json.NewDecoder(io.LimitReader(resp.Body, maxJSONAnswer)).Decode(&out)
		drain(resp)
		if err != nil {
			return nil, fmt.Errorf("summary of %q: decode answer: %w", bucket, err)
		}
		return out, nil
	}
}

// Archive starts the job that writes the objects of a bucket that msg
// selects into one shard (msg.ArchName, in msg.ToBck or the same bucket);
// it returns the job's id.
func (c *Client) Archive(ctx context.Context, bucket string, msg ArchiveMessage) (string, error) {
	return c.bucketJobWith(ctx, http.MethodPut, bucket, nil, ActionArchive, msg)
}

// IndexShards starts the job that writes a shard index (formats.Index)
// beside each selected tar shard of a bucket (every one when the
// selection is empty); it returns the job's id.
func (c *Client) IndexShards(ctx context.Context, bucket string, selection ListRange) (string, error) {
	return c.bucketJobWith(ctx, http.MethodPost, bucket, nil, ActionIndexShards, selection)
}

// Prefetch starts the job that fetches the selected objects of a remote
// bucket ("s3://name") into the cluster; it returns the job's id.
func (c *Client) Prefetch(ctx context.Context, bucket string, selection ListRange) (string, error) {
	return c.bucketJobWith(ctx, http.MethodPost, bucket, nil, ActionPrefetch, selection)
}

// Evict starts the job that removes the cluster's cached copies of the
// selected objects of a remote bucket (the remote keeps them); it returns
// the job's id.
func (c *Client) Evict(ctx context.Context, bucket string, selection ListRange) (string, error) {
	return c.bucketJobWith(ctx, http.MethodDelete, bucket, nil, ActionEvictListRange, selection)
}

// hasNode reports whether a node lists its part of j.
func hasNode(j *ClusterJob, id string) bool {
	_, ok := j.Nodes[id]
	return ok
}
