package dryrun_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/dryrun"
	"github.com/aisgo/aisgo/store/fs"
	"github.com/aisgo/aisgo/store/storetest"
)

// newStore returns a dry-run store over a filesystem store with one
// bucket, and the filesystem's mountpath.
func newStore(t *testing.T) (*dryrun.Store, *fs.Store, store.Bucket) {
	t.Helper()
	inner, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	st := dryrun.Wrap(inner)
	b := store.NewBucket("b")
	if err := st.CreateBucket(t.Context(), b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	return st, inner, b
}

// want returns the bytes a dry-run object of size n serves.
func want(off, n int64) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = byte((off + int64(i)) % 251)
	}
	return out
}

// onlyReader hides a reader's WriterTo and Seeker.
type onlyReader struct{ io.Reader }

func TestPutDiscardsAndGetServesSize(t *testing.T) {
	st, inner, b := newStore(t)
	ctx := t.Context()
	const size = 3<<20 + 17 // beyond the pattern, not a multiple of it
	body := bytes.Repeat([]byte{0xAB}, size)
	meta, err := st.Put(ctx, b, "dir/a.bin", onlyReader{bytes.NewReader(body)}, store.PutOptions{Size: size})
	if err != nil {
		t.Fatal(err)
	}
	if meta.Size != size || meta.Version != "1" {
		t.Errorf("put meta %+v", meta)
	}

	// Nothing reached the wrapped store or the disk.
	if _, err := inner.Head(ctx, b, "dir/a.bin"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("inner head: %v, want ErrNotFound", err)
	}
	filepath.WalkDir(inner.Mountpaths()[0], func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.Contains(path, ".ais") {
			t.Errorf("file %s on the mountpath", path)
		}
		return nil
	})

	head, err := st.Head(ctx, b, "dir/a.bin")
	if err != nil || head.Size != size {
		t.Fatalf("head %+v, %v", head, err)
	}

	obj, err := st.Open(ctx, b, "dir/a.bin", store.OpenOptions{Validate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	if obj.Meta().Size != size {
		t.Errorf("open meta %+v", obj.Meta())
	}
	got, err := io.ReadAll(onlyReader{obj})
	if err != nil || !bytes.Equal(got, want(0, size)) {
		t.Fatalf("read %d bytes (%v), want the %d-byte pattern", len(got), err, size)
	}

	// Ranges: ReadAt, Seek then WriteTo.
	part := make([]byte, 1000)
	if n, err := obj.ReadAt(part, size-500); n != 500 || err != io.EOF || !bytes.Equal(part[:n], want(size-500, 500)) {
		t.Errorf("ReadAt at the end: %d, %v", n, err)
	}
	if _, err := obj.Seek(1<<20+5, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var rest bytes.Buffer
	if n, err := obj.WriteTo(&rest); err != nil || n != size-(1<<20+5) || !bytes.Equal(rest.Bytes(), want(1<<20+5, n)) {
		t.Errorf("WriteTo after Seek: %d, %v", n, err)
	}

	// A second Put of the name is a new version.
	meta, err = st.Put(ctx, b, "dir/a.bin", strings.NewReader("xyz"), store.PutOptions{Size: -1})
	if err != nil || meta.Size != 3 || meta.Version != "2" {
		t.Errorf("second put %+v, %v", meta, err)
	}
	if data, err := readAll(t, st, b, "dir/a.bin"); err != nil || !bytes.Equal(data, want(0, 3)) {
		t.Errorf("after second put: %q, %v", data, err)
	}
}

func readAll(t *testing.T, st store.Store, b store.Bucket, name string) ([]byte, error) {
	obj, err := st.Open(t.Context(), b, name, store.OpenOptions{})
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	return io.ReadAll(obj)
}

func TestErrors(t *testing.T) {
	st, _, b := newStore(t)
	ctx := t.Context()
	if _, err := st.Put(ctx, b, "short", strings.NewReader("abc"), store.PutOptions{Size: 4}); !errors.Is(err, store.ErrSizeMismatch) {
		t.Errorf("short body: %v, want ErrSizeMismatch", err)
	}
	if _, err := st.Head(ctx, b, "short"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a failed put is visible: %v", err)
	}
	missing := store.NewBucket("missing")
	if _, err := st.Put(ctx, missing, "x", strings.NewReader("abc"), store.PutOptions{Size: 3}); !errors.Is(err, store.ErrBucketNotFound) {
		t.Errorf("put to a missing bucket: %v", err)
	}
	if _, err := st.Open(ctx, b, "nothing", store.OpenOptions{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("open of a missing object: %v", err)
	}
	if _, err := st.Put(ctx, b, "../x", strings.NewReader(""), store.PutOptions{Size: 0}); !errors.Is(err, store.ErrInvalidName) {
		t.Errorf("bad name: %v", err)
	}
	if err := st.Delete(ctx, b, "nothing", store.DeleteOptions{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete of a missing object: %v", err)
	}
}

// TestStamps: a copy older than the object or its tombstone is refused
// and changes nothing; a newer one keeps its stamp and version (as
// rebalance moves objects).
func TestStamps(t *testing.T) {
	st, _, b := newStore(t)
	ctx := t.Context()
	if _, err := st.Put(ctx, b, "o", strings.NewReader("first"), store.PutOptions{Size: 5, Stamp: store.Stamp{Map: 2}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, b, "o", strings.NewReader("second"), store.PutOptions{Size: -1, IfNewer: true, Stamp: store.Stamp{Map: 1}}); !errors.Is(err, store.ErrExists) {
		t.Errorf("an older copy over an object: %v, want ErrExists", err)
	}
	if head, err := st.Head(ctx, b, "o"); err != nil || head.Size != 5 || head.Version != "1" {
		t.Errorf("after a refused copy: %+v, %v", head, err)
	}
	meta, err := st.Put(ctx, b, "moved", strings.NewReader("x"), store.PutOptions{Size: 1, IfNewer: true, Version: "7", Stamp: store.Stamp{Map: 3}})
	if err != nil || meta.Version != "7" || meta.Stamp.Map != 3 {
		t.Errorf("put keeping version 7: %+v, %v", meta, err)
	}
	st.Delete(ctx, b, "moved", store.DeleteOptions{Stamp: store.Stamp{Map: 4}, Tombstone: true})
	if _, err := st.Put(ctx, b, "moved", strings.NewReader("x"), store.PutOptions{Size: 1, IfNewer: true, Stamp: store.Stamp{Map: 3, Clock: 1}}); !errors.Is(err, store.ErrExists) {
		t.Errorf("a copy older than the tombstone: %v", err)
	}
	if tombs, _ := st.Tombstones(ctx, b); len(tombs) != 1 {
		t.Errorf("tombstones %+v", tombs)
	}
}

func TestListDeleteDestroy(t *testing.T) {
	st, _, b := newStore(t)
	ctx := t.Context()
	for _, name := range []string{"c", "a/2", "a/1", "b"} {
		if _, err := st.Put(ctx, b, name, strings.NewReader(name), store.PutOptions{Size: int64(len(name))}); err != nil {
			t.Fatal(err)
		}
	}
	names := func(opts store.ListOptions) string {
		list, err := st.List(ctx, b, opts)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range list {
			out = append(out, m.Name)
		}
		return strings.Join(out, ",")
	}
	if got := names(store.ListOptions{}); got != "a/1,a/2,b,c" {
		t.Errorf("list %s", got)
	}
	if got := names(store.ListOptions{Prefix: "a/", StartAfter: "a/1"}); got != "a/2" {
		t.Errorf("list with prefix and start %s", got)
	}
	if got := names(store.ListOptions{Limit: 2}); got != "a/1,a/2" {
		t.Errorf("list with limit %s", got)
	}
	if err := st.Delete(ctx, b, "b", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := names(store.ListOptions{}); got != "a/1,a/2,c" {
		t.Errorf("list after delete %s", got)
	}
	if err := st.DestroyBucket(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	if got := names(store.ListOptions{}); got != "" {
		t.Errorf("a recreated bucket lists %s", got)
	}
}

// TestConformance runs the suite over a filesystem store; reads serve the
// pattern and nothing is checksummed, as the package documents.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Options{
		New: func(t *testing.T) store.Store {
			inner, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{t.TempDir()}})
			if err != nil {
				t.Fatal(err)
			}
			return dryrun.Wrap(inner)
		},
		DiscardsData: true,
		NoChecksums:  true,
	})
}

// Parts are stored beneath a dry-run store, so their deletes of one
// stamp pass to it: erasure coding undoes a failed write's parts alone.
func TestPartDeletesPassThrough(t *testing.T) {
	st, inner, b := newStore(t)
	ctx := t.Context()
	data := []byte("a part")
	h, _ := store.NewHash(store.ChecksumXXHash)
	h.Write(data)
	sum := store.ChecksumOf(store.ChecksumXXHash, h)
	part := func(index int, clock int64) store.PartMeta {
		return store.PartMeta{Bucket: b, Name: "o", Index: index, Data: 2, Parity: 1, ObjectSize: 2 * int64(len(data)), SliceSize: int64(len(data)),
			Checksum: sum, PartChecksum: sum, Stamp: store.Stamp{Map: 1, Clock: clock}}
	}
	for _, meta := range []store.PartMeta{part(0, 10), part(1, 20), part(2, 30)} {
		if err := st.PutPart(ctx, meta, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	var deleter store.PartDeleter = st
	if err := deleter.DeleteWriteParts(ctx, b, "o", store.Stamp{Map: 1, Clock: 20}); err != nil {
		t.Fatal(err)
	}
	if err := deleter.DeletePart(ctx, b, "o", 2, store.Stamp{Map: 1, Clock: 30}); err != nil {
		t.Fatal(err)
	}
	if parts, _ := inner.PartsOf(ctx, b, "o"); len(parts) != 1 || parts[0].Index != 0 {
		t.Fatalf("parts left: %+v, want the first alone", parts)
	}
}

// A write's Precommit runs under the name's lock only: an erasure-coded
// bucket's asks the store it wraps (a Head), which deadlocked every
// request of a dry-run target. A delete's Precommit and IfReadBefore
// refuse it as the real store's do (a rebalance keeps the copy it sent
// when the placement changed back; an eviction keeps one written since
// it was listed: reads are not kept here).
func TestPrecommitsAndReadConditions(t *testing.T) {
	st, _, b := newStore(t)
	ctx := t.Context()
	released := false
	_, err := st.Put(ctx, b, "o", strings.NewReader("data"), store.PutOptions{Size: 4, Precommit: func() (func(), store.Stamp, error) {
		_, err := st.Head(ctx, b, "o") // as ec.Store's does
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a Head from a Precommit: %v, want ErrNotFound", err)
		}
		return func() { released = true }, store.Stamp{}, nil
	}})
	if err != nil || !released {
		t.Fatalf("a put with a Precommit asking the store: %v (released %v)", err, released)
	}
	refused := errors.New("the placement changed")
	err = st.Delete(ctx, b, "o", store.DeleteOptions{Precommit: func() (func(), error) {
		if _, err := st.Head(ctx, b, "o"); err != nil {
			t.Errorf("a Head from a delete's Precommit: %v", err)
		}
		return nil, refused
	}})
	if !errors.Is(err, refused) {
		t.Fatalf("a delete its Precommit refused: %v", err)
	}
	if _, err := st.Head(ctx, b, "o"); err != nil {
		t.Fatalf("the object a refused delete kept: %v", err)
	}
	if err := st.Delete(ctx, b, "o", store.DeleteOptions{IfReadBefore: time.Now().Add(-time.Hour)}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("a delete of an object read since: %v, want ErrExists", err)
	}
	if err := st.Delete(ctx, b, "o", store.DeleteOptions{IfReadBefore: time.Now().Add(time.Second)}); err != nil {
		t.Fatalf("a delete of an object not read since: %v", err)
	}
}

// A put whose bucket is destroyed and made again while its body comes
// is refused: the new bucket takes no object of the one before.
func TestPutIntoABucketMadeAgainMeanwhile(t *testing.T) {
	st, _, b := newStore(t)
	ctx := t.Context()
	body := &hookReader{Reader: strings.NewReader("old"), before: func() {
		if err := st.DestroyBucket(ctx, b); err != nil {
			t.Error(err)
		}
		props := store.DefaultProps()
		if err := st.CreateBucket(ctx, b, props); err != nil {
			t.Error(err)
		}
	}}
	if _, err := st.Put(ctx, b, "o", body, store.PutOptions{Size: 3}); !errors.Is(err, store.ErrBucketNotFound) {
		t.Fatalf("a put across its bucket's destroy and create: %v, want ErrBucketNotFound", err)
	}
	if _, err := st.Head(ctx, b, "o"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the new bucket holds the old one's object: %v", err)
	}
}

// hookReader runs before once, at its first read.
type hookReader struct {
	io.Reader
	before func()
}

func (h *hookReader) Read(p []byte) (int, error) {
	if h.before != nil {
		h.before()
		h.before = nil
	}
	return h.Reader.Read(p)
}
