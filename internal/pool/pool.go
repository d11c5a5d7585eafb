package pool

import "sync"

// Size classes, from small files to copy buffers.
var classes = [...]int{1 << 10, 4 << 10, 16 << 10, 64 << 10, 128 << 10, 256 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20}

var pools [len(classes)]sync.Pool

func class(n int) int {
	for i, c := range classes {
		if n <= c {
			return i
		}
	}
	return -1
}

// Get returns a buffer of length n (its capacity may be larger). Buffers
// larger than the largest class are allocated and not pooled.
func Get(n int) []byte {
	i := class(n)
	if i < 0 {
		return make([]byte, n)
	}
	if p, ok := pools[i].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, classes[i])
}

// Put returns a buffer obtained from Get. The caller must not use it again.
func Put(b []byte) {
	i := class(cap(b))
	if i < 0 || cap(b) != classes[i] {
		return
	}
	b = b[:cap(b)]
	pools[i].Put(&b)
}

// CopyBufferSize is the buffer size for streaming copies.
const CopyBufferSize = 128 << 10

// Capacity returns the capacity of the buffer Get(n) returns.
func Capacity(n int) int {
	if i := class(n); i >= 0 {
		return classes[i]
	}
	return n
}
