package cluster_test

import (
	"errors"
	"fmt"
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
