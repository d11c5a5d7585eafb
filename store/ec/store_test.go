package ec_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/ec"
	"github.com/aisgo/aisgo/store/faulty"
	"github.com/aisgo/aisgo/store/fs"
)

// fleet is a cluster of targets in one process: each an fs store wrapped
// in an ec.Store, reaching the others through fleetPeers.
type fleet struct {
	t       *testing.T
	mu      sync.Mutex
	smap    *cluster.Map
	targets map[string]*ec.Store
	inner   map[string]*fs.Store
	down    map[string]bool
	// hiding targets answer that they have no parts (a mountpath away)
	// and still take deletes.
	hiding map[string]bool
	// unanswered targets store the parts sent to them, and their answer
	// is lost.
	unanswered map[string]bool
	// stalled, when set, holds every part read until it is closed, and
	// reading is told of each.
	stalled, reading chan struct{}
	restored         atomic.Int64
	workDirs         map[string]string
	sent             atomic.Int64 // parts sent to other targets
	queries          atomic.Int64 // PartsOfMany calls
	ensured          atomic.Int64 // Ensure calls
	widestEnsure     atomic.Int64 // the most names of one
	props            store.Props
	// sending, when set, runs before each part is sent.
	sending func()
	// unlisting targets fail to list their parts and still take deletes.
	unlisting map[string]bool
	// unreadable targets list their parts and fail to send them; moved
	// ones answer that the part is not there (moved since it was listed).
	unreadable, moved map[string]bool
	// mountpaths each target has (1 when 0).
	mountpaths int
	// storing fails the parts sent to a target with its error; refusing,
	// when set, fails those it returns an error for.
	storing  map[string]error
	refusing func(to string, meta store.PartMeta) error
	// opened are the names whose parts were opened (OpenPart).
	opened map[string]bool
}

type fleetPeers struct {
	f    *fleet
	self cluster.Node
}

var errDown = errors.New("target down")

func (p fleetPeers) reach(id string) (*ec.Store, error) {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	if p.f.down[id] {
		return nil, fmt.Errorf("%w: %s", errDown, id)
	}
	return p.f.targets[id], nil
}

// others are the fleet's targets but one, as a set.
func (f *fleet) others(but string) map[string]bool {
	out := map[string]bool{}
	for id := range f.inner {
		if id != but {
			out[id] = true
		}
	}
	return out
}

func (p fleetPeers) Self() cluster.Node { return p.self }
func (p fleetPeers) Map() *cluster.Map {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	return p.f.smap
}
func (p fleetPeers) SendPart(ctx context.Context, to cluster.Node, meta store.PartMeta, r io.Reader) error {
	st, err := p.reach(to.ID)
	if err != nil {
		return err
	}
	p.f.sent.Add(1)
	if p.f.sending != nil {
		p.f.sending()
	}
	if err := p.f.storing[to.ID]; err != nil {
		return err
	}
	if p.f.refusing != nil {
		if err := p.f.refusing(to.ID, meta); err != nil {
			return err
		}
	}
	err = st.PutPart(ctx, meta, r)
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	if err == nil && p.f.unanswered[to.ID] {
		return fmt.Errorf("%w: %s stored the part, its answer was lost", errDown, to.ID)
	}
	return err
}
func (p fleetPeers) PartsOf(ctx context.Context, from cluster.Node, b store.Bucket, name string) ([]store.PartMeta, error) {
	st, err := p.reach(from.ID)
	if err != nil {
		return nil, err
	}
	p.f.mu.Lock()
	hiding, unlisting := p.f.hiding[from.ID], p.f.unlisting[from.ID]
	p.f.mu.Unlock()
	if hiding {
		return nil, nil
	}
	if unlisting {
		return nil, fmt.Errorf("%w: %s did not answer in time", errDown, from.ID)
	}
	return st.PartsOf(ctx, b, name)
}
func (p fleetPeers) PartsOfMany(ctx context.Context, from cluster.Node, b store.Bucket, names []string) (map[string][]store.PartMeta, error) {
	p.f.queries.Add(1)
	return ec.PartsOfEach(names, func(name string) ([]store.PartMeta, error) { return p.PartsOf(ctx, from, b, name) })
}
func (p fleetPeers) OpenPart(ctx context.Context, from cluster.Node, b store.Bucket, name string, index int) (io.ReadCloser, store.PartMeta, error) {
	p.f.mu.Lock()
	stalled, reading := p.f.stalled, p.f.reading
	if p.f.opened == nil {
		p.f.opened = map[string]bool{}
	}
	p.f.opened[name] = true
	p.f.mu.Unlock()
	if stalled != nil {
		select {
		case reading <- struct{}{}:
		default:
		}
		<-stalled
	}
	st, err := p.reach(from.ID)
	if err != nil {
		return nil, store.PartMeta{}, err
	}
	p.f.mu.Lock()
	unreadable, moved := p.f.unreadable[from.ID], p.f.moved[from.ID]
	p.f.mu.Unlock()
	if unreadable {
		return nil, store.PartMeta{}, fmt.Errorf("%w: %s restarts", errDown, from.ID)
	}
	if moved {
		return nil, store.PartMeta{}, fmt.Errorf("%w: %s: the part moved", store.ErrNotFound, from.ID)
	}
	return st.OpenPart(ctx, b, name, index)
}
func (p fleetPeers) DeleteParts(ctx context.Context, on cluster.Node, b store.Bucket, name string, stamp store.Stamp) error {
	st, err := p.reach(on.ID)
	if err != nil {
		return err
	}
	return st.DeleteParts(ctx, b, name, stamp)
}
func (p fleetPeers) DeleteWriteParts(ctx context.Context, on cluster.Node, b store.Bucket, name string, stamp store.Stamp) error {
	st, err := p.reach(on.ID)
	if err != nil {
		return err
	}
	return st.DeleteWriteParts(ctx, b, name, stamp)
}
func (p fleetPeers) Ensure(ctx context.Context, on cluster.Node, b store.Bucket, names []string) error {
	p.f.ensured.Add(1)
	if n := int64(len(names)); n > p.f.widestEnsure.Load() {
		p.f.widestEnsure.Store(n)
	}
	st, err := p.reach(on.ID)
	if err != nil {
		return err
	}
	return st.Ensure(ctx, b, names)
}

var bucket = store.NewBucket("ec")

// newFleet starts n targets with an EC bucket of the layout; objects
// smaller than limit are replicated.
func newFleet(t *testing.T, n, data, parity int, limit int64) *fleet {
	return newFleetWith(t, n, data, parity, limit, nil)
}

// newFleetWith is newFleet with the bucket's props changed by set first.
func newFleetWith(t *testing.T, n, data, parity int, limit int64, set func(*store.Props)) *fleet {
	return newFleetOn(t, n, data, parity, limit, 1, set)
}

// newFleetOn is newFleetWith with mountpaths mountpaths on each target.
func newFleetOn(t *testing.T, n, data, parity int, limit int64, mountpaths int, set func(*store.Props)) *fleet {
	f := &fleet{t: t, targets: map[string]*ec.Store{}, inner: map[string]*fs.Store{}, down: map[string]bool{}, hiding: map[string]bool{}, unanswered: map[string]bool{}, mountpaths: mountpaths}
	f.props = store.DefaultProps()
	f.props.EC = store.ECProps{Enabled: true, DataSlices: data, ParitySlices: parity, ObjSizeLimit: limit}
	if set != nil {
		set(&f.props)
	}
	m := &cluster.Map{Version: 1, Primary: "g1", Nodes: []cluster.Node{{ID: "g1", Role: cluster.RoleGateway, URL: "http://127.0.0.1:1", State: cluster.StateActive}}}
	for i := range n {
		m.Nodes = append(m.Nodes, f.newTarget(i))
	}
	f.smap = m
	return f
}

// newTarget makes target number i (t<i+1>), in no map yet.
func (f *fleet) newTarget(i int) cluster.Node {
	t := f.t
	node := cluster.Node{ID: fmt.Sprintf("t%d", i+1), Role: cluster.RoleTarget, URL: fmt.Sprintf("http://127.0.0.1:%d", 100+i), State: cluster.StateActive}
	var dirs []string
	for range max(f.mountpaths, 1) {
		dirs = append(dirs, t.TempDir())
	}
	inner, err := fs.Open(t.Context(), fs.Config{Mountpaths: dirs, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := inner.CreateBucket(t.Context(), bucket, f.props); err != nil {
		t.Fatal(err)
	}
	f.inner[node.ID] = inner
	f.targets[node.ID] = f.wrap(node, inner)
	return node
}

// wrap puts erasure coding over a target's store.
func (f *fleet) wrap(node cluster.Node, inner store.Store) *ec.Store {
	return ec.Wrap(inner, fleetPeers{f, node}, ec.Options{
		Props: func(b store.Bucket) (store.Props, bool) {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.props, b.Normalize() == bucket
		},
		WorkDir:      f.workDir(node.ID),
		MemoryLimit:  64 << 10, // objects above go through files
		MemoryBudget: 128 << 10,
		OnRestore:    func(store.Bucket, string) { f.restored.Add(1) },
		// Beside its work directory, as a node's state directory is.
		StateFile: filepath.Join(f.workDir(node.ID), "..", filepath.Base(f.workDir(node.ID))+".ec-kept.json"),
	})
}

// workDir is where a target's PUTs keep what they do not in memory.
func (f *fleet) workDir(id string) string {
	if f.workDirs == nil {
		f.workDirs = map[string]string{}
	}
	if f.workDirs[id] == "" {
		f.workDirs[id] = f.t.TempDir()
	}
	return f.workDirs[id]
}

// owner returns the store of an object's owner.
func (f *fleet) owner(name string) (string, *ec.Store) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, err := f.smap.Owner(cluster.Uname("ais", bucket.Name, name))
	if err != nil {
		f.t.Fatal(err)
	}
	return o.ID, f.targets[o.ID]
}

func (f *fleet) put(name string, data []byte) {
	f.t.Helper()
	_, st := f.owner(name)
	if _, err := st.Put(f.t.Context(), bucket, name, bytes.NewReader(data), store.PutOptions{Size: int64(len(data))}); err != nil {
		f.t.Fatalf("put %s: %v", name, err)
	}
}

func (f *fleet) get(name string, validate bool) ([]byte, error) {
	_, st := f.owner(name)
	obj, err := st.Open(f.t.Context(), bucket, name, store.OpenOptions{Validate: validate})
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	return io.ReadAll(obj)
}

// parts counts an object's parts over every target.
func (f *fleet) parts(name string) int {
	n := 0
	for _, inner := range f.inner {
		metas, _ := inner.PartsOf(f.t.Context(), bucket, name)
		n += len(metas)
	}
	return n
}

// replicaMountpath is the mountpath of target id that holds the full
// replica of name.
func (f *fleet) replicaMountpath(id, name string) string {
	f.t.Helper()
	for _, mp := range f.inner[id].Mountpaths() {
		if _, err := os.Stat(filepath.Join(mp, "ais", bucket.Name, name)); err == nil {
			return mp
		}
	}
	f.t.Fatalf("the mountpath of the replica of %s is not found", name)
	return ""
}

// dropReplica removes the owner's full replica behind the decorator.
func (f *fleet) dropReplica(name string) {
	id, _ := f.owner(name)
	if err := f.inner[id].Delete(f.t.Context(), bucket, name, store.DeleteOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// putMany puts n objects named by format (with their index), of the
// sizes given in turn, and returns their bytes by name.
func (f *fleet) putMany(rng *rand.Rand, format string, n int, sizes ...int) map[string][]byte {
	f.t.Helper()
	objects := map[string][]byte{}
	for i := range n {
		name := fmt.Sprintf(format, i)
		objects[name] = randomData(rng, sizes[i%len(sizes)])
		f.put(name, objects[name])
	}
	return objects
}

// sweepAll runs a sweep on every target, in id order.
func (f *fleet) sweepAll() {
	f.t.Helper()
	for _, id := range slices.Sorted(maps.Keys(f.targets)) {
		if err := f.targets[id].Sweep(f.t.Context(), bucket, nil); err != nil {
			f.t.Fatalf("sweep on %s: %v", id, err)
		}
	}
}

func randomData(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func TestPutStoresPartsAndRestores(t *testing.T) {
	f := newFleet(t, 5, 2, 2, 1024)
	rng := rand.New(rand.NewPCG(1, 2))
	objects := map[string][]byte{}
	for i, size := range []int{0, 1, 100, 1023, 1024, 5000, 70 << 10, 300 << 10} {
		name := fmt.Sprintf("o-%d", i)
		objects[name] = randomData(rng, size)
		f.put(name, objects[name])
		want := 4 // slices
		if size < 1024 {
			want = 2 // parity_slices replicas
		}
		if got := f.parts(name); got != want {
			t.Fatalf("%s (%d bytes): %d parts, want %d", name, size, got, want)
		}
	}
	for name, data := range objects {
		f.dropReplica(name)
		got, err := f.get(name, false)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s after the replica was lost: %d bytes, %v", name, len(got), err)
		}
		// The replica is back: no restore on the next read.
		before := f.restored.Load()
		if got, err := f.get(name, true); err != nil || !bytes.Equal(got, data) || f.restored.Load() != before {
			t.Fatalf("%s read again: %v", name, err)
		}
	}
	if f.restored.Load() != int64(len(objects)) {
		t.Fatalf("%d restores counted, want %d", f.restored.Load(), len(objects))
	}
}

// A bucket without checksums (checksum.type none) restores its objects
// from their parts as any other: no checksum of the object to check.
func TestRestoreWithoutChecksums(t *testing.T) {
	f := newFleetWith(t, 5, 2, 2, 1024, func(p *store.Props) { p.Checksum.Type = store.ChecksumNone })
	rng := rand.New(rand.NewPCG(3, 4))
	objects := f.putMany(rng, "n-%d", 4, 0, 100, 5000, 300<<10)
	for name, data := range objects {
		f.dropReplica(name)
		if got, err := f.get(name, false); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s after the replica was lost: %d bytes, %v", name, len(got), err)
		}
	}
}

// A restore stores again only the parts that are gone: the holders that
// keep theirs get nothing.
func TestRestoreSendsOnlyMissingParts(t *testing.T) {
	f := newFleet(t, 5, 2, 2, 1024)
	rng := rand.New(rand.NewPCG(5, 5))
	for _, size := range []int{100, 200 << 10} {
		name := fmt.Sprintf("o-%d", size)
		data := randomData(rng, size)
		f.put(name, data)
		parts := f.parts(name)
		before := f.sent.Load()
		f.dropReplica(name)
		if got, err := f.get(name, true); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: %v", name, err)
		}
		if sent := f.sent.Load() - before; sent != 0 {
			t.Fatalf("%s: a restore with every part in place sent %d parts", name, sent)
		}
		f.loseParts(rng, name, 1)
		f.dropReplica(name)
		if got, err := f.get(name, true); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: %v", name, err)
		}
		if sent := f.sent.Load() - before; sent != 1 || f.parts(name) != parts {
			t.Fatalf("%s: a restore with one part lost sent %d parts, now %d of %d", name, sent, f.parts(name), parts)
		}
	}
}

// For random sizes and the loss of up to parity_slices parts, a restore
// gives back the original bytes; one more lost part is a clear error.
func TestRestoreUnderRandomLosses(t *testing.T) {
	f := newFleet(t, 6, 3, 2, 256)
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range 30 {
		size := rng.IntN(200 << 10)
		if i%5 == 0 {
			size = rng.IntN(256)
		}
		name := fmt.Sprintf("r-%02d", i)
		data := randomData(rng, size)
		f.put(name, data)
		lose := rng.IntN(3) // 0..parity
		if i%7 == 6 {
			lose = 3 // parity+1
		}
		f.loseParts(rng, name, lose)
		f.dropReplica(name)
		got, err := f.get(name, false)
		replicas := size < 256
		switch {
		case replicas && lose < 2 || !replicas && lose <= 2:
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s (%d bytes, %d parts lost): %d bytes, %v", name, size, lose, len(got), err)
			}
		default:
			if err == nil {
				t.Fatalf("%s (%d bytes, %d parts lost): read %d bytes, want an error", name, size, lose, len(got))
			}
			if !errors.Is(err, store.ErrCorrupt) && !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
}

// loseParts removes the parts of an object on n of the targets that hold
// corruptReplica changes a byte of the owner's full replica in place.
func (f *fleet) corruptReplica(name string) {
	f.t.Helper()
	file, err := os.OpenFile(f.replicaPath(name), os.O_RDWR, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	file.WriteAt([]byte{'X'}, 100)
	file.Close()
}

// one (with enough targets, each holds one part).
func (f *fleet) loseParts(rng *rand.Rand, name string, n int) {
	var holders []string
	for id, inner := range f.inner {
		if metas, _ := inner.PartsOf(f.t.Context(), bucket, name); len(metas) > 0 {
			if len(metas) != 1 {
				f.t.Fatalf("%s keeps %d parts of %s", id, len(metas), name)
			}
			holders = append(holders, id)
		}
	}
	slices.Sort(holders)
	rng.Shuffle(len(holders), func(i, j int) { holders[i], holders[j] = holders[j], holders[i] })
	for _, id := range holders[:min(n, len(holders))] {
		if err := f.inner[id].DeleteParts(f.t.Context(), bucket, name, store.Stamp{}); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fleet) replicaPath(name string) string {
	id, _ := f.owner(name)
	return f.inner[id].Mountpaths()[0] + "/ais/" + bucket.Name + "/" + name
}

func TestCorruptReplicaIsRestored(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 0)
	data := bytes.Repeat([]byte("precious "), 5000)
	f.put("c", data)
	f.corruptReplica("c")
	got, err := f.get("c", true)
	if err != nil || !bytes.Equal(got, data) || f.restored.Load() != 1 {
		t.Fatalf("a validated read of a corrupt replica: %d bytes, %v, %d restores", len(got), err, f.restored.Load())
	}
	if disk, _ := os.ReadFile(f.replicaPath("c")); !bytes.Equal(disk, data) {
		t.Fatal("the replica on disk was not rewritten")
	}
}

// Parts of an older version never mix into a restore: with too few parts
// of the newest, the restore fails rather than give the old bytes.
func TestRestoreNeverMixesVersions(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 0)
	v1 := bytes.Repeat([]byte("v1"), 4000)
	v2 := bytes.Repeat([]byte("v2"), 4000)
	f.put("v", v1)
	// Keep the v1 parts aside, then write v2.
	type saved struct {
		id   string
		meta store.PartMeta
		data []byte
	}
	var old []saved
	for id, inner := range f.inner {
		metas, _ := inner.PartsOf(t.Context(), bucket, "v")
		for _, m := range metas {
			r, _, _ := inner.OpenPart(t.Context(), bucket, "v", m.Index)
			data, _ := io.ReadAll(r)
			r.Close()
			old = append(old, saved{id, m, data})
		}
	}
	f.put("v", v2)
	// Two holders lose their v2 part and get their v1 part back.
	for _, s := range old[:2] {
		f.inner[s.id].DeleteParts(t.Context(), bucket, "v", store.Stamp{})
		if err := f.inner[s.id].PutPart(t.Context(), s.meta, bytes.NewReader(s.data)); err != nil {
			t.Fatal(err)
		}
	}
	f.dropReplica("v")
	got, err := f.get("v", false)
	if err == nil || bytes.Equal(got, v1) {
		t.Fatalf("one v2 part and two v1 parts: %q..., %v; want an error, never v1", got[:min(len(got), 8)], err)
	}
}

func TestDeleteRemovesPartsEverywhere(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 1000)
	f.put("big", bytes.Repeat([]byte("x"), 5000))
	f.put("small", []byte("tiny"))
	for _, name := range []string{"big", "small"} {
		_, st := f.owner(name)
		if err := st.Delete(t.Context(), bucket, name, store.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if n := f.parts(name); n != 0 {
			t.Fatalf("%s: %d parts left", name, n)
		}
	}
	// An object whose replica is lost is still deleted, with its parts.
	f.put("lost", bytes.Repeat([]byte("y"), 5000))
	f.dropReplica("lost")
	_, st := f.owner("lost")
	if err := st.Delete(t.Context(), bucket, "lost", store.DeleteOptions{}); err != nil {
		t.Fatalf("delete of an object known only by its parts: %v", err)
	}
	if _, err := f.get("lost", false); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after the delete: %v", err)
	}
}

// A delete on a target that has no cluster map yet (a dSort recovery
// before the node joined) is refused, the object and its parts kept:
// taken then, it could neither tell the bucket erasure-coded nor reach
// the holders, and the parts left would restore the object.
func TestDeleteWaitsForTheMap(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 1000)
	data := bytes.Repeat([]byte("x"), 5000)
	f.put("o", data)
	parts := f.parts("o")
	_, st := f.owner("o")
	f.mu.Lock()
	smap := f.smap
	f.smap = nil
	f.mu.Unlock()
	err := st.Delete(t.Context(), bucket, "o", store.DeleteOptions{})
	f.mu.Lock()
	f.smap = smap
	f.mu.Unlock()
	if !errors.Is(err, store.ErrBucketBehind) {
		t.Fatalf("a delete without the map: %v; want the bucket's metadata behind", err)
	}
	// A bucket this target last knew without erasure coding has no
	// parts to wait for: its objects go before the node serves.
	id, _ := f.owner("o")
	plain := store.NewBucket("plain")
	if err := f.inner[id].CreateBucket(t.Context(), plain, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.inner[id].Put(t.Context(), plain, "p", strings.NewReader("plain"), store.PutOptions{Size: 5}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.smap = nil
	f.mu.Unlock()
	err = st.Delete(t.Context(), plain, "p", store.DeleteOptions{})
	f.mu.Lock()
	f.smap = smap
	f.mu.Unlock()
	if err != nil {
		t.Fatalf("a plain bucket's delete without the map: %v", err)
	}
	if got, err := f.get("o", false); err != nil || !bytes.Equal(got, data) || f.parts("o") != parts {
		t.Fatalf("after the refused delete: %v, %d parts of %d", err, f.parts("o"), parts)
	}
	if err := st.Delete(t.Context(), bucket, "o", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := f.parts("o"); n != 0 {
		t.Fatalf("%d parts left by the delete with the map", n)
	}
}

// A PUT whose part cannot be stored fails, leaves no part of itself, and
// the older version is protected again.
func TestPutFailsWithoutEveryPart(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 0)
	old := bytes.Repeat([]byte("old"), 3000)
	f.put("p", old)
	holders, _ := ec.Holders(f.smap, bucket, "p", 3)
	f.mu.Lock()
	f.down[holders[1].ID] = true
	f.mu.Unlock()
	_, st := f.owner("p")
	_, err := st.Put(t.Context(), bucket, "p", bytes.NewReader([]byte("new")), store.PutOptions{Size: 3})
	if err == nil || !errors.Is(err, errDown) {
		t.Fatalf("a PUT with a holder down: %v", err)
	}
	f.mu.Lock()
	f.down[holders[1].ID] = false
	f.mu.Unlock()
	if got, err := f.get("p", false); err != nil || !bytes.Equal(got, old) {
		t.Fatalf("after the failed PUT: %v", err)
	}
	// The parts the failed PUT replaced are made again from the stored
	// version by the next ec-encode (the node runs one when the targets
	// change).
	if err := st.Protect(t.Context(), bucket, nil); err != nil {
		t.Fatal(err)
	}
	f.dropReplica("p")
	if got, err := f.get("p", false); err != nil || !bytes.Equal(got, old) {
		t.Fatalf("the old version restored after the failed PUT: %q %v", got[:min(8, len(got))], err)
	}
}

// The owner dies and is removed: the holders hand its objects to the new
// owners, which restore them and store their parts anew, so that the
// bucket survives the loss of a second target too.
func TestSweepAfterOwnerLoss(t *testing.T) {
	f := newFleet(t, 5, 2, 1, 0)
	rng := rand.New(rand.NewPCG(3, 3))
	objects := map[string][]byte{}
	for i := range 40 {
		name := fmt.Sprintf("s-%02d", i)
		objects[name] = randomData(rng, 1000+rng.IntN(20000))
		f.put(name, objects[name])
	}
	for _, lost := range []string{"t2", "t4"} {
		f.mu.Lock()
		f.down[lost] = true
		next, err := f.smap.WithoutNode(lost)
		if err != nil {
			t.Fatal(err)
		}
		f.smap = next
		f.mu.Unlock()
		for id, st := range f.targets {
			if f.down[id] {
				continue
			}
			if err := st.Sweep(t.Context(), bucket, nil); err != nil {
				t.Fatalf("sweep on %s after losing %s: %v", id, lost, err)
			}
		}
		for name, data := range objects {
			// Straight from the owner's disk: the sweep restored it.
			id, _ := f.owner(name)
			if got, err := os.ReadFile(f.inner[id].Mountpaths()[0] + "/ais/" + bucket.Name + "/" + name); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("after losing %s: %s on its owner %s: %v", lost, name, id, err)
			}
		}
	}
}

// A sweep sends only the parts their holders lack: with every part in
// place it sends none (a disk lost on one target must not have every
// object of the cluster encoded and sent again), and with one lost, that
// one. Holders are asked in batches, not per object.
func TestSweepSendsOnlyTheMissingParts(t *testing.T) {
	f := newFleet(t, 5, 2, 2, 1024)
	rng := rand.New(rand.NewPCG(11, 11))
	objects := f.putMany(rng, "w-%02d", 30, 100, 5000) // replicated, then sliced
	before := f.sent.Load()
	var read atomic.Int64
	restore := ec.OnProtectStored(func(string) { read.Add(1) })
	f.sweepAll()
	restore()
	if sent := f.sent.Load() - before; sent != 0 || read.Load() != 0 {
		t.Fatalf("a sweep with every part in place sent %d parts and read %d objects", sent, read.Load())
	}
	if q := f.queries.Load(); q == 0 || q > 5*4 {
		t.Fatalf("a sweep of 30 objects on 5 targets asked holders %d times, want one batch per owner and holder", q)
	}
	full := map[string]int{}
	for name := range objects {
		full[name] = f.parts(name)
	}
	lost := []string{"w-03", "w-04"}
	for _, name := range lost {
		f.loseParts(rng, name, 1)
	}
	before = f.sent.Load()
	f.sweepAll()
	if sent := f.sent.Load() - before; sent > int64(len(lost)) {
		t.Fatalf("a sweep with %d parts lost sent %d", len(lost), sent)
	}
	for name, data := range objects {
		if got := f.parts(name); got != full[name] {
			t.Fatalf("%s: %d parts after the sweep, want %d", name, got, full[name])
		}
		f.dropReplica(name)
		if got, err := f.get(name, true); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s restored from its parts: %v", name, err)
		}
	}
}

// A target that lost many objects (its disk) gets them back from a sweep
// that hands them over in batches of at most 100 as the others' walks
// find their parts.
func TestSweepHandsOverManyObjectsInBatches(t *testing.T) {
	f := newFleet(t, 4, 1, 1, 0)
	objects := f.putMany(rand.New(rand.NewPCG(12, 12)), "m-%03d", 400, 200)
	victim := "t2"
	lost := 0
	for name := range objects {
		if id, _ := f.owner(name); id == victim {
			f.dropReplica(name)
			lost++
		}
	}
	f.sweepAll()
	if widest := f.widestEnsure.Load(); widest > 100 || f.ensured.Load() < 2 {
		t.Fatalf("%d objects lost on %s handed over in %d requests of up to %d names", lost, victim, f.ensured.Load(), widest)
	}
	for name, data := range objects {
		if got, err := os.ReadFile(f.replicaPath(name)); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s after the sweep: %v", name, err)
		}
	}
}

// A target that joins takes over some holders' parts: once it keeps
// them, the sweeps drop the old holders' copies, and every part of each
// object is where the map places it, once.
func TestSweepDropsThePartsHeldElsewhereNow(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 1024)
	objects := f.putMany(rand.New(rand.NewPCG(13, 13)), "j-%02d", 60, 300, 6000)
	want := map[string]int{}
	for name := range objects {
		want[name] = f.parts(name)
	}
	node := f.newTarget(4)
	f.mu.Lock()
	next, err := f.smap.WithNode(node)
	if err != nil {
		t.Fatal(err)
	}
	f.smap = next
	f.mu.Unlock()
	// Objects that changed owner move (a rebalance's work, not the
	// sweep's): here, copied to their new owner.
	for name, data := range objects {
		if id, st := f.owner(name); id == node.ID {
			if _, err := st.Put(t.Context(), bucket, name, bytes.NewReader(data), store.PutOptions{Size: int64(len(data))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The owners' sweeps send the new holder its parts while the old
	// holders' run: a second round finds them kept there.
	f.sweepAll()
	f.sweepAll()
	moved := 0
	for name, data := range objects {
		if got := f.parts(name); got != want[name] {
			t.Fatalf("%s: %d parts over the targets after the sweeps, want %d", name, got, want[name])
		}
		if metas, _ := f.inner[node.ID].PartsOf(t.Context(), bucket, name); len(metas) > 0 {
			moved++
		}
		f.dropReplica(name)
		if got, err := f.get(name, true); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s restored from its parts: %v", name, err)
		}
	}
	if moved == 0 {
		t.Fatal("the new target holds no part: the test moved nothing")
	}
}

// A map changed while the strays are dropped ends the walk: the parts
// still to look at are not kept in a batch that grows with each (and
// asked of their holders again and again), the next sweep sees them.
func TestDropOfStraysEndsWhenTheMapChanges(t *testing.T) {
	f := newFleet(t, 4, 1, 1, 0)
	f.putMany(rand.New(rand.NewPCG(7, 7)), "s-%03d", 400, 300)
	self := "t1"
	parts := 0
	f.inner[self].WalkParts(t.Context(), bucket, func(store.PartMeta) error { parts++; return nil })
	if parts <= 150 {
		t.Fatalf("%s keeps %d parts, want more than 150 (the test would prove nothing)", self, parts)
	}
	// A map without this target, other than the fleet's: every part
	// here is a stray by it, and the fleet's map is not it.
	m := f.smap.Clone()
	m.Version++
	m.Nodes = slices.DeleteFunc(m.Nodes, func(n cluster.Node) bool { return n.ID == self })
	before := f.queries.Load()
	if err := ec.DropStrays(t.Context(), f.targets[self], m, bucket); err != nil {
		t.Fatal(err)
	}
	if asked := f.queries.Load() - before; asked > 3 {
		t.Fatalf("the holders were asked %d times for %d parts with the map changed, want one batch's (at most 3)", asked, parts)
	}
	left := 0
	f.inner[self].WalkParts(t.Context(), bucket, func(store.PartMeta) error { left++; return nil })
	if left != parts {
		t.Fatalf("%d of %d parts left", left, parts)
	}
}

// An object gone from its old owner because a rebalance moved it keeps
// its parts: only an owner still this target takes "not here" for a
// delete (its parts were dropped everywhere, the moved object left with
// one replica).
func TestMovedObjectKeepsItsParts(t *testing.T) {
	f := newFleet(t, 4, 1, 1, 0)
	// A target joins and takes a name: the first that moves to another.
	node := f.newTarget(4)
	next, err := f.smap.WithNode(node)
	if err != nil {
		t.Fatal(err)
	}
	name := ""
	for i := 0; name == ""; i++ {
		candidate := fmt.Sprintf("m-%d", i)
		before, _ := f.smap.Owner(cluster.Uname("ais", bucket.Name, candidate))
		after, _ := next.Owner(cluster.Uname("ais", bucket.Name, candidate))
		if before.ID != after.ID {
			name = candidate
		}
	}
	data := []byte("moved by a rebalance")
	f.put(name, data)
	oldOwner, st := f.owner(name)
	meta, err := f.inner[oldOwner].Head(t.Context(), bucket, name)
	if err != nil {
		t.Fatal(err)
	}
	parts := f.parts(name)
	f.mu.Lock()
	f.smap = next
	f.mu.Unlock()
	// The object moves (stored by its new owner with its stamp), and the
	// old owner's copy goes.
	newOwner, _ := f.owner(name)
	if _, err := f.inner[newOwner].Put(t.Context(), bucket, name, bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), Stamp: meta.Stamp}); err != nil {
		t.Fatal(err)
	}
	if err := f.inner[oldOwner].Delete(t.Context(), bucket, name, store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	st.DropIfGone(t.Context(), bucket, name, meta.Stamp)
	if got := f.parts(name); got != parts {
		t.Fatalf("the moved object's parts: %d, want %d", got, parts)
	}
}

// A restored object keeps its custom metadata, its S3 ETag included.
func TestRestoreKeepsCustomMetadata(t *testing.T) {
	f := newFleet(t, 5, 2, 2, 1024)
	rng := rand.New(rand.NewPCG(6, 6))
	for _, size := range []int{100, 100 << 10} {
		name := fmt.Sprintf("meta-%d", size)
		data := randomData(rng, size)
		_, st := f.owner(name)
		meta, err := st.Put(t.Context(), bucket, name, bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), Custom: map[string]string{"s3.content-type": "image/png"}, ETag: true})
		if err != nil {
			t.Fatal(err)
		}
		sum := md5.Sum(data)
		want := map[string]string{"s3.content-type": "image/png", store.CustomETag: hex.EncodeToString(sum[:])}
		if !maps.Equal(meta.Custom, want) {
			t.Fatalf("put: custom %v, want %v", meta.Custom, want)
		}
		f.dropReplica(name)
		if got, err := f.get(name, true); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: %v", name, err)
		}
		head, err := st.Head(t.Context(), bucket, name)
		if err != nil || !maps.Equal(head.Custom, want) {
			t.Fatalf("%s restored: custom %v %v, want %v", name, head.Custom, err, want)
		}
	}
	// More than the parts keep (S3's 2 KiB of user metadata and its
	// headers): the restore has the ETag and headers, user metadata cut.
	name := "meta-big"
	data := randomData(rng, 1000)
	_, st := f.owner(name)
	custom := map[string]string{"s3.content-type": "image/png", store.CustomUserPrefix + "note": strings.Repeat("n", 2000), store.CustomUserPrefix + "a": "kept"}
	if _, err := st.Put(t.Context(), bucket, name, bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), Custom: custom, ETag: true}); err != nil {
		t.Fatal(err)
	}
	f.dropReplica(name)
	if got, err := f.get(name, true); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("%s: %v", name, err)
	}
	head, err := st.Head(t.Context(), bucket, name)
	sum := md5.Sum(data)
	want := map[string]string{"s3.content-type": "image/png", store.CustomETag: hex.EncodeToString(sum[:]), store.CustomUserPrefix + "a": "kept"}
	if err != nil || !maps.Equal(head.Custom, want) {
		t.Fatalf("%s restored: custom %v %v, want %v", name, head.Custom, err, want)
	}
}

// A PUT that fails after its parts were stored (its rename is refused)
// leaves none: a restore must not bring back what was never
// acknowledged, and the version before it stays protected.
func TestFailedPutLeavesNoParts(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 0)
	// A name and a name below it with the same owner.
	name := ""
	for i := 0; name == ""; i++ {
		if a, _ := f.owner(fmt.Sprint(i)); a == func() string { id, _ := f.owner(fmt.Sprint(i) + "/b"); return id }() {
			name = fmt.Sprint(i)
		}
	}
	f.put(name+"/b", []byte("a directory's object"))
	_, st := f.owner(name)
	if _, err := st.Put(t.Context(), bucket, name, bytes.NewReader([]byte("never acknowledged")), store.PutOptions{Size: 18}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a PUT of a name that is a directory: %v", err)
	}
	if n := f.parts(name); n != 0 {
		t.Fatalf("the failed PUT left %d parts", n)
	}
	if _, err := f.get(name, false); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GET of the name the failed PUT wrote: %v", err)
	}
	// Over an acknowledged version, the failed one's parts go and the
	// acknowledged one's are made again.
	old := bytes.Repeat([]byte("old"), 3000)
	f.put("p", old)
	_, st = f.owner("p")
	_, err := st.Put(t.Context(), bucket, "p", bytes.NewReader([]byte("new")), store.PutOptions{Size: 3, IfMatch: "no such etag"})
	if err == nil {
		t.Fatal("a PUT whose condition fails succeeded")
	}
	f.dropReplica("p")
	if got, err := f.get("p", false); err != nil || !bytes.Equal(got, old) {
		t.Fatalf("restored after the failed PUT: %q %v", got[:min(8, len(got))], err)
	}
}

// An overwrite that fails after some holders stored its parts takes
// those only: the version before, whose owner lost its replica, is
// still restored from the parts the failed write did not replace.
func TestFailedOverwriteKeepsThePartsOfTheVersionBefore(t *testing.T) {
	f := newFleet(t, 5, 2, 2, 0)
	old := bytes.Repeat([]byte("acknowledged"), 1000)
	f.put("o", old)
	f.dropReplica("o")
	owner, st := f.owner("o")
	// One holder stores the new version's part (its old one replaced),
	// the other three refuse theirs: three old parts are left, of two
	// needed.
	f.storing = map[string]error{}
	kept := ""
	for id := range f.others(owner) {
		if kept == "" {
			kept = id
			continue
		}
		f.storing[id] = fmt.Errorf("store a part: %w", store.ErrIO)
	}
	if _, err := st.Put(t.Context(), bucket, "o", bytes.NewReader([]byte("never acknowledged")), store.PutOptions{Size: 18}); err == nil {
		t.Fatal("a PUT whose parts three holders refused succeeded")
	}
	f.storing = nil
	if metas, _ := f.inner[kept].PartsOf(t.Context(), bucket, "o"); len(metas) != 0 {
		t.Fatalf("the failed write's part stayed on %s: %+v", kept, metas)
	}
	if n := f.parts("o"); n != 3 {
		t.Fatalf("%d parts left, want the old version's 3", n)
	}
	if got, err := f.get("o", true); err != nil || !bytes.Equal(got, old) {
		t.Fatalf("the acknowledged version after the failed overwrite: %d bytes, %v", len(got), err)
	}
}

// An overwrite that fails after it replaced a part of the version
// before, whose parts cannot be made again then (holders refusing), has
// them made again later: they were left short for good.
func TestFailedOverwriteMakesThePartsBeforeAgainLater(t *testing.T) {
	defer ec.SetDropRetry(20 * time.Millisecond)()
	f := newFleet(t, 5, 2, 2, 0)
	old := bytes.Repeat([]byte("acknowledged"), 1000)
	f.put("o", old)
	owner, st := f.owner("o")
	before, err := f.inner[owner].Head(t.Context(), bucket, "o")
	if err != nil {
		t.Fatal(err)
	}
	// One holder takes the new version's part (its old one replaced),
	// the others refuse theirs; the old version's part made again is
	// refused too, until the holders are back.
	kept := ""
	for id := range f.others(owner) {
		kept = id
		break
	}
	var back atomic.Bool
	f.refusing = func(to string, meta store.PartMeta) error {
		if meta.Stamp == before.Stamp && !back.Load() || meta.Stamp != before.Stamp && to != kept {
			return fmt.Errorf("store a part: %w", store.ErrIO)
		}
		return nil
	}
	if _, err := st.Put(t.Context(), bucket, "o", bytes.NewReader([]byte("never acknowledged")), store.PutOptions{Size: 18}); err == nil {
		t.Fatal("a PUT whose parts three holders refused succeeded")
	}
	if n := f.parts("o"); n != 3 {
		t.Fatalf("%d parts right after the failed write, want the old version's 3", n)
	}
	sentBefore := f.sent.Load()
	back.Store(true)
	for deadline := time.Now().Add(10 * time.Second); f.parts("o") != 4; {
		if time.Now().After(deadline) {
			t.Fatalf("%d parts of the version before, 10 s after the holders took parts again: want 4", f.parts("o"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The part missing only (a try under way as the holders came back
	// may send it too), not all four again.
	if sent := f.sent.Load() - sentBefore; sent > 2 {
		t.Fatalf("%d parts sent to make one again", sent)
	}
	f.dropReplica("o")
	if got, err := f.get("o", true); err != nil || !bytes.Equal(got, old) {
		t.Fatalf("the acknowledged version: %d bytes, %v", len(got), err)
	}
}

// An overwrite that fails after its parts replaced every part of the
// version before, while the owner's copy is on a mountpath away
// (disabled), does not lose that version: the copy is restored before
// the write, and the failed write's parts are made again from it.
func TestFailedOverwriteOfACopyOnAMountpathAwayKeepsTheVersionBefore(t *testing.T) {
	f := newFleetOn(t, 5, 2, 2, 0, 2, nil)
	old := bytes.Repeat([]byte("acknowledged"), 1000)
	f.put("o", old)
	owner, st := f.owner("o")
	replica := f.replicaMountpath(owner, "o")
	if err := f.inner[owner].DisableMountpath(t.Context(), replica, "test"); err != nil {
		t.Fatal(err)
	}
	// Every part sent, then the write fails (its placement changed).
	calls := 0
	fails := func() (func(), store.Stamp, error) {
		if calls++; calls > 1 {
			return nil, store.Stamp{}, fmt.Errorf("%w: the test moves it", store.ErrPlacementChanged)
		}
		return func() {}, store.Stamp{}, nil
	}
	if _, err := st.Put(t.Context(), bucket, "o", bytes.NewReader([]byte("never acknowledged")), store.PutOptions{Size: 18, Precommit: fails}); err == nil {
		t.Fatal("a PUT that failed after its parts were sent succeeded")
	}
	if got, err := f.get("o", true); err != nil || !bytes.Equal(got, old) {
		t.Fatalf("the acknowledged version after the failed overwrite: %d bytes, %v", len(got), err)
	}
}

// An overwrite whose parts replaced every part of the version before,
// and which then fails as the disk of that version's copy goes, leaves
// the object readable (as the failed write's version, whose outcome the
// client did not learn): dropping its parts lost the object whole.
func TestFailedOverwriteAsTheCopysDiskGoesLosesNothing(t *testing.T) {
	f := newFleetOn(t, 5, 2, 2, 0, 2, nil)
	old := bytes.Repeat([]byte("acknowledged"), 1000)
	f.put("o", old)
	owner, st := f.owner("o")
	replica := f.replicaMountpath(owner, "o")
	// Every part sent, then the copy's disk goes and the write fails.
	calls := 0
	fails := func() (func(), store.Stamp, error) {
		if calls++; calls > 1 {
			if err := f.inner[owner].DisableMountpath(t.Context(), replica, "test"); err != nil {
				t.Error(err)
			}
			return nil, store.Stamp{}, fmt.Errorf("%w: the test's disk went", store.ErrIO)
		}
		return func() {}, store.Stamp{}, nil
	}
	newer := bytes.Repeat([]byte("in flight"), 1000)
	if _, err := st.Put(t.Context(), bucket, "o", bytes.NewReader(newer), store.PutOptions{Size: int64(len(newer)), Precommit: fails}); err == nil {
		t.Fatal("a PUT that failed after its parts were sent succeeded")
	}
	got, err := f.get("o", true)
	if err != nil || !bytes.Equal(got, old) && !bytes.Equal(got, newer) {
		t.Fatalf("the object after an overwrite failed as its copy's disk went: %d bytes, %v; want either version", len(got), err)
	}
}

// The deletes of failed writes' parts kept for another try are one per
// write, unless the name's pending ranged delete covers them: a client
// retrying a failing PUT does not fill the list.
func TestPendingDropsOfFailedWrites(t *testing.T) {
	f := newFleet(t, 3, 1, 1, 0)
	st := f.targets["t1"]
	node := cluster.Node{ID: "t2"}
	f.mu.Lock()
	f.down["t2"] = true // the retries fail meanwhile
	f.mu.Unlock()
	ec.DropWriteLater(st, bucket, "o", store.Stamp{Map: 1, Clock: 10}, node)
	ec.DropWriteLater(st, bucket, "o", store.Stamp{Map: 1, Clock: 20}, node)
	if n := ec.PendingDrops(st); n != 2 {
		t.Fatalf("%d deletes pending after two failed writes' drops, want 2", n)
	}
	ec.DropLater(st, bucket, "o", store.Stamp{Map: 1, Clock: 30}, node)
	ec.DropWriteLater(st, bucket, "o", store.Stamp{Map: 1, Clock: 25}, node)
	if n := ec.PendingDrops(st); n != 3 {
		t.Fatalf("%d deletes pending with a covered write's drop, want 3 (it is not kept apart)", n)
	}
}

// onlyStore hides what a store does beyond store.Store (PartDeleter).
type onlyStore struct{ store.Store }

// Over a store that cannot delete one write's parts alone, the delete of
// them is a ranged one only when nothing older is there to go with them.
func TestDeleteWritePartsOverAStoreWithoutIt(t *testing.T) {
	f := newFleet(t, 3, 1, 1, 0)
	f.put("o", []byte("acknowledged"))
	var holder string
	var kept store.PartMeta
	for id, inner := range f.inner {
		if metas, _ := inner.PartsOf(t.Context(), bucket, "o"); len(metas) == 1 {
			holder, kept = id, metas[0]
		}
	}
	if holder == "" {
		t.Fatal("no target holds a part of the object")
	}
	st := ec.Wrap(onlyStore{f.inner[holder]}, fleetPeers{f, cluster.Node{ID: holder}}, ec.Options{})
	newer := store.Stamp{Map: kept.Stamp.Map, Clock: kept.Stamp.Clock + 1}
	if err := st.DeleteWriteParts(t.Context(), bucket, "o", newer); err == nil {
		t.Fatal("a delete of a newer write's parts over an older part succeeded")
	}
	if metas, _ := f.inner[holder].PartsOf(t.Context(), bucket, "o"); len(metas) != 1 {
		t.Fatalf("the older version's part went: %+v", metas)
	}
	if err := st.DeleteWriteParts(t.Context(), bucket, "o", kept.Stamp); err != nil {
		t.Fatal(err)
	}
	if metas, _ := f.inner[holder].PartsOf(t.Context(), bucket, "o"); len(metas) != 0 {
		t.Fatalf("the write's own part stayed: %+v", metas)
	}
}

// A holder down during a delete keeps its part: the delete's tombstone
// refuses the restore it could feed.
func TestDeleteIsNotUndoneByAPartLeft(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 1<<20)
	f.put("d", []byte("deleted bytes"))
	st, away := f.holderDown("d")
	if err := st.Delete(t.Context(), bucket, "d", store.DeleteOptions{Stamp: store.Stamp{Map: 1, Clock: time.Now().UnixNano()}}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.down[away] = false
	f.mu.Unlock()
	if n := f.parts("d"); n == 0 {
		t.Fatal("the holder that was down kept no part: the test proves nothing")
	}
	if got, err := f.get("d", false); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after the delete, with a part left: %q %v", got, err)
	}
	// The restore the tombstone refused dropped the stale part: once the
	// tombstone is collected, nothing brings the object back.
	if n := f.parts("d"); n != 0 {
		t.Fatalf("%d stale parts left after a restore the delete refused", n)
	}
	ownerID, _ := f.owner("d")
	tomb, ok := f.inner[ownerID].Tombstone(bucket, "d")
	if !ok {
		t.Fatal("the delete left no tombstone")
	}
	if err := f.inner[ownerID].DropTombstone(t.Context(), bucket, "d", tomb.Stamp); err != nil {
		t.Fatal(err)
	}
	if got, err := f.get("d", false); err == nil {
		t.Fatalf("a deleted object came back once its tombstone was collected: %q", got)
	}
}

// A delete of one version (IfStamp, no stamp: a dSort job's cleanup of
// its output) leaves a tombstone too: a part on a holder that was down
// does not bring the object back.
func TestDeleteOfAVersionIsNotUndoneByAPartLeft(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 1<<20)
	f.put("d", []byte("a job's output"))
	st, away := f.holderDown("d")
	meta, err := st.Head(t.Context(), bucket, "d")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(t.Context(), bucket, "d", store.DeleteOptions{IfStamp: meta.Stamp}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.down[away] = false
	f.mu.Unlock()
	if n := f.parts("d"); n == 0 {
		t.Fatal("the holder that was down kept no part: the test proves nothing")
	}
	f.sweepAll()
	if got, err := f.get("d", false); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after the delete of its version, with a part left and a sweep: %q %v", got, err)
	}
	if n := f.parts("d"); n != 0 {
		t.Fatalf("%d stale parts left after a sweep the delete refused", n)
	}
}

// Protecting an object whose replica's mountpath is disabled meanwhile
// keeps the parts it made: not found here then is not deleted, and the
// parts are what restores it if that disk never comes back.
func TestProtectKeepsThePartsOfAReplicaOnADisabledMountpath(t *testing.T) {
	f := newFleetOn(t, 4, 2, 1, 0, 2, nil)
	data := bytes.Repeat([]byte("kept "), 3000)
	f.put("m", data)
	ownerID, st := f.owner("m")
	for _, inner := range f.inner {
		if err := inner.DeleteParts(t.Context(), bucket, "m", store.Stamp{}); err != nil {
			t.Fatal(err)
		}
	}
	var replica string
	for _, mp := range f.inner[ownerID].Mountpaths() {
		if _, err := os.Stat(filepath.Join(mp, "ais", bucket.Name, "m")); err == nil {
			replica = mp
		}
	}
	if replica == "" {
		t.Fatal("the replica's mountpath is not found")
	}
	var once sync.Once
	f.sending = func() {
		once.Do(func() {
			if err := f.inner[ownerID].DisableMountpath(context.Background(), replica, "test"); err != nil {
				t.Error(err)
			}
		})
	}
	if err := st.Protect(t.Context(), bucket, &store.Progress{}); err != nil {
		t.Fatal(err)
	}
	f.sending = nil
	if n := f.parts("m"); n == 0 {
		t.Fatal("the parts made while the replica's mountpath went away were dropped")
	}
}

// A restore whose parts are sent after erasure coding was turned off
// drops them: the cleanup may have passed the holders already, and they
// would bring the object back after a delete.
func TestRestoreAcrossECTurnedOffLeavesNoParts(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 0)
	data := bytes.Repeat([]byte("restored "), 3000)
	f.put("r", data)
	f.dropReplica("r")
	f.loseParts(rand.New(rand.NewPCG(1, 2)), "r", 1) // the restore sends it again
	var once sync.Once
	sent := false
	f.sending = func() {
		once.Do(func() {
			f.mu.Lock()
			f.props.EC.Enabled = false
			f.mu.Unlock()
			sent = true
		})
	}
	got, err := f.get("r", false)
	f.sending = nil
	if !sent {
		t.Fatal("the restore sent no part: the test proves nothing")
	}
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("restored: %d bytes, %v", len(got), err)
	}
	if n := f.parts("r"); n != 0 {
		t.Fatalf("%d parts left by a restore that crossed erasure coding turned off", n)
	}
}

// A replica its disk cannot read (EIO: a bad sector, the mountpath still
// enabled) is rebuilt from the parts, as a corrupt one is.
func TestUnreadableReplicaIsRestored(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 0)
	data := bytes.Repeat([]byte("unreadable "), 3000)
	f.put("e", data)
	ownerID, _ := f.owner("e")
	var node cluster.Node
	for _, n := range f.smap.Nodes {
		if n.ID == ownerID {
			node = n
		}
	}
	broken := faulty.Wrap(f.inner[ownerID])
	broken.Inject(faulty.Fault{Op: faulty.OpOpen, Prefix: "e", Err: fmt.Errorf("read the replica: %w", store.ErrIO), Times: 1})
	f.targets[ownerID] = f.wrap(node, broken)
	got, err := f.get("e", true)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("a GET of a replica the disk cannot read: %d bytes, %v", len(got), err)
	}
	if f.restored.Load() != 1 {
		t.Fatalf("%d restores, want 1", f.restored.Load())
	}
}

// A holder that fails to store a part with an I/O error (its disk) does
// not make Protect take the replica here for unreadable: it is not
// rebuilt, and the holder's failure is what Protect reports.
func TestProtectWithAHolderDiskFailingKeepsTheReplica(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 0)
	data := bytes.Repeat([]byte("healthy "), 3000)
	f.put("h", data)
	ownerID, st := f.owner("h")
	var holder string
	for id, inner := range f.inner {
		if metas, _ := inner.PartsOf(t.Context(), bucket, "h"); id != ownerID && len(metas) > 0 {
			holder = id
		}
	}
	if err := f.inner[holder].DeleteParts(t.Context(), bucket, "h", store.Stamp{}); err != nil {
		t.Fatal(err)
	}
	f.storing = map[string]error{holder: fmt.Errorf("store a part: %w", store.ErrIO)}
	err := st.Protect(t.Context(), bucket, &store.Progress{})
	f.storing = nil
	if !errors.Is(err, store.ErrIO) || !strings.Contains(err.Error(), holder) {
		t.Fatalf("protect with %s's disk failing: %v, want its I/O error", holder, err)
	}
	if n := f.restored.Load(); n != 0 {
		t.Fatalf("the healthy replica was rebuilt %d times", n)
	}
}

// Protect does not make parts of a replica gone bad: they would replace
// the good parts (the same stamp), and nothing could restore the object.
func TestProtectSkipsACorruptReplica(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 0)
	data := bytes.Repeat([]byte("precious "), 5000)
	f.put("c", data)
	f.corruptReplica("c")
	_, st := f.owner("c")
	st.Protect(t.Context(), bucket, &store.Progress{})
	f.dropReplica("c")
	got, err := f.get("c", false)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("restored after a Protect over the corrupt replica: %d bytes, %v", len(got), err)
	}
}

// An overwrite drops the parts of the version it replaces: a smaller
// object has fewer parts, and the slices left of the bigger one would
// leak (or restore it, enough of them outliving the new version's).
func TestOverwriteDropsTheOldParts(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 1<<20)
	f.put("x", bytes.Repeat([]byte("big "), 1<<19)) // 2 MiB: sliced
	if n := f.parts("x"); n != 3 {
		t.Fatalf("%d parts of a sliced object, want 3", n)
	}
	f.put("x", []byte("small")) // replicated
	if n := f.parts("x"); n != 1 {
		t.Fatalf("%d parts after an overwrite by a small object, want its 1 replica", n)
	}
	if got, err := f.get("x", false); err != nil || string(got) != "small" {
		t.Fatalf("after the overwrite: %q %v", got, err)
	}
}

// Making the parts of a stored version again with a holder down keeps
// what the other holders have: the parts of an acknowledged version are
// never undone (a failed re-send removed them, leaving the object with
// one part).
func TestProtectWithAHolderDownKeepsTheOtherParts(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 0)
	data := bytes.Repeat([]byte("protected "), 3000)
	f.put("k", data)
	before := f.parts("k")
	holders, _ := ec.Holders(f.smap, bucket, "k", 3)
	f.mu.Lock()
	f.down[holders[1].ID] = true
	f.mu.Unlock()
	_, st := f.owner("k")
	if err := st.Protect(t.Context(), bucket, &store.Progress{}); err == nil {
		t.Fatal("a Protect with a holder down reported success")
	}
	f.mu.Lock()
	f.down[holders[1].ID] = false
	f.mu.Unlock()
	if got := f.parts("k"); got != before {
		t.Fatalf("%d parts after a Protect with a holder down, %d before", got, before)
	}
	f.dropReplica("k")
	if got, err := f.get("k", false); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("restored after a Protect with a holder down: %d bytes, %v", len(got), err)
	}
}

// One object Protect cannot store the parts of does not stop it: the
// objects after it are protected, and the error names the one that failed.
func TestProtectGoesOnPastAFailingObject(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 0)
	// Objects of one owner, the first of which fails.
	owner := ""
	var names []string
	for i := 0; len(names) < 4 && i < 200; i++ {
		name := fmt.Sprintf("o%03d", i)
		id, _ := f.owner(name)
		if owner == "" {
			owner = id
		}
		if id == owner {
			names = append(names, name)
			f.put(name, bytes.Repeat([]byte(name), 2000))
		}
	}
	// The first object's parts are lost, and its replica goes bad: it
	// can be neither protected nor restored.
	for _, inner := range f.inner {
		inner.DeleteParts(t.Context(), bucket, names[0], store.Stamp{Map: 1 << 40})
	}
	f.corruptReplica(names[0])
	for _, name := range names[1:] {
		for _, inner := range f.inner {
			inner.DeleteParts(t.Context(), bucket, name, store.Stamp{Map: 1 << 40})
		}
	}
	err := f.targets[owner].Protect(t.Context(), bucket, &store.Progress{})
	if err == nil || !strings.Contains(err.Error(), names[0]) {
		t.Fatalf("Protect: %v, want an error naming %s", err, names[0])
	}
	for _, name := range names[1:] {
		if f.parts(name) != 3 {
			t.Fatalf("%s has %d parts after the Protect: the failing object before it stopped the job", name, f.parts(name))
		}
	}
}

// A delete reaches every holder by placement, also one whose part was not
// found (on a mountpath away): that holder keeps a tombstone for it, and
// the part does not outlive the delete.
func TestDeleteReachesAHolderThatFoundNoPart(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 1<<20)
	f.put("p", []byte("a small replicated object"))
	holders, _ := ec.Holders(f.smap, bucket, "p", 3)
	f.mu.Lock()
	f.hiding[holders[0].ID] = true
	f.mu.Unlock()
	_, st := f.owner("p")
	if err := st.Delete(t.Context(), bucket, "p", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.hiding[holders[0].ID] = false
	f.mu.Unlock()
	if n := f.parts("p"); n != 0 {
		t.Fatalf("%d parts outlived the delete", n)
	}
}

// Of the parts of one version in two layouts (the bucket's layout
// changed, and the old one's parts are left beside the new's), a restore
// takes a layout that can rebuild the object, the current one first,
// whatever order the targets answered in.
func TestRestorePicksALayoutThatRebuilds(t *testing.T) {
	stamp := store.Stamp{Map: 3, Clock: 100}
	part := func(data, parity, index int) store.PartMeta {
		return store.PartMeta{Bucket: bucket, Name: "o", Data: data, Parity: parity, Index: index, Stamp: stamp, ObjectSize: 10}
	}
	old := []store.PartMeta{part(4, 2, 3), part(4, 2, 4), part(4, 2, 5)} // 3 of the 4 it needs
	current := []store.PartMeta{part(2, 1, 0), part(2, 1, 2)}            // 2 of 2
	older := store.PartMeta{Bucket: bucket, Name: "o", Data: 2, Parity: 1, Stamp: store.Stamp{Map: 3, Clock: 50}, ObjectSize: 10}
	for _, order := range [][]store.PartMeta{
		append(append([]store.PartMeta{older}, old...), current...),
		append(append([]store.PartMeta{}, current...), old...),
	} {
		if got := ec.NewestParts(order, ec.Layout{Data: 2, Parity: 1}); got.Data != 2 || got.Stamp != stamp {
			t.Fatalf("picked %+v", got)
		}
	}
	full := append([]store.PartMeta{part(4, 2, 0)}, old...)
	if got := ec.NewestParts(append(full, current[0]), ec.Layout{Data: 2, Parity: 1}); got.Data != 4 {
		t.Fatalf("the current layout, one part short, was picked over a whole one: %+v", got)
	}
}

// A PUT whose part reached a holder that lost its answer fails, and
// leaves no part there: a restore must not bring back what the client
// was told failed.
func TestFailedPutLeavesNoPartWhoseAnswerWasLost(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 0)
	holders, _ := ec.Holders(f.smap, bucket, "p", 3)
	f.mu.Lock()
	f.unanswered[holders[1].ID] = true
	f.mu.Unlock()
	_, st := f.owner("p")
	data := bytes.Repeat([]byte("never acknowledged"), 100)
	if _, err := st.Put(t.Context(), bucket, "p", bytes.NewReader(data), store.PutOptions{Size: int64(len(data))}); !errors.Is(err, errDown) {
		t.Fatalf("a PUT whose holder's answer was lost: %v", err)
	}
	if n := f.parts("p"); n != 0 {
		t.Fatalf("the failed PUT left %d parts", n)
	}
	if _, err := f.get("p", false); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GET of the name the failed PUT wrote: %v", err)
	}
}

// A PUT refused before its parts go (its condition fails) sends no part:
// the stored version is not encoded and sent again.
func TestRefusedPutSendsNoPart(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 0)
	f.put("p", bytes.Repeat([]byte("old"), 3000))
	_, st := f.owner("p")
	before := f.sent.Load()
	if _, err := st.Put(t.Context(), bucket, "p", bytes.NewReader([]byte("new")), store.PutOptions{Size: 3, IfMatch: "no such etag"}); err == nil {
		t.Fatal("a PUT whose condition fails succeeded")
	}
	if n := f.sent.Load() - before; n != 0 {
		t.Fatalf("a refused PUT sent %d parts", n)
	}
}

// A restore short of parts its holders could not send (restarting) is
// not corruption: the error says the parts were not read, and the object
// is restored once they are.
func TestRestoreShortOfUnreadPartsIsNotCorruption(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 1000)
	data := bytes.Repeat([]byte("z"), 5000)
	f.put("big", data)
	f.dropReplica("big")
	owner, _ := f.owner("big")
	f.mu.Lock()
	f.unreadable = f.others(owner)
	f.mu.Unlock()
	if _, err := f.get("big", false); err == nil || errors.Is(err, store.ErrCorrupt) || !errors.Is(err, errDown) {
		t.Fatalf("a restore whose holders could not send their parts: %v, want their error, not corrupt", err)
	}
	f.mu.Lock()
	f.unreadable = nil
	f.mu.Unlock()
	if got, err := f.get("big", false); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the restore once the holders send: %d bytes, %v", len(got), err)
	}
}

// A restore short of parts that moved since they were listed (their
// holders answer "not found") says the parts were not reached: a
// create-only PUT must not take the object for absent and replace it.
func TestRestoreShortOfMovedPartsIsNotAbsence(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 1000)
	f.put("big", bytes.Repeat([]byte("z"), 5000))
	f.dropReplica("big")
	owner, st := f.owner("big")
	f.mu.Lock()
	f.moved = f.others(owner)
	f.mu.Unlock()
	if _, err := st.Head(t.Context(), bucket, "big"); !errors.Is(err, store.ErrUnreached) || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a restore whose parts moved away: %v, want ErrUnreached, not not-found", err)
	}
}

// A delete reaches a target that did not list its parts in time, though
// it is not a holder by placement (a part left there by a map change): a
// part left would bring the object back once its tombstone goes.
func TestDeleteReachesATargetThatDidNotList(t *testing.T) {
	f := newFleet(t, 5, 2, 1, 1000)
	f.put("small", []byte("tiny"))
	owner, st := f.owner("small")
	holders, err := ec.Holders(f.smap, bucket, "small", 3)
	if err != nil {
		t.Fatal(err)
	}
	stray := ""
	for id := range f.inner {
		if id != owner && !slices.ContainsFunc(holders, func(n cluster.Node) bool { return n.ID == id }) {
			stray = id
		}
	}
	if stray == "" {
		t.Fatal("every target holds the object: the test proves nothing")
	}
	from := holders[0].ID
	if from == owner {
		from = holders[1].ID
	}
	metas, err := f.inner[from].PartsOf(t.Context(), bucket, "small")
	if err != nil || len(metas) == 0 {
		t.Fatalf("the parts on %s: %v %v", from, metas, err)
	}
	r, meta, err := f.inner[from].OpenPart(t.Context(), bucket, "small", metas[0].Index)
	if err != nil {
		t.Fatal(err)
	}
	err = f.inner[stray].PutPart(t.Context(), meta, r)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.unlisting = map[string]bool{stray: true}
	f.mu.Unlock()
	if err := st.Delete(t.Context(), bucket, "small", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if left, _ := f.inner[stray].PartsOf(t.Context(), bucket, "small"); len(left) != 0 {
		t.Fatalf("the part on %s, which did not list in time, outlived the delete", stray)
	}
}

// A PUT sends its parts without its caller's hold (the placement lock a
// map change takes): a holder slow to take them holds no map change. A
// map change that places alike (a version bump) leaves the PUT be; one
// that does not (a holder goes offline) fails it, to be sent again, and
// its parts go, on the holder gone offline too.
func TestPartsAreSentWithoutTheCallersHold(t *testing.T) {
	defer ec.SetDropRetry(20 * time.Millisecond)()
	f := newFleet(t, 4, 2, 1, 0)
	owner, st := f.owner("p")
	var placement sync.RWMutex
	hold := func() (func(), store.Stamp, error) {
		placement.RLock()
		f.mu.Lock()
		version := f.smap.Version
		f.mu.Unlock()
		return placement.RUnlock, store.Stamp{Map: version, Clock: time.Now().UnixNano()}, nil
	}
	data := bytes.Repeat([]byte("data"), 3000)
	put := func(change func(m *cluster.Map) *cluster.Map) (bool, error) {
		var once sync.Once
		var changed atomic.Bool
		f.sending = func() {
			once.Do(func() {
				locked := make(chan struct{})
				go func() {
					placement.Lock() // a map change
					f.mu.Lock()
					f.smap = change(f.smap)
					f.mu.Unlock()
					placement.Unlock()
					close(locked)
				}()
				select {
				case <-locked:
					changed.Store(true)
				case <-time.After(10 * time.Second):
				}
			})
		}
		defer func() { f.sending = nil }()
		_, err := st.Put(t.Context(), bucket, "p", bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), Precommit: hold})
		return changed.Load(), err
	}
	changed, err := put(func(m *cluster.Map) *cluster.Map { next := m.Clone(); next.Version++; return next })
	if !changed {
		t.Fatal("a map change waited for a PUT's parts to be sent")
	}
	if err != nil {
		t.Fatalf("a PUT whose map changed alike while its parts were sent: %v", err)
	}
	first, err := st.Head(t.Context(), bucket, "p")
	if err != nil {
		t.Fatal(err)
	}
	holders, err := ec.Holders(f.smap, bucket, "p", 3)
	if err != nil {
		t.Fatal(err)
	}
	gone := holders[0].ID
	if gone == owner {
		gone = holders[1].ID
	}
	changed, err = put(func(m *cluster.Map) *cluster.Map {
		next, err := m.WithState(gone, cluster.StateOffline)
		if err != nil {
			t.Error(err)
			return m
		}
		return next
	})
	if !changed || !errors.Is(err, store.ErrPlacementChanged) {
		t.Fatalf("a PUT whose holder went offline while its parts were sent: changed %v, %v", changed, err)
	}
	// Offline now, it is told once it answers (here at once: retried).
	failedPart := func() bool {
		left, _ := f.inner[gone].PartsOf(t.Context(), bucket, "p")
		return slices.ContainsFunc(left, func(p store.PartMeta) bool { return p.Stamp.Compare(first.Stamp) > 0 })
	}
	deadline := time.Now().Add(10 * time.Second)
	for failedPart() {
		if time.Now().After(deadline) {
			t.Fatalf("the failed PUT's part stayed on %s, offline now", gone)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Restores whose callers gave up go on a few at a time: one more waits
// for its turn rather than open its parts (its work files and buffers),
// and runs once one ends.
func TestRestoresLeftRunningAreBounded(t *testing.T) {
	defer ec.SetMaxRestores(1)()
	f := newFleet(t, 4, 2, 1, 0)
	data := bytes.Repeat([]byte("restored"), 1000)
	owner, st := f.owner("r-0")
	names := []string{"r-0"}
	for i := 1; len(names) < 2; i++ {
		if id, _ := f.owner(fmt.Sprintf("r-%d", i)); id == owner {
			names = append(names, fmt.Sprintf("r-%d", i))
		}
	}
	for _, name := range names {
		f.put(name, data)
		f.dropReplica(name)
	}
	f.mu.Lock()
	f.stalled, f.reading, f.opened = make(chan struct{}), make(chan struct{}, 1), nil
	f.mu.Unlock()
	for _, name := range names {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		if err := st.Restore(ctx, bucket, name); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a restore of %s whose holders stall: %v, want its caller's deadline", name, err)
		}
		cancel()
	}
	// A name with no part anywhere is not found at once, not after
	// the slot the stalled restore holds.
	missing, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	_, err := st.Head(missing, bucket, "never-written")
	cancel()
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a HEAD of a name never written while the restores' slot is held: %v, want not found", err)
	}
	f.mu.Lock()
	opened := maps.Clone(f.opened)
	close(f.stalled)
	f.stalled = nil
	f.mu.Unlock()
	if !opened[names[0]] || opened[names[1]] {
		t.Fatalf("parts opened of %v with one restore at a time, want only %s's", opened, names[0])
	}
	for _, name := range names {
		if err := st.Restore(t.Context(), bucket, name); err != nil {
			t.Fatal(err)
		}
		if got, err := f.get(name, false); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s after the holders answer: %v", name, err)
		}
	}
}

// A reader waiting on a restore whose holder stalls may give up: the
// restore goes on for the others, and ends when the holder answers.
func TestRestoreWaitersMayGiveUp(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 0)
	data := bytes.Repeat([]byte("restored"), 1000)
	f.put("p", data)
	f.dropReplica("p")
	f.mu.Lock()
	f.stalled, f.reading = make(chan struct{}), make(chan struct{}, 1)
	f.mu.Unlock()
	_, st := f.owner("p")
	ctx, cancel := context.WithCancel(t.Context())
	result := make(chan error, 1)
	go func() { result <- st.Restore(ctx, bucket, "p") }()
	<-f.reading
	cancel()
	if err := <-result; !errors.Is(err, context.Canceled) {
		t.Fatalf("a restore its reader gave up: %v, want canceled", err)
	}
	f.mu.Lock()
	close(f.stalled)
	f.stalled = nil
	f.mu.Unlock()
	if err := st.Restore(t.Context(), bucket, "p"); err != nil {
		t.Fatal(err)
	}
	if got, err := f.get("p", false); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after the restore: %d bytes, %v", len(got), err)
	}
}

// deletedWithAHolderDown deletes an object "d" while one holder of its
// parts is down, which keeps its part.
func deletedWithAHolderDown(t *testing.T) (*fleet, string) {
	t.Helper()
	f := newFleet(t, 4, 2, 1, 1<<20)
	f.put("d", []byte("deleted bytes"))
	st, away := f.holderDown("d")
	if err := st.Delete(t.Context(), bucket, "d", store.DeleteOptions{Stamp: store.Stamp{Map: 1, Clock: time.Now().UnixNano()}}); err != nil {
		t.Fatal(err)
	}
	if n := f.parts("d"); n == 0 {
		t.Fatal("the holder that was down kept no part: the test proves nothing")
	}
	return f, away
}

// partsGoneOnceBack waits for the parts of "d" to be deleted.
func partsGoneOnceBack(t *testing.T, f *fleet) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); f.parts("d") != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d parts left 10s after their holder came back", f.parts("d"))
		}
	}
}

// A holder that could not delete its part (down during the delete) has
// it deleted once it answers again, with no read of the object to find
// it: left, it would bring the object back once the tombstone goes.
func TestFailedPartDeleteIsTriedAgain(t *testing.T) {
	defer ec.SetDropRetry(20 * time.Millisecond)()
	f, away := deletedWithAHolderDown(t)
	f.mu.Lock()
	f.down[away] = false
	f.mu.Unlock()
	partsGoneOnceBack(t, f)
}

// A holder away for longer than the retries' first hour still has its
// part deleted once it answers: offline in the cluster map all along, it
// comes back with the part.
func TestFailedPartDeleteIsTriedWhileItsHolderIsInTheMap(t *testing.T) {
	defer ec.SetDropRetry(20 * time.Millisecond)()
	defer ec.SetDropRetryFor(150 * time.Millisecond)() // "an hour"
	f, away := deletedWithAHolderDown(t)
	// Offline in the map while away, past the retries' first "hour".
	f.mu.Lock()
	var err error
	if f.smap, err = f.smap.WithState(away, cluster.StateOffline); err != nil {
		f.mu.Unlock()
		t.Fatal(err)
	}
	f.mu.Unlock()
	time.Sleep(400 * time.Millisecond)
	// Back in the map, failing still for a few rounds (busy), then
	// answering: it had its whole "hour" again from its return.
	f.mu.Lock()
	f.smap, err = f.smap.WithState(away, cluster.StateActive)
	f.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	f.mu.Lock()
	f.down[away] = false
	f.mu.Unlock()
	partsGoneOnceBack(t, f)
}

// A target that restarts while a holder it failed to delete parts on is
// down keeps that delete: its next run deletes the part once the holder
// answers (forgotten, the part would bring the object back).
func TestKeptDeletesOutliveARestart(t *testing.T) {
	defer ec.SetDropRetry(20 * time.Millisecond)()
	f, away := deletedWithAHolderDown(t)
	ownerID, st := f.owner("d")
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	owner, _ := f.smap.Node(ownerID)
	again := f.wrap(owner, f.inner[ownerID]) // its next run, over the same disks
	t.Cleanup(func() { again.Close() })
	f.mu.Lock()
	f.targets[ownerID] = again
	f.down[away] = false
	f.mu.Unlock()
	if err := again.Resume(t.Context()); err != nil {
		t.Fatal(err)
	}
	partsGoneOnceBack(t, f)
	// Nothing kept: the file goes.
	state := filepath.Join(f.workDir(ownerID), "..", filepath.Base(f.workDir(ownerID))+".ec-kept.json")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(state); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s stays with nothing kept", state)
		}
	}
	// A kept delete past its time in the file (its holder offline for
	// long, the extension not saved) has its whole time again at a
	// restart: tried, not dropped at its first failure.
	os.WriteFile(state, []byte(`{"drops":[{"bucket":{"name":"b","provider":"ais"},"name":"x","stamp":{"map":1,"clock":1},"which":0,"node":{"id":"t9","role":"target","url":"http://127.0.0.1:1","state":"active"},"until":1}]}`), 0o600)
	late := f.wrap(owner, f.inner[ownerID])
	t.Cleanup(func() { late.Close() })
	if err := late.Resume(t.Context()); err != nil {
		t.Fatal(err)
	}
	if until := ec.KeptDeleteUntil(late, "t9", "x"); time.Until(until) < 30*time.Minute {
		t.Fatalf("a kept delete resumed past its saved time runs until %s, want its whole time again", until)
	}
	// A state file that is not the node's JSON is an error, not a panic.
	os.WriteFile(state, []byte("{not json"), 0o600)
	if err := f.wrap(owner, f.inner[ownerID]).Resume(t.Context()); err == nil {
		t.Fatal("a state file that is not JSON was taken")
	}
}

// Close ends the retries of kept deletes and waits for them: none runs
// on a closed store (the node stopped), to be found by the holder's next
// sweep instead.
func TestCloseEndsTheRetriesOfDeletes(t *testing.T) {
	const every = 20 * time.Millisecond
	defer ec.SetDropRetry(every)()
	f := newFleet(t, 4, 2, 1, 1<<20)
	f.put("d", []byte("deleted bytes"))
	st, away := f.holderDown("d")
	if err := st.Delete(t.Context(), bucket, "d", store.DeleteOptions{Stamp: store.Stamp{Map: 1, Clock: time.Now().UnixNano()}}); err != nil {
		t.Fatal(err)
	}
	left := f.parts("d")
	if left == 0 {
		t.Fatal("the holder that was down kept no part: the test proves nothing")
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.down[away] = false
	f.mu.Unlock()
	time.Sleep(20 * every) // retries would have run by now
	if n := f.parts("d"); n != left {
		t.Fatalf("%d parts left after a retry of the delete, want the %d kept: a retry ran after Close", n, left)
	}
}

// gatedReader sends its first bytes, then waits for open before the rest.
type gatedReader struct {
	data []byte
	sent int
	open chan struct{}
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if g.sent == len(g.data) {
		return 0, io.EOF
	}
	if g.sent > 0 {
		<-g.open
	}
	n := copy(p, g.data[g.sent:min(len(g.data), g.sent+1024)])
	g.sent += n
	return n, nil
}

// PUTs keep in memory what they encode only within the node's budget:
// those past it, each announcing a size within the memory limit, go
// through files rather than hold memory while their clients send slowly.
func TestPutsKeepToTheMemoryBudget(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 0)
	// Four names of one owner, whose budget (128 KiB) holds two.
	owner, st := f.owner("slow-0")
	var names []string
	for i := 0; len(names) < 4; i++ {
		if id, _ := f.owner(fmt.Sprintf("slow-%d", i)); id == owner {
			names = append(names, fmt.Sprintf("slow-%d", i))
		}
	}
	open := make(chan struct{})
	var wg sync.WaitGroup
	for i, name := range names {
		body := &gatedReader{data: bytes.Repeat([]byte{byte(i)}, 60<<10), open: open}
		wg.Go(func() {
			if _, err := st.Put(t.Context(), bucket, name, body, store.PutOptions{Size: 60 << 10}); err != nil {
				t.Errorf("put %s: %v", name, err)
			}
		})
	}
	// Each began its body: those that had no room in memory hold a file.
	files := func() int {
		matches, _ := filepath.Glob(filepath.Join(f.workDirs[owner], "ec-put-*"))
		return len(matches)
	}
	for deadline := time.Now().Add(10 * time.Second); files() != 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 4 PUTs through files, want 2", files())
		}
	}
	close(open)
	wg.Wait()
	if n := files(); n != 0 {
		t.Fatalf("%d work files left", n)
	}
	for i, name := range names {
		if got, err := f.get(name, true); err != nil || !bytes.Equal(got, bytes.Repeat([]byte{byte(i)}, 60<<10)) {
			t.Fatalf("%s: %d bytes, %v", name, len(got), err)
		}
	}
}

// A target that does not own a name, removing a copy it may hold (a
// list or range delete reaches every target), leaves the owner's parts
// and no tombstone: they may be of an object written after the owner's
// delete, newer than this target's stamp.
func TestDeleteByAnotherTargetKeepsTheOwnersParts(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 1000)
	data := bytes.Repeat([]byte("x"), 5000)
	f.put("big", data)
	before := f.parts("big")
	owner, _ := f.owner("big")
	other := "t1"
	if owner == other {
		other = "t2"
	}
	err := f.targets[other].Delete(t.Context(), bucket, "big", store.DeleteOptions{Stamp: store.Stamp{Map: 9, Clock: time.Now().UnixNano()}, LocalOnly: true})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	if n := f.parts("big"); n != before {
		t.Fatalf("%d of %d parts left after another target's local delete", n, before)
	}
	f.dropReplica("big")
	if got, err := f.get("big", true); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the object restored from its parts: %d bytes, %v", len(got), err)
	}
}

// A target that does not own a name but holds its only replica (not
// moved to its owner yet) removes the parts of that copy with it: the
// owner, which did not list the name, would restore it from them.
func TestDeleteOfAMisplacedReplicaDropsItsParts(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 1000)
	data := bytes.Repeat([]byte("x"), 5000)
	f.put("big", data)
	owner, _ := f.owner("big")
	other := "t1"
	if owner == other {
		other = "t2"
	}
	meta, err := f.inner[owner].Head(t.Context(), bucket, "big")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.inner[other].Put(t.Context(), bucket, "big", bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), Stamp: meta.Stamp}); err != nil {
		t.Fatal(err)
	}
	f.dropReplica("big")
	err = f.targets[other].Delete(t.Context(), bucket, "big", store.DeleteOptions{Stamp: store.Stamp{Map: 9, Clock: time.Now().UnixNano()}, LocalOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := f.parts("big"); n != 0 {
		t.Fatalf("%d parts left of the removed replica", n)
	}
	if _, err := f.get("big", false); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the deleted object at its owner: %v, want not found", err)
	}
}

// flipsEC is a body that turns a bucket's erasure coding on or off as it
// is read: a PUT under way when the props change.
type flipsEC struct {
	io.Reader
	f    *fleet
	on   bool
	once sync.Once
}

func (r *flipsEC) Read(p []byte) (int, error) {
	r.once.Do(func() {
		r.f.mu.Lock()
		r.f.props.EC.Enabled = r.on
		r.f.mu.Unlock()
	})
	return r.Reader.Read(p)
}

// A PUT under way while erasure coding is turned on is protected (the
// ec-encode job may have listed the bucket before it), and one under way
// while it is turned off leaves no parts (ec-cleanup may have passed).
func TestPutSpanningAnECChange(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 1000)
	data := bytes.Repeat([]byte("x"), 5000)
	f.mu.Lock()
	f.props.EC.Enabled = false
	f.mu.Unlock()
	_, st := f.owner("on")
	if _, err := st.Put(t.Context(), bucket, "on", &flipsEC{Reader: bytes.NewReader(data), f: f, on: true}, store.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	if n := f.parts("on"); n == 0 {
		t.Fatal("a PUT under way as erasure coding was turned on has no parts")
	}
	// Its parts not made then (a holder down): made once it is back,
	// nothing else would make them.
	defer ec.SetDropRetry(20 * time.Millisecond)()
	f.mu.Lock()
	f.props.EC.Enabled = false
	f.mu.Unlock()
	holders, err := ec.Holders(f.smap, bucket, "on-2", 1)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.down[holders[0].ID] = true
	f.mu.Unlock()
	_, st = f.owner("on-2")
	if _, err := st.Put(t.Context(), bucket, "on-2", &flipsEC{Reader: bytes.NewReader(data), f: f, on: true}, store.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // tries while the holder is down
	f.mu.Lock()
	f.down[holders[0].ID] = false
	f.mu.Unlock()
	for deadline := time.Now().Add(10 * time.Second); f.parts("on-2") < 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the parts of a PUT under way as erasure coding was turned on, not made then: %d of 3 once the holder is back", f.parts("on-2"))
		}
	}
	_, st = f.owner("off")
	if _, err := st.Put(t.Context(), bucket, "off", &flipsEC{Reader: bytes.NewReader(data), f: f, on: false}, store.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	if n := f.parts("off"); n != 0 {
		t.Fatalf("a PUT under way as erasure coding was turned off left %d parts", n)
	}
}

// holderDown takes down a target holding a part of name (not its owner)
// and returns the owner's store and the target's id.
func (f *fleet) holderDown(name string) (*ec.Store, string) {
	holders, _ := ec.Holders(f.smap, bucket, name, 3)
	ownerID, st := f.owner(name)
	var away string
	for _, h := range holders {
		if h.ID != ownerID {
			away = h.ID
			break
		}
	}
	f.mu.Lock()
	f.down[away] = true
	f.mu.Unlock()
	return st, away
}

// Restores share the node's memory budget with PUTs: one that finds it
// taken (many objects restored at once) goes through files, and the
// object comes back all the same.
func TestRestoresKeepToTheMemoryBudget(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 1024)
	data := bytes.Repeat([]byte("restore "), 5000) // 40 KiB: in memory when the budget allows
	f.put("big", data)
	owner, st := f.owner("big")
	if !ec.InMemoryRestore(st, int64(len(data))) {
		t.Fatal("a 40 KiB restore with the budget free is not made in memory")
	}
	if ec.InMemoryRestore(st, 100<<10) {
		t.Fatal("a restore past the memory limit is made in memory")
	}
	release := ec.HoldMemory(st, 128<<10) // PUTs hold all of it
	defer release()
	if ec.InMemoryRestore(st, int64(len(data))) {
		t.Fatal("a restore with the budget taken is made in memory")
	}
	f.dropReplica("big")
	got, err := f.get("big", false)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("restored through files: %d bytes, %v", len(got), err)
	}
	if matches, _ := filepath.Glob(filepath.Join(f.workDirs[owner], "ec-*")); len(matches) != 0 {
		t.Fatalf("work files left: %v", matches)
	}
}

// An unstamped delete (a job's cleanup, a remote's object gone) drops
// the parts of the version it removed: its retry on a holder that was
// down does not take the parts of a version put since.
func TestUnstampedDeleteRetryKeepsANewerVersionsParts(t *testing.T) {
	defer ec.SetDropRetry(100 * time.Millisecond)()
	f := newFleet(t, 4, 2, 1, 1<<20)
	put := func(data string, clock int64) {
		_, st := f.owner("d")
		if _, err := st.Put(t.Context(), bucket, "d", strings.NewReader(data), store.PutOptions{Size: int64(len(data)), Stamp: store.Stamp{Map: 1, Clock: clock}}); err != nil {
			t.Fatal(err)
		}
	}
	put("first version", 10)
	st, away := f.holderDown("d")
	if err := st.Delete(t.Context(), bucket, "d", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.down[away] = false
	f.mu.Unlock()
	put("second version", 20)
	want := f.parts("d")
	time.Sleep(500 * time.Millisecond) // the retries of the first delete
	if got := f.parts("d"); got != want {
		t.Fatalf("%d parts of the second version left after the first one's delete was retried, want %d", got, want)
	}
	f.dropReplica("d")
	if data, err := f.get("d", true); err != nil || string(data) != "second version" {
		t.Fatalf("restore of the second version: %q %v", data, err)
	}
}

// An Ensure whose caller gave up (a peer's call timed out, the sweep was
// aborted) restores nothing more: no detached restore for each name left.
func TestEnsureOfACallerGoneStartsNoRestore(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 0)
	ownerID, st := f.owner("e-0")
	var names []string
	for i := range 20 {
		name := fmt.Sprintf("e-%d", i)
		if id, _ := f.owner(name); id != ownerID {
			continue
		}
		f.put(name, bytes.Repeat([]byte(name), 100))
		f.dropReplica(name)
		names = append(names, name)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := st.Ensure(ctx, bucket, names); !errors.Is(err, context.Canceled) {
		t.Fatalf("an Ensure of a caller gone: %v, want canceled", err)
	}
	time.Sleep(200 * time.Millisecond) // a detached restore would be done
	for _, name := range names {
		if _, err := f.inner[ownerID].Head(t.Context(), bucket, name); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s was restored after its Ensure's caller was gone: %v", name, err)
		}
	}
}

// An encode of an object read from storage (protect, a restore, a sweep)
// takes its copy and its parity slices from the node's memory budget:
// with the budget taken, it goes through files, and the columns it
// streams through wait for their share of the budget (many big PUTs at
// once do not take more).
func TestEncodesKeepToTheMemoryBudget(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 1024)
	_, st := f.owner("x")
	data := bytes.Repeat([]byte("encode "), 5000) // 35 KiB, within the memory limit
	layout := ec.Layout{Data: 2, Parity: 1}
	if !ec.EncodesInMemory(st, layout, data) {
		t.Fatal("an encode with the budget free is not made in memory")
	}
	release := ec.HoldMemory(st, 128<<10) // PUTs hold all of it
	if ec.EncodesInMemory(st, layout, data) {
		release()
		t.Fatal("an encode with the budget taken is made in memory")
	}
	release()
	big := bytes.Repeat([]byte("big "), 40<<10) // past the memory limit
	release = ec.HoldStreams(st, 128<<10)       // other streams hold all of it
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	err := ec.EncodeThroughFiles(ctx, st, layout, big)
	cancel()
	release()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a streaming encode with the streams' budget taken: %v, want it waiting for it", err)
	}
	if err := ec.EncodeThroughFiles(t.Context(), st, layout, big); err != nil {
		t.Fatalf("a streaming encode with the budget free: %v", err)
	}
}

// A moved copy (a rebalance's receive, with the object's own stamp) that
// fails for want of a holder leaves the parts of that version alone:
// they are the object's, not a failed write's.
func TestFailedMoveKeepsTheVersionsParts(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 0)
	data := bytes.Repeat([]byte("moved"), 3000)
	f.put("m", data)
	ownerID, owner := f.owner("m")
	meta, err := owner.Head(t.Context(), bucket, "m")
	if err != nil {
		t.Fatal(err)
	}
	before := f.parts("m")
	holders, _ := ec.Holders(f.smap, bucket, "m", 3)
	// The copy arrives at another target than the owner and the holder
	// that is down (a target sends its own part to itself).
	var other *ec.Store
	for _, id := range slices.Sorted(maps.Keys(f.targets)) {
		if id != ownerID && id != holders[1].ID {
			other = f.targets[id]
		}
	}
	f.mu.Lock()
	f.down[holders[1].ID] = true
	f.mu.Unlock()
	if _, err := other.Put(t.Context(), bucket, "m", bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), Stamp: meta.Stamp, IfNewer: true}); err == nil {
		t.Fatal("a moved copy with a holder down succeeded")
	}
	f.mu.Lock()
	f.down[holders[1].ID] = false
	f.mu.Unlock()
	if n := f.parts("m"); n != before {
		t.Fatalf("%d parts after the failed move, %d before: the version's parts went", n, before)
	}
}

func TestOlderMovedCopyLosesToNewerParts(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 0)
	older := bytes.Repeat([]byte("older"), 3000)
	newer := bytes.Repeat([]byte("newer"), 3000)
	f.put("m", older)
	_, owner := f.owner("m")
	meta, err := owner.Head(t.Context(), bucket, "m")
	if err != nil {
		t.Fatal(err)
	}
	f.put("m", newer)
	// The acknowledged overwrite's replica is lost; its parts remain. A
	// target back from away then moves the older copy to the owner.
	f.dropReplica("m")
	_, err = owner.Put(t.Context(), bucket, "m", bytes.NewReader(older), store.PutOptions{Size: int64(len(older)), Stamp: meta.Stamp, IfNewer: true})
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("an older moved copy over newer parts: %v, want ErrExists", err)
	}
	got, err := f.get("m", false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, newer) {
		t.Fatalf("read %q..., want the acknowledged overwrite", got[:10])
	}
}

// The cleanup of a bucket whose EC was turned off removes the parts made
// before, also once EC is on again (they would restore objects deleted
// meanwhile), and spares those of writes made since.
func TestDropPartsKeepsTheNewerParts(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 0)
	data := bytes.Repeat([]byte("parts"), 3000)
	f.put("before", data)
	off := store.Stamp{Clock: time.Now().UnixNano()}
	f.put("since", data)
	want := f.parts("since")
	for _, id := range slices.Sorted(maps.Keys(f.targets)) {
		if err := f.targets[id].DropParts(t.Context(), bucket, off, new(store.Progress)); err != nil {
			t.Fatalf("cleanup on %s with EC on again: %v", id, err)
		}
	}
	if n := f.parts("before"); n != 0 {
		t.Fatalf("%d parts of an object written before EC was off are left", n)
	}
	if n := f.parts("since"); n != want || n == 0 {
		t.Fatalf("%d parts of a write since EC is on again, want %d", n, want)
	}
}

// A sweep that cannot reach an owner fails, naming it: the objects that
// owner lacks stay unrestored, and the job must not read as done.
func TestSweepReportsAnOwnerNotReached(t *testing.T) {
	f := newFleet(t, 4, 1, 1, 0)
	data := bytes.Repeat([]byte("swept"), 1000)
	f.put("s", data)
	ownerID, _ := f.owner("s")
	holders, _ := ec.Holders(f.smap, bucket, "s", 2)
	f.mu.Lock()
	f.down[ownerID] = true
	f.mu.Unlock()
	var holder string
	for _, h := range holders {
		if h.ID != ownerID {
			holder = h.ID
		}
	}
	err := f.targets[holder].Sweep(t.Context(), bucket, new(store.Progress))
	if err == nil || !strings.Contains(err.Error(), "owner "+ownerID) {
		t.Fatalf("a sweep whose owner %s is down: %v, want an error naming it", ownerID, err)
	}
}

// Two deletes of one object's parts kept for a holder that is down: the
// later, older one (a refused restore's drop) does not narrow the first.
func TestPendingPartDeleteKeepsTheWidest(t *testing.T) {
	defer ec.SetDropRetry(20 * time.Millisecond)()
	f := newFleet(t, 4, 2, 1, 1<<20)
	f.put("d", []byte("deleted bytes"))
	st, away := f.holderDown("d")
	ownerID, _ := f.owner("d")
	meta, err := f.inner[ownerID].Head(t.Context(), bucket, "d")
	if err != nil {
		t.Fatal(err)
	}
	node, _ := f.smap.Node(away)
	ec.DropLater(st, bucket, "d", store.Stamp{Map: meta.Stamp.Map, Clock: meta.Stamp.Clock + 10}, node)
	ec.DropLater(st, bucket, "d", store.Stamp{Map: meta.Stamp.Map, Clock: meta.Stamp.Clock - 10}, node)
	f.mu.Lock()
	f.down[away] = false
	f.mu.Unlock()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		metas, _ := f.inner[away].PartsOf(t.Context(), bucket, "d")
		if len(metas) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the holder keeps %d parts of the deleted version", len(metas))
		}
	}
}

// strayNewerPart stores data as "m" on its owner, then one part of a
// newer write that failed (stamped by newer, from the version's stamp) on
// a holder, and drops the owner's replica: what a moved copy of the
// stored version then meets. It returns the owner and that version's
// metadata.
func strayNewerPart(t *testing.T, f *fleet, data []byte, newer func(store.Stamp) store.Stamp) (*ec.Store, store.ObjectMeta) {
	t.Helper()
	f.put("m", data)
	ownerID, owner := f.owner("m")
	meta, err := owner.Head(t.Context(), bucket, "m")
	if err != nil {
		t.Fatal(err)
	}
	holders, _ := ec.Holders(f.smap, bucket, "m", 3)
	var holder string
	for _, h := range holders {
		if h.ID != ownerID {
			holder = h.ID
			break
		}
	}
	parts, err := f.inner[holder].PartsOf(t.Context(), bucket, "m")
	if err != nil || len(parts) == 0 {
		t.Fatalf("the holder's parts: %v %v", parts, err)
	}
	r, pm, err := f.inner[holder].OpenPart(t.Context(), bucket, "m", parts[0].Index)
	if err != nil {
		t.Fatal(err)
	}
	slice, _ := io.ReadAll(r)
	r.Close()
	pm.Stamp = newer(meta.Stamp)
	if err := f.inner[holder].PutPart(t.Context(), pm, bytes.NewReader(slice)); err != nil {
		t.Fatal(err)
	}
	f.dropReplica("m")
	return owner, meta
}

// A moved copy refused for a newer part that does not restore (a failed
// write's leftover) is not taken for received: its sender must keep it.
func TestMovedCopyKeptWhenNewerPartsDoNotRestore(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 0)
	data := bytes.Repeat([]byte("acked"), 3000)
	owner, meta := strayNewerPart(t, f, data, func(s store.Stamp) store.Stamp { s.Clock += 100; return s })
	_, err := owner.Put(t.Context(), bucket, "m", bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), Stamp: meta.Stamp, IfNewer: true})
	if err == nil || errors.Is(err, store.ErrExists) {
		t.Fatalf("a moved copy over one newer part that does not restore: %v, want an error its sender retries", err)
	}
}

// A newer part that does not restore and is hours old (a failed write's,
// its drop lost) does not refuse a moved copy for ever: it goes, and the
// copy is taken when sent again.
func TestStaleStrayPartDoesNotRefuseForever(t *testing.T) {
	f := newFleet(t, 4, 2, 1, 0)
	data := bytes.Repeat([]byte("acked"), 3000)
	// Newer by its map, written three hours ago.
	owner, meta := strayNewerPart(t, f, data, func(s store.Stamp) store.Stamp {
		return store.Stamp{Map: s.Map + 1, Clock: time.Now().Add(-3 * time.Hour).UnixNano()}
	})
	move := func() error {
		_, err := owner.Put(t.Context(), bucket, "m", bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), Stamp: meta.Stamp, IfNewer: true})
		return err
	}
	if err := move(); err == nil || errors.Is(err, store.ErrExists) {
		t.Fatalf("the first send: %v, want refused for now", err)
	}
	if err := move(); err != nil {
		t.Fatalf("the copy sent again, the stray part gone: %v", err)
	}
	if got, err := f.get("m", true); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after the move: %d bytes, %v", len(got), err)
	}
}

// A failed write's part left for good (too few to rebuild, made long
// ago) does not hide the version before it: a read restores that one
// from its own parts. A recent one may be a write still under way: the
// read fails rather than bring back the version before it.
func TestRestorePassesOverAFailedWritesPartsLeftForGood(t *testing.T) {
	for _, tc := range []struct {
		name     string
		age      time.Duration
		restored bool
	}{{"left for good", 3 * time.Hour, true}, {"recent", time.Minute, false}} {
		f := newFleet(t, 4, 2, 1, 0)
		data := bytes.Repeat([]byte("acked"), 3000)
		_, acked := strayNewerPart(t, f, data, func(s store.Stamp) store.Stamp {
			return store.Stamp{Map: s.Map + 1, Clock: time.Now().Add(-tc.age).UnixNano()}
		})
		got, err := f.get("m", true)
		if restored := err == nil && bytes.Equal(got, data); restored != tc.restored {
			t.Fatalf("%s: a read past the stray part: %d bytes, %v; want restored %v", tc.name, len(got), err, tc.restored)
		}
		if !tc.restored {
			continue
		}
		// The sweeps then store its parts in place of the stray one.
		f.sweepAll()
		for id, inner := range f.inner {
			parts, _ := inner.PartsOf(t.Context(), bucket, "m")
			for _, p := range parts {
				if p.Stamp != acked.Stamp {
					t.Fatalf("%s: after the sweeps %s keeps part %d of stamp %s, want the acknowledged version's %s", tc.name, id, p.Index, p.Stamp, acked.Stamp)
				}
			}
		}
		if n := f.parts("m"); n != 3 {
			t.Fatalf("%s: %d parts after the sweeps, want 3", tc.name, n)
		}
	}
}

// An ensure restores only the names this target owns: one asked by a
// sweep with another map would leave a stray copy.
func TestEnsureRestoresOnlyWhatItOwns(t *testing.T) {
	f := newFleet(t, 4, 1, 1, 0)
	data := bytes.Repeat([]byte("owned"), 1000)
	f.put("e", data)
	ownerID, _ := f.owner("e")
	f.dropReplica("e")
	var other string
	for _, id := range slices.Sorted(maps.Keys(f.targets)) {
		if id != ownerID {
			other = id
			break
		}
	}
	// Started, not joined yet: no map to know what it owns (a sweep
	// under an old map asks all the same).
	f.mu.Lock()
	joined := f.smap
	f.smap = nil
	f.mu.Unlock()
	if err := f.targets[ownerID].Ensure(t.Context(), bucket, []string{"e"}); !errors.Is(err, store.ErrUnreached) {
		t.Fatalf("an ensure on a target without a map: %v, want it refused to be asked again", err)
	}
	f.mu.Lock()
	f.smap = joined
	f.mu.Unlock()
	if err := f.targets[other].Ensure(t.Context(), bucket, []string{"e"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.inner[other].Head(t.Context(), bucket, "e"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("target %s, not the owner, restored a copy: %v", other, err)
	}
	if err := f.targets[ownerID].Ensure(t.Context(), bucket, []string{"e"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.inner[ownerID].Head(t.Context(), bucket, "e"); err != nil {
		t.Fatalf("the owner did not restore it: %v", err)
	}
}

// What a Stage says of an object (a write-through's remote ETag) is kept
// by its parts as by its replica: an object restored from its slices
// keeps it.
func TestStagedCustomIsKeptByTheParts(t *testing.T) {
	f := newFleet(t, 5, 2, 2, 1024)
	data := randomData(rand.New(rand.NewPCG(9, 9)), 5000)
	stage := func(io.ReaderAt, int64) (map[string]string, error) {
		return map[string]string{"remote.etag": "the remote's"}, nil
	}
	_, st := f.owner("o")
	if _, err := st.Put(t.Context(), bucket, "o", bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), Custom: map[string]string{"mine": "v"}, Stage: stage}); err != nil {
		t.Fatal(err)
	}
	f.dropReplica("o")
	if got, err := f.get("o", false); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("restored: %d bytes, %v", len(got), err)
	}
	meta, err := st.Head(t.Context(), bucket, "o")
	if err != nil || meta.Custom["remote.etag"] != "the remote's" || meta.Custom["mine"] != "v" {
		t.Fatalf("the restored object's custom metadata: %v %v", meta.Custom, err)
	}
}

// A restore short of parts while targets the name's parts may be on are
// offline (not asked) is a wait, not a loss: ErrUnreached (503), not
// corrupt.
func TestRestoreShortOfOfflineHoldersIsUnreached(t *testing.T) {
	f := newFleet(t, 6, 2, 2, 1024)
	rng := rand.New(rand.NewPCG(9, 9))
	for _, tc := range []struct {
		name    string
		size    int
		parts   int
		offline int
	}{{"sliced", 40 << 10, 4, 3}} {
		data := randomData(rng, tc.size)
		f.put(tc.name, data)
		holders, err := ec.Holders(f.smap, bucket, tc.name, tc.parts)
		if err != nil {
			t.Fatal(err)
		}
		owner, st := f.owner(tc.name)
		f.mu.Lock()
		for _, h := range holders[:tc.offline] {
			if h.ID == owner {
				t.Fatalf("%s: the owner %s is a holder", tc.name, owner)
			}
			if f.smap, err = f.smap.WithState(h.ID, cluster.StateOffline); err != nil {
				t.Fatal(err)
			}
		}
		f.mu.Unlock()
		if now, _ := f.owner(tc.name); now != owner {
			t.Fatalf("%s: the owner moved from %s to %s", tc.name, owner, now)
		}
		f.dropReplica(tc.name)
		_, err = st.Head(t.Context(), bucket, tc.name)
		if !errors.Is(err, store.ErrUnreached) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrCorrupt) {
			t.Fatalf("%s with %d of its holders offline: %v, want unreached", tc.name, tc.offline, err)
		}
		// Back, the object is restored.
		f.mu.Lock()
		for _, h := range holders[:tc.offline] {
			f.smap, _ = f.smap.WithState(h.ID, cluster.StateActive)
		}
		f.mu.Unlock()
		if got, err := f.get(tc.name, true); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s with its holders back: %v", tc.name, err)
		}
	}
}

// A version may hold replicas and slices (its size limit raised since it
// was written, a sweep made replicas of it): one replica restores it, so
// its parts are not a failed write's left for good, whichever is met
// first.
func TestReplicaOfAVersionIsNeverLeftForGood(t *testing.T) {
	f := newFleet(t, 6, 4, 2, 0)
	old := store.Stamp{Map: 1, Clock: time.Now().Add(-3 * time.Hour).UnixNano()}
	part := func(index int, replica bool) store.PartMeta {
		return store.PartMeta{Bucket: bucket, Name: "x", Index: index, Replica: replica, Data: 4, Parity: 2, ObjectSize: 4000, SliceSize: 1000, Stamp: old,
			Checksum: store.Checksum{Type: store.ChecksumXXHash, Value: "0123456789abcdef"}}
	}
	slice, replica := part(2, false), part(0, true)
	replica.SliceSize = replica.ObjectSize
	target := f.targets[slices.Sorted(maps.Keys(f.targets))[0]]
	for _, order := range [][]store.PartMeta{{slice, replica}, {replica, slice}} {
		if target.LeftForGood(order, ec.Layout{Data: 4, Parity: 2}) {
			t.Fatalf("a replica and a slice of one version (%v first) counted as a failed write's leftovers", order[0].Replica)
		}
	}
	// Slices alone, too few and old, are.
	if !target.LeftForGood([]store.PartMeta{slice, part(3, false)}, ec.Layout{Data: 4, Parity: 2}) {
		t.Fatal("two old slices of 4 needed: not left for good")
	}
}

// A read of an object whose first PUT is still sending its parts does not
// restore from them (with too few a 500, with enough the write's version
// made before the write ended, failed or not): it waits for the PUT, and
// answers what it left.
func TestReadDuringAPutRestoresNothing(t *testing.T) {
	for _, after := range []int64{2, 6} {
		f := newFleet(t, 7, 4, 2, 0)
		data := randomData(rand.New(rand.NewPCG(7, uint64(after))), 40000)
		got := readDuring(t, f, "w", after)
		f.put("w", data)
		a := <-got
		if a.err != nil || !bytes.Equal(a.data, data) {
			t.Fatalf("a read with %d parts of the first PUT sent: %d bytes, %v; want the PUT's object once it ended", after-1, len(a.data), a.err)
		}
		if n := f.restored.Load(); n != 0 {
			t.Fatalf("%d restores during the PUT", n)
		}
	}
	// A PUT that fails (its last holder refuses) leaves nothing to read.
	f := newFleet(t, 7, 4, 2, 0)
	got := readDuring(t, f, "w", 3)
	ownerID, owner := f.owner("w")
	f.refuseParts(lastHolder(f, ownerID))
	if _, err := owner.Put(t.Context(), bucket, "w", bytes.NewReader(make([]byte, 40000)), store.PutOptions{Size: 40000}); err == nil {
		t.Fatal("a PUT one of whose holders refuses its part succeeded")
	}
	if a := <-got; !errors.Is(a.err, store.ErrNotFound) {
		t.Fatalf("a read during a PUT that failed: %d bytes, %v; want not found", len(a.data), a.err)
	}
}

type readAnswer struct {
	data []byte
	err  error
}

// readDuring reads name from its owner when the PUT under way sends its
// part number after, and returns the answer (at most a minute later).
// The PUT waits a second for the answer there: a read that answers from
// the parts sent so far does, one that waits for the PUT does not.
// readInto reads an object whole through st and sends what it got.
func readInto(t *testing.T, st *ec.Store, name string, answer chan<- readAnswer) {
	obj, err := st.Open(context.WithoutCancel(t.Context()), bucket, name, store.OpenOptions{})
	if err != nil {
		answer <- readAnswer{nil, err}
		return
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	answer <- readAnswer{data, err}
}

func readDuring(t *testing.T, f *fleet, name string, after int64) <-chan readAnswer {
	_, owner := f.owner(name)
	answer := make(chan readAnswer, 1)
	early := make(chan readAnswer, 1)
	var sent atomic.Int64
	f.sending = func() {
		if sent.Add(1) != after {
			return
		}
		defer func() {
			select {
			case a := <-answer:
				early <- a
			case <-time.After(time.Second):
			}
		}()
		go readInto(t, owner, name, answer)
	}
	out := make(chan readAnswer, 1)
	go func() {
		select {
		case a := <-early:
			out <- a
		case a := <-answer:
			out <- a
		case <-time.After(time.Minute):
			out <- readAnswer{nil, errors.New("no answer to the read during the PUT")}
		}
	}()
	return out
}

// A read of an object whose replica was lost while an overwrite sends
// its parts (replacing the version's) answers an acknowledged version:
// the one before, restored, or the overwrite once it ended; not "not
// found", not corrupt.
func TestReadDuringAnOverwriteOfALostReplica(t *testing.T) {
	for _, after := range []int64{2, 6} {
		f := newFleet(t, 7, 4, 2, 0)
		rng := rand.New(rand.NewPCG(8, uint64(after)))
		first, second := randomData(rng, 40000), randomData(rng, 40000)
		f.put("w", first)
		f.dropReplica("w")
		got := readDuring(t, f, "w", after)
		f.put("w", second)
		if a := <-got; a.err != nil || !bytes.Equal(a.data, first) && !bytes.Equal(a.data, second) {
			t.Fatalf("a read during the overwrite of a lost replica (%d parts sent): %d bytes, %v; want either version", after-1, len(a.data), a.err)
		}
	}
}

// A read that found a lost replica's parts before an overwrite began, and
// reads them after it replaced them, answers a version, not corrupt.
func TestReadRacingAnOverwriteThatBeganAfterItsFind(t *testing.T) {
	f := newFleet(t, 7, 4, 2, 0)
	rng := rand.New(rand.NewPCG(8, 9))
	first, second := randomData(rng, 40000), randomData(rng, 40000)
	f.put("v", first)
	f.dropReplica("v")
	f.mu.Lock()
	f.stalled, f.reading = make(chan struct{}), make(chan struct{}, 1)
	f.mu.Unlock()
	_, owner := f.owner("v")
	got := make(chan readAnswer, 1)
	go readInto(t, owner, "v", got)
	<-f.reading // the parts found; the first opened holds
	f.put("v", second)
	f.mu.Lock()
	close(f.stalled)
	f.stalled = nil
	f.mu.Unlock()
	select {
	case a := <-got:
		if a.err != nil || !bytes.Equal(a.data, first) && !bytes.Equal(a.data, second) {
			t.Fatalf("a read whose parts were replaced by an overwrite after it found them: %d bytes, %v; want either version", len(a.data), a.err)
		}
	case <-time.After(time.Minute):
		t.Fatal("no answer to the read")
	}
}

// A copy with its own stamp (a cold GET's: a version new here, its parts
// only now sent) is a write a read waits for when its parts do not
// rebuild yet, not a corrupt object.
func TestReadDuringACopyWaitsForIt(t *testing.T) {
	f := newFleet(t, 7, 4, 2, 0)
	data := randomData(rand.New(rand.NewPCG(9, 1)), 40000)
	got := readDuring(t, f, "c", 2)
	_, owner := f.owner("c")
	stamp := store.Stamp{Map: 1, Clock: time.Now().UnixNano()}
	if _, err := owner.Put(t.Context(), bucket, "c", bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), Stamp: stamp, IfNewer: true}); err != nil {
		t.Fatal(err)
	}
	if a := <-got; a.err != nil || !bytes.Equal(a.data, data) {
		t.Fatalf("a read during a copy with 1 part sent: %d bytes, %v; want the copy once it ended", len(a.data), a.err)
	}
}

// A copy of a version whose parts are whole (a rebalance's, with the
// version's stamp) that fails as a read waits does not lose the object:
// the read answers it, restored from those parts.
func TestReadDuringAFailingCopyOfAWholeVersion(t *testing.T) {
	f := newFleet(t, 7, 4, 2, 0)
	data := randomData(rand.New(rand.NewPCG(9, 2)), 40000)
	f.put("r", data)
	ownerID, owner := f.owner("r")
	meta, err := f.inner[ownerID].Head(t.Context(), bucket, "r")
	if err != nil {
		t.Fatal(err)
	}
	f.dropReplica("r")
	f.refuseParts(lastHolder(f, ownerID))
	got := readDuring(t, f, "r", 2)
	// It fails either way: a holder refuses its part, or the version,
	// restored by the read first, is there (IfNewer).
	if _, err := owner.Put(t.Context(), bucket, "r", bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), Stamp: meta.Stamp, IfNewer: true}); err == nil {
		t.Fatal("a copy one of whose holders refuses its part succeeded")
	}
	if a := <-got; a.err != nil || !bytes.Equal(a.data, data) {
		t.Fatalf("a read during a failing copy of a whole version: %d bytes, %v; want the version", len(a.data), a.err)
	}
}

// A read that waits for a PUT's parts and gives up (its context ends)
// says so: not "not found", the object may well be made.
func TestReadGivingUpOnAWriteSaysSo(t *testing.T) {
	f := newFleet(t, 7, 4, 2, 0)
	data := randomData(rand.New(rand.NewPCG(9, 3)), 40000)
	_, owner := f.owner("g")
	holding, release := make(chan struct{}), make(chan struct{})
	var sent atomic.Int64
	f.sending = func() {
		if sent.Add(1) == 3 {
			close(holding)
			<-release
		}
	}
	put := make(chan error, 1)
	go func() {
		_, err := owner.Put(context.WithoutCancel(t.Context()), bucket, "g", bytes.NewReader(data), store.PutOptions{Size: int64(len(data))})
		put <- err
	}()
	<-holding
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	_, err := owner.Open(ctx, bucket, "g", store.OpenOptions{})
	cancel()
	close(release)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a read that gave up waiting for the PUT: %v, want its context's end", err)
	}
	if err := <-put; err != nil {
		t.Fatal(err)
	}
}

// lastHolder is the last target by id but the owner.
func lastHolder(f *fleet, ownerID string) string {
	var last string
	for _, id := range slices.Sorted(maps.Keys(f.inner)) {
		if id != ownerID {
			last = id
		}
	}
	return last
}

// refuseParts makes a target refuse the parts sent to it.
func (f *fleet) refuseParts(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.storing = map[string]error{id: errors.New("the test's holder refuses the part")}
}

// An object kept to protect outlives a restart whose target has not
// joined yet: its bucket metadata, empty until then, does not read as
// erasure coding turned off, and the parts are made once it has joined.
// Its time is counted again from the restart: one kept past it (the
// target was down longer) is not dropped at its first failed try (a
// holder not back yet).
func TestKeptProtectWaitsForTheJoin(t *testing.T) {
	t.Run("within its time", func(t *testing.T) { testKeptProtectWaitsForTheJoin(t, time.Now().Add(time.Hour)) })
	t.Run("past its time", func(t *testing.T) { testKeptProtectWaitsForTheJoin(t, time.Now().Add(-time.Hour)) })
}

func testKeptProtectWaitsForTheJoin(t *testing.T, until time.Time) {
	defer ec.SetDropRetry(20 * time.Millisecond)()
	f := newFleet(t, 4, 2, 1, 8) // (past 8 bytes: parts, not replicas)
	f.mu.Lock()
	on := f.props
	f.props.EC.Enabled = false
	f.mu.Unlock()
	f.put("p", []byte("written as erasure coding was turned on"))
	ownerID, st := f.owner("p")
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(f.workDir(ownerID), "..", filepath.Base(f.workDir(ownerID))+".ec-kept.json")
	kept := fmt.Sprintf(`{"protects":[{"bucket":{"name":"ec","provider":"ais"},"name":"p","until":%d}]}`, until.UnixNano())
	if err := os.WriteFile(state, []byte(kept), 0o600); err != nil {
		t.Fatal(err)
	}
	// Restarted, not joined: no map, and no bucket known.
	f.mu.Lock()
	joined := f.smap
	f.smap = nil
	f.mu.Unlock()
	owner, _ := joined.Node(ownerID)
	again := f.wrap(owner, f.inner[ownerID])
	t.Cleanup(func() { again.Close() })
	if err := again.Resume(t.Context()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // many rounds of retries
	f.mu.Lock()
	f.smap, f.props, f.targets[ownerID] = joined, on, again
	f.storing = map[string]error{lastHolder(f, ownerID): errors.New("the holder is not back yet")}
	f.mu.Unlock()
	time.Sleep(200 * time.Millisecond) // tries that fail
	f.mu.Lock()
	f.storing = nil
	f.mu.Unlock()
	for deadline := time.Now().Add(10 * time.Second); f.parts("p") != 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the kept object has %d parts once its target joined, want 3: it was dropped before", f.parts("p"))
		}
	}
}

// An object whose bytes read short of its size is not encoded: the
// pooled buffer's tail (another object's bytes) became its parity.
func TestEncodeRefusesAShortRead(t *testing.T) {
	st := ec.Wrap(onlyStore{}, fleetPeers{}, ec.Options{})
	err := st.EncodeShort(t.Context(), ec.Layout{Data: 2, Parity: 1}, []byte("only half"), 18)
	if !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("the encode of an object read short: %v, want ErrCorrupt", err)
	}
	if err := st.EncodeShort(t.Context(), ec.Layout{Data: 2, Parity: 1}, []byte("all of it"), 9); err != nil {
		t.Fatalf("the encode of a whole object: %v", err)
	}
}
