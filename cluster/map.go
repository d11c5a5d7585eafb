package cluster

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/aisgo/aisgo/internal/hrw"
	"github.com/aisgo/aisgo/internal/pathsafe"
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
	// StateOffline: a target that stopped answering. It owns nothing,
	// but may still hold objects, which are not to be reported missing
	// until it is back or removed.
	StateOffline State = "offline"
)

// Node is a member of the cluster.
type Node struct {
	ID    string `json:"id"`
	Role  Role   `json:"role"`
	URL   string `json:"url"` // public URL, e.g. http://127.0.0.1:8081
	State State  `json:"state"`
	// Leaving marks an offline target that was leaving: it goes on
	// leaving when it is back, rather than own objects again.
	Leaving bool `json:"leaving,omitempty"`
	// Maintained marks an offline target that was in maintenance: it
	// stays in maintenance when it is back.
	Maintained bool `json:"maintained,omitempty"`
}

// Errors of map changes and lookups.
var (
	ErrNoTargets     = errors.New("cluster: no active targets")
	ErrNodeNotFound  = errors.New("cluster: node not in the cluster map")
	ErrDuplicateNode = errors.New("cluster: node id already in use")
	ErrStaleMap      = errors.New("cluster: cluster map is older than the current one")
	// ErrNodeElsewhere: the id is active at another URL (the node
	// restarted at a new address, or another process took its id).
	ErrNodeElsewhere = fmt.Errorf("%w at another address", ErrDuplicateNode)
)

// Map is a versioned snapshot of the cluster. Treat it as immutable.
type Map struct {
	Version int64  `json:"version"`
	UUID    string `json:"uuid"`    // cluster identity, set by the first primary
	Primary string `json:"primary"` // id of the primary gateway
	Nodes   []Node `json:"nodes"`   // sorted by id
	// Created is when the cluster was made, in Unix nanoseconds.
	Created int64 `json:"-"`

	once    sync.Once
	targets []Node   // active targets
	digests []uint64 // of targets' ids
	// holders are the active and offline targets, when some are offline.
	holders       []Node
	holderDigests []uint64
}

// Clone returns a copy with the same version, safe to modify.
func (m *Map) Clone() *Map {
	return &Map{Version: m.Version, UUID: m.UUID, Primary: m.Primary, Created: m.Created, Nodes: slices.Clone(m.Nodes)}
}

// Node returns the node with an id.
func (m *Map) Node(id string) (Node, bool) {
	if m == nil {
		return Node{}, false // no map yet (a node before its join): in none
	}
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

// Reachable returns the targets that are not offline (active, in
// maintenance or leaving), in id order: those worth asking.
func (m *Map) Reachable() []Node {
	return slices.DeleteFunc(m.Targets(), func(n Node) bool { return n.State == StateOffline })
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
		offline := false
		for _, n := range m.Nodes {
			if n.Role.IsTarget() && n.State == StateActive {
				m.targets = append(m.targets, n)
				m.digests = append(m.digests, hrw.Digest(n.ID))
			}
			offline = offline || n.Role.IsTarget() && n.State == StateOffline
		}
		if !offline {
			return
		}
		for _, n := range m.Nodes {
			if n.Role.IsTarget() && (n.State == StateActive || n.State == StateOffline) {
				m.holders = append(m.holders, n)
				m.holderDigests = append(m.holderDigests, hrw.Digest(n.ID))
			}
		}
	})
}

// MayHold returns the offline target that may hold a name: the one that
// would own it were every offline target back. While it is away, "not
// found" elsewhere does not mean the object does not exist.
func (m *Map) MayHold(uname string) (Node, bool) {
	m.index()
	if len(m.holders) == 0 {
		return Node{}, false
	}
	i := hrw.Pick(m.holderDigests, hrw.Digest(uname))
	if i < 0 || m.holders[i].State != StateOffline {
		return Node{}, false
	}
	return m.holders[i], true
}

// OfflineAmong returns the offline targets among the first n a name ranks
// by HRW over the active and offline targets: those that may hold a copy
// or a part of it (placed when they were active) while they are away.
func (m *Map) OfflineAmong(uname string, n int) []Node {
	m.index()
	if len(m.holders) == 0 {
		return nil
	}
	var out []Node
	for _, i := range hrw.Rank(m.holderDigests, hrw.Digest(uname), n) {
		if m.holders[i].State == StateOffline {
			out = append(out, m.holders[i])
		}
	}
	return out
}

// HasOffline reports whether a target of the map is offline.
func (m *Map) HasOffline() bool {
	m.index()
	return len(m.holders) > 0
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

// Owners returns the first n active targets for a name in HRW order,
// highest score first: where n copies of an object go, the owner first.
// It returns fewer when fewer targets are active, and nil when n <= 0.
func (m *Map) Owners(uname string, n int) []Node {
	m.index()
	order := hrw.Rank(m.digests, hrw.Digest(uname), n)
	if len(order) == 0 {
		return nil
	}
	out := make([]Node, len(order))
	for i, k := range order {
		out[i] = m.targets[k]
	}
	return out
}

// WithNode returns a new map with the node added (or replaced when it has
// the same id and URL, as a restarted node rejoining, or when its old
// entry is offline) and the version incremented. Another URL under the id
// of a node not offline (active, in maintenance, leaving: alive, holding
// objects) is ErrNodeElsewhere.
func (m *Map) WithNode(n Node) (*Map, error) {
	c := m.Clone()
	if old, ok := m.Node(n.ID); ok {
		if old.URL != n.URL && old.State != StateOffline {
			return nil, fmt.Errorf("%w: %s is %s at %s", ErrNodeElsewhere, n.ID, old.Role, old.URL)
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

// WithState returns a new map with a node's state changed. A target
// taken offline while leaving is marked so (Node.Leaving); any other
// change drops the mark.
func (m *Map) WithState(id string, s State) (*Map, error) {
	old, ok := m.Node(id)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNodeNotFound, id)
	}
	c := m.Clone()
	for i := range c.Nodes {
		if c.Nodes[i].ID == id {
			c.Nodes[i].State = s
			c.Nodes[i].Leaving = s == StateOffline && (old.State == StateLeaving || old.Leaving)
			c.Nodes[i].Maintained = s == StateOffline && (old.State == StateMaintenance || old.Maintained)
		}
	}
	c.Version++
	return c, nil
}

// WithMarks returns a copy of m in which an offline node goes, once back,
// to maintenance (maintained) or on leaving (leaving), or to active with
// neither; m itself when that is so already.
func (m *Map) WithMarks(id string, maintained, leaving bool) (*Map, error) {
	old, ok := m.Node(id)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNodeNotFound, id)
	}
	if old.State != StateOffline {
		return nil, fmt.Errorf("cluster: %s is %s, not offline", id, old.State)
	}
	if old.Maintained == maintained && old.Leaving == leaving {
		return m, nil
	}
	c := m.Clone()
	for i := range c.Nodes {
		if c.Nodes[i].ID == id {
			c.Nodes[i].Maintained, c.Nodes[i].Leaving = maintained, leaving
		}
	}
	c.Version++
	return c, nil
}

// StillLeaving reports whether a target is leaving, or offline while it
// was.
func (n Node) StillLeaving() bool {
	return n.State == StateLeaving || n.State == StateOffline && n.Leaving
}

// SameTargets reports whether two maps have the same active targets, i.e.
// the same placement.
func SameTargets(a, b *Map) bool {
	ta, tb := a.ActiveTargets(), b.ActiveTargets()
	return slices.EqualFunc(ta, tb, func(x, y Node) bool { return x.ID == y.ID })
}

// Placement is a digest of the active targets, the one thing placement
// depends on: two maps with the same place every object alike, whatever
// their versions (a gateway that joined changes the version only).
func (m *Map) Placement() uint64 {
	if m == nil {
		return 0 // no map yet: placed by nothing
	}
	var b strings.Builder
	for _, n := range m.ActiveTargets() {
		b.WriteString(n.ID)
		b.WriteByte(0)
	}
	return hrw.Digest(b.String())
}

// ErrInvalidNode marks a node description that cannot be used.
var ErrInvalidNode = errors.New("cluster: invalid node")

// Validate checks a node's id, role, state and URL: the id names files
// and the URL is dialed, so both come from peers only after this check.
func (n Node) Validate() error {
	if err := pathsafe.Segment("node id", n.ID); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidNode, err)
	}
	if _, err := ParseRole(string(n.Role)); err != nil {
		return fmt.Errorf("%w: node %s: %w", ErrInvalidNode, n.ID, err)
	}
	switch n.State {
	case "", StateActive, StateMaintenance, StateLeaving, StateOffline:
	default:
		return fmt.Errorf("%w: node %s: state %q is not known", ErrInvalidNode, n.ID, n.State)
	}
	if err := ValidateURL(n.URL); err != nil {
		return fmt.Errorf("%w: node %s: %w", ErrInvalidNode, n.ID, err)
	}
	return nil
}

// ValidateURL checks a node URL: http or https, a host and a port, and
// nothing else (no user, path, query or fragment). A trailing "/" passes:
// maps saved with one must still load (aisnode trims it from -url, as
// nodes put their routes after it).
func ValidateURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("url %q: %w", s, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("url %q: the scheme must be http or https", s)
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || u.ForceQuery:
		return fmt.Errorf("url %q: want only scheme, host and port", s)
	case u.Hostname() == "":
		return fmt.Errorf("url %q: the host is missing", s)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil || port < 1 || port > 65535 {
		return fmt.Errorf("url %q: want a port in 1..65535", s)
	}
	return nil
}

// Validate checks a map received from a peer or read from disk: every
// node valid, ids unique and sorted, and the primary one of its gateways.
func (m *Map) Validate() error {
	if m.Version < 0 {
		return fmt.Errorf("%w: map version %d is negative", ErrInvalidNode, m.Version)
	}
	if m.UUID != "" {
		if err := pathsafe.Segment("cluster uuid", m.UUID); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidNode, err)
		}
	}
	for i, n := range m.Nodes {
		if err := n.Validate(); err != nil {
			return err
		}
		if i > 0 && m.Nodes[i-1].ID >= n.ID {
			return fmt.Errorf("%w: node ids are not unique and sorted (%s, %s)", ErrInvalidNode, m.Nodes[i-1].ID, n.ID)
		}
	}
	if len(m.Nodes) > 0 {
		p, ok := m.PrimaryNode()
		if !ok || !p.Role.IsGateway() {
			return fmt.Errorf("%w: primary %q is not a gateway of the map", ErrInvalidNode, m.Primary)
		}
	}
	return nil
}

// Errors of CheckUpdate.
var (
	ErrNotPrimary  = errors.New("cluster: metadata is accepted only from the primary gateway")
	ErrForeignMap  = errors.New("cluster: map belongs to another cluster")
	ErrVersionJump = errors.New("cluster: map version jumps too far ahead")
	ErrWipe        = errors.New("cluster: map would remove every target")
)

// UpdateRules bound what a node accepts of a pushed map.
type UpdateRules struct {
	// MaxVersionJump is how far ahead of the current map a pushed one may
	// be; zero means 10000.
	MaxVersionJump int64
	// Recovery lifts the jump bound, for a node that joins (again) and
	// takes the map its gateway answers with.
	Recovery bool
	// AllowNoTargets accepts a map with no targets where the current one
	// has some: the primary sets it when the last target leaves for real.
	AllowNoTargets bool
}

// CheckUpdate decides whether a node holding cur (nil when it has none)
// takes next, pushed by the node sender. It accepts the map only from the
// current primary (or from a gateway of the current map that next names
// as the new primary), of the same cluster, in sequence, and sound. A map
// of the same or an older version is ErrStaleMap.
func CheckUpdate(cur, next *Map, sender string, rules UpdateRules) error {
	if err := next.Validate(); err != nil {
		return err
	}
	if cur == nil {
		if sender != next.Primary {
			return fmt.Errorf("%w: %s sent a map whose primary is %s", ErrNotPrimary, sender, next.Primary)
		}
		return nil
	}
	if cur.UUID != "" && next.UUID != cur.UUID {
		return fmt.Errorf("%w: %q, this node is in %q", ErrForeignMap, next.UUID, cur.UUID)
	}
	if sender != cur.Primary && !(rules.Recovery && next.Primary == sender) {
		// The answer to this node's own join (Recovery) comes from the
		// primary it asked, which may have joined and been elected
		// while this node was away: not in its map, yet of its cluster.
		g, known := cur.Node(sender)
		if !known || !g.Role.IsGateway() || next.Primary != sender {
			return fmt.Errorf("%w: %s sent it, the primary is %s", ErrNotPrimary, sender, cur.Primary)
		}
	}
	if next.Version <= cur.Version {
		return fmt.Errorf("%w: got version %d, have %d", ErrStaleMap, next.Version, cur.Version)
	}
	jump := rules.MaxVersionJump
	if jump <= 0 {
		jump = 10000
	}
	if !rules.Recovery && next.Version-cur.Version > jump {
		return fmt.Errorf("%w: version %d after %d (at most %d ahead)", ErrVersionJump, next.Version, cur.Version, jump)
	}
	if !rules.AllowNoTargets && len(cur.Targets()) > 0 && len(next.Targets()) == 0 {
		return fmt.Errorf("%w: version %d has no targets, version %d has %d", ErrWipe, next.Version, cur.Version, len(cur.Targets()))
	}
	return nil
}

// SameURL tells whether two node URLs name one listener: the same
// scheme and port, and the same host, "localhost" being the loopback
// address.
func SameURL(a, b string) bool {
	ua, errA := url.Parse(a)
	ub, errB := url.Parse(b)
	if errA != nil || errB != nil || !strings.EqualFold(ua.Scheme, ub.Scheme) {
		return false
	}
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		if strings.EqualFold(u.Scheme, "https") {
			return "443"
		}
		return "80"
	}
	host := func(u *url.URL) string {
		h := strings.ToLower(u.Hostname())
		if h == "localhost" || h == "::1" {
			return "127.0.0.1"
		}
		return h
	}
	return port(ua) == port(ub) && host(ua) == host(ub)
}
