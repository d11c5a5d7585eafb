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
