package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/datasets"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/store"
)

// copiesOnDisk counts the files of an object over every target's
// mountpaths.
func copiesOnDisk(c *gatewaytest.Cluster, bucket, name string) int {
	n := 0
	for _, t := range c.Targets() {
		for _, mp := range t.Store.Mountpaths() {
			if _, err := os.Stat(filepath.Join(mp, "ais", bucket, name)); err == nil {
				n++
			}
		}
	}
	return n
}

func waitJob(t *testing.T, client *api.Client, id string) api.ClusterJob {
	t.Helper()
	ctx := t.Context()
	j, err := client.WaitJob(ctx, id, 20*time.Millisecond)
	if err != nil {
		t.Fatalf("job %s: %v", id, err)
	}
	if len(j.Errors) > 0 {
		t.Fatalf("job %s: %v", id, j.Errors)
	}
	return j
}

func TestMakeNCopiesThroughTheAPI(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, Mountpaths: 3, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "m", nil); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		name := fmt.Sprintf("o%02d", i)
		if _, err := client.Put(ctx, "m", name, strings.NewReader(name), api.PutOptions{Size: int64(len(name))}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := client.MakeNCopies(ctx, "m", 4)
	var e *api.Error
	if !errors.As(err, &e) || e.Status != 400 || !strings.Contains(e.Message, "mirror.copies 4 is more than the 3 mountpaths") {
		t.Fatalf("more copies than mountpaths: %v", err)
	}
	for _, copies := range []int{2, 3, 1} {
		id, err := client.MakeNCopies(ctx, "m", copies)
		if err != nil {
			t.Fatal(err)
		}
		j := waitJob(t, client, id)
		if j.Kind != "make-n-copies" || j.Objects != 40 || len(j.Nodes) != 2 {
			t.Fatalf("make-n-copies %d: %+v", copies, j)
		}
		for i := range 40 {
			name := fmt.Sprintf("o%02d", i)
			if n := copiesOnDisk(c, "m", name); n != copies {
				t.Fatalf("copies=%d: %s has %d copies", copies, name, n)
			}
		}
		props, _ := client.BucketProps(ctx, "m")
		if props.Mirror.Copies != copies || props.Mirror.Enabled != (copies > 1) {
			t.Fatalf("props after make-n-copies %d: %+v", copies, props.Mirror)
		}
	}
	// A PUT writes its copies itself.
	if _, err := client.MakeNCopies(ctx, "m", 2); err != nil {
		t.Fatal(err)
	}
	client.Put(ctx, "m", "later", strings.NewReader("x"), api.PutOptions{Size: 1})
	if n := copiesOnDisk(c, "m", "later"); n != 2 {
		t.Fatalf("a PUT after make-n-copies 2 made %d copies", n)
	}
	loc, err := client.ObjectLocation(ctx, "m", "later")
	if err != nil || len(loc.Copies) != 2 || loc.Copies[0].Mountpath == loc.Copies[1].Mountpath || !loc.Copies[0].Current || !loc.Copies[1].Current {
		t.Fatalf("location of a mirrored object: %+v %v", loc, err)
	}
	if _, err := client.ObjectLocation(ctx, "m", "nothing"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("location of a missing object: %v", err)
	}
}

func TestErasureCodingThroughTheAPI(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 4, NoSync: true, KeepaliveTimeout: time.Second})
	client := c.Client()
	ctx := t.Context()
	var e *api.Error
	for _, bad := range []struct {
		props map[string]any
		field string
	}{
		{map[string]any{"enabled": true, "data_slices": 3, "parity_slices": 1}, "ec.data_slices + ec.parity_slices is 4: it needs 5 targets"},
		{map[string]any{"enabled": true, "data_slices": 0, "parity_slices": 1}, "ec.data_slices"},
		{map[string]any{"enabled": true, "data_slices": 2, "parity_slices": -1}, "ec.parity_slices"},
	} {
		err := client.CreateBucket(ctx, "bad", map[string]any{"ec": bad.props})
		if !errors.As(err, &e) || e.Status != 400 || !strings.Contains(e.Message, bad.field) {
			t.Fatalf("ec %v: %v, want 400 naming %s", bad.props, err, bad.field)
		}
	}
	if err := client.CreateBucket(ctx, "e", map[string]any{"ec": map[string]any{"enabled": true, "data_slices": 2, "parity_slices": 1, "objsize_limit": 1024}}); err != nil {
		t.Fatal(err)
	}
	err := client.SetBucketProps(ctx, "e", map[string]any{"ec": map[string]any{"parity_slices": 2}})
	if !errors.As(err, &e) || e.Status != 400 || !strings.Contains(e.Message, "cannot change") {
		t.Fatalf("a change of the layout: %v", err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	objects := map[string][]byte{}
	for i := range 30 {
		name := fmt.Sprintf("o%02d", i)
		data := make([]byte, rng.IntN(8000))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		objects[name] = data
		if _, err := client.Put(ctx, "e", name, bytes.NewReader(data), api.PutOptions{Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
	}
	// A large object is in 2+1 slices, each on a target other than the
	// owner; a small one is kept parity+1 times (the owner's and a replica).
	for name, data := range objects {
		loc, err := client.ObjectLocation(ctx, "e", name)
		if err != nil || len(loc.Copies) != 1 {
			t.Fatalf("location of %s: %+v %v", name, loc, err)
		}
		want, replica := 3, false
		if len(data) < 1024 {
			want, replica = 1, true
		}
		targets := map[string]bool{loc.Target: true}
		for _, p := range loc.Parts {
			targets[p.Target] = true
			if p.Replica != replica {
				t.Fatalf("%s of %d bytes: part %+v", name, len(data), p)
			}
		}
		if len(loc.Parts) != want || len(targets) != want+1 {
			t.Fatalf("%s of %d bytes: parts %+v, want %d on distinct targets", name, len(data), loc.Parts, want)
		}
	}
	// A target dies: its objects are rebuilt from their parts.
	victim := c.Targets()[1]
	m := c.Primary().Node.Map()
	lost := 0
	for name := range objects {
		if owner, _ := m.Owner(cluster.Uname("ais", "e", name)); owner.ID == victim.Node.ID() {
			lost++
		}
	}
	if lost == 0 {
		t.Fatal("the victim owns no object: the test tests nothing")
	}
	c.Kill(victim)
	c.WaitForState(victim.Node.ID(), cluster.StateOffline)
	for name, data := range objects {
		got, err := client.GetBytes(ctx, "e", name, api.GetOptions{Validate: true})
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s with a target down: %d bytes, %v", name, len(got), err)
		}
	}
	restores := 0.0
	for _, tg := range c.Targets() {
		restores += gatewaytest.Scrape(t, tg.URL()).Value("ais_repairs_total", "kind", "ec")
	}
	if int(restores) != lost {
		t.Fatalf("%v objects rebuilt from parts, %d were on the dead target", restores, lost)
	}
	// A scrub counts every object once; none is corrupt.
	id, err := client.Scrub(ctx, "e", false)
	if err != nil {
		t.Fatal(err)
	}
	report, err := api.ScrubReport(waitJob(t, client, id))
	if err != nil || report.Corrupt != 0 || report.Unrecoverable != 0 || report.Parts == 0 {
		t.Fatalf("scrub: %+v %v", report, err)
	}
	// The dead target is removed: its objects are restored from parts
	// on their new owners (an ec-resilver).
	if err := client.RemoveNode(ctx, victim.Node.ID()); err != nil {
		t.Fatal(err)
	}
	c.WaitRebalance(c.WaitForMap(4).Version)
	// Erasure coding turned off, refused while the resilver the removal
	// started runs (parts may be the only copy of what it restores),
	// done once it ended: its parts go (left, they would bring back what
	// is deleted while it is off once it is on again).
	turnECOffWhenAdmitted(t, client, "e")
	jobs, err := client.Jobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(jobs, func(j api.ClusterJob) bool { return j.Kind == "ec-cleanup" })
	if i < 0 {
		t.Fatalf("no ec-cleanup job after EC was turned off: %+v", jobs)
	}
	if j := waitJob(t, client, jobs[i].ID); len(j.Errors) > 0 {
		t.Fatalf("ec-cleanup: %v", j.Errors)
	}
	for name := range objects {
		loc, err := client.ObjectLocation(ctx, "e", name)
		if err != nil || len(loc.Parts) != 0 {
			t.Fatalf("%s after EC was turned off: %+v %v", name, loc, err)
		}
	}
}

// A delete by prefix takes an erasure-coded object whose owner lost its
// replica (parts alone until restored): no target lists it, and left, its
// parts would bring it back at the next read.
func TestDeleteByPrefixTakesObjectsHeldAsPartsAlone(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 4, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "e", map[string]any{"ec": map[string]any{"enabled": true, "data_slices": 2, "parity_slices": 1, "objsize_limit": 1024}}); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("slices "), 1000)
	for i := range 6 {
		if _, err := client.Put(ctx, "e", fmt.Sprintf("d/o%d", i), bytes.NewReader(data), api.PutOptions{Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
	}
	// The owner of d/o0 loses its replica (a disk gone, not swept yet).
	owner, _ := c.Primary().Node.Map().Owner(cluster.Uname("ais", "e", "d/o0"))
	for _, tg := range c.Targets() {
		if tg.Node.ID() == owner.ID {
			if err := tg.Store.Delete(ctx, store.NewBucket("e"), "d/o0", store.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A sweep as of a time before the objects were written leaves them:
	// what was written after a job began is not the job's.
	for _, tg := range c.Targets() {
		if _, err := gateway.DeletePartsOnlyByPrefix(ctx, tg.Node, store.NewBucket("e"), "d/", store.Stamp{Map: 1, Clock: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := client.GetBytes(ctx, "e", "d/o0", api.GetOptions{}); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("d/o0 after a sweep as of before it was written: %d bytes, %v", len(got), err)
	}
	// (Read, it is whole again: its replica is lost once more.)
	for _, tg := range c.Targets() {
		if tg.Node.ID() == owner.ID {
			if err := tg.Store.Delete(ctx, store.NewBucket("e"), "d/o0", store.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	id, err := client.DeleteObjects(ctx, "e", api.ListRange{Template: "d/"})
	if err != nil {
		t.Fatal(err)
	}
	if j := waitJob(t, client, id); len(j.Errors) > 0 {
		t.Fatalf("delete by prefix: %v", j.Errors)
	}
	for i := range 6 {
		name := fmt.Sprintf("d/o%d", i)
		if _, err := client.GetBytes(ctx, "e", name, api.GetOptions{}); !errors.Is(err, api.ErrNotFound) {
			t.Errorf("%s after the delete by prefix: %v, want not found", name, err)
		}
		if loc, err := client.ObjectLocation(ctx, "e", name); err == nil && len(loc.Parts) != 0 {
			t.Errorf("%s after the delete by prefix keeps parts %+v", name, loc.Parts)
		}
	}
}

// A disk lost on a target (its mountpath disabled) takes the parts and
// replicas erasure coding kept there: every target sweeps again, and
// each object is back to its copy and all its parts.
func TestLostMountpathGetsItsPartsBack(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 4, Mountpaths: 2, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "e", map[string]any{"ec": map[string]any{"enabled": true, "data_slices": 2, "parity_slices": 1, "objsize_limit": 1024}}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2, 2))
	objects := map[string][]byte{}
	for i := range 40 {
		name := fmt.Sprintf("o%02d", i)
		data := make([]byte, 500+rng.IntN(4000))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		objects[name] = data
		if _, err := client.Put(ctx, "e", name, bytes.NewReader(data), api.PutOptions{Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
	}
	// whole reports whether every object has its copy and all its parts.
	whole := func() (bool, string) {
		for name, data := range objects {
			loc, err := client.ObjectLocation(ctx, "e", name)
			want := 3
			if len(data) < 1024 {
				want = 1
			}
			if err != nil || len(loc.Copies) != 1 || len(loc.Parts) != want {
				return false, fmt.Sprintf("%s: %d copies, %d parts of %d (%v)", name, len(loc.Copies), len(loc.Parts), want, err)
			}
		}
		return true, ""
	}
	if ok, why := whole(); !ok {
		t.Fatalf("before the loss: %s", why)
	}
	victim := c.Targets()[1]
	mps, err := client.Mountpaths(ctx, victim.URL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.MountpathAction(ctx, victim.URL(), api.ActionDisableMountpath, mps[0].Path); err != nil {
		t.Fatal(err)
	}
	// The disk is gone: what was on it with it.
	if err := os.RemoveAll(mps[0].Path); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, why := whole()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30s after target %s lost a mountpath: %s", victim.URL(), why)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for name, data := range objects {
		if got, err := client.GetBytes(ctx, "e", name, api.GetOptions{Validate: true}); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s after the loss: %d bytes, %v", name, len(got), err)
		}
	}
}

func TestMountpathsThroughTheAPI(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, Mountpaths: 2, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	target := c.Targets()[0]
	mps, err := client.Mountpaths(ctx, target.URL())
	if err != nil || len(mps) != 2 || mps[0].State != "enabled" {
		t.Fatalf("mountpaths: %+v %v", mps, err)
	}
	var e *api.Error
	// Only the node's own directories may be attached.
	if _, err := client.MountpathAction(ctx, target.URL(), api.ActionAttachMountpath, "/etc"); !errors.As(err, &e) || e.Status != 400 {
		t.Fatalf("attach /etc: %v", err)
	}
	if _, err := client.MountpathAction(ctx, target.URL(), api.ActionDisableMountpath, "/nowhere"); !errors.Is(err, store.ErrMountpath) && !errors.As(err, &e) {
		t.Fatalf("disable an unknown mountpath: %v", err)
	}
	fresh := filepath.Join(target.Dir, "mp9")
	if _, err := client.MountpathAction(ctx, target.URL(), api.ActionAttachMountpath, fresh); err != nil {
		t.Fatal(err)
	}
	client.CreateBucket(ctx, "b", nil)
	for i := range 20 {
		client.Put(ctx, "b", fmt.Sprintf("o%d", i), strings.NewReader("data"), api.PutOptions{Size: 4})
	}
	id, err := client.MountpathAction(ctx, target.URL(), api.ActionDetachMountpath, mps[0].Path)
	if err != nil || id == "" {
		t.Fatalf("detach: %q %v", id, err)
	}
	waitJob(t, client, id)
	for i := range 20 {
		if got, err := client.GetBytes(ctx, "b", fmt.Sprintf("o%d", i), api.GetOptions{}); err != nil || string(got) != "data" {
			t.Fatalf("o%d after the detach: %v", i, err)
		}
	}
	if mps, _ = client.Mountpaths(ctx, target.URL()); len(mps) != 2 {
		t.Fatalf("after attach and detach: %+v", mps)
	}
	// A detach its job would fail at once is refused before it starts:
	// no job id for a mistyped path, or for the last enabled mountpath.
	if id, err := client.MountpathAction(ctx, target.URL(), api.ActionDetachMountpath, filepath.Join(target.Dir, "mp-typo")); !errors.As(err, &e) || e.Status != 400 || !strings.Contains(e.Message, "not a mountpath") {
		t.Fatalf("detach of a path that is no mountpath: %q %v", id, err)
	}
	if _, err := client.MountpathAction(ctx, target.URL(), api.ActionDisableMountpath, fresh); err != nil {
		t.Fatal(err)
	}
	last := mps[0].Path
	if last == fresh {
		last = mps[1].Path
	}
	if id, err := client.MountpathAction(ctx, target.URL(), api.ActionDetachMountpath, last); !errors.As(err, &e) || e.Status != 400 || !strings.Contains(e.Message, "last enabled") {
		t.Fatalf("detach of the last enabled mountpath: %q %v", id, err)
	}
}

// A mountpath disabled when its target stopped comes back after the
// restart returning, its stale copies unread, and the resilver the
// target starts enables it.
func TestReturningMountpathAfterRestart(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, Mountpaths: 2, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	target := c.Targets()[0]
	mps, err := client.Mountpaths(ctx, target.URL())
	if err != nil || len(mps) != 2 {
		t.Fatalf("mountpaths: %+v %v", mps, err)
	}
	away := mps[1].Path
	client.CreateBucket(ctx, "b", nil)
	for i := range 20 {
		client.Put(ctx, "b", fmt.Sprintf("o%d", i), strings.NewReader("old"), api.PutOptions{Size: 3})
	}
	if _, err := client.MountpathAction(ctx, target.URL(), api.ActionDisableMountpath, away); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := client.Put(ctx, "b", fmt.Sprintf("o%d", i), strings.NewReader("new"), api.PutOptions{Size: 3}); err != nil {
			t.Fatal(err)
		}
	}
	c.Kill(target)
	c.WaitForState(target.Node.ID(), cluster.StateOffline)
	target = c.Restart(target)
	c.WaitForState(target.Node.ID(), cluster.StateActive)
	deadline := time.Now().Add(20 * time.Second)
	for {
		mps, err = client.Mountpaths(ctx, target.URL())
		if err == nil && len(mps) == 2 && mps[0].State == "enabled" && mps[1].State == "enabled" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mountpaths after the restart: %+v %v", mps, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := range 20 {
		if got, err := client.GetBytes(ctx, "b", fmt.Sprintf("o%d", i), api.GetOptions{}); err != nil || string(got) != "new" {
			t.Fatalf("o%d after the restart: %q %v", i, got, err)
		}
	}
}

// A part sent to a target whose disks are past out_of_space is refused
// with 507, as an object would be.
func TestPartRefusedPastOutOfSpace(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	// Any disk with anything on it is past 3%.
	if _, err := client.SetClusterConfig(ctx, map[string]any{"space": map[string]any{"lowwm": 1, "highwm": 2, "out_of_space": 3}}); err != nil {
		t.Fatal(err)
	}
	target := c.Targets()[0]
	data := []byte("a part")
	h, _ := store.NewHash(store.ChecksumXXHash)
	h.Write(data)
	meta := store.PartMeta{Bucket: store.NewBucket("b"), Name: "o", Index: 0, Replica: true, Data: 1, Parity: 1, ObjectSize: 6, SliceSize: 6,
		Checksum: store.ChecksumOf(store.ChecksumXXHash, h), PartChecksum: store.ChecksumOf(store.ChecksumXXHash, h), Stamp: store.Stamp{Map: 1, Clock: 1}}
	header, err := peer.EncodePart(meta)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, target.URL()+peer.PartsPath(meta.Bucket, meta.Name), bytes.NewReader(data))
		req.Header.Set(peer.HeaderPart, header)
		resp, err := c.PeerClient(c.Primary().Node.ID()).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusInsufficientStorage && strings.Contains(string(body), "out_of_space") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a part past out_of_space: %s %s", resp.Status, body)
		}
		time.Sleep(50 * time.Millisecond) // the config reaches the target
	}
}

// Every cluster job names its targets: a target that does not answer is
// then an error of the job (its part unknown), not a part left out of a
// job reported done.
func TestClusterJobsNameTheirTargets(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	id, err := client.Scrub(ctx, "b", false)
	if err != nil {
		t.Fatal(err)
	}
	j, err := client.WaitJob(ctx, id, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{c.Targets()[0].Node.ID(), c.Targets()[1].Node.ID()}
	slices.Sort(want)
	for node, part := range j.Nodes {
		got := slices.Sorted(slices.Values(part.Targets))
		if !slices.Equal(got, want) {
			t.Fatalf("target %s's part of scrub %s names targets %v, want %v", node, id, got, want)
		}
	}
	if len(j.Nodes) != 2 {
		t.Fatalf("scrub %s ran on %d targets", id, len(j.Nodes))
	}
}

// An attach may not lead out of the node's directories by a symlink, nor
// take its metadata directory (its Raft log and secrets) as a mountpath.
func TestAttachStaysInTheNodesDirectories(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		if len(cfg.MountpathRoots) > 0 {
			cfg.StateDir = filepath.Join(cfg.MountpathRoots[0], "meta")
		}
	}})
	client := c.Client()
	ctx := t.Context()
	target := c.Targets()[0]
	outside := t.TempDir()
	link := filepath.Join(target.Dir, "link")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(target.Dir, "meta"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{link, filepath.Join(link, "mp"), filepath.Join(target.Dir, "meta"), filepath.Join(target.Dir, "meta", "raft"), target.Dir} {
		var e *api.Error
		if _, err := client.MountpathAction(ctx, target.URL(), api.ActionAttachMountpath, path); !errors.As(err, &e) || e.Status != 400 {
			t.Errorf("attach %s: %v, want 400", path, err)
		}
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("an attach wrote outside the node's directories: %v", entries)
	}
}

// Mirroring changed again while its make-n-copies runs: the job of the
// older count goes (it would cut the copies PUTs now make), the change is
// not refused as busy, and the copies end as the last change says.
func TestMirroringChangedWhileItsJobRuns(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, Mountpaths: 3, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "m", nil); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		name := fmt.Sprintf("o%03d", i)
		if _, err := client.Put(ctx, "m", name, strings.NewReader(name), api.PutOptions{Size: int64(len(name))}); err != nil {
			t.Fatal(err)
		}
	}
	// Through set-bprops (make-n-copies itself is refused while one runs,
	// before it changes anything): the props change, and so must the job.
	for _, copies := range []int{3, 2, 3, 2, 3} {
		if err := client.SetBucketProps(ctx, "m", map[string]any{"mirror": map[string]any{"enabled": copies > 1, "copies": copies}}); err != nil {
			t.Fatalf("mirror.copies %d right after another change: %v", copies, err)
		}
	}
	eventually(t, func() bool {
		jobs, err := client.Jobs(ctx)
		if err != nil {
			return false
		}
		for _, j := range jobs {
			if j.Kind == "make-n-copies" && j.Running {
				return false
			}
		}
		return true
	}, "make-n-copies jobs still run")
	for i := range 300 {
		name := fmt.Sprintf("o%03d", i)
		if n := copiesOnDisk(c, "m", name); n != 3 {
			t.Fatalf("%s has %d copies after the last change to 3", name, n)
		}
	}
}

// A summary of an erasure-coded bucket counts its slices on disk: the
// object once, and on_disk the object and its 3 slices of half of it.
func TestSummaryOfAnECBucketCountsItsSlices(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 4, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "e", map[string]any{"ec": map[string]any{"enabled": true, "data_slices": 2, "parity_slices": 1}}); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("erasure-coded "), 1000) // 14000 bytes: slices of 7000
	if _, err := client.Put(ctx, "e", "o", bytes.NewReader(data), api.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	sums, err := client.BucketSummary(ctx, "e", api.SummaryMessage{}, 20*time.Millisecond)
	if err != nil || len(sums) != 1 {
		t.Fatalf("summary: %+v %v", sums, err)
	}
	if s := sums[0]; int64(s.ObjCount.Present) != 1 || int64(s.TotalSize.PresentObjs) != 14000 || int64(s.TotalSize.OnDisk) != 14000+3*7000 {
		t.Fatalf("summary of an EC bucket: %d objects, %d bytes, %d on disk; want 1, 14000, %d", s.ObjCount.Present, s.TotalSize.PresentObjs, s.TotalSize.OnDisk, 14000+3*7000)
	}
}

// A scrub's repair removes a bad part on its holder, and has the object's
// owner store it again: the object keeps its redundancy.
func TestScrubRepairStoresABadPartAgain(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 4, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "e", map[string]any{"ec": map[string]any{"enabled": true, "data_slices": 2, "parity_slices": 1}}); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("erasure-coded "), 1000)
	if _, err := client.Put(ctx, "e", "o", bytes.NewReader(data), api.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	loc, err := client.ObjectLocation(ctx, "e", "o")
	if err != nil || len(loc.Parts) != 3 {
		t.Fatalf("location: %+v %v", loc, err)
	}
	holder := loc.Parts[0].Target
	var partFile string
	for _, m := range c.Targets() {
		if m.Node.ID() != holder {
			continue
		}
		filepath.WalkDir(m.Dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.Contains(p, "/.ais/parts/") {
				partFile = p
			}
			return nil
		})
	}
	if partFile == "" {
		t.Fatalf("no part file on target %s", holder)
	}
	f, err := os.OpenFile(partFile, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("rot"), 10)
	f.Close()
	id, err := client.Scrub(ctx, "e", true)
	if err != nil {
		t.Fatal(err)
	}
	j := waitJob(t, client, id)
	// (Its report says it repaired: a wait on the job reads the found
	// counts as repaired, not as repairs needed.)
	if report, err := api.ScrubReport(j); err != nil || report.BadParts != 1 || !report.Repair || len(j.Errors) != 0 {
		t.Fatalf("scrub with repair: %+v %v %v", report, err, j.Errors)
	}
	loc, err = client.ObjectLocation(ctx, "e", "o")
	if err != nil || len(loc.Parts) != 3 {
		t.Fatalf("location after the repair: %+v %v, want its 3 parts", loc, err)
	}
	// And they are good: a second scrub finds none bad.
	id, err = client.Scrub(ctx, "e", false)
	if err != nil {
		t.Fatal(err)
	}
	if report, err := api.ScrubReport(waitJob(t, client, id)); err != nil || report.BadParts != 0 || report.Parts != 3 || report.Repair {
		t.Fatalf("scrub after the repair: %+v %v", report, err)
	}
}

// Mirroring and erasure coding set by one change start both their jobs
// (only the first did: the objects stored before had no parts, the
// bucket said EC on).
func TestOneChangeOfMirrorAndECStartsBothJobs(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, Mountpaths: 2, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "both", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(ctx, "both", "before", strings.NewReader("data"), api.PutOptions{Size: 4}); err != nil {
		t.Fatal(err)
	}
	if err := client.SetBucketProps(ctx, "both", map[string]any{"mirror": map[string]any{"enabled": true, "copies": 2},
		"ec": map[string]any{"enabled": true, "data_slices": 1, "parity_slices": 1}}); err != nil {
		t.Fatal(err)
	}
	jobs, err := client.Jobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"make-n-copies", "ec-encode"} {
		i := slices.IndexFunc(jobs, func(j api.ClusterJob) bool { return j.Kind == kind })
		if i < 0 {
			t.Fatalf("no %s job after one change set mirroring and EC: %+v", kind, jobs)
		}
		if j := waitJob(t, client, jobs[i].ID); len(j.Errors) > 0 {
			t.Fatalf("%s: %v", kind, j.Errors)
		}
	}
	if loc, err := client.ObjectLocation(ctx, "both", "before"); err != nil || len(loc.Parts) == 0 {
		t.Fatalf("the object stored before the change: %+v %v, want parts", loc, err)
	}
}

// A target back from a restart sweeps its erasure-coded parts (a delete
// made while it was down could not drop them): an ec-resilver runs on it.
func TestRestartedTargetSweepsItsParts(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "coded", map[string]any{"ec": map[string]any{"enabled": true, "data_slices": 1, "parity_slices": 1}}); err != nil {
		t.Fatal(err)
	}
	target := c.Targets()[2]
	c.Kill(target)
	restarted := c.Restart(target)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		status, err := client.ClusterStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, node := range status.Nodes {
			for _, j := range node.Jobs {
				if node.ID == restarted.Node.ID() && j.Kind == "ec-resilver" {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no ec-resilver ran on the restarted target")
		}
	}
}

// A target answers which parts of many objects it keeps, in one request
// of at most peer.MaxPartsQuery names: the targets together keep every
// part of each object, and a query past the bound is refused.
func TestPartsOfManyAnswersEachTargetsParts(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "coded", map[string]any{"ec": map[string]any{"enabled": true, "data_slices": 1, "parity_slices": 1}}); err != nil {
		t.Fatal(err)
	}
	names := []string{"a", "b/c", "d"}
	for _, name := range names {
		if _, err := client.Put(ctx, "coded", name, strings.NewReader(name+" bytes"), api.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	peers := peer.NewClient(peer.ClientConfig{Auth: peer.NewAuth(c.Secret(), peer.Options{}), Node: c.Primary().Node.ID()})
	b := store.NewBucket("coded")
	count := map[string]int{}
	for _, tg := range c.Targets() {
		kept, err := peers.PartsOfMany(ctx, cluster.Node{ID: tg.Node.ID(), Role: cluster.RoleTarget, URL: tg.URL()}, b, append(names, "never-put"), 0)
		if err != nil {
			t.Fatal(err)
		}
		for name, metas := range kept {
			count[name] += len(metas)
		}
	}
	if count["a"] != 2 || count["b/c"] != 2 || count["d"] != 2 || count["never-put"] != 0 {
		t.Fatalf("parts kept over the targets: %v, want 2 of each object put", count)
	}
	many := make([]string, peer.MaxPartsQuery+1)
	for i := range many {
		many[i] = fmt.Sprintf("o-%d", i)
	}
	body, _ := json.Marshal(many)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.Targets()[0].URL()+peer.PartsOfManyPath(b), bytes.NewReader(body))
	resp, err := c.PeerClient(c.Primary().Node.ID()).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a query of %d names: %s, want 400", len(many), resp.Status)
	}
}

// A delete of one write's parts over the peer protocol takes those of
// its stamp only: the parts of other versions stay.
func TestDeleteOfOneWritesPartsKeepsOthers(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "coded", map[string]any{"ec": map[string]any{"enabled": true, "data_slices": 1, "parity_slices": 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(ctx, "coded", "o", strings.NewReader("coded bytes"), api.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	peers := peer.NewClient(peer.ClientConfig{Auth: peer.NewAuth(c.Secret(), peer.Options{}), Node: c.Primary().Node.ID()})
	b := store.NewBucket("coded")
	var holder cluster.Node
	var kept store.PartMeta
	for _, tg := range c.Targets() {
		node := cluster.Node{ID: tg.Node.ID(), Role: cluster.RoleTarget, URL: tg.URL()}
		if metas, err := peers.PartsOf(ctx, node, b, "o", 0); err == nil && len(metas) == 1 {
			holder, kept = node, metas[0]
		}
	}
	if holder.ID == "" {
		t.Fatal("no target holds the object's part")
	}
	newer := store.Stamp{Map: kept.Stamp.Map, Clock: kept.Stamp.Clock + 1}
	if err := peers.DeleteWriteParts(ctx, holder, b, "o", newer); err != nil {
		t.Fatal(err)
	}
	if metas, err := peers.PartsOf(ctx, holder, b, "o", 0); err != nil || len(metas) != 1 {
		t.Fatalf("after a delete of a newer write's parts: %+v %v, want the part kept", metas, err)
	}
	if err := peers.DeleteWriteParts(ctx, holder, b, "o", kept.Stamp); err != nil {
		t.Fatal(err)
	}
	if metas, err := peers.PartsOf(ctx, holder, b, "o", 0); err != nil || len(metas) != 0 {
		t.Fatalf("after a delete of its write's parts: %+v %v, want none", metas, err)
	}
	if err := peers.DeleteWriteParts(ctx, holder, b, "o", store.Stamp{}); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("a delete of one write's parts without a stamp: %v, want a bad request", err)
	}
}

// A peer's removal whose stamp is far ahead of the target's clock or map
// is refused: its tombstones would refuse every write of their names.
func TestRemovalWithAStampFarAheadIsRefused(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	peers := peer.NewClient(peer.ClientConfig{Auth: peer.NewAuth(c.Secret(), peer.Options{}), Node: c.Primary().Node.ID()})
	tg := c.Targets()[0]
	node := cluster.Node{ID: tg.Node.ID(), Role: cluster.RoleTarget, URL: tg.URL()}
	version := c.WaitForMap(2).Version
	for _, stamp := range []store.Stamp{
		{Map: version, Clock: time.Now().Add(48 * time.Hour).UnixNano()},
		{Map: 1 << 60, Clock: time.Now().UnixNano()},
	} {
		if _, err := peers.Remove(ctx, node, store.NewBucket("b"), peer.RemoveRequest{Names: []string{"x"}, Stamp: stamp}); !errors.Is(err, api.ErrBadRequest) {
			t.Fatalf("a removal stamped %+v: %v, want refused", stamp, err)
		}
	}
	if _, err := client.Put(ctx, "b", "x", strings.NewReader("x"), api.PutOptions{Size: 1}); err != nil {
		t.Fatalf("a PUT of the name after the refused removals: %v", err)
	}
	if _, err := peers.Remove(ctx, node, store.NewBucket("b"), peer.RemoveRequest{Names: []string{"x"}, Stamp: store.Stamp{Map: version, Clock: time.Now().UnixNano()}}); err != nil {
		t.Fatalf("a removal stamped now: %v", err)
	}
}

// A target away when erasure coding was turned off (it missed the
// ec-cleanup) drops the bucket's parts it keeps once it is back.
func TestTargetBackDropsThePartsOfItsMissedCleanup(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true, KeepaliveTimeout: time.Second})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "coded", map[string]any{"ec": map[string]any{"enabled": true, "data_slices": 1, "parity_slices": 1}}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		name := fmt.Sprintf("o%02d", i)
		if _, err := client.Put(ctx, "coded", name, strings.NewReader(name), api.PutOptions{Size: int64(len(name))}); err != nil {
			t.Fatal(err)
		}
	}
	parts := func(m *gatewaytest.Member) (count int) {
		if err := m.Store.WalkParts(ctx, store.NewBucket("coded"), func(store.PartMeta) error { count++; return nil }); err != nil {
			t.Fatal(err)
		}
		return count
	}
	victim := c.Targets()[2]
	if parts(victim) == 0 {
		t.Fatal("the target keeps no part: the test tests nothing")
	}
	c.Kill(victim)
	c.WaitForState(victim.Node.ID(), cluster.StateOffline)
	// Refused while it is offline: if it never came back, what it owned
	// would be restored from the parts the cleanup drops.
	err := client.SetBucketProps(ctx, "coded", map[string]any{"ec": map[string]any{"enabled": false}})
	if !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), victim.Node.ID()+" is offline") {
		t.Fatalf("EC off with a target offline: %v, want 409 naming it", err)
	}
	// A target can still miss the cleanup (it died as the job started):
	// let one through, as that would.
	defer gateway.LetECOffPastOffline()()
	turnECOffWhenAdmitted(t, client, "coded")
	back := c.Restart(victim)
	eventually(t, func() bool { return parts(back) == 0 }, "the target back kept the parts of a bucket no longer erasure-coded")
	for i := range 20 {
		name := fmt.Sprintf("o%02d", i)
		if got, err := client.GetBytes(ctx, "coded", name, api.GetOptions{}); err != nil || string(got) != name {
			t.Fatalf("%s after the cleanup: %q %v", name, got, err)
		}
	}
}

// A target down while a bucket's mirroring changed misses the gateway's
// make-n-copies: back, it runs its own, for the change either way.
func TestTargetBackMakesTheCopiesOfAMirroringChangeItMissed(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, Mountpaths: 2, NoSync: true, KeepaliveTimeout: time.Second})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "m", nil); err != nil {
		t.Fatal(err)
	}
	victim := c.Targets()[2]
	var held []string
	for i := range 30 {
		name := fmt.Sprintf("o%02d", i)
		if _, err := client.Put(ctx, "m", name, strings.NewReader(name), api.PutOptions{Size: int64(len(name))}); err != nil {
			t.Fatal(err)
		}
		loc, err := client.ObjectLocation(ctx, "m", name)
		if err != nil {
			t.Fatal(err)
		}
		if loc.Target == victim.Node.ID() {
			held = append(held, name)
		}
	}
	if len(held) == 0 {
		t.Fatal("the target holds no object: the test tests nothing")
	}
	copiesAre := func(m *gatewaytest.Member, want int) bool {
		for _, name := range held {
			copies, err := m.Store.Copies(ctx, store.NewBucket("m"), name)
			if err != nil {
				t.Fatal(err)
			}
			if len(copies) != want {
				return false
			}
		}
		return true
	}
	if !copiesAre(victim, 1) {
		t.Fatal("objects of an unmirrored bucket have more than one copy")
	}
	mirrorWhileDown := func(m *gatewaytest.Member, mirror map[string]any) *gatewaytest.Member {
		t.Helper()
		c.Kill(m)
		c.WaitForState(m.Node.ID(), cluster.StateOffline)
		if err := client.SetBucketProps(ctx, "m", map[string]any{"mirror": mirror}); err != nil {
			t.Fatal(err)
		}
		return c.Restart(m)
	}
	back := mirrorWhileDown(victim, map[string]any{"enabled": true, "copies": 2})
	eventually(t, func() bool { return copiesAre(back, 2) }, "the target back kept one copy of the objects of a bucket mirrored while it was down")
	back = mirrorWhileDown(back, map[string]any{"enabled": false})
	eventually(t, func() bool { return copiesAre(back, 1) }, "the target back kept two copies of the objects of a bucket no longer mirrored")
	for i := range 30 {
		name := fmt.Sprintf("o%02d", i)
		if got, err := client.GetBytes(ctx, "m", name, api.GetOptions{}); err != nil || string(got) != name {
			t.Fatalf("%s after the copies changed: %q %v", name, got, err)
		}
	}
}

// The debt of a missed mirroring change outlives a restart in the middle
// of the make-n-copies that pays it (the bucket metadata saved by then
// shows no change any more).
func TestMissedCopiesOutliveARestartMidway(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, Mountpaths: 2, NoSync: true, KeepaliveTimeout: time.Second})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "m", nil); err != nil {
		t.Fatal(err)
	}
	victim := c.Targets()[1]
	var held []string
	for i := range 20 {
		name := fmt.Sprintf("o%02d", i)
		if _, err := client.Put(ctx, "m", name, strings.NewReader(name), api.PutOptions{Size: int64(len(name))}); err != nil {
			t.Fatal(err)
		}
		if loc, err := client.ObjectLocation(ctx, "m", name); err != nil {
			t.Fatal(err)
		} else if loc.Target == victim.Node.ID() {
			held = append(held, name)
		}
	}
	if len(held) == 0 {
		t.Fatal("the target holds no object: the test tests nothing")
	}
	c.Kill(victim)
	c.WaitForState(victim.Node.ID(), cluster.StateOffline)
	if err := client.SetBucketProps(ctx, "m", map[string]any{"mirror": map[string]any{"enabled": true, "copies": 2}}); err != nil {
		t.Fatal(err)
	}
	waiting, restore := gateway.HoldMakeCopies(victim.Node.ID())
	back := c.Restart(victim)
	select {
	case <-waiting:
	case <-time.After(30 * time.Second):
		restore()
		t.Fatal("the target back started no make-n-copies")
	}
	c.Kill(back)
	restore()
	back = c.Restart(back)
	eventually(t, func() bool {
		for _, name := range held {
			copies, err := back.Store.Copies(ctx, store.NewBucket("m"), name)
			if err != nil {
				t.Fatal(err)
			}
			if len(copies) != 2 {
				return false
			}
		}
		return true
	}, "a restart in the middle of the make-n-copies owed forgot it")
}

// EC turned on again while the cleanup of when it was off still runs:
// the encode waits for the cleanup to end (it used to abort it, leaving
// parts that restore objects deleted while EC was off), then protects.
func TestECEncodeWaitsForTheCleanup(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "e", map[string]any{"ec": map[string]any{"enabled": true, "data_slices": 1, "parity_slices": 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(ctx, "e", "kept", bytes.NewReader(bytes.Repeat([]byte("k"), 5000)), api.PutOptions{Size: 5000}); err != nil {
		t.Fatal(err)
	}
	jobOf := func(kind string) api.ClusterJob {
		t.Helper()
		jobs, err := client.Jobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			if j.Kind == kind && j.Running {
				return j
			}
		}
		for _, j := range jobs {
			if j.Kind == kind {
				return j
			}
		}
		t.Fatalf("no %s job: %+v", kind, jobs)
		return api.ClusterJob{}
	}
	turnECOffWhenAdmitted(t, client, "e")
	waitJob(t, client, jobOf("ec-cleanup").ID)
	// A cleanup still under way on one target.
	release := make(chan struct{})
	aborted := make(chan struct{})
	_, err := gateway.StartJob(ctx, c.Targets()[0].Node, "ec-cleanup", store.NewBucket("e"), func(ctx context.Context) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			close(aborted)
			return ctx.Err()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.SetBucketProps(ctx, "e", map[string]any{"ec": map[string]any{"enabled": true}}); err != nil {
		t.Fatal(err)
	}
	encode := jobOf("ec-encode")
	time.Sleep(1500 * time.Millisecond)
	select {
	case <-aborted:
		t.Fatal("the encode aborted the cleanup")
	default:
	}
	if loc, err := client.ObjectLocation(ctx, "e", "kept"); err != nil || len(loc.Parts) != 0 {
		t.Fatalf("parts made while the cleanup ran: %+v %v", loc, err)
	}
	close(release)
	waitJob(t, client, encode.ID)
	if loc, err := client.ObjectLocation(ctx, "e", "kept"); err != nil || len(loc.Parts) == 0 {
		t.Fatalf("no parts after the encode: %+v %v", loc, err)
	}
}

// EC turned off while an ec-cleanup of when it was off before still runs:
// the new cleanup replaces it (it was refused as busy, and the parts of
// the writes made while EC was on again were never removed).
func TestECCleanupReplacesARunningOne(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "e", map[string]any{"ec": map[string]any{"enabled": true, "data_slices": 1, "parity_slices": 1}}); err != nil {
		t.Fatal(err)
	}
	replaced := make(chan struct{})
	_, err := gateway.StartJob(ctx, c.Targets()[0].Node, "ec-cleanup", store.NewBucket("e"), func(ctx context.Context) error {
		<-ctx.Done()
		close(replaced)
		return ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	turnECOffWhenAdmitted(t, client, "e") // with an ec-cleanup running
	select {
	case <-replaced:
	case <-time.After(10 * time.Second):
		t.Fatal("the running ec-cleanup was not replaced")
	}
}

// A target that stops taking a part it asked for (frozen, its restore
// stuck on a disk) has the stream cut after the stall, rather than hold
// the part's file and the handler for good.
func TestPartReaderThatStopsIsCut(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true,
		Configure: func(cfg *gateway.Config) { cfg.RecordsStall, cfg.BodyMinRate = 200*time.Millisecond, 1<<30 }})
	ctx := t.Context()
	if err := c.Client().CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	target := c.Targets()[0]
	data := bytes.Repeat([]byte("part"), 16<<20) // 64 MiB: past what the sockets buffer
	h, _ := store.NewHash(store.ChecksumXXHash)
	h.Write(data)
	sum := store.ChecksumOf(store.ChecksumXXHash, h)
	meta := store.PartMeta{Bucket: store.NewBucket("b"), Name: "o", Index: 0, Replica: true, Data: 1, Parity: 1,
		ObjectSize: int64(len(data)), SliceSize: int64(len(data)), Checksum: sum, PartChecksum: sum,
		Stamp: store.Stamp{Map: 1, Clock: time.Now().UnixNano()}}
	if err := target.Store.PutPart(ctx, meta, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target.URL()+"/v1/internal/parts/b/o?index=0", nil)
	resp, err := c.PeerClient(c.Primary().Node.ID()).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET the part: %s", resp.Status)
	}
	time.Sleep(2 * time.Second) // a reader that stops, ten stalls long
	got, err := io.Copy(io.Discard, resp.Body)
	if err == nil && got == int64(len(data)) {
		t.Fatal("a part stream nobody read for ten stalls was still whole: not cut")
	}
}

// A target in maintenance refuses erasure coding that needs it as it is
// turned on, not every other change of a bucket already coded.
func TestCodedBucketTakesOtherChangesWithATargetAway(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 4, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	ec := map[string]any{"ec": map[string]any{"enabled": true, "data_slices": 2, "parity_slices": 1}}
	if err := client.CreateBucket(ctx, "e", ec); err != nil {
		t.Fatal(err)
	}
	if err := client.StartMaintenance(ctx, c.Targets()[3].Node.ID()); err != nil {
		t.Fatal(err)
	}
	if err := client.SetBucketProps(ctx, "e", map[string]any{"lru": map[string]any{"enabled": true}}); err != nil {
		t.Fatalf("a change of LRU of a coded bucket with a target in maintenance: %v", err)
	}
	if err := client.CreateBucket(ctx, "e2", ec); !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "needs 4 targets") {
		t.Fatalf("a coded bucket made with a target in maintenance: %v, want refused", err)
	}
}

// Erasure coding turned off stops the encode under way, and on again it
// starts anew (it was refused as busy with the old one, which went on
// with the parts of the objects it had passed cleaned up).
func TestErasureCodingOffAndOnAgainEncodesAnew(t *testing.T) {
	// The hook goes back after the cluster is closed (cleanups run last
	// first): its jobs read it until then.
	release := make(chan struct{})
	t.Cleanup(gateway.HoldEncodes(release))
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 4, NoSync: true})
	t.Cleanup(func() { close(release) })
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "e", nil); err != nil {
		t.Fatal(err)
	}
	on := map[string]any{"ec": map[string]any{"enabled": true, "data_slices": 2, "parity_slices": 1}}
	if err := client.SetBucketProps(ctx, "e", on); err != nil {
		t.Fatal(err)
	}
	turnECOffWhenAdmitted(t, client, "e")
	if err := client.SetBucketProps(ctx, "e", on); err != nil {
		t.Fatalf("erasure coding on again while the first encode was stopping: %v", err)
	}
}

// A target that takes a part moves its clock past the part's stamp (the
// owner's clock): an ec-cleanup's cutoff taken there later is after every
// part it holds, and an owner whose clock runs ahead leaves none behind.
func TestPartAdvancesTheHoldersClock(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	ctx := t.Context()
	client := c.Client()
	if err := client.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	target := c.Targets()[0]
	data := []byte("part")
	h, _ := store.NewHash(store.ChecksumXXHash)
	h.Write(data)
	sum := store.ChecksumOf(store.ChecksumXXHash, h)
	ahead := time.Now().Add(time.Hour).UnixNano() // the owner's clock runs an hour ahead
	meta := store.PartMeta{Bucket: store.NewBucket("b"), Name: "o", Index: 0, Replica: true, Data: 1, Parity: 1,
		ObjectSize: int64(len(data)), SliceSize: int64(len(data)), Checksum: sum, PartChecksum: sum,
		Stamp: store.Stamp{Map: c.Primary().Node.Map().Version, Clock: ahead}}
	header, err := peer.EncodePart(meta)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, target.URL()+peer.PartsPath(meta.Bucket, meta.Name), bytes.NewReader(data))
	req.Header.Set(peer.HeaderPart, header)
	resp, err := c.PeerClient(c.Primary().Node.ID()).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT the part: %s", resp.Status)
	}
	if _, err := client.Put(ctx, "b", "later", strings.NewReader("x"), api.PutOptions{Size: 1}); err != nil {
		t.Fatal(err)
	}
	meta2, err := client.Head(ctx, "b", "later")
	if err != nil {
		t.Fatal(err)
	}
	if meta2.Stamp.Clock <= ahead {
		t.Fatalf("a write on the holder after it took a part of clock %d is stamped %d: its clock did not move past the part's", ahead, meta2.Stamp.Clock)
	}
}

// A target asked for the parts of a bucket made at another time than its
// own (destroyed and made again, one of the two not told yet) answers
// none: they are another bucket's objects', and restored from them an
// object of the destroyed bucket would come back in the new one.
func TestPartsOfAnotherBucketOfTheNameAreNotGiven(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	ctx := t.Context()
	if err := c.Client().CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	target := c.Targets()[0]
	b := store.NewBucket("b")
	props, err := store.PropsOf(ctx, target.Store, b)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("part")
	h, _ := store.NewHash(store.ChecksumXXHash)
	h.Write(data)
	sum := store.ChecksumOf(store.ChecksumXXHash, h)
	meta := store.PartMeta{Bucket: b, Name: "o", Index: 0, Replica: true, Data: 1, Parity: 1,
		ObjectSize: int64(len(data)), SliceSize: int64(len(data)), Checksum: sum, PartChecksum: sum,
		Stamp: store.Stamp{Map: 1, Clock: time.Now().UnixNano()}}
	if err := target.Store.PutPart(ctx, meta, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	peers := peer.NewClient(peer.ClientConfig{Auth: peer.NewAuth(c.Secret(), peer.Options{}), Node: c.Primary().Node.ID()})
	node := cluster.Node{ID: target.Node.ID(), Role: cluster.RoleTarget, URL: target.URL()}
	same, other := int64(props.Created), int64(props.Created)+1
	if metas, err := peers.PartsOf(ctx, node, b, "o", same); err != nil || len(metas) != 1 {
		t.Fatalf("the parts of the same bucket: %v %v", metas, err)
	}
	if metas, err := peers.PartsOf(ctx, node, b, "o", other); err != nil || len(metas) != 0 {
		t.Fatalf("the parts asked of another bucket of the name: %v %v, want none", metas, err)
	}
	if many, err := peers.PartsOfMany(ctx, node, b, []string{"o"}, other); err != nil || len(many) != 0 {
		t.Fatalf("the parts of many asked of another bucket of the name: %v %v, want none", many, err)
	}
	if _, _, err := peers.OpenPart(ctx, node, b, "o", 0, other); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a part read of another bucket of the name: %v, want not found", err)
	}
	rc, _, err := peers.OpenPart(ctx, node, b, "o", 0, same)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	// Nor does it take one: a sender behind would put a deleted object's
	// part in the new bucket, one ahead a new part in the old.
	later := meta
	later.Stamp.Clock++
	if err := peers.SendPart(ctx, node, later, bytes.NewReader(data), other); !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "another of the name") {
		t.Fatalf("a part sent for another bucket of the name: %v, want 503 naming it", err)
	}
	if metas, err := peers.PartsOf(ctx, node, b, "o", same); err != nil || len(metas) != 1 || metas[0].Stamp != meta.Stamp {
		t.Fatalf("the parts after one of another bucket was sent: %v %v, want the first only", metas, err)
	}
	if err := peers.SendPart(ctx, node, later, bytes.NewReader(data), same); err != nil {
		t.Fatalf("a part sent for the same bucket: %v", err)
	}
}

// An ec-cleanup that runs once EC is on again (off, then on at once, its
// start late) drops nothing: the encode of the change after it writes
// parts stamped as their objects, older than the cleanup's start.
func TestECCleanupAfterECIsOnAgainDropsNothing(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 4, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "e", map[string]any{"ec": map[string]any{"enabled": true, "data_slices": 2, "parity_slices": 1, "objsize_limit": 1024}}); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("slice me "), 1000)
	if _, err := client.Put(ctx, "e", "big", bytes.NewReader(data), api.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	loc, err := client.ObjectLocation(ctx, "e", "big")
	if err != nil || len(loc.Parts) == 0 {
		t.Fatalf("the object's parts: %+v %v", loc, err)
	}
	peerClient := peer.NewClient(peer.ClientConfig{Auth: peer.NewAuth(c.Secret(), peer.Options{}), Node: c.Primary().Node.ID()})
	for _, tg := range c.Targets() {
		req := peer.JobRequest{ID: "ec-cleanup-late", Kind: "ec-cleanup", Bucket: store.NewBucket("e")}
		if err := peerClient.StartJob(ctx, cluster.Node{ID: tg.Node.ID(), Role: cluster.RoleTarget, URL: tg.URL()}, req); err != nil {
			t.Fatal(err)
		}
	}
	waitJob(t, client, "ec-cleanup-late")
	if after, err := client.ObjectLocation(ctx, "e", "big"); err != nil || len(after.Parts) != len(loc.Parts) {
		t.Fatalf("the object's parts after a late ec-cleanup with EC on: %+v %v, want the %d it had", after, err, len(loc.Parts))
	}
}

// turnECOffWhenAdmitted turns a bucket's erasure coding off, as a user
// does who is told to wait for a resilver or rebalance restoring objects
// from parts: asked again until it is taken.
func turnECOffWhenAdmitted(t *testing.T, client *api.Client, bucket string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		err := client.SetBucketProps(t.Context(), bucket, map[string]any{"ec": map[string]any{"enabled": false}})
		if err == nil {
			return
		}
		var e *api.Error
		if !errors.As(err, &e) || e.Status != http.StatusConflict || !strings.Contains(e.Message, "wait for it to end") || time.Now().After(deadline) {
			t.Fatalf("EC off for %s: %v", bucket, err)
		}
	}
}

// Erasure coding is not turned off while a resilver restores objects
// from parts: the cleanup would drop the only copy of what it has not
// restored yet.
func TestECOffWaitsForTheResilver(t *testing.T) {
	release := gateway.HoldECResilver()
	defer release()
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "e", map[string]any{"ec": map[string]any{"enabled": true, "data_slices": 1, "parity_slices": 1}}); err != nil {
		t.Fatal(err)
	}
	for _, tg := range c.Targets() {
		if err := peer.NewClient(peer.ClientConfig{Auth: peer.NewAuth(c.Secret(), peer.Options{}), Node: c.Primary().Node.ID()}).StartJob(ctx, cluster.Node{ID: tg.Node.ID(), Role: cluster.RoleTarget, URL: tg.URL()}, peer.JobRequest{ID: "ec-resil-held", Kind: "ec-resilver"}); err != nil {
			t.Fatal(err)
		}
	}
	err := client.SetBucketProps(ctx, "e", map[string]any{"ec": map[string]any{"enabled": false}})
	var e *api.Error
	if !errors.As(err, &e) || e.Status != http.StatusConflict || !strings.Contains(e.Message, "ec-resilver") {
		t.Fatalf("EC off while a resilver runs: %v, want 409 naming it", err)
	}
	release()
	turnECOffWhenAdmitted(t, client, "e")
}

// A props change made whose job could not start (a target that does not
// answer, not yet offline) says so and how to start it: retried, the
// same change changes nothing and starts nothing.
func TestPropsChangedWithoutTheirJobSaySo(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 4, NoSync: true, KeepaliveTimeout: time.Hour})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "e", nil); err != nil {
		t.Fatal(err)
	}
	c.Kill(c.Targets()[3])
	err := client.SetBucketProps(ctx, "e", map[string]any{"ec": map[string]any{"enabled": true, "data_slices": 1, "parity_slices": 1}})
	if err == nil || !strings.Contains(err.Error(), "are changed, but its ec-encode job did not start") || !strings.Contains(err.Error(), "ais bucket ec-encode") {
		t.Fatalf("EC on with a target silent: %v, want the change said made and the job to start by hand", err)
	}
	if props, err := client.BucketProps(ctx, "e"); err != nil || !props.EC.Enabled {
		t.Fatalf("the props after: %+v %v", props.EC, err)
	}
}

// A change that calls for two jobs (mirroring and EC at once) whose
// second does not start says so (409, naming the first, running), not
// success with the first's id alone: the bucket read erasure-coded with
// no object encoded, and a retry of the change starts nothing.
func TestPropsChangeWhoseSecondJobDidNotStartSaysSo(t *testing.T) {
	defer gateway.SetNewJobID(func(kind string) string {
		if kind == "ec-encode" {
			return "ec-encode-taken" // the second draw takes it too
		}
		return pipeline.NewJobID(kind)
	})()
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, Mountpaths: 2, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	ec := map[string]any{"enabled": true, "data_slices": 1, "parity_slices": 1}
	for _, b := range []string{"first", "both"} {
		if err := client.CreateBucket(ctx, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.SetBucketProps(ctx, "first", map[string]any{"ec": ec}); err != nil {
		t.Fatal(err) // its encode takes the id
	}
	err := client.SetBucketProps(ctx, "both", map[string]any{"mirror": map[string]any{"enabled": true, "copies": 2}, "ec": ec})
	var e *api.Error
	if !errors.As(err, &e) || e.Status != http.StatusConflict || !strings.Contains(e.Message, "make-n-copies job") || !strings.Contains(e.Message, "ec-encode job did not start") {
		t.Fatalf("mirroring and EC on, the encode not started: %v, want 409 naming both", err)
	}
}

// An ec-resilver asked by a peer replaces the one running however long
// that one takes to end: the peer's request given up meanwhile, the new
// one still starts (the old aborted, none would sweep).
func TestECResilverStartsPastItsAskersWait(t *testing.T) {
	release := gateway.HoldECResilverPastItsAbort(time.Second)
	defer release()
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true})
	ctx := t.Context()
	if err := c.Client().CreateBucket(ctx, "e", map[string]any{"ec": map[string]any{"enabled": true, "data_slices": 1, "parity_slices": 1}}); err != nil {
		t.Fatal(err)
	}
	tg := c.Targets()[0]
	node := cluster.Node{ID: tg.Node.ID(), Role: cluster.RoleTarget, URL: tg.URL()}
	peers := peer.NewClient(peer.ClientConfig{Auth: peer.NewAuth(c.Secret(), peer.Options{}), Node: c.Primary().Node.ID()})
	if err := peers.StartJob(ctx, node, peer.JobRequest{ID: "ec-resil-old", Kind: "ec-resilver"}); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	peers.StartJob(short, node, peer.JobRequest{ID: "ec-resil-new", Kind: "ec-resilver"}) // given up while the old one ends
	cancel()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		status, err := c.Client().ClusterStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		started := false
		for _, n := range status.Nodes {
			for _, j := range n.Jobs {
				started = started || n.ID == node.ID && j.ID == "ec-resil-new"
			}
		}
		if started {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ec-resilver asked by a peer that gave up waiting did not start: no sweep runs")
		}
	}
}

// A dSort job of an erasure-coded bucket is refused (503) while a target
// in the map does not answer: it may be encoding objects the job would
// count on parts of.
func TestDsortOfAnECBucketWithASilentTargetIsRefused(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true, KeepaliveTimeout: time.Minute})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "e", nil); err != nil {
		t.Fatal(err)
	}
	putDataset(t, client, "e", datasets.Spec{Template: "in-{0..2}.tar", Records: 5, RecordSize: 500, Seed: 1})
	if err := client.SetBucketProps(ctx, "e", map[string]any{"ec": map[string]any{"enabled": true, "data_slices": 1, "parity_slices": 1}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		jobs, err := client.Jobs(ctx)
		if err != nil {
			return false
		}
		for _, j := range jobs {
			if j.Kind == "ec-encode" && j.Running {
				return false
			}
		}
		return true
	}, "ec-encode still runs")
	silent := c.Targets()[2]
	c.Kill(silent) // in the map still: its keepalive has a minute
	spec := []byte(`{"input_bck":{"name":"e"},"output_bck":{"name":"dst"},"input_format":{"template":"in-{0..2}.tar"},"output_format":"out-{0..99}.tar","output_shard_size":"10KiB"}`)
	_, err := client.DsortStart(ctx, spec)
	if !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "did not answer") || !strings.Contains(err.Error(), silent.Node.ID()) {
		t.Fatalf("a dsort of an EC bucket with a target silent: %v, want 503 naming the target", err)
	}
}

// A dSort job of an erasure-coded bucket whose ec-encode runs is refused
// (409): it would count on parts its objects do not have yet to read them
// without a target it lost.
func TestDsortOfABucketBeingEncodedIsRefused(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(gateway.HoldEncodes(release))
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 4, NoSync: true})
	released := false
	t.Cleanup(func() {
		if !released {
			close(release)
		}
	})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "e", nil); err != nil {
		t.Fatal(err)
	}
	putDataset(t, client, "e", datasets.Spec{Template: "in-{0..2}.tar", Records: 5, RecordSize: 500, Seed: 1})
	if err := client.SetBucketProps(ctx, "e", map[string]any{"ec": map[string]any{"enabled": true, "data_slices": 2, "parity_slices": 1}}); err != nil {
		t.Fatal(err)
	}
	spec := []byte(`{"input_bck":{"name":"e"},"output_bck":{"name":"dst"},"input_format":{"template":"in-{0..2}.tar"},"output_format":"out-{0..99}.tar","output_shard_size":"10KiB"}`)
	if _, err := client.DsortStart(ctx, spec); !errors.Is(err, api.ErrJobBusy) || !strings.Contains(err.Error(), "ec-encode") {
		t.Fatalf("a dsort of a bucket being encoded: %v, want 409 naming ec-encode", err)
	}
	close(release)
	released = true
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		id, err := client.DsortStart(ctx, spec)
		if err == nil {
			if sum := waitDsort(t, client, id); sum.Aborted {
				t.Fatalf("the dsort once encoded: %+v", sum)
			}
			break
		}
		if !errors.Is(err, api.ErrJobBusy) || time.Now().After(deadline) {
			t.Fatalf("a dsort once the encode ended: %v", err)
		}
	}
}
