package fs

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/aisgo/aisgo/store"
)

// MountpathOf exposes mountpathOf: the directory of an object's mountpath.
func (s *Store) MountpathOf(b store.Bucket, name string) string {
	return s.mountpathOf(b, name).path
}

// MountpathsOf exposes mountpathsOf, as directories.
func (s *Store) MountpathsOf(b store.Bucket, name string, n int) []string {
	var out []string
	for _, m := range s.mountpathsOf(b, name, n) {
		out = append(out, m.path)
	}
	return out
}

// NewGroupSyncer exposes the group syncer over a flush function.
func NewGroupSyncer(flush func() error) interface{ Sync() error } { return newGroupSyncer(flush) }

// CachedDirs is how many directories the listing cache holds.
func (s *Store) CachedDirs() int {
	s.dirs.mu.Lock()
	defer s.dirs.mu.Unlock()
	return len(s.dirs.dirs)
}

// DirSettled is how long a directory must be unchanged to be cached.
const DirSettled = dirSettled

// OnPartMatched sets the scrub's hook between opening a part whose
// metadata is the walk's and checking its bytes, and returns the restore.
func OnPartMatched(hook func(path string)) func() {
	old := partMatched
	partMatched = hook
	return func() { partMatched = old }
}

// OnPartFoundBad sets the scrub's hook between finding a part bad and
// removing it, and returns the restore.
func OnPartFoundBad(hook func(path string)) func() {
	old := partFoundBad
	partFoundBad = hook
	return func() { partFoundBad = old }
}

// OnCopyReconciled sets the hook a reconcile runs after each copy it
// settles, and returns the restore.
func OnCopyReconciled(hook func(b store.Bucket, name string)) func() {
	old := copyReconciled
	copyReconciled = hook
	return func() { copyReconciled = old }
}

// OnCopiesMade sets the hook placeCopies runs before it removes the copies
// not wanted, and returns the restore.
func OnCopiesMade(hook func()) func() {
	old := copiesMade
	copiesMade = hook
	return func() { copiesMade = old }
}

// OnCopyInstalling sets the hook copyFile runs before it installs a copy,
// and returns the restore.
func OnCopyInstalling(hook func()) func() {
	old := copyInstalling
	copyInstalling = hook
	return func() { copyInstalling = old }
}

// OnCopiesLocated sets the hook a read runs between finding an object's
// copies and opening them, and returns the restore.
func OnCopiesLocated(hook func()) func() {
	old := copiesLocated
	copiesLocated = hook
	return func() { copiesLocated = old }
}

// OnEmptyTrash sets the hook run before a destroyed bucket's directories
// are deleted, and returns the restore.
func OnEmptyTrash(hook func()) func() {
	old := beforeEmptyTrash
	beforeEmptyTrash = hook
	return func() { beforeEmptyTrash = old }
}

// OnRepair sets the hook a repair of bad copies runs before it takes the
// name's lock, and returns the restore.
func OnRepair(hook func()) func() {
	old := beforeRepair
	beforeRepair = hook
	return func() { beforeRepair = old }
}

// OnGetxattr makes reads of object and part metadata go through hook, and returns
// the restore.
func OnGetxattr(hook func(path, attr string, dest []byte) (int, error)) func() {
	old, oldF := getxattr, fgetxattr
	getxattr = hook
	// An open file's read goes by its path too.
	fgetxattr = func(fd int, attr string, dest []byte) (int, error) {
		path, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		if err != nil {
			return 0, err
		}
		return hook(path, attr, dest)
	}
	return func() { getxattr, fgetxattr = old, oldF }
}

// OnRemoveCopy makes a PUT's removals of older copies go through hook,
// and returns the restore.
func OnRemoveCopy(hook func(path string) error) func() {
	old := removeCopy
	removeCopy = hook
	return func() { removeCopy = old }
}

// OnCopyOpened sets the hook a scrub's check runs once it has opened a
// copy, and returns the restore.
func OnCopyOpened(hook func(path string)) func() {
	old := copyOpened
	copyOpened = hook
	return func() { copyOpened = old }
}

// RemoveTree exposes removeTree and its stop error.
func RemoveTree(dir string, stop func() bool) error { return removeTree(dir, stop) }

// ErrStopped is errStopped.
var ErrStopped = errStopped

// Stopping reports whether Close has told the background work to stop.
func (s *Store) Stopping() bool { return s.stopping.Load() }

// FilesystemID exposes filesystemID.
func FilesystemID(x, y uint32, path string) string { return filesystemID(x, y, path) }

// SetBeforeRefresh sets the hook run as a rewrite of older copies
// begins, and returns its restore.
func SetBeforeRefresh(f func()) (restore func()) {
	old := beforeRefresh
	beforeRefresh = f
	return func() { beforeRefresh = old }
}

// RefreshFailed reports whether a rewrite of an object's older copies
// failed lately.
func (s *Store) RefreshFailed(b store.Bucket, name string) bool {
	s.queueMu.Lock()
	defer s.queueMu.Unlock()
	_, ok := s.refreshFailed[b.String()+"/"+name]
	return ok
}

// ReconcileAgain reconciles an enabled mountpath as a second reconcile of
// it would have, walking it after the first enabled it.
func (s *Store) ReconcileAgain(ctx context.Context, path string) error {
	for _, m := range s.current() {
		if m.path == path {
			return s.reconcile(ctx, m, nil)
		}
	}
	return fmt.Errorf("%s is not enabled", path)
}

// OnMountpathPrepared sets the hook an attach or enable runs before it
// puts its mountpath in use, and returns the restore.
func OnMountpathPrepared(hook func(path string)) func() {
	old := mountpathPrepared
	mountpathPrepared = hook
	return func() { mountpathPrepared = old }
}

// OnMirrorInstalling sets the hook a PUT runs before it installs each
// copy, and returns the restore.
func OnMirrorInstalling(hook func(mountpath string) error) func() {
	old := mirrorInstalling
	mirrorInstalling = hook
	return func() { mirrorInstalling = old }
}

// OnWorkWriter sets the hook that wraps the writer of each work file a
// PUT writes on a mountpath, and returns the restore.
func OnWorkWriter(hook func(mountpath string, w io.Writer) io.Writer) func() {
	old := workWriter
	workWriter = hook
	return func() { workWriter = old }
}

// OnHealthProbe wraps the health probe of each mountpath (probe is the
// real one) and sets the time a check waits for it; it returns the
// restore.
func OnHealthProbe(hook func(mountpath string, probe func() error) error, timeout time.Duration) func() {
	oldProbe, oldTimeout := probe, healthTimeout
	probe = func(m mountpath) error { return hook(m.path, func() error { return oldProbe(m) }) }
	healthTimeout = timeout
	return func() { probe, healthTimeout = oldProbe, oldTimeout }
}

// OnCopySource wraps the opening of each copy's source, and returns the
// restore.
func OnCopySource(hook func(path string) (io.ReadCloser, error)) func() {
	old := openSource
	openSource = hook
	return func() { openSource = old }
}

// HoldAccessTimeFlushes keeps flushes of access times waiting (as a disk
// that hangs in one would), until release.
func HoldAccessTimeFlushes(s *Store) (release func()) {
	s.atimes.flushMu.Lock()
	return s.atimes.flushMu.Unlock
}

// Touch notes a read of the object file at path.
func Touch(s *Store, path string) { s.touch(path) }

// OnTombstoneWriting sets the hook told of each tombstone copy about to
// be written (an error fails it), and returns the restore.
func OnTombstoneWriting(hook func(mountpath string) error) func() {
	old := tombstoneWriting
	tombstoneWriting = hook
	return func() { tombstoneWriting = old }
}

// MarkUnsynced notes removals on the mountpath at path, for the next
// sync of any mountpath to make durable.
func MarkUnsynced(s *Store, path string) {
	for _, m := range s.inUse() {
		if m.path == path {
			s.markUnsynced([]mountpath{m})
		}
	}
}

// SetTombstoneChunk sets how many entries a walk of tombstones reads at
// once, and returns the restore.
func SetTombstoneChunk(n int) func() {
	old := tombstoneChunk
	tombstoneChunk = n
	return func() { tombstoneChunk = old }
}

// OnSetxattr makes writes of object metadata go through hook, and
// returns the restore.
func OnSetxattr(hook func(path, attr string, data []byte, flags int) error) func() {
	old := setxattr
	setxattr = hook
	return func() { setxattr = old }
}

// RankOf is the order in which mountpaths at paths hold a name.
func RankOf(paths []string, b store.Bucket, name string) []string {
	mps := make([]mountpath, len(paths))
	for i, p := range paths {
		mps[i] = newMountpath(p)
	}
	var out []string
	for _, m := range rankMountpaths(mps, b, name, len(mps)) {
		out = append(out, m.path)
	}
	return out
}
