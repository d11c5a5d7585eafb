package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/storetest"
)

// checkPlacement checks that every object is stored exactly once, on its
// owner under the primary's map, with its bytes.
func checkPlacement(t *testing.T, c *gatewaytest.Cluster, bucket string, want map[string][]byte) {
	t.Helper()
	smap := c.Primary().Node.Map()
	seen := map[string]string{}
	for _, m := range c.Targets() {
		list, err := m.Store.List(t.Context(), store.NewBucket(bucket), store.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range list {
			if other, dup := seen[o.Name]; dup {
				t.Fatalf("%s stored on %s and %s", o.Name, other, m.Node.ID())
			}
			seen[o.Name] = m.Node.ID()
			owner, _ := smap.Owner(cluster.Uname("ais", bucket, o.Name))
			if owner.ID != m.Node.ID() {
				t.Fatalf("%s is on %s, its owner is %s", o.Name, m.Node.ID(), owner.ID)
			}
			if got := storetest.Get(t, m.Store, store.NewBucket(bucket), o.Name); !bytes.Equal(got, want[o.Name]) {
				t.Fatalf("%s has other bytes", o.Name)
			}
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("%d objects stored, want %d", len(seen), len(want))
	}
}

func putMany(t *testing.T, client *api.Client, bucket string, n int) map[string][]byte {
	t.Helper()
	want := map[string][]byte{}
	for i := range n {
		name := fmt.Sprintf("obj-%04d", i)
		data := bytes.Repeat([]byte{byte(i)}, 100+i%500)
		if _, err := client.Put(t.Context(), bucket, name, bytes.NewReader(data), api.PutOptions{Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		want[name] = data
	}
	return want
}

// Objects move when a target joins, when one leaves gracefully, and every
// GET succeeds through it all.
func TestRebalanceOnJoinAndLeave(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true})
	client := c.Client()
	client.CreateBucket(t.Context(), "b", nil)
	want := putMany(t, client, "b", 400)
	checkPlacement(t, c, "b", want)

	added := c.AddTarget()
	m := c.WaitForMap(5)
	for name, data := range want { // served during or after the move
		got, err := client.GetBytes(t.Context(), "b", name, api.GetOptions{})
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("GET %s while a target joined: %v", name, err)
		}
	}
	c.WaitRebalance(m.Version)
	checkPlacement(t, c, "b", want)
	if list, _ := added.Store.List(t.Context(), store.NewBucket("b"), store.ListOptions{}); len(list) < 40 {
		t.Fatalf("the new target received %d objects, want about a quarter of 400", len(list))
	}

	leaving := c.Targets()[0]
	if err := client.RemoveNode(t.Context(), leaving.Node.ID()); err != nil {
		t.Fatal(err)
	}
	waitOutOfTheMap(t, client, leaving.Node.ID())
	if list, _ := leaving.Store.List(t.Context(), store.NewBucket("b"), store.ListOptions{}); len(list) != 0 {
		t.Fatalf("the target that left still holds %d objects", len(list))
	}
	c.Kill(leaving)
	checkPlacement(t, c, "b", want)
	var listed int
	for _, err := range client.ListAll(t.Context(), "b", api.ListObjectsMessage{PageSize: 64}) {
		if err != nil {
			t.Fatal(err)
		}
		listed++
	}
	if listed != len(want) {
		t.Fatalf("listed %d objects, want %d", listed, len(want))
	}
}

// A GET for an object the owner does not have yet is served from the
// target that still holds it.
func TestGetFallsBackToTheHolder(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true})
	client := c.Client()
	client.CreateBucket(t.Context(), "b", nil)
	smap := c.Primary().Node.Map()
	owner, _ := smap.Owner(cluster.Uname("ais", "b", "stray"))
	for _, m := range c.Targets() {
		if m.Node.ID() != owner.ID {
			storetest.Put(t, m.Store, store.NewBucket("b"), "stray", []byte("not moved yet"))
			break
		}
	}
	got, err := client.GetBytes(t.Context(), "b", "stray", api.GetOptions{})
	if err != nil || string(got) != "not moved yet" {
		t.Fatalf("GET of an object not on its owner: %q %v", got, err)
	}
	if meta, err := client.Head(t.Context(), "b", "stray"); err != nil || meta.Size != 13 {
		t.Fatalf("HEAD of an object not on its owner: %+v %v", meta, err)
	}
	if _, err := client.Head(t.Context(), "b", "nowhere"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("HEAD of a missing object: %v", err)
	}
}

// A killed target goes offline after missed keepalives: it owns nothing,
// and its objects answer 503 with a retry hint rather than 404 while it is
// away. Restarted, it rejoins with its data.
func TestKeepaliveTakesDeadTargetOfflineAndRestartRejoins(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true,
		KeepaliveInterval: 100 * time.Millisecond, KeepaliveTimeout: time.Second})
	client := c.Client()
	client.CreateBucket(t.Context(), "b", nil)
	want := putMany(t, client, "b", 200)
	victim := c.Targets()[1]
	startedOf := func(id string) int64 {
		t.Helper()
		status, err := client.ClusterStatus(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, node := range status.Nodes {
			if node.ID == id {
				return node.Started
			}
		}
		t.Fatalf("%s is not in the status", id)
		return 0
	}
	firstStart := startedOf(victim.Node.ID())
	held := map[string]bool{}
	before := c.Primary().Node.Map()
	for name := range want {
		if owner, _ := before.Owner(cluster.Uname("ais", "b", name)); owner.ID == victim.Node.ID() {
			held[name] = true
		}
	}
	c.Kill(victim)
	c.WaitForState(victim.Node.ID(), cluster.StateOffline)
	// The cluster keeps serving what the live targets own, and tells a
	// missing object from one that is away.
	if _, err := client.Put(t.Context(), "b", "during-outage", strings.NewReader("x"), api.PutOptions{Size: 1}); err != nil {
		t.Fatalf("PUT while a target is down: %v", err)
	}
	want["during-outage"] = []byte("x")
	unavailable := 0
	for name := range held {
		if unavailable == 5 {
			break // each 503 costs the client's retries
		}
		_, _, err := client.Get(t.Context(), "b", name, api.GetOptions{})
		var e *api.Error
		if !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable || !strings.Contains(e.Message, "offline") {
			t.Fatalf("GET of %s held by the offline target: %v, want 503", name, err)
		}
		unavailable++
	}
	if _, _, err := client.Get(t.Context(), "b", "never-written", api.GetOptions{}); !errors.Is(err, api.ErrNotFound) && !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("GET of a missing object: %v", err)
	}
	if unavailable == 0 {
		t.Fatal("the victim held none of the objects")
	}
	// A listing misses the offline target's objects: it says so.
	if page, err := client.ListObjects(t.Context(), "b", api.ListObjectsMessage{}); err != nil || !slices.Equal(page.Incomplete, []string{victim.Node.ID()}) {
		t.Fatalf("a listing while a target is offline: %v %v, want it to name %s", page.Incomplete, err, victim.Node.ID())
	}
	// Asked in msgpack (AIStore's SDKs), which has no field to say so:
	// 503 to retry, not a page that reads whole.
	req, _ := http.NewRequest(http.MethodGet, c.Primary().URL()+"/v1/buckets/b", strings.NewReader(`{"action":"list","value":{}}`))
	req.Header.Set("Accept", "application/msgpack")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(answer), victim.Node.ID()) {
		t.Fatalf("a msgpack listing while a target is offline: %s %s", resp.Status, answer)
	}
	back := c.Restart(victim)
	m := c.WaitForState(back.Node.ID(), cluster.StateActive)
	c.WaitRebalance(m.Version)
	checkPlacement(t, c, "b", want)
	// The status tells the restart (what a job's part on it lost).
	if firstStart == 0 || startedOf(back.Node.ID()) <= firstStart {
		t.Fatalf("the restarted target's start: %d, before the restart %d", startedOf(back.Node.ID()), firstStart)
	}
}

// A target back from offline stops its parts of the cluster jobs stopped
// on another of their targets meanwhile (a stop reached the targets that
// answered; a partitioned one ran its part on), and keeps those whose
// other parts failed or finished.
func TestReturnedTargetStopsJobsStoppedElsewhere(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := c.Client().CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	first, back := c.Targets()[0].Node, c.Targets()[1].Node
	targets := []string{first.ID(), back.ID()}
	b := store.NewBucket("b")
	start := func(n *gateway.Node, id string, fn func(context.Context) error) {
		t.Helper()
		if _, err := gateway.StartJobOn(ctx, n, id, "copy-bck", b, targets, fn); err != nil {
			t.Fatal(err)
		}
	}
	hold := func(ctx context.Context) error { <-ctx.Done(); return context.Cause(ctx) }
	for _, id := range []string{"copy-stopped", "copy-failed", "copy-done"} {
		start(back, id, hold)
	}
	// A make-n-copies part replaced on the other target reads aborted
	// there: not stopped (the target catches up on its own).
	if _, err := gateway.StartJobOn(ctx, back, "mnc-replaced", "make-n-copies", b, targets, hold); err != nil {
		t.Fatal(err)
	}
	if _, err := gateway.StartJobOn(ctx, first, "mnc-replaced", "make-n-copies", b, targets, hold); err != nil {
		t.Fatal(err)
	}
	if err := gateway.AbortLocalJob(first, "mnc-replaced"); err != nil {
		t.Fatal(err)
	}
	start(first, "copy-stopped", hold)
	start(first, "copy-failed", func(context.Context) error { return errors.New("a part that failed by itself") })
	start(first, "copy-done", func(context.Context) error { return nil })
	if err := gateway.AbortLocalJob(first, "copy-stopped"); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		s, err := gateway.JobState(first, "copy-failed")
		d, derr := gateway.JobState(first, "copy-done")
		return err == nil && !s.Running && derr == nil && !d.Running
	}, "the other parts did not end")
	gateway.StopJobsStoppedElsewhere(back)
	eventually(t, func() bool {
		s, err := gateway.JobState(back, "copy-stopped")
		return err == nil && !s.Running && s.Aborted
	}, "the part of a job stopped on the other target runs on")
	for _, id := range []string{"copy-failed", "copy-done", "mnc-replaced"} {
		if s, err := gateway.JobState(back, id); err != nil || !s.Running {
			t.Fatalf("the part of %s, not stopped elsewhere: %+v %v, want it running", id, s, err)
		}
	}
}

// A target told to stop is taken offline while it still serves, long
// before the keepalive's timeout: gateways send the clients elsewhere
// before its port closes. It refuses the pushes meanwhile, and comes
// back by its restart's join.
func TestStoppingTargetGoesOfflineFirst(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true,
		KeepaliveInterval: 100 * time.Millisecond, KeepaliveTimeout: time.Hour})
	client := c.Client()
	if err := client.CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatal(err)
	}
	victim := c.Targets()[1]
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := victim.Node.GoOffline(ctx); err != nil {
		t.Fatalf("going offline: %v", err)
	}
	if self, _ := c.Primary().Node.Map().Node(victim.Node.ID()); self.State != cluster.StateOffline {
		t.Fatalf("the stopping target in the primary's map: %+v, want offline (the keepalive's timeout is an hour)", self)
	}
	// Still serving, it is sent no client: every PUT lands on the other.
	for i := range 20 {
		if _, err := client.Put(t.Context(), "b", fmt.Sprintf("o-%d", i), strings.NewReader("x"), api.PutOptions{Size: 1}); err != nil {
			t.Fatalf("PUT while a target stops: %v", err)
		}
	}
	if list, err := victim.Store.List(t.Context(), store.NewBucket("b"), store.ListOptions{}); err != nil || len(list) != 0 {
		t.Fatalf("the stopping target took %d objects (%v)", len(list), err)
	}
	// A gateway is not stopped by it.
	if err := c.Primary().Node.GoOffline(ctx); err != nil {
		t.Fatal(err)
	}
	c.Kill(victim)
	back := c.Restart(victim)
	c.WaitForState(back.Node.ID(), cluster.StateActive)
}

// With no gateway left (a cluster stopped gateways first), a stopping
// target does not wait out its bound: no one sends it clients.
func TestStoppingTargetWithNoGatewayDoesNotWait(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	target := c.Targets()[0]
	c.Kill(c.Primary())
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := target.Node.GoOffline(ctx); err == nil || !strings.Contains(err.Error(), "no gateway answers") {
		t.Fatalf("going offline with no gateway: %v, want it said at once", err)
	}
}

func TestMembershipErrors(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true})
	primary := c.Primary().URL()
	current := c.Primary().Node.Map()

	// A stale map pushed to a node is refused; the node keeps its map.
	stale := current.Clone()
	stale.Version = 1
	body, _ := json.Marshal(map[string]any{"map": stale})
	req, _ := http.NewRequest(http.MethodPut, c.Targets()[0].URL()+"/v1/metasync", bytes.NewReader(body))
	resp, err := c.PeerClient(c.Primary().Node.ID()).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e api.Error
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || e.Kind != api.KindStaleMap {
		t.Fatalf("stale metasync: %d %+v", resp.StatusCode, e)
	}
	if got := c.Targets()[0].Node.Map().Version; got != current.Version {
		t.Fatalf("a stale map was adopted: version %d", got)
	}

	// A second node under a used id is refused.
	body, _ = json.Marshal(map[string]any{"kind": "join", "node": cluster.Node{ID: c.Targets()[0].Node.ID(), Role: cluster.RoleTarget, URL: "http://127.0.0.1:1"}})
	req, _ = http.NewRequest(http.MethodPut, primary+"/v1/internal/cluster", bytes.NewReader(body))
	resp, err = c.PeerClient("t9").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || e.Kind != api.KindNodeElsewhere || !strings.Contains(e.Message, "already in use") || !errors.Is(&e, cluster.ErrDuplicateNode) {
		t.Fatalf("duplicate node id: %d %+v", resp.StatusCode, e)
	}

	// Removing an unknown node, and a bucket that does not exist.
	client := c.Client()
	if err := client.RemoveNode(t.Context(), "nobody"); !errors.Is(err, cluster.ErrNodeNotFound) {
		t.Fatalf("remove an unknown node: %v", err)
	}
	if _, err := client.Head(t.Context(), "no-bucket", "o"); !errors.Is(err, api.ErrBucketNotFound) {
		t.Fatalf("object in a missing bucket: %v", err)
	}
	// The cluster keeps serving.
	client.CreateBucket(t.Context(), "ok", nil)
	if _, err := client.Put(t.Context(), "ok", "o", strings.NewReader("fine"), api.PutOptions{Size: 4}); err != nil {
		t.Fatal(err)
	}
}

// A target that is down when a request reaches it gives a clear error.
func TestUnreachableTargetGivesClearError(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true, KeepaliveTimeout: time.Hour})
	client := c.Client()
	client.CreateBucket(t.Context(), "b", nil)
	victim := c.Targets()[0]
	name := ""
	for i := 0; name == ""; i++ {
		candidate := fmt.Sprintf("o%d", i)
		if owner, _ := c.Primary().Node.Map().Owner(cluster.Uname("ais", "b", candidate)); owner.ID == victim.Node.ID() {
			name = candidate
		}
	}
	c.Kill(victim)
	_, err := client.GetBytes(t.Context(), "b", name, api.GetOptions{})
	if err == nil || !strings.Contains(err.Error(), "unreachable") || !strings.Contains(err.Error(), victim.URL()) {
		t.Fatalf("GET from a dead target: %v, want an error naming the unreachable target", err)
	}
}

// Walking the pages of a listing while a rebalance moves objects gives
// each object exactly once.
func TestListingDuringRebalance(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true})
	client := c.Client()
	client.CreateBucket(t.Context(), "b", nil)
	want := putMany(t, client, "b", 1500)
	c.AddTarget()
	for round := 0; round < 5; round++ {
		seen := map[string]bool{}
		for e, err := range client.ListAll(t.Context(), "b", api.ListObjectsMessage{PageSize: 100}) {
			if err != nil {
				t.Fatal(err)
			}
			if seen[e.Name] {
				t.Fatalf("round %d: %s listed twice", round, e.Name)
			}
			seen[e.Name] = true
		}
		if len(seen) != len(want) {
			t.Fatalf("round %d: listed %d objects, want %d", round, len(seen), len(want))
		}
	}
	m := c.WaitForMap(5)
	c.WaitRebalance(m.Version)
	checkPlacement(t, c, "b", want)
}

// A target killed in the middle of a rebalance does not poison the next:
// once it is out of the map, the rebalance back completes, and after its
// restart everything is in place.
func TestInterruptedRebalance(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true,
		KeepaliveInterval: 100 * time.Millisecond, KeepaliveTimeout: time.Second})
	client := c.Client()
	client.CreateBucket(t.Context(), "b", nil)
	want := putMany(t, client, "b", 600)
	added := c.AddTarget()
	c.Kill(added) // most likely mid-way through the move onto it
	m := c.WaitForState(added.Node.ID(), cluster.StateOffline)
	c.WaitRebalance(m.Version)
	back := c.Restart(added)
	m = c.WaitForState(added.Node.ID(), cluster.StateActive)
	c.WaitRebalance(m.Version)
	if _, ok := m.Node(back.Node.ID()); !ok {
		t.Fatal("the restarted target is not in the map")
	}
	checkPlacement(t, c, "b", want)
	listed := 0
	for _, err := range client.ListAll(t.Context(), "b", api.ListObjectsMessage{}) {
		if err != nil {
			t.Fatal(err)
		}
		listed++
	}
	if listed != len(want) {
		t.Fatalf("listed %d, want %d", listed, len(want))
	}
}

// A DELETE while objects may still move removes the copies on every
// target, and a copy a rebalance sends afterwards does not bring the
// object back.
func TestDeleteDuringRebalanceStaysDeleted(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true})
	client := c.Client()
	client.CreateBucket(t.Context(), "b", nil)
	c.AddTarget()
	m := c.WaitForMap(5)
	c.WaitRebalance(m.Version)
	if _, err := client.Put(t.Context(), "b", "x", strings.NewReader("data"), api.PutOptions{Size: 4}); err != nil {
		t.Fatal(err)
	}
	owner, _ := m.Owner(cluster.Uname("ais", "b", "x"))
	var stray, other *gatewaytest.Member
	for _, tm := range c.Targets() {
		switch {
		case tm.Node.ID() == owner.ID:
		case stray == nil:
			stray = tm
		case other == nil:
			other = tm
		}
	}
	storetest.Put(t, stray.Store, store.NewBucket("b"), "x", []byte("old copy"))
	if err := client.Delete(t.Context(), "b", "x"); err != nil {
		t.Fatal(err)
	}
	for _, tm := range c.Targets() {
		if _, err := tm.Store.Head(t.Context(), store.NewBucket("b"), "x"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("target %s still has x after the DELETE: %v", tm.Node.ID(), err)
		}
	}
	// A late copy, as from a rebalance listing taken before the DELETE.
	storetest.Put(t, stray.Store, store.NewBucket("b"), "x", []byte("late copy"))
	if err := client.StartMaintenance(t.Context(), other.Node.ID()); err != nil {
		t.Fatal(err)
	}
	m = c.WaitForMap(5)
	c.WaitRebalance(m.Version)
	if _, err := client.Head(t.Context(), "b", "x"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a deleted object came back with a rebalance: %v", err)
	}
	if err := client.Delete(t.Context(), "b", "x"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("second DELETE: %v", err)
	}
}

// A target removed while it was down and back after the cluster collected
// the tombstones of deletes made meanwhile does not bring those objects
// back: it sets its objects aside before it joins. One that stayed in the
// map (offline: no tombstone is collected then) keeps them.
// A record of when it was last a member that a crash left unreadable
// (empty) is not "never a member": the gateway is asked all the same.
func TestRemovedTargetBackLateSetsItsObjectsAside(t *testing.T) {
	for _, removed := range []bool{true, false} {
		t.Run(fmt.Sprintf("removed=%v", removed), func(t *testing.T) { targetBackLate(t, removed, false) })
	}
	t.Run("removed, its record unreadable", func(t *testing.T) { targetBackLate(t, true, true) })
}

func targetBackLate(t *testing.T, removed, unreadable bool) {
	// While set, the gateway does not answer a node's pull of the map
	// (it is starting too, say).
	var gatewayDown atomic.Bool
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.Transport = refusePulls{api.NewTransport(), &gatewayDown}
		cfg.TombstoneTTL = time.Second
		cfg.RebalanceRecent = 200 * time.Millisecond
		// Apart from the work directory, which moves with the first
		// mountpath enabled.
		cfg.StateDir = cfg.WorkDir + "-state"
	}})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	putMany(t, client, "b", 40)
	gone := c.Targets()[1]
	held, err := gone.Store.List(ctx, store.NewBucket("b"), store.ListOptions{})
	if err != nil || len(held) < 2 {
		t.Fatalf("the target holds %d objects: %v", len(held), err)
	}
	deleted, kept := held[0].Name, held[1].Name
	// It saves that it is a member (a ticker's fsynced write): waited
	// for, not slept on.
	record := filepath.Join(gone.Dir, "work-state", "last-member")
	eventually(t, func() bool { _, err := os.Stat(record); return err == nil }, "the target saved that it is a member")
	c.Kill(gone)
	if unreadable {
		if _, err := os.Stat(record); err != nil {
			t.Fatalf("the target's record of its membership: %v", err)
		}
		if err := os.WriteFile(record, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, func() bool {
		m, err := client.Map(ctx)
		node, ok := m.Node(gone.Node.ID())
		return err == nil && ok && node.State == cluster.StateOffline
	}, "the stopped target did not go offline")
	if !removed {
		time.Sleep(1500 * time.Millisecond) // longer than tombstones are kept
		back := c.Restart(gone)
		c.WaitRebalance(c.WaitForMap(3).Version)
		if _, err := client.Head(ctx, "b", kept); err != nil {
			t.Fatalf("a target back after a long time offline lost %s: %v", kept, err)
		}
		if paths, _ := filepath.Glob(filepath.Join(back.Store.Mountpaths()[0], ".ais", "set-aside", "*")); len(paths) > 0 {
			t.Fatalf("a target still in the map set its objects aside: %v", paths)
		}
		return
	}
	if err := client.RemoveNode(ctx, gone.Node.ID()); err != nil {
		t.Fatal(err)
	}
	client.Delete(ctx, "b", deleted) // only its tombstone: the object went with the target
	stays := c.Targets()[0]
	eventually(t, func() bool {
		tombs, err := stays.Store.Tombstones(ctx, store.NewBucket("b"))
		return err == nil && !slices.ContainsFunc(tombs, func(tomb store.Tombstone) bool { return tomb.Name == deleted })
	}, "the delete's tombstone was not collected")

	// The gateway answers only a while after the target is back: the
	// target waits for it rather than keep its objects.
	gatewayDown.Store(true)
	go func() {
		time.Sleep(time.Second)
		gatewayDown.Store(false)
	}()
	back := c.Restart(gone)
	c.WaitRebalance(c.WaitForMap(3).Version)
	if _, err := client.Head(ctx, "b", deleted); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("an object deleted while its target was removed is back: %v", err)
	}
	found := false
	for _, mp := range back.Store.Mountpaths() {
		paths, _ := filepath.Glob(filepath.Join(mp, ".ais", "set-aside", "*", "objects", "ais", "b", deleted))
		found = found || len(paths) > 0
	}
	if !found {
		t.Fatalf("the removed target's copy of %s was not set aside", deleted)
	}
}

// refusePulls fails a node's pull of the cluster map while down is set.
type refusePulls struct {
	next http.RoundTripper
	down *atomic.Bool
}

func (r refusePulls) RoundTrip(req *http.Request) (*http.Response, error) {
	if r.down.Load() && req.URL.Path == "/v1/cluster" && req.URL.Query().Get("what") == "smap" {
		return nil, errors.New("connection refused (the test's)")
	}
	return r.next.RoundTrip(req)
}

// A keepalive round of an unchanged snapshot names the body a node took
// by its digest: the node takes it as that body; a digest of another it
// refuses (412), and the sender sends the body.
func TestMetasyncTakesADigestOfTheBodyTaken(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true,
		KeepaliveInterval: 50 * time.Millisecond, KeepaliveTimeout: 500 * time.Millisecond})
	target := c.Targets()[0]
	var digest string
	for deadline := time.Now().Add(10 * time.Second); digest == ""; time.Sleep(20 * time.Millisecond) {
		digest = gateway.TakenDigest(target.Node)
		if time.Now().After(deadline) {
			t.Fatal("the target took no push")
		}
	}
	primary := c.Primary().Node.ID()
	send := func(digest string) int {
		req, _ := http.NewRequest(http.MethodPut, target.URL()+"/v1/metasync?digest="+digest, nil)
		resp, err := c.PeerClient(primary).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := send(digest); status != http.StatusOK {
		t.Fatalf("a push of the digest of the body taken: %d, want 200", status)
	}
	if status := send("0123abcd"); status != http.StatusPreconditionFailed {
		t.Fatalf("a push of another digest: %d, want 412", status)
	}
	// The keepalive rounds send the digest alone, and keep the target
	// active past the keepalive timeout.
	before := gateway.DigestsTaken(target.Node)
	time.Sleep(time.Second) // past the keepalive timeout
	for deadline := time.Now().Add(10 * time.Second); gateway.DigestsTaken(target.Node)-before < 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d keepalive pushes taken by their digest, want the rounds to send it", gateway.DigestsTaken(target.Node)-before)
		}
	}
	if n, _ := c.Primary().Node.Map().Node(target.Node.ID()); n.State != cluster.StateActive {
		t.Fatalf("the target is %s after digest pushes", n.State)
	}
}

// A gateway answers data and bucket requests only once it is ready: its
// map and buckets before that may be a snapshot's, and a 404 for a bucket
// that exists would be wrong.
func TestGatewayNotReadyAnswers503(t *testing.T) {
	dir := t.TempDir()
	meta, err := membership.NewFileStore(filepath.Join(dir, "meta"))
	if err != nil {
		t.Fatal(err)
	}
	server := httptest.NewUnstartedServer(nil)
	node, err := gateway.New(gateway.Config{ID: "g1", Role: cluster.RoleGateway, URL: "http://" + server.Listener.Addr().String(),
		Meta: meta, Secret: peer.NewSecret(), DataDirs: []string{dir}, RaftDir: filepath.Join(dir, "meta", "raft")})
	if err != nil {
		t.Fatal(err)
	}
	server.Config.Handler = node.Handler()
	server.Start()
	defer server.Close()
	for _, tc := range []struct{ method, path string }{
		{http.MethodHead, "/v1/buckets/b"},
		{http.MethodGet, "/v1/buckets"}, // not an empty list: no bucket known yet
		{http.MethodGet, "/v1/objects/b/o"},
		{http.MethodGet, "/s3/b"},
		// dSort's abort and removal look at the map (none yet).
		{http.MethodDelete, "/v1/sort/abort?uuid=srt-x"},
		{http.MethodDelete, "/v1/sort?uuid=srt-x"},
	} {
		req, _ := http.NewRequest(tc.method, server.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s on a gateway not started: %v", tc.method, tc.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s %s on a gateway not started: %d, want 503", tc.method, tc.path, resp.StatusCode)
		}
		// S3 clients read S3's XML error, not the native API's JSON.
		if strings.HasPrefix(tc.path, "/s3/") && !strings.Contains(string(body), "<Code>ServiceUnavailable</Code>") {
			t.Errorf("%s %s on a gateway not started: %s, want S3's ServiceUnavailable", tc.method, tc.path, body)
		}
	}
	// Nor the proxy: it checks its origin is not a node of the map.
	proxied := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(must(url.Parse(server.URL)))}}
	resp, err := proxied.Get("http://origin.invalid/data/f.bin")
	if err != nil {
		t.Fatalf("GET through the proxy of a gateway not started: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET through the proxy of a gateway not started: %d, want 503", resp.StatusCode)
	}
	conn, err := net.Dial("tcp", server.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "CONNECT origin.invalid:443 HTTP/1.1\r\nHost: origin.invalid:443\r\n\r\n")
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(status, " 503 ") {
		t.Errorf("CONNECT to a gateway not started: %q %v, want 503", status, err)
	}
}

// A change of a newer protocol level in the log (a leader of a newer
// version) stops every gateway that cannot apply it: each answers 503
// saying to upgrade it, rather than serve a state the other rules made.
func TestGatewaysStopOnALogTheyCannotFollow(t *testing.T) {
	// The leader writes it as a newer version's would.
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 3, Targets: 1, NoSync: true,
		Configure: func(cfg *gateway.Config) { cfg.RaftAdmitLevel = membership.ProtocolLevel + 1 }})
	ctx := t.Context()
	if err := c.Client().CreateBucket(ctx, "before", nil); err != nil {
		t.Fatal(err)
	}
	newer := membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("newer"), Level: membership.ProtocolLevel + 1}
	if err := gateway.Propose(ctx, c.Primary().Node, newer); !errors.Is(err, membership.ErrTooNew) {
		t.Fatalf("proposing a change of a newer level: %v", err)
	}
	for _, m := range c.Members() {
		if m.Store != nil {
			continue
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := http.Get(m.URL() + "/v1/health")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), "upgrade") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("gateway %s after a change it cannot apply: %s %s, want 503 saying to upgrade it", m.Node.ID(), resp.Status, body)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if b := m.Node.Buckets(); len(b.Buckets) != 1 {
			t.Fatalf("gateway %s holds %d buckets, want the 1 before the change", m.Node.ID(), len(b.Buckets))
		}
	}
}

// A read served from another target's copy waits 30 s for its answer,
// or 5 minutes when the other target works before it answers (a
// validated read, an archive member's).
func TestRelayWaitsLongerForReadsThatWorkFirst(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, NoSync: true})
	ctx := t.Context()
	c.Client().CreateBucket(ctx, "plain", nil)
	c.Client().CreateBucket(ctx, "checked", map[string]any{"versioning": map[string]any{"validate_warm_get": true}})
	n := c.Primary().Node
	for _, tc := range []struct {
		bucket, query string
		want          time.Duration
	}{
		{"plain", "", 30 * time.Second},
		{"plain", "?validate-checksum=true", 5 * time.Minute},
		{"plain", "?archpath=a.jpg", 5 * time.Minute},
		{"checked", "", 5 * time.Minute},
	} {
		r := httptest.NewRequest(http.MethodGet, "/v1/objects/"+tc.bucket+"/o"+tc.query, nil)
		if got := gateway.FirstByteWait(n, r, store.NewBucket(tc.bucket)); got != tc.want {
			t.Errorf("%s%s: waits %s, want %s", tc.bucket, tc.query, got, tc.want)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// A gateway keeps the bucket metadata beside its map, as they change: one
// whose log is lost seeds a new log from them, and stale buckets pushed
// to the targets would in time remove the others' data.
func TestGatewaySavesItsBucketMetadata(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	if err := c.Client().CreateBucket(t.Context(), "kept", nil); err != nil {
		t.Fatal(err)
	}
	meta, err := membership.NewFileStore(filepath.Join(c.Primary().Dir, "meta"))
	if err != nil {
		t.Fatal(err)
	}
	md, ok, err := meta.LoadBuckets()
	if err != nil || !ok {
		t.Fatalf("the gateway's saved bucket metadata: %v %v", ok, err)
	}
	if _, found := md.Props(store.NewBucket("kept")); !found {
		t.Fatalf("the saved bucket metadata (version %d) misses the bucket made", md.Version)
	}
	// And the cluster config (with the revoked tokens and S3 keys).
	if _, err := c.Client().SetClusterConfig(t.Context(), map[string]any{"space": map[string]any{"highwm": 93}}); err != nil {
		t.Fatal(err)
	}
	rest, err := meta.LoadControl()
	if err != nil || rest.Config == nil || rest.Config.Space.HighWM != 93 {
		t.Fatalf("the saved control state: %+v %v, want the config with highwm 93", rest.Config, err)
	}
}

// A target above out_of_space takes no rebalance: a drain onto full
// disks would fail every write in the cluster. The objects stay where
// they are, readable.
func TestRebalanceOntoAFullTargetWaits(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := client.Put(ctx, "b", fmt.Sprintf("o%02d", i), strings.NewReader("data"), api.PutOptions{Size: 4}); err != nil {
			t.Fatal(err)
		}
	}
	leaving, staying := c.Targets()[0], c.Targets()[1]
	before, err := leaving.Store.List(ctx, store.NewBucket("b"), store.ListOptions{})
	if err != nil || len(before) == 0 {
		t.Fatalf("the leaving target holds %d objects (%v)", len(before), err)
	}
	// The disks this test runs on are "full" above 3%.
	if _, err := client.SetClusterConfig(ctx, map[string]any{"space": map[string]any{"lowwm": 1, "highwm": 2, "out_of_space": 3}}); err != nil {
		t.Fatal(err)
	}
	if err := client.StartMaintenance(ctx, leaving.Node.ID()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // several tries of the rebalance
	for _, o := range before {
		if _, err := staying.Store.Head(ctx, store.NewBucket("b"), o.Name); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s moved onto the full target: %v", o.Name, err)
		}
	}
	for i := range 20 {
		if got, err := client.GetBytes(ctx, "b", fmt.Sprintf("o%02d", i), api.GetOptions{}); err != nil || string(got) != "data" {
			t.Fatalf("o%02d during the stalled drain: %q %v", i, got, err)
		}
	}
}

// headFails answers the HEAD of one name with err (503: busy; 500: a
// corrupt copy); opens of it go on.
type headFails struct {
	store.Store
	name string
	err  error
}

func (h headFails) Head(ctx context.Context, b store.Bucket, name string) (store.ObjectMeta, error) {
	if name == h.name {
		return store.ObjectMeta{}, h.err
	}
	return h.Store.Head(ctx, b, name)
}

// racedDelete commits a newer write of a name between a DELETE's stamp
// and its removal, as a PUT that holds the name's lock first does.
type racedDelete struct {
	store.Store
	name string
}

func (s racedDelete) Delete(ctx context.Context, b store.Bucket, name string, opts store.DeleteOptions) error {
	if name == s.name && !opts.Stamp.IsZero() {
		newer := opts.Stamp
		newer.Clock++
		if _, err := s.Store.Put(ctx, b, name, strings.NewReader("newer"), store.PutOptions{Size: 5, Stamp: newer}); err != nil {
			return err
		}
	}
	return s.Store.Delete(ctx, b, name, opts)
}

// A DELETE that a PUT of the same name overtook is ordered before that
// PUT: a success, the newer object kept, not a 409 the client did not
// ask for.
func TestDeleteOvertakenByAWrite(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		if cfg.Store != nil {
			cfg.Store = racedDelete{cfg.Store, "raced"}
		}
	}})
	client := c.Client()
	if err := client.CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(t.Context(), "b", "raced", strings.NewReader("older"), api.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.Delete(t.Context(), "b", "raced"); err != nil {
		t.Fatalf("a DELETE a newer write overtook: %v, want it done (ordered before the write)", err)
	}
	body, _, err := client.Get(t.Context(), "b", "raced", api.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(body)
	body.Close()
	if string(data) != "newer" {
		t.Fatalf("after the DELETE the write overtook: %q, want the newer write", data)
	}
}

// An object its owner does not have, which a target that could not
// answer now may hold, is not "not found" (a guess): 503, to retry. One
// a target answers with another error (its copy is corrupt) is.
func TestMissHereWithASilentNeighborIsUnavailable(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true, Configure: func(cfg *gateway.Config) {
		if cfg.Store != nil {
			cfg.Store = headFails{headFails{cfg.Store, "x", fmt.Errorf("%w: the test's disk", store.ErrIO)}, "z", fmt.Errorf("%w: the test's copy", store.ErrCorrupt)}
		}
	}})
	client := c.Client()
	if err := client.CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatal(err)
	}
	_, _, err := client.Get(t.Context(), "b", "x", api.GetOptions{})
	if !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "did not answer") {
		t.Fatalf("a GET its owner misses while a neighbor cannot tell: %v, want 503", err)
	}
	for _, name := range []string{"y", "z"} {
		if _, _, err := client.Get(t.Context(), "b", name, api.GetOptions{}); !errors.Is(err, api.ErrNotFound) {
			t.Fatalf("a GET of missing %s: %v, want 404", name, err)
		}
	}
}

// A conditional PUT of an object that only an offline target may hold
// cannot be checked: 503, not an overwrite (If-None-Match: *) that the
// target's copy loses to once it returns.
func TestConditionalPutOfAnObjectOnAnOfflineTarget(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true,
		KeepaliveInterval: 100 * time.Millisecond, KeepaliveTimeout: time.Second})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(ctx, "b", "k", strings.NewReader("first"), api.PutOptions{Size: 5}); err != nil {
		t.Fatal(err)
	}
	var holder *gatewaytest.Member
	for _, m := range c.Targets() {
		if _, err := m.Store.Head(ctx, store.NewBucket("b"), "k"); err == nil {
			holder = m
		}
	}
	c.Kill(holder)
	c.WaitForState(holder.Node.ID(), cluster.StateOffline)
	_, err := client.Put(ctx, "b", "k", strings.NewReader("second"), api.PutOptions{Size: 6, IfNoneMatch: "*"})
	if !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("a PUT with If-None-Match: * of an object on an offline target: %v, want 503", err)
	}
}

// A target in maintenance (its objects drained) asked to leave leaves:
// the targets that own objects are the same, and yet it moves what it
// still holds and goes.
func TestLeaveFromMaintenance(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true})
	client := c.Client()
	client.CreateBucket(t.Context(), "b", nil)
	want := putMany(t, client, "b", 40)
	leaving := c.Targets()[0]
	if err := client.StartMaintenance(t.Context(), leaving.Node.ID()); err != nil {
		t.Fatal(err)
	}
	c.WaitRebalance(c.WaitForState(leaving.Node.ID(), cluster.StateMaintenance).Version)
	if err := client.RemoveNode(t.Context(), leaving.Node.ID()); err != nil {
		t.Fatal(err)
	}
	waitOutOfTheMap(t, client, leaving.Node.ID())
	c.Kill(leaving)
	for name, data := range want {
		if got, err := client.GetBytes(t.Context(), "b", name, api.GetOptions{}); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("GET %s after the leave: %v", name, err)
		}
	}
}

// A mountpath back (disabled, then enabled) may hold copies of objects
// its target no longer owns: once it is reconciled they go to their
// owners, not at the next change of the map.
func TestMountpathBackSendsStraysToTheirOwners(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, Mountpaths: 2, NoSync: true,
		Configure: func(cfg *gateway.Config) { cfg.RebalanceRecent = 100 * time.Millisecond }})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	b := store.NewBucket("b")
	m := c.WaitForMap(3)
	c.WaitRebalance(m.Version)
	// A stray: a copy on t-other of a name the owner does not hold.
	holder, owner := c.Targets()[0], c.Targets()[1]
	name := ""
	for i := 0; name == ""; i++ {
		n := fmt.Sprintf("o%03d", i)
		if o, err := m.Owner(cluster.Uname("ais", "b", n)); err == nil && o.ID == owner.Node.ID() {
			name = n
		}
	}
	if _, err := holder.Store.Put(ctx, b, name, strings.NewReader("stray"), store.PutOptions{Size: 5, Stamp: store.Stamp{Map: m.Version, Clock: time.Now().UnixNano()}}); err != nil {
		t.Fatal(err)
	}
	mp := holder.Store.MountpathStatuses()[1].Path
	if err := holder.Store.DisableMountpath(ctx, mp, "by hand"); err != nil {
		t.Fatal(err)
	}
	if err := holder.Store.EnableMountpath(ctx, mp); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, here := holder.Store.Head(ctx, b, name)
		_, there := owner.Store.Head(ctx, b, name)
		if errors.Is(here, store.ErrNotFound) && there == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stray after its target's mountpath came back: here %v, on its owner %v", here, there)
		}
	}
}

// waitOutOfTheMap waits (30 s at most) until node id has left the map.
func waitOutOfTheMap(t *testing.T, client *api.Client, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, err := client.Map(t.Context())
		if err == nil {
			if _, still := m.Node(id); !still {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("leaving target %s is still in the map: %+v", id, m)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// headFailing is a store whose Head of one name fails (an erasure-coded
// object whose restore fails for now).
type headFailing struct {
	store.Store
	name string
}

func (h headFailing) Head(ctx context.Context, b store.Bucket, name string) (store.ObjectMeta, error) {
	switch name {
	case h.name:
		return store.ObjectMeta{}, errors.New("its parts could not be reached")
	case h.name + "-moved":
		// A restore whose parts moved: their holders said "not found".
		return store.ObjectMeta{}, errors.Join(store.ErrUnreached, store.ErrNotFound)
	}
	return h.Store.Head(ctx, b, name)
}

// openUnreached is a store whose copy of one name, of one size, cannot be
// read for now (an erasure-coded replica gone bad, its parts' holders
// away: the restore is ErrUnreached).
type openUnreached struct {
	store.Store
	name string
	size int64
}

func (o openUnreached) Open(ctx context.Context, b store.Bucket, name string, opts store.OpenOptions) (store.Object, error) {
	obj, err := o.Store.Open(ctx, b, name, opts)
	if err == nil && name == o.name && obj.Meta().Size == o.size {
		obj.Close()
		return nil, fmt.Errorf("%s: %w", name, store.ErrUnreached)
	}
	return obj, err
}

// An owner whose copy cannot be read now does not serve an older copy
// another target still holds (a rebalance not done): 503, to retry.
func TestUnreadableCopyIsNotServedOlderFromANeighbor(t *testing.T) {
	const newer = "the newer version"
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true, Configure: func(cfg *gateway.Config) {
		if cfg.Store != nil {
			cfg.Store = openUnreached{Store: cfg.Store, name: "x", size: int64(len(newer))}
		}
	}})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(ctx, "b", "x", strings.NewReader(newer), api.PutOptions{Size: int64(len(newer))}); err != nil {
		t.Fatal(err)
	}
	// The older version, still on the other target.
	var other *gatewaytest.Member
	for _, m := range c.Targets() {
		if _, err := m.Store.Head(ctx, store.NewBucket("b"), "x"); errors.Is(err, store.ErrNotFound) {
			other = m
		}
	}
	if other == nil {
		t.Fatal("x is on every target")
	}
	if _, err := other.Store.Put(ctx, store.NewBucket("b"), "x", strings.NewReader("old"), store.PutOptions{Size: 3, Stamp: store.Stamp{Map: 1, Clock: 1}}); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 3*time.Second) // the client retries a 503
	defer cancel()
	got, err := client.GetBytes(short, "b", "x", api.GetOptions{})
	if err == nil || !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("x whose copy cannot be read now: %q %v, want 503 (not the older version)", got, err)
	}
	// A copy of its version there (not removed yet after the move) is
	// served. (Other bytes here only to tell it apart: this store's
	// copy of the newer one's size cannot be read.)
	var stamp store.Stamp
	for _, m := range c.Targets() {
		if meta, err := m.Store.Head(ctx, store.NewBucket("b"), "x"); err == nil && m != other {
			stamp = meta.Stamp
		}
	}
	if _, err := other.Store.Put(ctx, store.NewBucket("b"), "x", strings.NewReader("same version"), store.PutOptions{Size: 12, Stamp: stamp}); err != nil {
		t.Fatal(err)
	}
	if got, err := client.GetBytes(ctx, "b", "x", api.GetOptions{}); err != nil || string(got) != "same version" {
		t.Fatalf("x whose copy cannot be read now, of the version a neighbor holds: %q %v, want that copy", got, err)
	}
}

// A conditional PUT of an object not known to be absent (its HEAD failed
// otherwise than "not found") is refused to retry: If-None-Match: * would
// replace an object that exists.
func TestConditionalPutOfAnObjectNotKnownAbsent(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, Configure: func(cfg *gateway.Config) {
		cfg.Store = headFailing{Store: cfg.Store, name: "coded"}
	}})
	client := c.Client()
	if err := client.CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"coded", "coded-moved"} {
		short, cancel := context.WithTimeout(t.Context(), 3*time.Second) // the client retries a 503
		_, err := client.Put(short, "b", name, strings.NewReader("new"), api.PutOptions{Size: 3, IfNoneMatch: "*"})
		cancel()
		if !errors.Is(err, api.ErrUnavailable) {
			t.Fatalf("a create-only PUT of %s, whose HEAD failed: %v, want 503", name, err)
		}
	}
	if _, err := client.Put(t.Context(), "b", "other", strings.NewReader("new"), api.PutOptions{Size: 3, IfNoneMatch: "*"}); err != nil {
		t.Fatalf("a create-only PUT of an absent object: %v", err)
	}
}

// A target whose store fails to apply a bucket's destroy keeps the old
// bucket's objects: once the bucket is made again, requests redirected to
// it for the new bucket are refused to retry, neither served the old
// objects nor written where the catch-up would remove them; once its
// store takes the change, they are served.
func TestTargetBehindOnABucketMadeAgainRefusesItsRequests(t *testing.T) {
	// Targets of a primary's pushes, and one node of the Raft log that
	// is its own target.
	t.Run("targets", func(t *testing.T) {
		c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true})
		targetBehindOnABucketMadeAgain(t, c, c.Targets()[1])
	})
	t.Run("embedded", func(t *testing.T) {
		c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, NoSync: true})
		targetBehindOnABucketMadeAgain(t, c, c.Targets()[0])
	})
}

func targetBehindOnABucketMadeAgain(t *testing.T, c *gatewaytest.Cluster, stuck *gatewaytest.Member) {
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "again", nil); err != nil {
		t.Fatal(err)
	}
	var names []string // the stuck target's
	for i := range 40 {
		name := fmt.Sprintf("o%02d", i)
		if _, err := client.Put(ctx, "again", name, strings.NewReader("old "+name), api.PutOptions{Size: int64(len(name) + 4)}); err != nil {
			t.Fatal(err)
		}
		if owner, _ := c.Primary().Node.Map().Owner(cluster.Uname(store.ProviderAIS, "again", name)); owner.ID == stuck.Node.ID() {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		t.Fatal("no object of the 40 is the second target's")
	}
	// A file where the store moves destroyed buckets to: it cannot.
	trash := filepath.Join(stuck.Dir, "mp1", ".ais", "trash")
	if err := os.RemoveAll(trash); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(trash, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	client.DestroyBucket(ctx, "again") // (the stuck target's failure may be answered)
	time.Sleep(2 * time.Millisecond)   // (another creation time)
	if err := client.CreateBucket(ctx, "again", nil); err != nil {
		t.Fatal(err)
	}
	name := names[0]
	// Straight to the target, as a client that routes itself (once: the
	// Go client would ask again for seconds).
	direct := func(method string, body io.Reader) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, stuck.URL()+"/v1/objects/again/"+name+"?pid=client", body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	if status, body := direct(http.MethodGet, nil); status != http.StatusServiceUnavailable || !strings.Contains(body, `"unavailable"`) {
		t.Fatalf("GET of the old bucket's object from a target behind: %d %.200q, want 503 unavailable", status, body)
	}
	if status, body := direct(http.MethodPut, strings.NewReader("new")); status != http.StatusServiceUnavailable || !strings.Contains(body, `"unavailable"`) {
		t.Fatalf("PUT into the new bucket on a target behind: %d %.200q, want 503 unavailable", status, body)
	}
	// The store can take the change again: the target catches up when
	// asked (at most once a second).
	if err := os.Remove(trash); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(trash, 0o755); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := client.Put(ctx, "again", name, strings.NewReader("new"), api.PutOptions{Size: 3})
		if err == nil {
			break
		}
		if !errors.Is(err, api.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("PUT once the store takes the change: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	body, _, err := client.Get(ctx, "again", name, api.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(body)
	body.Close()
	if err != nil || string(got) != "new" {
		t.Fatalf("GET after: %q %v, want the new object", got, err)
	}
	if _, err := client.Head(ctx, "again", names[len(names)-1]); len(names) > 1 && !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("another of the old bucket's objects: %v, want not found", err)
	}
}

// slowCapacity is a store whose disks do not tell their capacity (a hung
// statfs) until released.
type slowCapacity struct {
	store.Store
	stuck   atomic.Bool
	release chan struct{}
	// hung counts the reads that hung.
	hung atomic.Int32
}

func (s *slowCapacity) Capacity(ctx context.Context) ([]store.MountpathCapacity, error) {
	if s.stuck.Load() {
		s.hung.Add(1)
		<-s.release
	}
	return s.Store.Capacity(ctx)
}

// A target whose disks hang in telling their capacity answers a
// gateway's status in time (its jobs told, not taken for a node that did
// not answer), its /metrics scrape is answered, and the reads that hang
// are one, not one per poll.
func TestStatusOfATargetWithAHungDisk(t *testing.T) {
	// Room for the target's answer past its capacity's wait, on a
	// loaded machine.
	restore := gateway.SetPeerQueryTimeout(4 * time.Second)
	t.Cleanup(restore)
	slow := &slowCapacity{release: make(chan struct{})}
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		if cfg.Store != nil {
			slow.Store, cfg.Store = cfg.Store, slow
		}
	}})
	t.Cleanup(func() { close(slow.release) })
	slow.stuck.Store(true)
	ctx := t.Context()
	target := c.Targets()[0]
	for range 2 {
		status, err := c.Client().ClusterStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(status.Nodes, func(n api.NodeStatus) bool { return n.ID == target.Node.ID() })
		if i < 0 {
			t.Fatalf("the target is not in the status: %+v", status.Nodes)
		}
		if own := status.Nodes[i]; own.Error != "" || !strings.Contains(own.CapacityError, "did not tell") {
			t.Fatalf("the target's part: error %q, capacity error %q; want it answered, its capacity's error told", own.Error, own.CapacityError)
		}
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target.URL()+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "ais_mountpath_capacity_errors 1") {
		t.Fatalf("a scrape of the target: %s, want its capacity's error told", resp.Status)
	}
	if n := slow.hung.Load(); n != 1 {
		t.Fatalf("%d capacity reads hang, want the one shared", n)
	}
}

// A node whose disks hang in telling their capacity answers the cluster
// status in time all the same, its own part saying what did not answer.
func TestStatusOfANodeWithAHungDisk(t *testing.T) {
	restore := gateway.SetPeerQueryTimeout(300 * time.Millisecond)
	t.Cleanup(restore)
	slow := &slowCapacity{release: make(chan struct{})}
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, Configure: func(cfg *gateway.Config) {
		if cfg.Store != nil {
			slow.Store, cfg.Store = cfg.Store, slow
		}
	}})
	// Released before the cluster closes (cleanups run last first): a
	// status still waiting would hold the close.
	t.Cleanup(func() { close(slow.release) })
	slow.stuck.Store(true)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	status, err := c.Client().ClusterStatus(ctx)
	if err != nil {
		t.Fatalf("the status of a cluster whose node's disk hangs: %v", err)
	}
	if len(status.Nodes) != 1 || !strings.Contains(status.Nodes[0].CapacityError, "did not tell") {
		t.Fatalf("the node's own part: %+v, want its capacity's error", status.Nodes)
	}
	// The rest is told all the same: the node is not taken for one
	// without jobs (a download's or an encode's wait would end).
	if own := status.Nodes[0]; own.Error != "" || own.MapVersion == 0 || own.State != "active" {
		t.Fatalf("the node's own part past its capacity: %+v, want the rest of it", own)
	}
}

// A copy a rebalance could not place (its owner holds an object named as
// its directory, x beside x/y, or the other way) stays where it is: a
// delete of the name at its owner then reaches it too, or, once the
// owner's tombstone is collected, a later run would bring the deleted
// object back.
func TestDeleteReachesACopyARebalanceLeftBehind(t *testing.T) {
	// (Runs recent for a moment only: as a while after they ended.)
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true,
		Configure: func(cfg *gateway.Config) { cfg.RebalanceRecent = time.Millisecond }})
	client := c.Client()
	ctx := t.Context()
	ids := []string{c.Targets()[0].Node.ID(), c.Targets()[1].Node.ID()}
	mapOf := func(ids ...string) *cluster.Map {
		m := &cluster.Map{}
		for _, id := range ids {
			m.Nodes = append(m.Nodes, cluster.Node{ID: id, Role: cluster.RoleTarget, State: cluster.StateActive})
		}
		return m
	}
	joining := "t4" // the next target gatewaytest starts (after g1, t2, t3)
	before, after := mapOf(ids...), mapOf(append(ids, joining)...)
	owner := func(m *cluster.Map, name string) string {
		o, err := m.Owner(cluster.Uname("ais", "b", name))
		if err != nil {
			t.Fatal(err)
		}
		return o.ID
	}
	// x and x/y on the two targets; after the join both are the new
	// one's: whichever reaches it second is refused there.
	var x string
	for i := range 100000 {
		name := fmt.Sprintf("k%d", i)
		if owner(before, name) != owner(before, name+"/y") && owner(after, name) == joining && owner(after, name+"/y") == joining {
			x = name
			break
		}
	}
	if x == "" {
		t.Fatal("no such names")
	}
	if err := client.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{x, x + "/y"} {
		if _, err := client.Put(ctx, "b", name, strings.NewReader(name), api.PutOptions{Size: int64(len(name))}); err != nil {
			t.Fatal(err)
		}
	}
	added := c.AddTarget()
	if added.Node.ID() != joining {
		t.Fatalf("the new target is %s, not %s", added.Node.ID(), joining)
	}
	m := c.WaitForMap(4)
	c.WaitRebalance(m.Version)
	// Which was left behind, and where.
	var holder *gatewaytest.Member
	var leftBehind, placed string
	for _, target := range c.Targets() {
		if target == added {
			continue
		}
		for _, name := range []string{x, x + "/y"} {
			if _, err := target.Store.Head(ctx, store.NewBucket("b"), name); err == nil {
				holder, leftBehind = target, name
			}
		}
	}
	if holder == nil {
		t.Fatal("the rebalance placed both x and x/y")
	}
	placed = x
	if leftBehind == x {
		placed = x + "/y"
	}
	// The owner sees the runs ended (as a settled cluster would).
	for deadline := time.Now().Add(30 * time.Second); !gateway.SettledSeen(added.Node); time.Sleep(50 * time.Millisecond) {
		gateway.Rebalancing(added.Node)
		if time.Now().After(deadline) {
			t.Fatal("the owner never saw the rebalance settled")
		}
	}
	// Not moving (a conditional PUT asks no one): only a delete asks.
	if gateway.Rebalancing(added.Node) {
		t.Fatal("a copy left behind reads as objects moving")
	}
	// The one placed goes; the other is written at its owner and deleted
	// there.
	if err := client.Delete(ctx, "b", placed); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(ctx, "b", leftBehind, strings.NewReader("again"), api.PutOptions{Size: 5}); err != nil {
		t.Fatal(err)
	}
	if err := client.Delete(ctx, "b", leftBehind); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Store.Head(ctx, store.NewBucket("b"), leftBehind); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the copy of %s left behind on %s after the delete at its owner: %v, want gone", leftBehind, holder.Node.ID(), err)
	}
}
