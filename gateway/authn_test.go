package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/authn"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/console"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/internal/egress"
	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/remote"
	"github.com/aisgo/aisgo/store/remote/ht"
)

// authCluster is a test cluster with user authentication on.
type authCluster struct {
	*gatewaytest.Cluster
	keys *authn.Keys
}

func newAuthCluster(t *testing.T) *authCluster {
	keys, err := authn.NewSecretKeys([]byte(authn.NewSecret()))
	if err != nil {
		t.Fatal(err)
	}
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true,
		Configure: func(cfg *gateway.Config) { cfg.Auth = keys }})
	return &authCluster{Cluster: c, keys: keys}
}

// token signs a token of grants, expiring after ttl (negative: expired).
func signToken(t *testing.T, keys *authn.Keys, grants authn.Grants, ttl time.Duration, audience ...string) string {
	t.Helper()
	now := time.Now()
	c := &authn.Claims{Grants: grants, RegisteredClaims: jwt.RegisteredClaims{Subject: "u", ID: authn.NewTokenID(),
		Audience: audience, IssuedAt: jwt.NewNumericDate(now.Add(-time.Hour)), ExpiresAt: jwt.NewNumericDate(now.Add(ttl))}}
	s, err := keys.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func callAs(t *testing.T, method, url, bearer string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(msg)
}

// withObject makes bucket b holding o ("data"), as an admin whose token
// it returns.
func (c *authCluster) withObject(t *testing.T) string {
	t.Helper()
	admin := signToken(t, c.keys, authn.Grants{Perm: authn.Admin}, time.Hour)
	client := c.Client().SetToken(admin)
	if err := client.CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(t.Context(), "b", "o", strings.NewReader("data"), api.PutOptions{Size: 4}); err != nil {
		t.Fatal(err)
	}
	return admin
}

// redirectOf asks the gateway for ais://b/o with a token and returns its
// redirect, unfollowed: the status, Location and Cache-Control.
func (c *authCluster) redirectOf(t *testing.T, token string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.Primary().URL()+"/v1/objects/b/o", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Cache-Control")
}

// revoke revokes a token through the gateway and waits until the target
// refuses it too.
func (c *authCluster) revoke(t *testing.T, admin, victim string) {
	t.Helper()
	body, _ := json.Marshal(authn.TokenMsg{Token: victim})
	if status, msg := callAs(t, http.MethodDelete, c.Primary().URL()+authn.ClusterTokensPath, admin, body); status != http.StatusOK {
		t.Fatalf("revoke: %d %s", status, msg)
	}
	target := c.Targets()[0].URL() + "/v1/daemon?what=snode"
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, _ := callAs(t, http.MethodGet, target, victim, nil)
		if status == http.StatusUnauthorized {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the target still takes a revoked token after 10s (%d)", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEveryRouteChecksTokens walks the route table of a gateway and a
// target (and the object methods): each public route answers 401 with no
// token, an expired one, a wrong signature and a revoked one, 403 for a
// token with every permission but the one it needs, and is let through
// with exactly that permission. /v1/health needs none; intra routes take no token at all, an admin's included.
func TestEveryRouteChecksTokens(t *testing.T) {
	c := newAuthCluster(t)
	wrongKeys, _ := authn.NewSecretKeys([]byte(authn.NewSecret()))
	admin := c.withObject(t)
	revoked := signToken(t, c.keys, authn.Grants{Perm: authn.Admin}, time.Hour)
	c.revoke(t, admin, revoked)

	type entry struct {
		node, method, pattern string
		intra                 bool
		need                  func(*http.Request) (authn.Perm, string)
	}
	var routes []entry
	for _, m := range []*gatewaytest.Member{c.Primary(), c.Targets()[0]} {
		for _, rt := range gateway.Routes(m.Node) {
			if rt.Served {
				routes = append(routes, entry{m.URL(), rt.Method, rt.Pattern, rt.Intra, rt.Need})
			}
		}
		for _, method := range gateway.ObjectMethods() {
			routes = append(routes, entry{m.URL(), method, "/v1/objects/{bucket}/{object...}", false, gateway.ObjectNeed})
		}
	}
	checked, public := 0, 0
	for _, rt := range routes {
		url := rt.node + concrete(rt.pattern)
		body := []byte("{}")
		if rt.intra {
			if status, _ := callAs(t, rt.method, url, admin, body); status != http.StatusUnauthorized {
				t.Errorf("intra %s %s with an admin token: %d, want 401", rt.method, rt.pattern, status)
			}
			continue
		}
		if rt.need == nil {
			public++
			if status, msg := callAs(t, rt.method, url, "", body); status == http.StatusUnauthorized || status == http.StatusForbidden {
				t.Errorf("public %s %s: %d %s", rt.method, rt.pattern, status, msg)
			}
			continue
		}
		probe, _ := http.NewRequest(rt.method, url, bytes.NewReader(body))
		if strings.Contains(rt.pattern, "{bucket}") {
			probe.SetPathValue("bucket", "b")
		}
		need, bucket := rt.need(probe)
		var lacking authn.Grants
		lacking.Perm = authn.PermAll &^ need &^ authn.PermAdmin
		right := authn.Grants{Perm: need}
		if bucket != "" {
			right = authn.Grants{Buckets: map[string]authn.Perm{bucket: need}}
		}
		for _, tc := range []struct {
			name   string
			token  string
			status int
		}{
			{"no token", "", http.StatusUnauthorized},
			{"expired", signToken(t, c.keys, right, -time.Minute), http.StatusUnauthorized},
			{"wrong signature", signToken(t, wrongKeys, right, time.Hour), http.StatusUnauthorized},
			{"revoked", revoked, http.StatusUnauthorized},
			{"without " + need.String(), signToken(t, c.keys, lacking, time.Hour), http.StatusForbidden},
		} {
			status, msg := callAs(t, rt.method, url, tc.token, body)
			if status != tc.status {
				t.Errorf("%s %s %s: %d %s, want %d", tc.name, rt.method, rt.pattern, status, msg, tc.status)
			}
			if tc.status == http.StatusForbidden && rt.method != http.MethodHead && !strings.Contains(msg, need.String()) {
				t.Errorf("%s %s: the 403 does not name %s: %s", rt.method, rt.pattern, need, msg)
			}
		}
		if status, msg := callAs(t, rt.method, url, signToken(t, c.keys, right, time.Hour), body); status == http.StatusUnauthorized || status == http.StatusForbidden {
			t.Errorf("with %s on %q: %s %s: %d %s", need, bucket, rt.method, rt.pattern, status, msg)
		}
		checked++
	}
	if checked < 30 || public != 3 {
		t.Fatalf("checked %d routes and %d public ones (health on both nodes, the console's log out)", checked, public)
	}
}

// TestReadOnlyAndRedirects: a read-only user reads through the gateway's
// redirect even when its client drops the token on the way (the gateway's
// signed grant), cannot write, and a tampered grant is refused.
func TestReadOnlyAndRedirects(t *testing.T) {
	c := newAuthCluster(t)
	c.withObject(t)
	reader := signToken(t, c.keys, authn.Grants{Buckets: map[string]authn.Perm{"ais://b": authn.ReadOnly}}, time.Hour)
	dropping := &http.Client{CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		req.Header.Del("Authorization")
		return nil
	}}
	req, _ := http.NewRequest(http.MethodGet, c.Primary().URL()+"/v1/objects/b/o", nil)
	req.Header.Set("Authorization", "Bearer "+reader)
	resp, err := dropping.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(data) != "data" {
		t.Fatalf("GET through the redirect: %d %q", resp.StatusCode, data)
	}
	status, location, caching := c.redirectOf(t, reader)
	if status != http.StatusMovedPermanently || !strings.Contains(location, "agrant=") {
		t.Fatalf("redirect: %d %s", status, location)
	}
	// Its grant lives 2 minutes: a browser must not keep the 301.
	if caching != "no-store" {
		t.Fatalf("a redirect with a grant: Cache-Control %q, want no-store", caching)
	}
	for name, url := range map[string]string{
		"a tampered grant":            strings.Replace(location, "agrant=", "agrant=1", 1),
		"the grant on another object": strings.Replace(location, "/b/o?", "/b/other?", 1),
		// The provider is in the query: ais://b's grant must not read s3://b.
		"the grant on another provider": location + "&" + api.QueryProvider + "=aws",
	} {
		if status, msg := callAs(t, http.MethodGet, url, "", nil); status != http.StatusUnauthorized {
			t.Errorf("%s: %d %s, want 401", name, status, msg)
		}
	}
	if status, msg := callAs(t, http.MethodPut, strings.Replace(location, "agrant=", "x=", 1), "", []byte("x")); status != http.StatusUnauthorized {
		t.Errorf("PUT with no token at the target: %d %s", status, msg)
	}
	_, err = c.Client().SetToken(reader).Put(t.Context(), "b", "new", strings.NewReader("x"), api.PutOptions{Size: 1})
	if err == nil || !strings.Contains(err.Error(), "PUT") {
		t.Fatalf("a read-only PUT: %v", err)
	}
	var e *api.Error
	if !errors.As(err, &e) || e.Status != http.StatusForbidden {
		t.Fatalf("a read-only PUT: %v, want 403", err)
	}
	for name, tok := range map[string]string{
		"alg none":        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1IiwianRpIjoiMSIsImV4cCI6OTk5OTk5OTk5OX0.",
		"malformed":       "not.a.token",
		"another cluster": signToken(t, c.keys, authn.Grants{Perm: authn.Admin}, time.Hour, "other-cluster"),
		"garbage":         strings.Repeat("A", 20000),
	} {
		status, msg := callAs(t, http.MethodGet, c.Primary().URL()+"/v1/buckets", tok, nil)
		if status != http.StatusUnauthorized {
			t.Errorf("%s: %d %s, want 401", name, status, msg)
		}
	}
	// A token for this very cluster works.
	uuid := c.Primary().Node.Map().UUID
	if status, msg := callAs(t, http.MethodGet, c.Primary().URL()+"/v1/buckets", signToken(t, c.keys, authn.Grants{Perm: authn.ReadOnly}, time.Hour, uuid), nil); status != http.StatusOK {
		t.Errorf("a token for this cluster: %d %s", status, msg)
	}
}

// Get-batch reads each entry with the caller's token: a user who may read
// one bucket gets its objects and is refused another bucket's, even with
// coer, which forgives only what is missing.
func TestGetBatchChecksEachBucket(t *testing.T) {
	c := newAuthCluster(t)
	ctx := t.Context()
	admin := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Perm: authn.Admin}, time.Hour))
	for _, b := range []string{"open", "closed"} {
		if err := admin.CreateBucket(ctx, b, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Put(ctx, b, "o", strings.NewReader(b), api.PutOptions{Size: int64(len(b))}); err != nil {
			t.Fatal(err)
		}
	}
	reader := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Buckets: map[string]authn.Perm{"ais://open": authn.ReadOnly}}, time.Hour))
	var out bytes.Buffer
	if _, err := reader.GetBatch(ctx, "open", api.BatchRequest{In: []api.BatchEntry{{ObjName: "o"}}}, &out); err != nil || !strings.Contains(out.String(), "open/o") {
		t.Fatalf("a batch of the bucket the user may read: %v", err)
	}
	req := api.BatchRequest{ContinueOnErr: true, In: []api.BatchEntry{{ObjName: "o"}, {ObjName: "o", Bucket: "closed"}}}
	_, err := reader.GetBatch(ctx, "open", req, io.Discard)
	var e *api.Error
	if !errors.As(err, &e) || e.Status != http.StatusForbidden {
		t.Fatalf("a batch with an entry of a bucket the user may not read: %v, want 403", err)
	}
	if _, err := c.Client().GetBatch(ctx, "open", api.BatchRequest{In: []api.BatchEntry{{ObjName: "o"}}}, io.Discard); !errors.Is(err, api.ErrUnauthorized) {
		t.Fatalf("a batch without a token: %v, want ErrUnauthorized", err)
	}
	// The gateway redirects to a target with a grant for the body: a
	// client that drops its token on the way is served that body, and
	// no other.
	body := `{"in":[{"objname":"o"}],"strm":true}`
	hreq, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.Primary().URL()+"/v1/ml/moss/open", strings.NewReader(body))
	hreq.Header.Set("Authorization", "Bearer "+signToken(t, c.keys, authn.Grants{Buckets: map[string]authn.Perm{"ais://open": authn.ReadOnly}}, time.Hour))
	resp, err := noRedirect.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	location := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusTemporaryRedirect || !strings.Contains(location, "agrant=") {
		t.Fatalf("get-batch at the gateway: %d %s, want a 307 with a grant", resp.StatusCode, location)
	}
	if status, msg := callAs(t, http.MethodGet, location, "", []byte(body)); status != http.StatusOK {
		t.Fatalf("the granted body without a token: %d %s", status, msg)
	}
	other := `{"in":[{"objname":"o","bucket":"closed"}],"strm":true}`
	if status, msg := callAs(t, http.MethodGet, location, "", []byte(other)); status != http.StatusUnauthorized {
		t.Fatalf("another body with the grant: %d %s, want 401", status, msg)
	}
}

// A redirect's grant ends when its token does, if sooner than its two
// minutes: a client keeping the Location could use it past the token.
func TestGrantEndsWithItsToken(t *testing.T) {
	keys, err := authn.NewSecretKeys([]byte(authn.NewSecret()))
	if err != nil {
		t.Fatal(err)
	}
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true,
		Configure: func(cfg *gateway.Config) { cfg.Auth = keys }})
	admin := c.Client().SetToken(signToken(t, keys, authn.Grants{Perm: authn.Admin}, time.Hour))
	admin.CreateBucket(t.Context(), "b", nil)
	for _, ttl := range []time.Duration{30 * time.Second, time.Hour} {
		location := grantedRedirect(t, c, signToken(t, keys, authn.Grants{Perm: authn.ReadOnly}, ttl))
		expiry, _, _ := strings.Cut(location.Query().Get("agrant"), ".")
		at, err := strconv.ParseInt(expiry, 10, 64)
		if err != nil {
			t.Fatalf("grant %q", location.Query().Get("agrant"))
		}
		if left := time.Until(time.Unix(at, 0)); left > min(ttl, 2*time.Minute)+time.Second {
			t.Errorf("a token of %s: its grant ends in %s", ttl, left.Round(time.Second))
		}
	}
}

// grantedRedirect is where the gateway redirects a GET of b/o made with
// token (not followed): a target's URL with its grant.
func grantedRedirect(t *testing.T, c *gatewaytest.Cluster, token string) *url.URL {
	t.Helper()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, c.Primary().URL()+"/v1/objects/b/o", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	location, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusMovedPermanently {
		t.Fatalf("gateway: %d %s %v", resp.StatusCode, resp.Header.Get("Location"), err)
	}
	return location
}

// TestGrantNotRenewed: a target that sends a granted request on to
// another keeps the grant it came with; minting a new one would let a
// client bounce a grant between targets for ever, past its token.
func TestGrantNotRenewed(t *testing.T) {
	keys, err := authn.NewSecretKeys([]byte(authn.NewSecret()))
	if err != nil {
		t.Fatal(err)
	}
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true,
		Configure: func(cfg *gateway.Config) { cfg.Auth = keys }})
	admin := c.Client().SetToken(signToken(t, keys, authn.Grants{Perm: authn.Admin}, time.Hour))
	if err := admin.CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatal(err)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	location := grantedRedirect(t, c, signToken(t, keys, authn.Grants{Perm: authn.ReadOnly}, time.Hour))
	grant := location.Query().Get("agrant")
	bounced := 0
	for _, target := range c.Targets() {
		if strings.HasPrefix(location.String(), target.URL()) {
			continue
		}
		resp, err := noFollow.Get(target.URL() + location.RequestURI())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		next, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || resp.StatusCode != http.StatusMovedPermanently {
			t.Fatalf("the other target: %d %s %v", resp.StatusCode, resp.Header.Get("Location"), err)
		}
		if got := next.Query().Get("agrant"); got != grant {
			t.Errorf("the other target sent the request on with grant %q, want the one it came with %q", got, grant)
		}
		bounced++
	}
	if bounced != 1 {
		t.Fatalf("bounced off %d targets, want 1", bounced)
	}
}

// TestRevokedTokensGrantIsRefused: a redirect's grant is of the token it
// was made with; revoked, the target refuses the grant within its two
// minutes, as it refuses the token.
func TestRevokedTokensGrantIsRefused(t *testing.T) {
	c := newAuthCluster(t)
	adminToken := c.withObject(t)
	reader := signToken(t, c.keys, authn.Grants{Buckets: map[string]authn.Perm{"ais://b": authn.ReadOnly}}, time.Hour)
	status, location, _ := c.redirectOf(t, reader)
	if !strings.Contains(location, "agrant=") {
		t.Fatalf("redirect: %d %s", status, location)
	}
	if status, msg := callAs(t, http.MethodGet, location, "", nil); status != http.StatusOK || msg != "data" {
		t.Fatalf("the grant before the revocation: %d %s", status, msg)
	}
	c.revoke(t, adminToken, reader)
	if status, msg := callAs(t, http.MethodGet, location, "", nil); status != http.StatusUnauthorized {
		t.Fatalf("the grant of a revoked token: %d %s, want 401", status, msg)
	}
}

// The grant of an S3 key's request ends when the cluster's admin revokes
// the login the key was made with, with its keys: within its two
// minutes, it took the object all the same.
func TestGrantOfAKeyRevokedWithItsLoginIsRefused(t *testing.T) {
	c := newAuthCluster(t)
	c.withObject(t)
	reader := authn.Grants{Buckets: map[string]authn.Perm{"ais://b": authn.ReadOnly}}
	stolen := signAs(t, c.keys, "bob", "", reader)
	claims, err := c.keys.Parse(stolen)
	if err != nil {
		t.Fatal(err)
	}
	key := signAs(t, c.keys, "bob", claims.ID, reader)
	status, location, _ := c.redirectOf(t, key)
	if !strings.Contains(location, "agrant=") {
		t.Fatalf("redirect: %d %s", status, location)
	}
	if status, msg := callAs(t, http.MethodGet, location, "", nil); status != http.StatusOK || msg != "data" {
		t.Fatalf("the key's grant before the revocation: %d %s", status, msg)
	}
	c.revoke(t, signAs(t, c.keys, "admin", "", authn.Grants{Perm: authn.Admin}), stolen)
	if status, msg := callAs(t, http.MethodGet, location, "", nil); status != http.StatusUnauthorized {
		t.Fatalf("the grant of a key whose login was revoked with its keys: %d %s, want 401", status, msg)
	}
}

// signAs signs a token of subject with grants, made with login madeWith
// (an S3 key's token) when given.
func signAs(t *testing.T, keys *authn.Keys, subject, madeWith string, grants authn.Grants) string {
	t.Helper()
	now := time.Now()
	c := &authn.Claims{Grants: grants, MadeWith: madeWith, RegisteredClaims: jwt.RegisteredClaims{Subject: subject, ID: authn.NewTokenID(),
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}}
	token, err := keys.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// A login revoked at the cluster by its admin takes the S3 keys made
// with it, those the AuthN service (which does not know of it) makes
// after included; one the service pushes (a logout) keeps them.
func TestClusterRevocationTakesTheKeysMadeWithIt(t *testing.T) {
	c := newAuthCluster(t)
	c.withObject(t)
	reader := authn.Grants{Perm: authn.ReadOnly}
	loggedOut := signAs(t, c.keys, "alice", "", reader)
	stolen := signAs(t, c.keys, "bob", "", reader)
	idOf := func(token string) string {
		claims, err := c.keys.Parse(token)
		if err != nil {
			t.Fatal(err)
		}
		return claims.ID
	}
	keyOfLoggedOut := signAs(t, c.keys, "alice", idOf(loggedOut), reader)
	keyOfStolen := signAs(t, c.keys, "bob", idOf(stolen), reader)
	get := func(token string) int {
		t.Helper()
		status, _ := callAs(t, http.MethodGet, c.Primary().URL()+"/v1/buckets/b", token, nil)
		return status
	}
	// A logout, pushed by the service: the login goes, its keys stay.
	service := signAs(t, c.keys, authn.ServiceSubject, "", authn.Grants{Perm: authn.Admin})
	c.revoke(t, service, loggedOut)
	if status := get(keyOfLoggedOut); status != http.StatusOK {
		t.Fatalf("a key made with a login logged out: %d, want 200", status)
	}
	// A stolen login revoked by the cluster's admin: its keys go, and
	// one the thief makes after at the service too.
	admin := signAs(t, c.keys, "admin", "", authn.Grants{Perm: authn.Admin})
	c.revoke(t, admin, stolen)
	keyMadeAfter := signAs(t, c.keys, "bob", idOf(stolen), reader)
	for _, key := range []string{keyOfStolen, keyMadeAfter} {
		if status := get(key); status != http.StatusUnauthorized {
			t.Fatalf("a key made with a login the cluster's admin revoked: %d, want 401", status)
		}
	}
	// The logged-out login revoked by the admin after: its keys go too.
	c.revoke(t, admin, loggedOut)
	if status := get(keyOfLoggedOut); status != http.StatusUnauthorized {
		t.Fatalf("a key made with a login the admin revoked after its logout: %d, want 401", status)
	}
	// A login found stolen once it expired: its keys, which outlive it,
	// go all the same.
	now := time.Now()
	expired, err := c.keys.Sign(&authn.Claims{Grants: reader, RegisteredClaims: jwt.RegisteredClaims{Subject: "carol", ID: authn.NewTokenID(),
		IssuedAt: jwt.NewNumericDate(now.Add(-48 * time.Hour)), ExpiresAt: jwt.NewNumericDate(now.Add(-24 * time.Hour))}})
	if err != nil {
		t.Fatal(err)
	}
	keyOfExpired := signAs(t, c.keys, "carol", idOf(expired), reader)
	body, _ := json.Marshal(authn.TokenMsg{Token: expired})
	if status, msg := callAs(t, http.MethodDelete, c.Primary().URL()+authn.ClusterTokensPath, admin, body); status != http.StatusOK {
		t.Fatalf("revoke an expired login: %d %s", status, msg)
	}
	if status := get(keyOfExpired); status != http.StatusUnauthorized {
		t.Fatalf("a key made with an expired login the admin revoked: %d, want 401", status)
	}
}

// Under a leader of an older build (an upgrade under way), a token the
// cluster's admin revokes through another gateway is revoked all the same,
// without its keys: not refused as if there were no quorum.
func TestRevocationUnderAnOlderLeader(t *testing.T) {
	keys, err := authn.NewSecretKeys([]byte(authn.NewSecret()))
	if err != nil {
		t.Fatal(err)
	}
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 2, Targets: 1, NoSync: true,
		Configure: func(cfg *gateway.Config) { cfg.Auth, cfg.RaftAdmitLevel = keys, membership.LevelRevokeKeys-1 }})
	var follower *gatewaytest.Member
	for _, m := range c.Members() {
		if m.Store == nil && m != c.Primary() {
			follower = m
		}
	}
	admin := signAs(t, keys, "admin", "", authn.Grants{Perm: authn.Admin})
	stolen := signAs(t, keys, "bob", "", authn.Grants{Perm: authn.ReadOnly})
	body, _ := json.Marshal(authn.TokenMsg{Token: stolen})
	if status, msg := callAs(t, http.MethodDelete, follower.URL()+authn.ClusterTokensPath, admin, body); status != http.StatusOK {
		t.Fatalf("revoke through a follower under an older leader: %d %s", status, msg)
	}
	if status, _ := callAs(t, http.MethodGet, c.Primary().URL()+"/v1/buckets", stolen, nil); status != http.StatusUnauthorized {
		t.Fatalf("the revoked token: %d, want 401", status)
	}
}

// Under a leader of an older build, a props change is made as before
// (without the check that it applies to the props it was asked against),
// not refused.
func TestPropsChangeUnderAnOlderLeader(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 2, Targets: 1, Mountpaths: 2, NoSync: true,
		Configure: func(cfg *gateway.Config) { cfg.RaftAdmitLevel = membership.LevelPropsIf - 1 }})
	client := c.Client()
	if err := client.CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatal(err)
	}
	if err := client.SetBucketProps(t.Context(), "b", map[string]any{"mirror": map[string]any{"enabled": true, "copies": 2}}); err != nil {
		t.Fatalf("a props change under an older leader: %v", err)
	}
	if props, err := client.BucketProps(t.Context(), "b"); err != nil || !props.Mirror.Enabled || props.Mirror.Copies != 2 {
		t.Fatalf("props after the change: %+v %v", props.Mirror, err)
	}
}

// The console keeps a login in a cookie of its own path, which the API
// does not take: only the console's pages see it or send it.
func TestConsoleLoginCookie(t *testing.T) {
	c := newAuthCluster(t)
	token := signToken(t, c.keys, authn.Grants{Perm: authn.ReadOnly}, time.Hour)
	form := url.Values{"token": {token}}
	req, _ := http.NewRequest(http.MethodPost, c.Primary().URL()+"/console/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == "ais_token" {
			cookie = k
		}
	}
	if resp.StatusCode != http.StatusSeeOther || cookie == nil || cookie.Value != token {
		t.Fatalf("login: %s, cookie %+v", resp.Status, cookie)
	}
	if cookie.Path != "/console/" || cookie.SameSite != http.SameSiteStrictMode || cookie.Secure || !cookie.HttpOnly {
		t.Fatalf("the login cookie has path %q, SameSite %v, Secure %v, HttpOnly %v: want the console's path, strict, not secure over http, out of scripts' reach", cookie.Path, cookie.SameSite, cookie.Secure, cookie.HttpOnly)
	}
	// Behind a proxy that ends TLS, the cookie is sent back over https
	// only; behind a chain of them, the first hop's says.
	for _, header := range []string{"X-Forwarded-Proto: https", `Forwarded: for=192.0.2.1;proto=https`, "X-Forwarded-Proto: https, http", `Forwarded: for=192.0.2.1;proto=https, for=10.0.0.1;proto=http`} {
		req, _ := http.NewRequest(http.MethodPost, c.Primary().URL()+"/console/", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		k, v, _ := strings.Cut(header, ": ")
		req.Header.Set(k, v)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if cookies := resp.Cookies(); len(cookies) != 1 || !cookies[0].Secure {
			t.Fatalf("login with %q: cookies %+v, want one Secure", header, cookies)
		}
	}
	// A token too large for a browser's cookie (many buckets' grants) is
	// refused, saying why, not set for the browser to drop.
	buckets := map[string]authn.Perm{}
	for i := range 200 {
		buckets[fmt.Sprintf("ais/bucket-%03d", i)] = authn.ReadOnly
	}
	big := signToken(t, c.keys, authn.Grants{Perm: authn.ReadOnly, Buckets: buckets}, time.Hour)
	req, _ = http.NewRequest(http.MethodPost, c.Primary().URL()+"/console/", strings.NewReader(url.Values{"token": {big}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(big) <= 4000 || resp.StatusCode != http.StatusRequestEntityTooLarge || len(resp.Cookies()) != 0 || !strings.Contains(string(page), "a browser keeps a cookie") {
		t.Fatalf("login with a %d-byte token: %s, cookies %v\n%s", len(big), resp.Status, resp.Cookies(), page)
	}
	for _, tc := range []struct {
		path string
		want int
	}{{"/console/", http.StatusOK}, {"/v1/buckets", http.StatusUnauthorized}} {
		req, _ := http.NewRequest(http.MethodGet, c.Primary().URL()+tc.path, nil)
		req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s with the cookie: %s, want %d", tc.path, resp.Status, tc.want)
		}
	}
	// HEAD of a console file takes the cookie as GET does.
	req, _ = http.NewRequest(http.MethodHead, c.Primary().URL()+"/console/app.js", nil)
	req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD /console/app.js with the cookie: %v %v, want 200", resp, err)
	}
	// Two cookies (another site of the domain set one): the login page
	// says so, not "no token", which logging in again would not cure.
	req, _ = http.NewRequest(http.MethodGet, c.Primary().URL()+"/console/", nil)
	req.Header.Set("Accept", "text/html")
	req.AddCookie(&http.Cookie{Name: cookie.Name, Value: "planted"})
	req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(page), "2 ais_token cookies") {
		t.Fatalf("the console with two token cookies: %s\n%.2000s", resp.Status, page)
	}
}

// The S3 port serves buckets at its root, so /console/KEY there is an
// object of bucket console: a browser's console cookie (sent to any port
// of the host) does not authorize it.
func TestS3PortTakesNoConsoleCookie(t *testing.T) {
	c := newAuthCluster(t)
	ctx := t.Context()
	token := signToken(t, c.keys, authn.Grants{Perm: authn.Admin}, time.Hour)
	admin := c.Client().SetToken(token)
	if err := admin.CreateBucket(ctx, "console", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Put(ctx, "console", "x", strings.NewReader("secret"), api.PutOptions{Size: 6}); err != nil {
		t.Fatal(err)
	}
	s3 := httptest.NewServer(c.Primary().Node.S3Handler())
	defer s3.Close()
	req, _ := http.NewRequest(http.MethodGet, s3.URL+"/console/x", nil)
	req.AddCookie(&http.Cookie{Name: "ais_token", Value: token})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK || strings.Contains(string(body), "secret") {
		t.Fatalf("an S3 GET with only the console's cookie: %s %q", resp.Status, body)
	}
}

// The console's page calls the API under /console/api/ with its cookie
// (which no script reads): reads go through, changes need the console's
// header and the page's origin, and only the REST API is reachable.
func TestConsoleCallsTheAPIWithItsCookie(t *testing.T) {
	c := newAuthCluster(t)
	ctx := t.Context()
	token := signToken(t, c.keys, authn.Grants{Perm: authn.Admin}, time.Hour)
	admin := c.Client().SetToken(token)
	if err := admin.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	if err := admin.CreateBucket(ctx, "gone", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Put(ctx, "b", "dir/o", strings.NewReader("console bytes"), api.PutOptions{Size: int64(len("console bytes"))}); err != nil {
		t.Fatal(err)
	}
	base := c.Primary().URL()
	call := func(method, path, cookie string, header ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "ais_token", Value: cookie})
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	if resp, body := call(http.MethodGet, "/console/api/v1/buckets", token); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"b"`) {
		t.Fatalf("the buckets through the console's API: %s %.200s", resp.Status, body)
	}
	if resp, _ := call(http.MethodGet, "/console/api/v1/buckets", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the console's API without the cookie: %s", resp.Status)
	}
	// Two token cookies (one planted by another site of the domain, for
	// a longer path, comes first): refused, not the first one's user.
	planted := signToken(t, c.keys, authn.Grants{Perm: authn.Admin}, time.Hour)
	req, _ := http.NewRequest(http.MethodGet, base+"/console/api/v1/buckets", nil)
	req.AddCookie(&http.Cookie{Name: "ais_token", Value: planted})
	req.AddCookie(&http.Cookie{Name: "ais_token", Value: token})
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the console's API with two token cookies: %v %v, want 401", resp, err)
	} else {
		resp.Body.Close()
	}
	// A read from a page of another origin of the same site (another
	// port of the host: the cookie goes along) is refused; from the
	// console's page, or a URL typed, it is not.
	for site, want := range map[string]int{"same-site": http.StatusForbidden, "cross-site": http.StatusForbidden, "same-origin": http.StatusOK, "none": http.StatusOK} {
		if resp, body := call(http.MethodGet, "/console/api/v1/buckets", token, "Sec-Fetch-Site", site); resp.StatusCode != want {
			t.Errorf("a read through the console's API with Sec-Fetch-Site %s: %s %.200s, want %d", site, resp.Status, body, want)
		}
	}
	// A download link: the gateway serves the object itself (the browser
	// may reach no target: a port forward, a load balancer).
	resp, body := call(http.MethodGet, "/console/api/v1/objects/b/dir%2Fo", token)
	if resp.StatusCode != http.StatusOK || body != "console bytes" || resp.Request.URL.Host != strings.TrimPrefix(base, "http://") {
		t.Fatalf("an object through the console's API: %s %q (from %s)", resp.Status, body, resp.Request.URL)
	}
	if resp.Header.Get("Content-Security-Policy") != "sandbox" {
		t.Errorf("an object through the console's API runs in the console's origin: CSP %q", resp.Header.Get("Content-Security-Policy"))
	}
	// Authorized by the cookie: no cache keeps it (a shared machine's
	// browser after the log out, a proxy in front).
	if got := resp.Header.Values("Cache-Control"); len(got) != 1 || got[0] != "private, no-store" {
		t.Errorf("an object through the console's API: Cache-Control %q, want private, no-store", got)
	}
	if resp, _ := call(http.MethodGet, "/console/api/v1/buckets", token); resp.Header.Get("Cache-Control") != "private, no-store" {
		t.Errorf("the buckets through the console's API: Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
	for _, tc := range []struct {
		name   string
		header []string
		want   int
	}{
		{"without the console's header", nil, http.StatusForbidden},
		{"from another site", []string{"AIS-Console", "1", "Origin", "http://evil.example"}, http.StatusForbidden},
		{"from the page", []string{"AIS-Console", "1", "Origin", base}, http.StatusOK},
	} {
		resp, body := call(http.MethodDelete, "/console/api/v1/buckets/gone", token, tc.header...)
		if resp.StatusCode != tc.want {
			t.Errorf("a bucket destroyed through the console's API %s: %s %.200s, want %d", tc.name, resp.Status, body, tc.want)
		}
	}
	for _, path := range []string{"/console/api/s3/b", "/console/api/console/", "/console/api/v1%2F..%2Fs3/b"} {
		if resp, body := call(http.MethodGet, path, token); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s %.200s, want 404 (the console calls the REST API only)", path, resp.Status, body)
		}
	}
	if resp, body := call(http.MethodGet, "/console/session", token); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"user":"u"`) || !strings.Contains(body, `"auth":true`) {
		t.Fatalf("the console's session: %s %s", resp.Status, body)
	}
	resp, _ = call(http.MethodDelete, "/console/", "", "Origin", base)
	var ended bool
	for _, k := range resp.Cookies() {
		ended = ended || (k.Name == "ais_token" && k.MaxAge < 0 && k.Path == "/console/" && k.HttpOnly)
	}
	if resp.StatusCode != http.StatusNoContent || !ended {
		t.Fatalf("log out: %s, cookies %+v", resp.Status, resp.Cookies())
	}
}

// A login form posted with a bad token gets the form again, saying why.
func TestConsoleLoginWithABadTokenShowsTheForm(t *testing.T) {
	c := newAuthCluster(t)
	resp, err := http.PostForm(c.Primary().URL()+"/console/", url.Values{"token": {"not-a-token"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "<form") {
		t.Fatalf("a bad token posted: %s %s %.200s", resp.Status, resp.Header.Get("Content-Type"), body)
	}
}

// A token without LIST gets the login page in a browser, 403 and naming
// the permission, to log in as another user; a client gets JSON.
func TestConsoleWithoutListShowsTheLoginForbidden(t *testing.T) {
	c := newAuthCluster(t)
	token := signToken(t, c.keys, authn.Grants{Perm: authn.PermGet}, time.Hour)
	ask := func(req *http.Request) (*http.Response, string) {
		t.Helper()
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	page, _ := http.NewRequest(http.MethodGet, c.Primary().URL()+"/console/", nil)
	page.Header.Set("Accept", "text/html,application/xhtml+xml")
	page.AddCookie(&http.Cookie{Name: "ais_token", Value: token})
	login, _ := http.NewRequest(http.MethodPost, c.Primary().URL()+"/console/", strings.NewReader(url.Values{"token": {token}}.Encode()))
	login.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for name, req := range map[string]*http.Request{"the page": page, "the login form": login} {
		resp, body := ask(req)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(body, "<form") || !strings.Contains(body, "LIST") {
			t.Errorf("%s with a token without LIST: %s %s %.300s, want 403 with the login form naming LIST", name, resp.Status, resp.Header.Get("Content-Type"), body)
		}
	}
	script, _ := http.NewRequest(http.MethodGet, c.Primary().URL()+"/console/app.js", nil)
	script.AddCookie(&http.Cookie{Name: "ais_token", Value: token})
	if resp, body := ask(script); resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get("Content-Type"), "json") {
		t.Errorf("the script with a token without LIST: %s %s %.200s, want a JSON 403", resp.Status, resp.Header.Get("Content-Type"), body)
	}
}

// The login page's style comes before a login; the console's other files
// do not.
func TestConsoleStyleBeforeLogin(t *testing.T) {
	c := newAuthCluster(t)
	for path, want := range map[string]int{"/console/style.css": http.StatusOK, "/console/app.js": http.StatusUnauthorized} {
		resp, err := http.Get(c.Primary().URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s without a login: %s, want %d", path, resp.Status, want)
		}
	}
	// Through the proxy, the same path is another host's: it needs a
	// login like any proxied GET (the origin is never asked).
	asked := false
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { asked = true }))
	defer origin.Close()
	proxied := &http.Client{Transport: &http.Transport{Proxy: func(*http.Request) (*url.URL, error) { return url.Parse(c.Primary().URL()) }}}
	resp, err := proxied.Get(origin.URL + "/console/style.css")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || asked {
		t.Fatalf("a proxied GET of /console/style.css without a login: %s, origin asked: %v", resp.Status, asked)
	}
}

// Creating a bucket does not let a user say where a remote bucket's data
// is (extra: an S3 endpoint, an HTTP origin): that takes ADMIN.
func TestCreateBucketWithExtraNeedsAdmin(t *testing.T) {
	c := newAuthCluster(t)
	owner := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Perm: authn.BucketOwner}, time.Hour))
	admin := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Perm: authn.Admin}, time.Hour))
	extra := map[string]any{"extra": map[string]any{"http": map[string]any{"origin": "http://evil.example"}}}
	err := owner.CreateBucket(t.Context(), "ht://mirror", extra)
	var e *api.Error
	if !errors.As(err, &e) || e.Status != http.StatusForbidden || !strings.Contains(err.Error(), "extra") {
		t.Fatalf("a bucket owner's create with extra: %v, want 403 naming extra", err)
	}
	if err := owner.CreateBucket(t.Context(), "plain", nil); err != nil {
		t.Fatalf("a bucket owner's create without extra: %v", err)
	}
	if err := admin.CreateBucket(t.Context(), "ais://with-extra", map[string]any{"extra": map[string]any{}}); err != nil {
		t.Fatalf("an admin's create with extra: %v", err)
	}
}

// Where a bucket's data is (extra) stays the cluster admin's to say after
// the bucket is made: a bucket's own admin changes its other props only.
func TestSetPropsOfExtraNeedsClusterAdmin(t *testing.T) {
	c := newAuthCluster(t)
	ctx := t.Context()
	admin := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Perm: authn.Admin}, time.Hour))
	if err := admin.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	owner := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Buckets: map[string]authn.Perm{"ais://b": authn.PermAll}}, time.Hour))
	err := owner.SetBucketProps(ctx, "b", map[string]any{"extra": map[string]any{"aws": map[string]any{"endpoint": "http://10.0.0.7:9000"}}})
	var e *api.Error
	if !errors.As(err, &e) || e.Status != http.StatusForbidden || !strings.Contains(err.Error(), "extra") {
		t.Fatalf("a bucket admin's change of extra: %v, want 403 naming extra", err)
	}
	if props, err := admin.BucketProps(ctx, "b"); err != nil || props.Extra != nil {
		t.Fatalf("the refused change left extra %+v (%v)", props.Extra, err)
	}
	if err := owner.SetBucketProps(ctx, "b", map[string]any{"versioning": map[string]any{"enabled": false}}); err != nil {
		t.Fatalf("a bucket admin's change of other props: %v", err)
	}
	if err := admin.SetBucketProps(ctx, "b", map[string]any{"extra": map[string]any{"aws": map[string]any{"region": "eu-west-1"}}}); err != nil {
		t.Fatalf("the cluster admin's change of extra: %v", err)
	}
	// Now that extra is set, a bucket admin's change of it is refused
	// too, and leaves it as it was (the patch decoded through the live
	// props' pointers once, changing them in place).
	err = owner.SetBucketProps(ctx, "b", map[string]any{"extra": map[string]any{"aws": map[string]any{"endpoint": "http://10.0.0.7:9000"}}})
	if !errors.As(err, &e) || e.Status != http.StatusForbidden {
		t.Fatalf("a bucket admin's change of an existing extra: %v, want 403", err)
	}
	props, err := admin.BucketProps(ctx, "b")
	if err != nil || props.Extra == nil || props.Extra.AWS == nil || props.Extra.AWS.Endpoint != "" || props.Extra.AWS.Region != "eu-west-1" {
		t.Fatalf("extra after the refused change: %+v (%v)", props.Extra, err)
	}
	// One that names extra as this gateway has it is refused too: the
	// cluster may apply it over a change this gateway has not seen.
	err = owner.SetBucketProps(ctx, "b", map[string]any{"Extra": map[string]any{"aws": map[string]any{"region": "eu-west-1"}}})
	if !errors.As(err, &e) || e.Status != http.StatusForbidden {
		t.Fatalf("a bucket admin's patch naming extra as it is: %v, want 403", err)
	}
}

// Evicting a remote bucket drops it from the metadata with its props,
// as destroying it does: it takes the same right, not DELETE.
func TestEvictRemoteBucketNeedsDestroy(t *testing.T) {
	c := newAuthCluster(t)
	token := signToken(t, c.keys, authn.Grants{Buckets: map[string]authn.Perm{"aws://b": authn.PermGet | authn.PermDelete | authn.PermList}}, time.Hour)
	status, msg := callAs(t, http.MethodDelete, c.Primary().URL()+"/v1/buckets/b?provider=aws", token, []byte(`{"action":"evict-remote-bck"}`))
	if status != http.StatusForbidden || !strings.Contains(msg, authn.PermDestroyBucket.String()) {
		t.Fatalf("evict-remote-bck with DELETE only: %d %s, want 403 naming %s", status, msg, authn.PermDestroyBucket)
	}
}

// A dSort job that makes its missing output bucket gives it the input's
// props but extra, which only a cluster admin sets.
func TestDsortOutputBucketDoesNotTakeTheInputsExtra(t *testing.T) {
	c := newAuthCluster(t)
	ctx := t.Context()
	admin := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Perm: authn.Admin}, time.Hour))
	extra := map[string]any{"extra": map[string]any{"aws": map[string]any{"endpoint": "http://10.0.0.7:9000"}}}
	if err := admin.CreateBucket(ctx, "in", extra); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Put(ctx, "in", "x-0.tar", bytes.NewReader(make([]byte, 1024)), api.PutOptions{Size: 1024}); err != nil {
		t.Fatal(err)
	}
	user := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Buckets: map[string]authn.Perm{
		"ais://in": authn.ReadOnly, "ais://out": authn.PermPut | authn.PermCreateBucket | authn.PermGet | authn.PermList}, Perm: authn.PermPut | authn.PermList}, time.Hour))
	spec := `{"input_bck": {"name": "in"}, "output_bck": {"name": "out"}, "input_format": {"template": "x-{0..0}.tar"},` +
		` "output_format": "o-{0..9}.tar", "output_shard_size": "1MiB"}`
	if _, err := user.DsortStart(ctx, []byte(spec)); err != nil {
		t.Logf("the job: %v", err) // the shard is not a tar: the job may fail, after it made its output
	}
	props, err := admin.BucketProps(ctx, "out")
	if err != nil {
		t.Fatalf("the job's output bucket: %v", err)
	}
	if props.Extra != nil {
		t.Fatalf("the job's output bucket took the input's extra: %+v", props.Extra)
	}
}

// A copy into a bucket that does not exist creates it: that takes the
// right to create it, not only to write into it.
func TestCopyCreatingItsDestinationNeedsCreate(t *testing.T) {
	c := newAuthCluster(t)
	admin := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Perm: authn.Admin}, time.Hour))
	if err := admin.CreateBucket(t.Context(), "src", nil); err != nil {
		t.Fatal(err)
	}
	writer := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Buckets: map[string]authn.Perm{
		"ais://src": authn.ReadOnly, "ais://dst": authn.PermPut}}, time.Hour))
	_, err := writer.CopyBucket(t.Context(), "src", "dst", api.CopyBucketMessage{})
	var e *api.Error
	if !errors.As(err, &e) || e.Status != http.StatusForbidden {
		t.Fatalf("a copy creating its destination without create-bucket: %v, want 403", err)
	}
	if _, err := admin.BucketProps(t.Context(), "dst"); !errors.Is(err, api.ErrBucketNotFound) {
		t.Fatalf("the refused copy made its destination: %v", err)
	}
	creator := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Buckets: map[string]authn.Perm{
		"ais://src": authn.ReadOnly, "ais://dst": authn.PermPut | authn.PermCreateBucket}}, time.Hour))
	if _, err := creator.CopyBucket(t.Context(), "src", "dst", api.CopyBucketMessage{}); err != nil {
		t.Fatalf("a copy creating its destination with create-bucket: %v", err)
	}
}

// A user granted two buckets, not the cluster, follows the copy it
// started between them to its end; the status it reads names that job
// only, and a user of other buckets may not read it.
func TestABucketUserFollowsItsCopy(t *testing.T) {
	c := newAuthCluster(t)
	ctx := t.Context()
	admin := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Perm: authn.Admin}, time.Hour))
	for _, name := range []string{"src", "dst", "other"} {
		if err := admin.CreateBucket(ctx, name, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.Put(ctx, "src", "o", strings.NewReader("data"), api.PutOptions{Size: 4}); err != nil {
		t.Fatal(err)
	}
	otherJob, err := admin.CopyBucket(ctx, "other", "other-copy", api.CopyBucketMessage{})
	if err != nil {
		t.Fatal(err)
	}
	userToken := signToken(t, c.keys, authn.Grants{Buckets: map[string]authn.Perm{
		"ais://src": authn.ReadOnly, "ais://dst": authn.PermPut | authn.PermList}}, time.Hour)
	user := c.Client().SetToken(userToken)
	id, err := user.CopyBucket(ctx, "src", "dst", api.CopyBucketMessage{})
	if err != nil {
		t.Fatal(err)
	}
	if j, err := user.WaitJob(ctx, id, 0); err != nil || j.Objects != 1 {
		t.Fatalf("the copy followed by its buckets' user: %+v, %v; want 1 object", j, err)
	}
	if _, err := user.ClusterStatus(ctx); !errors.Is(err, api.ErrForbidden) {
		t.Fatalf("the whole cluster's status read by a bucket's user: %v, want forbidden", err)
	}
	// Narrowed to its job, whatever the body asks.
	u := c.Primary().URL() + "/v1/cluster?" + api.QueryWhat + "=status&" + api.QueryJob + "=" + id
	status, body := callAs(t, http.MethodGet, u, userToken, []byte(`{"id": "`+otherJob+`"}`))
	if status != http.StatusOK || strings.Contains(body, otherJob) || strings.Contains(body, "127.0.0.1") || !strings.Contains(body, id) {
		t.Fatalf("the copy's status: %d %s, want its job only, no addresses", status, body)
	}
	for _, job := range []string{otherJob, "rebalance-1"} {
		status, body = callAs(t, http.MethodGet, c.Primary().URL()+"/v1/cluster?"+api.QueryWhat+"=status&"+api.QueryJob+"="+job, userToken, nil)
		if job == otherJob && status != http.StatusForbidden {
			t.Fatalf("another bucket's job read by this bucket's user: %d %s, want 403", status, body)
		}
		if job != otherJob && (status != http.StatusOK || strings.Contains(body, `"jobs"`)) {
			t.Fatalf("a job no node has: %d %s, want no jobs", status, body)
		}
	}
	stranger := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Buckets: map[string]authn.Perm{"ais://other": authn.ReadOnly}}, time.Hour))
	if _, err := stranger.Job(ctx, id); !errors.Is(err, api.ErrForbidden) {
		t.Fatalf("the copy read by a user of another bucket: %v, want forbidden", err)
	}
	// Who may write into the destination (not list it) follows it too.
	writer := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Buckets: map[string]authn.Perm{
		"ais://src": authn.ReadOnly, "ais://dst": authn.PermPut}}, time.Hour))
	if _, err := writer.Job(ctx, id); err != nil {
		t.Fatalf("the copy read by a writer of its destination: %v", err)
	}
	// A reader of the source only does not follow a copy into a bucket
	// it may not list (its errors would name it).
	reader := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Buckets: map[string]authn.Perm{"ais://src": authn.ReadOnly}}, time.Hour))
	if _, err := reader.Job(ctx, id); !errors.Is(err, api.ErrForbidden) {
		t.Fatalf("the copy read by a reader of its source only: %v, want forbidden", err)
	}
	if _, err := c.Client().Job(ctx, id); !errors.Is(err, api.ErrUnauthorized) {
		t.Fatalf("the copy read without a token: %v, want unauthorized", err)
	}
}

// A summary walks a whole bucket: a user who may only HEAD it may not
// start one.
func TestSummaryNeedsList(t *testing.T) {
	c := newAuthCluster(t)
	admin := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Perm: authn.Admin}, time.Hour))
	if err := admin.CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatal(err)
	}
	u := c.Primary().URL() + "/v1/buckets/b?" + api.QuerySummary + "=true"
	header := signToken(t, c.keys, authn.Grants{Buckets: map[string]authn.Perm{"ais://b": authn.PermHead}}, time.Hour)
	if status, msg := callAs(t, http.MethodHead, u, header, nil); status != http.StatusForbidden {
		t.Fatalf("a summary started with HEAD only: %d %s, want 403", status, msg)
	}
	lister := signToken(t, c.keys, authn.Grants{Buckets: map[string]authn.Perm{"ais://b": authn.PermHead | authn.PermList}}, time.Hour)
	if status, msg := callAs(t, http.MethodHead, u, lister, nil); status != http.StatusAccepted {
		t.Fatalf("a summary started with LIST: %d %s, want 202", status, msg)
	}
}

// The native API takes a token from the Authorization header, not the
// query: a token there would be copied into redirects (a cached 301),
// logs and history.
func TestNativeRoutesTakeNoTokenInTheQuery(t *testing.T) {
	c := newAuthCluster(t)
	admin := signToken(t, c.keys, authn.Grants{Perm: authn.Admin}, time.Hour)
	if err := c.Client().SetToken(admin).CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatal(err)
	}
	if status, msg := callAs(t, http.MethodGet, c.Primary().URL()+"/v1/objects/b/o?X-Amz-Security-Token="+admin, "", nil); status != http.StatusUnauthorized {
		t.Fatalf("a GET with its token in the query: %d %s, want 401", status, msg)
	}
}

// Without S3 keys, the S3 API takes a session token from the header
// only: one in the query (a presigned URL whose signature and expiry
// nobody checks) would be the token itself, good for any request until
// it ends.
func TestS3TakesNoUnsignedTokenInTheQuery(t *testing.T) {
	c := newAuthCluster(t)
	admin := c.withObject(t)
	for _, query := range []string{"X-Amz-Security-Token=" + admin, "X-Amz-Signature=x&X-Amz-Security-Token=" + admin} {
		status, msg := callAs(t, http.MethodDelete, c.Primary().URL()+"/s3/b/o?"+query, "", nil)
		if status != http.StatusUnauthorized || !strings.Contains(msg, "as the X-Amz-Security-Token header") {
			t.Fatalf("an S3 DELETE with its token in the query (%.40s...): %d %s, want 401 naming the header", query, status, msg)
		}
	}
	if got, err := c.Client().SetToken(admin).GetBytes(t.Context(), "b", "o", api.GetOptions{}); err != nil || string(got) != "data" {
		t.Fatalf("the object after the refused DELETE: %q %v", got, err)
	}
	req, _ := http.NewRequest(http.MethodGet, c.Primary().URL()+"/s3/b/o", nil)
	req.Header.Set("X-Amz-Security-Token", admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "data" {
		t.Fatalf("an S3 GET with its token in the header: %d %s", resp.StatusCode, body)
	}
}

// An S3 copy's source is authorized as the copy reads it: URL-decoded
// (x-amz-copy-source: src%2Fobj names bucket src).
func TestS3CopySourceIsAuthorizedDecoded(t *testing.T) {
	c := newAuthCluster(t)
	admin := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Perm: authn.Admin}, time.Hour))
	for _, b := range []string{"src", "dst"} {
		if err := admin.CreateBucket(t.Context(), b, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.Put(t.Context(), "src", "obj", strings.NewReader("data"), api.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	copier := signToken(t, c.keys, authn.Grants{Buckets: map[string]authn.Perm{"ais://src": authn.ReadOnly, "ais://dst": authn.PermPut}}, time.Hour)
	copyAs := func(source string) (int, string) {
		req, _ := http.NewRequest(http.MethodPut, c.Primary().URL()+"/s3/dst/copied", nil)
		req.Header.Set("Authorization", "Bearer "+copier)
		req.Header.Set("X-Amz-Copy-Source", source)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return resp.StatusCode, string(msg)
	}
	for _, source := range []string{"src/obj", "src%2Fobj", "/src%2Fobj"} {
		if status, msg := copyAs(source); status != http.StatusOK {
			t.Fatalf("copy from %s: %d %s", source, status, msg)
		}
	}
	if status, _ := copyAs("dst%2Fcopied"); status != http.StatusForbidden {
		t.Fatalf("a copy from a bucket the user may not read: %d, want 403", status)
	}
}

// A get-batch with a grant that is not one is refused before its body is
// read: a body of up to 32 MiB, read first from anyone who names a grant,
// would be the node's memory for the asking.
func TestForgedBatchGrantIsRefusedBeforeTheBody(t *testing.T) {
	c := newAuthCluster(t)
	u, _ := url.Parse(c.Targets()[0].URL())
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// 32 MiB announced, 1 KiB sent, then nothing.
	fmt.Fprintf(conn, "GET /v1/ml/moss?agrant=9999999999.dQ.forged&ahash=00 HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", u.Host, 32<<20)
	conn.Write(bytes.Repeat([]byte(" "), 1024))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(status, " 401 ") {
		t.Fatalf("a get-batch with a forged grant and a body still coming: %q %v, want 401 at once", status, err)
	}
}

// A bucket action without a valid token is refused before its body is
// read (the body names the action, and so what it needs): up to 8 MiB
// buffered for anyone who sends it would be the node's memory for the
// asking.
func TestBucketActionWithoutTokenIsRefusedBeforeTheBody(t *testing.T) {
	c := newAuthCluster(t)
	u, _ := url.Parse(c.Primary().URL())
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// 8 MiB announced, 1 KiB sent, then nothing.
	fmt.Fprintf(conn, "POST /v1/buckets/b HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", u.Host, 8<<20)
	conn.Write(bytes.Repeat([]byte(" "), 1024))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(status, " 401 ") {
		t.Fatalf("a bucket action without a token and its body still coming: %q %v, want 401 at once", status, err)
	}
}

// A bucket action whose body cannot be read (past the 8 MiB bound) is
// that error, not the route's default: a delete-listrange of too many
// names must not destroy the bucket.
func TestUnreadableActionBodyIsNotTheDefaultAction(t *testing.T) {
	c := newAuthCluster(t)
	admin := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Perm: authn.Admin}, time.Hour))
	if err := admin.CreateBucket(t.Context(), "keep", nil); err != nil {
		t.Fatal(err)
	}
	owner := signToken(t, c.keys, authn.Grants{Buckets: map[string]authn.Perm{"ais://keep": authn.PermDelete | authn.PermDestroyBucket | authn.PermList | authn.PermHead}}, time.Hour)
	// Built, not marshalled: a million names through encoding/json take
	// seconds under -race.
	names := strings.TrimSuffix(strings.Repeat(`"object-0000000",`, 600_000), ",")
	body := []byte(`{"action":"` + api.ActionDeleteListRange + `","value":{"objnames":[` + names + `]}}`)
	if len(body) <= 8<<20 {
		t.Fatalf("the body is %d bytes, not past the bound", len(body))
	}
	status, msg := callAs(t, http.MethodDelete, c.Primary().URL()+"/v1/buckets/keep", owner, body)
	if status != http.StatusBadRequest && status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a delete-listrange of %d bytes: %d %s, want 400 or 413", len(body), status, msg)
	}
	if _, err := admin.BucketProps(t.Context(), "keep"); err != nil {
		t.Fatalf("the bucket is gone after a delete-listrange too big to read: %v", err)
	}
}

// With authentication on, the primary's sweep of stale S3 multipart
// uploads acts as the node (it has no user's token), and still removes
// them.
func TestUploadSweepWithAuthentication(t *testing.T) {
	keys, err := authn.NewSecretKeys([]byte(authn.NewSecret()))
	if err != nil {
		t.Fatal(err)
	}
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.Auth = keys
		cfg.S3UploadTTL = time.Second
	}})
	admin := c.Client().SetToken(signToken(t, keys, authn.Grants{Perm: authn.Admin}, time.Hour))
	ctx := t.Context()
	if err := admin.CreateBucket(ctx, "mp", nil); err != nil {
		t.Fatal(err)
	}
	id := "0123456789abcdef0123456789abcdef"
	record := fmt.Sprintf(`{"key":"k","initiated":%q}`, time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano))
	for name, body := range map[string]string{".s3-multipart/" + id + "/upload": record, ".s3-multipart/" + id + "/part-00001": "part"} {
		if _, err := admin.Put(ctx, "mp", name, strings.NewReader(body), api.PutOptions{Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		page, err := admin.ListObjects(ctx, "mp", api.ListObjectsMessage{Prefix: ".s3-multipart/"})
		if err == nil && len(page.Entries) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stale upload was not swept with authentication on: %+v %v", page, err)
		}
	}
}

// Through the proxy a reader fetches from the origins already there; a
// new origin (a new ht:// bucket) needs CREATE-BUCKET, and a tunnel
// (CONNECT, opaque, to any host of its ports) an admin.
func TestProxyNeedsMoreThanGetForNewOriginsAndTunnels(t *testing.T) {
	c, keys, origin := proxyAuthCluster(t)
	reader := signToken(t, keys, authn.Grants{Perm: authn.PermGet | authn.PermHead | authn.PermList}, time.Hour)
	admin := signToken(t, keys, authn.Grants{Perm: authn.Admin}, time.Hour)
	proxied := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(must(url.Parse(c.Primary().URL())))}}
	get := func(token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, origin.URL+"/f", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := proxied.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return resp.StatusCode, string(body)
	}
	if status, body := get(reader); status != http.StatusForbidden {
		t.Fatalf("a reader's GET of a new origin through the proxy: %d %s, want 403", status, body)
	}
	if status, body := get(admin); status != http.StatusOK || body != "hello" {
		t.Fatalf("an admin's GET of a new origin through the proxy: %d %s", status, body)
	}
	if status, body := get(reader); status != http.StatusOK || body != "hello" {
		t.Fatalf("a reader's GET through the proxy of an origin there: %d %s", status, body)
	}
	conn, err := net.Dial("tcp", c.Primary().Server.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nAuthorization: Bearer %s\r\n\r\n", reader)
	if status, err := bufio.NewReader(conn).ReadString('\n'); err != nil || !strings.Contains(status, " 403 ") {
		t.Fatalf("a reader's CONNECT: %q %v, want 403", status, err)
	}
}

// proxyAuthCluster is a cluster with user authentication that proxies
// ht:// origins (local ones too), and an origin that answers "hello".
func proxyAuthCluster(t *testing.T) (*gatewaytest.Cluster, *authn.Keys, *httptest.Server) {
	t.Helper()
	keys, err := authn.NewSecretKeys([]byte(authn.NewSecret()))
	if err != nil {
		t.Fatal(err)
	}
	origins := ht.Resolve(ht.NewClient(egress.Checked(nil)))
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true,
		Configure: func(cfg *gateway.Config) {
			cfg.Auth, cfg.FetchAllowLocal = keys, true
			cfg.RemoteBuckets = remote.Buckets{Resolve: origins}
			cfg.Remote = func(st store.Store) store.Store { return remote.New(st, origins) }
		}})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) }))
	t.Cleanup(origin.Close)
	return c, keys, origin
}

// Parallel first GETs of a new origin through a gateway that is not the
// primary all get the file: those whose bucket another made meanwhile
// wait for this gateway to have it, not a 409 for a bucket it lacks.
func TestProxyParallelFirstGetsOfAnOrigin(t *testing.T) {
	origins := ht.Resolve(ht.NewClient(egress.Checked(nil)))
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 2, Targets: 1, NoSync: true,
		Configure: func(cfg *gateway.Config) {
			cfg.FetchAllowLocal = true
			cfg.RemoteBuckets = remote.Buckets{Resolve: origins}
			cfg.Remote = func(st store.Store) store.Store { return remote.New(st, origins) }
		}})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) }))
	defer origin.Close()
	var follower *gatewaytest.Member
	for _, m := range c.Members() {
		if m.Store == nil && m.Node.ID() != c.Primary().Node.ID() {
			follower = m
		}
	}
	if follower == nil {
		t.Fatal("no gateway but the primary")
	}
	proxied := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(must(url.Parse(follower.URL())))}}
	const n = 8
	statuses := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, err := proxied.Get(fmt.Sprintf("%s/f-%d", origin.URL, i))
			if err != nil {
				statuses[i] = err.Error()
				return
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			statuses[i] = fmt.Sprintf("%d %s", resp.StatusCode, body)
		})
	}
	wg.Wait()
	for i, s := range statuses {
		if s != "200 hello" {
			t.Errorf("GET %d of a new origin through a follower: %s", i, s)
		}
	}
}

// A proxied URL whose path looks like the console's is no console request:
// the console's cookie (sent by a browser that uses the gateway as its
// proxy, from a page of the same site) is no credential for it.
func TestProxiedConsolePathTakesNoCookie(t *testing.T) {
	c, keys, origin := proxyAuthCluster(t)
	admin := signToken(t, keys, authn.Grants{Perm: authn.Admin}, time.Hour)
	proxied := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(must(url.Parse(c.Primary().URL())))}}
	for _, path := range []string{console.Prefix + "x", console.APIPrefix + "v1/x"} {
		req, _ := http.NewRequest(http.MethodGet, origin.URL+path, nil)
		req.Header.Set("Accept", "text/html")
		req.AddCookie(&http.Cookie{Name: console.TokenCookie, Value: admin})
		resp, err := proxied.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || strings.Contains(string(body), "<form") {
			t.Fatalf("a proxied GET of %s with the console's cookie only: %d %.200s, want 401 (no login page)", path, resp.StatusCode, body)
		}
	}
}

// A user who may only PUT into a bucket uploads in parts there as with
// one PUT: what the upload reads, lists and deletes of its own records
// and parts beneath is the node's doing, not a GET the user may not make.
func TestS3MultipartNeedsOnlyPut(t *testing.T) {
	c := newAuthCluster(t)
	admin := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Perm: authn.Admin}, time.Hour))
	if err := admin.CreateBucket(t.Context(), "drop", nil); err != nil {
		t.Fatal(err)
	}
	writer := signToken(t, c.keys, authn.Grants{Buckets: map[string]authn.Perm{"ais://drop": authn.PermPut}}, time.Hour)
	call := func(method, query, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, c.Primary().URL()+"/s3/drop/big?"+query, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+writer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return resp.StatusCode, string(msg)
	}
	status, msg := call(http.MethodPost, "uploads", "")
	if status != http.StatusOK {
		t.Fatalf("create the upload: %d %s", status, msg)
	}
	var created struct{ UploadId string }
	if err := xml.Unmarshal([]byte(msg), &created); err != nil || created.UploadId == "" {
		t.Fatalf("create's answer %q: %v", msg, err)
	}
	parts := []string{strings.Repeat("a", 5<<20), "tail"}
	var complete strings.Builder
	complete.WriteString("<CompleteMultipartUpload>")
	for i, part := range parts {
		q := url.Values{"partNumber": {fmt.Sprint(i + 1)}, "uploadId": {created.UploadId}}
		req, _ := http.NewRequest(http.MethodPut, c.Primary().URL()+"/s3/drop/big?"+q.Encode(), strings.NewReader(part))
		req.Header.Set("Authorization", "Bearer "+writer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("part %d: %d %s", i+1, resp.StatusCode, body)
		}
		fmt.Fprintf(&complete, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i+1, resp.Header.Get("ETag"))
	}
	complete.WriteString("</CompleteMultipartUpload>")
	if status, msg := call(http.MethodPost, "uploadId="+created.UploadId, complete.String()); status != http.StatusOK || !strings.Contains(msg, "CompleteMultipartUploadResult") {
		t.Fatalf("complete: %d %s", status, msg)
	}
	rc, meta, err := admin.Get(t.Context(), "drop", "big", api.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != strings.Join(parts, "") || meta.Size != int64(len(got)) {
		t.Fatalf("the object is %d bytes, want the %d of its parts", len(got), len(strings.Join(parts, "")))
	}
	// Nothing of the upload is left: its parts and record went.
	var left []string
	for e, err := range admin.ListAll(t.Context(), "drop", api.ListObjectsMessage{}) {
		if err != nil {
			t.Fatal(err)
		}
		left = append(left, e.Name)
	}
	if !slices.Equal(left, []string{"big"}) {
		t.Fatalf("the bucket after the upload holds %v", left)
	}
	// A user who may only DELETE there aborts an upload.
	adminToken := signToken(t, c.keys, authn.Grants{Perm: authn.Admin}, time.Hour)
	req, _ := http.NewRequest(http.MethodPost, c.Primary().URL()+"/s3/drop/aborted?uploads", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := xml.Unmarshal(answer, &created); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the admin's upload: %d %s", resp.StatusCode, answer)
	}
	deleter := signToken(t, c.keys, authn.Grants{Buckets: map[string]authn.Perm{"ais://drop": authn.PermDelete}}, time.Hour)
	req, _ = http.NewRequest(http.MethodDelete, c.Primary().URL()+"/s3/drop/aborted?uploadId="+created.UploadId, nil)
	req.Header.Set("Authorization", "Bearer "+deleter)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	answer, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("an abort by a user who may only DELETE: %d %s", resp.StatusCode, answer)
	}
	// A user who may not PUT there starts no upload.
	reader := signToken(t, c.keys, authn.Grants{Buckets: map[string]authn.Perm{"ais://drop": authn.ReadOnly}}, time.Hour)
	req, _ = http.NewRequest(http.MethodPost, c.Primary().URL()+"/s3/drop/other?uploads", nil)
	req.Header.Set("Authorization", "Bearer "+reader)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("an upload started by a reader: %d, want 403", resp.StatusCode)
	}
}

// Grants on single buckets do for a dSort job (GET on its input, PUT on
// its output), its watch and its abort, and for a download (PUT on its
// destination); a user without them on those buckets is refused, and does
// not see the job in the list.
func TestJobsTakeGrantsOnTheirBuckets(t *testing.T) {
	c := newAuthCluster(t)
	ctx := t.Context()
	admin := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Perm: authn.Admin}, time.Hour))
	for _, b := range []string{"in", "out", "other"} {
		if err := admin.CreateBucket(ctx, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	shard := tarOf(t, map[string]string{"a.txt": "a", "b.txt": "b"})
	if _, err := admin.Put(ctx, "in", "x-0.tar", bytes.NewReader(shard), api.PutOptions{Size: int64(len(shard))}); err != nil {
		t.Fatal(err)
	}
	user := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Buckets: map[string]authn.Perm{
		"ais://in": authn.ReadOnly, "ais://out": authn.PermPut | authn.PermList}}, time.Hour))
	stranger := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Buckets: map[string]authn.Perm{
		"ais://other": authn.PermPut | authn.PermList | authn.PermGet}}, time.Hour))
	spec := []byte(`{"input_bck": {"name": "in"}, "output_bck": {"name": "out"}, "input_format": {"template": "x-{0..0}.tar"},` +
		` "output_format": "o-{0..9}.tar", "output_shard_size": "1MiB"}`)
	forbidden := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, api.ErrForbidden) {
			t.Fatalf("%s: %v, want 403", what, err)
		}
	}
	if _, err := stranger.DsortStart(ctx, spec); !errors.Is(err, api.ErrForbidden) {
		forbidden("a dSort by a user without grants on its buckets", err)
	}
	id, err := user.DsortStart(ctx, spec)
	if err != nil {
		t.Fatalf("a dSort with grants on its input and output only: %v", err)
	}
	if _, err := user.DsortMetrics(ctx, id); err != nil {
		t.Fatalf("its watch by its user: %v", err)
	}
	_, err = stranger.DsortMetrics(ctx, id)
	forbidden("its watch by another", err)
	// Whether a job no gateway registered exists is for the cluster's
	// listers to learn.
	_, err = stranger.DsortMetrics(ctx, "srt-none")
	forbidden("the watch of a job never started, by a user of single buckets", err)
	if _, err := admin.DsortMetrics(ctx, "srt-none"); !errors.Is(err, api.ErrJobNotFound) {
		t.Fatalf("the watch of a job never started, by an admin: %v, want not found", err)
	}
	forbidden("its abort by another", stranger.DsortAbort(ctx, id))
	jobs, err := stranger.DsortList(ctx, "", false)
	if err != nil || slices.ContainsFunc(jobs, func(j api.DsortJobInfo) bool { return j.ID == id }) {
		t.Fatalf("the list of another: %v %+v, want the job left out", err, jobs)
	}
	jobs, err = user.DsortList(ctx, "", false)
	if err != nil || !slices.ContainsFunc(jobs, func(j api.DsortJobInfo) bool { return j.ID == id }) {
		t.Fatalf("the list of its user: %v %+v, want the job", err, jobs)
	}
	download := func(bucket string) (string, error) {
		return user.StartDownload(ctx, api.DownloadRequest{Type: api.DownloadSingle, Bucket: api.Bck{Name: bucket}, Link: "http://127.0.0.1:1/f", ObjectName: "f"})
	}
	dl, err := download("out")
	if err != nil {
		t.Fatalf("a download into a bucket the user may PUT in: %v", err)
	}
	_, err = download("in")
	forbidden("a download into a bucket the user may not PUT in", err)
	if _, err := user.DownloadStatus(ctx, dl); err != nil {
		t.Fatalf("the download's watch by its user: %v", err)
	}
	_, err = stranger.DownloadStatus(ctx, dl)
	forbidden("the download's watch by another", err)
	forbidden("the download's abort by another", stranger.AbortDownload(ctx, dl))
	forbidden("the download's removal by another", stranger.RemoveDownload(ctx, dl))
}

// A console login behind a proxy that passes its own Host: the browser's
// word (Sec-Fetch-Site: same-origin) is taken; without it, the Origin is
// the page's when browser_hosts names it; another site's is refused.
func TestConsoleLoginBehindAProxy(t *testing.T) {
	keys, err := authn.NewSecretKeys([]byte(authn.NewSecret()))
	if err != nil {
		t.Fatal(err)
	}
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true,
		Configure: func(cfg *gateway.Config) {
			cfg.Auth, cfg.BrowserHosts = keys, []string{"ais.example.com", "https://console.example.com"}
		}})
	token := signToken(t, keys, authn.Grants{Perm: authn.ReadOnly}, time.Hour)
	for _, tc := range []struct {
		name, origin, site string
		want               int
	}{
		{"the browser says same-origin", "https://ais.example.org", "same-origin", http.StatusSeeOther},
		{"a name of browser_hosts", "https://ais.example.com", "", http.StatusSeeOther},
		{"a name of browser_hosts on another port", "https://ais.example.com:8081", "", http.StatusForbidden},
		{"a URL of browser_hosts", "https://console.example.com", "", http.StatusSeeOther},
		{"a URL of browser_hosts by another scheme", "http://console.example.com", "", http.StatusForbidden},
		{"another site, said", "https://ais.example.com", "cross-site", http.StatusForbidden},
		{"another site, by its origin", "https://evil.example", "", http.StatusForbidden},
	} {
		form := url.Values{"token": {token}}
		req, _ := http.NewRequest(http.MethodPost, c.Primary().URL()+"/console/", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", tc.origin)
		if tc.site != "" {
			req.Header.Set("Sec-Fetch-Site", tc.site)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("a login, %s: %s, want %d", tc.name, resp.Status, tc.want)
		}
	}
}

// A request a node signed for another node's address (captured on its
// way there) is refused by the others on the routes that grant (objects,
// get-batch): a gateway would redirect it with a grant of its own, good
// for any body.
func TestNodeSignedRequestIsBoundToItsNode(t *testing.T) {
	c := newAuthCluster(t)
	c.withObject(t)
	signer := c.PeerClient(c.Targets()[0].Node.ID())
	signer.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	send := func(host string) (int, string) {
		req, _ := http.NewRequest(http.MethodPut, c.Primary().URL()+"/v1/objects/b/o", strings.NewReader("forged"))
		if host != "" {
			req.Host = host
		}
		resp, err := signer.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location") + string(body)
	}
	if status, answer := send("127.0.0.2:9"); status != http.StatusUnauthorized || !strings.Contains(answer, "replayed to another node") {
		t.Fatalf("a node-signed PUT signed for another address: %d %s; want 401 naming a replay", status, answer)
	}
	if status, answer := send(""); status != http.StatusTemporaryRedirect || !strings.Contains(answer, "grant") {
		t.Fatalf("a node-signed PUT to the gateway's own address: %d %s; want its redirect with a grant", status, answer)
	}
	// A cluster route grants nothing: a node's request through an alias
	// (a Service in front of the gateways: a preStop drain, a join's
	// pulls) is served.
	req, _ := http.NewRequest(http.MethodGet, c.Primary().URL()+"/v1/cluster?what=smap", nil)
	req.Host = "ais.example.svc:8080"
	resp, err := signer.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a node-signed map pull through an alias: %s", resp.Status)
	}
}

// Indexing shards reads them: a user who may only PUT into a bucket
// (an uploader) is refused it, naming GET; one who may read it too is
// not.
func TestIndexShardsNeedsGet(t *testing.T) {
	c := newAuthCluster(t)
	admin := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Perm: authn.Admin}, time.Hour))
	if err := admin.CreateBucket(t.Context(), "shards", nil); err != nil {
		t.Fatal(err)
	}
	index := func(perm authn.Perm) (int, string) {
		token := signToken(t, c.keys, authn.Grants{Buckets: map[string]authn.Perm{"ais://shards": perm}}, time.Hour)
		req, _ := http.NewRequest(http.MethodPost, c.Primary().URL()+"/v1/buckets/shards", strings.NewReader(`{"action":"index-shard","value":{"template":"s-{0..3}.tar"}}`))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return resp.StatusCode, string(msg)
	}
	if status, msg := index(authn.PermPut); status != http.StatusForbidden || !strings.Contains(msg, "GET") {
		t.Fatalf("index-shard with PUT alone: %d %s, want 403 naming GET", status, msg)
	}
	if status, msg := index(authn.PermPut | authn.PermGet); status != http.StatusOK {
		t.Fatalf("index-shard with PUT and GET: %d %s", status, msg)
	}
}

// An ht:// origin's user and password are an admin's to read, as to set:
// a user who may HEAD the bucket, or list the cluster's buckets, reads
// the origin without them.
func TestOriginCredentialsAreTheAdmins(t *testing.T) {
	c := newAuthCluster(t)
	ctx := t.Context()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer origin.Close()
	secret := strings.Replace(origin.URL, "http://", "http://ops:hunter2-secret@", 1)
	admin := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Perm: authn.Admin}, time.Hour))
	if err := admin.CreateBucket(ctx, "ais://site", map[string]any{"extra": map[string]any{"http": map[string]any{"origin": secret}}}); err != nil {
		t.Fatal(err)
	}
	reader := c.Client().SetToken(signToken(t, c.keys, authn.Grants{Perm: authn.ReadOnly}, time.Hour))
	props, err := reader.BucketProps(ctx, "site")
	if err != nil || props.Extra == nil || props.Extra.HTTP == nil || strings.Contains(props.Extra.HTTP.Origin, "hunter2") || !strings.Contains(props.Extra.HTTP.Origin, strings.TrimPrefix(origin.URL, "http://")) {
		t.Fatalf("a reader's HEAD of the bucket: %+v %v", props.Extra, err)
	}
	status, body := callAs(t, http.MethodGet, c.Primary().URL()+"/v1/cluster?what=bmd", signToken(t, c.keys, authn.Grants{Perm: authn.ReadOnly}, time.Hour), nil)
	if status != http.StatusOK || strings.Contains(body, "hunter2") {
		t.Fatalf("a reader's bucket metadata: %d %s", status, body)
	}
	if props, err := admin.BucketProps(ctx, "site"); err != nil || props.Extra.HTTP.Origin != secret {
		t.Fatalf("the admin's HEAD of the bucket: %+v %v", props.Extra, err)
	}
}

// The AuthN service's bound of its users' tokens together stays under
// what a cluster's revocation list holds, with room for the cluster
// admin's own revocations: past it, no revocation would be taken.
func TestAuthNTokensFitTheRevocationList(t *testing.T) {
	if authn.MaxLiveTokens+authn.AdminReserve >= membership.MaxRevokedTokens*97/100 {
		t.Fatalf("AuthN bounds its live tokens at %d (%d more for admins), a cluster's revocation list at %d: too little room left", authn.MaxLiveTokens, authn.AdminReserve, membership.MaxRevokedTokens)
	}
}

// A node that would check user tokens otherwise than the cluster (none
// at all: it would serve every request to whoever reaches it) is refused
// at its join, naming why; one of a build that does not say is taken as
// before.
func TestJoinWithOtherUserAuthIsRefused(t *testing.T) {
	c := newAuthCluster(t)
	other, err := authn.NewSecretKeys([]byte(authn.NewSecret()))
	if err != nil {
		t.Fatal(err)
	}
	join := func(auth string) (int, string) {
		t.Helper()
		change := membership.Change{Kind: membership.Join, Auth: auth,
			Node: cluster.Node{ID: "t9", Role: cluster.RoleTarget, URL: "http://127.0.0.1:1", State: cluster.StateActive}}
		body, _ := json.Marshal(change)
		req, _ := http.NewRequest(http.MethodPut, c.Primary().URL()+"/v1/internal/cluster", bytes.NewReader(body))
		resp, err := c.PeerClient("t9").Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		text, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(text)
	}
	for _, auth := range []string{"off", other.Fingerprint()} {
		if status, text := join(auth); status != http.StatusConflict || !strings.Contains(text, "checks user tokens as") {
			t.Fatalf("a join of a node checking tokens as %q: %d %s, want 409 naming it", auth, status, text)
		}
	}
	if status, text := join(""); strings.Contains(text, "checks user tokens as") {
		t.Fatalf("a join of a node of an older build: %d %s, refused for its user authentication", status, text)
	}
	if c.keys.Fingerprint() == other.Fingerprint() || !strings.HasPrefix(c.keys.Fingerprint(), "HS256:") {
		t.Fatalf("fingerprints %s and %s", c.keys.Fingerprint(), other.Fingerprint())
	}
}

// A node's PUT that a redirect granted is the node's only as signed: its
// body is checked against its signature as it is stored (one changed on
// the way is refused, not stored).
func TestNodePutWithAGrantHasItsBodyChecked(t *testing.T) {
	c := newAuthCluster(t)
	admin := signToken(t, c.keys, authn.Grants{Perm: authn.Admin}, time.Hour)
	if err := c.Client().SetToken(admin).CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatal(err)
	}
	// The grant of a PUT through the gateway, not followed.
	req, _ := http.NewRequest(http.MethodPut, c.Primary().URL()+"/v1/objects/b/o", strings.NewReader("good"))
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	location := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusTemporaryRedirect || location == "" {
		t.Fatalf("the PUT through the gateway: %d %q, want a redirect", resp.StatusCode, location)
	}
	// Signed by a node for "good", sent with other bytes.
	signer := peer.NewAuth(c.Secret(), peer.Options{})
	put, _ := http.NewRequest(http.MethodPut, location, strings.NewReader("good"))
	if err := signer.Sign(put, c.Targets()[0].Node.ID()); err != nil {
		t.Fatal(err)
	}
	put.Body, put.GetBody = io.NopCloser(strings.NewReader("evil")), nil
	resp, err = http.DefaultClient.Do(put)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Fatalf("a node's granted PUT whose body is not the one signed: %d, want refused", resp.StatusCode)
	}
	if got, err := c.Client().SetToken(admin).GetBytes(t.Context(), "b", "o", api.GetOptions{}); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the object after the refused PUT: %q %v, want none", got, err)
	}
}
