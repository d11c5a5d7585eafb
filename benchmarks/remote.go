package benchmarks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sys/unix"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/internal/pool"
)

// The remote suite: a bucket of a real S3 server (versitygw, serving a
// directory on loopback) behind a cluster of aisnode processes. Cold GETs
// beside the same objects fetched straight from the S3 server with
// aws-sdk-go-v2; warm GETs beside GETs of an ais:// bucket; prefetch in
// objects/s.

const (
	remoteAccess  = "AKIDBENCH"
	remoteSecret  = "bench-secret"
	remoteBucket  = "bench-remote"
	remoteObjSize = 1 << 20
)

func remoteSuite() Suite {
	return Suite{
		Name: "remote",
		Doc: "an s3:// bucket of versitygw behind 1 gateway and 2 targets: cold GET beside aws-sdk-go-v2 straight from the server " +
			"(on shared CPUs, and with the CPUs split between the client and server and the cluster), warm GET beside an ais:// bucket, prefetch",
		DefaultSize: 128 << 20,
		Run:         runRemote,
	}
}

// versitygw finds the S3 server's binary: in PATH or in GOPATH/bin.
func versitygw() string {
	if path, err := exec.LookPath("versitygw"); err == nil {
		return path
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		path := filepath.Join(strings.TrimSpace(string(out)), "bin", "versitygw")
		if _, err := os.Stat(path); err == nil {
			return path
		}
	}
	return ""
}

// cacheBoundWhat names the figure of the least a cache does on this host.
const cacheBoundWhat = "S3 GET straight, each object written to a new file"

func remoteName(what string) string {
	return fmt.Sprintf("remote %s 1 MiB, %d workers", what, httpWorkers)
}

func runRemote(ctx context.Context, cfg Config) ([]Result, error) {
	rec := newRecorder("remote", cfg.Logger)
	n := count(cfg.Size, remoteObjSize)
	names := []string{"S3 GET straight from versitygw", cacheBoundWhat, "cold GET", "ais:// GET", "warm GET", "HTTP GET loop", "downloader", "prefetch", pinnedDirectWhat, pinnedColdWhat}
	why := ""
	server := versitygw()
	switch {
	case cfg.Aisnode == "":
		why = "no aisnode binary (build it with 'make build', or pass -aisnode)"
	case server == "":
		why = "no versitygw (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)"
	}
	if why != "" {
		for _, name := range names {
			rec.skip(remoteName(name), "", why)
		}
		return rec.results, nil
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := listener.Addr().String()
	listener.Close()
	dataDir := filepath.Join(cfg.Dir, "s3")
	os.MkdirAll(dataDir, 0o755)
	cmd := exec.Command(server, "--access", remoteAccess, "--secret", remoteSecret, "--port", addr, "posix", dataDir)
	// It dies with the benchmark, however that ends (as the nodes do),
	// and says why it could not start in its log.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logPath := filepath.Join(cfg.Dir, "versitygw.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	for deadline := time.Now().Add(20 * time.Second); ; {
		select {
		case err := <-exited:
			exited <- err // for the deferred wait
			return nil, fmt.Errorf("versitygw exited as it started (see %s): %w", logPath, err)
		default:
		}
		if conn, err := net.Dial("tcp", addr); err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("versitygw did not start at %s: see %s", addr, logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
	sdk := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + addr), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(remoteAccess, remoteSecret, "")})
	if _, err := sdk.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(remoteBucket)}); err != nil {
		return nil, err
	}
	src := randomBytes(srcSize)
	key := func(prefix string, i int64) string { return fmt.Sprintf("%s/%06d", prefix, i) }
	// The objects: one set for the cold GETs, one for the prefetch.
	for _, prefix := range []string{"cold", "pre"} {
		err := runWorkers(ctx, httpWorkers, n, 0, func(ctx context.Context, i int64, _ []byte) error {
			_, err := sdk.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(remoteBucket), Key: aws.String(key(prefix, i)), Body: bytes.NewReader(slice(src, i, remoteObjSize))})
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	env := []string{"AWS_ACCESS_KEY_ID=" + remoteAccess, "AWS_SECRET_ACCESS_KEY=" + remoteSecret, "AWS_REGION=us-east-1",
		"AWS_ENDPOINT_URL=http://" + addr, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
	c, err := startLocalClusterEnv(ctx, filepath.Join(cfg.Dir, "cluster"), cfg.Aisnode, 1, datapathTargets, env, "-fetch-allow-local") // the downloader's files are on this host
	if err != nil {
		return nil, err
	}
	defer c.stop()
	client := api.NewClient(c.endpoint)
	bytesMoved := n * remoteObjSize
	note := fmt.Sprintf("versitygw on loopback; 1 gateway and %d targets", datapathTargets)
	direct := figure{name: remoteName("S3 GET straight from versitygw"), bytes: bytesMoved, ops: n, note: "aws-sdk-go-v2 with its defaults (it checks the CRC64NVME S3 gives with each object, as the cold GET does), no cluster", repeat: true}
	straight := func() error {
		return runWorkers(ctx, httpWorkers, n, 0, func(ctx context.Context, i int64, _ []byte) error {
			out, err := sdk.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(remoteBucket), Key: aws.String(key("cold", i))})
			if err != nil {
				return err
			}
			defer out.Body.Close()
			_, err = io.Copy(io.Discard, out.Body)
			return err
		})
	}
	if err := rec.measure(ctx, direct, straight); err != nil {
		return rec.results, err
	}
	get := func(bucket, prefix string) func() error {
		return func() error {
			return runWorkers(ctx, httpWorkers, n, 0, func(ctx context.Context, i int64, _ []byte) error {
				r, _, err := client.Get(ctx, bucket, key(prefix, i), api.GetOptions{})
				if err != nil {
					return err
				}
				defer r.Close()
				_, err = io.Copy(io.Discard, r)
				return err
			})
		}
	}
	// What any cache on this host must do at the least: the same GETs,
	// each object written into a new file (no sync, as the cluster keeps
	// a cached copy), with no cluster in between.
	// Figures that fill the page cache start on freshly touched memory.
	warm := func() error { return warmFreeMemory(2 * bytesMoved) }
	storeDir := filepath.Join(cfg.Dir, "cache-bound")
	// Each run writes new files, as a cold cache does.
	emptyStore := func() error {
		if err := os.RemoveAll(storeDir); err != nil {
			return err
		}
		if err := os.MkdirAll(storeDir, 0o755); err != nil {
			return err
		}
		return warm()
	}
	store := figure{name: remoteName(cacheBoundWhat), bytes: bytesMoved, ops: n, setup: emptyStore, repeat: true,
		note: "aws-sdk-go-v2 and os.WriteFile, no cluster, no fsync: the least a cache on this host does"}
	err = rec.measure(ctx, store, func() error {
		return runWorkers(ctx, httpWorkers, n, remoteObjSize, func(ctx context.Context, i int64, buf []byte) error {
			out, err := sdk.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(remoteBucket), Key: aws.String(key("cold", i))})
			if err != nil {
				return err
			}
			_, err = io.ReadFull(out.Body, buf) // every object is remoteObjSize
			out.Body.Close()
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(storeDir, fmt.Sprintf("%06d", i)), buf, 0o644)
		})
	})
	if err != nil {
		return rec.results, err
	}
	// Every run of the cold and prefetch figures starts with the objects
	// evicted from the cluster, so they repeat like their baselines.
	evict := func(prefix string) func() error {
		return func() error {
			id, err := client.Evict(ctx, "s3://"+remoteBucket, api.ListRange{Template: prefix + "/"})
			if err != nil {
				return err
			}
			j, err := waitJob(ctx, client, id, 20*time.Millisecond)
			if err != nil {
				return err
			}
			// An evict short of some objects would leave them cached:
			// the next "cold" run would read them warm.
			if len(j.Errors) > 0 || j.Aborted {
				return fmt.Errorf("evict %s/: aborted %v, errors %v", prefix, j.Aborted, j.Errors)
			}
			return warm()
		}
	}
	cold := figure{name: remoteName("cold GET"), baseline: direct.name, bounds: []string{store.name}, bytes: bytesMoved, ops: n,
		note: note + "; each run after an evict job", setup: evict("cold"), repeat: true}
	if err := rec.measureWith(ctx, cold, get("s3://"+remoteBucket, "cold"), c); err != nil {
		return rec.results, err
	}
	// An ais:// bucket with the same objects, for the warm figure.
	if err := client.CreateBucket(ctx, "bench-local", nil); err != nil {
		return rec.results, err
	}
	err = runWorkers(ctx, httpWorkers, n, 0, func(ctx context.Context, i int64, _ []byte) error {
		_, err := client.Put(ctx, "bench-local", key("cold", i), bytes.NewReader(slice(src, i, remoteObjSize)), api.PutOptions{Size: remoteObjSize})
		return err
	})
	if err != nil {
		return rec.results, err
	}
	local := figure{name: remoteName("ais:// GET"), bytes: bytesMoved, ops: n, note: note, repeat: true}
	if err := rec.measureWith(ctx, local, get("bench-local", "cold"), c); err != nil {
		return rec.results, err
	}
	warmGet := figure{name: remoteName("warm GET"), baseline: local.name, bytes: bytesMoved, ops: n, note: note, repeat: true}
	if err := rec.measureWith(ctx, warmGet, get("s3://"+remoteBucket, "cold"), c); err != nil {
		return rec.results, err
	}
	if err := downloadFigures(ctx, rec, c, client, src, n); err != nil {
		return rec.results, err
	}
	if err := pinnedColdFigures(ctx, rec, c, cmd.Process.Pid, direct, straight, cold, get("s3://"+remoteBucket, "cold")); err != nil {
		return rec.results, err
	}
	prefetch := figure{name: remoteName("prefetch"), baseline: direct.name, bytes: bytesMoved, ops: n, note: note + "; a job on every target, 8 cold GETs at a time each; each run after an evict job", setup: evict("pre"), repeat: true}
	var prefetched time.Time
	prefetch.ended = func() time.Time { return prefetched }
	err = rec.measureWith(ctx, prefetch, func() error {
		id, err := client.Prefetch(ctx, "s3://"+remoteBucket, api.ListRange{Template: "pre/"})
		if err != nil {
			return err
		}
		j, err := waitJob(ctx, client, id, 50*time.Millisecond)
		prefetched = jobEnd(j)
		if err == nil && len(j.Errors) > 0 {
			err = fmt.Errorf("prefetch: %s", j.Errors[0])
		}
		if err == nil && j.Objects != n {
			err = fmt.Errorf("prefetch fetched %d objects, want %d", j.Objects, n)
		}
		return err
	}, c)
	return rec.results, err
}

// downloadFigures: the downloader fetching n 1 MiB files from a local
// HTTP server, beside a plain Go loop of GETs of the same URLs.
func downloadFigures(ctx context.Context, rec *recorder, c *localCluster, client *api.Client, src []byte, n int64) error {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	server := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, "/f/"), 10, 64)
		w.Header().Set("Content-Length", strconv.Itoa(remoteObjSize))
		w.Write(slice(src, i, remoteObjSize))
	})}
	go server.Serve(listener)
	defer server.Close()
	base := "http://" + listener.Addr().String()
	bytesMoved := n * remoteObjSize
	loop := figure{name: remoteName("HTTP GET loop"), bytes: bytesMoved, ops: n, note: "net/http from this process, the files of the downloader figure", repeat: true}
	err = rec.measure(ctx, loop, func() error {
		return runWorkers(ctx, httpWorkers, n, pool.CopyBufferSize, func(ctx context.Context, i int64, buf []byte) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/f/%06d", base, i), nil)
			if err != nil {
				return err
			}
			return plainDo(http.DefaultClient, req, buf, int64(remoteObjSize))
		})
	})
	if err != nil {
		return err
	}
	if err := client.CreateBucket(ctx, "bench-download", nil); err != nil {
		return err
	}
	dl := figure{name: remoteName("downloader"), baseline: loop.name, bytes: bytesMoved, ops: n, note: "a range job on every target, 4 files at a time each, durable", setup: func() error { return warmFreeMemory(2 * bytesMoved) }}
	return rec.measureWith(ctx, dl, func() error {
		id, err := client.StartDownload(ctx, api.DownloadRequest{Type: api.DownloadRange, Bucket: api.Bck{Name: "bench-download"},
			Template: fmt.Sprintf("%s/f/{000000..%06d}", base, n-1)})
		if err != nil {
			return err
		}
		return poll(ctx, 20*time.Millisecond, "download "+id, func() (bool, error) {
			s, err := client.DownloadStatus(ctx, id)
			if err != nil || !s.Done {
				return false, err
			}
			if len(s.Errors) > 0 || s.Finished != int(n) {
				return false, fmt.Errorf("download: %d of %d files, errors %v", s.Finished, n, s.Errors)
			}
			return true, nil
		})
	}, c)
}

// The cold GET again with the cluster on CPUs of its own: the client and
// versitygw on one half of the CPUs, the nodes on the other, as where the
// cache runs on its own hosts. On one host they share every CPU, and a
// cold GET moves each byte twice as often as a straight GET does.
const (
	pinnedDirectWhat = "S3 GET straight, client and S3 on half the CPUs"
	pinnedColdWhat   = "cold GET, the cluster on the other half"
)

// pinnedColdFigures measures the straight GET and the cold GET with the
// CPUs split (see pinnedDirectWhat); afterwards every process has every
// CPU again.
func pinnedColdFigures(ctx context.Context, rec *recorder, c *localCluster, server int, direct figure, straight func() error, cold figure, coldGet func() error) error {
	clients, cluster, all, ok := cpuSplit()
	direct.name, direct.note = remoteName(pinnedDirectWhat), direct.note+"; this process and versitygw pinned to half the CPUs"
	cold.name, cold.baseline, cold.bounds = remoteName(pinnedColdWhat), direct.name, nil
	cold.note += "; the client and versitygw on half the CPUs, the nodes on the other half"
	if !ok {
		rec.skip(direct.name, "", "one CPU: nothing to split")
		rec.skip(cold.name, direct.name, "one CPU: nothing to split")
		return nil
	}
	pin := func(clientCPUs, clusterCPUs unix.CPUSet) error {
		err := errors.Join(pinProcess(0, clientCPUs), pinProcess(server, clientCPUs))
		for _, n := range c.nodes {
			err = errors.Join(err, pinProcess(n.cmd.Process.Pid, clusterCPUs))
		}
		return err
	}
	defer pin(all, all)
	if err := pin(clients, cluster); err != nil {
		return err
	}
	if err := rec.measure(ctx, direct, straight); err != nil {
		return err
	}
	return rec.measureWith(ctx, cold, coldGet, c)
}
