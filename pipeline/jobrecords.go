package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/aisgo/aisgo/internal/atomicfile"
)

// Bounds of the kept records of ended jobs (Keep).
const (
	maxRecordsSize  = 16 << 20
	maxRecordError  = 1024
	maxRecordResult = 64 << 10
)

// Keep loads the ended jobs recorded at path, and from now on records
// there every job that spans targets (StartOn with targets) as it ends,
// but one cut by the node's shutdown. Jobs live in memory: a target
// restarted after its part of a job ended then still lists it, and one
// restarted while its part ran, which lists none, reads as a part lost,
// not as one done. A file that cannot be read is logged and replaced.
// Call it before the first job starts.
func (j *Jobs) Keep(path string) {
	states, err := readRecords(path)
	if err != nil {
		j.logger.Warn("the records of ended jobs cannot be read: the jobs of targets before this start are not listed", "path", path, "err", err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.records = path
	for _, s := range states {
		if ValidateJobID(s.ID) != nil || s.Kind == "" || s.Running || len(s.Targets) == 0 || j.jobs[s.ID] != nil {
			continue
		}
		job := &runningJob{state: s, cancel: func(error) {}, done: make(chan struct{})}
		close(job.done)
		job.progress.Objects.Store(s.Objects)
		job.progress.Bytes.Store(s.Bytes)
		job.progress.Total.Store(s.Total)
		j.jobs[s.ID] = job
	}
	j.prune()
}

// readRecords reads the records of ended jobs (none when there is no
// file).
func readRecords(path string) ([]JobState, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRecordsSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxRecordsSize {
		return nil, fmt.Errorf("more than %d bytes", maxRecordsSize)
	}
	var states []JobState
	if err := json.Unmarshal(data, &states); err != nil {
		return nil, err
	}
	return states, nil
}

// saveRecords writes the ended jobs of targets the registry holds to the
// file of Keep.
func (j *Jobs) saveRecords() {
	j.saving.Lock()
	defer j.saving.Unlock()
	j.mu.Lock()
	path := j.records
	var states []JobState
	for _, job := range j.jobs {
		if job.state.Running || len(job.state.Targets) == 0 || job.unrecorded {
			continue
		}
		s := job.snapshot()
		if len(s.Error) > maxRecordError {
			s.Error = s.Error[:maxRecordError] + "..."
		}
		if len(s.Result) > maxRecordResult {
			s.Result = nil
		}
		states = append(states, s)
	}
	j.mu.Unlock()
	if path == "" {
		return
	}
	slices.SortFunc(states, func(a, b JobState) int { return a.Finished.Compare(b.Finished) })
	data, err := json.Marshal(states)
	if err == nil {
		err = atomicfile.Write(path, data, 0o644)
	}
	if err != nil {
		j.logger.Warn("record the ended jobs: a restart of this node will read their parts here as lost", "path", path, "err", err)
	}
}
