package shards

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// KeyKind says how a record's key compares.
type KeyKind uint8

// Key kinds. Names sort as strings; content keys as the type the spec
// names.
const (
	KeyString KeyKind = iota
	KeyInt
	KeyFloat
)

// Key is a record's sort key.
type Key struct {
	Kind   KeyKind
	String string
	Int    int64
	Float  float64
}

// Compare orders keys of the same kind.
func (k Key) Compare(o Key) int {
	switch k.Kind {
	case KeyInt:
		return cmp.Compare(k.Int, o.Int)
	case KeyFloat:
		return cmp.Compare(k.Float, o.Float)
	}
	return cmp.Compare(k.String, o.String)
}

// Text returns the key as text, as external key maps match it.
func (k Key) Text() string {
	switch k.Kind {
	case KeyInt:
		return strconv.FormatInt(k.Int, 10)
	case KeyFloat:
		return strconv.FormatFloat(k.Float, 'g', -1, 64)
	}
	return k.String
}

// ParseKey reads a content key of a kind from a file's bytes; surrounding
// white space (Unicode's, as strings.TrimSpace sees it) is ignored.
func ParseKey(kind KeyKind, content []byte) (Key, error) {
	s := string(bytes.TrimSpace(content))
	switch kind {
	case KeyInt:
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return Key{}, fmt.Errorf("content key %q is not an integer", truncate(s))
		}
		return Key{Kind: KeyInt, Int: v}, nil
	case KeyFloat:
		v, err := strconv.ParseFloat(s, 64)
		// A decimal number: not NaN (which orders before all and equals
		// none), not an infinity, not Go's hex floats; -0 is 0, one key
		// to a key map as to the order.
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || strings.ContainsAny(s, "xX") {
			return Key{}, fmt.Errorf("content key %q is not a finite decimal number", truncate(s))
		}
		if v == 0 {
			v = math.Abs(v) // -0
		}
		return Key{Kind: KeyFloat, Float: v}, nil
	}
	return Key{Kind: KeyString, String: s}, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// RecordID names a record across a job: the index of its input shard in
// the job's input list and its position among that shard's records. It is
// also the canonical order of records: input order.
type RecordID struct {
	Shard  int32
	Record int32
}

// Compare orders ids by input shard, then position.
func (id RecordID) Compare(o RecordID) int {
	if c := cmp.Compare(id.Shard, o.Shard); c != 0 {
		return c
	}
	return cmp.Compare(id.Record, o.Record)
}

// RecordMeta is what sorting needs of a record: no names of files, no
// bytes. Holder is the index of the target that holds its bytes.
type RecordMeta struct {
	ID     RecordID
	Key    Key
	Size   int64
	Holder int32
}

// EncodedSize is what a file adds to an output shard for size accounting:
// one 512-byte header and the data padded to 512, as tar encodes it.
// Compressed formats come out smaller; the accounting stays the same so
// that shard boundaries never depend on the output format.
func EncodedSize(dataSize int64) int64 {
	return 512 + (dataSize+511)/512*512
}

// OutputShard is one planned output shard: its name, the target that
// creates it, and its records in order.
type OutputShard struct {
	Name    string
	Owner   int32
	Records []RecordMeta
	Size    int64 // sum of the records' sizes
}

// Storage says where an extracted file's bytes are kept on its holder.
type Storage uint8

// Storages of an extracted file.
const (
	// StorageOffset: in the input shard (an uncompressed tar), no copy:
	// data at Offset, the whole tar entry at RawOffset, RawSize long.
	StorageOffset Storage = iota
	// StorageMemory: in Data, the file's bytes at Offset (non-zero when
	// Data holds a whole tar entry of RawSize bytes, headers and all).
	StorageMemory
	// StorageSpill: in spill file Spill at Offset.
	StorageSpill
)

// File is one extracted file of a record.
type File struct {
	Name    string // in-archive name
	Size    int64
	Storage Storage
	// Offset of the data in the input shard or the spill file.
	Offset int64
	// RawOffset and RawSize locate the whole tar entry (headers, data,
	// padding) for StorageOffset; RawSize is 0 otherwise.
	RawOffset, RawSize int64
	Spill              int32
	Data               []byte
}

// Record is an extracted record on its holder: its files in shard order
// and where their bytes are.
type Record struct {
	ID    RecordID
	Name  string // record name: in-archive path without extension
	Key   Key
	Size  int64 // EncodedSize of its files
	Files []File
}

// Meta returns what sorting needs of the record.
func (r *Record) Meta(holder int32) RecordMeta {
	return RecordMeta{ID: r.ID, Key: r.Key, Size: r.Size, Holder: holder}
}
