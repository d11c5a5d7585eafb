package fs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/fs"
	"github.com/aisgo/aisgo/store/storetest"
)

// mirrored makes every bucket of the store it wraps keep copies copies.
type mirrored struct {
	*fs.Store
	copies int
}

func (m mirrored) mirror(p store.Props) store.Props {
	if p == (store.Props{}) {
		p = store.DefaultProps()
	}
	p.Mirror = store.MirrorProps{Enabled: true, Copies: m.copies}
	return p
}

func (m mirrored) CreateBucket(ctx context.Context, b store.Bucket, p store.Props) error {
	return m.Store.CreateBucket(ctx, b, m.mirror(p))
}

func (m mirrored) SyncBuckets(ctx context.Context, md store.BucketMetadata) error {
	md = md.Clone()
	for b, p := range md.Buckets {
		md.Buckets[b] = m.mirror(p)
	}
	return m.Store.SyncBuckets(ctx, md)
}

// copyPaths returns the files of an object's copies.
func copyPaths(st *fs.Store, b store.Bucket, name string) []string {
	var out []string
	for _, mp := range st.Mountpaths() {
		path := filepath.Join(mp, "ais", b.Name, name)
		if _, err := os.Stat(path); err == nil {
			out = append(out, path)
		}
	}
	return out
}

// replaceMeta replaces a copy's metadata with meta (nil: none) and
// returns the restore of what it was.
func replaceMeta(t *testing.T, path string, meta []byte) (restore func()) {
	t.Helper()
	was := make([]byte, 4096)
	n, err := syscall.Getxattr(path, "user.ais.meta", was)
	if err == nil && meta == nil {
		err = syscall.Removexattr(path, "user.ais.meta")
	} else if err == nil {
		err = syscall.Setxattr(path, "user.ais.meta", meta, 0)
	}
	if err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := syscall.Setxattr(path, "user.ais.meta", was[:n], 0); err != nil {
			t.Fatal(err)
		}
	}
}

// flip flips a byte of a file in place, keeping its metadata.
func flip(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var one [1]byte
	f.ReadAt(one[:], 0)
	one[0] ^= 0xff
	if _, err := f.WriteAt(one[:], 0); err != nil {
		t.Fatal(err)
	}
}

func threeMountpaths(t *testing.T, cfg fs.Config) (*fs.Store, []string) {
	t.Helper()
	root := t.TempDir()
	cfg.Mountpaths = []string{filepath.Join(root, "mp1"), filepath.Join(root, "mp2"), filepath.Join(root, "mp3")}
	st, err := fs.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Before the directories go: a repair may still be rewriting a copy.
	t.Cleanup(func() { st.Close() })
	return st, cfg.Mountpaths
}

func TestConformanceMirrored(t *testing.T) {
	storetest.Run(t, storetest.Options{
		New: func(t *testing.T) store.Store {
			st, _ := threeMountpaths(t, fs.Config{})
			return mirrored{st, 2}
		},
		// Every copy goes bad: validated reads must refuse the object.
		Corrupt: func(t *testing.T, st store.Store, b store.Bucket, name string) {
			paths := copyPaths(st.(mirrored).Store, b, name)
			if len(paths) != 2 {
				t.Fatalf("%d copies of %s", len(paths), name)
			}
			for _, p := range paths {
				flip(t, p)
			}
		},
	})
}

func mirrorBucket(t *testing.T, st *fs.Store, name string, copies int, burst bool) store.Bucket {
	t.Helper()
	b := store.NewBucket(name)
	props := store.DefaultProps()
	props.Mirror = store.MirrorProps{Enabled: copies > 1, Copies: copies, Burst: burst}
	if err := st.CreateBucket(t.Context(), b, props); err != nil {
		t.Fatal(err)
	}
	return b
}

// A make-n-copies of older props keeps to the copies the bucket wants
// now: a job a newer one did not replace (a target it missed) cut the
// objects to the old count.
func TestMakeCopiesKeepsToThePropsOfNow(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 3, false)
	for i := range 10 {
		storetest.Put(t, st, b, fmt.Sprintf("o-%02d", i), []byte("data"))
	}
	props, err := store.PropsOf(t.Context(), st, b)
	if err != nil {
		t.Fatal(err)
	}
	one := props
	one.Mirror = store.MirrorProps{Copies: 1}
	if err := st.SetBucketProps(t.Context(), b, one); err != nil {
		t.Fatal(err)
	}
	// Three again as soon as the job of one copy has cut its first object.
	var once sync.Once
	defer fs.OnCopiesMade(func() {
		once.Do(func() {
			if err := st.SetBucketProps(context.WithoutCancel(t.Context()), b, props); err != nil {
				t.Error(err)
			}
		})
	})()
	if err := st.MakeCopies(t.Context(), b, nil); err != nil {
		t.Fatal(err)
	}
	cut := 0
	for i := range 10 {
		if len(copyPaths(st, b, fmt.Sprintf("o-%02d", i))) < 3 {
			cut++
		}
	}
	if cut > 1 {
		t.Fatalf("%d objects cut to the old count after the props went back to 3 copies", cut)
	}
}

func TestMirrorCopiesOnDistinctMountpaths(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 2, false)
	for i := range 30 {
		name := fmt.Sprintf("dir/o-%02d", i)
		storetest.Put(t, st, b, name, bytes.Repeat([]byte{byte(i)}, 100+i))
		paths := copyPaths(st, b, name)
		want := st.MountpathsOf(b, name, 2)
		if len(paths) != 2 || filepath.Dir(filepath.Dir(filepath.Dir(paths[0]))) == filepath.Dir(filepath.Dir(filepath.Dir(paths[1]))) {
			t.Fatalf("%s: copies %v", name, paths)
		}
		for _, mp := range want {
			if !slices.ContainsFunc(paths, func(p string) bool { return filepath.HasPrefix(p, mp) }) {
				t.Fatalf("%s: no copy on %s (its HRW mountpaths %v), copies %v", name, mp, want, paths)
			}
		}
	}
	if err := st.Delete(t.Context(), b, "dir/o-07", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if paths := copyPaths(st, b, "dir/o-07"); len(paths) != 0 {
		t.Fatalf("copies left after a delete: %v", paths)
	}
}

// A bucket whose copies were lowered keeps the extra ones until
// make-n-copies removes them: a validated GET whose copy is bad answers
// another's bytes, and the bad one is rewritten from it.
func TestLoweredCopiesStillServeABadRead(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 2, false)
	data := bytes.Repeat([]byte("original "), 1000)
	storetest.Put(t, st, b, "o", data)
	props := store.DefaultProps()
	props.Mirror = store.MirrorProps{Copies: 1}
	if err := st.SetBucketProps(t.Context(), b, props); err != nil {
		t.Fatal(err)
	}
	first := filepath.Join(st.MountpathOf(b, "o"), "ais", b.Name, "o")
	if paths := copyPaths(st, b, "o"); len(paths) != 2 || !slices.Contains(paths, first) {
		t.Fatalf("copies %v, want two, one at %s", paths, first)
	}
	flip(t, first)
	obj, err := st.Open(t.Context(), b, "o", store.OpenOptions{Validate: true})
	if err != nil {
		t.Fatalf("a validated GET, its copy bad and another good: %v", err)
	}
	got, _ := io.ReadAll(obj)
	obj.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("a GET returned other bytes")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if disk, _ := os.ReadFile(first); bytes.Equal(disk, data) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bad copy %s was not rewritten", first)
		}
	}
}

// A validated GET of a mirrored object with one bad copy answers the
// original bytes, whichever copy it reads first, and rewrites the bad one.
func TestMirrorRepairsBadCopy(t *testing.T) {
	var repaired atomic.Int64
	st, _ := threeMountpaths(t, fs.Config{OnRepair: func(store.Bucket, string, string) { repaired.Add(1) }})
	b := mirrorBucket(t, st, "m", 2, false)
	data := bytes.Repeat([]byte("original "), 1000)
	for i := range 10 {
		name := fmt.Sprintf("o%d", i)
		storetest.Put(t, st, b, name, data)
		paths := copyPaths(st, b, name)
		flip(t, paths[i%2])
		obj, err := st.Open(t.Context(), b, name, store.OpenOptions{Validate: true})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, _ := io.ReadAll(obj)
		obj.Close()
		if !bytes.Equal(got, data) {
			t.Fatalf("%s: a GET returned other bytes", name)
		}
		// The copy not read is checked after the GET.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			disk, _ := os.ReadFile(paths[i%2])
			if bytes.Equal(disk, data) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the copy %s was not rewritten", name, paths[i%2])
			}
		}
	}
	// The last repair is counted once its copy is in place: a moment
	// after the test sees the copy.
	for deadline := time.Now().Add(10 * time.Second); repaired.Load() != 10; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d repairs counted, want 10", repaired.Load())
		}
	}
	// Both copies bad: the clear "corrupt" error, never wrong bytes.
	for _, p := range copyPaths(st, b, "o0") {
		flip(t, p)
	}
	if _, err := st.Open(t.Context(), b, "o0", store.OpenOptions{Validate: true}); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("every copy bad: %v", err)
	}
}

func TestMirrorBurstMakesCopiesAfter(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 3, true)
	for i := range 20 {
		storetest.Put(t, st, b, fmt.Sprintf("o%d", i), []byte("burst"))
	}
	deadline := time.Now().Add(10 * time.Second)
	for i := range 20 {
		for len(copyPaths(st, b, fmt.Sprintf("o%d", i))) != 3 {
			if time.Now().After(deadline) {
				t.Fatalf("o%d: copies %v", i, copyPaths(st, b, fmt.Sprintf("o%d", i)))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// An overwrite acknowledged leaves no copy of the old bytes, before
	// the new copies are made: a read never gets them.
	for i := range 20 {
		name := fmt.Sprintf("o%d", i)
		storetest.Put(t, st, b, name, []byte("second"))
		for _, p := range copyPaths(st, b, name) {
			if data, err := os.ReadFile(p); err == nil && string(data) != "second" {
				t.Fatalf("%s: a copy at %s holds %q after the overwrite was acknowledged", name, p, data)
			}
		}
	}
}

// The copies a burst PUT leaves to the background stay within the
// watermarks, as make-n-copies: a disk past out_of_space is not filled
// by copies nobody waits for.
func TestMirrorBurstCopiesAskRoom(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 3, true)
	var asked atomic.Int64
	st.SetRoomCheck(func(_ context.Context, _ string, size int64) error {
		if size != int64(len("burst")) {
			t.Errorf("room asked for %d bytes, want the object's %d", size, len("burst"))
		}
		asked.Add(1)
		return fmt.Errorf("%w: past out_of_space", store.ErrNoSpace)
	})
	for i := range 20 {
		storetest.Put(t, st, b, fmt.Sprintf("o%d", i), []byte("burst"))
	}
	st.Close() // after the queued copies
	if asked.Load() == 0 {
		t.Fatal("no room asked of the burst copies")
	}
	for i := range 20 {
		if paths := copyPaths(st, b, fmt.Sprintf("o%d", i)); len(paths) != 1 {
			t.Fatalf("o%d has copies %v with no room for them, want the one the PUT wrote", i, paths)
		}
	}
}

// setCopies sets the mirror copies of a bucket, its other props kept.
func setCopies(t *testing.T, st *fs.Store, b store.Bucket, copies int) {
	t.Helper()
	props, err := store.PropsOf(t.Context(), st, b)
	if err != nil {
		t.Fatal(err)
	}
	props.Mirror = store.MirrorProps{Enabled: copies > 1, Copies: copies}
	if err := st.SetBucketProps(t.Context(), b, props); err != nil {
		t.Fatal(err)
	}
}

func TestMakeCopiesRaisesAndLowers(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 1, false)
	for i := range 50 {
		storetest.Put(t, st, b, fmt.Sprintf("o%02d", i), []byte(fmt.Sprint(i)))
	}
	for _, copies := range []int{3, 2, 1} {
		props := store.DefaultProps()
		props.Mirror = store.MirrorProps{Enabled: copies > 1, Copies: copies}
		if err := st.SetBucketProps(t.Context(), b, props); err != nil {
			t.Fatal(err)
		}
		var progress store.Progress
		if err := st.MakeCopies(t.Context(), b, &progress); err != nil {
			t.Fatal(err)
		}
		if progress.Objects.Load() != 50 {
			t.Fatalf("progress counted %d objects", progress.Objects.Load())
		}
		for i := range 50 {
			name := fmt.Sprintf("o%02d", i)
			if n := len(copyPaths(st, b, name)); n != copies {
				t.Fatalf("copies=%d: %s has %d", copies, name, n)
			}
			if got := storetest.Get(t, st, b, name); string(got) != fmt.Sprint(i) {
				t.Fatalf("%s: %q", name, got)
			}
		}
	}
}

// A mountpath removed under a mirrored bucket: reads go on from the other
// copies, the health check disables it, and the resilver makes the second
// copies again on the remaining mountpaths.
func TestLostMountpathResilver(t *testing.T) {
	changes := make(chan string, 10)
	st, mps := threeMountpaths(t, fs.Config{OnMountpathChange: func(path, state, reason string) { changes <- path + " " + state }})
	b := mirrorBucket(t, st, "m", 2, false)
	for i := range 40 {
		storetest.Put(t, st, b, fmt.Sprintf("o%02d", i), []byte(fmt.Sprint(i)))
	}
	if err := os.RemoveAll(mps[1]); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if got := storetest.Get(t, st, b, fmt.Sprintf("o%02d", i)); string(got) != fmt.Sprint(i) {
			t.Fatalf("o%02d after the loss: %q", i, got)
		}
	}
	waitChange(t, changes, mps[1]+" disabled", "the lost mountpath was not disabled")
	statuses := st.MountpathStatuses()
	if i := slices.IndexFunc(statuses, func(s store.MountpathStatus) bool { return s.Path == mps[1] }); i < 0 || statuses[i].State != fs.MountpathDisabled || statuses[i].Reason == "" {
		t.Fatalf("statuses %+v", statuses)
	}
	if err := st.Resilver(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if n := len(copyPaths(st, b, fmt.Sprintf("o%02d", i))); n != 2 {
			t.Fatalf("o%02d has %d copies after the resilver", i, n)
		}
	}
}

// A disabled mountpath just goes when detached: it leaves the statuses
// (and the record of what is away, which keeps tombstones).
func TestDetachOfADisabledMountpath(t *testing.T) {
	st, mps := threeMountpaths(t, fs.Config{})
	if err := st.DisableMountpath(t.Context(), mps[0], "a test"); err != nil {
		t.Fatal(err)
	}
	if err := st.DetachMountpath(t.Context(), mps[0], nil); err != nil {
		t.Fatal(err)
	}
	listed := func(st *fs.Store) bool {
		return slices.ContainsFunc(st.MountpathStatuses(), func(m store.MountpathStatus) bool { return m.Path == mps[0] })
	}
	if listed(st) {
		t.Fatalf("the detached mountpath is still listed: %+v", st.MountpathStatuses())
	}
}

// A detach whose mountpath is disabled while its objects move (its disk
// failed, its tree gone) does not report the mountpath emptied: it fails,
// and the mountpath stays listed, disabled.
func TestDetachOfAMountpathDisabledMeanwhileFails(t *testing.T) {
	st, mps := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "plain", 1, false)
	for i := range 60 {
		storetest.Put(t, st, b, fmt.Sprintf("o%02d", i), []byte(fmt.Sprint(i)))
	}
	var once sync.Once
	defer fs.OnCopiesMade(func() {
		once.Do(func() {
			if err := st.DisableMountpath(context.WithoutCancel(t.Context()), mps[0], "a failed disk"); err != nil {
				t.Error(err)
			}
			// The disk's tree goes with it (unmounted).
			if err := os.Rename(mps[0], mps[0]+".gone"); err != nil {
				t.Error(err)
			}
			os.Mkdir(mps[0], 0o755)
		})
	})()
	err := st.DetachMountpath(t.Context(), mps[0], nil)
	if !errors.Is(err, store.ErrMountpath) || !strings.Contains(err.Error(), "disabled") {
		t.Fatalf("a detach whose mountpath was disabled meanwhile: %v, want a failure naming it", err)
	}
	if !slices.ContainsFunc(st.MountpathStatuses(), func(m store.MountpathStatus) bool { return m.Path == mps[0] && m.State == "disabled" }) {
		t.Fatalf("the mountpath after the failed detach: %+v, want it disabled", st.MountpathStatuses())
	}
}

// An enable whose mountpath is detached while it checks the disk fails:
// the detach said the mountpath was gone (its disk may be pulled), and
// it stays gone.
func TestEnableOfAMountpathDetachedMeanwhileFails(t *testing.T) {
	st, mps := threeMountpaths(t, fs.Config{})
	if err := st.DisableMountpath(t.Context(), mps[0], "a test"); err != nil {
		t.Fatal(err)
	}
	defer fs.OnMountpathPrepared(func(string) {
		if err := st.DetachMountpath(context.WithoutCancel(t.Context()), mps[0], nil); err != nil {
			t.Error(err)
		}
	})()
	if err := st.EnableMountpath(t.Context(), mps[0]); !errors.Is(err, store.ErrMountpath) || !strings.Contains(err.Error(), "meanwhile") {
		t.Fatalf("an enable of a mountpath detached meanwhile: %v, want it refused", err)
	}
	if slices.ContainsFunc(st.MountpathStatuses(), func(m store.MountpathStatus) bool { return m.Path == mps[0] }) {
		t.Fatalf("the detached mountpath is listed: %+v", st.MountpathStatuses())
	}
}

// Two attaches at once, of a directory and of one within it, do not both
// take place: one mountpath would be in the other's buckets.
func TestAttachesOfNestedPathsAtOnce(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	outer := t.TempDir()
	inner := filepath.Join(outer, "ais", "b", "sub")
	if err := os.MkdirAll(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var innerErr error
	defer fs.OnMountpathPrepared(func(path string) {
		if path == outer {
			once.Do(func() { innerErr = st.AttachMountpath(context.WithoutCancel(t.Context()), inner) })
		}
	})()
	outerErr := st.AttachMountpath(t.Context(), outer)
	if innerErr != nil || !errors.Is(outerErr, store.ErrMountpath) || !strings.Contains(outerErr.Error(), "overlaps") {
		t.Fatalf("nested attaches at once: inner %v, outer %v: want the inner attached and the outer refused", innerErr, outerErr)
	}
	if slices.ContainsFunc(st.MountpathStatuses(), func(m store.MountpathStatus) bool { return m.Path == outer }) {
		t.Fatalf("the outer mountpath is listed: %+v", st.MountpathStatuses())
	}
}

// An attach that took place is not failed by the bucket metadata it
// could not write there (a disk nearly full): it takes objects already.
func TestAttachStandsWhenItsMetadataIsNotWritten(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	mirrorBucket(t, st, "plain", 1, false)
	added := t.TempDir()
	// What the metadata would replace is a directory: its write fails.
	if err := os.MkdirAll(filepath.Join(added, ".ais", "bmd.json", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := st.AttachMountpath(t.Context(), added); err != nil {
		t.Fatalf("an attach whose metadata could not be written: %v, want it to stand", err)
	}
	if !slices.ContainsFunc(st.MountpathStatuses(), func(m store.MountpathStatus) bool { return m.Path == added && m.State == "enabled" }) {
		t.Fatalf("the attached mountpath: %+v, want it enabled", st.MountpathStatuses())
	}
}

func TestDetachMovesEveryObject(t *testing.T) {
	st, mps := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "plain", 1, false)
	for i := range 60 {
		storetest.Put(t, st, b, fmt.Sprintf("o%02d", i), []byte(fmt.Sprint(i)))
	}
	var progress store.Progress
	if err := st.DetachMountpath(t.Context(), mps[0], &progress); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(st.Mountpaths(), mps[0]) {
		t.Fatal("detached mountpath still in use")
	}
	for i := range 60 {
		name := fmt.Sprintf("o%02d", i)
		if got := storetest.Get(t, st, b, name); string(got) != fmt.Sprint(i) {
			t.Fatalf("%s after the detach: %q", name, got)
		}
		if _, err := os.Stat(filepath.Join(mps[0], "ais", b.Name, name)); err == nil {
			t.Fatalf("%s left on the detached mountpath", name)
		}
	}
	if err := st.DetachMountpath(t.Context(), mps[0], nil); !errors.Is(err, store.ErrMountpath) {
		t.Fatalf("detach twice: %v", err)
	}
	// Attach it back; objects keep their places until a resilver.
	if err := st.AttachMountpath(t.Context(), mps[0]); err != nil {
		t.Fatal(err)
	}
	if err := st.AttachMountpath(t.Context(), filepath.Join(mps[1], "inner")); !errors.Is(err, store.ErrMountpath) {
		t.Fatalf("attach inside a mountpath: %v", err)
	}
	for i := range 60 {
		storetest.Get(t, st, b, fmt.Sprintf("o%02d", i))
	}
}

func TestDisableAndEnable(t *testing.T) {
	st, mps := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 2, false)
	for i := range 20 {
		storetest.Put(t, st, b, fmt.Sprintf("o%02d", i), []byte(fmt.Sprint(i)))
	}
	// The objects with a copy on mp1 stay readable with mp2 and mp3 off.
	var onFirst []string
	for i := range 20 {
		name := fmt.Sprintf("o%02d", i)
		if slices.Contains(st.MountpathsOf(b, name, 2), mps[0]) {
			onFirst = append(onFirst, name)
		}
	}
	if err := st.DisableMountpath(t.Context(), mps[2], "by hand"); err != nil {
		t.Fatal(err)
	}
	if err := st.DisableMountpath(t.Context(), mps[1], "by hand"); err != nil {
		t.Fatal(err)
	}
	if err := st.DisableMountpath(t.Context(), mps[0], "by hand"); !errors.Is(err, store.ErrMountpath) {
		t.Fatalf("disable the last: %v", err)
	}
	for _, name := range onFirst {
		storetest.Get(t, st, b, name)
	}
	for _, mp := range mps[1:] {
		if err := st.EnableMountpath(t.Context(), mp); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		storetest.Get(t, st, b, fmt.Sprintf("o%02d", i))
	}
}

// A scrub reads the copies without the name's lock: a PUT of the object
// it reads goes through meanwhile, and the scrub, finding other copies
// than it read, leaves the object to the next one (not called corrupt).
func TestScrubReadsWithoutTheNameLock(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 2, false)
	storetest.Put(t, st, b, "big", bytes.Repeat([]byte{1}, 1<<20))
	var once sync.Once
	put := make(chan error, 1)
	restore := fs.OnCopyOpened(func(string) {
		once.Do(func() {
			go func() {
				_, err := st.Put(t.Context(), b, "big", bytes.NewReader(bytes.Repeat([]byte{2}, 1<<20)), store.PutOptions{Size: 1 << 20})
				put <- err
			}()
			select {
			case err := <-put:
				put <- err
			case <-time.After(10 * time.Second):
				put <- errors.New("the PUT waited for the scrub's read")
			}
		})
	})
	defer restore()
	report, err := st.Scrub(t.Context(), b, store.ScrubOptions{Repair: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-put:
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatal("the scrub opened no copy")
	}
	if report.Objects != 1 || report.Skipped != 1 || report.Corrupt != 0 || report.Repaired != 0 {
		t.Fatalf("a scrub whose object was written while it read: %+v", report)
	}
	if got := storetest.Get(t, st, b, "big"); !bytes.Equal(got, bytes.Repeat([]byte{2}, 1<<20)) {
		t.Fatal("the object after the scrub is not the PUT's")
	}
}

func TestScrubCountsAndRepairs(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 2, false)
	for i := range 20 {
		storetest.Put(t, st, b, fmt.Sprintf("o%02d", i), bytes.Repeat([]byte{byte(i)}, 1000))
	}
	for i := range 3 {
		flip(t, copyPaths(st, b, fmt.Sprintf("o%02d", i))[0])
	}
	for i := 3; i < 5; i++ {
		os.Remove(copyPaths(st, b, fmt.Sprintf("o%02d", i))[1])
	}
	report, err := st.Scrub(t.Context(), b, store.ScrubOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if report.Objects != 20 || report.Corrupt != 3 || report.MissingCopies != 2 || report.OK != 15 || report.Repaired != 0 {
		t.Fatalf("scrub: %+v", report)
	}
	if report, err = st.Scrub(t.Context(), b, store.ScrubOptions{Repair: true}, nil); err != nil || report.Repaired != 5 {
		t.Fatalf("scrub --repair: %+v %v", report, err)
	}
	if report, err = st.Scrub(t.Context(), b, store.ScrubOptions{}, nil); err != nil || report.OK != 20 {
		t.Fatalf("scrub after the repair: %+v %v", report, err)
	}
	// No good copy left: unrecoverable without a restore, repaired with.
	for _, p := range copyPaths(st, b, "o10") {
		flip(t, p)
	}
	if report, _ = st.Scrub(t.Context(), b, store.ScrubOptions{Repair: true}, nil); report.Unrecoverable != 1 {
		t.Fatalf("an object with no good copy: %+v", report)
	}
	// With parts to restore from, a scrub that does not repair finds it
	// corrupt, not unrecoverable (a repair would restore it).
	unused := func(context.Context, store.Bucket, string) error {
		return errors.New("a scrub without repair restored")
	}
	if report, _ = st.Scrub(t.Context(), b, store.ScrubOptions{Restore: unused}, nil); report.Unrecoverable != 0 || report.Corrupt != 1 {
		t.Fatalf("no good copy, not repairing, a restore possible: %+v", report)
	}
	// A restore that fails (a target away, too few parts) leaves the
	// copies there are: one bit off, not none.
	failing := func(context.Context, store.Bucket, string) error { return errors.New("too few parts") }
	if report, _ = st.Scrub(t.Context(), b, store.ScrubOptions{Repair: true, Restore: failing}, nil); report.Unrecoverable != 1 {
		t.Fatalf("a failed restore: %+v", report)
	}
	if left := copyPaths(st, b, "o10"); len(left) != 2 {
		t.Fatalf("after a failed restore the object has %d copies, want its 2 (bad) ones kept", len(left))
	}
	restored := ""
	restore := func(ctx context.Context, b store.Bucket, name string) error {
		restored = name
		_, err := st.Put(ctx, b, name, bytes.NewReader(bytes.Repeat([]byte{10}, 1000)), store.PutOptions{Size: 1000})
		return err
	}
	if report, _ = st.Scrub(t.Context(), b, store.ScrubOptions{Repair: true, Restore: restore}, nil); report.Repaired != 1 || restored != "o10" {
		t.Fatalf("a restore: %+v %q", report, restored)
	}
	if report, err = st.Scrub(t.Context(), b, store.ScrubOptions{}, nil); err != nil || report.OK != 20 {
		t.Fatalf("scrub after the restore: %+v %v", report, err)
	}
}

// A mountpath whose contents are wiped while its directory stays (rm -rf
// of what is in it, another disk mounted empty) fails its check: the
// check does not make its .ais again and pass.
func TestWipedMountpathFailsItsCheck(t *testing.T) {
	changes := make(chan string, 10)
	st, mps := threeMountpaths(t, fs.Config{OnMountpathChange: func(path, state, reason string) { changes <- path + " " + state }})
	b := mirrorBucket(t, st, "m", 2, false)
	for i := range 10 {
		storetest.Put(t, st, b, fmt.Sprintf("o%02d", i), []byte(fmt.Sprint(i)))
	}
	entries, err := os.ReadDir(mps[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(mps[1], e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if failed := st.CheckMountpaths(); failed != 1 {
		t.Fatalf("%d mountpaths failed the check, want the wiped one", failed)
	}
	waitChange(t, changes, mps[1]+" disabled", "the wiped mountpath was not disabled")
	if _, err := os.Stat(filepath.Join(mps[1], ".ais")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the check made the wiped mountpath's .ais again: %v", err)
	}
}

// waitChange waits up to 10s for the next mountpath change to be want.
func waitChange(t *testing.T, changes <-chan string, want, missing string) {
	t.Helper()
	select {
	case change := <-changes:
		if change != want {
			t.Fatalf("change %q", change)
		}
	case <-time.After(10 * time.Second):
		t.Fatal(missing)
	}
}

// With mirror.burst, an overwrite keeps one copy and removes the older
// ones elsewhere (their replacements come later): those removals are
// synced before the PUT is acknowledged, or a power loss would bring the
// old bytes back beside the new.
func TestMirrorBurstOverwriteSyncsTheRemovals(t *testing.T) {
	var mu sync.Mutex
	var synced []string
	st, mps := threeMountpaths(t, fs.Config{SyncFS: func(path string) error {
		mu.Lock()
		synced = append(synced, path)
		mu.Unlock()
		return nil
	}})
	b := mirrorBucket(t, st, "m", 3, true)
	storetest.Put(t, st, b, "o", []byte("first"))
	deadline := time.Now().Add(10 * time.Second)
	for len(copyPaths(st, b, "o")) != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("copies %v", copyPaths(st, b, "o"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the copier's own syncs are done
	mu.Lock()
	synced = nil
	mu.Unlock()
	storetest.Put(t, st, b, "o", []byte("second"))
	mu.Lock()
	during := slices.Clone(synced)
	mu.Unlock()
	for _, mp := range mps {
		if !slices.Contains(during, mp) {
			t.Fatalf("the overwrite synced %v, not %s, where it kept or removed a copy", during, mp)
		}
	}
}

// A detach moves the tombstones the mountpath keeps: the guards of
// recent deletes stay with the node, not with the disk taken out.
func TestDetachMovesTombstones(t *testing.T) {
	st, mps := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "plain", 1, false)
	stamp := store.Stamp{Map: 3, Clock: time.Now().UnixNano()}
	for i := range 60 {
		if err := st.Delete(t.Context(), b, fmt.Sprintf("gone-%02d", i), store.DeleteOptions{Stamp: stamp, Tombstone: true}); err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
	}
	onFirst, _ := filepath.Glob(filepath.Join(mps[0], ".ais", "tombstones", "ais", b.Name, "*"))
	if len(onFirst) == 0 {
		t.Fatal("no tombstone on the mountpath to detach: the test proves nothing")
	}
	if err := st.DetachMountpath(t.Context(), mps[0], nil); err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		name := fmt.Sprintf("gone-%02d", i)
		if tomb, ok := st.Tombstone(b, name); !ok || tomb.Stamp != stamp {
			t.Fatalf("the tombstone of %s after the detach: %+v %v", name, tomb, ok)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(mps[0], ".ais", "tombstones", "ais", b.Name, "*")); len(left) != 0 {
		t.Fatalf("%d tombstones left on the detached mountpath", len(left))
	}
	// Each keeps two copies, as a delete leaves it: here on both
	// mountpaths left.
	for _, mp := range mps[1:] {
		if on, _ := filepath.Glob(filepath.Join(mp, ".ais", "tombstones", "ais", b.Name, "*")); len(on) != 60 {
			t.Fatalf("%d tombstones on %s after the detach, want all 60 (two copies of each)", len(on), mp)
		}
	}
}

// A walk of tombstones, a few directory entries at a time over three
// mountpaths, gives each name once, with its newest stamp wherever that
// copy is, and stops at its callback's error.
func TestWalkTombstonesGivesEachNameOnceNewest(t *testing.T) {
	defer fs.SetTombstoneChunk(7)()
	st, mps := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "plain", 1, false)
	old, newest := store.Stamp{Map: 3, Clock: 100}, store.Stamp{Map: 3, Clock: 200}
	for i := 1; i < 30; i++ {
		if err := st.Delete(t.Context(), b, fmt.Sprintf("gone-%02d", i), store.DeleteOptions{Stamp: newest, Tombstone: true}); err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
	}
	// gone-00's first copy is older than its second (a write of it
	// failed there): the newer is given.
	if err := st.Delete(t.Context(), b, "gone-00", store.DeleteOptions{Stamp: old, Tombstone: true}); err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	var copies []string
	for _, mp := range mps {
		files, _ := filepath.Glob(filepath.Join(mp, ".ais", "tombstones", "ais", b.Name, "*"))
		for _, f := range files {
			if data, _ := os.ReadFile(f); strings.Contains(string(data), "gone-00") {
				copies = append(copies, f)
			}
		}
	}
	if len(copies) != 2 {
		t.Fatalf("copies of gone-00's tombstone: %v, want two", copies)
	}
	oldBytes, _ := os.ReadFile(copies[0])
	if tomb, ok := st.Tombstone(b, "gone-00"); !ok || tomb.Stamp != old {
		t.Fatalf("gone-00's first tombstone: %+v %v", tomb, ok)
	}
	if err := st.Delete(t.Context(), b, "gone-00", store.DeleteOptions{Stamp: newest, Tombstone: true}); err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	if err := os.WriteFile(copies[0], oldBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	seen := map[string]store.Stamp{}
	err := st.WalkTombstones(t.Context(), b, func(tomb store.Tombstone) error {
		if _, twice := seen[tomb.Name]; twice {
			t.Errorf("%s given twice", tomb.Name)
		}
		seen[tomb.Name] = tomb.Stamp
		return nil
	})
	if err != nil || len(seen) != 30 {
		t.Fatalf("walked %d names (%v), want 30", len(seen), err)
	}
	if seen["gone-00"] != newest {
		t.Fatalf("gone-00 walked with %+v, want the newer copy's %+v", seen["gone-00"], newest)
	}
	stop := errors.New("enough")
	calls := 0
	err = st.WalkTombstones(t.Context(), b, func(store.Tombstone) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("a walk whose callback failed: %v after %d calls, want its error after one", err, calls)
	}
}

// A mirror's extra copy whose disk takes the data but not its metadata
// (full: the xattr needs a block of its own) is made later, as one whose
// data failed: the PUT succeeds on the first copy.
func TestMirrorExtraCopyWithoutRoomForMetadata(t *testing.T) {
	// The hook stays until the store is closed (a cleanup registered
	// before the store's runs after it): the copy made later, in the
	// background, calls it too.
	var full atomic.Pointer[string]
	t.Cleanup(fs.OnSetxattr(func(path, attr string, data []byte, flags int) error {
		if disk := full.Load(); disk != nil && strings.HasPrefix(path, *disk+"/") {
			return syscall.ENOSPC
		}
		return syscall.Setxattr(path, attr, data, flags)
	}))
	st, mps := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "mirrored", 2, false)
	copies := st.MountpathsOf(b, "obj", 2)
	fullDisk := copies[1]
	if !slices.Contains(mps, fullDisk) {
		t.Fatalf("the second copy's mountpath %s is none of %v", fullDisk, mps)
	}
	// The version before, on both disks.
	storetest.Put(t, st, b, "obj", []byte("the version before"))
	oldCopy := filepath.Join(fullDisk, "ais", b.Name, "obj")
	if _, err := os.Stat(oldCopy); err != nil {
		t.Fatalf("the version before on %s: %v", fullDisk, err)
	}
	full.Store(&fullDisk)
	if _, err := st.Put(t.Context(), b, "obj", strings.NewReader("mirrored bytes"), store.PutOptions{Size: 14}); err != nil {
		t.Fatalf("a PUT whose extra copy's disk takes no metadata: %v", err)
	}
	if got := storetest.Get(t, st, b, "obj"); string(got) != "mirrored bytes" {
		t.Fatalf("the object: %q", got)
	}
	// The version before does not stay there, to be read if the other
	// disk fails.
	if _, err := os.Stat(oldCopy); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the version before on the full disk: %v, want it removed", err)
	}
	// No work file left on the full disk.
	// (The copy made later, in the background, fails the same way.)
	var left []os.DirEntry
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if left, _ = os.ReadDir(filepath.Join(fullDisk, ".ais", "work")); len(left) == 0 {
			break
		}
	}
	if len(left) > 0 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Fatalf("work files left on the full disk: %v", names)
	}
}

// A listing with metadata tells a mirrored object as a GET reads it: the
// newest copy, whichever mountpath lists first (a crash between an
// overwrite's installs left the first the older).
func TestListWithMetaTakesTheNewestCopy(t *testing.T) {
	st, mps := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "mirrored", 2, false)
	ctx := t.Context()
	if _, err := st.Put(ctx, b, "obj", strings.NewReader("old"), store.PutOptions{Size: 3, Stamp: store.Stamp{Map: 1, Clock: 10}}); err != nil {
		t.Fatal(err)
	}
	holders := st.MountpathsOf(b, "obj", 2)
	first := holders[0]
	if slices.Index(mps, holders[1]) < slices.Index(mps, first) {
		first = holders[1] // the one a listing reads first
	}
	path := func(mp string) string { return filepath.Join(mp, "ais", b.Name, "obj") }
	if _, err := os.Stat(path(first)); err != nil {
		t.Fatalf("the copy at %s: %v", path(first), err)
	}
	// The older copy's inode (its bytes and metadata) kept by a link on
	// its own disk, and put back after the overwrite.
	saved := filepath.Join(first, "older-copy")
	if err := os.Link(path(first), saved); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, b, "obj", strings.NewReader("newer"), store.PutOptions{Size: 5, Stamp: store.Stamp{Map: 1, Clock: 20}}); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(saved, path(first)); err != nil {
		t.Fatal(err)
	}
	head, err := st.Head(ctx, b, "obj")
	if err != nil || head.Size != 5 {
		t.Fatalf("HEAD: %+v %v, want the newer copy", head, err)
	}
	list, err := st.List(ctx, b, store.ListOptions{WithMeta: true})
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %+v %v", list, err)
	}
	if list[0].Size != 5 || list[0].Stamp != head.Stamp || list[0].Checksum != head.Checksum {
		t.Fatalf("listed %+v, want the newer copy HEAD reads %+v", list[0], head)
	}
}

// A tombstone moved by a rebalance is dropped only if the placement it
// moved by still holds, checked under the name's lock: refused, it stays.
func TestDropTombstoneIfKeepsItWhenRefused(t *testing.T) {
	st, mps := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "plain", 1, false)
	stamp := store.Stamp{Map: 3, Clock: time.Now().UnixNano()}
	if err := st.Delete(t.Context(), b, "gone", store.DeleteOptions{Stamp: stamp, Tombstone: true}); err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	refused := errors.New("the placement changed")
	if err := st.DropTombstoneIf(t.Context(), b, "gone", stamp, func() (func(), error) { return nil, refused }); !errors.Is(err, refused) {
		t.Fatalf("a refused drop: %v", err)
	}
	// Refused while a mountpath is away too (where the tombstone is kept
	// anyway): the caller learns its condition failed.
	if err := st.DisableMountpath(t.Context(), mps[2], "a test"); err != nil {
		t.Fatal(err)
	}
	if err := st.DropTombstoneIf(t.Context(), b, "gone", stamp, func() (func(), error) { return nil, refused }); !errors.Is(err, refused) {
		t.Fatalf("a refused drop with a mountpath away: %v", err)
	}
	if err := st.EnableMountpath(t.Context(), mps[2]); err != nil {
		t.Fatal(err)
	}
	if err := st.Resilver(t.Context(), nil); err != nil { // back in use: the drop may go on
		t.Fatal(err)
	}
	if _, ok := st.Tombstone(b, "gone"); !ok {
		t.Fatal("a refused drop removed the tombstone")
	}
	released := false
	if err := st.DropTombstoneIf(t.Context(), b, "gone", stamp, func() (func(), error) { return func() { released = true }, nil }); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Tombstone(b, "gone"); ok || !released {
		t.Fatalf("an agreed drop: the tombstone kept %v, the hold released %v", ok, released)
	}
}

// A delete's tombstone outlives the disable of the mountpath it is first
// on: an older copy that comes meanwhile (a rebalance's, a restore's) is
// still refused, rather than bring the object back.
func TestTombstoneOutlivesADisabledMountpath(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	ctx := t.Context()
	b := mirrorBucket(t, st, "plain", 1, false)
	older := store.Stamp{Map: 3, Clock: time.Now().UnixNano()}
	deleted := store.Stamp{Map: 3, Clock: older.Clock + 1}
	if _, err := st.Put(ctx, b, "x", strings.NewReader("old"), store.PutOptions{Size: 3, Stamp: older}); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, b, "x", store.DeleteOptions{Stamp: deleted, Tombstone: true}); err != nil {
		t.Fatal(err)
	}
	if err := st.DisableMountpath(ctx, st.MountpathOf(b, "x"), "a test"); err != nil {
		t.Fatal(err)
	}
	if tomb, ok := st.Tombstone(b, "x"); !ok || tomb.Stamp != deleted {
		t.Fatalf("the tombstone with its first mountpath disabled: %+v %v", tomb, ok)
	}
	_, err := st.Put(ctx, b, "x", strings.NewReader("old"), store.PutOptions{Size: 3, Stamp: older, IfNewer: true})
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("an older copy after the delete, its tombstone's mountpath disabled: %v, want it refused", err)
	}
	if _, err := st.Head(ctx, b, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the deleted object is back: %v", err)
	}
}

// disablingReader disables a mountpath when it is first read.
type disablingReader struct {
	io.Reader
	disable func()
	once    sync.Once
}

func (r *disablingReader) Read(p []byte) (int, error) {
	r.once.Do(r.disable)
	return r.Reader.Read(p)
}

// A PUT whose mountpath is disabled while its data streams in fails
// rather than leave the only copy on a disk that is not read.
func TestPutOntoAMountpathDisabledMeanwhileFails(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "plain", 1, false)
	storetest.Put(t, st, b, "x", []byte("probe"))
	paths := copyPaths(st, b, "x")
	if len(paths) != 1 {
		t.Fatalf("copies %v", paths)
	}
	mp := strings.TrimSuffix(paths[0], filepath.Join("/ais", b.Name, "x"))
	if err := st.Delete(t.Context(), b, "x", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	body := &disablingReader{Reader: strings.NewReader("payload"), disable: func() {
		if err := st.DisableMountpath(t.Context(), mp, "a test"); err != nil {
			t.Error(err)
		}
	}}
	if _, err := st.Put(t.Context(), b, "x", body, store.PutOptions{Size: 7}); !errors.Is(err, store.ErrIO) {
		t.Fatalf("a PUT onto a mountpath disabled meanwhile: %v", err)
	}
	if _, err := st.Head(t.Context(), b, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the object of the failed PUT: %v", err)
	}
}

// The same when the mountpath goes while the PUT commits (an EC PUT
// sends its parts then): the PUT fails, and leaves nothing behind.
func TestPutOntoAMountpathDisabledDuringItsCommitFails(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "plain", 1, false)
	storetest.Put(t, st, b, "x", []byte("probe"))
	paths := copyPaths(st, b, "x")
	mp := strings.TrimSuffix(paths[0], filepath.Join("/ais", b.Name, "x"))
	if err := st.Delete(t.Context(), b, "x", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	precommit := func() (func(), store.Stamp, error) {
		if err := st.DisableMountpath(t.Context(), mp, "a test"); err != nil {
			t.Error(err)
		}
		return func() {}, store.Stamp{}, nil
	}
	if _, err := st.Put(t.Context(), b, "x", strings.NewReader("payload"), store.PutOptions{Size: 7, Precommit: precommit}); !errors.Is(err, store.ErrIO) {
		t.Fatalf("a PUT whose mountpath was disabled during its commit: %v", err)
	}
	if _, err := os.Stat(paths[0]); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the failed PUT left its object on the disabled mountpath: %v", err)
	}
}

// An overwrite whose mountpath goes while it commits leaves the object it
// would have replaced as it was: the mountpath comes back with it.
func TestOverwriteOntoAMountpathDisabledDuringItsCommitKeepsTheOld(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "plain", 1, false)
	storetest.Put(t, st, b, "x", []byte("old"))
	paths := copyPaths(st, b, "x")
	mp := strings.TrimSuffix(paths[0], filepath.Join("/ais", b.Name, "x"))
	precommit := func() (func(), store.Stamp, error) {
		if err := st.DisableMountpath(t.Context(), mp, "a test"); err != nil {
			t.Error(err)
		}
		return func() {}, store.Stamp{}, nil
	}
	if _, err := st.Put(t.Context(), b, "x", strings.NewReader("new"), store.PutOptions{Size: 3, Precommit: precommit}); !errors.Is(err, store.ErrIO) {
		t.Fatalf("an overwrite whose mountpath was disabled during its commit: %v", err)
	}
	if data, err := os.ReadFile(paths[0]); err != nil || string(data) != "old" {
		t.Fatalf("the object the failed overwrite would have replaced: %q %v, want \"old\" kept", data, err)
	}
	if err := st.EnableMountpath(t.Context(), mp); err != nil {
		t.Fatal(err)
	}
	if got := storetest.Get(t, st, b, "x"); string(got) != "old" {
		t.Fatalf("after the mountpath came back: %q, want \"old\"", got)
	}
}

// A bucket destroyed (and created again) while a PUT into it commits
// does not get the object: the PUT fails, and the new bucket is empty.
func TestPutIntoABucketDestroyedDuringItsCommitFails(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	ctx := t.Context()
	b := mirrorBucket(t, st, "plain", 1, false)
	precommit := func() (func(), store.Stamp, error) {
		if err := st.DestroyBucket(ctx, b); err != nil {
			t.Error(err)
		}
		time.Sleep(2 * time.Millisecond) // another creation time
		if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
			t.Error(err)
		}
		return func() {}, store.Stamp{}, nil
	}
	if _, err := st.Put(ctx, b, "x", strings.NewReader("payload"), store.PutOptions{Size: 7, Precommit: precommit}); !errors.Is(err, store.ErrBucketNotFound) {
		t.Fatalf("a PUT into a bucket destroyed during its commit: %v", err)
	}
	if _, err := st.Head(ctx, b, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the bucket created again has the object of the failed PUT: %v", err)
	}
}

// A copy being made while its bucket is destroyed and made again (a
// destroy takes no name lock) does not land in the new bucket.
func TestCopyIntoABucketDestroyedMeanwhileIsUndone(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	ctx := t.Context()
	b := mirrorBucket(t, st, "m", 1, false)
	storetest.Put(t, st, b, "x", []byte("old bucket's"))
	props := store.DefaultProps()
	props.Mirror = store.MirrorProps{Enabled: true, Copies: 2}
	if err := st.SetBucketProps(ctx, b, props); err != nil {
		t.Fatal(err)
	}
	once := false
	defer fs.OnCopyInstalling(func() {
		if once {
			return
		}
		once = true
		if err := st.DestroyBucket(ctx, b); err != nil {
			t.Error(err)
		}
		time.Sleep(2 * time.Millisecond) // another creation time
		if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
			t.Error(err)
		}
	})()
	st.MakeCopies(ctx, b, new(store.Progress)) // (fails or not: what is left counts)
	if !once {
		t.Fatal("no copy was made")
	}
	if paths := copyPaths(st, b, "x"); len(paths) != 0 {
		t.Fatalf("the bucket made again holds the old bucket's object: %v", paths)
	}
	if _, err := st.Head(ctx, b, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("head in the bucket made again: %v", err)
	}
}

// A copy whose mountpath is disabled while it is made is not made again
// from the object's other copies, onto that disk (maybe failing).
func TestCopyOntoAMountpathDisabledMeanwhileIsNotTriedAgain(t *testing.T) {
	st, mps := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 2, false)
	storetest.Put(t, st, b, "x", []byte("data"))
	held := copyPaths(st, b, "x")
	var third string
	for _, mp := range mps {
		if !slices.ContainsFunc(held, func(p string) bool { return strings.HasPrefix(p, mp+"/") }) {
			third = mp
		}
	}
	installs := 0
	defer fs.OnCopyInstalling(func() {
		if installs++; installs == 1 {
			st.DisableMountpath(context.WithoutCancel(t.Context()), third, "a failing disk")
		}
	})()
	props := store.DefaultProps()
	props.Mirror = store.MirrorProps{Enabled: true, Copies: 3}
	if err := st.SetBucketProps(t.Context(), b, props); err != nil {
		t.Fatal(err)
	}
	st.MakeCopies(t.Context(), b, nil) // (fails: the third copy has no place)
	if installs != 1 {
		t.Fatalf("%d copies installed onto the mountpath disabled at the first, want 1", installs)
	}
	if _, err := os.Stat(filepath.Join(third, "ais", b.Name, "x")); !os.IsNotExist(err) {
		t.Fatalf("a copy is left on the disabled mountpath: %v", err)
	}
}

// A read whose copy moves to another mountpath between its lookup and its
// open (a resilver, an overwrite placed elsewhere) finds it again: an
// object that exists is not a 404.
func TestReadOfACopyMovedMeanwhileFindsIt(t *testing.T) {
	st, mps := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "plain", 1, false)
	storetest.Put(t, st, b, "x", []byte("moved"))
	from := copyPaths(st, b, "x")[0]
	var to string
	for _, mp := range mps {
		if !strings.HasPrefix(from, mp+"/") {
			to = filepath.Join(mp, "ais", b.Name, "x")
			break
		}
	}
	moved := false
	defer fs.OnCopiesLocated(func() {
		if !moved {
			moved = true
			if err := os.Rename(from, to); err != nil { // keeps the xattr
				t.Error(err)
			}
		}
	})()
	obj, err := st.Open(t.Context(), b, "x", store.OpenOptions{})
	if err != nil {
		t.Fatalf("a read of an object moved between its lookup and its open: %v", err)
	}
	got, _ := io.ReadAll(obj)
	obj.Close()
	if string(got) != "moved" || !moved {
		t.Fatalf("read %q (moved: %v)", got, moved)
	}
}

// A read of a mirrored object whose one copy went between its lookup and
// its open (copies lowered) while the other fails to open answers that
// failure: the object is not a 404.
func TestReadOfACopyGoneAndAFailingOneIsNotNotFound(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{NoSync: true})
	b := mirrorBucket(t, st, "m", 2, false)
	// Either copy may be tried first: each is the one gone once (of the
	// same name, the same order).
	const name = "x"
	for gone := range 2 {
		storetest.Put(t, st, b, name, []byte("mirrored"))
		paths := copyPaths(st, b, name)
		if len(paths) != 2 {
			t.Fatalf("%d copies of %s, want 2", len(paths), name)
		}
		restore := fs.OnCopiesLocated(func() {
			if err := os.Remove(paths[gone]); err != nil {
				t.Error(err)
			}
			// A link to itself: its open fails (ELOOP), not "absent".
			failing := paths[1-gone]
			if err := os.Remove(failing); err != nil {
				t.Error(err)
			}
			if err := os.Symlink(filepath.Base(failing), failing); err != nil {
				t.Error(err)
			}
		})
		_, err := st.Open(t.Context(), b, name, store.OpenOptions{})
		restore()
		if err == nil || errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a read whose one copy went and the other fails (the gone one first: %v): %v, want the failure", gone == 0, err)
		}
	}
}

// A read of either copy of a mirrored object (the other is busy) is a
// read of the object: a listing shows its access time, pending or
// flushed, and LRU does not take the object for cold.
func TestMirroredReadOfEitherCopyCounts(t *testing.T) {
	ctx := t.Context()
	st, _ := threeMountpaths(t, fs.Config{NoSync: true})
	b := mirrorBucket(t, st, "m", 2, false)
	old := time.Now().Add(-time.Hour)
	data := []byte("mirrored")
	open := func(name string, internal bool) store.Object {
		t.Helper()
		obj, err := st.Open(ctx, b, name, store.OpenOptions{Internal: internal})
		if err != nil {
			t.Fatal(err)
		}
		return obj
	}
	for _, second := range []bool{false, true} {
		name := fmt.Sprintf("read-second-%v", second)
		if _, err := st.Put(ctx, b, name, bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), Atime: old}); err != nil {
			t.Fatal(err)
		}
		listedAtime := func() time.Time {
			t.Helper()
			list, err := st.List(ctx, b, store.ListOptions{Prefix: name, WithMeta: true})
			if err != nil || len(list) != 1 {
				t.Fatalf("listing: %v %v", list, err)
			}
			return list[0].Atime
		}
		if got := listedAtime(); got.After(old.Add(time.Second)) {
			t.Fatalf("before any read the listing says %v, put with %v", got, old)
		}
		// The node's own reads (no access) keep one copy busy: the
		// first in HRW order, or the second.
		first := open(name, true)
		var busy store.Object = first
		if second {
			busy = open(name, true)
			first.Close()
		}
		read := time.Now()
		open(name, false).Close()
		busy.Close()
		if got := listedAtime(); got.Before(read.Add(-time.Second)) {
			t.Fatalf("%s: a pending read: the listing says %v, read at %v", name, got, read)
		}
		st.FlushAccessTimes()
		if got := listedAtime(); got.Before(read.Add(-time.Second)) {
			t.Fatalf("%s: a flushed read: the listing says %v, read at %v", name, got, read)
		}
	}
}

// A copy of a mirrored object whose metadata cannot be read (replaced
// while the listing read its directory) does not hide the object's other,
// good copy from the listing, whichever mountpath it is on.
func TestListingSkipsOnlyTheCopyItCannotRead(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 2, false)
	storetest.Put(t, st, b, "a", []byte("a")) // listed before it
	storetest.Put(t, st, b, "o", []byte("o"))
	paths := copyPaths(st, b, "o")
	if len(paths) != 2 {
		t.Fatalf("copies %v", paths)
	}
	for _, path := range paths {
		restore := replaceMeta(t, path, nil)
		page, err := st.List(t.Context(), b, store.ListOptions{WithMeta: true})
		if err != nil || len(page) != 2 || page[1].Name != "o" {
			t.Fatalf("listed %+v, %v with the copy %s unreadable: want the object", page, err, path)
		}
		restore()
	}
}

// A repair found by a read before an overwrite, whose good copy's
// mountpath went meanwhile, writes no old version over the new one.
func TestRepairWritesNoOldVersionOverANewerOne(t *testing.T) {
	ctx := t.Context()
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 2, false)
	storetest.Put(t, st, b, "o", []byte("version 1"))
	paths := copyPaths(st, b, "o")
	if len(paths) != 2 {
		t.Fatalf("copies %v", paths)
	}
	bad, good := paths[0], paths[1]
	flip(t, bad)
	var once sync.Once
	hooked := make(chan error, 1)
	defer fs.OnRepair(func() {
		once.Do(func() {
			// The good copy's disk fails, and the object is written
			// again (on the others) before the repair takes the lock.
			err := st.DisableMountpath(ctx, filepath.Dir(filepath.Dir(filepath.Dir(good))), "a test")
			if err == nil {
				_, err = st.Put(ctx, b, "o", strings.NewReader("version 2"), store.PutOptions{Size: 9})
			}
			hooked <- err
		})
	})()
	obj, err := st.Open(ctx, b, "o", store.OpenOptions{Validate: true})
	if err == nil {
		obj.Close()
	}
	select {
	case err := <-hooked:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no repair began")
	}
	// The repair, done or skipped, is over once it gives up the lock: a
	// PUT of another name does not tell; reads of this one do, a while.
	for range 50 {
		for _, path := range copyPaths(st, b, "o") {
			if data, _ := os.ReadFile(path); string(data) != "version 2" {
				t.Fatalf("%s holds %q after the overwrite", path, data)
			}
		}
		got := storetest.Get(t, st, b, "o")
		if string(got) != "version 2" {
			t.Fatalf("read %q after the overwrite", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A HEAD of a mirrored object whose copy's metadata does not read
// answers from another copy, as a GET reads another copy; with every
// copy bad, it fails.
func TestMirroredHeadPassesOverABadCopy(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 2, false)
	storetest.Put(t, st, b, "o", []byte("object"))
	paths := copyPaths(st, b, "o")
	if len(paths) != 2 {
		t.Fatalf("copies %v", paths)
	}
	for _, path := range paths {
		restore := replaceMeta(t, path, []byte("rot"))
		if got, err := st.Head(t.Context(), b, "o"); err != nil || got.Size != 6 {
			t.Fatalf("HEAD with the copy %s bad: %+v, %v", path, got, err)
		}
		restore()
	}
	for _, path := range paths {
		replaceMeta(t, path, []byte("rot"))
	}
	if _, err := st.Head(t.Context(), b, "o"); err == nil {
		t.Fatal("HEAD with every copy bad succeeded")
	}
}

// Lowering the copies keeps a copy that reads whole: a kept copy with
// bit rot is written again from a good one before the others go (it was
// kept unread, and the good copy removed).
func TestFewerCopiesKeepAGoodOne(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 2, false)
	data := bytes.Repeat([]byte("original "), 1000)
	for i := range 10 {
		name := fmt.Sprintf("o%d", i)
		storetest.Put(t, st, b, name, data)
		flip(t, copyPaths(st, b, name)[i%2])
	}
	props := store.DefaultProps()
	props.Mirror = store.MirrorProps{Enabled: false, Copies: 1}
	if err := st.SetBucketProps(t.Context(), b, props); err != nil {
		t.Fatal(err)
	}
	if err := st.MakeCopies(t.Context(), b, new(store.Progress)); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		name := fmt.Sprintf("o%d", i)
		if n := len(copyPaths(st, b, name)); n != 1 {
			t.Fatalf("%s: %d copies, want 1", name, n)
		}
		obj, err := st.Open(t.Context(), b, name, store.OpenOptions{Validate: true})
		if err != nil {
			t.Fatalf("%s after lowering its copies to 1: %v", name, err)
		}
		got, _ := io.ReadAll(obj)
		obj.Close()
		if !bytes.Equal(got, data) {
			t.Fatalf("%s: other bytes after lowering its copies to 1", name)
		}
	}
}

// Lowering the copies keeps them all when the mountpath the kept one is on
// is disabled meanwhile (its health check takes no name lock): the object
// is not left only on a disk nothing reads.
func TestFewerCopiesKeepThemWhenTheKeptOnesMountpathGoes(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 2, false)
	storetest.Put(t, st, b, "x", []byte("data"))
	kept := st.MountpathOf(b, "x")
	defer fs.OnCopiesMade(func() {
		st.DisableMountpath(context.WithoutCancel(t.Context()), kept, "a failing disk")
	})()
	props := store.DefaultProps()
	props.Mirror = store.MirrorProps{Copies: 1}
	if err := st.SetBucketProps(t.Context(), b, props); err != nil {
		t.Fatal(err)
	}
	if err := st.MakeCopies(t.Context(), b, nil); err == nil {
		t.Fatal("make-n-copies succeeded though the kept copy's mountpath went")
	}
	if got := storetest.Get(t, st, b, "x"); string(got) != "data" {
		t.Fatalf("the object after: %q", got)
	}
}

// A mirror's copy back on a returning mountpath is kept though the current
// copy has the same version: that one may be the copy with bit rot, and
// the returning one all that is left whole.
func TestReturningMirrorCopyIsKept(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 2, false)
	storetest.Put(t, st, b, "x", []byte("data"))
	mps := st.MountpathsOf(b, "x", 2)
	away := mps[0]
	if err := st.DisableMountpath(t.Context(), away, "by hand"); err != nil {
		t.Fatal(err)
	}
	flip(t, filepath.Join(mps[1], "ais", b.Name, "x")) // bit rot on the copy that stayed
	if err := st.EnableMountpath(t.Context(), away); err != nil {
		t.Fatal(err)
	}
	if err := st.Resilver(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(away, "ais", b.Name, "x"))
	if err != nil || string(data) != "data" {
		t.Fatalf("the returning mountpath's good copy: %q %v", data, err)
	}
}

// A mirror's copy back on a returning mountpath it belongs on is kept as
// it is: not read against the current one, removed and made again.
func TestReturningMirrorCopyStaysInPlace(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 2, false)
	storetest.Put(t, st, b, "x", []byte("data"))
	away := st.MountpathsOf(b, "x", 2)[0]
	path := filepath.Join(away, "ais", b.Name, "x")
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DisableMountpath(t.Context(), away, "by hand"); err != nil {
		t.Fatal(err)
	}
	if err := st.EnableMountpath(t.Context(), away); err != nil {
		t.Fatal(err)
	}
	if err := st.Resilver(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(path)
	if err != nil || !os.SameFile(before, after) {
		t.Fatalf("the returning copy was removed and made again (%v)", err)
	}
}

// A mirrored object back only on returning mountpaths, two versions of it
// (one overwritten while the other's disks were away): the newer is read,
// whichever of its mountpaths is busier.
func TestMirroredNewestReturningCopyIsRead(t *testing.T) {
	root := t.TempDir()
	var mps []string
	for i := range 5 {
		mps = append(mps, filepath.Join(root, fmt.Sprintf("mp%d", i+1)))
	}
	st, err := fs.Open(t.Context(), fs.Config{Mountpaths: mps, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	b := mirrorBucket(t, st, "m", 2, false)
	storetest.Put(t, st, b, "x", []byte("old"))
	first := st.MountpathsOf(b, "x", 2)
	for _, mp := range first {
		if err := st.DisableMountpath(ctx, mp, "by hand"); err != nil {
			t.Fatal(err)
		}
	}
	storetest.Put(t, st, b, "x", []byte("new"))
	second := st.MountpathsOf(b, "x", 2)
	for _, mp := range second {
		if err := st.DisableMountpath(ctx, mp, "by hand"); err != nil {
			t.Fatal(err)
		}
	}
	for _, mp := range slices.Concat(first, second) {
		if err := st.EnableMountpath(ctx, mp); err != nil {
			t.Fatal(err)
		}
	}
	// A reader holds the newer copy's first mountpath busy.
	busy, err := st.Open(ctx, b, "x", store.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for range 3 {
		if got := storetest.Get(t, st, b, "x"); string(got) != "new" {
			t.Fatalf("read while back from away: %q", got)
		}
	}
}

// A resilver that cannot place an object's copies (here a file where the
// copy's directory goes) fails naming it, rather than end well with the
// object short of its copies.
func TestResilverFailsNamingWhatItCouldNotPlace(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 2, false)
	storetest.Put(t, st, b, "d/o", []byte("data"))
	paths := copyPaths(st, b, "d/o")
	if len(paths) != 2 {
		t.Fatalf("%d copies, want 2", len(paths))
	}
	// One copy lost, its directory now a file: it cannot be made again.
	dir := filepath.Dir(paths[1])
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := st.Resilver(t.Context(), nil)
	if err == nil || !strings.Contains(err.Error(), "d/o") {
		t.Fatalf("a resilver that could not place d/o's copy: %v", err)
	}
}

// A good copy of an older version beside the current one (a crash between
// the renames of a PUT's copies) is found by a scrub, and its repair puts
// the current version in its place: reads no longer take either.
// withStaleCopy writes o twice ("version one", then "version two") into a
// bucket of two copies, the second copy kept at the first version (a
// crash between a PUT's installs), and returns the copies' paths.
func withStaleCopy(t *testing.T, st *fs.Store, b store.Bucket) []string {
	t.Helper()
	put := func(data string, clock int64) {
		if _, err := st.Put(t.Context(), b, "o", strings.NewReader(data), store.PutOptions{Size: int64(len(data)), Stamp: store.Stamp{Map: 1, Clock: clock}}); err != nil {
			t.Fatal(err)
		}
	}
	put("version one", 10)
	paths := copyPaths(st, b, "o")
	if len(paths) != 2 {
		t.Fatalf("%d copies, want 2", len(paths))
	}
	kept := paths[1] + ".v1"
	if err := os.Rename(paths[1], kept); err != nil { // the old copy, its metadata with it
		t.Fatal(err)
	}
	put("version two", 20)
	if err := os.Rename(kept, paths[1]); err != nil {
		t.Fatal(err)
	}
	return paths
}

func TestScrubFindsAStaleCopy(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 2, false)
	withStaleCopy(t, st, b)
	report, err := st.Scrub(t.Context(), b, store.ScrubOptions{}, nil)
	if err != nil || report.OK != 0 || report.MissingCopies != 1 {
		t.Fatalf("a scrub of an object with a stale copy: %+v %v", report, err)
	}
	if _, err := st.Scrub(t.Context(), b, store.ScrubOptions{Repair: true}, nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range copyPaths(st, b, "o") {
		if data, _ := os.ReadFile(p); string(data) != "version two" {
			t.Fatalf("after the repair %s holds %q", p, data)
		}
	}
}

// A stale copy is no repair of the newest when the newest's copies are
// all bad: the scrub does not roll the object back (it removed the only
// newest copy and made the old one everywhere, counted repaired).
func TestScrubDoesNotRollBackToAStaleCopy(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 2, false)
	paths := withStaleCopy(t, st, b)
	// The newest's one copy rots: its bytes, in place (its metadata stays).
	if err := os.WriteFile(paths[0], []byte("version tw0"), 0o644); err != nil {
		t.Fatal(err)
	}
	report, err := st.Scrub(t.Context(), b, store.ScrubOptions{Repair: true}, nil)
	if err != nil || report.Repaired != 0 || report.Unrecoverable != 1 {
		t.Fatalf("a repair whose newest copies are all bad: %+v %v, want unrecoverable, nothing repaired", report, err)
	}
	for _, p := range copyPaths(st, b, "o") {
		if data, _ := os.ReadFile(p); string(data) == "version one" && p == paths[0] {
			t.Fatalf("the newest copy %s was replaced by the old version", p)
		}
	}
}

// A mirrored PUT whose copy could not follow (its directory could not be
// made there: a disk full, say) has it made in the background, not left
// missing until a scrub.
func TestAPutShortOfACopyMakesItLater(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 3, false)
	// The third copy's disk is full for this PUT (not for what follows).
	full := st.MountpathsOf(b, "d/o", 3)[2]
	var once sync.Once
	defer fs.OnMirrorInstalling(func(mountpath string) error {
		var err error
		if mountpath == full {
			once.Do(func() { err = syscall.ENOSPC })
		}
		return err
	})()
	storetest.Put(t, st, b, "d/o", []byte("three copies"))
	deadline := time.Now().Add(10 * time.Second)
	for len(copyPaths(st, b, "d/o")) != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d copies of a PUT short of one, want the third made later", len(copyPaths(st, b, "d/o")))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A mirrored PUT whose extra copy's disk fails its write or its sync (a
// disk full, failing) is acknowledged with the copies that made it, and
// the other is made later: one bad disk of a mirror must not fail every
// write. Nor is the older copy there read meanwhile, nor a work file left.
func TestMirroredPutOutlivesAFailingExtraCopy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		direct bool
		sync   bool // the sync fails, not the write
	}{{"write", false, false}, {"direct write", true, false}, {"sync", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			var failing atomic.Value // the mountpath that fails, once
			failing.Store("")
			fails := func(path string) bool {
				mp := failing.Load().(string)
				return mp != "" && strings.HasPrefix(path, mp+string(filepath.Separator)) && failing.CompareAndSwap(mp, "")
			}
			st, _ := threeMountpaths(t, fs.Config{SyncData: func(f *os.File) error {
				if tc.sync && fails(f.Name()) {
					return syscall.EIO
				}
				return f.Sync()
			}})
			defer fs.OnWorkWriter(func(mountpath string, w io.Writer) io.Writer {
				if tc.sync {
					return w
				}
				return writerFunc(func(p []byte) (int, error) {
					if fails(filepath.Join(mountpath, "x")) {
						return 0, syscall.ENOSPC
					}
					return w.Write(p)
				})
			})()
			b := mirrorBucket(t, st, "m", 2, false)
			const name = "o"
			storetest.Put(t, st, b, name, []byte("version one"))
			extra := st.MountpathsOf(b, name, 2)[1]
			failing.Store(extra)
			v2 := bytes.Repeat([]byte("version two "), 1000)
			if _, err := st.Put(ctx, b, name, bytes.NewReader(v2), store.PutOptions{Size: int64(len(v2)), Direct: tc.direct}); err != nil {
				t.Fatalf("a mirrored PUT whose extra copy's disk failed: %v", err)
			}
			if failing.Load().(string) != "" {
				t.Fatal("the extra copy's disk was not made to fail")
			}
			if got := storetest.Get(t, st, b, name); !bytes.Equal(got, v2) {
				t.Fatalf("read %d bytes after the PUT, want the %d written", len(got), len(v2))
			}
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				paths := copyPaths(st, b, name)
				same := len(paths) == 2
				for _, p := range paths {
					data, _ := os.ReadFile(p)
					same = same && bytes.Equal(data, v2)
				}
				if same {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("copies %v after the PUT: want 2 of the new version", paths)
				}
			}
			if left, _ := os.ReadDir(filepath.Join(extra, ".ais", "work")); len(left) > 0 {
				t.Fatalf("work files left on the failing disk: %v", left)
			}
		})
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// A mirror copy's mountpath detached while the PUT's data streamed in
// gets no copy: left there, it outlived later deletes and came back when
// the mountpath was attached again.
func TestPutLeavesNoCopyOnAMountpathDetachedMeanwhile(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 2, false)
	storetest.Put(t, st, b, "x", []byte("v1"))
	first := st.MountpathOf(b, "x")
	var second string
	for _, p := range copyPaths(st, b, "x") {
		if mp := filepath.Dir(filepath.Dir(filepath.Dir(p))); mp != first {
			second = mp
		}
	}
	if second == "" {
		t.Fatal("no second copy")
	}
	body := &disablingReader{Reader: strings.NewReader("v2"), disable: func() {
		if err := st.DetachMountpath(t.Context(), second, nil); err != nil {
			t.Error(err)
		}
	}}
	if _, err := st.Put(t.Context(), b, "x", body, store.PutOptions{Size: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(second, "ais", b.Name, "x")); !os.IsNotExist(err) {
		t.Fatalf("a copy on the mountpath detached during the PUT: %v", err)
	}
	if err := st.Delete(t.Context(), b, "x", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := st.AttachMountpath(t.Context(), second); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Head(t.Context(), b, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the deleted object after the mountpath came back: %v", err)
	}
}

// A detach cut short leaves the mountpath detaching; asked again, it goes
// on (it was refused as "being detached already", for good).
func TestDetachCutShortGoesOnWhenAskedAgain(t *testing.T) {
	st, mps := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 1, false)
	for i := range 20 {
		storetest.Put(t, st, b, fmt.Sprintf("o%02d", i), []byte("x"))
	}
	if err := st.Delete(t.Context(), b, "o00", store.DeleteOptions{Stamp: store.Stamp{Clock: time.Now().UnixNano()}, Tombstone: true}); err != nil {
		t.Fatal(err)
	}
	cut, cancel := context.WithCancel(t.Context())
	cancel()
	if err := st.DetachMountpath(cut, mps[1], nil); err == nil {
		t.Fatal("a detach with its context gone succeeded")
	}
	if err := st.DetachMountpath(t.Context(), mps[1], nil); err != nil {
		t.Fatalf("the detach asked again: %v", err)
	}
	for _, s := range st.MountpathStatuses() {
		if s.Path == mps[1] {
			t.Fatalf("the mountpath after its detach: %+v", s)
		}
	}
	for i := 1; i < 20; i++ {
		if _, err := st.Head(t.Context(), b, fmt.Sprintf("o%02d", i)); err != nil {
			t.Fatalf("o%02d after the detach: %v", i, err)
		}
	}
	if _, found := st.Tombstone(b, "o00"); !found {
		t.Fatal("the tombstone of o00 went with the detached mountpath")
	}
}

// An unreadable tombstone on a detaching mountpath (it names nothing to
// refuse) does not hold the detach for good.
func TestDetachPastAnUnreadableTombstone(t *testing.T) {
	st, mps := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 1, false)
	dir := filepath.Join(mps[1], ".ais", "tombstones", "ais", b.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "0123456789abcdef0123456789abcdef"), []byte("not msgpack"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := st.DetachMountpath(t.Context(), mps[1], nil); err != nil {
		t.Fatalf("a detach past an unreadable tombstone: %v", err)
	}
}

// A mirrored object whose copies hold two versions (a crash between a
// PUT's installs) is read at its newest from either copy, and the older
// copy is rewritten from the newest.
func TestMirroredReadServesTheNewestCopy(t *testing.T) {
	ctx := t.Context()
	st, _ := threeMountpaths(t, fs.Config{NoSync: true})
	b := mirrorBucket(t, st, "m", 2, false)
	const name = "o"
	v1, v2 := []byte("the first version"), []byte("the second version, longer")
	storetest.Put(t, st, b, name, v1)
	// The first copy in HRW order keeps the first version, as a crash
	// after the second copy's install would leave it.
	first := st.MountpathsOf(b, name, 2)[0]
	path := filepath.Join(first, "ais", b.Name, name)
	saved := filepath.Join(first, "saved-copy")
	if err := os.Link(path, saved); err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, st, b, name, v2)
	if err := os.Rename(saved, path); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		obj, err := st.Open(ctx, b, name, store.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj)
		obj.Close()
		if err != nil || !bytes.Equal(got, v2) {
			t.Fatalf("a read of copies of two versions: %q, %v; want the newest %q", got, err, v2)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if disk, _ := os.ReadFile(path); bytes.Equal(disk, v2) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the older copy %s was not rewritten", path)
		}
	}
}

// HEAD and a conditional or versioned PUT see a mirrored object at its
// newest copy, as a GET reads it, when the first copy is of the version
// before (a crash between an overwrite's installs): a HEAD must not
// describe bytes a GET does not return, nor an If-Match pass on them.
func TestMirroredHeadAndConditionsSeeTheNewestCopy(t *testing.T) {
	ctx := t.Context()
	st, _ := threeMountpaths(t, fs.Config{NoSync: true})
	b := store.NewBucket("m")
	props := store.DefaultProps()
	props.Mirror = store.MirrorProps{Enabled: true, Copies: 2}
	props.Versioning.Enabled = true
	if err := st.CreateBucket(ctx, b, props); err != nil {
		t.Fatal(err)
	}
	const name = "o"
	v1, v2 := []byte("the first version"), []byte("the second version, longer")
	m1 := storetest.Put(t, st, b, name, v1)
	first := st.MountpathsOf(b, name, 2)[0]
	path := filepath.Join(first, "ais", b.Name, name)
	saved := filepath.Join(first, "saved-copy")
	if err := os.Link(path, saved); err != nil {
		t.Fatal(err)
	}
	m2 := storetest.Put(t, st, b, name, v2)
	if err := os.Rename(saved, path); err != nil {
		t.Fatal(err)
	}
	head, err := st.Head(ctx, b, name)
	if err != nil {
		t.Fatal(err)
	}
	if head.Size != int64(len(v2)) || head.Stamp != m2.Stamp || head.Version != "2" {
		t.Fatalf("HEAD of copies of two versions: size %d, stamp %v, version %q; want the newest: %d, %v, 2", head.Size, head.Stamp, head.Version, len(v2), m2.Stamp)
	}
	stale := store.PutOptions{Size: 3, IfMatch: store.ETagOf(m1)}
	if _, err := st.Put(ctx, b, name, bytes.NewReader([]byte("new")), stale); !errors.Is(err, store.ErrPreconditionFailed) {
		t.Fatalf("a PUT If-Match the older copy's ETag: %v; want precondition failed", err)
	}
	current := store.PutOptions{Size: 3, IfMatch: store.ETagOf(m2)}
	m3, err := st.Put(ctx, b, name, bytes.NewReader([]byte("new")), current)
	if err != nil {
		t.Fatalf("a PUT If-Match the newest copy's ETag: %v", err)
	}
	if m3.Version != "3" {
		t.Fatalf("the version after the newest's 2: %q", m3.Version)
	}
}

// Older copies that cannot be rewritten (the newest fails its checksum)
// are not queued again by every read: a read each would copy the whole
// object each, and fail alike.
func TestFailedRefreshIsNotQueuedByEveryRead(t *testing.T) {
	ctx := t.Context()
	var refreshes atomic.Int64
	release := make(chan struct{})
	var released sync.Once
	defer released.Do(func() { close(release) }) // a failure before does not hang the test
	defer fs.SetBeforeRefresh(func() {
		refreshes.Add(1)
		<-release // while reads queue the object again
	})()
	st, _ := threeMountpaths(t, fs.Config{NoSync: true})
	b := mirrorBucket(t, st, "m", 2, false)
	const name = "o"
	storetest.Put(t, st, b, name, []byte("the first version"))
	first := st.MountpathsOf(b, name, 2)[0]
	path := filepath.Join(first, "ais", b.Name, name)
	saved := filepath.Join(first, "saved-copy")
	if err := os.Link(path, saved); err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, st, b, name, []byte("the second version"))
	if err := os.Rename(saved, path); err != nil {
		t.Fatal(err)
	}
	for _, p := range copyPaths(st, b, name) {
		if p != path {
			flip(t, p) // the newest copy's bytes no longer match
		}
	}
	read := func() {
		t.Helper()
		obj, err := st.Open(ctx, b, name, store.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(obj)
		obj.Close()
	}
	read()
	for deadline := time.Now().Add(10 * time.Second); refreshes.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no rewrite of the older copy was tried")
		}
	}
	for range 5 {
		read() // queued while the first rewrite runs
	}
	released.Do(func() { close(release) })
	for deadline := time.Now().Add(10 * time.Second); !st.RefreshFailed(b, name); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no failed rewrite of the older copy was noted")
		}
	}
	for range 5 {
		read()
	}
	st.Close() // after what was queued
	if n := refreshes.Load(); n != 1 {
		t.Fatalf("%d rewrites tried for a copy that cannot be rewritten, want 1", n)
	}
}

// An overwrite whose object lands on another mountpath than its old
// copy (placed before the mountpaths changed) makes the new copy durable
// before the old one goes: a crash between the two must not leave
// neither.
func TestOverwriteSyncsTheNewCopyBeforeTheOldGoes(t *testing.T) {
	var mu sync.Mutex
	var events []string
	st, mps := threeMountpaths(t, fs.Config{SyncFS: func(path string) error {
		mu.Lock()
		events = append(events, "sync "+path)
		mu.Unlock()
		return nil
	}})
	b := mirrorBucket(t, st, "b", 1, false)
	ctx := t.Context()
	if _, err := st.Put(ctx, b, "x", strings.NewReader("old"), store.PutOptions{Size: 3}); err != nil {
		t.Fatal(err)
	}
	home := st.MountpathOf(b, "x")
	var elsewhere string
	for _, mp := range mps {
		if mp != home {
			elsewhere = mp
			break
		}
	}
	// The old copy, as a placement of before left it: elsewhere only.
	if err := os.MkdirAll(filepath.Join(elsewhere, "ais", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(home, "ais", "b", "x"), filepath.Join(elsewhere, "ais", "b", "x")); err != nil {
		t.Fatal(err)
	}
	defer fs.OnRemoveCopy(func(path string) error {
		mu.Lock()
		events = append(events, "remove "+path)
		mu.Unlock()
		return os.Remove(path)
	})()
	mu.Lock()
	events = nil
	mu.Unlock()
	if _, err := st.Put(ctx, b, "x", strings.NewReader("new"), store.PutOptions{Size: 3}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	synced := -1
	for i, e := range events {
		if strings.HasPrefix(e, "sync "+home) && synced < 0 {
			synced = i
		}
		if strings.HasPrefix(e, "remove "+elsewhere) {
			if synced < 0 {
				t.Fatalf("the old copy went before the new one was synced: %q", events)
			}
			return
		}
	}
	t.Fatalf("the old copy was not removed: %q", events)
}

// An object and a name under it ("x" and "x/b") cannot both be, whichever
// of a mirror's mountpaths holds the object: a copy's mountpath is checked
// as the first's is (its install's failure was only logged, and the
// name stored with a copy short).
func TestMirrorRefusesANameUnderAnObjectOnAnyCopy(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 1, false)
	ctx := t.Context()
	for i := range 20 {
		storetest.Put(t, st, b, fmt.Sprintf("x%d", i), []byte("object"))
	}
	props := store.DefaultProps()
	props.Mirror = store.MirrorProps{Enabled: true, Copies: 2}
	if err := st.SetBucketProps(ctx, b, props); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		name := fmt.Sprintf("x%d/b", i)
		if _, err := st.Put(ctx, b, name, strings.NewReader("under"), store.PutOptions{Size: 5}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a PUT of %s under the object x%d (one copy, mirror raised to 2): %v, want a conflict", name, i, err)
		}
	}
}

// A detach moves objects within the watermarks, as make-n-copies: past
// out_of_space on the others it fails naming why, its objects still on
// the mountpath, rather than fill every disk.
func TestDetachStaysWithinTheWatermarks(t *testing.T) {
	st, mps := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "plain", 1, false)
	for i := range 30 {
		storetest.Put(t, st, b, fmt.Sprintf("o%02d", i), []byte(fmt.Sprint(i)))
	}
	full := errors.New("capacity past out_of_space")
	st.SetRoomCheck(func(_ context.Context, mountpath string, _ int64) error {
		if mountpath == mps[0] {
			t.Errorf("room asked of the mountpath detaching")
		}
		return full
	})
	err := st.DetachMountpath(t.Context(), mps[0], nil)
	if !errors.Is(err, full) {
		t.Fatalf("a detach with no room on the others: %v, want refused for room", err)
	}
	for i := range 30 {
		name := fmt.Sprintf("o%02d", i)
		if got := storetest.Get(t, st, b, name); string(got) != fmt.Sprint(i) {
			t.Fatalf("%s after the failed detach: %q", name, got)
		}
	}
}

// A resilver moves objects to a mountpath added to a full store: room is
// asked of each copy's destination, not of the disks it leaves.
func TestResilverMovesOntoAnAddedMountpathWhenFull(t *testing.T) {
	root := t.TempDir()
	mps := []string{filepath.Join(root, "mp1"), filepath.Join(root, "mp2")}
	st, err := fs.Open(t.Context(), fs.Config{Mountpaths: mps[:1]})
	if err != nil {
		t.Fatal(err)
	}
	b := mirrorBucket(t, st, "plain", 1, false)
	for i := range 40 {
		storetest.Put(t, st, b, fmt.Sprintf("o%02d", i), []byte(fmt.Sprint(i)))
	}
	// The first disk is full; the one added is not.
	st.SetRoomCheck(func(_ context.Context, mountpath string, _ int64) error {
		if mountpath == mps[0] {
			return errors.New("capacity past out_of_space")
		}
		return nil
	})
	if err := st.AttachMountpath(t.Context(), mps[1]); err != nil {
		t.Fatal(err)
	}
	if err := st.Resilver(t.Context(), nil); err != nil {
		t.Fatalf("a resilver onto an added mountpath, the store full: %v", err)
	}
	moved := 0
	for i := range 40 {
		name := fmt.Sprintf("o%02d", i)
		if st.MountpathOf(b, name) == mps[1] {
			moved++
		}
		if got := storetest.Get(t, st, b, name); string(got) != fmt.Sprint(i) {
			t.Fatalf("%s after the resilver: %q", name, got)
		}
		if paths := copyPaths(st, b, name); len(paths) != 1 {
			t.Fatalf("%s has copies %v, want one", name, paths)
		}
	}
	if moved == 0 {
		t.Fatal("no object places on the added mountpath: the test shows nothing")
	}
}

// The copies a make-n-copies removes (fewer wanted) are gone durably, a
// sync of their mountpath after the removal, before it moves on: a
// delete that follows syncs only where it removes, and a crash would
// bring back the copy it did not know of.
func TestCopiesRemovedAreSynced(t *testing.T) {
	var mu sync.Mutex
	var st *fs.Store
	var watched []string // the copies to go
	removedThenSynced := 0
	st, _ = threeMountpaths(t, fs.Config{SyncFS: func(path string) error {
		mu.Lock()
		defer mu.Unlock()
		for i, copyPath := range watched {
			if copyPath != "" && strings.HasPrefix(copyPath, path+string(filepath.Separator)) {
				if _, err := os.Stat(copyPath); errors.Is(err, os.ErrNotExist) {
					removedThenSynced++
					watched[i] = ""
				}
			}
		}
		return nil
	}})
	b := mirrorBucket(t, st, "m", 2, false)
	storetest.Put(t, st, b, "o", []byte("data"))
	setCopies(t, st, b, 1)
	keep := st.MountpathsOf(b, "o", 1)[0]
	mu.Lock()
	for _, p := range copyPaths(st, b, "o") {
		if !strings.HasPrefix(p, keep+string(filepath.Separator)) {
			watched = append(watched, p)
		}
	}
	mu.Unlock()
	if len(watched) != 1 {
		t.Fatalf("copies to go: %v, want 1", watched)
	}
	if err := st.MakeCopies(t.Context(), b, nil); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(copyPaths(st, b, "o")) != 1 || removedThenSynced != 1 {
		t.Fatalf("copies left %v, removals synced %d: want 1 copy, its removal synced", copyPaths(st, b, "o"), removedThenSynced)
	}
}

// A disable of a mountpath disabled already changes nothing: nothing is
// told (a metric counted, a resilver started) for it.
func TestDisablingADisabledMountpathTellsNothing(t *testing.T) {
	var told atomic.Int32
	st, mps := threeMountpaths(t, fs.Config{OnMountpathChange: func(path, state, reason string) { told.Add(1) }})
	for range 2 {
		if err := st.DisableMountpath(t.Context(), mps[1], "by hand"); err != nil {
			t.Fatal(err)
		}
	}
	if n := told.Load(); n != 1 {
		t.Fatalf("two disables of one mountpath told %d changes, want 1", n)
	}
}

// A health check that cannot open its probe for want of descriptors (the
// process at its limit, under many connections) disables no disk: it is
// the process's shortage, not the disks' failure.
func TestHealthCheckTakesAShortageOfDescriptorsForNoFailure(t *testing.T) {
	st, mps := threeMountpaths(t, fs.Config{})
	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		t.Fatal(err)
	}
	// The lowest descriptor free now: a limit there leaves the process
	// none to open.
	probe, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	free := probe.Fd()
	probe.Close()
	low := limit
	low.Cur = uint64(free)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	failed := st.CheckMountpaths()
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		t.Fatal(err)
	}
	if failed != 0 || len(st.Mountpaths()) != len(mps) {
		t.Fatalf("%d mountpaths failed a check run out of descriptors; enabled: %v", failed, st.Mountpaths())
	}
}

// A disk whose health probe hangs (a dead NFS server) fails its check
// once the probe has not ended for four times the check's wait, and is
// disabled, rather than hold the checks, and the store's close, for ever;
// the checks meanwhile wait on that probe, starting no other. One slow
// under load, ending within that time, stays.
func TestHealthCheckDisablesAHungDisk(t *testing.T) {
	st, mps := threeMountpaths(t, fs.Config{})
	release := make(chan struct{})
	var hung sync.WaitGroup
	defer func() {
		close(release)
		hung.Wait() // its probe's file written before the directories go
	}()
	var hungProbes, slowProbes atomic.Int64
	defer fs.OnHealthProbe(func(mountpath string, probe func() error) error {
		switch mountpath {
		case mps[1]:
			hung.Add(1)
			defer hung.Done()
			hungProbes.Add(1)
			<-release
		case mps[2]:
			if slowProbes.Add(1) == 1 {
				time.Sleep(250 * time.Millisecond) // past one wait, within four
			}
		}
		return probe()
	}, 100*time.Millisecond)()
	failed := 0
	for checks := 0; failed == 0 && checks < 20; checks++ {
		failed = st.CheckMountpaths()
	}
	if failed != 1 {
		t.Fatalf("%d mountpaths failed their checks, want the hung one", failed)
	}
	if enabled := st.Mountpaths(); slices.Contains(enabled, mps[1]) || len(enabled) != 2 {
		t.Fatalf("enabled after the checks: %v, want all but %s", enabled, mps[1])
	}
	if n := hungProbes.Load(); n != 1 {
		t.Fatalf("%d probes of the hung disk, want the one the checks waited on", n)
	}
}

// A copy removed (make-n-copies lowering the count, a resilver) takes no
// read with it: the copy kept carries the last read of any, else LRU
// would evict an object read a moment ago through the copy that went.
func TestCopiesKeptCarryTheReadsOfThoseRemoved(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 2, false)
	storetest.Put(t, st, b, "o", []byte("read through its second copy"))
	time.Sleep(20 * time.Millisecond)
	second := filepath.Join(st.MountpathsOf(b, "o", 2)[1], "ais", b.Name, "o")
	read := time.Now()
	fs.Touch(st, second) // the least busy copy served the reads
	setCopies(t, st, b, 1)
	if err := st.MakeCopies(t.Context(), b, nil); err != nil {
		t.Fatal(err)
	}
	if paths := copyPaths(st, b, "o"); len(paths) != 1 || paths[0] == second {
		t.Fatalf("copies %v: want the first alone", paths)
	}
	list, err := st.List(t.Context(), b, store.ListOptions{WithMeta: true})
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	if list[0].Atime.Before(read) {
		t.Fatalf("the copy kept was last read at %v, before the read at %v of the copy removed", list[0].Atime, read)
	}
}

// failingRead fails its reads as a disk with bad sectors does.
type failingRead struct{ path string }

func (f failingRead) Read([]byte) (int, error) {
	return 0, &os.PathError{Op: "read", Path: f.path, Err: syscall.EIO}
}
func (failingRead) Close() error { return nil }

// A copy whose source fails its reads has the source's disk checked, not
// the healthy disk the copy was going to.
func TestCopyReadFailureSuspectsTheSourceDisk(t *testing.T) {
	st, mps := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 2, false)
	storetest.Put(t, st, b, "o", []byte("copied from a failing disk"))
	var mu sync.Mutex
	probed := map[string]bool{}
	defer fs.OnHealthProbe(func(mountpath string, probe func() error) error {
		mu.Lock()
		probed[mountpath] = true
		mu.Unlock()
		return probe()
	}, time.Minute)()
	defer fs.OnCopySource(func(path string) (io.ReadCloser, error) { return failingRead{path}, nil })()
	defer st.Close() // its checks ended before the hooks go back
	setCopies(t, st, b, 3)
	st.MakeCopies(t.Context(), b, nil) // fails: every source's reads do
	third := mps[0]
	for _, mp := range mps {
		if !slices.Contains(st.MountpathsOf(b, "o", 2), mp) {
			third = mp
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		sources := 0
		for _, mp := range st.MountpathsOf(b, "o", 2) {
			if probed[mp] {
				sources++
			}
		}
		wrong := probed[third]
		mu.Unlock()
		if wrong {
			t.Fatalf("the disk the copy was going to (%s) was checked for the source's read failure", third)
		}
		if sources > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no source disk was checked after its reads failed")
		}
	}
}

// A PUT whose bucket is destroyed and made again while its bytes come in
// (a late rebalance frame, a PUT in flight) is refused: the object was
// the old bucket's, and must not live on in the new one.
func TestPutAcrossARecreatedBucketFails(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{NoSync: true})
	b := store.NewBucket("again")
	props := store.DefaultProps()
	props.Created = 1
	if err := st.CreateBucket(t.Context(), b, props); err != nil {
		t.Fatal(err)
	}
	body := &disablingReader{Reader: strings.NewReader("the old bucket's"), disable: func() {
		if err := st.DestroyBucket(t.Context(), b); err != nil {
			t.Error(err)
		}
		again := store.DefaultProps()
		again.Created = 2
		if err := st.CreateBucket(t.Context(), b, again); err != nil {
			t.Error(err)
		}
	}}
	if _, err := st.Put(t.Context(), b, "o", body, store.PutOptions{Size: -1}); !errors.Is(err, store.ErrBucketNotFound) {
		t.Fatalf("a PUT across a destroy and a create of its bucket: %v, want the bucket not found", err)
	}
	if _, err := st.Head(t.Context(), b, "o"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the new bucket holds the old one's object: %v", err)
	}
	// A remote bucket evicted and added again is the same remote's: a
	// write-through the remote took is installed.
	remote := store.Bucket{Provider: "aws", Name: "again"}
	props = store.DefaultRemoteProps(remote)
	props.Created = 1
	if err := st.CreateBucket(t.Context(), remote, props); err != nil {
		t.Fatal(err)
	}
	body = &disablingReader{Reader: strings.NewReader("the remote's"), disable: func() {
		if err := st.DestroyBucket(t.Context(), remote); err != nil {
			t.Error(err)
		}
		again := store.DefaultRemoteProps(remote)
		again.Created = 2
		if err := st.CreateBucket(t.Context(), remote, again); err != nil {
			t.Error(err)
		}
	}}
	if _, err := st.Put(t.Context(), remote, "o", body, store.PutOptions{Size: -1}); err != nil {
		t.Fatalf("a PUT across a remote bucket added again: %v", err)
	}
}

// Fewer copies: a kept copy with changes not synced yet (a repair's
// rewrite, its rename unsynced) is synced before the others go, though no
// copy was made: the removal of the good copy on another disk could be
// durable first, and a crash leave only the corrupt one. One with none
// costs no sync per object.
func TestFewerCopiesSyncTheKeptOneFirst(t *testing.T) {
	for _, marked := range []bool{false, true} {
		st, _ := threeMountpaths(t, fs.Config{})
		b := mirrorBucket(t, st, "m", 2, false)
		storetest.Put(t, st, b, "x", []byte("data"))
		if marked {
			fs.MarkUnsynced(st, st.MountpathOf(b, "x"))
		}
		before := st.SyncStats().Syncs
		var synced int64 = -1
		restore := fs.OnCopiesMade(func() { synced = st.SyncStats().Syncs - before })
		props := store.DefaultProps()
		props.Mirror = store.MirrorProps{Copies: 1}
		if err := st.SetBucketProps(t.Context(), b, props); err != nil {
			t.Fatal(err)
		}
		if err := st.MakeCopies(t.Context(), b, nil); err != nil {
			t.Fatal(err)
		}
		restore()
		if marked && synced <= 0 || !marked && synced != 0 {
			t.Fatalf("kept copy marked unsynced %v: %d syncs before the extra copy was removed", marked, synced)
		}
		if got := storetest.Get(t, st, b, "x"); string(got) != "data" {
			t.Fatalf("the object after: %q", got)
		}
	}
}
