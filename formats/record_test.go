package formats_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/tinylib/msgp/msgp"

	"github.com/aisgo/aisgo/formats"
)

// recordFormats are the formats whose shards hold records, not files.
func recordFormats() []formats.Format { return []formats.Format{formats.Msgpack{}, formats.TFRecord{}} }

// msgpackRecords decodes a msgpack shard into its maps' field names, to
// check how a writer grouped entries into records.
func msgpackRecords(t *testing.T, data []byte) [][]string {
	t.Helper()
	var records [][]string
	for len(data) > 0 {
		n, rest, err := msgp.ReadMapHeaderBytes(data)
		if err != nil {
			t.Fatal(err)
		}
		var fields []string
		for range n {
			var name, value []byte
			if name, rest, err = msgp.ReadMapKeyZC(rest); err != nil {
				t.Fatal(err)
			}
			if value, rest, err = msgp.ReadMapKeyZC(rest); err != nil { // the key is str, values bin
				t.Fatal(err)
			}
			if string(name) == "__key__" {
				name = append([]byte("="), value...)
			}
			fields = append(fields, string(name))
		}
		records = append(records, fields)
		data = rest
	}
	return records
}

// TestRecordGrouping: consecutive entries of one key make one record; a
// new key or a repeated extension starts another; names without an
// extension, with a trailing dot or a leading one read back unchanged.
func TestRecordGrouping(t *testing.T) {
	files := []file{
		{"a/1.jpg", []byte("jpeg")}, {"a/1.cls", []byte("7")}, {"a/1.json", []byte("{}")},
		{"a/1.jpg", []byte("again")}, // a repeated extension: a new record
		{"b", []byte("no extension")}, {"b.txt", []byte("same key")},
		{"c.", []byte("trailing dot")}, {"d/.hidden", []byte("leading dot")},
		{"e.tar.gz", []byte("two dots")}, {"x.y/z", []byte("dot in a directory")},
	}
	for _, f := range recordFormats() {
		t.Run(f.Name(), func(t *testing.T) {
			data := writeShard(t, f, files, 0)
			got, _, err := readShard(f, data)
			if err != nil {
				t.Fatal(err)
			}
			if !equalFiles(got, files) {
				t.Fatalf("read back %v, want %v", got, files)
			}
		})
	}
	data := writeShard(t, formats.Msgpack{}, files, 0)
	got := fmt.Sprint(msgpackRecords(t, data))
	want := "[[=a/1 jpg cls json] [=a/1 jpg] [=b  txt] [=c. ] [=d/ hidden] [=e tar.gz] [=x.y/z ]]"
	if got != want {
		t.Errorf("msgpack records %s, want %s", got, want)
	}
}

// TestEndRecordKeepsRecordsOfOneKeyApart: two records of one key (from
// two input shards, sorted next to each other) stay two when the writer
// is told where the first ends, not merged while their fields differ.
func TestEndRecordKeepsRecordsOfOneKeyApart(t *testing.T) {
	for _, f := range recordFormats() {
		var buf bytes.Buffer
		w, err := f.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		for i, name := range []string{"s1.cls", "s1.jpg", "", "s1.json", "s1.jpg", ""} {
			if name == "" {
				if err := w.(formats.RecordEnder).EndRecord(); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if err := w.WriteHeader(&formats.Entry{Name: name, Size: 1}); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte{byte('0' + i)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if f.Name() == "msgpack" {
			if got, want := fmt.Sprint(msgpackRecords(t, buf.Bytes())), "[[=s1 cls jpg] [=s1 json jpg]]"; got != want {
				t.Errorf("msgpack records %s, want %s", got, want)
			}
			continue
		}
		records := 0
		for data := buf.Bytes(); len(data) >= 12; records++ {
			data = data[12+int(binary.LittleEndian.Uint64(data))+4:]
		}
		if records != 2 {
			t.Errorf("%s: %d records, want 2", f.Name(), records)
		}
	}
}

// TestMsgpackLayout pins the bytes of a record: the key first as a str,
// then each extension as a str and its data as a bin, smallest encodings.
func TestMsgpackLayout(t *testing.T) {
	data := writeShard(t, formats.Msgpack{}, []file{{"a.jpg", []byte("x")}, {"a.cls", []byte("7")}}, 0)
	want := []byte("\x83\xa7__key__\xa1a\xa3jpg\xc4\x01x\xa3cls\xc4\x017")
	if !bytes.Equal(data, want) {
		t.Errorf("msgpack shard %q, want %q", data, want)
	}
	// A key that is not UTF-8 cannot be a msgpack str: it goes as a bin.
	bin := writeShard(t, formats.Msgpack{}, []file{{"\xff.jpg", []byte("x")}}, 0)
	if !bytes.Contains(bin, []byte("\xc4\x01\xff\xa3jpg")) {
		t.Errorf("non-UTF-8 key written as %q", bin)
	}
	if got, _, err := readShard(formats.Msgpack{}, bin); err != nil || len(got) != 1 || got[0].Name != "\xff.jpg" {
		t.Errorf("non-UTF-8 key read back as %v, %v", got, err)
	}
}

// TestTFRecordLayout checks the framing of what we write against the
// spec: length, masked CRC-32C of the length, data, masked CRC of it.
func TestTFRecordLayout(t *testing.T) {
	data := writeShard(t, formats.TFRecord{}, []file{{"a.jpg", []byte("x")}, {"b.cls", []byte("7")}}, 0)
	table := crc32.MakeTable(crc32.Castagnoli)
	mask := func(c uint32) uint32 { return (c>>15 | c<<17) + 0xa282ead8 }
	// Example{features{feature{"__key__": bytes_list{"a"}}, feature{"jpg": bytes_list{"x"}}}}
	first := []byte("\x0a\x20" +
		"\x0a\x10\x0a\x07__key__\x12\x05\x0a\x03\x0a\x01a" +
		"\x0a\x0c\x0a\x03jpg\x12\x05\x0a\x03\x0a\x01x")
	var records int
	for off := 0; off < len(data); records++ {
		length := binary.LittleEndian.Uint64(data[off:])
		if got := binary.LittleEndian.Uint32(data[off+8:]); got != mask(crc32.Checksum(data[off:off+8], table)) {
			t.Fatalf("record at %d: length CRC %08x", off, got)
		}
		payload := data[off+12 : off+12+int(length)]
		if got := binary.LittleEndian.Uint32(data[off+12+int(length):]); got != mask(crc32.Checksum(payload, table)) {
			t.Fatalf("record at %d: data CRC %08x", off, got)
		}
		if off == 0 && !bytes.Equal(payload, first) {
			t.Errorf("first Example %q, want %q", payload, first)
		}
		off += 12 + int(length) + 4
	}
	if records != 2 {
		t.Errorf("%d records, want 2", records)
	}
}

// TestRecordWriterRefuses: an extension named like the key field, and for
// TFRecord an extension that is not UTF-8 (a protobuf string), are invalid
// names; the writer stays usable.
func TestRecordWriterRefuses(t *testing.T) {
	for _, tc := range []struct {
		format formats.Format
		name   string
	}{
		{formats.Msgpack{}, "a.__key__"},
		{formats.TFRecord{}, "a.__key__"},
		{formats.TFRecord{}, "a.\xff"},
	} {
		var buf bytes.Buffer
		w, _ := tc.format.NewWriter(&buf)
		if err := w.WriteHeader(&formats.Entry{Name: tc.name, Size: 1}); !errors.Is(err, formats.ErrInvalidName) {
			t.Errorf("%s: WriteHeader(%q) = %v, want ErrInvalidName", tc.format.Name(), tc.name, err)
		}
		if err := w.WriteHeader(&formats.Entry{Name: "a.jpg", Size: 1}); err != nil {
			t.Errorf("%s: writer unusable after a refused name: %v", tc.format.Name(), err)
		}
		w.Write([]byte("x"))
		if err := w.Close(); err != nil {
			t.Errorf("%s: Close: %v", tc.format.Name(), err)
		}
	}
}

// TestRecordLimits: a record of more values than a reader keeps is split
// by the writer and refused by the reader before it allocates anything.
func TestRecordLimits(t *testing.T) {
	var files []file
	for i := range 5000 {
		files = append(files, file{fmt.Sprintf("k.%d", i), []byte{byte(i)}})
	}
	for _, f := range recordFormats() {
		got, _, err := readShard(f, writeShard(t, f, files, 0))
		if err != nil || !equalFiles(got, files) {
			t.Errorf("%s: 5000 values of one key read back as %d files, %v", f.Name(), len(got), err)
		}
	}
	if n := len(msgpackRecords(t, writeShard(t, formats.Msgpack{}, files, 0))); n != 2 {
		t.Errorf("5000 values in %d msgpack records, want 2", n)
	}
	huge := msgp.AppendMapHeader(nil, 1<<30)
	_, _, err := readShard(formats.Msgpack{}, huge)
	if !errors.Is(err, formats.ErrUnsupported) {
		t.Errorf("a map of 2^30 fields: %v, want unsupported", err)
	}
}

// TestRecordLengthsBounded: lengths that claim more than the shard holds
// are corruption at the record, never an allocation of that size.
func TestRecordLengthsBounded(t *testing.T) {
	mp := msgp.AppendMapHeader(nil, 2)
	mp = msgp.AppendString(mp, "__key__")
	mp = msgp.AppendString(mp, "a")
	mp = append(mp, 0xa3, 'j', 'p', 'g', 0xc6, 0xff, 0xff, 0xff, 0xf0) // bin32 of 4 GiB - 16
	name := msgp.AppendMapHeader(nil, 1)
	name = append(name, 0xdb, 0xff, 0xff, 0xff, 0xf0) // str32 name of 4 GiB - 16

	var tf [16]byte
	binary.LittleEndian.PutUint64(tf[:], 1<<62)
	table := crc32.MakeTable(crc32.Castagnoli)
	c := crc32.Checksum(tf[:8], table)
	binary.LittleEndian.PutUint32(tf[8:], (c>>15|c<<17)+0xa282ead8)

	for _, tc := range []struct {
		format formats.Format
		data   []byte
	}{
		{formats.Msgpack{}, mp},
		{formats.Msgpack{}, name},
		{formats.TFRecord{}, tf[:]},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, err := readShard(tc.format, tc.data)
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
			t.Errorf("%s %x: reading allocated %d bytes", tc.format.Name(), tc.data, grew)
		}
		he, ok := errors.AsType[*formats.HeaderError](err)
		if !ok || !errors.Is(err, formats.ErrCorrupt) || he.Offset != 0 {
			t.Errorf("%s %x: error %v, want corruption at offset 0", tc.format.Name(), tc.data, err)
		}
	}
}

// TestRecordErrorsNameShardAndOffset: a TFRecord whose data checksum
// fails and a msgpack stream cut inside a record name the shard, the
// record's offset and what is wrong; the error is sticky.
func TestRecordErrorsNameShardAndOffset(t *testing.T) {
	for _, tc := range []struct {
		format formats.Format
		golden string
		says   string
	}{
		{formats.TFRecord{}, "bad-crc.tfrecord", "record data checksum mismatch"},
		{formats.TFRecord{}, "bad-length.tfrecord", "record length checksum mismatch"},
		{formats.TFRecord{}, "truncated.tfrecord", "runs past the end of the shard"},
		{formats.Msgpack{}, "truncated.msgpack", `runs past the end of the shard: field "jpg" of 700 bytes`},
	} {
		data, err := os.ReadFile("testdata/" + tc.golden)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile("testdata/" + tc.golden + ".want")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(want)), "\n")
		offset := strings.TrimPrefix(lines[len(lines)-1], "error corrupt ")
		shard := "bucket/" + tc.golden
		r, _ := tc.format.NewReader(bytes.NewReader(data), int64(len(data)), shard)
		var readErr error
		for readErr == nil {
			if _, readErr = r.Next(); readErr == nil {
				_, readErr = io.Copy(io.Discard, r)
			}
		}
		msg := readErr.Error()
		if !strings.Contains(msg, `"`+shard+`"`) || !strings.Contains(msg, "offset "+offset+":") || !strings.Contains(msg, tc.says) {
			t.Errorf("%s: error %q does not name the shard, offset %s and %q", tc.golden, msg, offset, tc.says)
		}
		if _, again := r.Next(); again != readErr {
			t.Errorf("%s: error is not sticky: %v", tc.golden, again)
		}
	}
}

// TestMsgpackHeadersOnly: a caller reading only the names of a msgpack
// shard makes the reader seek over the values.
func TestMsgpackHeadersOnly(t *testing.T) {
	var files []file
	for i := range 40 {
		files = append(files, file{fmt.Sprintf("s-%02d.jpg", i), randomBytes(uint64(i), 256<<10)})
	}
	data := writeShard(t, formats.Msgpack{}, files, 0)
	counter := &countingReaderAt{r: bytes.NewReader(data)}
	r, _ := formats.Msgpack{}.NewReader(counter, int64(len(data)), "headers")
	n := countEntries(t, r)
	if n != len(files) {
		t.Fatalf("%d entries, want %d", n, len(files))
	}
	if read := counter.bytes.Load(); read > int64(len(files))*8<<10 {
		t.Errorf("reading %d names read %d of %d bytes", n, read, len(data))
	}
}

// TestMsgpackCutInsideHeader: a stream cut inside a name says so.
func TestMsgpackCutInsideHeader(t *testing.T) {
	data := writeShard(t, formats.Msgpack{}, []file{{"a.jpg", []byte("x")}, {"b.jpg", []byte("y")}}, 0)
	second := len(data) / 2 // both records are the same size
	_, got, err := readShard(formats.Msgpack{}, data[:second+5])
	he, ok := errors.AsType[*formats.HeaderError](err)
	if len(got) != 1 || !ok || he.Offset != int64(second) || !strings.Contains(err.Error(), "msgpack stream ends inside a record") {
		t.Errorf("cut stream: %d entries, error %v", len(got), err)
	}
}

// TestRecordCopyAllocations: copying records from msgpack to TFRecord
// with io.Copy gathers them in pooled slabs, not fresh buffers.
func TestRecordCopyAllocations(t *testing.T) {
	var files []file
	for i := range 100 {
		files = append(files, file{fmt.Sprintf("s-%03d.jpg", i), randomBytes(uint64(i), 64<<10)}, file{fmt.Sprintf("s-%03d.cls", i), []byte("1")})
	}
	if perEntry := allocationsPerEntry(t, formats.Msgpack{}, formats.TFRecord{}, files); perEntry > 2<<10 {
		t.Errorf("copying a record value allocates %d bytes", perEntry)
	}
}

// A record bigger than a writer keeps in memory is refused with a clear
// error before its bytes are taken, whether one value or several.
func TestRecordTooBigToBuffer(t *testing.T) {
	for _, f := range recordFormats() {
		w, err := f.NewWriter(io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteHeader(&formats.Entry{Name: "k.bin", Size: formats.MaxBufferedRecord + 1}); !errors.Is(err, formats.ErrEntrySize) || !strings.Contains(err.Error(), "in memory") {
			t.Errorf("%s: one value over the limit: %v", f.Name(), err)
		}
		if err := w.WriteHeader(&formats.Entry{Name: "k.cls", Size: 1}); err != nil {
			t.Fatalf("%s: %v", f.Name(), err)
		}
		w.Write([]byte{1})
		if err := w.WriteHeader(&formats.Entry{Name: "k.bin", Size: formats.MaxBufferedRecord}); !errors.Is(err, formats.ErrEntrySize) {
			t.Errorf("%s: values summing over the limit: %v", f.Name(), err)
		}
		// A size whose sum with the record's overflows is refused too.
		if err := w.WriteHeader(&formats.Entry{Name: "k.big", Size: math.MaxInt64}); err == nil {
			t.Errorf("%s: a value of MaxInt64 bytes after another is taken", f.Name())
		}
		// Another record starts afresh.
		if err := w.WriteHeader(&formats.Entry{Name: "other.cls", Size: 1}); err != nil {
			t.Errorf("%s: the next record: %v", f.Name(), err)
		}
		w.Write([]byte{2})
		if err := w.Close(); err != nil {
			t.Errorf("%s: close: %v", f.Name(), err)
		}
	}
}

// A record key with a dot in its base name is refused: its members,
// named KEY.FIELD, would be grouped (up to the first dot) with another
// key's into one record, and written back under a key neither had.
func TestRecordKeyWithADotRefused(t *testing.T) {
	shard := []byte("\x82\xa7__key__\xa3s.1\xa3jpg\xc4\x01x" + "\x82\xa7__key__\xa3s.2\xa3jpg\xc4\x01y")
	_, _, err := readShard(formats.Msgpack{}, shard)
	if !errors.Is(err, formats.ErrUnsupported) || !strings.Contains(err.Error(), `"s.1"`) {
		t.Fatalf("keys s.1 and s.2: %v, want ErrUnsupported naming the key", err)
	}
	fine := []byte("\x82\xa7__key__\xa6d.ir/s\xa3jpg\xc4\x01x")
	if got, _, err := readShard(formats.Msgpack{}, fine); err != nil || len(got) != 1 || got[0].Name != "d.ir/s.jpg" {
		t.Fatalf("a dot in the key's directory: %v, %v", got, err)
	}
	// A key as WebDataset gives one of a tar made of "." is its clean
	// name's.
	dotted := []byte("\x82\xa7__key__\xa3./s\xa3jpg\xc4\x01x")
	if got, _, err := readShard(formats.Msgpack{}, dotted); err != nil || len(got) != 1 || got[0].Name != "s.jpg" {
		t.Fatalf("the key ./s: %v, %v", got, err)
	}
}

// A shard of records with a key alone (no file) is bounded as a tar's
// entries that are not files: a run of them parses within one Next, with
// no file counted and no abort checked.
func TestRecordsWithoutAFileAreBounded(t *testing.T) {
	defer formats.SetMaxSkippedEntries(10)()
	keyOnly := []byte("\x81\xa7__key__\xa1a")
	for _, tc := range []struct {
		records int
		refused bool
	}{{10, false}, {11, true}} {
		data := bytes.Repeat(keyOnly, tc.records)
		r, err := formats.Msgpack{}.NewReader(bytes.NewReader(data), int64(len(data)), "keys.msgpack")
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Next()
		if refused := err != nil && err != io.EOF; refused != tc.refused || refused && !strings.Contains(err.Error(), "records without a file") {
			t.Errorf("%d records with a key alone: %v, want refused %v", tc.records, err, tc.refused)
		}
	}
}
