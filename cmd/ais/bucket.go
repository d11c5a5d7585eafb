package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/store"
)

func newBucketCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "bucket", Short: "Create, list, remove buckets and show or set their properties"}
	var props string
	create := &cobra.Command{
		Use:   "create ais://BUCKET...",
		Short: "Create buckets",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var value any
			if props != "" {
				if err := json.Unmarshal([]byte(props), &value); err != nil {
					return fmt.Errorf("--props is not JSON: %w", err)
				}
			}
			var buckets []string
			for _, a := range args { // every name checked before any is made
				b, obj, err := parseURI(a)
				if err != nil {
					return err
				}
				if obj != "" {
					return fmt.Errorf("%q: a bucket name has no '/'", a)
				}
				buckets = append(buckets, b)
			}
			failed := 0
			for _, b := range buckets {
				if err := cmd.Context().Err(); err != nil {
					return err
				}
				if err := client().CreateBucket(cmd.Context(), b, value); err != nil {
					if len(buckets) == 1 {
						return err
					}
					fmt.Fprintln(cmd.ErrOrStderr(), oneLine(err))
					failed++
					continue
				}
				fmt.Printf("created %s\n", uri(b))
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d buckets not created", failed, len(buckets))
			}
			return nil
		},
	}
	create.Flags().StringVar(&props, "props", "", `bucket properties as JSON, e.g. '{"checksum":{"type":"md5"}}'`)

	var asJSON bool
	list := &cobra.Command{
		Use:   "ls",
		Short: "List buckets",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			buckets, err := client().ListBuckets(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(buckets)
			}
			for _, b := range buckets {
				fmt.Println(bucketURI(b.Provider, b.Name))
			}
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var yes bool
	remove := &cobra.Command{
		Use:   "rm ais://BUCKET...",
		Short: "Destroy buckets and every object in them",
		Long: "Destroy buckets and every object in them.\n\n" +
			"An ais:// bucket that holds objects is destroyed with --yes, or once confirmed on a terminal.\n" +
			"A remote bucket (s3://, ht://) only leaves the cluster: its cached objects go, the remote keeps its own.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Every name is checked before any bucket goes: an object's
			// name (ais://b/obj, the wrong verb) destroys nothing.
			buckets := make([]string, 0, len(args))
			for _, a := range args {
				b, err := bucketArg(a, "bucket rm")
				if err != nil {
					return fmt.Errorf("%w (to remove objects: ais rm)", err)
				}
				buckets = append(buckets, b)
			}
			// Each confirmed before any goes, as each name is checked.
			for _, b := range buckets {
				if !yes {
					if err := confirmDestroy(cmd, b); err != nil {
						return err
					}
				}
			}
			// One that fails leaves the others to go, as confirmed; the
			// command says how many did not.
			failed := 0
			for _, b := range buckets {
				if err := cmd.Context().Err(); err != nil {
					return err
				}
				if err := client().DestroyBucket(cmd.Context(), b); err != nil {
					if len(buckets) == 1 {
						return err
					}
					fmt.Fprintln(cmd.ErrOrStderr(), oneLine(err))
					failed++
					continue
				}
				fmt.Printf("removed %s\n", uri(b))
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d buckets not removed", failed, len(buckets))
			}
			return nil
		},
	}
	remove.Flags().BoolVarP(&yes, "yes", "y", false, "destroy buckets that hold objects without asking")

	var set string
	var propsJSON bool
	showProps := &cobra.Command{
		Use:   "props ais://BUCKET",
		Short: "Show a bucket's properties, or change some with --set",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := bucketArg(args[0], "bucket props")
			if err != nil {
				return err
			}
			c := client()
			if set != "" {
				var value any
				if err := json.Unmarshal([]byte(set), &value); err != nil {
					return fmt.Errorf("--set is not JSON: %w", err)
				}
				if err := c.SetBucketProps(cmd.Context(), b, value); err != nil {
					return err
				}
			}
			p, err := c.BucketProps(cmd.Context(), b)
			if err != nil {
				return err
			}
			if propsJSON {
				return printJSON(p)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "PROPERTY\tVALUE\n")
			fmt.Fprintf(w, "checksum.type\t%s\n", p.Checksum.Type)
			fmt.Fprintf(w, "checksum.validate_warm_get\t%v\n", p.Checksum.ValidateWarmGet)
			fmt.Fprintf(w, "versioning.enabled\t%v\n", p.Versioning.Enabled)
			fmt.Fprintf(w, "mirror\tenabled=%v copies=%d\n", p.Mirror.Enabled, p.Mirror.Copies)
			fmt.Fprintf(w, "ec\tenabled=%v data=%d parity=%d\n", p.EC.Enabled, p.EC.DataSlices, p.EC.ParitySlices)
			fmt.Fprintf(w, "lru.enabled\t%v\n", p.LRU.Enabled)
			return w.Flush()
		},
	}
	showProps.Flags().StringVar(&set, "set", "", `properties to change, as partial JSON, e.g. '{"versioning":{"enabled":false}}'`)
	showProps.Flags().BoolVar(&propsJSON, "json", false, "print JSON")

	cmd.AddCommand(create, list, remove, showProps, newMirrorCommand(), newECEncodeCommand(), newCopyBucketCommand(), newSummaryCommand())
	return cmd
}

// listBuckets prints the buckets, one URI a line or as JSON.
func listBuckets(ctx context.Context, asJSON bool) error {
	buckets, err := client().ListBuckets(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(buckets)
	}
	for _, b := range buckets {
		fmt.Println(bucketURI(b.Provider, b.Name))
	}
	return nil
}

func newMirrorCommand() *cobra.Command {
	var copies int
	var noWait bool
	cmd := &cobra.Command{
		Use:     "mirror ais://BUCKET --copies N",
		Aliases: []string{"make-n-copies"},
		Short:   "Keep N copies of every object of a bucket on distinct mountpaths (1 turns mirroring off)",
		Long: "Sets mirror.copies and runs the make-n-copies job on every target, which makes or removes\n" +
			"copies of the objects already there; new PUTs write their copies themselves.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, err := bucketArg(args[0], "mirror")
			if err != nil {
				return err
			}
			c := client()
			id, err := c.MakeNCopies(cmd.Context(), bucket, copies)
			if err != nil {
				return err
			}
			return reportJob(cmd.Context(), c, id, noWait)
		},
	}
	cmd.Flags().IntVar(&copies, "copies", 2, "copies of each object, at most the mountpaths of a target")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "print the job id and return")
	return cmd
}

func newECEncodeCommand() *cobra.Command {
	var data, parity int
	var limit int64
	var noWait bool
	cmd := &cobra.Command{
		Use:   "ec-encode ais://BUCKET --data D --parity P",
		Short: "Erasure-code a bucket: D data and P parity slices on distinct targets; survives the loss of P targets",
		Long: "Sets the ec props and runs the ec-encode job, which stores the slices (or, for objects below\n" +
			"--objsize-limit, P whole replicas) of the objects already there. The layout of an erasure-coded\n" +
			"bucket cannot change.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, err := bucketArg(args[0], "ec-encode")
			if err != nil {
				return err
			}
			props := map[string]any{"data_slices": data, "parity_slices": parity}
			if cmd.Flags().Changed("objsize-limit") {
				props["objsize_limit"] = limit
			}
			c := client()
			id, err := c.ECEncode(cmd.Context(), bucket, props)
			if err != nil {
				return err
			}
			return reportJob(cmd.Context(), c, id, noWait)
		},
	}
	cmd.Flags().IntVar(&data, "data", 2, "data slices")
	cmd.Flags().IntVar(&parity, "parity", 1, "parity slices: how many targets may be lost")
	cmd.Flags().Int64Var(&limit, "objsize-limit", 0, "objects smaller than this many bytes are replicated rather than sliced (default: the bucket's)")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "print the job id and return")
	return cmd
}

// reportJob prints a started job's id, and unless noWait follows it.
func reportJob(ctx context.Context, c *api.Client, id string, noWait bool) error {
	if noWait || id == "" {
		fmt.Println(id)
		return nil
	}
	fmt.Fprintf(os.Stderr, "job %s\n", id)
	_, err := followJob(ctx, c, id)
	return err
}

// bucketURI writes a bucket as the CLI takes it: "s3://" for provider aws.
func bucketURI(provider, name string) string {
	if provider == store.ProviderAWS {
		provider = "s3"
	}
	return provider + "://" + name
}

// confirmDestroy asks before an ais:// bucket that holds objects goes:
// on a terminal, a yes; elsewhere (a script), --yes. A remote bucket's
// objects stay with the remote, and one not found is the destroy's to say.
func confirmDestroy(cmd *cobra.Command, bucket string) error {
	if strings.Contains(bucket, "://") && !strings.HasPrefix(bucket, "ais://") {
		return nil
	}
	page, err := client().ListObjects(cmd.Context(), bucket, api.ListObjectsMessage{PageSize: 1, Props: "name"})
	switch {
	case errors.Is(err, api.ErrBucketNotFound), errors.Is(err, api.ErrNotFound):
		return nil // the destroy says so
	case err != nil:
		return fmt.Errorf("could not tell whether %s holds objects (%w): pass --yes to destroy it as it is", uri(bucket), err)
	case len(page.Entries) == 0 && len(page.Incomplete) > 0:
		// Its objects may all be on the targets not listed.
		missed := strings.Join(page.Incomplete, ", ")
		return askYes(cmd, fmt.Sprintf("could not tell whether %s holds objects (target(s) %s not listed). Destroy it as it is?", uri(bucket), missed),
			fmt.Sprintf("could not tell whether %s holds objects (target(s) %s not listed): pass --yes to destroy it as it is", uri(bucket), missed), fmt.Sprintf("%s not destroyed", uri(bucket)))
	case len(page.Entries) == 0:
		return nil
	}
	return askYes(cmd, fmt.Sprintf("%s holds objects (%s, ...). Destroy it with every object?", uri(bucket), printable(page.Entries[0].Name)),
		fmt.Sprintf("%s holds objects: pass --yes to destroy it with them", uri(bucket)), fmt.Sprintf("%s not destroyed", uri(bucket)))
}

// askYes asks question on a terminal, and fails with no unless the
// answer is yes; elsewhere (a script) it fails with script, which names
// --yes.
func askYes(cmd *cobra.Command, question, script, no string) error {
	in, ok := cmd.InOrStdin().(*os.File)
	if !ok || !hasTermios(in) {
		return errors.New(script)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "%s [y/N] ", question)
	// Read aside: Ctrl-C ends the command, not only the read.
	answered := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(in).ReadString('\n')
		answered <- line
	}()
	var line string
	select {
	case line = <-answered:
	case <-cmd.Context().Done():
		fmt.Fprintln(cmd.ErrOrStderr())
		return context.Cause(cmd.Context())
	}
	if answer := strings.ToLower(strings.TrimSpace(line)); answer != "y" && answer != "yes" {
		return errors.New(no)
	}
	return nil
}
