package creation_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aisgo/aisgo/creation"
	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/shards"
)

// record is one record's files in a fake holder.
type record struct {
	files []creation.File
	data  [][]byte
}

// memSource serves records from memory, keyed by holder and id.
type memSource struct {
	records map[int32]map[shards.RecordID]record
	opened  map[int32]int
	mu      sync.Mutex
	// cut ends holder 1's stream early, to test a broken stream.
	cut bool
	// broken fails the reads of holder 0's files with it.
	broken error
	// most, when set, refuses a fetch of more records, as a holder does.
	most int
	// asked are the fetches, as "holder:records".
	asked []string
	// served are the records asked for.
	served map[shards.RecordID]bool
}

func (s *memSource) Open(ctx context.Context, holder int32, metas []shards.RecordMeta) (creation.Stream, error) {
	if s.most > 0 && len(metas) > s.most {
		return nil, fmt.Errorf("a fetch of %d records, at most %d", len(metas), s.most)
	}
	s.mu.Lock()
	s.opened[holder]++
	s.asked = append(s.asked, fmt.Sprintf("%d:%d", holder, len(metas)))
	// A holder serves each record once (it frees it as it goes).
	if s.served == nil {
		s.served = map[shards.RecordID]bool{}
	}
	for _, m := range metas {
		if s.served[m.ID] {
			s.mu.Unlock()
			return nil, fmt.Errorf("record %d/%d was asked for already", m.ID.Shard, m.ID.Record)
		}
		s.served[m.ID] = true
	}
	s.mu.Unlock()
	st := &memStream{}
	if holder == 0 {
		st.broken = s.broken
	}
	for i, m := range metas {
		if s.cut && holder == 1 && i == len(metas)-1 {
			break
		}
		r := s.records[holder][m.ID]
		st.files = append(st.files, r.files...)
		st.data = append(st.data, r.data...)
	}
	return st, nil
}

type memStream struct {
	files  []creation.File
	data   [][]byte
	next   int
	cur    io.Reader
	broken error
}

func (s *memStream) Next() (creation.File, error) {
	if s.next >= len(s.files) {
		return creation.File{}, io.EOF
	}
	f := s.files[s.next]
	s.cur = bytes.NewReader(s.data[s.next])
	s.next++
	return f, nil
}

func (s *memStream) Read(p []byte) (int, error) {
	if s.broken != nil {
		return 0, s.broken
	}
	return s.cur.Read(p)
}
func (s *memStream) Close() error { return nil }

type memSink struct {
	mu     sync.Mutex
	shards map[string][]byte
	fail   string
}

func (s *memSink) Put(ctx context.Context, name string, r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if name == s.fail {
		return errors.New("disk full")
	}
	s.mu.Lock()
	s.shards[name] = data
	s.mu.Unlock()
	return nil
}

func fixture(holders int) (*memSource, []shards.OutputShard) {
	src := &memSource{records: map[int32]map[shards.RecordID]record{}, opened: map[int32]int{}}
	var planned []shards.OutputShard
	for s := range 3 {
		out := shards.OutputShard{Name: fmt.Sprintf("out-%d.tar", s)}
		for r := range 6 {
			id := shards.RecordID{Shard: int32(s), Record: int32(r)}
			holder := int32((s + r) % holders)
			name := fmt.Sprintf("rec-%d-%d", s, r)
			rec := record{
				files: []creation.File{{Name: name + ".jpg", Size: 5}, {Name: name + ".cls", Size: 1, Last: true}},
				data:  [][]byte{[]byte(fmt.Sprintf("img%02d", r)), []byte(fmt.Sprint(r % 10))},
			}
			if src.records[holder] == nil {
				src.records[holder] = map[shards.RecordID]record{}
			}
			src.records[holder][id] = rec
			out.Records = append(out.Records, shards.RecordMeta{ID: id, Holder: holder, Size: shards.EncodedSize(5) + shards.EncodedSize(1)})
		}
		planned = append(planned, out)
	}
	return src, planned
}

func readNames(t *testing.T, f formats.Format, data []byte) []string {
	t.Helper()
	rd, err := f.NewReader(bytes.NewReader(data), int64(len(data)), "out")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for {
		e, err := rd.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, e.Name)
	}
}

// Records come out in the planned order, each holder asked once per shard.
func TestRunWritesPlannedOrderWithOneStreamPerHolder(t *testing.T) {
	for _, ext := range []string{".tar", ".tgz", ".zip"} {
		src, planned := fixture(3)
		sink := &memSink{shards: map[string][]byte{}}
		f, _ := formats.Default().ByExtension(ext)
		var counters creation.Counters
		if err := creation.Run(t.Context(), creation.Config{Format: f, Concurrency: 2}, planned, src, sink, &counters); err != nil {
			t.Fatal(err)
		}
		for _, s := range planned {
			var want []string
			for _, r := range s.Records {
				want = append(want, fmt.Sprintf("rec-%d-%d.jpg", r.ID.Shard, r.ID.Record), fmt.Sprintf("rec-%d-%d.cls", r.ID.Shard, r.ID.Record))
			}
			if got := readNames(t, f, sink.shards[s.Name]); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("%s %s: entries %v, want %v", ext, s.Name, got, want)
			}
		}
		for h, n := range src.opened {
			if n != 3 {
				t.Fatalf("holder %d opened %d times for 3 shards, want one stream per shard", h, n)
			}
		}
		if counters.Shards.Load() != 3 || counters.Records.Load() != 18 || counters.Bytes.Load() == 0 {
			t.Fatalf("counters: %d shards, %d records, %d bytes", counters.Shards.Load(), counters.Records.Load(), counters.Bytes.Load())
		}
	}
}

func TestRawEntriesAreCopiedVerbatim(t *testing.T) {
	tar, _ := formats.Default().ByExtension(".tar")
	var in bytes.Buffer
	w, _ := tar.NewWriter(&in)
	w.WriteHeader(&formats.Entry{Name: "x.jpg", Size: 3})
	w.Write([]byte("abc"))
	w.Close()
	raw := in.Bytes()[:1024] // header block and one padded data block
	src := &memSource{records: map[int32]map[shards.RecordID]record{0: {{}: {
		files: []creation.File{{Name: "x.jpg", Size: 3, Raw: true, RawSize: 1024, Last: true}},
		data:  [][]byte{raw},
	}}}, opened: map[int32]int{}}
	shard := &shards.OutputShard{Name: "o.tar", Records: []shards.RecordMeta{{Size: shards.EncodedSize(3)}}}
	var out bytes.Buffer
	if err := creation.Build(t.Context(), tar, shard, src, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes()[:1024], raw) {
		t.Fatal("the raw entry was re-encoded")
	}
	// A raw entry whose header is not one names its holder and record.
	corrupt := bytes.Clone(raw)
	corrupt[148] ^= 0xff // the header's checksum
	src.records[0][shards.RecordID{}] = record{files: src.records[0][shards.RecordID{}].files, data: [][]byte{corrupt}}
	src.served = nil // another job's
	if err := creation.Build(t.Context(), tar, shard, src, io.Discard); !errors.Is(err, formats.ErrCorrupt) || !strings.Contains(err.Error(), "holder 0, record 0/0, file x.jpg") {
		t.Fatalf("a raw entry with a corrupt header: %v, want corrupt naming the holder", err)
	}
	src.records[0][shards.RecordID{}] = record{files: src.records[0][shards.RecordID{}].files, data: [][]byte{raw}}
	zip, _ := formats.Default().ByExtension(".zip")
	src.served = nil // another job's
	if err := creation.Build(t.Context(), zip, shard, src, io.Discard); err == nil || !strings.Contains(err.Error(), "raw") {
		t.Fatalf("a raw entry into zip: %v", err)
	}
}

func TestFailuresStoreNothing(t *testing.T) {
	tar, _ := formats.Default().ByExtension(".tar")
	src, planned := fixture(2)
	src.cut = true
	sink := &memSink{shards: map[string][]byte{}}
	err := creation.Run(t.Context(), creation.Config{Format: tar}, planned, src, sink, nil)
	if err == nil || !strings.Contains(err.Error(), "ended before record") {
		t.Fatalf("a short stream: %v", err)
	}
	if len(sink.shards) != 0 {
		t.Fatalf("%d shards stored from broken streams", len(sink.shards))
	}
	src, planned = fixture(2)
	sink = &memSink{shards: map[string][]byte{}, fail: "out-1.tar"}
	if err := creation.Run(t.Context(), creation.Config{Format: tar, Concurrency: 1}, planned, src, sink, nil); err == nil || !strings.Contains(err.Error(), "store shard out-1.tar") {
		t.Fatalf("a failing sink: %v", err)
	}
}

// A shard with more of one holder's records than one fetch carries is
// built from several fetches, in order: whether a job succeeds does not
// depend on how many targets share its records.
func TestManyRecordsOfOneHolderInBatches(t *testing.T) {
	const records = 40_000
	src := &memSource{records: map[int32]map[shards.RecordID]record{0: {}}, opened: map[int32]int{}, most: 16 << 10}
	out := shards.OutputShard{Name: "big.tar"}
	for r := range records {
		id := shards.RecordID{Record: int32(r)}
		src.records[0][id] = record{files: []creation.File{{Name: fmt.Sprintf("r%05d.cls", r), Size: 1, Last: true}}, data: [][]byte{{byte('0' + r%10)}}}
		out.Records = append(out.Records, shards.RecordMeta{ID: id, Holder: 0, Size: shards.EncodedSize(1)})
	}
	sink := &memSink{shards: map[string][]byte{}}
	f, _ := formats.Default().ByExtension(".tar")
	if err := creation.Run(t.Context(), creation.Config{Format: f, Concurrency: 1}, []shards.OutputShard{out}, src, sink, &creation.Counters{}); err != nil {
		t.Fatal(err)
	}
	names := readNames(t, f, sink.shards["big.tar"])
	if len(names) != records || names[0] != "r00000.cls" || names[records-1] != fmt.Sprintf("r%05d.cls", records-1) {
		t.Fatalf("%d entries (%v ... %v), want %d in order", len(names), names[:1], names[len(names)-1:], records)
	}
	if src.opened[0] != 3 {
		t.Fatalf("the holder was asked %d times for %d records, want 3 batches", src.opened[0], records)
	}
}

// A holder's files must make each record as planned: a record sent
// bigger, split otherwise, or files past the planned records are refused,
// and the shard is not stored.
func TestBuildRefusesRecordsNotAsPlanned(t *testing.T) {
	tar, _ := formats.Default().ByExtension(".tar")
	for name, change := range map[string]func(src *memSource, planned []shards.OutputShard){
		"a bigger file": func(src *memSource, _ []shards.OutputShard) {
			rec := src.records[0][shards.RecordID{}]
			rec.files = slices.Clone(rec.files)
			rec.files[0].Size, rec.data = 600, [][]byte{bytes.Repeat([]byte("x"), 600), rec.data[1]}
			src.records[0][shards.RecordID{}] = rec
		},
		"a record ended early": func(src *memSource, _ []shards.OutputShard) {
			rec := src.records[0][shards.RecordID{}]
			rec.files = slices.Clone(rec.files)
			rec.files[0].Last = true
			src.records[0][shards.RecordID{}] = rec
		},
		"a record planned smaller": func(_ *memSource, planned []shards.OutputShard) {
			planned[0].Records[0].Size -= 512
		},
	} {
		src, planned := fixture(1)
		change(src, planned)
		sink := &memSink{shards: map[string][]byte{}}
		err := creation.Run(t.Context(), creation.Config{Format: tar, Concurrency: 1}, planned, src, sink, nil)
		if err == nil || !strings.Contains(err.Error(), "out-0.tar") {
			t.Errorf("%s: %v, want the shard refused", name, err)
		}
		if _, ok := sink.shards["out-0.tar"]; ok {
			t.Errorf("%s: the shard was stored", name)
		}
	}
}

// A holder's stream that breaks mid-record fails the shard naming the
// holder, the record and its file.
func TestBuildNamesTheHolderOfABrokenStream(t *testing.T) {
	tar, _ := formats.Default().ByExtension(".tar")
	src, planned := fixture(1)
	src.broken = io.ErrUnexpectedEOF
	sink := &memSink{shards: map[string][]byte{}}
	err := creation.Run(t.Context(), creation.Config{Format: tar, Concurrency: 1}, planned, src, sink, nil)
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "holder 0, record 0/0, file ") {
		t.Fatalf("a broken stream: %v, want the holder, the record and its file named", err)
	}
}

// A holder whose next records come after many bytes of other holders'
// is not kept waiting on an open stream (its holder would cut it): its
// batch ends before them, and they are asked for when they come up,
// each record once. The shard is as planned.
func TestBuildParksAStreamLeftWaiting(t *testing.T) {
	defer creation.SetParkGap(100)()
	src := &memSource{records: map[int32]map[shards.RecordID]record{0: {}, 1: {}}, opened: map[int32]int{}}
	out := shards.OutputShard{Name: "sorted.tar"}
	holders := []int32{0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1}
	var want []string
	for r, h := range holders {
		id := shards.RecordID{Record: int32(r)}
		name := fmt.Sprintf("r%02d.bin", r)
		src.records[h][id] = record{files: []creation.File{{Name: name, Size: 20, Last: true}}, data: [][]byte{bytes.Repeat([]byte{byte('a' + r)}, 20)}}
		out.Records = append(out.Records, shards.RecordMeta{ID: id, Holder: h, Size: shards.EncodedSize(20)})
		want = append(want, name)
	}
	sink := &memSink{shards: map[string][]byte{}}
	f, _ := formats.Default().ByExtension(".tar")
	if err := creation.Run(t.Context(), creation.Config{Format: f, Concurrency: 1}, []shards.OutputShard{out}, src, sink, &creation.Counters{}); err != nil {
		t.Fatal(err)
	}
	if got := readNames(t, f, sink.shards["sorted.tar"]); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("entries %v, want %v", got, want)
	}
	// Holder 0 waits out ten records (over 100 bytes): asked for its
	// first three, then for the two after; holder 1 waits out two.
	if strings.Join(src.asked, " ") != "0:3 1:10 0:2 1:1" {
		t.Fatalf("fetches %v, want holder 0's records then the rest of them", src.asked)
	}
}

// A shard that fails while built ends as no well-formed archive: what
// its sink took does not read as a whole tar (a sink that streams would
// keep one that looks complete).
func TestFailedShardIsNoWellFormedArchive(t *testing.T) {
	format, _ := formats.Default().ByExtension(".tar")
	src, planned := fixture(1)
	// A record that ends before its planned size: refused by the build,
	// with nothing wrong in the archive written so far.
	rec := src.records[0][shards.RecordID{}]
	rec.files = slices.Clone(rec.files)
	rec.files[0].Last = true
	src.records[0][shards.RecordID{}] = rec
	var out bytes.Buffer
	if err := creation.Build(t.Context(), format, &planned[0], src, &out); err == nil {
		t.Fatal("a shard of a record short of its plan succeeded")
	}
	// No end of archive: two zero blocks at its end.
	if data := out.Bytes(); len(data) >= 1024 && bytes.Equal(data[len(data)-1024:], make([]byte, 1024)) {
		t.Fatalf("the %d bytes of a failed shard end as a whole tar", out.Len())
	}
}
