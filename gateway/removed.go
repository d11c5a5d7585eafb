package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/internal/atomicfile"
	"github.com/aisgo/aisgo/internal/pathsafe"
)

// A target the administrator removed while it was down (its objects
// given up) may come back long after. Its objects may then be older
// than deletes the cluster no longer remembers (tombstones are collected
// after TombstoneTTL once no target is missing): a rebalance would bring
// them back. Such a target sets its objects aside before it joins.

// memberFile keeps when this target last heard from the primary as a
// member of the cluster (Unix nanoseconds).
const memberFile = "last-member"

// heardAsMember notes a snapshot the primary pushed: this target is a
// member while it is in it, and not offline.
func (n *Node) heardAsMember() {
	if self, ok := n.currentMap().Node(n.config.ID); ok && self.State != cluster.StateOffline {
		n.lastMember.Store(time.Now().UnixNano())
	}
}

// keepMembership saves when this target last heard as a member, now and
// then, until ctx ends.
func (n *Node) keepMembership(ctx context.Context) {
	ticker := time.NewTicker(min(max(n.config.TombstoneTTL/4, time.Millisecond), time.Minute))
	defer ticker.Stop()
	saved := int64(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if last := n.lastMember.Load(); last != saved {
			if err := pathsafe.MkdirAll(n.stateDir(), n.stateDir(), 0o755); err != nil {
				n.logger.Warn("save when this target last heard as a member", "err", err)
				continue
			}
			// Durable, whole or not at all: a file a crash left empty
			// would read as "never a member", and the check be skipped.
			if err := atomicfile.Write(filepath.Join(n.stateDir(), memberFile), []byte(strconv.FormatInt(last, 10)), 0o644); err != nil {
				n.logger.Warn("save when this target last heard as a member", "err", err)
				continue
			}
			saved = last
		}
	}
}

// primarysSnapshot asks a gateway (at via) for the cluster's snapshot,
// and then the primary it names: only the primary's word tells whether
// this target is still a member (a follower cut off from the others may
// still list a target removed since; -join may be a service over any
// gateway).
func (n *Node) primarysSnapshot(ctx context.Context, via string) (membership.Snapshot, error) {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := n.peer.Pull(pctx, cluster.Node{URL: via})
	if err != nil {
		return s, err
	}
	if s.Map == nil {
		return s, fmt.Errorf("the gateway at %s has no cluster map yet", via)
	}
	primary, ok := s.Map.PrimaryNode()
	if !ok {
		return s, fmt.Errorf("the gateway at %s names no primary", via)
	}
	if s, err = n.peer.Pull(pctx, primary); err != nil {
		return s, err
	}
	if s.Map == nil || s.Map.Primary != primary.ID {
		return s, fmt.Errorf("gateway %s, the primary the gateway at %s names, is not the primary now", primary.ID, via)
	}
	return s, nil
}

// gatewayURLs are the gateways to ask: -join, then those of the map this
// node has (a target running: -join may be the one gone).
func (n *Node) gatewayURLs() []string {
	urls := []string{n.config.Join}
	if m := n.currentMap(); m != nil {
		for _, g := range m.Gateways() {
			if !slices.Contains(urls, g.URL) {
				urls = append(urls, g.URL)
			}
		}
	}
	return urls
}

// stateDir is where the node keeps its own state.
func (n *Node) stateDir() string { return cmp.Or(n.config.StateDir, n.config.WorkDir) }

// jobRecordsFile keeps a target's ended parts of cluster jobs
// (pipeline.Jobs.Keep), in its state directory.
const jobRecordsFile = "ended-jobs.json"

// setAsideIfRemoved sets this target's objects aside at its start when
// it was last a member longer ago than tombstones are kept and the
// cluster no longer has it: its objects may be older than deletes made
// meanwhile.
func (n *Node) setAsideIfRemoved(ctx context.Context) error {
	if n.config.Join == "" || n.config.Storage == nil {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(n.stateDir(), memberFile))
	for attempt := 1; err != nil && !errors.Is(err, fs.ErrNotExist) && attempt < 3; attempt++ {
		time.Sleep(100 * time.Millisecond) // (a passing failure is not taken for a lost record)
		data, err = os.ReadFile(filepath.Join(n.stateDir(), memberFile))
	}
	if errors.Is(err, fs.ErrNotExist) {
		// Saved by a version that kept it in the work directory.
		data, err = os.ReadFile(filepath.Join(n.config.WorkDir, memberFile))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil // never a member, or from before the file
	}
	away := n.config.TombstoneTTL + 1 // unknown: the gateway is asked
	if err != nil {
		// Not "never a member": a disk that fails the read could hide a
		// removal long ago.
		n.logger.Warn("when this target was last a member cannot be read: the gateway is asked whether it still is, and if not, its objects are set aside", "file", memberFile, "err", err)
		return n.setAsideIfAwayAndRemoved(ctx, away)
	}
	if last, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64); err == nil {
		away = time.Since(time.Unix(0, last))
	} else {
		n.logger.Warn("when this target was last a member is unreadable: the gateway is asked whether it still is", "file", memberFile, "err", err)
	}
	return n.setAsideIfAwayAndRemoved(ctx, away)
}

// setAsideBeforeRejoin is setAsideIfRemoved for a target that runs and
// joins again (cut off from the gateways, and back): away since it last
// heard as a member.
func (n *Node) setAsideBeforeRejoin(ctx context.Context) error {
	last := n.lastMember.Load()
	if n.config.Join == "" || n.config.Storage == nil || last == 0 {
		return nil
	}
	return n.setAsideIfAwayAndRemoved(ctx, time.Since(time.Unix(0, last)))
}

// setAsideIfAwayAndRemoved sets this target's objects aside when it was
// away longer than tombstones are kept and the primary's map does not
// have it.
func (n *Node) setAsideIfAwayAndRemoved(ctx context.Context, away time.Duration) error {
	if away <= n.config.TombstoneTTL {
		return nil
	}
	var err error
	// Asked until the gateway answers (it may be starting too, or
	// electing): an unclear answer must not keep objects deleted meanwhile.
	var s membership.Snapshot
	urls := n.gatewayURLs()
	for attempt, delay := 0, 200*time.Millisecond; ; attempt, delay = attempt+1, min(2*delay, 5*time.Second) {
		via := urls[attempt%len(urls)]
		s, err = n.primarysSnapshot(ctx, via)
		if err == nil {
			break
		}
		n.logger.Warn("waiting for a gateway to tell whether this target was removed from the cluster while it was away", "away", away.Round(time.Second), "gateway", via, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("this target was away %s, longer than tombstones are kept, and no gateway (%s) told whether it was removed meanwhile: %w", away.Round(time.Second), strings.Join(urls, ", "), context.Cause(ctx))
		case <-time.After(delay):
		}
	}
	if _, ok := s.Map.Node(n.config.ID); ok {
		return nil // still in the map: no tombstone was collected meanwhile
	}
	name := "removed-" + time.Now().UTC().Format("20060102T150405Z")
	moved, err := n.config.Storage.SetAside(ctx, name)
	if err != nil {
		return fmt.Errorf("this target was removed from the cluster %s ago, longer than tombstones are kept: set its objects aside: %w", away.Round(time.Second), err)
	}
	if moved {
		n.logger.Warn("this target was removed from the cluster while it was away, longer ago than tombstones are kept: its objects, which may have been deleted meanwhile, are set aside (not served, not moved) in .ais/set-aside/"+name+" on each mountpath",
			"away", away.Round(time.Second))
	}
	return nil
}
