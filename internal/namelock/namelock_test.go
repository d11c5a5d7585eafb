package namelock

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
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

// A wait given up (its context ended) leaves the lock to its holder, and
// the name to the next who asks.
func TestLockContextGivesUp(t *testing.T) {
	var l Locks
	unlock := l.Lock("a")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if n := l.Users("a"); n != 1 {
		t.Fatalf("users of a held name: %d, want 1", n)
	}
	if _, err := l.LockContext(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a wait for a held name, given up: %v", err)
	}
	if n := l.Users("a"); n != 1 {
		t.Fatalf("users after a waiter gave up: %d, want 1", n)
	}
	unlock()
	if n := l.Users("a"); n != 0 {
		t.Fatalf("users after the holder left: %d, want 0", n)
	}
	if n := l.Len(); n != 0 {
		t.Fatalf("%d names held after the holder and the waiter left", n)
	}
	again, err := l.LockContext(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	again()
}
