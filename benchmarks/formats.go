package benchmarks

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"github.com/pierrec/lz4/v4"

	"github.com/aisgo/aisgo/formats"
)

// FormatsOptions configures the formats suite.
type FormatsOptions struct {
	// Dir holds the shard files; empty means a temporary directory,
	// removed at the end.
	Dir string
	// TotalBytes is the payload of each measured shard; 0 means 1 GiB.
	TotalBytes int64
	// RecordSize is the size of each record's main file; 0 means 100 KiB.
	RecordSize int64
}

func (o FormatsOptions) withDefaults() FormatsOptions {
	if o.TotalBytes == 0 {
		o.TotalBytes = 1 << 30
	}
	if o.RecordSize == 0 {
		o.RecordSize = 100 << 10
	}
	return o
}

// payloadPool bounds the distinct random bytes the suite keeps in memory;
// records are consecutive slices of it, so a byte repeats only after the
// whole pool, beyond every compressor's window (gzip 32 KiB, lz4 64 KiB,
// zstd 8 MiB).
const payloadPool = 64 << 20

// payload is the suite's dataset: records of a random main file (like a
// JPEG) and a short label, generated once.
type payload struct {
	pool       []byte
	recordSize int64
	records    int64
}

func newPayload(total, recordSize int64) *payload {
	pool := make([]byte, min(payloadPool, max(total, recordSize)+recordSize))
	var seed [32]byte
	copy(seed[:], "aisgo formats benchmark")
	rand.NewChaCha8(seed).Read(pool)
	return &payload{pool: pool, recordSize: recordSize, records: max(1, (total+recordSize-1)/recordSize)}
}

// main returns record i's main file.
func (p *payload) main(i int64) []byte {
	off := (i * p.recordSize) % (int64(len(p.pool)) - p.recordSize + 1)
	return p.pool[off : off+p.recordSize]
}

// label returns record i's label file.
func (p *payload) label(i int64) []byte { return fmt.Appendf(nil, "%d", i%1000) }

// bytes is the payload size: every file of every record.
func (p *payload) bytes() int64 {
	var n int64
	for i := range p.records {
		n += p.recordSize + int64(len(p.label(i)))
	}
	return n
}

// Read streams the payload as one byte stream, for io.Copy and the raw
// codecs.
func (p *payload) reader() io.Reader {
	return &payloadReader{p: p}
}

type payloadReader struct {
	p       *payload
	i       int64
	current []byte
}

func (r *payloadReader) Read(b []byte) (int, error) {
	for len(r.current) == 0 {
		if r.i >= 2*r.p.records {
			return 0, io.EOF
		}
		if r.i%2 == 0 {
			r.current = r.p.main(r.i / 2)
		} else {
			r.current = r.p.label(r.i / 2)
		}
		r.i++
	}
	n := copy(b, r.current)
	r.current = r.current[n:]
	return n, nil
}

// Formats measures every shard format writing and reading a shard file of
// opts.TotalBytes, beside a plain io.Copy of the same bytes to and from a
// file ("io.Copy", "io.Copy read") and, for the compressed formats, the raw
// codec compressing and decompressing the same bytes. Files are not synced:
// the figures are the codecs' cost over the page cache, not the disk's.
func Formats(ctx context.Context, opts FormatsOptions) ([]Result, error) {
	opts = opts.withDefaults()
	dir := opts.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "aisgo-bench-formats-")
		if err != nil {
			return nil, fmt.Errorf("formats benchmark: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	p := newPayload(opts.TotalBytes, opts.RecordSize)
	total := p.bytes()
	ops := 2 * p.records
	var results []Result
	var peak int64 // of the last timed step
	add := func(name, baseline string, elapsed time.Duration, note string) {
		results = append(results, Result{Suite: "formats", Name: name, Bytes: total, Ops: ops,
			Elapsed: elapsed, Baseline: baseline, PeakRSS: peak, Note: note})
	}

	plain := filepath.Join(dir, "payload.bin")
	elapsed, err := timed(&peak, func() error { return copyToFile(plain, p.reader()) })
	if err != nil {
		return nil, err
	}
	add("io.Copy", "", elapsed, "payload bytes to a file")
	elapsed, err = timed(&peak, func() error { return readFile(plain) })
	if err != nil {
		return nil, err
	}
	add("io.Copy read", "", elapsed, "the same file to io.Discard")
	os.Remove(plain)

	for _, f := range formats.Default().Formats() {
		if err := ctx.Err(); err != nil {
			return results, err
		}
		shard := filepath.Join(dir, "shard"+f.Extensions()[0])
		elapsed, err := timed(&peak, func() error { return writeShard(ctx, f, shard, p) })
		if err != nil {
			return results, fmt.Errorf("formats benchmark: write %s: %w", f.Name(), err)
		}
		size := fileSize(shard)
		add(f.Name()+" write", "io.Copy", elapsed, fmt.Sprintf("shard %d bytes (%.3f of payload)", size, float64(size)/float64(total)))
		elapsed, err = timed(&peak, func() error { return readShard(ctx, f, shard, total) })
		if err != nil {
			return results, fmt.Errorf("formats benchmark: read %s: %w", f.Name(), err)
		}
		add(f.Name()+" read", "io.Copy read", elapsed, "every entry to io.Discard")
		os.Remove(shard)
	}

	for _, c := range codecs() {
		if err := ctx.Err(); err != nil {
			return results, err
		}
		file := filepath.Join(dir, "payload"+c.ext)
		elapsed, err := timed(&peak, func() error { return compressFile(file, p.reader(), c.compress) })
		if err != nil {
			return results, fmt.Errorf("formats benchmark: %s: %w", c.name, err)
		}
		add(c.name+" compress", "io.Copy", elapsed, fmt.Sprintf("payload alone, %d bytes out", fileSize(file)))
		elapsed, err = timed(&peak, func() error { return decompressFile(file, total, c.decompress) })
		if err != nil {
			return results, fmt.Errorf("formats benchmark: %s: %w", c.name, err)
		}
		add(c.name+" decompress", "io.Copy read", elapsed, "payload alone")
		os.Remove(file)
	}
	return results, nil
}

// timed runs f and returns how long it took, with this process's peak
// RSS while it ran in *peak.
func timed(peak *int64, f func() error) (time.Duration, error) {
	selfPeak{}.reset()
	start := time.Now()
	err := f()
	elapsed := time.Since(start)
	*peak, _ = selfPeak{}.peak()
	return elapsed, err
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

func copyToFile(path string, r io.Reader) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}

// writeShard writes the payload as a shard: per record a ".jpg" and a
// ".cls" entry.
func writeShard(ctx context.Context, f formats.Format, path string, p *payload) error {
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	defer file.Close()
	w, err := f.NewWriter(file)
	if err != nil {
		return err
	}
	for i := range p.records {
		if err := ctx.Err(); err != nil {
			w.Close()
			return err
		}
		for _, entry := range []struct {
			ext  string
			data []byte
		}{{".jpg", p.main(i)}, {".cls", p.label(i)}} {
			name := fmt.Sprintf("sample-%08d%s", i, entry.ext)
			if err := w.WriteHeader(&formats.Entry{Name: name, Size: int64(len(entry.data))}); err != nil {
				w.Close()
				return err
			}
			if _, err := w.Write(entry.data); err != nil {
				w.Close()
				return err
			}
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	return file.Close()
}

// readShard reads every entry of a shard and checks the payload size.
func readShard(ctx context.Context, f formats.Format, path string, want int64) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return err
	}
	r, err := f.NewReader(file, fi.Size(), path)
	if err != nil {
		return err
	}
	var got int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := r.Next(); err == io.EOF {
			break
		} else if err != nil {
			return err
		}
		n, err := io.Copy(io.Discard, r)
		if err != nil {
			return err
		}
		got += n
	}
	if got != want {
		return fmt.Errorf("read %d payload bytes, wrote %d", got, want)
	}
	return nil
}

// codec is a raw stream compressor, set up as package formats sets it up.
type codec struct {
	name, ext  string
	compress   func(io.Writer) (io.WriteCloser, error)
	decompress func(io.Reader) (io.Reader, error)
}

func codecs() []codec {
	return []codec{
		{
			name: "gzip", ext: ".gz",
			compress: func(w io.Writer) (io.WriteCloser, error) {
				z, err := pgzip.NewWriterLevel(w, pgzip.BestSpeed)
				if err == nil {
					err = z.SetConcurrency(1<<20, 4)
				}
				return z, err
			},
			decompress: func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) },
		},
		{
			name: "lz4", ext: ".lz4",
			compress: func(w io.Writer) (io.WriteCloser, error) {
				z := lz4.NewWriter(w)
				return z, z.Apply(lz4.BlockSizeOption(lz4.Block4Mb), lz4.ChecksumOption(true), lz4.CompressionLevelOption(lz4.Fast))
			},
			decompress: func(r io.Reader) (io.Reader, error) { return lz4.NewReader(r), nil },
		},
		{
			name: "zstd", ext: ".zst",
			compress: func(w io.Writer) (io.WriteCloser, error) {
				return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
			},
			decompress: func(r io.Reader) (io.Reader, error) {
				d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
				if err != nil {
					return nil, err
				}
				return d.IOReadCloser(), nil
			},
		},
	}
}

func compressFile(path string, r io.Reader, compress func(io.Writer) (io.WriteCloser, error)) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	z, err := compress(f)
	if err != nil {
		return err
	}
	if _, err := io.Copy(z, r); err != nil {
		z.Close()
		return err
	}
	if err := z.Close(); err != nil {
		return err
	}
	return f.Close()
}

func decompressFile(path string, want int64, decompress func(io.Reader) (io.Reader, error)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	z, err := decompress(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, z)
	if c, ok := z.(io.Closer); ok {
		c.Close()
	}
	if err == nil && n != want {
		err = fmt.Errorf("decompressed %d bytes, want %d", n, want)
	}
	return err
}
