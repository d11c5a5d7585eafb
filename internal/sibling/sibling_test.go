package sibling

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFind(t *testing.T) {
	if got, err := Find("whatever", "rel/path"); err != nil || !filepath.IsAbs(got) || !strings.HasSuffix(got, "rel/path") {
		t.Fatalf("explicit path: %q %v", got, err)
	}
	dir := t.TempDir()
	tool := filepath.Join(dir, "sibling-test-tool")
	os.WriteFile(tool, []byte("#!/bin/sh\n"), 0o755)
	t.Setenv("PATH", dir)
	if got, err := Find("sibling-test-tool", ""); err != nil || got != tool {
		t.Fatalf("from PATH: %q %v", got, err)
	}
	if _, err := Find("no-such-tool-anywhere", ""); err == nil || !strings.Contains(err.Error(), "no-such-tool-anywhere not found") {
		t.Fatalf("missing tool: %v", err)
	}
}
