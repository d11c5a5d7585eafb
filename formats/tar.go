package formats

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// modTime is the modification time of every entry written: 1980-01-01 UTC,
// the earliest time a zip header can hold, used by every format alike.
var modTime = time.Date(1980, time.January, 1, 0, 0, 0, 0, time.UTC)

// entryMode is the permission of every entry written.
const entryMode = 0o644

// Tar is the uncompressed tar format (".tar"): USTAR, PAX and GNU on read,
// USTAR with PAX only where needed on write. Its entries carry offsets, and
// its Writer is a RawWriter.
type Tar struct{}

var _ Format = Tar{}

func (Tar) Name() string         { return "tar" }
func (Tar) Extensions() []string { return []string{".tar"} }
func (Tar) Offsets() bool        { return true }

// Match looks for "ustar" at byte 257, which USTAR, PAX and GNU tar share.
func (Tar) Match(head []byte) bool {
	return len(head) >= 262 && string(head[257:262]) == "ustar"
}

func (Tar) NewReader(r io.ReaderAt, size int64, shard string) (Reader, error) {
	if size < 0 {
		return nil, fmt.Errorf("formats: shard %q: negative size %d", shard, size)
	}
	src := newShardReader(r, size)
	return &tarReader{
		shard:   shard,
		tr:      tar.NewReader(src),
		src:     src,
		plain:   src,
		size:    size,
		offsets: true,
		failure: src.failure,
		release: src.release,
	}, nil
}

func (Tar) NewWriter(w io.Writer) (Writer, error) {
	buffered := tarBuffers.Get().(*bufio.Writer)
	// Hidden: a raw entry is read straight into the buffer (see
	// copyInto), and bufio would hand an empty buffer's reads to w's
	// ReadFrom instead.
	buffered.Reset(writerOnly{w})
	return newTarWriter(buffered, func(abort bool) error {
		var err error
		if !abort {
			err = buffered.Flush()
		}
		buffered.Reset(nil)
		tarBuffers.Put(buffered)
		return err
	}), nil
}

// tarBuffers are the buffers of tar shards being written. A dSort output
// shard goes to its file past the page cache (internal/directwrite), which
// writes a flush of this buffer, aligned as a big allocation is, from
// where it is: 1 MiB writes with no second buffer (benchmarks/README.md,
// 17:40 UTC: faster than 512 KiB ones, for less memory than a 256 KiB
// buffer beside a 512 KiB one).
var tarBuffers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 1<<20) }}

// tarSource is what a tarReader reads: its position in the tar stream,
// and what its zeroWatch saw.
type tarSource interface {
	position() int64
	watch(on bool, from int64)
	lastNonzero() int64
}

// tarReader reads a tar stream: a shard read through a shardReader, or a
// decompressed stream.
type tarReader struct {
	shard string
	tr    *tar.Reader
	src   tarSource
	size  int64 // size of the tar stream, -1 if unknown
	// offsets tells whether entries report their offsets (plain tar).
	offsets bool
	// plain is the shard of a plain tar, whose header blocks are read
	// again into block to tell whether every reader reads them alike.
	plain *shardReader
	block [blockSize]byte
	// next is the offset of the next header: 0, then the end of the
	// previous entry's data rounded up to a block.
	next int64
	// current is the header offset of the entry being read, name its
	// name (for its data's errors).
	current int64
	name    string
	// links are the hard and symbolic links skipped, and the entries
	// of other types with data; skipped counts every entry skipped
	// (links, directories, ...).
	links   skippedLinks
	skipped int
	// failure returns the first error of the underlying storage, if any.
	failure func() error
	// finish, if set, runs at the end of the archive: it drains and checks
	// the rest of a compressed stream.
	finish func() error
	// release returns pooled resources; it runs once, at the end or at the
	// first error.
	release func()
	err     error // sticky
}

var (
	errSparse  = fmt.Errorf("GNU sparse files: %w", ErrUnsupported)
	errPastEnd = errors.New("entry data runs past the end of the shard")
	errNoBytes = errors.New("0 bytes: not a tar archive (an empty one is two 512-byte zero blocks)")
)

// isHeaderOnly mirrors archive/tar: these types have no data whatever their
// size field says.
// gnuDumpDir is GNU tar's directory entry whose data lists the
// directory's names: no file's.
const gnuDumpDir = 'D'

func isHeaderOnly(flag byte) bool {
	switch flag {
	case tar.TypeLink, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeDir, tar.TypeFifo:
		return true
	}
	return false
}

// isSparse reports a GNU sparse file, old style or PAX style.
func isSparse(h *tar.Header) bool {
	if h.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for key := range h.PAXRecords {
		if strings.HasPrefix(key, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// maxSkippedEntries bounds the entries a tar shard may have that are not
// files (as shards.MaxShardFiles bounds its files).
var maxSkippedEntries = 1 << 22

func (r *tarReader) Next() (*Entry, error) {
	if r.err != nil {
		return nil, r.err
	}
	for {
		header := r.next
		r.src.watch(true, r.next)
		h, err := r.tr.Next()
		r.src.watch(false, 0)
		if err == io.EOF && r.src.position() < r.next {
			// archive/tar lets the last entry's padding end at EOF: of a
			// compressed stream (its size unknown) that is a cut too.
			return nil, r.fail(header, fmt.Errorf("%w: the archive ends at offset %d, inside the padding of the entry before, which ends at %d", errPastEnd, r.src.position(), r.next))
		}
		if err == io.EOF && r.src.lastNonzero() > r.next {
			// So it does for a cut inside a header (a PAX or long-name
			// one, or its padding): what came after the last entry was
			// not all zero blocks.
			return nil, r.fail(header, fmt.Errorf("%w: the archive ends at offset %d, inside the header at %d", errPastEnd, r.src.position(), r.next))
		}
		if err == io.EOF && r.src.position() == 0 {
			// No byte at all: a cut upload, not an archive (GNU tar and
			// Python's tarfile refuse it too; an empty one is 1024 zeros).
			return nil, r.fail(0, errNoBytes)
		}
		if err == io.EOF {
			return nil, r.end()
		}
		if err != nil {
			return nil, r.fail(header, err)
		}
		if isSparse(h) {
			return nil, r.fail(header, errSparse)
		}
		data := r.src.position()
		physical := h.Size
		if isHeaderOnly(h.Typeflag) {
			physical = 0
		}
		// The padding counts too: a shard cut inside it reads "cleanly"
		// (archive/tar lets the padding end at EOF), and a raw copy of the
		// entry, padding and all, would fail at creation.
		if r.size >= 0 && (physical > r.size-data || blockPadded(data+physical) > r.size) {
			return nil, r.fail(header, fmt.Errorf("%w: %d bytes (and padding to %d) at offset %d, shard size %d",
				errPastEnd, physical, blockPadded(data+physical), data, r.size))
		}
		r.next = blockPadded(data + physical)
		switch h.Typeflag {
		case tar.TypeReg, '\x00', tar.TypeCont:
		default:
			// A compressed run of them parses without returning (no
			// file counted, no abort checked): bounded.
			if r.skipped++; r.skipped > maxSkippedEntries {
				return nil, r.fail(header, fmt.Errorf("more than %d entries that are not files (directories, links, ...)", maxSkippedEntries))
			}
			switch {
			case h.Typeflag == tar.TypeLink || h.Typeflag == tar.TypeSymlink:
				// A member whose data is another's: skipped, and told.
				r.links.skip(h.Name)
			case h.Size > 0 && !isHeaderOnly(h.Typeflag) && h.Typeflag != gnuDumpDir:
				// Data of a type this reader does not know (a vendor's
				// 'A'..'Z'): skipped, as WebDataset skips it, and told,
				// as GNU tar and Python's tarfile read it as a file.
				r.links.skip(fmt.Sprintf("%s (type %q)", h.Name, h.Typeflag))
			}
			continue // directories, devices, global headers, ...
		}
		if data-header < blockSize || (data-header)%blockSize != 0 {
			return nil, r.fail(header, fmt.Errorf("entry data at offset %d is not block-aligned", data))
		}
		// archive/tar takes a GNU long name over a PAX path, Python's
		// tarfile the PAX path: an entry naming itself both ways would be
		// checked under one name and, copied raw, read under the other.
		if path, ok := h.PAXRecords["path"]; ok && path != h.Name {
			return nil, r.fail(header, fmt.Errorf("entry %q has a PAX path %q too: readers disagree on its name", h.Name, path))
		}
		name, err := memberName(h.Name)
		if err != nil {
			return nil, r.fail(header, err)
		}
		r.current, r.name = header, name
		e := &Entry{Name: name, Size: h.Size, HeaderOffset: -1, DataOffset: -1}
		if r.offsets {
			e.HeaderOffset, e.DataOffset = header, data
			// Only a single header block that names the entry as it is
			// read is copied raw: with PAX or GNU long-name blocks before
			// it, two of one kind are read differently by archive/tar
			// (the last) and Python's tarfile (the first).
			e.Rewrite = data-header != blockSize || h.Name != name
			if !e.Rewrite && r.plain != nil {
				// Nor one that Python's tarfile (what training jobs read
				// shards with) would read otherwise: rewritten, it is.
				if err := r.plain.block(header, &r.block); err != nil {
					return nil, r.fail(header, err)
				}
				e.Rewrite = !portableHeader(&r.block)
			}
		}
		return e, nil
	}
}

// Links reports the hard and symbolic links skipped so far, and the
// entries with data of types that are not files.
func (r *tarReader) Links() (int, []string) { return r.links.Links() }

func (r *tarReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.tr.Read(p)
	if err != nil && err != io.EOF {
		return n, r.fail(r.current, fmt.Errorf("entry %q: %w", r.name, err))
	}
	return n, err
}

// WriteTo copies the rest of the current entry's data to w through a pooled
// buffer.
func (r *tarReader) WriteTo(w io.Writer) (int64, error) {
	return copyPooled(w, readerOnly{r})
}

// end finishes the archive at its end marker.
func (r *tarReader) end() error {
	if r.finish != nil {
		if err := r.finish(); err != nil {
			return r.fail(r.next, err)
		}
	}
	r.err = io.EOF
	r.releaseOnce()
	return io.EOF
}

// fail turns an error into the sticky error: an I/O failure of the
// underlying storage passes through, anything else is corruption at offset.
func (r *tarReader) fail(offset int64, err error) error {
	if failure := r.failure(); failure != nil {
		r.err = fmt.Errorf("formats: read shard %q: %w", r.shard, failure)
	} else {
		r.err = &HeaderError{Shard: r.shard, Offset: offset, Err: err}
	}
	r.releaseOnce()
	return r.err
}

func (r *tarReader) releaseOnce() {
	if r.release != nil {
		r.release()
		r.release = nil
	}
}

// TarHeaderSize is what the tar writer spends on the headers of an entry:
// one 512-byte block when USTAR holds the name and size, more (a PAX
// record) otherwise. A tar shard the writer makes is the sum over its
// entries of this and the data padded to 512, plus 1024 bytes of end
// marker.
func TarHeaderSize(name string, size int64) int64 {
	if len(name) <= 100 && size < 1<<33 && isASCII(name) {
		return blockSize // the common case, without encoding a header
	}
	var counted byteCounter
	tw := tar.NewWriter(&counted)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: entryMode, ModTime: modTime}); err != nil {
		return blockSize // the writer refuses the entry anyway
	}
	return int64(counted)
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// byteCounter counts what is written to it.
type byteCounter int64

func (c *byteCounter) Write(p []byte) (int, error) {
	*c += byteCounter(len(p))
	return len(p), nil
}

// maxTarName is the longest entry name a tarWriter writes: its PAX
// record ("%d path=%s\n", 14 bytes more) and a size's record (an entry of
// 8 GiB or more, 28 bytes at most) must fit archive/tar's 1 MiB for a
// PAX header.
const maxTarName = 1<<20 - 64

// tarWriter writes a tar stream to w; done, if set, finishes what lies
// under the tar stream (flushes a buffer, closes a compressor).
type tarWriter struct {
	w         io.Writer
	tw        *tar.Writer
	done      func(abort bool) error // releases what the writer holds; flushes unless abort
	header    tar.Header             // reused
	remaining int64                  // data bytes the current entry still needs
	err       error                  // sticky
}

var _ RawWriter = (*tarWriter)(nil)

func newTarWriter(w io.Writer, done func(abort bool) error) *tarWriter {
	return &tarWriter{w: w, tw: tar.NewWriter(w), done: done}
}

func (t *tarWriter) WriteHeader(e *Entry) error {
	if t.err != nil {
		return t.err
	}
	if err := checkName(e.Name); err != nil {
		return err
	}
	if e.Size < 0 {
		return fmt.Errorf("entry %q: negative size %d: %w", e.Name, e.Size, ErrEntrySize)
	}
	if err := checkTarName(e.Name); err != nil {
		// Refused here, the writer still usable: archive/tar fails for
		// good on a PAX header past 1 MiB.
		return err
	}
	if t.remaining != 0 {
		return t.fail(fmt.Errorf("%d bytes missing before entry %q: %w", t.remaining, e.Name, ErrEntrySize))
	}
	t.header = tar.Header{
		Typeflag: tar.TypeReg,
		Name:     e.Name,
		Size:     e.Size,
		Mode:     entryMode,
		ModTime:  modTime,
	}
	if err := t.tw.WriteHeader(&t.header); err != nil {
		return t.fail(err)
	}
	t.remaining = e.Size
	return nil
}

func (t *tarWriter) Write(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	if int64(len(p)) > t.remaining {
		return 0, t.fail(fmt.Errorf("%d bytes written past the entry's size: %w", int64(len(p))-t.remaining, ErrEntrySize))
	}
	n, err := t.tw.Write(p)
	t.remaining -= int64(n)
	if err != nil {
		return n, t.fail(err)
	}
	return n, nil
}

// ReadFrom copies r into the current entry through a pooled buffer.
func (t *tarWriter) ReadFrom(r io.Reader) (int64, error) {
	return copyPooled(writerOnly{t}, r)
}

// WriteRaw copies one entry that is already tar-encoded: its header block,
// data and padding, n bytes, a multiple of 512. The block must be a sound
// header of a regular file whose size is what n holds and whose name is
// safe as it is: a raw entry (from another node) cannot bring a link, a
// name that climbs out, or entries hidden behind a size it misstates.
func (t *tarWriter) WriteRaw(r io.Reader, n int64) error {
	if t.err != nil {
		return t.err
	}
	if t.remaining != 0 {
		return t.fail(fmt.Errorf("%d bytes missing before a raw entry: %w", t.remaining, ErrEntrySize))
	}
	if n < blockSize || n%blockSize != 0 {
		return fmt.Errorf("formats: raw tar entry of %d bytes is not a whole number of 512-byte blocks", n)
	}
	if err := t.tw.Flush(); err != nil {
		return t.fail(err)
	}
	var block [blockSize]byte
	if _, err := io.ReadFull(r, block[:]); err != nil {
		return t.fail(fmt.Errorf("formats: read raw tar entry: %w", err))
	}
	if !validChecksum(&block) {
		return t.fail(fmt.Errorf("formats: raw tar entry does not start with a valid header: %w", ErrCorrupt))
	}
	if err := checkRawHeader(&block, n); err != nil {
		return t.fail(err)
	}
	if _, err := t.w.Write(block[:]); err != nil {
		return t.fail(err)
	}
	if _, err := copyInto(t.w, r, n-blockSize); err != nil {
		return t.fail(fmt.Errorf("formats: copy raw tar entry: %w", err))
	}
	return nil
}

// copyInto copies exactly n bytes of r to w, or fails with
// io.ErrUnexpectedEOF: read straight into the buffer of a bufio.Writer
// (one copy of every byte fewer than through a buffer of its own), else
// through a pooled buffer.
func copyInto(w io.Writer, r io.Reader, n int64) (int64, error) {
	buffered, ok := w.(*bufio.Writer)
	if !ok {
		return copyPooledN(w, r, n)
	}
	written, err := buffered.ReadFrom(readerOnly{io.LimitReader(r, n)})
	if err == nil && written < n {
		err = io.ErrUnexpectedEOF
	}
	return written, err
}

// validChecksum checks a tar header block's checksum field, which holds the
// sum of the block's bytes with the field itself counted as spaces.
// checkRawHeader checks a raw entry's one header block against its n
// bytes: a regular file, of the size n holds, under a clean name. It reads
// the fields itself: it runs for every entry a tar-to-tar job copies.
func checkRawHeader(block *[blockSize]byte, n int64) error {
	if t := block[156]; t != tar.TypeReg && t != tar.TypeRegA && t != tar.TypeCont { // the types the reader takes as files
		return fmt.Errorf("formats: raw tar entry is of type %q, not a regular file: %w", t, ErrCorrupt)
	}
	name := headerString(block[0:100])
	if string(block[257:263]) == "ustar\x00" { // USTAR and PAX: a prefix; GNU has none
		if prefix := headerString(block[345:500]); prefix != "" {
			name = prefix + "/" + name
		}
	}
	if clean, err := memberName(name); err != nil || clean != name {
		return fmt.Errorf("formats: raw tar entry %q: %w", name, ErrInvalidName)
	}
	size, ok := headerSize(block[124:136])
	if !ok || blockSize+blockPadded(size) != n {
		return fmt.Errorf("formats: raw tar entry %q of %d bytes says it holds %d bytes of data: %w", name, n, size, ErrCorrupt)
	}
	if !portableHeader(block) {
		return fmt.Errorf("formats: raw tar entry %q has a header other readers read otherwise: %w", name, ErrCorrupt)
	}
	return nil
}

// portableHeader reports a header block that archive/tar, Python's
// tarfile and GNU tar read alike, with no special mode bits: its numeric
// fields plain octal (Python stops a field at its first NUL, Go trims
// NULs at both ends), and a name prefix only where every reader takes one
// (POSIX USTAR; Python reads one from any block, Go from USTAR alone, and
// a STAR block's is shorter in Go).
func portableHeader(block *[blockSize]byte) bool {
	for _, field := range [][]byte{block[100:108], block[108:116], block[116:124], block[136:148], block[148:156], block[329:337], block[337:345]} {
		if !plainOctal(field) {
			return false
		}
	}
	if block[124]&0x80 != 0 {
		if block[124] != 0x80 { // base 256, as headerSize takes it
			return false
		}
	} else if !plainOctal(block[124:136]) {
		return false
	}
	if plainOctalValue(block[100:108])&0o7000 != 0 {
		return false // setuid, setgid or sticky: not copied into a dataset
	}
	ustar := string(block[257:265]) == "ustar\x0000"
	if ustar && string(block[508:512]) == "tar\x00" {
		return false // STAR
	}
	if !ustar {
		for _, b := range block[345:500] {
			if b != 0 {
				return false
			}
		}
	}
	return true
}

// plainOctalValue is the number of a field plainOctal takes, read
// without an allocation (a check of every entry a tar-to-tar job copies).
func plainOctalValue(field []byte) int64 {
	var v int64
	for _, c := range field {
		switch {
		case c >= '0' && c <= '7':
			v = v<<3 | int64(c-'0')
		case c == ' ' && v == 0:
		default:
			return v
		}
	}
	return v
}

// plainOctal reports a numeric field every reader reads as the same
// number: spaces, octal digits, then only spaces and NULs.
func plainOctal(field []byte) bool {
	i := 0
	for i < len(field) && field[i] == ' ' {
		i++
	}
	for i < len(field) && field[i] >= '0' && field[i] <= '7' {
		i++
	}
	for ; i < len(field); i++ {
		if field[i] != ' ' && field[i] != 0 {
			return false
		}
	}
	return true
}

// headerString is a NUL-terminated header field.
func headerString(field []byte) string {
	if i := bytes.IndexByte(field, 0); i >= 0 {
		field = field[:i]
	}
	return string(field)
}

// headerSize reads a size field: octal digits between spaces or NULs, or
// GNU's base-256 for sizes past 8 GiB.
func headerSize(field []byte) (int64, bool) {
	if field[0]&0x80 != 0 {
		if field[0] != 0x80 {
			return 0, false // negative, or past an int64
		}
		var size int64
		for _, b := range field[1:] {
			if size > math.MaxInt64>>8 {
				return 0, false
			}
			size = size<<8 | int64(b)
		}
		return size, true
	}
	digits := strings.Trim(string(field), " \x00")
	if digits == "" {
		return 0, true // as archive/tar reads it
	}
	size, err := strconv.ParseInt(digits, 8, 64)
	return size, err == nil && size >= 0
}

func validChecksum(block *[blockSize]byte) bool {
	field := strings.TrimRight(strings.TrimLeft(string(block[148:156]), " \x00"), " \x00")
	want, err := strconv.ParseUint(field, 8, 32)
	if err != nil {
		return false
	}
	// Old tars sum signed bytes; archive/tar takes either sum, and so
	// must a raw copy of what it read.
	var sum, signed int64
	for i, b := range block {
		if i >= 148 && i < 156 {
			b = ' '
		}
		sum += int64(b)
		signed += int64(int8(b))
	}
	return sum == int64(want) || signed == int64(want)
}

func (t *tarWriter) Close() error {
	if t.err == ErrClosed {
		return nil
	}
	err := t.err
	if err == nil && t.remaining != 0 {
		err = fmt.Errorf("%d bytes missing at close: %w", t.remaining, ErrEntrySize)
	}
	if err == nil {
		err = t.tw.Close()
	}
	if t.done != nil {
		if doneErr := t.done(false); err == nil {
			err = doneErr
		}
		t.done = nil
	}
	t.err = ErrClosed
	return err
}

// abort releases the writer's buffers and compressor, writing nothing
// more (see Abort).
func (t *tarWriter) abort() {
	if t.err == ErrClosed {
		return
	}
	if t.done != nil {
		t.done(true)
		t.done = nil
	}
	t.err = ErrClosed
}

func (t *tarWriter) fail(err error) error {
	if t.err == nil {
		t.err = err
	}
	return t.err
}

// checkTarName refuses a name past what a tar header carries (a reader
// takes a little more: a GNU long name of 1 MiB).
func checkTarName(name string) error {
	if len(name) > maxTarName {
		return fmt.Errorf("entry %.64q...: a name of %d bytes, past the %d a tar header carries: %w", name, len(name), maxTarName, ErrInvalidName)
	}
	return nil
}

// CheckEntry refuses the names a tar header cannot carry: extraction
// fails on them, not the shard's creation after the sort.
func (Tar) CheckEntry(name string, _ int64) error { return checkTarName(name) }
