package sort

import "errors"

// Errors of partitioning.
var (
	// ErrTooFewNames: the output template runs out of names.
	ErrTooFewNames = errors.New("sort: not enough output shard names")
	// ErrKeyMap: a record matches no key-map entry, or several.
	ErrKeyMap = errors.New("sort: external key map")
)
