package fs_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

func partOf(b store.Bucket, name string, index int, data []byte, stamp int64) store.PartMeta {
	h, _ := store.NewHash(store.ChecksumXXHash)
	h.Write(data)
	return store.PartMeta{
		Bucket: b, Name: name, Index: index, Replica: true, Data: 2, Parity: 1,
		ObjectSize: int64(len(data)), SliceSize: int64(len(data)),
		Checksum: store.ChecksumOf(store.ChecksumXXHash, h), PartChecksum: store.ChecksumOf(store.ChecksumXXHash, h),
		Stamp: store.Stamp{Map: 1, Clock: stamp},
	}
}

func TestParts(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "ec", 1, false)
	ctx := t.Context()
	// Names that are each other's prefixes and directories do not collide.
	for i, name := range []string{"a", "a/b", "a.1", "a/b/c"} {
		data := []byte(strings.Repeat(name, 10))
		if err := st.PutPart(ctx, partOf(b, name, i%3, data, 10), bytes.NewReader(data)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for i, name := range []string{"a", "a/b", "a.1", "a/b/c"} {
		r, meta, err := st.OpenPart(ctx, b, name, i%3)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if string(got) != strings.Repeat(name, 10) || meta.Name != name || meta.Index != i%3 {
			t.Fatalf("%s: %q %+v", name, got, meta)
		}
	}
	// An older part does not replace a newer; a newer does.
	old := []byte("older!")
	if err := st.PutPart(ctx, partOf(b, "a", 0, old, 5), bytes.NewReader(old)); !errors.Is(err, store.ErrExists) {
		t.Fatalf("an older part: %v", err)
	}
	newer := []byte("newer bytes")
	if err := st.PutPart(ctx, partOf(b, "a", 0, newer, 20), bytes.NewReader(newer)); err != nil {
		t.Fatal(err)
	}
	// Bytes that do not match their checksum are refused.
	meta := partOf(b, "a", 1, []byte("good"), 30)
	if err := st.PutPart(ctx, meta, strings.NewReader("evil")); !errors.Is(err, store.ErrBadChecksum) {
		t.Fatalf("a part with a bad checksum: %v", err)
	}
	if err := st.PutPart(ctx, partOf(b, "a", 1, []byte("one"), 30), strings.NewReader("one")); err != nil {
		t.Fatal(err)
	}
	parts, err := st.PartsOf(ctx, b, "a")
	if err != nil || len(parts) != 2 {
		t.Fatalf("parts of a: %+v %v", parts, err)
	}
	walked := 0
	if err := st.WalkParts(ctx, b, func(store.PartMeta) error { walked++; return nil }); err != nil || walked != 5 {
		t.Fatalf("walked %d parts: %v", walked, err)
	}
	// One part goes by its index, and only of its stamp.
	if err := st.DeletePart(ctx, b, "a", 1, store.Stamp{Map: 1, Clock: 29}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a delete of part 1 of another stamp: %v", err)
	}
	if err := st.DeletePart(ctx, b, "a", 1, store.Stamp{Map: 1, Clock: 30}); err != nil {
		t.Fatal(err)
	}
	if parts, _ = st.PartsOf(ctx, b, "a"); len(parts) != 1 || parts[0].Index != 0 {
		t.Fatalf("after deleting part 1: %+v", parts)
	}
	if err := st.PutPart(ctx, partOf(b, "a", 1, []byte("one"), 30), strings.NewReader("one")); err != nil {
		t.Fatal(err)
	}
	// A delete as of stamp 25 keeps the part of stamp 30.
	if err := st.DeleteParts(ctx, b, "a", store.Stamp{Map: 1, Clock: 25}); err != nil {
		t.Fatal(err)
	}
	if parts, _ = st.PartsOf(ctx, b, "a"); len(parts) != 1 || parts[0].Index != 1 {
		t.Fatalf("after a delete as of 25: %+v", parts)
	}
	if err := st.DeleteParts(ctx, b, "a", store.Stamp{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.OpenPart(ctx, b, "a", 1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after deleting all: %v", err)
	}
	// A scrub finds a part gone bad, and with repair removes it.
	var path string
	filepath.WalkDir(filepath.Dir(filepath.Dir(st.Mountpaths()[0])), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, "/.ais/parts/") {
			path = p
		}
		return nil
	})
	if path == "" {
		t.Fatal("no part file on disk")
	}
	flip(t, path)
	report, err := st.Scrub(ctx, b, store.ScrubOptions{Repair: true}, nil)
	if err != nil || report.Parts != 3 || report.BadParts != 1 {
		t.Fatalf("scrub of parts: %+v %v", report, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the bad part stayed")
	}
	// A part whose metadata cannot be read serves no restore: counted
	// bad, and removed with repair; a scrub without repair keeps it.
	if err := st.PutPart(ctx, partOf(b, "c", 0, []byte("meta"), 40), strings.NewReader("meta")); err != nil {
		t.Fatal(err)
	}
	path = ""
	filepath.WalkDir(filepath.Dir(filepath.Dir(st.Mountpaths()[0])), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, "/.ais/parts/") {
			path = p
		}
		return nil
	})
	if err := syscall.Setxattr(path, "user.ais.part", []byte("\xc1 not msgpack"), 0); err != nil {
		t.Fatal(err)
	}
	for _, repair := range []bool{false, true} {
		report, err := st.Scrub(ctx, b, store.ScrubOptions{Repair: repair}, nil)
		if err != nil || report.BadParts != 1 {
			t.Fatalf("scrub (repair %v) of a part with unreadable metadata: %+v %v", repair, report, err)
		}
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) != repair {
			t.Fatalf("the part with unreadable metadata after a scrub with repair %v: %v", repair, err)
		}
	}
}

// Parts, part deletes and the copies a detach makes wait for their
// mountpath's sync: one that fails fails them, and a detach whose copies
// are not durable leaves the objects where they were.
func TestPartsAndMovesAreSynced(t *testing.T) {
	var failing atomic.Bool
	syncs := map[string]int{}
	var mu sync.Mutex
	st, mps := threeMountpaths(t, fs.Config{SyncFS: func(path string) error {
		mu.Lock()
		syncs[path]++
		mu.Unlock()
		if failing.Load() {
			return errors.New("the disk did not take it")
		}
		return nil
	}})
	b := mirrorBucket(t, st, "ec", 1, false)
	ctx := t.Context()
	data := []byte("part bytes")
	meta := partOf(b, "x", 0, data, 10)
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return syncs[st.MountpathOf(b, "x")]
	}
	before := count()
	if err := st.PutPart(ctx, meta, bytes.NewReader(data)); err != nil || count() == before {
		t.Fatalf("a part stored with %d syncs of its mountpath: %v", count()-before, err)
	}
	before = count()
	if err := st.DeleteParts(ctx, b, "x", store.Stamp{}); err != nil || count() == before {
		t.Fatalf("parts deleted with %d syncs of their mountpath: %v", count()-before, err)
	}
	failing.Store(true)
	if err := st.PutPart(ctx, partOf(b, "y", 0, data, 10), bytes.NewReader(data)); err == nil {
		t.Fatal("a part stored on a mountpath whose sync failed")
	}
	failing.Store(false)

	var names []string
	for i := range 30 {
		name := fmt.Sprintf("o%02d", i)
		if st.MountpathOf(b, name) == mps[0] {
			names = append(names, name)
			storetest.Put(t, st, b, name, []byte(name))
		}
	}
	failing.Store(true)
	if err := st.DetachMountpath(ctx, mps[0], nil); err == nil {
		t.Fatal("a detach whose copies could not be synced succeeded")
	}
	for _, name := range names {
		if _, err := os.Stat(filepath.Join(mps[0], "ais", b.Name, name)); err != nil {
			t.Fatalf("%s left the detaching mountpath before its copy was durable: %v", name, err)
		}
	}
}

// readSpy records whether it was read.
type readSpy struct{ read bool }

func (r *readSpy) Read(p []byte) (int, error) { r.read = true; return 0, io.EOF }

// Custom metadata too large to keep fails a PUT before its body is read
// (and, in an erasure-coded bucket, before its parts go out).
func TestTooMuchCustomMetadataFailsFirst(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "m", 1, false)
	var body readSpy
	custom := map[string]string{"big": strings.Repeat("v", 3<<10)}
	if _, err := st.Put(t.Context(), b, "o", &body, store.PutOptions{Size: 0, Custom: custom}); !errors.Is(err, store.ErrInvalidProps) || body.read {
		t.Fatalf("a PUT with 3 KiB of custom metadata: %v (body read: %v)", err, body.read)
	}
	custom["big"] = strings.Repeat("v", 2<<10)
	if _, err := st.Put(t.Context(), b, "o", bytes.NewReader(nil), store.PutOptions{Size: 0, Custom: custom, ETag: true}); err != nil {
		t.Fatalf("a PUT with 2 KiB of custom metadata: %v", err)
	}
}

// A detach moves the parts a mountpath keeps, as it moves objects.
func TestDetachMovesParts(t *testing.T) {
	st, mps := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "ec", 1, false)
	ctx := t.Context()
	var names []string
	for i := 0; len(names) < 5; i++ {
		name := fmt.Sprintf("p%03d", i)
		if st.MountpathOf(b, name) != mps[0] {
			continue
		}
		names = append(names, name)
		data := []byte("part of " + name)
		if err := st.PutPart(ctx, partOf(b, name, 1, data, 10), bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	// A part whose bytes rotted is dropped, not moved (its owner sends
	// it again), and does not hold the detach back.
	bad := partOf(b, "rotten", 1, []byte("good bytes"), 10)
	for i := 0; st.MountpathOf(b, bad.Name) != mps[0]; i++ {
		bad = partOf(b, fmt.Sprintf("rotten%d", i), 1, []byte("good bytes"), 10)
	}
	if err := st.PutPart(ctx, bad, bytes.NewReader([]byte("good bytes"))); err != nil {
		t.Fatal(err)
	}
	var rotten string
	filepath.WalkDir(filepath.Join(mps[0], ".ais", "parts"), func(path string, d os.DirEntry, err error) error {
		if data, _ := os.ReadFile(path); err == nil && !d.IsDir() && string(data) == "good bytes" {
			rotten = path
		}
		return nil
	})
	flip(t, rotten)
	if err := st.DetachMountpath(ctx, mps[0], nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.OpenPart(ctx, b, bad.Name, 1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the rotten part after the detach: %v", err)
	}
	for _, name := range names {
		r, meta, err := st.OpenPart(ctx, b, name, 1)
		if err != nil {
			t.Fatalf("part of %s after the detach: %v", name, err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if string(got) != "part of "+name || meta.Stamp.Clock != 10 {
			t.Fatalf("part of %s after the detach: %q %+v", name, got, meta)
		}
	}
	left := 0
	filepath.WalkDir(filepath.Join(mps[0], ".ais", "parts"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left++
		}
		return nil
	})
	if left != 0 {
		t.Fatalf("%d parts left on the detached mountpath", left)
	}
}

// A delete of one write's parts takes those of its stamp only; with a
// mountpath disabled since the write, which may hold one, it fails to be
// tried again.
func TestDeleteWriteParts(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "ec", 1, false)
	ctx := t.Context()
	now := time.Now().UnixNano()
	data := []byte("a part")
	older, failed := partOf(b, "x", 0, data, now-1), partOf(b, "x", 1, data, now)
	for _, meta := range []store.PartMeta{older, failed} {
		if err := st.PutPart(ctx, meta, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.DeleteWriteParts(ctx, b, "x", failed.Stamp); err != nil {
		t.Fatal(err)
	}
	if parts, _ := st.PartsOf(ctx, b, "x"); len(parts) != 1 || parts[0].Stamp != older.Stamp {
		t.Fatalf("after a delete of the newer write's parts: %+v, want the older part alone", parts)
	}
	if err := st.DeleteWriteParts(ctx, b, "x", store.Stamp{}); !errors.Is(err, store.ErrInvalidPart) {
		t.Fatalf("a delete of one write's parts without a stamp: %v", err)
	}
	// Another write's part, its mountpath disabled after it was stored.
	again := partOf(b, "y", 0, data, time.Now().UnixNano())
	if err := st.PutPart(ctx, again, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	away := st.MountpathOf(b, "y")
	elsewhere := ""
	for i := 0; elsewhere == ""; i++ {
		if name := fmt.Sprintf("z%d", i); st.MountpathOf(b, name) != away {
			elsewhere = name
		}
	}
	if err := st.DisableMountpath(ctx, away, "by hand"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteWriteParts(ctx, b, "y", again.Stamp); !errors.Is(err, store.ErrIO) {
		t.Fatalf("a delete of one write's parts placed on a mountpath disabled since: %v, want ErrIO to try again", err)
	}
	// A name the disabled mountpath never held: done.
	if err := st.DeleteWriteParts(ctx, b, elsewhere, again.Stamp); err != nil {
		t.Fatalf("a delete of one write's parts of a name placed elsewhere: %v", err)
	}
}

// A part replaced while its mountpath was away: the newer one is read,
// before and after the mountpath is back in place.
func TestNewestPartAfterAMountpathReturns(t *testing.T) {
	st, mps := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "ec", 1, false)
	ctx := t.Context()
	older, newer := []byte("older part"), []byte("newer part")
	if err := st.PutPart(ctx, partOf(b, "x", 0, older, 10), bytes.NewReader(older)); err != nil {
		t.Fatal(err)
	}
	away := st.MountpathOf(b, "x")
	if err := st.DisableMountpath(ctx, away, "by hand"); err != nil {
		t.Fatal(err)
	}
	if err := st.PutPart(ctx, partOf(b, "x", 0, newer, 20), bytes.NewReader(newer)); err != nil {
		t.Fatal(err)
	}
	if err := st.EnableMountpath(ctx, away); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		r, meta, err := st.OpenPart(ctx, b, "x", 0)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		parts, _ := st.PartsOf(ctx, b, "x")
		if string(got) != string(newer) || meta.Stamp.Clock != 20 || len(parts) != 1 || parts[0].Stamp.Clock != 20 {
			t.Fatalf("%s: read %q (stamp %v), listed %+v", when, got, meta.Stamp, parts)
		}
	}
	check("returning")
	// A scrub meanwhile checks each part against its own metadata: the
	// newer one is good, and stays.
	if _, err := st.Scrub(ctx, b, store.ScrubOptions{Repair: true}, nil); err != nil {
		t.Fatal(err)
	}
	check("after a scrub")
	if err := st.Resilver(ctx, nil); err != nil {
		t.Fatal(err)
	}
	check("after the resilver")
	files := 0
	for _, mp := range mps {
		filepath.WalkDir(filepath.Join(mp, ".ais", "parts"), func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files++
			}
			return nil
		})
	}
	if files != 1 {
		t.Fatalf("%d part files after the resilver: the older one stays", files)
	}
}

// A part whose mountpath is disabled while it streams in is refused
// rather than left on a disk that is not read.
func TestPartOntoAMountpathDisabledMeanwhileFails(t *testing.T) {
	st, mps := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "ec", 1, false)
	ctx := t.Context()
	data := []byte("a part")
	if err := st.PutPart(ctx, partOf(b, "p", 0, data, 10), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	where := ""
	for _, mp := range mps {
		if found, _ := filepath.Glob(filepath.Join(mp, ".ais", "parts", "ais", b.Name, "*", "*", "*")); len(found) > 0 {
			where = mp
		}
	}
	if where == "" {
		t.Fatal("the part is on no mountpath")
	}
	body := &disablingReader{Reader: bytes.NewReader(data), disable: func() {
		if err := st.DisableMountpath(ctx, where, "a test"); err != nil {
			t.Error(err)
		}
	}}
	if err := st.PutPart(ctx, partOf(b, "p", 0, data, 20), body); !errors.Is(err, store.ErrIO) {
		t.Fatalf("a part onto a mountpath disabled meanwhile: %v", err)
	}
}

// A part stored while its bucket is destroyed and made again (a destroy
// takes no parts lock) fails, and the bucket made again holds no part.
func TestPartIntoABucketDestroyedMeanwhileFails(t *testing.T) {
	st, mps := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "ec", 1, false)
	ctx := t.Context()
	data := []byte("a part")
	body := &disablingReader{Reader: bytes.NewReader(data), disable: func() {
		if err := st.DestroyBucket(ctx, b); err != nil {
			t.Error(err)
		}
		time.Sleep(2 * time.Millisecond) // another creation time
		if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
			t.Error(err)
		}
	}}
	if err := st.PutPart(ctx, partOf(b, "p", 0, data, 10), body); !errors.Is(err, store.ErrBucketNotFound) {
		t.Fatalf("a part into a bucket destroyed meanwhile: %v", err)
	}
	for _, mp := range mps {
		if found, _ := filepath.Glob(filepath.Join(mp, ".ais", "parts", "ais", b.Name, "*", "*", "*")); len(found) > 0 {
			t.Fatalf("the bucket made again holds the part: %v", found)
		}
	}
}

// Parts deleted while a mountpath holding one of them is away stay
// deleted when it returns: the delete leaves a tombstone the return
// removes the part by (else it would restore what was deleted).
func TestPartsDeletedWhileAMountpathIsAwayStayDeleted(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "ec", 1, false)
	ctx := t.Context()
	data := []byte("a replica part")
	now := time.Now().UnixNano() // (a stamp older than the bucket is hidden anyway)
	if err := st.PutPart(ctx, partOf(b, "x", 0, data, now), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	away := st.MountpathOf(b, "x")
	if err := st.DisableMountpath(ctx, away, "by hand"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteParts(ctx, b, "x", store.Stamp{Map: 1, Clock: now + 1}); err != nil {
		t.Fatal(err)
	}
	if err := st.EnableMountpath(ctx, away); err != nil {
		t.Fatal(err)
	}
	// Returning, not reconciled yet (no Resilver): the part is not read
	// (it would restore what was deleted).
	if parts, err := st.PartsOf(ctx, b, "x"); err != nil || len(parts) != 0 {
		t.Fatalf("parts of a deleted object while its mountpath returns: %+v, %v", parts, err)
	}
	if _, _, err := st.OpenPart(ctx, b, "x", 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("open the deleted part: %v, want not found", err)
	}
	walked := 0
	if err := st.WalkParts(ctx, b, func(store.PartMeta) error { walked++; return nil }); err != nil || walked != 0 {
		t.Fatalf("walked %d parts, %v", walked, err)
	}
	if err := st.Resilver(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if parts, err := st.PartsOf(ctx, b, "x"); err != nil || len(parts) != 0 {
		t.Fatalf("after the mountpath's return: parts %+v, %v", parts, err)
	}
	if _, _, err := st.OpenPart(ctx, b, "x", 0); err == nil {
		t.Fatal("the deleted part is read again")
	}
}

// partFile is the path of the one part file a store holds.
func partFile(t *testing.T, st *fs.Store) string {
	t.Helper()
	var path string
	for _, m := range st.Mountpaths() {
		filepath.WalkDir(m, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.Contains(p, "/.ais/parts/") {
				path = p
			}
			return nil
		})
	}
	if path == "" {
		t.Fatal("no part file on disk")
	}
	return path
}

// A scrub's repair removes the part it found bad, not a good one a PUT
// stored in its place meanwhile: after the scrub found it bad, or between
// its look at the part's metadata and its check of the bytes (the check
// is of the file it looked at).
func TestScrubKeepsAPartStoredMeanwhile(t *testing.T) {
	for _, when := range []struct {
		name string
		hook func(func(path string)) func()
	}{{"since its check", fs.OnPartFoundBad}, {"during its check", fs.OnPartMatched}} {
		t.Run(when.name, func(t *testing.T) {
			st, _ := threeMountpaths(t, fs.Config{})
			b := mirrorBucket(t, st, "ec", 1, false)
			ctx := t.Context()
			old := []byte("the old version's part")
			if err := st.PutPart(ctx, partOf(b, "o", 0, old, 10), bytes.NewReader(old)); err != nil {
				t.Fatal(err)
			}
			flip(t, partFile(t, st))
			good := []byte("the new version's part")
			defer when.hook(func(string) {
				if err := st.PutPart(ctx, partOf(b, "o", 0, good, 20), bytes.NewReader(good)); err != nil {
					t.Error(err)
				}
			})()
			if report, err := st.Scrub(ctx, b, store.ScrubOptions{Repair: true}, nil); err != nil || report.BadParts != 1 {
				t.Fatalf("scrub: %+v %v", report, err)
			}
			r, meta, err := st.OpenPart(ctx, b, "o", 0)
			if err != nil {
				t.Fatalf("the part stored during the scrub: %v", err)
			}
			defer r.Close()
			if got, _ := io.ReadAll(r); !bytes.Equal(got, good) || meta.Stamp.Clock != 20 {
				t.Fatalf("the part after the scrub: %q %+v", got, meta)
			}
		})
	}
}

// Parts deleted while a mountpath is away leave a parts tombstone, not
// an object's: the object of the name may be newer than the parts (a
// failed overwrite's parts go), and must neither read as deleted nor
// refuse a copy older than the parts.
func TestPartsTombstoneIsNotAnObjectDelete(t *testing.T) {
	st, paths := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "ec", 1, false)
	ctx := t.Context()
	now := time.Now().UnixNano()
	data := []byte("the acknowledged object")
	if _, err := st.Put(ctx, b, "x", bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), Stamp: store.Stamp{Map: 1, Clock: now}}); err != nil {
		t.Fatal(err)
	}
	var away string
	for _, p := range paths {
		if p != st.MountpathOf(b, "x") {
			away = p
		}
	}
	if err := st.DisableMountpath(ctx, away, "by hand"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteParts(ctx, b, "x", store.Stamp{Map: 1, Clock: now + 10}); err != nil {
		t.Fatal(err)
	}
	if tomb, found := st.Tombstone(b, "x"); found {
		t.Fatalf("a parts delete left an object tombstone %+v", tomb)
	}
	tombs, err := st.Tombstones(ctx, b)
	if err != nil || len(tombs) != 1 || !tombs[0].Parts {
		t.Fatalf("tombstones %+v, %v: want one parts tombstone", tombs, err)
	}
	moved := []byte("a copy between the two")
	if _, err := st.Put(ctx, b, "x", bytes.NewReader(moved), store.PutOptions{Size: int64(len(moved)), Stamp: store.Stamp{Map: 1, Clock: now + 5}, IfNewer: true}); err != nil {
		t.Fatalf("a copy older than the parts delete, newer than the object: %v", err)
	}
	// It still hides an older part on the returning mountpath, and goes
	// with the collection of the name's tombstones.
	if err := st.DropTombstone(ctx, b, "x", store.Stamp{Map: 1, Clock: now + 10}); err != nil {
		t.Fatal(err)
	}
	if err := st.EnableMountpath(ctx, away); err != nil {
		t.Fatal(err)
	}
	if err := st.Resilver(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.DropTombstone(ctx, b, "x", store.Stamp{Map: 1, Clock: now + 10}); err != nil {
		t.Fatal(err)
	}
	if tombs, _ := st.Tombstones(ctx, b); len(tombs) != 0 {
		t.Fatalf("tombstones left: %+v", tombs)
	}
}

// A reconcile of a mountpath already enabled (a second one, a detach's,
// walking it after a resilver's enabled it) takes none of its parts for
// a copy elsewhere: it compared each with itself, and removed them all.
func TestReconcileOfAnEnabledMountpathKeepsItsParts(t *testing.T) {
	st, _ := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "ec", 1, false)
	ctx := t.Context()
	data := []byte("the only part")
	if err := st.PutPart(ctx, partOf(b, "x", 0, data, time.Now().UnixNano()), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	away := st.MountpathOf(b, "x")
	if err := st.DisableMountpath(ctx, away, "by hand"); err != nil {
		t.Fatal(err)
	}
	if err := st.EnableMountpath(ctx, away); err != nil {
		t.Fatal(err)
	}
	if err := st.Resilver(ctx, nil); err != nil {
		t.Fatal(err)
	}
	read := func(when string) {
		t.Helper()
		r, _, err := st.OpenPart(ctx, b, "x", 0)
		if err != nil {
			t.Fatalf("the only part %s: %v", when, err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if string(got) != string(data) {
			t.Fatalf("%s: read %q", when, got)
		}
	}
	read("after the resilver")
	if err := st.ReconcileAgain(ctx, away); err != nil {
		t.Fatal(err)
	}
	read("after a second reconcile")
}

// A mountpath whose parts directory fails to read (not absent) fails a
// listing, a delete and an open of an object's parts: none is taken for
// "no parts there" (a delete taken as done would leave parts to restore
// the object once the disk answers).
func TestPartsOnADirectoryThatFailsAreNotAbsent(t *testing.T) {
	st, mps := threeMountpaths(t, fs.Config{NoSync: true})
	b := mirrorBucket(t, st, "ec", 1, false)
	ctx := t.Context()
	data := []byte("part")
	if err := st.PutPart(ctx, partOf(b, "p", 0, data, 10), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	var rel string // the part's directory under its mountpath
	for _, mp := range mps {
		filepath.WalkDir(filepath.Join(mp, ".ais", "parts"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ = filepath.Rel(mp, filepath.Dir(p))
			}
			return nil
		})
		if rel != "" {
			break
		}
	}
	if rel == "" {
		t.Fatal("the part is nowhere")
	}
	var broken string
	for _, mp := range mps {
		if dir := filepath.Join(mp, rel); !exists(dir) {
			broken = dir
			break
		}
	}
	if err := os.MkdirAll(filepath.Dir(broken), 0o755); err != nil {
		t.Fatal(err)
	}
	// A link to itself: reading it fails (ELOOP).
	if err := os.Symlink(filepath.Base(broken), broken); err != nil {
		t.Fatal(err)
	}
	if parts, err := st.PartsOf(ctx, b, "p"); err == nil {
		t.Fatalf("parts of p with a directory failing: %+v, want the failure", parts)
	}
	if _, _, err := st.OpenPart(ctx, b, "p", 2); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a part found on no mountpath, one failing: %v, want the failure", err)
	}
	if err := st.DeleteParts(ctx, b, "p", store.Stamp{}); err == nil {
		t.Fatal("a delete of parts with a directory failing is done, want the failure")
	}
	if err := os.Remove(broken); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteParts(ctx, b, "p", store.Stamp{}); err != nil {
		t.Fatal(err)
	}
	if parts, err := st.PartsOf(ctx, b, "p"); err != nil || len(parts) != 0 {
		t.Fatalf("parts of p after the delete: %+v %v", parts, err)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// A part whose metadata the disk fails to read (not bad metadata: here a
// loop of links, ELOOP) is left where it is, and the detach fails, to be
// tried again: it is not dropped as a rotten one.
func TestDetachLeavesAPartItCouldNotRead(t *testing.T) {
	st, mps := threeMountpaths(t, fs.Config{})
	b := mirrorBucket(t, st, "ec", 1, false)
	ctx := t.Context()
	dir := filepath.Join(mps[0], ".ais", "parts", "ais", b.Name, "zz")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	unreadable := filepath.Join(dir, "loop.1")
	if err := os.Symlink(unreadable, unreadable); err != nil {
		t.Fatal(err)
	}
	if err := st.DetachMountpath(ctx, mps[0], nil); err == nil {
		t.Fatal("a detach that left a part it could not read succeeded")
	}
	if _, err := os.Lstat(unreadable); err != nil {
		t.Fatalf("the part whose metadata could not be read was dropped: %v", err)
	}
}

// A part whose metadata the disk cannot read (EIO) is not "no part": an
// open of it, the parts of its object and a delete of it fail (a rebuild
// would go by fewer parts, and an undo take the part for gone). One
// without metadata is no part.
func TestPartWithUnreadableMetadataIsNotMissing(t *testing.T) {
	st := open(t, t.TempDir())
	defer st.Close()
	ctx := t.Context()
	b := mirrorBucket(t, st, "ec", 1, false)
	data := []byte("a part of an object")
	meta := partOf(b, "o", 0, data, 10)
	if err := st.PutPart(ctx, meta, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	fault := syscall.EIO
	restore := fs.OnGetxattr(func(path, attr string, dest []byte) (int, error) {
		if attr == "user.ais.part" {
			return 0, fault
		}
		return syscall.Getxattr(path, attr, dest)
	})
	defer func() { restore() }()
	if _, _, err := st.OpenPart(ctx, b, "o", 0); !errors.Is(err, store.ErrIO) {
		t.Fatalf("open of a part whose metadata cannot be read: %v, want an I/O error", err)
	}
	if parts, err := st.PartsOf(ctx, b, "o"); !errors.Is(err, store.ErrIO) {
		t.Fatalf("parts of an object, one unreadable: %+v %v, want an I/O error", parts, err)
	}
	if err := st.DeletePart(ctx, b, "o", 0, meta.Stamp); !errors.Is(err, store.ErrIO) {
		t.Fatalf("delete of a part whose metadata cannot be read: %v, want an I/O error", err)
	}
	fault = syscall.ENODATA
	if _, _, err := st.OpenPart(ctx, b, "o", 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("open of a part without metadata: %v, want not found", err)
	}
	if parts, err := st.PartsOf(ctx, b, "o"); err != nil || len(parts) != 0 {
		t.Fatalf("parts of an object whose part has no metadata: %+v %v", parts, err)
	}
	restore()
	if err := st.DeletePart(ctx, b, "o", 0, meta.Stamp); err != nil {
		t.Fatalf("delete of the part, the disk well: %v", err)
	}
}

// A bucket name that would climb out of the parts' directories is refused
// by every call that makes a path of it, before any file is touched.
func TestPartCallsRefuseABucketNameThatIsAPath(t *testing.T) {
	st := open(t, t.TempDir())
	defer st.Close()
	ctx := t.Context()
	victim := mirrorBucket(t, st, "victim", 1, false)
	storetest.Put(t, st, victim, "o", []byte("kept"))
	bad := store.Bucket{Provider: store.ProviderAIS, Name: "../../../ais/victim"}
	stamp := store.Stamp{Map: 1, Clock: 1}
	if _, _, err := st.OpenPart(ctx, bad, "o", 0); !errors.Is(err, store.ErrInvalidName) {
		t.Errorf("OpenPart: %v", err)
	}
	if _, err := st.PartsOf(ctx, bad, "o"); !errors.Is(err, store.ErrInvalidName) {
		t.Errorf("PartsOf: %v", err)
	}
	if err := st.DeleteParts(ctx, bad, "o", stamp); !errors.Is(err, store.ErrInvalidName) {
		t.Errorf("DeleteParts: %v", err)
	}
	if err := st.DeleteWriteParts(ctx, bad, "o", stamp); !errors.Is(err, store.ErrInvalidName) {
		t.Errorf("DeleteWriteParts: %v", err)
	}
	if err := st.DeletePart(ctx, bad, "o", 0, stamp); !errors.Is(err, store.ErrInvalidName) {
		t.Errorf("DeletePart: %v", err)
	}
	if err := st.WalkParts(ctx, bad, func(store.PartMeta) error { return nil }); !errors.Is(err, store.ErrInvalidName) {
		t.Errorf("WalkParts: %v", err)
	}
	if _, ok := st.Tombstone(bad, "o"); ok {
		t.Error("Tombstone of a bucket name that is a path")
	}
	if got := readString(t, st, victim, "o"); got != "kept" {
		t.Fatalf("the other bucket's object reads %q", got)
	}
}

// Parts a store before kept one directory level up (a 256th of a
// bucket's parts in each, all listed at each lookup) are moved where
// this version looks at the next start, once.
func TestPartsOfTheOlderLayoutAreMoved(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	cfg := fs.Config{Mountpaths: []string{filepath.Join(root, "mp1"), filepath.Join(root, "mp2")}}
	st, err := fs.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := mirrorBucket(t, st, "ec", 1, false)
	var names []string
	for i := range 20 {
		name := fmt.Sprintf("obj-%d", i)
		data := []byte(name)
		if err := st.PutPart(ctx, partOf(b, name, i%3, data, 10), bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	st.Close()
	// As the older layout had them: XX/<key>.<index>.
	moved := 0
	for _, mp := range cfg.Mountpaths {
		found, _ := filepath.Glob(filepath.Join(mp, ".ais", "parts", "ais", b.Name, "*", "*", "*"))
		for _, path := range found {
			if err := os.Rename(path, filepath.Join(filepath.Dir(filepath.Dir(path)), filepath.Base(path))); err != nil {
				t.Fatal(err)
			}
			os.Remove(filepath.Dir(path))
			moved++
		}
		os.Remove(filepath.Join(mp, ".ais", "parts-layout"))
	}
	if moved != len(names) {
		t.Fatalf("%d part files, want %d", moved, len(names))
	}
	again, err := fs.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	for i, name := range names {
		metas, err := again.PartsOf(ctx, b, name)
		if err != nil || len(metas) != 1 || metas[0].Index != i%3 {
			t.Fatalf("parts of %s after the move: %+v %v", name, metas, err)
		}
	}
	for _, mp := range cfg.Mountpaths {
		if flat, _ := filepath.Glob(filepath.Join(mp, ".ais", "parts", "ais", b.Name, "*", "*.*")); len(flat) > 0 {
			t.Fatalf("parts left in the older layout: %v", flat)
		}
		if _, err := os.Stat(filepath.Join(mp, ".ais", "parts-layout")); err != nil {
			t.Fatalf("no mark of the layout: %v", err)
		}
	}
	if err := again.DeleteParts(ctx, b, names[0], store.Stamp{}); err != nil {
		t.Fatal(err)
	}
	if metas, _ := again.PartsOf(ctx, b, names[0]); len(metas) != 0 {
		t.Fatalf("a moved part not deleted: %+v", metas)
	}
}
