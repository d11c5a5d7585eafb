package pool

import "sync"

// Size classes: 32 KiB, 128 KiB, 512 KiB, 1 MiB, 4 MiB.
var classes = [...]int{32 << 10, 128 << 10, 512 << 10, 1 << 20, 4 << 20}

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
