package formats

import (
	"io"
	"sync"
)

// copyBufferSize is the size of the pooled copy buffers: large enough that
// a copy costs few calls, small enough to stay in cache.
const copyBufferSize = 256 << 10

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}

func getBuffer() *[]byte  { return copyBuffers.Get().(*[]byte) }
func putBuffer(b *[]byte) { copyBuffers.Put(b) }

// copyPooled copies src to dst through a pooled buffer. The wrappers hide
// any WriterTo or ReaderFrom of dst and src, which could call back into the
// caller's own pooled copy.
func copyPooled(dst io.Writer, src io.Reader) (int64, error) {
	b := getBuffer()
	defer putBuffer(b)
	return io.CopyBuffer(writerOnly{dst}, readerOnly{src}, *b)
}

// copyPooledN copies exactly n bytes, or fails with io.ErrUnexpectedEOF.
func copyPooledN(dst io.Writer, src io.Reader, n int64) (int64, error) {
	written, err := copyPooled(dst, io.LimitReader(src, n))
	if err == nil && written < n {
		err = io.ErrUnexpectedEOF
	}
	return written, err
}

type writerOnly struct{ io.Writer }

type readerOnly struct{ io.Reader }
