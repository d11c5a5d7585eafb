// Package extract is phase 1 of dSort: it reads the input shards a target
// owns, groups their files into records and notes, per file, where its
// bytes are. An uncompressed tar's entries stay in their shard: each is
// an offset into it (no copy; extraction reads the headers, and asks the
// kernel to read the shard ahead for creation). Other formats are decoded
// and their files kept in memory while the memory Budget allows, and
// appended to spill files past it, never to an out-of-memory.
//
// Records come out in input order (by shards.RecordID), whatever the
// concurrency, so every later phase is deterministic.
//
//	res, err := extract.Run(ctx, extract.Config{Format: tar, Concurrency: 8, Budget: budget, SpillDir: dir}, inputs, opener, &counters)
//	defer res.Close()
package extract
