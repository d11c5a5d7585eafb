package store_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/aisgo/aisgo/store"
)

// A guarded body fails once the capacity check does, after at most
// SpaceCheckBytes more, and reads whole while it passes.
func TestGuardSpace(t *testing.T) {
	full := false
	checks := 0
	check := func(context.Context) error {
		checks++
		if full {
			return store.ErrNoSpace
		}
		return nil
	}
	data := bytes.Repeat([]byte{7}, 3*store.SpaceCheckBytes+10)
	n, err := io.Copy(io.Discard, store.GuardSpace(t.Context(), bytes.NewReader(data), check))
	if err != nil || n != int64(len(data)) || checks != 3 {
		t.Fatalf("read %d of %d with %d checks: %v", n, len(data), checks, err)
	}
	full = true
	n, err = io.Copy(io.Discard, store.GuardSpace(t.Context(), bytes.NewReader(data), check))
	if !errors.Is(err, store.ErrNoSpace) || n > store.SpaceCheckBytes {
		t.Fatalf("read %d past a full disk: %v", n, err)
	}
}
