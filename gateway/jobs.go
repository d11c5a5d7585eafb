package gateway

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/store"
)

// The dSort job registry lives in the replicated control plane: every job
// is registered before its targets hold it and marked when it ends. A job
// whose coordinating gateway dies is not resumed: it is aborted cleanly
// (every target stops and removes the shards it wrote; the registry says
// "aborted" with the cause), by the leader once the coordinator has not
// answered for the keepalive timeout, or by the coordinator itself when it
// restarts. A job whose targets had all created their shards is finished
// instead: its output is whole.

// Defaults are the cluster config's dSort defaults.
func (p dsortCluster) Defaults() pipeline.Defaults {
	d := p.n.control.Current().ClusterConfig().Dsort
	return pipeline.Defaults{
		Reactions: pipeline.Reactions{
			DuplicatedRecords: d.DuplicatedRecords, MissingShards: d.MissingShards,
			EKMMalformedLine: d.EKMMalformedLine, EKMMissingKey: d.EKMMissingKey,
		},
		MaxMemUsage: pipeline.SizeString(d.DefaultMaxMemUsage),
	}
}

// RegisterJob records a job this gateway coordinates.
func (p dsortCluster) RegisterJob(ctx context.Context, reg pipeline.JobRegistration) error {
	// A job writing the same shards (a start sent again, a spec run
	// twice) would replace this one's, and its abort remove them.
	for id, j := range p.n.control.Current().Jobs {
		if j.State == membership.JobRunning && id != reg.ID && reg.Names != "" && j.Names == reg.Names && j.Output.Normalize() == reg.Output.Normalize() {
			return fmt.Errorf("%w: dsort job %s runs, writing the same shards (%s) into %s: start this one once it ends, or name its output apart", pipeline.ErrJobBusy, id, reg.Names, reg.Output)
		}
	}
	change := membership.Change{Kind: membership.JobStarted, Job: membership.Job{
		ID: reg.ID, Coordinator: p.n.config.ID, Output: reg.Output, Targets: reg.Targets, Started: reg.Started.UnixNano(), Names: reg.Names,
	}}
	if reg.Names != "" {
		// (A dry run's start, of no names, stays of the older level:
		// gateways of an older build follow it.)
		change.Level = membership.LevelJobNames
	}
	_, err := p.n.control.Propose(ctx, change)
	if errors.Is(err, membership.ErrLeaderBehind) && change.Level > 0 {
		// Admitted up to an older build's level (an upgrade under way):
		// registered the older way, checked above only.
		change.Level = 0
		_, err = p.n.control.Propose(ctx, change)
	}
	err = membershipError(err)
	if errors.Is(err, api.ErrJobBusy) {
		// The job's own kind: the coordinator leaves the output bucket
		// it made to the job that writes there.
		err = fmt.Errorf("%w: %w", pipeline.ErrJobBusy, err)
	}
	return err
}

// EndJob records how a job this gateway coordinates ended.
func (p dsortCluster) EndJob(ctx context.Context, id, cause string) error {
	if fault := endJobFault.Load(); fault != nil {
		if err := (*fault)(p.n.config.ID); err != nil {
			return err
		}
	}
	return p.n.endJob(ctx, id, cause)
}

// endJobFault, set by the tests, fails the coordinators' records of their
// jobs' ends: a coordinator that dies between its targets' finish and the
// record.
var endJobFault atomic.Pointer[func(gateway string) error]

func (n *Node) endJob(ctx context.Context, id, cause string) error {
	state := membership.JobFinished
	if cause != "" {
		state = membership.JobAborted
	}
	change := membership.Change{Kind: membership.JobEnded, Job: membership.Job{
		ID: id, State: state, Cause: cause, Ended: time.Now().UnixNano(),
	}}
	if membership.KeepsAway(n.control.Current()) {
		// (Otherwise of the older level: gateways of an older build,
		// in an upgrade, follow it.)
		change.Level = membership.LevelKeepAway
	}
	_, err := n.control.Propose(ctx, change)
	if errors.Is(err, membership.ErrLeaderBehind) && change.Level > 0 {
		// An older build leads (an upgrade under way): its pruning rule.
		change.Level = 0
		_, err = n.control.Propose(ctx, change)
	}
	err = membershipError(err)
	if errors.Is(err, api.ErrJobNotFound) {
		return nil // gone from the registry (removed, or pruned): nothing left to record
	}
	return err
}

// orphanedJobs returns the running jobs the registry says this gateway
// coordinates: read at start, before it can start any, they are the jobs
// it lost when it stopped.
func (n *Node) orphanedJobs() []membership.Job {
	var out []membership.Job
	for _, j := range n.control.Current().Jobs {
		if j.State == membership.JobRunning && j.Coordinator == n.config.ID {
			out = append(out, j)
		}
	}
	return out
}

// watchJobs settles the jobs whose coordinator went: first the ones this
// gateway lost by restarting, then, while it leads, those of gateways that
// stopped answering.
func (n *Node) watchJobs(ctx context.Context, orphans []membership.Job) {
	// One not settled yet (a target did not answer) is tried again.
	settleOrphans := func() {
		orphans = slices.DeleteFunc(orphans, func(j membership.Job) bool {
			return n.settleJob(ctx, j, fmt.Sprintf("its coordinating gateway %s restarted", n.config.ID))
		})
	}
	settleOrphans()
	ticker := time.NewTicker(n.config.KeepaliveInterval)
	defer ticker.Stop()
	// silent holds since when each coordinator has not answered.
	silent := map[string]time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		settleOrphans()
		if !n.control.IsPrimary() {
			clear(silent)
			// Its own orphans' waits stand; the leader's others do not
			// (it may lead again much later).
			n.settleAway.Lock()
			maps.DeleteFunc(n.settleAway.since, func(id string, _ map[string]time.Time) bool {
				return !slices.ContainsFunc(orphans, func(j membership.Job) bool { return j.ID == id })
			})
			n.settleAway.Unlock()
			continue
		}
		n.reapRound(ctx, silent, time.Now())
	}
}

// reapRound is one look at the registry by the leader.
func (n *Node) reapRound(ctx context.Context, silent map[string]time.Time, now time.Time) {
	jobs := n.control.Current().Jobs
	forgetSettled(silent, jobs)
	n.forgetSettleWaits(jobs)
	m := n.currentMap()
	for _, id := range slices.Sorted(maps.Keys(jobs)) {
		j := jobs[id]
		if j.State != membership.JobRunning || j.Coordinator == n.config.ID {
			continue
		}
		coordinator, inMap := m.Node(j.Coordinator)
		if inMap && n.peer.Probe(ctx, coordinator) == nil {
			delete(silent, j.Coordinator)
			n.settleAway.Lock()
			delete(n.settleAway.since, j.ID) // its wait starts anew if it is orphaned again
			n.settleAway.Unlock()
			continue
		}
		since, seen := silent[j.Coordinator]
		if !seen {
			silent[j.Coordinator] = now
			since = now
		}
		if inMap && now.Sub(since) < n.config.KeepaliveTimeout {
			continue
		}
		n.settleJob(ctx, j, fmt.Sprintf("its coordinating gateway %s stopped answering", j.Coordinator))
	}
}

// forgetSettled drops the silences of coordinators that run no job now:
// one back after its jobs were settled, which starts another, gets the
// whole timeout again, not one failed probe.
func forgetSettled(silent map[string]time.Time, jobs map[string]membership.Job) {
	running := map[string]bool{}
	for _, j := range jobs {
		if j.State == membership.JobRunning {
			running[j.Coordinator] = true
		}
	}
	maps.DeleteFunc(silent, func(coordinator string, _ time.Time) bool { return !running[coordinator] })
}

// forgetSettleWaits drops the settle waits of jobs no longer running in
// the registry (settled, ended, removed).
func (n *Node) forgetSettleWaits(jobs map[string]membership.Job) {
	n.settleAway.Lock()
	defer n.settleAway.Unlock()
	ended := func(id string) bool {
		j, ok := jobs[id]
		return !ok || j.State != membership.JobRunning
	}
	maps.DeleteFunc(n.settleAway.since, func(id string, _ map[string]time.Time) bool { return ended(id) })
	maps.DeleteFunc(n.settleAway.lost, func(id string, _ string) bool { return ended(id) })
}

// settleAwayWait bounds how long a settle waits for a job's targets
// away: of a job none of whose answering targets finished, before it is
// aborted; of a finished one, before their parts are counted lost.
var settleAwayWait atomic.Int64

func init() { settleAwayWait.Store(int64(10 * time.Minute)) }

// mayAbortUnheard reports whether a job no target said it finished may
// be aborted: every target of the map answered (an away one may have
// finished it: after a whole cluster's restart, all are away at first,
// and an abort then would remove a whole output), or they stayed away
// past settleAwayWait.
func (n *Node) mayAbortUnheard(j membership.Job, m *cluster.Map, answered map[string]bool) bool {
	var away []string
	for _, id := range j.Targets {
		if _, inMap := m.Node(id); inMap && !answered[id] {
			away = append(away, id)
		}
	}
	return n.waitedForAway(j, away)
}

// waitedForAway reports whether each of a job's targets away (none:
// true) has been away settleAwayWait since a settle first found it so.
// A target back forgets its wait: away again, it is waited for anew.
func (n *Node) waitedForAway(j membership.Job, away []string) bool {
	n.settleAway.Lock()
	defer n.settleAway.Unlock()
	if len(away) == 0 {
		delete(n.settleAway.since, j.ID)
		return true
	}
	if n.settleAway.since == nil {
		n.settleAway.since = map[string]map[string]time.Time{}
	}
	waits := n.settleAway.since[j.ID]
	if waits == nil {
		waits = map[string]time.Time{}
		n.settleAway.since[j.ID] = waits
	}
	maps.DeleteFunc(waits, func(id string, _ time.Time) bool { return !slices.Contains(away, id) })
	now, wait := time.Now(), time.Duration(settleAwayWait.Load())
	var left time.Duration
	for _, id := range away {
		first, seen := waits[id]
		if !seen {
			waits[id], first = now, now
		}
		left = max(left, wait-now.Sub(first))
	}
	if left <= 0 {
		delete(n.settleAway.since, j.ID)
		return true
	}
	n.logger.Info("a dsort job whose coordinator went waits for its targets away: one may have finished it", "job", j.ID, "away", strings.Join(away, ","), "counted_lost_after", left)
	return false
}

// settleJob ends a job whose coordinator is gone: finished when a target
// already finished it (every shard was created), else aborted everywhere
// with the cause. False: not settled yet (a target of a finished job did
// not answer: its part may be whole or not), to be tried again.
func (n *Node) settleJob(parent context.Context, j membership.Job, cause string) bool {
	if lost, ok := n.lostVerdict(j.ID); ok {
		// Its output's removal began: no target back makes it whole.
		return n.settleLost(parent, j, lost)
	}
	ctx, cancel := context.WithTimeout(parent, time.Minute)
	defer cancel()
	m := n.currentMap()
	var targets []cluster.Node
	for _, id := range j.Targets {
		if t, ok := m.Node(id); ok && t.State != cluster.StateOffline {
			targets = append(targets, t)
		}
	}
	finished := false
	members := j.Targets
	answered := map[string]bool{}
	for _, t := range targets {
		stats, err := n.peer.Stats(ctx, t, j.ID)
		if err == nil || errors.Is(err, api.ErrJobNotFound) {
			answered[t.ID] = true
		}
		if err != nil || !stats.Archived {
			continue
		}
		finished = true
		// The attempt that finished is what counts: a job run again on
		// fewer targets (one lost) has nothing on the others, whose
		// silence or "not found" loses no part of it. A target that
		// restarted since knows the job by its mark only, without its
		// targets: another is asked.
		if attempt := slices.DeleteFunc(slices.Clone(stats.Targets), func(id string) bool { return !slices.Contains(j.Targets, id) }); len(attempt) > 0 {
			members = attempt
			targets = slices.DeleteFunc(targets, func(t cluster.Node) bool { return !slices.Contains(members, t.ID) })
			break
		}
	}
	if !finished && !n.mayAbortUnheard(j, m, answered) {
		return false
	}
	outcome := ""
	var lost []string // targets whose part is gone (left, restarted)
	var away []string // offline: its part, finished, may come back with it
	for _, id := range members {
		if slices.ContainsFunc(targets, func(t cluster.Node) bool { return t.ID == id }) {
			continue
		}
		if _, inMap := m.Node(id); inMap {
			away = append(away, id)
		} else {
			lost = append(lost, id)
		}
	}
	for _, t := range targets {
		var err error
		if finished {
			err = n.peer.Finish(ctx, t, j.ID)
		} else {
			err = n.peer.Abort(ctx, t, j.ID, "aborted: "+cause)
		}
		switch {
		case !finished && errors.Is(err, api.ErrJobFinished):
			// It finished there since the look above (its coordinator
			// is alive after all): not to be recorded aborted over a
			// whole output. Looked at again.
			n.logger.Info("a target finished the dsort job as it was settled: settled later", "job", j.ID, "target", t.ID)
			return false
		case err == nil || errors.Is(err, api.ErrJobFinished):
		case finished && (errors.Is(err, api.ErrJobNotFound) || errors.Is(err, pipeline.ErrAborted)):
			// Forgotten (restarted), or aborted on its own (its
			// watchdog): its shards are gone.
			lost = append(lost, t.ID)
		case finished:
			n.logger.Warn("a target of a finished dsort job did not answer: the job is settled later", "job", j.ID, "target", t.ID, "err", err)
			return false
		case !errors.Is(err, api.ErrJobNotFound):
			n.logger.Warn("settle a dsort job on a target", "job", j.ID, "target", t.ID, "err", err)
		}
	}
	if finished && len(lost) == 0 && len(away) > 0 && !n.waitedForAway(j, away) {
		// Every target that answered kept its part: one offline (a
		// restart, missed keepalives) has its finished mark on its disk,
		// and its part is counted lost only once it stayed away long.
		return false
	}
	lost = append(lost, away...)
	switch {
	case !finished:
		outcome = "aborted: " + cause
	case len(lost) > 0:
		// Every shard was created, but not every target kept its part:
		// the output is not whole, and the job is not recorded finished.
		cause = fmt.Sprintf("%s, and target(s) %s lost their shards before the job finished there", cause, strings.Join(lost, ", "))
		return n.settleLost(parent, j, cause)
	}
	// A context of its own: the calls to the targets may have taken
	// their minute.
	end, cancelEnd := context.WithTimeout(parent, time.Minute)
	defer cancelEnd()
	if err := n.endJob(end, j.ID, outcome); err != nil {
		n.logger.Warn("record the end of a dsort job", "job", j.ID, "err", err)
		return false
	}
	if finished {
		n.logger.Info("dsort job finished without its coordinator", "job", j.ID, "coordinator", j.Coordinator)
	} else {
		n.logger.Warn("dsort job aborted", "job", j.ID, "cause", cause)
	}
	return true
}

// lostVerdict is the cause of a job counted as having lost a part, once
// its output's removal began: recorded in the registry (by this leader
// or an earlier one), or in this leader's memory.
func (n *Node) lostVerdict(id string) (string, bool) {
	if j, ok := n.registeredJob(id); ok && j.State == membership.JobRunning && j.Cause != "" {
		return j.Cause, true
	}
	n.settleAway.Lock()
	defer n.settleAway.Unlock()
	cause, ok := n.settleAway.lost[id]
	return cause, ok
}

// settleLost removes the output of a finished job a target lost its part
// of, and records it aborted; false: to be tried again (the verdict
// stays: a target back does not bring back what was removed).
func (n *Node) settleLost(parent context.Context, j membership.Job, cause string) bool {
	// The targets that finished keep shards no node lists: each finds
	// the job's own by their metadata. The job stays running in the
	// registry until they are gone, for the next leader to finish.
	remove, cancel := context.WithTimeout(parent, 10*time.Minute)
	defer cancel()
	// As of past any target's clock (they stamp by their own, up to a
	// day ahead of this gateway's): only the job's own copies go.
	now := n.stamp()
	req := peer.RemoveRequest{Stamp: store.Stamp{Map: now.Map, Clock: now.Clock + int64(24*time.Hour)}, Job: j.ID, AllOfJob: true}
	// The verdict is recorded before the removal goes out (not while it
	// waits for a settled cluster): a target back then, or a next leader,
	// does not record finished what was removed. Recorded, it also
	// orders the removal after any record of the job's end: one that
	// came first (its coordinator back) is the job's outcome.
	began := func() error {
		// As the registry has it here first: only a running job's
		// verdict is proposed (of a newer level than older gateways
		// follow, it is no entry to write for nothing).
		registered, ok := n.registeredJob(j.ID)
		switch {
		case !ok || registered.State == membership.JobFinished:
			return errEndedMeanwhile
		case registered.State != membership.JobRunning:
			return nil // recorded aborted: its output goes
		case registered.Cause != "":
			return nil // recorded by an earlier round, or another leader
		}
		record, cancel := context.WithTimeout(parent, time.Minute)
		defer cancel()
		s, err := n.control.Propose(record, membership.Change{Kind: membership.JobLost, Level: membership.LevelJobLost, Job: membership.Job{ID: j.ID, Cause: cause}})
		if errors.Is(err, membership.ErrLeaderBehind) {
			// Admitted up to an older build's level (an upgrade under
			// way): this leader's memory keeps the verdict meanwhile.
			n.logger.Warn("the lost output of a dsort job is not recorded in the registry: the log admits an older protocol level", "job", j.ID)
			n.settleAway.Lock()
			if n.settleAway.lost == nil {
				n.settleAway.lost = map[string]string{}
			}
			n.settleAway.lost[j.ID] = cause
			n.settleAway.Unlock()
			s, err = n.control.Current(), nil
		}
		if err = membershipError(err); errors.Is(err, api.ErrJobNotFound) {
			return errEndedMeanwhile // removed from the registry meanwhile
		}
		if err != nil {
			return err
		}
		if registered, ok := s.Jobs[j.ID]; !ok || registered.State == membership.JobFinished {
			return errEndedMeanwhile
		}
		return nil
	}
	err := n.removeJobObjectsThen(remove, j.Output, req, began)
	if errors.Is(err, errEndedMeanwhile) {
		n.logger.Info("a dsort job counted as having lost a part was recorded finished meanwhile (its coordinator is back): its output stays", "job", j.ID)
		return true
	}
	if err != nil {
		n.logger.Warn("remove the output of a dsort job settled aborted", "job", j.ID, "bucket", j.Output, "err", err)
		return false
	}
	end, cancelEnd := context.WithTimeout(parent, time.Minute)
	defer cancelEnd()
	if err := n.endJob(end, j.ID, "aborted: "+cause); err != nil {
		n.logger.Warn("record the end of a dsort job", "job", j.ID, "err", err)
		return false
	}
	n.logger.Warn("dsort job aborted", "job", j.ID, "cause", cause)
	return true
}

// errEndedMeanwhile stops the removal of the output of a job counted as
// having lost a part that the registry recorded finished (or forgot)
// first.
var errEndedMeanwhile = errors.New("the job's end was recorded meanwhile")

// registeredJob returns a job's registry entry, if the registry has it.
func (n *Node) registeredJob(id string) (membership.Job, bool) {
	j, ok := n.control.Current().Jobs[id]
	return j, ok
}

// settleFinishedMarks looks, on a target, at the jobs it finished whose
// end the registry had not recorded then (see pipeline.Worker.Unfinish):
// one recorded finished needs its mark no more; one recorded aborted
// (settled while this target was away, another target's part lost) has
// the shards this target wrote removed. It also tries again the indexes
// of interrupted jobs whose owners did not answer.
func (n *Node) settleFinishedMarks(ctx context.Context) {
	ticker := time.NewTicker(n.config.KeepaliveInterval)
	defer ticker.Stop()
	recover := false // a recovery to run, or to try again
	var orphansTried, recoverTried time.Time
	for {
		for _, id := range n.worker.FinishedJobs() {
			// Targets hold no registry: the primary's word.
			m := n.currentMap()
			if m == nil {
				break
			}
			primary, ok := m.PrimaryNode()
			if !ok {
				break
			}
			call, cancel := context.WithTimeout(ctx, 5*time.Second)
			j, err := n.peer.RegisteredJob(call, primary, id)
			cancel()
			switch {
			case errors.Is(err, api.ErrJobNotFound):
				// Removed from the registry (or pruned, ended long ago):
				// nothing left to settle.
				n.worker.ForgetFinished(id)
				continue
			case err != nil:
				if ctx.Err() != nil {
					return
				}
				// Not answered (an older primary, one away): the next
				// round asks again, not every mark now.
				n.logger.Debug("ask the primary about a dsort job finished here", "job", id, "err", err)
			case j.State == membership.JobRunning:
			case j.State == membership.JobAborted:
				if err := n.worker.Unfinish(id); err != nil {
					n.logger.Warn("remove the shards of a dsort job recorded aborted after it finished here", "job", id, "err", err)
					continue
				}
				n.logger.Warn("a dsort job that finished here was recorded aborted: its shards here are removed", "job", id, "cause", n.redact(j.Cause))
				recover = true
			case j.State == membership.JobFinished:
				n.worker.ForgetFinished(id)
			}
			if err != nil {
				break
			}
		}
		if recover && time.Since(recoverTried) >= recoverRetry {
			recoverTried = time.Now()
			if err := n.worker.Recover(ctx); err != nil {
				n.logger.Warn("remove the shards of a dsort job recorded aborted: tried again later", "err", err)
			} else {
				recover = false
			}
		}
		if n.worker.HasOrphans() && time.Since(orphansTried) >= recoverRetry {
			// Indexes of interrupted jobs whose owners did not answer.
			orphansTried = time.Now()
			n.worker.RemoveOrphans(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-n.marksNow:
		}
	}
}
