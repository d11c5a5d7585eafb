package pipeline

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// systemMemory returns the memory this process may use: the machine's
// (/proc/meminfo, 8 GiB when unreadable), or less when a container's
// cgroup or GOMEMLIMIT caps it. Inside a pod /proc/meminfo shows the
// host's memory: a budget taken from it would be killed by the cgroup.
func systemMemory() int64 {
	total := memTotal("/proc/meminfo")
	if limit := cgroupMemoryLimit("/proc/self/cgroup", "/sys/fs/cgroup"); limit > 0 {
		total = min(total, limit)
	}
	if limit := debug.SetMemoryLimit(-1); limit > 0 && limit < math.MaxInt64 {
		total = min(total, limit)
	}
	return total
}

// ContainerMemoryLimit is the memory limit of this process's cgroup (a
// container's hard limit), 0 when there is none.
func ContainerMemoryLimit() int64 {
	return cgroupMemoryLimit("/proc/self/cgroup", "/sys/fs/cgroup")
}

// memTotal reads MemTotal from a meminfo file, or 8 GiB.
func memTotal(path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 8 << 30
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("MemTotal:")); ok {
			if fields := bytes.Fields(rest); len(fields) > 0 {
				if kb, err := strconv.ParseInt(string(fields[0]), 10, 64); err == nil && kb > 0 {
					return kb << 10
				}
			}
		}
	}
	return 8 << 30
}

// cgroupMemoryLimit returns the memory limit of this process's cgroup
// (v2 memory.max, or v1 memory.limit_in_bytes), the least of its own and
// its parents' (a systemd slice may hold the limit), 0 when there is none.
// A container sees its own cgroup at the root of the mount; on a host the
// process's cgroup path is below it.
func cgroupMemoryLimit(self, root string) int64 {
	data, err := os.ReadFile(self)
	if err != nil {
		return 0
	}
	var least int64
	for line := range strings.Lines(string(data)) {
		// hierarchy-id:controllers:path
		fields := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(fields) != 3 || !strings.HasPrefix(fields[2], "/") || strings.Contains(fields[2], "..") {
			continue
		}
		var dir, file string
		switch {
		case fields[0] == "0" && fields[1] == "":
			dir, file = root, "memory.max"
		case strings.Contains(","+fields[1]+",", ",memory,"):
			dir, file = filepath.Join(root, "memory"), "memory.limit_in_bytes"
		default:
			continue
		}
		for path := filepath.Clean(fields[2]); ; path = filepath.Dir(path) {
			if limit := readLimit(filepath.Join(dir, path, file)); limit > 0 && (least == 0 || limit < least) {
				least = limit
			}
			if path == "/" {
				break
			}
		}
	}
	return least
}

// readLimit reads a cgroup limit file: a byte count, or "max" (none).
// v1 writes no limit as a number near the largest int64.
func readLimit(path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || n <= 0 || n >= math.MaxInt64/2 {
		return 0
	}
	return n
}
