package shards

import (
	"errors"
	"fmt"
	"iter"
	"math"
	"strconv"
	"strings"

	"github.com/aisgo/aisgo/internal/pathsafe"
)

// MaxTemplateNames is the most names a bounded template may expand to, as in
// AIStore.
const MaxTemplateNames = 10_000_000

// maxWidth caps the zero-padding of a %0Nd template so that a hostile
// template cannot make every name gigabytes long.
const maxWidth = 255

// ErrInvalidTemplate marks every template syntax error; a *TemplateError
// carries the details.
var ErrInvalidTemplate = errors.New("shards: invalid template")

// ErrPrefixOnly is returned by Template.At for a template without ranges.
var ErrPrefixOnly = errors.New("shards: prefix-only template names no shard")

// TemplateError describes why a template does not parse.
type TemplateError struct {
	Template string
	Reason   string
}

func (e *TemplateError) Error() string {
	return fmt.Sprintf("invalid template %q: %s", e.Template, e.Reason)
}

// Unwrap returns ErrInvalidTemplate.
func (e *TemplateError) Unwrap() error { return ErrInvalidTemplate }

// Template is a parsed shard-name template. The zero value is the
// prefix-only template with an empty prefix. A Template is immutable and safe
// for concurrent use.
type Template struct {
	text    string
	prefix  string
	ranges  []templateRange
	count   int64 // names; MaxInt64 for an unbounded template
	bounded bool  // false for the fmt form
}

// templateRange is one range of a template: start, start+step, ... up to end,
// each value zero-padded to width and followed by gap.
type templateRange struct {
	start, end, step int64
	width            int
	gap              string
	count            int64 // values in the range
}

// ParseTemplate parses a shard-name template (see the package documentation).
// "" and "*" are prefix-only templates with an empty prefix, matching
// everything; a trailing "*" of any other prefix-only template is dropped.
//
// A template that contains a brace is a bash template and must be a valid
// one: unlike AIStore, which silently treats "a{1..2" as a prefix, an
// unbalanced brace is an error.
func ParseTemplate(s string) (Template, error) {
	return ParseTemplateOf(s, pathsafe.MaxNameLength)
}

// ParseTemplateOf is ParseTemplate of a template whose names may be up to
// most bytes long (a downloader's links: longer than an object's name).
func ParseTemplateOf(s string, most int) (Template, error) {
	switch {
	case s == "" || s == "*":
		return Template{text: s}, nil
	case strings.ContainsAny(s, "{}"):
		return parseBash(s, most)
	case strings.Contains(s, "@"):
		return parseAt(s, most)
	case strings.Count(s, "%") == 1:
		return parseFmt(s, most)
	}
	return Template{text: s, prefix: strings.TrimSuffix(s, "*")}, nil
}

// MustParseTemplate is ParseTemplate for templates known to be valid, such as
// constants in tests; it panics on an error.
func MustParseTemplate(s string) Template {
	t, err := ParseTemplate(s)
	if err != nil {
		panic(err)
	}
	return t
}

func invalid(s, format string, args ...any) error {
	return &TemplateError{Template: s, Reason: fmt.Sprintf(format, args...)}
}

// parseBash parses "pre{A..B[..S]}gap{C..D[..T]}suf".
func parseBash(s string, most int) (Template, error) {
	left := strings.IndexByte(s, '{')
	if left < 0 {
		return Template{}, invalid(s, "unbalanced braces: '}' without '{'")
	}
	if strings.IndexByte(s[:left], '}') >= 0 {
		return Template{}, invalid(s, "unbalanced braces: '}' before the first '{'")
	}
	t := Template{text: s, prefix: s[:left]}
	rest := s[left:]
	for len(rest) > 0 {
		// rest starts with '{'.
		right := strings.IndexByte(rest, '}')
		if right < 0 {
			return Template{}, invalid(s, "unbalanced braces: '{' without '}'")
		}
		inside := rest[1:right]
		if strings.IndexByte(inside, '{') >= 0 {
			return Template{}, invalid(s, "unbalanced braces: nested '{'")
		}
		r, err := parseBraces(s, inside)
		if err != nil {
			return Template{}, err
		}
		rest = rest[right+1:]
		next := strings.IndexByte(rest, '{')
		if next < 0 {
			next = len(rest)
		}
		r.gap = rest[:next]
		if strings.IndexByte(r.gap, '}') >= 0 {
			return Template{}, invalid(s, "unbalanced braces: '}' without '{'")
		}
		rest = rest[next:]
		t.ranges = append(t.ranges, r)
	}
	return t.finish(true, most)
}

// parseBraces parses "A..B" or "A..B..S", the inside of one pair of braces.
func parseBraces(s, inside string) (templateRange, error) {
	parts := strings.Split(inside, "..")
	if len(parts) < 2 || len(parts) > 3 {
		return templateRange{}, invalid(s, "range {%s} is not {start..end} or {start..end..step}", inside)
	}
	var numbers [3]int64
	numbers[2] = 1
	for i, p := range parts {
		n, err := parseNumber(s, p)
		if err != nil {
			return templateRange{}, err
		}
		numbers[i] = n
	}
	r := templateRange{
		start: numbers[0],
		end:   numbers[1],
		step:  numbers[2],
		width: min(len(parts[0]), len(parts[1])),
	}
	if r.start > r.end {
		return templateRange{}, invalid(s, "range {%s}: start %d is greater than end %d", inside, r.start, r.end)
	}
	if r.step <= 0 {
		return templateRange{}, invalid(s, "range {%s}: step must be positive", inside)
	}
	return r, nil
}

// parseNumber parses a non-negative decimal integer: digits only, no sign.
func parseNumber(s, p string) (int64, error) {
	if p == "" {
		return 0, invalid(s, "missing number")
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return 0, invalid(s, "%q is not a non-negative integer", p)
		}
	}
	n, err := strconv.ParseInt(p, 10, 64)
	if err != nil {
		return 0, invalid(s, "%q is out of range", p)
	}
	return n, nil
}

// parseAt parses "pre@NNNgap@MMMsuf": each @NNN is the range 0..NNN padded to
// len(NNN).
func parseAt(s string, most int) (Template, error) {
	at := strings.IndexByte(s, '@')
	t := Template{text: s, prefix: s[:at]}
	rest := s[at:]
	for len(rest) > 0 {
		// rest starts with '@'.
		digits := 1
		for digits < len(rest) && rest[digits] >= '0' && rest[digits] <= '9' {
			digits++
		}
		number := rest[1:digits]
		if number == "" {
			return Template{}, invalid(s, "'@' must be followed by digits, as in @0999")
		}
		end, err := parseNumber(s, number)
		if err != nil {
			return Template{}, err
		}
		rest = rest[digits:]
		next := strings.IndexByte(rest, '@')
		if next < 0 {
			next = len(rest)
		}
		t.ranges = append(t.ranges, templateRange{start: 0, end: end, step: 1, width: len(number), gap: rest[:next]})
		rest = rest[next:]
	}
	return t.finish(true, most)
}

// parseFmt parses "pre%dsuf" or "pre%0Ndsuf": the unbounded range 0, 1, ...
func parseFmt(s string, most int) (Template, error) {
	percent := strings.IndexByte(s, '%')
	verb := s[percent+1:]
	d := strings.IndexByte(verb, 'd')
	if d < 0 {
		return Template{}, invalid(s, "'%%' must be followed by d or 0Nd, as in %%06d")
	}
	width := 0
	if flags := verb[:d]; flags != "" {
		if len(flags) < 2 || flags[0] != '0' {
			return Template{}, invalid(s, "%%%sd: the width needs a leading 0, as in %%06d", flags)
		}
		n, err := parseNumber(s, flags[1:])
		if err != nil {
			return Template{}, err
		}
		if n > maxWidth {
			return Template{}, invalid(s, "width %d is over %d", n, maxWidth)
		}
		width = int(n)
	}
	t := Template{
		text:   s,
		prefix: s[:percent],
		ranges: []templateRange{{start: 0, end: math.MaxInt64 - 1, step: 1, width: width, gap: verb[d+1:]}},
	}
	return t.finish(false, most)
}

// finish computes the counts and checks the expansion limit of a bounded
// template, and that its names are at most most bytes long.
func (t Template) finish(bounded bool, most int) (Template, error) {
	t.count, t.bounded = 1, bounded
	// Every name must be one an object can have: a template of longer
	// names would only cost memory before it failed.
	longest := len(t.prefix)
	for _, r := range t.ranges {
		longest += max(r.width, len(strconv.FormatInt(r.end, 10))) + len(r.gap)
	}
	if longest > most {
		return Template{}, invalid(t.text, "names up to %d bytes long, over the limit of %d", longest, most)
	}
	for i := range t.ranges {
		r := &t.ranges[i]
		r.count = (r.end-r.start)/r.step + 1
		if t.count > math.MaxInt64/r.count {
			t.count = math.MaxInt64
		} else {
			t.count *= r.count
		}
	}
	if t.bounded && t.count > MaxTemplateNames {
		if t.count == math.MaxInt64 {
			return Template{}, invalid(t.text, "expands to more than %d names", int64(MaxTemplateNames))
		}
		return Template{}, invalid(t.text, "expands to %d names, over the limit of %d", t.count, int64(MaxTemplateNames))
	}
	return t, nil
}

// String returns the template as it was written.
func (t Template) String() string { return t.text }

// Prefix returns the text before the first range, or the whole prefix of a
// prefix-only template.
func (t Template) Prefix() string { return t.prefix }

// IsRange reports whether the template has ranges and so names shards; a
// prefix-only template selects by prefix instead.
func (t Template) IsRange() bool { return len(t.ranges) > 0 }

// Bounded reports whether the template names a finite, checked number of
// shards: false for the fmt form ("%06d"), which counts up without end and is
// only usable to name output shards.
func (t Template) Bounded() bool { return t.bounded && t.IsRange() }

// Count returns the number of names: 0 for a prefix-only template and
// math.MaxInt64 for an unbounded one.
func (t Template) Count() int64 {
	if !t.IsRange() {
		return 0
	}
	return t.count
}

// At returns the i-th name in expansion order, from 0, without iterating.
func (t Template) At(i int64) (string, error) {
	if !t.IsRange() {
		return "", fmt.Errorf("template %q: %w", t.text, ErrPrefixOnly)
	}
	if i < 0 || i >= t.count {
		return "", fmt.Errorf("template %q: index %d out of range [0, %d)", t.text, i, t.count)
	}
	values := make([]int64, len(t.ranges))
	for k := len(t.ranges) - 1; k >= 0; k-- {
		r := t.ranges[k]
		values[k] = r.start + (i%r.count)*r.step
		i /= r.count
	}
	return t.format(values), nil
}

// Unique reports whether a template's names are surely all different.
// Ranges joined by gaps of digits only (or none) run together in a name;
// of such a run, at most one range may print its values in more than one
// width (the run's length then tells where each value ends). A gap with
// another character ends a run. x{1..11}{1..11} is not unique: it names
// x111 twice (1 and 11, then 11 and 1); x{1..12}{01..31} is.
func (t Template) Unique() bool {
	varying := 0
	for _, r := range t.ranges {
		width := func(v int64) int { return max(r.width, len(strconv.FormatInt(v, 10))) }
		if width(r.start) != width(r.end) {
			varying++
		}
		if varying > 1 {
			return false
		}
		if strings.ContainsFunc(r.gap, func(c rune) bool { return c < '0' || c > '9' }) {
			varying = 0 // the run ends here
		}
	}
	return true
}

// Names yields every name in odometer order, the last range varying
// fastest. For an unbounded template it goes on until the caller stops.
// A prefix-only template yields nothing.
func (t Template) Names() iter.Seq[string] {
	return func(yield func(string) bool) {
		if !t.IsRange() {
			return
		}
		values := make([]int64, len(t.ranges))
		for k, r := range t.ranges {
			values[k] = r.start
		}
		for n := int64(0); n < t.count; n++ {
			if !yield(t.format(values)) {
				return
			}
			for k := len(t.ranges) - 1; k >= 0; k-- {
				r := t.ranges[k]
				if values[k] <= r.end-r.step {
					values[k] += r.step
					break
				}
				values[k] = r.start
			}
		}
	}
}

// format renders the name for one value per range.
func (t Template) format(values []int64) string {
	var b strings.Builder
	size := len(t.prefix)
	for _, r := range t.ranges {
		size += max(r.width, 19) + len(r.gap)
	}
	b.Grow(size)
	b.WriteString(t.prefix)
	var digits [20]byte
	for k, r := range t.ranges {
		d := strconv.AppendInt(digits[:0], values[k], 10)
		for pad := r.width - len(d); pad > 0; pad-- {
			b.WriteByte('0')
		}
		b.Write(d)
		b.WriteString(r.gap)
	}
	return b.String()
}
