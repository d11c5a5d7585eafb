package store

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Stamp orders the writes and deletes of one name cluster-wide, so that
// the latest acknowledged one wins whichever targets held the name. Map is
// the cluster map version the write was accepted under: a write made after
// a target left the map is newer than anything that target holds, whatever
// the clocks say. Clock (a hybrid logical clock of the writer, Unix
// nanoseconds) orders writes under one map version, which one owner
// accepts. The zero Stamp is older than every other: objects written before
// stamps existed.
type Stamp struct {
	Map   int64 `json:"map"`
	Clock int64 `json:"clock"`
}

// Compare returns -1, 0 or +1 as s is older than, the same as, or newer
// than o.
func (s Stamp) Compare(o Stamp) int {
	switch {
	case s.Map != o.Map:
		return cmpInt(s.Map, o.Map)
	default:
		return cmpInt(s.Clock, o.Clock)
	}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// IsZero reports whether the stamp is unset.
func (s Stamp) IsZero() bool { return s == Stamp{} }

func (s Stamp) String() string { return fmt.Sprintf("%d.%d", s.Map, s.Clock) }

// ParseStamp reads what String writes; "" is the zero stamp.
func ParseStamp(s string) (Stamp, error) {
	if s == "" {
		return Stamp{}, nil
	}
	m, c, ok := strings.Cut(s, ".")
	version, err1 := strconv.ParseInt(m, 10, 64)
	clock, err2 := strconv.ParseInt(c, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return Stamp{}, fmt.Errorf("stamp %q: want MAP.CLOCK", s)
	}
	return Stamp{Map: version, Clock: clock}, nil
}

// Tombstone remembers that a name was deleted at a stamp: a copy of an
// older write that arrives later (a rebalance, a target that comes back)
// is dropped instead of bringing the object back.
type Tombstone struct {
	Name  string `json:"name"`
	Stamp Stamp  `json:"stamp"`
	// Created is when the tombstone was written, Unix nanoseconds, for
	// garbage collection.
	Created int64 `json:"created"`
	// Parts marks a tombstone of parts deleted while a mountpath was away
	// (they must not come back with it), not of the object: the object
	// may be newer, or kept on another target, and must stay.
	Parts bool `json:"parts,omitempty"`
}

// DeleteOptions describe a delete.
type DeleteOptions struct {
	// Stamp, when set, is the delete's place in the name's history: an
	// object newer than it is kept (ErrExists), and a tombstone with the
	// stamp is left when Tombstone is set.
	Stamp Stamp
	// Tombstone leaves a tombstone with Stamp, even when no object was
	// there: another copy may still be on its way.
	Tombstone bool
	// IfStamp, when set, deletes only an object with exactly this stamp
	// (a rebalance removes the copy it sent, not a newer one written
	// since); another stamp is ErrExists.
	IfStamp Stamp
	// IfReadBefore, when set, deletes only an object last read before it
	// (an eviction keeps one read since it was listed); another is
	// ErrExists.
	IfReadBefore time.Time
	// KeepParts keeps the object's erasure-coded parts on other targets:
	// the object moved rather than went.
	KeepParts bool
	// LocalOnly removes this node's copy of a remote bucket's object and
	// leaves the remote's: a target that does not own the name removing
	// a copy it holds. An erasure-coded object's parts (its owner's)
	// stay too.
	LocalOnly bool
	// Precommit, when set, runs under the name's lock before anything is
	// removed (as PutOptions.Precommit): an error refuses the delete, and
	// release runs once the removal and its tombstone are durable.
	Precommit func() (release func(), err error)
	// WrittenThrough, with IfStamp, removes the remote's object too when
	// it is still the one this copy wrote through (the same ETag): the
	// output of an aborted job goes from both places, and an object
	// written to the remote since stays there.
	WrittenThrough bool
}
