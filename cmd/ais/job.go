package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aisgo/aisgo/api"
)

func newJobCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "job", Short: "List, show, wait for and stop the cluster's jobs (make-n-copies, ec-encode, scrub, resilver...)"}
	var asJSON bool
	list := &cobra.Command{
		Use:   "ls",
		Short: "List the cluster's jobs (dSort jobs: 'ais dsort ls')",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			jobs, err := client().Jobs(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(jobs)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tKIND\tBUCKET\tSTATE\tNODES\tOBJECTS\tBYTES")
			for _, j := range jobs {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%d\n", j.ID, j.Kind, orDash(j.Bucket), jobState(j), len(j.Nodes), j.Objects, j.Bytes)
			}
			return w.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a job on each node",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, err := client().Job(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(j)
			}
			return showJob(cmd.OutOrStdout(), j)
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	wait := &cobra.Command{
		Use:   "wait ID",
		Short: "Wait for a job to end, with progress; fails when the job failed or was aborted",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, err := followJob(cmd.Context(), client(), args[0])
			if err == nil {
				// Ended without an error, its result may say what failed
				// (the commands that start such jobs show it themselves).
				if failed := jobResultFailed(j); failed != nil {
					err = fmt.Errorf("job %s failed: %w", args[0], failed)
				}
			}
			return err
		},
	}

	stop := &cobra.Command{
		Use:   "stop ID",
		Short: "Abort a job on every node; every object stays readable",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := client()
			if err := c.StopJob(cmd.Context(), args[0]); err != nil {
				// A user with grants on a download's bucket only may
				// stop it as a download, not as one of the cluster's.
				if !errors.Is(err, api.ErrForbidden) || c.AbortDownload(cmd.Context(), args[0]) != nil {
					return err
				}
			}
			fmt.Printf("stopped %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(list, show, wait, stop)
	return cmd
}

// jobState is a job's state as 'ais job ls' shows it.
func jobState(j api.ClusterJob) string {
	switch {
	case j.Running:
		return "running"
	case j.Aborted:
		return "aborted"
	case len(j.Errors) > 0 || jobResultFailed(j) != nil:
		return "failed"
	}
	return "done"
}

// jobResultFailed is what a job's result says failed, though the job
// ended without an error: a download's files that failed, what a scrub
// found and did not repair.
func jobResultFailed(j api.ClusterJob) error {
	switch j.Kind {
	case "download":
		failed := 0
		for _, node := range j.Nodes {
			var part struct {
				Failed int               `json:"failed"`
				Errors []json.RawMessage `json:"errors"`
			}
			if json.Unmarshal(node.Result, &part) == nil {
				failed += max(part.Failed, len(part.Errors))
			}
		}
		if failed > 0 {
			return fmt.Errorf("%d file(s) failed ('ais download' status: GET /v1/download?id=%s)", failed, j.ID)
		}
	case "scrub":
		if report, err := api.ScrubReport(j); err == nil {
			// (A node from before reports said so tells by what it
			// repaired.)
			return scrubVerdict(report, orDash(j.Bucket), report.Repair || report.Repaired > 0)
		}
	}
	return nil
}

// showJob prints a job's row on each node, then its state and errors: a
// target that did not answer, restarted or left has no row of its own,
// and the job would look clean.
func showJob(out io.Writer, j api.ClusterJob) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "job %s (%s) %s\n", j.ID, j.Kind, orDash(j.Bucket))
	fmt.Fprintln(w, "NODE\tRUNNING\tOBJECTS\tBYTES\tELAPSED\tERROR")
	for _, id := range slices.Sorted(maps.Keys(j.Nodes)) {
		n := j.Nodes[id]
		end := time.Now().UnixNano()
		if n.Finished > 0 {
			end = n.Finished
		}
		elapsed := time.Duration(end - n.Started).Round(time.Millisecond)
		fmt.Fprintf(w, "%s\t%v\t%d\t%d\t%s\t%s\n", id, n.Running, n.Objects, n.Bytes, elapsed, printable(n.Error))
	}
	for _, id := range j.Unanswered {
		if _, ok := j.Nodes[id]; !ok {
			fmt.Fprintf(w, "%s\t?\t-\t-\t-\tdid not answer: its part of the job is not known\n", printable(id))
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "state: %s\n", jobState(j))
	for _, e := range j.Errors {
		fmt.Fprintf(out, "error: %s\n", printable(e))
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
