package gateway

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/cluster/rebalance"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/store"
)

// Kinds of the jobs over stored objects.
const (
	jobMakeCopies = "make-n-copies"
	jobECEncode   = "ec-encode"
	jobECResilver = "ec-resilver"
	// jobECCleanup removes the parts of a bucket whose erasure coding
	// was turned off.
	jobECCleanup = "ec-cleanup"
	jobResilver  = "resilver"
	jobScrub     = "scrub"
	jobDetach    = "detach-mountpath"
)

// PartPeers is how a target's erasure coding reaches the other targets
// (store/ec.Peers); the node implements it.
type PartPeers interface {
	Self() cluster.Node
	Map() *cluster.Map
	SendPart(ctx context.Context, to cluster.Node, meta store.PartMeta, r io.Reader) error
	PartsOf(ctx context.Context, from cluster.Node, b store.Bucket, name string) ([]store.PartMeta, error)
	PartsOfMany(ctx context.Context, from cluster.Node, b store.Bucket, names []string) (map[string][]store.PartMeta, error)
	OpenPart(ctx context.Context, from cluster.Node, b store.Bucket, name string, index int) (io.ReadCloser, store.PartMeta, error)
	DeleteParts(ctx context.Context, on cluster.Node, b store.Bucket, name string, stamp store.Stamp) error
	DeleteWriteParts(ctx context.Context, on cluster.Node, b store.Bucket, name string, stamp store.Stamp) error
	Ensure(ctx context.Context, on cluster.Node, b store.Bucket, names []string) error
}

// Protector is what the node asks of its erasure coding (store/ec.Store)
// beyond the store it wraps.
type Protector interface {
	// Protect stores anew the parts of the objects of a bucket this
	// target owns (ec-encode).
	Protect(ctx context.Context, b store.Bucket, progress *store.Progress) error
	// Sweep hands the objects whose parts this target keeps to their
	// owners, then protects what it owns (after the targets changed).
	Sweep(ctx context.Context, b store.Bucket, progress *store.Progress) error
	// Ensure restores the named objects this target owns but lacks.
	Ensure(ctx context.Context, b store.Bucket, names []string) error
	// Reprotect stores again the parts of the named objects this target
	// has that a holder lacks (a scrub removed bad ones).
	Reprotect(ctx context.Context, b store.Bucket, names []string) error
	// Restore rebuilds an object from its parts.
	Restore(ctx context.Context, b store.Bucket, name string) error
	// DropParts removes the parts of a bucket no longer erasure-coded
	// (ec-cleanup).
	DropParts(ctx context.Context, b store.Bucket, before store.Stamp, progress *store.Progress) error
}

// ProtectOptions are what the node gives its erasure coding.
type ProtectOptions struct {
	// Props returns a bucket's props from the node's bucket metadata.
	Props func(b store.Bucket) (store.Props, bool)
	// WorkDir holds objects too large to encode in memory.
	WorkDir string
	// PickWorkDir says where such an object goes now (a directory that
	// exists): the node's work directory moves with its mountpaths.
	PickWorkDir func() string
	// OnRestore is told of each object rebuilt from parts.
	OnRestore func(b store.Bucket, name string)
	Logger    *slog.Logger
	// StateFile keeps what erasure coding tries again (deletes of parts
	// a holder failed) across restarts: the protector resumes it once
	// the node started (a Resume(context.Context) error method).
	StateFile string
}

// ecPeers is the node's side of erasure coding: how it reaches the other
// targets.
type ecPeers struct{ n *Node }

var _ PartPeers = ecPeers{}

func (p ecPeers) Self() cluster.Node { return p.n.self }
func (p ecPeers) Map() *cluster.Map  { return p.n.currentMap() }
func (p ecPeers) SendPart(ctx context.Context, to cluster.Node, meta store.PartMeta, r io.Reader) error {
	return p.n.peer.SendPart(ctx, to, meta, r, p.n.localCreated(ctx, meta.Bucket))
}
func (p ecPeers) PartsOf(ctx context.Context, from cluster.Node, b store.Bucket, name string) ([]store.PartMeta, error) {
	return p.n.peer.PartsOf(ctx, from, b, name, p.n.localCreated(ctx, b))
}
func (p ecPeers) PartsOfMany(ctx context.Context, from cluster.Node, b store.Bucket, names []string) (map[string][]store.PartMeta, error) {
	return p.n.peer.PartsOfMany(ctx, from, b, names, p.n.localCreated(ctx, b))
}
func (p ecPeers) OpenPart(ctx context.Context, from cluster.Node, b store.Bucket, name string, index int) (io.ReadCloser, store.PartMeta, error) {
	return p.n.peer.OpenPart(ctx, from, b, name, index, p.n.localCreated(ctx, b))
}
func (p ecPeers) DeleteParts(ctx context.Context, on cluster.Node, b store.Bucket, name string, stamp store.Stamp) error {
	return p.n.peer.DeleteParts(ctx, on, b, name, stamp)
}

func (p ecPeers) DeleteWriteParts(ctx context.Context, on cluster.Node, b store.Bucket, name string, stamp store.Stamp) error {
	return p.n.peer.DeleteWriteParts(ctx, on, b, name, stamp)
}
func (p ecPeers) Ensure(ctx context.Context, on cluster.Node, b store.Bucket, names []string) error {
	return p.n.peer.Ensure(ctx, on, b, names)
}

// ecProps is the props lookup of the EC store: the node's bucket metadata.
func (n *Node) ecProps(b store.Bucket) (store.Props, bool) {
	md := n.currentBuckets()
	if md == nil {
		return store.Props{}, false
	}
	return md.Props(b)
}

// Parts on targets (intra-cluster).

// localCreated is a bucket's creation as this target's store has it (0
// when it has not the bucket: no check).
func (n *Node) localCreated(ctx context.Context, b store.Bucket) int64 {
	props, err := store.PropsOf(ctx, n.local, b)
	if err != nil {
		return 0
	}
	return int64(props.Created)
}

// otherBucket reports a request for parts asked of another bucket of the
// name than this target's (destroyed and made again, one of the two not
// told yet): it gets none, which are not that bucket's objects'.
func (n *Node) otherBucket(r *http.Request, b store.Bucket) bool {
	asked := r.URL.Query().Get(peer.QueryBucketCreated)
	if asked == "" {
		return false
	}
	return asked != strconv.FormatInt(n.localCreated(r.Context(), b), 10)
}

func (n *Node) partsRequest(r *http.Request) (store.Bucket, string, error) {
	b, err := bucketOf(r)
	name := r.PathValue("object")
	if err == nil {
		err = store.ValidateName(name)
	}
	if err == nil && n.local == nil {
		err = badRequest("node %s stores no objects", n.config.ID)
	}
	return b, name, err
}

func (n *Node) handlePutPart(w http.ResponseWriter, r *http.Request) {
	b, name, err := n.partsRequest(r)
	var meta store.PartMeta
	if err == nil {
		if meta, err = peer.DecodePart(r.Header.Get(peer.HeaderPart)); err != nil {
			err = badRequest("%w", err)
		}
	}
	if err == nil && (meta.Bucket.Normalize() != b || meta.Name != name) {
		err = badRequest("the part of %s/%s was sent to %s/%s", meta.Bucket, meta.Name, b, name)
	}
	if err == nil && n.otherBucket(r, b) {
		// Destroyed and made again, one of the two not told yet: a part
		// of the old bucket's object must not land in the new one (it
		// would restore an object deleted with it), nor one of the new
		// in the old (it would go with the old's parts).
		err = fmt.Errorf("%w: part %d of %s/%s: this target's bucket %s is another of the name than the sender's (destroyed and made again, not yet told to both): send it again", api.ErrUnavailable, meta.Index, b, name, b)
	}
	if err == nil {
		// Parts fill disks as objects do: the same watermarks hold.
		err = n.checkSpace(r.Context())
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	// The part carries its owner's clock: this one moves past it, so
	// that a cutoff taken here later (an ec-cleanup's) is after every
	// part it holds, however the two clocks differ.
	if err := n.clock.Observe(meta.Stamp.Clock); err != nil {
		n.writeError(w, r, fmt.Errorf("%w: part of %s/%s: %w", api.ErrUnavailable, meta.Bucket, meta.Name, err))
		return
	}
	body := http.MaxBytesReader(w, r.Body, meta.SliceSize+1)
	if err := n.local.PutPart(r.Context(), meta, body); err != nil {
		n.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (n *Node) handleGetParts(w http.ResponseWriter, r *http.Request) {
	b, name, err := n.partsRequest(r)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	if index := r.URL.Query().Get("index"); index != "" {
		i, err := strconv.Atoi(index)
		if err != nil || i < 0 || i >= store.MaxSlices {
			n.writeError(w, r, badRequest("index %q: want 0..%d", index, store.MaxSlices-1))
			return
		}
		if n.otherBucket(r, b) {
			n.writeError(w, r, fmt.Errorf("%w: part %d of %s/%s: this target's bucket is another of the name", store.ErrNotFound, i, b, name))
			return
		}
		rc, meta, err := n.local.OpenPart(r.Context(), b, name, i)
		if err != nil {
			n.writeError(w, r, err)
			return
		}
		defer rc.Close()
		header, err := peer.EncodePart(meta)
		if err != nil {
			n.writeError(w, r, err)
			return
		}
		w.Header().Set(peer.HeaderPart, header)
		w.Header().Set("Content-Length", strconv.FormatInt(meta.SliceSize, 10))
		// A target that stops taking the part (frozen, its restore stuck
		// on a disk) does not hold the part's file and this handler for
		// good.
		out := newStallWriter(w, n.config.RecordsStall, n.config.BodyMinRate)
		defer out.done()
		io.Copy(out, io.LimitReader(rc, meta.SliceSize)) // its length: the deadline's
		return
	}
	if n.otherBucket(r, b) {
		writeJSON(w, []string{})
		return
	}
	metas, err := n.local.PartsOf(r.Context(), b, name)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	out := make([]string, 0, len(metas))
	for _, m := range metas {
		e, err := peer.EncodePart(m)
		if err != nil {
			n.writeError(w, r, err)
			return
		}
		out = append(out, e)
	}
	writeJSON(w, out)
}

func (n *Node) handleDeleteParts(w http.ResponseWriter, r *http.Request) {
	b, name, err := n.partsRequest(r)
	var stamp store.Stamp
	if err == nil {
		if stamp, err = store.ParseStamp(r.URL.Query().Get("stamp")); err != nil {
			err = badRequest("%w", err)
		}
	}
	oneWrite := r.URL.Query().Get(peer.QueryOneWrite) == "true"
	switch deleter, ok := n.local.(store.PartDeleter); {
	case err != nil:
	case oneWrite && !ok:
		err = badRequest("node %s cannot delete the parts of one write", n.config.ID)
	case oneWrite:
		err = deleter.DeleteWriteParts(r.Context(), b, name, stamp)
	default:
		err = n.local.DeleteParts(r.Context(), b, name, stamp)
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// maxEnsure bounds the names of one ensure request.
const maxEnsure = 10000

func (n *Node) handleEnsure(w http.ResponseWriter, r *http.Request) {
	b, err := bucketOf(r)
	var names []string
	if err == nil && n.ec == nil {
		err = badRequest("node %s stores no objects", n.config.ID)
	}
	if err == nil {
		err = decodeBody(r, &names)
	}
	if err == nil && len(names) > maxEnsure {
		err = badRequest("%d names, at most %d", len(names), maxEnsure)
	}
	for _, name := range names {
		if err == nil {
			err = store.ValidateName(name)
		}
	}
	switch {
	case err != nil:
	case r.URL.Query().Get(peer.QueryReprotect) == "true":
		err = n.ec.Reprotect(r.Context(), b, names)
	default:
		err = n.ec.Ensure(r.Context(), b, names)
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// handlePartsOfMany answers which parts of the named objects this target
// keeps (peer.PartsOfMany): an owner's sweep sends only the parts its
// holders lack.
func (n *Node) handlePartsOfMany(w http.ResponseWriter, r *http.Request) {
	b, err := bucketOf(r)
	var names []string
	if err == nil && n.local == nil {
		err = badRequest("node %s stores no objects", n.config.ID)
	}
	if err == nil {
		err = decodeBody(r, &names)
	}
	if err == nil && len(names) > peer.MaxPartsQuery {
		err = badRequest("%d names, at most %d", len(names), peer.MaxPartsQuery)
	}
	for _, name := range names {
		if err == nil {
			err = store.ValidateName(name)
		}
	}
	out := map[string][]string{}
	if err == nil && n.otherBucket(r, b) {
		names = nil // none of another bucket of the name
	}
	for _, name := range names {
		if err != nil {
			break
		}
		var metas []store.PartMeta
		if metas, err = n.local.PartsOf(r.Context(), b, name); err != nil {
			break
		}
		for _, m := range metas {
			var e string
			if e, err = peer.EncodePart(m); err != nil {
				break
			}
			out[name] = append(out[name], e)
		}
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	writeJSON(w, out)
}

// Jobs over stored objects.

// handleStartJob starts a job on this target (intra-cluster: the gateway
// starts a cluster-wide job on every target under one id).
func (n *Node) handleStartJob(w http.ResponseWriter, r *http.Request) {
	var req peer.JobRequest
	// A gateway's body of up to maxControlBody, HTML-escaped by JSON on
	// the way (each & of a presigned link is six bytes): up to six times
	// what the gateway took, from a peer.
	err := decodeBodyUpTo(r, &req, 6*maxControlBody)
	if err == nil && n.local == nil {
		err = badRequest("node %s stores no objects", n.config.ID)
	}
	if m := n.currentMap(); err == nil && m != nil && (req.Kind == jobDownload || req.Kind == jobPrefetch) {
		if self, ok := m.Node(n.config.ID); ok && self.State == cluster.StateLeaving {
			// Its share would leave with it: a gateway whose map is
			// behind sends the job again (503) to the targets that stay.
			w.Header().Set("Retry-After", "1")
			err = fmt.Errorf("%w: target %s is leaving the cluster and takes no share of a new %s", api.ErrUnavailable, n.config.ID, req.Kind)
		}
	}
	if err == nil && r.Context().Err() != nil {
		// The gateway gave up while the body was read (its caller gone,
		// its start timed out): its abort may have come before this job
		// was known here, and found nothing to stop.
		err = fmt.Errorf("%w: the request to start job %s was given up while it was read", api.ErrUnavailable, req.ID)
	}
	if err == nil {
		n.awaitBucketsVersion(r.Context(), req.BucketsVersion)
		_, err = n.startJob(r.Context(), req)
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// startJob starts a job of a kind on this target.
// awaitBucketsVersion waits, a while, until this node has the bucket
// metadata of version (a push on its way): a job started before would
// read the props as they were (a make-n-copies, the old count). One that
// stays behind (its store refuses another bucket's change) starts the
// job all the same, said in its log: refused, every job of the cluster
// would be, for one bucket's trouble.
func (n *Node) awaitBucketsVersion(ctx context.Context, version int64) {
	behind := func() bool {
		md := n.currentBuckets()
		return md == nil || md.Version < version
	}
	if version <= 0 || !behind() {
		return
	}
	deadline := time.Now().Add(mapWait)
	for behind() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	if behind() && n.mayRefreshBuckets() {
		n.refresh(ctx) // (one a second: many job starts at once pull once)
	}
	if md := n.currentBuckets(); behind() {
		have := int64(0)
		if md != nil {
			have = md.Version
		}
		n.logger.Warn("a job starts on bucket metadata older than the gateway's", "want_version", version, "version", have)
	}
}

func (n *Node) startJob(ctx context.Context, req peer.JobRequest) (string, error) {
	if err := n.startRefused(ctx, req); err != nil {
		return "", err
	}
	var total int64 // the job's own total, when known at its start
	b := req.Bucket.Normalize()
	if req.Bucket.Name != "" {
		if err := b.Validate(); err != nil {
			return "", err
		}
	} else {
		b = store.Bucket{}
	}
	// The targets a job started on are a cluster's (bounded: a peer's
	// input; a resumed job's may be more than the cluster has now).
	if len(req.Targets) > maxJobTargets {
		return "", badRequest("job %s names %d targets, more than %d", req.ID, len(req.Targets), maxJobTargets)
	}
	var fn pipeline.JobFunc
	switch req.Kind {
	case jobMakeCopies:
		// One started under older props goes: it would cut the copies
		// that PUTs under the new ones make (it reads the count once).
		for _, j := range n.jobs.List() {
			if j.Kind == jobMakeCopies && j.Running && j.Bucket == b && j.ID != req.ID {
				// Not waited for: the object it copies may be big, and the
				// caller's request would time out.
				n.jobs.Replace(j.ID, errors.New("the bucket's mirroring changed: a new make-n-copies job replaces this one"))
			}
		}
		// The props it reads are the store's, as of this version at
		// least: a debt noted up to it is paid by its end (owed.go).
		since := n.storeBucketsVersion(ctx)
		fn = func(ctx context.Context, p *store.Progress) (any, error) {
			if ctx.Err() == nil {
				n.startedCopies(b, since) // (once it runs: a start refused notes nothing)
			}
			if hook := copiesStarting.Load(); hook != nil {
				if err := (*hook)(ctx, n.config.ID); err != nil {
					return nil, err
				}
			}
			err := n.config.Storage.MakeCopies(ctx, b, p)
			if err == nil {
				n.paidCopies(b, since)
			}
			return nil, err
		}
	case jobECEncode:
		if n.ec == nil {
			return "", badRequest("node %s does no erasure coding", n.config.ID)
		}
		fn = func(ctx context.Context, p *store.Progress) (any, error) {
			// Coded again before the cleanup of when it was off ended:
			// it ends first, on every target, else the parts it did not
			// reach would restore objects deleted while EC was off (and
			// those it did reach after the encode made them go).
			if err := n.waitJobsEnd(ctx, jobECCleanup, b); err != nil {
				return nil, err
			}
			if hook := encodeStarting.Load(); hook != nil {
				(*hook)(ctx)
			}
			return nil, n.ec.Protect(ctx, b, p)
		}
	case jobECCleanup:
		if n.ec == nil {
			return "", badRequest("node %s does no erasure coding", n.config.ID)
		}
		// Parts newer than now are of writes after EC is on again.
		before := n.stamp()
		// One still running (EC off, on, and off again) is replaced: this
		// one's stamp covers the parts of when EC was on meanwhile, which
		// that one spares (refused as busy, they would never go).
		for _, j := range n.jobs.List() {
			if j.Kind == jobECCleanup && j.Running && j.Bucket == b && j.ID != req.ID {
				n.jobs.Replace(j.ID, errors.New("erasure coding was turned off again: a new ec-cleanup replaces this one"))
			}
		}
		fn = func(ctx context.Context, p *store.Progress) (any, error) {
			// EC on again since the change that started it (an encode
			// then writes parts stamped as their objects, older than
			// before): nothing of it is to go. Told by props at least as
			// new as that change's: a target behind on them catches up
			// first (its EC "on" would be of before the change).
			if md := n.currentBuckets(); md == nil || md.Version < req.BucketsVersion {
				n.refresh(ctx)
				if md := n.currentBuckets(); md == nil || md.Version < req.BucketsVersion {
					return nil, fmt.Errorf("ec-cleanup of %s: this target has not the bucket metadata of the change (version %d): run it again", b, req.BucketsVersion)
				}
			}
			if props, err := n.bucketProps(b); err == nil && props.EC.Enabled {
				return nil, nil
			}
			return nil, n.ec.DropParts(ctx, b, before, p)
		}
	case jobECResilver:
		// One running goes first (its end waited for: two sweeps by two
		// maps would hand objects to their old owners): what changed
		// since it passed (the targets, a disk lost) would be missed.
		// The new one starts whatever its asker does meanwhile (the wait
		// may outlast its request: given up, this target would run no
		// sweep at all; no one waits on a sweep's id).
		ctx = context.WithoutCancel(ctx)
		for _, j := range n.jobs.List() {
			if j.Kind == jobECResilver && j.Running && j.ID != req.ID {
				n.jobs.Abort(j.ID, errors.New("a new ec-resilver replaces this one"))
			}
		}
		fn = n.ecResilver
	case jobResilver:
		fn = func(ctx context.Context, p *store.Progress) (any, error) {
			before := n.enabledMountpaths()
			err := n.config.Storage.Resilver(ctx, p)
			// A mountpath back (enabled now, reconciled, whatever else the
			// resilver did) may hold copies of objects this target no
			// longer owns (moved while it was away): they go to their
			// owners now, not at the next change of the map (after a
			// delete there, they would come back once its tombstone went).
			if after := n.enabledMountpaths(); len(after) > 0 && !after.SubsetOf(before) {
				n.rebalanceHere("a mountpath is back: its copies owned elsewhere move to their owners")
			}
			return nil, err
		}
	case jobScrub:
		fn = func(ctx context.Context, p *store.Progress) (any, error) { return n.scrub(ctx, b, req.Repair, p) }
	case jobDetach:
		fn = func(ctx context.Context, p *store.Progress) (any, error) {
			// Its resilver may enable a mountpath back too (see jobResilver).
			before := n.enabledMountpaths()
			err := n.config.Storage.DetachMountpath(ctx, req.Path, p)
			if after := n.enabledMountpaths(); len(after) > 0 && !after.SubsetOf(before) {
				n.rebalanceHere("a mountpath is back: its copies owned elsewhere move to their owners")
			}
			return nil, err
		}
	case jobSummary:
		fn = func(ctx context.Context, p *store.Progress) (any, error) { return n.summarize(ctx, b, req, p) }
	case jobDeleteObjects:
		fn = func(ctx context.Context, p *store.Progress) (any, error) { return n.deleteSelected(ctx, b, req, p) }
	case jobPrefetch:
		fn = func(ctx context.Context, p *store.Progress) (any, error) { return n.prefetchSelected(ctx, b, req, p) }
	case jobEvict:
		fn = func(ctx context.Context, p *store.Progress) (any, error) { return n.evictSelected(ctx, b, req, p) }
	case jobDownload:
		id := req.ID
		if id == "" {
			id = pipeline.NewJobID(jobDownload)
			req.ID = id
		}
		// This target's share, known before the job shows: a status read
		// as it starts counts it.
		var spec api.DownloadRequest
		if err := json.Unmarshal(req.Download, &spec); err != nil {
			return "", badRequest("download: %w", err)
		}
		items, err := downloadItems(&spec, n.downloadShare(b, req.Targets))
		if err != nil {
			return "", err
		}
		total = int64(len(items))
		fn = func(ctx context.Context, p *store.Progress) (any, error) {
			return n.download(ctx, id, b, req.BucketCreated, req.Download, spec, items, req.Targets, p)
		}
	case jobLRU:
		fn = n.runLRU
	case jobIndexShards:
		fn = func(ctx context.Context, p *store.Progress) (any, error) { return n.indexSelected(ctx, b, req, p) }
	case jobCopyBucket, jobCopyObjects:
		if err := req.To.Normalize().Validate(); err != nil {
			return "", err
		}
		fn = func(ctx context.Context, p *store.Progress) (any, error) { return n.copySelected(ctx, b, req, p) }
	case jobArchive:
		if err := req.To.Normalize().Validate(); err != nil {
			return "", err
		}
		if req.Archive == nil || store.ValidateName(req.Archive.ArchName) != nil {
			return "", badRequest("archive: the job names no valid shard")
		}
		fn = func(ctx context.Context, p *store.Progress) (any, error) { return n.archiveSelected(ctx, b, req, p) }
	default:
		return "", badRequest("job kind %q is not known (want %s)", req.Kind, strings.Join([]string{jobMakeCopies, jobECEncode, jobECCleanup, jobResilver, jobScrub, jobECResilver, jobSummary, jobDeleteObjects, jobCopyBucket, jobCopyObjects, jobArchive, jobIndexShards, jobPrefetch, jobEvict, jobDownload}, ", "))
	}
	if req.Kind != jobResilver && req.Kind != jobECResilver && req.Kind != jobDetach && req.Kind != jobLRU && (req.Kind != jobSummary || b.Name != "") {
		if _, err := n.bucketProps(b); err != nil {
			return "", err
		}
	}
	if err := ctx.Err(); err != nil {
		// Given up while this target made ready (a download's template
		// expanded takes seconds): the gateway's abort may have found
		// nothing here, and the job would run with nobody knowing its id.
		return "", fmt.Errorf("%w: the request to start job %s was given up: %w", api.ErrUnavailable, req.ID, err)
	}
	// The job's work waits for the check below: refused, it ends having
	// done nothing (no file fetched, no journal written).
	gate := make(chan struct{})
	work := fn
	fn = func(ctx context.Context, p *store.Progress) (any, error) {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
		return work(ctx, p)
	}
	var id string
	var err error
	switch req.Kind {
	case jobDownload, jobPrefetch, jobSummary, jobDeleteObjects, jobEvict, jobCopyBucket, jobCopyObjects, jobArchive, jobIndexShards:
		// Over names each job selects: many run on one bucket at once
		// (two downloads into one bucket were refused as busy).
		id, err = n.jobs.StartOnSharedCounted(ctx, req.ID, req.Kind, b, req.Targets, total, fn)
	default:
		id, err = n.jobs.StartOn(ctx, req.ID, req.Kind, b, req.Targets, fn)
	}
	if err != nil {
		return id, err
	}
	if req.Kind == jobCopyBucket || req.Kind == jobCopyObjects || req.Kind == jobArchive {
		// Its destination destroyed, or made again, ends it too: it
		// would go on writing into the new one of the name.
		n.jobs.SetDestination(id, req.To.Normalize())
	}
	// Asked again once the job is known: an abort, or the bucket made
	// again, that came while it was made ready (a download's names
	// expanded) found no job to end.
	if err := n.startRefused(ctx, req); err != nil {
		n.jobs.Abort(id, err) // (its work has not begun: it ends at once)
		return "", err
	}
	close(gate)
	return id, nil
}

// startRefused refuses a job aborted here before it started (see
// abortBeforeStart), or of its bucket as made before the bucket of the
// name here (destroyed and made again: the gateway behind, or this
// target; asked again, it may be the same).
func (n *Node) startRefused(ctx context.Context, req peer.JobRequest) error {
	if n.abortedBeforeStart(req.ID) {
		return fmt.Errorf("%w: job %s was aborted before it started on target %s", api.ErrConflict, req.ID, n.config.ID)
	}
	if err := n.sameBucket(ctx, req.ID, req.Bucket, req.BucketCreated); err != nil {
		return err
	}
	// Its destination too: destroyed or made again before the job knew
	// it (SetDestination), it would be written into.
	return n.sameBucket(ctx, req.ID, req.To, req.ToCreated)
}

// sameBucket refuses a job of bucket b as made at created (0: not said)
// when the bucket of the name here is gone, or another.
func (n *Node) sameBucket(ctx context.Context, id string, b store.Bucket, created int64) error {
	if created == 0 || b.Name == "" {
		return nil
	}
	// The store's, which has a change before its jobs are ended
	// (abortJobsOf).
	props, err := store.PropsOf(ctx, n.config.Store, b.Normalize())
	if errors.Is(err, store.ErrBucketNotFound) {
		return fmt.Errorf("job %s: bucket %s was destroyed: %w", id, b, err)
	}
	if err == nil && props.Created != 0 && int64(props.Created) != created {
		return fmt.Errorf("%w: job %s is of bucket %s as made at %d; the bucket of the name here was made at %d (destroyed and made again): retry",
			api.ErrUnavailable, id, b, created, props.Created)
	}
	return nil
}

// scrub checks a bucket's objects here; an object of an erasure-coded
// bucket with no good copy is restored from its parts.
func (n *Node) scrub(ctx context.Context, b store.Bucket, repair bool, progress *store.Progress) (store.ScrubReport, error) {
	opts := store.ScrubOptions{
		Repair: repair,
		Owned: func(b store.Bucket, name string) bool {
			owner, err := n.currentMap().Owner(cluster.Uname(b.Provider, b.Name, name))
			return err == nil && owner.ID == n.config.ID
		},
	}
	removed := map[string]bool{} // names whose bad parts the repair removed
	var reprotectErrs []error
	flush := func() {
		if len(removed) == 0 {
			return
		}
		if err := n.reprotect(ctx, b, slices.Sorted(maps.Keys(removed))); err != nil && len(reprotectErrs) < 10 {
			reprotectErrs = append(reprotectErrs, err)
		}
		clear(removed)
	}
	if props, ok := n.ecProps(b); ok && props.EC.Enabled && n.ec != nil {
		// (The scrub removed the bad replica, that very file, first.)
		opts.Restore = n.ec.Restore
		opts.PartRemoved = func(_ store.Bucket, name string) {
			removed[name] = true
			if len(removed) >= maxEnsure {
				flush() // (not one name dropped: its part would stay gone)
			}
		}
	}
	report, err := n.config.Storage.Scrub(ctx, b, opts, progress)
	flush()
	report.Repair = repair
	return report, errors.Join(append([]error{err}, reprotectErrs...)...)
}

// reprotectTimeout bounds one request that has an owner store a batch
// of objects' parts again.
const reprotectTimeout = 10 * time.Minute

// reprotect has the owners of objects whose parts this target removed
// (bad) store them again.
func (n *Node) reprotect(ctx context.Context, b store.Bucket, names []string) error {
	m := n.currentMap()
	byOwner := map[string][]string{}
	owners := map[string]cluster.Node{}
	for _, name := range names {
		owner, err := m.Owner(cluster.Uname(b.Provider, b.Name, name))
		if err != nil {
			return err
		}
		byOwner[owner.ID] = append(byOwner[owner.ID], name)
		owners[owner.ID] = owner
	}
	var errs []error
	for id, names := range byOwner {
		for batch := range slices.Chunk(names, 100) {
			bctx, cancel := context.WithTimeout(ctx, reprotectTimeout)
			var err error
			if id == n.config.ID {
				err = n.ec.Reprotect(bctx, b, batch)
			} else {
				err = n.peer.Reprotect(bctx, owners[id], b, batch)
			}
			cancel()
			if err != nil {
				errs = append(errs, fmt.Errorf("scrub: the parts removed, stored again by target %s: %w", id, err))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// ecResilver runs after the targets changed: once the rebalance is done,
// every erasure-coded bucket is swept (see ec.Store.Sweep).
func (n *Node) ecResilver(ctx context.Context, progress *store.Progress) (any, error) {
	if err := ecResilverHeld(ctx); err != nil {
		return nil, err
	}
	// Objects move first: then each has its new owner. (Not moving(),
	// which stays true long after a run, for reads of stragglers.)
	for r := n.rebalancer(); r != nil && r.Running(); {
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(200 * time.Millisecond):
		}
	}
	md := n.currentBuckets()
	var errs []error // one bucket that fails does not leave the others unswept
	for b, props := range md.Buckets {
		if !props.EC.Enabled {
			continue
		}
		if err := n.ec.Sweep(ctx, b, progress); err != nil {
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			errs = append(errs, fmt.Errorf("sweep %s: %w", b, err))
		}
	}
	return nil, errors.Join(errs...)
}

// restartECResilver replaces a running ec-resilver with a fresh one: the
// targets changed again.
func (n *Node) restartECResilver() {
	if n.ec == nil || n.loopsContext() == nil || !n.hasEC() {
		return
	}
	// In the background: the start waits for the running sweep to end,
	// which may be past an object of gigabytes, and the map's install
	// (and every push after it) must not. One start at a time, each
	// sweeping by the map current when it runs.
	n.background(func() {
		n.ecRestarts.Lock()
		defer n.ecRestarts.Unlock()
		if n.loopsContext().Err() != nil {
			return
		}
		if _, err := n.startJob(n.loopsContext(), peer.JobRequest{Kind: jobECResilver}); err != nil {
			n.logger.Warn("start ec-resilver", "err", err)
		}
	})
}

// dropStaleParts runs ec-cleanup here for each bucket no longer
// erasure-coded that still has parts here: the one its gateway started
// missed this target, away (down or offline) when erasure coding was
// turned off, and the parts would take room for good.
func (n *Node) dropStaleParts() {
	if n.ec == nil || n.loopsContext() == nil {
		return
	}
	// The buckets as the primary has them now: a map taken with its
	// buckets refused (too far ahead) leaves older ones here, in which a
	// bucket coded again meanwhile would read as not.
	if err := n.control.Refresh(n.loopsContext()); err != nil {
		n.logger.Warn("the cleanup of parts missed while away waits for the next return: the primary's buckets are unknown", "err", err)
		return
	}
	errFound := errors.New("a part")
	for b, props := range n.currentBuckets().Buckets {
		if props.EC.Enabled {
			continue
		}
		err := n.local.WalkParts(n.loopsContext(), b, func(store.PartMeta) error { return errFound })
		if !errors.Is(err, errFound) {
			continue
		}
		fn := func(ctx context.Context, p *store.Progress) (any, error) {
			// Asked again once the job is known: an ec-encode started
			// from now on waits for it (waitJobsEnd), and a bucket coded
			// again before keeps its parts.
			if props, err := n.bucketProps(b); err != nil || props.EC.Enabled {
				return nil, nil
			}
			return nil, n.ec.DropParts(ctx, b, n.stamp(), p)
		}
		if _, err := n.jobs.StartOn(n.loopsContext(), pipeline.NewJobID(jobECCleanup), jobECCleanup, b, nil, fn); err != nil {
			n.logger.Warn("ec-cleanup of a bucket no longer erasure-coded, missed while away", "bucket", b.String(), "err", err)
		}
	}
}

// hasEC reports whether a bucket is erasure-coded.
func (n *Node) hasEC() bool {
	for _, props := range n.currentBuckets().Buckets {
		if props.EC.Enabled {
			return true
		}
	}
	return false
}

// ecResilverEverywhere starts ec-resilver on every active target after
// this one lost a mountpath: the parts it kept there are of objects
// other targets own, which send them again, and the objects it owned
// there come back from the parts the others hold.
// ecResilverHeld holds a resilver at its start (a test's hook).
var ecResilverHeld = func(context.Context) error { return nil }

func (n *Node) ecResilverEverywhere() {
	if n.ec == nil || n.loopsContext() == nil || !n.hasEC() {
		return
	}
	var wg sync.WaitGroup // one that hangs does not hold the others
	for _, t := range n.currentMap().ActiveTargets() {
		if t.ID == n.config.ID {
			wg.Go(n.restartECResilver)
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(n.loopsContext(), n.config.RequestTimeout)
			defer cancel()
			if err := n.peer.StartJob(ctx, t, peer.JobRequest{Kind: jobECResilver}); err != nil {
				n.logger.Warn("start ec-resilver on a target after a mountpath was lost here", "target", t.ID, "err", err)
			}
		})
	}
	wg.Wait()
}

func (n *Node) handleAbortJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := pipeline.ValidateJobID(id); err != nil {
		n.writeError(w, r, badRequest("%w", err))
		return
	}
	// Read before: once ready, the jobs it resumes have started.
	started := n.ready.Load()
	var err error
	if r.URL.Query().Get("remove") == "true" {
		err = n.jobs.Remove(id)
	} else {
		// Kept first: a start under way (its names being made) that
		// registers the job after this abort looked finds it then.
		n.abortBeforeStart(id)
		err = n.jobs.Abort(id, fmt.Errorf("by a user request to gateway %s", r.URL.Query().Get(api.QueryProxyID)))
	}
	if errors.Is(err, pipeline.ErrJobNotFound) && !started && strings.HasPrefix(id, jobDownload+"-") {
		// A download, which it resumes once started, would escape the
		// abort: asked again, it answers.
		err = n.notReady()
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	if strings.HasPrefix(id, jobDownload+"-") {
		// A download cut by this node's shutdown keeps its file, to be
		// resumed at the start: aborted meanwhile, it is not.
		n.forgetDownload(id)
	}
	w.WriteHeader(http.StatusOK)
}

// abortBeforeStart remembers, for abortedEarlyFor, an abort of a job this
// target does not know: a gateway starts a job on the targets one after
// another (a download's each expanding its names), and one aborted
// meanwhile must not start on those that come after.
func (n *Node) abortBeforeStart(id string) {
	n.abortedEarly.mu.Lock()
	defer n.abortedEarly.mu.Unlock()
	now := time.Now()
	if n.abortedEarly.ids == nil {
		n.abortedEarly.ids = map[string]time.Time{}
	}
	for old, at := range n.abortedEarly.ids {
		if now.Sub(at) > abortedEarlyFor {
			delete(n.abortedEarly.ids, old)
		}
	}
	if len(n.abortedEarly.ids) < maxAbortedEarly {
		n.abortedEarly.ids[id] = now
	}
}

// abortedBeforeStart reports an id aborted here before it started.
func (n *Node) abortedBeforeStart(id string) bool {
	n.abortedEarly.mu.Lock()
	defer n.abortedEarly.mu.Unlock()
	at, ok := n.abortedEarly.ids[id]
	return ok && time.Since(at) <= abortedEarlyFor
}

// abortedEarlyFor is how long an abort before a start is kept (longer
// than a job's start on every target takes); maxAbortedEarly bounds them.
const (
	abortedEarlyFor = 10 * time.Minute
	maxAbortedEarly = 4096
)

// MountpathChanged is told by the store of a mountpath disabled, enabled
// or detached: the objects move to their places (resilver), and the
// objects of erasure-coded buckets that only it held are restored.
func (n *Node) MountpathChanged(path, state, reason string) {
	if state == "disabled" {
		n.metrics.mountpathsDisabled.Inc()
		n.abortJobsReadingInput(path, reason)
	}
	if n.loopsContext() == nil || n.config.Storage == nil {
		return
	}
	n.resilverAfterChange(path, state)
	if state == "disabled" {
		// Erasure coding's parts and replicas there are lost too.
		n.background(n.ecResilverEverywhere)
	}
}

// resilverAfterChange starts a resilver for a mountpath change; one
// running may have passed what changed (a mountpath enabled would stay
// returning, copies short for names done): another follows it, one for
// all the changes made meanwhile.
func (n *Node) resilverAfterChange(path, state string) {
	_, err := n.startJob(n.loopsContext(), peer.JobRequest{Kind: jobResilver})
	if !errors.Is(err, pipeline.ErrJobBusy) {
		if err != nil {
			n.logger.Warn("start a resilver after a mountpath change", "mountpath", path, "state", state, "err", err)
		}
		return
	}
	if !n.resilverPending.CompareAndSwap(false, true) {
		return // one waits already, and starts after this change
	}
	started := n.background(func() { // ends with the node's loops
		defer n.resilverPending.Store(false)
		for {
			select {
			case <-n.loopsContext().Done():
				return
			case <-time.After(resilverRetry):
			}
			_, err := n.startJob(n.loopsContext(), peer.JobRequest{Kind: jobResilver})
			if errors.Is(err, pipeline.ErrJobBusy) {
				continue
			}
			if err != nil {
				n.logger.Warn("start a resilver after a mountpath change", "mountpath", path, "state", state, "err", err)
			}
			return
		}
	})
	if !started {
		n.resilverPending.Store(false) // the node closes
	}
}

// resilverRetry is how often a resilver waiting for the running one asks
// again (a variable for the tests).
var resilverRetry = time.Second

// mountpathSet is a set of mountpaths' paths.
type mountpathSet map[string]bool

// SubsetOf reports whether every path of s is in other.
func (s mountpathSet) SubsetOf(other mountpathSet) bool {
	for path := range s {
		if !other[path] {
			return false
		}
	}
	return true
}

// enabledMountpaths returns the mountpaths enabled now.
func (n *Node) enabledMountpaths() mountpathSet {
	out := mountpathSet{}
	for _, mp := range n.config.Storage.MountpathStatuses() {
		if mp.State == "enabled" { // (store/fs's state)
			out[mp.Path] = true
		}
	}
	return out
}

// rebalanceHere runs a rebalance of this target's objects under the
// current map, unless it is offline in it (it joins again rather than
// move its objects away, as mapChanged has it).
func (n *Node) rebalanceHere(why string) {
	// Against a map's install: a newer one is either seen here, or
	// installed after this start (and its change starts its own run).
	n.placement.RLock()
	defer n.placement.RUnlock()
	m := n.currentMap()
	if m == nil || n.rebalancer() == nil {
		return
	}
	if self, ok := m.Node(n.config.ID); !ok || self.State == cluster.StateOffline {
		return
	}
	n.logger.Info(why, "map", m.Version)
	n.startRebalance(m)
}

// abortJobsReadingInput stops the dSort jobs still reading their input
// here when a mountpath is disabled: an input shard on it would read as
// missing and, by missing_shards' default, its records be dropped without
// a word (a job started then is refused for it, see settledForDsort).
func (n *Node) abortJobsReadingInput(path, reason string) {
	if n.worker == nil || n.loopsContext() == nil {
		return
	}
	for _, s := range n.worker.Jobs() {
		if s.Done() || s.Phase != pipeline.PhaseInit && s.Phase != pipeline.PhaseExtract {
			continue
		}
		cause := fmt.Sprintf("mountpath %s of target %s was disabled while the job read its input (%s): its shards there would be missing; run the job again", path, n.config.ID, reason)
		n.background(func() {
			if err := n.worker.Abort(n.loopsContext(), s.ID, cause); err != nil && !errors.Is(err, pipeline.ErrJobFinished) {
				n.logger.Warn("abort a dsort job reading a disabled mountpath", "job", s.ID, "err", err)
			}
		})
	}
}

// resilverReturning starts a resilver when mountpaths that were away
// before a restart are back: it reconciles and enables them.
func (n *Node) resilverReturning() {
	if n.config.Storage == nil {
		return
	}
	for _, mp := range n.config.Storage.MountpathStatuses() {
		if mp.State == "returning" {
			n.MountpathChanged(mp.Path, mp.State, "")
			return
		}
	}
}

// Repaired is told by the store of a copy rewritten from a good one.
func (n *Node) Repaired(b store.Bucket, name, path string) {
	n.metrics.repairs.WithLabelValues("mirror").Inc()
}

// Cluster-wide jobs and protection props (on gateways).

// maxJobTargets bounds the targets a job request names.
const maxJobTargets = 10000

// jobStartTimeout bounds a target's start of a job: a download of many
// links is megabytes to decode and record, past a control call's time
// on a busy node.
const jobStartTimeout = 2 * time.Minute

// startClusterJob starts a job on every active target under one id; a
// target that refuses makes the job stop on the others.
func (n *Node) startClusterJob(ctx context.Context, req peer.JobRequest) (string, error) {
	if req.ID != "" {
		return n.startClusterJobAs(ctx, req)
	}
	// A new id that a target holds already (ids are short) is drawn again.
	for range 3 {
		req.ID = newJobID(req.Kind)
		id, err := n.startClusterJobAs(ctx, req)
		if !errors.Is(err, pipeline.ErrJobExists) {
			return id, err
		}
	}
	return "", fmt.Errorf("start %s: every id drawn is taken", req.Kind)
}

// errNoActiveTarget is a cluster job with no target to run it.
var errNoActiveTarget = errors.New("no active target")

// newJobID draws a cluster job's id (a variable for the tests).
var newJobID = pipeline.NewJobID

// startClusterJobAs is startClusterJob under req.ID.
func (n *Node) startClusterJobAs(ctx context.Context, req peer.JobRequest) (string, error) {
	var started []cluster.Node
	targets := n.currentMap().ActiveTargets()
	if len(targets) == 0 {
		return "", fmt.Errorf("%w: start %s: %w", api.ErrUnavailable, req.Kind, errNoActiveTarget)
	}
	// Every job names its targets: a download or prefetch splits its
	// names by them, and any job's status then tells a target that does
	// not answer (its part unknown) from one done.
	for _, t := range targets {
		req.Targets = append(req.Targets, t.ID)
	}
	if md := n.currentBuckets(); md != nil {
		req.BucketsVersion = md.Version
		if props, ok := md.Props(req.Bucket); ok && req.Bucket.Name != "" {
			req.BucketCreated = int64(props.Created)
		}
		if props, ok := md.Props(req.To); ok && req.To.Name != "" {
			req.ToCreated = int64(props.Created)
		}
	}
	if req.Writer != "" && !slices.Contains(req.Targets, req.Writer) {
		// Its writer left the active targets since it was picked (in
		// maintenance, gone): every part would end at once, nothing
		// written, and the job read as done.
		return "", fmt.Errorf("%w: start %s: its writer, target %s, is not active now: try again", api.ErrUnavailable, req.Kind, req.Writer)
	}
	startCtx, cancel := context.WithTimeout(ctx, jobStartTimeout)
	defer cancel()
	for _, t := range targets {
		if err := n.peer.StartJob(startCtx, t, req); err != nil {
			// The target that failed may have started it all the same
			// (the answer lost, the caller gone): it is aborted too,
			// unless it refused the id, which is another job's there.
			undo := started
			if !errors.Is(err, pipeline.ErrJobExists) {
				undo = append(undo, t)
			}
			var running []string // parts the abort did not reach
			for _, s := range undo {
				aerr := n.peer.AbortJob(context.WithoutCancel(ctx), s, req.ID)
				if aerr != nil && !errors.Is(aerr, api.ErrJobNotFound) && !errors.Is(aerr, pipeline.ErrJobNotFound) {
					n.logger.Warn("a job that failed to start could not be stopped on a target that may have started it", "job", req.ID, "target", s.ID, "err", aerr)
					if s.ID != t.ID {
						// (The one that failed is not said to run it: its
						// start most likely never reached it, as its abort.)
						running = append(running, s.ID)
					}
					continue
				}
				if errors.Is(err, pipeline.ErrJobExists) {
					// The id is another job's: its status must not
					// show this one's abort.
					n.peer.ForgetJob(context.WithoutCancel(ctx), s, req.ID)
				}
			}
			if len(running) > 0 {
				// Said, not a failure that reads as nothing done: a retry
				// would run the work a second time beside them. A 409,
				// which clients do not send again (a 503 they do; nor
				// ErrJobExists, which draws another id).
				return "", fmt.Errorf("%w: start %s on target %s: %v; it may still run on %s, which the abort did not reach: stop job %s (ais job stop %s) before starting it again",
					api.ErrConflict, req.Kind, t.ID, err, strings.Join(running, ", "), req.ID, req.ID)
			}
			return "", fmt.Errorf("start %s on target %s: %w", req.Kind, t.ID, err)
		}
		started = append(started, t)
	}
	return req.ID, nil
}

// checkProtection refuses props a cluster cannot honor: more copies than a
// target has mountpaths, more slices than there are targets, a changed
// layout of an erasure-coded bucket.
func (n *Node) checkProtection(ctx context.Context, current *store.Props, next store.Props) error {
	targets := n.currentMap().ActiveTargets()
	if next.Mirror.Enabled && next.Mirror.Copies > 1 && (current == nil || current.Mirror != next.Mirror) {
		for _, t := range targets {
			s, err := n.peer.Status(ctx, t)
			if err != nil {
				return fmt.Errorf("%w: mirror.copies: target %s does not answer: %w", api.ErrUnavailable, t.ID, err)
			}
			enabled := 0
			for _, mp := range s.Mountpaths {
				if mp.State == "enabled" {
					enabled++
				}
			}
			if next.Mirror.Copies > enabled {
				return badRequest("mirror.copies %d is more than the %d mountpaths of target %s", next.Mirror.Copies, enabled, t.ID)
			}
		}
	}
	if current != nil && current.EC.Enabled && !next.EC.Enabled {
		if err := n.checkPartsNotNeeded(ctx); err != nil {
			return err
		}
	}
	// When erasure coding turns on (its layout cannot change while on):
	// a target in maintenance, or away, does not refuse other changes of
	// a bucket already coded.
	if next.EC.Enabled && (current == nil || !current.EC.Enabled) {
		// As in AIStore: the owner keeps the object, each slice needs a
		// target of its own.
		if total := next.EC.DataSlices + next.EC.ParitySlices; total+1 > len(targets) {
			return badRequest("ec.data_slices + ec.parity_slices is %d: it needs %d targets (the owner and one per slice), the cluster has %d", total, total+1, len(targets))
		}
	}
	return nil
}

// checkPartsNotNeeded refuses to turn erasure coding off while some
// objects may be held only as parts: a mountpath away, an ec-resilver
// under way (what a lost disk or target held is being restored from
// parts), or a target offline (it keeps its own copies, and back, drops
// the parts it missed the cleanup of; but one that never comes back is
// removed, and what it owned was to be restored from the parts the
// cleanup dropped). The cleanup would drop the only copy.
func (n *Node) checkPartsNotNeeded(ctx context.Context) error {
	for _, node := range n.currentMap().Nodes {
		if node.Role.IsTarget() && node.State == cluster.StateOffline && !ecOffPastOffline.Load() {
			return fmt.Errorf("%w: ec.enabled false: target %s is offline, and if it does not come back, what it owned is restored from parts: bring it back, or remove it (ais cluster rm-target %s --yes) and let the restore end, first", store.ErrConflict, node.ID, node.ID)
		}
	}
	for _, t := range n.currentMap().ActiveTargets() {
		s, err := n.peer.Status(ctx, t)
		if err != nil {
			return fmt.Errorf("%w: ec.enabled false: target %s does not answer: %w", api.ErrUnavailable, t.ID, err)
		}
		for _, mp := range s.Mountpaths {
			// (A detaching one is read still: nothing of it is held
			// only as parts.)
			if mp.State == "disabled" || mp.State == "returning" {
				return fmt.Errorf("%w: ec.enabled false: a mountpath of target %s is %s, and what it held may be restored from parts: enable it and let its resilver end, or detach it first", store.ErrConflict, t.ID, mp.State)
			}
		}
	}
	for _, node := range n.status(ctx).Nodes {
		for _, j := range node.Jobs {
			if j.Running && j.Kind == jobECResilver {
				return fmt.Errorf("%w: ec.enabled false: %s %s runs on %s, restoring objects from parts: wait for it to end", store.ErrConflict, j.Kind, j.ID, node.ID)
			}
		}
	}
	return nil
}

// afterPropsChange starts the jobs a change of props calls for: copies
// made or removed when mirroring changed, parts stored when a bucket
// became erasure-coded, removed when it stopped being. One change may
// call for two (mirroring and EC set at once): both start. It returns the
// id of the first job started, if any.
func (n *Node) afterPropsChange(ctx context.Context, b store.Bucket, before, after store.Props) (string, error) {
	var kinds []string
	if before.Mirror != after.Mirror && (after.Mirror.Enabled || before.Mirror.Enabled) {
		kinds = append(kinds, jobMakeCopies)
	}
	switch {
	case after.EC.Enabled && !before.EC.Enabled:
		kinds = append(kinds, jobECEncode)
	case before.EC.Enabled && !after.EC.Enabled:
		kinds = append(kinds, jobECCleanup)
	}
	if slices.Contains(kinds, jobECCleanup) {
		// An encode under way would go on writing parts behind the
		// cleanup, and, coding turned on again, go on from where it was
		// with the parts of the objects it passed gone.
		n.stopJobsOf(ctx, jobECEncode, b)
	}
	first := ""
	for _, kind := range kinds {
		id, err := n.startClusterJob(ctx, peer.JobRequest{Kind: kind, Bucket: b})
		for wait := time.Duration(0); errors.Is(err, pipeline.ErrJobBusy) && kind == jobECEncode && wait < encodeBusyWait; wait += 100 * time.Millisecond {
			// The one stopped as coding was turned off is ending.
			select {
			case <-ctx.Done():
				return first, context.Cause(ctx)
			case <-time.After(100 * time.Millisecond):
			}
			id, err = n.startClusterJob(ctx, peer.JobRequest{Kind: kind, Bucket: b})
		}
		if err != nil && first != "" && !errors.Is(err, errNoActiveTarget) {
			// The first job runs; this one did not start: said, as when
			// none did (an answer of the first's id alone left the
			// bucket, say, erasure-coded with no object encoded, and a
			// retry of the change starts nothing).
			return "", fmt.Errorf("%w: the props of %s are changed and its %s job %s runs, but its %s job did not start (%s): start it with %s", store.ErrConflict, b, kinds[0], first, kind, err.Error(), startBy(kind, b))
		}
		if errors.Is(err, errNoActiveTarget) {
			// The change is made: with no target to run the job now,
			// each runs its share when it is back (a sweep, a resilver).
			n.logger.Warn("a bucket's props changed with no active target to run its job", "bucket", b.String(), "kind", kind)
			continue
		}
		if err != nil {
			// Made, with no job to follow it: a retry of the same change
			// changes nothing, so it starts none either. Said, with what
			// starts it by hand.
			// 409, not the cause's 503: a client that retries would
			// find the change made, start nothing, and answer success.
			return "", fmt.Errorf("%w: the props of %s are changed, but its %s job did not start (%s): start it with %s", store.ErrConflict, b, kind, err.Error(), startBy(kind, b))
		}
		if first == "" {
			first = id
		}
	}
	return first, nil
}

// startBy is how a user starts a props change's job by hand.
func startBy(kind string, b store.Bucket) string {
	switch kind {
	case jobMakeCopies:
		return fmt.Sprintf("`ais bucket mirror %s --copies N` (the action %s)", b, api.ActionMakeNCopies)
	case jobECEncode:
		return fmt.Sprintf("`ais bucket ec-encode %s --data D --parity P` (the action %s)", b, api.ActionECEncode)
	}
	return "a change of the props back and again"
}

// ecOffPastOffline lets erasure coding be turned off while a target is
// offline (a test of a target that missed the cleanup, as one that died
// as it started does).
var ecOffPastOffline atomic.Bool

// encodeStarting runs as an ec-encode begins its objects (a test's hook).
var encodeStarting atomic.Pointer[func(context.Context)]

// copiesStarting runs as a make-n-copies begins on target node (a test's
// hook).
var copiesStarting atomic.Pointer[func(context.Context, string) error]

// encodeBusyWait bounds the wait of an encode for the one before it to
// end.
const encodeBusyWait = 10 * time.Second

// stopJobsOf stops the jobs of a kind running on a bucket.
func (n *Node) stopJobsOf(ctx context.Context, kind string, b store.Bucket) {
	ids := map[string]bool{}
	for _, node := range n.status(ctx).Nodes {
		for _, j := range node.Jobs {
			if j.Kind == kind && j.Running && j.Bucket == b.String() {
				ids[j.ID] = true
			}
		}
	}
	for id := range ids {
		if err := n.stopClusterJob(ctx, id); err != nil && !errors.Is(err, api.ErrJobNotFound) {
			n.logger.Warn("stop a job the change of a bucket's props ends", "bucket", b.String(), "job", id, "err", err)
		}
	}
}

// setProtectedProps applies a change of a bucket's props after checking
// it against the cluster, then starts the jobs it calls for.
func (n *Node) setProtectedProps(ctx context.Context, b store.Bucket, patch json.RawMessage) (string, error) {
	if err := checkPatch("set-bprops", patch); err != nil {
		return "", err
	}
	if err := checkPropsFields("set-bprops", patch); err != nil {
		return "", err
	}
	current, err := n.requestedBucketProps(b)
	if err != nil {
		return "", err
	}
	if err := checkFixedProps("set-bprops", current, patch); err != nil {
		return "", err
	}
	// A change of mirroring or erasure coding applies to the props it
	// was checked against (IfProps): the checks (slices, copies) hold for
	// what is committed, and the jobs it calls for are chosen from the
	// props it changed. Another change committed first (through any
	// gateway) has it checked again. Others need no such care: they are
	// applied as sent (of the base level, which every gateway takes).
	// A props document sent back whole names mirroring and coding as they
	// are: those go from the patch (sent, they could undo a change made
	// meanwhile, and would need the newer level).
	patch = withoutUnchangedProtection(current, patch)
	guarded := touchesProtection(patch)
	for attempt := 1; ; attempt++ {
		state := n.control.Current()
		before, ok := state.Buckets.Props(b)
		if !ok {
			return "", fmt.Errorf("bucket %s: %w", b, store.ErrBucketNotFound)
		}
		change := membership.Change{Kind: membership.SetProps, Bucket: b, Patch: patch}
		if guarded {
			change.IfProps, change.Level = membership.PropsDigest(before), membership.LevelPropsIf
		}
		// What the change would give, to check it before it is proposed.
		trial, err := membership.Apply(state, change)
		if err == nil {
			err = membership.Admissible(state, change) // this build's rules, before the targets are asked
		}
		if err != nil {
			return "", membershipError(err)
		}
		after, _ := trial.Buckets.Props(b)
		if err := n.checkProtection(ctx, &before, after); err != nil {
			return "", err
		}
		var s membership.Snapshot
		s, err = n.control.Propose(ctx, change)
		if errors.Is(err, membership.ErrLeaderBehind) {
			// A gateway of an older build leads (an upgrade under way):
			// the change as before, against whatever props it finds.
			change.IfProps, change.Level = "", 0
			s, err = n.control.Propose(ctx, change)
		}
		if err == nil && !guarded {
			return "", nil // (no job: mirroring and coding as they were)
		}
		if err == nil && change.IfProps == "" {
			after, _ = s.Buckets.Props(b) // (the older leader's way)
		}
		if propsChanged(err) && attempt < propsAttempts {
			n.refresh(ctx)
			// Made already: this try's, whose answer was lost (a forward
			// re-sent), or the same change by another request; either
			// way its jobs are started, or run already.
			if now, ok := n.control.Current().Buckets.Props(b); ok && membership.PropsDigest(now) == membership.PropsDigest(after) {
				return n.afterPropsChange(ctx, b, before, after)
			}
			continue
		}
		if err != nil {
			return "", membershipError(err)
		}
		// The targets start the job once they have the new props.
		return n.afterPropsChange(ctx, b, before, after)
	}
}

// checkFixedProps refuses a patch that sets what the cluster keeps as it
// is (a bucket's access and features: there is no access control by
// bucket yet) to another value: applied, it would be dropped and the
// change answered as made. A whole props document sent back passes.
func checkFixedProps(action string, current store.Props, patch json.RawMessage) error {
	probe := current.Clone()
	if json.Unmarshal(patch, &probe) != nil {
		return nil // (the change refuses it, saying why)
	}
	// (Provider, created and bid are a bucket's own, not props to set:
	// another bucket's sent back are ignored, as AIStore does.) An empty
	// value is the default: every permission, no feature.
	for _, f := range []struct {
		name, was, want, empty string
	}{
		{"access", current.Access, probe.Access, store.AccessAll},
		{"features", current.Features, probe.Features, "0"},
	} {
		if cmp.Or(f.was, f.empty) != cmp.Or(f.want, f.empty) {
			return badRequest("%s: %s is the cluster's to keep (it is %q here, not %q)", action, f.name, f.was, f.want)
		}
	}
	return nil
}

// withoutUnchangedProtection drops mirror and ec from a whole props
// document sent back (it names the bucket's creation) where they are as
// this gateway has them. A partial patch keeps them: a change of them
// through a gateway behind is checked against the props of now.
func withoutUnchangedProtection(current store.Props, patch json.RawMessage) json.RawMessage {
	var fields map[string]json.RawMessage
	probe := current.Clone()
	if json.Unmarshal(patch, &fields) != nil || json.Unmarshal(patch, &probe) != nil {
		return patch
	}
	if !slices.ContainsFunc(slices.Collect(maps.Keys(fields)), func(k string) bool {
		return strings.EqualFold(k, "created") || strings.EqualFold(k, "bid")
	}) {
		return patch
	}
	dropped := false
	for k := range fields {
		switch {
		case strings.EqualFold(k, "mirror") && probe.Mirror == current.Mirror, strings.EqualFold(k, "ec") && probe.EC == current.EC:
			delete(fields, k)
			dropped = true
		}
	}
	if !dropped {
		return patch
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return patch
	}
	return out
}

// propsChanged reports a props change refused because the bucket's props
// changed since it was asked; from the leader through a follower, it is a
// 409 saying so (the sentinel does not cross the wire).
func propsChanged(err error) bool {
	return errors.Is(err, membership.ErrMapChanged) || statusOf(err) == http.StatusConflict && strings.Contains(err.Error(), membership.PropsChangedMessage)
}

// touchesProtection reports a props patch that names mirroring or erasure
// coding: the changes checked against the cluster that start jobs.
func touchesProtection(patch json.RawMessage) bool {
	var fields map[string]json.RawMessage
	if json.Unmarshal(patch, &fields) != nil {
		return true
	}
	for k := range fields {
		if strings.EqualFold(k, "mirror") || strings.EqualFold(k, "ec") {
			return true
		}
	}
	return false
}

// propsAttempts bounds the tries of a props change that other changes of
// the same bucket keep overtaking.
const propsAttempts = 5

// handleProtectAction serves make-n-copies, ec-encode and scrub on a
// bucket; each answers the job's id.
func (n *Node) handleProtectAction(w http.ResponseWriter, r *http.Request, b store.Bucket, msg api.ActionMessage) {
	var id string
	var err error
	switch msg.Action {
	case api.ActionMakeNCopies:
		var copies int
		if err = json.Unmarshal(msg.Value, &copies); err != nil || copies < 1 {
			n.writeError(w, r, badRequest("make-n-copies: value must be the number of copies, 1 or more, not %s", msg.Value))
			return
		}
		if _, err = n.requestedBucketProps(b); err != nil {
			break
		}
		if n.jobRunning(r.Context(), jobMakeCopies, b) {
			err = fmt.Errorf("%w: make-n-copies runs on %s", pipeline.ErrJobBusy, b)
			break
		}
		patch, _ := json.Marshal(map[string]any{"mirror": map[string]any{"enabled": copies > 1, "copies": copies}})
		if id, err = n.setProtectedProps(r.Context(), b, patch); err == nil && id == "" {
			// The props were already so: the copies are made anyway.
			id, err = n.startClusterJob(r.Context(), peer.JobRequest{Kind: jobMakeCopies, Bucket: b})
		}
	case api.ActionECEncode:
		patch := map[string]any{"enabled": true}
		if len(msg.Value) > 0 && string(msg.Value) != "null" {
			if err = json.Unmarshal(msg.Value, &patch); err != nil {
				n.writeError(w, r, badRequest("ec-encode: value must be the ec props, e.g. {\"data_slices\":2,\"parity_slices\":1}: %w", err))
				return
			}
			patch["enabled"] = true
		}
		encoded, _ := json.Marshal(map[string]any{"ec": patch})
		if id, err = n.setProtectedProps(r.Context(), b, encoded); err == nil && id == "" {
			id, err = n.startClusterJob(r.Context(), peer.JobRequest{Kind: jobECEncode, Bucket: b})
		}
	case api.ActionScrub:
		var opts struct {
			Repair bool `json:"repair"`
		}
		if err = decodeJSON(msg.Value, &opts); err != nil {
			n.writeError(w, r, badRequest("scrub: value must be {\"repair\": true|false}: %w", err))
			return
		}
		if _, err = n.requestedBucketProps(b); err == nil {
			id, err = n.startClusterJob(r.Context(), peer.JobRequest{Kind: jobScrub, Bucket: b, Repair: opts.Repair})
		}
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, id)
}

// jobRunning reports whether a job of a kind runs on a bucket on any
// target.
func (n *Node) jobRunning(ctx context.Context, kind string, b store.Bucket) bool {
	running, _ := n.jobMayRun(ctx, kind, b)
	return running
}

// jobMayRun reports whether a node runs a job of kind on b, and the
// targets in the map (not offline) that did not answer: any may run one.
func (n *Node) jobMayRun(ctx context.Context, kind string, b store.Bucket) (running bool, silent []string) {
	nodes := n.status(ctx).Nodes
	for _, node := range nodes {
		for _, j := range node.Jobs {
			if j.Kind == kind && j.Running && j.Bucket == b.String() {
				running = true
			}
		}
	}
	return running, unansweredTargets(nodes)
}

// waitJobsEnd waits until no node runs a job of kind on b. A target that
// does not answer may run one: it is waited for until it answers or is
// offline.
func (n *Node) waitJobsEnd(ctx context.Context, kind string, b store.Bucket) error {
	running := func() bool {
		for _, node := range n.status(ctx).Nodes {
			if node.Error != "" && cluster.Role(node.Role).IsTarget() && node.State != string(cluster.StateOffline) {
				return true
			}
			for _, j := range node.Jobs {
				if j.Kind == kind && j.Running && j.Bucket == b.String() {
					return true
				}
			}
		}
		return false
	}
	for running() {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil
}

// stopClusterJob aborts a job on every target: the ids the job list shows
// go where their kind runs.
func (n *Node) stopClusterJob(ctx context.Context, id string) error {
	switch {
	case strings.HasPrefix(id, pipeline.JobIDPrefix):
		return dsortError(n.abortDsort(ctx, id))
	case strings.HasPrefix(id, rebalance.RunIDPrefix):
		return errRebalanceNotStoppable(id)
	}
	if err := n.downloadPartOffline(ctx, id, "abort", nil); err != nil {
		return err
	}
	return n.onEveryTarget(ctx, id, n.peer.AbortJob)
}

// stopJobsStoppedElsewhere aborts this target's parts of cluster jobs
// stopped on another of their targets while this one was offline: a stop
// reaches the targets that answer, and a partitioned one ran its part
// on. A part aborted elsewhere says the job was stopped (by a user, or
// with its bucket destroyed); a part that failed or was cut by a
// shutdown is not aborted.
func (n *Node) stopJobsStoppedElsewhere() {
	ctx := n.loopsContext()
	m := n.currentMap()
	statuses := map[string]*api.NodeStatus{} // asked once each
	for _, j := range n.jobs.List() {
		// (A download is not stopped while a target of it is offline; a
		// make-n-copies or ec-cleanup part reads aborted where a newer
		// one replaced it, and this target catches up on its own.)
		if !j.Running || len(j.Targets) < 2 || j.Kind == jobDownload || j.Kind == jobMakeCopies || j.Kind == jobECCleanup {
			continue
		}
		for _, id := range j.Targets {
			t, ok := m.Node(id)
			if id == n.config.ID || !ok || t.State == cluster.StateOffline {
				continue
			}
			s, asked := statuses[id]
			if !asked {
				call, cancel := context.WithTimeout(ctx, peerQueryTimeout)
				if got, err := n.peer.Status(call, t); err == nil {
					s = &got
				}
				cancel()
				statuses[id] = s
			}
			if s == nil || !slices.ContainsFunc(s.Jobs, func(o api.JobStatus) bool { return o.ID == j.ID && o.Kind == j.Kind && o.Aborted }) {
				continue
			}
			n.logger.Warn("a job stopped on the other targets while this one was offline: its part here is stopped", "job", j.ID, "kind", j.Kind, "aborted on", id)
			n.jobs.Cancel(j.ID, fmt.Errorf("stopped on target %s while this target was offline", id))
			break
		}
	}
}

// downloadPartOffline refuses to abort or remove a download while a
// target of it is offline: its part resumes when the target comes back,
// and would go on with the job stopped everywhere else. (A target offline
// before the job started has no part. Which are the job's the nodes say,
// as given, or asked; when none says, every target may be.)
func (n *Node) downloadPartOffline(ctx context.Context, id, what string, nodes []api.NodeStatus) error {
	if !strings.HasPrefix(id, jobDownload+"-") {
		return nil
	}
	if !slices.ContainsFunc(n.currentMap().Targets(), func(t cluster.Node) bool { return t.State == cluster.StateOffline }) {
		return nil // (none offline: the status not asked)
	}
	if nodes == nil {
		nodes = n.status(ctx).Nodes
	}
	var of map[string]bool
	for _, node := range nodes {
		for _, j := range node.Jobs {
			if j.ID == id && len(j.Targets) > 0 {
				of = map[string]bool{}
				for _, t := range j.Targets {
					of[t] = true
				}
			}
		}
	}
	for _, t := range n.currentMap().Targets() {
		if t.State == cluster.StateOffline && (of == nil || of[t.ID]) {
			return fmt.Errorf("%w: %s %s: target %s is offline, and its part of the job would resume when it comes back: retry once it is back, or after removing it (ais cluster rm-target %s)",
				api.ErrUnavailable, what, id, t.ID, t.ID)
		}
	}
	return nil
}

// errRebalanceNotStoppable answers a stop of a rebalance: it is what puts
// objects where the map says, and ends (or is replaced) by itself.
func errRebalanceNotStoppable(id string) error {
	return badRequest("stop %s: a rebalance cannot be stopped: it moves objects to the targets that own them now, and ends by itself (or gives way to the next change of targets)", id)
}

// removeClusterJob forgets an ended job on every target.
func (n *Node) removeClusterJob(ctx context.Context, id string) error {
	if err := n.downloadPartOffline(ctx, id, "remove", nil); err != nil {
		return err
	}
	return n.onEveryTarget(ctx, id, n.peer.ForgetJob)
}

// onEveryTarget does something to a job on every reachable target; the
// job must be known to one at least.
func (n *Node) onEveryTarget(ctx context.Context, id string, do func(context.Context, cluster.Node, string) error) error {
	if err := pipeline.ValidateJobID(id); err != nil {
		return badRequest("%w", err)
	}
	found := false
	var firstErr error
	for _, t := range n.currentMap().Reachable() {
		if !t.Role.IsTarget() {
			continue
		}
		err := do(ctx, t, id)
		switch {
		case err == nil:
			found = true
		case errors.Is(err, api.ErrJobNotFound), errors.Is(err, pipeline.ErrJobNotFound):
		default:
			if firstErr == nil {
				firstErr = fmt.Errorf("target %s: %w", t.ID, err)
			}
		}
	}
	if !found && firstErr == nil {
		return fmt.Errorf("%w: %s", api.ErrJobNotFound, id)
	}
	return firstErr
}

// Mountpaths (targets).

func (n *Node) handleGetMountpaths(w http.ResponseWriter, r *http.Request) {
	if n.config.Storage == nil {
		n.writeError(w, r, badRequest("node %s has no mountpaths", n.config.ID))
		return
	}
	writeJSON(w, n.config.Storage.MountpathStatuses())
}

// handleMountpathAction attaches, detaches, enables or disables a
// mountpath of this target. A detach, which moves objects, runs as a job
// whose id it answers.
func (n *Node) handleMountpathAction(w http.ResponseWriter, r *http.Request) {
	var msg api.ActionMessage
	err := decodeBody(r, &msg)
	if err == nil && n.config.Storage == nil {
		err = badRequest("node %s has no mountpaths", n.config.ID)
	}
	var path string
	if err == nil {
		if jerr := json.Unmarshal(msg.Value, &path); jerr != nil || path == "" || !filepath.IsAbs(path) {
			err = badRequest("%s: value must be an absolute mountpath directory", msg.Action)
		}
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	path = filepath.Clean(path)
	st := n.config.Storage
	ctx := r.Context()
	switch msg.Action {
	case api.ActionAttachMountpath:
		if err = n.attachable(path); err == nil {
			err = st.AttachMountpath(ctx, path)
		}
	case api.ActionDetachMountpath:
		var id string
		if err = n.detachable(path); err != nil {
			break
		}
		if id, err = n.startJob(ctx, peer.JobRequest{Kind: jobDetach, Path: path}); err == nil {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, id)
			return
		}
	case api.ActionEnableMountpath:
		err = st.EnableMountpath(ctx, path)
	case api.ActionDisableMountpath:
		err = st.DisableMountpath(ctx, path, "disabled by an administrator")
	default:
		err = badRequest("mountpath action %q is not known (want %s, %s, %s or %s)", msg.Action,
			api.ActionAttachMountpath, api.ActionDetachMountpath, api.ActionEnableMountpath, api.ActionDisableMountpath)
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// detachable refuses, before a job starts, the detach its job would fail
// at once (a client told "detaching" of a mistyped path): a path that is
// no mountpath, one returning, the last one enabled. The job checks again.
func (n *Node) detachable(path string) error {
	statuses := n.config.Storage.MountpathStatuses()
	i := slices.IndexFunc(statuses, func(m store.MountpathStatus) bool { return m.Path == path })
	switch {
	case i < 0:
		return badRequest("detach: %s is not a mountpath of node %s", path, n.config.ID)
	case statuses[i].State == "returning": // (store/fs's states)
		return badRequest("detach: %s is returning: detach it when its resilver has enabled it, or disable it first (its objects are then dropped)", path)
	case statuses[i].State == "enabled" && !slices.ContainsFunc(statuses, func(m store.MountpathStatus) bool { return m.State == "enabled" && m.Path != path }):
		return badRequest("detach: %s is the last enabled mountpath of node %s", path, n.config.ID)
	}
	return nil
}

// attachable refuses to attach a directory that is neither one of the
// node's configured mountpaths nor inside one of its roots: a request
// must not make a node write anywhere on its host.
func (n *Node) attachable(path string) error {
	// Symlinks resolved: a link inside the data directory may lead
	// anywhere on the host.
	real := pathsafe.Resolve(path)
	if state := n.config.StateDir; state != "" && (within(pathsafe.Resolve(state), real) || within(real, pathsafe.Resolve(state))) {
		return badRequest("attach: %s holds or is inside node %s's metadata directory", path, n.config.ID)
	}
	for _, root := range n.config.MountpathRoots {
		if within(root, path) && within(pathsafe.Resolve(root), real) {
			return nil
		}
	}
	return badRequest("attach: %s is not a configured mountpath of node %s nor inside its data directory", path, n.config.ID)
}

// within reports whether path is dir or inside it.
func within(dir, path string) bool {
	return filepath.Clean(path) == filepath.Clean(dir) || pathsafe.Within(dir, path) == nil
}

// StorageEvents passes the store's notices (a mountpath disabled, a copy
// repaired) to a node made after the store.
type StorageEvents struct{ node atomic.Pointer[Node] }

// Bind makes n the node told of the store's events.
func (e *StorageEvents) Bind(n *Node) { e.node.Store(n) }

// MountpathChanged passes a mountpath's change to the node.
func (e *StorageEvents) MountpathChanged(path, state, reason string) {
	if n := e.node.Load(); n != nil {
		n.MountpathChanged(path, state, reason)
	}
}

// Repaired passes a repaired copy to the node.
func (e *StorageEvents) Repaired(b store.Bucket, name, path string) {
	if n := e.node.Load(); n != nil {
		n.Repaired(b, name, path)
	}
}

// objectLocation answers what=location: the copies on this target's
// mountpaths and the parts the other targets keep.
func (n *Node) objectLocation(w http.ResponseWriter, r *http.Request, b store.Bucket, name string) {
	ctx := r.Context()
	out := api.ObjectLocation{Target: n.config.ID, Copies: []store.ObjectCopy{}}
	copies, err := n.config.Storage.Copies(ctx, b, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		n.writeError(w, r, err)
		return
	}
	out.Copies = append(out.Copies, copies...)
	if props, ok := n.ecProps(b); ok && props.EC.Enabled {
		for _, t := range n.currentMap().Targets() {
			if t.ID == n.config.ID {
				continue
			}
			parts, err := n.peer.PartsOf(ctx, t, b, name, 0)
			if err != nil {
				out.Errors = append(out.Errors, fmt.Sprintf("%s: %v", t.ID, err))
				continue
			}
			for _, p := range parts {
				out.Parts = append(out.Parts, api.PartLocation{Target: t.ID, Index: p.Index, Replica: p.Replica, Data: p.Data, Parity: p.Parity, Size: p.SliceSize, Version: p.Version})
			}
		}
	}
	if len(out.Copies) == 0 && len(out.Parts) == 0 {
		n.writeError(w, r, fmt.Errorf("%s/%s: %w", b, name, store.ErrNotFound))
		return
	}
	writeJSON(w, out)
}
