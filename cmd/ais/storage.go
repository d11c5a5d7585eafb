package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/store"
)

func newStorageCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "storage",
		Short: "Show the targets' mountpaths, change them, and validate (scrub) buckets",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			status, err := client().ClusterStatus(cmd.Context())
			if err != nil {
				return err
			}
			return showStorage(os.Stdout, status, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(newMountpathCommand(), newScrubCommand("validate"), newScrubCommand("scrub"), newSummaryCommand())
	return cmd
}

// showStorage prints every target's mountpaths with their states.
func showStorage(out io.Writer, status *api.ClusterStatus, asJSON bool) error {
	type row struct {
		Target     string `json:"target"`
		Mountpath  string `json:"mountpath"`
		State      string `json:"state"`
		Reason     string `json:"reason,omitempty"`
		UsedBytes  int64  `json:"used_bytes,omitempty"`
		TotalBytes int64  `json:"total_bytes,omitempty"`
	}
	var rows []row
	for _, n := range status.Nodes {
		if n.Role == "gateway" {
			continue
		}
		if n.Error != "" {
			rows = append(rows, row{Target: n.ID, State: "unreachable", Reason: n.Error})
			continue
		}
		for _, m := range n.Mountpaths {
			r := row{Target: n.ID, Mountpath: m.Path, State: m.State, Reason: cmp.Or(m.Reason, n.CapacityError)}
			for _, c := range n.Capacity {
				if c.Path == m.Path {
					r.UsedBytes, r.TotalBytes = c.Used, c.Total
				}
			}
			rows = append(rows, r)
		}
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TARGET\tMOUNTPATH\tSTATE\tUSED\tREASON")
	for _, r := range rows {
		used := "-"
		if r.TotalBytes > 0 {
			used = fmt.Sprintf("%.0f%%", 100*float64(r.UsedBytes)/float64(r.TotalBytes))
		}
		// A reason may quote a file of an object (a disk's I/O error):
		// any user's name, shown escaped.
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.Target, printable(r.Mountpath), r.State, used, printable(r.Reason))
	}
	return w.Flush()
}

// targetURL finds a target's URL by its id.
func targetURL(ctx context.Context, c *api.Client, id string) (string, error) {
	status, err := c.ClusterStatus(ctx)
	if err != nil {
		return "", err
	}
	var ids []string
	for _, n := range status.Nodes {
		if n.Role == "gateway" {
			continue
		}
		if n.ID == id {
			return n.URL, nil
		}
		ids = append(ids, n.ID)
	}
	slices.Sort(ids)
	return "", fmt.Errorf("%q is not a target of the cluster (targets: %v)", id, ids)
}

func newMountpathCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "mountpath", Short: "Attach, detach, enable or disable a target's mountpath; the objects move (resilver)"}
	actions := []struct{ action, done, short string }{
		{api.ActionAttachMountpath, "attached", "Attach a new mountpath (inside the target's data directory, or one it was configured with)"},
		{api.ActionDetachMountpath, "detached", "Detach a mountpath for good, after moving its objects to the others"},
		{api.ActionEnableMountpath, "enabled", "Enable a disabled mountpath, after a health check"},
		{api.ActionDisableMountpath, "disabled", "Disable a mountpath: nothing is read or written there until it is enabled"},
	}
	for _, a := range actions {
		var noWait bool
		sub := &cobra.Command{
			Use:   a.action + " TARGET MOUNTPATH",
			Short: a.short,
			Args:  cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				ctx := cmd.Context()
				c := client()
				url, err := targetURL(ctx, c, args[0])
				if err != nil {
					return err
				}
				id, err := c.MountpathAction(ctx, url, a.action, args[1])
				if err != nil {
					return err
				}
				if id == "" {
					fmt.Printf("%s: %s %s\n", args[0], args[1], a.done)
					return nil
				}
				fmt.Printf("%s: detaching %s, job %s\n", args[0], args[1], id)
				if noWait {
					return nil
				}
				_, err = followJob(ctx, c, id)
				return err
			},
		}
		if a.action == api.ActionDetachMountpath {
			sub.Flags().BoolVar(&noWait, "no-wait", false, "return once the detach has started")
		}
		cmd.AddCommand(sub)
	}
	return cmd
}

func newScrubCommand(use string) *cobra.Command {
	var repair, noWait, asJSON bool
	cmd := &cobra.Command{
		Use:   use + " ais://BUCKET",
		Short: "Read every object, copy and part of a bucket and check its checksum; --repair fixes what it can",
		Long: "Runs a scrub job on every target and prints its counts: objects, ok, corrupt, repaired,\n" +
			"unrecoverable, missing copies, misplaced, parts and bad parts. Without --repair it only counts.\n" +
			"It exits 1 when objects cannot be recovered, or, without --repair, when any are corrupt,\n" +
			"miss copies or have bad parts (a script can run it and act on the status).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, err := bucketArg(args[0], use)
			if err != nil {
				return err
			}
			if noWait && asJSON {
				return fmt.Errorf("--json prints the counts, which --no-wait does not wait for: give one of them ('ais job show ID --json' reads them later)")
			}
			ctx := cmd.Context()
			c := client()
			id, err := c.Scrub(ctx, bucket, repair)
			if err != nil {
				return err
			}
			if noWait {
				fmt.Println(id)
				return nil
			}
			fmt.Fprintf(os.Stderr, "%s %s: job %s\n", use, uri(bucket), id)
			j, err := followJob(ctx, c, id)
			if err != nil {
				return err
			}
			report, err := api.ScrubReport(j)
			if err != nil {
				return err
			}
			return showScrub(os.Stdout, report, uri(bucket), asJSON, repair)
		},
	}
	cmd.Flags().BoolVar(&repair, "repair", false, "rewrite bad copies, make missing ones, restore from parts, move misplaced objects")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "print the job id and return")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the counts as JSON")
	return cmd
}

// jobStarted is when the first of a job's nodes started it (zero when
// none says).
func jobStarted(j api.ClusterJob) time.Time {
	var first int64
	for _, n := range j.Nodes {
		if n.Started > 0 && (first == 0 || n.Started < first) {
			first = n.Started
		}
	}
	if first == 0 {
		return time.Time{}
	}
	return time.Unix(0, first)
}

// followJob waits for a cluster job, drawing its progress on a terminal
// (a line every few seconds otherwise), and fails when it failed or was
// aborted.
func followJob(ctx context.Context, c *api.Client, id string) (api.ClusterJob, error) {
	bars := newBars(ctx, false)
	bar := tallyBar(bars, "objects")
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	lastLine := time.Now()
	var j api.ClusterJob
	var err error
	var watch api.JobWatch // a target restarting is waited for
	adjusted := false
	for {
		j, err = c.Job(ctx, id)
		if err != nil && !watch.Missed(err) {
			bar.Abort(false)
			bars.Wait()
			if errors.Is(err, api.ErrForbidden) {
				// Started all the same: not to be started again.
				return j, fmt.Errorf("job %s runs, but following it needs LIST on its bucket and LIST or PUT on the one it writes into (or LIST on the cluster), which this token does not grant (--no-wait starts one without following it): %w", id, err)
			}
			return j, err
		}
		switch {
		case err != nil:
			// The cluster did not answer this poll: waited for, a while.
			if !isTerminal(os.Stderr) && time.Since(lastLine) > 5*time.Second {
				fmt.Fprintf(os.Stderr, "%s: no answer (%v); waiting\n", id, err)
				lastLine = time.Now()
			}
		case !isTerminal(os.Stderr) && time.Since(lastLine) > 5*time.Second:
			fmt.Fprintf(os.Stderr, "%s: %d objects, %d bytes\n", id, j.Objects, j.Bytes)
			lastLine = time.Now()
		}
		if err == nil {
			if !adjusted {
				// The rate from the job's start, not this wait's: a wait
				// joining a job far along would show its count over a
				// fraction of a second.
				if started := jobStarted(j); !started.IsZero() && started.Before(time.Now()) {
					adjusted = true
					bar.DecoratorAverageAdjust(started)
				}
			}
			bar.SetCurrent(j.Objects)
			if watch.Ended(j) {
				break
			}
		}
		select {
		case <-ctx.Done():
			bar.Abort(false)
			bars.Wait()
			return j, fmt.Errorf("%w (the job goes on: 'ais job stop %s' aborts it)", ctx.Err(), id)
		case <-tick.C:
		}
	}
	bar.SetTotal(-1, true)
	bars.Wait()
	switch {
	case len(j.Errors) > 0:
		return j, fmt.Errorf("job %s failed: %s", id, strings.Join(j.Errors, "; "))
	case j.Aborted:
		return j, fmt.Errorf("job %s was aborted", id)
	}
	fmt.Fprintf(os.Stderr, "%s %s: done, %d objects, %d bytes\n", j.Kind, id, j.Objects, j.Bytes)
	return j, nil
}

// showScrub prints a scrub's report, a table or JSON, and fails when
// objects cannot be recovered, or, not repaired, need to be, whichever
// way it is shown.
func showScrub(out io.Writer, report store.ScrubReport, bucket string, asJSON, repaired bool) error {
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return err
		}
	} else {
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "OBJECTS\tOK\tCORRUPT\tREPAIRED\tUNRECOVERABLE\tMISSING COPIES\tMISPLACED\tPARTS\tBAD PARTS\tSKIPPED")
		fmt.Fprintf(w, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", report.Objects, report.OK, report.Corrupt, report.Repaired,
			report.Unrecoverable, report.MissingCopies, report.Misplaced, report.Parts, report.BadParts, report.Skipped)
		if err := w.Flush(); err != nil {
			return err
		}
	}
	return scrubVerdict(report, bucket, repaired)
}

// scrubVerdict is what a scrub's report says failed (the same for 'ais
// scrub' and a wait on its job): what cannot be recovered; what was
// found and not repaired; objects not checked.
func scrubVerdict(report store.ScrubReport, bucket string, repaired bool) error {
	if report.Unrecoverable > 0 {
		return fmt.Errorf("%d object(s) of %s cannot be recovered", report.Unrecoverable, bucket)
	}
	if found := report.Corrupt + report.MissingCopies + report.BadParts; !repaired && found > 0 {
		return fmt.Errorf("%s needs repairs: %d corrupt, %d missing copies, %d bad parts (run it again with --repair)", bucket, report.Corrupt, report.MissingCopies, report.BadParts)
	}
	if report.Skipped > 0 {
		// Not a clean bill: a script acting on the status scrubs again.
		return fmt.Errorf("%d object(s) of %s could not be checked this time (too many open files, say): scrub again", report.Skipped, bucket)
	}
	return nil
}
