package sort_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/shards"
	"github.com/aisgo/aisgo/sort"
)

func records(n int, seed uint64) []shards.RecordMeta {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]shards.RecordMeta, n)
	for i := range out {
		out[i] = shards.RecordMeta{
			ID:   shards.RecordID{Shard: int32(i / 10), Record: int32(i % 10)},
			Key:  shards.Key{String: fmt.Sprintf("k%03d", rng.IntN(n/2+1))},
			Size: int64(100 + rng.IntN(1000)),
		}
	}
	return out
}

func ids(rs []shards.RecordMeta) []shards.RecordID {
	out := make([]shards.RecordID, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func TestAlphanumericOrderWithTiesByID(t *testing.T) {
	rs := records(200, 1)
	sort.Records(rs, sort.Algorithm{Kind: sort.Alphanumeric})
	for i := 1; i < len(rs); i++ {
		a, b := rs[i-1], rs[i]
		if c := a.Key.Compare(b.Key); c > 0 || c == 0 && a.ID.Compare(b.ID) >= 0 {
			t.Fatalf("out of order at %d: %+v then %+v", i, a, b)
		}
	}
	sort.Records(rs, sort.Algorithm{Kind: sort.Alphanumeric, Decreasing: true})
	for i := 1; i < len(rs); i++ {
		a, b := rs[i-1], rs[i]
		if c := a.Key.Compare(b.Key); c < 0 || c == 0 && a.ID.Compare(b.ID) >= 0 {
			t.Fatalf("decreasing out of order at %d: %+v then %+v", i, a, b)
		}
	}
}

func TestContentKeys(t *testing.T) {
	ints := []shards.RecordMeta{}
	for i, v := range []int64{10, -3, 7, 100, 7} {
		ints = append(ints, shards.RecordMeta{ID: shards.RecordID{Record: int32(i)}, Key: shards.Key{Kind: shards.KeyInt, Int: v}})
	}
	sort.Records(ints, sort.Algorithm{Kind: sort.Content})
	var got []int64
	for _, r := range ints {
		got = append(got, r.Key.Int)
	}
	if !slices.Equal(got, []int64{-3, 7, 7, 10, 100}) || ints[1].ID.Record != 2 {
		t.Fatalf("int keys sorted as %v (ids %v)", got, ids(ints))
	}
	floats := []shards.RecordMeta{{Key: shards.Key{Kind: shards.KeyFloat, Float: 2.5}}, {ID: shards.RecordID{Record: 1}, Key: shards.Key{Kind: shards.KeyFloat, Float: -0.5}}}
	sort.Records(floats, sort.Algorithm{Kind: sort.Content, Decreasing: true})
	if floats[0].Key.Float != 2.5 {
		t.Fatalf("decreasing floats: %+v", floats)
	}
}

func TestNoneKeepsInputOrder(t *testing.T) {
	rs := records(100, 2)
	want := ids(rs)
	rand.New(rand.NewPCG(5, 5)).Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
	sort.Records(rs, sort.Algorithm{Kind: sort.None})
	if !slices.Equal(ids(rs), want) {
		t.Fatal("kind none does not restore input order")
	}
}

func TestShuffleIsReproducibleAndGlobal(t *testing.T) {
	base := records(1000, 3)
	a, b, c := slices.Clone(base), slices.Clone(base), slices.Clone(base)
	// The order records arrive in must not matter.
	rand.New(rand.NewPCG(9, 9)).Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
	sort.Records(a, sort.Algorithm{Kind: sort.Shuffle, Seed: 42})
	sort.Records(b, sort.Algorithm{Kind: sort.Shuffle, Seed: 42})
	sort.Records(c, sort.Algorithm{Kind: sort.Shuffle, Seed: 43})
	if !slices.Equal(ids(a), ids(b)) {
		t.Fatal("the same seed gave different orders")
	}
	if slices.Equal(ids(a), ids(c)) || slices.Equal(ids(a), ids(base)) {
		t.Fatal("the shuffle equals another seed's or the input order")
	}
	// A real global shuffle: records of the first input shard end up
	// spread over the whole output, not kept together.
	var positions []int
	for i, r := range a {
		if r.ID.Shard == 0 {
			positions = append(positions, i)
		}
	}
	if positions[len(positions)-1]-positions[0] < len(a)/2 {
		t.Fatalf("records of one input shard stay together: %v", positions)
	}
	sorted := ids(a)
	slices.SortFunc(sorted, shards.RecordID.Compare)
	if !slices.Equal(sorted, ids(base)) {
		t.Fatal("the shuffle is not a permutation")
	}
}

// Merging local runs, however the records are split among targets, gives
// the order of sorting them all at once.
func TestMergeOfRunsEqualsWholeSort(t *testing.T) {
	for _, kind := range []string{sort.Alphanumeric, sort.Shuffle, sort.None} {
		for _, targets := range []int{1, 3, 5} {
			for _, decreasing := range []bool{false, true} {
				alg := sort.Algorithm{Kind: kind, Decreasing: decreasing, Seed: 7}
				all := records(500, 4)
				runs := make([][]shards.RecordMeta, targets)
				rng := rand.New(rand.NewPCG(uint64(targets), 2))
				for _, r := range all {
					k := rng.IntN(targets)
					runs[k] = append(runs[k], r)
				}
				for _, run := range runs {
					sort.Local(run, alg)
				}
				merged, err := sort.Merge(t.Context(), runs, alg)
				if err != nil {
					t.Fatal(err)
				}
				whole := slices.Clone(all)
				sort.Records(whole, alg)
				if !slices.Equal(ids(merged), ids(whole)) {
					t.Fatalf("%s on %d targets (decreasing %v): merge differs from the whole sort", kind, targets, decreasing)
				}
			}
		}
	}
}

func TestPartitionSizes(t *testing.T) {
	rs := records(300, 5)
	tmpl := shards.MustParseTemplate("out-{000..999}.tar")
	const size = 10_000
	planned, err := sort.Partition(t.Context(), rs, size, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for i, s := range planned {
		var sum int64
		for _, r := range s.Records {
			sum += r.Size
		}
		if sum != s.Size || (i < len(planned)-1 && s.Size < size) {
			t.Fatalf("shard %d (%s) has %d bytes, size field %d, want >= %d", i, s.Name, sum, s.Size, size)
		}
		if i < len(planned)-1 && s.Size-s.Records[len(s.Records)-1].Size >= size {
			t.Fatalf("shard %d is longer than needed", i)
		}
		if want := fmt.Sprintf("out-%03d.tar", i); s.Name != want {
			t.Fatalf("shard %d named %s, want %s", i, s.Name, want)
		}
		count += len(s.Records)
	}
	if count != len(rs) {
		t.Fatalf("%d records in shards, want %d", count, len(rs))
	}
	if _, err := sort.Partition(t.Context(), rs, size, shards.MustParseTemplate("few-{0..2}.tar")); !errors.Is(err, sort.ErrTooFewNames) {
		t.Fatalf("too few names: %v", err)
	}
	spread, err := sort.Partition(t.Context(), rs, 0, shards.MustParseTemplate("s-{0..9}.tar"))
	if err != nil || len(spread) > 10 || len(spread) < 9 {
		t.Fatalf("size 0 over 10 names: %d shards, %v", len(spread), err)
	}
	if _, err := sort.Partition(t.Context(), rs, 0, shards.MustParseTemplate("s-%04d.tar")); err == nil {
		t.Fatal("size 0 with an unbounded template was accepted")
	}
}

func TestKeyMap(t *testing.T) {
	var rs []shards.RecordMeta
	for i, k := range []string{"cat_0.txt", "dog_0.txt", "cat_1.txt", "bird.txt", "dog_1.txt", "cat_2.txt"} {
		rs = append(rs, shards.RecordMeta{ID: shards.RecordID{Record: int32(i)}, Key: shards.Key{String: k}, Size: 600})
	}
	km, err := sort.ParseKeyMap([]byte(`{"cats-{0..9}.tar": ["cat_.*"], "dogs-%02d.tar": ["dog_.*"]}`), sort.KeyMapJSON, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	// An aborted job stops partitioning (a key map of many patterns over
	// many records takes long).
	aborted, abort := context.WithCancelCause(t.Context())
	abort(errors.New("aborted by the user"))
	if _, err := sort.PartitionByKeyMap(aborted, rs, 1000, km, func(err error) error { return nil }); err == nil || err.Error() != "aborted by the user" {
		t.Fatalf("partition of an aborted job: %v", err)
	}
	var missing []string
	planned, err := sort.PartitionByKeyMap(t.Context(), rs, 1000, km, func(err error) error { missing = append(missing, err.Error()); return nil })
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range planned {
		got = append(got, fmt.Sprintf("%s:%d", s.Name, len(s.Records)))
	}
	if strings.Join(got, " ") != "cats-0.tar:2 dogs-00.tar:2 cats-1.tar:1" || len(missing) != 1 || !strings.Contains(missing[0], "bird.txt") {
		t.Fatalf("key map shards %v, missing %v", got, missing)
	}
	// A shard is cut once it exceeds the size (AIStore's EKM), not at it:
	// at 1200, two cats of 600 are one shard with the third.
	planned, err = sort.PartitionByKeyMap(t.Context(), rs, 1200, km, func(error) error { return nil })
	if err != nil || len(planned) == 0 || planned[0].Name != "cats-0.tar" || len(planned[0].Records) != 3 {
		t.Fatalf("at size 1200: %+v %v, want cats-0.tar with 3 records", planned, err)
	}
	if _, err := sort.PartitionByKeyMap(t.Context(), rs, 1000, km, func(err error) error { return err }); !errors.Is(err, sort.ErrKeyMap) {
		t.Fatalf("abort on a missing key: %v", err)
	}
	// A key of a MiB that matches nothing is named by its start.
	long := []shards.RecordMeta{{Key: shards.Key{String: strings.Repeat("z", 1<<20)}, Size: 1}}
	if _, err := sort.PartitionByKeyMap(t.Context(), long, 1000, km, func(err error) error { return err }); !errors.Is(err, sort.ErrKeyMap) || len(err.Error()) > 1000 {
		t.Fatalf("a missing key of a MiB: an error of %d bytes (%.100v), want a short one", len(err.Error()), err)
	}
	lines := 0
	text := "cat_.*\tcats-{0..9}.tar\nnot a line\n(bad\tx-{0..1}\ndog_.*\tdogs-{0..9}.tar\n"
	if _, err := sort.ParseKeyMap([]byte(text), sort.KeyMapText, "\t", func(int, error) error { lines++; return nil }); err != nil || lines != 2 {
		t.Fatalf("text key map: %v, %d malformed lines, want 2", err, lines)
	}
	if _, err := sort.ParseKeyMap([]byte(text), sort.KeyMapText, "\t", func(_ int, err error) error { return err }); !errors.Is(err, sort.ErrKeyMap) || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("abort on a malformed line: %v", err)
	}
	both, _ := sort.ParseKeyMap([]byte(`{"a-{0..9}": ["x.*"], "b-{0..9}": ["x1.*"]}`), sort.KeyMapJSON, "", nil)
	if _, err := sort.PartitionByKeyMap(t.Context(), []shards.RecordMeta{{Key: shards.Key{String: "x1"}}}, 10, both, func(err error) error { return err }); err == nil || !strings.Contains(err.Error(), "matches templates") {
		t.Fatalf("a key matching two templates: %v", err)
	}
	// Plain keys are looked up, not matched one by one; a plain key of
	// two templates is refused, one that agrees with an expression is not.
	plain, err := sort.ParseKeyMap([]byte("x1\ta-{0..9}\nx2\tb-{0..9}\nx2\ta-{0..9}\nx.*\ta-{0..9}\n"), sort.KeyMapText, "\t", nil)
	if err != nil {
		t.Fatal(err)
	}
	planned, err = sort.PartitionByKeyMap(t.Context(), []shards.RecordMeta{{Key: shards.Key{String: "x1"}, Size: 1}}, 10, plain, func(err error) error { return err })
	if err != nil || len(planned) != 1 || planned[0].Name != "a-0" {
		t.Fatalf("a plain key agreeing with an expression: %+v %v", planned, err)
	}
	if _, err := sort.PartitionByKeyMap(t.Context(), []shards.RecordMeta{{Key: shards.Key{String: "x2"}}}, 10, plain, func(err error) error { return err }); err == nil || !strings.Contains(err.Error(), "different templates") {
		t.Fatalf("a plain key of two templates: %v", err)
	}
	var many strings.Builder
	for i := range sort.MaxKeyMapEntries + 1 {
		fmt.Fprintf(&many, "k%d\ts-{0..9}\n", i)
	}
	if _, err := sort.ParseKeyMap([]byte(many.String()), sort.KeyMapText, "\t", func(_ int, err error) error { return err }); !errors.Is(err, sort.ErrKeyMap) || !strings.Contains(err.Error(), "more than 100000 entries") {
		t.Fatalf("a key map past the bound: %v", err)
	}
	// Refused too when malformed lines are skipped (ekm_malformed_line
	// ignore): it is whole lines, not malformed ones, that do not fit,
	// and the map would be cut short silently.
	if _, err := sort.ParseKeyMap([]byte(many.String()), sort.KeyMapText, "\t", func(int, error) error { return nil }); !errors.Is(err, sort.ErrKeyMap) || !strings.Contains(err.Error(), "more than 100000 entries") {
		t.Fatalf("a key map past the bound, malformed lines ignored: %v", err)
	}
	// The same in JSON, refused as it is read.
	var manyJSON strings.Builder
	manyJSON.WriteString(`{"s-{0..9}":[`)
	for i := range sort.MaxKeyMapEntries + 1 {
		if i > 0 {
			manyJSON.WriteByte(',')
		}
		fmt.Fprintf(&manyJSON, `"k%d"`, i)
	}
	manyJSON.WriteString(`]}`)
	if _, err := sort.ParseKeyMap([]byte(manyJSON.String()), sort.KeyMapJSON, "", nil); !errors.Is(err, sort.ErrKeyMap) || !strings.Contains(err.Error(), "more than 100000 entries") {
		t.Fatalf("a JSON key map past the bound: %v", err)
	}
	// A short expression of nested repeats compiles to millions of
	// instructions: refused before it is built.
	for _, format := range []sort.KeyMapFormat{sort.KeyMapText, sort.KeyMapJSON} {
		data := "(?:ab|cd|ef|gh|ij|kl|mn|op){1000}\ts-{0..9}\n"
		if format == sort.KeyMapJSON {
			data = `{"s-{0..9}":["(?:ab|cd|ef|gh|ij|kl|mn|op){1000}"]}`
		}
		if _, err := sort.ParseKeyMap([]byte(data), format, "\t", func(_ int, err error) error { return err }); !errors.Is(err, sort.ErrKeyMap) || !strings.Contains(err.Error(), "instructions") {
			t.Fatalf("a key map of a huge expression: %v", err)
		}
	}
	// JSON that is not a key map's object.
	for _, bad := range []string{`[]`, `{"s-{0..9}":"x"}`, `{"s-{0..9}":[1]}`, `{"s-{0..9}":["x"]} {}`, `{"s-{0..9}":["x"]`} {
		if _, err := sort.ParseKeyMap([]byte(bad), sort.KeyMapJSON, "", nil); !errors.Is(err, sort.ErrKeyMap) {
			t.Errorf("%s: %v, want ErrKeyMap", bad, err)
		}
	}
	km, err = sort.ParseKeyMap([]byte(`{"a-{0..9}":["x.*"],"b-{0..9}":["y.*","z"],"c-{0..9}":null}`), sort.KeyMapJSON, "", nil)
	if err != nil || km == nil {
		t.Fatalf("a JSON key map (one template's list null, as Go writes an empty one): %v", err)
	}
	// A template given twice keeps its last list, and only it counts.
	var twice strings.Builder
	for i := range 2 {
		if i == 0 {
			twice.WriteString(`{"a-{0..9}":[`)
		} else {
			twice.WriteString(`],"a-{0..9}":[`)
		}
		for k := range sort.MaxKeyMapEntries * 3 / 5 {
			if k > 0 {
				twice.WriteByte(',')
			}
			fmt.Fprintf(&twice, `"k%d-%d"`, i, k)
		}
	}
	twice.WriteString(`]}`)
	last, err := sort.ParseKeyMap([]byte(twice.String()), sort.KeyMapJSON, "", nil)
	if err != nil {
		t.Fatalf("a template given twice, each list under the bound: %v", err)
	}
	var missed []error
	planned, err = sort.PartitionByKeyMap(t.Context(), []shards.RecordMeta{{Key: shards.Key{String: "k0-5"}, Size: 1}, {Key: shards.Key{String: "k1-5"}, Size: 1}},
		10, last, func(err error) error { missed = append(missed, err); return nil })
	if err != nil || len(missed) != 1 || !strings.Contains(missed[0].Error(), "k0-5") || len(planned) != 1 || len(planned[0].Records) != 1 {
		t.Fatalf("the first list of a template given twice is not kept: %+v, missed %v, %v", planned, missed, err)
	}
}

// A key map's expressions and plain keys match anywhere in a key, as
// AIStore's (Go's MatchString) do: "cat" takes cat_0.txt; an anchored
// expression takes only what it spans.
func TestKeyMapMatchesAnywhere(t *testing.T) {
	var rs []shards.RecordMeta
	for i, k := range []string{"cat_0.txt", "dog_0.txt", "a/cat_12.txt", "xcat_0.txt"} {
		rs = append(rs, shards.RecordMeta{ID: shards.RecordID{Record: int32(i)}, Key: shards.Key{String: k}, Size: 1})
	}
	km, err := sort.ParseKeyMap([]byte("cat\tcats-%04d.tar\ndog\tdogs-%04d.tar\n"), sort.KeyMapText, "\t", nil)
	if err != nil {
		t.Fatal(err)
	}
	planned, err := sort.PartitionByKeyMap(t.Context(), rs, 1000, km, func(err error) error { return err })
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range planned {
		got = append(got, fmt.Sprintf("%s:%d", s.Name, len(s.Records)))
	}
	if strings.Join(got, " ") != "cats-0000.tar:3 dogs-0000.tar:1" {
		t.Fatalf("plain keys matched anywhere: %v", got)
	}
	anchored, err := sort.ParseKeyMap([]byte(`{"cats-%04d.tar": ["^cat_\\d+\\.txt$"], "dogs-%04d.tar": ["dog_\\d"]}`), sort.KeyMapJSON, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	planned, err = sort.PartitionByKeyMap(t.Context(), rs, 1000, anchored, func(err error) error { missing = append(missing, err.Error()); return nil })
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, s := range planned {
		got = append(got, fmt.Sprintf("%s:%d", s.Name, len(s.Records)))
	}
	if strings.Join(got, " ") != "cats-0000.tar:1 dogs-0000.tar:1" || len(missing) != 2 {
		t.Fatalf("anchored and unanchored expressions: %v, missing %v", got, missing)
	}
	// A plain key inside another's key: two templates, refused.
	both, _ := sort.ParseKeyMap([]byte("cat\ta-{0..9}\ncat_0\tb-{0..9}\n"), sort.KeyMapText, "\t", nil)
	if _, err := sort.PartitionByKeyMap(t.Context(), rs[:1], 10, both, func(err error) error { return err }); err == nil || !strings.Contains(err.Error(), "matches templates") {
		t.Fatalf("a key holding plain keys of two templates: %v", err)
	}
}

// A merge or a partition stops at its context's end (a job aborted
// while it plans a hundred million records), with the cause.
func TestMergeAndPartitionStopWhenAsked(t *testing.T) {
	ctx, cancel := context.WithCancelCause(t.Context())
	aborted := errors.New("aborted by the user")
	cancel(aborted)
	runs := [][]shards.RecordMeta{{{ID: shards.RecordID{Record: 1}, Size: 1}}}
	if _, err := sort.Merge(ctx, runs, sort.Algorithm{Kind: sort.Alphanumeric}); !errors.Is(err, aborted) {
		t.Fatalf("a merge under an ended context: %v", err)
	}
	if _, err := sort.Partition(ctx, runs[0], 1, shards.MustParseTemplate("o-{0..9}.tar")); !errors.Is(err, aborted) {
		t.Fatalf("a partition under an ended context: %v", err)
	}
}
