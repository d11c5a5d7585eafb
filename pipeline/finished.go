package pipeline

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aisgo/aisgo/internal/atomicfile"
	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/store"
)

// A job the coordinator said finished leaves a mark on each target: its
// journal, renamed. A target that restarts before the registry records
// the job's end (its coordinator died meanwhile) still answers
// "finished" for it, so the gateway that settles the job does not take
// that target's shards for lost; and should the job be recorded aborted
// after all (another target lost its part), the mark still lists the
// shards this target wrote, to be removed (Unfinish).

// finishedSuffix ends a finished mark's name: dsort-<id>.finished.
const finishedSuffix = ".finished"

// maxFinishedMarks bounds the marks kept, the oldest going first: the
// registry keeps as many ended jobs.
var maxFinishedMarks = 256 // a variable for the tests

// markHeaderLimit bounds what is read of a mark to learn its bucket (the
// first line; the shard names follow).
const markHeaderLimit = 64 << 10

func finishedName(dir, id string) string {
	return filepath.Join(dir, "dsort-"+id+finishedSuffix)
}

// loadFinishedMarks reads the marks in the work directories.
func loadFinishedMarks(dirs []string) map[string]finishedMark {
	marks := map[string]finishedMark{}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			id, ok := strings.CutSuffix(strings.TrimPrefix(e.Name(), "dsort-"), finishedSuffix)
			if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), "dsort-") || !ok || ValidateJobID(id) != nil {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue
			}
			mark := finishedMark{path: filepath.Join(dir, e.Name()), at: info.ModTime()}
			mark.output, _ = readMarkBucket(mark.path)
			if old, seen := marks[id]; !seen || old.at.Before(mark.at) {
				marks[id] = mark
			}
		}
	}
	return marks
}

// readMarkBucket reads the output bucket a mark (or journal) names on its
// first line.
func readMarkBucket(path string) (store.Bucket, error) {
	f, err := os.Open(path)
	if err != nil {
		return store.Bucket{}, err
	}
	defer f.Close()
	line, err := bufio.NewReaderSize(f, 4096).ReadSlice('\n')
	if err != nil && len(line) == 0 {
		return store.Bucket{}, err
	}
	if len(line) > markHeaderLimit {
		return store.Bucket{}, errors.New("dsort mark: first line too long")
	}
	var uri string
	if err := json.Unmarshal(bytes.TrimSpace(line), &uri); err != nil {
		return store.Bucket{}, fmt.Errorf("dsort mark: %w", err)
	}
	return store.ParseBucketURI(uri)
}

// markFinished turns the job's journal into its finished mark, durably;
// a job that wrote no shard here gets a mark that names its bucket only.
// A mark that cannot be made leaves the journal dropped, as before marks:
// a restart then counts this target's part lost, it never removes the
// output of a job reported finished.
func (j *targetJob) markFinished() {
	j.mu.Lock()
	if j.mu.journal != nil {
		j.mu.journal.Close()
		j.mu.journal = nil
	}
	j.mu.Unlock()
	mark := finishedName(j.workDir, j.id)
	err := pathsafe.Rename(j.workDir, j.journalName(), mark)
	if errors.Is(err, os.ErrNotExist) {
		bucket, _ := json.Marshal(j.plan.Output.String())
		attempt, _ := json.Marshal(journalAttempt{Attempt: &j.attempt})
		err = pathsafe.MkdirAll(j.workDir, j.workDir, 0o755)
		if err == nil {
			err = atomicfile.Write(mark, append(append(append(bucket, '\n'), attempt...), '\n'), 0o644)
		}
	}
	if err != nil {
		j.logger.Warn("dsort job's finished mark not made: a restart before the registry records its end counts this target's shards lost", "err", err)
		j.dropJournal()
		return
	}
	if err := atomicfile.SyncDir(j.workDir); err != nil {
		// Made, maybe not durably: kept track of all the same.
		j.logger.Warn("dsort job's finished mark not synced", "err", err)
	}
	w := j.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if old, ok := w.mu.finished[j.id]; ok && old.path != mark {
		pathsafe.Remove(filepath.Dir(old.path), old.path) // an earlier attempt's, in a work directory since left
	}
	w.mu.finished[j.id] = finishedMark{path: mark, output: j.plan.Output, at: time.Now()}
	w.pruneFinishedLocked()
}

// pruneFinishedLocked removes the oldest marks beyond maxFinishedMarks;
// w.mu is held.
func (w *Worker) pruneFinishedLocked() {
	if len(w.mu.finished) <= maxFinishedMarks {
		return
	}
	ids := slices.SortedFunc(maps.Keys(w.mu.finished), func(a, b string) int {
		return w.mu.finished[a].at.Compare(w.mu.finished[b].at)
	})
	for _, id := range ids[:len(ids)-maxFinishedMarks] {
		mark := w.mu.finished[id]
		if err := pathsafe.Remove(filepath.Dir(mark.path), mark.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			w.config.Logger.Warn("remove an old dsort finished mark", "mark", mark.path, "err", err)
			continue
		}
		delete(w.mu.finished, id)
	}
}

// finishedHere reports whether a job not running here finished here.
func (w *Worker) finishedHere(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.mu.finished[id]
	return ok
}

// finishedStats is what is left of a job finished here before a restart.
func (w *Worker) finishedStats(id string) (JobStats, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	mark, ok := w.mu.finished[id]
	if !ok {
		return JobStats{}, false
	}
	return JobStats{
		ID: id, Node: w.config.NodeID, Output: mark.output,
		Phase: PhaseFinished, Finished: mark.at, Archived: true,
	}, true
}

// ForgetFinished removes a job's finished mark, once the registry records
// the job's end; it reports whether there was one.
func (w *Worker) ForgetFinished(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	mark, ok := w.mu.finished[id]
	if !ok {
		return false
	}
	if err := pathsafe.Remove(filepath.Dir(mark.path), mark.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		w.config.Logger.Warn("remove a dsort finished mark", "mark", mark.path, "err", err)
	}
	delete(w.mu.finished, id)
	return true
}

// FinishedJobs returns the jobs whose finished marks this target keeps.
func (w *Worker) FinishedJobs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Sorted(maps.Keys(w.mu.finished))
}

// Unfinish takes back the finished mark of a job the registry records
// aborted (it finished here, another target lost its part): the mark
// becomes a journal again, and Recover removes the shards it lists that
// this job wrote. Call Recover after it.
func (w *Worker) Unfinish(id string) error {
	if err := ValidateJobID(id); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	mark, ok := w.mu.finished[id]
	if !ok {
		return nil
	}
	if j, running := w.mu.jobs[id]; running && !j.stats().Done() {
		return fmt.Errorf("%w: %s", ErrJobRunning, id) // a later attempt runs
	}
	dir := filepath.Dir(mark.path)
	journal := filepath.Join(dir, "dsort-"+id+".journal")
	if _, err := os.Lstat(journal); err == nil {
		// Another attempt's list: not to be replaced by this one.
		return fmt.Errorf("dsort job %s: a journal of it is there already (%s): its mark is kept", id, filepath.Base(journal))
	}
	if err := pathsafe.Rename(dir, mark.path, journal); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("dsort job %s: take back its finished mark: %w", id, err)
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		return fmt.Errorf("dsort job %s: take back its finished mark: %w", id, err)
	}
	delete(w.mu.finished, id)
	// Forgotten (its stats too): Recover takes a job it knows for one
	// that runs or finished here.
	if j, known := w.mu.jobs[id]; known && j.stats().Done() {
		delete(w.mu.jobs, id)
	}
	return nil
}
