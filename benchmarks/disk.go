package benchmarks

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// filePath is the i-th file of a set of files in dir.
func filePath(dir string, i int64) string { return filepath.Join(dir, fmt.Sprintf("f%07d", i)) }

// writeBigFile writes total bytes of src to one file in 1 MiB writes and
// fsyncs it once at the end.
func writeBigFile(path string, src []byte, total int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for i := int64(0); total > 0; i++ {
		chunk := slice(src, i, int(min(total, 1<<20)))
		if _, err := f.Write(chunk); err != nil {
			return err
		}
		total -= int64(len(chunk))
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// writeFileSet writes n files of size bytes into dir, one after another,
// each fsynced before it is closed when sync is set.
func writeFileSet(ctx context.Context, dir string, src []byte, n int64, size int, sync bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := os.OpenFile(filePath(dir, i), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		_, err = f.Write(slice(src, i, size))
		if err == nil && sync {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// readBigFile reads a file into buf, over and over, and checks its size.
func readBigFile(path string, buf []byte, want int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := drainInto(f, buf)
	if err != nil {
		return err
	}
	return expectSize(path, n, want)
}

// readFileSet reads the n files of a set written by writeFileSet.
func readFileSet(ctx context.Context, dir string, n int64, size int, buf []byte) error {
	for i := range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := readBigFile(filePath(dir, i), buf, int64(size)); err != nil {
			return err
		}
	}
	return nil
}

// dropCache evicts every regular file under root from the page cache:
// dirty pages are written first (syncfs), then each file is dropped with
// posix_fadvise(DONTNEED), which needs no privilege. The next read of the
// files comes from the disk.
func dropCache(root string) error {
	dir, err := os.Open(root)
	if err != nil {
		return err
	}
	err = unix.Syncfs(int(dir.Fd()))
	dir.Close()
	if err != nil {
		return fmt.Errorf("syncfs %s: %w", root, err)
	}
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			return fmt.Errorf("fadvise %s: %w", path, err)
		}
		return nil
	})
}

// warm reads every regular file under root once, so that the next reads
// come from the page cache.
func warm(root string, buf []byte) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = drainInto(f, buf)
		return err
	})
}

// syncTree writes the dirty pages of root's filesystem, so that writes a
// measurement left in the page cache do not slow the next one down.
func syncTree(root string) error {
	dir, err := os.Open(root)
	if err != nil {
		return err
	}
	defer dir.Close()
	return unix.Syncfs(int(dir.Fd()))
}

// spreadDirectories marks dir as the top of a directory tree (ext4's
// FS_TOPDIR_FL), so that ext4 places each of its subdirectories in a block
// group of its own choosing, as it does for the subdirectories of a
// filesystem's root, where a deployment's mountpaths are. Otherwise every
// directory of a suite (its nodes' mountpaths included) shares the block
// group of the scratch directory, where the files that earlier suites and
// runs deleted were: on ext4 without a journal, each new file then scans
// past the inodes freed in the last minutes (measured here: 0.5 ms per
// file created against 0.015 ms in a fresh group). Elsewhere a no-op.
func spreadDirectories(dir string) {
	f, err := os.Open(dir)
	if err != nil {
		return
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		return
	}
	unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags|fsTopDirFlag))
}

// fsTopDirFlag is FS_TOPDIR_FL of linux/fs.h (chattr +T).
const fsTopDirFlag = 0x00020000

// warmFreeMemory maps n bytes, has the kernel touch every page, and
// unmaps them. On a VM that reports free pages to its host (virtio
// free page reporting), a page that was free for a few seconds costs a
// trip to the host on its first touch: writing a GiB into new files then
// takes about three times the CPU. Run right before a figure that fills
// the page cache, this hands it pages the guest touched a moment ago,
// so that figures are measured on the same footing whatever ran before.
func warmFreeMemory(n int64) error {
	if n <= 0 {
		return nil
	}
	region, err := unix.Mmap(-1, 0, int(n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("warm %d bytes of free memory: %w", n, err)
	}
	return unix.Munmap(region)
}
