package pipeline

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
)

// systemMemory returns the machine's total memory in bytes from
// /proc/meminfo, or 8 GiB when it cannot be read.
func systemMemory() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 8 << 30
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if rest, ok := bytes.CutPrefix(line, []byte("MemTotal:")); ok {
			fields := bytes.Fields(rest)
			if len(fields) > 0 {
				if kb, err := strconv.ParseInt(string(fields[0]), 10, 64); err == nil {
					return kb << 10
				}
			}
		}
	}
	return 8 << 30
}
