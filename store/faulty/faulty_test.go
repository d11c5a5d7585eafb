package faulty_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/faulty"
	"github.com/aisgo/aisgo/store/fs"
	"github.com/aisgo/aisgo/store/storetest"
)

func newStore(t *testing.T) (*faulty.Store, string) {
	t.Helper()
	mp := t.TempDir()
	inner, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{mp}})
	if err != nil {
		t.Fatal(err)
	}
	return faulty.Wrap(inner), mp
}

// With no faults injected the wrapper is a conforming store.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Options{
		New: func(t *testing.T) store.Store { st, _ := newStore(t); return st },
		Corrupt: func(t *testing.T, st store.Store, b store.Bucket, name string) {
			t.Helper()
			mps := st.(*faulty.Store).Store.(*fs.Store).Mountpaths()
			path := filepath.Join(mps[0], "ais", b.Name, name)
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt([]byte("corrupt"), 10)
			f.Close()
		},
	})
}

func TestFullDiskDuringPutLeavesOldVersion(t *testing.T) {
	for _, tc := range []struct {
		errno syscall.Errno
		want  error
	}{{syscall.ENOSPC, store.ErrNoSpace}, {syscall.EIO, store.ErrIO}} {
		st, mp := newStore(t)
		b := store.NewBucket("b")
		if err := st.CreateBucket(t.Context(), b, store.Props{}); err != nil {
			t.Fatal(err)
		}
		storetest.Put(t, st, b, "obj", []byte("old version"))
		st.Inject(faulty.Fault{Op: faulty.OpPut, After: 100 << 10, Err: tc.errno, Times: 1})
		data := bytes.Repeat([]byte("n"), 1<<20)
		_, err := st.Put(t.Context(), b, "obj", bytes.NewReader(data), store.PutOptions{Size: int64(len(data))})
		if !errors.Is(err, tc.want) {
			t.Fatalf("%v during put: %v, want %v", tc.errno, err, tc.want)
		}
		if got := storetest.Get(t, st, b, "obj"); string(got) != "old version" {
			t.Fatalf("after a failed put the object is %d bytes, want the old version", len(got))
		}
		if entries, _ := os.ReadDir(filepath.Join(mp, ".ais", "work")); len(entries) != 0 {
			t.Fatalf("failed put left %d work files: %v", len(entries), entries)
		}
	}
}

func TestReadFaultIsReported(t *testing.T) {
	st, _ := newStore(t)
	b := store.NewBucket("b")
	st.CreateBucket(t.Context(), b, store.Props{})
	storetest.Put(t, st, b, "obj", bytes.Repeat([]byte("x"), 1000))
	st.Inject(faulty.Fault{Op: faulty.OpRead, After: 10, Err: syscall.EIO, Times: 1})
	obj, err := st.Open(t.Context(), b, "obj", store.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	n, err := io.Copy(io.Discard, obj)
	if !errors.Is(err, syscall.EIO) || n != 10 {
		t.Fatalf("read %d bytes, err %v; want 10 bytes then EIO", n, err)
	}
}
