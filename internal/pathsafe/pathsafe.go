package pathsafe

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// ErrOutside marks a path that is not inside its root.
var ErrOutside = errors.New("path is outside the node's data directories")

// MaxSegmentLength is the longest identifier Segment accepts.
const MaxSegmentLength = 64

// MaxNameLength is the longest object name accepted, in bytes.
const MaxNameLength = 1024

// maxNameSegment is the longest path segment a filesystem takes (NAME_MAX).
const maxNameSegment = 255

// Segment checks an identifier that becomes one path segment (a bucket
// name, a job id, a node id): 1 to 64 characters of [A-Za-z0-9._-], and
// not "." or "..". kind names it in the error.
func Segment(kind, s string) error {
	if len(s) == 0 || len(s) > MaxSegmentLength {
		return fmt.Errorf("%s %q must have 1 to %d characters", kind, s, MaxSegmentLength)
	}
	if s == "." || s == ".." {
		return fmt.Errorf("%s %q is reserved", kind, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%s %q may contain only letters, digits, '.', '_' and '-'", kind, s)
		}
	}
	return nil
}

// Name checks an object name that becomes a relative path: non-empty
// UTF-8 of at most 1024 bytes, '/'-separated segments that are neither
// empty, ".", nor "..", no leading '/', and no NUL.
func Name(name string) error {
	switch {
	case name == "":
		return errors.New("object name is empty")
	case len(name) > MaxNameLength:
		return fmt.Errorf("object name is %d bytes long (at most %d)", len(name), MaxNameLength)
	case !utf8.ValidString(name):
		return fmt.Errorf("object name %q is not valid UTF-8", name)
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("object name %q contains a NUL byte", name)
	case name[0] == '/':
		return fmt.Errorf("object name %q is an absolute path", name)
	}
	for segment := range strings.SplitSeq(name, "/") {
		switch {
		case segment == "":
			return fmt.Errorf("object name %q has an empty path segment", name)
		case segment == "." || segment == "..":
			return fmt.Errorf("object name %q has a %q segment", name, segment)
		case len(segment) > maxNameSegment:
			return fmt.Errorf("object name %q has a segment longer than %d bytes", name, maxNameSegment)
		}
	}
	return nil
}

// Within returns nil when path, cleaned, is strictly inside root, and an
// error wrapping ErrOutside otherwise. Both are compared lexically after
// filepath.Abs: the names that build paths are validated, so no symlink
// of the node's own making leads out.
func Within(root, path string) error {
	if root == "" {
		// (Abs would make it the working directory.)
		return fmt.Errorf("%w: no root for %q", ErrOutside, path)
	}
	r, err := filepath.Abs(root)
	if err != nil {
		return fmt.Errorf("%w: root %q: %w", ErrOutside, root, err)
	}
	p, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("%w: %q: %w", ErrOutside, path, err)
	}
	if r == "" || p == r || !strings.HasPrefix(p, r) || (r != "/" && p[len(r)] != filepath.Separator) {
		return fmt.Errorf("%w: %q is not inside %q", ErrOutside, path, root)
	}
	return nil
}

// RemoveAll removes path and what it holds, if path is inside root. It
// goes through root (os.Root): a symlink below root, placed by whoever
// can write there, is removed as a link, never followed out of root.
func RemoveAll(root, path string) error {
	r, rel, err := openWithin(root, path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // no root, nothing in it
	}
	if err != nil {
		return err
	}
	defer r.Close()
	return r.RemoveAll(rel)
}

// Remove removes one file or empty directory, if path is inside root,
// through root as RemoveAll does.
func Remove(root, path string) error {
	r, rel, err := openWithin(root, path)
	if err != nil {
		return err
	}
	defer r.Close()
	return r.Remove(rel)
}

// openWithin opens root and returns path relative to it, cleaned, once
// Within passed. (Rename and MkdirAll, on every write's path, stay
// lexical: a root walk costs a PUT some 10 µs.)
func openWithin(root, path string) (*os.Root, string, error) {
	if err := Within(root, path); err != nil {
		return nil, "", err
	}
	r, err := filepath.Abs(root)
	if err != nil {
		return nil, "", err
	}
	p, err := filepath.Abs(path)
	if err != nil {
		return nil, "", err
	}
	rel, err := filepath.Rel(r, p)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %q: %w", ErrOutside, path, err)
	}
	opened, err := os.OpenRoot(r)
	if err != nil {
		return nil, "", err
	}
	return opened, rel, nil
}

// Rename renames from to to, if both are inside root.
func Rename(root, from, to string) error {
	if err := Within(root, from); err != nil {
		return err
	}
	if err := Within(root, to); err != nil {
		return err
	}
	return os.Rename(from, to)
}

// MkdirAll creates path and its parents, if path is inside root or is
// root itself.
func MkdirAll(root, path string, perm os.FileMode) error {
	if filepath.Clean(root) != filepath.Clean(path) {
		if err := Within(root, path); err != nil {
			return err
		}
	}
	return os.MkdirAll(path, perm)
}

// Resolve is path with its symlinks resolved, as far as it exists: the
// directory a path inside a linked one really names.
func Resolve(path string) string {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		return real
	}
	if parent := filepath.Dir(path); parent != path {
		return filepath.Join(Resolve(parent), filepath.Base(path))
	}
	return path
}
