package gateway

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/store"
)

// Capacity and LRU on targets: every lru.capacity_upd_time, and after
// writes (at most every capacityTTL), a target reads its mountpaths. usage.
// Above space.highwm it starts the lru job, which evicts the least
// recently read objects of the buckets with lru.enabled (and older than
// their lru.dont_evict_time) until every mountpath is under space.lowwm.
// Above space.out_of_space, PUTs are refused with 507.

// jobLRU is the kind of the eviction job.
const jobLRU = "lru"

// capacityTTL is how long a capacity reading serves: statfs is cheap,
// and a disk fills fast.
const capacityTTL = 100 * time.Millisecond

// maxLRUCandidates bounds the objects one LRU run sorts.
const maxLRUCandidates = 1 << 20

// capacityCache keeps the last reading of the mountpaths' usage.
type capacityCache struct {
	mu    sync.Mutex
	at    time.Time
	last  []store.MountpathCapacity
	since time.Time // when the reading under way began (zero: none)
}

// capacityStall is how long a reading under way serves the last one to
// the others: past it, one reads again (a disk whose statfs hung is
// disabled by its health check meanwhile, and read no more).
var capacityStall = 10 * time.Second // a variable for the tests

// capacity returns the mountpaths' usage, read at most once per
// capacityTTL, by one caller at a time: the others take the last reading
// meanwhile, so that a disk whose statfs hangs holds up one write, not
// every write of the target.
func (n *Node) capacity(ctx context.Context) []store.MountpathCapacity {
	c := &n.space
	c.mu.Lock()
	if time.Since(c.at) < capacityTTL || c.last != nil && !c.since.IsZero() && time.Since(c.since) < capacityStall {
		last := c.last
		c.mu.Unlock()
		return last
	}
	began := time.Now()
	c.since = began
	c.mu.Unlock()
	// (One that never ends, or panics, leaves since set: past
	// capacityStall another caller reads.)
	list, err := n.config.Store.Capacity(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.since == began {
		c.since = time.Time{} // (not another's, begun after this one stalled)
	}
	// A mountpath that cannot be asked leaves the others' readings: the
	// watermarks hold on them.
	if err == nil || len(list) > 0 {
		c.last, c.at = list, time.Now()
	}
	return c.last
}

// usedPercent is a mountpath's usage in percent.
func usedPercent(c store.MountpathCapacity) int { return int(percent(c.Used, c.Total)) }

// percent is part in percent of whole (0 when whole is not known): right
// past 92 PB too, where part*100 would wrap (a parallel filesystem, a
// FUSE mount's made-up size).
func percent(part, whole int64) int64 {
	switch {
	case whole <= 0:
		return 0
	case part <= math.MaxInt64/100:
		return part * 100 / whole
	default:
		return part / (whole / 100) // whole is past 92 PB too: no zero
	}
}

// percentOf is pct percent of whole, without wrapping.
func percentOf(whole int64, pct int) int64 {
	if whole <= math.MaxInt64/100 {
		return whole * int64(pct) / 100
	}
	return whole / 100 * int64(pct)
}

// checkSpace refuses a write when a mountpath is above out_of_space, and
// starts the LRU job when one is above highwm.
func (n *Node) checkSpace(ctx context.Context) error {
	if n.config.Store == nil {
		return nil
	}
	space := n.control.Current().ClusterConfig().Space
	for _, c := range n.capacity(ctx) {
		pct := usedPercent(c)
		if pct >= space.HighWM {
			n.startLRU()
		}
		if pct >= space.OutOfSpace && !c.NoWrites {
			// A mountpath leaving (detaching) takes no new object: its
			// fill does not refuse writes the others have room for.
			return fmt.Errorf("%w: target %s: mountpath %s is %d%% full, at or above space.out_of_space (%d%%): the write is refused (LRU evicts from buckets with lru.enabled; or add capacity)",
				store.ErrNoSpace, n.config.ID, n.redact(c.Path), pct, space.OutOfSpace)
		}
	}
	return nil
}

// roomOn refuses a copy of size bytes that would bring mountpath past
// out_of_space: what make-n-copies, a resilver and a detach ask of each
// copy's destination (a disk added to a full target takes what moves to
// it; a detach does not fill the others).
func (n *Node) roomOn(ctx context.Context, mountpath string, size int64) error {
	space := n.control.Current().ClusterConfig().Space
	for _, c := range n.capacity(ctx) {
		if c.Path != mountpath || c.Total <= 0 {
			continue
		}
		if pct := percent(c.Used+min(max(size, 0), c.Total), c.Total); pct >= int64(space.OutOfSpace) {
			return fmt.Errorf("%w: target %s: mountpath %s would be %d%% full with a copy of %d bytes, at or above space.out_of_space (%d%%): not placed (LRU evicts from buckets with lru.enabled; or add capacity)",
				store.ErrNoSpace, n.config.ID, n.redact(c.Path), pct, size, space.OutOfSpace)
		}
		return nil
	}
	return nil // not read yet (attached since): a full disk still fails the write, cleanly
}

// checkSpaceFor is checkSpace for a write of size bytes (unknown when
// negative): refused at once when no mountpath has that much room below
// out_of_space.
func (n *Node) checkSpaceFor(ctx context.Context, size int64) error {
	if err := n.checkSpace(ctx); err != nil || size <= 0 || n.config.Store == nil {
		return err
	}
	space := n.control.Current().ClusterConfig().Space
	most := int64(-1)
	for _, c := range n.capacity(ctx) {
		// A filesystem of no size told (an unlimited tmpfs, some FUSE
		// mounts) has no watermarks: its writes fail when it is full.
		if !c.NoWrites && c.Total > 0 {
			most = max(most, percentOf(c.Total, space.OutOfSpace)-c.Used)
		}
	}
	if most >= 0 && size > most {
		return fmt.Errorf("%w: target %s: a write of %d bytes does not fit: the most room below space.out_of_space (%d%%) on any mountpath is %d bytes",
			store.ErrNoSpace, n.config.ID, size, space.OutOfSpace, max(most, 0))
	}
	return nil
}

// guardSpace checks the capacity as a body of any length is stored, not
// only before: a body longer than it claims, or of unknown length, stops
// at the watermark rather than fill the disks.
func (n *Node) guardSpace(ctx context.Context, body io.Reader) io.Reader {
	return store.GuardSpace(ctx, body, n.checkSpace)
}

// watchSpace checks the capacity every lru.capacity_upd_time.
func (n *Node) watchSpace(ctx context.Context) {
	everyInterval(ctx, func() time.Duration {
		return time.Duration(n.control.Current().ClusterConfig().LRU.CapacityUpdTime)
	}, spaceWatchStep, func() { n.checkSpace(ctx) })
}

// everyInterval calls check every interval() until ctx ends. The wait
// goes in steps of at most step, each reading interval() again: a shorter
// interval set meanwhile counts from the last check, not after the
// longer one ends.
func everyInterval(ctx context.Context, interval func() time.Duration, step time.Duration, check func()) {
	last := time.Now()
	for {
		if wait := time.Until(last.Add(interval())); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(min(wait, step)):
			}
			continue
		}
		last = time.Now()
		check()
	}
}

// spaceWatchStep bounds how long watchSpace waits before it reads
// lru.capacity_upd_time again.
const spaceWatchStep = 5 * time.Second

// startLRU starts the eviction job unless one runs, or the last one
// ended over lowwm with nothing more it could evict, a capacity_upd_time
// ago at most (every write above highwm asks for one).
func (n *Node) startLRU() {
	if n.loopsContext() == nil || time.Now().UnixNano() < n.lruRested.Load() {
		return
	}
	for _, j := range n.jobs.List() {
		if j.Kind == jobLRU && j.Running {
			return
		}
	}
	if _, err := n.startJob(n.loopsContext(), peer.JobRequest{Kind: jobLRU}); err != nil {
		n.logger.Debug("start lru", "err", err)
	}
}

// lruCandidate is an object LRU may evict.
type lruCandidate struct {
	bucket store.Bucket
	name   string
	size   int64
	atime  time.Time
	stamp  store.Stamp
	// cutoff is its bucket's dont_evict_time before the listing: one
	// read since is kept.
	cutoff time.Time
}

// lruCandidates lists, least recently read first, the objects of the
// remote buckets with LRU enabled that were last read before their
// bucket's dont_evict_time: at most limit of them, the least recently
// read. An ais:// bucket holds the only copy of its objects: LRU never
// touches it, whatever its props say.
func lruCandidates(buckets map[store.Bucket]store.Props, list func(b store.Bucket, fn func(store.ObjectMeta) error) error, now time.Time, limit int) ([]lruCandidate, error) {
	// The most recently read candidate is on top, to be dropped first.
	var out lruHeap
	var skipped []error
	for b, props := range buckets {
		if !props.LRU.Enabled || !b.IsRemote() {
			continue
		}
		cutoff := now.Add(-time.Duration(props.LRU.DontEvictTime))
		err := list(b, func(o store.ObjectMeta) error {
			if !o.Atime.Before(cutoff) {
				return nil
			}
			c := lruCandidate{bucket: b, name: o.Name, size: o.Size, atime: o.Atime, stamp: o.Stamp, cutoff: cutoff}
			switch {
			case len(out) < limit:
				heap.Push(&out, c)
			case limit > 0 && c.atime.Before(out[0].atime):
				out[0] = c
				heap.Fix(&out, 0)
			}
			return nil
		})
		switch {
		case errors.Is(err, store.ErrBucketNotFound): // destroyed meanwhile
		case err != nil:
			// One bucket that cannot be listed (a read error of one of
			// its directories) leaves the others evicted, not the disks
			// to fill up to out_of_space.
			skipped = append(skipped, fmt.Errorf("list %s: %w", b, err))
		}
	}
	slices.SortFunc(out, func(a, b lruCandidate) int { return a.atime.Compare(b.atime) })
	return out, errors.Join(skipped...)
}

// lruExcess is how many bytes must go from each filesystem at or over
// lowwm for it to be under, and the filesystem of each mountpath: the
// mountpaths on one filesystem share its bytes, and are one place to
// free (each counted apart, LRU evicted that many times too much).
func lruExcess(list []store.MountpathCapacity, lowwm int) (over map[string]int64, filesystemOf map[string]string) {
	over, filesystemOf = map[string]int64{}, map[string]string{}
	for _, c := range list {
		fs := cmp.Or(c.Filesystem, c.Path)
		filesystemOf[c.Path] = fs
		if usedPercent(c) >= lowwm {
			over[fs] = c.Used - percentOf(c.Total, lowwm) + 1
		}
	}
	return over, filesystemOf
}

// lruCutoffNow is a candidate's cutoff by its bucket's props of now (a
// run may be long, and the props changed meanwhile): false when its LRU
// is off, or the bucket gone; the earlier of the two cutoffs else.
func lruCutoffNow(md *store.BucketMetadata, c lruCandidate) (time.Time, bool) {
	props, ok := md.Buckets[c.bucket]
	if !ok || !props.LRU.Enabled {
		return time.Time{}, false
	}
	if now := time.Now().Add(-time.Duration(props.LRU.DontEvictTime)); now.Before(c.cutoff) {
		return now, true
	}
	return c.cutoff, true
}

// copiesOn names the filesystem of each copy, once per copy: two copies
// on one filesystem (two of its mountpaths) free their size there twice.
func copiesOn(copies []store.ObjectCopy, filesystemOf map[string]string) []string {
	where := make([]string, 0, len(copies))
	for _, cp := range copies {
		where = append(where, cmp.Or(filesystemOf[cp.Mountpath], cp.Mountpath))
	}
	return where
}

// lruPlan picks, least recently read first, the candidates to evict for
// the mountpaths over lowwm (over: the bytes each must free): those with
// a copy on one that still needs room. It returns them and the candidates
// it did not pick.
func lruPlan(candidates []lruCandidate, locate func(lruCandidate) []string, over map[string]int64) (plan, rest []lruCandidate) {
	need := maps.Clone(over)
	for i, c := range candidates {
		if len(need) == 0 {
			return plan, append(rest, candidates[i:]...)
		}
		helps := false
		for _, path := range locate(c) {
			if left, ok := need[path]; ok {
				helps = true
				if left -= c.size; left <= 0 {
					delete(need, path)
				} else {
					need[path] = left
				}
			}
		}
		if helps {
			plan = append(plan, c)
		} else {
			rest = append(rest, c)
		}
	}
	return plan, rest
}

// lruHeap is a max-heap of candidates by access time.
type lruHeap []lruCandidate

func (h lruHeap) Len() int           { return len(h) }
func (h lruHeap) Less(i, j int) bool { return h[i].atime.After(h[j].atime) }
func (h lruHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *lruHeap) Push(x any)        { *h = append(*h, x.(lruCandidate)) }
func (h *lruHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// runLRU evicts until every mountpath is under lowwm, or nothing more
// may go: only objects with a copy on a mountpath over lowwm, so that a
// mountpath full of what may not be evicted does not wipe the cache held
// by the others.
func (n *Node) runLRU(ctx context.Context, p *store.Progress) (any, error) {
	space := n.control.Current().ClusterConfig().Space
	// Mountpaths on one filesystem share its bytes: they are one place
	// to free (each would count the whole filesystem's excess, and LRU
	// evict that many times over). filesystemOf maps a mountpath to it.
	filesystemOf := map[string]string{}
	// excess is how many bytes must go from each filesystem for it to be
	// under lowwm (only those at or over it).
	excess := func() map[string]int64 {
		// A mountpath that cannot be asked leaves the others' readings
		// (as for the watermarks that started this run).
		list, err := n.config.Store.Capacity(ctx)
		if err != nil && len(list) == 0 {
			return nil
		}
		over, of := lruExcess(list, space.LowWM)
		maps.Copy(filesystemOf, of)
		return over
	}
	over := excess()
	if len(over) == 0 {
		// Under lowwm by now, or no mountpath answered: the next run
		// waits too (every write above highwm asks for one).
		n.restLRU()
		return map[string]int{"evicted": 0}, nil
	}
	md := n.currentBuckets()
	list := func(b store.Bucket, fn func(store.ObjectMeta) error) error {
		after := ""
		for {
			page, err := n.local.List(ctx, b, store.ListOptions{StartAfter: after, Limit: listPageSize, WithMeta: true})
			if err != nil {
				return err
			}
			for _, o := range page {
				if err := fn(o); err != nil {
					return err
				}
			}
			if len(page) < listPageSize {
				return nil
			}
			after = page[len(page)-1].Name
		}
	}
	candidates, listErr := lruCandidates(md.Buckets, list, time.Now(), maxLRUCandidates)
	if listErr != nil {
		n.logger.Warn("lru: buckets left out, the others evicted", "err", n.redact(listErr.Error()))
		if len(candidates) == 0 {
			n.restLRU() // the next run waits, not every write above highwm
			return nil, listErr
		}
	}
	// On which filesystems each candidate's copies are (all of those
	// over lowwm when the store cannot tell).
	locate := func(c lruCandidate) []string {
		if m, ok := n.local.(store.Maintainer); ok {
			if copies, err := m.Copies(ctx, c.bucket, c.name); err == nil {
				return copiesOn(copies, filesystemOf)
			}
		}
		return slices.Collect(maps.Keys(over))
	}
	evicted := 0
	// Evictions that failed (a tombstone's write on a full disk, a
	// failing disk): the job says why it could not free the space.
	var failed []error
	failures := 0
	for len(over) > 0 && len(candidates) > 0 {
		plan, rest := lruPlan(candidates, locate, over)
		if len(plan) == 0 {
			break // nothing left on the mountpaths over lowwm may go
		}
		for _, c := range plan {
			if err := ctx.Err(); err != nil {
				return nil, context.Cause(ctx)
			}
			// Through erasure coding (its parts go too, or they would
			// restore the object), and only the copy listed, unread
			// since: one fetched, written or read since stays.
			cutoff, ok := lruCutoffNow(n.currentBuckets(), c)
			if !ok {
				continue // its bucket's LRU was turned off meanwhile
			}
			opts := n.evictOptions(c.bucket, c.name)
			opts.IfStamp, opts.IfReadBefore = c.stamp, cutoff
			switch err := n.held.Delete(ctx, c.bucket, c.name, opts); {
			case err == nil:
				evicted++
				p.Objects.Add(1)
				p.Bytes.Add(c.size)
			case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrNotFound),
				errors.Is(err, store.ErrBucketNotFound), errors.Is(err, store.ErrBucketBehind):
				// Written, read or gone since it was listed (its bucket
				// too: the store takes a destroy before the map says).
			default:
				if failures++; len(failed) < maxLRUErrors {
					failed = append(failed, err)
				}
			}
		}
		// What was freed is read again from the disks (copies, other
		// writers): evict until they say enough.
		candidates, over = rest, excess()
	}
	n.space.mu.Lock()
	n.space.at = time.Time{} // read again
	n.space.mu.Unlock()
	if len(over) > 0 {
		// Still over lowwm with nothing more to evict (too young, in
		// buckets without LRU): a run now would list it all again for
		// nothing. The next waits a capacity_upd_time.
		n.restLRU()
	}
	if failures > 0 {
		failed = append(failed, fmt.Errorf("lru: %d evictions failed in all (the first %d above)", failures, len(failed)))
		n.logger.Warn("lru: evictions failed", "failed", failures, "err", n.redact(errors.Join(failed...).Error()))
	}
	// The buckets left out, and the evictions that failed, say so in the
	// job's error.
	return map[string]int{"evicted": evicted}, errors.Join(append([]error{listErr}, failed...)...)
}

// maxLRUErrors bounds the eviction failures a run's error names.
const maxLRUErrors = 5

// restLRU has the next LRU run wait a capacity_upd_time.
func (n *Node) restLRU() {
	n.lruRested.Store(time.Now().Add(time.Duration(n.control.Current().ClusterConfig().LRU.CapacityUpdTime)).UnixNano())
}
