package benchmarks

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// cpuSplit is the CPUs this process may run on in two halves: one for
// the clients and the servers they would reach without the cluster (an
// S3 server), one for the cluster, as in a deployment where each runs on
// hosts of its own. all is the whole set, as the run began (taskset's
// CPUs need not be 0..n-1), to give back after. ok is false with fewer
// than 2 CPUs.
func cpuSplit() (clients, cluster, all unix.CPUSet, ok bool) {
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		return clients, cluster, all, false
	}
	var cpus []int
	for cpu := range len(all) * 64 {
		if all.IsSet(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	for i, cpu := range cpus {
		if i < len(cpus)/2 {
			clients.Set(cpu)
		} else {
			cluster.Set(cpu)
		}
	}
	return clients, cluster, all, len(cpus) >= 2
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
