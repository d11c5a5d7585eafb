// Package sort orders dSort records and cuts them into output shards. It
// sees only record metadata (shards.RecordMeta: id, key, size, holder),
// never bytes, files or the network.
//
// Invariant: for the same records and Algorithm (Seed included) the order
// and the shards are identical on every node and for any number of
// targets, because every tie is broken by the record's id (its input shard
// and position), and a shuffle starts from the input order.
//
//	sort.Records(records, sort.Algorithm{Kind: sort.Shuffle, Seed: 42})
//	planned, err := sort.Partition(ctx, records, 1<<30, shards.MustParseTemplate("out-{000..999}.tar"))
package sort
