package pipeline

import (
	"time"

	"github.com/aisgo/aisgo/store"
)

// Phase names.
const (
	PhaseInit     = "init"
	PhaseExtract  = "extract"
	PhaseSort     = "sort"
	PhaseCreate   = "create"
	PhaseFinished = "finished"
	// PhaseAborting is a job that failed or was aborted, while its
	// targets stop and its output shards are removed.
	PhaseAborting = "aborting"
)

// PhaseStats is the progress of one phase on one node.
type PhaseStats struct {
	Started  time.Time     `json:"started_time,omitzero"`
	Ended    time.Time     `json:"end_time,omitzero"`
	Elapsed  time.Duration `json:"elapsed"`
	Running  bool          `json:"running"`
	Finished bool          `json:"finished"`
	// Total and Done count shards: to extract and extracted, or to create
	// and created.
	Total   int64 `json:"total_count"`
	Done    int64 `json:"done_count"`
	Records int64 `json:"record_count"`
	Bytes   int64 `json:"bytes"`
	// SpilledFiles and SpilledBytes are extraction contents kept on disk
	// because they did not fit the memory budget.
	SpilledFiles int64 `json:"spilled_count,omitempty"`
	SpilledBytes int64 `json:"spilled_size,omitempty"`
	// Missing counts the input shards not found and skipped
	// (missing_shards ignore or warn); Done counts them too.
	Missing int64 `json:"missing_count,omitempty"`
}

// JobStats is the state of a job on one node.
type JobStats struct {
	ID          string       `json:"id"`
	Node        string       `json:"node"`
	Description string       `json:"description,omitempty"`
	Input       store.Bucket `json:"input_bck"`
	Output      store.Bucket `json:"output_bck"`
	Started     time.Time    `json:"started_time"`
	Finished    time.Time    `json:"finish_time,omitzero"`
	Phase       string       `json:"phase"`
	Extract     PhaseStats   `json:"extraction"`
	Sort        PhaseStats   `json:"sorting"`
	Create      PhaseStats   `json:"creation"`
	// MemoryPeak is the most record bytes held in memory at once, and
	// MemoryLimit the job's budget on this node.
	MemoryPeak  int64    `json:"memory_peak"`
	MemoryLimit int64    `json:"memory_limit"`
	Warnings    []string `json:"warnings,omitempty"`
	Errors      []string `json:"errors,omitempty"`
	Aborted     bool     `json:"aborted"`
	Archived    bool     `json:"archived"`
	// Targets are the ids of the targets of this node's attempt of the
	// job (one restarted on fewer has fewer than the job began with);
	// unknown for a job known by its finished mark only.
	Targets []string `json:"targets,omitempty"`
	// Attempt is that attempt's number, from 0 (one with Targets).
	Attempt int `json:"attempt,omitempty"`
}

// Done reports whether the job ended, one way or the other.
func (s JobStats) Done() bool { return s.Aborted || s.Archived }

// phaseClock fills in the timing fields of a phase.
func (p *PhaseStats) start(now time.Time) {
	p.Started, p.Running = now, true
}

func (p *PhaseStats) end(now time.Time) {
	if !p.Running {
		return
	}
	p.Ended, p.Running, p.Finished = now, false, true
	p.Elapsed = p.Ended.Sub(p.Started)
}

// stop ends a running phase that did not finish (the job failed or was
// aborted in it): a client that waits for the phases to finish must not
// take it for done.
func (p *PhaseStats) stop(now time.Time) {
	if !p.Running {
		return
	}
	p.Ended, p.Running = now, false
	p.Elapsed = p.Ended.Sub(p.Started)
}

// snapshot returns the phase with Elapsed up to now when running.
func (p PhaseStats) snapshot(now time.Time) PhaseStats {
	if p.Running {
		p.Elapsed = now.Sub(p.Started)
	}
	return p
}
