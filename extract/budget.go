package extract

import (
	"sync/atomic"

	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/shards"
)

// Budget caps the bytes of record contents a job keeps in memory. It is
// safe for concurrent use.
type Budget struct {
	limit int64
	used  atomic.Int64
	peak  atomic.Int64
	// metadata counts apart the bytes Charge takes: record names and
	// keys, held to the job's end.
	metadata atomic.Int64
	// parent, when set, is the node's budget every job's counts in too:
	// concurrent jobs share the memory, each within its own limit.
	parent *Budget
}

// NewBudget returns a budget of limit bytes; limit <= 0 means none.
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

// Child returns a budget of limit bytes whose reservations are also taken
// from b.
func (b *Budget) Child(limit int64) *Budget { return &Budget{limit: limit, parent: b} }

// Limit returns the budget's limit in bytes (0: unlimited).
func (b *Budget) Limit() int64 { return max(b.limit, 0) }

// Reserve takes n bytes if they fit and reports whether they did.
func (b *Budget) Reserve(n int64) bool {
	for {
		used := b.used.Load()
		if b.limit > 0 && used+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			if b.parent != nil && !b.parent.Reserve(n) {
				b.used.Add(-n)
				return false
			}
			for peak := b.peak.Load(); used+n > peak && !b.peak.CompareAndSwap(peak, used+n); peak = b.peak.Load() {
			}
			return true
		}
	}
}

// Charge takes n bytes of record metadata (names, keys), which a job
// holds to its end and cannot spill. They count apart from contents, up
// to MetadataLimit, in the parent too: a shard of millions of long names
// fails its job instead of taking the node's memory.
func (b *Budget) Charge(n int64) bool {
	if held := b.metadata.Add(n); b.limit > 0 && held > b.MetadataLimit() {
		b.metadata.Add(-n)
		return false
	}
	if b.parent != nil && !b.parent.Charge(n) {
		b.metadata.Add(-n)
		return false
	}
	return true
}

// Uncharge returns n bytes Charge took (a duplicate's key, dropped).
func (b *Budget) Uncharge(n int64) {
	for p := b; p != nil; p = p.parent {
		p.metadata.Add(-n)
	}
}

// ReleaseMetadata returns every byte Charge took.
func (b *Budget) ReleaseMetadata() {
	n := b.metadata.Swap(0)
	for p := b.parent; p != nil; p = p.parent {
		p.metadata.Add(-n)
	}
}

// MetadataLimit is the most bytes Charge takes (0: unlimited): an eighth
// of the limit, and at least metadataFloor.
func (b *Budget) MetadataLimit() int64 {
	if b.limit <= 0 {
		return 0
	}
	return max(b.limit/8, metadataFloor)
}

// metadataFloor is the least MetadataLimit: about a million members of
// short names, whatever the budget of their contents.
var metadataFloor int64 = 256 << 20

// MetadataCost is what a member named name takes in memory beside its
// contents: the name, kept by its file and its record, and their fields.
func MetadataCost(name string) int64 { return 2*int64(len(name)) + 256 }

// Release returns n bytes.
func (b *Budget) Release(n int64) {
	b.used.Add(-n)
	if b.parent != nil {
		b.parent.Release(n)
	}
}

// Used returns the bytes held now.
func (b *Budget) Used() int64 { return b.used.Load() }

// Peak returns the most bytes held at once.
func (b *Budget) Peak() int64 { return b.peak.Load() }

// MemoryNeed returns what extracting records (as a HeadersOnly Run found
// them) would take of a budget of limit bytes, 0 meaning none. memory is
// what keeping every file that can be kept would hold: the pooled buffer
// of each file of up to 4 MiB. past is the bytes of the files the budget
// cannot keep, taken in record order: bigger files, and those past the
// limit; they go to spill files. A plain tar keeps nothing: its entries
// stay in their shard and are read at creation.
func MemoryNeed(format formats.Format, records []shards.Record, limit int64) (memory, past int64) {
	if format.Offsets() {
		return 0, 0
	}
	var used int64
	for i := range records {
		for _, f := range records[i].Files {
			size := f.Size
			if size > maxInMemory {
				past += size
				continue
			}
			held := int64(pool.Capacity(int(size)))
			memory += held
			if limit > 0 && used+held > limit {
				past += size
				continue
			}
			used += held
		}
	}
	return memory, past
}
