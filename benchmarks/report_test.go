package benchmarks_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aisgo/aisgo/benchmarks"
)

// A run cut short writes its dated files, and leaves latest.md, the
// reference, as the last whole run wrote it.
func TestWriteDirKeepsLatestOfAWholeRun(t *testing.T) {
	dir := t.TempDir()
	whole := &benchmarks.Report{Date: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := whole.WriteDir(dir, true); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, "latest.md"))
	if err != nil {
		t.Fatal(err)
	}
	cut := &benchmarks.Report{Date: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)}
	path, err := cut.WriteDir(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the cut run's report: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "latest.md")); string(after) != string(before) {
		t.Fatal("a run cut short replaced latest.md")
	}
}
