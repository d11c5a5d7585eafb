package rebalance_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/rebalance"
	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/faulty"
	"github.com/aisgo/aisgo/store/fs"
	"github.com/tinylib/msgp/msgp"
)

func node(id string, role cluster.Role, state cluster.State) cluster.Node {
	return cluster.Node{ID: id, Role: role, URL: "http://127.0.0.1:1", State: state}
}

func mapWith(version int64, nodes ...cluster.Node) *cluster.Map {
	m := &cluster.Map{Version: version, Primary: "g1", Nodes: []cluster.Node{node("g1", cluster.RoleGateway, cluster.StateActive)}}
	m.Nodes = append(m.Nodes, nodes...)
	return m
}

func targets(ids ...string) []cluster.Node {
	var out []cluster.Node
	for _, id := range ids {
		out = append(out, node(id, cluster.RoleTarget, cluster.StateActive))
	}
	return out
}

var bucket = store.NewBucket("b")

// placement returns, per target, the items it holds when every object is
// on its owner under m.
func placement(t *testing.T, m *cluster.Map, n int) map[string][]rebalance.Item {
	t.Helper()
	out := map[string][]rebalance.Item{}
	for i := range n {
		name := fmt.Sprintf("obj-%04d", i)
		owner, err := m.Owner(cluster.Uname("ais", "b", name))
		if err != nil {
			t.Fatal(err)
		}
		out[owner.ID] = append(out[owner.ID], rebalance.Item{Bucket: bucket, Meta: store.ObjectMeta{Name: name}})
	}
	return out
}

// TestPlanTransitions is the table of map transitions and the moves each
// one implies, for 1,000 objects placed by the old map.
func TestPlanTransitions(t *testing.T) {
	three := mapWith(1, targets("t1", "t2", "t3")...)
	withState := func(m *cluster.Map, id string, s cluster.State) *cluster.Map {
		next, _ := m.WithState(id, s)
		return next
	}
	withNode := func(m *cluster.Map, n cluster.Node) *cluster.Map {
		next, _ := m.WithNode(n)
		return next
	}
	tests := []struct {
		name string
		next *cluster.Map
		// from and to: the only targets moves may leave and reach; empty
		// means any.
		from, to []string
		// share of the objects that move, within ±0.07; -1 skips.
		share float64
	}{
		{"a new version, the same targets", withNode(three, node("g2", cluster.RoleGateway, cluster.StateActive)), nil, nil, 0},
		{"a target joins", withNode(three, node("t4", cluster.RoleTarget, cluster.StateActive)), nil, []string{"t4"}, 0.25},
		{"a target goes to maintenance", withState(three, "t2", cluster.StateMaintenance), []string{"t2"}, []string{"t1", "t3"}, 1.0 / 3},
		{"a target goes offline", withState(three, "t3", cluster.StateOffline), []string{"t3"}, []string{"t1", "t2"}, 1.0 / 3},
		{"a target leaves", func() *cluster.Map { m, _ := three.WithoutNode("t1"); return m }(), []string{"t1"}, []string{"t2", "t3"}, 1.0 / 3},
	}
	const n = 1000
	held := placement(t, three, n)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			moved := 0
			for holder, items := range held {
				moves, err := rebalance.Plan(tc.next, holder, items)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range moves {
					owner, _ := tc.next.Owner(cluster.Uname("ais", "b", m.Meta.Name))
					if m.To.ID != owner.ID || m.To.ID == holder {
						t.Fatalf("%s moves from %s to %s, its owner is %s", m.Meta.Name, holder, m.To.ID, owner.ID)
					}
					if len(tc.from) > 0 && !contains(tc.from, holder) || len(tc.to) > 0 && !contains(tc.to, m.To.ID) {
						t.Fatalf("%s moves from %s to %s", m.Meta.Name, holder, m.To.ID)
					}
				}
				moved += len(moves)
			}
			if got := float64(moved) / n; got < tc.share-0.07 || got > tc.share+0.07 {
				t.Fatalf("%.2f of the objects move, want %.2f", got, tc.share)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// cluster of fs stores joined by an in-process sender.
type stores map[string]*fs.Store

// bucketCreated is when the test's buckets were made.
const bucketCreated = store.Int64String(1_800_000_000_000_000_000)

func newStores(t *testing.T, ids ...string) stores {
	t.Helper()
	out := stores{}
	for _, id := range ids {
		st, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{t.TempDir()}, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		// Made once in the cluster: the same on every target.
		if err := st.CreateBucket(t.Context(), bucket, store.Props{Created: bucketCreated}); err != nil {
			t.Fatal(err)
		}
		out[id] = st
	}
	return out
}

// sender delivers a batch to another store through Receive; fail, when
// set, cuts the stream.
type sender struct {
	stores stores
	fail   error
}

func (s sender) Send(ctx context.Context, to cluster.Node, placement uint64, body io.Reader) ([]rebalance.Receipt, error) {
	if s.fail != nil {
		io.CopyN(io.Discard, body, 10)
		return nil, s.fail
	}
	return rebalance.Receive(ctx, rebalance.ReceiveConfig{Store: s.stores[to.ID]}, body)
}

func put(t *testing.T, st store.Store, name, data string, stamp store.Stamp) {
	t.Helper()
	if _, err := st.Put(t.Context(), bucket, name, strings.NewReader(data), store.PutOptions{Size: int64(len(data)), Stamp: stamp}); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, st store.Store, name string) (string, error) {
	t.Helper()
	obj, err := st.Open(t.Context(), bucket, name, store.OpenOptions{})
	if err != nil {
		return "", err
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	return string(data), err
}

func runOn(t *testing.T, all stores, self string, m *cluster.Map, s rebalance.Sender) (*rebalance.Progress, error) {
	t.Helper()
	p := new(rebalance.Progress)
	err := rebalance.Run(t.Context(), rebalance.Config{Self: self, Store: all[self], Sender: s, BatchObjects: 7}, m, p)
	return p, err
}

// Tombstones are walked and sent a page at a time, as objects are: every
// one of several pages reaches its owner, parts tombstones stay.
func TestTombstonesMoveInPages(t *testing.T) {
	all := newStores(t, "t1", "t2")
	for i := range 23 {
		name := fmt.Sprintf("gone-%02d", i)
		put(t, all["t2"], name, "x", store.Stamp{Map: 4, Clock: int64(2 * i)})
		if err := all["t2"].Delete(t.Context(), bucket, name, store.DeleteOptions{Stamp: store.Stamp{Map: 4, Clock: int64(2*i + 1)}, Tombstone: true}); err != nil {
			t.Fatal(err)
		}
	}
	m := mapWith(5, node("t1", cluster.RoleTarget, cluster.StateActive), node("t2", cluster.RoleTarget, cluster.StateMaintenance))
	p := new(rebalance.Progress)
	if err := rebalance.Run(t.Context(), rebalance.Config{Self: "t2", Store: all["t2"], Sender: sender{stores: all}, BatchObjects: 7, PageSize: 4}, m, p); err != nil {
		t.Fatal(err)
	}
	if p.Tombstones.Load() != 23 {
		t.Fatalf("moved %d tombstones, want 23", p.Tombstones.Load())
	}
	if tombs, _ := all["t1"].Tombstones(t.Context(), bucket); len(tombs) != 23 {
		t.Fatalf("the owner has %d tombstones, want 23", len(tombs))
	}
}

// TestRunMovesEverythingOnce: after a target joins, every object is on
// its owner, once, with its bytes.
func TestRunMovesEverythingOnce(t *testing.T) {
	all := newStores(t, "t1", "t2", "t3")
	before := mapWith(1, targets("t1", "t2")...)
	want := map[string]string{}
	for i := range 200 {
		name := fmt.Sprintf("dir/obj-%03d", i)
		owner, _ := before.Owner(cluster.Uname("ais", "b", name))
		want[name] = strings.Repeat(name, i%5+1)
		put(t, all[owner.ID], name, want[name], store.Stamp{Map: 1, Clock: int64(i)})
	}
	after := mapWith(2, targets("t1", "t2", "t3")...)
	for _, id := range []string{"t1", "t2"} {
		if _, err := runOn(t, all, id, after, sender{stores: all}); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range want {
		owner, _ := after.Owner(cluster.Uname("ais", "b", name))
		for id, st := range all {
			got, err := get(t, st, name)
			if id == owner.ID && (err != nil || got != data) {
				t.Fatalf("%s on its owner %s: %q %v", name, id, got, err)
			}
			if id != owner.ID && err == nil {
				t.Fatalf("%s is still on %s, its owner is %s", name, id, owner.ID)
			}
		}
	}
}

// An object with as many custom entries as the store takes (short keys:
// far more than a few hundred) moves like any other, with its metadata.
func TestObjectWithTheMostCustomEntriesMoves(t *testing.T) {
	all := newStores(t, "t1", "t2")
	after := mapWith(2, targets("t1", "t2")...)
	name := ""
	for i := 0; name == ""; i++ {
		if owner, _ := after.Owner(cluster.Uname("ais", "b", fmt.Sprint("o", i))); owner.ID == "t2" {
			name = fmt.Sprint("o", i)
		}
	}
	// The most a store's metadata holds: add entries until it refuses.
	custom := map[string]string{}
	for i := 0; ; i++ {
		custom[strconv.FormatInt(int64(i), 36)] = ""
		_, err := all["t1"].Put(t.Context(), bucket, name, strings.NewReader("d"), store.PutOptions{Size: 1, Stamp: store.Stamp{Map: 1, Clock: 1}, Custom: custom})
		if err != nil {
			delete(custom, strconv.FormatInt(int64(i), 36))
			break
		}
	}
	if len(custom) <= 256 {
		t.Fatalf("the store took only %d custom entries", len(custom))
	}
	if _, err := runOn(t, all, "t1", after, sender{stores: all}); err != nil {
		t.Fatalf("a run moving an object with %d custom entries: %v", len(custom), err)
	}
	obj, err := all["t2"].Open(t.Context(), bucket, name, store.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	if got := obj.Meta().Custom; len(got) != len(custom) {
		t.Fatalf("moved with %d custom entries, want %d", len(got), len(custom))
	}
}

// placedSender delivers to receivers whose map is receiverMap.
type placedSender struct {
	stores      stores
	receiverMap *cluster.Map
	// read, when set, counts the bytes the receivers read.
	read *atomic.Int64
}

func (s placedSender) Send(ctx context.Context, to cluster.Node, placement uint64, body io.Reader) ([]rebalance.Receipt, error) {
	if s.read != nil {
		body = countingReader{body, s.read}
	}
	return rebalance.Receive(ctx, rebalance.ReceiveConfig{Store: s.stores[to.ID], SenderPlacement: placement,
		Placement: s.receiverMap.Placement}, body)
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n.Add(int64(k))
	return k, err
}

// A target takes a batch only under the placement the sender placed it
// by: a sender behind would leave objects on a target that no longer owns
// them (a leaving one, done listing what it holds). The run fails, to try
// again, and keeps its copies. A map that differs only in its version
// (a gateway joined) places alike, and the batch is taken.
func TestReceiveRefusesABatchOfAnotherMap(t *testing.T) {
	all := newStores(t, "t1", "t2")
	after := mapWith(5, targets("t1", "t2")...)
	var moving []string
	for i := range 40 {
		name := fmt.Sprintf("obj-%02d", i)
		if owner, _ := after.Owner(cluster.Uname("ais", "b", name)); owner.ID == "t2" {
			put(t, all["t1"], name, name, store.Stamp{Map: 4, Clock: int64(i)})
			moving = append(moving, name)
		}
	}
	if len(moving) == 0 {
		t.Fatal("no object to move: the test proves nothing")
	}
	leaving := mapWith(6, targets("t1", "t2", "t3")...) // t3 joined: t2 owns less
	var read atomic.Int64
	if _, err := runOn(t, all, "t1", after, placedSender{stores: all, receiverMap: leaving, read: &read}); !errors.Is(err, rebalance.ErrPlacementDiffers) {
		t.Fatalf("a run under map 5 to a target with map 6 of other targets: %v, want it refused", err)
	}
	// Refused whole: none of its bytes read (to be thrown away).
	if n := read.Load(); n != 0 {
		t.Fatalf("the receiver read %d bytes of a batch it refused", n)
	}
	for _, name := range moving {
		if _, err := get(t, all["t2"], name); err == nil {
			t.Fatalf("%s was taken under another map", name)
		}
		if got, err := get(t, all["t1"], name); err != nil || got != name {
			t.Fatalf("%s left its sender though refused: %q %v", name, got, err)
		}
	}
	if _, err := runOn(t, all, "t1", after, placedSender{stores: all, receiverMap: mapWith(7, targets("t1", "t2")...)}); err != nil {
		t.Fatalf("the run again, the receiver's map newer but with the same targets: %v", err)
	}
	for _, name := range moving {
		if got, err := get(t, all["t2"], name); err != nil || got != name {
			t.Fatalf("%s on its owner: %q %v", name, got, err)
		}
	}
}

// TestReturningTargetLosesNothing is the drill of the hardening issue at
// the level of stores: t1 was away while its objects were overwritten and
// deleted on t2; when t1 owns them again, the newer writes and the deletes
// win, and nothing newer is removed.
func TestReturningTargetLosesNothing(t *testing.T) {
	all := newStores(t, "t1", "t2")
	old := store.Stamp{Map: 3, Clock: 1000}
	put(t, all["t1"], "overwritten", "old", old)
	put(t, all["t1"], "deleted", "old", old)
	put(t, all["t1"], "untouched", "old", old)
	// While t1 was offline (map 4), t2 took the writes.
	put(t, all["t2"], "overwritten", "new", store.Stamp{Map: 4, Clock: 5})
	put(t, all["t2"], "deleted", "new", store.Stamp{Map: 4, Clock: 6})
	if err := all["t2"].Delete(t.Context(), bucket, "deleted", store.DeleteOptions{Stamp: store.Stamp{Map: 4, Clock: 7}, Tombstone: true}); err != nil {
		t.Fatal(err)
	}
	// Map 5: t1 is back and owns everything (t2 is in maintenance).
	m := mapWith(5, node("t1", cluster.RoleTarget, cluster.StateActive), node("t2", cluster.RoleTarget, cluster.StateMaintenance))
	p, err := runOn(t, all, "t2", m, sender{stores: all})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := get(t, all["t1"], "overwritten"); got != "new" {
		t.Fatalf("overwritten: %q %v", got, err)
	}
	if _, err := get(t, all["t1"], "deleted"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted came back: %v", err)
	}
	if got, _ := get(t, all["t1"], "untouched"); got != "old" {
		t.Fatalf("untouched: %q", got)
	}
	if p.Objects.Load() != 1 || p.Tombstones.Load() != 1 {
		t.Fatalf("moved %d objects, %d tombstones", p.Objects.Load(), p.Tombstones.Load())
	}
	if tombs, _ := all["t2"].Tombstones(t.Context(), bucket); len(tombs) != 0 {
		t.Fatalf("t2 kept a delivered tombstone: %+v", tombs)
	}
	if tombs, _ := all["t1"].Tombstones(t.Context(), bucket); len(tombs) != 1 {
		t.Fatalf("t1 has no tombstone: %+v", tombs)
	}
	// An older copy on a third holder, sent later, does not bring the
	// object back nor replace the newer one.
	third := newStores(t, "t3")["t3"]
	all["t3"] = third
	put(t, third, "deleted", "stale", old)
	put(t, third, "overwritten", "stale", old)
	m2 := mapWith(6, node("t1", cluster.RoleTarget, cluster.StateActive), node("t2", cluster.RoleTarget, cluster.StateMaintenance), node("t3", cluster.RoleTarget, cluster.StateMaintenance))
	if _, err := runOn(t, all, "t3", m2, sender{stores: all}); err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, all["t1"], "deleted"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a stale copy brought a deleted object back: %v", err)
	}
	if got, _ := get(t, all["t1"], "overwritten"); got != "new" {
		t.Fatalf("a stale copy replaced a newer one: %q", got)
	}
	if _, err := get(t, third, "overwritten"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the stale copy stayed on its holder: %v", err)
	}
}

// TestConflictFailsAlone: "x" on the owner and "x/y" sent to it cannot
// both be files; that one move is skipped and reported, the rest go.
func TestConflictFailsAlone(t *testing.T) {
	all := newStores(t, "t1", "t2")
	put(t, all["t1"], "x", "file", store.Stamp{Map: 1})
	put(t, all["t2"], "x/y", "child", store.Stamp{Map: 1})
	put(t, all["t2"], "z", "fine", store.Stamp{Map: 1})
	m := mapWith(2, node("t1", cluster.RoleTarget, cluster.StateActive), node("t2", cluster.RoleTarget, cluster.StateMaintenance))
	p, err := runOn(t, all, "t2", m, sender{stores: all})
	if err != nil {
		t.Fatalf("a conflict failed the run: %v", err)
	}
	if p.Skipped.Load() != 1 || p.Left.Load() != 1 || p.Objects.Load() != 1 {
		t.Fatalf("skipped %d, left %d, moved %d", p.Skipped.Load(), p.Left.Load(), p.Objects.Load())
	}
	// (Named by bucket: a delete of another's objects asks no one.)
	if got := p.LeftBuckets(); !slices.Equal(got, []string{bucket.String()}) {
		t.Fatalf("the buckets of the copies left: %v", got)
	}
	if got, _ := get(t, all["t2"], "x/y"); got != "child" {
		t.Fatal("the object that could not move is gone from its holder")
	}
	if got, _ := get(t, all["t1"], "z"); got != "fine" {
		t.Fatal("the other object did not move")
	}
}

// A name's tombstone and its newer object go in one batch, each with its
// receipt: the object refused for good (a conflict at the owner) leaves
// the tombstone moved, not skipped with it.
func TestTombstoneAndObjectOfANameHaveTheirOwnReceipts(t *testing.T) {
	all := newStores(t, "t1", "t2")
	put(t, all["t1"], "x/y", "child", store.Stamp{Map: 1})
	put(t, all["t2"], "x", "old", store.Stamp{Map: 1, Clock: 1})
	if err := all["t2"].Delete(t.Context(), bucket, "x", store.DeleteOptions{Stamp: store.Stamp{Map: 1, Clock: 2}, Tombstone: true}); err != nil {
		t.Fatal(err)
	}
	put(t, all["t2"], "x", "new", store.Stamp{Map: 1, Clock: 3})
	m := mapWith(2, node("t1", cluster.RoleTarget, cluster.StateActive), node("t2", cluster.RoleTarget, cluster.StateMaintenance))
	p, err := runOn(t, all, "t2", m, sender{stores: all})
	if err != nil {
		t.Fatalf("a conflict failed the run: %v", err)
	}
	if p.Skipped.Load() != 1 || p.Tombstones.Load() != 1 {
		t.Fatalf("skipped %d, tombstones moved %d; want the object skipped, its tombstone moved", p.Skipped.Load(), p.Tombstones.Load())
	}
	if got, _ := get(t, all["t2"], "x"); got != "new" {
		t.Fatal("the object that could not move is gone from its holder")
	}
}

// TestFailedSendKeepsCopies: a batch that fails leaves the copies where
// they are and the run reports an error to retry.
func TestFailedSendKeepsCopies(t *testing.T) {
	all := newStores(t, "t1", "t2")
	put(t, all["t2"], "a", "data", store.Stamp{Map: 1})
	m := mapWith(2, node("t1", cluster.RoleTarget, cluster.StateActive), node("t2", cluster.RoleTarget, cluster.StateMaintenance))
	if _, err := runOn(t, all, "t2", m, sender{stores: all, fail: errors.New("connection reset")}); err == nil {
		t.Fatal("a failed send is not an error")
	}
	if got, _ := get(t, all["t2"], "a"); got != "data" {
		t.Fatal("the copy went although the send failed")
	}
}

// failingOwner fails every batch to one owner, counting them; the others
// go to their stores.
type failingOwner struct {
	sender
	owner string
	tries *atomic.Int64
}

func (s failingOwner) Send(ctx context.Context, to cluster.Node, placement uint64, body io.Reader) ([]rebalance.Receipt, error) {
	if to.ID == s.owner {
		s.tries.Add(1)
		io.CopyN(io.Discard, body, 10)
		return nil, errors.New("the owner's disk hangs")
	}
	return s.sender.Send(ctx, to, placement, body)
}

// After one failed batch, an owner gets no more in the run (which runs
// again later): each would take as long to fail, and the others' moves
// wait behind its queue.
func TestFailingOwnerGetsOneBatchARun(t *testing.T) {
	all := newStores(t, "t1", "t2", "t3")
	for i := range 40 {
		put(t, all["t2"], fmt.Sprintf("o%02d", i), "data", store.Stamp{Map: 1})
	}
	m := mapWith(2, node("t1", cluster.RoleTarget, cluster.StateActive), node("t2", cluster.RoleTarget, cluster.StateMaintenance), node("t3", cluster.RoleTarget, cluster.StateActive))
	tries := new(atomic.Int64)
	err := rebalance.Run(t.Context(), rebalance.Config{Self: "t2", Store: all["t2"], Sender: failingOwner{sender{stores: all}, "t1", tries}, BatchObjects: 1}, m, nil)
	if err == nil || tries.Load() != 1 {
		t.Fatalf("the run: %v, %d batches to the failing owner: want an error, one batch", err, tries.Load())
	}
	moved := 0
	for i := range 40 {
		if got, _ := get(t, all["t3"], fmt.Sprintf("o%02d", i)); got == "data" {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("nothing moved to the owner that takes them")
	}
}

// failingDelete fails the first removal of one name here.
type failingDelete struct {
	store.Store
	name   string
	failed *atomic.Bool
}

func (s failingDelete) Delete(ctx context.Context, b store.Bucket, name string, opts store.DeleteOptions) error {
	if name == s.name && s.failed.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: remove %s", store.ErrIO, name)
	}
	return s.Store.Delete(ctx, b, name, opts)
}

// A failure here after the owner took a batch (the removal of a moved
// copy) is not the owner's: the other batches still go to it, and the
// other copies of its batch are still removed here.
func TestLocalFailureKeepsSendingToTheOwner(t *testing.T) {
	for _, batch := range []int{1, 10} {
		all := newStores(t, "t1", "t2")
		for i := range 10 {
			put(t, all["t2"], fmt.Sprintf("o%02d", i), "data", store.Stamp{Map: 1})
		}
		m := mapWith(2, node("t1", cluster.RoleTarget, cluster.StateActive), node("t2", cluster.RoleTarget, cluster.StateMaintenance))
		source := failingDelete{all["t2"], "o00", new(atomic.Bool)}
		if err := rebalance.Run(t.Context(), rebalance.Config{Self: "t2", Store: source, Sender: sender{stores: all}, BatchObjects: batch}, m, nil); err == nil {
			t.Fatal("a failed removal is not an error to retry")
		}
		for i := 1; i < 10; i++ {
			name := fmt.Sprintf("o%02d", i)
			if got, _ := get(t, all["t1"], name); got != "data" {
				t.Fatalf("batches of %d: %s did not move after the failed removal of o00", batch, name)
			}
			if _, err := get(t, all["t2"], name); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("batches of %d: %s stays on its old target: %v", batch, name, err)
			}
		}
	}
}

// TestCollectTombstones: tombstones go after their TTL, not while a target
// is offline.
func TestCollectTombstones(t *testing.T) {
	all := newStores(t, "t1")
	all["t1"].Delete(t.Context(), bucket, "gone", store.DeleteOptions{Stamp: store.Stamp{Map: 1}, Tombstone: true})
	now := time.Now()
	mg := rebalance.NewManager(t.Context(), rebalance.ManagerConfig{Run: rebalance.Config{Self: "t1", Store: all["t1"]}, TombstoneTTL: time.Hour, Now: func() time.Time { return now }})
	offline := mapWith(3, node("t1", cluster.RoleTarget, cluster.StateActive), node("t2", cluster.RoleTarget, cluster.StateOffline))
	online := mapWith(4, targets("t1")...)
	if n, _ := mg.CollectTombstones(t.Context(), online); n != 0 {
		t.Fatalf("a fresh tombstone went: %d", n)
	}
	now = now.Add(2 * time.Hour)
	if n, _ := mg.CollectTombstones(t.Context(), offline); n != 0 {
		t.Fatalf("a tombstone went while a target is offline: %d", n)
	}
	if n, err := mg.CollectTombstones(t.Context(), online); n != 1 || err != nil {
		t.Fatalf("collected %d, %v", n, err)
	}
}

// TestReceiveRefusesMalformedStreams: a stream that lies about counts or
// sizes is refused before anything large is allocated.
func TestReceiveRefusesMalformedStreams(t *testing.T) {
	all := newStores(t, "t1")
	cfg := rebalance.ReceiveConfig{Store: all["t1"]}
	frame := func(fields ...any) []byte {
		b := msgp.AppendMapHeader(nil, uint32(len(fields)/2))
		for i := 0; i < len(fields); i += 2 {
			b = msgp.AppendString(b, fields[i].(string))
			b, _ = msgp.AppendIntf(b, fields[i+1])
		}
		return b
	}
	for name, body := range map[string][]byte{
		"a huge custom map":    append(frame("b", "b", "n", "o"), append(msgp.AppendString(nil, "c"), msgp.AppendMapHeader(nil, 1<<31)...)...),
		"a huge string":        append(msgp.AppendMapHeader(nil, 1), 0xdb, 0x7f, 0xff, 0xff, 0xff),
		"a negative size":      frame("b", "b", "n", "o", "s", int64(-5)),
		"a name that climbs":   frame("b", "b", "n", "../../etc/passwd", "s", int64(0)),
		"a bucket that climbs": frame("b", "../..", "n", "o", "s", int64(0)),
		"too many fields":      msgp.AppendMapHeader(nil, 1000),
	} {
		if _, err := rebalance.Receive(t.Context(), cfg, bytes.NewReader(body)); !errors.Is(err, rebalance.ErrFrame) {
			t.Errorf("%s: %v, want ErrFrame", name, err)
		}
	}
}

func FuzzReceive(f *testing.F) {
	f.Add([]byte{0x81, 0xa1, 'n', 0xa1, 'x'})
	f.Add([]byte{})
	st, err := fs.Open(context.Background(), fs.Config{Mountpaths: []string{f.TempDir()}, NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	st.CreateBucket(context.Background(), bucket, store.Props{})
	f.Fuzz(func(t *testing.T, data []byte) {
		rebalance.Receive(t.Context(), rebalance.ReceiveConfig{Store: st}, bytes.NewReader(data))
	})
}

// Receipts are told apart by provider: of ais://b/x and aws://b/x sent to
// one owner, the one it refuses stays with the sender.
func TestReceiptsOfSameNameInTwoProviders(t *testing.T) {
	all := newStores(t, "t1", "t2")
	remote := store.Bucket{Name: bucket.Name, Provider: store.ProviderAWS}
	for _, st := range all {
		if err := st.CreateBucket(t.Context(), remote, store.Props{Created: bucketCreated}); err != nil {
			t.Fatal(err)
		}
	}
	after := mapWith(2, targets("t1", "t2")...)
	name := ""
	for i := 0; name == ""; i++ {
		candidate := fmt.Sprintf("x%d", i)
		a, _ := after.Owner(cluster.Uname("ais", bucket.Name, candidate))
		r, _ := after.Owner(cluster.Uname(store.ProviderAWS, bucket.Name, candidate))
		if a.ID == "t2" && r.ID == "t2" {
			name = candidate
		}
	}
	put(t, all["t1"], name, "local", store.Stamp{Map: 1, Clock: 1})
	if _, err := all["t1"].Put(t.Context(), remote, name, strings.NewReader("remote"), store.PutOptions{Size: 6, Stamp: store.Stamp{Map: 1, Clock: 1}}); err != nil {
		t.Fatal(err)
	}
	// On t2 the remote name is a directory: that copy is refused.
	if _, err := all["t2"].Put(t.Context(), remote, name+"/inside", strings.NewReader("y"), store.PutOptions{Size: 1, Stamp: store.Stamp{Map: 1, Clock: 2}}); err != nil {
		t.Fatal(err)
	}
	runOn(t, all, "t1", after, sender{stores: all})
	if got, err := get(t, all["t2"], name); err != nil || got != "local" {
		t.Fatalf("ais://%s/%s on its owner: %q %v", bucket.Name, name, got, err)
	}
	if _, err := get(t, all["t1"], name); err == nil {
		t.Fatalf("ais://%s/%s, taken by its owner, is still on the sender", bucket.Name, name)
	}
	obj, err := all["t1"].Open(t.Context(), remote, name, store.OpenOptions{})
	if err != nil {
		t.Fatalf("%s/%s, refused by its owner, is gone from the sender: %v", remote, name, err)
	}
	obj.Close()
}

// tombstoneFrame encodes a tombstone item as a sender would.
func tombstoneFrame(bucketName, name string, stamp store.Stamp) []byte {
	b := msgp.AppendMapHeader(nil, 7)
	b = msgp.AppendString(msgp.AppendString(b, "p"), "ais")
	b = msgp.AppendString(msgp.AppendString(b, "b"), bucketName)
	b = msgp.AppendString(msgp.AppendString(b, "n"), name)
	b = msgp.AppendBool(msgp.AppendString(b, "d"), true)
	b = msgp.AppendInt64(msgp.AppendString(b, "s"), 0)
	b = msgp.AppendInt64(msgp.AppendString(b, "wm"), stamp.Map)
	return msgp.AppendInt64(msgp.AppendString(b, "wc"), stamp.Clock)
}

// A stream of more items than a batch is refused; a stamp of a map this
// target does not have yet is refused for now (the sender retries).
func TestReceiveBoundsPeerInput(t *testing.T) {
	st := newStores(t, "t1")["t1"]
	var many bytes.Buffer
	for i := range rebalance.MaxFrames + 1 {
		// Of a bucket this target does not have: each is refused quickly.
		many.Write(tombstoneFrame("missing", fmt.Sprintf("t%d", i), store.Stamp{Map: 1, Clock: 1}))
	}
	if _, err := rebalance.Receive(t.Context(), rebalance.ReceiveConfig{Store: st}, &many); !errors.Is(err, rebalance.ErrFrame) {
		t.Fatalf("a stream of %d items: %v", rebalance.MaxFrames+1, err)
	}
	// Custom metadata past what any store keeps is refused, unread.
	huge := map[string]string{}
	for i := range 3 {
		huge[fmt.Sprint(i)] = strings.Repeat("v", 4000)
	}
	frame := rebalance.AppendFrame(nil, rebalance.Item{Bucket: bucket, Meta: store.ObjectMeta{Name: "x", Size: 0, Custom: huge, Stamp: store.Stamp{Map: 1, Clock: 1}}})
	if _, err := rebalance.Receive(t.Context(), rebalance.ReceiveConfig{Store: st}, bytes.NewReader(frame)); !errors.Is(err, rebalance.ErrFrame) {
		t.Fatalf("custom metadata of 12,000 bytes: %v", err)
	}
	frame = tombstoneFrame(bucket.Name, "x", store.Stamp{Map: 9, Clock: 1})
	receipts, err := rebalance.Receive(t.Context(), rebalance.ReceiveConfig{Store: st, MapVersion: func() int64 { return 3 }}, bytes.NewReader(frame))
	if err != nil || len(receipts) != 1 || receipts[0].Error == "" || receipts[0].Kind != "" {
		t.Fatalf("a stamp of a later map: %+v %v", receipts, err)
	}
	if tombs, _ := st.Tombstones(t.Context(), bucket); len(tombs) != 0 {
		t.Fatalf("the refused item left %d tombstones", len(tombs))
	}
	// A stamp far ahead of the clock would beat every later write and
	// delete; a tombstone without a stamp would delete with no trace.
	put(t, st, "kept", "data", store.Stamp{Map: 1, Clock: time.Now().UnixNano()})
	for name, stamp := range map[string]store.Stamp{
		"a stamp two days ahead": {Map: 1, Clock: time.Now().Add(48 * time.Hour).UnixNano()},
		"no stamp":               {},
	} {
		receipts, err := rebalance.Receive(t.Context(), rebalance.ReceiveConfig{Store: st}, bytes.NewReader(tombstoneFrame(bucket.Name, "kept", stamp)))
		if err != nil || len(receipts) != 1 || receipts[0].Error == "" {
			t.Fatalf("%s: %+v %v", name, receipts, err)
		}
		if got, err := get(t, st, "kept"); err != nil || got != "data" {
			t.Fatalf("%s: the object after the refused tombstone: %q %v", name, got, err)
		}
	}
	if tombs, _ := st.Tombstones(t.Context(), bucket); len(tombs) != 0 {
		t.Fatalf("the refused items left %d tombstones", len(tombs))
	}
}

// failingRun starts a run on t2 (in maintenance) whose sends to t1 keep
// failing.
func failingRun(t *testing.T) *rebalance.Manager {
	t.Helper()
	all := newStores(t, "t1", "t2")
	put(t, all["t2"], "a", "data", store.Stamp{Map: 1})
	ctx, cancel := context.WithCancel(t.Context())
	mg := rebalance.NewManager(ctx, rebalance.ManagerConfig{Run: rebalance.Config{Self: "t2", Store: all["t2"], Sender: sender{stores: all, fail: errors.New("connection reset")}}})
	t.Cleanup(func() {
		cancel()
		mg.Wait()
	})
	mg.Start(mapWith(2, node("t1", cluster.RoleTarget, cluster.StateActive), node("t2", cluster.RoleTarget, cluster.StateMaintenance)))
	return mg
}

// A run a newer map's run replaces is aborted with that cause, not
// failed: the job list must not show it as an error.
func TestReplacedRunIsAbortedNotFailed(t *testing.T) {
	mg := failingRun(t)
	time.Sleep(100 * time.Millisecond) // failed once, waiting to try again
	mg.Start(mapWith(3, node("t1", cluster.RoleTarget, cluster.StateActive), node("t2", cluster.RoleTarget, cluster.StateActive)))
	deadline := time.Now().Add(10 * time.Second)
	for {
		statuses := mg.Statuses()
		if len(statuses) == 2 && !statuses[0].Running {
			first := statuses[0]
			if !first.Aborted || first.Error != "" || !strings.Contains(first.Cause, "replaced by reb-3") {
				t.Fatalf("the replaced run: %+v", first)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs: %+v", statuses)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A moved object keeps its access time: the rebalance neither reads it as
// a use on its sender nor writes it as "just read" on its owner (LRU
// orders by it).
func TestMovedObjectsKeepTheirAccessTime(t *testing.T) {
	all := newStores(t, "t1", "t2")
	put(t, all["t2"], "a", "data", store.Stamp{Map: 1})
	time.Sleep(50 * time.Millisecond)
	moved := time.Now()
	if atime := moveToT1(t, all); !atime.Before(moved) {
		t.Fatalf("the moved object's access time %s is the move's (%s), not its last read", atime, moved)
	}
}

// A read noted and not flushed yet on the sender travels with the object:
// the receiver's access time is that read, not the older flushed one.
func TestMovedObjectsKeepAPendingRead(t *testing.T) {
	all := newStores(t, "t1", "t2")
	put(t, all["t2"], "a", "data", store.Stamp{Map: 1})
	time.Sleep(50 * time.Millisecond)
	read := time.Now()
	obj, err := all["t2"].Open(t.Context(), bucket, "a", store.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	obj.Close()
	if atime := moveToT1(t, all); atime.Before(read) {
		t.Fatalf("the moved object's access time %s is before its last read (%s)", atime, read)
	}
}

// moveToT1 moves t2's only object to t1 (t2 goes into maintenance) and
// returns its access time there.
func moveToT1(t *testing.T, all stores) time.Time {
	t.Helper()
	m := mapWith(2, node("t1", cluster.RoleTarget, cluster.StateActive), node("t2", cluster.RoleTarget, cluster.StateMaintenance))
	if _, err := runOn(t, all, "t2", m, sender{stores: all}); err != nil {
		t.Fatal(err)
	}
	list, err := all["t1"].List(t.Context(), bucket, store.ListOptions{WithMeta: true})
	if err != nil || len(list) != 1 {
		t.Fatalf("the moved object: %v %v", list, err)
	}
	return list[0].Atime
}

// A rebalance started again under the same map (a retried decommission)
// keeps one run of its id: statuses and metrics of two alike would clash.
func TestRunAgainUnderTheSameMapKeepsOneRun(t *testing.T) {
	all := newStores(t, "t1")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	mg := rebalance.NewManager(ctx, rebalance.ManagerConfig{Run: rebalance.Config{Self: "t1", Store: all["t1"]}})
	defer mg.Wait()
	defer cancel()
	m := mapWith(2, targets("t1")...)
	mg.Start(m)
	mg.Start(m)
	statuses := mg.Statuses()
	if len(statuses) != 1 || statuses[0].ID != "reb-2" {
		t.Fatalf("runs after two starts under map 2: %+v, want one reb-2", statuses)
	}
}

// An item whose placement changes while its bytes come is refused as it
// commits (to be sent again), not put on a target that may no longer own
// it; a tombstone alike.
func TestReceiveHoldsThePlacementAsItemsCommit(t *testing.T) {
	st := newStores(t, "t1")["t1"]
	var stream []byte
	stream = rebalance.AppendFrame(stream, rebalance.Item{Bucket: bucket, Meta: store.ObjectMeta{Name: "x", Size: 4, Stamp: store.Stamp{Map: 1, Clock: 1}}})
	stream = append(stream, "data"...)
	stream = append(stream, tombstoneFrame(bucket.Name, "y", store.Stamp{Map: 1, Clock: 2})...)
	put(t, st, "y", "kept", store.Stamp{Map: 1, Clock: 1})
	held := 0
	cfg := rebalance.ReceiveConfig{Store: st, SenderPlacement: 7, Placement: func() uint64 { return 7 },
		Hold: func() (func(), error) {
			held++
			return nil, rebalance.ErrPlacementDiffers // the map changed meanwhile
		}}
	receipts, err := rebalance.Receive(t.Context(), cfg, bytes.NewReader(stream))
	if err != nil || len(receipts) != 2 || held != 2 {
		t.Fatalf("receipts %+v, %v; held %d times, want 2", receipts, err, held)
	}
	for _, r := range receipts {
		if !strings.Contains(r.Error, rebalance.ErrPlacementDiffers.Error()) {
			t.Fatalf("receipt of %s: %+v, want the placement refused", r.Name, r)
		}
	}
	if _, err := get(t, st, "x"); err == nil {
		t.Fatal("the refused copy was stored")
	}
	if got, err := get(t, st, "y"); err != nil || got != "kept" {
		t.Fatalf("the object of the refused tombstone: %q %v", got, err)
	}
}

// unreadable is a store one of whose objects cannot be opened.
type unreadable struct {
	*fs.Store
	name string
	err  error
}

func (u unreadable) Open(ctx context.Context, b store.Bucket, name string, opts store.OpenOptions) (store.Object, error) {
	if name == u.name {
		return nil, u.err
	}
	return u.Store.Open(ctx, b, name, opts)
}

// unlistable is a store whose one bucket does not read (a disk failing,
// a change of it not applied).
type unlistable struct {
	*fs.Store
	bad store.Bucket
}

func (u unlistable) WalkTombstones(ctx context.Context, b store.Bucket, fn func(store.Tombstone) error) error {
	if b == u.bad {
		return fmt.Errorf("%w: the bucket's directory", store.ErrIO)
	}
	return u.Store.WalkTombstones(ctx, b, fn)
}

// A bucket that does not read stays, and the run goes on with the others
// (their objects move), to be run again.
func TestUnreadableBucketFailsAlone(t *testing.T) {
	all := newStores(t, "t1", "t2")
	bad := store.NewBucket("bad")
	buckets := []store.Bucket{bad}
	for i := range 8 {
		buckets = append(buckets, store.NewBucket(fmt.Sprintf("good%d", i)))
	}
	for _, b := range buckets {
		for _, id := range []string{"t1", "t2"} {
			if err := all[id].CreateBucket(t.Context(), b, store.Props{Created: bucketCreated}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := all["t2"].Put(t.Context(), b, "o", strings.NewReader("data"), store.PutOptions{Size: 4, Stamp: store.Stamp{Map: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	m := mapWith(2, node("t1", cluster.RoleTarget, cluster.StateActive), node("t2", cluster.RoleTarget, cluster.StateMaintenance))
	err := rebalance.Run(t.Context(), rebalance.Config{Self: "t2", Store: unlistable{all["t2"], bad}, Sender: sender{stores: all}, BatchObjects: 7}, m, nil)
	if !errors.Is(err, rebalance.ErrIncomplete) {
		t.Fatalf("a run with a bucket that does not read: %v, want to run again", err)
	}
	for _, b := range buckets[1:] {
		if _, err := all["t1"].Head(t.Context(), b, "o"); err != nil {
			t.Fatalf("the object of %s did not move: %v", b, err)
		}
	}
	if _, err := all["t2"].Head(t.Context(), bad, "o"); err != nil {
		t.Fatalf("the object of the bucket that does not read is gone from its holder: %v", err)
	}
}

// An object that cannot be read stays where it is and the others of its
// batch move: a corrupt one is counted and the run ends (it would fail
// every retry, holding the run and a leaving target for good); one that
// may read later (an I/O error) makes the run one to try again.
func TestUnreadableObjectFailsAlone(t *testing.T) {
	for _, tc := range []struct {
		err   error
		retry bool
	}{{fmt.Errorf("%w: every copy", store.ErrCorrupt), false}, {fmt.Errorf("%w: read", store.ErrIO), true}} {
		all := newStores(t, "t1", "t2")
		put(t, all["t2"], "bad", "data", store.Stamp{Map: 1})
		put(t, all["t2"], "z", "fine", store.Stamp{Map: 1})
		m := mapWith(2, node("t1", cluster.RoleTarget, cluster.StateActive), node("t2", cluster.RoleTarget, cluster.StateMaintenance))
		p := new(rebalance.Progress)
		err := rebalance.Run(t.Context(), rebalance.Config{Self: "t2", Store: unreadable{all["t2"], "bad", tc.err}, Sender: sender{stores: all}, BatchObjects: 7}, m, p)
		if tc.retry != errors.Is(err, rebalance.ErrIncomplete) || !tc.retry && err != nil {
			t.Fatalf("%v: the run: %v, want to try again: %v", tc.err, err, tc.retry)
		}
		if p.Skipped.Load() != 1 {
			t.Fatalf("%v: skipped %d, want 1", tc.err, p.Skipped.Load())
		}
		if got, _ := get(t, all["t1"], "z"); got != "fine" {
			t.Fatalf("%v: the other object of the batch did not move", tc.err)
		}
		if got, _ := get(t, all["t2"], "bad"); got != "data" {
			t.Fatalf("%v: the object that could not be read is gone from its holder", tc.err)
		}
	}
}

// An object whose read fails midway (a bad sector: its frame is cut)
// stays, and the others of its batch move all the same: the batch goes
// again without it, not failed at every retry.
func TestObjectCutMidwayFailsAlone(t *testing.T) {
	all := newStores(t, "t1", "t2")
	for _, name := range []string{"a", "al-shut", "bad", "z"} {
		put(t, all["t2"], name, "data of "+name, store.Stamp{Map: 1})
	}
	source := faulty.Wrap(all["t2"])
	source.Inject(faulty.Fault{Op: faulty.OpRead, Prefix: "bad", After: 3, Err: store.ErrIO})
	// One that cannot be opened before the cut is counted once, not
	// again when the batch goes again.
	source.Inject(faulty.Fault{Op: faulty.OpOpen, Prefix: "al-shut", Err: store.ErrIO})
	m := mapWith(2, node("t1", cluster.RoleTarget, cluster.StateActive), node("t2", cluster.RoleTarget, cluster.StateMaintenance))
	p := new(rebalance.Progress)
	err := rebalance.Run(t.Context(), rebalance.Config{Self: "t2", Store: source, Sender: sender{stores: all}, BatchObjects: 7}, m, p)
	if !errors.Is(err, rebalance.ErrIncomplete) || p.Skipped.Load() != 2 {
		t.Fatalf("the run: %v, skipped %d: want incomplete, two skipped", err, p.Skipped.Load())
	}
	for _, name := range []string{"a", "z"} {
		if got, _ := get(t, all["t1"], name); got != "data of "+name {
			t.Fatalf("%s of the batch did not move: %q", name, got)
		}
	}
	if got, _ := get(t, all["t2"], "bad"); got != "data of bad" {
		t.Fatalf("the object cut midway is gone from its holder: %q", got)
	}
}

// A copy the owner acknowledged stays when the map changed before it went
// (a newer map's run may have moved the object back here, or be about to
// need it): the run says it is incomplete, to run again.
func TestMovedCopyStaysWhenTheMapChanged(t *testing.T) {
	all := newStores(t, "t1", "t2")
	put(t, all["t2"], "a", "data", store.Stamp{Map: 1})
	m := mapWith(2, node("t1", cluster.RoleTarget, cluster.StateActive), node("t2", cluster.RoleTarget, cluster.StateMaintenance))
	held := 0
	cfg := rebalance.Config{Self: "t2", Store: all["t2"], Sender: sender{stores: all},
		Hold: func(placement uint64) (func(), error) {
			held++
			if placement != m.Placement() {
				t.Errorf("held placement %d, the run's is %d", placement, m.Placement())
			}
			return nil, fmt.Errorf("%w: a newer map", rebalance.ErrPlacementDiffers)
		}}
	err := rebalance.Run(t.Context(), cfg, m, nil)
	if !errors.Is(err, rebalance.ErrIncomplete) || held == 0 {
		t.Fatalf("a run whose map changed before its copies went: %v (held %d times), want ErrIncomplete", err, held)
	}
	if got, _ := get(t, all["t2"], "a"); got != "data" {
		t.Fatal("the moved copy went though the map changed")
	}
	if got, _ := get(t, all["t1"], "a"); got != "data" {
		t.Fatal("the owner did not get the object")
	}
}

// cancellingSender delivers a batch, then ends the run (a newer map's
// run replaced it) before its copies here are removed.
type cancellingSender struct {
	sender
	cancel context.CancelFunc
}

func (s cancellingSender) Send(ctx context.Context, to cluster.Node, placement uint64, body io.Reader) ([]rebalance.Receipt, error) {
	receipts, err := s.sender.Send(ctx, to, placement, body)
	s.cancel()
	return receipts, err
}

// A run replaced by a newer map's (which may have moved the object back
// here) removes none of the copies its owner took, though the map's
// placement is again the run's (the targets changed and changed back):
// the newer run judges them.
func TestMovedCopyStaysWhenTheRunWasReplaced(t *testing.T) {
	all := newStores(t, "t1", "t2")
	put(t, all["t2"], "a", "data", store.Stamp{Map: 1})
	m := mapWith(2, node("t1", cluster.RoleTarget, cluster.StateActive), node("t2", cluster.RoleTarget, cluster.StateMaintenance))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cfg := rebalance.Config{Self: "t2", Store: all["t2"], Sender: cancellingSender{sender{stores: all}, cancel},
		Hold: func(uint64) (func(), error) { return func() {}, nil }} // the same placement again
	if err := rebalance.Run(ctx, cfg, m, nil); err == nil {
		t.Fatal("a run replaced while its copies moved ended without an error")
	}
	if got, _ := get(t, all["t2"], "a"); got != "data" {
		t.Fatal("the moved copy went though its run was replaced")
	}
}

// A copy whose bytes no longer match its checksum (bit rot here) is
// refused by its owner for good: skipped and counted, not retried
// forever (a leaving target would never leave); it stays here.
func TestRottenCopyIsSkippedNotRetried(t *testing.T) {
	all := newStores(t, "t1", "t2")
	put(t, all["t2"], "rot", "data", store.Stamp{Map: 1})
	put(t, all["t2"], "z", "fine", store.Stamp{Map: 1})
	path := filepath.Join(all["t2"].Mountpaths()[0], "ais", bucket.Name, "rot")
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("D"), 0) // the metadata, and its checksum, stay
	f.Close()
	m := mapWith(2, node("t1", cluster.RoleTarget, cluster.StateActive), node("t2", cluster.RoleTarget, cluster.StateMaintenance))
	p := new(rebalance.Progress)
	if err := rebalance.Run(t.Context(), rebalance.Config{Self: "t2", Store: all["t2"], Sender: sender{stores: all}}, m, p); err != nil {
		t.Fatalf("the run: %v, want done with the rotten copy skipped", err)
	}
	// (Not left for a delete to reach: its bytes, not its name, were
	// refused, and it cannot move to come back.)
	if p.Skipped.Load() != 1 || p.Left.Load() != 0 {
		t.Fatalf("skipped %d, left %d; want 1, 0", p.Skipped.Load(), p.Left.Load())
	}
	if got, _ := get(t, all["t1"], "z"); got != "fine" {
		t.Fatal("the other object did not move")
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the rotten copy is gone from its holder: %v", err)
	}
}

// A parts tombstone (parts deleted while a mountpath was away) is not
// sent as a delete: the owner's object is newer than those parts.
func TestPartsTombstoneIsNotSent(t *testing.T) {
	all := newStores(t, "t1")
	root := t.TempDir()
	paths := []string{root + "/a", root + "/b"}
	holder, err := fs.Open(t.Context(), fs.Config{Mountpaths: paths, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.CreateBucket(t.Context(), bucket, store.Props{Created: bucketCreated}); err != nil {
		t.Fatal(err)
	}
	all["t2"] = holder
	m := mapWith(3, targets("t1", "t2")...)
	name := ""
	for i := 0; name == ""; i++ {
		if o, _ := m.Owner(cluster.Uname("ais", bucket.Name, fmt.Sprint("x", i))); o.ID == "t1" {
			name = fmt.Sprint("x", i)
		}
	}
	put(t, all["t1"], name, "acknowledged", store.Stamp{Map: 2, Clock: 10})
	if err := holder.DisableMountpath(t.Context(), paths[1], "by hand"); err != nil {
		t.Fatal(err)
	}
	// A failed overwrite's parts go, stamped after the stored object.
	if err := holder.DeleteParts(t.Context(), bucket, name, store.Stamp{Map: 2, Clock: 20}); err != nil {
		t.Fatal(err)
	}
	if tombs, _ := holder.Tombstones(t.Context(), bucket); len(tombs) != 1 {
		t.Fatalf("the holder keeps %+v", tombs)
	}
	p, err := runOn(t, all, "t2", m, sender{stores: all})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := get(t, all["t1"], name); got != "acknowledged" {
		t.Fatalf("the owner's object after the holder's rebalance: %q %v", got, err)
	}
	if p.Tombstones.Load() != 0 {
		t.Fatalf("sent %d tombstones", p.Tombstones.Load())
	}
}

// A tombstone the owner acknowledged stays when the map changed before
// it went: a newer map's run may have moved the name back here.
func TestMovedTombstoneStaysWhenTheMapChanged(t *testing.T) {
	all := newStores(t, "t1", "t2")
	if err := all["t2"].Delete(t.Context(), bucket, "gone", store.DeleteOptions{Stamp: store.Stamp{Map: 1, Clock: 5}, Tombstone: true}); err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	m := mapWith(2, node("t1", cluster.RoleTarget, cluster.StateActive), node("t2", cluster.RoleTarget, cluster.StateMaintenance))
	cfg := rebalance.Config{Self: "t2", Store: all["t2"], Sender: sender{stores: all},
		Hold: func(uint64) (func(), error) {
			return nil, fmt.Errorf("%w: a newer map", rebalance.ErrPlacementDiffers)
		}}
	if err := rebalance.Run(t.Context(), cfg, m, nil); !errors.Is(err, rebalance.ErrIncomplete) {
		t.Fatalf("a run whose map changed before its tombstones went: %v, want ErrIncomplete", err)
	}
	if tombs, _ := all["t2"].Tombstones(t.Context(), bucket); len(tombs) != 1 {
		t.Fatalf("the sender's tombstones: %+v, want it kept", tombs)
	}
	if tombs, _ := all["t1"].Tombstones(t.Context(), bucket); len(tombs) != 1 {
		t.Fatalf("the owner's tombstones: %+v", tombs)
	}
}

// A run that keeps failing (an object that cannot be read) is retried
// fast at first, then every ten minutes, not every 30 s for good: each
// retry walks every object of the target again.
func TestFailedRunsAreRetriedLessOften(t *testing.T) {
	want := map[int]float64{1: 1, 2: 2, 3: 4, 5: 16, 6: 30, 20: 30, 21: 600, 1000: 600}
	for attempt, seconds := range want {
		if got := rebalance.RetryDelay(attempt).Seconds(); got != seconds {
			t.Errorf("retry %d: after %gs, want %gs", attempt, got, seconds)
		}
	}
}

// An object of a bucket destroyed and made again on its owner since the
// sender listed it is of the old bucket: the owner does not take it into
// the new one (it stays with the sender, whose own metadata drops it).
func TestObjectOfABucketMadeAgainIsNotTaken(t *testing.T) {
	all := newStores(t, "t1", "t2")
	put(t, all["t2"], "old", "of the old bucket", store.Stamp{Map: 1})
	// Made again on t1, the owner, later than t2 knows.
	md, err := all["t1"].Buckets(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	md = md.Clone()
	md.Version++
	props, _ := md.Props(bucket)
	props.Created = bucketCreated + 1000
	md.Set(bucket, props)
	if err := all["t1"].SyncBuckets(t.Context(), md); err != nil {
		t.Fatal(err)
	}
	m := mapWith(2, node("t1", cluster.RoleTarget, cluster.StateActive), node("t2", cluster.RoleTarget, cluster.StateMaintenance))
	// Not taken, and not given up: the run tries again (by then the
	// sender knows the bucket is another, or the owner that it is not).
	if _, err := runOn(t, all, "t2", m, sender{stores: all}); !errors.Is(err, rebalance.ErrIncomplete) {
		t.Fatalf("an object of the old bucket: %v, want the run incomplete", err)
	}
	if _, err := get(t, all["t1"], "old"); err == nil {
		t.Fatal("the bucket made again took the old bucket's object")
	}
	if got, _ := get(t, all["t2"], "old"); got != "of the old bucket" {
		t.Fatal("the sender dropped the copy the owner did not take")
	}
}

// A start under a map older than the last run's is ignored: one that
// raced a newer map's start must not replace its run.
func TestStartOfAnOlderMapIsIgnored(t *testing.T) {
	all := newStores(t, "t1")
	mg := rebalance.NewManager(t.Context(), rebalance.ManagerConfig{Run: rebalance.Config{Self: "t1", Store: all["t1"]}})
	mg.Start(mapWith(6, targets("t1")...))
	mg.Start(mapWith(5, targets("t1")...))
	mg.Wait()
	var ids []string
	for _, s := range mg.Statuses() {
		ids = append(ids, s.ID)
	}
	if !slices.Equal(ids, []string{rebalance.RunIDPrefix + "6"}) {
		t.Fatalf("runs %v, want only the newer map's", ids)
	}
}

// rewritingSender delivers a batch, then has the sender's copy of name
// rewritten (a write between the send and the removal of what was sent).
type rewritingSender struct {
	sender
	from store.Store
	name string
	t    *testing.T
}

func (s rewritingSender) Send(ctx context.Context, to cluster.Node, placement uint64, body io.Reader) ([]rebalance.Receipt, error) {
	receipts, err := s.sender.Send(ctx, to, placement, body)
	put(s.t, s.from, s.name, "rewritten", store.Stamp{Map: 1, Clock: 99})
	return receipts, err
}

// A copy rewritten on the sender after it was sent is not removed, nor
// counted as moved: the run is incomplete, and the next one moves it.
func TestCopyRewrittenAfterItWasSentIsMovedAgain(t *testing.T) {
	all := newStores(t, "t1", "t2")
	put(t, all["t2"], "o", "first", store.Stamp{Map: 1, Clock: 1})
	m := mapWith(2, node("t1", cluster.RoleTarget, cluster.StateActive), node("t2", cluster.RoleTarget, cluster.StateMaintenance))
	p, err := runOn(t, all, "t2", m, rewritingSender{sender: sender{stores: all}, from: all["t2"], name: "o", t: t})
	if !errors.Is(err, rebalance.ErrIncomplete) || p.Objects.Load() != 0 {
		t.Fatalf("a copy rewritten after it was sent: %v, %d moved; want the run incomplete, none moved", err, p.Objects.Load())
	}
	if got, _ := get(t, all["t2"], "o"); got != "rewritten" {
		t.Fatalf("the rewritten copy on the sender: %q", got)
	}
	if _, err := runOn(t, all, "t2", m, sender{stores: all}); err != nil {
		t.Fatal(err)
	}
	if got, _ := get(t, all["t1"], "o"); got != "rewritten" {
		t.Fatalf("on the owner after the next run: %q, want the rewritten copy", got)
	}
	if _, err := get(t, all["t2"], "o"); err == nil {
		t.Fatal("the sender keeps the copy the next run moved")
	}
}

// A run that keeps failing says why while it runs (and tries again): the
// job list showed it running, with no word of the failure.
func TestRetryingRunSaysWhy(t *testing.T) {
	mg := failingRun(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		statuses := mg.Statuses()
		if len(statuses) == 1 && statuses[0].Retrying != "" {
			s := statuses[0]
			if !s.Running || s.Error != "" || !strings.Contains(s.Retrying, "connection reset") || s.Attempts < 1 {
				t.Fatalf("a run trying again: %+v", s)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs: %+v, want one saying why it tries again", statuses)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// observingSender receives with a clock that refuses every stamp (its
// lease could not be saved).
type observingSender struct{ stores stores }

func (s observingSender) Send(ctx context.Context, to cluster.Node, placement uint64, body io.Reader) ([]rebalance.Receipt, error) {
	return rebalance.Receive(ctx, rebalance.ReceiveConfig{Store: s.stores[to.ID],
		Observe: func(store.Stamp) error { return errors.New("hlc: the lease could not be saved") }}, body)
}

// A stamp the receiver's clock cannot take (its lease not saved) leaves
// the item unstored and where it was, to send again: stored, a restart
// would put the clock behind it.
func TestItemWhoseStampTheClockRefusesStays(t *testing.T) {
	all := newStores(t, "t1", "t2")
	put(t, all["t2"], "o", "data", store.Stamp{Map: 1})
	m := mapWith(2, node("t1", cluster.RoleTarget, cluster.StateActive), node("t2", cluster.RoleTarget, cluster.StateMaintenance))
	if _, err := runOn(t, all, "t2", m, observingSender{all}); !errors.Is(err, rebalance.ErrIncomplete) {
		t.Fatalf("the run: %v, want incomplete (to try again)", err)
	}
	if _, err := get(t, all["t1"], "o"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the owner stored the item its clock refused: %v", err)
	}
	if got, _ := get(t, all["t2"], "o"); got != "data" {
		t.Fatal("the item left its holder")
	}
}
