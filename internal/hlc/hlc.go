package hlc

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Clock is a hybrid logical clock, safe for concurrent use.
type Clock struct {
	last atomic.Int64
	wall func() time.Time
	// lease, when kept, is a reading no reading reaches before it is
	// saved: a clock started again from it never goes back (a wall clock
	// stepped back, a peer's fast clock observed before the restart).
	lease struct {
		until atomic.Int64 // math.MaxInt64: none kept
		// saved is the last lease saved (until may be past it while
		// saves fail).
		saved atomic.Int64
		mu    sync.Mutex
		save  func(until int64) error
		step  int64
	}
}

// New returns a clock over a wall clock (time.Now when nil).
func New(wall func() time.Time) *Clock {
	if wall == nil {
		wall = time.Now
	}
	c := &Clock{wall: wall}
	c.lease.until.Store(math.MaxInt64)
	c.lease.saved.Store(math.MaxInt64)
	return c
}

// Keep has the clock start after saved (a lease Keep saved before a
// restart; 0 for none) and save each next lease, step ahead of a reading,
// before it hands out a reading past the one before. A save that fails
// is tried again a second of readings later (save reports it): the clock
// does not stop, and the readings a restart could go behind are few.
func (c *Clock) Keep(saved int64, step time.Duration, save func(until int64) error) {
	for {
		last := c.last.Load()
		if saved <= last || c.last.CompareAndSwap(last, saved) {
			break
		}
	}
	c.lease.mu.Lock()
	c.lease.save, c.lease.step = save, int64(step)
	c.lease.until.Store(0)
	c.lease.saved.Store(saved)
	c.lease.mu.Unlock()
}

// retryLease is how soon, in readings, a lease that failed to save is
// tried again.
const retryLease = int64(time.Second)

// extend saves a lease past next.
func (c *Clock) extend(next int64) {
	c.lease.mu.Lock()
	defer c.lease.mu.Unlock()
	if next < c.lease.until.Load() {
		return
	}
	until := next + c.lease.step
	if err := c.lease.save(until); err != nil {
		until = next + min(c.lease.step, retryLease)
	} else {
		c.lease.saved.Store(until)
	}
	c.lease.until.Store(until)
}

// Now returns a reading later than every earlier one and every observed
// time.
func (c *Clock) Now() int64 {
	for {
		last := c.last.Load()
		next := max(c.wall().UnixNano(), last+1)
		if next >= c.lease.until.Load() {
			c.extend(next)
		}
		if c.last.CompareAndSwap(last, next) {
			return next
		}
	}
}

// maxAhead bounds how far ahead of the wall clock an observed reading is
// taken: a peer's broken clock (or a forged stamp) must not carry this
// one to the end of time.
const maxAhead = 24 * time.Hour

// Observe moves the clock past t, a reading of another node's clock. It
// fails, the clock as it was, when t is more than maxAhead ahead of the
// wall clock, or past the lease saved and ahead of the wall clock by more
// than this clock's own readings go while a save fails (Now), the next
// lease not saved: what the caller would store with t (a rebalanced
// copy) is not to be stored then (a restart would go behind it).
func (c *Clock) Observe(t int64) error {
	wall := c.wall().UnixNano()
	if t > wall+int64(maxAhead) {
		return fmt.Errorf("hlc: %d is more than %s ahead of this clock: not taken", t, maxAhead)
	}
	// Leased first: what the caller stores with t must stay behind every
	// reading after a restart.
	if t >= c.lease.saved.Load() {
		if t <= wall+retryLease {
			c.extend(t) // (as safe as the clock's own readings)
		} else if err := c.extendSaved(t); err != nil {
			return fmt.Errorf("hlc: the clock's lease past %d could not be saved: %w", t, err)
		}
	}
	for {
		last := c.last.Load()
		if t <= last || c.last.CompareAndSwap(last, t) {
			return nil
		}
	}
}

// extendSaved saves a lease past t, or fails with the lease as it was.
func (c *Clock) extendSaved(t int64) error {
	c.lease.mu.Lock()
	defer c.lease.mu.Unlock()
	if t < c.lease.saved.Load() {
		return nil
	}
	until := t + c.lease.step
	if err := c.lease.save(until); err != nil {
		return err
	}
	c.lease.saved.Store(until)
	c.lease.until.Store(max(until, c.lease.until.Load()))
	return nil
}
