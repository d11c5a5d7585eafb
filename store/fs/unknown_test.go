package fs_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"
	"golang.org/x/sys/unix"

	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/fs"
	"github.com/aisgo/aisgo/store/storetest"
)

// A mountpath that cannot tell whether it holds an object (the stat of
// its file fails, here with ELOOP as EIO would) does not answer "not
// found": a GET would be a 404 and a DELETE taken as done, the object
// back once the disk answers.
func TestObjectTheDiskCannotTellIsNotMissing(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "plain", 1, false)
	storetest.Put(t, st, b, "x", []byte("kept"))
	path := copyPaths(st, b, "x")[0]
	if err := os.Rename(path, path+".aside"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(path, path); err != nil { // a loop: stat fails with ELOOP
		t.Fatal(err)
	}
	if _, err := st.Head(t.Context(), b, "x"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("a HEAD the disk cannot answer: %v, want an error, not not-found", err)
	}
	if err := st.Delete(t.Context(), b, "x", store.DeleteOptions{}); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("a DELETE the disk cannot answer: %v, want an error, not not-found", err)
	}
}

// Metadata that cannot be read (larger than any this store writes, here) is
// corrupt, and a write or delete with conditions on it is refused rather
// than taken as if the name held nothing, or held what was asked.
func TestConditionsOnUnreadableMetadataAreRefused(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "plain", 1, false)
	meta := storetest.Put(t, st, b, "x", []byte("kept"))
	path := copyPaths(st, b, "x")[0]
	if err := unix.Setxattr(path, "user.ais.meta", bytes.Repeat([]byte{0x80}, 3900), 0); err != nil {
		t.Fatalf("an extended attribute of 3,900 bytes: %v", err)
	}
	if _, err := st.Head(t.Context(), b, "x"); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("a HEAD of metadata larger than any written: %v, want corrupt", err)
	}
	if _, err := st.Put(t.Context(), b, "x", strings.NewReader("new"), store.PutOptions{Size: 3, IfNoneMatch: "*"}); err == nil {
		t.Error("a PUT If-None-Match: * over unreadable metadata replaced the object")
	}
	if err := st.Delete(t.Context(), b, "x", store.DeleteOptions{IfStamp: meta.Stamp}); err == nil {
		t.Error("a conditional DELETE over unreadable metadata removed the object")
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != "kept" {
		t.Fatalf("the object after the refused requests: %q %v", data, err)
	}
	// A user's delete (stamped, no condition on the copy) removes it.
	if err := st.Delete(t.Context(), b, "x", store.DeleteOptions{Stamp: store.Stamp{Clock: time.Now().UnixNano()}}); err != nil {
		t.Fatalf("a plain delete of an object whose metadata is corrupt: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the object after a plain delete: %v", err)
	}
}

// A conditional delete refused on one copy of a mirrored object (its
// metadata cannot be read) removes no other copy: the delete failed, and
// the object stays whole.
func TestRefusedConditionalDeleteKeepsEveryCopy(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 3, false)
	meta := storetest.Put(t, st, b, "x", []byte("kept"))
	paths := copyPaths(st, b, "x")
	if len(paths) != 3 {
		t.Fatalf("copies %v", paths)
	}
	if err := unix.Setxattr(paths[2], "user.ais.meta", bytes.Repeat([]byte{0x80}, 3900), 0); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(t.Context(), b, "x", store.DeleteOptions{IfStamp: meta.Stamp}); err == nil {
		t.Fatal("a conditional DELETE over unreadable metadata succeeded")
	}
	if left := copyPaths(st, b, "x"); len(left) != 3 {
		t.Fatalf("a refused delete removed copies: left %v", left)
	}
}

// An overwrite of a mirrored object whose first copy's metadata cannot
// be read takes the version from the other copy: versions do not go
// back to 1.
func TestVersionSurvivesAnUnreadableFirstCopy(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := store.NewBucket("versioned")
	props := store.DefaultProps()
	props.Mirror = store.MirrorProps{Enabled: true, Copies: 2}
	props.Versioning.Enabled = true
	if err := st.CreateBucket(t.Context(), b, props); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		storetest.Put(t, st, b, "x", []byte("data"))
	}
	first := filepath.Join(st.MountpathOf(b, "x"), "ais", b.Name, "x")
	if err := unix.Setxattr(first, "user.ais.meta", bytes.Repeat([]byte{0x80}, 3900), 0); err != nil {
		t.Fatal(err)
	}
	if meta := storetest.Put(t, st, b, "x", []byte("data")); meta.Version != "4" {
		t.Fatalf("the overwrite after version 3 is version %q", meta.Version)
	}
}

// A current copy the disk cannot tell about is not passed over for an
// older one on a returning mountpath: that would serve a version the
// overwrite replaced.
func TestUnreadableCurrentCopyIsNotReplacedByAReturningOne(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "plain", 1, false)
	storetest.Put(t, st, b, "x", []byte("v1"))
	away := st.MountpathOf(b, "x")
	if err := st.DisableMountpath(t.Context(), away, "by hand"); err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, st, b, "x", []byte("v2"))
	var current string
	for _, p := range copyPaths(st, b, "x") {
		if !strings.HasPrefix(p, away+"/") {
			current = p
		}
	}
	if err := st.EnableMountpath(t.Context(), away); err != nil { // returning, not reconciled
		t.Fatal(err)
	}
	if err := os.Rename(current, current+".aside"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(current, current); err != nil { // stat fails with ELOOP
		t.Fatal(err)
	}
	obj, err := st.Open(t.Context(), b, "x", store.OpenOptions{})
	if err == nil {
		data := make([]byte, 8)
		n, _ := obj.Read(data)
		obj.Close()
		t.Fatalf("a GET whose current copy the disk cannot tell about read %q", data[:n])
	}
}

// In a mirrored bucket too (its reads find every copy), an object whose
// copies the disk cannot tell about is not "not found".
func TestMirroredObjectTheDiskCannotTellIsNotMissing(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 2, false)
	storetest.Put(t, st, b, "x", []byte("kept"))
	for _, path := range copyPaths(st, b, "x") {
		if err := os.Rename(path, path+".aside"); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(path, path); err != nil { // stat fails with ELOOP
			t.Fatal(err)
		}
	}
	if _, err := st.Open(t.Context(), b, "x", store.OpenOptions{}); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("a GET the disk cannot answer: %v, want an error, not not-found", err)
	}
}

// Metadata larger than any this store writes is corrupt, read by the
// object's path (HEAD) or by its open file (GET): the mirror's repair and
// erasure coding's rebuild take it as such.
func TestOversizedMetadataIsCorrupt(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "plain", 1, false)
	storetest.Put(t, st, b, "x", []byte("kept"))
	path := copyPaths(st, b, "x")[0]
	if err := unix.Setxattr(path, "user.ais.meta", bytes.Repeat([]byte{0xc1}, 3800), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Head(t.Context(), b, "x"); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("a HEAD of oversized metadata: %v, want corrupt", err)
	}
	if _, err := st.Open(t.Context(), b, "x", store.OpenOptions{}); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("a GET of oversized metadata: %v, want corrupt", err)
	}
}

// A read's access time written into an object's metadata keeps the keys
// this version does not know (a newer one's, after a downgrade).
func TestAccessTimeKeepsUnknownMetadata(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "plain", 1, false)
	storetest.Put(t, st, b, "x", []byte("kept"))
	path := copyPaths(st, b, "x")[0]
	buf := make([]byte, 4096)
	n, err := unix.Getxattr(path, "user.ais.meta", buf)
	if err != nil {
		t.Fatal(err)
	}
	pairs, rest, err := msgp.ReadMapHeaderBytes(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	newer := msgp.AppendMapHeader(nil, pairs+1)
	newer = append(newer, rest...)
	newer = msgp.AppendString(msgp.AppendString(newer, "zz"), "a newer version's")
	if err := unix.Setxattr(path, "user.ais.meta", newer, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a read later than the PUT
	obj, err := st.Open(t.Context(), b, "x", store.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	obj.Close()
	st.FlushAccessTimes()
	n, err = unix.Getxattr(path, "user.ais.meta", buf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf[:n], []byte("a newer version's")) {
		t.Fatal("the access time's write dropped a key this version does not know")
	}
	if bytes.Equal(buf[:n], newer) {
		t.Fatal("the read's access time was not written: the test proves nothing")
	}
}
