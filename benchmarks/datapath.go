package benchmarks

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/internal/pool"
)

// The data path as curl, boto3 and the PyTorch loader take it: a plain
// net/http client that sends every request to the gateway and follows its
// redirects (GET 301, PUT 307) to the target, against 1 gateway and 2
// targets of aisnode processes; durable by default (group commit) and
// with -no-sync. Beside a bare net/http server moving the same bytes and,
// for the durable PUT, the disk writing each file with its own fsync.

// datapathTargets is the targets of the datapath cluster.
const datapathTargets = 2

func datapathSuite() Suite {
	return Suite{
		Name: "datapath",
		Doc: "PUT and GET through the gateway's redirects with a plain net/http client (1 gateway, 2 targets; durable and -no-sync) " +
			"beside a bare net/http server and the disk with an fsync per file",
		DefaultSize: 256 << 20,
		Run:         runDatapath,
	}
}

func datapathName(sync bool, method string, size int) string {
	mode := "durable"
	if !sync {
		mode = "no-sync"
	}
	return fmt.Sprintf("redirected %s %s %s, %d workers", mode, method, sizeName(size), httpWorkers)
}

func diskSyncedName(size int) string {
	return fmt.Sprintf("disk write %s files, fsync each, %d workers", sizeName(size), httpWorkers)
}

func runDatapath(ctx context.Context, cfg Config) ([]Result, error) {
	rec := newRecorder("datapath", cfg.Logger)
	src := randomBytes(srcSize)
	lb, err := startLoopback(src)
	if err != nil {
		return nil, err
	}
	defer lb.close()
	for _, size := range objectSizes {
		if err := lb.figures(ctx, rec, cfg.Size, size, httpWorkers, ""); err != nil {
			return rec.results, err
		}
		n := count(cfg.Size, size)
		dir := filepath.Join(cfg.Dir, "disk", sizeName(size))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return rec.results, err
		}
		disk := figure{name: diskSyncedName(size), bytes: n * int64(size), ops: n}
		if err := rec.measure(ctx, disk, func() error { return writeSynced(ctx, dir, src, n, size) }); err != nil {
			return rec.results, err
		}
		// The files stay until the suite's end: on ext4 without a journal,
		// inodes freed within the last minutes make every file creation
		// scan past them, and the cluster figures below would pay for it.
	}
	if cfg.Aisnode == "" {
		why := "no aisnode binary (build it with 'make build', or pass -aisnode)"
		for _, sync := range []bool{true, false} {
			for _, size := range objectSizes {
				put, get := datapathName(sync, "PUT", size), datapathName(sync, "GET", size)
				rec.skip(put, loopbackName("PUT", size, httpWorkers), why)
				rec.skip(get, loopbackName("GET", size, httpWorkers), why)
				rec.skip(getBatchName(get), get, why)
				rec.skip(archiveName(put, size, count(cfg.Size, size)), put, why)
			}
		}
		return rec.results, nil
	}
	for _, sync := range []bool{true, false} {
		if err := datapathRun(ctx, rec, cfg, src, sync); err != nil {
			return rec.results, err
		}
	}
	return rec.results, nil
}

// writeSynced writes n files with httpWorkers workers, each file synced
// before it is closed: the disk's bound for durable PUTs one by one.
func writeSynced(ctx context.Context, dir string, src []byte, n int64, size int) error {
	return runWorkers(ctx, httpWorkers, n, 0, func(ctx context.Context, i int64, _ []byte) error {
		f, err := os.OpenFile(filePath(dir, i), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		_, err = f.Write(slice(src, i, size))
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

func datapathRun(ctx context.Context, rec *recorder, cfg Config, src []byte, sync bool) error {
	dir, args := filepath.Join(cfg.Dir, "durable"), []string(nil)
	if !sync {
		dir, args = filepath.Join(cfg.Dir, "no-sync"), []string{"-no-sync"}
	}
	c, err := startLocalClusterOf(ctx, dir, cfg.Aisnode, 1, datapathTargets, args...)
	if err != nil {
		return err
	}
	defer c.stop()
	if err := api.NewClient(c.endpoint).CreateBucket(ctx, benchBucket, nil); err != nil {
		return err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil
	transport.MaxIdleConnsPerHost = 64
	// A node that takes a request and answers nothing fails the run,
	// not hangs it (the workers are bounded in count, not in time).
	transport.ResponseHeaderTimeout = time.Minute
	client := &http.Client{Transport: transport}
	note := fmt.Sprintf("1 gateway and %d targets, each an aisnode process; every request to the gateway, redirects followed", datapathTargets)
	for _, size := range objectSizes {
		n := count(cfg.Size, size)
		bytesMoved := n * int64(size)
		put := figure{name: datapathName(sync, "PUT", size), baseline: loopbackName("PUT", size, httpWorkers), bytes: bytesMoved, ops: n, note: note}
		if sync {
			put.bounds = []string{diskSyncedName(size)}
		}
		get := figure{name: datapathName(sync, "GET", size), baseline: loopbackName("GET", size, httpWorkers), bytes: bytesMoved, ops: n, note: note, repeat: true}
		url := func(i int64) string {
			return fmt.Sprintf("%s/v1/objects/%s/dp-%d/%d", c.endpoint, benchBucket, size, i)
		}
		err := rec.measureWith(ctx, put, func() error {
			return runWorkers(ctx, httpWorkers, n, pool.CopyBufferSize, func(ctx context.Context, i int64, buf []byte) error {
				req, err := http.NewRequestWithContext(ctx, http.MethodPut, url(i), bytes.NewReader(slice(src, i, size)))
				if err != nil {
					return err
				}
				return plainDo(client, req, buf, -1)
			})
		}, c)
		if err != nil {
			return err
		}
		err = rec.measureWith(ctx, get, func() error {
			return runWorkers(ctx, httpWorkers, n, pool.CopyBufferSize, func(ctx context.Context, i int64, buf []byte) error {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, url(i), nil)
				if err != nil {
					return err
				}
				return plainDo(client, req, buf, int64(size))
			})
		}, c)
		if err != nil {
			return err
		}
		if err := getBatchFigure(ctx, rec, c, get, size, n); err != nil {
			return err
		}
		if err := archiveFigure(ctx, rec, c, put, size, n); err != nil {
			return err
		}
	}
	return nil
}

// getBatchName is the get-batch figure beside the GET figure get.
func getBatchName(get string) string {
	return strings.Replace(get, " GET ", " get-batch ", 1) + fmt.Sprintf(", %d a request", batchEntries)
}

// archiveName is the archive figure of the PUT figure put's n objects.
func archiveName(put string, size int, n int64) string {
	mode, _, _ := strings.Cut(strings.TrimPrefix(put, "redirected "), " ")
	return fmt.Sprintf("%s archive job, %d objects of %s into one tar", mode, n, sizeName(size))
}

// batchEntries is the entries of one get-batch request in the figure.
const batchEntries = 64

// getBatchFigure reads the GET figure's objects again, batchEntries to a
// get-batch request (streamed tar), with as many workers.
func getBatchFigure(ctx context.Context, rec *recorder, c *localCluster, get figure, size int, n int64) error {
	client := api.NewClient(c.endpoint)
	batches := (n + batchEntries - 1) / batchEntries
	fig := figure{name: getBatchName(get.name),
		baseline: get.name, bytes: get.bytes, ops: n, repeat: true,
		note: "the same objects as the GET figure, read with GET /v1/ml/moss (a streamed tar) through the gateway"}
	return rec.measureWith(ctx, fig, func() error {
		return runWorkers(ctx, httpWorkers, batches, 0, func(ctx context.Context, b int64, _ []byte) error {
			req := api.BatchRequest{Streaming: true}
			for i := b * batchEntries; i < min(n, (b+1)*batchEntries); i++ {
				req.In = append(req.In, api.BatchEntry{ObjName: fmt.Sprintf("dp-%d/%d", size, i)})
			}
			var counted countingWriter
			if _, err := client.GetBatch(ctx, benchBucket, req, &counted); err != nil {
				return err
			}
			if want := int64(len(req.In) * size); counted.n < want {
				return fmt.Errorf("get-batch %d: %d bytes, less than the %d of its objects", b, counted.n, want)
			}
			return nil
		})
	}, c)
}

// archiveFigure writes the PUT figure's objects into one shard with the
// archive action (a job on the shard's owner, reading from every target),
// beside the PUTs that wrote the same bytes.
func archiveFigure(ctx context.Context, rec *recorder, c *localCluster, put figure, size int, n int64) error {
	client := api.NewClient(c.endpoint)
	fig := figure{name: archiveName(put.name, size, n),
		baseline: put.name, bytes: put.bytes, ops: n,
		note: "the PUT figure's objects written in order into one shard by the archive action, timed to the end of its job"}
	var ended time.Time
	fig.ended = func() time.Time { return ended }
	return rec.measureWith(ctx, fig, func() error {
		id, err := client.Archive(ctx, benchBucket, api.ArchiveMessage{ArchName: fmt.Sprintf("archive-%d.tar", size),
			ListRange: api.ListRange{Template: fmt.Sprintf("dp-%d/{0..%d}", size, n-1)}})
		if err != nil {
			return err
		}
		job, err := waitJob(ctx, client, id, 10*time.Millisecond)
		ended = jobEnd(job)
		if err == nil && (len(job.Errors) > 0 || job.Objects != n) {
			err = fmt.Errorf("archive job %s: %d of %d objects, errors %v", id, job.Objects, n, job.Errors)
		}
		return err
	}, c)
}

// countingWriter counts and drops what is written.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// plainDo sends a request as a plain HTTP client does and drains the
// answer; anything but 200, or a GET's body cut short or not of want
// bytes (want >= 0), is an error: only whole objects count.
func plainDo(client *http.Client, req *http.Request, buf []byte, want int64) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := drainInto(resp.Body, buf)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s", req.Method, req.URL.Path, resp.Status)
	}
	if err != nil {
		return fmt.Errorf("%s %s: the body: %w", req.Method, req.URL.Path, err)
	}
	if want >= 0 && n != want {
		return fmt.Errorf("%s %s: %d bytes, want %d", req.Method, req.URL.Path, n, want)
	}
	return nil
}
