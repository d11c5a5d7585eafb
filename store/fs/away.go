package fs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/aisgo/aisgo/internal/atomicfile"
	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/store"
)

// The mountpaths that are away (disabled, or back and not reconciled) are
// recorded on every mountpath in use, so that a restart does not take the
// stale copies of one for current: it comes back returning.

// awayRecord is .ais/away.json; the record with the highest version wins.
type awayRecord struct {
	Version int64    `json:"version"`
	Away    []string `json:"away"`
	// Owner is the node that wrote it (Config.Owner): a disk detached
	// from one node and given to another carries the first's record,
	// which speaks of the first's mountpaths.
	Owner string `json:"owner,omitempty"`
	// Attached are the mountpaths attached while the node ran, beyond
	// its config: a restart opens them too, or their objects would be
	// missing (and come back stale when attached again).
	Attached []string `json:"attached,omitempty"`
	// Detached are the mountpaths detached while disabled (mountpathSet's
	// gone): configured or attached again, they return.
	Detached []string `json:"detached,omitempty"`
	// Configured are the mountpaths of the node's config when it wrote
	// the record: one left out of the config at a restart is gone (its
	// copies grow stale), and configured again later, it returns.
	Configured []string `json:"configured,omitempty"`
	// AwaySince and Unguarded are the mountpathSet's, for the
	// mountpaths away.
	AwaySince map[string]int64 `json:"away_since,omitempty"`
	Unguarded []string         `json:"unguarded,omitempty"`
}

// maxAwayRecord bounds the file read at start: a longer one is not
// JSON that decodes.
const maxAwayRecord = 1 << 20

func (m mountpath) awayPath() string { return filepath.Join(m.path, ".ais", "away.json") }

// recordFile is the record's copy in Config.RecordDir.
const recordFile = "mountpaths.json"

// recordMissing reports whether Config.RecordDir lacks its copy (a node
// from before it was kept there).
func (s *Store) recordMissing() bool {
	if s.config.RecordDir == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(s.config.RecordDir, recordFile))
	return err != nil
}

// saveAway records set's away mountpaths on its mountpaths in use. A
// mountpath that cannot take it is left out: the others have the record.
// When none takes it, the change is refused: a restart would take the
// stale copies of a mountpath away for current.
func (s *Store) saveAway(set *mountpathSet) error {
	rec := awayRecord{Version: max(time.Now().UnixNano(), s.awayVersion+1), Owner: s.config.Owner}
	s.awayVersion = rec.Version
	for path := range set.disabled {
		rec.Away = append(rec.Away, path)
	}
	for _, m := range set.returning {
		rec.Away = append(rec.Away, m.path)
	}
	slices.Sort(rec.Away)
	for _, path := range set.paths() {
		if !slices.Contains(s.configured, path) {
			rec.Attached = append(rec.Attached, path)
		}
	}
	slices.Sort(rec.Attached)
	rec.Detached = slices.Sorted(slices.Values(set.gone))
	rec.Configured = slices.Sorted(slices.Values(s.configured))
	for _, path := range slices.Concat(rec.Away, rec.Detached) {
		if at, ok := set.awaySince[path]; ok {
			if rec.AwaySince == nil {
				rec.AwaySince = map[string]int64{}
			}
			rec.AwaySince[path] = at
		}
		if set.unguarded[path] {
			rec.Unguarded = append(rec.Unguarded, path)
		}
	}
	slices.Sort(rec.Unguarded)
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	inUse := slices.Concat(set.enabled, set.detaching, set.returning)
	var errs []error
	for _, m := range inUse {
		if err := atomicfile.Write(m.awayPath(), data, 0o644); err != nil {
			s.logger.Warn("record the mountpaths away", "mountpath", m.path, "err", err)
			errs = append(errs, err)
		}
	}
	if len(inUse) > 0 && len(errs) == len(inUse) {
		return fmt.Errorf("%w: no mountpath took the record of the mountpaths away: %w", store.ErrMountpath, errors.Join(errs...))
	}
	if dir := s.config.RecordDir; dir != "" {
		// Besides: the mountpaths' own copies are what a restart reads
		// first, this one tells only that they held data.
		err := pathsafe.MkdirAll(dir, dir, 0o755)
		if err == nil {
			err = atomicfile.Write(filepath.Join(dir, recordFile), data, 0o644)
		}
		if err != nil {
			s.logger.Warn("keep the record of the mountpaths in the node's metadata", "dir", dir, "err", err)
		}
	}
	return nil
}

// loadAway returns the newest record of this node on the given
// mountpaths, or in Config.RecordDir.
func (s *Store) loadAway(mps []mountpath) awayRecord {
	type place struct {
		path    string
		claimed bool // a mountpath claimed at start (see Store.claimed)
	}
	places := make([]place, 0, len(mps)+1)
	for _, m := range mps {
		places = append(places, place{m.awayPath(), s.claimed[m.path]})
	}
	// The node's own copy: its own whatever owner it names (one renamed
	// twice may find its former former id there).
	own := ""
	if s.config.RecordDir != "" && !s.recordMissing() {
		own = filepath.Join(s.config.RecordDir, recordFile)
		places = append(places, place{path: own})
	}
	var best awayRecord
	for _, p := range places {
		f, err := os.Open(p.path)
		if err != nil {
			continue
		}
		var rec awayRecord
		err = json.NewDecoder(io.LimitReader(f, maxAwayRecord)).Decode(&rec)
		f.Close()
		if err != nil || rec.Version <= best.Version {
			continue
		}
		// On a disk claimed at start, one naming no owner is of the node
		// that had it before (written before records named their node),
		// unless this node has no copy of its own to go by (a node from
		// before the copy was kept: its disks' records are all it has).
		if p.path != own && (!s.ownRecord(rec) || rec.Owner == "" && p.claimed && own != "") {
			continue
		}
		best = rec
	}
	return best
}

// ownRecord reports whether rec is this node's (one of no owner is from
// before owners were kept, or from a node with none).
func (s *Store) ownRecord(rec awayRecord) bool {
	return rec.Owner == "" || s.config.Owner == "" || rec.Owner == s.config.Owner || rec.Owner == s.config.FormerOwner
}

// reconcile settles each copy on a returning mountpath against what
// changed while it was away: a copy a delete hides, or that a current
// copy as new or newer stands for, goes; a bucket destroyed meanwhile
// goes whole. What stays is current and moves to its place when the
// mountpath is enabled (Resilver).
//
// On an unguarded mountpath (some tombstones of its absence collected),
// a copy that stays only because nothing says it was deleted is set
// aside instead, in .ais/set-aside/returned-TIME: it may have been.
func (s *Store) reconcile(ctx context.Context, m mountpath, progress *store.Progress) error {
	s.mu.Lock()
	md := s.mu.md
	s.mu.Unlock()
	if err := s.dropGoneBuckets(m, md); err != nil {
		return err
	}
	var aside *setAside
	if s.mountpathSet().unguarded[m.path] {
		aside = &setAside{m: m, dir: m.setAsideDir("returned-" + time.Now().UTC().Format("20060102T150405Z"))}
		defer func() {
			if aside.moved > 0 {
				s.logger.Warn("a mountpath came back after the tombstones of deletes made meanwhile were collected: its objects no other mountpath holds, which may have been deleted, are set aside (not served)",
					"mountpath", m.path, "copies", aside.moved, "dir", aside.dir)
			}
		}()
	}
	for b, props := range md.Buckets {
		if otherBucket(m.bucketDir(b), props.Created) {
			s.logger.Info("a bucket destroyed and made again while its mountpath was away: the old bucket's objects there go", "bucket", b.String(), "mountpath", m.path)
			if err := s.removeBucketDirs([]mountpath{m}, b); err != nil {
				return err
			}
			if err := pathsafe.MkdirAll(m.path, m.bucketDir(b), 0o755); err != nil {
				return fmt.Errorf("reconcile %s on %s: %w", b, m.path, classify(err))
			}
		}
		for item := range walk(m.bucketDir(b), "", "") {
			if err := ctx.Err(); err != nil {
				return err
			}
			if item.err != nil {
				return fmt.Errorf("reconcile %s on %s: %w", b, m.path, classify(item.err))
			}
			if err := s.reconcileCopy(b, item.name, m, aside); err != nil {
				return err
			}
			copyReconciled(b, item.name)
			progress.Add(item.size)
		}
		if err := s.reconcileParts(ctx, b, m, aside); err != nil {
			return err
		}
		if err := s.markReconciled(m, b, props.Created); err != nil {
			return fmt.Errorf("reconcile %s on %s: %w", b, m.path, classify(err))
		}
	}
	return nil
}

// markReconciled marks bucket b's directory on m, reconciled, as the
// bucket's, unless it was destroyed (and made again) since created.
func (s *Store) markReconciled(m mountpath, b store.Bucket, created store.Int64String) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if props, ok := s.mu.md.Props(b); !ok || props.Created != created {
		return nil
	}
	s.mark(m.bucketDir(b), created)
	return nil
}

// setAside moves the copies an unguarded mountpath cannot vouch for out
// of sight, on the mountpath itself.
type setAside struct {
	m     mountpath
	dir   string
	moved int
}

// move sets the file at path aside under rel.
func (a *setAside) move(path, rel string) error {
	dest := filepath.Join(a.dir, rel)
	if err := pathsafe.MkdirAll(a.m.path, filepath.Dir(dest), 0o755); err != nil {
		return fmt.Errorf("set aside %s: %w", path, classify(err))
	}
	if err := pathsafe.Rename(a.m.path, path, dest); err != nil {
		return fmt.Errorf("set aside %s: %w", path, classify(err))
	}
	a.moved++
	return nil
}

// reconcileParts removes the parts on returning mountpath m that a part
// as new or newer elsewhere replaced.
func (s *Store) reconcileParts(ctx context.Context, b store.Bucket, m mountpath, aside *setAside) error {
	return walkPartFiles(ctx, m.partsDir(b), func(path string, meta store.PartMeta, err error) error {
		if err != nil {
			return nil
		}
		lock := s.lockParts(b, meta.Name)
		lock.Lock()
		defer lock.Unlock()
		if s.partHidden(b, meta) {
			return pathsafe.Remove(m.path, path)
		}
		for _, c := range s.current() {
			if c.path == m.path {
				continue // enabled meanwhile: its own copy is no other
			}
			if other, err := readPartMeta(c.partPath(b, meta.Name, meta.Index)); err == nil && other.Name == meta.Name && other.Stamp.Compare(meta.Stamp) >= 0 {
				return pathsafe.Remove(m.path, path)
			}
		}
		if aside != nil {
			rel, err := filepath.Rel(m.partsDir(b), path)
			if err != nil {
				return err
			}
			bn := b.Normalize()
			return aside.move(path, filepath.Join("parts", bn.Provider, bn.Name, rel))
		}
		return nil
	})
}

// partHidden reports a part deleted while its mountpath was away (a
// tombstone DeleteParts left), or of a bucket made again since.
func (s *Store) partHidden(b store.Bucket, meta store.PartMeta) bool {
	for _, parts := range []bool{false, true} {
		if tomb, ok := s.readTombstoneOf(b, meta.Name, parts); ok && tomb.Stamp.Compare(meta.Stamp) >= 0 {
			return true
		}
	}
	props, err := s.bucketProps(b)
	return err != nil || meta.Stamp.Clock < int64(props.Created)-int64(clockSkew)
}

// copyReconciled is a test's hook after a copy is reconciled, before its
// mountpath is promoted.
var copyReconciled = func(store.Bucket, string) {}

// reconcileCopy settles the copy of one object on returning mountpath m.
func (s *Store) reconcileCopy(b store.Bucket, name string, m mountpath, aside *setAside) error {
	lock := s.lockName(b, name)
	lock.Lock()
	defer lock.Unlock()
	path := m.objectPath(b, name)
	var meta store.ObjectMeta
	if readMeta(path, &meta) != nil {
		return nil // not an object
	}
	stale := s.hidden(b, name, path)
	var older []located
	var same []string // current copies of the same version
	for _, c := range s.current() {
		if c.path == m.path {
			continue // enabled meanwhile: its own copy is no other
		}
		other := c.objectPath(b, name)
		var cur store.ObjectMeta
		if _, _, ok := isObjectFile(other); !ok || readMeta(other, &cur) != nil {
			continue
		}
		switch cmp := cur.Stamp.Compare(meta.Stamp); {
		case cmp > 0:
			stale = true
		case cmp == 0:
			same = append(same, other)
		default:
			older = append(older, located{m: c, path: other})
		}
	}
	// Another returning mountpath's newer copy (two back at once, one
	// overwritten while the other was away) makes this one stale too.
	if !stale {
		if other, ok := s.newestReturning(b, name, m.path); ok {
			var newer store.ObjectMeta
			stale = readMeta(other.path, &newer) == nil && newer.Stamp.Compare(meta.Stamp) > 0
		}
	}
	// A copy of the same version as a current one goes unless the bucket
	// wants a copy on m (a mirror's), and only once a current one is
	// read whole: the current disk's copy may be the one with bit rot.
	if !stale && len(same) > 0 {
		props, err := s.bucketProps(b)
		// Ranked among the mountpaths there will be once m is back.
		after := append(slices.Clone(s.placement()), m)
		wanted := err == nil && slices.ContainsFunc(rankMountpaths(after, b, name, copiesOf(props)), func(x mountpath) bool { return x.path == m.path })
		stale = !wanted && slices.ContainsFunc(same, func(other string) bool {
			var cur store.ObjectMeta
			return readMeta(other, &cur) == nil && verifyFile(other, cur) == nil
		})
	}
	// The returning disk may be the one that failed: its copy replaces
	// the older ones only if its bytes hold.
	if !stale && len(older) > 0 && verifyFile(path, meta) != nil {
		stale, older = true, nil
	}
	if !stale && len(older) > 0 {
		// The newer copy takes the older ones' places where objects go,
		// rather than be the object's only copy on a disk that went away
		// once (disabled again before it is promoted, the object would be
		// gone). Unguarded, m is not read until then either: the object
		// would be missing meanwhile (and an older version a rebalance
		// brings installed over it). One not copied (a mountpath
		// detaching, a disk full) goes, as before.
		placement := s.placement()
		var installed []mountpath
		var rest []located
		for _, c := range older {
			if slices.ContainsFunc(placement, func(x mountpath) bool { return x.path == c.m.path }) {
				err := s.copyFile(path, meta, c.m, b, name)
				if err == nil {
					installed = append(installed, c.m)
					continue
				}
				s.logger.Warn("reconcile: the newer copy could not take an older one's place: the older goes", "bucket", b.String(), "object", name, "mountpath", c.m.path, "err", err)
			}
			rest = append(rest, c)
		}
		// Durable with the next sync (and before the mountpath is
		// promoted), as the removals below.
		s.markUnsynced(installed)
		if len(rest) == 0 {
			return nil
		}
		older = rest
	}
	if !stale && len(same) == 0 && len(older) == 0 && aside != nil {
		bn := b.Normalize()
		if err := aside.move(path, filepath.Join("objects", bn.Provider, bn.Name, filepath.FromSlash(name))); err != nil {
			return err
		}
		removeEmptyParents(filepath.Dir(path), m.bucketDir(b))
		return nil
	}
	if stale {
		older = []located{{m: m, path: path}}
	}
	var removed []mountpath
	for _, c := range older {
		if err := pathsafe.Remove(c.m.path, c.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("reconcile %s/%s: %w", b, name, classify(err))
		}
		removed = append(removed, c.m)
		// Empty directories left would make the name's prefix (x of
		// x/y/z) a conflict for good.
		removeEmptyParents(filepath.Dir(c.path), c.m.bucketDir(b))
	}
	// Durable with the next sync of any write or delete (and before the
	// mountpath is promoted): a crash would bring the older copy back
	// past it.
	s.markUnsynced(removed)
	return nil
}

// dropGoneBuckets removes from m the buckets destroyed while it was away.
func (s *Store) dropGoneBuckets(m mountpath, md store.BucketMetadata) error {
	providers, err := os.ReadDir(m.path)
	if err != nil {
		return fmt.Errorf("reconcile %s: %w", m.path, classify(err))
	}
	for _, p := range providers {
		// Only providers' directories: a disk's own (lost+found, root's
		// alone) would fail the reconcile, and the mountpath stay away.
		if !p.IsDir() || (store.Bucket{Provider: p.Name(), Name: "b"}).Validate() != nil {
			continue
		}
		buckets, err := os.ReadDir(filepath.Join(m.path, p.Name()))
		if err != nil {
			return fmt.Errorf("reconcile %s: %w", m.path, classify(err))
		}
		for _, e := range buckets {
			b := store.Bucket{Provider: p.Name(), Name: e.Name()}
			if !e.IsDir() || b.Validate() != nil {
				continue
			}
			if _, ok := md.Props(b); ok {
				continue
			}
			s.logger.Info("a bucket destroyed while its mountpath was away goes", "bucket", b.String(), "mountpath", m.path)
			if err := s.removeBucketDirs([]mountpath{m}, b); err != nil {
				return err
			}
		}
	}
	return nil
}

// promote enables a returning mountpath once reconciled, unless it went
// away and came back since the reconcile began (since tells).
func (s *Store) promote(m mountpath, since time.Time) {
	promoted := false
	s.changeMountpaths(func(set *mountpathSet) error {
		if i := slices.IndexFunc(set.returning, func(x mountpath) bool { return x.path == m.path }); i >= 0 && set.since[m.path].Equal(since) {
			set.returning = slices.Delete(set.returning, i, i+1)
			set.enabled = append(set.enabled, m)
			set.since[m.path] = time.Now()
			set.gone = slices.DeleteFunc(set.gone, func(path string) bool { return path == m.path })
			delete(set.awaySince, m.path)
			delete(set.unguarded, m.path)
			promoted = true
		}
		return nil
	})
	if promoted {
		s.logger.Info("mountpath enabled: its copies are reconciled", "mountpath", m.path)
	}
}

// reconcileReturning reconciles and enables the returning mountpaths; one
// that fails stays returning (its copies are still only a fallback), and
// the others go on.
func (s *Store) reconcileReturning(ctx context.Context, progress *store.Progress) error {
	select {
	case s.reconciling <- struct{}{}:
		defer func() { <-s.reconciling }()
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	// Those that return while it runs are reconciled too; each is tried
	// once, and the job fails naming those left returning.
	tried := map[string]bool{}
	var failed []error
	for {
		var next []mountpath
		for _, m := range s.mountpathSet().returning {
			if !tried[m.path] {
				next = append(next, m)
			}
		}
		if len(next) == 0 {
			return errors.Join(failed...)
		}
		for _, m := range next {
			tried[m.path] = true
			since := s.mountpathSet().since[m.path]
			err := s.reconcile(ctx, m, progress)
			if err != nil && ctx.Err() != nil {
				return err
			}
			if err == nil {
				// The removals are durable before its copies count as
				// current.
				err = s.syncMountpaths(s.inUse())
			}
			if err != nil {
				s.logger.Warn("reconcile a returning mountpath: it stays returning", "mountpath", m.path, "err", err)
				failed = append(failed, fmt.Errorf("mountpath %s stays returning (its copies not reconciled): %w", m.path, err))
				continue
			}
			s.promote(m, since)
		}
	}
}

// guardsFromRecord gives each mountpath away at start when it last took
// a delete, and whether it is unguarded, as rec tells. One rec does not
// know away was in use until the node stopped: every tombstone written
// before started (this start) was written while it took deletes.
func guardsFromRecord(set *mountpathSet, rec awayRecord, started int64) {
	away := slices.Concat(slices.Collect(maps.Keys(set.disabled)), set.gone)
	for _, m := range set.returning {
		away = append(away, m.path)
	}
	for _, path := range away {
		at, ok := rec.AwaySince[path]
		switch {
		case ok:
		case slices.Contains(rec.Away, path) || slices.Contains(rec.Detached, path):
			at = 0 // away before records kept the time: any tombstone guards it
		default:
			at = started
		}
		set.awaySince[path] = at
		if slices.Contains(rec.Unguarded, path) {
			set.unguarded[path] = true
		}
	}
}
