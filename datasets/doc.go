// Package datasets generates synthetic sharded datasets for tests, demos and
// benchmarks: seeded, deterministic shards in every format of package
// formats, shaped like image-classification data (a binary ".jpg", a ".cls"
// label, ".json" metadata, ".txt" captions).
//
// A Spec names the shards with a template and fixes the records per shard,
// the size of each record's main file and its spread, the extensions and a
// seed. Generate writes the shards to writers the caller opens; WriteLocal
// writes them into a directory, each atomically (temporary file, fsync,
// rename):
//
//	spec := datasets.Spec{
//		Template:   "shard-{0000..0099}.tar",
//		Records:    1000,
//		RecordSize: 100 << 10,
//		SizeSpread: 0.5,
//		Extensions: []string{".jpg", ".cls", ".json"},
//		Seed:       42,
//	}
//	stats, err := datasets.WriteLocal(ctx, spec, dir, datasets.LocalHooks{})
//
// Invariant: the bytes of every shard depend only on the Spec (seed
// included), never on Workers, the machine or the order in which shards are
// written: each shard draws from its own ChaCha8 stream, seeded by the Spec's
// seed and the shard's name (so "shard-05.tar" and "shard-0005.tar" differ).
//
// Record names are "sample-<the digits of the shard's name>-<record index>",
// the index zero-padded, so they are unique across the shards of a template
// and sort in generation order; a record's files follow each other in the
// order of Spec.Extensions.
package datasets
