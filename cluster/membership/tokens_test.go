package membership

import (
	"errors"
	"testing"
)

func TestRevokeTokenDropsExpired(t *testing.T) {
	s := Snapshot{}
	var err error
	for i, tc := range []struct {
		id      string
		expires int64
		now     int64
	}{{"a", 100, 10}, {"b", 300, 50}, {"c", 400, 100 + RevocationMargin + 1}, {"d", 1000, 300 + RevocationMargin}} {
		s, err = Apply(s, Change{Kind: RevokeToken, Created: tc.now, Token: RevokedToken{ID: tc.id, Expires: tc.expires}})
		if err != nil {
			t.Fatal(err)
		}
		if s.Tokens.Version != int64(i+1) {
			t.Fatalf("version %d after %d revocations", s.Tokens.Version, i+1)
		}
	}
	// a expired longer than the margin ago; b only within it (a node's
	// clock behind the proposer's would take it as valid again).
	if s.Tokens.Has("a") || !s.Tokens.Has("b") || !s.Tokens.Has("c") || !s.Tokens.Has("d") {
		t.Fatalf("after the expiry of a and b: %v", s.Tokens.Tokens)
	}
	if _, err := Apply(s, Change{Kind: RevokeToken, Created: 1}); !errors.Is(err, ErrUnknownChange) {
		t.Fatalf("no token id: %v", err)
	}
	var none *RevokedTokens
	if none.Has("b") {
		t.Fatal("a nil list has a token")
	}
}

// A revocation with its keys is kept beside the token, until it expires,
// and through a saved state; one without does not take keys, and a later
// one with keys adds them.
func TestRevokeTokenWithItsKeys(t *testing.T) {
	s, err := Apply(Snapshot{}, Change{Kind: RevokeToken, Created: 10, Token: RevokedToken{ID: "logout", Expires: 100}})
	if err != nil {
		t.Fatal(err)
	}
	if s, err = Apply(s, Change{Kind: RevokeToken, Created: 10, Token: RevokedToken{ID: "stolen", Expires: 1000, Keys: true}}); err != nil {
		t.Fatal(err)
	}
	if s.Tokens.TakesKeys("logout") || !s.Tokens.TakesKeys("stolen") || !s.Tokens.Has("stolen") {
		t.Fatalf("tokens %v, keys %v", s.Tokens.Tokens, s.Tokens.Keys)
	}
	if s, err = Apply(s, Change{Kind: RevokeToken, Created: 20, Token: RevokedToken{ID: "logout", Expires: 100, Keys: true}}); err != nil {
		t.Fatal(err)
	}
	if !s.Tokens.TakesKeys("logout") {
		t.Fatal("a logout revoked again with its keys does not take them")
	}
	_, saved, _ := cloneControl(ControlState{Tokens: s.Tokens})
	if !saved.TakesKeys("stolen") || !saved.TakesKeys("logout") {
		t.Fatalf("a saved state lost the revocations with keys: %v", saved.Keys)
	}
	// Expired past the margin, it leaves both lists.
	if s, err = Apply(s, Change{Kind: RevokeToken, Created: 100 + RevocationMargin + 1, Token: RevokedToken{ID: "other", Expires: 5000}}); err != nil {
		t.Fatal(err)
	}
	if s.Tokens.Has("logout") || s.Tokens.TakesKeys("logout") || !s.Tokens.TakesKeys("stolen") {
		t.Fatalf("after the logout's expiry: tokens %v, keys %v", s.Tokens.Tokens, s.Tokens.Keys)
	}
	var none *RevokedTokens
	if none.TakesKeys("stolen") {
		t.Fatal("a nil list takes keys")
	}
}
