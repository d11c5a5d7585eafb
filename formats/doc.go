// Package formats reads and writes dSort shards: tar (USTAR, PAX and GNU),
// tgz (gzip+tar, also ".tar.gz"), zip, tar.lz4, tar.zst, msgpack and
// tfrecord. It imports no other package of the project and sees only
// io.ReaderAt, io.Reader and io.Writer: never an object, a bucket or a
// global.
//
// A Format reads a shard through a Reader, shaped like archive/tar's: Next
// returns the next regular file as an *Entry and io.EOF at the end, and the
// Reader reads that file's data. Directories, symbolic and hard links and
// devices are skipped (the links are told, by LinkReporter: a record does
// not get them); GNU sparse files are rejected. Only the plain tar
// format reports where each entry lies in the shard (Entry.HeaderOffset and
// DataOffset), so dSort can keep an offset instead of a copy and later copy
// the entry's raw bytes (RawSize of them) into an output tar through
// RawWriter. When the shard is read through an io.ReaderAt and the caller
// does not read an entry's data, the tar reader seeks over it: reading only
// the headers of a shard costs one small read per entry.
//
// A Writer writes Name and Size and fixes everything else, so the same
// entries always give the same bytes: modification time 1980-01-01 00:00:00
// UTC (the earliest time zip can store), uid and gid 0, no user or group
// names, mode 0644; tar uses USTAR and switches to PAX only for what USTAR
// cannot hold (long or non-ASCII names, sizes of 8 GiB and more). Compressed
// formats use one fixed level each, chosen for speed: gzip level 1 (BestSpeed,
// compressed in parallel blocks by pgzip), zstd's default level (about zstd
// -3), lz4's fast level, and zip deflate level 1 for every member (deflate
// stores incompressible blocks, so random data such as JPEG costs little).
// A Writer's error is sticky, as in archive/tar (a header it refuses, for
// an invalid name or a negative size, is not: the writer stays usable), and
// Close must be called even after an error: it releases the compressor's
// goroutines and buffers.
//
// msgpack and TFRecord shards hold records rather than files, in the
// layout WebDataset loaders read: a record has a key and one value per
// extension, the extension without its dot naming the value. A ".msgpack"
// shard is a stream of msgpack maps {"__key__": "a/b", "jpg": bin, "cls":
// bin}; a ".tfrecord" shard is TFRecord framing (length, masked CRC-32C,
// data, masked CRC-32C) around serialized tf.train.Example messages, one
// bytes_list feature per extension plus "__key__". Readers return each
// value as an entry named KEY.EXT (KEY alone for an empty extension), so
// dSort groups records as it does in a tar; writers split a name at the
// first dot of its base name and gather consecutive entries of one key
// into one record, which they hold in pooled memory until it is complete
// (both formats state a record's size or field count before its values).
// A repeated extension, or a record past 4096 values or 1 MiB of names,
// starts a new record. Neither format has magic bytes: Match takes a
// msgpack map whose first field is "__key__", and a TFRecord whose first
// length carries its own checksum. A value that is not bytes (an int64 or
// float feature, a msgpack number) is unsupported.
//
// Corrupt input (a truncated shard, a bad header checksum, a name that is
// absolute or escapes with "..", a size past the end of the shard, a zip
// member whose declared size or checksum lies, a broken compressed stream,
// a TFRecord checksum mismatch) returns a *HeaderError that names the shard
// and the byte offset of the failing header (of the failing record in
// msgpack and TFRecord) and satisfies errors.Is(err, ErrCorrupt). A reader
// never panics or loops on bad input and never allocates by a size a
// header claims: PAX records and GNU long names are capped at 1 MiB, a
// zstd window at 128 MiB, the zstd command's own default, and the names of
// a msgpack or TFRecord record at 1 MiB; a length past the end of the
// shard is corruption. Errors of the underlying io.ReaderAt pass through
// wrapped, not marked corrupt.
//
// Registry finds a Format by extension, by shard name and by magic bytes.
// It is a plain value with no global state; Default returns one holding the
// seven formats:
//
//	reg := formats.Default()
//	f, ok := reg.ByName("shard-0001.tar.gz") // TarGzip
//	r, err := f.NewReader(file, size, "shard-0001.tar.gz")
//	for {
//		e, err := r.Next()
//		if err == io.EOF {
//			break
//		}
//		...
//		io.Copy(dst, r) // the entry's data
//	}
//
// Copies inside the package use pooled buffers (io.CopyBuffer with a
// sync.Pool of 256 KiB slabs); readers implement io.WriterTo and writers
// io.ReaderFrom so that io.Copy through them allocates nothing per entry.
package formats
