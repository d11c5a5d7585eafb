package fs_test

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/fs"
	"github.com/aisgo/aisgo/store/storetest"
)

// A mountpath disabled while its objects are overwritten, deleted, or
// their bucket destroyed, then back (enabled, or the node restarted):
// nothing it holds undoes what happened meanwhile, before and after the
// resilver that enables it.
func TestReturningMountpathUndoesNothing(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			st, mps := threeMountpaths(t, fs.Config{})
			away := mps[1]
			b := mirrorBucket(t, st, "plain", 1, false)
			again := mirrorBucket(t, st, "again", 1, false)
			gone := mirrorBucket(t, st, "gone", 1, false)
			// Names whose only copy is on the mountpath that goes away.
			var names []string
			for i := 0; len(names) < 8; i++ {
				name := fmt.Sprintf("o%03d", i)
				if st.MountpathOf(b, name) == away {
					names = append(names, name)
					storetest.Put(t, st, b, name, []byte("v1 "+name))
				}
				if st.MountpathOf(again, name) == away {
					storetest.Put(t, st, again, name, []byte("old"))
				}
				if st.MountpathOf(gone, name) == away {
					storetest.Put(t, st, gone, name, []byte("old"))
				}
			}
			if err := st.DisableMountpath(t.Context(), away, "by hand"); err != nil {
				t.Fatal(err)
			}
			now := func() store.Stamp { return store.Stamp{Clock: time.Now().UnixNano()} }
			kept, over, deleted, overDeleted := names[:2], names[2:4], names[4:6], names[6:]
			for _, name := range append(slices.Clone(over), overDeleted...) {
				storetest.Put(t, st, b, name, []byte("v2 "+name))
			}
			for _, name := range deleted {
				// Its only copy is away: not found, and yet deleted.
				if err := st.Delete(t.Context(), b, name, store.DeleteOptions{Stamp: now()}); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("delete %s while away: %v", name, err)
				}
			}
			for _, name := range overDeleted {
				if err := st.Delete(t.Context(), b, name, store.DeleteOptions{Stamp: now()}); err != nil {
					t.Fatal(err)
				}
			}
			// The collector may ask: a tombstone stays while its copy is away.
			if err := st.DropTombstone(t.Context(), b, deleted[0], now()); err != nil {
				t.Fatal(err)
			}
			if tombs, _ := st.Tombstones(t.Context(), b); len(tombs) != 4 {
				t.Fatalf("tombstones while away: %+v", tombs)
			}
			for _, bucket := range []store.Bucket{again, gone} {
				if err := st.DestroyBucket(t.Context(), bucket); err != nil {
					t.Fatal(err)
				}
			}
			// Made again later than the clocks of two nodes may differ.
			props := store.DefaultProps()
			props.Created = store.Int64String(time.Now().Add(2 * time.Minute).UnixNano())
			if err := st.CreateBucket(t.Context(), again, props); err != nil {
				t.Fatal(err)
			}

			if restart {
				st.Close()
				var err error
				if st, err = fs.Open(t.Context(), fs.Config{Mountpaths: mps}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
			} else if err := st.EnableMountpath(t.Context(), away); err != nil {
				t.Fatal(err)
			}
			statuses := st.MountpathStatuses()
			if i := slices.IndexFunc(statuses, func(s store.MountpathStatus) bool { return s.Path == away }); i < 0 || statuses[i].State != fs.MountpathReturning {
				t.Fatalf("statuses %+v: want %s returning", statuses, away)
			}
			check := func(when string) {
				t.Helper()
				for _, name := range kept {
					if got := storetest.Get(t, st, b, name); string(got) != "v1 "+name {
						t.Fatalf("%s: %s reads %q", when, name, got)
					}
				}
				for _, name := range over {
					if got := storetest.Get(t, st, b, name); string(got) != "v2 "+name {
						t.Fatalf("%s: overwritten %s reads %q", when, name, got)
					}
				}
				for _, name := range append(slices.Clone(deleted), overDeleted...) {
					if _, err := st.Head(t.Context(), b, name); !errors.Is(err, store.ErrNotFound) {
						t.Fatalf("%s: deleted %s: %v", when, name, err)
					}
				}
				list, err := st.List(t.Context(), b, store.ListOptions{})
				if err != nil {
					t.Fatal(err)
				}
				var listed []string
				for _, meta := range list {
					listed = append(listed, meta.Name)
				}
				if want := slices.Sorted(slices.Values(append(slices.Clone(kept), over...))); !slices.Equal(listed, want) {
					t.Fatalf("%s: listed %q, want %q", when, listed, want)
				}
				if list, err := st.List(t.Context(), again, store.ListOptions{}); err != nil || len(list) != 0 {
					t.Fatalf("%s: the bucket made again lists %d objects of its predecessor (%v)", when, len(list), err)
				}
			}
			check("returning")

			if err := st.Resilver(t.Context(), nil); err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(st.Mountpaths(), away) {
				t.Fatalf("%s is not enabled after the resilver: %+v", away, st.MountpathStatuses())
			}
			check("after the resilver")
			for _, bucket := range []string{"again", "gone"} {
				entries, _ := os.ReadDir(filepath.Join(away, "ais", bucket))
				if len(entries) != 0 {
					t.Fatalf("%d objects of destroyed bucket %s left on %s", len(entries), bucket, away)
				}
			}
			for _, name := range append(slices.Clone(deleted), overDeleted...) {
				if _, err := os.Stat(filepath.Join(away, "ais", b.Name, name)); err == nil {
					t.Fatalf("deleted %s still on %s", name, away)
				}
			}
			// The tombstones kept while it was away may go now.
			if err := st.DropTombstone(t.Context(), b, deleted[0], now()); err != nil {
				t.Fatal(err)
			}
			tombs, err := st.Tombstones(t.Context(), b)
			if err != nil || slices.ContainsFunc(tombs, func(tomb store.Tombstone) bool { return tomb.Name == deleted[0] }) || len(tombs) != 3 {
				t.Fatalf("tombstones after one was dropped: %+v %v", tombs, err)
			}
		})
	}
}

// A mountpath detached while disabled keeps its copies, never reconciled:
// attached again, or configured again at a restart, it returns, and a copy
// overwritten or deleted while it was away is not served as current.
func TestDetachedWhileDisabledReturns(t *testing.T) {
	for _, how := range []string{"attach", "restart"} {
		t.Run(how, func(t *testing.T) {
			ctx := t.Context()
			root := t.TempDir()
			cfg := fs.Config{Mountpaths: []string{filepath.Join(root, "mp1"), filepath.Join(root, "mp2"), filepath.Join(root, "mp3")}, NoSync: true}
			st, err := fs.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { st.Close() }()
			b := store.NewBucket("b")
			if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
				t.Fatal(err)
			}
			away := st.MountpathOf(b, "over")
			deleted := ""
			for i := 0; deleted == ""; i++ {
				if name := fmt.Sprintf("gone-%d", i); st.MountpathOf(b, name) == away {
					deleted = name
				}
			}
			storetest.Put(t, st, b, "over", []byte("old"))
			storetest.Put(t, st, b, deleted, []byte("old"))
			if err := st.DisableMountpath(ctx, away, "by hand"); err != nil {
				t.Fatal(err)
			}
			storetest.Put(t, st, b, "over", []byte("new"))
			// (Not found here: its only copy is away; the tombstone guards.)
			if err := st.Delete(ctx, b, deleted, store.DeleteOptions{Stamp: store.Stamp{Clock: time.Now().UnixNano()}, Tombstone: true}); err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
			if err := st.DetachMountpath(ctx, away, nil); err != nil {
				t.Fatal(err)
			}
			switch how {
			case "attach":
				if err := st.AttachMountpath(ctx, away); err != nil {
					t.Fatal(err)
				}
			case "restart":
				st.Close()
				if st, err = fs.Open(ctx, cfg); err != nil {
					t.Fatal(err)
				}
			}
			check := func(when string) {
				t.Helper()
				if got := storetest.Get(t, st, b, "over"); string(got) != "new" {
					t.Fatalf("%s: the object overwritten while its mountpath was away: %q", when, got)
				}
				if _, err := st.Head(ctx, b, deleted); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("%s: the object deleted while its mountpath was away: %v", when, err)
				}
			}
			check("back")
			if err := st.Resilver(ctx, nil); err != nil {
				t.Fatal(err)
			}
			check("after the resilver")
		})
	}
}

// A copy on a returning mountpath newer than the current one (an older
// copy arrived while it was away) is the object: an older delete or write
// does not remove it.
func TestNewerReturningCopyOutlivesOlderWrites(t *testing.T) {
	for _, older := range []string{"delete", "put"} {
		t.Run(older, func(t *testing.T) {
			ctx := t.Context()
			st, _ := threeMountpaths(t, fs.Config{NoSync: true})
			b := store.NewBucket("b")
			if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
				t.Fatal(err)
			}
			base := time.Now().UnixNano()
			stamp := func(k int64) store.Stamp { return store.Stamp{Map: 1, Clock: base + k} }
			put := func(data string, s store.Stamp) error {
				_, err := st.Put(ctx, b, "x", strings.NewReader(data), store.PutOptions{Size: int64(len(data)), Stamp: s, IfNewer: true})
				return err
			}
			if err := put("newest", stamp(8)); err != nil {
				t.Fatal(err)
			}
			away := st.MountpathOf(b, "x")
			if err := st.DisableMountpath(ctx, away, "by hand"); err != nil {
				t.Fatal(err)
			}
			if err := put("stale", stamp(3)); err != nil { // it cannot see the copy away
				t.Fatal(err)
			}
			if err := st.EnableMountpath(ctx, away); err != nil {
				t.Fatal(err)
			}
			switch older {
			case "delete":
				err := st.Delete(ctx, b, "x", store.DeleteOptions{Stamp: stamp(6), Tombstone: true})
				if !errors.Is(err, store.ErrExists) {
					t.Fatalf("a delete older than the returning copy: %v, want ErrExists", err)
				}
			case "put":
				if err := put("older", stamp(5)); !errors.Is(err, store.ErrExists) {
					t.Fatalf("a write older than the returning copy: %v, want ErrExists", err)
				}
			}
			if err := st.Resilver(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if got := storetest.Get(t, st, b, "x"); string(got) != "newest" {
				t.Fatalf("after an older %s: %q, want the newest write", older, got)
			}
		})
	}
}

// A mountpath away when it is left out of the config at a restart stays
// known as gone: configured again later (the disk repaired), its copies
// return, and one overwritten meanwhile is not served as current.
func TestAwayMountpathLeftOutOfTheConfigReturns(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	mps := []string{filepath.Join(root, "mp1"), filepath.Join(root, "mp2"), filepath.Join(root, "mp3")}
	st, err := fs.Open(ctx, fs.Config{Mountpaths: mps, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	b := store.NewBucket("b")
	if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	away := st.MountpathOf(b, "over")
	storetest.Put(t, st, b, "over", []byte("old"))
	if err := st.DisableMountpath(ctx, away, "a dead disk"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	// Restarted without it; a write and a mountpath change meanwhile.
	rest := slices.DeleteFunc(slices.Clone(mps), func(p string) bool { return p == away })
	if st, err = fs.Open(ctx, fs.Config{Mountpaths: rest, NoSync: true}); err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, st, b, "over", []byte("new"))
	if err := st.DisableMountpath(ctx, rest[0], "by hand"); err != nil {
		t.Fatal(err)
	}
	if err := st.EnableMountpath(ctx, rest[0]); err != nil {
		t.Fatal(err)
	}
	st.Close()
	// Repaired and configured again.
	if st, err = fs.Open(ctx, fs.Config{Mountpaths: mps, NoSync: true}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got := storetest.Get(t, st, b, "over"); string(got) != "new" {
		t.Fatalf("the object overwritten while its mountpath was out of the config: %q", got)
	}
	if err := st.Resilver(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := storetest.Get(t, st, b, "over"); string(got) != "new" {
		t.Fatalf("after the resilver: %q", got)
	}
}

// Two mountpaths back at once, one holding a version the other's write
// made old: the newer is served, and kept by the reconcile.
func TestNewestOfTwoReturningCopiesWins(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	st, err := fs.Open(ctx, fs.Config{Mountpaths: []string{filepath.Join(root, "mp1"), filepath.Join(root, "mp2"), filepath.Join(root, "mp3")}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := store.NewBucket("b")
	if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, st, b, "x", []byte("old"))
	first := st.MountpathOf(b, "x")
	if err := st.DisableMountpath(ctx, first, "by hand"); err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, st, b, "x", []byte("new"))
	second := st.MountpathOf(b, "x")
	if err := st.DisableMountpath(ctx, second, "by hand"); err != nil {
		t.Fatal(err)
	}
	for _, mp := range []string{first, second} {
		if err := st.EnableMountpath(ctx, mp); err != nil {
			t.Fatal(err)
		}
	}
	if got := storetest.Get(t, st, b, "x"); string(got) != "new" {
		t.Fatalf("both back: %q", got)
	}
	if err := st.Resilver(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := storetest.Get(t, st, b, "x"); string(got) != "new" {
		t.Fatalf("after the reconcile: %q", got)
	}
}

// A mountpath that cannot take the bucket metadata (full, or failing)
// does not hold bucket changes: the others keep it, and their newer copy
// wins at the next open.
func TestBucketMetadataSavedWithAMountpathRefusing(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	mps := []string{filepath.Join(root, "mp1"), filepath.Join(root, "mp2")}
	st, err := fs.Open(ctx, fs.Config{Mountpaths: mps, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	// A directory where mp2's metadata goes: every save there fails.
	bmd := filepath.Join(mps[1], ".ais", "bmd.json")
	os.Remove(bmd)
	if err := os.MkdirAll(filepath.Join(bmd, "refuse"), 0o755); err != nil {
		t.Fatal(err)
	}
	b := store.NewBucket("b")
	if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
		t.Fatalf("a bucket created with one mountpath refusing its metadata: %v", err)
	}
	st.Close()
	os.RemoveAll(bmd) // the disk has room again
	if st, err = fs.Open(ctx, fs.Config{Mountpaths: mps, NoSync: true}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	md, err := st.Buckets(ctx)
	if _, ok := md.Props(b); err != nil || !ok {
		t.Fatalf("the bucket after a restart: %+v %v", md, err)
	}
}

// withAttached opens a store on ROOT/a, with a bucket of one copy, and
// attaches ROOT/b to it.
func withAttached(t *testing.T) (st *fs.Store, root, a, attached string, b store.Bucket) {
	t.Helper()
	root = t.TempDir()
	a, attached = filepath.Join(root, "a"), filepath.Join(root, "b")
	if err := os.MkdirAll(attached, 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{a}})
	if err != nil {
		t.Fatal(err)
	}
	b = mirrorBucket(t, st, "plain", 1, false)
	if err := st.AttachMountpath(t.Context(), attached); err != nil {
		t.Fatal(err)
	}
	return st, root, a, attached, b
}

// The newest record of the mountpaths away may be on an attached one
// only (a configured one disabled after the attach took no later record):
// a restart reads it, and the configured one comes back returning, not
// enabled with its stale copies.
func TestRestartReadsTheAwayRecordOfAnAttachedMountpath(t *testing.T) {
	st, _, a, _, b := withAttached(t)
	name := nameOn(st, b, a)
	storetest.Put(t, st, b, name, []byte("v1"))
	if err := st.DisableMountpath(t.Context(), a, "by hand"); err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, st, b, name, []byte("v2"))
	st.Close()
	st, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{a}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got := readString(t, st, b, name); got != "v2" {
		t.Fatalf("after the restart %s reads %q, want the overwrite v2", name, got)
	}
}

// A configured mountpath left out of the config for one restart, and
// configured again at the next, comes back returning: its copies may be
// stale by then (it came back enabled, serving what was overwritten).
func TestMountpathLeftOutOfTheConfigComesBackReturning(t *testing.T) {
	root := t.TempDir()
	a, b2 := filepath.Join(root, "a"), filepath.Join(root, "b")
	st, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{a, b2}})
	if err != nil {
		t.Fatal(err)
	}
	b := mirrorBucket(t, st, "plain", 1, false)
	name := nameOn(st, b, b2)
	storetest.Put(t, st, b, name, []byte("v1"))
	st.Close()
	// A restart without b (a disk taken out), an overwrite meanwhile.
	st, err = fs.Open(t.Context(), fs.Config{Mountpaths: []string{a}})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, st, b, name, []byte("v2"))
	st.Close()
	st, err = fs.Open(t.Context(), fs.Config{Mountpaths: []string{a, b2}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got := readString(t, st, b, name); got != "v2" {
		t.Fatalf("with b configured again, %s reads %q, want the overwrite v2", name, got)
	}
}

// diskNotMounted moves a mountpath's directory to disk, an empty one in
// its place: its disk did not mount.
func diskNotMounted(t *testing.T, dir, disk string) {
	t.Helper()
	if err := os.Rename(dir, disk); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// checkDisabledForItsDisk fails unless the mountpath at path is disabled,
// saying why (its disk not mounted).
func checkDisabledForItsDisk(t *testing.T, st *fs.Store, path string) {
	t.Helper()
	statuses := st.MountpathStatuses()
	if i := slices.IndexFunc(statuses, func(s store.MountpathStatus) bool { return s.Path == path }); i < 0 || statuses[i].State != "disabled" || !strings.Contains(statuses[i].Reason, "mounted") {
		t.Fatalf("statuses %+v: want %s disabled, saying why", statuses, path)
	}
}

// A mountpath the store used before that comes up without its .ais (its
// disk did not mount: an empty directory) is disabled at start, not
// filled: writes would land beneath the mount, its objects missing.
func TestMountpathWithoutItsDiskIsDisabledAtStart(t *testing.T) {
	root := t.TempDir()
	a, b2, disk := filepath.Join(root, "a"), filepath.Join(root, "b"), filepath.Join(root, "disk")
	st, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{a, b2}})
	if err != nil {
		t.Fatal(err)
	}
	b := mirrorBucket(t, st, "plain", 1, false)
	name := nameOn(st, b, b2)
	storetest.Put(t, st, b, name, []byte("v1"))
	st.Close()
	diskNotMounted(t, b2, disk)
	for range 2 { // and not at the next start either
		st, err = fs.Open(t.Context(), fs.Config{Mountpaths: []string{a, b2}})
		if err != nil {
			t.Fatal(err)
		}
		checkDisabledForItsDisk(t, st, b2)
		// Nor enabled by hand while its disk is away.
		if err := st.EnableMountpath(t.Context(), b2); err == nil || !strings.Contains(err.Error(), "mount") {
			t.Fatalf("enable of a mountpath whose disk is not there: %v, want refused", err)
		}
		storetest.Put(t, st, b, name, []byte("v2"))
		st.Close()
		if entries, _ := os.ReadDir(b2); len(entries) > 0 {
			t.Fatalf("written beneath the missing disk's mount: %v", entries)
		}
	}
	// Mounted again: it comes back returning, and what was overwritten
	// meanwhile reads as the overwrite.
	if err := os.Remove(b2); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(disk, b2); err != nil {
		t.Fatal(err)
	}
	st, err = fs.Open(t.Context(), fs.Config{Mountpaths: []string{a, b2}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got := readString(t, st, b, name); got != "v2" {
		t.Fatalf("with the disk back, %s reads %q, want the overwrite v2", name, got)
	}
}

// So is one attached while the node ran, then written into the config:
// the record has it as attached, not configured, and it is no new disk.
func TestAttachedMountpathConfiguredLaterWithoutItsDiskIsDisabled(t *testing.T) {
	st, root, a, b2, b := withAttached(t)
	name := nameOn(st, b, b2)
	storetest.Put(t, st, b, name, []byte("v1"))
	st.Close()
	diskNotMounted(t, b2, filepath.Join(root, "disk"))
	st, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{a, b2}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkDisabledForItsDisk(t, st, b2)
	if entries, _ := os.ReadDir(b2); len(entries) > 0 {
		t.Fatalf("made beneath the missing disk's mount: %v", entries)
	}
}

// A node whose only mountpath comes up without its .ais (its disk did not
// mount) does not start empty on the mount point when the record is kept
// off the mountpaths too (RecordDir): its objects would be missing, and
// writes would vanish beneath the disk once mounted. With the disk back
// it starts as it was; with the record removed (a new empty disk), empty.
func TestOnlyMountpathWithoutItsDiskFailsTheStart(t *testing.T) {
	root := t.TempDir()
	mp, disk, meta := filepath.Join(root, "mp"), filepath.Join(root, "disk"), filepath.Join(root, "meta")
	cfg := fs.Config{Mountpaths: []string{mp}, RecordDir: meta}
	st, err := fs.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := store.Bucket{Name: "b"}
	if err := st.CreateBucket(t.Context(), b, store.Props{}); err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, st, b, "o", []byte("v1"))
	st.Close()
	if err := os.Rename(mp, disk); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = fs.Open(t.Context(), cfg)
	if err == nil || !strings.Contains(err.Error(), "mounted") || !strings.Contains(err.Error(), filepath.Join(meta, "mountpaths.json")) {
		t.Fatalf("start with the only disk not mounted: %v, want refused, saying why and how to start empty", err)
	}
	if entries, _ := os.ReadDir(mp); len(entries) > 0 {
		t.Fatalf("written beneath the missing disk's mount: %v", entries)
	}
	// Mounted again: as it was.
	if err := os.Remove(mp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(disk, mp); err != nil {
		t.Fatal(err)
	}
	st, err = fs.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := readString(t, st, b, "o"); got != "v1" {
		t.Fatalf("with the disk back, o reads %q", got)
	}
	st.Close()
	// A new empty disk in its place, the record removed: an empty node.
	if err := os.RemoveAll(mp); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(meta, "mountpaths.json")); err != nil {
		t.Fatal(err)
	}
	st, err = fs.Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("a new empty disk with the record removed: %v", err)
	}
	st.Close()
}

// A returning mountpath whose reconcile fails stays returning, and the
// resilver says so (it reported success, and nothing tried again).
func TestResilverFailsWhenAMountpathStaysReturning(t *testing.T) {
	st, mps := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "plain", 1, false)
	away := mps[1]
	for i := range 10 {
		storetest.Put(t, st, b, fmt.Sprintf("o%d", i), []byte("x"))
	}
	if err := st.DisableMountpath(t.Context(), away, "by hand"); err != nil {
		t.Fatal(err)
	}
	if err := st.EnableMountpath(t.Context(), away); err != nil {
		t.Fatal(err)
	}
	dir, aside := filepath.Join(away, "ais", b.Name), filepath.Join(away, "aside")
	if err := os.Rename(dir, aside); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, dir); err != nil { // the walk fails with ELOOP
		t.Fatal(err)
	}
	if err := st.Resilver(t.Context(), nil); err == nil || !strings.Contains(err.Error(), away) {
		t.Fatalf("a resilver whose reconcile failed: %v, want an error naming %s", err, away)
	}
	statuses := st.MountpathStatuses()
	if i := slices.IndexFunc(statuses, func(s store.MountpathStatus) bool { return s.Path == away }); i < 0 || statuses[i].State != fs.MountpathReturning {
		t.Fatalf("statuses %+v: want %s returning", statuses, away)
	}
	os.Remove(dir)
	if err := os.Rename(aside, dir); err != nil {
		t.Fatal(err)
	}
	if err := st.Resilver(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
}

// nameOn returns a name the store places on mountpath mp.
func nameOn(st *fs.Store, b store.Bucket, mp string) string {
	for i := 0; ; i++ {
		if n := fmt.Sprintf("o%03d", i); st.MountpathOf(b, n) == mp {
			return n
		}
	}
}

// readString reads an object whole.
func readString(t *testing.T, st *fs.Store, b store.Bucket, name string) string {
	t.Helper()
	obj, err := st.Open(t.Context(), b, name, store.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	got, err := io.ReadAll(obj)
	if err != nil {
		t.Fatal(err)
	}
	return string(got)
}

// A mountpath detached while disabled and attached again after the
// tombstones of its absence were collected cannot tell a copy deleted
// meanwhile from one never deleted: those no current copy stands for are
// set aside, never served. Collecting only tombstones of deletes it took
// before it went leaves it guarded: its copies are served.
func TestUnguardedReturningMountpathSetsAsideWhatItCannotVouchFor(t *testing.T) {
	for _, how := range []string{"attach", "restart"} {
		for _, collected := range []string{"during", "before"} {
			t.Run(how+"/tombstone from "+collected, func(t *testing.T) {
				ctx := t.Context()
				root := t.TempDir()
				cfg := fs.Config{Mountpaths: []string{filepath.Join(root, "mp1"), filepath.Join(root, "mp2"), filepath.Join(root, "mp3")}, NoSync: true}
				st, err := fs.Open(ctx, cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer func() { st.Close() }()
				b := store.NewBucket("b")
				if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
					t.Fatal(err)
				}
				away := st.MountpathOf(b, "over")
				var names []string // on the mountpath away: deleted, kept, early
				for i := 0; len(names) < 3; i++ {
					if name := fmt.Sprintf("obj-%d", i); st.MountpathOf(b, name) == away {
						names = append(names, name)
					}
				}
				deleted, kept, early := names[0], names[1], names[2]
				for _, name := range append(names, "over") {
					storetest.Put(t, st, b, name, []byte("old"))
				}
				remove := func(name string) store.Stamp {
					t.Helper()
					stamp := store.Stamp{Clock: time.Now().UnixNano()}
					if err := st.Delete(ctx, b, name, store.DeleteOptions{Stamp: stamp, Tombstone: true}); err != nil && !errors.Is(err, store.ErrNotFound) {
						t.Fatal(err)
					}
					return stamp
				}
				earlyStamp := remove(early)
				if err := st.DisableMountpath(ctx, away, "by hand"); err != nil {
					t.Fatal(err)
				}
				storetest.Put(t, st, b, "over", []byte("new"))
				deletedStamp := remove(deleted)
				if err := st.DetachMountpath(ctx, away, nil); err != nil {
					t.Fatal(err)
				}
				// The collection of tombstones, an hour on.
				switch collected {
				case "during":
					if err := st.DropTombstone(ctx, b, deleted, deletedStamp); err != nil {
						t.Fatal(err)
					}
					if _, ok := st.Tombstone(b, deleted); ok {
						t.Fatal("the tombstone was not dropped")
					}
				case "before":
					if err := st.DropTombstone(ctx, b, early, earlyStamp); err != nil {
						t.Fatal(err)
					}
				}
				switch how {
				case "attach":
					if err := st.AttachMountpath(ctx, away); err != nil {
						t.Fatal(err)
					}
				case "restart":
					st.Close()
					if st, err = fs.Open(ctx, cfg); err != nil {
						t.Fatal(err)
					}
				}
				check := func(when string) {
					t.Helper()
					if got := storetest.Get(t, st, b, "over"); string(got) != "new" {
						t.Fatalf("%s: the object overwritten while its mountpath was away: %q", when, got)
					}
					for _, name := range []string{deleted, early} {
						if _, err := st.Head(ctx, b, name); !errors.Is(err, store.ErrNotFound) {
							t.Fatalf("%s: %s, deleted, is back: %v", when, name, err)
						}
					}
					_, err := st.Head(ctx, b, kept)
					switch collected {
					case "during":
						if !errors.Is(err, store.ErrNotFound) {
							t.Fatalf("%s: %s, which the unguarded mountpath cannot vouch for, is served: %v", when, kept, err)
						}
					case "before":
						if got := storetest.Get(t, st, b, kept); string(got) != "old" {
							t.Fatalf("%s: %s on the guarded mountpath: %q", when, kept, got)
						}
					}
				}
				check("back")
				if err := st.Resilver(ctx, nil); err != nil {
					t.Fatal(err)
				}
				check("after the resilver")
				aside, _ := filepath.Glob(filepath.Join(away, ".ais", "set-aside", "returned-*", "objects", "*", "b", "*"))
				var setAside []string
				for _, path := range aside {
					setAside = append(setAside, filepath.Base(path))
				}
				slices.Sort(setAside)
				want := []string(nil)
				if collected == "during" {
					want = []string{deleted, kept}
					slices.Sort(want)
				}
				if !slices.Equal(setAside, want) {
					t.Fatalf("set aside: %v, want %v", setAside, want)
				}
				if status := st.MountpathStatuses(); !slices.ContainsFunc(status, func(s store.MountpathStatus) bool { return s.Path == away && s.State == fs.MountpathEnabled }) {
					t.Fatalf("the mountpath after the resilver: %+v", status)
				}
			})
		}
	}
}

// A bucket destroyed and made again at once while a mountpath is away:
// the old bucket's objects there, however recent, are not the new one's,
// before and after the resilver, with and without a restart.
func TestBucketMadeAgainAtOnceWhileAMountpathIsAway(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			st, mps := threeMountpaths(t, fs.Config{})
			away := mps[1]
			b := mirrorBucket(t, st, "again", 1, false)
			var old []string
			for i := 0; len(old) < 4; i++ {
				if name := fmt.Sprintf("o%03d", i); st.MountpathOf(b, name) == away {
					old = append(old, name)
					storetest.Put(t, st, b, name, []byte("old"))
				}
			}
			if err := st.DisableMountpath(t.Context(), away, "by hand"); err != nil {
				t.Fatal(err)
			}
			if err := st.DestroyBucket(t.Context(), b); err != nil {
				t.Fatal(err)
			}
			if err := st.CreateBucket(t.Context(), b, store.DefaultProps()); err != nil {
				t.Fatal(err)
			}
			storetest.Put(t, st, b, "new", []byte("new"))
			if restart {
				st.Close()
				var err error
				if st, err = fs.Open(t.Context(), fs.Config{Mountpaths: mps}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
			} else if err := st.EnableMountpath(t.Context(), away); err != nil {
				t.Fatal(err)
			}
			check := func(when string) {
				t.Helper()
				for _, name := range old {
					if _, err := st.Head(t.Context(), b, name); !errors.Is(err, store.ErrNotFound) {
						t.Fatalf("%s: %s of the destroyed bucket: %v", when, name, err)
					}
				}
				if names := listNames(t, st, b); !slices.Equal(names, []string{"new"}) {
					t.Fatalf("%s: the bucket made again lists %v", when, names)
				}
			}
			check("back")
			if err := st.Resilver(t.Context(), nil); err != nil {
				t.Fatal(err)
			}
			check("after the resilver")
			// Its objects of the new bucket are current from now on.
			name := ""
			for i := 0; name == ""; i++ {
				if n := fmt.Sprintf("p%03d", i); st.MountpathOf(b, n) == away {
					name = n
				}
			}
			storetest.Put(t, st, b, name, []byte("later"))
			if got := storetest.Get(t, st, b, name); string(got) != "later" {
				t.Fatalf("a later object on the mountpath back: %q", got)
			}
		})
	}
}

// Deletes while a mountpath is gone (detached while disabled) guard its
// copies too: one with a stamp leaves a tombstone (its copy there goes
// when it is back), one without makes it unguarded (its copies no other
// holds are set aside, not served).
func TestDeletesWhileAMountpathIsGone(t *testing.T) {
	for _, stamped := range []bool{true, false} {
		t.Run(fmt.Sprintf("stamped=%v", stamped), func(t *testing.T) {
			ctx := t.Context()
			st, mps := threeMountpaths(t, fs.Config{})
			b := mirrorBucket(t, st, "b", 1, false)
			away := mps[2]
			var names []string // on the mountpath that goes: deleted, kept
			for i := 0; len(names) < 2; i++ {
				if name := fmt.Sprintf("o%03d", i); st.MountpathOf(b, name) == away {
					names = append(names, name)
					storetest.Put(t, st, b, name, []byte("old"))
				}
			}
			deleted, kept := names[0], names[1]
			if err := st.DisableMountpath(ctx, away, "by hand"); err != nil {
				t.Fatal(err)
			}
			if err := st.DetachMountpath(ctx, away, nil); err != nil {
				t.Fatal(err)
			}
			opts := store.DeleteOptions{} // no tombstone asked
			if stamped {
				opts.Stamp = store.Stamp{Clock: time.Now().UnixNano()}
			}
			if err := st.Delete(ctx, b, deleted, opts); err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
			if err := st.AttachMountpath(ctx, away); err != nil {
				t.Fatal(err)
			}
			if err := st.Resilver(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Head(ctx, b, deleted); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s, deleted while its mountpath was gone, is back: %v", deleted, err)
			}
			_, err := st.Head(ctx, b, kept)
			if stamped && err != nil {
				t.Fatalf("%s, never deleted, on a mountpath its tombstones guard: %v", kept, err)
			}
			if !stamped && !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s on a mountpath a delete without a tombstone left unguarded: %v, want set aside", kept, err)
			}
		})
	}
}

// A mountpath left out of the config at a restart, whose tombstones of
// deletes made before the restart are collected, stays guarded: it took
// those deletes. Configured again, its objects are served.
func TestMountpathLeftOutKeepsItsGuardsFromBeforeTheRestart(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	all := []string{filepath.Join(root, "mp1"), filepath.Join(root, "mp2"), filepath.Join(root, "mp3")}
	st, err := fs.Open(ctx, fs.Config{Mountpaths: all, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	b := store.NewBucket("b")
	if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	kept := ""
	for i := 0; kept == ""; i++ {
		if name := fmt.Sprintf("o%03d", i); st.MountpathOf(b, name) == all[2] {
			kept = name
		}
	}
	storetest.Put(t, st, b, kept, []byte("kept"))
	storetest.Put(t, st, b, "gone", []byte("x"))
	stamp := store.Stamp{Clock: time.Now().UnixNano()}
	if err := st.Delete(ctx, b, "gone", store.DeleteOptions{Stamp: stamp, Tombstone: true}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if st, err = fs.Open(ctx, fs.Config{Mountpaths: all[:2], NoSync: true}); err != nil {
		t.Fatal(err)
	}
	if err := st.DropTombstone(ctx, b, "gone", stamp); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if st, err = fs.Open(ctx, fs.Config{Mountpaths: all, NoSync: true}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Resilver(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := storetest.Get(t, st, b, kept); string(got) != "kept" {
		t.Fatalf("the object of the mountpath configured again: %q", got)
	}
}

// A disk detached whole (its objects moved off) keeps its bucket
// directories: attached again after the bucket was destroyed and made
// again, its directory is the new bucket's from then on, and what is
// written there later outlives a time away.
func TestReattachedDiskTakesTheNewBucketsMark(t *testing.T) {
	ctx := t.Context()
	st, mps := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "b", 1, false)
	disk := mps[2]
	storetest.Put(t, st, b, "before", []byte("x"))
	if err := st.DetachMountpath(ctx, disk, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.DestroyBucket(ctx, b); err != nil {
		t.Fatal(err)
	}
	props := store.DefaultProps()
	props.Created = store.Int64String(time.Now().Add(time.Second).UnixNano())
	if err := st.CreateBucket(ctx, b, props); err != nil {
		t.Fatal(err)
	}
	if err := st.AttachMountpath(ctx, disk); err != nil {
		t.Fatal(err)
	}
	name := ""
	for i := 0; name == ""; i++ {
		if n := fmt.Sprintf("o%03d", i); st.MountpathOf(b, n) == disk {
			name = n
		}
	}
	storetest.Put(t, st, b, name, []byte("new"))
	if err := st.DisableMountpath(ctx, disk, "by hand"); err != nil {
		t.Fatal(err)
	}
	if err := st.EnableMountpath(ctx, disk); err != nil {
		t.Fatal(err)
	}
	if err := st.Resilver(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := storetest.Get(t, st, b, name); string(got) != "new" {
		t.Fatalf("an object of the new bucket on the disk attached again: %q", got)
	}
}

// A copy a returning mountpath's reconcile removes (deleted while away)
// leaves no empty directories: the name's prefix (x of x/y/z) takes an
// object again, on that mountpath and every other.
func TestReconcileLeavesNoEmptyDirectories(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "plain", 1, false)
	ctx := t.Context()
	storetest.Put(t, st, b, "x/y/z", []byte("old"))
	away := st.MountpathOf(b, "x/y/z")
	if err := st.DisableMountpath(ctx, away, "by hand"); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, b, "x/y/z", store.DeleteOptions{Stamp: store.Stamp{Clock: time.Now().UnixNano()}}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete while away: %v", err)
	}
	if err := st.EnableMountpath(ctx, away); err != nil {
		t.Fatal(err)
	}
	if err := st.Resilver(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(away, "ais", b.Name, "x")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the deleted copy's directories on the returned mountpath: %v", err)
	}
	storetest.Put(t, st, b, "x", []byte("a name that was a prefix"))
	if got := storetest.Get(t, st, b, "x"); string(got) != "a name that was a prefix" {
		t.Fatalf("x: %q", got)
	}
}

// A disk the store used, back under a path no record names (its mount
// point renamed while the node was down), returns and is reconciled
// before its copies are served: they may be older than the others', or
// of objects deleted meanwhile.
func TestDiskUnderANewPathReturns(t *testing.T) {
	root := t.TempDir()
	mps := []string{filepath.Join(root, "mp1"), filepath.Join(root, "mp2")}
	st, err := fs.Open(t.Context(), fs.Config{Mountpaths: mps, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	b := store.NewBucket("b")
	if err := st.CreateBucket(t.Context(), b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, st, b, "o", []byte("data"))
	// Objects of the second disk overwritten while it was away: its old
	// copies must not be served under its new path.
	var onSecond []string
	for i := 0; len(onSecond) < 20; i++ {
		name := fmt.Sprintf("x-%03d", i)
		if st.MountpathOf(b, name) == mps[1] {
			onSecond = append(onSecond, name)
			storetest.Put(t, st, b, name, []byte("version 1"))
		}
	}
	if err := st.DisableMountpath(t.Context(), mps[1], "a test"); err != nil {
		t.Fatal(err)
	}
	for _, name := range onSecond {
		storetest.Put(t, st, b, name, []byte("version 2"))
	}
	st.Close()
	renamed := filepath.Join(root, "mp3")
	if err := os.Rename(mps[1], renamed); err != nil {
		t.Fatal(err)
	}
	st, err = fs.Open(t.Context(), fs.Config{Mountpaths: []string{mps[0], renamed}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	statuses := st.MountpathStatuses()
	if i := slices.IndexFunc(statuses, func(s store.MountpathStatus) bool { return s.Path == renamed }); i < 0 || statuses[i].State != fs.MountpathReturning {
		t.Fatalf("statuses %+v: want %s returning", statuses, renamed)
	}
	for _, name := range onSecond {
		if got := storetest.Get(t, st, b, name); string(got) != "version 2" {
			t.Fatalf("%s while the disk returns: %q", name, got)
		}
	}
	if err := st.Resilver(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if got := storetest.Get(t, st, b, "o"); string(got) != "data" {
		t.Fatalf("the object after the reconcile: %q", got)
	}
	for _, name := range onSecond {
		if got := storetest.Get(t, st, b, name); string(got) != "version 2" {
			t.Fatalf("%s after the disk came back under a new path: %q, want the version written while it was away", name, got)
		}
	}
}

// goneUnguarded deletes other (a tombstone) while the disabled mountpath
// away is gone, detaches away, and collects the tombstone: attached
// again, away comes back unguarded.
func goneUnguarded(t *testing.T, st *fs.Store, b store.Bucket, away, other string) {
	t.Helper()
	ctx := t.Context()
	stamp := store.Stamp{Clock: time.Now().UnixNano()}
	if err := st.Delete(ctx, b, other, store.DeleteOptions{Stamp: stamp, Tombstone: true}); err != nil {
		t.Fatal(err)
	}
	if err := st.DetachMountpath(ctx, away, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.DropTombstone(ctx, b, other, stamp); err != nil {
		t.Fatal(err)
	}
}

// A delete or an overwrite while an unguarded mountpath is being
// reconciled removes the copy its reconcile kept there (a mirror's, of
// the same version as the current ones): promoted, the mountpath serves
// neither the deleted object nor the old bytes.
func TestWritesDuringAnUnguardedReconcileStay(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	cfg := fs.Config{Mountpaths: []string{filepath.Join(root, "mp1"), filepath.Join(root, "mp2"), filepath.Join(root, "mp3")}, NoSync: true}
	st, err := fs.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := store.NewBucket("b")
	props := store.DefaultProps()
	props.Mirror = store.MirrorProps{Enabled: true, Copies: 2}
	if err := st.CreateBucket(ctx, b, props); err != nil {
		t.Fatal(err)
	}
	away := st.MountpathOf(b, "x")
	other, y := "", ""
	for i := 0; other == "" || y == ""; i++ {
		name := fmt.Sprintf("o-%d", i)
		if st.MountpathOf(b, name) != away {
			other = cmp.Or(other, name)
		} else {
			y = cmp.Or(y, name)
		}
	}
	storetest.Put(t, st, b, "x", []byte("mirrored"))
	storetest.Put(t, st, b, y, []byte("old"))
	storetest.Put(t, st, b, other, []byte("other"))
	if err := st.DisableMountpath(ctx, away, "by hand"); err != nil {
		t.Fatal(err)
	}
	goneUnguarded(t, st, b, away, other)
	if err := st.Resilver(ctx, nil); err != nil { // x's second copy made elsewhere
		t.Fatal(err)
	}
	if err := st.AttachMountpath(ctx, away); err != nil {
		t.Fatal(err)
	}
	reached := map[string]bool{}
	defer fs.OnCopyReconciled(func(_ store.Bucket, name string) {
		if reached[name] {
			return
		}
		reached[name] = true
		switch name {
		case "x":
			if err := st.Delete(ctx, b, "x", store.DeleteOptions{Stamp: store.Stamp{Clock: time.Now().UnixNano()}}); err != nil {
				t.Errorf("delete during the reconcile: %v", err)
			}
		case y:
			if _, err := st.Put(ctx, b, y, strings.NewReader("new"), store.PutOptions{Size: 3}); err != nil {
				t.Errorf("overwrite during the reconcile: %v", err)
			}
		}
	})()
	if err := st.Resilver(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if !reached["x"] || !reached[y] {
		t.Fatalf("the reconcile did not reach x and %s: %v", y, reached)
	}
	if _, err := st.Head(ctx, b, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("x, deleted while the mountpath was reconciled, is back: %v", err)
	}
	for range 5 {
		if got := storetest.Get(t, st, b, y); string(got) != "new" {
			t.Fatalf("%s, overwritten while the mountpath was reconciled, reads %q", y, got)
		}
	}
	for _, path := range copyPaths(st, b, y) {
		if got, err := os.ReadFile(path); err != nil || string(got) != "new" {
			t.Fatalf("a copy of %s, overwritten while its mountpath was reconciled: %s reads %q %v", y, path, got, err)
		}
	}
	if status := st.MountpathStatuses(); !slices.ContainsFunc(status, func(s store.MountpathStatus) bool { return s.Path == away && s.State == fs.MountpathEnabled }) {
		t.Fatalf("the mountpath after the resilver: %+v", status)
	}
}

// A create-only PUT (If-None-Match: *) of a name not found while a
// mountpath is away is refused, to be tried again: the disk may hold it,
// and the write would replace it when the disk is back.
func TestConditionalPutWhileAMountpathIsAway(t *testing.T) {
	ctx := t.Context()
	st, _ := threeMountpaths(t, fs.Config{NoSync: true})
	b := store.NewBucket("b")
	if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, st, b, "k", []byte("the original"))
	away := st.MountpathOf(b, "k")
	elsewhere := "" // a name placed on another disk
	for i := 0; elsewhere == ""; i++ {
		if name := fmt.Sprintf("new-%d", i); st.MountpathOf(b, name) != away {
			elsewhere = name
		}
	}
	if err := st.DisableMountpath(ctx, away, "a failing disk"); err != nil {
		t.Fatal(err)
	}
	_, err := st.Put(ctx, b, "k", strings.NewReader("a create-only write"), store.PutOptions{Size: 19, IfNoneMatch: "*"})
	if !errors.Is(err, store.ErrUnreached) {
		t.Fatalf("If-None-Match * of a name on a disabled mountpath: %v, want it refused as unreached", err)
	}
	// A plain write is not held by the outage, nor a create-only one of
	// a name the away disk would not hold.
	if _, err := st.Put(ctx, b, "other", strings.NewReader("x"), store.PutOptions{Size: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, b, elsewhere, strings.NewReader("x"), store.PutOptions{Size: 1, IfNoneMatch: "*"}); err != nil {
		t.Fatalf("If-None-Match * of %s, which the away disk would not hold: %v", elsewhere, err)
	}
	if err := st.EnableMountpath(ctx, away); err != nil {
		t.Fatal(err)
	}
	if got := storetest.Get(t, st, b, "k"); string(got) != "the original" {
		t.Fatalf("after the disk is back: %q", got)
	}
}

// A disk attached while another is away may outrank it for a name the
// away one holds: a create-only PUT of that name is refused too.
func TestConditionalPutAfterAnAttachWhileAway(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	mp1, mp2, mp3 := filepath.Join(root, "mp1"), filepath.Join(root, "mp2"), filepath.Join(root, "mp3")
	b := store.NewBucket("b")
	name := ""
	for i := 0; name == ""; i++ {
		n := fmt.Sprintf("k-%d", i)
		if two, three := fs.RankOf([]string{mp1, mp2}, b, n), fs.RankOf([]string{mp1, mp2, mp3}, b, n); two[0] == mp2 && three[0] == mp3 && three[1] == mp2 {
			name = n
		}
	}
	st, err := fs.Open(ctx, fs.Config{Mountpaths: []string{mp1, mp2}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, st, b, name, []byte("the original"))
	if err := st.DisableMountpath(ctx, mp2, "a failing disk"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(mp3, 0o755); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // attached after the disable, by the clock
	if err := st.AttachMountpath(ctx, mp3); err != nil {
		t.Fatal(err)
	}
	_, err = st.Put(ctx, b, name, strings.NewReader("a create-only write"), store.PutOptions{Size: 19, IfNoneMatch: "*"})
	if !errors.Is(err, store.ErrUnreached) {
		t.Fatalf("If-None-Match * of %s (on the away disk, outranked by the one attached since): %v, want refused", name, err)
	}
	// Enabled (returning), then disabled again before its reconcile: it
	// is away since it first went, before the attach, still.
	time.Sleep(10 * time.Millisecond)
	if err := st.EnableMountpath(ctx, mp2); err != nil {
		t.Fatal(err)
	}
	if err := st.DisableMountpath(ctx, mp2, "failing again"); err != nil {
		t.Fatal(err)
	}
	_, err = st.Put(ctx, b, name, strings.NewReader("a create-only write"), store.PutOptions{Size: 19, IfNoneMatch: "*"})
	if !errors.Is(err, store.ErrUnreached) {
		t.Fatalf("If-None-Match * of %s once its disk was disabled again: %v, want refused", name, err)
	}
}

// An unguarded mountpath back with a copy newer than a current one (an
// older version stored elsewhere while it was away, a rebalance's) is
// not read until it is promoted: its copy takes the older one's place,
// so that the object reads as its newest version all through the
// reconcile, not as missing.
func TestUnguardedReconcileKeepsTheObjectReadable(t *testing.T) {
	ctx := t.Context()
	st, _ := threeMountpaths(t, fs.Config{NoSync: true})
	b := mirrorBucket(t, st, "b", 1, false)
	away := st.MountpathOf(b, "x")
	other := ""
	for i := 0; other == ""; i++ {
		if name := fmt.Sprintf("o-%d", i); st.MountpathOf(b, name) != away {
			other = name
		}
	}
	now := time.Now().UnixNano()
	newer, older := store.Stamp{Clock: now}, store.Stamp{Clock: now - int64(time.Minute)}
	if _, err := st.Put(ctx, b, "x", strings.NewReader("newer"), store.PutOptions{Size: 5, Stamp: newer}); err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, st, b, other, []byte("other"))
	if err := st.DisableMountpath(ctx, away, "by hand"); err != nil {
		t.Fatal(err)
	}
	// The older version, brought while the newer one's mountpath is away.
	if _, err := st.Put(ctx, b, "x", strings.NewReader("older"), store.PutOptions{Size: 5, Stamp: older}); err != nil {
		t.Fatal(err)
	}
	goneUnguarded(t, st, b, away, other)
	if err := st.AttachMountpath(ctx, away); err != nil {
		t.Fatal(err)
	}
	var during []string
	defer fs.OnCopyReconciled(func(_ store.Bucket, name string) {
		if name != "x" {
			return
		}
		obj, err := st.Open(ctx, b, "x", store.OpenOptions{})
		if err != nil {
			during = append(during, err.Error())
			return
		}
		data, _ := io.ReadAll(obj)
		obj.Close()
		during = append(during, string(data))
	})()
	if err := st.Resilver(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(during, []string{"newer"}) {
		t.Fatalf("x read during the reconcile of its copy: %q, want the newer version", during)
	}
	if got := storetest.Get(t, st, b, "x"); string(got) != "newer" {
		t.Fatalf("x after the reconcile: %q", got)
	}
}

// A copy older than the delete of its name (a rebalance's, sent late) is
// superseded though objects under the name as a prefix now stand in its
// way: its sender drops it (a conflict, it kept it, to bring the deleted
// object back once the tombstone went).
func TestStaleCopyUnderAPrefixIsSuperseded(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	all := []string{filepath.Join(root, "mp1"), filepath.Join(root, "mp2")}
	st, err := fs.Open(ctx, fs.Config{Mountpaths: all, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := store.NewBucket("b")
	if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	tried := 0
	for i := 0; tried < 4; i++ {
		name := fmt.Sprintf("d%03d", i)
		if st.MountpathOf(b, name) == st.MountpathOf(b, name+"/x") {
			continue // its own mountpath's install tells the conflict
		}
		tried++
		deleted := store.Stamp{Clock: 10}
		if err := st.Delete(ctx, b, name, store.DeleteOptions{Stamp: deleted, Tombstone: true}); err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		storetest.Put(t, st, b, name+"/x", []byte("under it"))
		_, err := st.Put(ctx, b, name, strings.NewReader("old"), store.PutOptions{Size: 3, Stamp: store.Stamp{Clock: 5}, IfNewer: true})
		if !errors.Is(err, store.ErrExists) {
			t.Fatalf("%s, older than its delete, under a prefix of other objects: %v, want superseded (exists)", name, err)
		}
	}
}

// A returning mountpath's newer copy takes the older copies' places
// rather than only removing them: the mountpath disabled again before it
// is promoted (failing again, as it did when it went away), the object is
// still read, at its newer version.
func TestReturningCopyOutlivesItsMountpathGoingAgain(t *testing.T) {
	ctx := t.Context()
	st, _ := threeMountpaths(t, fs.Config{NoSync: true})
	b := store.NewBucket("b")
	if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	base := time.Now().UnixNano()
	put := func(data string, clock int64) {
		if _, err := st.Put(ctx, b, "x", strings.NewReader(data), store.PutOptions{Size: int64(len(data)), Stamp: store.Stamp{Map: 1, Clock: base + clock}, IfNewer: true}); err != nil {
			t.Fatal(err)
		}
	}
	put("newest", 8)
	away := st.MountpathOf(b, "x")
	if err := st.DisableMountpath(ctx, away, "by hand"); err != nil {
		t.Fatal(err)
	}
	put("stale", 3) // it cannot see the copy away
	if err := st.EnableMountpath(ctx, away); err != nil {
		t.Fatal(err)
	}
	defer fs.OnCopyReconciled(func(_ store.Bucket, name string) {
		if name == "x" {
			if err := st.DisableMountpath(ctx, away, "failing again"); err != nil {
				t.Error(err)
			}
		}
	})()
	st.Resilver(ctx, nil) // (cut short: its mountpath went)
	if got := storetest.Get(t, st, b, "x"); string(got) != "newest" {
		t.Fatalf("x with its returning mountpath gone again: %q, want the newest write", got)
	}
}
