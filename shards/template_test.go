package shards_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/shards"
)

func TestParseTemplate(t *testing.T) {
	tests := []struct {
		name     string
		template string
		count    int64
		first    []string // the first names, in order
		last     string   // the last name, when bounded
		isRange  bool
		bounded  bool
		prefix   string
	}{
		{
			name: "bash padded", template: "shard-{0000..0099}.tar", count: 100, isRange: true, bounded: true,
			first: []string{"shard-0000.tar", "shard-0001.tar"}, last: "shard-0099.tar", prefix: "shard-",
		},
		{
			// Pad width is min(len(A), len(B)): {0..99} is unpadded.
			name: "bash unpadded", template: "shard-{0..99}", count: 100, isRange: true, bounded: true,
			first: []string{"shard-0", "shard-1", "shard-2"}, last: "shard-99", prefix: "shard-",
		},
		{
			// {0000..1000} is 4 wide (reference §4).
			name: "bash four wide", template: "new-shard-{0000..1000}.tar.gz", count: 1001, isRange: true, bounded: true,
			first: []string{"new-shard-0000.tar.gz"}, last: "new-shard-1000.tar.gz", prefix: "new-shard-",
		},
		{
			name: "bash min width", template: "x{1..0010}", count: 10, isRange: true, bounded: true,
			first: []string{"x1", "x2"}, last: "x10", prefix: "x",
		},
		{
			name: "bash step", template: "{0..10..3}", count: 4, isRange: true, bounded: true,
			first: []string{"0", "3", "6", "9"}, last: "9",
		},
		{
			// AIStore's multi-range example: the last range varies fastest.
			name: "bash two ranges", template: "prefix-{00001..00010..2}-gap-{001..100..2}-suffix", count: 250, isRange: true, bounded: true,
			first: []string{"prefix-00001-gap-001-suffix", "prefix-00001-gap-003-suffix"},
			last:  "prefix-00009-gap-099-suffix", prefix: "prefix-",
		},
		{
			name: "bash odometer", template: "a{0..1}b{0..2}c", count: 6, isRange: true, bounded: true,
			first: []string{"a0b0c", "a0b1c", "a0b2c", "a1b0c", "a1b1c", "a1b2c"}, last: "a1b2c", prefix: "a",
		},
		{
			name: "bash single value", template: "only-{7..7}", count: 1, isRange: true, bounded: true,
			first: []string{"only-7"}, last: "only-7", prefix: "only-",
		},
		{
			name: "bash at the limit", template: "s-{1..10000000}", count: shards.MaxTemplateNames, isRange: true, bounded: true,
			first: []string{"s-1"}, last: "s-10000000", prefix: "s-",
		},
		{
			name: "at", template: "shard-@0099.tar", count: 100, isRange: true, bounded: true,
			first: []string{"shard-0000.tar", "shard-0001.tar"}, last: "shard-0099.tar", prefix: "shard-",
		},
		{
			// reference §4: @00100 gives 00000…00100.
			name: "at padded", template: "@00100", count: 101, isRange: true, bounded: true,
			first: []string{"00000", "00001"}, last: "00100",
		},
		{
			name: "at two ranges", template: "p-@1-g-@02-s", count: 6, isRange: true, bounded: true,
			first: []string{"p-0-g-00-s", "p-0-g-01-s", "p-0-g-02-s", "p-1-g-00-s"}, last: "p-1-g-02-s", prefix: "p-",
		},
		{
			name: "fmt padded", template: "shard-%06d.tar", count: math.MaxInt64, isRange: true, bounded: false,
			first: []string{"shard-000000.tar", "shard-000001.tar"}, prefix: "shard-",
		},
		{
			name: "fmt plain", template: "out-%d", count: math.MaxInt64, isRange: true, bounded: false,
			first: []string{"out-0", "out-1", "out-2"}, prefix: "out-",
		},
		{
			name: "fmt zero width", template: "o%00d", count: math.MaxInt64, isRange: true, bounded: false,
			first: []string{"o0", "o1"}, prefix: "o",
		},
		{name: "prefix only", template: "logs/2025/", prefix: "logs/2025/"},
		{name: "prefix wildcard", template: "logs/*", prefix: "logs/"},
		{name: "empty matches all", template: ""},
		{name: "star matches all", template: "*"},
		{
			// Two '%' is not an fmt template: AIStore takes it as a prefix.
			name: "two percent signs", template: "a%d%d", prefix: "a%d%d",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := shards.ParseTemplate(tc.template)
			if err != nil {
				t.Fatalf("ParseTemplate(%q): %v", tc.template, err)
			}
			if got := tmpl.String(); got != tc.template {
				t.Errorf("String() = %q, want %q", got, tc.template)
			}
			if got := tmpl.Count(); got != tc.count {
				t.Errorf("Count() = %d, want %d", got, tc.count)
			}
			if got := tmpl.IsRange(); got != tc.isRange {
				t.Errorf("IsRange() = %v, want %v", got, tc.isRange)
			}
			if got := tmpl.Bounded(); got != tc.bounded {
				t.Errorf("Bounded() = %v, want %v", got, tc.bounded)
			}
			if got := tmpl.Prefix(); got != tc.prefix {
				t.Errorf("Prefix() = %q, want %q", got, tc.prefix)
			}
			var got []string
			for name := range tmpl.Names() {
				if len(got) == len(tc.first) {
					break
				}
				got = append(got, name)
			}
			if !slices.Equal(got, tc.first) {
				t.Errorf("first names = %q, want %q", got, tc.first)
			}
			for i, want := range tc.first {
				if name, err := tmpl.At(int64(i)); err != nil || name != want {
					t.Errorf("At(%d) = %q, %v; want %q", i, name, err, want)
				}
			}
			if tc.last != "" {
				if name, err := tmpl.At(tc.count - 1); err != nil || name != tc.last {
					t.Errorf("At(Count-1) = %q, %v; want %q", name, err, tc.last)
				}
				if _, err := tmpl.At(tc.count); err == nil {
					t.Errorf("At(Count) succeeded")
				}
			}
			if !tc.isRange {
				if _, err := tmpl.At(0); !errors.Is(err, shards.ErrPrefixOnly) {
					t.Errorf("At(0) of a prefix-only template: %v, want ErrPrefixOnly", err)
				}
			}
		})
	}
}

func TestTemplateNamesMatchAt(t *testing.T) {
	for _, s := range []string{"a{0..1}b{0..2}c", "x-{005..100..7}/{0..3}.tar", "@03-@4", "{0..2}{0..2}{0..2}"} {
		tmpl := shards.MustParseTemplate(s)
		var i int64
		for name := range tmpl.Names() {
			at, err := tmpl.At(i)
			if err != nil || at != name {
				t.Fatalf("%s: At(%d) = %q, %v; Names gave %q", s, i, at, err, name)
			}
			i++
		}
		if i != tmpl.Count() {
			t.Errorf("%s: Names yielded %d names, Count() = %d", s, i, tmpl.Count())
		}
	}
}

func TestParseTemplateErrors(t *testing.T) {
	tests := []struct {
		template string
		reason   string // a substring of the error
	}{
		{"shard-{5..1}", "start 5 is greater than end 1"},
		{"shard-{0..10..0}", "step must be positive"},
		{"shard-{0..10", "'{' without '}'"},
		{"shard-0..10}", "'}' without '{'"},
		{"a}{0..1}", "'}' before the first '{'"},
		{"a{0..1}}b", "'}' without '{'"},
		{"a{{0..1}}", "nested"},
		{"shard-{a..z}", `"a" is not a non-negative integer`},
		{"shard-{-1..5}", `"-1" is not a non-negative integer`},
		{"shard-{+1..5}", `"+1" is not a non-negative integer`},
		{"shard-{1.5..5}", `"1.5" is not a non-negative integer`},
		{"shard-{1..2..3..4}", "is not {start..end}"},
		{"shard-{0..5..}", "missing number"},
		{"shard-{}", "is not {start..end}"},
		{"shard-{0..99999999999999999999}", "out of range"},
		{"shard-{0..10000000}", "expands to 10000001 names, over the limit of 10000000"},
		{"{0..9999}{0..9999}", "over the limit"},
		{"{0..9223372036854775806}{0..9223372036854775806}", "more than 10000000 names"},
		{"user@host", "'@' must be followed by digits"},
		{"shard-@", "'@' must be followed by digits"},
		{"shard-%5d", "the width needs a leading 0"},
		{"shard-%0d", "the width needs a leading 0"},
		{"shard-%s", "'%' must be followed by d"},
		{"50%-off", "'%' must be followed by d"},
		{"shard-%0999d", "width 999 is over 255"},
		// Names no object can have: a long prefix, wide zero padding.
		{strings.Repeat("p", 1030) + "-{0..9}", "names up to 1032 bytes long, over the limit of 1024"},
		{"s-@" + strings.Repeat("0", 1100) + "9", "over the limit of 1024"},
	}
	for _, tc := range tests {
		t.Run(tc.template, func(t *testing.T) {
			_, err := shards.ParseTemplate(tc.template)
			if err == nil {
				t.Fatalf("ParseTemplate(%q) succeeded", tc.template)
			}
			if !errors.Is(err, shards.ErrInvalidTemplate) {
				t.Errorf("error %v is not ErrInvalidTemplate", err)
			}
			te, ok := errors.AsType[*shards.TemplateError](err)
			if !ok || te.Template != tc.template {
				t.Errorf("error %v is not a *TemplateError for %q", err, tc.template)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not say %q", err, tc.reason)
			}
		})
	}
}

// FuzzParseTemplate checks that parsing never panics and that a parsed
// template is consistent: String round-trips, At agrees with Names, Count
// bounds both.
func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{
		"shard-{0000..0099}.tar", "a{0..1}b{0..2}c", "{0..10..3}", "p-@1-g-@02-s", "shard-%06d.tar",
		"out-%d", "logs/", "", "*", "{5..1}", "{0..1", "a}", "@", "%", "a%d%d", "x{1..0010}",
		"{0..9223372036854775806}", "%0255d",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tmpl, err := shards.ParseTemplate(s)
		if err != nil {
			if !errors.Is(err, shards.ErrInvalidTemplate) {
				t.Fatalf("error %v is not ErrInvalidTemplate", err)
			}
			return
		}
		if tmpl.String() != s {
			t.Fatalf("String() = %q, want %q", tmpl.String(), s)
		}
		again, err := shards.ParseTemplate(tmpl.String())
		if err != nil || again.Count() != tmpl.Count() {
			t.Fatalf("reparse: %v, count %d vs %d", err, again.Count(), tmpl.Count())
		}
		if !tmpl.IsRange() {
			if tmpl.Count() != 0 || tmpl.Bounded() {
				t.Fatalf("prefix-only: Count %d, Bounded %v", tmpl.Count(), tmpl.Bounded())
			}
			for range tmpl.Names() {
				t.Fatal("prefix-only template yields names")
			}
			return
		}
		count := tmpl.Count()
		if count < 1 || tmpl.Bounded() && count > shards.MaxTemplateNames {
			t.Fatalf("Count() = %d", count)
		}
		var i int64
		for name := range tmpl.Names() {
			if i == 64 {
				break
			}
			at, err := tmpl.At(i)
			if err != nil || at != name {
				t.Fatalf("At(%d) = %q, %v; Names gave %q", i, at, err, name)
			}
			if !strings.HasPrefix(name, tmpl.Prefix()) {
				t.Fatalf("name %q lacks prefix %q", name, tmpl.Prefix())
			}
			i++
		}
		if i < 64 && i != count {
			t.Fatalf("Names yielded %d, Count() = %d", i, count)
		}
		if _, err := tmpl.At(count - 1); err != nil {
			t.Fatalf("At(Count-1): %v", err)
		}
		if count < math.MaxInt64 {
			if _, err := tmpl.At(count); err == nil {
				t.Fatal("At(Count) succeeded")
			}
		}
	})
}

// A template whose ranges could run together names some shards twice.
func TestTemplateUnique(t *testing.T) {
	for text, want := range map[string]bool{
		"x{1..11}.tar":                true,
		"x{01..11}{1..11}.tar":        true,
		"x{1..9}{1..11}.tar":          true,
		"x{1..11}-{1..11}.tar":        true,
		"x{1..11}{1..11}.tar":         false,
		"x{1..11}00{1..11}.tar":       false,
		"x{1..12}{01..31}.tar":        true,
		"x{0..99}{0..9}.tar":          true,
		"x{1..11}-{1..11}{1..11}.tar": false,
	} {
		tmpl, err := shards.ParseTemplate(text)
		if err != nil {
			t.Fatal(err)
		}
		if got := tmpl.Unique(); got != want {
			t.Errorf("%s: unique %v, want %v", text, got, want)
		}
		if !want {
			continue
		}
		seen := map[string]bool{}
		for name := range tmpl.Names() {
			if seen[name] {
				t.Fatalf("%s names %s twice but was judged unique", text, name)
			}
			seen[name] = true
		}
	}
}

// A content key's surrounding white space is all of Unicode's, as the
// single-process reference (strings.TrimSpace) takes it: "7\v" is 7 on
// any number of targets.
func TestParseKeyTrimsAllWhiteSpace(t *testing.T) {
	for content, want := range map[string]int64{"7\v": 7, "\f 8\u00a0": 8, " 9\n": 9} {
		k, err := shards.ParseKey(shards.KeyInt, []byte(content))
		if err != nil || k.Int != want {
			t.Errorf("%q: %+v %v, want %d", content, k, err, want)
		}
	}
}

// A float content key is a finite decimal number: NaN (which sorts before
// everything and equals nothing), infinities and hex floats are refused,
// and -0 is the key 0, to a key map as to the order.
func TestFloatKeysAreFiniteDecimals(t *testing.T) {
	for _, bad := range []string{"NaN", "nan", "Inf", "-infinity", "0x1p3", "1e400"} {
		if k, err := shards.ParseKey(shards.KeyFloat, []byte(bad)); err == nil {
			t.Errorf("float key %q: %+v, want refused", bad, k)
		}
	}
	zero, err := shards.ParseKey(shards.KeyFloat, []byte("-0"))
	if err != nil || zero.Text() != "0" || math.Signbit(zero.Float) {
		t.Fatalf("-0: %q %v, want the key 0", zero.Text(), err)
	}
}

// A template of names longer than an object's (a downloader's links) is
// taken up to the length asked for, and only so.
func TestTemplateOfLongerNames(t *testing.T) {
	long := "https://host/f-{0..9}?sig=" + strings.Repeat("s", 2000)
	if _, err := shards.ParseTemplate(long); err == nil {
		t.Fatal("a template of 2 KiB names taken as object names")
	}
	tmpl, err := shards.ParseTemplateOf(long, 8<<10)
	if err != nil || tmpl.Count() != 10 {
		t.Fatalf("a template of 2 KiB links: %v, %d names", err, tmpl.Count())
	}
}
