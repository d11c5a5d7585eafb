package membership

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/aisgo/aisgo/cluster"
)

// Keepalive decides, from the nodes a push round reached, which change
// state: a target silent for the timeout, and for a few rounds in a row,
// goes offline, a gateway leaves the map, an offline target that answers
// is active again. It keeps when each node last answered; the caller
// gives the time, so it is pure of clocks.
type Keepalive struct {
	// Timeout is how long a node may miss rounds; zero means 10s.
	Timeout time.Duration
	// Misses is how many rounds in a row a node must miss besides, so
	// that rounds stretched by a node that hangs (each waits for the
	// push timeout) do not take a live node offline at its first
	// missed answer; zero means 3.
	Misses int
	// Skip, when set, names nodes the rounds do not judge (gateways that
	// follow a replicated log).
	Skip     func(cluster.Node) bool
	Logger   *slog.Logger
	lastSeen map[string]time.Time
	missed   map[string]int // rounds in a row without an answer
	version  int64          // of the map the last round judged
	// offline are the nodes offline in the map the last round judged.
	offline map[string]bool
}

// Round returns the changes a round at time now implies, given the map
// and the nodes that could not be reached (failed).
func (k *Keepalive) Round(now time.Time, m *cluster.Map, failed map[string]error) []Change {
	if k.lastSeen == nil {
		k.lastSeen, k.missed = map[string]time.Time{}, map[string]int{}
	}
	timeout := k.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	misses := k.Misses
	if misses <= 0 {
		misses = 3
	}
	logger := k.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// A node gone from the map and back later (a target that left and
	// joins again) starts afresh: its old sighting would take it offline
	// at its first missed round.
	if m.Version != k.version {
		members := make(map[string]bool, len(m.Nodes))
		for _, node := range m.Nodes {
			members[node.ID] = true
		}
		for id := range k.lastSeen {
			if !members[id] {
				k.forget(id)
			}
		}
	}
	k.version = m.Version
	// A target offline at the last round and not now came back by a
	// join, not by an answer to a push: it starts afresh too, else its
	// sighting from before it went down would take it offline at its
	// first missed round.
	offline := make(map[string]bool, len(k.offline))
	for _, node := range m.Nodes {
		if node.State == cluster.StateOffline {
			offline[node.ID] = true
		} else if k.offline[node.ID] {
			k.forget(node.ID)
		}
	}
	k.offline = offline
	var changes []Change
	for _, node := range m.Nodes {
		if node.ID == m.Primary || k.Skip != nil && k.Skip(node) {
			continue
		}
		if err, bad := failed[node.ID]; bad && errors.Is(err, ErrStopping) && node.Role.IsTarget() {
			// Stopping as asked (a SIGTERM): offline now, not after the
			// timeout, while it still serves the clients sent to it.
			if node.State != cluster.StateOffline {
				logger.Info("target stopping: it is offline", "id", node.ID)
				changes = append(changes, Change{Kind: Offline, Node: cluster.Node{ID: node.ID}, IfMap: m.Version})
				k.offline[node.ID] = true
			}
			continue
		}
		if err, bad := failed[node.ID]; bad && errors.Is(err, ErrRefused) {
			// It answered: alive, though behind. Not activated either:
			// an offline target that cannot take the map rejoins itself.
			k.lastSeen[node.ID] = now
			delete(k.missed, node.ID)
			logger.Warn("a node refuses the cluster's snapshot", "id", node.ID, "err", err)
			continue
		}
		if _, bad := failed[node.ID]; !bad {
			k.lastSeen[node.ID] = now
			delete(k.missed, node.ID)
			if node.State == cluster.StateOffline {
				logger.Info("an offline target answers again", "id", node.ID)
				changes = append(changes, Change{Kind: Returned, Node: cluster.Node{ID: node.ID}})
			}
			continue
		}
		k.missed[node.ID]++
		first, seen := k.lastSeen[node.ID]
		if !seen {
			k.lastSeen[node.ID] = now
			continue
		}
		if now.Sub(first) < timeout || k.missed[node.ID] < misses || node.State == cluster.StateOffline {
			continue
		}
		silent := now.Sub(first).Round(time.Second)
		if node.Role.IsTarget() {
			logger.Warn("target missed keepalives: it is offline", "id", node.ID, "silent_for", silent, "rounds", k.missed[node.ID], "err", failed[node.ID])
			changes = append(changes, Change{Kind: Offline, Node: cluster.Node{ID: node.ID}, IfMap: m.Version})
			// Taken as offline now: a join before the next round sees it
			// offline starts it afresh too (unless Refused says the
			// change was not made).
			k.offline[node.ID] = true
			continue
		}
		// Removed, the next round's map has it no more and forgets it
		// (or has it back, joined again, and starts it afresh, as an
		// Offline's); refused, see Refused.
		logger.Warn("node missed keepalives: removing it from the map", "id", node.ID, "silent_for", silent, "rounds", k.missed[node.ID], "err", failed[node.ID])
		changes = append(changes, Change{Kind: Remove, Node: cluster.Node{ID: node.ID}, IfMap: m.Version})
		k.offline[node.ID] = true
	}
	return changes
}

// Refused tells the keepalive which of a round's changes were not made
// (ProposeRound's answer): a node whose Offline or Remove was refused
// (the map changed meanwhile: maybe its own join again) is still in the
// map at the next round. It is not started afresh, as one that joined
// back would be (its silence so far counts), but its misses are counted
// again: a node that rejoined is not judged on one.
func (k *Keepalive) Refused(changes []Change) {
	for _, c := range changes {
		if c.Kind == Offline || c.Kind == Remove {
			delete(k.offline, c.Node.ID)
			delete(k.missed, c.Node.ID)
		}
	}
}

// forget drops what the rounds know of a node: it starts afresh.
func (k *Keepalive) forget(id string) {
	delete(k.lastSeen, id)
	delete(k.missed, id)
}

// PushTimeout bounds one push: a node that hangs (it takes connections
// and answers nothing) must not hold every change of the cluster, which
// pushes under the primary's change lock, for a whole request timeout.
var PushTimeout = 10 * time.Second

// PushAll sends a snapshot to the map's nodes (but self) that match, in
// parallel, and returns the nodes it could not reach.
func PushAll(ctx context.Context, t Transport, s Snapshot, self string, allowEmpty bool, match func(cluster.Node) bool) map[string]error {
	ctx, cancel := context.WithTimeout(ctx, PushTimeout)
	defer cancel()
	var mu sync.Mutex
	failed := map[string]error{}
	var wg sync.WaitGroup
	for _, node := range s.Map.Nodes {
		if node.ID == self || match != nil && !match(node) {
			continue
		}
		wg.Go(func() {
			if err := t.Push(ctx, node, s, allowEmpty); err != nil {
				mu.Lock()
				failed[node.ID] = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return failed
}

// ProposeRound proposes a round's changes in order, each of an Offline or
// Remove as of the map the change before it left: the round's own changes
// follow each other, and one of another's in between (a join while the
// round pushed) refuses the rest, judged again at the next round. It
// returns the changes not made (for Keepalive.Refused).
func ProposeRound(ctx context.Context, changes []Change, version int64, propose func(context.Context, Change) (Snapshot, error), logger *slog.Logger) (refused []Change) {
	for _, c := range changes {
		if c.IfMap != 0 {
			c.IfMap = version
		}
		next, err := propose(ctx, c)
		if err != nil {
			refused = append(refused, c)
		}
		switch {
		case errors.Is(err, ErrMapChanged):
			logger.Info("the map changed during the keepalive round: judged again at the next", "change", c.Kind, "node_id", c.Node.ID)
		case err != nil:
			logger.Warn("change the cluster map", "change", c.Kind, "node_id", c.Node.ID, "err", err)
		case next.Map != nil:
			version = next.Map.Version
		}
	}
	return refused
}
