package hlc

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"
)

func TestNeverBackNeverRepeats(t *testing.T) {
	wall := time.Unix(100, 0)
	c := New(func() time.Time { return wall })
	a := c.Now()
	wall = wall.Add(-time.Hour) // the wall clock steps back
	b := c.Now()
	if b <= a {
		t.Fatalf("%d after %d", b, a)
	}
	c.Observe(a + 1000)
	if d := c.Now(); d <= a+1000 {
		t.Fatalf("%d does not pass the observed %d", d, a+1000)
	}
	c.Observe(0)
	seen := sync.Map{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				if _, dup := seen.LoadOrStore(c.Now(), true); dup {
					t.Error("a reading repeated")
				}
			}
		})
	}
	wg.Wait()
}

// A reading far ahead of the wall clock (a broken or forged peer clock)
// does not carry the clock with it; one a little ahead does.
func TestObserveIgnoresFarFuture(t *testing.T) {
	wall := time.Unix(1000, 0)
	c := New(func() time.Time { return wall })
	c.Observe(math.MaxInt64)
	if now := c.Now(); now <= 0 || now > wall.Add(time.Second).UnixNano() {
		t.Fatalf("after a reading at the end of time: %d", now)
	}
	ahead := wall.Add(time.Minute).UnixNano()
	c.Observe(ahead)
	if now := c.Now(); now <= ahead {
		t.Fatalf("after a reading a minute ahead: %d, want past %d", now, ahead)
	}
}

// A clock started again from its saved lease never reads before what it
// read before the restart: not when the wall clock stepped back, not
// when it had observed a peer's fast clock.
func TestKeptClockNeverGoesBackAcrossARestart(t *testing.T) {
	wall := time.Unix(1000, 0)
	var saved int64
	saves := 0
	save := func(until int64) error { saved = until; saves++; return nil }
	c := New(func() time.Time { return wall })
	c.Keep(0, 10*time.Second, save)
	c.Observe(wall.Add(time.Hour).UnixNano()) // a peer an hour ahead
	before := c.Now()
	for range 1000 {
		before = c.Now()
	}
	if saves != 1 {
		t.Fatalf("%d saves for readings within one step, want 1", saves)
	}
	wall = wall.Add(-time.Minute) // and the wall clock stepped back
	restarted := New(func() time.Time { return wall })
	restarted.Keep(saved, 10*time.Second, save)
	if after := restarted.Now(); after <= before {
		t.Fatalf("after the restart %d, before it %d: the clock went back", after, before)
	}
}

// A lease that fails to save is tried again a second of readings later,
// not a whole step: few readings a restart could go behind.
func TestFailedLeaseIsTriedAgainSoon(t *testing.T) {
	wall := time.Unix(1000, 0)
	var saved int64
	failing := true
	save := func(until int64) error {
		if failing {
			return errors.New("no space left on device")
		}
		saved = until
		return nil
	}
	c := New(func() time.Time { return wall })
	c.Keep(0, 10*time.Second, save)
	c.Now()
	failing = false
	wall = wall.Add(2 * time.Second)
	reading := c.Now()
	if saved <= reading {
		t.Fatalf("2 s after a failed save, the lease saved is %d, behind the reading %d", saved, reading)
	}
}

// An observed reading is leased before it is taken: a node that stores a
// peer's stamp and restarts before it reads its own clock never hands out
// a reading behind that stamp.
func TestObservedReadingIsLeased(t *testing.T) {
	wall := time.Unix(1000, 0)
	var saved int64
	save := func(until int64) error { saved = until; return nil }
	c := New(func() time.Time { return wall })
	c.Keep(0, 10*time.Second, save)
	peer := wall.Add(time.Hour).UnixNano() // a peer an hour ahead
	c.Observe(peer)
	restarted := New(func() time.Time { return wall })
	restarted.Keep(saved, 10*time.Second, save)
	if after := restarted.Now(); after <= peer {
		t.Fatalf("after the restart %d, the observed stamp %d: behind it", after, peer)
	}
}

// An observed reading past the lease whose next lease cannot be saved is
// refused, the clock as it was: what the caller would store with it would
// be ahead of the clock after a restart.
func TestObservedReadingNotLeasedIsRefused(t *testing.T) {
	wall := time.Unix(1000, 0)
	failing := false
	save := func(until int64) error {
		if failing {
			return errors.New("no space left on device")
		}
		return nil
	}
	c := New(func() time.Time { return wall })
	c.Keep(0, 10*time.Second, save)
	c.Now()
	failing = true
	peer := wall.Add(time.Hour).UnixNano()
	if err := c.Observe(peer); err == nil {
		t.Fatal("a stamp past the lease, the lease not saved: taken")
	}
	if now := c.Now(); now >= peer {
		t.Fatalf("the clock moved to %d, past the refused stamp %d", now, peer)
	}
	// Within the lease saved, one is taken.
	within := wall.Add(time.Second).UnixNano()
	if err := c.Observe(within); err != nil {
		t.Fatalf("a stamp within the lease: %v", err)
	}
	// Past it, the clock's own readings go on (a lease not saved a
	// second at a time): one ahead of them is still refused, one behind
	// the wall clock taken, as those readings are.
	wall = wall.Add(30 * time.Second)
	c.Now()
	if err := c.Observe(wall.Add(time.Hour).UnixNano()); err == nil {
		t.Fatal("a stamp an hour ahead, past the lease saved, taken after the clock read on")
	}
	if err := c.Observe(wall.Add(-time.Second).UnixNano()); err != nil {
		t.Fatalf("a stamp behind the wall clock, the lease not saved: %v", err)
	}
	// More than a day ahead: refused whatever the lease.
	failing = false
	if err := c.Observe(wall.Add(25 * time.Hour).UnixNano()); err == nil {
		t.Fatal("a stamp 25 h ahead taken")
	}
}
