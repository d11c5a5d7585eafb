package dryrun

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aisgo/aisgo/internal/namelock"
	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/store"
)

// patternPeriod is the period of the bytes Open serves: byte(i % 251) at
// offset i, so that a misplaced range shows.
const patternPeriod = 251

// patternSize is the length of the in-memory pattern objects are served
// from: a multiple of the period, about 1 MiB, so that WriteTo hands the
// network large slices.
const patternSize = patternPeriod * 4096

// Store keeps buckets in the wrapped store and object metadata in memory.
type Store struct {
	store.Store
	pattern []byte
	// names holds a name from a write's conditions to its commit, as the
	// real store's lock does: its Precommit (an EC write's, which asks
	// this store, and sends to peers) runs under it, not under mu.
	names namelock.Locks

	mu struct {
		sync.Mutex
		// objects maps a bucket name to its objects' metadata by name.
		objects map[string]map[string]store.ObjectMeta
		// tombstones maps a bucket name to its tombstones by name.
		tombstones map[string]map[string]store.Tombstone
		// buckets caches the wrapped store's bucket metadata (nil until
		// read): asking it per request would copy it per request. A
		// change bumps generation, so a read from before it is not kept.
		buckets    *store.BucketMetadata
		generation uint64
	}
}

var _ store.Store = (*Store)(nil)

// Wrap returns a dry-run store whose buckets live in inner. Objects
// already in inner are not visible through it.
func Wrap(inner store.Store) *Store {
	s := &Store{Store: inner, pattern: make([]byte, patternSize)}
	for i := range s.pattern {
		s.pattern[i] = byte(i % patternPeriod)
	}
	s.mu.objects = map[string]map[string]store.ObjectMeta{}
	s.mu.tombstones = map[string]map[string]store.Tombstone{}
	return s
}

// bucketProps returns the props of an existing bucket.
func (s *Store) bucketProps(ctx context.Context, b store.Bucket) (store.Props, error) {
	if err := b.Validate(); err != nil {
		return store.Props{}, err
	}
	s.mu.Lock()
	md, generation := s.mu.buckets, s.mu.generation
	s.mu.Unlock()
	if md == nil {
		current, err := s.Store.Buckets(ctx)
		if err != nil {
			return store.Props{}, err
		}
		md = &current
		s.mu.Lock()
		if s.mu.generation == generation {
			s.mu.buckets = md
		}
		s.mu.Unlock()
	}
	props, ok := md.Props(b)
	if !ok {
		return store.Props{}, fmt.Errorf("bucket %s: %w", b, store.ErrBucketNotFound)
	}
	return props, nil
}

// Put reads the whole object and keeps only its metadata.
func (s *Store) Put(ctx context.Context, b store.Bucket, name string, r io.Reader, opts store.PutOptions) (store.ObjectMeta, error) {
	if err := store.ValidateName(name); err != nil {
		return store.ObjectMeta{}, err
	}
	props, err := s.bucketProps(ctx, b)
	if err != nil {
		return store.ObjectMeta{}, err
	}
	var etag hash.Hash
	if opts.ETag {
		etag = md5.New()
		r = io.TeeReader(r, etag)
	}
	n, err := discard(ctx, r)
	if err != nil {
		return store.ObjectMeta{}, fmt.Errorf("put %s/%s: %w", b, name, err)
	}
	if opts.Size >= 0 && n != opts.Size {
		return store.ObjectMeta{}, fmt.Errorf("put %s/%s: %w: received %d bytes, announced %d", b, name, store.ErrSizeMismatch, n, opts.Size)
	}
	// A copy of Custom: the caller may reuse its map.
	meta := store.ObjectMeta{Name: name, Size: n, Atime: time.Now(), Custom: maps.Clone(opts.Custom), Stamp: opts.Stamp}
	if etag != nil {
		if meta.Custom == nil {
			meta.Custom = map[string]string{}
		}
		meta.Custom[store.CustomETag] = hex.EncodeToString(etag.Sum(nil))
	}
	unlock := s.names.Lock(b.Name + "/" + name)
	defer unlock()
	s.mu.Lock()
	old, exists := s.mu.objects[b.Name][name]
	tomb, deleted := s.mu.tombstones[b.Name][name]
	s.mu.Unlock()
	if err := store.CheckPutConditions(opts, name, exists, old); err != nil {
		return store.ObjectMeta{}, fmt.Errorf("put %s/%s: %w", b, name, err)
	}
	if opts.IfNewer && (exists && old.Stamp.Compare(opts.Stamp) >= 0 || deleted && tomb.Stamp.Compare(opts.Stamp) >= 0) {
		return store.ObjectMeta{}, fmt.Errorf("put %s/%s: %w", b, name, store.ErrExists)
	}
	if opts.Precommit != nil {
		release, stamp, err := opts.Precommit()
		if err != nil {
			return store.ObjectMeta{}, err
		}
		defer release()
		if meta.Stamp.IsZero() {
			meta.Stamp = stamp
		}
	}
	if meta.Stamp.IsZero() {
		meta.Stamp = store.Stamp{Clock: meta.Atime.UnixNano()}
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
	// The bucket again: one destroyed (and made again) while the body
	// came, or the commit waited, takes no object written to the one
	// before. A change of buckets between the look and the insert (its
	// generation) is looked at again.
	for {
		s.mu.Lock()
		generation := s.mu.generation
		s.mu.Unlock()
		now, err := s.bucketProps(ctx, b)
		if errors.Is(err, store.ErrBucketNotFound) || err == nil && now.Created != props.Created {
			return store.ObjectMeta{}, fmt.Errorf("put %s/%s: %w: the bucket was destroyed while the object was written", b, name, store.ErrBucketNotFound)
		}
		if err != nil {
			return store.ObjectMeta{}, err
		}
		s.mu.Lock()
		if s.mu.generation == generation {
			break // (s.mu held)
		}
		s.mu.Unlock()
	}
	defer s.mu.Unlock()
	objects := s.mu.objects[b.Name]
	if objects == nil {
		objects = map[string]store.ObjectMeta{}
		s.mu.objects[b.Name] = objects
	}
	objects[name] = meta
	return meta, nil
}

// discard reads r to the end into a pooled buffer and returns how many
// bytes it read.
func discard(ctx context.Context, r io.Reader) (int64, error) {
	buf := pool.Get(pool.CopyBufferSize)
	defer pool.Put(buf)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k, err := r.Read(buf)
		n += int64(k)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func (s *Store) lookup(ctx context.Context, b store.Bucket, name string) (store.ObjectMeta, error) {
	if err := store.ValidateName(name); err != nil {
		return store.ObjectMeta{}, err
	}
	if _, err := s.bucketProps(ctx, b); err != nil {
		return store.ObjectMeta{}, err
	}
	s.mu.Lock()
	meta, ok := s.mu.objects[b.Name][name]
	s.mu.Unlock()
	if !ok {
		return store.ObjectMeta{}, fmt.Errorf("%s/%s: %w", b, name, store.ErrNotFound)
	}
	// A copy of Custom, so that a reader changing it changes no object.
	meta.Custom = maps.Clone(meta.Custom)
	return meta, nil
}

// Head returns the metadata kept by Put.
func (s *Store) Head(ctx context.Context, b store.Bucket, name string) (store.ObjectMeta, error) {
	return s.lookup(ctx, b, name)
}

// Open returns an object of the size Put read, served from memory.
func (s *Store) Open(ctx context.Context, b store.Bucket, name string, opts store.OpenOptions) (store.Object, error) {
	meta, err := s.lookup(ctx, b, name)
	if err != nil {
		return nil, err
	}
	return &object{meta: meta, pattern: s.pattern}, nil
}

// Delete forgets an object, as store.DeleteOptions say.
func (s *Store) Delete(ctx context.Context, b store.Bucket, name string, opts store.DeleteOptions) error {
	if err := store.ValidateName(name); err != nil {
		return err
	}
	if _, err := s.bucketProps(ctx, b); err != nil {
		return err
	}
	unlock := s.names.Lock(b.Name + "/" + name)
	defer unlock()
	// The Precommit first, as the real store's (a placement changed is
	// the answer before the object's conditions).
	if opts.Precommit != nil {
		release, err := opts.Precommit()
		if err != nil {
			return err
		}
		defer release()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	meta, ok := s.mu.objects[b.Name][name]
	// (Reads are not kept: IfReadBefore is of the object's write.)
	if ok && !opts.IfStamp.IsZero() && meta.Stamp != opts.IfStamp || ok && !opts.Stamp.IsZero() && meta.Stamp.Compare(opts.Stamp) > 0 ||
		ok && !opts.IfReadBefore.IsZero() && !meta.Atime.Before(opts.IfReadBefore) {
		return fmt.Errorf("delete %s/%s: %w", b, name, store.ErrExists)
	}
	delete(s.mu.objects[b.Name], name)
	if opts.Tombstone && !opts.Stamp.IsZero() {
		tombs := s.mu.tombstones[b.Name]
		if tombs == nil {
			tombs = map[string]store.Tombstone{}
			s.mu.tombstones[b.Name] = tombs
		}
		if old, had := tombs[name]; !had || old.Stamp.Compare(opts.Stamp) < 0 {
			tombs[name] = store.Tombstone{Name: name, Stamp: opts.Stamp, Created: time.Now().UnixNano()}
		}
	}
	if !ok {
		return fmt.Errorf("delete %s/%s: %w", b, name, store.ErrNotFound)
	}
	return nil
}

// Tombstones lists the tombstones Delete left.
func (s *Store) Tombstones(ctx context.Context, b store.Bucket) ([]store.Tombstone, error) {
	if _, err := s.bucketProps(ctx, b); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.Tombstone, 0, len(s.mu.tombstones[b.Name]))
	for _, t := range s.mu.tombstones[b.Name] {
		out = append(out, t)
	}
	return out, nil
}

// WalkTombstones calls fn with each tombstone Delete left, from a copy
// of the list (fn may drop them).
func (s *Store) WalkTombstones(ctx context.Context, b store.Bucket, fn func(store.Tombstone) error) error {
	tombs, err := s.Tombstones(ctx, b)
	if err != nil {
		return err
	}
	for _, t := range tombs {
		if err := fn(t); err != nil {
			return err
		}
	}
	return nil
}

// DropTombstone forgets a tombstone not newer than stamp.
func (s *Store) DropTombstone(ctx context.Context, b store.Bucket, name string, stamp store.Stamp) error {
	if err := store.ValidateName(name); err != nil {
		return err
	}
	if _, err := s.bucketProps(ctx, b); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.mu.tombstones[b.Name][name]; ok && t.Stamp.Compare(stamp) <= 0 {
		delete(s.mu.tombstones[b.Name], name)
	}
	return nil
}

// List returns the objects Put kept, in byte order of their names.
func (s *Store) List(ctx context.Context, b store.Bucket, opts store.ListOptions) ([]store.ObjectMeta, error) {
	if _, err := s.bucketProps(ctx, b); err != nil {
		return nil, err
	}
	s.mu.Lock()
	var out []store.ObjectMeta
	for name, meta := range s.mu.objects[b.Name] {
		if strings.HasPrefix(name, opts.Prefix) && name > opts.StartAfter {
			out = append(out, meta)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(x, y store.ObjectMeta) int { return strings.Compare(x.Name, y.Name) })
	if opts.Limit > 0 && len(out) > opts.Limit {
		out = out[:opts.Limit]
	}
	for i := range out {
		if !opts.WithMeta {
			out[i] = store.ObjectMeta{Name: out[i].Name, Size: out[i].Size}
		}
		out[i].Custom = maps.Clone(out[i].Custom) // as in lookup
	}
	return out, nil
}

// CreateBucket creates the bucket in the wrapped store.
func (s *Store) CreateBucket(ctx context.Context, b store.Bucket, props store.Props) error {
	defer s.forgetBuckets()
	return s.Store.CreateBucket(ctx, b, props)
}

// SetBucketProps sets the bucket's props in the wrapped store.
func (s *Store) SetBucketProps(ctx context.Context, b store.Bucket, props store.Props) error {
	defer s.forgetBuckets()
	return s.Store.SetBucketProps(ctx, b, props)
}

// forgetBuckets drops the cached bucket metadata after a change.
func (s *Store) forgetBuckets() {
	s.mu.Lock()
	s.mu.buckets = nil
	s.mu.generation++
	s.mu.Unlock()
}

// DestroyBucket destroys the bucket in the wrapped store and forgets its
// objects.
func (s *Store) DestroyBucket(ctx context.Context, b store.Bucket) error {
	defer s.forgetBuckets()
	if err := s.Store.DestroyBucket(ctx, b); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.mu.objects, b.Name)
	delete(s.mu.tombstones, b.Name)
	// With the objects gone, not after: a put between would see the
	// bucket cached and add to it (see Put).
	s.mu.buckets = nil
	s.mu.generation++
	return nil
}

// SyncBuckets adopts md in the wrapped store and forgets the objects of
// buckets it no longer has.
func (s *Store) SyncBuckets(ctx context.Context, md store.BucketMetadata) error {
	if err := s.Store.SyncBuckets(ctx, md); err != nil {
		return err
	}
	current, err := s.Store.Buckets(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.buckets = &current
	s.mu.generation++
	for name := range s.mu.objects {
		if _, ok := current.Props(store.NewBucket(name)); !ok {
			delete(s.mu.objects, name)
			delete(s.mu.tombstones, name)
		}
	}
	return nil
}

// object serves meta.Size bytes of the pattern.
type object struct {
	meta    store.ObjectMeta
	pattern []byte
	offset  int64
}

var _ store.Object = (*object)(nil)

func (o *object) Meta() store.ObjectMeta { return o.meta }
func (o *object) Close() error           { return nil }

// chunk returns the pattern bytes from offset off, at most up to the end
// of the object.
func (o *object) chunk(off int64) []byte {
	start := off % int64(len(o.pattern))
	end := min(int64(len(o.pattern)), start+o.meta.Size-off)
	return o.pattern[start:end]
}

func (o *object) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read at %d: negative offset", off)
	}
	n := 0
	for n < len(p) && off < o.meta.Size {
		k := copy(p[n:], o.chunk(off))
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (o *object) Read(p []byte) (int, error) {
	if o.offset >= o.meta.Size {
		return 0, io.EOF
	}
	n, err := o.ReadAt(p, o.offset)
	o.offset += int64(n)
	if errors.Is(err, io.EOF) && n > 0 {
		err = nil
	}
	return n, err
}

func (o *object) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += o.offset
	case io.SeekEnd:
		offset += o.meta.Size
	case io.SeekStart:
	default:
		return o.offset, fmt.Errorf("seek: invalid whence %d", whence)
	}
	if offset < 0 {
		return o.offset, fmt.Errorf("seek to %d: negative position", offset)
	}
	o.offset = offset
	return offset, nil
}

// WriteTo writes the rest of the object in slices of the pattern, with no
// copy.
func (o *object) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for o.offset < o.meta.Size {
		k, err := w.Write(o.chunk(o.offset))
		n += int64(k)
		o.offset += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// DeletePart passes to the store beneath (parts are stored there, not
// discarded): see store.PartDeleter.
func (s *Store) DeletePart(ctx context.Context, b store.Bucket, name string, index int, stamp store.Stamp) error {
	deleter, ok := s.Store.(store.PartDeleter)
	if !ok {
		return fmt.Errorf("delete part %d of %s/%s: the store beneath cannot delete one part: %w", index, b, name, errors.ErrUnsupported)
	}
	return deleter.DeletePart(ctx, b, name, index, stamp)
}

// DeleteWriteParts passes to the store beneath: see store.PartDeleter.
func (s *Store) DeleteWriteParts(ctx context.Context, b store.Bucket, name string, stamp store.Stamp) error {
	deleter, ok := s.Store.(store.PartDeleter)
	if !ok {
		return fmt.Errorf("delete the parts of one write of %s/%s: the store beneath cannot: %w", b, name, errors.ErrUnsupported)
	}
	return deleter.DeleteWriteParts(ctx, b, name, stamp)
}
