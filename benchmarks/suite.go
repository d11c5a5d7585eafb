package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// Config is what every suite is given.
type Config struct {
	// Dir is a scratch directory the suite may fill; the caller creates
	// and removes it. Run gives each suite its own subdirectory.
	Dir string
	// Size is the bytes moved per measurement; zero means the suite's
	// DefaultSize.
	Size int64
	// Aisnode is the path of the aisnode binary, for the figures measured
	// on a local cluster of processes; empty skips them with a note.
	Aisnode string
	// RebalanceObjects is how many objects the rebalance figure moves
	// onto a new target; zero means 10,000.
	RebalanceObjects int
	// RebalanceWait is how long a new target may go without any node
	// reporting a rebalance job before the figure is skipped; zero means
	// 10s.
	RebalanceWait time.Duration
	// ControlCreates is how many bucket creates each control-plane
	// latency figure times; zero means 200.
	ControlCreates int
	// FailoverKills is how many times the failover figure kills the
	// primary; zero means 5.
	FailoverKills int
	// Logger receives progress, one line per figure; nil discards it.
	Logger *slog.Logger
}

// Suite is a named set of figures, each measured beside its baseline.
type Suite struct {
	Name string
	// Doc says in one line what the suite measures.
	Doc string
	// DefaultSize is the bytes per measurement when Config.Size is zero.
	DefaultSize int64
	// Run measures the suite. On error it returns what it measured so far.
	Run func(ctx context.Context, cfg Config) ([]Result, error)
}

// Suites returns every suite, in the order a full run measures them. A
// new suite is one more entry here.
func Suites() []Suite {
	return []Suite{baselineSuite(), storeSuite(), httpSuite(), loaderSuite(), formatsSuite(), dsortSuite(), peerAuthSuite(), controlPlaneSuite(), protectionSuite(), s3Suite(), datapathSuite(), remoteSuite(), pythonSuite(), authSuite(), multihostSuite()}
}

// SuiteNames returns the names of Suites().
func SuiteNames() []string {
	var names []string
	for _, s := range Suites() {
		names = append(names, s.Name)
	}
	return names
}

// SelectSuites returns the suites with the given names, in that order.
func SelectSuites(names []string) ([]Suite, error) {
	var out []Suite
	for _, name := range names {
		found := false
		for _, s := range Suites() {
			if s.Name == name {
				out, found = append(out, s), true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("no benchmark suite %q (have %v)", name, SuiteNames())
		}
	}
	return out, nil
}

// Run measures suites one after another, each in a new subdirectory of
// cfg.Dir that is removed when it ends, and gathers their results in one
// report. A failing suite keeps what it measured, its error goes into the
// report and the other suites still run; the errors are returned joined.
func Run(ctx context.Context, cfg Config, suites []Suite) (*Report, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	report := &Report{Date: time.Now(), Machine: MachineDescription()}
	var errs []error
	for _, s := range suites {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		run := SuiteRun{Name: s.Name, Size: cfg.Size}
		if run.Size == 0 {
			run.Size = s.DefaultSize
		}
		suiteCfg := cfg
		suiteCfg.Size = run.Size
		suiteCfg.Logger = logger
		logger.Info("suite", "name", s.Name, "size", formatBytes(run.Size), "doc", s.Doc)
		start := time.Now()
		results, err := runSuite(ctx, s, suiteCfg)
		run.Elapsed = time.Since(start)
		if err != nil {
			run.Error = err.Error()
			errs = append(errs, fmt.Errorf("suite %s: %w", s.Name, err))
			logger.Error("suite stopped early", "name", s.Name, "err", err)
		}
		for i := range results {
			results[i].Suite = s.Name
		}
		report.Suites = append(report.Suites, run)
		report.Add(results...)
	}
	return report, errors.Join(errs...)
}

// runSuite runs a suite in a new directory of its own under cfg.Dir. Its
// name is random so that ext4 places it in a block group of its own (see
// spreadDirectories), not in the one the last run of the suite left.
func runSuite(ctx context.Context, s Suite, cfg Config) ([]Result, error) {
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	spreadDirectories(cfg.Dir)
	dir, err := os.MkdirTemp(cfg.Dir, s.Name+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cfg.Dir = dir
	return s.Run(ctx, cfg)
}

func formatsSuite() Suite {
	return Suite{
		Name:        "formats",
		Doc:         "every shard format writing and reading a shard, beside io.Copy and the raw codecs",
		DefaultSize: 1 << 30,
		Run: func(ctx context.Context, cfg Config) ([]Result, error) {
			return Formats(ctx, FormatsOptions{Dir: cfg.Dir, TotalBytes: cfg.Size})
		},
	}
}
