// Package reference is the single-process dSort oracle: it reads every
// input shard into memory, groups records, orders them with a plain
// comparison sort (or the seeded shuffle), cuts shards by size and writes
// them, with none of the distributed machinery. Tests check that the
// distributed job writes exactly the same bytes.
//
//	out, err := reference.Run(spec, seed, inputs, keyMap) // shard name -> bytes
package reference
