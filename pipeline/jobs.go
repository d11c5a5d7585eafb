package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/aisgo/aisgo/internal/errkind"
	"github.com/aisgo/aisgo/store"
)

// ErrJobBusy marks a job refused because one of the same kind already
// runs on the bucket.
var ErrJobBusy = errors.New("a job of that kind already runs on the bucket")

// MaxSharedJobs bounds the jobs of one shared kind (StartOnShared) that
// run on a node at once: each holds its names, goroutines and buffers,
// and a caller must not start them without end.
const MaxSharedJobs = 64

// maxEndedJobs bounds the ended jobs a registry keeps for their status.
var maxEndedJobs = 256 // a variable for the tests

// Jobs runs a node's jobs over its stored objects (make-n-copies,
// ec-encode, resilver, scrub): each has an id, a kind, a bucket,
// progress, a result, and can be aborted.
type Jobs struct {
	logger *slog.Logger
	mu     sync.Mutex
	jobs   map[string]*runningJob
	wg     sync.WaitGroup
	closed bool // no job starts once Close began
	// records is where ended jobs of targets are kept (Keep), since
	// keptSince; saving is set while they are written, saveAgain when
	// they changed meanwhile.
	records           string
	keptSince         map[string]time.Time
	notKept           map[string]time.Time // kinds not kept, since Keep
	saving, saveAgain bool
	kinds             errkind.Table // names an ended job's error (ErrorKind)
}

// NewJobs returns an empty registry.
func NewJobs(logger *slog.Logger) *Jobs {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Jobs{logger: logger, jobs: map[string]*runningJob{}}
}

// SetErrorKinds sets the table that names the errors jobs end with
// (JobState.ErrorKind), so that a node asked for a job's status answers
// a failed one with its condition's status, not a bare 500.
func (j *Jobs) SetErrorKinds(kinds errkind.Table) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.kinds = kinds
}

// JobFunc is a job's work; what it returns is the job's result, encoded
// to JSON in its status.
type JobFunc func(ctx context.Context, progress *store.Progress) (result any, err error)

// JobState is a job's state as a registry reports it.
type JobState struct {
	ID     string       `json:"id"`
	Kind   string       `json:"kind"`
	Bucket store.Bucket `json:"bucket,omitzero"`
	// To is the bucket a job writes into, when not its own (a copy's,
	// an archive's): destroyed, it ends the job too.
	To      store.Bucket `json:"to,omitzero"`
	Running bool         `json:"running"`
	Aborted bool         `json:"aborted,omitempty"`
	Objects int64        `json:"objects"`
	Bytes   int64        `json:"bytes"`
	// Total is store.Progress's Total: the objects expected (0: unknown).
	Total int64  `json:"total,omitempty"`
	Error string `json:"error,omitempty"`
	// ErrorKind names Error's condition by the table SetErrorKinds gave
	// (e.g. "bucket-not-found"): the status a node asked answers with.
	ErrorKind string          `json:"error_kind,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Started   time.Time       `json:"started"`
	Finished  time.Time       `json:"finished,omitzero"`
	// Targets are the targets a job that spans several runs on (a
	// download's), when it says.
	Targets []string `json:"targets,omitempty"`
}

type runningJob struct {
	state    JobState
	progress store.Progress
	cancel   context.CancelCauseFunc
	done     chan struct{}
	// replaced: cancelled for a job that takes its place (under Jobs.mu).
	replaced bool
	// unrecorded: ended by the node's shutdown, its part not done: not
	// kept (Keep) as an ended part.
	unrecorded bool
}

// NewJobID returns a fresh id for a job of a kind, e.g. "mnc-3f2a9c1b".
func NewJobID(kind string) string {
	var b [4]byte
	rand.Read(b[:])
	prefix := kind
	if len(prefix) > 8 {
		prefix = prefix[:8]
	}
	return prefix + "-" + hex.EncodeToString(b[:])
}

// Start runs fn as a job in the background, under id (a new one when
// empty). It refuses a job when one of the same kind runs on the same
// bucket (ErrJobBusy), and an id in use.
func (j *Jobs) Start(ctx context.Context, id, kind string, b store.Bucket, fn JobFunc) (string, error) {
	return j.StartOn(ctx, id, kind, b, nil, fn)
}

// StartOn is Start for one part of a job that runs on targets, which its
// state names.
func (j *Jobs) StartOn(ctx context.Context, id, kind string, b store.Bucket, targets []string, fn JobFunc) (string, error) {
	return j.start(ctx, id, kind, b, targets, fn, true, 0)
}

// StartOnShared is StartOn for a kind of which many may run on one bucket
// at once (downloads, summaries, deletes of names: each its own job, as
// in AIStore), where StartOn refuses one while another runs.
func (j *Jobs) StartOnShared(ctx context.Context, id, kind string, b store.Bucket, targets []string, fn JobFunc) (string, error) {
	return j.start(ctx, id, kind, b, targets, fn, false, 0)
}

// StartOnSharedCounted is StartOnShared for a job that knows its total
// before it starts: its state says it from the first status on.
func (j *Jobs) StartOnSharedCounted(ctx context.Context, id, kind string, b store.Bucket, targets []string, total int64, fn JobFunc) (string, error) {
	return j.start(ctx, id, kind, b, targets, fn, false, total)
}

func (j *Jobs) start(ctx context.Context, id, kind string, b store.Bucket, targets []string, fn JobFunc, exclusive bool, total int64) (string, error) {
	if id == "" {
		id = NewJobID(kind)
	}
	if err := ValidateJobID(id); err != nil {
		return "", err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		// Started now, it would run past Close, on stores closing.
		return "", fmt.Errorf("%w: %s not started", ErrShuttingDown, kind)
	}
	if _, ok := j.jobs[id]; ok {
		return "", fmt.Errorf("%w: job %s exists", ErrJobExists, id)
	}
	running := 0
	for _, other := range j.jobs {
		if !other.state.Running || other.state.Kind != kind {
			continue
		}
		running++
		if exclusive && !other.replaced && other.state.Bucket == b {
			return "", fmt.Errorf("%w: %s %s runs on %s", ErrJobBusy, kind, other.state.ID, b)
		}
	}
	if !exclusive && running >= MaxSharedJobs {
		return "", fmt.Errorf("%w: %d %s jobs run on this node, the most at once: start it again when one ends", ErrJobBusy, running, kind)
	}
	runCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	job := &runningJob{
		state:  JobState{ID: id, Kind: kind, Bucket: b, Running: true, Started: time.Now(), Targets: targets},
		cancel: cancel, done: make(chan struct{}),
	}
	job.progress.Total.Store(total)
	j.jobs[id] = job
	j.prune()
	j.wg.Go(func() { j.run(runCtx, job, fn) })
	j.logger.Info("job started", "job", id, "kind", kind, "bucket", b.String())
	return id, nil
}

func (j *Jobs) run(ctx context.Context, job *runningJob, fn JobFunc) {
	defer close(job.done)
	result, err := fn(ctx, &job.progress)
	if cause := context.Cause(ctx); err != nil && cause != nil {
		err = cause
	}
	var encoded json.RawMessage
	if result != nil {
		encoded, _ = json.Marshal(result)
	}
	j.mu.Lock()
	job.state.Running, job.state.Finished, job.state.Result = false, time.Now(), encoded
	if err != nil {
		job.state.Error, job.state.ErrorKind = err.Error(), j.kinds.Of(err)
		job.state.Aborted = errors.Is(err, ErrAborted)
	}
	job.unrecorded = errors.Is(err, ErrShuttingDown)
	state := job.state
	kept := j.kept(state) && !job.unrecorded
	j.mu.Unlock()
	if kept {
		j.saveRecords()
	}
	if err != nil {
		j.logger.Warn("job ended with an error", "job", state.ID, "kind", state.Kind, "err", err)
	} else {
		j.logger.Info("job finished", "job", state.ID, "kind", state.Kind, "objects", job.progress.Objects.Load())
	}
}

// prune forgets the oldest ended jobs beyond maxEndedJobs of each kind:
// many of one kind (an LRU run every few seconds on a full disk) do not
// push another's (a download a user asks about) out. j.mu is held.
func (j *Jobs) prune() {
	ended := map[string][]*runningJob{}
	for _, job := range j.jobs {
		if !job.state.Running {
			ended[job.state.Kind] = append(ended[job.state.Kind], job)
		}
	}
	for _, list := range ended {
		if len(list) <= maxEndedJobs {
			continue
		}
		slices.SortFunc(list, func(a, b *runningJob) int { return a.state.Finished.Compare(b.state.Finished) })
		for _, job := range list[:len(list)-maxEndedJobs] {
			delete(j.jobs, job.state.ID)
			if !job.unrecorded && j.kept(job.state) {
				j.leftOut(job.state) // (its record goes)
			}
		}
	}
}

// SetDestination names the bucket a job writes into (JobState.To).
func (j *Jobs) SetDestination(id string, to store.Bucket) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if job, ok := j.jobs[id]; ok {
		job.state.To = to
	}
}

// Status returns a job's state.
func (j *Jobs) Status(id string) (JobState, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	job, ok := j.jobs[id]
	if !ok {
		return JobState{}, fmt.Errorf("%w: %s", ErrJobNotFound, id)
	}
	return job.snapshot(), nil
}

func (job *runningJob) snapshot() JobState {
	s := job.state
	s.Objects, s.Bytes, s.Total = job.progress.Objects.Load(), job.progress.Bytes.Load(), job.progress.Total.Load()
	if live := job.progress.Live.Load(); s.Running && live != nil {
		s.Result = *live
	}
	return s
}

// List returns every job the registry holds, oldest first.
func (j *Jobs) List() []JobState {
	j.mu.Lock()
	out := make([]JobState, 0, len(j.jobs))
	for _, job := range j.jobs {
		out = append(out, job.snapshot())
	}
	j.mu.Unlock()
	slices.SortFunc(out, func(a, b JobState) int { return a.Started.Compare(b.Started) })
	return out
}

// Abort stops a running job and waits for it; a job that ended is left
// as it is.
func (j *Jobs) Abort(id string, cause error) error {
	job, err := j.cancel(id, cause)
	if err != nil {
		return err
	}
	<-job.done
	return nil
}

// Cancel stops a running job without waiting for its end (Wait waits);
// a job that ended is left as it is.
func (j *Jobs) Cancel(id string, cause error) error {
	_, err := j.cancel(id, cause)
	return err
}

func (j *Jobs) cancel(id string, cause error) (*runningJob, error) {
	j.mu.Lock()
	job, ok := j.jobs[id]
	j.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrJobNotFound, id)
	}
	job.cancel(fmt.Errorf("%w: %w", ErrAborted, cause))
	return job, nil
}

// Replace cancels a job without waiting for its end, for one of its kind
// on its bucket to start at once in its place (Start no longer counts it
// as running there).
func (j *Jobs) Replace(id string, cause error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if job, ok := j.jobs[id]; ok && job.state.Running {
		job.replaced = true
		job.cancel(fmt.Errorf("%w: %w", ErrAborted, cause))
	}
}

// Remove forgets an ended job.
func (j *Jobs) Remove(id string) error {
	j.mu.Lock()
	job, ok := j.jobs[id]
	if !ok {
		j.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrJobNotFound, id)
	}
	if job.state.Running {
		j.mu.Unlock()
		return fmt.Errorf("%w: %s: abort it first", ErrJobRunning, id)
	}
	delete(j.jobs, id)
	kept := j.kept(job.state) && !job.unrecorded
	if kept {
		j.leftOut(job.state)
	}
	j.mu.Unlock()
	if kept {
		j.saveRecords()
	}
	return nil
}

// Wait waits until a job ends and returns its state.
func (j *Jobs) Wait(ctx context.Context, id string) (JobState, error) {
	j.mu.Lock()
	job, ok := j.jobs[id]
	j.mu.Unlock()
	if !ok {
		return JobState{}, fmt.Errorf("%w: %s", ErrJobNotFound, id)
	}
	select {
	case <-job.done:
	case <-ctx.Done():
		return JobState{}, ctx.Err()
	}
	return j.Status(id)
}

// Close aborts the running jobs and waits for them.
func (j *Jobs) Close() {
	j.mu.Lock()
	j.closed = true
	for _, job := range j.jobs {
		job.cancel(fmt.Errorf("%w: %w", ErrAborted, ErrShuttingDown))
	}
	j.mu.Unlock()
	j.wg.Wait()
}
