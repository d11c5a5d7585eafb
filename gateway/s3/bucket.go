package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/gateway/s3/sigv4"
)

// listPageProps are the object properties a listing asks the targets for.
const listPageProps = "name,size,atime,checksum,etag"

func (s *Server) listBuckets(w http.ResponseWriter, r *http.Request) error {
	buckets, err := s.config.Backend.ListBuckets(r.Context())
	if err != nil {
		return backendError(err, "", "")
	}
	out := ListAllMyBucketsResult{Owner: *owner()}
	for _, b := range buckets {
		if b.Provider != "" && b.Provider != "ais" {
			continue
		}
		out.Buckets = append(out.Buckets, Bucket{Name: b.Name, CreationDate: FormatTime(time.Unix(0, b.Created))})
	}
	WriteXML(w, http.StatusOK, out)
	return nil
}

func (s *Server) serveBucket(w http.ResponseWriter, r *http.Request, bucket string) error {
	ctx := r.Context()
	q := r.URL.Query()
	served := map[string][]string{
		http.MethodGet: {"location", "versioning", "versions", "acl"},
		http.MethodPut: {"acl"},
	}[r.Method]
	if err := unservedSubresource(q, served...); err != nil {
		return err
	}
	switch r.Method {
	case http.MethodHead:
		if _, err := s.config.Backend.BucketProps(ctx, bucket); err != nil {
			return backendError(err, bucket, "")
		}
		w.Header().Set(HeaderBucketRegion, s.config.Region)
		w.WriteHeader(http.StatusOK)
		return nil
	case http.MethodPut:
		if q.Has("acl") {
			if err := checkPrivateACL(r); err != nil {
				return err
			}
			if _, err := s.config.Backend.BucketProps(ctx, bucket); err != nil {
				return backendError(err, bucket, "")
			}
			w.WriteHeader(http.StatusOK)
			return nil
		}
		if hasAny(q, "versioning", "policy", "tagging", "cors", "lifecycle") {
			return notImplemented("bucket configuration")
		}
		if err := ValidateBucketName(bucket); err != nil {
			return err
		}
		if err := refuseUnsupported(r.Header); err != nil {
			return err
		}
		if err := s.checkBucketConfiguration(r); err != nil {
			return err
		}
		err := s.config.Backend.CreateBucket(ctx, bucket, nil)
		if errors.Is(err, api.ErrBucketExists) && s.config.Region == "us-east-1" {
			// As S3 answers there (its legacy region): a bucket made
			// again is made, so a setup script runs twice.
			err = nil
		}
		if err != nil {
			return backendError(err, bucket, "")
		}
		w.Header().Set("Location", "/"+bucket)
		w.WriteHeader(http.StatusOK)
		return nil
	case http.MethodDelete:
		return s.deleteBucket(w, r, bucket)
	case http.MethodPost:
		if q.Has("delete") {
			return s.deleteObjects(w, r, bucket)
		}
		return methodNotAllowed(r)
	case http.MethodGet:
	default:
		return methodNotAllowed(r)
	}
	if _, err := s.hidden().BucketProps(ctx, bucket); err != nil {
		return backendError(err, bucket, "")
	}
	switch {
	case q.Has("location"):
		region := s.config.Region
		if region == "us-east-1" {
			region = "" // as S3 answers for us-east-1
		}
		WriteXML(w, http.StatusOK, LocationConstraint{Location: region})
		return nil
	case q.Has("uploads"):
		return s.listUploads(w, r, bucket)
	case q.Has("versioning"):
		WriteXML(w, http.StatusOK, VersioningConfiguration{})
		return nil
	case q.Has("versions"):
		result, err := ListVersions(ctx, s.source(bucket), bucket, q)
		if err != nil {
			return backendError(err, bucket, "")
		}
		WriteXML(w, http.StatusOK, result)
		return nil
	case q.Has("acl"):
		WriteXML(w, http.StatusOK, privateACL())
		return nil
	case hasAny(q, "policy", "tagging", "cors", "lifecycle", "website", "encryption", "replication", "logging", "notification", "object-lock"):
		return notImplemented("bucket configuration")
	}
	req, err := ParseListRequest(q)
	if err != nil {
		return err
	}
	result, err := List(ctx, s.source(bucket), bucket, req)
	if err != nil {
		return backendError(err, bucket, "")
	}
	WriteXML(w, http.StatusOK, result)
	return nil
}

// deleteBucket removes an empty bucket (uploads in progress do not count,
// and go with it).
func (s *Server) deleteBucket(w http.ResponseWriter, r *http.Request, bucket string) error {
	if err := s.config.Backend.DestroyEmptyBucket(r.Context(), bucket, multipartPrefix); err != nil {
		return backendError(err, bucket, "")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// source lists a bucket through the native API, without the parts of
// multipart uploads.
func (s *Server) source(bucket string) Source {
	return func(ctx context.Context, prefix, startAfter string, limit int, oneLevel bool) ([]Entry, bool, error) {
		var out []Entry
		msg := api.ListObjectsMessage{Prefix: prefix, StartAfter: startAfter, PageSize: limit, Props: listPageProps}
		if oneLevel {
			// The targets roll the folders up: a page of folders costs
			// the page, not the objects in them.
			msg.Flags = api.ListNoRecursion
		}
		for {
			msg.StartAfter = startAfter
			page, err := s.config.Backend.ListObjects(ctx, bucket, msg)
			if err != nil {
				return nil, false, err
			}
			if len(page.Incomplete) > 0 {
				// S3 has no way to say a page is partial: a listing that
				// looks whole but is not would have a sync delete or
				// skip what the offline targets hold.
				return nil, false, fmt.Errorf("%w: target(s) %s could not be listed", api.ErrIncompleteListing, strings.Join(page.Incomplete, ", "))
			}
			for _, e := range page.Entries {
				if strings.HasPrefix(e.Name, multipartPrefix) {
					continue
				}
				if e.Flags&api.EntryIsDir != 0 {
					out = append(out, Entry{Key: e.Name, CommonPrefix: true})
					continue
				}
				out = append(out, Entry{Key: e.Name, Size: e.Size, ETag: QuoteETag(etagOf(e.ETag, e.Checksum)), LastModified: parseTime(e.Mtime, e.Atime)})
			}
			more := page.ContinuationToken != ""
			if len(out) > 0 || !more || len(page.Entries) == 0 {
				return out, more, nil
			}
			// A page of upload parts only: on past all of them at once
			// (any number of parts must not make a listing long). One
			// level goes on from their folder itself, which the targets
			// skip whole (past its name and U+10FFFF, a name under it
			// that goes on would bring the folder back, for good).
			next := max(page.Entries[len(page.Entries)-1].Name, multipartPrefix+string(utf8.MaxRune))
			if oneLevel {
				next = max(page.Entries[len(page.Entries)-1].Name, multipartPrefix)
			}
			if next <= startAfter {
				return nil, false, fmt.Errorf("s3: the listing of %s does not go on past %q", bucket, startAfter)
			}
			startAfter = next
		}
	}
}

// deleteObjects is the multi-object delete: every key is tried, each
// outcome reported (only failures when Quiet).
// maxDeleteObjects is the most keys one DeleteObjects names, as in S3.
const maxDeleteObjects = 1000

func (s *Server) deleteObjects(w http.ResponseWriter, r *http.Request, bucket string) error {
	// The keys are checked against the integrity header S3 requires of
	// this request (x-amz-checksum-*, or Content-MD5): a body changed on
	// its way would delete other keys.
	if err := sigv4.CheckHeaderChecksums(r); err != nil {
		return authError(err)
	}
	// Nothing says what the body is when its signature does not either
	// (an unsigned payload, chunks nobody verifies): S3 requires one.
	signed := s.config.Keys != nil && !isEmptyKeys(s.config.Keys)
	if r.Header.Get("Content-MD5") == "" && !sigv4.HasHeaderChecksum(r.Header) && !sigv4.PayloadChecked(r, signed) {
		return ErrInvalidRequest.WithMessage("Missing required header for this request: Content-MD5 or x-amz-checksum-* (the payload is unsigned)")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 2<<20+1))
	if err != nil {
		return backendError(err, bucket, "")
	}
	if len(body) > 2<<20 {
		// Before its digest, which covers what was read only.
		return ErrMaxMessageLengthExceeded.WithMessage("The Delete request is over 2 MiB.")
	}
	if vs := r.Header.Values("Content-MD5"); len(vs) > 0 {
		want, err := ParseContentMD5(vs[0])
		if err != nil {
			return err
		}
		if got := md5.Sum(body); !bytes.Equal(got[:], want) {
			return ErrBadDigest.WithMessage("The Content-MD5 you specified did not match what was received.")
		}
	}
	var req Delete
	if err := DecodeXML(bytes.NewReader(body), 2<<20, &req); err != nil {
		return err
	}
	if len(req.Objects) == 0 {
		return ErrMalformedXML.WithMessage("the Delete request names no object")
	}
	if len(req.Objects) > maxDeleteObjects {
		return ErrMalformedXML.WithMessage("the Delete request names %d objects, at most %d", len(req.Objects), maxDeleteObjects)
	}
	if _, err := s.hidden().BucketProps(r.Context(), bucket); err != nil {
		return backendError(err, bucket, "")
	}
	var out DeleteResult
	for _, o := range req.Objects {
		err := validateKey(o.Key)
		if unstorableKey(o.Key) && (o.VersionID == "" || o.VersionID == nullVersion) && o.ETag == "" && o.LastModifiedTime == "" && o.Size == "" {
			err = nil // none is here to delete: deleted, as S3 says of a missing key
			if !req.Quiet {
				out.Deleted = append(out.Deleted, Deleted{Key: o.Key})
			}
			continue
		}
		if err == nil && o.VersionID != "" && o.VersionID != nullVersion {
			err = ErrNoSuchVersion.WithMessage("version %q of %s: this bucket keeps one version of an object, \"null\"", o.VersionID, o.Key)
		}
		if err == nil && (o.ETag != "" || o.LastModifiedTime != "" || o.Size != "") {
			err = notImplemented("a conditional delete of " + o.Key)
		}
		if err == nil {
			err = s.config.Backend.Delete(r.Context(), bucket, o.Key)
			if errors.Is(err, api.ErrNotFound) {
				err = nil // S3 reports a missing key deleted
			}
		}
		if err != nil {
			var e *Error
			if !errors.As(backendError(err, bucket, o.Key), &e) {
				continue
			}
			out.Errors = append(out.Errors, DeleteError{Key: o.Key, Code: e.Code, Message: e.Message})
			continue
		}
		if !req.Quiet {
			out.Deleted = append(out.Deleted, Deleted{Key: o.Key})
		}
	}
	WriteXML(w, http.StatusOK, out)
	return nil
}

// subresources are the query keys by which S3 names what a request is
// about besides the bucket or object itself (its tags, its policy, ...).
// One a handler does not serve is refused (NotImplemented): falling
// through to the plain operation made DELETE ?tagging delete the object.
var subresources = []string{
	"accelerate", "acl", "analytics", "attributes", "cors", "encryption", "intelligent-tiering",
	"inventory", "legal-hold", "lifecycle", "location", "logging", "metrics", "notification",
	"object-lock", "ownershipControls", "policy", "policyStatus", "publicAccessBlock", "replication",
	"requestPayment", "restore", "retention", "select", "tagging", "torrent", "versioning", "versions",
	"website",
}

// parameters are the query keys the handlers read (or an SDK adds) that
// are not subresources.
var parameters = []string{
	"uploads", "delete", "uploadId", "partNumber", "versionId", "x-id",
	"list-type", "continuation-token", "delimiter", "encoding-type", "fetch-owner", "key-marker", "marker",
	"max-keys", "max-parts", "max-uploads", "part-number-marker", "prefix", "start-after",
	"upload-id-marker", "version-id-marker",
}

// unservedSubresource refuses a request naming a subresource other than
// those served: one of the list, or any other key given without a value
// (as S3's subresources are, and new ones keep coming: ?metadataTable,
// ?renameObject), which would otherwise fall through to the plain
// operation (DELETE ?metadataTable destroying the bucket).
func unservedSubresource(q map[string][]string, served ...string) error {
	for _, k := range subresources {
		if _, ok := q[k]; ok && !slices.Contains(served, k) {
			return ErrNotImplemented.WithMessage("?%s is not implemented", k)
		}
	}
	for k, values := range q {
		lower := strings.ToLower(k)
		if slices.Contains(subresources, k) || slices.Contains(parameters, k) || strings.HasPrefix(lower, "x-amz-") || strings.HasPrefix(lower, "response-") {
			continue
		}
		if !slices.ContainsFunc(values, func(v string) bool { return v != "" }) {
			return ErrNotImplemented.WithMessage("?%s is not implemented", k)
		}
	}
	return nil
}

func hasAny(q map[string][]string, keys ...string) bool {
	for _, k := range keys {
		if _, ok := q[k]; ok {
			return true
		}
	}
	return false
}

func notImplemented(what string) error {
	return ErrNotImplemented.WithMessage("%s is not implemented", what)
}

// etagOf is a listed object's ETag: its MD5 when it has one, else its
// checksum (store.ETagOf's rule, for a listing's fields).
func etagOf(md5, checksum string) string {
	if md5 != "" {
		return md5
	}
	return checksum
}

// parseTime reads the first of a listing's times (RFC 3339) that parses.
func parseTime(times ...string) time.Time {
	for _, s := range times {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t
		}
	}
	return time.Unix(0, 0).UTC()
}

func owner() *Owner { return &Owner{ID: "ais-go", DisplayName: "ais-go"} }

// VersioningConfiguration answers GET ?versioning: never enabled (S3
// versions are not kept).
type VersioningConfiguration struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ VersioningConfiguration"`
}

// createBucketConfiguration is CreateBucket's optional body.
type createBucketConfiguration struct {
	XMLName            xml.Name `xml:"CreateBucketConfiguration"`
	LocationConstraint string   `xml:"LocationConstraint"`
}

// checkBucketConfiguration reads a CreateBucket's body, if any: it must be
// a CreateBucketConfiguration of this cluster's region. An object's bytes
// there (a PutObject of a virtual-hosted client routed by path) are
// refused, not taken for a bucket's creation and dropped.
func (s *Server) checkBucketConfiguration(r *http.Request) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBucketConfiguration+1))
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	var config createBucketConfiguration
	if err := DecodeXML(bytes.NewReader(body), maxBucketConfiguration, &config); err != nil {
		return err
	}
	if c := config.LocationConstraint; c != "" && c != s.config.Region {
		return ErrIllegalLocationConstraint.WithMessage("the location constraint %q is not this cluster's region %q", c, s.config.Region)
	}
	return nil
}

// maxBucketConfiguration bounds a CreateBucket's body.
const maxBucketConfiguration = 64 << 10
