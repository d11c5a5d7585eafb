package api_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aisgo/aisgo/api"
)

// A node that redirects a PUT before reading its body (the body is still
// being written) gets it again whole at the next hop: the client rewinds
// the body only once the transport let go of it (run with -race).
func TestRedirectBeforeTheBodyIsRead(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB, past what a server drains
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, err := io.ReadAll(r.Body)
		if err != nil || !bytes.Equal(got, data) {
			http.Error(w, "the body came cut or changed", http.StatusBadRequest)
		}
	}))
	defer owner.Close()
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			http.NotFound(w, r) // the client's look at the cluster map
			return
		}
		http.Redirect(w, r, owner.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer gateway.Close()
	client := api.NewClient(gateway.URL)
	for range 20 {
		if _, err := client.Put(t.Context(), "b", "o", bytes.NewReader(data), api.PutOptions{Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
	}
}

// A node that refuses a PUT for a moment (503) before reading its body
// gets it whole on the retry: the client rewinds the body only once the
// transport let go of it (run with -race).
func TestRetryBeforeTheBodyIsRead(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<18)
	var calls atomic.Int64
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			http.NotFound(w, r)
			return
		}
		if calls.Add(1)%2 == 1 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"status":503,"message":"busy for a moment"}`, http.StatusServiceUnavailable)
			return
		}
		got, err := io.ReadAll(r.Body)
		if err != nil || !bytes.Equal(got, data) {
			http.Error(w, "the body came cut or changed", http.StatusBadRequest)
		}
	}))
	defer node.Close()
	client := api.NewClient(node.URL)
	for range 5 {
		if _, err := client.Put(t.Context(), "b", "o", bytes.NewReader(data), api.PutOptions{Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
	}
}
