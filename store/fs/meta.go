package fs

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tinylib/msgp/msgp"
	"golang.org/x/sys/unix"

	"github.com/aisgo/aisgo/store"
)

// xattrName holds an object's metadata.
const xattrName = "user.ais.meta"

// maxMetaSize keeps the encoded metadata within one ext4 xattr block.
const maxMetaSize = 3 << 10

// metaFormat is the version of the encoding below.
const metaFormat = 1

// encodeMeta writes metadata as a msgp map with short keys.
func encodeMeta(m *store.ObjectMeta) []byte {
	b := make([]byte, 0, 128)
	b = msgp.AppendMapHeader(b, 8)
	b = msgp.AppendString(b, "f")
	b = msgp.AppendInt(b, metaFormat)
	b = msgp.AppendString(b, "s")
	b = msgp.AppendInt64(b, m.Size)
	b = msgp.AppendString(b, "ct")
	b = msgp.AppendString(b, m.Checksum.Type)
	b = msgp.AppendString(b, "cv")
	b = msgp.AppendString(b, m.Checksum.Value)
	b = msgp.AppendString(b, "v")
	b = msgp.AppendString(b, m.Version)
	b = msgp.AppendString(b, "a")
	b = msgp.AppendInt64(b, m.Atime.UnixNano())
	b = msgp.AppendString(b, "c")
	b = msgp.AppendMapStrStr(b, m.Custom)
	b = msgp.AppendString(b, "w")
	b = msgp.AppendArrayHeader(b, 2)
	b = msgp.AppendInt64(b, m.Stamp.Map)
	b = msgp.AppendInt64(b, m.Stamp.Clock)
	return b
}

// decodeMeta reads what encodeMeta wrote; unknown keys are skipped so a
// newer writer does not break an older reader.
func decodeMeta(b []byte, m *store.ObjectMeta) error {
	n, b, err := msgp.ReadMapHeaderBytes(b)
	if err != nil {
		return err
	}
	for range n {
		var key string
		if key, b, err = msgp.ReadStringBytes(b); err != nil {
			return err
		}
		switch key {
		case "f":
			_, b, err = msgp.ReadIntBytes(b)
		case "s":
			m.Size, b, err = msgp.ReadInt64Bytes(b)
		case "ct":
			m.Checksum.Type, b, err = msgp.ReadStringBytes(b)
		case "cv":
			m.Checksum.Value, b, err = msgp.ReadStringBytes(b)
		case "v":
			m.Version, b, err = msgp.ReadStringBytes(b)
		case "a":
			var ns int64
			ns, b, err = msgp.ReadInt64Bytes(b)
			m.Atime = time.Unix(0, ns)
		case "c":
			var sz uint32
			if sz, b, err = msgp.ReadMapHeaderBytes(b); err != nil {
				return err
			}
			// Each pair takes at least two bytes: a count beyond what is
			// left is a corrupt header, not a size to allocate.
			if uint64(sz) > uint64(len(b)/2) {
				return fmt.Errorf("custom metadata claims %d pairs in %d bytes", sz, len(b))
			}
			if sz > 0 {
				m.Custom = make(map[string]string, sz)
			}
			for range sz {
				var k, v string
				if k, b, err = msgp.ReadStringBytes(b); err != nil {
					return err
				}
				if v, b, err = msgp.ReadStringBytes(b); err != nil {
					return err
				}
				m.Custom[k] = v
			}
		case "w":
			var n uint32
			if n, b, err = msgp.ReadArrayHeaderBytes(b); err != nil {
				return err
			}
			if n != 2 {
				return fmt.Errorf("stamp has %d parts, want 2", n)
			}
			if m.Stamp.Map, b, err = msgp.ReadInt64Bytes(b); err != nil {
				return err
			}
			m.Stamp.Clock, b, err = msgp.ReadInt64Bytes(b)
		default:
			b, err = msgp.Skip(b)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkMetaRoom fails a write whose custom metadata leaves no room for
// the rest: before its bytes are read, and before parts of it go to
// other targets.
func checkMetaRoom(checksum string, custom map[string]string, etag bool) error {
	checksum = store.NormalizeChecksumType(checksum)
	digits := 0
	if h, err := store.NewHash(checksum); err == nil && h != nil {
		digits = 2 * h.Size()
	}
	probe := store.ObjectMeta{
		Size: math.MaxInt64, Checksum: store.Checksum{Type: checksum, Value: strings.Repeat("f", digits)},
		Version: strconv.FormatInt(math.MaxInt64, 10), Custom: custom,
		Stamp: store.Stamp{Map: math.MaxInt64, Clock: math.MaxInt64},
	}
	if etag {
		probe.Custom = maps.Clone(custom)
		if probe.Custom == nil {
			probe.Custom = map[string]string{}
		}
		probe.Custom[store.CustomETag] = strings.Repeat("f", 32)
	}
	if n := len(encodeMeta(&probe)); n > maxMetaSize {
		return fmt.Errorf("%w: metadata of up to %d bytes is over %d (too much custom metadata)", store.ErrInvalidProps, n, maxMetaSize)
	}
	return nil
}

// CustomFits reports whether an object of a bucket with this checksum
// type can keep this custom metadata (an erasure-coded store asks it of
// what a Stage adds, to keep in its parts what the copy keeps).
func (s *Store) CustomFits(checksum string, custom map[string]string) bool {
	return checkMetaRoom(checksum, custom, false) == nil
}

func writeMeta(path string, m *store.ObjectMeta) error {
	data := encodeMeta(m)
	if len(data) > maxMetaSize {
		return fmt.Errorf("%w: metadata of %d bytes is over %d (too much custom metadata)", store.ErrInvalidProps, len(data), maxMetaSize)
	}
	if err := setxattr(path, xattrName, data, 0); err != nil {
		return classify(fmt.Errorf("set metadata of %s: %w", path, err))
	}
	return nil
}

// setxattr is syscall.Setxattr of object metadata; tests make a disk
// fail with it.
var setxattr = syscall.Setxattr

// getxattr is syscall.Getxattr, and fgetxattr unix.Fgetxattr (of an
// open part); tests make a disk fail with them.
var (
	getxattr  = syscall.Getxattr
	fgetxattr = unix.Fgetxattr
)

// hasMeta reports whether a file carries AIS metadata. A file gone, or
// one without it, is no object; any other failure (EIO of a failing disk)
// is an error: the caller must not take the object for absent (a bucket
// found empty is destroyed, a mountpath found empty forgotten).
func hasMeta(path string) (bool, error) {
	n, err := getxattr(path, xattrName, nil)
	switch {
	case err == nil:
		return n > 0, nil
	case errors.Is(err, syscall.ENODATA) || errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR):
		return false, nil
	}
	return false, classify(fmt.Errorf("read metadata of %s: %w", path, err))
}

// metaReadError is what a failed read of an object's metadata (by path
// or by its open file) means, as a store error.
func metaReadError(path string, err error, room int) error {
	switch {
	case errors.Is(err, syscall.ENODATA):
		return fmt.Errorf("%w: %s has no AIS metadata", store.ErrNotFound, path)
	case errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%w: %s was removed", store.ErrNotFound, path) // by a DELETE since it was found
	case errors.Is(err, syscall.ERANGE):
		// Larger than any this store writes: not its metadata.
		return fmt.Errorf("%w: metadata of %s is larger than %d bytes", store.ErrCorrupt, path, room)
	}
	return classify(fmt.Errorf("read metadata of %s: %w", path, err))
}

func readMeta(path string, m *store.ObjectMeta) error {
	buf := make([]byte, maxMetaSize+512)
	n, err := getxattr(path, xattrName, buf)
	if err != nil {
		return metaReadError(path, err, len(buf))
	}
	if err := decodeMeta(buf[:n], m); err != nil {
		return fmt.Errorf("%w: metadata of %s: %w", store.ErrCorrupt, path, err)
	}
	return nil
}

// classify marks system errors with the store's sentinels, keeping the chain.
func classify(err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err
	}
	switch errno {
	case syscall.ENOSPC, syscall.EDQUOT:
		return errors.Join(store.ErrNoSpace, err)
	case syscall.EIO:
		return errors.Join(store.ErrIO, err)
	case syscall.ENOTSUP:
		return errors.Join(store.ErrNoXattr, err)
	}
	return err
}
