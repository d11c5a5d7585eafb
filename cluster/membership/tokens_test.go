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
