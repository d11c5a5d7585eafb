package sibling

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Find returns the absolute path of explicit when it is set, else of the
// binary called name next to the running executable, else in PATH.
func Find(name, explicit string) (string, error) {
	if explicit != "" {
		return filepath.Abs(explicit)
	}
	if self, err := os.Executable(); err == nil {
		candidate := filepath.Join(filepath.Dir(self), name)
		if info, err := os.Stat(candidate); err == nil && !info.IsDir() {
			return candidate, nil
		}
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found next to %s or in PATH", name, filepath.Base(os.Args[0]))
	}
	return path, nil
}
