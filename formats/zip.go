package formats

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/aisgo/aisgo/internal/pool"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zip"
	"golang.org/x/sync/semaphore"
)

// Zip is the zip format (".zip"). Readers take members in central-directory
// order and read stored and deflated members; writers deflate every member
// at level 1 (deflate falls back to stored blocks for incompressible data)
// with a data descriptor, and switch to zip64 only for what needs it.
type Zip struct{}

var _ Format = Zip{}

func (Zip) Name() string         { return "zip" }
func (Zip) Extensions() []string { return []string{".zip"} }
func (Zip) Offsets() bool        { return false }

// CheckEntry refuses the names a zip member cannot carry.
func (Zip) CheckEntry(name string, _ int64) error {
	if !utf8.ValidString(name) {
		// Written without zip's UTF-8 flag, readers would take it as
		// cp437 (another name than tar's); with it, Python fails on it.
		return fmt.Errorf("entry %q: a name that is not UTF-8, which a zip member cannot carry as it is: %w", name, ErrInvalidName)
	}
	if len(name) > math.MaxUint16 {
		// Refused before the zip writer takes it into its directory,
		// where it would fail the whole shard (tar takes such names).
		return fmt.Errorf("entry %.64q...: a name of %d bytes, past zip's %d: %w", name, len(name), math.MaxUint16, ErrInvalidName)
	}
	return nil
}

// Match looks for a local file header, an empty archive's end record or a
// spanning marker: "PK" followed by 3 4, 5 6 or 7 8.
func (Zip) Match(head []byte) bool {
	return bytes.HasPrefix(head, []byte("PK\x03\x04")) ||
		bytes.HasPrefix(head, []byte("PK\x05\x06")) ||
		bytes.HasPrefix(head, []byte("PK\x07\x08"))
}

// NewReader reads the central directory; a shard whose directory cannot be
// read is corrupt at offset -1 (unknown).
func (Zip) NewReader(r io.ReaderAt, size int64, shard string) (Reader, error) {
	if size < 0 {
		return nil, fmt.Errorf("formats: shard %q: negative size %d", shard, size)
	}
	// The section bounds every read to the shard: a corrupt offset reads
	// io.EOF, never bytes past the end or an error of the storage.
	storage := &failureReaderAt{r: io.NewSectionReader(r, 0, size)}
	// zip.NewReader holds the whole directory in memory, up to eight times
	// its size, before any bound on the members applies (a directory of
	// empty records, a few GiB, would be tens of GiB): what it reads is
	// bounded, whatever the end record declares.
	end, err := readZipEnd(storage, size)
	if err != nil {
		return nil, &HeaderError{Shard: shard, Offset: -1, Err: err}
	}
	dirSize := end.weigh
	// zip.NewReader reads records until one does not parse, past the
	// size the end records give (a zip64 end record may sit in the middle
	// of a directory that goes on): it reads no more than was weighed.
	budget := &readBudget{r: storage, left: int64(min(dirSize, maxZipDirectory)) + zipEndSearch + zipRecordSlack}
	zr, err := zip.NewReader(budget, size)
	if budget.exceeded.Load() {
		if dirSize > maxZipDirectory {
			return nil, &HeaderError{Shard: shard, Offset: -1, Err: fmt.Errorf("%w: its central directory is more than the %d bytes a zip shard may have (about a million members)", ErrCorrupt, maxZipDirectory)}
		}
		return nil, &HeaderError{Shard: shard, Offset: -1, Err: fmt.Errorf("%w: its central directory runs past the %d bytes its end records give it", ErrCorrupt, dirSize)}
	}
	// The members are read through it too: not bounded.
	atomic.StoreInt64(&budget.left, math.MaxInt64/2)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // names are checked one by one below
		if storage.err != nil {
			return nil, fmt.Errorf("formats: read shard %q: %w", shard, storage.err)
		}
		return nil, &HeaderError{Shard: shard, Offset: -1, Err: err}
	}
	if err := checkZipDirectory(end, zr.File); err != nil {
		return nil, &HeaderError{Shard: shard, Offset: -1, Err: err}
	}
	return &zipReader{shard: shard, size: size, storage: storage, files: zr.File}, nil
}

// maxZipDirectory bounds a zip shard's central directory (a variable for
// the tests).
var maxZipDirectory uint64 = 128 << 20

// ZipMemory is about the memory a zip shard's Reader holds for as long as
// it is open: its central directory, as its end records state it, eight
// times over (a record of 46 bytes takes about 360 in memory at most: its
// File, its slot, a time zone of its own) (0 when the end record cannot
// be read: NewReader fails). A server bounds the shards it holds open at
// once by it.
func ZipMemory(r io.ReaderAt, size int64) int64 {
	dirSize, err := checkZipEnd(r, size)
	if err != nil {
		return 0
	}
	return 8 * int64(min(dirSize, maxZipDirectory))
}

// MaxZipMemory bounds the central directories of the zip shards a
// process reads at once (ZipDirectories).
const MaxZipMemory = 1 << 30

// ZipDirectories is the process's MaxZipMemory, weighed by ZipWeight:
// dSort's extraction and estimate and a node's archive reads draw on
// one, so that zip shards read at once hold that much at most, however
// many there are.
var ZipDirectories = semaphore.NewWeighted(MaxZipMemory)

// ZipWeight is a zip shard's share of ZipDirectories: its ZipMemory and
// a little more, MaxZipMemory at most.
func ZipWeight(r io.ReaderAt, size int64) int64 {
	return min(ZipMemory(r, size)+64<<10, MaxZipMemory)
}

// HoldZip takes a zip shard's share of ZipDirectories, waiting for it
// until ctx ends; release gives it back once the shard's Reader is done.
func HoldZip(ctx context.Context, r io.ReaderAt, size int64) (release func(), err error) {
	weight := ZipWeight(r, size)
	if err := ZipDirectories.Acquire(ctx, weight); err != nil {
		return nil, fmt.Errorf("zip shards of %d bytes of directories are being read: %w", MaxZipMemory, context.Cause(ctx))
	}
	return func() { ZipDirectories.Release(weight) }, nil
}

// zip64End reads the zip64 end record that the locator before the end
// record at endAt points at, as zip.NewReader does (ok false where it
// takes none).
func zip64End(r io.ReaderAt, size, endAt int64) (records, dirSize, dirOffset, offset uint64, ok bool) {
	const locatorLen, end64Len = 20, 56
	if endAt < locatorLen {
		return 0, 0, 0, 0, false
	}
	locator := make([]byte, locatorLen)
	if _, err := r.ReadAt(locator, endAt-locatorLen); err != nil || binary.LittleEndian.Uint32(locator) != 0x07064b50 ||
		binary.LittleEndian.Uint32(locator[4:]) != 0 || binary.LittleEndian.Uint32(locator[16:]) != 1 {
		return 0, 0, 0, 0, false
	}
	offset = binary.LittleEndian.Uint64(locator[8:])
	if offset > uint64(size) {
		return 0, 0, 0, 0, false
	}
	record := make([]byte, end64Len)
	if _, err := r.ReadAt(record, int64(offset)); err != nil || binary.LittleEndian.Uint32(record) != 0x06064b50 {
		return 0, 0, 0, 0, false
	}
	return binary.LittleEndian.Uint64(record[32:]), binary.LittleEndian.Uint64(record[40:]), binary.LittleEndian.Uint64(record[48:]), offset, true
}

// checkZipEnd refuses an end record whose count of members its central
// directory cannot hold (a member's record is 46 bytes at least):
// zip.NewReader sizes its list by that count before it reads any (and
// checks only its low 16 bits after). An end record it cannot find is
// left for zip.NewReader to name.
func checkZipEnd(r io.ReaderAt, size int64) (dirSize uint64, err error) {
	end, err := readZipEnd(r, size)
	return end.weigh, err
}

// zipEnd is what a zip's end records say of its central directory.
type zipEnd struct {
	weigh   uint64 // the bytes zip.NewReader may read of it
	size    uint64 // as declared (0: no end record found)
	records uint64 // as declared; in full when zip64 gave it
	zip64   bool
}

// readZipEnd is checkZipEnd with the directory's declared size and count.
func readZipEnd(r io.ReaderAt, size int64) (out zipEnd, err error) {
	const endLen, minRecord = 22, 46
	block := pool.Get(int(min(size, zipEndSearch)))
	defer pool.Put(block)
	base := size - int64(len(block))
	if n, _ := r.ReadAt(block, base); n < len(block) {
		return zipEnd{}, nil
	}
	at := -1
	for i := len(block) - endLen; i >= 0; i-- {
		if binary.LittleEndian.Uint32(block[i:]) == 0x06054b50 && i+endLen+int(binary.LittleEndian.Uint16(block[i+20:])) <= len(block) {
			at = i
			break
		}
	}
	if at < 0 {
		return zipEnd{}, nil
	}
	end := block[at:]
	endAt := uint64(base) + uint64(at)
	records := uint64(binary.LittleEndian.Uint16(end[10:]))
	dirSize := uint64(binary.LittleEndian.Uint32(end[12:]))
	dirOffset := uint64(binary.LittleEndian.Uint32(end[16:]))
	if records == 0xffff || dirSize == 0xffffffff || dirOffset == 0xffffffff {
		// Zip64: the counts are in the zip64 end record the locator
		// before this one points at. Without a locator zip.NewReader
		// takes (one on disk 0 of 1), it reads by the values above:
		// so does this.
		if records64, dirSize64, dirOffset64, offset, ok := zip64End(r, size, base+int64(at)); ok {
			records, dirSize, dirOffset, endAt = records64, dirSize64, dirOffset64, offset
			out.zip64 = true
		}
	}
	out.size, out.records = dirSize, records
	// zip.NewReader reads from the directory's offset on, whatever size
	// the end record gives it: the room before the end record counts.
	if dirOffset < endAt {
		dirSize = max(dirSize, endAt-dirOffset)
	}
	if records > dirSize/minRecord {
		return zipEnd{}, fmt.Errorf("%w: its end record claims %d members in a central directory of %d bytes", ErrCorrupt, records, dirSize)
	}
	// Nor more than a directory a shard may have holds: the room before
	// the end record may be the whole shard, and the list sized by the
	// count would be allocated before the read past the bound fails.
	if records > maxZipDirectory/minRecord {
		return zipEnd{}, fmt.Errorf("%w: its end record claims %d members, more than the %d bytes of central directory a zip shard may have hold", ErrCorrupt, records, maxZipDirectory)
	}
	out.weigh = dirSize
	return out, nil
}

// checkZipDirectory checks the records zip.NewReader read against what
// the end records declare: it stops, without an error, at the first
// record that does not parse, and compares the low 16 bits of the count
// only (a record damaged 65,536 before the end lost every member after
// it, silently).
func checkZipDirectory(end zipEnd, files []*zip.File) error {
	if end.size == 0 {
		return nil
	}
	if end.zip64 && uint64(len(files)) != end.records {
		return fmt.Errorf("%w: its central directory has %d readable records, its end record says %d", ErrCorrupt, len(files), end.records)
	}
	var read uint64
	for _, f := range files {
		read += 46 + uint64(len(f.Name)+len(f.Extra)+len(f.Comment))
	}
	if read != end.size {
		return fmt.Errorf("%w: the records read of its central directory take %d bytes, its end record says %d", ErrCorrupt, read, end.size)
	}
	return nil
}

// zipEndSearch is what zip.NewReader reads to find the end records (the
// last 64 KiB and change, a comment's most).
const zipEndSearch = 66 << 10

// zipRecordSlack is what zip.NewReader may read past a directory's end:
// the zip64 records, a buffer's worth, and a record's name, extra field
// and comment (64 KiB each at most).
const zipRecordSlack = 256 << 10

// readBudget fails the reads past a number of bytes.
type readBudget struct {
	r        io.ReaderAt
	left     int64 // atomically
	exceeded atomic.Bool
}

func (b *readBudget) ReadAt(p []byte, off int64) (int, error) {
	if atomic.AddInt64(&b.left, -int64(len(p))) < 0 {
		b.exceeded.Store(true)
		return 0, errZipDirectory
	}
	return b.r.ReadAt(p, off)
}

var errZipDirectory = fmt.Errorf("%w: the zip's directory is too big", ErrCorrupt)

// failureReaderAt records the first error of a ReaderAt other than io.EOF.
type failureReaderAt struct {
	r   io.ReaderAt
	mu  sync.Mutex
	err error
}

func (f *failureReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.r.ReadAt(p, off)
	if err != nil && err != io.EOF {
		f.mu.Lock()
		if f.err == nil {
			f.err = err
		}
		f.mu.Unlock()
	}
	return n, err
}

func (f *failureReaderAt) failure() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

type zipReader struct {
	shard   string
	size    int64
	storage *failureReaderAt
	files   []*zip.File
	next    int           // index of the next file
	data    io.ReadCloser // the current member's data
	offset  int64         // the current member's data offset
	// left is what is still to read of the current member: at 0 the
	// member is read once more, to its end, where its CRC is checked (a
	// reader that takes exactly Size bytes never gets there).
	left int64
	name string // the current member's
	// crc sums the current member when the zip reader would not check
	// it: a CRC field of 0 and no data descriptor (it skips those).
	crc hash.Hash32
	err error // sticky
	// links are the symbolic links skipped.
	links skippedLinks
	// spans are the data of the members read, by offset: no two may
	// share bytes.
	spans []span
	// claimed sums the data of the members read.
	claimed int64
}

// span is a member's data in the shard, [start, end).
type span struct{ start, end int64 }

// claim takes a member's data for its own: members whose data overlap
// (many directory entries on one member, zip's "overlap" bomb, where a
// small shard makes terabytes of records) are refused, as Python's
// zipfile and unzip refuse them.
func (z *zipReader) claim(start, end int64) error {
	if end <= start {
		return nil // no data to share
	}
	// Data that adds up to more than the shard shares bytes: the bound
	// that holds whatever the order of the members.
	if z.claimed += end - start; z.claimed > z.size {
		return fmt.Errorf("%w: its data at %d to %d overlaps another member's (the members' data add up to more than the shard)", ErrCorrupt, start, end)
	}
	n := len(z.spans)
	if n == 0 || z.spans[n-1].end <= start {
		z.spans = append(z.spans, span{start, end}) // in order: the usual zip
		return nil
	}
	if n >= maxExactSpans {
		// Out of order, past a bound: each insert would move the spans
		// (quadratic in a directory of millions); the sum above bounds
		// what shared bytes can make.
		return nil
	}
	i, _ := slices.BinarySearchFunc(z.spans, start, func(s span, start int64) int { return cmp.Compare(s.start, start) })
	if i > 0 && z.spans[i-1].end > start || i < len(z.spans) && z.spans[i].start < end {
		return fmt.Errorf("%w: its data at %d to %d overlaps another member's", ErrCorrupt, start, end)
	}
	z.spans = slices.Insert(z.spans, i, span{start, end})
	return nil
}

// maxExactSpans bounds the spans checked one by one against a member out
// of order (a variable for the tests).
var maxExactSpans = 1 << 14

// Links reports the symbolic links skipped so far.
func (z *zipReader) Links() (int, []string) { return z.links.Links() }

var errEncrypted = fmt.Errorf("encrypted zip members: %w", ErrUnsupported)

// CountNamed counts the files of the central directory named name, as
// Next names them (no data read, no member checked: a file another
// method packed counts too).
func (z *zipReader) CountNamed(name string) int {
	count := 0
	for _, f := range z.files {
		if f.Mode()&fs.ModeSymlink != 0 || strings.HasSuffix(f.Name, "/") || !f.Mode().IsRegular() && f.UncompressedSize64 == 0 {
			continue
		}
		if n, err := memberName(f.Name); err == nil && n == name {
			count++
		}
	}
	return count
}

func (z *zipReader) Next() (*Entry, error) {
	if z.err != nil {
		return nil, z.err
	}
	z.closeData()
	for z.next < len(z.files) {
		f := z.files[z.next]
		z.next++
		if f.Mode()&fs.ModeSymlink != 0 {
			z.links.skip(f.Name)
			continue
		}
		// A directory by its name, or by its mode with no data: a member
		// with data is a file whatever its mode says (an MS-DOS
		// directory bit, a FIFO's), as unzip and Python read it.
		if strings.HasSuffix(f.Name, "/") || !f.Mode().IsRegular() && f.UncompressedSize64 == 0 {
			continue
		}
		offset, err := f.DataOffset()
		if err != nil {
			return nil, z.fail(-1, fmt.Errorf("member %q: local header: %w", f.Name, err))
		}
		name, err := memberName(f.Name)
		if err != nil {
			return nil, z.fail(offset, err)
		}
		switch {
		case f.Flags&0x1 != 0:
			return nil, z.fail(offset, errEncrypted)
		case f.Method != zip.Store && f.Method != zip.Deflate:
			return nil, z.fail(offset, fmt.Errorf("zip compression method %d: %w", f.Method, ErrUnsupported))
		case offset < 0 || offset > z.size || f.CompressedSize64 > uint64(z.size-offset):
			return nil, z.fail(offset, fmt.Errorf("%w: member %q of %d bytes at offset %d, shard size %d",
				errPastEnd, name, f.CompressedSize64, offset, z.size))
		case f.UncompressedSize64 > math.MaxInt64:
			return nil, z.fail(offset, fmt.Errorf("member %q: size %d out of range", name, f.UncompressedSize64))
		case f.Method == zip.Deflate && f.UncompressedSize64 > 1032*f.CompressedSize64+1024:
			// Deflate expands at most about 1032 times: a larger claim is
			// a lie, which a scan of headers alone (an estimate) would
			// take for a record's size.
			return nil, z.fail(offset, fmt.Errorf("member %q: size %d from %d compressed bytes is more than deflate can make", name, f.UncompressedSize64, f.CompressedSize64))
		case f.Method == zip.Store && f.UncompressedSize64 != f.CompressedSize64:
			return nil, z.fail(offset, fmt.Errorf("stored member %q: size %d differs from its stored size %d",
				name, f.UncompressedSize64, f.CompressedSize64))
		}
		if err := z.claim(offset, offset+int64(f.CompressedSize64)); err != nil {
			return nil, z.fail(offset, fmt.Errorf("member %q: %w", name, err))
		}
		if f.Method == zip.Deflate && f.CompressedSize64 == 0 && f.UncompressedSize64 == 0 {
			// No bytes at all, not even an empty deflate stream (some
			// writers' empty file): empty, as unzip and Python read it.
			if f.CRC32 != 0 {
				return nil, z.fail(offset, fmt.Errorf("member %q: %w: no data, its CRC %08x", name, zip.ErrChecksum, f.CRC32))
			}
			z.offset, z.left, z.name, z.crc = offset, 0, name, nil
			return &Entry{Name: name, HeaderOffset: -1, DataOffset: -1}, nil
		}
		data, err := f.Open()
		if err != nil {
			return nil, z.fail(offset, fmt.Errorf("member %q: %w", name, err))
		}
		z.data, z.offset, z.left, z.name, z.crc = data, offset, int64(f.UncompressedSize64), name, nil
		if f.CRC32 == 0 && f.Flags&0x8 == 0 && f.UncompressedSize64 > 0 {
			z.crc = crc32.NewIEEE()
		}
		if z.left == 0 {
			if err := z.checkEnd(); err != nil {
				return nil, err
			}
		}
		return &Entry{Name: name, Size: int64(f.UncompressedSize64), HeaderOffset: -1, DataOffset: -1}, nil
	}
	z.err = io.EOF
	return nil, io.EOF
}

// Read reads the current member; a member whose data is longer or shorter
// than declared, or whose checksum differs, is corrupt.
func (z *zipReader) Read(p []byte) (int, error) {
	if z.err != nil {
		return 0, z.err
	}
	if z.data == nil {
		return 0, io.EOF
	}
	n, err := z.data.Read(p)
	if err != nil && err != io.EOF {
		return n, z.fail(z.offset, fmt.Errorf("member %q: %w", z.name, err))
	}
	if z.crc != nil {
		z.crc.Write(p[:n])
	}
	z.left -= int64(n)
	if err == io.EOF && z.crc != nil && z.crc.Sum32() != 0 {
		// A decompressor's last bytes come with its EOF: checkEnd is
		// not reached.
		return n, z.fail(z.offset, fmt.Errorf("member %q: %w: its data's CRC is %08x, its header's 0", z.name, zip.ErrChecksum, z.crc.Sum32()))
	}
	if z.left == 0 && err == nil {
		if err := z.checkEnd(); err != nil {
			return n, err
		}
		return n, io.EOF
	}
	if err == io.EOF {
		z.closeData() // its decompressor back to its pool now
	}
	return n, err
}

// checkEnd reads the current member past its declared size: it must end
// there, with its CRC (checked by the zip reader at the end) right.
func (z *zipReader) checkEnd() error {
	name := z.name
	var probe [1]byte
	for range 8 { // a decompressor may return (0, nil) before the end
		n, err := z.data.Read(probe[:])
		switch {
		case n > 0:
			return z.fail(z.offset, fmt.Errorf("member %q: %w: data longer than its declared size", name, zip.ErrFormat))
		case err == io.EOF && z.crc != nil && z.crc.Sum32() != 0:
			return z.fail(z.offset, fmt.Errorf("member %q: %w: its data's CRC is %08x, its header's 0", name, zip.ErrChecksum, z.crc.Sum32()))
		case err == io.EOF:
			z.closeData() // its decompressor back to its pool now
			return nil
		case err != nil:
			return z.fail(z.offset, fmt.Errorf("member %q: %w", name, err))
		}
	}
	return z.fail(z.offset, fmt.Errorf("member %q: no end after its declared size", name))
}

// Detacher is a Reader that can let go of all it holds of a shard but
// the member Next returned last, which it reads on alone; Next then ends.
// A server that streams one file of a zip shard holds that file's record
// only, not the directory of every member (hundreds of MiB).
type Detacher interface {
	Detach() error
}

var _ Detacher = (*zipReader)(nil)

// Detach reads the current member on from its own bytes, method, size
// and CRC, and drops the central directory. It is taken before the
// member's first read only.
func (z *zipReader) Detach() error {
	if z.err != nil {
		return z.err
	}
	if z.next == 0 {
		return errors.New("formats: detach: no member whose data is unread")
	}
	f := z.files[z.next-1]
	if f.UncompressedSize64 == 0 && z.data == nil {
		// An empty member, checked and ended by Next: nothing to read.
		z.files, z.next, z.spans = nil, 0, nil
		return nil
	}
	if z.data == nil || z.left != int64(f.UncompressedSize64) {
		return errors.New("formats: detach: no member whose data is unread")
	}
	section := io.NewSectionReader(z.storage, z.offset, int64(f.CompressedSize64))
	var data io.ReadCloser
	switch f.Method {
	case zip.Store:
		data = io.NopCloser(section)
	case zip.Deflate:
		data = newInflater(section)
	default:
		return fmt.Errorf("formats: detach: zip compression method %d", f.Method)
	}
	z.closeData()
	z.data, z.crc = &crcChecked{ReadCloser: data, name: z.name, want: f.CRC32, size: f.UncompressedSize64, hash: crc32.NewIEEE()}, nil
	z.files, z.next, z.spans = nil, 0, nil
	return nil
}

// crcChecked fails the end of a member's data whose size or CRC is not
// its record's, as the zip reader does.
type crcChecked struct {
	io.ReadCloser
	name       string
	want       uint32
	size, read uint64
	hash       hash.Hash32
}

func (c *crcChecked) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.hash.Write(p[:n])
	c.read += uint64(n)
	switch {
	case err == io.EOF && c.read != c.size:
		return n, fmt.Errorf("member %q: %w: %d bytes of data, its record says %d", c.name, io.ErrUnexpectedEOF, c.read, c.size)
	case err == io.EOF && c.hash.Sum32() != c.want:
		return n, fmt.Errorf("member %q: %w: its data's CRC is %08x, its record's %08x", c.name, zip.ErrChecksum, c.hash.Sum32(), c.want)
	}
	return n, err
}

// inflaters pools the decompressors of detached members: each costs tens
// of KiB, and a get-batch detaches a member per file of a zip.
var inflaters sync.Pool // io.ReadCloser, a flate.Resetter

// newInflater decompresses r with a pooled decompressor, given back by
// its Close.
func newInflater(r io.Reader) io.ReadCloser {
	if d, ok := inflaters.Get().(io.ReadCloser); ok {
		if d.(flate.Resetter).Reset(r, nil) == nil {
			return &pooledInflater{d}
		}
	}
	return &pooledInflater{flate.NewReader(r)}
}

type pooledInflater struct{ io.ReadCloser }

func (p *pooledInflater) Read(b []byte) (int, error) {
	if p.ReadCloser == nil {
		return 0, ErrClosed
	}
	return p.ReadCloser.Read(b)
}

func (p *pooledInflater) Close() error {
	if p.ReadCloser == nil {
		return nil
	}
	d := p.ReadCloser
	p.ReadCloser = nil
	d.(flate.Resetter).Reset(bytes.NewReader(nil), nil) // let go of the shard
	inflaters.Put(d)
	return nil
}

// WriteTo copies the rest of the current member to w through a pooled
// buffer.
func (z *zipReader) WriteTo(w io.Writer) (int64, error) {
	return copyPooled(w, readerOnly{z})
}

func (z *zipReader) closeData() {
	if z.data != nil {
		z.data.Close() // gives the decompressor back to its pool
		z.data = nil
	}
}

func (z *zipReader) fail(offset int64, err error) error {
	if failure := z.storage.failure(); failure != nil {
		z.err = fmt.Errorf("formats: read shard %q: %w", z.shard, failure)
	} else {
		z.err = &HeaderError{Shard: z.shard, Offset: offset, Err: err}
	}
	z.closeData()
	return z.err
}

// flateWriters pools level-1 deflate writers: each costs hundreds of KiB,
// and a zip shard needs one per member.
var flateWriters sync.Pool // *flate.Writer

func newFlateWriter(w io.Writer) (io.WriteCloser, error) {
	fw, _ := flateWriters.Get().(*flate.Writer)
	if fw == nil {
		var err error
		if fw, err = flate.NewWriter(w, flate.BestSpeed); err != nil {
			return nil, err
		}
	} else {
		fw.Reset(w)
	}
	return &pooledFlateWriter{fw: fw}, nil
}

type pooledFlateWriter struct{ fw *flate.Writer }

func (p *pooledFlateWriter) Write(b []byte) (int, error) {
	if p.fw == nil {
		return 0, ErrClosed
	}
	return p.fw.Write(b)
}

func (p *pooledFlateWriter) Close() error {
	if p.fw == nil {
		return nil
	}
	err := p.fw.Close()
	p.fw.Reset(io.Discard)
	flateWriters.Put(p.fw)
	p.fw = nil
	return err
}

func (Zip) NewWriter(w io.Writer) (Writer, error) {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, newFlateWriter)
	return &zipWriter{zw: zw}, nil
}

type zipWriter struct {
	zw        *zip.Writer
	member    io.Writer // the current member's writer
	remaining int64
	err       error // sticky
}

func (z *zipWriter) WriteHeader(e *Entry) error {
	if z.err != nil {
		return z.err
	}
	if err := checkName(e.Name); err != nil {
		return err
	}
	if e.Size < 0 {
		return fmt.Errorf("entry %q: negative size %d: %w", e.Name, e.Size, ErrEntrySize)
	}
	if err := (Zip{}).CheckEntry(e.Name, e.Size); err != nil {
		return err
	}
	if z.remaining != 0 {
		return z.fail(fmt.Errorf("%d bytes missing before entry %q: %w", z.remaining, e.Name, ErrEntrySize))
	}
	header := &zip.FileHeader{
		Name:     e.Name,
		Method:   zip.Deflate,
		Modified: modTime,
	}
	header.SetMode(entryMode)
	member, err := z.zw.CreateHeader(header)
	if err != nil {
		return z.fail(err)
	}
	z.member, z.remaining = member, e.Size
	return nil
}

func (z *zipWriter) Write(p []byte) (int, error) {
	if z.err != nil {
		return 0, z.err
	}
	if int64(len(p)) > z.remaining {
		return 0, z.fail(fmt.Errorf("%d bytes written past the entry's size: %w", int64(len(p))-z.remaining, ErrEntrySize))
	}
	n, err := z.member.Write(p)
	z.remaining -= int64(n)
	if err != nil {
		return n, z.fail(err)
	}
	return n, nil
}

// ReadFrom copies r into the current member through a pooled buffer.
func (z *zipWriter) ReadFrom(r io.Reader) (int64, error) {
	return copyPooled(writerOnly{z}, r)
}

func (z *zipWriter) Close() error {
	if z.err == ErrClosed {
		return nil
	}
	err := z.err
	if err == nil && z.remaining != 0 {
		err = fmt.Errorf("%d bytes missing at close: %w", z.remaining, ErrEntrySize)
	}
	if err == nil {
		err = z.zw.Close()
	}
	z.err = ErrClosed
	return err
}

// abort leaves the archive without its central directory (see Abort).
func (z *zipWriter) abort() { z.err = ErrClosed }

func (z *zipWriter) fail(err error) error {
	if z.err == nil {
		z.err = err
	}
	return z.err
}
