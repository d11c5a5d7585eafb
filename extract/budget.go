package extract

import "sync/atomic"

// Budget caps the bytes of record contents a job keeps in memory. It is
// safe for concurrent use.
type Budget struct {
	limit int64
	used  atomic.Int64
	peak  atomic.Int64
}

// NewBudget returns a budget of limit bytes; limit <= 0 means none.
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

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
			for peak := b.peak.Load(); used+n > peak && !b.peak.CompareAndSwap(peak, used+n); peak = b.peak.Load() {
			}
			return true
		}
	}
}

// Release returns n bytes.
func (b *Budget) Release(n int64) { b.used.Add(-n) }

// Used returns the bytes held now.
func (b *Budget) Used() int64 { return b.used.Load() }

// Peak returns the most bytes held at once.
func (b *Budget) Peak() int64 { return b.peak.Load() }
