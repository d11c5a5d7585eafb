package gateway

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/authn"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/internal/errkind"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/shards"
	"github.com/aisgo/aisgo/store"
)

// AIStore's jobs over many objects: bucket summaries, delete and copy by
// list or template, and the query of every job (what=qryxstats). Each runs
// on every active target under one id, over the objects that target holds.

// Kinds of these jobs, as AIStore names them.
const (
	jobSummary       = "summary"
	jobDeleteObjects = "delete-listrange"
	jobCopyBucket    = "copy-bck"
	// jobCopyObjects is a copy of named objects (AIStore's kind for
	// copy-listrange); it runs as copy-bck does.
	jobCopyObjects = "copy-listrange"
)

// listPageSize is how many objects a job lists from its store at a time.
const listPageSize = 1000

// handleQueryJobs answers what=qryxstats: target id → its jobs that the
// query (the JSON body) selects.
func (n *Node) handleQueryJobs(w http.ResponseWriter, r *http.Request) {
	var q api.JobQuery
	if err := decodeBody(r, &q); err != nil {
		n.writeError(w, r, err)
		return
	}
	nodes := n.status(r.Context()).Nodes
	snaps, err := snapsOf(nodes, q)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	if silent := unansweredTargets(nodes); q.ID == "" && len(silent) > 0 {
		// A listing leaves them out: the console says whose parts are
		// not shown (a job read as ended may still run there).
		w.Header().Set(headerUnanswered, strings.Join(silent, ","))
	}
	writeJSON(w, snaps)
}

// headerUnanswered names, in a job listing's answer, the targets in the
// map that did not answer.
const headerUnanswered = "Ais-Unanswered"

// unansweredTargets are the targets of a status that did not answer and
// are not offline in the map (those ran no job since).
func unansweredTargets(nodes []api.NodeStatus) []string {
	var silent []string
	for _, node := range nodes {
		if node.Error != "" && cluster.Role(node.Role).IsTarget() && node.State != string(cluster.StateOffline) {
			silent = append(silent, node.ID)
		}
	}
	return silent
}

// jobSnaps gathers the selected jobs of every target; a query by id that
// finds none is ErrJobNotFound.
func (n *Node) jobSnaps(ctx context.Context, q api.JobQuery) (api.JobSnaps, error) {
	return snapsOf(n.status(ctx).Nodes, q)
}

// everywhere are the kinds of job that run on every target under one id
// (their status names no targets).
var everywhere = map[string]bool{"rebalance": true, "dsort": true}

// snapsOf selects the jobs of q from the nodes' statuses. Each job found
// gets an aborted part for a target of it that left the cluster or
// restarted while it ran, by id or in a listing alike.
func snapsOf(nodes []api.NodeStatus, q api.JobQuery) (api.JobSnaps, error) {
	out := api.JobSnaps{}
	var silent []string
	away := map[string]bool{} // silent and known to be (offline in the map)
	// Per job found: its status as the first target has it, the targets
	// it runs on, and its snaps by target.
	first := map[string]api.JobStatus{}
	named := map[string]map[string]bool{}
	parts := map[string]api.JobSnaps{}
	started := map[string]int64{} // by target: its process start
	kept := map[string]api.NodeStatus{}
	starting := map[string]bool{}
	for _, node := range nodes {
		if !cluster.Role(node.Role).IsTarget() || q.Node != "" && node.ID != q.Node {
			continue
		}
		if node.Error != "" {
			silent = append(silent, node.ID)
			away[node.ID] = node.State == string(cluster.StateOffline)
		} else if node.Starting {
			// Restarted, it lists the jobs it resumes (downloads) once
			// started: not yet one that lost its part.
			starting[node.ID] = true
		} else {
			started[node.ID], kept[node.ID] = node.Started, node
		}
		for _, j := range node.Jobs {
			switch {
			case q.ID != "" && j.ID != q.ID,
				q.Kind != "" && j.Kind != q.Kind,
				q.Bck.Name != "" && j.Bucket != q.Bck.String(),
				q.ShowActive != nil && *q.ShowActive && !j.Running:
				continue
			}
			snap := jobSnap(j)
			out[node.ID] = append(out[node.ID], snap)
			if _, ok := first[j.ID]; !ok {
				first[j.ID], named[j.ID], parts[j.ID] = j, map[string]bool{}, api.JobSnaps{}
			}
			parts[j.ID][node.ID] = append(parts[j.ID][node.ID], snap)
			for _, t := range j.Targets {
				named[j.ID][t] = true
			}
		}
	}
	found := len(first) > 0
	if q.ID != "" && found && everywhere[first[q.ID].Kind] {
		// Any target may run it: one silent may be running its part
		// (one offline in the map ran none of it since).
		for _, id := range silent {
			named[q.ID][id] = !away[id]
		}
	}
	for _, id := range slices.Sorted(maps.Keys(first)) {
		before := map[string]int{}
		for t, snaps := range parts[id] {
			before[t] = len(snaps)
		}
		lostParts(parts[id], first[id], named[id], started, kept)
		if q.Node == "" {
			leftParts(parts[id], first[id], named[id], nodes)
		}
		for t, snaps := range parts[id] {
			out[t] = append(out[t], snaps[before[t]:]...)
		}
	}
	// A target the job runs on (as those that answered name it) that did
	// not answer: its part is unknown, and answered without it, the job
	// would read as ended to a client waiting on the others. With none
	// that has it answering, a target that did not may have it: not
	// found is not known (a client waiting on it would give up), unless
	// that target is offline in the map (its jobs ended with it).
	for id := range starting {
		// Asked by id: waited for, as one that does not answer (unless
		// it lists it, or it is not of a job found).
		if q.ID != "" && (!found || named[q.ID][id]) && len(parts[q.ID][id]) == 0 {
			silent = append(silent, id)
		}
	}
	silent = slices.DeleteFunc(silent, func(id string) bool { return found && !named[q.ID][id] || !found && away[id] })
	if q.ID != "" && len(silent) > 0 {
		return nil, fmt.Errorf("%w: job %s: target %s did not answer; ask again", api.ErrUnavailable, q.ID, strings.Join(silent, ", "))
	}
	if q.ID != "" && !found {
		return nil, fmt.Errorf("%w: %s", api.ErrJobNotFound, q.ID)
	}
	return out, nil
}

// leftParts adds, for each target the job runs on that is no longer in
// the cluster, an aborted part: what it held moved to others that may
// have passed it already. When it left is not known: one that left after
// the job ended everywhere marks it aborted too (run again, a job of
// these kinds redoes what was done), rather than an incomplete job read
// as done.
func leftParts(out api.JobSnaps, job api.JobStatus, named map[string]bool, nodes []api.NodeStatus) {
	for id := range named {
		if !named[id] || slices.ContainsFunc(nodes, func(n api.NodeStatus) bool { return n.ID == id }) {
			continue
		}
		// Idle, and ended when it was looked at: AIStore's clients wait
		// for every part idle (wait_for_idle), or ended.
		cause := fmt.Sprintf("target %s has left the cluster: whether its part was done is not known; run the job again", id)
		out[id] = append(out[id], api.JobSnap{ID: job.ID, Kind: job.Kind, Aborted: true, IsIdle: true, AbortErr: cause, Err: cause,
			StartTime: time.Unix(0, job.Started), EndTime: partsEnded(out, job.Started)})
	}
}

// partsEnded is when the parts of out last ended, or when the job began
// if none did (a time for a part whose end is not known).
func partsEnded(out api.JobSnaps, started int64) time.Time {
	end := time.Unix(0, started)
	for _, snaps := range out {
		for _, j := range snaps {
			if j.EndTime.After(end) {
				end = j.EndTime
			}
		}
	}
	return end
}

// md5Bucket reports a bucket whose checksum is MD5.
func md5Bucket(md *store.BucketMetadata, b store.Bucket) bool {
	if md == nil {
		return false
	}
	props, ok := md.Props(b)
	return ok && store.NormalizeChecksumType(props.Checksum.Type) == store.ChecksumMD5
}

// lostParts adds, for each target the job runs on that answers without
// it and restarted while it ran, an aborted part: whether it did its
// share is not known, and the job must not read as done. A target keeps
// its ended parts across a restart (pipeline.Jobs.Keep) since kept[id]:
// of a job started after that, one it does not list was cut by the
// restart, though the others ended before it. Of an older job, one
// restarted after the job ended everywhere is taken to have done its part.
func lostParts(out api.JobSnaps, job api.JobStatus, named map[string]bool, started map[string]int64, kept map[string]api.NodeStatus) {
	if job.Started <= 0 {
		return
	}
	running, end := false, time.Time{}
	for _, snaps := range out {
		for _, j := range snaps {
			running = running || j.Running
			if j.EndTime.After(end) {
				end = j.EndTime
			}
		}
	}
	for id, since := range started {
		if !named[id] || len(out[id]) > 0 || since <= job.Started {
			continue
		}
		if !running && !end.After(time.Unix(0, since)) && !keptBefore(kept[id], job.Kind, job.Started) {
			continue
		}
		cause := fmt.Sprintf("target %s restarted while the job ran: whether it did its part is not known; run the job again", id)
		out[id] = append(out[id], api.JobSnap{ID: job.ID, Kind: job.Kind, Aborted: true, IsIdle: true, AbortErr: cause, Err: cause,
			StartTime: time.Unix(0, job.Started), EndTime: time.Unix(0, since)})
	}
}

// jobStatus is AIStore's status of one job (GET /v1/cluster?what=status
// with {"id": ...} in the body; its Python client waits on end_time): it
// ends when it ended on every target, in error or aborted when it did so
// on one.
func (n *Node) jobStatus(ctx context.Context, q api.JobQuery) (api.AISJobStatus, error) {
	snaps, err := n.jobSnaps(ctx, q)
	if err != nil {
		return api.AISJobStatus{}, err
	}
	out := api.AISJobStatus{UUID: q.ID, Kind: q.Kind}
	var end time.Time
	running := false
	for _, jobs := range snaps {
		for _, j := range jobs {
			out.Kind = j.Kind
			out.Aborted = out.Aborted || j.Aborted
			if out.Err == "" {
				out.Err = j.Err
			}
			running = running || j.Running
			if j.EndTime.After(end) {
				end = j.EndTime
			}
		}
	}
	if out.Kind == "dsort" {
		// The registry's word (as dSort's own metrics take it): a run
		// stopped while the job waits for a lost target, its parts
		// aborted, is not the job's end.
		if j, ok := n.registeredJob(q.ID); ok {
			switch j.State {
			case membership.JobRunning:
				running, out.Aborted, out.Err = true, false, ""
			case membership.JobFinished:
				out.Aborted, out.Err = false, ""
			case membership.JobAborted:
				out.Aborted, out.Err = true, cmp.Or(j.Cause, out.Err)
			}
		}
	}
	if !running && !end.IsZero() {
		out.EndTime = end.UnixNano()
	}
	return out, nil
}

// jobSnap is a job's status in AIStore's shape.
func jobSnap(j api.JobStatus) api.JobSnap {
	// Idle is not running, as AIStore's clients wait for it.
	s := api.JobSnap{ID: j.ID, Kind: j.Kind, Aborted: j.Aborted, Running: j.Running, IsIdle: !j.Running, Err: j.Error,
		Stats: api.JobSnapStats{Objects: store.Int64String(j.Objects), Bytes: store.Int64String(j.Bytes)}}
	if j.Aborted {
		s.AbortErr = j.Error
	}
	if j.Bucket != "" {
		provider, name, _ := strings.Cut(j.Bucket, "://")
		s.Bck = api.Bck{Name: name, Provider: provider}
	}
	if j.Started > 0 {
		s.StartTime = time.Unix(0, j.Started).UTC()
	}
	if j.Finished > 0 {
		s.EndTime = time.Unix(0, j.Finished).UTC()
	}
	return s
}

// writeJobStarted answers a request that started a job: 202 (summary) or
// 200, with the id in Ais-Xaction-Id and in the body, as AIStore does.
func writeJobStarted(w http.ResponseWriter, status int, id string) {
	w.Header().Set(api.HeaderXactionID, id)
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	io.WriteString(w, id)
}

// Bucket summaries.

// summaryPart is one target's share of a bucket's summary: the objects it
// owns, and the bytes its disks keep of the bucket (every copy).
type summaryPart struct {
	Bucket  store.Bucket `json:"bucket"`
	Objects int64        `json:"objects"`
	Size    int64        `json:"size"`
	OnDisk  int64        `json:"on_disk"`
	Disks   int64        `json:"disks"`
	// The remote's own objects and bytes, of a remote bucket: counted by
	// the job's one writer when asked for (RemoteAsked), which says so
	// (RemoteCounted): a writer of an older build does not, and its
	// zeros are not the remote's.
	RemoteObjects int64 `json:"remote_objects,omitempty"`
	RemoteSize    int64 `json:"remote_size,omitempty"`
	RemoteAsked   bool  `json:"remote_asked,omitempty"`
	RemoteCounted bool  `json:"remote_counted,omitempty"`
}

// summarize counts this target's objects of a bucket (every bucket when b
// is zero) under a prefix; the job's writer counts the remote buckets'
// own objects too when the job asks.
func (n *Node) summarize(ctx context.Context, b store.Bucket, req peer.JobRequest, p *store.Progress) ([]summaryPart, error) {
	prefix := req.Prefix
	md := n.currentBuckets()
	buckets := []store.Bucket{b}
	if b.Name == "" {
		buckets = slices.SortedFunc(maps.Keys(md.Buckets), func(a, b store.Bucket) int { return strings.Compare(a.String(), b.String()) })
	}
	var disks int64
	if capacity, err := n.capacityWithin(ctx); err == nil {
		for _, c := range capacity {
			disks += c.Total
		}
	}
	moved := n.targetsUnchanged(req, "summary", "objects moved between the targets, counted twice or not at all: run the summary again once the rebalance ends")
	out := make([]summaryPart, 0, len(buckets))
	for _, bck := range buckets {
		// An HTTP origin cannot be listed: its count is not known, not 0.
		listable := bck.IsRemote() && bck.Normalize().Provider != store.ProviderHT
		part := summaryPart{Bucket: bck, Disks: disks, RemoteAsked: req.Remote && listable}
		props, _ := md.Props(bck)
		mirrored := props.Mirror.Enabled && props.Mirror.Copies > 1 && n.config.Storage != nil
		err := n.eachLocal(ctx, bck, prefix, func(o store.ObjectMeta) error {
			if err := moved(); err != nil {
				return err
			}
			copies := int64(1)
			if mirrored {
				if c, err := n.config.Storage.Copies(ctx, bck, o.Name); err == nil && len(c) > 0 {
					copies = int64(len(c))
				}
			}
			part.OnDisk += o.Size * copies
			if n.owns(bck, o.Name) {
				part.Objects++
				part.Size += o.Size
			}
			p.Objects.Add(1)
			p.Bytes.Add(o.Size)
			return nil
		})
		if err != nil {
			return nil, err
		}
		// The slices and replicas of erasure-coded objects kept here
		// take the disks too (of objects other targets own).
		err = n.config.Store.WalkParts(ctx, bck, func(pm store.PartMeta) error {
			if !strings.HasPrefix(pm.Name, prefix) {
				return nil
			}
			if err := moved(); err != nil {
				return err
			}
			part.OnDisk += pm.SliceSize
			return nil
		})
		if err != nil {
			return nil, err
		}
		if req.Remote && req.Writer == n.config.ID && listable {
			err := n.eachRemoteObject(ctx, bck, props, prefix, func(o store.ObjectMeta) {
				part.RemoteObjects++
				part.RemoteSize += max(o.Size, 0)
			})
			if err != nil {
				return nil, fmt.Errorf("bucket %s: count the remote's objects (a summary of what is cached, cached:true, lists no remote): %w", bck, err)
			}
			part.RemoteCounted = true
		}
		out = append(out, part)
	}
	return out, nil
}

// owns reports whether this target owns an object by the current map.
func (n *Node) owns(b store.Bucket, name string) bool {
	owner, err := n.currentMap().Owner(cluster.Uname(b.Provider, b.Name, name))
	return err == nil && owner.ID == n.config.ID
}

// eachLocal calls fn on every object of a bucket this target holds under
// a prefix, a page at a time; fn may delete the object.
func (n *Node) eachLocal(ctx context.Context, b store.Bucket, prefix string, fn func(store.ObjectMeta) error) error {
	after := ""
	for {
		objects, err := n.config.Store.List(ctx, b, store.ListOptions{Prefix: prefix, StartAfter: after, Limit: listPageSize})
		if errors.Is(err, store.ErrBucketNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, o := range objects {
			if err := ctx.Err(); err != nil {
				return context.Cause(ctx)
			}
			if err := fn(o); err != nil {
				return err
			}
		}
		if len(objects) < listPageSize {
			return nil
		}
		after = objects[len(objects)-1].Name
	}
}

// handleSummary serves summary-bck on a bucket, or on every bucket when b
// is zero: the first request starts the job and answers 202 with its id;
// a request with the id answers 202 while it runs, then the summary.
func (n *Node) handleSummary(w http.ResponseWriter, r *http.Request, b store.Bucket, value json.RawMessage) {
	var msg api.SummaryMessage
	if err := decodeJSON(value, &msg); err != nil {
		n.writeError(w, r, badRequest("summary-bck: value must be {\"uuid\":...,\"prefix\":...}: %w", err))
		return
	}
	if msg.UUID == "" {
		// AIStore's cached:false (its default) counts the remote's
		// objects too.
		id, err := n.startSummary(r.Context(), b, msg.Prefix, !msg.ObjCached)
		if err != nil {
			n.writeError(w, r, err)
			return
		}
		writeJobStarted(w, http.StatusAccepted, id)
		return
	}
	summaries, done, err := n.collectSummary(r.Context(), msg.UUID)
	switch {
	case err != nil:
		n.writeError(w, r, err)
	case !done:
		writeJobStarted(w, http.StatusAccepted, msg.UUID)
	default:
		// Asked on a bucket, the answer is of that bucket only (a job
		// over every bucket is no way to see the others).
		if b.Name != "" {
			summaries = slices.DeleteFunc(summaries, func(s api.BucketSummary) bool {
				return store.Bucket{Name: s.Name, Provider: s.Provider}.Normalize() != b.Normalize()
			})
		}
		writeJSON(w, summaries)
	}
}

// startSummary starts a summary job on every active target; with remote,
// one of them also counts what the remote buckets hold.
func (n *Node) startSummary(ctx context.Context, b store.Bucket, prefix string, remote bool) (string, error) {
	if b.Name != "" {
		if _, err := n.requestedBucketProps(b); err != nil {
			return "", err
		}
	}
	if prefix != "" {
		if err := store.ValidateName(prefix); err != nil && !strings.HasSuffix(prefix, "/") {
			return "", badRequest("summary-bck: prefix: %w", err)
		}
	}
	req := peer.JobRequest{Kind: jobSummary, Bucket: b, Prefix: prefix}
	// Of one bucket, as AIStore's: a summary of every bucket counts what
	// the cluster holds (one remote's listing, long or failing, would
	// hold up or fail every bucket's).
	if remote && b.IsRemote() {
		smap := n.currentMap()
		if smap == nil {
			return "", fmt.Errorf("%w: node %s is starting", api.ErrUnavailable, n.config.ID)
		}
		// The bucket's own owner lists its remote: summaries of
		// different buckets list from different targets.
		owner, err := smap.Owner(cluster.Uname(b.Provider, b.Name, ""))
		if err != nil {
			return "", fmt.Errorf("%w: summary: %w", api.ErrUnavailable, err)
		}
		req.Remote, req.Writer = true, owner.ID
	}
	// Each target counts what it owns: while a rebalance moves objects,
	// those not moved yet are counted by none. (A target offline, or a
	// disk away, does not stop it: its objects are left out, as it may
	// stay so.)
	if id := rebalanceRunning(n.status(ctx)); id != "" {
		return "", fmt.Errorf("%w: summary: rebalance %s moves objects between the targets, and those not moved yet would be counted by none: retry once it ends", api.ErrUnavailable, id)
	}
	return n.startClusterJob(ctx, req)
}

// rebalanceRunning names a rebalance a target of the status runs, or "".
func rebalanceRunning(status api.ClusterStatus) string {
	for _, node := range status.Nodes {
		for _, j := range node.Jobs {
			if j.Kind == "rebalance" && j.Running && cluster.Role(node.Role).IsTarget() {
				return j.ID
			}
		}
	}
	return ""
}

// collectSummary adds up the targets' parts of a summary job; done is
// false while a target still counts.
func (n *Node) collectSummary(ctx context.Context, id string) (out []api.BucketSummary, done bool, err error) {
	if err := pipeline.ValidateJobID(id); err != nil {
		return nil, false, badRequest("%w", err)
	}
	totals := map[store.Bucket]*api.BucketSummary{}
	remoteAsked, remoteCounted := map[store.Bucket]bool{}, map[store.Bucket]bool{}
	var disks int64
	found := false
	named := map[string]bool{} // the targets the job runs on
	silent := map[string]string{}
	var without []string // answered, without the job
	present := map[string]bool{}
	for _, node := range n.status(ctx).Nodes {
		if !cluster.Role(node.Role).IsTarget() {
			continue
		}
		present[node.ID] = true
		if node.Error != "" {
			silent[node.ID] = node.Error
			continue
		}
		has := false
		for _, j := range node.Jobs {
			if j.ID != id || j.Kind != jobSummary {
				continue
			}
			found, has = true, true
			for _, t := range j.Targets {
				named[t] = true
			}
			if j.Running {
				return nil, false, nil
			}
			if j.Error != "" {
				return nil, false, fmt.Errorf("summary %s on target %s: %w", id, node.ID, jobError(j))
			}
			var parts []summaryPart
			if err := json.Unmarshal(j.Result, &parts); err != nil {
				return nil, false, fmt.Errorf("summary %s on target %s: %w", id, node.ID, err)
			}
			for i, p := range parts {
				if i == 0 {
					disks += p.Disks
				}
				s := totals[p.Bucket]
				if s == nil {
					s = &api.BucketSummary{Name: p.Bucket.Name, Provider: p.Bucket.Provider, IsBckPresent: true}
					totals[p.Bucket] = s
				}
				s.ObjCount.Present += store.Int64String(p.Objects)
				s.TotalSize.PresentObjs += store.Int64String(p.Size)
				s.TotalSize.OnDisk += store.Int64String(p.OnDisk)
				s.ObjCount.Remote += store.Int64String(p.RemoteObjects)
				s.TotalSize.RemoteObjs += store.Int64String(p.RemoteSize)
				remoteAsked[p.Bucket] = remoteAsked[p.Bucket] || p.RemoteAsked
				remoteCounted[p.Bucket] = remoteCounted[p.Bucket] || p.RemoteCounted
			}
		}
		if !has {
			without = append(without, node.ID)
		}
	}
	if !found && len(silent) > 0 {
		// Those silent may be the ones that have it.
		return nil, false, fmt.Errorf("%w: summary %s: target %s did not answer", api.ErrUnavailable, id, strings.Join(slices.Sorted(maps.Keys(silent)), ", "))
	}
	if !found {
		return nil, false, fmt.Errorf("%w: %s", api.ErrJobNotFound, id)
	}
	// A target the job runs on that is silent, or answers without its
	// part (restarted since: jobs live in memory), leaves the totals
	// short: not a summary. One the job does not run on (joined since,
	// or away when it started) is not waited for.
	for _, t := range slices.Sorted(maps.Keys(silent)) {
		if named[t] {
			return nil, false, fmt.Errorf("%w: summary %s: target %s: %s", api.ErrUnavailable, id, t, silent[t])
		}
	}
	for _, t := range without {
		if named[t] {
			// For good (not a 503 to retry): the part is not coming back.
			return nil, false, fmt.Errorf("%w: summary %s: target %s no longer has its part (it restarted): run the summary again", api.ErrConflict, id, t)
		}
	}
	// Nor is one that left the cluster: its objects moved to targets
	// that may have counted already. (Not in this gateway's map, it may
	// have joined since: the map is asked for again first.)
	for _, t := range slices.Sorted(maps.Keys(named)) {
		if present[t] {
			continue
		}
		if err := n.control.Refresh(ctx); err != nil {
			return nil, false, fmt.Errorf("%w: summary %s: target %s is not in this gateway's map, and the primary's could not be had: %w", api.ErrUnavailable, id, t, err)
		}
		if _, ok := n.currentMap().Node(t); ok {
			return nil, false, fmt.Errorf("%w: summary %s: target %s joined after this gateway's map: ask again", api.ErrUnavailable, id, t)
		}
		return nil, false, fmt.Errorf("%w: summary %s: target %s has left the cluster, its objects moved to others that may have counted already: run the summary again", api.ErrConflict, id, t)
	}
	for b, asked := range remoteAsked {
		if asked && !remoteCounted[b] {
			return nil, false, fmt.Errorf("%w: summary %s: the remote objects of %s were not counted (the target picked to count them is of an older build): run the summary again once every target is upgraded, or with cached:true", api.ErrConflict, id, b)
		}
	}
	out = make([]api.BucketSummary, 0, len(totals))
	for _, b := range slices.SortedFunc(maps.Keys(totals), func(a, b store.Bucket) int { return strings.Compare(a.String(), b.String()) }) {
		s := totals[b]
		s.TotalSize.Disks = store.Int64String(disks)
		s.UsedPct = uint64(percent(int64(s.TotalSize.OnDisk), disks))
		out = append(out, *s)
	}
	return out, true, nil
}

// Delete and copy by list or template.

// listRangeRequest fills a job request with the objects a list-range
// value names: a list, a template with ranges, or a prefix (a template
// without ranges).
func listRangeRequest(req peer.JobRequest, lr api.ListRange) (peer.JobRequest, error) {
	switch {
	case len(lr.ObjNames) > 0 && lr.Template != "":
		return req, badRequest("%s: give objnames or template, not both", req.Kind)
	case len(lr.ObjNames) > 0:
		for _, name := range lr.ObjNames {
			if err := store.ValidateName(name); err != nil {
				return req, badRequest("%s: objnames: %w", req.Kind, err)
			}
		}
		req.Names = lr.ObjNames
	case lr.Template != "":
		t, err := shards.ParseTemplate(lr.Template)
		if err != nil {
			return req, badRequest("%s: template: %w", req.Kind, err)
		}
		if t.IsRange() && !t.Bounded() {
			return req, badRequest("%s: template %q counts up without end (the %%d form names output shards only): give a range, such as {0000..0999}", req.Kind, lr.Template)
		}
		if t.IsRange() {
			req.Template = lr.Template
		} else {
			req.Prefix = t.Prefix()
		}
	}
	return req, nil
}

// eachSelected calls fn on every object a job selects: its names, its
// template's names, or the objects this target holds under its prefix.
func (n *Node) eachSelected(ctx context.Context, b store.Bucket, req peer.JobRequest, fn func(name string) error) error {
	each := func(name string) error {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		return fn(name)
	}
	switch {
	case len(req.Names) > 0:
		for _, name := range req.Names {
			if err := each(name); err != nil {
				return err
			}
		}
	case req.Template != "":
		t, err := shards.ParseTemplate(req.Template)
		if err != nil {
			return badRequest("template: %w", err)
		}
		for name := range t.Names() {
			if err := each(name); err != nil {
				return err
			}
		}
	default:
		return n.eachLocal(ctx, b, req.Prefix, func(o store.ObjectMeta) error { return fn(o.Name) })
	}
	return nil
}

// deleteSelected removes the selected objects this target holds, stamped
// like any delete. The owner of a name leaves its tombstone (a copy may
// be on its way there) and deletes it from the remote store of a remote
// bucket; every other target only drops a copy it holds, so that a
// range of names nobody has costs each target no files.
func (n *Node) deleteSelected(ctx context.Context, b store.Bucket, req peer.JobRequest, p *store.Progress) (any, error) {
	// A tombstone guards against a copy elsewhere coming here later: one
	// moving, or on a target away. With none, a template of ten million
	// names a bucket never had costs its owners no files.
	tombstones := n.copiesMayBeElsewhere(ctx)
	moved := n.targetsUnchanged(req, fmt.Sprintf("delete from %s", b), "objects moving then may be left; run it again once the rebalance ends")
	// The parts sweep below deletes what was there when the job began:
	// an object written since, whose owner's walk passed its name, stays.
	began := n.stamp()
	removed, err := n.removeSelected(ctx, b, req, p, n.config.Store, func(name string) store.DeleteOptions {
		if n.owns(b, name) {
			return store.DeleteOptions{Stamp: n.stamp(), Tombstone: tombstones}
		}
		return store.DeleteOptions{Stamp: n.stamp(), LocalOnly: true}
	})
	if err == nil && b.IsRemote() && len(req.Names) == 0 && req.Template == "" {
		// By prefix, a remote bucket's objects are the remote's: those
		// not cached anywhere go too, each deleted by its owner.
		var more int
		more, err = n.deleteRemoteByPrefix(ctx, b, req.Prefix, tombstones, p)
		removed += more
	}
	if err == nil && len(req.Names) == 0 && req.Template == "" {
		// An erasure-coded object whose owner lost its replica is parts
		// alone until restored: no target lists it, and its parts would
		// bring it back.
		var more int
		more, err = n.deletePartsOnlyByPrefix(ctx, b, req.Prefix, began, p)
		removed += more
	}
	if err == nil {
		err = moved()
	}
	return map[string]int{"deleted": removed}, err
}

// deletePartsOnlyBatch is how many names a holder sends an owner at once:
// each costs the owner a tombstone and a removal of every part.
const deletePartsOnlyBatch = 256

// deletePartsOnlyByPrefix has the owners delete, as of began, the
// erasure-coded objects under a prefix whose parts of a write before
// began this target still holds once its own objects are deleted: those
// an owner deleted took their parts with them, and those left are
// objects no target listed (their replica lost). Parts of a later write
// are another object's, which stays.
func (n *Node) deletePartsOnlyByPrefix(ctx context.Context, b store.Bucket, prefix string, began store.Stamp, p *store.Progress) (int, error) {
	props, err := n.bucketProps(b)
	if err != nil || !props.EC.Enabled {
		return 0, nil
	}
	removed := 0
	byOwner := map[string][]string{}
	pending := 0
	flush := func() error {
		smap := n.currentMap()
		for id, names := range byOwner {
			owner, ok := smap.Node(id)
			if !ok {
				continue
			}
			var got int
			var err error
			if id == n.config.ID {
				for _, name := range names {
					derr := n.config.Store.Delete(ctx, b, name, store.DeleteOptions{Stamp: began, Tombstone: true})
					switch {
					case derr == nil:
						got++
					case !errors.Is(derr, store.ErrNotFound) && !errors.Is(derr, store.ErrExists):
						err = derr
					}
				}
			} else {
				// An owner's removal of a batch takes longer than a
				// control call; the walk of every part, longer still.
				callCtx, cancel := context.WithTimeout(ctx, removeTimeout)
				got, err = n.peer.Remove(callCtx, owner, b, peer.RemoveRequest{Names: names, Stamp: began})
				cancel()
			}
			if err != nil {
				return fmt.Errorf("delete the objects of %s held as parts alone (owner %s): %w", b, id, err)
			}
			removed += got
			p.Objects.Add(int64(got))
		}
		clear(byOwner)
		pending = 0
		return nil
	}
	seen := map[string]bool{}
	err = n.local.WalkParts(ctx, b, func(part store.PartMeta) error {
		if !strings.HasPrefix(part.Name, prefix) || seen[part.Name] || part.Stamp.Compare(began) > 0 {
			return nil
		}
		seen[part.Name] = true
		owner, err := n.currentMap().Owner(cluster.Uname(b.Provider, b.Name, part.Name))
		if err != nil {
			return err
		}
		byOwner[owner.ID] = append(byOwner[owner.ID], part.Name)
		if pending++; pending >= deletePartsOnlyBatch {
			clear(seen) // (bounded: a name sent twice is deleted once)
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if errors.Is(err, store.ErrBucketNotFound) {
		err = nil
	}
	return removed, err
}

// deleteRemoteByPrefix deletes the objects of a remote bucket's listing
// under a prefix that this target owns.
func (n *Node) deleteRemoteByPrefix(ctx context.Context, b store.Bucket, prefix string, tombstones bool, p *store.Progress) (int, error) {
	props, err := n.bucketProps(b)
	if err != nil {
		return 0, err
	}
	removed := 0
	err = n.eachRemote(ctx, b, props, prefix, func(name string) error {
		if store.ValidateName(name) != nil || !n.owns(b, name) {
			return nil // an S3 "folder" ("photos/"), "a//b": not this cluster's to name
		}
		err := n.config.Store.Delete(ctx, b, name, store.DeleteOptions{Stamp: n.stamp(), Tombstone: tombstones})
		switch {
		case err == nil:
			removed++
			p.Objects.Add(1)
		case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrExists):
			// (ErrExists: written after the delete's stamp, it stays.)
		default:
			return fmt.Errorf("delete %s/%s: %w", b, name, err)
		}
		return nil
	})
	return removed, err
}

// copiesMayBeElsewhere reports a rebalance under way or lately (this
// target's, or another's: asked now), or a target that is not active
// (offline, in maintenance, leaving): a copy of a name may then be on
// another target than its owner.
func (n *Node) copiesMayBeElsewhere(ctx context.Context) bool {
	if n.rebalancingNow(ctx) {
		return true
	}
	m := n.currentMap()
	if m == nil {
		return true
	}
	for _, t := range m.Targets() {
		if t.State != cluster.StateActive {
			return true
		}
	}
	return false
}

// removeSelected deletes the selected objects from a store (the node's,
// or the local one beneath a remote bucket's cache) and counts them.
func (n *Node) removeSelected(ctx context.Context, b store.Bucket, req peer.JobRequest, p *store.Progress, st store.Store, opts func(name string) store.DeleteOptions) (int, error) {
	removed := 0
	err := n.eachSelected(ctx, b, req, func(name string) error {
		err := st.Delete(ctx, b, name, opts(name))
		switch {
		case err == nil:
			removed++
			p.Objects.Add(1)
		case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrExists), errors.Is(err, store.ErrInvalidName):
		default:
			return fmt.Errorf("remove %s/%s: %w", b, name, err)
		}
		return nil
	})
	return removed, err
}

// copySelected copies the selected objects this target owns to the
// destination bucket, each to its owner there.
func (n *Node) copySelected(ctx context.Context, src store.Bucket, req peer.JobRequest, p *store.Progress) (any, error) {
	dst := req.To.Normalize()
	client := n.clusterClient()
	copied := 0
	moved := n.targetsUnchanged(req, fmt.Sprintf("copy %s to %s", src, dst), "objects moving then may not be copied; run it again once the rebalance ends (the copies made are overwritten alike)")
	err := n.eachSelected(ctx, src, req, func(name string) error {
		if err := moved(); err != nil {
			return err
		}
		if !n.owns(src, name) {
			return nil // its owner copies it
		}
		if req.DryRun {
			// Counted from its metadata: an open of a remote bucket's
			// object not cached would fetch it.
			meta, err := n.config.Store.Head(ctx, src, name)
			if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidName) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("copy %s/%s (dry run): %w", src, name, err)
			}
			copied++
			p.Objects.Add(1)
			p.Bytes.Add(meta.Size)
			return nil
		}
		obj, err := n.config.Store.Open(ctx, src, name, store.OpenOptions{})
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidName) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("copy %s/%s: %w", src, name, err)
		}
		defer obj.Close()
		meta := obj.Meta()
		// The copy is the user's object: not a dSort job's output (its
		// cleanup would take it), nor a cache of the source's remote
		// (a validated read would find it another version). The PUT is
		// a node's, whose reserved keys the owner would keep. The S3
		// ETag and parts describe the same bytes: they stay, in an
		// ais:// copy (a remote's write-through has its own).
		custom := maps.Clone(meta.Custom)
		maps.DeleteFunc(custom, func(key, _ string) bool {
			sameBytes := key == store.CustomETag || key == "s3.mp-parts" || key == "s3.mp-sizes"
			return reservedCustom(key) && (!sameBytes || dst.IsRemote())
		})
		if etag := store.ETagOf(meta); meta.Checksum.Value == "" && etag != "" && custom[store.CustomETag] == "" && !dst.IsRemote() && !md5Bucket(n.currentBuckets(), dst) {
			// Nor does the ETag of an object without checksum (its
			// write's stamp): a shard's index, copied with it, holds it.
			// (Not into a bucket of MD5s: there the ETag is the MD5, as
			// S3 clients check.)
			if custom == nil {
				custom = map[string]string{}
			}
			custom[store.CustomETag] = etag
		}
		if _, err := client.Put(ctx, dst.String(), name, obj, api.PutOptions{Size: meta.Size, Checksum: meta.Checksum, Custom: custom}); err != nil {
			return fmt.Errorf("copy %s/%s to %s: %w", src, name, dst, err)
		}
		copied++
		p.Objects.Add(1)
		p.Bytes.Add(meta.Size)
		afterCopy()
		return nil
	})
	if err == nil {
		err = moved()
	}
	return map[string]int{"copied": copied}, err
}

// targetsUnchanged returns a check that the cluster's active targets are
// still those the gateway started a job on (req.Targets). Each target
// does its part by what it owns: with the targets changed, an object
// moving then is done by none, and the job must not report success
// (what: the job; then: what it means, what to do).
func (n *Node) targetsUnchanged(req peer.JobRequest, what, then string) func() error {
	started := slices.Sorted(slices.Values(req.Targets))
	if len(started) == 0 { // a job of an older gateway: this map's
		for _, t := range n.currentMap().ActiveTargets() {
			started = append(started, t.ID)
		}
		slices.Sort(started)
	}
	checked := int64(-1) // the map version last found the same
	return func() error {
		now := n.currentMap()
		if now.Version == checked {
			return nil // asked per object: the targets are read once per map
		}
		ids := make([]string, 0, len(started))
		for _, t := range now.ActiveTargets() {
			ids = append(ids, t.ID)
		}
		if slices.Sort(ids); !slices.Equal(ids, started) {
			return fmt.Errorf("%w: %s: the cluster's targets changed during the job (it started on %d targets; map version %d has %d, not all the same): %s",
				api.ErrConflict, what, len(started), now.Version, len(ids), then)
		}
		checked = now.Version
		return nil
	}
}

// afterCopy is called after each object a copy job copies (a variable
// for the tests).
var afterCopy = func() {}

// handleDeleteListRange serves delete-listrange and evict-listrange on a
// bucket: a job on every target; the answer is its id.
func (n *Node) handleDeleteListRange(w http.ResponseWriter, r *http.Request, b store.Bucket, msg api.ActionMessage) {
	n.startListRangeJob(w, r, b, msg, jobDeleteObjects, true)
}

// settledForPrefixDelete refuses a delete by prefix while objects move or
// a target or a disk is away: each target deletes what it lists, so a
// copy none of them lists (moving, or on what is away) would come back
// after the delete, with no tombstone to stop it. Names (a list, a
// template) leave tombstones at their owners and need no such wait.
func (n *Node) settledForPrefixDelete(ctx context.Context, req peer.JobRequest) error {
	if req.Kind != jobDeleteObjects || len(req.Names) > 0 || req.Template != "" {
		return nil
	}
	if n.rebalanceEnded(ctx, 0, false) {
		return nil
	}
	return fmt.Errorf("%w: delete by prefix %q: objects are moving, or a target or a disk is away, and a copy no target lists would come back after the delete: retry once the cluster is settled, or name the objects (a list or a template)",
		api.ErrUnavailable, req.Prefix)
}

// settledForOwners refuses a job of an ais bucket done by each object's
// owner from its own disks (a copy, an index) while objects move or a
// target or a disk is away: an object elsewhere (moving, on what is
// away) would be missed by all, the job ending well without it. (A
// remote bucket's owner fetches what it does not hold.)
func (n *Node) settledForOwners(ctx context.Context, req peer.JobRequest, what string) error {
	if req.Bucket.IsRemote() || n.rebalanceEnded(ctx, 0, false) {
		return nil
	}
	return fmt.Errorf("%w: %s %s: objects are moving, or a target or a disk is away, and an object not on its owner would be missed: retry once the cluster is settled",
		api.ErrUnavailable, what, req.Bucket)
}

// startListRangeJob starts a job of a kind on every target over the
// objects a list-range value selects, and answers its id; with required,
// an empty selection (every object) is refused.
func (n *Node) startListRangeJob(w http.ResponseWriter, r *http.Request, b store.Bucket, msg api.ActionMessage, kind string, required bool) {
	var lr api.ListRange
	if err := decodeJSON(msg.Value, &lr); err != nil {
		n.writeError(w, r, badRequest("%s: value must be {\"objnames\":[...]} or {\"template\":\"...\"}: %w", msg.Action, err))
		return
	}
	if required && len(lr.ObjNames) == 0 && lr.Template == "" {
		n.writeError(w, r, badRequest("%s: give objnames or a template (a template without ranges is a prefix)", msg.Action))
		return
	}
	req, err := listRangeRequest(peer.JobRequest{Kind: kind, Bucket: b}, lr)
	if err == nil && required && len(req.Names) == 0 && req.Template == "" && req.Prefix == "" {
		// ("*", a template of no range, reads as the empty prefix.)
		err = badRequest("%s: template %q selects every object: give objnames, a range or a prefix", msg.Action, lr.Template)
	}
	if err == nil && kind == jobPrefetch && b.Normalize().Provider == store.ProviderHT && len(req.Names) == 0 && req.Template == "" {
		// Listed, the origin's names would read as none: done, nothing
		// fetched.
		err = badRequest("%s: the origin of %s cannot be listed: name the objects, or give a template with ranges", msg.Action, b)
	}
	if err == nil {
		_, err = n.requestedBucketProps(b)
	}
	if err == nil {
		err = n.settledForPrefixDelete(r.Context(), req)
	}
	if err == nil && kind == jobIndexShards {
		err = n.settledForOwners(r.Context(), req, "index of the shards of")
	}
	n.startJobAnswering(w, r, req, err)
}

// startJobAnswering starts a cluster job unless the request was refused
// (err), and answers its id or the error.
func (n *Node) startJobAnswering(w http.ResponseWriter, r *http.Request, req peer.JobRequest, err error) {
	var id string
	if err == nil {
		id, err = n.startClusterJob(r.Context(), req)
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	writeJobStarted(w, http.StatusOK, id)
}

// handleCopyBucket serves copy-bck and copy-listrange: the destination is
// the bck_to query (or the message's name); it is made with the source's
// props when missing.
func (n *Node) handleCopyBucket(w http.ResponseWriter, r *http.Request, src store.Bucket, msg api.ActionMessage) {
	var value api.CopyBucketMessage
	if err := decodeJSON(msg.Value, &value); err != nil {
		n.writeError(w, r, badRequest("%s: value: %w", msg.Action, err))
		return
	}
	fallback := msg.Name
	if value.ToBck.Name != "" {
		fallback = value.ToBck.String()
	}
	dst, err := bucketTo(r.URL.Query().Get(api.QueryBucketTo), fallback)
	switch {
	case err != nil:
	case value.ToBck.Name != "" && value.ToBck.CheckNamespace() != nil:
		err = fmt.Errorf("%s: tobck: %w", msg.Action, value.ToBck.CheckNamespace())
	case value.Prepend != "":
		err = badRequest("%s: prepend (a prefix for the copies' names) is not supported: the copies keep the names", msg.Action)
	case value.LatestVer || value.Sync:
		err = badRequest("%s: latest-ver and synchronize are not supported", msg.Action)
	}
	if err == nil && dst == src {
		err = badRequest("%s: the destination is the source bucket %s", msg.Action, src)
	}
	if err == nil && dst.Provider == store.ProviderHT {
		err = badRequest("%s: %s is an HTTP origin's bucket, filled by reading its objects: it takes no writes", msg.Action, dst)
	}
	if err == nil {
		err = n.authorizeBucket(r, authn.PermPut, dst)
	}
	req := peer.JobRequest{Kind: jobCopyBucket, Bucket: src, To: dst, Prefix: value.Prefix, DryRun: value.DryRun}
	if err == nil {
		if value.Prefix != "" && (len(value.ObjNames) > 0 || value.Template != "") {
			err = badRequest("%s: give a prefix, objnames or a template, not two", msg.Action)
		} else if req, err = listRangeRequest(req, value.ListRange); err == nil && req.Prefix == "" {
			req.Prefix = value.Prefix
		}
	}
	if err == nil && msg.Action == api.ActionCopyListRange && len(req.Names) == 0 && req.Template == "" && req.Prefix == "" {
		err = badRequest("%s: give objnames or a template", msg.Action)
	}
	if presence := r.URL.Query().Get(api.QueryPresence); err == nil && src.IsRemote() && presence != "" && len(req.Names) == 0 && req.Template == "" {
		// A walk by prefix reads what the cluster holds (names given are
		// fetched): asked for the remote's objects not in it too (ais cp
		// --all), it must not answer done with a part of them.
		switch presence {
		case "2", "3", "4": // AIStore's FltPresent, FltPresentNoProps, FltPresentCluster
		case "0", "1", "5": // FltExists, FltExistsNoProps, FltExistsOutside
			err = fmt.Errorf("%w: %s of remote bucket %s with presence=%s (objects not in the cluster): prefetch them first (ais prefetch), then copy what the cluster holds", api.ErrNotImplemented, msg.Action, src, presence)
		default:
			err = badRequest("%s: presence=%q: want 0 to 5", msg.Action, presence)
		}
	}
	if msg.Action == api.ActionCopyListRange {
		req.Kind = jobCopyObjects
	}
	var props store.Props
	if err == nil {
		props, err = n.requestedBucketProps(src)
	}
	if err == nil {
		err = n.settledForOwners(r.Context(), req, "copy of")
	}
	if err == nil && !value.DryRun {
		if _, missing := n.requestedBucketProps(dst); missing != nil {
			// A destination made by the copy is a bucket the caller
			// creates: it needs the right to, and gets the source's props
			// but where a remote bucket's data is (an admin's to say).
			err = n.authorizeBucket(r, authn.PermCreateBucket, dst)
			switch {
			case err != nil:
			case dst.IsRemote():
				remoteProps := store.DefaultRemoteProps(dst)
				err = n.addRemoteBucket(r.Context(), dst, &remoteProps)
			default:
				props.Created, props.BID, props.Extra = 0, 0, nil
				// A remote source's LRU is not for the only copy.
				props.LRU = store.DefaultProps().LRU
				if err = n.checkProtection(r.Context(), nil, props); err == nil {
					err = n.createBucket(r.Context(), dst, props)
				}
			}
			// Made meanwhile (another copy into it, a gateway's
			// create): the copy goes into it as it is.
			if errors.Is(err, store.ErrBucketExists) {
				err = nil
			}
		}
	}
	// A dry run is a job too: AIStore's clients wait on its id, and read
	// what it would copy from its counts.
	var id string
	if err == nil {
		id, err = n.startClusterJob(r.Context(), req)
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	writeJobStarted(w, http.StatusOK, id)
}

// bucketTo reads a destination bucket: "name", "ais://name", or AIStore's
// "ais/@#/name/"; fallback when the query is empty.
func bucketTo(query, fallback string) (store.Bucket, error) {
	s := query
	if s == "" {
		s = fallback
	}
	if s == "" {
		return store.Bucket{}, badRequest("the destination bucket is missing (query %s)", api.QueryBucketTo)
	}
	b := store.NewBucket(s)
	if strings.Contains(s, "://") {
		var err error
		if b, err = store.ParseBucketURI(s); err != nil {
			return b, badRequest("%s: %w", api.QueryBucketTo, err)
		}
	} else if parts := strings.Split(strings.TrimSuffix(s, "/"), "/"); len(parts) == 3 && (parts[1] == store.GlobalNamespace || parts[1] == "") {
		b = store.Bucket{Provider: parts[0], Name: parts[2]}
	}
	b = b.Normalize()
	if err := b.Validate(); err != nil {
		return b, err
	}
	return b, nil
}

// jobErrorKinds name the errors jobs end with (JobStatus.ErrorKind): a
// refusal first (a remote the dial guard refused is unreachable too, and
// the refusal holds), then api.Kinds.
var jobErrorKinds = slices.Concat(errkind.Table{{Name: api.KindForbidden, Err: api.ErrForbidden}}, api.Kinds,
	// The store's conditions a node answers 503 for, which have no kind
	// of their own: a job that ended on one did not fail inside (500).
	// (Sealed and placement-changed have theirs: see jobError.)
	errkind.Table{
		{Name: api.KindUnavailable, Err: store.ErrUnreached},
		{Name: api.KindUnavailable, Err: store.ErrBucketBehind},
	})

// jobError is the error a job ended with on a node, of the kind it said
// (a bucket gone answers 404, a remote refusing 403), or of none (500).
// A remote unreachable is 502, not 503: the job has ended, and a poll
// sent again (as clients do on a 503) answers the same; a new job may
// do better.
func jobError(j api.JobStatus) error {
	kind := jobErrorKinds.Err(j.ErrorKind)
	switch kind {
	case store.ErrRemote, api.ErrUnavailable, store.ErrInvalidToken, store.ErrBucketSealed, store.ErrPlacementChanged:
		// (An invalid token is the remote's own: a job walks its pages.)
		kind = api.ErrBadGateway
	}
	return remoteJobError{message: j.Error, kind: kind}
}

// remoteJobError is an error that crossed nodes as text: its message as
// said, its kind's sentinel for errors.Is.
type remoteJobError struct {
	message string
	kind    error
}

func (e remoteJobError) Error() string { return e.message }
func (e remoteJobError) Unwrap() error { return e.kind }
