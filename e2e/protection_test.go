//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	"github.com/aisgo/aisgo/store"
)

// putRandom PUTs n objects of random sizes in [1, maxSize] with 4
// workers and returns their bytes by name.
func putRandom(t *testing.T, client *api.Client, bucket, prefix string, n, maxSize int, seed uint64) map[string][]byte {
	t.Helper()
	objects := make(map[string][]byte, n)
	rng := rand.New(rand.NewPCG(seed, 7))
	for i := range n {
		data := make([]byte, 1+rng.IntN(maxSize))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		objects[fmt.Sprintf("%s%05d", prefix, i)] = data
	}
	names := make(chan string, n)
	for name := range objects {
		names <- name
	}
	close(names)
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 4 {
		wg.Go(func() {
			for name := range names {
				data := objects[name]
				if _, err := client.Put(t.Context(), bucket, name, bytes.NewReader(data), api.PutOptions{Size: int64(len(data))}); err != nil {
					failed.Store(fmt.Errorf("PUT %s: %w", name, err))
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
	return objects
}

// readBack GETs every object with validation and counts the failed
// requests and the objects whose bytes are wrong.
func readBack(t *testing.T, client *api.Client, bucket string, objects map[string][]byte) (failed, wrong int) {
	t.Helper()
	for name, data := range objects {
		got, err := client.GetBytes(t.Context(), bucket, name, api.GetOptions{Validate: true})
		switch {
		case err != nil:
			failed++
			t.Errorf("GET %s/%s: %v", bucket, name, err)
		case !bytes.Equal(got, data):
			wrong++
			t.Errorf("GET %s/%s: %d bytes differ from the %d PUT", bucket, name, len(got), len(data))
		}
	}
	return failed, wrong
}

// objectFiles returns the on-disk files of an object (whole copies and
// replicas, not parts) on every target of the cluster.
func (c *cliCluster) objectFiles(bucket, name string) []string {
	var out []string
	for _, n := range c.state() {
		if n.Role != "target" {
			continue
		}
		paths, _ := filepath.Glob(filepath.Join(n.Dir, "mp*", "ais", bucket, name))
		out = append(out, paths...)
	}
	slices.Sort(out)
	return out
}

// flipByte inverts one byte of a file in place, keeping its xattrs.
func flipByte(t *testing.T, path string, offset int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, offset); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, offset); err != nil {
		t.Fatal(err)
	}
}

// repairs sums ais_repairs_total of a kind over the targets.
func (c *cliCluster) repairs(t *testing.T, kind string) float64 {
	sum := 0.0
	for _, n := range c.state() {
		if n.Role == "target" {
			if m, err := gatewaytest.ScrapeContext(t.Context(), fmt.Sprintf("http://127.0.0.1:%d", n.Port)); err == nil {
				sum += m.Value("ais_repairs_total", "kind", kind)
			}
		}
	}
	return sum
}

// scrub runs `ais storage validate` on a bucket and returns its counts.
func (c *cliCluster) scrub(t *testing.T, bucket string, repair bool) store.ScrubReport {
	t.Helper()
	args := []string{"storage", "validate", "ais://" + bucket, "--json"}
	if repair {
		args = append(args, "--repair")
	}
	out := ais(t, c.endpoint, args...)
	var r store.ScrubReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("ais storage validate: %v\n%s", err, out)
	}
	return r
}

// waitJobs waits until no job of a kind runs on any node.
func (c *cliCluster) waitJobs(t *testing.T, kind string) []api.ClusterJob {
	t.Helper()
	var jobs []api.ClusterJob
	until(t, 2*time.Minute, "the "+kind+" jobs to end", func() bool {
		all, err := c.client().Jobs(t.Context())
		if err != nil {
			return false
		}
		jobs = jobs[:0]
		for _, j := range all {
			if j.Kind == kind {
				if j.Running {
					return false
				}
				jobs = append(jobs, j)
			}
		}
		return true
	})
	return jobs
}

// Bit rot: one byte flipped in the on-disk file of 50 objects of a
// mirror-2 bucket and of an EC 2+1 bucket. Every validated GET returns
// the original bytes, the bad files are rewritten, and a scrub then finds
// nothing corrupt.
func TestBitRot(t *testing.T) {
	c := startMountpathCluster(t, 1, 4, 2)
	client := c.client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "mirrored", map[string]any{"mirror": map[string]any{"enabled": true, "copies": 2}}); err != nil {
		t.Fatal(err)
	}
	if err := client.CreateBucket(ctx, "coded", map[string]any{"ec": map[string]any{"enabled": true, "data_slices": 2, "parity_slices": 1, "objsize_limit": 4096}}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	type flipped struct{ bucket, name, path string }
	var flips []flipped
	buckets := map[string]map[string][]byte{}
	for i, bucket := range []string{"mirrored", "coded"} {
		objects := putRandom(t, client, bucket, "o", 500, 16<<10, uint64(i))
		buckets[bucket] = objects
		names := make([]string, 0, len(objects))
		for name := range objects {
			names = append(names, name)
		}
		slices.Sort(names)
		rng.Shuffle(len(names), func(a, b int) { names[a], names[b] = names[b], names[a] })
		for _, name := range names[:50] {
			files := c.objectFiles(bucket, name)
			want := 2
			if bucket == "coded" {
				want = 1 // the owner's; parts live elsewhere
			}
			if len(files) != want {
				t.Fatalf("%s/%s: %d files on disk %v, want %d", bucket, name, len(files), files, want)
			}
			path := files[rng.IntN(len(files))]
			flipByte(t, path, rng.Int64N(int64(len(objects[name]))))
			flips = append(flips, flipped{bucket, name, path})
		}
	}
	failed, wrong := 0, 0
	for bucket, objects := range buckets {
		f, w := readBack(t, client, bucket, objects)
		failed, wrong = failed+f, wrong+w
	}
	// The GET that meets a bad copy rewrites it, or checks the copies it
	// did not read soon after.
	until(t, 30*time.Second, "every flipped file to be rewritten", func() bool {
		for _, f := range flips {
			data, err := os.ReadFile(f.path)
			if err != nil || !bytes.Equal(data, buckets[f.bucket][f.name]) {
				return false
			}
		}
		return true
	})
	mirrorRepairs, ecRepairs := c.repairs(t, "mirror"), c.repairs(t, "ec")
	if mirrorRepairs != 50 || ecRepairs != 50 {
		t.Fatalf("ais_repairs_total: mirror %v, ec %v; want 50 each", mirrorRepairs, ecRepairs)
	}
	for bucket, objects := range buckets {
		r := c.scrub(t, bucket, false)
		if r.Objects != int64(len(objects)) || r.Corrupt != 0 || r.Unrecoverable != 0 || r.MissingCopies != 0 || r.BadParts != 0 {
			t.Fatalf("scrub of %s after the repairs: %+v", bucket, r)
		}
	}
	fmt.Printf("bit-rot: %d objects checked, %d files flipped and rewritten (mirror %v, ec %v), %d failed requests, %d objects lost\n",
		len(buckets["mirrored"])+len(buckets["coded"]), len(flips), mirrorRepairs, ecRepairs, failed, wrong)
}

// Disk loss: a mountpath of a target is removed while a mirrored bucket
// is read. The health check disables it, no GET fails from then on, and
// the resilver brings every object back to 2 copies.
func TestDiskLoss(t *testing.T) {
	c := startMountpathCluster(t, 1, 3, 3)
	client := c.client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "disk", map[string]any{"mirror": map[string]any{"enabled": true, "copies": 2}}); err != nil {
		t.Fatal(err)
	}
	objects := putRandom(t, client, "disk", "d", 300, 8<<10, 5)
	names := make([]string, 0, len(objects))
	for name := range objects {
		names = append(names, name)
	}
	var victimDir string
	for _, n := range c.state() {
		if n.Name == "t1" {
			victimDir = filepath.Join(n.Dir, "mp2")
		}
	}
	var disabledAt atomic.Int64 // Unix nanoseconds; 0 until disabled
	var gets, failedBefore, failedAfter atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for i := 0; i < 20000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := names[rng.IntN(len(names))]
				started := time.Now().UnixNano()
				got, err := client.GetBytes(context.WithoutCancel(ctx), "disk", name, api.GetOptions{Validate: true})
				gets.Add(1)
				if err == nil && bytes.Equal(got, objects[name]) {
					continue
				}
				if at := disabledAt.Load(); at != 0 && started > at {
					failedAfter.Add(1)
					t.Errorf("GET %s after the mountpath was disabled: %v", name, err)
				} else {
					failedBefore.Add(1)
				}
			}
		})
	}
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }); wg.Wait() }
	defer halt() // however the test ends
	time.Sleep(500 * time.Millisecond)
	// rm -rf, again while the node still writes in it.
	until(t, 10*time.Second, "rm -rf "+victimDir, func() bool { return os.RemoveAll(victimDir) == nil })
	until(t, 30*time.Second, "the health check to disable "+victimDir, func() bool {
		out, _, err := aisResult(c.endpoint, "storage", "--json")
		var rows []struct{ Target, Mountpath, State string }
		if err != nil || json.Unmarshal([]byte(out), &rows) != nil {
			return false
		}
		for _, r := range rows {
			if r.Target == "t1" && r.Mountpath == victimDir && r.State == "disabled" {
				disabledAt.Store(time.Now().UnixNano())
				return true
			}
		}
		return false
	})
	time.Sleep(time.Second) // reads go on with the mountpath disabled
	halt()
	if gatewaytest.Scrape(t, c.nodeURL("t1")).Value("ais_mountpaths_disabled_total") < 1 {
		t.Fatal("ais_mountpaths_disabled_total is not counted")
	}
	c.waitJobs(t, "resilver")
	for _, name := range names {
		loc, err := client.ObjectLocation(ctx, "disk", name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var mountpaths []string
		for _, cp := range loc.Copies {
			if cp.Current {
				mountpaths = append(mountpaths, cp.Mountpath)
			}
		}
		if len(mountpaths) != 2 || mountpaths[0] == mountpaths[1] || slices.Contains(mountpaths, victimDir) {
			t.Fatalf("%s after the resilver: copies %+v", name, loc.Copies)
		}
	}
	failed, wrong := readBack(t, client, "disk", objects)
	if failedAfter.Load() != 0 || failed+wrong != 0 {
		t.Fatalf("%d GETs failed after the disable, %d after the resilver", failedAfter.Load(), failed+wrong)
	}
	fmt.Printf("disk loss: %d objects checked, %d GETs under load, %d failed before the health check disabled the mountpath, %d after, 0 objects lost, every object back to 2 copies\n",
		len(objects), gets.Load(), failedBefore.Load(), failedAfter.Load())
}

// Target loss: a target of four holding an EC 2+1 bucket is killed; every
// object reads back while it is down. Once it is removed, the parts are
// re-created on the three left, and the bucket survives a second loss.
func TestTargetLoss(t *testing.T) {
	c := startCLICluster(t, 1, 4, "-keepalive=200ms", "-keepalive-timeout=2s")
	client := c.client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "coded", nil); err != nil {
		t.Fatal(err)
	}
	// Bad input first: each is refused naming what is wrong.
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", "3", "--parity", "1"}, "ec.data_slices + ec.parity_slices is 4: it needs 5 targets"},
		{[]string{"--data", "0", "--parity", "1"}, "ec.data_slices"},
		{[]string{"--data", "2", "--parity", "-1"}, "--parity -1: cannot be negative"},
	} {
		_, errOut, err := aisResult(c.endpoint, append([]string{"bucket", "ec-encode", "ais://coded"}, bad.args...)...)
		if err == nil || !strings.Contains(errOut, bad.want) {
			t.Fatalf("ec-encode %v: %v %q, want an error naming %q", bad.args, err, errOut, bad.want)
		}
	}
	objects := putRandom(t, client, "coded", "c", 1000, 12<<10, 9)
	ais(t, c.endpoint, "bucket", "ec-encode", "ais://coded", "--data", "2", "--parity", "1", "--objsize-limit", "4096")
	// The layout of an erasure-coded bucket cannot change.
	_, errOut, err := aisResult(c.endpoint, "bucket", "ec-encode", "ais://coded", "--data", "2", "--parity", "2")
	if err == nil || !strings.Contains(errOut, "cannot change") {
		t.Fatalf("a change of the layout: %v %q", err, errOut)
	}
	killed := time.Now().UnixNano()
	c.kill9("t2")
	c.waitState("t2", cluster.StateOffline)
	failed1, wrong1 := readBack(t, client, "coded", objects)
	if failed1+wrong1 != 0 {
		t.Fatalf("with t2 down: %d failed, %d wrong", failed1, wrong1)
	}
	ais(t, c.endpoint, "cluster", "rm-target", "t2", "--yes", "--dir", c.dir)
	m := c.waitMap(4) // a gateway and three targets
	c.waitRebalance(m.Version)
	// The targets re-create the parts once t2 is out of the active ones.
	until(t, 2*time.Minute, "the parts to be re-created on the three targets", func() bool {
		status, err := client.ClusterStatus(ctx)
		if err != nil {
			return false
		}
		done := 0
		for _, n := range status.Nodes {
			for _, j := range n.Jobs {
				if j.Kind == "ec-resilver" && j.Running {
					return false
				}
				if j.Kind == "ec-resilver" && j.Started >= killed {
					done++
					break
				}
			}
		}
		return done == 3
	})
	c.kill9("t3")
	c.waitState("t3", cluster.StateOffline)
	failed2, wrong2 := readBack(t, client, "coded", objects)
	if failed2+wrong2 != 0 {
		t.Fatalf("with t3 down after t2 was removed: %d failed, %d wrong", failed2, wrong2)
	}
	fmt.Printf("target loss: %d objects checked with t2 down and again with t3 down after t2 left, %d failed requests, %d objects lost (restored from parts: %v)\n",
		len(objects), failed1+failed2, wrong1+wrong2, c.repairs(t, "ec"))
}

// The work directory (dSort's spills and journals, appends, downloads,
// erasure coding's large objects) is on the first mountpath enabled: with
// that disk detached, and nothing writable where the work was, a dSort
// job and an append still run, on the other mountpath. (A disk disabled,
// not detached, holds dSort back: the input may be on it.)
func TestWorkFollowsTheMountpaths(t *testing.T) {
	c := startMountpathCluster(t, 1, 1, 2)
	ctx := t.Context()
	var mp1, mp2 string
	for _, n := range c.state() {
		if n.Name == "t1" {
			mp1, mp2 = filepath.Join(n.Dir, "mp1"), filepath.Join(n.Dir, "mp2")
		}
	}
	ais(t, c.endpoint, "storage", "mountpath", "detach", "t1", mp1)
	// The disk is gone: nothing can be made where the work was.
	work := filepath.Join(mp1, ".ais", "dsort")
	if err := os.RemoveAll(work); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(work, []byte("a dead disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	ais(t, c.endpoint, "bucket", "create", "ais://src")
	ais(t, c.endpoint, "archive", "gen-shards", "ais://src/in-{000..009}.tar", "--records", "20", "--record-size", "4KiB", "--exts", ".jpg,.cls", "--seed", "3")
	spec := writeSpec(t, `{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":"in-{000..009}.tar"},
		"output_format":"out-{00..99}.tar","output_shard_size":"64KiB","algorithm":{"kind":"shuffle","seed":"5"}}`)
	id := strings.Fields(ais(t, c.endpoint, "dsort", "start", spec, "--wait"))[0]
	metrics, err := c.client().DsortMetrics(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if sum := api.DsortSummary(metrics); sum.Aborted || !sum.Archived || sum.Metrics.Creation.CreatedCount == 0 {
		t.Fatalf("dSort with the first mountpath disabled: %+v", sum)
	}
	client := c.client()
	handle, err := client.Append(ctx, "src", "pieces", "", strings.NewReader("hello "), 6)
	if err == nil {
		handle, err = client.Append(ctx, "src", "pieces", handle, strings.NewReader("world"), 5)
	}
	if err == nil {
		_, err = client.Flush(ctx, "src", "pieces", handle, store.Checksum{})
	}
	if err != nil {
		t.Fatalf("append with the first mountpath disabled: %v", err)
	}
	if got, err := client.GetBytes(ctx, "src", "pieces", api.GetOptions{}); err != nil || string(got) != "hello world" {
		t.Fatalf("the appended object: %q %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(mp2, ".ais", "dsort", "append")); err != nil {
		t.Fatalf("the append's work directory is not on the mountpath enabled: %v", err)
	}
}

// A target whose only disk did not mount (its mountpath an empty
// directory) refuses to start, saying so, rather than start empty and
// take writes that would vanish beneath the disk once mounted; with the
// disk back it starts with its objects.
func TestTargetWithoutItsDiskDoesNotStart(t *testing.T) {
	c := startCLICluster(t, 1, 1)
	client := c.client()
	if err := client.CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(t.Context(), "b", "o", strings.NewReader("kept"), api.PutOptions{Size: 4}); err != nil {
		t.Fatal(err)
	}
	var mp, log string
	for _, n := range c.state() {
		if n.Name == "t1" {
			mp, log = filepath.Join(n.Dir, "mp1"), filepath.Join(n.Dir, "node.log")
		}
	}
	c.kill9("t1")
	disk := mp + ".disk"
	if err := os.Rename(mp, disk); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := aisResult(c.endpoint, "cluster", "start", "--dir", c.dir, "--aisnode", filepath.Join(binDir, "aisnode"))
	data, _ := os.ReadFile(log)
	if err == nil || !strings.Contains(errOut, "t1") || !strings.Contains(string(data), "not mounted") || !strings.Contains(string(data), mp) {
		t.Fatalf("a target whose disk did not mount: %v %q; its log:\n%s", err, errOut, data)
	}
	if entries, _ := os.ReadDir(mp); len(entries) > 0 {
		t.Fatalf("written beneath the missing disk's mount: %v", entries)
	}
	if err := os.Remove(mp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(disk, mp); err != nil {
		t.Fatal(err)
	}
	c.restart(1)
	if got, err := client.GetBytes(t.Context(), "b", "o", api.GetOptions{}); err != nil || string(got) != "kept" {
		t.Fatalf("with the disk back: %q %v", got, err)
	}
}

// make-n-copies on a bucket of 10,000 objects while PUTs go on: every
// object, those PUT during the job included, ends with 2 copies on
// distinct mountpaths of its owner.
func TestMakeNCopiesUnderPuts(t *testing.T) {
	c := startMountpathCluster(t, 1, 3, 2)
	client := c.client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "many", nil); err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	var mu sync.Mutex
	put := func(name string) error {
		data := []byte(strings.Repeat(name, 8))
		_, err := client.Put(context.WithoutCancel(ctx), "many", name, bytes.NewReader(data), api.PutOptions{Size: int64(len(data))})
		if err == nil {
			mu.Lock()
			acked[name] = true
			mu.Unlock()
		}
		return err
	}
	names := make(chan string, 10000)
	for i := range 10000 {
		names <- fmt.Sprintf("m%05d", i)
	}
	close(names)
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for name := range names {
				if err := put(name); err != nil {
					t.Errorf("PUT %s: %v", name, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// More copies than mountpaths is refused naming the field.
	_, errOut, err := aisResult(c.endpoint, "bucket", "mirror", "ais://many", "--copies", "3")
	if err == nil || !strings.Contains(errOut, "mirror.copies 3 is more than the 2 mountpaths") {
		t.Fatalf("mirror --copies 3 on 2 mountpaths: %v %q", err, errOut)
	}
	// A stopped make-n-copies leaves every object readable. (One that
	// ended before its stop came, 10,000 small objects being quick to
	// copy, is made again from one copy.)
	var first string
	for try := 1; ; try++ {
		if try > 1 {
			ais(t, c.endpoint, "bucket", "mirror", "ais://many", "--copies", "1")
		}
		first = strings.TrimSpace(ais(t, c.endpoint, "bucket", "mirror", "ais://many", "--copies", "2", "--no-wait"))
		ais(t, c.endpoint, "job", "stop", first)
		out, errOut, err := aisResult(c.endpoint, "job", "wait", first)
		if err != nil && strings.Contains(errOut, "aborted") {
			break
		}
		if err != nil || !strings.Contains(errOut, ": done,") || try == 5 {
			t.Fatalf("ais job wait of a stopped job (try %d): %v %q %q", try, err, out, errOut)
		}
	}
	if j, err := client.Job(ctx, first); err != nil || !j.Aborted || j.Running {
		t.Fatalf("the stopped job: %+v %v", j, err)
	}
	for i := 0; i < 10000; i += 7 {
		name := fmt.Sprintf("m%05d", i)
		got, err := client.GetBytes(ctx, "many", name, api.GetOptions{Validate: true})
		if err != nil || string(got) != strings.Repeat(name, 8) {
			t.Fatalf("%s after make-n-copies was stopped: %q %v", name, got, err)
		}
	}
	// PUTs go on during the job (which makes the copies the stopped one
	// did not).
	stop := make(chan struct{})
	var during, putFailures atomic.Int64
	for w := range 2 {
		wg.Go(func() {
			for i := 0; i < 5000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := put(fmt.Sprintf("during-%d-%05d", w, i)); err != nil {
					putFailures.Add(1)
					t.Errorf("PUT during make-n-copies: %v", err)
					return
				}
				during.Add(1)
			}
		})
	}
	// The writers end before the test does, however it ends (a t.Errorf
	// after it would panic the binary).
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }); wg.Wait() }
	defer halt()
	time.Sleep(100 * time.Millisecond)
	id := strings.TrimSpace(ais(t, c.endpoint, "bucket", "mirror", "ais://many", "--copies", "2", "--no-wait"))
	// A second make-n-copies while the first runs is refused.
	_, err = client.MakeNCopies(ctx, "many", 2)
	var e *api.Error
	if !errors.As(err, &e) || e.Status != http.StatusConflict || !strings.Contains(e.Message, "make-n-copies") {
		t.Fatalf("a second make-n-copies while %s runs: %v", id, err)
	}
	ais(t, c.endpoint, "job", "wait", id)
	time.Sleep(200 * time.Millisecond) // and PUTs after the job
	halt()
	if during.Load() == 0 {
		t.Fatal("no PUT completed during the job: the test tests nothing")
	}
	// On disk: each object on both mountpaths of its owner, nowhere else.
	m, err := client.Map(ctx)
	if err != nil {
		t.Fatal(err)
	}
	copies := map[string][]string{}
	for _, n := range c.state() {
		if n.Role != "target" {
			continue
		}
		for _, mp := range []string{"mp1", "mp2"} {
			root := filepath.Join(n.Dir, mp, "ais", "many")
			filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return nil
				}
				name, _ := filepath.Rel(root, path)
				copies[name] = append(copies[name], n.Name+"/"+mp)
				return nil
			})
		}
	}
	for name := range acked {
		owner, _ := m.Owner(cluster.Uname("ais", "many", name))
		got := copies[name]
		slices.Sort(got)
		if want := []string{owner.ID + "/mp1", owner.ID + "/mp2"}; !slices.Equal(got, want) {
			t.Fatalf("%s: copies %v, want %v", name, got, want)
		}
	}
	if len(copies) != len(acked) {
		t.Fatalf("%d objects on disk, %d PUTs acknowledged", len(copies), len(acked))
	}
	fmt.Printf("make-n-copies: %d objects checked (%d PUT during the job), %d failed requests, 0 objects lost, each with 2 copies on distinct mountpaths\n",
		len(acked), during.Load(), putFailures.Load())
}
