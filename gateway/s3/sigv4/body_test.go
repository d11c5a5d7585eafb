package sigv4_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aisgo/aisgo/gateway/s3/sigv4"
)

// A body checked against its x-amz-checksum header holds back its last
// byte until the sum is checked, yet every read of one byte gets a byte:
// a LimitReader's last byte and a size cap's one-byte probe once spun for
// ever on an answer of no bytes.
func TestCheckedBodyAnswersOneByteReads(t *testing.T) {
	body := strings.Repeat("0123456789", 7)
	sum := sha256.Sum256([]byte(body))
	request := func(checksum string) io.Reader {
		r := httptest.NewRequest("PUT", "/b/k", strings.NewReader(body))
		r.Header.Set("x-amz-checksum-sha256", checksum)
		if err := sigv4.CheckHeaderChecksums(r); err != nil {
			t.Fatal(err)
		}
		return r.Body
	}
	good := base64.StdEncoding.EncodeToString(sum[:])
	within := func(what string, f func()) {
		t.Helper()
		done := make(chan struct{})
		go func() { defer close(done); f() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no answer (a read loop that never ends)", what)
		}
	}
	within("one byte at a time", func() {
		got, err := io.ReadAll(iotest.OneByteReader(request(good)))
		if err != nil || string(got) != body {
			t.Errorf("one byte at a time: %d bytes, %v", len(got), err)
		}
	})
	within("a limit short of the body", func() {
		got, err := io.ReadAll(io.LimitReader(request(good), int64(len(body)-5)))
		if err != nil || string(got) != body[:len(body)-5] {
			t.Errorf("a limit short of the body: %d bytes, %v", len(got), err)
		}
	})
	within("a probe past a limit", func() {
		r := request(good)
		if _, err := io.ReadFull(r, make([]byte, 10)); err != nil {
			t.Error(err)
		}
		var probe [1]byte
		if n, err := r.Read(probe[:]); n != 1 || err != nil || probe[0] != body[10] {
			t.Errorf("a one-byte probe: %d bytes %q, %v", n, probe[:n], err)
		}
	})
	wrong := base64.StdEncoding.EncodeToString(make([]byte, sha256.Size))
	within("a wrong sum", func() {
		got, err := io.ReadAll(iotest.OneByteReader(request(wrong)))
		if err == nil || len(got) >= len(body) || !bytes.Equal(got, []byte(body[:len(got)])) {
			t.Errorf("a body whose sum is wrong: %d of %d bytes, %v", len(got), len(body), err)
		}
		var e *sigv4.Error
		if !errors.As(err, &e) || e.Code != "BadDigest" {
			t.Errorf("a body whose sum is wrong: %v, want BadDigest", err)
		}
	})
}

// What checks a body as it is read, as the decoder set it up: its hash,
// its signed chunks (with keys), a trailer in a trailer mode named by a
// header; not a trailer named in the query (copied to the headers after
// the body was decoded), nor one outside a trailer mode, nor none.
func TestPayloadChecked(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		url     string
		headers map[string]string
		signed  bool
		want    bool
	}{
		{"/b?delete", map[string]string{"X-Amz-Content-Sha256": hash}, false, true},
		{"/b?delete", map[string]string{"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}, true, false},
		{"/b?delete", nil, true, false},
		{"/b?delete", map[string]string{"X-Amz-Content-Sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}, true, true},
		{"/b?delete", map[string]string{"X-Amz-Content-Sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}, false, false},
		{"/b?delete", map[string]string{"X-Amz-Content-Sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "X-Amz-Trailer": "x-amz-checksum-crc32"}, false, true},
		{"/b?delete", map[string]string{"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD", "X-Amz-Trailer": "x-amz-checksum-crc32"}, false, false},
		{"/b?delete&x-amz-trailer=x-amz-checksum-crc32", map[string]string{"X-Amz-Content-Sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "X-Amz-Trailer": "x-amz-checksum-crc32"}, true, false},
		{"/b?delete&X-Amz-Signature=s&X-Amz-Content-Sha256=" + hash, nil, true, true},
		{"/b?delete&X-Amz-Signature=s&X-Amz-Content-Sha256=" + hash, nil, false, false},
	} {
		r := httptest.NewRequest("POST", tc.url, nil)
		for k, v := range tc.headers {
			r.Header.Set(k, v)
		}
		if got := sigv4.PayloadChecked(r, tc.signed); got != tc.want {
			t.Errorf("%s %v, signed %v: checked %v, want %v", tc.url, tc.headers, tc.signed, got, tc.want)
		}
	}
}
