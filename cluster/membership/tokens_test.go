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
	}{{"a", 100, 10}, {"b", 300, 50}, {"c", 400, 200}} {
		s, err = Apply(s, Change{Kind: RevokeToken, Created: tc.now, Token: RevokedToken{ID: tc.id, Expires: tc.expires}})
		if err != nil {
			t.Fatal(err)
		}
		if s.Tokens.Version != int64(i+1) {
			t.Fatalf("version %d after %d revocations", s.Tokens.Version, i+1)
		}
	}
	if s.Tokens.Has("a") || !s.Tokens.Has("b") || !s.Tokens.Has("c") {
		t.Fatalf("after the expiry of a: %v", s.Tokens.Tokens)
	}
	if _, err := Apply(s, Change{Kind: RevokeToken, Created: 1}); !errors.Is(err, ErrUnknownChange) {
		t.Fatalf("no token id: %v", err)
	}
	var none *RevokedTokens
	if none.Has("b") {
		t.Fatal("a nil list has a token")
	}
}
