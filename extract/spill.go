package extract

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/aisgo/aisgo/internal/pathsafe"
)

// spillFile is one append-only file of contents past the budget. One
// worker writes it at a time; readers use ReadAt after Flush.
type spillFile struct {
	index  int32
	file   *os.File
	writer *bufio.Writer
	size   int64
}

func createSpill(dir string, index int32) (*spillFile, error) {
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("spill-%03d.bin", index)))
	if err != nil {
		return nil, fmt.Errorf("create spill file: %w", err)
	}
	return &spillFile{index: index, file: f, writer: bufio.NewWriterSize(f, 1<<20)}, nil
}

// spillReserve is the part of the work directory's filesystem spills
// leave free: a shard claiming a huge file (a small tgz of zeros) must not
// fill the disk the node's other state is on.
const spillReserve = 5 // percent

// spilling is, per filesystem (its fsid), the bytes appends to spill
// files have yet to write, every job's: each append's check of the room
// left counts the others' (the disk's free space does not show them yet).
var spilling sync.Map // filesystem -> *atomic.Int64

// filesystem names one: by its fsid, or its device when the fsid is 0
// (FUSE, older tmpfs), which would make them all one.
type filesystem struct {
	fsid [2]int32
	dev  uint64
}

func filesystemOf(f *os.File, st syscall.Statfs_t) filesystem {
	if st.Fsid.X__val != [2]int32{} {
		return filesystem{fsid: st.Fsid.X__val}
	}
	var stat syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &stat); err != nil {
		return filesystem{}
	}
	return filesystem{dev: stat.Dev}
}

// reservation is an append's bytes not written yet.
type reservation struct {
	onDisk *atomic.Int64
	left   int64
}

// wrote counts n bytes written: the disk's free space shows them now.
func (r *reservation) wrote(n int64) {
	n = min(n, r.left)
	r.left -= n
	r.onDisk.Add(-n)
}

// done gives back what was not written.
func (r *reservation) done() { r.wrote(r.left) }

// room takes n bytes of the spill's filesystem for an append, or refuses
// them when they would leave it less than spillReserve free.
func (s *spillFile) room(n int64) (*reservation, error) {
	var st syscall.Statfs_t
	if err := syscall.Fstatfs(int(s.file.Fd()), &st); err != nil {
		return &reservation{onDisk: new(atomic.Int64)}, nil // a full disk still fails the write
	}
	counter, _ := spilling.LoadOrStore(filesystemOf(s.file, st), new(atomic.Int64))
	onDisk := counter.(*atomic.Int64)
	total, free := int64(st.Blocks)*st.Bsize, int64(st.Bavail)*st.Bsize
	taken := onDisk.Add(n)
	if free-int64(s.writer.Buffered())-taken < total*spillReserve/100 {
		onDisk.Add(-n)
		return nil, fmt.Errorf("%w: spilling %d bytes (with %d more being spilled) would leave the work directory's filesystem less than %d%% free (%d of %d bytes free)",
			ErrNoSpace, n, taken-n, spillReserve, free, total)
	}
	return &reservation{onDisk: onDisk, left: n}, nil
}

// countedReader tells a reservation of the bytes read through it, which
// are written next.
type countedReader struct {
	r   io.Reader
	res *reservation
}

func (c countedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.res.wrote(int64(n))
	return n, err
}

// ErrNoSpace: the work directory has no room for a spill.
var ErrNoSpace = errors.New("extract: no space to spill")

// append copies n bytes from r and returns their offset.
func (s *spillFile) append(r io.Reader, n int64, buf []byte) (int64, error) {
	res, err := s.room(n)
	if err != nil {
		return 0, err
	}
	defer res.done()
	off := s.size
	written, err := io.CopyBuffer(s.writer, countedReader{io.LimitReader(r, n), res}, buf)
	s.size += written
	if err == nil && written != n {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return 0, err
	}
	return off, nil
}

// Spills are the spill files of one extraction.
type Spills struct {
	files []*spillFile
	dirs  []string
}

// ReaderAt returns spill file i for reading.
func (s *Spills) ReaderAt(i int32) io.ReaderAt { return s.files[i].file }

// Bytes returns the bytes spilled.
func (s *Spills) Bytes() int64 {
	var n int64
	for _, f := range s.files {
		n += f.size
	}
	return n
}

// Close closes and removes the spill files.
func (s *Spills) Close() error {
	for _, f := range s.files {
		f.file.Close()
	}
	var first error
	for _, dir := range s.dirs {
		if err := pathsafe.RemoveAll(filepath.Dir(dir), dir); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (s *Spills) flush() error {
	for _, f := range s.files {
		if err := f.writer.Flush(); err != nil {
			return fmt.Errorf("spill file: %w", err)
		}
	}
	return nil
}
