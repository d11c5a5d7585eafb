package s3

import (
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aisgo/aisgo/store"
)

// ParseRange reads a Range header against an object of size bytes as S3
// does. ok is false when no range applies and the whole object is sent:
// no header, a header S3 ignores (several ranges, another unit, bad
// syntax, a last byte before the first). A range that starts past the end
// (or any range of an empty object, or the last 0 bytes) is an
// InvalidRange error: the caller answers 416 with "Content-Range: bytes
// */size". A last byte past the end is the end.
func ParseRange(header string, size int64) (start, length int64, ok bool, err error) {
	if header == "" {
		return 0, 0, false, nil
	}
	unit, spec, found := strings.Cut(strings.TrimSpace(header), "=")
	if !found || !strings.EqualFold(strings.TrimSpace(unit), "bytes") || strings.Contains(spec, ",") {
		return 0, 0, false, nil
	}
	first, last, found := strings.Cut(spec, "-")
	if !found {
		return 0, 0, false, nil
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	unsatisfiable := func() (int64, int64, bool, error) {
		return 0, 0, false, ErrInvalidRange.WithMessage("the range %q is outside the object of %d bytes", header, size)
	}
	if first == "" {
		suffix, valid := parsePosition(last)
		if !valid {
			return 0, 0, false, nil
		}
		if suffix == 0 || size == 0 {
			return unsatisfiable()
		}
		suffix = min(suffix, size)
		return size - suffix, suffix, true, nil
	}
	a, valid := parsePosition(first)
	if !valid {
		return 0, 0, false, nil
	}
	b := int64(math.MaxInt64)
	if last != "" {
		if b, valid = parsePosition(last); !valid || b < a {
			return 0, 0, false, nil
		}
	}
	if a >= size {
		return unsatisfiable()
	}
	b = min(b, size-1)
	return a, b - a + 1, true, nil
}

// ParseCopyRange parses x-amz-copy-source-range, which unlike a GET's
// Range must be "bytes=first-last" with both ends inside the source of
// size bytes: anything else is InvalidArgument, a range past the end
// InvalidRange (S3 does not clamp a copy as it clamps a read).
func ParseCopyRange(spec string, size int64) (start, length int64, err error) {
	first, last, found := strings.Cut(strings.TrimPrefix(spec, "bytes="), "-")
	a, aValid := parsePosition(first)
	b, bValid := parsePosition(last)
	if !strings.HasPrefix(spec, "bytes=") || !found || !aValid || !bValid || a > b {
		return 0, 0, ErrInvalidArgument.WithMessage("x-amz-copy-source-range %q is not bytes=first-last", spec)
	}
	if b >= size {
		return 0, 0, ErrInvalidRange.WithMessage("x-amz-copy-source-range %q reaches past the %d bytes of the source", spec, size)
	}
	return a, b - a + 1, nil
}

// parsePosition reads the digits of a byte position; digits past int64
// are a position beyond any object (RFC 9110 has it mean the end).
func parsePosition(s string) (int64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return math.MaxInt64, true
	}
	return v, true
}

// CheckConditions evaluates the If-Match, If-Unmodified-Since,
// If-None-Match and If-Modified-Since headers of r against an object of
// that etag (quoted or not) and modification time, in the order of RFC
// 9110 that S3 follows: a true If-Match makes If-Unmodified-Since moot,
// an If-None-Match makes If-Modified-Since moot. It returns
// ErrPreconditionFailed (412), ErrNotModified (304, GET and HEAD only) or
// nil. Times compare to the second, as HTTP dates carry; an invalid date
// is ignored. If-Match compares strongly (a weak tag never matches),
// If-None-Match weakly.
func CheckConditions(r *http.Request, etag string, modified time.Time) error {
	// An empty method is GET, as net/http has it.
	read := r.Method == "" || r.Method == http.MethodGet || r.Method == http.MethodHead
	notModified := ErrNotModified
	if !read {
		notModified = ErrPreconditionFailed
	}
	resource := ""
	if r.URL != nil {
		resource = r.URL.Path
	}
	return checkConditions(r.Header, conditionHeaders{"If-Match", "If-Unmodified-Since", "If-None-Match", "If-Modified-Since"},
		etag, modified, read, notModified, resource)
}

// RangeHolds evaluates an If-Range value against an object of that
// etag (quoted or not) and modification time: true when there is none,
// or when it names this version, an entity tag compared strongly or the
// date of the last modification to the second (RFC 9110 13.1.5). A
// false answer means the range is of another version: the whole object
// is sent, so a resumed download does not join two versions.
func RangeHolds(value, etag string, modified time.Time) bool {
	value = strings.TrimSpace(value)
	switch {
	case value == "":
		return true
	case strings.HasPrefix(value, "W/"):
		return false
	case strings.HasPrefix(value, `"`):
		return len(value) > 2 && strings.HasSuffix(value, `"`) && unquote(value) == unquote(etag)
	}
	date, err := http.ParseTime(value)
	return err == nil && date.Equal(modified.Truncate(time.Second))
}

// CheckCopyConditions evaluates the x-amz-copy-source-if-* headers of a
// CopyObject or UploadPartCopy against the source object as
// CheckConditions does, except that S3 answers every failure, even the
// "not modified" ones, with ErrPreconditionFailed.
func CheckCopyConditions(r *http.Request, etag string, modified time.Time) error {
	return checkConditions(r.Header, conditionHeaders{
		"X-Amz-Copy-Source-If-Match", "X-Amz-Copy-Source-If-Unmodified-Since",
		"X-Amz-Copy-Source-If-None-Match", "X-Amz-Copy-Source-If-Modified-Since",
	}, etag, modified, true, ErrPreconditionFailed, r.Header.Get("X-Amz-Copy-Source"))
}

// conditionHeaders names the four precondition headers.
type conditionHeaders struct {
	match, unmodifiedSince, noneMatch, modifiedSince string
}

func checkConditions(h http.Header, names conditionHeaders, etag string, modified time.Time, useModifiedSince bool, notModified *Error, resource string) error {
	etag = unquote(etag)
	modified = modified.Truncate(time.Second)
	// An object of no known modification time is held to no date
	// (RFC 9110 13.1.3, 13.1.4): only the entity tags count.
	dated := modified.Unix() > 0
	// A list field may come on several lines (RFC 9110 5.3): one list.
	if list := strings.Join(h.Values(names.match), ","); list != "" {
		if !etagListMatches(list, etag, false) {
			return ErrPreconditionFailed.WithMessage("%s %s does not match the ETag %q", names.match, list, etag).WithResource(resource)
		}
	} else if date, err := http.ParseTime(h.Get(names.unmodifiedSince)); dated && err == nil && modified.After(date) {
		return ErrPreconditionFailed.WithMessage("the object was modified at %s, after %s %s", modified.UTC().Format(http.TimeFormat), names.unmodifiedSince, date.Format(http.TimeFormat)).WithResource(resource)
	}
	if list := strings.Join(h.Values(names.noneMatch), ","); list != "" {
		if etagListMatches(list, etag, true) {
			return notModified.WithMessage("%s %s matches the ETag %q", names.noneMatch, list, etag).WithResource(resource)
		}
	} else if date, err := http.ParseTime(h.Get(names.modifiedSince)); useModifiedSince && dated && err == nil && !modified.After(date) {
		return notModified.WithMessage("the object was last modified at %s, not after %s %s", modified.UTC().Format(http.TimeFormat), names.modifiedSince, date.Format(http.TimeFormat)).WithResource(resource)
	}
	return nil
}

// etagListMatches reports whether a comma-separated list of entity tags
// (quoted or not, "*" for any) names etag. A weak tag (W/"...") matches
// only in a weak comparison.
func etagListMatches(list, etag string, weak bool) bool {
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "*" {
			return true
		}
		if tag, isWeak := strings.CutPrefix(item, "W/"); isWeak {
			if !weak {
				continue
			}
			item = tag
		}
		if item = unquote(item); item != "" && item == etag {
			return true
		}
	}
	return false
}

// unquote removes the quotes around an entity tag, if it has them.
func unquote(etag string) string {
	if len(etag) >= 2 && etag[0] == '"' && etag[len(etag)-1] == '"' {
		return etag[1 : len(etag)-1]
	}
	return etag
}

// QuoteETag puts an entity tag in the quotes S3 sends it in, unless it
// has them already; an empty one stays empty.
func QuoteETag(etag string) string {
	if etag == "" || unquote(etag) != etag {
		return etag
	}
	return `"` + etag + `"`
}

// ResponseOverrides maps the query parameters of a GET that override a
// header of the answer to that header.
var ResponseOverrides = map[string]string{
	"response-content-type":        "Content-Type",
	"response-content-language":    "Content-Language",
	"response-expires":             "Expires",
	"response-cache-control":       "Cache-Control",
	"response-content-disposition": "Content-Disposition",
	"response-content-encoding":    "Content-Encoding",
}

// ApplyOverrides sets in h the headers that q overrides; an empty value
// overrides nothing.
func ApplyOverrides(h http.Header, q url.Values) {
	for parameter, header := range ResponseOverrides {
		if v := q.Get(parameter); v != "" {
			h.Set(header, v)
		}
	}
}

// ParseContentMD5 decodes a Content-MD5 header: the base64 of the 16
// bytes of an MD5. Anything else is InvalidDigest.
func ParseContentMD5(v string) ([]byte, error) {
	sum, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, ErrInvalidDigest.WithMessage("Content-MD5 %q is not base64", v)
	}
	if len(sum) != md5.Size {
		return nil, ErrInvalidDigest.WithMessage("Content-MD5 %q is %d bytes, not the %d of an MD5", v, len(sum), md5.Size)
	}
	return sum, nil
}

// Reserved starts and ends of bucket names, which S3 keeps for its own
// features (access points, Object Lambda, directory buckets, ...).
var (
	reservedBucketPrefixes = []string{"xn--", "sthree-", "amzn-s3-demo-"}
	reservedBucketSuffixes = []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"}
)

// ValidateBucketName checks a new bucket's name against S3's rules; the
// InvalidBucketName error names the rule broken.
func ValidateBucketName(name string) error {
	fail := func(format string, args ...any) error {
		return ErrInvalidBucketName.WithMessage("bucket name %q: "+format, append([]any{name}, args...)...).WithResource(name)
	}
	if len(name) < 3 || len(name) > 63 {
		return fail("%d characters, not between 3 and 63", len(name))
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isLowerAlnum(c) && c != '.' && c != '-' {
			return fail("%q is not a lowercase letter, a digit, '.' or '-'", c)
		}
	}
	if !isLowerAlnum(name[0]) || !isLowerAlnum(name[len(name)-1]) {
		return fail("must start and end with a lowercase letter or a digit")
	}
	if strings.Contains(name, "..") {
		return fail("has two adjacent periods")
	}
	// Each label between periods starts and ends with a letter or digit.
	if strings.Contains(name, ".-") || strings.Contains(name, "-.") {
		return fail("has a hyphen next to a period")
	}
	if isIPAddress(name) {
		return fail("is formatted as an IP address")
	}
	for _, prefix := range reservedBucketPrefixes {
		if strings.HasPrefix(name, prefix) {
			return fail("the prefix %q is reserved", prefix)
		}
	}
	for _, suffix := range reservedBucketSuffixes {
		if strings.HasSuffix(name, suffix) {
			return fail("the suffix %q is reserved", suffix)
		}
	}
	return nil
}

func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

// isIPAddress: four dot-separated runs of digits, whatever their values,
// is what S3 refuses as looking like an IPv4 address.
func isIPAddress(name string) bool {
	parts := strings.Split(name, ".")
	if len(parts) != 4 {
		return false
	}
	for _, part := range parts {
		if part == "" || strings.TrimLeft(part, "0123456789") != "" {
			return false
		}
	}
	return true
}

// MaxUserMetadata is S3's limit on user metadata: the bytes of the names
// (without "x-amz-meta-") and values of the x-amz-meta-* headers.
const MaxUserMetadata = 2 << 10

// Custom metadata keys of what an object keeps of its PUT's headers.
const (
	customMetaPrefix   = store.CustomUserPrefix
	customHeaderPrefix = "s3."
	metaHeaderPrefix   = "x-amz-meta-"
)

// refuseUnsupported answers 501 to a write that asks for what this server
// does not do and a client relies on: encryption (its object would be
// stored in the clear), object lock (it could be deleted), tags, a public
// ACL.
// Taken silently, they would promise what does not hold.
func refuseUnsupported(h http.Header) error {
	for header, values := range h {
		name := strings.ToLower(header)
		switch {
		case strings.HasPrefix(name, "x-amz-server-side-encryption"), strings.HasPrefix(name, "x-amz-copy-source-server-side-encryption"):
			return notImplemented(fmt.Sprintf("server-side encryption (%s: objects are stored unencrypted)", name))
		case strings.HasPrefix(name, "x-amz-object-lock-"):
			return notImplemented(fmt.Sprintf("object lock (%s)", name))
		case name == "x-amz-tagging" && len(values) > 0 && values[0] != "" &&
			(h.Get("X-Amz-Copy-Source") == "" || strings.EqualFold(h.Get("X-Amz-Tagging-Directive"), "REPLACE")):
			// Nor are tags kept (a lifecycle or a policy by tag would miss
			// the object), as PutObjectTagging says. (A copy takes them
			// with the REPLACE directive only: else the source's, none.)
			return notImplemented("object tags (x-amz-tagging: tags are not kept)")
		case name == "x-amz-bucket-object-lock-enabled" && len(values) > 0 && !strings.EqualFold(values[0], "false"):
			return notImplemented("object lock (x-amz-bucket-object-lock-enabled)")
		case name == "x-amz-acl" && len(values) > 0 && !cannedACL(values[0]):
			return badCannedACL(values[0])
		case name == "x-amz-acl" && len(values) > 0 && !ownerOnlyACL(values[0]),
			strings.HasPrefix(name, "x-amz-grant-"):
			return notImplemented(fmt.Sprintf("an ACL other than private (%s; every bucket and object is private)", name))
		}
	}
	return nil
}

// ownerOnlyACL reports a canned ACL that grants no one but the owner:
// every bucket and object here is its owner's alone, whose own bucket it
// is (cross-account tools send bucket-owner-full-control by default).
// cannedACL reports one of S3's canned ACL names: another is S3's 400
// InvalidArgument, not an ACL this server does not keep (501).
func cannedACL(canned string) bool {
	switch canned {
	case "private", "public-read", "public-read-write", "authenticated-read", "aws-exec-read",
		"bucket-owner-read", "bucket-owner-full-control", "log-delivery-write":
		return true
	}
	return false
}

// badCannedACL is the error of an x-amz-acl that names no canned ACL.
func badCannedACL(canned string) error {
	return ErrInvalidArgument.WithMessage("x-amz-acl %q is not a canned ACL", canned)
}

func ownerOnlyACL(canned string) bool {
	switch canned {
	case "private", "bucket-owner-full-control", "bucket-owner-read":
		return true
	}
	return false
}

// storedHeaders are the standard headers an object keeps and sends back.
var storedHeaders = []string{"Content-Type", "Content-Encoding", "Content-Disposition", "Content-Language", "Cache-Control", "Expires"}

// StoredHeaders picks from the headers of a PUT (or a copy, or the start
// of an upload) what the object keeps in its custom metadata: each
// x-amz-meta-<name> as "s3.meta.<name>" (name in lower case, repeated
// headers joined by ","), and each of Content-Type, Content-Encoding,
// Content-Disposition, Content-Language, Cache-Control and Expires as
// "s3.<header in lower case>". User metadata past MaxUserMetadata is
// MetadataTooLarge.
func StoredHeaders(h http.Header) (map[string]string, error) {
	if err := refuseUnsupported(h); err != nil {
		return nil, err
	}
	custom := map[string]string{}
	userBytes := 0
	for header, values := range h {
		name, ok := strings.CutPrefix(strings.ToLower(header), metaHeaderPrefix)
		if !ok || name == "" {
			continue
		}
		value := strings.Join(values, ",")
		key := customMetaPrefix + name
		// Two spellings of one header (a map built by hand) join too.
		if previous, seen := custom[key]; seen {
			value = previous + "," + value
			userBytes -= len(name) + len(previous)
		}
		custom[key] = value
		userBytes += len(name) + len(value)
	}
	if userBytes > MaxUserMetadata {
		return nil, ErrMetadataTooLarge.WithMessage("the x-amz-meta-* headers are %d bytes, more than the %d allowed", userBytes, MaxUserMetadata)
	}
	for _, header := range storedHeaders {
		if v := h.Get(header); v != "" {
			custom[customHeaderPrefix+strings.ToLower(header)] = v
		}
	}
	if n := storedSize(custom); n > MaxStoredHeaders {
		return nil, ErrMetadataTooLarge.WithMessage("the x-amz-meta-* and Content-*, Cache-Control and Expires headers take %d bytes as stored, more than the %d an object keeps", n, MaxStoredHeaders)
	}
	return custom, nil
}

// keptHeaders is what StoredHeaders could have made of custom: the user
// metadata and the stored standard headers, nothing else (an upload's
// record is an object a user may write through the native API: it
// carries no reserved key into the object it makes), and no more of it
// than StoredHeaders keeps.
func keptHeaders(custom map[string]string) (map[string]string, error) {
	kept := map[string]string{}
	for key, value := range custom {
		if strings.HasPrefix(key, customMetaPrefix) {
			kept[key] = value
		}
	}
	for _, header := range storedHeaders {
		key := customHeaderPrefix + strings.ToLower(header)
		if value, ok := custom[key]; ok {
			kept[key] = value
		}
	}
	if n := storedSize(kept); n > MaxStoredHeaders {
		return nil, ErrMetadataTooLarge.WithMessage("the upload's metadata takes %d bytes as stored, more than the %d an object keeps", n, MaxStoredHeaders)
	}
	return kept, nil
}

// MaxStoredHeaders bounds what StoredHeaders keeps, counted as stored:
// with the ETag and a multipart upload's own keys it fits the object
// metadata the store keeps (3 KiB, one xattr block), so a PUT, a copy or
// an upload is refused at its start rather than at its end.
const MaxStoredHeaders = 2560

// storedSize is the room custom metadata takes as stored: each key and
// value, and their framing.
func storedSize(custom map[string]string) int {
	n := 0
	for k, v := range custom {
		n += len(k) + len(v) + 4
	}
	return n
}

// RestoreHeaders sets in dst the headers StoredHeaders kept in custom;
// other keys (s3.etag, AIS's own) are left alone, and so are names that
// cannot be header names.
func RestoreHeaders(dst http.Header, custom map[string]string) {
	for key, value := range custom {
		if name, ok := strings.CutPrefix(key, customMetaPrefix); ok {
			if name != "" && isToken(name) {
				// Lowercase as S3 sends them: boto3 keeps the case it
				// receives, and Set would make it X-Amz-Meta-Name.
				dst[metaHeaderPrefix+strings.ToLower(name)] = []string{value}
			}
		}
	}
	for _, header := range storedHeaders {
		if value, ok := custom[customHeaderPrefix+strings.ToLower(header)]; ok {
			dst.Set(header, value)
		}
	}
}

// isToken reports whether s is an HTTP token (RFC 9110), what a header
// name is made of.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
