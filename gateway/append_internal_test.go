package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The sweep of idle append sessions leaves one that a piece reached
// between its look and its lock: that piece was acknowledged.
func TestAppendSweepSparesASessionUsedMeanwhile(t *testing.T) {
	root := t.TempDir()
	n := &Node{config: Config{WorkDir: root}}
	dir := filepath.Join(root, appendDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	idle, used := strings.Repeat("a", appendTokenLength), strings.Repeat("b", appendTokenLength)
	old := time.Now().Add(-2 * appendExpiry)
	for _, token := range []string{idle, used} {
		path := filepath.Join(dir, token)
		if err := os.WriteFile(path, []byte("piece"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
	}
	defer func(was func(string)) { appendSweeping = was }(appendSweeping)
	appendSweeping = func(token string) {
		if token == used { // a piece now
			now := time.Now()
			os.Chtimes(filepath.Join(dir, token), now, now)
		}
	}
	open, err := n.sweepAppendDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, used)); err != nil || open != 1 {
		t.Fatalf("a session used between the sweep's look and its lock: %v, %d open; want it kept, one open", err, open)
	}
	if _, err := os.Stat(filepath.Join(dir, idle)); !os.IsNotExist(err) {
		t.Fatalf("an idle session after the sweep: %v, want it ended", err)
	}
}
