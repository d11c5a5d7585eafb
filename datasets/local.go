package datasets

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteLocal generates the Spec's shards as files under dir, creating
// directories the shard names hold. Each shard is written to a temporary
// file in its final directory, synced and renamed into place, so a shard is
// either whole or absent; a failed run leaves no temporary file.
func WriteLocal(ctx context.Context, spec Spec, dir string) (Stats, error) {
	if err := spec.Validate(); err != nil {
		return Stats{}, err
	}
	return Generate(ctx, spec, func(name string) (io.WriteCloser, error) {
		if !filepath.IsLocal(filepath.FromSlash(name)) {
			return nil, fmt.Errorf("%w: shard name %q leaves the directory", ErrInvalidSpec, name)
		}
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		f, err := createTemp(path)
		if err != nil {
			return nil, err
		}
		return &atomicFile{File: f, path: path}, nil
	})
}

// createTemp creates a new file beside path with mode 0666 narrowed by
// the umask, as a shell's redirection would: os.CreateTemp's 0600, kept
// by the rename, would hide the shards from a loader of another user.
func createTemp(path string) (*os.File, error) {
	for range 100 {
		var b [6]byte
		rand.Read(b[:])
		name := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-"+hex.EncodeToString(b[:]))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, os.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("create a file beside %s: too many name clashes", path)
}

// atomicFile is a temporary file renamed to path on Close.
type atomicFile struct {
	*os.File
	path string
}

// Close syncs the file and renames it into place.
func (a *atomicFile) Close() error {
	err := a.Sync()
	if closeErr := a.File.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(a.Name(), a.path)
	}
	if err != nil {
		os.Remove(a.Name())
	}
	return err
}

// Abort discards the file.
func (a *atomicFile) Abort() error {
	return errors.Join(a.File.Close(), os.Remove(a.Name()))
}
