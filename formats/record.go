package formats

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
	"unicode/utf8"
)

// msgpack and TFRecord shards hold records, not files: one record carries
// its key and one value per extension (WebDataset's sample dict). A
// record's values are entries named KEY.EXT (KEY alone for an empty
// extension), so dSort groups them back into the same record.

// keyField is the record field holding the key, as WebDataset names it.
const keyField = "__key__"

// Limits of one record: they bound what a reader keeps per record (the
// field list and the names), whatever the shard claims. Writers start a
// new record rather than exceed them.
const (
	maxRecordFields = 4096    // values besides the key
	maxRecordNames  = 1 << 20 // bytes of the key and the field names
)

// MaxBufferedRecord bounds the bytes of one record a record-format writer
// gathers in memory before it can write the record (its length or field
// count comes first): builds run many at once, and a bigger record is
// refused rather than held.
const MaxBufferedRecord = 256 << 20

var errKeyExtension = fmt.Errorf("the extension %q is the record key's field: %w", keyField, ErrInvalidName)

// splitMember splits an entry name into record key and field (extension
// without its dot) at the first dot of the base name, as dSort does. A
// base whose only dot is its last byte stays whole, so that KEY.FIELD (or
// KEY for an empty field) gives the name back.
func splitMember(name string) (key, field string) {
	base := strings.LastIndexByte(name, '/') + 1
	dot := strings.IndexByte(name[base:], '.')
	if dot < 0 || base+dot == len(name)-1 {
		return name, ""
	}
	return name[:base+dot], name[base+dot+1:]
}

// joinMember is the inverse of splitMember.
func joinMember(key, field string) string {
	if field == "" {
		return key
	}
	return key + "." + field
}

// recordRules are what a record format accepts beyond the common limits.
type recordRules struct {
	maxMember int64 // largest value, in bytes
	utf8Field bool  // field names are protobuf strings: UTF-8
}

// checkEntry says whether a writer of these rules can write the member
// name of size bytes, in a record of its own.
func (rules recordRules) checkEntry(name string, size int64) error {
	key, field := splitMember(name)
	if err := rules.check(key, field); err != nil {
		return fmt.Errorf("entry %q: %w", name, err)
	}
	if size > rules.maxMember || size > MaxBufferedRecord {
		return fmt.Errorf("entry %q: %d bytes, more than the %d a record is kept in memory with: %w", name, size, min(rules.maxMember, MaxBufferedRecord), ErrEntrySize)
	}
	return nil
}

// check says whether a writer of these rules can write the member key.field
// (into a record of its own at least).
func (rules recordRules) check(key, field string) error {
	switch {
	case field == keyField:
		return errKeyExtension
	case len(keyField)+len(key)+len(field) > maxRecordNames:
		// The readers count the key field's own name too.
		return fmt.Errorf("key and extension of %d bytes, more than %d: %w", len(key)+len(field), maxRecordNames-len(keyField), ErrInvalidName)
	case rules.utf8Field && !utf8.ValidString(field):
		return fmt.Errorf("extension %q is not UTF-8: %w", field, ErrInvalidName)
	}
	return nil
}

// recordMember locates one value of the current record in the shard.
type recordMember struct {
	name         string
	offset, size int64
}

// recordReader is the Reader of the record formats. The format's decode
// reads the record at an offset, appends its values to members and
// returns the offset of the next record; values are then read where they
// lie, through the same shard reader.
type recordReader struct {
	shard   string
	src     *shardReader
	size    int64
	rules   recordRules
	decode  func(offset int64) (next int64, err error)
	next    int64 // offset of the next record
	record  int64 // offset of the current record
	members []recordMember
	index   int   // next member to return
	pos     int64 // the current member's next byte
	left    int64 // and its bytes still unread
	err     error // sticky
	empty   int   // records with no member (a key alone), bounded
}

func newRecordReader(r io.ReaderAt, size int64, shard string, rules recordRules) (*recordReader, error) {
	if size < 0 {
		return nil, fmt.Errorf("formats: shard %q: negative size %d", shard, size)
	}
	return &recordReader{shard: shard, src: newShardReader(r, size), size: size, rules: rules}, nil
}

func (r *recordReader) Next() (*Entry, error) {
	if r.err != nil {
		return nil, r.err
	}
	r.left = 0
	for r.index == len(r.members) {
		if r.next >= r.size {
			r.err = io.EOF
			r.src.release()
			return nil, io.EOF
		}
		r.members, r.index, r.record = r.members[:0], 0, r.next
		next, err := r.decode(r.next)
		if err != nil {
			return nil, r.fail(r.record, err)
		}
		r.next = next
		// A run of them parses without returning (no file counted, no
		// abort checked): bounded, as a tar's entries that are not files.
		if len(r.members) == 0 {
			if r.empty++; r.empty > maxSkippedEntries {
				return nil, r.fail(r.record, fmt.Errorf("more than %d records without a file", maxSkippedEntries))
			}
		}
	}
	m := &r.members[r.index]
	r.index++
	r.pos, r.left = m.offset, m.size
	return &Entry{Name: m.name, Size: m.size, HeaderOffset: -1, DataOffset: -1}, nil
}

func (r *recordReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	if r.src.position() != r.pos {
		r.src.Seek(r.pos, io.SeekStart)
	}
	n, err := r.src.Read(p)
	r.pos += int64(n)
	r.left -= int64(n)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return n, r.fail(r.record, err)
	}
	return n, nil
}

// WriteTo copies the rest of the current value to w through a pooled
// buffer.
func (r *recordReader) WriteTo(w io.Writer) (int64, error) {
	return copyPooled(w, readerOnly{r})
}

// readFull reads len(p) bytes at off; the caller has checked that they lie
// in the shard.
func (r *recordReader) readFull(off int64, p []byte) error {
	if r.src.position() != off {
		r.src.Seek(off, io.SeekStart)
	}
	_, err := io.ReadFull(r.src, p)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// addMember validates a value's name, built from the record's key and the
// field, and appends it. The name must be one the format's writer takes
// back, so that what reads also writes.
func (r *recordReader) addMember(key, field string, offset, size int64) error {
	if strings.IndexByte(field, '/') >= 0 {
		return fmt.Errorf("field %q of record %q holds a slash", field, key)
	}
	name, err := memberName(joinMember(key, field))
	if err != nil {
		return err
	}
	if k, _ := splitMember(name); k != key && k != path.Clean(key) {
		// Members are grouped by name up to the first dot (WebDataset's
		// rule): this key's members would join another record, k. A key
		// as WebDataset gives one of a tar made of "." ("./a") is its
		// clean name's ("a").
		return fmt.Errorf("record key %q has a '.' in its base name: its members would be taken for record %q's: %w", key, k, ErrUnsupported)
	}
	if err := r.rules.check(splitMember(name)); err != nil {
		return fmt.Errorf("member %q: %w", name, err)
	}
	r.members = append(r.members, recordMember{name: name, offset: offset, size: size})
	return nil
}

// fail turns an error into the sticky error: an I/O failure passes
// through, anything else is corruption of the record at offset.
func (r *recordReader) fail(offset int64, err error) error {
	if failure := r.src.failure(); failure != nil {
		r.err = fmt.Errorf("formats: read shard %q: %w", r.shard, failure)
	} else {
		r.err = &HeaderError{Shard: r.shard, Offset: offset, Err: err}
	}
	r.src.release()
	return r.err
}

// recordField is one value of the record being written.
type recordField struct {
	name string
	size int64
}

// recordWriter is the Writer of the record formats. It gathers the values
// of one record (the entries with the same key, in order) in pooled slabs,
// since both formats put the record's length or field count before its
// values, and hands the whole record to encode when the key changes or at
// Close.
type recordWriter struct {
	out       *bufio.Writer // pooled
	rules     recordRules
	encode    func(w *recordWriter) error
	key       string
	fields    []recordField
	names     int // bytes of the key and the field names
	data      slabBuffer
	header    []byte // scratch for encode
	remaining int64  // bytes the current value still needs
	err       error  // sticky
}

func newRecordWriter(w io.Writer, rules recordRules, encode func(*recordWriter) error) *recordWriter {
	out := bufioWriters.Get().(*bufio.Writer)
	out.Reset(w)
	return &recordWriter{out: out, rules: rules, encode: encode}
}

func (w *recordWriter) WriteHeader(e *Entry) error {
	if w.err != nil {
		return w.err
	}
	if err := checkName(e.Name); err != nil {
		return err
	}
	if e.Size < 0 {
		return fmt.Errorf("entry %q: negative size %d: %w", e.Name, e.Size, ErrEntrySize)
	}
	if w.remaining != 0 {
		return w.fail(fmt.Errorf("%d bytes missing before entry %q: %w", w.remaining, e.Name, ErrEntrySize))
	}
	key, field := splitMember(e.Name)
	if err := w.rules.check(key, field); err != nil {
		return fmt.Errorf("entry %q: %w", e.Name, err)
	}
	if e.Size > w.rules.maxMember {
		return fmt.Errorf("entry %q: %d bytes, more than the %d a value holds: %w", e.Name, e.Size, w.rules.maxMember, ErrEntrySize)
	}
	if len(w.fields) > 0 && (key != w.key || len(w.fields) == maxRecordFields ||
		w.names+len(field) > maxRecordNames || w.hasField(field)) {
		if err := w.flush(); err != nil {
			return err
		}
	}
	if e.Size > MaxBufferedRecord-w.data.n { // not the sum: it overflows
		return fmt.Errorf("entry %q: record %q would hold %d bytes, more than the %d a record is kept in memory with: %w", e.Name, key, w.data.n+e.Size, MaxBufferedRecord, ErrEntrySize)
	}
	if len(w.fields) == 0 {
		w.key, w.names = key, len(keyField)+len(key) // as the readers count
	}
	w.fields = append(w.fields, recordField{name: field, size: e.Size})
	w.names += len(field)
	w.remaining = e.Size
	return nil
}

// EndRecord writes the record being built, if any: the next entry starts
// another.
func (w *recordWriter) EndRecord() error {
	if w.err != nil {
		return w.err
	}
	if w.remaining != 0 {
		return w.fail(fmt.Errorf("%d bytes missing at the end of record %q: %w", w.remaining, w.key, ErrEntrySize))
	}
	if len(w.fields) == 0 {
		return nil
	}
	return w.flush()
}

func (w *recordWriter) hasField(field string) bool {
	for i := range w.fields {
		if w.fields[i].name == field {
			return true
		}
	}
	return false
}

func (w *recordWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if int64(len(p)) > w.remaining {
		return 0, w.fail(fmt.Errorf("%d bytes written past the entry's size: %w", int64(len(p))-w.remaining, ErrEntrySize))
	}
	w.data.Write(p)
	w.remaining -= int64(len(p))
	return len(p), nil
}

// ReadFrom reads the current value from r straight into the slabs. An
// error of r is returned, not kept.
func (w *recordWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.err != nil {
		return 0, w.err
	}
	var total int64
	for w.remaining > 0 {
		space := w.data.free()
		if int64(len(space)) > w.remaining {
			space = space[:w.remaining]
		}
		n, err := r.Read(space)
		w.data.n += int64(n)
		w.remaining -= int64(n)
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
	// The value is complete: r must be at its end.
	var probe [1]byte
	for range 100 {
		n, err := r.Read(probe[:])
		if n > 0 {
			return total, w.fail(fmt.Errorf("data past the entry's size: %w", ErrEntrySize))
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
	return total, io.ErrNoProgress
}

// flush encodes the gathered record.
func (w *recordWriter) flush() error {
	if err := w.encode(w); err != nil {
		return w.fail(err)
	}
	w.fields = w.fields[:0]
	w.data.n = 0
	return nil
}

func (w *recordWriter) Close() error {
	if w.err == ErrClosed {
		return nil
	}
	err := w.err
	if err == nil && w.remaining != 0 {
		err = fmt.Errorf("%d bytes missing at close: %w", w.remaining, ErrEntrySize)
	}
	if err == nil && len(w.fields) > 0 {
		err = w.flush()
	}
	if flushErr := w.out.Flush(); err == nil {
		err = flushErr
	}
	w.out.Reset(nil)
	bufioWriters.Put(w.out)
	w.out = nil
	w.data.release()
	w.err = ErrClosed
	return err
}

// abort gives back the pooled buffers, flushing nothing (see Abort).
func (w *recordWriter) abort() {
	if w.err == ErrClosed {
		return
	}
	w.out.Reset(nil)
	bufioWriters.Put(w.out)
	w.out = nil
	w.data.release()
	w.err = ErrClosed
}

func (w *recordWriter) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return w.err
}

// slabBuffer holds the values of one record in pooled slabs of
// copyBufferSize bytes, reused from record to record: a record never grows
// a buffer by copying.
type slabBuffer struct {
	slabs []*[]byte
	n     int64 // bytes held
}

// free returns the unused part of the last slab, adding a slab if full.
func (s *slabBuffer) free() []byte {
	i, off := int(s.n/copyBufferSize), int(s.n%copyBufferSize)
	if i == len(s.slabs) {
		s.slabs = append(s.slabs, getBuffer())
	}
	return (*s.slabs[i])[off:]
}

func (s *slabBuffer) Write(p []byte) (int, error) {
	written := len(p)
	for len(p) > 0 {
		n := copy(s.free(), p)
		s.n += int64(n)
		p = p[n:]
	}
	return written, nil
}

// writeRange writes the bytes [from, from+n) to w.
func (s *slabBuffer) writeRange(w io.Writer, from, n int64) error {
	for n > 0 {
		i, off := int(from/copyBufferSize), from%copyBufferSize
		chunk := (*s.slabs[i])[off:min(copyBufferSize, off+n)]
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		from += int64(len(chunk))
		n -= int64(len(chunk))
	}
	return nil
}

func (s *slabBuffer) release() {
	for _, b := range s.slabs {
		putBuffer(b)
	}
	s.slabs, s.n = nil, 0
}

// checkRecordSize refuses a record whose values add up past what a
// record is kept in memory with (see MaxBufferedRecord).
func checkRecordSize(key string, size int64) error {
	if size > MaxBufferedRecord {
		return fmt.Errorf("record %q: %d bytes of values, more than the %d a record is kept in memory with (write tar for samples that big): %w", key, size, MaxBufferedRecord, ErrEntrySize)
	}
	return nil
}
