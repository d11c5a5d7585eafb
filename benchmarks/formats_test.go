package benchmarks_test

import (
	"slices"
	"testing"

	"github.com/aisgo/aisgo/benchmarks"
)

// TestFormats runs the formats suite on 4 MiB to prove it works; it checks
// what was measured, never how fast.
func TestFormats(t *testing.T) {
	results, err := benchmarks.Formats(t.Context(), benchmarks.FormatsOptions{
		Dir:        t.TempDir(),
		TotalBytes: 4 << 20,
		RecordSize: 64 << 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range results {
		names = append(names, r.Name)
		if r.Suite != "formats" || r.Bytes < 4<<20 || r.Ops != 2*64 || r.Elapsed <= 0 || r.PeakRSS <= 0 {
			t.Errorf("result %+v", r)
		}
	}
	want := []string{
		"io.Copy", "io.Copy read",
		"tar write", "tar read", "tgz write", "tgz read", "zip write", "zip read",
		"tar.lz4 write", "tar.lz4 read", "tar.zst write", "tar.zst read",
		"msgpack write", "msgpack read", "tfrecord write", "tfrecord read",
		"gzip compress", "gzip decompress", "lz4 compress", "lz4 decompress", "zstd compress", "zstd decompress",
	}
	if !slices.Equal(names, want) {
		t.Errorf("results %q, want %q", names, want)
	}
	for _, r := range results {
		if r.Baseline != "" && !slices.Contains(names, r.Baseline) {
			t.Errorf("%s: baseline %q is not measured", r.Name, r.Baseline)
		}
		if r.Baseline == "" && r.Name != "io.Copy" && r.Name != "io.Copy read" {
			t.Errorf("%s has no baseline", r.Name)
		}
	}
	report := benchmarks.Report{Machine: benchmarks.MachineDescription()}
	report.Add(results...)
	t.Log("\n" + report.Markdown())
}
