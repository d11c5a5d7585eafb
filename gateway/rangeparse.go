package gateway

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/aisgo/aisgo/api"
)

// parseRange reads a single-range "Range: bytes=..." header against an
// object of size bytes and returns the first byte and the length. Forms:
// "bytes=A-B", "bytes=A-" and "bytes=-N" (the last N bytes). A malformed
// header or a range past the end give api.ErrRange; another unit, or
// several ranges, errIgnoreRange: the whole object is the answer, as RFC
// 9110 has a server do (416 would say no range can be served).
func parseRange(spec string, size int64) (start, length int64, err error) {
	fail := func(why string) (int64, int64, error) {
		return 0, 0, fmt.Errorf("%w: Range %q: %s (object size %d)", api.ErrRange, spec, why, size)
	}
	// The unit is case-insensitive (RFC 9110).
	unit, rest, ok := strings.Cut(strings.TrimSpace(spec), "=")
	if !ok {
		return fail("want bytes=A-B, bytes=A- or bytes=-N")
	}
	if !strings.EqualFold(strings.TrimSpace(unit), "bytes") || strings.Contains(rest, ",") {
		return 0, 0, errIgnoreRange
	}
	first, last, ok := strings.Cut(strings.TrimSpace(rest), "-")
	if !ok {
		return fail("want A-B, A- or -N")
	}
	// Digits past int64 are a position beyond any object: RFC 9110 has a
	// last byte past the end mean "to the end".
	parse := func(s string) (int64, bool) {
		if s == "" || strings.TrimLeft(s, "0123456789") != "" {
			return 0, false
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return math.MaxInt64, true
		}
		return v, true
	}
	if first == "" {
		suffix, ok := parse(last)
		if !ok {
			return fail("bad suffix length")
		}
		if suffix == 0 {
			return fail("empty range")
		}
		if size == 0 {
			// The last N bytes of nothing are all of it (RFC 9110: a
			// suffix range of a non-zero length is satisfiable).
			return 0, 0, errIgnoreRange
		}
		suffix = min(suffix, size)
		return size - suffix, suffix, nil
	}
	a, ok := parse(first)
	if !ok {
		return fail("bad first byte")
	}
	if a >= size {
		return fail("first byte past the end")
	}
	if last == "" {
		return a, size - a, nil
	}
	b, ok := parse(last)
	if !ok {
		return fail("bad last byte")
	}
	if b < a {
		return fail("last byte before the first")
	}
	b = min(b, size-1)
	return a, b - a + 1, nil
}

// errIgnoreRange is a Range header the answer ignores: a unit other than
// bytes, or several ranges.
var errIgnoreRange = errors.New("the Range header is ignored")
