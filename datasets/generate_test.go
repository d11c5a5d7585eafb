package datasets_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aisgo/aisgo/datasets"
	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/shards"
)

// memory collects generated shards in memory.
type memory struct {
	mu     sync.Mutex
	shards map[string][]byte
}

type memoryShard struct {
	bytes.Buffer
	m    *memory
	name string
}

func (s *memoryShard) Close() error {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	s.m.shards[s.name] = s.Bytes()
	return nil
}

func (m *memory) open(name string) (io.WriteCloser, error) {
	return &memoryShard{m: m, name: name}, nil
}

func generate(t *testing.T, spec datasets.Spec) (map[string][]byte, datasets.Stats) {
	t.Helper()
	m := &memory{shards: map[string][]byte{}}
	st, err := datasets.Generate(t.Context(), spec, m.open)
	if err != nil {
		t.Fatal(err)
	}
	return m.shards, st
}

type record struct {
	name  string
	files map[string][]byte // by extension
}

// readRecords reads a shard and groups its files into records.
func readRecords(t *testing.T, name string, data []byte) []record {
	t.Helper()
	f, ok := formats.Default().ByName(name)
	if !ok {
		t.Fatalf("no format for %s", name)
	}
	r, err := f.NewReader(bytes.NewReader(data), int64(len(data)), name)
	if err != nil {
		t.Fatal(err)
	}
	var g shards.Grouper
	var contents [][]byte
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Add(e.Name); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		contents = append(contents, b)
	}
	var records []record
	for i := range g.Records() {
		rec := record{name: g.RecordName(i), files: map[string][]byte{}}
		for m := range g.Members(i) {
			rec.files[m.Ext] = contents[m.Index]
		}
		records = append(records, rec)
	}
	return records
}

func TestGenerateDeterministic(t *testing.T) {
	spec := datasets.Spec{
		Template:   "shard-{00..05}.tar",
		Records:    20,
		RecordSize: 10 << 10,
		SizeSpread: 0.5,
		Extensions: []string{".jpg", ".cls", ".json", ".txt"},
		Seed:       7,
		Workers:    1,
	}
	one, st1 := generate(t, spec)
	spec.Workers = 4
	four, st4 := generate(t, spec)
	if !maps.EqualFunc(one, four, bytes.Equal) || st1 != st4 {
		t.Fatal("1 and 4 workers generated different shards")
	}
	spec.Seed = 8
	other, _ := generate(t, spec)
	if bytes.Equal(one["shard-00.tar"], other["shard-00.tar"]) {
		t.Fatal("seeds 7 and 8 generated the same shard")
	}
	if bytes.Equal(one["shard-00.tar"], one["shard-01.tar"]) {
		t.Fatal("two shards of one dataset are equal")
	}
}

func TestGenerateContents(t *testing.T) {
	for _, tc := range []struct {
		name       string
		spec       datasets.Spec
		shardNames []string
	}{
		{
			name: "fixed sizes",
			spec: datasets.Spec{Template: "a-{0..2}.tar", Records: 7, RecordSize: 1000,
				Extensions: []string{".jpg", ".cls", ".json"}, Seed: 1},
			shardNames: []string{"a-0.tar", "a-1.tar", "a-2.tar"},
		},
		{
			name:       "spread sizes, default extensions, tgz from the template",
			spec:       datasets.Spec{Template: "b/s-@02.tgz", Records: 50, RecordSize: 4000, SizeSpread: 0.5, Seed: 2},
			shardNames: []string{"b/s-00.tgz", "b/s-01.tgz", "b/s-02.tgz"},
		},
		{
			name: "format appended",
			spec: datasets.Spec{Template: "c-{1..2}", Records: 3, RecordSize: 10, Format: ".zip",
				Extensions: []string{".png", ".txt"}, Seed: 3},
			shardNames: []string{"c-1.zip", "c-2.zip"},
		},
		{
			name: "lz4 with text main files",
			spec: datasets.Spec{Template: "d-{0..1}.tar.lz4", Records: 4, RecordSize: 300, SizeSpread: 1,
				Extensions: []string{".txt", ".cls"}, Seed: 4},
			shardNames: []string{"d-0.tar.lz4", "d-1.tar.lz4"},
		},
		{
			name:       "zstd, .tar.gz kept",
			spec:       datasets.Spec{Template: "e-{0..1}", Records: 2, Format: ".tar.gz", Seed: 5},
			shardNames: []string{"e-0.tar.gz", "e-1.tar.gz"},
		},
		{
			name: "files larger than the generation buffer",
			spec: datasets.Spec{Template: "g-{0..1}.tar", Records: 3, RecordSize: 600 << 10, SizeSpread: 0.3, Seed: 7,
				Extensions: []string{".txt", ".bin"}},
			shardNames: []string{"g-0.tar", "g-1.tar"},
		},
		{
			name: "zstd",
			spec: datasets.Spec{Template: "f-{0..1}.tar.zst", Records: 5, RecordSize: 2000, Seed: 6,
				Extensions: []string{".jpg", ".json"}},
			shardNames: []string{"f-0.tar.zst", "f-1.tar.zst"},
		},
		{
			name: "msgpack records",
			spec: datasets.Spec{Template: "m-{0..1}.msgpack", Records: 6, RecordSize: 3000, SizeSpread: 0.5, Seed: 8,
				Extensions: []string{".jpg", ".cls", ".json"}},
			shardNames: []string{"m-0.msgpack", "m-1.msgpack"},
		},
		{
			name: "tfrecord appended, large files",
			spec: datasets.Spec{Template: "t-{0..1}", Records: 3, RecordSize: 300 << 10, Format: ".tfrecord", Seed: 9,
				Extensions: []string{".bin", ".txt"}},
			shardNames: []string{"t-0.tfrecord", "t-1.tfrecord"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			exts := spec.Extensions
			if len(exts) == 0 {
				exts = []string{".jpg", ".cls"}
			}
			names, err := spec.ShardNames()
			if err != nil || !slices.Equal(names, tc.shardNames) {
				t.Fatalf("ShardNames() = %q, %v; want %q", names, err, tc.shardNames)
			}
			got, st := generate(t, spec)
			if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, tc.shardNames) {
				t.Fatalf("shards %q, want %q", keys, tc.shardNames)
			}
			var mainBytes, mainFiles int64
			seen := map[string]bool{}
			var total int64
			for _, name := range tc.shardNames {
				records := readRecords(t, name, got[name])
				if len(records) != spec.Records {
					t.Fatalf("%s: %d records, want %d", name, len(records), spec.Records)
				}
				for _, rec := range records {
					if seen[rec.name] {
						t.Errorf("record %s in two shards", rec.name)
					}
					seen[rec.name] = true
					if !strings.HasPrefix(rec.name, "sample-") || len(rec.files) != len(exts) {
						t.Errorf("record %s has files %v", rec.name, slices.Collect(maps.Keys(rec.files)))
					}
					for ext, data := range rec.files {
						total += int64(len(data))
						checkFile(t, spec, rec, ext, data, ext == exts[0])
						if ext == exts[0] {
							mainBytes += int64(len(data))
							mainFiles++
						}
					}
				}
			}
			wantStats := datasets.Stats{
				Shards:  int64(len(tc.shardNames)),
				Records: int64(len(tc.shardNames) * spec.Records),
				Files:   int64(len(tc.shardNames) * spec.Records * len(exts)),
				Bytes:   total,
			}
			var archived int64
			for _, data := range got {
				archived += int64(len(data))
			}
			wantStats.ArchiveBytes = archived
			if st != wantStats {
				t.Errorf("Stats = %+v, want %+v", st, wantStats)
			}
			if mainFiles >= 100 {
				mean := float64(mainBytes) / float64(mainFiles)
				if d := mean/float64(spec.RecordSize) - 1; d > 0.15 || d < -0.15 {
					t.Errorf("mean main file size %.0f, want about %d", mean, spec.RecordSize)
				}
			}
		})
	}
}

// checkFile checks one generated file by its extension.
func checkFile(t *testing.T, spec datasets.Spec, rec record, ext string, data []byte, main bool) {
	t.Helper()
	low := int64(float64(spec.RecordSize) * (1 - spec.SizeSpread))
	high := int64(float64(spec.RecordSize) * (1 + spec.SizeSpread))
	switch ext {
	case ".cls":
		label, err := strconv.Atoi(string(data))
		if err != nil || label < 0 || label >= 1000 {
			t.Errorf("%s.cls = %q", rec.name, data)
		}
		if js, ok := rec.files[".json"]; ok {
			var meta struct{ Label int }
			json.Unmarshal(js, &meta)
			if meta.Label != label {
				t.Errorf("%s: label %d in .cls, %d in .json", rec.name, label, meta.Label)
			}
		}
	case ".json":
		var meta struct {
			Key   string
			Label int
		}
		if err := json.Unmarshal(data, &meta); err != nil || meta.Key != rec.name {
			t.Errorf("%s.json = %s (%v)", rec.name, data, err)
		}
	case ".txt":
		if bytes.ContainsFunc(data, func(r rune) bool { return r != ' ' && (r < 'a' || r > 'z') }) {
			t.Errorf("%s.txt is not text: %q", rec.name, data)
		}
		if main && (int64(len(data)) < low || int64(len(data)) > high) {
			t.Errorf("%s.txt: %d bytes, want [%d, %d]", rec.name, len(data), low, high)
		}
	default:
		if int64(len(data)) < low || int64(len(data)) > high {
			t.Errorf("%s%s: %d bytes, want [%d, %d]", rec.name, ext, len(data), low, high)
		}
		if spec.SizeSpread == 0 && int64(len(data)) != spec.RecordSize {
			t.Errorf("%s%s: %d bytes, want exactly %d", rec.name, ext, len(data), spec.RecordSize)
		}
	}
}

func TestSpecValidate(t *testing.T) {
	valid := datasets.Spec{Template: "s-{0..9}.tar", Records: 1}
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid spec: %v", err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(*datasets.Spec)
		field string
	}{
		{"bad template", func(s *datasets.Spec) { s.Template = "s-{9..0}" }, "Template"},
		{"prefix-only template", func(s *datasets.Spec) { s.Template = "shards/" }, "Template"},
		{"unbounded template", func(s *datasets.Spec) { s.Template = "s-%04d.tar" }, "Template"},
		{"no records", func(s *datasets.Spec) { s.Records = 0 }, "Records"},
		{"negative size", func(s *datasets.Spec) { s.RecordSize = -1 }, "RecordSize"},
		{"spread above 1", func(s *datasets.Spec) { s.SizeSpread = 1.5 }, "SizeSpread"},
		{"negative spread", func(s *datasets.Spec) { s.SizeSpread = -0.1 }, "SizeSpread"},
		{"extension without dot", func(s *datasets.Spec) { s.Extensions = []string{"jpg"} }, "Extensions"},
		{"extension with slash", func(s *datasets.Spec) { s.Extensions = []string{".a/b"} }, "Extensions"},
		{"duplicate extension", func(s *datasets.Spec) { s.Extensions = []string{".jpg", ".jpg"} }, "Extensions"},
		{"unknown format", func(s *datasets.Spec) { s.Format = ".rar" }, "Format"},
		{"conflicting format", func(s *datasets.Spec) { s.Format = ".zip" }, "Format"},
		{"negative workers", func(s *datasets.Spec) { s.Workers = -1 }, "Workers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := valid
			tc.edit(&spec)
			err := spec.Validate()
			if !errors.Is(err, datasets.ErrInvalidSpec) || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("Validate() = %v, want an ErrInvalidSpec naming %s", err, tc.field)
			}
			if _, err := datasets.Generate(t.Context(), spec, (&memory{shards: map[string][]byte{}}).open); !errors.Is(err, datasets.ErrInvalidSpec) {
				t.Errorf("Generate accepted the spec: %v", err)
			}
		})
	}
}

func TestWriteLocal(t *testing.T) {
	dir := t.TempDir()
	spec := datasets.Spec{Template: "train/shard-{000..009}.tar", Records: 10, RecordSize: 1 << 10, Seed: 3}
	st, err := datasets.WriteLocal(t.Context(), spec, dir)
	if err != nil {
		t.Fatal(err)
	}
	inMemory, _ := generate(t, spec)
	entries, _ := os.ReadDir(filepath.Join(dir, "train"))
	if len(entries) != 10 || st.Shards != 10 {
		t.Fatalf("%d files, Stats %+v", len(entries), st)
	}
	for name, want := range inMemory {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s differs from the in-memory shard (%v)", name, err)
		}
	}
}

func TestWriteLocalCancelLeavesNoPartialShard(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	spec := datasets.Spec{Template: "s-{0..99}.tar", Records: 100, RecordSize: 1 << 10}
	if _, err := datasets.WriteLocal(ctx, spec, dir); !errors.Is(err, context.Canceled) {
		t.Fatalf("WriteLocal with a canceled context: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		t.Errorf("left %s behind", e.Name())
	}
}

// failingShard fails its writes after a few bytes.
type failingShard struct {
	written int
	aborted *atomic.Int64
}

var errFull = errors.New("device full")

func (f *failingShard) Write(p []byte) (int, error) {
	if f.written+len(p) > 5000 {
		return 0, errFull
	}
	f.written += len(p)
	return len(p), nil
}

func (f *failingShard) Close() error { return nil }
func (f *failingShard) Abort() error { f.aborted.Add(1); return nil }

func TestGenerateStopsAtFirstError(t *testing.T) {
	var aborted atomic.Int64
	spec := datasets.Spec{Template: "s-{0..9}.tar", Records: 100, RecordSize: 1 << 10, Workers: 2}
	st, err := datasets.Generate(t.Context(), spec, func(string) (io.WriteCloser, error) {
		return &failingShard{aborted: &aborted}, nil
	})
	if !errors.Is(err, errFull) || !strings.Contains(err.Error(), "generate shard s-") {
		t.Fatalf("error %v, want the writer's, naming the shard", err)
	}
	if st.Shards != 0 || aborted.Load() == 0 || aborted.Load() > 3 {
		t.Errorf("Stats %+v, %d shards aborted", st, aborted.Load())
	}
}
