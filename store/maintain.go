package store

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// ErrMountpath marks a mountpath operation that cannot be done as asked
// (an unknown path, the last mountpath, one that fails its check).
var ErrMountpath = errors.New("store: mountpath")

// MountpathStatus is a mountpath's state: enabled, detaching (its objects
// moving away), disabled (with the reason) or returning (back, its copies
// not yet reconciled).
type MountpathStatus struct {
	Path   string    `json:"path"`
	State  string    `json:"state"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since,omitzero"`
}

// Progress counts what a job over a store's objects has done; the job's
// owner reads it while it runs.
type Progress struct {
	Objects atomic.Int64
	Bytes   atomic.Int64
	// Total is the objects a job expects to do, when it knows (0: not
	// known), for its progress while it runs.
	Total atomic.Int64
	// Live, when set, is the job's result so far (what it reports at its
	// end, e.g. a download's failures), shown while it runs.
	Live atomic.Pointer[[]byte]
}

// Add counts one object of n bytes; a nil Progress counts nothing.
func (p *Progress) Add(n int64) {
	if p != nil {
		p.Objects.Add(1)
		p.Bytes.Add(n)
	}
}

// ScrubOptions tune a scrub.
type ScrubOptions struct {
	// Repair rewrites bad copies from good ones, makes missing copies
	// and moves misplaced objects; without it the scrub only counts.
	Repair bool
	// Restore, when set, rebuilds an object whose every local copy is
	// bad or missing (from erasure-coded parts on other targets).
	Restore func(ctx context.Context, b Bucket, name string) error
	// Owned, when set, tells whether this node should hold an object; the
	// others are counted misplaced.
	Owned func(b Bucket, name string) bool
	// PartRemoved, when set, is told of each erasure-coded part a repair
	// removed (its object's owner stores it again).
	PartRemoved func(b Bucket, name string)
}

// ScrubReport counts what a scrub found. Repaired objects are also
// counted in what was wrong with them.
type ScrubReport struct {
	Objects       int64 `json:"objects"`
	OK            int64 `json:"ok"`
	Corrupt       int64 `json:"corrupt"`
	Repaired      int64 `json:"repaired"`
	Unrecoverable int64 `json:"unrecoverable"`
	MissingCopies int64 `json:"missing_copies"`
	Misplaced     int64 `json:"misplaced"`
	Parts         int64 `json:"parts"`
	BadParts      int64 `json:"bad_parts"`
	// Skipped objects could not be checked this time (too many open
	// files, say): not OK, not bad; the next scrub checks them.
	Skipped int64 `json:"skipped,omitempty"`
	// Repair: the scrub was asked to repair what it found (a report read
	// later, of a job, says what the found counts mean).
	Repair bool `json:"repair,omitempty"`
}

// Add sums reports.
func (r *ScrubReport) Add(o ScrubReport) {
	r.Objects += o.Objects
	r.OK += o.OK
	r.Corrupt += o.Corrupt
	r.Repaired += o.Repaired
	r.Unrecoverable += o.Unrecoverable
	r.MissingCopies += o.MissingCopies
	r.Misplaced += o.Misplaced
	r.Parts += o.Parts
	r.BadParts += o.BadParts
	r.Skipped += o.Skipped
	r.Repair = r.Repair || o.Repair
}

// Maintainer is what a node asks of its local storage beyond objects:
// its mountpaths, and the jobs that keep every object where and how many
// times its bucket wants it. store/fs implements it.
type Maintainer interface {
	MountpathStatuses() []MountpathStatus
	AttachMountpath(ctx context.Context, path string) error
	DetachMountpath(ctx context.Context, path string, progress *Progress) error
	EnableMountpath(ctx context.Context, path string) error
	DisableMountpath(ctx context.Context, path, reason string) error
	// Resilver moves every object to its mountpaths and makes the copies
	// its bucket wants.
	Resilver(ctx context.Context, progress *Progress) error
	// MakeCopies brings every object of a bucket to the copies its props
	// want, removing extra ones.
	MakeCopies(ctx context.Context, b Bucket, progress *Progress) error
	// Scrub reads every object, copy and part of a bucket and checks its
	// checksum.
	Scrub(ctx context.Context, b Bucket, opts ScrubOptions, progress *Progress) (ScrubReport, error)
	// Copies tells where the copies of an object are, those on its own
	// mountpaths first; ErrNotFound when there is none.
	Copies(ctx context.Context, b Bucket, name string) ([]ObjectCopy, error)
	// SealBucket refuses new objects in the bucket created at created
	// (ErrBucketSealed) until until, or until UnsealBucket lifts the
	// token's seal, and returns once the writes that were committing have
	// ended: a destroy that must find the bucket empty cannot then lose a
	// write acknowledged meanwhile. Each destroy seals with a token of
	// its own; the bucket is sealed while any seal holds.
	SealBucket(ctx context.Context, b Bucket, created Int64String, token string, until time.Time) error
	UnsealBucket(b Bucket, token string)
	// SetAside moves every object, part and tombstone out of the store's
	// sight into a directory named name on each mountpath, kept for an
	// administrator; the buckets stay, empty. It tells whether there was
	// an object to move.
	SetAside(ctx context.Context, name string) (bool, error)
}

// ObjectCopy is one copy of an object on a mountpath. Current is false for
// a copy of an older version or one whose metadata cannot be read.
type ObjectCopy struct {
	Mountpath string `json:"mountpath"`
	Path      string `json:"path"`
	Size      int64  `json:"size"`
	Version   string `json:"version,omitempty"`
	Current   bool   `json:"current"`
}
