package gateway

import (
	"testing"

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
