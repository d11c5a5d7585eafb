package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/authn"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/cluster/membership/raft"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/store"
)

// The control plane lives in cluster/membership; this file is its HTTP
// side: the metadata a primary pushes (PUT /v1/metasync), the changes
// nodes propose or forward to the primary (PUT /v1/internal/cluster), and
// the transport that sends both.

// currentMap returns the node's cluster map (nil before Start).
func (n *Node) currentMap() *cluster.Map { return n.control.Current().Map }

// currentBuckets returns the node's bucket metadata.
func (n *Node) currentBuckets() *store.BucketMetadata { return n.control.Current().Buckets }

func (n *Node) handleMetasync(w http.ResponseWriter, r *http.Request) {
	// Refused, the keepalive takes it offline (see GoOffline).
	if n.stopping.Load() {
		n.writeError(w, r, fmt.Errorf("%w: node %s %s", api.ErrUnavailable, n.config.ID, peer.StoppingMessage))
		return
	}
	// Not before Start (the node serves first): the first map taken
	// starts a target's rebalance after a restart, which needs Start's
	// manager; taken before, that run would never be. Nor before Start
	// recovered interrupted dSort jobs (takesPushes).
	if n.loopsContext() == nil || n.config.Role.IsTarget() && n.rebalancer() == nil || !n.takesPushes.Load() {
		n.writeError(w, r, fmt.Errorf("%w: node %s is starting: push again", api.ErrUnavailable, n.config.ID))
		return
	}
	// A snapshot (100k revoked tokens, many buckets) may pass the bound
	// of other control bodies: a target refusing every push would go
	// offline. It is bounded as a peer's answers are (signed, intra).
	var msg peer.MetaMessage
	digest := r.URL.Query().Get(peer.QueryDigest)
	if digest != "" {
		// The body this node took last, named by its digest (a
		// keepalive round of an unchanged snapshot): taken again, as
		// if sent whole, the sender's checks and all.
		taken := n.taken.Load()
		if taken == nil || taken.digest != digest {
			n.writeError(w, r, fmt.Errorf("%w: metasync digest %q is not of the body this node took last: send the body", api.ErrPreconditionFailed, digest))
			return
		}
		msg = taken.msg
		n.digestsTaken.Add(1)
	} else {
		data, err := readBodyUpTo(r, peer.MaxAnswer)
		if err == nil && len(data) > 0 {
			if err = json.Unmarshal(data, &msg); err != nil {
				err = badRequest("malformed JSON body: %w", err)
			}
		}
		if err != nil {
			n.writeError(w, r, err)
			return
		}
		digest = peer.Digest(data)
	}
	// A node far behind (down for long) catches up by joining again,
	// which takes any version; a push never makes it jump.
	err := n.control.Accept(r.Context(), msg.Snapshot(), membership.Origin{Sender: sender(r), AllowEmpty: msg.AllowEmpty})
	if err != nil {
		n.logger.Warn("pushed metadata refused", "from", sender(r), "err", err)
		n.writeError(w, r, err)
		return
	}
	n.taken.Store(&takenPush{digest: digest, msg: msg})
	n.heardAsMember()
	w.WriteHeader(http.StatusOK)
}

// takenPush is a metasync body a node took, by its digest.
type takenPush struct {
	digest string
	msg    peer.MetaMessage
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
	// Only a join reaches a gateway at another address than its own (a
	// seed's alias); every other change goes to the leader's own URL. A
	// change captured on its way to one gateway is not replayed through
	// another (each remembers only its own nonces).
	if own := n.ownHost(); change.Kind != membership.Join && (own == "" || !strings.EqualFold(r.Host, own)) {
		n.writeError(w, r, fmt.Errorf("%w: a %q change signed for %s, not for node %s: a request replayed to another node", api.ErrUnauthorized, change.Kind, r.Host, n.config.ID))
		return
	}
	switch change.Kind {
	case membership.Join:
		// A node that would check tokens otherwise (none: every request
		// served, to whoever reaches it) does not join. One of a build
		// before it says nothing.
		if mine := userAuthOf(n.config.Auth); change.Auth != "" && change.Auth != mine {
			n.writeError(w, r, fmt.Errorf("%w: node %s checks user tokens as %q, this cluster's gateway %s as %q: start it with the cluster's -auth-key (or none, as the cluster)",
				api.ErrConflict, change.Node.ID, change.Auth, n.config.ID, mine))
			return
		}
	case membership.DropVoter, membership.PromoteVoter:
		// A gateway asks it of itself only (its log lost; caught up), through
		// another gateway maybe (forwarded to the leader).
		from, known := n.currentMap().Node(sender(r))
		if change.Node.ID == "" || change.Node.ID != sender(r) && !(known && from.Role.IsGateway()) {
			n.writeError(w, r, badRequest("a %q change is a gateway's own: %s cannot ask it for %s", change.Kind, sender(r), change.Node.ID))
			return
		}
	case membership.Lead, membership.Seed, membership.Offline, membership.Remove:
		// The leader makes these of what it sees itself (taking office,
		// its keepalive); no peer asks for them.
		n.writeError(w, r, badRequest("a %q change is the leader's own: a peer cannot ask for it", change.Kind))
		return
	}
	n.propose(w, r, change)
}

// userAuthOf is a node's user authentication as a join tells it: "off",
// or the fingerprint of the keys it checks tokens with.
func userAuthOf(keys *authn.Keys) string {
	if keys == nil {
		return "off"
	}
	return keys.Fingerprint()
}

// propose applies a change through the control plane and answers the
// snapshot after it.
func (n *Node) propose(w http.ResponseWriter, r *http.Request, change membership.Change) {
	s, err := n.control.Propose(r.Context(), change)
	if err != nil {
		n.writeError(w, r, membershipError(err))
		return
	}
	writeJSON(w, peer.MetaMessage{Map: s.Map, Buckets: s.Buckets, Config: s.Config, Tokens: s.Tokens, Index: s.Index})
}

// handleRaft takes over a verified upgrade request as a Raft connection
// between gateways.
func (n *Node) handleRaft(w http.ResponseWriter, r *http.Request) {
	if err := n.raftStream.Handle(w, r); err != nil {
		n.writeError(w, r, err)
	}
}

// membershipError marks the control plane's refusals as the caller's.
func membershipError(err error) error {
	switch {
	case errors.Is(err, raft.ErrLastVoter):
		return fmt.Errorf("%w: %w", api.ErrBadRequest, err)
	case errors.Is(err, raft.ErrQuorumAtRisk):
		return fmt.Errorf("%w: %w", api.ErrConflict, err)
	case errors.Is(err, raft.ErrNotCaughtUp):
		// Not a 503: a forward retries that with the same stale index;
		// the joiner asks again with its new one.
		return fmt.Errorf("%w: %w", api.ErrConflict, err)
	case errors.Is(err, raft.ErrNoQuorum):
		return withKind(api.ErrNoQuorum, err)
	case errors.Is(err, membership.ErrProbe) && errors.Is(err, api.ErrUnavailable):
		// The joiner does not answer yet (its name not in DNS yet, its
		// listener not up): a join waits that out.
		return err
	case errors.Is(err, membership.ErrForeign), errors.Is(err, membership.ErrInvalidConfig), errors.Is(err, membership.ErrRoleChange):
		return fmt.Errorf("%w: %w", api.ErrBadRequest, err)
	case errors.Is(err, membership.ErrLastTarget):
		return fmt.Errorf("%w: %w", api.ErrConflict, err)
	case errors.Is(err, membership.ErrNotLeaving), errors.Is(err, membership.ErrLeavingAlready), errors.Is(err, membership.ErrPrimaryLeaves), errors.Is(err, membership.ErrUnknownChange), errors.Is(err, membership.ErrProbe):
		return fmt.Errorf("%w: %w", api.ErrBadRequest, err)
	case errors.Is(err, membership.ErrJobUnknown):
		return withKind(api.ErrJobNotFound, err)
	case errors.Is(err, membership.ErrJobOutputTaken):
		return withKind(api.ErrJobBusy, err)
	case errors.Is(err, membership.ErrNoPrimary), errors.Is(err, membership.ErrUnreachable), errors.Is(err, membership.ErrLeaderBehind):
		return fmt.Errorf("%w: %w", api.ErrUnavailable, err)
	}
	return err
}

// maxPatch bounds a change of props or config: it goes into the log as
// sent (unknown fields and all), kept by every gateway and sent to each
// follower that lags.
const maxPatch = 64 << 10

func checkPatch(action string, patch json.RawMessage) error {
	if len(patch) > maxPatch {
		return badRequest("%s: the change is %d bytes, more than %d", action, len(patch), maxPatch)
	}
	return nil
}

// actionSetConfig changes the cluster config (PUT /v1/cluster).
const actionSetConfig = "set-config"

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
	if msg.Action == api.ActionStopJob {
		var job struct {
			ID   string `json:"id"`
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(msg.Value, &job); err == nil && job.ID == "" && job.Kind == "rebalance" {
			n.writeError(w, r, errRebalanceNotStoppable("rebalance")) // AIStore's stop by kind
			return
		}
		if err := json.Unmarshal(msg.Value, &job); err != nil || job.ID == "" {
			n.writeError(w, r, badRequest("stop: value must be {\"id\": JOB}"))
			return
		}
		if err := n.stopClusterJob(r.Context(), job.ID); err != nil {
			n.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	if msg.Action == actionSetConfig {
		if len(msg.Value) == 0 {
			n.writeError(w, r, badRequest("set-config: value must be the config fields to change, e.g. {\"distributed_sort\":{\"missing_shards\":\"warn\"}}"))
			return
		}
		if err := checkPatch("set-config", msg.Value); err != nil {
			n.writeError(w, r, err)
			return
		}
		s, err := n.control.Propose(r.Context(), membership.Change{Kind: membership.SetConfig, Patch: msg.Value})
		if err != nil {
			n.writeError(w, r, membershipError(err))
			return
		}
		writeJSON(w, s.ClusterConfig())
		return
	}
	kind, ok := clusterActions[msg.Action]
	if !ok {
		n.writeError(w, r, badRequest("cluster action %q is not supported (want leave, start-maintenance, stop-maintenance, set-config, stop)", msg.Action))
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
	self, ok := next.Map.Node(n.config.ID)
	if ok && self.State == cluster.StateOffline {
		return // it joins again rather than move its objects away
	}
	if ok && self.Role.IsTarget() {
		// Back from offline, or started: objects written elsewhere
		// meanwhile are newer than its copies until they arrive.
		// Back from offline; or the first map after a restart, later
		// than the one saved before (versions were missed meanwhile).
		// Or back to owning objects from maintenance or a leave (a drain
		// that had not moved them yet left its copies, overwritten on
		// their owner since), or while its run under the map before
		// still had objects to send (they may be owned here again,
		// overwritten elsewhere meanwhile).
		if previous.Map != nil {
			before, known := previous.Map.Node(n.config.ID)
			switch {
			case known && before.State == cluster.StateOffline:
				n.catchUp.Add(1)
				n.background(n.dropStaleParts)
			case known && before.State != cluster.StateActive && self.State == cluster.StateActive:
				n.catchUp.Add(1)
			case !cluster.SameTargets(previous.Map, next.Map) && n.rebalancer() != nil && n.rebalancer().Running():
				// (Not at a change of no owner's: a gateway joining. A
				// catch-up asks the other targets at every GET.)
				n.catchUp.Add(1)
			}
		} else {
			if saved := n.savedMap.Load(); saved > 0 && next.Map.Version > saved {
				n.catchUp.Add(1)
			}
			n.background(n.dropStaleParts)
		}
	}
	// A target that turns leaving moves what it holds, and then leaves:
	// from maintenance too, where the targets that own objects stay the
	// same (its drain may have ended, or still run under the old map);
	// back from offline, its run may have stopped meanwhile.
	// And one back from offline into maintenance (started while it was
	// away) owns nothing in either map, but holds what it owned before.
	leavingAgain, returned := false, false
	if ok && previous.Map != nil {
		before, known := previous.Map.Node(n.config.ID)
		leavingAgain = self.State == cluster.StateLeaving && known && before.State != cluster.StateLeaving
		returned = self.Role.IsTarget() && known && before.State == cluster.StateOffline
	}
	if previous.Map == nil || returned {
		// Mirroring changed while it was away (owed.go).
		n.background(n.payOwedCopies)
	}
	if returned {
		n.background(n.stopJobsStoppedElsewhere)
		select {
		case n.marksNow <- struct{}{}:
		default: // (asked already)
		}
	}
	if previous.Map == nil || leavingAgain || returned || !cluster.SameTargets(previous.Map, next.Map) {
		n.startRebalance(next.Map)
		if previous.Map != nil || n.savedMap.Load() > 0 {
			// Parts follow the new placement once objects have moved;
			// and a target back from a restart sweeps its parts: a
			// delete made while it was down could not drop them, and
			// they would restore the object once its tombstone goes.
			n.restartECResilver()
		}
	}
}

// refresh takes the primary's current snapshot (a node that meets a
// bucket it does not know yet).
func (n *Node) refresh(ctx context.Context) {
	if err := n.control.Refresh(ctx); err != nil {
		n.logger.Debug("refresh metadata", "err", err)
	}
}
