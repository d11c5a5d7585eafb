package pipeline

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/internal/redact"
	"github.com/aisgo/aisgo/shards"
	"github.com/aisgo/aisgo/sort"
	"github.com/aisgo/aisgo/store"
)

// CoordinatorConfig configures the gateway side of dSort.
type CoordinatorConfig struct {
	// Cluster answers about the cluster; Targets runs the phases.
	Cluster Cluster
	Targets Targets
	// Formats reads and writes shards; nil means formats.Default().
	Formats *formats.Registry
	// Logger receives job events; nil discards them.
	Logger *slog.Logger
	// KeepaliveInterval is how often a running job's targets hear that
	// the coordinator is alive; zero means a minute (well within the
	// targets' idle timeout, 10 minutes by default).
	KeepaliveInterval time.Duration
}

// Coordinator starts dSort jobs and drives their phases across targets.
type Coordinator struct {
	config CoordinatorConfig
	mu     struct {
		sync.Mutex
		jobs map[string]*coordinatedJob
		// starting are the jobs registered and not running yet, with
		// the cause of an abort asked meanwhile (nil: none): the job,
		// listed already, is aborted once it runs.
		starting map[string]error
	}
	wg sync.WaitGroup
	// closing ends the retries of recording jobs' ends.
	closing   chan struct{}
	closeOnce sync.Once
}

// NewCoordinator returns a coordinator.
func NewCoordinator(cfg CoordinatorConfig) *Coordinator {
	if cfg.Formats == nil {
		cfg.Formats = formats.Default()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.KeepaliveInterval <= 0 {
		cfg.KeepaliveInterval = time.Minute
	}
	c := &Coordinator{config: cfg, closing: make(chan struct{})}
	c.mu.jobs = map[string]*coordinatedJob{}
	c.mu.starting = map[string]error{}
	return c
}

// Status is a job as its coordinator sees it.
type Status struct {
	ID          string       `json:"id"`
	Description string       `json:"description,omitempty"`
	Input       store.Bucket `json:"input_bck"`
	Output      store.Bucket `json:"output_bck"`
	Phase       string       `json:"phase"`
	Targets     []string     `json:"targets"`
	Started     time.Time    `json:"started_time"`
	Finished    time.Time    `json:"finish_time,omitzero"`
	Shards      int          `json:"output_shards"`  // planned, once sorted
	Records     int          `json:"output_records"` // planned, once sorted
	Warnings    []string     `json:"warnings,omitempty"`
	// Restarts counts the runs that lost a target and started again.
	Restarts int    `json:"restarts,omitempty"`
	Error    string `json:"error,omitempty"`
	Aborted  bool   `json:"aborted"`
	Archived bool   `json:"archived"`
}

type coordinatedJob struct {
	id      string
	plan    *Plan
	init    JobInit
	targets []cluster.Node
	keyMap  *sort.KeyMap
	// outputs are the planned output shard names, once sorted.
	outputs []string
	cancel  context.CancelCauseFunc
	done    chan struct{}
	// recorded is closed once the job's end is in the registry (after
	// done, maybe long after while the gateways elect a leader).
	recorded chan struct{}
	// attempt numbers the inits of the job on its targets; only run's
	// goroutine changes it.
	attempt int
	// original are the targets the job started on; redundancy says how
	// many of them the input can do without.
	original   []cluster.Node
	redundancy redundancy
	// finishing is set once every shard is created: a change of the
	// map no longer ends the job (its output is whole).
	finishing atomic.Bool
	mu        struct {
		sync.Mutex
		status Status
		// warningBytes are the bytes of status.Warnings.
		warningBytes int
		// cancelAttempt ends the current run, not the job: a lost
		// target may come back.
		cancelAttempt context.CancelCauseFunc
	}
}

func (j *coordinatedJob) setPhase(phase string) {
	j.mu.Lock()
	j.mu.status.Phase = phase
	j.mu.Unlock()
}

func (j *coordinatedJob) phase() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.mu.status.Phase
}

func (j *coordinatedJob) cancelAttempt(cause error) {
	j.mu.Lock()
	cancel := j.mu.cancelAttempt
	j.mu.Unlock()
	if cancel != nil {
		cancel(cause)
	}
}

func (j *coordinatedJob) warn(msg string) {
	msg = truncate(msg, maxMessage)
	j.mu.Lock()
	if len(j.mu.status.Warnings) < maxWarnings && j.mu.warningBytes+len(msg) <= maxWarningBytes {
		j.mu.status.Warnings = append(j.mu.status.Warnings, msg)
		j.mu.warningBytes += len(msg)
	}
	j.mu.Unlock()
}

// Status returns the coordinator's view of a job.
func (c *Coordinator) Status(id string) (Status, error) {
	c.mu.Lock()
	j, ok := c.mu.jobs[id]
	c.mu.Unlock()
	if !ok {
		return Status{}, fmt.Errorf("%w: %s", ErrJobNotFound, id)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.mu.status
	s.Warnings = slices.Clone(s.Warnings)
	return s, nil
}

// Jobs returns every job this coordinator started, oldest first.
func (c *Coordinator) Jobs() []Status {
	c.mu.Lock()
	ids := make([]string, 0, len(c.mu.jobs))
	for id := range c.mu.jobs {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	out := make([]Status, 0, len(ids))
	for _, id := range ids {
		if s, err := c.Status(id); err == nil {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b Status) int { return a.Started.Compare(b.Started) })
	return out
}

// Wait blocks until a job ends and its end is recorded, and returns its
// status.
func (c *Coordinator) Wait(ctx context.Context, id string) (Status, error) {
	c.mu.Lock()
	j, ok := c.mu.jobs[id]
	c.mu.Unlock()
	if !ok {
		return Status{}, fmt.Errorf("%w: %s", ErrJobNotFound, id)
	}
	select {
	case <-j.recorded:
	case <-ctx.Done():
		return Status{}, ctx.Err()
	}
	return c.Status(id)
}

// JobIDPrefix starts every dSort job id (AIStore's).
const JobIDPrefix = "srt-"

func newJobID() string {
	var b [6]byte
	rand.Read(b[:])
	return JobIDPrefix + hex.EncodeToString(b[:])
}

// Start validates a spec against the cluster, initializes the job on every
// target and runs it in the background. It returns the job id; errors of
// the spec name the field.
func (c *Coordinator) Start(ctx context.Context, spec Spec) (string, error) {
	spec = spec.WithDefaults(c.config.Cluster.Defaults())
	plan, err := spec.Validate(c.config.Formats)
	if err != nil {
		return "", err
	}
	peers := c.config.Cluster
	inputProps, err := peers.BucketProps(ctx, plan.Input)
	if errors.Is(err, store.ErrBucketNotFound) {
		return "", specError("input_bck %q does not exist", plan.Input.Name)
	}
	if err != nil {
		return "", err
	}
	// In the input's bucket, the first output shard taking an input's
	// name (the same template) is refused now, not after extraction.
	if plan.Output.Normalize() == plan.Input.Normalize() && spec.EKMFile == "" {
		if first, err := plan.OutputTemplate.At(0); err == nil {
			first += plan.OutputSuffix
			for _, in := range plan.InputShards(c.config.Formats).All() {
				if in == first {
					return "", specError("output shard %s would replace the input shard of that name in %s: name the output apart (output_format) or write it to another bucket", first, plan.Input)
				}
			}
		}
	}
	job := &coordinatedJob{id: newJobID(), plan: plan, done: make(chan struct{}), recorded: make(chan struct{})}
	if spec.EKMFile != "" {
		if job.keyMap, err = c.loadKeyMap(ctx, job, plan); err != nil {
			return "", err
		}
	}
	seed := plan.Algorithm.Seed
	if spec.Algorithm.Seed == "" {
		seed = time.Now().UnixNano() & math.MaxInt64 // AIStore's default: a fresh shuffle each time
	}
	smap := peers.Map()
	job.targets = smap.ActiveTargets()
	if len(job.targets) == 0 {
		return "", cluster.ErrNoTargets
	}
	job.original = job.targets
	job.redundancy = inputRedundancy(plan.Input, inputProps, len(job.targets))
	job.init = JobInit{ID: job.id, Spec: spec, Seed: seed, Map: smap}
	job.mu.status = Status{
		ID: job.id, Description: spec.Description, Input: plan.Input, Output: plan.Output,
		Phase: PhaseInit, Targets: nodeIDs(job.targets), Started: time.Now(),
		Warnings: job.mu.status.Warnings, // the key map's malformed lines
	}
	// The output bucket is made once the spec is known good (its key map
	// read, targets there): a refused spec leaves no bucket behind, nor
	// does a job that does not start (removed if still empty).
	created := false
	undoCreate := func() {
		if !created {
			return
		}
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := peers.DestroyEmptyBucket(cleanup, plan.Output, job.id); err != nil {
			c.config.Logger.Warn("remove the output bucket of a job that did not start", "job", job.id, "bucket", plan.Output, "err", err)
		}
	}
	if plan.Output != plan.Input && !spec.DryRun {
		_, err := peers.BucketProps(ctx, plan.Output)
		if errors.Is(err, store.ErrBucketNotFound) {
			props := inputProps
			props.Created = 0
			if !plan.Output.IsRemote() {
				// A remote input's LRU is not for the only copy.
				props.LRU = store.DefaultProps().LRU
			}
			err = peers.CreateBucket(ctx, plan.Output, props)
			created = err == nil && !plan.Output.IsRemote()
			if errors.Is(err, store.ErrBucketExists) {
				err = nil
			}
		}
		if err != nil {
			return "", fmt.Errorf("output_bck %q: %w", plan.Output.Name, err)
		}
	}
	reg := JobRegistration{ID: job.id, Output: plan.Output, Targets: job.mu.status.Targets, Started: job.mu.status.Started, Names: outputNames(plan, job.keyMap)}
	// Listed once registered: an abort from then on is kept for the run.
	c.mu.Lock()
	c.mu.starting[job.id] = nil
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.mu.starting, job.id)
		c.mu.Unlock()
	}()
	// Not given up with the client: a registration cut on its way may
	// apply after the end recorded below, and read running for good.
	regCtx, regCancel := context.WithTimeout(context.WithoutCancel(ctx), registerTimeout)
	err = peers.RegisterJob(regCtx, reg)
	regCancel()
	if err != nil {
		// It may be registered all the same (an answer lost, a leader
		// changed): its end is recorded, or it would read running for
		// good. (Not registered, the end finds nothing to end.)
		record, cause := context.WithoutCancel(ctx), "not started: "+err.Error()
		c.wg.Go(func() { c.endJob(record, job.id, cause) })
		if !errors.Is(err, ErrJobBusy) {
			// (Refused for another job writing there: the bucket it
			// made is that job's output now, not to be removed.)
			undoCreate()
		}
		return "", fmt.Errorf("register job %s: %w", job.id, err)
	}
	if err := c.broadcast(ctx, job, func(ctx context.Context, t cluster.Node) error { return c.config.Targets.Init(ctx, t, job.init) }); err != nil {
		// Cleaned up even when the client that asked has gone.
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		c.abortTargets(cleanup, job, err.Error())
		// Recorded in the background: the caller is answered now.
		record, cause := context.WithoutCancel(ctx), err.Error()
		c.wg.Go(func() { c.endJob(record, job.id, cause) })
		undoCreate()
		return "", err
	}
	runCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	job.cancel = cancel
	c.pruneEnded()
	c.mu.Lock()
	c.mu.jobs[job.id] = job
	aborted := c.mu.starting[job.id]
	delete(c.mu.starting, job.id)
	c.mu.Unlock()
	if aborted != nil {
		cancel(aborted) // asked while it started: it runs to its abort
	}
	c.config.Logger.Info("dsort job started", "job", job.id, "targets", len(job.targets), "input", plan.Input, "output", plan.Output)
	c.wg.Go(func() { c.run(runCtx, job) })
	return job.id, nil
}

// registerTimeout bounds a job's registration in the cluster's registry.
const registerTimeout = time.Minute

func nodeIDs(nodes []cluster.Node) []string {
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID
	}
	return ids
}

// loadKeyMap fetches and parses the external key map.
func (c *Coordinator) loadKeyMap(ctx context.Context, job *coordinatedJob, plan *Plan) (*sort.KeyMap, error) {
	data, err := c.config.Cluster.FetchKeyMap(ctx, plan.Spec.EKMFile)
	if err != nil {
		// The spec may be right and the network wrong: the cause stays.
		return nil, fmt.Errorf("%w: ekm_file %q: %w", ErrKeyMapFetch, redact.Link(plan.Spec.EKMFile), err)
	}
	format := sort.KeyMapText
	if strings.HasSuffix(path.Ext(strings.SplitN(plan.Spec.EKMFile, "?", 2)[0]), ".json") || strings.HasPrefix(strings.TrimSpace(string(data)), "{") {
		format = sort.KeyMapJSON
	}
	// A key map fetched from a URL is not the user's data: its contents
	// are never quoted back (that would read pages for an attacker); the
	// log has the detail.
	fetched := !strings.HasPrefix(plan.Spec.EKMFile, "ais://")
	describe := func(err error, line int) string {
		if !fetched {
			return err.Error()
		}
		c.config.Logger.Warn("ekm_file is malformed", "url", redact.Link(plan.Spec.EKMFile), "line", line, "err", err)
		if line > 0 {
			return fmt.Sprintf("line %d of the fetched key map is malformed", line)
		}
		return "the fetched key map is malformed"
	}
	abortedAt := 0
	onMalformed := func(line int, err error) error {
		switch plan.Reactions.EKMMalformedLine {
		case ReactAbort:
			abortedAt = line
			return err
		case ReactWarn:
			job.warn(describe(err, line))
		}
		return nil
	}
	km, err := sort.ParseKeyMap(data, format, plan.Spec.EKMFileSep, onMalformed)
	if err != nil {
		return nil, specError("ekm_file %q: %s", redact.Link(plan.Spec.EKMFile), describe(err, abortedAt))
	}
	// Names are used as the templates give them: checked now, not when
	// the first PUT of one fails after the whole extraction.
	for _, t := range km.Templates() {
		suffix := ""
		if plan.Spec.OutputIndex {
			suffix = formats.IndexSuffix // the longest name each gives
		}
		err := validateShardNames(t, suffix)
		if err == nil && !t.Unique() {
			// Found in the sort otherwise, and only once a run needs the
			// shards named twice.
			err = errors.New("it names some shards twice (ranges of different widths, such as x{1..11}{1..11}, name x111 twice): pad them, {01..11}")
		}
		if err != nil {
			return nil, specError("ekm_file %q: %s", redact.Link(plan.Spec.EKMFile), describe(fmt.Errorf("template %q: %w", t.String(), err), 0))
		}
		// Names are used verbatim: one whose extension is another
		// format's would hold shards a reader takes for that format.
		// (Format names only: a fetched map's contents are not quoted.)
		if f, ok := c.config.Formats.ByName(t.String()); ok && f.Name() != plan.OutputFormat.Name() {
			return nil, specError("ekm_file %q: a template names %s shards, and the job writes %s (the input's format, or that of output_extension or output_format): set output_extension, or name them so", redact.Link(plan.Spec.EKMFile), f.Name(), plan.OutputFormat.Name())
		}
	}
	return km, nil
}

// broadcast calls fn on every target of a job in parallel; the first error
// names the target.
func (c *Coordinator) broadcast(ctx context.Context, job *coordinatedJob, fn func(context.Context, cluster.Node) error) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, t := range job.targets {
		g.Go(func() error {
			if err := fn(gctx, t); err != nil {
				if errors.Is(err, context.Canceled) && context.Cause(gctx) != nil && !errors.Is(context.Cause(gctx), context.Canceled) {
					return context.Cause(gctx)
				}
				return fmt.Errorf("target %s: %w", t.ID, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// run drives the phases; any error aborts the job on every target.
func (c *Coordinator) run(ctx context.Context, job *coordinatedJob) {
	defer close(job.recorded)
	alive, stop := context.WithCancel(ctx)
	go c.keepTargets(alive, job.id)
	err := c.runAttempts(ctx, job)
	stop()
	// An abort that comes once every target finished is too late: the
	// output is whole, and stays.
	if cause := context.Cause(ctx); err != nil && cause != nil {
		err = cause
	}
	now := time.Now()
	if err != nil && job.finishing.Load() && c.stopping() {
		// Every shard was created, and this gateway stops as the targets
		// are told the finish: the output is whole. Left running in the
		// registry, the leader settles it as after a crash (finished, by
		// the targets that were told), rather than removed here.
		c.config.Logger.Warn("dsort job left to the leader's settle: this gateway stops as its targets finish it", "job", job.id, "err", err)
		close(job.done)
		return
	}
	if err != nil {
		c.config.Logger.Warn("dsort job failed", "job", job.id, "err", err)
		// Not ended until its output is gone, and not running either.
		job.mu.Lock()
		failedIn := job.mu.status.Phase
		job.mu.status.Phase, job.mu.status.Error = PhaseAborting, truncate(err.Error(), maxMessage)
		job.mu.Unlock()
		// What the job wrote is older than this; what a later job writes
		// under the same names is newer, and stays.
		asOf := store.Stamp{Map: c.config.Cluster.Map().Version, Clock: now.UnixNano()}
		c.abortTargets(context.WithoutCancel(ctx), job, truncate(err.Error(), maxMessage))
		cause := err.Error()
		if len(job.outputs) > 0 && !job.plan.Spec.DryRun {
			if rerr := c.config.Cluster.RemoveObjects(context.WithoutCancel(ctx), job.plan.Output, job.outputs, job.id, asOf); rerr != nil {
				// Said where the job is looked at, not only logged: its
				// shards left look like output.
				c.config.Logger.Warn("remove the output of an aborted job", "job", job.id, "err", rerr)
				left := fmt.Sprintf("the output of this aborted job could not all be removed (%s): shards of it may be left in %s", truncate(rerr.Error(), 512), job.plan.Output)
				job.warn(left)
				cause = left + "; " + cause // (first: a long cause is cut at its end)
			}
		}
		// An ended job keeps its status, not its names (millions, of a
		// job with small output shards).
		job.outputs, job.keyMap = nil, nil
		job.mu.Lock()
		// Ended, it shows the phase it failed in.
		job.mu.status.Phase, job.mu.status.Aborted, job.mu.status.Finished = failedIn, true, now
		job.mu.Unlock()
		// Ended (an abort, a removal need not wait for the registry),
		// then recorded.
		close(job.done)
		c.endJob(context.WithoutCancel(ctx), job.id, truncate(cause, maxMessage))
		return
	}
	job.outputs, job.keyMap = nil, nil
	job.mu.Lock()
	job.mu.status.Phase, job.mu.status.Archived, job.mu.status.Finished = PhaseFinished, true, now
	job.mu.Unlock()
	close(job.done)
	// Recorded though an abort came too late (ctx is cancelled then).
	c.endJob(context.WithoutCancel(ctx), job.id, "")
	c.config.Logger.Info("dsort job finished", "job", job.id, "elapsed", now.Sub(job.mu.status.Started).Round(time.Millisecond))
}

// endJob records a job's end in the registry, trying until it lands (the
// gateways may be electing a leader, or cut off for a while) or the
// coordinator closes: a job left running there would be shown running
// and kept from removal for good, as the leader's reaper leaves a live
// coordinator's jobs to it.
func (c *Coordinator) endJob(ctx context.Context, id, cause string) {
	cause = truncate(cause, maxMessage) // kept in the registry, which every gateway holds
	delay := endJobRetry
	for attempt := 1; ; attempt++ {
		err := c.config.Cluster.EndJob(ctx, id, cause)
		if err == nil {
			if attempt > 3 {
				c.config.Logger.Info("recorded the end of a dsort job", "job", id, "attempts", attempt)
			}
			return
		}
		if attempt == 3 || attempt%20 == 0 {
			c.config.Logger.Warn("record the end of a dsort job: trying again", "job", id, "attempts", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-c.closing:
			c.config.Logger.Warn("the end of a dsort job is not recorded: the gateway is shutting down (the next leader settles it)", "job", id, "err", err)
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 10*endJobRetry)
	}
}

// endJobRetry is the first wait between attempts to record a job's end.
var endJobRetry = time.Second

// errTargetsChanged ends a run whose targets left the cluster map or came
// back to it.
var errTargetsChanged = errors.New("the targets of the job changed")

// maxRestarts bounds the runs of a job that keeps losing targets.
const maxRestarts = 3

// runAttempts runs the phases. A run that fails because targets were lost
// runs again from the start: on the same targets once they are back within
// the job's grace period, or at once on the targets left when the input
// can be read without the lost ones (erasure-coded or remote). The seed is
// fixed and the output does not depend on the number of targets, so it is
// what one undisturbed run writes.
func (c *Coordinator) runAttempts(ctx context.Context, job *coordinatedJob) error {
	for {
		attemptCtx, cancel := context.WithCancelCause(ctx)
		job.mu.Lock()
		job.mu.cancelAttempt = cancel
		job.mu.Unlock()
		// A change of the targets while the job started (before it was
		// among the jobs MapChanged sees) is seen now.
		c.MapChanged(c.config.Cluster.Map())
		err := c.runPhases(attemptCtx, job)
		changed := errors.Is(context.Cause(attemptCtx), errTargetsChanged)
		cancel(nil)
		if err == nil {
			// Every shard is created: the finish is its own step, never
			// a reason to run again (a target that finished takes no
			// other attempt), nor cut by a change of the map.
			job.finishing.Store(true)
			return c.finishAll(ctx, job)
		}
		if ctx.Err() != nil {
			return err
		}
		lost := c.lostTargets(ctx, job)
		if len(lost) == 0 && !changed {
			return err
		}
		phase, grace := job.phase(), job.plan.TargetGrace
		if grace == 0 {
			return c.lostError(job, lost, phase, fmt.Sprintf("target_grace is 0s; the run: %v", err))
		}
		job.mu.Lock()
		restarts := job.mu.status.Restarts
		job.mu.Unlock()
		if restarts >= maxRestarts {
			return c.lostError(job, lost, phase, fmt.Sprintf("the job already started again %d times", restarts))
		}
		if len(lost) > 0 {
			job.warn(fmt.Sprintf("%s lost during the %s phase (%v); the job starts again once %s back (within %s)%s",
				nameTargets(lost), phase, err, pronounIs(lost), grace, job.redundancy.orSurvivors()))
			c.config.Logger.Warn("dsort job lost targets", "job", job.id, "targets", nameTargets(lost), "phase", phase, "err", err)
		} else {
			job.warn(fmt.Sprintf("the cluster's targets changed during the %s phase: the job starts again on them", phase))
		}
		if err := c.awaitTargets(ctx, job, lost); err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return c.lostError(job, lost, phase, err.Error())
		}
		job.mu.Lock()
		job.mu.status.Restarts++
		job.mu.status.Targets = nodeIDs(job.targets)
		job.mu.Unlock()
		c.config.Logger.Info("dsort job starts again", "job", job.id, "attempt", job.attempt+1, "targets", describe(job.targets))
	}
}

// redundancy says how many of a job's targets its input can lose and
// still be read whole: the parity of an erasure-coded bucket, any number
// for a remote bucket (the backend has it), none otherwise.
type redundancy struct {
	spare int
	why   string
}

func inputRedundancy(b store.Bucket, props store.Props, targets int) redundancy {
	switch {
	case b.IsRemote():
		return redundancy{spare: targets - 1, why: "the input is in a remote bucket"}
	case props.EC.Enabled && props.EC.ParitySlices > 0:
		return redundancy{spare: props.EC.ParitySlices, why: fmt.Sprintf("the input is erasure-coded %d+%d", props.EC.DataSlices, props.EC.ParitySlices)}
	}
	return redundancy{}
}

func (r redundancy) orSurvivors() string {
	if r.spare == 0 {
		return ""
	}
	return ", or on the targets left once the cluster counts the lost out (" + r.why + ")"
}

func pronounIs(nodes []cluster.Node) string {
	if len(nodes) == 1 {
		return "it is"
	}
	return "they are"
}

// nameTargets is "target t2" or "targets t2,t3".
func nameTargets(nodes []cluster.Node) string {
	if len(nodes) == 1 {
		return "target " + nodes[0].ID
	}
	return "targets " + describe(nodes)
}

func pronoun(nodes []cluster.Node) string {
	if len(nodes) == 1 {
		return "it"
	}
	return "them"
}

// keepTargets tells the active targets, now and then until ctx ends, that
// the job's coordinator is alive; a target without the job answers
// not-found, which does not matter here.
func (c *Coordinator) keepTargets(ctx context.Context, id string) {
	tick := time.NewTicker(c.config.KeepaliveInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		m := c.config.Cluster.Map()
		if m == nil {
			continue
		}
		call, cancel := context.WithTimeout(ctx, c.config.KeepaliveInterval)
		var wg sync.WaitGroup
		for _, t := range m.ActiveTargets() {
			wg.Go(func() { c.config.Targets.Keepalive(call, t, id) })
		}
		wg.Wait()
		cancel()
	}
}

// lostProbeTimeout bounds one look at a target's stats of a job, and
// lostProbes how many looks one slow to answer gets.
var (
	lostProbeTimeout = 5 * time.Second
	lostProbes       = 3
)

// lostTargets are the job's targets that are no longer active in the map,
// do not answer, or no longer know the job (they restarted). One slow to
// answer (busy: its stats wait on a shard's journal) is asked again, not
// counted lost at once: the job would start again for nothing, and end
// naming it rather than what failed.
func (c *Coordinator) lostTargets(ctx context.Context, job *coordinatedJob) []cluster.Node {
	m := c.config.Cluster.Map()
	lost := make([]bool, len(job.targets))
	var wg sync.WaitGroup
	for i, t := range job.targets {
		if n, ok := m.Node(t.ID); !ok || n.State != cluster.StateActive {
			lost[i] = true
			continue
		}
		wg.Go(func() {
			for probe := 1; ; probe++ {
				call, cancel := context.WithTimeout(ctx, lostProbeTimeout)
				_, err := c.config.Targets.Stats(call, t, job.id)
				// Its own bound, or the peer client's shorter one.
				slow := (call.Err() != nil || errors.Is(err, context.DeadlineExceeded)) && ctx.Err() == nil
				cancel()
				if err == nil || !slow || probe == lostProbes {
					lost[i] = err != nil
					return
				}
			}
		})
	}
	wg.Wait()
	var out []cluster.Node
	for i, t := range job.targets {
		if lost[i] {
			out = append(out, t)
		}
	}
	return out
}

// awaitTargets stops the run on the targets that are left and waits, up
// to the grace period, for a set of targets that can run the job again:
// all of the job's first targets, active and taking the job's next
// attempt; or, when the input does not need the lost ones, the targets
// the cluster map has left once it counts the lost out.
func (c *Coordinator) awaitTargets(ctx context.Context, job *coordinatedJob, lost []cluster.Node) error {
	survivors := slices.DeleteFunc(slices.Clone(job.targets), func(n cluster.Node) bool {
		return slices.ContainsFunc(lost, func(l cluster.Node) bool { return l.ID == n.ID })
	})
	c.abortNodes(ctx, job, survivors, "the targets of the job changed: it starts again")
	// From now: their cleanup (spills, shards written) may take longer
	// than the grace, which is the lost target's.
	deadline := time.Now().Add(job.plan.TargetGrace)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("not back within target_grace %s (last: %w)", job.plan.TargetGrace, last)
			}
			return fmt.Errorf("not back within target_grace %s", job.plan.TargetGrace)
		}
		m := c.config.Cluster.Map()
		now := m.ActiveTargets()
		switch {
		case sameIDs(now, job.original):
		case len(now) > 0 && subsetOf(now, job.original) && len(job.original)-len(now) <= job.redundancy.spare:
			// The input is whole without the targets the map counts out.
		default:
			continue
		}
		job.attempt++
		init := job.init
		init.Map, init.Attempt = m, job.attempt
		previous := job.targets
		job.mu.Lock()
		job.targets = now // URLs may have changed with a restart; placement did not
		job.mu.Unlock()
		callCtx, cancel := context.WithDeadline(ctx, deadline)
		last = c.broadcast(callCtx, job, func(ctx context.Context, t cluster.Node) error { return c.config.Targets.Init(ctx, t, init) })
		cancel()
		if last == nil {
			job.init = init
			if !sameIDs(now, job.original) {
				job.warn(fmt.Sprintf("the job starts again on targets %s: %s", describe(now), job.redundancy.why))
				c.abortLeftOut(ctx, job, now)
			}
			return nil
		}
		// The targets that took this attempt give it up to the next.
		job.mu.Lock()
		job.targets = previous
		job.mu.Unlock()
	}
}

// abortLeftOut stops the previous attempt on the job's first targets
// that the new one runs without: one counted out of the map but still
// running would hold its memory and keep the shards it wrote until its
// watchdog gave up. Most are down; each call is bounded, and its failure
// only logged.
func (c *Coordinator) abortLeftOut(ctx context.Context, job *coordinatedJob, now []cluster.Node) {
	var left []cluster.Node
	m := c.config.Cluster.Map()
	for _, n := range job.original {
		if slices.ContainsFunc(now, func(a cluster.Node) bool { return a.ID == n.ID }) {
			continue
		}
		if current, ok := m.Node(n.ID); ok {
			n = current // its URL may have changed with a restart
		}
		left = append(left, n)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c.abortNodes(ctx, job, left, "the job starts again without this target: "+job.redundancy.why)
}

// lostError is the end of a job that lost targets for good: it names them,
// the phase and the input shards that only they hold.
func (c *Coordinator) lostError(job *coordinatedJob, lost []cluster.Node, phase, why string) error {
	if len(lost) == 0 {
		return fmt.Errorf("%w: the cluster's targets changed during the %s phase (%s)", ErrAborted, phase, why)
	}
	placement := &cluster.Map{Nodes: job.targets}
	var held []string
	count := 0
	for _, name := range job.plan.InputShards(c.config.Formats).All() {
		owner, err := placement.Owner(cluster.Uname(job.plan.Input.Provider, job.plan.Input.Name, name))
		if err != nil || !slices.ContainsFunc(lost, func(n cluster.Node) bool { return n.ID == owner.ID }) {
			continue
		}
		count++
		if len(held) < 8 {
			held = append(held, name)
		}
	}
	shardsHeld := "no input shards"
	if count > 0 {
		shardsHeld = fmt.Sprintf("%d input shards (%s", count, strings.Join(held, ", "))
		if count > len(held) {
			shardsHeld += ", ..."
		}
		shardsHeld += ")"
	}
	return fmt.Errorf("%w: %s lost during the %s phase (%s); missing with %s: %s",
		ErrAborted, nameTargets(lost), phase, why, pronoun(lost), shardsHeld)
}

// nodes returns the job's targets for a reader outside run's goroutine.
func (j *coordinatedJob) nodes() []cluster.Node {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.targets
}

// sameIDs reports whether two lists of nodes name the same nodes in order.
func sameIDs(a, b []cluster.Node) bool {
	return slices.EqualFunc(a, b, func(x, y cluster.Node) bool { return x.ID == y.ID })
}

// subsetOf reports whether every node of a is in b.
func subsetOf(a, b []cluster.Node) bool {
	for _, n := range a {
		if !slices.ContainsFunc(b, func(m cluster.Node) bool { return m.ID == n.ID }) {
			return false
		}
	}
	return true
}

func (c *Coordinator) runPhases(ctx context.Context, job *coordinatedJob) error {
	peers := c.config.Targets
	job.setPhase(PhaseExtract)
	runs := make([][]shards.RecordMeta, len(job.targets))
	err := c.broadcast(ctx, job, func(ctx context.Context, t cluster.Node) error {
		i := slices.IndexFunc(job.targets, func(n cluster.Node) bool { return n.ID == t.ID })
		metas, err := peers.Extract(ctx, t, job.id)
		runs[i] = metas
		if err != nil {
			return fmt.Errorf("extract phase: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Nothing found (a template with a typo, the wrong bucket): a job of
	// no output is no success, as the estimate of it is refused.
	if !slices.ContainsFunc(runs, func(r []shards.RecordMeta) bool { return len(r) > 0 }) {
		what := fmt.Sprintf("input_format.template %q", job.plan.InputTemplate.String())
		if job.plan.InputNames != nil {
			what = fmt.Sprintf("the %d input_format.objnames", len(job.plan.InputNames))
		}
		return fmt.Errorf("extract phase: %w", specError("%w: %s found no record in bucket %s (no such shard, or only empty ones)", ErrNoInput, what, job.plan.Input))
	}

	job.setPhase(PhaseSort)
	planned, err := c.plan(ctx, job, runs)
	if err != nil {
		return fmt.Errorf("sort phase: %w", err)
	}
	job.outputs = job.outputs[:0]
	records := 0
	perTarget := make([][]shards.OutputShard, len(job.targets))
	for _, s := range planned {
		job.outputs = append(job.outputs, s.Name)
		if job.plan.Spec.OutputIndex {
			job.outputs = append(job.outputs, formats.IndexName(s.Name))
		}
		perTarget[s.Owner] = append(perTarget[s.Owner], s)
		records += len(s.Records)
	}
	job.mu.Lock()
	job.mu.status.Shards, job.mu.status.Records = len(planned), records
	job.mu.Unlock()
	if err := checkPlans(perTarget, job.targets, MaxPlanRecords, MaxPlanBytes); err != nil {
		return fmt.Errorf("sort phase: %w", err)
	}

	job.setPhase(PhaseCreate)
	err = c.broadcast(ctx, job, func(ctx context.Context, t cluster.Node) error {
		i := slices.IndexFunc(job.targets, func(n cluster.Node) bool { return n.ID == t.ID })
		if err := peers.Create(ctx, t, job.id, perTarget[i]); err != nil {
			return fmt.Errorf("create phase: %w", err)
		}
		return nil
	})
	return err
}

// finishWait is the least time finishAll tries for after its first round
// (a job's target_grace, when longer, bounds it), finishRetry its first
// pause, and finishCall bounds one round: a target's finish releases the
// job's spill files (tens of GB take a while) and syncs its mark.
var (
	finishWait  = 10 * time.Second
	finishRetry = 100 * time.Millisecond
	finishCall  = 5 * time.Minute
)

// finishAll tells every target its job is done, once every shard is
// created: a target not told (a call cut, a timeout, a target back from
// a blip) is told again, within the job's target_grace (finishWait at
// least); a target that aborted the job, or stays away, fails it.
func (c *Coordinator) finishAll(ctx context.Context, job *coordinatedJob) error {
	peers := c.config.Targets
	pending := job.targets
	var deadline time.Time
	pause := finishRetry
	for {
		errs := make([]error, len(pending))
		var wg sync.WaitGroup
		round, cancel := context.WithTimeout(ctx, finishCall)
		for i, t := range pending {
			wg.Go(func() { errs[i] = peers.Finish(round, t, job.id) })
		}
		wg.Wait()
		cancel()
		if deadline.IsZero() {
			// From the end of the first round: a finish that outlasted
			// the grace (a big release) is asked again, not taken for a
			// target gone, and the whole output removed.
			deadline = time.Now().Add(max(job.plan.TargetGrace, finishWait))
		}
		var failed []cluster.Node
		var last error
		for i, err := range errs {
			if err == nil {
				continue
			}
			failed, last = append(failed, pending[i]), fmt.Errorf("target %s: %w", pending[i].ID, err)
			if errors.Is(err, ErrAborted) || errors.Is(err, ErrPhase) {
				return fmt.Errorf("finish: %w", last)
			}
		}
		if len(failed) == 0 {
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if time.Now().Add(pause).After(deadline) {
			return fmt.Errorf("%w: every shard was created, but %s could not be told the job is done within %s: %w",
				ErrAborted, nameTargets(failed), max(job.plan.TargetGrace, finishWait), last)
		}
		c.config.Logger.Warn("dsort job: targets not told it is done yet; telling them again", "job", job.id, "targets", nameTargets(failed), "err", last)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		pause = min(2*pause, 2*time.Second)
		pending = failed
	}
}

// outputNames is what names a job's output shards: its template and
// suffix, or its key map's templates; a digest past maxOutputNames (it is
// kept in the cluster's registry), and none for a dry run (it writes
// nothing).
func outputNames(plan *Plan, keyMap *sort.KeyMap) string {
	if plan.Spec.DryRun {
		return ""
	}
	names := plan.OutputTemplate.String() + plan.OutputSuffix
	if keyMap != nil {
		var b strings.Builder
		b.WriteString("key map:")
		for _, t := range keyMap.Templates() {
			b.WriteString(" " + t.String())
		}
		names = b.String() + plan.OutputSuffix
	}
	if len(names) > maxOutputNames {
		sum := sha256.Sum256([]byte(names))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return names
}

// maxOutputNames bounds the output names a job registers as they are.
const maxOutputNames = 256

// checkPlans refuses, before any shard is created, a plan a target would
// refuse to read: the records placement gives one target may be more than
// any target extracted.
func checkPlans(perTarget [][]shards.OutputShard, targets []cluster.Node, maxRecords int, maxBytes int64) error {
	for i, planned := range perTarget {
		size, records := planSize(planned)
		if records > maxRecords || size > maxBytes {
			return fmt.Errorf("%w: target %s would create %d shards of %d records, more than a target takes at once (%d records, %d bytes of their names and keys): run the job on more targets, or split its input", ErrWireLimit, targets[i].ID, len(planned), records, maxRecords, maxBytes)
		}
	}
	return nil
}

// plan merges the targets' runs, orders and partitions the records, names
// the output shards and assigns each to the target that owns its name.
func (c *Coordinator) plan(ctx context.Context, job *coordinatedJob, runs [][]shards.RecordMeta) ([]shards.OutputShard, error) {
	plan := job.plan
	alg := plan.Algorithm
	alg.Seed = job.init.Seed
	merged, err := sort.Merge(ctx, runs, alg)
	if err != nil {
		return nil, err
	}
	var planned []shards.OutputShard
	if job.keyMap != nil {
		left := 0
		planned, err = sort.PartitionByKeyMap(ctx, merged, plan.ShardSize, job.keyMap, func(err error) error {
			left++
			switch plan.Reactions.EKMMissingKey {
			case ReactAbort:
				return err
			case ReactWarn:
				job.warn(err.Error())
			}
			return nil
		})
		if err == nil && len(planned) == 0 {
			// Every record left out (a key map that matches no key): a
			// job of no output is no success.
			return nil, specError("%w: the key map (ekm_file) matches none of the %d records found (ekm_missing_key %s left them all out)", ErrNoInput, left, plan.Reactions.EKMMissingKey)
		}
	} else {
		planned, err = sort.Partition(ctx, merged, plan.ShardSize, plan.OutputTemplate)
	}
	if err != nil {
		return nil, err
	}
	placement := &cluster.Map{Nodes: job.targets}
	names := make(map[string]bool, len(planned))
	for i := range planned {
		planned[i].Name += plan.OutputSuffix
		// Two shards of one name would both be created, the last one
		// stored replacing the other with its records.
		if names[planned[i].Name] {
			return nil, specError("two output shards are named %s: the output template or the key map's templates name a shard twice (ranges of different widths, such as x{1..11}{1..11}, name x111 twice: pad them, {01..11}; or two key map templates naming the same shards)", planned[i].Name)
		}
		names[planned[i].Name] = true
		owner, err := placement.Owner(cluster.Uname(plan.Output.Provider, plan.Output.Name, planned[i].Name))
		if err != nil {
			return nil, err
		}
		planned[i].Owner = int32(slices.IndexFunc(job.targets, func(n cluster.Node) bool { return n.ID == owner.ID }))
	}
	// Each shard's index is an object of its own, beside the shards.
	if plan.Spec.OutputIndex {
		for i := range planned {
			index := formats.IndexName(planned[i].Name)
			if names[index] {
				return nil, specError("output shard %s is named as the index of output shard %s (output_index): name the shards apart", index, planned[i].Name)
			}
			names[index] = true
		}
	}
	// In the input's bucket, an output shard (or its index) must not
	// take an input's name: it would replace the shard its records are
	// still read from (and an abort would remove it).
	if plan.Output.Normalize() == plan.Input.Normalize() {
		for _, in := range plan.InputShards(c.config.Formats).All() {
			if names[in] {
				return nil, specError("output %s would replace the input shard of that name in %s: name the output apart (output_format) or write it to another bucket", in, plan.Input)
			}
		}
	}
	return planned, nil
}

// abortTargets tells every target to stop the job and clean up.
func (c *Coordinator) abortTargets(ctx context.Context, job *coordinatedJob, cause string) {
	c.abortNodes(ctx, job, job.targets, cause)
}

// abortNodes tells some targets to stop the job and clean up.
func (c *Coordinator) abortNodes(ctx context.Context, job *coordinatedJob, targets []cluster.Node, cause string) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Go(func() {
			if err := c.config.Targets.Abort(ctx, t, job.id, cause); err != nil && !errors.Is(err, ErrJobNotFound) {
				c.config.Logger.Warn("abort on target", "job", job.id, "target", t.ID, "err", err)
			}
		})
	}
	wg.Wait()
}

// Abort stops a running job: every target stops, removes the shards it
// wrote and releases its resources. It waits for that while ctx lasts;
// past it, the abort goes on without its caller (the cleanup of a big
// job's output takes minutes).
func (c *Coordinator) Abort(ctx context.Context, id string, cause error) error {
	c.mu.Lock()
	j, ok := c.mu.jobs[id]
	if _, starting := c.mu.starting[id]; !ok && starting {
		// Registered, its targets told: aborted as soon as it runs.
		c.mu.starting[id] = cause
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrJobNotFound, id)
	}
	select {
	case <-j.done:
		s, _ := c.Status(id)
		if s.Archived {
			return fmt.Errorf("%w: %s", ErrJobFinished, id)
		}
		return nil
	default:
	}
	j.cancel(cause)
	select {
	case <-j.done:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	// Cancelled as it finished: it is not aborted, and its caller must
	// not take it for so.
	if s, _ := c.Status(id); s.Archived {
		return fmt.Errorf("%w: %s", ErrJobFinished, id)
	}
	return nil
}

// MapChanged aborts the running jobs whose targets changed: a target that
// joins or leaves while a job runs would see placement move under it.
func (c *Coordinator) MapChanged(m *cluster.Map) {
	c.mu.Lock()
	jobs := make([]*coordinatedJob, 0, len(c.mu.jobs))
	for _, j := range c.mu.jobs {
		jobs = append(jobs, j)
	}
	c.mu.Unlock()
	now := m.ActiveTargets()
	for _, j := range jobs {
		select {
		case <-j.done:
			continue
		default:
		}
		targets := j.nodes()
		if sameIDs(now, targets) || j.finishing.Load() {
			continue
		}
		if subsetOf(now, j.original) {
			// Targets of the job went away or came back, and no other
			// came: this run ends, and the job starts again on the
			// targets it can, or ends naming what it lost (see
			// runAttempts).
			j.cancelAttempt(fmt.Errorf("%w: were %s, now %s", errTargetsChanged, describe(targets), describe(now)))
			continue
		}
		j.cancel(fmt.Errorf("%w: the cluster's targets changed during the job (were %s, now %s)", ErrAborted, describe(targets), describe(now)))
	}
}

// Remove forgets a finished job.
func (c *Coordinator) Remove(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	j, ok := c.mu.jobs[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrJobNotFound, id)
	}
	select {
	case <-j.done:
	default:
		return fmt.Errorf("%w: %s", ErrJobRunning, id)
	}
	delete(c.mu.jobs, id)
	return nil
}

// pruneEnded forgets the oldest ended jobs beyond maxEndedJobs: each
// keeps its plan, and every status lists them all.
func (c *Coordinator) pruneEnded() {
	type ended struct {
		id       string
		finished time.Time
	}
	var list []ended
	c.mu.Lock()
	jobs := slices.Collect(maps.Values(c.mu.jobs))
	c.mu.Unlock()
	for _, j := range jobs {
		select {
		case <-j.done:
			j.mu.Lock()
			list = append(list, ended{j.id, j.mu.status.Finished})
			j.mu.Unlock()
		default:
		}
	}
	if len(list) <= maxEndedJobs {
		return
	}
	slices.SortFunc(list, func(a, b ended) int { return a.finished.Compare(b.finished) })
	c.mu.Lock()
	for _, e := range list[:len(list)-maxEndedJobs] {
		delete(c.mu.jobs, e.id)
	}
	c.mu.Unlock()
}

// stopping reports that Close was called.
func (c *Coordinator) stopping() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// Close waits for running jobs' goroutines after aborting them.
func (c *Coordinator) Close() {
	c.closeOnce.Do(func() { close(c.closing) })
	// Every one at once, then their ends waited for: one by one, each
	// job's cleanup would wait for the one before.
	c.mu.Lock()
	for _, j := range c.mu.jobs {
		j.cancel(fmt.Errorf("%w: the gateway is shutting down", ErrAborted))
	}
	c.mu.Unlock()
	c.wg.Wait()
}
