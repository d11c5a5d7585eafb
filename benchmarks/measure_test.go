package benchmarks

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aisgo/aisgo/api"
)

// A figure of a job is timed to the job's end as its nodes say, not to
// the poll that saw it end (100 ms apart at least).
func TestFigureTimedToTheJobsEnd(t *testing.T) {
	rec := newRecorder("test", nil)
	var ended time.Time
	fig := figure{name: "a job", ended: func() time.Time { return ended }}
	err := rec.measure(t.Context(), fig, func() error {
		ended = time.Now().Add(time.Millisecond)
		time.Sleep(300 * time.Millisecond) // the poll that sees the end
		return nil
	})
	if err != nil || len(rec.results) != 1 {
		t.Fatalf("%v %+v", err, rec.results)
	}
	if got := rec.results[0].Elapsed; got >= 300*time.Millisecond {
		t.Fatalf("timed %s: to the poll, not to the job's end", got)
	}
	j := api.ClusterJob{Nodes: map[string]api.JobStatus{"t1": {Finished: 5}, "t2": {Finished: 9}, "g1": {}}}
	if end := jobEnd(j); end != time.Unix(0, 9) {
		t.Fatalf("the end of a job on two targets: %v, want the later", end)
	}
	if end := jobEnd(api.ClusterJob{}); !end.IsZero() {
		t.Fatalf("the end of a job no node ran: %v", end)
	}
}

// The split halves the CPUs this process may use, whatever their
// numbers, and all is that set, to restore.
func TestCPUSplitOfTheProcessMask(t *testing.T) {
	// Under taskset -c of one CPU that is not CPU 0 (when there are
	// two): all is that CPU, not 0..n-1 of runtime.NumCPU's count.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var mask, was unix.CPUSet
	if err := unix.SchedGetaffinity(0, &was); err != nil {
		t.Fatal(err)
	}
	if was.IsSet(1) {
		mask.Set(1)
		if err := unix.SchedSetaffinity(0, &mask); err != nil {
			t.Fatal(err)
		}
		defer unix.SchedSetaffinity(0, &was)
	} else {
		mask = was
	}
	clients, cluster, all, ok := cpuSplit()
	if all != mask {
		t.Fatalf("the whole set %v, want the process's mask %v", all, mask)
	}
	if ok != (mask.Count() >= 2) || clients.Count()+cluster.Count() != mask.Count() || clients.Count() != mask.Count()/2 {
		t.Fatalf("split %d+%d of %d CPUs (ok %v)", clients.Count(), cluster.Count(), mask.Count(), ok)
	}
	for cpu := range len(mask) * 64 {
		if (clients.IsSet(cpu) || cluster.IsSet(cpu)) != mask.IsSet(cpu) || clients.IsSet(cpu) && cluster.IsSet(cpu) {
			t.Fatalf("CPU %d: in the mask %v, clients %v, cluster %v", cpu, mask.IsSet(cpu), clients.IsSet(cpu), cluster.IsSet(cpu))
		}
	}
}
