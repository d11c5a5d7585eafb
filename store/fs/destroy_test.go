package fs_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/fs"
	"github.com/aisgo/aisgo/store/storetest"
)

// listNames lists a bucket's object names.
func listNames(t *testing.T, st store.Store, b store.Bucket) []string {
	t.Helper()
	list, err := st.List(t.Context(), b, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range list {
		names = append(names, o.Name)
	}
	return names
}

// A destroy that fails to move a bucket's directories away leaves the
// bucket listed, to be destroyed again: never its objects on disk under
// a name the metadata no longer has, where the bucket made again after a
// restart would find them.
func TestFailedDestroyLeavesNoObjectsBehindTheMetadata(t *testing.T) {
	st, mp, b, trash := bucketWithTrashGone(t)
	os.WriteFile(trash, nil, 0o600) // no directory to move into
	if err := st.DestroyBucket(t.Context(), b); err == nil {
		t.Fatal("a destroy whose directories could not move succeeded")
	}
	st.Close()
	os.Remove(trash)
	os.MkdirAll(trash, 0o755)
	st = open(t, mp)
	defer st.Close()
	if _, err := st.Head(t.Context(), b, "old"); err == nil {
		if err := st.DestroyBucket(t.Context(), b); err != nil {
			t.Fatalf("the destroy again: %v", err)
		}
	}
	if err := st.CreateBucket(t.Context(), b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	if names := listNames(t, st, b); len(names) != 0 {
		t.Fatalf("the bucket made again holds %v of the destroyed one", names)
	}
}

// A bucket destroyed and made again while a store was away (its target
// down) is the new one when the store learns the metadata: the old
// objects it held go.
func TestBucketMadeAgainWhileAwayDropsTheOldObjects(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "mp"))
	defer st.Close()
	b := store.NewBucket("b")
	md := store.NewBucketMetadata()
	md.Version = 1
	props := store.DefaultProps()
	props.Created = 1000
	md.Set(b, props)
	if err := st.SyncBuckets(t.Context(), md); err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, st, b, "old", []byte("old data"))
	// Destroyed (version 2) and made again (version 3) elsewhere.
	md = md.Clone()
	md.Version = 3
	props.Created = 2000
	md.Set(b, props)
	if err := st.SyncBuckets(t.Context(), md); err != nil {
		t.Fatal(err)
	}
	if names := listNames(t, st, b); len(names) != 0 {
		t.Fatalf("the bucket made again holds %v of the old one", names)
	}
	storetest.Put(t, st, b, "new", []byte("new data"))
	// The same bucket's metadata, a later version (props changed): its
	// objects stay.
	md = md.Clone()
	md.Version = 4
	if err := st.SyncBuckets(t.Context(), md); err != nil {
		t.Fatal(err)
	}
	if names := listNames(t, st, b); len(names) != 1 || names[0] != "new" {
		t.Fatalf("after a later version of the same bucket: %v", names)
	}
}

// A delete's Precommit runs under the name's lock before anything goes:
// its error refuses the delete, and its release runs once it is done.
func TestDeletePrecommit(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "mp"))
	defer st.Close()
	b := store.NewBucket("b")
	if err := st.CreateBucket(t.Context(), b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, st, b, "o", []byte("data"))
	refused := errors.New("moved away")
	err := st.Delete(t.Context(), b, "o", store.DeleteOptions{Precommit: func() (func(), error) { return nil, refused }})
	if !errors.Is(err, refused) {
		t.Fatalf("a delete whose precommit refuses: %v", err)
	}
	if _, err := st.Head(t.Context(), b, "o"); err != nil {
		t.Fatalf("the object after a refused delete: %v", err)
	}
	released := false
	if err := st.Delete(t.Context(), b, "o", store.DeleteOptions{Precommit: func() (func(), error) { return func() { released = true }, nil }}); err != nil || !released {
		t.Fatalf("a delete whose precommit takes it: %v, released %v", err, released)
	}
	if _, err := st.Head(t.Context(), b, "o"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the object after the delete: %v", err)
	}
}

// The trash's deletion never leaves its directory: a directory swapped
// for a symbolic link after it was listed (by whoever can write there)
// is not followed out.
func TestTrashDeletionFollowsNoLinkOut(t *testing.T) {
	root := t.TempDir()
	trash, outside := filepath.Join(root, "trash"), filepath.Join(root, "outside")
	for _, dir := range []string{filepath.Join(trash, "sub"), outside} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(trash, "sub", "a"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(outside, "keep"), []byte("keep"), 0o644)
	swapped := false
	stop := func() bool {
		if !swapped { // listed as a directory; now a link out
			swapped = true
			os.RemoveAll(filepath.Join(trash, "sub"))
			if err := os.Symlink(outside, filepath.Join(trash, "sub")); err != nil {
				t.Fatal(err)
			}
		}
		return false
	}
	fs.RemoveTree(trash, stop)
	if _, err := os.Stat(filepath.Join(outside, "keep")); err != nil {
		t.Fatalf("a file outside the trash, through a link swapped in: %v", err)
	}
	// The trashed directory itself a link out: the link goes, not what
	// it names.
	link := filepath.Join(root, "trash-link")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	if err := fs.RemoveTree(link, func() bool { return false }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(outside, "keep")); err != nil {
		t.Fatalf("a file outside the trash, through the trashed directory's link: %v", err)
	}
	if _, err := os.Lstat(link); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the link: %v, want removed", err)
	}
}

// A destroy while the trash is gone (removed by hand, or between its
// removal and its making again) fails and keeps the bucket: the rename
// into it failed as a missing directory does, which read as "nothing to
// move" and left the objects under a bucket destroyed.
func TestDestroyWithTheTrashGoneFails(t *testing.T) {
	st, _, b, trash := bucketWithTrashGone(t)
	defer st.Close()
	if err := st.DestroyBucket(t.Context(), b); err == nil {
		t.Fatal("a destroy with no trash to move into succeeded")
	}
	if got := storetest.Get(t, st, b, "old"); string(got) != "old data" {
		t.Fatalf("the bucket whose destroy failed: %q", got)
	}
	if err := os.Mkdir(trash, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := st.DestroyBucket(t.Context(), b); err != nil {
		t.Fatalf("the destroy again, the trash back: %v", err)
	}
	if err := st.CreateBucket(t.Context(), b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Head(t.Context(), b, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the destroyed bucket's object in the bucket made again: %v", err)
	}
}

// bucketWithTrashGone opens a store on one mountpath with bucket b
// holding "old", and removes the mountpath's trash directory.
func bucketWithTrashGone(t *testing.T) (st *fs.Store, mp string, b store.Bucket, trash string) {
	t.Helper()
	mp = filepath.Join(t.TempDir(), "mp")
	st = open(t, mp)
	b = store.NewBucket("b")
	if err := st.CreateBucket(t.Context(), b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, st, b, "old", []byte("old data"))
	trash = filepath.Join(mp, ".ais", "trash")
	if err := os.RemoveAll(trash); err != nil {
		t.Fatal(err)
	}
	return st, mp, b, trash
}
