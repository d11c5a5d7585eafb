package api_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

// So does a body that cannot be rewound (a pipe): the node refused it
// before its go-ahead, so none of it went out, and the retry sends it
// whole.
func TestRetryOfAStreamBeforeItIsRead(t *testing.T) {
	data := bytes.Repeat([]byte("stream bytes "), 1<<16)
	var calls atomic.Int64
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			http.NotFound(w, r) // no map: through the gateway
			return
		}
		if calls.Add(1) == 1 {
			http.Error(w, `{"status":503,"message":"busy for a moment"}`, http.StatusServiceUnavailable)
			return
		}
		got, err := io.ReadAll(r.Body)
		if err != nil || !bytes.Equal(got, data) {
			http.Error(w, "the body came cut or changed", http.StatusBadRequest)
		}
	}))
	defer node.Close()
	stream := struct{ io.Reader }{bytes.NewReader(data)} // no Seek
	if _, err := api.NewClient(node.URL).Put(t.Context(), "b", "o", stream, api.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatalf("a stream PUT refused once before it was read: %v", err)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

// A PUT whose options leave Size zero sends its body all the same: its
// length when the body tells it, chunked when not; never an empty object.
func TestPutWithoutASizeSendsTheBody(t *testing.T) {
	got := make(chan string, 1)
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		got <- string(data)
	}))
	defer owner.Close()
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			http.NotFound(w, r)
			return
		}
		http.Redirect(w, r, owner.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer gateway.Close()
	client := api.NewClient(gateway.URL)
	for _, tc := range []struct {
		name string
		body func() io.Reader
		want string
	}{
		{"a reader that tells its length", func() io.Reader { return strings.NewReader("data") }, "data"},
		{"a reader that does not", func() io.Reader { return io.MultiReader(strings.NewReader("da"), strings.NewReader("ta")) }, "data"},
		{"an empty body", func() io.Reader { return strings.NewReader("") }, ""},
	} {
		meta, err := client.Put(t.Context(), "b", "o", tc.body(), api.PutOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if body := <-got; body != tc.want || meta.Size != int64(len(tc.want)) {
			t.Fatalf("%s: the node got %q, the PUT reports size %d; want %q", tc.name, body, meta.Size, tc.want)
		}
		if _, err := client.Append(t.Context(), "b", "o", "", tc.body(), 0); err != nil {
			t.Fatalf("%s: append: %v", tc.name, err)
		}
		if body := <-got; body != tc.want {
			t.Fatalf("%s: the node got %q of an append, want %q", tc.name, body, tc.want)
		}
	}
}

// A redirect to a node that does not answer fails naming the node, not
// the redirect's query: it carries an access grant, good for minutes to
// whoever reads the error in a terminal or a log.
func TestUnreachableRedirectHidesItsGrant(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, deadURL+r.URL.Path+"?agrant=GRANT-SECRET&pid=g1", http.StatusTemporaryRedirect)
	}))
	defer gateway.Close()
	_, err := api.NewClient(gateway.URL).GetBytes(t.Context(), "b", "o", api.GetOptions{})
	if err == nil || strings.Contains(err.Error(), "GRANT-SECRET") || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("a redirect to a dead node: %v, want it unreachable without the grant", err)
	}
}

// A target that freezes mid-transfer (its answer, or its reads of a
// PUT's body, stop) ends the request after the target timeout with no
// byte moved; a caller that takes longer than that between its own reads
// is not a stalled target.
func TestTargetFrozenMidTransferEndsTheRequest(t *testing.T) {
	const limit = 300 * time.Millisecond
	frozen := make(chan struct{})
	data := bytes.Repeat([]byte("x"), 64<<20) // past the sockets' buffers
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut:
			io.CopyN(io.Discard, r.Body, 1<<20)
			<-frozen
		case strings.HasSuffix(r.URL.Path, "/frozen"):
			w.Header().Set("Content-Length", "2000000")
			w.Write(make([]byte, 1000))
			w.(http.Flusher).Flush()
			<-frozen
		case strings.HasSuffix(r.URL.Path, "/frozen-error"):
			w.Header().Set("Content-Length", "2000000")
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"message":"`))
			w.(http.Flusher).Flush()
			<-frozen
		default:
			w.Header().Set("Content-Length", "3")
			for _, b := range []byte("abc") {
				w.Write([]byte{b})
				w.(http.Flusher).Flush()
			}
		}
	}))
	defer target.Close()
	defer close(frozen) // before the close, which waits for the handlers
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/objects/") {
			http.NotFound(w, r) // no map: through the gateway
			return
		}
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer gateway.Close()
	client := api.NewClient(gateway.URL).SetTargetTimeout(limit)
	ctx := t.Context()
	body, _, err := client.Get(ctx, "b", "frozen", api.GetOptions{})
	if err == nil {
		_, err = io.Copy(io.Discard, body)
		body.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "moved no byte") {
		t.Fatalf("a GET whose target froze mid-answer: %v", err)
	}
	// Its error answer too (bounded here: without the watch, the call
	// would wait for the freeze to end).
	bounded, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, _, err := client.Get(bounded, "b", "frozen-error", api.GetOptions{}); err == nil || bounded.Err() != nil {
		t.Fatalf("a GET whose target froze mid-error: %v", err)
	}
	if _, err := client.Put(ctx, "b", "o", bytes.NewReader(data), api.PutOptions{Size: int64(len(data))}); err == nil || !strings.Contains(err.Error(), "moved no byte") {
		t.Fatalf("a PUT whose target stopped reading: %v", err)
	}
	// A slow caller: a pause past the limit between its reads.
	body, _, err = client.Get(ctx, "b", "slow", api.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	var got []byte
	buf := make([]byte, 1)
	for {
		time.Sleep(2 * limit)
		n, err := body.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("a GET read slowly by its caller: %v", err)
		}
	}
	if string(got) != "abc" {
		t.Fatalf("a GET read slowly by its caller: %q", got)
	}
}

// A target that sends a request on to the primary (it does not know a
// remote bucket yet) leads to a gateway, not a target: a primary that does
// not answer is given up on after the gateway's bound (a remote bucket's
// PUT, patient, waited for ever), and the caller told it is unavailable
// (every gateway's targets would send it there again).
func TestRedirectToAGatewayIsBoundedAsAGateways(t *testing.T) {
	var frozen, other atomic.Int32
	thaw := make(chan struct{})
	primary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		frozen.Add(1)
		select { // frozen
		case <-r.Context().Done():
		case <-thaw:
		}
	}))
	defer primary.Close()
	defer close(thaw) // (before the close: run first)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		http.Redirect(w, r, primary.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer target.Close()
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer first.Close()
	second := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		other.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set(api.HeaderNodeID, "g3")
	}))
	defer second.Close()
	c := api.NewClient(first.URL).AddGateways(primary.URL, second.URL).SetGatewayTimeout(500 * time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err := c.Put(ctx, "s3://b", "o", strings.NewReader("data"), api.PutOptions{Size: 4})
	if ctx.Err() != nil {
		t.Fatalf("a PUT redirected to a primary that does not answer waited until the caller gave up: %v", err)
	}
	if frozen.Load() == 0 || other.Load() != 0 || !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("the frozen primary asked %d times, another gateway %d: %v, want unavailable after the primary's bound", frozen.Load(), other.Load(), err)
	}
}
