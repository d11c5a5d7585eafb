package shards_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/shards"
)

func TestSplitName(t *testing.T) {
	tests := []struct{ name, record, ext string }{
		{"a/b.cls.json", "a/b", ".cls.json"}, // reference §2.2
		{"a.b/c", "a.b/c", ""},
		{"a.b/c.jpg", "a.b/c", ".jpg"},
		{"sample-0.jpg", "sample-0", ".jpg"},
		{"noext", "noext", ""},
		{".hidden", "", ".hidden"},
		{"dir/.hidden", "dir/", ".hidden"},
		{"a/b.", "a/b", "."},
		{"", "", ""},
	}
	for _, tc := range tests {
		record, ext := shards.SplitName(tc.name)
		if record != tc.record || ext != tc.ext {
			t.Errorf("SplitName(%q) = %q, %q; want %q, %q", tc.name, record, ext, tc.record, tc.ext)
		}
	}
}

// groups renders a Grouper as "record: .ext@index ..." lines.
func groups(g *shards.Grouper) string {
	var b strings.Builder
	for r := range g.Records() {
		fmt.Fprintf(&b, "%s:", g.RecordName(r))
		for m := range g.Members(r) {
			fmt.Fprintf(&b, " %s@%d", m.Ext, m.Index)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestGrouper(t *testing.T) {
	tests := []struct {
		name       string
		files      []string
		want       string
		duplicates []shards.DuplicateError
	}{
		{
			name:  "contiguous",
			files: []string{"a.jpg", "a.cls", "b.jpg", "b.cls"},
			want:  "a: .jpg@0 .cls@1\nb: .jpg@2 .cls@3\n",
		},
		{
			name:  "interleaved keeps shard order",
			files: []string{"a.jpg", "b.jpg", "a.cls", "c.txt", "b.cls"},
			want:  "a: .jpg@0 .cls@2\nb: .jpg@1 .cls@4\nc: .txt@3\n",
		},
		{
			name:  "directories and multi-dot extensions",
			files: []string{"x/1.cls.json", "x/1.jpg", "y/1.jpg"},
			want:  "x/1: .cls.json@0 .jpg@1\ny/1: .jpg@2\n",
		},
		{
			name:       "duplicate keeps the later copy",
			files:      []string{"a.jpg", "a.cls", "a.jpg"},
			want:       "a: .cls@1 .jpg@2\n",
			duplicates: []shards.DuplicateError{{Record: "a", Ext: ".jpg", Previous: 0, Index: 2}},
		},
		{
			name:       "duplicate of the last file",
			files:      []string{"a.jpg", "a.cls", "a.cls", "b.cls"},
			want:       "a: .jpg@0 .cls@2\nb: .cls@3\n",
			duplicates: []shards.DuplicateError{{Record: "a", Ext: ".cls", Previous: 1, Index: 2}},
		},
		{
			name:       "non-contiguous duplicate",
			files:      []string{"a.jpg", "b.jpg", "a.jpg", "a.jpg"},
			want:       "a: .jpg@3\nb: .jpg@1\n",
			duplicates: []shards.DuplicateError{{Record: "a", Ext: ".jpg", Previous: 0, Index: 2}, {Record: "a", Ext: ".jpg", Previous: 2, Index: 3}},
		},
		{
			name:  "no extension",
			files: []string{"README", "a.b/c"},
			want:  "README: @0\na.b/c: @1\n",
		},
	}
	var g shards.Grouper // reused across cases to test Reset
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g.Reset()
			var duplicates []shards.DuplicateError
			for i, name := range tc.files {
				m, err := g.Add(name)
				if m.Index != i {
					t.Errorf("Add(%q).Index = %d, want %d", name, m.Index, i)
				}
				if g.RecordName(m.Record) != strings.TrimSuffix(name, m.Ext) {
					t.Errorf("Add(%q) went to record %q", name, g.RecordName(m.Record))
				}
				if err != nil {
					d, ok := errors.AsType[*shards.DuplicateError](err)
					if !ok || !errors.Is(err, shards.ErrDuplicate) {
						t.Fatalf("Add(%q): unexpected error %v", name, err)
					}
					duplicates = append(duplicates, *d)
				}
			}
			if got := groups(&g); got != tc.want {
				t.Errorf("groups:\n%s\nwant:\n%s", got, tc.want)
			}
			if !slices.Equal(duplicates, tc.duplicates) {
				t.Errorf("duplicates = %+v, want %+v", duplicates, tc.duplicates)
			}
			if g.Files() != len(tc.files) || g.Dropped() != len(tc.duplicates) {
				t.Errorf("Files() = %d, Dropped() = %d", g.Files(), g.Dropped())
			}
			live := 0
			for r := range g.Records() {
				live += g.RecordSize(r)
			}
			if live != len(tc.files)-len(tc.duplicates) {
				t.Errorf("live files = %d", live)
			}
			for _, d := range tc.duplicates {
				if !g.IsDropped(d.Previous) || g.IsDropped(d.Index) && d.Index == len(tc.files)-1 {
					t.Errorf("IsDropped wrong for %+v", d)
				}
			}
		})
	}
}

func TestGrouperAllocations(t *testing.T) {
	names := make([]string, 3000)
	for i := range names {
		names[i] = fmt.Sprintf("sample-%04d%s", i/3, []string{".jpg", ".cls", ".json"}[i%3])
	}
	var g shards.Grouper
	for _, n := range names {
		g.Add(n)
	}
	allocs := testing.AllocsPerRun(10, func() {
		g.Reset()
		for _, n := range names {
			if _, err := g.Add(n); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs > 0 {
		t.Errorf("a reused Grouper allocates %.0f times per shard", allocs)
	}
}

// FuzzSplitName checks the record/extension split on arbitrary names.
func FuzzSplitName(f *testing.F) {
	for _, s := range []string{"a/b.cls.json", "a.b/c", ".x", "", "a/", "//..."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		record, ext := shards.SplitName(name)
		if record+ext != name {
			t.Fatalf("SplitName(%q) = %q + %q", name, record, ext)
		}
		if ext != "" && (ext[0] != '.' || strings.Contains(ext, "/")) {
			t.Fatalf("SplitName(%q): extension %q", name, ext)
		}
		base := record[strings.LastIndexByte(record, '/')+1:]
		if strings.Contains(base, ".") {
			t.Fatalf("SplitName(%q): record %q keeps a dot in its base name", name, record)
		}
	})
}

// FuzzGrouper checks the Grouper against a plain model with maps: the same
// records in order of first appearance, the same files, the same
// duplicates.
func FuzzGrouper(f *testing.F) {
	f.Add("a.jpg\na.cls\nb.jpg\nb.cls")
	f.Add("a.jpg\nb.jpg\na.jpg\na.cls\nc\na.jpg")
	f.Add("x/1.cls.json\nx/1.jpg\n.hidden\n\n\n")
	f.Fuzz(func(t *testing.T, list string) {
		names := strings.Split(list, "\n")
		if len(names) > 1000 {
			return
		}
		type slot struct {
			ext   string
			index int
		}
		var order []string
		model := map[string][]slot{}
		var g shards.Grouper
		for i, name := range names {
			record, ext := shards.SplitName(name)
			files, seen := model[record]
			if !seen {
				order = append(order, record)
			}
			duplicate := slices.IndexFunc(files, func(s slot) bool { return s.ext == ext })
			if duplicate >= 0 {
				files = slices.Delete(files, duplicate, duplicate+1)
			}
			model[record] = append(files, slot{ext, i})
			m, err := g.Add(name)
			if (err != nil) != (duplicate >= 0) {
				t.Fatalf("Add(%q): error %v, model duplicate %v", name, err, duplicate >= 0)
			}
			if m.Index != i || g.RecordName(m.Record) != record || m.Ext != ext {
				t.Fatalf("Add(%q) = %+v", name, m)
			}
		}
		if g.Records() != len(order) {
			t.Fatalf("%d records, model %d", g.Records(), len(order))
		}
		for r, record := range order {
			if g.RecordName(r) != record {
				t.Fatalf("record %d is %q, model %q", r, g.RecordName(r), record)
			}
			var got []slot
			for m := range g.Members(r) {
				got = append(got, slot{m.Ext, m.Index})
			}
			if !slices.Equal(got, model[record]) || g.RecordSize(r) != len(got) {
				t.Fatalf("record %q: %v, model %v", record, got, model[record])
			}
		}
	})
}

// A shard past the Grouper's limits is refused, not kept in memory: a
// compressed shard of empty entries expands to any number of files, and
// a record of many files costs a match of each new one against the rest.
func TestGrouperLimits(t *testing.T) {
	var g shards.Grouper
	for i := range shards.MaxRecordFiles {
		if _, err := g.Add(fmt.Sprintf("sample.%d", i)); err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
	}
	if _, err := g.Add("sample.last"); !errors.Is(err, shards.ErrTooManyFiles) || !strings.Contains(err.Error(), `record "sample"`) {
		t.Fatalf("a record of %d files and one more: %v", shards.MaxRecordFiles, err)
	}
	// One of its files again replaces it: the record does not grow.
	if _, err := g.Add("sample.7"); !errors.Is(err, shards.ErrDuplicate) {
		t.Fatalf("a file of a full record again: %v, want it replaced (a duplicate)", err)
	}
	g.Reset()
	defer shards.SetShardFilesLimit(1 << 16)()
	// The same name again and again: every earlier file is dropped as a
	// duplicate, but each still counts.
	for i := range 1 << 16 {
		if _, err := g.Add("same.bin"); err != nil && !errors.Is(err, shards.ErrDuplicate) {
			t.Fatalf("file %d: %v", i, err)
		}
	}
	if _, err := g.Add("same.bin"); !errors.Is(err, shards.ErrTooManyFiles) {
		t.Fatalf("a shard of %d files and one more: %v", 1<<16, err)
	}
}

// Records of many files, their duplicates dropped anywhere in them, are
// grouped as a plain model does: each record's files in shard order, a
// duplicate in the place of its later copy (large records are found by
// extension through a map, not a walk, and unlinked in place).
func TestGrouperLargeRecordsMatchAModel(t *testing.T) {
	type file struct {
		index int
		ext   string
	}
	rng := rand.New(rand.NewPCG(7, 7))
	var g shards.Grouper
	for round := range 3 {
		g.Reset()
		model := map[string][]file{}
		var order []string
		for i := range 5000 {
			record := fmt.Sprintf("r%d", rng.IntN(4))
			ext := fmt.Sprintf(".e%d", rng.IntN(40+round*100))
			m, err := g.Add(record + ext)
			if m.Index != i {
				t.Fatalf("file %d placed at %d", i, m.Index)
			}
			files, seen := model[record]
			if !seen {
				order = append(order, record)
			}
			at := slices.IndexFunc(files, func(f file) bool { return f.ext == ext })
			var dup *shards.DuplicateError
			switch {
			case at >= 0 && (!errors.As(err, &dup) || dup.Previous != files[at].index || dup.Index != i):
				t.Fatalf("round %d: %s%s, file %d: %v, want a duplicate of file %d", round, record, ext, i, err, files[at].index)
			case at < 0 && err != nil:
				t.Fatalf("round %d: %s%s, file %d: %v", round, record, ext, i, err)
			case at >= 0:
				files = slices.Delete(files, at, at+1)
			}
			model[record] = append(files, file{i, ext})
		}
		if g.Records() != len(order) {
			t.Fatalf("round %d: %d records, want %d", round, g.Records(), len(order))
		}
		for r, name := range order {
			var got []file
			for m := range g.Members(r) {
				got = append(got, file{m.Index, m.Ext})
			}
			if g.RecordName(r) != name || !slices.Equal(got, model[name]) || g.RecordSize(r) != len(model[name]) {
				t.Fatalf("round %d: record %d (%s): %v, want %v", round, r, g.RecordName(r), got, model[name])
			}
		}
	}
}
