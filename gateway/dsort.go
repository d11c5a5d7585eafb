package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/authn"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/cluster/rebalance"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/store"
)

// maxSpecSize bounds a dSort spec; maxFetchSize the record list of one
// fetch (at most pipeline.MaxFetchRecords). A shard plan is bounded by
// peer.MaxPlan.
const (
	maxSpecSize  = 1 << 20
	maxFetchSize = 128 << 20 // older creators send keys, and whole shares
)

// dsortError maps pipeline errors onto the API's kinds.
func dsortError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pipeline.ErrInvalidSpec), errors.Is(err, pipeline.ErrInvalidInput):
		return fmt.Errorf("%w: %w", api.ErrBadRequest, err)
	case errors.Is(err, pipeline.ErrWorkerClosed):
		return fmt.Errorf("%w: %w", api.ErrUnavailable, err)
	case errors.Is(err, pipeline.ErrKeyMapFetch):
		return fmt.Errorf("%w: %w", api.ErrBadGateway, err)
	case errors.Is(err, pipeline.ErrJobNotFound):
		return fmt.Errorf("%w: %w", api.ErrJobNotFound, err)
	case errors.Is(err, pipeline.ErrJobFinished):
		return fmt.Errorf("%w: %w", api.ErrJobFinished, err)
	case errors.Is(err, pipeline.ErrPhase), errors.Is(err, pipeline.ErrInputNotCached), errors.Is(err, pipeline.ErrAborted):
		return fmt.Errorf("%w: %w", api.ErrConflict, err)
	case errors.Is(err, pipeline.ErrJobRunning), errors.Is(err, pipeline.ErrInvalidJobID), errors.Is(err, pipeline.ErrInvalidInit), errors.Is(err, pipeline.ErrWireLimit):
		return fmt.Errorf("%w: %w", api.ErrBadRequest, err)
	}
	return err
}

// readSpec reads a dSort spec from a request to a gateway; on false the
// error is answered.
func (n *Node) readSpec(w http.ResponseWriter, r *http.Request) (pipeline.Spec, bool) {
	if err := n.requireGateway(); err != nil {
		n.writeError(w, r, err)
		return pipeline.Spec{}, false
	}
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxSpecSize))
	if err != nil {
		n.writeError(w, r, badRequest("read dSort spec: %w", err))
		return pipeline.Spec{}, false
	}
	spec, err := pipeline.ParseSpec(data)
	if err != nil {
		n.writeError(w, r, dsortError(err))
		return pipeline.Spec{}, false
	}
	return spec, true
}

// handleDsortStart: POST /v1/sort with the spec; answers the job id.
func (n *Node) handleDsortStart(w http.ResponseWriter, r *http.Request) {
	spec, ok := n.readSpec(w, r)
	if !ok {
		return
	}
	if spec.Estimate {
		n.answerEstimate(w, r, spec)
		return
	}
	// The job starts from the buckets as the cluster has them now, not
	// as this gateway last applied them, and is authorized so (a bucket
	// it would create needs the right to).
	n.refresh(r.Context())
	if err := n.authorizeDsort(r, spec); err != nil {
		n.writeError(w, r, err)
		return
	}
	if err := n.settledForDsort(r.Context(), spec); err != nil {
		n.writeError(w, r, err)
		return
	}
	id, err := n.coordinator.Start(r.Context(), spec)
	if err != nil {
		n.writeError(w, r, dsortError(err))
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, id)
}

// settledForDsort waits (a while) for the cluster to settle before a job
// over an ais:// input starts: each target reads the input shards it owns
// from its own disks, so one not there yet (a rebalance moving it) or on
// what is away (a target, a disk) would be missing, and with the default
// missing_shards its records dropped without a word. A remote input is
// fetched where it is missing, an erasure-coded one rebuilt from its parts.
func (n *Node) settledForDsort(ctx context.Context, spec pipeline.Spec) error {
	in := store.Bucket(spec.InputBucket).Normalize()
	props, err := n.bucketProps(in)
	if !in.IsRemote() && err == nil && props.EC.Enabled {
		// The job counts on erasure coding to read its input without a
		// target it loses: objects not encoded yet would be missing. A
		// target that does not answer may be encoding them.
		running, silent := n.jobMayRun(ctx, jobECEncode, in)
		if running {
			return fmt.Errorf("%w: dsort: ec-encode runs on the input bucket %s: its objects not encoded yet could not be rebuilt without a target the job lost; start the job once it ends", pipeline.ErrJobBusy, in)
		}
		if len(silent) > 0 {
			return fmt.Errorf("%w: dsort: target %s did not answer whether ec-encode runs on the input bucket %s (its objects not encoded yet could not be rebuilt without a target the job lost); start the job again", api.ErrUnavailable, strings.Join(silent, ", "), in)
		}
	}
	if in.IsRemote() || err != nil || props.EC.Enabled {
		return nil // (a missing bucket is the job's error to name)
	}
	deadline := time.Now().Add(dsortSettleWait)
	for !n.rebalanceEnded(ctx, 0, false) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: dsort: objects are moving (a rebalance), or a target or a disk is away: input shards may not be where the job reads them; start it once the cluster is settled", api.ErrUnavailable)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// dsortSettleWait bounds how long a dSort start waits for the cluster to
// settle.
var dsortSettleWait = 30 * time.Second

// authorizeDsort checks that the caller may read the input (and an
// ais:// key map) and write the output: the targets then act for it.
func (n *Node) authorizeDsort(r *http.Request, spec pipeline.Spec) error {
	if n.verifier == nil || spec.InputBucket.Name == "" {
		return nil // no job to authorize: validation refuses it
	}
	in := store.Bucket(spec.InputBucket).Normalize()
	out := in
	if spec.OutputBucket.Name != "" {
		out = store.Bucket(spec.OutputBucket).Normalize()
	}
	if err := n.authorizeBucket(r, authn.PermGet, in); err != nil {
		return err
	}
	if err := n.authorizeBucket(r, authn.PermPut, out); err != nil {
		return err
	}
	// The job makes a missing output bucket: the caller's to create.
	if _, missing := n.requestedBucketProps(out); missing != nil {
		if err := n.authorizeBucket(r, authn.PermCreateBucket, out); err != nil {
			return err
		}
	}
	if rest, ok := strings.CutPrefix(spec.EKMFile, "ais://"); ok {
		name, _, _ := strings.Cut(rest, "/")
		return n.authorizeBucket(r, authn.PermGet, store.Bucket{Name: name})
	}
	return nil
}

// authorizeJob checks need on a dSort job's output bucket, or on the
// cluster for a job the registry does not know.
func (n *Node) authorizeJob(r *http.Request, need authn.Perm, id string) error {
	if n.verifier == nil {
		return nil
	}
	bucket := ""
	if j, ok := n.registeredJob(id); ok && j.Output.Name != "" {
		bucket = j.Output.Normalize().String()
	}
	_, err := n.authorize(r, need, bucket)
	return err
}

// authorizeOutput checks need on a job's output bucket as its targets'
// metrics name it; on the cluster when none does.
func (n *Node) authorizeOutput(r *http.Request, need authn.Perm, metrics map[string]api.DsortJobInfo) error {
	bucket := ""
	for _, info := range metrics {
		if info.DestBck.Name != "" {
			bucket = store.Bucket{Name: info.DestBck.Name, Provider: info.DestBck.Provider}.Normalize().String()
		}
	}
	_, err := n.authorize(r, need, bucket)
	return err
}

// handleDsortGet: GET /v1/sort?uuid=ID gives per-target metrics; without
// uuid, the list of jobs (?regex=, ?only_active=true).
func (n *Node) handleDsortGet(w http.ResponseWriter, r *http.Request) {
	if err := n.requireGateway(); err != nil {
		n.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	if id := q.Get(api.QueryUUID); id != "" {
		if err := pipeline.ValidateJobID(id); err != nil {
			n.writeError(w, r, dsortError(err))
			return
		}
		_, registered := n.registeredJob(id)
		if registered {
			if err := n.authorizeJob(r, authn.PermList, id); err != nil {
				n.writeError(w, r, err)
				return
			}
		}
		metrics, err := n.dsortMetrics(r.Context(), id)
		switch {
		case !registered && err == nil:
			// Not registered here yet (a follower gateway behind the
			// log, or an ended job pruned): its output as its targets
			// tell it, else the cluster.
			err = n.authorizeOutput(r, authn.PermList, metrics)
		case !registered:
			// Whether it exists, and what the targets said, is for one
			// who may list the cluster.
			if _, aerr := n.authorize(r, authn.PermList, ""); aerr != nil {
				err = aerr
			}
		}
		if err != nil {
			n.writeError(w, r, err)
			return
		}
		writeJSON(w, metrics)
		return
	}
	var filter *regexp.Regexp
	if expr := q.Get(api.QueryRegex); expr != "" {
		var err error
		if filter, err = regexp.Compile(expr); err != nil {
			n.writeError(w, r, badRequest("regex %q: %w", expr, err))
			return
		}
	}
	onlyActive := q.Get(api.QueryOnlyActive) == "true"
	jobs, err := n.dsortList(r.Context())
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	out := []api.DsortJobInfo{}
	for _, j := range jobs {
		if onlyActive && (j.Aborted || j.Archived) {
			continue
		}
		if filter != nil && !filter.MatchString(j.Metrics.Description) && !filter.MatchString(j.ID) {
			continue
		}
		// Those whose output the caller may list.
		if _, err := n.authorize(r, authn.PermList, store.Bucket{Name: j.DestBck.Name, Provider: j.DestBck.Provider}.Normalize().String()); err != nil {
			continue
		}
		out = append(out, j)
	}
	writeJSON(w, out)
}

// dsortMetrics asks every target for a job's stats.
func (n *Node) dsortMetrics(ctx context.Context, id string) (map[string]api.DsortJobInfo, error) {
	out := map[string]api.DsortJobInfo{}
	var lastErr error
	targets := n.currentMap().Reachable()
	answers, errs := askTargets(ctx, targets, func(ctx context.Context, t cluster.Node) (pipeline.JobStats, error) { return n.peer.Stats(ctx, t, id) })
	stats := map[string]pipeline.JobStats{}
	var silent []string
	for i, t := range targets {
		switch err := errs[i]; {
		case errors.Is(err, api.ErrJobNotFound):
		case err != nil:
			lastErr = fmt.Errorf("target %s: %w", t.ID, err)
			silent = append(silent, t.ID)
		default:
			stats[t.ID] = answers[i]
		}
	}
	for id, s := range currentAttempt(stats) {
		out[id] = jobInfo(s)
	}
	registered, inRegistry := n.registeredJob(id)
	if len(out) > 0 && inRegistry && registered.State == membership.JobRunning {
		// A target that did not answer may be creating its part still:
		// shown, not finished (left out, the others' finished parts
		// read as the job's finish to a waiter).
		var some api.DsortJobInfo
		for _, v := range out {
			some = v
			break
		}
		for _, t := range silent {
			out[t] = api.DsortJobInfo{ID: id, SourceBck: some.SourceBck, DestBck: some.DestBck, StartedTime: some.StartedTime, Phase: some.Phase,
				Metrics: api.DsortMetrics{Description: some.Metrics.Description, Warnings: []string{fmt.Sprintf("target %s did not answer: its part is not known", t)}}}
		}
	}
	if len(out) == 0 {
		// A target that did not answer may hold a running job's part;
		// an ended job is the registry's to tell (the targets that
		// answered forgot it: restarted, or pruned it).
		if lastErr != nil && !(inRegistry && registered.State != membership.JobRunning) {
			return nil, lastErr
		}
		if status, err := n.coordinator.Status(id); err == nil && inRegistry {
			// Known here, but no target has it (it failed at init); not
			// one removed through another gateway (gone from the
			// registry).
			return map[string]api.DsortJobInfo{n.config.ID: coordinatorInfo(status)}, nil
		}
		if inRegistry {
			// Its targets forgot it (restarted): the registry tells.
			return map[string]api.DsortJobInfo{registered.Coordinator: registryInfo(registered)}, nil
		}
		return nil, fmt.Errorf("%w: dsort job %s", api.ErrJobNotFound, id)
	}
	n.jobView(id, out, registered, inRegistry)
	return out, nil
}

// jobView corrects the targets' view of a job (out, by target) by what
// the registry and the coordinator know: a run stopped while the job
// waits for a lost target is not the job's end, nor is one target's
// archive the job's finish.
func (n *Node) jobView(id string, out map[string]api.DsortJobInfo, registered membership.Job, inRegistry bool) {
	if inRegistry && registered.State == membership.JobAborted {
		// Settled by another gateway: the cause is the registry's.
		for k, v := range out {
			v.Aborted, v.Metrics.Aborted = true, true
			if !slices.Contains(v.Metrics.Errors, registered.Cause) {
				v.Metrics.Errors = append(v.Metrics.Errors, registered.Cause)
			}
			out[k] = v
		}
	}
	if inRegistry && registered.State == membership.JobFinished {
		// Finished: a target left out of the attempt that finished keeps
		// its earlier one, aborted, which is not the job's end: it reads
		// as the job does, finished.
		for k, v := range out {
			if v.Aborted {
				v.Aborted, v.Metrics.Aborted = false, false
				v.Archived, v.Metrics.Archived = true, true
				v.Phase = pipeline.PhaseFinished
				v.Metrics.Warnings = append(v.Metrics.Warnings, v.Metrics.Errors...)
				v.Metrics.Errors = nil
				out[k] = v
			}
		}
	}
	status, statusErr := n.coordinator.Status(id)
	if inRegistry && registered.State == membership.JobRunning && (statusErr != nil || status.Finished.IsZero()) {
		// A run that lost a target ends on the others while the job
		// waits for it to come back: the job has not ended, and what
		// stopped the run is a warning until it does. A job whose output
		// is being removed has not ended either, but its errors stand.
		aborting := statusErr == nil && status.Phase == pipeline.PhaseAborting
		for k, v := range out {
			if v.Aborted {
				v.Aborted, v.Metrics.Aborted = false, false
				if !aborting {
					v.Metrics.Warnings = append(v.Metrics.Warnings, v.Metrics.Errors...)
					v.Metrics.Errors = nil
				}
				out[k] = v
			}
		}
	}
	if inRegistry && registered.State == membership.JobRunning && registered.Cause != "" {
		// Counted lost, its output being removed: the job's end to come.
		for k, v := range out {
			if !slices.Contains(v.Metrics.Errors, registered.Cause) {
				v.Metrics.Errors = append(v.Metrics.Errors, registered.Cause)
			}
			out[k] = v
		}
	}
	// Finished is the coordinator's (or the registry's) to say: a target
	// that archived its part does not make the job finished (another may
	// have lost its part, and the job then fails).
	// The registry's word comes first (a remove checks it); without an
	// entry, the coordinator's; knowing neither, the targets' stands.
	ended := registered.State == membership.JobFinished
	if !inRegistry {
		ended = statusErr != nil || status.Archived
	}
	for k, v := range out {
		if !ended {
			// Nor is its creation finished (AIStore's clients wait on
			// every target's shard_creation.finished).
			v.Archived, v.Metrics.Archived = false, false
			v.Metrics.Creation.Finished = false
			out[k] = v
		}
	}
	if statusErr == nil {
		for k, v := range out {
			v.Phase = status.Phase
			if status.Error != "" && !slices.Contains(v.Metrics.Errors, status.Error) {
				v.Metrics.Errors = append(v.Metrics.Errors, status.Error)
			}
			// The coordinator's own: a lost target, a restart.
			for _, w := range status.Warnings {
				if !slices.Contains(v.Metrics.Warnings, w) {
					v.Metrics.Warnings = append(v.Metrics.Warnings, w)
				}
			}
			out[k] = v
		}
	}
}

// currentAttempt keeps of a job's stats, by target, those of its latest
// attempt: a job run again on other targets (those left) has nothing on
// the others, whose stats of an earlier attempt (aborted, or still
// running to their watchdog) are not the job's. Stats without targets
// (a job known by its finished mark) stay.
func currentAttempt(stats map[string]pipeline.JobStats) map[string]pipeline.JobStats {
	latest := -1
	for _, s := range stats {
		if len(s.Targets) > 0 {
			latest = max(latest, s.Attempt)
		}
	}
	out := make(map[string]pipeline.JobStats, len(stats))
	for id, s := range stats {
		if len(s.Targets) == 0 || s.Attempt == latest {
			out[id] = s
		}
	}
	return out
}

// dsortList merges every target's jobs by id.
func (n *Node) dsortList(ctx context.Context) ([]api.DsortJobInfo, error) {
	perJob := map[string]map[string]pipeline.JobStats{}
	targets := n.currentMap().Reachable()
	answers, errs := askTargets(ctx, targets, n.peer.Jobs)
	for i, t := range targets {
		if errs[i] != nil {
			n.logger.Warn("dsort list", "target", t.ID, "err", errs[i])
			continue
		}
		for _, s := range answers[i] {
			if perJob[s.ID] == nil {
				perJob[s.ID] = map[string]pipeline.JobStats{}
			}
			perJob[s.ID][t.ID] = s
		}
	}
	var out []api.DsortJobInfo
	for id, stats := range perJob {
		per := map[string]api.DsortJobInfo{}
		for t, s := range currentAttempt(stats) {
			per[t] = jobInfo(s)
		}
		// As the job's metrics show it (a job waiting for a lost target
		// is running, not aborted).
		registered, inRegistry := n.registeredJob(id)
		n.jobView(id, per, registered, inRegistry)
		out = append(out, api.DsortSummary(per))
	}
	// Jobs the targets forgot (restarted, or past the ended jobs they
	// keep) or that none answered for are listed as the registry knows
	// them, as their metrics are.
	for id, j := range n.control.Current().Jobs {
		if _, seen := perJob[id]; !seen {
			out = append(out, registryInfo(j))
		}
	}
	slices.SortFunc(out, func(a, b api.DsortJobInfo) int { return a.StartedTime.Compare(b.StartedTime) })
	return out, nil
}

func phaseOf(p pipeline.PhaseStats) api.DsortPhase {
	return api.DsortPhase{Started: p.Started, Ended: p.Ended, Elapsed: int64(p.Elapsed), Running: p.Running, Finished: p.Finished}
}

// jobInfo turns a target's stats into AIStore's shape.
func jobInfo(s pipeline.JobStats) api.DsortJobInfo {
	return api.DsortJobInfo{
		ID: s.ID, SourceBck: api.DsortBucketOf(s.Input), DestBck: api.DsortBucketOf(s.Output),
		StartedTime: s.Started, FinishTime: s.Finished, Phase: s.Phase,
		Aborted: s.Aborted, Archived: s.Archived,
		Metrics: api.DsortMetrics{
			Extraction: api.DsortExtraction{
				DsortPhase: phaseOf(s.Extract), TotalCount: s.Extract.Total, ExtractedCount: s.Extract.Done,
				ExtractedSize: s.Extract.Bytes, ExtractedRecordCount: s.Extract.Records,
				ExtractedToDiskCount: s.Extract.SpilledFiles, ExtractedToDiskSize: s.Extract.SpilledBytes,
				MissingCount: s.Extract.Missing,
			},
			Sorting: phaseOf(s.Sort),
			Creation: api.DsortCreation{
				DsortPhase: phaseOf(s.Create), ToCreate: s.Create.Total, CreatedCount: s.Create.Done,
				CreatedSize: s.Create.Bytes, CreatedRecordCount: s.Create.Records,
			},
			Description: s.Description, Warnings: s.Warnings, Errors: s.Errors,
			Aborted: s.Aborted, Archived: s.Archived, MemoryPeak: s.MemoryPeak, MemoryLimit: s.MemoryLimit,
		},
	}
}

func coordinatorInfo(s pipeline.Status) api.DsortJobInfo {
	info := api.DsortJobInfo{ID: s.ID, SourceBck: api.DsortBucketOf(s.Input), DestBck: api.DsortBucketOf(s.Output), StartedTime: s.Started,
		FinishTime: s.Finished, Phase: s.Phase, Aborted: s.Aborted, Archived: s.Archived}
	info.Metrics.Description, info.Metrics.Aborted, info.Metrics.Archived = s.Description, s.Aborted, s.Archived
	if s.Error != "" {
		info.Metrics.Errors = []string{s.Error}
	}
	return info
}

// registryInfo is a job as the registry knows it.
func registryInfo(j membership.Job) api.DsortJobInfo {
	info := api.DsortJobInfo{ID: j.ID, DestBck: api.DsortBucketOf(j.Output), StartedTime: time.Unix(0, j.Started)}
	if j.Ended != 0 {
		info.FinishTime = time.Unix(0, j.Ended)
	}
	info.Aborted, info.Archived = j.State == membership.JobAborted, j.State == membership.JobFinished
	info.Metrics.Aborted, info.Metrics.Archived = info.Aborted, info.Archived
	if j.Cause != "" {
		info.Metrics.Errors = []string{j.Cause}
	}
	return info
}

// handleDsortAbort: DELETE /v1/sort/abort?uuid=ID.
func (n *Node) handleDsortAbort(w http.ResponseWriter, r *http.Request) {
	if err := n.requireGateway(); err != nil {
		n.writeError(w, r, err)
		return
	}
	id := r.URL.Query().Get(api.QueryUUID)
	if id == "" {
		n.writeError(w, r, badRequest("uuid is required"))
		return
	}
	if err := pipeline.ValidateJobID(id); err != nil {
		n.writeError(w, r, dsortError(err))
		return
	}
	if err := n.authorizeJob(r, authn.PermPut, id); err != nil {
		n.writeError(w, r, err)
		return
	}
	if err := n.abortDsort(r.Context(), id); err != nil {
		n.writeError(w, r, dsortError(err))
		return
	}
	w.WriteHeader(http.StatusOK)
}

// abortDsort aborts a dSort job, coordinated here or elsewhere.
func (n *Node) abortDsort(ctx context.Context, id string) error {
	err := n.coordinator.Abort(ctx, id, fmt.Errorf("%w by a user request to gateway %s", pipeline.ErrAborted, n.config.ID))
	if !errors.Is(err, pipeline.ErrJobNotFound) {
		return err
	}
	// Coordinated elsewhere: its coordinator is told (a job waiting for
	// a lost target has nothing running on the others to stop, and would
	// start again once it is back).
	// unheard is the coordinator's not taking the abort: it may start
	// the job again once its lost target is back, which no target stops.
	var unheard error
	if j, ok := n.registeredJob(id); ok && j.State == membership.JobRunning && j.Coordinator != n.config.ID {
		if g, ok := n.currentMap().Node(j.Coordinator); ok {
			err := api.NewClientWith(g.URL, n.peer.HTTP()).SetToken("").DsortAbort(ctx, id)
			if !errors.Is(err, api.ErrJobNotFound) && !errors.Is(err, api.ErrUnavailable) {
				return err
			}
			n.logger.Warn("the coordinator of a dsort job did not take its abort: aborted on its targets", "job", id, "coordinator", j.Coordinator, "err", err)
			if errors.Is(err, api.ErrUnavailable) {
				// 502, not 503: a client that sent it again at once would
				// wait on the coordinator again, for nothing.
				unheard = fmt.Errorf("%w: dsort job %s is stopped on its targets, but its coordinator, gateway %s, did not take the abort (%v) and may start it again: abort it again once gateway %s answers, or once it is gone (another gateway then ends the job)",
					api.ErrBadGateway, id, j.Coordinator, err, j.Coordinator)
			}
		}
	}
	// Recorded finished: its output is whole (a target may still hold an
	// aborted copy of an earlier attempt, which says nothing of it).
	if j, ok := n.registeredJob(id); ok && j.State == membership.JobFinished {
		return fmt.Errorf("%w: dsort job %s finished", api.ErrJobFinished, id)
	}
	// Then on every target, which makes a coordinator abort too.
	err = n.abortOnTargets(ctx, id, "aborted by a user request to gateway "+n.config.ID)
	if unheard != nil && (err == nil || errors.Is(err, api.ErrJobNotFound)) {
		// Ended meanwhile (its coordinator recorded the abort its targets
		// made, or the leader settled it): that is the answer.
		if j, ok := n.registeredJob(id); !ok || j.State == membership.JobRunning {
			return unheard // its targets forgot it (restarted): the coordinator has not
		}
	}
	if errors.Is(err, api.ErrJobNotFound) {
		// Its targets forgot it (restarted, or past the ended jobs they
		// keep): the registry says how it ended.
		if j, ok := n.registeredJob(id); ok {
			switch j.State {
			case membership.JobFinished:
				return fmt.Errorf("%w: dsort job %s finished", api.ErrJobFinished, id)
			case membership.JobAborted:
				return nil // aborted already
			}
		}
	}
	return err
}

// dsortAbortWait bounds a target's abort of a job: its answer waits for
// the removal of the shards it wrote.
const dsortAbortWait = 2 * time.Minute

func (n *Node) abortOnTargets(ctx context.Context, id, cause string) error {
	found, aborted := false, false
	var finished, failed error
	// Every target is told, whichever fail: one down must not keep the
	// job running on the others. At once, each with the time of its
	// cleanup (it answers once its shards are removed).
	targets := n.currentMap().Reachable()
	errs := make([]error, len(targets))
	abortCtx, cancel := context.WithTimeout(ctx, dsortAbortWait)
	defer cancel()
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { errs[i] = n.peer.Abort(abortCtx, t, id, cause) })
	}
	wg.Wait()
	for i, t := range targets {
		switch err := errs[i]; {
		case err == nil:
			found, aborted = true, true
		case errors.Is(err, api.ErrJobFinished):
			found, finished = true, err
		case !errors.Is(err, pipeline.ErrJobNotFound):
			failed = errors.Join(failed, fmt.Errorf("abort on target %s: %w", t.ID, err))
		}
	}
	if failed != nil {
		return failed
	}
	if !found {
		return fmt.Errorf("%w: dsort job %s", api.ErrJobNotFound, id)
	}
	if aborted {
		// Aborted on a target that had not finished it: the job cannot
		// finish, and its output goes (those that finished are settled
		// aborted): not "finished", though some had.
		return nil
	}
	return finished
}

// handleDsortRemove: DELETE /v1/sort?uuid=ID forgets a finished job.
func (n *Node) handleDsortRemove(w http.ResponseWriter, r *http.Request) {
	if err := n.requireGateway(); err != nil {
		n.writeError(w, r, err)
		return
	}
	id := r.URL.Query().Get(api.QueryUUID)
	if id == "" {
		n.writeError(w, r, badRequest("uuid is required"))
		return
	}
	if err := pipeline.ValidateJobID(id); err != nil {
		n.writeError(w, r, dsortError(err))
		return
	}
	if err := n.authorizeJob(r, authn.PermPut, id); err != nil {
		n.writeError(w, r, err)
		return
	}
	// A job the registry says runs (coordinated elsewhere, or waiting
	// for a lost target) is not taken from its targets under it.
	if j, ok := n.registeredJob(id); ok && j.State == membership.JobRunning {
		n.writeError(w, r, dsortError(fmt.Errorf("%w: %s", pipeline.ErrJobRunning, id)))
		return
	}
	if j, ok := n.registeredJob(id); ok && j.State == membership.JobAborted {
		// A target offline may hold shards of the job that only its
		// finished mark lists: back, it asks the registry, which must
		// still say aborted for them to go.
		m := n.currentMap()
		for _, t := range j.Targets {
			if node, inMap := m.Node(t); inMap && node.State == cluster.StateOffline {
				n.writeError(w, r, fmt.Errorf("%w: dsort job %s: target %s is offline and may hold shards of the aborted job: remove the job once it is back (or out of the cluster)", api.ErrConflict, id, t))
				return
			}
		}
	}
	found := false
	if err := n.coordinator.Remove(id); err == nil {
		found = true
	} else if !errors.Is(err, pipeline.ErrJobNotFound) {
		n.writeError(w, r, dsortError(err))
		return
	}
	for _, t := range n.currentMap().Reachable() {
		err := n.peer.RemoveJob(r.Context(), t, id)
		switch {
		case err == nil:
			found = true
		case !errors.Is(err, api.ErrJobNotFound):
			n.writeError(w, r, fmt.Errorf("remove on target %s: %w", t.ID, err))
			return
		}
	}
	if j, ok := n.registeredJob(id); ok && j.State != membership.JobRunning {
		if _, err := n.control.Propose(r.Context(), membership.Change{Kind: membership.JobRemoved, Job: membership.Job{ID: id}}); err != nil {
			n.writeError(w, r, membershipError(err))
			return
		}
		found = true
	}
	if !found {
		n.writeError(w, r, fmt.Errorf("%w: dsort job %s", api.ErrJobNotFound, id))
		return
	}
	w.WriteHeader(http.StatusOK)
}

// Target routes, called by coordinators and other targets.

func (n *Node) requireWorker() error {
	if n.worker == nil {
		return badRequest("node %s is not a target", n.config.ID)
	}
	return nil
}

func (n *Node) handleDsortInit(w http.ResponseWriter, r *http.Request) {
	var init pipeline.JobInit
	err := n.requireWorker()
	if err == nil {
		err = decodeBody(r, &init)
	}
	if err == nil {
		err = n.worker.Init(r.Context(), init)
	}
	if err != nil {
		n.writeError(w, r, dsortError(err))
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (n *Node) handleDsortExtract(w http.ResponseWriter, r *http.Request) {
	if err := n.requireWorker(); err != nil {
		n.writeError(w, r, err)
		return
	}
	metas, err := n.worker.Extract(r.Context(), r.PathValue("id"))
	if err != nil {
		n.writeError(w, r, dsortError(err))
		return
	}
	w.Header().Set("Content-Type", "application/msgpack")
	w.Write(pipeline.AppendRecords(nil, metas))
}

func (n *Node) handleDsortCreate(w http.ResponseWriter, r *http.Request) {
	err := n.requireWorker()
	if err == nil {
		// The job must exist before its body is read.
		err = dsortError(n.worker.Check(r.PathValue("id")))
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, peer.MaxPlan))
	if err != nil {
		n.writeError(w, r, badRequest("read shard plan: %w", err))
		return
	}
	planned, err := pipeline.ReadShards(data, pipeline.MaxPlanRecords)
	if err != nil {
		n.writeError(w, r, badRequest("decode shard plan: %w", err))
		return
	}
	if err := n.worker.Create(r.Context(), r.PathValue("id"), planned); err != nil {
		n.writeError(w, r, dsortError(err))
		return
	}
	w.WriteHeader(http.StatusOK)
}

// handleDsortRegistry answers a target's question about a job it
// finished: the registry's entry (see settleFinishedMarks).
func (n *Node) handleDsortRegistry(w http.ResponseWriter, r *http.Request) {
	// A gateway catching up may not have the job yet: its "not found"
	// would have the target forget a mark it still needs.
	if err := n.requireGateway(); err != nil {
		n.writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	if err := pipeline.ValidateJobID(id); err != nil {
		n.writeError(w, r, dsortError(err))
		return
	}
	j, ok := n.registeredJob(id)
	if !ok {
		n.writeError(w, r, fmt.Errorf("%w: dsort job %s is not in the registry", api.ErrJobNotFound, id))
		return
	}
	writeJSON(w, j)
}

func (n *Node) handleDsortFinish(w http.ResponseWriter, r *http.Request) {
	err := n.requireWorker()
	if err == nil {
		err = n.worker.Finish(r.Context(), r.PathValue("id"))
	}
	if err != nil {
		n.writeError(w, r, dsortError(err))
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (n *Node) handleDsortTargetAbort(w http.ResponseWriter, r *http.Request) {
	err := n.requireWorker()
	if err == nil {
		err = n.worker.Abort(r.Context(), r.PathValue("id"), r.URL.Query().Get("cause"))
	}
	if err != nil {
		n.writeError(w, r, dsortError(err))
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (n *Node) handleDsortTargetRemove(w http.ResponseWriter, r *http.Request) {
	err := n.requireWorker()
	if err == nil {
		err = n.worker.Remove(r.PathValue("id"))
	}
	if err != nil {
		n.writeError(w, r, dsortError(err))
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (n *Node) handleDsortStats(w http.ResponseWriter, r *http.Request) {
	if err := n.requireWorker(); err != nil {
		n.writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	if id == "" {
		jobs := n.worker.Jobs()
		for i := range jobs {
			n.redactStats(&jobs[i])
		}
		writeJSON(w, jobs)
		return
	}
	if r.URL.Query().Get("keepalive") == "true" {
		// The job's coordinator is alive (pipeline.Worker.Heard).
		if err := n.worker.Heard(id); err != nil {
			n.writeError(w, r, dsortError(err))
			return
		}
	}
	stats, err := n.worker.Stats(id)
	if err != nil {
		n.writeError(w, r, dsortError(err))
		return
	}
	n.redactStats(&stats)
	writeJSON(w, stats)
}

// redactStats shows no directory of this node in a job's errors and
// warnings, as a job's errors (jobStatuses).
func (n *Node) redactStats(stats *pipeline.JobStats) {
	for i := range stats.Errors {
		stats.Errors[i] = n.redact(stats.Errors[i])
	}
	for i := range stats.Warnings {
		stats.Warnings[i] = n.redact(stats.Warnings[i])
	}
}

// handleDsortRecords streams the bytes of the records asked for.
func (n *Node) handleDsortRecords(w http.ResponseWriter, r *http.Request) {
	err := n.requireWorker()
	if err == nil {
		// The job must exist before its body is read.
		err = dsortError(n.worker.Check(r.PathValue("id")))
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	// The asking job's attempt (none from a peer of an older build).
	attempt := -1
	if v := r.URL.Query().Get(peer.QueryAttempt); v != "" {
		if attempt, err = strconv.Atoi(v); err != nil || attempt < 0 {
			n.writeError(w, r, badRequest("attempt %.20q: not a number of 0 or more", v))
			return
		}
	}
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxFetchSize))
	if err != nil {
		n.writeError(w, r, badRequest("read record list: %w", err))
		return
	}
	records, _, err := pipeline.ReadRecords(data, pipeline.MaxFetchRecords)
	if err != nil {
		n.writeError(w, r, badRequest("decode record list: %w", err))
		return
	}
	// A known length keeps the response unchunked, and the connection
	// then takes records' bytes straight from their shards (sendfile).
	length, err := n.worker.RecordsLength(r.PathValue("id"), records)
	if err != nil {
		n.writeError(w, r, dsortError(err))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(length, 10))
	out := newStallWriter(w, n.config.RecordsStall, n.config.BodyMinRate)
	defer out.done()
	if err := n.worker.ServeRecords(r.Context(), r.PathValue("id"), attempt, records, out); err != nil {
		if !out.wrote.Load() {
			// Refused before any byte (the job stopping, a record asked
			// for twice): said, not a dropped connection the creator
			// takes for its holder unreachable.
			w.Header().Del("Content-Length")
			n.writeError(w, r, dsortError(err))
			return
		}
		// The status is sent; a cut stream tells the receiver. A creator
		// that closed it (it parks a stream it will not read for a
		// while, and asks for the rest later) is no failure.
		if r.Context().Err() != nil {
			n.logger.Debug("serve records: the creator closed the stream", "job", r.PathValue("id"), "err", err)
		} else {
			n.logger.Warn("serve records", "job", r.PathValue("id"), "err", err)
		}
		panic(http.ErrAbortHandler)
	}
}

// dsortCluster is the coordinator's view of the cluster: this node's
// control plane, listing and key-map fetches.
type dsortCluster struct{ n *Node }

var (
	_ pipeline.Cluster = dsortCluster{}
	_ pipeline.Targets = (*peer.Client)(nil)
)

func (p dsortCluster) Map() *cluster.Map { return p.n.currentMap() }

// (A bucket just made through another gateway is known here first.)
func (p dsortCluster) BucketProps(ctx context.Context, b store.Bucket) (store.Props, error) {
	return p.n.requestedBucketProps(b)
}

// CreateBucket makes a dSort job's missing output bucket, as a copy makes
// its destination: a remote one joins when its store has it, with default
// props; a local one gets the input's props but where a remote bucket's
// data is (an admin's to say, not a job's).
func (p dsortCluster) CreateBucket(ctx context.Context, b store.Bucket, props store.Props) error {
	if b.IsRemote() {
		remoteProps := store.DefaultRemoteProps(b)
		return p.n.addRemoteBucket(ctx, b, &remoteProps)
	}
	props.Created, props.BID, props.Extra = 0, 0, nil
	// The input's protection may be more than the cluster holds now
	// (fewer targets, a detached disk): refused at the start, as a
	// copy's destination is, not at every shard's write.
	if err := p.n.checkProtection(ctx, nil, props); err != nil {
		return err
	}
	return p.n.createBucket(ctx, b, props)
}

// DestroyEmptyBucket removes an ais:// bucket a job made, if still empty.
func (p dsortCluster) DestroyEmptyBucket(ctx context.Context, b store.Bucket, job string) error {
	// Another job started into it a moment after (it found it made):
	// empty while that one extracts, the bucket is that job's too.
	for id, j := range p.n.control.Current().Jobs {
		if id != job && j.State == membership.JobRunning && j.Output.Normalize() == b.Normalize() {
			return nil
		}
	}
	return p.n.destroyEmptyBucket(ctx, b, "")
}

// FetchKeyMap reads an external key map from ais://bucket/object or an
// http(s) URL.
func (p dsortCluster) FetchKeyMap(ctx context.Context, location string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(location, "ais://"); ok {
		limit := p.n.config.KeyMapMaxSize
		bucket, object, _ := strings.Cut(rest, "/")
		client := api.NewClientWith(p.n.config.URL, p.n.peer.HTTP()).SetToken("")
		r, _, err := client.Get(ctx, bucket, object, api.GetOptions{})
		if err != nil {
			return nil, err
		}
		defer r.Close()
		// A map past the limit is refused, not cut (a cut map would
		// leave records without their templates).
		data, err := io.ReadAll(io.LimitReader(r, limit+1))
		if err == nil && int64(len(data)) > limit {
			err = fmt.Errorf("%w: ekm_file %s is larger than %d bytes", api.ErrBadRequest, location, limit)
		}
		return data, err
	}
	return p.n.fetchKeyMap(ctx, location)
}

// RemoveObjects waits for rebalances to settle, then has every target
// remove the objects if it has them.
func (p dsortCluster) RemoveObjects(ctx context.Context, b store.Bucket, names []string, job string, asOf store.Stamp) error {
	// The targets stamp by their own clocks (hybrid: ahead of the wall's
	// after a restart, or past a faster peer's by up to a day), not this
	// gateway's wall clock: the job's copies stamped ahead of it would
	// stay. Only the job's own copies are removed (by their mark), each
	// exactly as found: a cut-off past any clock's reach loses nothing.
	if later := (store.Stamp{Map: asOf.Map, Clock: p.n.stamp().Clock + int64(24*time.Hour)}); later.Compare(asOf) > 0 {
		asOf = later
	}
	return p.n.removeJobObjects(ctx, b, peer.RemoveRequest{Names: names, Stamp: asOf, Job: job})
}

// removeJobObjects waits for rebalances to settle, then has every target
// remove what a job wrote (see peer.RemoveRequest). Still unsettled after
// the wait, it removes what it can and fails, naming why: a shard moving
// then may land after its target was asked. A removal of all of a job
// (the registry's settle, which asks again each round) does not wait,
// and is not made while the cluster is unsettled.
func (n *Node) removeJobObjects(ctx context.Context, b store.Bucket, req peer.RemoveRequest) error {
	return n.removeJobObjectsThen(ctx, b, req, nil)
}

// removeJobObjectsThen is removeJobObjects that calls began (when not
// nil) once it sends the removals, past the wait for a settled cluster.
func (n *Node) removeJobObjectsThen(ctx context.Context, b store.Bucket, req peer.RemoveRequest, began func() error) error {
	wait := removeSettleWait
	if req.AllOfJob {
		// The registry's settle asks again at its next round: it waits
		// there, not here (its loop would stop for each job).
		wait = 0
	}
	deadline := time.Now().Add(wait)
	var unsettled error
	for {
		status := n.status(ctx)
		unsettled = nil
		for _, node := range status.Nodes {
			// A target's (an offline one's shards go when it is back:
			// it asks the registry then).
			if node.Error != "" && cluster.Role(node.Role).IsTarget() && node.State != string(cluster.StateOffline) && unsettled == nil {
				unsettled = fmt.Errorf("node %s did not answer: %s", node.ID, node.Error)
			}
			for _, j := range node.Jobs {
				if j.Kind == "rebalance" && j.Running && unsettled == nil {
					unsettled = fmt.Errorf("a rebalance runs on %s", node.ID)
				}
			}
		}
		if unsettled == nil || !time.Now().Before(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if unsettled != nil && req.AllOfJob {
		// A walk of the whole bucket on every target is not done again
		// each round while the cluster is not settled.
		return fmt.Errorf("%w: the cluster is not settled (%w): the removal waits for it", api.ErrUnavailable, unsettled)
	}
	if began != nil {
		if err := began(); err != nil {
			return err
		}
	}
	// A removal over a whole bucket (all_of_job), or of a remote bucket's
	// objects from the remote too, takes longer than a control call.
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, removeTimeout)
		defer cancel()
	}
	var firstErr error
	for _, t := range n.currentMap().Reachable() {
		for _, batch := range removeBatches(req, maxControlBody/2) {
			if _, err := n.peer.Remove(ctx, t, b, batch); err != nil && firstErr == nil {
				firstErr = fmt.Errorf("target %s: %w", t.ID, err)
			}
		}
	}
	if firstErr == nil && unsettled != nil {
		firstErr = fmt.Errorf("%w: the cluster did not settle within %s (%w): objects moving then may remain", api.ErrUnavailable, removeSettleWait, unsettled)
	}
	return firstErr
}

// removeSettleWait bounds removeJobObjects' wait for a settled cluster.
const removeSettleWait = 2 * time.Minute

// removeTimeout bounds a removal of what a job wrote, when its caller
// sets no deadline.
const removeTimeout = 30 * time.Minute

// removeBatches cuts a removal's names into requests of about limit bytes
// each: a target takes a control body of maxControlBody at most, and a
// big job's output names are more.
func removeBatches(req peer.RemoveRequest, limit int) []peer.RemoveRequest {
	var out []peer.RemoveRequest
	start, size := 0, 0
	for i, name := range req.Names {
		// A name's JSON: quotes, comma, and escapes at most 6 bytes a byte.
		if cost := 3 + 6*len(name); size+cost > limit && i > start {
			batch := req
			batch.Names = req.Names[start:i]
			out = append(out, batch)
			start, size = i, 0
		}
		size += 3 + 6*len(name)
	}
	batch := req
	batch.Names = req.Names[start:]
	return append(out, batch)
}

// maxStampMapAhead bounds how many map versions a peer's stamp may be
// ahead of this target's map: far more than a sender is ahead of a
// target that takes its pushes.
const maxStampMapAhead = 1000

// checkTombstoneStamp refuses a peer's stamp for tombstones that is far
// ahead of this target's clock or map: its tombstones would refuse every
// write of their names for as long (a stamp beats all before it).
func (n *Node) checkTombstoneStamp(stamp store.Stamp) error {
	if ahead := time.Until(time.Unix(0, stamp.Clock)); ahead > rebalance.MaxStampAhead {
		return badRequest("the stamp is %s ahead of this target's clock (at most %s)", ahead.Round(time.Second), rebalance.MaxStampAhead)
	}
	if smap := n.currentMap(); smap != nil && stamp.Map > smap.Version+maxStampMapAhead {
		return badRequest("the stamp is of map version %d, this target's is %d", stamp.Map, smap.Version)
	}
	return nil
}

// handleRemoveObjects removes the listed objects (or, with all_of_job,
// every object a job wrote) from this target's store, wherever placement
// would put them; a copy newer than the request's stamp stays.
func (n *Node) handleRemoveObjects(w http.ResponseWriter, r *http.Request) {
	b, err := bucketOf(r)
	var req peer.RemoveRequest
	if err == nil && n.config.Store == nil {
		err = badRequest("node %s stores no objects", n.config.ID)
	}
	if err == nil {
		err = decodeBody(r, &req)
	}
	if err == nil && req.Job == "" {
		err = n.checkTombstoneStamp(req.Stamp)
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	opts := store.DeleteOptions{Stamp: req.Stamp, Tombstone: true}
	if opts.Stamp.IsZero() {
		opts.Stamp = n.stamp()
	}
	if req.AllOfJob && (req.Job == "" || len(req.Names) > 0) {
		n.writeError(w, r, badRequest("all_of_job takes a job and no names"))
		return
	}
	removed := 0
	smap := n.currentMap()
	remove := func(name string) error {
		// Only the owner's delete reaches a remote bucket's remote: the
		// other targets remove the copies they hold.
		opts.LocalOnly = true
		if smap != nil {
			if owner, err := smap.Owner(cluster.Uname(b.Provider, b.Name, name)); err == nil && owner.ID == n.config.ID {
				opts.LocalOnly = false
			}
		}
		var err error
		if req.Job != "" {
			// Exactly the copy the job wrote, if that is what is here:
			// a target that does not own the name asks what it holds
			// itself (not restored from parts); the owner, beneath the
			// remote (a lost replica is restored, and deleted).
			held := n.held
			if opts.LocalOnly {
				held = n.local
			}
			meta, herr := held.Head(r.Context(), b, name)
			if herr != nil && !errors.Is(herr, store.ErrNotFound) && !errors.Is(herr, store.ErrBucketNotFound) {
				// Not known to be another's copy: the caller retries
				// (answered 200, the job's output would stay for good).
				return fmt.Errorf("%s/%s: %w", b, name, herr)
			}
			// Newer than the request: a copy the job wrote since (without
			// an attempt bound, which tells that by itself: the copy's
			// stamp is the owner's clock, ahead of the asker's maybe).
			if herr != nil || !writtenByJob(meta, req.Job, req.BeforeAttempt) || req.BeforeAttempt <= 0 && meta.Stamp.Compare(req.Stamp) > 0 {
				return nil
			}
			jobOpts := opts
			jobOpts.Stamp, jobOpts.Tombstone, jobOpts.IfStamp = store.Stamp{}, false, meta.Stamp
			// The owner's copy was written through: the remote's goes too.
			jobOpts.WrittenThrough = !opts.LocalOnly
			err = n.config.Store.Delete(r.Context(), b, name, jobOpts)
		} else {
			if req.Held {
				_, herr := n.local.Head(r.Context(), b, name)
				if errors.Is(herr, store.ErrNotFound) || errors.Is(herr, store.ErrBucketNotFound) {
					return nil
				}
				if herr != nil {
					return fmt.Errorf("%s/%s: %w", b, name, herr) // not known absent: asked again
				}
			}
			err = n.config.Store.Delete(r.Context(), b, name, opts)
		}
		switch {
		case err == nil:
			removed++
		case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrBucketNotFound), errors.Is(err, store.ErrExists):
		default:
			return err
		}
		return nil
	}
	if req.AllOfJob {
		err = n.eachLocal(r.Context(), b, "", func(meta store.ObjectMeta) error { return remove(meta.Name) })
	}
	for _, name := range req.Names {
		if err == nil {
			err = remove(name)
		}
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	writeJSON(w, map[string]int{"removed": removed})
}

// jobStatuses lists the node's dSort jobs for the cluster status.
func (n *Node) dsortStatuses() []api.JobStatus {
	if n.worker == nil {
		return nil
	}
	var out []api.JobStatus
	for _, s := range n.worker.Jobs() {
		js := api.JobStatus{ID: s.ID, Kind: "dsort", Running: !s.Done(), Aborted: s.Aborted, Objects: s.Create.Done, Bytes: s.Create.Bytes, Started: s.Started.UnixNano()}
		if !s.Finished.IsZero() {
			js.Finished = s.Finished.UnixNano()
		}
		if len(s.Errors) > 0 {
			js.Error = s.Errors[0]
		}
		out = append(out, js)
	}
	return out
}
