//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
)

// Group commit under kill -9: a target killed during a burst of
// concurrent durable PUTs, then restarted. Every acknowledged object is
// whole; every other one is absent or whole, never partial or mixed.
func TestGroupCommitKill9(t *testing.T) {
	// Durable, unlike the other clusters here (-no-sync): the syncs are
	// what is tested.
	c := startCLICluster(t, 1, 2, "-keepalive=200ms", "-keepalive-timeout=2s", "-no-sync=false")
	ais(t, c.endpoint, "bucket", "create", "ais://burst")
	client := c.client().UseRedirects()
	content := func(name string) string { return strings.Repeat(name+";", 32<<10/(len(name)+1)) }
	var mu sync.Mutex
	acked, tried := map[string]bool{}, map[string]bool{}
	var stop atomic.Bool
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for !stop.Load() && next.Load() < 100000 {
				name := fmt.Sprintf("o-%06d", next.Add(1))
				mu.Lock()
				tried[name] = true
				mu.Unlock()
				data := content(name)
				if _, err := client.Put(t.Context(), "burst", name, strings.NewReader(data), api.PutOptions{Size: int64(len(data))}); err == nil {
					mu.Lock()
					acked[name] = true
					mu.Unlock()
				}
			}
		})
	}
	defer func() { stop.Store(true); wg.Wait() }() // also when the wait fails
	until(t, time.Minute, "50 acknowledged PUTs", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 50
	})
	c.kill9("t1")
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	c.restart(2)
	lost, partial := 0, 0
	for name := range tried {
		data, err := client.GetBytes(t.Context(), "burst", name, api.GetOptions{})
		switch {
		case err == nil && string(data) == content(name):
		case err == nil:
			partial++
		case acked[name]:
			lost++
			t.Logf("acknowledged %s: %v", name, err)
		case !errors.Is(err, api.ErrNotFound):
			t.Errorf("unacknowledged %s: %v, want whole or not found", name, err)
		}
	}
	if lost > 0 || partial > 0 {
		t.Fatalf("%d acknowledged objects lost, %d objects partial, of %d tried (%d acknowledged)", lost, partial, len(tried), len(acked))
	}
	if len(acked) < 50 || len(acked) == len(tried) {
		t.Fatalf("%d of %d PUTs acknowledged: the kill did not fall in the burst", len(acked), len(tried))
	}
	fmt.Printf("group commit: kill -9 of a target in a burst of 8 writers: %d PUTs acknowledged, %d not, 0 lost, 0 partial\n", len(acked), len(tried)-len(acked))
}
