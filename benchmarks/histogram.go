package benchmarks

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Latencies go into log-linear buckets: exact below 2^subBits ns, then
// 2^subBits buckets per power of two, so a percentile is within 1/32 (3%)
// of the truth, and the histogram has a fixed size whatever the count of
// operations.
const (
	subBits       = 5
	subBuckets    = 1 << subBits
	bucketsLength = (64 - subBits + 1) << subBits
)

// bucketOf returns the bucket of a value.
func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return (shift+1)<<subBits + int((v>>shift)&(subBuckets-1))
}

// bucketUpper returns the largest value of a bucket.
func bucketUpper(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	shift := i>>subBits - 1
	low := (uint64(subBuckets) | uint64(i&(subBuckets-1))) << shift
	return low + (uint64(1)<<shift - 1)
}

// Histogram counts durations; it is safe for concurrent use and never
// allocates after it is made.
type Histogram struct {
	counts [bucketsLength]atomic.Int64
	count  atomic.Int64
	sum    atomic.Int64 // nanoseconds
	min    atomic.Int64 // nanoseconds + 1, 0 when empty
	max    atomic.Int64
}

// Record adds one duration.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(uint64(v))].Add(1)
	h.count.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			break
		}
	}
	for {
		m := h.min.Load()
		if m != 0 && v+1 >= m || h.min.CompareAndSwap(m, v+1) {
			break
		}
	}
}

// Snapshot returns a copy of the counts.
func (h *Histogram) Snapshot() HistogramSnapshot {
	var s HistogramSnapshot
	for i := range h.counts {
		s.counts[i] = h.counts[i].Load()
	}
	s.Count, s.Sum = h.count.Load(), time.Duration(h.sum.Load())
	s.Max = time.Duration(h.max.Load())
	if m := h.min.Load(); m > 0 {
		s.Min = time.Duration(m - 1)
	}
	return s
}

// HistogramSnapshot is a copy of a histogram at one moment.
type HistogramSnapshot struct {
	counts   [bucketsLength]int64
	Count    int64
	Sum      time.Duration
	Min, Max time.Duration
}

// Since returns the durations recorded after prev, an earlier snapshot of
// the same histogram. Min and Max are the bounds of the buckets then used.
func (s HistogramSnapshot) Since(prev HistogramSnapshot) HistogramSnapshot {
	var d HistogramSnapshot
	first, last := -1, -1
	for i := range s.counts {
		d.counts[i] = s.counts[i] - prev.counts[i]
		if d.counts[i] > 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	d.Count, d.Sum = s.Count-prev.Count, s.Sum-prev.Sum
	if first >= 0 {
		d.Min = max(time.Duration(bucketUpper(first-1)+1), s.Min)
		if first == 0 {
			d.Min = 0
		}
		d.Max = min(time.Duration(bucketUpper(last)), s.Max)
	}
	return d
}

// Quantile returns the duration below which a fraction q of the
// durations fall, within the precision of a bucket.
func (s HistogramSnapshot) Quantile(q float64) time.Duration {
	if s.Count == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(s.Count)))
	rank = min(max(rank, 1), s.Count)
	var seen int64
	for i, c := range s.counts {
		seen += c
		if seen >= rank {
			upper := time.Duration(min(bucketUpper(i), math.MaxInt64))
			return min(max(upper, s.Min), s.Max)
		}
	}
	return s.Max
}

// Mean returns the average duration.
func (s HistogramSnapshot) Mean() time.Duration {
	if s.Count == 0 {
		return 0
	}
	return s.Sum / time.Duration(s.Count)
}
