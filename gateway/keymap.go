package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/idna"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/internal/egress"
	"github.com/aisgo/aisgo/internal/redact"
)

// A dSort spec's ekm_file may name an http(s) URL that the gateway fetches.
// That makes the gateway a client on the user's behalf, so the fetch is
// confined: http(s) only, a size cap and a timeout, redirects only within
// the same host, never to a node of this cluster, and not to loopback or
// link-local addresses unless the config allows it. The caller learns only
// that the fetch failed; the reason (refused, timed out, the status) goes
// to the log, so the fetch cannot be used to probe ports or read pages.

// errKeyMapFetch is all a caller learns of a failed fetch.
var errKeyMapFetch = errors.New("could not fetch the key map (the gateway's log has the reason)")

// keyMapClient returns the confined HTTP client of key map fetches.
func (n *Node) keyMapClient() *http.Client {
	dialer := &net.Dialer{
		Timeout: n.config.KeyMapTimeout,
		// The address is checked after name resolution, so a name that
		// resolves to a forbidden address is refused too.
		ControlContext: n.FetchControl,
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSHandshakeTimeout:    n.config.KeyMapTimeout,
		ResponseHeaderTimeout:  n.config.KeyMapTimeout,
		MaxResponseHeaderBytes: 64 << 10,
		DisableKeepAlives:      true,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   n.config.KeyMapTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("too many redirects")
			}
			if req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme {
				return fmt.Errorf("redirect from %s to another host (%s)", via[0].URL.Host, req.URL.Host)
			}
			return nil
		},
	}
}

// FetchControl is the Control of the dialers of fetches of URLs users
// give: it checks the address after name resolution, for every
// connection (redirects too), so that a name resolving to a forbidden
// address is refused as well.
func (n *Node) FetchControl(ctx context.Context, network, address string, _ syscall.RawConn) error {
	return n.checkFetchAddress(ctx, address)
}

// FetchRoute is how the node's fetches of URLs users give reach out (the
// downloader's links, ht:// origins, the endpoints buckets name): through
// the environment's proxy when it names one, the destination checked
// first (fetchProxy), every connection checked (fetchDial).
func (n *Node) FetchRoute() egress.Route { return n.route }

// fetchDial is the dial of the fetches: FetchControl's checks, but for
// the hop to the environment's proxy (HTTP_PROXY, ...), which may be on a
// local address (a sidecar on this host). That hop is told by the address
// as the transport asks for it, before any name is resolved: the proxy's
// host:port, which no direct request may name (fetchProxy). A node's own
// port and a metadata service stay refused even there.
func (n *Node) fetchDial() func(ctx context.Context, network, addr string) (net.Conn, error) {
	strict := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, ControlContext: n.FetchControl}
	toProxy := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second,
		ControlContext: func(ctx context.Context, network, address string, _ syscall.RawConn) error {
			return checkFetchAddress(ctx, address, n.currentMap().Nodes, n.config.ID, true)
		}}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if n.isEnvProxy(addr) {
			return toProxy.DialContext(ctx, network, addr)
		}
		return strict.DialContext(ctx, network, addr)
	}
}

// linkHostPort is a URL's host:port as net/http dials it: the host in
// ASCII (full-width "１２７.０.０.１" is 127.0.0.1), its scheme's port when
// it has none.
func linkHostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	host := u.Hostname()
	if ascii, err := idna.Lookup.ToASCII(host); err == nil {
		host = ascii
	}
	return net.JoinHostPort(host, port)
}

// envProxies are the host:port of the proxies the environment names, read
// as net/http reads them (HTTP_PROXY, else http_proxy; HTTPS_PROXY, else
// https_proxy; HTTP_PROXY not in a CGI request), when the node starts.
func envProxies() [][2]string {
	var out [][2]string
	for _, names := range [][2]string{{"HTTP_PROXY", "http_proxy"}, {"HTTPS_PROXY", "https_proxy"}} {
		if names[0] == "HTTP_PROXY" && os.Getenv("REQUEST_METHOD") != "" {
			continue
		}
		v := strings.TrimSpace(os.Getenv(names[0]))
		if v == "" {
			v = strings.TrimSpace(os.Getenv(names[1]))
		}
		if v == "" {
			continue
		}
		if !strings.Contains(v, "://") {
			v = "http://" + v // as net/http reads it
		}
		u, err := url.Parse(v)
		if err != nil || u.Hostname() == "" {
			continue
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443", "socks5": "1080", "socks5h": "1080"}[u.Scheme]
		}
		if proxy := [2]string{u.Hostname(), port}; !slices.Contains(out, proxy) {
			out = append(out, proxy)
		}
	}
	return out
}

// isEnvProxy reports whether a host:port, as dialed or named by a link,
// is a proxy's of the environment.
func (n *Node) isEnvProxy(hostPort string) bool {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(n.proxies, func(p [2]string) bool {
		return p[1] == port && strings.EqualFold(strings.TrimSuffix(p[0], "."), strings.TrimSuffix(host, "."))
	})
}

// fetchProxy returns the proxy a fetch goes through (HTTP_PROXY and the
// like, from proxyOf): through one, the connection FetchControl checks is
// to the proxy, so the destination's addresses are checked first.
func (n *Node) fetchProxy(proxyOf func(*http.Request) (*url.URL, error)) func(*http.Request) (*url.URL, error) {
	return func(r *http.Request) (*url.URL, error) {
		proxy, err := proxyOf(r)
		if proxy == nil || err != nil {
			// A direct request (net/http proxies no loopback link) may
			// not name the proxy: its dial would pass as the hop to it.
			if err == nil && n.isEnvProxy(linkHostPort(r.URL)) {
				return nil, fmt.Errorf("%w: %s is the address of this cluster's proxy, which it does not fetch from", api.ErrForbidden, r.URL.Host)
			}
			return proxy, err
		}
		if err := egress.CheckDestination(r.Context(), r.URL, n.checkFetchAddress); err != nil {
			return nil, err
		}
		return proxy, nil
	}
}

// metadataServices are the cloud metadata services outside the
// link-local range (169.254.169.254 is in it): AWS's over IPv6 and
// Alibaba's.
var metadataServices = []netip.Addr{netip.MustParseAddr("fd00:ec2::254"), netip.MustParseAddr("100.100.100.200")}

// checkFetchAddress refuses a resolved address the fetch must not reach.
func (n *Node) checkFetchAddress(ctx context.Context, address string) error {
	return checkFetchAddress(ctx, address, n.currentMap().Nodes, n.config.ID, n.config.FetchAllowLocal)
}

// nodeAddrs are the addresses of a node's host: its URL's IP, or what
// its name resolves to (nodes named in DNS, as in Kubernetes), kept a
// while. A lookup that fails for a while (the DNS down) keeps the
// addresses last resolved, for nodeAddrsStale after they were; a name
// the DNS says is gone, or never resolved, is an error.
func nodeAddrs(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip.Unmap()}, nil
	}
	key := strings.ToLower(strings.TrimSuffix(host, "."))
	resolved.mu.Lock()
	entry, ok := resolved.names[key]
	resolved.mu.Unlock()
	if ok && time.Since(entry.asked) < nodeAddrsTTL {
		return entry.addrs, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	found, err := lookupNetIP(ctx, "ip", key)
	var dnsErr *net.DNSError
	gone := errors.As(err, &dnsErr) && dnsErr.IsNotFound
	if err != nil && ok && !gone && time.Since(entry.at) < nodeAddrsStale {
		resolved.mu.Lock()
		resolved.names[key] = resolvedAddrs{addrs: entry.addrs, at: entry.at, asked: time.Now()}
		resolved.mu.Unlock()
		return entry.addrs, nil
	}
	if err != nil {
		resolved.mu.Lock()
		delete(resolved.names, key)
		resolved.mu.Unlock()
		return nil, err
	}
	addrs := make([]netip.Addr, 0, len(found))
	for _, a := range found {
		addrs = append(addrs, a.Unmap())
	}
	resolved.mu.Lock()
	if len(resolved.names) >= maxResolvedNodes {
		clear(resolved.names)
	}
	now := time.Now()
	resolved.names[key] = resolvedAddrs{addrs: addrs, at: now, asked: now}
	resolved.mu.Unlock()
	return addrs, nil
}

// lookupNetIP resolves a name (a variable for the tests).
var lookupNetIP = net.DefaultResolver.LookupNetIP

// resolved caches the addresses of nodes named in DNS.
var resolved = struct {
	mu    sync.Mutex
	names map[string]resolvedAddrs
}{names: map[string]resolvedAddrs{}}

type resolvedAddrs struct {
	addrs []netip.Addr
	at    time.Time // resolved
	asked time.Time // the DNS asked last
}

// nodeAddrsTTL is how long a node name's addresses are kept;
// nodeAddrsStale how long they stand for a DNS that does not answer;
// maxResolvedNodes bounds the names kept.
const (
	nodeAddrsTTL     = 30 * time.Second
	nodeAddrsStale   = 5 * time.Minute
	maxResolvedNodes = 4096
)

// checkFetchAddress refuses an address of the nodes' host, a cluster
// node, or a cloud's metadata service.
func checkFetchAddress(ctx context.Context, address string, nodes []cluster.Node, self string, allowLocal bool) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("address %s: %w", address, err)
	}
	// Without its zone ("%x" of an IPv6 literal): a zone makes the
	// address unequal to the same one listed, and the kernel dials
	// the same host.
	ip := ap.Addr().WithZone("").Unmap()
	if !allowLocal && (ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() || ip.IsMulticast()) {
		return fmt.Errorf("%w: address %s is loopback or link-local, which this cluster does not fetch from (the nodes' config fetch_allow_local lets it)", api.ErrForbidden, address)
	}
	if slices.Contains(metadataServices, ip) {
		return fmt.Errorf("%w: address %s is a cloud's metadata service, which this cluster does not fetch from", api.ErrForbidden, address)
	}
	// This host at any of its addresses (127.0.0.2, 0.0.0.0, ::, a
	// bridge's): this node, or one of this host, listening on every
	// address is reached there at its port, whatever its URL says.
	local := hostAddrs()
	onThisHost := func(a netip.Addr) bool { return a.IsLoopback() || a.IsUnspecified() || slices.Contains(local, a) }
	thisHost := onThisHost(ip)
	for _, node := range nodes {
		u, err := url.Parse(node.URL)
		if err != nil {
			continue
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		addrs, err := nodeAddrs(ctx, u.Hostname())
		if err != nil && node.State == cluster.StateOffline && port != fmt.Sprint(ap.Port()) {
			// Not ready, its name withdrawn (Kubernetes): its address
			// is not known, and only its own port is refused.
			continue
		}
		if err != nil {
			return fmt.Errorf("%w: address %s: the name of node %s (%s) does not resolve now, so the address cannot be told from the node's: %v", api.ErrUnavailable, address, node.ID, u.Hostname(), err)
		}
		if thisHost && port == fmt.Sprint(ap.Port()) && (node.ID == self || slices.ContainsFunc(addrs, onThisHost)) {
			return fmt.Errorf("%w: address %s is this host at the port of node %s of this cluster", api.ErrForbidden, address, node.ID)
		}
		if !slices.Contains(addrs, ip) {
			continue
		}
		// The node's own port always; its host's other ports unless
		// local fetches are allowed (the nodes' host is no origin).
		if port == fmt.Sprint(ap.Port()) {
			return fmt.Errorf("%w: address %s is node %s of this cluster", api.ErrForbidden, address, node.ID)
		}
		if !allowLocal {
			return fmt.Errorf("%w: address %s is on the host of node %s of this cluster, which this cluster does not fetch from (the nodes' config fetch_allow_local lets it)", api.ErrForbidden, address, node.ID)
		}
	}
	return nil
}

// hostAddrs returns the addresses of this host's interfaces that are up
// (kept for nodeAddrsTTL; none when they cannot be read: loopback and
// unspecified addresses are this host's all the same). Not those of
// interfaces down: kube-proxy's IPVS dummy holds every Service's address
// there, which other hosts serve.
func hostAddrs() []netip.Addr {
	host.mu.Lock()
	defer host.mu.Unlock()
	if time.Since(host.at) < nodeAddrsTTL {
		return host.addrs
	}
	host.addrs, host.at = nil, time.Now()
	found, err := interfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range found {
		if prefix, err := netip.ParsePrefix(a.String()); err == nil {
			host.addrs = append(host.addrs, prefix.Addr().WithZone("").Unmap())
		}
	}
	return host.addrs
}

// interfaceAddrs lists the addresses of this host's interfaces that are
// up (a variable for the tests).
var interfaceAddrs = func() ([]net.Addr, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var addrs []net.Addr
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 {
			continue
		}
		if more, err := iface.Addrs(); err == nil {
			addrs = append(addrs, more...)
		}
	}
	return addrs, nil
}

var host struct {
	mu    sync.Mutex
	addrs []netip.Addr
	at    time.Time
}

// fetchKeyMap gets an external key map by http(s), confined as above.
func (n *Node) fetchKeyMap(ctx context.Context, location string) ([]byte, error) {
	data, err := n.fetchConfined(ctx, location)
	if err != nil {
		n.logger.Warn("ekm_file fetch failed", "url", redact.Link(location), "err", err)
		return nil, errKeyMapFetch
	}
	return data, nil
}

func (n *Node) fetchConfined(ctx context.Context, location string) ([]byte, error) {
	u, err := url.Parse(location)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: want an http(s):// URL or ais://bucket/object", api.ErrBadRequest)
	}
	for _, node := range n.currentMap().Nodes {
		if nu, err := url.Parse(node.URL); err == nil && strings.EqualFold(nu.Host, u.Host) {
			return nil, fmt.Errorf("%s is node %s of this cluster", u.Host, node.ID)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, n.config.KeyMapTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, location, nil)
	if err != nil {
		return nil, err
	}
	resp, err := n.keyMapClient().Do(req)
	if err != nil {
		return nil, redact.Error(err, location)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", redact.Link(location), resp.Status)
	}
	limit := n.config.KeyMapMaxSize
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("GET %s: the key map is over %d bytes", redact.Link(location), limit)
	}
	return data, nil
}

// keyMapDefaults are the zero-value meanings of the key map config.
func (c *Config) keyMapDefaults() {
	if c.KeyMapTimeout <= 0 {
		c.KeyMapTimeout = 10 * time.Second
	}
	if c.KeyMapMaxSize <= 0 {
		c.KeyMapMaxSize = 64 << 20
	}
}
