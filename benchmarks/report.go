package benchmarks

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/aisgo/aisgo/internal/atomicfile"
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
	// Bounds name further Results of the same suite that bound this one,
	// such as the disk figure under a PUT over HTTP; the report shows the
	// ratio to each in the note.
	Bounds []string `json:"bounds,omitempty"`
	// PeakRSS is the peak resident memory in bytes, when measured.
	PeakRSS int64 `json:"peak_rss,omitempty"`
	// Phases are the parts of Elapsed, for figures with phases (dSort).
	Phases []Phase `json:"phases,omitempty"`
	// Skipped marks a figure that was not measured; Note says why.
	Skipped bool `json:"skipped,omitempty"`
	// Note carries detail such as what was moved and where.
	Note string `json:"note,omitempty"`
}

// Phase is one part of a measurement.
type Phase struct {
	Name    string        `json:"name"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// Bytes the phase moved; zero when not counted.
	Bytes int64 `json:"bytes,omitempty"`
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

// SuiteRun describes how one suite of a report ran.
type SuiteRun struct {
	Name string `json:"name"`
	// Size is the bytes moved per measurement.
	Size    int64         `json:"size"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// Error is set when the suite stopped early.
	Error string `json:"error,omitempty"`
}

// Report is a set of results measured in one run on one machine.
type Report struct {
	Date    time.Time  `json:"date"`
	Machine string     `json:"machine"`
	Suites  []SuiteRun `json:"suites,omitempty"`
	Results []Result   `json:"results"`
}

// Add appends results to the report.
func (r *Report) Add(results ...Result) { r.Results = append(r.Results, results...) }

func (r *Report) find(suite, name string) (Result, bool) {
	for _, x := range r.Results {
		if x.Suite == suite && x.Name == name && !x.Skipped {
			return x, true
		}
	}
	return Result{}, false
}

// Ratio is a result's throughput divided by its baseline's, or 0 when it
// has no baseline.
func (r *Report) Ratio(x Result) float64 { return r.RatioTo(x, x.Baseline) }

// RatioTo is a result's throughput divided by that of the result of the
// same suite named name: in bytes per second when both moved bytes, else
// in operations per second; 0 when either is missing.
func (r *Report) RatioTo(x Result, name string) float64 {
	b, ok := r.find(x.Suite, name)
	if !ok || name == "" || x.Skipped {
		return 0
	}
	if b.MiBps() > 0 && x.Bytes > 0 {
		return x.MiBps() / b.MiBps()
	}
	if b.OpsPerSecond() > 0 {
		return x.OpsPerSecond() / b.OpsPerSecond()
	}
	return 0
}

// Markdown renders the report as one table per suite.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# AIS-Go benchmark report\n\n%s, %s\n", r.Date.UTC().Format("2006-01-02 15:04 MST"), r.Machine)
	var suites []string
	for _, s := range r.Suites {
		suites = append(suites, s.Name)
	}
	for _, x := range r.Results {
		if !slices.Contains(suites, x.Suite) {
			suites = append(suites, x.Suite)
		}
	}
	for _, s := range suites {
		fmt.Fprintf(&b, "\n## %s\n\n", s)
		if i := slices.IndexFunc(r.Suites, func(run SuiteRun) bool { return run.Name == s }); i >= 0 {
			run := r.Suites[i]
			fmt.Fprintf(&b, "%s per measurement, %s in all.", formatBytes(run.Size), run.Elapsed.Round(time.Second))
			if run.Error != "" {
				fmt.Fprintf(&b, " **Stopped early:** %s", run.Error)
			}
			b.WriteString("\n\n")
		}
		b.WriteString("| figure | MiB/s | ops/s | time | peak RSS | baseline | ratio | note |\n|---|---:|---:|---:|---:|---|---:|---|\n")
		for _, x := range r.Results {
			if x.Suite != s {
				continue
			}
			if x.Skipped {
				fmt.Fprintf(&b, "| %s | – | – | – | – | %s | – | skipped: %s |\n", x.Name, x.Baseline, x.Note)
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
			mibps := ""
			if x.Bytes > 0 {
				mibps = fmt.Sprintf("%.1f", x.MiBps())
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n",
				x.Name, mibps, ops, x.Elapsed.Round(time.Millisecond), rss, x.Baseline, ratio, r.note(x))
		}
	}
	return b.String()
}

// note is a result's note with its phases and its ratios to its bounds.
func (r *Report) note(x Result) string {
	var parts []string
	if x.Note != "" {
		parts = append(parts, x.Note)
	}
	if len(x.Phases) > 0 {
		var phases []string
		for _, p := range x.Phases {
			phases = append(phases, fmt.Sprintf("%s %s", p.Name, p.Elapsed.Round(time.Millisecond)))
		}
		parts = append(parts, "phases: "+strings.Join(phases, ", "))
	}
	for _, bound := range x.Bounds {
		if q := r.RatioTo(x, bound); q > 0 {
			parts = append(parts, fmt.Sprintf("%.2f of %s", q, bound))
		}
	}
	return strings.ReplaceAll(strings.Join(parts, "; "), "|", `\|`)
}

// formatBytes writes a size in the largest binary unit that divides it,
// e.g. "1 GiB", "100 KiB".
func formatBytes(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.name)
		}
	}
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d B", n)
}

// WriteFiles writes the report as Markdown and JSON next to each other.
func (r *Report) WriteFiles(markdownPath, jsonPath string) error {
	if err := atomicfile.Write(markdownPath, []byte(r.Markdown()), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := atomicfile.Write(jsonPath, data, 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// WriteDir writes report-<date>.md and report-<date>.json into dir, and,
// when latest is set (a whole run), the Markdown again as latest.md: a
// run cut short does not replace the reference with part of one. It
// returns the Markdown file's path.
func (r *Report) WriteDir(dir string, latest bool) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("write report: %w", err)
	}
	base := filepath.Join(dir, "report-"+r.Date.UTC().Format("2006-01-02-150405"))
	if err := r.WriteFiles(base+".md", base+".json"); err != nil {
		return "", err
	}
	if !latest {
		return base + ".md", nil
	}
	// Whole or not at all: the reference stays if the write fails.
	if err := atomicfile.Write(filepath.Join(dir, "latest.md"), []byte(r.Markdown()), 0o644); err != nil {
		return "", fmt.Errorf("write report: %w", err)
	}
	return base + ".md", nil
}

// MachineDescription names the machine a report was measured on: host,
// CPUs (with the model, where /proc/cpuinfo tells it), memory, OS and Go.
func MachineDescription() string {
	host, _ := os.Hostname()
	cpus := fmt.Sprintf("%d CPUs", runtime.NumCPU())
	if model := procField("/proc/cpuinfo", "model name"); model != "" {
		cpus += " (" + model + ")"
	}
	memory := ""
	if total := procField("/proc/meminfo", "MemTotal"); total != "" {
		var kib int64
		if _, err := fmt.Sscanf(total, "%d kB", &kib); err == nil {
			memory = fmt.Sprintf(", %.0f GiB RAM", float64(kib)/(1<<20))
		}
	}
	return fmt.Sprintf("%s, %s%s, %s/%s, %s", host, cpus, memory, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// procField returns the value of the first "key: value" line of a /proc
// file, or "" when there is none.
func procField(path, key string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(data)) {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
