package fs

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/store"
)

// Scrub reads every object of a bucket, every copy of it, and checks each
// against its checksum; it counts what is wrong and, with opts.Repair,
// fixes what it can: a bad copy is rewritten from a good one, a missing
// copy made, an object off its mountpaths moved, and an object with no
// good copy left rebuilt by opts.Restore.
func (s *Store) Scrub(ctx context.Context, b store.Bucket, opts store.ScrubOptions, progress *store.Progress) (store.ScrubReport, error) {
	props, err := s.bucketProps(b)
	if err != nil {
		return store.ScrubReport{}, err
	}
	want := copiesOf(props)
	var report store.ScrubReport
	err = s.names(ctx, b, func(name string, size int64) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		// The copies as the bucket has them now (make-n-copies may have
		// changed them since the scrub began): a repair must not remove
		// a copy just made.
		if props, err := s.bucketProps(b); err == nil {
			want = copiesOf(props)
		}
		report.Add(s.scrubObject(ctx, b, name, want, opts))
		progress.Add(size)
		return nil
	})
	if err != nil {
		return report, err
	}
	parts, err := s.scrubParts(ctx, b, opts)
	report.Add(parts)
	return report, err
}

// scrubObject checks one object's copies. They are read outside the
// name's lock (a big shard takes seconds, and the lock's stripe holds up
// other names' writes), each file once through one descriptor; the lock
// is taken after to see that they are still the object's copies.
func (s *Store) scrubObject(ctx context.Context, b store.Bucket, name string, want int, opts store.ScrubOptions) store.ScrubReport {
	r := store.ScrubReport{Objects: 1}
	lock := s.lockName(b, name)
	lock.Lock()
	copies, err := s.locate(b, name)
	lock.Unlock()
	if err != nil {
		s.logger.Warn("scrub: an object the disk cannot tell about is not checked this time", "bucket", b.String(), "object", name, "err", err)
		return store.ScrubReport{Objects: 1, Skipped: 1}
	}
	if len(copies) == 0 {
		return store.ScrubReport{} // deleted since it was listed
	}
	good := make([]bool, len(copies))
	metas := make([]store.ObjectMeta, len(copies))
	// The files read, so that a repair removes those very files and not
	// what a PUT put in their place since.
	files := make([]os.FileInfo, len(copies))
	newest := -1
	bad := 0
	// The newest version any copy says it holds, its bytes good or not:
	// a good copy of an older one is no repair of it (it would replace
	// the newest, and reads took the newest).
	var newestSaid *store.Stamp
	for i, c := range copies {
		var err error
		var said bool
		metas[i], files[i], said, err = checkCopy(c.path)
		if transient(err) {
			// Not the copy's fault (too many open files, say): it is
			// checked again by the next scrub, not thrown away.
			return store.ScrubReport{Objects: 1, Skipped: 1}
		}
		if said && (newestSaid == nil || metas[i].Stamp.Compare(*newestSaid) > 0) {
			newestSaid = &metas[i].Stamp
		}
		if err != nil {
			bad++
			continue
		}
		good[i] = true
		if newest < 0 || metas[i].Stamp.Compare(metas[newest].Stamp) > 0 {
			newest = i
		}
	}
	if newest >= 0 && newestSaid != nil && metas[newest].Stamp.Compare(*newestSaid) < 0 {
		// The newest version's copies are all bad: restored (from its
		// parts), or unrecoverable, not rolled back to an older one.
		newest = -1
	}
	lock.Lock()
	if now, err := s.locate(b, name); err != nil || !sameCopies(copies, files, now) {
		// Written, deleted or moved while it was read: the next scrub
		// checks what is there then.
		lock.Unlock()
		return store.ScrubReport{Objects: 1, Skipped: 1}
	}
	desired := s.mountpathsOf(b, name, want)
	missing := 0
	for _, m := range desired {
		if !slices.ContainsFunc(copies, func(c located) bool { return c.m.path == m.path }) {
			missing++
		}
	}
	// A good copy of an older version (a crash between the renames of a
	// PUT's copies) is no copy of the current one: reads would take
	// either. The repair puts the newest in its place.
	for i := range copies {
		if good[i] && newest >= 0 && metas[i].Stamp != metas[newest].Stamp {
			missing++
		}
	}
	misplaced := opts.Owned != nil && !opts.Owned(b, name)
	// A copy off the object's own mountpaths (left by a change of
	// mountpaths or of copies) is misplaced too.
	extra := slices.ContainsFunc(copies, func(c located) bool {
		return !slices.ContainsFunc(desired, func(m mountpath) bool { return m.path == c.m.path })
	})
	lock.Unlock()

	if misplaced || extra {
		r.Misplaced++
	}
	if missing > 0 {
		r.MissingCopies++
	}
	if newest < 0 {
		r.Corrupt++
		// Restored first, and only then the bad copies removed (those
		// very files, not what the restore or a PUT put in their place):
		// a restore that fails (a target away, too few parts) must not
		// leave the object with no copy at all, one bit off or not.
		switch {
		case opts.Repair && opts.Restore != nil && opts.Restore(ctx, b, name) == nil:
			s.removeBadCopies(b, name, copies, good, files)
			r.Repaired++
		case opts.Repair || opts.Restore == nil:
			r.Unrecoverable++
			// (Not repairing, with parts to restore from: corrupt only,
			// which a repair may restore.)
		}
		return r
	}
	if bad > 0 {
		r.Corrupt++
	}
	if bad == 0 && missing == 0 && !extra {
		if !misplaced {
			r.OK++
		}
		return r
	}
	if opts.Repair {
		// Bad copies are replaced by good ones, missing ones made, extra
		// ones removed: what placeCopies does from the newest good copy.
		s.removeBadCopies(b, name, copies, good, files)
		if _, err := s.placeCopies(b, name, want, nil); err == nil {
			r.Repaired++
		} else if !errors.Is(err, store.ErrNotFound) {
			r.Unrecoverable++
		}
	}
	return r
}

// removeBadCopies removes the bad copies a scrub found, under the name's
// lock, each only if its file is still the one checked.
func (s *Store) removeBadCopies(b store.Bucket, name string, copies []located, good []bool, badFiles []os.FileInfo) {
	lock := s.lockName(b, name)
	lock.Lock()
	defer lock.Unlock()
	for i, c := range copies {
		if now, err := os.Stat(c.path); !good[i] && badFiles[i] != nil && err == nil && os.SameFile(badFiles[i], now) {
			if os.Remove(c.path) == nil {
				removeEmptyParents(filepath.Dir(c.path), c.m.bucketDir(b))
				// Durable with the next sync: a later delete of the
				// object, acknowledged, must not bring this copy back
				// in a crash.
				s.markUnsynced([]mountpath{c.m})
			}
		}
	}
}

// transient reports an error reading a copy that says nothing of the
// copy: the process or the machine short of something for a moment.
func transient(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.EINTR) || errors.Is(err, syscall.EAGAIN)
}

// copyOpened is a test's hook, run when a check has opened a copy.
var copyOpened = func(string) {}

// checkCopy reads a copy's metadata and bytes through one descriptor and
// checks them; it returns the file read (nil when it could not be opened).
// said reports whether its metadata was read (the bytes may still be bad).
func checkCopy(path string) (meta store.ObjectMeta, info os.FileInfo, said bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return store.ObjectMeta{}, nil, false, err
	}
	defer f.Close()
	copyOpened(path)
	fi, err := f.Stat()
	if err != nil {
		return store.ObjectMeta{}, nil, false, err
	}
	o := &object{file: f}
	if err := o.readMeta(); err != nil {
		return store.ObjectMeta{}, fi, false, err
	}
	return o.meta, fi, true, verifyReader(f, o.meta)
}

// sameCopies reports whether the copies located now are the ones read:
// the same paths, each the same file (a copy that could not be opened
// is taken as it is).
func sameCopies(read []located, files []os.FileInfo, now []located) bool {
	if len(read) != len(now) {
		return false
	}
	for i := range read {
		if read[i].path != now[i].path {
			return false
		}
		if files[i] == nil {
			continue
		}
		if fi, err := os.Stat(now[i].path); err != nil || !os.SameFile(files[i], fi) {
			return false
		}
	}
	return true
}

// verifyFile reads a file and checks it against its metadata.
func verifyFile(path string, meta store.ObjectMeta) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return verifyReader(f, meta)
}

// verifyReader reads an object's bytes and checks them against its
// metadata.
func verifyReader(f io.Reader, meta store.ObjectMeta) error {
	h, err := store.NewHash(meta.Checksum.Type)
	if err != nil {
		return err
	}
	buf := pool.Get(pool.CopyBufferSize)
	defer pool.Put(buf)
	var w io.Writer = io.Discard
	if h != nil {
		w = h
	}
	n, err := io.CopyBuffer(w, f, buf)
	if err != nil {
		return err
	}
	if n != meta.Size || h != nil && store.ChecksumOf(meta.Checksum.Type, h).Value != meta.Checksum.Value {
		return store.ErrCorrupt
	}
	return nil
}

// scrubParts checks the erasure-coded parts of a bucket this node keeps
// for others; a bad one is removed with repair (opts.PartRemoved tells its
// owner's node, which sends it again).
func (s *Store) scrubParts(ctx context.Context, b store.Bucket, opts store.ScrubOptions) (store.ScrubReport, error) {
	var r store.ScrubReport
	err := s.walkParts(ctx, b, func(unreadable string, meta store.PartMeta, err error) error {
		r.Parts++
		if err != nil {
			// A part no metadata tells (whose object, which version)
			// serves no restore; its owner cannot be told (the file is
			// named by a hash), and an ec-resilver there sends it again.
			r.BadParts++
			s.logger.Warn("scrub: a part whose metadata cannot be read", "path", unreadable, "err", err)
			if opts.Repair && badPartMeta(err) {
				// The file whose metadata is bad, read through one
				// descriptor: a good part renamed over the path since
				// the walk read it is another file, and stays.
				if f, oerr := os.Open(unreadable); oerr == nil {
					_, merr := readOpenPartMeta(f)
					info, serr := f.Stat()
					f.Close()
					if badPartMeta(merr) && serr == nil {
						s.removeUnknownPart(unreadable, info)
					}
				}
			}
			return nil
		}
		// The file walked: another copy of the part (newer, on another
		// mountpath) is checked against its own metadata when walked.
		// The metadata, the bytes checked and the file a repair removes
		// are of one open file: a part renamed over the path meanwhile
		// (a new PUT's) is neither checked against the old metadata nor
		// removed.
		var path string
		var file *os.File
		for _, m := range s.readable() {
			p := m.partPath(b, meta.Name, meta.Index)
			f, err := os.Open(p)
			if err != nil {
				continue
			}
			if on, err := readOpenPartMeta(f); err == nil && on.Name == meta.Name && on.Stamp == meta.Stamp && on.PartChecksum == meta.PartChecksum {
				path, file = p, f
				break
			}
			f.Close()
		}
		if file == nil {
			return nil
		}
		defer file.Close()
		partMatched(path)
		checked, err := file.Stat()
		if err != nil || verifyReader(file, store.ObjectMeta{Size: meta.SliceSize, Checksum: meta.PartChecksum}) == nil {
			return nil
		}
		r.BadParts++
		partFoundBad(path)
		if opts.Repair && s.removeBadPart(b, meta.Name, path, checked) && opts.PartRemoved != nil {
			opts.PartRemoved(b, meta.Name)
		}
		return nil
	})
	return r, err
}

// badPartMeta tells metadata that is bad for good (none, too large,
// not decodable), not a disk failing to read it.
func badPartMeta(err error) bool {
	return errors.Is(err, store.ErrCorrupt) || errors.Is(err, syscall.ENODATA) || errors.Is(err, syscall.ERANGE)
}

// partFoundBad is a test's hook: a part was found bad and is not removed
// yet.
var partFoundBad = func(path string) {}

// partMatched is a test's hook: a part's file is open, its metadata the
// walk's, and its bytes not checked yet.
var partMatched = func(path string) {}

// removeBadPart removes a part that failed its check if it is still the
// file checked: a part stored since (a new PUT's, renamed over it under
// the parts' lock) is good.
func (s *Store) removeBadPart(b store.Bucket, name, path string, checked os.FileInfo) bool {
	lock := s.lockParts(b, name)
	lock.Lock()
	defer lock.Unlock()
	now, err := os.Stat(path)
	return err == nil && os.SameFile(now, checked) && os.Remove(path) == nil
}

// removeUnknownPart is removeBadPart of a part whose name is not known:
// every stripe of the parts' locks is held (in order, a moment), so that
// a part stored over the path meanwhile is not the one removed.
func (s *Store) removeUnknownPart(path string, checked os.FileInfo) {
	for i := range s.partLocks {
		s.partLocks[i].Lock()
	}
	defer func() {
		for i := range s.partLocks {
			s.partLocks[i].Unlock()
		}
	}()
	if now, err := os.Stat(path); err == nil && os.SameFile(now, checked) {
		os.Remove(path)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
