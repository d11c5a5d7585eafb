package benchmarks

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/datasets"
)

// The python suite: the PyTorch datasets of the Python client
// (python/aisgo/torch.py) over dSort output on a cluster of aisnode
// processes, beside Python's tarfile reading the same shards from local
// disk. The figures come from python/bench/bench_datasets.py, run with
// Debian's interpreter.

// pythonScript is the benchmark script, relative to the repository.
const pythonScript = "python/bench/bench_datasets.py"

// pythonInterpreter is Debian's: the python3 first on PATH may lack torch.
const pythonInterpreter = "/usr/bin/python3"

func pythonSuite() Suite {
	return Suite{
		Name: "python",
		Doc: "the Python client's ShardDataset (2 DataLoader workers) and RecordDataset over indexed dSort output " +
			"beside Python's tarfile reading the same shards from local disk",
		DefaultSize: 1 << 30,
		Run:         runPython,
	}
}

// pythonFigure is one line the script prints.
type pythonFigure struct {
	Name     string  `json:"name"`
	Seconds  float64 `json:"seconds"`
	Records  int64   `json:"records"`
	Bytes    int64   `json:"bytes"`
	Baseline string  `json:"baseline"`
	// PeakRSS is the script's, or its largest worker's, in bytes.
	PeakRSS int64 `json:"peak_rss"`
}

func runPython(ctx context.Context, cfg Config) ([]Result, error) {
	rec := newRecorder("python", cfg.Logger)
	names := []string{"tarfile, the same shards on local disk", "ShardDataset, 2 DataLoader workers", "RecordDataset, random records",
		"RecordDataset, random records, 64 a get-batch"}
	why, script := "", ""
	if cfg.Aisnode == "" {
		why = "no aisnode binary (build it with 'make build', or pass -aisnode)"
	} else if script = findInRepository(pythonScript); script == "" {
		why = pythonScript + " is not in this directory or a parent (run from the repository)"
	} else if err := exec.Command(pythonInterpreter, "-c", "import torch, requests").Run(); err != nil {
		why = "Debian's python3-torch and python3-requests are not installed"
	}
	if why != "" {
		for _, name := range names {
			rec.skip(name, "", why)
		}
		return rec.results, nil
	}
	c, err := startLocalClusterOf(ctx, filepath.Join(cfg.Dir, "cluster"), cfg.Aisnode, 1, datapathTargets, "-no-sync")
	if err != nil {
		return nil, err
	}
	defer c.stop()
	client := api.NewClient(c.endpoint)
	if err := client.CreateBucket(ctx, "py-src", nil); err != nil {
		return nil, err
	}
	// cfg.Size of 100 KiB records in 64 shards, resharded into indexed
	// 64 MiB shards.
	records := max(1, int(cfg.Size/(100<<10)/64))
	spec := datasets.Spec{Template: "in-{00..63}.tar", Records: records, RecordSize: 100 << 10, Extensions: []string{".jpg", ".cls"}, Seed: 1}
	_, err = datasets.Generate(ctx, spec, func(name string) (io.WriteCloser, error) {
		return &bucketWriter{ctx: ctx, client: client, bucket: "py-src", name: name}, nil
	})
	if err != nil {
		return nil, err
	}
	id, err := client.DsortStart(ctx, []byte(`{"input_bck":{"name":"py-src"},"output_bck":{"name":"py-out"},"input_format":{"template":"in-{00..63}.tar"},
		"output_format":"out-{0000..9999}.tar","output_shard_size":"64MiB","algorithm":{"kind":"shuffle","seed":"3"},"output_index":true}`))
	if err != nil {
		return nil, err
	}
	err = poll(ctx, 100*time.Millisecond, "the dsort job of the python suite", func() (bool, error) {
		metrics, err := client.DsortMetrics(ctx, id)
		if err != nil {
			return false, err
		}
		sum := api.DsortSummary(metrics)
		if sum.Aborted {
			return false, fmt.Errorf("the dsort job of the python suite aborted")
		}
		return sum.Archived, nil
	})
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, pythonInterpreter, script, "--endpoint", c.endpoint, "--bucket", "py-out", "--prefix", "out-", "--dir", filepath.Join(cfg.Dir, "local"))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return rec.results, fmt.Errorf("%s: %w\n%s", pythonScript, err, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var f pythonFigure
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			return rec.results, fmt.Errorf("%s printed %q: %w", pythonScript, sc.Text(), err)
		}
		rec.add(pythonResult(f))
	}
	return rec.results, nil
}

// bucketWriter puts a generated shard into a bucket when it is closed.
type bucketWriter struct {
	bytes.Buffer
	ctx    context.Context
	client *api.Client
	bucket string
	name   string
}

// Abort drops a shard whose generation failed: a short one is not put.
func (w *bucketWriter) Abort() error { w.Reset(); return nil }

var _ datasets.Aborter = (*bucketWriter)(nil)

func (w *bucketWriter) Close() error {
	_, err := w.client.Put(w.ctx, w.bucket, w.name, bytes.NewReader(w.Bytes()), api.PutOptions{Size: int64(w.Len())})
	return err
}

// pythonResult is a figure of the script as a Result: records are its
// operations.
func pythonResult(f pythonFigure) Result {
	return Result{Name: f.Name, Bytes: f.Bytes, Ops: f.Records, Elapsed: time.Duration(f.Seconds * float64(time.Second)),
		Baseline: f.Baseline, PeakRSS: f.PeakRSS, Note: "ops are records; peak RSS of the Python process (or its largest DataLoader worker); measured by " + pythonScript}
}

// findInRepository looks for a file of the repository from the working
// directory up (aisbench runs from the root; go test from a package).
func findInRepository(rel string) string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		path := filepath.Join(dir, rel)
		if _, err := os.Stat(path); err == nil {
			return path
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
