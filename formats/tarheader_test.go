package formats

import "testing"

// A raw entry's size field reads as archive/tar reads it: octal, or GNU's
// base-256 past 8 GiB.
func TestHeaderSize(t *testing.T) {
	base256 := func(n int64) []byte {
		field := make([]byte, 12)
		field[0] = 0x80
		for i := 11; i > 0; i-- {
			field[i] = byte(n)
			n >>= 8
		}
		return field
	}
	for _, tc := range []struct {
		field []byte
		size  int64
		ok    bool
	}{
		{[]byte("00000001750\x00"), 1000, true},
		{[]byte("     1750 \x00\x00"), 1000, true},
		{[]byte("77777777777\x00"), 8<<30 - 1, true},
		{base256(9 << 30), 9 << 30, true},
		{[]byte("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), 0, true},
		{[]byte("            "), 0, true},
		{[]byte("0000000175x\x00"), 0, false},
		{[]byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"), 0, false}, // negative
		{append([]byte{0x80, 0xff}, make([]byte, 10)...), 0, false},            // past an int64
	} {
		if size, ok := headerSize(tc.field); size != tc.size && tc.ok || ok != tc.ok {
			t.Errorf("%q: %d %v, want %d %v", tc.field, size, ok, tc.size, tc.ok)
		}
	}
}

// The zero watch notes the last nonzero byte past its start only: an
// entry's data skipped before it is not looked at.
func TestZeroWatchLooksPastItsStartOnly(t *testing.T) {
	var z zeroWatch
	z.watch(true, 10)
	z.saw([]byte{1, 0, 0}, 5) // positions 2-4: before the start
	if z.lastNonzero() != 0 {
		t.Fatalf("a nonzero byte before the start noted: %d", z.lastNonzero())
	}
	z.saw([]byte{1, 0, 1, 0}, 12) // positions 8-11: 8 before, 10 after
	if z.lastNonzero() != 11 {
		t.Fatalf("last nonzero past the start: %d, want 11", z.lastNonzero())
	}
	z.watch(false, 0)
	z.saw([]byte{1}, 20)
	if z.lastNonzero() != 11 {
		t.Fatalf("a byte read with the watch off noted: %d", z.lastNonzero())
	}
}
