package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"

	"github.com/aisgo/aisgo/internal/atomicfile"
)

// dirLocks hold the node's directories for the life of the process: a
// second aisnode given one of them (a unit started twice, a copied
// config) would write over the first's metadata and objects.
type dirLocks []*os.File

// lockDirs takes an exclusive lock on each directory it can open: flock(2)
// on the directory itself, released by the kernel when the process ends,
// however it ends. A directory it cannot open (missing, a failing disk)
// is left to the store, which disables such a mountpath; one whose
// filesystem takes no flock (NFS, which emulates it for files open for
// writing only) is logged and left unlocked; one listed twice is locked
// once (the store names the repetition). It returns the directories it
// could not open, to lock once the store made them.
func lockDirs(logger *slog.Logger, dirs ...string) (io.Closer, []string, error) {
	var locks dirLocks
	var opened []os.FileInfo
	var missing []string
	for _, dir := range dirs {
		f, err := os.Open(dir)
		if err != nil {
			missing = append(missing, dir)
			continue
		}
		fi, err := f.Stat()
		if err != nil || sameAsOne(fi, opened) {
			f.Close()
			continue
		}
		opened = append(opened, fi)
		switch err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); {
		case err == nil:
			locks = append(locks, f)
		case errors.Is(err, syscall.EWOULDBLOCK):
			f.Close()
			locks.Close()
			return nil, nil, fmt.Errorf("%s is in use by another aisnode (or another program holds its lock): one directory serves one node", dir)
		default:
			f.Close()
			logger.Warn("a directory of the node cannot be locked against a second aisnode: run one node on it", "dir", filepath.Clean(dir), "err", err)
		}
	}
	return locks, missing, nil
}

// sameAsOne reports whether fi is the same directory as one of those.
func sameAsOne(fi os.FileInfo, those []os.FileInfo) bool {
	for _, other := range those {
		if os.SameFile(fi, other) {
			return true
		}
	}
	return false
}

func (l dirLocks) Close() error {
	for _, f := range l {
		f.Close()
	}
	return nil
}

// sweepTemps removes the temporary files (internal/atomicfile) a crash
// left in dir: each is a copy of a file being replaced, never the file.
func sweepTemps(logger *slog.Logger, dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.Type().IsRegular() && atomicfile.IsTemp(e.Name()) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				logger.Warn("remove a temporary file a crash left", "file", filepath.Join(dir, e.Name()), "err", err)
			}
		}
	}
}
