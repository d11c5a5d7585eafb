package fs_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/fs"
)

// Every caller returns after a sync that began after its call, and
// concurrent callers share syncs.
func TestGroupSyncerCoversEachCaller(t *testing.T) {
	var started, ended atomic.Int64
	g := fs.NewGroupSyncer(func() error {
		started.Add(1)
		time.Sleep(2 * time.Millisecond)
		ended.Add(1)
		return nil
	})
	const callers = 64
	var wg sync.WaitGroup
	var uncovered atomic.Int64
	for i := range callers {
		wg.Go(func() {
			time.Sleep(time.Duration(i%8) * time.Millisecond)
			before := started.Load()
			if err := g.Sync(); err != nil {
				t.Error(err)
			}
			// Syncs run one at a time: sync number before+1 began after
			// the call, and it has ended.
			if ended.Load() < before+1 {
				uncovered.Add(1)
			}
		})
	}
	wg.Wait()
	if uncovered.Load() > 0 {
		t.Fatalf("%d callers returned before a sync that began after their call", uncovered.Load())
	}
	if n := started.Load(); n >= callers {
		t.Fatalf("%d syncs for %d concurrent callers: nothing was shared", n, callers)
	}
	t.Logf("%d callers, %d syncs", callers, started.Load())
}

func TestGroupSyncerReportsErrors(t *testing.T) {
	fail := errors.New("disk gone")
	g := fs.NewGroupSyncer(func() error { return fail })
	if err := g.Sync(); !errors.Is(err, fail) {
		t.Fatalf("Sync: %v", err)
	}
}

var errSyncRefused = errors.New("sync refused")

// A durable PUT is acknowledged only after its data is synced before the
// rename and the filesystem after the rename. A failed data sync leaves
// no object.
func TestPutWaitsForTheGroupSync(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	var failData atomic.Bool
	dir := t.TempDir()
	// What is in place when each sync runs.
	inPlace := func() bool {
		_, err := os.Stat(filepath.Join(dir, "ais", "b", "obj"))
		return err == nil
	}
	st, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{dir},
		SyncData: func(f *os.File) error {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, fmt.Sprintf("data in place=%v", inPlace()))
			if failData.Load() {
				// Not a disk error: that would start a health check,
				// whose files would race the test's cleanup.
				return errSyncRefused
			}
			return f.Sync()
		},
		SyncFS: func(mp string) error {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, fmt.Sprintf("filesystem in place=%v", inPlace()))
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	b := store.NewBucket("b")
	if err := st.CreateBucket(t.Context(), b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	calls = nil
	mu.Unlock()
	failData.Store(true)
	if _, err := st.Put(t.Context(), b, "obj", bytes.NewReader([]byte("data")), store.PutOptions{Size: 4}); err == nil {
		t.Fatal("a PUT whose data sync failed was acknowledged")
	}
	if _, err := st.Head(t.Context(), b, "obj"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after a failed data sync the object is there: %v", err)
	}
	failData.Store(false)
	mu.Lock()
	calls = nil
	mu.Unlock()
	if _, err := st.Put(t.Context(), b, "obj", bytes.NewReader([]byte("data")), store.PutOptions{Size: 4}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 || calls[0] != "data in place=false" || calls[1] != "filesystem in place=true" {
		t.Fatalf("syncs %v: want the data's before the rename and the filesystem's after", calls)
	}
	// A DELETE is acknowledged after its removal is synced too: a crash
	// must not bring the object back.
	calls = nil
	mu.Unlock()
	if err := st.Delete(t.Context(), b, "obj", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(calls) != 1 || calls[0] != "filesystem in place=false" {
		t.Fatalf("syncs of a DELETE %v: want the filesystem's, after the removal", calls)
	}
}

// A PUT whose sync fails still has its bytes checked: a wrong checksum is
// told as such, not hidden behind the disk's error (a cold GET streaming
// the bytes on takes a disk's failure for checked bytes).
func TestFailedSyncStillChecksTheBytes(t *testing.T) {
	dir := t.TempDir()
	st, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{dir},
		SyncData: func(f *os.File) error { return errSyncRefused }})
	if err != nil {
		t.Fatal(err)
	}
	b := store.NewBucket("b")
	if err := st.CreateBucket(t.Context(), b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	wrong := store.Checksum{Type: store.ChecksumMD5, Value: "00000000000000000000000000000000"}
	for _, opts := range []store.PutOptions{{Size: 4, Checksum: wrong}, {Size: 4, Checksum: wrong, ETag: true}} {
		_, err := st.Put(t.Context(), b, "obj", bytes.NewReader([]byte("data")), opts)
		if !errors.Is(err, store.ErrBadChecksum) {
			t.Fatalf("ETag %v: a wrong checksum with a failed sync: %v, want %v", opts.ETag, err, store.ErrBadChecksum)
		}
	}
	if _, err := st.Put(t.Context(), b, "obj", bytes.NewReader([]byte("data")), store.PutOptions{Size: 4}); !errors.Is(err, errSyncRefused) {
		t.Fatalf("right bytes with a failed sync: %v, want the sync's error", err)
	}
}

// An acknowledged PUT is on disk: read back after its pages are dropped
// from the page cache, it is whole.
func TestAcknowledgedPutSurvivesDroppedCache(t *testing.T) {
	dir := t.TempDir()
	st := open(t, dir)
	b := store.NewBucket("b")
	st.CreateBucket(t.Context(), b, store.DefaultProps())
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<14)
	if _, err := st.Put(t.Context(), b, "big", bytes.NewReader(data), store.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ais", "b", "big")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	// DONTNEED drops clean pages only: a dirty page stays, and then the
	// read below proves nothing; after syncfs every page must be clean.
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	f.Close()
	obj, err := st.Open(t.Context(), b, "big", store.OpenOptions{Validate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	got := make([]byte, len(data))
	if _, err := obj.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back after dropping the cache: %v", err)
	}
	if stats := st.SyncStats(); stats.Syncs == 0 {
		t.Fatalf("no group sync ran: %+v", stats)
	}
}
