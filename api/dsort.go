package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DsortPhase is the progress of one dSort phase on one target, with
// AIStore's field names. Elapsed is in nanoseconds.
type DsortPhase struct {
	Started  time.Time `json:"started_time,omitzero"`
	Ended    time.Time `json:"end_time,omitzero"`
	Elapsed  int64     `json:"elapsed"`
	Running  bool      `json:"running"`
	Finished bool      `json:"finished"`
}

// DsortExtraction is the extraction phase (AIStore's local_extraction).
type DsortExtraction struct {
	DsortPhase
	TotalCount           int64 `json:"total_count"`
	ExtractedCount       int64 `json:"extracted_count"`
	ExtractedSize        int64 `json:"extracted_size"`
	ExtractedRecordCount int64 `json:"extracted_record_count"`
	ExtractedToDiskCount int64 `json:"extracted_to_disk_count"`
	ExtractedToDiskSize  int64 `json:"extracted_to_disk_size"`
	// MissingCount is the input shards not found and skipped
	// (missing_shards ignore or warn), counted in ExtractedCount too.
	MissingCount int64 `json:"missing_count,omitempty"`
}

// DsortCreation is the creation phase (AIStore's shard_creation).
type DsortCreation struct {
	DsortPhase
	ToCreate           int64 `json:"to_create"`
	CreatedCount       int64 `json:"created_count"`
	CreatedSize        int64 `json:"created_size"`
	CreatedRecordCount int64 `json:"created_record_count"`
	MovedShardCount    int64 `json:"moved_shard_count"`
}

// DsortMetrics are a job's metrics on one target.
type DsortMetrics struct {
	Extraction  DsortExtraction `json:"local_extraction"`
	Sorting     DsortPhase      `json:"meta_sorting"`
	Creation    DsortCreation   `json:"shard_creation"`
	Description string          `json:"description,omitempty"`
	Warnings    []string        `json:"warnings,omitempty"`
	Errors      []string        `json:"errors,omitempty"`
	Aborted     bool            `json:"aborted"`
	Archived    bool            `json:"archived"`
	// MemoryPeak and MemoryLimit: record bytes held in memory at most,
	// and the job's budget on the target.
	MemoryPeak  int64 `json:"memory_peak"`
	MemoryLimit int64 `json:"memory_limit"`
}

// DsortJobInfo is a job on one target (GET /v1/sort?uuid=ID maps target
// ids to it), or, in a listing, the job summed over its targets.
type DsortJobInfo struct {
	ID          string       `json:"id"`
	SourceBck   DsortBucket  `json:"src-bck"`
	DestBck     DsortBucket  `json:"dst-bck"`
	StartedTime time.Time    `json:"started_time"`
	FinishTime  time.Time    `json:"finish_time,omitzero"`
	Phase       string       `json:"phase,omitempty"`
	Metrics     DsortMetrics `json:"Metrics"`
	Aborted     bool         `json:"aborted"`
	Archived    bool         `json:"archived"`
}

// DsortStart submits a job spec (JSON or YAML) and returns the job id.
func (c *Client) DsortStart(ctx context.Context, spec []byte) (string, error) {
	resp, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/sort", body: strings.NewReader(string(spec)), size: int64(len(spec)),
		header: http.Header{"Content-Type": {"application/json"}}, startsJob: true})
	if err != nil {
		return "", err
	}
	defer drain(resp)
	id, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		// "dry_run": "estimate" starts no job: the answer is an estimate.
		return "", errors.New(`api: the spec asks for an estimate ("dry_run": "estimate"), which starts no job: use EstimateDsort`)
	}
	return strings.TrimSpace(string(id)), nil
}

// DsortMetrics returns a job's metrics per target.
func (c *Client) DsortMetrics(ctx context.Context, id string) (map[string]DsortJobInfo, error) {
	out := map[string]DsortJobInfo{}
	err := c.doJSON(ctx, request{method: http.MethodGet, path: "/v1/sort", query: url.Values{QueryUUID: {id}}}, &out)
	return out, err
}

// DsortList lists jobs; regex filters by description or id, onlyActive
// leaves out finished ones.
func (c *Client) DsortList(ctx context.Context, regex string, onlyActive bool) ([]DsortJobInfo, error) {
	q := url.Values{}
	if regex != "" {
		q.Set(QueryRegex, regex)
	}
	if onlyActive {
		q.Set(QueryOnlyActive, "true")
	}
	var out []DsortJobInfo
	err := c.doJSON(ctx, request{method: http.MethodGet, path: "/v1/sort", query: q}, &out)
	return out, err
}

// DsortAbort stops a running job.
func (c *Client) DsortAbort(ctx context.Context, id string) error {
	// Patient: the gateway answers once every target stopped the job,
	// which may take longer than a gateway's usual answer.
	return c.doJSON(ctx, request{method: http.MethodDelete, path: "/v1/sort/abort", query: url.Values{QueryUUID: {id}}, patient: true}, nil)
}

// DsortRemove forgets a finished job.
func (c *Client) DsortRemove(ctx context.Context, id string) error {
	return c.removeJob(ctx, request{method: http.MethodDelete, path: "/v1/sort", query: url.Values{QueryUUID: {id}}})
}

// removeJob sends a job's removal; one sent again after its answer was
// lost finds the job gone by the first: done.
func (c *Client) removeJob(ctx context.Context, rq request) error {
	resent := false
	rq.resent = &resent
	err := c.doJSON(ctx, rq, nil)
	if resent && (errors.Is(err, ErrJobNotFound) || errors.Is(err, ErrNotFound)) {
		return nil
	}
	return err
}

// merge sums a target's phase into the job's: running while one runs,
// finished once every one finished, from the first start to the last end.
func (p *DsortPhase) merge(t DsortPhase) {
	p.Elapsed = max(p.Elapsed, t.Elapsed)
	p.Running = p.Running || t.Running
	p.Finished = p.Finished && t.Finished
	if !t.Started.IsZero() && (p.Started.IsZero() || t.Started.Before(p.Started)) {
		p.Started = t.Started
	}
	if t.Ended.After(p.Ended) {
		p.Ended = t.Ended
	}
}

// DsortSummary sums a job's metrics over its targets.
func DsortSummary(perTarget map[string]DsortJobInfo) DsortJobInfo {
	var sum DsortJobInfo
	first := true
	for _, info := range perTarget {
		m := info.Metrics
		if first {
			sum = DsortJobInfo{ID: info.ID, SourceBck: info.SourceBck, DestBck: info.DestBck, StartedTime: info.StartedTime, Phase: info.Phase, Archived: true}
			sum.Metrics.Description = m.Description
			// Every phase finished until a target says otherwise.
			sum.Metrics.Extraction.Finished, sum.Metrics.Sorting.Finished, sum.Metrics.Creation.Finished = true, true, true
			first = false
		}
		if info.StartedTime.Before(sum.StartedTime) {
			sum.StartedTime = info.StartedTime
		}
		if info.FinishTime.After(sum.FinishTime) {
			sum.FinishTime = info.FinishTime
		}
		sum.Aborted = sum.Aborted || info.Aborted
		sum.Archived = sum.Archived && info.Archived
		s := &sum.Metrics
		s.Extraction.TotalCount += m.Extraction.TotalCount
		s.Extraction.ExtractedCount += m.Extraction.ExtractedCount
		s.Extraction.ExtractedSize += m.Extraction.ExtractedSize
		s.Extraction.ExtractedRecordCount += m.Extraction.ExtractedRecordCount
		s.Extraction.ExtractedToDiskCount += m.Extraction.ExtractedToDiskCount
		s.Extraction.ExtractedToDiskSize += m.Extraction.ExtractedToDiskSize
		s.Extraction.MissingCount += m.Extraction.MissingCount
		s.Extraction.merge(m.Extraction.DsortPhase)
		s.Sorting.merge(m.Sorting)
		s.Creation.merge(m.Creation.DsortPhase)
		s.Creation.ToCreate += m.Creation.ToCreate
		s.Creation.CreatedCount += m.Creation.CreatedCount
		s.Creation.CreatedSize += m.Creation.CreatedSize
		s.Creation.CreatedRecordCount += m.Creation.CreatedRecordCount
		s.MemoryPeak = max(s.MemoryPeak, m.MemoryPeak)
		s.Warnings = append(s.Warnings, m.Warnings...)
		for _, e := range m.Errors {
			s.Errors = append(s.Errors, e)
		}
		s.Aborted, s.Archived = sum.Aborted, sum.Archived
		if phaseRank(info.Phase) < phaseRank(sum.Phase) {
			sum.Phase = info.Phase // the job is as far as its slowest target
		}
	}
	if first {
		return sum
	}
	sum.Metrics.Errors = dedupe(sum.Metrics.Errors)
	sum.Metrics.Warnings = dedupe(sum.Metrics.Warnings)
	return sum
}

func phaseRank(p string) int {
	return map[string]int{"init": 0, "extract": 1, "sort": 2, "create": 3, "finished": 4}[p]
}

func dedupe(list []string) []string {
	seen := map[string]bool{}
	out := list[:0]
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// DsortError returns the job's first error, if it was aborted.
func DsortError(sum DsortJobInfo) error {
	if !sum.Aborted {
		return nil
	}
	if len(sum.Metrics.Errors) > 0 {
		return fmt.Errorf("dsort job %s aborted: %s", sum.ID, strings.Join(sum.Metrics.Errors, "; "))
	}
	return fmt.Errorf("dsort job %s aborted", sum.ID)
}
