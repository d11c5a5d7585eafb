package reference

import (
	"bytes"
	"cmp"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/shards"
	"github.com/aisgo/aisgo/sort"
)

type file struct {
	name string
	data []byte
	raw  []byte // the whole tar entry, when the input is an uncompressed tar
	ext  string
	pos  int
}

type record struct {
	shard, index int
	name         string
	// first is the name of the record's first file, dropped since or
	// not (a later duplicate wins): the record's key, as AIStore's.
	first string
	files []file
	key   shards.Key
	size  int64
}

// Run reshards inputs (shard name -> bytes) as spec says, with the given
// seed, and returns the output shards (name -> bytes). keyMap is the
// content of the spec's ekm_file, if any.
func Run(spec pipeline.Spec, seed int64, inputs map[string][]byte, keyMap []byte) (map[string][]byte, error) {
	registry := formats.Default()
	plan, err := spec.Validate(registry)
	if err != nil {
		return nil, err
	}
	var records []record
	for i, name := range plan.InputShards(registry).All() {
		data, ok := inputs[name]
		if !ok {
			if plan.Reactions.MissingShards == pipeline.ReactAbort {
				return nil, fmt.Errorf("input shard %s does not exist", name)
			}
			continue
		}
		rs, err := readShard(plan, i, name, data)
		if err != nil {
			return nil, err
		}
		records = append(records, rs...)
	}
	order(records, plan, seed)
	groups, err := cut(records, plan, keyMap)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, g := range groups {
		data, err := write(plan, g.records)
		if err != nil {
			return nil, err
		}
		out[g.name] = data
	}
	return out, nil
}

func readShard(plan *pipeline.Plan, index int, name string, data []byte) ([]record, error) {
	rd, err := plan.InputFormat.NewReader(bytes.NewReader(data), int64(len(data)), name)
	if err != nil {
		return nil, err
	}
	byName := map[string]int{}
	var records []record
	pos := 0
	for {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		content, err := io.ReadAll(rd)
		if err != nil {
			return nil, err
		}
		f := file{name: e.Name, data: content, pos: pos}
		pos++
		if plan.InputFormat.Offsets() && !e.Rewrite {
			f.raw = data[e.HeaderOffset : e.HeaderOffset+e.RawSize()]
		}
		var recordName string
		recordName, f.ext = shards.SplitName(e.Name)
		i, ok := byName[recordName]
		if !ok {
			i = len(records)
			byName[recordName] = i
			records = append(records, record{shard: index, index: i, name: recordName, first: e.Name})
		}
		r := &records[i]
		if dup := slices.IndexFunc(r.files, func(x file) bool { return x.ext == f.ext }); dup >= 0 {
			if plan.Reactions.DuplicatedRecords == pipeline.ReactAbort {
				return nil, fmt.Errorf("shard %s: duplicate %s%s", name, recordName, f.ext)
			}
			r.files = slices.Delete(r.files, dup, dup+1) // the later file wins
		}
		r.files = append(r.files, f)
	}
	for i := range records {
		r := &records[i]
		for _, f := range r.files {
			r.size += 512 + (int64(len(f.data))+511)/512*512
		}
		if plan.KeyExtension == "" {
			r.key = shards.Key{String: r.first}
			if plan.Algorithm.Kind == sort.MD5 {
				sum := md5.Sum([]byte(r.first))
				r.key = shards.Key{String: hex.EncodeToString(sum[:])}
			}
			continue
		}
		k := slices.IndexFunc(r.files, func(f file) bool { return f.ext == plan.KeyExtension })
		if k < 0 {
			return nil, fmt.Errorf("record %s of shard %s: key is missing", r.name, name)
		}
		key, err := parseKey(plan.KeyKind, r.files[k].data)
		if err != nil {
			return nil, err
		}
		r.key = key
	}
	return records, nil
}

func parseKey(kind shards.KeyKind, data []byte) (shards.Key, error) {
	s := strings.TrimSpace(string(data))
	switch kind {
	case shards.KeyInt:
		v, err := strconv.ParseInt(s, 10, 64)
		return shards.Key{Kind: kind, Int: v}, err
	case shards.KeyFloat:
		v, err := strconv.ParseFloat(s, 64)
		if err == nil && (math.IsNaN(v) || math.IsInf(v, 0) || strings.ContainsAny(s, "xX")) {
			err = fmt.Errorf("content key %q is not a finite decimal number", s)
		}
		if v == 0 {
			v = math.Abs(v) // -0
		}
		return shards.Key{Kind: kind, Float: v}, err
	}
	return shards.Key{Kind: kind, String: s}, nil
}

func compareKeys(a, b shards.Key) int {
	switch a.Kind {
	case shards.KeyInt:
		return cmp.Compare(a.Int, b.Int)
	case shards.KeyFloat:
		return cmp.Compare(a.Float, b.Float)
	}
	return strings.Compare(a.String, b.String)
}

// order sorts records as the spec says: input order for none and before a
// shuffle; by key, ties by input order, otherwise.
func order(records []record, plan *pipeline.Plan, seed int64) {
	inputOrder := func(a, b record) int {
		if c := cmp.Compare(a.shard, b.shard); c != 0 {
			return c
		}
		return cmp.Compare(a.index, b.index)
	}
	switch plan.Algorithm.Kind {
	case sort.None, sort.Shuffle:
		slices.SortStableFunc(records, inputOrder)
		if plan.Algorithm.Kind == sort.Shuffle {
			// Fisher-Yates driven by PCG(seed, 0x9e3779b97f4a7c15), as specified.
			rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
			rng.Shuffle(len(records), func(i, j int) { records[i], records[j] = records[j], records[i] })
		}
	default:
		slices.SortStableFunc(records, func(a, b record) int {
			c := compareKeys(a.key, b.key)
			if plan.Algorithm.Decreasing {
				c = -c
			}
			if c != 0 {
				return c
			}
			return inputOrder(a, b)
		})
	}
}

type group struct {
	name    string
	records []record
	size    int64
}

// cut groups ordered records into shards.
func cut(records []record, plan *pipeline.Plan, keyMap []byte) ([]group, error) {
	if plan.Spec.EKMFile != "" {
		return cutByKeyMap(records, plan, keyMap)
	}
	size := plan.ShardSize
	if size == 0 {
		var total int64
		for _, r := range records {
			total += r.size
		}
		size = max(1, (total+plan.OutputTemplate.Count()-1)/plan.OutputTemplate.Count())
	}
	var out []group
	var g group
	for i, r := range records {
		g.records = append(g.records, r)
		g.size += r.size
		if g.size >= size || i == len(records)-1 {
			name, err := plan.OutputTemplate.At(int64(len(out)))
			if err != nil {
				return nil, err
			}
			g.name = name + plan.OutputSuffix
			out = append(out, g)
			g = group{}
		}
	}
	return out, nil
}

// cutByKeyMap follows the JSON form of an external key map: each record
// goes to the one template whose expressions match its key.
func cutByKeyMap(records []record, plan *pipeline.Plan, keyMap []byte) ([]group, error) {
	var m map[string][]string
	if err := json.Unmarshal(keyMap, &m); err != nil {
		return nil, fmt.Errorf("reference supports JSON key maps only: %w", err)
	}
	type entry struct {
		re       *regexp.Regexp
		template string
	}
	var entries []entry
	for template, patterns := range m {
		for _, p := range patterns {
			entries = append(entries, entry{regexp.MustCompile(p), template}) // matches anywhere, as AIStore's
		}
	}
	open := map[string]int{} // template -> index in out of its open shard
	used := map[string]int64{}
	var out []group
	for _, r := range records {
		templates := map[string]bool{}
		for _, e := range entries {
			if e.re.MatchString(r.key.Text()) {
				templates[e.template] = true
			}
		}
		if len(templates) != 1 {
			if plan.Reactions.EKMMissingKey == pipeline.ReactAbort {
				return nil, fmt.Errorf("key %q matches %d templates", r.key.Text(), len(templates))
			}
			continue
		}
		var template string
		for t := range templates {
			template = t
		}
		i, ok := open[template]
		if !ok {
			t := shards.MustParseTemplate(template)
			name, err := t.At(used[template])
			if err != nil {
				return nil, err
			}
			used[template]++
			i = len(out)
			open[template] = i
			out = append(out, group{name: name})
		}
		out[i].records = append(out[i].records, r)
		out[i].size += r.size
		if out[i].size > plan.ShardSize { // exceeds, as AIStore's EKM
			delete(open, template)
		}
	}
	return out, nil
}

// write encodes one output shard; tar entries of a tar input are copied
// raw when the output writer can take them.
func write(plan *pipeline.Plan, records []record) ([]byte, error) {
	var buf bytes.Buffer
	w, err := plan.OutputFormat.NewWriter(&buf)
	if err != nil {
		return nil, err
	}
	raw, canRaw := w.(formats.RawWriter)
	for _, r := range records {
		for _, f := range r.files {
			if f.raw != nil && canRaw {
				if err := raw.WriteRaw(bytes.NewReader(f.raw), int64(len(f.raw))); err != nil {
					return nil, err
				}
				continue
			}
			if err := w.WriteHeader(&formats.Entry{Name: f.name, Size: int64(len(f.data))}); err != nil {
				return nil, err
			}
			if _, err := w.Write(f.data); err != nil {
				return nil, err
			}
		}
		if ender, ok := w.(formats.RecordEnder); ok {
			if err := ender.EndRecord(); err != nil {
				return nil, err
			}
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
