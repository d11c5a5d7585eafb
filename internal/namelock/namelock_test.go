package namelock

import (
	"sync"
	"testing"
)

// One holder of a name at a time, names apart from each other, and no
// state left once every holder is gone.
func TestOneHolderPerName(t *testing.T) {
	var l Locks
	var wg sync.WaitGroup
	inside := map[string]int{}
	var mu sync.Mutex
	for i := range 200 {
		name := []string{"a", "b", "c"}[i%3]
		wg.Go(func() {
			unlock := l.Lock(name)
			mu.Lock()
			inside[name]++
			if inside[name] != 1 {
				t.Errorf("%d holders of %s", inside[name], name)
			}
			mu.Unlock()
			mu.Lock()
			inside[name]--
			mu.Unlock()
			unlock()
		})
	}
	wg.Wait()
	if n := l.Len(); n != 0 {
		t.Fatalf("%d names kept after every holder left", n)
	}
}
