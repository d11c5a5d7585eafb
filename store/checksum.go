package store

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"

	"github.com/cespare/xxhash/v2"
)

// Checksum types, named as in AIStore.
const (
	ChecksumNone   = "none"
	ChecksumXXHash = "xxhash"
	ChecksumMD5    = "md5"
	ChecksumSHA256 = "sha256"
	ChecksumCRC32C = "crc32c"
)

// Checksum is a type and a lowercase hex value.
type Checksum struct {
	Type  string `json:"type,omitempty"`
	Value string `json:"value,omitempty"`
}

// IsEmpty reports whether no checksum is present.
func (c Checksum) IsEmpty() bool { return c.Type == "" || c.Type == ChecksumNone || c.Value == "" }

// String returns "type:value".
func (c Checksum) String() string { return c.Type + ":" + c.Value }

var crc32cTable = crc32.MakeTable(crc32.Castagnoli)

// NewHash returns a hash for a checksum type; "" means xxhash. A nil hash
// with a nil error means "none".
func NewHash(typ string) (hash.Hash, error) {
	switch typ {
	case "", ChecksumXXHash:
		return xxhash.New(), nil
	case ChecksumMD5:
		return md5.New(), nil
	case ChecksumSHA256:
		return sha256.New(), nil
	case ChecksumCRC32C:
		return crc32.New(crc32cTable), nil
	case ChecksumNone:
		return nil, nil
	}
	return nil, fmt.Errorf("%w %q (want xxhash, md5, sha256, crc32c or none)", ErrUnknownChecksum, typ)
}

// NormalizeChecksumType maps "" to xxhash.
func NormalizeChecksumType(typ string) string {
	if typ == "" {
		return ChecksumXXHash
	}
	return typ
}

// ChecksumOf formats a finished hash as a Checksum.
func ChecksumOf(typ string, h hash.Hash) Checksum {
	if h == nil {
		return Checksum{Type: ChecksumNone}
	}
	sum := h.Sum(nil)
	if typ == "" || typ == ChecksumXXHash {
		// xxhash is kept as 16 hex digits of the big-endian uint64.
		return Checksum{Type: ChecksumXXHash, Value: fmt.Sprintf("%016x", binary.BigEndian.Uint64(sum))}
	}
	return Checksum{Type: typ, Value: hex.EncodeToString(sum)}
}
