package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/authn"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/internal/idle"
	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/internal/redact"
	"github.com/aisgo/aisgo/store"
)

// The reverse proxy: a client that sets its HTTP proxy to a gateway
// (`curl -x http://gateway:8080 http://host/path`) gets the file through
// the cluster. The first GET stores it in the ht:// bucket of the origin
// host (a cold GET by its owner target); later GETs are served from the
// cluster without asking the origin.

// htBucketOf names the ht:// bucket of an origin: its host and port, with
// the characters a bucket name cannot have replaced.
func htBucketOf(host string) store.Bucket {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			return r
		}
		return '_'
	}, host)
	return store.Bucket{Provider: store.ProviderHT, Name: name}
}

// maxTunnels bounds the CONNECT tunnels a gateway keeps open at once.
const maxTunnels = 256

// handleConnect tunnels a CONNECT request (https through the proxy) to its
// host: TLS goes end to end, so nothing is cached. Only the allowed ports
// (443 by default) and no node of this cluster.
func (n *Node) handleConnect(w http.ResponseWriter, r *http.Request) {
	if err := n.unready(); err != nil {
		n.writeError(w, r, err) // the cluster's nodes are not known yet
		return
	}
	host := r.Host
	_, port, err := net.SplitHostPort(host)
	if err != nil {
		n.writeError(w, r, badRequest("CONNECT %q: want HOST:PORT", host))
		return
	}
	ports := n.config.ConnectPorts
	if ports == nil {
		ports = []int{443}
	}
	p, _ := strconv.Atoi(port)
	if !slices.Contains(ports, p) {
		n.writeError(w, r, fmt.Errorf("%w: CONNECT %s: the proxy tunnels to ports %v only", api.ErrForbidden, host, ports))
		return
	}
	if err := n.notClusterNode(host); err != nil {
		n.writeError(w, r, err)
		return
	}
	select {
	case n.tunnels <- struct{}{}:
		defer func() { <-n.tunnels }()
	default:
		n.writeError(w, r, fmt.Errorf("%w: %d CONNECT tunnels are open already", api.ErrUnavailable, maxTunnels))
		return
	}
	upstream, err := (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, ControlContext: n.FetchControl}).DialContext(r.Context(), "tcp", host)
	if err != nil {
		n.writeError(w, r, fmt.Errorf("%w: CONNECT %s: %w", api.ErrBadGateway, host, err))
		return
	}
	defer upstream.Close()
	hijacker, ok := w.(http.Hijacker)
	if !ok {
		n.writeError(w, r, errors.New("CONNECT: the connection cannot be taken over"))
		return
	}
	client, buffered, err := hijacker.Hijack()
	if err != nil {
		n.logger.Warn("CONNECT: take over the connection", "err", err)
		return
	}
	defer client.Close()
	if _, err := client.Write([]byte("HTTP/1.1 200 Connection Established\r\n\r\n")); err != nil {
		return
	}
	// Each direction ends the other: a side that closes closes the tunnel,
	// and so does a silence of both past TunnelIdle (a tunnel holds one
	// of maxTunnels, which idle ones would take for good).
	ctx, watch := idle.Watch(r.Context(), n.config.TunnelIdle, errTunnelIdle)
	defer watch.Stop()
	done := make(chan struct{}, 2)
	relay := func(dst net.Conn, src io.Reader) {
		buf := pool.Get(pool.CopyBufferSize)
		io.CopyBuffer(dst, src, buf)
		pool.Put(buf)
		done <- struct{}{}
	}
	go relay(upstream, watch.Reader(buffered)) // what the client sent, buffered or not
	go relay(client, watch.Reader(upstream))
	ended := 0
	select {
	case <-done:
		ended++
	case <-ctx.Done():
	}
	client.Close()
	upstream.Close()
	for ; ended < 2; ended++ {
		<-done
	}
}

var errTunnelIdle = errors.New("CONNECT tunnel idle")

// ofOrigin reports whether an ht:// bucket's props name origin.
func ofOrigin(props store.Props, origin string) bool {
	return props.Extra != nil && props.Extra.HTTP != nil && strings.TrimRight(props.Extra.HTTP.Origin, "/") == origin
}

// handleProxy serves a request whose target is an absolute URL.
func (n *Node) handleProxy(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		n.writeError(w, r, badRequest("the proxy serves GET and HEAD of http:// URLs (and tunnels https with CONNECT), not %s", r.Method))
		return
	}
	if err := n.unready(); err != nil {
		n.writeError(w, r, err) // the cluster's nodes are not known yet
		return
	}
	if r.URL.Scheme != "http" || r.URL.Host == "" {
		n.writeError(w, r, badRequest("the proxy serves http:// URLs, not %q", r.URL.Scheme+"://"+r.URL.Host))
		return
	}
	if err := n.notClusterNode(linkHostPort(r.URL)); err != nil {
		n.writeError(w, r, err)
		return
	}
	// An object is named by its URL's path: a query, or an escaped '/',
	// names another resource than the one the object would be.
	if r.URL.RawQuery != "" || r.URL.ForceQuery || strings.Contains(strings.ToLower(r.URL.EscapedPath()), "%2f") {
		n.writeError(w, r, badRequest("the proxy caches http:// URLs by their path; %s has a query or an escaped '/', which would name another resource than its object: fetch it directly", redact.Link(r.URL.String())))
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/")
	if name == "" || strings.HasSuffix(name, "/") {
		// An object of "dir/index.html" would be fetched as that file,
		// which an origin may not serve for "dir/" (a listing, a page
		// made on the fly).
		n.writeError(w, r, badRequest("the proxy caches files by their path; %s names a directory, not a file: fetch it directly", redact.Link(r.URL.String())))
		return
	}
	if err := store.ValidateName(name); err != nil {
		n.writeError(w, r, badRequest("proxy: %s: %w", r.URL, err))
		return
	}
	b := htBucketOf(r.URL.Host)
	if err := b.Validate(); err != nil {
		n.writeError(w, r, badRequest("proxy: origin %q: %w", r.URL.Host, err))
		return
	}
	origin := "http://" + r.URL.Host
	props, ok := n.currentBuckets().Props(b)
	if !ok && n.authorizeBucket(r, authn.PermCreateBucket, b) != nil && n.mayRefreshBuckets() {
		// Made a moment ago through another gateway: not new to a
		// reader, who may not make it (this gateway catches up first;
		// at most once a second, whoever asks).
		n.refresh(r.Context())
		props, ok = n.currentBuckets().Props(b)
	}
	if ok {
		// The bucket of this host is this host's: one made with another
		// origin (by an admin) is not served as this one.
		if !ofOrigin(props, origin) {
			n.writeError(w, r, fmt.Errorf("%w: proxy: bucket %s is not of origin %s", api.ErrConflict, b, origin))
			return
		}
	} else {
		// A new origin is a new bucket: for those who may create one (a
		// reader fetches through the origins already there).
		if err := n.authorizeBucket(r, authn.PermCreateBucket, b); err != nil {
			n.writeError(w, r, fmt.Errorf("proxy: %s is a new origin, a new bucket %s: %w", origin, b, err))
			return
		}
		// A bucket comes only for an origin that answers, and only so
		// many: a GET of any name must not grow the cluster's metadata.
		if err := n.probeOrigin(r.Context(), r.URL); err != nil {
			n.writeError(w, r, err)
			return
		}
		if htBuckets(n.currentBuckets()) >= maxHTBuckets {
			n.writeError(w, r, fmt.Errorf("%w: proxy: the cluster has %d ht:// buckets, the most the proxy makes; an admin removes some first", api.ErrConflict, maxHTBuckets))
			return
		}
		props := store.DefaultRemoteProps(b)
		props.Extra = &store.ExtraProps{HTTP: &store.HTTPProps{Origin: origin}}
		_, err := n.control.Propose(r.Context(), membership.Change{Kind: membership.CreateBucket, Bucket: b, Props: &props, Created: timeNow()})
		if err != nil && !errors.Is(err, store.ErrBucketExists) {
			n.writeError(w, r, membershipError(err))
			return
		}
		// Made meanwhile by another request: of this origin too? (This
		// gateway catches up first: it may not have applied it yet.)
		if err != nil {
			n.refresh(r.Context())
		}
		if made, ok := n.currentBuckets().Props(b); err != nil && (!ok || !ofOrigin(made, origin)) {
			n.writeError(w, r, fmt.Errorf("%w: proxy: bucket %s is not of origin %s", api.ErrConflict, b, origin))
			return
		}
	}
	client := n.clientsClient()
	if r.Method == http.MethodHead {
		// Asked of the owner, which asks the origin: a HEAD does not
		// fetch (and cache) the file.
		meta, err := client.Head(r.Context(), b.String(), name)
		if err != nil {
			n.writeError(w, r, err)
			return
		}
		if meta.Size >= 0 { // the origin may not tell
			w.Header().Set("Content-Length", strconv.FormatInt(meta.Size, 10))
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusOK)
		return
	}
	body, meta, err := client.Get(r.Context(), b.String(), name, api.GetOptions{})
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	defer body.Close()
	w.Header().Set("Content-Length", strconv.FormatInt(meta.Size, 10))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	buf := pool.Get(pool.CopyBufferSize)
	defer pool.Put(buf)
	io.CopyBuffer(w, body, buf)
}

// maxHTBuckets bounds the ht:// buckets the proxy makes.
const maxHTBuckets = 4096

func htBuckets(md *store.BucketMetadata) int {
	count := 0
	for b := range md.Buckets {
		if b.Provider == store.ProviderHT {
			count++
		}
	}
	return count
}

// probeOrigin asks an origin for the file a proxied GET wants (HEAD, on
// the downloader's checked connections) before a bucket is made for it.
func (n *Node) probeOrigin(ctx context.Context, u *url.URL) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u.String(), nil)
	if err != nil {
		return badRequest("proxy: %v", err)
	}
	resp, err := n.downloads.Do(req)
	if err != nil {
		if errors.Is(err, api.ErrForbidden) {
			return fmt.Errorf("proxy: %w", err)
		}
		return fmt.Errorf("%w: proxy: origin %s: %w", api.ErrUnavailable, u.Host, err)
	}
	resp.Body.Close()
	// (An origin that does not take HEAD still answers.)
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
		return fmt.Errorf("%w: proxy: origin %s answers %s for %s", api.ErrNotFound, u.Host, resp.Status, u.Path)
	}
	return nil
}

// notClusterNode refuses an origin (its host:port, the port the
// scheme's default when a link names none: linkHostPort) that is a node
// of this cluster: the proxy must not be a way around the intra-cluster
// authentication.
func (n *Node) notClusterNode(host string) error {
	hostname, port, err := net.SplitHostPort(host)
	if err != nil {
		hostname, port = host, "80"
	}
	hostname, _, _ = strings.Cut(hostname, "%") // an IPv6 literal's zone: the same host
	for _, node := range n.currentMap().Nodes {
		u, err := url.Parse(node.URL)
		if err != nil {
			continue
		}
		h, p, err := net.SplitHostPort(linkHostPort(u))
		if err == nil && p == port && (h == hostname || isLoopback(h) && isLoopback(hostname)) {
			return fmt.Errorf("%w: %s is node %s of this cluster, not an origin to fetch from", api.ErrForbidden, host, node.ID)
		}
	}
	return nil
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}
