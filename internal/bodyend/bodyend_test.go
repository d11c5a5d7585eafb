package bodyend_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/internal/bodyend"
)

// Only an HTTP/1 body with neither a length nor chunks is close-delimited;
// its end is checked once, with every byte counted, and a failed check
// stays the body's error.
func TestCloseDelimitedEndIsChecked(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/length":
			io.WriteString(w, "data")
		case "/chunked":
			io.WriteString(w, "da")
			w.(http.Flusher).Flush()
			io.WriteString(w, "ta")
		default:
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			fmt.Fprint(buf, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\ndata")
			buf.Flush()
		}
	}))
	defer srv.Close()
	for path, want := range map[string]bool{"/length": false, "/chunked": false, "/closed": true} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		if got := bodyend.CloseDelimited(resp); got != want {
			t.Errorf("%s: close-delimited %v, want %v", path, got, want)
		}
		resp.Body.Close()
	}
	short := errors.New("short")
	for _, fail := range []bool{false, true} {
		var checks []int64
		body := bodyend.Checked(io.NopCloser(strings.NewReader("data")), func(n int64) error {
			checks = append(checks, n)
			if fail {
				return short
			}
			return nil
		})
		data, err := io.ReadAll(io.LimitReader(body, 100))
		if fail && !errors.Is(err, short) || !fail && err != nil || string(data) != "data" {
			t.Errorf("check failing %v: %q %v", fail, data, err)
		}
		if _, again := body.Read(make([]byte, 1)); fail && again != short || !fail && again != io.EOF {
			t.Errorf("check failing %v: a read after the end: %v", fail, again)
		}
		if len(checks) != 1 || checks[0] != 4 {
			t.Errorf("check failing %v: checked %v, want once with 4 bytes", fail, checks)
		}
	}
}
