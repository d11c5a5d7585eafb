package fs

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Group commit: a durable PUT syncs its work file's data by itself, renames
// it into place, and is acknowledged after one syncfs of its mountpath's
// filesystem that began after the rename, shared by every PUT waiting at
// that moment. A sync runs as soon as none runs; the writers
// that arrive meanwhile form the next batch, led by one of them. A lone
// writer waits for one sync, many writers share each.

// groupSyncer batches the syncs of one mountpath.
type groupSyncer struct {
	flush func() error
	mu    sync.Mutex
	cond  *sync.Cond
	// running is set while a sync runs; next is the batch the next sync
	// covers (nil when nobody waits).
	running bool
	next    *syncBatch
	// syncs and writers count, for the statistics.
	syncs, writers atomic.Int64
}

// syncBatch is the writers one sync covers.
type syncBatch struct {
	finished bool
	err      error
}

func newGroupSyncer(flush func() error) *groupSyncer {
	g := &groupSyncer{flush: flush}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// Sync returns once a sync that began after the call has ended.
func (g *groupSyncer) Sync() error {
	g.writers.Add(1)
	g.mu.Lock()
	if g.next == nil {
		g.next = &syncBatch{}
	}
	b := g.next
	for g.running && !b.finished {
		g.cond.Wait()
	}
	if b.finished {
		err := b.err
		g.mu.Unlock()
		return err
	}
	// Lead the batch: later arrivals form the next one.
	g.running, g.next = true, nil
	g.mu.Unlock()
	err := g.flush()
	g.syncs.Add(1)
	g.mu.Lock()
	b.err, b.finished = err, true
	g.running = false
	g.cond.Broadcast()
	g.mu.Unlock()
	return err
}

// syncFilesystem makes everything written on the filesystem of a
// directory durable: data, metadata, renames (syncfs(2)).
func syncFilesystem(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

// syncerOf returns the group syncer of a mountpath.
func (s *Store) syncerOf(m mountpath) *groupSyncer {
	if g, ok := s.syncers.Load(m.path); ok {
		return g.(*groupSyncer)
	}
	path := m.path
	flush := func() error { return syncFilesystem(path) }
	if s.config.SyncFS != nil {
		flush = func() error { return s.config.SyncFS(path) }
	}
	g, _ := s.syncers.LoadOrStore(path, newGroupSyncer(flush))
	return g.(*groupSyncer)
}

// unsyncedMark is one mark of a mountpath's removals not synced yet: a
// sync that began before a later mark leaves that one in place.
type unsyncedMark struct{ m mountpath }

// markUnsynced notes removals on mountpaths that the next sync of any
// mountpath makes durable (see Store.unsynced).
func (s *Store) markUnsynced(mps []mountpath) {
	if s.config.NoSync {
		return
	}
	for _, m := range mps {
		s.unsynced.Store(m.path, &unsyncedMark{m})
	}
}

// anyUnsynced reports whether one of mps has changes not synced yet
// (markUnsynced).
func (s *Store) anyUnsynced(mps []mountpath) bool {
	return slices.ContainsFunc(mps, func(m mountpath) bool {
		_, ok := s.unsynced.Load(m.path)
		return ok
	})
}

// syncMountpaths runs the group sync of each mountpath, in parallel, and
// of those in use with removals not synced yet. A mark stays until a
// sync that began after it succeeds: every caller meanwhile syncs that
// mountpath too (the group syncer joins them), and fails with it (its
// own durability may rest on that removal: a delete of a copy the job
// removed another of); the health check disables a disk that fails.
func (s *Store) syncMountpaths(mps []mountpath) error {
	if s.config.NoSync {
		return nil
	}
	var marks map[string]*unsyncedMark // (none, mostly: no map made)
	s.unsynced.Range(func(key, value any) bool {
		mark := value.(*unsyncedMark)
		if marks == nil {
			marks = map[string]*unsyncedMark{}
		}
		if !slices.ContainsFunc(s.inUse(), func(m mountpath) bool { return m.path == mark.m.path }) {
			// Disabled, gone or detached since (read now: one attached
			// meanwhile keeps its mark): what it holds is no longer
			// read, and comes back reconciled.
			s.unsynced.CompareAndDelete(key, value)
			return true
		}
		marks[mark.m.path] = mark
		return true
	})
	if len(marks) == 0 {
		return s.syncEach(mps)
	}
	asked := len(mps)
	mps = slices.Clone(mps) // (the caller's may be shared: a set's)
	for _, mark := range marks {
		if !slices.ContainsFunc(mps, func(x mountpath) bool { return x.path == mark.m.path }) {
			mps = append(mps, mark.m)
		}
	}
	errs := s.syncEachErrs(mps)
	var failed error
	for i, m := range mps {
		if errs[i] == nil {
			if mark, ok := marks[m.path]; ok {
				s.unsynced.CompareAndDelete(m.path, mark)
			}
			continue
		}
		if i >= asked {
			errs[i] = fmt.Errorf("sync earlier removals on %s: %w", m.path, errs[i])
		}
		failed = cmp.Or(failed, errs[i]) // a mark stays, for the next sync
	}
	return failed
}

// syncEach runs the group sync of each mountpath, in parallel.
func (s *Store) syncEach(mps []mountpath) error {
	if len(mps) == 1 {
		return s.syncMountpath(mps[0])
	}
	for _, err := range s.syncEachErrs(mps) {
		if err != nil {
			return err
		}
	}
	return nil
}

// syncEachErrs runs the group sync of each mountpath, in parallel, and
// returns each one's error.
func (s *Store) syncEachErrs(mps []mountpath) []error {
	errs := make([]error, len(mps))
	switch len(mps) {
	case 0:
		return errs
	case 1:
		errs[0] = s.syncMountpath(mps[0])
		return errs
	}
	var wg sync.WaitGroup
	for i, m := range mps {
		wg.Go(func() { errs[i] = s.syncMountpath(m) })
	}
	wg.Wait()
	return errs
}

func (s *Store) syncMountpath(m mountpath) error {
	if err := s.syncerOf(m).Sync(); err != nil {
		s.suspectAfter(m, err)
		return classify(err)
	}
	return nil
}

// SyncStats are the group syncs of a store: how many ran and how many
// writers waited for them.
type SyncStats struct {
	Syncs, Writers int64
}

// SyncStats sums the group syncs of every mountpath.
func (s *Store) SyncStats() SyncStats {
	var out SyncStats
	s.syncers.Range(func(_, v any) bool {
		g := v.(*groupSyncer)
		out.Syncs += g.syncs.Load()
		out.Writers += g.writers.Load()
		return true
	})
	return out
}

// syncMountpathsUnless syncs the mountpaths unless the write asked not to.
func (s *Store) syncMountpathsUnless(noSync bool, mps []mountpath) error {
	if noSync {
		return nil
	}
	return s.syncMountpaths(mps)
}
