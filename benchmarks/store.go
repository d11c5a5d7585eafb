package benchmarks

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/fs"
)

func storeSuite() Suite {
	return Suite{
		Name:        "store",
		Doc:         "store/fs Put and Open+read of 1 MiB and 100 KiB objects, with fsync and NoSync, beside raw files",
		DefaultSize: 512 << 20,
		Run:         runStore,
	}
}

func storePutName(size int, noSync bool) string {
	if noSync {
		return "store Put " + sizeName(size) + ", NoSync"
	}
	return "store Put " + sizeName(size)
}

func storeReadName(size int, cold bool) string {
	if cold {
		return "store Open+read " + sizeName(size) + " cold"
	}
	return "store Open+read " + sizeName(size) + " warm"
}

// runStore measures, for each object size, raw files written with fsync
// and read warm and cold, the store doing the same, then both without
// fsync. One writer, one reader: the figures are per stream.
func runStore(ctx context.Context, cfg Config) ([]Result, error) {
	rec := newRecorder("store", cfg.Logger)
	src := randomBytes(srcSize)
	for _, size := range objectSizes {
		for _, noSync := range []bool{false, true} {
			if err := diskSetFigures(ctx, rec, cfg.Dir, src, cfg.Size, size, !noSync, !noSync, false); err != nil {
				return rec.results, err
			}
			if err := storeFigures(ctx, rec, cfg.Dir, src, cfg.Size, size, noSync); err != nil {
				return rec.results, err
			}
		}
	}
	return rec.results, nil
}

// storeFigures puts total bytes as objects of size into a new store/fs
// and, with fsync, reads them back warm and cold.
func storeFigures(ctx context.Context, rec *recorder, dir string, src []byte, total int64, size int, noSync bool) error {
	mountpath := filepath.Join(dir, "mp")
	defer os.RemoveAll(mountpath)
	st, err := fs.Open(ctx, fs.Config{Mountpaths: []string{mountpath}, NoSync: noSync})
	if err != nil {
		return err
	}
	b := store.NewBucket("bench")
	if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
		return err
	}
	n := count(total, size)
	bytesMoved := n * int64(size)
	note := "xxhash, work file, fsync, xattr, rename"
	if noSync {
		note = "xxhash, work file, xattr, rename"
	}
	err = rec.measure(ctx, figure{name: storePutName(size, noSync), baseline: diskWriteName(size, !noSync), bytes: bytesMoved, ops: n, note: note}, func() error {
		for i := range n {
			data := slice(src, i, size)
			if _, err := st.Put(ctx, b, objectName(i), bytes.NewReader(data), store.PutOptions{Size: int64(len(data))}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || noSync {
		return err
	}
	buf := make([]byte, chunkSize)
	read := func() error {
		for i := range n {
			obj, err := st.Open(ctx, b, objectName(i), store.OpenOptions{})
			if err != nil {
				return err
			}
			got, err := drainInto(obj, buf)
			obj.Close()
			if err != nil {
				return err
			}
			if err := expectSize(objectName(i), got, int64(size)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := warm(mountpath, buf); err != nil {
		return err
	}
	err = rec.measure(ctx, figure{name: storeReadName(size, false), baseline: diskReadName(size, false), bytes: bytesMoved, ops: n, repeat: true, note: "open, xattr, read, close"}, read)
	if err != nil {
		return err
	}
	if err := dropCache(mountpath); err != nil {
		return err
	}
	return rec.measure(ctx, figure{name: storeReadName(size, true), baseline: diskReadName(size, true), bytes: bytesMoved, ops: n, note: "after posix_fadvise(DONTNEED) of every file"}, read)
}

// objectName is the name of the i-th object of a measurement.
func objectName(i int64) string { return fmt.Sprintf("o/%07d", i) }
