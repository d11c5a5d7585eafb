// Package shards is the dataset model of AIS-Go without I/O: shard-name
// templates, size strings, and records (the files of one shard that share a
// name up to the extension).
//
// # Templates
//
// ParseTemplate parses a shard-name template as AIStore does, trying three
// syntaxes in order:
//
//   - bash ranges: "shard-{0000..0999}.tar", "a-{0..10..2}-b-{00..99}";
//   - at ranges: "shard-@0999.tar" (the range 0..999 padded to 4 digits);
//   - fmt: "shard-%06d.tar" or "shard-%d.tar", an unbounded range from 0.
//
// Anything else is a prefix-only template ("logs/2025/"), which names no
// shard and selects by prefix; IsRange reports it. A template expands in
// odometer order with the last range varying fastest, and At names the i-th
// shard directly, which is how output shard i is named:
//
//	t, err := shards.ParseTemplate("shard-{0000..0099}.tar")
//	if err != nil { ... }
//	t.Count()     // 100
//	t.At(7)       // "shard-0007.tar", nil
//	for name := range t.Names() { ... }
//
// # Sizes
//
// ParseSize reads AIStore size strings, IEC units with or without the "i":
// "10KB" and "10KiB" are both 10240 bytes. FormatSize prints a size for
// humans.
//
// # Records
//
// A record is the set of files in one shard whose in-archive names are equal
// once the extension is removed. The extension starts at the first '.' of the
// last path component: "a/b.cls.json" is record "a/b" with extension
// ".cls.json" (SplitName). A Grouper assigns a shard's files to records in
// shard order and reports a second file with the same record and extension
// as a *DuplicateError, keeping the later file (last wins, as AIStore does),
// so the caller can ignore, warn or abort.
//
// Invariants: everything here is a pure function of its input; a Template
// and a Grouper never touch the network, the disk or the clock.
package shards
