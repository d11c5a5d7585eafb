package hashbehind

import (
	"bytes"
	"crypto/md5"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// The sum is the hash's over everything written, whatever the pieces:
// across blocks, and more than MaxBlocks ahead of the goroutine.
func TestSumIsTheHashOfAllWritten(t *testing.T) {
	random := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, BlockSize - 1, BlockSize, BlockSize + 1, 3*MaxBlocks*BlockSize + 12345} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(random.IntN(256))
		}
		h := New(md5.New())
		for rest := data; len(rest) > 0; {
			k := min(len(rest), 1+random.IntN(3*BlockSize/2))
			if n, err := h.Write(rest[:k]); n != k || err != nil {
				t.Fatalf("Write(%d bytes) = %d, %v", k, n, err)
			}
			rest = rest[k:]
		}
		want := md5.Sum(data)
		got := h.Sum([]byte("prefix"))
		if !bytes.Equal(got, append([]byte("prefix"), want[:]...)) {
			t.Fatalf("%d bytes: sum %x, want %x", size, got, want)
		}
		h.Close() // after Sum: nothing more to do
	}
}

// A Hasher closed without its sum, as a failed PUT leaves it, ends its
// goroutine.
func TestCloseEndsTheGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 50 {
		h := New(md5.New())
		h.Write(make([]byte, 2*BlockSize+7))
		h.Close()
		h.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after closing, %d before", n, before)
	}
}
