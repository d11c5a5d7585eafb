package benchmarks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/klauspost/reedsolomon"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/ec"
	"github.com/aisgo/aisgo/store/fs"
)

// protectionSize is the object size of the protection figures.
const protectionSize = 1 << 20

func protectionSuite() Suite {
	return Suite{
		Name:        "protection",
		Doc:         "PUT of 1 MiB objects plain, mirror-2 and EC 2+2 beside raw disk writes of the same bytes × copies; EC encode beside klauspost/reedsolomon alone; a GET restored from slices beside a normal GET",
		DefaultSize: 128 << 20,
		Run:         runProtection,
	}
}

// copiesWriteName is the raw bound of a PUT that writes each object's
// bytes copies times.
func copiesWriteName(copies float64) string {
	return fmt.Sprintf("disk write 1 MiB files ×%g, fsync each", copies)
}

func runProtection(ctx context.Context, cfg Config) ([]Result, error) {
	rec := newRecorder("protection", cfg.Logger)
	src := randomBytes(srcSize)
	n := count(cfg.Size, protectionSize)
	userBytes := n * protectionSize
	// The bounds: the same user bytes written 1, 2 and 3 times (EC 2+2
	// writes the replica and four half-size slices), each file fsynced.
	for _, copies := range []float64{1, 2, 3} {
		dir := filepath.Join(cfg.Dir, "raw")
		files := int64(copies * float64(n))
		err := rec.measure(ctx, figure{name: copiesWriteName(copies), bytes: userBytes, ops: n, note: fmt.Sprintf("%d files of 1 MiB for %d objects", files, n)}, func() error {
			return writeFileSet(ctx, dir, src, files, protectionSize, true)
		})
		os.RemoveAll(dir)
		if err != nil {
			return rec.results, err
		}
	}
	// EC 2+2 writes its bytes ×3 in five files per object: the bound of
	// the same files.
	const ecFiles = "disk write 1 MiB + 4 × 512 KiB files, fsync each"
	err := rec.measure(ctx, figure{name: ecFiles, bytes: userBytes, ops: n, note: fmt.Sprintf("%d files for %d objects: what EC 2+2 writes", 5*n, n)}, func() error {
		dir := filepath.Join(cfg.Dir, "raw")
		defer os.RemoveAll(dir)
		if err := writeFileSet(ctx, filepath.Join(dir, "replicas"), src, n, protectionSize, true); err != nil {
			return err
		}
		return writeFileSet(ctx, filepath.Join(dir, "slices"), src, 4*n, protectionSize/2, true)
	})
	if err != nil {
		return rec.results, err
	}
	for _, copies := range []int{1, 2} {
		if err := mirrorPutFigure(ctx, rec, cfg.Dir, src, n, copies); err != nil {
			return rec.results, err
		}
	}
	if err := ecFigures(ctx, rec, cfg.Dir, src, n); err != nil {
		return rec.results, err
	}
	return rec.results, encodeFigures(ctx, rec, src, n)
}

// mirrorPutFigure puts n objects into a store/fs of two mountpaths whose
// bucket keeps copies of each.
func mirrorPutFigure(ctx context.Context, rec *recorder, dir string, src []byte, n int64, copies int) error {
	root := filepath.Join(dir, "mirror")
	defer os.RemoveAll(root)
	st, err := fs.Open(ctx, fs.Config{Mountpaths: []string{filepath.Join(root, "mp1"), filepath.Join(root, "mp2")}})
	if err != nil {
		return err
	}
	props := store.DefaultProps()
	name, note := "protection Put 1 MiB, plain", "one copy"
	if copies > 1 {
		props.Mirror = store.MirrorProps{Enabled: true, Copies: copies}
		name, note = fmt.Sprintf("protection Put 1 MiB, mirror %d", copies), fmt.Sprintf("%d copies on distinct mountpaths (one disk here), written in one pass", copies)
	}
	b := store.NewBucket("mirror")
	if err := st.CreateBucket(ctx, b, props); err != nil {
		return err
	}
	return rec.measure(ctx, figure{name: name, baseline: copiesWriteName(float64(copies)), bytes: n * protectionSize, ops: n, note: note}, func() error {
		for i := range n {
			if _, err := st.Put(ctx, b, objectName(i), bytes.NewReader(slice(src, i, protectionSize)), store.PutOptions{Size: protectionSize}); err != nil {
				return err
			}
		}
		return nil
	})
}

// fleet is targets in one process, each a store/fs wrapped by store/ec,
// reaching each other by calls rather than HTTP: the figures measure the
// storage and the coding, not the network.
type fleet struct {
	smap    *cluster.Map
	targets map[string]*ec.Store
	inner   map[string]*fs.Store
}

type fleetPeers struct {
	f    *fleet
	self cluster.Node
}

func (p fleetPeers) Self() cluster.Node { return p.self }
func (p fleetPeers) Map() *cluster.Map  { return p.f.smap }
func (p fleetPeers) SendPart(ctx context.Context, to cluster.Node, meta store.PartMeta, r io.Reader) error {
	return p.f.targets[to.ID].PutPart(ctx, meta, r)
}
func (p fleetPeers) PartsOf(ctx context.Context, from cluster.Node, b store.Bucket, name string) ([]store.PartMeta, error) {
	return p.f.targets[from.ID].PartsOf(ctx, b, name)
}
func (p fleetPeers) PartsOfMany(ctx context.Context, from cluster.Node, b store.Bucket, names []string) (map[string][]store.PartMeta, error) {
	return ec.PartsOfEach(names, func(name string) ([]store.PartMeta, error) { return p.PartsOf(ctx, from, b, name) })
}
func (p fleetPeers) OpenPart(ctx context.Context, from cluster.Node, b store.Bucket, name string, index int) (io.ReadCloser, store.PartMeta, error) {
	return p.f.targets[from.ID].OpenPart(ctx, b, name, index)
}
func (p fleetPeers) DeleteParts(ctx context.Context, on cluster.Node, b store.Bucket, name string, stamp store.Stamp) error {
	return p.f.targets[on.ID].DeleteParts(ctx, b, name, stamp)
}
func (p fleetPeers) DeleteWriteParts(ctx context.Context, on cluster.Node, b store.Bucket, name string, stamp store.Stamp) error {
	return p.f.targets[on.ID].DeleteWriteParts(ctx, b, name, stamp)
}
func (p fleetPeers) Ensure(ctx context.Context, on cluster.Node, b store.Bucket, names []string) error {
	return p.f.targets[on.ID].Ensure(ctx, b, names)
}

func newFleet(ctx context.Context, dir string, targets int, b store.Bucket, props store.Props) (*fleet, error) {
	f := &fleet{targets: map[string]*ec.Store{}, inner: map[string]*fs.Store{}}
	m := &cluster.Map{Version: 1, Primary: "g1", Nodes: []cluster.Node{{ID: "g1", Role: cluster.RoleGateway, URL: "http://127.0.0.1:1", State: cluster.StateActive}}}
	for i := range targets {
		node := cluster.Node{ID: fmt.Sprintf("t%d", i+1), Role: cluster.RoleTarget, URL: fmt.Sprintf("http://127.0.0.1:%d", 100+i), State: cluster.StateActive}
		m.Nodes = append(m.Nodes, node)
		inner, err := fs.Open(ctx, fs.Config{Mountpaths: []string{filepath.Join(dir, node.ID, "mp1")}})
		if err != nil {
			return nil, err
		}
		if err := inner.CreateBucket(ctx, b, props); err != nil {
			return nil, err
		}
		work := filepath.Join(dir, node.ID, "work")
		if err := os.MkdirAll(work, 0o755); err != nil {
			return nil, err
		}
		f.inner[node.ID] = inner
		f.targets[node.ID] = ec.Wrap(inner, fleetPeers{f, node}, ec.Options{
			Props:   func(x store.Bucket) (store.Props, bool) { return props, x.Normalize() == b.Normalize() },
			WorkDir: work,
		})
	}
	f.smap = m
	return f, nil
}

// owner returns the id of an object's owner.
func (f *fleet) owner(b store.Bucket, name string) (string, error) {
	o, err := f.smap.Owner(cluster.Uname(b.Provider, b.Name, name))
	return o.ID, err
}

// ecFigures: PUT into an EC 2+2 bucket of five targets, then a GET of
// each object, then a GET of each after its replica was removed.
func ecFigures(ctx context.Context, rec *recorder, dir string, src []byte, n int64) error {
	root := filepath.Join(dir, "ec")
	defer os.RemoveAll(root)
	b := store.NewBucket("coded")
	props := store.DefaultProps()
	props.EC = store.ECProps{Enabled: true, DataSlices: 2, ParitySlices: 2, ObjSizeLimit: 256 << 10}
	f, err := newFleet(ctx, root, 5, b, props)
	if err != nil {
		return err
	}
	owners := make([]string, n)
	for i := range n {
		if owners[i], err = f.owner(b, objectName(i)); err != nil {
			return err
		}
	}
	err = rec.measure(ctx, figure{name: "protection Put 1 MiB, EC 2+2", baseline: copiesWriteName(3), bounds: []string{"disk write 1 MiB + 4 × 512 KiB files, fsync each"}, bytes: n * protectionSize, ops: n,
		note: "5 targets in one process: the replica on the owner, 4 slices of 512 KiB on the others, all durable before the PUT returns"}, func() error {
		for i := range n {
			if _, err := f.targets[owners[i]].Put(ctx, b, objectName(i), bytes.NewReader(slice(src, i, protectionSize)), store.PutOptions{Size: protectionSize}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	buf := make([]byte, chunkSize)
	get := func() error {
		for i := range n {
			obj, err := f.targets[owners[i]].Open(ctx, b, objectName(i), store.OpenOptions{})
			if err != nil {
				return err
			}
			got, err := drainInto(obj, buf)
			obj.Close()
			if err != nil {
				return err
			}
			if err := expectSize(objectName(i), got, protectionSize); err != nil {
				return err
			}
		}
		return nil
	}
	const normalGet = "GET 1 MiB, EC 2+2, replica on disk"
	if err := rec.measure(ctx, figure{name: normalGet, bytes: n * protectionSize, ops: n, repeat: true, note: "Open+read on the owner, warm"}, get); err != nil {
		return err
	}
	for i := range n {
		if err := f.inner[owners[i]].Delete(ctx, b, objectName(i), store.DeleteOptions{KeepParts: true}); err != nil {
			return err
		}
	}
	return rec.measure(ctx, figure{name: "GET 1 MiB restored from 2+2 slices", baseline: normalGet, bytes: n * protectionSize, ops: n,
		note: "the replica gone: 2 slices read, decoded, verified, the replica stored again (fsync), then read"}, get)
}

// encodeFigures: the library encoding shards in place, then ec.Codec
// encoding each object, on the same bytes.
func encodeFigures(ctx context.Context, rec *recorder, src []byte, n int64) error {
	enc, err := reedsolomon.New(2, 2)
	if err != nil {
		return err
	}
	// Encoding is fast: more objects than the disk figures, so that the
	// time is not noise (a small run, a test's, keeps to a few more);
	// both walk the same 8 MiB of source.
	n = max(n, min(2048, 64*n))
	regions := srcSize / protectionSize
	sets := make([][][]byte, regions)
	for i := range sets {
		if sets[i], err = enc.Split(bytes.Clone(slice(src, int64(i), protectionSize))); err != nil {
			return err
		}
	}
	const library = "reedsolomon Encode 2+2, 1 MiB objects, the library alone"
	err = rec.measure(ctx, figure{name: library, bytes: n * protectionSize, ops: n, repeat: true, note: "parity of shards split beforehand, in place"}, func() error {
		for i := range n {
			if i%64 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if err := enc.Encode(sets[i%int64(regions)]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	codec, err := ec.NewCodec(ec.Layout{Data: 2, Parity: 2})
	if err != nil {
		return err
	}
	return rec.measure(ctx, figure{name: "EC encode 2+2, 1 MiB objects (ec.Codec.EncodeShared)", baseline: library, bytes: n * protectionSize, ops: n, repeat: true,
		note: "what a PUT does: data slices taken in place, the padded one and parity from a pool, parity computed"}, func() error {
		for i := range n {
			slices, release, err := codec.EncodeShared(slice(src, i, protectionSize))
			if err != nil {
				return err
			}
			n := len(slices)
			release()
			if n != 4 {
				return errors.New("ec.Codec gave the wrong number of slices")
			}
		}
		return nil
	})
}
