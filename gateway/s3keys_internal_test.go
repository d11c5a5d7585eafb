package gateway

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/aisgo/aisgo/authn"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/gateway/s3/sigv4"
)

// The AuthN service's S3 keys, saved while user authentication was on,
// sign nothing once it is off: nothing would check what their users may
// do, and the set could not be changed. The node's own keys still do.
func TestAuthnS3KeysOnlyWhileAuthIsOn(t *testing.T) {
	keys := &membership.S3Keys{Version: 1, Keys: map[string]membership.S3Credential{"AKIAALICE00000000001": {Secret: "alice's", Token: "t"}}}
	c := &laggingControl{local: membership.Snapshot{S3Keys: keys}}
	verifier, err := authn.NewSecretKeys([]byte(authn.NewSecret()))
	if err != nil {
		t.Fatal(err)
	}
	on := s3Keyring{n: &Node{control: c, verifier: authn.NewVerifier(verifier, authn.VerifierOptions{})}}
	if secret, ok := on.Secret("AKIAALICE00000000001"); !ok || secret != "alice's" || on.Empty() {
		t.Fatalf("auth on: %q %v, empty %v", secret, ok, on.Empty())
	}
	off := s3Keyring{n: &Node{control: c}}
	if secret, ok := off.Secret("AKIAALICE00000000001"); ok || !off.Empty() {
		t.Fatalf("auth off: %q %v, empty %v; want no such key, and none at all", secret, ok, off.Empty())
	}
	own := s3Keyring{static: sigv4.StaticKeys{"AKIAOWN0000000000001": "own"}, n: &Node{control: c}}
	if secret, ok := own.Secret("AKIAOWN0000000000001"); !ok || secret != "own" || own.Empty() {
		t.Fatalf("the node's own key, auth off: %q %v, empty %v", secret, ok, own.Empty())
	}
}

// A push of the AuthN service's S3 keys through a gateway behind the
// leader (an earlier push forwarded from it, not applied here yet) is
// compared with the leader's set, not this gateway's: a key deleted since
// would otherwise read as no change, and stay valid.
func TestS3KeysPushThroughALaggingGateway(t *testing.T) {
	keys, err := authn.NewSecretKeys([]byte(authn.NewSecret()))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	token, err := keys.Sign(&authn.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "u", ID: authn.NewTokenID(),
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}})
	if err != nil {
		t.Fatal(err)
	}
	credential := membership.S3Credential{Secret: "a secret of 16 bytes", Token: token}
	set := func(names ...string) *membership.S3Keys {
		s := &membership.S3Keys{Version: 1, Keys: map[string]membership.S3Credential{}}
		for _, name := range names {
			s.Keys[name] = credential
		}
		return s
	}
	// Here: the set before the last push; at the leader: that push's.
	// Stuck, the gateway does not catch up (no leader to ask, in an
	// election, reads as caught up).
	for _, stuck := range []bool{false, true} {
		c := &laggingControl{local: membership.Snapshot{S3Keys: set("AKIAALICE00000000001")},
			leader: membership.Snapshot{S3Keys: set("AKIAALICE00000000001", "AKIABOB0000000000001")}, stuck: stuck}
		n := &Node{control: c, config: Config{Auth: keys}, verifier: authn.NewVerifier(keys, authn.VerifierOptions{}), logger: slog.New(slog.DiscardHandler)}
		body, _ := json.Marshal(authn.S3KeysMsg{Keys: []authn.S3Key{{AccessKey: "AKIAALICE00000000001", Secret: credential.Secret, Token: token}}})
		w := httptest.NewRecorder()
		n.handleSetS3Keys(w, httptest.NewRequest(http.MethodPut, authn.ClusterS3KeysPath, bytes.NewReader(body)))
		if w.Code != http.StatusOK {
			t.Fatalf("the push (stuck %v): %d %s", stuck, w.Code, w.Body)
		}
		if got := c.leader.S3Keys.Keys; len(got) != 1 {
			t.Fatalf("the leader's S3 keys after a push that deleted one (stuck %v): %v", stuck, slices.Collect(maps.Keys(got)))
		}
	}
}
