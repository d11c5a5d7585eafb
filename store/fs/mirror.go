package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/aisgo/aisgo/internal/atomicfile"
	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/store"
)

// suspectAfter checks a mountpath's health after an error that may be its
// disk's (not the request's).
func (s *Store) suspectAfter(m mountpath, err error) {
	if isDiskError(err) || rootGone(m) {
		s.suspect(m, err)
	}
}

// beforeRepair is a test's hook, run before a repair takes the name's
// lock.
var beforeRepair = func() {}

// repairCopies rewrites bad copies of an object from a good one, if the
// good one is still the object's current version.
func (s *Store) repairCopies(b store.Bucket, name string, good located, bad []located) {
	beforeRepair()
	lock := s.lockName(b, name)
	lock.Lock()
	defer lock.Unlock()
	var meta store.ObjectMeta
	if err := readMeta(good.path, &meta); err != nil {
		return
	}
	// Found before the lock: its mountpath may have gone since (an
	// overwrite then leaves it as it is) and a newer version be placed
	// on the others; it would be written over that.
	if !slices.ContainsFunc(s.readable(), func(m mountpath) bool { return m.path == good.m.path }) {
		return
	}
	if newest, ok := s.newestCopy(b, name); !ok || newest.Stamp.Compare(meta.Stamp) > 0 {
		return
	}
	for _, c := range bad {
		if err := s.copyFile(good.path, meta, c.m, b, name); err != nil {
			s.logger.Warn("repair a corrupt copy", "bucket", b.String(), "object", name, "mountpath", c.m.path, "err", err)
			continue
		}
		// Durable with the next sync (the copy's data is synced; its
		// rename into place is not).
		s.markUnsynced([]mountpath{c.m})
		s.logger.Warn("repaired a corrupt copy from a good one", "bucket", b.String(), "object", name, "mountpath", c.m.path)
		if s.config.OnRepair != nil {
			s.config.OnRepair(b, name, c.path)
		}
	}
}

// copyFile copies the object at src (of metadata meta) to its place on
// mountpath m, checking the checksum of what it reads; the caller holds
// the name's lock.
func (s *Store) copyFile(src string, meta store.ObjectMeta, m mountpath, b store.Bucket, name string) error {
	props, err := s.bucketProps(b)
	if err != nil {
		return err
	}
	in, err := openSource(src)
	if err != nil {
		s.suspectAfter(s.mountpathAt(src), err) // the source's disk, not the copy's
		return classify(err)
	}
	defer in.Close()
	h, err := store.NewHash(meta.Checksum.Type)
	if err != nil {
		return err
	}
	work := filepath.Join(m.workDir(), randomName())
	out, err := os.OpenFile(work, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	if err != nil {
		s.suspectAfter(m, err)
		return classify(err)
	}
	defer os.Remove(work)
	var w io.Writer = out
	if h != nil {
		w = io.MultiWriter(out, h)
	}
	buf := pool.Get(pool.CopyBufferSize)
	defer pool.Put(buf)
	n, err := io.CopyBuffer(w, in, buf)
	if err == nil && !s.config.NoSync {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// A read's failure is the source's disk's, a write's the copy's.
		var failed *os.PathError
		if errors.As(err, &failed) && failed.Path == src {
			s.suspectAfter(s.mountpathAt(src), err)
		} else {
			s.suspectAfter(m, err)
		}
		return classify(err)
	}
	if n != meta.Size || h != nil && store.ChecksumOf(meta.Checksum.Type, h).Value != meta.Checksum.Value {
		return fmt.Errorf("%w: the source copy %s does not match its checksum", store.ErrCorrupt, src)
	}
	if err := writeMeta(work, &meta); err != nil {
		return err
	}
	copyInstalling()
	if err := s.install(b, name, m, work); err != nil {
		return err
	}
	// A destroy takes no name lock: the install may have made the
	// bucket's directories again after it.
	if err := s.placedOrUndone(b, props.Created, []mountpath{m}, name); err != nil {
		return fmt.Errorf("%w: %w", errNotPlaced, err)
	}
	return nil
}

// openSource opens the source of a copy (os.Open; tests make its disk
// fail).
var openSource = func(path string) (io.ReadCloser, error) { return os.Open(path) }

// errNotPlaced: a copy's mountpath or bucket went while it was made; no
// other source would do better.
var errNotPlaced = errors.New("the copy's place went while it was made")

// copyInstalling is a test's hook: a copy is about to be installed.
var copyInstalling = func() {}

// verifyLater checks every copy of an object after a validated read, and
// rewrites the bad ones from a good one; when the queue is full, the
// check is skipped (a scrub finds what it missed).
func (s *Store) verifyLater(b store.Bucket, name string) {
	s.queueVerify(pendingCopy{bucket: b, name: name})
}

func (s *Store) queueVerify(c pendingCopy) {
	s.queueMu.Lock()
	defer s.queueMu.Unlock()
	if s.closed {
		return
	}
	s.verifierOnce.Do(func() {
		s.verifies = make(chan pendingCopy, 1024)
		s.background.Go(func() {
			for c := range s.verifies {
				if c.refresh {
					s.refreshStale(c.bucket, c.name)
				} else {
					s.verifyCopies(c.bucket, c.name)
				}
			}
		})
	})
	select {
	case s.verifies <- c:
	default:
	}
}

// Close stops the background checks and copies, after the queued ones.
func (s *Store) Close() error {
	s.queueMu.Lock()
	if !s.closed {
		s.closed = true
		if s.verifies != nil {
			close(s.verifies)
		}
		if s.copies != nil {
			close(s.copies)
		}
	}
	s.queueMu.Unlock()
	s.stopping.Store(true)
	s.background.Wait()
	// Reads noted and not written yet would be lost with the process.
	s.flushAccessTimes()
	return nil
}

// verifyCopies checks each copy of an object against its checksum and
// repairs the bad ones.
func (s *Store) verifyCopies(b store.Bucket, name string) {
	lock := s.lockName(b, name)
	lock.Lock()
	copies, _ := s.locate(b, name) // (none to check when the disk cannot tell)
	lock.Unlock()
	// Read outside the lock (its stripe holds other names' writes), each
	// copy through one descriptor; the repair checks, under the lock,
	// that the good copy is still the newest.
	var good *located
	var bad []located
	for i, c := range copies {
		if _, _, _, err := checkCopy(c.path); err != nil {
			// (One gone since it was found is no bad copy.)
			if !transient(err) && !errors.Is(err, os.ErrNotExist) {
				bad = append(bad, c)
			}
		} else if good == nil {
			good = &copies[i]
		}
	}
	if good != nil && len(bad) > 0 {
		s.repairCopies(b, name, *good, bad)
	}
}

// beforeRefresh is a test's hook, run as a rewrite of older copies
// begins.
var beforeRefresh = func() {}

// refreshLater queues the rewrite of an object's copies older than its
// newest; dropped when the queue is full (a later read queues it again).
func (s *Store) refreshLater(b store.Bucket, name string) {
	if s.refreshFailedLately(b, name) {
		return // a read each would copy the object each, and fail alike
	}
	s.queueVerify(pendingCopy{bucket: b, name: name, refresh: true})
}

// refreshFailedLately reports a rewrite of an object's older copies that
// failed within refreshRetry.
func (s *Store) refreshFailedLately(b store.Bucket, name string) bool {
	s.queueMu.Lock()
	defer s.queueMu.Unlock()
	failed, ok := s.refreshFailed[b.String()+"/"+name]
	return ok && time.Since(failed) < refreshRetry
}

// refreshRetry is how long an object whose older copies could not be
// rewritten waits before a read queues it again; maxRefreshFailed bounds
// the objects remembered so.
const (
	refreshRetry     = 10 * time.Minute
	maxRefreshFailed = 4096
)

// refreshed notes how a rewrite of an object's older copies went.
func (s *Store) refreshed(b store.Bucket, name string, failed bool) {
	key := b.String() + "/" + name
	s.queueMu.Lock()
	defer s.queueMu.Unlock()
	switch {
	case !failed:
		delete(s.refreshFailed, key)
	case s.refreshFailed == nil || len(s.refreshFailed) >= maxRefreshFailed:
		s.refreshFailed = map[string]time.Time{key: time.Now()}
	default:
		s.refreshFailed[key] = time.Now()
	}
}

// refreshStale rewrites the copies of an object older than its newest
// (left by a crash between a PUT's installs, or not made yet by a burst
// PUT) from a newest one, under the name's lock: a PUT meanwhile has
// made them current, or a newer version, and they are left.
func (s *Store) refreshStale(b store.Bucket, name string) {
	if s.refreshFailedLately(b, name) {
		return // queued by reads before it failed
	}
	beforeRefresh()
	lock := s.lockName(b, name)
	lock.Lock()
	defer lock.Unlock()
	copies, err := s.locate(b, name)
	if err != nil || len(copies) < 2 || s.isReturning(copies[0].m) {
		return
	}
	newest, older := splitNewest(copies)
	var meta store.ObjectMeta
	if len(older) == 0 || readMeta(newest[0].path, &meta) != nil {
		return
	}
	failed := false
	for _, c := range older {
		if err := s.copyFile(newest[0].path, meta, c.m, b, name); err != nil {
			s.logger.Warn("rewrite an older copy from the newest", "bucket", b.String(), "object", name, "mountpath", c.m.path, "err", err)
			failed = true
			continue
		}
		s.markUnsynced([]mountpath{c.m})
		s.logger.Info("rewrote an older copy from the newest", "bucket", b.String(), "object", name, "mountpath", c.m.path)
	}
	s.refreshed(b, name, failed)
}

// copyLater makes the copies of a burst-mode PUT after it returned; when
// the queue is full, now.
func (s *Store) copyLater(c pendingCopy) {
	s.queueMu.Lock()
	if s.closed {
		s.queueMu.Unlock()
		s.copyNow(c)
		return
	}
	s.copierOnce.Do(func() {
		s.copies = make(chan pendingCopy, 4096)
		for range 2 {
			s.background.Go(func() {
				for c := range s.copies {
					s.copyNow(c)
				}
			})
		}
	})
	select {
	case s.copies <- c:
		s.queueMu.Unlock()
	default:
		s.queueMu.Unlock()
		s.copyNow(c)
	}
}

// pendingCopy is an object whose copies a burst-mode PUT left to make.
type pendingCopy struct {
	bucket store.Bucket
	name   string
	stamp  store.Stamp
	// refresh: a read found older copies beside the newest.
	refresh bool
	// room, when set, is asked before a copy is written (roomFor).
	room func(mountpath) error
}

// roomFor is what a copy of size bytes asks of its destination before it
// is written: within the node's watermarks (SetRoomCheck), as
// make-n-copies. Nil when the node set no check.
func (s *Store) roomFor(ctx context.Context, size int64) func(mountpath) error {
	check := s.room.Load()
	if check == nil || *check == nil {
		return nil
	}
	return func(m mountpath) error { return (*check)(ctx, m.path, size) }
}

func (s *Store) copyNow(c pendingCopy) {
	props, err := s.bucketProps(c.bucket)
	if err != nil {
		return
	}
	if _, err := s.placeCopiesWithin(c.bucket, c.name, copiesOf(props), &c.stamp, c.room); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.logger.Warn("make the copies of a burst PUT", "bucket", c.bucket.String(), "object", c.name, "err", err)
	}
}

// copiesMade runs in placeCopies once the copies are made, before the
// others go (a test's hook).
var copiesMade = func() {}

// placed says what placeCopies did.
type placed struct {
	made, removed int
	bytes         int64
	// misplaced: the object was not on its own mountpaths.
	misplaced bool
}

// placeCopies puts an object's copies on its first want mountpaths in HRW
// order and removes the others. The source is a copy of the newest
// version whose checksum holds; with stamp set, only that version is
// placed (a newer PUT has placed its own). ErrNotFound when the object is
// gone.
func (s *Store) placeCopies(b store.Bucket, name string, want int, stamp *store.Stamp) (placed, error) {
	return s.placeCopiesWithin(b, name, want, stamp, nil)
}

// placeCopiesWithin is placeCopies that asks room, when set, before it
// writes a copy to a mountpath: its error ends the placement, the copies
// as they were.
func (s *Store) placeCopiesWithin(b store.Bucket, name string, want int, stamp *store.Stamp, room func(mountpath) error) (placed, error) {
	lock := s.lockName(b, name)
	lock.Lock()
	defer lock.Unlock()
	var done placed
	copies, err := s.locate(b, name)
	if err != nil {
		return done, err
	}
	if len(copies) == 0 {
		return done, fmt.Errorf("%s/%s: %w", b, name, store.ErrNotFound)
	}
	metas := make([]store.ObjectMeta, len(copies))
	newest := -1
	for i, c := range copies {
		if readMeta(c.path, &metas[i]) != nil {
			continue
		}
		if newest < 0 || metas[i].Stamp.Compare(metas[newest].Stamp) > 0 {
			newest = i
		}
	}
	if newest < 0 {
		return done, fmt.Errorf("%w: no copy of %s/%s has readable metadata", store.ErrCorrupt, b, name)
	}
	if stamp != nil && metas[newest].Stamp != *stamp {
		return done, nil
	}
	// The last read of any copy of the version: reads go to the least
	// busy copy, and its own time alone says it. The copies made and kept
	// carry it, else LRU would take an object read a moment ago.
	var lastRead time.Time
	for i, c := range copies {
		if metas[i].Stamp != metas[newest].Stamp {
			continue
		}
		read := metas[i].Atime
		if t, ok := s.accessTime(c.path); ok && t.After(read) {
			read = t
		}
		if read.After(lastRead) {
			lastRead = read
		}
	}
	withLastRead := func(meta store.ObjectMeta) store.ObjectMeta {
		if lastRead.After(meta.Atime) {
			meta.Atime = lastRead
		}
		return meta
	}
	desired := s.mountpathsOf(b, name, want)
	if len(desired) > 0 && copies[0].m.path != desired[0].path {
		done.misplaced = true
	}
	current := func(m mountpath) bool {
		i := slices.IndexFunc(copies, func(c located) bool { return c.m.path == m.path })
		return i >= 0 && metas[i].Stamp == metas[newest].Stamp && metas[i].Checksum == metas[newest].Checksum
	}
	for _, m := range desired {
		if current(m) {
			continue
		}
		if room != nil {
			if err := room(m); err != nil {
				return done, err
			}
		}
		// Any copy of the newest version may serve: the first whose
		// checksum holds does.
		var err error
		for i, c := range copies {
			if metas[i].Stamp != metas[newest].Stamp {
				continue
			}
			if err = s.copyFile(c.path, withLastRead(metas[i]), m, b, name); err == nil || errors.Is(err, errNotPlaced) {
				break
			}
		}
		if err != nil {
			return done, fmt.Errorf("copy %s/%s to %s: %w", b, name, m.path, err)
		}
		done.made++
		done.bytes += metas[newest].Size
	}
	// Before a copy goes, the kept ones are read whole: one with bit rot
	// (its metadata fine) is written again from a good copy, else it
	// would be all that is left.
	extra := slices.ContainsFunc(copies, func(c located) bool {
		return !slices.ContainsFunc(desired, func(m mountpath) bool { return m.path == c.m.path })
	})
	for _, m := range desired {
		i := slices.IndexFunc(copies, func(c located) bool { return c.m.path == m.path })
		if !extra || i < 0 || !current(m) || verifyFile(copies[i].path, metas[i]) == nil {
			continue
		}
		err := fmt.Errorf("%w: no other copy", store.ErrCorrupt)
		for j, c := range copies {
			if j != i && metas[j].Stamp == metas[newest].Stamp {
				if err = s.copyFile(c.path, withLastRead(metas[j]), m, b, name); err == nil || errors.Is(err, errNotPlaced) {
					break
				}
			}
		}
		if err != nil {
			return done, fmt.Errorf("the copy of %s/%s on %s is corrupt, and none to write it again from: %w", b, name, m.path, err)
		}
		done.made++
		done.bytes += metas[newest].Size
	}
	// The copies kept are durable before any other goes: a detach that
	// moved an object must not lose it in a crash, nor a copy rewritten
	// (a repair's, its mountpath marked unsynced) be left corrupt by one
	// with the good copy gone. (Not a sync per object else: a job lowering
	// the copies of a million objects.)
	extras := slices.ContainsFunc(copies, func(c located) bool {
		return !slices.ContainsFunc(desired, func(m mountpath) bool { return m.path == c.m.path })
	})
	if done.made > 0 || extras && s.anyUnsynced(desired) {
		if err := s.syncMountpaths(desired); err != nil {
			return done, fmt.Errorf("copies of %s/%s: %w", b, name, err)
		}
	}
	// A mountpath disabled meanwhile (by hand, or its health check: no
	// name lock stops either) does not keep the object: the others stay.
	copiesMade()
	// Held to the removals: no mountpath changes between the check and
	// them (changes take no name lock, so the order cannot deadlock).
	s.mpsMu.RLock()
	defer s.mpsMu.RUnlock()
	placement := s.placement()
	if extra && !slices.ContainsFunc(desired, func(m mountpath) bool {
		return slices.ContainsFunc(placement, func(e mountpath) bool { return e.path == m.path })
	}) {
		return done, fmt.Errorf("%w: the mountpaths %s/%s goes to were disabled meanwhile: its copies stay", store.ErrIO, b, name)
	}
	var removed []mountpath
	for _, c := range copies {
		if !slices.ContainsFunc(desired, func(m mountpath) bool { return m.path == c.m.path }) {
			if err := os.Remove(c.path); err == nil {
				done.removed++
				removed = append(removed, c.m)
				removeEmptyParents(filepath.Dir(c.path), c.m.bucketDir(b))
			}
		}
	}
	// Durable with the next sync of any write or delete (a removal of a
	// job's, one object after another, is not synced alone): a crash
	// would bring this copy back past it.
	s.markUnsynced(removed)
	if len(removed) > 0 && !lastRead.IsZero() {
		for _, m := range desired {
			s.touchAt(m.objectPath(b, name), lastRead) // the reads of the copies gone
		}
	}
	return done, nil
}

// names walks the names of a bucket's objects on every readable mountpath,
// in order, a page at a time.
func (s *Store) names(ctx context.Context, b store.Bucket, fn func(name string, size int64) error) error {
	after := ""
	for {
		page, err := s.List(ctx, b, store.ListOptions{StartAfter: after, Limit: 1000})
		if err != nil {
			return err
		}
		for _, meta := range page {
			if err := fn(meta.Name, meta.Size); err != nil {
				return err
			}
		}
		if len(page) < 1000 {
			return nil
		}
		after = page[len(page)-1].Name
	}
}

// MakeCopies brings every object of a bucket to the copies its props want
// (make-n-copies), removing extra ones. PUTs go on meanwhile; they write
// their own copies.
func (s *Store) MakeCopies(ctx context.Context, b store.Bucket, progress *store.Progress) error {
	props, err := s.bucketProps(b)
	if err != nil {
		return err
	}
	want := copiesOf(props)
	corrupt := 0
	err = s.names(ctx, b, func(name string, size int64) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		room := s.roomFor(ctx, size)
		// The count of now, as a resilver reads it: a job of older props
		// that a newer one did not replace (a target it missed) must not
		// cut objects put since to the old count.
		if now, err := s.bucketProps(b); err == nil {
			want = copiesOf(now)
		}
		_, err := s.placeCopiesWithin(b, name, want, nil, room)
		switch {
		case errors.Is(err, store.ErrCorrupt):
			// Its copies stay as they are (a scrub tells it): the
			// others of the bucket go on.
			corrupt++
			s.logger.Warn("make-n-copies: an object has no good copy to keep", "bucket", b.String(), "object", name, "err", err)
		case errors.Is(err, store.ErrNoSpace):
			return fmt.Errorf("make-n-copies of %s stopped at %s: %w", b, name, err)
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return err
		}
		progress.Add(size)
		return nil
	})
	// The copies it removed are durable before it ends.
	if serr := s.syncMountpaths(nil); err == nil {
		err = serr
	}
	if err == nil && corrupt > 0 {
		err = fmt.Errorf("make-n-copies of %s: %w: %d objects have no good copy to keep (their copies stay)", b, store.ErrCorrupt, corrupt)
	}
	return err
}

// Resilver moves every object of every bucket to its mountpaths and makes
// the copies its bucket wants, after mountpaths changed: an object only a
// detaching mountpath holds moves off it. Returning mountpaths are
// reconciled first, then enabled.
func (s *Store) Resilver(ctx context.Context, progress *store.Progress) error {
	// A mountpath that stays returning does not hold the rest back (a
	// detach of another would fail for good): named at the end.
	returning := s.reconcileReturning(ctx, progress)
	if returning != nil && ctx.Err() != nil {
		return returning
	}
	if err := s.resilver(ctx, progress); err != nil {
		return errors.Join(returning, err)
	}
	return returning
}

// resilver is Resilver past the returning mountpaths.
func (s *Store) resilver(ctx context.Context, progress *store.Progress) error {
	s.mu.Lock()
	md := s.mu.md
	s.mu.Unlock()
	for _, m := range s.mountpathSet().detaching {
		if err := s.moveParts(ctx, m, md, progress); err != nil {
			return err
		}
		if err := s.moveTombstones(ctx, m, md); err != nil {
			return err
		}
	}
	failed := 0
	var first error
	for b := range md.Buckets {
		err := s.names(ctx, b, func(name string, size int64) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			// The bucket's copies as they are now, not when the walk
			// began: make-n-copies may have raised them meanwhile, and
			// a copy it made must not be taken for one too many.
			props, err := s.bucketProps(b)
			if err != nil {
				return nil // destroyed meanwhile
			}
			// Within the watermarks of where each copy goes, as
			// make-n-copies: a detach of more than the others hold below
			// out_of_space fails, rather than fill every disk (metadata
			// and buckets could then not be written anywhere); a disk
			// added to a full target takes what moves to it.
			room := s.roomFor(ctx, size)
			// A copy with no readable metadata is a scrub's to find, as
			// for make-n-copies; it fails no resilver.
			if _, err := s.placeCopiesWithin(b, name, copiesOf(props), nil, room); err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrCorrupt) {
				s.logger.Warn("resilver", "bucket", b.String(), "object", name, "err", err)
				if failed++; first == nil {
					first = fmt.Errorf("%s/%s: %w", b, name, err)
				}
			}
			progress.Add(size)
			return nil
		})
		if err != nil && !errors.Is(err, store.ErrBucketNotFound) {
			return err
		}
	}
	// The copies it removed are durable before it ends.
	if err := s.syncMountpaths(nil); err != nil {
		return fmt.Errorf("resilver: %w", err)
	}
	if failed > 0 {
		// The job fails naming them, rather than end well with objects
		// short of copies (a full disk, a mountpath gone meanwhile).
		return fmt.Errorf("resilver: %d objects not placed, the first %w", failed, first)
	}
	return nil
}

// moveParts moves the erasure-coded parts a detaching mountpath keeps to
// their mountpaths (PutPart stores each where it belongs, durably, and
// removes the copy left behind).
func (s *Store) moveParts(ctx context.Context, m mountpath, md store.BucketMetadata, progress *store.Progress) error {
	for b := range md.Buckets {
		err := walkPartFiles(ctx, m.partsDir(b), func(path string, meta store.PartMeta, err error) error {
			if errors.Is(err, store.ErrNotFound) {
				return nil // moved or deleted meanwhile
			}
			if err == nil {
				var f *os.File
				if f, err = os.Open(path); err != nil {
					return nil // moved or deleted meanwhile
				}
				err = s.PutPart(ctx, meta, f)
				f.Close()
			} else if badPartMeta(err) {
				err = fmt.Errorf("%w: %w", store.ErrCorrupt, err)
			}
			// (Metadata the disk failed to read is not bad: the part is
			// left, and the detach fails naming it, to be tried again.)
			switch {
			case errors.Is(err, store.ErrExists):
				pathsafe.Remove(m.path, path) // a newer part is in place
			case errors.Is(err, store.ErrCorrupt) || errors.Is(err, store.ErrBadChecksum) || errors.Is(err, store.ErrInvalidPart) || errors.Is(err, store.ErrSizeMismatch):
				// Bad, as a scrub would find it: its owner sends it again.
				s.logger.Warn("a bad part is dropped, not moved", "path", path, "err", err)
				pathsafe.Remove(m.path, path)
			case err != nil:
				s.logger.Warn("move a part", "path", path, "err", err)
			}
			progress.Add(meta.SliceSize)
			return nil
		})
		if err != nil {
			return fmt.Errorf("move the parts of %s off %s: %w", b, m.path, err)
		}
	}
	return nil
}

// countObjects counts the objects, parts and tombstones left on a
// mountpath.
func (s *Store) countObjects(path string) (int, error) {
	m := newMountpath(path)
	s.mu.Lock()
	md := s.mu.md
	s.mu.Unlock()
	count := 0
	for b := range md.Buckets {
		for item := range walk(m.bucketDir(b), "", "") {
			if item.err != nil {
				if errors.Is(item.err, os.ErrNotExist) {
					break
				}
				return count, item.err
			}
			// One unreadable is counted: it may be an object.
			if has, err := hasMeta(item.path); has || err != nil {
				count++
			}
		}
		// Parts, and tombstones: one left would go with the mountpath,
		// and an older copy of its name arrive unrefused.
		// A directory that does not read is not known empty.
		for _, dir := range []string{m.partsDir(b), m.tombstoneDir(b)} {
			err := filepath.WalkDir(dir, func(path string, d iofs.DirEntry, err error) error {
				if err != nil {
					if errors.Is(err, os.ErrNotExist) {
						return nil
					}
					return err
				}
				if !d.IsDir() && !atomicfile.IsTemp(d.Name()) {
					count++
				}
				return nil
			})
			if err != nil {
				return count, err
			}
		}
	}
	return count, nil
}

// Copies tells where the copies of an object are.
func (s *Store) Copies(ctx context.Context, b store.Bucket, name string) ([]store.ObjectCopy, error) {
	if err := store.ValidateName(name); err != nil {
		return nil, err
	}
	lock := s.lockName(b, name)
	lock.Lock()
	defer lock.Unlock()
	copies, err := s.locate(b, name)
	if err != nil {
		return nil, err
	}
	if len(copies) == 0 {
		return nil, fmt.Errorf("%s/%s: %w", b, name, store.ErrNotFound)
	}
	out := make([]store.ObjectCopy, len(copies))
	metas := make([]store.ObjectMeta, len(copies))
	newest := -1
	for i, c := range copies {
		out[i] = store.ObjectCopy{Mountpath: c.m.path, Path: c.path, Size: c.size}
		if readMeta(c.path, &metas[i]) != nil {
			continue
		}
		out[i].Version = metas[i].Version
		if newest < 0 || metas[i].Stamp.Compare(metas[newest].Stamp) > 0 {
			newest = i
		}
	}
	for i := range out {
		out[i].Current = newest >= 0 && metas[i].Stamp == metas[newest].Stamp
	}
	return out, nil
}
