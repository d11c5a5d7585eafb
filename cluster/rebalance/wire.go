package rebalance

import (
	"errors"
	"fmt"
	"io"

	"github.com/aisgo/aisgo/store"
	"github.com/tinylib/msgp/msgp"
)

// Limits of a frame: an object's metadata fits an xattr (store/fs, 3
// KiB), whose custom entries take 2 bytes or more each. A limit below
// what a store takes would fail every batch with such an object, and the
// run forever.
const (
	maxFrameFields      = 16
	maxFrameCustom      = 2048
	maxFrameCustomBytes = 8 << 10
	maxFrameString      = 4 << 10
)

// ErrFrame marks a malformed or oversized frame stream.
var ErrFrame = errors.New("rebalance: malformed object stream")

// Receipt is the receiver's answer for one item. An empty Error means the
// receiver has the item or something newer: the sender's copy can go.
type Receipt struct {
	Provider string `json:"p,omitempty"`
	Bucket   string `json:"b"`
	Name     string `json:"n"`
	Error    string `json:"error,omitempty"`
	// Kind is the store error's kind (store.Kinds), so that the sender
	// gets the sentinel back, not only text.
	Kind string `json:"kind,omitempty"`
}

// errRemote marks a receiver's error of no known kind.
var errRemote = errors.New("rebalance: the receiving target failed")

// Err returns the receipt's error, wrapping the sentinel of its kind;
// nil when the item was received.
func (r Receipt) Err() error {
	if r.Error == "" {
		return nil
	}
	sentinel := store.Kinds.Err(r.Kind)
	if sentinel == nil {
		sentinel = errRemote
	}
	return fmt.Errorf("%w: %s", sentinel, r.Error)
}

// permanent reports whether sending an item again will not help (a name
// conflict, a name or props the receiver refuses, bytes that do not match
// their checksum: bit rot in the copy sent): it is skipped, not retried,
// or a leaving target would never leave.
func permanent(err error) bool {
	return errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrInvalidName) || errors.Is(err, store.ErrInvalidProps) ||
		errors.Is(err, store.ErrBadChecksum) || errors.Is(err, store.ErrCorrupt)
}

// leftHere reports an owner's refusal for good of the name, not of the
// bytes: the copy stays here as it is (see Progress.Left).
func leftHere(err error) bool {
	return errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrInvalidName) || errors.Is(err, store.ErrInvalidProps)
}

// appendFrame encodes an item's header.
func appendFrame(b []byte, it Item) []byte {
	meta := it.Meta
	b = msgp.AppendMapHeader(b, 13)
	b = msgp.AppendString(b, "bc")
	b = msgp.AppendInt64(b, int64(it.Created))
	b = msgp.AppendString(b, "p")
	b = msgp.AppendString(b, it.Bucket.Normalize().Provider)
	b = msgp.AppendString(b, "b")
	b = msgp.AppendString(b, it.Bucket.Name)
	b = msgp.AppendString(b, "n")
	b = msgp.AppendString(b, meta.Name)
	b = msgp.AppendString(b, "d")
	b = msgp.AppendBool(b, it.Tombstone)
	b = msgp.AppendString(b, "s")
	b = msgp.AppendInt64(b, meta.Size)
	b = msgp.AppendString(b, "ct")
	b = msgp.AppendString(b, meta.Checksum.Type)
	b = msgp.AppendString(b, "cv")
	b = msgp.AppendString(b, meta.Checksum.Value)
	b = msgp.AppendString(b, "v")
	b = msgp.AppendString(b, meta.Version)
	b = msgp.AppendString(b, "c")
	b = msgp.AppendMapStrStr(b, meta.Custom)
	b = msgp.AppendString(b, "wm")
	b = msgp.AppendInt64(b, meta.Stamp.Map)
	b = msgp.AppendString(b, "wc")
	b = msgp.AppendInt64(b, meta.Stamp.Clock)
	b = msgp.AppendString(b, "a")
	return msgp.AppendInt64(b, meta.Atime.UnixNano())
}

// newFrameReader reads a frame stream with the limits set.
func newFrameReader(r io.Reader) *msgp.Reader {
	rd := msgp.NewReaderSize(r, 256<<10)
	rd.SetMaxStringLength(maxFrameString)
	rd.SetMaxElements(maxFrameCustom)
	return rd
}

// readFrame reads one item's header; io.EOF at the end of the stream.
func readFrame(rd *msgp.Reader) (Item, error) {
	var it Item
	fields, err := rd.ReadMapHeader()
	if errors.Is(err, io.EOF) {
		return it, io.EOF
	}
	if err != nil {
		return it, fmt.Errorf("%w: %w", ErrFrame, err)
	}
	if fields > maxFrameFields {
		return it, fmt.Errorf("%w: a frame of %d fields", ErrFrame, fields)
	}
	meta := &it.Meta
	for range fields {
		key, err := rd.ReadString()
		if err != nil {
			return it, fmt.Errorf("%w: %w", ErrFrame, err)
		}
		switch key {
		case "p":
			it.Bucket.Provider, err = rd.ReadString()
		case "b":
			it.Bucket.Name, err = rd.ReadString()
		case "bc":
			var created int64
			created, err = rd.ReadInt64()
			it.Created = store.Int64String(created)
		case "n":
			meta.Name, err = rd.ReadString()
		case "d":
			it.Tombstone, err = rd.ReadBool()
		case "s":
			meta.Size, err = rd.ReadInt64()
		case "ct":
			meta.Checksum.Type, err = rd.ReadString()
		case "cv":
			meta.Checksum.Value, err = rd.ReadString()
		case "v":
			meta.Version, err = rd.ReadString()
		case "c":
			meta.Custom, err = readStringMap(rd)
		case "wm":
			meta.Stamp.Map, err = rd.ReadInt64()
		case "wc":
			meta.Stamp.Clock, err = rd.ReadInt64()
		case "a":
			var ns int64
			ns, err = rd.ReadInt64()
			meta.Atime = unixNano(ns)
		default:
			err = rd.Skip()
		}
		if err != nil {
			return it, fmt.Errorf("%w: %s: %w", ErrFrame, key, err)
		}
	}
	it.Bucket = it.Bucket.Normalize()
	if meta.Size < 0 || it.Tombstone && meta.Size != 0 {
		return it, fmt.Errorf("%w: %s has size %d", ErrFrame, meta.Name, meta.Size)
	}
	if err := it.Bucket.Validate(); err != nil {
		return it, fmt.Errorf("%w: %w", ErrFrame, err)
	}
	if err := store.ValidateName(meta.Name); err != nil {
		return it, fmt.Errorf("%w: %w", ErrFrame, err)
	}
	return it, nil
}

// readStringMap reads a msgpack map of strings, bounded.
func readStringMap(rd *msgp.Reader) (map[string]string, error) {
	n, err := rd.ReadMapHeader()
	if err != nil || n == 0 {
		return nil, err
	}
	if n > maxFrameCustom {
		return nil, fmt.Errorf("custom metadata of %d entries (at most %d)", n, maxFrameCustom)
	}
	m := make(map[string]string, min(n, 64))
	size := 0
	for range n {
		k, err := rd.ReadString()
		if err != nil {
			return nil, err
		}
		v, err := rd.ReadString()
		if err != nil {
			return nil, err
		}
		if size += len(k) + len(v); size > maxFrameCustomBytes {
			return nil, fmt.Errorf("custom metadata of more than %d bytes", maxFrameCustomBytes)
		}
		m[k] = v
	}
	return m, nil
}
