package membership_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/aisgo/aisgo/cluster/membership"
)

// The metadata directory (S3 keys are in the metadata) is the node's
// alone, one made by an older version included.
func TestFileStoreDirectoryIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "meta")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := membership.NewFileStore(dir); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(dir)
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("the metadata directory: %v %v, want mode 0700", info.Mode(), err)
	}
}
