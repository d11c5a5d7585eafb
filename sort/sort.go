package sort

import (
	"container/heap"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/aisgo/aisgo/shards"
)

// Kinds of algorithm, named as in AIStore.
const (
	Alphanumeric = "alphanumeric"
	Shuffle      = "shuffle"
	Content      = "content"
	None         = "none"
	// MD5 orders records by the MD5 of their key (hex): a shuffle that
	// needs no seed, the same for every job over the same names.
	MD5 = "md5"
)

// Algorithm orders records.
type Algorithm struct {
	// Kind is alphanumeric (by key, the name of the record's first file),
	// content (by the key read from a file's content), md5 (by the MD5 of
	// the key), shuffle or none (input order). Empty means alphanumeric.
	Kind string
	// Decreasing reverses alphanumeric and content order.
	Decreasing bool
	// Seed makes a shuffle reproducible.
	Seed int64
}

// compare returns the order of the algorithm, ties broken by id.
func (a Algorithm) compare() func(x, y shards.RecordMeta) int {
	switch a.Kind {
	case None, Shuffle:
		return func(x, y shards.RecordMeta) int { return x.ID.Compare(y.ID) }
	}
	sign := 1
	if a.Decreasing {
		sign = -1
	}
	return func(x, y shards.RecordMeta) int {
		if c := x.Key.Compare(y.Key); c != 0 {
			return sign * c
		}
		return x.ID.Compare(y.ID)
	}
}

// Records orders records in place.
func Records(records []shards.RecordMeta, alg Algorithm) {
	hashKeys(records, alg)
	slices.SortFunc(records, alg.compare())
	if alg.Kind == Shuffle {
		shuffle(records, alg.Seed)
	}
}

// shuffle is a Fisher-Yates shuffle of records in input order, driven by
// PCG seeded with the job's seed.
func shuffle(records []shards.RecordMeta, seed int64) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	rng.Shuffle(len(records), func(i, j int) { records[i], records[j] = records[j], records[i] })
}

// Local orders one target's records as its run for Merge: by the order of
// the algorithm, or by id for a shuffle (which only the whole can do).
// For md5 the keys become their MD5s here, once, and travel so.
func Local(records []shards.RecordMeta, alg Algorithm) {
	hashKeys(records, alg)
	slices.SortFunc(records, alg.compare())
}

// hashKeys replaces each key by the hex MD5 of its text, for md5.
func hashKeys(records []shards.RecordMeta, alg Algorithm) {
	if alg.Kind != MD5 {
		return
	}
	for i := range records {
		sum := md5.Sum([]byte(records[i].Key.Text()))
		records[i].Key = shards.Key{Kind: shards.KeyString, String: hex.EncodeToString(sum[:])}
	}
}

// checkEvery is how many records a merge or partition handles between
// looks at its context: an abort does not wait for a hundred million.
const checkEvery = 64 << 10

// Merge combines runs ordered by Local into the global order: a k-way
// merge, then, for a shuffle, the shuffle of the whole. It stops at
// ctx's end with its cause.
func Merge(ctx context.Context, runs [][]shards.RecordMeta, alg Algorithm) ([]shards.RecordMeta, error) {
	total := 0
	for _, r := range runs {
		total += len(r)
	}
	out := make([]shards.RecordMeta, 0, total)
	h := &runHeap{compare: alg.compare()}
	for _, r := range runs {
		if len(r) > 0 {
			h.runs = append(h.runs, r)
		}
	}
	heap.Init(h)
	for h.Len() > 0 {
		if len(out)%checkEvery == 0 && ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		r := h.runs[0]
		out = append(out, r[0])
		if len(r) == 1 {
			heap.Pop(h)
		} else {
			h.runs[0] = r[1:]
			heap.Fix(h, 0)
		}
	}
	if alg.Kind == Shuffle {
		shuffle(out, alg.Seed)
	}
	return out, nil
}

type runHeap struct {
	runs    [][]shards.RecordMeta
	compare func(x, y shards.RecordMeta) int
}

func (h *runHeap) Len() int           { return len(h.runs) }
func (h *runHeap) Less(i, j int) bool { return h.compare(h.runs[i][0], h.runs[j][0]) < 0 }
func (h *runHeap) Swap(i, j int)      { h.runs[i], h.runs[j] = h.runs[j], h.runs[i] }
func (h *runHeap) Push(x any)         { h.runs = append(h.runs, x.([]shards.RecordMeta)) }
func (h *runHeap) Pop() any {
	last := h.runs[len(h.runs)-1]
	h.runs = h.runs[:len(h.runs)-1]
	return last
}

// Partition cuts ordered records into output shards named by a template:
// a shard ends with the record that brings its size to size bytes or more,
// so every shard but the last reaches size, and a record is never split.
// A size of 0 spreads the records over all the template's names. It
// stops at ctx's end with its cause.
func Partition(ctx context.Context, records []shards.RecordMeta, size int64, names shards.Template) ([]shards.OutputShard, error) {
	if !names.IsRange() {
		return nil, fmt.Errorf("output template %q names no shards", names.String())
	}
	if size <= 0 {
		if !names.Bounded() {
			return nil, fmt.Errorf("output template %q is unbounded: output_shard_size is required", names.String())
		}
		var total int64
		for _, r := range records {
			total += r.Size
		}
		size = max(1, (total+names.Count()-1)/names.Count())
	}
	var out []shards.OutputShard
	var current shards.OutputShard
	for i, r := range records {
		if i%checkEvery == 0 && ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		current.Records = append(current.Records, r)
		current.Size += r.Size
		if current.Size < size && i < len(records)-1 {
			continue
		}
		index := int64(len(out))
		if names.Bounded() && index >= names.Count() {
			return nil, fmt.Errorf("%w: output template %q names %d shards, and more are needed for shards of %s", ErrTooFewNames, names.String(), names.Count(), shards.FormatSize(size))
		}
		name, err := names.At(index)
		if err != nil {
			return nil, err
		}
		current.Name = name
		out = append(out, current)
		current = shards.OutputShard{}
	}
	return out, nil
}
