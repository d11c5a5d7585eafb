package pipeline

import (
	"bytes"
	"io"
	"os"
	"time"

	"github.com/aisgo/aisgo/creation"
)

// NewFrameReaderForTest reads a record stream from bytes.
func NewFrameReaderForTest(data []byte) creation.Stream {
	return newFrameReader(io.NopCloser(bytes.NewReader(data)))
}

// CreateConcurrencyForTest is createConcurrency.
var CreateConcurrencyForTest = createConcurrency

// MemoryLimitForTest is memoryLimit.
var MemoryLimitForTest = memoryLimit

// RecordBuildsForTest is recordBuilds.
var RecordBuildsForTest = recordBuilds

// SetMaxEndedJobs changes maxEndedJobs until the returned func restores it.
func SetMaxEndedJobs(n int) (restore func()) {
	old := maxEndedJobs
	maxEndedJobs = n
	return func() { maxEndedJobs = old }
}

// SetMaxOpenInputs changes maxOpenInputs until the returned func restores it.
func SetMaxOpenInputs(n int) (restore func()) {
	old := maxOpenInputs
	maxOpenInputs = n
	return func() { maxOpenInputs = old }
}

// SetMaxRunningJobs changes maxRunningJobs until the returned func
// restores it.
func SetMaxRunningJobs(n int) (restore func()) {
	old := maxRunningJobs
	maxRunningJobs = n
	return func() { maxRunningJobs = old }
}

// SetFinishWait changes finishWait until the returned func restores it.
func SetFinishWait(d time.Duration) (restore func()) {
	old := finishWait
	finishWait = d
	return func() { finishWait = old }
}

// SetEndJobRetry changes endJobRetry until the returned func restores it.
func SetEndJobRetry(d time.Duration) (restore func()) {
	old := endJobRetry
	endJobRetry = d
	return func() { endJobRetry = old }
}

// CheckPlansForTest is checkPlans.
var CheckPlansForTest = checkPlans

// HeldRecordMaps tells how many records a job still keeps per-record
// state for on a worker: served to creators, and input versions.
func HeldRecordMaps(w *Worker, id string) (served, versions int, err error) {
	j, err := w.job(id)
	if err != nil {
		return 0, 0, err
	}
	j.mu.Lock()
	served = len(j.mu.served)
	j.mu.Unlock()
	j.inputVersions.mu.Lock()
	versions = len(j.inputVersions.versions)
	j.inputVersions.mu.Unlock()
	return served, versions, nil
}

// SetJournalSync replaces the sync of dSort journals until the returned
// func restores it.
func SetJournalSync(sync func(*os.File) error) (restore func()) {
	old := journalSync
	journalSync = sync
	return func() { journalSync = old }
}

// SetMaxFinishedMarks changes maxFinishedMarks until the returned func
// restores it.
func SetMaxFinishedMarks(n int) (restore func()) {
	old := maxFinishedMarks
	maxFinishedMarks = n
	return func() { maxFinishedMarks = old }
}

// ChargeNodeNames takes n bytes of the node's budget for names, as jobs
// running do, and returns their release.
func (w *Worker) ChargeNodeNames(n int64) (release func()) {
	job := w.memory.Child(0)
	if !job.Charge(n) {
		panic("the node's budget for names is full")
	}
	return job.ReleaseMetadata
}

// NodeNamesLimit is the most the node's budget takes for names.
func (w *Worker) NodeNamesLimit() int64 { return w.memory.MetadataLimit() }

// SetStreamFiles bounds the input shards a record stream and all of a
// job's keep open, until the returned func restores them.
func SetStreamFiles(perStream int, perJob int64) (restore func()) {
	oldStream, oldJob := maxStreamFiles, maxJobStreamFiles
	maxStreamFiles, maxJobStreamFiles = perStream, perJob
	return func() { maxStreamFiles, maxJobStreamFiles = oldStream, oldJob }
}

// StreamFilesOpen is how many input shards the job's record streams keep
// open now.
func (w *Worker) StreamFilesOpen(id string) int64 {
	j, err := w.job(id)
	if err != nil {
		return -1
	}
	return j.streamFiles.Load()
}

// KeptShardNames is how many shard names a target's job keeps (what it
// wrote, and journaled).
func KeptShardNames(w *Worker, id string) int {
	j, err := w.job(id)
	if err != nil {
		return -1
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.mu.written) + len(j.mu.journaled)
}

// SetLostProbes changes how long a look at a target's stats waits and how
// many a slow one gets, until the returned func restores them.
func SetLostProbes(timeout time.Duration, probes int) (restore func()) {
	oldTimeout, oldProbes := lostProbeTimeout, lostProbes
	lostProbeTimeout, lostProbes = timeout, probes
	return func() { lostProbeTimeout, lostProbes = oldTimeout, oldProbes }
}

// SetRemoveJobFiles changes removeJobFiles until the returned func
// restores it.
func SetRemoveJobFiles(fn func(root, path string) error) (restore func()) {
	old := removeJobFiles
	removeJobFiles = fn
	return func() { removeJobFiles = old }
}

// FinishedHere reports that w has a finished mark of job id.
func FinishedHere(w *Worker, id string) bool { return w.finishedHere(id) }
