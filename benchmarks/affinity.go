package benchmarks

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// cpuSplit is the machine's CPUs in two halves: one for the clients and
// the servers they would reach without the cluster (an S3 server), one
// for the cluster, as in a deployment where each runs on hosts of its
// own. ok is false with fewer than 2 CPUs.
func cpuSplit() (clients, cluster, all unix.CPUSet, ok bool) {
	n := runtime.NumCPU()
	for cpu := range n {
		all.Set(cpu)
		if cpu < n/2 {
			clients.Set(cpu)
		} else {
			cluster.Set(cpu)
		}
	}
	return clients, cluster, all, n >= 2
}

// pinProcess sets the CPUs of every thread of process pid (0: this one).
// Threads started later take their creator's.
func pinProcess(pid int, cpus unix.CPUSet) error {
	dir := "/proc/self/task"
	if pid != 0 {
		dir = fmt.Sprintf("/proc/%d/task", pid)
	}
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, task := range tasks {
		tid, err := strconv.Atoi(task.Name())
		if err != nil {
			continue
		}
		// A thread that ended since the listing is no matter.
		if err := unix.SchedSetaffinity(tid, &cpus); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("CPU affinity of thread %d of %s: %w", tid, dir, err)
		}
	}
	return nil
}
