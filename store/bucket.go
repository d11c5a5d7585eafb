package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aisgo/aisgo/internal/pathsafe"
)

// Providers: ProviderAIS is of buckets stored by AIS-Go itself;
// ProviderAWS of remote buckets in an S3 server ("s3://bucket"), whose
// objects AIS-Go caches.
const (
	ProviderAIS = "ais"
	ProviderAWS = "aws"
	// ProviderHT is of buckets of an HTTP origin ("ht://"), filled by the
	// gateways' reverse proxy: one bucket per origin host.
	ProviderHT = "ht"
)

// IsRemote reports whether the bucket's objects live in a remote store.
func (b Bucket) IsRemote() bool { return b.Normalize().Provider != ProviderAIS }

// ParseBucketURI reads "ais://name", "s3://name" (or "aws://name") and a
// bare name (an ais bucket); the bucket is validated.
func ParseBucketURI(s string) (Bucket, error) {
	b := NewBucket(s)
	if scheme, name, ok := strings.Cut(s, "://"); ok {
		b = Bucket{Provider: scheme, Name: name}
		if scheme == "s3" {
			b.Provider = ProviderAWS
		}
		// ht:// is ProviderHT already.
	}
	return b, b.Validate()
}

// Bucket names a bucket. The zero Provider means "ais".
type Bucket struct {
	Name     string `json:"name"`
	Provider string `json:"provider,omitempty"`
}

// NewBucket returns the ais bucket with the given name.
func NewBucket(name string) Bucket { return Bucket{Name: name, Provider: ProviderAIS} }

// Normalize fills in the default provider.
func (b Bucket) Normalize() Bucket {
	if b.Provider == "" {
		b.Provider = ProviderAIS
	}
	return b
}

// String returns the bucket as a URI, e.g. "ais://images".
func (b Bucket) String() string { return b.Normalize().Provider + "://" + b.Name }

// Validate checks the bucket name: 1-64 characters of [A-Za-z0-9._-], and
// not "." or "..".
func (b Bucket) Validate() error {
	if b.Provider != "" && b.Provider != ProviderAIS && b.Provider != ProviderAWS && b.Provider != ProviderHT {
		return fmt.Errorf("%w: provider %q is not supported (want %q, %q for s3:// buckets or %q)", ErrInvalidName, b.Provider, ProviderAIS, ProviderAWS, ProviderHT)
	}
	if err := pathsafe.Segment("bucket name", b.Name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidName, err)
	}
	return nil
}

// Props are a bucket's properties, in AIStore's JSON shape. Sections not
// yet acted on (mirror, ec, lru) are kept and returned as set.
type Props struct {
	Provider   string          `json:"provider"`
	Checksum   ChecksumProps   `json:"checksum"`
	Versioning VersioningProps `json:"versioning"`
	Mirror     MirrorProps     `json:"mirror"`
	EC         ECProps         `json:"ec"`
	LRU        LRUProps        `json:"lru"`
	// Created is the creation time in Unix nanoseconds.
	Created Int64String `json:"created,omitempty"`
	// BID, Access and Features are AIStore's, for its clients: a bucket
	// id, the permission bitmask (every permission: there is no access
	// control yet) and the feature flags (none).
	BID      Int64String `json:"bid,omitempty"`
	Access   string      `json:"access,omitempty"`
	Features string      `json:"features,omitempty"`
	// Extra configures the backend of a remote bucket.
	Extra *ExtraProps `json:"extra,omitempty"`
}

// ExtraProps are per-provider settings of a remote bucket.
type ExtraProps struct {
	AWS  *AWSProps  `json:"aws,omitempty"`
	HTTP *HTTPProps `json:"http,omitempty"`
}

// HTTPProps name the origin of an ht:// bucket: its objects are the
// origin's paths.
type HTTPProps struct {
	Origin string `json:"origin"`
}

// AWSProps point a bucket at any S3-compatible server; empty fields take
// the SDK's defaults (its credential chain, AWS's endpoints).
type AWSProps struct {
	Endpoint  string `json:"endpoint,omitempty"`
	Region    string `json:"region,omitempty"`
	PathStyle bool   `json:"path_style,omitempty"`
	// MultipartSize: an object bigger than this is written through in
	// parts of this size (at least 5 MiB, at most 5 GiB); 0 writes in
	// parts only what one PUT cannot take (past 5 GiB).
	MultipartSize Int64String `json:"multipart_size,omitempty"`
}

// UnmarshalJSON takes AIStore's name of the region too (cloud_region),
// as the region; a document naming both, differently, is refused.
func (p *AWSProps) UnmarshalJSON(data []byte) error {
	type plain AWSProps
	v := struct {
		*plain
		CloudRegion *string `json:"cloud_region"`
	}{plain: (*plain)(p)}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	if v.CloudRegion == nil {
		return nil
	}
	var named map[string]json.RawMessage
	json.Unmarshal(data, &named)
	for key := range named {
		if strings.EqualFold(key, "region") && p.Region != *v.CloudRegion {
			return fmt.Errorf("%w: extra.aws: region %q and cloud_region %q (AIStore's name of it) differ", ErrInvalidProps, p.Region, *v.CloudRegion)
		}
	}
	p.Region = *v.CloudRegion
	return nil
}

// Bounds of AWSProps.MultipartSize: S3's least part (but the last) and
// its most.
const (
	MinMultipartSize = 5 << 20
	MaxMultipartSize = 5 << 30
)

// Clone returns a deep copy: decoding a patch over it (set-bprops) must
// not write through Extra's pointers into the props it came from.
func (p Props) Clone() Props {
	if p.Extra != nil {
		extra := *p.Extra
		if extra.AWS != nil {
			aws := *extra.AWS
			extra.AWS = &aws
		}
		if extra.HTTP != nil {
			origin := *extra.HTTP
			extra.HTTP = &origin
		}
		p.Extra = &extra
	}
	return p
}

// AWS returns the bucket's S3 settings, or the zero settings.
func (p Props) AWS() AWSProps {
	if p.Extra != nil && p.Extra.AWS != nil {
		return *p.Extra.AWS
	}
	return AWSProps{}
}

// AccessAll is the permission bitmask of a bucket anyone may use.
const AccessAll = "18446744073709551615"

// Int64String is an int64 that JSON carries as a string, as AIStore
// writes the integers of its metadata; a number is read too.
type Int64String int64

// MarshalJSON writes the integer as a string.
func (v Int64String) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatInt(int64(v), 10) + `"`), nil
}

// UnmarshalJSON reads "123" or 123.
func (v *Int64String) UnmarshalJSON(b []byte) error {
	n, err := strconv.ParseInt(strings.Trim(string(b), `"`), 10, 64)
	if err != nil {
		return fmt.Errorf("want an integer or a string of one, not %.40s", b)
	}
	*v = Int64String(n)
	return nil
}

// ChecksumProps choose the checksum computed on PUT and when it is verified.
type ChecksumProps struct {
	Type            string `json:"type"`
	ValidateColdGet bool   `json:"validate_cold_get"`
	ValidateWarmGet bool   `json:"validate_warm_get"`
	EnableReadRange bool   `json:"enable_read_range"`
}

// VersioningProps: with Enabled, every PUT of a name increments its version.
type VersioningProps struct {
	Enabled         bool `json:"enabled"`
	ValidateWarmGet bool `json:"validate_warm_get"`
}

// MirrorProps keep Copies copies of each object on distinct mountpaths of
// its target. With Burst, a PUT returns once the first copy is durable and
// the others are made after.
type MirrorProps struct {
	Enabled bool `json:"enabled"`
	Copies  int  `json:"copies"`
	Burst   bool `json:"burst,omitempty"`
}

// ECProps configure Reed-Solomon erasure coding.
type ECProps struct {
	Enabled      bool  `json:"enabled"`
	DataSlices   int   `json:"data_slices"`
	ParitySlices int   `json:"parity_slices"`
	ObjSizeLimit int64 `json:"objsize_limit"`
}

// LRUProps configure eviction.
type LRUProps struct {
	Enabled       bool     `json:"enabled"`
	DontEvictTime Duration `json:"dont_evict_time"`
}

// Duration is a time.Duration that reads and writes JSON as "2h0m0s" and
// also reads nanoseconds.
type Duration time.Duration

// MarshalJSON encodes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// UnmarshalJSON decodes "2h" or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if v, err := time.ParseDuration(s); err == nil {
		*d = Duration(v)
		return nil
	}
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		return fmt.Errorf("duration %s: want a string like \"2h\" or nanoseconds", b)
	}
	*d = Duration(n)
	return nil
}

// DefaultRemoteProps are the properties of a remote bucket added to the
// cluster: LRU on, as AIStore has it for remote buckets.
func DefaultRemoteProps(b Bucket) Props {
	p := DefaultProps()
	p.Provider = b.Normalize().Provider
	p.LRU.Enabled = true
	return p
}

// DefaultProps are the properties of a new ais bucket, as in AIStore.
func DefaultProps() Props {
	return Props{
		Provider:   ProviderAIS,
		Checksum:   ChecksumProps{Type: ChecksumXXHash, ValidateColdGet: true},
		Versioning: VersioningProps{Enabled: true},
		Mirror:     MirrorProps{Copies: 2},
		LRU:        LRUProps{DontEvictTime: Duration(2 * time.Hour)},
	}
}

// Validate checks props being set: Sound, and the rules a change must
// pass. A rule a later build adds goes here, not in Sound, so that props
// set under an earlier build still load and replay.
func (p Props) Validate() error {
	if err := p.Sound(); err != nil {
		return err
	}
	if size := p.AWS().MultipartSize; size != 0 && (size < MinMultipartSize || size > MaxMultipartSize) {
		return fmt.Errorf("%w: extra.aws.multipart_size must be 0 (parts only past 5 GiB) or %d..%d bytes (5 MiB..5 GiB), not %d", ErrInvalidProps, MinMultipartSize, MaxMultipartSize, size)
	}
	if p.Extra != nil && p.Extra.HTTP != nil && p.Extra.HTTP.Origin != "" {
		if err := CheckOrigin(p.Extra.HTTP.Origin); err != nil {
			return err
		}
	}
	if p.LRU.DontEvictTime < 0 {
		// A cutoff in the future: objects read a moment ago would go.
		return fmt.Errorf("%w: lru.dont_evict_time must not be negative, not %s", ErrInvalidProps, time.Duration(p.LRU.DontEvictTime))
	}
	if p.Mirror.Enabled && (p.Mirror.Copies < 1 || p.Mirror.Copies > 32) {
		return fmt.Errorf("%w: mirror.copies must be 1..32, not %d", ErrInvalidProps, p.Mirror.Copies)
	}
	if p.EC.Enabled && p.EC.ObjSizeLimit < -1 {
		return fmt.Errorf("%w: ec.objsize_limit must be -1 (replicate every object), 0 (slice every object) or a size, not %d", ErrInvalidProps, p.EC.ObjSizeLimit)
	}
	return nil
}

// CheckOrigin checks an ht:// bucket's origin: an http or https link to
// a host, which an object's name extends (a path, or a query's last
// value). A fragment would take every name into it, never sent (all
// names one resource). The error does not quote the link: it may hold a
// password.
func CheckOrigin(origin string) error {
	u, err := url.Parse(origin)
	switch {
	case err != nil:
		return fmt.Errorf("%w: extra.http.origin does not parse as a link (a password's %%, / or ? must be %%-encoded)", ErrInvalidProps)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "", u.Opaque != "":
		return fmt.Errorf("%w: extra.http.origin must be an http:// or https:// link to a host", ErrInvalidProps)
	case u.Fragment != "" || strings.Contains(origin, "#"):
		return fmt.Errorf("%w: extra.http.origin must have no fragment (#...): an object's name extends it", ErrInvalidProps)
	}
	return nil
}

// Sound checks what a node relies on to act on stored or received props
// at all: a checksum it can compute and an erasure-coding layout it can
// build. Bucket metadata read from disk or a peer is held to it only.
func (p Props) Sound() error {
	if err := CheckBucketChecksumType(p.Checksum.Type); err != nil {
		return fmt.Errorf("%w: checksum.type: %w", ErrInvalidProps, err)
	}
	if p.EC.Enabled {
		switch {
		case p.EC.DataSlices < 1:
			return fmt.Errorf("%w: ec.data_slices must be at least 1, not %d", ErrInvalidProps, p.EC.DataSlices)
		case p.EC.ParitySlices < 1:
			return fmt.Errorf("%w: ec.parity_slices must be at least 1, not %d", ErrInvalidProps, p.EC.ParitySlices)
		// Each bounded first: a sum of two huge counts wraps around.
		case p.EC.DataSlices > MaxSlices || p.EC.ParitySlices > MaxSlices || p.EC.DataSlices+p.EC.ParitySlices > MaxSlices:
			return fmt.Errorf("%w: ec.data_slices + ec.parity_slices must be at most %d, not %d + %d", ErrInvalidProps, MaxSlices, p.EC.DataSlices, p.EC.ParitySlices)
		}
	}
	return nil
}

// BucketMetadata (BMD) is the versioned set of buckets and their props.
// Every change increments Version; a node adopts a BMD only if it is newer.
// Buckets are keyed by provider and name, normalized (see Bucket.Normalize):
// use Props and Set rather than the map with a bucket of unknown form.
type BucketMetadata struct {
	Version int64
	Buckets map[Bucket]Props
}

// NewBucketMetadata returns empty metadata.
func NewBucketMetadata() BucketMetadata { return BucketMetadata{Buckets: map[Bucket]Props{}} }

// Props returns a bucket's props.
func (m BucketMetadata) Props(b Bucket) (Props, bool) {
	p, ok := m.Buckets[b.Normalize()]
	return p, ok
}

// Set puts a bucket's props.
func (m *BucketMetadata) Set(b Bucket, p Props) {
	if m.Buckets == nil {
		m.Buckets = map[Bucket]Props{}
	}
	m.Buckets[b.Normalize()] = p
}

// Delete removes a bucket.
func (m *BucketMetadata) Delete(b Bucket) { delete(m.Buckets, b.Normalize()) }

// Clone returns a deep copy.
func (m BucketMetadata) Clone() BucketMetadata {
	c := BucketMetadata{Version: m.Version, Buckets: make(map[Bucket]Props, len(m.Buckets))}
	for k, v := range m.Buckets {
		c.Buckets[k] = v.Clone()
	}
	return c
}

// GlobalNamespace is AIStore's name of the global namespace in its
// bucket metadata.
const GlobalNamespace = "@#"

// bucketMetadataJSON is the wire and disk form, AIStore's BMD: provider →
// namespace → bucket name → props, and the version as a string.
type bucketMetadataJSON struct {
	Providers map[string]map[string]map[string]Props `json:"providers"`
	Version   Int64String                            `json:"version"`
}

// bucketMetadataOld is the former form: buckets keyed "provider://name",
// a bare name being an ais bucket.
type bucketMetadataOld struct {
	Version int64            `json:"version"`
	Buckets map[string]Props `json:"buckets"`
}

// MarshalJSON writes the metadata in AIStore's shape.
func (m BucketMetadata) MarshalJSON() ([]byte, error) {
	wire := bucketMetadataJSON{Version: Int64String(m.Version), Providers: map[string]map[string]map[string]Props{}}
	for b, p := range m.Buckets {
		b = b.Normalize()
		namespaces := wire.Providers[b.Provider]
		if namespaces == nil {
			namespaces = map[string]map[string]Props{GlobalNamespace: {}}
			wire.Providers[b.Provider] = namespaces
		}
		namespaces[GlobalNamespace][b.Name] = p
	}
	return json.Marshal(wire)
}

// UnmarshalJSON reads AIStore's shape or the former one. Buckets of
// another namespace than the global one are refused: AIS-Go has none.
func (m *BucketMetadata) UnmarshalJSON(data []byte) error {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return err
	}
	if _, old := probe["buckets"]; old {
		var wire bucketMetadataOld
		if err := json.Unmarshal(data, &wire); err != nil {
			return err
		}
		m.Version, m.Buckets = wire.Version, make(map[Bucket]Props, len(wire.Buckets))
		for key, p := range wire.Buckets {
			b := NewBucket(key)
			if provider, name, ok := strings.Cut(key, "://"); ok {
				b = Bucket{Provider: provider, Name: name}
			}
			m.Buckets[b.Normalize()] = p
		}
		return nil
	}
	var wire bucketMetadataJSON
	if err := json.Unmarshal(data, &wire); err != nil {
		return err
	}
	m.Version, m.Buckets = int64(wire.Version), map[Bucket]Props{}
	for provider, namespaces := range wire.Providers {
		for ns, buckets := range namespaces {
			if ns != GlobalNamespace && ns != "" {
				return fmt.Errorf("%w: bucket metadata: namespace %q is not supported (only the global one)", ErrInvalidName, ns)
			}
			for name, p := range buckets {
				m.Buckets[Bucket{Provider: provider, Name: name}.Normalize()] = p
			}
		}
	}
	return nil
}

// Validate checks every bucket name and its props, so that metadata read
// from disk or received from a peer touches no directory before it is
// known to be sound.
func (m BucketMetadata) Validate() error {
	if m.Version < 0 {
		return fmt.Errorf("%w: bucket metadata version %d is negative", ErrInvalidProps, m.Version)
	}
	for b, props := range m.Buckets {
		if err := b.Validate(); err != nil {
			return fmt.Errorf("bucket metadata: %w", err)
		}
		if b.Provider == "" {
			return fmt.Errorf("%w: bucket metadata: bucket %q has no provider", ErrInvalidName, b.Name)
		}
		if err := props.Sound(); err != nil {
			return fmt.Errorf("bucket metadata: bucket %s: %w", b, err)
		}
	}
	return nil
}

// Errors of CheckBucketUpdate.
var (
	ErrBucketsJump = errors.New("store: bucket metadata version jumps too far ahead")
	ErrBucketsWipe = errors.New("store: bucket metadata would remove every bucket")
)

// BucketUpdateRules bound what a node accepts of pushed bucket metadata.
type BucketUpdateRules struct {
	// MaxVersionJump is how far ahead a pushed version may be; zero means
	// 10000.
	MaxVersionJump int64
	// Recovery lifts the jump bound (a node joining again).
	Recovery bool
	// AllowNoBuckets accepts metadata without buckets where the current
	// has some: the primary sets it when the last bucket is destroyed.
	AllowNoBuckets bool
}

// CheckBucketUpdate decides whether a node holding cur takes next, newer
// by version: it must be sound, in sequence, and not remove every bucket
// unless the rules allow it.
func CheckBucketUpdate(cur, next BucketMetadata, rules BucketUpdateRules) error {
	if err := next.Validate(); err != nil {
		return err
	}
	jump := rules.MaxVersionJump
	if jump <= 0 {
		jump = 10000
	}
	if !rules.Recovery && next.Version-cur.Version > jump {
		return fmt.Errorf("%w: version %d after %d (at most %d ahead)", ErrBucketsJump, next.Version, cur.Version, jump)
	}
	if !rules.AllowNoBuckets && len(cur.Buckets) > 0 && len(next.Buckets) == 0 {
		return fmt.Errorf("%w: version %d has none, version %d has %d", ErrBucketsWipe, next.Version, cur.Version, len(cur.Buckets))
	}
	return nil
}
