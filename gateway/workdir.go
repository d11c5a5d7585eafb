package gateway

import (
	"path/filepath"
	"slices"

	"github.com/aisgo/aisgo/internal/pathsafe"
)

// workDir is where new work goes now: the work directory of the first
// mountpath enabled (PickWorkDir), else WorkDir.
func (n *Node) workDir() string {
	if n.config.PickWorkDir != nil {
		if dir := n.config.PickWorkDir(); dir != "" {
			return dir
		}
	}
	return n.config.WorkDir
}

// workDirs are every work directory this node may have left work in:
// the one of now first, then WorkDir and RecoverDirs.
func (n *Node) workDirs() []string {
	dirs := []string{n.workDir()}
	for _, dir := range append([]string{n.config.WorkDir}, n.config.RecoverDirs...) {
		if dir != "" && !slices.Contains(dirs, dir) {
			dirs = append(dirs, dir)
		}
	}
	return dirs
}

// ecWorkDir is where erasure coding puts an object too large for memory
// now, made when it is not there yet (the work directory moved).
func (n *Node) ecWorkDir() string {
	root := n.workDir()
	dir := filepath.Join(root, "ec")
	if err := pathsafe.MkdirAll(root, dir, 0o755); err != nil {
		n.logger.Warn("erasure coding's work directory", "dir", dir, "err", err)
	}
	return dir
}
