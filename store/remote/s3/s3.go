package s3

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/aisgo/aisgo/internal/egress"
	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/remote"
)

// defaultRegion is the region when neither the bucket nor the SDK's
// configuration names one (S3-compatible servers take any).
const defaultRegion = "us-east-1"

// Backends makes and keeps one client per endpoint, region and addressing.
type Backends struct {
	mu      sync.Mutex
	clients map[store.AWSProps]*Backend
	// failed keeps a setup that failed for failedFor: each cold GET of a
	// bucket whose credentials cannot be had (an instance metadata server
	// that does not answer) would wait for the setup's 10s again.
	failed map[store.AWSProps]failure
	builds singleflight.Group
	// build makes a client (newBackend; a test's stand-in).
	build func(context.Context, store.AWSProps) (*Backend, error)
}

type failure struct {
	err   error
	until time.Time
}

// failedFor is how long a client setup that failed is not tried again.
const failedFor = 10 * time.Second

// NewBackends returns an empty set of clients.
//
// control checks each connection to an endpoint a bucket's props name (a
// user's choice: it must not reach the node's own, its peers' or a cloud
// metadata service's addresses); nil checks none. The operator's endpoint
// (AWS_ENDPOINT_URL, or AWS itself) is not checked.
func NewBackends(route egress.Route) *Backends {
	return &Backends{clients: map[store.AWSProps]*Backend{}, failed: map[store.AWSProps]failure{},
		build: func(ctx context.Context, settings store.AWSProps) (*Backend, error) {
			return newBackend(ctx, settings, route)
		}}
}

// Resolve is a remote.Resolver: the backend of a bucket by its props. A
// client is made once for all that ask meanwhile, without holding those
// that ask for clients made already.
func (bs *Backends) Resolve(ctx context.Context, b store.Bucket, props store.Props) (remote.Backend, error) {
	if p := b.Normalize().Provider; p != store.ProviderAWS {
		return nil, fmt.Errorf("%w: provider %q has no backend", store.ErrInvalidName, p)
	}
	settings := props.AWS()
	bs.mu.Lock()
	be, ok := bs.clients[settings]
	f, failed := bs.failed[settings]
	bs.mu.Unlock()
	switch {
	case ok:
		return be, nil
	case failed && time.Now().Before(f.until):
		return nil, f.err
	}
	key := fmt.Sprintf("%q %q %v %d", settings.Endpoint, settings.Region, settings.PathStyle, settings.MultipartSize)
	made, err, _ := bs.builds.Do(key, func() (any, error) {
		be, err := bs.build(context.WithoutCancel(ctx), settings)
		bs.mu.Lock()
		defer bs.mu.Unlock()
		if err != nil {
			bs.failed[settings] = failure{err: err, until: time.Now().Add(failedFor)}
			return nil, err
		}
		delete(bs.failed, settings)
		bs.clients[settings] = be
		return be, nil
	})
	if err != nil {
		return nil, err
	}
	return made.(*Backend), nil
}

// Backend is one S3 client.
type Backend struct {
	client *awss3.Client
	where  string // the endpoint, for errors
	// multipartSize is the bucket's extra.aws.multipart_size (0: parts
	// only past maxSinglePut).
	multipartSize int64
}

func newBackend(ctx context.Context, settings store.AWSProps, route egress.Route) (*Backend, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	options := []func(*config.LoadOptions) error{}
	if settings.Region != "" {
		options = append(options, config.WithRegion(settings.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, options...)
	if err != nil {
		return nil, fmt.Errorf("%w: S3 credentials and settings: %w", remote.ErrUnavailable, err)
	}
	if cfg.Region == "" {
		cfg.Region = defaultRegion
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("%w: no S3 credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile): %w", remote.ErrUnavailable, err)
	}
	endpoint := settings.Endpoint
	if endpoint == "" {
		endpoint = aws.ToString(cfg.BaseEndpoint) // AWS_ENDPOINT_URL
	}
	client := awss3.NewFromConfig(cfg, func(o *awss3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		if settings.Endpoint != "" && route.DialContext != nil {
			o.HTTPClient = checkedClient(route)
		}
		// A server named by its address cannot take the bucket in the
		// host name.
		o.UsePathStyle = settings.PathStyle || addressedByIP(endpoint)
		// Checksums only when an operation needs them: S3-compatible
		// servers differ in what they accept.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	where := endpoint
	if where == "" {
		where = "AWS S3 (" + cfg.Region + ")"
	}
	return &Backend{client: client, where: where, multipartSize: int64(settings.MultipartSize)}, nil
}

// checkedClient is the HTTP client of an endpoint a bucket's props name:
// its connections (through the environment's proxy too) as route makes
// them, headers and error answers bounded (the SDK reads an error's body
// whole).
func checkedClient(route egress.Route) *http.Client {
	return &http.Client{Transport: boundedErrors{&http.Transport{Proxy: route.Proxy, DialContext: route.DialContext,
		MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second, ResponseHeaderTimeout: time.Minute, MaxResponseHeaderBytes: 64 << 10,
		// (A stalled handshake is outside ResponseHeaderTimeout.)
		TLSHandshakeTimeout: 10 * time.Second, ExpectContinueTimeout: time.Second}}}
}

// boundedErrors cuts the body of an error answer at 64 KiB, and of a
// listing or an answer to a write at maxListingPage: only an object's
// body (a GET) is read whole.
type boundedErrors struct{ http.RoundTripper }

func (t boundedErrors) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.RoundTripper.RoundTrip(req)
	limit := int64(-1)
	switch {
	case err != nil:
	case resp.StatusCode >= 300:
		limit = 64 << 10
	case req.URL.Query().Has("list-type"):
		// A page of 1000 keys of 1 KiB is 2 MiB of XML: an endpoint
		// streaming one without end is cut, not decoded into memory.
		limit = maxListingPage
	case req.Method != http.MethodGet:
		// The SDK reads a write's answer to its end (a 200 may carry an
		// error): one without end from a broken endpoint would grow in
		// memory, the name's write lock held, for as long.
		limit = maxListingPage
	}
	if limit >= 0 {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(resp.Body, limit), resp.Body}
	}
	return resp, err
}

// maxListingPage bounds the answer of a listing request.
const maxListingPage = 16 << 20

// classify maps S3's errors to the store's and names the remote.
func (be *Backend) classify(err error, b store.Bucket, name string) error {
	var api smithy.APIError
	isAPI := errors.As(err, &api)
	if isAPI {
		switch api.ErrorCode() {
		case "NoSuchBucket":
			return fmt.Errorf("remote bucket %s at %s: %w", b, be.where, store.ErrBucketNotFound)
		case "NoSuchKey", "NotFound":
			if name == "" {
				return fmt.Errorf("remote bucket %s at %s: %w", b, be.where, store.ErrBucketNotFound)
			}
			return fmt.Errorf("%s/%s at %s: %w", b, name, be.where, store.ErrNotFound)
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled", "AccountProblem", "InvalidToken", "ExpiredToken":
			// The credentials: asking again does not help.
			return fmt.Errorf("%w: %s at %s: %s: %s", store.ErrRemoteForbidden, b, be.where, api.ErrorCode(), api.ErrorMessage())
		case "RequestTimeout", "OperationAborted", "RequestTimeTooSkewed", "SlowDown", "ServiceUnavailable", "InternalError":
			// A 4xx that asking again (later, or with a clock set right)
			// may pass.
			return fmt.Errorf("%w: %s at %s: %s: %s", remote.ErrUnavailable, b, be.where, api.ErrorCode(), api.ErrorMessage())
		}
	}
	// An answer without a body (a HEAD's) has its code named after the
	// status ("Forbidden", "BadRequest"), and one whose body is not S3's
	// XML (a proxy's HTML page) is no APIError: the status decides.
	var resp *smithyhttp.ResponseError
	if canceled := errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded); canceled && !isAPI {
		return err
	}
	if errors.As(err, &resp) {
		what := err.Error()
		if isAPI {
			what = api.ErrorCode() + ": " + api.ErrorMessage()
		}
		if status := resp.HTTPStatusCode(); status == http.StatusNotFound {
			if name == "" {
				return fmt.Errorf("remote bucket %s at %s: %w", b, be.where, store.ErrBucketNotFound)
			}
			return fmt.Errorf("%s/%s at %s: %w", b, name, be.where, store.ErrNotFound)
		} else if refusedForGood(status) {
			return fmt.Errorf("%w: %s at %s: %s", store.ErrRemoteForbidden, b, be.where, what)
		}
		return fmt.Errorf("%w: %s at %s: %s", remote.ErrUnavailable, b, be.where, what)
	}
	if isAPI {
		return fmt.Errorf("%w: %s at %s: %s: %s", remote.ErrUnavailable, b, be.where, api.ErrorCode(), api.ErrorMessage())
	}
	return fmt.Errorf("%w: %s at %s: %w", remote.ErrUnavailable, b, be.where, err)
}

// refusedForGood reports a remote's answer that asking again does not
// change: a 4xx but a timeout or a throttle, S3's 301 (the bucket is in
// another region), or a 501 or 505 (a server without the operation: an
// S3-compatible one without multipart). A 503 would have clients retry
// it without end.
func refusedForGood(status int) bool {
	return status == http.StatusMovedPermanently || status == http.StatusNotImplemented || status == http.StatusHTTPVersionNotSupported ||
		status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests
}

func attrsOf(name string, size *int64, etag, version *string, modified *time.Time) remote.ObjectAttrs {
	// No length (a GET answered chunked) is unknown, not empty.
	a := remote.ObjectAttrs{Name: name, Size: -1, ETag: strings.Trim(aws.ToString(etag), `"`), Version: aws.ToString(version)}
	if size != nil {
		a.Size = *size
	}
	if modified != nil {
		a.Modified = *modified
	}
	return a
}

func (be *Backend) HeadBucket(ctx context.Context, b store.Bucket) error {
	_, err := be.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(b.Name)})
	if err != nil {
		return be.classify(err, b, "")
	}
	return nil
}

func (be *Backend) HeadObject(ctx context.Context, b store.Bucket, name string) (remote.ObjectAttrs, error) {
	out, err := be.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(b.Name), Key: aws.String(name)})
	if err != nil {
		return remote.ObjectAttrs{}, be.classify(err, b, name)
	}
	attrs := attrsOf(name, out.ContentLength, out.ETag, out.VersionId, out.LastModified)
	attrs.Metadata = out.Metadata
	return attrs, nil
}

func (be *Backend) GetObject(ctx context.Context, b store.Bucket, name string) (io.ReadCloser, remote.ObjectAttrs, error) {
	out, err := be.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(b.Name), Key: aws.String(name)}, askChecksum)
	if err != nil {
		return nil, remote.ObjectAttrs{}, be.classify(err, b, name)
	}
	attrs := attrsOf(name, out.ContentLength, out.ETag, out.VersionId, out.LastModified)
	attrs.ETagNotMD5 = etagNotMD5(out.ServerSideEncryption, out.SSECustomerAlgorithm)
	attrs.Metadata = out.Metadata
	if out.ChecksumType != types.ChecksumTypeComposite {
		attrs.Checksum = fullChecksum(out.ChecksumCRC32C, out.ChecksumCRC32, out.ChecksumCRC64NVME, out.ChecksumSHA256)
	}
	return out.Body, attrs, nil
}

// askChecksum has S3 answer a GET with the checksum it keeps of the
// object. The header is set by hand, not by GetObjectInput.ChecksumMode,
// which would have the SDK check the body too: the store checks it as it
// writes the cached copy, once.
func askChecksum(o *awss3.Options) {
	o.APIOptions = append(o.APIOptions, smithyhttp.AddHeaderValue("x-amz-checksum-mode", "ENABLED"))
}

// fullChecksum is the cheapest to check of the whole-object checksums S3
// gave (base64, big-endian), as a store checksum; empty when it gave
// none, or only a checksum of parts ("...-N").
func fullChecksum(crc32c, crc32, crc64nvme, sha256 *string) store.Checksum {
	for _, c := range []struct {
		typ   string
		value *string
		size  int
	}{{store.ChecksumCRC32C, crc32c, 4}, {store.ChecksumCRC32, crc32, 4}, {store.ChecksumCRC64NVME, crc64nvme, 8}, {store.ChecksumSHA256, sha256, 32}} {
		sum, err := base64.StdEncoding.DecodeString(aws.ToString(c.value))
		if err == nil && len(sum) == c.size {
			return store.Checksum{Type: c.typ, Value: hex.EncodeToString(sum)}
		}
	}
	return store.Checksum{}
}

// etagNotMD5 tells an object whose ETag is not its MD5: encrypted with
// KMS keys or a customer's key (S3 documents it; SSE-S3, AES256, keeps
// the MD5).
func etagNotMD5(sse types.ServerSideEncryption, customerAlgorithm *string) bool {
	return sse != "" && sse != types.ServerSideEncryptionAes256 || aws.ToString(customerAlgorithm) != ""
}

// maxSinglePut is the most S3 takes in one PUT: a bigger object is
// uploaded in parts.
const maxSinglePut int64 = 5 << 30

// minPartSize is the least part of a multipart write: S3 allows 10,000
// parts, and 5 MiB at least for all but the last.
const (
	minPartSize = 64 << 20
	maxParts    = 10000
	partsAtOnce = 4
)

// partSizeFor is the part size of an upload of size bytes: want (the
// bucket's multipart_size), else minPartSize, raised to whole MiBs when
// maxParts parts would not hold it.
func partSizeFor(size, want int64) int64 {
	if want <= 0 {
		want = minPartSize
	}
	if least := (size + maxParts - 1) / maxParts; least > want {
		return (least + 1<<20 - 1) &^ (1<<20 - 1)
	}
	return want
}

func (be *Backend) PutObject(ctx context.Context, b store.Bucket, name string, r io.ReadSeeker, size int64, metadata map[string]string) (remote.ObjectAttrs, error) {
	if size > cmp.Or(be.multipartSize, maxSinglePut) {
		return be.putParts(ctx, b, name, r, size, metadata)
	}
	out, err := be.client.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(b.Name), Key: aws.String(name), Body: r, ContentLength: aws.Int64(size), Metadata: metadata})
	if err != nil {
		return remote.ObjectAttrs{}, be.classify(err, b, name)
	}
	attrs := attrsOf(name, &size, out.ETag, out.VersionId, nil)
	attrs.ETagNotMD5 = etagNotMD5(out.ServerSideEncryption, out.SSECustomerAlgorithm)
	return attrs, nil
}

// putParts uploads an object too big for one PUT in parts, partsAtOnce
// at a time, each from its own section of r (which the SDK rewinds to
// sign and to retry). A failure aborts the upload: S3 keeps no parts.
func (be *Backend) putParts(ctx context.Context, b store.Bucket, name string, r io.ReadSeeker, size int64, metadata map[string]string) (remote.ObjectAttrs, error) {
	at, ok := r.(io.ReaderAt)
	if !ok {
		at = &seekingReaderAt{r: r}
	}
	created, err := be.client.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String(b.Name), Key: aws.String(name), Metadata: metadata})
	if err != nil {
		return remote.ObjectAttrs{}, be.classify(err, b, name)
	}
	upload := created.UploadId
	abort := func(err error) (remote.ObjectAttrs, error) {
		// Whatever stopped the upload, its parts go (S3 bills them).
		_, aerr := be.client.AbortMultipartUpload(context.WithoutCancel(ctx), &awss3.AbortMultipartUploadInput{Bucket: aws.String(b.Name), Key: aws.String(name), UploadId: upload})
		err = be.classify(err, b, name)
		if errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrBucketNotFound) {
			// The upload gone (NoSuchUpload): completed with its answer
			// lost, or aborted by a lifecycle rule. Not a missing
			// object: the write may have reached S3.
			err = fmt.Errorf("%w: the upload of %s/%s is gone (completed with its answer lost, or aborted): %v", remote.ErrUnavailable, b, name, err)
		}
		if aerr != nil {
			// Named, not classified: a Complete whose answer was lost
			// leaves no upload to abort (NoSuchUpload), and the write
			// is what failed, not a missing object.
			err = fmt.Errorf("%w (and the abort of the upload failed: %v; its parts stay in S3 until a lifecycle rule removes them)", err, aerr)
		}
		return remote.ObjectAttrs{}, err
	}
	partSize := partSizeFor(size, be.multipartSize)
	parts := make([]types.CompletedPart, (size+partSize-1)/partSize)
	// A few parts at a time: one S3 connection moves far less than a
	// target's disk reads.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(partsAtOnce)
	for i := range parts {
		number, offset := int32(i+1), int64(i)*partSize
		length := min(partSize, size-offset)
		g.Go(func() error {
			out, err := be.client.UploadPart(gctx, &awss3.UploadPartInput{Bucket: aws.String(b.Name), Key: aws.String(name), UploadId: upload,
				PartNumber: aws.Int32(number), Body: io.NewSectionReader(at, offset, length), ContentLength: aws.Int64(length)})
			if err != nil {
				return err
			}
			parts[i] = types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(number)}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return abort(err)
	}
	done, err := be.client.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String(b.Name), Key: aws.String(name), UploadId: upload,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		return abort(err)
	}
	attrs := attrsOf(name, &size, done.ETag, done.VersionId, nil)
	attrs.ETagNotMD5 = true // the MD5 of the parts' MD5s
	return attrs, nil
}

// seekingReaderAt reads at offsets of a reader that only seeks.
type seekingReaderAt struct {
	mu sync.Mutex
	r  io.ReadSeeker
}

func (s *seekingReaderAt) ReadAt(p []byte, offset int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.r.Seek(offset, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := io.ReadFull(s.r, p)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF // short at the end, as ReaderAt says
	}
	return n, err
}

func (be *Backend) DeleteObject(ctx context.Context, b store.Bucket, name string) error {
	_, err := be.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(b.Name), Key: aws.String(name)})
	if err != nil {
		return be.classify(err, b, name)
	}
	return nil
}

func (be *Backend) ListObjects(ctx context.Context, b store.Bucket, prefix, token string, max int) ([]remote.ObjectAttrs, string, error) {
	// Keys URL-encoded: one with a control character (legal in S3) would
	// fail the XML decoder, and the listing with it, at every page.
	in := &awss3.ListObjectsV2Input{Bucket: aws.String(b.Name), EncodingType: types.EncodingTypeUrl}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	if token != "" {
		in.ContinuationToken = aws.String(token)
	}
	if max > 0 {
		in.MaxKeys = aws.Int32(int32(min(max, 1000)))
	}
	out, err := be.client.ListObjectsV2(ctx, in)
	if err != nil {
		var resp *smithyhttp.ResponseError
		var apiErr smithy.APIError
		if token != "" && errors.As(err, &resp) && resp.HTTPStatusCode() == http.StatusBadRequest && (!errors.As(err, &apiErr) || apiErr.ErrorCode() == "InvalidArgument") {
			// A token the caller made up: its fault, not a refusal of
			// this cluster's credentials (S3's other 400s, an expired
			// session or a timeout, are classified as they are).
			return nil, "", fmt.Errorf("%w %q: %s at %s: %v", store.ErrInvalidToken, token, b, be.where, err)
		}
		return nil, "", be.classify(err, b, "")
	}
	list := make([]remote.ObjectAttrs, 0, len(out.Contents))
	for _, o := range out.Contents {
		key := aws.ToString(o.Key)
		if out.EncodingType == types.EncodingTypeUrl {
			// A server that ignores the request says nothing, and its
			// keys are as they are.
			if key, err = url.QueryUnescape(key); err != nil {
				return nil, "", fmt.Errorf("%w: %s listed a key that is not URL-encoded: %q", remote.ErrUnavailable, be.where, aws.ToString(o.Key))
			}
		}
		list = append(list, attrsOf(key, o.Size, o.ETag, nil, o.LastModified))
	}
	next := ""
	if aws.ToBool(out.IsTruncated) {
		next = aws.ToString(out.NextContinuationToken)
		if next == "" || next == token {
			// Taken for the end, the rest of the bucket would be left
			// out without a word (a server answering as ListObjects
			// v1 does, with a NextMarker); the same token again would
			// list the same page for good.
			return nil, "", fmt.Errorf("%w: %s said its listing of %s goes on but gave no new continuation token (does it serve ListObjectsV2?)", remote.ErrUnavailable, be.where, b)
		}
	}
	return list, next, nil
}

// addressedByIP reports whether an endpoint's host is an IP address or
// localhost.
func addressedByIP(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return false
	}
	host := u.Hostname()
	return host == "localhost" || net.ParseIP(host) != nil
}
