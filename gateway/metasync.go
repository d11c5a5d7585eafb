package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/store"
)

// The control plane lives in cluster/membership; this file is its HTTP
// side: the metadata a primary pushes (PUT /v1/metasync), the changes
// nodes propose or forward to the primary (PUT /v1/internal/cluster), and
// the transport that sends both.

// metaMessage carries the cluster map and bucket metadata from the primary
// to every node, and back to a node that joins or proposes a change.
type metaMessage struct {
	Map     *cluster.Map          `json:"map,omitempty"`
	Buckets *store.BucketMetadata `json:"bmd,omitempty"`
	// AllowEmpty: the primary's own change left no targets or no buckets,
	// and receivers are to take that.
	AllowEmpty bool `json:"allow_empty,omitempty"`
}

func (m metaMessage) snapshot() membership.Snapshot {
	return membership.Snapshot{Map: m.Map, Buckets: m.Buckets}
}

// currentMap returns the node's cluster map (nil before Start).
func (n *Node) currentMap() *cluster.Map { return n.control.Current().Map }

// currentBuckets returns the node's bucket metadata.
func (n *Node) currentBuckets() *store.BucketMetadata { return n.control.Current().Buckets }

// call sends an intra-cluster request and decodes a JSON answer.
func (n *Node) call(ctx context.Context, method, url string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, n.config.RequestTimeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s %s: %w", api.ErrUnavailable, method, url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return api.DecodeError(resp)
	}
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	// A peer's answer is bounded like a request body (a listing page, a
	// status, a map).
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxPeerAnswer)).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, url, err)
	}
	return nil
}

// maxPeerAnswer bounds the JSON answer of an intra-cluster call.
const maxPeerAnswer = 64 << 20

func (n *Node) handleMetasync(w http.ResponseWriter, r *http.Request) {
	var msg metaMessage
	if err := decodeBody(r, &msg); err != nil {
		n.writeError(w, r, err)
		return
	}
	// A node far behind (down for long) catches up by joining again,
	// which takes any version; a push never makes it jump.
	err := n.control.Accept(r.Context(), msg.snapshot(), membership.Origin{Sender: sender(r), AllowEmpty: msg.AllowEmpty})
	if err != nil {
		n.logger.Warn("pushed metadata refused", "from", sender(r), "err", err)
		n.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// handleMembership serves the changes nodes propose (a join, a leaving
// target that is done, a change forwarded by another gateway) on an intra
// route: only a holder of the cluster secret changes the cluster.
func (n *Node) handleMembership(w http.ResponseWriter, r *http.Request) {
	if !n.config.Role.IsGateway() {
		n.writeError(w, r, badRequest("node %s is a target: send cluster changes to a gateway", n.config.ID))
		return
	}
	var change membership.Change
	if err := decodeBody(r, &change); err != nil {
		n.writeError(w, r, err)
		return
	}
	n.propose(w, r, change)
}

// propose applies a change through the control plane and answers the
// snapshot after it.
func (n *Node) propose(w http.ResponseWriter, r *http.Request, change membership.Change) {
	s, err := n.control.Propose(r.Context(), change)
	if err != nil {
		n.writeError(w, r, membershipError(err))
		return
	}
	writeJSON(w, metaMessage{Map: s.Map, Buckets: s.Buckets})
}

// membershipError marks the control plane's refusals as the caller's.
func membershipError(err error) error {
	switch {
	case errors.Is(err, membership.ErrNotLeaving), errors.Is(err, membership.ErrPrimaryLeaves), errors.Is(err, membership.ErrUnknownChange), errors.Is(err, membership.ErrProbe):
		return fmt.Errorf("%w: %w", api.ErrBadRequest, err)
	case errors.Is(err, membership.ErrNoPrimary), errors.Is(err, membership.ErrUnreachable):
		return fmt.Errorf("%w: %w", api.ErrUnavailable, err)
	}
	return err
}

// Cluster actions of the administrator (PUT /v1/cluster).
var clusterActions = map[string]membership.Kind{
	"leave":             membership.Leave,
	"start-maintenance": membership.Maintenance,
	"stop-maintenance":  membership.Activate,
}

// nodeChange is the value of the administrator's cluster actions.
type nodeChange struct {
	ID string `json:"id"`
}

// handleClusterAction serves the administrator's actions on nodes.
func (n *Node) handleClusterAction(w http.ResponseWriter, r *http.Request) {
	if err := n.requireGateway(); err != nil {
		n.writeError(w, r, err)
		return
	}
	var msg api.ActionMessage
	if err := decodeBody(r, &msg); err != nil {
		n.writeError(w, r, err)
		return
	}
	kind, ok := clusterActions[msg.Action]
	if !ok {
		n.writeError(w, r, badRequest("cluster action %q is not supported (want leave, start-maintenance, stop-maintenance)", msg.Action))
		return
	}
	var change nodeChange
	if err := json.Unmarshal(msg.Value, &change); err != nil || change.ID == "" {
		n.writeError(w, r, badRequest("%s: value must be {\"id\": NODE}", msg.Action))
		return
	}
	n.propose(w, r, membership.Change{Kind: kind, Node: cluster.Node{ID: change.ID}})
}

// mapChanged reacts to a new snapshot: dSort jobs coordinated here check
// their targets, and a change of targets starts a rebalance.
func (n *Node) mapChanged(previous, next membership.Snapshot) {
	if next.Map == previous.Map {
		return
	}
	if n.coordinator != nil {
		n.coordinator.MapChanged(next.Map)
	}
	if self, ok := next.Map.Node(n.config.ID); ok && self.State == cluster.StateOffline {
		return // it joins again rather than move its objects away
	}
	if previous.Map == nil || !cluster.SameTargets(previous.Map, next.Map) {
		n.startRebalance(next.Map)
	}
}

// transport carries the control plane's messages over signed HTTP.
type transport struct{ n *Node }

var _ membership.Transport = transport{}

// unreachable marks errors a join may wait out.
func unreachable(err error) error {
	if errors.Is(err, api.ErrUnavailable) {
		return fmt.Errorf("%w: %w", membership.ErrUnreachable, err)
	}
	return err
}

func (t transport) Push(ctx context.Context, to cluster.Node, s membership.Snapshot, allowEmpty bool) error {
	return t.n.call(ctx, http.MethodPut, to.URL+"/v1/metasync", metaMessage{Map: s.Map, Buckets: s.Buckets, AllowEmpty: allowEmpty}, nil)
}

func (t transport) Join(ctx context.Context, url string, self cluster.Node) (membership.Snapshot, error) {
	return t.change(ctx, url, membership.Change{Kind: membership.Join, Node: self})
}

func (t transport) Forward(ctx context.Context, primary cluster.Node, c membership.Change) (membership.Snapshot, error) {
	return t.change(ctx, primary.URL, c)
}

func (t transport) change(ctx context.Context, url string, c membership.Change) (membership.Snapshot, error) {
	var answer metaMessage
	if err := t.n.call(ctx, http.MethodPut, url+"/v1/internal/cluster", c, &answer); err != nil {
		return membership.Snapshot{}, unreachable(err)
	}
	if answer.Map == nil || answer.Buckets == nil {
		return membership.Snapshot{}, fmt.Errorf("%s: the answer has no cluster map", url)
	}
	return answer.snapshot(), nil
}

func (t transport) Probe(ctx context.Context, node cluster.Node) error {
	var status api.NodeStatus
	if err := t.n.call(ctx, http.MethodGet, node.URL+"/v1/internal/status", nil, &status); err != nil {
		return err
	}
	if status.ID != node.ID {
		return fmt.Errorf("the node at %s is %q", node.URL, status.ID)
	}
	return nil
}

func (t transport) Pull(ctx context.Context, from cluster.Node) (membership.Snapshot, error) {
	var msg metaMessage
	msg.Map, msg.Buckets = new(cluster.Map), new(store.BucketMetadata)
	if err := t.n.call(ctx, http.MethodGet, from.URL+"/v1/cluster?what=smap", nil, msg.Map); err != nil {
		return membership.Snapshot{}, err
	}
	if err := t.n.call(ctx, http.MethodGet, from.URL+"/v1/cluster?what=bmd", nil, msg.Buckets); err != nil {
		return membership.Snapshot{}, err
	}
	return msg.snapshot(), nil
}

// refresh takes the primary's current snapshot (a node that meets a
// bucket it does not know yet).
func (n *Node) refresh(ctx context.Context) {
	if err := n.control.Refresh(ctx); err != nil {
		n.logger.Debug("refresh metadata", "err", err)
	}
}
