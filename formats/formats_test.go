package formats_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aisgo/aisgo/formats"
)

// file is an entry with its data, as tests write and read them.
type file struct {
	Name string
	Data []byte
}

func (f file) String() string { return fmt.Sprintf("%s (%d bytes)", f.Name, len(f.Data)) }

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// sampleFiles covers short and long names (USTAR split, PAX), non-ASCII,
// empty files, block-sized and odd sizes, compressible and random data.
func sampleFiles() []file {
	return []file{
		{"sample-0000.jpg", randomBytes(1, 100<<10)},
		{"sample-0000.cls", []byte("7\n")},
		{"sample-0000.json", []byte(`{"label":7}`)},
		{"empty.txt", nil},
		{"block.bin", randomBytes(2, 512)},
		{"text/lorem.txt", bytes.Repeat([]byte("lorem ipsum dolor sit amet "), 1000)},
		{strings.Repeat("d", 90) + "/" + strings.Repeat("n", 90) + ".jpg", randomBytes(3, 1000)}, // USTAR prefix
		{strings.Repeat("very-long-segment/", 20) + "x.cls", []byte("3\n")},                      // PAX path
		{"données/été.txt", []byte("unicode")},                                                   // PAX, non-ASCII
		{"a/b/c/d/e.bin", randomBytes(4, 70001)},
	}
}

// allFormats lists every format of the default registry.
func allFormats() []formats.Format { return formats.Default().Formats() }

// writeShard encodes files with f, writing data in chunks of chunk bytes
// (0: one Write per file; -1: io.Copy, which uses the writer's ReadFrom).
func writeShard(t testing.TB, f formats.Format, files []file, chunk int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := f.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, fl := range files {
		if err := w.WriteHeader(&formats.Entry{Name: fl.Name, Size: int64(len(fl.Data))}); err != nil {
			t.Fatalf("%s: WriteHeader(%s): %v", f.Name(), fl, err)
		}
		if chunk < 0 { // through io.Copy from a reader without WriteTo: ReadFrom
			if n, err := io.Copy(w, struct{ io.Reader }{bytes.NewReader(fl.Data)}); err != nil || n != int64(len(fl.Data)) {
				t.Fatalf("%s: io.Copy(%s) = %d, %v", f.Name(), fl, n, err)
			}
			continue
		}
		data := fl.Data
		for len(data) > 0 {
			n := len(data)
			if chunk > 0 {
				n = min(n, chunk)
			}
			if _, err := w.Write(data[:n]); err != nil {
				t.Fatalf("%s: Write(%s): %v", f.Name(), fl, err)
			}
			data = data[n:]
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("%s: Close: %v", f.Name(), err)
	}
	return buf.Bytes()
}

// readShard decodes a whole shard.
func readShard(f formats.Format, data []byte) ([]file, []formats.Entry, error) {
	r, err := f.NewReader(bytes.NewReader(data), int64(len(data)), "test-shard")
	if err != nil {
		return nil, nil, err
	}
	var files []file
	var entries []formats.Entry
	for {
		e, err := r.Next()
		if err == io.EOF {
			return files, entries, nil
		}
		if err != nil {
			return files, entries, err
		}
		content, err := io.ReadAll(r)
		if err != nil {
			return files, entries, err
		}
		if int64(len(content)) != e.Size {
			return files, entries, fmt.Errorf("%s: read %d bytes, size %d", e.Name, len(content), e.Size)
		}
		files = append(files, file{e.Name, content})
		entries = append(entries, *e)
	}
}

func equalFiles(a, b []file) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(a[i].Data, b[i].Data) {
			return false
		}
	}
	return true
}

func TestRoundTrip(t *testing.T) {
	files := sampleFiles()
	for _, f := range allFormats() {
		t.Run(f.Name(), func(t *testing.T) {
			data := writeShard(t, f, files, 0)
			got, entries, err := readShard(f, data)
			if err != nil {
				t.Fatal(err)
			}
			if !equalFiles(got, files) {
				t.Fatalf("read back %v, want %v", got, files)
			}
			for _, e := range entries {
				if f.Offsets() != (e.HeaderOffset >= 0 && e.DataOffset >= 0) {
					t.Errorf("%s: offsets %d, %d with Offsets() = %v", e.Name, e.HeaderOffset, e.DataOffset, f.Offsets())
				}
				if !f.Offsets() && e.RawSize() != -1 {
					t.Errorf("%s: RawSize() = %d without offsets", e.Name, e.RawSize())
				}
			}
			if !f.Match(data) {
				t.Errorf("Match does not recognize a shard it wrote")
			}
			if d, ok := formats.Default().Detect(data); !ok || d.Name() != f.Name() {
				t.Errorf("Detect = %v, %v", d, ok)
			}
		})
	}
}

func TestEmptyArchive(t *testing.T) {
	for _, f := range allFormats() {
		data := writeShard(t, f, nil, 0)
		got, _, err := readShard(f, data)
		if err != nil || len(got) != 0 {
			t.Errorf("%s: empty archive read as %v, %v", f.Name(), got, err)
		}
	}
}

// A tar of no byte at all (an upload cut before it began) is no archive,
// as GNU tar and Python's tarfile say: refused naming it, not read as an
// empty shard whose records would silently be missing.
func TestTarOfNoBytesIsRefused(t *testing.T) {
	for _, f := range []formats.Format{formats.Tar{}, formats.TarGzip{}} {
		var data []byte
		if _, ok := f.(formats.TarGzip); ok {
			var buf bytes.Buffer
			gzip.NewWriter(&buf).Close()
			data = buf.Bytes()
		}
		if _, _, err := readShard(f, data); !errors.Is(err, formats.ErrCorrupt) || !strings.Contains(err.Error(), "0 bytes") {
			t.Errorf("%s of no byte: %v, want ErrCorrupt naming 0 bytes", f.Name(), err)
		}
	}
}

// TestDeterministic checks that the same entries give the same bytes, with
// writers used one after another (pooled encoders) and data written in
// different chunks.
func TestDeterministic(t *testing.T) {
	files := sampleFiles()
	for _, f := range allFormats() {
		t.Run(f.Name(), func(t *testing.T) {
			first := writeShard(t, f, files, 0)
			for _, chunk := range []int{-1, 1, 511, 4096, 1 << 20} {
				if again := writeShard(t, f, files, chunk); !bytes.Equal(first, again) {
					t.Fatalf("writing in %d-byte chunks gave different bytes", chunk)
				}
			}
			other := writeShard(t, f, []file{{"x", []byte("y")}}, 0)
			if bytes.Equal(first, other) {
				t.Fatal("different entries gave the same bytes")
			}
		})
	}
}

// TestTarOffsets checks HeaderOffset, DataOffset and RawSize against the
// bytes of the shard, and that copying every entry raw with WriteRaw
// rebuilds the same shard.
func TestTarOffsets(t *testing.T) {
	files := sampleFiles()
	data := writeShard(t, formats.Tar{}, files, 0)
	_, entries, err := readShard(formats.Tar{}, data)
	if err != nil {
		t.Fatal(err)
	}
	var next int64
	for i, e := range entries {
		if e.HeaderOffset != next {
			t.Errorf("%s: HeaderOffset %d, want %d", e.Name, e.HeaderOffset, next)
		}
		if !bytes.Equal(data[e.DataOffset:e.DataOffset+e.Size], files[i].Data) {
			t.Errorf("%s: data not at DataOffset %d", e.Name, e.DataOffset)
		}
		if e.RawSize()%512 != 0 || e.RawSize() < 512+e.Size {
			t.Errorf("%s: RawSize %d", e.Name, e.RawSize())
		}
		next = e.HeaderOffset + e.RawSize()
	}
	if int64(len(data)) != next+1024 {
		t.Errorf("entries end at %d, shard is %d bytes with a 1024-byte end marker", next, len(data))
	}

	for _, f := range []formats.Format{formats.Tar{}, formats.TarGzip{}, formats.TarZstd{}, formats.TarLZ4{}} {
		var out bytes.Buffer
		w, err := f.NewWriter(&out)
		if err != nil {
			t.Fatal(err)
		}
		raw, ok := w.(formats.RawWriter)
		if !ok {
			t.Fatalf("%s writer is not a RawWriter", f.Name())
		}
		for i, e := range entries {
			if i%2 == 0 && !e.Rewrite { // mix raw copies and ordinary entries
				if err := raw.WriteRaw(bytes.NewReader(data[e.HeaderOffset:]), e.RawSize()); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if err := w.WriteHeader(&formats.Entry{Name: e.Name, Size: e.Size}); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(files[i].Data); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if f.Name() == "tar" && !bytes.Equal(out.Bytes(), data) {
			t.Errorf("raw copies rebuilt a different tar")
		}
		got, _, err := readShard(f, out.Bytes())
		if err != nil || !equalFiles(got, files) {
			t.Errorf("%s: raw copies read back as %v, %v", f.Name(), got, err)
		}
	}
}

func TestWriteRawRejectsGarbage(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  []byte
		n    int64
	}{
		{"not a header", bytes.Repeat([]byte{'x'}, 1024), 1024},
		{"zero block", make([]byte, 512), 512},
		{"not whole blocks", make([]byte, 700), 700},
		{"short input", writeShard(t, formats.Tar{}, []file{{"a", []byte("b")}}, 0)[:512], 1024},
		// Sound headers a node must not pass on raw.
		{"a symbolic link", tarHeader(t, &tar.Header{Typeflag: tar.TypeSymlink, Name: "a.jpg", Linkname: "/etc/passwd"}), 512},
		{"a hard link", tarHeader(t, &tar.Header{Typeflag: tar.TypeLink, Name: "a.jpg", Linkname: "b.jpg"}), 512},
		{"a name that climbs out", tarHeader(t, &tar.Header{Typeflag: tar.TypeReg, Name: "../a.jpg", Size: 1}), 1024},
		{"an absolute name", tarHeader(t, &tar.Header{Typeflag: tar.TypeReg, Name: "/a.jpg", Size: 1}), 1024},
		{"a name that climbs out on Windows", tarHeader(t, &tar.Header{Typeflag: tar.TypeReg, Name: `..\..\a.jpg`, Size: 1}), 1024},
		{"an entry hidden behind a short size", append(tarHeader(t, &tar.Header{Typeflag: tar.TypeReg, Name: "a.jpg", Size: 1}), tarHeader(t, &tar.Header{Typeflag: tar.TypeReg, Name: "b.jpg", Size: 1})...), 2048},
		{"a size past the bytes", tarHeader(t, &tar.Header{Typeflag: tar.TypeReg, Name: "a.jpg", Size: 4096}), 1024},
		{"a PAX header", tarHeader(t, &tar.Header{Typeflag: tar.TypeReg, Name: strings.Repeat("n", 200), Size: 1}), 2048},
	} {
		w, _ := formats.Tar{}.NewWriter(io.Discard)
		if err := w.(formats.RawWriter).WriteRaw(bytes.NewReader(tc.raw), tc.n); err == nil {
			t.Errorf("%s: WriteRaw succeeded", tc.name)
		}
	}
}

// A raw entry of each type the reader takes as a file (a contiguous
// file, '7', too) is copied as it is.
func TestWriteRawTakesEveryFileType(t *testing.T) {
	for _, typ := range []byte{tar.TypeReg, tar.TypeRegA, tar.TypeCont} {
		raw := tarHeader(t, &tar.Header{Typeflag: tar.TypeReg, Name: "a.jpg", Size: 3, Format: tar.FormatUSTAR})
		raw[156] = typ
		// The header's checksum, again over the new type.
		copy(raw[148:156], "        ")
		var sum int
		for _, b := range raw[:512] {
			sum += int(b)
		}
		copy(raw[148:156], fmt.Sprintf("%06o\x00 ", sum))
		var out bytes.Buffer
		w, _ := formats.Tar{}.NewWriter(&out)
		if err := w.(formats.RawWriter).WriteRaw(bytes.NewReader(raw), int64(len(raw))); err != nil {
			t.Errorf("type %q: %v", typ, err)
		}
	}
}

// tarHeader encodes one header, with its data as zeros and its padding.
func tarHeader(t *testing.T, h *tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(h); err != nil {
		t.Fatal(err)
	}
	tw.Write(make([]byte, h.Size))
	tw.Flush()
	return buf.Bytes()
}

// countingReaderAt counts the bytes read from a shard.
type countingReaderAt struct {
	r     io.ReaderAt
	bytes atomic.Int64
	calls atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.bytes.Add(int64(n))
	c.calls.Add(1)
	return n, err
}

// TestTarHeadersOnly checks that a caller reading only headers makes the
// tar reader seek over the data: with 256 KiB entries, it reads a few KiB
// per entry, not the whole shard.
func TestTarHeadersOnly(t *testing.T) {
	var files []file
	for i := range 40 {
		files = append(files, file{fmt.Sprintf("s-%02d.jpg", i), randomBytes(uint64(i), 256<<10)})
	}
	data := writeShard(t, formats.Tar{}, files, 0)
	counter := &countingReaderAt{r: bytes.NewReader(data)}
	r, err := formats.Tar{}.NewReader(counter, int64(len(data)), "headers")
	if err != nil {
		t.Fatal(err)
	}
	n := countEntries(t, r)
	if n != len(files) {
		t.Fatalf("%d entries, want %d", n, len(files))
	}
	if read := counter.bytes.Load(); read > int64(len(files))*8<<10 {
		t.Errorf("reading %d headers read %d of %d bytes", n, read, len(data))
	}
	if calls := counter.calls.Load(); calls > int64(2*len(files)+2) {
		t.Errorf("reading %d headers took %d reads", n, calls)
	}
}

// TestTarSmallEntriesFewReads checks the read-ahead buffer: many small
// entries are read with few calls to the ReaderAt.
func TestTarSmallEntriesFewReads(t *testing.T) {
	var files []file
	for i := range 500 {
		files = append(files, file{fmt.Sprintf("s-%03d.cls", i), []byte(fmt.Sprint(i))})
	}
	data := writeShard(t, formats.Tar{}, files, 0)
	counter := &countingReaderAt{r: bytes.NewReader(data)}
	r, _ := formats.Tar{}.NewReader(counter, int64(len(data)), "small")
	for {
		if _, err := r.Next(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			t.Fatal(err)
		}
	}
	if calls := counter.calls.Load(); calls > int64(len(data))/(16<<10)+8 {
		t.Errorf("%d bytes read in %d calls", len(data), calls)
	}
}

func TestWriterErrors(t *testing.T) {
	for _, f := range allFormats() {
		t.Run(f.Name(), func(t *testing.T) {
			// As Windows reads them too: \ separates, C: roots.
			for _, name := range []string{"", ".", "..", "../x", "/abs", "a/../b", "./a", "a//b", "a/", "nul\x00", `..\x`, `a\..\..\b`, `\abs`, `C:\x`, "c:x"} {
				w, _ := f.NewWriter(io.Discard)
				if err := w.WriteHeader(&formats.Entry{Name: name}); !errors.Is(err, formats.ErrInvalidName) {
					t.Errorf("WriteHeader(%q) = %v, want ErrInvalidName", name, err)
				}
				w.Close()
			}
			// A backslash that climbs nowhere is a name's own byte.
			w, _ := f.NewWriter(io.Discard)
			if err := w.WriteHeader(&formats.Entry{Name: `a\b.jpg`}); err != nil {
				t.Errorf(`WriteHeader("a\\b.jpg") = %v`, err)
			}
			w.Close()

			w, _ = f.NewWriter(io.Discard)
			if err := w.WriteHeader(&formats.Entry{Name: "a", Size: -1}); !errors.Is(err, formats.ErrEntrySize) {
				t.Errorf("negative size: %v", err)
			}
			w.WriteHeader(&formats.Entry{Name: "a", Size: 3})
			if _, err := w.Write([]byte("four")); !errors.Is(err, formats.ErrEntrySize) {
				t.Errorf("writing past the size: %v", err)
			}
			if _, err := w.Write([]byte("x")); !errors.Is(err, formats.ErrEntrySize) {
				t.Errorf("error not sticky: %v", err)
			}
			if err := w.Close(); !errors.Is(err, formats.ErrEntrySize) {
				t.Errorf("Close after an error: %v", err)
			}

			w, _ = f.NewWriter(io.Discard)
			w.WriteHeader(&formats.Entry{Name: "a", Size: 3})
			w.Write([]byte("ab"))
			if err := w.WriteHeader(&formats.Entry{Name: "b"}); !errors.Is(err, formats.ErrEntrySize) {
				t.Errorf("short entry, next header: %v", err)
			}
			w.Close()

			w, _ = f.NewWriter(io.Discard)
			w.WriteHeader(&formats.Entry{Name: "a", Size: 3})
			w.Write([]byte("ab"))
			if err := w.Close(); !errors.Is(err, formats.ErrEntrySize) {
				t.Errorf("short entry, Close: %v", err)
			}

			w, _ = f.NewWriter(io.Discard)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if err := w.WriteHeader(&formats.Entry{Name: "late"}); !errors.Is(err, formats.ErrClosed) {
				t.Errorf("WriteHeader after Close: %v", err)
			}
		})
	}
}

// failingWriter fails after limit bytes.
type failingWriter struct{ limit int }

var errDiskFull = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.limit {
		n := w.limit
		w.limit = 0
		return n, errDiskFull
	}
	w.limit -= len(p)
	return len(p), nil
}

func TestWriterPassesStorageErrors(t *testing.T) {
	files := sampleFiles()
	for _, f := range allFormats() {
		w, err := f.NewWriter(&failingWriter{limit: 10 << 10})
		if err != nil {
			t.Fatal(err)
		}
		var failed error
		for _, fl := range files {
			if failed = w.WriteHeader(&formats.Entry{Name: fl.Name, Size: int64(len(fl.Data))}); failed != nil {
				break
			}
			if _, failed = w.Write(fl.Data); failed != nil {
				break
			}
		}
		if closeErr := w.Close(); failed == nil {
			failed = closeErr
		}
		if !errors.Is(failed, errDiskFull) {
			t.Errorf("%s: error %v, want the writer's", f.Name(), failed)
		}
	}
}

// failingReaderAt fails every read past limit.
type failingReaderAt struct {
	r     io.ReaderAt
	limit int64
}

var errMedium = errors.New("medium error")

func (f *failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.limit {
		return 0, errMedium
	}
	return f.r.ReadAt(p, off)
}

// TestReaderPassesStorageErrors checks that an I/O error is not reported as
// corruption.
func TestReaderPassesStorageErrors(t *testing.T) {
	files := sampleFiles()
	for _, f := range allFormats() {
		data := writeShard(t, f, files, 0)
		for _, limit := range []int64{0, int64(len(data)) / 2, int64(len(data)) - 10} {
			storage := &failingReaderAt{r: bytes.NewReader(data), limit: limit}
			var err error
			r, err := f.NewReader(storage, int64(len(data)), "failing")
			for err == nil {
				if _, err = r.Next(); err == nil {
					_, err = io.Copy(io.Discard, r)
				}
			}
			if !errors.Is(err, errMedium) || errors.Is(err, formats.ErrCorrupt) {
				t.Errorf("%s, failing past %d: error %v, want the medium error, not corruption", f.Name(), limit, err)
			}
		}
	}
}

// TestCorruptCompressed flips and truncates compressed shards: every
// failure is a HeaderError marked corrupt, never a panic.
func TestCorruptCompressed(t *testing.T) {
	files := sampleFiles()
	for _, f := range allFormats() {
		data := writeShard(t, f, files, 0)
		cuts := []int{0, 1, 3, 10, 100, len(data) / 3, len(data) / 2, len(data) - 1}
		for _, cut := range cuts {
			_, _, err := readShard(f, data[:cut])
			if f.Name() == "tar" && cut < 512 && err == nil {
				continue // a tar shorter than a header may end cleanly
			}
			if (f.Name() == "msgpack" || f.Name() == "tfrecord") && cut == 0 && err == nil {
				continue // no records, and no end marker to miss
			}
			if !errors.Is(err, formats.ErrCorrupt) {
				t.Errorf("%s cut at %d of %d: error %v, want ErrCorrupt", f.Name(), cut, len(data), err)
			}
		}
		for _, at := range []int{0, 2, len(data) / 2, len(data) - 6} {
			bad := bytes.Clone(data)
			bad[at] ^= 0x55
			got, _, err := readShard(f, bad)
			if err != nil {
				if _, ok := errors.AsType[*formats.HeaderError](err); !ok {
					t.Errorf("%s flipped at %d: error %v is not a HeaderError", f.Name(), at, err)
				}
				continue
			}
			// A flip can go unnoticed only in plain tar and msgpack, which
			// have no checksum over data; every other format checks a CRC.
			if f.Name() != "tar" && f.Name() != "msgpack" && equalFiles(got, files) {
				t.Errorf("%s flipped at %d: read back unchanged", f.Name(), at)
			}
		}
	}
}

func TestRegistry(t *testing.T) {
	reg := formats.Default()
	for _, tc := range []struct{ ext, want string }{
		{".tar", "tar"}, {"tar", "tar"}, {".TAR", "tar"}, {".tgz", "tgz"}, {"tgz", "tgz"},
		{".tar.gz", "tgz"}, {"tar.gz", "tgz"}, {".zip", "zip"}, {".tar.lz4", "tar.lz4"}, {".tar.zst", "tar.zst"},
		{".msgpack", "msgpack"}, {"tfrecord", "tfrecord"},
	} {
		if f, ok := reg.ByExtension(tc.ext); !ok || f.Name() != tc.want {
			t.Errorf("ByExtension(%q) = %v, %v; want %s", tc.ext, f, ok, tc.want)
		}
	}
	for _, ext := range []string{"", ".", ".gz", ".lz4", "rar", ".tar.bz2"} {
		if f, ok := reg.ByExtension(ext); ok {
			t.Errorf("ByExtension(%q) = %s", ext, f.Name())
		}
	}
	for _, tc := range []struct{ name, want string }{
		{"shard-0001.tar", "tar"}, {"a/b/shard.tar.gz", "tgz"}, {"shard.TGZ", "tgz"}, {"x.zip", "zip"},
		{"x.tar.lz4", "tar.lz4"}, {"x.tar.zst", "tar.zst"}, {"x.tar.gz.tar", "tar"},
		{"wds-0001.msgpack", "msgpack"}, {"train.TFRecord", "tfrecord"},
	} {
		if f, ok := reg.ByName(tc.name); !ok || f.Name() != tc.want {
			t.Errorf("ByName(%q) = %v, %v; want %s", tc.name, f, ok, tc.want)
		}
		if !reg.HasExtension(tc.name) {
			t.Errorf("HasExtension(%q) = false", tc.name)
		}
	}
	for _, name := range []string{"shard", "shard.gz", "shard.tar.", ".tar", "tar", "shard.lz4"} {
		if f, ok := reg.ByName(name); ok || reg.HasExtension(name) {
			t.Errorf("ByName(%q) = %v", name, f)
		}
	}
	want := []string{".tar", ".tgz", ".tar.gz", ".zip", ".tar.lz4", ".tar.zst", ".msgpack", ".tfrecord"}
	if got := reg.Extensions(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Extensions() = %v, want %v", got, want)
	}
	head := make([]byte, 512)
	if f, ok := reg.Detect(head); ok {
		t.Errorf("Detect(zeros) = %s", f.Name())
	}
	if f, ok := reg.Detect([]byte("PK")); ok {
		t.Errorf("Detect(PK) = %s: two bytes are not a zip header", f.Name())
	}

	var empty formats.Registry
	if _, ok := empty.ByName("x.tar"); ok {
		t.Error("empty registry knows .tar")
	}
	empty.Register(formats.Tar{})
	if _, ok := empty.ByName("x.tar"); !ok {
		t.Error("registered .tar not found")
	}
	defer func() {
		if recover() == nil {
			t.Error("registering .tar twice did not panic")
		}
	}()
	empty.Register(formats.Tar{})
}

// TestCopyAllocations checks that copying entries between a reader and a
// writer with io.Copy allocates little per entry.
func TestCopyAllocations(t *testing.T) {
	var files []file
	for i := range 100 {
		files = append(files, file{fmt.Sprintf("s-%03d.jpg", i), randomBytes(uint64(i), 64<<10)})
	}
	// archive/tar allocates a Header per entry and a few small values; a
	// 32 KiB copy buffer per entry would show as 32 KiB here.
	if perEntry := allocationsPerEntry(t, formats.Tar{}, formats.Tar{}, files); perEntry > 4<<10 {
		t.Errorf("copying a tar entry allocates %d bytes", perEntry)
	}
}

// allocationsPerEntry copies a shard of files from one format to another
// with io.Copy, and returns the bytes allocated per entry, once the pools
// are filled.
func allocationsPerEntry(t *testing.T, from, to formats.Format, files []file) uint64 {
	t.Helper()
	if raceEnabled {
		t.Skip("under -race sync.Pool drops buffers on purpose; make test runs this test without -race")
	}
	data := writeShard(t, from, files, 0)
	copyAll := func() {
		r, _ := from.NewReader(bytes.NewReader(data), int64(len(data)), "alloc")
		w, _ := to.NewWriter(io.Discard)
		for {
			e, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			w.WriteHeader(e)
			if _, err := io.Copy(w, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	copyAll() // fill the pools
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 5
	for range runs {
		copyAll()
	}
	runtime.ReadMemStats(&after)
	perEntry := (after.TotalAlloc - before.TotalAlloc) / runs / uint64(len(files))
	t.Logf("%d bytes allocated per entry copied", perEntry)
	return perEntry
}

// TestZipUnsupported patches the central directory of a zip we wrote: an
// unknown compression method or an encrypted member is unsupported, not
// corrupt; a stored member whose sizes differ is corrupt.
func TestZipUnsupported(t *testing.T) {
	data := writeShard(t, formats.Zip{}, []file{{"a.txt", bytes.Repeat([]byte("abc"), 100)}}, 0)
	central := bytes.Index(data, []byte("PK\x01\x02"))
	if central < 0 {
		t.Fatal("no central directory record")
	}
	for _, tc := range []struct {
		name        string
		at          int // offset in the central record
		value       byte
		unsupported bool
	}{
		{"bzip2 method", 10, 12, true},
		{"encrypted", 8, 0x09, true}, // flags: encrypted, data descriptor
		{"stored with a compressed size", 10, 0, false},
	} {
		bad := bytes.Clone(data)
		bad[central+tc.at] = tc.value
		_, _, err := readShard(formats.Zip{}, bad)
		he, ok := errors.AsType[*formats.HeaderError](err)
		if !ok {
			t.Errorf("%s: error %v is not a HeaderError", tc.name, err)
			continue
		}
		if errors.Is(err, formats.ErrUnsupported) != tc.unsupported || errors.Is(err, formats.ErrCorrupt) == tc.unsupported {
			t.Errorf("%s: error %v: unsupported %v, corrupt %v", tc.name, err,
				errors.Is(err, formats.ErrUnsupported), errors.Is(err, formats.ErrCorrupt))
		}
		if he.Offset <= 0 || !strings.Contains(err.Error(), "test-shard") {
			t.Errorf("%s: error %v does not locate the member", tc.name, err)
		}
	}
}

// countEntries reads a shard's entries, names only, and counts them.
func countEntries(t *testing.T, r formats.Reader) int {
	t.Helper()
	n := 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
}

// TestAbort: an aborted archive does not end as a well-formed one, holds
// no goroutine, and the pooled writer it gave back
// writes the next archive right.
func TestAbort(t *testing.T) {
	data := bytes.Repeat([]byte("abcdefgh"), 512<<10) // 4 MiB: pgzip's blocks are in flight
	before := runtime.NumGoroutine()
	for _, f := range allFormats() {
		var out bytes.Buffer
		w, err := f.NewWriter(&out)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteHeader(&formats.Entry{Name: "a.bin", Size: int64(2 * len(data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		formats.Abort(w)
		formats.Abort(w)
		// (A record format keeps a record until it is whole: nothing of
		// it was written.)
		if _, _, err := readShard(f, out.Bytes()); err == nil && out.Len() > 0 {
			t.Errorf("%s: an aborted archive reads as a whole one", f.Name())
		}
		if err := w.Close(); err != nil {
			t.Errorf("%s: Close after Abort: %v", f.Name(), err)
		}
		files := sampleFiles()
		if got, _, err := readShard(f, writeShard(t, f, files, 0)); err != nil || !equalFiles(got, files) {
			t.Errorf("%s: the archive after an abort: %v", f.Name(), err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after the aborts, %d before", n, before)
	}
}

// A zip member read as extraction reads it, exactly its declared size,
// still has its CRC checked: a flipped byte of a stored member (what
// Python's zipfile and zip -0 write) is found, as is an empty member
// whose CRC is not an empty one's.
func TestZipCRCCheckedOnExactReads(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	body := bytes.Repeat([]byte("jpeg bytes "), 100)
	for _, name := range []string{"a.jpg", "b.jpg"} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	readExactly := func(data []byte) error {
		r, err := formats.Zip{}.NewReader(bytes.NewReader(data), int64(len(data)), "test-shard")
		if err != nil {
			return err
		}
		for {
			e, err := r.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if _, err := io.ReadFull(r, make([]byte, e.Size)); err != nil {
				return err
			}
		}
	}
	if err := readExactly(good); err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(good)
	at := bytes.Index(bad, body) + 5 // in a.jpg's data
	bad[at] ^= 0x55
	err := readExactly(bad)
	if _, ok := errors.AsType[*formats.HeaderError](err); !ok || !errors.Is(err, formats.ErrCorrupt) {
		t.Fatalf("a flipped byte of a stored member: %v, want a HeaderError (corrupt)", err)
	}

	buf.Reset()
	zw = zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "empty.cls", Method: zip.Store, CRC32: 0xdeadbeef})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(nil)
	zw.Close()
	if err := readExactly(buf.Bytes()); !errors.Is(err, formats.ErrCorrupt) {
		t.Fatalf("an empty member with a wrong CRC: %v", err)
	}

	// A CRC field of 0 (which the zip reader takes for "none") is
	// checked all the same, stored or deflated.
	buf.Reset()
	zw = zip.NewWriter(&buf)
	w, err = zw.CreateRaw(&zip.FileHeader{Name: "a.jpg", Method: zip.Store, CRC32: 0, CompressedSize64: 3, UncompressedSize64: 3})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("abc"))
	zw.Close()
	if err := readExactly(buf.Bytes()); !errors.Is(err, formats.ErrCorrupt) {
		t.Fatalf("a stored member whose CRC field is 0: %v, want ErrCorrupt", err)
	}
	var deflated bytes.Buffer
	fw, _ := flate.NewWriter(&deflated, flate.BestSpeed)
	fw.Write(bytes.Repeat([]byte("abc"), 100))
	fw.Close()
	buf.Reset()
	zw = zip.NewWriter(&buf)
	w, err = zw.CreateRaw(&zip.FileHeader{Name: "b.jpg", Method: zip.Deflate, CRC32: 0, CompressedSize64: uint64(deflated.Len()), UncompressedSize64: 300})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(deflated.Bytes())
	zw.Close()
	if err := readExactly(buf.Bytes()); !errors.Is(err, formats.ErrCorrupt) {
		t.Fatalf("a deflated member whose CRC field is 0: %v, want ErrCorrupt", err)
	}
}

// A tar cut inside its last entry's padding is corrupt: its raw copy
// (header, data and padding) would run past the shard's end.
func TestTarCutInPadding(t *testing.T) {
	data := writeShard(t, formats.Tar{}, []file{{"a.jpg", bytes.Repeat([]byte("x"), 1000)}}, 0)
	cut := data[:512+1000] // the data whole, its padding and the end blocks gone
	if _, _, err := readShard(formats.Tar{}, cut); !errors.Is(err, formats.ErrCorrupt) {
		t.Fatalf("a tar cut in the padding: %v, want ErrCorrupt", err)
	}
	if _, _, err := readShard(formats.Tar{}, data[:512+1024]); err != nil {
		t.Fatalf("a tar whole but for its end blocks: %v", err)
	}
	// Compressed (its size unknown), the same: the stream's own end is
	// sound, the tar inside it cut.
	gzipped := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	if _, _, err := readShard(formats.TarGzip{}, gzipped(cut)); !errors.Is(err, formats.ErrCorrupt) {
		t.Fatalf("a tgz whose tar is cut in the padding: %v, want ErrCorrupt", err)
	}
	if _, _, err := readShard(formats.TarGzip{}, gzipped(data[:512+1024])); err != nil {
		t.Fatalf("a tgz whose tar is whole but for its end blocks: %v", err)
	}
	// Cut inside the header of the entry after (a PAX one, for its name):
	// the entries before are whole, the archive is not.
	var pax bytes.Buffer
	tw := tar.NewWriter(&pax)
	for _, name := range []string{"a.jpg", "caf\u00e9-" + strings.Repeat("n", 200) + ".jpg"} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: 3, Mode: 0o644, Format: tar.FormatPAX})
		tw.Write([]byte("abc"))
	}
	tw.Close()
	for _, at := range []int{1024 + 100, 1024 + 512, 1024 + 512 + 300} { // in the PAX header, after it, in its records
		if _, _, err := readShard(formats.Tar{}, pax.Bytes()[:at]); !errors.Is(err, formats.ErrCorrupt) {
			t.Errorf("a tar cut at %d, inside a PAX header: %v, want ErrCorrupt", at, err)
		}
		if _, _, err := readShard(formats.TarGzip{}, gzipped(pax.Bytes()[:at])); !errors.Is(err, formats.ErrCorrupt) {
			t.Errorf("a tgz whose tar is cut at %d, inside a PAX header: %v, want ErrCorrupt", at, err)
		}
	}
	if got, _, err := readShard(formats.TarGzip{}, gzipped(pax.Bytes())); err != nil || len(got) != 2 {
		t.Fatalf("the whole tgz with a PAX header: %d entries, %v", len(got), err)
	}
}

// What a record format writes, it reads: field names that fill a record's
// name budget to within the key field's own name are split into records
// the readers take.
func TestRecordNamesAtTheLimit(t *testing.T) {
	field := func(c string) string { return strings.Repeat(c, 262_143) }
	files := []file{
		{"k." + field("a"), []byte("1")}, {"k." + field("b"), []byte("2")},
		{"k." + field("c"), []byte("3")}, {"k." + field("d"), []byte("4")},
	}
	for _, f := range []formats.Format{formats.Msgpack{}, formats.TFRecord{}} {
		data := writeShard(t, f, files, 0)
		got, _, err := readShard(f, data)
		if err != nil {
			t.Fatalf("%s: reading what it wrote: %v", f.Name(), err)
		}
		if len(got) != len(files) {
			t.Fatalf("%s: read %d members, wrote %d", f.Name(), len(got), len(files))
		}
	}
}

// Links are skipped, and told: a tar's hard and symbolic links (and its
// entries with data of types that are not files) and a zip's symbolic
// links, in every tar-based format; a directory is not a link.
func TestLinksAreTold(t *testing.T) {
	var tarData bytes.Buffer
	tw := tar.NewWriter(&tarData)
	add := func(h *tar.Header, data string) {
		t.Helper()
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, data)
	}
	add(&tar.Header{Typeflag: tar.TypeReg, Name: "a.jpg", Mode: 0o644}, "image")
	add(&tar.Header{Typeflag: tar.TypeDir, Name: "dir/", Mode: 0o755}, "")
	add(&tar.Header{Typeflag: tar.TypeLink, Name: "b.jpg", Linkname: "a.jpg"}, "")
	add(&tar.Header{Typeflag: tar.TypeSymlink, Name: "c.jpg", Linkname: "a.jpg"}, "")
	add(&tar.Header{Typeflag: tar.TypeReg, Name: "b.cls", Mode: 0o644}, "1")
	// A vendor's type, with data: skipped, and told.
	add(&tar.Header{Typeflag: 'A', Name: "v.bin", Mode: 0o644}, "vendor")
	tw.Close()
	check := func(f formats.Format, data []byte, want []string) {
		t.Helper()
		rd, err := f.NewReader(bytes.NewReader(data), int64(len(data)), "test-shard")
		if err != nil {
			t.Fatal(err)
		}
		if n := countEntries(t, rd); n != 2 {
			t.Fatalf("%s: %d entries, want the 2 regular files", f.Name(), n)
		}
		lr, ok := rd.(formats.LinkReporter)
		if !ok {
			t.Fatalf("%s: the reader does not tell links", f.Name())
		}
		if count, names := lr.Links(); count != len(want) || !slices.Equal(names, want) {
			t.Fatalf("%s: links %d %q, want %q", f.Name(), count, names, want)
		}
	}
	check(formats.Tar{}, tarData.Bytes(), []string{"b.jpg", "c.jpg", `v.bin (type 'A')`})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tarData.Bytes())
	zw.Close()
	check(formats.TarGzip{}, gz.Bytes(), []string{"b.jpg", "c.jpg", `v.bin (type 'A')`})

	var zipData bytes.Buffer
	w := zip.NewWriter(&zipData)
	for _, h := range []*zip.FileHeader{{Name: "a.jpg"}, {Name: "c.jpg"}, {Name: "b.cls"}} {
		if h.Name == "c.jpg" {
			h.SetMode(fs.ModeSymlink | 0o777)
		}
		fw, err := w.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(fw, "x")
	}
	w.Close()
	check(formats.Zip{}, zipData.Bytes(), []string{"c.jpg"})
}

// An entry with both a PAX path and a GNU long name is refused: Go reads
// the long name, Python's tarfile the PAX path, and a raw copy of the
// entry would carry the name that was not checked.
func TestTarEntryNamedTwoWaysIsRefused(t *testing.T) {
	block := func(name string, typeflag byte, size int) []byte { return tarBlock(name, typeflag, size, false) }
	padded := func(data string) []byte {
		return append([]byte(data), make([]byte, (512-len(data)%512)%512)...)
	}
	record := "25 path=../../etc/evil.x\n"
	var shard []byte
	shard = append(shard, block("PaxHeaders/ok.jpg", 'x', len(record))...)
	shard = append(shard, padded(record)...)
	shard = append(shard, block("././@LongLink", 'L', len("ok.jpg")+1)...)
	shard = append(shard, padded("ok.jpg\x00")...)
	shard = append(shard, block("ok.jpg", '0', 3)...)
	shard = append(shard, padded("abc")...)
	shard = append(shard, make([]byte, 1024)...)
	r, err := formats.Tar{}.NewReader(bytes.NewReader(shard), int64(len(shard)), "two-names.tar")
	if err != nil {
		t.Fatal(err)
	}
	e, err := r.Next()
	if !errors.Is(err, formats.ErrCorrupt) || !strings.Contains(fmt.Sprint(err), "disagree") {
		t.Fatalf("an entry named %v two ways: %v, want a corrupt-shard error", e, err)
	}
}

// tarBlock is a ustar header block, its checksum summed over signed bytes
// (as old tars did) when signed.
func tarBlock(name string, typeflag byte, size int, signed bool) []byte {
	b := make([]byte, 512)
	copy(b, name)
	copy(b[100:], "0000644\x00")
	copy(b[108:], "0000000\x00")
	copy(b[116:], "0000000\x00")
	copy(b[124:], fmt.Sprintf("%011o\x00", size))
	copy(b[136:], "00000000000\x00")
	b[156] = typeflag
	copy(b[257:], "ustar\x0000")
	copy(b[148:], "        ")
	sum := 0
	for _, c := range b {
		if signed {
			sum += int(int8(c))
		} else {
			sum += int(c)
		}
	}
	copy(b[148:], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// A tar whose header checksum sums signed bytes (old Sun tar, some Java
// libraries) is read and copied raw, as archive/tar reads it.
func TestTarSignedChecksumIsCopiedRaw(t *testing.T) {
	var shard []byte
	shard = append(shard, tarBlock("caf\xe9.jpg", '0', 3, true)...)
	shard = append(shard, append([]byte("abc"), make([]byte, 509)...)...)
	shard = append(shard, make([]byte, 1024)...)
	r, err := formats.Tar{}.NewReader(bytes.NewReader(shard), int64(len(shard)), "signed.tar")
	if err != nil {
		t.Fatal(err)
	}
	e, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	w, err := formats.Tar{}.NewWriter(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.(formats.RawWriter).WriteRaw(bytes.NewReader(shard[e.HeaderOffset:]), e.RawSize()); err != nil {
		t.Fatalf("raw copy of an entry with a signed checksum: %v", err)
	}
}

// reheader changes a header block by edit and sets its checksum again.
func reheader(raw []byte, edit func(block []byte)) []byte {
	raw = bytes.Clone(raw)
	edit(raw[:512])
	copy(raw[148:156], "        ")
	var sum int
	for _, b := range raw[:512] {
		sum += int(b)
	}
	copy(raw[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return raw
}

// A header block that Python's tarfile (what training jobs read shards
// with) reads otherwise than archive/tar is not copied raw: the reader
// marks its entry to be rewritten, and a raw copy of it is refused. A
// size field with a leading NUL is 500 bytes to Go and 0 to Python,
// which would then read the data as the next header (an entry hidden
// from the checks); a prefix in a V7 block is a name's start to Python.
func TestHeadersOtherReadersReadOtherwiseAreRewritten(t *testing.T) {
	plain := tarHeader(t, &tar.Header{Typeflag: tar.TypeReg, Name: "a.jpg", Size: 500, Mode: 0o644, Format: tar.FormatUSTAR})
	for _, tc := range []struct {
		name    string
		raw     []byte
		rewrite bool
	}{
		{"a plain USTAR header", plain, false},
		{"a size with a leading NUL", reheader(plain, func(b []byte) { copy(b[124:136], "\x000000000764\x00") }), true},
		{"a V7 block with a prefix", reheader(plain, func(b []byte) { copy(b[257:265], "\x00\x00\x00\x00\x00\x00\x00\x00"); copy(b[345:], "../../tmp") }), true},
		{"digits after a NUL in the mode", reheader(plain, func(b []byte) { copy(b[100:108], "0644\x00777") }), true},
		{"a setuid mode", reheader(plain, func(b []byte) { copy(b[100:108], "0004755\x00") }), true},
		{"a STAR block", reheader(plain, func(b []byte) { copy(b[508:512], "tar\x00") }), true},
	} {
		shard := append(bytes.Clone(tc.raw), make([]byte, 1024)...)
		r, err := formats.Tar{}.NewReader(bytes.NewReader(shard), int64(len(shard)), "s.tar")
		if err != nil {
			t.Fatal(err)
		}
		e, err := r.Next()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if e.Rewrite != tc.rewrite {
			t.Errorf("%s: rewrite %v, want %v", tc.name, e.Rewrite, tc.rewrite)
		}
		w, _ := formats.Tar{}.NewWriter(io.Discard)
		err = w.(formats.RawWriter).WriteRaw(bytes.NewReader(tc.raw), int64(len(tc.raw)))
		if (err == nil) == tc.rewrite {
			t.Errorf("%s: a raw copy: %v", tc.name, err)
		}
	}
}

// A deflated zip member claiming more bytes than deflate can make of its
// compressed ones (a terabyte from 14 bytes) is refused at its header,
// before a scan of headers alone (an estimate) takes it for its size.
func TestZipSizeClaimPastDeflatesBound(t *testing.T) {
	var deflated bytes.Buffer
	fw, _ := flate.NewWriter(&deflated, flate.BestSpeed)
	fw.Write([]byte("abc"))
	fw.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "bomb.jpg", Method: zip.Deflate, CRC32: 0x352441c2, CompressedSize64: uint64(deflated.Len()), UncompressedSize64: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(deflated.Bytes())
	zw.Close()
	r, err := formats.Zip{}.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "s.zip")
	if err == nil {
		_, err = r.Next()
	}
	if !errors.Is(err, formats.ErrCorrupt) || !strings.Contains(err.Error(), "more than deflate") {
		t.Fatalf("a member of %d compressed bytes claiming 1 TiB: %v, want ErrCorrupt", deflated.Len(), err)
	}
}

// A name past zip's 65535 bytes (tar takes up to a megabyte) is refused
// by itself: the shard goes on with the next entry and is read whole.
func TestZipRefusesALongNameAlone(t *testing.T) {
	var buf bytes.Buffer
	w, _ := formats.Zip{}.NewWriter(&buf)
	if err := w.WriteHeader(&formats.Entry{Name: strings.Repeat("n", 70_000), Size: 1}); !errors.Is(err, formats.ErrInvalidName) {
		t.Fatalf("a name of 70000 bytes: %v, want ErrInvalidName", err)
	}
	// Not UTF-8: a zip reader would take it as another name than tar's.
	if err := w.WriteHeader(&formats.Entry{Name: "caf\xe9.jpg", Size: 1}); !errors.Is(err, formats.ErrInvalidName) {
		t.Fatalf("a name that is not UTF-8: %v, want ErrInvalidName", err)
	}
	if err := w.WriteHeader(&formats.Entry{Name: "a.jpg", Size: 3}); err != nil {
		t.Fatalf("the next entry: %v", err)
	}
	w.Write([]byte("abc"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if files, _, err := readShard(formats.Zip{}, buf.Bytes()); err != nil || len(files) != 1 || files[0].Name != "a.jpg" {
		t.Fatalf("the shard: %v %v", files, err)
	}
}

// So is a name past what a tar header carries (its PAX record past 1 MiB,
// which archive/tar fails on for good), in every tar format; one just
// short of it is written and read back.
func TestTarRefusesALongNameAlone(t *testing.T) {
	long := strings.Repeat("n", 1<<20-100)
	for _, ext := range []string{".tar", ".tgz", ".tar.zst"} {
		f, _ := formats.Default().ByExtension(ext)
		var buf bytes.Buffer
		w, err := f.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteHeader(&formats.Entry{Name: strings.Repeat("n", 1<<20), Size: 1}); !errors.Is(err, formats.ErrInvalidName) {
			t.Fatalf("%s: a name of 1 MiB: %v, want ErrInvalidName", ext, err)
		}
		for _, name := range []string{long, "a.jpg"} {
			if err := w.WriteHeader(&formats.Entry{Name: name, Size: 3}); err != nil {
				t.Fatalf("%s: the next entry: %v", ext, err)
			}
			w.Write([]byte("abc"))
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		// The longest name taken, of an entry whose size needs a PAX
		// record of its own too (8 GiB and more): its header is written.
		huge, _ := f.NewWriter(io.Discard)
		if err := huge.WriteHeader(&formats.Entry{Name: strings.Repeat("n", 1<<20-32), Size: 1 << 40}); !errors.Is(err, formats.ErrInvalidName) {
			t.Fatalf("%s: a name 32 bytes short of 1 MiB, of an entry of 1 TiB: %v, want ErrInvalidName", ext, err)
		}
		if err := huge.WriteHeader(&formats.Entry{Name: strings.Repeat("n", 1<<20-64), Size: 1 << 40}); err != nil {
			t.Fatalf("%s: the longest name, of an entry of 1 TiB: %v", ext, err)
		}
		if files, _, err := readShard(f, buf.Bytes()); err != nil || len(files) != 2 || files[0].Name != long || files[1].Name != "a.jpg" {
			t.Fatalf("%s: the shard: %d files, %v", ext, len(files), err)
		}
	}
}

// A compressed shard cut in the middle of an entry's data fails on that
// entry, named: the offset of a compressed tar is in the uncompressed
// stream, which a user cannot find in the object.
func TestDataErrorsNameTheEntry(t *testing.T) {
	noise := make([]byte, 100<<10)
	for i, r := 0, rand.New(rand.NewPCG(3, 4)); i < len(noise); i += 8 {
		binary.LittleEndian.PutUint64(noise[i:], r.Uint64())
	}
	// (A zstd or lz4 block would hold the whole shard: those fail on the
	// first header, before any entry.)
	f, _ := formats.Default().ByExtension(".tgz")
	shard := writeShard(t, f, []file{{Name: "first.txt", Data: []byte("hello")}, {Name: "images/big.jpg", Data: noise}}, 0)
	_, _, err := readShard(f, shard[:len(shard)*6/10])
	if !errors.Is(err, formats.ErrCorrupt) || !strings.Contains(err.Error(), `entry "images/big.jpg"`) {
		t.Fatalf("a tgz cut in big.jpg's data: %v, want corrupt naming the entry", err)
	}
}

// rawZip builds a zip of one stored member, "a.jpg", with the central
// directory entries given (name, local header offset): several may point
// at the one member, as a zip bomb's do.
func rawZip(data []byte, entries []string, extraLength uint16) []byte {
	le := binary.LittleEndian
	crc := crc32.ChecksumIEEE(data)
	var b []byte
	local := func(name string) {
		b = le.AppendUint32(b, 0x04034b50)
		b = le.AppendUint16(b, 20)
		b = le.AppendUint16(b, 0) // flags
		b = le.AppendUint16(b, 0) // stored
		b = le.AppendUint32(b, 0) // time, date
		b = le.AppendUint32(b, crc)
		b = le.AppendUint32(b, uint32(len(data)))
		b = le.AppendUint32(b, uint32(len(data)))
		b = le.AppendUint16(b, uint16(len(name)))
		b = le.AppendUint16(b, extraLength)
		b = append(b, name...)
	}
	local("a.jpg")
	b = append(b, data...)
	cd := len(b)
	for _, name := range entries {
		b = le.AppendUint32(b, 0x02014b50)
		b = le.AppendUint16(b, 20)
		b = le.AppendUint16(b, 20)
		b = le.AppendUint16(b, 0)
		b = le.AppendUint16(b, 0)
		b = le.AppendUint32(b, 0)
		b = le.AppendUint32(b, crc)
		b = le.AppendUint32(b, uint32(len(data)))
		b = le.AppendUint32(b, uint32(len(data)))
		b = le.AppendUint16(b, uint16(len(name)))
		b = le.AppendUint16(b, 0) // extra
		b = le.AppendUint16(b, 0) // comment
		b = le.AppendUint16(b, 0) // disk
		b = le.AppendUint16(b, 0) // internal attributes
		b = le.AppendUint32(b, 0) // external attributes
		b = le.AppendUint32(b, 0) // local header at 0
		b = append(b, name...)
	}
	end := len(b)
	b = le.AppendUint32(b, 0x06054b50)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint16(b, uint16(len(entries)))
	b = le.AppendUint16(b, uint16(len(entries)))
	b = le.AppendUint32(b, uint32(end-cd))
	b = le.AppendUint32(b, uint32(cd))
	b = le.AppendUint16(b, 0)
	return b
}

// Directory entries that share a member's data (zip's overlap bomb: a
// small shard that reads as terabytes) are refused, as Python's zipfile
// and unzip refuse them; one member read through its own entry is fine.
func TestZipOverlappingMembersAreRefused(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 1000)
	if files, _, err := readShard(formats.Zip{}, rawZip(data, []string{"a.jpg"}, 0)); err != nil || len(files) != 1 {
		t.Fatalf("one member: %v %v", files, err)
	}
	bomb := rawZip(data, []string{"a.jpg", "b.jpg", "c.jpg"}, 0)
	if _, _, err := readShard(formats.Zip{}, bomb); !errors.Is(err, formats.ErrCorrupt) || !strings.Contains(err.Error(), "overlaps") {
		t.Fatalf("three entries on one member: %v, want ErrCorrupt naming the overlap", err)
	}
	// Past the spans checked one by one, the data adding up to more than
	// the shard refuses them.
	restore := formats.SetMaxExactSpans(0)
	defer restore()
	if _, _, err := readShard(formats.Zip{}, bomb); !errors.Is(err, formats.ErrCorrupt) || !strings.Contains(err.Error(), "add up to more than the shard") {
		t.Fatalf("three entries on one member, past the exact check: %v, want ErrCorrupt", err)
	}
	restore()
	// Empty members on one local header share no data: read, each once
	// (a directory of millions of them once cost an insert each).
	names := make([]string, 2000)
	for i := range names {
		names[i] = fmt.Sprintf("e%04d.txt", i)
	}
	if files, _, err := readShard(formats.Zip{}, rawZip(nil, names, 0)); err != nil || len(files) != len(names) {
		t.Fatalf("empty members on one header: %d files, %v", len(files), err)
	}
}

// A local header whose extra field reaches past the shard puts the data
// past its end: refused, not taken with any size (the check wrapped).
func TestZipDataPastTheEndIsRefused(t *testing.T) {
	data := rawZip([]byte("abc"), []string{"a.jpg"}, 0xffff)
	r, err := formats.Zip{}.NewReader(bytes.NewReader(data), int64(len(data)), "s.zip")
	if err == nil {
		_, err = r.Next()
	}
	if !errors.Is(err, formats.ErrCorrupt) || !strings.Contains(err.Error(), "shard size") {
		t.Fatalf("a member whose data lies past the shard: %v, want ErrCorrupt", err)
	}
}

// A tgz padded with zeros after its gzip stream (tape blocking, dd
// conv=sync) reads whole, as gzip and Python's tarfile read it; bytes
// that are neither padding nor another member are refused.
func TestTarGzipTrailingPadding(t *testing.T) {
	tgz := writeShard(t, formats.TarGzip{}, sampleFiles(), 0)
	want, _, err := readShard(formats.TarGzip{}, tgz)
	if err != nil {
		t.Fatal(err)
	}
	padded := append(slices.Clone(tgz), make([]byte, 10240)...)
	if got, _, err := readShard(formats.TarGzip{}, padded); err != nil || len(got) != len(want) {
		t.Fatalf("a tgz padded with zeros: %d files, %v; want %d", len(got), err, len(want))
	}
	var empty bytes.Buffer
	gz := gzip.NewWriter(&empty)
	gz.Close()
	if got, _, err := readShard(formats.TarGzip{}, append(slices.Clone(tgz), empty.Bytes()...)); err != nil || len(got) != len(want) {
		t.Fatalf("a tgz with another (empty) member after it: %d files, %v", len(got), err)
	}
	if _, _, err := readShard(formats.TarGzip{}, append(slices.Clone(tgz), "garbage"...)); !errors.Is(err, formats.ErrCorrupt) {
		t.Fatalf("a tgz with garbage after it: %v, want ErrCorrupt", err)
	}
}

// A compressed tar that decompresses to more than maxExpansion times its
// size (zstd's runs reach 32,768) is refused as it is read (here with no
// slack); deflate's most (about 1032) is within it.
func TestCompressionBombIsRefused(t *testing.T) {
	defer formats.SetExpansionSlack(0)()
	zeros := make([]byte, 8<<20)
	for _, c := range []struct {
		format formats.Format
		bomb   bool
	}{{formats.TarZstd{}, true}, {formats.TarGzip{}, false}} {
		var shard bytes.Buffer
		w, err := c.format.NewWriter(&shard)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteHeader(&formats.Entry{Name: "s-0.bin", Size: int64(len(zeros))}); err != nil {
			t.Fatal(err)
		}
		w.Write(zeros)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		files, _, err := readShard(c.format, shard.Bytes())
		switch {
		case c.bomb && (!errors.Is(err, formats.ErrCorrupt) || !strings.Contains(err.Error(), "decompresses to more than")):
			t.Errorf("%s: 8 MiB of zeros in %d bytes: %v, want refused as a bomb", c.format.Name(), shard.Len(), err)
		case !c.bomb && (err != nil || len(files) != 1):
			t.Errorf("%s: 8 MiB of zeros in %d bytes: %d files, %v", c.format.Name(), shard.Len(), len(files), err)
		}
	}
}

// A tgz padded with zeros after its gzip member (dd conv=sync) is read,
// whatever ends the tar: here Go's writer, ending at its end marker.
func TestGzipPaddedWithZerosIsRead(t *testing.T) {
	var tarData bytes.Buffer
	w, err := formats.Tar{}.NewWriter(&tarData)
	if err != nil {
		t.Fatal(err)
	}
	w.WriteHeader(&formats.Entry{Name: "s-0.txt", Size: 5})
	io.WriteString(w, "hello")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// One member, and the tar cut across two (cat a.gz b.gz).
	for _, cuts := range [][]int{{tarData.Len()}, {700, tarData.Len()}} {
		var shard bytes.Buffer
		from := 0
		for _, to := range cuts {
			z := gzip.NewWriter(&shard)
			z.Write(tarData.Bytes()[from:to])
			z.Close()
			from = to
		}
		shard.Write(make([]byte, 512-shard.Len()%512))
		files, _, err := readShard(formats.TarGzip{}, shard.Bytes())
		if err != nil || len(files) != 1 || string(files[0].Data) != "hello" {
			t.Fatalf("a tgz of %d members padded with zeros: %v, %v", len(cuts), files, err)
		}
	}
}

// A zip whose central directory is past the bound is refused as it is
// read into memory (up to eight times its size, before any bound on the
// members); within it, read.
func TestZipDirectoryIsBounded(t *testing.T) {
	shard := writeShard(t, formats.Zip{}, sampleFiles(), 0)
	if _, _, err := readShard(formats.Zip{}, shard); err != nil {
		t.Fatal(err)
	}
	// Members past the bound are read: only the directory is bounded.
	restore := formats.SetMaxZipDirectory(1 << 10)
	noise := make([]byte, 1<<20)
	for i, r := 0, rand.New(rand.NewPCG(1, 2)); i < len(noise); i += 8 {
		binary.LittleEndian.PutUint64(noise[i:], r.Uint64())
	}
	large := writeShard(t, formats.Zip{}, []file{{Name: "big.bin", Data: noise}}, 0)
	if files, _, err := readShard(formats.Zip{}, large); err != nil || len(files) != 1 || len(files[0].Data) != 1<<20 {
		t.Fatalf("a member of 1 MiB past a directory bound of 1 KiB: %v", err)
	}
	restore()
	// 65,535 members: the directory's size is in the zip64 end record.
	var big bytes.Buffer
	zw := zip.NewWriter(&big)
	for i := range 65535 {
		if _, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("f%05d", i), Method: zip.Store}); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := formats.Zip{}.NewReader(bytes.NewReader(big.Bytes()), int64(big.Len()), "zip64")
	if err != nil {
		t.Fatalf("a zip64 of 65,535 members: %v", err)
	}
	_ = r
	defer formats.SetMaxZipDirectory(100)()
	// (What zip.NewReader reads is counted, whatever the end records say;
	// a count of members past the bound is refused before.)
	zips := map[string][]byte{"a zip64": big.Bytes()}
	for name, data := range zips {
		if _, err := (formats.Zip{}).NewReader(bytes.NewReader(data), int64(len(data)), "bounded"); !errors.Is(err, formats.ErrCorrupt) || !strings.Contains(err.Error(), "central directory") {
			t.Fatalf("%s past a bound of 100 bytes of directory: %v, want refused", name, err)
		}
	}
}

// The memory a zip shard's reader holds is judged as zip.NewReader reads
// it: an end record that signals zip64 with no locator it takes is read
// by its own (32-bit) values, not taken for a directory of nothing.
func TestZipMemoryFollowsTheReader(t *testing.T) {
	shard := writeShard(t, formats.Zip{}, sampleFiles()[:1], 0)
	end := len(shard) - 22 // no comment
	noLocator := bytes.Clone(shard)
	binary.LittleEndian.PutUint16(noLocator[end+10:], 0xffff)
	binary.LittleEndian.PutUint32(noLocator[end+12:], 4<<20)
	if got := formats.ZipMemory(bytes.NewReader(noLocator), int64(len(noLocator))); got != 8*(4<<20) {
		t.Errorf("a zip64 end with no locator, claiming 4 MiB of directory: %d bytes held, want %d", got, 8*(4<<20))
	}
}

// A zip64 end record in the middle of a directory that goes on past it
// (the comment of the record before it covers it; 65,536 more records
// follow, so the count's low 16 bits agree) is weighed as 46 bytes of
// directory: zip.NewReader would read 3 MiB of records, 65,537 Files,
// on that weight. It reads no more than was weighed.
func TestZipDirectoryPastItsZip64EndIsRefused(t *testing.T) {
	record := func(commentLen uint16) []byte {
		r := make([]byte, 46)
		binary.LittleEndian.PutUint32(r, 0x02014b50)
		binary.LittleEndian.PutUint16(r[4:], 20)
		binary.LittleEndian.PutUint16(r[6:], 20)
		binary.LittleEndian.PutUint16(r[32:], commentLen)
		return r
	}
	shard := record(56)
	end64 := make([]byte, 56)
	binary.LittleEndian.PutUint32(end64, 0x06064b50)
	binary.LittleEndian.PutUint64(end64[4:], 44)
	binary.LittleEndian.PutUint64(end64[24:], 1)
	binary.LittleEndian.PutUint64(end64[32:], 1)
	binary.LittleEndian.PutUint64(end64[40:], 46) // the directory's size
	binary.LittleEndian.PutUint64(end64[48:], 0)  // and offset
	shard = append(shard, end64...)
	shard = append(shard, bytes.Repeat(record(0), 65536)...)
	shard = append(shard, zip64Locator(46)...) // the zip64 end record's offset
	if weight := formats.ZipMemory(bytes.NewReader(shard), int64(len(shard))); weight > 1<<10 {
		t.Fatalf("weighed %d bytes: the test's end records do not give the small directory it needs", weight)
	}
	_, err := formats.Zip{}.NewReader(bytes.NewReader(shard), int64(len(shard)), "past")
	if !errors.Is(err, formats.ErrCorrupt) || !strings.Contains(err.Error(), "runs past the 46 bytes") {
		t.Fatalf("a directory of 65,537 records behind an end record of 46 bytes: %v, want refused", err)
	}
}

// A zip64 end record that claims far more members than its central
// directory holds is refused before zip.NewReader sizes its list by the
// claim (8 bytes a member, up to a quarter of the shard's size); the
// same record with the true count reads.
func TestZipClaimOfMembersIsBounded(t *testing.T) {
	shard := writeShard(t, formats.Zip{}, sampleFiles()[:1], 0)
	end := len(shard) - 22 // no comment
	dirSize := binary.LittleEndian.Uint32(shard[end+12:])
	dirOffset := binary.LittleEndian.Uint32(shard[end+16:])
	zip64 := func(records uint64) []byte { return withZip64End(shard, records, uint64(dirSize), uint64(dirOffset)) }
	if files, _, err := readShard(formats.Zip{}, zip64(1)); err != nil || len(files) != 1 {
		t.Fatalf("a zip64 end record of the true count: %d files, %v", len(files), err)
	}
	// An end record that understates its directory's size (zip.NewReader
	// reads from the directory's offset on) is no claim past it.
	understated := bytes.Clone(shard)
	binary.LittleEndian.PutUint32(understated[end+12:], 0)
	if files, _, err := readShard(formats.Zip{}, understated); err != nil || len(files) != 1 {
		t.Fatalf("an end record of directory size 0: %d files, %v", len(files), err)
	}
	claimed := zip64(1 + 100*65536) // the low 16 bits agree with the one member
	if _, err := (formats.Zip{}).NewReader(bytes.NewReader(claimed), int64(len(claimed)), "claim"); !errors.Is(err, formats.ErrCorrupt) || !strings.Contains(err.Error(), "claims 6553601 members") {
		t.Fatalf("a zip64 end record claiming 6,553,601 members: %v, want refused", err)
	}
}

// withZip64End replaces a zip's end record (with no comment) by a zip64
// end record with the counts given, its locator, and an end record that
// points at them.
func withZip64End(shard []byte, records, dirSize, dirOffset uint64) []byte {
	end := len(shard) - 22
	out := bytes.Clone(shard[:end])
	record := make([]byte, 56)
	binary.LittleEndian.PutUint32(record, 0x06064b50)
	binary.LittleEndian.PutUint64(record[4:], 44)
	binary.LittleEndian.PutUint16(record[12:], 45)
	binary.LittleEndian.PutUint16(record[14:], 45)
	binary.LittleEndian.PutUint64(record[24:], records)
	binary.LittleEndian.PutUint64(record[32:], records)
	binary.LittleEndian.PutUint64(record[40:], dirSize)
	binary.LittleEndian.PutUint64(record[48:], dirOffset)
	return append(append(out, record...), zip64Locator(uint64(end))...)
}

// zip64Locator is a zip64 end record's locator (the record at offset)
// and an end record that points at it.
func zip64Locator(offset uint64) []byte {
	locator := make([]byte, 20)
	binary.LittleEndian.PutUint32(locator, 0x07064b50)
	binary.LittleEndian.PutUint64(locator[8:], offset)
	binary.LittleEndian.PutUint32(locator[16:], 1)
	tail := make([]byte, 22)
	binary.LittleEndian.PutUint32(tail, 0x06054b50)
	binary.LittleEndian.PutUint16(tail[8:], 0xffff)
	binary.LittleEndian.PutUint16(tail[10:], 0xffff)
	binary.LittleEndian.PutUint32(tail[12:], 0xffffffff)
	binary.LittleEndian.PutUint32(tail[16:], 0xffffffff)
	return append(locator, tail...)
}

// Nor one whose count fits the room before its end record (the whole
// shard, with a directory offset of 0) but not a directory a zip shard
// may have: its list would be sized by the count all the same.
func TestZipClaimOfMembersIsBoundedByTheDirectoryLimit(t *testing.T) {
	defer formats.SetMaxZipDirectory(1 << 20)()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "big.bin", Method: zip.Store})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(make([]byte, 4<<20))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	claimed := withZip64End(buf.Bytes(), 1+65536, 46, 0) // the low 16 bits agree with the one member
	_, err = (formats.Zip{}).NewReader(bytes.NewReader(claimed), int64(len(claimed)), "claim")
	if !errors.Is(err, formats.ErrCorrupt) || !strings.Contains(err.Error(), "claims 65537 members, more than") {
		t.Fatalf("a zip64 end record claiming 65,537 members in the room of a 4 MiB shard: %v, want refused by the count", err)
	}
}

// A zip member read on detached holds no other member's record, reads
// the same bytes (stored or deflated), and a corrupt one still fails as
// corrupt; Next then ends.
func TestZipDetachedMember(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	bodies := map[string][]byte{"a.jpg": bytes.Repeat([]byte("jpeg bytes "), 100), "b.txt": bytes.Repeat([]byte("text "), 3000), "c.cls": []byte("7"), "e.txt": {}}
	for _, name := range []string{"a.jpg", "b.txt", "c.cls", "e.txt"} {
		method := zip.Deflate
		if name == "a.jpg" {
			method = zip.Store
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(bodies[name])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	read := func(data []byte, member string) ([]byte, error) {
		r, err := formats.Zip{}.NewReader(bytes.NewReader(data), int64(len(data)), "test-shard")
		if err != nil {
			return nil, err
		}
		for {
			e, err := r.Next()
			if err != nil {
				return nil, err
			}
			if e.Name != member {
				continue
			}
			if err := r.(formats.Detacher).Detach(); err != nil {
				return nil, err
			}
			if held := formats.ZipMembersHeld(r); held != 0 {
				t.Fatalf("%d members' records held after the detach", held)
			}
			got, err := io.ReadAll(io.LimitReader(r, e.Size))
			if err != nil {
				return got, err
			}
			if _, err := r.Read(make([]byte, 1)); err != io.EOF {
				return got, fmt.Errorf("past the member: %v", err)
			}
			// Read to its end, it gave its decompressor back.
			if formats.ZipDataOpen(r) {
				return got, errors.New("the member's decompressor is held past its end")
			}
			if _, err := r.Read(make([]byte, 1)); err != io.EOF {
				return got, fmt.Errorf("past the member: %v", err)
			}
			if _, err := r.Next(); err != io.EOF {
				return got, fmt.Errorf("a next member after a detach: %v", err)
			}
			return got, nil
		}
	}
	for name, body := range bodies {
		got, err := read(good, name)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("%s detached: %d bytes, %v; want its %d", name, len(got), err, len(body))
		}
	}
	bad := bytes.Clone(good)
	bad[bytes.Index(bad, bodies["a.jpg"])+5] ^= 0x55
	if _, err := read(bad, "a.jpg"); !errors.Is(err, formats.ErrCorrupt) {
		t.Fatalf("a flipped byte of a detached stored member: %v, want corrupt", err)
	}
	// A member of CRC 0 with a data descriptor is checked as any other.
	buf.Reset()
	zw = zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "d.cls", Method: zip.Store, Flags: 0x8, CRC32: 0, CompressedSize64: 1, UncompressedSize64: 1})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("7"))
	zw.Close()
	if _, err := read(buf.Bytes(), "d.cls"); !errors.Is(err, formats.ErrCorrupt) {
		t.Fatalf("a detached member whose data is not its CRC of 0: %v, want corrupt", err)
	}
}

// A zip member with data is a file whatever its mode bits say (an
// MS-DOS directory bit, a Unix FIFO's), as unzip and Python's zipfile
// read it; a name ending in "/" or a directory bit with no data is a
// directory, which holds no record.
func TestZipMembersWithDataAreFiles(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, data []byte, external uint32, creator uint16) {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate, ExternalAttrs: external, CreatorVersion: creator << 8}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	const msdos, unix = 0, 3
	add("s1.jpg", []byte("jpeg bytes"), 0x10, msdos)        // the MS-DOS directory bit
	add("s2.jpg", []byte("fifo bytes"), 0o010644<<16, unix) // S_IFIFO
	add("dir/", nil, 0x10, msdos)
	add("marker", nil, 0x10, msdos)
	add("s3.jpg", []byte("plain"), 0o100644<<16, unix)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	files, _, err := readShard(formats.Zip{}, buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.Name+"="+string(f.Data))
	}
	if want := []string{"s1.jpg=jpeg bytes", "s2.jpg=fifo bytes", "s3.jpg=plain"}; !slices.Equal(got, want) {
		t.Fatalf("the members read: %q, want %q", got, want)
	}
}

// A member name that is absolute on Windows once cleaned (./C:x is C:x)
// is refused on read, as one that is absolute as it stands.
func TestNamesUnsafeOnceCleanedAreRefused(t *testing.T) {
	for _, name := range []string{"./C:x", `./\x`, "a/../c:x"} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: 1, Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte("x"))
		tw.Close()
		if _, _, err := readShard(formats.Tar{}, buf.Bytes()); err == nil || !strings.Contains(err.Error(), "absolute or escapes") {
			t.Errorf("a member named %q: %v, want refused", name, err)
		}
	}
}

// shortReaderAt is an object whose bytes end before its declared size
// (a file cut by a crash, a backend's short answer).
type shortReaderAt struct{ *bytes.Reader }

// A tar object shorter than its size, cut where the next header starts,
// is not a whole shard of fewer entries: the read fails.
func TestTarObjectShorterThanItsSizeFails(t *testing.T) {
	data := writeShard(t, formats.Tar{}, []file{{"a.jpg", bytes.Repeat([]byte("x"), 1000)}, {"b.jpg", []byte("y")}}, 0)
	cut := data[:512+1024] // a.jpg whole; b.jpg's header not there
	for _, f := range []formats.Format{formats.Tar{}, formats.TarGzip{}} {
		shard := cut
		if _, ok := f.(formats.TarGzip); ok {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(data)
			zw.Close()
			shard = buf.Bytes()[:buf.Len()/2]
		}
		r, err := f.NewReader(shortReaderAt{bytes.NewReader(shard)}, int64(len(shard))+512, "short-shard")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for {
			e, err := r.Next()
			if err == io.EOF {
				t.Fatalf("%T: a shard shorter than its size read whole: %v", f, names)
			}
			if err != nil {
				if !errors.Is(err, formats.ErrCorrupt) {
					t.Fatalf("%T: %v, want the shard corrupt", f, err)
				}
				break
			}
			names = append(names, e.Name)
			io.Copy(io.Discard, r)
		}
	}
}

// An empty member stored as deflated with no bytes at all (no deflate
// stream: some writers' empty file) reads as empty, as unzip and Python
// read it; one whose CRC says it had data is corrupt.
func TestZipEmptyDeflatedMemberWithoutBytes(t *testing.T) {
	build := func(crc uint32) []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		if _, err := zw.CreateRaw(&zip.FileHeader{Name: "a.cls", Method: zip.Deflate, CRC32: crc}); err != nil {
			t.Fatal(err)
		}
		w, _ := zw.Create("b.cls")
		w.Write([]byte("7"))
		zw.Close()
		return buf.Bytes()
	}
	got, _, err := readShard(formats.Zip{}, build(0))
	if err != nil || len(got) != 2 || got[0].Name != "a.cls" || len(got[0].Data) != 0 || string(got[1].Data) != "7" {
		t.Fatalf("a zip with an empty deflated member of no bytes: %+v %v", got, err)
	}
	if _, _, err := readShard(formats.Zip{}, build(0x1234)); !errors.Is(err, formats.ErrCorrupt) {
		t.Fatalf("an empty member whose CRC is not 0: %v, want ErrCorrupt", err)
	}
}

// A tar's entries that are not files (directories, links) are bounded: a
// compressed run of millions parses without returning an entry.
func TestTarSkippedEntriesAreBounded(t *testing.T) {
	defer formats.SetMaxSkippedEntries(100)()
	build := func(dirs int) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for i := range dirs {
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: fmt.Sprintf("d%03d/", i), Mode: 0o755})
		}
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "a.jpg", Size: 1, Mode: 0o644})
		tw.Write([]byte("x"))
		tw.Close()
		return buf.Bytes()
	}
	if got, _, err := readShard(formats.Tar{}, build(100)); err != nil || len(got) != 1 {
		t.Fatalf("a tar with 100 directories: %d files, %v", len(got), err)
	}
	if _, _, err := readShard(formats.Tar{}, build(101)); !errors.Is(err, formats.ErrCorrupt) || !strings.Contains(err.Error(), "not files") {
		t.Fatalf("a tar with 101 directories, 100 allowed: %v", err)
	}
}

// A zip whose central directory is damaged a multiple of 65,536 records
// before its end is refused: the reader stops at the first record that
// does not parse and compares 16 bits of the count only, and would give
// the records before it as the whole shard.
func TestZipDirectoryCutSilentlyIsRefused(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	const members = 65537 // past 16 bits: the count is in the zip64 end record
	for i := range members {
		if _, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("%05d", i), Method: zip.Store}); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	if _, err := (formats.Zip{}).NewReader(bytes.NewReader(data), int64(len(data)), "whole.zip"); err != nil {
		t.Fatalf("the whole zip: %v", err)
	}
	// The second record's signature damaged: one readable, 65,537 said.
	first := bytes.Index(data, []byte("PK\x01\x02"))
	second := first + bytes.Index(data[first+4:], []byte("PK\x01\x02")) + 4
	damaged := slices.Clone(data)
	damaged[second] = 'X'
	_, err := (formats.Zip{}).NewReader(bytes.NewReader(damaged), int64(len(damaged)), "cut.zip")
	if !errors.Is(err, formats.ErrCorrupt) {
		t.Fatalf("a zip whose directory is cut 65,536 records before its end: %v, want corrupt", err)
	}
}
