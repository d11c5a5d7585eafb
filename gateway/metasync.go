package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/store"
)

// metaMessage carries the cluster map and bucket metadata from the primary
// to every node (PUT /v1/metasync), and back to a node that joins.
type metaMessage struct {
	Map     *cluster.Map          `json:"map,omitempty"`
	Buckets *store.BucketMetadata `json:"bmd,omitempty"`
	// AllowEmpty: the primary's own change left no targets or no buckets,
	// and receivers are to take that.
	AllowEmpty bool `json:"allow_empty,omitempty"`
}

// origin says who sent metadata and how far to trust a jump ahead.
type origin struct {
	// sender is the node id that sent it (authenticated on a push).
	sender string
	// recovery: the answer to this node's own join, taken even if it is
	// far ahead.
	recovery bool
}

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

// applyMeta adopts metadata that is newer than the node's own, if it
// comes from the primary, in sequence, and sound (see cluster.CheckUpdate
// and store.CheckBucketUpdate). A map older than the current one is
// refused with cluster.ErrStaleMap; one of the same version is ignored.
func (n *Node) applyMeta(ctx context.Context, msg metaMessage, from origin) error {
	n.applyMu.Lock()
	defer n.applyMu.Unlock()
	if msg.Map != nil {
		cur := n.smap.Load()
		err := cluster.CheckUpdate(cur, msg.Map, from.sender, cluster.UpdateRules{Recovery: from.recovery, AllowNoTargets: msg.AllowEmpty})
		switch {
		case errors.Is(err, cluster.ErrStaleMap) && msg.Map.Version == cur.Version:
		case err != nil:
			return err
		default:
			if err := n.config.Meta.SaveMap(msg.Map); err != nil {
				return fmt.Errorf("save cluster map: %w", err)
			}
			n.placement.Lock()
			n.smap.Store(msg.Map)
			n.placement.Unlock()
			n.logger.Debug("cluster map updated", "version", msg.Map.Version, "nodes", len(msg.Map.Nodes))
			n.mapChanged(cur, msg.Map)
		}
	}
	if msg.Buckets != nil && msg.Buckets.Version > n.bmd.Load().Version {
		if primary := n.smap.Load().Primary; from.sender != primary {
			return fmt.Errorf("%w: %s sent bucket metadata, the primary is %s", cluster.ErrNotPrimary, from.sender, primary)
		}
		md := msg.Buckets.Clone()
		if md.Buckets == nil {
			md.Buckets = map[string]store.Props{}
		}
		rules := store.BucketUpdateRules{Recovery: from.recovery, AllowNoBuckets: msg.AllowEmpty}
		if err := store.CheckBucketUpdate(*n.bmd.Load(), md, rules); err != nil {
			return err
		}
		if n.config.Store != nil {
			if err := n.config.Store.SyncBuckets(ctx, md); err != nil {
				return err
			}
		}
		if err := n.config.Meta.SaveBuckets(md); err != nil {
			return fmt.Errorf("save bucket metadata: %w", err)
		}
		n.bmd.Store(&md)
	}
	return nil
}

func (n *Node) handleMetasync(w http.ResponseWriter, r *http.Request) {
	var msg metaMessage
	if err := decodeBody(r, &msg); err != nil {
		n.writeError(w, r, err)
		return
	}
	// A node far behind (down for long) catches up by joining again,
	// which takes any version; a push never makes it jump.
	if err := n.applyMeta(r.Context(), msg, origin{sender: sender(r)}); err != nil {
		n.logger.Warn("pushed metadata refused", "from", sender(r), "err", err)
		n.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// distribute pushes the primary's map and BMD to every other node, in
// parallel, and returns the nodes that could not be reached. A node that
// misses a push gets the next one with the keepalive.
func (n *Node) distribute(ctx context.Context) map[string]error {
	msg := metaMessage{Map: n.smap.Load(), Buckets: n.bmd.Load(), AllowEmpty: n.emptied.Load()}
	return n.push(ctx, msg, func(cluster.Node) bool { return true })
}

// push sends metadata to the map's other nodes that match, in parallel,
// and returns the nodes that could not be reached.
func (n *Node) push(ctx context.Context, msg metaMessage, match func(cluster.Node) bool) map[string]error {
	var mu sync.Mutex
	failed := map[string]error{}
	var wg sync.WaitGroup
	for _, node := range msg.Map.Nodes {
		if node.ID == n.config.ID || !match(node) {
			continue
		}
		wg.Go(func() {
			if err := n.call(ctx, http.MethodPut, node.URL+"/v1/metasync", msg, nil); err != nil {
				mu.Lock()
				failed[node.ID] = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return failed
}

// join asks a gateway to add this node, retrying while the cluster is not
// reachable, and adopts the map and BMD it answers with.
func (n *Node) join(ctx context.Context) error {
	msg := api.ActionMessage{Action: actionJoin}
	msg.Value, _ = json.Marshal(n.self)
	delay := 100 * time.Millisecond
	for {
		var answer metaMessage
		err := n.call(ctx, http.MethodPut, n.config.Join+"/v1/internal/cluster", msg, &answer)
		if err == nil {
			if answer.Map == nil {
				return fmt.Errorf("join %s: the answer has no cluster map", n.config.Join)
			}
			// A newer map may have been pushed while the answer travelled.
			if err := n.applyMeta(ctx, answer, origin{sender: answer.Map.Primary, recovery: true}); err != nil && !errors.Is(err, cluster.ErrStaleMap) {
				return err
			}
			return nil
		}
		if !errors.Is(err, api.ErrUnavailable) {
			return fmt.Errorf("join %s: %w", n.config.Join, err)
		}
		n.logger.Info("waiting for the cluster", "join", n.config.Join, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("join %s: %w", n.config.Join, context.Cause(ctx))
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// Cluster actions (PUT /v1/cluster).
const (
	actionJoin        = "join"
	actionLeave       = "leave"
	actionMaintenance = "start-maintenance"
	actionActivate    = "stop-maintenance"
	// actionLeft: a leaving target has moved its objects away.
	actionLeft = "left"
)

// nodeChange is the value of leave and maintenance actions.
type nodeChange struct {
	ID string `json:"id"`
}

// handleMembership serves the actions nodes send about themselves (join,
// left) on an intra route: only a holder of the cluster secret joins.
func (n *Node) handleMembership(w http.ResponseWriter, r *http.Request) {
	msg, ok := n.clusterAction(w, r)
	if !ok {
		return
	}
	switch msg.Action {
	case actionJoin:
		var node cluster.Node
		if err := json.Unmarshal(msg.Value, &node); err != nil {
			n.writeError(w, r, badRequest("join: value must be a node with id, role and url: %v", err))
			return
		}
		if err := n.checkJoiner(r.Context(), node); err != nil {
			n.writeError(w, r, err)
			return
		}
		node.State = cluster.StateActive
		if err := n.changeMap(r.Context(), func(m *cluster.Map) (*cluster.Map, error) { return m.WithNode(node) }); err != nil {
			n.writeError(w, r, err)
			return
		}
		writeJSON(w, metaMessage{Map: n.smap.Load(), Buckets: n.bmd.Load()})
	case actionLeft:
		n.changeNode(w, r, msg)
	default:
		n.writeError(w, r, badRequest("membership action %q is not supported (want join or left)", msg.Action))
	}
}

// checkJoiner validates a joining node and checks that it answers, as the
// node it says it is, at the URL it gave.
func (n *Node) checkJoiner(ctx context.Context, node cluster.Node) error {
	if err := node.Validate(); err != nil {
		return fmt.Errorf("%w: join: %w", api.ErrBadRequest, err)
	}
	// A used id is refused before the node is asked anything.
	if _, err := n.smap.Load().WithNode(node); err != nil {
		return err
	}
	var status api.NodeStatus
	if err := n.call(ctx, http.MethodGet, node.URL+"/v1/internal/status", nil, &status); err != nil {
		return fmt.Errorf("%w: join: node %s does not answer at %s: %w", api.ErrBadRequest, node.ID, node.URL, err)
	}
	if status.ID != node.ID {
		return fmt.Errorf("%w: join: the node at %s is %q, not %q", api.ErrBadRequest, node.URL, status.ID, node.ID)
	}
	return nil
}

// clusterAction reads a cluster action on a gateway; ok means this node
// is the primary and acts on it (otherwise it answered, or forwarded the
// request to the primary).
func (n *Node) clusterAction(w http.ResponseWriter, r *http.Request) (msg api.ActionMessage, ok bool) {
	body, err := readBody(r)
	if err != nil {
		n.writeError(w, r, err)
		return msg, false
	}
	if !n.config.Role.IsGateway() {
		n.writeError(w, r, badRequest("node %s is a target: send cluster actions to a gateway", n.config.ID))
		return msg, false
	}
	if !n.isPrimary() {
		n.forwardToPrimary(w, r, body)
		return msg, false
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		n.writeError(w, r, badRequest("cluster action: %v", err))
		return msg, false
	}
	return msg, true
}

// handleClusterAction serves the administrator's actions on nodes.
func (n *Node) handleClusterAction(w http.ResponseWriter, r *http.Request) {
	msg, ok := n.clusterAction(w, r)
	if !ok {
		return
	}
	switch msg.Action {
	case actionLeave, actionMaintenance, actionActivate:
		n.changeNode(w, r, msg)
	case actionJoin, actionLeft:
		n.writeError(w, r, badRequest("cluster action %q is sent by nodes, on the intra-cluster route", msg.Action))
	default:
		n.writeError(w, r, badRequest("cluster action %q is not supported (want leave, start-maintenance, stop-maintenance)", msg.Action))
	}
}

// changeNode applies a leave, maintenance or left action.
func (n *Node) changeNode(w http.ResponseWriter, r *http.Request, msg api.ActionMessage) {
	var change nodeChange
	if err := json.Unmarshal(msg.Value, &change); err != nil || change.ID == "" {
		n.writeError(w, r, badRequest("%s: value must be {\"id\": NODE}", msg.Action))
		return
	}
	if change.ID == n.config.ID {
		n.writeError(w, r, badRequest("%s: the primary gateway cannot %s itself", msg.Action, msg.Action))
		return
	}
	err := n.changeMap(r.Context(), func(m *cluster.Map) (*cluster.Map, error) {
		node, ok := m.Node(change.ID)
		if !ok {
			return nil, fmt.Errorf("%w: %s", cluster.ErrNodeNotFound, change.ID)
		}
		switch msg.Action {
		case actionMaintenance:
			return m.WithState(change.ID, cluster.StateMaintenance)
		case actionActivate:
			return m.WithState(change.ID, cluster.StateActive)
		case actionLeave:
			// An offline target cannot move its objects: it is removed,
			// and what only it held is given up.
			if node.Role.IsTarget() && node.State != cluster.StateLeaving && node.State != cluster.StateOffline {
				// A target leaves once its objects moved (see actionLeft).
				return m.WithState(change.ID, cluster.StateLeaving)
			}
		case actionLeft:
			if node.State != cluster.StateLeaving {
				return nil, badRequest("%s is not leaving", change.ID)
			}
		}
		return m.WithoutNode(change.ID)
	})
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	writeJSON(w, metaMessage{Map: n.smap.Load()})
}

// changeMap applies a change to the map on the primary, saves it and
// pushes it to every node. Nodes that join get it first, before this
// gateway redirects any request to them.
func (n *Node) changeMap(ctx context.Context, change func(*cluster.Map) (*cluster.Map, error)) error {
	n.primaryMu.Lock()
	defer n.primaryMu.Unlock()
	previous := n.smap.Load()
	next, err := change(previous)
	if err != nil {
		return err
	}
	if err := n.config.Meta.SaveMap(next); err != nil {
		return fmt.Errorf("save cluster map: %w", err)
	}
	if len(next.Targets()) == 0 && len(previous.Targets()) > 0 {
		n.emptied.Store(true)
	}
	msg := metaMessage{Map: next, Buckets: n.bmd.Load(), AllowEmpty: n.emptied.Load()}
	joined := func(node cluster.Node) bool {
		_, known := previous.Node(node.ID)
		return !known
	}
	failed := n.push(ctx, msg, joined)
	n.placement.Lock()
	n.smap.Store(next)
	n.placement.Unlock()
	n.logger.Info("cluster map changed", "version", next.Version, "nodes", len(next.Nodes))
	n.mapChanged(previous, next)
	maps.Copy(failed, n.push(ctx, msg, func(node cluster.Node) bool { return !joined(node) }))
	for id, err := range failed {
		n.logger.Warn("metasync failed", "to", id, "err", err)
	}
	return nil
}

// changeBuckets applies a change to the BMD on the primary, saves it and
// pushes it to every node, its own store first.
func (n *Node) changeBuckets(ctx context.Context, change func(*store.BucketMetadata) error) error {
	n.primaryMu.Lock()
	defer n.primaryMu.Unlock()
	md := n.bmd.Load().Clone()
	if err := change(&md); err != nil {
		return err
	}
	md.Version++
	if len(md.Buckets) == 0 && len(n.bmd.Load().Buckets) > 0 {
		n.emptied.Store(true)
	}
	if n.config.Store != nil {
		if err := n.config.Store.SyncBuckets(ctx, md); err != nil {
			return err
		}
	}
	if err := n.config.Meta.SaveBuckets(md); err != nil {
		return fmt.Errorf("save bucket metadata: %w", err)
	}
	n.bmd.Store(&md)
	for id, err := range n.distribute(ctx) {
		n.logger.Warn("metasync failed", "to", id, "err", err)
	}
	return nil
}

// forwardToPrimary relays a control request to the primary gateway.
func (n *Node) forwardToPrimary(w http.ResponseWriter, r *http.Request, body []byte) {
	primary, ok := n.smap.Load().PrimaryNode()
	if !ok {
		n.writeError(w, r, fmt.Errorf("%w: no primary gateway in the map", api.ErrUnavailable))
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, primary.URL+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := n.client.Do(req)
	if err != nil {
		n.writeError(w, r, fmt.Errorf("%w: primary %s: %w", api.ErrUnavailable, primary.ID, err))
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// keepaliveLoop runs on the primary: it pushes the current metadata to
// every node at each interval. A target that has not answered for the
// keepalive timeout goes offline: it owns nothing, but the cluster
// remembers that it may hold objects (503, not 404, for those) until it
// is back or removed. A gateway that falls silent is taken out of the
// map. An offline target that answers again is active again.
func (n *Node) keepaliveLoop(ctx context.Context) {
	lastSeen := map[string]time.Time{}
	ticker := time.NewTicker(n.config.KeepaliveInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if !n.isPrimary() {
			continue
		}
		now := time.Now()
		failed := n.distribute(ctx)
		for _, node := range n.smap.Load().Nodes {
			if _, bad := failed[node.ID]; !bad {
				lastSeen[node.ID] = now
				if node.State == cluster.StateOffline {
					n.logger.Info("an offline target answers again", "id", node.ID)
					n.changeMapLogged(ctx, func(m *cluster.Map) (*cluster.Map, error) { return m.WithState(node.ID, cluster.StateActive) })
				}
				continue
			}
			first, ok := lastSeen[node.ID]
			if !ok {
				lastSeen[node.ID] = now
				continue
			}
			if now.Sub(first) < n.config.KeepaliveTimeout || node.State == cluster.StateOffline {
				continue
			}
			silent := now.Sub(first).Round(time.Second)
			if node.Role.IsTarget() {
				n.logger.Warn("target missed keepalives: it is offline", "id", node.ID, "silent_for", silent, "err", failed[node.ID])
				n.changeMapLogged(ctx, func(m *cluster.Map) (*cluster.Map, error) { return m.WithState(node.ID, cluster.StateOffline) })
				continue
			}
			n.logger.Warn("node missed keepalives: removing it from the map", "id", node.ID, "silent_for", silent, "err", failed[node.ID])
			n.changeMapLogged(ctx, func(m *cluster.Map) (*cluster.Map, error) { return m.WithoutNode(node.ID) })
			delete(lastSeen, node.ID)
		}
	}
}

// changeMapLogged changes the map, logging a failure.
func (n *Node) changeMapLogged(ctx context.Context, change func(*cluster.Map) (*cluster.Map, error)) {
	if err := n.changeMap(ctx, change); err != nil {
		n.logger.Warn("change the cluster map", "err", err)
	}
}

// mapChanged reacts to a new map: dSort jobs coordinated here check their
// targets, a change of targets starts a rebalance, and a node left out of
// the map while alive joins again.
func (n *Node) mapChanged(previous, next *cluster.Map) {
	if n.coordinator != nil {
		n.coordinator.MapChanged(next)
	}
	if n.loops == nil {
		return
	}
	self, ok := next.Node(n.config.ID)
	if ok && self.State == cluster.StateOffline {
		// The primary lost this target for a while: it is back, so it
		// joins again rather than move its objects away.
		if n.config.Join != "" {
			n.rejoin()
		}
		return
	}
	if previous == nil || !cluster.SameTargets(previous, next) {
		n.startRebalance(next)
	}
	if !ok && next.Primary != n.config.ID && n.config.Join != "" {
		n.rejoin()
	}
}

// rejoin joins the cluster again in the background.
func (n *Node) rejoin() {
	if !n.rejoining.CompareAndSwap(false, true) {
		return
	}
	n.wg.Go(func() {
		defer n.rejoining.Store(false)
		n.logger.Warn("this node is not in the cluster map: joining again")
		if err := n.join(n.loops); err != nil {
			n.logger.Warn("join again", "err", err)
		}
	})
}
