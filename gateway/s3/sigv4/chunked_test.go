package sigv4_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/gateway/s3/sigv4"
)

// testChain signs aws-chunked chunks as a client does. It is written from
// the spec apart from the package, so that the two check each other.
type testChain struct {
	key       []byte
	timestamp string
	scope     string
	previous  string
}

func mac(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func newTestChain(secret, seed string) *testChain {
	date := signTime.Format("20060102")
	key := mac([]byte("AWS4"+secret), date)
	key = mac(key, region)
	key = mac(key, "s3")
	key = mac(key, "aws4_request")
	return &testChain{key: key, timestamp: signTime.Format("20060102T150405Z"), scope: date + "/" + region + "/s3/aws4_request", previous: seed}
}

// sign returns the signature of the next link, kind being
// AWS4-HMAC-SHA256-PAYLOAD or AWS4-HMAC-SHA256-TRAILER.
func (c *testChain) sign(kind string, hashes ...string) string {
	lines := append([]string{kind, c.timestamp, c.scope, c.previous}, hashes...)
	c.previous = hex.EncodeToString(mac(c.key, strings.Join(lines, "\n")))
	return c.previous
}

// frame encodes data as aws-chunked in chunks of size bytes. A chain
// signs the chunks; trailer lines ("name:value"), when not nil, follow
// the final chunk, and are signed too when chain is.
func frame(data []byte, size int, chain *testChain, trailer []string) []byte {
	var b bytes.Buffer
	chunk := func(data []byte) {
		fmt.Fprintf(&b, "%x", len(data))
		if chain != nil {
			fmt.Fprintf(&b, ";chunk-signature=%s", chain.sign("AWS4-HMAC-SHA256-PAYLOAD", emptySHA256, sha256Hex(string(data))))
		}
		b.WriteString("\r\n")
		if len(data) > 0 {
			b.Write(data)
			b.WriteString("\r\n")
		}
	}
	for len(data) > 0 {
		n := min(size, len(data))
		chunk(data[:n])
		data = data[n:]
	}
	chunk(nil)
	if trailer != nil {
		for _, line := range trailer {
			b.WriteString(line + "\r\n")
		}
		if chain != nil {
			sorted := slices.Sorted(slices.Values(trailer))
			canonical := strings.Join(sorted, "\n") + "\n"
			if len(sorted) == 0 {
				canonical = ""
			}
			b.WriteString("x-amz-trailer-signature:" + chain.sign("AWS4-HMAC-SHA256-TRAILER", sha256Hex(canonical)) + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// signedStream signs a PUT whose body will be aws-chunked, and returns it
// with its signature, the seed of the chunks' chain.
func signedStream(t testing.TB, payload string, decodedLength int, header http.Header) (*http.Request, string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPut, "http://example.com/bucket/stream", nil)
	r.Header.Set("Content-Encoding", "aws-chunked")
	if decodedLength >= 0 {
		r.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(decodedLength))
	}
	for name, values := range header {
		r.Header[name] = values
	}
	sign(t, r, payload, good, "s3")
	authorization := r.Header.Get("Authorization")
	return r, authorization[strings.LastIndex(authorization, "Signature=")+len("Signature="):]
}

func withBody(r *http.Request, body []byte) *http.Request {
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return r
}

func randomData(size int) []byte {
	data := make([]byte, size)
	random := rand.New(rand.NewPCG(uint64(size), 7))
	for i := range data {
		data[i] = byte(random.Uint32())
	}
	return data
}

func checksumValue(sum []byte) string { return base64.StdEncoding.EncodeToString(sum) }

func sha256Trailer(data []byte) string {
	sum := sha256.Sum256(data)
	return "x-amz-checksum-sha256:" + checksumValue(sum[:])
}

func TestSignedChunks(t *testing.T) {
	const (
		signed        = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
		signedTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	)
	data := randomData(200_000)
	trailerHeader := http.Header{"X-Amz-Trailer": {"x-amz-checksum-sha256"}}
	tests := []struct {
		name    string
		payload string
		data    []byte
		length  int // x-amz-decoded-content-length, -1 for none; signed
		header  http.Header
		// body frames the data with the chain seeded by the request's
		// signature; nil frames it well in chunks of 64 KiB.
		body    func(data []byte, chain *testChain) []byte
		code    string
		message string
	}{
		{name: "several chunks", payload: signed, data: data},
		{name: "no length declared", payload: signed, data: data, length: -1},
		{name: "one-byte chunks", payload: signed, data: data[:100], body: func(data []byte, chain *testChain) []byte { return frame(data, 1, chain, nil) }},
		{name: "empty", payload: signed, data: nil},
		{name: "flipped data byte", payload: signed, data: data, body: func(data []byte, chain *testChain) []byte {
			body := frame(data, 64<<10, chain, nil)
			body[bytes.Index(body, data[70000:70010])] ^= 1
			return body
		}, code: "SignatureDoesNotMatch", message: "chunk signature"},
		{name: "flipped signature", payload: signed, data: data, body: func(data []byte, chain *testChain) []byte {
			body := frame(data, 64<<10, chain, nil)
			i := bytes.Index(body, []byte("chunk-signature=")) + len("chunk-signature=")
			body[i] = otherHex(body[i])
			return body
		}, code: "SignatureDoesNotMatch"},
		{name: "chain from another seed", payload: signed, data: data, body: func(data []byte, chain *testChain) []byte {
			chain.previous = strings.Repeat("0", 64)
			return frame(data, 64<<10, chain, nil)
		}, code: "SignatureDoesNotMatch"},
		{name: "chunks reordered", payload: signed, data: data, body: func(data []byte, chain *testChain) []byte {
			first := frame(data[:64<<10], 64<<10, chain, nil)
			first = first[:bytes.LastIndex(first, []byte("0;chunk-signature"))] // drop its final chunk
			rest := frame(data[64<<10:], 64<<10, chain, nil)
			return append(rest, first...)
		}, code: "SignatureDoesNotMatch"},
		{name: "unsigned chunks", payload: signed, data: data, body: func(data []byte, _ *testChain) []byte { return frame(data, 64<<10, nil, nil) }, code: "InvalidRequest", message: "chunk-signature"},
		{name: "truncated", payload: signed, data: data, body: func(data []byte, chain *testChain) []byte { return frame(data, 64<<10, chain, nil)[:100_000] }, code: "IncompleteBody"},
		// A signed chunk's data goes on before its signature is checked:
		// its size is bounded (an unsigned one's is not, see the framing).
		{name: "signed chunk over the limit", payload: signed, data: data, body: func(data []byte, _ *testChain) []byte {
			return []byte("4000001;chunk-signature=" + strings.Repeat("0", 64) + "\r\n")
		}, code: "InvalidRequest", message: "limit"},
		{name: "data after the end", payload: signed, data: data, body: func(data []byte, chain *testChain) []byte { return append(frame(data, 64<<10, chain, nil), 'x') }, code: "InvalidRequest", message: "after the end"},
		{name: "shorter than declared", payload: signed, data: data, length: len(data) + 1, code: "IncompleteBody", message: "x-amz-decoded-content-length"},
		{name: "longer than declared", payload: signed, data: data, length: len(data) - 1, code: "IncompleteBody", message: "longer than"},
		{name: "trailer where none is due", payload: signed, data: data, body: func(data []byte, chain *testChain) []byte {
			return frame(data, 64<<10, chain, []string{sha256Trailer(data)})
		}, code: "InvalidRequest", message: "trailer"},
		{name: "signed trailer", payload: signedTrailer, data: data, header: trailerHeader, body: func(data []byte, chain *testChain) []byte {
			return frame(data, 64<<10, chain, []string{sha256Trailer(data)})
		}},
		{name: "signed trailer, empty payload", payload: signedTrailer, data: nil, header: trailerHeader, body: func(data []byte, chain *testChain) []byte {
			return frame(data, 64<<10, chain, []string{sha256Trailer(data)})
		}},
		{name: "signed trailer, wrong checksum", payload: signedTrailer, data: data, header: trailerHeader, body: func(data []byte, chain *testChain) []byte {
			return frame(data, 64<<10, chain, []string{sha256Trailer(data[1:])})
		}, code: "BadDigest", message: "x-amz-checksum-sha256"},
		{name: "signed trailer, tampered", payload: signedTrailer, data: data, header: trailerHeader, body: func(data []byte, chain *testChain) []byte {
			body := frame(data, 64<<10, chain, []string{sha256Trailer(data[1:])})
			return bytes.Replace(body, []byte(sha256Trailer(data[1:])), []byte(sha256Trailer(data)), 1)
		}, code: "SignatureDoesNotMatch", message: "x-amz-trailer-signature"},
		{name: "signed trailer, unsigned", payload: signedTrailer, data: data, header: trailerHeader, body: func(data []byte, chain *testChain) []byte {
			body := frame(data, 64<<10, chain, []string{sha256Trailer(data)})
			i := bytes.Index(body, []byte("x-amz-trailer-signature"))
			return append(body[:i:i], "\r\n"...)
		}, code: "MalformedTrailerError", message: "x-amz-trailer-signature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			length := len(tc.data)
			if tc.length != 0 {
				length = tc.length
			}
			r, seed := signedStream(t, tc.payload, length, tc.header)
			chain := newTestChain(secretKey, seed)
			var body []byte
			if tc.body != nil {
				body = tc.body(tc.data, chain)
			} else {
				body = frame(tc.data, 64<<10, chain, nil)
			}
			withBody(r, body)
			if _, err := sigv4.Verify(r, keys, signTime); err != nil {
				t.Fatal(err)
			}
			if r.ContentLength != int64(length) {
				t.Fatalf("ContentLength %d, want %d", r.ContentLength, length)
			}
			got, err := io.ReadAll(r.Body)
			if tc.code != "" {
				checkCode(t, err, tc.code, tc.message)
				// Never the whole payload of a body that fails: a reader
				// streaming it on to where it is stored would store it.
				if len(got) >= len(tc.data) && len(tc.data) > 0 {
					t.Fatalf("read all %d bytes of a body that fails", len(got))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.data) {
				t.Fatalf("decoded %d bytes, want %d", len(got), len(tc.data))
			}
		})
	}
}

// trailerChecks are the checksums a trailer may carry, computed apart
// from the package, with the check value of CRC-64/NVME for "123456789".
var trailerChecks = []struct {
	name string
	sum  func(data []byte) []byte
}{
	{"x-amz-checksum-crc32", func(data []byte) []byte { return binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(data)) }},
	{"x-amz-checksum-crc32c", func(data []byte) []byte {
		return binary.BigEndian.AppendUint32(nil, crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
	}},
	{"x-amz-checksum-sha1", func(data []byte) []byte { sum := sha1.Sum(data); return sum[:] }},
	{"x-amz-checksum-sha256", func(data []byte) []byte { sum := sha256.Sum256(data); return sum[:] }},
}

func unsignedTrailerRequest(name string, length int, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPut, "http://example.com/bucket/object", bytes.NewReader(body))
	r.Header.Set("X-Amz-Content-Sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
	r.Header.Set("Content-Encoding", "aws-chunked")
	if name != "" {
		r.Header.Set("X-Amz-Trailer", name)
	}
	if length >= 0 {
		r.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(length))
	}
	return r
}

// An aws-chunked body with no x-amz-content-sha256 (an unsigned request:
// boto3's trailing checksum over TLS), or named UNSIGNED-PAYLOAD, is read
// without its framing, and its trailer checked.
func TestAWSChunkedWithoutAStreamingPayload(t *testing.T) {
	data := randomData(20_000)
	check := trailerChecks[0]
	for _, payload := range []string{"", "UNSIGNED-PAYLOAD"} {
		r := unsignedTrailerRequest(check.name, len(data), frame(data, 8<<10, nil, []string{check.name + ":" + checksumValue(check.sum(data))}))
		if payload == "" {
			r.Header.Del("X-Amz-Content-Sha256")
		} else {
			r.Header.Set("X-Amz-Content-Sha256", payload)
		}
		body, length, err := sigv4.DecodeBody(r)
		if err != nil || length != int64(len(data)) {
			t.Fatalf("x-amz-content-sha256 %q: %d %v", payload, length, err)
		}
		if got, err := io.ReadAll(body); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("x-amz-content-sha256 %q: %d bytes read, %v; want the %d bytes without their framing", payload, len(got), err, len(data))
		}
	}
	// A hash of the payload names no framing: refused, not stored framed.
	framed := frame(data, 8<<10, nil, nil)
	r := unsignedTrailerRequest("", len(data), framed)
	sum := sha256.Sum256(framed)
	r.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	_, _, err := sigv4.DecodeBody(r)
	checkCode(t, err, "InvalidArgument", "STREAMING")
}

func TestUnsignedTrailer(t *testing.T) {
	data := randomData(100_000)
	for _, check := range trailerChecks {
		t.Run(check.name, func(t *testing.T) {
			trailer := []string{check.name + ":" + checksumValue(check.sum(data))}
			body, length, err := sigv4.DecodeBody(unsignedTrailerRequest(check.name, len(data), frame(data, 8<<10, nil, trailer)))
			if err != nil || length != int64(len(data)) {
				t.Fatal(length, err)
			}
			if got, err := io.ReadAll(body); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%d bytes %v", len(got), err)
			}
			trailer = []string{check.name + ":" + checksumValue(check.sum(data[:1]))}
			body, _, _ = sigv4.DecodeBody(unsignedTrailerRequest(check.name, len(data), frame(data, 8<<10, nil, trailer)))
			_, err = io.ReadAll(body)
			checkCode(t, err, "BadDigest", check.name)
		})
	}
	t.Run("crc64nvme", func(t *testing.T) {
		data := []byte("123456789")
		trailer := []string{"x-amz-checksum-crc64nvme:" + checksumValue(binary.BigEndian.AppendUint64(nil, 0xae8b14860a799888))}
		body, _, err := sigv4.DecodeBody(unsignedTrailerRequest("x-amz-checksum-crc64nvme", len(data), frame(data, 4, nil, trailer)))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(body); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%q %v", got, err)
		}
	})
	t.Run("through Verify", func(t *testing.T) {
		r, _ := signedStream(t, "STREAMING-UNSIGNED-PAYLOAD-TRAILER", len(data), http.Header{"X-Amz-Trailer": {"x-amz-checksum-sha256"}})
		withBody(r, frame(data, 8<<10, nil, []string{sha256Trailer(data)}))
		if _, err := sigv4.Verify(r, keys, signTime); err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(r.Body); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%d bytes %v", len(got), err)
		}
	})
}

// TestDecodeBody: without keys, framing is stripped and chunk signatures
// are not checked, but everything that needs no key is.
func TestDecodeBody(t *testing.T) {
	data := []byte("hello, aws-chunked world")
	bogus := newTestChain("not the secret", strings.Repeat("0", 64))
	crc := "x-amz-checksum-crc32:" + checksumValue(trailerChecks[0].sum(data))
	tests := []struct {
		name    string
		header  http.Header
		body    []byte
		want    string
		length  int64
		code    string
		message string
	}{
		{name: "plain", header: http.Header{}, body: data, want: string(data), length: int64(len(data))},
		{name: "unsigned payload", header: http.Header{"X-Amz-Content-Sha256": {"UNSIGNED-PAYLOAD"}}, body: data, want: string(data), length: int64(len(data))},
		{name: "hashed", header: http.Header{"X-Amz-Content-Sha256": {sha256Hex(string(data))}}, body: data, want: string(data), length: int64(len(data))},
		{name: "hash mismatch", header: http.Header{"X-Amz-Content-Sha256": {sha256Hex("other")}}, body: data, code: "XAmzContentSHA256Mismatch"},
		{name: "bad hash", header: http.Header{"X-Amz-Content-Sha256": {"abc"}}, body: data, code: "InvalidArgument"},
		{name: "SigV4A stream", header: http.Header{"X-Amz-Content-Sha256": {"STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"}}, body: data, code: "NotImplemented"},
		{
			name:   "signed stream, signatures unchecked",
			header: http.Header{"X-Amz-Content-Sha256": {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}},
			body:   frame(data, 5, bogus, nil),
			want:   string(data),
			length: -1,
		},
		{
			name:   "signed trailer, signatures unchecked",
			header: http.Header{"X-Amz-Content-Sha256": {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"}, "X-Amz-Trailer": {"x-amz-checksum-crc32"}, "X-Amz-Decoded-Content-Length": {strconv.Itoa(len(data))}},
			body:   frame(data, 7, bogus, []string{crc}),
			want:   string(data),
			length: int64(len(data)),
		},
		{
			name:    "signed trailer, checksum still checked",
			header:  http.Header{"X-Amz-Content-Sha256": {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"}, "X-Amz-Trailer": {"x-amz-checksum-crc32"}},
			body:    frame(data[1:], 7, bogus, []string{crc}),
			code:    "BadDigest",
			message: "x-amz-checksum-crc32",
		},
	}
	for _, vector := range framingVectors {
		if vector.header == nil {
			vector.header = http.Header{"X-Amz-Content-Sha256": {"STREAMING-UNSIGNED-PAYLOAD-TRAILER"}, "X-Amz-Trailer": {"x-amz-checksum-crc32"}}
		}
		tests = append(tests, vector)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPut, "http://example.com/bucket/object", bytes.NewReader(tc.body))
			for name, values := range tc.header {
				r.Header[name] = values
			}
			body, length, err := sigv4.DecodeBody(r)
			var got []byte
			if err == nil {
				got, err = io.ReadAll(body)
			}
			if tc.code != "" {
				checkCode(t, err, tc.code, tc.message)
				return
			}
			if err != nil || string(got) != tc.want || length != tc.length {
				t.Fatalf("%q %d %v, want %q %d", got, length, err, tc.want, tc.length)
			}
		})
	}
}

// framingVectors are malformed aws-chunked bodies, unsigned with a CRC32
// trailer unless they say otherwise.
var framingVectors = []struct {
	name    string
	header  http.Header
	body    []byte
	want    string
	length  int64
	code    string
	message string
}{
	{name: "well formed", body: []byte("5\r\nhello\r\n0\r\n" + crcTrailer("hello") + "\r\n\r\n"), want: "hello", length: -1},
	{name: "uppercase hex and leading zeros", body: []byte("000A\r\nhellohello\r\n0\r\n" + crcTrailer("hellohello") + "\r\n\r\n"), want: "hellohello", length: -1},
	{name: "chunk extension ignored", body: []byte("5;name=value\r\nhello\r\n0\r\n" + crcTrailer("hello") + "\r\n\r\n"), want: "hello", length: -1},
	{name: "chunk over the limit", body: []byte("140000001\r\n"), code: "InvalidRequest", message: "limit"},
	// An unsigned chunk of 100 MiB (what the SDK sends over HTTPS for a
	// PUT of 100 MiB) is taken: this one is cut short.
	{name: "chunk of 100 MiB", body: []byte("6400000\r\nhello"), code: "IncompleteBody"},
	{name: "size overflow", body: []byte("fffffffffffffffffffff\r\n"), code: "InvalidRequest", message: "limit"},
	{name: "size not hex", body: []byte("5x\r\nhello\r\n"), code: "InvalidRequest", message: "not hex"},
	{name: "no size", body: []byte(";chunk-signature=00\r\n"), code: "InvalidRequest", message: "no size"},
	{name: "line too long", body: []byte("5;" + strings.Repeat("a", 5000) + "\r\nhello\r\n"), code: "InvalidRequest", message: "longer than"},
	{name: "bare LF", body: []byte("5\nhello\r\n0\r\n\r\n"), code: "InvalidRequest", message: "CRLF"},
	{name: "data longer than its size", body: []byte("5\r\nhello!\r\n0\r\n\r\n"), code: "InvalidRequest", message: "longer than its size"},
	{name: "truncated in data", body: []byte("5\r\nhel"), code: "IncompleteBody"},
	{name: "truncated in header", body: []byte("5"), code: "IncompleteBody"},
	{name: "empty body", body: nil, code: "IncompleteBody"},
	{name: "no final chunk", body: []byte("5\r\nhello\r\n"), code: "IncompleteBody"},
	{name: "no end of trailer", body: []byte("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n"), code: "IncompleteBody"},
	{name: "trailer missing", body: []byte("5\r\nhello\r\n0\r\n\r\n"), code: "MalformedTrailerError", message: "lacks"},
	{name: "trailer not declared", body: []byte("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\nx-amz-checksum-sha1:qvTGHdzF6KLavt4PO0gs2a6pQ00=\r\n\r\n"), code: "MalformedTrailerError", message: "does not name"},
	{name: "trailer repeated", body: []byte("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n"), code: "MalformedTrailerError", message: "twice"},
	{name: "trailer not base64", body: []byte("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:%%%\r\n\r\n"), code: "MalformedTrailerError", message: "base64"},
	{name: "trailer without colon", body: []byte("5\r\nhello\r\n0\r\nx-amz-checksum-crc32\r\n\r\n"), code: "MalformedTrailerError"},
	{name: "too many trailer lines", body: []byte("0\r\n" + manyTrailerLines(17) + "\r\n"), code: "MalformedTrailerError", message: "more than"},
	{name: "trailer signature when unsigned", body: []byte("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\nx-amz-trailer-signature:00\r\n\r\n"), code: "MalformedTrailerError", message: "x-amz-trailer-signature"},
	{
		name:    "unknown trailer declared",
		header:  http.Header{"X-Amz-Content-Sha256": {"STREAMING-UNSIGNED-PAYLOAD-TRAILER"}, "X-Amz-Trailer": {"x-amz-checksum-md5"}},
		body:    []byte("0\r\n\r\n"),
		code:    "InvalidArgument",
		message: "x-amz-checksum-md5",
	},
	{
		name:    "bad decoded length",
		header:  http.Header{"X-Amz-Content-Sha256": {"STREAMING-UNSIGNED-PAYLOAD-TRAILER"}, "X-Amz-Decoded-Content-Length": {"-1"}},
		body:    []byte("0\r\n\r\n"),
		code:    "InvalidArgument",
		message: "x-amz-decoded-content-length",
	},
	{
		name:    "signed chunk without signature",
		header:  http.Header{"X-Amz-Content-Sha256": {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}},
		body:    []byte("5\r\nhello\r\n0\r\n\r\n"),
		code:    "InvalidRequest",
		message: "chunk-signature",
	},
}

func crcTrailer(data string) string {
	return "x-amz-checksum-crc32:" + checksumValue(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE([]byte(data))))
}

func otherHex(c byte) byte {
	if c == '0' {
		return '1'
	}
	return '0'
}

func manyTrailerLines(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "x-amz-meta-%d:v\r\n", i)
	}
	return b.String()
}

// TestDecodeBodyKeepsRequest: DecodeBody returns a reader and leaves r as
// it was; Verify is the one that rewrites r.
func TestDecodeBodyKeepsRequest(t *testing.T) {
	framed := []byte("5\r\nhello\r\n0\r\n\r\n")
	r := httptest.NewRequest(http.MethodPut, "http://example.com/b/o", bytes.NewReader(framed))
	r.Header.Set("X-Amz-Content-Sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
	before := r.Body
	if _, _, err := sigv4.DecodeBody(r); err != nil {
		t.Fatal(err)
	}
	if r.Body != before || r.ContentLength != int64(len(framed)) {
		t.Fatal("DecodeBody changed the request")
	}
}

// TestSlowBody: a body that arrives a byte at a time decodes the same.
func TestSlowBody(t *testing.T) {
	data := randomData(10_000)
	r, seed := signedStream(t, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", len(data), nil)
	r.Body = io.NopCloser(oneByteReader{bytes.NewReader(frame(data, 4096, newTestChain(secretKey, seed), nil))})
	if _, err := sigv4.Verify(r, keys, signTime.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r.Body)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("%d bytes %v", len(got), err)
	}
}

type oneByteReader struct{ reader io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.reader.Read(p[:1])
}
