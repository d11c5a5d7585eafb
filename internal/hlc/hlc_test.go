package hlc

import (
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
