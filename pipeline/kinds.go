package pipeline

import "errors"

// Kinds name dSort's error conditions where they cross nodes as text (a
// target's answer to its coordinator); they are stable, and decode back to
// the same sentinels (see gateway/peer).
var Kinds = []struct {
	Kind string
	Err  error
}{
	{"job-not-found", ErrJobNotFound},
	{"job-exists", ErrJobExists},
	{"job-finished", ErrJobFinished},
	{"job-running", ErrJobRunning},
	{"job-aborted", ErrAborted},
	{"invalid-job-id", ErrInvalidJobID},
	{"invalid-init", ErrInvalidInit},
	{"invalid-spec", ErrInvalidSpec},
	{"key-map-fetch", ErrKeyMapFetch},
	{"wire-limit", ErrWireLimit},
	{"worker-closed", ErrWorkerClosed},
}

// KindOf returns the kind of a dSort error, or "" for another error.
func KindOf(err error) string {
	for _, k := range Kinds {
		if errors.Is(err, k.Err) {
			return k.Kind
		}
	}
	return ""
}

// ErrOfKind returns the sentinel of a kind, or nil.
func ErrOfKind(kind string) error {
	for _, k := range Kinds {
		if k.Kind == kind {
			return k.Err
		}
	}
	return nil
}
