package datasets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/aisgo/aisgo/internal/atomicfile"
)

// WriteLocal generates the Spec's shards as files under dir, creating
// directories the shard names hold. Each shard is written to a temporary
// file in its final directory, synced and renamed into place, so a shard is
// either whole or absent; a failed run leaves no temporary file.
//
// written, when not nil, is called with each shard's name once it is in
// place (a progress bar counts them).
func WriteLocal(ctx context.Context, spec Spec, dir string, written func(shardName string)) (Stats, error) {
	if err := spec.Validate(); err != nil {
		return Stats{}, err
	}
	return Generate(ctx, spec, func(name string) (io.WriteCloser, error) {
		if !filepath.IsLocal(filepath.FromSlash(name)) {
			return nil, fmt.Errorf("%w: shard name %q leaves the directory", ErrInvalidSpec, name)
		}
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := mkdirDurable(dir, filepath.Dir(path)); err != nil {
			return nil, err
		}
		// The temporary name is the shard's and 18 bytes more: cut, so a
		// name near the 255 bytes a file name takes still fits.
		base := filepath.Base(path)
		if len(base) > 200 {
			base = strings.ToValidUTF8(base[:200], "")
		}
		// Readable by others as the umask allows, as a shell's file.
		f, err := atomicfile.CreateUnique(filepath.Dir(path), ".tmp-"+base+"-", 0o666)
		if err != nil {
			return nil, err
		}
		return &atomicFile{File: f, path: path, written: func() {
			if written != nil {
				written(name)
			}
		}}, nil
	})
}

// atomicFile is a temporary file renamed to path on Close.
type atomicFile struct {
	*os.File
	path    string
	written func()
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
		return err
	}
	// The rename is durable with its directory: a shard said written
	// is there after a crash.
	if err := syncDir(filepath.Dir(a.path)); err != nil {
		return fmt.Errorf("%s: %w", a.path, err)
	}
	a.written()
	return nil
}

// syncDir makes a directory's entries durable (a variable for tests).
var syncDir = atomicfile.SyncDir

// mkdirDurable makes the directory path, under root, and each directory
// it creates durable in its parent.
func mkdirDurable(root, path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	// The first ancestor that exists: the directories below it are new.
	var created []string
	for p := path; p != root && p != filepath.Dir(p); p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			break
		}
		created = append(created, p)
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return err
	}
	for _, p := range created {
		if err := syncDir(filepath.Dir(p)); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

// Abort discards the file.
func (a *atomicFile) Abort() error {
	return errors.Join(a.File.Close(), os.Remove(a.Name()))
}
