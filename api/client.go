package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/store"
)

// Client talks to an AIS-Go cluster through any of its gateways.
type Client struct {
	endpoint string
	http     *http.Client
	// direct sends object requests straight to the owner target by the
	// cluster map (fetched from the gateway and refreshed when a target
	// redirects), saving the gateway's redirect; the gateway is used when
	// no map can be had.
	direct bool
	mu     struct {
		sync.Mutex
		smap      *cluster.Map
		stale     bool
		nextFetch time.Time
	}
}

// DirectValue is the redirect marker of a request a client routed itself
// by its cluster map.
const DirectValue = "client"

// UseRedirects makes the client send every request to the gateway and
// follow its redirects, as plain HTTP clients do; the default routes
// object requests to their owner target directly.
func (c *Client) UseRedirects() *Client {
	c.direct = false
	return c
}

// ownerURL returns the URL of the target that owns an object by the
// client's map, or "" when there is no map to route by.
func (c *Client) ownerURL(ctx context.Context, b store.Bucket, name string) string {
	c.mu.Lock()
	smap, stale, next := c.mu.smap, c.mu.stale, c.mu.nextFetch
	c.mu.Unlock()
	if (smap == nil || stale) && time.Now().After(next) {
		fetchCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		fresh := new(cluster.Map)
		err := c.doJSON(fetchCtx, request{method: http.MethodGet, path: "/v1/cluster", query: url.Values{QueryWhat: {"smap"}}}, fresh)
		cancel()
		c.mu.Lock()
		if err == nil {
			c.mu.smap, c.mu.stale = fresh, false
			smap = fresh
		}
		// At most one fetch a second, whatever happens.
		c.mu.nextFetch = time.Now().Add(time.Second)
		c.mu.Unlock()
	}
	if smap == nil {
		return ""
	}
	b = b.Normalize()
	owner, err := smap.Owner(cluster.Uname(b.Provider, b.Name, name))
	if err != nil {
		return ""
	}
	return strings.TrimRight(owner.URL, "/")
}

// mapIsStale notes that a target redirected a request the client routed.
func (c *Client) mapIsStale() {
	c.mu.Lock()
	c.mu.stale = true
	c.mu.Unlock()
}

// maxRedirects bounds how many times a request is redirected (a gateway
// to a target, and a target to another while the map changes).
const maxRedirects = 8

// NewTransport returns an HTTP transport tuned for many parallel requests
// to few hosts: kept-alive connections per host and Expect: 100-continue
// support, so a redirected PUT does not send its body twice.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil, // a cluster is reached directly
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: 10 * time.Second,
		ReadBufferSize:        128 << 10,
		WriteBufferSize:       128 << 10,
	}
}

// NewClient returns a client of the gateway at endpoint, for example
// "http://localhost:8080".
func NewClient(endpoint string) *Client {
	return NewClientWith(endpoint, &http.Client{Transport: NewTransport()})
}

// NewClientWith returns a client that uses the given HTTP client. The
// client's redirect policy is replaced: redirects are followed here.
func NewClientWith(endpoint string, hc *http.Client) *Client {
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{endpoint: strings.TrimRight(endpoint, "/"), http: &c, direct: true}
}

// Endpoint returns the gateway URL the client talks to.
func (c *Client) Endpoint() string { return c.endpoint }

// request describes one call.
type request struct {
	method string
	path   string // e.g. "/v1/objects/b/o", escaped by the caller
	query  url.Values
	header http.Header
	// body is sent as is; bodyJSON is encoded. A body that is an
	// io.Seeker is rewound on redirects.
	body     io.Reader
	bodyJSON any
	size     int64 // of body, or -1
	base     string
	// bucket and object name an object request, which a client may route
	// to the owner target itself.
	bucket, object string
}

// doOnce sends a request and follows redirects; the caller closes the
// response body. Non-2xx responses are returned as *Error.
func (c *Client) doOnce(ctx context.Context, rq request) (*http.Response, error) {
	target, routed := c.route(ctx, rq)
	body, err := newHopBody(rq)
	if err != nil {
		return nil, err
	}
	for hop := 0; ; hop++ {
		if hop > maxRedirects {
			return nil, fmt.Errorf("%s %s: %w", rq.method, rq.path, ErrTooManyRedirects)
		}
		req, err := body.request(ctx, rq, target)
		if err != nil {
			return nil, err
		}
		resp, err := c.http.Do(req)
		if err != nil && routed && hop == 0 && ctx.Err() == nil && body.resendable() {
			// The map the client routed by is out of date (a target is
			// gone): ask the gateway, which knows.
			c.mapIsStale()
			target, routed = c.gatewayURL(rq), false
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %s %s: node at %s is unreachable: %w", ErrUnavailable, rq.method, rq.path, req.URL.Scheme+"://"+req.URL.Host, err)
		}
		if isRedirect(resp.StatusCode) {
			if target, err = c.redirect(ctx, rq, resp, hop, routed); err != nil {
				return nil, err
			}
			continue
		}
		if resp.StatusCode >= 300 {
			defer drain(resp)
			return nil, DecodeError(resp)
		}
		return resp, nil
	}
}

// route returns the URL of a request's first hop: the owner target by the
// client's map for an object request when the client routes itself
// (routed is then true), else rq.base or the gateway.
func (c *Client) route(ctx context.Context, rq request) (target string, routed bool) {
	base, query := rq.base, rq.query
	if base == "" && rq.object != "" && c.direct {
		// The provider is the request's, as the gateway would place it.
		bucket := store.Bucket{Name: rq.bucket, Provider: rq.query.Get(QueryProvider)}
		if owner := c.ownerURL(ctx, bucket, rq.object); owner != "" {
			base, routed = owner, true
			// A copy: the caller's query serves retries and the
			// fallback to the gateway.
			query = url.Values{}
			for k, v := range rq.query {
				query[k] = v
			}
			query.Set(QueryProxyID, DirectValue)
		}
	}
	if base == "" {
		base = c.endpoint
	}
	return withQuery(base+rq.path, query), routed
}

// gatewayURL returns the URL of a request sent to the gateway, without the
// marker of a request the client routed itself.
func (c *Client) gatewayURL(rq request) string {
	q := url.Values{}
	for k, v := range rq.query {
		if k != QueryProxyID {
			q[k] = v
		}
	}
	return withQuery(c.endpoint+rq.path, q)
}

func withQuery(u string, q url.Values) string {
	if len(q) > 0 {
		return u + "?" + q.Encode()
	}
	return u
}

func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// redirect returns where a redirect response sends the request, after a
// pause from the third hop on.
func (c *Client) redirect(ctx context.Context, rq request, resp *http.Response, hop int, routed bool) (string, error) {
	loc, err := resp.Location()
	drain(resp)
	if err != nil {
		return "", fmt.Errorf("%s %s: redirect without a location: %w", rq.method, rq.path, err)
	}
	if routed && hop == 0 {
		c.mapIsStale() // the target knows a newer map
	}
	if hop >= 2 {
		// Nodes disagree on the owner while a new map spreads: give it a
		// moment.
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Duration(hop) * 20 * time.Millisecond):
		}
	}
	return loc.String(), nil
}

// hopBody is a request's body as sent on each hop: an encoded JSON
// payload, or the caller's reader, rewound when a hop read some of it.
type hopBody struct {
	payload  []byte // bodyJSON encoded, or nil
	body     *countingReader
	seeker   io.Seeker
	start    int64 // the seeker's offset at the start
	seekable bool
}

func newHopBody(rq request) (*hopBody, error) {
	b := &hopBody{body: &countingReader{r: rq.body}}
	if rq.bodyJSON != nil {
		var err error
		if b.payload, err = json.Marshal(rq.bodyJSON); err != nil {
			return nil, err
		}
	}
	b.seeker, b.seekable = rq.body.(io.Seeker)
	if b.seekable {
		var err error
		if b.start, err = b.seeker.Seek(0, io.SeekCurrent); err != nil {
			b.seekable = false
		}
	}
	return b, nil
}

// resendable reports whether the body can be sent again: none of it went
// out, or it can be rewound.
func (b *hopBody) resendable() bool { return b.body.n == 0 || b.seekable }

// request returns the HTTP request of one hop to target.
func (b *hopBody) request(ctx context.Context, rq request, target string) (*http.Request, error) {
	var reqBody io.Reader
	switch {
	case b.payload != nil:
		reqBody = bytes.NewReader(b.payload)
	case rq.body != nil:
		if b.body.n > 0 {
			if !b.seekable {
				return nil, fmt.Errorf("%s %s: redirected after the body was sent, and the body cannot be rewound", rq.method, rq.path)
			}
			if _, err := b.seeker.Seek(b.start, io.SeekStart); err != nil {
				return nil, err
			}
			b.body.n = 0
		}
		reqBody = b.body
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, target, reqBody)
	if err != nil {
		return nil, err
	}
	for k, v := range rq.header {
		req.Header[k] = v
	}
	if b.payload != nil {
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = int64(len(b.payload))
	} else if rq.body != nil {
		req.ContentLength = rq.size
		if rq.size == 0 {
			req.Body = http.NoBody
		}
		// A body that cannot be sent again waits for the server's
		// go-ahead: a node that redirects reads nothing of it.
		if !b.seekable {
			req.Header.Set("Expect", "100-continue")
		}
	}
	return req, nil
}

// retryDelays space the attempts of a request a node answered with 503
// (a target starting, or placement moving during a PUT).
var retryDelays = [...]time.Duration{100 * time.Millisecond, 300 * time.Millisecond, time.Second}

// do sends a request, following redirects, and tries again when a node
// is unavailable for a moment and the body can be sent again.
func (c *Client) do(ctx context.Context, rq request) (*http.Response, error) {
	_, rewindable := rq.body.(io.Seeker)
	var start int64
	if rewindable {
		start, _ = rq.body.(io.Seeker).Seek(0, io.SeekCurrent)
	}
	for attempt := 0; ; attempt++ {
		resp, err := c.doOnce(ctx, rq)
		var e *Error
		if err == nil || attempt == len(retryDelays) || !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable {
			return resp, err
		}
		if rq.body != nil && rq.bodyJSON == nil {
			if !rewindable {
				return resp, err
			}
			if _, serr := rq.body.(io.Seeker).Seek(start, io.SeekStart); serr != nil {
				return resp, err
			}
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(retryDelays[attempt]):
		}
	}
}

// doJSON sends a request and decodes a JSON answer into out (if not nil).
func (c *Client) doJSON(ctx context.Context, rq request, out any) error {
	resp, err := c.do(ctx, rq)
	if err != nil {
		return err
	}
	defer drain(resp)
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", rq.method, rq.path, err)
	}
	return nil
}

// DecodeError turns a failed response into *Error.
func DecodeError(resp *http.Response) error {
	e := &Error{Status: resp.StatusCode}
	data := []byte(resp.Header.Get(HeaderError))
	if len(data) == 0 {
		data, _ = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	}
	if json.Unmarshal(data, e) != nil || e.Message == "" {
		e.Message = strings.TrimSpace(string(data))
		if e.Message == "" {
			e.Message = http.StatusText(resp.StatusCode)
		}
	}
	e.Status = resp.StatusCode
	if e.Method == "" && resp.Request != nil {
		e.Method, e.Path = resp.Request.Method, resp.Request.URL.Path
	}
	return e
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
}

// countingReader counts the bytes read, to tell whether a body was sent.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// EscapeObjectName escapes each '/'-separated segment of an object name
// for a URL path.
func EscapeObjectName(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
