package fs_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/fs"
)

// SetAside moves the objects out of the store's sight, keeps their files,
// and leaves the buckets usable.
func TestSetAside(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	st := open(t, filepath.Join(root, "mp1"), filepath.Join(root, "mp2"))
	b := store.NewBucket("b")
	if err := st.CreateBucket(ctx, b, store.Props{}); err != nil {
		t.Fatal(err)
	}
	if moved, err := st.SetAside(ctx, "empty"); err != nil || moved {
		t.Fatalf("set aside an empty store: %v %v", moved, err)
	}
	for _, name := range []string{"a", "dir/b"} {
		if _, err := st.Put(ctx, b, name, strings.NewReader(name), store.PutOptions{Size: int64(len(name))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.SetAside(ctx, "../up"); err == nil {
		t.Fatal("a name that climbs was taken")
	}
	if moved, err := st.SetAside(ctx, "removed-1"); err != nil || !moved {
		t.Fatalf("set aside: %v %v", moved, err)
	}
	if list, err := st.List(ctx, b, store.ListOptions{}); err != nil || len(list) != 0 {
		t.Fatalf("listed after the set aside: %v %v", list, err)
	}
	kept := 0
	for _, mp := range []string{"mp1", "mp2"} {
		paths, _ := filepath.Glob(filepath.Join(root, mp, ".ais", "set-aside", "removed-1", "objects", "ais", "b", "*"))
		kept += len(paths)
	}
	if kept == 0 {
		t.Fatal("the objects' files were not kept")
	}
	if _, err := st.Put(ctx, b, "a", strings.NewReader("new"), store.PutOptions{Size: 3}); err != nil {
		t.Fatalf("a put after the set aside: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "mp1", ".ais", "set-aside", "removed-1")); err != nil {
		t.Fatal(err)
	}
}

// What SetAside moved is durable before it returns: undone by a crash,
// its renames would bring back objects that may have been deleted.
func TestSetAsideIsSynced(t *testing.T) {
	var mu sync.Mutex
	synced := map[string]int{}
	st, mps := threeMountpaths(t, fs.Config{SyncFS: func(path string) error {
		mu.Lock()
		defer mu.Unlock()
		synced[path]++
		return nil
	}})
	b := store.NewBucket("b")
	if err := st.CreateBucket(t.Context(), b, store.Props{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(t.Context(), b, "a", strings.NewReader("a"), store.PutOptions{Size: 1}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	clear(synced)
	mu.Unlock()
	if moved, err := st.SetAside(t.Context(), "removed"); err != nil || !moved {
		t.Fatalf("set aside: %v %v", moved, err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, mp := range mps {
		if synced[mp] == 0 {
			t.Fatalf("mountpath %s not synced after the set aside (synced %v)", mp, synced)
		}
	}
}
