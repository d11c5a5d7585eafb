package s3

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/gateway/s3/sigv4"
	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/store"
)

func (s *Server) serveObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	q := r.URL.Query()
	if err := unservedSubresource(q, "acl", "tagging"); err != nil {
		return err
	}
	// One version of an object is kept, "null" in S3's terms: a request
	// for another must not act on it.
	if v, ok := q["versionId"]; ok && (len(v) != 1 || v[0] != nullVersion) {
		return ErrInvalidArgument.WithMessage("versionId %q: this bucket keeps one version of an object, \"null\"", strings.Join(v, ","))
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if q.Has("uploadId") && r.Method == http.MethodGet {
			return s.listParts(w, r, bucket, key)
		}
		if q.Has("acl") {
			return s.objectACL(w, r, bucket, key)
		}
		if q.Has("tagging") {
			return s.objectTagging(w, r, bucket, key)
		}
		if hasAny(q, "retention", "legal-hold", "torrent", "attributes") {
			return notImplemented("object configuration")
		}
		return s.getObject(w, r, bucket, key)
	case http.MethodPut:
		if q.Has("uploadId") || q.Has("partNumber") {
			return s.uploadPart(w, r, bucket, key)
		}
		if q.Has("acl") {
			return s.objectACL(w, r, bucket, key)
		}
		if q.Has("tagging") {
			return s.objectTagging(w, r, bucket, key)
		}
		if hasAny(q, "retention", "legal-hold") {
			return notImplemented("object configuration")
		}
		if r.Header.Get("x-amz-copy-source") != "" {
			return s.copyObject(w, r, bucket, key)
		}
		return s.putObject(w, r, bucket, key)
	case http.MethodDelete:
		if q.Has("uploadId") {
			return s.abortUpload(w, r, bucket, key)
		}
		if q.Has("acl") {
			return methodNotAllowed(r) // (no DeleteObjectAcl: not a delete of the object)
		}
		if q.Has("tagging") {
			return s.objectTagging(w, r, bucket, key)
		}
		// A delete only if the object is still the one the client saw
		// cannot be checked and done as one step here: refused rather
		// than taken unconditionally.
		for _, h := range []string{"If-Match", "x-amz-if-match-size", "x-amz-if-match-last-modified-time"} {
			if r.Header.Get(h) != "" {
				return notImplemented("a conditional DELETE (" + h + ")")
			}
		}
		err := s.config.Backend.Delete(r.Context(), bucket, key)
		if err != nil && !errors.Is(err, api.ErrNotFound) {
			return backendError(err, bucket, key)
		}
		if errors.Is(err, api.ErrNotFound) {
			// A missing key is deleted; a missing bucket is an error.
			if _, err := s.hidden().BucketProps(r.Context(), bucket); err != nil {
				return backendError(err, bucket, key)
			}
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodPost:
		switch {
		case q.Has("uploads"):
			return s.createUpload(w, r, bucket, key)
		case q.Has("uploadId"):
			return s.completeUpload(w, r, bucket, key)
		}
	}
	return methodNotAllowed(r)
}

// writeConditions reads S3's conditional writes, If-Match and
// If-None-Match (* or an ETag), of a PUT, a copy or a complete; the
// target checks them under the name's lock as it commits the object.
func writeConditions(r *http.Request) (ifMatch, ifNoneMatch string, err error) {
	var errMatch, errNoneMatch, errLines error
	ifMatch, errMatch = api.ParsePutCondition("If-Match", r.Header.Get("If-Match"))
	ifNoneMatch, errNoneMatch = api.ParsePutCondition("If-None-Match", r.Header.Get("If-None-Match"))
	for _, header := range []string{"If-Match", "If-None-Match"} {
		if lines := r.Header.Values(header); len(lines) > 1 {
			errLines = fmt.Errorf("%s on %d lines: a write takes * or one ETag", header, len(lines))
		}
	}
	if err := errors.Join(errMatch, errNoneMatch, errLines); err != nil {
		return "", "", ErrInvalidArgument.WithMessage("%v", err)
	}
	return ifMatch, ifNoneMatch, nil
}

// precheckWrite fails a conditional copy or complete before its bytes
// move when the key already rules it out; the store's check at commit is
// the one that counts (the key may change in between).
func (s *Server) precheckWrite(ctx context.Context, bucket, key string, opts api.PutOptions) error {
	if opts.IfMatch == "" && opts.IfNoneMatch == "" {
		return nil
	}
	meta, err := s.hidden().Head(ctx, bucket, key)
	exists := err == nil
	if err != nil && !errors.Is(err, api.ErrNotFound) {
		return backendError(err, bucket, key)
	}
	if err := store.CheckPutConditions(store.PutOptions{IfMatch: opts.IfMatch, IfNoneMatch: opts.IfNoneMatch}, key, exists, meta); err != nil {
		return backendError(err, bucket, key)
	}
	return nil
}

// putOptions are the native PUT options of an S3 write of a body (a PUT,
// a part): its metadata headers, its Content-MD5 checked by the target,
// an MD5 kept as the ETag; its x-amz-checksum-* headers are checked as the
// body is read.
func putOptions(r *http.Request, size int64) (api.PutOptions, error) {
	if err := sigv4.CheckHeaderChecksums(r); err != nil {
		return api.PutOptions{}, authError(err)
	}
	custom, err := StoredHeaders(r.Header)
	if err != nil {
		return api.PutOptions{}, err
	}
	opts := api.PutOptions{Size: size, Custom: custom, ETag: true}
	if opts.IfMatch, opts.IfNoneMatch, err = writeConditions(r); err != nil {
		return opts, err
	}
	// Present and empty is a bad digest (S3's InvalidDigest), not none.
	if vs := r.Header.Values("Content-MD5"); len(vs) > 0 {
		sum, err := ParseContentMD5(vs[0])
		if err != nil {
			return opts, err
		}
		opts.Checksum = store.Checksum{Type: store.ChecksumMD5, Value: hex.EncodeToString(sum)}
	}
	return opts, nil
}

// maxPutSize is S3's bound on an object written by one PUT (a bigger one
// is uploaded in parts), and on a part; a variable for the tests.
var maxPutSize int64 = 5 << 30

// limitBody refuses a body longer than limit, and bounds one of unknown
// length (chunked, or aws-chunked without x-amz-decoded-content-length)
// to it: its read fails past limit, and the write with it.
func limitBody(r *http.Request, limit int64, what string) (*cappedBody, error) {
	if r.ContentLength > limit {
		return nil, tooLarge(what, r.ContentLength, limit)
	}
	if r.ContentLength >= 0 {
		return nil, nil
	}
	capped := &cappedBody{ReadCloser: r.Body, left: limit}
	r.Body = capped
	return capped, nil
}

// cappedBody reads at most left bytes and fails if there are more.
type cappedBody struct {
	io.ReadCloser
	left     int64
	exceeded bool
}

func (c *cappedBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		n, err := c.ReadCloser.Read(one[:])
		if n > 0 {
			c.exceeded = true
			return 0, errors.New("s3: the body is longer than an object of one request may be")
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.ReadCloser.Read(p)
	c.left -= int64(n)
	return n, err
}

// tooLargeAfter is the answer to a write that failed: EntityTooLarge when
// its body went past the bound.
func tooLargeAfter(capped *cappedBody, err error, what string, limit int64) error {
	if capped != nil && capped.exceeded {
		return tooLarge(what, -1, limit)
	}
	return err
}

func tooLarge(what string, size, limit int64) error {
	if size < 0 {
		return ErrEntityTooLarge.WithMessage("%s is longer than %d bytes, the most one request writes; upload a bigger object in parts", what, limit)
	}
	return ErrEntityTooLarge.WithMessage("%s is %d bytes: at most %d in one request; upload a bigger object in parts", what, size, limit)
}

// lengthMissing reports an HTTP/1 request with a body of no length said:
// Go reads it as empty, and the bytes sent would be taken for the next
// request.
func lengthMissing(r *http.Request) bool {
	return r.ProtoMajor == 1 && len(r.TransferEncoding) == 0 && r.Header.Get("Content-Length") == ""
}

// missingLength answers a request lengthMissing: 411, and the connection
// closed after it (the bytes sent must not be read as a next request).
func missingLength(w http.ResponseWriter) error {
	w.Header().Set("Connection", "close")
	return ErrMissingContentLength
}

func (s *Server) putObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	capped, err := limitBody(r, maxPutSize, "PUT "+key)
	if err != nil {
		return err
	}
	opts, err := putOptions(r, r.ContentLength)
	if err != nil {
		return err
	}
	meta, err := s.config.Backend.Put(r.Context(), bucket, key, r.Body, opts)
	if err != nil {
		return tooLargeAfter(capped, backendError(err, bucket, key), "PUT "+key, maxPutSize)
	}
	w.Header().Set("ETag", QuoteETag(objectETag(meta)))
	w.WriteHeader(http.StatusOK)
	return nil
}

// objectETag is an object's S3 ETag, unquoted.
func objectETag(meta store.ObjectMeta) string {
	// The store's rule: the ETag a conditional PUT is checked against.
	return store.ETagOf(meta)
}

// lastModified is when the object was last written (the store's rule).
func lastModified(meta store.ObjectMeta) time.Time { return store.ModifiedOf(meta) }

// changedReads bounds the reads of an object overwritten between its
// metadata and its bytes: each is a request anew (its conditions checked
// again), then it is 503, to retry.
const changedReads = 3

// errChanged is a read whose bytes were of another version than its
// metadata: nothing was answered yet.
var errChanged = errors.New("s3: the object changed while it was read")

// getObject answers GET and HEAD: conditions, a range or a part, the
// stored headers and the response-* overrides. An object overwritten
// while it is read is read again, as S3 serves the current version.
func (s *Server) getObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	// The headers the answer had before (the node's security policy for
	// stored content among them) are what each read again starts from.
	before := w.Header().Clone()
	restore := func() { restoreHeaders(w.Header(), before) }
	for range changedReads - 1 {
		if err := s.getObjectOnce(w, r, bucket, key, before); !errors.Is(err, errChanged) {
			return err
		}
		restore()
	}
	err := s.getObjectOnce(w, r, bucket, key, before)
	if errors.Is(err, errChanged) {
		restore()
		w.Header().Set("Retry-After", "1")
		return ErrSlowDown.WithMessage("%s/%s is overwritten faster than it can be read; read it again", bucket, key)
	}
	return err
}

// restoreHeaders makes h what it was (before): the object's headers set
// for an answer that turns out to be an error go, the node's stay.
func restoreHeaders(h, before http.Header) {
	clear(h)
	maps.Copy(h, before)
}

func (s *Server) getObjectOnce(w http.ResponseWriter, r *http.Request, bucket, key string, before http.Header) error {
	ctx := r.Context()
	// A plain GET is one request to the target, its headers from the
	// answer; conditions, ranges and parts need the metadata first.
	var body io.ReadCloser
	var meta store.ObjectMeta
	var err error
	if plainGet(r) {
		body, meta, err = s.config.Backend.Get(ctx, bucket, key, api.GetOptions{})
		if err == nil {
			defer body.Close()
		}
	} else {
		meta, err = s.hidden().Head(ctx, bucket, key)
	}
	if err != nil {
		return backendError(err, bucket, key)
	}
	etag := objectETag(meta)
	if err := CheckConditions(r, QuoteETag(etag), lastModified(meta)); err != nil {
		var e *Error
		if errors.As(err, &e) && e.Status == http.StatusNotModified {
			// What a 200 would say of the copy's freshness (RFC 9110
			// 15.4.5), as S3 answers: caches keep their rules.
			h := w.Header()
			for _, name := range []string{"Cache-Control", "Expires"} {
				if value, ok := meta.Custom[customHeaderPrefix+strings.ToLower(name)]; ok {
					h.Set(name, value)
				}
			}
			h.Set("ETag", QuoteETag(etag))
			h.Set("Last-Modified", lastModified(meta).Format(http.TimeFormat))
			w.WriteHeader(http.StatusNotModified)
			return nil
		}
		return err
	}
	// The part or range first: an error answer carries none of the
	// object's headers.
	start, length, ranged := int64(0), meta.Size, false
	if r.URL.Query().Get("partNumber") != "" && r.Header.Get("Range") != "" {
		return ErrInvalidRequest.WithMessage("Cannot specify both Range header and partNumber query parameter")
	}
	if v := r.URL.Query().Get("partNumber"); v != "" {
		if start, length, err = partRange(meta, v); err != nil {
			return err
		}
		// A part is a range, the whole object's one too (206, as S3:
		// downloaders read the size from its Content-Range); an empty
		// last part has no byte range to name (bytes 5-4/5 is no
		// range): its answer is a whole, empty one.
		ranged = length > 0
	} else if spec := r.Header.Get("Range"); spec != "" && RangeHolds(r.Header.Get("If-Range"), etag, lastModified(meta)) {
		var ok bool
		start, length, ok, err = ParseRange(spec, meta.Size)
		if err != nil {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", meta.Size))
			return err
		}
		if !ok {
			start, length = 0, meta.Size
		}
		ranged = ok
	}
	h := w.Header()
	RestoreHeaders(h, meta.Custom)
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "binary/octet-stream") // S3's, for an object stored without one
	}
	h.Set("ETag", QuoteETag(etag))
	h.Set("Last-Modified", lastModified(meta).Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	if n := partsCount(meta); n > 0 && r.URL.Query().Has("partNumber") {
		// As S3: only for a request of a part.
		h.Set("x-amz-mp-parts-count", strconv.Itoa(n))
	}
	ApplyOverrides(h, r.URL.Query())
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	status := http.StatusOK
	if ranged {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+length-1, meta.Size))
		status = http.StatusPartialContent
	}
	if r.Method == http.MethodHead || length == 0 {
		w.WriteHeader(status)
		return nil
	}
	if body != nil {
		w.WriteHeader(status)
		copyBody(w, body)
		return nil
	}
	body, got, err := s.config.Backend.Get(ctx, bucket, key, api.GetOptions{Offset: start, Length: length})
	if errors.Is(err, api.ErrRange) {
		// The range held for the version headed: another, shorter, is
		// there now.
		restoreHeaders(h, before)
		return errChanged
	}
	if err != nil {
		restoreHeaders(h, before)
		return backendError(err, bucket, key)
	}
	defer body.Close()
	if got.Stamp != meta.Stamp || got.Checksum != meta.Checksum {
		// Overwritten between the HEAD and the GET: the headers sent
		// would not match the bytes.
		return errChanged
	}
	w.WriteHeader(status)
	copyBody(w, body)
	return nil
}

// plainGet reports a GET of a whole object without conditions.
func plainGet(r *http.Request) bool {
	if r.Method != http.MethodGet || r.Header.Get("Range") != "" || r.URL.Query().Has("partNumber") {
		return false
	}
	for _, h := range []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"} {
		if len(r.Header.Values(h)) > 0 {
			return false // a condition on any line, an empty first one too
		}
	}
	return true
}

// copyBody streams an object's bytes to the client.
func copyBody(w io.Writer, body io.Reader) {
	buf := pool.Get(pool.CopyBufferSize)
	defer pool.Put(buf)
	io.CopyBuffer(w, body, buf)
}

// copyObject copies an object, within a bucket or across buckets, with
// its metadata (COPY) or the request's (REPLACE).
func (s *Server) copyObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	srcBucket, srcKey, err := ParseCopySource(r.Header.Get("x-amz-copy-source"))
	if err != nil {
		return err
	}
	if err := refuseUnsupported(r.Header); err != nil {
		return err
	}
	directive := strings.ToUpper(r.Header.Get("x-amz-metadata-directive"))
	if directive != "" && directive != "COPY" && directive != "REPLACE" {
		return ErrInvalidArgument.WithMessage("x-amz-metadata-directive must be COPY or REPLACE")
	}
	if srcBucket == bucket && srcKey == key && directive != "REPLACE" {
		return ErrInvalidRequest.WithMessage("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	opts := api.PutOptions{ETag: true}
	if opts.IfMatch, opts.IfNoneMatch, err = writeConditions(r); err != nil {
		return err
	}
	ctx := r.Context()
	// The copy outlives a client that gives up (answerSlowly).
	body, src, err := s.config.Backend.Get(context.WithoutCancel(ctx), srcBucket, srcKey, api.GetOptions{})
	if err != nil {
		return backendError(err, srcBucket, srcKey)
	}
	defer body.Close()
	// As S3: a larger object is copied by parts (UploadPartCopy), which a
	// client can stop; one copy outlives its client.
	if src.Size > maxPutSize {
		return ErrInvalidRequest.WithMessage("The specified copy source is larger than the maximum allowable size for a copy source: 5368709120")
	}
	if err := CheckCopyConditions(r, QuoteETag(objectETag(src)), lastModified(src)); err != nil {
		return err
	}
	if err := s.precheckWrite(ctx, bucket, key, opts); err != nil {
		return err
	}
	opts.Size, opts.Custom = src.Size, copyCustom(src.Custom)
	if s.config.Reserved != nil {
		// The copy is the caller's object: not a dSort job's output (its
		// cleanup would take it) nor a remote's cached copy.
		maps.DeleteFunc(opts.Custom, func(k, _ string) bool { return s.config.Reserved(k) })
	}
	if directive == "REPLACE" {
		if opts.Custom, err = StoredHeaders(r.Header); err != nil {
			return err
		}
	}
	return s.answerSlowly(w, r, func(ctx context.Context) (any, error) {
		meta, err := s.config.Backend.Put(ctx, bucket, key, body, opts)
		if err != nil {
			return nil, backendError(err, bucket, key)
		}
		return CopyObjectResult{LastModified: FormatTime(lastModified(meta)), ETag: QuoteETag(objectETag(meta))}, nil
	})
}

// copyCustom is the metadata a copy keeps: the source's, without what
// describes its bytes (the ETag and parts, computed anew) or the upload
// that made them (a repeated Complete of it is the source's, not the
// copy's).
func copyCustom(custom map[string]string) map[string]string {
	out := make(map[string]string, len(custom))
	for k, v := range custom {
		if k != store.CustomETag && k != customParts && k != customPartSizes && k != customUpload {
			out[k] = v
		}
	}
	return out
}

// ParseCopySource reads x-amz-copy-source: "[/]bucket/key", URL-encoded.
// Authorization reads the source bucket with it, as the copy does.
func ParseCopySource(v string) (bucket, key string, err error) {
	v, version, versioned := strings.Cut(v, "?versionId=")
	if versioned && version != nullVersion {
		return "", "", ErrInvalidArgument.WithMessage("x-amz-copy-source version %q: this bucket keeps one version of an object, \"null\"", version)
	}
	decoded, err := url.PathUnescape(v)
	if err != nil {
		return "", "", ErrInvalidArgument.WithMessage("x-amz-copy-source is not URL-encoded correctly")
	}
	bucket, key, _ = strings.Cut(strings.TrimPrefix(decoded, "/"), "/")
	if bucket == "" || key == "" {
		return "", "", ErrInvalidArgument.WithMessage("x-amz-copy-source must be bucket/key")
	}
	if err := validateExistingBucket(bucket); err != nil {
		return "", "", err
	}
	if err := validateKey(key); err != nil {
		return "", "", err
	}
	return bucket, key, nil
}
