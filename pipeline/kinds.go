package pipeline

import "github.com/aisgo/aisgo/internal/errkind"

// Kinds name dSort's error conditions where they cross nodes as text (a
// target's answer to its coordinator); they are stable, and decode back to
// the same sentinels (see gateway/peer).
var Kinds = errkind.Table{
	{Name: "job-not-found", Err: ErrJobNotFound},
	{Name: "job-exists", Err: ErrJobExists},
	{Name: "job-finished", Err: ErrJobFinished},
	{Name: "job-running", Err: ErrJobRunning},
	{Name: "job-busy", Err: ErrJobBusy},
	{Name: "job-aborted", Err: ErrAborted},
	{Name: "job-phase", Err: ErrPhase},
	{Name: "invalid-job-id", Err: ErrInvalidJobID},
	{Name: "invalid-init", Err: ErrInvalidInit},
	{Name: "invalid-spec", Err: ErrInvalidSpec},
	{Name: "key-map-fetch", Err: ErrKeyMapFetch},
	{Name: "wire-limit", Err: ErrWireLimit},
	{Name: "worker-closed", Err: ErrWorkerClosed},
}
