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
