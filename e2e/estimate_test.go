//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
)

// aisWithin runs the CLI like aisResult, killing it after a minute: an
// estimate must answer, never hang.
func aisWithin(t *testing.T, endpoint string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "ais"), args...)
	cmd.Env = append(os.Environ(), "AIS_ENDPOINT="+endpoint)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("ais %s did not answer within a minute", strings.Join(args, " "))
	}
	return stdout.String(), stderr.String(), err
}

// writeSpec writes a dSort spec to a file.
func writeSpec(t *testing.T, spec string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDsortEstimate: on 3 aisnode processes, `ais dsort start --estimate`
// counts the records, shards and bytes the job then makes and names its
// first and last shards; --estimate-first prints the job beside its
// estimate; a template that matches nothing fails at once, naming it.
func TestDsortEstimate(t *testing.T) {
	c := startCLICluster(t, 1, 3)
	ais(t, c.endpoint, "bucket", "create", "ais://src")
	ais(t, c.endpoint, "archive", "gen-shards", "ais://src/in-{000..023}.tar", "--records", "30", "--record-size", "20KiB", "--exts", ".jpg,.cls", "--seed", "7")
	spec := writeSpec(t, `{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":"in-{000..023}.tar"},
		"output_format":"out-{0000..9999}.tar","output_shard_size":"1MiB","algorithm":{"kind":"shuffle","seed":"13"}}`)

	out := ais(t, c.endpoint, "dsort", "start", spec, "--estimate", "--json")
	var est api.DsortEstimate
	if err := json.Unmarshal([]byte(out), &est); err != nil {
		t.Fatalf("estimate JSON: %v\n%s", err, out)
	}
	if est.InputShards != 24 || est.Records != 24*30 || len(est.Targets) != 3 || est.OutputShards == 0 || !est.OutputExact {
		t.Fatalf("estimate %+v", est)
	}
	for _, target := range est.Targets {
		if target.WriteBytes == 0 || target.NetworkBytes == 0 ||
			target.InputShards > 0 && (target.ReadBytes == 0 || target.Extract <= 0) || target.OutputShards > 0 && target.Create <= 0 {
			t.Errorf("target %s: no measurement or forecast: %+v", target.Node, target)
		}
		// The local cluster's targets keep their mountpaths on one disk:
		// the forecast must see them share it.
		if target.Disk == "" || target.Disk != est.Targets[0].Disk {
			t.Errorf("target %s: disk %q, target %s: disk %q; want one disk named for all", target.Node, target.Disk,
				est.Targets[0].Node, est.Targets[0].Disk)
		}
	}
	if buckets := ais(t, c.endpoint, "bucket", "ls"); strings.Contains(buckets, "dst") {
		t.Fatalf("the estimate created the output bucket:\n%s", buckets)
	}
	report := ais(t, c.endpoint, "dsort", "start", spec, "--estimate")
	t.Logf("ais dsort start --estimate:\n%s", report)
	for _, want := range []string{"720 records", est.FirstShard + " .. " + est.LastShard, "forecast:", "in the input shards", "MiB/s",
		"shared disks: t1, t2, t3 read and write the same disks"} {
		if !strings.Contains(report, want) {
			t.Errorf("the report does not say %q:\n%s", want, report)
		}
	}

	// "dry_run": "estimate" in the spec asks the same of `ais dsort start`.
	asDryRun, err := os.ReadFile(spec)
	if err != nil {
		t.Fatal(err)
	}
	dryRun := writeSpec(t, strings.Replace(string(asDryRun), `"algorithm"`, `"dry_run":"estimate","algorithm"`, 1))
	if again := ais(t, c.endpoint, "dsort", "start", dryRun); !strings.Contains(again, "720 records") || !strings.Contains(again, "forecast:") {
		t.Fatalf("ais dsort start with dry_run estimate:\n%s", again)
	}

	// The job makes what the estimate counted.
	id := strings.Fields(ais(t, c.endpoint, "dsort", "start", spec, "--wait"))[0]
	metrics, err := c.client().DsortMetrics(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	m := api.DsortSummary(metrics).Metrics
	if m.Extraction.ExtractedRecordCount != est.Records || m.Extraction.ExtractedSize != est.FileBytes ||
		m.Creation.CreatedCount != est.OutputShards || m.Creation.CreatedRecordCount != est.OutputRecords || m.Creation.CreatedSize != est.OutputBytes {
		t.Fatalf("the job: %d records, %d bytes extracted, %d shards of %d records, %d bytes; the estimate: %d, %d, %d of %d, %d",
			m.Extraction.ExtractedRecordCount, m.Extraction.ExtractedSize, m.Creation.CreatedCount, m.Creation.CreatedRecordCount,
			m.Creation.CreatedSize, est.Records, est.FileBytes, est.OutputShards, est.OutputRecords, est.OutputBytes)
	}
	var names []string
	for name := range c.outputs("dst") {
		names = append(names, name)
	}
	slices.Sort(names)
	if int64(len(names)) != est.OutputShards || names[0] != est.FirstShard || names[len(names)-1] != est.LastShard {
		t.Fatalf("the job wrote %d shards, %s to %s; the estimate %d, %s to %s", len(names), names[0], names[len(names)-1],
			est.OutputShards, est.FirstShard, est.LastShard)
	}

	// The estimate beside the job it estimated.
	second := writeSpec(t, strings.Replace(string(mustRead(t, spec)), `"name":"dst"`, `"name":"dst2"`, 1))
	both := ais(t, c.endpoint, "dsort", "start", second, "--estimate-first")
	t.Logf("ais dsort start --estimate-first:\n%s", both)
	for _, want := range []string{"forecast:", "ESTIMATE", "ACTUAL", "output shards", "total time", "finished"} {
		if !strings.Contains(both, want) {
			t.Errorf("--estimate-first does not print %q:\n%s", want, both)
		}
	}

	// No object matches: a clear error naming the template, a non-zero exit.
	none := writeSpec(t, `{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":"nothing-{000..023}.tar"},
		"output_format":"out-{0000..9999}.tar","output_shard_size":"1MiB"}`)
	stdout, stderr, err := aisWithin(t, c.endpoint, "dsort", "start", none, "--estimate")
	if err == nil || !strings.Contains(stderr, `"nothing-{000..023}.tar" matches no object`) {
		t.Fatalf("estimate of a template that matches nothing: %v\nstdout: %s\nstderr: %s", err, stdout, stderr)
	}
}
