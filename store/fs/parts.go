package fs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aisgo/aisgo/internal/atomicfile"
	"github.com/aisgo/aisgo/internal/hrw"
	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/store"
)

// partXattr holds a part's msgp-encoded PartMeta.
const partXattr = "user.ais.part"

// Parts live apart from objects, under .ais/parts/PROVIDER/BUCKET, in
// files named by a hash of the object's name and the part's index: object
// names form a tree, and a part beside one could collide with another
// object's directory. The name itself is in the part's metadata.
func (m mountpath) partsDir(b store.Bucket) string {
	b = b.Normalize()
	return filepath.Join(m.path, ".ais", "parts", b.Provider, b.Name)
}

// partKey is the hashed name of an object's parts.
func partKey(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:16])
}

// partDir is the directory of the parts of the object of key: two
// levels of 256, so that a lookup lists a 65536th of a bucket's parts
// (one level, a 256th, was thousands of files in a big bucket, listed
// at each GET of a missing object and each object a sweep checks).
func (m mountpath) partDir(b store.Bucket, key string) string {
	return filepath.Join(m.partsDir(b), key[:2], key[2:4])
}

func (m mountpath) partPath(b store.Bucket, name string, index int) string {
	key := partKey(name)
	return filepath.Join(m.partDir(b, key), key+"."+strconv.Itoa(index))
}

// partsLayoutFile, under a mountpath's .ais, tells its parts are where
// partDir puts them (a store before kept them one level up).
const partsLayoutFile = "parts-layout"

// layParts moves the parts a store before kept one level up to where
// partDir puts them, once per mountpath: durable before the mark, so a
// crash between leaves no part where lookups do not look.
func layParts(m mountpath) error {
	marker := filepath.Join(m.path, ".ais", partsLayoutFile)
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	root := filepath.Join(m.path, ".ais", "parts")
	moved := 0
	providers, err := os.ReadDir(root)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, p := range providers {
		buckets, err := os.ReadDir(filepath.Join(root, p.Name()))
		if err != nil {
			if absentPath(err) {
				continue
			}
			return err
		}
		for _, bucket := range buckets {
			dir := filepath.Join(root, p.Name(), bucket.Name())
			fans, err := os.ReadDir(dir)
			if err != nil {
				if absentPath(err) {
					continue
				}
				return err
			}
			for _, fan := range fans {
				n, err := layFan(m, filepath.Join(dir, fan.Name()))
				if err != nil {
					return err
				}
				moved += n
			}
		}
	}
	if moved > 0 {
		if err := syncFilesystem(m.path); err != nil {
			return err
		}
	}
	return atomicfile.Write(marker, []byte("2\n"), 0o644)
}

// layFan moves the part files of one first-level directory down to their
// second level.
func layFan(m mountpath, dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if absentPath(err) {
			return 0, nil
		}
		return 0, err
	}
	moved := 0
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || len(name) < 4 || !strings.HasPrefix(name, filepath.Base(dir)) {
			continue
		}
		sub := filepath.Join(dir, name[2:4])
		if err := pathsafe.MkdirAll(m.path, sub, 0o755); err != nil {
			return moved, err
		}
		if err := pathsafe.Rename(m.path, filepath.Join(dir, name), filepath.Join(sub, name)); err != nil {
			return moved, err
		}
		moved++
	}
	return moved, nil
}

// PutPart stores a part (see store.Store).
func (s *Store) PutPart(ctx context.Context, meta store.PartMeta, r io.Reader) error {
	if err := meta.Validate(); err != nil {
		return err
	}
	b, name := meta.Bucket.Normalize(), meta.Name
	props, err := s.bucketProps(b)
	if err != nil {
		return err
	}
	encoded, err := meta.MarshalMsg(nil)
	if err != nil {
		return err
	}
	m := s.mountpathOf(b, name)
	h, err := store.NewHash(meta.PartChecksum.Type)
	if err != nil {
		return err
	}
	work := filepath.Join(m.workDir(), randomName())
	f, err := os.OpenFile(work, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	if err != nil {
		s.suspectAfter(m, err)
		return classify(err)
	}
	defer os.Remove(work)
	var w io.Writer = f
	if h != nil {
		w = io.MultiWriter(f, h)
	}
	buf := pool.Get(pool.CopyBufferSize)
	defer pool.Put(buf)
	n, err := io.CopyBuffer(w, contextReader{ctx, r}, buf)
	if err == nil && !s.config.NoSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.suspectAfter(m, err)
		return classify(err)
	}
	if n != meta.SliceSize {
		return fmt.Errorf("%w: part %d of %s/%s: received %d bytes, want %d", store.ErrSizeMismatch, meta.Index, b, name, n, meta.SliceSize)
	}
	if h != nil {
		if got := store.ChecksumOf(meta.PartChecksum.Type, h); got.Value != meta.PartChecksum.Value {
			return fmt.Errorf("%w: part %d of %s/%s: sent %s, computed %s", store.ErrBadChecksum, meta.Index, b, name, meta.PartChecksum, got)
		}
	}
	if err := syscall.Setxattr(work, partXattr, encoded, 0); err != nil {
		return classify(fmt.Errorf("set part metadata: %w", err))
	}
	lock := s.lockParts(b, name)
	lock.Lock()
	defer lock.Unlock()
	// Held from the check to the rename, and again from a second check to
	// the removals, as a PUT's commit holds it: a disable in between would
	// take the part with it, its other copies removed. Not across the
	// sync: a disk that hangs there would stall every mountpath change
	// (its own disable too). (Changes take no parts lock: no deadlock.)
	placed := func() bool {
		return slices.ContainsFunc(s.placement(), func(e mountpath) bool { return e.path == m.path })
	}
	s.mpsMu.RLock()
	held := true
	defer func() {
		if held {
			s.mpsMu.RUnlock()
		}
	}()
	// Not onto a mountpath disabled while the part streamed in (not read).
	if !placed() {
		return fmt.Errorf("%w: part %d of %s/%s: mountpath %s was disabled meanwhile: send it again", store.ErrIO, meta.Index, b, name, m.path)
	}
	for _, other := range s.readable() {
		if old, err := readPartMeta(other.partPath(b, name, meta.Index)); err == nil && old.Stamp.Compare(meta.Stamp) > 0 {
			return fmt.Errorf("%w: part %d of %s/%s has a newer stamp %s", store.ErrExists, meta.Index, b, name, old.Stamp)
		}
	}
	dest := m.partPath(b, name, meta.Index)
	if err := pathsafe.MkdirAll(m.path, filepath.Dir(dest), 0o755); err != nil {
		s.suspectAfter(m, err)
		return classify(err)
	}
	if err := pathsafe.Rename(m.path, work, dest); err != nil {
		s.suspectAfter(m, err)
		return classify(err)
	}
	s.mpsMu.RUnlock()
	held = false
	// The part is durable before the PUT that sent it is acknowledged:
	// its metadata and its rename with it.
	if err := s.syncMountpaths([]mountpath{m}); err != nil {
		return fmt.Errorf("part %d of %s/%s: %w", meta.Index, b, name, err)
	}
	s.mpsMu.RLock()
	held = true
	if !placed() {
		// Disabled during the sync: the copies elsewhere stay.
		return fmt.Errorf("%w: part %d of %s/%s: mountpath %s was disabled meanwhile: send it again", store.ErrIO, meta.Index, b, name, m.path)
	}
	var removed []mountpath
	for _, other := range s.inUse() {
		if other.path != m.path && os.Remove(other.partPath(b, name, meta.Index)) == nil {
			removed = append(removed, other)
		}
	}
	s.mpsMu.RUnlock()
	held = false
	// Durable with the next sync: a crash would bring back the older
	// part beside it.
	s.markUnsynced(removed)
	// A destroy takes no parts lock: the MkdirAll above may have made
	// the bucket's directories again after it.
	if current, err := s.bucketProps(b); err != nil || current.Created != props.Created {
		pathsafe.Remove(m.path, dest)
		if err := s.syncMountpaths([]mountpath{m}); err != nil {
			s.logger.Warn("sync the removal of a part whose bucket was destroyed", "bucket", b.String(), "object", name, "err", err)
		}
		return fmt.Errorf("part %d of %s/%s: %w: the bucket was destroyed while the part was stored", meta.Index, b, name, store.ErrBucketNotFound)
	}
	return nil
}

// readPartMeta reads a part file's metadata.
func readPartMeta(path string) (store.PartMeta, error) {
	buf := make([]byte, 8<<10)
	n, err := getxattr(path, partXattr, buf)
	return decodePartMeta(path, buf, n, err)
}

// readOpenPartMeta reads an open part's metadata: the bytes and their
// metadata are of one file, whatever replaced the path since it opened.
func readOpenPartMeta(f *os.File) (store.PartMeta, error) {
	buf := make([]byte, 8<<10)
	n, err := fgetxattr(int(f.Fd()), partXattr, buf)
	return decodePartMeta(f.Name(), buf, n, err)
}

// decodePartMeta decodes what a read of a part's xattr gave.
func decodePartMeta(path string, buf []byte, n int, err error) (store.PartMeta, error) {
	var meta store.PartMeta
	if err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return meta, store.ErrNotFound
		}
		return meta, classify(err)
	}
	if _, err := meta.UnmarshalMsg(buf[:n]); err != nil {
		return meta, fmt.Errorf("%w: part metadata of %s: %w", store.ErrCorrupt, path, err)
	}
	return meta, nil
}

// OpenPart opens one part of an object.
func (s *Store) OpenPart(ctx context.Context, b store.Bucket, name string, index int) (io.ReadCloser, store.PartMeta, error) {
	if err := validBucketName(b, name); err != nil {
		return nil, store.PartMeta{}, err
	}
	b = b.Normalize()
	// The newest copy: an older one may sit on a mountpath that was away.
	var best *os.File
	var bestMeta store.PartMeta
	var failed error // a disk that could not tell
	for _, m := range s.readable() {
		path := m.partPath(b, name, index)
		f, err := os.Open(path)
		if err != nil {
			if !absentPath(err) {
				s.suspectAfter(m, err)
				failed = fmt.Errorf("part %d of %s/%s on %s: %w", index, b, name, m.path, classify(err))
			}
			continue
		}
		meta, err := readOpenPartMeta(f)
		if isDiskError(err) {
			s.suspectAfter(m, err)
			failed = fmt.Errorf("part %d of %s/%s on %s: its metadata: %w", index, b, name, m.path, classify(err))
		}
		if err != nil || meta.Name != name || meta.Index != index || best != nil && meta.Stamp.Compare(bestMeta.Stamp) <= 0 || s.stalePart(b, m, meta) {
			f.Close()
			continue
		}
		if best != nil {
			best.Close()
		}
		best, bestMeta = f, meta
	}
	if best == nil && failed != nil {
		return nil, store.PartMeta{}, failed
	}
	if best == nil {
		return nil, store.PartMeta{}, fmt.Errorf("part %d of %s/%s: %w", index, b, name, store.ErrNotFound)
	}
	return best, bestMeta, nil
}

// PartsOf describes the parts of an object kept here.
func (s *Store) PartsOf(ctx context.Context, b store.Bucket, name string) ([]store.PartMeta, error) {
	if err := validBucketName(b, name); err != nil {
		return nil, err
	}
	b = b.Normalize()
	key := partKey(name)
	var out []store.PartMeta
	for _, m := range s.readable() {
		dir := m.partDir(b, key)
		entries, err := os.ReadDir(dir)
		if err != nil && !absentPath(err) {
			// Not "no parts": a rebuild or a delete would go by fewer.
			s.suspectAfter(m, err)
			return nil, fmt.Errorf("parts of %s/%s on %s: %w", b, name, m.path, classify(err))
		}
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), key+".") {
				continue
			}
			meta, err := readPartMeta(filepath.Join(dir, e.Name()))
			if isDiskError(err) {
				// As a directory that cannot be read: not "no part".
				s.suspectAfter(m, err)
				return nil, fmt.Errorf("parts of %s/%s on %s: %w", b, name, m.path, classify(err))
			}
			if err != nil || meta.Name != name || s.stalePart(b, m, meta) {
				continue
			}
			// One per index, the newest.
			if i := slices.IndexFunc(out, func(p store.PartMeta) bool { return p.Index == meta.Index }); i < 0 {
				out = append(out, meta)
			} else if meta.Stamp.Compare(out[i].Stamp) > 0 {
				out[i] = meta
			}
		}
	}
	return out, nil
}

// DeleteParts removes an object's parts not newer than stamp.
func (s *Store) DeleteParts(ctx context.Context, b store.Bucket, name string, stamp store.Stamp) error {
	if err := validBucketName(b, name); err != nil {
		return err
	}
	b = b.Normalize()
	guarded, err := s.guardParts(b, name, stamp)
	if err != nil {
		return err
	}
	return s.removeParts(b, name, guarded, func(meta store.PartMeta) bool {
		return stamp.IsZero() || meta.Stamp.Compare(stamp) <= 0
	})
}

// DeleteWriteParts removes an object's parts of exactly stamp, one
// write's, and keeps the older versions' (see store.PartDeleter). No
// parts tombstone: it would hide the older versions' parts on a
// mountpath away. A disabled one that the name's placement would pick
// may hold a part of it (stored before it went): the delete fails then
// (ErrIO), for its caller to try again once the mountpath is back.
func (s *Store) DeleteWriteParts(ctx context.Context, b store.Bucket, name string, stamp store.Stamp) error {
	if err := validBucketName(b, name); err != nil {
		return err
	}
	if stamp.IsZero() {
		return fmt.Errorf("%w: delete the parts of %s/%s of one write: no stamp", store.ErrInvalidPart, b, name)
	}
	if err := s.removeParts(b.Normalize(), name, nil, func(meta store.PartMeta) bool { return meta.Stamp == stamp }); err != nil {
		return err
	}
	if path := s.disabledPlacing(b.Normalize(), name); path != "" {
		return fmt.Errorf("%w: delete the parts of %s/%s of one write: disabled mountpath %s may hold one: try again once it is back", store.ErrIO, b, name, path)
	}
	return nil
}

// disabledPlacing returns a disabled mountpath that the name's placement
// would pick over the enabled ones (where its part went while it was
// in use), if any. By placement, not by when it went: a writer's clock
// is not this node's.
func (s *Store) disabledPlacing(b store.Bucket, name string) string {
	set := s.mountpathSet()
	if len(set.disabled) == 0 {
		return ""
	}
	item := hrw.Digest(uname(b, name))
	best := uint64(0)
	for _, m := range set.enabled {
		best = max(best, hrw.Score(m.digest, item))
	}
	for path := range set.disabled {
		if hrw.Score(hrw.Digest(path), item) > best {
			return path
		}
	}
	return ""
}

// removeParts removes the parts of an object that match (those whose
// metadata cannot be read too), then syncs their mountpaths and guarded.
func (s *Store) removeParts(b store.Bucket, name string, guarded []mountpath, match func(store.PartMeta) bool) error {
	lock := s.lockParts(b, name)
	lock.Lock()
	defer lock.Unlock()
	key := partKey(name)
	var removed []mountpath
	// The parts tombstone is durable before a part goes: the removal
	// could reach a disk first, and a crash then left an older part on a
	// mountpath away unhidden.
	tombstoneSynced := len(guarded) == 0
	for _, m := range s.readable() {
		dir := m.partDir(b, key)
		entries, err := os.ReadDir(dir)
		if err != nil && !absentPath(err) {
			// Not known gone: the delete would be taken as done, and the
			// parts restore the object once the disk answers.
			s.suspectAfter(m, err)
			s.syncMountpaths(append(removed, guarded...))
			return fmt.Errorf("delete parts of %s/%s on %s: %w", b, name, m.path, classify(err))
		}
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), key+".") {
				continue
			}
			path := filepath.Join(dir, e.Name())
			meta, err := readPartMeta(path)
			if err == nil && (meta.Name != name || !match(meta)) {
				continue
			}
			if !tombstoneSynced {
				if err := s.syncMountpaths(guarded); err != nil {
					return fmt.Errorf("delete parts of %s/%s: its tombstone: %w", b, name, err)
				}
				tombstoneSynced = true
			}
			if err := pathsafe.Remove(m.path, path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return classify(err)
			}
			if !slices.ContainsFunc(removed, func(x mountpath) bool { return x.path == m.path }) {
				removed = append(removed, m)
			}
		}
	}
	// A removal undone by a crash could restore what was deleted.
	return s.syncMountpaths(append(removed, guarded...))
}

// DeletePart removes one part of an object if it is of stamp (see
// store.PartDeleter).
func (s *Store) DeletePart(ctx context.Context, b store.Bucket, name string, index int, stamp store.Stamp) error {
	if err := validBucketName(b, name); err != nil {
		return err
	}
	if index < 0 || index >= store.MaxSlices {
		return fmt.Errorf("%w: part index %d", store.ErrInvalidPart, index)
	}
	b = b.Normalize()
	lock := s.lockParts(b, name)
	lock.Lock()
	defer lock.Unlock()
	var removed []mountpath
	var failed error // a disk that could not tell whether it holds the part
	for _, m := range s.inUse() {
		path := m.partPath(b, name, index)
		meta, err := readPartMeta(path)
		if isDiskError(err) {
			s.suspectAfter(m, err)
			failed = fmt.Errorf("part %d of %s/%s on %s: its metadata: %w", index, b, name, m.path, classify(err))
		}
		if err != nil || meta.Name != name || meta.Stamp != stamp {
			continue
		}
		if err := pathsafe.Remove(m.path, path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return classify(err)
		}
		removed = append(removed, m)
	}
	if len(removed) > 0 {
		if err := s.syncMountpaths(removed); err != nil {
			return err
		}
	}
	switch {
	case failed != nil:
		// Not "not found": the caller would take the part for gone.
		return failed
	case len(removed) == 0:
		return fmt.Errorf("%w: part %d of %s/%s of stamp %s", store.ErrNotFound, index, b, name, stamp)
	}
	return nil
}

// guardParts leaves a parts tombstone for a name whose parts go while a
// mountpath is away: that mountpath may hold a part of it, which its
// return removes by the tombstone (see partHidden); else the part would
// restore what was deleted once the owner's tombstone is collected. Not
// an object tombstone: the object may be newer (a failed overwrite's
// parts go), and a rebalance would carry that to its owner as a delete.
func (s *Store) guardParts(b store.Bucket, name string, stamp store.Stamp) ([]mountpath, error) {
	if err := s.unguardedBy(stamp); err != nil {
		return nil, err
	}
	if !s.guarding() || stamp.IsZero() {
		return nil, nil
	}
	lock := s.lockName(b, name)
	lock.Lock()
	defer lock.Unlock()
	// Made durable by removeParts before the first part goes (synced
	// once, not under this lock: EC writes of other names share it).
	return s.writeTombstone(b, store.Tombstone{Name: name, Stamp: stamp, Created: time.Now().UnixNano(), Parts: true}, false)
}

// validBucketName checks a bucket and an object name that become the
// paths of parts and tombstones (callers that look the bucket up check
// it anyway; these do not).
func validBucketName(b store.Bucket, name string) error {
	if err := b.Validate(); err != nil {
		return err
	}
	return store.ValidateName(name)
}

// stalePart reports a part on returning mountpath m that was deleted
// while m was away: until m is reconciled it is there, and read, it
// would restore what was deleted.
func (s *Store) stalePart(b store.Bucket, m mountpath, meta store.PartMeta) bool {
	if !s.isReturning(m) {
		return false
	}
	props, err := s.bucketProps(b)
	return s.partHidden(b, meta) || err == nil && otherBucket(m.bucketDir(b), props.Created)
}

// WalkParts calls fn for every part of a bucket kept here.
func (s *Store) WalkParts(ctx context.Context, b store.Bucket, fn func(store.PartMeta) error) error {
	return s.walkParts(ctx, b, func(path string, meta store.PartMeta, err error) error {
		if err != nil {
			s.logger.Warn("ignoring an unreadable part", "path", path, "err", err)
			return nil
		}
		return fn(meta)
	})
}

// walkParts is WalkParts that tells the part files whose metadata cannot
// be read too, with the error (not one deleted since it was listed).
func (s *Store) walkParts(ctx context.Context, b store.Bucket, fn func(path string, meta store.PartMeta, err error) error) error {
	if err := b.Validate(); err != nil {
		return err
	}
	b = b.Normalize()
	for _, m := range s.readable() {
		err := walkPartFiles(ctx, m.partsDir(b), func(path string, meta store.PartMeta, err error) error {
			if errors.Is(err, store.ErrNotFound) || err == nil && s.stalePart(b, m, meta) {
				return nil
			}
			return fn(path, meta, err)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// walkPartFiles calls fn for every part file under root with its
// metadata, or the error reading it; a missing root is empty.
func walkPartFiles(ctx context.Context, root string, fn func(path string, meta store.PartMeta, err error) error) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return ctx.Err()
		}
		meta, err := readPartMeta(path)
		return fn(path, meta, err)
	})
}

// absentPath reports whether an open or a directory read failed because
// the path is not there (a directory on it is a file: not there either).
func absentPath(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}
