package raft

import (
	"errors"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/store"
)

// pending is a future of the log that never ends (a change no majority
// stores).
type pending struct{}

var _ hraft.Future = pending{}

func (pending) Error() error  { select {} }
func (pending) Index() uint64 { return 0 }

// A change that never commits is given up after twice ApplyTimeout, as
// no quorum: waited for without end, it held the keepalive's and the
// admission's locks for good.
func TestAwaitGivesUpOnAChangeThatNeverCommits(t *testing.T) {
	c := &Control{config: Config{ApplyTimeout: 20 * time.Millisecond}, closed: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- c.await(pending{}) }()
	select {
	case err := <-done:
		if !errors.Is(err, errNotCommitted) {
			t.Fatalf("a change never committed: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("await waited on a change that never commits")
	}
}

// A retried change whose first answer was lost finds itself made: a job
// forgotten, a target gone once it left, a bucket destroyed.
func TestMadeAlreadyOfForgetsLeftsAndDestroys(t *testing.T) {
	s := membership.Snapshot{Map: &cluster.Map{}, Buckets: &store.BucketMetadata{Buckets: map[store.Bucket]store.Props{}}, Jobs: map[string]membership.Job{}}
	unknown := errors.New("refused")
	for _, ch := range []membership.Change{
		{Kind: membership.JobRemoved, Job: membership.Job{ID: "srt-1"}},
		{Kind: membership.Left, Node: cluster.Node{ID: "t1"}},
		{Kind: membership.DestroyBucket, Bucket: store.NewBucket("b")},
	} {
		if !madeAlready(s, ch, unknown) {
			t.Errorf("%s refused after it was made: not taken for made", ch.Kind)
		}
	}
	s.Jobs["srt-1"] = membership.Job{ID: "srt-1"}
	if madeAlready(s, membership.Change{Kind: membership.JobRemoved, Job: membership.Job{ID: "srt-1"}}, membership.ErrJobUnknown) {
		t.Error("a job still there taken for forgotten")
	}
}
