package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/store"
)

// gateway is a fake gateway that answers every request with answer and
// counts them.
type gateway struct {
	*httptest.Server
	calls atomic.Int64
}

func newGateway(t *testing.T, answer http.HandlerFunc) *gateway {
	g := &gateway{}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.calls.Add(1)
		answer(w, r)
	}))
	t.Cleanup(g.Close)
	return g
}

func ok(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }

// hungGateway is a gateway that takes requests and never answers (until
// the client goes, or the test ends).
func hungGateway(t *testing.T) *gateway {
	release := make(chan struct{})
	g := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) }) // before the server's close
	return g
}

func noQuorum(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusServiceUnavailable)
	json.NewEncoder(w).Encode(api.Error{Status: 503, Kind: api.KindNoQuorum, Message: "no quorum: 1 of 3 gateways answer"})
}

// deadURL is a loopback URL nothing listens on.
func deadURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	return url
}

// A request the first gateway cannot take (nothing listens) goes to the
// next, and later requests start there.
func TestFailoverToLiveGateway(t *testing.T) {
	live := newGateway(t, ok)
	c := api.NewClient(deadURL(t)).AddGateways(live.URL)
	if err := c.CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatalf("a POST with the first gateway down: %v", err)
	}
	if c.Endpoint() != live.URL {
		t.Fatalf("the client uses %s after the failover, want %s", c.Endpoint(), live.URL)
	}
	if live.calls.Load() != 1 {
		t.Fatalf("the live gateway got %d requests", live.calls.Load())
	}
}

// A gateway in a minority answers "no quorum": the client asks each other
// gateway once, and reports no quorum only when every one says so.
func TestNoQuorumTriesEveryGatewayOnce(t *testing.T) {
	minority := newGateway(t, noQuorum)
	majority := newGateway(t, ok)
	c := api.NewClient(minority.URL).AddGateways(majority.URL)
	if err := c.CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatalf("a change with the majority reachable: %v", err)
	}

	a, b := newGateway(t, noQuorum), newGateway(t, noQuorum)
	c = api.NewClient(a.URL).AddGateways(b.URL, deadURL(t))
	err := c.CreateBucket(t.Context(), "b", nil)
	if !errors.Is(err, api.ErrNoQuorum) {
		t.Fatalf("every gateway without a quorum: %v, want ErrNoQuorum", err)
	}
	if a.calls.Load() != 1 || b.calls.Load() != 1 {
		t.Fatalf("the gateways were asked %d and %d times, want once each", a.calls.Load(), b.calls.Load())
	}
}

// A gateway that accepts and never answers (a stopped process) is left
// after the gateway timeout: a GET goes on to the next one; a POST, which
// may have been taken, is not sent twice, but the next request goes to
// the next gateway.
func TestHungGatewayIsLeft(t *testing.T) {
	hung := hungGateway(t)
	live := newGateway(t, func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(api.Health{Status: "ok"}) })
	c := api.NewClient(hung.URL).AddGateways(live.URL).SetGatewayTimeout(100 * time.Millisecond)
	if _, err := c.Health(t.Context()); err != nil {
		t.Fatalf("a GET with the first gateway hung: %v", err)
	}

	c = api.NewClient(hung.URL).AddGateways(live.URL).SetGatewayTimeout(100 * time.Millisecond)
	if err := c.CreateBucket(t.Context(), "b", nil); err == nil {
		t.Fatal("a POST the hung gateway may have taken was sent again")
	}
	before := live.calls.Load()
	if err := c.CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatalf("the next POST: %v", err)
	}
	if live.calls.Load() != before+1 {
		t.Fatal("the next POST did not go to the live gateway")
	}
}

// A read the target works on before it answers (a validated GET) is
// patient with the target, not with a gateway, which only redirects it:
// one hung is left for the next after the gateway timeout.
func TestPatientReadLeavesAHungGateway(t *testing.T) {
	hung := hungGateway(t)
	live := newGateway(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "data") })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c := api.NewClient(hung.URL).AddGateways(live.URL).UseRedirects().SetGatewayTimeout(100 * time.Millisecond)
	data, err := c.GetBytes(ctx, "b", "o", api.GetOptions{Validate: true})
	if err != nil || string(data) != "data" || ctx.Err() != nil {
		t.Fatalf("a validated GET with the first gateway hung: %q %v, want the live gateway's answer", data, err)
	}
}

// A file into a shard (its body read late, with Expect: 100-continue)
// sent to a gateway frozen before its answer is bounded by the gateway
// timeout from the hop's start: the body never goes, and the request
// goes on to the next gateway.
func TestLateBodyLeavesAFrozenGateway(t *testing.T) {
	frozen := hungGateway(t)
	live := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	big := bytes.Repeat([]byte("x"), 8<<20)
	c := api.NewClient(frozen.URL).AddGateways(live.URL).UseRedirects().SetGatewayTimeout(100 * time.Millisecond)
	if _, err := c.Put(ctx, "b", "shard.tar", bytes.NewReader(big), api.PutOptions{Size: int64(len(big)), ArchPath: "big.bin"}); err != nil || ctx.Err() != nil {
		t.Fatalf("a file into a shard with the first gateway frozen: %v, want the live gateway's answer", err)
	}
}

// The token goes after a redirect only to a node the client knows: a
// redirect elsewhere (a load balancer's, a misbehaving node's) does not
// carry it there.
func TestTokenStaysWithTheClustersNodes(t *testing.T) {
	var outsideAuth, knownAuth atomic.Value
	outside := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		outsideAuth.Store(r.Header.Get("Authorization"))
		json.NewEncoder(w).Encode(api.Health{Status: "ok"})
	})
	known := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		knownAuth.Store(r.Header.Get("Authorization"))
		json.NewEncoder(w).Encode(api.Health{Status: "ok"})
	})
	var to atomic.Value
	first := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, to.Load().(string)+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	})
	c := api.NewClient(first.URL).AddGateways(known.URL).SetToken("secret-token")
	to.Store(outside.URL)
	if _, err := c.Health(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, _ := outsideAuth.Load().(string); got != "" {
		t.Fatalf("a redirect to a host outside the cluster carried %q", got)
	}
	to.Store(known.URL)
	if _, err := c.Health(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, _ := knownAuth.Load().(string); got != "Bearer secret-token" {
		t.Fatalf("a redirect to a gateway the client knows carried %q", got)
	}
	// The same host upgraded to https (an ingress's redirect) is known;
	// another host, or the same downgraded, is not.
	lb := api.NewClient("http://lb.example")
	for link, want := range map[string]bool{"https://lb.example/v1/health": true, "http://LB.example/v1/health": true,
		"https://evil.example/v1/health": false, "http://lb.example.evil/v1/health": false} {
		if got := api.KnowsNode(lb, link); got != want {
			t.Errorf("a redirect to %s: known %v, want %v", link, got, want)
		}
	}
	if api.KnowsNode(api.NewClient("https://lb.example"), "http://lb.example/v1/health") {
		t.Error("a redirect from https to http of the host: known")
	}
}

// The client learns the gateways from the maps it reads.
func TestClientLearnsGatewaysFromMap(t *testing.T) {
	other := newGateway(t, ok)
	m := cluster.Map{Version: 3, Primary: "g1", Nodes: []cluster.Node{
		{ID: "g1", Role: cluster.RoleGateway, URL: "http://127.0.0.1:1", State: cluster.StateActive},
		{ID: "g2", Role: cluster.RoleGateway, URL: other.URL, State: cluster.StateActive},
		{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:3", State: cluster.StateActive},
	}}
	first := newGateway(t, func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(&m) })
	c := api.NewClient(first.URL)
	if _, err := c.Map(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := c.Gateways()
	if !slices.Contains(got, other.URL) || slices.Contains(got, "http://127.0.0.1:3") {
		t.Fatalf("gateways after reading the map: %v", got)
	}
}

// A gateway that took a request and dropped the connection before its
// answer: a plain PUT goes on to the next gateway, an append or a
// conditional PUT (done once, a second would add the piece twice or fail
// its condition) is not sent again.
func TestDroppedAnswerResendsOnlyIdempotentWrites(t *testing.T) {
	drop := func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			http.Error(w, "no map here", http.StatusNotFound) // the client routes through the gateway
			return
		}
		io.Copy(io.Discard, r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	for _, tc := range []struct {
		name   string
		put    func(c *api.Client) error
		resent bool
	}{
		{"plain PUT", func(c *api.Client) error {
			_, err := c.Put(t.Context(), "b", "o", strings.NewReader("x"), api.PutOptions{Size: 1})
			return err
		}, true},
		{"append", func(c *api.Client) error {
			_, err := c.Append(t.Context(), "b", "o", "", strings.NewReader("x"), 1)
			return err
		}, false},
		{"If-None-Match PUT", func(c *api.Client) error {
			_, err := c.Put(t.Context(), "b", "o", strings.NewReader("x"), api.PutOptions{Size: 1, IfNoneMatch: "*"})
			return err
		}, false},
		{"archive job", func(c *api.Client) error {
			_, err := c.Archive(t.Context(), "b", api.ArchiveMessage{ArchName: "a.tar", AppendIfExists: true})
			return err
		}, false},
		{"config", func(c *api.Client) error {
			_, err := c.SetClusterConfig(t.Context(), map[string]any{"lru": map[string]any{"enabled": true}})
			return err
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dropping := newGateway(t, drop)
			var puts atomic.Int64
			live := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPut {
					puts.Add(1)
				}
				ok(w, r)
			})
			c := api.NewClient(dropping.URL).AddGateways(live.URL)
			tc.put(c)
			if resent := puts.Load() > 0; resent != tc.resent {
				t.Fatalf("sent again: %v, want %v", resent, tc.resent)
			}
		})
	}
}

// failingReader returns some bytes, then an error.
type failingReader struct{ left int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.left == 0 {
		return 0, errors.New("disk read failed")
	}
	n := min(len(p), f.left)
	f.left -= n
	return n, nil
}

// A body shorter than its size, or that fails to read, is the caller's
// error: the client does not blame the gateway (nor leave it for
// another), and the error is not ErrUnavailable, which invites a retry.
func TestBodyFaultIsNotTheGateways(t *testing.T) {
	first := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})
	second := newGateway(t, ok)
	for name, body := range map[string]io.Reader{
		"short":   io.LimitReader(strings.NewReader(strings.Repeat("x", 200)), 50),
		"failing": &failingReader{left: 50},
	} {
		c := api.NewClient(first.URL).AddGateways(second.URL).UseRedirects()
		_, err := c.Put(t.Context(), "b", "o", body, api.PutOptions{Size: 100})
		if err == nil || errors.Is(err, api.ErrUnavailable) {
			t.Errorf("%s body: %v; want the body's error, not unavailable", name, err)
		}
		if c.Endpoint() != first.URL || second.calls.Load() != 0 {
			t.Errorf("%s body: the client moved to %s (%d requests to the other gateway)", name, c.Endpoint(), second.calls.Load())
		}
	}
}

// A body sent whole to a gateway that redirects, then refused by the
// target (it is down), is the target's failure (unavailable), not the
// body's: the body was rewound for the second hop.
func TestRedirectedBodyThenUnreachableTargetIsNotTheBodys(t *testing.T) {
	dead := deadURL(t)
	gw := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		http.Redirect(w, r, dead+r.URL.Path, http.StatusTemporaryRedirect)
	})
	c := api.NewClient(gw.URL).UseRedirects()
	_, err := c.Put(t.Context(), "b", "o", strings.NewReader("twelve bytes"), api.PutOptions{Size: 12})
	if !errors.Is(err, api.ErrUnavailable) || strings.Contains(err.Error(), "given as its size") {
		t.Fatalf("a PUT redirected to a target that is down: %v, want unavailable, not the body's fault", err)
	}
}

// A dSort abort waits for the gateway's answer however long it takes
// (every target stops the job first), not the gateway timeout.
func TestDsortAbortIsPatient(t *testing.T) {
	gw := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		w.WriteHeader(http.StatusOK)
	})
	c := api.NewClient(gw.URL).SetGatewayTimeout(100 * time.Millisecond)
	if err := c.DsortAbort(t.Context(), "srt-0123456789ab"); err != nil {
		t.Fatalf("an abort answered after 300ms with a gateway timeout of 100ms: %v", err)
	}
}

// A target that takes the request and never answers (frozen) is given up
// on after the target timeout, counted from when the request was sent: a
// slow body does not count against it.
func TestFrozenTargetIsGivenUpOn(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	target := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusOK)
			return
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	gw := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusTemporaryRedirect)
	})
	c := api.NewClient(gw.URL).UseRedirects().SetTargetTimeout(200 * time.Millisecond)
	start := time.Now()
	_, err := c.GetBytes(t.Context(), "b", "o", api.GetOptions{})
	if !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "did not answer within") {
		t.Fatalf("a GET from a frozen target: %v, want unavailable naming the wait", err)
	}
	if time.Since(start) > time.Minute {
		t.Fatal("the GET waited on far past the target timeout")
	}
	// A body sent slowly for longer than the timeout is no fault.
	body := &slowReader{r: strings.NewReader("twelve bytes"), delay: 100 * time.Millisecond}
	if _, err := c.Put(t.Context(), "b", "o", body, api.PutOptions{Size: 12}); err != nil {
		t.Fatalf("a PUT whose body took longer than the target timeout: %v", err)
	}
}

// slowReader reads a byte at a time, each after a delay.
type slowReader struct {
	r     io.Reader
	delay time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.delay)
	return s.r.Read(p[:min(len(p), 1)])
}

// A delete whose answer was lost (the connection cut after the node
// removed the object) is sent again to another gateway; the object is
// gone by then, and the delete succeeded: not "not found".
func TestDeleteWithALostAnswerSucceeds(t *testing.T) {
	cut := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close() // removed, and the answer never sent
		}
	})
	gone := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(api.Error{Status: 404, Kind: api.KindNotFound, Message: "ais://b/o: object not found"})
	})
	c := api.NewClient(cut.URL).AddGateways(gone.URL).UseRedirects()
	if err := c.Delete(t.Context(), "b", "o"); err != nil {
		t.Fatalf("a delete resent after its answer was lost: %v, want success (calls %d, %d)", err, cut.calls.Load(), gone.calls.Load())
	}
	if cut.calls.Load() != 1 || gone.calls.Load() != 1 {
		t.Fatalf("calls %d and %d, want one to each gateway", cut.calls.Load(), gone.calls.Load())
	}
	// Not resent, a 404 stays one.
	if err := api.NewClient(gone.URL).UseRedirects().Delete(t.Context(), "b", "o"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a delete of a missing object: %v, want not found", err)
	}
}

// A job start waits for the gateway past its usual answer time: the
// gateway starts the job on every target before it answers.
func TestJobStartIsPatient(t *testing.T) {
	gw := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "prefetch-1")
	})
	c := api.NewClient(gw.URL).SetGatewayTimeout(100 * time.Millisecond)
	id, err := c.Prefetch(t.Context(), "s3://b", api.ListRange{Template: "o-{0..9}"})
	if err != nil || id != "prefetch-1" {
		t.Fatalf("a prefetch started in 300ms with a gateway timeout of 100ms: %q, %v", id, err)
	}
	// Mirroring, erasure coding and scrubbing start jobs too.
	if _, err := c.MakeNCopies(t.Context(), "b", 2); err != nil {
		t.Fatalf("a mirror started in 300ms with a gateway timeout of 100ms: %v", err)
	}
	// Not every call: a plain one still leaves a gateway that hangs.
	if err := c.CreateBucket(t.Context(), "b", nil); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("a bucket create answered after 300ms with a gateway timeout of 100ms: %v, want unavailable", err)
	}
}

// A job's removal sent again after its answer was lost finds the job
// gone by the first: done, for a download and a dSort job.
func TestJobRemovalWithALostAnswerSucceeds(t *testing.T) {
	cut := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	})
	gone := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(api.Error{Status: 404, Kind: api.KindJobNotFound, Message: "job not found"})
	})
	for _, remove := range []func(*api.Client) error{
		func(c *api.Client) error { return c.RemoveDownload(t.Context(), "download-1") },
		func(c *api.Client) error { return c.DsortRemove(t.Context(), "srt-1") },
	} {
		if err := remove(api.NewClient(cut.URL).AddGateways(gone.URL)); err != nil {
			t.Fatalf("a removal resent after its answer was lost: %v, want success", err)
		}
		if err := remove(api.NewClient(gone.URL)); !errors.Is(err, api.ErrJobNotFound) {
			t.Fatalf("a removal of a missing job: %v, want not found", err)
		}
	}
}

// Requests whose answer follows work on the whole object wait for it past
// the target timeout: an append's flush (the object copied whole), a
// file put into a shard (the shard rewritten up to its place), and a
// range of a remote object not cached (fetched whole first); a listing
// waits past the gateway timeout (every target's page, a remote's).
// A plain GET still leaves a target that does not answer.
func TestWholeObjectWorkIsWaitedFor(t *testing.T) {
	slow := func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		time.Sleep(400 * time.Millisecond)
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/buckets/") {
			io.WriteString(w, `{"entries":[]}`)
			return
		}
		w.Header().Set("Content-Length", "4")
		w.WriteHeader(http.StatusPartialContent)
		io.WriteString(w, "data")
	}
	target := newGateway(t, slow)
	gw := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/buckets/") {
			slow(w, r)
			return
		}
		http.Redirect(w, r, target.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	})
	c := api.NewClient(gw.URL).UseRedirects().SetTargetTimeout(150 * time.Millisecond).SetGatewayTimeout(150 * time.Millisecond)
	ctx := t.Context()
	if _, err := c.Flush(ctx, "b", "o", "handle-1", store.Checksum{}); err != nil {
		t.Errorf("a flush answered after the target timeout: %v", err)
	}
	if _, err := c.Put(ctx, "b", "shard.tar", strings.NewReader("file"), api.PutOptions{Size: 4, ArchPath: "a.txt"}); err != nil {
		t.Errorf("a file put into a shard answered after the target timeout: %v", err)
	}
	// A big file into a shard is read once the shard's rewrite reaches
	// its place: its sending waits as long.
	late := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(400 * time.Millisecond) // the rewrite up to the file
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})
	big := bytes.Repeat([]byte("x"), 16<<20) // past the sockets' buffers
	if _, err := api.NewClient(late.URL).SetTargetTimeout(150*time.Millisecond).Put(ctx, "b", "shard.tar", bytes.NewReader(big), api.PutOptions{Size: int64(len(big)), ArchPath: "big.bin"}); err != nil {
		t.Errorf("a big file put into a shard read after the target timeout: %v", err)
	}
	// Once read, a target that stops reading it (frozen) is left.
	release := make(chan struct{})
	stuck := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		io.CopyN(io.Discard, r.Body, 1<<20) // the go-ahead, then a part
		<-release                           // (not reading, it sees no disconnect)
	})
	t.Cleanup(func() { close(release) }) // (before the server's close)
	if _, err := api.NewClient(stuck.URL).SetTargetTimeout(150*time.Millisecond).Put(ctx, "b", "shard.tar", bytes.NewReader(big), api.PutOptions{Size: int64(len(big)), ArchPath: "big.bin"}); err == nil || !strings.Contains(err.Error(), "moved no byte") {
		t.Errorf("a file put into a shard whose target stopped reading it: %v, want it left", err)
	}
	if _, err := c.GetBytes(ctx, "s3://b", "o", api.GetOptions{Offset: 1, Length: 4}); err != nil {
		t.Errorf("a range of a remote object answered after the target timeout: %v", err)
	}
	if _, err := c.GetBytes(ctx, "b", "o", api.GetOptions{Offset: 1, Length: 4, Validate: true}); err != nil {
		t.Errorf("a checked read answered after the target timeout: %v", err)
	}
	if _, err := c.Put(ctx, "s3://b", "big", strings.NewReader("body"), api.PutOptions{Size: 4}); err != nil {
		t.Errorf("a PUT into a remote bucket answered after the target timeout: %v", err)
	}
	if _, err := c.ListObjects(ctx, "b", api.ListObjectsMessage{}); err != nil {
		t.Errorf("a listing answered after the gateway timeout: %v", err)
	}
	if _, err := c.GetBytes(ctx, "b", "o", api.GetOptions{Offset: 1, Length: 4}); !errors.Is(err, api.ErrUnavailable) {
		t.Errorf("a range of an ais object answered after the target timeout: %v, want unavailable", err)
	}
	// Patient, a transfer that stops is not waited for: the target that
	// froze mid-answer is left.
	frozen := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/objects/") {
			http.NotFound(w, r) // (no map to route by)
			return
		}
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusPartialContent)
		io.WriteString(w, "data")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	froze := api.NewClient(frozen.URL).SetTargetTimeout(150 * time.Millisecond)
	if _, err := froze.GetBytes(ctx, "s3://b", "o", api.GetOptions{Offset: 1, Length: 100}); err == nil || !strings.Contains(err.Error(), "moved no byte") {
		t.Errorf("a range of a remote object from a target frozen mid-answer: %v, want it left", err)
	}
}

// A change a gateway refused (503), then another took and whose answer
// was lost, is reported as the second's: it may have been applied (the
// first's refusal said nothing was, and a caller sent it again: a job
// started twice).
func TestAnswerLostAfterARefusalIsReportedSo(t *testing.T) {
	refusing := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(api.Error{Status: 503, Kind: "unavailable", Message: "starting"})
	})
	cut := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	})
	err := api.NewClient(refusing.URL).AddGateways(cut.URL).CreateBucket(t.Context(), "b", nil)
	if err == nil || !strings.Contains(err.Error(), "may have been applied") {
		t.Fatalf("a create refused by one gateway whose answer another lost: %v, want it said it may have been applied", err)
	}
}

// A listing whose page tokens go round (a remote's: A, B, A...) stops
// with an error at the token seen before, not listing for ever.
func TestListAllStopsAtAPageThatGoesBack(t *testing.T) {
	var pages atomic.Int64
	g := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/buckets/b" {
			http.NotFound(w, r) // the cluster map: the client stays with this gateway
			return
		}
		var msg struct {
			Value api.ListObjectsMessage `json:"value"`
		}
		json.NewDecoder(r.Body).Decode(&msg)
		pages.Add(1)
		page := api.ListPage{Entries: []api.ListEntry{{Name: "a"}, {Name: "b"}}, ContinuationToken: "t1"}
		if msg.Value.ContinuationToken == "t1" {
			page = api.ListPage{Entries: []api.ListEntry{{Name: "c"}}, ContinuationToken: "t2"}
		}
		json.NewEncoder(w).Encode(page)
	})
	names, err := listUpTo(t, g.URL, 10)
	if err == nil || !strings.Contains(err.Error(), "goes round") || !slices.Equal(names, []string{"a", "b", "c", "a", "b"}) {
		t.Fatalf("a listing whose tokens go round: %v after %v (%d pages), want a, b, c, a, b and an error", err, names, pages.Load())
	}
}

// listUpTo lists bucket b through the gateway at url, up to past limit
// names, and returns them with the listing's error.
func listUpTo(t *testing.T, url string, limit int) ([]string, error) {
	var names []string
	for e, err := range api.NewClient(url).ListAll(t.Context(), "b", api.ListObjectsMessage{}) {
		if err != nil {
			return names, err
		}
		if names = append(names, e.Name); len(names) > limit {
			break
		}
	}
	return names, nil
}

// A listing whose node ignores page tokens (it answers the first page to
// every one) stops at the second page, before its entries: none is
// listed twice.
func TestListAllStopsAtAPageTokenIgnored(t *testing.T) {
	g := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/buckets/b" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(api.ListPage{Entries: []api.ListEntry{{Name: "a"}, {Name: "b"}}, ContinuationToken: "t1"})
	})
	names, err := listUpTo(t, g.URL, 10)
	if err == nil || !strings.Contains(err.Error(), "goes round") || !slices.Equal(names, []string{"a", "b"}) {
		t.Fatalf("a listing whose tokens are ignored: %v after %v, want a, b once and an error", err, names)
	}
}

// A gateway that answers 503 (starting) with the other one known dead
// is waited for and asked again, as a client that knows it alone does:
// the dead one did not end the request at the refusal.
func TestRefusalThenDeadGatewayIsRetried(t *testing.T) {
	var creates atomic.Int64
	flaky := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/buckets/b" {
			http.NotFound(w, r) // the cluster map: the client keeps the gateways it was given
			return
		}
		if creates.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(api.Error{Status: 503, Kind: api.KindUnavailable, Message: "gateway g1 is starting"})
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	client := api.NewClient(flaky.URL).AddGateways(deadURL(t))
	if err := client.CreateBucket(t.Context(), "b", nil); err != nil || creates.Load() != 2 {
		t.Fatalf("a create refused once by a starting gateway, the other dead: %v after %d tries, want done at the second", err, creates.Load())
	}
}
