package formats

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Entry describes one regular file in a shard.
type Entry struct {
	Name string // path inside the archive, relative, cleaned, '/'-separated
	Size int64
	// HeaderOffset and DataOffset locate the entry in an uncompressed tar
	// shard: HeaderOffset is where its first header block starts (PAX / GNU
	// long-name blocks included), DataOffset where its data starts. Both are
	// -1 for every other format.
	HeaderOffset, DataOffset int64
	// Rewrite says the entry's header blocks are not to be copied as
	// they are (a raw copy): they name it other than Name ("./a.jpg"),
	// or there are more than one, which readers take differently. A copy
	// gets a header written for Name.
	Rewrite bool
}

// RawSize is the entry's whole encoded length in a tar shard: headers, data
// and padding to 512. It is -1 when the offsets are unknown.
func (e Entry) RawSize() int64 {
	if e.HeaderOffset < 0 || e.DataOffset < 0 {
		return -1
	}
	return e.DataOffset - e.HeaderOffset + blockPadded(e.Size)
}

// Reader reads the regular files of a shard in order.
type Reader interface {
	// Next advances to the next regular file and returns its entry, or
	// io.EOF at the end. Directories and other non-regular files are
	// skipped.
	Next() (*Entry, error)
	// Read reads the current entry's data.
	io.Reader
}

// LinkReporter is a Reader that tells the links it skipped (tar hard and
// symbolic links, zip symbolic links): members whose data is another
// member's or a path's, which a record does not get.
type LinkReporter interface {
	// Links returns how many links were skipped so far, and the names
	// of the first maxLinksTold of them.
	Links() (int, []string)
}

// maxLinksTold bounds the link names a reader keeps.
const maxLinksTold = 10

// skippedLinks counts the links a reader skipped and keeps the first
// names; embedded, it makes the reader a LinkReporter.
type skippedLinks struct {
	names []string
	count int
}

func (l *skippedLinks) skip(name string) {
	l.count++
	if len(l.names) < maxLinksTold {
		l.names = append(l.names, name)
	}
}

// Links reports the links skipped so far.
func (l *skippedLinks) Links() (int, []string) { return l.count, l.names }

// Writer writes a shard entry by entry.
type Writer interface {
	// WriteHeader starts a new entry; Name and Size are used, everything
	// else is fixed for determinism. The previous entry must have been
	// written in full.
	WriteHeader(e *Entry) error
	// Write writes the current entry's data, at most Size bytes in all.
	io.Writer
	// Close finishes the archive; it does not close the underlying writer.
	Close() error
}

// Abort gives up an archive being written: it frees what the writer holds
// (pooled buffers, a compressor's goroutines, after they wrote the blocks
// in flight) and writes no end, so that a failed archive does not end as
// a well-formed one. Closing or
// aborting a writer closed already does nothing.
func Abort(w Writer) {
	if a, ok := w.(interface{ abort() }); ok {
		a.abort()
	}
}

// RecordEnder is implemented by the writers of record formats (msgpack,
// TFRecord), which group entries by key: EndRecord ends the record being
// written, so that the next entry starts another even under the same key
// (two records of one key, from two input shards, stay two).
type RecordEnder interface {
	EndRecord() error
}

// RawWriter is implemented by the tar writer: it copies an entry that is
// already tar-encoded (header blocks + data + padding, n bytes) verbatim.
// The writers of tgz, tar.lz4 and tar.zst implement it too, copying the raw
// entry into their compressed tar stream.
type RawWriter interface {
	WriteRaw(r io.Reader, n int64) error
}

// Format is one shard format.
type Format interface {
	// Name is "tar", "tgz", "zip", "tar.lz4", "tar.zst", "msgpack" or
	// "tfrecord".
	Name() string
	// Extensions lists the name suffixes of the format, the canonical first:
	// ".tar"; ".tgz", ".tar.gz"; ".zip"; ".tar.lz4"; ".tar.zst"; ".msgpack";
	// ".tfrecord".
	Extensions() []string
	// Offsets reports whether entries carry HeaderOffset and DataOffset:
	// true only for tar.
	Offsets() bool
	// Match reports whether a shard's first bytes (512 or more) carry the
	// format's magic bytes (for msgpack and TFRecord, which have none, a
	// first record shaped as ours).
	Match(head []byte) bool
	// NewReader reads a shard of the given size; shard names it in errors.
	NewReader(r io.ReaderAt, size int64, shard string) (Reader, error)
	// NewWriter writes a shard to w.
	NewWriter(w io.Writer) (Writer, error)
}

var (
	// ErrCorrupt marks every corruption of a shard (see HeaderError).
	ErrCorrupt = errors.New("formats: corrupt shard")
	// ErrUnsupported marks a valid shard that uses a feature this package
	// does not read, such as a GNU sparse file or a zip compression method
	// other than store and deflate. A *HeaderError wrapping it is not
	// ErrCorrupt.
	ErrUnsupported = errors.New("formats: unsupported shard feature")
	// ErrInvalidName marks an entry name a writer refuses: empty, absolute,
	// escaping with "..", not clean (as path.Clean), or holding a NUL.
	ErrInvalidName = errors.New("formats: invalid entry name")
	// ErrEntrySize marks data written beyond an entry's Size, or an entry
	// closed before Size bytes were written.
	ErrEntrySize = errors.New("formats: entry data does not match its size")
	// ErrClosed is returned by a Writer used after Close.
	ErrClosed = errors.New("formats: writer closed")
)

// HeaderError reports a shard that cannot be read at a byte offset: the
// offset of the header being read in a tar shard, in the decompressed tar
// stream for compressed tar formats, the offset of the member's data in a
// zip shard and of the record in msgpack and TFRecord shards; -1 when it
// is unknown (a zip whose central directory or local header cannot be
// read). It always satisfies errors.Is(err, ErrCorrupt),
// unless Err is ErrUnsupported.
type HeaderError struct {
	Shard  string
	Offset int64
	Err    error
}

func (e *HeaderError) Error() string {
	kind := "corrupt shard"
	if errors.Is(e.Err, ErrUnsupported) {
		kind = "unsupported shard"
	}
	return fmt.Sprintf("formats: %s %q at offset %d: %v", kind, e.Shard, e.Offset, e.Err)
}

// Unwrap returns the cause.
func (e *HeaderError) Unwrap() error { return e.Err }

// Is makes every HeaderError match ErrCorrupt, except unsupported features.
func (e *HeaderError) Is(target error) bool {
	return target == ErrCorrupt && !errors.Is(e.Err, ErrUnsupported)
}

// blockSize is the tar block size.
const blockSize = 512

// blockPadded rounds n up to a multiple of the tar block size.
func blockPadded(n int64) int64 { return (n + blockSize - 1) &^ (blockSize - 1) }

// EntryChecker is implemented by the formats that cannot hold every name
// or size another format can: a reshard into one checks each member as
// it is read, rather than fail when its shard is created.
type EntryChecker interface {
	CheckEntry(name string, size int64) error
}

// CheckEntry says whether f can write a member of that name and size
// (what its writer would refuse); nil for a format that takes any.
func CheckEntry(f Format, name string, size int64) error {
	if c, ok := f.(EntryChecker); ok {
		return c.CheckEntry(name, size)
	}
	return nil
}

// RecordChecker is a Format that bounds a whole record (its members of
// one key together): a reshard into one checks each record as its shard
// is read.
type RecordChecker interface {
	CheckRecord(key string, size int64) error
}

// CheckRecord says whether f can write a record of that key whose values
// add up to size bytes, of the members named; nil for a format that takes
// any.
func CheckRecord(f Format, key string, members []string, size int64) error {
	c, ok := f.(RecordChecker)
	if !ok {
		return nil
	}
	// "a." is of record "a" to dSort (shards.SplitName), and a record of
	// its own to a record format: beside a.jpg and a.cls it would cut
	// record a in three for a loader that groups by key. Alone it reads
	// back as it was.
	for _, name := range members {
		if rest := name[strings.LastIndexByte(name, '/')+1:]; len(members) > 1 && rest != "" && strings.IndexByte(rest, '.') == len(rest)-1 {
			return fmt.Errorf("record %q: member %q, whose only dot ends it, would be a record of its own in %s beside the others: %w", key, name, f.Name(), ErrInvalidName)
		}
	}
	return c.CheckRecord(key, size)
}
