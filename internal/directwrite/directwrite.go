package directwrite

import (
	"errors"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Align is the alignment of a direct write's memory, offset and length:
// the largest logical block size of common disks.
const Align = 4096

// bufferSize is how much a Writer gathers before a direct write: a dSort
// target builds up to 15 shards at once per mountpath, each with one.
const bufferSize = 512 << 10

// Create creates a new file (O_EXCL) for writing, direct when the file
// system allows it.
func Create(path string, perm os.FileMode) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, perm)
	if err != nil {
		return nil, err
	}
	// Set after the open: an open with O_DIRECT on a file system that
	// refuses it (tmpfs before Linux 6.6, some FUSE) fails with EINVAL
	// after it created the file, and a second open (O_EXCL) would then
	// fail too. Refused here, the file is written plain.
	return &Writer{file: f, direct: setDirect(f) == nil}, nil
}

// setDirect turns O_DIRECT on for an open file.
func setDirect(f *os.File) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var setErr error
	if err := raw.Control(func(fd uintptr) {
		flags, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		if err == nil {
			_, err = unix.FcntlInt(fd, unix.F_SETFL, flags|unix.O_DIRECT)
		}
		setErr = err
	}); err != nil {
		return err
	}
	return setErr
}

// Writer gathers the bytes written into an aligned buffer and writes each
// full buffer direct. Finish writes the rest; the caller then syncs the
// file, which O_DIRECT does not replace (the disk's cache and the file's
// size still need it).
type Writer struct {
	file   *os.File
	direct bool
	pooled *[]byte // buf's, from buffers
	buf    []byte
	n      int
}

// File is the file written.
func (w *Writer) File() *os.File { return w.file }

func (w *Writer) Write(p []byte) (int, error) {
	if !w.direct && w.n == 0 {
		return w.file.Write(p)
	}
	written := 0
	if w.direct && w.n == 0 && len(p) >= Align && aligned(p) {
		// Whole blocks of aligned memory (a writer's own big buffer) go
		// to the disk from where they are, with no copy.
		k := len(p) &^ (Align - 1)
		if err := w.writeDirect(p[:k]); err != nil {
			return 0, err
		}
		p, written = p[k:], k
	}
	if len(p) > 0 && w.buf == nil {
		w.pooled = buffers.Get().(*[]byte)
		w.buf = *w.pooled
	}
	for len(p) > 0 {
		k := copy(w.buf[w.n:], p)
		w.n += k
		p = p[k:]
		written += k
		if w.n == len(w.buf) {
			if err := w.flush(w.n); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// flush writes the first n bytes of the buffer, a multiple of Align, and
// keeps the rest at its start.
func (w *Writer) flush(n int) error {
	if n > 0 {
		if err := w.writeDirect(w.buf[:n]); err != nil {
			return err
		}
	}
	w.n = copy(w.buf, w.buf[n:w.n])
	return nil
}

// writeDirect writes p, aligned whole blocks, direct; a disk that wants
// another alignment (EINVAL) gets it, and the rest of the file, plain.
func (w *Writer) writeDirect(p []byte) error {
	n, err := w.file.Write(p)
	if err == nil || !errors.Is(err, unix.EINVAL) || !w.direct {
		return err
	}
	if err := w.buffered(); err != nil {
		return err
	}
	_, err = w.file.Write(p[n:])
	return err
}

// aligned tells whether p starts on an Align boundary.
func aligned(p []byte) bool { return uintptr(unsafe.Pointer(unsafe.SliceData(p)))%Align == 0 }

// buffered turns direct writes off for the rest of the file.
func (w *Writer) buffered() error {
	flags, err := unix.FcntlInt(w.file.Fd(), unix.F_GETFL, 0)
	if err == nil {
		_, err = unix.FcntlInt(w.file.Fd(), unix.F_SETFL, flags&^unix.O_DIRECT)
	}
	w.direct = false
	return err
}

// Finish writes what the buffer holds: its aligned part direct, the tail
// plain (a direct write takes whole blocks only). The Writer is then a
// plain writer and its buffer goes back to the pool.
func (w *Writer) Finish() error {
	defer w.release()
	tail := 0
	if w.direct {
		tail = w.n % Align
	}
	if err := w.flush(w.n - tail); err != nil {
		return err
	}
	// Plain from here, as promised, whether a tail is left or not: a
	// write after Finish of a length not a whole block would fail.
	if w.direct {
		if err := w.buffered(); err != nil {
			return err
		}
	}
	if tail == 0 {
		return nil
	}
	_, err := w.file.Write(w.buf[:tail])
	return err
}

// Discard gives the buffer back without writing what it holds, for a
// write that failed; the caller closes the file.
func (w *Writer) Discard() { w.release() }

func (w *Writer) release() {
	if w.pooled != nil {
		buffers.Put(w.pooled)
	}
	w.pooled, w.buf, w.n = nil, nil, 0
	w.direct = false
}

// buffers holds aligned buffers: fresh memory costs its first touch each
// time (DESIGN.md §7).
var buffers = sync.Pool{New: func() any {
	raw := make([]byte, bufferSize+Align)
	skip := (Align - int(uintptr(unsafe.Pointer(unsafe.SliceData(raw)))%Align)) % Align
	buf := raw[skip : skip+bufferSize]
	return &buf
}}
