package ec_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/ec"
)

var layouts = []ec.Layout{{1, 1}, {2, 1}, {2, 2}, {4, 2}, {8, 4}}

// sizes cross the edges of slices and of streaming columns.
var sizes = []int64{0, 1, 2, 3, 7, 8, 9, 100, 4095, 4096, 4097, 65535, 65536 + 3, 256<<10 + 1, 1<<20 - 1, 1<<20 + 13, 5<<20 + 7}

func randomBytes(rng *rand.Rand, n int64) []byte {
	b := make([]byte, n+8)
	for i := int64(0); i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	return b[:n:n]
}

func newCodec(t testing.TB, l ec.Layout) *ec.Codec {
	t.Helper()
	c, err := ec.NewCodec(l)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dropped returns a copy of slices with the slices at count random
// indexes set to nil.
func dropped(rng *rand.Rand, slices [][]byte, count int) [][]byte {
	out := make([][]byte, len(slices))
	copy(out, slices)
	for _, i := range rng.Perm(len(slices))[:count] {
		out[i] = nil
	}
	return out
}

func TestLayoutValidate(t *testing.T) {
	tests := []struct {
		layout  ec.Layout
		wantErr string // substring; empty = valid
	}{
		{ec.Layout{1, 1}, ""},
		{ec.Layout{8, 4}, ""},
		{ec.Layout{255, 1}, ""},
		{ec.Layout{1, 255}, ""},
		{ec.Layout{0, 2}, "ec.data_slices"},
		{ec.Layout{-1, 2}, "ec.data_slices"},
		{ec.Layout{2, 0}, "ec.parity_slices"},
		{ec.Layout{200, 57}, "at most 256"},
		{ec.Layout{int(^uint(0) >> 1), 1}, "at most 256"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d+%d", tc.layout.Data, tc.layout.Parity), func(t *testing.T) {
			err := tc.layout.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("no error, want one about %q", tc.wantErr)
			case tc.wantErr != "" && (!errors.Is(err, store.ErrInvalidProps) || !bytes.Contains([]byte(err.Error()), []byte(tc.wantErr))):
				t.Fatalf("got %v, want ErrInvalidProps about %q", err, tc.wantErr)
			}
			if _, err2 := ec.NewCodec(tc.layout); (err2 == nil) != (err == nil) {
				t.Fatalf("NewCodec: %v, Validate: %v", err2, err)
			}
		})
	}
}

func TestLayoutSliceSize(t *testing.T) {
	tests := []struct {
		layout ec.Layout
		size   int64
		want   int64
	}{
		{ec.Layout{4, 2}, 0, 0},
		{ec.Layout{4, 2}, 1, 1},
		{ec.Layout{4, 2}, 4, 1},
		{ec.Layout{4, 2}, 5, 2},
		{ec.Layout{1, 1}, 9, 9},
		{ec.Layout{8, 4}, 1 << 40, 1 << 37},
		{ec.Layout{3, 1}, 1<<62 + 1, 1<<62/3 + 1},
	}
	for _, tc := range tests {
		if got := tc.layout.SliceSize(tc.size); got != tc.want {
			t.Errorf("%+v.SliceSize(%d) = %d, want %d", tc.layout, tc.size, got, tc.want)
		}
	}
}

// EncodeShared gives the slices Encode gives, leaves the data as it was,
// and zero-pads even when the pool hands back dirty memory.
func TestEncodeSharedMatchesEncode(t *testing.T) {
	objects := sizedObjects(rand.New(rand.NewPCG(4, 4)))
	for _, l := range layouts {
		c := newCodec(t, l)
		for round := range 3 {
			for _, size := range sizes {
				data := objects[size]
				original := bytes.Clone(data)
				want, err := c.Encode(data)
				if err != nil {
					t.Fatal(err)
				}
				got, release, err := c.EncodeShared(data)
				if err != nil {
					t.Fatal(err)
				}
				for i := range want {
					if !bytes.Equal(got[i], want[i]) {
						t.Fatalf("%+v size %d round %d: slice %d differs from Encode's", l, size, round, i)
					}
				}
				if !bytes.Equal(data, original) {
					t.Fatalf("%+v size %d: EncodeShared changed the data", l, size)
				}
				// Dirty the pooled memory for the next round.
				for i := l.Data - 1; i < len(got); i++ {
					if i >= 0 && int64(i+1)*l.SliceSize(size) > size {
						for j := range got[i] {
							got[i][j] = 0xa5
						}
					}
				}
				release()
			}
		}
	}
}

func TestEncodeLayout(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, l := range layouts {
		c := newCodec(t, l)
		for _, size := range sizes {
			data := randomBytes(rng, size)
			slices, err := c.Encode(data)
			if err != nil {
				t.Fatal(err)
			}
			if len(slices) != l.Data+l.Parity {
				t.Fatalf("%+v: %d slices", l, len(slices))
			}
			var joined []byte
			for i, s := range slices {
				if int64(len(s)) != l.SliceSize(size) {
					t.Fatalf("%+v size %d: slice %d has %d bytes, want %d", l, size, i, len(s), l.SliceSize(size))
				}
				if i < l.Data {
					joined = append(joined, s...)
				}
			}
			if !bytes.Equal(joined[:size], data) {
				t.Fatalf("%+v size %d: the data slices are not the object", l, size)
			}
			if bytes.ContainsFunc(joined[size:], func(r rune) bool { return r != 0 }) {
				t.Fatalf("%+v size %d: the padding is not zero", l, size)
			}
		}
	}
}

func TestRestore(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, l := range layouts {
		c := newCodec(t, l)
		for _, size := range sizes {
			data := randomBytes(rng, size)
			slices, err := c.Encode(data)
			if err != nil {
				t.Fatal(err)
			}
			trials := 6
			if size > 1<<20 {
				trials = 2
			}
			for range trials {
				lost := rng.IntN(l.Parity + 1)
				some := dropped(rng, slices, lost)
				got, err := c.Restore(some, size)
				if err != nil {
					t.Fatalf("%+v size %d, %d lost: %v", l, size, lost, err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("%+v size %d, %d lost: wrong bytes", l, size, lost)
				}
				if size == 0 {
					continue // nothing to lose
				}
				some = dropped(rng, slices, l.Parity+1+rng.IntN(l.Data))
				got, err = c.Restore(some, size)
				if !errors.Is(err, ec.ErrUnrecoverable) || got != nil {
					t.Fatalf("%+v size %d, %d lost: got %d bytes, %v; want ErrUnrecoverable", l, size, l.Parity+1, len(got), err)
				}
			}
		}
	}
}

func TestRestoreKeepsInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	c := newCodec(t, ec.Layout{4, 2})
	data := randomBytes(rng, 10007)
	slices, _ := c.Encode(data)
	some := dropped(rng, slices, 2)
	before := make([][]byte, len(some))
	for i, s := range some {
		before[i] = bytes.Clone(s)
	}
	if _, err := c.Restore(some, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	for i := range some {
		if !bytes.Equal(some[i], before[i]) || (some[i] == nil) != (before[i] == nil) {
			t.Fatalf("Restore changed slice %d", i)
		}
	}
}

func TestRestoreMismatch(t *testing.T) {
	c := newCodec(t, ec.Layout{2, 2})
	slices, _ := c.Encode([]byte("hello, world"))
	short := make([][]byte, 4)
	copy(short, slices)
	short[1] = short[1][:3]
	tests := []struct {
		name   string
		slices [][]byte
		size   int64
	}{
		{"too few slices", slices[:3], 12},
		{"too many slices", append(slices[:4:4], nil), 12},
		{"short slice", short, 12},
		{"size of other slices", slices, 100},
		{"negative size", slices, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Restore(tc.slices, tc.size)
			if !errors.Is(err, ec.ErrSliceMismatch) || got != nil {
				t.Fatalf("got %q, %v; want ErrSliceMismatch", got, err)
			}
		})
	}
	if got, err := c.Restore(make([][]byte, 4), 0); err != nil || len(got) != 0 {
		t.Fatalf("an empty object: %q, %v", got, err)
	}
}

// writerAt collects what RestoreStream writes, and refuses writes past
// size or twice at one place.
type writerAt struct {
	buf     []byte
	written []bool
}

func newWriterAt(size int64) *writerAt {
	return &writerAt{buf: make([]byte, size), written: make([]bool, size)}
}

func (w *writerAt) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(w.buf)) {
		return 0, fmt.Errorf("write of %d bytes at %d, past %d", len(p), off, len(w.buf))
	}
	for i := range p {
		if w.written[off+int64(i)] {
			return 0, fmt.Errorf("byte %d written twice", off+int64(i))
		}
		w.written[off+int64(i)] = true
	}
	return copy(w.buf[off:], p), nil
}

func (w *writerAt) complete() bool {
	for _, ok := range w.written {
		if !ok {
			return false
		}
	}
	return true
}

// readers returns a reader of each present slice, nil for the missing.
func readers(slices [][]byte) []io.Reader {
	out := make([]io.Reader, len(slices))
	for i, s := range slices {
		if s != nil {
			out[i] = bytes.NewReader(s)
		}
	}
	return out
}

// chunks are streaming column sizes: tiny ones cross many columns.
var chunks = []int64{0, 1, 7, 64, 4096} // 0: the default

func streamCodec(t testing.TB, l ec.Layout, chunk int64) *ec.Codec {
	t.Helper()
	if chunk == 0 {
		return newCodec(t, l)
	}
	c, err := ec.NewCodecChunk(l, chunk)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEncodeStream(t *testing.T) {
	// One object of each size, one whole encoding of it per layout: under
	// -race the time goes to allocations' size, not to the streams.
	data := sizedObjects(rand.New(rand.NewPCG(4, 4)))
	for _, l := range layouts {
		whole := newCodec(t, l)
		for _, size := range sizes {
			want, err := whole.Encode(data[size])
			if err != nil {
				t.Fatal(err)
			}
			for _, chunk := range chunks {
				if chunk > 0 && l.SliceSize(size)/chunk > 2000 {
					continue // slow, and crosses nothing new
				}
				out := make([]*bytes.Buffer, len(want))
				writers := make([]io.Writer, len(want))
				for i := range out {
					out[i] = bytes.NewBuffer(make([]byte, 0, len(want[i])))
					writers[i] = out[i]
				}
				if err := streamCodec(t, l, chunk).EncodeStream(bytes.NewReader(data[size]), size, writers); err != nil {
					t.Fatalf("%+v chunk %d size %d: %v", l, chunk, size, err)
				}
				for i := range want {
					if !bytes.Equal(out[i].Bytes(), want[i]) {
						t.Fatalf("%+v chunk %d size %d: slice %d differs from Encode's", l, chunk, size, i)
					}
				}
			}
		}
	}
}

// sizedObjects is random contents of each of sizes.
func sizedObjects(rng *rand.Rand) map[int64][]byte {
	objects := map[int64][]byte{}
	for _, size := range sizes {
		objects[size] = randomBytes(rng, size)
	}
	return objects
}

func TestRestoreStream(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	data := sizedObjects(rng)
	for _, l := range layouts {
		whole := newCodec(t, l)
		for _, size := range sizes {
			slices, _ := whole.Encode(data[size])
			for _, chunk := range chunks {
				if chunk > 0 && l.SliceSize(size)/chunk > 2000 {
					continue
				}
				c := streamCodec(t, l, chunk)
				lost := rng.IntN(l.Parity + 1)
				some := dropped(rng, slices, lost)
				want, err := whole.Restore(some, size)
				if err != nil {
					t.Fatal(err)
				}
				w := newWriterAt(size)
				if err := c.RestoreStream(readers(some), size, w); err != nil {
					t.Fatalf("%+v chunk %d size %d, %d lost: %v", l, chunk, size, lost, err)
				}
				if !bytes.Equal(w.buf, want) || !w.complete() {
					t.Fatalf("%+v chunk %d size %d, %d lost: differs from Restore", l, chunk, size, lost)
				}
				if size == 0 {
					continue
				}
				some = dropped(rng, slices, l.Parity+1)
				err = c.RestoreStream(readers(some), size, newWriterAt(size))
				if !errors.Is(err, ec.ErrUnrecoverable) {
					t.Fatalf("%+v chunk %d size %d, %d lost: %v, want ErrUnrecoverable", l, chunk, size, l.Parity+1, err)
				}
			}
		}
	}
}

// failingReader fails after n bytes.
type failingReader struct {
	r    io.Reader
	n    int
	read int
}

var errInjected = errors.New("injected failure")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.read >= f.n {
		return 0, errInjected
	}
	p = p[:min(len(p), f.n-f.read)]
	n, err := f.r.Read(p)
	f.read += n
	return n, err
}

// countingReader counts the bytes read.
type countingReader struct {
	r    io.Reader
	read int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}

func TestRestoreStreamFailingReaders(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	l := ec.Layout{4, 2}
	c := streamCodec(t, l, 100)
	size := int64(4*1000 - 3)
	data := randomBytes(rng, size)
	slices, _ := c.Encode(data)

	t.Run("a spare takes over", func(t *testing.T) {
		rs := readers(slices)
		rs[1] = &failingReader{r: rs[1], n: 450}
		rs[2] = &failingReader{r: rs[2], n: 0}
		w := newWriterAt(size)
		if err := c.RestoreStream(rs, size, w); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(w.buf, data) {
			t.Fatal("wrong bytes")
		}
	})
	t.Run("parity read only when needed", func(t *testing.T) {
		rs := readers(slices)
		parity := []*countingReader{{r: rs[4]}, {r: rs[5]}}
		rs[4], rs[5] = parity[0], parity[1]
		w := newWriterAt(size)
		if err := c.RestoreStream(rs, size, w); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(w.buf, data) || parity[0].read+parity[1].read != 0 {
			t.Fatalf("equal %v, parity read %d+%d bytes", bytes.Equal(w.buf, data), parity[0].read, parity[1].read)
		}
	})
	t.Run("too many failures", func(t *testing.T) {
		rs := readers(slices)
		rs[0] = &failingReader{r: rs[0], n: 10}
		rs[3] = &failingReader{r: rs[3], n: 900}
		rs[5] = &failingReader{r: rs[5], n: 500} // fails while skipping
		err := c.RestoreStream(rs, size, newWriterAt(size))
		if !errors.Is(err, ec.ErrUnrecoverable) || !errors.Is(err, errInjected) {
			t.Fatalf("got %v, want ErrUnrecoverable and the readers' errors", err)
		}
		failed := map[int]bool{}
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			if se, ok := errors.AsType[*ec.SliceError](e); ok {
				failed[se.Index] = true
			}
		}
		if len(failed) != 3 || !failed[0] || !failed[3] || !failed[5] {
			t.Fatalf("failed slices %v, want 0, 3 and 5", failed)
		}
	})
	t.Run("a short slice", func(t *testing.T) {
		some := make([][]byte, len(slices))
		copy(some, slices)
		some[0] = some[0][:999]
		some[1] = nil
		some[2] = nil
		err := c.RestoreStream(readers(some), size, newWriterAt(size))
		if !errors.Is(err, ec.ErrUnrecoverable) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("got %v, want ErrUnrecoverable from a short slice", err)
		}
	})
}

// failingWriter fails after n bytes.
type failingWriter struct {
	bytes.Buffer
	n int
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.Len()+len(p) > f.n {
		return 0, errInjected
	}
	return f.Buffer.Write(p)
}

func TestEncodeStreamFailures(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	l := ec.Layout{2, 2}
	c := streamCodec(t, l, 64)
	data := randomBytes(rng, 1001)
	want, _ := c.Encode(data)

	out := []*failingWriter{{n: 1 << 20}, {n: 100}, {n: 1 << 20}, {n: 1 << 20}}
	writers := []io.Writer{out[0], out[1], nil, out[3]} // slice 2 discarded
	err := c.EncodeStream(bytes.NewReader(data), int64(len(data)), writers)
	se, ok := errors.AsType[*ec.SliceError](err)
	if !ok || se.Index != 1 || !errors.Is(err, errInjected) {
		t.Fatalf("got %v, want a SliceError of slice 1", err)
	}
	for _, i := range []int{0, 3} {
		if !bytes.Equal(out[i].Bytes(), want[i]) {
			t.Fatalf("slice %d is not complete after another failed", i)
		}
	}

	short := bytes.NewReader(data[:900])
	err = c.EncodeStream(short, int64(len(data)), make([]io.Writer, 4))
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a short object: %v, want an EOF error", err)
	}
	if err := c.EncodeStream(short, 10, make([]io.Writer, 3)); !errors.Is(err, ec.ErrSliceMismatch) {
		t.Fatalf("3 writers for 2+2: %v, want ErrSliceMismatch", err)
	}
}

func TestCodecConcurrent(t *testing.T) {
	c := newCodec(t, ec.Layout{4, 2})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(8, uint64(g)))
			for range 20 {
				data := randomBytes(rng, 1+rng.Int64N(200<<10))
				slices, err := c.Encode(data)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := c.Restore(dropped(rng, slices, 2), int64(len(data)))
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("restore: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestEncodeAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	c := newCodec(t, ec.Layout{8, 4})
	// Encode makes two (the slices' buffer and headers); the encoder's
	// goroutines take a few more, however large the object. The budget
	// catches allocating per slice or per chunk.
	for _, size := range []int64{64 << 10, 4 << 20} {
		data := randomBytes(rand.New(rand.NewPCG(9, 9)), size)
		allocs := testing.AllocsPerRun(10, func() {
			if _, err := c.Encode(data); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 12 {
			t.Fatalf("Encode of %d bytes made %v allocations, want at most 12", size, allocs)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	c := newCodec(b, ec.Layout{2, 2})
	data := randomBytes(rand.New(rand.NewPCG(10, 10)), 1<<20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(data); err != nil {
			b.Fatal(err)
		}
	}
}
