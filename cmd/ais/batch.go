package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/shards"
)

func newMLCommand() *cobra.Command {
	ml := &cobra.Command{Use: "ml", Short: "Reads for training jobs: get-batch"}
	ml.AddCommand(newGetBatchCommand())
	return ml
}

func newGetBatchCommand() *cobra.Command {
	var (
		spec, mime, template, archPath  string
		stream, continueOnErr, onlyName bool
	)
	cmd := &cobra.Command{
		Use:   "get-batch ais://BUCKET [OBJECT | SHARD:FILE]... OUT|-",
		Short: "Get many objects, or files of shards, as one archive in the order given (AIStore's get-batch)",
		Long: "Get many objects, or files of shards, as one archive in the order given (AIStore's get-batch).\n" +
			"Name the entries as arguments (OBJECT, or SHARD:FILE for a file of a shard: the colon after a name\n" +
			"with an archive's extension, so that an object named with a colon is taken whole), with --template\n" +
			"(its names in order; with --archpath, that file of each), or give a request in AIStore's shape\n" +
			"with --spec (a JSON file, '-' for stdin). Files are named BUCKET/OBJECT[/FILE] in the archive\n" +
			"(OBJECT[/FILE] with --only-name); the entries missing and a summary go to stderr.",
		Example: "  ais ml get-batch ais://train obj-1 shard-7.tar:s-3.jpg batch.tar\n" +
			"  ais ml get-batch ais://train --template 'shard-{000..099}.tar' --archpath image_42.jpg --continue-on-error out.tar",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, err := bucketArg(args[0], "get-batch")
			if err != nil {
				return err
			}
			out := args[len(args)-1]
			outFormat, known := formats.Default().ByName(out)
			mimeGiven := cmd.Flags().Changed("mime")
			switch {
			case out == "-":
			case !known && !mimeGiven && template == "" && spec == "" && len(args) > 2:
				// Likely an entry taken for the archive (OUT forgotten).
				return fmt.Errorf("OUT %q is not an archive's name (.tar, .tgz, .zip, .tar.lz4, .tar.zst): name the archive last, - for stdout, or give --mime", out)
			case known && !mimeGiven:
				// The archive is what its name says.
				mime, mimeGiven = outFormat.Extensions()[0], true
			case known:
				if f, ok := formats.Default().ByExtension(mime); ok && f.Name() != outFormat.Name() {
					return fmt.Errorf("--mime %s and OUT %q disagree: name the archive *%s, or leave out --mime", mime, out, f.Extensions()[0])
				}
			}
			var req api.BatchRequest
			switch {
			case (spec != "") && (template != "" || len(args) > 2), template != "" && len(args) > 2:
				return fmt.Errorf("name the entries one way: as arguments, with --template or with --spec")
			case archPath != "" && template == "":
				return fmt.Errorf("--archpath goes with --template (name a file of a shard as SHARD:FILE)")
			case spec != "":
				if req, err = readBatchSpec(spec); err != nil {
					return err
				}
			case template != "":
				t, err := shards.ParseTemplate(template)
				if err != nil {
					return err
				}
				if !t.Bounded() {
					return fmt.Errorf("--template %q has no range: give one, e.g. 'shard-{000..099}.tar'", template)
				}
				if t.Count() > api.MaxBatchEntries {
					return fmt.Errorf("--template %q names %d objects; a get-batch takes at most %d", template, t.Count(), api.MaxBatchEntries)
				}
				for name := range t.Names() {
					req.In = append(req.In, api.BatchEntry{ObjName: name, ArchPath: archPath})
				}
			default:
				for _, a := range args[1 : len(args)-1] {
					req.In = append(req.In, batchEntry(a))
				}
				if len(req.In) == 0 {
					return fmt.Errorf("no entries: name objects (or SHARD:FILE) before OUT, or give --spec")
				}
			}
			if mimeGiven {
				req.Mime = mime
			}
			if cmd.Flags().Changed("stream") {
				req.Streaming = stream
			}
			if cmd.Flags().Changed("continue-on-error") {
				req.ContinueOnErr = continueOnErr
			}
			if cmd.Flags().Changed("only-name") {
				req.OnlyObjName = onlyName
			}
			var resp api.BatchResponse
			get := func(w io.Writer) (err error) {
				resp, err = client().GetBatch(cmd.Context(), bucket, req, w)
				return err
			}
			replaced := ""
			if out == "-" {
				err = get(os.Stdout)
			} else {
				if replacesFile(out) {
					replaced = ", replacing the file that was there" // as ais get says
				}
				if err = writeLocalFile(out, get); err != nil {
					err = fmt.Errorf("get-batch into %s%s: %w", out, unchangedNote(out), err)
				}
			}
			if err != nil {
				return err
			}
			missing := 0
			for _, r := range resp.Out {
				if r.ErrMsg != "" {
					missing++
					fmt.Fprintf(os.Stderr, "missing: %s/%s %s: %s\n", r.Bucket, printable(r.ObjName), printable(r.ArchPath), printable(r.ErrMsg))
				}
			}
			if req.Streaming {
				// Streamed, the missing are only known inside the archive.
				fmt.Fprintf(os.Stderr, "asked for %d entries into %s%s (with --continue-on-error, those missing are empty files under __404__/ in it)\n", len(req.In), out, replaced)
			} else {
				fmt.Fprintf(os.Stderr, "got %d entries (%d missing) into %s%s, batch %s\n", len(req.In), missing, out, replaced, resp.UUID)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&template, "template", "", "the entries: the names of a template, in order, e.g. 'shard-{000..099}.tar'")
	cmd.Flags().StringVar(&archPath, "archpath", "", "with --template: this file of each shard")
	cmd.Flags().StringVar(&spec, "spec", "", "a get-batch request as JSON (AIStore's MossReq: in, mime, coer, onob, strm); '-' reads stdin")
	cmd.Flags().StringVar(&mime, "mime", ".tar", "the archive's format: .tar, .tgz, .zip, .tar.lz4, .tar.zst (default: OUT's extension, else .tar)")
	cmd.Flags().BoolVar(&stream, "stream", false, "stream the archive as it is made (no per-entry results)")
	cmd.Flags().BoolVar(&continueOnErr, "continue-on-error", false, "put what is missing as an empty file under __404__/ instead of failing")
	cmd.Flags().BoolVar(&onlyName, "only-name", false, "name files OBJECT[/FILE], without the bucket")
	return cmd
}

// readBatchSpec reads a get-batch request from a file or stdin.
func readBatchSpec(path string) (api.BatchRequest, error) {
	var req api.BatchRequest
	data, err := readSpecFile(path, 64<<20)
	if err != nil {
		return req, err
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("--spec %s: %w", path, err)
	}
	return req, nil
}

// readSpecFile reads a spec from a file or stdin ("-"): one longer than
// limit is refused, not cut (a cut list may still parse, and a job would
// run on part of its input).
func readSpecFile(path string, limit int64) ([]byte, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("spec %s is longer than %d bytes", cmp.Or(path, "-"), limit)
	}
	return data, err
}

// batchEntry reads an argument of get-batch: an object, or SHARD:FILE, a
// file of a shard. The colon splits only after a shard's name (one with
// an archive's extension): an object named with a colon (a time,
// "ckpt:100.pt") is taken whole.
func batchEntry(arg string) api.BatchEntry {
	for i := range len(arg) {
		if arg[i] != ':' {
			continue
		}
		if _, ok := formats.Default().ByName(arg[:i]); ok {
			return api.BatchEntry{ObjName: arg[:i], ArchPath: arg[i+1:]}
		}
	}
	return api.BatchEntry{ObjName: arg}
}
