package gateway

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

// A peer that stops taking a stream: the write fails after the stall,
// and a cut ends one at once; a peer that reads gets every byte.
func TestStallWriter(t *testing.T) {
	payload := bytes.Repeat([]byte{'x'}, 64<<20) // more than the socket buffers take
	result := make(chan error, 1)
	cut := make(chan *stallWriter, 1)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := newStallWriter(w, 300*time.Millisecond, 1<<30)
		defer out.done()
		switch {
		case r.URL.Query().Has("cut"):
			out.stall = time.Hour
			cut <- out
		case r.URL.Query().Has("read"):
			out.stall = time.Minute // a loaded machine moves 64 MiB slowly
		}
		_, err := out.Write(payload)
		result <- err
	}))
	defer server.Close()

	// A reader gets it all.
	resp, err := http.Get(server.URL + "?read")
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	got.ReadFrom(resp.Body)
	resp.Body.Close()
	if err := <-result; err != nil || got.Len() != len(payload) {
		t.Fatalf("a reading peer got %d of %d bytes: %v", got.Len(), len(payload), err)
	}

	for _, query := range []string{"", "?cut"} {
		conn, err := net.Dial("tcp", server.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn.Write([]byte("GET /" + query + " HTTP/1.1\r\nHost: x\r\n\r\n"))
		if query != "" {
			(<-cut).Cut()
		}
		select {
		case err := <-result:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("%q: a write to a peer that reads nothing ended with %v", query, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%q: a write to a peer that reads nothing did not end", query)
		}
		conn.Close()
	}
}
