package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/aisgo/aisgo/internal/sibling"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/aisgo/aisgo/benchmarks"
	"github.com/aisgo/aisgo/shards"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "aisbench:", err)
			os.Exit(1)
		}
	}
}

func run(args []string) error {
	flags := flag.NewFlagSet("aisbench", flag.ContinueOnError)
	flags.Usage = func() {
		fmt.Fprintf(flags.Output(), "Usage: aisbench [flags]\n\nRuns benchmark suites and writes a report; every figure sits beside its baseline measured in the same run.\n\nSuites:\n")
		for _, s := range benchmarks.Suites() {
			fmt.Fprintf(flags.Output(), "  %-9s %s (default %s per measurement)\n", s.Name, s.Doc, shards.FormatSize(s.DefaultSize))
		}
		fmt.Fprintf(flags.Output(), "\nFlags:\n")
		flags.PrintDefaults()
	}
	out := flags.String("out", "", "`directory` for report-<date>.md, report-<date>.json and latest.md (default: print the Markdown only)")
	suites := flags.String("suites", strings.Join(benchmarks.SuiteNames(), ","), "comma-separated suites to run")
	size := flags.String("size", "", "bytes per measurement, e.g. 64MiB or 1GiB (default: each suite's own)")
	dir := flags.String("dir", "", "scratch `directory`; a temporary directory is made inside it and removed at the end (default "+os.TempDir()+")")
	aisnode := flags.String("aisnode", "", "aisnode binary for the cluster figures (default: next to aisbench, or in PATH)")
	rebalance := flags.Int("rebalance-objects", 0, "objects the rebalance figure moves (default 10000)")
	quiet := flags.Bool("q", false, "no progress on stderr")
	cpuProfile := flags.String("cpuprofile", "", "write a CPU profile of the whole run (client and embedded nodes) to `file`, for go tool pprof")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (see -help)", flags.Args())
	}
	selected, err := benchmarks.SelectSuites(strings.Split(*suites, ","))
	if err != nil {
		return err
	}
	cfg := benchmarks.Config{RebalanceObjects: *rebalance}
	if *size != "" {
		if cfg.Size, err = shards.ParseSize(*size); err != nil {
			return fmt.Errorf("-size: %w", err)
		}
		if cfg.Size <= 0 {
			return fmt.Errorf("-size %s: must be positive", *size)
		}
	}
	if cfg.Aisnode, err = findAisnode(*aisnode); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *quiet {
		level = slog.LevelError
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if cfg.Aisnode == "" {
		cfg.Logger.Warn("no aisnode binary next to aisbench or in PATH: the cluster figures are skipped")
	}

	scratch, err := os.MkdirTemp(*dir, "aisbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	cfg.Dir = scratch

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// The first signal stops the run (the suite running winds down); a
	// second ends the process at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	report, runErr := benchmarks.Run(ctx, cfg, selected)
	if *out == "" {
		fmt.Print(report.Markdown())
	} else {
		path, err := report.WriteDir(*out, runErr == nil)
		if err != nil {
			return errors.Join(runErr, err)
		}
		if runErr == nil {
			fmt.Printf("report: %s (and %s)\n", path, filepath.Join(*out, "latest.md"))
		} else {
			fmt.Printf("report of the run cut short: %s (%s kept)\n", path, filepath.Join(*out, "latest.md"))
		}
	}
	return runErr
}

// findAisnode returns the aisnode binary: the flag, next to aisbench, or
// in PATH; "" when there is none.
func findAisnode(flagValue string) (string, error) {
	path, err := sibling.Find("aisnode", flagValue)
	if err != nil && flagValue == "" {
		return "", nil // the cluster figures are skipped
	}
	return path, err
}
