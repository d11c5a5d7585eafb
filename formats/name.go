package formats

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// errUnsafeName is the cause of a HeaderError for a member name that is
// absolute or escapes the archive.
var errUnsafeName = errors.New("member name is absolute or escapes the archive")

// memberName cleans a name read from a shard. It fails for names that are
// empty, hold a NUL, are absolute or climb out with "..".
func memberName(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("empty member name")
	}
	if strings.IndexByte(raw, 0) >= 0 {
		return "", fmt.Errorf("member name %q holds a NUL", raw)
	}
	if strings.HasPrefix(raw, "/") || windowsUnsafe(raw) {
		return "", fmt.Errorf("%w: %q", errUnsafeName, raw)
	}
	name := path.Clean(raw)
	// Cleaned too: ./C:x is C:x, ./\x is \x.
	if name == "." || name == ".." || strings.HasPrefix(name, "../") || windowsUnsafe(name) {
		return "", fmt.Errorf("%w: %q", errUnsafeName, raw)
	}
	return name, nil
}

// windowsUnsafe reports a name that is absolute or climbs out as Windows
// reads it, where \ separates too (\x, C:x, ..\x): a shard written with
// it would let a consumer there write outside its directory.
func windowsUnsafe(raw string) bool {
	if strings.HasPrefix(raw, `\`) || len(raw) >= 2 && raw[1] == ':' && ('a' <= raw[0]|0x20 && raw[0]|0x20 <= 'z') {
		return true
	}
	if !strings.Contains(raw, `\`) {
		return false
	}
	for part := range strings.FieldsFuncSeq(raw, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == ".." {
			return true
		}
	}
	return false
}

// CheckName says whether a Writer takes name as a member's name
// (ErrInvalidName otherwise): one that is not absolute, climbs out of the
// archive neither as Unix nor as Windows reads it, and is clean.
func CheckName(name string) error { return checkName(name) }

// checkName validates a name given to a Writer: it must be what memberName
// would return for it.
func checkName(name string) error {
	if clean, err := memberName(name); err != nil || clean != name {
		return fmt.Errorf("entry %q: %w", name, ErrInvalidName)
	}
	return nil
}
