package gateway

import (
	"encoding/json"
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
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/gateway/console"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/gateway/s3"
	"github.com/aisgo/aisgo/store"
)

// maxControlBody bounds the body of control requests.
const maxControlBody = 8 << 20

// objectPrefix starts the path of every object request.
const objectPrefix = "/v1/objects/"

// roles says which nodes serve a route.
type roles uint8

const (
	gateways roles = 1 << iota
	targets
	everyNode = gateways | targets
)

func (r roles) serves(role cluster.Role) bool {
	return role.IsGateway() && r&gateways != 0 || role.IsTarget() && r&targets != 0
}

func (r roles) String() string {
	switch r {
	case gateways:
		return "gateways"
	case targets:
		return "targets"
	}
	return "every node"
}

// route is one entry of the node's route table: a method and a path
// pattern of http.ServeMux. An intra route serves other nodes only: a
// request without a valid cluster signature gets 401.
type route struct {
	method  string
	pattern string
	handler http.HandlerFunc
	roles   roles
	intra   bool
	// need is what a caller must be allowed when user authentication is
	// on; public (nil) for none.
	need access
}

// observedRoutes are the routes the metrics count as a client operation
// (their refusals too), by method and pattern.
var observedRoutes = map[string]operation{http.MethodGet + " /v1/buckets/{bucket}": opList}

// unaddressedRoutes are the intra routes a node may reach at another
// address than a node's own (its URL in the map): a join goes to a seed
// (handleMembership binds the other changes).
// Every other intra route takes only requests signed for this node's
// address: one captured on its way to a node is refused by the others
// (each remembers only its own nonces), be it a part's delete, a
// rebalance frame or a pushed map.
var unaddressedRoutes = []string{"/v1/internal/cluster"}

// ownHost is the host (and port) of the node's own URL, what a request
// sent to its address names.
func (n *Node) ownHost() string {
	u, err := url.Parse(n.config.URL)
	if err != nil {
		return ""
	}
	return u.Host
}

// routeTable lists every route of every role but /v1/objects/ (see
// routes).
func (n *Node) routeTable() []route {
	return []route{
		{http.MethodGet, "/v1/health", n.handleHealth, everyNode, false, public},
		{http.MethodGet, "/metrics", n.handleMetrics, everyNode, false, onCluster(authn.PermList)},
		{http.MethodGet, "/v1/cluster", n.handleClusterGet, everyNode, false, clusterGetAccess},
		{http.MethodPut, "/v1/cluster", n.handleClusterAction, gateways, false, onCluster(authn.PermAdmin)},
		{http.MethodGet, "/v1/buckets", n.handleListBuckets, gateways, false, onCluster(authn.PermList)},
		{http.MethodGet, "/v1/buckets/{$}", n.handleListBuckets, gateways, false, onCluster(authn.PermList)}, // AIStore's clients add the slash
		{http.MethodGet, "/v1/buckets/{bucket}", n.handleListObjects, gateways, false, onBucket(authn.PermList)},
		{http.MethodPost, "/v1/buckets/{bucket}", n.handleBucketAction, gateways, false, byAction(api.ActionCreateBucket)},
		{http.MethodDelete, "/v1/buckets/{bucket}", n.handleDestroyBucket, gateways, false, byAction(api.ActionDestroyBucket)},
		{http.MethodHead, "/v1/buckets/{bucket}", n.handleBucketProps, gateways, false, onBucket(authn.PermHead)},
		{http.MethodPatch, "/v1/buckets/{bucket}", n.handleSetProps, gateways, false, onBucket(authn.PermAdmin)},
		{http.MethodPut, "/v1/buckets/{bucket}", n.handleBucketPut, gateways, false, byAction(api.ActionArchive)},
		// dSort: GET on the input and PUT on the output (a job's watch,
		// abort and removal: LIST or PUT on its output), the handlers check.
		{http.MethodPost, "/v1/sort", n.handleDsortStart, gateways, false, onSomeBucket(authn.PermPut)},
		{http.MethodGet, "/v1/sort", n.handleDsortGet, gateways, false, onSomeBucket(authn.PermList)},
		{http.MethodDelete, "/v1/sort", n.handleDsortRemove, gateways, false, onSomeBucket(authn.PermPut)},
		{http.MethodDelete, "/v1/sort/abort", n.handleDsortAbort, gateways, false, onSomeBucket(authn.PermPut)},
		// An estimate needs GET on the input bucket (the handler checks it).
		{http.MethodPost, "/v1/sort/estimate", n.handleDsortEstimate, gateways, false, onSomeBucket(authn.PermGet)},
		// Each entry's bucket is checked for GET.
		{http.MethodGet, "/v1/ml/moss", n.handleGetBatch, everyNode, false, onSomeBucket(authn.PermGet)},
		{http.MethodGet, "/v1/ml/moss/{bucket}", n.handleGetBatch, everyNode, false, onBucket(authn.PermGet)},
		// PUT on the destination bucket (the handler checks it).
		{http.MethodPost, "/v1/download", n.handleDownloadStart, gateways, false, onSomeBucket(authn.PermPut)},
		// A job's watch: LIST on its bucket; its abort and removal: PUT.
		{http.MethodGet, "/v1/download", n.handleDownloadGet, gateways, false, onSomeBucket(authn.PermList)},
		{http.MethodDelete, "/v1/download/abort", n.handleDownloadAbort, gateways, false, onSomeBucket(authn.PermPut)},
		{http.MethodDelete, "/v1/download/remove", n.handleDownloadRemove, gateways, false, onSomeBucket(authn.PermPut)},
		{http.MethodGet, console.Prefix, n.handleConsoleGet, gateways, false, onCluster(authn.PermList)}, // a browser sends the token as a cookie (see requestToken)
		{http.MethodPost, console.LoginPath, n.handleConsoleLogin, gateways, false, onCluster(authn.PermList)},
		{http.MethodDelete, console.LogoutPath, n.handleConsoleLogout, gateways, false, public},
		{http.MethodDelete, authn.ClusterTokensPath, n.handleRevokeToken, gateways, false, onCluster(authn.PermAdmin)},
		{http.MethodPut, authn.ClusterS3KeysPath, n.handleSetS3Keys, gateways, false, onCluster(authn.PermAdmin)},

		{http.MethodPut, "/v1/metasync", n.handleMetasync, everyNode, true, nil},
		{http.MethodGet, "/v1/internal/status", n.handleLocalStatus, everyNode, true, nil},
		{http.MethodPut, "/v1/internal/cluster", n.handleMembership, gateways, true, nil},
		{http.MethodGet, peer.RaftPath, n.handleRaft, gateways, true, nil},
		{http.MethodGet, "/v1/internal/list/{bucket}", n.handleLocalList, targets, true, nil},
		{http.MethodPost, "/v1/internal/receive", n.handleReceive, targets, true, nil},
		{http.MethodPost, "/v1/internal/remove/{bucket}", n.handleRemoveObjects, targets, true, nil},
		{http.MethodPut, "/v1/internal/parts/{bucket}/{object...}", n.handlePutPart, targets, true, nil},
		{http.MethodGet, "/v1/internal/parts/{bucket}/{object...}", n.handleGetParts, targets, true, nil},
		{http.MethodDelete, "/v1/internal/parts/{bucket}/{object...}", n.handleDeleteParts, targets, true, nil},
		{http.MethodPost, "/v1/internal/ensure/{bucket}", n.handleEnsure, targets, true, nil},
		{http.MethodPost, "/v1/internal/parts-of/{bucket}", n.handlePartsOfMany, targets, true, nil},
		{http.MethodPost, "/v1/internal/seal/{bucket}", n.handleSeal, targets, true, nil},
		{http.MethodDelete, "/v1/internal/seal/{bucket}", n.handleUnseal, targets, true, nil},
		{http.MethodPut, "/v1/internal/jobs", n.handleStartJob, targets, true, nil},
		{http.MethodDelete, "/v1/internal/jobs/{id}", n.handleAbortJob, targets, true, nil},
		{http.MethodGet, "/v1/daemon", n.handleDaemonGet, everyNode, false, onCluster(authn.PermList)},
		{http.MethodGet, "/v1/reverse/daemon", n.handleReverseDaemon, gateways, false, onCluster(authn.PermAdmin)},
		{http.MethodGet, "/v1/daemon/mountpaths", n.handleGetMountpaths, targets, false, onCluster(authn.PermList)},
		{http.MethodPut, "/v1/daemon/mountpaths", n.handleMountpathAction, targets, false, onCluster(authn.PermAdmin)},
		{http.MethodGet, "/v1/internal/objects/{bucket}/{object...}", n.handleLocalObject, targets, true, nil},
		{http.MethodHead, "/v1/internal/objects/{bucket}/{object...}", n.handleLocalObject, targets, true, nil},
		{http.MethodGet, "/v1/sort/registry/{id}", n.handleDsortRegistry, gateways, true, nil},
		{http.MethodPost, "/v1/sort/init", n.handleDsortInit, targets, true, nil},
		{http.MethodPost, "/v1/sort/extract/{id}", n.handleDsortExtract, targets, true, nil},
		{http.MethodPost, "/v1/sort/create/{id}", n.handleDsortCreate, targets, true, nil},
		{http.MethodPost, "/v1/sort/finish/{id}", n.handleDsortFinish, targets, true, nil},
		{http.MethodDelete, "/v1/sort/abort/{id}", n.handleDsortTargetAbort, targets, true, nil},
		{http.MethodDelete, "/v1/sort/remove/{id}", n.handleDsortTargetRemove, targets, true, nil},
		{http.MethodGet, "/v1/sort/stats", n.handleDsortStats, targets, true, nil},
		{http.MethodGet, "/v1/sort/stats/{id}", n.handleDsortStats, targets, true, nil},
		{http.MethodPost, "/v1/sort/records/{id}", n.handleDsortRecords, targets, true, nil},
		{http.MethodPost, "/v1/sort/scan", n.handleDsortScan, targets, true, nil},
		{http.MethodGet, "/v1/sort/network-sample", n.handleNetworkSample, targets, true, nil},
	}
}

// objectMethods are the methods of /v1/objects/, served by every node.
var objectMethods = []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete}

// routes registers the routes of this node's role: the others answer a
// JSON 400 naming the role that serves them, a method a path does not take
// a JSON 405, and an unknown path a JSON 404.
func (n *Node) routes() {
	mux := http.NewServeMux()
	allowed := map[string][]string{}
	for _, rt := range n.routeTable() {
		allowed[rt.pattern] = append(allowed[rt.pattern], rt.method)
		h := rt.handler
		switch {
		case !rt.roles.serves(n.config.Role):
			h = func(w http.ResponseWriter, r *http.Request) {
				n.writeError(w, r, badRequest("%s %s is served by %s; node %s is a %s", r.Method, rt.pattern, rt.roles, n.config.ID, n.config.Role))
			}
		case !rt.intra && strings.HasPrefix(rt.pattern, batchPath):
			// Get-batch checks need itself: its grant binds its body.
			h = n.guardBatch(rt.need, h)
		case !rt.intra:
			h = n.guard(rt.need, h)
		case rt.intra:
			bound := !slices.Contains(unaddressedRoutes, rt.pattern)
			own := n.ownHost()
			h = func(w http.ResponseWriter, r *http.Request) {
				if _, err := n.auth.Verify(r); err != nil {
					n.writeError(w, r, fmt.Errorf("%w: %s %s is an intra-cluster route: %w", verifyKind(err), r.Method, r.URL.Path, err))
					return
				}
				if bound && (own == "" || !strings.EqualFold(r.Host, own)) {
					n.writeError(w, r, fmt.Errorf("%w: %s %s was signed for %s, not for node %s: a request replayed to another node", api.ErrUnauthorized, r.Method, r.URL.Path, r.Host, n.config.ID))
					return
				}
				rt.handler(w, r)
			}
		}
		if op, ok := observedRoutes[rt.method+" "+rt.pattern]; ok {
			h = n.observeRoute(op, h)
		}
		mux.HandleFunc(rt.method+" "+rt.pattern, h)
	}
	for pattern, methods := range allowed {
		mux.HandleFunc(pattern, n.methodNotAllowed(methods))
	}
	// Object names are taken from the raw path: the mux would clean
	// "a/../b" into another name and redirect there.
	notAllowed := n.methodNotAllowed(objectMethods)
	guarded := n.guardObject(n.handleObject)
	n.objectRoute = n.metrics.observeObject(func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(objectMethods, r.Method) {
			notAllowed(w, r)
			return
		}
		rest := strings.TrimPrefix(r.URL.Path, objectPrefix)
		bucket, name, _ := strings.Cut(rest, "/")
		r.SetPathValue("bucket", bucket)
		r.SetPathValue("object", name)
		guarded(w, n.markSigned(w, r))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		n.writeErrorStatus(w, r, http.StatusNotFound, fmt.Errorf("no such route: %s %s", r.Method, r.URL.Path))
	})
	n.mux = mux
}

// observeRoute counts a route's requests as op: around its guard, which
// marks a node's own requests (a job's listing) to be left out.
func (n *Node) observeRoute(op operation, guarded http.HandlerFunc) http.HandlerFunc {
	return n.metrics.observe(op, func(w http.ResponseWriter, r *http.Request) {
		guarded(w, n.markSigned(w, r))
	})
}

// markSigned marks a request a node signed as internal when nothing else
// verifies it (authentication off), once its signature is verified here:
// a client's made-up header would hide its requests from the metrics.
// The request returned says so to what verifies again (a nonce is taken
// once). With authentication on, the guard marks what it verified.
func (n *Node) markSigned(w http.ResponseWriter, r *http.Request) *http.Request {
	if n.verifier != nil || r.Header.Get(peer.HeaderMAC) == "" {
		return r
	}
	if ok, err := n.fromNode(r); !ok || err != nil {
		return r
	}
	markInternal(w, r)
	return asNode(r)
}

// methodNotAllowed answers a method a path does not take.
func (n *Node) methodNotAllowed(methods []string) http.HandlerFunc {
	list := strings.Join(slices.Sorted(slices.Values(methods)), ", ")
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", list)
		n.writeErrorStatus(w, r, http.StatusMethodNotAllowed, fmt.Errorf("%s %s: method not allowed (allowed: %s)", r.Method, r.URL.Path, list))
	}
}

// verifyKind is what a failed signature check is: the caller's fault,
// or a node too busy to check it now (to retry).
func verifyKind(err error) error {
	if errors.Is(err, peer.ErrBusy) {
		return api.ErrUnavailable
	}
	return api.ErrUnauthorized
}

// sender returns the node that signed a request; it is authenticated only
// inside an intra route.
func sender(r *http.Request) string { return r.Header.Get(peer.HeaderNode) }

// S3Handler serves the S3 API at the root of a listener of its own (for
// clients that cannot put a path in their endpoint); nil on a target.
func (n *Node) S3Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		untrustedContent(w.Header())
		r, done := ownBody(w, r, n.config.BodyTimeout)
		defer done()
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = newPacedBody(w, r.Body, n.config.BodyTimeout, n.config.BodyMinRate)
		}
		// Another site's change and a node not ready are refused by
		// s3Gate, inside the S3 API's counting.
		n.s3Root.ServeHTTP(w, r)
	})
}

// s3Gate answers an S3 request the node does not serve: a change from a
// page of another site, or any while the node is not ready.
func (n *Node) s3Gate(w http.ResponseWriter, r *http.Request) bool {
	err := n.fromAnotherSite(r)
	if err == nil && !n.ready.Load() {
		err = n.notReady()
	}
	if err != nil {
		n.writeS3Error(w, r, err)
	}
	return err != nil
}

// ownBody returns a request whose Body the handlers may replace (with a
// paced or counting reader) without touching the server's own: a body
// sent with "Expect: 100-continue" that a handler answers without reading
// (an error, a redirect) then closes the connection at once. Wrapped in
// place, the server would wait to drain it while the client waits for
// its go-ahead, until the client's expect timeout (10 s) ran out.
//
// done is called once the handler returned: one that began such a body
// and left it (an error on the way) has the server linger before it
// closes, so that the client reads the answer rather than a reset. Any
// other body left unread the server reads on (up to 256 KiB, to keep the
// connection): within wait (the body's grace, if above zero), so that a
// client that trickles it holds no connection for as long as it likes.
func ownBody(w http.ResponseWriter, r *http.Request, wait time.Duration) (own *http.Request, done func()) {
	if r.Body == nil || r.Body == http.NoBody {
		return r, func() {}
	}
	own = r.WithContext(r.Context())
	body := &trackedBody{ReadCloser: r.Body}
	own.Body = body
	if !strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		return own, func() {
			if !body.ended && wait > 0 {
				http.NewResponseController(w).SetReadDeadline(time.Now().Add(wait))
			}
		}
	}
	return own, func() {
		if !body.began || body.ended {
			return
		}
		// A body the server finds larger than allowed makes it linger.
		http.NewResponseController(w).SetReadDeadline(time.Now().Add(time.Second))
		var one [1]byte
		http.MaxBytesReader(w, r.Body, 0).Read(one[:])
	}
}

// trackedBody tells whether a body was begun and read to its end.
type trackedBody struct {
	io.ReadCloser
	began, ended bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.began = true
	if err != nil {
		b.ended = true
	}
	return n, err
}

// fromAnotherSite refuses a change (not GET, HEAD or OPTIONS) that a page
// of another site had a browser send: a "simple" POST needs no CORS
// approval, and with authentication off nothing else would stop it.
// Browsers say where a request comes from (Sec-Fetch-Site, Origin);
// other clients send neither.
func (n *Node) fromAnotherSite(r *http.Request) error {
	if err := n.reboundName(r); err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	return n.sentByAnotherSite(r)
}

// sentByAnotherSite refuses a request of any method that a page of another
// site had a browser send: for the few reads that start work. A browser
// that does not say (no Sec-Fetch-Site) is judged by its Origin: the
// request's host, or a name of browser_hosts (a proxy in front that
// passes its own Host).
func (n *Node) sentByAnotherSite(r *http.Request) error {
	site := r.Header.Get("Sec-Fetch-Site")
	origin := r.Header.Get("Origin")
	switch {
	case site != "" && site != "same-origin" && site != "none":
	case site == "" && origin != "" && origin != "null" && !n.ownOrigin(origin, r.Host):
	case origin == "null":
	default:
		return nil
	}
	return fmt.Errorf("%w: %s %s from a page of another site (origin %q): the cluster takes changes from its own pages and from clients, not from other sites", api.ErrForbidden, r.Method, r.URL.Path, origin)
}

// ownOrigin reports an Origin of the request's own host, or of a name in
// browser_hosts: "host[:port]" (the port by the origin's scheme when
// none) or a URL, whose scheme must be the origin's too.
func (n *Node) ownOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, host) {
		return true
	}
	for _, known := range n.config.BrowserHosts {
		scheme, name := u.Scheme, known
		if strings.Contains(known, "://") {
			k, err := url.Parse(known)
			if err != nil {
				continue
			}
			scheme, name = k.Scheme, k.Host
		}
		if strings.EqualFold(scheme, u.Scheme) && strings.EqualFold(withPort(name, scheme), withPort(u.Host, u.Scheme)) {
			return true
		}
	}
	return false
}

// withPort is host:port, the scheme's port when host names none.
func withPort(host, scheme string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	port := "80"
	if strings.EqualFold(scheme, "https") {
		port = "443"
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port)
}

// reboundName refuses, with authentication off, a page's request under a
// name that is none of the cluster's: a site that rebinds its name to a
// node's address makes its pages same-origin with the node, and would
// read and change everything from its visitors' browsers. A user who
// types a URL (Sec-Fetch-Site: none) and clients that are not browsers
// pass; a token, with authentication on, is what a rebound page lacks.
func (n *Node) reboundName(r *http.Request) error {
	site, origin := r.Header.Get("Sec-Fetch-Site"), r.Header.Get("Origin")
	if n.verifier != nil || origin == "" && (site == "" || site == "none") {
		return nil
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if net.ParseIP(host) != nil || strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return nil
	}
	known := slices.Clone(n.config.BrowserHosts)
	if m := n.currentMap(); m != nil {
		for _, node := range m.Nodes {
			known = append(known, node.URL)
		}
	}
	for _, k := range append(known, n.config.URL) {
		if u, err := url.Parse(k); strings.Contains(k, "://") && err == nil {
			k = u.Hostname()
		} else if h, _, err := net.SplitHostPort(k); err == nil {
			k = h
		}
		if strings.EqualFold(strings.TrimSuffix(k, "."), host) {
			return nil
		}
	}
	return fmt.Errorf("%w: a page under the name %q, which is none of this cluster's nodes': with authentication off another site could take that name (DNS rebinding); reach the cluster by a node's name or address, or list the name in the nodes' config browser_hosts", api.ErrForbidden, r.Host)
}

// untrustedContent marks an answer as none of the node's own pages: what
// users stored (an HTML object, served by S3 with its Content-Type) runs
// in no origin of the node's, and is never sniffed into something else.
// The console's pages set their own policy.
func untrustedContent(h http.Header) {
	h.Set("Content-Security-Policy", "sandbox")
	h.Set("X-Content-Type-Options", "nosniff")
}

// Handler returns the node's HTTP handler.
func (n *Node) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(api.HeaderNodeID, n.config.ID)
		r, done := ownBody(w, r, n.config.BodyTimeout)
		defer done()
		// (An absolute-form request is a proxied URL: its path is the
		// origin's, whatever it looks like.)
		if isConsole(r) && strings.HasPrefix(r.URL.Path, console.APIPrefix) && n.config.Role.IsGateway() {
			// Only the console's own pages call it (or a user who types
			// its URL): a page of another origin of the same site (another
			// port of the host, a sibling name) has the cookie sent too,
			// and a read may start work (a remote bucket added, a cold GET).
			err := n.sentByAnotherSite(r)
			if err == nil {
				r, err = consoleAPIRequest(r)
			}
			if err != nil {
				untrustedContent(w.Header())
				n.writeError(w, r, err)
				return
			}
			// Authorized by the session's cookie: no cache keeps the
			// answer (a download link is a navigation, which the page's
			// own fetch options do not cover).
			w.Header().Set("Cache-Control", "private, no-store")
			w.Header().Add("Vary", "Cookie")
		}
		if !isConsole(r) {
			untrustedContent(w.Header())
		}
		if r.URL.IsAbs() && n.config.Role.IsGateway() {
			n.guard(onCluster(authn.PermGet), n.handleProxy)(w, r)
			return
		}
		if r.Method == http.MethodConnect && n.config.Role.IsGateway() {
			// A tunnel is opaque: to any host of the allowed ports, the
			// cluster's network included. An admin's, with auth on.
			n.guard(onCluster(authn.PermAdmin), n.handleConnect)(w, r)
			return
		}
		// The console's files are served under any name: its page then
		// loads, and its first call says why the name is refused.
		staticFile := n.config.Role.IsGateway() && console.Static(r)
		s3Path := r.URL.Path == "/s3" || strings.HasPrefix(r.URL.Path, "/s3/")
		// (S3's are refused by s3Gate, inside its counting.)
		if err := n.fromAnotherSite(r); err != nil && !staticFile && !s3Path {
			n.writeError(w, r, err)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = newPacedBody(w, r.Body, n.config.BodyTimeout, n.config.BodyMinRate)
		}
		if strings.HasPrefix(r.URL.Path, objectPrefix) {
			n.objectRoute(w, r)
			return
		}
		if s3Path {
			if n.s3 == nil {
				n.writeS3Error(w, r, badRequest("the S3 API is served by gateways; node %s is a %s", n.config.ID, n.config.Role))
				return
			}
			n.s3.ServeHTTP(w, r) // s3Gate refuses it while not ready
			return
		}
		n.mux.ServeHTTP(w, r)
	})
}

// writeErrorStatus sends an error with an explicit status.
func (n *Node) writeErrorStatus(w http.ResponseWriter, r *http.Request, status int, err error) {
	n.writeError(w, r, &api.Error{Status: status, Kind: api.KindBadRequest, Message: err.Error(), Node: n.config.ID})
}

// readBody reads a bounded control body.
func readBody(r *http.Request) ([]byte, error) {
	return readBodyUpTo(r, maxControlBody)
}

// readBodyUpTo reads a body of at most limit bytes.
func readBodyUpTo(r *http.Request, limit int64) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		return nil, badRequest("read request body: %w", err)
	}
	return data, nil
}

// decodeBody decodes a JSON body; an empty body leaves v unchanged.
func decodeBody(r *http.Request, v any) error {
	return decodeBodyUpTo(r, v, maxControlBody)
}

// decodeBodyUpTo is decodeBody of a body of at most limit bytes.
func decodeBodyUpTo(r *http.Request, v any, limit int64) error {
	data, err := readBodyUpTo(r, limit)
	if err != nil || len(data) == 0 {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return badRequest("malformed JSON body: %w", err)
	}
	return nil
}

// bucketOf reads and checks the bucket of a request. A namespace other
// than the global one is refused: taken for the global bucket of the
// name, a request for another namespace's bucket would read, write or
// destroy this one.
func bucketOf(r *http.Request) (store.Bucket, error) {
	b := store.Bucket{Name: r.PathValue("bucket"), Provider: r.URL.Query().Get(api.QueryProvider)}.Normalize()
	if ns := r.URL.Query().Get(api.QueryNamespace); !globalNamespace(ns) {
		return b, fmt.Errorf("%w: bucket %s: namespace %q: only the global namespace is served", api.ErrNotImplemented, b, ns)
	}
	if err := b.Validate(); err != nil {
		return b, err
	}
	return b, nil
}

// globalNamespace reports AIStore's global namespace in any of its
// spellings ("", "@", "#", "@#": no cluster uuid, no name).
func globalNamespace(ns string) bool {
	uuid, name, _ := strings.Cut(strings.TrimPrefix(ns, "@"), "#")
	return uuid == "" && name == ""
}

// writeS3Error answers an S3 request refused before the S3 API took it
// (a node starting, a request from another site) as S3 does: an XML
// error an SDK reads, with its code.
func (n *Node) writeS3Error(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	code := map[int]string{http.StatusServiceUnavailable: "ServiceUnavailable", http.StatusForbidden: "AccessDenied",
		http.StatusUnauthorized: "AccessDenied"}[status]
	if code == "" {
		code = "InvalidRequest"
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	s3.WriteError(w, r, &s3.Error{Code: code, Status: status, Message: n.redact(err.Error())}, s3.NewRequestID())
}

// notReady says why the node does not serve yet, or any more.
func (n *Node) notReady() error {
	if n.removed.Load() {
		return fmt.Errorf("%w: node %s was removed from the cluster", api.ErrUnavailable, n.config.ID)
	}
	if err := n.incompatible.Load(); err != nil {
		return fmt.Errorf("%w: gateway %s: %w", api.ErrUnavailable, n.config.ID, *err)
	}
	return fmt.Errorf("%w: node %s is starting", api.ErrUnavailable, n.config.ID)
}

func (n *Node) handleHealth(w http.ResponseWriter, r *http.Request) {
	if !n.ready.Load() {
		n.writeError(w, r, n.notReady())
		return
	}
	writeJSON(w, api.Health{Status: "ok", NodeID: n.config.ID, Role: string(n.config.Role), MapVersion: n.currentMap().Version})
}

// Values of ?what= on GET /v1/cluster.
const (
	whatMap     = "smap"
	whatBuckets = "bmd"
	whatStatus  = "status"
	whatConfig  = "config"
)

func (n *Node) handleClusterGet(w http.ResponseWriter, r *http.Request) {
	if !n.ready.Load() {
		n.writeError(w, r, n.notReady())
		return
	}
	switch what := r.URL.Query().Get(api.QueryWhat); what {
	case whatMap, "":
		if logged, ok := n.control.(interface{ LogIndex() uint64 }); ok {
			w.Header().Set(peer.HeaderLogIndex, strconv.FormatUint(logged.LogIndex(), 10))
		}
		writeJSON(w, n.currentMap())
	case whatBuckets:
		writeJSON(w, n.shownBuckets(r, n.currentBuckets()))
	case whatStatus:
		if id := r.URL.Query().Get(api.QueryJob); id != "" {
			// Checked on the job's bucket (clusterGetAccess), body or not.
			n.writeJobOnlyStatus(w, r, id)
			return
		}
		// A job in the body asks for its status (AIStore's clients wait
		// on it); none, for every node's.
		var q api.JobQuery
		if err := decodeBody(r, &q); err != nil {
			n.writeError(w, r, err)
			return
		}
		if q.ID == "" && q.Kind == "" {
			writeJSON(w, n.status(r.Context()))
			return
		}
		if q.ID == "" {
			n.writeError(w, r, badRequest("what=status of a job needs its id"))
			return
		}
		s, err := n.jobStatus(r.Context(), q)
		if err != nil {
			n.writeError(w, r, err)
			return
		}
		writeJSON(w, s)
	case whatConfig:
		if err := n.requireGateway(); err != nil {
			n.writeError(w, r, err)
			return
		}
		writeJSON(w, n.control.Current().ClusterConfig())
	case whatClusterConfig:
		if err := n.requireGateway(); err != nil {
			n.writeError(w, r, err)
			return
		}
		writeJSON(w, n.clusterConfigAIS())
	case api.WhatJobSnapshots:
		n.handleQueryJobs(w, r)
	default:
		n.writeError(w, r, badRequest("what=%q is not known on /v1/cluster (want smap, bmd, status, config, cluster_config or qryxstats)", what))
	}
}
