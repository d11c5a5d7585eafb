package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/internal/atomicfile"
	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/store"
)

// A target away (down, offline, in maintenance) when a bucket's mirroring
// changed misses the make-n-copies its gateway started: its objects would
// keep the old count of copies for good. It notes each such change as it
// takes the bucket metadata, and owes the bucket a make-n-copies until one
// ends well here. The debt is saved: a restart, or a crash in the middle
// of the job, does not forget it.

// owedFile keeps the buckets owed a make-n-copies, in the state directory.
const owedFile = "copies-owed.json"

// maxOwedFile bounds the file read back (a bucket's entry is ~100 bytes).
const maxOwedFile = 4 << 20

// owedCopies is a bucket owed a make-n-copies since its mirroring changed
// in the bucket metadata of Version.
type owedCopies struct {
	Bucket  store.Bucket `json:"bucket"`
	Version int64        `json:"version"`
}

// copiesOwed is a target's debt, loaded from its file on first use.
type copiesOwed struct {
	sync.Mutex
	// syncing holds one syncBucketsOwing at a time (the control plane's
	// and refreshBehind's): each compares the store before and after its
	// own sync.
	syncing sync.Mutex
	loaded  bool
	list    []owedCopies
	// started is, per bucket, the store's metadata version as the last
	// make-n-copies started here (each replaces the one before).
	started map[store.Bucket]int64
}

// storeBucketsVersion is the version of the bucket metadata the target's
// store has (0 when unknown).
func (n *Node) storeBucketsVersion(ctx context.Context) int64 {
	if n.config.Store == nil {
		return 0
	}
	md, err := n.config.Store.Buckets(ctx)
	if err != nil {
		return 0
	}
	return md.Version
}

// startedCopies notes a make-n-copies starting here as of version; never
// lower (a replaced one's goroutine may run after its replacement's).
func (n *Node) startedCopies(b store.Bucket, version int64) {
	n.owed.Lock()
	defer n.owed.Unlock()
	if n.owed.started == nil {
		n.owed.started = map[store.Bucket]int64{}
	}
	n.owed.started[b] = max(n.owed.started[b], version)
}

// syncBucketsOwing adopts md in the target's store, noting the buckets
// whose mirroring md changes: before md is adopted (a crash between
// would forget the debt: the store's version would say md is not new).
func (n *Node) syncBucketsOwing(ctx context.Context, md store.BucketMetadata) error {
	n.owed.syncing.Lock()
	defer n.owed.syncing.Unlock()
	before, beforeErr := n.config.Store.Buckets(ctx)
	newer := beforeErr == nil && md.Version > before.Version
	var changed []store.Bucket
	if newer {
		for b, props := range md.Buckets {
			old, ok := before.Props(b)
			if ok && old.Created == props.Created && mirroringChanged(old, props) {
				changed = append(changed, b)
			}
		}
		n.oweCopies(md, changed) // (md not adopted after all: one make-n-copies more)
	}
	if err := n.config.Store.SyncBuckets(ctx, md); err != nil {
		return err
	}
	if !newer {
		return nil // not adopted (or the old unknown): nothing to compare
	}
	// A bucket destroyed, or made again: the jobs of the one before end
	// (they would go on into the new one of the name).
	for b, old := range before.Buckets {
		if props, ok := md.Props(b); !ok || props.Created != old.Created {
			n.abortJobsOf(b)
		}
	}
	if self, ok := n.currentMap().Node(n.config.ID); len(changed) > 0 && (!ok || self.State != cluster.StateActive) {
		// Not an active target: a gateway's job would not reach it.
		n.background(n.payOwedCopies)
	}
	return nil
}

// abortJobsOf aborts the jobs running here on bucket b, or writing into
// it (a download's journal goes too, once it ended: not to be resumed).
// Cancelled at once, their ends not waited for: the metadata's sync,
// which calls it, holds the node's others (a job copying a big object
// ends slowly).
func (n *Node) abortJobsOf(b store.Bucket) {
	for _, j := range n.jobs.List() {
		if !j.Running || j.Bucket.Normalize() != b.Normalize() && j.To.Normalize() != b.Normalize() {
			continue
		}
		id, kind := j.ID, j.Kind
		cause := fmt.Errorf("bucket %s was destroyed", b)
		if n.jobs.Cancel(id, cause) == nil && kind == jobDownload {
			n.background(func() {
				if n.jobs.Abort(id, cause) == nil { // (its end waited for)
					n.forgetDownload(id)
				}
			})
		}
	}
}

// mirroringChanged reports a change of props that calls for a
// make-n-copies (as afterPropsChange starts one).
func mirroringChanged(before, after store.Props) bool {
	return before.Mirror != after.Mirror && (after.Mirror.Enabled || before.Mirror.Enabled)
}

// oweCopies notes the buckets changed in md, and forgets those md no
// longer has.
func (n *Node) oweCopies(md store.BucketMetadata, changed []store.Bucket) {
	n.owed.Lock()
	defer n.owed.Unlock()
	n.loadOwedLocked()
	list := slices.DeleteFunc(slices.Clone(n.owed.list), func(o owedCopies) bool {
		_, ok := md.Props(o.Bucket)
		return !ok || slices.Contains(changed, o.Bucket)
	})
	for _, b := range changed {
		list = append(list, owedCopies{Bucket: b, Version: md.Version})
	}
	if len(changed) > 0 || len(list) != len(n.owed.list) {
		n.saveOwedLocked(list)
	}
}

// paidCopies clears the debt of a bucket after a make-n-copies that
// started at the bucket metadata of version ended well here.
func (n *Node) paidCopies(b store.Bucket, version int64) {
	n.owed.Lock()
	defer n.owed.Unlock()
	n.loadOwedLocked()
	list := slices.DeleteFunc(slices.Clone(n.owed.list), func(o owedCopies) bool {
		return o.Bucket == b && o.Version <= version
	})
	if len(list) != len(n.owed.list) {
		n.saveOwedLocked(list)
	}
}

// payOwedCopies starts a make-n-copies here for each bucket owed one
// that none runs for already.
func (n *Node) payOwedCopies() {
	ctx := n.loopsContext()
	if ctx == nil || n.config.Storage == nil {
		return
	}
	n.owed.Lock()
	n.loadOwedLocked()
	list := slices.Clone(n.owed.list)
	started := maps.Clone(n.owed.started)
	n.owed.Unlock()
	for _, o := range list {
		if n.runsHere(jobMakeCopies, o.Bucket) && started[o.Bucket] >= o.Version {
			continue // its end pays (an older one is replaced)
		}
		n.logger.Info("make-n-copies of a bucket whose mirroring changed while this target was away", "bucket", o.Bucket.String())
		if _, err := n.startJob(ctx, peer.JobRequest{ID: pipeline.NewJobID(jobMakeCopies), Kind: jobMakeCopies, Bucket: o.Bucket}); err != nil {
			n.logger.Warn("make-n-copies of a bucket whose mirroring changed while this target was away: tried again at its next return", "bucket", o.Bucket.String(), "err", err)
		}
	}
}

// runsHere reports a job of kind running here on b.
func (n *Node) runsHere(kind string, b store.Bucket) bool {
	for _, j := range n.jobs.List() {
		if j.Kind == kind && j.Running && j.Bucket == b {
			return true
		}
	}
	return false
}

// loadOwedLocked reads the file once. One that cannot be read is
// logged and taken as empty: the debt it held is lost, not the node.
func (n *Node) loadOwedLocked() {
	if n.owed.loaded {
		return
	}
	n.owed.loaded = true
	list, err := readOwed(filepath.Join(n.stateDir(), owedFile))
	if err != nil {
		n.logger.Warn("the buckets owed a make-n-copies cannot be read: their copies stay as they are until one is run", "file", owedFile, "err", err)
		return
	}
	n.owed.list = list
}

// readOwed reads and checks a file of owed copies; none is an empty list.
func readOwed(path string) ([]owedCopies, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxOwedFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxOwedFile {
		return nil, fmt.Errorf("%s is more than %d bytes", path, maxOwedFile)
	}
	var list []owedCopies
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, o := range list {
		if err := o.Bucket.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return list, nil
}

// saveOwedLocked replaces the debt, in memory and, durably, on disk (a
// save that fails keeps it in memory, said in the log).
func (n *Node) saveOwedLocked(list []owedCopies) {
	n.owed.list = list
	data, err := json.Marshal(list)
	if err == nil {
		err = pathsafe.MkdirAll(n.stateDir(), n.stateDir(), 0o755)
	}
	if err == nil {
		err = atomicfile.Write(filepath.Join(n.stateDir(), owedFile), data, 0o644)
	}
	if err != nil {
		n.logger.Warn("save the buckets owed a make-n-copies: kept in memory only", "err", err)
	}
}
