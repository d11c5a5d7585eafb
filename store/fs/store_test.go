package fs_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/fs"
	"github.com/aisgo/aisgo/store/storetest"
)

func open(t *testing.T, mountpaths ...string) *fs.Store {
	t.Helper()
	st, err := fs.Open(t.Context(), fs.Config{Mountpaths: mountpaths})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// corrupt flips a byte of the object's file wherever it lies.
func corrupt(t *testing.T, st store.Store, b store.Bucket, name string) {
	t.Helper()
	for _, mp := range st.(*fs.Store).Mountpaths() {
		path := filepath.Join(mp, "ais", b.Name, name)
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		data[len(data)/2] ^= 0xff
		// Write in place so the metadata in the xattr stays.
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(data)
		f.Close()
		return
	}
	t.Fatalf("object %s not found on any mountpath", name)
}

func TestConformanceOneMountpath(t *testing.T) {
	storetest.Run(t, storetest.Options{
		New:     func(t *testing.T) store.Store { return open(t, t.TempDir()) },
		Corrupt: corrupt,
	})
}

func TestConformanceThreeMountpaths(t *testing.T) {
	storetest.Run(t, storetest.Options{
		New: func(t *testing.T) store.Store {
			root := t.TempDir()
			return open(t, filepath.Join(root, "mp1"), filepath.Join(root, "mp2"), filepath.Join(root, "mp3"))
		},
		Corrupt: corrupt,
	})
}

func TestOpenRemovesLeftoverWorkFiles(t *testing.T) {
	mp := t.TempDir()
	open(t, mp)
	leftover := filepath.Join(mp, ".ais", "work", "interrupted-put")
	if err := os.WriteFile(leftover, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	// And a health check's probe, cut short by a crash.
	if err := os.MkdirAll(filepath.Join(mp, ".ais", "health"), 0o755); err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(mp, ".ais", "health", "probe-interrupted")
	if err := os.WriteFile(probe, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(probe, past, past); err != nil {
		t.Fatal(err)
	}
	open(t, mp)
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatalf("leftover work file survived a restart: %v", err)
	}
	if _, err := os.Stat(probe); !os.IsNotExist(err) {
		t.Fatalf("a health probe left by a crash survived a restart: %v", err)
	}
}

func TestObjectsAreOpenFormatFiles(t *testing.T) {
	mp := t.TempDir()
	st := open(t, mp)
	b := store.NewBucket("open")
	if err := st.CreateBucket(t.Context(), b, store.Props{}); err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, st, b, "dir/file.txt", []byte("plain bytes"))
	data, err := os.ReadFile(filepath.Join(mp, "ais", "open", "dir", "file.txt"))
	if err != nil || string(data) != "plain bytes" {
		t.Fatalf("object is not a plain file: %q %v", data, err)
	}
}

func TestBucketsPersistAcrossRestart(t *testing.T) {
	mp := t.TempDir()
	st := open(t, mp)
	b := store.NewBucket("kept")
	props := store.DefaultProps()
	props.Checksum.Type = store.ChecksumMD5
	if err := st.CreateBucket(t.Context(), b, props); err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, st, b, "o", []byte("x"))
	md, _ := st.Buckets(t.Context())
	again := open(t, mp)
	md2, _ := again.Buckets(t.Context())
	if md2.Version != md.Version || md2.Buckets[store.NewBucket("kept")].Checksum.Type != store.ChecksumMD5 {
		t.Fatalf("metadata after restart %+v, before %+v", md2, md)
	}
	if got := storetest.Get(t, again, b, "o"); string(got) != "x" {
		t.Fatalf("object after restart: %q", got)
	}
}

// Adding a mountpath moves only its share by HRW, and objects left on
// their old mountpath stay readable.
func TestAddingMountpathMovesOnlyItsShare(t *testing.T) {
	root := t.TempDir()
	mps := []string{filepath.Join(root, "a"), filepath.Join(root, "b"), filepath.Join(root, "c")}
	st := open(t, mps...)
	b := store.NewBucket("spread")
	if err := st.CreateBucket(t.Context(), b, store.Props{}); err != nil {
		t.Fatal(err)
	}
	const n = 900
	for i := range n {
		storetest.Put(t, st, b, fmt.Sprintf("o%04d", i), []byte{byte(i)})
	}
	counts := map[string]int{}
	for _, mp := range mps {
		entries, _ := os.ReadDir(filepath.Join(mp, "ais", "spread"))
		counts[mp] = len(entries)
		if len(entries) < n/3*70/100 || len(entries) > n/3*130/100 {
			t.Errorf("mountpath %s holds %d of %d objects: not an even spread", mp, len(entries), n)
		}
	}
	grown := open(t, append(mps, filepath.Join(root, "d"))...)
	for i := range n {
		name := fmt.Sprintf("o%04d", i)
		if got := storetest.Get(t, grown, b, name); len(got) != 1 || got[0] != byte(i) {
			t.Fatalf("%s unreadable after adding a mountpath", name)
		}
	}
	list, err := grown.List(t.Context(), b, store.ListOptions{})
	if err != nil || len(list) != n {
		t.Fatalf("listing after adding a mountpath: %d objects, %v", len(list), err)
	}
	// New writes of the same names land by HRW; the stale copy goes.
	moved := 0
	for i := range n {
		name := fmt.Sprintf("o%04d", i)
		storetest.Put(t, grown, b, name, []byte{byte(i)})
		if _, err := os.Stat(filepath.Join(root, "d", "ais", "spread", name)); err == nil {
			moved++
		}
	}
	if moved < n/4*60/100 || moved > n/4*140/100 {
		t.Errorf("%d of %d objects belong to the new mountpath, want about a quarter", moved, n)
	}
	list, _ = grown.List(t.Context(), b, store.ListOptions{})
	if len(list) != n {
		t.Fatalf("after rewrite: %d objects listed, want %d (a stale copy stayed)", len(list), n)
	}
}

// TestMountpathsOf: how many mountpaths mountpathsOf returns, and that
// they are in HRW order, checked against a dumb alternative: the (k+1)-th
// is where a store without the first k would put the object.
func TestMountpathsOf(t *testing.T) {
	root := t.TempDir()
	mps := []string{filepath.Join(root, "a"), filepath.Join(root, "b"), filepath.Join(root, "c"), filepath.Join(root, "d")}
	st := open(t, mps...)
	b := store.NewBucket("copies")
	for _, tc := range []struct {
		name    string
		n, want int
	}{
		{"negative", -1, 0},
		{"zero", 0, 0},
		{"one", 1, 1},
		{"three", 3, 3},
		{"all", 4, 4},
		{"more than there are", 6, 4},
	} {
		if got := st.MountpathsOf(b, "obj", tc.n); len(got) != tc.want {
			t.Errorf("%s: n=%d gave %d mountpaths %q, want %d", tc.name, tc.n, len(got), got, tc.want)
		}
	}
	if got := open(t, filepath.Join(root, "single")).MountpathsOf(b, "obj", 3); len(got) != 1 {
		t.Errorf("one mountpath: %q", got)
	}

	// Stores over fewer mountpaths, by the ones left, opened on first use.
	subsets := map[string]*fs.Store{}
	storeWithout := func(gone []string) *fs.Store {
		left := slices.DeleteFunc(slices.Clone(mps), func(mp string) bool { return slices.Contains(gone, mp) })
		key := strings.Join(left, ",")
		if subsets[key] == nil {
			// Each a node of its own: not a restart of another with some
			// mountpaths left out (those would come back returning).
			for _, mp := range mps {
				os.Remove(filepath.Join(mp, ".ais", "away.json"))
			}
			subsets[key] = open(t, left...)
		}
		return subsets[key]
	}
	for i := range 500 {
		name := fmt.Sprintf("dir/o%04d", i)
		all := st.MountpathsOf(b, name, len(mps))
		if first := st.MountpathOf(b, name); all[0] != first {
			t.Fatalf("%s: first of %q is not mountpathOf %s", name, all, first)
		}
		for k := range all {
			if slices.Contains(all[:k], all[k]) {
				t.Fatalf("%s: %s twice in %q", name, all[k], all)
			}
			if want := storeWithout(all[:k]).MountpathOf(b, name); all[k] != want {
				t.Fatalf("%s: copy %d on %s, want %s (the first without %q)", name, k, all[k], want, all[:k])
			}
			if prefix := st.MountpathsOf(b, name, k+1); !slices.Equal(prefix, all[:k+1]) {
				t.Fatalf("%s: %q is not a prefix of %q", name, prefix, all)
			}
		}
	}
}

func TestNoMountpaths(t *testing.T) {
	if _, err := fs.Open(t.Context(), fs.Config{}); err == nil {
		t.Fatal("a store without mountpaths opened")
	}
}

func TestNameConflictWithFileAsMountpath(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	_, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{file}})
	if err == nil || errors.Is(err, store.ErrNoXattr) {
		t.Fatalf("a regular file as mountpath: %v", err)
	}
}

// On one mountpath "a" and "a/b" cannot coexist: the second is refused.
func TestNameConflictOnOneMountpath(t *testing.T) {
	st := open(t, t.TempDir())
	b := store.NewBucket("conflicts")
	if err := st.CreateBucket(t.Context(), b, store.Props{}); err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, st, b, "a", []byte("file"))
	if _, err := st.Put(t.Context(), b, "a/b", strings.NewReader("x"), store.PutOptions{Size: 1}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("put a/b over object a: %v, want ErrConflict", err)
	}
	storetest.Put(t, st, b, "d/e", []byte("x"))
	if _, err := st.Put(t.Context(), b, "d", strings.NewReader("x"), store.PutOptions{Size: 1}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("put d over prefix d/: %v, want ErrConflict", err)
	}
	entries, _ := os.ReadDir(filepath.Join(st.Mountpaths()[0], ".ais", "work"))
	if len(entries) != 0 {
		t.Fatalf("refused puts left %d work files", len(entries))
	}
}

// Across mountpaths too "a" and "a/b" cannot coexist, whichever mountpath
// each hashes to; an empty directory left where an object goes is no
// conflict.
func TestNameConflictAcrossMountpaths(t *testing.T) {
	root := t.TempDir()
	mps := []string{filepath.Join(root, "mp1"), filepath.Join(root, "mp2"), filepath.Join(root, "mp3")}
	for _, mp := range mps {
		os.Mkdir(mp, 0o755)
	}
	st := open(t, mps...)
	b := store.NewBucket("conflicts")
	if err := st.CreateBucket(t.Context(), b, store.Props{}); err != nil {
		t.Fatal(err)
	}
	// Files and prefixes that land on other mountpaths than their
	// neighbors.
	apart := func(prefix string) (file, under string) {
		for i := range 200 {
			file, under = fmt.Sprintf("%s%d", prefix, i), fmt.Sprintf("%s%d/x", prefix, i)
			if st.MountpathOf(b, file) != st.MountpathOf(b, under) {
				break
			}
		}
		return file, under
	}
	file, under := apart("f")
	storetest.Put(t, st, b, file, []byte("file"))
	if _, err := st.Put(t.Context(), b, under, strings.NewReader("x"), store.PutOptions{Size: 1}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("put %s beside object %s on another mountpath: %v, want ErrConflict", under, file, err)
	}
	file, under = apart("d")
	storetest.Put(t, st, b, under, []byte("x"))
	if _, err := st.Put(t.Context(), b, file, strings.NewReader("x"), store.PutOptions{Size: 1}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("put %s beside prefix %s/ on another mountpath: %v, want ErrConflict", file, file, err)
	}
	// Empty directories, as a removal or a full disk leaves them, on
	// every mountpath.
	for _, mp := range mps {
		if err := os.MkdirAll(filepath.Join(mp, "ais", b.Name, "left"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	storetest.Put(t, st, b, "left", []byte("a file where empty directories were"))
	if got := storetest.Get(t, st, b, "left"); string(got) != "a file where empty directories were" {
		t.Fatalf("got %q", got)
	}
	// Nested ones too, as a PUT of a longer name cut short leaves them.
	for _, mp := range mps {
		if err := os.MkdirAll(filepath.Join(mp, "ais", b.Name, "nested", "b", "c"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	storetest.Put(t, st, b, "nested", []byte("a file where nested empty directories were"))
	if got := storetest.Get(t, st, b, "nested"); string(got) != "a file where nested empty directories were" {
		t.Fatalf("got %q", got)
	}
	// An object deep under empty directories is a prefix still.
	storetest.Put(t, st, b, "deep/x/y/z", []byte("deep"))
	if _, err := st.Put(t.Context(), b, "deep", strings.NewReader("x"), store.PutOptions{Size: 1}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("put deep over deep/x/y/z: %v, want ErrConflict", err)
	}
}

// A listing that cannot read an object's metadata (EIO of a failing
// disk) fails, rather than leave the object out: a bucket listed empty is
// destroyed by the checks that ask. A file without AIS metadata, or one
// this node may not read, is still no object.
func TestListFailsOnAnUnreadableObject(t *testing.T) {
	st := open(t, t.TempDir())
	defer st.Close() // before the directory goes: the health check the fault starts writes there
	ctx := t.Context()
	b := store.NewBucket("eio")
	if err := st.CreateBucket(ctx, b, store.Props{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if _, err := st.Put(ctx, b, name, strings.NewReader(name), store.PutOptions{Size: 1}); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(st.Mountpaths()[0], "ais", b.Name, "plain"), []byte("not an object"), 0o644)
	for _, withMeta := range []bool{false, true} {
		got, err := st.List(ctx, b, store.ListOptions{WithMeta: withMeta})
		if err != nil || len(got) != 2 {
			t.Fatalf("listing with meta %v before the fault: %d objects, %v", withMeta, len(got), err)
		}
	}
	restore := fs.OnGetxattr(func(path, attr string, dest []byte) (int, error) {
		if filepath.Base(path) == "b" {
			return 0, syscall.EIO
		}
		return syscall.Getxattr(path, attr, dest)
	})
	defer func() { restore() }() // (the restore of the hook set last)
	for _, withMeta := range []bool{false, true} {
		if got, err := st.List(ctx, b, store.ListOptions{WithMeta: withMeta, Limit: 5}); err == nil {
			t.Errorf("listing with meta %v over an unreadable object: %d objects, no error", withMeta, len(got))
		}
	}
	// A stray file this node may not read (EACCES) is skipped, as one
	// without metadata is: the listing goes on.
	restore()
	restore = fs.OnGetxattr(func(path, attr string, dest []byte) (int, error) {
		if filepath.Base(path) == "b" {
			return 0, syscall.EACCES
		}
		return syscall.Getxattr(path, attr, dest)
	})
	for _, withMeta := range []bool{false, true} {
		if got, err := st.List(ctx, b, store.ListOptions{WithMeta: withMeta, Limit: 5}); err != nil || len(got) != 1 {
			t.Errorf("listing with meta %v over a file it may not read: %d objects, %v", withMeta, len(got), err)
		}
	}
}

// A PUT that cannot remove an older copy of its object on another
// mountpath (EIO) fails rather than acknowledge a write a read may not
// see; one whose stale copy goes is acknowledged.
func TestPutFailsWhenAnOlderCopyStays(t *testing.T) {
	mps := []string{t.TempDir(), t.TempDir()}
	st := open(t, mps...)
	ctx := t.Context()
	b := store.NewBucket("stale")
	if err := st.CreateBucket(ctx, b, store.Props{}); err != nil {
		t.Fatal(err)
	}
	other := mps[0]
	if st.MountpathOf(b, "x") == other {
		other = mps[1]
	}
	stale := filepath.Join(other, "ais", b.Name, "x")
	os.MkdirAll(filepath.Dir(stale), 0o755)
	restore := fs.OnRemoveCopy(func(path string) error {
		if path == stale {
			return &os.PathError{Op: "remove", Path: path, Err: syscall.EIO}
		}
		return os.Remove(path)
	})
	defer restore()
	os.WriteFile(stale, []byte("old"), 0o644)
	if _, err := st.Put(ctx, b, "x", strings.NewReader("new"), store.PutOptions{Size: 3}); !errors.Is(err, store.ErrIO) {
		t.Fatalf("a PUT whose older copy stays: %v, want an I/O error", err)
	}
	restore()
	if _, err := st.Put(ctx, b, "x", strings.NewReader("new"), store.PutOptions{Size: 3}); err != nil {
		t.Fatalf("a PUT once the older copy can go: %v", err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("the older copy is still there: %v", err)
	}
}

// A plain write stamped under an older cluster map than the copy or the
// delete its name holds comes from a node behind the map: refused, to be
// sent again, rather than acknowledged and then dropped as the older.
func TestWriteBehindTheNamesMapIsRefused(t *testing.T) {
	st := open(t, t.TempDir())
	ctx := t.Context()
	b := store.NewBucket("behind")
	if err := st.CreateBucket(ctx, b, store.Props{}); err != nil {
		t.Fatal(err)
	}
	put := func(name string, stamp store.Stamp) error {
		_, err := st.Put(ctx, b, name, strings.NewReader("x"), store.PutOptions{Size: 1, Stamp: stamp})
		return err
	}
	if err := put("x", store.Stamp{Map: 11, Clock: 100}); err != nil {
		t.Fatal(err)
	}
	if err := put("x", store.Stamp{Map: 10, Clock: 200}); !errors.Is(err, store.ErrPlacementChanged) {
		t.Fatalf("a write under map 10 over a copy of map 11: %v, want refused", err)
	}
	if err := put("x", store.Stamp{Map: 11, Clock: 300}); err != nil {
		t.Fatalf("a write under the same map: %v", err)
	}
	if err := st.Delete(ctx, b, "x", store.DeleteOptions{Stamp: store.Stamp{Map: 12, Clock: 400}, Tombstone: true}); err != nil {
		t.Fatal(err)
	}
	if err := put("x", store.Stamp{Map: 11, Clock: 500}); !errors.Is(err, store.ErrPlacementChanged) {
		t.Fatalf("a write under map 11 over a delete of map 12: %v, want refused", err)
	}
	if err := put("x", store.Stamp{Map: 12, Clock: 600}); err != nil {
		t.Fatalf("a write under the delete's map: %v", err)
	}
	if got, err := st.Head(ctx, b, "x"); err != nil || got.Stamp != (store.Stamp{Map: 12, Clock: 600}) {
		t.Fatalf("the object after: %+v %v", got.Stamp, err)
	}
	// A write-through's remote took the write before the commit here:
	// the remote orders it, and the copy here follows.
	staged := store.PutOptions{Size: 1, Stamp: store.Stamp{Map: 10, Clock: 700}, Stage: func(io.ReaderAt, int64) (map[string]string, error) { return nil, nil }}
	if _, err := st.Put(ctx, b, "x", strings.NewReader("y"), staged); err != nil {
		t.Fatalf("a write-through under an older map: %v", err)
	}
}

// TestFailedMetadataSaveChangesNothing: a bucket-metadata save that fails
// (here: a directory where the file goes, as a full disk would) leaves
// the store as it was, so the same change works once the cause is gone.
func TestFailedMetadataSaveChangesNothing(t *testing.T) {
	mp := t.TempDir()
	st := open(t, mp)
	ctx := t.Context()
	if err := st.CreateBucket(ctx, store.NewBucket("a"), store.Props{}); err != nil {
		t.Fatal(err)
	}
	before, _ := st.Buckets(ctx)
	bmd := filepath.Join(mp, ".ais", "bmd.json")
	saved, _ := os.ReadFile(bmd)
	os.Remove(bmd)
	if err := os.MkdirAll(filepath.Join(bmd, "blocker"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateBucket(ctx, store.NewBucket("b"), store.Props{}); err == nil {
		t.Fatal("create succeeded although the metadata could not be saved")
	}
	if err := st.SyncBuckets(ctx, store.BucketMetadata{Version: before.Version + 5, Buckets: map[store.Bucket]store.Props{store.NewBucket("c"): store.DefaultProps()}}); err == nil {
		t.Fatal("sync succeeded although the metadata could not be saved")
	}
	after, _ := st.Buckets(ctx)
	if after.Version != before.Version || len(after.Buckets) != len(before.Buckets) {
		t.Fatalf("memory moved ahead of disk: %+v, was %+v", after, before)
	}
	os.RemoveAll(bmd)
	os.WriteFile(bmd, saved, 0o644)
	if err := st.CreateBucket(ctx, store.NewBucket("b"), store.Props{}); err != nil {
		t.Fatalf("create after the cause is gone: %v", err)
	}
	reopened := open(t, mp)
	if md, _ := reopened.Buckets(ctx); len(md.Buckets) != 2 {
		t.Fatalf("after a restart: %v", md.Buckets)
	}
}

// TestSyncRefusesNamesThatEscape: a pushed bucket name with "../" segments
// is refused before any directory is made or removed.
func TestSyncRefusesNamesThatEscape(t *testing.T) {
	top := t.TempDir()
	mp := filepath.Join(top, "mp")
	victim := filepath.Join(top, "victim")
	os.MkdirAll(victim, 0o755)
	st := open(t, mp)
	ctx := t.Context()
	evil := strings.Repeat("../", 20) + strings.TrimPrefix(victim, "/")
	for _, name := range []string{evil, "../../victim", "..", "a/b"} {
		md := store.BucketMetadata{Version: 10, Buckets: map[store.Bucket]store.Props{store.NewBucket(name): store.DefaultProps()}}
		if err := st.SyncBuckets(ctx, md); !errors.Is(err, store.ErrInvalidName) {
			t.Errorf("bucket %q: %v, want ErrInvalidName", name, err)
		}
	}
	if err := st.SyncBuckets(ctx, store.BucketMetadata{Version: 11, Buckets: map[store.Bucket]store.Props{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Fatalf("the directory outside the data directory is gone: %v", err)
	}
}

// TestPutRacesDeleteOfNeighbors: PUTs into a directory while DELETEs
// empty it (and remove it) all succeed: the mkdir and rename are tried
// again when the parent vanishes between them.
func TestPutRacesDeleteOfNeighbors(t *testing.T) {
	st := open(t, t.TempDir())
	ctx := t.Context()
	b := store.NewBucket("race")
	if err := st.CreateBucket(ctx, b, store.Props{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4000)
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				name := fmt.Sprintf("d%d/e/obj-%d-%d", i%3, w, i)
				if _, err := st.Put(ctx, b, name, strings.NewReader("x"), store.PutOptions{Size: 1}); err != nil {
					errs <- err
					continue
				}
				if err := st.Delete(ctx, b, name, store.DeleteOptions{}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed == 0 {
			t.Errorf("first failure: %v", err)
		}
		failed++
	}
	if failed > 0 {
		t.Fatalf("%d of 4000 operations failed", failed)
	}
}

// A restore stores its version over a copy of the same stamp (a corrupt
// one), never over a newer object or after a newer delete.
func TestPutIfNotOlder(t *testing.T) {
	ctx := t.Context()
	st := open(t, t.TempDir())
	b := store.NewBucket("b")
	if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	put := func(data string, stamp store.Stamp) error {
		_, err := st.Put(ctx, b, "o", strings.NewReader(data), store.PutOptions{Size: int64(len(data)), Stamp: stamp, IfNotOlder: true})
		return err
	}
	if err := put("v5", store.Stamp{Map: 1, Clock: 5}); err != nil {
		t.Fatal(err)
	}
	if err := put("v5", store.Stamp{Map: 1, Clock: 5}); err != nil {
		t.Fatalf("over a copy of the same stamp: %v", err)
	}
	if err := put("v4", store.Stamp{Map: 1, Clock: 4}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("over a newer object: %v, want ErrExists", err)
	}
	if err := st.Delete(ctx, b, "o", store.DeleteOptions{Stamp: store.Stamp{Map: 1, Clock: 7}, Tombstone: true}); err != nil {
		t.Fatal(err)
	}
	if err := put("v6", store.Stamp{Map: 1, Clock: 6}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("after a newer delete: %v, want ErrExists", err)
	}
}

// A mountpath attached while the node ran is opened again at a restart
// with the same config: its objects are not missing, and a disabled one
// comes back returning; a detached one is not opened again.
func TestAttachedMountpathsSurviveARestart(t *testing.T) {
	ctx := t.Context()
	configured, attached, detached, disabled := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	cfg := fs.Config{Mountpaths: []string{configured}, NoSync: true}
	st, err := fs.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := store.NewBucket("b")
	if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{attached, detached, disabled} {
		if err := st.AttachMountpath(ctx, path); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 60 {
		storetest.Put(t, st, b, fmt.Sprintf("o%02d", i), []byte(fmt.Sprint(i)))
	}
	if err := st.DetachMountpath(ctx, detached, nil); err != nil {
		t.Fatal(err)
	}
	onAttached, _ := filepath.Glob(filepath.Join(attached, "*", "*", "o*"))
	if len(onAttached) == 0 {
		t.Fatalf("no object landed on the attached mountpath %s", attached)
	}
	if err := st.DisableMountpath(ctx, disabled, "a test"); err != nil {
		t.Fatal(err)
	}
	st.Close()

	st, err = fs.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got := st.Mountpaths(); !slices.Contains(got, configured) || !slices.Contains(got, attached) || slices.Contains(got, detached) || slices.Contains(got, disabled) {
		t.Fatalf("mountpaths after the restart: %v, want %s and %s (enabled)", got, configured, attached)
	}
	states := map[string]string{}
	for _, m := range st.MountpathStatuses() {
		states[m.Path] = m.State
	}
	if states[disabled] != fs.MountpathReturning {
		t.Fatalf("the attached mountpath disabled before the restart: %q, want returning (%v)", states[disabled], states)
	}
	for i := range 60 {
		if got := storetest.Get(t, st, b, fmt.Sprintf("o%02d", i)); string(got) != fmt.Sprint(i) {
			t.Fatalf("o%02d after the restart: %q", i, got)
		}
	}
}

// A configured mountpath the store used that fails at start (a disk
// remounted read-only, EIO) is disabled, and the node starts on the
// others: one disk does not keep the healthy ones from serving.
func TestConfiguredMountpathThatCannotOpenIsDisabled(t *testing.T) {
	ctx := t.Context()
	good, bad := t.TempDir(), t.TempDir()
	cfg := fs.Config{Mountpaths: []string{good, bad}, NoSync: true}
	st, err := fs.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := store.NewBucket("b")
	if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		storetest.Put(t, st, b, fmt.Sprintf("o%02d", i), []byte(fmt.Sprint(i)))
	}
	st.Close()
	// Its work directory unusable: the start's preparation fails there.
	work := filepath.Join(bad, ".ais", "work")
	if err := os.RemoveAll(work); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(work, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err = fs.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open with one mountpath failing: %v", err)
	}
	defer st.Close()
	if got := st.Mountpaths(); !slices.Equal(got, []string{good}) {
		t.Fatalf("mountpaths in use: %v, want %s only", got, good)
	}
	for _, m := range st.MountpathStatuses() {
		if m.Path == bad && m.State != fs.MountpathDisabled {
			t.Fatalf("the failing mountpath: %+v, want disabled", m)
		}
	}
	// Those on the good one are served.
	served := 0
	for i := range 20 {
		if obj, err := st.Open(ctx, b, fmt.Sprintf("o%02d", i), store.OpenOptions{}); err == nil {
			served++
			obj.Close()
		}
	}
	if served == 0 {
		t.Fatal("no object served from the good mountpath")
	}
	// An object of the failed disk written again meanwhile reads as
	// written once the disk is back: it returns, its copies not served
	// as current.
	var onBad string
	for i := range 20 {
		if _, err := os.Stat(filepath.Join(bad, "ais", "b", fmt.Sprintf("o%02d", i))); err == nil {
			onBad = fmt.Sprintf("o%02d", i)
			break
		}
	}
	if onBad == "" {
		t.Fatal("no object on the failing mountpath")
	}
	storetest.Put(t, st, b, onBad, []byte("written while the disk failed"))
	st.Close()
	if err := os.Remove(work); err != nil {
		t.Fatal(err)
	}
	st, err = fs.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for range 100 {
		if got := storetest.Get(t, st, b, onBad); string(got) != "written while the disk failed" {
			t.Fatalf("%s, written again while its disk failed, reads %q", onBad, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// An attached mountpath that cannot be opened at a restart stays one of
// the node's, disabled: it is neither forgotten (an attach would then put
// its stale copies in use at once) nor in use.
func TestAttachedMountpathThatCannotOpenStaysDisabled(t *testing.T) {
	ctx := t.Context()
	configured, attached := t.TempDir(), filepath.Join(t.TempDir(), "mp")
	cfg := fs.Config{Mountpaths: []string{configured}, NoSync: true}
	st, err := fs.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AttachMountpath(ctx, attached); err != nil {
		t.Fatal(err)
	}
	st.Close()
	moved := attached + ".gone"
	if err := os.Rename(attached, moved); err != nil {
		t.Fatal(err)
	}
	state := func(st *fs.Store) string {
		for _, m := range st.MountpathStatuses() {
			if m.Path == attached {
				return m.State
			}
		}
		return ""
	}
	disabledAtStart := func(what string) {
		t.Helper()
		st, err := fs.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if got := state(st); got != fs.MountpathDisabled || slices.Contains(st.Mountpaths(), attached) {
			t.Fatalf("the attached mountpath %s: %q (in use: %v), want disabled", what, got, st.Mountpaths())
		}
	}
	// Twice: a restart while it is still missing keeps it too.
	disabledAtStart("that cannot be opened")
	disabledAtStart("that cannot be opened, again")
	// Its directory there but empty (the disk not mounted on it):
	// disabled too, and nothing made in it.
	if err := os.Mkdir(attached, 0o755); err != nil {
		t.Fatal(err)
	}
	disabledAtStart("whose directory is empty")
	if entries, _ := os.ReadDir(attached); len(entries) > 0 {
		t.Fatalf("made %v in the empty directory of a disk not mounted", entries)
	}
	if err := os.Remove(attached); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(moved, attached); err != nil {
		t.Fatal(err)
	}
	st, err = fs.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.AttachMountpath(ctx, attached); !errors.Is(err, store.ErrMountpath) {
		t.Fatalf("attach of the disabled mountpath: %v, want it refused (enable it)", err)
	}
	if err := st.EnableMountpath(ctx, attached); err != nil {
		t.Fatal(err)
	}
	if got := state(st); got != fs.MountpathReturning && got != fs.MountpathEnabled {
		t.Fatalf("the enabled mountpath: %q", got)
	}
}

// Destroying a bucket makes the removal of its directory durable before
// it deletes the files: a crash (power loss) must not leave the objects
// where a bucket created again under the name would find them.
func TestDestroyBucketSyncsTheRemoval(t *testing.T) {
	ctx := t.Context()
	mp := t.TempDir()
	bucketDir := filepath.Join(mp, "ais", "b")
	var mu sync.Mutex
	removalSynced := false
	st, err := fs.Open(ctx, fs.Config{Mountpaths: []string{mp}, SyncFS: func(string) error {
		mu.Lock()
		defer mu.Unlock()
		trash, _ := os.ReadDir(filepath.Join(mp, ".ais", "trash"))
		if _, err := os.Stat(bucketDir); errors.Is(err, os.ErrNotExist) && len(trash) > 0 {
			removalSynced = true // moved away, not yet deleted
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := store.NewBucket("b")
	if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, st, b, "o", []byte("object"))
	if err := st.DestroyBucket(ctx, b); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !removalSynced {
		t.Fatal("the bucket's directory was deleted with no sync of its move to the trash")
	}
	if trash, _ := os.ReadDir(filepath.Join(mp, ".ais", "trash")); len(trash) != 0 {
		t.Fatalf("the trash keeps %d entries after the destroy", len(trash))
	}
}

// The deletion of a destroyed bucket's files (minutes for millions)
// holds no other request up: the store's lock is not held through it,
// whether the destroy is the node's own or comes with newer metadata.
func TestDestroyedBucketsFilesGoOutOfTheLock(t *testing.T) {
	ctx := t.Context()
	st := open(t, t.TempDir())
	defer st.Close()
	other := store.NewBucket("other")
	for _, b := range []store.Bucket{store.NewBucket("b"), store.NewBucket("c"), other} {
		if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
			t.Fatal(err)
		}
		storetest.Put(t, st, b, "o", []byte("object"))
	}
	// While the files are deleted, another bucket's reads and writes go.
	served := make(chan error, 1)
	defer fs.OnEmptyTrash(func() {
		done := make(chan error, 1)
		go func() {
			_, err := st.Put(ctx, other, "during", strings.NewReader("x"), store.PutOptions{Size: 1})
			if err == nil {
				_, err = st.Head(ctx, other, "o")
			}
			done <- err
		}()
		select {
		case err := <-done:
			served <- err
		case <-time.After(10 * time.Second):
			served <- errors.New("a PUT and a HEAD of another bucket waited for the deletion")
		}
	})()
	if err := st.DestroyBucket(ctx, store.NewBucket("b")); err != nil {
		t.Fatal(err)
	}
	wait := func() error {
		select {
		case err := <-served:
			return err
		case <-time.After(20 * time.Second):
			return errors.New("the files were not deleted through the hook")
		}
	}
	if err := wait(); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	md, _ := st.Buckets(ctx)
	md.Delete(store.NewBucket("c"))
	md.Version++
	if err := st.SyncBuckets(ctx, md); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatalf("newer metadata without a bucket: %v", err)
	}
	if _, err := st.Head(ctx, store.NewBucket("c"), "o"); !errors.Is(err, store.ErrBucketNotFound) {
		t.Fatalf("the bucket destroyed by newer metadata: %v", err)
	}
}

// A bucket destroyed by newer metadata (a push from the gateways) is
// gone when SyncBuckets returns, and its files are deleted after: the
// push is answered at once, not after minutes of deletes (the target's
// keepalive pushes would wait behind it).
func TestSyncBucketsDeletesTheFilesAfterItReturns(t *testing.T) {
	ctx := t.Context()
	st := open(t, t.TempDir())
	defer st.Close()
	b := store.NewBucket("big")
	if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, st, b, "o", []byte("object"))
	release, deleting := make(chan struct{}), make(chan struct{})
	defer fs.OnEmptyTrash(func() {
		close(deleting)
		<-release
	})()
	md, _ := st.Buckets(ctx)
	md.Delete(b)
	md.Version++
	synced := make(chan error, 1)
	go func() { synced <- st.SyncBuckets(ctx, md) }()
	select {
	case err := <-synced:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("SyncBuckets waited for the destroyed bucket's files to be deleted")
	}
	if _, err := st.Head(ctx, b, "o"); !errors.Is(err, store.ErrBucketNotFound) {
		t.Fatalf("the bucket after the sync: %v", err)
	}
	<-deleting
	close(release)
}

// A destroyed bucket's files are deleted a file at a time, and the
// deletion stops when told (a store closing): a big bucket's does not
// hold the store's Close for minutes; the rest is the next start's.
func TestTrashDeletionStops(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "trash")
	for i := range 40 {
		sub := filepath.Join(dir, fmt.Sprintf("d%d", i%4), "x")
		os.MkdirAll(sub, 0o755)
		os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%d", i)), []byte("x"), 0o644)
	}
	// A link to a directory outside is removed, not followed.
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "keep"), []byte("x"), 0o644)
	os.Symlink(outside, filepath.Join(dir, "link"))
	calls := 0
	if err := fs.RemoveTree(dir, func() bool { calls++; return calls > 5 }); !errors.Is(err, fs.ErrStopped) {
		t.Fatalf("a deletion told to stop: %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the stopped deletion removed it all: %v", err)
	}
	if err := fs.RemoveTree(dir, func() bool { return false }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the deletion left %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "keep")); err != nil {
		t.Fatalf("the deletion followed a link: %v", err)
	}
}

// A store that closes while a destroyed bucket's files are deleted in
// the background stops the deletion (the next start sweeps the rest)
// rather than wait for it.
func TestCloseStopsTheTrashDeletion(t *testing.T) {
	ctx := t.Context()
	mp := t.TempDir()
	st := open(t, mp)
	b := store.NewBucket("big")
	if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		storetest.Put(t, st, b, fmt.Sprintf("o%02d", i), []byte("object"))
	}
	closed := make(chan struct{})
	defer fs.OnEmptyTrash(func() {
		go func() { st.Close(); close(closed) }()
		for deadline := time.Now().Add(10 * time.Second); !st.Stopping() && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	})()
	md, _ := st.Buckets(ctx)
	md.Delete(b)
	md.Version++
	if err := st.SyncBuckets(ctx, md); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return")
	}
	left := 0
	filepath.WalkDir(mp, func(path string, d iofs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), "o") {
			left++
		}
		return nil
	})
	if left == 0 {
		t.Fatal("the deletion went on to the end after Close")
	}
}

// What a crash left of atomic writes (temporary files of the bucket
// metadata, the away record, tombstones) goes at the next open; the
// records themselves stay.
func TestOpenRemovesLeftoverTemporaryFiles(t *testing.T) {
	ctx := t.Context()
	mp := t.TempDir()
	cfg := fs.Config{Mountpaths: []string{mp}, NoSync: true}
	st, err := fs.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	tombstones := filepath.Join(mp, ".ais", "tombstones", "ais", "b")
	if err := os.MkdirAll(tombstones, 0o755); err != nil {
		t.Fatal(err)
	}
	leftovers := []string{
		filepath.Join(mp, ".ais", "bmd.json.tmp-123"),
		filepath.Join(mp, ".ais", "away.json.tmp-456"),
		filepath.Join(tombstones, "0a1b.tmp-789"),
	}
	kept := []string{filepath.Join(tombstones, "0a1b"), filepath.Join(mp, ".ais", "other.tmp-1")}
	for _, path := range slices.Concat(leftovers, kept) {
		if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, err = fs.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, path := range leftovers {
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is left after the open: %v", path, err)
		}
	}
	for _, path := range kept {
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s, not the store's leftover, is gone: %v", path, err)
		}
	}
}

// A mountpath change that no mountpath can record is refused: a restart
// would not know the mountpath was away, and would take its stale copies
// for current. One mountpath that takes the record is enough.
func TestMountpathChangeNeedsItsRecord(t *testing.T) {
	ctx := t.Context()
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	st, err := fs.Open(ctx, fs.Config{Mountpaths: []string{a, b, c}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// A directory where the record goes: no write of it can land.
	block := func(mp string) {
		record := filepath.Join(mp, ".ais", "away.json")
		os.Remove(record)
		if err := os.MkdirAll(filepath.Join(record, "in-the-way"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	block(a)
	if err := st.DisableMountpath(ctx, c, "a test"); err != nil {
		t.Fatalf("a change b can record: %v", err)
	}
	if err := st.EnableMountpath(ctx, c); err != nil {
		t.Fatalf("a change b can record: %v", err)
	}
	block(b)
	block(c)
	err = st.DisableMountpath(ctx, b, "a test")
	if !errors.Is(err, store.ErrMountpath) || !strings.Contains(err.Error(), "record") {
		t.Fatalf("a change no mountpath can record: %v", err)
	}
	for _, m := range st.MountpathStatuses() {
		if m.Path == b && m.State == fs.MountpathDisabled {
			t.Fatal("the refused change took effect")
		}
	}
}

// openWithObject opens a store with bucket b holding object "o".
func openWithObject(t *testing.T, cfg fs.Config) (*fs.Store, store.Bucket) {
	t.Helper()
	st, err := fs.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := store.NewBucket("b")
	if err := st.CreateBucket(t.Context(), b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, st, b, "o", []byte("data"))
	return st, b
}

// A read noted and not flushed yet is written when the store closes: a
// restart keeps it (LRU would take a just-read object for cold).
func TestCloseKeepsPendingAccessTimes(t *testing.T) {
	ctx := t.Context()
	cfg := fs.Config{Mountpaths: []string{t.TempDir()}, NoSync: true}
	st, b := openWithObject(t, cfg)
	time.Sleep(50 * time.Millisecond)
	read := time.Now()
	obj, err := st.Open(ctx, b, "o", store.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	obj.Close()
	st.Close()
	st, err = fs.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	list, err := st.List(ctx, b, store.ListOptions{WithMeta: true})
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	if list[0].Atime.Before(read.Add(-time.Millisecond)) {
		t.Fatalf("access time after a restart %s, the read was at %s", list[0].Atime, read)
	}
}

// The node's own reads (a rebalance moving an object, an EC encode) are
// not uses: the access time LRU orders by stays the clients' last read.
func TestInternalReadsKeepTheAccessTime(t *testing.T) {
	ctx := t.Context()
	st, b := openWithObject(t, fs.Config{Mountpaths: []string{t.TempDir()}, NoSync: true})
	defer st.Close()
	atime := func() time.Time {
		st.FlushAccessTimes()
		list, err := st.List(ctx, b, store.ListOptions{WithMeta: true})
		if err != nil || len(list) != 1 {
			t.Fatalf("list: %v %v", list, err)
		}
		return list[0].Atime
	}
	before := atime()
	time.Sleep(20 * time.Millisecond)
	obj, err := st.Open(ctx, b, "o", store.OpenOptions{Internal: true})
	if err != nil {
		t.Fatal(err)
	}
	obj.Close()
	if got := atime(); !got.Equal(before) {
		t.Fatalf("an internal read moved the access time from %s to %s", before, got)
	}
	obj, err = st.Open(ctx, b, "o", store.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	obj.Close()
	if got := atime(); !got.After(before) {
		t.Fatalf("a client's read left the access time at %s", got)
	}
}

// Mountpaths on one filesystem say so in their capacity (LRU frees the
// filesystem's bytes once, not once per mountpath).
func TestCapacityNamesTheFilesystem(t *testing.T) {
	st, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{t.TempDir(), t.TempDir()}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	list, err := st.Capacity(t.Context())
	if err != nil || len(list) != 2 {
		t.Fatalf("capacity: %v %v", list, err)
	}
	if list[0].Filesystem == "" || list[0].Filesystem != list[1].Filesystem {
		t.Fatalf("two mountpaths on one filesystem: %q and %q", list[0].Filesystem, list[1].Filesystem)
	}
}

// A path inside a disabled mountpath, or one that leads into a mountpath
// by a symlink, is not attached: enabled again, the one would hold the
// other, and a bucket's removal on the outer would wipe the inner.
func TestAttachRefusesOverlapsOfAnyMountpath(t *testing.T) {
	ctx := t.Context()
	first, second := t.TempDir(), t.TempDir()
	st, err := fs.Open(ctx, fs.Config{Mountpaths: []string{first, second}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.DisableMountpath(ctx, second, "a test"); err != nil {
		t.Fatal(err)
	}
	if err := st.AttachMountpath(ctx, filepath.Join(second, "ais", "bkt")); !errors.Is(err, store.ErrMountpath) || !strings.Contains(err.Error(), "overlaps") {
		t.Fatalf("attach inside a disabled mountpath: %v, want refused as an overlap", err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(first, link); err != nil {
		t.Fatal(err)
	}
	if err := st.AttachMountpath(ctx, filepath.Join(link, "inner")); !errors.Is(err, store.ErrMountpath) || !strings.Contains(err.Error(), "overlaps") {
		t.Fatalf("attach inside a mountpath through a symlink: %v, want refused as an overlap", err)
	}
	// The same directory by a bind mount (no symlink tells it): a PUT
	// would remove the copy it wrote as one on another mountpath.
	if os.Geteuid() != 0 {
		t.Log("not root: the bind mount case is not tried")
		return
	}
	bound := t.TempDir()
	if err := syscall.Mount(first, bound, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind mount: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(bound, syscall.MNT_DETACH) })
	if err := st.AttachMountpath(ctx, bound); !errors.Is(err, store.ErrMountpath) || !strings.Contains(err.Error(), "overlaps") {
		t.Fatalf("attach of a bind mount of a mountpath: %v, want refused as an overlap", err)
	}
}

// A mountpath whose filesystem cannot be asked is left out of the
// capacity, with an error naming it: the others' watermarks still hold
// (an error for all would leave the node with no space check), and the
// failure shows (metrics count it).
func TestCapacityLeavesOutAMountpathItCannotAsk(t *testing.T) {
	first, second := t.TempDir(), t.TempDir()
	st, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{first, second}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := os.RemoveAll(second); err != nil {
		t.Fatal(err)
	}
	list, err := st.Capacity(t.Context())
	if err == nil || !strings.Contains(err.Error(), second) || len(list) != 1 || list[0].Path != first {
		t.Fatalf("capacity with %s gone: %+v %v, want %s alone and an error naming the other", second, list, err, first)
	}
	// And the failing one is checked, and disabled.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		states := map[string]string{}
		for _, m := range st.MountpathStatuses() {
			states[m.Path] = m.State
		}
		if states[second] == fs.MountpathDisabled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mountpath %s, gone, is %q", second, states[second])
		}
	}
}

// The pages of a listing of a big flat directory read it once (cached,
// sorted), and a change to it is seen at the next page.
func TestListingPagesOfABigDirectory(t *testing.T) {
	ctx := t.Context()
	st, err := fs.Open(ctx, fs.Config{Mountpaths: []string{t.TempDir()}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := store.NewBucket("flat")
	if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	const n = 1500
	var want []string
	for i := range n {
		name := fmt.Sprintf("o%05d", i)
		if i%100 == 0 {
			name = fmt.Sprintf("o%05d/in", i) // subdirectories sort among the files
		}
		storetest.Put(t, st, b, name, []byte("x"))
		want = append(want, name)
	}
	slices.Sort(want)
	time.Sleep(fs.DirSettled + 100*time.Millisecond)
	list := func(limit int, after string) []store.ObjectMeta {
		page, err := st.List(ctx, b, store.ListOptions{Limit: limit, StartAfter: after})
		if err != nil {
			t.Fatal(err)
		}
		return page
	}
	var got []string
	for after := ""; ; {
		page := list(100, after)
		if len(page) == 0 {
			break
		}
		for _, m := range page {
			got = append(got, m.Name)
		}
		after = page[len(page)-1].Name
		if len(got) == 100 && st.CachedDirs() != 1 {
			t.Fatalf("after the first page %d directories are cached, want the big one", st.CachedDirs())
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the pages list %d names, want %d in order", len(got), len(want))
	}
	// A name added after the directory was cached is listed.
	page := list(10, "o00700")
	storetest.Put(t, st, b, "o00700a", []byte("x"))
	if page = list(10, page[0].Name); page[0].Name != "o00700a" {
		t.Fatalf("after adding o00700a the next page starts at %s", page[0].Name)
	}
	// And a prefix within the big directory.
	if page = list(0, "o0139"); len(page) == 0 {
		t.Fatal("nothing after o0139")
	}
	if page, _ := st.List(ctx, b, store.ListOptions{Prefix: "o01400"}); len(page) != 1 || page[0].Name != "o01400/in" {
		t.Fatalf("prefix o01400: %+v", page)
	}
}

// Mountpaths that are one directory by two names, or one inside the
// other, are refused at open: a PUT removes an object's copies from the
// mountpaths it does not place it on, and would remove the one it wrote.
func TestOpenRefusesOverlappingMountpaths(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	for _, paths := range [][]string{{dir, link}, {dir, filepath.Join(dir, "inner")}} {
		if st, err := fs.Open(t.Context(), fs.Config{Mountpaths: paths, NoSync: true}); err == nil || !strings.Contains(err.Error(), "same directory") {
			if st != nil {
				st.Close()
			}
			t.Errorf("open with mountpaths %v: %v, want refused", paths, err)
		}
	}
}

// An attach writes the bucket metadata only to the new mountpath: another
// that cannot take a write (full) fails no attach that took place.
func TestAttachIsNotFailedByAnotherMountpath(t *testing.T) {
	ctx := t.Context()
	configured, attached := t.TempDir(), t.TempDir()
	st, err := fs.Open(ctx, fs.Config{Mountpaths: []string{configured}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := store.NewBucket("b")
	if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	// A directory where its metadata file goes refuses the rewrite, as a
	// full disk would.
	saved := filepath.Join(configured, ".ais", "bmd.json")
	if err := os.Remove(saved); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(saved, "in-the-way"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := st.AttachMountpath(ctx, attached); err != nil {
		t.Fatalf("attach: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(attached, ".ais", "bmd.json"))
	if err != nil || !strings.Contains(string(data), `"b"`) {
		t.Fatalf("the attached mountpath's bucket metadata: %s, %v", data, err)
	}
}

// A PUT of a name and one of a name below it, at once: one is stored,
// the other refused as a conflict, never failed otherwise.
func TestNameAndPrefixRacing(t *testing.T) {
	st := open(t, t.TempDir())
	b := store.NewBucket("race")
	if err := st.CreateBucket(t.Context(), b, store.Props{}); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		file, under := fmt.Sprintf("p%d", i), fmt.Sprintf("p%d/x", i)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for j, name := range []string{file, under} {
			wg.Go(func() {
				_, errs[j] = st.Put(t.Context(), b, name, strings.NewReader("x"), store.PutOptions{Size: 1})
			})
		}
		wg.Wait()
		for j, err := range errs {
			if err != nil && !errors.Is(err, store.ErrConflict) {
				t.Fatalf("put %s racing its neighbor: %v, want stored or ErrConflict", []string{file, under}[j], err)
			}
		}
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("%s and %s: %v, %v: want exactly one stored", file, under, errs[0], errs[1])
		}
	}
}

// What a Stage says of the object (a remote's ETag and version) is added
// to its metadata, and left out when it does not fit: the bytes are on
// the remote already, and the write must not fail here for it.
func TestStagedCustomMetadataIsKeptWhenItFits(t *testing.T) {
	st := open(t, t.TempDir())
	b := store.Bucket{Provider: store.ProviderAIS, Name: "b"}
	if err := st.CreateBucket(t.Context(), b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	for name, value := range map[string]string{"fits": "etag-1", "too-big": strings.Repeat("x", 4<<10)} {
		caller := map[string]string{"mine": "v"}
		stage := func(io.ReaderAt, int64) (map[string]string, error) {
			return map[string]string{"remote.etag": value}, nil
		}
		if _, err := st.Put(t.Context(), b, name, strings.NewReader("data"), store.PutOptions{Size: 4, Custom: caller, Stage: stage}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		meta, err := st.Head(t.Context(), b, name)
		kept := meta.Custom["remote.etag"] == value
		if err != nil || kept != (name == "fits") || meta.Custom["mine"] != "v" {
			t.Fatalf("%s: custom %v %v", name, meta.Custom, err)
		}
		if len(caller) != 1 {
			t.Fatalf("%s: the caller's map was changed: %v", name, caller)
		}
	}
}

// A delete for objects unread since a time (an eviction) keeps one read
// since, whether its read is noted only (pending) or written into its
// metadata, and removes one that was not.
func TestDeleteIfReadBefore(t *testing.T) {
	ctx := t.Context()
	st := open(t, t.TempDir())
	b := store.NewBucket("b")
	if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-time.Hour)
	for _, name := range []string{"read", "read-flushed", "unread"} {
		if _, err := st.Put(ctx, b, name, strings.NewReader(name), store.PutOptions{Size: int64(len(name)), Atime: long}); err != nil {
			t.Fatal(err)
		}
	}
	cutoff := time.Now().Add(-time.Minute)
	for _, name := range []string{"read", "read-flushed"} {
		obj, err := st.Open(ctx, b, name, store.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		obj.Close()
		if name == "read-flushed" {
			st.FlushAccessTimes()
		}
		if err := st.Delete(ctx, b, name, store.DeleteOptions{IfReadBefore: cutoff}); !errors.Is(err, store.ErrExists) {
			t.Fatalf("%s: the delete of an object read since: %v, want ErrExists", name, err)
		}
		if _, err := st.Head(ctx, b, name); err != nil {
			t.Fatalf("%s: %v after the refused delete", name, err)
		}
	}
	if err := st.Delete(ctx, b, "unread", store.DeleteOptions{IfReadBefore: cutoff}); err != nil {
		t.Fatalf("the delete of an object unread since: %v", err)
	}
	if _, err := st.Head(ctx, b, "unread"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after its delete: %v", err)
	}
}

// Mountpaths on filesystems without an fsid (FUSE) are told apart by
// their devices: to LRU, one full disk's excess is not freed by
// evicting from another.
func TestFilesystemIDWithoutFsid(t *testing.T) {
	dir := t.TempDir()
	if got := fs.FilesystemID(1, 2, dir); got != "1:2" {
		t.Fatalf("with an fsid: %q", got)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	if got, want := fs.FilesystemID(0, 0, dir), fmt.Sprintf("dev:%x", st.Dev); got != want {
		t.Fatalf("without an fsid: %q, want the device's %q", got, want)
	}
	if fs.FilesystemID(0, 0, "/proc") == fs.FilesystemID(0, 0, dir) {
		t.Fatal("two filesystems without an fsid are one")
	}
}

// One bucket's props are read without the whole metadata, and the same
// as the metadata's; a bucket there is not is ErrBucketNotFound.
func TestBucketProps(t *testing.T) {
	ctx := t.Context()
	st := open(t, t.TempDir())
	b := store.Bucket{Provider: "aws", Name: "b"}
	props := store.DefaultProps()
	props.Checksum.ValidateColdGet = true
	if err := st.CreateBucket(ctx, b, props); err != nil {
		t.Fatal(err)
	}
	md, err := st.Buckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := md.Props(b)
	got, err := store.PropsOf(ctx, st, b)
	if err != nil || !reflect.DeepEqual(got, want) || !got.Checksum.ValidateColdGet {
		t.Fatalf("props %+v, %v; want %+v", got, err, want)
	}
	if _, err := store.PropsOf(ctx, st, store.Bucket{Provider: "aws", Name: "other"}); !errors.Is(err, store.ErrBucketNotFound) {
		t.Fatalf("a missing bucket: %v", err)
	}
}

// Bucket metadata holding props that fail a rule newer than them (a
// negative dont_evict_time) is adopted from a peer and loads again on
// restart: only a change of props is held to the rules.
func TestStoredPropsOlderThanARuleLoad(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	st := open(t, dir)
	b := store.NewBucket("b")
	props := store.DefaultProps()
	props.LRU.DontEvictTime = store.Duration(-time.Hour)
	if props.Validate() == nil {
		t.Fatal("the props pass today's rules: the test needs props that fail one")
	}
	md := store.NewBucketMetadata()
	md.Version = 1
	md.Set(b, props)
	if err := st.SyncBuckets(ctx, md); err != nil {
		t.Fatalf("adopt: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	again := open(t, dir)
	defer again.Close()
	got, err := store.PropsOf(ctx, again, b)
	if err != nil || got.LRU.DontEvictTime != props.LRU.DontEvictTime {
		t.Fatalf("after a restart: %+v, %v", got.LRU, err)
	}
	if err := again.SetBucketProps(ctx, b, got); !errors.Is(err, store.ErrInvalidProps) {
		t.Fatalf("a change keeping them: %v, want ErrInvalidProps", err)
	}
}

// A disk detached from one node and given to another brings nothing of
// the first's metadata: the second does not take the first's record of
// its mountpaths away (of the same names on its host) for its own.
func TestADetachedDiskBringsNoRecordToTheNextNode(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	d1, d2, shared := filepath.Join(root, "d1"), filepath.Join(root, "d2"), filepath.Join(root, "shared")
	first, err := fs.Open(ctx, fs.Config{Mountpaths: []string{d1, d2, shared}, NoSync: true, Owner: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.DisableMountpath(ctx, d1, "a failed disk"); err != nil {
		t.Fatal(err)
	}
	if err := first.DetachMountpath(ctx, shared, nil); err != nil {
		t.Fatal(err)
	}
	first.Close()
	// The second node's host has a d1 of its own (the same layout).
	if err := os.Rename(d1, d1+".first"); err != nil {
		t.Fatal(err)
	}
	check := func(st *fs.Store) {
		t.Helper()
		for _, m := range st.MountpathStatuses() {
			if m.State != "enabled" {
				t.Fatalf("the second node's mountpaths: %+v, want all enabled (the first's d1 was away, not this one)", st.MountpathStatuses())
			}
		}
	}
	second, err := fs.Open(ctx, fs.Config{Mountpaths: []string{d1, shared}, NoSync: true, Owner: "t2"})
	if err != nil {
		t.Fatal(err)
	}
	check(second)
	second.Close()
	// So with a record of the first's, newer than any of the second's,
	// left there: its owner tells it is not the second's own.
	var record map[string]json.RawMessage
	data, err := os.ReadFile(filepath.Join(d2, ".ais", "away.json"))
	if err == nil {
		err = json.Unmarshal(data, &record)
	}
	if err != nil {
		t.Fatal(err)
	}
	record["version"] = json.RawMessage("9000000000000000000")
	plant := func(disk string, record map[string]json.RawMessage) {
		t.Helper()
		data, err := json.Marshal(record)
		if err == nil {
			err = os.WriteFile(filepath.Join(disk, ".ais", "away.json"), data, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	plant(shared, record)
	again, err := fs.Open(ctx, fs.Config{Mountpaths: []string{d1, shared}, NoSync: true, Owner: "t2"})
	if err != nil {
		t.Fatal(err)
	}
	check(again)
	again.Close()
	// And one naming no node (an older version's, which left it on a
	// detached disk) on a disk a node claims at its start, beside the
	// record the node keeps of its own.
	if err := os.Rename(d1, d1+".second"); err != nil { // a third host's d1
		t.Fatal(err)
	}
	records := t.TempDir()
	third, err := fs.Open(ctx, fs.Config{Mountpaths: []string{d1}, NoSync: true, Owner: "t3", RecordDir: records})
	if err != nil {
		t.Fatal(err)
	}
	third.Close()
	if err := os.Remove(filepath.Join(shared, ".ais", "owner")); err != nil {
		t.Fatal(err)
	}
	delete(record, "owner")
	plant(shared, record)
	third, err = fs.Open(ctx, fs.Config{Mountpaths: []string{d1, shared}, NoSync: true, Owner: "t3", RecordDir: records})
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	check(third)
}

// A mountpath keeps the node it is for: another node's disk, given to
// this one by mistake (or shared by two), is refused at start, attach
// and enable, naming its node; one of no node's yet is claimed.
func TestMountpathOfAnotherNodeIsRefused(t *testing.T) {
	ctx := t.Context()
	theirs, ours, spare := t.TempDir(), t.TempDir(), t.TempDir()
	other, err := fs.Open(ctx, fs.Config{Mountpaths: []string{theirs}, NoSync: true, Owner: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	other.Close()
	if _, err := fs.Open(ctx, fs.Config{Mountpaths: []string{ours, theirs}, NoSync: true, Owner: "t2"}); !errors.Is(err, store.ErrMountpath) || !strings.Contains(err.Error(), `belongs to node "t1"`) {
		t.Fatalf("a start with another node's mountpath: %v, want refused naming t1", err)
	}
	st, err := fs.Open(ctx, fs.Config{Mountpaths: []string{ours, spare}, NoSync: true, Owner: "t2"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.AttachMountpath(ctx, theirs); !errors.Is(err, store.ErrMountpath) || !strings.Contains(err.Error(), `belongs to node "t1"`) {
		t.Fatalf("an attach of another node's mountpath: %v, want refused naming t1", err)
	}
	// Disabled, its owner changed beneath it: not enabled.
	if err := st.DisableMountpath(ctx, spare, "a test"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spare, ".ais", "owner"), []byte("t1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := st.EnableMountpath(ctx, spare); !errors.Is(err, store.ErrMountpath) || !strings.Contains(err.Error(), `belongs to node "t1"`) {
		t.Fatalf("an enable of a mountpath now another node's: %v, want refused", err)
	}
	// Refused before anything there changed: the other node's work stays.
	work := filepath.Join(theirs, ".ais", "work", "a-put-in-flight")
	if err := os.WriteFile(work, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Open(ctx, fs.Config{Mountpaths: []string{theirs}, NoSync: true, Owner: "t2"}); err == nil {
		t.Fatal("another node's mountpath opened")
	}
	if _, err := os.Stat(work); err != nil {
		t.Fatalf("a refused open removed the owner's work file: %v", err)
	}
	// The same node started again takes its own; renamed (-id), its own
	// under its former id, stamped anew.
	if again, err := fs.Open(ctx, fs.Config{Mountpaths: []string{theirs}, NoSync: true, Owner: "t1"}); err != nil {
		t.Fatalf("the owner started again: %v", err)
	} else {
		again.Close()
	}
	renamed, err := fs.Open(ctx, fs.Config{Mountpaths: []string{theirs}, NoSync: true, Owner: "t9", FormerOwner: "t1"})
	if err != nil {
		t.Fatalf("the owner renamed: %v", err)
	}
	renamed.Close()
	if data, _ := os.ReadFile(filepath.Join(theirs, ".ais", "owner")); string(data) != "t9\n" {
		t.Fatalf("the renamed node's mountpath says %q", data)
	}
	// Detached (emptied), it is no node's: another may attach it.
	if err := st.AttachMountpath(ctx, theirs); !errors.Is(err, store.ErrMountpath) {
		t.Fatalf("an attach of t9's mountpath by t2: %v", err)
	}
	if err := os.Remove(filepath.Join(theirs, ".ais", "owner")); err != nil {
		t.Fatal(err)
	}
	if err := st.AttachMountpath(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	if err := st.DetachMountpath(ctx, theirs, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(theirs, ".ais", "owner")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a detached mountpath still names its node: %v", err)
	}
}

// Reads noted while a flush of access times is stuck start one more
// flush at most, not one each: a disk that hangs must not pile up a
// goroutine per read.
func TestStuckAccessTimeFlushStartsOneMore(t *testing.T) {
	st, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{t.TempDir()}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	release := fs.HoldAccessTimeFlushes(st)
	before := runtime.NumGoroutine()
	for i := range 3 * 4096 {
		fs.Touch(st, fmt.Sprintf("/nowhere/o-%05d", i))
	}
	grown := runtime.NumGoroutine() - before
	release()
	if grown > 10 {
		t.Fatalf("%d goroutines more after 12288 reads noted with the flush stuck, want one flush waiting", grown)
	}
}

// A delete whose tombstone cannot be written (a full disk, here a file
// where its directory goes) fails with the object's copies in place: a
// copy older than the delete, away meanwhile, would otherwise come back
// unguarded.
func TestDeleteWhoseTombstoneFailsKeepsTheObject(t *testing.T) {
	st, mp, b := oneObjectStore(t, "kept")
	blocked := filepath.Join(mp, ".ais", "tombstones", "ais", "b")
	os.RemoveAll(blocked)
	if err := os.MkdirAll(filepath.Dir(blocked), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blocked, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := st.Delete(t.Context(), b, "o", store.DeleteOptions{Stamp: store.Stamp{Map: 1, Clock: time.Now().UnixNano()}, Tombstone: true})
	if err == nil {
		t.Fatal("a delete whose tombstone could not be written succeeded")
	}
	if got := storetest.Get(t, st, b, "o"); string(got) != "kept" {
		t.Fatalf("the object after the failed delete: %q", got)
	}
}

// A delete on a full disk (its tombstone cannot be written for want of
// room) removes the copies first, to make the room, then writes it: a
// delete is how a full disk is freed.
func TestDeleteOnAFullDiskFreesIt(t *testing.T) {
	st, mp, b := oneObjectStore(t, "taking the room")
	path := filepath.Join(mp, "ais", "b", "o")
	defer fs.OnTombstoneWriting(func(string) error {
		if _, err := os.Stat(path); err == nil {
			return syscall.ENOSPC // full while the copy is there
		}
		return nil
	})()
	stamp := store.Stamp{Map: 1, Clock: time.Now().UnixNano()}
	if err := st.Delete(t.Context(), b, "o", store.DeleteOptions{Stamp: stamp, Tombstone: true}); err != nil {
		t.Fatalf("a delete on a full disk: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the copy after the delete: %v", err)
	}
	if tomb, ok := st.Tombstone(b, "o"); !ok || tomb.Stamp != stamp {
		t.Fatalf("the tombstone after the delete: %+v %v", tomb, ok)
	}
}

// Removals marked on a mountpath are synced by the next sync of any
// write, and stay marked until a sync succeeds; one that fails there
// fails the write (its durability may rest on that removal); a
// mountpath disabled since is no longer synced.
func TestUnsyncedRemovalsAreSyncedByTheNextWrite(t *testing.T) {
	var mu sync.Mutex
	synced, tried := map[string]int{}, map[string]int{}
	failing := map[string]bool{}
	root := t.TempDir()
	mps := []string{filepath.Join(root, "mp1"), filepath.Join(root, "mp2")}
	st, err := fs.Open(t.Context(), fs.Config{Mountpaths: mps, SyncFS: func(path string) error {
		mu.Lock()
		defer mu.Unlock()
		tried[path]++
		if failing[path] {
			return syscall.EIO
		}
		synced[path]++
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := store.NewBucket("b")
	if err := st.CreateBucket(t.Context(), b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	var onFirst string
	for i := 0; onFirst == ""; i++ {
		if name := fmt.Sprintf("o-%d", i); st.MountpathOf(b, name) == mps[0] {
			onFirst = name
		}
	}
	count := func(path string) int {
		mu.Lock()
		defer mu.Unlock()
		return synced[path]
	}
	// Marked on the second; a write on the first syncs it too.
	fs.MarkUnsynced(st, mps[1])
	before := count(mps[1])
	storetest.Put(t, st, b, onFirst, []byte("one"))
	if count(mps[1]) == before {
		t.Fatal("a write after a removal marked elsewhere did not sync it")
	}
	before = count(mps[1])
	storetest.Put(t, st, b, onFirst, []byte("two"))
	if count(mps[1]) != before {
		t.Fatal("a mark synced once is synced again")
	}
	// Its sync failing fails the write; it stays marked.
	fs.MarkUnsynced(st, mps[1])
	mu.Lock()
	failing[mps[1]] = true
	mu.Unlock()
	if _, err := st.Put(t.Context(), b, onFirst, strings.NewReader("three"), store.PutOptions{Size: 5}); err == nil {
		t.Fatal("a write acknowledged while an earlier removal's sync failed")
	}
	mu.Lock()
	failing[mps[1]] = false
	mu.Unlock()
	before = count(mps[1])
	storetest.Put(t, st, b, onFirst, []byte("four"))
	if count(mps[1]) == before {
		t.Fatal("a mark whose sync failed was not synced again")
	}
	// Disabled since: no longer synced for the writes that follow.
	fs.MarkUnsynced(st, mps[1])
	mu.Lock()
	failing[mps[1]] = true
	mu.Unlock()
	if err := st.DisableMountpath(t.Context(), mps[1], "a test"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	before = tried[mps[1]]
	mu.Unlock()
	storetest.Put(t, st, b, onFirst, []byte("five"))
	mu.Lock()
	defer mu.Unlock()
	if tried[mps[1]] != before {
		t.Fatal("a mountpath disabled since its mark is still synced")
	}
}

// A write without a sync (a cold GET's) that removes an older copy on
// another mountpath marks that one unsynced: the next sync takes the
// removal with it, and a delete acknowledged later is not undone by a
// crash that brings the older copy back.
func TestNoSyncWriteMarksTheRemovalOfAnOlderCopy(t *testing.T) {
	var mu sync.Mutex
	synced := map[string]int{}
	root := t.TempDir()
	mps := []string{filepath.Join(root, "mp1"), filepath.Join(root, "mp2")}
	if err := os.MkdirAll(mps[1], 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := fs.Open(t.Context(), fs.Config{Mountpaths: mps[:1], SyncFS: func(path string) error {
		mu.Lock()
		defer mu.Unlock()
		synced[path]++
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := store.NewBucket("b")
	if err := st.CreateBucket(t.Context(), b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		storetest.Put(t, st, b, fmt.Sprintf("o-%d", i), []byte("old"))
	}
	// Attached, the second places some: their copies on the first are
	// the older ones.
	if err := st.AttachMountpath(t.Context(), mps[1]); err != nil {
		t.Fatal(err)
	}
	var name, other string
	for i := 0; name == "" || other == ""; i++ {
		switch n := fmt.Sprintf("o-%d", i); {
		case i < 20 && st.MountpathOf(b, n) == mps[1]:
			name = n
		case i >= 20 && st.MountpathOf(b, n) == mps[1]:
			other = n
		}
		if i > 1000 {
			t.Fatal("no name placed on the second mountpath")
		}
	}
	if _, err := st.Put(t.Context(), b, name, strings.NewReader("new"), store.PutOptions{Size: 3, NoSync: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(mps[0], "ais", "b", name)); !os.IsNotExist(err) {
		t.Fatalf("the older copy on the first mountpath after the write: %v, want removed", err)
	}
	mu.Lock()
	before := synced[mps[0]]
	mu.Unlock()
	storetest.Put(t, st, b, other, []byte("synced")) // on the second
	mu.Lock()
	defer mu.Unlock()
	if synced[mps[0]] == before {
		t.Fatal("the removal of the older copy on the first mountpath was not synced by the next sync")
	}
}

// oneObjectStore opens a store of one mountpath (closed at the test's
// end) whose bucket b holds the object o.
func oneObjectStore(t *testing.T, data string) (*fs.Store, string, store.Bucket) {
	t.Helper()
	mp := t.TempDir()
	st, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{mp}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := store.NewBucket("b")
	if err := st.CreateBucket(t.Context(), b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, st, b, "o", []byte(data))
	return st, mp, b
}

// A write's removal of an older copy elsewhere is marked before the
// name's lock goes: a delete of the name right after, while the write
// still syncs that mountpath, waits for it too (else a crash between
// brought the older copy back over the acknowledged delete).
func TestDeleteAfterAWriteWaitsForItsRemovalsSync(t *testing.T) {
	var mu sync.Mutex
	var holding bool
	entered, release := make(chan struct{}, 1), make(chan struct{})
	root := t.TempDir()
	mps := []string{filepath.Join(root, "mp1"), filepath.Join(root, "mp2")}
	if err := os.MkdirAll(mps[1], 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := fs.Open(t.Context(), fs.Config{Mountpaths: mps[:1], SyncFS: func(path string) error {
		mu.Lock()
		hold := holding && path == mps[0]
		mu.Unlock()
		if hold {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := store.NewBucket("b")
	if err := st.CreateBucket(t.Context(), b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		storetest.Put(t, st, b, fmt.Sprintf("o-%d", i), []byte("old"))
	}
	if err := st.AttachMountpath(t.Context(), mps[1]); err != nil {
		t.Fatal(err)
	}
	name := ""
	for i := 0; i < 20 && name == ""; i++ {
		if n := fmt.Sprintf("o-%d", i); st.MountpathOf(b, n) == mps[1] {
			name = n
		}
	}
	if name == "" {
		t.Fatal("no name placed on the second mountpath")
	}
	mu.Lock()
	holding = true
	mu.Unlock()
	put := make(chan error, 1)
	go func() {
		_, err := st.Put(t.Context(), b, name, strings.NewReader("new"), store.PutOptions{Size: 3})
		put <- err
	}()
	<-entered // the write syncs the first mountpath, its older copy removed
	deleted := make(chan error, 1)
	go func() { deleted <- st.Delete(t.Context(), b, name, store.DeleteOptions{}) }()
	select {
	case err := <-deleted:
		close(release)
		t.Fatalf("the delete was acknowledged (%v) while the removal of the older copy was not synced", err)
	case <-time.After(200 * time.Millisecond):
	}
	mu.Lock()
	holding = false
	mu.Unlock()
	close(release)
	if err := <-put; err != nil {
		t.Fatal(err)
	}
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
}
