package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aisgo/aisgo/store"
)

// objectsPrefix starts the path of every object's request.
const objectsPrefix = "/v1/objects/"

func objectPath(bucket, name string) string {
	return objectsPrefix + url.PathEscape(bucket) + "/" + EscapeObjectName(name)
}

// PutOptions describe an object being put.
type PutOptions struct {
	// Size of the data, or -1 when unknown (sent chunked). Zero with a
	// body is taken as unknown, unless the body tells its length (as
	// bytes.Reader, strings.Reader and bytes.Buffer do): a PUT never
	// drops the bytes it was given.
	Size int64
	// Checksum, when set, is verified by the target before the object
	// becomes visible.
	Checksum store.Checksum
	// Custom metadata kept with the object.
	Custom map[string]string
	// ETag asks the target for the MD5 of the bytes, kept in the custom
	// metadata as store.CustomETag (the S3 ETag).
	ETag bool
	// IfMatch and IfNoneMatch are sent as If-Match and If-None-Match,
	// each "*" or an ETag (see store.PutOptions): a PUT whose condition
	// does not hold fails with ErrPreconditionFailed (ErrNotFound for
	// IfMatch on a missing object). At most one of concurrent
	// conditional PUTs of a name wins.
	IfMatch     string
	IfNoneMatch string
	// ArchPath puts the body as this file of the shard object instead of
	// the whole object (a file of the same name is replaced; the shard is
	// created if missing, of the format of its name or ArchMime). Needs
	// a known Size; ErrPreconditionFailed if the shard changed meanwhile.
	ArchPath, ArchMime string
}

// Put stores an object. A body that implements io.Seeker can be rewound
// if a redirect comes after it was sent; any body works with redirects
// from gateways, which answer before reading it.
func (c *Client) Put(ctx context.Context, bucket, name string, body io.Reader, opts PutOptions) (store.ObjectMeta, error) {
	h := http.Header{}
	if opts.Checksum.Value != "" { // without a type too: the node refuses it, naming what is missing
		h.Set(HeaderChecksumType, opts.Checksum.Type)
		h.Set(HeaderChecksumValue, opts.Checksum.Value)
	}
	if opts.ETag {
		h.Set(HeaderETag, "true")
	}
	for name, v := range map[string]string{"If-Match": opts.IfMatch, "If-None-Match": opts.IfNoneMatch} {
		switch v {
		case "":
		case "*":
			h.Set(name, v)
		default:
			h.Set(name, `"`+v+`"`)
		}
	}
	if len(opts.Custom) > 0 {
		parts := make([]string, 0, len(opts.Custom))
		for k, v := range opts.Custom {
			parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(v))
		}
		h.Set(HeaderCustom, strings.Join(parts, ","))
	}
	if body == nil {
		body = strings.NewReader("")
		opts.Size = 0
	}
	opts.Size = bodySize(body, opts.Size)
	// A body of unknown length is counted: the size the PUT reports.
	var counted *atomic.Int64
	if opts.Size < 0 {
		body, counted = countBody(body)
	}
	var q url.Values
	if opts.ArchPath != "" {
		q = url.Values{QueryArchPath: {opts.ArchPath}}
		if opts.ArchMime != "" {
			q.Set(QueryArchMime, opts.ArchMime)
		}
	}
	// A file into a shard waits for the shard's rewrite up to its place
	// (the whole shard, maybe), an object of a remote bucket for its
	// upload to the remote (once staged whole): patient (every byte's
	// transfer still bounded).
	patient := opts.ArchPath != "" || remoteBucket(bucket)
	resp, err := c.do(ctx, request{method: http.MethodPut, path: objectPath(bucket, name), query: q, header: h, body: body, size: opts.Size, bucket: bucket, object: name, patient: patient, lateBody: opts.ArchPath != ""})
	if err != nil {
		return store.ObjectMeta{}, err
	}
	defer drain(resp)
	meta := metaFromHeaders(name, resp.Header)
	if opts.ArchPath != "" {
		return meta, nil // the size is the shard's, not the body's
	}
	meta.Size = opts.Size
	if counted != nil {
		meta.Size = counted.Load()
	}
	return meta, nil
}

// bodySize is the size to send a body with: size, or when it is zero the
// length the body tells, or -1 (unknown, sent chunked).
func bodySize(body io.Reader, size int64) int64 {
	if size != 0 {
		return size
	}
	if l, ok := body.(interface{ Len() int }); ok {
		return int64(l.Len())
	}
	return -1
}

// countBody wraps a body to count what is read of it, keeping a Seeker
// one (a rewind for a redirect counts again from where it goes). The
// count is atomic: the transport reads the body on its own goroutine.
func countBody(body io.Reader) (io.Reader, *atomic.Int64) {
	c := &sizeCounter{r: body}
	if s, ok := body.(io.Seeker); ok {
		if start, err := s.Seek(0, io.SeekCurrent); err == nil {
			return &seekingSizeCounter{c, s, start}, &c.n
		}
	}
	return c, &c.n
}

type sizeCounter struct {
	r io.Reader
	n atomic.Int64
}

func (c *sizeCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type seekingSizeCounter struct {
	*sizeCounter
	s     io.Seeker
	start int64
}

func (c *seekingSizeCounter) Seek(offset int64, whence int) (int64, error) {
	pos, err := c.s.Seek(offset, whence)
	if err == nil {
		c.n.Store(pos - c.start)
	}
	return pos, err
}

// remoteBucket reports a bucket named with a remote provider (s3://b).
func remoteBucket(bucket string) bool {
	if !strings.Contains(bucket, "://") {
		return false
	}
	b, err := store.ParseBucketURI(bucket)
	return err == nil && b.IsRemote()
}

// GetOptions select what a GET returns.
type GetOptions struct {
	// Offset and Length select a byte range; Length 0 means to the end,
	// and a Length past the end is cut there (an empty object read from
	// Offset 0 is empty).
	Offset, Length int64
	// ArchPath reads one file of a shard object (any format of package
	// formats; KEY.EXT for a value of a msgpack or tfrecord record).
	ArchPath string
	// ArchRegex selects the files of a shard object that match, returned
	// as a tar, by ArchMode: "regexp" (the default), "prefix", "suffix",
	// "substr" or "wdskey" (the record name, up to the extension).
	ArchRegex, ArchMode string
	// ArchMime names the shard's format (".tgz", "zip", ...) when its
	// name does not.
	ArchMime string
	// Validate makes the target verify the checksum before sending.
	Validate bool
	// Latest makes a remote bucket's target check that its cached copy is
	// the remote's current version, fetching it again if not.
	Latest bool
	// IfMatch reads the object only while its ETag (store.ETagOf) is
	// this one: ErrPreconditionFailed otherwise.
	IfMatch string
}

// Get opens an object for reading. The caller closes the reader. The
// returned meta has the object's checksum and version, and as its Size
// the length of what the reader returns: the object's, or of the range
// or the archive member asked for (the checksum is the whole object's).
func (c *Client) Get(ctx context.Context, bucket, name string, opts GetOptions) (io.ReadCloser, store.ObjectMeta, error) {
	if opts.Offset < 0 || opts.Length < 0 {
		return nil, store.ObjectMeta{}, fmt.Errorf("%w: get %s/%s: offset %d and length %d: neither may be negative", ErrBadRequest, bucket, name, opts.Offset, opts.Length)
	}
	q := url.Values{}
	if opts.ArchPath != "" {
		q.Set(QueryArchPath, opts.ArchPath)
	}
	for key, v := range map[string]string{QueryArchRegex: opts.ArchRegex, QueryArchMode: opts.ArchMode, QueryArchMime: opts.ArchMime} {
		if v != "" {
			q.Set(key, v)
		}
	}
	if opts.Validate {
		q.Set(QueryValidate, "true")
	}
	if opts.Latest {
		q.Set(QueryLatest, "true")
	}
	h := http.Header{}
	if opts.IfMatch != "" {
		h.Set("If-Match", `"`+opts.IfMatch+`"`)
	}
	if opts.Offset > 0 || opts.Length > 0 {
		if opts.Length > 0 && opts.Length <= math.MaxInt64-opts.Offset {
			h.Set("Range", fmt.Sprintf("bytes=%d-%d", opts.Offset, opts.Offset+opts.Length-1))
		} else {
			// (A length past what an offset can reach is the rest.)
			h.Set("Range", fmt.Sprintf("bytes=%d-", opts.Offset))
		}
	}
	// Answered once the target worked on the whole object (every byte's
	// transfer still bounded): a checked read (the checksum first), a
	// file of a shard (a compressed one decompressed up to it), and of a
	// remote bucket's object not cached, anything but the whole object.
	patient := opts.Validate || opts.ArchPath != "" || opts.ArchRegex != "" || remoteBucket(bucket) && (h.Get("Range") != "" || len(q) > 0)
	resp, err := c.do(ctx, request{method: http.MethodGet, path: objectPath(bucket, name), query: q, header: h, bucket: bucket, object: name, patient: patient})
	if opts.Offset == 0 && errors.Is(err, ErrRange) {
		// Only an empty object has no byte 0: its range from the start
		// is its nothing, as of any object shorter than Length.
		if resp, rerr := c.do(ctx, request{method: http.MethodGet, path: objectPath(bucket, name), query: q, bucket: bucket, object: name}); rerr == nil {
			if resp.ContentLength == 0 {
				meta := metaFromHeaders(name, resp.Header)
				meta.Size = 0
				return resp.Body, meta, nil
			}
			drain(resp) // (written meanwhile: the range's answer stands)
		}
	}
	if err != nil {
		return nil, store.ObjectMeta{}, err
	}
	if h.Get("Range") != "" && resp.StatusCode != http.StatusPartialContent {
		// A server that ignored the range sends other bytes than asked.
		drain(resp)
		return nil, store.ObjectMeta{}, fmt.Errorf("GET %s/%s: asked for %s, answered %s without the range", bucket, name, h.Get("Range"), resp.Status)
	}
	meta := metaFromHeaders(name, resp.Header)
	meta.Size = resp.ContentLength
	return resp.Body, meta, nil
}

// GetBytes reads a whole object into memory.
func (c *Client) GetBytes(ctx context.Context, bucket, name string, opts GetOptions) ([]byte, error) {
	r, _, err := c.Get(ctx, bucket, name, opts)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// Head returns an object's metadata.
func (c *Client) Head(ctx context.Context, bucket, name string) (store.ObjectMeta, error) {
	return c.head(ctx, bucket, name, nil)
}

func (c *Client) head(ctx context.Context, bucket, name string, query url.Values) (store.ObjectMeta, error) {
	resp, err := c.do(ctx, request{method: http.MethodHead, path: objectPath(bucket, name), query: query, bucket: bucket, object: name})
	if err != nil {
		return store.ObjectMeta{}, err
	}
	defer drain(resp)
	meta := metaFromHeaders(name, resp.Header)
	meta.Size = resp.ContentLength
	return meta, nil
}

// HeadLatest returns the metadata of a remote bucket's object as the
// remote has it now (latest-ver): a cached copy of another version is not
// described, and an object the remote no longer has is ErrNotFound.
func (c *Client) HeadLatest(ctx context.Context, bucket, name string) (store.ObjectMeta, error) {
	return c.head(ctx, bucket, name, url.Values{QueryLatest: {"true"}})
}

// HeadCached returns the metadata of a remote bucket's object the
// cluster holds (AIStore's presence=2), the remote not asked:
// ErrNotFound when no copy is cached.
func (c *Client) HeadCached(ctx context.Context, bucket, name string) (store.ObjectMeta, error) {
	return c.head(ctx, bucket, name, url.Values{QueryPresence: {"2"}})
}

// Delete removes an object.
func (c *Client) Delete(ctx context.Context, bucket, name string) error {
	resent := false
	err := c.doJSON(ctx, request{method: http.MethodDelete, path: objectPath(bucket, name), bucket: bucket, object: name, resent: &resent}, nil)
	if resent && errors.Is(err, ErrNotFound) {
		// Sent again after its answer was lost: the first one removed
		// it.
		return nil
	}
	return err
}

func metaFromHeaders(name string, h http.Header) store.ObjectMeta {
	meta := store.ObjectMeta{
		Name:     name,
		Checksum: store.Checksum{Type: h.Get(HeaderChecksumType), Value: h.Get(HeaderChecksumValue)},
		Version:  h.Get(HeaderVersion),
	}
	if ns, err := strconv.ParseInt(h.Get(HeaderAtime), 10, 64); err == nil {
		meta.Atime = time.Unix(0, ns)
	}
	if stamp, err := store.ParseStamp(h.Get(HeaderStamp)); err == nil {
		meta.Stamp = stamp
	}
	if s := h.Get(HeaderCustom); s != "" {
		meta.Custom = map[string]string{}
		for part := range strings.SplitSeq(s, ",") {
			k, v, _ := strings.Cut(part, "=")
			k, _ = url.QueryUnescape(k)
			v, _ = url.QueryUnescape(v)
			meta.Custom[k] = v
		}
	}
	return meta
}

// ParsePutCondition reads the value of a PUT's If-Match or If-None-Match
// header: "*" or one ETag, quoted or not ("" when absent). A list of
// ETags or a weak one is ErrBadRequest: a PUT takes one condition.
func ParsePutCondition(header, value string) (string, error) {
	v := strings.TrimSpace(value)
	if v == "" || v == "*" {
		return v, nil
	}
	etag := strings.TrimSuffix(strings.TrimPrefix(v, `"`), `"`)
	if etag == "" || strings.ContainsAny(etag, `",*`) || strings.HasPrefix(v, "W/") {
		return "", fmt.Errorf("%w: %s %q: a PUT takes * or one ETag", ErrBadRequest, header, value)
	}
	return etag, nil
}
