package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/store"
)

// newDownloadCommand fetches files at HTTP(S) URLs into a bucket.
func newDownloadCommand() *cobra.Command {
	var timeout, subdir string
	var noWait, asTemplate bool
	cmd := &cobra.Command{
		Use:   "download URL|'URL-TEMPLATE' ais://BUCKET[/OBJECT]",
		Short: "Download files at HTTP(S) URLs into a bucket: one URL, or a range like 'https://host/train-{0000..0999}.tar' (a job on every target)",
		Long: "Each target fetches the files whose objects it owns, retrying with backoff and checking the size\n" +
			"against Content-Length; the files that fail are listed with their causes at the end (exit 1).\n" +
			"A target that restarts resumes its part. Stop a job with 'ais job stop ID'.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, name, err := parseURI(args[1])
			if err != nil {
				return err
			}
			// ais://b/dir/ names a prefix, as for ais put: the file keeps
			// its own name under it.
			if strings.HasSuffix(name, "/") {
				if subdir != "" {
					return fmt.Errorf("%q ends in '/' and --subdir %q is given: name the prefix once", args[1], subdir)
				}
				subdir, name = name, ""
			}
			req := api.DownloadRequest{Type: api.DownloadSingle, Link: args[0], ObjectName: name, Subdir: subdir, Timeout: timeout}
			b, err := store.ParseBucketURI(uri(bucket))
			if err != nil {
				return err
			}
			req.Bucket.Name, req.Bucket.Provider = b.Name, b.Normalize().Provider
			// Braces make a range; '@' does only when asked (--template):
			// URLs carry it in user names, versions and npm-like paths.
			if asTemplate || strings.ContainsAny(args[0], "{}") {
				if name != "" {
					return fmt.Errorf("a range of URLs goes into a bucket, not into the object %q", name)
				}
				req.Type, req.Link, req.Template = api.DownloadRange, "", args[0]
			}
			c := client()
			id, err := c.StartDownload(cmd.Context(), req)
			if err != nil {
				return err
			}
			if noWait {
				fmt.Println(id)
				return nil
			}
			fmt.Fprintf(os.Stderr, "job %s\n", id)
			s, err := followDownload(cmd.Context(), c, id)
			if err != nil {
				return err
			}
			fmt.Printf("downloaded %d of %d files into %s (%d already there)\n", s.Finished, s.Total, uri(bucket), s.Skipped)
			for _, f := range s.Errors {
				if f.Name == "" && f.Link == "" {
					// Of the job or of a target's part, not of one file.
					fmt.Fprintf(os.Stderr, "error: %s\n", printable(f.Error))
					continue
				}
				fmt.Fprintf(os.Stderr, "failed: %s (%s): %s\n", printable(f.Name), printable(f.Link), printable(f.Error))
			}
			switch {
			case s.Failed > 0:
				return fmt.Errorf("%d files failed (errors above)", s.Failed)
			case len(s.Errors) > 0:
				return errors.New("the job has errors (above)")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&timeout, "timeout", "", "the most one file may take, e.g. 30m (default and most: 24h; a file whose origin stalls for 2 minutes is tried again)")
	cmd.Flags().StringVar(&subdir, "subdir", "", "a prefix for the object names")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "print the job id and return")
	cmd.Flags().BoolVar(&asTemplate, "template", false, "URL is a range template in AIStore's '@' form ('https://host/shard-@0999.tar'); braces need no flag")
	return cmd
}

// followDownload waits for a download job by its own status (a user with
// grants on the bucket only may read it, not the cluster's jobs), drawing
// its progress on a terminal (a line every few seconds otherwise).
func followDownload(ctx context.Context, c *api.Client, id string) (api.DownloadStatus, error) {
	bars := newBars(ctx, false)
	bar := tallyBar(bars, "files")
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	lastLine := time.Now()
	var watch api.JobWatch // a gateway restarting is waited for
	var silent time.Time   // since the job ended on every target that answers
	for {
		s, err := c.DownloadStatus(ctx, id)
		switch {
		case err != nil && !watch.Missed(err):
			bar.Abort(false)
			bars.Wait()
			return s, err
		case err != nil:
			if !isTerminal(os.Stderr) && time.Since(lastLine) > 5*time.Second {
				fmt.Fprintf(os.Stderr, "%s: no answer (%v); waiting\n", id, err)
				lastLine = time.Now()
			}
		case s.Done:
			bar.SetCurrent(int64(s.Finished))
			bar.SetTotal(-1, true)
			bars.Wait()
			return s, nil
		case !s.Running:
			// Ended but for a target that does not answer: it resumes its
			// part when back, waited for a while, not for good.
			watch = api.JobWatch{}
			if silent.IsZero() {
				silent = time.Now()
			}
			if time.Since(silent) > api.UnansweredGrace {
				bar.Abort(false)
				bars.Wait()
				s.Errors = append(s.Errors, api.DownloadFailed{Error: fmt.Sprintf("stopped waiting after %v for the targets that did not answer ('ais job wait %s' waits again)", api.UnansweredGrace, id)})
				return s, nil
			}
		default:
			watch, silent = api.JobWatch{}, time.Time{}
			bar.SetCurrent(int64(s.Finished))
			if !isTerminal(os.Stderr) && time.Since(lastLine) > 5*time.Second {
				fmt.Fprintf(os.Stderr, "%s: %d of %d files, %d bytes\n", id, s.Finished, s.Total, s.Bytes)
				lastLine = time.Now()
			}
		}
		select {
		case <-ctx.Done():
			bar.Abort(false)
			bars.Wait()
			return s, fmt.Errorf("%w (the job goes on: 'ais job stop %s' aborts it)", ctx.Err(), id)
		case <-tick.C:
		}
	}
}
