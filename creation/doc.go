// Package creation is phase 3 of dSort: it builds the output shards a
// target owns. For each shard it opens one stream of records per holder
// (local, or remote in one batched request), writes the records in the
// planned order into a formats.Writer, and hands the bytes to a Sink that
// stores the shard atomically. Tar entries kept as offsets are copied raw,
// headers and all, when the output writer can take them.
//
//	err := creation.Run(ctx, creation.Config{Format: tgz, Concurrency: 8}, planned, source, sink, &counters)
package creation
