package shards

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Size units, powers of 1024.
const (
	KiB int64 = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
	PiB
	EiB
)

// ErrInvalidSize marks every size syntax error; a *SizeError carries the
// details.
var ErrInvalidSize = errors.New("shards: invalid size")

// SizeError describes why a string is not a size.
type SizeError struct {
	Input  string
	Reason string
}

func (e *SizeError) Error() string { return fmt.Sprintf("%q is not a size: %s", e.Input, e.Reason) }

// Unwrap returns ErrInvalidSize.
func (e *SizeError) Unwrap() error { return ErrInvalidSize }

// sizeUnits maps an upper-case unit to its multiplier. As in AIStore, "KB"
// means KiB: every unit is a power of 1024.
var sizeUnits = map[string]int64{
	"": 1, "B": 1,
	"K": KiB, "KB": KiB, "KIB": KiB,
	"M": MiB, "MB": MiB, "MIB": MiB,
	"G": GiB, "GB": GiB, "GIB": GiB,
	"T": TiB, "TB": TiB, "TIB": TiB,
	"P": PiB, "PB": PiB, "PIB": PiB,
	"E": EiB, "EB": EiB, "EIB": EiB,
}

// ParseSize parses a size the way AIStore does: a non-negative decimal
// number, optionally with a fraction, then an optional unit (B, K/KB/KiB, M,
// G, T, P, E and their B/iB forms, case-insensitive, all powers of 1024),
// with optional spaces between. "10KB" is 10240 bytes, "1.5GiB" is
// 1610612736; a fraction of a byte is dropped. "" is 0, as in AIStore.
func ParseSize(s string) (int64, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return 0, nil
	}
	end := 0
	for end < len(text) && (text[end] >= '0' && text[end] <= '9' || text[end] == '.') {
		end++
	}
	number, unit := text[:end], strings.ToUpper(strings.TrimSpace(text[end:]))
	multiplier, ok := sizeUnits[unit]
	if !ok {
		return 0, &SizeError{Input: s, Reason: fmt.Sprintf("unknown unit %q (use B, KiB, MiB, GiB, TiB, PiB or EiB)", text[end:])}
	}
	whole, fraction, hasFraction := strings.Cut(number, ".")
	if whole == "" && fraction == "" || strings.Contains(fraction, ".") {
		return 0, &SizeError{Input: s, Reason: "expecting a number such as 10, 1.5 or 100KiB"}
	}
	if !hasFraction {
		n, err := strconv.ParseInt(whole, 10, 64)
		if err != nil || n > math.MaxInt64/multiplier {
			return 0, &SizeError{Input: s, Reason: "too large"}
		}
		return n * multiplier, nil
	}
	f, err := strconv.ParseFloat(whole+"."+fraction+"0", 64)
	if err != nil {
		return 0, &SizeError{Input: s, Reason: "expecting a number such as 10, 1.5 or 100KiB"}
	}
	bytes := f * float64(multiplier)
	if bytes >= math.MaxInt64 {
		return 0, &SizeError{Input: s, Reason: "too large"}
	}
	return int64(bytes), nil
}

// FormatSize prints a size for humans in the largest IEC unit not above it,
// with at most two decimals: 10240 is "10KiB", 1610612736 is "1.5GiB", 1000
// is "1000B". It is exact when the size is a whole number of its unit;
// otherwise ParseSize(FormatSize(n)) is within 0.5% of n, plus the byte
// that ParseSize drops with the fraction (1% from 1 EiB up, where it rounds
// down so as not to pass MaxInt64). Negative sizes print as negative.
func FormatSize(n int64) string {
	if n < 0 {
		if n == math.MinInt64 {
			return "-8EiB"
		}
		return "-" + FormatSize(-n)
	}
	units := [...]struct {
		size int64
		name string
	}{{EiB, "EiB"}, {PiB, "PiB"}, {TiB, "TiB"}, {GiB, "GiB"}, {MiB, "MiB"}, {KiB, "KiB"}}
	for _, u := range units {
		if n < u.size {
			continue
		}
		if n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
		var s string
		if u.size == EiB {
			// Round down in integers: rounding up could pass MaxInt64.
			s = fmt.Sprintf("%d.%02d", n/EiB, min(99, n%EiB/(EiB/100)))
		} else {
			s = strconv.FormatFloat(float64(n)/float64(u.size), 'f', 2, 64)
		}
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		return s + u.name
	}
	return strconv.FormatInt(n, 10) + "B"
}

// ParseMemUsage reads a memory budget as dSort takes it: "N%" with N in
// (0, 100] (percent set), or a positive size as ParseSize reads it
// (bytes set). The config and the spec check it the same way.
func ParseMemUsage(s string) (percent float64, bytes int64, err error) {
	if p, ok := strings.CutSuffix(strings.TrimSpace(s), "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v <= 0 || v > 100 || math.IsNaN(v) {
			return 0, 0, fmt.Errorf("%q is not a percentage in (0, 100]", s)
		}
		return v, 0, nil
	}
	v, err := ParseSize(s)
	if err != nil || v <= 0 {
		return 0, 0, fmt.Errorf("%q is neither a percentage like \"60%%\" nor a size", s)
	}
	return 0, v, nil
}
