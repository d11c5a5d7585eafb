package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/store"
)

// A props change refused because the bucket's props changed is known as
// such from the leader itself and through a follower (a 409 saying so);
// other conflicts are not it.
func TestPropsChangedIsKnownThroughAFollower(t *testing.T) {
	forwarded := &api.Error{Status: http.StatusConflict, Kind: api.KindInternal, Message: "set props of ais://b: " + membership.PropsChangedMessage}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("%w: set props of ais://b: %s", membership.ErrMapChanged, membership.PropsChangedMessage), true},
		{forwarded, true},
		{&api.Error{Status: http.StatusConflict, Message: "a job of that kind already runs"}, false},
		{nil, false},
	} {
		if got := propsChanged(tc.err); got != tc.want {
			t.Errorf("propsChanged(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// Only a change of mirroring or erasure coding is sent against the props
// it was checked with (a newer level): others any gateway takes.
func TestTouchesProtection(t *testing.T) {
	for patch, want := range map[string]bool{
		`{"mirror":{"copies":2}}`:          true,
		`{"EC":{"enabled":true}}`:          true,
		`{"versioning":{"enabled":false}}`: false,
		`{"lru":{"enabled":true}}`:         false,
	} {
		if got := touchesProtection(json.RawMessage(patch)); got != want {
			t.Errorf("touchesProtection(%s) = %v, want %v", patch, got, want)
		}
	}
}

// A change of mirroring through a gateway behind the log (another change
// of the bucket committed elsewhere) is refused against the props it was
// checked with, asked again on the props of now, and made; one whose
// gateway never catches up is refused, saying so.
func TestMirrorChangeThroughALaggingGateway(t *testing.T) {
	b := store.NewBucket("b")
	snapshot := func(versioning bool) membership.Snapshot {
		md := store.NewBucketMetadata()
		props := store.DefaultProps()
		props.Provider, props.Created, props.Versioning.Enabled = "ais", 1, versioning
		md.Set(b, props)
		return membership.Snapshot{Map: &cluster.Map{Version: 1}, Buckets: &md}
	}
	patch := json.RawMessage(`{"mirror":{"enabled":false,"copies":1}}`)
	c := &laggingControl{leader: snapshot(false), local: snapshot(true)}
	n := &Node{control: c}
	if _, err := n.setProtectedProps(t.Context(), b, patch); err != nil {
		t.Fatalf("a mirror change through a gateway behind the log: %v", err)
	}
	if props, _ := c.leader.Buckets.Props(b); props.Versioning.Enabled {
		t.Fatal("the change undid the one committed elsewhere")
	}
	c = &laggingControl{leader: snapshot(false), local: snapshot(true), stuck: true}
	n = &Node{control: c}
	if _, err := n.setProtectedProps(t.Context(), b, patch); !propsChanged(err) {
		t.Fatalf("a mirror change through a gateway that stays behind: %v, want refused as changed", err)
	}
}
