package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"iter"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/gateway/s3/sigv4"
	"github.com/aisgo/aisgo/internal/namelock"
	"github.com/aisgo/aisgo/store"
)

// Backend is the native API the S3 handlers translate to: *api.Client
// but for DestroyEmptyBucket, which the gateway does in process.
type Backend interface {
	ListBuckets(ctx context.Context) ([]api.BucketEntry, error)
	CreateBucket(ctx context.Context, bucket string, props any) error
	// DestroyEmptyBucket destroys a bucket that holds no object but those
	// whose names start with ignore, and fails with
	// store.ErrBucketNotEmpty otherwise; a write cannot be acknowledged
	// in between and lost.
	DestroyEmptyBucket(ctx context.Context, bucket, ignore string) error
	BucketProps(ctx context.Context, bucket string) (store.Props, error)
	ListObjects(ctx context.Context, bucket string, msg api.ListObjectsMessage) (*api.ListPage, error)
	ListAll(ctx context.Context, bucket string, msg api.ListObjectsMessage) iter.Seq2[api.ListEntry, error]
	Put(ctx context.Context, bucket, name string, body io.Reader, opts api.PutOptions) (store.ObjectMeta, error)
	Get(ctx context.Context, bucket, name string, opts api.GetOptions) (io.ReadCloser, store.ObjectMeta, error)
	Head(ctx context.Context, bucket, name string) (store.ObjectMeta, error)
	Delete(ctx context.Context, bucket, name string) error
}

// Config is what a Server needs.
type Config struct {
	Backend Backend
	// Hidden, when set, reads, lists and deletes the uploads' own objects
	// (records and parts), and reads what an operation checks first (a
	// key's metadata for its conditions, a bucket's existence), as the
	// node rather than as the caller: the S3 operation was authorized,
	// and what it does beneath needs other rights (a GET of the record,
	// or a HEAD, for a user who may only PUT). Writes stay the caller's
	// (a node's would be signed, body and all). Nil: Backend.
	Hidden Backend
	// Keys are the access keys requests must be signed with; none means
	// requests are not authenticated.
	Keys sigv4.Keys
	// Region is answered by GetBucketLocation; default us-east-1.
	Region string
	// Domains are the host names under which a request names its bucket
	// by the Host's first label (virtual-hosted style: BUCKET.DOMAIN, the
	// path its key); at any other host, the path names both.
	Domains []string
	Logger  *slog.Logger
	// Now is the clock signatures are checked against; default time.Now.
	Now func() time.Time
	// Authorize, when set, is asked about each authenticated request with
	// its bucket, key ("" for none) and the access key that signed it (""
	// when unsigned): an error wrapping api.ErrUnauthorized or
	// api.ErrForbidden refuses it; the request it returns (its context
	// carrying the caller) is served.
	Authorize func(r *http.Request, bucket, key, accessKey string) (*http.Request, error)
	// Gate, when set, may answer a request before anything else (true:
	// it did, with an error: a node not ready): counted as any other.
	Gate func(w http.ResponseWriter, r *http.Request) bool
	// Observe, when set, is told of each request: its operation
	// ("GET object", "PUT bucket"...), status and duration.
	Observe func(op string, status int, elapsed time.Duration)
	// Redact, when set, rewrites the message of each error answered
	// (the node's data directories out of a disk error's path).
	Redact func(message string) string
	// Reserved, when set, tells the metadata keys the node keeps for
	// itself: a CopyObject does not carry them to its copy.
	Reserved func(key string) bool
}

// Server serves the S3 API.
type Server struct {
	config Config
	logger *slog.Logger
	// completing holds the Completes running, by upload id.
	completing namelock.Locks
	// slowWrites bounds the long writes running (answerSlowly): each
	// copies a whole object, on after its client hangs up.
	slowWrites chan struct{}
	// instance tells this Server's marks on upload records from others'.
	instance string
	// uploadKeys are the keys of the uploads listings saw.
	uploadKeys uploadKeys
}

// maxSlowWrites is how many long writes (copies, Completes) a gateway runs
// at once; past it they are refused with SlowDown.
var maxSlowWrites = 256

// New returns a Server.
func New(config Config) *Server {
	if config.Region == "" {
		config.Region = "us-east-1"
	}
	if config.Now == nil {
		config.Now = time.Now
	}
	if config.Hidden == nil {
		config.Hidden = config.Backend
	}
	logger := config.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var instance [8]byte
	rand.Read(instance[:])
	return &Server{config: config, logger: logger, slowWrites: make(chan struct{}, maxSlowWrites), instance: hex.EncodeToString(instance[:])}
}

// hidden is the backend of the uploads' own objects (Config.Hidden).
func (s *Server) hidden() Backend { return s.config.Hidden }

// Handler serves S3 under prefix ("/s3", or "" for a port of its own).
func (s *Server) Handler(prefix string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, ok := strings.CutPrefix(r.URL.Path, prefix)
		// Signed as sent (Host and path); routed, and counted, with the
		// bucket in front.
		if bucket := s.virtualBucket(r); ok && bucket != "" {
			path = "/" + bucket + path
		}
		if s.config.Observe != nil {
			start, recorder := time.Now(), &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			w = recorder
			defer func() { s.config.Observe(operation(r, path), recorder.status, time.Since(start)) }()
		}
		if s.config.Gate != nil && s.config.Gate(w, r) {
			return
		}
		id := NewRequestID()
		w.Header().Set("x-amz-request-id", id)
		w.Header().Set("Server", "AIS-Go")
		if !ok {
			WriteError(w, r, ErrInvalidRequest.WithMessage("not an S3 path"), id)
			return
		}
		if (r.Method == http.MethodPut || r.Method == http.MethodPost) && lengthMissing(r) {
			// Read as empty (what many clients mean: a multipart upload's
			// start, a copy), but any bytes sent after must not be read as
			// a next request. An object's or a part's own body is refused
			// whatever else is wrong with it.
			w.Header().Set("Connection", "close")
			if bodyOfData(r, path) {
				WriteError(w, r, missingLength(w), id)
				return
			}
		}
		accessKey, err := s.authenticate(r)
		if err != nil {
			WriteError(w, r, err, id)
			return
		}
		if s.config.Authorize != nil {
			bucket, key, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
			authorized, err := s.config.Authorize(r, bucket, key, accessKey)
			if err != nil {
				WriteError(w, r, accessError(err), id)
				return
			}
			r = authorized
		}
		if err := s.serve(w, r, strings.TrimPrefix(path, "/")); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				err = backendError(err, "", "")
			}
			WriteError(w, r, s.redacted(err), id)
		}
	})
}

// redacted is an error answer with its message redacted.
func (s *Server) redacted(err error) error {
	var e *Error
	if s.config.Redact == nil || !errors.As(err, &e) {
		return err
	}
	answer := *e
	answer.Message = s.config.Redact(answer.Message)
	return &answer
}

// authenticate checks the request's signature when keys are configured,
// and replaces its body by the decoded payload (aws-chunked framing
// stripped, checksums checked as it is read).
func (s *Server) authenticate(r *http.Request) (accessKey string, err error) {
	defer dropChunkedEncoding(r.Header)
	// After the signature is checked (it covers the query as sent).
	defer presignedHeaders(r)
	if s.config.Keys != nil && !isEmptyKeys(s.config.Keys) {
		verified, err := sigv4.Verify(r, s.config.Keys, s.config.Now())
		if err != nil {
			return "", authError(err)
		}
		// A request signed for another region (another cluster that
		// shares the keys) is not for this one, as S3 answers.
		if verified.Region != s.config.Region {
			if verified.Presigned {
				return "", ErrAuthorizationQueryParameters.WithMessage("Error parsing the X-Amz-Credential parameter; the region '%s' is wrong; expecting '%s'", verified.Region, s.config.Region).WithRegion(s.config.Region)
			}
			return "", ErrAuthorizationHeaderMalformed.WithMessage("The authorization header is malformed; the region '%s' is wrong; expecting '%s'", verified.Region, s.config.Region).WithRegion(s.config.Region)
		}
		return verified.AccessKey, nil
	}
	body, length, err := sigv4.DecodeBody(r)
	if err != nil {
		return "", authError(err)
	}
	// The decoded length, or -1: the framed length on the wire is not
	// the payload's.
	r.Body, r.ContentLength = body, length
	return "", nil
}

// presignedHeaders takes the x-amz-* parameters of a presigned URL's
// query as the headers they stand for, as S3 does (presigners move
// headers there): a checksum, metadata or an ACL signed into the URL is
// checked, kept or refused as the header would be, not dropped. A header
// sent as well wins.
func presignedHeaders(r *http.Request) {
	q := r.URL.Query()
	if !q.Has("X-Amz-Signature") {
		return
	}
	for k, values := range q {
		switch lower := strings.ToLower(k); {
		case !strings.HasPrefix(lower, "x-amz-") || len(values) == 0:
		case lower == "x-amz-algorithm" || lower == "x-amz-credential" || lower == "x-amz-date" ||
			lower == "x-amz-expires" || lower == "x-amz-signedheaders" || lower == "x-amz-signature",
			lower == "x-amz-content-sha256" || lower == "x-amz-decoded-content-length",
			lower == "x-amz-security-token":
			// The signature's own, or the body's framing: a presigned
			// body is unsigned. The session token stays in the query,
			// taken only where the URL's signature was checked.
		default:
			if r.Header.Get(k) == "" {
				r.Header.Set(k, values[0])
			}
		}
	}
}

// isEmptyKeys reports a key set with no key: a static one, or one that
// says so.
func isEmptyKeys(keys sigv4.Keys) bool {
	switch k := keys.(type) {
	case sigv4.StaticKeys:
		return len(k) == 0
	case interface{ Empty() bool }:
		return k.Empty()
	}
	return false
}

// authError turns a sigv4 error into an S3 error.
func authError(err error) error {
	var e *sigv4.Error
	if errors.As(err, &e) {
		return &Error{Code: e.Code, Message: e.Message, Status: e.Status}
	}
	return ErrAccessDenied.WithMessage("%v", err)
}

// accessError turns a refused token into S3's AccessDenied: 401 for a
// missing or bad token, 403 for a missing permission.
func accessError(err error) error {
	// A request the check could not read (a malformed copy source) is
	// the request's error, not a permission's.
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	status := http.StatusForbidden
	if errors.Is(err, api.ErrUnauthorized) {
		status = http.StatusUnauthorized
	}
	return &Error{Code: ErrAccessDenied.Code, Status: status, Message: err.Error()}
}

// virtualBucket is the bucket a virtual-hosted request names by its
// Host (BUCKET.DOMAIN[:PORT], the longest of Config.Domains that
// matches), or "": a domain itself is a path-style client's endpoint.
func (s *Server) virtualBucket(r *http.Request) string {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	bucket := ""
	for _, domain := range s.config.Domains {
		domain = strings.ToLower(domain)
		if host == domain {
			return "" // the endpoint itself: path style
		}
		if b, ok := strings.CutSuffix(host, "."+domain); ok && (bucket == "" || len(b) < len(bucket)) {
			bucket = b
		}
	}
	if bucket == "" || ValidateBucketName(bucket) != nil {
		return ""
	}
	// Whether or not it exists: a missing one by host answers
	// NoSuchBucket, never acts on a bucket the path's first segment
	// names (a PUT of photos/x.jpg into bucket photos).
	return bucket
}

// serve routes a request by path (BUCKET[/KEY]) and method.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, path string) error {
	if path == "" {
		if r.Method != http.MethodGet {
			return methodNotAllowed(r)
		}
		return s.listBuckets(w, r)
	}
	bucket, key, _ := strings.Cut(path, "/")
	// S3's naming rules hold for a bucket made here (CreateBucket); one
	// made through the native API may use more (ListBuckets shows it).
	if err := validateExistingBucket(bucket); err != nil {
		return err
	}
	if key == "" {
		return s.serveBucket(w, r, bucket)
	}
	if unstorableKey(key) && (plainAccess(r) || r.URL.Query().Has("uploadId") && r.Method != http.MethodPut) {
		return s.absentKey(w, r, bucket, key)
	}
	if err := validateKey(key); err != nil {
		return err
	}
	return s.serveObject(w, r, bucket, key)
}

// unstorableKey tells a key this store cannot keep (an empty, "." or ".."
// segment: "dir/", "a//b"), which no object has: a read of it is not
// found and a delete is done, as of any missing key (s3fs probes "dir/"
// at every lookup; boto3 deletes "folder/"). A write of it is refused.
func unstorableKey(key string) bool {
	return len(key) <= 1024 && !strings.HasPrefix(key, multipartPrefix) && store.ValidateName(key) != nil
}

// plainAccess tells a GET, HEAD or DELETE of an object with no
// subresource, version or condition: one whose answer of a missing key is the same
// whatever it asks (a version, a subresource, a condition are checked as
// they are of any key).
func plainAccess(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodDelete:
	default:
		return false
	}
	// (The SDK's x-id, response-* overrides and presigned URLs' own
	// parameters ask nothing of the object.)
	q := r.URL.Query()
	if v := q["versionId"]; len(v) > 0 && (len(v) > 1 || v[0] != nullVersion) {
		return false
	}
	if hasAny(q, "uploadId", "uploads", "partNumber", "tagging", "acl", "attributes", "retention", "legal-hold", "torrent", "restore", "select") {
		return false
	}
	// A read's conditions are of an object there: none is, 404 as of
	// any missing key. A delete's are checked as of any key.
	if r.Method == http.MethodDelete {
		for _, h := range []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"} {
			if r.Header.Get(h) != "" {
				return false
			}
		}
	}
	return true
}

// absentKey answers a read or delete of an unstorable key, once its
// bucket is known to exist.
func (s *Server) absentKey(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	if _, err := s.hidden().BucketProps(r.Context(), bucket); err != nil {
		return backendError(err, bucket, "")
	}
	switch {
	case r.URL.Query().Has("uploadId"):
		return ErrNoSuchUpload.WithMessage("no upload of %q", key)
	case r.Method == http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return ErrNoSuchKey.WithMessage("no object %q: this store keeps no key with an empty, . or .. segment", key).WithResource("/" + bucket + "/" + key)
}

// validateExistingBucket refuses a name no bucket can have.
func validateExistingBucket(name string) error {
	if err := store.NewBucket(name).Validate(); err != nil {
		return ErrInvalidBucketName.WithMessage("bucket name %q: %v", name, err).WithResource(name)
	}
	return nil
}

// validateKey refuses keys the store cannot keep, and the reserved prefix
// (and its directory: an object there would keep every upload out).
func validateKey(key string) error {
	if len(key) > 1024 {
		return ErrKeyTooLong.WithMessage("the key is %d bytes, at most 1024", len(key))
	}
	if strings.HasPrefix(key, multipartPrefix) || key == strings.TrimSuffix(multipartPrefix, "/") {
		return ErrInvalidArgument.WithMessage("keys under %s are reserved for multipart uploads", multipartPrefix)
	}
	if err := store.ValidateName(key); err != nil {
		return ErrInvalidArgument.WithMessage("this store cannot keep the key: %v", err)
	}
	return nil
}

func methodNotAllowed(r *http.Request) error {
	return ErrMethodNotAllowed.WithMessage("%s is not allowed on %s", r.Method, r.URL.Path)
}

// backendError maps a native API error to S3's.
func backendError(err error, bucket, key string) error {
	var e *Error
	var body *sigv4.Error // the body's check, failed while it was sent on
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &body):
		return &Error{Code: body.Code, Message: body.Message, Status: body.Status}
	case errors.Is(err, api.ErrBucketNotFound):
		return ErrNoSuchBucket.WithResource(bucket)
	case errors.Is(err, store.ErrBucketNotEmpty):
		return ErrBucketNotEmpty.WithMessage("%v", err).WithResource(bucket)
	case errors.Is(err, api.ErrNotFound):
		return ErrNoSuchKey.WithResource(key)
	case errors.Is(err, api.ErrPreconditionFailed):
		return ErrPreconditionFailed.WithMessage("%v", err).WithResource(key)
	case errors.Is(err, api.ErrConflict):
		return ErrKeyConflict.WithMessage("%v", err).WithResource(key)
	case errors.Is(err, api.ErrBucketExists):
		return ErrBucketAlreadyOwnedByYou.WithResource(bucket)
	case errors.Is(err, api.ErrBadChecksum):
		return ErrBadDigest.WithMessage("The Content-MD5 you specified did not match what we received: %v", err)
	case errors.Is(err, store.ErrSizeMismatch):
		return ErrIncompleteBody.WithMessage("%v", err)
	case errors.Is(err, api.ErrNoSpace):
		return ErrServiceUnavailable.WithMessage("%v", err)
	case errors.Is(err, api.ErrUnavailable), errors.Is(err, api.ErrNoQuorum), errors.Is(err, store.ErrBucketSealed), errors.Is(err, store.ErrBucketBehind), errors.Is(err, store.ErrPlacementChanged), errors.Is(err, store.ErrUnreached):
		return ErrServiceUnavailable.WithMessage("%v", err)
	case errors.Is(err, api.ErrInvalidName), errors.Is(err, api.ErrBadRequest):
		return ErrInvalidArgument.WithMessage("%v", err)
	case errors.Is(err, api.ErrForbidden), errors.Is(err, api.ErrUnauthorized):
		return ErrAccessDenied.WithMessage("%v", err).WithResource(key)
	case errors.Is(err, api.ErrRange):
		return ErrInvalidRange.WithMessage("%v", err).WithResource(key)
	case errors.Is(err, store.ErrInvalidProps):
		return ErrInvalidArgument.WithMessage("%v", err)
	case errors.Is(err, api.ErrNotImplemented):
		return ErrNotImplemented.WithMessage("%v", err)
	case errors.Is(err, context.Canceled), errors.Is(err, api.ErrSlowBody):
		return &Error{Code: "RequestTimeout", Message: err.Error(), Status: http.StatusBadRequest}
	case errors.Is(err, api.ErrBodyCut):
		return ErrIncompleteBody.WithMessage("%v", err)
	}
	return ErrInternalError.WithMessage("%v", err)
}

// dropChunkedEncoding removes aws-chunked from Content-Encoding once the
// body is decoded: it describes the transfer, not the object.
func dropChunkedEncoding(h http.Header) {
	v := h.Get("Content-Encoding")
	if v == "" {
		return
	}
	var kept []string
	for part := range strings.SplitSeq(v, ",") {
		if part = strings.TrimSpace(part); part != "" && !strings.EqualFold(part, "aws-chunked") {
			kept = append(kept, part)
		}
	}
	if len(kept) == 0 {
		h.Del("Content-Encoding")
		return
	}
	h.Set("Content-Encoding", strings.Join(kept, ","))
}

// statusRecorder keeps the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// ReadFrom keeps the server's own copy (sendfile) for object bodies.
func (r *statusRecorder) ReadFrom(src io.Reader) (int64, error) {
	return io.Copy(r.ResponseWriter, src)
}

// Unwrap gives http.ResponseController the writer below.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Operations are the operations (see operation) S3 clients use: their
// error series exist from the start, so that a first 5xx shows as an
// increase.
var Operations = []string{
	"GET service", "HEAD bucket", "GET bucket", "PUT bucket", "DELETE bucket", "POST bucket",
	"HEAD object", "GET object", "PUT object", "DELETE object",
	"POST object multipart", "PUT object multipart", "GET object multipart", "DELETE object multipart", "GET bucket multipart",
}

// operation names a request for metrics: its method and what it is on
// (service, bucket or object; multipart requests apart), never a name.
func operation(r *http.Request, path string) string {
	path = strings.TrimPrefix(path, "/")
	resource := "service"
	if bucket, key, _ := strings.Cut(path, "/"); key != "" {
		resource = "object"
	} else if bucket != "" {
		resource = "bucket"
	}
	q := r.URL.Query()
	if q.Has("uploadId") || q.Has("uploads") {
		resource += " multipart"
	}
	method := r.Method
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete:
	default:
		method = "OTHER"
	}
	return method + " " + resource
}

// bodyOfData reports a request whose body is an object's or a part's
// bytes: a PUT of a key, not a copy, not of a sub-resource but a part.
func bodyOfData(r *http.Request, path string) bool {
	_, key, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if r.Method != http.MethodPut || key == "" || r.Header.Get("x-amz-copy-source") != "" {
		return false
	}
	// The bytes unless it names a sub-resource (?tagging, ?acl, ...):
	// a presigned URL's parameters are many (X-Amz-*, x-id, checksums,
	// SigV2's), and each has a value.
	for name, values := range r.URL.Query() {
		switch strings.ToLower(name) {
		case "acl", "tagging", "retention", "legal-hold", "torrent", "attributes", "restore", "select", "object-lock":
			return false
		}
		if len(values) == 1 && values[0] == "" && name != "uploadId" && name != "partNumber" {
			return false
		}
	}
	return true
}
