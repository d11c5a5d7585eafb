package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// tempMarker is part of every temporary file's name, so that leftovers of
// a crash can be recognized and removed (see IsTemp).
const tempMarker = ".tmp-"

// Write replaces path with data durably.
func Write(path string, data []byte, perm os.FileMode) error {
	if err := write(path, data, perm, true); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// Replace replaces path with data, whole or not at all, without making
// it durable: for a caller that syncs the filesystem after (syncfs(2)),
// once for many files. A file that replaces another has its data synced
// before the rename: a crash before the caller's sync must not leave an
// empty file where the old one's content was durable (another writer's
// fsync may commit the rename first).
func Replace(path string, data []byte, perm os.FileMode) error {
	_, err := os.Lstat(path)
	return write(path, data, perm, err == nil)
}

func write(path string, data []byte, perm os.FileMode, sync bool) error {
	var suffix [6]byte
	rand.Read(suffix[:])
	tmp := path + tempMarker + hex.EncodeToString(suffix[:])
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// SyncDir fsyncs a directory, making renames and creations in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// IsTemp reports whether a file name is a temporary file of Write.
func IsTemp(name string) bool { return strings.Contains(filepath.Base(name), tempMarker) }

// CreateUnique creates a new file in dir named prefix and random hex
// digits, with mode perm (narrowed by the umask, as a shell's file is:
// os.CreateTemp's 0600 would hide it from other users once renamed).
func CreateUnique(dir, prefix string, perm os.FileMode) (*os.File, error) {
	for range 100 {
		var b [6]byte
		rand.Read(b[:])
		f, err := os.OpenFile(filepath.Join(dir, prefix+hex.EncodeToString(b[:])), os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if !errors.Is(err, os.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("create a file %s* in %s: too many name clashes", prefix, dir)
}
