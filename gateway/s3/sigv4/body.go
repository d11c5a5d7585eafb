package sigv4

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/minio/crc64nvme"
)

// Values of x-amz-content-sha256 besides a hex SHA-256 of the payload.
const (
	unsignedPayload          = "UNSIGNED-PAYLOAD"
	streamingSigned          = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingSignedTrailer   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	streamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	streamingECDSA           = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"
	streamingECDSATrailer    = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER"
)

// Bounds on what a peer's aws-chunked body can make us read or hold.
const (
	maxLine = 4 << 10 // a chunk header or a trailer line, with its CRLF
	// maxChunk bounds a signed chunk's data (passed on before its
	// signature is checked); an unsigned chunk takes up to an object's
	// 5 GiB: the SDKs send a body of known length as one (nothing of it
	// is held, and the body's length is bounded apart).
	maxChunk         = 64 << 20
	maxUnsignedChunk = 5 << 30
	maxTrailerLines  = 16
	maxTrailerNames  = 8 // in x-amz-trailer
)

// emptyHash is the hex SHA-256 of nothing, part of every chunk's string to sign.
const emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// checksums are the trailers S3 accepts, each with its algorithm.
var checksums = map[string]func() hash.Hash{
	"x-amz-checksum-crc32":     func() hash.Hash { return crc32.NewIEEE() },
	"x-amz-checksum-crc32c":    func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) },
	"x-amz-checksum-crc64nvme": func() hash.Hash { return crc64nvme.New() },
	"x-amz-checksum-sha1":      sha1.New,
	"x-amz-checksum-sha256":    sha256.New,
}

// DecodeBody returns the payload of r for a server that checks no
// signatures: it strips aws-chunked framing, signed or not, without
// checking chunk signatures, and checks what needs no key: the SHA-256
// in x-amz-content-sha256, trailing checksums and the decoded length.
// Errors surface from Read, as with Verify. The length is the decoded
// one, or -1 when unknown. r is left as it is.
//
// Checksums sent as headers (Content-MD5, x-amz-checksum-*) are the
// caller's to check: in CompleteMultipartUpload they describe the object,
// not the body.
func DecodeBody(r *http.Request) (io.ReadCloser, int64, error) {
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		payload = unsignedPayload
	}
	if err := checkPayload(payload); err != nil {
		return nil, 0, err
	}
	return decode(r, payload, nil)
}

// checkPayload refuses a value of x-amz-content-sha256 that names no
// payload this package can read.
func checkPayload(payload string) error {
	switch payload {
	case unsignedPayload, streamingSigned, streamingSignedTrailer, streamingUnsignedTrailer:
		return nil
	case streamingECDSA, streamingECDSATrailer:
		return newError("NotImplemented", "x-amz-content-sha256 %s is Signature Version 4A, which is not supported", payload)
	}
	if _, ok := parseHash(payload); !ok {
		return newError("InvalidArgument", "x-amz-content-sha256 must be %s, %s, %s, %s or the hex SHA-256 of the payload, not %s",
			unsignedPayload, streamingSigned, streamingSignedTrailer, streamingUnsignedTrailer, quote(payload))
	}
	return nil
}

// parseHash reads a payload hash: 64 hex digits.
func parseHash(payload string) ([]byte, bool) {
	if len(payload) != 2*sha256.Size {
		return nil, false
	}
	sum, err := hex.DecodeString(payload)
	return sum, err == nil
}

// decode wraps the body of r to read the payload that payload, a valid
// x-amz-content-sha256, describes. Signed chunks are checked against
// seed, or not at all when it is nil.
func decode(r *http.Request, payload string, seed *chain) (io.ReadCloser, int64, error) {
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	if awsChunked(r.Header.Get("Content-Encoding")) {
		switch payload {
		case unsignedPayload:
			// An unsigned body in aws-chunked framing (boto3's trailing
			// checksum over TLS, with no x-amz-content-sha256 when the
			// request is not signed): its framing comes off, else it
			// would be stored with the object.
			payload = streamingUnsignedTrailer
		case streamingSigned, streamingSignedTrailer, streamingUnsignedTrailer:
		default:
			return nil, 0, newError("InvalidArgument", "Content-Encoding aws-chunked with x-amz-content-sha256 %s: a framed body names a STREAMING payload", quote(payload))
		}
	}
	switch payload {
	case unsignedPayload:
		return body, r.ContentLength, nil
	case streamingSigned, streamingSignedTrailer, streamingUnsignedTrailer:
	default:
		want, _ := parseHash(payload)
		return &hashReader{body: body, sums: []expectedSum{{hash: sha256.New(), want: want, mismatch: func(got []byte) error {
			return newError("XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header %x does not match what was computed: %x", want, got)
		}}}}, r.ContentLength, nil
	}
	length := int64(-1)
	if value := r.Header.Get("X-Amz-Decoded-Content-Length"); value != "" {
		var err error
		if length, err = strconv.ParseInt(value, 10, 64); err != nil || length < 0 {
			return nil, 0, newError("InvalidArgument", "x-amz-decoded-content-length %s is not a length", quote(value))
		}
	}
	reader := &chunkReader{
		body:     body,
		source:   newLineReader(body),
		signed:   payload != streamingUnsignedTrailer,
		trailer:  payload != streamingSigned,
		expected: length,
	}
	if reader.signed && seed != nil {
		copied := *seed // the chain advances with each chunk
		reader.chain = &copied
		reader.chunkHash = sha256.New()
	}
	if reader.trailer {
		var err error
		if reader.checksums, err = declaredTrailers(r); err != nil {
			return nil, 0, err
		}
	}
	return reader, length, nil
}

// declaredTrailers reads x-amz-trailer, the checksums the trailer will
// carry, and starts computing each over the payload.
func declaredTrailers(r *http.Request) ([]checksum, error) {
	var sums []checksum
	for _, value := range r.Header.Values("X-Amz-Trailer") {
		for name := range strings.SplitSeq(value, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			newHash, ok := checksums[name]
			if !ok {
				return nil, newError("InvalidArgument", "x-amz-trailer names %s; the trailers supported are x-amz-checksum-crc32, -crc32c, -crc64nvme, -sha1 and -sha256", quote(name))
			}
			if slices.ContainsFunc(sums, func(s checksum) bool { return s.name == name }) {
				return nil, newError("InvalidArgument", "x-amz-trailer names %s twice", name)
			}
			if len(sums) == maxTrailerNames {
				return nil, newError("InvalidArgument", "x-amz-trailer names more than %d trailers", maxTrailerNames)
			}
			sums = append(sums, checksum{name: name, hash: newHash()})
		}
	}
	return sums, nil
}

// hashReader checks at the end of the body that it hashes as expected.
// It holds back the last byte it read until the body's end is checked: a
// reader streaming the body on (to the target that stores it) must not
// get all of a body that fails, or it would store it whole.
type hashReader struct {
	body    io.ReadCloser
	sums    []expectedSum
	held    byte
	holding bool
	// ended: the body ended and its sums held, the byte held back (if
	// any) still to give.
	ended bool
	err   error // sticky
}

// expectedSum is a hash the body must have, and the error if it has not.
type expectedSum struct {
	hash     hash.Hash
	want     []byte
	mismatch func(got []byte) error
}

func (h *hashReader) Read(p []byte) (int, error) {
	if h.err != nil {
		return 0, h.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if h.ended {
		h.err = io.EOF
		if !h.holding {
			return 0, io.EOF
		}
		p[0], h.holding = h.held, false
		return 1, io.EOF
	}
	off := 0
	if h.holding {
		p[0], off, h.holding = h.held, 1, false
	}
	buf := p[off:]
	var ahead [1]byte
	if len(buf) == 0 {
		// No room past the held byte (a 1-byte read: a LimitReader's
		// last byte, a cap's probe): one byte is read ahead into the
		// hold. Answering 0 bytes would have the caller ask again for
		// ever, the body never read.
		buf = ahead[:]
	}
	n, err := h.body.Read(buf)
	for _, sum := range h.sums {
		sum.hash.Write(buf[:n])
	}
	switch {
	case err == io.EOF:
		for _, sum := range h.sums {
			if got := sum.hash.Sum(nil); !bytes.Equal(got, sum.want) {
				h.err = sum.mismatch(got)
				return 0, h.err
			}
		}
	case err != nil:
		h.err = err
		return 0, err
	case n == 0 && off == 1:
		// Nothing read past it: the held byte may still be the last.
		h.holding = true
		return 0, nil
	}
	if len(p[off:]) == 0 {
		// p[0] is the byte held before; the one read ahead is held now.
		if n == 1 {
			h.held, h.holding = ahead[0], true
		}
		if err == io.EOF {
			h.ended = true
			if !h.holding {
				h.err = io.EOF
				return off, io.EOF
			}
		}
		return off, nil
	}
	n += off
	if err == io.EOF {
		h.err = io.EOF
		return n, io.EOF
	}
	if n > 0 {
		h.held, h.holding = p[n-1], true
		n--
	}
	return n, nil
}

func (h *hashReader) Close() error { return h.body.Close() }

// HasHeaderChecksum reports an x-amz-checksum-* header of an algorithm
// CheckHeaderChecksums checks.
func HasHeaderChecksum(h http.Header) bool {
	for name := range checksums {
		if _, ok := h[http.CanonicalHeaderKey(name)]; ok {
			return true
		}
	}
	return false
}

// PayloadChecked reports whether a request's body is checked as it is
// read by what signed it: its SHA-256 in x-amz-content-sha256, or its
// chunks' signatures when they are verified (signed, a server with keys),
// or a checksum its trailer carries. An unsigned payload, or none named,
// is not.
func PayloadChecked(r *http.Request, signed bool) bool {
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if q := r.URL.Query(); payload == "" && signed && q.Has("X-Amz-Signature") {
		payload = q.Get("X-Amz-Content-Sha256") // a presigned URL's, signed
	}
	if _, ok := parseHash(payload); ok {
		return true
	}
	if signed && (payload == streamingSigned || payload == streamingSignedTrailer) {
		return true
	}
	// A trailer is read only in the modes that carry one, as the header
	// named it when the body was decoded (one in a presigned URL's query,
	// copied to the headers after, was not).
	trailer := payload == streamingSignedTrailer || payload == streamingUnsignedTrailer
	for k := range r.URL.Query() {
		trailer = trailer && !strings.EqualFold(k, "X-Amz-Trailer")
	}
	return trailer && strings.HasPrefix(strings.ToLower(strings.TrimSpace(r.Header.Get("X-Amz-Trailer"))), "x-amz-checksum-")
}

// CheckHeaderChecksums makes r's body check the x-amz-checksum-* headers
// it came with (CRC32, CRC32C, CRC64NVME, SHA-1, SHA-256) as it is read:
// one that does not match fails the read (BadDigest) before the body's
// last byte. A header that is not the base64 of such a sum is
// InvalidRequest. For the requests whose body is the object's bytes (PUT,
// UploadPart): CompleteMultipartUpload's describe the object.
func CheckHeaderChecksums(r *http.Request) error {
	var sums []expectedSum
	for name, newHash := range checksums {
		values, present := r.Header[http.CanonicalHeaderKey(name)]
		if !present {
			continue
		}
		v := ""
		if len(values) > 0 {
			v = values[0] // (an empty one is no sum: invalid, not skipped)
		}
		h := newHash()
		want, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(want) != h.Size() {
			return newError("InvalidRequest", "Value for %s header is invalid: want the base64 of %d bytes", name, h.Size())
		}
		sums = append(sums, expectedSum{hash: h, want: want, mismatch: func(got []byte) error {
			return newError("BadDigest", "The %s you specified did not match the calculated checksum %s", name, base64.StdEncoding.EncodeToString(got))
		}})
	}
	if len(sums) > 0 {
		r.Body = &hashReader{body: r.Body, sums: sums}
	}
	return nil
}

// checksum is a trailing checksum being computed over the payload.
type checksum struct {
	name string
	hash hash.Hash
}

// chain checks signed chunks: each signature covers its chunk and the
// signature before it, starting from the request's (the seed).
type chain struct {
	key       []byte
	timestamp string
	scope     string
	previous  string // hex signature of the previous link
}

// chunk checks claimed as the signature of the next chunk, whose data
// hashes to digest (hex).
func (c *chain) chunk(digest, claimed string) bool {
	return c.link("AWS4-HMAC-SHA256-PAYLOAD\n"+c.timestamp+"\n"+c.scope+"\n"+c.previous+"\n"+emptyHash+"\n"+digest, claimed)
}

// trailer checks claimed as the signature of the trailer, whose
// canonical form hashes to digest (hex).
func (c *chain) trailer(digest, claimed string) bool {
	return c.link("AWS4-HMAC-SHA256-TRAILER\n"+c.timestamp+"\n"+c.scope+"\n"+c.previous+"\n"+digest, claimed)
}

func (c *chain) link(toSign, claimed string) bool {
	want := hex.EncodeToString(hmacSHA256(c.key, toSign))
	if !hmac.Equal([]byte(want), []byte(claimed)) {
		return false
	}
	c.previous = claimed
	return true
}

// lineReader reads a body through a buffer of maxLine bytes, so that no
// line of framing can be longer.
type lineReader struct {
	buffer []byte
	start  int
	end    int
	source io.Reader
	err    error // from source, once the buffer is drained
}

func newLineReader(source io.Reader) *lineReader {
	return &lineReader{buffer: make([]byte, maxLine), source: source}
}

// fill reads more into the buffer, after moving what is left to its start.
func (l *lineReader) fill() {
	if l.err != nil {
		return
	}
	if l.start > 0 {
		l.end = copy(l.buffer, l.buffer[l.start:l.end])
		l.start = 0
	}
	n, err := l.source.Read(l.buffer[l.end:])
	l.end += n
	if err != nil {
		l.err = err
	}
}

// line returns the next line without its CRLF, or io.ErrUnexpectedEOF,
// or an *Error for a line longer than maxLine or ending in a bare LF.
func (l *lineReader) line() (string, error) {
	for scanned := 0; ; {
		if i := bytes.IndexByte(l.buffer[l.start+scanned:l.end], '\n'); i >= 0 {
			end := l.start + scanned + i
			line := l.buffer[l.start:end]
			l.start = end + 1
			if len(line) == 0 || line[len(line)-1] != '\r' {
				return "", newError("InvalidRequest", "aws-chunked framing has a line that does not end in CRLF")
			}
			return string(line[:len(line)-1]), nil
		}
		scanned = l.end - l.start
		if scanned == len(l.buffer) {
			return "", newError("InvalidRequest", "aws-chunked framing has a line longer than %d bytes", maxLine)
		}
		if l.err != nil {
			return "", l.sourceError()
		}
		l.fill()
	}
}

// Read reads data: first what the buffer holds, then from the source.
func (l *lineReader) Read(p []byte) (int, error) {
	for l.start == l.end {
		if l.err != nil {
			return 0, l.sourceError()
		}
		if len(p) < len(l.buffer) {
			l.fill()
			continue
		}
		// A large read bypasses the buffer, which is empty.
		n, err := l.source.Read(p)
		if err != nil {
			l.err = err
		}
		if n > 0 {
			return n, nil
		}
	}
	n := copy(p, l.buffer[l.start:l.end])
	l.start += n
	return n, nil
}

// sourceError is the error the source ended with; inside framing, its end
// is unexpected.
func (l *lineReader) sourceError() error {
	if l.err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return l.err
}

// atEnd reports whether the source has nothing after what was read.
func (l *lineReader) atEnd() (bool, error) {
	for l.start == l.end && l.err == nil {
		l.fill()
	}
	if l.start < l.end {
		return false, nil
	}
	if l.err == io.EOF {
		return true, nil
	}
	return false, l.err
}

// chunkReader decodes an aws-chunked body:
//
//	hex-size[;chunk-signature=sig]\r\n data \r\n ... 0[;chunk-signature=sig]\r\n [trailer lines\r\n] \r\n
type chunkReader struct {
	body      io.Closer
	source    *lineReader
	signed    bool       // chunk headers carry signatures
	trailer   bool       // trailer lines may follow the final chunk
	chain     *chain     // checks signatures; nil checks none
	checksums []checksum // promised by x-amz-trailer
	expected  int64      // x-amz-decoded-content-length, or -1

	decoded   int64     // bytes of payload returned so far
	remaining int64     // bytes of the current chunk still to read
	inChunk   bool      // a data chunk is open: its CRLF and check are due
	claimed   string    // signature of the current chunk
	chunkHash hash.Hash // of the current chunk, when checking signatures
	err       error     // sticky; io.EOF at the end
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	for c.remaining == 0 {
		if err := c.next(); err != nil {
			c.err = err
			return 0, err
		}
	}
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.source.Read(p)
	c.remaining -= int64(n)
	c.decoded += int64(n)
	if c.chunkHash != nil {
		c.chunkHash.Write(p[:n])
	}
	for _, sum := range c.checksums {
		sum.hash.Write(p[:n])
	}
	if err != nil {
		c.err = c.readError(err)
		return 0, c.err
	}
	if c.remaining == 0 {
		// The chunk's last bytes go out only once it is checked, and the
		// body's last once its end is: a reader streaming the body on
		// must not get all of a body that fails.
		if err := c.next(); err != nil {
			c.err = err
			if err == io.EOF {
				return n, io.EOF
			}
			return 0, err
		}
	}
	return n, nil
}

func (c *chunkReader) Close() error { return c.body.Close() }

// readError turns the end of the source inside the framing into
// IncompleteBody, and keeps the cause of any other failure.
func (c *chunkReader) readError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return newError("IncompleteBody", "The body ends inside aws-chunked framing after %d bytes of payload", c.decoded)
	}
	if _, ok := err.(*Error); ok {
		return err
	}
	return fmt.Errorf("sigv4: read aws-chunked body: %w", err)
}

// next closes the open chunk and starts the next one; it returns io.EOF
// once the final chunk and the trailer are read and checked.
func (c *chunkReader) next() error {
	if c.inChunk {
		line, err := c.source.line()
		if err != nil {
			return c.readError(err)
		}
		if line != "" {
			return newError("InvalidRequest", "aws-chunked chunk data is longer than its size")
		}
		c.inChunk = false
		if c.chain != nil && !c.chain.chunk(hex.EncodeToString(c.chunkHash.Sum(nil)), c.claimed) {
			return newError("SignatureDoesNotMatch", "The chunk signature of the aws-chunked chunk ending after %d bytes of payload does not match", c.decoded)
		}
	}
	line, err := c.source.line()
	if err != nil {
		return c.readError(err)
	}
	size, claimed, err := parseChunkHeader(line, c.signed)
	if err != nil {
		return err
	}
	if size == 0 {
		if c.chain != nil && !c.chain.chunk(emptyHash, claimed) {
			return newError("SignatureDoesNotMatch", "The chunk signature of the final aws-chunked chunk does not match")
		}
		return c.finish()
	}
	if c.expected >= 0 && c.decoded+size > c.expected {
		return newError("IncompleteBody", "The aws-chunked body is longer than its x-amz-decoded-content-length %d", c.expected)
	}
	c.remaining, c.inChunk, c.claimed = size, true, claimed
	if c.chunkHash != nil {
		c.chunkHash.Reset()
	}
	return nil
}

// parseChunkHeader reads "hex-size" or, signed,
// "hex-size;chunk-signature=sig".
func parseChunkHeader(line string, signed bool) (size int64, signature string, err error) {
	sizeText, extension, _ := strings.Cut(line, ";")
	if sizeText == "" {
		return 0, "", newError("InvalidRequest", "aws-chunked chunk header %s has no size", quote(line))
	}
	limit := int64(maxChunk)
	if !signed {
		limit = maxUnsignedChunk
	}
	for i := 0; i < len(sizeText); i++ {
		var digit byte
		switch c := sizeText[i]; {
		case '0' <= c && c <= '9':
			digit = c - '0'
		case 'a' <= c && c <= 'f':
			digit = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			digit = c - 'A' + 10
		default:
			return 0, "", newError("InvalidRequest", "aws-chunked chunk header %s has a size that is not hex", quote(line))
		}
		// Checked at each digit, so that the size cannot overflow.
		if size = size<<4 | int64(digit); size > limit {
			return 0, "", newError("InvalidRequest", "aws-chunked chunk header %s has a size over the limit of %d bytes", quote(line), limit)
		}
	}
	if !signed {
		return size, "", nil
	}
	signature, ok := strings.CutPrefix(extension, "chunk-signature=")
	if !ok || !isSignature(signature) {
		return 0, "", newError("InvalidRequest", "aws-chunked chunk header %s lacks a chunk-signature of 64 lowercase hex digits", quote(line))
	}
	return size, signature, nil
}

func isSignature(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// finish reads what follows the final chunk, checks the trailer, the
// length and the end of the body, and returns io.EOF if all is well.
func (c *chunkReader) finish() error {
	trailers, signature, err := c.readTrailer()
	if err != nil {
		return err
	}
	if end, err := c.source.atEnd(); err != nil {
		return c.readError(err)
	} else if !end {
		return newError("InvalidRequest", "The body has data after the end of its aws-chunked payload")
	}
	if c.expected >= 0 && c.decoded != c.expected {
		return newError("IncompleteBody", "The aws-chunked body has %d bytes of payload; x-amz-decoded-content-length says %d", c.decoded, c.expected)
	}
	if c.signed && c.trailer {
		if signature == "" {
			return newError("MalformedTrailerError", "The trailer lacks x-amz-trailer-signature")
		}
		if !isSignature(signature) {
			return newError("MalformedTrailerError", "x-amz-trailer-signature is not 64 lowercase hex digits")
		}
		if c.chain != nil && !c.chain.trailer(canonicalTrailer(trailers), signature) {
			return newError("SignatureDoesNotMatch", "x-amz-trailer-signature does not match the trailer")
		}
	} else if signature != "" {
		return newError("MalformedTrailerError", "The trailer has x-amz-trailer-signature, but the payload is not %s", streamingSignedTrailer)
	}
	for _, p := range trailers {
		if !slices.ContainsFunc(c.checksums, func(s checksum) bool { return s.name == p.key }) {
			return newError("MalformedTrailerError", "The trailer has %s, which x-amz-trailer does not name", quote(p.key))
		}
	}
	for _, sum := range c.checksums {
		i := slices.IndexFunc(trailers, func(p param) bool { return p.key == sum.name })
		if i < 0 {
			return newError("MalformedTrailerError", "x-amz-trailer names %s, which the trailer lacks", sum.name)
		}
		claimed, err := base64.StdEncoding.DecodeString(trailers[i].value)
		if err != nil {
			return newError("MalformedTrailerError", "The trailer %s is not base64", sum.name)
		}
		if computed := sum.hash.Sum(nil); !bytes.Equal(claimed, computed) {
			return newError("BadDigest", "The %s you specified did not match the calculated checksum %s", sum.name, base64.StdEncoding.EncodeToString(computed))
		}
	}
	return io.EOF
}

// readTrailer reads the lines after the final chunk up to the empty one.
func (c *chunkReader) readTrailer() (trailers []param, signature string, err error) {
	for {
		line, err := c.source.line()
		if err != nil {
			return nil, "", c.readError(err)
		}
		if line == "" {
			return trailers, signature, nil
		}
		if !c.trailer {
			return nil, "", newError("InvalidRequest", "The final aws-chunked chunk is followed by a trailer, but the payload is %s", streamingSigned)
		}
		if len(trailers) == maxTrailerLines {
			return nil, "", newError("MalformedTrailerError", "The trailer has more than %d lines", maxTrailerLines)
		}
		name, value, ok := strings.Cut(line, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" {
			return nil, "", newError("MalformedTrailerError", "The trailer line %s is not name:value", quote(line))
		}
		value = strings.TrimSpace(value)
		if name == "x-amz-trailer-signature" {
			if signature != "" {
				return nil, "", newError("MalformedTrailerError", "The trailer has x-amz-trailer-signature twice")
			}
			signature = value
			continue
		}
		if slices.ContainsFunc(trailers, func(p param) bool { return p.key == name }) {
			return nil, "", newError("MalformedTrailerError", "The trailer has %s twice", quote(name))
		}
		trailers = append(trailers, param{name, value})
	}
}

// canonicalTrailer hashes the trailer as signed: "name:value\n" for each
// line but the signature, sorted by name.
func canonicalTrailer(trailers []param) string {
	sorted := slices.Clone(trailers)
	slices.SortFunc(sorted, func(a, b param) int { return strings.Compare(a.key, b.key) })
	var b strings.Builder
	for _, p := range sorted {
		b.WriteString(p.key + ":" + p.value + "\n")
	}
	return hashHex([]byte(b.String()))
}

// awsChunked reports a Content-Encoding that names aws-chunked.
func awsChunked(encoding string) bool {
	for part := range strings.SplitSeq(encoding, ",") {
		if strings.EqualFold(strings.TrimSpace(part), "aws-chunked") {
			return true
		}
	}
	return false
}
