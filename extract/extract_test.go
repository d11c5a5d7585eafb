package extract_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aisgo/aisgo/extract"
	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/shards"
)

type memShard struct{ *bytes.Reader }

func (memShard) Close() error { return nil }

// memOpener serves shards from memory.
type memOpener map[string][]byte

func (m memOpener) Open(ctx context.Context, name string) (extract.Shard, int64, error) {
	data, ok := m[name]
	if !ok {
		return nil, 0, fmt.Errorf("%w: %s", extract.ErrMissing, name)
	}
	return memShard{bytes.NewReader(data)}, int64(len(data)), nil
}

type entry struct {
	name string
	body string
}

func shard(t *testing.T, ext string, entries ...entry) []byte {
	t.Helper()
	f, _ := formats.Default().ByExtension(ext)
	var buf bytes.Buffer
	w, err := f.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		w.WriteHeader(&formats.Entry{Name: e.name, Size: int64(len(e.body))})
		w.Write([]byte(e.body))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func format(ext string) formats.Format {
	f, _ := formats.Default().ByExtension(ext)
	return f
}

func TestTarIsKeptAsOffsets(t *testing.T) {
	data := shard(t, ".tar", entry{"a/x.jpg", "JPEG"}, entry{"a/x.cls", "3"}, entry{"b.jpg", "jpeg2"})
	// A budget too small for any entry keeps the shard on disk.
	res, err := extract.Run(t.Context(), extract.Config{Format: format(".tar"), Budget: extract.NewBudget(1)}, []extract.Input{{Name: "s.tar", Index: 4}}, memOpener{"s.tar": data}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	if len(res.Records) != 2 || res.Records[0].Name != "a/x" || len(res.Records[0].Files) != 2 || res.Records[1].Name != "b" {
		t.Fatalf("records %+v", res.Records)
	}
	r := res.Records[0]
	if r.ID != (shards.RecordID{Shard: 4, Record: 0}) || r.Key.String != "a/x.jpg" || r.Size != 2*1024 {
		t.Fatalf("record %+v", r)
	}
	for _, f := range r.Files {
		if f.Storage != shards.StorageOffset || f.Data != nil {
			t.Fatalf("tar file copied: %+v", f)
		}
		if got := string(data[f.Offset : f.Offset+f.Size]); !bytes.HasPrefix([]byte("JPEG3"), []byte(got)) && got != "3" {
			t.Fatalf("offset of %s points at %q", f.Name, got)
		}
		if f.RawSize != 1024 || f.RawOffset+f.RawSize > int64(len(data)) {
			t.Fatalf("raw extent of %s: %+v", f.Name, f)
		}
	}
}

// A plain tar's entries stay in the shard whatever the budget: creation
// copies them raw from their extents, and no memory is reserved.
func TestTarEntriesStayInTheShard(t *testing.T) {
	data := shard(t, ".tar", entry{"a.jpg", "JPEG"}, entry{"a.cls", "3"}, entry{"b.jpg", string(bytes.Repeat([]byte("x"), 3000))})
	budget := extract.NewBudget(1 << 20)
	res, err := extract.Run(t.Context(), extract.Config{Format: format(".tar"), Budget: budget, Key: extract.KeyConfig{Extension: ".cls", Kind: shards.KeyInt}},
		[]extract.Input{{Name: "s.tar"}}, memOpener{"s.tar": data}, nil)
	if err == nil {
		t.Fatal("record b has no .cls: the content key should be missing")
	}
	res, err = extract.Run(t.Context(), extract.Config{Format: format(".tar"), Budget: budget}, []extract.Input{{Name: "s.tar"}}, memOpener{"s.tar": data}, nil)
	if err != nil {
		t.Fatal(err)
	}
	offset := int64(0)
	for _, r := range res.Records {
		for _, f := range r.Files {
			if f.Storage != shards.StorageOffset || f.Data != nil || f.RawOffset != offset || f.RawSize == 0 {
				t.Fatalf("%s is not an extent of the shard: %+v", f.Name, f)
			}
			if got := string(data[f.Offset : f.Offset+f.Size]); len(got) != int(f.Size) || (f.Name == "a.cls" && got != "3") {
				t.Fatalf("%s: data %q", f.Name, got)
			}
			offset += f.RawSize
		}
	}
	if budget.Peak() != 0 {
		t.Fatalf("%d bytes of the budget taken for entries left in the shard", budget.Peak())
	}
}

func TestBudgetSpillsPastLimit(t *testing.T) {
	var entries []entry
	for i := range 20 {
		entries = append(entries, entry{fmt.Sprintf("r%02d.bin", i), string(bytes.Repeat([]byte{byte(i)}, 3000))})
	}
	data := shard(t, ".tgz", entries...)
	budget := extract.NewBudget(16 << 10)
	var counters extract.Counters
	res, err := extract.Run(t.Context(), extract.Config{Format: format(".tgz"), Budget: budget, SpillDir: t.TempDir() + "/spill"},
		[]extract.Input{{Name: "s.tgz"}}, memOpener{"s.tgz": data}, &counters)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	memory, spilled := 0, 0
	for _, r := range res.Records {
		f := r.Files[0]
		var got []byte
		switch f.Storage {
		case shards.StorageMemory:
			memory++
			got = f.Data[:f.Size]
		case shards.StorageSpill:
			spilled++
			got = make([]byte, f.Size)
			res.Spills.ReaderAt(f.Spill).ReadAt(got, f.Offset)
		}
		if want := bytes.Repeat([]byte{byte(r.ID.Record)}, 3000); !bytes.Equal(got, want) {
			t.Fatalf("record %s: content differs", r.Name)
		}
	}
	if memory == 0 || spilled == 0 || budget.Peak() > 16<<10 || counters.SpilledFiles.Load() != int64(spilled) {
		t.Fatalf("%d in memory, %d spilled, peak %d of %d", memory, spilled, budget.Peak(), 16<<10)
	}
	extract.ReleaseMemory(budget, res.Records)
	if budget.Used() != 0 {
		t.Fatalf("%d bytes still reserved after release", budget.Used())
	}
}

func TestInputOrderWhateverTheConcurrency(t *testing.T) {
	opener := memOpener{}
	var inputs []extract.Input
	for i := range 12 {
		name := fmt.Sprintf("s%02d.tar", i)
		opener[name] = shard(t, ".tar", entry{fmt.Sprintf("r%d-a.jpg", i), "x"}, entry{fmt.Sprintf("r%d-b.jpg", i), "y"})
		inputs = append(inputs, extract.Input{Name: name, Index: int32(i)})
	}
	var want []shards.RecordID
	for _, concurrency := range []int{1, 3, 12} {
		res, err := extract.Run(t.Context(), extract.Config{Format: format(".tar"), Concurrency: concurrency}, inputs, opener, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []shards.RecordID
		for _, r := range res.Records {
			got = append(got, r.ID)
		}
		if want == nil {
			want = got
		}
		if !slices.Equal(got, want) || !slices.IsSortedFunc(got, shards.RecordID.Compare) || len(got) != 24 {
			t.Fatalf("concurrency %d: ids %v", concurrency, got)
		}
	}
}

func TestDuplicatesMissingShardsAndKeys(t *testing.T) {
	data := shard(t, ".tar", entry{"a.jpg", "first"}, entry{"a.cls", "1"}, entry{"a.jpg", "second"})
	var dups []string
	var counters extract.Counters
	res, err := extract.Run(t.Context(), extract.Config{
		Format:      format(".tar"),
		Budget:      extract.NewBudget(1), // keep offsets, to check them against the shard
		OnDuplicate: func(s string, d *shards.DuplicateError) error { dups = append(dups, s+":"+d.Record+d.Ext); return nil },
		OnMissing:   func(string, error) error { return nil },
	}, []extract.Input{{Name: "s.tar"}, {Name: "gone.tar", Index: 1}}, memOpener{"s.tar": data}, &counters)
	if err != nil {
		t.Fatal(err)
	}
	// The bytes extracted are those kept: the first a.jpg was dropped.
	if got, want := counters.Bytes.Load(), int64(len("second")+len("1")); got != want {
		t.Fatalf("%d bytes extracted, want %d (the dropped duplicate not counted)", got, want)
	}
	if len(dups) != 1 || dups[0] != "s.tar:a.jpg" || len(res.Records) != 1 || len(res.Records[0].Files) != 2 {
		t.Fatalf("duplicates %v, records %+v", dups, res.Records)
	}
	if f := res.Records[0].Files[1]; f.Name != "a.jpg" || string(data[f.Offset:f.Offset+f.Size]) != "second" {
		t.Fatalf("the later duplicate is not the one kept: %+v", res.Records[0].Files)
	}
	// Keyed by its first file's name, as AIStore keys it, though that
	// file was dropped for the later one.
	if key := res.Records[0].Key; key.String != "a.jpg" {
		t.Fatalf("the record's key %+v, want its first file's name a.jpg", key)
	}
	abort := errors.New("abort on duplicate")
	_, err = extract.Run(t.Context(), extract.Config{Format: format(".tar"), OnDuplicate: func(string, *shards.DuplicateError) error { return abort }},
		[]extract.Input{{Name: "s.tar"}}, memOpener{"s.tar": data}, nil)
	if !errors.Is(err, abort) {
		t.Fatalf("abort reaction: %v", err)
	}
	_, err = extract.Run(t.Context(), extract.Config{Format: format(".tar")}, []extract.Input{{Name: "gone.tar"}}, memOpener{}, nil)
	if !errors.Is(err, extract.ErrMissing) {
		t.Fatalf("missing shard without a reaction: %v", err)
	}
	noKey := shard(t, ".tar", entry{"a.jpg", "x"}, entry{"a.cls", "7"}, entry{"b.jpg", "y"})
	_, err = extract.Run(t.Context(), extract.Config{Format: format(".tar"), Key: extract.KeyConfig{Extension: ".cls", Kind: shards.KeyInt}},
		[]extract.Input{{Name: "k.tar"}}, memOpener{"k.tar": noKey}, nil)
	if !errors.Is(err, extract.ErrKeyMissing) {
		t.Fatalf("record without its key file: %v", err)
	}
	bad := shard(t, ".tar", entry{"a.cls", "seven"})
	_, err = extract.Run(t.Context(), extract.Config{Format: format(".tar"), Key: extract.KeyConfig{Extension: ".cls", Kind: shards.KeyInt}},
		[]extract.Input{{Name: "k.tar"}}, memOpener{"k.tar": bad}, nil)
	if err == nil {
		t.Fatal("a non-integer content key was accepted")
	}
	// Kept in memory (a compressed shard) when it failed: its buffer
	// goes back to the budget, else the node's budget shrinks for good.
	budget := extract.NewBudget(1 << 20)
	badGzip := shard(t, ".tgz", entry{"a.jpg", "x"}, entry{"a.cls", "seven"})
	_, err = extract.Run(t.Context(), extract.Config{Format: format(".tgz"), Budget: budget, SpillDir: t.TempDir() + "/spill", Key: extract.KeyConfig{Extension: ".cls", Kind: shards.KeyInt}},
		[]extract.Input{{Name: "k.tgz"}}, memOpener{"k.tgz": badGzip}, nil)
	if err == nil || !strings.Contains(err.Error(), "a.cls") || budget.Used() != 0 {
		t.Fatalf("a non-integer content key in memory: %v, %d bytes still reserved", err, budget.Used())
	}
}

func TestCorruptShardNamesShardAndOffset(t *testing.T) {
	data := shard(t, ".tar", entry{"a.jpg", string(make([]byte, 5000))}, entry{"b.jpg", "x"})
	_, err := extract.Run(t.Context(), extract.Config{Format: format(".tar")}, []extract.Input{{Name: "cut.tar"}}, memOpener{"cut.tar": data[:3000]}, nil)
	var he *formats.HeaderError
	if !errors.As(err, &he) || he.Shard != "cut.tar" || !errors.Is(err, formats.ErrCorrupt) {
		t.Fatalf("truncated shard: %v", err)
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	data := shard(t, ".tgz", entry{"a.jpg", "x"})
	_, err := extract.Run(ctx, extract.Config{Format: format(".tgz"), SpillDir: t.TempDir()}, []extract.Input{{Name: "s.tgz"}}, memOpener{"s.tgz": data}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled extraction: %v", err)
	}
}

// countingShard counts the bytes read from a shard and cancels a context
// once past a mark.
type countingShard struct {
	data   []byte
	read   atomic.Int64
	mark   int64
	cancel context.CancelFunc
}

func (s *countingShard) ReadAt(p []byte, off int64) (int, error) {
	n, err := bytes.NewReader(s.data).ReadAt(p, off)
	if s.read.Add(int64(n)) > s.mark {
		s.cancel()
	}
	return n, err
}

func (*countingShard) Close() error { return nil }

type countingOpener struct{ *countingShard }

func (o countingOpener) Open(context.Context, string) (extract.Shard, int64, error) {
	return o.countingShard, int64(len(o.data)), nil
}

// An abort stops a large file's spill midway, not at the next file.
func TestCancelStopsASpillMidway(t *testing.T) {
	big := make([]byte, 16<<20)
	rand.NewChaCha8([32]byte{1}).Read(big) // incompressible: the shard is as big
	ctx, cancel := context.WithCancel(t.Context())
	shard := &countingShard{data: shard(t, ".tgz", entry{"big.bin", string(big)}), mark: 1 << 20, cancel: cancel}
	_, err := extract.Run(ctx, extract.Config{Format: format(".tgz"), Budget: extract.NewBudget(1), SpillDir: t.TempDir() + "/spill"},
		[]extract.Input{{Name: "s.tgz"}}, countingOpener{shard}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("extraction canceled midway: %v", err)
	}
	if read := shard.read.Load(); read > 4<<20 {
		t.Fatalf("%d of the shard's %d bytes read after it was canceled at 1 MiB", read, len(shard.data))
	}
}

// A shard whose files are far bigger than its bytes (zeros, compressed)
// spills only while the work directory keeps its reserve: the extraction
// fails with a clear error before the disk is full.
func TestSpillKeepsTheDiskReserve(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs at %s (this test needs root, which CI has): %v %s", dir, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	zeros := string(make([]byte, 8<<20))
	data := shard(t, ".tgz", entry{"r0.bin", zeros})
	_, err := extract.Run(t.Context(), extract.Config{Format: format(".tgz"), Budget: extract.NewBudget(1 << 10), SpillDir: dir + "/spill"},
		[]extract.Input{{Name: "s.tgz"}}, memOpener{"s.tgz": data}, &extract.Counters{})
	if !errors.Is(err, extract.ErrNoSpace) || !strings.Contains(err.Error(), "% free") {
		t.Fatalf("spilling 8 MiB into a 4 MiB work directory: %v, want ErrNoSpace naming the reserve", err)
	}
}

// Jobs' budgets are within the node's: two jobs each under its own limit
// still share the node's memory.
func TestChildBudgetsShareTheNodes(t *testing.T) {
	node := extract.NewBudget(100)
	a, b := node.Child(80), node.Child(80)
	if !a.Reserve(60) {
		t.Fatal("job a: 60 of its 80")
	}
	if b.Reserve(60) {
		t.Fatal("job b took 60 bytes, with 60 of the node's 100 held by job a")
	}
	if b.Used() != 0 || node.Used() != 60 {
		t.Fatalf("after the refusal: job b holds %d, the node %d", b.Used(), node.Used())
	}
	if !b.Reserve(40) || a.Reserve(30) {
		t.Fatal("job b: 40 of the node's last 40; job a then nothing more")
	}
	a.Release(60)
	if node.Used() != 40 || !a.Reserve(50) {
		t.Fatalf("after job a released: the node holds %d, job a reserves 50 again", node.Used())
	}
}

// Content keys (content_key_type string) stay in memory for the whole
// job, as names do: keys past the budget's share fail the job, however
// short the names.
// A key file dropped for a later duplicate is not parsed for the job: the
// kept one's key counts (as the reference does), in every way a shard is
// read, and a dropped string key gives back its charge.
func TestDuplicateKeyFileDroppedIsNotParsed(t *testing.T) {
	for _, c := range []struct {
		ext         string
		headersOnly bool
	}{{".tar", false}, {".tgz", false}, {".tgz", true}} {
		data := shard(t, c.ext, entry{"a.jpg", "x"}, entry{"a.cls", "seven"}, entry{"a.cls", "7"})
		res, err := extract.Run(t.Context(), extract.Config{Format: format(c.ext), HeadersOnly: c.headersOnly, SpillDir: t.TempDir(), Key: extract.KeyConfig{Extension: ".cls", Kind: shards.KeyInt}},
			[]extract.Input{{Name: "k" + c.ext}}, memOpener{"k" + c.ext: data}, nil)
		if err != nil || len(res.Records) != 1 || res.Records[0].Key.Int != 7 {
			t.Fatalf("%s (headers only %v): %v %+v, want one record keyed 7", c.ext, c.headersOnly, err, res)
		}
		// Kept, a bad key still fails the job.
		data = shard(t, c.ext, entry{"a.jpg", "x"}, entry{"a.cls", "7"}, entry{"a.cls", "seven"})
		if _, err := extract.Run(t.Context(), extract.Config{Format: format(c.ext), HeadersOnly: c.headersOnly, SpillDir: t.TempDir(), Key: extract.KeyConfig{Extension: ".cls", Kind: shards.KeyInt}},
			[]extract.Input{{Name: "k" + c.ext}}, memOpener{"k" + c.ext: data}, nil); err == nil || !strings.Contains(err.Error(), "a.cls") {
			t.Fatalf("%s (headers only %v): a kept key file that is no integer: %v", c.ext, c.headersOnly, err)
		}
	}
	job := extract.NewBudget(1 << 30)
	data := shard(t, ".tar", entry{"a.txt", strings.Repeat("k", 100<<10)}, entry{"a.txt", "short"})
	if _, err := extract.Run(t.Context(), extract.Config{Format: format(".tar"), Budget: job, Key: extract.KeyConfig{Extension: ".txt", Kind: shards.KeyString}},
		[]extract.Input{{Name: "s.tar"}}, memOpener{"s.tar": data}, nil); err != nil {
		t.Fatal(err)
	}
	if got := extract.MetadataHeld(job); got >= 100<<10 {
		t.Fatalf("a dropped duplicate's 100 KiB key still charged: %d bytes held", got)
	}
	// A dropped duplicate's name goes too (not the record's first
	// member's, which keys the record).
	record := strings.Repeat("n", 50<<10)
	for _, c := range []struct {
		names []string
		kept  []string
	}{
		{[]string{record + ".jpg", record + ".cls", record + ".cls"}, []string{record + ".jpg", record + ".cls"}},
		{[]string{record + ".jpg", record + ".jpg"}, []string{record + ".jpg", record + ".jpg"}}, // the first, kept as the key
	} {
		var entries []entry
		for _, name := range c.names {
			entries = append(entries, entry{name, "x"})
		}
		job := extract.NewBudget(1 << 30)
		if _, err := extract.Run(t.Context(), extract.Config{Format: format(".tar"), Budget: job},
			[]extract.Input{{Name: "d.tar"}}, memOpener{"d.tar": shard(t, ".tar", entries...)}, nil); err != nil {
			t.Fatal(err)
		}
		var want int64
		for _, name := range c.kept {
			want += extract.MetadataCost(name)
		}
		if got := extract.MetadataHeld(job); got != want {
			t.Errorf("%d members, %d kept: %d bytes of names held, want %d", len(c.names), len(c.kept), got, want)
		}
	}
}

func TestContentKeysChargedToTheBudget(t *testing.T) {
	entries := make([]entry, 80)
	for i := range entries {
		entries[i] = entry{name: fmt.Sprintf("s%03d.txt", i), body: strings.Repeat("k", 128<<10)}
	}
	data := shard(t, ".tar", entries...)
	defer extract.SetMetadataFloor(8 << 20)()
	budget := extract.NewBudget(8 << 20)
	_, err := extract.Run(t.Context(), extract.Config{Format: format(".tar"), Budget: budget, Key: extract.KeyConfig{Extension: ".txt", Kind: shards.KeyString}},
		[]extract.Input{{Name: "keys.tar"}}, memOpener{"keys.tar": data}, nil)
	if !errors.Is(err, extract.ErrNamesOverBudget) || !strings.Contains(err.Error(), "keys.tar") || !strings.Contains(err.Error(), "key of") {
		t.Fatalf("10 MiB of content keys in an 8 MiB share: %v", err)
	}
}

// Names stay in memory for the whole job and cannot spill: a small
// compressed shard of long names fails its job once they pass the
// budget's share for them, and a job's end returns that share to the node.
func TestNamesChargedToTheBudget(t *testing.T) {
	long := func(count int) []byte {
		entries := make([]entry, count)
		for i := range entries {
			entries[i] = entry{name: fmt.Sprintf("%s-%03d.bin", strings.Repeat("n", 64<<10), i)}
		}
		return shard(t, ".tgz", entries...)
	}
	big, half := long(80), long(40) // 10 and 5 MiB of names; the shards are a few KiB
	run := func(budget *extract.Budget, data []byte) error {
		_, err := extract.Run(t.Context(), extract.Config{Format: format(".tgz"), Budget: budget, SpillDir: t.TempDir() + "/spill"},
			[]extract.Input{{Name: "names.tgz"}}, memOpener{"names.tgz": data}, nil)
		return err
	}
	if err := run(extract.NewBudget(0), big); err != nil {
		t.Fatalf("without a budget: %v", err)
	}
	defer extract.SetMetadataFloor(8 << 20)()
	node := extract.NewBudget(8 << 20) // names may take 8 MiB
	job := node.Child(8 << 20)
	err := run(job, big)
	if !errors.Is(err, extract.ErrNamesOverBudget) || !strings.Contains(err.Error(), "names.tgz") || !strings.Contains(err.Error(), "8MiB") {
		t.Fatalf("10 MiB of names in an 8 MiB share: %v", err)
	}
	job.ReleaseMetadata()
	job = node.Child(8 << 20)
	if err := run(job, half); err != nil {
		t.Fatalf("after the failed job returned its share, 5 MiB of names: %v", err)
	}
	// The node's share is held by the job until it ends.
	if err := run(node.Child(8<<20), half); !errors.Is(err, extract.ErrNamesOverBudget) {
		t.Fatalf("a second job beside one holding 5 MiB of names: %v", err)
	}
}

// Spill files go to every spill directory in turn (one per disk), and
// all of them are removed with the result.
func TestSpillsSpreadOverDirectories(t *testing.T) {
	var entries []entry
	for i := range 40 {
		entries = append(entries, entry{fmt.Sprintf("r%02d.bin", i), string(bytes.Repeat([]byte{byte(i)}, 3000))})
	}
	inputs, opener := []extract.Input{}, memOpener{}
	for s := range 4 {
		name := fmt.Sprintf("s%d.tgz", s)
		inputs = append(inputs, extract.Input{Name: name})
		opener[name] = shard(t, ".tgz", entries[s*10:(s+1)*10]...)
	}
	first, second := filepath.Join(t.TempDir(), "spill"), filepath.Join(t.TempDir(), "spill")
	res, err := extract.Run(t.Context(), extract.Config{Format: format(".tgz"), Concurrency: 4, Budget: extract.NewBudget(1 << 10), SpillDir: first, SpillDirs: []string{second}},
		inputs, opener, &extract.Counters{})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{first, second} {
		if files, _ := filepath.Glob(filepath.Join(dir, "spill-*.bin")); len(files) != 2 {
			t.Errorf("%s holds spill files %v, want two of the four", dir, files)
		}
	}
	for _, r := range res.Records {
		f := r.Files[0]
		got := make([]byte, f.Size)
		if f.Storage != shards.StorageSpill {
			t.Fatalf("record %s kept in memory under a budget of 1 KiB", r.Name)
		}
		res.Spills.ReaderAt(f.Spill).ReadAt(got, f.Offset)
		var i int
		fmt.Sscanf(r.Name, "r%d", &i)
		if want := bytes.Repeat([]byte{byte(i)}, 3000); !bytes.Equal(got, want) {
			t.Fatalf("record %s: content differs", r.Name)
		}
	}
	res.Close()
	for _, dir := range []string{first, second} {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after the result's close: %v", dir, err)
		}
	}
}

// The reserve counts what other appends are spilling at the same time:
// bytes none of them has written yet still take the disk's room.
func TestSpillCountsOtherAppendsInFlight(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs at %s (this test needs root, which CI has): %v %s", dir, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	data := shard(t, ".tgz", entry{"r0.bin", string(make([]byte, 1<<20))})
	run := func() error {
		res, err := extract.Run(t.Context(), extract.Config{Format: format(".tgz"), Budget: extract.NewBudget(1 << 10), SpillDir: dir + "/spill"},
			[]extract.Input{{Name: "s.tgz"}}, memOpener{"s.tgz": data}, &extract.Counters{})
		if err == nil {
			res.Close()
		}
		return err
	}
	if err := run(); err != nil {
		t.Fatalf("1 MiB into a 4 MiB disk: %v", err)
	}
	if left := extract.SpillingOn(dir); left != 0 {
		t.Fatalf("%d bytes still counted as being spilled after the append", left)
	}
	// Being spilled onto another disk, they take none of this one's room.
	other := extract.AddSpilling(t.TempDir(), 3<<20)
	if err := run(); err != nil {
		t.Fatalf("1 MiB into a 4 MiB disk while 3 MiB are spilled onto another: %v", err)
	}
	other()
	defer extract.AddSpilling(dir, 3<<20)()
	if err := run(); !errors.Is(err, extract.ErrNoSpace) || !strings.Contains(err.Error(), "more being spilled") {
		t.Fatalf("1 MiB into a 4 MiB disk while 3 MiB are being spilled onto it: %v, want ErrNoSpace", err)
	}
}

// Zip shards extracted at once hold their central directories within
// the process's zip memory, which the node's archive reads share: with
// it all taken, an extraction waits for it.
func TestZipShardsWaitForZipMemory(t *testing.T) {
	data := shard(t, ".zip", entry{"a.jpg", "x"}, entry{"b.jpg", "y"})
	if err := formats.ZipDirectories.Acquire(t.Context(), formats.MaxZipMemory); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := extract.Run(ctx, extract.Config{Format: format(".zip"), SpillDir: t.TempDir()}, []extract.Input{{Name: "s.zip"}}, memOpener{"s.zip": data}, nil)
	formats.ZipDirectories.Release(formats.MaxZipMemory)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "zip shards") {
		t.Fatalf("a zip shard extracted with the zip memory taken: %v, want a wait until the deadline", err)
	}
	res, err := extract.Run(t.Context(), extract.Config{Format: format(".zip"), SpillDir: t.TempDir()}, []extract.Input{{Name: "s.zip"}}, memOpener{"s.zip": data}, nil)
	if err != nil || len(res.Records) != 2 {
		t.Fatalf("extracted with the zip memory free: %+v, %v", res, err)
	}
	res.Close()
	if !formats.ZipDirectories.TryAcquire(formats.MaxZipMemory) {
		t.Fatal("the extraction kept some of the zip memory")
	}
	formats.ZipDirectories.Release(formats.MaxZipMemory)
}

// A record the output format cannot hold as a whole (its kept members'
// sizes summed) fails the extraction, naming it; the dropped duplicate
// does not count.
func TestRecordTheOutputCannotHoldFailsTheExtraction(t *testing.T) {
	data := shard(t, ".tar", entry{"a.jpg", "first"}, entry{"a.cls", "1"}, entry{"a.jpg", "second"}, entry{"b.jpg", "x"})
	var asked []string
	check := func(name string, _ []string, size int64) error {
		asked = append(asked, fmt.Sprintf("%s:%d", name, size))
		if size > int64(len("second")+len("1")) {
			return errors.New("too big a record")
		}
		return nil
	}
	if _, err := extract.Run(t.Context(), extract.Config{Format: format(".tar"), CheckRecord: check, OnDuplicate: func(string, *shards.DuplicateError) error { return nil }},
		[]extract.Input{{Name: "s.tar"}}, memOpener{"s.tar": data}, nil); err != nil {
		t.Fatalf("records that fit: %v (asked %v)", err, asked)
	}
	if !slices.Contains(asked, "a:7") {
		t.Fatalf("the records asked about: %v, want a of its kept members' 7 bytes", asked)
	}
	data = shard(t, ".tar", entry{"a.jpg", "first"}, entry{"a.cls", "123"})
	_, err := extract.Run(t.Context(), extract.Config{Format: format(".tar"), CheckRecord: check}, []extract.Input{{Name: "s.tar"}}, memOpener{"s.tar": data}, nil)
	if err == nil || !strings.Contains(err.Error(), "cannot hold a record") {
		t.Fatalf("a record past the check: %v, want the extraction failed naming it", err)
	}
}

// An abort stops the read of a shard whose entries the reader skips on
// its own (a compressed run of directories), not only between the files
// it returns.
func TestCancelStopsARunOfSkippedEntries(t *testing.T) {
	var raw bytes.Buffer
	zw := gzip.NewWriter(&raw)
	tw := tar.NewWriter(zw)
	for i := range 100_000 {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: fmt.Sprintf("d/%06d/", i), Mode: 0o755})
	}
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "a.jpg", Size: 1, Mode: 0o644})
	tw.Write([]byte("x"))
	tw.Close()
	zw.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s := &countingShard{data: raw.Bytes(), mark: 64 << 10, cancel: cancel}
	_, err := extract.Run(ctx, extract.Config{Format: format(".tgz"), SpillDir: t.TempDir()}, []extract.Input{{Name: "s.tgz"}}, countingOpener{s}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("an extraction aborted amid skipped entries: %v", err)
	}
	if read := s.read.Load(); read >= int64(len(s.data)) {
		t.Fatalf("the whole shard (%d bytes) was read after the abort", read)
	}
}
