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

// A props document sent back whole names mirroring and coding as they
// are: they leave the patch (sent, they would undo a change made
// meanwhile, at the newer level); changed, they stay.
func TestUnchangedProtectionLeavesThePatch(t *testing.T) {
	current := store.DefaultProps()
	whole, _ := json.Marshal(map[string]any{"created": "1", "mirror": current.Mirror, "ec": current.EC, "versioning": map[string]any{"enabled": false}})
	got := withoutUnchangedProtection(current, whole)
	if touchesProtection(got) {
		t.Fatalf("a whole document with mirror and ec as they are: %s still names them", got)
	}
	// A partial patch keeps them: through a gateway behind, "as they
	// are" may not be.
	partial := json.RawMessage(`{"mirror":{"enabled":false,"copies":2}}`)
	if got := withoutUnchangedProtection(current, partial); !touchesProtection(got) {
		t.Fatalf("a partial patch of mirroring as this gateway has it: %s, want it kept", got)
	}
	changed := json.RawMessage(`{"created":"1","mirror":{"enabled":true,"copies":2},"ec":{"enabled":false}}`)
	got = withoutUnchangedProtection(current, changed)
	var fields map[string]json.RawMessage
	if json.Unmarshal(got, &fields); fields["mirror"] == nil || fields["ec"] != nil {
		t.Fatalf("a change of mirroring beside ec as it is: %s, want mirror alone", got)
	}
}

// Access and features are the cluster's: another value is refused, an
// empty one and AIStore's defaults are the same.
func TestFixedProps(t *testing.T) {
	current := store.DefaultProps() // (Access and Features empty: a bucket from before they were set)
	for patch, ok := range map[string]bool{
		`{"features":"0","access":"` + store.AccessAll + `"}`: true,
		`{"created":"5","bid":"9","provider":"ais"}`:          true,
		`{"access":"1"}`:   false,
		`{"features":"1"}`: false,
	} {
		if err := checkFixedProps("set-bprops", current, json.RawMessage(patch)); (err == nil) != ok {
			t.Errorf("checkFixedProps(%s): %v, want ok %v", patch, err, ok)
		}
	}
}
