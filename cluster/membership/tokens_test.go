package membership

import (
	"errors"
	"testing"

	"github.com/aisgo/aisgo/cluster"
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

// A revocation with its keys is kept beside the token, until its keys
// expire (long past the token), and through a saved state; one without
// does not take keys, and a later one with keys adds them. It needs its
// level: a node before it would drop the keys.
func TestRevokeTokenWithItsKeys(t *testing.T) {
	revoke := func(s Snapshot, created int64, token RevokedToken) Snapshot {
		t.Helper()
		c := Change{Kind: RevokeToken, Created: created, Token: token}
		if token.KeysUntil > 0 {
			c.Level = LevelRevokeKeys
		}
		next, err := Apply(s, c)
		if err != nil {
			t.Fatal(err)
		}
		return next
	}
	s := revoke(Snapshot{}, 10, RevokedToken{ID: "logout", Expires: 100})
	s = revoke(s, 10, RevokedToken{ID: "stolen", Expires: 1000, KeysUntil: 90000})
	if s.Tokens.TakesKeys("logout") || !s.Tokens.TakesKeys("stolen") || !s.Tokens.Has("stolen") {
		t.Fatalf("tokens %v, keys %v", s.Tokens.Tokens, s.Tokens.Keys)
	}
	s = revoke(s, 20, RevokedToken{ID: "logout", Expires: 100, KeysUntil: 50000})
	if !s.Tokens.TakesKeys("logout") {
		t.Fatal("a logout revoked again with its keys does not take them")
	}
	if _, saved, _ := cloneControl(ControlState{Tokens: s.Tokens}); !saved.TakesKeys("stolen") || !saved.TakesKeys("logout") {
		t.Fatalf("a saved state lost the revocations with keys: %v", saved.Keys)
	}
	// Past the tokens' end, their keys are still refused; past the keys',
	// they go.
	s = revoke(s, 1000+RevocationMargin+1, RevokedToken{ID: "other", Expires: 100000})
	if s.Tokens.Has("stolen") || !s.Tokens.TakesKeys("stolen") || !s.Tokens.TakesKeys("logout") {
		t.Fatalf("past the tokens' end: tokens %v, keys %v", s.Tokens.Tokens, s.Tokens.Keys)
	}
	s = revoke(s, 50000+RevocationMargin+1, RevokedToken{ID: "another", Expires: 100000})
	if s.Tokens.TakesKeys("logout") || !s.Tokens.TakesKeys("stolen") {
		t.Fatalf("past the logout's keys' end: keys %v", s.Tokens.Keys)
	}
	if _, err := Apply(s, Change{Kind: RevokeToken, Created: 1, Token: RevokedToken{ID: "x", Expires: 10, KeysUntil: 20}}); !errors.Is(err, ErrUnknownChange) {
		t.Fatalf("a revocation with keys below their level: %v", err)
	}
	var none *RevokedTokens
	if none.TakesKeys("stolen") {
		t.Fatal("a nil list takes keys")
	}
}

// One listener, however its URL is spelled: localhost is either loopback
// address; 127.0.0.1 and ::1 are two, as are two ports or schemes.
func TestSameAddress(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"http://127.0.0.1:8080", "http://localhost:8080/", true},
		{"http://[::1]:8080", "http://LOCALHOST:8080", true},
		{"http://host:80", "http://HOST", true},
		{"https://host", "https://host:443", true},
		{"http://host:08080", "http://host:8080", true},
		{"http://127.0.0.1:8080", "http://[::1]:8080", false},
		{"http://127.0.0.1:8080", "http://127.0.0.2:8080", false},
		{"http://127.0.0.1:8080", "https://127.0.0.1:8080", false},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8081", false},
	} {
		if got := sameAddress(tc.a, tc.b); got != tc.same {
			t.Errorf("sameAddress(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}

// A join at a member's address spelled otherwise is refused for a new
// id, not for a member rejoining at the address it was admitted with
// (an older build let the two spellings in side by side).
func TestJoinAtAnAddressSpelledOtherwise(t *testing.T) {
	s := Snapshot{Map: &cluster.Map{Version: 3, Nodes: []cluster.Node{
		{ID: "t1", Role: cluster.RoleTarget, URL: "http://localhost:8080", State: cluster.StateOffline},
		{ID: "t2", Role: cluster.RoleTarget, URL: "http://127.0.0.1:8080", State: cluster.StateActive},
	}}}
	join := func(id, url string) error {
		return Admissible(s, Change{Kind: Join, Node: cluster.Node{ID: id, Role: cluster.RoleTarget, URL: url}})
	}
	if err := join("t2", "http://127.0.0.1:8080"); err != nil {
		t.Fatalf("a member rejoining at its address: %v", err)
	}
	if err := join("t9", "http://127.0.0.1:8080/"); !errors.Is(err, cluster.ErrDuplicateNode) {
		t.Fatalf("a new id at a member's address spelled otherwise: %v, want refused", err)
	}
}
