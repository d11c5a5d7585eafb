package extract

import (
	"os"
	"sync/atomic"
	"syscall"
)

// SetMetadataFloor changes metadataFloor until the returned func restores
// it.
func SetMetadataFloor(n int64) (restore func()) {
	old := metadataFloor
	metadataFloor = n
	return func() { metadataFloor = old }
}

// AddSpilling adds n to the bytes being spilled by others onto dir's
// filesystem until the returned func takes them back.
func AddSpilling(dir string, n int64) (restore func()) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		panic(err)
	}
	counter, _ := spilling.LoadOrStore(filesystemOfDir(dir, st), new(atomic.Int64))
	counter.(*atomic.Int64).Add(n)
	return func() { counter.(*atomic.Int64).Add(-n) }
}

// SpillingOn is the bytes being spilled onto dir's filesystem.
func SpillingOn(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		panic(err)
	}
	counter, ok := spilling.Load(filesystemOfDir(dir, st))
	if !ok {
		return 0
	}
	return counter.(*atomic.Int64).Load()
}

func filesystemOfDir(dir string, st syscall.Statfs_t) filesystem {
	f, err := os.Open(dir)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	return filesystemOf(f, st)
}

// MetadataHeld is the bytes of names and keys b holds.
func MetadataHeld(b *Budget) int64 { return b.metadata.Load() }
