package fs

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/store"
	"golang.org/x/sys/unix"
)

// atimeResolution bounds how often a read rewrites the access time.
const atimeResolution = time.Hour

func (m mountpath) objectPath(b store.Bucket, name string) string {
	return filepath.Join(m.bucketDir(b), filepath.FromSlash(name))
}

// Put stores an object atomically: work file, checksum, fsync, metadata,
// rename.
func (s *Store) Put(ctx context.Context, b store.Bucket, name string, r io.Reader, opts store.PutOptions) (store.ObjectMeta, error) {
	if err := store.ValidateName(name); err != nil {
		return store.ObjectMeta{}, err
	}
	props, err := s.bucketProps(b)
	if err != nil {
		return store.ObjectMeta{}, err
	}
	m := s.mountpathOf(b, name)
	meta, work, err := s.writeWork(ctx, m, props, r, opts)
	if err != nil {
		return store.ObjectMeta{}, fmt.Errorf("put %s/%s: %w", b, name, err)
	}
	meta.Name = name
	meta.Custom = opts.Custom
	if err := s.commit(b, name, props, m, work, &meta, opts); err != nil {
		os.Remove(work)
		return store.ObjectMeta{}, fmt.Errorf("put %s/%s: %w", b, name, err)
	}
	return meta, nil
}

// writeWork copies r into a new work file, hashing on the way.
func (s *Store) writeWork(ctx context.Context, m mountpath, props store.Props, r io.Reader, opts store.PutOptions) (meta store.ObjectMeta, work string, err error) {
	typ := store.NormalizeChecksumType(props.Checksum.Type)
	h, err := store.NewHash(typ)
	if err != nil {
		return meta, "", err
	}
	// The sender's checksum may be of another type than the bucket's.
	var senderHash hash.Hash
	if !opts.Checksum.IsEmpty() && opts.Checksum.Type != typ {
		if senderHash, err = store.NewHash(opts.Checksum.Type); err != nil {
			return meta, "", err
		}
	}
	path := filepath.Join(m.workDir(), randomName())
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	if err != nil {
		return meta, "", classify(err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	var file io.Writer = f
	if !s.config.NoSync {
		file = &writeBehind{file: f}
	}
	writers := []io.Writer{file}
	if h != nil {
		writers = append(writers, h)
	}
	if senderHash != nil {
		writers = append(writers, senderHash)
	}
	buf := pool.Get(pool.CopyBufferSize)
	defer pool.Put(buf)
	n, err := io.CopyBuffer(io.MultiWriter(writers...), contextReader{ctx, r}, buf)
	if err != nil {
		return meta, "", classify(err)
	}
	if opts.Size >= 0 && n != opts.Size {
		return meta, "", fmt.Errorf("%w: received %d bytes, announced %d", store.ErrSizeMismatch, n, opts.Size)
	}
	meta.Size = n
	meta.Checksum = store.ChecksumOf(typ, h)
	if !opts.Checksum.IsEmpty() {
		got := meta.Checksum
		if senderHash != nil {
			got = store.ChecksumOf(opts.Checksum.Type, senderHash)
		}
		if got.Value != opts.Checksum.Value {
			return meta, "", fmt.Errorf("%w: sent %s, computed %s", store.ErrBadChecksum, opts.Checksum, got)
		}
	}
	if !s.config.NoSync {
		if err = f.Sync(); err != nil {
			return meta, "", classify(err)
		}
	}
	if err = f.Close(); err != nil {
		return meta, "", classify(err)
	}
	return meta, path, nil
}

// commit versions and stamps the work file and renames it into place,
// under the name's lock.
func (s *Store) commit(b store.Bucket, name string, props store.Props, m mountpath, work string, meta *store.ObjectMeta, opts store.PutOptions) error {
	lock := s.lockName(b, name)
	lock.Lock()
	defer lock.Unlock()
	// The bucket may have been destroyed while the data streamed in.
	if _, err := s.bucketProps(b); err != nil {
		return err
	}
	var old store.ObjectMeta
	exists := false
	if path, _, err := s.findObject(b, name); err == nil && readMeta(path, &old) == nil {
		exists = true
	}
	if opts.IfNewer {
		if exists && old.Stamp.Compare(opts.Stamp) >= 0 {
			return fmt.Errorf("%w: %s has stamp %s, not older than %s", store.ErrExists, name, old.Stamp, opts.Stamp)
		}
		if tomb, ok := s.readTombstone(b, name); ok && tomb.Stamp.Compare(opts.Stamp) >= 0 {
			return fmt.Errorf("%w: %s was deleted at %s, after %s", store.ErrExists, name, tomb.Stamp, opts.Stamp)
		}
	}
	switch {
	case opts.Version != "":
		meta.Version = opts.Version
	case props.Versioning.Enabled:
		meta.Version = "1"
		if v, err := strconv.ParseInt(old.Version, 10, 64); exists && err == nil {
			meta.Version = strconv.FormatInt(v+1, 10)
		}
	}
	meta.Atime = time.Now()
	meta.Stamp = opts.Stamp
	if opts.Precommit != nil {
		release, stamp, err := opts.Precommit()
		if err != nil {
			return err
		}
		defer release()
		if meta.Stamp.IsZero() {
			meta.Stamp = stamp
		}
	}
	if meta.Stamp.IsZero() {
		meta.Stamp = store.Stamp{Clock: meta.Atime.UnixNano()}
	}
	if err := writeMeta(work, meta); err != nil {
		return err
	}
	dest := m.objectPath(b, name)
	// A delete of a neighbor removes the parent directories it leaves
	// empty, maybe between the mkdir and the rename here: try again.
	for attempt := 0; ; attempt++ {
		err := pathsafe.MkdirAll(m.path, filepath.Dir(dest), 0o755)
		if err != nil {
			// EEXIST also comes from a directory made and removed by
			// others while MkdirAll looked: only a file is a conflict.
			if (errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EEXIST)) && parentIsFile(m.bucketDir(b), filepath.Dir(dest)) {
				return fmt.Errorf("%w: a parent of %q is an object", store.ErrConflict, name)
			}
			if (errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTDIR)) && attempt < 8 {
				continue
			}
			return classify(err)
		}
		err = pathsafe.Rename(m.path, work, dest)
		if err == nil {
			break
		}
		if errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("%w: %q is a prefix of other objects", store.ErrConflict, name)
		}
		if errors.Is(err, syscall.ENOENT) && attempt < 8 {
			continue
		}
		return classify(err)
	}
	// A copy left on another mountpath (placed before mountpaths changed)
	// would be stale now.
	for _, other := range s.mountpaths {
		if other.path != m.path {
			os.Remove(other.objectPath(b, name))
		}
	}
	return nil
}

// parentIsFile reports whether dir or one of its parents below root is
// a file.
func parentIsFile(root, dir string) bool {
	for ; len(dir) > len(root); dir = filepath.Dir(dir) {
		if fi, err := os.Lstat(dir); err == nil && !fi.IsDir() {
			return true
		}
	}
	return false
}

// findObject returns the path and size of an object, looking at its HRW
// mountpath first and then at the others, where it may sit since
// mountpaths changed.
func (s *Store) findObject(b store.Bucket, name string) (string, int64, error) {
	first := s.mountpathOf(b, name)
	if path, size, ok := isObjectFile(first.objectPath(b, name)); ok {
		return path, size, nil
	}
	for _, m := range s.mountpaths {
		if m.path == first.path {
			continue
		}
		if path, size, ok := isObjectFile(m.objectPath(b, name)); ok {
			return path, size, nil
		}
	}
	return "", 0, fmt.Errorf("%s/%s: %w", b, name, store.ErrNotFound)
}

func isObjectFile(path string) (string, int64, bool) {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return path, 0, false
	}
	return path, fi.Size(), true
}

// Head returns an object's metadata.
func (s *Store) Head(ctx context.Context, b store.Bucket, name string) (store.ObjectMeta, error) {
	if err := store.ValidateName(name); err != nil {
		return store.ObjectMeta{}, err
	}
	if _, err := s.bucketProps(b); err != nil {
		return store.ObjectMeta{}, err
	}
	path, _, err := s.findObject(b, name)
	if err != nil {
		return store.ObjectMeta{}, err
	}
	meta := store.ObjectMeta{Name: name}
	if err := readMeta(path, &meta); err != nil {
		return store.ObjectMeta{}, err
	}
	return meta, nil
}

// Open opens an object for reading. With opts.Validate, or the bucket's
// validate_warm_get, the whole object is checksummed first, so a mismatch
// is reported before any byte is returned.
func (s *Store) Open(ctx context.Context, b store.Bucket, name string, opts store.OpenOptions) (store.Object, error) {
	if err := store.ValidateName(name); err != nil {
		return nil, err
	}
	props, err := s.bucketProps(b)
	if err != nil {
		return nil, err
	}
	path, size, err := s.findObject(b, name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%s/%s: %w", b, name, store.ErrNotFound)
		}
		return nil, classify(err)
	}
	obj := &object{file: f, meta: store.ObjectMeta{Name: name}}
	if err := obj.readMeta(); err != nil {
		f.Close()
		return nil, fmt.Errorf("open %s/%s: %w", b, name, err)
	}
	// A file cut short (by hand, by a failing disk) is refused before a
	// status promises its full length. The size found by findObject
	// serves; only when it differs (the file was replaced since) is the
	// open file asked.
	if size != obj.meta.Size {
		if fi, err := f.Stat(); err != nil || fi.Size() != obj.meta.Size {
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("open %s/%s: %w", b, name, classify(err))
			}
			return nil, fmt.Errorf("open %s/%s: %w: the stored file has %d bytes, its metadata says %d", b, name, store.ErrCorrupt, fi.Size(), obj.meta.Size)
		}
	}
	if opts.Validate || props.Checksum.ValidateWarmGet {
		if err := obj.validate(); err != nil {
			f.Close()
			return nil, fmt.Errorf("open %s/%s: %w", b, name, err)
		}
	}
	if time.Since(obj.meta.Atime) > atimeResolution {
		obj.meta.Atime = time.Now()
		unix.Fsetxattr(int(f.Fd()), xattrName, encodeMeta(&obj.meta), 0) // best effort: atime only
	}
	return obj, nil
}

// Delete removes an object and the directories it leaves empty, and
// leaves a tombstone when asked (see store.DeleteOptions).
func (s *Store) Delete(ctx context.Context, b store.Bucket, name string, opts store.DeleteOptions) error {
	if err := store.ValidateName(name); err != nil {
		return err
	}
	if _, err := s.bucketProps(b); err != nil {
		return err
	}
	lock := s.lockName(b, name)
	lock.Lock()
	defer lock.Unlock()
	found := false
	for _, m := range s.mountpaths {
		path := m.objectPath(b, name)
		if _, _, ok := isObjectFile(path); !ok {
			continue
		}
		if !opts.IfStamp.IsZero() || !opts.Stamp.IsZero() {
			var meta store.ObjectMeta
			if err := readMeta(path, &meta); err == nil {
				if !opts.IfStamp.IsZero() && meta.Stamp != opts.IfStamp {
					return fmt.Errorf("delete %s/%s: %w: stamp %s, not %s", b, name, store.ErrExists, meta.Stamp, opts.IfStamp)
				}
				if !opts.Stamp.IsZero() && meta.Stamp.Compare(opts.Stamp) > 0 {
					return fmt.Errorf("delete %s/%s: %w: stamp %s is newer than the delete's %s", b, name, store.ErrExists, meta.Stamp, opts.Stamp)
				}
			}
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("delete %s/%s: %w", b, name, classify(err))
		}
		found = true
		removeEmptyParents(filepath.Dir(path), m.bucketDir(b))
	}
	if opts.Tombstone && !opts.Stamp.IsZero() {
		if err := s.writeTombstone(b, store.Tombstone{Name: name, Stamp: opts.Stamp, Created: time.Now().UnixNano()}); err != nil {
			return fmt.Errorf("delete %s/%s: %w", b, name, err)
		}
	}
	if !found {
		return fmt.Errorf("delete %s/%s: %w", b, name, store.ErrNotFound)
	}
	return nil
}

// removeEmptyParents removes dir and its parents up to (not including)
// root while they are empty.
func removeEmptyParents(dir, root string) {
	for dir != root && len(dir) > len(root) {
		if os.Remove(dir) != nil {
			return
		}
		dir = filepath.Dir(dir)
	}
}

// object is an open object file.
type object struct {
	file *os.File
	meta store.ObjectMeta
}

var _ store.Object = (*object)(nil)

func (o *object) readMeta() error {
	buf := make([]byte, maxMetaSize+512)
	n, err := unix.Fgetxattr(int(o.file.Fd()), xattrName, buf)
	if err != nil {
		if errors.Is(err, unix.ENODATA) {
			return fmt.Errorf("%w: %s has no AIS metadata", store.ErrNotFound, o.file.Name())
		}
		return classify(err)
	}
	name := o.meta.Name
	if err := decodeMeta(buf[:n], &o.meta); err != nil {
		return fmt.Errorf("%w: metadata of %s: %w", store.ErrCorrupt, o.file.Name(), err)
	}
	o.meta.Name = name
	return nil
}

func (o *object) validate() error {
	h, err := store.NewHash(o.meta.Checksum.Type)
	if err != nil || h == nil {
		return err
	}
	buf := pool.Get(pool.CopyBufferSize)
	defer pool.Put(buf)
	n, err := io.CopyBuffer(h, io.NewSectionReader(o.file, 0, 1<<62), buf)
	if err != nil {
		return classify(err)
	}
	got := store.ChecksumOf(o.meta.Checksum.Type, h)
	if n != o.meta.Size || got.Value != o.meta.Checksum.Value {
		return fmt.Errorf("%w: have %d bytes with %s, metadata says %d bytes with %s", store.ErrCorrupt, n, got, o.meta.Size, o.meta.Checksum)
	}
	return nil
}

func (o *object) Meta() store.ObjectMeta                    { return o.meta }
func (o *object) Read(p []byte) (int, error)                { return o.file.Read(p) }
func (o *object) ReadAt(p []byte, off int64) (int, error)   { return o.file.ReadAt(p, off) }
func (o *object) Seek(off int64, whence int) (int64, error) { return o.file.Seek(off, whence) }
func (o *object) Close() error                              { return o.file.Close() }
func (o *object) WriteTo(w io.Writer) (int64, error)        { return io.Copy(w, o.file) }

// contextReader stops a copy once the context is done.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// writeBehindChunk is how much is written before its writeback starts.
const writeBehindChunk = 8 << 20

// writeBehind starts the writeback of each chunk of a file as soon as it
// is written (sync_file_range, asynchronous), so that the disk works while
// the rest streams in and the final fsync has little left to do.
type writeBehind struct {
	file    *os.File
	written int64
	flushed int64
}

func (w *writeBehind) Write(p []byte) (int, error) {
	n, err := w.file.Write(p)
	w.written += int64(n)
	if w.written-w.flushed >= writeBehindChunk {
		// Best effort: fsync before the rename is what makes it durable.
		unix.SyncFileRange(int(w.file.Fd()), w.flushed, w.written-w.flushed, unix.SYNC_FILE_RANGE_WRITE)
		w.flushed = w.written
	}
	return n, err
}
