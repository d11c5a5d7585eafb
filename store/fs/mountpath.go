package fs

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aisgo/aisgo/internal/hrw"
	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/store"
)

// mountpath is one directory objects are spread over. The counters are
// shared by every copy of the value.
type mountpath struct {
	path   string
	digest uint64
	// reads counts the objects open on it: a GET of a mirrored object
	// reads the copy on the least busy mountpath.
	reads *atomic.Int64
	// lastCheck is when its health was last checked (Unix ns); checking
	// is set while a check runs.
	lastCheck *atomic.Int64
	checking  *atomic.Bool
}

func newMountpath(path string) mountpath {
	return mountpath{path: path, digest: hrw.Digest(path), reads: new(atomic.Int64), lastCheck: new(atomic.Int64), checking: new(atomic.Bool)}
}

func (m mountpath) workDir() string   { return filepath.Join(m.path, ".ais", "work") }
func (m mountpath) trashDir() string  { return filepath.Join(m.path, ".ais", "trash") }
func (m mountpath) healthDir() string { return filepath.Join(m.path, ".ais", "health") }
func (m mountpath) bmdPath() string   { return filepath.Join(m.path, ".ais", "bmd.json") }
func (m mountpath) bucketDir(b store.Bucket) string {
	b = b.Normalize()
	return filepath.Join(m.path, b.Provider, b.Name)
}

// mountpathSet is the store's mountpaths at one moment; it is replaced,
// never changed.
type mountpathSet struct {
	// enabled place and hold objects; detaching ones are still read
	// while their objects move away. returning ones were disabled and
	// are back: what they hold may have been overwritten or deleted
	// meanwhile, so a copy there is read only when no other mountpath has
	// one and no tombstone hides it, until the resilver reconciles them
	// and they are enabled.
	enabled, detaching, returning []mountpath
	// disabled ones are not touched, with the reason.
	disabled map[string]string
	since    map[string]time.Time
	// gone are mountpaths detached while disabled: their copies were
	// never reconciled, so attached again (or configured at a restart)
	// they return rather than serve stale copies as current.
	gone []string
	// awaySince is when each mountpath disabled, returning or gone last
	// took a delete (Unix nanoseconds; 0 when unknown): a tombstone
	// written later guards its copies.
	awaySince map[string]int64
	// unguarded are gone or returning mountpaths some of whose guarding
	// tombstones were collected: their copies that no current one stands
	// for may have been deleted, so they are set aside, never served.
	unguarded map[string]bool
}

// paths returns every mountpath of the set, in any state.
func (set *mountpathSet) paths() []string {
	var out []string
	for _, m := range slices.Concat(set.enabled, set.detaching, set.returning) {
		out = append(out, m.path)
	}
	for path := range set.disabled {
		out = append(out, path)
	}
	return out
}

// placement returns the mountpaths new objects go to.
func (s *Store) placement() []mountpath { return s.mountpathSet().enabled }

// readable returns every mountpath objects may be on, the returning
// ones last; an unguarded one is read only by its reconcile.
func (s *Store) readable() []mountpath {
	set := s.mountpathSet()
	if len(set.detaching) == 0 && len(set.returning) == 0 {
		return set.enabled
	}
	return slices.Concat(set.enabled, set.detaching, set.guardedReturning())
}

// guardedReturning returns the returning mountpaths whose copies the
// tombstones still guard.
func (set *mountpathSet) guardedReturning() []mountpath {
	if len(set.unguarded) == 0 {
		return set.returning
	}
	return slices.DeleteFunc(slices.Clone(set.returning), func(m mountpath) bool { return set.unguarded[m.path] })
}

// inUse returns every mountpath in use, the unguarded returning ones
// too: what goes whole (a bucket destroyed, a store set aside) goes from
// each.
func (s *Store) inUse() []mountpath {
	set := s.mountpathSet()
	return slices.Concat(set.enabled, set.detaching, set.returning)
}

// current returns the mountpaths whose copies are current: all readable
// ones but the returning.
func (s *Store) current() []mountpath {
	set := s.mountpathSet()
	if len(set.detaching) == 0 {
		return set.enabled
	}
	return slices.Concat(set.enabled, set.detaching)
}

// away reports a mountpath disabled or not yet reconciled: deletes then
// leave tombstones, and tombstones stay, so that its stale copies do not
// come back. One gone (detached while disabled, or left out of the
// config) does not count: it may never come back, and tombstones would
// pile up for good; attached again within the tombstones' time, its
// deleted copies stay deleted.
func (s *Store) away() bool {
	set := s.mountpathSet()
	return len(set.disabled) > 0 || len(set.returning) > 0
}

// mayBeAway reports whether a mountpath away (disabled or returning)
// ranks among the mountpaths that may hold a name, over every mountpath
// the store knows in any of those states: where it was placed before the
// disk went away, a copy may be there. Each mountpath enabled since the
// first went away may rank above it: the window widens by one for each.
func (s *Store) mayBeAway(b store.Bucket, name string, copies int) bool {
	set := s.mountpathSet()
	if len(set.disabled) == 0 && len(set.returning) == 0 {
		return false
	}
	away := map[string]bool{}
	all := slices.Concat(set.enabled, set.returning)
	// When the first went away: by awaySince, which neither a change of
	// its state since (enabled, returning, disabled again) nor a restart
	// moves; unknown (0), before any mountpath was enabled.
	first := time.Now()
	note := func(path string) {
		away[path] = true
		t := time.Time{}
		if at := set.awaySince[path]; at > 0 {
			t = time.Unix(0, at)
		}
		if t.Before(first) {
			first = t
		}
	}
	for _, m := range set.returning {
		note(m.path)
	}
	for path := range set.disabled {
		note(path)
		all = append(all, newMountpath(path))
	}
	window := max(copies, 1)
	for _, m := range set.enabled {
		if set.since[m.path].After(first) {
			window++
		}
	}
	for _, m := range rankMountpaths(all, b, name, window) {
		if away[m.path] {
			return true
		}
	}
	return false
}

// Away reports a mountpath disabled or returning: an object not found
// may be on it.
func (s *Store) Away() bool { return s.away() }

// MayBeAway reports whether a copy of a name not found here may be on a
// mountpath away (one placed where it would be): Away for one name.
func (s *Store) MayBeAway(ctx context.Context, b store.Bucket, name string) bool {
	if !s.away() {
		return false
	}
	props, err := s.BucketProps(ctx, b)
	if err != nil {
		return true // not known: it may be
	}
	return s.mayBeAway(b.Normalize(), name, copiesOf(props))
}

// guarding reports that deletes must leave tombstones: a mountpath is
// away, or gone and still guarded by them (attached again, it is
// reconciled by them).
func (s *Store) guarding() bool {
	set := s.mountpathSet()
	return len(set.disabled) > 0 || len(set.returning) > 0 || slices.ContainsFunc(set.gone, func(path string) bool { return !set.unguarded[path] })
}

// unguardedBy makes the gone mountpaths unguarded when a delete leaves
// no tombstone (it has no stamp): attached again, they cannot tell.
func (s *Store) unguardedBy(stamp store.Stamp) error {
	if !stamp.IsZero() || len(s.mountpathSet().gone) == 0 {
		return nil
	}
	return s.unguard(time.Now().UnixNano())
}

func (s *Store) isReturning(m mountpath) bool {
	return slices.ContainsFunc(s.mountpathSet().returning, func(x mountpath) bool { return x.path == m.path })
}

func (s *Store) mountpathSet() *mountpathSet { return s.mps.Load() }

// changeMountpaths applies fn to a copy of the set and installs it.
func (s *Store) changeMountpaths(fn func(set *mountpathSet) error) error {
	s.mpsMu.Lock()
	defer s.mpsMu.Unlock()
	cur := s.mps.Load()
	next := &mountpathSet{
		enabled: slices.Clone(cur.enabled), detaching: slices.Clone(cur.detaching), returning: slices.Clone(cur.returning),
		disabled: maps.Clone(cur.disabled), since: maps.Clone(cur.since), gone: slices.Clone(cur.gone),
		awaySince: maps.Clone(cur.awaySince), unguarded: maps.Clone(cur.unguarded),
	}
	if next.awaySince == nil {
		next.awaySince = map[string]int64{}
	}
	if next.unguarded == nil {
		next.unguarded = map[string]bool{}
	}
	if err := fn(next); err != nil {
		return err
	}
	// Recorded before it takes effect: a delete acknowledged under the
	// new set must find a restart agreeing on what was away.
	if err := s.saveAway(next); err != nil {
		return err
	}
	s.mps.Store(next)
	return nil
}

// Mountpath states.
const (
	MountpathEnabled   = "enabled"
	MountpathDetaching = "detaching"
	MountpathDisabled  = "disabled"
	MountpathReturning = "returning"
)

// MountpathStatuses returns every mountpath the store knows, in path order.
func (s *Store) MountpathStatuses() []store.MountpathStatus {
	set := s.mountpathSet()
	var out []store.MountpathStatus
	for _, m := range set.enabled {
		out = append(out, store.MountpathStatus{Path: m.path, State: MountpathEnabled, Since: set.since[m.path]})
	}
	for _, m := range set.detaching {
		out = append(out, store.MountpathStatus{Path: m.path, State: MountpathDetaching, Since: set.since[m.path]})
	}
	for _, m := range set.returning {
		out = append(out, store.MountpathStatus{Path: m.path, State: MountpathReturning, Since: set.since[m.path]})
	}
	for path, reason := range set.disabled {
		out = append(out, store.MountpathStatus{Path: path, State: MountpathDisabled, Reason: reason, Since: set.since[path]})
	}
	slices.SortFunc(out, func(a, b store.MountpathStatus) int { return cmpString(a.Path, b.Path) })
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// DisableMountpath stops using a mountpath: no object is placed, read or
// written there until it is enabled again. The last enabled mountpath
// stays.
func (s *Store) DisableMountpath(ctx context.Context, path, reason string) error {
	return s.disable(path, reason)
}

func (s *Store) disable(path, reason string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	changed := false
	err = s.changeMountpaths(func(set *mountpathSet) error {
		i := slices.IndexFunc(set.enabled, func(m mountpath) bool { return m.path == abs })
		j := slices.IndexFunc(set.detaching, func(m mountpath) bool { return m.path == abs })
		changed = true
		if k := slices.IndexFunc(set.returning, func(m mountpath) bool { return m.path == abs }); k >= 0 {
			// Away since it first went: its copies are as stale.
			set.returning = slices.Delete(set.returning, k, k+1)
			set.disabled[abs] = reason
			set.since[abs] = time.Now()
			return nil
		}
		switch {
		case i < 0 && j < 0:
			if _, ok := set.disabled[abs]; ok {
				changed = false // disabled already: no change to tell
				return nil
			}
			return fmt.Errorf("%w: %s is not a mountpath of this node", store.ErrMountpath, abs)
		case i >= 0 && len(set.enabled) == 1:
			return fmt.Errorf("%w: %s is the last enabled mountpath", store.ErrMountpath, abs)
		case i >= 0:
			set.enabled = slices.Delete(set.enabled, i, i+1)
		default:
			set.detaching = slices.Delete(set.detaching, j, j+1)
		}
		set.disabled[abs] = reason
		set.since[abs] = time.Now()
		set.awaySince[abs] = time.Now().UnixNano()
		return nil
	})
	if err != nil || !changed {
		return err
	}
	s.logger.Error("mountpath disabled", "mountpath", abs, "reason", reason)
	if s.config.OnMountpathChange != nil {
		s.config.OnMountpathChange(abs, MountpathDisabled, reason)
	}
	return nil
}

// EnableMountpath puts a disabled mountpath back, after a health check:
// it returns (see mountpathSet) until the resilver has reconciled its
// copies with what changed while it was away (see Resilver).
func (s *Store) EnableMountpath(ctx context.Context, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	set := s.mountpathSet()
	if _, ok := set.disabled[abs]; !ok {
		if slices.ContainsFunc(s.readable(), func(m mountpath) bool { return m.path == abs }) {
			return nil
		}
		return fmt.Errorf("%w: %s is not a disabled mountpath of this node", store.ErrMountpath, abs)
	}
	m := newMountpath(abs)
	// Its .ais gone, it is not the disk it was (not mounted, wiped): made
	// here, the check that disabled it would pass on an empty directory.
	if rootGone(m) {
		return fmt.Errorf("%w: %s has no .ais: its disk is not there (not mounted?): mount it and enable it, or for a new empty disk detach and attach the mountpath", store.ErrMountpath, abs)
	}
	if err := s.prepare(m, false); err != nil {
		return err
	}
	if err := checkHealth(m); err != nil {
		return fmt.Errorf("%w: %s fails its health check: %w", store.ErrMountpath, abs, err)
	}
	mountpathPrepared(abs)
	// Still disabled: a detach meanwhile told the admin it was gone.
	return s.enable(m, true, func(set *mountpathSet) error {
		if _, ok := set.disabled[abs]; !ok {
			return fmt.Errorf("%w: %s is no longer a disabled mountpath of this node (detached or enabled meanwhile)", store.ErrMountpath, abs)
		}
		return nil
	})
}

// mountpathPrepared is a test's hook: an attach or enable checked and
// prepared its mountpath, and is about to put it in use.
var mountpathPrepared = func(path string) {}

// enable puts m in use: a new mountpath at once, one that was away as
// returning. admit checks, under the change's lock, that what the caller
// checked before still holds (two requests at once).
func (s *Store) enable(m mountpath, returning bool, admit func(set *mountpathSet) error) error {
	if !returning {
		// Ready before it takes objects: a directory of an older bucket
		// of a name goes now, not under a PUT it took; and what buckets
		// go or come until it is in use reach it too.
		s.mu.Lock()
		err := s.makeBucketDirsLocked(m, false)
		if err == nil {
			s.mu.attaching = append(s.mu.attaching, m)
		}
		s.mu.Unlock()
		if err != nil {
			return err
		}
		defer func() {
			s.mu.Lock()
			s.mu.attaching = slices.DeleteFunc(s.mu.attaching, func(x mountpath) bool { return x.path == m.path })
			s.mu.Unlock()
		}()
	}
	if returning {
		// No tombstone drop in flight: one that began before would not
		// see it back, and its reconcile would not see the drop.
		s.dropMu.Lock()
	}
	err := s.changeMountpaths(func(set *mountpathSet) error {
		if err := admit(set); err != nil {
			return err
		}
		delete(set.disabled, m.path)
		set.detaching = slices.DeleteFunc(set.detaching, func(x mountpath) bool { return x.path == m.path })
		set.returning = slices.DeleteFunc(set.returning, func(x mountpath) bool { return x.path == m.path })
		set.enabled = slices.DeleteFunc(set.enabled, func(x mountpath) bool { return x.path == m.path })
		if returning {
			set.returning = append(set.returning, m)
		} else {
			set.enabled = append(set.enabled, m)
			set.gone = slices.DeleteFunc(set.gone, func(path string) bool { return path == m.path })
			delete(set.awaySince, m.path)
			delete(set.unguarded, m.path)
		}
		set.since[m.path] = time.Now()
		return nil
	})
	if returning {
		s.dropMu.Unlock()
	}
	if err != nil {
		return err
	}
	// Buckets made while it was away get their directories (under s.mu:
	// a bucket destroyed and made again meanwhile is marked as it is).
	if returning {
		if err := s.makeBucketDirs(m, returning); err != nil {
			return err
		}
	}
	state := MountpathEnabled
	if returning {
		state = MountpathReturning
	}
	s.logger.Info("mountpath "+state, "mountpath", m.path)
	if s.config.OnMountpathChange != nil {
		s.config.OnMountpathChange(m.path, state, "")
	}
	return nil
}

// makeBucketDirs makes every bucket's directory on m, marked where m is
// current.
func (s *Store) makeBucketDirs(m mountpath, returning bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.makeBucketDirsLocked(m, returning)
}

func (s *Store) makeBucketDirsLocked(m mountpath, returning bool) error {
	for b, props := range s.mu.md.Buckets {
		if returning {
			// Marked once reconciled.
			if err := pathsafe.MkdirAll(m.path, m.bucketDir(b), 0o755); err != nil {
				return fmt.Errorf("mountpath %s: %w", m.path, classify(err))
			}
			continue
		}
		if err := s.currentBucketDir(m, b, props.Created); err != nil {
			return fmt.Errorf("mountpath %s: %w", m.path, err)
		}
	}
	return nil
}

// AttachMountpath adds a new mountpath (a directory that must support
// extended attributes). The caller decides which paths may be attached.
func (s *Store) AttachMountpath(ctx context.Context, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	set := s.mountpathSet()
	attachable := func(set *mountpathSet) error {
		if _, ok := set.disabled[abs]; ok {
			return fmt.Errorf("%w: %s is a disabled mountpath of this node: enable it", store.ErrMountpath, abs)
		}
		// Against every mountpath, disabled ones too (one enabled later
		// would hold the other: a bucket's removal there would wipe it),
		// with symlinks resolved.
		for _, path := range set.paths() {
			if path == abs {
				return fmt.Errorf("%w: %s is already a mountpath of this node", store.ErrMountpath, abs)
			}
			if overlapping(abs, path) {
				return fmt.Errorf("%w: %s overlaps mountpath %s (the same directory, or one holds the other)", store.ErrMountpath, abs, path)
			}
		}
		return nil
	}
	if err := attachable(set); err != nil {
		return err
	}
	m := newMountpath(abs)
	if err := s.prepare(m, true); err != nil {
		return fmt.Errorf("%w: %w", store.ErrMountpath, err)
	}
	// Detached while disabled, its copies may be stale: it returns. Checked
	// again as it takes effect: another attach (of a path within this one)
	// or a detach may have come meanwhile.
	mountpathPrepared(abs)
	gone := slices.Contains(set.gone, abs)
	err = s.enable(m, gone, func(now *mountpathSet) error {
		if err := attachable(now); err != nil {
			return err
		}
		if slices.Contains(now.gone, abs) != gone {
			return fmt.Errorf("%w: %s was detached or attached meanwhile: attach it again", store.ErrMountpath, abs)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// It gets the bucket metadata the others have: theirs is written
	// already. Failing here fails no attach: it took place, and takes
	// objects; it gets the metadata with the next change of buckets.
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.saveBucketsOnLocked([]mountpath{m}, s.mu.md); err != nil {
		s.logger.Warn("attach: the bucket metadata is not on the new mountpath yet", "mountpath", abs, "err", err)
	}
	return nil
}

// isWithin reports whether path is dir or inside it.
func isWithin(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !filepath.IsAbs(rel) && (rel == "." || !startsWithParent(rel))
}

func startsWithParent(rel string) bool {
	return len(rel) >= 3 && rel[:3] == ".."+string(filepath.Separator)
}

// DetachMountpath takes a mountpath out for good: its objects first move
// to the other mountpaths (progress counts them), then it is forgotten.
// An object that cannot move stays, and the detach fails naming it.
func (s *Store) DetachMountpath(ctx context.Context, path string, progress *store.Progress) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	justGoes := false
	err = s.changeMountpaths(func(set *mountpathSet) error {
		i := slices.IndexFunc(set.enabled, func(m mountpath) bool { return m.path == abs })
		if i < 0 && slices.ContainsFunc(set.detaching, func(m mountpath) bool { return m.path == abs }) {
			return nil // a detach that failed or was cut short: it goes on
		}
		if i < 0 {
			if _, ok := set.disabled[abs]; ok {
				delete(set.disabled, abs)
				delete(set.since, abs)
				if !slices.Contains(set.gone, abs) {
					set.gone = append(set.gone, abs)
				}
				justGoes = true
				return nil
			}
			if slices.ContainsFunc(set.returning, func(m mountpath) bool { return m.path == abs }) {
				// Its copies are not known current until reconciled.
				return fmt.Errorf("%w: %s is returning: detach it when its resilver has enabled it, or disable it first (its objects are then dropped)", store.ErrMountpath, abs)
			}
			return fmt.Errorf("%w: %s is not a mountpath of this node", store.ErrMountpath, abs)
		}
		if len(set.enabled) == 1 {
			return fmt.Errorf("%w: %s is the last mountpath", store.ErrMountpath, abs)
		}
		set.detaching = append(set.detaching, set.enabled[i])
		set.enabled = slices.Delete(set.enabled, i, i+1)
		set.since[abs] = time.Now()
		return nil
	})
	if err != nil {
		return err
	}
	if justGoes {
		// A disabled mountpath has nothing to give: it just goes.
		s.logger.Info("mountpath detached", "mountpath", abs)
		return nil
	}
	unplaced := s.Resilver(ctx, progress)
	if unplaced != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("detach %s: %w", abs, unplaced)
		}
		// Objects elsewhere it could not place (a full disk, one with no
		// readable copy) do not hold the detach: what counts is whether
		// this mountpath was emptied.
		s.logger.Warn("detach: the resilver left some objects unplaced", "mountpath", abs, "err", unplaced)
	}
	// Disabled meanwhile (its disk failed): what is on it now says nothing
	// of what moved (an unmounted tree reads empty).
	disabledMeanwhile := func(set *mountpathSet) error {
		if !slices.ContainsFunc(set.detaching, func(m mountpath) bool { return m.path == abs }) {
			return fmt.Errorf("%w: detach %s: the mountpath was disabled while its objects moved (%s); those not moved are not here: detach it again to drop it", store.ErrMountpath, abs, set.disabled[abs])
		}
		return nil
	}
	if err := disabledMeanwhile(s.mountpathSet()); err != nil {
		return err
	}
	left, err := s.countObjects(abs)
	if err != nil {
		return fmt.Errorf("detach %s: %w", abs, err)
	}
	if left > 0 {
		err := fmt.Errorf("%w: detach %s: %d objects, parts or tombstones could not move; the mountpath stays readable (detach it again to go on)", store.ErrMountpath, abs, left)
		if unplaced != nil {
			err = fmt.Errorf("%w: %w", err, unplaced) // why: no room, a disk failing
		}
		return err
	}
	err = s.changeMountpaths(func(set *mountpathSet) error {
		if err := disabledMeanwhile(set); err != nil {
			return err
		}
		set.detaching = slices.DeleteFunc(set.detaching, func(m mountpath) bool { return m.path == abs })
		delete(set.since, abs)
		// Emptied: no node's now, for another to take, with nothing of
		// this node's metadata (its record of its mountpaths away, its
		// buckets) for the next to read as its own. Under the change's
		// hold: an attach of it again, once it is out, claims it anew.
		detached := newMountpath(abs)
		for _, path := range []string{filepath.Join(abs, ".ais", ownerFile), detached.awayPath(), detached.bmdPath()} {
			pathsafe.Remove(abs, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// A bucket change that listed it while it was detaching may have
	// written the metadata back since: gone again, under the buckets'
	// lock (unless attached again meanwhile).
	s.mu.Lock()
	if !slices.Contains(s.mountpathSet().paths(), abs) {
		pathsafe.Remove(abs, newMountpath(abs).bmdPath())
	}
	s.mu.Unlock()
	s.logger.Info("mountpath detached", "mountpath", abs)
	if s.config.OnMountpathChange != nil {
		s.config.OnMountpathChange(abs, "detached", "")
	}
	return nil
}

// healthCheckInterval bounds how often one mountpath is checked after
// errors.
const healthCheckInterval = 5 * time.Second

// suspect runs a health check of the mountpath at path after an error
// there, in the background and at most once per healthCheckInterval; a
// failed check disables it.
func (s *Store) suspect(m mountpath, cause error) {
	if m.checking == nil {
		return
	}
	now := time.Now().UnixNano()
	if now-m.lastCheck.Load() < int64(healthCheckInterval) || !m.checking.CompareAndSwap(false, true) {
		return
	}
	m.lastCheck.Store(now)
	// Counted with the store's background work: Close waits for it (a
	// check writes its probe file on the disk, and disables it).
	s.queueMu.Lock()
	defer s.queueMu.Unlock()
	if s.closed {
		m.checking.Store(false)
		return
	}
	s.background.Go(func() {
		defer m.checking.Store(false)
		if err := checkHealth(m); err != nil {
			reason := fmt.Sprintf("health check failed: %v (after: %v)", err, cause)
			if err := s.disable(m.path, reason); err != nil {
				s.logger.Error("disable a failing mountpath", "mountpath", m.path, "reason", reason, "err", err)
			}
		}
	})
}

// CheckMountpaths checks the health of every enabled mountpath now and
// disables those that fail; it returns how many failed.
func (s *Store) CheckMountpaths() int {
	failed := 0
	for _, m := range s.placement() {
		if err := checkHealth(m); err != nil {
			failed++
			if err := s.disable(m.path, fmt.Sprintf("health check failed: %v", err)); err != nil {
				s.logger.Error("disable a failing mountpath", "mountpath", m.path, "err", err)
			}
		}
	}
	return failed
}

// checkHealth writes, syncs, reads back and removes a test file on a
// mountpath: what the store does to every object. A full filesystem is
// healthy: disabled, it would hide its objects and LRU could not free it.
// Nor is a disk the process could not probe for want of its own
// resources (descriptors, memory): disabled, a healthy disk would hide
// its objects until an admin enables it again.
// A disk that hangs (a dead NFS server, a controller that stopped
// answering) fails it once its probe has not ended for 4 × healthTimeout:
// one slow under load (an fsync behind a resilver's writeback) is given
// that long, the checks meanwhile waiting on the same probe, never
// starting another (each would hold a thread in the hung syscall).
func checkHealth(m mountpath) error {
	run := &probeRun{started: time.Now(), done: make(chan struct{})}
	if prev, busy := probes.LoadOrStore(m.path, run); busy {
		run = prev.(*probeRun) // the probe under way
	} else {
		go func() {
			run.err = probe(m)
			probes.Delete(m.path)
			close(run.done)
		}()
	}
	var err error
	select {
	case <-run.done:
		err = run.err
	case <-time.After(healthTimeout):
		if since := time.Since(run.started); since >= 4*healthTimeout {
			return fmt.Errorf("the health check of %s has not ended in %s: its disk hangs", m.path, since.Round(time.Second))
		}
		return nil // slow: the next check tells
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || transient(err) {
		return nil
	}
	return err
}

// probeRun is a health probe of a mountpath under way.
type probeRun struct {
	started time.Time
	done    chan struct{}
	err     error // set before done closes
}

// probes are the probes under way, by mountpath.
var probes sync.Map

// healthTimeout is how long a health check waits for its probe (a
// variable for the tests).
var healthTimeout = 30 * time.Second

// probe is probeHealth; tests make a disk hang with it.
var probe = probeHealth

func probeHealth(m mountpath) error {
	fi, err := os.Stat(m.path)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", m.path)
	}
	// Its .ais is what says the directory holds this mountpath's data:
	// gone (its contents wiped, another disk mounted), it is not made
	// again here, which would pass the check and hide the loss.
	if rootGone(m) {
		return fmt.Errorf("%s has no .ais: its data is not there (removed, or another disk mounted)", m.path)
	}
	if err := os.Mkdir(m.healthDir(), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	data := make([]byte, 4096)
	rand.Read(data)
	path := filepath.Join(m.healthDir(), "probe-"+randomName())
	defer os.Remove(path)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	back := make([]byte, len(data))
	if _, err := f.ReadAt(back, 0); err != nil {
		return err
	}
	if !bytes.Equal(back, data) {
		return errors.New("a test file read back other bytes than were written")
	}
	return nil
}

// isDiskError reports whether an error of a file operation may come from
// a failing mountpath rather than from the request.
func isDiskError(err error) bool {
	return errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.ENODEV) ||
		errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.EUCLEAN) || errors.Is(err, syscall.ESTALE)
}

// rootGone reports whether a mountpath's directory itself is missing.
func rootGone(m mountpath) bool {
	_, err := os.Stat(filepath.Join(m.path, ".ais"))
	return errors.Is(err, os.ErrNotExist)
}

// WatchHealth checks every enabled mountpath each interval until ctx
// ends (FSHC): a failing one is disabled.
func (s *Store) WatchHealth(ctx context.Context, interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			s.CheckMountpaths()
		}
	}
}
