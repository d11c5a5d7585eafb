package cluster_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/aisgo/aisgo/cluster"
)

func mapOf(t *testing.T, targets int) *cluster.Map {
	t.Helper()
	m := &cluster.Map{Primary: "g1"}
	m, _ = m.WithNode(cluster.Node{ID: "g1", Role: cluster.RoleGateway, URL: "http://127.0.0.1:1", State: cluster.StateActive})
	for i := range targets {
		var err error
		m, err = m.WithNode(cluster.Node{ID: fmt.Sprintf("t%d", i+1), Role: cluster.RoleTarget, URL: fmt.Sprintf("http://127.0.0.1:%d", 100+i), State: cluster.StateActive})
		if err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// With 3 targets, 3,000 objects spread within ±15% of a third each; adding
// a fourth moves close to a quarter, and only to the new target.
func TestPlacementSpreadAndMinimalMovement(t *testing.T) {
	const n = 3000
	three := mapOf(t, 3)
	counts := map[string]int{}
	owners := make([]string, n)
	for i := range n {
		o, err := three.Owner(cluster.Uname("ais", "b", fmt.Sprintf("obj-%05d", i)))
		if err != nil {
			t.Fatal(err)
		}
		owners[i] = o.ID
		counts[o.ID]++
	}
	for id, c := range counts {
		if c < n/3*85/100 || c > n/3*115/100 {
			t.Errorf("target %s owns %d of %d objects, outside ±15%% of a third", id, c, n)
		}
	}
	four, err := three.WithNode(cluster.Node{ID: "t4", Role: cluster.RoleTarget, URL: "http://127.0.0.1:200", State: cluster.StateActive})
	if err != nil {
		t.Fatal(err)
	}
	moved := 0
	for i := range n {
		o, _ := four.Owner(cluster.Uname("ais", "b", fmt.Sprintf("obj-%05d", i)))
		if o.ID != owners[i] {
			if o.ID != "t4" {
				t.Fatalf("object %d moved from %s to %s, not to the new target", i, owners[i], o.ID)
			}
			moved++
		}
	}
	if moved < n/4*80/100 || moved > n/4*120/100 {
		t.Errorf("%d of %d objects moved, want close to a quarter", moved, n)
	}
}

func TestMaintenanceTargetOwnsNothing(t *testing.T) {
	m := mapOf(t, 3)
	m2, err := m.WithState("t2", cluster.StateMaintenance)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Version != m.Version+1 {
		t.Fatalf("version %d after a change of %d", m2.Version, m.Version)
	}
	for i := range 500 {
		o, _ := m2.Owner(cluster.Uname("ais", "b", fmt.Sprint(i)))
		if o.ID == "t2" {
			t.Fatal("a target in maintenance owns an object")
		}
	}
	if cluster.SameTargets(m, m2) {
		t.Fatal("maintenance did not change the active targets")
	}
}

func TestMapChanges(t *testing.T) {
	m := mapOf(t, 2)
	if _, err := m.WithNode(cluster.Node{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:999", State: cluster.StateActive}); !errors.Is(err, cluster.ErrDuplicateNode) {
		t.Fatalf("duplicate id at another URL: %v", err)
	}
	same, err := m.WithNode(cluster.Node{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:100", State: cluster.StateActive})
	if err != nil || len(same.Nodes) != len(m.Nodes) {
		t.Fatalf("a node rejoining at its URL: %v, %d nodes", err, len(same.Nodes))
	}
	// A node in maintenance or leaving is alive and holds objects: its
	// id from another URL is refused as for an active one; offline, the
	// node may come back at a new address.
	for _, state := range []cluster.State{cluster.StateMaintenance, cluster.StateLeaving, cluster.StateOffline} {
		marked, err := m.WithState("t1", state)
		if err != nil {
			t.Fatal(err)
		}
		_, err = marked.WithNode(cluster.Node{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:999", State: cluster.StateActive})
		if refused := errors.Is(err, cluster.ErrNodeElsewhere); refused == (state == cluster.StateOffline) {
			t.Errorf("t1 %s, joined at another URL: %v", state, err)
		}
	}
	if _, err := m.WithoutNode("nope"); !errors.Is(err, cluster.ErrNodeNotFound) {
		t.Fatalf("removing an unknown node: %v", err)
	}
	empty := &cluster.Map{}
	if _, err := empty.Owner("x"); !errors.Is(err, cluster.ErrNoTargets) {
		t.Fatalf("owner with no targets: %v", err)
	}
	if len(m.Targets()) != 2 || len(m.Gateways()) != 1 {
		t.Fatalf("roles: %d targets, %d gateways", len(m.Targets()), len(m.Gateways()))
	}
	all, _ := (&cluster.Map{}).WithNode(cluster.Node{ID: "n", Role: cluster.RoleAll, State: cluster.StateActive})
	if len(all.Targets()) != 1 || len(all.Gateways()) != 1 {
		t.Fatal("a node of role all is not both gateway and target")
	}
}

// TestCheckUpdate is the table of what a node accepts of a pushed map.
func TestCheckUpdate(t *testing.T) {
	cur := mapOf(t, 3)
	cur.UUID = "c1"
	withGateway := func(m *cluster.Map) *cluster.Map {
		m, _ = m.WithNode(cluster.Node{ID: "g2", Role: cluster.RoleGateway, URL: "http://127.0.0.1:2", State: cluster.StateActive})
		return m
	}
	next := func(change func(*cluster.Map)) *cluster.Map {
		m := cur.Clone()
		m.Version++
		if change != nil {
			change(m)
		}
		return m
	}
	tests := []struct {
		name   string
		cur    *cluster.Map
		next   *cluster.Map
		sender string
		rules  cluster.UpdateRules
		err    error
	}{
		{"the next version from the primary", cur, next(nil), "g1", cluster.UpdateRules{}, nil},
		{"from a target", cur, next(nil), "t1", cluster.UpdateRules{}, cluster.ErrNotPrimary},
		{"from an unknown node", cur, next(nil), "x", cluster.UpdateRules{}, cluster.ErrNotPrimary},
		{"a gateway that takes over", withGateway(cur), next(func(m *cluster.Map) {
			m.Nodes, m.Version = withGateway(cur).Nodes, withGateway(cur).Version+1
			m.Primary = "g2"
		}), "g2", cluster.UpdateRules{}, nil},
		{"a gateway that does not name itself primary", withGateway(cur), next(func(m *cluster.Map) {
			m.Nodes, m.Version = withGateway(cur).Nodes, withGateway(cur).Version+1
		}), "g2", cluster.UpdateRules{}, cluster.ErrNotPrimary},
		{"a primary elected while this node was away, answering its join", cur, next(func(m *cluster.Map) {
			m.Nodes, m.Version = withGateway(cur).Nodes, cur.Version+3
			m.Primary = "g2"
		}), "g2", cluster.UpdateRules{Recovery: true}, nil},
		{"a primary elected while this node was away, pushing", cur, next(func(m *cluster.Map) {
			m.Nodes, m.Version = withGateway(cur).Nodes, cur.Version+3
			m.Primary = "g2"
		}), "g2", cluster.UpdateRules{}, cluster.ErrNotPrimary},
		{"a join answered by a gateway that does not name itself primary", cur, next(func(m *cluster.Map) {
			m.Nodes, m.Version = withGateway(cur).Nodes, cur.Version+3
		}), "g2", cluster.UpdateRules{Recovery: true}, cluster.ErrNotPrimary},
		{"the same version", cur, cur.Clone(), "g1", cluster.UpdateRules{}, cluster.ErrStaleMap},
		{"an older version", cur, func() *cluster.Map { m := cur.Clone(); m.Version--; return m }(), "g1", cluster.UpdateRules{}, cluster.ErrStaleMap},
		{"version MaxInt64", cur, next(func(m *cluster.Map) { m.Version = 1<<63 - 1 }), "g1", cluster.UpdateRules{}, cluster.ErrVersionJump},
		{"a far jump when joining", cur, next(func(m *cluster.Map) { m.Version += 50000 }), "g1", cluster.UpdateRules{Recovery: true}, nil},
		{"another cluster", cur, next(func(m *cluster.Map) { m.UUID = "other" }), "g1", cluster.UpdateRules{}, cluster.ErrForeignMap},
		{"every target gone", cur, next(func(m *cluster.Map) { m.Nodes = m.Gateways() }), "g1", cluster.UpdateRules{}, cluster.ErrWipe},
		{"every target gone, allowed", cur, next(func(m *cluster.Map) { m.Nodes = m.Gateways() }), "g1", cluster.UpdateRules{AllowNoTargets: true}, nil},
		{"empty map", cur, next(func(m *cluster.Map) { m.Nodes = nil }), "g1", cluster.UpdateRules{}, cluster.ErrWipe},
		{"a node id with a path", cur, next(func(m *cluster.Map) {
			m.Nodes = append(m.Nodes, cluster.Node{ID: "../../x", Role: cluster.RoleTarget, URL: "http://127.0.0.1:9", State: cluster.StateActive})
		}), "g1", cluster.UpdateRules{}, cluster.ErrInvalidNode},
		{"a node URL that is not one", cur, next(func(m *cluster.Map) { m.Nodes[1].URL = "::::" }), "g1", cluster.UpdateRules{}, cluster.ErrInvalidNode},
		{"a primary that is not a gateway", cur, next(func(m *cluster.Map) { m.Primary = "t1" }), "t1", cluster.UpdateRules{}, cluster.ErrInvalidNode},
		{"no map yet, from its primary", nil, next(nil), "g1", cluster.UpdateRules{}, nil},
		{"no map yet, from another node", nil, next(nil), "t2", cluster.UpdateRules{}, cluster.ErrNotPrimary},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := cluster.CheckUpdate(tc.cur, tc.next, tc.sender, tc.rules)
			if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
		})
	}
}

func TestValidateURL(t *testing.T) {
	for _, good := range []string{"http://127.0.0.1:8080", "https://node-1.example:443", "http://[::1]:80/"} {
		if err := cluster.ValidateURL(good); err != nil {
			t.Errorf("%s: %v", good, err)
		}
	}
	for _, bad := range []string{"::::", "", "ftp://h:1", "http://h", "http://h:0", "http://h:70000", "http://u:p@h:1", "http://h:1/x", "http://h:1?q", "http://h:1?", "http://:1"} {
		if err := cluster.ValidateURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestMayHold: with a target offline, exactly the names it owned before
// it left are the ones it may hold.
func TestMayHold(t *testing.T) {
	all := mapOf(t, 3)
	offline, _ := all.WithState("t2", cluster.StateOffline)
	if _, ok := all.MayHold("ais/b/x"); ok || all.HasOffline() {
		t.Fatal("a map without offline targets says one may hold a name")
	}
	if !offline.HasOffline() {
		t.Fatal("HasOffline misses t2")
	}
	for i := range 300 {
		name := fmt.Sprintf("ais/b/obj-%d", i)
		before, _ := all.Owner(name)
		holder, ok := offline.MayHold(name)
		if ok != (before.ID == "t2") || ok && holder.ID != "t2" {
			t.Fatalf("%s: owned by %s before, MayHold says %v %s", name, before.ID, ok, holder.ID)
		}
	}
}

// TestOwners is the table of how many targets Owners returns and which.
func TestOwners(t *testing.T) {
	three := mapOf(t, 3)
	maintenance, _ := three.WithState("t2", cluster.StateMaintenance)
	tests := []struct {
		name string
		m    *cluster.Map
		n    int
		want int
	}{
		{"negative", three, -1, 0},
		{"zero", three, 0, 0},
		{"one", three, 1, 1},
		{"two", three, 2, 2},
		{"all", three, 3, 3},
		{"more than there are", three, 5, 3},
		{"maintenance target left out", maintenance, 3, 2},
		{"no targets", mapOf(t, 0), 2, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.m.Owners("ais/b/obj", tc.n)
			if len(got) != tc.want {
				t.Fatalf("Owners(n=%d) = %d targets %v, want %d", tc.n, len(got), got, tc.want)
			}
			if tc.want == 0 && got != nil {
				t.Fatalf("Owners(n=%d) = %v, want nil", tc.n, got)
			}
			for _, o := range got {
				if o.State != cluster.StateActive || !o.Role.IsTarget() {
					t.Fatalf("Owners returned %+v, not an active target", o)
				}
			}
		})
	}
}

// TestOwnersIsHRWOrder checks Owners against a dumb alternative: the
// (i+1)-th owner of a name is the Owner once the first i are gone. The
// first is Owner, the n are distinct, and a shorter list is a prefix of a
// longer one.
func TestOwnersIsHRWOrder(t *testing.T) {
	const targets, names = 5, 2000
	full := mapOf(t, targets)
	without := map[string]*cluster.Map{} // by the ids removed, in order
	for i := range names {
		name := cluster.Uname("ais", "b", fmt.Sprintf("obj-%05d", i))
		all := full.Owners(name, targets)
		if len(all) != targets {
			t.Fatalf("%s: %d owners of %d targets", name, len(all), targets)
		}
		owner, err := full.Owner(name)
		if err != nil {
			t.Fatal(err)
		}
		if one := full.Owners(name, 1); len(one) != 1 || one[0].ID != owner.ID || all[0].ID != owner.ID {
			t.Fatalf("%s: Owners(1) %v, Owners(%d) %v, Owner %s", name, one, targets, all, owner.ID)
		}
		seen := map[string]bool{}
		m, removed := full, ""
		for k, o := range all {
			if seen[o.ID] {
				t.Fatalf("%s: %s twice in %v", name, o.ID, all)
			}
			seen[o.ID] = true
			if want, _ := m.Owner(name); want.ID != o.ID {
				t.Fatalf("%s: owner %d is %s, want %s (the owner without %s)", name, k, o.ID, want.ID, removed)
			}
			if prefix := full.Owners(name, k+1); !slices.EqualFunc(prefix, all[:k+1], func(a, b cluster.Node) bool { return a.ID == b.ID }) {
				t.Fatalf("%s: Owners(%d) %v is not a prefix of %v", name, k+1, prefix, all)
			}
			removed += "/" + o.ID
			if without[removed] == nil && k+1 < targets {
				if without[removed], err = m.WithoutNode(o.ID); err != nil {
					t.Fatal(err)
				}
			}
			m = without[removed]
		}
	}
}

// A node with no map yet (before its join) is in none: a push that
// carries no map is answered, not a panic.
func TestNoMapHasNoNode(t *testing.T) {
	var m *cluster.Map
	if _, ok := m.Node("t1"); ok {
		t.Fatal("a nil map has a node")
	}
}

// Two URLs of one listener are told apart from those of two.
func TestSameURL(t *testing.T) {
	for _, same := range [][2]string{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/"},
		{"http://localhost:8081", "http://127.0.0.1:8081"},
		{"HTTP://AIS.example", "http://ais.example:80"},
		{"https://h", "https://h:443"},
	} {
		if !cluster.SameURL(same[0], same[1]) {
			t.Errorf("%s and %s: not the same", same[0], same[1])
		}
	}
	for _, other := range [][2]string{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8081"},
		{"http://127.0.0.2:8080", "http://127.0.0.1:8080"},
		{"http://h:443", "https://h:443"},
	} {
		if cluster.SameURL(other[0], other[1]) {
			t.Errorf("%s and %s: the same", other[0], other[1])
		}
	}
}
