package peer

import (
	"bytes"
	"container/heap"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Headers of a signed request.
const (
	HeaderNode  = "Ais-Peer-Node"  // the sender's node id
	HeaderTime  = "Ais-Peer-Time"  // Unix nanoseconds
	HeaderNonce = "Ais-Peer-Nonce" // 16 random bytes, hex
	HeaderBody  = "Ais-Peer-Body"  // hex SHA-256 of the body, or "stream"
	HeaderMAC   = "Ais-Peer-Mac"   // base64 HMAC-SHA256
	// TrailerMAC carries the body MAC of a streamed body.
	TrailerMAC = "Ais-Peer-Body-Mac"
)

// streamed marks a body whose MAC comes in the trailer.
const streamed = "stream"

// maxHashedBody is the largest body hashed before it is sent; larger ones
// and those of unknown length are streamed.
const maxHashedBody = 16 << 20

// SecretSize is the length of a cluster secret in bytes.
const SecretSize = 32

// Errors of verification. All of them but ErrBusy are the caller's fault
// (401).
var (
	ErrUnsigned = errors.New("peer: request is not signed by a cluster node")
	ErrBadMAC   = errors.New("peer: request signature does not match the cluster secret")
	ErrStale    = errors.New("peer: request timestamp is outside the allowed window")
	ErrReplay   = errors.New("peer: request was already received (replay)")
	ErrBodyMAC  = errors.New("peer: request body does not match its signature")
	// ErrBusy is a request that cannot be remembered (the nonce table is
	// full): not the caller's fault, to retry.
	ErrBusy = errors.New("peer: too many signed requests at once to check for replays")
)

// Secret is the cluster secret.
type Secret []byte

// NewSecret returns a random secret.
func NewSecret() Secret {
	s := make(Secret, SecretSize)
	rand.Read(s)
	return s
}

// ParseSecret reads a secret written by String.
func ParseSecret(text string) (Secret, error) {
	b, err := hex.DecodeString(strings.TrimSpace(text))
	if err != nil || len(b) != SecretSize {
		return nil, fmt.Errorf("a cluster secret is %d hex digits", 2*SecretSize)
	}
	return Secret(b), nil
}

// String returns the secret in hex.
func (s Secret) String() string { return hex.EncodeToString(s) }

// LoadSecret reads a secret from a file.
func LoadSecret(path string) (Secret, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		// The secret itself given where its file's name goes is not
		// echoed into logs.
		var pathErr *fs.PathError
		if _, perr := ParseSecret(path); perr == nil && errors.As(err, &pathErr) {
			return nil, fmt.Errorf("cluster secret: the secret file (-secret-file, secret_file: a file's name, not the secret) cannot be read: %w", pathErr.Err)
		}
		return nil, fmt.Errorf("cluster secret: %w", err)
	}
	s, err := ParseSecret(string(data))
	if err != nil {
		return nil, fmt.Errorf("cluster secret %s: %w", path, err)
	}
	return s, nil
}

// Options tune an Auth.
type Options struct {
	// Window is how far a request's timestamp may be from the receiver's
	// clock; zero means 30s.
	Window time.Duration
	// MaxNonces bounds the remembered nonces; zero means 1<<20. When it is
	// full, requests are refused until old nonces expire.
	MaxNonces int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Disabled signs nothing and verifies nothing: requests only say who
	// sends them. For benchmarks that measure what authentication costs;
	// never for a cluster anyone else can reach.
	Disabled bool
}

// Auth signs and verifies intra-cluster requests.
type Auth struct {
	secret  Secret
	options Options
	mu      struct {
		sync.Mutex
		nonces map[string]int64 // nonce to expiry, Unix nanoseconds
		// expiries orders the nonces by expiry: each request drops the
		// expired ones it finds first, never a scan of the table.
		expiries nonceHeap
	}
}

// nonceHeap is a min-heap of nonces by expiry (container/heap).
type nonceHeap []nonceExpiry

type nonceExpiry struct {
	nonce  string
	expiry int64
}

func (h nonceHeap) Len() int           { return len(h) }
func (h nonceHeap) Less(i, j int) bool { return h[i].expiry < h[j].expiry }
func (h nonceHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *nonceHeap) Push(x any)        { *h = append(*h, x.(nonceExpiry)) }
func (h *nonceHeap) Pop() any {
	old := *h
	last := old[len(old)-1]
	*h = old[:len(old)-1]
	return last
}

// NewAuth returns an Auth for a cluster secret.
func NewAuth(secret Secret, opts Options) *Auth {
	if opts.Window <= 0 {
		opts.Window = 30 * time.Second
	}
	if opts.MaxNonces <= 0 {
		opts.MaxNonces = 1 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &Auth{secret: secret, options: opts}
	a.mu.nonces = map[string]int64{}
	return a
}

// canonical is what the header MAC covers: the request line, its time,
// nonce, node and body, and the metadata header a part travels with (its
// index, stamp and checksum decide where and whether it is stored).
func canonical(method, host, uri, stamp, nonce, node, body string, h http.Header) []byte {
	return []byte("AIS-PEER-2\n" + method + "\n" + host + "\n" + uri + "\n" + stamp + "\n" + nonce + "\n" + node + "\n" + body + "\n" + h.Get(HeaderPart))
}

func (a *Auth) mac(data []byte) []byte {
	m := hmac.New(sha256.New, a.secret)
	m.Write(data)
	return m.Sum(nil)
}

func (a *Auth) bodyMAC(nonce string, digest []byte) string {
	return base64.StdEncoding.EncodeToString(a.mac([]byte("AIS-PEER-BODY-1\n" + nonce + "\n" + hex.EncodeToString(digest))))
}

// emptyDigest is the SHA-256 of no bytes.
var emptyDigest = func() string { d := sha256.Sum256(nil); return hex.EncodeToString(d[:]) }()

// Sign adds the signature headers to req, as node. A body of known,
// moderate length that can be read again (req.GetBody) is hashed now;
// any other body is streamed with a trailer MAC.
func (a *Auth) Sign(req *http.Request, node string) error {
	if a.options.Disabled {
		req.Header.Set(HeaderNode, node)
		return nil
	}
	var nonceBytes [16]byte
	rand.Read(nonceBytes[:])
	nonce := hex.EncodeToString(nonceBytes[:])
	stamp := strconv.FormatInt(a.options.Now().UnixNano(), 10)
	body := emptyDigest
	switch {
	case req.Body == nil || req.Body == http.NoBody:
	case req.GetBody != nil && req.ContentLength >= 0 && req.ContentLength <= maxHashedBody:
		rc, err := req.GetBody()
		if err != nil {
			return fmt.Errorf("peer: sign: %w", err)
		}
		h := sha256.New()
		_, err = io.Copy(h, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("peer: sign: %w", err)
		}
		body = hex.EncodeToString(h.Sum(nil))
	default:
		body = streamed
		if req.Trailer == nil {
			req.Trailer = http.Header{}
		}
		req.Trailer[TrailerMAC] = nil
		req.ContentLength = -1
		sign := func(body io.ReadCloser) io.ReadCloser {
			return &signingBody{body: body, hash: sha256.New(), done: func(digest []byte) {
				req.Trailer.Set(TrailerMAC, a.bodyMAC(nonce, digest))
			}}
		}
		req.Body = sign(req.Body)
		if rewind := req.GetBody; rewind != nil {
			// A retry (a connection closed before the request went out)
			// rewinds the body: signed again, or it goes without its MAC.
			req.GetBody = func() (io.ReadCloser, error) {
				body, err := rewind()
				if err != nil {
					return nil, err
				}
				return sign(body), nil
			}
		}
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	h := req.Header
	h.Set(HeaderNode, node)
	h.Set(HeaderTime, stamp)
	h.Set(HeaderNonce, nonce)
	h.Set(HeaderBody, body)
	h.Set(HeaderMAC, base64.StdEncoding.EncodeToString(a.mac(canonical(req.Method, host, req.URL.RequestURI(), stamp, nonce, node, body, req.Header))))
	return nil
}

// signingBody hashes a streamed body and sets its trailer MAC at the end.
type signingBody struct {
	body io.ReadCloser
	hash hash.Hash
	done func(digest []byte)
	sent bool
}

func (s *signingBody) Read(p []byte) (int, error) {
	n, err := s.body.Read(p)
	s.hash.Write(p[:n])
	if err == io.EOF && !s.sent {
		s.sent = true
		s.done(s.hash.Sum(nil))
	}
	return n, err
}

func (s *signingBody) Close() error { return s.body.Close() }

// Verify checks a request's signature and returns the sender's node id.
// For a body with a digest, r.Body is replaced by a reader that fails at
// the end if the bytes do not match.
func (a *Auth) Verify(r *http.Request) (string, error) {
	if a.options.Disabled {
		return r.Header.Get(HeaderNode), nil
	}
	h := r.Header
	node, stamp, nonce, body, mac := h.Get(HeaderNode), h.Get(HeaderTime), h.Get(HeaderNonce), h.Get(HeaderBody), h.Get(HeaderMAC)
	if node == "" || stamp == "" || nonce == "" || body == "" || mac == "" {
		return "", ErrUnsigned
	}
	got, err := base64.StdEncoding.DecodeString(mac)
	if err != nil || len(nonce) != 32 || len(node) > 256 {
		return "", ErrBadMAC
	}
	want := a.mac(canonical(r.Method, r.Host, r.RequestURI, stamp, nonce, node, body, r.Header))
	if !hmac.Equal(got, want) {
		return "", ErrBadMAC
	}
	at, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil {
		return "", ErrStale
	}
	// The request's time is checked under the nonce table's lock, with
	// the removal of expired nonces: a replay cannot pass the check
	// before another request removes its nonce. Past at+window the check
	// refuses the request, so its nonce is kept only that long, and a
	// quarter window as margin.
	if err := a.remember(nonce, at, int64(a.options.Window)); err != nil {
		return "", err
	}
	switch {
	case body == streamed:
		r.Body = &verifyingBody{body: r.Body, hash: sha256.New(), check: func(digest []byte) bool {
			return hmac.Equal([]byte(r.Trailer.Get(TrailerMAC)), []byte(a.bodyMAC(nonce, digest)))
		}}
	case body == emptyDigest && r.ContentLength == 0:
	default:
		want, err := hex.DecodeString(body)
		if err != nil {
			return "", ErrBadMAC
		}
		r.Body = &verifyingBody{body: r.Body, hash: sha256.New(), check: func(digest []byte) bool { return bytes.Equal(digest, want) }}
	}
	return node, nil
}

// remember records the nonce of a request of time at until it is stale
// (and a sweep after), refusing one seen before or stale by now.
func (a *Auth) remember(nonce string, at, window int64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.options.Now().UnixNano()
	if at < now-window || at > now+window {
		return ErrStale
	}
	expiry := at + window + window/4
	for len(a.mu.expiries) > 0 && a.mu.expiries[0].expiry < now {
		delete(a.mu.nonces, heap.Pop(&a.mu.expiries).(nonceExpiry).nonce)
	}
	if _, seen := a.mu.nonces[nonce]; seen {
		return ErrReplay
	}
	if len(a.mu.nonces) >= a.options.MaxNonces {
		return fmt.Errorf("%w: %d requests in the last %s to remember", ErrBusy, len(a.mu.nonces), a.options.Window)
	}
	a.mu.nonces[nonce] = expiry
	heap.Push(&a.mu.expiries, nonceExpiry{nonce, expiry})
	return nil
}

// verifyingBody hashes a request body and fails at its end on mismatch.
type verifyingBody struct {
	body  io.ReadCloser
	hash  hash.Hash
	check func(digest []byte) bool
	err   error
}

func (v *verifyingBody) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.body.Read(p)
	v.hash.Write(p[:n])
	if err == io.EOF && !v.check(v.hash.Sum(nil)) {
		v.err = ErrBodyMAC
		return n, v.err
	}
	return n, err
}

func (v *verifyingBody) Close() error { return v.body.Close() }

// Transport returns a RoundTripper that signs every request as node.
func (a *Auth) Transport(node string, next http.RoundTripper) http.RoundTripper {
	return &transport{auth: a, node: node, next: next}
}

type transport struct {
	auth *Auth
	node string
	next http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	// A RoundTripper must not change the caller's request.
	signed := req.Clone(req.Context())
	signed.Body, signed.GetBody = req.Body, req.GetBody
	if err := t.auth.Sign(signed, t.node); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return t.next.RoundTrip(signed)
}
