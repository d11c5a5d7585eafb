package store

import "errors"

// Sentinel errors. Implementations wrap them with the operation and name;
// callers test with errors.Is.
var (
	ErrNotFound        = errors.New("store: object not found")
	ErrExists          = errors.New("store: object already exists")
	ErrBucketNotFound  = errors.New("store: bucket does not exist")
	ErrBucketExists    = errors.New("store: bucket already exists")
	ErrInvalidName     = errors.New("store: invalid name")
	ErrInvalidProps    = errors.New("store: invalid bucket properties")
	ErrConflict        = errors.New("store: name conflicts with an existing object")
	ErrBadChecksum     = errors.New("store: checksum does not match the data sent")
	ErrCorrupt         = errors.New("store: stored data does not match its checksum")
	ErrNoSpace         = errors.New("store: no space left on device")
	ErrIO              = errors.New("store: input/output error")
	ErrNoXattr         = errors.New("store: filesystem does not support extended attributes")
	ErrSizeMismatch    = errors.New("store: object size does not match the size announced")
	ErrUnknownChecksum = errors.New("store: unknown checksum type")
)

// Kinds name the store's error conditions where errors cross nodes as
// text (the API, a rebalance receipt); they are stable, and decode back
// to the same sentinels.
var Kinds = []struct {
	Kind string
	Err  error
}{
	{"not-found", ErrNotFound},
	{"exists", ErrExists},
	{"bucket-not-found", ErrBucketNotFound},
	{"bucket-exists", ErrBucketExists},
	{"invalid-name", ErrInvalidName},
	{"invalid-props", ErrInvalidProps},
	{"conflict", ErrConflict},
	{"bad-checksum", ErrBadChecksum},
	{"size-mismatch", ErrSizeMismatch},
	{"corrupt", ErrCorrupt},
	{"no-space", ErrNoSpace},
	{"io", ErrIO},
	{"unknown-checksum", ErrUnknownChecksum},
}

// KindOf returns the kind of a store error, or "" for another error.
func KindOf(err error) string {
	for _, k := range Kinds {
		if errors.Is(err, k.Err) {
			return k.Kind
		}
	}
	return ""
}

// ErrOfKind returns the sentinel of a kind, or nil.
func ErrOfKind(kind string) error {
	for _, k := range Kinds {
		if k.Kind == kind {
			return k.Err
		}
	}
	return nil
}
