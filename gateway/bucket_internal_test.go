package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/store"
)

// laggingControl is a control plane whose gateway applies the log late:
// its buckets are behind the leader's, which applies the changes.
type laggingControl struct {
	control
	mu      sync.Mutex
	leader  membership.Snapshot
	local   membership.Snapshot
	catchUp bool // the next look at the local state finds it caught up
	stuck   bool // it never does
}

func (c *laggingControl) Current() membership.Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.catchUp && !c.stuck {
		c.local = c.leader
	}
	return c.local
}

// IsPrimary: the lagging gateway is a follower.
func (c *laggingControl) IsPrimary() bool { return false }

func (c *laggingControl) Refresh(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stuck {
		c.local = c.leader
	}
	return nil
}

func (c *laggingControl) Propose(ctx context.Context, ch membership.Change) (membership.Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next, err := membership.Apply(c.leader, ch)
	if err == nil {
		c.leader = next
	}
	c.catchUp = true
	return next, err
}

// A destroy through a gateway whose view is behind (the bucket destroyed
// and created again elsewhere) destroys the bucket as it is once the
// gateway has it, rather than answer a conflict.
func TestDestroyThroughALaggingGateway(t *testing.T) {
	b := store.NewBucket("b")
	snapshot := func(created int64) membership.Snapshot {
		md := store.NewBucketMetadata()
		props := store.DefaultProps()
		props.Provider, props.Created = "ais", store.Int64String(created)
		md.Set(b, props)
		return membership.Snapshot{Buckets: &md}
	}
	c := &laggingControl{leader: snapshot(2), local: snapshot(1)}
	n := &Node{control: c}
	if err := n.proposeDestroy(t.Context(), b); err != nil {
		t.Fatalf("a destroy through a gateway behind the log: %v", err)
	}
	if _, ok := c.leader.Buckets.Props(b); ok {
		t.Fatal("the bucket is still there")
	}
	// A gateway that does not catch up within the wait answers the
	// refusal, the bucket kept.
	c = &laggingControl{leader: snapshot(2), local: snapshot(1), stuck: true}
	n = &Node{control: c}
	if err := n.proposeDestroy(t.Context(), b); !errors.Is(err, membership.ErrMapChanged) {
		t.Fatalf("a destroy through a gateway that stays behind: %v, want refused", err)
	}
	if _, ok := c.leader.Buckets.Props(b); !ok {
		t.Fatal("the bucket is gone")
	}
}

// A target behind on a bucket's destroy and create (a push it missed)
// waits for the bucket a redirect names, asks the primary, and refuses,
// to retry, rather than serve the destroyed bucket's objects; one whose
// metadata is newer than the redirecting gateway's serves.
func TestRedirectForABucketATargetIsBehindOn(t *testing.T) {
	b := store.NewBucket("b")
	snapshot := func(version, created int64) membership.Snapshot {
		md := store.NewBucketMetadata()
		md.Version = version
		props := store.DefaultProps()
		props.Provider, props.Created = "ais", store.Int64String(created)
		md.Set(b, props)
		return membership.Snapshot{Buckets: &md}
	}
	ctx := t.Context()
	n := &Node{control: &laggingControl{leader: snapshot(3, 20), local: snapshot(2, 10), stuck: true}}
	if err := n.awaitBucket(ctx, b, "20", "3"); !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "created at 10") {
		t.Fatalf("a redirect for the bucket made again, on a target that stays behind: %v, want unavailable", err)
	}
	if err := n.awaitBucket(ctx, b, "20", ""); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("the same from a node that sends no metadata version: %v, want unavailable", err)
	}
	if err := n.awaitBucket(ctx, b, "20", "1"); err != nil {
		t.Fatalf("a redirect by a gateway with older metadata: %v, want served", err)
	}
	if err := n.awaitBucket(ctx, b, "10", "3"); err != nil {
		t.Fatalf("a redirect for the bucket the target has: %v, want served", err)
	}
	// Made again by a gateway whose clock is behind the first's: an
	// earlier time, still another bucket.
	if err := n.awaitBucket(ctx, b, "5", "3"); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("a redirect for the bucket made again at an earlier time (another gateway's clock): %v, want unavailable", err)
	}
	n = &Node{control: &laggingControl{leader: snapshot(3, 20), local: snapshot(2, 10)}}
	if err := n.awaitBucket(ctx, b, "20", "3"); err != nil {
		t.Fatalf("a redirect for the bucket made again, on a target that catches up when it asks: %v", err)
	}
}

// addedElsewhere is a lagging control whose creates of a bucket find it
// made already (by another gateway's first access), not applied here yet.
type addedElsewhere struct{ *laggingControl }

func (c addedElsewhere) Propose(ctx context.Context, ch membership.Change) (membership.Snapshot, error) {
	return c.leader, fmt.Errorf("create %s: %w", ch.Bucket, store.ErrBucketExists)
}

// headOK is a remote backend whose buckets all exist.
type headOK struct{}

func (headOK) HeadBucket(context.Context, store.Bucket, store.Props) error { return nil }
func (headOK) List(context.Context, store.Bucket, store.Props, string, string, int) ([]store.ObjectMeta, string, error) {
	return nil, "", nil
}

// A remote bucket's first access through a gateway whose log is behind,
// racing another gateway's first access that added it, finds the bucket:
// the gateway catches up, rather than answer 404 for a bucket that is.
func TestRemoteBucketAddedElsewhereIsFound(t *testing.T) {
	b := store.Bucket{Provider: "aws", Name: "cold"}
	md := store.NewBucketMetadata()
	props := store.DefaultRemoteProps(b)
	props.Created = 1
	md.Set(b, props)
	empty := store.NewBucketMetadata()
	lagging := &laggingControl{leader: membership.Snapshot{Buckets: &md}, local: membership.Snapshot{Buckets: &empty}}
	n := &Node{control: addedElsewhere{lagging}}
	n.config.Role = cluster.RoleGateway
	n.config.RemoteBuckets = headOK{}
	ctx := t.Context()
	n.loops.Store(&ctx)
	if _, err := n.bucketProps(b); err != nil {
		t.Fatalf("a remote bucket another gateway added first: %v", err)
	}
}

// A target asked to start a job under bucket metadata it has not applied
// yet (the push of a props change on its way) takes it first: started on
// the props as they were, a make-n-copies would place the old count and
// end done. One that stays behind starts it all the same (refused, every
// job would be, for one bucket's trouble).
func TestJobWaitsForItsBucketMetadata(t *testing.T) {
	version := func(v int64) membership.Snapshot {
		md := store.NewBucketMetadata()
		md.Version = v
		return membership.Snapshot{Buckets: &md}
	}
	for _, stuck := range []bool{false, true} {
		n := &Node{control: &laggingControl{leader: version(7), local: version(6), stuck: stuck}}
		n.logger = slog.New(slog.DiscardHandler)
		n.local = &hangingCapacity{}
		body, _ := json.Marshal(peer.JobRequest{ID: "j1", Kind: "no-such-kind", BucketsVersion: 7})
		w := httptest.NewRecorder()
		n.handleStartJob(w, httptest.NewRequest(http.MethodPut, "/v1/internal/jobs", bytes.NewReader(body)))
		if got := n.currentBuckets().Version; !stuck && got != 7 {
			t.Fatalf("a job start on a target behind its metadata went on at version %d, want 7", got)
		}
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "no-such-kind") {
			t.Fatalf("stuck %v: the start went to the job's own checks: %d %s", stuck, w.Code, w.Body)
		}
	}
}

// heldCatchUp is a lagging control whose catch-up reads the leader's
// state as it starts and waits to be let go before it applies it.
type heldCatchUp struct {
	*laggingControl
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func (c *heldCatchUp) IsPrimary() bool { return false }

func (c *heldCatchUp) CatchUp(ctx context.Context) error {
	c.mu.Lock()
	read := c.leader
	c.mu.Unlock()
	first := false
	c.once.Do(func() { first = true; close(c.started) })
	if first {
		<-c.release
	}
	c.mu.Lock()
	c.local = read
	c.mu.Unlock()
	return nil
}

// A request that misses a bucket made after the follower's running
// catch-up read the leader's index does not take that catch-up's end for
// its own: it catches up again, and finds the bucket.
func TestMissJoiningAnOlderCatchUpCatchesUpAgain(t *testing.T) {
	empty := func() membership.Snapshot {
		md := store.NewBucketMetadata()
		return membership.Snapshot{Buckets: &md}
	}
	c := &heldCatchUp{laggingControl: &laggingControl{leader: empty(), local: empty()}, started: make(chan struct{}), release: make(chan struct{})}
	n := &Node{control: c, config: Config{Role: cluster.RoleGateway}}
	loops := t.Context()
	n.loops.Store(&loops)
	first := make(chan error, 1)
	go func() {
		_, err := n.requestedBucketProps(store.NewBucket("other"))
		first <- err
	}()
	<-c.started
	made := store.NewBucket("made")
	props := store.DefaultProps()
	props.Provider = "ais"
	if _, err := c.Propose(t.Context(), membership.Change{Kind: membership.CreateBucket, Bucket: made, Props: &props, Created: 1}); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.catchUp = false // the local state stays behind but by a catch-up
	c.mu.Unlock()
	second := make(chan error, 1)
	go func() {
		_, err := n.requestedBucketProps(made)
		second <- err
	}()
	time.Sleep(100 * time.Millisecond) // (the second joins the held catch-up)
	close(c.release)
	if err := <-first; !errors.Is(err, store.ErrBucketNotFound) {
		t.Fatalf("the bucket never made: %v, want not found", err)
	}
	if err := <-second; err != nil {
		t.Fatalf("the bucket made while an older catch-up ran: %v", err)
	}
}
