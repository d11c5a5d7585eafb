package store

import (
	"context"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/aisgo/aisgo/internal/pathsafe"
)

// MaxNameLength is the longest object name accepted, in bytes.
const MaxNameLength = pathsafe.MaxNameLength

// ObjectMeta is the metadata kept beside an object's data.
type ObjectMeta struct {
	Name     string            `json:"name"`
	Size     int64             `json:"size"`
	Checksum Checksum          `json:"checksum"`
	Version  string            `json:"version,omitempty"`
	Atime    time.Time         `json:"atime"`
	Custom   map[string]string `json:"custom-md,omitempty"`
	// Stamp orders this write against others of the name (see Stamp).
	Stamp Stamp `json:"stamp"`
}

// ValidateName checks an object name: non-empty UTF-8 of at most 1024
// bytes, '/'-separated segments that are neither empty, ".", nor "..", no
// leading '/', and no NUL. The error says what is wrong.
func ValidateName(name string) error {
	if err := pathsafe.Name(name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidName, err)
	}
	return nil
}

// Object is an open object: its data and its metadata.
type Object interface {
	io.ReadSeekCloser
	io.ReaderAt
	// WriterTo lets a copy to a network connection use sendfile.
	io.WriterTo
	Meta() ObjectMeta
}

// SelfWriting is a body that writes itself into a destination: a store
// copies it with WriteTo, with no buffer between the two (dSort builds a
// shard straight into the object's file). It checks its own context.
type SelfWriting interface {
	io.Reader
	io.WriterTo
	WritesItself()
}

// PutOptions describe an incoming object.
type PutOptions struct {
	// Size is the announced size, or -1 when unknown. A known size that
	// differs from the bytes read fails the Put with ErrSizeMismatch.
	Size int64
	// Checksum, when set, is what the sender computed; a mismatch fails
	// the Put with ErrBadChecksum and stores nothing.
	Checksum Checksum
	// Custom metadata to keep with the object.
	Custom map[string]string
	// ETag asks for the MD5 of the bytes, kept in Custom[CustomETag] as
	// hex: what S3 clients expect as the ETag of a PUT.
	ETag bool
	// NoSync stores a copy whose loss costs nothing but a fetch (a remote
	// object's cached copy): it is not made durable before Put returns.
	NoSync bool
	// Direct writes the data past the page cache (O_DIRECT, where the file
	// system takes it): for a large object written once and not read
	// soon, such as a dSort output shard, it saves most of the CPU a
	// buffered write costs. A store without page cache ignores it.
	Direct bool
	// Version, when set, is kept as the object's version instead of the
	// next one: a copy moved between nodes keeps its version.
	Version string
	// Stamp, when set, is kept as the object's stamp: a copy moved
	// between nodes keeps its place in the name's history.
	Stamp Stamp
	// Atime, when set, is kept as the object's access time: a copy moved
	// between nodes is not "just read" (LRU orders by it).
	Atime time.Time
	// IfNewer stores the object only if Stamp is newer than the object
	// and the tombstone the name has; otherwise the Put fails with
	// ErrExists and changes nothing.
	IfNewer bool
	// IfNotOlder is IfNewer that also takes a copy of the same stamp (a
	// restore over a corrupt copy of its own version): the Put fails with
	// ErrExists only when the name holds a newer object or a tombstone at
	// or after Stamp.
	IfNotOlder bool
	// IfMatch and IfNoneMatch are HTTP's conditions, each "*" or an ETag
	// (see ETagOf): IfMatch stores the object only if the name has one
	// (with that ETag), IfNoneMatch only if it has none (none with that
	// ETag). Checked under the name's lock, so that of concurrent
	// conditional Puts at most one wins; otherwise the Put fails with
	// ErrPreconditionFailed (ErrNotFound for IfMatch on a missing
	// object, as S3 answers) and stores nothing.
	IfMatch     string
	IfNoneMatch string
	// Precommit, when set, is called under the name's lock once the data
	// is durable, just before the object becomes visible. An error stores
	// nothing; release is called once the object is visible (or the Put
	// failed). A non-zero stamp it returns becomes the object's, unless
	// Stamp is set.
	Precommit func() (release func(), stamp Stamp, err error)
	// Stage, when set, is called with the object's bytes once they are
	// durable, before the object becomes visible (and before Precommit),
	// outside the store's locks (the caller orders its writes of a name):
	// an error stores nothing. A write-through sends them to the remote
	// there, so a copy is read here only once the remote has it; the
	// custom metadata it returns (what the remote said of the object) is
	// added to the object's. A store that keeps no bytes (a dry run) does
	// not call it.
	Stage func(data io.ReaderAt, size int64) (map[string]string, error)
}

// MergedCustom is a new map of base's custom metadata with more's keys
// set over it (base, which may be a caller's, is not changed).
func MergedCustom(base, more map[string]string) map[string]string {
	merged := make(map[string]string, len(base)+len(more))
	maps.Copy(merged, base)
	maps.Copy(merged, more)
	return merged
}

// CustomETag is the custom metadata key of an object's S3 ETag.
const CustomETag = "s3.etag"

// CustomUserPrefix starts the custom metadata keys of S3's user metadata
// (x-amz-meta-*): the first to go when custom metadata must be cut.
const CustomUserPrefix = "s3.meta."

// The custom metadata keys under which a remote bucket's object keeps the
// remote's ETag and Last-Modified (nanoseconds since the epoch): its own,
// cached or not (see store/remote).
const (
	CustomRemoteETag     = "remote.etag"
	CustomRemoteModified = "remote.modified"
)

// OpenOptions describe a read.
type OpenOptions struct {
	// Validate recomputes the checksum before any byte is returned.
	Validate bool
	// Latest makes a remote bucket's store check that a cached object is
	// the remote's current version, as versioning.validate_warm_get does
	// for every read (AIStore's latest-ver); other stores ignore it.
	Latest bool
	// Internal marks the node's own read (a rebalance moving the object,
	// an EC encode, a scrub): not a use, its access time stays, so LRU
	// still sees what clients read.
	Internal bool
}

// ListOptions select a page of a bucket's objects in name order.
type ListOptions struct {
	Prefix     string
	StartAfter string // exclusive
	// Limit is the most entries returned; 0 means no limit.
	Limit int
	// WithMeta fills in checksum, version and atime (size is always set).
	WithMeta bool
}

// Store is the contract of a local object store.
type Store interface {
	CreateBucket(ctx context.Context, b Bucket, props Props) error
	DestroyBucket(ctx context.Context, b Bucket) error
	SetBucketProps(ctx context.Context, b Bucket, props Props) error
	// Buckets returns the current, versioned bucket metadata.
	Buckets(ctx context.Context) (BucketMetadata, error)
	// SyncBuckets adopts md if it is newer than what the store has:
	// creating, destroying and updating buckets to match it.
	SyncBuckets(ctx context.Context, md BucketMetadata) error

	Put(ctx context.Context, b Bucket, name string, r io.Reader, opts PutOptions) (ObjectMeta, error)
	Open(ctx context.Context, b Bucket, name string, opts OpenOptions) (Object, error)
	Head(ctx context.Context, b Bucket, name string) (ObjectMeta, error)
	// Delete removes an object (see DeleteOptions). ErrNotFound when there
	// was none, also when a tombstone was left.
	Delete(ctx context.Context, b Bucket, name string, opts DeleteOptions) error
	// Tombstones lists a bucket's tombstones, in no order.
	Tombstones(ctx context.Context, b Bucket) ([]Tombstone, error)
	// WalkTombstones calls fn with each of a bucket's tombstones, in no
	// order, holding no more than a chunk of them at once; fn's error
	// ends the walk.
	WalkTombstones(ctx context.Context, b Bucket, fn func(Tombstone) error) error
	// DropTombstone removes a name's tombstone if it is not newer than
	// stamp.
	DropTombstone(ctx context.Context, b Bucket, name string, stamp Stamp) error
	// List returns up to opts.Limit objects after opts.StartAfter, in
	// byte order of their names.
	List(ctx context.Context, b Bucket, opts ListOptions) ([]ObjectMeta, error)
	// Capacity reports used and total bytes per mountpath.
	Capacity(ctx context.Context) ([]MountpathCapacity, error)

	// Parts are the erasure-coded slices and replicas this node keeps of
	// objects other nodes own (see PartMeta).
	//
	// PutPart stores a part; the stored one of the same index is replaced
	// unless it is newer (ErrExists). A part whose bytes do not match
	// meta.PartChecksum is refused with ErrBadChecksum.
	PutPart(ctx context.Context, meta PartMeta, r io.Reader) error
	// OpenPart opens one part of an object (ErrNotFound when none).
	OpenPart(ctx context.Context, b Bucket, name string, index int) (io.ReadCloser, PartMeta, error)
	// PartsOf describes the parts of an object kept here.
	PartsOf(ctx context.Context, b Bucket, name string) ([]PartMeta, error)
	// DeleteParts removes an object's parts that are not newer than
	// stamp; a zero stamp removes them all.
	DeleteParts(ctx context.Context, b Bucket, name string, stamp Stamp) error
	// WalkParts calls fn for every part of a bucket kept here, in no
	// particular order; an error from fn stops the walk.
	WalkParts(ctx context.Context, b Bucket, fn func(PartMeta) error) error
}

// CachedOpener is a Store that opens what this node holds of an object,
// fetching nothing from a remote bucket's backend (ErrNotCached when it
// holds no copy): a look at the data that must not download it.
type CachedOpener interface {
	OpenCached(ctx context.Context, b Bucket, name string) (Object, error)
}

// LatestHeader is a Store that describes a remote bucket's object as the
// remote has it now: the copy here when it is that version, the remote's
// otherwise (not cached: Atime zero); ErrNotFound when the remote no
// longer has it. A look that fetches nothing and drops nothing.
type LatestHeader interface {
	HeadLatest(ctx context.Context, b Bucket, name string) (ObjectMeta, error)
}

// PropsReader is a Store that reads one bucket's props without copying
// the whole metadata (up to 50,000 buckets) as Buckets does.
type PropsReader interface {
	// BucketProps returns b's props, or ErrBucketNotFound.
	BucketProps(ctx context.Context, b Bucket) (Props, error)
}

// PropsOf returns b's props from st, through PropsReader when st is one;
// ErrBucketNotFound when it has no such bucket.
func PropsOf(ctx context.Context, st Store, b Bucket) (Props, error) {
	if r, ok := st.(PropsReader); ok {
		return r.BucketProps(ctx, b)
	}
	md, err := st.Buckets(ctx)
	if err != nil {
		return Props{}, err
	}
	props, ok := md.Props(b)
	if !ok {
		return Props{}, fmt.Errorf("bucket %s: %w", b, ErrBucketNotFound)
	}
	return props, nil
}

// PartDeleter is a Store that removes parts of exactly one stamp.
type PartDeleter interface {
	// DeletePart removes one part of an object, only if it is of stamp
	// (ErrNotFound otherwise): a part kept on a target that no longer
	// holds its index, once its holder keeps it.
	DeletePart(ctx context.Context, b Bucket, name string, index int, stamp Stamp) error
	// DeleteWriteParts removes an object's parts of stamp, any index:
	// those of a write that failed, while the versions' before it, which
	// it may not have replaced everywhere, stay to restore the object.
	DeleteWriteParts(ctx context.Context, b Bucket, name string, stamp Stamp) error
}

// MountpathCapacity is the space of one mountpath.
type MountpathCapacity struct {
	Path  string `json:"path"`
	Used  int64  `json:"used"`
	Total int64  `json:"total"`
	// Filesystem tells mountpaths on one filesystem (whose Used and
	// Total are the same bytes); empty when not known.
	Filesystem string `json:"filesystem,omitempty"`
	// NoWrites tells a mountpath new objects do not go to (detaching,
	// returning): its fill refuses no write.
	NoWrites bool `json:"no_writes,omitempty"`
}

// ETagOf is an object's entity tag: the MD5 kept when the object was put
// with PutOptions.ETag, else the remote's (a remote bucket's object, the
// same before, while and after it is cached), else its checksum, else (a
// bucket with checksums off) its write's stamp, so that every stored
// object has one and a condition on it holds only for that write.
func ETagOf(meta ObjectMeta) string {
	if etag := meta.Custom[CustomETag]; etag != "" {
		return etag
	}
	if etag := meta.Custom[CustomRemoteETag]; strongTag(etag) {
		return etag
	}
	if meta.Checksum.Value != "" || meta.Stamp == (Stamp{}) {
		return meta.Checksum.Value
	}
	return fmt.Sprintf("%x%016x", meta.Stamp.Map, meta.Stamp.Clock)
}

// strongTag reports whether a remote's ETag serves as one of ours: not
// empty, not weak (an HTTP origin's W/"..."), nothing to quote, no comma
// (a condition's list splits on it).
func strongTag(etag string) bool {
	return etag != "" && !strings.HasPrefix(etag, "W/") && !strings.ContainsAny(etag, "\"\\ ,")
}

// ModifiedOf is when an object was last written, as far as its metadata
// tells: the remote's Last-Modified for a remote bucket's object, else
// its stamp's clock, else its access time.
func ModifiedOf(meta ObjectMeta) time.Time {
	if nanos, err := strconv.ParseInt(meta.Custom[CustomRemoteModified], 10, 64); err == nil && nanos > 0 {
		return time.Unix(0, nanos).UTC()
	}
	if meta.Stamp.Clock > 0 {
		return time.Unix(0, meta.Stamp.Clock).UTC()
	}
	return meta.Atime.UTC()
}

// CheckPutConditions checks the conditions of a Put against what the
// name holds now (old, when exists).
func CheckPutConditions(opts PutOptions, name string, exists bool, old ObjectMeta) error {
	switch {
	case opts.IfNoneMatch == "*" && exists:
		return fmt.Errorf("%w: %s exists (If-None-Match)", ErrPreconditionFailed, name)
	case opts.IfNoneMatch != "" && exists && ETagOf(old) == opts.IfNoneMatch:
		return fmt.Errorf("%w: %s has ETag %q (If-None-Match)", ErrPreconditionFailed, name, opts.IfNoneMatch)
	case opts.IfMatch != "" && !exists:
		return fmt.Errorf("%w: %s (If-Match)", ErrNotFound, name)
	case opts.IfMatch != "" && opts.IfMatch != "*" && ETagOf(old) != opts.IfMatch:
		return fmt.Errorf("%w: %s has ETag %q, not %q (If-Match)", ErrPreconditionFailed, name, ETagOf(old), opts.IfMatch)
	}
	return nil
}
