package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster/membership"
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
