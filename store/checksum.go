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
	"github.com/minio/crc64nvme"
)

// Checksum types, named as in AIStore.
const (
	ChecksumNone   = "none"
	ChecksumXXHash = "xxhash"
	ChecksumMD5    = "md5"
	ChecksumSHA256 = "sha256"
	ChecksumCRC32C = "crc32c"
	// CRC32 (IEEE) and CRC64NVME are what S3 keeps of an object (the SDKs
	// send the first, S3 computes the second for every new object): a
	// cold GET checks the bytes against them. They are not bucket types.
	ChecksumCRC32     = "crc32"
	ChecksumCRC64NVME = "crc64nvme"
	// ChecksumETag is no checksum but an object's ETag (ETagOf), which
	// tells its writes apart where it has no checksum (a bucket with
	// checksums off): what a shard's index keeps of such a shard, and a
	// get-batch entry's if_checksum then asks for.
	ChecksumETag = "etag"
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
	case ChecksumCRC32:
		return crc32.NewIEEE(), nil
	case ChecksumCRC64NVME:
		// Carry-less multiplication (PCLMULQDQ): 30 times hash/crc64's
		// tables here, which ran at twice an MD5 only.
		return crc64nvme.New(), nil
	case ChecksumNone:
		return nil, nil
	}
	return nil, fmt.Errorf("%w %q (want %s)", ErrUnknownChecksum, typ, bucketChecksumTypes)
}

// bucketChecksumTypes are the types a bucket may keep (AIStore's).
const bucketChecksumTypes = "xxhash, md5, sha256, crc32c or none"

// CheckBucketChecksumType refuses a type a bucket cannot keep.
func CheckBucketChecksumType(typ string) error {
	switch typ {
	case "", ChecksumXXHash, ChecksumMD5, ChecksumSHA256, ChecksumCRC32C, ChecksumNone:
		return nil
	}
	return fmt.Errorf("%w %q (want %s)", ErrUnknownChecksum, typ, bucketChecksumTypes)
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
