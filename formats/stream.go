package formats

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Fill sizes of shardReader: a read after a seek fetches minFill bytes (a
// page: the next header and, for small entries, a few more); each further
// fill without a seek doubles, up to maxFill.
const (
	minFill = 4 << 10
	maxFill = 64 << 10
)

var fillBuffers = sync.Pool{New: func() any { b := make([]byte, maxFill); return &b }}

// shardReader reads a shard through an io.ReaderAt as a seekable stream
// with a pooled read-ahead buffer. Seeking only moves the position, so
// archive/tar's skipping of unread data costs nothing; reads of a buffer's
// size or more go straight to the ReaderAt. It remembers the first error of
// the ReaderAt other than io.EOF, to tell I/O failures from corruption.
type shardReader struct {
	zeroWatch
	r       io.ReaderAt
	size    int64
	pos     int64   // position of the next Read
	buf     *[]byte // pooled, nil before the first fill and after release
	bufFrom int64   // shard offset of (*buf)[0]
	bufLen  int     // valid bytes in buf
	fill    int     // size of the next fill
	ioErr   error
}

func newShardReader(r io.ReaderAt, size int64) *shardReader {
	return &shardReader{r: r, size: size, fill: minFill}
}

func (s *shardReader) position() int64 { return s.pos }

func (s *shardReader) failure() error { return s.ioErr }

func (s *shardReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if s.pos >= s.size {
		return 0, io.EOF
	}
	if s.buf != nil && s.pos >= s.bufFrom && s.pos < s.bufFrom+int64(s.bufLen) {
		n := copy(p, (*s.buf)[s.pos-s.bufFrom:s.bufLen])
		s.pos += int64(n)
		s.saw(p[:n], s.pos)
		return n, nil
	}
	want := int(min(int64(len(p)), s.size-s.pos))
	if want >= maxFill {
		n, err := s.readAt(p[:want], s.pos)
		s.pos += int64(n)
		s.saw(p[:n], s.pos)
		return n, err
	}
	if s.buf == nil {
		s.buf = fillBuffers.Get().(*[]byte)
	}
	fill := int(min(int64(s.fill), s.size-s.pos))
	n, err := s.readAt((*s.buf)[:fill], s.pos)
	s.bufFrom, s.bufLen = s.pos, n
	s.fill = min(2*s.fill, maxFill)
	if n == 0 {
		return 0, err
	}
	n = copy(p, (*s.buf)[:n])
	s.pos += int64(n)
	s.saw(p[:n], s.pos)
	return n, nil
}

// block reads the 512 bytes at off into dst: from the fill buffer, where
// a header archive/tar just read is, else from the shard.
func (s *shardReader) block(off int64, dst *[blockSize]byte) error {
	if s.buf != nil && off >= s.bufFrom && off+blockSize <= s.bufFrom+int64(s.bufLen) {
		copy(dst[:], (*s.buf)[off-s.bufFrom:])
		return nil
	}
	_, err := s.readAt(dst[:], off)
	return err
}

// readAt reads from the ReaderAt, recording a real failure. A short read at
// the declared end of the shard is io.EOF, which the archive reader turns
// into io.ErrUnexpectedEOF; one before it is the object shorter than its
// size (a file cut by a crash, a backend's short answer): corrupt, not
// an end (at a header's start, archive/tar would take it for one).
func (s *shardReader) readAt(p []byte, off int64) (int, error) {
	n, err := s.r.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) && s.ioErr == nil {
		s.ioErr = err
	}
	if n == len(p) {
		return n, nil
	}
	if end := off + int64(n); end < s.size && (err == nil || errors.Is(err, io.EOF)) {
		// A cut shard, as one cut inside an entry is: corrupt.
		return n, fmt.Errorf("%w: the shard's bytes end at %d, before its size %d", io.ErrUnexpectedEOF, end, s.size)
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Seek moves the position; archive/tar uses it to skip data.
func (s *shardReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += s.pos
	case io.SeekEnd:
		offset += s.size
	default:
		return 0, errors.New("formats: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("formats: negative position")
	}
	if s.buf == nil || offset < s.bufFrom || offset >= s.bufFrom+int64(s.bufLen) {
		s.fill = minFill
	}
	s.pos = offset
	return offset, nil
}

// release returns the buffer to the pool.
func (s *shardReader) release() {
	if s.buf != nil {
		fillBuffers.Put(s.buf)
		s.buf, s.bufLen = nil, 0
	}
}

// failureReader records the first error of a reader other than io.EOF.
type failureReader struct {
	r   io.Reader
	err error
}

func (f *failureReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err != nil && err != io.EOF && f.err == nil {
		f.err = err
	}
	return n, err
}

// countingReader counts the bytes read through it.
type countingReader struct {
	zeroWatch
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.saw(p[:n], c.n)
	return n, err
}

// zeroWatch keeps, while on, the position just past the last byte read
// after from that is not zero: a tar stream that ends inside a header (a
// PAX or long-name one, read within archive/tar's Next) from one that
// ends with its zero blocks. What lies before from (an entry's data
// archive/tar skips by reading it) is not looked at.
type zeroWatch struct {
	watching bool
	from     int64
	last     int64
}

func (z *zeroWatch) watch(on bool, from int64) { z.watching, z.from = on, from }
func (z *zeroWatch) lastNonzero() int64        { return z.last }

// saw notes p, read up to position end.
func (z *zeroWatch) saw(p []byte, end int64) {
	if !z.watching || end <= z.from {
		return
	}
	start := max(0, len(p)-int(end-z.from))
	for i := len(p) - 1; i >= start; i-- {
		if p[i] != 0 {
			z.last = end - int64(len(p)-1-i)
			return
		}
	}
}

func (c *countingReader) position() int64 { return c.n }

var bufioReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, maxFill) }}

// writeBuffer is the buffer of a shard being written: every flush is a
// write to the shard's file and a pass of its checksum, and 256 KiB made a
// 3-target dSort of 1 GiB about 8% faster than 64 KiB.
const writeBuffer = 256 << 10

var bufioWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writeBuffer) }}
