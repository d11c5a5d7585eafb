package gateway

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/authn"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/gateway/console"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/gateway/s3"
	"github.com/aisgo/aisgo/gateway/s3/sigv4"
	"github.com/aisgo/aisgo/store"
)

// access says what a request needs: a permission on a bucket ("" for one
// on the cluster as a whole). public routes need nothing.
type access func(r *http.Request) (authn.Perm, string)

// public marks a route that answers without a token.
var public access = nil

// onCluster needs a permission on the cluster as a whole.
func onCluster(p authn.Perm) access {
	return func(*http.Request) (authn.Perm, string) { return p, "" }
}

// onSomeBucket needs a permission on some bucket at least: the handler
// checks it on each bucket the request names.
func onSomeBucket(p authn.Perm) access {
	return func(*http.Request) (authn.Perm, string) { return p, authn.AnyBucket }
}

// onBucket needs a permission on the route's {bucket}.
func onBucket(p authn.Perm) access {
	return func(r *http.Request) (authn.Perm, string) { return p, bucketKey(r) }
}

// bucketKey names the request's bucket as grants do ("ais://b").
func bucketKey(r *http.Request) string {
	b, err := bucketOf(r)
	if err != nil {
		return ""
	}
	return b.String()
}

// clusterGetAccess needs LIST on the cluster, but only on some bucket
// for one job's status (what=status&job=ID): the handler checks it on the
// job's bucket, so that a user granted a bucket follows the copy or
// prefetch it started there.
func clusterGetAccess(r *http.Request) (authn.Perm, string) {
	q := r.URL.Query()
	if q.Get(api.QueryWhat) == whatStatus && q.Get(api.QueryJob) != "" {
		return authn.PermList, authn.AnyBucket
	}
	return authn.PermList, ""
}

// actionPerms are what bucket actions need; an action not listed needs
// ADMIN.
var actionPerms = map[string]authn.Perm{
	api.ActionCreateBucket:    authn.PermCreateBucket,
	api.ActionDestroyBucket:   authn.PermDestroyBucket,
	api.ActionDeleteListRange: authn.PermDelete,
	api.ActionEvictListRange:  authn.PermDelete,
	api.ActionEvictRemote:     authn.PermDestroyBucket, // the bucket leaves the metadata, with its props
	api.ActionPrefetch:        authn.PermGet,
	api.ActionCopyBucket:      authn.PermGet, // and PUT on the destination, checked by the handler
	api.ActionCopyListRange:   authn.PermGet,
	api.ActionIndexShards:     authn.PermPut,
	api.ActionArchive:         authn.PermGet, // and PUT on the shard's bucket, checked by the handler
}

// byAction needs what the body's action needs, on the route's {bucket};
// an empty body is the route's default action. The body is read (bounded)
// and put back for the handler.
func byAction(defaultAction string) access {
	return func(r *http.Request) (authn.Perm, string) {
		action := defaultAction
		if body, err := readBody(r); err == nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			if len(body) > 0 {
				var msg api.ActionMessage
				if json.Unmarshal(body, &msg) == nil {
					action = msg.Action
				} else {
					action = ""
				}
			}
		} else {
			// The handler fails reading it as this did: a body too big or
			// too slow must not read as empty, the default action.
			r.Body = io.NopCloser(failedReader{err})
		}
		if p, ok := actionPerms[action]; ok {
			return p, bucketKey(r)
		}
		return authn.PermAdmin, bucketKey(r)
	}
}

// failedReader fails every read with the error reading the body met.
type failedReader struct{ err error }

func (f failedReader) Read([]byte) (int, error) { return 0, f.err }

// objectAccess needs the permission named by the method.
func objectAccess(r *http.Request) (authn.Perm, string) {
	p := map[string]authn.Perm{http.MethodGet: authn.PermGet, http.MethodHead: authn.PermHead,
		http.MethodPut: authn.PermPut, http.MethodDelete: authn.PermDelete}[r.Method]
	if p == 0 {
		p = authn.PermAdmin
	}
	return p, bucketKey(r)
}

// Redirect grants: a gateway that authorized an object request says so
// in the redirect's query, signed with the cluster secret, so that the
// target need not see the token (HTTP clients drop Authorization on a
// redirect to another host).
const (
	queryGrant = "agrant"
	grantTTL   = 2 * time.Minute
)

// grant returns the grant of a redirected request made with a token:
// "EXPIRY.USER.TOKEN_ID.MAC". The MAC binds the method, the path (as
// given) and the request's bucket with its provider and namespace (which
// are in the query, not the path): a grant for ais://b is no grant for
// s3://b. The token's id lets the target refuse the grant once the token
// is revoked, within its two minutes; it ends when the token does, if
// sooner.
func (n *Node) grant(r *http.Request, path string, who caller) string {
	until := time.Now().Add(grantTTL)
	if !who.expires.IsZero() && who.expires.Before(until) {
		until = who.expires // not past its token
	}
	expires := strconv.FormatInt(until.Unix(), 10)
	user := base64.RawURLEncoding.EncodeToString([]byte(who.user))
	id := who.tokenID
	if who.madeWith != "" {
		// An S3 key's token: the login it was made with too, refused
		// once revoked with its keys. (A target of a build before it
		// reads the pair as an id no revocation names.)
		id += "\x00" + who.madeWith
	}
	token := base64.RawURLEncoding.EncodeToString([]byte(id))
	return expires + "." + user + "." + token + "." + n.grantMAC(r.Method, path, bucketKey(r), expires, user, token)
}

func (n *Node) grantMAC(method, path, bucket, expires, user, token string) string {
	mac := hmac.New(sha256.New, n.config.Secret)
	fmt.Fprintf(mac, "ais-grant\n%s\n%s\n%s\n%s\n%s\n%s", method, path, bucket, expires, user, token)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// checkGrant reports whether the request carries a valid grant for its
// method, path and bucket.
func (n *Node) checkGrant(r *http.Request) bool {
	return n.checkGrantFor(r, r.URL.EscapedPath())
}

// checkGrantFor checks the request's grant as made for path (which may
// bind more than the URL's path: a get-batch grant binds its body too).
func (n *Node) checkGrantFor(r *http.Request, path string) bool {
	g := r.URL.Query().Get(queryGrant)
	if g == "" || len(g) > 1024 {
		return false
	}
	parts := strings.Split(g, ".")
	if len(parts) != 4 {
		return false
	}
	expires, user, token, mac := parts[0], parts[1], parts[2], parts[3]
	t, err := strconv.ParseInt(expires, 10, 64)
	if err != nil || time.Now().Unix() > t {
		return false
	}
	want := n.grantMAC(r.Method, path, bucketKey(r), expires, user, token)
	if !hmac.Equal([]byte(mac), []byte(want)) {
		return false
	}
	id, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return false
	}
	tokenID, madeWith, _ := strings.Cut(string(id), "\x00")
	tokens := n.control.Current().Tokens
	return (tokenID == "" || !tokens.Has(tokenID)) && (madeWith == "" || !tokens.TakesKeys(madeWith))
}

// grantedKey marks a request served on the strength of its grant: a
// target that sends it on keeps that grant rather than minting a new one,
// so a grant lives its two minutes however often it is bounced.
type grantedKey struct{}

func asGranted(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), grantedKey{}, true))
}

// authorize checks a request's token against what it needs: nil, or an
// error the caller answers (401 or 403, naming the permission). It
// returns the token's user, "" when auth is off.
func (n *Node) authorize(r *http.Request, need authn.Perm, bucket string) (string, error) {
	who, err := n.authorizeCaller(r, requestToken(r), need, bucket)
	return who.user, err
}

// authorizeToken is authorize with the token given.
func (n *Node) authorizeToken(r *http.Request, token string, need authn.Perm, bucket string) (string, error) {
	who, err := n.authorizeCaller(r, token, need, bucket)
	return who.user, err
}

// caller is who a request's token is: its user, and the token's id
// (and, of an S3 key's token, the id of the login it was made with).
type caller struct {
	user, tokenID, madeWith string
	// expires is when the token expires (zero: none, a node's request):
	// a grant ends no later.
	expires time.Time
}

// authorizeCaller is authorizeToken, telling the token's id too.
func (n *Node) authorizeCaller(r *http.Request, token string, need authn.Perm, bucket string) (caller, error) {
	if n.verifier == nil || r.Context().Value(nodeKey{}) != nil {
		return caller{}, nil
	}
	c, err := n.verifier.Verify(token)
	if err != nil {
		return caller{}, fmt.Errorf("%w: %s %s: %w", api.ErrUnauthorized, r.Method, r.URL.Path, err)
	}
	if !c.Allows(need, bucket) {
		on := "the cluster"
		switch bucket {
		case "":
		case authn.AnyBucket:
			on = "any bucket"
		default:
			on = bucket
		}
		return caller{user: c.Subject}, fmt.Errorf("%w: %w: user %q may not %s %s: it needs %s on %s", api.ErrForbidden, authn.ErrForbidden, c.Subject, r.Method, r.URL.Path, need, on)
	}
	who := caller{user: c.Subject, tokenID: c.ID, madeWith: c.MadeWith}
	if c.ExpiresAt != nil {
		who.expires = c.ExpiresAt.Time
	}
	return who, nil
}

// isConsole reports a request for the console: its path, not a proxied
// URL's (absolute-form) that looks like it.
func isConsole(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, console.Prefix) && !r.URL.IsAbs()
}

// requestToken is the bearer token, or an S3 client's session token; for
// the console, the token of its cookie (its files) or of its login form.
func requestToken(r *http.Request) string {
	if t := apiToken(r); t != "" {
		return t
	}
	if isConsole(r) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == console.LoginPath:
			r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
			return strings.TrimSpace(r.PostFormValue("token"))
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
			token, _ := consoleCookie(r)
			return token
		}
		return ""
	}
	// A token in the query only for S3's presigned requests (authorizeS3):
	// on the native API it would end up in redirects, logs and history.
	return ""
}

// apiToken is the bearer token, or an S3 client's session token: never
// the console's cookie, which a browser sends with any request to the
// host (on the S3 port, /console/KEY is an object of bucket console).
func apiToken(r *http.Request) string {
	if t := authn.BearerToken(r); t != "" {
		return t
	}
	return r.Header.Get("X-Amz-Security-Token")
}

// wantsHTML reports a browser's navigation, or its post of the login
// form, which gets the console's login page rather than a JSON error.
func wantsHTML(r *http.Request) bool {
	if r.Method == http.MethodPost && r.URL.Path == console.LoginPath {
		return true
	}
	return r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/html")
}

// handleConsoleLogin keeps the token the console's login form posted (the
// route's guard verified it) in the console's cookie.
func (n *Node) handleConsoleLogin(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != console.LoginPath {
		n.writeErrorStatus(w, r, http.StatusNotFound, fmt.Errorf("no such route: %s %s", r.Method, r.URL.Path))
		return
	}
	if n.verifier == nil {
		http.Redirect(w, r, console.Prefix, http.StatusSeeOther)
		return
	}
	// Another site's form must not log the browser in as someone else.
	if n.sentByAnotherSite(r) != nil {
		n.writeError(w, r, fmt.Errorf("%w: a console login from another origin (%s)", api.ErrForbidden, r.Header.Get("Origin")))
		return
	}
	token := requestToken(r)
	c, err := n.verifier.Verify(token)
	if err != nil {
		n.writeError(w, r, fmt.Errorf("%w: %w", api.ErrUnauthorized, err))
		return
	}
	if err := console.CheckTokenSize(token); err != nil {
		console.WriteLogin(w, http.StatusRequestEntityTooLarge, err.Error())
		return
	}
	console.SetToken(w, r, token, c.ExpiresAt.Time)
}

// handleConsoleLogout ends the console's login: its cookie goes. It needs
// no token (an expired one may log out too); another site cannot post it
// (fromAnotherSite).
func (n *Node) handleConsoleLogout(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != console.LogoutPath {
		n.writeErrorStatus(w, r, http.StatusNotFound, fmt.Errorf("no such route: %s %s", r.Method, r.URL.Path))
		return
	}
	console.EndToken(w, r)
}

// handleConsoleGet serves the console's files and its session.
func (n *Node) handleConsoleGet(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == console.SessionPath {
		n.handleConsoleSession(w, r)
		return
	}
	console.Handler(func(w http.ResponseWriter, r *http.Request) {
		n.writeErrorStatus(w, r, http.StatusNotFound, fmt.Errorf("no such console file: %s", r.URL.Path))
	}).ServeHTTP(w, r)
}

// consoleSession tells the console's page whether the cluster checks
// tokens and whose its login is.
type consoleSession struct {
	Auth    bool      `json:"auth"`
	User    string    `json:"user,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
}

func (n *Node) handleConsoleSession(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if n.verifier == nil {
		writeJSON(w, consoleSession{})
		return
	}
	c, err := n.verifier.Verify(requestToken(r)) // the guard verified it
	if err != nil {
		n.writeError(w, r, fmt.Errorf("%w: %w", api.ErrUnauthorized, err))
		return
	}
	writeJSON(w, consoleSession{Auth: true, User: c.Subject, Expires: c.ExpiresAt.Time})
}

// consoleAPIRequest turns the console page's call of
// console.APIPrefix+"v1/..." into the REST API's request of /v1/...,
// with the token of the console's cookie as its bearer. Only the REST API
// and /metrics are reachable this way; a change needs the console's
// header.
// consoleKey marks a request of the console's API.
type consoleKey struct{}

// consoleCookie is the console's token from its cookie. More than one
// is refused: another site of the domain (a sibling name) can set one
// for a longer path, which the browser sends first, and the console
// would act as that site's user while showing this one's.
func consoleCookie(r *http.Request) (string, error) {
	cookies := r.CookiesNamed(console.TokenCookie)
	switch len(cookies) {
	case 0:
		return "", nil
	case 1:
		return cookies[0].Value, nil
	}
	return "", fmt.Errorf("%w: the browser sent %d %s cookies, one set by another site of the domain maybe: clear this site's cookies and log in again", api.ErrUnauthorized, len(cookies), console.TokenCookie)
}

// consoleCookieError is why the cookie of a console file's request was
// not read (nil: it was, or none was looked for).
func consoleCookieError(r *http.Request) error {
	if !isConsole(r) || apiToken(r) != "" || r.Method != http.MethodGet && r.Method != http.MethodHead {
		return nil
	}
	_, err := consoleCookie(r)
	return err
}

func consoleAPIRequest(r *http.Request) (*http.Request, error) {
	escaped := "/" + strings.TrimPrefix(r.URL.EscapedPath(), console.APIPrefix)
	path, err := url.PathUnescape(escaped)
	if err != nil {
		return r, badRequest("the console's call of %s: %w", r.URL.EscapedPath(), err)
	}
	if !strings.HasPrefix(path, "/v1/") && path != "/metrics" {
		return r, &api.Error{Status: http.StatusNotFound, Kind: api.KindNotFound, Message: fmt.Sprintf("the console calls the REST API (%sv1/...) and /metrics, not %s", console.APIPrefix, path)}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Header.Get(console.CallHeader) == "" {
		return r, fmt.Errorf("%w: %s %s through the console's API needs the console's header %s", api.ErrForbidden, r.Method, path, console.CallHeader)
	}
	out := r.Clone(context.WithValue(r.Context(), consoleKey{}, true))
	out.URL.Path, out.URL.RawPath = path, escaped
	if out.Header.Get("Authorization") == "" {
		token, err := consoleCookie(r)
		if err != nil {
			return r, err
		}
		if token != "" {
			out.Header.Set("Authorization", "Bearer "+token)
		}
	}
	// The cookie is the console's: nothing behind this sees it.
	out.Header.Del("Cookie")
	return out, nil
}

// guard wraps a handler with the check of what its route needs.
func (n *Node) guard(need access, h http.HandlerFunc) http.HandlerFunc {
	if n.verifier == nil || need == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if n.servedAsNode(w, r, h) {
			return
		}
		if console.Public(r) {
			h(w, r)
			return
		}
		// The token first: a need that reads the body (a bucket action)
		// must not buffer megabytes for anyone who sends them.
		if _, err := n.verifier.Verify(requestToken(r)); err != nil {
			err = fmt.Errorf("%w: %s %s: %w", api.ErrUnauthorized, r.Method, r.URL.Path, err)
			if cookieErr := consoleCookieError(r); cookieErr != nil {
				// Not "no token": logging in again would not help.
				err = cookieErr
			}
			if isConsole(r) && wantsHTML(r) {
				console.WriteLogin(w, http.StatusUnauthorized, err.Error())
				return
			}
			n.writeError(w, r, err)
			return
		}
		perm, bucket := need(r)
		if user, err := n.authorize(r, perm, bucket); err != nil {
			if isConsole(r) && wantsHTML(r) {
				writeConsoleRefusal(w, err, user, perm)
				return
			}
			n.writeError(w, r, err)
			return
		}
		h(w, r)
	}
}

// writeConsoleRefusal answers a browser whose token the console does not
// take with the login page: 403 naming what the user lacks, so that they
// can log in as another.
func writeConsoleRefusal(w http.ResponseWriter, err error, user string, perm authn.Perm) {
	if errors.Is(err, api.ErrForbidden) {
		console.WriteLogin(w, http.StatusForbidden, fmt.Sprintf("User %q may not use the console: it needs the %s permission on the cluster, which this token does not grant. Log in with a token that does.", user, perm))
		return
	}
	console.WriteLogin(w, http.StatusUnauthorized, err.Error())
}

// guardObject checks an object request: a valid redirect grant (on a
// target) or a token; a gateway that redirects adds its grant.
func (n *Node) guardObject(h http.HandlerFunc) http.HandlerFunc {
	if n.verifier == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		n.guardGranted(w, r, objectAccess, func(r *http.Request) (*http.Request, bool) {
			if !n.checkGrant(r) {
				return r, false
			}
			return asGranted(r), true
		}, h)
	}
}

// guardGranted serves a request a target holds a grant for (as granted
// returns it), or a node signed; any other needs what need says of it.
func (n *Node) guardGranted(w http.ResponseWriter, r *http.Request, need access, granted func(*http.Request) (*http.Request, bool), h http.HandlerFunc) {
	if n.config.Role.IsTarget() {
		if as, ok := granted(r); ok {
			// A node's request the redirect granted (the node signs
			// each hop) is the node's, not a client's, in the metrics.
			// (Verified on the request served: its body is checked
			// against the signature as the handler reads it.)
			if r.Header.Get(peer.HeaderMAC) != "" && n.addressedHere(r) == nil {
				if signed, err := n.fromNode(as); signed && err == nil {
					markInternal(w, as)
					as = asNode(as)
				}
			}
			h(w, as)
			return
		}
	}
	if r.Header.Get(peer.HeaderMAC) != "" {
		if err := n.addressedHere(r); err != nil {
			n.writeError(w, r, err)
			return
		}
	}
	if n.servedAsNode(w, r, h) {
		return
	}
	perm, bucket := need(r)
	who, err := n.authorizeCaller(r, requestToken(r), perm, bucket)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	h(w, withCaller(r, who))
}

// servedAsNode serves a request a node signed (and refuses one that
// claims a signature it does not have); false leaves the request to the
// user checks.
func (n *Node) servedAsNode(w http.ResponseWriter, r *http.Request, h http.HandlerFunc) bool {
	ok, err := n.fromNode(r)
	switch {
	case err != nil:
		n.writeError(w, r, err)
	case ok:
		markInternal(w, r)
		h(w, asNode(r))
	}
	return ok || err != nil
}

// fromNode reports whether a request is signed by a node of the cluster
// (a target copying objects for a job, a gateway proxying): nodes act for
// users the gateway authorized. A request that claims to be signed but is
// not is refused.
func (n *Node) fromNode(r *http.Request) (bool, error) {
	if r.Header.Get(peer.HeaderMAC) == "" {
		return false, nil
	}
	if _, err := n.auth.Verify(r); err != nil {
		return false, fmt.Errorf("%w: %s %s: %w", verifyKind(err), r.Method, r.URL.Path, err)
	}
	return true, nil
}

// addressedHere refuses a node-signed request of a route whose redirect
// grants it (objects, get-batch) that was signed for another address:
// nodes send those to each other's URLs in the map, and one captured on
// its way to a node (each remembers only its own nonces) would get a
// grant good for any body. (Cluster routes take a node's request at an
// alias: a preStop drain and a join's pulls go through a Service.)
func (n *Node) addressedHere(r *http.Request) error {
	if own := n.ownHost(); own == "" || !strings.EqualFold(r.Host, own) {
		return fmt.Errorf("%w: %s %s was signed for %s, not for node %s: a request replayed to another node", api.ErrUnauthorized, r.Method, r.URL.Path, r.Host, n.config.ID)
	}
	return nil
}

// signedByNode reports a request a node of the cluster signed: marked so
// by the guard that verified it, or verified here (a nonce is taken once:
// a request the guard verified is marked).
func (n *Node) signedByNode(r *http.Request) bool {
	if marked, _ := r.Context().Value(nodeKey{}).(bool); marked {
		return true
	}
	ok, err := n.fromNode(r)
	return ok && err == nil
}

// nodeKey marks a request a node of the cluster signed.
type nodeKey struct{}

func asNode(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), nodeKey{}, true))
}

// callerKey carries an authorized caller to the redirect.
type callerKey struct{}

func withCaller(r *http.Request, who caller) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), callerKey{}, who))
}

// callerOf is who a request's token is (withCaller); zero without auth.
func callerOf(r *http.Request) caller {
	who, _ := r.Context().Value(callerKey{}).(caller)
	return who
}

// authorizeBucket checks a permission on one more bucket than the route's
// (the destination of a copy, a dSort job's input and output).
func (n *Node) authorizeBucket(r *http.Request, need authn.Perm, b store.Bucket) error {
	_, err := n.authorize(r, need, b.String())
	return err
}

// handleRevokeToken takes a revoked token (from the AuthN service, with an
// admin's token) into the cluster's revocation list, which the next
// metadata round hands to every node.
func (n *Node) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	if n.verifier == nil {
		n.writeError(w, r, badRequest("authentication is not enabled on this cluster"))
		return
	}
	var msg authn.TokenMsg
	if err := decodeBody(r, &msg); err != nil {
		n.writeError(w, r, err)
		return
	}
	c, err := n.config.Auth.Parse(msg.Token)
	if err != nil {
		n.writeError(w, r, badRequest("token to revoke: %w", err))
		return
	}
	// Revoked here by the cluster's admin, not pushed by the service
	// (which drops the S3 keys of a stolen token itself, and keeps those
	// of a logout): the S3 keys made with it are refused too, those the
	// service, which does not know of this revocation, makes after with
	// it included.
	// They are refused until the last of them expires: a year past the
	// token's own end at most (a key made with it just before).
	now := time.Now().Unix()
	var keysUntil int64
	if who, err := n.verifier.Verify(requestToken(r)); err != nil || who.Subject != authn.ServiceSubject { // verified by the route's guard
		keysUntil = max(c.ExpiresAt.Unix(), now) + int64(authn.S3KeyLife/time.Second)
	}
	// (Not skipped as expired by this node's clock: one fast would not
	// record a token the others still take. The leader's clock drops
	// what has expired.)
	tokens := n.control.Current().Tokens
	if tokens.Has(c.ID) && (keysUntil == 0 || tokens.TakesKeys(c.ID)) {
		return // nothing more to refuse
	}
	change := membership.Change{Kind: membership.RevokeToken, Created: now, Token: membership.RevokedToken{ID: c.ID, Expires: c.ExpiresAt.Unix(), KeysUntil: keysUntil}}
	if keysUntil > 0 {
		change.Level = membership.LevelRevokeKeys
	}
	_, err = n.control.Propose(r.Context(), change)
	if keysUntil > 0 && errors.Is(err, membership.ErrLeaderBehind) {
		// A gateway of an older build leads (an upgrade under way): the
		// token is revoked at least; its keys, once an upgraded one does.
		n.logger.Warn("token revoked without its S3 keys: the leading gateway is of an older build; revoke it again once the upgrade is done", "user", c.Subject, "id", c.ID)
		change.Token.KeysUntil, change.Level = 0, 0
		_, err = n.control.Propose(r.Context(), change)
	}
	if err != nil {
		n.writeError(w, r, membershipError(err))
		return
	}
	n.logger.Info("token revoked", "user", c.Subject, "id", c.ID)
}

// newVerifier checks tokens against the cluster's id and revocations.
func (n *Node) newVerifier() *authn.Verifier {
	return authn.NewVerifier(n.config.Auth, authn.VerifierOptions{
		Cluster: func() string {
			if m := n.currentMap(); m != nil {
				return m.UUID
			}
			return ""
		},
		Revoked:     func(id string) bool { return n.control.Current().Tokens.Has(id) },
		KeysRevoked: func(id string) bool { return n.control.Current().Tokens.TakesKeys(id) },
	})
}

// authorizeS3 checks an S3 request's token (its session token, or a
// bearer token): the permission its method needs on its bucket, and GET
// on the source of a copy. The request goes on with the token in its
// context, for the native API the S3 API calls.
func (n *Node) authorizeS3(r *http.Request, bucket, key, accessKey string) (*http.Request, error) {
	// A request signed with a user's S3 key acts as that user; a session
	// or bearer token says who it is otherwise. A session token in the
	// query (a presigned URL) counts only when its signature was checked
	// (accessKey): without keys, its expiry, method and path are not, and
	// the URL would be the token itself, for any request, until it ends.
	token := apiToken(r)
	if query := r.URL.Query().Get("X-Amz-Security-Token"); token == "" && query != "" {
		if accessKey == "" {
			return r, fmt.Errorf("%w: a session token in the query (a presigned URL) is taken only from a URL signed by an S3 key of the cluster (none is configured): send it as the X-Amz-Security-Token header", api.ErrUnauthorized)
		}
		token = query
	}
	if token == "" && accessKey != "" {
		if c, ok := n.control.Current().S3Keys.Lookup(accessKey); ok {
			token = c.Token
		}
	}
	var need authn.Perm
	q := r.URL.Query()
	switch {
	case bucket == "":
		need = authn.PermList
	case key == "":
		need = map[string]authn.Perm{http.MethodGet: authn.PermList, http.MethodHead: authn.PermHead,
			http.MethodPut: authn.PermCreateBucket, http.MethodDelete: authn.PermDestroyBucket}[r.Method]
		if r.Method == http.MethodPost && q.Has("delete") {
			need = authn.PermDelete
		}
		if r.Method == http.MethodPut && (q.Has("versioning") || q.Has("tagging") || q.Has("policy") || q.Has("acl") || q.Has("cors") || q.Has("lifecycle")) {
			need = authn.PermAdmin
		}
	default:
		need = map[string]authn.Perm{http.MethodGet: authn.PermGet, http.MethodHead: authn.PermHead,
			http.MethodPut: authn.PermPut, http.MethodPost: authn.PermPut, http.MethodDelete: authn.PermDelete}[r.Method]
	}
	if need == 0 {
		need = authn.PermAdmin
	}
	b := store.Bucket{Name: bucket}.String()
	if bucket == "" {
		b = ""
	}
	if _, err := n.authorizeToken(r, token, need, b); err != nil {
		return r, err
	}
	if src := r.Header.Get("X-Amz-Copy-Source"); src != "" && r.Method == http.MethodPut {
		srcBucket, _, err := s3.ParseCopySource(src)
		if err != nil {
			return r, err
		}
		if _, err := n.authorizeToken(r, token, authn.PermGet, store.Bucket{Name: srcBucket}.String()); err != nil {
			return r, err
		}
	}
	return r.WithContext(api.WithToken(r.Context(), token)), nil
}

// s3Keyring answers the S3 API's signature checks: the node's configured
// keys, then those of the AuthN service's users while user
// authentication is on (off, nothing would check what those users may
// do, and the saved set could not be changed).
type s3Keyring struct {
	static sigv4.StaticKeys
	n      *Node
}

// Secret implements sigv4.Keys.
func (k s3Keyring) Secret(access string) (string, bool) {
	if secret, ok := k.static[access]; ok {
		return secret, true
	}
	if k.n.verifier == nil {
		return "", false
	}
	c, ok := k.n.control.Current().S3Keys.Lookup(access)
	return c.Secret, ok
}

// Empty reports no key at all: requests are then not signature-checked.
func (k s3Keyring) Empty() bool {
	if len(k.static) > 0 {
		return false
	}
	keys := k.n.control.Current().S3Keys
	return k.n.verifier == nil || keys == nil || len(keys.Keys) == 0
}

// validAccessKey: letters and digits, as AWS's.
var validAccessKey = regexp.MustCompile(`^[A-Za-z0-9]{16,128}$`)

// handleSetS3Keys takes the AuthN service's S3 keys (replacing the set):
// each key's token must be one this cluster verifies.
func (n *Node) handleSetS3Keys(w http.ResponseWriter, r *http.Request) {
	if n.verifier == nil {
		n.writeError(w, r, badRequest("authentication is not enabled on this cluster"))
		return
	}
	var msg authn.S3KeysMsg
	if err := decodeBody(r, &msg); err != nil {
		n.writeError(w, r, err)
		return
	}
	if len(msg.Keys) > membership.MaxS3Keys {
		n.writeError(w, r, badRequest("%d S3 keys: at most %d", len(msg.Keys), membership.MaxS3Keys))
		return
	}
	keys := make(map[string]membership.S3Credential, len(msg.Keys))
	for _, k := range msg.Keys {
		if !validAccessKey.MatchString(k.AccessKey) || len(k.Secret) < 16 || len(k.Secret) > 256 {
			n.writeError(w, r, badRequest("S3 key %.40q: an access key is 16 to 128 letters and digits, a secret 16 to 256 bytes", k.AccessKey))
			return
		}
		if _, err := n.config.Auth.Parse(k.Token); err != nil {
			n.writeError(w, r, badRequest("S3 key %s: its token: %w", k.AccessKey, err))
			return
		}
		keys[k.AccessKey] = membership.S3Credential{Secret: k.Secret, Token: k.Token}
	}
	// No change only by the leader's set, on the leader in office: a
	// gateway behind it (an earlier push forwarded from here, not
	// applied here yet; no leader to ask in an election) would take a
	// push that undoes that one for none. A follower forwards it.
	if n.control.IsPrimary() && n.control.Refresh(r.Context()) == nil {
		if cur := n.control.Current().S3Keys; cur != nil && maps.Equal(cur.Keys, keys) {
			return // no change
		}
	}
	if _, err := n.control.Propose(r.Context(), membership.Change{Kind: membership.SetS3Keys, S3Keys: keys}); err != nil {
		n.writeError(w, r, membershipError(err))
		return
	}
	n.logger.Info("S3 keys of the AuthN service's users", "keys", len(keys))
}
