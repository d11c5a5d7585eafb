package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/store"
)

// Client talks to an AIS-Go cluster through any of its gateways.
type Client struct {
	http *http.Client
	// token is sent with every request (Authorization: Bearer); see
	// SetToken (which a program may call while requests run, to renew
	// it) and WithToken.
	token atomic.Pointer[string]
	// gatewayTimeout bounds the wait for a gateway's answer.
	gatewayTimeout time.Duration
	// targetTimeout bounds the wait for a target's answer once the
	// request is sent.
	targetTimeout time.Duration
	// direct sends object requests straight to the owner target by the
	// cluster map (fetched from the gateway and refreshed when a target
	// redirects), saving the gateway's redirect; the gateway is used when
	// no map can be had.
	direct bool
	// secure is set for a client given an https endpoint: it never
	// sends a request (its token, its body) to a node's plain http URL,
	// by the map or by a redirect.
	secure bool
	mu     struct {
		sync.Mutex
		smap      *cluster.Map
		stale     bool
		nextFetch time.Time
		// gateways are the gateways' URLs, the one in use first: those
		// given, then those the maps named.
		gateways []string
	}
}

// DirectValue is the redirect marker of a request a client routed itself
// by its cluster map.
const DirectValue = "client"

// UseRedirects makes the client send every request to the gateway and
// follow its redirects, as plain HTTP clients do; the default routes
// object requests to their owner target directly. Call it before the
// client's first request, as SetGatewayTimeout and SetTargetTimeout.
func (c *Client) UseRedirects() *Client {
	c.direct = false
	return c
}

// ownerURL returns the URL of the target that owns an object by the
// client's map, or "" when there is no map to route by.
func (c *Client) ownerURL(ctx context.Context, b store.Bucket, name string) string {
	c.mu.Lock()
	smap, stale, next := c.mu.smap, c.mu.stale, c.mu.nextFetch
	fetch := (smap == nil || stale) && time.Now().After(next)
	if fetch {
		// One fetch at a time: the requests meanwhile go by the map they
		// have, or through a gateway.
		c.mu.nextFetch = time.Now().Add(time.Hour)
	}
	c.mu.Unlock()
	if fetch {
		smap = c.fetchMap(ctx, smap)
	}
	if smap == nil {
		return ""
	}
	b = b.Normalize()
	owner, err := smap.Owner(cluster.Uname(b.Provider, b.Name, name))
	if err != nil || c.secure && !isHTTPS(owner.URL) {
		return "" // (through the gateway, whose redirect there is refused)
	}
	return strings.TrimRight(owner.URL, "/")
}

// isHTTPS reports a URL of the https scheme.
func isHTTPS(u string) bool { return len(u) >= 8 && strings.EqualFold(u[:8], "https://") }

// fetchMap reads the cluster map from a gateway and returns it, or the
// map the client had when it cannot be read. Its bound outlasts a gateway
// that hangs (the gateway timeout), so that the next is asked, and ends
// one that stops mid-answer.
func (c *Client) fetchMap(ctx context.Context, had *cluster.Map) *cluster.Map {
	defer func() {
		// At most one fetch a second, whatever happens.
		c.mu.Lock()
		c.mu.nextFetch = time.Now().Add(time.Second)
		c.mu.Unlock()
	}()
	bound := 5 * time.Second
	if c.gatewayTimeout > 0 {
		bound += 2 * c.gatewayTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	fresh := new(cluster.Map)
	if err := c.doJSON(ctx, request{method: http.MethodGet, path: "/v1/cluster", query: url.Values{QueryWhat: {"smap"}}}, fresh); err != nil {
		return had
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.smap, c.mu.stale = fresh, false
	c.learnLocked(fresh)
	return fresh
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
// support, so a redirected PUT does not send its body twice. HTTPS
// endpoints are checked against the system's CAs; NewTransportTLS takes
// another configuration.
func NewTransport() *http.Transport { return NewTransportTLS(nil) }

// NewTransportTLS is NewTransport with the TLS configuration of HTTPS
// connections (see TLSConfig); nil means Go's defaults.
func NewTransportTLS(tc *tls.Config) *http.Transport {
	return &http.Transport{
		Proxy:                 nil, // a cluster is reached directly
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: 10 * time.Second,
		ReadBufferSize:        128 << 10,
		WriteBufferSize:       128 << 10,
	}
}

// The environment variables of TLSFromEnv, AIStore's names.
const (
	EnvSkipVerify = "AIS_SKIP_VERIFY_CRT"
	EnvClientCA   = "AIS_CLIENT_CA"
	EnvClientCert = "AIS_CRT"
	EnvClientKey  = "AIS_CRT_KEY"
)

// TLSConfig says how a client checks the certificates of an HTTPS cluster,
// and which certificate it shows to a cluster that asks for one.
type TLSConfig struct {
	// CAFile holds the PEM certificates trusted instead of the system's:
	// the CA that signed the nodes' certificates, or a self-signed one.
	CAFile string
	// CertFile and KeyFile are the client's certificate and key, for
	// nodes that verify clients; both or neither.
	CertFile, KeyFile string
	// SkipVerify accepts any certificate: for self-signed development
	// certificates only, since it lets anyone on the path pose as the
	// cluster.
	SkipVerify bool
}

// TLSFromEnv reads a TLSConfig from AIS_SKIP_VERIFY_CRT (true or false),
// AIS_CLIENT_CA, AIS_CRT and AIS_CRT_KEY.
func TLSFromEnv() (TLSConfig, error) {
	tc := TLSConfig{CAFile: os.Getenv(EnvClientCA), CertFile: os.Getenv(EnvClientCert), KeyFile: os.Getenv(EnvClientKey)}
	if v := os.Getenv(EnvSkipVerify); v != "" {
		skip, err := strconv.ParseBool(v)
		if err != nil {
			return tc, fmt.Errorf("$%s=%q: want true or false", EnvSkipVerify, v)
		}
		tc.SkipVerify = skip
	}
	return tc, nil
}

// Config reads the files and returns the crypto/tls configuration, at
// least TLS 1.2. An error names the file at fault.
func (t TLSConfig) Config() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.SkipVerify}
	if t.CAFile != "" {
		pool, err := LoadCertPool(t.CAFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, fmt.Errorf("tls: a client certificate (%q) and its key (%q) go together: one is missing", t.CertFile, t.KeyFile)
	}
	if t.CertFile != "" {
		pair, err := LoadKeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// LoadCertPool reads a pool of PEM certificates from a file.
func LoadCertPool(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tls: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("tls: CA file %s holds no PEM certificate", file)
	}
	return pool, nil
}

// LoadKeyPair reads a PEM certificate (chain) and its private key, naming
// the file at fault; the leaf is parsed into the result's Leaf.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: certificate: %w", err)
	}
	var block *pem.Block
	for rest := certPEM; ; {
		if block, rest = pem.Decode(rest); block == nil || block.Type == "CERTIFICATE" {
			break
		}
	}
	if block == nil {
		return tls.Certificate{}, fmt.Errorf("tls: certificate file %s holds no PEM certificate", certFile)
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: certificate file %s: %w", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: key: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: key file %s (for certificate %s): %w", keyFile, certFile, err)
	}
	if pair.Leaf == nil {
		// GODEBUG=x509keypairleaf=0 leaves it out.
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return tls.Certificate{}, fmt.Errorf("tls: certificate file %s: %w", certFile, err)
		}
	}
	return pair, nil
}

// NewClient returns a client of the gateway at endpoint, for example
// "http://localhost:8080" or "https://ais.example.com:8080". An HTTPS
// cluster whose certificates the system does not trust takes
// NewClientWith(endpoint, &http.Client{Transport: NewTransportTLS(tc)}).
func NewClient(endpoint string) *Client {
	return NewClientWith(endpoint, &http.Client{Transport: NewTransport()})
}

// NewClientWith returns a client that uses the given HTTP client. The
// client's redirect policy is replaced: redirects are followed here.
func NewClientWith(endpoint string, hc *http.Client) *Client {
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	client := &Client{http: &c, direct: true, gatewayTimeout: DefaultGatewayTimeout, targetTimeout: DefaultTargetTimeout}
	client.SetToken(TokenFromEnv())
	client.mu.gateways = []string{strings.TrimRight(endpoint, "/")}
	client.secure = isHTTPS(endpoint)
	return client
}

// AddGateways adds gateways the client may fail over to when the one it
// uses does not answer. The client also learns the gateways from every
// cluster map it reads.
func (c *Client) AddGateways(urls ...string) *Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range urls {
		if c.secure && !isHTTPS(u) {
			continue // failed over to, it would have the token in the clear
		}
		if u = strings.TrimRight(u, "/"); u != "" && !slices.Contains(c.mu.gateways, u) {
			c.mu.gateways = append(c.mu.gateways, u)
		}
	}
	return c
}

// CloseIdleConnections closes the client's kept-alive connections that
// carry no request now; a client dropped for good should be closed so.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// Endpoint returns the URL of the gateway the client talks to now.
func (c *Client) Endpoint() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.gateways[0]
}

// knowsNode reports whether a URL is of a node the client knows: a
// gateway it was given or learned, or a node of the map it routes by.
func (c *Client) knowsNode(link string) bool {
	u, err := url.Parse(link)
	if err != nil {
		return false
	}
	same := func(node string) bool {
		n, err := url.Parse(node)
		// (The same host upgraded to https: an ingress's redirect.)
		return err == nil && (n.Scheme == u.Scheme || u.Scheme == "https") && strings.EqualFold(n.Host, u.Host)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if slices.ContainsFunc(c.mu.gateways, same) {
		return true
	}
	return c.mu.smap != nil && slices.ContainsFunc(c.mu.smap.Nodes, func(n cluster.Node) bool { return same(n.URL) })
}

// gatewayAt is the gateway a URL is at, of those the client knows (given,
// learned from the map), or "".
func (c *Client) gatewayAt(link string) string {
	u, err := url.Parse(link)
	if err != nil {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range c.mu.gateways {
		if n, err := url.Parse(g); err == nil && n.Scheme == u.Scheme && strings.EqualFold(n.Host, u.Host) {
			return g
		}
	}
	return ""
}

// Gateways returns the gateways the client knows, the one in use first.
func (c *Client) Gateways() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.mu.gateways)
}

// learnLocked adds the gateways a map names.
func (c *Client) learnLocked(m *cluster.Map) {
	for _, g := range m.Gateways() {
		if c.secure && !isHTTPS(g.URL) {
			continue // failed over to, it would have the token in the clear
		}
		if u := strings.TrimRight(g.URL, "/"); u != "" && !slices.Contains(c.mu.gateways, u) {
			c.mu.gateways = append(c.mu.gateways, u)
		}
	}
}

// failover moves from the gateway at failed to the next known one that is
// not in down (the gateways that failed this request already) and returns
// it; "" when there is none. Concurrent requests that saw the same gateway
// fail move once.
func (c *Client) failover(failed string, down []string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	gateways := c.mu.gateways
	for range gateways {
		if gateways[0] == failed || slices.Contains(down, gateways[0]) {
			gateways = append(gateways[1:], gateways[0])
			continue
		}
		c.mu.gateways = gateways
		return gateways[0]
	}
	return ""
}

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
	// resent, when set, is told the request went out again after one that
	// may have reached its node (its answer lost).
	resent *bool
	// patient waits for the gateway's answer as long as ctx allows: it
	// works before answering (a dSort estimate), so the gateway timeout
	// would take it for a hung gateway.
	patient bool
	// startsJob waits for the gateway's answer up to JobStartTimeout: it
	// starts a job on every target before answering.
	startsJob bool
	// slow waits as startsJob does, for a request that may be sent again
	// (a job's stop, answered once every target stopped it).
	slow bool
	// lateBody: the node reads the body only once it has worked (a file
	// put into a shard, read at its place in the shard's rewrite): sent
	// with Expect: 100-continue, its sending is bounded from the node's
	// go-ahead on.
	lateBody bool
}

// doOnce sends a request and follows redirects; the caller closes the
// response body. Non-2xx responses are returned as *Error.
// A gateway that answers 503 is named by refusedBy.
func (c *Client) doOnce(ctx context.Context, rq request, body *hopBody, down *[]string) (resp *http.Response, refusedBy string, err error) {
	if c.secure && rq.base != "" && !isHTTPS(rq.base) {
		// A node named by the caller (its URL from a cluster status)
		// would have the token in the clear.
		return nil, "", fmt.Errorf("%s %s%s: the client uses https, and the node's URL is not: not sent", rq.method, hostOf(rq.base), rq.path)
	}
	target, gateway := c.route(ctx, rq)
	routed := gateway == "" && rq.base == ""
	switched := 0
	redirected := false
	for hop := 0; ; hop++ {
		if hop > maxRedirects {
			return nil, "", fmt.Errorf("%s %s: %w", rq.method, rq.path, ErrTooManyRedirects)
		}
		var hopCtx context.Context
		var answered, release func()
		switch {
		case rq.patient && gateway != "" && strings.HasPrefix(rq.path, objectsPrefix):
			// An object's: the target works, the gateway only redirects
			// (one frozen held the request for ever). Its answer is
			// bounded as a gateway's, from the hop's start (a body it
			// reads late may never be sent), and every byte as a
			// patient request's.
			hopCtx, answered, release = c.gatewayStallContext(ctx, gateway)
		case rq.patient:
			// No bound on the answer's start (the node works first), but
			// on every byte sent and read.
			hopCtx, answered, release = c.stallContext(ctx, target, 0, "target")
		case gateway != "":
			hopCtx, answered, release = c.hopContext(ctx, gateway, rq.startsJob || rq.slow)
		default:
			hopCtx, answered, release = c.targetHopContext(ctx, target)
		}
		req, err := body.request(hopCtx, rq, target)
		if err != nil {
			release()
			return nil, "", err
		}
		// After a redirect, only to a node the client knows: a cluster's
		// redirect to a target carries a grant (the token not needed),
		// and one elsewhere (a load balancer's to a login page) must not
		// have it.
		if token := c.tokenOf(ctx); token != "" && (!redirected || c.knowsNode(target)) {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		// A request that asked for a connection and never had one (a
		// dial, a TLS handshake, that failed or hung past the hop's
		// bound) was not sent: it may go to another node, whatever its
		// method. (A transport that is not net/http's asks for none.)
		var asked, connected atomic.Bool
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GetConn: func(string) { asked.Store(true) },
			GotConn: func(httptrace.GotConnInfo) { connected.Store(true) },
		}))
		resp, err = c.http.Do(req)
		answered()
		if err != nil && ctx.Err() == nil && hopCtx.Err() != nil {
			err = context.Cause(hopCtx)
		}
		if err != nil && asked.Load() && !connected.Load() {
			err = &unsentError{err}
		}
		if err != nil || isRedirect(resp.StatusCode) || resp.StatusCode >= 300 {
			defer release() // after the body is drained
			// An error's body, read here, is watched too: a node that
			// stops sending it must not hold the call for ever.
			if watch, ok := hopCtx.Value(stallKey{}).(*stallWatch); ok && err == nil {
				resp.Body = &stallAnswer{ReadCloser: resp.Body, watch: watch}
			}
		} else {
			if watch, ok := hopCtx.Value(stallKey{}).(*stallWatch); ok {
				resp.Body = &stallAnswer{ReadCloser: resp.Body, watch: watch}
			}
			resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
		}
		if err != nil && ctx.Err() == nil {
			if fault := body.fault(ctx, rq.size); fault != nil {
				return nil, "", fmt.Errorf("%s %s: %w", rq.method, rq.path, fault)
			}
		}
		if err != nil && routed && hop == 0 && ctx.Err() == nil && body.resendable(ctx) && (notSent(err) || rq.idempotent()) {
			// The map the client routed by is out of date (a target is
			// gone): ask the gateway, which knows.
			if rq.resent != nil && !notSent(err) {
				*rq.resent = true
			}
			c.mapIsStale()
			target, gateway = c.gatewayURL(rq)
			routed = false
			continue
		}
		if err != nil && gateway != "" && !redirected && ctx.Err() == nil && switched < maxGateways {
			// The gateway is down or hangs: later requests go to
			// another, and this one too when it can be sent again.
			// (Not one a target sent the request on to, the primary:
			// every gateway's targets would send it there again.)
			*down = append(*down, gateway)
			next := c.failover(gateway, *down)
			if next != "" && body.resendable(ctx) && (notSent(err) || rq.idempotent()) {
				if rq.resent != nil && !notSent(err) {
					*rq.resent = true
				}
				switched++
				hop--
				gateway = next
				target = withQuery(next+rq.path, gatewayQuery(rq))
				continue
			}
		}
		if err != nil {
			err = hideQuery(err)
			if ctx.Err() != nil {
				return nil, "", err
			}
			if certificateError(err) {
				// Not unavailable: asking again cannot help.
				return nil, "", fmt.Errorf("%s %s: node at %s: its certificate is not trusted (see api.TLSConfig): %w", rq.method, rq.path, req.URL.Scheme+"://"+req.URL.Host, err)
			}
			if !notSent(err) && !rq.idempotent() {
				return nil, "", fmt.Errorf("%w: %s %s: node at %s took the request and its answer was lost (%w): it may have been applied; look before sending it again", ErrUnavailable, rq.method, rq.path, req.URL.Scheme+"://"+req.URL.Host, err)
			}
			return nil, "", fmt.Errorf("%w: %s %s: node at %s is unreachable: %w", ErrUnavailable, rq.method, rq.path, req.URL.Scheme+"://"+req.URL.Host, err)
		}
		if isRedirect(resp.StatusCode) {
			if target, err = c.redirect(ctx, rq, resp, hop, routed); err != nil {
				return nil, "", err
			}
			// A redirect leads to a target, or to a gateway (a target
			// that does not know a remote bucket yet sends the request
			// to the primary): bounded and failed over as a gateway's.
			gateway = c.gatewayAt(target)
			redirected = true
			continue
		}
		if resp.StatusCode >= 300 {
			if resp.StatusCode == http.StatusServiceUnavailable {
				refusedBy = gateway
			}
			err := DecodeError(resp)
			drain(resp)
			// The node may have answered while the body was still
			// going out: a retry rewinds it only after.
			body.settled(ctx)
			return nil, refusedBy, err
		}
		return resp, "", nil
	}
}

// DefaultGatewayTimeout bounds the wait for a gateway's answer (its
// headers): a gateway that hangs (stopped, frozen) is left for another.
const DefaultGatewayTimeout = 15 * time.Second

// JobStartTimeout bounds the wait for a gateway that starts a job (a
// download, a prefetch, a copy, a dSort): it starts it on every target
// before it answers, each start bounded by two minutes in all.
const JobStartTimeout = 3 * time.Minute

// SetGatewayTimeout sets how long the client waits for a gateway to start
// answering before it turns to another; zero waits as long as the
// request's context allows.
func (c *Client) SetGatewayTimeout(d time.Duration) *Client {
	c.gatewayTimeout = d
	return c
}

// hopContext bounds a hop to a gateway by the gateway timeout until its
// answer starts (answered); release ends the hop once its answer was read.
func (c *Client) hopContext(ctx context.Context, gateway string, startsJob bool) (hopCtx context.Context, answered, release func()) {
	if gateway == "" || c.gatewayTimeout <= 0 {
		return ctx, func() {}, func() {}
	}
	timeout := c.gatewayTimeout
	if startsJob {
		timeout = max(timeout, JobStartTimeout)
	}
	hopCtx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(timeout, func() {
		cancel(fmt.Errorf("gateway %s did not answer within %s", gateway, timeout))
	})
	// Its answer's reads are watched as a target's: a gateway frozen
	// mid-answer must not hold the call for ever. (As long as a target
	// may pause: a gateway streams what targets send, a batch's files.)
	limit := max(timeout, c.targetTimeout)
	watch := &stallWatch{limit: limit, cancel: func() {
		cancel(fmt.Errorf("gateway %s moved no byte for %s", gateway, limit))
	}}
	hopCtx = context.WithValue(hopCtx, stallKey{}, watch)
	return hopCtx, func() { timer.Stop(); watch.working() }, func() { timer.Stop(); watch.stop(); cancel(nil) }
}

// DefaultTargetTimeout bounds the wait for a target's answer (its
// headers) once the request is sent: long enough for the work a target
// does before it answers (an object rebuilt from its parts, a PUT made
// durable), short of waiting for ever on a target that froze.
const DefaultTargetTimeout = 5 * time.Minute

// SetTargetTimeout sets how long the client waits for a target to start
// answering once its request is sent; zero waits as long as the
// request's context allows.
func (c *Client) SetTargetTimeout(d time.Duration) *Client {
	c.targetTimeout = d
	return c
}

// targetHopContext bounds a hop to a target by the target timeout, from
// when the request is written (a body may take long to send) until its
// answer starts (answered); release ends the hop once its answer was
// read.
func (c *Client) targetHopContext(ctx context.Context, target string) (hopCtx context.Context, answered, release func()) {
	return c.stallContext(ctx, target, c.targetTimeout, "target")
}

// gatewayStallContext bounds a hop to a gateway as hopContext does, by
// the gateway timeout from its start, and its transfer as a target's.
func (c *Client) gatewayStallContext(ctx context.Context, gateway string) (hopCtx context.Context, answered, release func()) {
	if c.targetTimeout <= 0 {
		return c.hopContext(ctx, gateway, false)
	}
	watched, watchAnswered, watchRelease := c.stallContext(ctx, gateway, 0, "gateway")
	if c.gatewayTimeout <= 0 {
		return watched, watchAnswered, watchRelease
	}
	bounded, cancel := context.WithCancelCause(watched)
	timer := time.AfterFunc(c.gatewayTimeout, func() {
		cancel(fmt.Errorf("gateway %s did not answer within %s", gateway, c.gatewayTimeout))
	})
	return bounded, func() { timer.Stop(); watchAnswered() }, func() { timer.Stop(); watchRelease(); cancel(nil) }
}

// stallContext is targetHopContext, bounding the answer's start by
// answerWithin or not (zero: a patient request's, the node works on the
// whole object first); its transfer's waits are bounded either way. what
// names the node (target, gateway) in the errors.
func (c *Client) stallContext(ctx context.Context, target string, answerWithin time.Duration, what string) (hopCtx context.Context, answered, release func()) {
	if c.targetTimeout <= 0 {
		return ctx, func() {}, func() {}
	}
	hopCtx, cancel := context.WithCancelCause(ctx)
	var mu sync.Mutex
	var timer *time.Timer
	stopped := false
	var watch *stallWatch
	start := func(httptrace.WroteRequestInfo) {
		mu.Lock()
		defer mu.Unlock()
		if answerWithin <= 0 {
			watch.working() // sent: the node's turn, as long as it takes
			return
		}
		if !stopped && timer == nil {
			timer = time.AfterFunc(answerWithin, func() {
				cancel(fmt.Errorf("%s at %s did not answer within %s of the request", what, hostOf(target), answerWithin))
			})
		}
	}
	stop := func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		if timer != nil {
			timer.Stop()
		}
	}
	hopCtx = httptrace.WithClientTrace(hopCtx, &httptrace.ClientTrace{WroteRequest: start, Got100Continue: func() { watch.continued.Store(true) }})
	watch = &stallWatch{limit: c.targetTimeout, cancel: func() {
		cancel(fmt.Errorf("%s at %s moved no byte for %s", what, hostOf(target), c.targetTimeout))
	}}
	hopCtx = context.WithValue(hopCtx, stallKey{}, watch)
	// Answered, the wait is the answer's reads' (and the caller's before
	// them is not counted).
	return hopCtx, func() { stop(); watch.working() }, func() { stop(); watch.stop(); cancel(nil) }
}

// stallWatch ends a hop to a target whose transfer stopped: one wait on
// the network (the transport writing the request's body, a read of the
// answer) longer than limit; a target frozen mid-transfer (its window
// shut, its socket silent) would hold the request for ever. The time the
// caller's body takes to give bytes, or the caller takes between reads
// of the answer, is not a wait on the target.
type stallWatch struct {
	limit  time.Duration
	cancel func()
	mu     sync.Mutex
	timer  *time.Timer
	done   bool
	// continued: the node said to send the body (100 Continue): a body
	// it reads late (lateBody) is watched from then on.
	continued atomic.Bool
}

type stallKey struct{}

// waiting starts, or starts again, the wait on the network.
func (w *stallWatch) waiting() {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.done:
	case w.timer == nil:
		w.timer = time.AfterFunc(w.limit, w.cancel)
	default:
		w.timer.Reset(w.limit)
	}
}

// working pauses it: the caller's turn.
func (w *stallWatch) working() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
	}
}

func (w *stallWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	if w.timer != nil {
		w.timer.Stop()
	}
}

// stallBody is a request body the transport reads between its writes;
// gated, only once the node said to send it.
type stallBody struct {
	r     io.Reader
	watch *stallWatch
	gated bool
}

func (b *stallBody) Read(p []byte) (int, error) {
	if b.gated && !b.watch.continued.Load() {
		return b.r.Read(p)
	}
	b.watch.working()
	n, err := b.r.Read(p)
	b.watch.waiting() // the transport writes what it got, or ends the request
	return n, err
}

func (b *stallBody) Close() error {
	if c, ok := b.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// stallAnswer is an answer's body, each read a wait on the network.
type stallAnswer struct {
	io.ReadCloser
	watch *stallWatch
}

func (a *stallAnswer) Read(p []byte) (int, error) {
	a.watch.waiting()
	n, err := a.ReadCloser.Read(p)
	a.watch.working()
	return n, err
}

// hostOf is a URL's scheme and host, for messages.
func hostOf(u string) string {
	if p, err := url.Parse(u); err == nil && p.Host != "" {
		return p.Scheme + "://" + p.Host
	}
	return u
}

// releasingBody releases a hop's context when the answer is closed.
type releasingBody struct {
	io.ReadCloser
	release func()
	once    sync.Once
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

// maxGateways bounds the gateways one request fails over to.
const maxGateways = 16

// unsentError is a transport error of a request that never had a
// connection.
type unsentError struct{ error }

func (e *unsentError) Unwrap() error { return e.error }

// notSent reports whether a transport error happened before the request
// left: the connection was never made.
func notSent(err error) bool {
	var unsent *unsentError
	var op *net.OpError
	return errors.As(err, &unsent) || errors.As(err, &op) && op.Op == "dial"
}

// certificateError reports whether a TLS handshake failed because the
// client does not trust the server's certificate.
func certificateError(err error) bool {
	var verify *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid)
}

// idempotent reports whether a request may be sent again after a failure
// mid-request: its method is, and it is not an append or conditional
// (done once, a second append adds the piece twice, a second If-None-Match
// PUT fails), nor an action that starts work (a second archive job with
// append puts every file in the shard twice).
func (rq request) idempotent() bool {
	if rq.startsJob {
		return false // a bucket summary starts one with a GET
	}
	switch rq.method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	case http.MethodPut, http.MethodDelete:
		if msg, ok := rq.bodyJSON.(ActionMessage); ok {
			return msg.Action == actionSetConfig || msg.Action == ActionStopJob
		}
		return rq.query.Get(QueryAppendType) == "" && rq.header.Get("If-Match") == "" && rq.header.Get("If-None-Match") == ""
	}
	return false
}

// actionSetConfig sets the cluster's config: done twice, it is as once.
const actionSetConfig = "set-config"

// route returns the URL of a request's first hop and, when that hop goes
// to a gateway, the gateway's URL: the owner target by the client's map
// for an object request when the client routes itself, else rq.base or
// the gateway in use.
func (c *Client) route(ctx context.Context, rq request) (target, gateway string) {
	if rq.base != "" {
		return withQuery(rq.base+rq.path, rq.query), ""
	}
	if rq.object != "" && c.direct {
		// The provider is the request's, as the gateway would place it.
		bucket := store.Bucket{Name: rq.bucket, Provider: rq.query.Get(QueryProvider)}
		if owner := c.ownerURL(ctx, bucket, rq.object); owner != "" {
			// A copy: the caller's query serves retries and the
			// fallback to the gateway.
			query := url.Values{}
			for k, v := range rq.query {
				query[k] = v
			}
			query.Set(QueryProxyID, DirectValue)
			return withQuery(owner+rq.path, query), ""
		}
	}
	return c.gatewayURL(rq)
}

// gatewayURL returns the URL of a request sent to the gateway in use,
// without the marker of a request the client routed itself, and the
// gateway's URL.
func (c *Client) gatewayURL(rq request) (target, gateway string) {
	gateway = c.Endpoint()
	return withQuery(gateway+rq.path, gatewayQuery(rq)), gateway
}

// gatewayQuery is a request's query as sent to a gateway.
func gatewayQuery(rq request) url.Values {
	q := url.Values{}
	for k, v := range rq.query {
		if k != QueryProxyID {
			q[k] = v
		}
	}
	return q
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
	// The token and the body go with the request: never from https to
	// plain http, where anyone on the way reads them.
	if (c.secure || resp.Request != nil && resp.Request.URL.Scheme == "https") && loc.Scheme != "https" {
		// Not its query: it may hold an access grant.
		return "", fmt.Errorf("%s %s: refused a redirect from https to %s://%s%s (give the nodes https URLs)", rq.method, rq.path, loc.Scheme, loc.Host, loc.Path)
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
	// sent is closed once the transport let go of the last hop's body:
	// a node may answer (a redirect) while the body is still being
	// written, and the body is read or rewound only after.
	sent chan struct{}
}

// settled waits until the transport let go of the last hop's body (it
// does once the write ends or fails: the nodes close a connection whose
// body they do not read).
func (b *hopBody) settled(ctx context.Context) error {
	if b.sent == nil {
		return nil
	}
	select {
	case <-b.sent:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the request's body is still being sent to the last node: %w", context.Cause(ctx))
	}
}

// hopReader is the body of one hop: the transport closes it once it is
// done writing it (RoundTripper's contract), maybe after the answer came.
type hopReader struct {
	io.Reader
	once sync.Once
	sent chan struct{}
}

func (h *hopReader) Close() error {
	h.once.Do(func() { close(h.sent) })
	return nil
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
// out, or it can be rewound; and it did not fail itself (a body that
// fails is the caller's error, which no other node can mend).
func (b *hopBody) resendable(ctx context.Context) bool {
	if b.settled(ctx) != nil {
		return false
	}
	return b.body.err == nil && (b.body.n == 0 || b.seekable)
}

// fault tells whether a hop failed because of the caller's body: a read
// error, or fewer or more bytes than the size given. That is no node's
// fault: no other gateway is tried, and it is not ErrUnavailable.
func (b *hopBody) fault(ctx context.Context, size int64) error {
	if b.payload != nil || b.settled(ctx) != nil {
		return nil
	}
	switch {
	case b.body.err != nil:
		return fmt.Errorf("read the body: %w", b.body.err)
	case size > 0 && (b.body.n > size || b.body.eof && b.body.n != size):
		return fmt.Errorf("the body has %d bytes or more, not the %d given as its size", b.body.n, size)
	}
	return nil
}

// request returns the HTTP request of one hop to target.
func (b *hopBody) request(ctx context.Context, rq request, target string) (*http.Request, error) {
	var reqBody io.Reader
	switch {
	case b.payload != nil:
		reqBody = bytes.NewReader(b.payload)
	case rq.body != nil:
		if err := b.settled(ctx); err != nil {
			return nil, fmt.Errorf("%s %s: %w", rq.method, rq.path, err)
		}
		if b.body.n > 0 {
			if !b.seekable {
				return nil, fmt.Errorf("%s %s: redirected after the body was sent, and the body cannot be rewound", rq.method, rq.path)
			}
			if _, err := b.seeker.Seek(b.start, io.SeekStart); err != nil {
				return nil, err
			}
			b.body.n, b.body.eof = 0, false
		}
		if rq.size != 0 {
			hop := &hopReader{Reader: b.body, sent: make(chan struct{})}
			b.sent, reqBody = hop.sent, hop
		} else {
			b.sent, reqBody = nil, b.body
		}
		if watch, ok := ctx.Value(stallKey{}).(*stallWatch); ok && rq.size != 0 {
			reqBody = &stallBody{r: reqBody, watch: watch, gated: rq.lateBody}
		}
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
		if !b.seekable || rq.lateBody {
			// (A body read late is watched from the node's go-ahead.)
			req.Header.Set("Expect", "100-continue")
		}
	}
	return req, nil
}

// retryDelays space the attempts of a request a node answered with 503
// (a target starting, placement moving during a PUT, gateways electing a
// leader).
var retryDelays = [...]time.Duration{100 * time.Millisecond, 300 * time.Millisecond, time.Second, 2 * time.Second}

// do sends a request, following redirects, and tries again when a node
// is unavailable for a moment and the body can be sent again.
func (c *Client) do(ctx context.Context, rq request) (*http.Response, error) {
	rq = withProvider(rq)
	// One for every attempt: it knows what of the body went out, and
	// rewinds it for the next.
	body, err := newHopBody(rq)
	if err != nil {
		return nil, err
	}
	// down holds the gateways that failed this request: unreachable, or
	// unavailable (starting, removed, or without a quorum after waiting
	// for a leader): another gateway may serve it.
	var down []string
	// refused is the last answer of a gateway that refused: it says more
	// than an unreachable one after it.
	var refused error
	for attempt := 0; ; {
		resp, refusedBy, err := c.doOnce(ctx, rq, body, &down)
		var e *Error
		if err != nil && refused != nil && !errors.As(err, &e) && ctx.Err() == nil && notSent(err) {
			// The refusal before says more than a gateway that could not
			// be reached after it, and is waited for as any (a dead
			// gateway known skipped the retries of the one starting); not
			// than one that may have acted (its answer lost): that one's
			// outcome is unknown, not refused.
			resp, refusedBy, err = nil, "", refused
		}
		if err == nil || !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable {
			return resp, err
		}
		if e.proxy && !rq.idempotent() {
			// A proxy's 503 (an ingress's "upstream reset") may come
			// after the gateway took the request: a second create, a
			// second job, is not sent.
			return resp, err
		}
		if refusedBy != "" {
			refused = err
		}
		var delay time.Duration
		if refusedBy != "" && rq.base == "" {
			down = append(down, refusedBy)
		}
		switch {
		case refusedBy != "" && rq.base == "" && c.failover(refusedBy, down) != "":
			// Another gateway, at once.
		case errors.Is(err, ErrNoQuorum):
			return resp, err // every gateway said so, or is down
		case attempt == len(retryDelays):
			return resp, err
		default:
			// A target's 503, or every gateway's: wait, then try all again.
			delay = retryDelays[attempt]
			attempt++
			down = down[:0]
		}
		// Sent again when none of it went out (a node that answers 503
		// before its go-ahead read nothing), or rewound.
		if rq.body != nil && rq.bodyJSON == nil && !body.resendable(ctx) {
			return resp, err
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		// The caller's end, not the 503 (errors.Is finds both): one that
		// retries on ErrUnavailable would go on past it. Checked after
		// the wait too, with the deadline itself (the context learns of
		// it a moment later): an end and the wait's at one moment sent a
		// request bound to fail on the end alone.
		if deadline, ok := ctx.Deadline(); ok && !time.Now().Before(deadline) {
			<-ctx.Done() // at once: for its cause (WithDeadlineCause's)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (while waiting to retry: %w)", context.Cause(ctx), err)
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
	// Bounded: a node's answer (a page, a status) is far smaller.
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJSONAnswer)).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer (at most %d MiB): %w", rq.method, rq.path, maxJSONAnswer>>20, err)
	}
	return nil
}

// maxJSONAnswer bounds the JSON answers doJSON reads.
const maxJSONAnswer = 256 << 20

// DecodeError turns a failed response into *Error.
func DecodeError(resp *http.Response) error {
	e := &Error{Status: resp.StatusCode}
	data := []byte(resp.Header.Get(HeaderError))
	if len(data) == 0 {
		data, _ = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	}
	decoded := json.Unmarshal(data, e) == nil && e.Message != ""
	if !decoded {
		e.Message = strings.TrimSpace(string(data))
		if e.Message == "" {
			e.Message = http.StatusText(resp.StatusCode)
		}
	}
	e.Status = resp.StatusCode
	if e.Method == "" && resp.Request != nil {
		e.Method, e.Path = resp.Request.Method, resp.Request.URL.Path
	}
	if resp.StatusCode >= 500 && !decoded && resp.Header.Get(HeaderNodeID) == "" {
		// Every node names itself and says its error in JSON: a server
		// error with neither is a proxy's in front (an ingress's 502 or
		// 504 page while a gateway restarts), the cluster not reached,
		// as a dial that fails. (Not retried as a 503 is: a 504's
		// request may have been applied.) Its page is cut to a line.
		msg, _, _ := strings.Cut(e.Message, "\n")
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		e.Kind, e.Message = KindUnavailable, fmt.Sprintf("answered %s by no node of the cluster (a proxy in front?): %s", resp.Status, msg)
		e.proxy = true
	}
	return e
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
}

// countingReader counts the bytes read, to tell whether a body was sent.
type countingReader struct {
	r   io.Reader
	n   int64
	err error // the body's own failure, not the network's
	eof bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err == io.EOF {
		c.eof = true
	} else if err != nil {
		c.err = err
	}
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

// withProvider lets a bucket be named with its provider, "s3://name" (an
// s3 bucket) or "ais://name", wherever the client takes a bucket: the
// path gets the bare name and the query the provider.
func withProvider(rq request) request {
	for _, prefix := range []string{"/v1/buckets/", "/v1/objects/", "/v1/ml/moss/"} {
		rest, ok := strings.CutPrefix(rq.path, prefix)
		if !ok {
			continue
		}
		escaped, tail, _ := strings.Cut(rest, "/")
		segment, err := url.PathUnescape(escaped)
		if err != nil || !strings.Contains(segment, "://") {
			return rq
		}
		b, err := store.ParseBucketURI(segment)
		if err != nil {
			return rq
		}
		rq.path = prefix + url.PathEscape(b.Name)
		if tail != "" || strings.HasSuffix(rest, "/") {
			rq.path += "/" + tail
		}
		q := url.Values{}
		for k, v := range rq.query {
			q[k] = v
		}
		q.Set(QueryProvider, b.Provider)
		rq.query = q
		if rq.bucket == segment {
			rq.bucket = b.Name
		}
		return rq
	}
	return rq
}

// hideQuery drops the query of the URL a failed request's error names: a
// redirect's carries an access grant (agrant), good for two minutes to
// whoever reads the error in a terminal or a log.
func hideQuery(err error) error {
	if unsent, ok := err.(*unsentError); ok {
		return &unsentError{hideQuery(unsent.error)}
	}
	ue, ok := err.(*url.Error)
	if !ok {
		return err
	}
	if i := strings.IndexByte(ue.URL, '?'); i >= 0 {
		hidden := *ue
		hidden.URL = ue.URL[:i] + "?..."
		return &hidden
	}
	return err
}
