package store_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/tinylib/msgp/msgp"

	"github.com/aisgo/aisgo/store"
)

// randomPart returns a valid part with every field drawn from rng.
func randomPart(rng *rand.Rand) store.PartMeta {
	word := func(n int) string {
		const letters = "abcdefghijklmnopqrstuvwxyz0123456789._-"
		var sb strings.Builder
		sb.WriteByte(letters[rng.IntN(26)]) // never "." or ".."
		for range rng.IntN(n) {
			sb.WriteByte(letters[rng.IntN(len(letters))])
		}
		return sb.String()
	}
	data := 1 + rng.IntN(16)
	parity := 1 + rng.IntN(8)
	if rng.IntN(8) == 0 {
		data, parity = 255, 1
	}
	size := rng.Int64N(1 << 40)
	switch rng.IntN(4) {
	case 0:
		size = 0
	case 1:
		size = rng.Int64N(1000)
	}
	m := store.PartMeta{
		Bucket:       store.NewBucket(word(20)),
		Name:         word(10) + "/" + word(30),
		Index:        rng.IntN(data + parity),
		Replica:      rng.IntN(3) == 0,
		Data:         data,
		Parity:       parity,
		ObjectSize:   size,
		Checksum:     store.Checksum{Type: store.ChecksumXXHash, Value: word(16)},
		PartChecksum: store.Checksum{Type: store.ChecksumXXHash, Value: fmt.Sprintf("%016x", rng.Uint64())},
		Stamp:        store.Stamp{Map: 1 + rng.Int64N(1000), Clock: rng.Int64()},
	}
	if rng.IntN(2) == 0 {
		m.Version = word(8)
	}
	if rng.IntN(2) == 0 {
		m.Custom = map[string]string{store.CustomETag: word(32), "s3.content-type": word(12)}
	}
	m.SliceSize = (size + int64(data) - 1) / int64(data)
	if m.Replica {
		m.SliceSize = size
	}
	return m
}

func TestPartRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		want := randomPart(rng)
		if err := want.Validate(); err != nil {
			t.Fatalf("#%d: the generator made an invalid part: %v", i, err)
		}
		b, err := want.MarshalMsg(nil)
		if err != nil {
			t.Fatal(err)
		}
		trailer := []byte{0xc0, 0x01}
		var got store.PartMeta
		rest, err := got.UnmarshalMsg(append(b, trailer...))
		if err != nil {
			t.Fatalf("#%d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("#%d: got %+v\nwant %+v", i, got, want)
		}
		if string(rest) != string(trailer) {
			t.Fatalf("#%d: rest %x, want the trailer %x", i, rest, trailer)
		}
		if !got.Same(want) {
			t.Fatalf("#%d: a decoded part is not Same as its original", i)
		}
	}
}

func TestPartTruncated(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		m := randomPart(rng)
		b, _ := m.MarshalMsg(nil)
		for n := range len(b) {
			var got store.PartMeta
			if _, err := got.UnmarshalMsg(b[:n]); err == nil {
				t.Fatalf("%d of %d bytes decoded without an error", n, len(b))
			} else if !errors.Is(err, store.ErrInvalidPart) {
				t.Fatalf("%d of %d bytes: %v does not wrap ErrInvalidPart", n, len(b), err)
			}
			if !reflect.DeepEqual(got, store.PartMeta{}) {
				t.Fatalf("%d of %d bytes: a failed decode changed the part to %+v", n, len(b), got)
			}
		}
	}
}

// encodeWith encodes m with extra appended as further map entries.
func encodeWith(t *testing.T, m store.PartMeta, extra func([]byte) []byte, extraFields uint32) []byte {
	t.Helper()
	b, _ := m.MarshalMsg(nil)
	n, body, err := msgp.ReadMapHeaderBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	out := msgp.AppendMapHeader(nil, n+extraFields)
	out = append(out, body...)
	return extra(out)
}

func TestPartUnknownKeySkipped(t *testing.T) {
	want := randomPart(rand.New(rand.NewPCG(5, 6)))
	b := encodeWith(t, want, func(b []byte) []byte {
		b = msgp.AppendString(b, "zz-future")
		b = msgp.AppendMapHeader(b, 2)
		b = msgp.AppendString(b, "nested")
		b = msgp.AppendArrayHeader(b, 3)
		b = msgp.AppendInt(b, 1)
		b = msgp.AppendString(b, "two")
		b = msgp.AppendBytes(b, []byte{3})
		b = msgp.AppendString(b, "x")
		b = msgp.AppendFloat64(b, 4.5)
		b = msgp.AppendString(b, "zy")
		return msgp.AppendBool(b, true)
	}, 2)
	var got store.PartMeta
	rest, err := got.UnmarshalMsg(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || len(rest) != 0 {
		t.Fatalf("got %+v (rest %x), want %+v", got, rest, want)
	}
}

func TestPartRefused(t *testing.T) {
	base := randomPart(rand.New(rand.NewPCG(7, 8)))
	long := strings.Repeat("v", 2<<10+1)
	tests := []struct {
		name  string
		input func(t *testing.T) []byte
	}{
		{"oversize version", func(t *testing.T) []byte {
			m := base
			m.Version = long
			b, _ := m.MarshalMsg(nil)
			return b
		}},
		{"oversize checksum", func(t *testing.T) []byte {
			m := base
			m.PartChecksum.Value = long
			b, _ := m.MarshalMsg(nil)
			return b
		}},
		{"oversize unknown key", func(t *testing.T) []byte {
			return encodeWith(t, base, func(b []byte) []byte {
				b = msgp.AppendString(b, long)
				return msgp.AppendInt(b, 1)
			}, 1)
		}},
		{"string length beyond the input", func(t *testing.T) []byte {
			b := msgp.AppendMapHeader(nil, 1)
			b = msgp.AppendString(b, "n")
			return append(b, 0xdb, 0xff, 0xff, 0xff, 0xff) // str32 of 4 GiB
		}},
		{"map of many fields", func(t *testing.T) []byte {
			return msgp.AppendMapHeader(nil, 1<<31)
		}},
		{"not a map", func(t *testing.T) []byte {
			return msgp.AppendString(nil, "part")
		}},
		{"invalid name", func(t *testing.T) []byte {
			m := base
			m.Name = "../../etc/passwd"
			b, _ := m.MarshalMsg(nil)
			return b
		}},
		{"too many slices", func(t *testing.T) []byte {
			m := base
			m.Data, m.Parity, m.Index = 200, 57, 0
			m.SliceSize = (m.ObjectSize + 199) / 200
			m.Replica = false
			b, _ := m.MarshalMsg(nil)
			return b
		}},
		{"newer format", func(t *testing.T) []byte {
			return encodeWith(t, base, func(b []byte) []byte {
				b = msgp.AppendString(b, "f")
				return msgp.AppendInt(b, 2)
			}, 1)
		}},
		{"index of the wrong type", func(t *testing.T) []byte {
			return encodeWith(t, base, func(b []byte) []byte {
				b = msgp.AppendString(b, "i")
				return msgp.AppendString(b, "one")
			}, 1)
		}},
		{"zero stamp", func(t *testing.T) []byte {
			m := base
			m.Stamp = store.Stamp{}
			b, _ := m.MarshalMsg(nil)
			return b
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got store.PartMeta
			_, err := got.UnmarshalMsg(tc.input(t))
			if !errors.Is(err, store.ErrInvalidPart) {
				t.Fatalf("got %v, want ErrInvalidPart", err)
			}
			if !reflect.DeepEqual(got, store.PartMeta{}) {
				t.Fatalf("a refused input changed the part to %+v", got)
			}
		})
	}
}

func TestPartValidate(t *testing.T) {
	valid := store.PartMeta{
		Bucket:       store.NewBucket("b"),
		Name:         "dir/obj",
		Index:        3,
		Data:         4,
		Parity:       2,
		ObjectSize:   10,
		SliceSize:    3,
		Stamp:        store.Stamp{Map: 1, Clock: 1},
		PartChecksum: store.Checksum{Type: store.ChecksumXXHash, Value: "0123456789abcdef"},
	}
	tests := []struct {
		name    string
		change  func(*store.PartMeta)
		wantErr string // substring; empty = valid
	}{
		{"valid slice", func(*store.PartMeta) {}, ""},
		{"last parity slice", func(m *store.PartMeta) { m.Index = 5 }, ""},
		{"empty object", func(m *store.PartMeta) { m.ObjectSize, m.SliceSize = 0, 0 }, ""},
		{"exact division", func(m *store.PartMeta) { m.ObjectSize, m.SliceSize = 12, 3 }, ""},
		{"replica", func(m *store.PartMeta) { m.Replica, m.Index, m.SliceSize = true, 0, 10 }, ""},
		{"largest layout", func(m *store.PartMeta) { m.Data, m.Parity, m.SliceSize = 255, 1, 1 }, ""},
		{"provider left out", func(m *store.PartMeta) { m.Bucket.Provider = "" }, ""},
		{"bad bucket", func(m *store.PartMeta) { m.Bucket.Name = ".." }, "bucket"},
		{"foreign provider", func(m *store.PartMeta) { m.Bucket.Provider = "s3" }, "bucket"},
		{"empty name", func(m *store.PartMeta) { m.Name = "" }, "name"},
		{"no data slices", func(m *store.PartMeta) { m.Data = 0 }, "data slices"},
		{"no parity slices", func(m *store.PartMeta) { m.Parity = 0 }, "parity slices"},
		{"too many slices", func(m *store.PartMeta) { m.Data, m.Parity = 255, 2 }, "at most 256"},
		{"overflowing data", func(m *store.PartMeta) { m.Data = int(^uint(0) >> 1) }, "at most 256"},
		{"negative index", func(m *store.PartMeta) { m.Index = -1 }, "index"},
		{"index past the layout", func(m *store.PartMeta) { m.Index = 6 }, "index"},
		{"negative size", func(m *store.PartMeta) { m.ObjectSize = -1 }, "object size"},
		{"short slice", func(m *store.PartMeta) { m.SliceSize = 2 }, "slice size"},
		{"long slice", func(m *store.PartMeta) { m.SliceSize = 4 }, "slice size"},
		{"slice of an empty object", func(m *store.PartMeta) { m.ObjectSize = 0 }, "slice size"},
		{"replica of a slice's size", func(m *store.PartMeta) { m.Replica = true }, "replica"},
		{"zero stamp", func(m *store.PartMeta) { m.Stamp = store.Stamp{} }, "stamp"},
		{"no part checksum", func(m *store.PartMeta) { m.PartChecksum = store.Checksum{Type: store.ChecksumNone} }, "part checksum"},
		{"another part checksum", func(m *store.PartMeta) { m.PartChecksum.Type = store.ChecksumMD5 }, "part checksum"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := valid
			tc.change(&m)
			err := m.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("no error, want one about %q", tc.wantErr)
			case tc.wantErr != "" && (!errors.Is(err, store.ErrInvalidPart) || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("got %v, want ErrInvalidPart about %q", err, tc.wantErr)
			}
		})
	}
}

func TestPartSame(t *testing.T) {
	a := randomPart(rand.New(rand.NewPCG(9, 10)))
	b := a
	b.Index = (a.Index + 1) % (a.Data + a.Parity)
	b.PartChecksum.Value = "other"
	b.Bucket.Provider = ""
	if !a.Same(b) {
		t.Fatal("two parts of one write are not Same")
	}
	changes := map[string]func(*store.PartMeta){
		"bucket": func(m *store.PartMeta) { m.Bucket.Name += "x" },
		"name":   func(m *store.PartMeta) { m.Name += "x" },
		"stamp":  func(m *store.PartMeta) { m.Stamp.Clock++ },
		"sum":    func(m *store.PartMeta) { m.Checksum.Value += "0" },
		"data":   func(m *store.PartMeta) { m.Data++ },
		"parity": func(m *store.PartMeta) { m.Parity++ },
		"size":   func(m *store.PartMeta) { m.ObjectSize++ },
	}
	for field, change := range changes {
		c := a
		change(&c)
		if a.Same(c) || c.Same(a) {
			t.Errorf("parts that differ in %s are Same", field)
		}
	}
}

// FuzzPartMeta: whatever decodes is valid and survives a round trip.
func FuzzPartMeta(f *testing.F) {
	rng := rand.New(rand.NewPCG(11, 12))
	for range 8 {
		m := randomPart(rng)
		b, _ := m.MarshalMsg(nil)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m store.PartMeta
		if _, err := m.UnmarshalMsg(b); err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("decoded an invalid part: %v", err)
		}
		again, _ := m.MarshalMsg(nil)
		var got store.PartMeta
		if _, err := got.UnmarshalMsg(again); err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip: %+v, %v; want %+v", got, err, m)
		}
	})
}

// Custom metadata beyond the bound is refused on both sides.
func TestPartCustomBound(t *testing.T) {
	m := randomPart(rand.New(rand.NewPCG(7, 7)))
	m.Custom = map[string]string{"k": strings.Repeat("v", store.MaxPartCustom)}
	if _, err := m.MarshalMsg(nil); !errors.Is(err, store.ErrInvalidPart) {
		t.Fatalf("marshal %d bytes of custom metadata: %v", store.CustomSize(m.Custom), err)
	}
	m.Custom = nil
	b, err := m.MarshalMsg(nil)
	if err != nil {
		t.Fatal(err)
	}
	// The same part with a hand-made oversized "cu" appended as an 18th field.
	if b[0] != 0xde {
		t.Fatalf("a part is not a map16 of 17 fields: %x", b[:3])
	}
	b[2]++ // one more field
	b = msgp.AppendString(b, "cu")
	b = msgp.AppendMapHeader(b, 2)
	for _, k := range []string{"a", "b"} {
		b = msgp.AppendString(b, k)
		b = msgp.AppendString(b, strings.Repeat("x", store.MaxPartCustom/2+1))
	}
	var got store.PartMeta
	if _, err := got.UnmarshalMsg(b); !errors.Is(err, store.ErrInvalidPart) || !strings.Contains(err.Error(), "custom") {
		t.Fatalf("unmarshal oversized custom metadata: %v", err)
	}
}
