package store

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tinylib/msgp/msgp"
)

// ErrInvalidPart marks a part description that is malformed or
// inconsistent; the message names the field.
var ErrInvalidPart = errors.New("store: invalid part")

// Bounds of a part description, checked by Validate and UnmarshalMsg.
const (
	// MaxSlices is the most slices (data plus parity) of a layout: the
	// Reed-Solomon field GF(2^8) has no more distinct rows.
	MaxSlices = 256
	// maxPartString bounds every string of an encoded part; object names
	// are shorter (MaxNameLength).
	maxPartString = 2 << 10
	// maxPartFields bounds the map header, so that a hostile count fails
	// at once rather than after a long skip.
	maxPartFields = 64
)

// partFormat is the version of the encoding below; a reader refuses a
// newer one, since unknown keys are skipped and could carry meaning.
const partFormat = 1

// PartMeta describes a part: a Reed-Solomon slice, or a whole replica, of
// an object another target owns (erasure coding). It is msgp-encoded beside
// the part (xattr) and on the wire.
type PartMeta struct {
	Bucket Bucket
	// Name is the object's name.
	Name string
	// Index is the slice index in [0, Data+Parity); for a replica, its
	// number from 0 (in the same range).
	Index int
	// Replica marks a whole copy of the object rather than a slice.
	Replica bool
	// Data and Parity are the layout the object was encoded with; a
	// replica keeps the bucket's layout too.
	Data, Parity int
	ObjectSize   int64
	// SliceSize is the length of every slice, data slices zero-padded:
	// ceil(ObjectSize/Data). For a replica it equals ObjectSize.
	SliceSize int64
	// Checksum is of the whole object; PartChecksum of this part's bytes.
	Checksum     Checksum
	PartChecksum Checksum
	Version      string
	// Stamp is the object's (see Stamp): parts of one write share it.
	Stamp Stamp
	// Custom is the object's custom metadata, so that a restored object
	// keeps it (its S3 ETag and headers); at most MaxPartCustom bytes.
	Custom map[string]string
}

// MaxPartCustom bounds the custom metadata a part carries: it is kept in
// an extended attribute beside the part.
const MaxPartCustom = 2 << 10

// TrimCustom returns custom cut to at most max bytes (CustomSize), and
// how many keys it left out: the S3 ETag and the other keys of the
// system's own first, user metadata (CustomUserPrefix) last, each group
// in key order. custom itself is returned when it fits.
func TrimCustom(custom map[string]string, max int) (map[string]string, int) {
	if CustomSize(custom) <= max {
		return custom, 0
	}
	rank := func(k string) int {
		switch {
		case k == CustomETag:
			return 0
		case strings.HasPrefix(k, CustomUserPrefix):
			return 2
		}
		return 1
	}
	keys := slices.SortedFunc(maps.Keys(custom), func(a, b string) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), strings.Compare(a, b))
	})
	out := make(map[string]string, len(keys))
	size := 0
	for _, k := range keys {
		if n := len(k) + len(custom[k]); size+n <= max {
			out[k] = custom[k]
			size += n
		}
	}
	return out, len(custom) - len(out)
}

// CustomSize is the bytes of custom metadata, keys and values.
func CustomSize(custom map[string]string) int {
	n := 0
	for k, v := range custom {
		n += len(k) + len(v)
	}
	return n
}

// partSliceSize is ceil(objectSize/data), 0 for an empty object.
func partSliceSize(objectSize int64, data int) int64 {
	if objectSize <= 0 || data <= 0 {
		return 0
	}
	return (objectSize-1)/int64(data) + 1
}

// Validate checks that the part describes a possible slice or replica.
func (m PartMeta) Validate() error {
	if err := m.Bucket.Validate(); err != nil {
		return fmt.Errorf("%w: bucket: %w", ErrInvalidPart, err)
	}
	if err := ValidateName(m.Name); err != nil {
		return fmt.Errorf("%w: name: %w", ErrInvalidPart, err)
	}
	switch {
	case m.Data < 1:
		return fmt.Errorf("%w: data slices %d, want at least 1", ErrInvalidPart, m.Data)
	case m.Parity < 1:
		return fmt.Errorf("%w: parity slices %d, want at least 1", ErrInvalidPart, m.Parity)
	case m.Data > MaxSlices || m.Parity > MaxSlices || m.Data+m.Parity > MaxSlices:
		return fmt.Errorf("%w: %d data and %d parity slices, at most %d in all", ErrInvalidPart, m.Data, m.Parity, MaxSlices)
	case m.Index < 0 || m.Index >= m.Data+m.Parity:
		return fmt.Errorf("%w: index %d out of [0, %d)", ErrInvalidPart, m.Index, m.Data+m.Parity)
	case m.ObjectSize < 0:
		return fmt.Errorf("%w: object size %d is negative", ErrInvalidPart, m.ObjectSize)
	case m.Replica && m.SliceSize != m.ObjectSize:
		return fmt.Errorf("%w: slice size %d of a replica, want the object size %d", ErrInvalidPart, m.SliceSize, m.ObjectSize)
	case !m.Replica && m.SliceSize != partSliceSize(m.ObjectSize, m.Data):
		return fmt.Errorf("%w: slice size %d, want %d for %d bytes in %d data slices",
			ErrInvalidPart, m.SliceSize, partSliceSize(m.ObjectSize, m.Data), m.ObjectSize, m.Data)
	case m.Stamp.IsZero():
		return fmt.Errorf("%w: stamp is zero", ErrInvalidPart)
	case m.PartChecksum.Type != ChecksumXXHash || len(m.PartChecksum.Value) != 16:
		// Every part's bytes are checked where they are stored and read.
		return fmt.Errorf("%w: part checksum %s, want an xxhash", ErrInvalidPart, m.PartChecksum)
	}
	return nil
}

// Same reports whether two parts are of the same version of the same
// object (bucket, name, stamp, checksum, layout, object size): only such
// parts may be combined.
func (m PartMeta) Same(o PartMeta) bool {
	return m.Bucket.Normalize() == o.Bucket.Normalize() &&
		m.Name == o.Name &&
		m.Stamp == o.Stamp &&
		m.Checksum == o.Checksum &&
		m.Data == o.Data && m.Parity == o.Parity &&
		m.ObjectSize == o.ObjectSize
}

// MarshalMsg appends the part as a msgp map with short keys.
func (m *PartMeta) MarshalMsg(b []byte) ([]byte, error) {
	fields := uint32(17)
	if len(m.Custom) > 0 {
		fields++
	}
	b = msgp.AppendMapHeader(b, fields)
	b = msgp.AppendString(b, "f")
	b = msgp.AppendInt(b, partFormat)
	b = msgp.AppendString(b, "p")
	b = msgp.AppendString(b, m.Bucket.Normalize().Provider)
	b = msgp.AppendString(b, "b")
	b = msgp.AppendString(b, m.Bucket.Name)
	b = msgp.AppendString(b, "n")
	b = msgp.AppendString(b, m.Name)
	b = msgp.AppendString(b, "i")
	b = msgp.AppendInt(b, m.Index)
	b = msgp.AppendString(b, "r")
	b = msgp.AppendBool(b, m.Replica)
	b = msgp.AppendString(b, "d")
	b = msgp.AppendInt(b, m.Data)
	b = msgp.AppendString(b, "q")
	b = msgp.AppendInt(b, m.Parity)
	b = msgp.AppendString(b, "s")
	b = msgp.AppendInt64(b, m.ObjectSize)
	b = msgp.AppendString(b, "ss")
	b = msgp.AppendInt64(b, m.SliceSize)
	b = msgp.AppendString(b, "ct")
	b = msgp.AppendString(b, m.Checksum.Type)
	b = msgp.AppendString(b, "cv")
	b = msgp.AppendString(b, m.Checksum.Value)
	b = msgp.AppendString(b, "pt")
	b = msgp.AppendString(b, m.PartChecksum.Type)
	b = msgp.AppendString(b, "pv")
	b = msgp.AppendString(b, m.PartChecksum.Value)
	b = msgp.AppendString(b, "v")
	b = msgp.AppendString(b, m.Version)
	b = msgp.AppendString(b, "wm")
	b = msgp.AppendInt64(b, m.Stamp.Map)
	b = msgp.AppendString(b, "wc")
	b = msgp.AppendInt64(b, m.Stamp.Clock)
	if len(m.Custom) > 0 {
		if CustomSize(m.Custom) > MaxPartCustom {
			return b, fmt.Errorf("%w: %d bytes of custom metadata, at most %d", ErrInvalidPart, CustomSize(m.Custom), MaxPartCustom)
		}
		b = msgp.AppendString(b, "cu")
		b = msgp.AppendMapHeader(b, uint32(len(m.Custom)))
		for k, v := range m.Custom {
			b = msgp.AppendString(b, k)
			b = msgp.AppendString(b, v)
		}
	}
	return b, nil
}

// readPartCustom reads the custom metadata of a part, bounded.
func readPartCustom(b []byte) (map[string]string, []byte, error) {
	n, b, err := msgp.ReadMapHeaderBytes(b)
	if err != nil {
		return nil, b, err
	}
	if n > MaxPartCustom/2 {
		return nil, b, fmt.Errorf("%d custom keys", n)
	}
	out := make(map[string]string, n)
	size := 0
	for range n {
		var k, v string
		if k, b, err = readPartString(b); err != nil {
			return nil, b, err
		}
		if v, b, err = readPartString(b); err != nil {
			return nil, b, err
		}
		if size += len(k) + len(v); size > MaxPartCustom {
			return nil, b, fmt.Errorf("more than %d bytes of custom metadata", MaxPartCustom)
		}
		out[k] = v
	}
	return out, b, nil
}

// UnmarshalMsg decodes what MarshalMsg wrote and returns the bytes after
// it. Unknown keys are skipped, so that a newer writer does not break an
// older reader. The input is untrusted: strings are bounded and the result
// must pass Validate; on error m is left unchanged.
func (m *PartMeta) UnmarshalMsg(b []byte) ([]byte, error) {
	var p PartMeta
	fields, b, err := msgp.ReadMapHeaderBytes(b)
	if err != nil {
		return b, fmt.Errorf("%w: %w", ErrInvalidPart, err)
	}
	if fields > maxPartFields {
		return b, fmt.Errorf("%w: %d fields, at most %d", ErrInvalidPart, fields, maxPartFields)
	}
	for range fields {
		var key string
		if key, b, err = readPartString(b); err != nil {
			return b, fmt.Errorf("%w: key: %w", ErrInvalidPart, err)
		}
		switch key {
		case "f":
			var format int
			if format, b, err = msgp.ReadIntBytes(b); err == nil && format != partFormat {
				err = fmt.Errorf("format %d, this reader knows %d", format, partFormat)
			}
		case "p":
			p.Bucket.Provider, b, err = readPartString(b)
		case "b":
			p.Bucket.Name, b, err = readPartString(b)
		case "n":
			p.Name, b, err = readPartString(b)
		case "i":
			p.Index, b, err = msgp.ReadIntBytes(b)
		case "r":
			p.Replica, b, err = msgp.ReadBoolBytes(b)
		case "d":
			p.Data, b, err = msgp.ReadIntBytes(b)
		case "q":
			p.Parity, b, err = msgp.ReadIntBytes(b)
		case "s":
			p.ObjectSize, b, err = msgp.ReadInt64Bytes(b)
		case "ss":
			p.SliceSize, b, err = msgp.ReadInt64Bytes(b)
		case "ct":
			p.Checksum.Type, b, err = readPartString(b)
		case "cv":
			p.Checksum.Value, b, err = readPartString(b)
		case "pt":
			p.PartChecksum.Type, b, err = readPartString(b)
		case "pv":
			p.PartChecksum.Value, b, err = readPartString(b)
		case "v":
			p.Version, b, err = readPartString(b)
		case "wm":
			p.Stamp.Map, b, err = msgp.ReadInt64Bytes(b)
		case "wc":
			p.Stamp.Clock, b, err = msgp.ReadInt64Bytes(b)
		case "cu":
			p.Custom, b, err = readPartCustom(b)
		default:
			b, err = msgp.Skip(b)
		}
		if err != nil {
			return b, fmt.Errorf("%w: %s: %w", ErrInvalidPart, key, err)
		}
	}
	p.Bucket = p.Bucket.Normalize()
	if err := p.Validate(); err != nil {
		return b, err
	}
	*m = p
	return b, nil
}

// readPartString reads a string of at most maxPartString bytes without
// first allocating whatever length the input claims.
func readPartString(b []byte) (string, []byte, error) {
	v, rest, err := msgp.ReadStringZC(b)
	if err != nil {
		return "", b, err
	}
	if len(v) > maxPartString {
		return "", b, fmt.Errorf("a string of %d bytes, at most %d", len(v), maxPartString)
	}
	return string(v), rest, nil
}
