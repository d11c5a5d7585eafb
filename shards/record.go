package shards

import (
	"errors"
	"fmt"
	"iter"
	"strings"
)

// ErrDuplicate marks a second file with the same record name and extension
// in one shard; a *DuplicateError carries the details.
var ErrDuplicate = errors.New("shards: duplicate file in record")

// ErrTooManyFiles marks a shard past a Grouper's limits.
var ErrTooManyFiles = errors.New("shards: too many files")

// A Grouper's limits: a compressed shard of empty entries expands to any
// number of files, each kept until the shard is done; and a record's
// files are matched by extension one after the other.
const (
	MaxShardFiles  = 1 << 22
	MaxRecordFiles = 1 << 12
)

// shardFilesLimit is MaxShardFiles, lowered by the tests (four million
// files take 20 s under -race).
var shardFilesLimit = MaxShardFiles

// SplitName splits an in-archive file name into its record name and its
// extension. The extension starts at the first '.' of the last path
// component: "a/b.cls.json" gives "a/b" and ".cls.json"; "a.b/c" gives
// "a.b/c" and ""; ".hidden" gives "" and ".hidden".
func SplitName(name string) (record, ext string) {
	base := strings.LastIndexByte(name, '/') + 1
	dot := strings.IndexByte(name[base:], '.')
	if dot < 0 {
		return name, ""
	}
	return name[:base+dot], name[base+dot:]
}

// DuplicateError reports a file whose record already has a file with the
// same extension in the same shard. The Grouper keeps the later file.
type DuplicateError struct {
	Record   string // record name
	Ext      string // the shared extension
	Previous int    // index of the earlier file, now dropped
	Index    int    // index of the later file, kept
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("record %q has two %q files (files %d and %d); keeping the later", e.Record, e.Ext, e.Previous, e.Index)
}

// Unwrap returns ErrDuplicate.
func (e *DuplicateError) Unwrap() error { return ErrDuplicate }

// Member is one file of a shard as a Grouper placed it.
type Member struct {
	Index  int    // position of the file among those added, from 0
	Record int    // index of its record, in order of first appearance, from 0
	Ext    string // its extension
}

// Grouper assigns the files of one shard to records, in shard order. Files of
// a record are usually contiguous in a shard; the Grouper then costs one
// string comparison per file and one map insert per record, and stores a
// fixed-size slot per file and per record. A record whose files are not
// contiguous is still grouped correctly. The zero value is ready to use;
// Reset reuses the memory for the next shard. A Grouper is not safe for
// concurrent use.
type Grouper struct {
	members []memberSlot
	records []recordSlot
	index   map[string]int // record name → record index
	// byExt finds the live member of a record by extension, for records
	// past indexedFrom files (a walk of thousands per file would take
	// minutes over a shard of millions).
	byExt   map[recordExt]int
	dropped int // members dropped as duplicates
}

type memberSlot struct {
	ext        string
	record     int
	prev, next int // the record's live members before and after, or -1
	live       bool
}

type recordSlot struct {
	name        string
	first, last int // first and last live member, or -1
	size        int // live members
	indexed     bool
	// origin is the record's first member, live or dropped since (a
	// duplicate of it came later): its name is the record's key.
	origin int
}

type recordExt struct {
	record int
	ext    string
}

// indexedFrom is the size past which a record's members are found by a
// map rather than a walk.
const indexedFrom = 16

// Reset forgets every file and record, keeping the allocated memory.
func (g *Grouper) Reset() {
	g.members = g.members[:0]
	g.records = g.records[:0]
	clear(g.index)
	clear(g.byExt)
	g.dropped = 0
}

// Add places the next file of the shard, given its in-archive name, and
// returns where it went. If its record already has a file with the same
// extension, the earlier file is dropped, the new one is appended to the
// record, and the error is a *DuplicateError: the caller ignores it, logs
// it or aborts. Add keeps a reference to name, never a copy.
func (g *Grouper) Add(name string) (Member, error) {
	record, ext := SplitName(name)
	index := len(g.members)
	if index >= shardFilesLimit {
		return Member{}, fmt.Errorf("%w: more than %d files in one shard", ErrTooManyFiles, shardFilesLimit)
	}
	r := -1
	if n := len(g.records); n > 0 && g.records[n-1].name == record {
		r = n - 1 // contiguous: the common case
	} else if found, ok := g.index[record]; ok {
		r = found
	}
	if r < 0 {
		r = len(g.records)
		g.records = append(g.records, recordSlot{name: record, first: -1, last: -1, origin: index})
		if g.index == nil {
			g.index = make(map[string]int)
		}
		g.index[record] = r
	}
	// A file again (the last one kept) does not grow the record.
	previous := g.find(r, ext)
	if previous < 0 && g.records[r].size >= MaxRecordFiles {
		return Member{}, fmt.Errorf("%w: record %q has more than %d files", ErrTooManyFiles, record, MaxRecordFiles)
	}
	var err error
	if previous >= 0 {
		g.unlink(r, previous)
		err = &DuplicateError{Record: record, Ext: ext, Previous: previous, Index: index}
	}
	rec := &g.records[r]
	g.members = append(g.members, memberSlot{ext: ext, record: r, prev: rec.last, next: -1, live: true})
	if rec.last >= 0 {
		g.members[rec.last].next = index
	} else {
		rec.first = index
	}
	rec.last = index
	rec.size++
	switch {
	case rec.indexed:
		g.byExt[recordExt{r, ext}] = index
	case rec.size > indexedFrom:
		if g.byExt == nil {
			g.byExt = make(map[recordExt]int)
		}
		for m := rec.first; m >= 0; m = g.members[m].next {
			g.byExt[recordExt{r, g.members[m].ext}] = m
		}
		rec.indexed = true
	}
	return Member{Index: index, Record: r, Ext: ext}, err
}

// find returns the live member of record r with extension ext, or -1.
func (g *Grouper) find(r int, ext string) int {
	if g.records[r].indexed {
		if m, ok := g.byExt[recordExt{r, ext}]; ok {
			return m
		}
		return -1
	}
	for m := g.records[r].first; m >= 0; m = g.members[m].next {
		if g.members[m].ext == ext {
			return m
		}
	}
	return -1
}

// unlink drops member m from record r.
func (g *Grouper) unlink(r, m int) {
	rec := &g.records[r]
	prev, next := g.members[m].prev, g.members[m].next
	if prev < 0 {
		rec.first = next
	} else {
		g.members[prev].next = next
	}
	if next < 0 {
		rec.last = prev
	} else {
		g.members[next].prev = prev
	}
	if rec.indexed {
		delete(g.byExt, recordExt{r, g.members[m].ext})
	}
	g.members[m].live, g.members[m].prev, g.members[m].next = false, -1, -1
	rec.size--
	g.dropped++
}

// Files returns the number of files added, duplicates included.
func (g *Grouper) Files() int { return len(g.members) }

// Dropped returns the number of files dropped as duplicates.
func (g *Grouper) Dropped() int { return g.dropped }

// Records returns the number of records, in order of first appearance.
func (g *Grouper) Records() int { return len(g.records) }

// RecordName returns the name of record r.
func (g *Grouper) RecordName(r int) string { return g.records[r].name }

// FirstMember returns the index of record r's first file in the shard,
// dropped since or not: AIStore keys a record by that file's name.
func (g *Grouper) FirstMember(r int) int { return g.records[r].origin }

// RecordSize returns the number of files of record r.
func (g *Grouper) RecordSize(r int) int { return g.records[r].size }

// Members yields the files of record r in shard order, a duplicate in the
// place of its later copy.
func (g *Grouper) Members(r int) iter.Seq[Member] {
	return func(yield func(Member) bool) {
		for m := g.records[r].first; m >= 0; m = g.members[m].next {
			if !yield(Member{Index: m, Record: r, Ext: g.members[m].ext}) {
				return
			}
		}
	}
}

// IsDropped reports whether file i was dropped as a duplicate.
func (g *Grouper) IsDropped(i int) bool { return !g.members[i].live }
