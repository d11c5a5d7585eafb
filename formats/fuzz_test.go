package formats_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/aisgo/aisgo/formats"
)

// Limits of one fuzz input, so that a small compressed input claiming
// gigabytes ends the run quickly instead of exhausting memory.
const (
	fuzzMaxBytes   = 8 << 20
	fuzzMaxEntries = 4096
)

var errFuzzLimit = errors.New("fuzz input over the limits")

// readLimited reads a shard like readShard, within the fuzz limits.
func readLimited(f formats.Format, data []byte) ([]file, []formats.Entry, error) {
	r, err := f.NewReader(bytes.NewReader(data), int64(len(data)), "fuzz")
	if err != nil {
		return nil, nil, err
	}
	var files []file
	var entries []formats.Entry
	var total int64
	for {
		e, err := r.Next()
		if err == io.EOF {
			return files, entries, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if len(files) == fuzzMaxEntries || e.Size > fuzzMaxBytes-total {
			return nil, nil, errFuzzLimit
		}
		var content bytes.Buffer
		n, err := io.Copy(&content, io.LimitReader(r, e.Size+1))
		if err != nil {
			return nil, nil, err
		}
		if n != e.Size {
			return nil, nil, errors.New("entry data length differs from its size")
		}
		total += n
		files = append(files, file{e.Name, content.Bytes()})
		entries = append(entries, *e)
	}
}

// fuzzReader is the property every reader must have: reading arbitrary
// bytes never panics and fails only with a corruption or unsupported-feature
// HeaderError; what reads without error writes and reads back the same.
func fuzzReader(f *testing.F, format formats.Format) {
	reg := formats.Default()
	goldens, _ := filepath.Glob("testdata/*")
	for _, path := range goldens {
		if g, ok := reg.ByName(path); ok && g.Name() == format.Name() {
			if data, err := os.ReadFile(path); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add(writeShard(f, format, nil, 0))
	f.Add(writeShard(f, format, []file{{"a.jpg", []byte("jpeg")}, {"a.cls", []byte("1")}, {"b/c.txt", nil}}, 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) { checkReader(t, format, data) })
}

// checkReader is the property of fuzzReader for one input.
func checkReader(t *testing.T, format formats.Format, data []byte) {
	t.Helper()
	files, entries, err := readLimited(format, data)
	if errors.Is(err, errFuzzLimit) {
		return
	}
	if err != nil {
		if _, ok := errors.AsType[*formats.HeaderError](err); !ok {
			t.Fatalf("error %v is not a HeaderError", err)
		}
		if !errors.Is(err, formats.ErrCorrupt) && !errors.Is(err, formats.ErrUnsupported) {
			t.Fatalf("error %v is neither corrupt nor unsupported", err)
		}
		return
	}
	if format.Offsets() {
		for i, e := range entries {
			if e.HeaderOffset < 0 || e.DataOffset-e.HeaderOffset < 512 || e.RawSize()%512 != 0 ||
				e.DataOffset+e.Size > int64(len(data)) || !bytes.Equal(data[e.DataOffset:e.DataOffset+e.Size], files[i].Data) {
				t.Fatalf("entry %q: offsets %d, %d, size %d in a %d-byte shard", e.Name, e.HeaderOffset, e.DataOffset, e.Size, len(data))
			}
		}
	}
	out := writeShard(t, format, files, 0)
	again, _, err := readShard(format, out)
	if err != nil {
		t.Fatalf("reading what we wrote: %v", err)
	}
	if !equalFiles(again, files) {
		t.Fatalf("round trip changed the entries: %v, then %v", files, again)
	}
}

func FuzzTarReader(f *testing.F)      { fuzzReader(f, formats.Tar{}) }
func FuzzTarGzipReader(f *testing.F)  { fuzzReader(f, formats.TarGzip{}) }
func FuzzZipReader(f *testing.F)      { fuzzReader(f, formats.Zip{}) }
func FuzzTarLZ4Reader(f *testing.F)   { fuzzReader(f, formats.TarLZ4{}) }
func FuzzTarZstdReader(f *testing.F)  { fuzzReader(f, formats.TarZstd{}) }
func FuzzMsgpackReader(f *testing.F)  { fuzzReader(f, formats.Msgpack{}) }
func FuzzTFRecordReader(f *testing.F) { fuzzReader(f, formats.TFRecord{}) }

// FuzzTFRecordExample fuzzes the Example decoder behind the checksums,
// which random bytes never pass: the input is one record's data, framed
// with valid checksums.
func FuzzTFRecordExample(f *testing.F) {
	seed := writeShard(f, formats.TFRecord{}, []file{{"a.jpg", []byte("jpeg")}, {"a.cls", []byte("1")}}, 0)
	f.Add(seed[12 : len(seed)-4])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, example []byte) {
		checkReader(t, formats.TFRecord{}, frameTFRecord(example))
	})
}

// frameTFRecord frames data as one TFRecord.
func frameTFRecord(data []byte) []byte {
	table := crc32.MakeTable(crc32.Castagnoli)
	mask := func(c uint32) uint32 { return (c>>15 | c<<17) + 0xa282ead8 }
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(data)))
	out = binary.LittleEndian.AppendUint32(out, mask(crc32.Checksum(out, table)))
	out = append(out, data...)
	return binary.LittleEndian.AppendUint32(out, mask(crc32.Checksum(data, table)))
}
