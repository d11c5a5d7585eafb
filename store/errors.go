package store

import (
	"errors"
	"fmt"

	"github.com/aisgo/aisgo/internal/errkind"
)

// Sentinel errors. Implementations wrap them with the operation and name;
// callers test with errors.Is.
var (
	ErrNotFound = errors.New("store: object not found")
	// ErrNotCached: a remote bucket's object this node holds no copy of,
	// asked of CachedOpener (which fetches nothing).
	ErrNotCached      = errors.New("store: not cached on this node")
	ErrExists         = errors.New("store: object already exists")
	ErrBucketNotFound = errors.New("store: bucket does not exist")
	ErrBucketExists   = errors.New("store: bucket already exists")
	ErrInvalidName    = errors.New("store: invalid name")
	ErrInvalidProps   = errors.New("store: invalid bucket properties")
	// ErrUnsupported is what this node cannot do as it runs (a dry run's
	// write to a remote).
	ErrUnsupported = errors.New("store: not supported by this node")
	ErrConflict    = errors.New("store: name conflicts with an existing object")
	// ErrPreconditionFailed: a conditional Put (PutOptions.IfMatch,
	// IfNoneMatch) found the object other than it required.
	ErrPreconditionFailed = errors.New("store: precondition failed")
	ErrBadChecksum        = errors.New("store: checksum does not match the data sent")
	ErrCorrupt            = errors.New("store: stored data does not match its checksum")
	ErrNoSpace            = errors.New("store: no space left on device")
	ErrIO                 = errors.New("store: input/output error")
	ErrNoXattr            = errors.New("store: filesystem does not support extended attributes")
	ErrSizeMismatch       = errors.New("store: object size does not match the size announced")
	ErrUnknownChecksum    = errors.New("store: unknown checksum type")
	// ErrRemote: the remote store of a remote bucket did not answer or
	// failed; wrapped with the remote's own error.
	ErrRemote = errors.New("store: the remote store is unavailable")
	// ErrRemoteForbidden: the remote store refused access (its
	// credentials, or an origin this cluster does not fetch from):
	// asking again does not help, unlike ErrRemote.
	ErrRemoteForbidden = errors.New("store: the remote store refused access")
	// ErrBucketSealed: the bucket is being destroyed on the condition
	// that it is empty (Maintainer.SealBucket); a write may be retried.
	ErrBucketSealed = errors.New("store: the bucket is being destroyed")
	// ErrBucketNotEmpty: a destroy that wants an empty bucket found objects.
	ErrBucketNotEmpty = errors.New("store: the bucket is not empty")
	// ErrPlacementChanged: the cluster map changed while a write was
	// made (an erasure-coded object's parts sent): it may be sent again.
	ErrPlacementChanged = errors.New("store: the cluster map changed during the write")
	// ErrUnreached: an object's parts (erasure coding) could not all be
	// read to rebuild it, some of them being elsewhere or gone now: the
	// object is not known to be absent.
	ErrUnreached = errors.New("store: the object's parts could not all be read")
	// ErrBucketBehind: the cluster changed the bucket (destroyed it, made
	// it again) and this store failed to apply that: it holds what the
	// bucket was, which is neither served nor written to until it does.
	ErrBucketBehind = errors.New("store: the bucket's latest change is not applied here")
	// ErrInvalidToken: a remote bucket's store refused the continuation
	// token a listing resumed from (the caller's, not one it issued).
	ErrInvalidToken = errors.New("store: the remote store refused the listing's continuation token")
)

// Kinds name the store's error conditions where errors cross nodes as
// text (the API, a rebalance receipt); they are stable, and decode back
// to the same sentinels.
var Kinds = errkind.Table{
	{Name: "not-found", Err: ErrNotFound},
	// A refusal before ErrRemote, which may wrap it (a listing failed by
	// a refusal): the refusal is what holds, not a retry's chance.
	{Name: "remote-forbidden", Err: ErrRemoteForbidden},
	{Name: "remote-unavailable", Err: ErrRemote},
	{Name: "exists", Err: ErrExists},
	{Name: "bucket-not-found", Err: ErrBucketNotFound},
	{Name: "bucket-exists", Err: ErrBucketExists},
	{Name: "invalid-name", Err: ErrInvalidName},
	{Name: "invalid-props", Err: ErrInvalidProps},
	{Name: "conflict", Err: ErrConflict},
	{Name: "precondition-failed", Err: ErrPreconditionFailed},
	{Name: "bad-checksum", Err: ErrBadChecksum},
	{Name: "size-mismatch", Err: ErrSizeMismatch},
	{Name: "corrupt", Err: ErrCorrupt},
	{Name: "no-space", Err: ErrNoSpace},
	{Name: "io", Err: ErrIO},
	{Name: "unknown-checksum", Err: ErrUnknownChecksum},
	{Name: "bucket-sealed", Err: ErrBucketSealed},
	{Name: "bucket-not-empty", Err: ErrBucketNotEmpty},
	{Name: "placement-changed", Err: ErrPlacementChanged},
	{Name: "invalid-token", Err: ErrInvalidToken},
}

// ConditionalRemotePut refuses If-Match or If-None-Match on a write to a
// remote bucket (501, as what is not implemented): the remote is written
// first and is the truth, and a copy here cannot say whether a condition
// holds there.
func ConditionalRemotePut(b Bucket, name string) error {
	return fmt.Errorf("put %s/%s: %w: a conditional PUT to a remote bucket", b, name, ErrUnsupported)
}
