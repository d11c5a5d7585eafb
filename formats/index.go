package formats

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// A shard index lists where each member of an uncompressed tar shard is,
// so that a reader fetches one record with one range read. It is stored as
// a JSON object beside the shard, named IndexName(shard):
//
//	{"version":1,"shard":"shard-0001.tar","shard_size":20480,"format":"tar",
//	 "shard_checksum":{"type":"xxhash","value":"..."},
//	 "members":[{"name":"sample-1.jpg","header_offset":0,"data_offset":512,"size":1000}]}
//
// A member's bytes are [data_offset, data_offset+size) of the shard.
// shard_checksum, when there, is the shard object's checksum as stored: a
// reader compares it with the one its GET answers with (a shard rewritten
// to the same size has other bytes at the same offsets).

// IndexSuffix ends the name of a shard's index object.
const IndexSuffix = ".idx"

// IndexVersion is the version of the index format written.
const IndexVersion = 1

// MaxIndexNameBytes bounds the bytes of the member names of an index.
const MaxIndexNameBytes = 16 << 20

// MaxIndexMembers bounds the members of one index: a shard with more is
// refused rather than indexed into an object of unbounded size.
const MaxIndexMembers = 1 << 20

// ErrNotIndexable: a shard that is not a plain tar (only those have
// member offsets), or whose members are past the index's bounds.
var ErrNotIndexable = errors.New("formats: the shard cannot be indexed")

// Index is a shard's index.
type Index struct {
	Version   int    `json:"version"`
	Shard     string `json:"shard"`
	ShardSize int64  `json:"shard_size"`
	Format    string `json:"format"`
	// ShardChecksum is the shard object's checksum, when known; of a
	// shard without one, its ETag (type store.ChecksumETag).
	ShardChecksum *IndexChecksum `json:"shard_checksum,omitempty"`
	Members       []IndexMember  `json:"members"`
}

// IndexChecksum is a shard's checksum: its type and value as the store
// keeps them.
type IndexChecksum struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// IndexMember locates one member of a shard.
type IndexMember struct {
	Name         string `json:"name"`
	HeaderOffset int64  `json:"header_offset"`
	DataOffset   int64  `json:"data_offset"`
	Size         int64  `json:"size"`
}

// IndexName is the name of a shard's index object.
func IndexName(shard string) string { return shard + IndexSuffix }

// IsIndexName reports whether an object name is a shard index's.
func IsIndexName(name string) bool { return strings.HasSuffix(name, IndexSuffix) }

// BuildIndex reads a tar shard and returns its index.
func BuildIndex(f Format, r io.ReaderAt, size int64, shard string) (*Index, error) {
	if !f.Offsets() {
		return nil, fmt.Errorf("%w: %s is %s (only tar shards are)", ErrNotIndexable, shard, f.Name())
	}
	rd, err := f.NewReader(r, size, shard)
	if err != nil {
		return nil, err
	}
	idx := &Index{Version: IndexVersion, Shard: shard, ShardSize: size, Format: f.Name(), Members: []IndexMember{}}
	names := 0
	for {
		e, err := rd.Next()
		if err == io.EOF {
			return idx, nil
		}
		if err != nil {
			return nil, err
		}
		if len(idx.Members) == MaxIndexMembers {
			return nil, fmt.Errorf("%w: shard %s has more than %d members to index", ErrNotIndexable, shard, MaxIndexMembers)
		}
		// A tar name may be a megabyte, and JSON may write a byte as six.
		if names += len(e.Name); names > MaxIndexNameBytes {
			return nil, fmt.Errorf("%w: the member names of shard %s take more than %d MiB", ErrNotIndexable, shard, MaxIndexNameBytes>>20)
		}
		// JSON would write each bad byte as U+FFFD: names that differ
		// would read back the same, and match no member.
		if !utf8.ValidString(e.Name) {
			return nil, fmt.Errorf("%w: shard %s: member name %q is not UTF-8", ErrNotIndexable, shard, e.Name)
		}
		idx.Members = append(idx.Members, IndexMember{Name: e.Name, HeaderOffset: e.HeaderOffset, DataOffset: e.DataOffset, Size: e.Size})
	}
}

// Encode writes the index as JSON.
func (idx *Index) Encode() ([]byte, error) { return json.Marshal(idx) }

// DecodeIndex reads an index and checks that every member lies within
// the shard.
func DecodeIndex(data []byte) (*Index, error) {
	var idx Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("formats: shard index: %w", err)
	}
	if idx.Version != IndexVersion {
		return nil, fmt.Errorf("formats: shard index of %s: version %d is not %d", idx.Shard, idx.Version, IndexVersion)
	}
	for _, m := range idx.Members {
		if m.HeaderOffset < 0 || m.DataOffset < m.HeaderOffset || m.Size < 0 || m.DataOffset > idx.ShardSize || m.Size > idx.ShardSize-m.DataOffset {
			return nil, fmt.Errorf("formats: shard index of %s: member %q lies outside the shard", idx.Shard, m.Name)
		}
	}
	return &idx, nil
}
