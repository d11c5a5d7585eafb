package pipeline

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aisgo/aisgo/formats"
)

// The forecast's arithmetic on rates given exactly: targets alone on their
// disks take their own bytes at their own rates; targets on one disk take
// the group's bytes at the sum of their rates; creation's writes and
// network transfers overlap.
func TestForecastSharedDisks(t *testing.T) {
	const mib = 1 << 20
	target := func(disk string, input, output, fetch int64) TargetEstimate {
		return TargetEstimate{
			Disk: disk, InputBytes: input * mib, OutputBytes: output * mib, FetchBytes: fetch * mib,
			// 100 MiB/s reads, 50 MiB/s writes, 200 MiB/s network.
			ReadBytes: 100 * mib, ReadTime: time.Second,
			WriteBytes: 50 * mib, WriteTime: time.Second,
			NetworkBytes: 200 * mib, NetworkTime: time.Second,
		}
	}
	plan := &Plan{InputFormat: formats.Tar{}}
	cases := []struct {
		name            string
		targets         []TargetEstimate
		extract, create []time.Duration
	}{
		{
			name:    "alone",
			targets: []TargetEstimate{target("", 300, 100, 0), target("", 100, 200, 0)},
			extract: []time.Duration{3 * time.Second, time.Second},
			create:  []time.Duration{2 * time.Second, 4 * time.Second},
		},
		{
			// 400 MiB in at 200 MiB/s, 300 MiB out at 100 MiB/s.
			name:    "one disk",
			targets: []TargetEstimate{target("host/801", 300, 100, 0), target("host/801", 100, 200, 0)},
			extract: []time.Duration{2 * time.Second, 2 * time.Second},
			create:  []time.Duration{3 * time.Second, 3 * time.Second},
		},
		{
			// The network's 1,000 MiB take 5 s, beside a 2 s write.
			name:    "network bound",
			targets: []TargetEstimate{target("a/1", 100, 100, 1000), target("b/1", 100, 100, 0)},
			extract: []time.Duration{time.Second, time.Second},
			create:  []time.Duration{5 * time.Second, 2 * time.Second},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := Estimate{Targets: c.targets}
			e.forecast(plan, nil, 0)
			for i, got := range e.Targets {
				if !near(got.Extract, c.extract[i]) || !near(got.Create, c.create[i]) {
					t.Errorf("target %d: extract %s, create %s; want %s, %s", i, got.Extract, got.Create, c.extract[i], c.create[i])
				}
			}
			if want := maxOf(c.extract) + maxOf(c.create); !near(e.Forecast.Total, want) {
				t.Errorf("total %s, want %s", e.Forecast.Total, want)
			}
		})
	}
}

func near(a, b time.Duration) bool { return (a - b).Abs() < time.Millisecond }

func maxOf(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// The write sample never takes more than a tenth of the free space, and on
// a full work directory it fails with ENOSPC (which the estimate reports
// as a warning) and leaves no file behind.
func TestWriteSampleOnSmallDisk(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs at %s (this test needs root, which CI has): %v %s", dir, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	if size := writeSampleSize(dir, 4); size <= 0 || size > (8<<20)/10/4 {
		t.Fatalf("sample of %d bytes per stream on an 8 MiB disk, want at most %d", size, (8<<20)/10/4)
	}
	w := &Worker{config: WorkerConfig{WorkDir: dir}}
	n, _, err := w.sampleWrite(t.Context(), 4)
	if err != nil || n == 0 || n > (8<<20)/10 {
		t.Fatalf("sample on an empty 8 MiB disk: %d bytes, %v", n, err)
	}
	fill, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for err == nil {
		_, err = fill.Write(chunk)
	}
	fill.Close()
	if _, _, err := w.sampleWrite(t.Context(), 4); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("sample on a full disk: %v, want ENOSPC", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("the work directory holds %d entries after the samples, want only the filler", len(entries))
	}
}
