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

// Observe moves the clock past t, a reading of another node's clock.
func (c *Clock) Observe(t int64) {
	for {
		last := c.last.Load()
		if t <= last || c.last.CompareAndSwap(last, t) {
			return
		}
	}
}
