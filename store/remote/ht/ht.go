package ht

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aisgo/aisgo/internal/bodyend"
	"github.com/aisgo/aisgo/internal/egress"
	"github.com/aisgo/aisgo/internal/redact"
	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/remote"
)

// Backend reads objects from HTTP origins.
type Backend struct {
	client *http.Client
	origin string
}

// Resolve is a remote.Resolver for ht:// buckets.
func Resolve(client *http.Client) remote.Resolver {
	return func(ctx context.Context, b store.Bucket, props store.Props) (remote.Backend, error) {
		if props.Extra == nil || props.Extra.HTTP == nil || props.Extra.HTTP.Origin == "" {
			return nil, fmt.Errorf("%w: bucket %s has no extra.http.origin", store.ErrInvalidProps, b)
		}
		// (Props made before it was checked where they are set.)
		if err := store.CheckOrigin(props.Extra.HTTP.Origin); err != nil {
			return nil, fmt.Errorf("bucket %s: %w", b, err)
		}
		return &Backend{client: client, origin: strings.TrimRight(props.Extra.HTTP.Origin, "/")}, nil
	}
}

// url is where an object is at the origin: its name escaped, so that a
// '?', '#' or '%' in it is part of the path, not a query or a fragment
// (of an origin with a query, part of its last value).
func (be *Backend) url(name string) string {
	if strings.Contains(be.origin, "?") {
		// The name ends a query's value: '&', '+', '=' or ';' in it
		// are of the value, not another parameter.
		return be.origin + strings.ReplaceAll(url.QueryEscape("/"+name), "%2F", "/")
	}
	return be.origin + (&url.URL{Path: "/" + name}).EscapedPath()
}

// do sends a request to the origin and maps its answer.
func (be *Backend) do(ctx context.Context, method, name string) (*http.Response, error) {
	return be.doWith(ctx, method, name, "")
}

// refusal is an origin's answer that refuses for good, with its status.
type refusal struct {
	status int
	err    error
}

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// doWith is do with a Range (a 206 or a 416 then answers too).
func (be *Backend) doWith(ctx context.Context, method, name, byteRange string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, be.url(name), nil)
	if err != nil {
		// Not quoted: the parser's error quotes the link, password and all.
		return nil, fmt.Errorf("%w: the bucket's origin and the name %q make no link", store.ErrInvalidProps, name)
	}
	if byteRange != "" {
		req.Header.Set("Range", byteRange)
	}
	// Errors reach clients and logs: the origin's user and password (an
	// origin may be https://user:secret@host) are not in them.
	shown := redact.Link(be.url(name))
	resp, err := be.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", remote.ErrUnavailable, shown, redact.Error(err, be.url(name)))
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return resp, nil
	case byteRange != "" && (resp.StatusCode == http.StatusPartialContent || resp.StatusCode == http.StatusRequestedRangeNotSatisfiable):
		return resp, nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %w", shown, store.ErrNotFound)
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests,
		resp.StatusCode == http.StatusNotImplemented || resp.StatusCode == http.StatusHTTPVersionNotSupported:
		// Refused for good (401, 403, 400, 405, 451, 501...): asking
		// again does not help, and a 503 would have clients retry
		// without end.
		resp.Body.Close()
		return nil, &refusal{status: resp.StatusCode, err: fmt.Errorf("%w: %s answered %s", store.ErrRemoteForbidden, shown, resp.Status)}
	default:
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %s answered %s", remote.ErrUnavailable, shown, resp.Status)
	}
}

func attrsOf(name string, resp *http.Response) remote.ObjectAttrs {
	a := remote.ObjectAttrs{Name: name, Size: resp.ContentLength, ETag: strings.Trim(resp.Header.Get("ETag"), `"`)}
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		a.Modified = t
	}
	if a.Size < 0 {
		a.Size = -1
	}
	return a
}

func (be *Backend) HeadBucket(ctx context.Context, b store.Bucket) error { return nil }

func (be *Backend) HeadObject(ctx context.Context, b store.Bucket, name string) (remote.ObjectAttrs, error) {
	resp, err := be.do(ctx, http.MethodHead, name)
	var refused *refusal
	if errors.As(err, &refused) && (refused.status == http.StatusMethodNotAllowed || refused.status == http.StatusNotImplemented) {
		// An origin that takes no HEAD (its GETs work): the GET of its
		// first byte tells the same.
		return be.headByGet(ctx, name)
	}
	if err != nil {
		return remote.ObjectAttrs{}, err
	}
	resp.Body.Close()
	return attrsOf(name, resp), nil
}

// headByGet reads an object's attributes from a GET of its first byte:
// its size from the Content-Range (0 when the range is past an empty
// file's end), or the whole answer's length from an origin that sends it
// all (whose body is then not read).
func (be *Backend) headByGet(ctx context.Context, name string) (remote.ObjectAttrs, error) {
	resp, err := be.doWith(ctx, http.MethodGet, name, "bytes=0-0")
	if err != nil {
		return remote.ObjectAttrs{}, err
	}
	resp.Body.Close()
	a := attrsOf(name, resp)
	switch resp.StatusCode {
	case http.StatusPartialContent, http.StatusRequestedRangeNotSatisfiable:
		a.Size = -1
		if n, ok := bodyend.RangeTotal(resp); ok {
			a.Size = n
		}
	}
	return a, nil
}

func (be *Backend) GetObject(ctx context.Context, b store.Bucket, name string) (io.ReadCloser, remote.ObjectAttrs, error) {
	resp, err := be.do(ctx, http.MethodGet, name)
	if err != nil {
		return nil, remote.ObjectAttrs{}, err
	}
	a := attrsOf(name, resp)
	if bodyend.CloseDelimited(resp) {
		// A body cut mid-way would be cached short: its size tells.
		return bodyend.Checked(resp.Body, func(n int64) error { return be.checkEnd(ctx, b, name, n) }), a, nil
	}
	return resp.Body, a, nil
}

// checkEnd asks the origin for an object's size once its body ended with
// the connection: n bytes read must be all of it. An origin that tells no
// size, or refuses to (a 4xx: a link good for one GET, a HEAD not
// allowed), is taken at its word, as any HTTP client would; one that does
// not answer (it died mid-body, most likely) fails the read.
func (be *Backend) checkEnd(ctx context.Context, b store.Bucket, name string, n int64) error {
	a, err := be.HeadObject(ctx, b, name)
	var refused *refusal
	switch {
	case errors.As(err, &refused), errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("%w: %s: its body ended with the connection, and its size could not be asked to tell whether it is whole: %w", remote.ErrUnavailable, redact.Link(be.url(name)), err)
	case a.Size >= 0 && a.Size != n:
		return fmt.Errorf("%w: %s: its body ended with the connection after %d bytes of %d", remote.ErrUnavailable, redact.Link(be.url(name)), n, a.Size)
	}
	return nil
}

func (be *Backend) PutObject(ctx context.Context, b store.Bucket, name string, r io.ReadSeeker, size int64, _ map[string]string) (remote.ObjectAttrs, error) {
	return remote.ObjectAttrs{}, fmt.Errorf("%w: %s is an HTTP origin: objects are only read", store.ErrInvalidProps, b)
}

func (be *Backend) DeleteObject(ctx context.Context, b store.Bucket, name string) error {
	return fmt.Errorf("%s: %w (an HTTP origin keeps its files; evict the cached copy)", b, store.ErrNotFound)
}

func (be *Backend) ListObjects(ctx context.Context, b store.Bucket, prefix, token string, max int) ([]remote.ObjectAttrs, string, error) {
	return nil, "", nil // an origin cannot be listed: the cached objects are what there is
}

// NewClient is the client of the origins, bounded. A body takes as long
// as its bytes take: a cold GET gives up on an origin that stalls
// (remote.FetchIdleTimeout), not on a big object.
//
// route makes its connections, through the environment's proxy when it
// names one: an origin is a URL users give, which must not be a way to
// the node's host or the cloud's metadata service (egress.Checked).
func NewClient(route egress.Route) *http.Client {
	// Headers are bounded (net/http allows 10 MiB of them). An object is
	// the origin's bytes: no gzip taken off on the way.
	// Idle connections close after 90 s, 256 at most: origins and their
	// redirects are many hosts.
	return &http.Client{Transport: &http.Transport{Proxy: route.Proxy, DialContext: route.DialContext,
		MaxIdleConnsPerHost: 16, MaxIdleConns: 256, IdleConnTimeout: 90 * time.Second, ResponseHeaderTimeout: time.Minute, DisableCompression: true,
		MaxResponseHeaderBytes: 64 << 10, TLSHandshakeTimeout: 10 * time.Second},
		CheckRedirect: egress.NoReferer}
}
