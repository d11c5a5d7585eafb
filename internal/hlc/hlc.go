package hlc

import (
	"sync/atomic"
	"time"
)

// Clock is a hybrid logical clock, safe for concurrent use.
type Clock struct {
	last atomic.Int64
	wall func() time.Time
}

// New returns a clock over a wall clock (time.Now when nil).
func New(wall func() time.Time) *Clock {
	if wall == nil {
		wall = time.Now
	}
	return &Clock{wall: wall}
}

// Now returns a reading later than every earlier one and every observed
// time.
func (c *Clock) Now() int64 {
	for {
		last := c.last.Load()
		next := max(c.wall().UnixNano(), last+1)
		if c.last.CompareAndSwap(last, next) {
			return next
		}
	}
}

// maxAhead bounds how far ahead of the wall clock an observed reading is
// taken: a peer's broken clock (or a forged stamp) must not carry this
// one to the end of time.
const maxAhead = 24 * time.Hour

// Observe moves the clock past t, a reading of another node's clock; one
// more than maxAhead ahead of the wall clock is ignored.
func (c *Clock) Observe(t int64) {
	if t > c.wall().UnixNano()+int64(maxAhead) {
		return
	}
	for {
		last := c.last.Load()
		if t <= last || c.last.CompareAndSwap(last, t) {
			return
		}
	}
}
