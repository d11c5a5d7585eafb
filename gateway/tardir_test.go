package gateway

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/store"
)

// memObject is a store.Object over bytes.
type memObject struct {
	*bytes.Reader
	meta store.ObjectMeta
}

func (o memObject) Close() error                       { return nil }
func (o memObject) Meta() store.ObjectMeta             { return o.meta }
func (o memObject) WriteTo(w io.Writer) (int64, error) { return o.Reader.WriteTo(w) }

func tarShard(t *testing.T, clock int64, files ...string) memObject {
	t.Helper()
	f, _ := formats.Default().ByExtension(".tar")
	var buf bytes.Buffer
	w, _ := f.NewWriter(&buf)
	for i, name := range files {
		body := fmt.Sprintf("%s of version %d, %d", name, clock, i)
		w.WriteHeader(&formats.Entry{Name: name, Size: int64(len(body))})
		io.WriteString(w, body)
	}
	w.Close()
	return memObject{bytes.NewReader(buf.Bytes()), store.ObjectMeta{Size: int64(buf.Len()), Stamp: store.Stamp{Clock: clock}}}
}

func readFile(t *testing.T, d *tarDirs, obj memObject, member string) (string, error) {
	t.Helper()
	f, _ := formats.Default().ByExtension(".tar")
	e, err := d.find(t.Context(), f, store.NewBucket("b"), "s.tar", obj, member)
	if err != nil {
		return "", err
	}
	data, err := io.ReadAll(io.NewSectionReader(obj, e.DataOffset, e.Size))
	return string(data), err
}

// A directory answers for its shard's version only; the later of two
// files of a name is found (as tar -x, tarfile, dSort and an index take
// it), by a scan too; past the bound the least
// recently used go, and a shard bigger than the bound is read by a scan.
func TestTarDirs(t *testing.T) {
	var d tarDirs
	v1 := tarShard(t, 1, "a.jpg", "b.jpg", "a.jpg", "c.jpg")
	for _, tc := range []struct{ member, want string }{{"c.jpg", "c.jpg of version 1, 3"}, {"a.jpg", "a.jpg of version 1, 2"}, {"b.jpg", "b.jpg of version 1, 1"}} {
		if got, err := readFile(t, &d, v1, tc.member); got != tc.want || err != nil {
			t.Fatalf("%s: %q %v, want %q", tc.member, got, err, tc.want)
		}
	}
	if _, err := readFile(t, &d, v1, "z.jpg"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a file the shard lacks: %v, want not found", err)
	}
	if d.members != 3 || len(d.byShard) != 1 {
		t.Fatalf("kept %d files of %d shards, want 3 of 1", d.members, len(d.byShard))
	}
	// Rewritten, with its files elsewhere: the old directory is not used.
	v2 := tarShard(t, 2, "long-name-first.bin", "c.jpg")
	if got, err := readFile(t, &d, v2, "c.jpg"); got != "c.jpg of version 2, 1" || err != nil {
		t.Fatalf("after a rewrite: %q %v", got, err)
	}
	if _, err := readFile(t, &d, v2, "a.jpg"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a file of the old version: %v, want not found", err)
	}
	// The bound is in bytes: a shard of long names costs its names.
	defer func(old int64) { maxTarDirBytes = old }(maxTarDirBytes)
	maxTarDirBytes = 2 * 97
	d = tarDirs{}
	big := tarShard(t, 3, "1", "2", "3", "4")
	if got, err := readFile(t, &d, big, "4"); got != "4 of version 3, 3" || err != nil {
		t.Fatalf("a shard past the bound: %q %v", got, err)
	}
	if d.bytes > maxTarDirBytes || d.members > 2 {
		t.Fatalf("kept %d files in %d bytes, the bound is %d bytes", d.members, d.bytes, maxTarDirBytes)
	}
	long := tarShard(t, 4, strings.Repeat("n", 200), "x")
	if got, err := readFile(t, &d, long, "x"); got != "x of version 4, 1" || err != nil {
		t.Fatalf("a shard of a long name: %q %v", got, err)
	}
	if d.bytes > maxTarDirBytes {
		t.Fatalf("kept %d bytes of directories, the bound is %d", d.bytes, maxTarDirBytes)
	}
	// No directory is made past the builds allowed at once: the read
	// scans alone.
	defer func(old int) { maxTarDirBuilds = old }(maxTarDirBuilds)
	maxTarDirBuilds, maxTarDirBytes = 0, 1<<20
	d = tarDirs{}
	if got, err := readFile(t, &d, v1, "a.jpg"); got != "a.jpg of version 1, 2" || err != nil {
		t.Fatalf("a file of a name twice, with no build allowed: %q %v, want the later", got, err)
	}
	if got, err := readFile(t, &d, big, "3"); got != "3 of version 3, 2" || err != nil {
		t.Fatalf("a read with no build allowed: %q %v", got, err)
	}
	if d.members != 0 || d.building != 0 {
		t.Fatalf("kept %d files, %d builds running, with no build allowed", d.members, d.building)
	}
}

// A shard too big for a directory is remembered so: read again, none is
// made, and its scans (each of every header) run maxTooBigScans at once,
// the others waiting, until their caller gives up.
func TestTarDirTooBigScansAreBounded(t *testing.T) {
	defer func(old int64) { maxTarDirBytes = old }(maxTarDirBytes)
	maxTarDirBytes = 2 * 97
	var d tarDirs
	big := tarShard(t, 3, "1", "2", "3", "2")
	for range 2 {
		if got, err := readFile(t, &d, big, "2"); got != "2 of version 3, 3" || err != nil {
			t.Fatalf("a shard past the bound: %q %v, want the later file", got, err)
		}
	}
	if len(d.tooBig) != 1 || d.members != 0 || d.scanning != 0 {
		t.Fatalf("%d shards known too big, %d files kept, %d scans running; want 1, 0, 0", len(d.tooBig), d.members, d.scanning)
	}
	f, _ := formats.Default().ByExtension(".tar")
	d.mu.Lock()
	d.scanning = maxTooBigScans // as if that many ran
	d.mu.Unlock()
	read := func(ctx context.Context) chan error {
		done := make(chan error, 1)
		go func() {
			_, err := d.find(ctx, f, store.NewBucket("b"), "s.tar", big, "3")
			done <- err
		}()
		return done
	}
	ctx, cancel := context.WithCancel(t.Context())
	gaveUp, waits := read(ctx), read(t.Context())
	select {
	case err := <-gaveUp:
		t.Fatalf("a scan past the bound did not wait: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("a waiting scan whose caller gave up: %v", err)
	}
	d.mu.Lock() // one of the scans ends
	d.scanning--
	close(d.scanned)
	d.scanned = nil
	d.mu.Unlock()
	if err := <-waits; err != nil {
		t.Fatalf("a waiting scan once one ended: %v", err)
	}
}

// A shard damaged past a file serves that file, whether the read builds
// the shard's index (which it then does not keep) or scans to the file.
func TestTarDirServesAFileBeforeTheDamage(t *testing.T) {
	var d tarDirs
	whole := tarShard(t, 1, "a.jpg", "b.jpg", "c.jpg")
	data := make([]byte, whole.Len())
	whole.ReadAt(data, 0)
	// The third header is garbage: a shard cut and written over.
	third := bytes.Index(data, []byte("c.jpg"))
	copy(data[third:third+512], bytes.Repeat([]byte{0xff}, 512))
	damaged := memObject{bytes.NewReader(data), store.ObjectMeta{Size: int64(len(data)), Stamp: store.Stamp{Clock: 2}}}
	if got, err := readFile(t, &d, damaged, "a.jpg"); got != "a.jpg of version 1, 0" || err != nil {
		t.Fatalf("a file before the damage: %q %v", got, err)
	}
	if _, err := readFile(t, &d, damaged, "c.jpg"); err == nil {
		t.Fatal("the damaged file read")
	}
}

// Of a zip's two files of a name, the later is read (as unzip and dSort
// take it).
func TestZipMemberOfANameTwiceIsTheLater(t *testing.T) {
	var shard bytes.Buffer
	zw := zip.NewWriter(&shard)
	for _, body := range []string{"first", "second"} {
		w, err := zw.Create("a.txt")
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, body)
	}
	zw.Close()
	f, _ := formats.Default().ByExtension(".zip")
	obj := memObject{bytes.NewReader(shard.Bytes()), store.ObjectMeta{Name: "s.zip", Size: int64(shard.Len())}}
	data, _, err := (&Node{}).openMember(t.Context(), f, store.NewBucket("b"), obj, "s.zip", "a.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(data); string(got) != "second" {
		t.Fatalf("a.txt of a zip that has it twice: %q, want the later", got)
	}
}

// A zip file before one the reader cannot read (another method) is
// served: the look for later copies of its name stops there.
func TestZipMemberBeforeAnUnreadableOneIsServed(t *testing.T) {
	var shard bytes.Buffer
	zw := zip.NewWriter(&shard)
	zw.RegisterCompressor(12, func(w io.Writer) (io.WriteCloser, error) { return nopCloser{w}, nil }) // "bzip2"
	w, _ := zw.Create("a.txt")
	io.WriteString(w, "the file")
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "b.txt", Method: 12})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "not bzip2")
	zw.Close()
	f, _ := formats.Default().ByExtension(".zip")
	obj := memObject{bytes.NewReader(shard.Bytes()), store.ObjectMeta{Name: "s.zip", Size: int64(shard.Len())}}
	data, _, err := (&Node{}).openMember(t.Context(), f, store.NewBucket("b"), obj, "s.zip", "a.txt")
	if err != nil {
		t.Fatalf("a file before one of another method: %v", err)
	}
	if got, _ := io.ReadAll(data); string(got) != "the file" {
		t.Fatalf("a.txt: %q", got)
	}
	// Its later copy of another method is the file: an error, not the
	// stale first copy.
	shard.Reset()
	zw = zip.NewWriter(&shard)
	zw.RegisterCompressor(12, func(w io.Writer) (io.WriteCloser, error) { return nopCloser{w}, nil })
	w, _ = zw.Create("a.txt")
	io.WriteString(w, "stale")
	w, _ = zw.CreateHeader(&zip.FileHeader{Name: "a.txt", Method: 12})
	io.WriteString(w, "newer")
	zw.Close()
	obj = memObject{bytes.NewReader(shard.Bytes()), store.ObjectMeta{Name: "s.zip", Size: int64(shard.Len())}}
	if data, _, err := (&Node{}).openMember(t.Context(), f, store.NewBucket("b"), obj, "s.zip", "a.txt"); err == nil {
		got, _ := io.ReadAll(data)
		t.Fatalf("a.txt whose later copy cannot be read: %q, want an error", got)
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// A file looked for in a compressed shard (decompressed up to it, or
// whole for one it lacks) is looked for no further once the caller is
// gone.
func TestMemberSearchStopsWithItsCaller(t *testing.T) {
	f, _ := formats.Default().ByExtension(".tgz")
	var shard bytes.Buffer
	w, err := f.NewWriter(&shard)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.txt", "b.txt"} {
		if err := w.WriteHeader(&formats.Entry{Name: name, Size: 1}); err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("x"))
	}
	w.Close()
	obj := memObject{bytes.NewReader(shard.Bytes()), store.ObjectMeta{Name: "s.tgz", Size: int64(shard.Len())}}
	if _, _, err := (&Node{}).openMember(t.Context(), f, store.NewBucket("b"), obj, "s.tgz", "b.txt"); err != nil {
		t.Fatalf("a file of the shard: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := (&Node{}).openMember(ctx, f, store.NewBucket("b"), obj, "s.tgz", "b.txt"); !errors.Is(err, context.Canceled) {
		t.Fatalf("a search whose caller is gone: %v, want canceled", err)
	}
}
