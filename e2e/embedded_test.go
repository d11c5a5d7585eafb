//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/store"
)

// 1,000 objects put through the CLI, listed in pages, read back with
// matching checksums.
func TestEmbeddedNodeThroughCLI(t *testing.T) {
	node := startNode(t, "-data", t.TempDir())
	src := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 1))
	want := map[string][]byte{}
	for i := range 1000 {
		name := fmt.Sprintf("d%02d/file-%04d.bin", i%10, i)
		data := make([]byte, 100+rng.IntN(5000))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		os.MkdirAll(filepath.Join(src, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(src, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		want["in/"+name] = data
	}
	ais(t, node.url, "bucket", "create", "ais://e2e")
	out := ais(t, node.url, "put", src, "ais://e2e/in/")
	if !strings.Contains(out, "put 1000 objects") {
		t.Fatalf("put output: %q", out)
	}
	// The CLI listing.
	var entries []api.ListEntry
	if err := json.Unmarshal([]byte(ais(t, node.url, "ls", "ais://e2e", "--json", "--props", "name,size,checksum")), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1000 {
		t.Fatalf("ais ls listed %d objects", len(entries))
	}
	// Pages of 64 through the API: each object once, in order.
	c := node.client()
	var names []string
	for e, err := range c.ListAll(t.Context(), "e2e", api.ListObjectsMessage{PageSize: 64}) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, e.Name)
	}
	if len(names) != 1000 || !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != 1000 {
		t.Fatalf("paged listing: %d names, sorted %v", len(names), slices.IsSorted(names))
	}
	for name, data := range want {
		got, err := c.GetBytes(t.Context(), "e2e", name, api.GetOptions{Validate: true})
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: read back %d bytes, %v", name, len(got), err)
		}
	}
	for _, e := range entries {
		head, err := c.Head(t.Context(), "e2e", e.Name)
		if err != nil || head.Checksum.Value != e.Checksum || head.Size != int64(len(want[e.Name])) {
			t.Fatalf("%s: head %+v %v, listed %+v", e.Name, head, err, e)
		}
	}
	// ais get into a file and to stdout.
	dest := filepath.Join(t.TempDir(), "one.bin")
	ais(t, node.url, "get", "ais://e2e/in/d03/file-0003.bin", dest)
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, want["in/d03/file-0003.bin"]) {
		t.Fatal("ais get wrote other bytes")
	}
	if got := ais(t, node.url, "get", "ais://e2e/in/d04/file-0004.bin", "-"); got != string(want["in/d04/file-0004.bin"]) {
		t.Fatal("ais get - wrote other bytes")
	}
	if out := ais(t, node.url, "object", "head", "ais://e2e/in/d04/file-0004.bin"); !strings.Contains(out, "xxhash:") {
		t.Fatalf("object head: %q", out)
	}
	ais(t, node.url, "rm", "ais://e2e/in/d04/file-0004.bin")
	if _, err := c.Head(t.Context(), "e2e", "in/d04/file-0004.bin"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("after ais rm: %v", err)
	}
	// The cluster config: changed, shown, a bad field refused.
	// The new version on stderr, the config alone on stdout (for jq).
	if out, stderr, err := aisResult(node.url, "config", "cluster", "distributed_sort.missing_shards=warn"); err != nil || !strings.Contains(stderr, "version 1") || !json.Valid([]byte(out)) {
		t.Fatalf("ais config cluster KEY=VALUE: %v, stdout %q, stderr %q", err, out, stderr)
	}
	if out := ais(t, node.url, "config", "cluster"); !strings.Contains(out, `"missing_shards": "warn"`) {
		t.Fatalf("ais config cluster: %q", out)
	}
	if _, stderr, err := aisResult(node.url, "config", "cluster", "distributed_sort.missing_shards=maybe"); err == nil || !strings.Contains(stderr, "ignore, warn or abort") {
		t.Fatalf("a bad value: %v %q", err, stderr)
	}
}

// Errors reach the CLI user as one line and a non-zero exit.
func TestCLIErrors(t *testing.T) {
	node := startNode(t, "-data", t.TempDir())
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"ls", "ais://missing"}, "does not exist"},
		{[]string{"get", "ais://missing/o", "-"}, "does not exist"},
		{[]string{"bucket", "create", "ais://bad name"}, "may contain only"},
		{[]string{"bucket", "create", "gs://b"}, "not supported"},
		// No credentials in the node's environment: the S3 backend says so.
		{[]string{"bucket", "create", "s3://remote-b"}, "no S3 credentials"},
		{[]string{"put", "/nonexistent/file", "ais://b"}, "no such file"},
		{[]string{"bucket", "props", "ais://nope"}, "does not exist"},
	} {
		_, stderr, err := aisResult(node.url, tc.args...)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Errorf("ais %v: exit %v, want non-zero", tc.args, err)
		}
		if lines := strings.Count(strings.TrimSpace(stderr), "\n"); lines != 0 || !strings.Contains(stderr, tc.says) {
			t.Errorf("ais %v: stderr %q, want one line saying %q", tc.args, stderr, tc.says)
		}
	}
	if out, _, err := aisResult(node.url, "--help"); err != nil || !strings.Contains(out, "bucket") {
		t.Errorf("ais --help: %v %q", err, out)
	}
}

// slowReader yields size bytes, calling onHalf once half is sent.
type slowReader struct {
	left, half int64
	onHalf     func()
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), r.left, 1<<20)
	for i := range p[:n] {
		p[i] = byte(i)
	}
	r.left -= n
	if r.onHalf != nil && r.left <= r.half {
		r.onHalf()
		r.onHalf = nil
		time.Sleep(200 * time.Millisecond)
	}
	return int(n), nil
}

// A kill -9 in the middle of a 200 MiB PUT, then a restart: the object is
// the old version (or absent), never partial, and no work file is left.
func TestKillDuringPutLeavesNoPartialObject(t *testing.T) {
	data := t.TempDir()
	node := startNode(t, "-data", data)
	c := node.client()
	ctx := t.Context()
	if err := c.CreateBucket(ctx, "big", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "big", "kept", strings.NewReader("old version"), api.PutOptions{Size: 11}); err != nil {
		t.Fatal(err)
	}
	const size = 200 << 20
	for _, name := range []string{"fresh", "kept"} {
		r := &slowReader{left: size, half: size / 2, onHalf: node.kill}
		_, err := c.Put(ctx, "big", name, r, api.PutOptions{Size: size})
		if err == nil {
			t.Fatalf("%s: put succeeded although the node was killed", name)
		}
		node.restart()
		c = node.client()
		meta, err := c.Head(ctx, "big", name)
		switch name {
		case "fresh":
			if !errors.Is(err, api.ErrNotFound) {
				t.Fatalf("interrupted new object: %+v %v, want not found", meta, err)
			}
		case "kept":
			got, err := c.GetBytes(ctx, "big", name, api.GetOptions{Validate: true})
			if err != nil || string(got) != "old version" {
				t.Fatalf("interrupted overwrite: %q %v, want the old version", got[:min(len(got), 20)], err)
			}
		}
		work, _ := os.ReadDir(filepath.Join(data, "mp1", ".ais", "work"))
		if len(work) != 0 {
			t.Fatalf("work files left after restart: %v", work)
		}
		if _, err := os.Stat(filepath.Join(data, "mp1", "ais", "big", name)); name == "fresh" && !os.IsNotExist(err) {
			t.Fatalf("a partial file is visible: %v", err)
		}
	}
}

// unshare reports whether user and mount namespaces can be made here.
func canUnshare(t *testing.T) bool {
	err := exec.Command("unshare", "-Urm", "true").Run()
	if err != nil {
		t.Logf("unshare -Urm is not available: %v", err)
	}
	return err == nil
}

// A node whose mountpath has no extended attributes refuses to start and
// says why.
func TestNodeRefusesFilesystemWithoutXattrs(t *testing.T) {
	if !canUnshare(t) {
		t.Skip("needs user namespaces to mount a ramfs")
	}
	dir := t.TempDir()
	script := fmt.Sprintf("mount -t ramfs none %s && exec %s -host 127.0.0.1 -port %d -data %s", dir, filepath.Join(binDir, "aisnode"), freePort(t), dir)
	out, err := exec.Command("unshare", "-Urm", "sh", "-c", script).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(string(out), "extended attributes") {
		t.Fatalf("aisnode on ramfs: %v, output %q; want a refusal naming extended attributes", err, out)
	}
}

// On a full disk a PUT fails with 507 and leaves nothing; the node keeps
// serving.
func TestFullDiskRefusesPut(t *testing.T) {
	if !canUnshare(t) {
		t.Skip("needs user namespaces to mount a small tmpfs")
	}
	dir := t.TempDir()
	port := freePort(t)
	// Mountpaths checked often: a full one must stay in use.
	config := filepath.Join(t.TempDir(), "aisnode.yaml")
	if err := os.WriteFile(config, []byte("limits:\n  health_interval: 100ms\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Two mountpaths, each on a filesystem of its own: a full one could
	// be disabled (the other takes the record of it).
	script := fmt.Sprintf("mount -t tmpfs -o size=8m none %s && mkdir %s/mp2 && mount -t tmpfs -o size=8m none %s/mp2 && exec %s -config %s -host 127.0.0.1 -port %d -data %s -mountpaths %s/mp1,%s/mp2",
		dir, dir, dir, filepath.Join(binDir, "aisnode"), config, port, dir, dir, dir)
	cmd := exec.Command("unshare", "-Urm", "sh", "-c", script)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGKILL); cmd.Wait() })
	c := api.NewClient(fmt.Sprintf("http://127.0.0.1:%d", port))
	ctx := t.Context()
	deadline := time.Now().Add(20 * time.Second)
	for {
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := c.Health(hctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node on tmpfs not healthy: %v\n%s", err, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.CreateBucket(ctx, "full", nil); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), 16<<20)
	_, err := c.Put(ctx, "full", "too-big", bytes.NewReader(big), api.PutOptions{Size: int64(len(big))})
	var apiErr *api.Error
	if !errors.Is(err, store.ErrNoSpace) || !errors.As(err, &apiErr) || apiErr.Status != 507 {
		t.Fatalf("put of 16 MiB onto 8 MiB: %v, want 507 no space", err)
	}
	if _, err := c.Head(ctx, "full", "too-big"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the failed put is visible: %v", err)
	}
	if _, err := c.Put(ctx, "full", "small", strings.NewReader("fits"), api.PutOptions{Size: 4}); err != nil {
		t.Fatalf("a small put after the failure: %v", err)
	}
	// Filled to the last byte by another writer, the disk is full, not
	// failing: its health checks keep it in use, its objects readable.
	filler, err := os.Create(filepath.Join(fmt.Sprintf("/proc/%d/root", cmd.Process.Pid), dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for range 16 {
		if _, err = filler.Write(chunk); err != nil {
			break
		}
	}
	filler.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the 8 MiB disk: %v, want ENOSPC", err)
	}
	time.Sleep(time.Second) // ten health checks
	if got, err := c.GetBytes(ctx, "full", "small", api.GetOptions{}); err != nil || string(got) != "fits" {
		t.Fatalf("an object on the full disk after its health checks: %q %v", got, err)
	}
	mps, err := c.Mountpaths(ctx, c.Endpoint())
	if err != nil || len(mps) != 2 {
		t.Fatalf("mountpaths: %+v %v", mps, err)
	}
	for _, m := range mps {
		if m.State != "enabled" {
			t.Fatalf("the full mountpath %s is %s, want enabled", m.Path, m.State)
		}
	}
}

// A node started under nohup keeps running through a hang-up (the signal
// ignored when it started stays ignored), and stops on SIGTERM.
func TestHangUpUnderNohupIsIgnored(t *testing.T) {
	port := freePort(t)
	p := &process{url: fmt.Sprintf("http://127.0.0.1:%d", port), args: []string{"-host", "127.0.0.1", "-port", strconv.Itoa(port), "-data", t.TempDir()}, t: t, under: []string{"nohup"}}
	p.start()
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // (a stop would begin at once)
	if _, err := api.NewClient(p.url).Health(t.Context()); err != nil || strings.Contains(p.log.String(), "shutting down") {
		t.Fatalf("a node under nohup after SIGHUP: %v\n%s", err, p.log)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil || !strings.Contains(p.log.String(), "shutting down") {
		t.Fatalf("after SIGTERM: %v\n%s", err, p.log)
	}
}

// A start that hangs (here on a node id file that never answers, as a
// disk's trash removal or a mountpath that does not answer would) ends on
// a second SIGTERM, as a shutdown that hangs does: the first one ended the
// start, then let the signals go.
func TestSecondSignalEndsAStartThatHangs(t *testing.T) {
	data := t.TempDir()
	if err := os.MkdirAll(filepath.Join(data, "meta"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(data, "meta", "node-id"), 0o600); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command(filepath.Join(binDir, "aisnode"), "-host", "127.0.0.1", "-port", strconv.Itoa(freePort(t)), "-data", data)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer cmd.Process.Kill()
	time.Sleep(500 * time.Millisecond) // in its start, on the FIFO
	for range 2 {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("a start that hangs did not end on a second SIGTERM\n%s", log.String())
	}
}

// A hang-up (the terminal of a node started by hand closed) stops the
// node as SIGTERM does: it drains and closes its store, and exits 0.
func TestHangUpStopsTheNodeGracefully(t *testing.T) {
	p := startNode(t, "-data", t.TempDir())
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil || !strings.Contains(p.log.String(), "shutting down") {
			t.Fatalf("after SIGHUP: %v\n%s", err, p.log)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the node did not stop within 30s of SIGHUP\n%s", p.log)
	}
}
