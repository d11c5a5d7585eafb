package rebalance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/store"
)

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	Run Config
	// Recent is how long after a run ended objects may still be on
	// their old targets or on their way; zero means 10 minutes.
	Recent time.Duration
	// TombstoneTTL is how long a tombstone is kept at least; zero means an
	// hour. It is kept longer while a target of the map is offline.
	TombstoneTTL time.Duration
	// History is how many runs the job list shows; zero means 8.
	History int
	// Finished, when set, is called after a run for map m succeeded.
	Finished func(ctx context.Context, m *cluster.Map)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
}

// Status is one run, for the job list.
type Status struct {
	ID         string
	Objects    int64
	Bytes      int64
	Tombstones int64
	Skipped    int64
	Left       int64 // of Skipped, left here for good (Progress.Left)
	// LeftBuckets are their buckets ("*": too many to name).
	LeftBuckets []string
	Started     time.Time
	Finished    time.Time
	Running     bool
	// Aborted: the run gave way to a newer one (Cause says), or its node
	// stopped; not a failure.
	Aborted bool
	Cause   string
	Error   string
	// Retrying is why the last attempt of a run still going failed (it
	// tries again), Attempts how many have failed.
	Retrying string
	Attempts int
}

// Manager runs one rebalance at a time on a target: a new map replaces
// the running one, and a failed run is tried again until it succeeds or
// a newer map replaces it.
type Manager struct {
	config ManagerConfig
	loops  context.Context
	wg     sync.WaitGroup
	mu     struct {
		sync.Mutex
		current *managedRun
		history []*managedRun
	}
}

type managedRun struct {
	id       string
	version  int64 // of the map it runs under
	cancel   context.CancelCauseFunc
	done     chan struct{}
	progress Progress
	started  time.Time
	mu       struct {
		sync.Mutex
		finished time.Time
		err      error
		// aborted is why the run's context ended (replaced, stopping),
		// when it did.
		aborted error
		// failed is the last attempt's error while the run tries again,
		// and attempts how many failed.
		failed   error
		attempts int
	}
}

// errSuperseded is the cause of a run a newer map's run replaced.
var errSuperseded = errors.New("rebalance superseded")

// NewManager returns a manager whose runs end with ctx.
func NewManager(ctx context.Context, cfg ManagerConfig) *Manager {
	if cfg.Recent <= 0 {
		cfg.Recent = 10 * time.Minute
	}
	if cfg.TombstoneTTL <= 0 {
		cfg.TombstoneTTL = time.Hour
	}
	if cfg.History <= 0 {
		cfg.History = 8
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Run.Logger = cfg.Logger
	return &Manager{config: cfg, loops: ctx}
}

// RunIDPrefix starts the id of every rebalance run: reb-VERSION.
const RunIDPrefix = "reb-"

// Start replaces a running rebalance with one for map m; a map older than
// the last run's is ignored (a start that raced a newer map's).
func (mg *Manager) Start(m *cluster.Map) {
	mg.mu.Lock()
	if cur := mg.mu.current; cur != nil && cur.version > m.Version {
		mg.mu.Unlock()
		return
	}
	mg.mu.Unlock()
	ctx, cancel := context.WithCancelCause(mg.loops)
	r := &managedRun{id: fmt.Sprintf("%s%d", RunIDPrefix, m.Version), version: m.Version, cancel: cancel, done: make(chan struct{}), started: mg.config.Now()}
	mg.mu.Lock()
	if cur := mg.mu.current; cur != nil && cur.version > m.Version {
		mg.mu.Unlock()
		cancel(nil)
		return
	}
	previous := mg.mu.current
	mg.mu.current = r
	// A run again under the same map (a retried decommission) takes its
	// id: one run per id in the history (and in the metrics, which
	// refuse two series alike).
	mg.mu.history = slices.DeleteFunc(mg.mu.history, func(old *managedRun) bool { return old.id == r.id })
	mg.mu.history = append(mg.mu.history, r)
	if len(mg.mu.history) > mg.config.History {
		mg.mu.history = mg.mu.history[1:]
	}
	mg.mu.Unlock()
	mg.wg.Go(func() {
		defer close(r.done)
		defer cancel(nil)
		if previous != nil {
			previous.cancel(fmt.Errorf("%w: replaced by %s", errSuperseded, r.id))
			<-previous.done
		}
		err := Run(ctx, mg.config.Run, m, &r.progress)
		for attempt := 1; err != nil && ctx.Err() == nil; attempt++ {
			delay := retryDelay(attempt)
			mg.config.Logger.Info("rebalance will try again", "id", r.id, "in", delay, "err", err)
			// Shown while it runs: a run that keeps failing (an object
			// that cannot be read, an owner that refuses) says why.
			r.mu.Lock()
			r.mu.failed, r.mu.attempts = err, attempt
			r.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(delay):
				// What an attempt skips, the next meets again: the count
				// is the last attempt's (moves add up, each one made).
				r.progress.Skipped.Store(0)
				r.progress.resetLeft()
				err = Run(ctx, mg.config.Run, m, &r.progress)
			}
		}
		r.mu.Lock()
		r.mu.finished, r.mu.err = mg.config.Now(), err
		if err != nil && ctx.Err() != nil {
			r.mu.aborted = context.Cause(ctx)
			if !errors.Is(r.mu.aborted, errSuperseded) {
				r.mu.aborted = errors.New("rebalance stopped with its node")
			}
		}
		r.mu.Unlock()
		if err != nil {
			mg.config.Logger.Warn("rebalance stopped", "id", r.id, "moved", r.progress.Objects.Load(), "err", err)
			return
		}
		mg.config.Logger.Info("rebalance finished", "id", r.id, "moved", r.progress.Objects.Load(), "bytes", r.progress.Bytes.Load(),
			"tombstones", r.progress.Tombstones.Load(), "skipped", r.progress.Skipped.Load(), "elapsed", mg.config.Now().Sub(r.started).Round(time.Millisecond))
		if mg.config.Finished != nil {
			mg.config.Finished(ctx, m)
		}
	})
}

// Recent reports whether a run is going on here, or ended lately: objects
// may still be on their old targets or on their way (a run longer than
// Recent is recent all along, not only for its first minutes).
func (mg *Manager) Recent() bool {
	mg.mu.Lock()
	current := mg.mu.current
	mg.mu.Unlock()
	if current == nil {
		return false
	}
	current.mu.Lock()
	finished := current.mu.finished
	current.mu.Unlock()
	return finished.IsZero() || mg.config.Now().Sub(finished) < mg.config.Recent
}

// Running reports whether a run is in progress.
func (mg *Manager) Running() bool {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	if mg.mu.current == nil {
		return false
	}
	select {
	case <-mg.mu.current.done:
		return false
	default:
		return true
	}
}

// Statuses lists the current and recent runs.
func (mg *Manager) Statuses() []Status {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	out := make([]Status, 0, len(mg.mu.history))
	for _, r := range mg.mu.history {
		r.mu.Lock()
		s := Status{ID: r.id, Objects: r.progress.Objects.Load(), Bytes: r.progress.Bytes.Load(), Tombstones: r.progress.Tombstones.Load(),
			Skipped: r.progress.Skipped.Load(), Left: r.progress.Left.Load(), LeftBuckets: r.progress.LeftBuckets(), Started: r.started, Finished: r.mu.finished, Running: r.mu.finished.IsZero()}
		switch {
		case r.mu.err != nil && r.mu.aborted != nil:
			s.Aborted, s.Cause = true, r.mu.aborted.Error()
		case r.mu.err != nil:
			s.Error = r.mu.err.Error()
		case r.mu.failed != nil && s.Running:
			s.Retrying, s.Attempts = r.mu.failed.Error(), r.mu.attempts
		}
		r.mu.Unlock()
		out = append(out, s)
	}
	return out
}

// retryDelay is the wait before retry number attempt (from 1) of a run
// that failed: doubling from a second to 30 s, then, past twenty tries
// (an object that cannot be read, an owner that refuses for good), ten
// minutes: each retry walks every object of the target again. A change
// of the targets starts a run at once all the same.
func retryDelay(attempt int) time.Duration {
	if attempt > 20 {
		return 10 * time.Minute
	}
	return min(time.Second<<min(attempt-1, 5), 30*time.Second)
}

// Wait waits for the runs to end (their context ends them).
func (mg *Manager) Wait() { mg.wg.Wait() }

// CollectTombstones drops tombstones older than the TTL once no target
// of map m is offline and no rebalance is recent here: then no target
// holds an older copy that could still arrive. It returns how many went.
func (mg *Manager) CollectTombstones(ctx context.Context, m *cluster.Map) (int, error) {
	for _, n := range m.Nodes {
		if n.State == cluster.StateOffline {
			return 0, nil
		}
	}
	if mg.Recent() {
		return 0, nil
	}
	st := mg.config.Run.Store
	md, err := st.Buckets(ctx)
	if err != nil {
		return 0, err
	}
	cutoff := mg.config.Now().Add(-mg.config.TombstoneTTL).UnixNano()
	dropped := 0
	for b := range md.Buckets {
		err := st.WalkTombstones(ctx, b, func(t store.Tombstone) error {
			if t.Created >= cutoff {
				return nil
			}
			if err := st.DropTombstone(ctx, b, t.Name, t.Stamp); err != nil {
				return err
			}
			dropped++
			return nil
		})
		if errors.Is(err, store.ErrBucketNotFound) {
			continue
		}
		if err != nil {
			return dropped, err
		}
	}
	return dropped, nil
}
