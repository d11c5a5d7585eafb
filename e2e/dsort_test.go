//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
)

// dsortSpec is the job the fault tests run: tgz in, tgz out, one shard at
// a time per target so that each phase lasts long enough to be hit.
func dsortSpec(t *testing.T, input, template, output string, extra string) string {
	t.Helper()
	spec := fmt.Sprintf(`{"input_bck":{"name":%q},"output_bck":{"name":%q},"input_format":{"template":%q},
		"output_format":"out-{0000..9999}.tgz","output_shard_size":"2MiB","algorithm":{"kind":"shuffle","seed":"5"},
		"extract_concurrency_max_limit":1,"create_concurrency_max_limit":1%s}`, input, output, template, extra)
	path := filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// outputs lists a bucket's objects with their checksums: those of the
// targets that answer (a test that killed one knows it holds none).
func (c *cliCluster) outputs(bucket string) map[string]string {
	c.t.Helper()
	out := map[string]string{}
	for e, err := range c.client().ListAll(c.t.Context(), bucket, api.ListObjectsMessage{Props: "name,size,checksum"}) {
		if errors.Is(err, api.ErrIncompleteListing) {
			continue
		}
		if err != nil {
			c.t.Fatal(err)
		}
		out[e.Name] = e.Checksum
	}
	return out
}

// startJob starts a job through the CLI and returns its id.
func (c *cliCluster) startJob(spec string) string {
	c.t.Helper()
	return strings.TrimSpace(ais(c.t, c.endpoint, "dsort", "start", spec))
}

// waitPhase polls until the job reaches a phase with some progress, and
// fails the test if the job ends first.
func (c *cliCluster) waitPhase(id, phase string) {
	c.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		metrics, err := c.client().DsortMetrics(c.t.Context(), id)
		if err != nil {
			c.t.Fatal(err)
		}
		sum := api.DsortSummary(metrics)
		if sum.Aborted || sum.Archived {
			c.t.Fatalf("job %s ended before reaching %s with progress: %+v", id, phase, sum.Metrics)
		}
		m := sum.Metrics
		switch {
		case phase == "extract" && sum.Phase == "extract" && m.Extraction.ExtractedCount > 0 && m.Extraction.ExtractedCount < m.Extraction.TotalCount:
			return
		case phase == "create" && sum.Phase == "create" && m.Creation.CreatedCount > 0 && m.Creation.CreatedCount < m.Creation.ToCreate:
			return
		}
		time.Sleep(3 * time.Millisecond)
	}
	c.t.Fatalf("job %s never reached %s", id, phase)
}

// waitAborted waits for the job to end aborted and returns its errors.
func (c *cliCluster) waitAborted(id string) string {
	c.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		metrics, err := c.client().DsortMetrics(c.t.Context(), id)
		if err == nil {
			sum := api.DsortSummary(metrics)
			if sum.Archived {
				c.t.Fatalf("job %s finished; it should have been aborted", id)
			}
			if sum.Aborted {
				return strings.Join(sum.Metrics.Errors, "; ")
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("job %s did not end", id)
	return ""
}

// waitEmpty waits until a bucket holds nothing: an aborted job's shards
// are removed.
func (c *cliCluster) waitEmpty(bucket string) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		left := c.outputs(bucket)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("an aborted job left %d shards in %s: %v", len(left), bucket, slices.Sorted(maps.Keys(left)))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rerun runs the job again to completion and checks that it writes the
// same shards as the first, successful run.
func (c *cliCluster) rerun(spec, output string, baseline map[string]string) {
	c.t.Helper()
	ais(c.t, c.endpoint, "dsort", "start", spec, "--wait")
	if got := c.outputs(output); !maps.Equal(got, baseline) {
		var missing []string
		for k := range baseline {
			if _, ok := got[k]; !ok {
				missing = append(missing, k)
			}
		}
		slices.Sort(missing)
		c.t.Logf("shards missing from the rerun: %v", missing)
		c.t.Fatalf("the job after the fault wrote %d shards that differ from the first run's %d", len(got), len(baseline))
	}
	ais(c.t, c.endpoint, "bucket", "rm", "--yes", "ais://"+output)
}

// restart brings a killed target back and waits for the cluster to settle.
func (c *cliCluster) restart(targets int) {
	c.t.Helper()
	ais(c.t, c.endpoint, "cluster", "start", "--dir", c.dir, "--aisnode", filepath.Join(binDir, "aisnode"))
	m := c.waitMap(targets + 1)
	c.waitRebalance(m.Version)
}

// Faults during a dSort job with real processes: kill -9 of a target in
// extraction and in creation, restarted within target_grace or not, a
// target joining, an abort from the CLI. A job either finishes with
// exactly the shards of an undisturbed run, or ends aborted everywhere
// and leaves no output, and the same job then writes exactly those
// shards.
func TestDsortFaults(t *testing.T) {
	c := startCLICluster(t, 1, 3, "-keepalive=200ms", "-keepalive-timeout=2s")
	ais(t, c.endpoint, "bucket", "create", "ais://src")
	ais(t, c.endpoint, "archive", "gen-shards", "ais://src/in-{000..095}.tgz", "--records", "40", "--record-size", "40KiB", "--exts", ".jpg,.cls", "--seed", "3")
	spec := dsortSpec(t, "src", "in-{000..095}.tgz", "dst", "")
	out := ais(t, c.endpoint, "dsort", "start", spec, "--wait")
	if !strings.Contains(out, "finished") || !strings.Contains(out, "3840") {
		t.Fatalf("first job:\n%s", out)
	}
	baseline := c.outputs("dst")
	if len(baseline) < 20 {
		t.Fatalf("first job wrote %d shards", len(baseline))
	}
	// Tools no one here wrote read the output: GNU tar and Python.
	shard := filepath.Join(t.TempDir(), "out-0000.tgz")
	ais(t, c.endpoint, "get", "ais://dst/out-0000.tgz", shard)
	listing, err := exec.Command("tar", "-tzf", shard).Output()
	if err != nil || strings.Count(string(listing), "\n") < 10 || !strings.Contains(string(listing), ".cls") {
		t.Fatalf("tar -tzf of an output shard: %v\n%s", err, listing)
	}
	py := `import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    members = t.getmembers()
    assert all(m.isfile() for m in members)
    print(len(members), sum(len(t.extractfile(m).read()) for m in members))`
	pyOut, err := exec.Command("python3", "-c", py, shard).CombinedOutput()
	if err != nil || len(strings.Fields(string(pyOut))) != 2 {
		t.Fatalf("python tarfile: %v %s", err, pyOut)
	}
	ais(t, c.endpoint, "bucket", "rm", "--yes", "ais://dst")

	// A target killed and restarted within target_grace costs the job a
	// restart: it finishes with the same shards.
	grace := dsortSpec(t, "src", "in-{000..095}.tgz", "dst", `,"target_grace":"60s"`)
	for _, tc := range []struct{ phase, target string }{{"extract", "t2"}, {"create", "t3"}} {
		t.Run("kill9-during-"+tc.phase+"-restarted", func(t *testing.T) {
			id := c.startJob(grace)
			c.waitPhase(id, tc.phase)
			c.kill9(tc.target)
			c.restart(3)
			out := ais(t, c.endpoint, "dsort", "wait", id)
			// The loss is seen in the phase killed, or a later one when
			// the target was through with it.
			if !strings.Contains(out, "finished") || !strings.Contains(out, "target "+tc.target+" lost during the ") {
				t.Fatalf("ais dsort wait after %s came back:\n%s", tc.target, out)
			}
			if got := c.outputs("dst"); !maps.Equal(got, baseline) {
				t.Fatalf("the job that lost %s wrote %d shards that differ from the first run's %d", tc.target, len(got), len(baseline))
			}
			ais(t, c.endpoint, "bucket", "rm", "--yes", "ais://dst")
		})
	}
	// Without the target back (and no copy of its inputs elsewhere) the
	// job aborts once the grace ends, naming the inputs it cannot read.
	t.Run("kill9-not-back", func(t *testing.T) {
		id := c.startJob(dsortSpec(t, "src", "in-{000..095}.tgz", "dst", `,"target_grace":"3s"`))
		c.waitPhase(id, "create")
		c.kill9("t2")
		errs := c.waitAborted(id)
		for _, want := range []string{"target t2 lost during the ", "not back within target_grace 3s", "input shards (in-"} {
			if !strings.Contains(errs, want) {
				t.Fatalf("errors %q: want %q", errs, want)
			}
		}
		c.restart(3)
		c.waitEmpty("dst")
		c.rerun(spec, "dst", baseline)
	})
	// With target_grace 0s a loss aborts at once, as AIStore's does.
	t.Run("kill9-no-grace", func(t *testing.T) {
		id := c.startJob(dsortSpec(t, "src", "in-{000..095}.tgz", "dst", `,"target_grace":"0s"`))
		c.waitPhase(id, "extract")
		c.kill9("t2")
		errs := c.waitAborted(id)
		if !strings.Contains(errs, "target t2 lost during the ") || !strings.Contains(errs, "target_grace is 0s") || !strings.Contains(errs, "input shards (in-") {
			t.Fatalf("errors %q: want the node (t2), the grace and the shards it held", errs)
		}
		c.restart(3)
		c.waitEmpty("dst")
		c.rerun(spec, "dst", baseline)
	})
	t.Run("abort-from-cli", func(t *testing.T) {
		id := c.startJob(spec)
		c.waitPhase(id, "create")
		if out := ais(t, c.endpoint, "dsort", "stop", id); !strings.Contains(out, "aborted") {
			t.Fatalf("ais dsort stop: %q", out)
		}
		if errs := c.waitAborted(id); !strings.Contains(errs, "user request") {
			t.Fatalf("errors %q", errs)
		}
		c.waitEmpty("dst")
		_, stderr, err := aisResult(c.endpoint, "dsort", "wait", id)
		if err == nil || !strings.Contains(stderr, "aborted") {
			t.Fatalf("ais dsort wait of an aborted job: %v %q", err, stderr)
		}
		c.rerun(spec, "dst", baseline)
	})
	t.Run("target-joins-mid-job", func(t *testing.T) {
		id := c.startJob(spec)
		c.waitPhase(id, "create")
		ais(t, c.endpoint, "cluster", "add-target", "--dir", c.dir, "--aisnode", filepath.Join(binDir, "aisnode"))
		c.waitAborted(id)
		// The coordinator's reason reaches the targets after they may
		// have seen it hang up.
		var errs string
		until(t, 30*time.Second, "the change of targets among the errors", func() bool {
			metrics, err := c.client().DsortMetrics(t.Context(), id)
			if err == nil {
				errs = strings.Join(api.DsortSummary(metrics).Metrics.Errors, "; ")
			}
			return strings.Contains(errs, "targets changed")
		})
		m := c.waitMap(5)
		c.waitRebalance(m.Version)
		c.waitEmpty("dst")
		// Four targets write exactly what three wrote.
		c.rerun(spec, "dst", baseline)
	})
}

// Bad input: a malformed shard aborts naming the shard and the offset; a
// missing shard is ignored, warned about or aborts, per missing_shards.
func TestDsortBadInput(t *testing.T) {
	c := startCLICluster(t, 1, 3)
	ais(t, c.endpoint, "bucket", "create", "ais://in")
	ais(t, c.endpoint, "archive", "gen-shards", "ais://in/s-{0..9}.tar", "--records", "10", "--record-size", "4KiB", "--seed", "1")

	ais(t, c.endpoint, "bucket", "create", "ais://bad")
	ais(t, c.endpoint, "archive", "gen-shards", "ais://bad/s-{0..9}.tar", "--records", "10", "--record-size", "4KiB", "--seed", "1")
	shard := filepath.Join(t.TempDir(), "s-5.tar")
	ais(t, c.endpoint, "get", "ais://bad/s-5.tar", shard)
	data, _ := os.ReadFile(shard)
	os.WriteFile(shard, data[:len(data)/3], 0o644)
	ais(t, c.endpoint, "put", shard, "ais://bad/s-5.tar")
	id := c.startJob(dsortSpec(t, "bad", "s-{0..9}.tar", "bad-out", ""))
	if errs := c.waitAborted(id); !strings.Contains(errs, "s-5.tar") || !strings.Contains(errs, "offset") {
		t.Fatalf("malformed shard: errors %q, want the shard and the offset", errs)
	}
	c.waitEmpty("bad-out")

	ais(t, c.endpoint, "rm", "ais://in/s-3.tar")
	for _, reaction := range []string{"ignore", "warn", "abort"} {
		spec := dsortSpec(t, "in", "s-{0..9}.tar", "out-"+reaction, fmt.Sprintf(`,"missing_shards":%q`, reaction))
		stdout, stderr, err := aisResult(c.endpoint, "dsort", "start", spec, "--wait")
		switch reaction {
		case "abort":
			if err == nil || !strings.Contains(stderr, "s-3.tar") {
				t.Fatalf("missing shard, abort: %v %q", err, stderr)
			}
			c.waitEmpty("out-abort")
		default:
			if err != nil {
				t.Fatalf("missing shard, %s: %v %s", reaction, err, stderr)
			}
			warned := strings.Contains(stdout, "warning")
			if warned != (reaction == "warn") || !strings.Contains(stdout, "90") {
				t.Fatalf("missing shard, %s:\n%s", reaction, stdout)
			}
		}
	}
}

// vmHWM reads a process's peak resident memory in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// A dataset four times the memory budget completes, spilling to disk,
// and the target's peak memory stays near the budget, far below the data.
// runMeasured runs a dSort job on a node to its end and returns its
// metrics and the node's peak RSS before and after.
func runMeasured(t *testing.T, node *process, spec string) (m api.DsortMetrics, before, peak int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "spec.json")
	os.WriteFile(path, []byte(spec), 0o644)
	before = vmHWM(t, node.cmd.Process.Pid)
	out := ais(t, node.url, "dsort", "start", path, "--wait")
	peak = vmHWM(t, node.cmd.Process.Pid)
	if !strings.Contains(out, "finished") {
		t.Fatalf("job:\n%s", out)
	}
	metrics, err := node.client().DsortMetrics(t.Context(), strings.Fields(out)[0])
	if err != nil {
		t.Fatal(err)
	}
	return api.DsortSummary(metrics).Metrics, before, peak
}

// A plain tar input is never copied into memory, whatever max_mem_usage
// allows (80% of the machine by default): its entries stay in the input
// shards and creation copies them from there, so a target's peak RSS
// grows by well under a quarter of the data it holds.
func TestDsortTarInputHoldsNoRecords(t *testing.T) {
	node := startNode(t, "-data", t.TempDir(), "-no-sync")
	ais(t, node.url, "bucket", "create", "ais://big")
	ais(t, node.url, "archive", "gen-shards", "ais://big/in-{00..63}.tar", "--records", "32", "--record-size", "128KiB", "--exts", ".bin", "--seed", "2")
	const data = 256 << 20
	spec := `{"input_bck":{"name":"big"},"output_bck":{"name":"out"},"input_format":{"template":"in-{00..63}.tar"},
		"output_format":"out-{000..999}.tar","output_shard_size":"8MiB","algorithm":{"kind":"shuffle","seed":"1"}}`
	m, before, peak := runMeasured(t, node, spec)
	if m.MemoryPeak != 0 || m.Extraction.ExtractedToDiskSize != 0 || m.Creation.CreatedRecordCount != 64*32 {
		t.Fatalf("held %d bytes in memory, spilled %d, created %d records: want 0, 0 and every record", m.MemoryPeak, m.Extraction.ExtractedToDiskSize, m.Creation.CreatedRecordCount)
	}
	if peak-before > data/4 {
		t.Fatalf("peak RSS grew by %d MiB (%d MiB before) resharding %d MiB of tar", (peak-before)>>20, before>>20, data>>20)
	}
	t.Logf("peak RSS grew by %d MiB (%d MiB before) resharding %d MiB of tar", (peak-before)>>20, before>>20, data>>20)
}

func TestDsortMemoryBudget(t *testing.T) {
	node := startNode(t, "-data", t.TempDir(), "-no-sync")
	ais(t, node.url, "bucket", "create", "ais://big")
	ais(t, node.url, "archive", "gen-shards", "ais://big/in-{00..63}.tgz", "--records", "16", "--record-size", "128KiB", "--exts", ".bin", "--seed", "2")
	const budget = 32 << 20 // the dataset is 128 MiB
	spec := fmt.Sprintf(`{"input_bck":{"name":"big"},"output_bck":{"name":"out"},"input_format":{"template":"in-{00..63}.tgz"},
		"output_format":"out-{000..999}.tar","output_shard_size":"8MiB","algorithm":{"kind":"shuffle","seed":"1"},"max_mem_usage":"%d"}`, budget)
	m, before, peak := runMeasured(t, node, spec)
	if m.Extraction.ExtractedToDiskSize < 64<<20 || m.MemoryPeak > budget {
		t.Fatalf("spilled %d bytes, held %d in memory with a budget of %d", m.Extraction.ExtractedToDiskSize, m.MemoryPeak, budget)
	}
	// The node's own memory (runtime, buffers, decompressors) comes on top
	// of the budget; the data itself does not.
	if peak > before+budget+64<<20 || peak >= 128<<20+before {
		t.Fatalf("peak RSS %d MiB (was %d MiB before the job) for a %d MiB budget and 128 MiB of data", peak>>20, before>>20, budget>>20)
	}
	t.Logf("peak RSS %d MiB (%d MiB before), budget %d MiB, spilled %d MiB", peak>>20, before>>20, budget>>20, m.Extraction.ExtractedToDiskSize>>20)
}

// TestDsortRecordFormats: real processes reshard tar into msgpack, that
// into TFRecord and back into tar; the last equals resharding the tar
// directly, and a member of a msgpack shard reads by KEY.EXT.
func TestDsortRecordFormats(t *testing.T) {
	c := startCLICluster(t, 1, 3)
	ais(t, c.endpoint, "bucket", "create", "ais://src")
	ais(t, c.endpoint, "archive", "gen-shards", "ais://src/in-{00..05}.tar", "--records", "30", "--record-size", "4KiB", "--exts", ".jpg,.cls", "--seed", "8")
	job := func(in, template, out, format string) {
		spec := filepath.Join(t.TempDir(), "spec.json")
		os.WriteFile(spec, []byte(fmt.Sprintf(`{"input_bck":{"name":%q},"output_bck":{"name":%q},"input_format":{"template":%q},
			"output_format":"out-{000..999}%s","output_shard_size":"64KiB","algorithm":{"kind":"alphanumeric"}}`, in, out, template, format)), 0o644)
		ais(t, c.endpoint, "dsort", "start", spec, "--wait")
	}
	job("src", "in-{00..05}.tar", "mp", ".msgpack")
	mp := c.outputs("mp")
	job("mp", fmt.Sprintf("out-{000..%03d}.msgpack", len(mp)-1), "tf", ".tfrecord")
	tf := c.outputs("tf")
	job("tf", fmt.Sprintf("out-{000..%03d}.tfrecord", len(tf)-1), "back", ".tar")
	job("src", "in-{00..05}.tar", "direct", ".tar")
	back, direct := c.outputs("back"), c.outputs("direct")
	if len(mp) == 0 || len(tf) == 0 || len(back) == 0 || !maps.Equal(back, direct) {
		t.Fatalf("tar → msgpack (%d) → tfrecord (%d) → tar (%d) differs from tar → tar (%d)", len(mp), len(tf), len(back), len(direct))
	}
	out := filepath.Join(t.TempDir(), "member")
	ais(t, c.endpoint, "get", "ais://mp/out-000.msgpack", out, "--archpath", firstKey(t, c, "mp", "out-000.msgpack")+".cls")
	if data, err := os.ReadFile(out); err != nil || len(data) == 0 {
		t.Fatalf("a member of a msgpack shard: %v, %d bytes", err, len(data))
	}
	fmt.Printf("record formats: %d msgpack and %d TFRecord shards; back to tar byte-identical to tar → tar (%d shards)\n", len(mp), len(tf), len(back))
}

// firstKey returns the key of the first record of a shard, by its listing
// of members.
func firstKey(t *testing.T, c *cliCluster, bucket, shard string) string {
	t.Helper()
	for e, err := range c.client().ListAll(t.Context(), bucket, api.ListObjectsMessage{Prefix: shard, Props: "name", Flags: api.ListArchive}) {
		if err != nil {
			t.Fatal(err)
		}
		if member, ok := strings.CutPrefix(e.Name, shard+"/"); ok {
			key, _, _ := strings.Cut(member, ".")
			return key
		}
	}
	t.Fatalf("no member listed in %s/%s", bucket, shard)
	return ""
}

// A target killed for good mid-job when the input is erasure-coded: once
// the cluster counts it out, the job starts again on the three targets
// left, which rebuild its input shards from their parts, and writes
// exactly the shards of an undisturbed run.
func TestDsortTargetLostErasureCoded(t *testing.T) {
	c := startCLICluster(t, 1, 4, "-keepalive=200ms", "-keepalive-timeout=2s")
	ais(t, c.endpoint, "bucket", "create", "ais://src")
	ais(t, c.endpoint, "bucket", "ec-encode", "ais://src", "--data", "2", "--parity", "1")
	ais(t, c.endpoint, "archive", "gen-shards", "ais://src/in-{000..047}.tgz", "--records", "40", "--record-size", "40KiB", "--exts", ".jpg,.cls", "--seed", "3")
	spec := dsortSpec(t, "src", "in-{000..047}.tgz", "dst", `,"target_grace":"60s"`)
	ais(t, c.endpoint, "dsort", "start", spec, "--wait")
	baseline := c.outputs("dst")
	ais(t, c.endpoint, "bucket", "rm", "--yes", "ais://dst")

	id := c.startJob(spec)
	c.waitPhase(id, "create")
	c.kill9("t2")
	out := ais(t, c.endpoint, "dsort", "wait", id)
	if !strings.Contains(out, "finished") || !strings.Contains(out, "target t2 lost during the ") {
		t.Fatalf("ais dsort wait after t2 died:\n%s", out)
	}
	metrics, err := c.client().DsortMetrics(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	warnings := strings.Join(api.DsortSummary(metrics).Metrics.Warnings, "; ")
	if !strings.Contains(warnings, "starts again on targets t1,t3,t4: the input is erasure-coded 2+1") {
		t.Fatalf("warnings %q: want the job going on without t2", warnings)
	}
	if got := c.outputs("dst"); !maps.Equal(got, baseline) {
		t.Fatalf("the job that lost t2 wrote %d shards that differ from the undisturbed run's %d", len(got), len(baseline))
	}
}
