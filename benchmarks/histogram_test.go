package benchmarks

import (
	"bytes"
	"io"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// Every value falls in a bucket whose bounds hold it, no wider than 1/32
// of the value, and buckets are in order.
func TestHistogramBuckets(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	values := []uint64{0, 1, 31, 32, 33, 63, 64, 65, 1000, 1 << 40, math.MaxInt64, math.MaxUint64}
	for range 10000 {
		values = append(values, rng.Uint64()>>rng.IntN(64))
	}
	for _, v := range values {
		i := bucketOf(v)
		upper := bucketUpper(i)
		lower := uint64(0)
		if i > 0 {
			lower = bucketUpper(i-1) + 1
		}
		if v < lower || v > upper {
			t.Fatalf("value %d in bucket %d of [%d, %d]", v, i, lower, upper)
		}
		if width := upper - lower; v >= subBuckets && float64(width) > float64(v)/subBuckets {
			t.Fatalf("value %d: bucket [%d, %d] is wider than 1/%d", v, lower, upper, subBuckets)
		}
		if i >= bucketsLength {
			t.Fatalf("value %d: bucket %d past the end", v, i)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	// 1..1000 µs, each once, shuffled.
	rng := rand.New(rand.NewPCG(3, 4))
	for _, i := range rng.Perm(1000) {
		h.Record(time.Duration(i+1) * time.Microsecond)
	}
	s := h.Snapshot()
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.9, 900 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, time.Millisecond}} {
		got := s.Quantile(tc.q)
		if got < tc.want || float64(got) > float64(tc.want)*(1+1.0/subBuckets) {
			t.Errorf("quantile %v = %v, want %v within 3%%", tc.q, got, tc.want)
		}
	}
	if s.Count != 1000 || s.Min != time.Microsecond || s.Max != time.Millisecond || s.Mean() != 500500*time.Nanosecond {
		t.Fatalf("count %d min %v max %v mean %v", s.Count, s.Min, s.Max, s.Mean())
	}
	// An interval sees only what came after the earlier snapshot.
	h.Record(5 * time.Second)
	d := h.Snapshot().Since(s)
	if d.Count != 1 || d.Quantile(0.5) != 5*time.Second || d.Max != 5*time.Second {
		t.Fatalf("interval: count %d p50 %v max %v", d.Count, d.Quantile(0.5), d.Max)
	}
	var empty Histogram
	if q := empty.Snapshot().Quantile(0.99); q != 0 {
		t.Fatalf("empty histogram p99 %v", q)
	}
}

// A PUT body is size bytes, seeks back for a resend, and reads the same.
func TestPatternReader(t *testing.T) {
	pattern := make([]byte, 1000)
	rand.NewChaCha8([32]byte{1}).Read(pattern)
	for _, tc := range []struct {
		name        string
		size        int64
		start       int
		bufferBytes int
	}{
		{"empty", 0, 0, 10},
		{"within the pattern", 500, 100, 64},
		{"wraps around", 2500, 900, 333},
		{"one byte reads", 50, 990, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &patternReader{pattern: pattern}
			p.reset(tc.size, tc.start)
			first := readAll(t, p, tc.bufferBytes)
			if int64(len(first)) != tc.size {
				t.Fatalf("read %d bytes, want %d", len(first), tc.size)
			}
			for i := range first {
				if first[i] != pattern[(tc.start+i)%len(pattern)] {
					t.Fatalf("byte %d differs from the pattern", i)
				}
			}
			if _, err := p.Seek(0, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			if again := readAll(t, p, tc.bufferBytes+7); !bytes.Equal(again, first) {
				t.Fatal("a second read after Seek(0) differs")
			}
		})
	}
}

func readAll(t *testing.T, r io.Reader, bufferBytes int) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, bufferBytes)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// The per-operation paths of the loader allocate nothing: the PUT body,
// the latency histogram, the counters.
func TestLoaderAllocations(t *testing.T) {
	pattern := make([]byte, patternSize)
	p := &patternReader{pattern: pattern}
	buf := make([]byte, 64<<10)
	var counters opCounters
	allocs := testing.AllocsPerRun(100, func() {
		p.reset(300<<10, 12345)
		for {
			if _, err := p.Read(buf); err == io.EOF {
				break
			}
		}
		counters.done(300<<10, 3*time.Millisecond)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per operation", allocs)
	}
}
