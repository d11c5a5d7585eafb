package formats

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/bits"
	"unicode/utf8"
)

// TFRecord is TensorFlow's record file (".tfrecord"). Each record is its
// data length (uint64, little-endian), the masked CRC-32C of those 8 bytes,
// the data and the masked CRC-32C of the data. The data is a serialized
// tf.train.Example: one bytes_list feature per extension, named by the
// extension without the dot, and "__key__" holding the key. The protobuf
// wire format is written and read by hand, for these few messages only:
//
//	Example  { Features features = 1; }
//	Features { map<string, Feature> feature = 1; }  // entries {key = 1; value = 2}
//	Feature  { BytesList bytes_list = 1; FloatList = 2; Int64List = 3; }
//	BytesList { repeated bytes value = 1; }
//
// Readers check both checksums and take exactly one value per bytes_list;
// float and int64 lists are unsupported.
type TFRecord struct{}

var _ Format = TFRecord{}

func (TFRecord) Name() string         { return "tfrecord" }
func (TFRecord) Extensions() []string { return []string{".tfrecord"} }
func (TFRecord) Offsets() bool        { return false }

// CheckEntry refuses what a TFRecord example cannot hold.
// CheckRecord refuses a record past what is kept in memory.
func (TFRecord) CheckRecord(key string, size int64) error { return checkRecordSize(key, size) }

func (TFRecord) CheckEntry(name string, size int64) error {
	return tfrecordRules.checkEntry(name, size)
}

// Match checks the first record's length checksum: TFRecord has no magic,
// but a random 8 bytes carry their own masked CRC-32C once in 2³².
func (TFRecord) Match(head []byte) bool {
	return len(head) >= 12 && maskedCRC(crc32.Checksum(head[:8], castagnoli)) == binary.LittleEndian.Uint32(head[8:12])
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maskedCRC is TFRecord's mask, which keeps a CRC of data that holds CRCs
// from being trivially zero.
func maskedCRC(crc uint32) uint32 { return (crc>>15 | crc<<17) + 0xa282ead8 }

// tfrecordRules: feature names are protobuf strings.
var tfrecordRules = recordRules{maxMember: math.MaxInt64, utf8Field: true}

// tfrecordHeader is the length and its checksum; the data checksum
// follows the data.
const tfrecordHeader = 12

var (
	errLengthCRC      = errors.New("record length checksum mismatch")
	errDataCRC        = errors.New("record data checksum mismatch")
	errProtoTruncated = errors.New("protobuf field runs past the end of its message")
)

func (TFRecord) NewReader(r io.ReaderAt, size int64, shard string) (Reader, error) {
	rr, err := newRecordReader(r, size, shard, tfrecordRules)
	if err != nil {
		return nil, err
	}
	d := &tfrecordDecoder{r: rr}
	rr.decode = d.decode
	return rr, nil
}

// tfrecordDecoder reads a record's data once, in order, to check its
// checksum and find where each value lies; the values are read again
// when the caller asks for them.
type tfrecordDecoder struct {
	r        *recordReader
	pos      int64  // next byte of the record data
	crc      uint32 // of the data before pos
	one      [1]byte
	scratch  []byte
	features []recordMember // name is the feature's
	key      recordMember
	haveKey  bool
	names    int // bytes of the feature names and the key
}

func (d *tfrecordDecoder) decode(offset int64) (int64, error) {
	r := d.r
	if r.size-offset < tfrecordHeader {
		return 0, fmt.Errorf("record header cut after %d of %d bytes", r.size-offset, tfrecordHeader)
	}
	var head [tfrecordHeader]byte
	if err := r.readFull(offset, head[:]); err != nil {
		return 0, err
	}
	if maskedCRC(crc32.Checksum(head[:8], castagnoli)) != binary.LittleEndian.Uint32(head[8:]) {
		return 0, errLengthCRC
	}
	length := binary.LittleEndian.Uint64(head[:8])
	if room := r.size - offset - tfrecordHeader - 4; room < 0 || length > uint64(room) {
		return 0, fmt.Errorf("%w: record of %d bytes at offset %d, shard size %d", errPastEnd, length, offset, r.size)
	}
	end := offset + tfrecordHeader + int64(length)
	d.pos, d.crc = offset+tfrecordHeader, 0
	d.features, d.haveKey, d.names = d.features[:0], false, 0
	parseErr := d.example(end)
	if parseErr != nil && r.src.failure() != nil {
		return 0, parseErr
	}
	// A record that does not parse is checked first: a checksum mismatch
	// tells more than the parse error it causes.
	if parseErr != nil {
		if err := d.skip(end - d.pos); err != nil {
			return 0, err
		}
	}
	var sum [4]byte
	if err := r.readFull(end, sum[:]); err != nil {
		return 0, err
	}
	if maskedCRC(d.crc) != binary.LittleEndian.Uint32(sum[:]) {
		return 0, errDataCRC
	}
	if parseErr != nil {
		return 0, parseErr
	}
	if !d.haveKey {
		return 0, fmt.Errorf("record has no %q feature: %w", keyField, ErrUnsupported)
	}
	key := d.grow(int(d.key.size))
	if err := r.readFull(d.key.offset, key); err != nil {
		return 0, err
	}
	for _, f := range d.features {
		if err := r.addMember(string(key), f.name, f.offset, f.size); err != nil {
			return 0, err
		}
	}
	return end + 4, nil
}

func (d *tfrecordDecoder) grow(n int) []byte {
	if cap(d.scratch) < n {
		d.scratch = make([]byte, n)
	}
	return d.scratch[:n]
}

// read reads the next bytes of the record data, adding them to its CRC;
// the callers have checked that they lie in the record.
func (d *tfrecordDecoder) read(p []byte) error {
	if err := d.r.readFull(d.pos, p); err != nil {
		return err
	}
	d.crc = crc32.Update(d.crc, castagnoli, p)
	d.pos += int64(len(p))
	return nil
}

// skip reads over n bytes of the record data, for its CRC.
func (d *tfrecordDecoder) skip(n int64) error {
	if n <= 64 {
		var small [64]byte
		return d.read(small[:n])
	}
	buf := getBuffer()
	defer putBuffer(buf)
	for n > 0 {
		chunk := (*buf)[:min(n, int64(len(*buf)))]
		if err := d.read(chunk); err != nil {
			return err
		}
		n -= int64(len(chunk))
	}
	return nil
}

// corrupt describes a malformed Example at an offset of the shard; the
// HeaderError carries the record's offset.
func corrupt(at int64, format string, args ...any) error {
	return fmt.Errorf("%s (at offset %d)", fmt.Sprintf(format, args...), at)
}

// varint reads a base-128 varint that must end before end.
func (d *tfrecordDecoder) varint(end int64) (uint64, error) {
	at := d.pos
	var v uint64
	for i := 0; ; i++ {
		if d.pos >= end {
			return 0, fmt.Errorf("%w (at offset %d)", errProtoTruncated, at)
		}
		if err := d.read(d.one[:]); err != nil {
			return 0, err
		}
		b := d.one[0]
		if i == 9 && b > 1 {
			return 0, corrupt(at, "protobuf varint overflows 64 bits")
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			return v, nil
		}
	}
}

// tag reads a field's number and wire type.
func (d *tfrecordDecoder) tag(end int64) (field uint64, wire int, err error) {
	at := d.pos
	v, err := d.varint(end)
	if err != nil {
		return 0, 0, err
	}
	if v>>3 == 0 {
		return 0, 0, corrupt(at, "protobuf field number 0")
	}
	return v >> 3, int(v & 7), nil
}

// length reads the length of a length-delimited field, which must end
// by end.
func (d *tfrecordDecoder) length(end int64) (int64, error) {
	at := d.pos
	n, err := d.varint(end)
	if err != nil {
		return 0, err
	}
	if n > uint64(end-d.pos) {
		return 0, corrupt(at, "protobuf length %d runs past the end of its message (%d bytes left)", n, end-d.pos)
	}
	return int64(n), nil
}

// skipField reads over the value of a field this decoder does not use.
func (d *tfrecordDecoder) skipField(at int64, wire int, end int64) error {
	var n int64
	switch wire {
	case 0:
		_, err := d.varint(end)
		return err
	case 1:
		n = 8
	case 2:
		var err error
		if n, err = d.length(end); err != nil {
			return err
		}
	case 5:
		n = 4
	case 3, 4:
		return fmt.Errorf("protobuf groups: %w", ErrUnsupported)
	default:
		return corrupt(at, "protobuf wire type %d", wire)
	}
	if n > end-d.pos {
		return fmt.Errorf("%w (at offset %d)", errProtoTruncated, at)
	}
	return d.skip(n)
}

// message reads the fields of a message ending at end, handing the
// length-delimited field want to parse and skipping the others.
func (d *tfrecordDecoder) message(end int64, want uint64, what string, parse func(at, end int64) error) error {
	for d.pos < end {
		at := d.pos
		field, wire, err := d.tag(end)
		if err != nil {
			return err
		}
		if field != want {
			if err := d.skipField(at, wire, end); err != nil {
				return err
			}
			continue
		}
		if wire != 2 {
			return corrupt(at, "%s has wire type %d, not length-delimited", what, wire)
		}
		n, err := d.length(end)
		if err != nil {
			return err
		}
		if err := parse(at, d.pos+n); err != nil {
			return err
		}
	}
	return nil
}

// example reads an Example: its Features, each of their map entries.
func (d *tfrecordDecoder) example(end int64) error {
	return d.message(end, 1, "Example.features", func(_, end int64) error {
		return d.message(end, 1, "Features.feature", d.entry)
	})
}

// entry reads one map entry {key = 1: name, value = 2: Feature}.
func (d *tfrecordDecoder) entry(at, end int64) error {
	var name string
	var value recordMember
	haveName, haveValue := false, false
	for d.pos < end {
		fieldAt := d.pos
		field, wire, err := d.tag(end)
		if err != nil {
			return err
		}
		switch {
		case field > 2:
			if err := d.skipField(fieldAt, wire, end); err != nil {
				return err
			}
			continue
		case wire != 2:
			return corrupt(fieldAt, "feature map entry field %d has wire type %d", field, wire)
		case field == 1 && haveName, field == 2 && haveValue:
			return corrupt(fieldAt, "feature map entry has field %d twice", field)
		}
		n, err := d.length(end)
		if err != nil {
			return err
		}
		if field == 1 {
			if n > int64(maxRecordNames-d.names) {
				return fmt.Errorf("names of a record exceed %d bytes: %w", maxRecordNames, ErrUnsupported)
			}
			buf := d.grow(int(n))
			if err := d.read(buf); err != nil {
				return err
			}
			name, haveName = string(buf), true
			d.names += int(n)
			continue
		}
		if value, err = d.feature(fieldAt, d.pos+n); err != nil {
			return err
		}
		haveValue = true
	}
	switch {
	case !utf8.ValidString(name):
		return corrupt(at, "feature name %q is not UTF-8", name)
	case !haveValue:
		return fmt.Errorf("feature %q has no bytes_list: %w", name, ErrUnsupported)
	case len(d.features) == maxRecordFields && name != keyField:
		return fmt.Errorf("record of more than %d features: %w", maxRecordFields, ErrUnsupported)
	}
	if name == keyField {
		if d.haveKey {
			return corrupt(at, "record has two %q features", keyField)
		}
		if value.size > int64(maxRecordNames-d.names) {
			return fmt.Errorf("names of a record exceed %d bytes: %w", maxRecordNames, ErrUnsupported)
		}
		d.key, d.haveKey = value, true
		d.names += int(value.size)
		return nil
	}
	for i := range d.features {
		if d.features[i].name == name {
			return corrupt(at, "record has two %q features", name)
		}
	}
	value.name = name
	d.features = append(d.features, value)
	return nil
}

// feature reads a Feature, which must be a bytes_list of one value, and
// returns where that value lies.
func (d *tfrecordDecoder) feature(at, end int64) (recordMember, error) {
	var value recordMember
	lists := 0
	for d.pos < end {
		fieldAt := d.pos
		field, wire, err := d.tag(end)
		if err != nil {
			return value, err
		}
		switch field {
		case 2, 3:
			kind := "float_list"
			if field == 3 {
				kind = "int64_list"
			}
			return value, fmt.Errorf("feature is a %s, not a bytes_list: %w", kind, ErrUnsupported)
		case 1:
			if wire != 2 {
				return value, corrupt(fieldAt, "Feature.bytes_list has wire type %d", wire)
			}
			if lists++; lists > 1 {
				return value, fmt.Errorf("feature holds two bytes_lists: %w", ErrUnsupported)
			}
			n, err := d.length(end)
			if err != nil {
				return value, err
			}
			if value, err = d.bytesList(fieldAt, d.pos+n); err != nil {
				return value, err
			}
		default:
			if err := d.skipField(fieldAt, wire, end); err != nil {
				return value, err
			}
		}
	}
	if lists == 0 {
		return value, fmt.Errorf("feature has no bytes_list: %w", ErrUnsupported)
	}
	return value, nil
}

// bytesList reads a BytesList and returns where its one value lies.
func (d *tfrecordDecoder) bytesList(at, end int64) (recordMember, error) {
	var value recordMember
	values := 0
	err := d.message(end, 1, "BytesList.value", func(fieldAt, end int64) error {
		if values++; values > 1 {
			return fmt.Errorf("bytes_list holds several values: %w", ErrUnsupported)
		}
		value = recordMember{offset: d.pos, size: end - d.pos}
		return d.skip(end - d.pos)
	})
	if err == nil && values == 0 {
		err = fmt.Errorf("bytes_list holds no value: %w", ErrUnsupported)
	}
	return value, err
}

func (TFRecord) NewWriter(w io.Writer) (Writer, error) {
	return newRecordWriter(w, tfrecordRules, encodeTFRecord), nil
}

// uvarintLen is the length of v as a protobuf varint.
func uvarintLen(v uint64) uint64 { return uint64(bits.Len64(v|1)+6) / 7 }

// tfFeatureSizes returns the encoded sizes of a map entry holding a
// feature {name: bytes_list [size bytes]}: of the entry and of its Feature
// and BytesList.
func tfFeatureSizes(name int, size uint64) (entry, feature, list uint64) {
	list = 1 + uvarintLen(size) + size
	feature = 1 + uvarintLen(list) + list
	entry = 1 + uvarintLen(uint64(name)) + uint64(name) + 1 + uvarintLen(feature) + feature
	return entry, feature, list
}

// appendTFFeature appends a Features.feature field up to the value's
// bytes, which the caller writes next.
func appendTFFeature(h []byte, name string, size uint64) []byte {
	entry, feature, list := tfFeatureSizes(len(name), size)
	h = binary.AppendUvarint(append(h, 0x0a), entry) // Features.feature
	h = binary.AppendUvarint(append(h, 0x0a), uint64(len(name)))
	h = append(h, name...)                             // entry key
	h = binary.AppendUvarint(append(h, 0x12), feature) // entry value
	h = binary.AppendUvarint(append(h, 0x0a), list)    // Feature.bytes_list
	return binary.AppendUvarint(append(h, 0x0a), size) // BytesList.value
}

// crcWriter writes through and keeps the CRC-32C of what it wrote.
type crcWriter struct {
	w   io.Writer
	crc uint32
}

func (c *crcWriter) Write(p []byte) (int, error) {
	c.crc = crc32.Update(c.crc, castagnoli, p)
	return c.w.Write(p)
}

// encodeTFRecord writes one record: framing, then an Example with the key
// first and the values in order.
func encodeTFRecord(w *recordWriter) error {
	var features uint64
	for i := -1; i < len(w.fields); i++ {
		name, size := keyField, uint64(len(w.key))
		if i >= 0 {
			name, size = w.fields[i].name, uint64(w.fields[i].size)
		}
		entry, _, _ := tfFeatureSizes(len(name), size)
		features += 1 + uvarintLen(entry) + entry
	}
	length := 1 + uvarintLen(features) + features
	var head [tfrecordHeader]byte
	binary.LittleEndian.PutUint64(head[:8], length)
	binary.LittleEndian.PutUint32(head[8:], maskedCRC(crc32.Checksum(head[:8], castagnoli)))
	if _, err := w.out.Write(head[:]); err != nil {
		return err
	}
	data := &crcWriter{w: w.out}
	h := binary.AppendUvarint(append(w.header[:0], 0x0a), features) // Example.features
	h = appendTFFeature(h, keyField, uint64(len(w.key)))
	h = append(h, w.key...)
	var from int64
	for _, f := range w.fields {
		h = appendTFFeature(h, f.name, uint64(f.size))
		if _, err := data.Write(h); err != nil {
			return err
		}
		h = h[:0]
		if err := w.data.writeRange(data, from, f.size); err != nil {
			return err
		}
		from += f.size
	}
	if _, err := data.Write(h); err != nil {
		return err
	}
	w.header = h
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], maskedCRC(data.crc))
	_, err := w.out.Write(sum[:])
	return err
}
