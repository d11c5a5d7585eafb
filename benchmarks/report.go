package benchmarks

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// Result is one measured figure.
type Result struct {
	Suite string `json:"suite"` // "formats", "store", "http", "dsort", ...
	Name  string `json:"name"`  // what was measured, unique within the suite
	// Bytes and Ops moved in Elapsed; either may be zero.
	Bytes   int64         `json:"bytes"`
	Ops     int64         `json:"ops"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// Baseline names the Result of the same suite this one is compared
	// with; empty for a baseline itself.
	Baseline string `json:"baseline,omitempty"`
	// PeakRSS is the peak resident memory in bytes, when measured.
	PeakRSS int64 `json:"peak_rss,omitempty"`
	// Note carries detail such as per-phase times.
	Note string `json:"note,omitempty"`
}

// MiBps is the throughput in MiB/s, or 0 when nothing was timed.
func (r Result) MiBps() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Bytes) / (1 << 20) / r.Elapsed.Seconds()
}

// OpsPerSecond is the operation rate, or 0 when nothing was timed.
func (r Result) OpsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// Report is a set of results measured in one run on one machine.
type Report struct {
	Date    time.Time `json:"date"`
	Machine string    `json:"machine"`
	Results []Result  `json:"results"`
}

// Add appends results to the report.
func (r *Report) Add(results ...Result) { r.Results = append(r.Results, results...) }

func (r *Report) find(suite, name string) (Result, bool) {
	for _, x := range r.Results {
		if x.Suite == suite && x.Name == name {
			return x, true
		}
	}
	return Result{}, false
}

// Ratio is a result's throughput divided by its baseline's, or 0 when it
// has no baseline.
func (r *Report) Ratio(x Result) float64 {
	b, ok := r.find(x.Suite, x.Baseline)
	if !ok || b.MiBps() == 0 {
		if ok && b.OpsPerSecond() > 0 {
			return x.OpsPerSecond() / b.OpsPerSecond()
		}
		return 0
	}
	return x.MiBps() / b.MiBps()
}

// Markdown renders the report as one table per suite.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# AIS-Go benchmark report\n\n%s, %s\n", r.Date.UTC().Format("2006-01-02 15:04 MST"), r.Machine)
	var suites []string
	for _, x := range r.Results {
		if !contains(suites, x.Suite) {
			suites = append(suites, x.Suite)
		}
	}
	for _, s := range suites {
		fmt.Fprintf(&b, "\n## %s\n\n| measure | MiB/s | ops/s | time | peak RSS | baseline | ratio | note |\n|---|---:|---:|---:|---:|---|---:|---|\n", s)
		for _, x := range r.Results {
			if x.Suite != s {
				continue
			}
			ratio := ""
			if q := r.Ratio(x); q > 0 {
				ratio = fmt.Sprintf("%.2f", q)
			}
			rss := ""
			if x.PeakRSS > 0 {
				rss = fmt.Sprintf("%.0f MiB", float64(x.PeakRSS)/(1<<20))
			}
			ops := ""
			if x.Ops > 0 {
				ops = fmt.Sprintf("%.0f", x.OpsPerSecond())
			}
			fmt.Fprintf(&b, "| %s | %.1f | %s | %s | %s | %s | %s | %s |\n",
				x.Name, x.MiBps(), ops, x.Elapsed.Round(time.Millisecond), rss, x.Baseline, ratio, x.Note)
		}
	}
	return b.String()
}

// WriteFiles writes the report as Markdown and JSON next to each other.
func (r *Report) WriteFiles(markdownPath, jsonPath string) error {
	if err := os.WriteFile(markdownPath, []byte(r.Markdown()), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(jsonPath, data, 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// MachineDescription names the machine a report was measured on.
func MachineDescription() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s, %d CPUs, %s/%s, %s", host, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
