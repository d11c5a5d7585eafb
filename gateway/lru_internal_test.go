package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/internal/hlc"
	"github.com/aisgo/aisgo/store"
)

// A shorter interval set while a long one runs takes effect at once (a
// typo of 2400h, then 10s, waited the 2400h out).
func TestEveryIntervalTakesAShorterIntervalAtOnce(t *testing.T) {
	var interval atomic.Int64
	interval.Store(int64(time.Hour))
	checks := make(chan struct{}, 100)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		everyInterval(ctx, func() time.Duration { return time.Duration(interval.Load()) }, 10*time.Millisecond, func() { checks <- struct{}{} })
	}()
	select {
	case <-checks:
		t.Fatal("checked before an hour")
	case <-time.After(100 * time.Millisecond):
	}
	interval.Store(int64(20 * time.Millisecond))
	for range 3 {
		select {
		case <-checks:
		case <-time.After(10 * time.Second):
			t.Fatal("the shorter interval did not take effect")
		}
	}
	cancel()
	<-done
}

// An eviction on the owner of a name removes the object with its parts
// and tombstone; one on another target removes its copy alone (the
// parts and tombstone are the owner's object's, which may be newer).
func TestEvictionOnlyOfTheCopyOffItsOwner(t *testing.T) {
	m := &cluster.Map{Version: 3, Primary: "g1", Nodes: []cluster.Node{
		{ID: "g1", Role: cluster.RoleGateway, State: cluster.StateActive},
		{ID: "t1", Role: cluster.RoleTarget, State: cluster.StateActive},
		{ID: "t2", Role: cluster.RoleTarget, State: cluster.StateActive},
	}}
	n := &Node{control: &laggingControl{local: membership.Snapshot{Map: m}, stuck: true}, clock: hlc.New(time.Now)}
	n.config.ID = "t1"
	b := store.Bucket{Provider: "aws", Name: "cache"}
	checked := map[bool]bool{}
	for i := 0; len(checked) < 2; i++ {
		name := fmt.Sprintf("o-%d", i)
		owner, err := m.Owner(cluster.Uname(b.Provider, b.Name, name))
		if err != nil {
			t.Fatal(err)
		}
		opts := n.evictOptions(b, name)
		if mine := owner.ID == "t1"; opts.LocalOnly == mine || opts.KeepParts == mine || opts.Stamp.IsZero() {
			t.Fatalf("%s (owner %s): %+v, want the copy alone off its owner, stamped", name, owner.ID, opts)
		}
		checked[owner.ID == "t1"] = true
	}
}

// hangingCapacity is a store whose capacity readings after the first
// hang until released (a disk whose statfs hangs).
type hangingCapacity struct {
	store.Store
	calls atomic.Int64
	hang  chan struct{}
}

func (s *hangingCapacity) Capacity(context.Context) ([]store.MountpathCapacity, error) {
	switch s.calls.Add(1) {
	case 1:
		return []store.MountpathCapacity{{Path: "/mp", Total: 100, Used: 10}}, nil
	case 2:
		<-s.hang
	}
	return []store.MountpathCapacity{{Path: "/mp", Total: 100, Used: 20}}, nil
}

// A capacity reading that hangs holds up its own caller, not the others:
// they take the last reading (every write of the target checks it).
func TestHungCapacityReadingHoldsUpNoOtherWrite(t *testing.T) {
	st := &hangingCapacity{hang: make(chan struct{})}
	defer close(st.hang)
	n := &Node{}
	n.config.Store = st
	if got := n.capacity(t.Context()); len(got) != 1 {
		t.Fatalf("the first reading: %v", got)
	}
	time.Sleep(2 * capacityTTL)
	go n.capacity(t.Context()) // reads again, and hangs
	for st.calls.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	answered := make(chan []store.MountpathCapacity)
	go func() { answered <- n.capacity(t.Context()) }()
	select {
	case got := <-answered:
		if len(got) != 1 || got[0].Used != 10 {
			t.Fatalf("a reading while another hangs: %v, want the last", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a capacity reading waited for another that hangs")
	}
	// Past the stall, the next caller reads again: the hung reading does
	// not keep the last one for good (the watermarks would hold on it).
	defer func(old time.Duration) { capacityStall = old }(capacityStall)
	capacityStall = 50 * time.Millisecond
	time.Sleep(2 * capacityStall)
	if got := n.capacity(t.Context()); len(got) != 1 || got[0].Used != 20 {
		t.Fatalf("a reading past the stall of another: %v, want a new one", got)
	}
}

// A job whose writer (an archive's shard owner) is no longer among the
// active targets is not started: every part would end at once, nothing
// written, and the job read as done.
func TestJobWithAWriterNotActiveIsNotStarted(t *testing.T) {
	m := &cluster.Map{Version: 3, Primary: "g1", Nodes: []cluster.Node{
		{ID: "g1", Role: cluster.RoleGateway, State: cluster.StateActive},
		{ID: "t1", Role: cluster.RoleTarget, State: cluster.StateActive},
		{ID: "t2", Role: cluster.RoleTarget, State: cluster.StateMaintenance},
	}}
	n := &Node{control: &laggingControl{local: membership.Snapshot{Map: m}, stuck: true}, clock: hlc.New(time.Now)}
	_, err := n.startClusterJobAs(t.Context(), peer.JobRequest{Kind: jobArchive, ID: "j1", Writer: "t2"})
	if !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "t2") {
		t.Fatalf("a job whose writer is in maintenance: %v, want unavailable naming it", err)
	}
}

// A job whose start fails on one target, and whose abort does not reach
// one that started it, says so (the id to stop), rather than read as a
// start that did nothing: a retry would run the work twice.
func TestJobStartRollbackThatFailsSaysWhereItRuns(t *testing.T) {
	fail := func(w http.ResponseWriter, status int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(api.Error{Status: status, Message: msg})
	}
	started := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			fail(w, http.StatusConflict, "the test's target does not stop it")
		}
	}))
	defer started.Close()
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPut:
			fail(w, http.StatusBadRequest, "the test's target refuses it")
		case http.MethodDelete:
			fail(w, http.StatusConflict, "the test's target does not stop it either")
		}
	}))
	defer refusing.Close()
	m := &cluster.Map{Version: 3, Primary: "g1", Nodes: []cluster.Node{
		{ID: "g1", Role: cluster.RoleGateway, State: cluster.StateActive},
		{ID: "t1", Role: cluster.RoleTarget, State: cluster.StateActive, URL: started.URL},
		{ID: "t2", Role: cluster.RoleTarget, State: cluster.StateActive, URL: refusing.URL},
	}}
	n := &Node{control: &laggingControl{local: membership.Snapshot{Map: m}, stuck: true}, clock: hlc.New(time.Now),
		logger: slog.New(slog.DiscardHandler), peer: peer.NewClient(peer.ClientConfig{Auth: peer.NewAuth(peer.NewSecret(), peer.Options{}), Node: "g1"})}
	_, err := n.startClusterJobAs(t.Context(), peer.JobRequest{Kind: jobDeleteObjects, ID: "delete-objects-1"})
	// (Not t2, which refused it.)
	if !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "may still run on t1, which") || !strings.Contains(err.Error(), "delete-objects-1") {
		t.Fatalf("a start whose rollback failed: %v, want a 409 (not sent again) naming t1 and the id", err)
	}
}

// failingEvictions is a store over lowwm whose deletes fail (a failing
// disk, a tombstone's write on a full one).
type failingEvictions struct {
	store.Store
	deletes atomic.Int64
	err     error
}

func (s *failingEvictions) Capacity(context.Context) ([]store.MountpathCapacity, error) {
	return []store.MountpathCapacity{{Path: "/mp", Total: 100, Used: 95}}, nil
}

func (s *failingEvictions) List(_ context.Context, _ store.Bucket, opts store.ListOptions) ([]store.ObjectMeta, error) {
	if opts.StartAfter != "" {
		return nil, nil
	}
	old := time.Now().Add(-48 * time.Hour)
	return []store.ObjectMeta{{Name: "o1", Size: 10, Atime: old}, {Name: "o2", Size: 10, Atime: old}}, nil
}

func (s *failingEvictions) Delete(context.Context, store.Bucket, string, store.DeleteOptions) error {
	s.deletes.Add(1)
	return s.err
}

// An LRU run whose evictions all fail says so in its error (and log): it
// freed nothing, and the writes refused past the watermarks would have
// no word of why.
func TestLRUEvictionsThatFailAreTheRunsError(t *testing.T) {
	m := &cluster.Map{Version: 3, Primary: "g1", Nodes: []cluster.Node{
		{ID: "g1", Role: cluster.RoleGateway, State: cluster.StateActive},
		{ID: "t1", Role: cluster.RoleTarget, State: cluster.StateActive},
	}}
	b := store.Bucket{Provider: store.ProviderAWS, Name: "cache"}
	props := store.DefaultProps()
	props.LRU.Enabled = true
	md := store.NewBucketMetadata()
	md.Set(b, props)
	n := &Node{control: &laggingControl{local: membership.Snapshot{Map: m, Buckets: &md}, stuck: true}, clock: hlc.New(time.Now),
		logger: slog.New(slog.DiscardHandler)}
	n.config.ID = "t1"
	st := &failingEvictions{err: errors.New("the disk failed")}
	n.config.Store, n.local, n.held = st, st, st
	result, err := n.runLRU(t.Context(), &store.Progress{})
	if st.deletes.Load() != 2 {
		t.Fatalf("%d evictions tried, want both candidates", st.deletes.Load())
	}
	if err == nil || !strings.Contains(err.Error(), "the disk failed") || !strings.Contains(err.Error(), "2 evictions failed") {
		t.Fatalf("a run whose evictions failed: %v %v, want its error naming them", result, err)
	}
	// Gone since listed (the object, or its bucket destroyed: the store
	// takes it before the map says), or written or read since: skipped.
	for _, skipped := range []error{store.ErrNotFound, store.ErrExists, store.ErrBucketNotFound, store.ErrBucketBehind} {
		st.err = fmt.Errorf("delete: %w", skipped)
		n.lruRested.Store(0)
		if result, err := n.runLRU(t.Context(), &store.Progress{}); err != nil {
			t.Errorf("a run whose objects went since (%v): %v %v, want no error", skipped, result, err)
		}
	}
}
