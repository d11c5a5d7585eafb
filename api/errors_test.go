package api_test

import (
	"errors"
	"testing"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/store"
)

// TestKindsDecodeToSentinels: every kind on the wire decodes back to its
// sentinel, the store's included, and the kinds are unique.
func TestKindsDecodeToSentinels(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range api.Kinds {
		if seen[k.Name] {
			t.Errorf("kind %q twice", k.Name)
		}
		seen[k.Name] = true
		if got := api.KindOf(k.Err); got != k.Name {
			t.Errorf("KindOf(%v) = %q, want %q", k.Err, got, k.Name)
		}
		e := &api.Error{Status: 500, Kind: k.Name, Message: "m"}
		if !errors.Is(e, k.Err) {
			t.Errorf("an error of kind %q is not %v", k.Name, k.Err)
		}
	}
	for _, named := range []struct{ constant, store string }{
		{api.KindNotFound, store.Kinds.Of(store.ErrNotFound)},
		{api.KindNoSpace, store.Kinds.Of(store.ErrNoSpace)},
		{api.KindConflict, store.Kinds.Of(store.ErrConflict)},
		{api.KindCorrupt, store.Kinds.Of(store.ErrCorrupt)},
	} {
		if named.constant != named.store {
			t.Errorf("api names %q, the store %q", named.constant, named.store)
		}
	}
}

// An error of a kind the client does not know is told by its status.
func TestUnknownKindsDecodeByStatus(t *testing.T) {
	for status, want := range map[int]error{
		409: api.ErrConflict, 412: api.ErrPreconditionFailed, 410: api.ErrJobFinished, 408: api.ErrSlowBody,
		404: api.ErrNotFound, 503: api.ErrUnavailable,
	} {
		if e := (&api.Error{Status: status, Kind: "a-kind-of-a-newer-node"}); !errors.Is(e, want) {
			t.Errorf("status %d of an unknown kind: not %v", status, want)
		}
	}
}
