package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/shards"
)

func newDsortCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dsort",
		Short: "Run dSort jobs: distributed resharding of tar, tgz and zip datasets",
		Long: "A dSort job reads the input shards of a bucket on every target, groups their files into records,\n" +
			"orders the records (alphanumeric, shuffle, content key, or an external key map) and writes new shards\n" +
			"of a given size and format. The spec uses AIStore's field names, in JSON or YAML.",
	}
	var wait, progress, estimate, estimateFirst, estimateJSON bool
	start := &cobra.Command{
		Use:   "start SPEC.json|SPEC.yaml|-",
		Short: "Start a job from a spec file (or stdin) and print its id; --wait shows progress until it ends; --estimate only estimates it",
		Long: "Start a dSort job from a spec file (or - for stdin) and print its id.\n\n" +
			"--estimate starts nothing: every target reads only the headers of the input shards it owns and times its disk,\n" +
			"the gateway plans the output as the job would and times the network, and the report gives the records,\n" +
			"input and output bytes, the output shards (count, first and last name), the memory each target needs to hold\n" +
			"its records (in memory, or what spills past max_mem_usage), the measured rates and a forecast of the time.\n" +
			"--estimate-first estimates, runs the job, waits for it and prints its summary beside the estimate.\n" +
			"A spec with \"dry_run\": \"estimate\" is estimated as with --estimate.\n\n" +
			"A target lost mid-job costs a restart, not the job: it starts again once the target is back within the\n" +
			"spec's target_grace (default 30s), or at once on the targets left when the input is erasure-coded or remote;\n" +
			"otherwise the job aborts naming the target and the input shards only it held.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readSpecFile(args[0], 1<<20) // as a gateway takes
			if err != nil {
				return err
			}
			c := client()
			if spec, err := pipeline.ParseSpec(data); err == nil && spec.Estimate {
				if estimateFirst {
					return fmt.Errorf(`--estimate-first runs the job after its estimate, and the spec asks for the estimate alone ("dry_run": "estimate"): drop one of them`)
				}
				estimate = true // "dry_run": "estimate" in the spec
			}
			if estimate && estimateFirst {
				return fmt.Errorf("--estimate only estimates, --estimate-first estimates and runs: give one of them")
			}
			if estimateJSON && !estimate {
				return fmt.Errorf("--json prints an estimate: it goes with --estimate")
			}
			if cmd.Flags().Changed("estimate") && (wait || progress) {
				// (A spec's "dry_run": "estimate" with --wait still prints
				// the estimate, as it did.)
				return fmt.Errorf("--estimate starts no job to wait for: --wait and --progress go with a job (or --estimate-first)")
			}
			if progress && !wait && !estimateFirst {
				return fmt.Errorf("--progress draws the bars of --wait: give --wait too")
			}
			var est *api.DsortEstimate
			if estimate || estimateFirst {
				e, err := c.EstimateDsort(cmd.Context(), data)
				if err != nil {
					return err
				}
				if estimate && estimateJSON {
					return printJSON(e)
				}
				printEstimate(e)
				if estimate {
					return nil
				}
				est = &e
				fmt.Println()
			}
			id, err := c.DsortStart(cmd.Context(), data)
			if err != nil {
				return err
			}
			fmt.Println(id)
			if !wait && est == nil {
				return nil
			}
			sum, err := follow(cmd.Context(), c, id, progress)
			if err != nil {
				return err
			}
			printSummary(sum)
			if est != nil {
				printComparison(*est, sum)
			}
			return api.DsortError(sum)
		},
	}
	start.Flags().BoolVar(&wait, "wait", false, "show live progress until the job ends, then a summary")
	start.Flags().BoolVar(&progress, "progress", false, "draw progress bars even when stderr is not a terminal")
	start.Flags().BoolVar(&estimate, "estimate", false, "start nothing: print what the job would do and how long it would take")
	start.Flags().BoolVar(&estimateFirst, "estimate-first", false, "estimate, run the job, wait, and print the summary beside the estimate")
	start.Flags().BoolVar(&estimateJSON, "json", false, "with --estimate, print the estimate as JSON")

	var waitProgress bool
	waitCmd := &cobra.Command{
		Use:   "wait ID",
		Short: "Show a job's live progress until it ends, then a summary",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return waitAndReport(cmd.Context(), client(), args[0], waitProgress)
		},
	}
	waitCmd.Flags().BoolVar(&waitProgress, "progress", false, "draw progress bars even when stderr is not a terminal")

	var asJSON bool
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a job's metrics: per phase, per target",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			metrics, err := client().DsortMetrics(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(metrics)
			}
			printSummary(api.DsortSummary(metrics))
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "\nTARGET\tEXTRACTED\tRECORDS\tSPILLED\tCREATED\tBYTES OUT\tMEMORY PEAK\tSTATE")
			ids := make([]string, 0, len(metrics))
			for id := range metrics {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			for _, id := range ids {
				m := metrics[id].Metrics
				fmt.Fprintf(w, "%s\t%d/%d\t%d\t%s\t%d/%d\t%s\t%s\t%s\n", id,
					m.Extraction.ExtractedCount, m.Extraction.TotalCount, m.Extraction.ExtractedRecordCount,
					shards.FormatSize(m.Extraction.ExtractedToDiskSize), m.Creation.CreatedCount, m.Creation.ToCreate,
					shards.FormatSize(m.Creation.CreatedSize), shards.FormatSize(m.MemoryPeak), state(metrics[id]))
			}
			return w.Flush()
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print the per-target metrics as JSON")

	var listJSON, active bool
	var regex string
	list := &cobra.Command{
		Use:   "ls",
		Short: "List dSort jobs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			jobs, err := client().DsortList(cmd.Context(), regex, active)
			if err != nil {
				return err
			}
			if listJSON {
				return printJSON(jobs)
			}
			return writeJobTable(os.Stdout, jobs)
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")
	list.Flags().BoolVar(&active, "active", false, "only running jobs")
	list.Flags().StringVar(&regex, "regex", "", "only jobs whose id or description matches")

	stop := &cobra.Command{
		Use:   "stop ID",
		Short: "Abort a running job; the shards it wrote are removed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := client().DsortAbort(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Printf("aborted %s\n", args[0])
			return nil
		},
	}
	remove := &cobra.Command{
		Use:   "rm ID",
		Short: "Forget a finished job and its metrics",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := client().DsortRemove(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Printf("removed %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(start, waitCmd, show, list, stop, remove)
	return cmd
}

func state(j api.DsortJobInfo) string {
	switch {
	case j.Aborted:
		return "aborted"
	case j.Archived:
		return "finished"
	case j.Phase == pipeline.PhaseAborting:
		return "aborting" // its output is being removed
	}
	return "running"
}

// waitAndReport follows a job to its end with progress, then prints the
// summary; an aborted job is an error.
func waitAndReport(ctx context.Context, c *api.Client, id string, force bool) error {
	sum, err := follow(ctx, c, id, force)
	if err != nil {
		return err
	}
	printSummary(sum)
	return api.DsortError(sum)
}

// follow shows a job's progress until it ends and returns its summary.
func follow(ctx context.Context, c *api.Client, id string, force bool) (api.DsortJobInfo, error) {
	if force || isTerminal(os.Stderr) {
		return followWithBars(ctx, c, id)
	}
	return followWithLines(ctx, c, id)
}

// writeJobTable prints the jobs `ais dsort ls` lists. A description is
// any user's text: its control characters are shown escaped, not sent to
// the terminal.
func writeJobTable(out io.Writer, jobs []api.DsortJobInfo) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "JOB\tSTATE\tPHASE\tINPUT\tOUTPUT\tSTARTED\tDESCRIPTION")
	for _, j := range jobs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, state(j), j.Phase, j.SourceBck, j.DestBck,
			j.StartedTime.Local().Format("2006-01-02 15:04:05"), printable(j.Metrics.Description))
	}
	return w.Flush()
}

// poll returns the job's summed metrics. A cluster that does not answer
// (a gateway restarting) is asked again each second, for
// api.UnansweredGrace at most: a wait of hours does not end at a blip.
func poll(ctx context.Context, c *api.Client, id string) (api.DsortJobInfo, error) {
	var watch api.JobWatch
	for {
		metrics, err := c.DsortMetrics(ctx, id)
		if err == nil {
			return api.DsortSummary(metrics), nil
		}
		if !watch.Missed(err) {
			return api.DsortJobInfo{}, err
		}
		select {
		case <-ctx.Done():
			return api.DsortJobInfo{}, fmt.Errorf("%w (the job goes on: 'ais dsort stop %s' aborts it)", ctx.Err(), id)
		case <-time.After(missedPollWait):
		}
	}
}

// missedPollWait is the wait before a poll the cluster did not answer is
// sent again (a variable for the tests).
var missedPollWait = time.Second

const pollInterval = 250 * time.Millisecond

func followWithBars(ctx context.Context, c *api.Client, id string) (api.DsortJobInfo, error) {
	bars := newBars(ctx, true)
	extract := countBar(bars, "extract shards", 0)
	create := countBar(bars, "create shards", 0)
	written := bytesBar(bars, "bytes written", 0)
	defer bars.Wait()
	adjusted := false
	for {
		sum, err := poll(ctx, c, id)
		if err != nil {
			abortBars(extract, create, written)
			return sum, err
		}
		if !adjusted && startedBefore(sum) {
			// Rates and ETAs from the job's start, not this wait's (a
			// job half done would show its bytes over a second).
			adjusted = true
			for _, b := range []*mpb.Bar{extract, create, written} {
				b.DecoratorAverageAdjust(sum.StartedTime)
			}
		}
		m := sum.Metrics
		update(extract, m.Extraction.ExtractedCount, m.Extraction.TotalCount)
		update(create, m.Creation.CreatedCount, m.Creation.ToCreate)
		update(written, m.Creation.CreatedSize, writtenEstimate(m.Creation))
		if sum.Aborted || sum.Archived {
			if sum.Archived {
				for _, b := range []*mpb.Bar{extract, create, written} {
					b.SetTotal(-1, true)
				}
			} else {
				abortBars(extract, create, written)
			}
			return sum, nil
		}
		select {
		case <-ctx.Done():
			abortBars(extract, create, written)
			return sum, fmt.Errorf("%w (the job goes on: 'ais dsort stop %s' aborts it)", ctx.Err(), id)
		case <-time.After(pollInterval):
		}
	}
}

// writtenEstimate is the bytes the job will write, as the shards created
// so far tell (the output is cut to one shard size; the input's bytes
// are not its measure: tar headers add to them, compression takes from
// them); 0, unknown, before the first shard.
func writtenEstimate(c api.DsortCreation) int64 {
	if c.CreatedCount <= 0 || c.ToCreate <= 0 {
		return 0
	}
	estimate := int64(float64(c.CreatedSize) / float64(c.CreatedCount) * float64(c.ToCreate))
	return max(estimate, c.CreatedSize)
}

func update(b *mpb.Bar, done, total int64) {
	if total > 0 {
		b.SetTotal(total, false)
	}
	b.SetCurrent(done)
}

func abortBars(bars ...*mpb.Bar) {
	for _, b := range bars {
		b.Abort(false)
	}
}

// followWithLines prints a progress line whenever something moved, at most
// every two seconds, for logs and pipes.
func followWithLines(ctx context.Context, c *api.Client, id string) (api.DsortJobInfo, error) {
	last, lastLine := time.Time{}, ""
	begin, adjusted := time.Now(), false
	for {
		sum, err := poll(ctx, c, id)
		if err != nil {
			return sum, err
		}
		if !adjusted && startedBefore(sum) {
			// Timed from the job's start, not this wait's.
			adjusted, begin = true, sum.StartedTime
		}
		m := sum.Metrics
		elapsed := time.Since(begin).Seconds()
		line := fmt.Sprintf("[%5.1fs] %-8s extract %d/%d shards, %d records | create %d/%d shards, %s written (%.1f MiB/s)",
			elapsed, sum.Phase, m.Extraction.ExtractedCount, m.Extraction.TotalCount, m.Extraction.ExtractedRecordCount,
			m.Creation.CreatedCount, m.Creation.ToCreate, shards.FormatSize(m.Creation.CreatedSize),
			float64(m.Creation.CreatedSize)/(1<<20)/max(elapsed, 0.001))
		done := sum.Aborted || sum.Archived
		if done || time.Since(last) >= 2*time.Second {
			if body := line[strings.Index(line, "]")+1:]; body != lastLine || done {
				fmt.Fprintln(os.Stderr, line)
				lastLine = body
			}
			last = time.Now()
		}
		if done {
			return sum, nil
		}
		select {
		case <-ctx.Done():
			return sum, fmt.Errorf("%w (the job goes on: 'ais dsort stop %s' aborts it)", ctx.Err(), id)
		case <-time.After(pollInterval):
		}
	}
}

// startedBefore reports a job's start time known and past (the gateway's
// clock may run ahead of this host's).
func startedBefore(sum api.DsortJobInfo) bool {
	return !sum.StartedTime.IsZero() && sum.StartedTime.Before(time.Now())
}

func rate(bytes, elapsedNanos int64) string {
	if elapsedNanos <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB/s", float64(bytes)/(1<<20)/(float64(elapsedNanos)/1e9))
}

// printSummary prints a job's phases as a table.
func printSummary(sum api.DsortJobInfo) {
	m := sum.Metrics
	total := sum.FinishTime.Sub(sum.StartedTime)
	if sum.FinishTime.IsZero() {
		total = time.Since(sum.StartedTime)
	}
	fmt.Printf("\ndSort job %s %s in %s: %s -> %s\n", sum.ID, state(sum), total.Round(time.Millisecond), sum.SourceBck, sum.DestBck)
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PHASE\tTIME\tSHARDS\tRECORDS\tBYTES\tRATE")
	fmt.Fprintf(w, "extract\t%s\t%d/%d\t%d\t%s\t%s\n", time.Duration(m.Extraction.Elapsed).Round(time.Millisecond),
		m.Extraction.ExtractedCount, m.Extraction.TotalCount, m.Extraction.ExtractedRecordCount,
		shards.FormatSize(m.Extraction.ExtractedSize), rate(m.Extraction.ExtractedSize, m.Extraction.Elapsed))
	fmt.Fprintf(w, "sort\t%s\t\t\t\t\n", time.Duration(m.Sorting.Elapsed).Round(time.Millisecond))
	fmt.Fprintf(w, "create\t%s\t%d/%d\t%d\t%s\t%s\n", time.Duration(m.Creation.Elapsed).Round(time.Millisecond),
		m.Creation.CreatedCount, m.Creation.ToCreate, m.Creation.CreatedRecordCount,
		shards.FormatSize(m.Creation.CreatedSize), rate(m.Creation.CreatedSize, m.Creation.Elapsed))
	w.Flush()
	if n := m.Extraction.MissingCount; n > 0 {
		fmt.Printf("%d input shard(s) not found, skipped (missing_shards)\n", n)
	}
	// Records of plain tar input stay in their shards: nothing is held.
	held, spilled := "none", "none"
	if m.MemoryPeak > 0 {
		held = "at most " + shards.FormatSize(m.MemoryPeak) + " per target"
	}
	if m.Extraction.ExtractedToDiskCount > 0 {
		spilled = fmt.Sprintf("%s in %d files", shards.FormatSize(m.Extraction.ExtractedToDiskSize), m.Extraction.ExtractedToDiskCount)
	}
	fmt.Printf("records held in memory: %s; spilled to disk: %s\n", held, spilled)
	// Every one, once (the targets' alike ones are one), sorted: the
	// order the targets' are merged in is not theirs.
	warnings := slices.Compact(slices.Sorted(slices.Values(m.Warnings)))
	for _, warning := range warnings {
		fmt.Printf("warning: %s\n", printable(warning))
	}
	for _, e := range m.Errors {
		fmt.Printf("error: %s\n", printable(e))
	}
}
