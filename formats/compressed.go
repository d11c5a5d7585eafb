package formats

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"github.com/pierrec/lz4/v4"
)

// TarGzip is gzip-compressed tar (".tgz", ".tar.gz"), written by pgzip at
// level 1 in parallel 1 MiB blocks.
type TarGzip struct{}

// TarLZ4 is tar in an LZ4 frame (".tar.lz4"), 4 MiB blocks, fast level,
// content checksum.
type TarLZ4 struct{}

// TarZstd is tar in a Zstandard frame (".tar.zst"), zstd's default level.
type TarZstd struct{}

var (
	_ Format = TarGzip{}
	_ Format = TarLZ4{}
	_ Format = TarZstd{}
)

func (TarGzip) Name() string         { return "tgz" }
func (TarGzip) Extensions() []string { return []string{".tgz", ".tar.gz"} }
func (TarGzip) Offsets() bool        { return false }
func (TarGzip) Match(head []byte) bool {
	return bytes.HasPrefix(head, []byte{0x1f, 0x8b})
}

func (TarLZ4) Name() string         { return "tar.lz4" }
func (TarLZ4) Extensions() []string { return []string{".tar.lz4"} }
func (TarLZ4) Offsets() bool        { return false }
func (TarLZ4) Match(head []byte) bool {
	return bytes.HasPrefix(head, []byte{0x04, 0x22, 0x4d, 0x18})
}

func (TarZstd) Name() string         { return "tar.zst" }
func (TarZstd) Extensions() []string { return []string{".tar.zst"} }
func (TarZstd) Offsets() bool        { return false }
func (TarZstd) Match(head []byte) bool {
	return bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd})
}

var errEmptyStream = errors.New("empty compressed stream")

// maxZstdWindow bounds the memory a zstd stream may ask for; 128 MiB is the
// zstd command's own default limit (zstd --long=27 needs exactly that).
const maxZstdWindow = 128 << 20

// Decoders and encoders are pooled per shard: each costs megabytes.
var (
	gzipReaders  sync.Pool // *gzip.Reader
	lz4Readers   sync.Pool // *lz4.Reader
	zstdDecoders sync.Pool // *zstd.Decoder
	lz4Writers   sync.Pool // *lz4.Writer
	zstdEncoders sync.Pool // *zstd.Encoder
)

// decompressor opens a decompressed stream over r and returns it with a
// function that gives the decoder back to its pool.
type decompressor func(r *bufio.Reader) (io.Reader, func(), error)

func (TarGzip) NewReader(r io.ReaderAt, size int64, shard string) (Reader, error) {
	return newCompressedReader(r, size, shard, func(br *bufio.Reader) (io.Reader, func(), error) {
		z, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if z == nil {
			z, err = gzip.NewReader(br)
		} else {
			err = z.Reset(br)
		}
		if err != nil {
			return nil, func() {}, fmt.Errorf("gzip: %w", err)
		}
		z.Multistream(false)
		return &gzipMembers{z: z, br: br}, func() { gzipReaders.Put(z) }, nil
	})
}

// gzipMembers reads a gzip stream's members one after another, looking
// at what follows each before reading it as a header: zeros padding the
// stream (dd conv=sync) end it, for finishGzip to check, rather than
// fail as a member's header. (gzip.Reader's own multistream mode reads
// the next header as the last member's bytes come, and keeps the error.)
type gzipMembers struct {
	z    *gzip.Reader
	br   *bufio.Reader
	done bool
}

func (g *gzipMembers) Read(p []byte) (int, error) {
	for !g.done {
		n, err := g.z.Read(p)
		if err != io.EOF {
			return n, err
		}
		// A member ended, its checksum checked: another follows, or the
		// stream ends.
		if magic, _ := g.br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
			if err := g.z.Reset(g.br); err != nil {
				return n, fmt.Errorf("gzip: %w", err)
			}
			g.z.Multistream(false)
		} else {
			g.done = true
		}
		if n > 0 {
			return n, nil
		}
	}
	return 0, io.EOF
}

func (TarLZ4) NewReader(r io.ReaderAt, size int64, shard string) (Reader, error) {
	return newCompressedReader(r, size, shard, func(br *bufio.Reader) (io.Reader, func(), error) {
		z, _ := lz4Readers.Get().(*lz4.Reader)
		if z == nil {
			z = lz4.NewReader(br)
		} else {
			z.Reset(br)
		}
		return z, func() { z.Reset(nil); lz4Readers.Put(z) }, nil
	})
}

func (TarZstd) NewReader(r io.ReaderAt, size int64, shard string) (Reader, error) {
	return newCompressedReader(r, size, shard, func(br *bufio.Reader) (io.Reader, func(), error) {
		d, _ := zstdDecoders.Get().(*zstd.Decoder)
		var err error
		if d == nil {
			d, err = zstd.NewReader(br,
				zstd.WithDecoderConcurrency(1), // decode in the caller's goroutine
				zstd.WithDecoderMaxWindow(maxZstdWindow),
				zstd.WithDecoderMaxMemory(maxZstdWindow))
			if err != nil {
				return nil, func() {}, fmt.Errorf("zstd: %w", err)
			}
		} else if err = d.Reset(br); err != nil {
			return nil, func() {}, fmt.Errorf("zstd: %w", err)
		}
		return d, func() { _ = d.Reset(nil); zstdDecoders.Put(d) }, nil
	})
}

// finishGzip reads the rest of a gzip stream after the tar end marker:
// each member to its end (its checksum checked), and past the last one
// only zeros, which tools pad with (tape blocking, dd conv=sync) and
// gzip and Python's tarfile ignore.
func finishGzip(z *gzip.Reader, br *bufio.Reader) error {
	for {
		z.Multistream(false)
		if _, err := copyPooled(io.Discard, z); err != nil {
			return err
		}
		magic, err := br.Peek(2)
		if err == io.EOF && len(magic) == 0 {
			return nil
		}
		if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
			if err := z.Reset(br); err != nil {
				return fmt.Errorf("gzip: %w", err)
			}
			continue
		}
		// Not another member: zeros only, to the end.
		for {
			b, err := br.ReadByte()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if b != 0 {
				return fmt.Errorf("gzip: %w: bytes after the last member that are neither a member nor padding", ErrCorrupt)
			}
		}
	}
}

// newCompressedReader reads a tar stream through a decompressor, with a
// pooled read-ahead buffer beneath it.
func newCompressedReader(r io.ReaderAt, size int64, shard string, open decompressor) (Reader, error) {
	if size < 0 {
		return nil, fmt.Errorf("formats: shard %q: negative size %d", shard, size)
	}
	if size == 0 {
		return nil, &HeaderError{Shard: shard, Offset: 0, Err: errEmptyStream}
	}
	storage := &failureReader{r: io.NewSectionReader(r, 0, size)}
	br := bufioReaders.Get().(*bufio.Reader)
	br.Reset(storage)
	releaseBuffer := func() { br.Reset(nil); bufioReaders.Put(br) }
	stream, releaseDecoder, err := open(br)
	if err != nil {
		releaseBuffer()
		if storage.err != nil {
			return nil, fmt.Errorf("formats: read shard %q: %w", shard, storage.err)
		}
		return nil, &HeaderError{Shard: shard, Offset: 0, Err: err}
	}
	limited := &expansionLimit{r: stream, left: min(size, math.MaxInt64/maxExpansion-expansionSlack)*maxExpansion + expansionSlack}
	counter := &countingReader{r: limited}
	return &tarReader{
		shard:   shard,
		tr:      tar.NewReader(counter),
		src:     counter,
		size:    -1,
		failure: func() error { return storage.err },
		// The tar end marker may come before the end of the compressed
		// stream: read the rest, so that its checksum is verified.
		finish: func() error {
			if g, ok := stream.(*gzipMembers); ok {
				return finishGzip(g.z, br) // deflate expands 1032 times at most
			}
			_, err := copyPooled(io.Discard, limited)
			return err
		},
		release: func() { releaseDecoder(); releaseBuffer() },
	}, nil
}

// maxExpansion bounds what a compressed shard decompresses to, as a
// multiple of its size (plus expansionSlack): zstd's runs make 32,768 (a
// 1 MiB shard of 32 GiB, spilled to disk by an extraction, read whole by
// an estimate). Real data (blank masks, padded tensors) reaches a few
// thousand: a shard of up to 1 GiB decompresses at any ratio, a bigger
// one at up to 4096.
const maxExpansion = 4096

// expansionSlack is what any shard may decompress to beyond the ratio (a
// variable for the tests).
var expansionSlack int64 = 1 << 30

// expansionLimit fails a decompressed stream past its bound.
type expansionLimit struct {
	r    io.Reader
	left int64
}

func (l *expansionLimit) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, fmt.Errorf("%w: the shard decompresses to more than %d times its size (a compression bomb?)", ErrCorrupt, maxExpansion)
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

func (TarGzip) NewWriter(w io.Writer) (Writer, error) {
	z, err := pgzip.NewWriterLevel(w, pgzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	// Fixed block size and count: the output depends on the block size
	// only, the memory on both, and neither on the machine.
	if err := z.SetConcurrency(1<<20, 4); err != nil {
		return nil, err
	}
	z.ModTime = time.Unix(0, 0) // no timestamp
	return newTarWriter(z, func(abort bool) error {
		if abort {
			z.Reset(io.Discard) // stops pgzip's goroutines, writing nothing
			return nil
		}
		err := z.Close()
		if err != nil {
			z.Reset(io.Discard) // stops pgzip's goroutines after a failure
		}
		return err
	}), nil
}

func (TarLZ4) NewWriter(w io.Writer) (Writer, error) {
	z, _ := lz4Writers.Get().(*lz4.Writer)
	if z == nil {
		z = lz4.NewWriter(w)
		err := z.Apply(
			lz4.BlockSizeOption(lz4.Block4Mb),
			lz4.ChecksumOption(true),
			lz4.CompressionLevelOption(lz4.Fast),
			lz4.ConcurrencyOption(1))
		if err != nil {
			return nil, err
		}
	} else {
		z.Reset(w)
	}
	return newTarWriter(z, func(abort bool) error {
		var err error
		if !abort {
			err = z.Close()
		}
		z.Reset(nil)
		lz4Writers.Put(z)
		return err
	}), nil
}

func (TarZstd) NewWriter(w io.Writer) (Writer, error) {
	z, _ := zstdEncoders.Get().(*zstd.Encoder)
	if z == nil {
		var err error
		z, err = zstd.NewWriter(w,
			zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithEncoderConcurrency(1), // deterministic on any machine
			zstd.WithEncoderCRC(true))
		if err != nil {
			return nil, err
		}
	} else {
		z.Reset(w)
	}
	return newTarWriter(z, func(abort bool) error {
		var err error
		if !abort {
			err = z.Close()
		}
		z.Reset(nil)
		zstdEncoders.Put(z)
		return err
	}), nil
}

// CheckEntry refuses the names a tar header cannot carry (see Tar).
func (TarGzip) CheckEntry(name string, _ int64) error { return checkTarName(name) }

// CheckEntry refuses the names a tar header cannot carry (see Tar).
func (TarLZ4) CheckEntry(name string, _ int64) error { return checkTarName(name) }

// CheckEntry refuses the names a tar header cannot carry (see Tar).
func (TarZstd) CheckEntry(name string, _ int64) error { return checkTarName(name) }
