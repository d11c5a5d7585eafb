package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/shards"
	"github.com/aisgo/aisgo/store"
)

// newSummaryCommand counts the objects and bytes of one bucket or all.
func newSummaryCommand() *cobra.Command {
	var msg api.SummaryMessage
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "summary [BUCKET]",
		Short: "Count the objects and bytes of a bucket, or of every bucket (a job on every target)",
		Long: "Count the objects and bytes of a bucket, or of every bucket, as a job on every target.\n\n" +
			"Of a remote bucket named (s3://...), the remote's own objects are counted too (one target lists the remote; " +
			"it may take long on a big bucket): --cached counts only what the cluster holds. A summary of every bucket counts what the cluster holds.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket := ""
			if len(args) == 1 {
				var err error
				if bucket, err = bucketArg(args[0], "summary"); err != nil {
					return err
				}
			}
			summaries, err := client().BucketSummary(cmd.Context(), bucket, msg, 200*time.Millisecond)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(summaries)
			}
			// (Of one bucket only: a summary of every bucket counts
			// what the cluster holds.)
			// An HTTP origin cannot be listed: its count is not known
			// ("-"), not 0.
			listed := func(s api.BucketSummary) bool {
				b := store.Bucket{Name: s.Name, Provider: s.Provider}
				return b.IsRemote() && b.Normalize().Provider != store.ProviderHT
			}
			remote := false
			for _, s := range summaries {
				remote = remote || (bucket != "" && !msg.ObjCached && listed(s))
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			header := "BUCKET\tOBJECTS\tSIZE\tON DISK\tUSAGE"
			if remote {
				header += "\tREMOTE OBJECTS\tREMOTE SIZE"
			}
			fmt.Fprintln(w, header)
			for _, s := range summaries {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%d%%", bucketURI(s.Provider, s.Name), s.ObjCount.Present,
					shards.FormatSize(int64(s.TotalSize.PresentObjs)), shards.FormatSize(int64(s.TotalSize.OnDisk)), s.UsedPct)
				if remote {
					if listed(s) {
						fmt.Fprintf(w, "\t%d\t%s", s.ObjCount.Remote, shards.FormatSize(int64(s.TotalSize.RemoteObjs)))
					} else {
						fmt.Fprint(w, "\t-\t-")
					}
				}
				fmt.Fprintln(w)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&msg.Prefix, "prefix", "", "count only names with this prefix")
	cmd.Flags().BoolVar(&msg.ObjCached, "cached", false, "of a remote bucket, count only what the cluster holds (no listing of the remote)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// newCopyBucketCommand copies a bucket, or some of its objects, as a job.
func newCopyBucketCommand() *cobra.Command {
	var msg api.CopyBucketMessage
	var noWait bool
	cmd := &cobra.Command{
		Use:   "cp ais://SRC ais://DST",
		Short: "Copy a bucket's objects (all, by --prefix or by --template) to another bucket, made when missing",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			from, err := bucketArg(args[0], "cp")
			if err != nil {
				return err
			}
			to, err := bucketArg(args[1], "cp")
			if err != nil {
				return err
			}
			if msg.Prefix != "" && msg.Template != "" {
				return fmt.Errorf("select the objects one way: --prefix or --template")
			}
			if msg.Template != "" {
				// A template without ranges would be a prefix: refused.
				if _, err := selectObjects("", msg.Template, ""); err != nil {
					return err
				}
			}
			c := client()
			id, err := c.CopyBucket(cmd.Context(), from, to, msg)
			if err != nil {
				return err
			}
			return reportJob(cmd.Context(), c, id, noWait)
		},
	}
	cmd.Flags().StringVar(&msg.Prefix, "prefix", "", "copy only names with this prefix")
	cmd.Flags().StringVar(&msg.Template, "template", "", "copy the names of a template, e.g. 'shard-{0000..0099}.tar'")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "print the job id and return")
	return cmd
}

// removeSelected removes a bucket's objects by template or prefix, as a
// job with progress.
func removeSelected(cmd *cobra.Command, arg, template, prefix string, noWait bool) error {
	bucket, err := bucketArg(arg, "rm --template/--prefix")
	if err != nil {
		return err
	}
	selection, err := selectObjects("", template, prefix)
	if err != nil {
		return err
	}
	c := client()
	id, err := c.DeleteObjects(cmd.Context(), bucket, selection)
	if err != nil {
		return err
	}
	return reportJob(cmd.Context(), c, id, noWait)
}

// newRemoteCommand makes prefetch and evict: fetch a remote bucket's
// objects into the cluster, or drop the cluster's copies, as jobs.
func newRemoteCommand(use, short string, start func(c *api.Client, cmd *cobra.Command, bucket string, selection api.ListRange) (string, error)) *cobra.Command {
	var template, prefix string
	var noWait bool
	cmd := &cobra.Command{
		Use:   use + " s3://BUCKET[/OBJECT] [--template T | --prefix P]",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, name, err := parseURI(args[0])
			if err != nil {
				return err
			}
			selection, err := selectObjects(name, template, prefix)
			if err != nil {
				return err
			}
			c := client()
			id, err := start(c, cmd, bucket, selection)
			if err != nil {
				return err
			}
			if use != "prefetch" || noWait {
				return reportJob(cmd.Context(), c, id, noWait)
			}
			fmt.Fprintf(os.Stderr, "job %s\n", id)
			j, err := followJob(cmd.Context(), c, id)
			if err != nil {
				return err
			}
			return prefetchVerdict(os.Stdout, j, bucket, selection)
		},
	}
	cmd.Flags().StringVar(&template, "template", "", "the names of a template, e.g. 'train-{0000..0999}.tar'")
	cmd.Flags().StringVar(&prefix, "prefix", "", "every name with this prefix")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "print the job id and return")
	return cmd
}

// selectObjects makes the selection of a job over many objects from what
// the user named: an object (or a template, when it has a range),
// --template or --prefix, at most one of them. A template without ranges
// is a prefix; nothing at all is every object.
func selectObjects(name, template, prefix string) (api.ListRange, error) {
	given := 0
	for _, s := range []string{name, template, prefix} {
		if s != "" {
			given++
		}
	}
	if given > 1 {
		return api.ListRange{}, fmt.Errorf("give an object or template, --template or --prefix: not two")
	}
	switch {
	case name != "" && strings.ContainsAny(name, "{}"):
		// Braces make a range; '@' and '%' are common in object names
		// (ckpt@100.pt, sale-50%.png): those forms take --template.
		if _, err := shards.ParseTemplate(name); err != nil {
			return api.ListRange{}, err
		}
		return api.ListRange{Template: name}, nil
	case name != "":
		return api.ListRange{ObjNames: []string{name}}, nil
	case template != "":
		// A template with no range is a prefix to the cluster (AIStore's
		// form): "shard-1" would select shard-10..shard-199 too, and
		// "*" every object. Named as such it takes --prefix.
		t, err := shards.ParseTemplate(template)
		if err != nil {
			return api.ListRange{}, err
		}
		if !t.IsRange() {
			if begins := strings.TrimSuffix(template, "*"); begins != "" {
				return api.ListRange{}, fmt.Errorf("--template %q has no range ({0..9}, @N, %%d): it would select every name it begins; for that, give --prefix %q", template, begins)
			}
			return api.ListRange{}, fmt.Errorf("--template %q has no range ({0..9}, @N, %%d): it would select every object", template)
		}
		return api.ListRange{Template: template}, nil
	}
	return prefixSelection(prefix)
}

// prefixSelection selects the names with a prefix. AIStore's API takes a
// prefix as a template without ranges, so a prefix that reads as one
// (with '@', '%' or braces) cannot be sent: it is refused, not expanded.
// So is a '*', which the cluster reads as "any name from here": "tmp*"
// removed every tmp… object ("*" every object) though ls showed none.
func prefixSelection(prefix string) (api.ListRange, error) {
	if strings.ContainsAny(prefix, "{}@%*") {
		return api.ListRange{}, fmt.Errorf("--prefix %q: a prefix with '{', '}', '@', '%%' or '*' would be read as a template (a '*' as any name from there); give the prefix without it, or select those objects with --template or by name", prefix)
	}
	return api.ListRange{Template: prefix}, nil
}

// prefetchVerdict prints what a prefetch fetched, found cached and
// skipped. A name the remote does not have (or this cluster cannot keep)
// is skipped (a template's gap, as AIStore's prefetch does); one named on
// its own is an error: the user asked for that object.
func prefetchVerdict(out io.Writer, j api.ClusterJob, bucket string, selection api.ListRange) error {
	var sum struct{ Fetched, Cached, Skipped int64 }
	for _, node := range j.Nodes {
		var part struct{ Fetched, Cached, Skipped int64 }
		if json.Unmarshal(node.Result, &part) == nil {
			sum.Fetched += part.Fetched
			sum.Cached += part.Cached
			sum.Skipped += part.Skipped
		}
	}
	fmt.Fprintf(out, "prefetched %d objects of %s (%d already cached, %d skipped: not on the remote, or names this cluster cannot keep)\n", sum.Fetched, uri(bucket), sum.Cached, sum.Skipped)
	if sum.Skipped > 0 && len(selection.ObjNames) > 0 {
		return fmt.Errorf("%d of the %d objects named are not in %s or have names this cluster cannot keep", sum.Skipped, len(selection.ObjNames), uri(bucket))
	}
	return nil
}
