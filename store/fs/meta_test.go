package fs

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/tinylib/msgp/msgp"

	"github.com/aisgo/aisgo/store"
)

// A corrupt metadata xattr whose custom map claims millions of pairs is
// an error, not an allocation of that size (a GET of it would take the
// node's memory).
func TestDecodeMetaBoundsTheCustomMap(t *testing.T) {
	b := msgp.AppendMapHeader(nil, 1)
	b = msgp.AppendString(b, "c")
	b = append(b, 0xdf, 0x00, 0xff, 0xff, 0xff) // map32 of 16M pairs, and nothing after
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var m store.ObjectMeta
	err := decodeMeta(b, &m)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("a custom map of 16M pairs in 5 bytes decoded")
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("decoding the corrupt header allocated %d bytes", grew)
	}
	// What encodeMeta writes still decodes.
	want := store.ObjectMeta{Size: 5, Custom: map[string]string{"k": "v", "etag": "x"}}
	if err := decodeMeta(encodeMeta(&want), &m); err != nil || m.Custom["k"] != "v" || m.Custom["etag"] != "x" {
		t.Fatalf("a good header: %v %+v", err, m.Custom)
	}
}

// A file removed between finding it and reading its metadata (a HEAD
// racing a DELETE) is not found, not an I/O fault (a 500).
func TestMetadataOfARemovedFileIsNotFound(t *testing.T) {
	var meta store.ObjectMeta
	dir := t.TempDir()
	for _, path := range []string{filepath.Join(dir, "gone"), filepath.Join(dir, "gone", "below")} {
		if err := readMeta(path, &meta); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("metadata of %s: %v, want ErrNotFound", path, err)
		}
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	if err := readMeta(filepath.Join(file, "below"), &meta); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("metadata below a file: %v, want ErrNotFound", err)
	}
}
