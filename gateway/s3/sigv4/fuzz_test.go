package sigv4_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aisgo/aisgo/gateway/s3/sigv4"
)

// fuzzModes are the ways a fuzzed body is read: x-amz-content-sha256 and
// x-amz-trailer, and whether Verify checks the signatures.
var fuzzModes = []struct {
	payload string
	trailer string
	verify  bool
}{
	{"STREAMING-UNSIGNED-PAYLOAD-TRAILER", "x-amz-checksum-crc32c", false},
	{"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "", false},
	{"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", "x-amz-checksum-sha256", false},
	{"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "", true},
	{"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", "x-amz-checksum-sha256", true},
}

// fuzzData is what the seeds of the verified modes carry, signed.
var fuzzData = []byte("the quick brown fox jumps over the lazy dog")

// FuzzChunkedDecoder: any body, in any mode, decodes to at most its own
// length without panic, and fails with an *sigv4.Error or a clean EOF.
// A body that passes the signature check carries exactly the signed data.
func FuzzChunkedDecoder(f *testing.F) {
	type signedRequest struct {
		request *http.Request
		seed    string
	}
	signed := make([]signedRequest, len(fuzzModes))
	for i, mode := range fuzzModes {
		if !mode.verify {
			continue
		}
		var header http.Header
		if mode.trailer != "" {
			header = http.Header{"X-Amz-Trailer": {mode.trailer}}
		}
		r, seed := signedStream(f, mode.payload, -1, header)
		signed[i] = signedRequest{r, seed}
		var trailer []string
		if mode.trailer != "" {
			trailer = []string{sha256Trailer(fuzzData)}
		}
		f.Add(uint8(i), frame(fuzzData, 10, newTestChain(secretKey, seed), trailer))
	}
	for i := range fuzzModes {
		f.Add(uint8(i), []byte("5\r\nhello\r\n0\r\n\r\n"))
		f.Add(uint8(i), frame([]byte("hello"), 2, nil, []string{crcTrailer("hello")}))
		f.Add(uint8(i), frame([]byte("hello"), 2, newTestChain("x", ""), nil))
	}
	f.Add(uint8(0), []byte("fffffffffffffffff\r\n"))
	f.Fuzz(func(t *testing.T, modeIndex uint8, body []byte) {
		index := int(modeIndex) % len(fuzzModes)
		mode := fuzzModes[index]
		var (
			decoded io.Reader
			err     error
		)
		if mode.verify {
			r := signed[index].request.Clone(t.Context())
			withBody(r, body)
			if _, err = sigv4.Verify(r, keys, signTime); err != nil {
				t.Fatal(err) // the headers were signed well; only the body is fuzzed
			}
			decoded = r.Body
		} else {
			r := httptest.NewRequest(http.MethodPut, "http://example.com/b/o", bytes.NewReader(body))
			r.Header.Set("X-Amz-Content-Sha256", mode.payload)
			if mode.trailer != "" {
				r.Header.Set("X-Amz-Trailer", mode.trailer)
			}
			if decoded, _, err = sigv4.DecodeBody(r); err != nil {
				t.Fatal(err)
			}
		}
		// Read past what the body could hold, to see that it stops.
		got, err := io.ReadAll(io.LimitReader(decoded, int64(len(body))+1))
		if len(got) > len(body) {
			t.Fatalf("decoded %d bytes from a body of %d", len(got), len(body))
		}
		if err != nil {
			if _, ok := errors.AsType[*sigv4.Error](err); !ok {
				t.Fatalf("error %v is not an *sigv4.Error", err)
			}
			return
		}
		if mode.verify && !bytes.Equal(got, fuzzData) {
			t.Fatalf("verified %q, but %q was signed", got, fuzzData)
		}
	})
}

// FuzzChunkedRoundTrip: data framed as a client frames it decodes to the
// same data, in every chunk size.
func FuzzChunkedRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), uint16(1), false)
	f.Add([]byte{}, uint16(0), true)
	f.Add(bytes.Repeat([]byte("0123456789"), 1000), uint16(4096), true)
	f.Fuzz(func(t *testing.T, data []byte, size uint16, signed bool) {
		chunkSize := int(size) + 1
		payload, trailer := "STREAMING-UNSIGNED-PAYLOAD-TRAILER", []string{sha256Trailer(data)}
		var chain *testChain
		if signed {
			payload, trailer, chain = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", nil, newTestChain("any", "")
		}
		r := httptest.NewRequest(http.MethodPut, "http://example.com/b/o", bytes.NewReader(frame(data, chunkSize, chain, trailer)))
		r.Header.Set("X-Amz-Content-Sha256", payload)
		r.Header.Set("X-Amz-Trailer", "x-amz-checksum-sha256")
		body, _, err := sigv4.DecodeBody(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(body)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("decoded %d bytes %v, want %d", len(got), err, len(data))
		}
	})
}
