package pool

import "testing"

func TestGetReturnsAskedLength(t *testing.T) {
	for _, n := range []int{0, 1, 32 << 10, 32<<10 + 1, 4 << 20, 5 << 20} {
		b := Get(n)
		if len(b) != n {
			t.Fatalf("Get(%d) has length %d", n, len(b))
		}
		Put(b)
	}
}

func TestPutReusesBuffer(t *testing.T) {
	b := Get(100 << 10)
	if cap(b) != 128<<10 {
		t.Fatalf("capacity %d, want the 128 KiB class", cap(b))
	}
	Put(b)
	// A foreign buffer of odd capacity is dropped rather than pooled.
	Put(make([]byte, 1000))
	c := Get(100 << 10)
	if cap(c) != 128<<10 {
		t.Fatalf("capacity %d after reuse", cap(c))
	}
}
