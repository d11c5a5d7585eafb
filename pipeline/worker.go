package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/creation"
	"github.com/aisgo/aisgo/extract"
	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/internal/atomicfile"
	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/shards"
	"github.com/aisgo/aisgo/sort"
	"github.com/aisgo/aisgo/store"
)

// Errors of job lifecycle.
var (
	ErrJobNotFound = errors.New("job not found")
	ErrJobExists   = errors.New("job already exists")
	// ErrPhase: a phase asked of a job not ready for it, or past it (a
	// request repeated, or forged): it would run extraction twice, say.
	ErrPhase       = errors.New("the job is not in the phase the request is for")
	ErrJobFinished = errors.New("dsort job already finished")
	ErrJobRunning  = errors.New("job is still running")
	// ErrInvalidJobID marks a job id that is not a plain path segment.
	ErrInvalidJobID = errors.New("invalid job id")
	// ErrAborted is the cause of a job stopped by a user.
	ErrAborted = errors.New("job aborted")
	// ErrShuttingDown is, with ErrAborted, the cause of a job stopped by
	// its node's shutdown: a job that resumes keeps what it needs.
	ErrShuttingDown = errors.New("the node is shutting down")
	// ErrInvalidInit marks an init request that lacks what a job needs.
	ErrInvalidInit = errors.New("dsort init is invalid")
	// errCoordinatorGone is the cause when a coordinator's call is cut.
	errCoordinatorGone = errors.New("the coordinating gateway disconnected")
	// ErrWorkerClosed marks a job refused because its node is shutting down.
	ErrWorkerClosed = errors.New("dsort worker is closed")
)

// WorkerConfig configures a target's side of dSort.
type WorkerConfig struct {
	// NodeID is this target's id in the cluster map.
	NodeID string
	// Store holds input and output shards.
	Store store.Store
	// Fetcher streams record bytes from other targets.
	Fetcher Fetcher
	// Formats reads and writes shards; nil means formats.Default().
	Formats *formats.Registry
	// WorkDir holds spill files, one directory per job; required.
	WorkDir string
	// PickWorkDir, when set, says where a new job's files go now: the
	// work directory follows the first mountpath enabled, away from a
	// disk disabled or detached since the start (a job stays where it
	// began). Empty or nil means WorkDir.
	PickWorkDir func() string
	// SpillDirs, when set, says where else a new job's spill files go:
	// the work directories of the other mountpaths enabled, which share
	// its spills' bytes and bandwidth. Each must be one of WorkDir and
	// RecoverDirs (a crash's spills are removed from those at start).
	SpillDirs func() []string
	// RecoverDirs are where the work directory was in earlier runs (it
	// moves with the first mountpath enabled): Recover reads the
	// journals left there too.
	RecoverDirs []string
	// MemoryTotal is the memory a percentage budget refers to; zero means
	// the machine's (/proc/meminfo), or its container's cgroup limit or
	// GOMEMLIMIT when lower.
	MemoryTotal int64
	// Mountpaths scales the per-mountpath concurrency limits; zero means
	// the number of mountpaths the store reports.
	Mountpaths int
	// Logger receives job events; nil discards them.
	Logger *slog.Logger
	// IdleTimeout aborts a job whose coordinator has not called for this
	// long between phases (it may have died); zero means 10 minutes.
	IdleTimeout time.Duration
	// CheckSpace, when set, refuses an output shard while the node's
	// storage is past its watermarks, as it refuses a PUT (see also
	// Worker.SetCheckSpace).
	CheckSpace func(ctx context.Context) error
}

// nodeMemoryPercent is the part of the machine's memory all the jobs of a
// node keep record contents in, together.
const nodeMemoryPercent = 80

// Worker runs the target side of dSort jobs: extraction, serving record
// bytes, creation.
type Worker struct {
	// memory is the node's budget, every job's within it.
	memory *extract.Budget
	config WorkerConfig
	// estimating admits one estimate at a time: each reads and writes a
	// sample of the disk, which concurrent ones would only make wrong.
	estimating chan struct{}
	mu         struct {
		sync.Mutex
		jobs   map[string]*targetJob
		closed bool // no new jobs admitted
		// orphans are indexes of interrupted jobs that their owners may
		// keep: Recover finds them, RemoveOrphans (once the node knows
		// the cluster) removes them.
		orphans []orphan
		// finished are the jobs whose coordinator said finished here, by
		// id, as their marks on disk tell (see markFinished).
		finished map[string]finishedMark
	}
}

// finishedMark is the file that tells a job finished on this target.
type finishedMark struct {
	path   string
	output store.Bucket
	at     time.Time
}

// orphan is an object an interrupted job wrote through its owner.
type orphan struct {
	bucket store.Bucket
	name   string
	job    string // the job that wrote it
	before int    // in an attempt before this one (any, at 0)
}

// NewWorker returns a worker.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	if cfg.Store == nil || cfg.Fetcher == nil || cfg.WorkDir == "" || cfg.NodeID == "" {
		return nil, errors.New("dsort worker: node id, store, fetcher and work directory are required")
	}
	if cfg.Formats == nil {
		cfg.Formats = formats.Default()
	}
	if cfg.MemoryTotal <= 0 {
		cfg.MemoryTotal = systemMemory()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	// Spill files of jobs cut short by a crash are of no use now, here
	// and where the work directory was before; their journals are read
	// by Recover.
	for _, dir := range append([]string{cfg.WorkDir}, cfg.RecoverDirs...) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if e.IsDir() && strings.HasPrefix(e.Name(), "dsort-") {
				pathsafe.RemoveAll(dir, filepath.Join(dir, e.Name()))
			}
			// A finished mark a crash cut short of its rename.
			if e.Type().IsRegular() && strings.HasPrefix(e.Name(), "dsort-") && atomicfile.IsTemp(e.Name()) {
				os.Remove(filepath.Join(dir, e.Name()))
			}
			// An estimate's disk sample a crash left behind (up to
			// diskSample bytes each).
			if e.Type().IsRegular() && strings.HasPrefix(e.Name(), "est-") && strings.HasSuffix(e.Name(), ".tmp") {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
	// Every job's memory is also the node's: concurrent jobs share 80% of
	// it, each within its own limit (max_mem_usage).
	w := &Worker{config: cfg, estimating: make(chan struct{}, 1), memory: extract.NewBudget(cfg.MemoryTotal * nodeMemoryPercent / 100)}
	w.mu.jobs = map[string]*targetJob{}
	w.mu.finished = loadFinishedMarks(append([]string{cfg.WorkDir}, cfg.RecoverDirs...))
	w.pruneFinishedLocked()
	return w, nil
}

// SetCheckSpace sets the check of the node's storage before each output
// shard (WorkerConfig.CheckSpace), for a node made after its worker.
func (w *Worker) SetCheckSpace(check func(ctx context.Context) error) { w.config.CheckSpace = check }

// ValidateJobID checks a job id before it names anything: it becomes part
// of spill and journal paths. Letters, digits, '-' and '_' only, as every
// id made here is: a '.' would let "X.journal" or "X.finished" name the
// files of job X, and ".tmp-" read as a file left by a crash.
func ValidateJobID(id string) error {
	if err := pathsafe.Segment("job id", id); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidJobID, err)
	}
	if len(id) > maxJobID {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidJobID, len(id), maxJobID)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("%w: %q has %q: letters, digits, '-' and '_' only", ErrInvalidJobID, id, r)
		}
	}
	return nil
}

// maxRunningJobs bounds the dSort jobs running on a target at once (a
// variable for the tests).
var maxRunningJobs = 32

// maxJobID bounds a job id (made ones are under 20 bytes).
const maxJobID = 128

// targetJob is one job on this target.
type targetJob struct {
	w       *Worker
	id      string
	attempt int
	// workDir holds the job's spill files and journal, fixed at its start.
	workDir string
	// spillDirs are the other work directories its spill files go to.
	spillDirs []string
	plan      *Plan
	targets   []cluster.Node
	// placement is a map of the job's targets, for HRW ownership.
	placement *cluster.Map
	self      int32
	// released is closed once an abort has cleaned up (its output
	// removed, its spill directory and journal gone): a next attempt,
	// which reuses their names, waits for it.
	released chan struct{}
	inputs   Inputs
	// inputVersions are the inputs as extracted: reopened, they must
	// still be those.
	inputVersions inputVersions
	// streamFiles counts the input shards record streams opened for
	// themselves (streamFiles), bounded by maxJobStreamFiles.
	streamFiles atomic.Int64
	rawCopy     bool
	// mountpaths scales the per-mountpath concurrency limits.
	mountpaths int
	budget     *extract.Budget
	logger     *slog.Logger

	ctx    context.Context
	cancel context.CancelCauseFunc
	// active counts calls in flight; cleanup waits for them.
	active sync.WaitGroup

	extracted extract.Counters
	created   creation.Counters

	mu struct {
		sync.Mutex
		// watchdog aborts the job when the coordinator falls silent.
		watchdog *time.Timer
		journal  *os.File
		// journaled are the names the journal lists: an abort removes
		// those whose write was not acknowledged (it may have landed).
		journaled []string
		stats     JobStats
		// warningBytes are the bytes of stats.Warnings.
		warningBytes int
		result       *extract.Result
		byID         map[shards.RecordID]*shards.Record
		// served are the records a creator's stream took: each goes into
		// one output shard, once (a second taker, repeated or forged,
		// would read a memory buffer the first gives back to the pool).
		served  map[shards.RecordID]bool
		objects map[int32]*openInput
		uses    uint64 // ticks of the objects' last use
		// written are the output shards this job stored here, with the
		// stamps of the copies it wrote.
		written  []writtenShard
		closed   bool // resources released
		stopping bool // no new calls admitted
		// finishing: Finish runs; an abort then would remove the shards
		// of a job the coordinator records as finished.
		finishing bool
		// finished is closed once the running Finish is done (its mark
		// made): a Finish asked again waits for it.
		finished chan struct{}
	}
}

func (w *Worker) job(id string) (*targetJob, error) {
	if err := ValidateJobID(id); err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	j, ok := w.mu.jobs[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s on target %s", ErrJobNotFound, id, w.config.NodeID)
	}
	return j, nil
}

// Check reports whether a job is known here, before a caller reads a
// request body for it.
func (w *Worker) Check(id string) error {
	_, err := w.job(id)
	return err
}

// admit registers a call on a running job.
func (j *targetJob) admit() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.mu.stopping {
		if j.mu.stats.Aborted {
			return fmt.Errorf("%w: %s", ErrAborted, j.id)
		}
		return fmt.Errorf("%w: %s", ErrJobFinished, j.id)
	}
	j.active.Add(1)
	return nil
}

// Init prepares a job on this target.
func (w *Worker) Init(ctx context.Context, init JobInit) error {
	if err := ValidateJobID(init.ID); err != nil {
		return err
	}
	if init.Map == nil {
		return fmt.Errorf("%w: dsort init: the field map (the cluster map of the job) is missing", ErrInvalidInit)
	}
	// Its nodes' URLs are dialed with signed requests: as a pushed map's.
	if err := init.Map.Validate(); err != nil {
		return fmt.Errorf("%w: dsort init: the job's cluster map: %w", ErrInvalidInit, err)
	}
	plan, err := init.Spec.Validate(w.config.Formats)
	if err != nil {
		return err
	}
	plan.Algorithm.Seed = init.Seed
	targets := init.Map.ActiveTargets()
	self := slices.IndexFunc(targets, func(n cluster.Node) bool { return n.ID == w.config.NodeID })
	if self < 0 {
		return fmt.Errorf("dsort init: node %s is not an active target of job %s", w.config.NodeID, init.ID)
	}
	mountpaths := w.mountpaths(ctx)
	limit := memoryLimit(plan, w.config.MemoryTotal)
	if err := w.retire(ctx, init); err != nil {
		return err
	}
	jobCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	j := &targetJob{
		w:          w,
		id:         init.ID,
		attempt:    init.Attempt,
		workDir:    w.workDir(),
		spillDirs:  w.spillDirs(),
		plan:       plan,
		targets:    targets,
		placement:  &cluster.Map{Nodes: targets},
		self:       int32(self),
		inputs:     plan.InputShards(w.config.Formats),
		rawCopy:    plan.InputFormat.Offsets() && takesRaw(plan.OutputFormat),
		mountpaths: mountpaths,
		budget:     w.memory.Child(limit),
		logger:     w.config.Logger.With("job", init.ID),
		ctx:        jobCtx,
		cancel:     cancel,
		released:   make(chan struct{}),
	}
	j.mu.stats = JobStats{
		ID: init.ID, Node: w.config.NodeID, Description: init.Spec.Description,
		Input: plan.Input, Output: plan.Output, Started: time.Now(), Phase: PhaseInit,
		MemoryLimit: limit, Targets: nodeIDs(targets), Attempt: init.Attempt,
	}
	j.mu.objects = map[int32]*openInput{}
	w.mu.Lock()
	defer w.mu.Unlock()
	// Checked under the lock that registers the job, so that no job slips
	// in after Close took the list of jobs to abort.
	if w.mu.closed {
		cancel(nil)
		return fmt.Errorf("%w: node %s is shutting down, job %s refused", ErrWorkerClosed, w.config.NodeID, init.ID)
	}
	if old, ok := w.mu.jobs[init.ID]; ok && (old.attempt >= init.Attempt || !old.stats().Done()) {
		cancel(nil)
		return fmt.Errorf("%w: %s", ErrJobExists, init.ID)
	}
	if _, finished := w.mu.finished[init.ID]; finished {
		// Finished here before a restart: it does not run again.
		cancel(nil)
		return fmt.Errorf("%w: %s finished here; it does not run again", ErrJobExists, init.ID)
	}
	running := 0
	for _, other := range w.mu.jobs {
		if !other.stats().Done() {
			running++
		}
	}
	if running >= maxRunningJobs {
		// Each holds its plan, up to 64 extractions and as many shard
		// builds, and thousands of open stream files: the memory budget
		// bounds memory, not goroutines or descriptors.
		cancel(nil)
		return fmt.Errorf("%w: %d dsort jobs run on target %s, the most at once: start it again when one ends", ErrJobBusy, running, w.config.NodeID)
	}
	w.mu.jobs[init.ID] = j
	w.pruneEnded()
	// A job whose coordinator never calls again (its start failed, its
	// client went) ends by itself.
	j.armWatchdog()
	j.logger.Info("dsort job initialized", "targets", len(targets), "inputs", j.inputs.Len(), "memory_limit", limit, "raw_copy", j.rawCopy)
	return nil
}

// retire aborts what is left here of an earlier attempt of a job before a
// later attempt replaces it; a finished job is never run again.
func (w *Worker) retire(ctx context.Context, init JobInit) error {
	old, err := w.job(init.ID)
	if err != nil || old.attempt >= init.Attempt {
		return nil // Init refuses a repeated attempt under the lock
	}
	err = old.abort(ctx, fmt.Sprintf("attempt %d of the job replaces attempt %d", init.Attempt+1, old.attempt+1))
	if errors.Is(err, ErrJobFinished) {
		return fmt.Errorf("%w: %s finished here; it does not run again", ErrJobExists, init.ID)
	}
	if err != nil {
		return err
	}
	// An abort already under way (the coordinator's, a lost stream's)
	// returned at once: its cleanup would remove the new attempt's spill
	// directory and journal, which have the same names.
	return old.awaitRelease(ctx)
}

// takesRaw reports whether a format's writer copies raw tar entries.
func takesRaw(f formats.Format) bool {
	w, err := f.NewWriter(io.Discard)
	if err != nil {
		return false
	}
	defer w.Close()
	_, ok := w.(formats.RawWriter)
	return ok
}

// phaseContext is the job's context, also canceled when the coordinator's
// request goes away.
func (j *targetJob) phaseContext(request context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(j.ctx)
	stop := context.AfterFunc(request, func() { cancel(errCoordinatorGone) })
	return ctx, func() { stop(); cancel(nil) }
}

// react applies a reaction to a condition: nil to go on, an error to abort.
func (j *targetJob) react(reaction string, err error) error {
	switch reaction {
	case ReactAbort:
		return err
	case ReactWarn:
		// Bounded in count and bytes: a warning may quote names of a
		// MiB (a shard's links), and the stats go to the coordinator.
		msg := truncate(err.Error(), maxMessage)
		j.mu.Lock()
		if len(j.mu.stats.Warnings) < maxWarnings && j.mu.warningBytes+len(msg) <= maxWarningBytes {
			j.mu.stats.Warnings = append(j.mu.stats.Warnings, msg)
			j.mu.warningBytes += len(msg)
		}
		j.mu.Unlock()
	}
	return nil
}

// linksSkipped tells of the links an input shard had, and its entries of
// types that are not files, which no record gets (as WebDataset skips
// them).
func linksSkipped(shard string, count int, names []string) error {
	more := ""
	if count > len(names) {
		more = fmt.Sprintf(" and %d more", count-len(names))
	}
	return fmt.Errorf("input shard %s: %d links or entries that are not files skipped (a link has no data of its own; no record gets them): %s%s",
		shard, count, strings.Join(names, ", "), more)
}

// storeOpener opens input shards from the store.
type storeOpener struct {
	store  store.Store
	bucket store.Bucket
	// seen, when set, keeps what each input was when extracted.
	seen *inputVersions
	// cachedOnly reads what the node holds, fetching nothing from a
	// remote bucket (an estimate): a shard not cached is
	// ErrInputNotCached.
	cachedOnly bool
	node       string
}

func (o storeOpener) Open(ctx context.Context, name string) (extract.Shard, int64, error) {
	var obj store.Object
	var err error
	if cached, ok := o.store.(store.CachedOpener); ok && o.cachedOnly {
		obj, err = cached.OpenCached(ctx, o.bucket, name)
	} else {
		obj, err = o.store.Open(ctx, o.bucket, name, store.OpenOptions{})
	}
	if err != nil {
		if errors.Is(err, store.ErrNotCached) {
			return nil, 0, fmt.Errorf("%w: input shard %s/%s is not cached on target %s: an estimate reads only what the cluster holds, not the remote (that would download the input): prefetch the input first (ais prefetch %s --template ...)",
				ErrInputNotCached, o.bucket, name, o.node, o.bucket)
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil, 0, fmt.Errorf("%w: %s/%s", extract.ErrMissing, o.bucket, name)
		}
		return nil, 0, err
	}
	if o.seen != nil {
		o.seen.note(name, obj.Meta())
	}
	return obj, obj.Meta().Size, nil
}

// inputVersions are the input shards as extraction read them: the
// create phase reads records at the offsets found then, and must read
// them from the same bytes.
type inputVersions struct {
	mu       sync.Mutex
	versions map[string]inputVersion
}

// inputVersion tells an object's content: its size and checksum (the
// same for a copy cached again), else the stamp of its write.
type inputVersion struct {
	size     int64
	checksum string
	stamp    store.Stamp
}

func versionOf(meta store.ObjectMeta) inputVersion {
	if meta.Checksum.Value != "" {
		return inputVersion{size: meta.Size, checksum: meta.Checksum.Type + ":" + meta.Checksum.Value}
	}
	return inputVersion{size: meta.Size, stamp: meta.Stamp}
}

func (v *inputVersions) note(name string, meta store.ObjectMeta) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.versions == nil {
		v.versions = map[string]inputVersion{}
	}
	v.versions[name] = versionOf(meta)
}

// check refuses an input reopened at create time that is not the object
// extraction read (written over meanwhile).
func (v *inputVersions) check(name string, meta store.ObjectMeta) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if was, ok := v.versions[name]; ok && was != versionOf(meta) {
		return fmt.Errorf("input shard %s changed after it was extracted (%d bytes then, %d now): its records cannot be read from it; run the job again", name, was.size, meta.Size)
	}
	return nil
}

// checkEntry is the check of each member kept against what the output
// format can hold; none with a key map, which may leave out the records
// of the members it would refuse (they are never written).
func (j *targetJob) checkEntry() func(name string, size int64) error {
	if j.plan.Spec.EKMFile != "" {
		return nil
	}
	if _, ok := j.plan.OutputFormat.(formats.EntryChecker); !ok {
		return nil
	}
	return func(name string, size int64) error { return formats.CheckEntry(j.plan.OutputFormat, name, size) }
}

// checkRecord is checkEntry's check of each record as a whole.
func (j *targetJob) checkRecord() func(name string, members []string, size int64) error {
	if j.plan.Spec.EKMFile != "" {
		return nil
	}
	if _, ok := j.plan.OutputFormat.(formats.RecordChecker); !ok {
		return nil
	}
	return func(name string, members []string, size int64) error {
		return formats.CheckRecord(j.plan.OutputFormat, name, members, size)
	}
}

// Extract runs extraction of the input shards this target owns and
// returns their records' metadata as this target's sorted run.
func (w *Worker) Extract(ctx context.Context, id string) ([]shards.RecordMeta, error) {
	j, err := w.job(id)
	if err != nil {
		return nil, err
	}
	if err := j.admit(); err != nil {
		return nil, err
	}
	defer j.active.Done()
	if err := j.enterPhase(PhaseInit, PhaseExtract); err != nil {
		return nil, err
	}
	j.disarmWatchdog()
	ctx, done := j.phaseContext(ctx)
	defer done()

	// The owned inputs are counted, then yielded as extraction goes: a
	// template of millions of names is never held.
	owned := j.ownedInputs()
	total := int64(0)
	for range owned {
		total++
	}
	j.mu.Lock()
	j.mu.stats.Extract.start(time.Now())
	j.mu.stats.Extract.Total = total
	j.mu.Unlock()

	cfg := extract.Config{
		Format:      j.plan.InputFormat,
		Concurrency: concurrency(j.plan.ExtractConcurrency, j.mountpaths),
		Budget:      j.budget,
		SpillDir:    filepath.Join(j.workDir, "dsort-"+id),
		SpillDirs:   j.spillPaths(),
		Key:         extract.KeyConfig{Extension: j.plan.KeyExtension, Kind: j.plan.KeyKind},
		OnDuplicate: func(shard string, dup *shards.DuplicateError) error {
			return j.react(j.plan.Reactions.DuplicatedRecords, fmt.Errorf("shard %s: %w", shard, dup))
		},
		OnMissing: func(shard string, err error) error {
			return j.react(j.plan.Reactions.MissingShards, fmt.Errorf("input shard %s does not exist", shard))
		},
		CheckEntry: j.checkEntry(), CheckRecord: j.checkRecord(),
		OnLinks: func(shard string, count int, names []string) error {
			return j.react(ReactWarn, linksSkipped(shard, count, names))
		},
	}
	result, err := extract.RunEach(ctx, cfg, owned, storeOpener{store: w.config.Store, bucket: j.plan.Input, seen: &j.inputVersions}, &j.extracted)
	if err != nil {
		j.failed(ctx, err)
		return nil, err
	}
	metas := make([]shards.RecordMeta, len(result.Records))
	byID := make(map[shards.RecordID]*shards.Record, len(result.Records))
	for i := range result.Records {
		r := &result.Records[i]
		metas[i] = r.Meta(j.self)
		byID[r.ID] = r
	}
	sort.Local(metas, j.plan.Algorithm)
	j.mu.Lock()
	j.mu.result, j.mu.byID = result, byID
	j.mu.stats.Extract.end(time.Now())
	j.mu.stats.Phase = PhaseSort
	j.mu.stats.Sort.start(time.Now())
	j.mu.Unlock()
	j.logger.Info("extracted", "shards", total, "records", len(metas), "spilled_bytes", j.extracted.SpilledBytes.Load())
	j.armWatchdog()
	return metas, nil
}

// failed records a phase error; when the coordinator went away the target
// aborts the job by itself.
func (j *targetJob) failed(ctx context.Context, err error) {
	j.mu.Lock()
	j.mu.stats.Errors = append(j.mu.stats.Errors, truncate(err.Error(), maxMessage))
	// The phase under way stops here, unfinished (not running on until
	// the abort comes).
	for _, phase := range []*PhaseStats{&j.mu.stats.Extract, &j.mu.stats.Sort, &j.mu.stats.Create} {
		phase.stop(time.Now())
	}
	if !j.mu.closed {
		// The coordinator aborts the job; if that call is lost, the
		// watchdog does, rather than hold its memory and files for good.
		j.armWatchdogLocked()
	}
	j.mu.Unlock()
	if errors.Is(context.Cause(ctx), errCoordinatorGone) {
		go j.abort(ctx, errCoordinatorGone.Error())
	}
}

// concurrency scales a per-mountpath limit; zero means 4 per mountpath.
func concurrency(perMountpath, mountpaths int) int {
	if perMountpath <= 0 {
		perMountpath = 4
	}
	return min(perMountpath*mountpaths, 64)
}

// createConcurrency is concurrency for shard creation, where zero means
// AIStore's most, min(15, 200/mountpaths) per mountpath: a shard build
// waits on its holders' streams and on its final sync, and with more
// builds at once those waits overlap (benchmarks/README.md, 15:05 UTC:
// 3 targets at 0.83-0.92 of the copy bound, against 0.50-0.79 with 4).
func createConcurrency(perMountpath, mountpaths int) int {
	if perMountpath <= 0 {
		perMountpath = min(15, 200/max(mountpaths, 1))
	}
	return concurrency(perMountpath, mountpaths)
}

// recordBuilds bounds the builds at once of record-format shards (msgpack,
// TFRecord), whose writers hold a record in memory until it is whole:
// together, the biggest record each, within what the job's memory budget
// has left beside the held bytes (records extracted here, kept until they
// are streamed out).
func recordBuilds(f formats.Format, planned []shards.OutputShard, limit, held int64, builds int) int {
	if limit <= 0 || f.Name() != (formats.Msgpack{}).Name() && f.Name() != (formats.TFRecord{}).Name() {
		return builds
	}
	limit = max(1, limit-held)
	biggest := int64(1)
	for _, s := range planned {
		for _, r := range s.Records {
			biggest = max(biggest, r.Size)
		}
	}
	return int(max(1, min(int64(builds), limit/biggest)))
}

// memoryLimit is a job's memory budget on a node of total bytes.
func memoryLimit(plan *Plan, total int64) int64 {
	if plan.MemoryPercent > 0 {
		// At least a byte: a limit of 0 means none.
		return max(1, int64(float64(total)*plan.MemoryPercent/100))
	}
	return plan.MemoryBytes
}

// mountpaths is the configured number of mountpaths, or the store's.
func (w *Worker) mountpaths(ctx context.Context) int {
	if w.config.Mountpaths > 0 {
		return w.config.Mountpaths
	}
	if capacity, err := w.config.Store.Capacity(ctx); err == nil {
		return max(len(capacity), 1)
	}
	return 1
}

// ownedInputs yields the input shards this target owns, in input order.
func (j *targetJob) ownedInputs() iter.Seq[extract.Input] {
	return func(yield func(extract.Input) bool) {
		for i, name := range j.inputs.All() {
			if owner, err := j.ownerOf(j.plan.Input, name); err == nil && owner == j.self {
				if !yield(extract.Input{Name: name, Index: int32(i)}) {
					return
				}
			}
		}
	}
}

func (j *targetJob) ownerOf(b store.Bucket, name string) (int32, error) {
	owner, err := j.ownerNode(b, name)
	if err != nil {
		return -1, err
	}
	i := slices.IndexFunc(j.targets, func(n cluster.Node) bool { return n.ID == owner.ID })
	return int32(i), nil
}

func (j *targetJob) ownerNode(b store.Bucket, name string) (cluster.Node, error) {
	return j.placement.Owner(cluster.Uname(b.Provider, b.Name, name))
}

// enterPhase moves the job from phase from to phase to, or refuses: each
// phase runs once an attempt.
func (j *targetJob) enterPhase(from, to string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.mu.stats.Phase != from {
		return fmt.Errorf("%w: %s of job %s, which is in phase %s", ErrPhase, to, j.id, j.mu.stats.Phase)
	}
	j.mu.stats.Phase = to
	return nil
}

// Create builds the output shards this target owns.
func (w *Worker) Create(ctx context.Context, id string, planned []shards.OutputShard) error {
	j, err := w.job(id)
	if err != nil {
		return err
	}
	if err := j.admit(); err != nil {
		return err
	}
	defer j.active.Done()
	for _, s := range planned {
		if s.Owner != j.self {
			return fmt.Errorf("dsort create: shard %s belongs to target %d, not %s", s.Name, s.Owner, w.config.NodeID)
		}
	}
	if err := j.enterPhase(PhaseSort, PhaseCreate); err != nil {
		return err
	}
	// Disarmed only for a phase that runs: a refused call leaves the
	// watchdog as it was.
	j.disarmWatchdog()
	ctx, done := j.phaseContext(ctx)
	defer done()
	j.mu.Lock()
	j.mu.stats.Sort.end(time.Now())
	j.mu.stats.Create.start(time.Now())
	j.mu.stats.Create.Total = int64(len(planned))
	j.mu.Unlock()
	cfg := creation.Config{Format: j.plan.OutputFormat, Concurrency: createConcurrency(j.plan.CreateConcurrency, j.mountpaths)}
	j.mu.Lock()
	limit := j.mu.stats.MemoryLimit
	j.mu.Unlock()
	cfg.Concurrency = recordBuilds(j.plan.OutputFormat, planned, limit, j.budget.Used(), cfg.Concurrency)
	if err := creation.Run(ctx, cfg, planned, recordSource{j}, outputSink{j}, &j.created); err != nil {
		j.failed(ctx, err)
		return err
	}
	j.mu.Lock()
	j.mu.stats.Create.end(time.Now())
	j.mu.Unlock()
	j.logger.Info("created", "shards", len(planned))
	j.armWatchdog()
	return nil
}

// writtenShard is an output shard a job stored.
type writtenShard struct {
	name  string
	stamp store.Stamp
	// owner: written through its owner target (an index), which removes it.
	owner bool
}

// outputSink stores output shards, or discards them in a dry run.
type outputSink struct{ j *targetJob }

func (s outputSink) Put(ctx context.Context, name string, r io.Reader) error {
	if s.j.plan.Spec.DryRun {
		_, err := io.Copy(io.Discard, r)
		return err
	}
	if check := s.j.w.config.CheckSpace; check != nil {
		if err := check(ctx); err != nil {
			return err
		}
	}
	if err := s.j.journalShard(name); err != nil {
		return err
	}
	// An output shard is written once and read later, if at all, by
	// another job: past the page cache, it costs a fraction of the CPU
	// (benchmarks/README.md, 17:00 UTC).
	meta, err := s.j.w.config.Store.Put(ctx, s.j.plan.Output, name, r, store.PutOptions{Size: -1, Direct: true, Custom: s.j.custom()})
	if err != nil {
		return err
	}
	s.j.mu.Lock()
	s.j.mu.written = append(s.j.mu.written, writtenShard{name: name, stamp: meta.Stamp})
	s.j.mu.Unlock()
	if s.j.plan.Spec.OutputIndex {
		return s.writeIndex(ctx, name)
	}
	return nil
}

// OwnerWriter is a store that writes an object to the target that owns
// its name (the node's store is one); a shard's index is such an object.
// Without it the index is written to the store itself.
type OwnerWriter interface {
	// PutToOwner stores the object, with custom metadata, and returns its
	// stamp.
	PutToOwner(ctx context.Context, b store.Bucket, name string, data []byte, custom map[string]string) (store.Stamp, error)
	// DeleteFromOwner removes the object unless it is newer than stamp.
	DeleteFromOwner(ctx context.Context, b store.Bucket, name string, stamp store.Stamp) error
	// DeleteJobFromOwner removes the object if job wrote the copy there
	// (its CustomJob), in an attempt before beforeAttempt when that is
	// above 0 (CustomAttempt): another job's stays, and so does a later
	// attempt's.
	DeleteJobFromOwner(ctx context.Context, b store.Bucket, name, job string, beforeAttempt int) error
}

// ShardChecksum is what a shard's index keeps of the shard it indexes:
// its checksum, else (checksums off) its ETag, which tells its writes
// apart too; nil when it has neither.
func ShardChecksum(meta store.ObjectMeta) *formats.IndexChecksum {
	if meta.Checksum.Value != "" {
		return &formats.IndexChecksum{Type: meta.Checksum.Type, Value: meta.Checksum.Value}
	}
	if etag := store.ETagOf(meta); etag != "" {
		return &formats.IndexChecksum{Type: store.ChecksumETag, Value: etag}
	}
	return nil
}

// writeIndex indexes a stored output shard and writes the index beside it.
func (s outputSink) writeIndex(ctx context.Context, name string) error {
	st := s.j.w.config.Store
	obj, err := st.Open(ctx, s.j.plan.Output, name, store.OpenOptions{})
	if err != nil {
		return fmt.Errorf("index %s: %w", name, err)
	}
	meta := obj.Meta()
	idx, err := formats.BuildIndex(s.j.plan.OutputFormat, obj, meta.Size, name)
	obj.Close()
	if errors.Is(err, formats.ErrNotIndexable) {
		// The shard stands without one (too many members, a name that
		// is not UTF-8): its records are all there, and readers list it.
		return s.j.react(ReactWarn, fmt.Errorf("output shard %s is written without its index: %w", name, err))
	}
	if err != nil {
		return fmt.Errorf("index %s: %w", name, err)
	}
	idx.ShardChecksum = ShardChecksum(meta)
	data, err := idx.Encode()
	if err != nil {
		return err
	}
	indexName := formats.IndexName(name)
	if err := s.j.journalShard(indexName); err != nil {
		return err
	}
	written := writtenShard{name: indexName}
	if ow, ok := st.(OwnerWriter); ok {
		written.stamp, err = ow.PutToOwner(ctx, s.j.plan.Output, indexName, data, s.j.custom())
		written.owner = true
	} else {
		var meta store.ObjectMeta
		meta, err = st.Put(ctx, s.j.plan.Output, indexName, bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), Custom: s.j.custom()})
		written.stamp = meta.Stamp
	}
	if err != nil {
		return err
	}
	// An abort removes it with the shards, from whichever target has it.
	s.j.mu.Lock()
	s.j.mu.written = append(s.j.mu.written, written)
	s.j.mu.Unlock()
	return nil
}

// CustomJob is the custom metadata naming the dSort job that wrote an
// output shard: a restart after a crash removes only the shards of the
// job it cut short, not an object of the same name stored before or
// since.
const CustomJob = "dsort.job"

// CustomAttempt is the attempt of the job (0 for the first) that wrote an
// output shard or index: the recovery of an attempt cut short leaves a
// later attempt's output of the same names alone.
const CustomAttempt = "dsort.attempt"

// AttemptOf is the attempt that wrote an object of a job (0 when not
// told: the first, or an older version's).
func AttemptOf(meta store.ObjectMeta) int {
	n, _ := strconv.Atoi(meta.Custom[CustomAttempt])
	return n
}

// custom is the custom metadata of the job's output.
func (j *targetJob) custom() map[string]string {
	return map[string]string{CustomJob: j.id, CustomAttempt: strconv.Itoa(j.attempt)}
}

// journalAttempt is the journal's line telling the attempt that wrote
// the names after it.
type journalAttempt struct {
	Attempt *int `json:"attempt"`
}

// spillDirs are the work directories besides workDir a new job's spill
// files go to now; those WorkDir and RecoverDirs do not name are left
// (a crash's spills there would stay).
func (w *Worker) spillDirs() []string {
	if w.config.SpillDirs == nil {
		return nil
	}
	known := append([]string{w.config.WorkDir}, w.config.RecoverDirs...)
	main := w.workDir()
	var out []string
	for _, dir := range w.config.SpillDirs() {
		if dir != main && slices.Contains(known, dir) && !slices.Contains(out, dir) {
			out = append(out, dir)
		}
	}
	return out
}

// spillPaths are the job's spill directories besides its work
// directory's.
func (j *targetJob) spillPaths() []string {
	var out []string
	for _, dir := range j.spillDirs {
		out = append(out, filepath.Join(dir, "dsort-"+j.id))
	}
	return out
}

// workDir is where a new job's files go now.
func (w *Worker) workDir() string {
	if w.config.PickWorkDir != nil {
		if dir := w.config.PickWorkDir(); dir != "" {
			return dir
		}
	}
	return w.config.WorkDir
}

// journalName is the file listing a job's output shards on this target,
// before each is stored, so that a restart after a crash removes them.
func (j *targetJob) journalName() string {
	return filepath.Join(j.workDir, "dsort-"+j.id+".journal")
}

// removeJobFiles removes a job's spill directory (a variable for the
// tests).
var removeJobFiles = pathsafe.RemoveAll

// journalSync makes a journal durable (a variable for the tests).
var journalSync = (*os.File).Sync

// journalShard notes an output shard about to be stored.
func (j *targetJob) journalShard(name string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.mu.journal == nil {
		if err := pathsafe.MkdirAll(j.workDir, j.workDir, 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(j.journalName(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("dsort journal: %w", err)
		}
		// The bucket with its provider ("s3://out"): a bare name would be
		// the ais:// bucket of that name.
		bucket, _ := json.Marshal(j.plan.Output.String())
		attempt, _ := json.Marshal(journalAttempt{Attempt: &j.attempt})
		if _, err := f.Write(append(append(append(bucket, '\n'), attempt...), '\n')); err != nil {
			f.Close()
			return fmt.Errorf("dsort journal: %w", err)
		}
		// The journal's name is durable too, or a power loss takes it
		// with the shards it lists.
		if err := atomicfile.SyncDir(j.workDir); err != nil {
			f.Close()
			return fmt.Errorf("dsort journal: %w", err)
		}
		j.mu.journal = f
	}
	line, _ := json.Marshal(name)
	if _, err := j.mu.journal.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("dsort journal: %w", err)
	}
	j.mu.journaled = append(j.mu.journaled, name)
	// Durable before the shard is: a shard stored and not listed would
	// outlive a power loss as output of a job that never finished (a
	// sync is ~0.15 ms here, beside a shard's megabytes).
	if err := journalSync(j.mu.journal); err != nil {
		return fmt.Errorf("dsort journal: %w", err)
	}
	return nil
}

// dropJournal closes and removes the job's journal, durably: a journal
// back after a crash would have Recover remove the output of a job
// reported finished.
// closeJournal closes the journal's file, which stays.
func (j *targetJob) closeJournal() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.mu.journal != nil {
		j.mu.journal.Close()
		j.mu.journal = nil
	}
	j.mu.journaled = nil // (an ended job is kept a while: not its names)
}

func (j *targetJob) dropJournal() {
	j.closeJournal()
	j.mu.Lock()
	defer j.mu.Unlock()
	err := pathsafe.Remove(j.workDir, j.journalName())
	if err == nil {
		err = atomicfile.SyncDir(j.workDir)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		j.logger.Warn("dsort journal not removed: a restart would remove the job's output", "err", err)
	}
}

// Recover removes the output shards of jobs that a crash cut short: their
// journals survive in the work directory (or in RecoverDirs).
func (w *Worker) Recover(ctx context.Context) error {
	var errs []error // one directory that fails does not hold back the others
	for _, dir := range append([]string{w.config.WorkDir}, w.config.RecoverDirs...) {
		if err := w.recoverDir(ctx, dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// recoverDir recovers from the journals in one directory.
func (w *Worker) recoverDir(ctx context.Context, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	var failed []error
journals:
	for _, e := range entries {
		if e.IsDir() || !strings.HasPrefix(e.Name(), "dsort-") || !strings.HasSuffix(e.Name(), ".journal") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // its job ended meanwhile
		}
		if err != nil {
			// Tried again later; the journals after it in the directory
			// go on now (each retry stopped at this one).
			failed = append(failed, fmt.Errorf("read the journal %s: %w", e.Name(), err))
			continue
		}
		lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
		var uri string
		if len(lines) == 0 || json.Unmarshal(lines[0], &uri) != nil {
			pathsafe.Remove(dir, path)
			continue
		}
		// (A journal of an older version has a bare name: an ais:// bucket.)
		bucket, err := store.ParseBucketURI(uri)
		if err != nil {
			pathsafe.Remove(dir, path)
			continue
		}
		id := strings.TrimSuffix(strings.TrimPrefix(e.Name(), "dsort-"), ".journal")
		// A job running here now (a recovery tried again while the node
		// serves) is no interrupted one: its journal and output stay.
		// A job known here is no interrupted one: running (a recovery
		// tried again while the node serves), finished (its journal, read
		// above, became its mark since), or aborted (its own abort drops
		// its journal; a next attempt may be writing one of the same
		// name). (Unfinish forgets a job it takes back.)
		w.mu.Lock()
		_, known := w.mu.jobs[id]
		_, marked := w.mu.finished[id]
		w.mu.Unlock()
		if known || marked {
			continue
		}
		// The attempts that wrote here: a later one's copies, written
		// elsewhere since, stay. (0: a journal of an older version.)
		before := 0
		for _, line := range lines[1:] {
			var a journalAttempt
			if json.Unmarshal(line, &a) == nil && a.Attempt != nil {
				before = max(before, *a.Attempt+1)
			}
		}
		removed := 0
		// Shards this job wrote, or never stored: their indexes go too.
		ours := map[string]bool{}
		for _, line := range lines[1:] {
			var name string
			if json.Unmarshal(line, &name) != nil || name == uri {
				// A line cut by the crash, or an attempt's; or the bucket
				// of a next attempt that took the journal up (no shard's
				// name, which has no "//").
				continue
			}
			if shard, ok := strings.CutSuffix(name, formats.IndexSuffix); ok && ours[shard] {
				// Written through its owner, which the node reaches once
				// it has a map.
				w.mu.Lock()
				if o := (orphan{bucket, name, id, before}); !slices.Contains(w.mu.orphans, o) {
					w.mu.orphans = append(w.mu.orphans, o) // (once, tried again or not)
				}
				w.mu.Unlock()
				continue
			}
			gone, err := w.removeIfWrittenBy(ctx, bucket, name, id, before)
			if err != nil {
				// The journal stays for the next try; the other jobs'
				// go on (a remote bucket's remote may be away a while).
				failed = append(failed, fmt.Errorf("remove output shard %s of interrupted job %s: %w", name, id, err))
				continue journals
			}
			if gone {
				ours[name] = true
				removed++
			}
		}
		w.config.Logger.Warn("removed the output of a dsort job interrupted by a restart", "journal", e.Name(), "shards", removed)
		// Not the journal of a next attempt started here meanwhile (it
		// registers under w.mu before it writes one of the same name).
		w.mu.Lock()
		_, known = w.mu.jobs[id]
		var rerr error
		if !known {
			rerr = pathsafe.Remove(dir, path)
		}
		w.mu.Unlock()
		if rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			failed = append(failed, rerr)
		}
	}
	return errors.Join(failed...)
}

// removeIfWrittenBy removes the object name if job id stored it (exactly
// that copy) in an attempt before beforeAttempt (any, at 0), and reports
// whether it is gone or was never there. An object the journal names but
// another writer stored (before the job, or since, or a later attempt)
// stays.
func (w *Worker) removeIfWrittenBy(ctx context.Context, b store.Bucket, name, id string, beforeAttempt int) (bool, error) {
	meta, err := w.config.Store.Head(ctx, b, name)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrBucketNotFound):
		return true, nil
	case err != nil:
		return false, err
	case meta.Custom[CustomJob] != id, beforeAttempt > 0 && AttemptOf(meta) >= beforeAttempt:
		return false, nil
	}
	err = w.config.Store.Delete(ctx, b, name, store.DeleteOptions{IfStamp: meta.Stamp, WrittenThrough: true})
	switch {
	case errors.Is(err, store.ErrExists):
		return false, nil // written again meanwhile
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return false, err
	}
	return true, nil
}

// RemoveOrphans removes, through the targets that own them, the indexes
// of jobs Recover found interrupted; call it once the node has joined
// its cluster. What cannot be removed is logged.
func (w *Worker) RemoveOrphans(ctx context.Context) {
	w.mu.Lock()
	orphans := w.mu.orphans
	w.mu.orphans = nil
	w.mu.Unlock()
	ow, ok := w.config.Store.(OwnerWriter)
	if !ok {
		return
	}
	var failed []orphan
	for _, o := range orphans {
		// Only the job's own: a job run since may have written the
		// index of a shard of the same name.
		err := ow.DeleteJobFromOwner(ctx, o.bucket, o.name, o.job, o.before)
		if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrBucketNotFound) {
			w.config.Logger.Warn("remove the index of an interrupted dsort job: tried again later", "bucket", o.bucket.String(), "index", o.name, "err", err)
			failed = append(failed, o)
		}
	}
	if len(failed) > 0 {
		w.mu.Lock()
		for _, o := range failed {
			if !slices.Contains(w.mu.orphans, o) {
				w.mu.orphans = append(w.mu.orphans, o)
			}
		}
		w.mu.Unlock()
	}
}

// HasOrphans reports whether indexes of interrupted jobs wait for
// RemoveOrphans (one that failed is kept for the next call).
func (w *Worker) HasOrphans() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.mu.orphans) > 0
}

// armWatchdog aborts the job unless the coordinator calls again within the
// idle timeout; disarmWatchdog stops it while a call runs.
func (j *targetJob) armWatchdog() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.armWatchdogLocked()
}

func (j *targetJob) armWatchdogLocked() {
	if j.mu.watchdog != nil {
		j.mu.watchdog.Stop()
	}
	timeout := j.w.config.IdleTimeout
	j.mu.watchdog = time.AfterFunc(timeout, func() {
		// Nobody waits for it: a cleanup under way goes on alone.
		j.abort(j.ctx, fmt.Sprintf("no word from the coordinator for %s", timeout))
	})
}

func (j *targetJob) disarmWatchdog() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.mu.watchdog != nil {
		j.mu.watchdog.Stop()
		j.mu.watchdog = nil
	}
}

// recordSource streams records from this target or fetches them.
type recordSource struct{ j *targetJob }

func (s recordSource) Open(ctx context.Context, holder int32, records []shards.RecordMeta) (creation.Stream, error) {
	if holder == s.j.self {
		return s.j.localStream(ctx, records)
	}
	if holder < 0 || int(holder) >= len(s.j.targets) {
		return nil, fmt.Errorf("record holder %d is not a target of the job", holder)
	}
	body, err := s.j.w.config.Fetcher.Fetch(ctx, s.j.targets[holder], s.j.id, s.j.attempt, records)
	if err != nil {
		return nil, fmt.Errorf("fetch records from %s: %w", s.j.targets[holder].ID, err)
	}
	return newFrameReader(body), nil
}

// Cutter is a stream that can be cut at once, a write under way too.
type Cutter interface{ Cut() }

// ServeRecords writes the bytes of records this target holds, as frames,
// for a target creating a shard. A writer that can read from a file (a
// network connection) gets the bytes of records left in their input
// shards by sendfile, from files this stream opens for itself.
func (w *Worker) ServeRecords(ctx context.Context, id string, attempt int, records []shards.RecordMeta, out io.Writer) error {
	j, err := w.job(id)
	if err != nil {
		return err
	}
	if attempt >= 0 && attempt != j.attempt {
		// A creator of an attempt given up (a target cut off from the
		// coordinator, still running it) would use up this attempt's
		// records: each is served once.
		return fmt.Errorf("%w: records of job %s asked for by its attempt %d, and attempt %d runs here", ErrPhase, id, attempt+1, j.attempt+1)
	}
	if err := j.admit(); err != nil {
		return err
	}
	defer j.active.Done()
	// The job's end or the creator's going away stop the stream.
	served, cancel := context.WithCancelCause(j.ctx)
	defer cancel(nil)
	stop := context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
	defer stop()
	// A write stuck on a creator that is gone ends with the stream, so
	// that an abort does not wait for it.
	if c, ok := out.(Cutter); ok {
		defer context.AfterFunc(served, c.Cut)()
	}
	s, err := j.localStream(served, records)
	if err != nil {
		return err
	}
	defer s.Close()
	var send rangeSender
	if rf, ok := out.(io.ReaderFrom); ok {
		files := &streamFiles{j: j, ctx: served, open: map[int32]*os.File{}}
		defer files.close()
		send = func(n int64) (bool, error) {
			shard, offset, ok := s.extent()
			if !ok {
				return false, nil
			}
			f, err := files.get(shard)
			if f == nil || err != nil {
				return false, err
			}
			if _, err := f.Seek(offset, io.SeekStart); err != nil {
				return false, err
			}
			copied, err := rf.ReadFrom(&io.LimitedReader{R: f, N: n})
			if err == nil && copied != n {
				err = fmt.Errorf("%s: sent %d of %d bytes", f.Name(), copied, n)
			}
			return true, err
		}
	}
	return writeStream(out, s, send)
}

// RecordsLength is the length of the stream ServeRecords writes for
// records: a response can announce it, and a connection then carries the
// records' bytes by sendfile.
func (w *Worker) RecordsLength(id string, records []shards.RecordMeta) (int64, error) {
	j, err := w.job(id)
	if err != nil {
		return 0, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	// What ServeRecords would refuse is refused here, before the answer's
	// status is sent: after it, a refusal only cuts the stream, and the
	// creator is not told why.
	if j.mu.stopping {
		if j.mu.stats.Aborted {
			return 0, fmt.Errorf("%w: %s", ErrAborted, j.id)
		}
		return 0, fmt.Errorf("%w: %s", ErrJobFinished, j.id)
	}
	if j.mu.byID == nil {
		return 0, fmt.Errorf("job %s has not extracted on target %s", j.id, j.w.config.NodeID)
	}
	var n int64
	header := make([]byte, 0, 256)
	for _, m := range records {
		r, ok := j.mu.byID[m.ID]
		if !ok {
			return 0, fmt.Errorf("record %d/%d is not held by target %s", m.ID.Shard, m.ID.Record, j.w.config.NodeID)
		}
		if j.mu.served[m.ID] {
			return 0, fmt.Errorf("%w: record %d/%d of job %s was asked for already", ErrPhase, m.ID.Shard, m.ID.Record, j.id)
		}
		for i := range r.Files {
			f, size := j.frameOf(r, i)
			header = appendFrame(header[:0], f)
			n += int64(len(header)) + size
		}
	}
	return n, nil
}

// streamFiles are input shards a record stream opened for itself: sendfile
// moves a file's own position, which streams must not share.
type streamFiles struct {
	j    *targetJob
	ctx  context.Context
	open map[int32]*os.File
	objs []store.Object
}

// maxStreamFiles bounds the input shards one record stream keeps open:
// a holder serves up to (targets-1) x builds streams at once. A shuffled
// output shard draws on so many input shards that no number kept open
// would save reopens; a sorted one draws on a few at a time.
var maxStreamFiles = 8

// maxJobStreamFiles bounds the input shards all of a job's record
// streams keep open on a target: past it, a stream copies its records'
// bytes through the job's shared readers instead of sendfile, rather
// than run the node out of file descriptors on a large cluster.
var maxJobStreamFiles int64 = 2048

// fileBacked is a stored object that is a plain file.
type fileBacked interface{ File() *os.File }

// get returns the stream's file of an input shard, or nil when the store
// does not keep it as a plain file.
func (f *streamFiles) get(shard int32) (*os.File, error) {
	if file, ok := f.open[shard]; ok {
		return file, nil
	}
	if len(f.open) >= maxStreamFiles {
		// A shuffled output shard draws on thousands of input shards:
		// the stream keeps a few open (none is in use between calls).
		f.close()
		f.open = map[int32]*os.File{}
	}
	if f.j.streamFiles.Add(1) > maxJobStreamFiles {
		f.j.streamFiles.Add(-1)
		return nil, nil // copied, not sent from a file of the stream's
	}
	name := f.j.inputs.At(int(shard))
	obj, err := f.j.w.config.Store.Open(f.ctx, f.j.plan.Input, name, store.OpenOptions{})
	if err != nil {
		f.j.streamFiles.Add(-1)
		return nil, fmt.Errorf("reopen input shard %s: %w", name, err)
	}
	f.objs = append(f.objs, obj) // closed and counted back by close
	if err := f.j.inputVersions.check(name, obj.Meta()); err != nil {
		return nil, err
	}
	backed, ok := obj.(fileBacked)
	if !ok {
		f.open[shard] = nil
		return nil, nil
	}
	f.open[shard] = backed.File()
	return f.open[shard], nil
}

func (f *streamFiles) close() {
	for _, obj := range f.objs {
		obj.Close()
	}
	f.j.streamFiles.Add(-int64(len(f.objs)))
	f.objs = nil
}

// maxOpenInputs bounds the input shards a job keeps open for offset
// reads beside those being read: a job over a million shards would run
// out of file descriptors.
var maxOpenInputs = 128

// openInput is an input shard open for offset reads.
type openInput struct {
	obj  store.Object
	refs int    // readers now
	used uint64 // tick of the last use
}

// inputObject returns an open input shard for offset reads, and the
// release its reader calls when done with it.
func (j *targetJob) inputObject(ctx context.Context, shard int32) (store.Object, func(), error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	in, ok := j.mu.objects[shard]
	if !ok {
		if j.mu.closed {
			return nil, nil, fmt.Errorf("%w: %s", ErrJobFinished, j.id)
		}
		// Opened without the job's lock: an open of a remote shard may
		// fetch it again (evicted since), and the lock is every call's
		// and the abort's.
		j.mu.Unlock()
		obj, err := j.openInput(ctx, shard)
		j.mu.Lock()
		if err != nil {
			return nil, nil, err
		}
		if j.mu.closed {
			obj.Close()
			return nil, nil, fmt.Errorf("%w: %s", ErrJobFinished, j.id)
		}
		if in, ok = j.mu.objects[shard]; ok {
			obj.Close() // another reader opened it meanwhile
		} else {
			j.closeIdleInputsLocked(maxOpenInputs - 1)
			in = &openInput{obj: obj}
			j.mu.objects[shard] = in
		}
	}
	in.refs++
	j.mu.uses++
	in.used = j.mu.uses
	released := false
	return in.obj, func() {
		j.mu.Lock()
		defer j.mu.Unlock()
		if !released {
			released = true
			in.refs--
		}
	}, nil
}

// openInput opens an input shard and checks it is the version extracted.
func (j *targetJob) openInput(ctx context.Context, shard int32) (store.Object, error) {
	name := j.inputs.At(int(shard))
	obj, err := j.w.config.Store.Open(ctx, j.plan.Input, name, store.OpenOptions{})
	if err != nil {
		return nil, fmt.Errorf("reopen input shard %s: %w", name, err)
	}
	if err := j.inputVersions.check(name, obj.Meta()); err != nil {
		obj.Close()
		return nil, err
	}
	return obj, nil
}

// closeIdleInputsLocked closes the least recently used input shards no
// reader holds until at most keep stay open; j.mu is held.
func (j *targetJob) closeIdleInputsLocked(keep int) {
	for len(j.mu.objects) > keep {
		var oldest int32
		found := false
		for shard, in := range j.mu.objects {
			if in.refs == 0 && (!found || in.used < j.mu.objects[oldest].used) {
				oldest, found = shard, true
			}
		}
		if !found {
			return // all being read: they close when the job ends
		}
		j.mu.objects[oldest].obj.Close()
		delete(j.mu.objects, oldest)
	}
}

// localStream streams records held here.
func (j *targetJob) localStream(ctx context.Context, metas []shards.RecordMeta) (*localStream, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.mu.byID == nil {
		return nil, fmt.Errorf("job %s has not extracted on target %s", j.id, j.w.config.NodeID)
	}
	if j.mu.served == nil {
		j.mu.served = make(map[shards.RecordID]bool, len(j.mu.byID))
	}
	records := make([]*shards.Record, len(metas))
	for i, m := range metas {
		r, ok := j.mu.byID[m.ID]
		var err error
		switch {
		case !ok:
			err = fmt.Errorf("record %d/%d is not held by target %s", m.ID.Shard, m.ID.Record, j.w.config.NodeID)
		case j.mu.served[m.ID]:
			err = fmt.Errorf("%w: record %d/%d of job %s was asked for already", ErrPhase, m.ID.Shard, m.ID.Record, j.id)
		}
		if err != nil {
			for _, taken := range metas[:i] {
				delete(j.mu.served, taken.ID) // this request takes none
			}
			return nil, err
		}
		j.mu.served[m.ID] = true
		records[i] = r
	}
	return &localStream{ctx: ctx, job: j, records: records, file: -1}, nil
}

// localStream reads records' files from memory, spill files or input
// shards.
type localStream struct {
	ctx     context.Context
	job     *targetJob
	records []*shards.Record
	record  int
	file    int // index of the current file in the current record, -1 before the first
	current io.Reader
	// release lets go of the input shard the current file is read from.
	release func()
	// The current file's bytes in an input shard, when they are there.
	extentShard  int32
	extentOffset int64
	extentOK     bool
}

var _ creation.Stream = (*localStream)(nil)

func (s *localStream) releaseCurrent() {
	if s.release != nil {
		s.release()
		s.release = nil
	}
	if s.file < 0 || s.record >= len(s.records) {
		return
	}
	// Each record goes into one output shard: once read, its memory goes.
	extract.ReleaseFile(s.job.budget, &s.records[s.record].Files[s.file])
}

func (s *localStream) Next() (creation.File, error) {
	if err := s.ctx.Err(); err != nil {
		return creation.File{}, context.Cause(s.ctx)
	}
	s.releaseCurrent()
	s.file++
	if s.record < len(s.records) && s.file >= len(s.records[s.record].Files) {
		s.record++
		s.file = 0
	}
	if s.record >= len(s.records) {
		s.current = nil
		return creation.File{}, io.EOF
	}
	r := s.records[s.record]
	f := &r.Files[s.file]
	out, _ := s.job.frameOf(r, s.file)
	s.extentOK = false
	switch f.Storage {
	case shards.StorageMemory:
		if f.Data == nil {
			return out, fmt.Errorf("record %s: file %s was already sent", r.Name, f.Name)
		}
		if out.Raw {
			s.current = bytes.NewReader(f.Data[:f.RawSize])
		} else {
			s.current = bytes.NewReader(f.Data[f.Offset : f.Offset+f.Size])
		}
	case shards.StorageSpill:
		s.job.mu.Lock()
		result := s.job.mu.result
		s.job.mu.Unlock()
		s.current = io.NewSectionReader(result.Spills.ReaderAt(f.Spill), f.Offset, f.Size)
	case shards.StorageOffset:
		obj, release, err := s.job.inputObject(s.ctx, r.ID.Shard)
		if err != nil {
			return out, err
		}
		s.release = release
		s.extentShard, s.extentOffset, s.extentOK = r.ID.Shard, f.Offset, true
		if out.Raw {
			s.extentOffset = f.RawOffset
		}
		s.current = io.NewSectionReader(obj, s.extentOffset, payloadSize(out))
	}
	return out, nil
}

// extent tells where in an input shard the current file's bytes are,
// when they are there.
func (s *localStream) extent() (shard int32, offset int64, ok bool) {
	return s.extentShard, s.extentOffset, s.extentOK
}

// frameOf is how a file of a record held here travels: raw (its tar
// entry whole) when the job copies raw entries and the entry is at hand.
func (j *targetJob) frameOf(r *shards.Record, i int) (creation.File, int64) {
	f := &r.Files[i]
	out := creation.File{Name: f.Name, Size: f.Size, Last: i == len(r.Files)-1}
	raw := j.rawCopy && (f.Storage == shards.StorageOffset || f.Storage == shards.StorageMemory) && f.RawSize > 0
	if raw {
		out.Raw, out.RawSize = true, f.RawSize
	}
	return out, payloadSize(out)
}

// payloadSize is the bytes that follow a file's frame.
func payloadSize(f creation.File) int64 {
	if f.Raw {
		return f.RawSize
	}
	return f.Size
}

func (s *localStream) Read(p []byte) (int, error) {
	if s.current == nil {
		return 0, io.EOF
	}
	// An abort stops the copy of a large file too, not only the next.
	if err := s.ctx.Err(); err != nil {
		return 0, context.Cause(s.ctx)
	}
	return s.current.Read(p)
}

func (s *localStream) Close() error {
	s.releaseCurrent()
	return nil
}

// Finish releases a finished job's resources; its stats stay.
func (w *Worker) Finish(ctx context.Context, id string) error {
	j, err := w.job(id)
	if err != nil {
		if w.finishedHere(id) {
			return nil // finished before a restart
		}
		return err
	}
	j.mu.Lock()
	switch {
	case j.mu.stats.Aborted:
		j.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrAborted, id)
	case j.mu.stats.Archived:
		// Asked again (the coordinator and a gateway settling the job
		// both may): its finished mark, which names what it wrote, stays.
		j.mu.Unlock()
		return nil
	case j.mu.finishing:
		// Done once the running one is: not before its mark is made.
		done := j.mu.finished
		j.mu.Unlock()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	case j.mu.stats.Phase != PhaseCreate:
		// Not an attempt's output yet (a later attempt's in an earlier
		// phase): finished, it would be kept as whole.
		phase := j.mu.stats.Phase
		j.mu.Unlock()
		return fmt.Errorf("%w: finish of job %s, which is in phase %s", ErrPhase, id, phase)
	}
	j.mu.stopping, j.mu.finishing = true, true
	j.mu.finished = make(chan struct{})
	j.mu.Unlock()
	j.active.Wait()
	// The mark first: it makes the job's output this target's for good
	// (a restart reads it), and the release (spill files of tens of GB)
	// may not end before the node stops.
	j.markFinished()
	j.release()
	j.mu.Lock()
	// Its shards' names go too (millions, of a job with small output
	// shards): a finished job is aborted no more, and a restart reads
	// its mark.
	j.mu.written, j.mu.journaled = nil, nil
	j.mu.stats.Archived = true
	j.mu.stats.Phase = PhaseFinished
	j.mu.stats.Finished = time.Now()
	close(j.mu.finished)
	j.mu.Unlock()
	j.cancel(nil)
	j.logger.Info("dsort job finished", "created", j.created.Shards.Load(), "memory_peak", j.budget.Peak())
	return nil
}

// release frees memory, spill files and open shards.
func (j *targetJob) release() {
	j.mu.Lock()
	if j.mu.closed {
		j.mu.Unlock()
		return
	}
	j.mu.closed = true
	if j.mu.watchdog != nil {
		j.mu.watchdog.Stop()
	}
	// Taken under the lock, let go after it: removing spill files of tens
	// of GB takes seconds, and the lock is every call's (a node's Init
	// waited on it, and every call to any job behind that).
	result, objects := j.mu.result, j.mu.objects
	j.mu.result = nil // its records' names go too: a finished job keeps its stats only
	j.mu.objects = nil
	j.mu.byID = nil
	j.mu.served = nil
	j.mu.Unlock()
	// What cannot go (a failing disk) stays until the node's next start
	// sweeps it: said, as it holds room other jobs' spills count on.
	var errs []error
	if result != nil {
		extract.ReleaseMemory(j.budget, result.Records)
		errs = append(errs, result.Close())
	}
	j.budget.ReleaseMetadata()
	errs = append(errs, removeJobFiles(j.workDir, filepath.Join(j.workDir, "dsort-"+j.id)))
	for _, dir := range j.spillDirs {
		errs = append(errs, removeJobFiles(dir, filepath.Join(dir, "dsort-"+j.id)))
	}
	if err := errors.Join(errs...); err != nil {
		j.logger.Warn("dsort job's spill files not all removed (the node's next start removes them)", "err", err)
	}
	for _, in := range objects {
		in.obj.Close()
	}
	j.inputVersions.mu.Lock()
	j.inputVersions.versions = nil
	j.inputVersions.mu.Unlock()
}

// Abort stops a job on this target: its calls end, the output shards it
// wrote are removed, and its memory and spill files are released. The
// input is untouched. An abort of a job whose abort is under way waits
// for that one's cleanup, or for ctx; the cleanup itself outlives ctx.
func (w *Worker) Abort(ctx context.Context, id string, cause string) error {
	cause = truncate(cause, maxMessage)
	j, err := w.job(id)
	if err != nil {
		if w.finishedHere(id) {
			return fmt.Errorf("%w: %s (before this target restarted)", ErrJobFinished, id)
		}
		return err
	}
	return j.abort(ctx, cause)
}

// abort is Abort of this attempt of the job: a later attempt under the
// same id is not this one's to stop.
func (j *targetJob) abort(ctx context.Context, cause string) error {
	w := j.w
	id := j.id
	j.mu.Lock()
	if j.mu.stats.Archived || j.mu.finishing {
		j.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrJobFinished, id)
	}
	if j.mu.stats.Aborted {
		// The coordinator's reason may come after this target saw it
		// hang up (it cut its calls to abort): it says why, keep it.
		if cause != "" && !slices.Contains(j.mu.stats.Errors, cause) && len(j.mu.stats.Errors) < 1000 {
			j.mu.stats.Errors = append(j.mu.stats.Errors, cause)
		}
		j.mu.Unlock()
		// Answered once the first abort's cleanup ended: a caller told
		// "aborted" must not find its shards still being removed.
		return j.awaitRelease(ctx)
	}
	j.mu.stats.Aborted, j.mu.stopping = true, true
	if cause != "" && !slices.Contains(j.mu.stats.Errors, cause) {
		j.mu.stats.Errors = append(j.mu.stats.Errors, cause)
	}
	j.mu.Unlock()
	j.cancel(fmt.Errorf("%w: %s", ErrAborted, cause))
	j.active.Wait()
	j.mu.Lock()
	written, journaled := j.mu.written, j.mu.journaled
	j.mu.written, j.mu.journaled = nil, nil
	j.mu.Unlock()
	// Its memory and spill files first: the removals below (a remote's
	// round trips, an owner's) need only the names, and other jobs the
	// node's budget and disks.
	j.release()
	// Exactly the copies this job wrote go: a shard of the same name
	// written since (another job) stays.
	failed := 0
	acknowledged := map[string]bool{}
	for _, shard := range written {
		acknowledged[shard.name] = true
	}
	// A write cut short by the abort (its answer lost, the copy made)
	// goes if this job's (an attempt of it up to this one) wrote that
	// copy: no coordinator may be left to remove it. An index, stored at
	// its owner, goes through the orphans the node retries (an owner
	// slow or away holds no abort); a shard, stored here, at once.
	queued := 0
	for _, name := range journaled {
		if acknowledged[name] {
			continue
		}
		acknowledged[name] = true // (listed once)
		if _, ok := w.config.Store.(OwnerWriter); ok && formats.IsIndexName(name) {
			w.mu.Lock()
			if o := (orphan{j.plan.Output, name, id, j.attempt + 1}); !slices.Contains(w.mu.orphans, o) {
				w.mu.orphans = append(w.mu.orphans, o)
			}
			w.mu.Unlock()
			queued++
			continue
		}
		_, err := w.removeIfWrittenBy(context.WithoutCancel(j.ctx), j.plan.Output, name, id, j.attempt+1)
		if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrBucketNotFound) && !errors.Is(err, store.ErrExists) {
			j.logger.Warn("abort: remove an output shard whose write was cut short", "shard", name, "err", err)
			failed++
		}
	}
	for _, shard := range written {
		ctx := context.WithoutCancel(j.ctx)
		var err error
		if ow, ok := w.config.Store.(OwnerWriter); ok && shard.owner {
			err = ow.DeleteFromOwner(ctx, j.plan.Output, shard.name, shard.stamp)
		} else {
			// A remote bucket's shard goes from the remote too.
			err = w.config.Store.Delete(ctx, j.plan.Output, shard.name, store.DeleteOptions{IfStamp: shard.stamp, WrittenThrough: true})
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrExists) {
			j.logger.Warn("abort: remove output shard", "shard", shard.name, "err", err)
			failed++
		}
	}
	if failed > 0 || queued > 0 {
		// Kept: the next start's Recover removes what is left of the job
		// (exactly its copies, as here), rather than no one ever (an
		// orphan queued is in this process's memory only).
		j.closeJournal()
		j.logger.Warn("abort: output shards not removed; the job's journal stays, for the next start to remove them", "shards", failed)
	} else {
		j.dropJournal()
	}
	j.mu.Lock()
	j.mu.stats.Finished = time.Now()
	j.mu.stats.Extract.stop(time.Now())
	j.mu.stats.Sort.stop(time.Now())
	j.mu.stats.Create.stop(time.Now())
	j.mu.Unlock()
	close(j.released)
	j.logger.Warn("dsort job aborted", "cause", cause, "removed_shards", len(written))
	return nil
}

// releasedOrNotAborted is closed when the job's abort cleanup ended, or
// at once for a job not aborted.
func (j *targetJob) releasedOrNotAborted() <-chan struct{} {
	if !j.stats().Aborted {
		done := make(chan struct{})
		close(done)
		return done
	}
	return j.released
}

// finishedOrNotFinishing is closed once a Finish under way has ended (at
// once when none is).
func (j *targetJob) finishedOrNotFinishing() <-chan struct{} {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.mu.finishing && j.mu.finished != nil {
		return j.mu.finished
	}
	done := make(chan struct{})
	close(done)
	return done
}

// awaitRelease waits for an aborted job's cleanup (the abort under way
// may be another caller's), or for ctx.
func (j *targetJob) awaitRelease(ctx context.Context) error {
	if !j.stats().Aborted {
		return nil
	}
	select {
	case <-j.released:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("job %s: its abort is still cleaning up: %w", j.id, context.Cause(ctx))
	}
}

// Close aborts the jobs still running on this target, as Abort does (their
// output shards and spill files are removed), and waits for their calls to
// end; Init fails from then on. A job cannot outlive its node's stores, and
// an abort leaves nothing for Recover to clean up at the next start.
func (w *Worker) Close() error {
	w.mu.Lock()
	w.mu.closed = true
	jobs := slices.Collect(maps.Values(w.mu.jobs))
	w.mu.Unlock()
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		if j.stats().Done() {
			// An abort under way may still be removing files: the stores
			// must outlive it.
			wg.Go(func() { <-j.releasedOrNotAborted() })
			continue
		}
		wg.Go(func() {
			// The stores must outlive a cleanup under way.
			err := j.abort(context.WithoutCancel(j.ctx), "the node is shutting down")
			// A job that finished or went meanwhile needs no abort; one
			// finishing now is waited for (its release under way).
			if errors.Is(err, ErrJobFinished) {
				<-j.finishedOrNotFinishing()
			} else if !errors.Is(err, ErrJobNotFound) {
				errs[i] = err
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// pruneEnded forgets the oldest ended jobs beyond maxEndedJobs (each
// keeps its plan and inputs); w.mu is held.
func (w *Worker) pruneEnded() {
	type ended struct {
		id       string
		finished time.Time
	}
	var list []ended
	for id, j := range w.mu.jobs {
		s := j.stats()
		if !s.Done() {
			continue
		}
		select {
		case <-j.releasedOrNotAborted():
			list = append(list, ended{id, s.Finished})
		default:
			// Its abort still cleans up: a next attempt and Close wait
			// for that through this entry.
		}
	}
	if len(list) <= maxEndedJobs {
		return
	}
	slices.SortFunc(list, func(a, b ended) int { return a.finished.Compare(b.finished) })
	for _, e := range list[:len(list)-maxEndedJobs] {
		delete(w.mu.jobs, e.id)
	}
}

// Remove forgets a finished job.
func (w *Worker) Remove(id string) error {
	j, err := w.job(id)
	if err != nil {
		if w.ForgetFinished(id) {
			return nil
		}
		return err
	}
	if !j.stats().Done() {
		return fmt.Errorf("%w: %s", ErrJobRunning, id)
	}
	select {
	case <-j.releasedOrNotAborted():
	default:
		return fmt.Errorf("%w: %s is removing what it wrote", ErrJobRunning, id)
	}
	w.mu.Lock()
	// Only this attempt: one that replaced it meanwhile runs.
	if w.mu.jobs[id] == j {
		delete(w.mu.jobs, id)
	}
	w.mu.Unlock()
	w.ForgetFinished(id)
	return nil
}

// Heard notes the coordinator's keepalive: between phases the job's
// watchdog starts again. A target done with a phase early waits for the
// slowest one (and the sort) without a call; it must not give the job up
// while its coordinator is alive.
func (w *Worker) Heard(id string) error {
	j, err := w.job(id)
	if err != nil {
		if w.finishedHere(id) {
			return nil // nothing left to watch
		}
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.mu.watchdog != nil && !j.mu.closed {
		j.armWatchdogLocked() // armed: between phases; a phase runs disarmed
	}
	return nil
}

// Stats returns a job's state on this target.
func (w *Worker) Stats(id string) (JobStats, error) {
	j, err := w.job(id)
	if err != nil {
		if stats, ok := w.finishedStats(id); ok {
			return stats, nil
		}
		return JobStats{}, err
	}
	return j.stats(), nil
}

// Jobs returns the state of every job this target knows.
func (w *Worker) Jobs() []JobStats {
	w.mu.Lock()
	jobs := make([]*targetJob, 0, len(w.mu.jobs))
	for _, j := range w.mu.jobs {
		jobs = append(jobs, j)
	}
	w.mu.Unlock()
	out := make([]JobStats, len(jobs))
	for i, j := range jobs {
		out[i] = j.stats()
	}
	slices.SortFunc(out, func(a, b JobStats) int { return a.Started.Compare(b.Started) })
	return out
}

func (j *targetJob) stats() JobStats {
	now := time.Now()
	j.mu.Lock()
	s := j.mu.stats
	s.Warnings = slices.Clone(s.Warnings)
	s.Errors = slices.Clone(s.Errors)
	j.mu.Unlock()
	s.Extract = s.Extract.snapshot(now)
	s.Sort = s.Sort.snapshot(now)
	s.Create = s.Create.snapshot(now)
	s.Extract.Missing = j.extracted.Missing.Load()
	s.Extract.Done = j.extracted.Shards.Load() + s.Extract.Missing
	s.Extract.Records = j.extracted.Records.Load()
	s.Extract.Bytes = j.extracted.Bytes.Load()
	s.Extract.SpilledFiles = j.extracted.SpilledFiles.Load()
	s.Extract.SpilledBytes = j.extracted.SpilledBytes.Load()
	s.Create.Done = j.created.Shards.Load()
	s.Create.Records = j.created.Records.Load()
	s.Create.Bytes = j.created.Bytes.Load()
	s.MemoryPeak = j.budget.Peak()
	return s
}

// describe names a target list for messages.
func describe(nodes []cluster.Node) string {
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID
	}
	return strings.Join(ids, ",")
}
