package authn

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func testKeys(t testing.TB) *Keys {
	keys, err := NewSecretKeys([]byte(NewSecret()))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func sign(t testing.TB, keys *Keys, exp time.Time, audience ...string) string {
	t.Helper()
	s, err := keys.Sign(&Claims{Grants: Grants{Perm: ReadOnly}, RegisteredClaims: jwt.RegisteredClaims{
		Subject: "u", ID: NewTokenID(), Audience: audience, ExpiresAt: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(time.Now())}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPermNames(t *testing.T) {
	for _, p := range []Perm{0, PermGet, ReadOnly, BucketOwner, Admin} {
		back, err := ParsePerm(p.String())
		if err != nil || back != p {
			t.Errorf("%v: round trip %v %v", p, back, err)
		}
	}
	if p, err := ParsePerm("get, list,ro"); err != nil || p != ReadOnly {
		t.Errorf("get,list,ro: %v %v", p, err)
	}
	if _, err := ParsePerm("GET,FLY"); err == nil || !strings.Contains(err.Error(), "FLY") {
		t.Errorf("unknown permission: %v", err)
	}
	g := Grants{Perm: PermList, Buckets: map[string]Perm{"ais://b": PermPut}}
	if !g.Allows(PermPut, "ais://b") || g.Allows(PermPut, "ais://c") || g.Allows(PermPut, "") || !g.Allows(PermList, "ais://c") {
		t.Error("grants: bucket scope")
	}
	if !(Grants{Perm: PermAdmin}).Allows(PermDestroyBucket, "ais://x") {
		t.Error("ADMIN does not imply the rest")
	}
}

func TestVerifier(t *testing.T) {
	keys := testKeys(t)
	var revoked sync.Map
	v := NewVerifier(keys, VerifierOptions{Cluster: func() string { return "c1" }, Revoked: func(id string) bool { _, ok := revoked.Load(id); return ok }})
	good := sign(t, keys, time.Now().Add(time.Hour))
	c, err := v.Verify(good)
	if err != nil || c.Subject != "u" || c.Perm != ReadOnly {
		t.Fatalf("good token: %+v %v", c, err)
	}
	revoked.Store(c.ID, true)
	if _, err := v.Verify(good); !errors.Is(err, ErrRevoked) {
		t.Errorf("revoked (cached): %v", err)
	}
	rsaKeys, err := ParseRSAKeys([]byte(testRSAKey))
	if err != nil {
		t.Fatal(err)
	}
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	claims := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"u","jti":"x","exp":9999999999,"perm":"ADMIN"}`))
	for name, tc := range map[string]struct {
		token string
		want  error
	}{
		"empty":           {"", ErrNoToken},
		"expired":         {sign(t, keys, time.Now().Add(-time.Minute)), ErrExpired},
		"another key":     {sign(t, testKeys(t), time.Now().Add(time.Hour)), ErrBadToken},
		"another cluster": {sign(t, keys, time.Now().Add(time.Hour), "c2"), ErrAudience},
		"alg none":        {header + "." + claims + ".", ErrBadToken},
		"RS256 for HS256": {sign(t, rsaKeys, time.Now().Add(time.Hour)), ErrBadToken},
		"malformed":       {"a.b.c", ErrBadToken},
		"huge":            {strings.Repeat("x", maxTokenSize+1), ErrBadToken},
	} {
		if _, err := v.Verify(tc.token); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		} else if Status(err) != http.StatusUnauthorized {
			t.Errorf("%s: status %d", name, Status(err))
		}
	}
	if _, err := v.Verify(sign(t, keys, time.Now().Add(time.Hour), "c2", "c1")); err != nil {
		t.Errorf("a token for two clusters: %v", err)
	}
	// A gateway whose clock is behind the service's takes its tokens.
	behind := NewVerifier(keys, VerifierOptions{Now: func() time.Time { return time.Now().Add(-30 * time.Second) }})
	if _, err := behind.Verify(sign(t, keys, time.Now().Add(time.Minute))); err != nil {
		t.Errorf("a token issued 30s ahead of the gateway's clock: %v", err)
	}
}

func TestRSAKeys(t *testing.T) {
	private, err := ParseRSAKeys([]byte(testRSAKey))
	if err != nil {
		t.Fatal(err)
	}
	public, err := ParseRSAKeys(private.PublicPEM())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := public.Sign(&Claims{}); err == nil {
		t.Error("a public key signed")
	}
	tok := sign(t, private, time.Now().Add(time.Hour))
	if _, err := NewVerifier(public, VerifierOptions{}).Verify(tok); err != nil {
		t.Errorf("RS256 verify with the public key: %v", err)
	}
	if _, err := NewSecretKeys([]byte("short")); err == nil {
		t.Error("a short secret was taken")
	}
}

func newTestService(t *testing.T, dir string, client *http.Client) *Service {
	t.Helper()
	s, err := NewService(Config{Keys: testServiceKeys, StateFile: filepath.Join(dir, "authn.json"), AdminName: "admin", AdminPassword: "secret-pass",
		Iterations: 1000, Client: client, PushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var testServiceKeys, _ = NewSecretKeys([]byte("0123456789abcdef0123456789abcdef-test"))

func do(t *testing.T, h http.Handler, method, path, bearer string, body any) (int, map[string]any) {
	t.Helper()
	var data []byte
	if body != nil {
		data, _ = json.Marshal(body)
	}
	req := httptest.NewRequest(method, path, strings.NewReader(string(data)))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	var out map[string]any
	json.Unmarshal(w.Body.Bytes(), &out)
	return w.Code, out
}

func TestServiceUsersRolesAndRevocation(t *testing.T) {
	dir := t.TempDir()
	var pushed []string
	var keys S3KeysMsg
	var mu sync.Mutex
	cluster := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := testServiceKeys.Parse(BearerToken(r)); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method == http.MethodDelete && r.URL.Path == ClusterTokensPath:
			var msg TokenMsg
			json.NewDecoder(r.Body).Decode(&msg)
			pushed = append(pushed, msg.Token)
		case r.Method == http.MethodPut && r.URL.Path == ClusterS3KeysPath:
			keys = S3KeysMsg{}
			json.NewDecoder(r.Body).Decode(&keys)
		default:
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	defer cluster.Close()
	s := newTestService(t, dir, cluster.Client())
	h := s.Handler()
	ctx := t.Context()
	go s.Run(ctx)

	if status, _ := do(t, h, http.MethodPost, "/v1/users/admin", "", LoginMsg{Password: "wrong"}); status != http.StatusUnauthorized {
		t.Fatalf("a wrong password: %d", status)
	}
	if status, _ := do(t, h, http.MethodPost, "/v1/users/nobody", "", LoginMsg{Password: "x"}); status != http.StatusUnauthorized {
		t.Fatalf("an unknown user: %d", status)
	}
	status, out := do(t, h, http.MethodPost, "/v1/users/admin", "", LoginMsg{Password: "secret-pass"})
	admin, _ := out["token"].(string)
	if status != http.StatusOK || admin == "" {
		t.Fatalf("admin login: %d %v", status, out)
	}
	if status, _ := do(t, h, http.MethodPost, "/v1/roles", admin, Role{ID: "b-writer", Buckets: map[string]Perm{"ais://b": PermPut | PermGet}}); status != http.StatusCreated {
		t.Fatalf("add role: %d", status)
	}
	if status, _ := do(t, h, http.MethodPost, "/v1/users", admin, User{ID: "alice", Password: "pw", Roles: []string{RoleReadOnly, "b-writer"}}); status != http.StatusCreated {
		t.Fatalf("add user: %d", status)
	}
	for name, body := range map[string]User{
		"no password":  {ID: "bob"},
		"unknown role": {ID: "bob", Password: "x", Roles: []string{"wizard"}},
		"path in id":   {ID: "../bob", Password: "x"},
	} {
		if status, out := do(t, h, http.MethodPost, "/v1/users", admin, body); status != http.StatusBadRequest {
			t.Errorf("%s: %d %v", name, status, out)
		}
	}
	status, out = do(t, h, http.MethodPost, "/v1/users/alice", "", map[string]any{"password": "pw", "expires_in": "1h", "cluster_id": "c1"})
	alice, _ := out["token"].(string)
	if status != http.StatusOK {
		t.Fatalf("alice login: %d %v", status, out)
	}
	c, err := NewVerifier(testServiceKeys, VerifierOptions{Cluster: func() string { return "c1" }}).Verify(alice)
	if err != nil || !c.Allows(PermPut, "ais://b") || c.Allows(PermPut, "ais://c") || !c.Allows(PermGet, "ais://c") || c.Audience[0] != "c1" {
		t.Fatalf("alice's grants: %+v %v", c, err)
	}
	if left := time.Until(c.ExpiresAt.Time); left > time.Hour || left < 59*time.Minute {
		t.Errorf("expires_in 1h: %s left", left)
	}
	if status, _ := do(t, h, http.MethodGet, "/v1/users", alice, nil); status != http.StatusForbidden {
		t.Errorf("a user lists users: %d", status)
	}
	if status, _ := do(t, h, http.MethodPost, "/v1/users/alice", "", map[string]any{"password": "pw", "expires_in": "1ns"}); status != http.StatusBadRequest {
		t.Fatalf("expires_in 1ns: %d, want 400", status)
	}
	if status, _ := do(t, h, http.MethodPost, "/v1/users/alice", "", map[string]any{"password": "pw", "expires_in": "8760h"}); status != http.StatusBadRequest {
		t.Errorf("a year-long token: %d", status)
	}
	// Refused before the password is checked: a wrong one is refused the
	// same (a right one is not told apart without a token issued).
	if status, _ := do(t, h, http.MethodPost, "/v1/users/alice", "", map[string]any{"password": "wrong", "expires_in": "8760h"}); status != http.StatusBadRequest {
		t.Errorf("a year-long token with a wrong password: %d, want 400 as with the right one", status)
	}
	// Without its uuid, a cluster's gateways would refuse every push
	// (they take tokens naming their uuid only): refused.
	if status, out := do(t, h, http.MethodPost, "/v1/clusters", admin, Cluster{Alias: "prod", URLs: []string{cluster.URL}}); status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out), "uuid") {
		t.Fatalf("register a cluster by its alias only: %d %v", status, out)
	}
	if status, _ := do(t, h, http.MethodPost, "/v1/clusters", admin, Cluster{ID: "c1", URLs: []string{cluster.URL}}); status != http.StatusCreated {
		t.Fatalf("register cluster: %d", status)
	}
	// A logout: alice revokes her own token; it reaches the cluster.
	if status, out := do(t, h, http.MethodDelete, "/v1/tokens", alice, TokenMsg{Token: alice}); status != http.StatusOK {
		t.Fatalf("logout: %d %v", status, out)
	}
	if status, _ := do(t, h, http.MethodDelete, "/v1/tokens", alice, TokenMsg{Token: admin}); status != http.StatusUnauthorized {
		t.Errorf("a revoked token revokes another: %d", status)
	}
	// A token signed with the service's keys but never issued (minted
	// by a holder of the HS256 secret) logs nothing out.
	minted := sign(t, testServiceKeys, time.Now().Add(24*time.Hour))
	if status, _ := do(t, h, http.MethodDelete, "/v1/tokens", minted, TokenMsg{Token: minted}); status != http.StatusForbidden {
		t.Errorf("a logout with a token the service never issued: %d, want 403", status)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(pushed)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the revocation was not pushed to the cluster")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if pushed[0] != alice {
		t.Fatal("another token was pushed")
	}
	// An S3 key of alice's, made by alice, reaches the cluster with a
	// token of her grants; deleting it takes it away and revokes that.
	status, out = do(t, h, http.MethodPost, "/v1/users/admin/s3-keys", mustLogin(t, h, "alice", "pw"), nil)
	if status != http.StatusForbidden {
		t.Fatalf("alice makes a key of the admin's: %d %v", status, out)
	}
	status, out = do(t, h, http.MethodPost, "/v1/users/alice/s3-keys", mustLogin(t, h, "alice", "pw"), nil)
	access, _ := out["access_key"].(string)
	if status != http.StatusCreated || len(access) < 16 || out["secret_key"] == "" {
		t.Fatalf("alice makes her key: %d %v", status, out)
	}
	keyOf := func() *S3Key {
		mu.Lock()
		defer mu.Unlock()
		for _, k := range keys.Keys {
			if k.AccessKey == access {
				return &k
			}
		}
		return nil
	}
	deadline = time.Now().Add(5 * time.Second)
	for keyOf() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	pushedKey := keyOf()
	if pushedKey == nil || pushedKey.Secret != out["secret_key"] {
		t.Fatal("the S3 key did not reach the cluster")
	}
	// Alice sees her keys' access ids (not their secrets), not another's.
	status, self := do(t, h, http.MethodGet, "/v1/users/alice", mustLogin(t, h, "alice", "pw"), nil)
	if status != http.StatusOK || fmt.Sprint(self["s3_keys"]) != "["+access+"]" || strings.Contains(fmt.Sprint(self), pushedKey.Secret) || self["password"] != nil && self["password"] != "" {
		t.Fatalf("alice shows herself: %d %v", status, self)
	}
	if status, other := do(t, h, http.MethodGet, "/v1/users/admin", mustLogin(t, h, "alice", "pw"), nil); status != http.StatusForbidden {
		t.Fatalf("alice shows the admin: %d %v", status, other)
	}
	if status, _ := do(t, h, http.MethodGet, "/v1/users/alice", "", nil); status != http.StatusUnauthorized {
		t.Fatalf("an anonymous caller shows alice: %d", status)
	}
	if kc, err := NewVerifier(testServiceKeys, VerifierOptions{}).Verify(pushedKey.Token); err != nil || kc.Subject != "alice" || !kc.Allows(PermPut, "ais://b") {
		t.Fatalf("the S3 key's token: %+v %v", kc, err)
	}
	if status, _ := do(t, h, http.MethodDelete, "/v1/s3-keys/"+access, admin, nil); status != http.StatusOK {
		t.Fatalf("delete the S3 key: %d", status)
	}
	deadline = time.Now().Add(5 * time.Second)
	for keyOf() != nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if keyOf() != nil {
		t.Fatal("the deleted S3 key is still on the cluster")
	}
	if kc, _ := testServiceKeys.Parse(pushedKey.Token); !s.isRevoked(kc.ID) {
		t.Fatal("the deleted S3 key's token is not revoked")
	}

	// The state survives a restart: users, roles, the revocation.
	again := newTestService(t, dir, cluster.Client())
	if _, err := again.Login("alice", "pw", 0, ""); err != nil {
		t.Fatalf("alice after a restart: %v", err)
	}
	if !again.isRevoked(c.ID) {
		t.Fatal("the revocation was lost in the restart")
	}
	if status, _ := do(t, h, http.MethodDelete, "/v1/users/admin", admin, nil); status != http.StatusBadRequest {
		t.Errorf("removing the last admin: %d", status)
	}
}

func mustLogin(t *testing.T, h http.Handler, user, password string) string {
	t.Helper()
	status, out := do(t, h, http.MethodPost, "/v1/users/"+user, "", LoginMsg{Password: password})
	token, _ := out["token"].(string)
	if status != http.StatusOK || token == "" {
		t.Fatalf("login %s: %d %v", user, status, out)
	}
	return token
}

func TestServiceNeedsFirstAdmin(t *testing.T) {
	_, err := NewService(Config{Keys: testServiceKeys, StateFile: filepath.Join(t.TempDir(), "s.json")})
	if err == nil || !strings.Contains(err.Error(), "AIS_AUTHN_SU_NAME") {
		t.Fatalf("no first admin: %v", err)
	}
}

// FuzzVerify: no token, however malformed, panics or verifies.
func FuzzVerify(f *testing.F) {
	keys := testKeys(f)
	f.Add(sign(f, keys, time.Now().Add(time.Hour)))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Add("")
	v := NewVerifier(keys, VerifierOptions{Cluster: func() string { return "c" }})
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(token)
		if err == nil && (c.Subject != "u" || c.ID == "") {
			t.Fatalf("a forged token verified: %q", token)
		}
		if err != nil && Status(err) != http.StatusUnauthorized {
			t.Fatalf("status %d for %v", Status(err), err)
		}
		ParsePerm(token)
	})
}

// testRSAKey is a PEM RSA private key made for the tests.
var testRSAKey = func() string {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
}()

// A user's logins and logouts are bounded together: a logout's revocation
// stays on every cluster's list until the token expires, and a user
// logging in and out in a loop would fill the lists (capped for all) so
// that no revocation, an admin's included, was taken any more.
func TestLoginsAndLogoutsAreBoundedPerUser(t *testing.T) {
	s := newTestService(t, t.TempDir(), nil)
	h := s.Handler()
	admin := mustLogin(t, h, "admin", "secret-pass")
	if status, _ := do(t, h, http.MethodPost, "/v1/users", admin, User{ID: "carol", Password: "pw"}); status != http.StatusCreated {
		t.Fatalf("add carol: %d", status)
	}
	token := mustLogin(t, h, "carol", "pw")
	if status, out := do(t, h, http.MethodDelete, "/v1/tokens", token, TokenMsg{Token: token}); status != http.StatusOK {
		t.Fatalf("carol's logout: %d %v", status, out)
	}
	// As after maxIssued-2 more logins and logouts.
	s.mu.Lock()
	expires := s.cfg.Now().Add(time.Hour).Unix()
	for i := range maxIssued - 2 {
		s.st.Revoked[fmt.Sprintf("logged-out-%d", i)] = revokedToken{Token: "t", Expires: expires, LoggedOut: "carol"}
	}
	s.mu.Unlock()
	mustLogin(t, h, "carol", "pw") // the last one
	status, out := do(t, h, http.MethodPost, "/v1/users/carol", "", LoginMsg{Password: "pw"})
	if status != http.StatusTooManyRequests || !strings.Contains(fmt.Sprint(out["message"]), "tokens that have not expired") {
		t.Fatalf("a login past carol's tokens alive: %d %v, want 429", status, out)
	}
	// Another user logs in all the same.
	mustLogin(t, h, "admin", "secret-pass")
}

// What a user may do is what its tokens say only while it is so: changing
// its grants or password, or deleting it, revokes every token it has (its
// S3 keys are issued again with its grants as they are).
// A permission sent as "Perm" (any case, as JSON decoding takes it) is
// applied like "perm": not dropped while the answer says 200.
func TestUserPermInAnyCaseIsApplied(t *testing.T) {
	s := newTestService(t, t.TempDir(), nil)
	h := s.Handler()
	admin := mustLogin(t, h, "admin", "secret-pass")
	if status, _ := do(t, h, http.MethodPost, "/v1/users", admin, User{ID: "bob", Password: "pw", Perm: PermAdmin}); status != http.StatusCreated {
		t.Fatalf("add bob: %d", status)
	}
	bob := mustLogin(t, h, "bob", "pw")
	if status, out := do(t, h, http.MethodPut, "/v1/users/bob", admin, map[string]any{"Perm": ""}); status != http.StatusOK {
		t.Fatalf("demote bob: %d %v", status, out)
	}
	s.mu.Lock()
	perm := s.st.Users["bob"].Perm
	s.mu.Unlock()
	if perm.Has(PermAdmin) {
		t.Fatalf("bob after {\"Perm\": \"\"}: %v, want no ADMIN", perm)
	}
	if status, _ := do(t, h, http.MethodGet, "/v1/users", bob, nil); status != http.StatusUnauthorized {
		t.Fatalf("bob's token from before his demotion lists users: %d", status)
	}
	// A token to revoke that is no token is the request's fault, not the
	// caller's login: 400.
	if status, out := do(t, h, http.MethodDelete, "/v1/tokens", admin, TokenMsg{Token: "not-a-token"}); status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["message"]), "the token to revoke") {
		t.Fatalf("revoke a malformed token: %d %v, want 400 naming the token to revoke", status, out)
	}
}

func TestServiceRevokesTokensOfAChangedUser(t *testing.T) {
	s := newTestService(t, t.TempDir(), nil)
	h := s.Handler()
	admin := mustLogin(t, h, "admin", "secret-pass")
	if status, _ := do(t, h, http.MethodPost, "/v1/users", admin, User{ID: "bob", Password: "pw", Perm: PermAdmin}); status != http.StatusCreated {
		t.Fatalf("add bob: %d", status)
	}
	first, second := mustLogin(t, h, "bob", "pw"), mustLogin(t, h, "bob", "pw")
	status, out := do(t, h, http.MethodPost, "/v1/users/bob/s3-keys", admin, nil)
	access, _ := out["access_key"].(string)
	if status != http.StatusCreated {
		t.Fatalf("bob's key: %d %v", status, out)
	}
	keyToken := func() string { s.mu.Lock(); defer s.mu.Unlock(); return s.st.S3Keys[access].Token }
	before := keyToken()
	revoked := func(token string) bool { c, _ := testServiceKeys.Parse(token); return s.isRevoked(c.ID) }
	// A day later (its key issued again keeps its end).
	s.mu.Lock()
	s.cfg.Now = func() time.Time { return time.Now().Add(24 * time.Hour) }
	s.mu.Unlock()
	// "perm": "" takes ADMIN away: a field sent is what the user gets.
	if status, out := do(t, h, http.MethodPut, "/v1/users/bob", admin, map[string]any{"perm": "", "roles": []string{RoleReadOnly}}); status != http.StatusOK {
		t.Fatalf("demote bob: %d %v", status, out)
	}
	if !revoked(first) || !revoked(second) || !revoked(before) {
		t.Fatalf("bob's tokens after his demotion: logins revoked %v %v, key's %v", revoked(first), revoked(second), revoked(before))
	}
	after := keyToken()
	kc, err := NewVerifier(testServiceKeys, VerifierOptions{Revoked: s.isRevoked}).Verify(after)
	if err != nil || kc.Perm.Has(PermAdmin) || !kc.Allows(PermGet, "ais://x") {
		t.Fatalf("bob's key after his demotion: %+v %v, want read-only", kc, err)
	}
	// Issued again, it keeps its end: a key lives a year from its making.
	if was, _ := testServiceKeys.Parse(before); !kc.ExpiresAt.Equal(was.ExpiresAt.Time) || kc.MadeWith != was.MadeWith || kc.MadeWith == "" {
		t.Fatalf("bob's key issued again ends %v made with %q, want %v made with %q", kc.ExpiresAt, kc.MadeWith, was.ExpiresAt, was.MadeWith)
	}
	if status, _ := do(t, h, http.MethodGet, "/v1/users", first, nil); status != http.StatusUnauthorized {
		t.Fatalf("a token of bob's from before his demotion lists users: %d", status)
	}
	// The same password sent again changes nothing: the key stays.
	if status, out := do(t, h, http.MethodPut, "/v1/users/bob", admin, map[string]any{"password": "pw"}); status != http.StatusOK {
		t.Fatalf("bob's password sent again: %d %v", status, out)
	}
	s.mu.Lock()
	_, kept := s.st.S3Keys[access]
	s.mu.Unlock()
	if !kept || revoked(after) {
		t.Fatalf("bob's S3 key after his password was sent again: kept %v, its token revoked %v", kept, revoked(after))
	}
	// A new password (the answer to a stolen one) takes his S3 keys: one
	// made with a stolen login would outlive it.
	if status, out := do(t, h, http.MethodPut, "/v1/users/bob", admin, map[string]any{"password": "new-pw"}); status != http.StatusOK {
		t.Fatalf("bob's new password: %d %v", status, out)
	}
	s.mu.Lock()
	_, kept = s.st.S3Keys[access]
	s.mu.Unlock()
	if kept || !revoked(after) {
		t.Fatalf("bob's S3 key after his password changed: kept %v, its token revoked %v", kept, revoked(after))
	}
	after = mustLogin(t, h, "bob", "new-pw")
	third := mustLogin(t, h, "bob", "new-pw")
	if status, _ := do(t, h, http.MethodDelete, "/v1/users/bob", admin, nil); status != http.StatusOK {
		t.Fatal("delete bob")
	}
	if !revoked(third) || !revoked(after) {
		t.Fatal("bob's tokens after his deletion are not revoked")
	}
	// Only an admin's token for every cluster administers the service:
	// not one for some clusters, nor the service's own push token.
	status, out = do(t, h, http.MethodPost, "/v1/users/admin", "", map[string]any{"password": "secret-pass", "cluster_id": "c1"})
	scoped, _ := out["token"].(string)
	if status != http.StatusOK {
		t.Fatalf("admin login for c1: %d", status)
	}
	service, err := s.issue(ServiceSubject, Grants{Perm: PermAdmin}, nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := do(t, h, http.MethodPost, "/v1/users", admin2(t, h), User{ID: "root", Password: "root-pass", Perm: PermAdmin}); status != http.StatusCreated {
		t.Fatal("add root")
	}
	for name, token := range map[string]string{"for c1": scoped, "the service's": service} {
		if status, _ := do(t, h, http.MethodGet, "/v1/users", token, nil); status != http.StatusForbidden {
			t.Errorf("an admin token %s administers the service: %d", name, status)
		}
		// Nor another user's S3 keys or tokens: a key for a global
		// admin would be one for every cluster.
		if status, out := do(t, h, http.MethodPost, "/v1/users/root/s3-keys", token, nil); status != http.StatusForbidden {
			t.Errorf("an admin token %s makes an S3 key of another admin: %d %v", name, status, out)
		}
		if status, _ := do(t, h, http.MethodDelete, "/v1/tokens", token, map[string]any{"token": mustLogin(t, h, "root", "root-pass")}); status != http.StatusForbidden {
			t.Errorf("an admin token %s revokes another admin's token: %d", name, status)
		}
	}
	// Its own key, with a token for c1: a key for c1 only.
	status, out = do(t, h, http.MethodPost, "/v1/users/admin/s3-keys", scoped, nil)
	access, _ = out["access_key"].(string)
	if status != http.StatusCreated {
		t.Fatalf("admin's own key with its token for c1: %d %v", status, out)
	}
	if kc, err := testServiceKeys.Parse(keyToken()); err != nil || !slices.Equal(kc.Audience, jwt.ClaimStrings{"c1"}) {
		t.Fatalf("a key made with a token for c1 is for %v (%v), want c1 only", kc.Audience, err)
	}
}

// admin2 logs in as the global admin again.
func admin2(t *testing.T, h http.Handler) string { return mustLogin(t, h, "admin", "secret-pass") }

// A PEM key given as an HS256 secret is refused: anyone with the public
// key could sign tokens with it.
func TestSecretIsNotAPEMKey(t *testing.T) {
	if _, err := NewSecretKeys([]byte(testRSAKey)); err == nil || !strings.Contains(err.Error(), "PEM") {
		t.Fatalf("a PEM key as the secret: %v", err)
	}
}

// A login that checks its password while the user is deleted gets no
// token that outlives the deletion: the change is seen before the token
// is issued and kept.
func TestLoginRacingADeleteGetsNoLiveToken(t *testing.T) {
	s, err := NewService(Config{Keys: testServiceKeys, StateFile: filepath.Join(t.TempDir(), "authn.json"), AdminName: "admin", AdminPassword: "secret-pass",
		Iterations: 1_000_000, PushInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	admin := mustLogin(t, h, "admin", "secret-pass")
	if status, _ := do(t, h, http.MethodPost, "/v1/users", admin, User{ID: "carol", Password: "pw", Perm: PermAdmin}); status != http.StatusCreated {
		t.Fatal("add carol")
	}
	type result struct {
		token string
		err   error
	}
	done := make(chan result, 1)
	go func() {
		token, err := s.Login("carol", "pw", 0, "")
		done <- result{token, err}
	}()
	time.Sleep(50 * time.Millisecond) // while the password is checked
	if status, _ := do(t, h, http.MethodDelete, "/v1/users/carol", admin, nil); status != http.StatusOK {
		t.Fatal("delete carol")
	}
	r := <-done
	if r.err != nil {
		return
	}
	if _, err := NewVerifier(testServiceKeys, VerifierOptions{Revoked: s.isRevoked}).Verify(r.token); err == nil {
		t.Fatal("a login that raced the user's deletion got a token that is not revoked")
	}
}

// An S3 key's token (pushed to the key's clusters, kept in their state)
// acts on clusters only: it neither administers the service nor acts as
// its user there. A key goes only to the clusters it is for.
// fakeClusters are registered clusters' gateways that record the S3 keys
// and revocations the service pushes them.
type fakeClusters struct {
	mu        sync.Mutex
	ids       []string
	urls      []string
	received  map[string][]S3Key // by cluster
	revokedAt map[string][]string
	pushes    map[string]int
}

func newFakeClusters(t *testing.T, ids ...string) *fakeClusters {
	fc := &fakeClusters{ids: ids, received: map[string][]S3Key{}, revokedAt: map[string][]string{}, pushes: map[string]int{}}
	for _, id := range ids {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodPut && r.URL.Path == ClusterS3KeysPath:
				var msg S3KeysMsg
				json.NewDecoder(r.Body).Decode(&msg)
				fc.mu.Lock()
				fc.received[id] = msg.Keys
				fc.pushes[id]++
				fc.mu.Unlock()
			case r.Method == http.MethodDelete && r.URL.Path == ClusterTokensPath:
				var msg TokenMsg
				json.NewDecoder(r.Body).Decode(&msg)
				fc.mu.Lock()
				fc.revokedAt[id] = append(fc.revokedAt[id], msg.Token)
				fc.mu.Unlock()
			}
		}))
		t.Cleanup(srv.Close)
		fc.urls = append(fc.urls, srv.URL)
	}
	return fc
}

// service starts a service that pushes to the clusters, registered, and
// returns it, its handler and an admin's token.
func (fc *fakeClusters) service(t *testing.T) (*Service, http.Handler, string) {
	s := newTestService(t, t.TempDir(), http.DefaultClient)
	h := s.Handler()
	go s.Run(t.Context())
	admin := admin2(t, h)
	for i, id := range fc.ids {
		if status, out := do(t, h, http.MethodPost, "/v1/clusters", admin, Cluster{ID: id, URLs: []string{fc.urls[i]}}); status != http.StatusCreated {
			t.Fatalf("register %s: %d %v", id, status, out)
		}
	}
	return s, h, admin
}

func TestS3KeyTokenDoesNotAdministerTheService(t *testing.T) {
	fc := newFakeClusters(t, "c1", "c2")
	mu, received, revokedAt, pushes := &fc.mu, fc.received, fc.revokedAt, fc.pushes
	s, h, admin := fc.service(t)
	status, out := do(t, h, http.MethodPost, "/v1/users/admin/s3-keys", admin, map[string]string{"cluster_id": "c1"})
	access, _ := out["access_key"].(string)
	if status != http.StatusCreated {
		t.Fatalf("admin's S3 key: %d %v", status, out)
	}
	s.mu.Lock()
	keyToken := s.st.S3Keys[access].Token // the key's own, for every cluster
	s.mu.Unlock()
	if status, _ := do(t, h, http.MethodGet, "/v1/users", keyToken, nil); status != http.StatusForbidden {
		t.Fatalf("an admin's S3 key token lists users: %d", status)
	}
	if status, _ := do(t, h, http.MethodPost, "/v1/users", keyToken, User{ID: "x", Password: "p", Roles: []string{RoleAdmin}}); status != http.StatusForbidden {
		t.Fatalf("an admin's S3 key token adds an admin: %d", status)
	}
	if status, _ := do(t, h, http.MethodPost, "/v1/users/admin/s3-keys", keyToken, nil); status != http.StatusForbidden {
		t.Fatalf("an S3 key token makes another key: %d", status)
	}
	// alice's key is for c2: c1 never gets it.
	if status, _ := do(t, h, http.MethodPost, "/v1/users", admin, User{ID: "alice", Password: "pw", Perm: ReadOnly, Clusters: []string{"c2"}}); status != http.StatusCreated {
		t.Fatal("add alice")
	}
	status, out = do(t, h, http.MethodPost, "/v1/users/alice/s3-keys", mustLogin(t, h, "alice", "pw"), nil)
	aliceKey, _ := out["access_key"].(string)
	if status != http.StatusCreated {
		t.Fatalf("alice's key: %d %v", status, out)
	}
	has := func(cluster, access string) bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.ContainsFunc(received[cluster], func(k S3Key) bool { return k.AccessKey == access })
	}
	deadline := time.Now().Add(10 * time.Second)
	for !has("c2", aliceKey) {
		if time.Now().After(deadline) {
			t.Fatal("c2 did not get alice's key")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if has("c1", aliceKey) {
		t.Fatal("c1 got alice's key, which is for c2 only")
	}
	// A revoked token of alice's (for c2) goes to c2 only.
	aliceToken := mustLogin(t, h, "alice", "pw")
	mu.Lock()
	before := pushes["c1"]
	mu.Unlock()
	if status, out := do(t, h, http.MethodDelete, "/v1/tokens", admin, map[string]any{"token": aliceToken}); status != http.StatusOK {
		t.Fatalf("revoke alice's token: %d %v", status, out)
	}
	pushed := func() (c1, c2 bool, c1Pushed bool) {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(revokedAt["c1"], aliceToken), slices.Contains(revokedAt["c2"], aliceToken), pushes["c1"] > before
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c1, c2, c1Pushed := pushed()
		if c1 {
			t.Fatal("c1 got alice's revoked token, which was for c2 only")
		}
		if c2 && c1Pushed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the revocation was not pushed: c2 has it %v, c1 pushed since %v", c2, c1Pushed)
		}
	}
}

// An S3 key of a user of every cluster works on one: made without naming
// it (two registered), it is refused; named, only that cluster gets it,
// with a token for that cluster alone (its secret, which the cluster
// keeps, and its token let one cluster's operators act on no other), the
// same one at each push; deleting the key revokes it there.
func TestS3KeyTokenIsPerCluster(t *testing.T) {
	fc := newFakeClusters(t, "c1", "c2")
	mu, received, revokedAt := &fc.mu, fc.received, fc.revokedAt
	s, h, admin := fc.service(t)
	if status, out := do(t, h, http.MethodPost, "/v1/users/admin/s3-keys", admin, nil); status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["message"]), "cluster_id") {
		t.Fatalf("a key of a user of two clusters, none named: %d %v, want 400 asking for cluster_id", status, out)
	}
	if status, out := do(t, h, http.MethodPost, "/v1/users/admin/s3-keys", admin, map[string]string{"cluster_id": "c3"}); status != http.StatusNotFound {
		t.Fatalf("a key for a cluster not registered: %d %v, want 404", status, out)
	}
	status, out := do(t, h, http.MethodPost, "/v1/users/admin/s3-keys", admin, map[string]string{"cluster_id": "c2"})
	access, _ := out["access_key"].(string)
	if status != http.StatusCreated || out["cluster_id"] != "c2" {
		t.Fatalf("admin's S3 key for c2: %d %v", status, out)
	}
	tokenAt := func(cluster string) string {
		mu.Lock()
		defer mu.Unlock()
		for _, k := range received[cluster] {
			if k.AccessKey == access {
				return k.Token
			}
		}
		return ""
	}
	deadline := time.Now().Add(10 * time.Second)
	for tokenAt("c2") == "" {
		if time.Now().After(deadline) {
			t.Fatal("c2 did not get the key")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.pushAll(t.Context())
	if tokenAt("c1") != "" {
		t.Fatal("c1 got the key made for c2")
	}
	s.mu.Lock()
	ownToken := s.st.S3Keys[access].Token
	own, _ := s.cfg.Keys.Parse(ownToken)
	_, ownRevoked := s.st.Revoked[own.ID]
	s.mu.Unlock()
	if ownRevoked {
		t.Fatal("the own token of a key made with tokens per cluster was revoked (pushed everywhere)")
	}
	tokens := map[string]string{}
	for _, id := range []string{"c2"} {
		tokens[id] = tokenAt(id)
		c, err := s.cfg.Keys.Parse(tokens[id])
		if err != nil || !slices.Equal([]string(c.Audience), []string{id}) {
			t.Fatalf("the key's token at %s: audience %v (%v), want [%s] alone", id, c.Audience, err, id)
		}
		// It names the login it was made with: a cluster that revokes
		// that login refuses the key.
		if login, _ := s.cfg.Keys.Parse(admin); c.MadeWith == "" || c.MadeWith != login.ID {
			t.Fatalf("the key's token at %s was made with %q, want the admin's login %q", id, c.MadeWith, login.ID)
		}
	}
	// Pushed again (a change): the same token each.
	if status, _ := do(t, h, http.MethodPost, "/v1/users", admin, User{ID: "bob", Password: "pw", Perm: ReadOnly}); status != http.StatusCreated {
		t.Fatal("add bob")
	}
	s.pushAll(t.Context())
	for _, id := range []string{"c1", "c2"} {
		if got := tokenAt(id); got != tokens[id] {
			t.Fatalf("%s got another token for the same key at the next push", id)
		}
	}
	if status, out := do(t, h, http.MethodDelete, "/v1/s3-keys/"+access, admin, nil); status != http.StatusOK && status != http.StatusNoContent {
		t.Fatalf("delete the key: %d %v", status, out)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		done := slices.Contains(revokedAt["c2"], tokens["c2"])
		leaked := slices.Contains(revokedAt["c1"], tokens["c2"])
		mu.Unlock()
		if leaked {
			t.Fatal("a cluster got another cluster's token of the key in a revocation")
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the key's token was not revoked at its cluster")
		}
	}
	// Its own token, which no cluster had, takes no place on their lists
	// (each key deleted would take two), yet counts for the user's bound.
	s.pushAll(t.Context())
	mu.Lock()
	listed := slices.Contains(revokedAt["c1"], ownToken) || slices.Contains(revokedAt["c2"], ownToken)
	mu.Unlock()
	s.mu.Lock()
	counted := s.st.Revoked[own.ID].KeyOf == "admin"
	s.mu.Unlock()
	if listed || !counted {
		t.Fatalf("the deleted key's own token: on a cluster's list %v, counted for its user %v; want not listed, counted", listed, counted)
	}
}

// An S3 key of a user of some clusters (its token for them all) goes to
// the one it works on with a token for that cluster alone: the whole
// token in one cluster's state would let its operators act as the user
// on the others.
func TestS3KeyOfAUserOfSomeClustersTakesATokenForOne(t *testing.T) {
	fc := newFakeClusters(t, "c1", "c2")
	s, h, admin := fc.service(t)
	if status, out := do(t, h, http.MethodPost, "/v1/users", admin, User{ID: "alice", Password: "pw", Perm: ReadOnly, Clusters: []string{"c1", "c2"}}); status != http.StatusCreated {
		t.Fatalf("add alice: %d %v", status, out)
	}
	status, out := do(t, h, http.MethodPost, "/v1/users/alice/s3-keys", mustLogin(t, h, "alice", "pw"), map[string]string{"cluster_id": "c1"})
	access, _ := out["access_key"].(string)
	if status != http.StatusCreated {
		t.Fatalf("alice's key for c1: %d %v", status, out)
	}
	s.pushAll(t.Context())
	fc.mu.Lock()
	var token string
	for _, k := range fc.received["c1"] {
		if k.AccessKey == access {
			token = k.Token
		}
	}
	leaked := slices.ContainsFunc(fc.received["c2"], func(k S3Key) bool { return k.AccessKey == access })
	fc.mu.Unlock()
	c, err := s.cfg.Keys.Parse(token)
	if err != nil || !slices.Equal([]string(c.Audience), []string{"c1"}) || leaked {
		t.Fatalf("the key's token at c1: audience %v (%v), at c2 too %v; want [c1] alone", c.Audience, err, leaked)
	}
	// Its own token, for both (pushed whole before tokens per cluster):
	// revoked.
	s.mu.Lock()
	own, _ := s.cfg.Keys.Parse(s.st.S3Keys[access].Token)
	_, revoked := s.st.Revoked[own.ID]
	s.mu.Unlock()
	if !revoked {
		t.Fatal("the key's own token, naming both clusters, is not revoked once it has one for its cluster")
	}
	// That token revoked (leaked from the cluster): the key goes, not
	// made a token again at a change of its user.
	if status, out := do(t, h, http.MethodDelete, "/v1/tokens", admin, TokenMsg{Token: token}); status != http.StatusOK {
		t.Fatalf("revoke the key's token: %d %v", status, out)
	}
	if status, out := do(t, h, http.MethodPut, "/v1/users/alice", admin, User{ID: "alice", Perm: ReadOnly | PermPut, Clusters: []string{"c1", "c2"}}); status != http.StatusOK {
		t.Fatalf("change alice: %d %v", status, out)
	}
	s.mu.Lock()
	_, kept := s.st.S3Keys[access]
	s.mu.Unlock()
	if kept {
		t.Fatal("the key whose token was revoked is kept (a change of its user made it a token again)")
	}
}

// A key not bound to a cluster (made before any was registered, or kept
// from before keys were bound) is bound at its next push to the one
// registered cluster its user may use; one of several goes to each, as it
// did, rather than stop working on all but one.
func TestUnboundS3KeyIsBoundAtItsPush(t *testing.T) {
	fc := newFakeClusters(t, "c1", "c2")
	s, h, admin := fc.service(t)
	if status, _ := do(t, h, http.MethodPost, "/v1/users", admin, User{ID: "alice", Password: "pw", Perm: ReadOnly, Clusters: []string{"c2"}}); status != http.StatusCreated {
		t.Fatal("add alice")
	}
	made := map[string]string{}
	for user, body := range map[string]any{"admin": map[string]string{"cluster_id": "c2"}, "alice": nil} {
		status, out := do(t, h, http.MethodPost, "/v1/users/"+user+"/s3-keys", admin, body)
		if made[user], _ = out["access_key"].(string); status != http.StatusCreated {
			t.Fatalf("%s's S3 key: %d %v", user, status, out)
		}
	}
	s.mu.Lock()
	for _, access := range made {
		s.st.S3Keys[access].Cluster = "" // as a key kept before
	}
	s.changed() // the service's pusher takes it (one push at a time)
	s.mu.Unlock()
	at := func(cluster, access string) bool {
		fc.mu.Lock()
		defer fc.mu.Unlock()
		return slices.ContainsFunc(fc.received[cluster], func(k S3Key) bool { return k.AccessKey == access })
	}
	for deadline := time.Now().Add(10 * time.Second); !(at("c1", made["admin"]) && at("c2", made["alice"])) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	s.mu.Lock()
	aliceBound, adminBound := s.st.S3Keys[made["alice"]].Cluster, s.st.S3Keys[made["admin"]].Cluster
	s.mu.Unlock()
	if aliceBound != "c2" || !at("c2", made["alice"]) || at("c1", made["alice"]) {
		t.Fatalf("alice's unbound key (she may use c2): bound to %q, at c2 %v, at c1 %v; want bound to c2 and there alone", aliceBound, at("c2", made["alice"]), at("c1", made["alice"]))
	}
	if adminBound != "" || !at("c1", made["admin"]) || !at("c2", made["admin"]) {
		t.Fatalf("admin's unbound key of two clusters: bound to %q, at c1 %v, at c2 %v; want unbound, at both", adminBound, at("c1", made["admin"]), at("c2", made["admin"]))
	}
}

// A key bound to a cluster its user may no longer use, or to a cluster
// deleted, goes: it would be listed and counted, working nowhere.
func TestS3KeyGoesWithItsCluster(t *testing.T) {
	fc := newFakeClusters(t, "c1", "c2")
	s, h, admin := fc.service(t)
	if status, _ := do(t, h, http.MethodPost, "/v1/users", admin, User{ID: "alice", Password: "pw", Perm: ReadOnly, Clusters: []string{"c1"}}); status != http.StatusCreated {
		t.Fatal("add alice")
	}
	key := func(user string, body any) string {
		status, out := do(t, h, http.MethodPost, "/v1/users/"+user+"/s3-keys", admin, body)
		access, _ := out["access_key"].(string)
		if status != http.StatusCreated {
			t.Fatalf("%s's S3 key: %d %v", user, status, out)
		}
		return access
	}
	alice, adminKey := key("alice", nil), key("admin", map[string]string{"cluster_id": "c2"})
	if status, out := do(t, h, http.MethodPut, "/v1/users/alice", admin, map[string]any{"clusters": []string{"c2"}}); status != http.StatusOK {
		t.Fatalf("move alice to c2: %d %v", status, out)
	}
	if status, out := do(t, h, http.MethodDelete, "/v1/clusters/c2", admin, nil); status != http.StatusOK {
		t.Fatalf("delete c2: %d %v", status, out)
	}
	s.mu.Lock()
	_, aliceLeft := s.st.S3Keys[alice]
	_, adminLeft := s.st.S3Keys[adminKey]
	s.mu.Unlock()
	if aliceLeft || adminLeft {
		t.Fatalf("keys left: alice's for c1 after she moved to c2 %v, admin's for c2 after it was deleted %v; want both gone", aliceLeft, adminLeft)
	}
}

// A key's token for a cluster from before tokens named their login is
// made again with it (its end kept), and the one the cluster had is
// revoked: a cluster that revokes the login with its keys knows the key.
func TestKeyTokenWithoutItsLoginIsMadeAgain(t *testing.T) {
	fc := newFakeClusters(t, "c1")
	s, h, admin := fc.service(t)
	status, out := do(t, h, http.MethodPost, "/v1/users/admin/s3-keys", admin, nil)
	access, _ := out["access_key"].(string)
	if status != http.StatusCreated {
		t.Fatalf("admin's S3 key: %d %v", status, out)
	}
	s.pushAll(t.Context())
	s.mu.Lock()
	k := s.st.S3Keys[access]
	kept, _ := s.cfg.Keys.Parse(k.ClusterTokens["c1"])
	// As an older version made it: the same, without made_with.
	old, err := s.issue(k.User, kept.Grants, []string{"c1"}, kept.ExpiresAt.Sub(s.cfg.Now()))
	k.ClusterTokens["c1"] = old
	s.changed()
	s.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	s.pushAll(t.Context())
	s.pushAll(t.Context()) // the revocation of the one replaced goes with the next
	fc.mu.Lock()
	var pushed string
	for _, key := range fc.received["c1"] {
		if key.AccessKey == access {
			pushed = key.Token
		}
	}
	revoked := slices.Contains(fc.revokedAt["c1"], old)
	fc.mu.Unlock()
	c, err := s.cfg.Keys.Parse(pushed)
	if err != nil || c.MadeWith == "" || !c.ExpiresAt.Equal(kept.ExpiresAt.Time) || !revoked {
		t.Fatalf("the key's token at c1: made with %q, ends %v (want %v), the old one revoked %v (%v)", c.MadeWith, c.ExpiresAt, kept.ExpiresAt, revoked, err)
	}
}

// The service keeps an admin for every cluster: the last one cannot be
// demoted by a role, limited to some clusters, or deleted. "authn", the
// service's own name in its tokens, is no user's.
func TestLastServiceAdminStays(t *testing.T) {
	s := newTestService(t, t.TempDir(), http.DefaultClient)
	h := s.Handler()
	admin := admin2(t, h)
	for _, change := range []map[string]any{{"roles": []string{RoleReadOnly}}, {"clusters": []string{"c1"}}} {
		if status, out := do(t, h, http.MethodPut, "/v1/users/admin", admin, change); status != http.StatusBadRequest {
			t.Fatalf("%v of the last admin: %d %v", change, status, out)
		}
	}
	if status, _ := do(t, h, http.MethodPost, "/v1/users", admin, User{ID: "limited", Password: "p", Roles: []string{RoleAdmin}, Clusters: []string{"c1"}}); status != http.StatusCreated {
		t.Fatal("add an admin of c1")
	}
	if status, _ := do(t, h, http.MethodDelete, "/v1/users/admin", admin, nil); status != http.StatusBadRequest {
		t.Fatalf("delete of the last admin for every cluster (an admin of c1 left): %d", status)
	}
	if status, out := do(t, h, http.MethodPost, "/v1/users", admin, User{ID: ServiceSubject, Password: "p", Perm: ReadOnly}); status != http.StatusBadRequest {
		t.Fatalf("a user named %q: %d %v", ServiceSubject, status, out)
	}
}

// Guessing a password slows down: after 5 failures of a user from one
// address each attempt waits (429, Retry-After), the right password too,
// while the same user from another address logs in; the wait passes.
func TestLoginGuessingIsThrottled(t *testing.T) {
	s := newTestService(t, t.TempDir(), http.DefaultClient)
	var mu sync.Mutex
	now := time.Now()
	s.cfg.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	h := s.Handler()
	login := func(password, remote string) *httptest.ResponseRecorder {
		body, _ := json.Marshal(LoginMsg{Password: password})
		req := httptest.NewRequest(http.MethodPost, "/v1/users/admin", strings.NewReader(string(body)))
		req.RemoteAddr = remote
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	for i := range 5 {
		if w := login("guess", "198.51.100.7:4000"); w.Code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, w.Code)
		}
	}
	w := login("secret-pass", "198.51.100.7:4001")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("a login after 5 failures from the address: %d %s", w.Code, w.Body)
	}
	if w := login("secret-pass", "203.0.113.9:5000"); w.Code != http.StatusOK {
		t.Fatalf("the user from another address: %d %s", w.Code, w.Body)
	}
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	if w := login("secret-pass", "198.51.100.7:4002"); w.Code != http.StatusOK {
		t.Fatalf("a login once the wait passed: %d %s", w.Code, w.Body)
	}
	// The success cleared the count: one more failure does not wait.
	login("guess", "198.51.100.7:4003")
	if w := login("secret-pass", "198.51.100.7:4004"); w.Code != http.StatusOK {
		t.Fatalf("a login after a success and one failure: %d", w.Code)
	}
}

// An address guessing under fresh names each time is throttled too: past
// its own free failures, of any users, its attempts wait, while another
// address logs in.
func TestLoginGuessingUnderFreshNamesIsThrottled(t *testing.T) {
	s := newTestService(t, t.TempDir(), nil)
	h := s.Handler()
	login := func(user, password, remote string) *httptest.ResponseRecorder {
		body, _ := json.Marshal(LoginMsg{Password: password})
		req := httptest.NewRequest(http.MethodPost, "/v1/users/"+user, strings.NewReader(string(body)))
		req.RemoteAddr = remote
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	for i := range freeAddressFailures {
		if w := login(fmt.Sprintf("u%d", i), "guess", "198.51.100.7:4000"); w.Code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %s", i, w.Code, w.Body)
		}
	}
	w := login("fresh", "guess", "198.51.100.7:4001")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "from this address") {
		t.Fatalf("a guess under a fresh name past the address's failures: %d %s", w.Code, w.Body)
	}
	if w := login("admin", "secret-pass", "203.0.113.9:5000"); w.Code != http.StatusOK {
		t.Fatalf("a login from another address: %d %s", w.Code, w.Body)
	}
}

// One address holds a few logins at once, waiting or checked: one more
// waits for one to end, and past a while is refused (429), not queued
// ahead of everyone's.
func TestLoginsOfOneAddressAreBounded(t *testing.T) {
	s := newTestService(t, t.TempDir(), nil)
	h := s.Handler()
	// Every password check slot taken: logins queue.
	for range cap(s.logins) {
		s.logins <- struct{}{}
	}
	login := func(remote string) *httptest.ResponseRecorder {
		body, _ := json.Marshal(LoginMsg{Password: "secret-pass"})
		req := httptest.NewRequest(http.MethodPost, "/v1/users/admin", strings.NewReader(string(body)))
		req.RemoteAddr = remote
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	var wg sync.WaitGroup
	codes := make([]int, maxAddressLogins)
	for i := range maxAddressLogins {
		wg.Go(func() { codes[i] = login(fmt.Sprintf("198.51.100.7:%d", 4000+i)).Code })
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		s.throttle.mu.Lock()
		queued := s.throttle.pending[addressKey("198.51.100.7:1")]
		s.throttle.mu.Unlock()
		if queued == maxAddressLogins {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d logins queued, want %d", queued, maxAddressLogins)
		}
	}
	// One more waits for one of them to end (not refused at once: logins
	// of many users behind one NAT at the same moment).
	var fifth int
	wg.Go(func() { fifth = login("198.51.100.7:4999").Code })
	time.Sleep(100 * time.Millisecond)
	for range cap(s.logins) {
		<-s.logins
	}
	wg.Wait()
	if fifth != http.StatusOK {
		t.Errorf("a login past the address's at once, once one ended: %d", fifth)
	}
	// Past the wait, it is refused.
	s.throttle.mu.Lock()
	s.throttle.pending[addressKey("198.51.100.7:1")] = maxAddressLogins
	s.throttle.mu.Unlock()
	if s.throttle.enter(t.Context(), addressKey("198.51.100.7:1"), 50*time.Millisecond) {
		t.Error("a login admitted past the address's at once, none ending")
	}
	// As many wait as may run; one more is refused at once, not queued.
	s.throttle.mu.Lock()
	s.throttle.waiting[addressKey("198.51.100.7:1")] = maxAddressLogins
	s.throttle.mu.Unlock()
	if s.throttle.enter(t.Context(), addressKey("198.51.100.7:1"), time.Hour) {
		t.Error("a login admitted past the address's waiting")
	}
	s.throttle.mu.Lock()
	delete(s.throttle.waiting, addressKey("198.51.100.7:1"))
	s.throttle.mu.Unlock()
	s.throttle.mu.Lock()
	delete(s.throttle.pending, addressKey("198.51.100.7:1"))
	s.throttle.mu.Unlock()
	for i, code := range codes {
		if code != http.StatusOK {
			t.Errorf("queued login %d: %d", i, code)
		}
	}
	if w := login("198.51.100.7:5000"); w.Code != http.StatusOK {
		t.Fatalf("a login once the others ended: %d %s", w.Code, w.Body)
	}
}

// An address's failures decay: the typos of many users behind one NAT,
// spread over time, do not add up to a lockout of them all.
func TestAddressFailuresDecay(t *testing.T) {
	var th loginThrottle
	now := time.Now()
	address := addressKey("198.51.100.7:4000")
	for range freeAddressFailures {
		th.failed(address, freeAddressFailures, addressDecay, now)
	}
	if th.wait(address, now) == 0 {
		t.Fatal("an address past its free failures at once does not wait")
	}
	now = now.Add(30 * time.Minute)
	th.failed(address, freeAddressFailures, addressDecay, now)
	if th.wait(address, now) != 0 {
		t.Fatal("an address's failures of half an hour ago still hold its logins")
	}
	// Failures closer together than the decay's interval still decay at
	// its rate: one every 29 s adds up no more than it goes.
	var steady loginThrottle
	for i := range 500 {
		now = now.Add(29 * time.Second)
		steady.failed(address, freeAddressFailures, addressDecay, now)
		if steady.wait(address, now) != 0 {
			t.Fatalf("a failure every 29 s holds the address's logins after %d of them", i+1)
		}
	}
}

// A flood of failed logins under fresh names does not set free a key
// being throttled: a full table evicts the keys with the fewest failures.
func TestThrottleKeepsItsKeysUnderAFlood(t *testing.T) {
	var th loginThrottle
	now := time.Now()
	guessed := throttleKey("admin", "198.51.100.7:4000")
	flood := func(n int) {
		for i := range n {
			now = now.Add(time.Microsecond)
			th.failed(throttleKey(fmt.Sprintf("u%d-%d", i, now.UnixNano()), "198.51.100.7:4000"), freeFailures, 0, now)
		}
	}
	flood(maxThrottled) // the table is full before the guessing starts
	for range freeFailures + 2 {
		th.failed(guessed, freeFailures, 0, now)
	}
	flood(200) // and takes new names during it
	if th.wait(guessed, now) == 0 {
		t.Fatal("the guessed user's throttle was forgotten under a flood of fresh names")
	}
	if len(th.failures) > maxThrottled {
		t.Fatalf("%d keys kept, at most %d", len(th.failures), maxThrottled)
	}
}

// A login names its cluster with an id (not 20 KB of anything: a token
// no one can verify nor revoke), and a token that cannot be revoked
// does not keep the user's others from being revoked.
func TestUserTokensAreRevokedPastOneThatDoesNotParse(t *testing.T) {
	s := newTestService(t, t.TempDir(), nil)
	h := s.Handler()
	admin := mustLogin(t, h, "admin", "secret-pass")
	if status, _ := do(t, h, http.MethodPost, "/v1/users", admin, User{ID: "dave", Password: "pw", Perm: PermAdmin}); status != http.StatusCreated {
		t.Fatal("add dave")
	}
	status, out := do(t, h, http.MethodPost, "/v1/users/dave", "", map[string]any{"password": "pw", "cluster_id": strings.Repeat("c", 20<<10)})
	if status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out), "cluster") {
		t.Fatalf("a login for a 20 KB cluster id: %d %.200v, want 400 naming the cluster", status, out)
	}
	good := mustLogin(t, h, "dave", "pw")
	s.mu.Lock()
	s.st.Issued["dave"] = append([]revokedToken{{Token: strings.Repeat("x", maxTokenSize+1), Expires: time.Now().Add(time.Hour).Unix()}}, s.st.Issued["dave"]...)
	s.mu.Unlock()
	if status, out := do(t, h, http.MethodDelete, "/v1/users/dave", admin, nil); status != http.StatusOK {
		t.Fatalf("delete dave: %d %v", status, out)
	}
	if _, err := NewVerifier(testServiceKeys, VerifierOptions{Revoked: s.isRevoked}).Verify(good); err == nil {
		t.Fatal("dave's token stays valid after his deletion")
	}
	if status, _ := do(t, h, http.MethodPost, "/v1/users/dave", "", map[string]any{"password": "pw"}); status == http.StatusOK {
		t.Fatal("dave logs in after his deletion")
	}
}

// A user may make its own S3 keys, a few: not the service's all.
func TestUserS3KeysAreBounded(t *testing.T) {
	s := newTestService(t, t.TempDir(), nil)
	h := s.Handler()
	admin := mustLogin(t, h, "admin", "secret-pass")
	if status, _ := do(t, h, http.MethodPost, "/v1/users", admin, User{ID: "erin", Password: "pw", Roles: []string{RoleReadOnly}}); status != http.StatusCreated {
		t.Fatal("add erin")
	}
	erin := mustLogin(t, h, "erin", "pw")
	for i := range maxUserS3Keys {
		if status, out := do(t, h, http.MethodPost, "/v1/users/erin/s3-keys", erin, nil); status != http.StatusCreated {
			t.Fatalf("erin's key %d: %d %v", i, status, out)
		}
	}
	status, out := do(t, h, http.MethodPost, "/v1/users/erin/s3-keys", erin, nil)
	if status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out), "delete one") {
		t.Fatalf("erin's key past the bound: %d %v, want 400", status, out)
	}
	if status, out := do(t, h, http.MethodPost, "/v1/users/admin/s3-keys", admin, nil); status != http.StatusCreated {
		t.Fatalf("another user's key: %d %v", status, out)
	}
}

// A user's deleted S3 keys count among its keys until their tokens
// expire: each deletion revokes a year's token, and a user making and
// deleting keys in a loop would fill the clusters' lists (capped for
// all), after which no revocation, an admin's included, was taken.
func TestDeletedS3KeysAreBoundedPerUser(t *testing.T) {
	s := newTestService(t, t.TempDir(), nil)
	h := s.Handler()
	admin := mustLogin(t, h, "admin", "secret-pass")
	if status, _ := do(t, h, http.MethodPost, "/v1/users", admin, User{ID: "mallory", Password: "pw", Roles: []string{RoleReadOnly}}); status != http.StatusCreated {
		t.Fatal("add mallory")
	}
	mallory := mustLogin(t, h, "mallory", "pw")
	_, out := do(t, h, http.MethodPost, "/v1/users/mallory/s3-keys", mallory, nil)
	access, _ := out["access_key"].(string)
	if access == "" {
		t.Fatalf("mallory's key: %v", out)
	}
	if status, out := do(t, h, http.MethodDelete, "/v1/s3-keys/"+access, mallory, nil); status != http.StatusOK {
		t.Fatalf("delete mallory's key: %d %v", status, out)
	}
	// A key an admin's change issues again is no key deleted: it does not
	// count.
	_, out = do(t, h, http.MethodPost, "/v1/users/mallory/s3-keys", mallory, nil)
	if out["access_key"] == nil {
		t.Fatalf("mallory's second key: %v", out)
	}
	if status, out := do(t, h, http.MethodPut, "/v1/users/mallory", admin, User{Roles: []string{RoleBucketOwner}}); status != http.StatusOK {
		t.Fatalf("regrant mallory: %d %v", status, out)
	}
	mallory = mustLogin(t, h, "mallory", "pw")
	s.mu.Lock()
	for key, k := range s.st.S3Keys {
		if k.User == "mallory" {
			delete(s.st.S3Keys, key) // as if never made: the count below is of deletions
		}
	}
	counted := 0
	for _, r := range s.st.Revoked {
		if r.KeyOf == "mallory" {
			counted++
		}
	}
	// As after maxIssued-2 more keys made and deleted.
	expires := s.cfg.Now().Add(time.Hour).Unix()
	for i := range maxIssued - 2 {
		s.st.Revoked[fmt.Sprintf("deleted-key-%d", i)] = revokedToken{Token: "t", Expires: expires, KeyOf: "mallory"}
	}
	s.mu.Unlock()
	if counted != 1 {
		t.Fatalf("%d revoked tokens counted as mallory's deleted key, want 1", counted)
	}
	if status, out := do(t, h, http.MethodPost, "/v1/users/mallory/s3-keys", mallory, nil); status != http.StatusCreated {
		t.Fatalf("mallory's last key: %d %v", status, out)
	}
	status, out := do(t, h, http.MethodPost, "/v1/users/mallory/s3-keys", mallory, nil)
	if status != http.StatusTooManyRequests || !strings.Contains(fmt.Sprint(out["message"]), "deleted ones revoked") {
		t.Fatalf("a key past mallory's keys and deleted ones: %d %v, want 429", status, out)
	}
	if status, out := do(t, h, http.MethodPost, "/v1/users/admin/s3-keys", admin, nil); status != http.StatusCreated {
		t.Fatalf("another user's key: %d %v", status, out)
	}
}

// A key is not made with a token revoked after the request's check of it
// (a password reset, a stolen token's revocation under way): it would
// outlive the revocation by a year.
func TestS3KeyIsNotMadeWithATokenRevokedMeanwhile(t *testing.T) {
	s := newTestService(t, t.TempDir(), nil)
	h := s.Handler()
	admin := mustLogin(t, h, "admin", "secret-pass")
	if status, _ := do(t, h, http.MethodPost, "/v1/users", admin, User{ID: "alice", Password: "pw", Roles: []string{RoleReadOnly}}); status != http.StatusCreated {
		t.Fatal("add alice")
	}
	stolen := mustLogin(t, h, "alice", "pw")
	c, err := s.cfg.Keys.Parse(stolen)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(stolen, true); err != nil {
		t.Fatal(err)
	}
	// As the request checked the token just before the revocation.
	if key, err := s.NewS3Key("alice", nil, c.ID, "alice", ""); !errors.Is(err, ErrRevoked) {
		t.Fatalf("a key made with a token revoked meanwhile: %+v %v, want refused", key, err)
	}
}

// Guesses sent all at once are throttled as if sent one by one: each is
// checked again once it has a slot, after the failures before it.
func TestParallelGuessesAreThrottled(t *testing.T) {
	s := newTestService(t, t.TempDir(), http.DefaultClient)
	// A user unknown costs the configured work: enough that the guesses
	// are all in before the first fails.
	s.cfg.Iterations = 100_000
	h := s.Handler()
	const guesses = 24
	var refused, throttled atomic.Int32
	var wg sync.WaitGroup
	for range guesses {
		wg.Go(func() {
			body, _ := json.Marshal(LoginMsg{Password: "guess"})
			req := httptest.NewRequest(http.MethodPost, "/v1/users/nobody", strings.NewReader(string(body)))
			req.RemoteAddr = "198.51.100.7:4000"
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			switch w.Code {
			case http.StatusUnauthorized:
				refused.Add(1)
			case http.StatusTooManyRequests:
				throttled.Add(1)
			}
		})
	}
	wg.Wait()
	if max := int32(freeFailures + cap(s.logins)); refused.Load() > max {
		t.Fatalf("%d of %d parallel guesses had their password checked (%d throttled), at most %d", refused.Load(), guesses, throttled.Load(), max)
	}
}

// A login under a name no user can have is refused before it is logged
// or kept by the throttle.
func TestLoginOfAnImpossibleNameIsRefusedFirst(t *testing.T) {
	s := newTestService(t, t.TempDir(), http.DefaultClient)
	h := s.Handler()
	body, _ := json.Marshal(LoginMsg{Password: "guess"})
	req := httptest.NewRequest(http.MethodPost, "/v1/users/"+strings.Repeat("n", 4096), strings.NewReader(string(body)))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusBadRequest {
		t.Fatalf("a login of a 4 KiB name: %d %s, want 400", w.Code, w.Body)
	}
	s.throttle.mu.Lock()
	kept := len(s.throttle.failures)
	s.throttle.mu.Unlock()
	if kept != 0 {
		t.Fatalf("the throttle keeps %d keys after a login of an impossible name", kept)
	}
}

// After the signing keys change, revocations signed with the old ones
// (which verify nowhere now) do not stop the new ones reaching clusters:
// a gateway refuses a token it cannot parse.
func TestRevocationsSignedBeforeAKeyChangeDoNotStopThePush(t *testing.T) {
	dir := t.TempDir()
	newKeys, err := NewSecretKeys([]byte("another-secret-of-the-service-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var pushed []string
	var keysPushed bool
	cluster := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := newKeys.Parse(BearerToken(r)); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodDelete && r.URL.Path == ClusterTokensPath {
			var msg TokenMsg
			json.NewDecoder(r.Body).Decode(&msg)
			if _, err := newKeys.Parse(msg.Token); err != nil {
				w.WriteHeader(http.StatusBadRequest) // as a gateway does
				return
			}
			mu.Lock()
			pushed = append(pushed, msg.Token)
			mu.Unlock()
		}
		if r.Method == http.MethodPut && r.URL.Path == ClusterS3KeysPath {
			mu.Lock()
			keysPushed = true // after every revocation: the push is whole
			mu.Unlock()
		}
	}))
	defer cluster.Close()
	old := newTestService(t, dir, cluster.Client())
	h := old.Handler()
	admin := mustLogin(t, h, "admin", "secret-pass")
	// The old service never runs: its revocation waits to be pushed.
	if status, _ := do(t, h, http.MethodPost, "/v1/clusters", admin, Cluster{ID: "c1", URLs: []string{cluster.URL}}); status != http.StatusCreated {
		t.Fatal("register the cluster")
	}
	if status, _ := do(t, h, http.MethodDelete, "/v1/tokens", admin, TokenMsg{Token: admin}); status != http.StatusOK {
		t.Fatal("revoke a token under the old keys")
	}

	s, err := NewService(Config{Keys: newKeys, StateFile: filepath.Join(dir, "authn.json"), AdminName: "admin", AdminPassword: "secret-pass",
		Iterations: 1000, Client: cluster.Client(), PushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h = s.Handler()
	admin = mustLogin(t, h, "admin", "secret-pass")
	if status, _ := do(t, h, http.MethodDelete, "/v1/tokens", admin, TokenMsg{Token: admin}); status != http.StatusOK {
		t.Fatal("revoke a token under the new keys")
	}
	go s.Run(t.Context())
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := slices.Contains(pushed, admin) && keysPushed
		mu.Unlock()
		if got {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a revocation under the new keys never reached the cluster past one signed with the old")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A cluster whose clock runs minutes ahead of the service's takes its
// pushes: a token revoked at the service is revoked there too (a push
// token of a minute was expired on arrival, every revocation lost).
func TestRevocationsReachAClusterWhoseClockRunsAhead(t *testing.T) {
	ahead := NewVerifier(testServiceKeys, VerifierOptions{Now: func() time.Time { return time.Now().Add(3 * time.Minute) }})
	var mu sync.Mutex
	var pushed []string
	cluster := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := ahead.Verify(BearerToken(r)); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodDelete && r.URL.Path == ClusterTokensPath {
			var msg TokenMsg
			json.NewDecoder(r.Body).Decode(&msg)
			mu.Lock()
			pushed = append(pushed, msg.Token)
			mu.Unlock()
		}
	}))
	defer cluster.Close()
	s := newTestService(t, t.TempDir(), cluster.Client())
	h := s.Handler()
	admin := mustLogin(t, h, "admin", "secret-pass")
	stolen := mustLogin(t, h, "admin", "secret-pass")
	if status, _ := do(t, h, http.MethodPost, "/v1/clusters", admin, Cluster{ID: "c1", URLs: []string{cluster.URL}}); status != http.StatusCreated {
		t.Fatal("register the cluster")
	}
	if status, _ := do(t, h, http.MethodDelete, "/v1/tokens", admin, TokenMsg{Token: stolen}); status != http.StatusOK {
		t.Fatal("revoke a token")
	}
	go s.Run(t.Context())
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := slices.Contains(pushed, stolen)
		mu.Unlock()
		if got {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the revocation never reached a cluster whose clock runs 3 minutes ahead")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A revocation one cluster refuses (its list full: 409) does not hold the
// others, nor the S3 keys, for good: the push goes on past it.
func TestARefusedRevocationDoesNotStopThePush(t *testing.T) {
	var mu sync.Mutex
	var refused string // the token the cluster refuses, its list full, twice
	var refusals int
	var refusedOne, keysPushed, takenLater bool
	cluster := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method == http.MethodDelete && r.URL.Path == ClusterTokensPath:
			var msg TokenMsg
			json.NewDecoder(r.Body).Decode(&msg)
			if refused == "" {
				refused = msg.Token
			}
			if msg.Token == refused {
				if refusals < 2 {
					refusals++
					refusedOne = true
					http.Error(w, "too many revoked tokens", http.StatusConflict)
					return
				}
				takenLater = true
			}
		case r.Method == http.MethodPut && r.URL.Path == ClusterS3KeysPath:
			keysPushed = true
		}
	}))
	defer cluster.Close()
	s := newTestService(t, t.TempDir(), cluster.Client())
	h := s.Handler()
	admin := mustLogin(t, h, "admin", "secret-pass")
	if status, _ := do(t, h, http.MethodPost, "/v1/clusters", admin, Cluster{ID: "c1", URLs: []string{cluster.URL}}); status != http.StatusCreated {
		t.Fatal("register the cluster")
	}
	for range 2 {
		token := mustLogin(t, h, "admin", "secret-pass")
		if status, _ := do(t, h, http.MethodDelete, "/v1/tokens", token, TokenMsg{Token: token}); status != http.StatusOK {
			t.Fatal("revoke")
		}
	}
	go s.Run(t.Context())
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		done := refusedOne && keysPushed && takenLater
		mu.Unlock()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the push after a revocation the cluster refused for now: keys pushed %v, the revocation sent again and taken %v", keysPushed, takenLater)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A key given where its file's name goes is not echoed in the error
// (which reaches logs); a missing file named by a path is.
func TestLoadKeysDoesNotEchoAKey(t *testing.T) {
	secret := strings.Repeat("ab12", 16)
	if _, err := LoadKeys(secret); err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "not the key") {
		t.Fatalf("a key given as the key file's name: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "none.key")
	if _, err := LoadKeys(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("a missing key file: %v, want it named", err)
	}
	// A base64 key holds slashes: not a path for all that.
	for _, slashed := range []string{"q3Zk/" + strings.Repeat("Ab9+", 10) + "==", "/" + strings.Repeat("Ab9+", 10) + "==", "//" + strings.Repeat("Ab9+", 10)} {
		if _, err := LoadKeys(slashed); err == nil || strings.Contains(err.Error(), "Ab9+") || !strings.Contains(err.Error(), "not the key") {
			t.Fatalf("a base64 key given as the key file's name: %v", err)
		}
	}
}

// Revoking a login token (stolen) takes the S3 keys made with it: they
// would act as the user for a year after.
func TestRevokedLoginTakesItsS3Keys(t *testing.T) {
	s := newTestService(t, t.TempDir(), http.DefaultClient)
	h := s.Handler()
	admin := admin2(t, h)
	if status, _ := do(t, h, http.MethodPost, "/v1/users", admin, User{ID: "alice", Password: "pw", Perm: ReadOnly}); status != http.StatusCreated {
		t.Fatal("add alice")
	}
	stolen, other := mustLogin(t, h, "alice", "pw"), mustLogin(t, h, "alice", "pw")
	_, out := do(t, h, http.MethodPost, "/v1/users/alice/s3-keys", stolen, nil)
	minted, _ := out["access_key"].(string)
	_, out = do(t, h, http.MethodPost, "/v1/users/alice/s3-keys", other, nil)
	kept, _ := out["access_key"].(string)
	if minted == "" || kept == "" {
		t.Fatal("alice's keys were not made")
	}
	s.mu.Lock()
	mintedToken := s.st.S3Keys[minted].Token
	s.mu.Unlock()
	if status, out := do(t, h, http.MethodDelete, "/v1/tokens", admin, map[string]any{"token": stolen}); status != http.StatusOK {
		t.Fatalf("revoke the stolen token: %d %v", status, out)
	}
	s.mu.Lock()
	_, mintedLeft := s.st.S3Keys[minted]
	_, keptLeft := s.st.S3Keys[kept]
	c, _ := s.cfg.Keys.Parse(mintedToken)
	_, revoked := s.st.Revoked[c.ID]
	s.mu.Unlock()
	if mintedLeft || !revoked {
		t.Fatalf("the key made with a revoked login: kept %v, its token revoked %v", mintedLeft, revoked)
	}
	if !keptLeft {
		t.Fatal("a key made with another login went with the revoked one")
	}
	// A logout (the holder revokes its own token) keeps its keys.
	if status, out := do(t, h, http.MethodDelete, "/v1/tokens", other, map[string]any{"token": other}); status != http.StatusOK {
		t.Fatalf("log out: %d %v", status, out)
	}
	s.mu.Lock()
	_, keptLeft = s.st.S3Keys[kept]
	s.mu.Unlock()
	if !keptLeft {
		t.Fatal("a logout took the S3 key made with its login")
	}
}

// A password changed (the answer to a stolen login) takes the S3 keys
// its logins made for others too: a key an admin's stolen login made for
// a bot would outlive it by a year.
func TestNewPasswordTakesTheKeysItsLoginsMadeForOthers(t *testing.T) {
	s := newTestService(t, t.TempDir(), http.DefaultClient)
	h := s.Handler()
	stolen := admin2(t, h)
	if status, _ := do(t, h, http.MethodPost, "/v1/users", stolen, User{ID: "bot", Password: "pw", Perm: ReadOnly}); status != http.StatusCreated {
		t.Fatal("add bot")
	}
	_, out := do(t, h, http.MethodPost, "/v1/users/bot/s3-keys", stolen, nil)
	minted, _ := out["access_key"].(string)
	_, out = do(t, h, http.MethodPost, "/v1/users/bot/s3-keys", mustLogin(t, h, "bot", "pw"), nil)
	own, _ := out["access_key"].(string)
	if minted == "" || own == "" {
		t.Fatal("bot's keys were not made")
	}
	// The thief logs its login out (the keys it made stay with a
	// logout): the new password takes them all the same.
	if status, out := do(t, h, http.MethodDelete, "/v1/tokens", stolen, map[string]any{"token": stolen}); status != http.StatusOK {
		t.Fatalf("log out: %d %v", status, out)
	}
	if status, out := do(t, h, http.MethodPut, "/v1/users/admin", mustLogin(t, h, "admin", "secret-pass"), map[string]any{"password": "a-new-secret-pass"}); status != http.StatusOK {
		t.Fatalf("a new password: %d %v", status, out)
	}
	s.mu.Lock()
	_, mintedLeft := s.st.S3Keys[minted]
	_, ownLeft := s.st.S3Keys[own]
	s.mu.Unlock()
	if mintedLeft || !ownLeft {
		t.Fatalf("after the admin's new password: the key its login made for bot kept %v (want gone), bot's own kept %v (want kept)", mintedLeft, ownLeft)
	}
}

// A deleted admin (its account maybe stolen) takes with it the S3 keys it
// made for others, as a new password does, and names them; their users'
// own keys stay.
func TestDeletedAdminTakesTheKeysItMadeForOthers(t *testing.T) {
	s := newTestService(t, t.TempDir(), http.DefaultClient)
	h := s.Handler()
	admin := admin2(t, h)
	if status, _ := do(t, h, http.MethodPost, "/v1/users", admin, User{ID: "ops", Password: "ops-pw", Roles: []string{RoleAdmin}}); status != http.StatusCreated {
		t.Fatal("add ops")
	}
	if status, _ := do(t, h, http.MethodPost, "/v1/users", admin, User{ID: "bot", Password: "pw", Perm: ReadOnly}); status != http.StatusCreated {
		t.Fatal("add bot")
	}
	_, out := do(t, h, http.MethodPost, "/v1/users/bot/s3-keys", mustLogin(t, h, "ops", "ops-pw"), nil)
	minted, _ := out["access_key"].(string)
	_, out = do(t, h, http.MethodPost, "/v1/users/bot/s3-keys", mustLogin(t, h, "bot", "pw"), nil)
	own, _ := out["access_key"].(string)
	if minted == "" || own == "" {
		t.Fatal("bot's keys were not made")
	}
	status, out := do(t, h, http.MethodDelete, "/v1/users/ops", admin, nil)
	if status != http.StatusOK {
		t.Fatalf("delete ops: %d %v", status, out)
	}
	if dropped := fmt.Sprint(out["dropped_s3_keys"]); !strings.Contains(dropped, minted) || strings.Contains(dropped, own) {
		t.Fatalf("the keys named as dropped: %s, want %s only", dropped, minted)
	}
	s.mu.Lock()
	_, mintedLeft := s.st.S3Keys[minted]
	_, ownLeft := s.st.S3Keys[own]
	s.mu.Unlock()
	if mintedLeft || !ownLeft {
		t.Fatalf("after ops was deleted: the key it made for bot kept %v (want gone), bot's own kept %v (want kept)", mintedLeft, ownLeft)
	}
}

// A change whose save fails (a full disk) is answered as failed and
// undone, not kept in memory to be lost at the next start: a password
// changed stays the old one; a revocation stays in force.
func TestChangeNotSavedIsUndone(t *testing.T) {
	dir := t.TempDir()
	s := newTestService(t, dir, http.DefaultClient)
	h := s.Handler()
	admin := admin2(t, h)
	if status, _ := do(t, h, http.MethodPost, "/v1/users", admin, User{ID: "bob", Password: "old-pw", Perm: ReadOnly}); status != http.StatusCreated {
		t.Fatal("add bob")
	}
	revoked := mustLogin(t, h, "bob", "old-pw")
	_, out := do(t, h, http.MethodPost, "/v1/users/bob/s3-keys", mustLogin(t, h, "bob", "old-pw"), nil)
	access, _ := out["access_key"].(string)
	if access == "" {
		t.Fatalf("bob's S3 key: %v", out)
	}
	// The state's directory gone (a file in its place): saves fail.
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if status, _ := do(t, h, http.MethodPut, "/v1/users/bob", admin, map[string]any{"password": "new-pw"}); status < 500 {
		t.Fatalf("a password change not saved: %d, want an error", status)
	}
	do(t, h, http.MethodDelete, "/v1/tokens", admin, TokenMsg{Token: revoked})
	if !s.isRevoked(mustClaims(t, s, revoked).ID) {
		t.Fatal("a revocation not saved is not in force")
	}
	// A change of bob's grants not saved: its key is back as it was, its
	// token not revoked (the change revoked it to issue it again).
	if status, _ := do(t, h, http.MethodPut, "/v1/users/bob", admin, map[string]any{"perm": "", "roles": []string{RoleReadOnly}}); status < 500 {
		t.Fatalf("a change of grants not saved: %d, want an error", status)
	}
	s.mu.Lock()
	key := s.st.S3Keys[access]
	s.mu.Unlock()
	if key == nil || s.isRevoked(mustClaims(t, s, key.Token).ID) {
		t.Fatalf("bob's S3 key after a change not saved: %+v, want it as saved, its token not revoked", key)
	}
	// The disk back (a login is saved too).
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir+".away", dir); err != nil {
		t.Fatal(err)
	}
	if status, _ := do(t, h, http.MethodPost, "/v1/users/bob", "", map[string]any{"password": "old-pw"}); status != http.StatusOK {
		t.Fatalf("a login with the password as saved: %d, want it taken", status)
	}
	if status, _ := do(t, h, http.MethodPost, "/v1/users/bob", "", map[string]any{"password": "new-pw"}); status == http.StatusOK {
		t.Fatal("a login with the password whose change was not saved was taken")
	}
}

// The keys the service pushes fit in what a gateway takes in one body:
// a key past that is refused, naming why, rather than stop every push.
func TestS3KeysFitOnePush(t *testing.T) {
	s := newTestService(t, t.TempDir(), nil)
	h := s.Handler()
	admin := mustLogin(t, h, "admin", "secret-pass")
	s.mu.Lock()
	for i := range 400 {
		access := fmt.Sprintf("AISFILL%016d", i)
		s.st.S3Keys[access] = &S3Key{AccessKey: access, Secret: strings.Repeat("s", 40), User: "filler", Token: strings.Repeat("t", 16000)}
	}
	s.mu.Unlock()
	status, out := do(t, h, http.MethodPost, "/v1/users/admin/s3-keys", admin, nil)
	if status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out), "one push") {
		t.Fatalf("a key past what one push takes: %d %v, want 400", status, out)
	}
}

// A change of a user's grants that would take its S3 keys, issued again,
// past what one push takes is refused: the user and its keys as before.
func TestRegrantKeepsTheS3KeysWithinOnePush(t *testing.T) {
	s := newTestService(t, t.TempDir(), nil)
	h := s.Handler()
	admin := mustLogin(t, h, "admin", "secret-pass")
	if status, _ := do(t, h, http.MethodPost, "/v1/users", admin, User{ID: "bob", Password: "pw", Perm: PermGet}); status != http.StatusCreated {
		t.Fatal("add bob")
	}
	if status, out := do(t, h, http.MethodPost, "/v1/users/bob/s3-keys", admin, nil); status != http.StatusCreated {
		t.Fatalf("bob's key: %d %v", status, out)
	}
	s.mu.Lock()
	for i := range 388 { // the keys one push takes, but for a few KiB
		access := fmt.Sprintf("AISFILL%016d", i)
		s.st.S3Keys[access] = &S3Key{AccessKey: access, Secret: strings.Repeat("s", 40), User: "filler", Token: strings.Repeat("t", 16000)}
	}
	var before string
	for _, k := range s.st.S3Keys {
		if k.User == "bob" {
			before = k.Token
		}
	}
	s.mu.Unlock()
	buckets := map[string]Perm{}
	for i := range 300 {
		buckets[fmt.Sprintf("ais://bucket-%04d", i)] = PermGet
	}
	status, out := do(t, h, http.MethodPut, "/v1/users/bob", admin, map[string]any{"buckets": buckets})
	if status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out), "one push") {
		t.Fatalf("grants that take bob's key past one push: %d %v, want 400", status, out)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.st.Users["bob"].Buckets) != 0 {
		t.Fatal("the refused change was applied")
	}
	for _, k := range s.st.S3Keys {
		if k.User == "bob" && k.Token != before {
			t.Fatal("the refused change issued bob's key again")
		}
	}
}

// A key from before tokens per cluster (its own token pushed to every
// cluster) has that token revoked once it gets tokens per cluster.
func TestS3KeyFromBeforeLosesItsEveryClusterToken(t *testing.T) {
	s := newTestService(t, t.TempDir(), http.DefaultClient)
	h := s.Handler()
	admin := admin2(t, h)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	if status, out := do(t, h, http.MethodPost, "/v1/clusters", admin, Cluster{ID: "c1", URLs: []string{srv.URL}}); status != http.StatusCreated {
		t.Fatalf("register: %d %v", status, out)
	}
	_, out := do(t, h, http.MethodPost, "/v1/users/admin/s3-keys", admin, nil)
	access, _ := out["access_key"].(string)
	s.mu.Lock()
	k := s.st.S3Keys[access]
	k.MadeWith, k.ClusterTokens = "", nil // as a key kept before
	c, _ := s.cfg.Keys.Parse(k.Token)
	s.changed()
	s.mu.Unlock()
	s.pushAll(t.Context())
	s.mu.Lock()
	_, revoked := s.st.Revoked[c.ID]
	s.mu.Unlock()
	if !revoked {
		t.Fatal("the every-cluster token of a key from before was not revoked")
	}
}

// An IPv6 client is throttled by its /64: the addresses of one host are
// one key; IPv4 addresses, and other /64s, are keys of their own.
func TestThrottleKeyOfAnIPv6ClientIsItsSlash64(t *testing.T) {
	a, b := throttleKey("admin", "[2001:db8:1:2::5]:4000"), throttleKey("admin", "[2001:db8:1:2:ffff::9]:4001")
	if a != b {
		t.Fatalf("two addresses of one /64: keys %q and %q", a, b)
	}
	if other := throttleKey("admin", "[2001:db8:1:3::5]:4000"); other == a {
		t.Fatal("another /64 has the same key")
	}
	if throttleKey("admin", "198.51.100.7:4000") == throttleKey("admin", "198.51.100.8:4000") {
		t.Fatal("two IPv4 addresses have one key")
	}
}

// AnyBucket asks whether a permission is granted on some bucket.
func TestAllowsOnAnyBucket(t *testing.T) {
	g := Grants{Buckets: map[string]Perm{"ais://a": PermGet, "ais://b": PermList}}
	for _, tc := range []struct {
		want   Perm
		bucket string
		ok     bool
	}{
		{PermGet, AnyBucket, true},
		{PermList, AnyBucket, true},
		{PermPut, AnyBucket, false},
		{PermGet, "", false},
		{PermGet, "ais://b", false},
	} {
		if got := g.Allows(tc.want, tc.bucket); got != tc.ok {
			t.Errorf("%s on %q: %v, want %v", tc.want, tc.bucket, got, tc.ok)
		}
	}
	if !(Grants{Perm: PermPut}).Allows(PermPut, AnyBucket) {
		t.Error("a grant on every bucket is one on some bucket")
	}
}

// A login whose user changed while its password was checked is refused
// as one to try again (409), not as a wrong guess, which the throttle
// would count against a user who gave the right password.
func TestLoginRacingAChangeOfItsUserIsNoWrongGuess(t *testing.T) {
	s := newTestService(t, t.TempDir(), nil)
	defer func(old func(string)) { passwordChecked = old }(passwordChecked)
	passwordChecked = func(name string) {
		s.mu.Lock()
		u := *s.st.Users[name]
		s.st.Users[name] = &u // changed (an admin's edit)
		s.mu.Unlock()
	}
	_, err := s.Login("admin", "secret-pass", 0, "")
	if !errors.Is(err, ErrChanged) || errors.Is(err, ErrLogin) || Status(err) != http.StatusConflict {
		t.Fatalf("a login racing a change of its user: %v (status %d), want a conflict, no wrong guess", err, Status(err))
	}
	passwordChecked = func(string) {}
	if _, err := s.Login("admin", "secret-pass", 0, ""); err != nil {
		t.Fatalf("the login again: %v", err)
	}
}

// clockedService is a test service on a clock the test moves on.
func clockedService(t *testing.T) (*Service, func(time.Duration)) {
	t.Helper()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	s, err := NewService(Config{Keys: testServiceKeys, StateFile: filepath.Join(t.TempDir(), "authn.json"), AdminName: "admin", AdminPassword: "secret-pass",
		Iterations: 1000, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	return s, func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(d)
	}
}

// A revoked token stays revoked until no verifier takes it: past its end
// by the leeway verifiers give clocks, not at its end.
func TestRevocationOutlivesTheLeeway(t *testing.T) {
	s, advance := clockedService(t)
	short, err := s.Login("admin", "secret-pass", time.Minute, "")
	if err != nil {
		t.Fatal(err)
	}
	long, err := s.Login("admin", "secret-pass", time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(short, false); err != nil {
		t.Fatal(err)
	}
	advance(time.Minute + clockLeeway/2)          // past its end, within the leeway
	if err := s.Revoke(long, false); err != nil { // prunes what no one takes
		t.Fatal(err)
	}
	if _, err := s.verifier.Verify(short); err == nil {
		t.Fatal("a revoked token is taken again within the leeway past its end")
	}
	// The service's clock minutes ahead of the clusters': a token past
	// its end by it is still recorded (and pushed), the clusters take it.
	ahead, err := s.Login("admin", "secret-pass", time.Minute, "")
	if err != nil {
		t.Fatal(err)
	}
	advance(3 * time.Minute)
	if err := s.Revoke(ahead, false); err != nil {
		t.Fatal(err)
	}
	c, err := testServiceKeys.Parse(ahead)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	_, recorded := s.st.Revoked[c.ID]
	s.mu.Unlock()
	if !recorded {
		t.Fatal("a token the clusters still take was not recorded as revoked: the service's clock had it past its end")
	}
}

// An S3 key's token for a cluster that could not be saved is not pushed
// (a restart would make another, and a delete of the key would miss the
// one the cluster holds); revocations still go. Once saved, the key goes
// with the token on disk.
func TestS3KeyTokenUnsavedIsNotPushed(t *testing.T) {
	fc := newFakeClusters(t, "c1")
	dir := t.TempDir()
	s := newTestService(t, dir, http.DefaultClient)
	h := s.Handler()
	admin := admin2(t, h)
	if status, out := do(t, h, http.MethodPost, "/v1/clusters", admin, Cluster{ID: "c1", URLs: fc.urls}); status != http.StatusCreated {
		t.Fatalf("register: %d %v", status, out)
	}
	_, out := do(t, h, http.MethodPost, "/v1/users/admin/s3-keys", admin, nil)
	access, _ := out["access_key"].(string)
	if access == "" {
		t.Fatalf("admin's S3 key: %v", out)
	}
	revoked := mustLogin(t, h, "admin", "secret-pass")
	// The state's directory gone (a file in its place): saves fail.
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// Revoked in memory, its save failed (answered as an error).
	do(t, h, http.MethodDelete, "/v1/tokens", admin, TokenMsg{Token: revoked})
	s.pushAll(t.Context())
	fc.mu.Lock()
	keysPushed, revocationSent := fc.pushes["c1"], slices.Contains(fc.revokedAt["c1"], revoked)
	fc.mu.Unlock()
	if keysPushed != 0 {
		t.Fatalf("the keys were pushed %d times with a token for the cluster not saved", keysPushed)
	}
	if !revocationSent {
		t.Fatal("a revocation was held back with the keys")
	}
	s.mu.Lock()
	dirty := s.dirty["c1"] != 0
	s.mu.Unlock()
	if !dirty {
		t.Fatal("the cluster is not marked for another push")
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir+".away", dir); err != nil {
		t.Fatal(err)
	}
	s.pushAll(t.Context())
	fc.mu.Lock()
	var pushed string
	for _, k := range fc.received["c1"] {
		if k.AccessKey == access {
			pushed = k.Token
		}
	}
	fc.mu.Unlock()
	if pushed == "" {
		t.Fatal("the key was not pushed once its token was saved")
	}
	again := newTestService(t, dir, http.DefaultClient)
	again.mu.Lock()
	saved := again.st.S3Keys[access].ClusterTokens["c1"]
	again.mu.Unlock()
	if saved != pushed {
		t.Fatal("the token the cluster holds is not the one saved")
	}
}

// A password is hashed outside the service's lock: a user added or
// changed does not hold up every other request for the hash's time.
func TestPasswordsAreHashedOutsideTheLock(t *testing.T) {
	s := newTestService(t, t.TempDir(), http.DefaultClient)
	h := s.Handler()
	admin := admin2(t, h)
	inHash, release := make(chan struct{}, 1), make(chan struct{})
	defer func(old func()) { hashing = old }(hashing)
	hashing = func() {
		select {
		case inHash <- struct{}{}:
		default:
		}
		<-release
	}
	for _, change := range []struct {
		method, path string
		body         any
	}{{http.MethodPost, "/v1/users", User{ID: "bob", Password: "bob-pass"}}, {http.MethodPut, "/v1/users/bob", User{Password: "new-pass"}}} {
		done := make(chan int, 1)
		go func() {
			status, _ := do(t, h, change.method, change.path, admin, change.body)
			done <- status
		}()
		<-inHash
		listed := make(chan int, 1)
		go func() {
			status, _ := do(t, h, http.MethodGet, "/v1/users", admin, nil)
			listed <- status
		}()
		select {
		case status := <-listed:
			if status != http.StatusOK {
				t.Fatalf("users listed during a hash: %d", status)
			}
		case <-time.After(10 * time.Second):
			close(release)
			t.Fatalf("%s %s: a request waited for a password's hash", change.method, change.path)
		}
		release <- struct{}{}
		if status := <-done; status != http.StatusCreated && status != http.StatusOK {
			t.Fatalf("%s %s: %d", change.method, change.path, status)
		}
	}
}

// A cluster's refusal of a push, which reaches the service's log, names
// the gateway's URL without the user and password it may carry.
func TestPushRefusalHidesTheURLsCredentials(t *testing.T) {
	cluster := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "too many revoked tokens", http.StatusConflict)
	}))
	defer cluster.Close()
	s := newTestService(t, t.TempDir(), cluster.Client())
	url := strings.Replace(cluster.URL, "http://", "http://ops:hunter2-secret@", 1) + ClusterTokensPath
	err := s.send(t.Context(), http.MethodDelete, url, TokenMsg{Token: "t"}, "service")
	if err == nil || strings.Contains(err.Error(), "hunter2-secret") || !strings.Contains(err.Error(), "409") {
		t.Fatalf("a refused push: %v", err)
	}
	// Nor where it cannot be reached, nor when it does not parse.
	cluster.Close()
	for _, url := range []string{url, "http://ops:hunter2-secret@gw:badport/v1/tokens"} {
		if err := s.send(t.Context(), http.MethodDelete, url, TokenMsg{Token: "t"}, "service"); err == nil || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "ops") {
			t.Fatalf("a failed push to %s: %v", url, err)
		}
	}
}

// A password kept with fewer rounds than configured (an older default)
// is hashed again with the new count at its next login, and still logs in;
// a failed login changes nothing.
func TestLoginRehashesAnOlderPasswordHash(t *testing.T) {
	dir := t.TempDir()
	newTestService(t, dir, http.DefaultClient)
	file := filepath.Join(dir, "authn.json")
	storedRounds := func() int {
		t.Helper()
		var st state
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &st); err != nil {
			t.Fatal(err)
		}
		return iterationsOf(st.Users["admin"].Password)
	}
	if got := storedRounds(); got != 1000 {
		t.Fatalf("the first admin's hash has %d rounds, want 1000", got)
	}
	upgraded, err := NewService(Config{Keys: testServiceKeys, StateFile: file, Iterations: 3000})
	if err != nil {
		t.Fatal(err)
	}
	// A refusal costs the configured rounds whatever the user's hash
	// has, as an unknown user's does: its timing tells no names.
	var rounds atomic.Int64
	passwordWork = func(n int) { rounds.Add(int64(n)) }
	t.Cleanup(func() { passwordWork = func(int) {} })
	for _, name := range []string{"admin", "nobody"} {
		rounds.Store(0)
		if _, err := upgraded.Login(name, "wrong-pass", 0, ""); !errors.Is(err, ErrLogin) || rounds.Load() != 3000 {
			t.Errorf("a refused login of %s cost %d rounds (%v), want 3000", name, rounds.Load(), err)
		}
	}
	if _, err := upgraded.Login("admin", "wrong-pass", 0, ""); !errors.Is(err, ErrLogin) || storedRounds() != 1000 {
		t.Fatalf("a wrong password: %v, the hash now of %d rounds", err, storedRounds())
	}
	if _, err := upgraded.Login("admin", "secret-pass", 0, ""); err != nil {
		t.Fatal(err)
	}
	if got := storedRounds(); got != 3000 {
		t.Fatalf("after a login the hash has %d rounds, want 3000", got)
	}
	again, err := NewService(Config{Keys: testServiceKeys, StateFile: file, Iterations: 3000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.Login("admin", "secret-pass", 0, ""); err != nil {
		t.Fatalf("a login with the rehashed password: %v", err)
	}
}

// Users each within their own bound may not together fill the clusters'
// revocation lists: past MaxLiveTokens of all users, a login and a key
// are refused (429), and a token expiring makes room again.
func TestLiveTokensOfAllUsersAreBounded(t *testing.T) {
	saved := MaxLiveTokens
	MaxLiveTokens = 4
	t.Cleanup(func() { MaxLiveTokens = saved })
	s, advance := clockedService(t)
	h := s.Handler()
	admin := mustLogin(t, h, "admin", "secret-pass")
	for _, name := range []string{"alice", "bob"} {
		if status, _ := do(t, h, http.MethodPost, "/v1/users", admin, User{ID: name, Password: "pw", Roles: []string{RoleReadOnly}}); status != http.StatusCreated {
			t.Fatalf("add %s", name)
		}
	}
	short, err := s.Login("alice", "pw", time.Minute, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(short, false); err != nil { // logged out: on the lists until it expires
		t.Fatal(err)
	}
	if _, err := s.Login("bob", "pw", time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NewS3Key("bob", nil, "", "", ""); err != nil {
		t.Fatal(err)
	}
	// The admin's login, alice's logged-out token, bob's login and key.
	if _, err := s.Login("alice", "pw", time.Hour, ""); !errors.Is(err, ErrTooManyTokens) || !strings.Contains(err.Error(), "at most 4 together") {
		t.Fatalf("a login past the users' tokens together: %v, want refused", err)
	}
	if _, err := s.NewS3Key("admin", nil, "", "", ""); !errors.Is(err, ErrTooManyTokens) {
		t.Fatalf("a key past the users' tokens together: %v, want refused", err)
	}
	advance(2 * time.Minute) // alice's logged-out token expired
	if _, err := s.Login("alice", "pw", time.Hour, ""); err != nil {
		t.Fatalf("a login once a token expired: %v", err)
	}
}

// The bound is of each cluster's list: tokens for one cluster take no
// place on another's, and an admin may always log in (to delete users
// and keys that fill them).
func TestLiveTokensAreBoundedPerCluster(t *testing.T) {
	saved := MaxLiveTokens
	MaxLiveTokens = 2
	t.Cleanup(func() { MaxLiveTokens = saved })
	s := newTestService(t, t.TempDir(), nil)
	h := s.Handler()
	admin := mustLogin(t, h, "admin", "secret-pass") // on every cluster's list
	for _, id := range []string{"c1", "c2"} {
		if status, out := do(t, h, http.MethodPost, "/v1/clusters", admin, Cluster{ID: id, URLs: []string{"http://127.0.0.1:9"}}); status != http.StatusCreated {
			t.Fatalf("register %s: %d %v", id, status, out)
		}
	}
	for name, cluster := range map[string]string{"alice": "c1", "bob": "c2", "carol": "c9"} {
		if status, out := do(t, h, http.MethodPost, "/v1/users", admin, User{ID: name, Password: "pw", Roles: []string{RoleReadOnly}, Clusters: []string{cluster}}); status != http.StatusCreated {
			t.Fatalf("add %s: %d %v", name, status, out)
		}
	}
	if _, err := s.Login("alice", "pw", time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login("alice", "pw", time.Hour, ""); !errors.Is(err, ErrTooManyTokens) {
		t.Fatalf("a login past c1's share: %v, want refused", err)
	}
	if _, err := s.Login("bob", "pw", time.Hour, ""); err != nil {
		t.Fatalf("a login for c2, whose list has room: %v", err)
	}
	// A cluster not registered yet has a list once it is: counted too.
	if _, err := s.Login("carol", "pw", time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login("carol", "pw", time.Hour, ""); !errors.Is(err, ErrTooManyTokens) {
		t.Fatalf("a login past the share of a cluster not registered: %v, want refused", err)
	}
	if _, err := s.Login("admin", "secret-pass", time.Hour, ""); err != nil {
		t.Fatalf("an admin's login past the bound: %v", err)
	}
}

func mustClaims(t *testing.T, s *Service, token string) *Claims {
	t.Helper()
	c, err := s.cfg.Keys.Parse(token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
