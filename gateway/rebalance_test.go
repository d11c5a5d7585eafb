package gateway_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	"github.com/aisgo/aisgo/store"
)

// Tombstones are collected only when every target answers, has the
// map, and ended its last rebalance a while ago, whatever the collecting
// target's own state: another's run may still send older copies.
func TestTombstonesWaitForEveryTarget(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true,
		Configure: func(cfg *gateway.Config) { cfg.RebalanceRecent = 300 * time.Millisecond }})
	settled := func(want bool, what string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for gateway.RebalanceSettled(c.Targets()[0].Node) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: settled is not %v", what, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	settled(true, "a cluster at rest")
	added := c.AddTarget()
	c.WaitForMap(4)
	if gateway.RebalanceSettled(c.Targets()[0].Node) {
		t.Fatal("settled right after a target joined: its rebalance is recent")
	}
	settled(true, "once every run ended a while ago")
	c.Kill(added)
	if gateway.RebalanceSettled(c.Targets()[0].Node) {
		t.Fatal("settled with a target that does not answer")
	}
}

// A delete leaves a tombstone when nothing is moving too: an older copy
// that arrives later (a rebalance that is long elsewhere) is refused.
func TestDeleteAlwaysLeavesATombstone(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true,
		Configure: func(cfg *gateway.Config) { cfg.RebalanceRecent = time.Millisecond }})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "b", nil)
	meta, err := client.Put(ctx, "b", "x", strings.NewReader("old"), api.PutOptions{Size: 3})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // past any recent rebalance
	if err := client.Delete(ctx, "b", "x"); err != nil {
		t.Fatal(err)
	}
	st := c.Targets()[0].Store
	_, err = st.Put(ctx, store.NewBucket("b"), "x", bytes.NewReader([]byte("old")), store.PutOptions{Size: 3, Stamp: meta.Stamp, IfNewer: true})
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("an older copy arriving after the delete: %v, want refused", err)
	}
}
