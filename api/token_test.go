package api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
)

// A program renews its client's token while requests run (the race
// detector, which the unit tests run under, would flag a plain field):
// every request carries one whole token, old or new.
func TestTokenRenewedWhileRequestsRun(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "Bearer token-") {
			http.Error(w, "torn token "+auth, http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"status":"ok"}`)
	}))
	defer server.Close()
	client := api.NewClient(server.URL).SetToken("token-0")
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 200 {
			client.SetToken(fmt.Sprintf("token-%d", i+1))
		}
	})
	for range 50 {
		if _, err := client.NodeHealth(t.Context(), server.URL); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}

// A caller that ends while the client waits to retry a 503 is told its
// own end (errors.Is finds the deadline), not only the 503 it would
// retry on.
func TestCallerEndDuringARetryWaitIsTheCallersError(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"status":503,"message":"busy"}`)
	}))
	defer server.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := api.NewClient(server.URL).ListBuckets(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("a deadline passed while waiting to retry a 503: %v; want the deadline (and the 503)", err)
	}
	// A deadline with its cause: the cause, as the caller set it.
	cause := errors.New("the job did not end in time")
	ctx, cancel = context.WithTimeoutCause(t.Context(), 100*time.Millisecond, cause)
	defer cancel()
	if _, err := api.NewClient(server.URL).ListBuckets(ctx); !errors.Is(err, cause) || !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("a deadline with a cause passed while waiting to retry a 503: %v; want the cause (and the 503)", err)
	}
}

// A gateway that freezes mid-answer (its headers sent) ends the call
// once no byte moved for the client's limit, not for ever.
func TestGatewayFrozenMidAnswerEndsTheCall(t *testing.T) {
	release := make(chan struct{})
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `[{"name":"a"`)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer server.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	client := api.NewClient(server.URL).SetGatewayTimeout(200 * time.Millisecond).SetTargetTimeout(300 * time.Millisecond)
	_, err := client.ListBuckets(ctx)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "moved no byte") {
		t.Fatalf("a gateway frozen mid-answer: %v (the caller's context: %v)", err, ctx.Err())
	}
}

// A token file that is a FIFO is not opened (the open would block every
// client made); one past the bound gives no token; CheckTokenFile names
// why.
func TestTokenFileMustBeASmallRegularFile(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(api.EnvToken, "")
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(api.EnvTokenFile, fifo)
	got := make(chan string, 1)
	go func() { got <- api.TokenFromEnv() }()
	select {
	case token := <-got:
		if token != "" {
			t.Fatalf("a token from a FIFO: %q", token)
		}
	case <-time.After(time.Minute):
		t.Fatal("TokenFromEnv blocked on a FIFO")
	}
	if err := api.CheckTokenFile(); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("CheckTokenFile of a FIFO: %v", err)
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, bytes.Repeat([]byte("t"), 65<<10), 0o600)
	t.Setenv(api.EnvTokenFile, big)
	if token := api.TokenFromEnv(); token != "" {
		t.Fatalf("a token of %d bytes from a file past the bound", len(token))
	}
	small := filepath.Join(dir, "small")
	os.WriteFile(small, []byte("token-1\n"), 0o600)
	t.Setenv(api.EnvTokenFile, small)
	if token := api.TokenFromEnv(); token != "token-1" {
		t.Fatalf("the token of a token file: %q", token)
	}
}
