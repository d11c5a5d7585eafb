package pathsafe

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSegment(t *testing.T) {
	for _, good := range []string{"a", "srt-0123abcd", "A.b-c_d", strings.Repeat("z", 64)} {
		if err := Segment("id", good); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "x/../../srv", `a\b`, strings.Repeat("z", 65), "sp ace", "nul\x00"} {
		if err := Segment("job id", bad); err == nil || !strings.Contains(err.Error(), "job id") {
			t.Errorf("%q: %v, want an error naming the job id", bad, err)
		}
	}
}

func TestWithin(t *testing.T) {
	tests := []struct {
		root, path string
		ok         bool
	}{
		{"/data", "/data/a", true},
		{"/data", "/data/a/../b", true},
		{"/data", "/data", false},
		{"/data", "/data/..", false},
		{"/data", "/data/../etc", false},
		{"/data", "/database", false},
		{"/data", "/etc/passwd", false},
		{"/data/", "/data/x", true},
		{"/", "/x", true},
		{"", "x", false}, // no root: not the working directory
	}
	for _, tc := range tests {
		err := Within(tc.root, tc.path)
		if (err == nil) != tc.ok {
			t.Errorf("Within(%q, %q) = %v, want ok=%v", tc.root, tc.path, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrOutside) {
			t.Errorf("Within(%q, %q): %v does not wrap ErrOutside", tc.root, tc.path, err)
		}
	}
}

// TestConfinedOperations puts a sentinel beside the root and checks that
// no operation reaches it through a path that climbs out.
func TestConfinedOperations(t *testing.T) {
	top := t.TempDir()
	root := filepath.Join(top, "data")
	sentinel := filepath.Join(top, "victim")
	for _, dir := range []string{root, sentinel} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	escape := filepath.Join(root, "x", "..", "..", "victim")
	if err := RemoveAll(root, escape); !errors.Is(err, ErrOutside) {
		t.Errorf("RemoveAll outside: %v", err)
	}
	if err := RemoveAll(root, root); !errors.Is(err, ErrOutside) {
		t.Errorf("RemoveAll of the root itself: %v", err)
	}
	if err := Rename(root, escape, filepath.Join(root, "trash")); !errors.Is(err, ErrOutside) {
		t.Errorf("Rename from outside: %v", err)
	}
	if err := MkdirAll(root, filepath.Join(escape, "sub"), 0o755); !errors.Is(err, ErrOutside) {
		t.Errorf("MkdirAll outside: %v", err)
	}
	if _, err := os.Stat(sentinel); err != nil {
		t.Fatalf("the sentinel is gone: %v", err)
	}
	if _, err := os.Stat(filepath.Join(sentinel, "sub")); err == nil {
		t.Fatal("MkdirAll created a directory outside the root")
	}
	inside := filepath.Join(root, "a", "b")
	if err := MkdirAll(root, inside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Rename(root, inside, filepath.Join(root, "c")); err != nil {
		t.Fatal(err)
	}
	if err := RemoveAll(root, filepath.Join(root, "a")); err != nil {
		t.Fatal(err)
	}
}

func FuzzName(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../x", "a/./b", "/x", "a//b", "x\x00", "ü/ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if Name(name) != nil {
			return
		}
		root := "/bucket"
		if err := Within(root, filepath.Join(root, filepath.FromSlash(name))); err != nil {
			t.Fatalf("accepted name %q: %v", name, err)
		}
	})
}

// A symlink below the root (placed by whoever can write there) is not
// followed out of it: RemoveAll and Remove of a path through it fail, and
// of the link itself remove the link, not what it points to.
func TestRemoveDoesNotFollowLinksOut(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	kept := filepath.Join(outside, "kept")
	if err := os.WriteFile(kept, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "work")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	if err := RemoveAll(root, filepath.Join(link, "kept")); err == nil {
		t.Fatal("RemoveAll through a link out of the root succeeded")
	}
	if err := Remove(root, filepath.Join(link, "kept")); err == nil {
		t.Fatal("Remove through a link out of the root succeeded")
	}
	if err := RemoveAll(root, link); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Fatalf("the file the link led to: %v", err)
	}
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Fatalf("the link: %v, want removed", err)
	}
	// What does not exist, or a root that does not, is no error.
	if err := RemoveAll(root, filepath.Join(root, "none", "x")); err != nil {
		t.Fatal(err)
	}
	if err := RemoveAll(filepath.Join(root, "gone"), filepath.Join(root, "gone", "x")); err != nil {
		t.Fatal(err)
	}
}
