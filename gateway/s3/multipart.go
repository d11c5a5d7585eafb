package s3

import (
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/store"
)

// A multipart upload waits in its bucket as objects under
// .s3-multipart/ID/: "upload" (what CreateMultipartUpload was given) and
// "part-NNNNN" (each part, with its MD5). Complete streams the parts into
// the object and removes them.
const (
	multipartPrefix = ".s3-multipart/"
	// Custom metadata of a completed object: its number of parts, their
	// sizes (runs of equal sizes, "size*count", up to maxSizeRuns runs:
	// the metadata lives in an extended attribute of a few KiB) and the
	// upload it came from.
	customParts     = "s3.mp-parts"
	customPartSizes = "s3.mp-sizes"
	customUpload    = "s3.mp-upload"
	maxSizeRuns     = 64
	// minPartSize is S3's least size of a part that is not the last.
	minPartSize = 5 << 20
	maxParts    = 10000
	// S3's bound on an object made of parts (a part is at most
	// maxPutSize).
	maxMultipartSize = 5 << 40
)

// upload is the record of a multipart upload.
type upload struct {
	Key       string            `json:"key"`
	Initiated time.Time         `json:"initiated"`
	Custom    map[string]string `json:"custom,omitempty"`
	// Closed: completed or aborted, its parts being removed. It takes
	// no part and lists as gone; an abort removes what is left of it.
	Closed bool `json:"closed,omitempty"`
	// Completing: a Complete streams the parts into the object since
	// then; renewed every completeRenewal while it runs. An abort is
	// refused while it is fresh: it would answer 204 and the object be
	// made all the same.
	Completing time.Time `json:"completing,omitzero"`
	// CompletingBy is the Server that marked it (Server.instance).
	CompletingBy string `json:"completing_by,omitempty"`
	// etag is the record's as read: a write of it in its place is
	// conditional on it (a mark must not reopen a record an abort
	// closed, nor make one it removed).
	etag string
}

// completeLease is how long a Complete's mark holds without renewal (its
// gateway stopped): past it, an abort or the sweep goes ahead. The mark
// is renewed every completeRenewal.
var (
	completeLease   = 3 * time.Minute
	completeRenewal = time.Minute
	// completeWaitPoll is how often a Complete waiting for another
	// gateway's Complete of the same upload looks again.
	completeWaitPoll = 200 * time.Millisecond
)

// errCompletingElsewhere: another gateway's Complete of the upload holds
// its mark.
var errCompletingElsewhere = errors.New("s3: a Complete of the upload runs on another gateway")

// completeUnderWay reports whether an upload's Complete runs. A mark
// dated past a lease ahead (a gateway whose clock ran ahead, gone) holds
// no longer than one on time would.
func (up upload) completeUnderWay(now time.Time) bool {
	age := now.Sub(up.Completing)
	return !up.Completing.IsZero() && age < completeLease && age > -completeLease
}

func uploadDir(id string) string       { return multipartPrefix + id + "/" }
func uploadRecord(id string) string    { return uploadDir(id) + "upload" }
func partName(id string, n int) string { return fmt.Sprintf("%spart-%05d", uploadDir(id), n) }

// errInvalidPartNumber: a part number beyond an object's parts.
var errInvalidPartNumber = &Error{Code: "InvalidPartNumber", Message: "The requested partnumber is not satisfiable", Status: http.StatusRequestedRangeNotSatisfiable}

// location is a completed upload's Location: its path, escaped.
func location(bucket, key string) string {
	return (&url.URL{Path: "/" + bucket + "/" + key}).EscapedPath()
}

func noSuchUpload(id string) error {
	return ErrNoSuchUpload.WithMessage("The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.").WithResource(id)
}

// validUploadID accepts only the ids this server makes (32 hex digits),
// since an id becomes part of object names.
func validUploadID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// loadUpload reads an upload's record and checks it is for key.
func (s *Server) loadUpload(ctx context.Context, bucket, key, id string) (upload, error) {
	up, err := s.readUpload(ctx, bucket, key, id)
	if err == nil && up.Closed {
		return up, noSuchUpload(id)
	}
	return up, err
}

// saveUpload writes an upload's record.
func (s *Server) saveUpload(ctx context.Context, bucket, id string, up upload) error {
	record, _ := json.Marshal(up)
	_, err := s.config.Backend.Put(ctx, bucket, uploadRecord(id), bytes.NewReader(record), api.PutOptions{Size: int64(len(record))})
	return err
}

// readUpload reads an upload's record, closed or not.
func (s *Server) readUpload(ctx context.Context, bucket, key, id string) (upload, error) {
	if !validUploadID(id) {
		return upload{}, noSuchUpload(id)
	}
	up, err := s.readRecord(ctx, bucket, id)
	switch {
	case errors.Is(err, api.ErrNotFound), errors.Is(err, errUnreadableRecord):
		return up, noSuchUpload(id)
	case err != nil:
		return up, backendError(err, bucket, key)
	case up.Key != key:
		return up, noSuchUpload(id)
	}
	return up, nil
}

// errUnreadableRecord: an upload's record is not one this server wrote.
var errUnreadableRecord = errors.New("s3: unreadable multipart upload record")

// readRecord reads an upload's record and its ETag.
func (s *Server) readRecord(ctx context.Context, bucket, id string) (upload, error) {
	var up upload
	body, meta, err := s.hidden().Get(ctx, bucket, uploadRecord(id), api.GetOptions{})
	if err != nil {
		return up, err
	}
	data, err := io.ReadAll(io.LimitReader(body, 64<<10))
	body.Close()
	if err != nil {
		return up, err
	}
	if err := json.Unmarshal(data, &up); err != nil {
		return up, fmt.Errorf("%w: %w", errUnreadableRecord, err)
	}
	up.etag = objectETag(meta)
	return up, nil
}

// closeRecord closes an upload's record as read (up.etag), if it is
// still so: an abort or a sweep must not close it over a Complete's mark
// written since they looked (the Complete would make its object after
// the abort answered 204). errRecordChanged says to read it again.
func (s *Server) closeRecord(ctx context.Context, bucket, id string, up upload) (upload, error) {
	if up.Closed {
		return up, nil
	}
	up.Closed, up.Completing = true, time.Time{}
	err := s.swapRecord(ctx, bucket, id, up)
	if errors.Is(err, api.ErrPreconditionFailed) {
		return up, errRecordChanged
	}
	return up, err
}

var errRecordChanged = errors.New("s3: the multipart upload's record changed since it was read")

// abortChecked runs as an abort has checked the upload's record (a
// test's hook: a Complete runs meanwhile).
var abortChecked = func(string) {}

// getBytes reads a small object whole, at most limit bytes.
func getBytes(ctx context.Context, b Backend, bucket, name string, limit int64) ([]byte, error) {
	body, _, err := b.Get(ctx, bucket, name, api.GetOptions{})
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return io.ReadAll(io.LimitReader(body, limit))
}

func (s *Server) createUpload(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	ctx := r.Context()
	custom, err := StoredHeaders(r.Header)
	if err != nil {
		return err
	}
	// Its start first, then chance: one key's uploads list in the order
	// they began, as S3 lists them (ids compare as their starts).
	var raw [16]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(time.Now().UnixNano()))
	rand.Read(raw[8:])
	id := hex.EncodeToString(raw[:])
	if err := s.roomForUpload(ctx, bucket); err != nil {
		return err
	}
	if err := s.saveUpload(ctx, bucket, id, upload{Key: key, Initiated: time.Now().UTC(), Custom: custom}); err != nil {
		return backendError(err, bucket, key)
	}
	WriteXML(w, http.StatusOK, InitiateMultipartUploadResult{Bucket: bucket, Key: key, UploadID: id})
	return nil
}

// maxUploads bounds the uploads in progress in a bucket: a listing reads
// one record each, and reads at most maxListedUploads (uploads begun at
// the same moment may pass maxUploads a little).
var maxUploads = 10000

func maxListedUploads() int { return maxUploads + maxUploads/5 }

// roomForUpload refuses a new upload in a bucket with maxUploads in
// progress, before it would make the bucket's uploads unlistable. A
// listing that fails leaves the check to the next upload.
func (s *Server) roomForUpload(ctx context.Context, bucket string) error {
	n := 0
	for _, err := range s.hidden().ListAll(ctx, bucket, api.ListObjectsMessage{Prefix: multipartPrefix, Flags: api.ListNoRecursion}) {
		if err != nil {
			return nil
		}
		if n++; n >= maxUploads {
			return ErrSlowDown.WithMessage("bucket %s has %d multipart uploads in progress, the most it keeps: complete or abort those not needed", bucket, maxUploads)
		}
	}
	return nil
}

// partNumber reads a part number, 1 to 10,000.
func partNumber(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxParts {
		return 0, ErrInvalidArgument.WithMessage("Part number must be an integer between 1 and %d, inclusive (got %q)", maxParts, v)
	}
	return n, nil
}

// openPartSource opens the range of a part copy's source, its conditions
// held; errChanged when the bytes are of another version than the
// conditions were checked on (an overwrite meanwhile: to open again).
func (s *Server) openPartSource(ctx context.Context, r *http.Request, srcBucket, srcKey string) (io.ReadCloser, int64, error) {
	// As the node: the caller asked to read the source (checked by the
	// GET below), not for its props.
	src, err := s.hidden().Head(ctx, srcBucket, srcKey)
	if err != nil {
		return nil, 0, backendError(err, srcBucket, srcKey)
	}
	if err := CheckCopyConditions(r, QuoteETag(objectETag(src)), lastModified(src)); err != nil {
		return nil, 0, err
	}
	start, length := int64(0), src.Size
	if spec := r.Header.Get("x-amz-copy-source-range"); spec != "" {
		if start, length, err = ParseCopyRange(spec, src.Size); err != nil {
			return nil, 0, err
		}
	}
	if length > maxPutSize {
		return nil, 0, ErrInvalidRequest.WithMessage("The specified copy source is larger than the maximum allowable size for a copy source: 5368709120")
	}
	// The copy outlives a client that gives up (answerSlowly).
	body, got, err := s.config.Backend.Get(context.WithoutCancel(ctx), srcBucket, srcKey, api.GetOptions{Offset: start, Length: length})
	if err != nil {
		return nil, 0, backendError(err, srcBucket, srcKey)
	}
	// The conditions were checked on the HEAD's version: the bytes must
	// be of that version (a bucket without checksums tells by the stamp).
	if got.Checksum != src.Checksum || got.Stamp != src.Stamp {
		body.Close()
		return nil, 0, errChanged
	}
	return body, length, nil
}

// uploadPart stores one part: the request's body, or a range of another
// object (UploadPartCopy).
func (s *Server) uploadPart(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	ctx := r.Context()
	q := r.URL.Query()
	n, err := partNumber(q.Get("partNumber"))
	if err != nil {
		return err
	}
	id := q.Get("uploadId")
	if _, err := s.loadUpload(ctx, bucket, key, id); err != nil {
		return err
	}
	source := r.Header.Get("x-amz-copy-source")
	if source == "" {
		what := fmt.Sprintf("part %d", n)
		capped, err := limitBody(r, maxPutSize, what)
		if err != nil {
			return err
		}
		opts, err := putOptions(r, r.ContentLength)
		if err != nil {
			return err
		}
		opts.Custom = nil // a part's headers are the upload's
		// Conditions are the complete's, not a part's.
		opts.IfNoneMatch, opts.IfMatch = "", ""
		meta, err := s.config.Backend.Put(ctx, bucket, partName(id, n), r.Body, opts)
		if err != nil {
			return tooLargeAfter(capped, backendError(err, bucket, key), what, maxPutSize)
		}
		// An upload completed or aborted while the part came in does not
		// keep it: it would wait, hidden, for ever. Only then: a check
		// that fails otherwise (the client gone, a busy node) must not
		// remove the copy a retry of the part stored meanwhile.
		if _, err := s.loadUpload(context.WithoutCancel(ctx), bucket, key, id); err != nil {
			if errors.Is(err, ErrNoSuchUpload) {
				s.hidden().Delete(context.WithoutCancel(ctx), bucket, partName(id, n))
			}
			return err
		}
		w.Header().Set("ETag", QuoteETag(objectETag(meta)))
		w.WriteHeader(http.StatusOK)
		return nil
	}
	srcBucket, srcKey, err := ParseCopySource(source)
	if err != nil {
		return err
	}
	var body io.ReadCloser
	var length int64
	for attempt := 1; body == nil; attempt++ {
		if body, length, err = s.openPartSource(ctx, r, srcBucket, srcKey); err != nil {
			if errors.Is(err, errChanged) && attempt < changedReads {
				continue
			}
			if errors.Is(err, errChanged) {
				w.Header().Set("Retry-After", "1")
				return ErrSlowDown.WithMessage("the copy source %s/%s is overwritten faster than it can be copied; copy it again", srcBucket, srcKey)
			}
			return err
		}
	}
	defer body.Close()
	return s.answerSlowly(w, r, func(ctx context.Context) (any, error) {
		meta, err := s.config.Backend.Put(ctx, bucket, partName(id, n), body, api.PutOptions{Size: length, ETag: true})
		if err != nil {
			return nil, backendError(err, bucket, key)
		}
		// As for a part sent: only an upload gone drops the copy.
		if _, err := s.loadUpload(ctx, bucket, key, id); err != nil {
			if errors.Is(err, ErrNoSuchUpload) {
				s.hidden().Delete(ctx, bucket, partName(id, n))
			}
			return nil, err
		}
		return CopyPartResult{LastModified: FormatTime(lastModified(meta)), ETag: QuoteETag(objectETag(meta))}, nil
	})
}

// storedPart is a part as listed.
type storedPart struct {
	number   int
	etag     string // unquoted hex MD5
	size     int64
	modified time.Time
}

// parts lists an upload's parts in order.
func (s *Server) parts(ctx context.Context, bucket, id string) ([]storedPart, error) {
	var out []storedPart
	prefix := uploadDir(id) + "part-"
	var incomplete error
	for e, err := range s.hidden().ListAll(ctx, bucket, api.ListObjectsMessage{Prefix: prefix, Props: listPageProps}) {
		if errors.Is(err, api.ErrIncompleteListing) {
			incomplete = err // the caller decides (and gets the rest)
			continue
		}
		if err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(strings.TrimPrefix(e.Name, prefix))
		if err != nil {
			continue
		}
		out = append(out, storedPart{number: n, etag: e.ETag, size: e.Size, modified: parseTime(e.Mtime, e.Atime)})
	}
	return out, incomplete
}

func (s *Server) listParts(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	id := r.URL.Query().Get("uploadId")
	if _, err := s.loadUpload(r.Context(), bucket, key, id); err != nil {
		return err
	}
	parts, err := s.parts(r.Context(), bucket, id)
	if err != nil {
		return backendError(err, bucket, key)
	}
	q := r.URL.Query()
	limit, marker := 1000, 0
	if v := q.Get("max-parts"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 0 {
			return ErrInvalidArgument.WithMessage("max-parts %q is not a number of parts", v)
		}
		limit = min(limit, 1000)
	}
	if v := q.Get("part-number-marker"); v != "" {
		if marker, err = strconv.Atoi(v); err != nil || marker < 0 {
			return ErrInvalidArgument.WithMessage("part-number-marker %q is not a part number", v)
		}
	}
	out := ListPartsResult{Bucket: bucket, Key: key, UploadID: id, MaxParts: limit, PartNumberMarker: marker, Owner: owner(), Initiator: owner(), StorageClass: "STANDARD"}
	for _, p := range parts {
		if p.number <= marker {
			continue
		}
		if len(out.Parts) == limit {
			out.IsTruncated = limit > 0 // (none asked for: nothing to go on from)
			break
		}
		out.Parts = append(out.Parts, Part{PartNumber: p.number, ETag: QuoteETag(p.etag), Size: p.size, LastModified: FormatTime(p.modified)})
		out.NextPartNumberMarker = p.number
	}
	WriteXML(w, http.StatusOK, out)
	return nil
}

// completeUpload checks the client's part list against the stored parts,
// streams them into the object and removes the upload. A repeat of a
// completed upload answers as the first did.
func (s *Server) completeUpload(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	ctx := r.Context()
	id := r.URL.Query().Get("uploadId")
	var req CompleteMultipartUpload
	if err := DecodeXML(r.Body, 4<<20, &req); err != nil {
		return err
	}
	var opts api.PutOptions
	var err error
	if opts.IfMatch, opts.IfNoneMatch, err = writeConditions(r); err != nil {
		return err
	}
	up, err := s.loadUpload(ctx, bucket, key, id)
	// Already completed? Then the object says so: the upload is closed,
	// or still open if the first Complete could not close it (its answer
	// lost, the client sends it again: the parts are not copied twice,
	// over what may have been written since).
	if meta, herr := s.hidden().Head(ctx, bucket, key); herr == nil && validUploadID(id) && madeBy(meta, id, req.Parts) {
		if err == nil || up.Closed {
			// The first Complete's cleanup did not end (a target away,
			// the node stopped): this one finishes it, else the parts
			// would stay hidden for good.
			if rerr := s.removeUpload(context.WithoutCancel(ctx), bucket, id, up, nil); rerr != nil {
				s.logger.Warn("remove a completed multipart upload", "bucket", bucket, "upload", id, "err", rerr)
			}
		}
		WriteXML(w, http.StatusOK, CompleteMultipartUploadResult{Location: location(bucket, key), Bucket: bucket, Key: key, ETag: QuoteETag(objectETag(meta))})
		return nil
	}
	if err != nil {
		return err
	}
	if len(req.Parts) == 0 {
		return ErrMalformedXML.WithMessage("CompleteMultipartUpload names no part")
	}
	stored, err := s.parts(ctx, bucket, id)
	incomplete := errors.Is(err, api.ErrIncompleteListing)
	if err != nil && !incomplete {
		return backendError(err, bucket, key)
	}
	byNumber := make(map[int]storedPart, len(stored))
	for _, p := range stored {
		byNumber[p.number] = p
	}
	if incomplete {
		// A target could not be listed (offline): a part the listing
		// left out is asked for by name, which says whether it is on
		// that target (503, to retry) or missing (InvalidPart).
		for _, p := range req.Parts {
			if _, ok := byNumber[p.PartNumber]; ok || p.PartNumber < 1 || p.PartNumber > maxParts {
				continue
			}
			meta, err := s.hidden().Head(ctx, bucket, partName(id, p.PartNumber))
			switch {
			case err == nil:
				part := storedPart{number: p.PartNumber, etag: objectETag(meta), size: meta.Size, modified: lastModified(meta)}
				byNumber[p.PartNumber] = part
				stored = append(stored, part)
			case !errors.Is(err, api.ErrNotFound):
				return backendError(err, bucket, key)
			}
		}
	}
	var total int64
	sums := md5.New()
	chosen := make([]storedPart, 0, len(req.Parts))
	var tooSmall *Error
	for i, p := range req.Parts {
		if i > 0 && p.PartNumber <= req.Parts[i-1].PartNumber {
			return ErrInvalidPartOrder
		}
		part, ok := byNumber[p.PartNumber]
		if !ok || strings.Trim(p.ETag, `"`) != part.etag {
			return ErrInvalidPart.WithMessage("part %d: one or more of the specified parts could not be found, or its entity tag did not match", p.PartNumber)
		}
		if i < len(req.Parts)-1 && part.size < minPartSize && tooSmall == nil {
			// Reported once every part is known to exist, as S3 does.
			tooSmall = ErrEntityTooSmall.WithMessage("part %d is %d bytes: every part but the last must be at least 5 MiB", p.PartNumber, part.size)
		}
		raw, err := hex.DecodeString(part.etag)
		if err != nil {
			return ErrInvalidPart.WithMessage("part %d has no MD5", p.PartNumber)
		}
		sums.Write(raw)
		total += part.size
		chosen = append(chosen, part)
	}
	if tooSmall != nil {
		return tooSmall
	}
	if total > maxMultipartSize {
		return ErrEntityTooLarge.WithMessage("the parts make %d bytes: an object is at most 5 TiB", total)
	}
	// A condition the key already fails is answered before the parts
	// are copied; the store checks it again as it commits.
	if err := s.precheckWrite(ctx, bucket, key, opts); err != nil {
		return err
	}
	etag := fmt.Sprintf("%s-%d", hex.EncodeToString(sums.Sum(nil)), len(chosen))
	headers, err := keptHeaders(up.Custom)
	if err != nil {
		return err
	}
	custom := completedCustom(headers, etag, id, chosen)
	opts.Size, opts.Custom = total, custom
	return s.answerSlowly(w, r, func(ctx context.Context) (any, error) {
		// One Complete of an upload at a time on this node: one sent
		// again while the first copies (its client lost the connection)
		// waits, then answers as a Complete done does, rather than copy
		// the parts again over what may be written after the first.
		unlock := s.completing.Lock(id)
		defer unlock()
		if done, herr := s.hidden().Head(ctx, bucket, key); herr == nil && madeBy(done, id, req.Parts) {
			return CompleteMultipartUploadResult{Location: location(bucket, key), Bucket: bucket, Key: key, ETag: QuoteETag(objectETag(done))}, nil
		}
		// The copy runs under the mark, cut if an abort closes the upload.
		// A Complete of it on another gateway (this one a retry through a
		// balancer) is waited for: its object answers this one too.
		marked, release, err := s.markCompleting(ctx, bucket, key, id)
		for waited := time.Now(); errors.Is(err, errCompletingElsewhere); {
			if time.Since(waited) > completeLease {
				return nil, ErrSlowDown.WithMessage("a CompleteMultipartUpload of upload %s runs on another gateway: send this one again once that has ended", id)
			}
			time.Sleep(completeWaitPoll)
			if done, herr := s.hidden().Head(ctx, bucket, key); herr == nil && madeBy(done, id, req.Parts) {
				return CompleteMultipartUploadResult{Location: location(bucket, key), Bucket: bucket, Key: key, ETag: QuoteETag(objectETag(done))}, nil
			}
			marked, release, err = s.markCompleting(ctx, bucket, key, id)
		}
		if err != nil {
			// Closed just now by the Complete waited for: its object.
			if done, herr := s.hidden().Head(ctx, bucket, key); errors.Is(err, ErrNoSuchUpload) && herr == nil && madeBy(done, id, req.Parts) {
				return CompleteMultipartUploadResult{Location: location(bucket, key), Bucket: bucket, Key: key, ETag: QuoteETag(objectETag(done))}, nil
			}
			return nil, err
		}
		body := &partsReader{ctx: marked, backend: s.hidden(), bucket: bucket, id: id, parts: chosen,
			last: func() error { return s.stillOpen(marked, bucket, key, id) }, left: total}
		defer body.Close()
		meta, err := s.config.Backend.Put(marked, bucket, key, body, opts)
		if err != nil {
			// The object made though its answer was lost (this Complete
			// committed it, or the same one sent again and run
			// elsewhere): answered as a Complete done, its upload removed
			// (else its parts stayed, and it took parts and Completes).
			if done, herr := s.hidden().Head(ctx, bucket, key); herr == nil && madeBy(done, id, req.Parts) {
				release(true)
				if rerr := s.removeCompleted(ctx, bucket, id, up, stored); rerr != nil {
					s.logger.Warn("remove a completed multipart upload", "bucket", bucket, "upload", id, "err", rerr)
				}
				return CompleteMultipartUploadResult{Location: location(bucket, key), Bucket: bucket, Key: key, ETag: QuoteETag(objectETag(done))}, nil
			}
			release(false)
			if body.failed != nil {
				return nil, body.failed
			}
			if cause := context.Cause(marked); errors.Is(cause, ErrNoSuchUpload) {
				return nil, cause // aborted as it read the parts (past its lease)
			}
			return nil, backendError(err, bucket, key)
		}
		release(true)
		if err := s.removeCompleted(ctx, bucket, id, up, stored); err != nil {
			// The object is whole; what is left of the upload an abort
			// of it removes.
			s.logger.Warn("remove a completed multipart upload", "bucket", bucket, "upload", id, "err", err)
		}
		return CompleteMultipartUploadResult{Location: location(bucket, key), Bucket: bucket, Key: key, ETag: QuoteETag(objectETag(meta))}, nil
	})
}

// markCompleting marks an upload's record with a Complete under way and
// renews the mark while the returned context lasts; the renewal finding
// the upload closed or gone (an abort past a lapsed lease) cancels it.
// release stops the renewal and, when the Complete failed, takes the mark
// off, for an abort to go ahead at once.
func (s *Server) markCompleting(ctx context.Context, bucket, key, id string) (context.Context, func(completed bool), error) {
	// A mark of this Server is this Complete's (one Complete of an upload
	// at a time here): it renews and takes off only its own, not one
	// another gateway's Complete wrote past its lapse.
	mark := func() error {
		for attempt := 0; ; attempt++ {
			up, err := s.loadUpload(ctx, bucket, key, id)
			if err != nil {
				return err
			}
			now := time.Now().UTC()
			if up.CompletingBy != s.instance && up.completeUnderWay(now) {
				return errCompletingElsewhere
			}
			up.Completing, up.CompletingBy = now, s.instance
			err = s.swapRecord(ctx, bucket, id, up)
			if errors.Is(err, api.ErrPreconditionFailed) {
				if attempt < 2 {
					continue // changed since it was read: read again
				}
				// Not the client's condition failing (412): a busy record.
				return ErrSlowDown.WithMessage("the record of upload %s kept changing (Completes of it at once?): try again", id)
			}
			return err
		}
	}
	if err := mark(); err != nil {
		return ctx, nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(completeRenewal)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			switch err := mark(); {
			case errors.Is(err, ErrNoSuchUpload):
				cancel(err)
				return
			case errors.Is(err, errCompletingElsewhere):
				// This mark lapsed (the gateway stalled) and another
				// Complete of the upload took it: that one makes it.
				cancel(ErrOperationAborted.WithMessage("the CompleteMultipartUpload of upload %s stalled past its lease and another took it over: send it again", id))
				return
			}
		}
	}()
	release := func(completed bool) {
		close(stop)
		<-stopped
		if !completed {
			if up, err := s.loadUpload(context.WithoutCancel(ctx), bucket, key, id); err == nil && up.CompletingBy == s.instance {
				up.Completing, up.CompletingBy = time.Time{}, ""
				s.swapRecord(context.WithoutCancel(ctx), bucket, id, up)
			}
		}
		cancel(nil)
	}
	return ctx, release, nil
}

// stillOpen checks, once every part is read and before the object is
// committed, that the upload was not aborted meanwhile.
func (s *Server) stillOpen(ctx context.Context, bucket, key, id string) error {
	_, err := s.loadUpload(ctx, bucket, key, id)
	return err
}

// swapRecord writes an upload's record in place of the one read (up.etag),
// if it is still there unchanged: NoSuchUpload if it is gone.
func (s *Server) swapRecord(ctx context.Context, bucket, id string, up upload) error {
	record, _ := json.Marshal(up)
	_, err := s.hidden().Put(ctx, bucket, uploadRecord(id), bytes.NewReader(record), api.PutOptions{Size: int64(len(record)), IfMatch: cmp.Or(up.etag, "*")})
	if errors.Is(err, api.ErrNotFound) {
		return noSuchUpload(id)
	}
	return err
}

// writeRecord writes an upload's record as the node.
func (s *Server) writeRecord(ctx context.Context, bucket, id string, up upload) error {
	record, _ := json.Marshal(up)
	_, err := s.hidden().Put(ctx, bucket, uploadRecord(id), bytes.NewReader(record), api.PutOptions{Size: int64(len(record))})
	return err
}

// madeBy reports whether an object is what a Complete of upload id with
// these parts makes: a repeat of a Complete done answers as it did, a
// Complete of other parts (its own object never made) does not.
func madeBy(meta store.ObjectMeta, id string, parts []CompletedPart) bool {
	if meta.Custom[customUpload] != id || len(parts) == 0 {
		return false
	}
	sums := md5.New()
	for _, p := range parts {
		raw, err := hex.DecodeString(strings.Trim(p.ETag, `"`))
		if err != nil || len(raw) != md5.Size {
			return false
		}
		sums.Write(raw)
	}
	return objectETag(meta) == fmt.Sprintf("%s-%d", hex.EncodeToString(sums.Sum(nil)), len(parts))
}

// errRecordOpen: an upload's record could not be closed.
var errRecordOpen = errors.New("its record is still open")

// closeRetries are the waits before a completed upload's close is tried
// again (a variable for the tests).
var closeRetries = []time.Duration{500 * time.Millisecond, 2 * time.Second}

// removeCompleted is removeUpload after a Complete committed the object,
// its close tried again a few times: an upload left open takes a
// Complete sent again (its answer lost) after the key was written since,
// which would copy the parts over that write.
func (s *Server) removeCompleted(ctx context.Context, bucket, id string, up upload, parts []storedPart) error {
	err := s.removeUpload(ctx, bucket, id, up, parts)
	for _, wait := range closeRetries {
		if !errors.Is(err, errRecordOpen) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		err = s.removeUpload(ctx, bucket, id, up, parts)
	}
	return err
}

// removeUpload closes an upload's record (no part is taken any more: a
// part stored meanwhile finds it closed and removes itself), removes its
// parts (those it was given and those listed), then the record. It stops
// at the first step that fails: the closed record stays, for an abort to
// finish the removal.
func (s *Server) removeUpload(ctx context.Context, bucket, id string, up upload, parts []storedPart) error {
	if !up.Closed {
		// As the node: an abort is the caller's DELETE, not a PUT.
		up.Closed, up.Completing = true, time.Time{}
		if err := s.writeRecord(ctx, bucket, id, up); err != nil {
			return fmt.Errorf("close multipart upload %s: %w: %w", id, errRecordOpen, err)
		}
	}
	names := map[string]bool{}
	for _, p := range parts {
		names[partName(id, p.number)] = true
	}
	var errs []error
	for e, err := range s.hidden().ListAll(ctx, bucket, api.ListObjectsMessage{Prefix: uploadDir(id)}) {
		if errors.Is(err, api.ErrIncompleteListing) {
			// The parts of the targets listed go now; the closed
			// record stays for a retry to find the others.
			errs = append(errs, fmt.Errorf("list the parts of multipart upload %s: %w", id, err))
			continue
		}
		if err != nil {
			return fmt.Errorf("list the parts of multipart upload %s: %w", id, err)
		}
		if e.Name != uploadRecord(id) {
			names[e.Name] = true
		}
	}
	for name := range names {
		if err := s.hidden().Delete(ctx, bucket, name); err != nil && !errors.Is(err, api.ErrNotFound) {
			errs = append(errs, fmt.Errorf("remove %s: %w", name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := s.hidden().Delete(ctx, bucket, uploadRecord(id)); err != nil && !errors.Is(err, api.ErrNotFound) {
		return fmt.Errorf("remove the record of multipart upload %s: %w", id, err)
	}
	return nil
}

// abortUpload removes an upload and its parts; an abort that fails midway
// answers an error, and its retry finishes the removal.
func (s *Server) abortUpload(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	id := r.URL.Query().Get("uploadId")
	// After a Complete of it under way on this node (its client gone,
	// the SDKs abort what they think failed): the abort then finds it
	// done, not a 204 with the object made after it.
	unlock, err := s.completing.LockContext(r.Context(), id)
	if err != nil {
		return backendError(err, bucket, key)
	}
	defer unlock()
	var up upload
	completed := false
	for attempt := 0; ; attempt++ {
		if up, err = s.readUpload(r.Context(), bucket, key, id); err != nil {
			return err
		}
		// Completed already (its record's removal failed or is under
		// way): what is left goes, and the abort is S3's NoSuchUpload,
		// not a 204 over an object that stays.
		completed = false
		if meta, err := s.hidden().Head(r.Context(), bucket, key); err == nil && meta.Custom[customUpload] == id {
			completed = true
		}
		// A mark of this Server's is stale: none of its Completes runs
		// (the lock is held). Another's holds while fresh.
		if !up.Closed && !completed && up.CompletingBy != s.instance && up.completeUnderWay(time.Now()) {
			return ErrOperationAborted.WithMessage("a CompleteMultipartUpload of upload %s runs (since %s): abort it again once that has ended", id, up.Completing.Format(time.RFC3339)).WithResource(id)
		}
		abortChecked(id)
		// Closed as it was read: a Complete that marked it since goes
		// ahead, and the abort looks again.
		up, err = s.closeRecord(context.WithoutCancel(r.Context()), bucket, id, up)
		if errors.Is(err, errRecordChanged) && attempt < 2 {
			continue
		}
		if errors.Is(err, errRecordChanged) {
			return ErrSlowDown.WithMessage("the record of upload %s kept changing (a Complete of it at once?): abort it again", id)
		}
		if errors.Is(err, ErrNoSuchUpload) {
			return err // gone meanwhile (completed, or aborted through another gateway)
		}
		if err != nil {
			s.logger.Warn("abort a multipart upload", "bucket", bucket, "upload", id, "err", err)
			return backendError(err, bucket, key)
		}
		break
	}
	if err := s.removeUpload(context.WithoutCancel(r.Context()), bucket, id, up, nil); err != nil {
		s.logger.Warn("abort a multipart upload", "bucket", bucket, "upload", id, "err", err)
		return backendError(err, bucket, key)
	}
	if completed {
		return noSuchUpload(id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listUploads(w http.ResponseWriter, r *http.Request, bucket string) error {
	ctx := r.Context()
	q := r.URL.Query()
	prefix, delimiter, keyMarker, idMarker := q.Get("prefix"), q.Get("delimiter"), q.Get("key-marker"), q.Get("upload-id-marker")
	encoding := q.Get("encoding-type")
	if encoding != "" && encoding != "url" {
		return ErrInvalidArgument.WithMessage("encoding-type %q is not url", encoding)
	}
	limit := 1000
	if v := q.Get("max-uploads"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return ErrInvalidArgument.WithMessage("max-uploads %q is not a number of uploads", v)
		}
		limit = min(n, 1000)
	}
	// One level: an upload's directory, not its parts. Its record tells
	// the key (ids are not in key order): the uploads read are bounded.
	var ids []string
	for e, err := range s.hidden().ListAll(ctx, bucket, api.ListObjectsMessage{Prefix: multipartPrefix, Flags: api.ListNoRecursion}) {
		if err != nil {
			return backendError(err, bucket, "")
		}
		id, ok := strings.CutSuffix(strings.TrimPrefix(e.Name, multipartPrefix), "/")
		if !ok || !validUploadID(id) {
			continue
		}
		if len(ids) >= maxListedUploads() {
			return ErrInvalidRequest.WithMessage("bucket %s has more than %d multipart uploads in progress, more than a listing reads: complete or abort those not needed", bucket, maxListedUploads())
		}
		ids = append(ids, id)
	}
	// A record's key never changes: the keys an earlier listing read are
	// taken as they were, and only the uploads this page answers with
	// are read again (closed since, they drop out), not every record of
	// the bucket for each page.
	known := s.uploadKeys.of(bucket)
	seen := make(map[string]uploadKey, len(ids))
	var uploads []Upload
	confirmed := map[string]bool{}
	for _, id := range ids {
		k, ok := known[id]
		if !ok {
			up, found, err := s.readUploadKey(ctx, bucket, id)
			if err != nil {
				return err
			}
			if !found {
				continue
			}
			k, confirmed[id] = uploadKey{key: up.Key, initiated: up.Initiated}, true
		}
		seen[id] = k
		if !strings.HasPrefix(k.key, prefix) {
			continue
		}
		// After the markers: later keys, or later uploads of the marker key.
		if keyMarker != "" && (k.key < keyMarker || k.key == keyMarker && (idMarker == "" || id <= idMarker)) {
			continue
		}
		uploads = append(uploads, Upload{Key: k.key, UploadID: id, Initiated: FormatTime(k.initiated), Owner: owner(), Initiator: owner(), StorageClass: "STANDARD"})
	}
	slices.SortFunc(uploads, func(a, b Upload) int {
		return cmp.Or(strings.Compare(a.Key, b.Key), strings.Compare(a.UploadID, b.UploadID))
	})
	// The page's uploads whose keys came from memory are read now: one
	// closed since drops out, and the page is made again without it.
	var out ListMultipartUploadsResult
	for {
		out = pageUploads(uploads, prefix, delimiter, keyMarker, limit)
		gone := map[string]bool{}
		for _, u := range pageMembers(uploads, out) {
			if confirmed[u.UploadID] {
				continue
			}
			_, found, err := s.readUploadKey(ctx, bucket, u.UploadID)
			if err != nil {
				return err
			}
			confirmed[u.UploadID] = found
			if !found {
				gone[u.UploadID] = true
				delete(seen, u.UploadID)
			}
		}
		if len(gone) == 0 {
			break
		}
		uploads = slices.DeleteFunc(uploads, func(u Upload) bool { return gone[u.UploadID] })
	}
	s.uploadKeys.set(bucket, seen)
	out.Bucket, out.Prefix, out.Delimiter, out.KeyMarker, out.UploadIDMarker, out.MaxUploads = bucket, prefix, delimiter, keyMarker, idMarker, limit
	if encoding != "url" {
		for _, name := range []string{out.Prefix, out.Delimiter, out.KeyMarker, out.NextKeyMarker} {
			if err := fitsXML(name); err != nil {
				return err
			}
		}
		for _, u := range out.Uploads {
			if err := fitsXML(u.Key); err != nil {
				return err
			}
		}
		for _, p := range out.CommonPrefixes {
			if err := fitsXML(p.Prefix); err != nil {
				return err
			}
		}
	} else {
		out.EncodingType = encoding
		out.Prefix, out.Delimiter, out.KeyMarker, out.NextKeyMarker = urlEncode(out.Prefix), urlEncode(out.Delimiter), urlEncode(out.KeyMarker), urlEncode(out.NextKeyMarker)
		for i := range out.Uploads {
			out.Uploads[i].Key = urlEncode(out.Uploads[i].Key)
		}
		for i := range out.CommonPrefixes {
			out.CommonPrefixes[i].Prefix = urlEncode(out.CommonPrefixes[i].Prefix)
		}
	}
	WriteXML(w, http.StatusOK, out)
	return nil
}

// readUploadKey reads an upload's record: found is false for one gone or
// closed. A record that cannot be read now (a target busy or away) fails
// the listing: left out, its upload would be skipped by this page and
// every page after it.
func (s *Server) readUploadKey(ctx context.Context, bucket, id string) (up upload, found bool, err error) {
	data, err := getBytes(ctx, s.hidden(), bucket, uploadRecord(id), 64<<10)
	switch {
	case errors.Is(err, api.ErrNotFound):
		return up, false, nil
	case err != nil:
		return up, false, backendError(err, bucket, "")
	}
	if json.Unmarshal(data, &up) != nil || up.Closed {
		return up, false, nil
	}
	return up, true, nil
}

// uploadKey is what a listing takes of an upload's record: its key and
// start, which never change.
type uploadKey struct {
	key       string
	initiated time.Time
}

// uploadKeys remembers, by bucket, the keys of the uploads the last
// listing of it saw, maxUploadKeysBytes of them at most.
type uploadKeys struct {
	mu      sync.Mutex
	buckets map[string]keyedUploads
	bytes   int
}

type keyedUploads struct {
	keys  map[string]uploadKey // replaced whole, never changed in place
	bytes int
}

// maxUploadKeysBytes bounds what uploadKeys holds: 12,000 uploads of
// 1 KiB keys in one bucket.
const maxUploadKeysBytes = 16 << 20

func (k *uploadKeys) of(bucket string) map[string]uploadKey {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.buckets[bucket].keys
}

func (k *uploadKeys) set(bucket string, keys map[string]uploadKey) {
	size := 0
	for id, key := range keys {
		size += len(id) + len(key.key) + 64
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.buckets == nil {
		k.buckets = map[string]keyedUploads{}
	}
	k.bytes -= k.buckets[bucket].bytes
	delete(k.buckets, bucket)
	if size > maxUploadKeysBytes {
		return // read whole by each listing
	}
	for other, held := range k.buckets {
		if k.bytes+size <= maxUploadKeysBytes {
			break
		}
		// Any other: a later listing of it reads its records again.
		k.bytes -= held.bytes
		delete(k.buckets, other)
	}
	k.buckets[bucket] = keyedUploads{keys: keys, bytes: size}
	k.bytes += size
}

// pageMembers returns the uploads a page answers with: its own, and for
// each common prefix the first of those it rolls up (one open upload
// under it is enough to list it).
func pageMembers(uploads []Upload, page ListMultipartUploadsResult) []Upload {
	members := slices.Clone(page.Uploads)
	for _, common := range page.CommonPrefixes {
		for _, u := range uploads {
			if strings.HasPrefix(u.Key, common.Prefix) {
				members = append(members, u)
				break
			}
		}
	}
	return members
}

// pageUploads takes a page of sorted uploads after the markers: with a
// delimiter, the keys that have it past the prefix roll up into one
// common prefix each, which counts as one entry and is not listed again
// after a key marker within it.
func pageUploads(uploads []Upload, prefix, delimiter, keyMarker string, limit int) ListMultipartUploadsResult {
	var out ListMultipartUploadsResult
	entries := 0
	lastPrefix := ""
	for _, u := range uploads {
		common := ""
		if delimiter != "" {
			if i := strings.Index(u.Key[len(prefix):], delimiter); i >= 0 {
				common = u.Key[:len(prefix)+i+len(delimiter)]
			}
		}
		if common != "" && (common == lastPrefix || keyMarker != "" && common <= keyMarker) {
			continue
		}
		if entries == limit {
			out.IsTruncated = limit > 0 // (none asked for: nothing to go on from)
			break
		}
		entries++
		if common != "" {
			lastPrefix = common
			out.CommonPrefixes = append(out.CommonPrefixes, CommonPrefix{Prefix: common})
			out.NextKeyMarker, out.NextUploadIDMarker = common, ""
			continue
		}
		out.Uploads = append(out.Uploads, u)
		out.NextKeyMarker, out.NextUploadIDMarker = u.Key, u.UploadID
	}
	if !out.IsTruncated {
		out.NextKeyMarker, out.NextUploadIDMarker = "", ""
	}
	return out
}

// partsReader reads an upload's parts one after another, opening each
// when the previous one ends.
type partsReader struct {
	ctx     context.Context
	backend Backend
	bucket  string
	id      string
	parts   []storedPart
	current io.ReadCloser
	// last, when set, runs before the last of the parts' bytes are given
	// (left of them): a body sent with its length is whole, and may be
	// committed, once its last byte is read. An error from it is the
	// read's.
	last func() error
	left int64
	// failed is the answer when a part went (an abort) or changed (its
	// upload again) while the parts were read: the write that read them
	// may have crossed to another node, and lost the error's kind.
	failed error
}

func (p *partsReader) Read(buf []byte) (int, error) {
	for {
		if p.current == nil {
			if len(p.parts) == 0 {
				if p.last != nil {
					if err := p.check(); err != nil {
						return 0, err
					}
				}
				return 0, io.EOF
			}
			body, meta, err := p.backend.Get(p.ctx, p.bucket, partName(p.id, p.parts[0].number), api.GetOptions{})
			if errors.Is(err, api.ErrNotFound) && !errors.Is(err, api.ErrBucketNotFound) {
				p.failed = noSuchUpload(p.id)
			}
			if err != nil {
				return 0, fmt.Errorf("read part %d: %w", p.parts[0].number, err)
			}
			if objectETag(meta) != p.parts[0].etag {
				body.Close()
				p.failed = ErrInvalidPart.WithMessage("part %d changed while the upload completed: complete it again with the part's new ETag", p.parts[0].number)
				return 0, p.failed
			}
			p.current, p.parts = body, p.parts[1:]
		}
		n, err := p.current.Read(buf)
		if p.left -= int64(n); n > 0 && p.left <= 0 && p.last != nil {
			if err := p.check(); err != nil {
				return 0, err
			}
		}
		if err == io.EOF {
			p.current.Close()
			p.current = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// check runs last, once.
func (p *partsReader) check() error {
	check := p.last
	p.last = nil
	err := check()
	if err != nil && p.failed == nil && errors.Is(err, ErrNoSuchUpload) {
		p.failed = err
	}
	return err
}

func (p *partsReader) Close() error {
	if p.current != nil {
		return p.current.Close()
	}
	return nil
}

// partsCount is the number of parts of a multipart object, 0 otherwise.
func partsCount(meta store.ObjectMeta) int { return len(partLayout(meta)) }

// partLayout is the sizes of a multipart object's parts, nil for another
// object. A record that does not add up to the object's size (metadata
// set by hand through the native API) is no layout.
func partLayout(meta store.ObjectMeta) []int64 {
	count, err := strconv.Atoi(meta.Custom[customParts])
	if err != nil || count < 1 {
		return nil
	}
	sizes, ok := partSizes(meta.Custom[customPartSizes], maxParts)
	if !ok || len(sizes) != count {
		return nil
	}
	total := int64(0)
	for _, size := range sizes {
		if size > meta.Size-total {
			return nil
		}
		total += size
	}
	if total != meta.Size {
		return nil
	}
	return sizes
}

// partRange is the byte range of part v of an object; an object not
// uploaded in parts has one part, itself.
func partRange(meta store.ObjectMeta, v string) (start, length int64, err error) {
	n, err := partNumber(v)
	if err != nil {
		return 0, 0, err
	}
	sizes := partLayout(meta)
	if sizes == nil {
		if n != 1 {
			return 0, 0, errInvalidPartNumber
		}
		return 0, meta.Size, nil
	}
	if n > len(sizes) {
		return 0, 0, errInvalidPartNumber
	}
	for _, size := range sizes[:n-1] {
		start += size
	}
	return start, sizes[n-1], nil
}

// sizeRuns writes the parts' sizes as runs: "8388608*12,1048576".
// completedCustom is the custom metadata of a completed upload's object:
// the upload's headers, the ETag, the parts and the upload; and the
// parts' sizes (for GETs by part number) when they fit beside the rest in
// what the store keeps (many runs of sizes and headers to the limit do
// not: the object is then one part to a GET).
func completedCustom(headers map[string]string, etag, id string, chosen []storedPart) map[string]string {
	custom := copyCustom(headers)
	custom[store.CustomETag] = etag
	custom[customParts] = strconv.Itoa(len(chosen))
	custom[customUpload] = id
	if runs := sizeRuns(chosen); len(runs) <= maxSizeRuns {
		sizes := strings.Join(runs, ",")
		if storedSize(custom)+len(customPartSizes)+len(sizes)+4 <= maxObjectCustom {
			custom[customPartSizes] = sizes
		}
	}
	return custom
}

// maxObjectCustom is the custom metadata, as storedSize counts it, that
// an object's metadata has room for beside its fixed fields (3 KiB in
// all, in store/fs).
const maxObjectCustom = 2880

func sizeRuns(parts []storedPart) []string {
	var runs []string
	for i := 0; i < len(parts); {
		j := i
		for j < len(parts) && parts[j].size == parts[i].size {
			j++
		}
		if j-i == 1 {
			runs = append(runs, strconv.FormatInt(parts[i].size, 10))
		} else {
			runs = append(runs, fmt.Sprintf("%d*%d", parts[i].size, j-i))
		}
		i = j
	}
	return runs
}

// partSizes reads what sizeRuns wrote, at most limit sizes.
func partSizes(runs string, limit int) ([]int64, bool) {
	var out []int64
	for run := range strings.SplitSeq(runs, ",") {
		value, repeat, hasRepeat := strings.Cut(run, "*")
		size, err := strconv.ParseInt(value, 10, 64)
		if err != nil || size < 0 {
			return nil, false
		}
		times := 1
		if hasRepeat {
			if times, err = strconv.Atoi(repeat); err != nil || times < 1 {
				return nil, false
			}
		}
		if times > limit-len(out) { // (not len+times: a huge times wraps)
			return nil, false
		}
		for range times {
			out = append(out, size)
		}
	}
	return out, true
}
