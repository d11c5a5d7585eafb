package raft

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"

	hraft "github.com/hashicorp/raft"

	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/store"
)

// fsm applies the log to the holder's snapshot with membership.Apply.
type fsm struct {
	holder *membership.Holder
	// syncBuckets brings the node's own store in line (an embedded node).
	syncBuckets func(ctx context.Context, md store.BucketMetadata) error
	ctx         context.Context
	logger      *slog.Logger
	// incompatible is told once when the log holds a change this build
	// cannot apply (membership.ErrTooNew); halted, the fsm applies
	// nothing more: the state stays as it was, not as older rules make it.
	incompatible func(error)
	halted       atomic.Pointer[error]
	// applied is the index of the last entry this fsm applied (0 after a
	// snapshot's restore: unknown). Raft's own applied index counts an
	// entry handed to the fsm, before it is applied.
	applied atomic.Uint64
}

// haltedBy is the error that halted the fsm, nil while it applies.
func (f *fsm) haltedBy() error {
	if err := f.halted.Load(); err != nil {
		return *err
	}
	return nil
}

var _ hraft.FSM = (*fsm)(nil)

// result is what Apply returns to the proposer.
type result struct {
	snapshot membership.Snapshot
	err      error
}

// Apply applies one change. A change Apply refuses leaves the state as it
// was, on every node alike.
func (f *fsm) Apply(l *hraft.Log) any {
	defer f.applied.Store(l.Index)
	cur := f.holder.Current()
	if err := f.haltedBy(); err != nil {
		return result{snapshot: cur, err: err}
	}
	var c membership.Change
	if err := json.Unmarshal(l.Data, &c); err != nil {
		return result{err: fmt.Errorf("raft log entry %d: %w", l.Index, err)}
	}
	next, err := membership.Apply(cur, c)
	if errors.Is(err, membership.ErrTooNew) {
		f.halt(fmt.Errorf("raft log entry %d: %w", l.Index, err))
		return result{snapshot: cur, err: f.haltedBy()}
	}
	if err != nil {
		return result{snapshot: cur, err: err}
	}
	f.install(cur, next)
	return result{snapshot: next}
}

func (f *fsm) install(cur, next membership.Snapshot) {
	if f.syncBuckets != nil && next.Buckets != nil && next.Buckets != cur.Buckets {
		// The log is committed: a store that cannot follow (a full disk)
		// is told again at the next change, whose metadata has it all.
		if err := f.syncBuckets(f.ctx, *next.Buckets); err != nil {
			f.logger.Warn("the local store did not take the bucket metadata", "version", next.Buckets.Version, "err", err)
		}
	}
	f.holder.Install(next)
}

// halt stops applying the log, and says so once.
func (f *fsm) halt(err error) {
	f.halted.Store(&err)
	if f.logger != nil {
		f.logger.Error("this gateway stops following the cluster's state: upgrade it to the version of the other gateways", "err", err)
	}
	if f.incompatible != nil {
		f.incompatible(err)
	}
}

// Snapshot captures the state for the log's compaction. A halted fsm
// takes none: its state is not the log's past the halt, and the log must
// stay for a restart (upgraded, it applies it; not, it halts again).
func (f *fsm) Snapshot() (hraft.FSMSnapshot, error) {
	if err := f.haltedBy(); err != nil {
		return nil, err
	}
	// Taken on the fsm's goroutine: the state is of the entry applied
	// last, whose index goes along (a restore then knows how far its
	// state is, before the next entry is applied).
	data, err := json.Marshal(snapshotData{Snapshot: f.holder.Current(), AppliedIndex: f.applied.Load()})
	if err != nil {
		return nil, err
	}
	return fsmSnapshot(data), nil
}

// snapshotData is a snapshot as the log keeps it: the state, and the
// index of the entry it is of (0 in one of an older version: unknown).
type snapshotData struct {
	membership.Snapshot
	AppliedIndex uint64 `json:"applied_index,omitempty"`
}

// Restore replaces the state with a snapshot's.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	f.applied.Store(0)
	var data snapshotData
	if err := json.NewDecoder(rc).Decode(&data); err != nil {
		return fmt.Errorf("raft snapshot: %w", err)
	}
	s := data.Snapshot
	if err := s.Validate(); err != nil {
		// Installed, it would be served as the cluster's state.
		err = fmt.Errorf("raft snapshot: %w", err)
		if errors.Is(err, membership.ErrTooNew) && f.haltedBy() == nil {
			f.halt(err)
		}
		return err
	}
	if s.Config != nil && f.logger != nil {
		if err := s.ClusterConfig().Validate(); err != nil {
			f.logger.Warn("the restored cluster config breaks a rule of this version: set it again", "err", err)
		}
	}
	if s.Buckets == nil {
		md := store.NewBucketMetadata()
		s.Buckets = &md
	}
	f.install(f.holder.Current(), s)
	// Raft counts the entries after the snapshot applied once handed
	// to the fsm: a restarted gateway waiting to catch up reads this.
	f.applied.Store(data.AppliedIndex)
	return nil
}

type fsmSnapshot []byte

func (s fsmSnapshot) Persist(sink hraft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s fsmSnapshot) Release() {}
