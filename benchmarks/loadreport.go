package benchmarks

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/aisgo/aisgo/internal/atomicfile"
	"github.com/aisgo/aisgo/shards"
)

// LoadReport is what a load did: its settings, totals per operation and
// the stats of each interval.
type LoadReport struct {
	Endpoint   string    `json:"endpoint"`
	Bucket     string    `json:"bucket"`
	Workers    int       `json:"workers"`
	PutPercent int       `json:"pctput"`
	MinSize    int64     `json:"minsize"`
	MaxSize    int64     `json:"maxsize"`
	Seed       uint64    `json:"seed"`
	Start      time.Time `json:"start"`
	// StopReason is the bound that ended the run: "duration",
	// "operations", "puts", "total put size", "errors" or "interrupted".
	StopReason string `json:"stop_reason"`
	// LoadStats are the totals of the run; Elapsed excludes the cleanup.
	LoadStats
	// Delete counts the cleanup's deletions, when asked for, over
	// CleanupElapsed; Delete.Cut the ones cut by an interrupt (left).
	Delete         OpStats       `json:"delete"`
	CleanupElapsed time.Duration `json:"cleanup_elapsed_ns,omitempty"`
	// Intervals are the stats of each StatsInterval.
	Intervals []LoadStats `json:"intervals,omitempty"`
}

// LoadStats are the stats of an interval or of a whole run.
type LoadStats struct {
	// At is the end of the interval, from the start of the run.
	At      time.Duration `json:"at_ns"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Put     OpStats       `json:"put"`
	Get     OpStats       `json:"get"`
}

// OpStats count one kind of operation; errors are not in Ops or Bytes.
// Cut counts the operations under way when the run ended (its duration
// and grace, or an interrupt): their bytes moved are in Bytes, as their
// time is in the run's, but they are not in Ops or the latencies.
type OpStats struct {
	Ops          int64            `json:"ops"`
	Bytes        int64            `json:"bytes"`
	Cut          int64            `json:"cut,omitempty"`
	Errors       int64            `json:"errors"`
	ErrorKinds   map[string]int64 `json:"error_kinds,omitempty"`
	OpsPerSecond float64          `json:"ops_per_second"`
	MiBPerSecond float64          `json:"mib_per_second"`
	Latency      Latency          `json:"latency"`
}

// Latency summarizes the durations of successful operations; percentiles
// are within 3%.
type Latency struct {
	Avg time.Duration `json:"avg_ns"`
	Min time.Duration `json:"min_ns"`
	P50 time.Duration `json:"p50_ns"`
	P90 time.Duration `json:"p90_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
}

// Errors is the count of failed operations, cleanup included.
func (r *LoadReport) Errors() int64 { return r.Put.Errors + r.Get.Errors + r.Delete.Errors }

// kinds are the operations the load does, for printing.
func (r *LoadReport) kinds() []string {
	var out []string
	if r.PutPercent > 0 || r.Put.Ops+r.Put.Errors > 0 {
		out = append(out, "PUT")
	}
	if r.PutPercent < 100 {
		out = append(out, "GET")
	}
	return out
}

// WriteStatsHeader prints the header of the rows of WriteStats.
func WriteStatsHeader(w io.Writer) {
	fmt.Fprintf(w, "%-8s %-6s %10s %10s %10s %10s %9s %9s %9s %9s %9s %7s\n",
		"Time", "OP", "Count", "Ops/s", "Bytes", "MiB/s", "Avg", "P50", "P90", "P99", "Max", "Errors")
}

// WriteStats prints one row per operation kind of s ("PUT", "GET",
// "DELETE").
func WriteStats(w io.Writer, s LoadStats, kinds ...string) {
	for _, kind := range kinds {
		var o OpStats
		switch kind {
		case "PUT":
			o = s.Put
		case "GET":
			o = s.Get
		default:
			continue
		}
		writeRow(w, s.At, kind, o)
	}
}

func writeRow(w io.Writer, at time.Duration, kind string, o OpStats) {
	fmt.Fprintf(w, "%-8s %-6s %10d %10.1f %10s %10.2f %9s %9s %9s %9s %9s %7d\n",
		at.Round(100*time.Millisecond), kind, o.Ops, o.OpsPerSecond, shards.FormatSize(o.Bytes), o.MiBPerSecond,
		short(o.Latency.Avg), short(o.Latency.P50), short(o.Latency.P90), short(o.Latency.P99), short(o.Latency.Max), o.Errors)
}

// short rounds a duration to three significant digits or so.
func short(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	case d >= time.Microsecond:
		return d.Round(10 * time.Nanosecond).String()
	}
	return d.String()
}

// WriteSummary prints the totals of the run.
func (r *LoadReport) WriteSummary(w io.Writer) {
	fmt.Fprintf(w, "\nSummary: %s on ais://%s, %d workers, %d%% PUT, sizes %s-%s, seed %d, %s, stopped by %s\n",
		r.Endpoint, r.Bucket, r.Workers, r.PutPercent, shards.FormatSize(r.MinSize), shards.FormatSize(r.MaxSize),
		r.Seed, r.Elapsed.Round(time.Millisecond), r.StopReason)
	WriteStatsHeader(w)
	WriteStats(w, r.LoadStats, r.kinds()...)
	if r.Delete.Ops+r.Delete.Errors+r.Delete.Cut > 0 {
		writeRow(w, r.CleanupElapsed, "DELETE", r.Delete)
	}
	for _, o := range []struct {
		kind string
		s    OpStats
	}{{"PUT", r.Put}, {"GET", r.Get}, {"DELETE", r.Delete}} {
		for kind, n := range o.s.ErrorKinds {
			fmt.Fprintf(w, "%s errors of kind %s: %d\n", o.kind, kind, n)
		}
		if o.s.Cut > 0 {
			fmt.Fprintf(w, "%s operations cut as the run ended: %d (their bytes are counted, not their count)\n", o.kind, o.s.Cut)
		}
	}
}

// WriteJSON writes the report to a file.
func (r *LoadReport) WriteJSON(path string) error {
	data, err := r.JSON()
	if err != nil {
		return err
	}
	// Whole or not at all: a run cut while it writes leaves the last one.
	if err := atomicfile.Write(path, data, 0o644); err != nil {
		return fmt.Errorf("write load report: %w", err)
	}
	return nil
}

// JSON is the report as indented JSON, with a final newline.
func (r *LoadReport) JSON() ([]byte, error) {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode load report: %w", err)
	}
	return append(data, '\n'), nil
}

// Results turns the report into benchmark results of a suite, one per
// operation kind the load did, for a Report.
func (r *LoadReport) Results(suite string) []Result {
	var out []Result
	for _, o := range []struct {
		kind string
		s    OpStats
	}{{"PUT", r.Put}, {"GET", r.Get}} {
		if o.s.Ops == 0 && o.s.Bytes == 0 {
			continue
		}
		out = append(out, Result{
			Suite:   suite,
			Name:    fmt.Sprintf("aisloader %s %s-%s %d workers %d%% PUT", o.kind, shards.FormatSize(r.MinSize), shards.FormatSize(r.MaxSize), r.Workers, r.PutPercent),
			Bytes:   o.s.Bytes,
			Ops:     o.s.Ops,
			Elapsed: r.Elapsed,
			Note: fmt.Sprintf("latency p50 %s p90 %s p99 %s max %s, %d errors, %d cut as the run ended",
				short(o.s.Latency.P50), short(o.s.Latency.P90), short(o.s.Latency.P99), short(o.s.Latency.Max), o.s.Errors, o.s.Cut),
		})
	}
	return out
}
