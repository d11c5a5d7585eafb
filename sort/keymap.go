package sort

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"

	"github.com/aisgo/aisgo/shards"
)

// KeyMap is an external key map (EKM): regular expressions over record
// keys, each leading to a shard-name template. An expression matches
// anywhere in a key, as Go's (and AIStore's) MatchString does: "cat"
// matches "cat_0.txt"; anchor it (^cat_0\.txt$) to match one key. A
// record's key must match the expressions of exactly one template.
type KeyMap struct {
	// entries are the expressions; literals the keys that are plain
	// strings (most maps), found in a key by its substrings of their
	// lengths: their template, or conflicting when one names two.
	entries        []keyMapEntry
	literals       map[string]int
	literalLengths []int // distinct, ascending
	// templates holds each distinct template once, in first-seen order.
	templates []shards.Template
	byText    map[string]int
}

// conflicting marks a literal key of entries of different templates.
const conflicting = -1

// MaxKeyMapEntries bounds a key map: each expression is matched against
// every record's key.
const MaxKeyMapEntries = 100_000

type keyMapEntry struct {
	pattern  *regexp.Regexp
	template int // index into templates
}

// maxPatternProgram bounds one key's regular expression, and
// maxKeyMapPrograms a key map's, in instructions of their programs (tens
// of bytes each, matched against every record's key): a key spelled out
// (^class_a/img_000123\.jpg$) is about 30.
const (
	maxPatternProgram = 10_000
	maxKeyMapPrograms = 64 * MaxKeyMapEntries
)

// programSize bounds the instructions pattern compiles to, from its parse
// tree alone: nothing is compiled for a pattern past maxPatternProgram
// (maxPatternProgram+1 then).
func programSize(pattern string) (int, error) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return 0, err
	}
	// A program's own instructions: its start (a fail) and match.
	return min(programBound(re, maxPatternProgram)+2, maxPatternProgram+1), nil
}

// programBound is at least the instructions re compiles to (as
// regexp/syntax's Simplify and Compile make them), or limit+1 when that
// is more than limit.
func programBound(re *syntax.Regexp, limit int) int {
	sub := func(i int) int { return programBound(re.Sub[i], limit) }
	var n int
	switch re.Op {
	case syntax.OpLiteral:
		n = max(len(re.Rune), 1)
	case syntax.OpCapture, syntax.OpStar:
		n = sub(0) + 2
	case syntax.OpPlus, syntax.OpQuest:
		n = sub(0) + 1
	case syntax.OpRepeat:
		// x{n,m}: m copies and m-n branches; x{n,}: n copies and a
		// loop (a star for n = 0); x{0}: an empty match.
		each, copies, more := sub(0), re.Max, re.Max-re.Min
		switch {
		case re.Max < 0 && re.Min == 0:
			copies, more = 1, 1
		case re.Max < 0:
			copies, more = re.Min, 1
		case re.Max == 0:
			copies, more = 0, 1
		}
		if copies > 0 && each > (limit+1)/copies {
			return limit + 1
		}
		n = each*copies + more + 1
	case syntax.OpConcat, syntax.OpAlternate:
		n = max(len(re.Sub), 1)
		for i := range re.Sub {
			if n += sub(i); n > limit {
				return limit + 1
			}
		}
	default: // a class, any char, an empty match, a position
		n = 1
	}
	return min(n, limit+1)
}

// decodeKeyMapJSON reads {"template": ["regex", ...], ...}, counting the
// keys as it goes: a map past MaxKeyMapEntries is refused before it is
// all in memory. A template given twice keeps its last list, as JSON
// decoding does.
func decodeKeyMapJSON(data []byte) (map[string][]string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	expect := func(want json.Delim) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if tok != want {
			return fmt.Errorf("want %q, got %v", want, tok)
		}
		return nil
	}
	if err := expect('{'); err != nil {
		return nil, err
	}
	m := map[string][]string{}
	count := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("want a template, got %v", tok)
		}
		// A list given before for the template is replaced, as JSON
		// decoding does: its entries no longer count.
		count -= len(m[name])
		patterns, err := decodePatterns(dec, &count)
		if err != nil {
			return nil, fmt.Errorf("template %q: %w", name, err)
		}
		m[name] = patterns
	}
	if err := expect('}'); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the key map's object")
	}
	return m, nil
}

// decodePatterns reads a template's list of expressions (null is none),
// counting them into count.
func decodePatterns(dec *json.Decoder, count *int) ([]string, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, nil
	}
	if tok != json.Delim('[') {
		return nil, fmt.Errorf("want a list of expressions, got %v", tok)
	}
	var patterns []string
	for dec.More() {
		var pattern string
		if err := dec.Decode(&pattern); err != nil {
			return nil, err
		}
		if *count++; *count > MaxKeyMapEntries {
			return nil, fmt.Errorf("more than %d entries: keys of a pattern in one entry are cheaper", MaxKeyMapEntries)
		}
		patterns = append(patterns, pattern)
	}
	tok, err = dec.Token()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim(']') {
		return nil, fmt.Errorf("want the list's end, got %v", tok)
	}
	return patterns, nil
}

// KeyMapFormat is how an EKM file is written.
type KeyMapFormat int

// Formats of an EKM: JSON {"template": ["regex", ...]} or text lines
// "regex<sep>template".
const (
	KeyMapJSON KeyMapFormat = iota
	KeyMapText
)

// errKeyMapLimit is a key map past its bounds (entries, instructions):
// not a malformed line.
var errKeyMapLimit = errors.New("the key map is too large")

// ParseKeyMap reads an external key map. onMalformed is called for a text
// line that cannot be read; returning an error stops parsing with it,
// returning nil skips the line.
func ParseKeyMap(data []byte, format KeyMapFormat, sep string, onMalformed func(line int, err error) error) (*KeyMap, error) {
	km := &KeyMap{literals: map[string]int{}, byText: map[string]int{}}
	count, programs := 0, 0
	add := func(pattern, template string) error {
		if count == MaxKeyMapEntries {
			return fmt.Errorf("%w: more than %d entries: keys of a pattern in one entry are cheaper", errKeyMapLimit, MaxKeyMapEntries)
		}
		index, ok := km.byText[template]
		if !ok {
			t, err := shards.ParseTemplate(template)
			if err != nil {
				return fmt.Errorf("template %q: %w", template, err)
			}
			if !t.IsRange() {
				return fmt.Errorf("template %q names no shards: it needs a range like {0..99}, @99 or %%04d", template)
			}
			index = len(km.templates)
			km.templates = append(km.templates, t)
			km.byText[template] = index
		}
		if regexp.QuoteMeta(pattern) == pattern {
			if old, seen := km.literals[pattern]; seen && old != index {
				index = conflicting
			}
			km.literals[pattern] = index
			if i, found := slices.BinarySearch(km.literalLengths, len(pattern)); !found {
				km.literalLengths = slices.Insert(km.literalLengths, i, len(pattern))
			}
			count++
			return nil
		}
		// Its program is sized before it is built: a short pattern of
		// nested repeats compiles to millions of instructions.
		size, err := programSize(pattern)
		if err != nil {
			return fmt.Errorf("key %q is not a regular expression: %w", pattern, err)
		}
		if size > maxPatternProgram {
			return fmt.Errorf("key %q is a regular expression of %d instructions, more than %d: write it simpler", pattern, size, maxPatternProgram)
		}
		if programs+size > maxKeyMapPrograms {
			return fmt.Errorf("%w: the key map's regular expressions make more than %d instructions: use fewer, or literal keys", errKeyMapLimit, maxKeyMapPrograms)
		}
		re, err := regexp.Compile(pattern)
		if err != nil {
			return fmt.Errorf("key %q is not a regular expression: %w", pattern, err)
		}
		km.entries = append(km.entries, keyMapEntry{pattern: re, template: index})
		count, programs = count+1, programs+size
		return nil
	}
	switch format {
	case KeyMapJSON:
		m, err := decodeKeyMapJSON(data)
		if err != nil {
			return nil, fmt.Errorf("%w: JSON: %w", ErrKeyMap, err)
		}
		names := make([]string, 0, len(m))
		for name := range m {
			names = append(names, name)
		}
		slices.Sort(names) // map order is random; keep the parse deterministic
		for _, name := range names {
			for _, pattern := range m[name] {
				if err := add(pattern, name); err != nil {
					return nil, fmt.Errorf("%w: %w", ErrKeyMap, err)
				}
			}
		}
	case KeyMapText:
		if sep == "" {
			sep = "\t"
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for line := 1; sc.Scan(); line++ {
			text := strings.TrimSpace(sc.Text())
			if text == "" {
				continue
			}
			pattern, template, ok := strings.Cut(text, sep)
			var err error
			if !ok || pattern == "" || strings.TrimSpace(template) == "" {
				err = fmt.Errorf("line %d %q: want KEY%sTEMPLATE", line, text, strings.ReplaceAll(sep, "\t", `\t`))
			} else {
				err = add(strings.TrimSpace(pattern), strings.TrimSpace(template))
				if err != nil {
					err = fmt.Errorf("line %d: %w", line, err)
				}
			}
			// A map past its bounds is refused whole, whatever is done
			// with malformed lines: those after would be dropped too.
			if errors.Is(err, errKeyMapLimit) {
				return nil, fmt.Errorf("%w: %w", ErrKeyMap, err)
			}
			if err != nil {
				if err := onMalformed(line, err); err != nil {
					return nil, fmt.Errorf("%w: %w", ErrKeyMap, err)
				}
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKeyMap, err)
		}
	}
	if len(km.entries) == 0 && len(km.literals) == 0 {
		return nil, fmt.Errorf("%w: no entries", ErrKeyMap)
	}
	return km, nil
}

// Templates returns the key map's shard-name templates, each once.
func (km *KeyMap) Templates() []shards.Template { return km.templates }

// lookup returns the template index for a key, or an error when the key
// matches no entry or entries of different templates.
// quoted is a key as a message shows it: its first 256 bytes (a key
// may be a MiB long).
func quoted(key string) string {
	if len(key) > 256 {
		return key[:256] + "..."
	}
	return key
}

func (km *KeyMap) lookup(ctx context.Context, key string) (int, error) {
	found := -1
	// The literals in the key: its substrings of their lengths. A long
	// key against many lengths and patterns is long work: an abort
	// stops it.
	for _, n := range km.literalLengths {
		if err := ctx.Err(); err != nil {
			return -1, context.Cause(ctx)
		}
		for i := 0; i+n <= len(key); i++ {
			index, ok := km.literals[key[i:i+n]]
			switch {
			case !ok:
				continue
			case index == conflicting:
				return -1, fmt.Errorf("%w: key %q holds %q, which is in entries of different templates", ErrKeyMap, quoted(key), quoted(key[i:i+n]))
			case found >= 0 && found != index:
				return -1, fmt.Errorf("%w: key %q matches templates %q and %q", ErrKeyMap, quoted(key), km.templates[found].String(), km.templates[index].String())
			}
			found = index
		}
	}
	for i, e := range km.entries {
		if i%64 == 0 && ctx.Err() != nil {
			return -1, context.Cause(ctx)
		}
		if !e.pattern.MatchString(key) {
			continue
		}
		if found >= 0 && found != e.template {
			return -1, fmt.Errorf("%w: key %q matches templates %q and %q", ErrKeyMap, quoted(key), km.templates[found].String(), km.templates[e.template].String())
		}
		found = e.template
	}
	if found < 0 {
		return -1, fmt.Errorf("%w: key %q matches no entry", ErrKeyMap, quoted(key))
	}
	return found, nil
}

// PartitionByKeyMap cuts ordered records into shards by the key map: each
// template fills its own shards, in the records' order, a new one starting
// once the current one exceeds size. Names are used as the templates give
// them. onMissing decides about a record whose key matches no entry (or
// several): an error stops; nil leaves the record out.
func PartitionByKeyMap(ctx context.Context, records []shards.RecordMeta, size int64, km *KeyMap, onMissing func(error) error) ([]shards.OutputShard, error) {
	if size <= 0 {
		return nil, fmt.Errorf("%w: output_shard_size is required with an external key map", ErrKeyMap)
	}
	var out []shards.OutputShard
	open := make([]int, len(km.templates)) // index in out of each template's open shard, or -1
	used := make([]int64, len(km.templates))
	for i := range open {
		open[i] = -1
	}
	for _, r := range records {
		t, err := km.lookup(ctx, r.Key.Text())
		if ctx.Err() != nil {
			return nil, context.Cause(ctx) // (not a key's miss)
		}
		if err != nil {
			if err := onMissing(err); err != nil {
				return nil, err
			}
			continue
		}
		if open[t] < 0 {
			tmpl := km.templates[t]
			if tmpl.Bounded() && used[t] >= tmpl.Count() {
				return nil, fmt.Errorf("%w: template %q names %d shards, and more are needed", ErrTooFewNames, tmpl.String(), tmpl.Count())
			}
			name, err := tmpl.At(used[t])
			if err != nil {
				return nil, err
			}
			used[t]++
			open[t] = len(out)
			out = append(out, shards.OutputShard{Name: name})
		}
		s := &out[open[t]]
		s.Records = append(s.Records, r)
		s.Size += r.Size
		// A new shard once this one exceeds the size (AIStore's EKM;
		// template mode cuts at the size).
		if s.Size > size {
			open[t] = -1
		}
	}
	return out, nil
}
