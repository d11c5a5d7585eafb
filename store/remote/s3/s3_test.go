package s3

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aisgo/aisgo/store"
)

// An answer without a length (a GET sent chunked by an S3-compatible
// server) is of unknown size: a cold GET stores what comes instead of
// failing on an announced 0.
func TestAttrsOfUnknownLength(t *testing.T) {
	if got := attrsOf("o", nil, nil, nil, nil).Size; got != -1 {
		t.Fatalf("no Content-Length: size %d, want -1", got)
	}
	size := int64(0)
	if got := attrsOf("o", &size, nil, nil, nil).Size; got != 0 {
		t.Fatalf("Content-Length 0: size %d", got)
	}
}

// A client slow to make (credentials from a metadata server that does not
// answer) holds no bucket whose client is made already, and once it
// failed the reads after it are answered at once for a while.
func TestResolveWaitsOnNoOtherSetup(t *testing.T) {
	bs := NewBackends()
	release := make(chan struct{})
	var builds atomic.Int64
	bs.build = func(_ context.Context, s store.AWSProps) (*Backend, error) {
		builds.Add(1)
		if s.Endpoint == "http://slow" {
			<-release
			return nil, errors.New("no credentials")
		}
		return &Backend{where: s.Endpoint}, nil
	}
	b := store.Bucket{Provider: store.ProviderAWS, Name: "b"}
	at := func(endpoint string) store.Props {
		return store.Props{Extra: &store.ExtraProps{AWS: &store.AWSProps{Endpoint: endpoint}}}
	}
	if _, err := bs.Resolve(t.Context(), b, at("http://fast")); err != nil {
		t.Fatal(err)
	}
	slow := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := bs.Resolve(t.Context(), b, at("http://slow"))
			slow <- err
		}()
	}
	for builds.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	// While the slow one is made: the made one at once.
	if _, err := bs.Resolve(t.Context(), b, at("http://fast")); err != nil {
		t.Fatal(err)
	}
	close(release)
	for range 2 {
		if err := <-slow; err == nil {
			t.Fatal("a setup that failed answered no error")
		}
	}
	if _, err := bs.Resolve(t.Context(), b, at("http://slow")); err == nil {
		t.Fatal("a setup that failed just now answered no error")
	}
	if n := builds.Load(); n != 2 {
		t.Fatalf("%d setups made, want 2: the fast one, and the slow one once for all", n)
	}
}
