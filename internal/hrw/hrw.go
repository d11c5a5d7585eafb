package hrw

import (
	"cmp"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Digest hashes a name or candidate id.
func Digest(s string) uint64 { return xxhash.Sum64String(s) }

// Score mixes a candidate digest with an item digest. The finalizer of
// splitmix64 spreads the XOR so that nearby digests do not give nearby
// scores.
func Score(candidate, item uint64) uint64 {
	z := candidate ^ item
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Pick returns the index of the candidate with the highest score for item,
// or -1 when there are no candidates. Ties go to the lower index.
func Pick(candidates []uint64, item uint64) int {
	best, index := uint64(0), -1
	for i, c := range candidates {
		if s := Score(c, item); index < 0 || s > best {
			best, index = s, i
		}
	}
	return index
}

// Rank returns the indexes of the n candidates with the highest scores
// for item, highest first (ties to the lower index, so the first is
// Pick's answer); fewer when there are fewer candidates.
func Rank(candidates []uint64, item uint64, n int) []int {
	n = min(n, len(candidates))
	if n <= 0 {
		return nil
	}
	scores := make([]uint64, len(candidates))
	order := make([]int, len(candidates))
	for i, c := range candidates {
		scores[i], order[i] = Score(c, item), i
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := cmp.Compare(scores[b], scores[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return order[:n]
}
