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
// The hooks say how it goes (a progress bar, a process that may have to
// remove the temporary files at once: see LocalHooks).
func WriteLocal(ctx context.Context, spec Spec, dir string, hooks LocalHooks) (Stats, error) {
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
		if hooks.Temporary != nil {
			hooks.Temporary(f.Name(), true)
		}
		return &atomicFile{File: f, path: path, hooks: hooks, name: name}, nil
	})
}

// LocalHooks are called as WriteLocal goes; any may be nil.
type LocalHooks struct {
	// Written is called with each shard's name once it is in place.
	Written func(shardName string)
	// Temporary is called with the path of a shard's temporary file
	// when it is made (made) and once it is renamed or removed: a
	// process that ends at once (a second interrupt) removes those made.
	Temporary func(path string, made bool)
}

// atomicFile is a temporary file renamed to path on Close.
type atomicFile struct {
	*os.File
	path  string
	name  string // the shard's
	hooks LocalHooks
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
	if a.hooks.Temporary != nil {
		a.hooks.Temporary(a.Name(), false)
	}
	if err != nil {
		return err
	}
	// The rename is durable with its directory: a shard said written
	// is there after a crash.
	if err := syncDir(filepath.Dir(a.path)); err != nil {
		return fmt.Errorf("%s: %w", a.path, err)
	}
	if a.hooks.Written != nil {
		a.hooks.Written(a.name)
	}
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
	err := errors.Join(a.File.Close(), os.Remove(a.Name()))
	if a.hooks.Temporary != nil {
		a.hooks.Temporary(a.Name(), false)
	}
	return err
}
