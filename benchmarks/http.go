package benchmarks

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/dryrun"
	"github.com/aisgo/aisgo/store/fs"
)

// httpWorkers are the client workers of the cluster figures.
const httpWorkers = 4

// benchBucket is the bucket the HTTP figures fill.
const benchBucket = "bench"

func httpSuite() Suite {
	return Suite{
		Name: "http",
		Doc: "PUT and GET through the API (an embedded node, with its disk and dry-run; a 3-target cluster of aisnode processes) " +
			"beside a bare net/http server moving the same bytes and the raw disk; rebalance onto a new target",
		DefaultSize: 512 << 20,
		Run:         runHTTP,
	}
}

// apiName names an API figure: "API PUT 1 MiB, 4 workers",
// "cluster dry-run GET 100 KiB cold, 1 worker".
func apiName(where, method string, size int, cold bool, workers int) string {
	temperature := ""
	if cold {
		temperature = " cold"
	}
	return fmt.Sprintf("%s %s %s%s, %d %s", where, method, sizeName(size), temperature, workers, plural(workers, "worker"))
}

// runHTTP measures the bounds (bare net/http, raw files), then an
// embedded node on its disk and in dry-run, then a local cluster.
func runHTTP(ctx context.Context, cfg Config) ([]Result, error) {
	rec := newRecorder("http", cfg.Logger)
	src := randomBytes(srcSize)
	lb, err := startLoopback(src)
	if err != nil {
		return nil, err
	}
	defer lb.close()
	for _, size := range objectSizes {
		for _, streams := range streamCounts {
			if err := lb.figures(ctx, rec, cfg.Size, size, streams, ""); err != nil {
				return rec.results, err
			}
		}
		if err := diskSetFigures(ctx, rec, cfg.Dir, src, cfg.Size, size, true, true, true); err != nil {
			return rec.results, err
		}
	}
	for _, dryRun := range []bool{false, true} {
		if err := embeddedFigures(ctx, rec, cfg, src, dryRun); err != nil {
			return rec.results, err
		}
	}
	if err := clusterFigures(ctx, rec, cfg, src); err != nil {
		return rec.results, err
	}
	return rec.results, nil
}

// embeddedNode is a node of role "all" (gateway and target in one) served
// by this process on a real loopback listener, as aisnode serves it.
type embeddedNode struct {
	node   *gateway.Node
	server *http.Server
	url    string
	fs     *fs.Store
}

func startEmbedded(ctx context.Context, dir string, dryRun bool) (*embeddedNode, error) {
	meta, err := membership.NewFileStore(filepath.Join(dir, "meta"))
	if err != nil {
		return nil, err
	}
	fsStore, err := fs.Open(ctx, fs.Config{Mountpaths: []string{filepath.Join(dir, "mp1")}})
	if err != nil {
		return nil, err
	}
	var st store.Store = fsStore
	if dryRun {
		st = dryrun.Wrap(fsStore)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fsStore.Close()
		return nil, err
	}
	e := &embeddedNode{url: "http://" + listener.Addr().String(), fs: fsStore}
	e.node, err = gateway.New(gateway.Config{ID: "n1", Role: cluster.RoleAll, URL: e.url, Meta: meta, Store: st, Storage: fsStore, S3Keys: map[string]string{benchS3Key: benchS3Secret}, WorkDir: filepath.Join(dir, "work"), RaftDir: filepath.Join(dir, "meta", "raft"), Secret: peer.NewSecret()})
	if err != nil {
		listener.Close()
		fsStore.Close()
		return nil, err
	}
	e.server = &http.Server{Handler: e.node.Handler(), ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 5 * time.Minute}
	go e.server.Serve(listener)
	if err := e.node.Start(ctx); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// close stops the node and its store: left open, the store's background
// work (access times flushed every 10 s) runs into the next figures.
func (e *embeddedNode) close() {
	e.server.Close()
	e.node.Close()
	e.fs.Close()
}

// benchNode starts an embedded node (on disk or dry-run) with the
// benchmark bucket, and names the figures measured on it.
func benchNode(ctx context.Context, cfg Config, dryRun bool) (string, *embeddedNode, *api.Client, error) {
	where, dir := "API", filepath.Join(cfg.Dir, "node")
	if dryRun {
		where, dir = "API dry-run", filepath.Join(cfg.Dir, "node-dry-run")
	}
	node, err := startEmbedded(ctx, dir, dryRun)
	if err != nil {
		return "", nil, nil, fmt.Errorf("embedded node: %w", err)
	}
	client := api.NewClient(node.url)
	if err := client.CreateBucket(ctx, benchBucket, nil); err != nil {
		node.close()
		return "", nil, nil, err
	}
	return where, node, client, nil
}

// embeddedFigures measures PUT, GET and (on disk) cold GET through the
// API of an embedded node, for each object size and worker count.
func embeddedFigures(ctx context.Context, rec *recorder, cfg Config, src []byte, dryRun bool) error {
	where, node, client, err := benchNode(ctx, cfg, dryRun)
	if err != nil {
		return err
	}
	defer node.close()
	note := "client and node in this process; the client routes each request to the target by the cluster map"
	for _, size := range objectSizes {
		n := count(cfg.Size, size)
		bytesMoved := n * int64(size)
		for _, workers := range streamCounts {
			prefix := fmt.Sprintf("%d-%d/", size, workers)
			put := figure{name: apiName(where, "PUT", size, false, workers), baseline: loopbackName("PUT", size, workers), bytes: bytesMoved, ops: n, note: note}
			get := figure{name: apiName(where, "GET", size, false, workers), baseline: loopbackName("GET", size, workers), bytes: bytesMoved, ops: n, note: note, repeat: true}
			put.repeat = dryRun // a PUT to the disk writes new versions
			if !dryRun {
				// The disk's bound at as many writers: the one-writer
				// figure bounds one writer only (fsyncs of several
				// overlap; the datapath suite has the bound of 4).
				if workers == 1 {
					put.bounds = []string{diskWriteName(size, true)}
				}
				get.bounds = []string{diskReadersName(size, false, workers)}
			}
			if err := rec.measure(ctx, put, func() error { return apiPut(ctx, client, prefix, src, n, size, workers) }); err != nil {
				return err
			}
			if err := rec.measure(ctx, get, func() error { return apiGet(ctx, client, prefix, n, size, workers) }); err != nil {
				return err
			}
			if dryRun || workers != httpWorkers {
				continue
			}
			if err := dropCache(node.fs.Mountpaths()[0]); err != nil {
				return err
			}
			cold := figure{name: apiName(where, "GET", size, true, workers), baseline: loopbackName("GET", size, workers),
				bounds: []string{diskReadersName(size, true, workers)}, bytes: bytesMoved, ops: n, note: note + "; objects dropped from the page cache"}
			if err := rec.measure(ctx, cold, func() error { return apiGet(ctx, client, prefix, n, size, workers) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// apiPut puts n objects of size under prefix through the API client.
func apiPut(ctx context.Context, client *api.Client, prefix string, src []byte, n int64, size, workers int) error {
	return runWorkers(ctx, workers, n, 0, func(ctx context.Context, i int64, _ []byte) error {
		_, err := client.Put(ctx, benchBucket, prefix+objectName(i), bytes.NewReader(slice(src, i, size)), api.PutOptions{Size: int64(size)})
		return err
	})
}

// apiGet reads n objects of size under prefix through the API client.
func apiGet(ctx context.Context, client *api.Client, prefix string, n int64, size, workers int) error {
	return runWorkers(ctx, workers, n, pool.CopyBufferSize, func(ctx context.Context, i int64, buf []byte) error {
		r, _, err := client.Get(ctx, benchBucket, prefix+objectName(i), api.GetOptions{})
		if err != nil {
			return err
		}
		got, err := drainInto(r, buf)
		r.Close()
		if err != nil {
			return err
		}
		return expectSize(prefix+objectName(i), got, int64(size))
	})
}
