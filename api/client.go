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
	"time"
)

// Client talks to an AIS-Go cluster through any of its gateways.
type Client struct {
	endpoint string
	http     *http.Client
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
	return &Client{endpoint: strings.TrimRight(endpoint, "/"), http: &c}
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
}

// doOnce sends a request and follows redirects; the caller closes the
// response body. Non-2xx responses are returned as *Error.
func (c *Client) doOnce(ctx context.Context, rq request) (*http.Response, error) {
	target := rq.base
	if target == "" {
		target = c.endpoint
	}
	target += rq.path
	if len(rq.query) > 0 {
		target += "?" + rq.query.Encode()
	}
	var payload []byte
	if rq.bodyJSON != nil {
		var err error
		if payload, err = json.Marshal(rq.bodyJSON); err != nil {
			return nil, err
		}
	}
	body := &countingReader{r: rq.body}
	var start int64
	seeker, seekable := rq.body.(io.Seeker)
	if seekable {
		var err error
		if start, err = seeker.Seek(0, io.SeekCurrent); err != nil {
			seekable = false
		}
	}
	for hop := 0; ; hop++ {
		if hop > maxRedirects {
			return nil, fmt.Errorf("%s %s: %w", rq.method, rq.path, ErrTooManyRedirects)
		}
		var reqBody io.Reader
		switch {
		case payload != nil:
			reqBody = bytes.NewReader(payload)
		case rq.body != nil:
			if body.n > 0 {
				if !seekable {
					return nil, fmt.Errorf("%s %s: redirected after the body was sent, and the body cannot be rewound", rq.method, rq.path)
				}
				if _, err := seeker.Seek(start, io.SeekStart); err != nil {
					return nil, err
				}
				body.n = 0
			}
			reqBody = body
		}
		req, err := http.NewRequestWithContext(ctx, rq.method, target, reqBody)
		if err != nil {
			return nil, err
		}
		for k, v := range rq.header {
			req.Header[k] = v
		}
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
			req.ContentLength = int64(len(payload))
		} else if rq.body != nil {
			req.ContentLength = rq.size
			if rq.size == 0 {
				req.Body = http.NoBody
			}
			// Wait for the server's answer before sending a body: a
			// gateway answers with a redirect and reads nothing.
			req.Header.Set("Expect", "100-continue")
		}
		resp, err := c.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %s %s: node at %s is unreachable: %w", ErrUnavailable, rq.method, rq.path, req.URL.Scheme+"://"+req.URL.Host, err)
		}
		switch resp.StatusCode {
		case http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			loc, err := resp.Location()
			drain(resp)
			if err != nil {
				return nil, fmt.Errorf("%s %s: redirect without a location: %w", rq.method, rq.path, err)
			}
			target = loc.String()
			if hop >= 2 {
				// Nodes disagree on the owner while a new map spreads:
				// give it a moment.
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(time.Duration(hop) * 20 * time.Millisecond):
				}
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

// escapePath escapes each segment of an object name.
func escapePath(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
