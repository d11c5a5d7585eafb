package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	"github.com/aisgo/aisgo/store"
)

// fullStore reports every mountpath 92% full: above the default highwm,
// below out_of_space; unreadable, it says another mountpath could not be
// asked, as the store does with the readings it got.
type fullStore struct {
	store.Store
	unreadable bool
}

func (s fullStore) Capacity(ctx context.Context) ([]store.MountpathCapacity, error) {
	list, err := s.Store.Capacity(ctx)
	for i := range list {
		list[i].Total, list[i].Used = 100<<20, 92<<20
	}
	if s.unreadable {
		err = errors.New("capacity of /mp/other: input/output error")
	}
	return list, err
}

// A run of LRU that ends over lowwm with nothing it may evict (no bucket
// has LRU on) makes LRU rest a capacity_upd_time: the writes that follow,
// each above highwm, start no run of their own (each listed every bucket
// again for nothing).
// So it does with a mountpath that cannot be asked: the others'
// readings hold.
func TestLRURestsAfterAFruitlessRun(t *testing.T) {
	for _, unreadable := range []bool{false, true} {
		t.Run(fmt.Sprintf("unreadable=%v", unreadable), func(t *testing.T) { lruRestsAfterAFruitlessRun(t, unreadable) })
	}
}

func lruRestsAfterAFruitlessRun(t *testing.T, unreadable bool) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		if cfg.Store != nil {
			cfg.Store = fullStore{cfg.Store, unreadable}
		}
	}})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	// A rest longer than the loop below takes on a loaded machine.
	if _, err := client.SetClusterConfig(ctx, map[string]any{"lru": map[string]any{"capacity_upd_time": "1h"}}); err != nil {
		t.Fatal(err)
	}
	lruRuns := func() (runs int, running bool) {
		t.Helper()
		jobs, err := client.Jobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			if j.Kind == "lru" {
				runs++
				running = running || j.Running
			}
		}
		return runs, running
	}
	for i := range 10 {
		name := fmt.Sprintf("o%d", i)
		if _, err := client.Put(ctx, "b", name, strings.NewReader(name), api.PutOptions{Size: int64(len(name))}); err != nil {
			t.Fatal(err)
		}
		// Each run ends before the next write asks for one.
		for deadline := time.Now().Add(10 * time.Second); ; {
			if _, running := lruRuns(); !running {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("an LRU run did not end")
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(150 * time.Millisecond) // past the capacity reading's TTL
	}
	if runs, _ := lruRuns(); runs != 1 {
		t.Fatalf("%d LRU runs for 10 writes above highwm with nothing to evict, want 1", runs)
	}
}

// leavingFullStore reports a second mountpath, 99% full and taking no new
// objects (detaching), beside the real one.
type leavingFullStore struct{ store.Store }

func (s leavingFullStore) Capacity(ctx context.Context) ([]store.MountpathCapacity, error) {
	list, err := s.Store.Capacity(ctx)
	return append(list, store.MountpathCapacity{Path: "/mp/leaving", Total: 100 << 20, Used: 99 << 20, NoWrites: true}), err
}

// A mountpath that takes no new objects (detaching: its objects move to
// the others) refuses no write however full it is: the others have room.
func TestAFullMountpathLeavingRefusesNoWrite(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		if cfg.Store != nil {
			cfg.Store = leavingFullStore{cfg.Store}
		}
	}})
	client := c.Client()
	if err := client.CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(t.Context(), "b", "o", strings.NewReader("data"), api.PutOptions{Size: 4}); err != nil {
		t.Fatalf("a PUT beside a full mountpath leaving: %v", err)
	}
}

// capacityFailing is a store whose capacity cannot be read (statfs fails
// on a mountpath, not as a disk error).
type capacityFailing struct{ store.Store }

func (s capacityFailing) Capacity(ctx context.Context) ([]store.MountpathCapacity, error) {
	return nil, errors.New("statfs: input/output error")
}

// A target that cannot read its capacity still answers: its status says
// why apart from "did not answer", and a bucket summary, which waits for
// every target's answer, completes.
func TestCapacityErrorIsNoSilence(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		if cfg.Store != nil {
			cfg.Store = capacityFailing{cfg.Store}
		}
	}})
	client := c.Client()
	ctx := t.Context()
	status, err := client.ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, node := range status.Nodes {
		if node.Role == "target" && (node.Error != "" || !strings.Contains(node.CapacityError, "statfs")) {
			t.Fatalf("a target that cannot read its capacity: error %q, capacity error %q", node.Error, node.CapacityError)
		}
	}
	if err := client.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	summaryCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := client.BucketSummary(summaryCtx, "b", api.SummaryMessage{}, 50*time.Millisecond); err != nil {
		t.Fatalf("a summary with a target that cannot read its capacity: %v", err)
	}
}

// sizedStore reports each mountpath with the given usage.
type sizedStore struct {
	store.Store
	used, total int64
}

func (s sizedStore) Capacity(ctx context.Context) ([]store.MountpathCapacity, error) {
	list, err := s.Store.Capacity(ctx)
	for i := range list {
		list[i].Used, list[i].Total = s.used, s.total
	}
	return list, err
}

// The watermarks hold on filesystems of any size: one that tells no size
// (an unlimited tmpfs, a FUSE mount) refuses no write of a known length,
// and one past 92 PB that is full refuses writes (its percent wrapped).
func TestWatermarksOnFilesystemsOfAnySize(t *testing.T) {
	const petabyte = int64(1) << 50
	for _, tc := range []struct {
		name        string
		used, total int64
		full        bool
	}{
		{"no size told", 0, 0, false},
		{"200 PB, 96% full", 192 * petabyte, 200 * petabyte, true},
		{"200 PB, half full", 100 * petabyte, 200 * petabyte, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
				if cfg.Store != nil {
					cfg.Store = sizedStore{cfg.Store, tc.used, tc.total}
				}
			}})
			client := c.Client()
			if err := client.CreateBucket(t.Context(), "b", nil); err != nil {
				t.Fatal(err)
			}
			_, err := client.Put(t.Context(), "b", "o", strings.NewReader("data"), api.PutOptions{Size: 4})
			remote, _ := errors.AsType[*api.Error](err)
			if refused := remote != nil && remote.Status == http.StatusInsufficientStorage; refused != tc.full || err != nil && !refused {
				t.Fatalf("PUT of 4 bytes: %v (want refused: %v)", err, tc.full)
			}
		})
	}
}
