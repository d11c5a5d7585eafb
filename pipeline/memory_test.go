package pipeline

import (
	"os"
	"path/filepath"
	"testing"
)

// A container's cgroup caps the memory a budget refers to: /proc/meminfo
// shows the host's.
func TestCgroupMemoryLimit(t *testing.T) {
	write := func(path, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		self  string
		files map[string]string
		want  int64
	}{
		{"v2 in a container", "0::/\n", map[string]string{"memory.max": "8589934592\n"}, 8 << 30},
		{"v2 on a host", "0::/system.slice/aisnode.service\n", map[string]string{"system.slice/aisnode.service/memory.max": "4294967296\n", "memory.max": "max\n"}, 4 << 30},
		{"v2 without a limit", "0::/\n", map[string]string{"memory.max": "max\n"}, 0},
		{"v1 in a container", "4:memory:/kubepods/pod1/c1\n3:cpu,cpuacct:/kubepods/pod1/c1\n", map[string]string{"memory/memory.limit_in_bytes": "2147483648\n"}, 2 << 30},
		{"v1 on a host", "4:memory:/process_api/x\n", map[string]string{"memory/process_api/x/memory.limit_in_bytes": "1073741824\n", "memory/memory.limit_in_bytes": "9223372036854771712\n"}, 1 << 30},
		{"v1 without a limit", "4:memory:/\n", map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712\n"}, 0},
		{"both, the smaller", "4:memory:/\n0::/\n", map[string]string{"memory/memory.limit_in_bytes": "3221225472", "memory.max": "2147483648"}, 2 << 30},
		{"a path that climbs out", "0::/../../etc\n", map[string]string{"memory.max": "max"}, 0},
		{"v2, the limit on a parent slice", "0::/ais.slice/aisnode.service\n", map[string]string{"ais.slice/memory.max": "17179869184", "ais.slice/aisnode.service/memory.max": "max"}, 16 << 30},
		{"v1, the limit on a parent", "4:memory:/ais/node\n", map[string]string{"memory/ais/memory.limit_in_bytes": "1073741824", "memory/ais/node/memory.limit_in_bytes": "9223372036854771712"}, 1 << 30},
		{"v2, a host path not under the container's mount", "0::/kubepods/pod1/c1\n", map[string]string{"memory.max": "2147483648"}, 2 << 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			root := filepath.Join(dir, "cgroup")
			write(filepath.Join(dir, "self"), tc.self)
			for path, data := range tc.files {
				write(filepath.Join(root, path), data)
			}
			if got := cgroupMemoryLimit(filepath.Join(dir, "self"), root); got != tc.want {
				t.Fatalf("limit %d, want %d", got, tc.want)
			}
		})
	}
	if got := cgroupMemoryLimit(filepath.Join(t.TempDir(), "none"), t.TempDir()); got != 0 {
		t.Fatalf("without /proc/self/cgroup: %d", got)
	}
	if total := systemMemory(); total <= 0 || total > memTotal("/proc/meminfo") {
		t.Fatalf("system memory %d, meminfo %d", total, memTotal("/proc/meminfo"))
	}
}
