package cluster

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aisgo/aisgo/internal/hrw"
)

// Role is what a node does.
type Role string

// Roles. RoleAll is one process that is both gateway and target.
const (
	RoleGateway Role = "gateway"
	RoleTarget  Role = "target"
	RoleAll     Role = "all"
)

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleGateway, RoleTarget, RoleAll:
		return r, nil
	}
	return "", fmt.Errorf("role %q: want gateway, target or all", s)
}

// IsGateway reports whether the role serves the control plane.
func (r Role) IsGateway() bool { return r == RoleGateway || r == RoleAll }

// IsTarget reports whether the role stores data.
func (r Role) IsTarget() bool { return r == RoleTarget || r == RoleAll }

// State is a node's membership state.
type State string

// States. Only active targets own objects; a target in maintenance or
// leaving still serves what it has while its objects move away.
const (
	StateActive      State = "active"
	StateMaintenance State = "maintenance"
	StateLeaving     State = "leaving"
)

// Node is a member of the cluster.
type Node struct {
	ID    string `json:"id"`
	Role  Role   `json:"role"`
	URL   string `json:"url"` // public URL, e.g. http://127.0.0.1:8081
	State State  `json:"state"`
}

// Errors of map changes and lookups.
var (
	ErrNoTargets     = errors.New("cluster: no active targets")
	ErrNodeNotFound  = errors.New("cluster: node not in the cluster map")
	ErrDuplicateNode = errors.New("cluster: node id already in use")
	ErrStaleMap      = errors.New("cluster: cluster map is older than the current one")
)

// Map is a versioned snapshot of the cluster. Treat it as immutable.
type Map struct {
	Version int64  `json:"version"`
	UUID    string `json:"uuid"`    // cluster identity, set by the first primary
	Primary string `json:"primary"` // id of the primary gateway
	Nodes   []Node `json:"nodes"`   // sorted by id

	once    sync.Once
	targets []Node   // active targets
	digests []uint64 // of targets' ids
}

// Clone returns a copy with the same version, safe to modify.
func (m *Map) Clone() *Map {
	return &Map{Version: m.Version, UUID: m.UUID, Primary: m.Primary, Nodes: slices.Clone(m.Nodes)}
}

// Node returns the node with an id.
func (m *Map) Node(id string) (Node, bool) {
	i, ok := slices.BinarySearchFunc(m.Nodes, id, func(n Node, id string) int { return strings.Compare(n.ID, id) })
	if !ok {
		return Node{}, false
	}
	return m.Nodes[i], true
}

// PrimaryNode returns the primary gateway.
func (m *Map) PrimaryNode() (Node, bool) { return m.Node(m.Primary) }

// Targets returns every node with a target role, in id order.
func (m *Map) Targets() []Node {
	return slices.DeleteFunc(slices.Clone(m.Nodes), func(n Node) bool { return !n.Role.IsTarget() })
}

// Gateways returns every node with a gateway role, in id order.
func (m *Map) Gateways() []Node {
	return slices.DeleteFunc(slices.Clone(m.Nodes), func(n Node) bool { return !n.Role.IsGateway() })
}

// ActiveTargets returns the targets that own objects, in id order.
func (m *Map) ActiveTargets() []Node {
	m.index()
	return m.targets
}

func (m *Map) index() {
	m.once.Do(func() {
		for _, n := range m.Nodes {
			if n.Role.IsTarget() && n.State == StateActive {
				m.targets = append(m.targets, n)
				m.digests = append(m.digests, hrw.Digest(n.ID))
			}
		}
	})
}

// Uname is the placement name of an object.
func Uname(provider, bucket, object string) string {
	return provider + "/" + bucket + "/" + object
}

// Owner returns the active target that owns a name by HRW.
func (m *Map) Owner(uname string) (Node, error) {
	m.index()
	i := hrw.Pick(m.digests, hrw.Digest(uname))
	if i < 0 {
		return Node{}, ErrNoTargets
	}
	return m.targets[i], nil
}

// WithNode returns a new map with the node added (or replaced when it has
// the same id and URL, as a restarted node rejoining) and the version
// incremented. A different node under a used id is ErrDuplicateNode.
func (m *Map) WithNode(n Node) (*Map, error) {
	c := m.Clone()
	if old, ok := m.Node(n.ID); ok {
		if old.URL != n.URL && old.State == StateActive {
			return nil, fmt.Errorf("%w: %s is %s at %s", ErrDuplicateNode, n.ID, old.Role, old.URL)
		}
		c.Nodes = slices.DeleteFunc(c.Nodes, func(x Node) bool { return x.ID == n.ID })
	}
	c.Nodes = append(c.Nodes, n)
	slices.SortFunc(c.Nodes, func(a, b Node) int { return strings.Compare(a.ID, b.ID) })
	c.Version++
	return c, nil
}

// WithoutNode returns a new map without the node.
func (m *Map) WithoutNode(id string) (*Map, error) {
	if _, ok := m.Node(id); !ok {
		return nil, fmt.Errorf("%w: %s", ErrNodeNotFound, id)
	}
	c := m.Clone()
	c.Nodes = slices.DeleteFunc(c.Nodes, func(x Node) bool { return x.ID == id })
	c.Version++
	return c, nil
}

// WithState returns a new map with a node's state changed.
func (m *Map) WithState(id string, s State) (*Map, error) {
	if _, ok := m.Node(id); !ok {
		return nil, fmt.Errorf("%w: %s", ErrNodeNotFound, id)
	}
	c := m.Clone()
	for i := range c.Nodes {
		if c.Nodes[i].ID == id {
			c.Nodes[i].State = s
		}
	}
	c.Version++
	return c, nil
}

// SameTargets reports whether two maps have the same active targets, i.e.
// the same placement.
func SameTargets(a, b *Map) bool {
	ta, tb := a.ActiveTargets(), b.ActiveTargets()
	return slices.EqualFunc(ta, tb, func(x, y Node) bool { return x.ID == y.ID })
}
