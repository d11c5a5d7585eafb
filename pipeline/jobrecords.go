package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/aisgo/aisgo/internal/atomicfile"
)

// Bounds of the kept records of ended jobs (Keep): a record larger than
// maxRecord (a download's result of many failures) is not kept, and the
// oldest go past maxRecordsSize; either moves KeptSince past them.
const (
	maxRecordsSize = 16 << 20
	maxRecord      = 256 << 10
	maxRecordError = 1024
)

// records is the file of Keep.
type records struct {
	// Since is when the records begin (Unix nanoseconds), of a kind in
	// Kinds when it has its own (its oldest left out).
	Since int64            `json:"since"`
	Kinds map[string]int64 `json:"kinds,omitempty"`
	Jobs  []JobState       `json:"jobs"`
}

// Keep loads the ended jobs recorded at path, and from now on records
// there every job that spans targets (StartOn with targets) as it ends,
// but one cut by the node's shutdown. Jobs live in memory: a target
// restarted after its part of a job ended then still lists it, and one
// restarted while its part ran, which lists none, reads as a part lost
// (for a job that started after KeptSince). A file that cannot be read
// is logged and started anew. Jobs of the kinds not kept (frequent ones,
// whose part a caller can ask for again) are listed from this start
// only. Call it before the first job starts.
func (j *Jobs) Keep(path string, notKept ...string) {
	kept, err := readRecords(path)
	if err != nil {
		j.logger.Warn("the records of ended jobs cannot be read: the jobs of targets before this start are not listed", "path", path, "err", err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.records = path
	// Since the file was made (a first start, or this version's), or,
	// of a kind, since the oldest it left out.
	now := time.Now()
	j.keptSince = map[string]time.Time{"": now}
	j.notKept = map[string]time.Time{}
	for _, kind := range notKept {
		j.notKept[kind] = now
	}
	if err == nil && kept.Since > 0 {
		j.keptSince[""] = time.Unix(0, kept.Since)
		for kind, since := range kept.Kinds {
			j.keptSince[kind] = time.Unix(0, since)
		}
	}
	for _, s := range kept.Jobs {
		if ValidateJobID(s.ID) != nil || s.Kind == "" || s.Running || len(s.Targets) == 0 || j.jobs[s.ID] != nil || !j.kept(s) {
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

// KeptSince tells, by kind ("" for a kind not named), when the records
// of Keep begin: a job of targets of that kind that ended here since is
// listed, across restarts (none without Keep).
func (j *Jobs) KeptSince() map[string]time.Time {
	j.mu.Lock()
	defer j.mu.Unlock()
	since := maps.Clone(j.keptSince)
	maps.Copy(since, j.notKept)
	return since
}

// kept reports a job whose record is kept (Keep). j.mu is held.
func (j *Jobs) kept(s JobState) bool {
	_, not := j.notKept[s.Kind]
	return j.records != "" && len(s.Targets) > 0 && !not
}

// leftOut moves the beginning of the records of a kind past a job of it
// they no longer hold. j.mu is held.
func (j *Jobs) leftOut(s JobState) { leftOut(j.keptSince, s) }

// leftOut moves the beginning of a kind's records in keptSince past s.
func leftOut(keptSince map[string]time.Time, s JobState) {
	if keptSince == nil || len(s.Targets) == 0 {
		return
	}
	since, ok := keptSince[s.Kind]
	if !ok {
		since = keptSince[""]
	}
	if s.Finished.After(since) {
		keptSince[s.Kind] = s.Finished
	}
}

// readRecords reads the records of ended jobs (none when there is no
// file).
func readRecords(path string) (records, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return records{}, nil
	}
	if err != nil {
		return records{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRecordsSize+1))
	if err != nil {
		return records{}, err
	}
	if len(data) > maxRecordsSize {
		return records{}, fmt.Errorf("more than %d bytes", maxRecordsSize)
	}
	var kept records
	if err := json.Unmarshal(data, &kept); err != nil {
		return records{}, err
	}
	return kept, nil
}

// saveRecords writes the ended jobs of targets the registry holds to the
// file of Keep. Saves asked for while one is written are made as one,
// after it, by the goroutine writing.
func (j *Jobs) saveRecords() {
	j.mu.Lock()
	if j.records == "" {
		j.mu.Unlock()
		return
	}
	j.saveAgain = true
	if j.saving {
		j.mu.Unlock()
		return
	}
	j.saving = true
	for j.saveAgain {
		j.saveAgain = false
		states, keptSince, path := j.recordsNow()
		j.mu.Unlock()
		err := atomicfile.Write(path, encodeRecords(states, keptSince), 0o644)
		if err != nil {
			j.logger.Warn("record the ended jobs: a restart of this node will read their parts here as lost", "path", path, "err", err)
		}
		j.mu.Lock()
	}
	j.saving = false
	j.mu.Unlock()
}

// recordsNow returns the ended jobs to keep, and the beginnings of the
// records. j.mu is held.
func (j *Jobs) recordsNow() ([]JobState, map[string]time.Time, string) {
	var states []JobState
	for _, job := range j.jobs {
		if job.state.Running || job.unrecorded || !j.kept(job.state) {
			continue
		}
		states = append(states, job.snapshot())
	}
	return states, maps.Clone(j.keptSince), j.records
}

// encodeRecords encodes the ended jobs within the bounds, the file's
// beginnings past those left out (listed here until a restart, they
// move KeptSince then).
func encodeRecords(states []JobState, keptSince map[string]time.Time) []byte {
	for i := range states {
		if len(states[i].Error) > maxRecordError {
			states[i].Error = states[i].Error[:maxRecordError] + "..."
		}
	}
	// Newest first: the oldest are those left out.
	slices.SortFunc(states, func(a, b JobState) int { return b.Finished.Compare(a.Finished) })
	kept := records{Jobs: states[:0]}
	size := 0
	for _, s := range states {
		encoded, err := json.Marshal(s)
		if err != nil || len(encoded) > maxRecord || size+len(encoded) > maxRecordsSize-4096 {
			leftOut(keptSince, s)
			continue
		}
		size += len(encoded) + 1
		kept.Jobs = append(kept.Jobs, s)
	}
	kept.Since = keptSince[""].UnixNano()
	for kind, since := range keptSince {
		if kind != "" {
			if kept.Kinds == nil {
				kept.Kinds = map[string]int64{}
			}
			kept.Kinds[kind] = since.UnixNano()
		}
	}
	data, _ := json.Marshal(kept)
	return data
}
