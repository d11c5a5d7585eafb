package directwrite

import (
	"bytes"
	"golang.org/x/sys/unix"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// Files of every size around the alignment and the buffer come out as
// written, whatever the sizes of the writes.
func TestWriterKeepsBytes(t *testing.T) {
	dir := t.TempDir()
	random := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, Align - 1, Align, Align + 1, bufferSize - 1, bufferSize, bufferSize + 1, 3*bufferSize + Align/2} {
		want := make([]byte, size)
		for i := range want {
			want[i] = byte(random.Uint32())
		}
		path := filepath.Join(dir, "file")
		w, err := Create(path, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if !w.direct {
			t.Logf("the file system under %s takes no O_DIRECT: plain writes", dir)
		}
		for rest := want; len(rest) > 0; {
			k := min(len(rest), 1+random.IntN(300<<10))
			if n, err := w.Write(rest[:k]); n != k || err != nil {
				t.Fatalf("size %d: write %d: %d, %v", size, k, n, err)
			}
			rest = rest[k:]
		}
		if err := w.Finish(); err != nil {
			t.Fatalf("size %d: finish: %v", size, err)
		}
		if err := w.File().Close(); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("size %d: the file holds %d bytes unlike those written", size, len(got))
		}
		os.Remove(path)
	}
}

// A disk that refuses a direct write (EINVAL: here a buffer out of
// alignment) gets the rest of the file as plain writes, nothing lost.
func TestWriterFallsBackToPlainWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	w, err := Create(path, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if !w.direct {
		t.Fatalf("the file system under %s takes no O_DIRECT: this test needs one that does (ext4, xfs)", filepath.Dir(path))
	}
	// A buffer never aligned: its first direct write fails. The bytes,
	// unaligned too, all go through it.
	raw := make([]byte, bufferSize+2*Align)
	w.buf = raw[1 : 1+bufferSize]
	want := bytes.Repeat([]byte("direct"), (2*bufferSize+100)/6)[1:]
	if n, err := w.Write(want); n != len(want) || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	if w.direct {
		t.Fatal("the writer still writes direct after EINVAL")
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	w.File().Close()
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
		t.Fatalf("the file holds %d bytes unlike the %d written", len(got), len(want))
	}
}

// Whole blocks of aligned memory are written from where they are, and
// what follows them, unaligned, through the buffer, in order.
func TestWriterTakesAlignedMemoryWithoutCopy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	w, err := Create(path, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	big := *buffers.Get().(*[]byte) // aligned
	for i := range big {
		big[i] = byte(i / 4096)
	}
	want := append(append([]byte{}, big[:3*Align+100]...), []byte("then unaligned bytes")...)
	if n, err := w.Write(big[:3*Align+100]); n != 3*Align+100 || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	if w.direct && w.n != 100 {
		t.Fatalf("%d bytes buffered after an aligned write of 3 blocks and 100 bytes, want the 100", w.n)
	}
	if _, err := w.Write([]byte("then unaligned bytes")); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	w.File().Close()
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
		t.Fatalf("the file holds %d bytes unlike the %d written", len(got), len(want))
	}
}

// After Finish the file takes plain writes of any length, a whole number
// of blocks finished too (the file was left in O_DIRECT mode then).
func TestWriterIsPlainAfterFinish(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	w, err := Create(path, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if !w.direct {
		t.Skipf("the file system under %s takes no O_DIRECT", filepath.Dir(path))
	}
	block := bytes.Repeat([]byte("b"), 2*Align)
	if _, err := w.Write(block); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.File().Write([]byte("a tail of 17 bytes")); err != nil {
		t.Fatalf("a plain write after Finish: %v", err)
	}
	w.File().Close()
	if got, _ := os.ReadFile(path); len(got) != 2*Align+18 {
		t.Fatalf("the file holds %d bytes, want %d", len(got), 2*Align+18)
	}
}

// The file is opened plain and O_DIRECT set on it after: the flag is on
// where the file system takes it (ext4 under the tests' directory).
func TestCreateTurnsDirectOn(t *testing.T) {
	w, err := Create(filepath.Join(t.TempDir(), "file"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer w.File().Close()
	flags, err := unix.FcntlInt(w.File().Fd(), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if w.direct != (flags&unix.O_DIRECT != 0) {
		t.Fatalf("the writer says direct %v, the file's flags %#x", w.direct, flags)
	}
	if !w.direct {
		t.Logf("the file system takes no O_DIRECT: plain writes")
	}
}
