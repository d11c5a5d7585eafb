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
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/cluster/rebalance"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/internal/atomicfile"
	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/store"
)

// Rebalance (cluster/rebalance) moves objects to their owners when the
// targets change; this file is its HTTP side: the batch stream between
// targets, the run's start on a map change, and reads of objects that
// are still on their old target.

// startRebalance replaces a running rebalance with one for map m.
func (n *Node) startRebalance(m *cluster.Map) {
	if r := n.rebalancer(); r != nil {
		r.Start(m)
	}
}

// rebalancer is the target's rebalance manager; nil on gateways and
// before Start.
func (n *Node) rebalancer() *rebalance.Manager { return n.rebalance.Load() }

// moving reports whether objects may still be moving to or from this
// target (a rebalance ran lately).
func (n *Node) moving() bool {
	r := n.rebalancer()
	return r != nil && r.Recent()
}

// newRebalance returns the target's rebalance manager.
func (n *Node) newRebalance(ctx context.Context) *rebalance.Manager {
	return rebalance.NewManager(ctx, rebalance.ManagerConfig{
		Run: rebalance.Config{
			// The copies as they are here: a remote bucket's cached copy moves
			// without its remote asked (the receiver stores through n.held too).
			Self: n.config.ID, Store: n.held, Sender: n.peer,
			BatchObjects: n.config.RebalanceBatchObjects, BatchBytes: n.config.RebalanceBatchBytes,
			Hold: func(placement uint64) (func(), error) {
				n.placement.RLock()
				if m := n.currentMap(); m == nil || m.Placement() != placement {
					n.placement.RUnlock()
					return nil, fmt.Errorf("%w: the map changed since the copy moved: it stays", rebalance.ErrPlacementDiffers)
				}
				return n.placement.RUnlock, nil
			},
		},
		TombstoneTTL: n.config.TombstoneTTL,
		Recent:       n.config.RebalanceRecent,
		Finished:     n.leftIfLeaving,
		Logger:       n.logger,
	})
}

// collectTombstones drops old tombstones now and then, once no target
// that may hold older copies is missing.
func (n *Node) collectTombstones(ctx context.Context) {
	ticker := time.NewTicker(max(n.config.TombstoneTTL/4, time.Millisecond))
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if !n.rebalanceSettled(ctx) {
			continue
		}
		if dropped, err := n.rebalancer().CollectTombstones(ctx, n.currentMap()); err != nil {
			n.logger.Warn("collect tombstones", "err", err)
		} else if dropped > 0 {
			n.logger.Info("tombstones collected", "dropped", dropped)
		}
	}
}

// rebalanceSettled reports that every target answers, has this node's
// map, has no mountpath away, and ended its last rebalance without error
// a while ago (Recent): then no target still holds an older copy on its
// way to an owner, or on a disk that may return, and tombstones may go.
// This node's own state is not enough: another target's run may be long,
// or retrying, or its disk away.
// An erasure-coded bucket waits for the ec-resilvers too: a holder back
// from away offers the parts of objects deleted meanwhile (their drops
// never reached it) to the owners, whose tombstones refuse them; without
// those tombstones, a restore would bring the objects back.
func (n *Node) rebalanceSettled(ctx context.Context) bool {
	if n.currentMap() == nil {
		return false
	}
	status := n.status(ctx)
	return rebalanceEndedIn(status, n.config.RebalanceRecent, false) && (!n.hasEC() || n.ecResilversSettled(status))
}

// resilverFailingFile keeps, for each target whose ec-resilvers fail in
// a row, when this node first saw it so (JSON, Unix nanoseconds of its
// own clock): the day tombstones wait for it is not started over by a
// restart (a target's list of jobs starts empty, and a resilver starts
// at each map change, failing again on the same object).
const resilverFailingFile = "ec-resilver-failing"

// ecStateFile, in the state directory, keeps the deletes of parts
// erasure coding tries again (store/ec Options.StateFile).
const ecStateFile = "ec-kept-deletes.json"

// ecResilversSettled is ecResilversEnded with the streaks this node saw,
// kept in its state directory.
func (n *Node) ecResilversSettled(status api.ClusterStatus) bool {
	r := &n.resilverFailing
	r.Lock()
	defer r.Unlock()
	path := filepath.Join(n.stateDir(), resilverFailingFile)
	if !r.loaded {
		if data, err := os.ReadFile(path); err == nil {
			if err := json.Unmarshal(data, &r.since); err != nil {
				n.logger.Warn("the ec-resilver failures seen before are unreadable: their waits start now", "file", path, "err", err)
			}
		}
		r.loaded = true
	}
	ended, since := ecResilversEnded(status, r.since, time.Now())
	if !maps.Equal(since, r.since) {
		data, _ := json.Marshal(since)
		err := pathsafe.MkdirAll(n.stateDir(), n.stateDir(), 0o755)
		if err == nil {
			err = atomicfile.Write(path, data, 0o644)
		}
		if err != nil {
			n.logger.Warn("save the ec-resilver failures seen", "file", path, "err", err)
		}
		r.since = since
	}
	return ended
}

// ecResilverFailedWait bounds how long tombstones wait for a target whose
// last ec-resilver failed: one object it cannot restore fails every run,
// and tombstones would pile up for good.
const ecResilverFailedWait = 24 * time.Hour

// ecResilversEnded reports that no target runs an ec-resilver, and the
// last one of each that was not stopped (by hand, or replaced by a newer
// one) ended without error, or is of a streak of failures first seen
// (since, by target) more than ecResilverFailedWait ago: one object it
// cannot restore fails each. It returns the streaks seen now.
func ecResilversEnded(status api.ClusterStatus, since map[string]int64, now time.Time) (bool, map[string]int64) {
	ended, next := true, map[string]int64{}
	for _, node := range status.Nodes {
		var last *api.JobStatus
		for i, j := range node.Jobs {
			if j.Kind != jobECResilver || j.Aborted {
				continue
			}
			if j.Running {
				ended = false
			}
			if last == nil || j.Started > last.Started {
				last = &node.Jobs[i]
			}
		}
		first, seen := since[node.ID]
		if last == nil || last.Running {
			// None finished since (a restart, a run under way): the
			// streak, if any, goes on.
			if seen {
				next[node.ID] = first
				if now.Sub(time.Unix(0, first)) < ecResilverFailedWait {
					ended = false
				}
			}
			continue
		}
		if last.Error == "" {
			continue
		}
		if !seen {
			first = now.UnixNano()
		}
		next[node.ID] = first
		if now.Sub(time.Unix(0, first)) < ecResilverFailedWait {
			ended = false
		}
	}
	return ended, next
}

// rebalanceEnded reports that every target answers, has this node's map,
// and ended its last rebalance without error at least margin ago; with
// skipOffline, a target offline in the map is not waited for, and
// without it, nor is a target with a mountpath away (disabled, or back
// and not reconciled).
func (n *Node) rebalanceEnded(ctx context.Context, margin time.Duration, skipOffline bool) bool {
	if n.currentMap() == nil {
		return false // not joined yet: nothing is known of the others
	}
	return rebalanceEndedIn(n.status(ctx), margin, skipOffline)
}

// rebalanceEndedIn is rebalanceEnded of a cluster status.
func rebalanceEndedIn(status api.ClusterStatus, margin time.Duration, skipOffline bool) bool {
	now := time.Now()
	for _, node := range status.Nodes {
		if !cluster.Role(node.Role).IsTarget() || skipOffline && node.State == string(cluster.StateOffline) {
			continue
		}
		if node.Error != "" || node.MapVersion != status.MapVersion {
			return false
		}
		if !skipOffline && slices.ContainsFunc(node.Mountpaths, func(mp store.MountpathStatus) bool {
			return mp.State == "disabled" || mp.State == "returning" // (store/fs's states)
		}) {
			return false
		}
		var last *api.JobStatus
		for i, j := range node.Jobs {
			if j.Kind == "rebalance" && (last == nil || j.Started > last.Started) {
				last = &node.Jobs[i]
			}
		}
		if last != nil && (last.Running || last.Error != "" || now.Sub(time.Unix(0, last.Finished)) < margin) {
			return false
		}
	}
	return true
}

// rebalanceStatuses lists the runs for the job list.
func (n *Node) rebalanceStatuses() []api.JobStatus {
	r := n.rebalancer()
	if r == nil {
		return nil
	}
	var out []api.JobStatus
	for _, s := range r.Statuses() {
		out = append(out, rebalanceJobStatus(s))
	}
	return out
}

// rebalanceJobStatus is a run as the job list shows it.
func rebalanceJobStatus(s rebalance.Status) api.JobStatus {
	js := api.JobStatus{ID: s.ID, Kind: "rebalance", Objects: s.Objects, Bytes: s.Bytes, Started: s.Started.UnixNano(), Running: s.Running, Error: s.Error, Aborted: s.Aborted}
	// What it skipped (refused for good by their owner, unreadable here)
	// and the tombstones it moved are said, not only logged: a run that
	// finished is not one that placed everything.
	result := map[string]any{"tombstones": s.Tombstones, "skipped": s.Skipped}
	if s.Left > 0 {
		result["left"], result["left_buckets"] = s.Left, s.LeftBuckets
	}
	if s.Cause != "" {
		result["cause"] = s.Cause
	}
	if s.Retrying != "" {
		result["retrying"], result["failed_attempts"] = s.Retrying, s.Attempts
	}
	js.Result, _ = json.Marshal(result)
	if !s.Finished.IsZero() {
		js.Finished = s.Finished.UnixNano()
	}
	return js
}

// handleReceive stores a batch sent by another target's rebalance.
func (n *Node) handleReceive(w http.ResponseWriter, r *http.Request) {
	if n.config.Store == nil {
		n.writeError(w, r, badRequest("node %s stores no objects", n.config.ID))
		return
	}
	placement, err := strconv.ParseUint(cmp.Or(r.URL.Query().Get(peer.QueryPlacement), "0"), 10, 64)
	if err != nil {
		n.writeError(w, r, badRequest("%s=%q: not a placement digest", peer.QueryPlacement, r.URL.Query().Get(peer.QueryPlacement)))
		return
	}
	// Moved objects fill disks as PUTs do: a drain onto full targets
	// would fail every write in the cluster. The sender keeps them and
	// tries again.
	if err := n.checkSpace(r.Context()); err != nil {
		n.writeError(w, r, err)
		return
	}
	n.unsettle()
	receipts, err := rebalance.Receive(r.Context(), rebalance.ReceiveConfig{
		// A copy moving between targets: a remote bucket's object is not
		// written to (or deleted from) the remote again.
		Store: n.held,
		// The sender may have the new bucket metadata before this node.
		BucketMissing: func(ctx context.Context, _ store.Bucket) { n.refresh(ctx) },
		Observe:       func(s store.Stamp) error { return n.clock.Observe(s.Clock) },
		MapVersion: func() int64 {
			if m := n.currentMap(); m != nil {
				return m.Version
			}
			return 0 // no map yet: any stamp waits
		},
		SenderPlacement: placement,
		Placement:       func() uint64 { return n.currentMap().Placement() },
		// As a PUT's commit: a new map waits until the item is visible,
		// and the run it starts lists it.
		Hold: func() (func(), error) {
			n.placement.RLock()
			// 0: a sender of an older build, which does not say (as
			// Receive, not checked).
			if placement != 0 && n.currentMap().Placement() != placement {
				n.placement.RUnlock()
				return nil, fmt.Errorf("%w: the map changed while the item came: send it again", rebalance.ErrPlacementDiffers)
			}
			return n.placement.RUnlock, nil
		},
	}, n.guardSpace(r.Context(), r.Body))
	if err != nil {
		switch {
		case errors.Is(err, rebalance.ErrFrame):
			err = fmt.Errorf("%w: %w", api.ErrBadRequest, err)
		case errors.Is(err, rebalance.ErrPlacementDiffers):
			err = fmt.Errorf("%w: %w", api.ErrUnavailable, err) // until the maps agree
		}
		n.writeError(w, r, err)
		return
	}
	writeJSON(w, receipts)
}

// moveAgainLater runs the rebalance of this leaving target again a
// LeaveRetry from now: no other change of targets may come to run it.
func (n *Node) moveAgainLater() {
	if !n.moveRetries.CompareAndSwap(false, true) {
		return
	}
	time.AfterFunc(n.config.LeaveRetry, func() {
		n.moveRetries.Store(false)
		if n.closing.Load() || n.loopsContext().Err() != nil {
			return
		}
		m := n.currentMap()
		if m == nil {
			return
		}
		if self, ok := m.Node(n.config.ID); !ok || self.State != cluster.StateLeaving {
			return
		}
		if r := n.rebalancer(); r != nil && r.Running() {
			// A running one asks when it ends, unless it is ending now
			// and asked already (its retry lost to this one): later.
			n.moveAgainLater()
			return
		}
		n.startRebalance(m)
	})
}

// leftIfLeaving tells the primary that this leaving target has moved all
// its objects away and can leave the map.
func (n *Node) leftIfLeaving(ctx context.Context, m *cluster.Map) {
	self, ok := m.Node(n.config.ID)
	if !ok || self.State != cluster.StateLeaving {
		return
	}
	if !n.ready.Load() {
		// A target that starts (again) first resumes its downloads:
		// Start asks again then, unless its run looked still running
		// (ending now): then the retry does.
		n.moveAgainLater()
		return
	}
	// The objects of a mountpath away (disabled, or back and not yet
	// reconciled) were not listed: they would go with this target.
	if n.config.Storage != nil {
		for _, mp := range n.config.Storage.MountpathStatuses() {
			if mp.State == "disabled" || mp.State == "returning" { // (store/fs's states)
				n.logger.Error("decommission: a mountpath is away and its objects did not move; this target stays leaving until it is enabled (or detached)", "mountpath", n.redact(mp.Path), "state", mp.State, "retry_in", n.config.LeaveRetry)
				n.moveAgainLater()
				return
			}
		}
	}
	// An object the run could not move (refused for good, e.g. a name
	// that is a directory on its owner) would go with this target.
	if b, name := n.objectLeft(ctx); name != "" {
		n.logger.Error("decommission: objects could not move; this target stays leaving until they are moved or removed", "bucket", b.String(), "object", name, "retry_in", n.config.LeaveRetry)
		n.moveAgainLater()
		return
	}
	// A download or prefetch job started with this target fetches its
	// share of the files here and no other target does: the target
	// leaves once they end (or are aborted).
	if jobs := n.fetchJobsRunning(); len(jobs) > 0 {
		n.logger.Info("decommission: this target leaves once its download and prefetch jobs end", "jobs", jobs)
		if n.leaveWaits.CompareAndSwap(false, true) {
			// The node's context: the rebalance run's ends with it. Jobs
			// aborted because the node stops are resumed when it starts
			// again: it does not leave meanwhile.
			waited := n.background(func() {
				for _, id := range jobs {
					n.jobs.Wait(n.loopsContext(), id)
				}
				n.leaveWaits.Store(false)
				if !n.closing.Load() && n.loopsContext().Err() == nil {
					n.leftIfLeaving(n.loopsContext(), n.currentMap())
				}
			})
			if !waited {
				n.leaveWaits.Store(false) // the node closes
			}
		}
		return
	}
	_, err := n.control.Propose(ctx, membership.Change{Kind: membership.Left, Node: cluster.Node{ID: n.config.ID}})
	switch {
	case err == nil:
	case statusOf(membershipError(err)) < http.StatusInternalServerError:
		// Refused: left already (an answer lost, another caller), or
		// no longer leaving.
		n.logger.Info("tell the primary this target left", "err", err)
	case n.leftRetries.CompareAndSwap(false, true):
		// No quorum for a while, say: no later rebalance may come to
		// try again.
		n.logger.Warn("tell the primary this target left: trying again", "in", leftRetry, "err", err)
		time.AfterFunc(leftRetry, func() {
			n.leftRetries.Store(false)
			if !n.closing.Load() && n.loopsContext().Err() == nil {
				n.leftIfLeaving(n.loopsContext(), n.currentMap())
			}
		})
	}
}

// leftRetry spaces the attempts of a leaving target to say it left.
const leftRetry = 5 * time.Second

// fetchJobsRunning returns the download and prefetch jobs running here.
func (n *Node) fetchJobsRunning() []string {
	var ids []string
	for _, j := range n.jobs.List() {
		if j.Running && (j.Kind == jobDownload || j.Kind == jobPrefetch) {
			ids = append(ids, j.ID)
		}
	}
	return ids
}

// objectLeft returns an object this target still holds, if any.
func (n *Node) objectLeft(ctx context.Context) (store.Bucket, string) {
	md, err := n.config.Store.Buckets(ctx)
	if err != nil {
		return store.Bucket{}, "(the bucket metadata: " + err.Error() + ")"
	}
	for b := range md.Buckets {
		list, err := n.config.Store.List(ctx, b, store.ListOptions{Limit: 1})
		switch {
		case errors.Is(err, store.ErrBucketNotFound):
		case err != nil:
			// Not known to be empty: it may hold an object yet.
			return b, "(its listing: " + err.Error() + ")"
		case len(list) > 0:
			return b, list[0].Name
		}
	}
	return store.Bucket{}, ""
}

// serveFromNeighbors answers a GET or HEAD for an object this target owns
// but does not have: while a rebalance runs it may still be on another
// target. Of the copies on their way it serves the newest: targets that
// joined one after the other may each hold one. It reports whether it
// answered.
func (n *Node) serveFromNeighbors(w http.ResponseWriter, r *http.Request, b store.Bucket, name string) bool {
	// Deleted here: only a copy newer than the delete is served (one a
	// rebalance elsewhere has not moved yet is older).
	since := store.Stamp{}
	if tomb, found := n.tombstone(b, name); found {
		since = tomb.Stamp
	}
	// A copy here that cannot be read now (an erasure-coded replica gone
	// bad, its parts not all reached) is as much a floor: an older one
	// elsewhere is not served for it, one of its version is. (Not in a
	// remote bucket: the HEAD of a name not cached here would ask the
	// remote.)
	sameToo := false
	if !b.IsRemote() {
		if meta, err := n.local.Head(r.Context(), b, name); err == nil && meta.Stamp.Compare(since) > 0 {
			since, sameToo = meta.Stamp, true
		}
	}
	other, deleted, ok, silent := n.newestElsewhere(r.Context(), b, name, since, sameToo)
	switch {
	case !ok && len(silent) > 0:
		// A target that did not answer may hold it (moving, or a copy
		// not rebalanced yet): not found would be a guess.
		w.Header().Set("Retry-After", "1")
		n.writeError(w, r, fmt.Errorf("%w: %s/%s is not here, and target(s) %s that may hold it did not answer: retry", api.ErrUnavailable, b, name, strings.Join(silent, ", ")))
		return true
	case !ok || deleted:
		return false
	case n.serveFrom(w, r, other, b, name, len(silent) == 0):
		return true
	}
	// Moving right now, say: an older copy elsewhere must not be served.
	w.Header().Set("Retry-After", "1")
	n.writeError(w, r, fmt.Errorf("%w: %s/%s is on target %s or on its way here: retry", api.ErrUnavailable, b, name, other.ID))
	return true
}

// remoteDecides reports whether a remote bucket's "not found" is the
// remote's answer, which holds over a copy another target cached: with
// versioning.validate_warm_get, or for a read that asks for the latest
// version. (Without, a cached copy is served as it would be here.)
func (n *Node) remoteDecides(b store.Bucket, latest bool) bool {
	if !b.IsRemote() {
		return false
	}
	if latest {
		return true
	}
	props, err := n.bucketProps(b)
	return err == nil && props.Versioning.ValidateWarmGet
}

// relayStall bounds how long serveFrom waits for the other target's
// answer, then for each of its next bytes: one whose disk hangs would
// hold the read, and a connection to it, for as long as the client waits.
// A read that works before it answers (a validated one checksums the
// whole object first, an archive member's decompresses up to it) waits
// relayFirstByte for its answer.
var relayFirstByte, relayStall = 5 * time.Minute, 30 * time.Second

// firstByteWait is how long serveFrom waits for the answer to r.
func (n *Node) firstByteWait(r *http.Request, b store.Bucket) time.Duration {
	q := r.URL.Query()
	if q.Has(api.QueryValidate) || q.Has(api.QueryArchPath) || q.Has(api.QueryArchRegex) {
		return relayFirstByte
	}
	if props, err := n.bucketProps(b); err == nil && (props.Versioning.ValidateWarmGet || props.Checksum.ValidateWarmGet) {
		return relayFirstByte
	}
	return relayStall
}

// serveFrom answers a GET or HEAD with another target's copy; false when
// it has none (or does not answer, or stalls before it does). whole says
// every target that may hold a newer copy answered: only then is a 404
// of a file the shard there does not have the answer (else a newer copy
// may have it: asked again later).
func (n *Node) serveFrom(w http.ResponseWriter, r *http.Request, t cluster.Node, b store.Bucket, name string, whole bool) bool {
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	stalled := fmt.Errorf("%w: target %s sent nothing of %s/%s in time", api.ErrUnavailable, t.ID, b, name)
	timer := time.AfterFunc(n.firstByteWait(r, b), func() { cancel(stalled) })
	defer timer.Stop()
	req, err := http.NewRequestWithContext(ctx, r.Method, n.localObjectURL(t, b, name, n.bucketCreated(b)), nil)
	if err != nil {
		return false
	}
	// The range with the version it is held to: a resumed download must
	// not get a range of the copy there if it is of another version.
	// Every line, as a read served here reads them (If-None-Match may
	// come a tag a line).
	for _, header := range append([]string{"Range", "If-Range"}, preconditionHeaders...) {
		if vs := r.Header.Values(header); len(vs) > 0 {
			req.Header[http.CanonicalHeaderKey(header)] = slices.Clone(vs)
		}
	}
	// What the read asks for (validation, an archive member) the same,
	// with the bucket's creation this node knows.
	q := r.URL.Query()
	q.Del(queryBucketCreated)
	if created := n.bucketCreated(b); created != 0 {
		q.Set(queryBucketCreated, strconv.FormatInt(created, 10))
	}
	req.URL.RawQuery = q.Encode()
	resp, err := n.peer.HTTP().Do(req)
	timer.Stop()
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	// Not there, or failing (a disk error, shutting down): ask another.
	// (A shard there without the file asked for answers that.)
	if resp.StatusCode == http.StatusNotFound && (!whole || resp.Header.Get(headerShardHeld) == "") || resp.StatusCode >= 500 {
		return false
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.Header().Set(api.HeaderNodeID, n.config.ID)
	w.WriteHeader(resp.StatusCode)
	buf := pool.Get(pool.CopyBufferSize)
	if _, err := io.CopyBuffer(w, stallingReader{resp.Body, timer}, buf); err != nil && context.Cause(ctx) == stalled {
		n.logger.Warn("a read served from another target's copy was cut", "err", stalled)
	}
	pool.Put(buf)
	return true
}

// stallingReader counts against its timer only the time a read waits for
// the peer: the client taking the bytes slowly is not the peer's stall.
type stallingReader struct {
	body  io.Reader
	timer *time.Timer
}

func (s stallingReader) Read(p []byte) (int, error) {
	s.timer.Reset(relayStall)
	n, err := s.body.Read(p)
	s.timer.Stop()
	return n, err
}

func (n *Node) localObjectURL(t cluster.Node, b store.Bucket, name string, created int64) string {
	// The provider too: s3://b and ais://b are two buckets. And which
	// bucket of the name (created when): a target behind on a destroy
	// and create has the destroyed one's objects.
	q := url.Values{api.QueryProvider: {b.Normalize().Provider}}
	if created != 0 {
		q.Set(queryBucketCreated, strconv.FormatInt(created, 10))
	}
	return t.URL + "/v1/internal/objects/" + url.PathEscape(b.Name) + "/" + api.EscapeObjectName(name) + "?" + q.Encode()
}

// queryBucketCreated names the creation of the bucket a read of another
// target's copy, or a redirected request, is for.
const queryBucketCreated = "bucket_created"

// queryBucketsVersion is the version of the bucket metadata a redirect's
// bucket_created is of.
const queryBucketsVersion = "buckets_version"

// bucketCreated is when a bucket was created, as this node knows it (0:
// not known).
func (n *Node) bucketCreated(b store.Bucket) int64 {
	md := n.currentBuckets()
	if md == nil {
		return 0
	}
	props, _ := md.Props(b)
	return int64(props.Created)
}

// catchingUp reports whether this target may still hold copies older
// than its peers' (see Node.catchUp); the cluster is asked at most every
// 2s whether every target's rebalance has ended.
func (n *Node) catchingUp() bool {
	generation := n.catchUp.Load()
	if generation == 0 {
		return false
	}
	now, last := time.Now().UnixNano(), n.caughtUpCheck.Load()
	if now-last > int64(2*time.Second) && n.caughtUpCheck.CompareAndSwap(last, now) {
		// In the background, not in the request that happened to ask.
		n.background(func() {
			ctx, cancel := context.WithTimeout(n.loopsContext(), 30*time.Second)
			defer cancel()
			// Once every run has ended, every newer copy has arrived; a
			// newer catch-up (another return) meanwhile stays.
			if n.rebalanceEnded(ctx, 0, true) {
				n.catchUp.CompareAndSwap(generation, 0)
			}
		})
	}
	return true
}

// rebalancing reports whether objects may still be on their way to
// their owners: this target's run is recent, or another target's run
// under this map was not seen ended. Another target's run may go on for
// hours after this one's ended (it sends this target its share), and
// this one's may have nothing to send. Until the runs are seen ended,
// they are asked in the background, at most every settledRecheck (the
// answer meanwhile is the last one seen); once they are, every
// settledRecheckWhenSettled, and again at once when the map changes or a
// batch arrives (a run again).
func (n *Node) rebalancing() bool {
	if n.moving() {
		return true
	}
	m := n.currentMap()
	if m == nil {
		return true
	}
	n.settle.mu.Lock()
	settled := n.settle.version == m.Version
	// Settled, asked again now and then: a run started again under the
	// same map (a leaving target's) is seen before its first batch.
	// One question at a time: a target slow to answer holds one.
	ask := !n.settle.asking && time.Since(n.settle.asked) > settledRecheck && (!settled || time.Since(n.settle.answered) > settledRecheckWhenSettled)
	if ask {
		n.settle.asked, n.settle.asking = time.Now(), true
	}
	n.settle.mu.Unlock()
	if ask {
		started := n.background(func() {
			defer func() {
				n.settle.mu.Lock()
				n.settle.asking = false
				n.settle.mu.Unlock()
			}()
			ctx, cancel := context.WithTimeout(n.loopsContext(), 30*time.Second)
			defer cancel()
			n.checkSettled(ctx, m.Version)
		})
		if !started {
			n.settle.mu.Lock()
			n.settle.asking = false
			n.settle.mu.Unlock()
		}
	}
	return !settled
}

// copiesLeftBehind returns, as last seen, the targets whose last
// rebalance left copies of bucket b it could not place (runsLeftCopies):
// a delete asks every target for the name's copy, to remove where held,
// and must hear from those.
func (n *Node) copiesLeftBehind(b store.Bucket) map[string]bool {
	n.settle.mu.Lock()
	defer n.settle.mu.Unlock()
	holders := map[string]bool{}
	for _, key := range []string{"*", b.String()} {
		for id := range n.settle.left[key] {
			holders[id] = true
		}
	}
	return holders
}

// rebalancingNow is rebalancing asked of the targets now, for a job that
// asks once.
func (n *Node) rebalancingNow(ctx context.Context) bool {
	if n.moving() {
		return true
	}
	m := n.currentMap()
	return m == nil || !n.checkSettled(ctx, m.Version)
}

// checkSettled asks whether every target's rebalance has ended (offline
// ones send nothing: not waited for), and keeps the answer for version
// unless a later question (or a batch received) answered meanwhile.
func (n *Node) checkSettled(ctx context.Context, version int64) bool {
	start := time.Now()
	ended, left := false, map[string]map[string]bool(nil)
	unheard := map[string]bool{} // targets whose runs this status does not tell
	if n.currentMap() != nil {
		status := n.status(ctx)
		ended, left = rebalanceEndedIn(status, 0, true), runsLeftCopies(status)
		for _, node := range status.Nodes {
			if node.Error != "" {
				unheard[node.ID] = true
			}
		}
	}
	n.settle.mu.Lock()
	defer n.settle.mu.Unlock()
	if start.After(n.settle.answered) {
		n.settle.answered = start
		n.settle.version = 0
		if ended {
			n.settle.version = version
		}
		// A target not heard from keeps the copies it was last seen to
		// have left.
		for b, holders := range n.settle.left {
			for id := range holders {
				if unheard[id] {
					if left[b] == nil {
						left[b] = map[string]bool{}
					}
					left[b][id] = true
				}
			}
		}
		n.settle.left = left
	}
	return ended
}

// runsLeftCopies returns, by bucket ("*": every one), the targets whose
// last rebalance left copies there (their owner refused the name for
// good: x beside x/y): they are not moving, yet a delete at the owner
// must reach them, or once its tombstone is collected a later run would
// bring them back.
func runsLeftCopies(status api.ClusterStatus) map[string]map[string]bool {
	left := map[string]map[string]bool{}
	for _, node := range status.Nodes {
		var last *api.JobStatus
		for i, j := range node.Jobs {
			if j.Kind == "rebalance" && (last == nil || j.Started > last.Started) {
				last = &node.Jobs[i]
			}
		}
		var result struct {
			Left        int64    `json:"left"`
			LeftBuckets []string `json:"left_buckets"`
		}
		if last != nil && json.Unmarshal(last.Result, &result) == nil && result.Left > 0 {
			if len(result.LeftBuckets) == 0 {
				result.LeftBuckets = []string{"*"} // (not named: any)
			}
			for _, b := range result.LeftBuckets {
				if left[b] == nil {
					left[b] = map[string]bool{}
				}
				left[b][node.ID] = true
			}
		}
	}
	return left
}

// unsettle forgets that the runs were seen ended: a batch arrived, so
// one runs (again, maybe under the same map).
func (n *Node) unsettle() {
	n.settle.mu.Lock()
	n.settle.version, n.settle.answered = 0, time.Now()
	n.settle.mu.Unlock()
}

// settledRecheck is how often rebalancing asks the targets again while
// the runs were not seen ended, settledRecheckWhenSettled once they were.
const (
	settledRecheck            = 2 * time.Second
	settledRecheckWhenSettled = 15 * time.Second
)

// peerHeadTimeout bounds a HEAD of another target while catching up: a
// hung peer must not hold the reads of this one.
const peerHeadTimeout = 5 * time.Second

// tellDeleted marks a peer's "not found" with the stamp of the name's
// tombstone, if it has one: a target catching up then knows its own copy
// was deleted (see newerElsewhere).
func (n *Node) tellDeleted(w http.ResponseWriter, b store.Bucket, name string, err error) {
	if !errors.Is(err, store.ErrNotFound) {
		return
	}
	if tomb, found := n.tombstone(b, name); found {
		w.Header().Set(api.HeaderDeleted, "true")
		w.Header().Set(api.HeaderStamp, tomb.Stamp.String())
	}
}

// tombstone is this target's record of a name's delete, if it keeps one.
func (n *Node) tombstone(b store.Bucket, name string) (store.Tombstone, bool) {
	ts, ok := n.config.Storage.(interface {
		Tombstone(store.Bucket, string) (store.Tombstone, bool)
	})
	if !ok {
		return store.Tombstone{}, false
	}
	return ts.Tombstone(b, name)
}

// servedNewer answers a GET or HEAD with a newer copy another target
// holds while this one catches up; when that copy cannot be read there
// (it may be moving here right now), with a 503 to retry rather than the
// stale copy. It reports whether it answered.
func (n *Node) servedNewer(w http.ResponseWriter, r *http.Request, b store.Bucket, name string, stamp store.Stamp) bool {
	other, deleted, ok, silent := n.newerElsewhere(r.Context(), b, name, stamp, false)
	if ok && deleted {
		n.writeError(w, r, fmt.Errorf("%s/%s: %w (deleted on target %s while this one was away)", b, name, store.ErrNotFound, other.ID))
		return true
	}
	if !ok || n.serveFrom(w, r, other, b, name, len(silent) == 0) {
		return ok
	}
	w.Header().Set("Retry-After", "1")
	n.writeError(w, r, fmt.Errorf("%w: a newer copy of %s/%s than target %s has is on target %s or on its way here: retry", api.ErrUnavailable, b, name, n.config.ID, other.ID))
	return true
}

// newerElsewhere returns a target holding a newer copy of an object than
// this one's (stamp), the newest, while this target catches up: a read
// of its own copy would be stale. A write that depends on the current
// object (a condition, a file put into a shard) asks also while objects
// move (writing): the current copy may not have reached its new owner.
func (n *Node) newerElsewhere(ctx context.Context, b store.Bucket, name string, stamp store.Stamp, writing bool) (other cluster.Node, deleted, ok bool, silent []string) {
	if b.IsRemote() || !n.catchingUp() && !(writing && n.rebalancing()) {
		return cluster.Node{}, false, false, nil
	}
	return n.newestElsewhere(ctx, b, name, stamp, false)
}

// newestElsewhere returns the target holding the newest copy (or delete)
// of an object, if it is newer than stamp (or as new, with sameToo), and
// the targets that did not answer (a connection error, a timeout, a 5xx
// but for a corrupt copy).
func (n *Node) newestElsewhere(ctx context.Context, b store.Bucket, name string, stamp store.Stamp, sameToo bool) (other cluster.Node, deleted, ok bool, silent []string) {
	ctx, cancel := context.WithTimeout(ctx, peerHeadTimeout)
	defer cancel()
	targets := n.currentMap().Reachable()
	created := n.bucketCreated(b)
	stamps := make([]store.Stamp, len(targets))
	gone := make([]bool, len(targets))
	failed := make([]bool, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		if t.ID == n.config.ID {
			continue
		}
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodHead, n.localObjectURL(t, b, name, created), nil)
			if err != nil {
				return
			}
			resp, err := n.peer.HTTP().Do(req)
			if err != nil {
				failed[i] = true
				return
			}
			resp.Body.Close()
			// One that cannot answer now (busy, its remote away, a disk
			// error) may hold it; one whose copy is corrupt would say so
			// for good, and a 4xx is an answer.
			if resp.StatusCode >= http.StatusInternalServerError {
				var e api.Error
				json.Unmarshal([]byte(resp.Header.Get(api.HeaderError)), &e)
				failed[i] = e.Kind != "corrupt"
			}
			deleted := resp.StatusCode == http.StatusNotFound && resp.Header.Get(api.HeaderDeleted) == "true"
			if resp.StatusCode == http.StatusOK || deleted {
				stamps[i], _ = store.ParseStamp(resp.Header.Get(api.HeaderStamp))
				gone[i] = deleted
			}
		})
	}
	wg.Wait()
	best := -1
	for i, s := range stamps {
		if failed[i] {
			silent = append(silent, targets[i].ID)
		}
		if (s.Compare(stamp) > 0 || sameToo && !s.IsZero() && s == stamp) && (best < 0 || s.Compare(stamps[best]) > 0) {
			best = i
		}
	}
	if best < 0 {
		return cluster.Node{}, false, false, silent
	}
	return targets[best], gone[best], true, silent
}

// handleLocalObject serves an object from this target's store, with no
// placement check: the rebalance fallback of another target.
func (n *Node) handleLocalObject(w http.ResponseWriter, r *http.Request) {
	b, err := bucketOf(r)
	name := r.PathValue("object")
	if err == nil {
		err = store.ValidateName(name)
	}
	if err == nil && n.config.Store == nil {
		err = badRequest("node %s stores no objects", n.config.ID)
	}
	if asked := r.URL.Query().Get(queryBucketCreated); err == nil && asked != "" {
		// Not a copy of another bucket of the name (this target behind
		// on its destroy and create, or the asker).
		if here := strconv.FormatInt(n.bucketCreated(b), 10); here != asked {
			err = fmt.Errorf("%s/%s: %w: the bucket here was created at %s, not %s", b, name, store.ErrNotFound, here, asked)
		}
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	if r.Method == http.MethodHead {
		n.headObject(w, r, b, name, false)
		return
	}
	n.getObject(w, r, b, name, false)
}
