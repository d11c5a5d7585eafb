package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/datasets"
	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/shards"
	"github.com/aisgo/aisgo/store"
)

func newArchiveCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "archive", Short: "Sharded datasets: generate shards, index them, write objects into shards"}
	var (
		records    int
		recordSize string
		spread     float64
		exts       string
		seed       int64
		local      string
		progress   bool
	)
	gen := &cobra.Command{
		Use:   "gen-shards 'ais://BUCKET/TEMPLATE'",
		Short: "Generate a deterministic sharded dataset into a bucket (or a local directory)",
		Long: "Generate shards named by a template, e.g. 'ais://b/shard-{0000..0099}.tar', each with --records records.\n" +
			"Each record has one file per extension: .cls an integer label, .json metadata, .txt text, others random bytes\n" +
			"of --record-size. The same flags and --seed always give the same bytes. The format follows the template's\n" +
			"extension: " + strings.Join(formats.Default().Extensions(), ", ") + " (.msgpack and .tfrecord hold one\n" +
			"WebDataset-style record per map or Example: {\"__key__\": name, \"jpg\": bytes, \"cls\": bytes}).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, template, err := parseURI(args[0])
			switch {
			case local != "" && strings.Contains(args[0], "://"):
				return fmt.Errorf("%q: with --local, give the template alone (the shards go to %s, not to a bucket)", args[0], local)
			case local != "":
				bucket, template, err = "", args[0], nil
			case err == nil && template == "":
				return fmt.Errorf("%q: want 'ais://BUCKET/TEMPLATE' (or --local DIR and the template)", args[0])
			}
			if err != nil {
				return err
			}
			size, err := shards.ParseSize(recordSize)
			if err != nil {
				return fmt.Errorf("--record-size: %w", err)
			}
			spec := datasets.Spec{
				Template:   template,
				Records:    records,
				RecordSize: size,
				SizeSpread: spread,
				Extensions: strings.Split(exts, ","),
				Seed:       seed,
			}
			if err := spec.Validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			start := time.Now()
			var stats datasets.Stats
			if local != "" {
				stats, err = generateToDirectory(ctx, spec, local, progress)
			} else {
				stats, err = generateToBucket(ctx, spec, bucket, progress)
			}
			if err != nil {
				return err
			}
			where := local
			if where == "" {
				where = uri(bucket)
			}
			elapsed := time.Since(start)
			fmt.Printf("generated %d shards, %d records, %s into %s in %s\n", stats.Shards, stats.Records, shards.FormatSize(stats.Bytes), where, elapsed.Round(time.Millisecond))
			return nil
		},
	}
	gen.Flags().IntVar(&records, "records", 100, "records per shard")
	gen.Flags().StringVar(&recordSize, "record-size", "100KiB", "mean size of a record's main file (IEC units)")
	gen.Flags().Float64Var(&spread, "size-spread", 0, "record sizes vary uniformly within ±this fraction (0: fixed)")
	gen.Flags().StringVar(&exts, "exts", ".jpg,.cls", "comma-separated file extensions of each record")
	gen.Flags().Int64Var(&seed, "seed", 1, "random seed")
	gen.Flags().StringVar(&local, "local", "", "write the shards into this local directory instead of a bucket")
	gen.Flags().BoolVar(&progress, "progress", false, "draw the progress bar even when stderr is not a terminal")
	cmd.AddCommand(gen, newIndexCommand(), newArchiveBucketCommand())
	return cmd
}

// generateToBucket streams each generated shard into a PUT.
func generateToBucket(ctx context.Context, spec datasets.Spec, bucket string, progress bool) (datasets.Stats, error) {
	c := client()
	if _, err := c.BucketProps(ctx, bucket); err != nil {
		return datasets.Stats{}, err
	}
	tmpl, err := shards.ParseTemplate(spec.Template)
	if err != nil {
		return datasets.Stats{}, err
	}
	bars := newBars(ctx, progress)
	bar := countBar(bars, "shards", tmpl.Count())
	stats, err := datasets.Generate(ctx, spec, func(name string) (io.WriteCloser, error) {
		return newPutWriter(ctx, c, bucket, name, func() { bar.Increment() }), nil
	})
	if err != nil {
		bar.Abort(false)
	}
	bars.Wait()
	return stats, err
}

// generateToDirectory writes the shards as local files, with the bar a
// bucket's generation draws.
func generateToDirectory(ctx context.Context, spec datasets.Spec, dir string, progress bool) (datasets.Stats, error) {
	tmpl, err := shards.ParseTemplate(spec.Template)
	if err != nil {
		return datasets.Stats{}, err
	}
	bars := newBars(ctx, progress)
	bar := countBar(bars, "shards", tmpl.Count())
	// Its temporary files are the command's part files: a second
	// interrupt removes them (removeParts).
	stats, err := datasets.WriteLocal(ctx, spec, dir, datasets.LocalHooks{
		Written: func(string) { bar.Increment() },
		Temporary: func(path string, made bool) {
			if made {
				parts.Store(path, true)
			} else {
				parts.Delete(path)
			}
		},
	})
	if err != nil {
		bar.Abort(false)
	}
	bars.Wait()
	return stats, err
}

// putWriter streams what is written into a PUT; Close waits for it.
type putWriter struct {
	pipe *io.PipeWriter
	done chan error
}

func newPutWriter(ctx context.Context, c *api.Client, bucket, name string, onDone func()) *putWriter {
	r, w := io.Pipe()
	p := &putWriter{pipe: w, done: make(chan error, 1)}
	go func() {
		_, err := c.Put(ctx, bucket, name, r, api.PutOptions{Size: -1})
		r.CloseWithError(err)
		if err == nil {
			onDone()
		}
		p.done <- err
	}()
	return p
}

func (p *putWriter) Write(b []byte) (int, error) { return p.pipe.Write(b) }

func (p *putWriter) Close() error {
	p.pipe.Close()
	return <-p.done
}

// errShardAborted breaks the body of a shard that is not to be stored.
var errShardAborted = errors.New("the shard was not generated whole")

// Abort fails the PUT, so that a shard cut short is not stored under its
// name (datasets.Aborter).
func (p *putWriter) Abort() error {
	p.pipe.CloseWithError(errShardAborted)
	<-p.done
	return nil
}

// newIndexCommand writes shard indexes beside tar shards, as a job.
func newIndexCommand() *cobra.Command {
	var prefix string
	var noWait bool
	cmd := &cobra.Command{
		Use:   "index ais://BUCKET/SHARD | 'ais://BUCKET/TEMPLATE' | ais://BUCKET [--prefix P]",
		Short: "Write a shard index (SHARD.idx: each member's offsets and size) beside tar shards, for reads of one record by one range GET",
		Long: "The index is JSON: {\"version\":1,\"shard\":...,\"shard_size\":...,\"format\":\"tar\",\"shard_checksum\":{\"type\",\"value\"},\"members\":[{\"name\",\"header_offset\",\"data_offset\",\"size\"}]}.\n" +
			"A member's bytes are [data_offset, data_offset+size) of the shard. Without a shard, template or --prefix,\n" +
			"every tar shard of the bucket is indexed. dSort writes the same indexes with \"output_index\": true.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, name, err := parseURI(args[0])
			if err != nil {
				return err
			}
			selection, err := selectObjects(name, "", prefix)
			if err != nil {
				return err
			}
			c := client()
			id, err := c.IndexShards(cmd.Context(), bucket, selection)
			if err != nil {
				return err
			}
			return reportJob(cmd.Context(), c, id, noWait)
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "index the tar shards whose names have this prefix")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "print the job id and return")
	return cmd
}

func newArchiveBucketCommand() *cobra.Command {
	var (
		msg      api.ArchiveMessage
		prefix   string
		lists    []string
		listFile string
		noWait   bool
	)
	cmd := &cobra.Command{
		Use:   "bucket ais://SRC ais://DST/SHARD",
		Short: "Write objects of a bucket into one shard, in order (AIStore's archive): every object, --prefix, --template or --list",
		Example: "  ais archive bucket ais://raw ais://shards/train-0000.tar --template 'img/{0000..0999}.jpg'\n" +
			"  ais archive bucket ais://raw ais://raw/labels.tgz --prefix labels/ --non-recursive --base-name",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, name, err := parseURI(args[0])
			if err != nil {
				return err
			}
			if name != "" {
				return fmt.Errorf("%q: the source is a bucket; select its objects with --prefix, --template or --list", args[0])
			}
			dst, shard, err := parseURI(args[1])
			if err != nil {
				return err
			}
			if shard == "" {
				return fmt.Errorf("%q names no shard: ais://BUCKET/NAME.tar", args[1])
			}
			list, err := objectList(lists, listFile, cmd.InOrStdin())
			if err != nil {
				return err
			}
			selections := 0
			for _, given := range []bool{prefix != "", msg.Template != "", len(list) > 0} {
				if given {
					selections++
				}
			}
			if selections > 1 {
				return fmt.Errorf("select the objects one way: --prefix, --template or --list")
			}
			if msg.NonRecursive && (msg.Template != "" || len(list) > 0) {
				return errors.New("--non-recursive leaves out the objects below --prefix's directories: not for --template or --list, whose names are archived as given")
			}
			if prefix != "" || msg.Template != "" {
				// A template without ranges would be a prefix: refused.
				selection, err := selectObjects("", msg.Template, prefix)
				if err != nil {
					return err
				}
				msg.Template = selection.Template
			}
			msg.ObjNames = list
			dstBucket, err := store.ParseBucketURI(dst)
			if err != nil {
				return err
			}
			msg.ToBck, msg.ArchName = api.Bck{Name: dstBucket.Name, Provider: dstBucket.Normalize().Provider}, shard
			c := client()
			id, err := c.Archive(cmd.Context(), src, msg)
			if err != nil {
				return err
			}
			if noWait {
				fmt.Println(id)
				return nil
			}
			j, err := followJob(cmd.Context(), c, id)
			if err != nil {
				return err
			}
			fmt.Printf("archived %d objects (%s) of %s into %s/%s\n", j.Objects, shards.FormatSize(j.Bytes), uri(src), uri(dst), shard)
			return nil
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "the objects under this prefix, in name order")
	cmd.Flags().StringVar(&msg.Template, "template", "", "the objects of a template, in its order, e.g. 'img/{0000..0999}.jpg'")
	// Split on commas as they are: a CSV reading (pflag's StringSlice)
	// refused names with a quote, and took quotes away.
	cmd.Flags().StringArrayVar(&lists, "list", nil, "these objects, in this order (comma-separated; may be repeated)")
	cmd.Flags().StringVar(&listFile, "list-file", "", "these objects, one name a line, from a FILE (- for standard input): for names with commas")
	cmd.Flags().StringVar(&msg.Mime, "mime", "", "the shard's format when its name does not tell: .tar, .tgz, .zip, .tar.lz4, .tar.zst")
	cmd.Flags().BoolVar(&msg.AppendIfExists, "append", false, "add the files to the shard's if it exists (else it is replaced)")
	cmd.Flags().BoolVar(&msg.ContinueOnError, "continue-on-error", false, "skip objects that are missing instead of failing")
	cmd.Flags().BoolVar(&msg.BaseNameOnly, "base-name", false, "name each file by the object's base name")
	cmd.Flags().BoolVar(&msg.InclSrcBname, "include-src-bucket", false, "put the source bucket's name before each file's")
	cmd.Flags().BoolVar(&msg.NonRecursive, "non-recursive", false, "with --prefix: leave out the objects below its directories")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "print the job id and return")
	return cmd
}

// objectList is the names of --list (each split on its commas, empty
// pieces dropped) then of --list-file (a name a line, without its line
// end; empty lines dropped).
func objectList(lists []string, file string, stdin io.Reader) ([]string, error) {
	var names []string
	for _, l := range lists {
		for name := range strings.SplitSeq(l, ",") {
			if name != "" {
				names = append(names, name)
			}
		}
	}
	if len(lists) > 0 && len(names) == 0 {
		// Else read as no selection: every object of the bucket.
		return nil, errors.New("--list names no object")
	}
	if file == "" {
		return names, nil
	}
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, fmt.Errorf("--list-file: %w", err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if line = strings.TrimSuffix(line, "\r"); line != "" {
			names = append(names, line)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("--list-file %s names no object", file)
	}
	return names, nil
}
