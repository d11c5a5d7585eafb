package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/gateway/s3"
	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/internal/redact"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/store"
)

func timeNow() int64 { return time.Now().UnixNano() }

// unready tells why the node cannot serve data yet, or nil. Data is
// served as soon as the node has a map (a joining target owns objects
// from the moment the map with it is pushed); a gateway's map and
// buckets may be a snapshot's until it caught up with the log: it would
// redirect by them, or answer 404.
func (n *Node) unready() error {
	if n.currentMap() == nil {
		return fmt.Errorf("%w: node %s is starting", api.ErrUnavailable, n.config.ID)
	}
	if n.config.Role.IsGateway() && !n.ready.Load() {
		return n.notReady()
	}
	return nil
}

// handleObject serves GET, HEAD, PUT and DELETE of /v1/objects/B/O. A
// gateway redirects to the owner target; a target serves what it owns and
// redirects the rest.
func (n *Node) handleObject(w http.ResponseWriter, r *http.Request) {
	if err := n.unready(); err != nil {
		n.writeError(w, r, err)
		return
	}
	b, err := bucketOf(r)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	if r.Method == http.MethodPut && b.Provider == store.ProviderHT {
		// Filled by the proxy from its origin: a write would be served
		// to proxy readers, and then fail (an origin takes none).
		n.writeError(w, r, badRequest("%s is an ht:// bucket, filled by the reverse proxy from its origin: it takes no writes", b))
		return
	}
	name := r.PathValue("object")
	if err := store.ValidateName(name); err != nil {
		n.writeError(w, r, err)
		return
	}
	// The map version a redirect came with is a target's to wait for; a
	// request no node redirected (no pid) names none a node set, and a
	// gateway redirects by its own map (a client's far-future one would
	// hold the request 2 s, then answer 503 to retry for ever).
	mapVersion := ""
	if r.URL.Query().Has(api.QueryProxyID) && n.config.Role != cluster.RoleGateway {
		mapVersion = r.URL.Query().Get(api.QueryMapVersion)
	}
	smap := n.awaitMap(r.Context(), mapVersion)
	if want, err := strconv.ParseInt(mapVersion, 10, 64); err == nil && smap.Version < want && r.Method != http.MethodGet && r.Method != http.MethodHead {
		// A write stamped under an older map than its sender's would be
		// older than what the new owner may hold already, and lost.
		w.Header().Set("Retry-After", "1")
		n.writeError(w, r, fmt.Errorf("%w: node %s has cluster map version %d, the request was sent under version %d: retry", api.ErrUnavailable, n.config.ID, smap.Version, want))
		return
	}
	owner, err := smap.Owner(cluster.Uname(b.Provider, b.Name, name))
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	if r.Method == http.MethodPut && r.URL.Query().Has(api.QueryAppendType) {
		// The pieces of an append go to the target that has the rest.
		if id, ok := appendTarget(r.URL.Query()); ok {
			if t, found := smap.Node(id); found && t.Role.IsTarget() {
				owner = t
			}
		}
	}
	redirected := r.URL.Query().Has(api.QueryProxyID)
	if b.IsRemote() && !n.config.Role.IsGateway() && !n.knowsBucket(r.Context(), b, redirected && r.URL.Query().Get(api.QueryProxyID) != api.DirectValue) {
		// A remote bucket joins the cluster through a gateway, on its
		// first access: a client that routed itself is sent there.
		if primary, ok := smap.PrimaryNode(); ok {
			// Without a redirect marker: the gateway is to act on it.
			// Its time and map version say a node made it (a client
			// keeps its token for it).
			q := r.URL.Query()
			q.Del(api.QueryProxyID)
			q.Set(api.QueryRedirectTime, strconv.FormatInt(timeNow(), 10))
			q.Set(api.QueryMapVersion, strconv.FormatInt(smap.Version, 10))
			status := http.StatusTemporaryRedirect
			if r.Method == http.MethodGet {
				status = http.StatusMovedPermanently
			}
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Location", withQuery(primary.URL+r.URL.EscapedPath(), q))
			w.WriteHeader(status)
			return
		}
	}
	if n.config.Role.IsGateway() && !redirected {
		// The gateway answers for missing buckets itself.
		if _, err := n.requestedBucketProps(b); err != nil {
			n.writeError(w, r, err)
			return
		}
		n.redirect(w, r, owner)
		return
	}
	if !n.config.Role.IsTarget() {
		n.redirect(w, r, owner)
		return
	}
	if redirected {
		if err := n.awaitBucket(r.Context(), b, r.URL.Query().Get(queryBucketCreated), r.URL.Query().Get(queryBucketsVersion)); err != nil {
			w.Header().Set("Retry-After", "1")
			n.writeError(w, r, err)
			return
		}
	}
	if owner.ID != n.config.ID {
		// While a new map spreads, a node behind its sender's map may
		// disagree on the owner: a read of an object that is here is
		// served here rather than bounced (one that a rebalance moves away
		// meanwhile is bounced after all, see readElsewhere). A node with
		// the sender's map sends the read on to the owner: an overwrite
		// there is newer than the copy here, still on its way.
		want, err := strconv.ParseInt(mapVersion, 10, 64)
		behind := err == nil && smap.Version < want
		if behind && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			if _, err := n.local.Head(r.Context(), b, name); err == nil {
				r = r.WithContext(context.WithValue(r.Context(), bounceKey{}, true))
				if r.Method == http.MethodGet {
					n.getObject(w, r, b, name, false)
				} else {
					n.headObject(w, r, b, name, false)
				}
				return
			}
			// Sent on by its older map, the read would come back here
			// with the newer one, back and forth: the client retries.
			w.Header().Set("Retry-After", "1")
			n.writeError(w, r, fmt.Errorf("%w: node %s has cluster map version %d, the request was sent under version %d: retry", api.ErrUnavailable, n.config.ID, smap.Version, want))
			return
		}
		n.redirect(w, r, owner)
		return
	}
	switch r.Method {
	case http.MethodGet:
		n.getObject(w, r, b, name, true)
	case http.MethodHead:
		n.headObject(w, r, b, name, true)
	case http.MethodPut:
		n.putObject(w, r, b, name)
	case http.MethodDelete:
		n.deleteObject(w, r, b, name)
	}
}

// deleteObject removes an object from its owner and, while objects may
// still be moving, from any other target that has a copy. The delete is
// stamped like a write; a tombstone keeps an older copy (a rebalance, a
// target that comes back) from bringing the object back.
func (n *Node) deleteObject(w http.ResponseWriter, r *http.Request, b store.Bucket, name string) {
	// A condition not honoured is refused, as the S3 API does, not taken
	// for a plain delete.
	for _, header := range preconditionHeaders {
		if hasHeader(r, header) {
			n.writeError(w, r, fmt.Errorf("%w: a DELETE with %s: conditional deletes are not supported", api.ErrNotImplemented, header))
			return
		}
	}
	// A file of a shard is not deleted alone: the whole shard would go.
	if param := archiveParam(r.URL.Query()); param != "" {
		n.writeError(w, r, badRequest("a DELETE takes no %s: it removes the whole object, not a file of a shard", param))
		return
	}
	smap := n.currentMap()
	uname := cluster.Uname(b.Provider, b.Name, name)
	// An object only an offline target may hold cannot be deleted now: the
	// delete is refused before it leaves any trace (a tombstone would take
	// effect when the target returns, though the client was told no).
	if holder, ok := smap.MayHold(uname); ok {
		if _, err := n.config.Store.Head(r.Context(), b, name); errors.Is(err, store.ErrNotFound) {
			n.writeError(w, r, offlineError(w, b, name, holder))
			return
		}
	}
	moving := n.rebalancing()
	// Always a tombstone: an older copy may still be on its way from a
	// target whose rebalance has not ended, whatever this one's state.
	// The local removal runs under the placement lock, as a PUT's commit
	// (after the name's lock, as there): a map change waits for it, so
	// its tombstone is among what the next rebalance lists and sends; and
	// one that came before it moved the object away.
	stamp := n.stamp()
	opts := store.DeleteOptions{Stamp: stamp, Tombstone: true, Precommit: func() (func(), error) {
		n.placement.RLock()
		m := n.currentMap()
		if owner, err := m.Owner(uname); err == nil && owner.ID != n.config.ID {
			n.placement.RUnlock()
			return nil, fmt.Errorf("%w: %s/%s moved to target %s during the DELETE: send it again", api.ErrUnavailable, b, name, owner.ID)
		}
		// A stamp is of the map the delete is accepted under: one of
		// an older map would be older than a write made meanwhile.
		if m.Version != stamp.Map {
			n.placement.RUnlock()
			return nil, fmt.Errorf("%w: %s/%s: the cluster map changed during the DELETE: send it again", api.ErrUnavailable, b, name)
		}
		return n.placement.RUnlock, nil
	}}
	err := n.config.Store.Delete(r.Context(), b, name, opts)
	// A rebalance that started while the delete ran may have sent the
	// object on already: the other targets (of the map now) are asked too.
	moving = moving || n.rebalancing()
	smap = n.currentMap()
	// A write of the name committed after the delete took its stamp (a
	// PUT racing it) is newer and stays: the delete is ordered before
	// it, as if it came first, not a conflict the client did not ask
	// about. (A remote bucket's store says so of a cold GET's copy too,
	// a read: its remote object is still there, and the delete refused.)
	superseded := errors.Is(err, store.ErrExists) && !b.IsRemote()
	if err != nil && !superseded && !errors.Is(err, store.ErrNotFound) {
		n.writeError(w, r, err)
		return
	}
	deleted := err == nil || superseded
	// Not here, the object may still be elsewhere (a copy a rebalance
	// could not place), where a GET would find it: it goes there too, or
	// it would come back once the tombstone is collected. While objects
	// move, the others keep a tombstone too (a copy may be on its way).
	var silent []string
	left := n.copiesLeftBehind(b)
	if moving || !deleted || len(left) > 0 {
		others := slices.DeleteFunc(smap.Reachable(), func(t cluster.Node) bool { return t.ID == n.config.ID })
		req := peer.RemoveRequest{Names: []string{name}, Stamp: opts.Stamp, Held: !moving}
		removed, errs := askTargets(r.Context(), others, func(ctx context.Context, t cluster.Node) (int, error) { return n.peer.Remove(ctx, t, b, req) })
		for i, t := range others {
			switch {
			case errs[i] != nil:
				silent = append(silent, t.ID)
			case removed[i] > 0:
				deleted = true
			}
		}
	}
	if !deleted && len(silent) > 0 {
		// One that did not answer may hold it: not found would be a guess.
		w.Header().Set("Retry-After", "1")
		n.writeError(w, r, fmt.Errorf("%w: %s/%s is not here, and target(s) %s that may hold it did not answer: retry", api.ErrUnavailable, b, name, strings.Join(silent, ", ")))
		return
	}
	if slices.ContainsFunc(silent, func(id string) bool { return left[id] }) {
		// A copy left behind there would outlive the tombstone here and
		// come back: the delete (its tombstone kept) is asked again.
		w.Header().Set("Retry-After", "1")
		n.writeError(w, r, fmt.Errorf("%w: %s/%s: target(s) %s, which may hold a copy a rebalance could not place, did not answer: retry", api.ErrUnavailable, b, name, strings.Join(silent, ", ")))
		return
	}
	if !deleted {
		n.writeError(w, r, fmt.Errorf("delete %s/%s: %w", b, name, store.ErrNotFound))
		return
	}
	w.WriteHeader(http.StatusOK)
}

// retryAfter is the hint given with a 503 for an object on an offline
// target, in seconds.
const retryAfter = "5"

// offlineError answers for an object this target does not have while the
// target that may hold it is offline: unavailable for now, not missing.
func offlineError(w http.ResponseWriter, b store.Bucket, name string, holder cluster.Node) error {
	w.Header().Set("Retry-After", retryAfter)
	return fmt.Errorf("%w: %s/%s may be on target %s, which is offline: retry later", api.ErrUnavailable, b, name, holder.ID)
}

// awaitBucket waits for the bucket a redirect was made for (created at
// asked, in Unix nanoseconds, by a node with bucket metadata of version)
// when this target has an older one or none, and older metadata: behind
// on a destroy and create, it would serve the destroyed bucket's
// objects, or take writes into what goes once it catches up. Still
// behind after mapWait, it asks the primary (at most every
// bucketRefreshEvery) and then refuses, to retry: its store may be
// failing to apply the change.
func (n *Node) awaitBucket(ctx context.Context, b store.Bucket, asked, version string) error {
	want, err := strconv.ParseInt(asked, 10, 64)
	if err != nil || want <= 0 {
		return nil
	}
	sender, err := strconv.ParseInt(version, 10, 64)
	if err != nil {
		sender = math.MaxInt64 // not said: an older node's
	}
	// Another creation than the sender's (not an older one: the times
	// are of the gateways that made them, whose clocks differ), with
	// older metadata: a target ahead of the sender has newer metadata.
	behind := func() bool {
		return n.bucketCreated(b) != want && n.currentBuckets().Version < sender
	}
	if !behind() {
		return nil
	}
	deadline := time.Now().Add(mapWait)
	for behind() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	if behind() && n.mayRefreshBuckets() {
		n.refresh(ctx)
	}
	if here := n.bucketCreated(b); behind() {
		return fmt.Errorf("%w: target %s has not applied bucket %s as created at %d (it has %s): retry", api.ErrUnavailable, n.config.ID, b, want, createdName(here))
	}
	return nil
}

// mayRefreshBuckets reports whether a request for a bucket this target
// is behind on may have it ask the primary now (at most every
// bucketRefreshEvery).
func (n *Node) mayRefreshBuckets() bool {
	last := n.bucketRefreshed.Load()
	return time.Since(time.Unix(0, last)) >= bucketRefreshEvery && n.bucketRefreshed.CompareAndSwap(last, time.Now().UnixNano())
}

// refreshBehind has this target take the primary's metadata again, in
// the background, when its store failed to apply a bucket's change
// (store.ErrBucketBehind): taking it is the store's next try.
func (n *Node) refreshBehind() {
	if !n.mayRefreshBuckets() {
		return
	}
	n.background(func() {
		ctx, cancel := context.WithTimeout(n.loopsContext(), mapWait)
		defer cancel()
		// A target takes the primary's metadata, which its store had
		// refused (its own stayed older); a node of the Raft log has
		// the log's, and its store is handed that again: again if the
		// log moved on meanwhile (its own sync of the newer version may
		// have failed before this one took the older).
		n.refresh(ctx)
		if n.config.Store == nil {
			return
		}
		for range 5 {
			md := n.currentBuckets()
			if md == nil {
				return
			}
			// As the control plane hands it: a bucket destroyed ends
			// its jobs, a mirroring changed owes copies.
			sync := n.config.Store.SyncBuckets
			if n.config.Role.IsTarget() {
				sync = n.syncBucketsOwing
			}
			if err := sync(ctx, *md); err != nil {
				n.logger.Warn("the store still does not take the bucket metadata", "version", md.Version, "err", err)
				return
			}
			if now := n.currentBuckets(); now == nil || now.Version == md.Version {
				return
			}
		}
	})
}

// createdName names a bucket's creation as a node knows it.
func createdName(created int64) string {
	if created == 0 {
		return "none"
	}
	return "the one created at " + strconv.FormatInt(created, 10)
}

// bucketRefreshEvery bounds how often requests for a bucket a target is
// behind on have it ask the primary.
const bucketRefreshEvery = time.Second

// mapWait bounds how long a node waits for the map a redirect was made
// by.
const mapWait = 2 * time.Second

// awaitMap returns the node's map once it is at least the version a
// redirecting node had (the smv query), or after mapWait: while a new map
// spreads, a target must not send a request back to an owner the sender
// already knows is gone.
func (n *Node) awaitMap(ctx context.Context, version string) *cluster.Map {
	smap := n.currentMap()
	want, err := strconv.ParseInt(version, 10, 64)
	if err != nil || smap.Version >= want {
		return smap
	}
	deadline := time.Now().Add(mapWait)
	for smap.Version < want && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
		smap = n.currentMap()
	}
	return smap
}

// redirect sends the client to a node: 301 for GET, as AIStore does, 307
// for the rest so that the method and body are kept.
func (n *Node) redirect(w http.ResponseWriter, r *http.Request, to cluster.Node) {
	q := r.URL.Query()
	// Never a token in a Location (a 301 is cached): the grant says who.
	q.Del("X-Amz-Security-Token")
	if !q.Has(api.QueryProxyID) {
		q.Set(api.QueryProxyID, n.config.ID)
	}
	q.Set(api.QueryRedirectTime, strconv.FormatInt(timeNow(), 10))
	if m := n.currentMap(); m != nil {
		q.Set(api.QueryMapVersion, strconv.FormatInt(m.Version, 10))
	}
	// Which bucket of the name (created when): a target behind on its
	// destroy and create has the destroyed one's objects.
	if b, err := bucketOf(r); err == nil && !q.Has(queryBucketCreated) {
		if created := n.bucketCreated(b); created != 0 {
			q.Set(queryBucketCreated, strconv.FormatInt(created, 10))
			q.Set(queryBucketsVersion, strconv.FormatInt(n.currentBuckets().Version, 10))
		}
	}
	if granted, _ := r.Context().Value(grantedKey{}).(bool); n.verifier != nil && !granted {
		q.Set(queryGrant, n.grant(r, r.URL.EscapedPath(), callerOf(r)))
	}
	location := to.URL + r.URL.EscapedPath() + "?" + q.Encode()
	if console, _ := r.Context().Value(consoleKey{}).(bool); console && n.config.Role.IsGateway() && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		// The console's browser may reach the gateway only (a port
		// forward, a load balancer): the object comes through it.
		if rec, ok := w.(relayRecorder); ok {
			rec.recordRelay()
		}
		n.relay(w, r, location)
		return
	}
	status := http.StatusTemporaryRedirect
	if r.Method == http.MethodGet {
		status = http.StatusMovedPermanently
	}
	// A browser keeps a 301 for good: its grant lives 2 minutes, and the
	// object's owner may change.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", location)
	w.WriteHeader(status)
}

// nodeRedirects follows a node's redirect to another node of the map (its
// map is ahead: the object's owner changed), a few times: the browser
// behind a relay reaches no node.
type nodeRedirects struct {
	base   http.RoundTripper
	isNode func(context.Context, *url.URL) bool
}

func (t *nodeRedirects) RoundTrip(req *http.Request) (*http.Response, error) {
	for range 3 {
		resp, err := t.base.RoundTrip(req)
		// A 304 (a read's condition met) is no redirect, nor one
		// without a Location.
		if err != nil || !isRedirect(resp.StatusCode) || resp.Header.Get("Location") == "" {
			return resp, err
		}
		next, err := req.URL.Parse(resp.Header.Get("Location"))
		if err != nil || !t.isNode(req.Context(), next) {
			return resp, nil // not a node's: the client's to follow
		}
		resp.Body.Close()
		req = req.Clone(req.Context())
		req.URL, req.Host = next, next.Host
	}
	return nil, fmt.Errorf("%w: the nodes sent the read on more than 3 times", api.ErrUnavailable)
}

// isNodeURL reports whether u is at a node of the map of the redirect
// that names it (a node that joined: its map waited for, as a redirect's).
func (n *Node) isNodeURL(ctx context.Context, u *url.URL) bool {
	m := n.awaitMap(ctx, u.Query().Get(api.QueryMapVersion))
	if m == nil {
		return false
	}
	for _, node := range m.Nodes {
		if base, err := url.Parse(node.URL); err == nil && base.Scheme == u.Scheme && base.Host == u.Host {
			return true
		}
	}
	return false
}

// relay serves a read from the node at location (a redirect's, with its
// grant) through this one.
func (n *Node) relay(w http.ResponseWriter, r *http.Request, location string) {
	target, err := url.Parse(location)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL, pr.Out.Host = target, target.Host
			pr.Out.Header.Del("Authorization") // the grant says who
			pr.Out.Header.Set(headerForClient, "true")
		},
		Transport: &nodeRedirects{base: n.peer.HTTP().Transport, isNode: n.isNodeURL},
		// The target's headers are added to the console's own: its
		// Cache-Control (none, for an object) must not loosen them.
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Del("Cache-Control")
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return // the client left: no one to answer, and no error of the cluster's
			}
			n.writeError(w, r, fmt.Errorf("%w: %s: %w", api.ErrUnavailable, redact.Link(location), err))
		},
	}
	proxy.ServeHTTP(w, r)
}

// bounceKey marks a read a non-owner serves because it has the object.
type bounceKey struct{}

// readElsewhere sends a read that a non-owner took, because it had the
// object, on to the owner when the object went meanwhile (a rebalance
// moved it): the owner has it, or asks its neighbors.
func (n *Node) readElsewhere(w http.ResponseWriter, r *http.Request, b store.Bucket, name string, err error) bool {
	if bounce, _ := r.Context().Value(bounceKey{}).(bool); !bounce || !errors.Is(err, store.ErrNotFound) {
		return false
	}
	owner, oerr := n.currentMap().Owner(cluster.Uname(b.Provider, b.Name, name))
	if oerr != nil || owner.ID == n.config.ID {
		return false
	}
	n.redirect(w, r, owner)
	return true
}

// setMetaHeaders describes an object in response headers.
func setMetaHeaders(h http.Header, meta store.ObjectMeta) {
	if !meta.Checksum.IsEmpty() {
		h.Set(api.HeaderChecksumType, meta.Checksum.Type)
		h.Set(api.HeaderChecksumValue, meta.Checksum.Value)
	}
	if meta.Version != "" {
		h.Set(api.HeaderVersion, meta.Version)
	}
	if !meta.Atime.IsZero() {
		h.Set(api.HeaderAtime, strconv.FormatInt(meta.Atime.UnixNano(), 10))
	}
	if len(meta.Custom) > 0 {
		h.Set(api.HeaderCustom, encodeCustom(meta.Custom))
	}
	if !meta.Stamp.IsZero() {
		h.Set(api.HeaderStamp, meta.Stamp.String())
	}
	// The validators the S3 API gives too: a resumed download holds its
	// range to them (If-Range).
	if etag := store.ETagOf(meta); etag != "" {
		h.Set("ETag", s3.QuoteETag(etag))
	}
	if modified := store.ModifiedOf(meta); modified.Unix() > 0 {
		h.Set("Last-Modified", modified.Format(http.TimeFormat))
	}
}

// preconditionHeaders are RFC 9110's preconditions of a request.
var preconditionHeaders = []string{"If-Match", "If-Unmodified-Since", "If-None-Match", "If-Modified-Since"}

// preconditionsFail answers a GET or HEAD whose preconditions do not hold
// for the object of meta (RFC 9110 13.2): 412, or 304 with its
// validators; true when it answered.
func (n *Node) preconditionsFail(w http.ResponseWriter, r *http.Request, meta store.ObjectMeta) bool {
	if !hasPreconditions(r) {
		return false
	}
	err := s3.CheckConditions(r, store.ETagOf(meta), store.ModifiedOf(meta))
	if err == nil {
		return false
	}
	if errors.Is(err, s3.ErrNotModified) {
		h := w.Header()
		if etag := store.ETagOf(meta); etag != "" {
			h.Set("ETag", s3.QuoteETag(etag))
		}
		if modified := store.ModifiedOf(meta); modified.Unix() > 0 {
			h.Set("Last-Modified", modified.Format(http.TimeFormat))
		}
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	n.writeError(w, r, fmt.Errorf("%w: %s", api.ErrPreconditionFailed, err.Error()))
	return true
}

// notCached reports a remote bucket's object with no copy here.
func (n *Node) notCached(ctx context.Context, b store.Bucket, name string) bool {
	_, err := n.local.Head(ctx, b, name)
	return errors.Is(err, store.ErrNotFound)
}

// hasPreconditions reports a request with preconditions on the object's
// version.
func hasPreconditions(r *http.Request) bool {
	return slices.ContainsFunc(preconditionHeaders, func(header string) bool { return hasHeader(r, header) })
}

// encodeCustom writes custom metadata as "k1=v1,k2=v2" with escaped parts.
func encodeCustom(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(v))
	}
	return strings.Join(parts, ",")
}

// reservedCustom reports a custom key the node itself sets, which a
// client's metadata must not: a cached object's remote attributes (a
// validated warm GET compares them), the dSort job that wrote an output
// shard (a recovery removes what it marks), the S3 ETag and multipart
// layout (conditional requests and GETs by part number trust them; the
// S3 API sends them signed as its node).
func reservedCustom(key string) bool {
	return key == pipeline.CustomJob || key == pipeline.CustomAttempt || strings.HasPrefix(key, "remote.") ||
		key == store.CustomETag || strings.HasPrefix(key, "s3.mp-")
}

// headerSafe reports a value a header carries as it is: no control byte
// but a tab, no space or tab at either end.
func headerSafe(v string) bool {
	if strings.Trim(v, " \t") != v {
		return false
	}
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < 0x20 && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

// decodeCustom reads what encodeCustom wrote, less the keys the node
// keeps for itself unless a node of the cluster sent them (reserved): a
// client that copies an object's metadata sends them back, and they are
// dropped, not refused. Sent on several lines, each line is one raw
// key=value, as AIStore's clients write them (unescaped: a value may
// hold a comma or a %); one line that is not this node's escaped list
// (encodeCustom's never holds a bare comma or a bad escape) is one raw
// key=value too. (A raw value with a + or a %XX in one line is read as
// escaped: the two cannot be told apart.)
func decodeCustom(lines []string, reserved bool) (map[string]string, error) {
	lines = slices.DeleteFunc(slices.Clone(lines), func(line string) bool { return strings.TrimSpace(line) == "" })
	if len(lines) == 0 {
		return nil, nil
	}
	if len(lines) == 1 {
		if m, ok := decodeEscapedCustom(lines[0], reserved); ok {
			return m, nil
		}
	}
	m := map[string]string{}
	for _, line := range lines {
		key, value, ok := strings.Cut(line, "=")
		if !ok || key == "" {
			return nil, badRequest("%s: %q is not key=value", api.HeaderCustom, line)
		}
		if !reservedCustom(key) || reserved {
			m[key] = value
		}
	}
	return m, nil
}

// decodeEscapedCustom reads encodeCustom's list of escaped key=value;
// false when s is not one.
func decodeEscapedCustom(s string, reserved bool) (map[string]string, bool) {
	m := map[string]string{}
	for part := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue // (a trailing comma)
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, false
		}
		key, err1 := url.QueryUnescape(k)
		value, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil || key == "" {
			return nil, false
		}
		if reservedCustom(key) && !reserved {
			continue
		}
		m[key] = value
	}
	return m, true
}

// archiveParam names the first query parameter that selects files of a
// shard, if any: what only a GET (and a PUT of a member) acts on.
func archiveParam(q url.Values) string {
	for _, param := range []string{api.QueryArchPath, api.QueryArchRegex, api.QueryArchMode, api.QueryArchMime} {
		if q.Has(param) {
			return param
		}
	}
	return ""
}

// requestChecksum reads the checksum a write asks to be verified: a
// value needs its type (without one, or with "none", nothing would be
// checked though the client believes it was); hex is taken in either case.
func requestChecksum(r *http.Request) (store.Checksum, error) {
	// One line each: an empty first would hide the next from Get, and
	// the checksum the client sent would go unchecked.
	for _, header := range []string{api.HeaderChecksumType, api.HeaderChecksumValue} {
		if lines := r.Header.Values(header); len(lines) > 1 {
			return store.Checksum{}, badRequest("%s on %d lines: a write takes one checksum", header, len(lines))
		}
	}
	c := store.Checksum{Type: r.Header.Get(api.HeaderChecksumType), Value: strings.ToLower(r.Header.Get(api.HeaderChecksumValue))}
	if c.Value != "" && (c.Type == "" || c.Type == store.ChecksumNone) {
		return c, badRequest("%s %q comes without a checksum type (%s: md5, sha256, xxhash...) to verify it by", api.HeaderChecksumValue, c.Value, api.HeaderChecksumType)
	}
	return c, nil
}

// hasHeader reports whether r has a header of a value on any line (an
// empty first line hides the next from Header.Get).
func hasHeader(r *http.Request, header string) bool {
	return slices.ContainsFunc(r.Header.Values(header), func(v string) bool { return strings.TrimSpace(v) != "" })
}

// putCondition reads a PUT's If-Match or If-None-Match: one line (a
// second, which a list may take, would be a second condition).
func putCondition(r *http.Request, header string) (string, error) {
	if lines := r.Header.Values(header); len(lines) > 1 {
		return "", fmt.Errorf("%w: %s on %d lines: a PUT takes * or one ETag", api.ErrBadRequest, header, len(lines))
	}
	return api.ParsePutCondition(header, r.Header.Get(header))
}

func (n *Node) putObject(w http.ResponseWriter, r *http.Request, b store.Bucket, name string) {
	// A time condition is not honoured on a write (If-Match is): refused,
	// as a DELETE's, not taken for a plain overwrite.
	for _, header := range []string{"If-Unmodified-Since", "If-Modified-Since"} {
		if hasHeader(r, header) {
			n.writeError(w, r, fmt.Errorf("%w: a PUT with %s: writes take If-Match (the ETag) or If-None-Match, not a time", api.ErrNotImplemented, header))
			return
		}
	}
	if r.URL.Query().Has(api.QueryAppendType) {
		n.appendObject(w, r, b, name)
		return
	}
	if r.URL.Query().Get(api.QueryArchPath) != "" {
		// A member goes into a shard the node rewrites under its own
		// guard: what a PUT of a whole object asks for would be ignored.
		for _, header := range []string{"If-Match", "If-None-Match", api.HeaderChecksumValue, api.HeaderCustom, api.HeaderETag} {
			if hasHeader(r, header) {
				n.writeError(w, r, badRequest("a PUT into a shard (%s) takes no %s: it applies to the shard, which the node rewrites", api.QueryArchPath, header))
				return
			}
		}
		n.putIntoArchive(w, r, b, name)
		return
	}
	// Any other archive parameter (an empty archpath, archmime alone) is
	// no PUT of the whole object: that would replace the shard.
	if param := archiveParam(r.URL.Query()); param != "" {
		n.writeError(w, r, badRequest("a PUT with %s needs a non-empty %s (the file to put into the shard); without archive parameters it puts the whole object", param, api.QueryArchPath))
		return
	}
	checksum, err := requestChecksum(r)
	var custom map[string]string
	if err == nil {
		custom, err = decodeCustom(r.Header.Values(api.HeaderCustom), n.signedByNode(r))
	}
	var ifMatch, ifNoneMatch string
	if err == nil {
		ifMatch, err = putCondition(r, "If-Match")
	}
	if err == nil {
		ifNoneMatch, err = putCondition(r, "If-None-Match")
	}
	if err == nil {
		err = n.checkSpaceFor(r.Context(), r.ContentLength)
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	meta, err := n.putOwned(r.Context(), b, name, n.guardSpace(r.Context(), r.Body), store.PutOptions{
		Size:        r.ContentLength,
		Checksum:    checksum,
		Custom:      custom,
		ETag:        r.Header.Get(api.HeaderETag) == "true",
		IfNoneMatch: ifNoneMatch,
		IfMatch:     ifMatch,
	})
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	setMetaHeaders(w.Header(), meta)
	w.WriteHeader(http.StatusOK)
}

// putOwned stores an object this target owns. The object becomes
// visible only while this target still owns it: a rebalance that starts
// after a map change then sees it. It is stamped with the map it was
// accepted under (store.Stamp).
func (n *Node) putOwned(ctx context.Context, b store.Bucket, name string, body io.Reader, opts store.PutOptions) (store.ObjectMeta, error) {
	if b.IsRemote() {
		// A remote bucket's PUT takes no condition: a file put into a
		// shard reads it and writes it back under this lock (as an
		// archive job does), and a write of the name between would be
		// lost, its PUT acknowledged.
		unlock, err := n.shardLocks.lockUnlessJob(ctx, b, name, shardLockWait)
		if err != nil {
			return store.ObjectMeta{}, err
		}
		defer unlock()
	}
	return n.putOwnedHeld(ctx, b, name, body, opts)
}

// putOwnedHeld is putOwned for a writer that holds the name's shard lock.
func (n *Node) putOwnedHeld(ctx context.Context, b store.Bucket, name string, body io.Reader, opts store.PutOptions) (store.ObjectMeta, error) {
	if (opts.IfMatch != "" || opts.IfNoneMatch != "") && b.IsRemote() {
		// Refused before the HEAD below, which would ask the remote (as
		// the remote store refuses it, of a kind clients read).
		return store.ObjectMeta{}, fmt.Errorf("put %s/%s: %w: a conditional PUT to a remote bucket", b, name, api.ErrNotImplemented)
	}
	if opts.IfMatch != "" || opts.IfNoneMatch != "" {
		// The current object may be on an offline target only: the
		// condition cannot be checked (If-None-Match: * would overwrite
		// it once the target returns).
		if holder, ok := n.currentMap().MayHold(cluster.Uname(b.Provider, b.Name, name)); ok {
			if _, err := n.config.Store.Head(ctx, b, name); errors.Is(err, store.ErrNotFound) {
				return store.ObjectMeta{}, fmt.Errorf("%w: %s/%s may be on target %s, which is offline: its condition cannot be checked now: retry", api.ErrUnavailable, b, name, holder.ID)
			}
		}
		// A condition is checked against the current object: while this
		// target catches up, or objects move to it, that may be a newer
		// copy elsewhere (a file put into a shard is such a PUT too).
		local, err := n.config.Store.Head(ctx, b, name)
		switch {
		case errors.Is(err, store.ErrUnreached):
			// Parts that moved or went answer "not found" too: the
			// object is not known to be absent.
			return store.ObjectMeta{}, fmt.Errorf("%w: %s/%s: its condition cannot be checked now (%v): retry", api.ErrUnavailable, b, name, err)
		case err == nil, errors.Is(err, store.ErrNotFound):
		case errors.Is(err, store.ErrCorrupt):
			return store.ObjectMeta{}, fmt.Errorf("%s/%s: its condition cannot be checked: %w", b, name, err)
		default:
			// Not known to be absent (an erasure-coded object whose
			// restore failed for now): If-None-Match: * would replace it.
			return store.ObjectMeta{}, fmt.Errorf("%w: %s/%s: its condition cannot be checked now (%v): retry", api.ErrUnavailable, b, name, err)
		}
		if other, _, ok, _ := n.newerElsewhere(ctx, b, name, local.Stamp, true); ok {
			return store.ObjectMeta{}, fmt.Errorf("%w: %s/%s: target %s holds a newer copy or delete that has not reached its owner %s yet: retry the conditional PUT", api.ErrUnavailable, b, name, other.ID, n.config.ID)
		}
	}
	opts.Precommit = func() (func(), store.Stamp, error) {
		n.placement.RLock()
		smap := n.currentMap()
		owner, err := smap.Owner(cluster.Uname(b.Provider, b.Name, name))
		if err == nil && owner.ID != n.config.ID {
			err = fmt.Errorf("%w: %s/%s moved to target %s during the PUT: send it again", api.ErrUnavailable, b, name, owner.ID)
		}
		if err != nil {
			n.placement.RUnlock()
			return nil, store.Stamp{}, err
		}
		return n.placement.RUnlock, n.stamp(), nil
	}
	return n.config.Store.Put(ctx, b, name, body, opts)
}

// coldCommit holds a cold GET's copy to this target's objects, under the
// placement lock a rebalance's listing waits for: fetched across a map
// change, the copy is not left here, where the owner's deletes do not
// reach it.
func (n *Node) coldCommit(b store.Bucket, name string) (func(), error) {
	n.placement.RLock()
	owner, err := n.currentMap().Owner(cluster.Uname(b.Provider, b.Name, name))
	if err == nil && owner.ID != n.config.ID {
		err = fmt.Errorf("%w: %s/%s moved to target %s while it was fetched: read it again", api.ErrUnavailable, b, name, owner.ID)
	}
	if err != nil {
		n.placement.RUnlock()
		return nil, err
	}
	return n.placement.RUnlock, nil
}

// currentCopies are the copies of an object's current version.
func currentCopies(copies []store.ObjectCopy) []store.ObjectCopy {
	return slices.DeleteFunc(slices.Clone(copies), func(c store.ObjectCopy) bool { return !c.Current })
}

// notHere reports whether an object's read found it missing here: not
// found, or (erasure-coded) its parts not all reached, some moved on: it
// may be on the neighbors (a rebalance moving it).
func notHere(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrUnreached)
}

// unlessOffline turns "not found" into "unavailable" when the target
// that may hold the object is offline.
func (n *Node) unlessOffline(w http.ResponseWriter, err error, b store.Bucket, name string) error {
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if holder, ok := n.currentMap().MayHold(cluster.Uname(b.Provider, b.Name, name)); ok {
		return offlineError(w, b, name, holder)
	}
	return err
}

// headObject answers HEAD; with fallback, an object this target owns but
// does not have is looked for on the other targets (see rebalance).
func (n *Node) headObject(w http.ResponseWriter, r *http.Request, b store.Bucket, name string, fallback bool) {
	// (archpath and archregx, which AIStore's clients send on a HEAD as
	// on the GET they go with, are not looked at: the shard is described.)
	latest, err := latestOf(r.URL.Query())
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	// AIStore's presence: 2 to 4 ask of a remote bucket's object only
	// whether the cluster holds it (404 if not), the remote not asked.
	inCluster := false
	switch v := r.URL.Query().Get(api.QueryPresence); v {
	case "", "0", "1", "5":
	case "2", "3", "4":
		inCluster = b.IsRemote()
	default:
		n.writeError(w, r, badRequest("%s=%q: want 0 to 5", api.QueryPresence, v))
		return
	}
	var meta store.ObjectMeta
	switch latestHeader, ok := n.config.Store.(store.LatestHeader); {
	case inCluster:
		meta, err = n.local.Head(r.Context(), b, name)
	case ok && latest && fallback && b.IsRemote():
		// What a GET with it would serve: the remote's version, which
		// a cached copy may not be.
		meta, err = latestHeader.HeadLatest(r.Context(), b, name)
	default:
		meta, err = n.storeFor(fallback).Head(r.Context(), b, name)
	}
	if err != nil && fallback && notHere(err) && !n.remoteDecides(b, latest) {
		if n.serveFromNeighbors(w, r, b, name) {
			return
		}
		if !inCluster {
			meta, err = n.config.Store.Head(r.Context(), b, name)
		}
		err = n.unlessOffline(w, err, b, name)
	}
	if err != nil && !fallback && n.readElsewhere(w, r, b, name, err) {
		return
	}
	if err != nil {
		if !fallback {
			n.tellDeleted(w, b, name, err)
		}
		n.writeError(w, r, err)
		return
	}
	if fallback && n.servedNewer(w, r, b, name, meta.Stamp) {
		return
	}
	if n.preconditionsFail(w, r, meta) {
		return
	}
	setMetaHeaders(w.Header(), meta)
	h := w.Header()
	// What AIStore's clients read of a HEAD.
	// A remote bucket's object not cached here was answered by the
	// remote: it has no access time of ours.
	h.Set(api.HeaderPresent, strconv.FormatBool(!meta.Atime.IsZero() || !b.IsRemote()))
	// Not a name a header would alter (net/http trims its spaces and
	// turns its line breaks into spaces) or a client refuse (a control
	// byte): none rather than another's.
	if headerSafe(name) {
		h.Set(api.HeaderName, name)
	}
	h.Set(api.HeaderBucketName, b.Name)
	h.Set(api.HeaderBucketProvider, b.Normalize().Provider)
	location := "t[" + n.config.ID + "]"
	if n.config.Storage != nil {
		if copies, err := n.config.Storage.Copies(r.Context(), b, name); err == nil {
			// The copies of this version: a stale one is no redundancy.
			if current := currentCopies(copies); len(current) > 0 {
				h.Set(api.HeaderMirrorCopies, strconv.Itoa(len(current)))
				location += ":mp[" + current[0].Mountpath + "]"
			}
		}
	}
	h.Set(api.HeaderLocation, location)
	if meta.Size >= 0 {
		// Unknown (-1) for a remote object whose origin did not tell.
		h.Set("Content-Length", strconv.FormatInt(meta.Size, 10))
	}
	// As the GET says (RFC 9110 9.3.2): a client that HEADs first to
	// decide on ranges learns it may.
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
}

// latestOf reads latest-ver and synchronize: either asks a read of a
// remote bucket's object to check the remote's version, and a GET with
// either drops a cached copy the remote no longer has (store/remote).
func latestOf(q url.Values) (bool, error) {
	latest := false
	for _, key := range []string{api.QueryLatest, api.QuerySynchronize} {
		if v := q.Get(key); v != "" {
			on, err := strconv.ParseBool(v)
			if err != nil {
				return false, badRequest("%s=%q is not true or false", key, v)
			}
			latest = latest || on
		}
	}
	return latest, nil
}

// storeFor returns the store a read goes to: the owner's (fallback) may
// rebuild a lost object from its parts; a read of what this target holds
// (another target asks, or the map is spreading) must not.
func (n *Node) storeFor(owner bool) store.Store {
	if owner {
		return n.config.Store
	}
	return n.local
}

// getObject answers GET; with fallback as in headObject.
func (n *Node) getObject(w http.ResponseWriter, r *http.Request, b store.Bucket, name string, fallback bool) {
	if b.IsRemote() && fallback {
		// A cold GET fills the disks: LRU may have work.
		n.checkSpace(r.Context())
	}
	q := r.URL.Query()
	if what := q.Get(api.QueryWhat); what != "" {
		if what != "location" {
			n.writeError(w, r, fmt.Errorf("%w: what=%q: an object answers what=location only", api.ErrBadRequest, what))
			return
		}
		n.objectLocation(w, r, b, name)
		return
	}
	validate := false
	if v := q.Get(api.QueryValidate); v != "" {
		var err error
		if validate, err = strconv.ParseBool(v); err != nil {
			n.writeError(w, r, badRequest("%s=%q is not true or false", api.QueryValidate, v))
			return
		}
	}
	latest, err := latestOf(q)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	opts := store.OpenOptions{Validate: validate, Latest: latest}
	var obj store.Object
	whole := r.Header.Get("Range") == "" && q.Get(api.QueryArchPath) == "" && q.Get(api.QueryArchRegex) == ""
	if b.IsRemote() && fallback && !latest && hasPreconditions(r) && n.notCached(r.Context(), b, name) {
		// Checked first against what the remote's HEAD says: a read
		// opened (a cold GET) would fetch the whole object before its
		// 304 or 412 went. Not a cached copy's (the read checks it with
		// the remote as the bucket says), nor a HEAD without a strong
		// ETag (the copy stored gets one of its own).
		if meta, err := n.config.Store.Head(r.Context(), b, name); err == nil && store.ETagOf(meta) != "" && n.preconditionsFail(w, r, meta) {
			return
		}
	}
	if streamer, ok := n.config.Store.(coldStreamer); ok && b.IsRemote() && fallback && !validate && !latest && whole {
		// A whole read of a remote object: served while it is cached.
		obj, err = streamer.OpenStreaming(r.Context(), b, name)
	} else {
		obj, err = n.storeFor(fallback).Open(r.Context(), b, name, opts)
	}
	if err != nil && fallback && notHere(err) && !n.remoteDecides(b, latest) {
		if n.serveFromNeighbors(w, r, b, name) {
			return
		}
		// It may have arrived here while the neighbors were asked.
		obj, err = n.config.Store.Open(r.Context(), b, name, opts)
		err = n.unlessOffline(w, err, b, name)
	}
	if err != nil && !fallback && n.readElsewhere(w, r, b, name, err) {
		return
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	defer obj.Close()
	meta := obj.Meta()
	// Back from offline: a newer copy written elsewhere meanwhile is
	// served until it arrives here.
	if fallback && n.servedNewer(w, r, b, name, meta.Stamp) {
		return
	}
	if n.preconditionsFail(w, r, meta) {
		return
	}
	// A range held to another version than this one (If-Range) is not
	// served, of the object or of a member of it: it would join a resumed
	// download's first part, so the whole is sent (RFC 9110 13.1.5).
	if r.Header.Get("Range") != "" && !s3.RangeHolds(r.Header.Get("If-Range"), store.ETagOf(meta), store.ModifiedOf(meta)) {
		r.Header.Del("Range")
	}
	if q.Get(api.QueryArchPath) != "" || q.Get(api.QueryArchRegex) != "" {
		n.getFromArchive(w, r, b, obj, name)
		return
	}
	h := w.Header()
	setMetaHeaders(h, meta)
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", "application/octet-stream")
	start, length, err := int64(0), int64(0), errIgnoreRange
	if spec := r.Header.Get("Range"); spec != "" {
		start, length, err = parseRange(spec, meta.Size)
	}
	if !errors.Is(err, errIgnoreRange) {
		if err != nil {
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", meta.Size))
			n.writeError(w, r, err)
			return
		}
		if _, err := obj.Seek(start, io.SeekStart); err != nil {
			n.writeError(w, r, err)
			return
		}
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+length-1, meta.Size))
		h.Set("Content-Length", strconv.FormatInt(length, 10))
		w.WriteHeader(http.StatusPartialContent)
		buf := pool.Get(pool.CopyBufferSize)
		defer pool.Put(buf)
		_, err := io.CopyBuffer(w, io.LimitReader(obj, length), buf)
		n.bodyCut(w, r, b, name, err)
		return
	}
	h.Set("Content-Length", strconv.FormatInt(meta.Size, 10))
	w.WriteHeader(http.StatusOK)
	_, err = obj.WriteTo(w)
	n.bodyCut(w, r, b, name, err)
}

// bodyCut notes a body cut after its status went out (the client sees a
// short body): one cut by this node (a disk's read error) is the
// request's error in the metrics; a client that left is not.
func (n *Node) bodyCut(w http.ResponseWriter, r *http.Request, b store.Bucket, name string, err error) {
	if err == nil {
		return
	}
	n.logger.Debug("get: copy interrupted", "bucket", b.Name, "object", name, "err", err)
	recordCut(w, r, err)
}

// recordCut gives the metrics the error that cut a body, unless the
// client left.
func recordCut(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
		return
	}
	if rec, ok := w.(errorRecorder); ok {
		rec.recordError(err)
	}
}

// withQuery appends a query to a URL, if any.
func withQuery(u string, q url.Values) string {
	if len(q) == 0 {
		return u
	}
	return u + "?" + q.Encode()
}

// coldStreamer is the remote-bucket store (store/remote) serving an object
// not cached while it stores it: no Seek or ReadAt on what it returns.
type coldStreamer interface {
	OpenStreaming(ctx context.Context, b store.Bucket, name string) (store.Object, error)
}
