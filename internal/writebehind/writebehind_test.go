package writebehind

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The bytes written land in the file unchanged, across chunk boundaries.
func TestWriterKeepsBytes(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "file"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := bytes.Repeat([]byte("0123456789abcdef"), (2*Chunk+100)/16)
	w := New(f)
	for rest := want; len(rest) > 0; {
		k := min(len(rest), 3<<20+7) // pieces that straddle chunks
		n, err := w.Write(rest[:k])
		if err != nil || n != k {
			t.Fatalf("write: %d, %v", n, err)
		}
		rest = rest[k:]
	}
	// Writeback started for all but the last part shorter than a chunk.
	if w.flushed == 0 || int64(len(want))-w.flushed >= Chunk {
		t.Fatalf("writeback started for %d of %d bytes", w.flushed, len(want))
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("file holds %d bytes unlike the %d written", len(got), len(want))
	}
}
