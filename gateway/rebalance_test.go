package gateway_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/rebalance"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/store"
)

// Tombstones are collected only when every target answers, has the
// map, and ended its last rebalance a while ago, whatever the collecting
// target's own state: another's run may still send older copies.
func TestTombstonesWaitForEveryTarget(t *testing.T) {
	// Recent for long enough that a loaded machine still sees the join's
	// run as recent once the map is everywhere.
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true, Mountpaths: 2,
		Configure: func(cfg *gateway.Config) { cfg.RebalanceRecent = 3 * time.Second }})
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
	// Another target's disk away may hold older copies: its return would
	// find their tombstones gone.
	other := c.Targets()[1]
	away := other.Store.Mountpaths()[1]
	if _, err := c.Client().MountpathAction(t.Context(), other.URL(), api.ActionDisableMountpath, away); err != nil {
		t.Fatal(err)
	}
	settled(false, "another target's mountpath disabled")
	if _, err := c.Client().MountpathAction(t.Context(), other.URL(), api.ActionEnableMountpath, away); err != nil {
		t.Fatal(err)
	}
	settled(true, "the mountpath back and reconciled")
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

// A node that is both gateway and target is a target to the check: its
// disk away holds it too.
func TestTombstonesWaitForAnEmbeddedNodesDisk(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, NoSync: true, Mountpaths: 2,
		Configure: func(cfg *gateway.Config) { cfg.RebalanceRecent = 300 * time.Millisecond }})
	node := c.Targets()[0]
	deadline := time.Now().Add(20 * time.Second)
	for !gateway.RebalanceSettled(node.Node) {
		if time.Now().After(deadline) {
			t.Fatal("an embedded node at rest is not settled")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := c.Client().MountpathAction(t.Context(), node.URL(), api.ActionDisableMountpath, node.Store.Mountpaths()[1]); err != nil {
		t.Fatal(err)
	}
	if gateway.RebalanceSettled(node.Node) {
		t.Fatal("settled with the embedded node's mountpath disabled: its tombstones would go")
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

// A target taken out whose objects cannot all move (a name that is a
// directory on its new owner) stays leaving, still serving them, rather
// than leave with them; once the conflict is gone it tries again on its
// own, moves them and leaves.
func TestLeavingTargetKeepsWhatCannotMove(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true,
		Configure: func(cfg *gateway.Config) { cfg.LeaveRetry = 300 * time.Millisecond }})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "b", nil)
	smap := c.WaitForMap(3)
	leaving, staying := c.Targets()[0], c.Targets()[1]
	name := ""
	for i := 0; name == ""; i++ {
		a, _ := smap.Owner(cluster.Uname("ais", "b", fmt.Sprint(i)))
		ab, _ := smap.Owner(cluster.Uname("ais", "b", fmt.Sprint(i)+"/b"))
		if a.ID == leaving.Node.ID() && ab.ID == staying.Node.ID() {
			name = fmt.Sprint(i)
		}
	}
	for _, n := range []string{name, name + "/b"} {
		if _, err := client.Put(ctx, "b", n, strings.NewReader(n), api.PutOptions{Size: int64(len(n))}); err != nil {
			t.Fatal(err)
		}
	}
	removeAndStay(t, c, leaving, "an object that could not move")
	if got, err := client.GetBytes(ctx, "b", name, api.GetOptions{}); err != nil || string(got) != name {
		t.Fatalf("the object that could not move: %q %v", got, err)
	}
	// The conflict removed, a retry moves the object and the target goes.
	if err := client.Delete(ctx, "b", name+"/b"); err != nil {
		t.Fatal(err)
	}
	waitLeft(t, c, leaving, "the leaving target did not try again once its object could move")
	if got, err := client.GetBytes(ctx, "b", name, api.GetOptions{}); err != nil || string(got) != name {
		t.Fatalf("the object after its target left: %q %v", got, err)
	}
}

// leavingRuns counts the finished rebalance runs of a target.
func leavingRuns(t *testing.T, c *gatewaytest.Cluster, m *gatewaytest.Member) int {
	status, err := c.Client().ClusterStatus(t.Context())
	if err != nil {
		return 0
	}
	runs := 0
	for _, node := range status.Nodes {
		if node.ID != m.Node.ID() {
			continue
		}
		for _, j := range node.Jobs {
			if j.Kind == "rebalance" && !j.Running && j.Finished > 0 {
				runs++
			}
		}
	}
	return runs
}

// A write routed under a newer map than the target has gets a 503 to
// retry, not a stamp older than what the new owner may hold.
func TestWriteUnderANewerMapIsRetried(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "b", nil)
	target := c.Targets()[0]
	u := target.URL() + "/v1/objects/b/x?" + api.QueryMapVersion + "=999999&" + api.QueryProxyID + "=" + c.Primary().Node.ID()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, u, strings.NewReader("data"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "version 999999") {
		t.Fatalf("a PUT under a newer map: %s %s", resp.Status, body)
	}
	if _, err := client.Head(ctx, "b", "x"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the refused PUT stored the object: %v", err)
	}
	// A gateway redirects by its own map, and a request no node redirected
	// names no map version a node set: a client's is none of theirs (one
	// far ahead held the request, then 503).
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, u := range []string{
		c.Primary().URL() + "/v1/objects/b/x?" + api.QueryMapVersion + "=999999&" + api.QueryProxyID + "=" + c.Primary().Node.ID(),
		target.URL() + "/v1/objects/b/x?" + api.QueryMapVersion + "=999999",
	} {
		req, _ = http.NewRequestWithContext(ctx, http.MethodPut, u, strings.NewReader("data"))
		resp, err = noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTemporaryRedirect && resp.StatusCode != http.StatusOK {
			t.Fatalf("a PUT with a far map version no node set (%s): %s, want it served or redirected", u, resp.Status)
		}
	}
}

// A read routed under a newer map than the target has, of an object not
// here, gets a 503 to retry: sent on by the older map, it would come back
// with the newer one, back and forth until the client gives up.
func TestReadUnderANewerMapIsRetried(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "b", nil)
	smap := c.WaitForMap(3)
	other := c.Targets()[0]
	name := ""
	for i := 0; name == ""; i++ {
		if owner, _ := smap.Owner(cluster.Uname("ais", "b", fmt.Sprint(i))); owner.ID != other.Node.ID() {
			name = fmt.Sprint(i)
		}
	}
	u := other.URL() + "/v1/objects/b/" + name + "?" + api.QueryMapVersion + "=999999&" + api.QueryProxyID + "=" + c.Primary().Node.ID()
	client0 := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client0.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "version 999999") {
		t.Fatalf("a GET under a newer map, of an object not here: %s %s", resp.Status, body)
	}
}

// holdReceives delays rebalance batches while held.
type holdReceives struct {
	next http.RoundTripper
	held *atomic.Bool
}

func (h holdReceives) RoundTrip(r *http.Request) (*http.Response, error) {
	for h.held.Load() && strings.HasSuffix(r.URL.Path, "/v1/internal/receive") {
		select {
		case <-r.Context().Done():
			return nil, r.Context().Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return h.next.RoundTrip(r)
}

// A target back from offline serves the newer copy written elsewhere
// while it was away, before the rebalance brings it (held here), not its
// own stale one.
func TestReturningTargetServesNoStaleCopy(t *testing.T) {
	var held atomic.Bool
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true,
		KeepaliveInterval: 100 * time.Millisecond, KeepaliveTimeout: time.Second,
		Configure: func(cfg *gateway.Config) { cfg.Transport = holdReceives{api.NewTransport(), &held} }})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "b", nil)
	smap := c.WaitForMap(4)
	victim, gone := c.Targets()[0], c.Targets()[2]
	// Two names the victim owns: one overwritten, one deleted meanwhile.
	var names []string
	for i := 0; len(names) < 2; i++ {
		if owner, _ := smap.Owner(cluster.Uname("ais", "b", fmt.Sprint(i))); owner.ID == victim.Node.ID() {
			names = append(names, fmt.Sprint(i))
		}
	}
	name, deleted := names[0], names[1]
	old, err := client.Put(ctx, "b", name, strings.NewReader("old"), api.PutOptions{Size: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(ctx, "b", deleted, strings.NewReader("old"), api.PutOptions{Size: 3}); err != nil {
		t.Fatal(err)
	}
	c.Kill(victim)
	c.WaitForState(victim.Node.ID(), cluster.StateOffline)
	// Another target stays down throughout: the catch-up does not wait
	// for it.
	c.Kill(gone)
	c.WaitForState(gone.Node.ID(), cluster.StateOffline)
	newer, err := client.Put(ctx, "b", name, strings.NewReader("new"), api.PutOptions{Size: 3})
	if err != nil || newer.Stamp.IsZero() {
		t.Fatalf("overwrite while the owner is offline: %+v %v", newer, err)
	}
	// Overwritten, then deleted (a delete of what only the offline target
	// may hold is refused).
	if _, err := client.Put(ctx, "b", deleted, strings.NewReader("new"), api.PutOptions{Size: 3}); err != nil {
		t.Fatal(err)
	}
	if err := client.Delete(ctx, "b", deleted); err != nil {
		t.Fatalf("delete while the owner is offline: %v", err)
	}
	held.Store(true)
	back := c.Restart(victim)
	c.WaitForState(back.Node.ID(), cluster.StateActive)
	owner := api.NewClient(back.URL())
	if got, err := owner.GetBytes(ctx, "b", name, api.GetOptions{}); err != nil || string(got) != "new" {
		t.Fatalf("GET from the returned owner before the rebalance: %q %v", got, err)
	}
	if meta, err := owner.Head(ctx, "b", name); err != nil || meta.Stamp != newer.Stamp {
		t.Fatalf("HEAD from the returned owner: %+v %v, want stamp %s", meta, err, newer.Stamp)
	}
	if _, err := owner.GetBytes(ctx, "b", deleted, api.GetOptions{}); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("GET from the returned owner of what was deleted meanwhile: %v", err)
	}
	// A condition on the stale copy does not pass meanwhile.
	stale := api.PutOptions{Size: 5, IfMatch: store.ETagOf(old)}
	if _, err := owner.Put(ctx, "b", name, strings.NewReader("lost!"), stale); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("a PUT conditional on the stale copy, on the returned owner: %v", err)
	}
	held.Store(false)
	deadline := time.Now().Add(30 * time.Second)
	for gateway.CatchingUp(back.Node) {
		if time.Now().After(deadline) {
			t.Fatal("the returned target still catches up after every rebalance ended")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got, err := owner.GetBytes(ctx, "b", name, api.GetOptions{}); err != nil || string(got) != "new" {
		t.Fatalf("GET from the returned owner after the rebalance: %q %v", got, err)
	}
}

// While objects move to a new target, a PUT that depends on the current
// object (a condition, a file put into a shard) is not checked against
// the new owner's missing copy: it is refused to retry, rather than
// overwrite an object that exists or replace a shard with one file.
func TestWriteOnTheCurrentObjectWaitsForItsMove(t *testing.T) {
	t.Run("recent", func(t *testing.T) { testWriteOnTheCurrentObjectWaitsForItsMove(t, 0) })
	// The new owner's own run (nothing to send) ended long ago; the run
	// sending it its share goes on.
	t.Run("another target's run", func(t *testing.T) { testWriteOnTheCurrentObjectWaitsForItsMove(t, time.Millisecond) })
}

func testWriteOnTheCurrentObjectWaitsForItsMove(t *testing.T, recent time.Duration) {
	var held atomic.Bool
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true,
		Configure: func(cfg *gateway.Config) {
			cfg.Transport = holdReceives{api.NewTransport(), &held}
			if recent > 0 {
				cfg.RebalanceRecent = recent
			}
		}})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if _, err := client.Put(ctx, "b", fmt.Sprintf("o%02d", i), strings.NewReader("first"), api.PutOptions{Size: 5}); err != nil {
			t.Fatal(err)
		}
		shard := tarOf(t, map[string]string{"a.txt": "a", "b.txt": "b"})
		if _, err := client.Put(ctx, "b", fmt.Sprintf("s%02d.tar", i), bytes.NewReader(shard), api.PutOptions{Size: int64(len(shard))}); err != nil {
			t.Fatal(err)
		}
	}
	held.Store(true)
	added := c.AddTarget()
	smap := c.WaitForMap(3)
	var object, shard string
	for i := range 40 {
		if owner, _ := smap.Owner(cluster.Uname("ais", "b", fmt.Sprintf("o%02d", i))); object == "" && owner.ID == added.Node.ID() {
			object = fmt.Sprintf("o%02d", i)
		}
		if owner, _ := smap.Owner(cluster.Uname("ais", "b", fmt.Sprintf("s%02d.tar", i))); shard == "" && owner.ID == added.Node.ID() {
			shard = fmt.Sprintf("s%02d.tar", i)
		}
	}
	if object == "" || shard == "" {
		t.Fatal("no name moves to the new target: the test proves nothing")
	}
	if recent > 0 {
		// The new target's own run (nothing to send) is over: it no
		// longer counts itself as moving.
		deadline := time.Now().Add(30 * time.Second)
		for !ownRunEnded(t, client, added.Node.ID(), smap.Version) {
			if time.Now().After(deadline) {
				t.Fatal("the new target's own rebalance did not end")
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(10 * recent)
	}
	if _, err := client.Put(ctx, "b", object, strings.NewReader("second"), api.PutOptions{Size: 6, IfNoneMatch: "*"}); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("a create-only PUT of an object still moving: %v, want 503 to retry", err)
	}
	if _, err := client.Put(ctx, "b", shard, strings.NewReader("c"), api.PutOptions{Size: 1, ArchPath: "c.txt"}); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("a file put into a shard still moving: %v, want 503 to retry", err)
	}
	held.Store(false)
	c.WaitRebalance(smap.Version)
	if got, err := client.GetBytes(ctx, "b", object, api.GetOptions{}); err != nil || string(got) != "first" {
		t.Fatalf("the object after its move: %q %v", got, err)
	}
	if _, err := client.Put(ctx, "b", shard, strings.NewReader("c"), api.PutOptions{Size: 1, ArchPath: "c.txt"}); err != nil {
		t.Fatalf("the file put into the shard once it moved: %v", err)
	}
	members := map[string]bool{}
	for e, err := range client.ListAll(ctx, "b", api.ListObjectsMessage{Prefix: shard, Flags: api.ListArchive}) {
		if err != nil {
			t.Fatal(err)
		}
		members[e.Name] = true
	}
	for _, m := range []string{"a.txt", "b.txt", "c.txt"} {
		if !members[shard+"/"+m] {
			t.Fatalf("the shard lost %s: %v", m, members)
		}
	}
}

// ownRunEnded reports whether node's rebalance under map version has
// ended, as the cluster's status tells.
func ownRunEnded(t *testing.T, client *api.Client, node string, version int64) bool {
	t.Helper()
	status, err := client.ClusterStatus(t.Context())
	if err != nil {
		return false
	}
	for _, n := range status.Nodes {
		if n.ID != node {
			continue
		}
		for _, j := range n.Jobs {
			if j.Kind == "rebalance" && j.ID == fmt.Sprintf("reb-%d", version) && !j.Running && j.Finished != 0 {
				return true
			}
		}
	}
	return false
}

// tarOf is a tar shard of the files given.
func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name]))}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(files[name]))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A new owner without the object serves the newest copy on its way, not
// the first target's: targets that joined one after the other while the
// rebalance was held each have one (an old one, an overwrite).
func TestNewOwnerServesTheNewestCopyOnItsWay(t *testing.T) {
	var held atomic.Bool
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true,
		Configure: func(cfg *gateway.Config) { cfg.Transport = holdReceives{api.NewTransport(), &held} }})
	t.Cleanup(func() { held.Store(false) })
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	first := c.Targets()[0].Node.ID()
	// Ids are given in order: the next two targets are these.
	second, third := "t3", "t4"
	mapOf := func(ids ...string) *cluster.Map {
		m := &cluster.Map{Version: 1}
		for _, id := range ids {
			m.Nodes = append(m.Nodes, cluster.Node{ID: id, Role: cluster.RoleTarget, URL: "http://127.0.0.1:1", State: cluster.StateActive})
		}
		return m
	}
	name := ""
	for i := 0; name == "" && i < 1000; i++ {
		a, _ := mapOf(first, second).Owner(cluster.Uname("ais", "b", fmt.Sprint(i)))
		b, _ := mapOf(first, second, third).Owner(cluster.Uname("ais", "b", fmt.Sprint(i)))
		if a.ID == second && b.ID == third {
			name = fmt.Sprint(i)
		}
	}
	if _, err := client.Put(ctx, "b", name, strings.NewReader("old"), api.PutOptions{Size: 3}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Head(c.Primary().URL() + "/v1/objects/b/" + name)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	oldETag := resp.Header.Get("ETag")
	held.Store(true)
	if id := c.AddTarget().Node.ID(); id != second {
		t.Fatalf("the second target is %s, not %s: the test's names are wrong", id, second)
	}
	c.WaitForMap(3)
	if _, err := client.Put(ctx, "b", name, strings.NewReader("new"), api.PutOptions{Size: 3}); err != nil {
		t.Fatal(err)
	}
	if id := c.AddTarget().Node.ID(); id != third {
		t.Fatalf("the third target is %s, not %s", id, third)
	}
	c.WaitForMap(4)
	if got, err := client.GetBytes(ctx, "b", name, api.GetOptions{}); err != nil || string(got) != "new" {
		t.Fatalf("GET from the new owner while both copies are on their way: %q %v, want the overwrite", got, err)
	}
	// A resumed download of the old version, relayed from the target that
	// has the newest copy: the whole overwrite, not its range.
	if status, body := getHeldRange(t, c.Primary().URL()+"/v1/objects/b/"+name, "bytes=1-", oldETag); status != http.StatusOK || body != "new" {
		t.Fatalf("a range held to the old version (%s), relayed: %d %q, want 200 and the whole overwrite", oldETag, status, body)
	}
}

// A node both gateway and target reads the objects it owns in process for
// the S3 API, except while it catches up: a newer copy or a delete may be
// elsewhere, and the native owner path (which asks) serves the read.
func TestS3ReadsInProcessOnlyWhenCaughtUp(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, Embedded: true, NoSync: true})
	client := c.Client()
	if err := client.CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatal(err)
	}
	n := c.Primary().Node
	if !gateway.S3ReadsHere(n, "b", "o") {
		t.Fatal("the embedded node does not read its own objects in process")
	}
	gateway.StartCatchingUp(n)
	if gateway.S3ReadsHere(n, "b", "o") {
		t.Fatal("a node catching up reads its own possibly stale copies in process")
	}
}

// An object deleted on its new owner after the owner's own rebalance
// ended is not served from an older copy the rebalance of another target
// has not moved yet: only a copy newer than the delete is.
func TestDeletedOnItsOwnerIsNotServedFromAnOlderCopy(t *testing.T) {
	var held atomic.Bool
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true,
		Configure: func(cfg *gateway.Config) {
			cfg.Transport = holdReceives{api.NewTransport(), &held}
			cfg.RebalanceRecent = time.Millisecond
		}})
	t.Cleanup(func() { held.Store(false) })
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	second := "t3" // ids are given in order
	name := ownedOnceJoined(c, "ais", "b", second)
	if _, err := client.Put(ctx, "b", name, strings.NewReader("old"), api.PutOptions{Size: 3}); err != nil {
		t.Fatal(err)
	}
	held.Store(true) // the first target's copy stays where it is
	if id := c.AddTarget().Node.ID(); id != second {
		t.Fatalf("the second target is %s, not %s: the test's name is wrong", id, second)
	}
	c.WaitForMap(3)
	time.Sleep(50 * time.Millisecond) // past the new owner's own (empty) rebalance
	client.Delete(ctx, "b", name)     // a tombstone on the owner; 404 or not
	if data, err := client.GetBytes(ctx, "b", name, api.GetOptions{}); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a GET of the object deleted on its owner: %q %v, want not found", data, err)
	}
}

// ownedOnceJoined is a name of a bucket that the next target to join
// (joining, its id) owns once the cluster's single target is joined by it.
func ownedOnceJoined(c *gatewaytest.Cluster, provider, bucket, joining string) string {
	m := &cluster.Map{Version: 1}
	for _, id := range []string{c.Targets()[0].Node.ID(), joining} {
		m.Nodes = append(m.Nodes, cluster.Node{ID: id, Role: cluster.RoleTarget, URL: "http://127.0.0.1:1", State: cluster.StateActive})
	}
	for i := range 1000 {
		if o, _ := m.Owner(cluster.Uname(provider, bucket, fmt.Sprint(i))); o.ID == joining {
			return fmt.Sprint(i)
		}
	}
	return ""
}

// A target taken out while one of its mountpaths is disabled stays
// leaving (that disk's objects were not listed, and would go with it);
// once the mountpath is enabled again its objects move and it leaves.
func TestLeavingTargetWaitsForItsDisabledMountpath(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, Mountpaths: 2, NoSync: true,
		Configure: func(cfg *gateway.Config) { cfg.LeaveRetry = 300 * time.Millisecond }})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "b", nil)
	c.WaitForMap(3)
	leaving := c.Targets()[0]
	for i := range 40 {
		name := fmt.Sprintf("o%d", i)
		if _, err := client.Put(ctx, "b", name, strings.NewReader(name), api.PutOptions{Size: int64(len(name))}); err != nil {
			t.Fatal(err)
		}
	}
	mps, err := client.Mountpaths(ctx, leaving.URL())
	if err != nil || len(mps) != 2 {
		t.Fatalf("mountpaths: %+v %v", mps, err)
	}
	if _, err := client.MountpathAction(ctx, leaving.URL(), api.ActionDisableMountpath, mps[1].Path); err != nil {
		t.Fatal(err)
	}
	removeAndStay(t, c, leaving, "a mountpath disabled")
	if _, err := client.MountpathAction(ctx, leaving.URL(), api.ActionEnableMountpath, mps[1].Path); err != nil {
		t.Fatal(err)
	}
	waitLeft(t, c, leaving, "the target did not leave once its mountpath was enabled")
	for i := range 40 {
		name := fmt.Sprintf("o%d", i)
		if got, err := client.GetBytes(ctx, "b", name, api.GetOptions{}); err != nil || string(got) != name {
			t.Fatalf("%s after the target left: %q %v", name, got, err)
		}
	}
}

// removeAndStay decommissions a target and checks that it stays leaving
// through its run and a second after it (kept, with what): the Left it
// must not propose.
func removeAndStay(t *testing.T, c *gatewaytest.Cluster, leaving *gatewaytest.Member, with string) {
	t.Helper()
	client := c.Client()
	before := leavingRuns(t, c, leaving)
	if err := client.RemoveNode(t.Context(), leaving.Node.ID()); err != nil {
		t.Fatal(err)
	}
	var ended time.Time
	for deadline := time.Now().Add(20 * time.Second); ended.IsZero() || time.Since(ended) < time.Second; time.Sleep(50 * time.Millisecond) {
		m, err := client.Map(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if _, still := m.Node(leaving.Node.ID()); !still {
			t.Fatalf("the target left with %s", with)
		}
		if ended.IsZero() && leavingRuns(t, c, leaving) > before {
			ended = time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatal("the leaving target's rebalance did not end")
		}
	}
}

// waitLeft waits up to 30s for a leaving target to leave the map.
func waitLeft(t *testing.T, c *gatewaytest.Cluster, leaving *gatewaytest.Member, what string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		m, err := c.Client().Map(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if _, still := m.Node(leaving.Node.ID()); !still {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
	}
}

// A delete by template on a settled cluster (no rebalance lately, every
// target active) leaves no tombstone for names the bucket never had: a
// range of ten million names would otherwise cost its owners as many
// files. The objects it names are deleted.
func TestTemplateDeleteLeavesNoTombstonesOfNothing(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.RebalanceRecent = time.Millisecond
	}})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"x-0001", "x-0002"} {
		if _, err := client.Put(ctx, "b", name, strings.NewReader("data"), api.PutOptions{Size: 4}); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitRebalance(c.WaitForMap(3).Version)
	time.Sleep(50 * time.Millisecond) // past the rebalance of the start
	id, err := client.DeleteObjects(ctx, "b", api.ListRange{Template: "x-{0000..0999}"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.WaitJob(ctx, id, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"x-0001", "x-0002"} {
		if _, err := client.Head(ctx, "b", name); !errors.Is(err, api.ErrNotFound) {
			t.Fatalf("%s after the delete: %v", name, err)
		}
	}
	for _, target := range c.Targets() {
		tombstones, _ := filepath.Glob(filepath.Join(target.Dir, "mp*", ".ais", "tombstones", "ais", "b", "*"))
		if len(tombstones) != 0 {
			t.Fatalf("target %s keeps %d tombstones of a template delete on a settled cluster", target.Node.ID(), len(tombstones))
		}
	}
}

// A delete by prefix waits for a settled cluster: each target deletes
// what it lists, and a copy none lists (on a target away) would come
// back after it with no tombstone. Names need no wait. A copy and an
// index wait too.
func TestPrefixDeleteWaitsForASettledCluster(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.RebalanceRecent = time.Millisecond
		cfg.KeepaliveInterval = 50 * time.Millisecond
		cfg.KeepaliveTimeout = 500 * time.Millisecond
	}})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	away := c.Targets()[1]
	c.WaitRebalance(c.WaitForMap(3).Version)
	c.Kill(away)
	c.WaitForState(away.Node.ID(), cluster.StateOffline)
	if _, err := client.DeleteObjects(ctx, "b", api.ListRange{Template: "p/"}); !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "by prefix") {
		t.Fatalf("a delete by prefix with a target away: %v, want unavailable", err)
	}
	id, err := client.DeleteObjects(ctx, "b", api.ListRange{Template: "p/{0..9}"})
	if err != nil {
		t.Fatalf("a delete of names with a target away: %v", err)
	}
	client.WaitJob(ctx, id, 20*time.Millisecond)
	// A copy too: each target copies what it owns from its disks, and
	// what the one away holds would be missed, the job ending well.
	for _, msg := range []api.CopyBucketMessage{{}, {ListRange: api.ListRange{ObjNames: []string{"p/1"}}}} {
		if _, err := client.CopyBucket(ctx, "b", "b-copy", msg); !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "would be missed") {
			t.Fatalf("a copy %+v with a target away: %v, want unavailable", msg, err)
		}
	}
	// And an index of shards, each indexed by its owner.
	if _, err := client.IndexShards(ctx, "b", api.ListRange{}); !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "would be missed") {
		t.Fatalf("an index of shards with a target away: %v, want unavailable", err)
	}
}

// cutOff fails every request to the host it names (none while empty): a
// node the others cannot reach, though it runs.
type cutOff struct {
	next http.RoundTripper
	host *atomic.Pointer[string]
}

func (c cutOff) RoundTrip(r *http.Request) (*http.Response, error) {
	if host := c.host.Load(); host != nil && r.URL.Host == *host {
		return nil, fmt.Errorf("%s is cut off", *host)
	}
	return c.next.RoundTrip(r)
}

// cutOffCluster starts a gateway and targets whose requests to the host
// cut names fail (a node cut off, though it runs), with bucket b made
// and settled, keepalives fast.
func cutOffCluster(t *testing.T, targets int) (*gatewaytest.Cluster, *atomic.Pointer[string]) {
	t.Helper()
	cut := new(atomic.Pointer[string])
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: targets, NoSync: true,
		KeepaliveInterval: 100 * time.Millisecond, KeepaliveTimeout: time.Second,
		Configure: func(cfg *gateway.Config) { cfg.Transport = cutOff{api.NewTransport(), cut} }})
	if err := c.Client().CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatal(err)
	}
	c.WaitRebalance(c.WaitForMap(1 + targets).Version)
	return c, cut
}

// A target put into maintenance while it was offline, and back without a
// restart, sends what it holds to the owners: it owns nothing before or
// after, and no change of the owners started its run.
func TestTargetBackIntoMaintenanceDrains(t *testing.T) {
	c, cut := cutOffCluster(t, 3)
	client := c.Client()
	ctx := t.Context()
	want := putMany(t, client, "b", 60)
	victim := c.Targets()[0]
	holds := func() int {
		n := 0
		for name := range want {
			if _, err := victim.Store.Head(ctx, store.NewBucket("b"), name); err == nil {
				n++
			}
		}
		return n
	}
	if holds() == 0 {
		t.Fatal("the victim holds none of the objects")
	}
	host := strings.TrimPrefix(victim.URL(), "http://")
	cut.Store(&host)
	waitOfflineOnThePrimary(t, c, victim)
	if err := client.StartMaintenance(ctx, victim.Node.ID()); err != nil {
		t.Fatalf("maintenance of the offline target: %v", err)
	}
	cut.Store(nil)
	c.WaitForState(victim.Node.ID(), cluster.StateMaintenance)
	for deadline := time.Now().Add(30 * time.Second); holds() > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the target in maintenance still holds %d objects", holds())
		}
	}
	for name, data := range want {
		if got, err := client.GetBytes(ctx, "b", name, api.GetOptions{}); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("GET %s after the drain: %v", name, err)
		}
	}
}

// waitOfflineOnThePrimary waits until the primary's map has a target cut
// off offline: the target cannot learn it (WaitForState would wait for
// it too).
func waitOfflineOnThePrimary(t *testing.T, c *gatewaytest.Cluster, target *gatewaytest.Member) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if node, _ := c.Primary().Node.Map().Node(target.Node.ID()); node.State == cluster.StateOffline {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("target %s, cut off, is not offline", target.Node.ID())
		}
	}
}

// A running target cut off longer than tombstones are kept, and removed
// meanwhile, sets its objects aside before it joins again, as it would
// at a start: they may be older than deletes the cluster forgot.
func TestTargetRemovedWhileCutOffSetsAsideBeforeRejoin(t *testing.T) {
	c, cut := cutOffCluster(t, 2)
	client := c.Client()
	ctx := t.Context()
	victim := c.Targets()[1]
	b := store.NewBucket("b")
	if _, err := victim.Store.Put(ctx, b, "stale", strings.NewReader("old"), store.PutOptions{Size: 3}); err != nil {
		t.Fatal(err)
	}
	longAgo := time.Now().Add(-48 * time.Hour)
	// Away long, but still a member: nothing is set aside.
	if err := gateway.SetAsideBeforeRejoin(ctx, victim.Node, longAgo); err != nil {
		t.Fatal(err)
	}
	if _, err := victim.Store.Head(ctx, b, "stale"); err != nil {
		t.Fatalf("a member's object after the check: %v", err)
	}
	host := strings.TrimPrefix(victim.URL(), "http://")
	cut.Store(&host)
	waitOfflineOnThePrimary(t, c, victim)
	if err := client.RemoveNode(ctx, victim.Node.ID()); err != nil {
		t.Fatalf("remove the offline target: %v", err)
	}
	waitOutOfTheMap(t, client, victim.Node.ID())
	cut.Store(nil)
	// Heard as a member just now: not away long enough to lose deletes.
	if err := gateway.SetAsideBeforeRejoin(ctx, victim.Node, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := victim.Store.Head(ctx, b, "stale"); err != nil {
		t.Fatalf("the object of a target away briefly: %v", err)
	}
	// Its -join gateway gone for good: the gateways of its map are asked.
	gateway.SetJoin(victim.Node, "http://127.0.0.1:1")
	bounded, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := gateway.SetAsideBeforeRejoin(bounded, victim.Node, longAgo); err != nil {
		t.Fatal(err)
	}
	if _, err := victim.Store.Head(ctx, b, "stale"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the object of a target removed while it was away long: %v, want set aside", err)
	}
}

// A read the new owner serves from the old one's copy (the rebalance
// has not moved it yet) is held to every line of its conditions, as a
// read served where the copy is.
func TestReadFromANeighborKeepsEveryCondition(t *testing.T) {
	var held atomic.Bool
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true,
		Configure: func(cfg *gateway.Config) { cfg.Transport = holdReceives{api.NewTransport(), &held} }})
	t.Cleanup(func() { held.Store(false) })
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "b", nil)
	second := "t3" // ids are given in order
	name := ownedOnceJoined(c, "ais", "b", second)
	if _, err := client.Put(ctx, "b", name, strings.NewReader("on the first"), api.PutOptions{Size: 12}); err != nil {
		t.Fatal(err)
	}
	get := func(lines ...string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, c.Primary().URL()+"/v1/objects/b/"+name, nil)
		req.Header["If-None-Match"] = lines
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("ETag")
	}
	_, etag := get()
	if etag == "" {
		t.Fatal("a GET answers no ETag")
	}
	held.Store(true) // the copy stays on the first target
	if id := c.AddTarget().Node.ID(); id != second {
		t.Fatalf("the second target is %s, not %s: the test's name is wrong", id, second)
	}
	c.WaitForMap(3)
	if status, _ := get(`"other"`, etag); status != http.StatusNotModified {
		t.Fatalf("a GET through the new owner with the ETag on If-None-Match's second line: %d, want 304", status)
	}
}

// olderSender sends rebalance batches as a target of an older build
// does: with no placement.
type olderSender struct{ client *peer.Client }

func (s olderSender) Send(ctx context.Context, to cluster.Node, _ uint64, body io.Reader) ([]rebalance.Receipt, error) {
	return s.client.Send(ctx, to, 0, body)
}

// A rebalance batch from a target of an older build (no placement said)
// is taken, as Receive takes it: refused as of another placement, its
// objects never reached their owners in a rolling upgrade.
func TestRebalanceFromAnOlderSenderIsTaken(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true})
	client := c.Client()
	if err := client.CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatal(err)
	}
	sender, receiver := c.Targets()[0], c.Targets()[1]
	m := c.Primary().Node.Map()
	// Objects the receiver owns, left on the sender (as before a join).
	var names []string
	for i := 0; len(names) < 5; i++ {
		name := fmt.Sprintf("o-%d", i)
		if owner, _ := m.Owner(cluster.Uname("ais", "b", name)); owner.ID == receiver.Node.ID() {
			names = append(names, name)
			if _, err := sender.Store.Put(t.Context(), store.NewBucket("b"), name, strings.NewReader(name), store.PutOptions{Size: int64(len(name)), Stamp: store.Stamp{Map: m.Version, Clock: int64(i + 1)}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	peerClient := peer.NewClient(peer.ClientConfig{Auth: peer.NewAuth(c.Secret(), peer.Options{}), Node: sender.Node.ID()})
	if err := rebalance.Run(t.Context(), rebalance.Config{Self: sender.Node.ID(), Store: sender.Store, Sender: olderSender{peerClient}}, m, new(rebalance.Progress)); err != nil {
		t.Fatalf("a rebalance by an older sender: %v", err)
	}
	for _, name := range names {
		if _, err := receiver.Store.Head(t.Context(), store.NewBucket("b"), name); err != nil {
			t.Fatalf("%s on its owner after the older sender's rebalance: %v", name, err)
		}
	}
}

// A target back from maintenance before its drain moved an object owns it
// again: the overwrite its new owner took meanwhile is served, not the
// copy the drain left.
func TestTargetBackFromMaintenanceServesNoStaleCopy(t *testing.T) {
	var held atomic.Bool
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true,
		Configure: func(cfg *gateway.Config) { cfg.Transport = holdReceives{api.NewTransport(), &held} }})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "b", nil)
	smap := c.WaitForMap(3)
	victim := c.Targets()[0]
	name := ""
	for i := 0; name == ""; i++ {
		if owner, _ := smap.Owner(cluster.Uname("ais", "b", fmt.Sprint(i))); owner.ID == victim.Node.ID() {
			name = fmt.Sprint(i)
		}
	}
	if _, err := client.Put(ctx, "b", name, strings.NewReader("old"), api.PutOptions{Size: 3}); err != nil {
		t.Fatal(err)
	}
	held.Store(true) // no drain, no rebalance delivers
	if err := client.StartMaintenance(ctx, victim.Node.ID()); err != nil {
		t.Fatal(err)
	}
	c.WaitForState(victim.Node.ID(), cluster.StateMaintenance)
	if _, err := client.Put(ctx, "b", name, strings.NewReader("new"), api.PutOptions{Size: 3}); err != nil {
		t.Fatalf("overwrite while its owner is in maintenance: %v", err)
	}
	if err := client.StopMaintenance(ctx, victim.Node.ID()); err != nil {
		t.Fatal(err)
	}
	c.WaitForState(victim.Node.ID(), cluster.StateActive)
	owner := api.NewClient(victim.URL())
	if got, err := owner.GetBytes(ctx, "b", name, api.GetOptions{}); err != nil || string(got) != "new" {
		t.Fatalf("GET from the owner back from maintenance, before the rebalance: %q %v, want the overwrite", got, err)
	}
	held.Store(false)
	deadline := time.Now().Add(30 * time.Second)
	for gateway.CatchingUp(victim.Node) {
		if time.Now().After(deadline) {
			t.Fatal("the target back from maintenance still catches up after every rebalance ended")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got, err := owner.GetBytes(ctx, "b", name, api.GetOptions{}); err != nil || string(got) != "new" {
		t.Fatalf("GET from the owner after the rebalance: %q %v", got, err)
	}
}

// A target restarted after its part of a copy ended lists it again (kept
// across the restart): the job reads as done, not as a part lost; its
// own jobs started later are not mistaken for it.
func TestJobPartKeptAcrossATargetRestart(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "src", nil); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := client.Put(ctx, "src", fmt.Sprintf("o-%d", i), strings.NewReader("data"), api.PutOptions{Size: 4}); err != nil {
			t.Fatal(err)
		}
	}
	id, err := client.CopyBucket(ctx, "src", "dst", api.CopyBucketMessage{})
	if err != nil {
		t.Fatal(err)
	}
	if j, err := client.WaitJob(ctx, id, 20*time.Millisecond); err != nil || j.Objects != 10 {
		t.Fatalf("the copy: %+v %v", j, err)
	}
	victim := c.Targets()[1]
	c.Kill(victim)
	back := c.Restart(victim)
	c.WaitForState(back.Node.ID(), cluster.StateActive)
	j, err := client.Job(ctx, id)
	if err != nil || len(j.Errors) != 0 || j.Aborted || j.Objects != 10 || len(j.Nodes) != 2 {
		t.Fatalf("the copy after a target restarted: %+v %v, want it done on both", j, err)
	}
	// Its counters are of the process: the part kept is not counted again.
	resp, err := http.Get(back.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range strings.Split(string(metrics), "\n") {
		if strings.HasPrefix(line, `ais_job_objects_total{kind="copy-bck"}`) && !strings.HasSuffix(line, " 0") {
			t.Fatalf("the restarted target counts the part it kept: %s", line)
		}
	}
}
