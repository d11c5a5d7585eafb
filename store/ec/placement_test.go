package ec_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/ec"
)

// testMap returns a map of n active targets t00, t01, ... and a gateway.
func testMap(n int) *cluster.Map {
	m := &cluster.Map{Version: 1, Primary: "gw"}
	m.Nodes = append(m.Nodes, cluster.Node{ID: "gw", Role: cluster.RoleGateway, URL: "http://127.0.0.1:8080", State: cluster.StateActive})
	for i := range n {
		m.Nodes = append(m.Nodes, cluster.Node{
			ID: fmt.Sprintf("t%02d", i), Role: cluster.RoleTarget,
			URL: fmt.Sprintf("http://127.0.0.1:%d", 9000+i), State: cluster.StateActive,
		})
	}
	slices.SortFunc(m.Nodes, func(a, b cluster.Node) int { return strings.Compare(a.ID, b.ID) })
	return m
}

func ownerOf(t *testing.T, m *cluster.Map, b store.Bucket, name string) cluster.Node {
	t.Helper()
	b = b.Normalize()
	owner, err := m.Owner(cluster.Uname(b.Provider, b.Name, name))
	if err != nil {
		t.Fatal(err)
	}
	return owner
}

func ids(nodes []cluster.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.ID
	}
	return out
}

func TestHolders(t *testing.T) {
	b := store.NewBucket("images")
	tests := []struct {
		name           string
		targets        int
		parts          int
		wantDistinct   int // holders that differ
		wantRoundRobin bool
	}{
		{"enough targets", 10, 6, 6, false},
		{"exactly enough", 7, 6, 6, false},
		{"one part", 3, 1, 1, false},
		{"fewer targets than parts", 3, 6, 2, true},
		{"one other target", 2, 12, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := testMap(tc.targets)
			for k := range 200 {
				name := fmt.Sprintf("dir/obj-%d", k)
				holders, err := ec.Holders(m, b, name, tc.parts)
				if err != nil {
					t.Fatal(err)
				}
				if len(holders) != tc.parts {
					t.Fatalf("%d holders for %d parts", len(holders), tc.parts)
				}
				owner := ownerOf(t, m, b, name)
				distinct := map[string]bool{}
				for _, h := range holders {
					if h.ID == owner.ID {
						t.Fatalf("%s: the owner %s holds a part", name, owner.ID)
					}
					distinct[h.ID] = true
				}
				if len(distinct) != tc.wantDistinct {
					t.Fatalf("%s: %d distinct holders %v, want %d", name, len(distinct), ids(holders), tc.wantDistinct)
				}
				if tc.wantRoundRobin {
					for i := range holders {
						if holders[i].ID != holders[i%tc.wantDistinct].ID {
							t.Fatalf("%s: holders %v are not round robin", name, ids(holders))
						}
					}
				}
				// HRW order: the owner, then the holders.
				want := m.Owners(cluster.Uname(store.ProviderAIS, b.Name, name), tc.wantDistinct+1)
				if !slices.Equal(ids(want[1:]), ids(holders[:tc.wantDistinct])) {
					t.Fatalf("%s: holders %v, want HRW order %v", name, ids(holders), ids(want[1:]))
				}
			}
		})
	}
}

func TestHoldersDeterministic(t *testing.T) {
	m := testMap(8)
	for k := range 100 {
		name := fmt.Sprintf("obj-%d", k)
		a, err := ec.Holders(m, store.Bucket{Name: "b"}, name, 6)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ec.Holders(m.Clone(), store.NewBucket("b"), name, 6)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(a), ids(b)) {
			t.Fatalf("%s: %v then %v", name, ids(a), ids(b))
		}
	}
}

// A target that is neither the owner nor a holder changes nothing by
// leaving, going offline or into maintenance.
func TestHoldersStable(t *testing.T) {
	b := store.NewBucket("b")
	m := testMap(12)
	for k := range 200 {
		name := fmt.Sprintf("obj-%d", k)
		before, err := ec.Holders(m, b, name, 4)
		if err != nil {
			t.Fatal(err)
		}
		involved := append(ids(before), ownerOf(t, m, b, name).ID)
		for _, n := range m.ActiveTargets() {
			if slices.Contains(involved, n.ID) {
				continue
			}
			removed, _ := m.WithoutNode(n.ID)
			offline, _ := m.WithState(n.ID, cluster.StateOffline)
			maintenance, _ := m.WithState(n.ID, cluster.StateMaintenance)
			for _, next := range []*cluster.Map{removed, offline, maintenance} {
				after, err := ec.Holders(next, b, name, 4)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(ids(before), ids(after)) {
					t.Fatalf("%s: %s left and the holders went from %v to %v", name, n.ID, ids(before), ids(after))
				}
			}
		}
	}
}

func TestHoldersOnlyActive(t *testing.T) {
	m := testMap(6)
	m, _ = m.WithState("t01", cluster.StateOffline)
	m, _ = m.WithState("t02", cluster.StateMaintenance)
	m, _ = m.WithState("t03", cluster.StateLeaving)
	for k := range 100 {
		holders, err := ec.Holders(m, store.NewBucket("b"), fmt.Sprintf("obj-%d", k), 5)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range holders {
			if h.State != cluster.StateActive {
				t.Fatalf("holder %s is %s", h.ID, h.State)
			}
		}
	}
}

func TestHoldersNone(t *testing.T) {
	b := store.NewBucket("b")
	for _, m := range []*cluster.Map{testMap(0), testMap(1)} {
		if h, err := ec.Holders(m, b, "obj", 3); !errors.Is(err, ec.ErrNoHolders) || h != nil {
			t.Fatalf("%d targets: %v, %v; want ErrNoHolders", len(m.ActiveTargets()), ids(h), err)
		}
	}
	two, _ := testMap(2).WithState("t01", cluster.StateOffline)
	if _, err := ec.Holders(two, b, "obj", 3); !errors.Is(err, ec.ErrNoHolders) {
		t.Fatalf("the other target offline: %v, want ErrNoHolders", err)
	}
	if h, err := ec.Holders(testMap(3), b, "obj", 0); h != nil || err != nil {
		t.Fatalf("no parts: %v, %v", ids(h), err)
	}
}
