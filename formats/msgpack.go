package formats

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"unicode/utf8"

	"github.com/tinylib/msgp/msgp"
)

// Msgpack is a stream of msgpack maps (".msgpack"), one per record, as
// WebDataset loaders read them: {"__key__": key, "jpg": bin, "cls": bin}.
// Field names are extensions without the dot. Writers put the key first,
// names as str (bin when not UTF-8) and values as bin; readers take str or
// bin for all three and the key anywhere in the map.
type Msgpack struct{}

var _ Format = Msgpack{}

func (Msgpack) Name() string         { return "msgpack" }
func (Msgpack) Extensions() []string { return []string{".msgpack"} }
func (Msgpack) Offsets() bool        { return false }

// CheckEntry refuses what a msgpack record cannot hold.
func (Msgpack) CheckEntry(name string, size int64) error { return msgpackRules.checkEntry(name, size) }

// CheckRecord refuses a record past what is kept in memory.
func (Msgpack) CheckRecord(key string, size int64) error { return checkRecordSize(key, size) }

// msgpackKey is "__key__" as a msgpack str.
var msgpackKey = msgp.AppendString(nil, keyField)

// Match takes a map whose first field is the key, as our writer and
// Python dicts built key first write it; msgpack has no magic bytes.
func (Msgpack) Match(head []byte) bool {
	if len(head) == 0 {
		return false
	}
	at := 0
	switch lead := head[0]; {
	case lead >= 0x81 && lead <= 0x8f: // fixmap
		at = 1
	case lead == 0xde: // map 16
		at = 3
	case lead == 0xdf: // map 32
		at = 5
	default:
		return false
	}
	return len(head) >= at && bytes.HasPrefix(head[at:], msgpackKey)
}

// msgpackRules: a bin holds less than 4 GiB.
var msgpackRules = recordRules{maxMember: math.MaxUint32}

// msgpReaders pools the header decoders, one per shard being read.
var msgpReaders = sync.Pool{New: func() any { return msgp.NewReaderSize(nil, 4<<10) }}

func (Msgpack) NewReader(r io.ReaderAt, size int64, shard string) (Reader, error) {
	rr, err := newRecordReader(r, size, shard, msgpackRules)
	if err != nil {
		return nil, err
	}
	d := &msgpackDecoder{r: rr, src: readerOnly{rr.src}}
	rr.decode = d.decode
	return rr, nil
}

// msgpackDecoder reads record headers through msgp's streaming reader,
// restarted at every value: values are skipped by offset, never read.
type msgpackDecoder struct {
	r       *recordReader
	src     readerOnly // the shard reader without Seek: msgp's buffer, given a Seeker, counts Seek's absolute result as a skip
	mr      *msgp.Reader
	base    int64 // shard offset where mr started
	scratch []byte
	fields  []recordMember // name is the field
}

// at restarts the decoder at a shard offset.
func (d *msgpackDecoder) at(offset int64) {
	if d.mr == nil {
		d.mr = msgpReaders.Get().(*msgp.Reader)
	}
	d.r.src.Seek(offset, io.SeekStart)
	d.mr.Reset(&d.src)
	d.base = offset
}

func (d *msgpackDecoder) pos() int64 { return d.base + d.mr.R.InputOffset() }

// done gives the decoder back at the end of the shard or at an error.
func (d *msgpackDecoder) done() {
	if d.mr != nil {
		d.mr.Reset(nil)
		msgpReaders.Put(d.mr)
		d.mr = nil
	}
}

var errMsgpackTruncated = errors.New("msgpack stream ends inside a record")

// wireError names a failure of msgp at an offset: a stream cut short, or
// bytes that are no msgpack. Failures of the shard's storage are told
// apart by the caller.
func wireError(at int64, what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = errMsgpackTruncated
	}
	return fmt.Errorf("%s at offset %d: %w", what, at, err)
}

func (d *msgpackDecoder) decode(offset int64) (int64, error) {
	next, err := d.record(offset)
	if err != nil || next >= d.r.size {
		d.done()
	}
	return next, err
}

func (d *msgpackDecoder) record(offset int64) (int64, error) {
	r := d.r
	d.at(offset)
	t, err := d.mr.NextType()
	if err != nil {
		return 0, wireError(offset, "record", err)
	}
	if t != msgp.MapType {
		return 0, fmt.Errorf("record is a msgpack %s, not a map", t)
	}
	count, err := d.mr.ReadMapHeader()
	if err != nil {
		return 0, wireError(offset, "record", err)
	}
	if count > maxRecordFields+1 {
		return 0, fmt.Errorf("record of %d fields, more than %d: %w", count, maxRecordFields+1, ErrUnsupported)
	}
	d.fields = d.fields[:0]
	var key string
	haveKey := false
	names := 0
	for range count {
		field, err := d.name(maxRecordNames - names)
		if err != nil {
			return 0, err
		}
		names += len(field)
		if field == keyField {
			if haveKey {
				return 0, fmt.Errorf("record has two %q fields", keyField)
			}
			if key, err = d.name(maxRecordNames - names); err != nil {
				return 0, err
			}
			haveKey = true
			names += len(key)
			continue
		}
		size, err := d.valueHeader(field)
		if err != nil {
			return 0, err
		}
		dataAt := d.pos()
		if size > r.size-dataAt {
			return 0, fmt.Errorf("%w: field %q of %d bytes at offset %d, shard size %d", errPastEnd, field, size, dataAt, r.size)
		}
		for i := range d.fields {
			if d.fields[i].name == field {
				return 0, fmt.Errorf("record has two %q fields", field)
			}
		}
		d.fields = append(d.fields, recordMember{name: field, offset: dataAt, size: size})
		d.at(dataAt + size)
	}
	end := d.pos()
	if !haveKey {
		return 0, fmt.Errorf("record has no %q field: %w", keyField, ErrUnsupported)
	}
	for _, f := range d.fields {
		if err := r.addMember(key, f.name, f.offset, f.size); err != nil {
			return 0, err
		}
	}
	return end, nil
}

// name reads a str or bin of at most budget bytes: a field name or the key.
func (d *msgpackDecoder) name(budget int) (string, error) {
	at := d.pos()
	t, err := d.mr.NextType()
	if err != nil {
		return "", wireError(at, "field name", err)
	}
	var n uint32
	switch t {
	case msgp.StrType:
		n, err = d.mr.ReadStringHeader()
	case msgp.BinType:
		n, err = d.mr.ReadBytesHeader()
	default:
		return "", fmt.Errorf("a msgpack %s at offset %d where a field name or key should be: %w", t, at, ErrUnsupported)
	}
	if err != nil {
		return "", wireError(at, "field name", err)
	}
	if int64(n) > d.r.size-d.pos() {
		return "", fmt.Errorf("name of %d bytes at offset %d: %w", n, at, errMsgpackTruncated)
	}
	if int64(n) > int64(budget) {
		return "", fmt.Errorf("names of a record exceed %d bytes: %w", maxRecordNames, ErrUnsupported)
	}
	if cap(d.scratch) < int(n) {
		d.scratch = make([]byte, n)
	}
	buf := d.scratch[:n]
	if _, err := d.mr.R.ReadFull(buf); err != nil {
		return "", wireError(at, "field name", err)
	}
	return string(buf), nil
}

// valueHeader reads the header of a value, a bin or a str, and returns
// its length.
func (d *msgpackDecoder) valueHeader(field string) (int64, error) {
	at := d.pos()
	t, err := d.mr.NextType()
	if err != nil {
		return 0, wireError(at, "field "+field, err)
	}
	var n uint32
	switch t {
	case msgp.BinType:
		n, err = d.mr.ReadBytesHeader()
	case msgp.StrType:
		n, err = d.mr.ReadStringHeader()
	default:
		return 0, fmt.Errorf("field %q is a msgpack %s, not bytes: %w", field, t, ErrUnsupported)
	}
	if err != nil {
		return 0, wireError(at, "field "+field, err)
	}
	return int64(n), nil
}

func (Msgpack) NewWriter(w io.Writer) (Writer, error) {
	return newRecordWriter(w, msgpackRules, encodeMsgpack), nil
}

// encodeMsgpack writes one record: the map header, the key, then each
// field name and bin value.
func encodeMsgpack(w *recordWriter) error {
	h := msgp.AppendMapHeader(w.header[:0], uint32(len(w.fields)+1))
	h = append(h, msgpackKey...)
	h = appendMsgpackName(h, w.key)
	var from int64
	for _, f := range w.fields {
		h = appendMsgpackName(h, f.name)
		h = msgp.AppendBytesHeader(h, uint32(f.size))
		if _, err := w.out.Write(h); err != nil {
			return err
		}
		h = h[:0]
		if err := w.data.writeRange(w.out, from, f.size); err != nil {
			return err
		}
		from += f.size
	}
	w.header = h
	return nil
}

// appendMsgpackName appends a name as a str, or as a bin when it is not
// UTF-8, which a msgpack str must be.
func appendMsgpackName(b []byte, name string) []byte {
	if utf8.ValidString(name) {
		return msgp.AppendString(b, name)
	}
	b = msgp.AppendBytesHeader(b, uint32(len(name)))
	return append(b, name...)
}
