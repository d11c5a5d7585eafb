package cluster

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aisgo/aisgo/internal/hrw"
)

// The map travels in AIStore's shape (its Smap), so that AIStore's clients
// read it: gateways in pmap, targets in tmap, each node with its three
// networks, a string version. A node of role "all" is in both. Keys
// AIStore does not have ("role", "state") carry what its shape cannot, so
// that a map read back is the map written; AIStore's clients ignore them.

// Node flags of AIStore's Snode.
const (
	FlagNonElectable = 1 << 0
	FlagIC           = 1 << 1
	FlagMaintenance  = 1 << 2
	FlagDecommission = 1 << 3
)

// Daemon types of AIStore.
const (
	DaemonProxy  = "proxy"
	DaemonTarget = "target"
)

// NetInfo is one network of a node.
type NetInfo struct {
	Host string `json:"node_ip_addr"`
	Port string `json:"daemon_port"`
	URL  string `json:"direct_url"`
}

// Snode is a node in AIStore's shape.
type Snode struct {
	ID         string  `json:"daemon_id"`
	Type       string  `json:"daemon_type"`
	PublicNet  NetInfo `json:"public_net"`
	ControlNet NetInfo `json:"intra_control_net"`
	DataNet    NetInfo `json:"intra_data_net"`
	Flags      uint64  `json:"flags"`
	IDDigest   uint64  `json:"id_digest"`
	Role       Role    `json:"role,omitempty"`
	State      State   `json:"state,omitempty"`
	// Leaving is Node.Leaving: an offline target that goes on leaving
	// when it is back (a Raft snapshot carries the map in this shape).
	Leaving bool `json:"leaving,omitempty"`
	// Maintained is Node.Maintained.
	Maintained bool `json:"maintained,omitempty"`
}

// Snode returns the node in AIStore's shape, as a daemon of a type
// (DaemonProxy or DaemonTarget).
func (n Node) Snode(daemonType string) Snode {
	net := NetInfo{URL: n.URL}
	if u, err := url.Parse(n.URL); err == nil {
		net.Host, net.Port = u.Hostname(), u.Port()
	}
	s := Snode{ID: n.ID, Type: daemonType, PublicNet: net, ControlNet: net, DataNet: net,
		IDDigest: hrw.Digest(n.ID), Role: n.Role, State: n.State, Leaving: n.Leaving, Maintained: n.Maintained}
	switch n.State {
	case StateMaintenance, StateOffline:
		s.Flags |= FlagMaintenance
	case StateLeaving:
		s.Flags |= FlagDecommission
	}
	return s
}

// node reads a node back; a node written by AIStore has no role and
// state, which the daemon type and flags give.
func (s Snode) node() Node {
	n := Node{ID: s.ID, Role: s.Role, URL: s.PublicNet.URL, State: s.State, Leaving: s.Leaving, Maintained: s.Maintained}
	if n.Role == "" {
		n.Role = RoleTarget
		if s.Type == DaemonProxy {
			n.Role = RoleGateway
		}
	}
	if n.State == "" {
		switch {
		case s.Flags&FlagDecommission != 0:
			n.State = StateLeaving
		case s.Flags&FlagMaintenance != 0:
			n.State = StateMaintenance
		default:
			n.State = StateActive
		}
	}
	return n
}

// mapWire is the map's JSON: AIStore's Smap.
type mapWire struct {
	Pmap         map[string]Snode `json:"pmap"`
	Tmap         map[string]Snode `json:"tmap"`
	Primary      *Snode           `json:"proxy_si"`
	UUID         string           `json:"uuid"`
	CreationTime string           `json:"creation_time"`
	Version      string           `json:"version"`
}

// mapWireOld is the shape maps had before (on disk and in old Raft logs).
type mapWireOld struct {
	Version int64  `json:"version"`
	UUID    string `json:"uuid"`
	Primary string `json:"primary"`
	Nodes   []Node `json:"nodes"`
}

// MarshalJSON writes the map in AIStore's shape.
func (m *Map) MarshalJSON() ([]byte, error) {
	w := mapWire{Pmap: map[string]Snode{}, Tmap: map[string]Snode{}, UUID: m.UUID, Version: strconv.FormatInt(m.Version, 10)}
	if m.Created != 0 {
		w.CreationTime = time.Unix(0, m.Created).UTC().Format(time.RFC3339Nano)
	}
	for _, n := range m.Nodes {
		if n.Role.IsGateway() {
			s := n.Snode(DaemonProxy)
			w.Pmap[n.ID] = s
			if n.ID == m.Primary {
				w.Primary = &s
			}
		}
		if n.Role.IsTarget() {
			w.Tmap[n.ID] = n.Snode(DaemonTarget)
		}
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads AIStore's shape or the former one of AIS-Go.
func (m *Map) UnmarshalJSON(data []byte) error {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return err
	}
	if _, old := probe["nodes"]; old {
		var o mapWireOld
		if err := json.Unmarshal(data, &o); err != nil {
			return err
		}
		m.Version, m.UUID, m.Primary, m.Nodes = o.Version, o.UUID, o.Primary, o.Nodes
		return nil
	}
	var w mapWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	version, err := strconv.ParseInt(strings.Trim(w.Version, `"`), 10, 64)
	if err != nil && w.Version != "" {
		return fmt.Errorf("cluster map: version %q is not an integer", w.Version)
	}
	m.Version, m.UUID, m.Created = version, w.UUID, 0
	if w.CreationTime != "" {
		if t, err := time.Parse(time.RFC3339Nano, w.CreationTime); err == nil {
			m.Created = t.UnixNano()
		}
	}
	m.Primary = ""
	if w.Primary != nil {
		m.Primary = w.Primary.ID
	}
	nodes := map[string]Node{}
	for _, id := range slices.Sorted(maps.Keys(w.Pmap)) {
		nodes[id] = w.Pmap[id].node()
	}
	for _, id := range slices.Sorted(maps.Keys(w.Tmap)) {
		t := w.Tmap[id].node()
		if g, ok := nodes[id]; ok && g.Role != t.Role {
			t.Role = RoleAll
		}
		nodes[id] = t
	}
	m.Nodes = make([]Node, 0, len(nodes))
	for _, id := range slices.Sorted(maps.Keys(nodes)) {
		n := nodes[id]
		if n.ID != id {
			return fmt.Errorf("cluster map: node %q is listed under %q", n.ID, id)
		}
		m.Nodes = append(m.Nodes, n)
	}
	return nil
}
