package s3

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aisgo/aisgo/api"
)

// SweepUploads removes the multipart uploads of every bucket that were
// started before the cut and never completed or aborted, with their
// parts; closed uploads whose removal did not end (a target was away);
// and parts whose record is gone (a node stopped between the two), once
// they are older than the cut. Without it, an upload a client forgot
// would hold its parts' space for good, hidden from every listing but
// ListMultipartUploads. It returns how many uploads it removed.
func (s *Server) SweepUploads(ctx context.Context, cut time.Time) (int, error) {
	buckets, err := s.config.Backend.ListBuckets(ctx)
	if err != nil {
		return 0, fmt.Errorf("list buckets: %w", err)
	}
	removed := 0
	var errs []error
	for _, b := range buckets {
		if b.Provider != "" && b.Provider != "ais" {
			continue // S3 serves ais:// buckets only: no upload is elsewhere
		}
		n, err := s.sweepBucket(ctx, b.Name, cut)
		removed += n
		if err != nil {
			errs = append(errs, fmt.Errorf("bucket %s: %w", b.Name, err))
		}
		if ctx.Err() != nil {
			break
		}
	}
	return removed, errors.Join(errs...)
}

// sweepBucket sweeps one bucket's uploads; an upload that cannot be
// read or removed now is left for the next sweep, the others go.
func (s *Server) sweepBucket(ctx context.Context, bucket string, cut time.Time) (int, error) {
	var ids []string
	for e, err := range s.config.Backend.ListAll(ctx, bucket, api.ListObjectsMessage{Prefix: multipartPrefix, Flags: api.ListNoRecursion}) {
		if errors.Is(err, api.ErrNotFound) || errors.Is(err, api.ErrBucketNotFound) {
			return 0, nil // the bucket went meanwhile
		}
		if err != nil && !errors.Is(err, api.ErrIncompleteListing) {
			return 0, err
		}
		if err != nil {
			continue // the uploads of a target away wait for the next sweep
		}
		if id, ok := strings.CutSuffix(strings.TrimPrefix(e.Name, multipartPrefix), "/"); ok && validUploadID(id) {
			ids = append(ids, id)
		}
	}
	removed := 0
	var errs []error
	for _, id := range ids {
		if ctx.Err() != nil {
			return removed, context.Cause(ctx)
		}
		gone, err := s.sweepUpload(ctx, bucket, id, cut)
		if gone {
			removed++
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("upload %s: %w", id, err))
		}
	}
	return removed, errors.Join(errs...)
}

// sweepUpload removes one upload when it is stale, and reports whether
// it did.
func (s *Server) sweepUpload(ctx context.Context, bucket, id string, cut time.Time) (bool, error) {
	up, err := s.readRecord(ctx, bucket, id)
	if errors.Is(err, api.ErrBucketNotFound) {
		return false, nil // the bucket went meanwhile
	}
	if errors.Is(err, api.ErrNotFound) {
		return false, s.sweepOrphanParts(ctx, bucket, id, cut)
	}
	if err != nil {
		// (Not a record this server wrote: left alone.)
		return false, err
	}
	// One whose Complete made its object but could not close it (its
	// disk away a while) goes at once: open, it would take that Complete
	// sent again over a later write of the key.
	if !up.Closed && (!up.Initiated.Before(cut) || up.completeUnderWay(time.Now())) && !s.madeItsObject(ctx, bucket, id, up) {
		return false, nil
	}
	// Closed as it was read: a Complete that marked it since goes ahead
	// (the next sweep looks again).
	if up, err = s.closeRecord(ctx, bucket, id, up); errors.Is(err, errRecordChanged) || errors.Is(err, ErrNoSuchUpload) {
		return false, nil // (gone meanwhile: completed or aborted)
	} else if err != nil {
		return false, err
	}
	if err := s.removeUpload(ctx, bucket, id, up, nil); err != nil {
		return false, err
	}
	s.logger.Info("stale multipart upload removed", "bucket", bucket, "key", up.Key, "upload", id, "initiated", up.Initiated, "closed", up.Closed)
	return true, nil
}

// madeItsObject reports whether the upload's key is the object its
// Complete made.
func (s *Server) madeItsObject(ctx context.Context, bucket, id string, up upload) bool {
	meta, err := s.hidden().Head(ctx, bucket, up.Key)
	return err == nil && meta.Custom[customUpload] == id
}

// sweepOrphanParts removes the parts of an upload whose record is gone
// that were stored before the cut: a younger one may be a part whose
// own check (the upload gone) removes it.
func (s *Server) sweepOrphanParts(ctx context.Context, bucket, id string, cut time.Time) error {
	parts, err := s.parts(ctx, bucket, id)
	if err != nil && !errors.Is(err, api.ErrIncompleteListing) {
		return err
	}
	var errs []error
	for _, p := range parts {
		if p.modified.Unix() <= 0 || !p.modified.Before(cut) {
			continue // not known to be old
		}
		if err := s.config.Backend.Delete(ctx, bucket, partName(id, p.number)); err != nil && !errors.Is(err, api.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
