package hashbehind

import (
	"hash"
	"sync"
	"sync/atomic"
)

// BlockSize is how much is copied before it is handed to the hashing
// goroutine; MaxBlocks bound what a Hasher holds (1 MiB): a writer ahead
// of the hash by more waits for it.
const (
	BlockSize = 256 << 10
	MaxBlocks = 4
)

// Hasher copies what is written into pooled blocks and hashes them, in
// order, on its own goroutine. Sum waits for the hash to catch up. A
// Hasher must be ended by Sum or Close, which release its goroutine and
// blocks; it is not safe for concurrent writes.
type Hasher struct {
	hash  hash.Hash
	full  chan []byte // blocks to hash, in order
	free  chan []byte // hashed blocks, to fill again
	block []byte      // being filled
	made  int         // blocks taken from the pool
	done  chan struct{}
	skip  atomic.Bool // Close: what is left is not hashed
	ended bool
}

// New starts hashing with h, which the Hasher owns from now on.
func New(h hash.Hash) *Hasher {
	a := &Hasher{hash: h, full: make(chan []byte, MaxBlocks), free: make(chan []byte, MaxBlocks), done: make(chan struct{})}
	go a.run()
	return a
}

func (a *Hasher) run() {
	defer close(a.done)
	for b := range a.full {
		if !a.skip.Load() {
			a.hash.Write(b)
		}
		a.free <- b[:0] // never blocks: free holds every block there is
	}
}

// Write copies p to be hashed; it waits only when MaxBlocks are ahead of
// the hash.
func (a *Hasher) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if a.block == nil {
			a.block = a.take()
		}
		k := copy(a.block[len(a.block):cap(a.block)], p)
		a.block, p = a.block[:len(a.block)+k], p[k:]
		if len(a.block) == cap(a.block) {
			a.full <- a.block
			a.block = nil
		}
	}
	return n, nil
}

// take returns an empty block: a hashed one, else a new one from the pool
// while fewer than MaxBlocks are out, else the next one hashed.
func (a *Hasher) take() []byte {
	select {
	case b := <-a.free:
		return b
	default:
	}
	if a.made < MaxBlocks {
		a.made++
		return getBlock()
	}
	return <-a.free
}

// Sum waits until everything written is hashed and returns the hash's sum
// appended to b. Nothing may be written after it.
func (a *Hasher) Sum(b []byte) []byte {
	a.end(true)
	return a.hash.Sum(b)
}

// Close releases the goroutine and the blocks without waiting for what
// is left to hash more than the block in hand; it may be called after Sum.
func (a *Hasher) Close() { a.end(false) }

func (a *Hasher) end(rest bool) {
	if a.ended {
		return
	}
	a.ended = true
	a.skip.Store(!rest)
	if a.block != nil {
		if rest && len(a.block) > 0 {
			a.full <- a.block
		} else {
			putBlock(a.block)
			a.made--
		}
		a.block = nil
	}
	close(a.full)
	<-a.done
	for range a.made {
		putBlock(<-a.free)
	}
	a.made = 0
}

// blocks are reused across Hashers: first-touch memory is slow here.
var blocks sync.Pool

func getBlock() []byte {
	if b, ok := blocks.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, BlockSize)
}

func putBlock(b []byte) {
	b = b[:0]
	blocks.Put(&b)
}
