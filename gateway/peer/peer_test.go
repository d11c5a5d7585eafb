package peer

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// echo is a handler that verifies, reads the whole body and answers the
// sender and the body, or 401 with the error (503 when busy).
func echo(auth *Auth) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sender, err := auth.Verify(r)
		var body []byte
		if err == nil {
			body, err = io.ReadAll(r.Body)
		}
		if errors.Is(err, ErrBusy) {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		io.WriteString(w, sender+":"+string(body))
	})
}

func do(t *testing.T, client *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(data))
}

func TestSignedRequestsPass(t *testing.T) {
	secret := NewSecret()
	server := httptest.NewServer(echo(NewAuth(secret, Options{})))
	defer server.Close()
	client := &http.Client{Transport: NewAuth(secret, Options{}).Transport("t1", http.DefaultTransport)}
	big := bytes.Repeat([]byte("x"), maxHashedBody+1)
	for _, tc := range []struct {
		name string
		body io.Reader
		want string
	}{
		{"no body", nil, ""},
		{"hashed body", bytes.NewReader([]byte("hello")), "hello"},
		{"streamed body", io.MultiReader(strings.NewReader("stream"), strings.NewReader("ed")), "streamed"},
		{"large body", bytes.NewReader(big), string(big)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, server.URL+"/v1/internal/x?a=b%2Fc", tc.body)
			status, got := do(t, client, req)
			if status != http.StatusOK || got != "t1:"+tc.want {
				t.Fatalf("%d %.80q", status, got)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	secret := NewSecret()
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	receiver := NewAuth(secret, Options{Now: clock})
	sender := NewAuth(secret, Options{Now: clock})
	signed := func(method, url string, body string) *http.Request {
		req := httptest.NewRequest(method, url, strings.NewReader(body))
		req.RequestURI = req.URL.RequestURI()
		if body == "" {
			req.Body = http.NoBody
		}
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
		req.ContentLength = int64(len(body))
		if err := sender.Sign(req, "p1"); err != nil {
			t.Fatal(err)
		}
		req.Body = io.NopCloser(strings.NewReader(body))
		return req
	}
	verify := func(req *http.Request) error {
		_, err := receiver.Verify(req)
		if err == nil {
			_, err = io.ReadAll(req.Body)
		}
		return err
	}

	if err := verify(httptest.NewRequest(http.MethodPut, "http://n1/v1/metasync", nil)); !errors.Is(err, ErrUnsigned) {
		t.Errorf("unsigned: %v", err)
	}
	req := signed(http.MethodPut, "http://n1/v1/metasync", `{"bmd":{}}`)
	other := NewAuth(NewSecret(), Options{Now: clock})
	forged := req.Clone(req.Context())
	forged.Header = req.Header.Clone()
	other.Sign(forged, "p1")
	if err := verify(forged); !errors.Is(err, ErrBadMAC) {
		t.Errorf("another secret: %v", err)
	}
	if err := verify(req); err != nil {
		t.Fatalf("genuine: %v", err)
	}
	replay := signed(http.MethodPut, "http://n1/v1/metasync", `{"bmd":{}}`)
	replay.Header = req.Header.Clone()
	if err := verify(replay); !errors.Is(err, ErrReplay) {
		t.Errorf("replay: %v", err)
	}
	elsewhere := signed(http.MethodPut, "http://n2/v1/metasync", `{}`)
	elsewhere.Host = "n3"
	if err := verify(elsewhere); !errors.Is(err, ErrBadMAC) {
		t.Errorf("sent to another node: %v", err)
	}
	path := signed(http.MethodPut, "http://n1/v1/metasync", `{}`)
	path.RequestURI = "/v1/internal/remove/b"
	if err := verify(path); !errors.Is(err, ErrBadMAC) {
		t.Errorf("another path: %v", err)
	}
	tampered := signed(http.MethodPut, "http://n1/v1/metasync", `{"bmd":{"version":1}}`)
	tampered.Body = io.NopCloser(strings.NewReader(`{"bmd":{"version":9}}`))
	if err := verify(tampered); !errors.Is(err, ErrBodyMAC) {
		t.Errorf("tampered body: %v", err)
	}
	old := signed(http.MethodGet, "http://n1/v1/internal/status", "")
	now = now.Add(31 * time.Second)
	if err := verify(old); !errors.Is(err, ErrStale) {
		t.Errorf("stale: %v", err)
	}
	now = now.Add(-62 * time.Second)
	if err := verify(old); !errors.Is(err, ErrStale) {
		t.Errorf("from the future: %v", err)
	}
}

// TestStreamedBodyTampered: a streamed body whose trailer does not match
// fails at its end.
func TestStreamedBodyTampered(t *testing.T) {
	secret := NewSecret()
	server := httptest.NewServer(echo(NewAuth(secret, Options{})))
	defer server.Close()
	tamper := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		req.Body = &flipLast{body: req.Body}
		return http.DefaultTransport.RoundTrip(req)
	})
	client := &http.Client{Transport: NewAuth(secret, Options{}).Transport("t1", tamper)}
	req, _ := http.NewRequest(http.MethodPost, server.URL+"/x", io.MultiReader(strings.NewReader("abc")))
	status, got := do(t, client, req)
	if status != http.StatusUnauthorized || !strings.Contains(got, "does not match") {
		t.Fatalf("%d %q", status, got)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// flipLast changes the bytes read from a body after they were hashed.
type flipLast struct{ body io.ReadCloser }

func (f *flipLast) Read(p []byte) (int, error) {
	n, err := f.body.Read(p)
	for i := range n {
		p[i] ^= 1
	}
	return n, err
}
func (f *flipLast) Close() error { return f.body.Close() }

func TestParseSecret(t *testing.T) {
	s := NewSecret()
	back, err := ParseSecret(s.String() + "\n")
	if err != nil || !bytes.Equal(back, s) {
		t.Fatalf("%v %v", back, err)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("zz", SecretSize)} {
		if _, err := ParseSecret(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzVerify: arbitrary header values never panic and never pass.
func FuzzVerify(f *testing.F) {
	f.Add("p1", "1700000000000000000", "00112233445566778899aabbccddeeff", "stream", "AAAA")
	f.Add("", "", "", "", "")
	auth := NewAuth(NewSecret(), Options{})
	f.Fuzz(func(t *testing.T, node, stamp, nonce, body, mac string) {
		req := httptest.NewRequest(http.MethodPost, "http://n1/v1/metasync", strings.NewReader("x"))
		req.Header.Set(HeaderNode, node)
		req.Header.Set(HeaderTime, stamp)
		req.Header.Set(HeaderNonce, nonce)
		req.Header.Set(HeaderBody, body)
		req.Header.Set(HeaderMAC, mac)
		if _, err := auth.Verify(req); err == nil {
			t.Fatal("a request signed with no secret passed")
		}
	})
}

// A part's metadata header is covered by the signature: changed on its
// way (another index, a stamp that refuses later writes), the request is
// refused.
func TestPartHeaderIsSigned(t *testing.T) {
	secret := NewSecret()
	sender, receiver := NewAuth(secret, Options{}), NewAuth(secret, Options{})
	req := httptest.NewRequest(http.MethodPut, "/v1/internal/parts/b/o", strings.NewReader("part"))
	req.Header.Set(HeaderPart, "index=1")
	if err := sender.Sign(req, "t1"); err != nil {
		t.Fatal(err)
	}
	signed := req.Header.Clone()
	req.Header.Set(HeaderPart, "index=2")
	if _, err := receiver.Verify(req); err == nil {
		t.Fatal("a part whose metadata header changed after signing was taken")
	}
	req.Header = signed
	if _, err := NewAuth(secret, Options{}).Verify(req); err != nil {
		t.Fatalf("the part as signed: %v", err)
	}
}

// A nonce is kept only as long as its request's time is accepted: past
// it, the table has room again for new requests (kept twice as long, a
// busy node refused its peers' requests, keepalives too, at half the
// rate).
func TestNoncesAreKeptOnlyWhileTheirTimeIsAccepted(t *testing.T) {
	secret := NewSecret()
	var now atomic.Int64 // read by the server's goroutines
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	window := time.Second
	server := httptest.NewServer(echo(NewAuth(secret, Options{Window: window, MaxNonces: 4, Now: clock})))
	defer server.Close()
	client := &http.Client{Transport: NewAuth(secret, Options{Window: window, Now: clock}).Transport("t1", http.DefaultTransport)}
	send := func() int {
		req, _ := http.NewRequest(http.MethodGet, server.URL+"/v1/internal/x", nil)
		status, _ := do(t, client, req)
		return status
	}
	for i := range 4 {
		if status := send(); status != http.StatusOK {
			t.Fatalf("request %d: %d", i, status)
		}
	}
	// Busy, not the caller's fault: 503, and a node's keepalive or a GET
	// does not take it for a node that refuses them.
	if status := send(); status != http.StatusServiceUnavailable {
		t.Fatalf("a fifth request within the window, past a table of 4: %d, want 503", status)
	}
	now.Add(int64(window + window/4 + time.Millisecond)) // the first four stale, and a sweep's time past
	if status := send(); status != http.StatusOK {
		t.Fatalf("a request once the others' time passed: %d", status)
	}
}

// TestStreamedBodyRewoundIsSignedAgain: a retry rewinds a streamed body
// through GetBody (a connection closed before the request went out): the
// body sent then carries its MAC too.
func TestStreamedBodyRewoundIsSignedAgain(t *testing.T) {
	secret := NewSecret()
	server := httptest.NewServer(echo(NewAuth(secret, Options{})))
	defer server.Close()
	retry := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = body
		return http.DefaultTransport.RoundTrip(req)
	})
	client := &http.Client{Transport: NewAuth(secret, Options{}).Transport("t1", retry)}
	req, _ := http.NewRequest(http.MethodPost, server.URL+"/x", bytes.NewReader([]byte("abc")))
	req.ContentLength = -1 // streamed, though it can be rewound
	if status, got := do(t, client, req); status != http.StatusOK || got != "t1:abc" {
		t.Fatalf("%d %q", status, got)
	}
}

// The secret itself given for its file's name is not echoed in the error
// (which goes to the node's log); a file's name that is not there is.
func TestLoadSecretDoesNotEchoASecretGivenAsItsFile(t *testing.T) {
	secret := NewSecret().String()
	_, err := LoadSecret(secret)
	if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "a file's name, not the secret") {
		t.Fatalf("the secret given as its file: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "secret")
	if _, err := LoadSecret(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("a missing secret file: %v, want it named", err)
	}
}
