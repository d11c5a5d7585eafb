package benchmarks_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/benchmarks"
)

// buildAisnode builds aisnode for the cluster figures; in -short mode
// there is none and those figures are skipped.
func buildAisnode(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		return ""
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+"/", "../cmd/aisnode")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build aisnode: %v\n%s", err, out)
	}
	return filepath.Join(dir, "aisnode")
}

// TestSuites runs every suite but formats (which has its own test) on a
// few MiB, through Run and the report writer, and checks what was
// measured, never how fast.
func TestSuites(t *testing.T) {
	var suites []benchmarks.Suite
	for _, s := range benchmarks.Suites() {
		if s.Name != "formats" {
			suites = append(suites, s)
		}
	}
	cfg := benchmarks.Config{
		Dir:              t.TempDir(),
		Size:             2 << 20,
		Aisnode:          buildAisnode(t),
		RebalanceObjects: 40,
		RebalanceWait:    3 * time.Second,
		ControlCreates:   5,
		FailoverKills:    1,
	}
	report, err := benchmarks.Run(t.Context(), cfg, suites)
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Suites) != len(suites) {
		t.Fatalf("report of %d suites, want %d", len(report.Suites), len(suites))
	}
	for _, s := range report.Suites {
		if s.Size != 2<<20 || s.Error != "" || s.Elapsed <= 0 {
			t.Errorf("suite run %+v", s)
		}
	}

	names := map[string][]string{}
	for _, r := range report.Results {
		if slices.Contains(names[r.Suite], r.Name) {
			t.Errorf("%s: %q measured twice", r.Suite, r.Name)
		}
		names[r.Suite] = append(names[r.Suite], r.Name)
	}
	// Without aisnode, these suites list every figure they would measure,
	// as skipped with the reason: none vanishes from the report.
	var nodeless []benchmarks.Suite
	for _, s := range suites {
		if slices.Contains([]string{"controlplane", "datapath", "dsort", "http"}, s.Name) {
			nodeless = append(nodeless, s)
		}
	}
	without := cfg
	without.Aisnode, without.Dir = "", t.TempDir()
	skipped, err := benchmarks.Run(t.Context(), without, nodeless)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, r := range skipped.Results {
		listed[r.Suite+"/"+r.Name] = true
	}
	for _, s := range nodeless {
		for _, name := range names[s.Name] {
			if !listed[s.Name+"/"+name] {
				t.Errorf("%s/%s is not in the report of a run without aisnode", s.Name, name)
			}
		}
	}
	for _, r := range report.Results {
		switch {
		case r.Skipped:
			if r.Note == "" {
				t.Errorf("%s/%s skipped without a reason", r.Suite, r.Name)
			}
			if cfg.Aisnode != "" && !strings.HasPrefix(r.Name, "rebalance") {
				t.Errorf("%s/%s skipped: %s", r.Suite, r.Name, r.Note)
			}
			t.Logf("%s/%s skipped: %s", r.Suite, r.Name, r.Note)
		case r.Elapsed <= 0 || r.Bytes <= 0 && r.Ops <= 0 && r.Note == "":
			// A figure of time alone (a failover) says what it timed.
			t.Errorf("%s/%s: %+v", r.Suite, r.Name, r)
		}
		for _, b := range append([]string{r.Baseline}, r.Bounds...) {
			if b != "" && !slices.Contains(names[r.Suite], b) {
				t.Errorf("%s/%s: baseline %q is not measured", r.Suite, r.Name, b)
			}
		}
		if !r.Skipped && r.Baseline != "" && report.Ratio(r) <= 0 {
			t.Errorf("%s/%s: no ratio to %q", r.Suite, r.Name, r.Baseline)
		}
	}

	// Each suite's headline figures, with their baselines.
	for _, want := range []struct{ suite, name, baseline string }{
		{"baseline", "memory copy, warm buffers", ""},
		{"baseline", "disk read cold", "disk read warm"},
		{"baseline", "disk write 100 KiB files, fsync each", "disk write, fsync at end"},
		{"baseline", "net/http GET 1 MiB, 4 streams", "io.Copy in memory"},
		{"store", "store Put 100 KiB", "disk write 100 KiB files, fsync each"},
		{"store", "store Put 1 MiB, NoSync", "disk write 1 MiB files, no fsync"},
		{"store", "store Open+read 1 MiB cold", "disk read 1 MiB files cold"},
		{"http", "API PUT 1 MiB, 4 workers", "net/http PUT 1 MiB, 4 streams"},
		{"http", "API dry-run GET 100 KiB, 1 worker", "net/http GET 100 KiB, 1 stream"},
		{"http", "API GET 1 MiB cold, 4 workers", "net/http GET 1 MiB, 4 streams"},
		{"http", "disk read 1 MiB files cold, 4 readers", "disk read 1 MiB files cold"},
		{"http", "cluster PUT 1 MiB, 4 workers", "net/http PUT 1 MiB, 4 streams"},
		{"http", "cluster dry-run GET 100 KiB, 4 workers", "net/http GET 100 KiB, 4 streams"},
		{"remote", "remote cold GET 1 MiB, 4 workers", "remote S3 GET straight from versitygw 1 MiB, 4 workers"},
		{"remote", "remote S3 GET straight, each object written to a new file 1 MiB, 4 workers", ""},
		{"remote", "remote cold GET, the cluster on the other half 1 MiB, 4 workers", "remote S3 GET straight, client and S3 on half the CPUs 1 MiB, 4 workers"},
		{"s3", "S3 presigned PUT 100 KiB, 4 workers", "API PUT 100 KiB, 4 workers"},
		{"s3", "S3 dry-run presigned GET 1 MiB, 4 workers", "API dry-run GET 1 MiB, 4 workers"},
		{"controlplane", "bucket create, 3 gateways, through a follower", "bucket create, 1 gateway"},
		{"controlplane", "GET 256 KiB, clients route to targets, 3 gateway(s)", "GET 256 KiB, clients route to targets, 1 gateway(s)"},
		{"controlplane", "failover: kill -9 of the primary to the first bucket create, 3 gateways", ""},
		{"protection", "protection Put 1 MiB, mirror 2", "disk write 1 MiB files ×2, fsync each"},
		{"protection", "protection Put 1 MiB, EC 2+2", "disk write 1 MiB files ×3, fsync each"},
		{"protection", "GET 1 MiB restored from 2+2 slices", "GET 1 MiB, EC 2+2, replica on disk"},
		{"protection", "EC encode 2+2, 1 MiB objects (ec.Codec.EncodeShared)", "reedsolomon Encode 2+2, 1 MiB objects, the library alone"},
	} {
		i := slices.IndexFunc(report.Results, func(r benchmarks.Result) bool { return r.Suite == want.suite && r.Name == want.name })
		if i < 0 {
			t.Errorf("%s: no figure %q", want.suite, want.name)
			continue
		}
		if got := report.Results[i].Baseline; got != want.baseline {
			t.Errorf("%s/%s: baseline %q, want %q", want.suite, want.name, got, want.baseline)
		}
	}
	for _, prefix := range []string{"rebalance 40 objects", "API: aisloader PUT", "API dry-run: aisloader GET"} {
		if i := slices.IndexFunc(report.Results, func(r benchmarks.Result) bool { return strings.HasPrefix(r.Name, prefix) }); i < 0 {
			t.Errorf("no figure %q..., measured or skipped", prefix)
		}
	}

	out := t.TempDir()
	path, err := report.WriteDir(out, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, strings.TrimSuffix(path, ".md") + ".json", filepath.Join(out, "latest.md")} {
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			t.Errorf("report file %s: %v", p, err)
		}
	}
	t.Log("\n" + report.Markdown())
}

func TestSelectSuites(t *testing.T) {
	got, err := benchmarks.SelectSuites([]string{"http", "baseline"})
	if err != nil || len(got) != 2 || got[0].Name != "http" || got[1].Name != "baseline" {
		t.Errorf("SelectSuites: %v, %v", got, err)
	}
	if _, err := benchmarks.SelectSuites([]string{"nope"}); err == nil {
		t.Error("an unknown suite was accepted")
	}
	for _, name := range []string{"baseline", "store", "http", "loader", "formats"} {
		if !slices.Contains(benchmarks.SuiteNames(), name) {
			t.Errorf("no suite %s", name)
		}
	}
}
