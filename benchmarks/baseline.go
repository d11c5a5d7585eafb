package benchmarks

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// objectSizes are the object and file sizes the store and HTTP figures
// are measured with: a large sample and a small one.
var objectSizes = []int{1 << 20, 100 << 10}

// streamCounts are the numbers of parallel HTTP streams (client workers).
var streamCounts = []int{1, 4}

// srcSize is the size of the random data every write is cut from; small,
// so that the peak RSS of an in-process figure is mostly the code's own.
const srcSize = 8 << 20

// memorySpan is the size of each buffer of the memory figures: beyond
// the CPU caches, so that they measure memory.
const memorySpan = 64 << 20

// Names of the baseline figures other suites refer to.
const (
	memoryWarm    = "memory copy, warm buffers"
	memoryFresh   = "memory copy, fresh buffers"
	copyInMemory  = "io.Copy in memory"
	diskWriteEnd  = "disk write, fsync at end"
	diskReadWarm  = "disk read warm"
	diskReadCold  = "disk read cold"
	chunkSize     = 1 << 20
	ioCopyBufSize = 32 << 10 // what io.Copy allocates
)

func diskWriteName(size int, sync bool) string {
	if sync {
		return "disk write " + sizeName(size) + " files, fsync each"
	}
	return "disk write " + sizeName(size) + " files, no fsync"
}

func diskReadName(size int, cold bool) string {
	if cold {
		return "disk read " + sizeName(size) + " files cold"
	}
	return "disk read " + sizeName(size) + " files warm"
}

// diskReadersName names the disk reads of readers at once: the bound of
// as many clients (one reader bounds one client only).
func diskReadersName(size int, cold bool, readers int) string {
	if readers == 1 {
		return diskReadName(size, cold)
	}
	return fmt.Sprintf("%s, %d readers", diskReadName(size, cold), readers)
}

func baselineSuite() Suite {
	return Suite{
		Name:        "baseline",
		Doc:         "the bounds: memory copy, io.Copy, raw disk writes and reads, a bare net/http server on loopback",
		DefaultSize: 1 << 30,
		Run:         runBaseline,
	}
}

func runBaseline(ctx context.Context, cfg Config) ([]Result, error) {
	rec := newRecorder("baseline", cfg.Logger)
	src := randomBytes(srcSize)
	if err := memoryFigures(ctx, rec, cfg.Size); err != nil {
		return rec.results, err
	}
	if err := diskFigures(ctx, rec, cfg.Dir, src, cfg.Size); err != nil {
		return rec.results, err
	}
	lb, err := startLoopback(src)
	if err != nil {
		return rec.results, err
	}
	defer lb.close()
	for _, size := range objectSizes {
		for _, streams := range streamCounts {
			if err := lb.figures(ctx, rec, cfg.Size, size, streams, copyInMemory); err != nil {
				return rec.results, err
			}
		}
	}
	return rec.results, nil
}

// memoryFigures measures copying total bytes in memory: into warm
// buffers, into fresh ones, and through io.Copy.
func memoryFigures(ctx context.Context, rec *recorder, total int64) error {
	src := randomBytes(memorySpan)
	dst := make([]byte, len(src))
	copy(dst, src) // touch every page once
	n := count(total, chunkSize)
	err := rec.measure(ctx, figure{name: memoryWarm, bytes: n * chunkSize, repeat: true, note: "1 MiB copies between two warm 64 MiB buffers"}, func() error {
		for i := range n {
			copy(slice(dst, i, chunkSize), slice(src, i, chunkSize))
		}
		return nil
	})
	if err != nil {
		return err
	}
	var kept []byte
	err = rec.measure(ctx, figure{name: memoryFresh, baseline: memoryWarm, bytes: n * chunkSize, repeat: true, note: "each 1 MiB into a newly allocated buffer"}, func() error {
		for i := range n {
			kept = make([]byte, chunkSize)
			copy(kept, slice(src, i, chunkSize))
		}
		return nil
	})
	if err != nil {
		return err
	}
	_ = kept
	return rec.measure(ctx, figure{name: copyInMemory, baseline: memoryWarm, bytes: total, repeat: true, note: "io.Copy from a reader to a writer over warm buffers, its own 32 KiB buffer between"}, func() error {
		copied, err := io.Copy(writerOnly{&ringWriter{buf: dst}}, readerOnly{&cycleReader{src: src, left: total}})
		if err != nil {
			return err
		}
		return expectSize("io.Copy", copied, total)
	})
}

// diskFigures measures raw disk writes and reads of total bytes: one file
// fsynced at the end, files of each object size fsynced one by one, and
// reading the one file back from the page cache and from the disk.
func diskFigures(ctx context.Context, rec *recorder, dir string, src []byte, total int64) error {
	big := filepath.Join(dir, "big")
	err := rec.measure(ctx, figure{name: diskWriteEnd, bytes: total, note: "one file, 1 MiB writes"}, func() error {
		return writeBigFile(big, src, total)
	})
	if err != nil {
		return err
	}
	defer os.Remove(big)
	for _, size := range objectSizes {
		set := filepath.Join(dir, "files-"+sizeName(size))
		n := count(total, size)
		err := rec.measure(ctx, figure{name: diskWriteName(size, true), baseline: diskWriteEnd, bytes: n * int64(size), ops: n, note: "create, write, fsync, close"}, func() error {
			return writeFileSet(ctx, set, src, n, size, true)
		})
		if err != nil {
			return err
		}
		if err := os.RemoveAll(set); err != nil {
			return err
		}
	}
	buf := make([]byte, chunkSize)
	if err := warm(big, buf); err != nil {
		return err
	}
	err = rec.measure(ctx, figure{name: diskReadWarm, bytes: total, repeat: true, note: "the one file from the page cache, 1 MiB reads"}, func() error {
		return readBigFile(big, buf, total)
	})
	if err != nil {
		return err
	}
	if err := dropCache(big); err != nil {
		return err
	}
	return rec.measure(ctx, figure{name: diskReadCold, baseline: diskReadWarm, bytes: total, note: "the one file after posix_fadvise(DONTNEED)"}, func() error {
		return readBigFile(big, buf, total)
	})
}

// diskSetFigures measures writing total bytes as files of size (fsynced
// each or not) and, with reads, reading them back warm and cold, by one
// reader and, with readers, by httpWorkers at once.
func diskSetFigures(ctx context.Context, rec *recorder, dir string, src []byte, total int64, size int, sync, reads, readers bool) error {
	set := filepath.Join(dir, "files-"+sizeName(size))
	defer os.RemoveAll(set)
	n := count(total, size)
	bytes := n * int64(size)
	note := "create, write, close"
	if sync {
		note = "create, write, fsync, close"
	}
	err := rec.measure(ctx, figure{name: diskWriteName(size, sync), bytes: bytes, ops: n, note: note}, func() error {
		return writeFileSet(ctx, set, src, n, size, sync)
	})
	if err != nil {
		return err
	}
	if err := syncTree(set); err != nil {
		return err
	}
	if !reads {
		return nil
	}
	buf := make([]byte, chunkSize)
	if err := warm(set, buf); err != nil {
		return err
	}
	err = rec.measure(ctx, figure{name: diskReadName(size, false), bytes: bytes, ops: n, repeat: true, note: "open, read, close from the page cache"}, func() error {
		return readFileSet(ctx, set, n, size, buf)
	})
	if err != nil {
		return err
	}
	readAtOnce := func(ctx context.Context) error {
		return runWorkers(ctx, httpWorkers, n, chunkSize, func(ctx context.Context, i int64, buf []byte) error {
			return readBigFile(filePath(set, i), buf, int64(size))
		})
	}
	if readers {
		err = rec.measure(ctx, figure{name: diskReadersName(size, false, httpWorkers), baseline: diskReadName(size, false), bytes: bytes, ops: n, repeat: true,
			note: fmt.Sprintf("%d readers at once, as many as the API's clients", httpWorkers)}, func() error { return readAtOnce(ctx) })
		if err != nil {
			return err
		}
	}
	if err := dropCache(set); err != nil {
		return err
	}
	err = rec.measure(ctx, figure{name: diskReadName(size, true), bytes: bytes, ops: n, note: "open, read, close after posix_fadvise(DONTNEED)"}, func() error {
		return readFileSet(ctx, set, n, size, buf)
	})
	if err != nil || !readers {
		return err
	}
	if err := dropCache(set); err != nil {
		return err
	}
	return rec.measure(ctx, figure{name: diskReadersName(size, true, httpWorkers), baseline: diskReadName(size, true), bytes: bytes, ops: n,
		note: fmt.Sprintf("%d readers at once after posix_fadvise(DONTNEED)", httpWorkers)}, func() error { return readAtOnce(ctx) })
}
