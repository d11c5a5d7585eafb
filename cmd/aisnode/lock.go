package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// dirLocks hold the node's directories for the life of the process: a
// second aisnode given one of them (a unit started twice, a copied
// config) would write over the first's metadata and objects.
type dirLocks []*os.File

// lockDirs takes an exclusive lock on each directory that exists (a
// mountpath not mounted yet is the store's to tell): flock(2) on the
// directory itself, released by the kernel when the process ends, however
// it ends.
func lockDirs(dirs ...string) (io.Closer, error) {
	var locks dirLocks
	for _, dir := range dirs {
		f, err := os.Open(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			locks.Close()
			return nil, fmt.Errorf("lock %s: %w", dir, err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			locks.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("%s is in use by another aisnode (or another program holds its lock): one directory serves one node", dir)
			}
			return nil, fmt.Errorf("lock %s: %w", dir, err)
		}
		locks = append(locks, f)
	}
	return locks, nil
}

func (l dirLocks) Close() error {
	for _, f := range l {
		f.Close()
	}
	return nil
}
