package writebehind

import (
	"os"

	"golang.org/x/sys/unix"
)

// Chunk is how much is written before its writeback starts.
const Chunk = 8 << 20

// Writer writes to a file and starts the writeback of each Chunk as soon
// as it is written (sync_file_range, asynchronous). It does not make the
// data durable: the caller still syncs the file.
type Writer struct {
	file    *os.File
	written int64
	flushed int64
}

// New writes to f from its current offset, taken as zero.
func New(f *os.File) *Writer { return &Writer{file: f} }

func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.file.Write(p)
	w.written += int64(n)
	if w.written-w.flushed >= Chunk {
		// Best effort: the caller's sync makes the data durable.
		unix.SyncFileRange(int(w.file.Fd()), w.flushed, w.written-w.flushed, unix.SYNC_FILE_RANGE_WRITE)
		w.flushed = w.written
	}
	return n, err
}
