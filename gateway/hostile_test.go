package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/console"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/internal/egress"
	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/remote"
	"github.com/aisgo/aisgo/store/remote/ht"
)

// objectFile returns the on-disk file of an object of an embedded node.
func objectFile(t *testing.T, c *gatewaytest.Cluster, bucket, name string) string {
	t.Helper()
	for _, mp := range c.Primary().Store.Mountpaths() {
		path := filepath.Join(mp, "ais", bucket, name)
		if _, err := os.Stat(path); err == nil {
			return path
		}
	}
	t.Fatalf("no file for %s/%s", bucket, name)
	return ""
}

// TestDamagedFilesGiveClearErrors: a truncated object file is refused
// with a clear 500 "corrupt", not a 200 with a cut body; a file without
// metadata is not an object, to GET and to listing alike; and no error
// shows where the node keeps its files.
func TestDamagedFilesGiveClearErrors(t *testing.T) {
	c, client := embedded(t)
	ctx := t.Context()
	client.CreateBucket(ctx, "b", nil)
	data := strings.Repeat("0123456789", 100)
	for _, name := range []string{"cut", "bare", "fine"} {
		if _, err := client.Put(ctx, "b", name, strings.NewReader(data), api.PutOptions{Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Truncate(objectFile(t, c, "b", "cut"), 10); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Removexattr(objectFile(t, c, "b", "bare"), "user.ais.meta"); err != nil {
		t.Fatal(err)
	}
	_, _, err := client.Get(ctx, "b", "cut", api.GetOptions{})
	var e *api.Error
	if !errors.As(err, &e) || e.Status != http.StatusInternalServerError || !strings.Contains(e.Message, "10 bytes") || !errors.Is(err, api.ErrCorrupt) {
		t.Fatalf("GET of a truncated file: %v, want 500 corrupt naming the sizes", err)
	}
	_, _, err = client.Get(ctx, "b", "bare", api.GetOptions{})
	if !errors.As(err, &e) || e.Status != http.StatusNotFound {
		t.Fatalf("GET of a file without metadata: %v, want 404", err)
	}
	dir := c.Primary().Dir
	for _, msg := range []string{e.Message, err.Error()} {
		if strings.Contains(msg, dir) || strings.Contains(msg, "/tmp/") {
			t.Fatalf("an error shows the node's files: %s", msg)
		}
	}
	var listed []string
	for entry, err := range client.ListAll(ctx, "b", api.ListObjectsMessage{}) {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, entry.Name)
	}
	if strings.Join(listed, ",") != "cut,fine" {
		t.Fatalf("listing %v: a file GET does not serve is listed, or an object is missing", listed)
	}
}

// TestTricklingBodyIsCut: a PUT whose body arrives a byte at a time is
// cut once it falls below the minimum rate, and leaves no work file.
func TestTricklingBodyIsCut(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, Configure: func(cfg *gateway.Config) {
		cfg.BodyTimeout, cfg.BodyMinRate = 500*time.Millisecond, 64<<10
	}})
	client := c.Client()
	client.CreateBucket(t.Context(), "b", nil)
	// A fast PUT of 1 MiB is not affected.
	big := strings.Repeat("x", 1<<20)
	if _, err := client.Put(t.Context(), "b", "fast", strings.NewReader(big), api.PutOptions{Size: int64(len(big))}); err != nil {
		t.Fatal(err)
	}
	u := strings.TrimPrefix(c.Primary().URL(), "http://")
	if answer := trickle(t, u, "/v1/objects/b/slow?pid=client"); !strings.HasPrefix(answer, "408") {
		t.Fatalf("the trickling PUT ended with %q, want 408", answer)
	}
	// Through the S3 API: S3's 400 RequestTimeout, not a 500.
	if answer := trickle(t, u, "/s3/b/slow"); !strings.HasPrefix(answer, "400") || !strings.Contains(answer, "<Code>RequestTimeout</Code>") {
		t.Fatalf("the trickling S3 PUT ended with %q, want 400 RequestTimeout", answer)
	}
	// Answered before its body is read (a redirect, a missing bucket):
	// the body's rest is read within the grace too, not for as long as
	// the client trickles it.
	for _, path := range []string{"/v1/objects/b/redirected", "/v1/objects/nobucket/o?pid=client"} {
		if answer := trickle(t, u, path); !strings.HasPrefix(answer, "307") && !strings.HasPrefix(answer, "404") && !strings.HasPrefix(answer, "closed") {
			t.Fatalf("a trickling PUT to %s answered before its body was read: %q", path, answer)
		}
	}
	work, _ := os.ReadDir(filepath.Join(c.Primary().Store.Mountpaths()[0], ".ais", "work"))
	if len(work) != 0 {
		t.Fatalf("work files left: %v", work)
	}
	if _, err := client.Head(t.Context(), "b", "slow"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the cut PUT is visible: %v", err)
	}
}

// trickle PUTs 1000 bytes to path a byte every 200 ms, and returns the
// answer's status and body once it comes (10 s at most).
func trickle(t *testing.T, host, path string) string {
	t.Helper()
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000\r\n\r\n", path, host)
	started := time.Now()
	done := make(chan string, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			done <- "closed: " + err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		done <- fmt.Sprintf("%d %s", resp.StatusCode, body)
	}()
	ticker := time.NewTicker(200 * time.Millisecond)
	defer ticker.Stop()
	for range 50 { // at most 10 s
		select {
		case answer := <-done:
			t.Logf("%s cut after %s", path, time.Since(started).Round(time.Millisecond))
			return answer
		case <-ticker.C:
			conn.Write([]byte("x"))
		}
	}
	t.Fatalf("a trickling PUT to %s was still open after 10 s", path)
	return ""
}

// A request naming a bucket of another namespace (AIStore's
// "@uuid#ns") is refused, not served from the global bucket of the name:
// a destroy of ais://@#ns1/b would have destroyed ais://b.
func TestOtherNamespacesAreRefused(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(ctx, "b", "o", strings.NewReader("data"), api.PutOptions{Size: 4}); err != nil {
		t.Fatal(err)
	}
	do := func(method, path, namespace string) int {
		t.Helper()
		u := c.Primary().URL() + path + "?namespace=" + url.QueryEscape(namespace)
		req, _ := http.NewRequestWithContext(ctx, method, u, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct{ method, path string }{
		{http.MethodDelete, "/v1/buckets/b"}, {http.MethodGet, "/v1/objects/b/o"}, {http.MethodDelete, "/v1/objects/b/o"}, {http.MethodHead, "/v1/buckets/b"},
	} {
		if status := do(tc.method, tc.path, "#ns1"); status != http.StatusNotImplemented {
			t.Errorf("%s %s in namespace #ns1: %d, want 501", tc.method, tc.path, status)
		}
	}
	for _, global := range []string{"@#", "#", "@"} {
		if status := do(http.MethodGet, "/v1/objects/b/o", global); status != http.StatusOK {
			t.Errorf("a GET in the global namespace named %q: %d, want 200", global, status)
		}
	}
	if status := do(http.MethodGet, "/v1/objects/b/o", "@uuid#"); status != http.StatusNotImplemented {
		t.Errorf("a GET in another cluster's namespace: %d, want 501", status)
	}
	if _, _, err := client.Get(ctx, "b", "o", api.GetOptions{}); err != nil {
		t.Fatalf("the global bucket's object after the refused requests: %v", err)
	}
}

// The downloader's abort stops downloads only: stopping any other job
// (a scrub, a resilver) takes ADMIN, which its route does not.
func TestDownloadAbortStopsOnlyDownloads(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	id, err := client.Scrub(ctx, "b", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.AbortDownload(ctx, id); !errors.Is(err, api.ErrJobNotFound) {
		t.Fatalf("a download abort of scrub %s: %v, want job not found", id, err)
	}
	j, err := client.WaitJob(ctx, id, 10*time.Millisecond)
	if err != nil || j.Aborted {
		t.Fatalf("the scrub after the refused abort: %+v %v", j, err)
	}
}

// The cloud metadata services outside the link-local range are refused
// as the link-local one is; other routable addresses are not.
func TestFetchRefusesMetadataServices(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true})
	node := c.Primary().Node
	for address, refused := range map[string]bool{
		"[fd00:ec2::254]:80":          true,
		"100.100.100.200:80":          true,
		"169.254.169.254:80":          true,
		"[::ffff:100.100.100.200]:80": true,
		"[fd00:ec2::254%x]:80":        true, // a zone: the same host dialled
		"[fe80::1%eth0]:80":           true, // (link-local, zone or not)
		"192.0.2.10:80":               false,
		"[2001:db8::1]:443":           false,
	} {
		err := gateway.CheckFetchAddress(node, address)
		if refused != (err != nil) || refused && !errors.Is(err, api.ErrForbidden) {
			t.Errorf("%s: %v, want refused %v", address, err, refused)
		}
	}
}

// A cluster node's host is no origin: its node's port is refused always,
// its other ports unless local fetches are allowed.
func TestFetchRefusesTheNodesHost(t *testing.T) {
	defer gateway.SetInterfaceAddrs(func() ([]net.Addr, error) {
		return []net.Addr{&net.IPNet{IP: net.IPv4(127, 0, 0, 1), Mask: net.CIDRMask(8, 32)}, &net.IPNet{IP: net.IPv4(172, 17, 0, 1), Mask: net.CIDRMask(16, 32)}}, nil
	})()
	nodes := []cluster.Node{{ID: "t1", Role: cluster.RoleTarget, URL: "http://10.1.2.3:9090"}, {ID: "g1", Role: cluster.RoleGateway, URL: "http://[2001:db8::7]:8080"},
		{ID: "t3", Role: cluster.RoleTarget, URL: "https://10.1.2.5"},       // the scheme's port
		{ID: "t2", Role: cluster.RoleTarget, URL: "http://LOCALHOST.:7070"}} // named in DNS, as in Kubernetes
	for _, tc := range []struct {
		address    string
		allowLocal bool
		refused    bool
	}{
		{"10.1.2.3:9090", false, true},
		{"10.1.2.3:9090", true, true},
		{"10.1.2.3:22", false, true},
		{"10.1.2.3:22", true, false},
		{"[2001:db8::7]:9999", false, true},
		{"[2001:db8::7%x]:8080", true, true},
		{"10.1.2.4:9090", false, false},
		{"127.0.0.1:7070", true, true},
		{"127.0.0.1:7071", true, false},
		{"10.1.2.5:443", true, true},
		{"10.1.2.5:80", true, false},
		// This host at another of its addresses, at the port of a node
		// of this host: a node listening on every address is there,
		// whatever its URL. Not at another host's node's port.
		{"0.0.0.0:7070", true, true},
		{"[::]:7070", true, true},
		{"127.0.0.2:7070", true, true},
		{"[::ffff:127.0.0.1]:7070", true, true},
		{"172.17.0.1:7070", true, true}, // (a bridge's address of this host)
		{"0.0.0.0:7071", true, false},
		{"127.0.0.2:8080", true, false},
		{"172.17.0.1:7071", true, false},
	} {
		err := gateway.CheckFetchAddressOf(t.Context(), tc.address, nodes, tc.allowLocal)
		if tc.refused != (err != nil) || tc.refused && !errors.Is(err, api.ErrForbidden) {
			t.Errorf("%s (local fetches allowed: %v): %v, want refused %v", tc.address, tc.allowLocal, err, tc.refused)
		}
	}
	// This node's own port on this host, its URL another address (a
	// port published from a container, an elastic IP): refused.
	published := []cluster.Node{{ID: "t9", Role: cluster.RoleTarget, URL: "http://192.0.2.77:8081"}}
	if err := gateway.CheckFetchAddressAs(t.Context(), "127.0.0.1:8081", published, "t9", true); !errors.Is(err, api.ErrForbidden) {
		t.Errorf("this node's port on loopback, its URL elsewhere: %v, want refused", err)
	}
	if err := gateway.CheckFetchAddressAs(t.Context(), "127.0.0.1:8081", published, "g1", true); err != nil {
		t.Errorf("another host's node's port on loopback: %v, want allowed", err)
	}
	// A node whose name does not resolve now (DNS down): an address
	// cannot be told from its, and the fetch is refused, not let through.
	unresolved := []cluster.Node{{ID: "t3", Role: cluster.RoleTarget, URL: "http://no-such-node.invalid:9090"}}
	if err := gateway.CheckFetchAddressOf(t.Context(), "10.9.9.9:80", unresolved, false); !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "does not resolve") {
		t.Fatalf("a fetch while a node's name does not resolve: %v, want refused as unavailable", err)
	}
	// An offline node's name withdrawn (a pod not ready): the others
	// still fetch, but not at its port (its address is not known).
	unresolved[0].State = cluster.StateOffline
	if err := gateway.CheckFetchAddressOf(t.Context(), "10.9.9.9:80", unresolved, false); err != nil {
		t.Fatalf("a fetch while an offline node's name does not resolve: %v", err)
	}
	if err := gateway.CheckFetchAddressOf(t.Context(), "10.9.9.9:9090", unresolved, false); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("a fetch at an offline node's port while its name does not resolve: %v, want refused", err)
	}
}

// A node's name that stops resolving for a while (the DNS down) keeps
// its last addresses, so a fetch to them is still refused; one the DNS
// says is gone is not kept.
func TestFetchKeepsANodesLastAddressesWhileTheDNSIsDown(t *testing.T) {
	gateway.ForgetNodeAddrs()
	defer gateway.ForgetNodeAddrs()
	var answer func() ([]netip.Addr, error)
	defer gateway.SetLookupNetIP(func(context.Context, string, string) ([]netip.Addr, error) { return answer() })()
	nodes := []cluster.Node{{ID: "t1", Role: cluster.RoleTarget, URL: "http://t1.cluster.example:9090"}}
	answer = func() ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("10.7.7.7")}, nil }
	if err := gateway.CheckFetchAddressOf(t.Context(), "10.7.7.7:9090", nodes, false); !errors.Is(err, api.ErrForbidden) {
		t.Fatalf("a fetch at the node: %v, want refused", err)
	}
	gateway.AgeNodeAddrs()
	answer = func() ([]netip.Addr, error) { return nil, &net.DNSError{Err: "server misbehaving", IsTemporary: true} }
	if err := gateway.CheckFetchAddressOf(t.Context(), "10.7.7.7:9090", nodes, false); !errors.Is(err, api.ErrForbidden) {
		t.Fatalf("a fetch at the node while the DNS is down: %v, want refused by its last addresses", err)
	}
	gateway.AgeNodeAddrs()
	answer = func() ([]netip.Addr, error) { return nil, &net.DNSError{Err: "no such host", IsNotFound: true} }
	if err := gateway.CheckFetchAddressOf(t.Context(), "10.7.7.7:9090", nodes, false); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("a fetch while the node's name is gone: %v, want refused as unavailable (not by stale addresses)", err)
	}
}

// The downloader, the proxy and ht:// origins fetch URLs users give: not
// from the node's own host (loopback) or the link-local cloud metadata
// service, unless the config lets them; the refusal names why.
func TestFetchesStayOffLocalAddresses(t *testing.T) {
	var hits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "secret of the host")
	}))
	defer origin.Close()
	for _, allow := range []bool{false, true} {
		// ht:// origins as aisnode has them, their dials checked by the node.
		var node atomic.Pointer[gateway.Node]
		origins := ht.Resolve(ht.NewClient(egress.Route{DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			return node.Load().FetchRoute().DialContext(ctx, network, address)
		}}))
		c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, Configure: func(cfg *gateway.Config) {
			cfg.FetchAllowLocal = allow
			cfg.RemoteBuckets = remote.Buckets{Resolve: origins}
			cfg.Remote = func(st store.Store) store.Store { return remote.New(st, origins) }
		}})
		node.Store(c.Primary().Node)
		client := c.Client()
		ctx := t.Context()
		if err := client.CreateBucket(ctx, "dl", nil); err != nil {
			t.Fatal(err)
		}
		links := []string{origin.URL + "/file", "http://169.254.169.254/latest/meta-data/iam"}
		id, err := client.StartDownload(ctx, api.DownloadRequest{Type: api.DownloadMulti, Bucket: api.Bck{Name: "dl"}, Links: links, Timeout: "2s"})
		if err != nil {
			t.Fatal(err)
		}
		var s api.DownloadStatus
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if s, err = client.DownloadStatus(ctx, id); err != nil || s.Done || time.Now().After(deadline) {
				break
			}
		}
		if err != nil || !s.Done {
			t.Fatalf("allow %v: the download job: %+v %v", allow, s, err)
		}
		refused := 0
		for _, e := range s.Errors {
			if strings.Contains(e.Error, "loopback or link-local") {
				refused++
			}
		}
		switch {
		case !allow && (refused != 2 || hits.Load() != 0):
			t.Fatalf("fetches of local addresses: %+v, %d reached the host; want both refused, naming why", s.Errors, hits.Load())
		case allow && (s.Finished != 1 || hits.Load() != 1):
			t.Fatalf("with fetch_allow_local, the host's file: %+v", s)
		}
		// The proxy (http_proxy set to the gateway) likewise.
		proxied := &http.Client{Transport: &http.Transport{Proxy: func(*http.Request) (*url.URL, error) { return url.Parse(c.Primary().URL()) }}}
		resp, err := proxied.Get(origin.URL + "/other")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !allow && (resp.StatusCode < 400 || !strings.Contains(string(body), "loopback or link-local")) {
			t.Fatalf("a proxied GET of the host: %d %s", resp.StatusCode, body)
		}
		if allow && (resp.StatusCode != http.StatusOK || string(body) != "secret of the host") {
			t.Fatalf("a proxied GET with fetch_allow_local: %d %s", resp.StatusCode, body)
		}
		hits.Store(0)
	}
	// No bucket for an origin that does not answer.
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, Configure: func(cfg *gateway.Config) { cfg.FetchAllowLocal = true }})
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	proxied := &http.Client{Transport: &http.Transport{Proxy: func(*http.Request) (*url.URL, error) { return url.Parse(c.Primary().URL()) }}}
	resp, err := proxied.Get(gone.URL + "/file")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	buckets, err := c.Client().ListBuckets(t.Context())
	if resp.StatusCode < 400 || err != nil || len(buckets) != 0 {
		t.Fatalf("a proxied GET of an origin that is gone: %s; buckets %v %v", resp.Status, buckets, err)
	}
}

// A download job on a target stopped gracefully (a rolling restart)
// resumes when it starts again, as after a crash.
func TestDownloadResumesAfterAStop(t *testing.T) {
	// f-3 stalls until the target has stopped.
	var stopped atomic.Bool
	origin := stallingOrigin(t, func(path string) bool { return path == "/f-3" }, &stopped)
	c, client := downloadCluster(t)
	ctx := t.Context()
	// An older copy of f-3, stored before the job: the resumed job
	// fetches it again (it is not the job's).
	if _, err := client.Put(ctx, "dl", "f-3", strings.NewReader("an older f-3"), api.PutOptions{Size: 12}); err != nil {
		t.Fatal(err)
	}
	id := startRange(t, client, origin.URL+"/f-{0..3}")
	waitFor := func(name string) {
		t.Helper()
		eventually(t, func() bool { _, err := client.Head(ctx, "dl", name); return err == nil }, name+" was not downloaded")
	}
	waitFor("f-2")
	target := c.Targets()[0]
	c.Kill(target) // Node.Close: its jobs end as at a shutdown
	c.WaitForState(target.Node.ID(), cluster.StateOffline)
	// An abort now would stop the job everywhere but where it resumes.
	short, cancel := context.WithTimeout(ctx, 2*time.Second) // no retries of the 503 for long
	err := client.AbortDownload(short, id)
	cancel()
	if err == nil || !strings.Contains(err.Error(), "offline") {
		t.Fatalf("an abort while a target of the job is offline: %v, want 503 naming it", err)
	}
	stopped.Store(true)
	c.Restart(target)
	eventually(t, func() bool {
		got, err := client.GetBytes(ctx, "dl", "f-3", api.GetOptions{})
		return err == nil && string(got) == "file /f-3"
	}, "the resumed job did not fetch f-3 again over its older copy")
	// What the job stored before the stop was not fetched again.
	eventually(t, func() bool {
		status, err := client.DownloadStatus(ctx, id)
		return err == nil && status.Skipped >= 1
	}, "the resumed job fetched again what it had stored")
}

// The proxy names an object by its URL's path: a URL with a query is
// another resource, refused rather than served as the path's object.
func TestProxyRefusesQueries(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "resource "+r.URL.RequestURI())
	}))
	defer origin.Close()
	origins := ht.Resolve(ht.NewClient(egress.Checked(nil)))
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, Configure: func(cfg *gateway.Config) {
		cfg.FetchAllowLocal = true
		cfg.RemoteBuckets = remote.Buckets{Resolve: origins}
		cfg.Remote = func(st store.Store) store.Store { return remote.New(st, origins) }
	}})
	proxied := &http.Client{Transport: &http.Transport{Proxy: func(*http.Request) (*url.URL, error) { return url.Parse(c.Primary().URL()) }}}
	get := func(link string) (int, string) {
		resp, err := proxied.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if status, body := get(origin.URL + "/get"); status != http.StatusOK || body != "resource /get" {
		t.Fatalf("a proxied GET: %d %q", status, body)
	}
	for _, link := range []string{origin.URL + "/get?id=2", origin.URL + "/a%2Fb"} {
		if status, body := get(link); status != http.StatusBadRequest || !strings.Contains(body, "another resource") {
			t.Fatalf("a proxied GET of %s: %d %q, want 400 saying why", link, status, body)
		}
	}
	// A path the console's API has on the gateway is the origin's here.
	if status, body := get(origin.URL + console.APIPrefix + "v1/data.bin"); status != http.StatusOK || body != "resource "+console.APIPrefix+"v1/data.bin" {
		t.Fatalf("a proxied GET of a path under the console's API: %d %q", status, body)
	}
	// A directory is not a file: not fetched as its index.html.
	for _, link := range []string{origin.URL + "/", origin.URL + "/dir/"} {
		if status, body := get(link); status != http.StatusBadRequest || !strings.Contains(body, "names a directory") {
			t.Fatalf("a proxied GET of %s: %d %q, want 400 saying why", link, status, body)
		}
	}
}

// Through an HTTP proxy of the environment, a fetch's destination is
// checked before the proxy is used: the dial check sees only the proxy.
func TestFetchesThroughAProxyStayOffLocalAddresses(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true})
	proxy, _ := url.Parse("http://203.0.113.7:3128")
	choose := gateway.FetchProxy(c.Primary().Node, func(*http.Request) (*url.URL, error) { return proxy, nil })
	for _, link := range []string{"http://127.0.0.1:9000/x", "http://169.254.169.254/latest/meta-data/", "http://localhost/x", "https://[::1]/x"} {
		req := httptest.NewRequest(http.MethodGet, link, nil)
		if got, err := choose(req); err == nil || !strings.Contains(err.Error(), "loopback or link-local") {
			t.Fatalf("%s through a proxy: %v %v, want refused", link, got, err)
		}
	}
	req := httptest.NewRequest(http.MethodGet, "http://198.51.100.9/data.tar", nil)
	if got, err := choose(req); err != nil || got != proxy {
		t.Fatalf("a public address through the proxy: %v %v", got, err)
	}
}

// The environment's proxy may be on the node's own host (a sidecar): the
// fetches' hop to it (downloads, ht:// origins, buckets' endpoints) is
// dialed (told by the address the transport asks for, before any name
// resolves); any other local address, a link naming the proxy's address,
// and the dials that take no proxy (CONNECT, an ekm_file) are refused.
func TestDownloadsReachTheEnvironmentsProxyOnLoopback(t *testing.T) {
	// net/http reads the environment's proxies once per process: read
	// before they are set, the other tests' clients keep going direct.
	http.ProxyFromEnvironment(httptest.NewRequest(http.MethodGet, "http://198.51.100.1/", nil))
	listen := func() net.Listener {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	proxy, other := listen(), listen()
	t.Setenv("HTTP_PROXY", "http://"+proxy.Addr().String())
	t.Setenv("http_proxy", "http://"+other.Addr().String()) // not read: HTTP_PROXY is set
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true})
	node := c.Primary().Node
	dial := gateway.FetchDial(node)
	conn, err := dial(t.Context(), "tcp", proxy.Addr().String())
	if err != nil {
		t.Fatalf("the downloader's dial of the environment's proxy: %v", err)
	}
	conn.Close()
	_, port, _ := net.SplitHostPort(proxy.Addr().String())
	for _, addr := range []string{other.Addr().String(), "localhost:" + port} {
		if _, err := dial(t.Context(), "tcp", addr); !errors.Is(err, api.ErrForbidden) {
			t.Fatalf("the downloader's dial of %s, no proxy's: %v, want refused", addr, err)
		}
	}
	if err := node.FetchControl(t.Context(), "tcp", proxy.Addr().String(), nil); !errors.Is(err, api.ErrForbidden) {
		t.Fatalf("another fetch's dial of the proxy: %v, want refused", err)
	}
	choose := gateway.FetchProxy(node, func(*http.Request) (*url.URL, error) { return nil, nil })
	_, port, _ = net.SplitHostPort(proxy.Addr().String())
	for _, host := range []string{"127.0.0.1", "１２７.０.０.１"} { // full-width: net/http dials it as 127.0.0.1
		link := &url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), Path: "/squid-internal-mgr/info"}
		if _, err := choose(&http.Request{Method: http.MethodGet, URL: link, Header: http.Header{}}); !errors.Is(err, api.ErrForbidden) {
			t.Fatalf("a link to the proxy's own address %s: %v, want refused", link, err)
		}
	}
}

// A target that joins while a download job runs takes no files from it:
// the targets the job started on fetch every file, each into its owner.
func TestDownloadAcrossAJoin(t *testing.T) {
	// The first files come at once; the rest wait for the join, with the
	// job's walk of the names under way.
	c, client, id, joined := stalledDownload(t, 1)
	c.AddTarget()
	c.WaitForMap(3)
	joined.Store(true)
	s := waitDownload(t, client, id)
	if len(s.Errors) > 0 {
		t.Fatalf("the download job: %+v", s)
	}
	checkDownloaded(t, client, "after the join")
}

// A target decommissioned while a download job runs fetches its share of
// the files before it leaves: no other target fetches them, and a target
// that left is stopped.
func TestDownloadAcrossALeave(t *testing.T) {
	c, client, id, released := stalledDownload(t, 2)
	ctx := t.Context()
	leaving := decommission(t, c, client)
	// A gateway behind on the map cannot give it a share of a new job.
	body, _ := json.Marshal(peer.JobRequest{Kind: "download", Bucket: store.NewBucket("dl"), Targets: []string{leaving.Node.ID()},
		Download: json.RawMessage(`{"type":"single","bucket":{"name":"dl"},"link":"http://198.51.100.1/f"}`)})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, leaving.URL()+"/v1/internal/jobs", bytes.NewReader(body))
	resp, err := c.PeerClient(c.Primary().Node.ID()).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(answer), "is leaving") {
		t.Fatalf("a new download on a leaving target: %d %s", resp.StatusCode, answer)
	}
	released.Store(true)
	waitGone(t, client, leaving)
	c.Kill(leaving)
	// Its files are stored (and moved to the others), but its counts left
	// with it: the status says so rather than total less.
	s, err := client.DownloadStatus(ctx, id)
	if err != nil || !s.Done || len(s.Errors) != 1 || !strings.Contains(s.Errors[0].Error, "target "+leaving.Node.ID()+" has left the cluster") {
		t.Fatalf("the download job: %+v %v", s, err)
	}
	checkDownloaded(t, client, "after the leave")
}

// A leaving target stopped during its download does not leave: it
// resumes its share when it starts again, still leaving, and leaves once
// the share is fetched.
func TestLeavingTargetStoppedMidDownloadStays(t *testing.T) {
	c, client, id, released := stalledDownload(t, 2)
	ctx := t.Context()
	leaving := decommission(t, c, client)
	c.Kill(leaving)
	time.Sleep(300 * time.Millisecond)
	if m, err := client.Map(ctx); err != nil {
		t.Fatal(err)
	} else if _, ok := m.Node(leaving.Node.ID()); !ok {
		t.Fatal("the leaving target left as it stopped, its download share unfetched")
	}
	released.Store(true)
	leavesOnceDone(t, c, client, id, c.Restart(leaving), "after the restart and the leave")
}

// leavesOnceDone waits for a download to end and a leaving target back
// from a stop to leave, then reads back every file.
func leavesOnceDone(t *testing.T, c *gatewaytest.Cluster, client *api.Client, id string, back *gatewaytest.Member, when string) {
	t.Helper()
	waitDownload(t, client, id)
	waitGone(t, client, back)
	c.Kill(back)
	checkDownloaded(t, client, when)
}

// A leaving target that goes offline (the primary missed its keepalives)
// and comes back goes on leaving: it does not own objects again, and it
// leaves once its download share is fetched.
func TestLeavingTargetBackFromOfflineStaysLeaving(t *testing.T) {
	c, client, id, released := stalledDownload(t, 2)
	leaving := decommission(t, c, client)
	c.Kill(leaving)
	c.WaitForState(leaving.Node.ID(), cluster.StateOffline)
	back := c.Restart(leaving)
	c.WaitForState(back.Node.ID(), cluster.StateLeaving)
	released.Store(true)
	leavesOnceDone(t, c, client, id, back, "after the leaving target was offline")
}

// A download whose origin sends no length stops at out_of_space while
// its body streams in, rather than fill the disk; it stores nothing.
func TestDownloadStopsAtOutOfSpaceMidBody(t *testing.T) {
	full := make(chan struct{})
	chunk := bytes.Repeat([]byte{1}, 1<<20)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// No Content-Length: chunked, of a length nobody knows.
		for i := range 80 {
			if i == 4 {
				w.(http.Flusher).Flush()
				select {
				case <-full:
				case <-r.Context().Done():
					return
				}
			}
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer origin.Close()
	_, client := downloadClusterOf(t, 1)
	ctx := t.Context()
	id := startRange(t, client, origin.URL+"/big-{0..0}")
	time.Sleep(200 * time.Millisecond) // the body is streaming in
	if _, err := client.SetClusterConfig(ctx, map[string]any{"space": map[string]any{"lowwm": 1, "highwm": 2, "out_of_space": 3}}); err != nil {
		t.Fatal(err)
	}
	close(full)
	s := waitDownload(t, client, id)
	if s.Finished != 0 || !strings.Contains(fmt.Sprint(s.Errors), "out_of_space") {
		t.Fatalf("a download past out_of_space: %+v", s)
	}
	if _, err := client.Head(ctx, "dl", "big-0"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the object of a download stopped at out_of_space: %v", err)
	}
}

// decommission takes the first target out of the cluster during a
// stalledDownload and returns it once its objects moved, still leaving.
func decommission(t *testing.T, c *gatewaytest.Cluster, client *api.Client) *gatewaytest.Member {
	t.Helper()
	ctx := t.Context()
	leaving := c.Targets()[0]
	if err := client.RemoveNode(ctx, leaving.Node.ID()); err != nil {
		t.Fatal(err)
	}
	// Its objects move away; it stays, leaving, while its files wait.
	eventually(t, func() bool {
		list, err := leaving.Store.List(ctx, store.NewBucket("dl"), store.ListOptions{Limit: 1})
		return err == nil && len(list) == 0
	}, "the leaving target kept its objects")
	time.Sleep(200 * time.Millisecond)
	if m, err := client.Map(ctx); err != nil {
		t.Fatal(err)
	} else if node, ok := m.Node(leaving.Node.ID()); !ok || node.State != cluster.StateLeaving {
		t.Fatalf("the target left with its download share unfetched: %+v", node)
	}
	return leaving
}

// waitGone waits until a target is out of the map.
func waitGone(t *testing.T, client *api.Client, m *gatewaytest.Member) {
	t.Helper()
	eventually(t, func() bool {
		smap, err := client.Map(t.Context())
		if err != nil {
			return false
		}
		_, still := smap.Node(m.Node.ID())
		return !still
	}, "the target did not leave once its download ended")
}

// A download's status names a target of the job that does not answer:
// its files are not counted, and the job does not look complete.
func TestDownloadStatusNamesASilentTarget(t *testing.T) {
	c, client, id, released := stalledDownload(t, 2)
	ctx := t.Context()
	silent := c.Targets()[1]
	c.Kill(silent)
	released.Store(true)
	var s api.DownloadStatus
	eventually(t, func() bool {
		var err error
		s, err = client.DownloadStatus(ctx, id)
		return err == nil && !s.Running
	}, "the download did not end on the target that answers")
	if !strings.Contains(fmt.Sprint(s.Errors), "target "+silent.Node.ID()+" did not answer") {
		t.Fatalf("the status does not name the target of the job that did not answer: %+v", s)
	}
	if s.Done {
		t.Fatalf("the job is done while a target of it does not answer (its part resumes when it is back): %+v", s)
	}
}

// A target that joins while a prefetch runs takes no names from it: every
// name is fetched, each into its owner of the moment.
func TestPrefetchAcrossAJoin(t *testing.T) {
	var joined atomic.Bool
	origin := stallingOrigin(t, func(path string) bool { return path > "/f-03" }, &joined)
	c, bucket := originCluster(t, 1, origin)
	client := c.Client()
	ctx := t.Context()
	id, err := client.Prefetch(ctx, bucket, api.ListRange{Template: "f-{00..39}"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		e, err := client.ListObjects(ctx, bucket, api.ListObjectsMessage{Flags: api.ListCached})
		return err == nil && len(e.Entries) >= 4
	}, "the first names were not prefetched")
	c.AddTarget()
	c.WaitForMap(3)
	joined.Store(true)
	if j, err := client.WaitJob(ctx, id, 20*time.Millisecond); err != nil || j.Aborted || len(j.Errors) > 0 {
		t.Fatalf("the prefetch: %+v %v", j, err)
	}
	cached, err := client.ListObjects(ctx, bucket, api.ListObjectsMessage{Flags: api.ListCached})
	if err != nil || len(cached.Entries) != 40 {
		t.Fatalf("cached after the prefetch across a join: %d objects, %v; want 40", len(cached.Entries), err)
	}
	// An ht:// bucket takes no writes: the proxy fills it from its origin.
	if _, err := client.Put(ctx, bucket, "f-00", strings.NewReader("forged"), api.PutOptions{Size: 6}); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("a PUT into an ht:// bucket: %v", err)
	}
	if got, err := client.GetBytes(ctx, bucket, "f-00", api.GetOptions{}); err != nil || string(got) != "file /f-00" {
		t.Fatalf("the cached copy after a refused PUT: %q %v", got, err)
	}
}

// A prefetch of a template with gaps (names the origin does not have)
// fetches the rest: a missing name does not stop the job.
func TestPrefetchSkipsMissingNames(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "1") || strings.HasSuffix(r.URL.Path, "3") {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "file "+r.URL.Path)
	}))
	t.Cleanup(origin.Close)
	c, bucket := originCluster(t, 2, origin)
	client := c.Client()
	ctx := t.Context()
	id, err := client.Prefetch(ctx, bucket, api.ListRange{Template: "f-{00..19}"})
	if err != nil {
		t.Fatal(err)
	}
	if j, err := client.WaitJob(ctx, id, 20*time.Millisecond); err != nil || j.Aborted || len(j.Errors) > 0 {
		t.Fatalf("the prefetch: %+v %v", j, err)
	}
	cached, err := client.ListObjects(ctx, bucket, api.ListObjectsMessage{Flags: api.ListCached})
	if err != nil || len(cached.Entries) != 16 {
		t.Fatalf("cached after the prefetch: %d objects, %v; want the 16 the origin has", len(cached.Entries), err)
	}
	// An origin cannot be listed: a prefix (or a template without
	// ranges, or nothing) is refused, not taken for no objects.
	for _, lr := range []api.ListRange{{}, {Template: "f-"}} {
		if _, err := client.Prefetch(ctx, bucket, lr); !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "cannot be listed") {
			t.Fatalf("a prefetch of %+v from an origin: %v, want 400 saying it cannot be listed", lr, err)
		}
	}
}

// A conditional GET of an object not cached yet answers its 304 (or 412)
// from the origin's HEAD, without fetching the object first: a GET
// opened would have read all of it before the answer went.
func TestConditionalGetOfAnUncachedObjectFetchesNothing(t *testing.T) {
	const size = 64 << 20
	var served atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Length", strconv.Itoa(size))
		if r.Method == http.MethodHead {
			return
		}
		chunk := make([]byte, 1<<20)
		for range size / len(chunk) {
			n, err := w.Write(chunk)
			served.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(origin.Close)
	c, bucket := originCluster(t, 1, origin)
	b, err := store.ParseBucketURI(bucket)
	if err != nil {
		t.Fatal(err)
	}
	served.Store(0)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, c.Primary().URL()+"/v1/objects/"+url.PathEscape(b.Name)+"/big?provider="+b.Provider, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("If-None-Match", `"v1"`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("a GET with the origin's ETag as If-None-Match: %s, want 304", resp.Status)
	}
	if n := served.Load(); n >= size {
		t.Fatalf("the origin served %d of the object's %d bytes for a 304", n, size)
	}
}

// originCluster is a cluster of targets whose ht:// buckets fetch from
// local HTTP servers, and the bucket of origin, which a GET through the
// gateway as a proxy makes.
func originCluster(t *testing.T, targets int, origin *httptest.Server) (*gatewaytest.Cluster, string) {
	origins := ht.Resolve(ht.NewClient(egress.Checked(nil)))
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: targets, Configure: func(cfg *gateway.Config) {
		cfg.FetchAllowLocal = true
		cfg.RemoteBuckets = remote.Buckets{Resolve: origins}
		cfg.Remote = func(st store.Store) store.Store { return remote.New(st, origins) }
	}})
	proxied := &http.Client{Transport: &http.Transport{Proxy: func(*http.Request) (*url.URL, error) { return url.Parse(c.Primary().URL()) }}}
	resp, err := proxied.Get(origin.URL + "/f-00")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	host, _ := url.Parse(origin.URL)
	return c, "ht://" + strings.NewReplacer(":", "_").Replace(host.Host)
}

// stallingOrigin serves "file PATH" for each path; those stall chooses
// wait until release is set (or their client gives up).
func stallingOrigin(t *testing.T, stall func(path string) bool, release *atomic.Bool) *httptest.Server {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for stall(r.URL.Path) && !release.Load() {
			select {
			case <-time.After(10 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		io.WriteString(w, "file "+r.URL.Path)
	}))
	t.Cleanup(origin.Close)
	return origin
}

// eventually waits up to 20s for done, failing with what otherwise.
func eventually(t *testing.T, done func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !done(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
	}
}

// A new download job fetches a file again when its object is stored (the
// origin may have changed it); only a resumed job skips what it stored.
func TestNewDownloadFetchesAgain(t *testing.T) {
	var version atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "version %d", version.Load())
	}))
	defer origin.Close()
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, Configure: func(cfg *gateway.Config) { cfg.FetchAllowLocal = true }})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "dl", nil); err != nil {
		t.Fatal(err)
	}
	for v := range int64(2) {
		version.Store(v)
		id, err := client.StartDownload(ctx, api.DownloadRequest{Type: api.DownloadSingle, Bucket: api.Bck{Name: "dl"}, ObjectName: "f", Link: origin.URL + "/f"})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, func() bool { s, err := client.DownloadStatus(ctx, id); return err == nil && s.Done }, "the download job did not end")
		if got, err := client.GetBytes(ctx, "dl", "f", api.GetOptions{}); err != nil || string(got) != fmt.Sprintf("version %d", v) {
			t.Fatalf("after download %d: %q, %v", v, got, err)
		}
		// AIStore's clients name the job in a JSON body, not the query.
		status, body, _ := call(t, http.MethodGet, c.Primary().URL()+"/v1/download", nil, `{"id":"`+id+`"}`)
		var s api.DownloadStatus
		if status != http.StatusOK || json.Unmarshal(body, &s) != nil || s.ID != id || !s.Done {
			t.Fatalf("status of %s asked by body: %d %s", id, status, body)
		}
	}
	if status, body, _ := call(t, http.MethodDelete, c.Primary().URL()+"/v1/download/remove", nil, `{"id":"dnl-unknown"}`); status != http.StatusNotFound {
		t.Fatalf("remove of an unknown job named by body: %d %s, want 404", status, body)
	}
}

// A job request's list of targets is a peer's input: a long one is
// refused, not expanded.
func TestJobTargetsAreBounded(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1})
	if err := c.Client().CreateBucket(t.Context(), "dl", nil); err != nil {
		t.Fatal(err)
	}
	primary := c.Primary().Node.ID()
	targets := make([]string, 10001)
	for i := range targets {
		targets[i] = fmt.Sprintf("t%d", i)
	}
	body, _ := json.Marshal(peer.JobRequest{Kind: "download", Bucket: store.NewBucket("dl"), Download: json.RawMessage(`{"type":"single","bucket":{"name":"dl"},"link":"http://198.51.100.1/f"}`), Targets: targets})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, c.Targets()[0].URL()+"/v1/internal/jobs", bytes.NewReader(body))
	resp, err := c.PeerClient(primary).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(answer), "10001 targets") {
		t.Fatalf("a job naming 10001 targets: %d %s", resp.StatusCode, answer)
	}
}

// downloadCluster is a gateway and a target that fetch from loopback,
// with the bucket "dl".
func downloadCluster(t *testing.T) (*gatewaytest.Cluster, *api.Client) {
	return downloadClusterOf(t, 1)
}

// downloadClusterOf is downloadCluster with that many targets.
func downloadClusterOf(t *testing.T, targets int) (*gatewaytest.Cluster, *api.Client) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: targets, Configure: func(cfg *gateway.Config) { cfg.FetchAllowLocal = true }})
	client := c.Client()
	if err := client.CreateBucket(t.Context(), "dl", nil); err != nil {
		t.Fatal(err)
	}
	return c, client
}

// stalledDownload starts a download of f-00..f-39 into "dl" on a cluster
// of that many targets, and returns once f-00..f-03 are stored: the
// origin holds the other files until release is set.
func stalledDownload(t *testing.T, targets int) (c *gatewaytest.Cluster, client *api.Client, id string, release *atomic.Bool) {
	release = new(atomic.Bool)
	origin := stallingOrigin(t, func(path string) bool { return path > "/f-03" }, release)
	c, client = downloadClusterOf(t, targets)
	id = startRange(t, client, origin.URL+"/f-{00..39}")
	eventually(t, func() bool { _, err := client.Head(t.Context(), "dl", "f-03"); return err == nil }, "the first files were not downloaded")
	// While it runs, its status counts every file of the job.
	if s, err := client.DownloadStatus(t.Context(), id); err != nil || !s.Running || s.Total != 40 {
		t.Fatalf("the status of the running download: %+v %v, want running with a total of 40", s, err)
	}
	return c, client, id, release
}

// checkDownloaded reads back every file of stalledDownload.
func checkDownloaded(t *testing.T, client *api.Client, when string) {
	t.Helper()
	for i := range 40 {
		name := fmt.Sprintf("f-%02d", i)
		if got, err := client.GetBytes(t.Context(), "dl", name, api.GetOptions{}); err != nil || string(got) != "file /"+name {
			t.Fatalf("%s %s: %q, %v", name, when, got, err)
		}
	}
}

// A target offline before a download started has no part of it: the
// job is aborted and removed without waiting for it.
func TestDownloadAbortsWithATargetOfflineNotOfTheJob(t *testing.T) {
	release := new(atomic.Bool)
	defer release.Store(true)
	origin := stallingOrigin(t, func(path string) bool { return path > "/f-1" }, release)
	c, client := downloadClusterOf(t, 2)
	gone := c.Targets()[1]
	c.Kill(gone)
	c.WaitForState(gone.Node.ID(), cluster.StateOffline)
	id := startRange(t, client, origin.URL+"/f-{0..9}")
	eventually(t, func() bool { _, err := client.Head(t.Context(), "dl", "f-1"); return err == nil }, "the first files were not downloaded")
	if err := client.AbortDownload(t.Context(), id); err != nil {
		t.Fatalf("an abort with a target offline that has no part of the job: %v", err)
	}
	eventually(t, func() bool { s, err := client.DownloadStatus(t.Context(), id); return err == nil && s.Done }, "the aborted download did not end")
	if err := client.RemoveDownload(t.Context(), id); err != nil {
		t.Fatalf("a remove with a target offline that has no part of the job: %v", err)
	}
}

// A range of links as long as a presigned URL (1 KiB and more) is taken,
// as the same links one by one are: a link is not an object's name.
func TestDownloadRangeOfLongLinks(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "data") }))
	t.Cleanup(origin.Close)
	_, client := downloadCluster(t)
	id := startRange(t, client, origin.URL+"/f-{0..2}?Signature="+strings.Repeat("s", 1100))
	if s := waitDownload(t, client, id); s.Finished != 3 || len(s.Errors) > 0 {
		t.Fatalf("a range of 1 KiB links: %+v", s)
	}
}

// An abort that comes while a gateway still starts a job target after
// target finds it on none yet: a target it reached is told, and refuses
// the job's start that comes after (it would run, the job read aborted).
func TestJobAbortedBeforeItStartedDoesNotStart(t *testing.T) {
	release := new(atomic.Bool) // (files stall: the target that started has none before its abort)
	origin := stallingOrigin(t, func(string) bool { return true }, release)
	c, client := downloadClusterOf(t, 2)
	const id = "download-0badf00d"
	defer gateway.SetNewJobID(func(string) string { return id })()
	// The gateway's abort, as it reaches the second target while the
	// first has the job: not known there yet (404).
	second := c.Targets()[1]
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodDelete, second.URL()+"/v1/internal/jobs/"+id, nil)
	resp, err := c.PeerClient(c.Primary().Node.ID()).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the abort of a job the target does not know: %d, want 404", resp.StatusCode)
	}
	if _, err := client.StartDownload(t.Context(), api.DownloadRequest{Type: api.DownloadRange, Bucket: api.Bck{Name: "dl"}, Template: origin.URL + "/f-{0..3}"}); err == nil || !strings.Contains(err.Error(), "aborted before it started") {
		t.Fatalf("the start of a job aborted before it started: %v, want refused", err)
	}
	release.Store(true)
	for i := range 4 {
		if _, err := client.Head(t.Context(), "dl", fmt.Sprintf("f-%d", i)); !errors.Is(err, api.ErrNotFound) {
			t.Fatalf("f-%d of the job aborted before it started: %v, want not downloaded", i, err)
		}
	}
}

// A bucket destroyed under a running download (and made again) ends the
// job: it writes nothing into the new bucket of the name.
func TestDownloadEndsWithItsBucket(t *testing.T) {
	_, client, id, release := stalledDownload(t, 1)
	ctx := t.Context()
	if err := client.DestroyBucket(ctx, "dl"); err != nil {
		t.Fatal(err)
	}
	if err := client.CreateBucket(ctx, "dl", nil); err != nil {
		t.Fatal(err)
	}
	release.Store(true)
	eventually(t, func() bool { s, err := client.DownloadStatus(ctx, id); return err == nil && s.Done }, "the download did not end with its bucket")
	var listed []string
	for e, err := range client.ListAll(ctx, "dl", api.ListObjectsMessage{}) {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, e.Name)
	}
	if len(listed) > 0 {
		t.Fatalf("the download of the destroyed bucket wrote %v into the new one", listed)
	}
}

// A job started (or resumed) for a bucket as made before is refused by a
// target whose bucket of the name was made again since.
func TestJobOfABucketMadeAgainIsRefused(t *testing.T) {
	c, client := downloadCluster(t)
	props, err := client.BucketProps(t.Context(), "dl")
	if err != nil {
		t.Fatal(err)
	}
	target := c.Targets()[0].Node
	req := peer.JobRequest{ID: "download-0ddba11", Kind: "download", Bucket: store.NewBucket("dl"), BucketCreated: int64(props.Created) - 1,
		Targets: []string{target.ID()}, Download: json.RawMessage(`{"type":"single","bucket":{"name":"dl"},"link":"http://127.0.0.1:1/x","object_name":"x"}`)}
	if _, err := gateway.StartJobPart(target, t.Context(), req); !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "made again") {
		t.Fatalf("a job of the bucket as made before: %v, want refused", err)
	}
	// Destroyed: refused too (made again later, it would write there).
	if err := client.DestroyBucket(t.Context(), "dl"); err != nil {
		t.Fatal(err)
	}
	req.BucketCreated = int64(props.Created)
	if _, err := gateway.StartJobPart(target, t.Context(), req); !errors.Is(err, store.ErrBucketNotFound) {
		t.Fatalf("a job of a bucket destroyed: %v, want refused", err)
	}
}

// A copy started for its destination as made before is refused by a
// target whose bucket of that name was made again since (or destroyed):
// it would write into the new one.
func TestCopyOfADestinationMadeAgainIsRefused(t *testing.T) {
	c, client := downloadCluster(t)
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "dst", nil); err != nil {
		t.Fatal(err)
	}
	props, err := client.BucketProps(ctx, "dst")
	if err != nil {
		t.Fatal(err)
	}
	target := c.Targets()[0].Node
	req := peer.JobRequest{ID: "copy-bck-0ddba11", Kind: "copy-bck", Bucket: store.NewBucket("dl"), To: store.NewBucket("dst"), ToCreated: int64(props.Created) - 1,
		Targets: []string{target.ID()}}
	if _, err := gateway.StartJobPart(target, ctx, req); !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "made again") {
		t.Fatalf("a copy into its destination as made before: %v, want refused", err)
	}
	if err := client.DestroyBucket(ctx, "dst"); err != nil {
		t.Fatal(err)
	}
	req.ID, req.ToCreated = "copy-bck-0ddba12", int64(props.Created)
	if _, err := gateway.StartJobPart(target, ctx, req); !errors.Is(err, store.ErrBucketNotFound) {
		t.Fatalf("a copy into a destination destroyed: %v, want refused", err)
	}
}

// startRange starts a download job of a range template into "dl".
func startRange(t *testing.T, client *api.Client, template string) string {
	id, err := client.StartDownload(t.Context(), api.DownloadRequest{Type: api.DownloadRange, Bucket: api.Bck{Name: "dl"}, Template: template, Timeout: "1m"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// readRecorder is a body that tells whether it was read.
type readRecorder struct {
	io.Reader
	read atomic.Bool
}

func (r *readRecorder) Read(p []byte) (int, error) {
	r.read.Store(true)
	return r.Reader.Read(p)
}

// A PUT that waits for "100 Continue" and is refused gets its answer with
// no byte of its body asked for (it used to get it only once the client
// gave up waiting and sent the body: 10 s with the native client).
func TestRefusedPutNeedsNoBody(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1})
	for _, node := range []string{c.Primary().URL(), c.Targets()[0].URL()} {
		body := &readRecorder{Reader: strings.NewReader("bytes")}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, node+"/v1/objects/missing/k", body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = 5
		req.Header.Set("Expect", "100-continue")
		// Short: without the fix the body goes out after it.
		client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 300 * time.Millisecond}}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: a PUT into a missing bucket: %s", node, resp.Status)
		}
		if body.read.Load() {
			t.Fatalf("%s: the refused PUT's body was asked for", node)
		}
	}
}

// waitDownload waits until a download job ends and returns its status.
func waitDownload(t *testing.T, client *api.Client, id string) api.DownloadStatus {
	t.Helper()
	var s api.DownloadStatus
	eventually(t, func() bool {
		var err error
		s, err = client.DownloadStatus(t.Context(), id)
		return err == nil && s.Done
	}, "the download did not end")
	return s
}

// A page of another site cannot have a visitor's browser change the
// cluster (a "simple" POST needs no CORS approval, and with
// authentication off nothing else would stop it); the cluster's own
// pages, clients that are no browser, and reads go on.
func TestChangesFromAnotherSiteAreRefused(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true})
	base := c.Primary().URL()
	host := strings.TrimPrefix(base, "http://")
	create := func(name string, header http.Header) int {
		status, _, _ := call(t, http.MethodPost, base+"/v1/buckets/"+name, header, `{"action":"create-bck"}`)
		return status
	}
	for _, tc := range []struct {
		name   string
		header http.Header
		status int
	}{
		{"fetch-cross", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"http://evil.example"}}, http.StatusForbidden},
		{"fetch-same-site", http.Header{"Sec-Fetch-Site": {"same-site"}, "Origin": {"http://127.0.0.1:1"}}, http.StatusForbidden},
		{"origin-only", http.Header{"Origin": {"http://evil.example"}}, http.StatusForbidden},
		{"opaque", http.Header{"Origin": {"null"}}, http.StatusForbidden},
		{"own-page", http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {"http://" + host}}, http.StatusOK},
		{"client", nil, http.StatusOK},
	} {
		if got := create(tc.name, tc.header); got != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.status)
		}
	}
	status, _, _ := call(t, http.MethodGet, base+"/v1/buckets/client", http.Header{"Sec-Fetch-Site": {"cross-site"}}, `{"action":"list"}`)
	if status != http.StatusOK {
		t.Fatalf("a read from another site: %d", status)
	}
	if _, err := c.Client().BucketProps(t.Context(), "fetch-cross"); !errors.Is(err, api.ErrBucketNotFound) {
		t.Fatalf("the bucket a page of another site asked for: %v", err)
	}
	// A HEAD needs no CORS approval either; the one that starts a
	// summary job is a change.
	summary := base + "/v1/buckets/client?" + api.QuerySummary + "=true"
	if status, _, _ := call(t, http.MethodHead, summary, http.Header{"Sec-Fetch-Site": {"cross-site"}}, ""); status != http.StatusForbidden {
		t.Fatalf("a summary started by a page of another site: %d", status)
	}
	if status, _, _ := call(t, http.MethodHead, summary, nil, ""); status != http.StatusAccepted {
		t.Fatalf("a summary started by a client: %d", status)
	}
	// Through the S3 API, refused as S3 refuses: its XML error.
	status, body, _ := call(t, http.MethodPut, base+"/s3/client/o", http.Header{"Sec-Fetch-Site": {"cross-site"}}, "data")
	if status != http.StatusForbidden || !strings.Contains(string(body), "<Code>AccessDenied</Code>") {
		t.Fatalf("an S3 PUT from another site: %d %s, want 403 AccessDenied", status, body)
	}
}

// A link that fails to connect is shown in the job's status without its
// password and query (net/http's error has the query, and the password
// masked otherwise than the status's own form).
func TestDownloadStatusHidesTheLinksSecrets(t *testing.T) {
	_, client := downloadCluster(t)
	ctx := t.Context()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := listener.Addr().String()
	listener.Close() // nothing answers there
	id, err := client.StartDownload(ctx, api.DownloadRequest{Type: api.DownloadSingle, Bucket: api.Bck{Name: "dl"},
		Link: "http://user:pa55word@" + closed + "/f.tar?X-Amz-Signature=s3cr3t", ObjectName: "f.tar", Timeout: "10s"})
	if err != nil {
		t.Fatal(err)
	}
	var status api.DownloadStatus
	eventually(t, func() bool {
		status, err = client.DownloadStatus(ctx, id)
		return err == nil && status.Done && len(status.Errors) == 1
	}, "the download did not end with its failure")
	shown := fmt.Sprintf("%+v", status.Errors)
	if strings.Contains(shown, "s3cr3t") || strings.Contains(shown, "pa55word") || !strings.Contains(shown, closed) {
		t.Fatalf("the failure as shown: %s", shown)
	}
}

// With authentication off, a page under a name that is none of the
// cluster's (a site that rebound its name to a node's address) can
// neither read nor change anything; a name listed in browser_hosts, a
// node's address, a typed URL and a client that is no browser can.
func TestReboundNameIsRefused(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, Configure: func(cfg *gateway.Config) {
		cfg.BrowserHosts = []string{"ais.example:8080"}
	}})
	if err := c.Client().CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatal(err)
	}
	ask := func(method, path, host string, header http.Header) int {
		req, err := http.NewRequestWithContext(t.Context(), method, c.Primary().URL()+path, strings.NewReader(`{"action":"list"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	page := http.Header{"Sec-Fetch-Site": {"same-origin"}}
	for _, tc := range []struct {
		name, host string
		header     http.Header
		status     int
	}{
		{"rebound page", "rebind.attacker.example:8080", page, http.StatusForbidden},
		{"rebound page with an origin", "rebind.attacker.example", http.Header{"Origin": {"http://rebind.attacker.example"}}, http.StatusForbidden},
		{"listed name", "ais.example", page, http.StatusOK},
		{"address", strings.TrimPrefix(c.Primary().URL(), "http://"), page, http.StatusOK},
		{"localhost", "localhost:8080", page, http.StatusOK},
		{"typed URL", "rebind.attacker.example", http.Header{"Sec-Fetch-Site": {"none"}}, http.StatusOK},
		{"client", "rebind.attacker.example", nil, http.StatusOK},
	} {
		if got := ask(http.MethodGet, "/v1/buckets/b", tc.host, tc.header); got != tc.status {
			t.Errorf("%s: GET %d, want %d", tc.name, got, tc.status)
		}
	}
	// The console's own files hold nothing of the cluster: they load under
	// any name, so that the page can show why its calls are refused.
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/console/", http.StatusOK},
		{http.MethodGet, "/console/app.js", http.StatusOK},
		{http.MethodHead, "/console/style.css", http.StatusOK},
		{http.MethodGet, "/console/api/v1/buckets/b", http.StatusForbidden},
		{http.MethodGet, "/console/api/v1/buckets", http.StatusForbidden},
		{http.MethodGet, "/console/session", http.StatusForbidden},
		{http.MethodGet, "/console/nope.js", http.StatusForbidden},
	} {
		if got := ask(tc.method, tc.path, "rebind.attacker.example:8080", page); got != tc.status {
			t.Errorf("a rebound page's %s %s: %d, want %d", tc.method, tc.path, got, tc.status)
		}
	}
}

// hangTo is a transport whose requests to one address hang until their
// context ends.
type hangTo struct {
	next http.RoundTripper
	host *atomic.Value
}

func (h hangTo) RoundTrip(r *http.Request) (*http.Response, error) {
	if host, _ := h.host.Load().(string); host != "" && r.URL.Host == host {
		<-r.Context().Done()
		return nil, r.Context().Err()
	}
	return h.next.RoundTrip(r)
}

// A target that hangs does not make the cluster's status, or a dSort
// job's list, outwait a client: it is shown with its error.
func TestStatusNamesAHangingTarget(t *testing.T) {
	// Room for a healthy target's answer on a loaded machine.
	defer gateway.SetPeerQueryTimeout(2 * time.Second)()
	var hung atomic.Value
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true,
		Configure: func(cfg *gateway.Config) { cfg.Transport = hangTo{api.NewTransport(), &hung} }})
	target := c.Targets()[1]
	u, _ := url.Parse(target.URL())
	hung.Store(u.Host)
	defer hung.Store("")
	// The client waits at most 10s for an answer: far less than a
	// request's timeout between nodes (30s).
	client := api.NewClientWith(c.Primary().URL(), &http.Client{Timeout: 10 * time.Second})
	status, err := client.ClusterStatus(t.Context())
	if err != nil {
		t.Fatalf("the cluster's status with a target that hangs: %v", err)
	}
	for _, s := range status.Nodes {
		if (s.ID == target.Node.ID()) != (s.Error != "") {
			t.Fatalf("node %s: error %q; want one for the hanging target %s only", s.ID, s.Error, target.Node.ID())
		}
	}
	if _, err := client.DsortList(t.Context(), "", false); err != nil {
		t.Fatalf("dSort jobs with a target that hangs: %v", err)
	}
}

// A prefetch goes on past an object the remote fails to send: the others
// are fetched, and the job ends failed naming how many did not come.
func TestPrefetchGoesOnPastAFailedObject(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "-05") || strings.HasSuffix(r.URL.Path, "-15") {
			http.Error(w, "out of order", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "file "+r.URL.Path)
	}))
	t.Cleanup(origin.Close)
	c, bucket := originCluster(t, 1, origin)
	client := c.Client()
	ctx := t.Context()
	id, err := client.Prefetch(ctx, bucket, api.ListRange{Template: "f-{00..19}"})
	if err != nil {
		t.Fatal(err)
	}
	j, err := client.WaitJob(ctx, id, 20*time.Millisecond)
	if err != nil || !strings.Contains(fmt.Sprint(j.Errors), "2 objects failed") {
		t.Fatalf("a prefetch with 2 failing objects: %+v %v", j, err)
	}
	cached, err := client.ListObjects(ctx, bucket, api.ListObjectsMessage{Flags: api.ListCached})
	if err != nil || len(cached.Entries) != 18 {
		t.Fatalf("cached after the prefetch: %d objects, %v; want the 18 the origin sends", len(cached.Entries), err)
	}
}

// A CONNECT tunnel over which nothing moves either way is closed after a
// while: tunnels are bounded, and silent ones would hold every slot.
func TestIdleTunnelIsClosed(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			conn, err := silent.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // accepts and says nothing
		}
	}()
	port := silent.Addr().(*net.TCPAddr).Port
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, Configure: func(cfg *gateway.Config) {
		cfg.FetchAllowLocal, cfg.ConnectPorts, cfg.TunnelIdle = true, []int{port}, 300*time.Millisecond
	}})
	conn, err := net.Dial("tcp", strings.TrimPrefix(c.Primary().URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", port, port)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	answer, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(answer, "200") {
		t.Fatalf("CONNECT: %q %v", answer, err)
	}
	if _, err := io.Copy(io.Discard, conn); err != nil {
		t.Fatalf("the idle tunnel stayed open: %v", err)
	}
}

// Jobs over names each selects run at once on one bucket (AIStore runs
// each as a job of its own): a second download into a bucket while one
// runs. Jobs that reshape a bucket (make-n-copies, ec-encode) stay one
// at a time.
func TestJobsOverOneBucketRunAtOnce(t *testing.T) {
	_, client, id, released := stalledDownload(t, 1)
	defer released.Store(true)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "second") }))
	defer origin.Close()
	second, err := client.StartDownload(t.Context(), api.DownloadRequest{Type: api.DownloadSingle, Bucket: api.Bck{Name: "dl"}, Link: origin.URL + "/g", ObjectName: "g"})
	if err != nil {
		t.Fatalf("a second download into the bucket while %s runs: %v", id, err)
	}
	if s := waitDownload(t, client, second); s.Finished != 1 {
		t.Fatalf("the second download: %+v", s)
	}
}

// A PUT whose client closes short of its Content-Length is the client's
// fault: a 400 naming it, no object, no work file.
func TestCutBodyIsABadRequest(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true})
	client := c.Client()
	client.CreateBucket(t.Context(), "b", nil)
	u := strings.TrimPrefix(c.Primary().URL(), "http://")
	conn, err := net.Dial("tcp", u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /v1/objects/b/cut?pid=client HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000\r\n\r\nabc", u)
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "ended early") {
		t.Fatalf("a PUT cut short: %d %s, want 400 naming it", resp.StatusCode, body)
	}
	if _, err := client.Head(t.Context(), "b", "cut"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the object of a cut PUT: %v", err)
	}
	if work, _ := os.ReadDir(filepath.Join(c.Primary().Store.Mountpaths()[0], ".ais", "work")); len(work) != 0 {
		t.Fatalf("work files left: %v", work)
	}
	// So is a malformed chunk: a 400, not a server error.
	conn, err = net.Dial("tcp", u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /v1/objects/b/chunked?pid=client HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n", u)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err = http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a PUT with a malformed chunk: %d %s, want 400", resp.StatusCode, body)
	}
	if _, err := client.Head(t.Context(), "b", "chunked"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the object of a malformed PUT: %v", err)
	}
}

// A download cut by its target's shutdown keeps its file there, to be
// resumed; a user's abort that reaches the target meanwhile (its jobs
// closed, its server still up) drops it: the aborted job does not come
// back at the restart.
func TestDownloadAbortedDuringAShutdownIsNotResumed(t *testing.T) {
	var release atomic.Bool
	origin := stallingOrigin(t, func(path string) bool { return path == "/f-3" }, &release)
	defer release.Store(true)
	c, client := downloadCluster(t)
	id := startRange(t, client, origin.URL+"/f-{0..3}")
	eventually(t, func() bool { _, err := client.Head(t.Context(), "dl", "f-2"); return err == nil }, "f-2 was not downloaded")
	target := c.Targets()[0].Node
	gateway.CloseJobs(target)
	if !gateway.DownloadSaved(target, id) {
		t.Fatal("a download cut by a shutdown kept no file: the test shows nothing")
	}
	if err := client.AbortDownload(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if gateway.DownloadSaved(target, id) {
		t.Fatal("the aborted download's file is kept: the job would come back at the restart")
	}
}

// A target that has read the start of a job its gateway gave up on
// meanwhile (a caller gone, a start past its time) does not start it: the
// gateway's abort may have found nothing there, and the job would run
// with nobody knowing its id.
func TestJobStartGivenUpWhileReadDoesNotStart(t *testing.T) {
	c, _ := downloadCluster(t)
	target := c.Targets()[0].Node
	body, _ := json.Marshal(peer.JobRequest{ID: "download-given-up", Kind: "download", Bucket: store.NewBucket("dl"),
		Download: json.RawMessage(`{"type":"single","bucket":{"name":"dl"},"link":"http://127.0.0.1:1/f"}`), Targets: []string{target.ID()}})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	w := httptest.NewRecorder()
	gateway.HandleStartJob(target)(w, httptest.NewRequestWithContext(ctx, http.MethodPost, "/v1/peer/jobs", bytes.NewReader(body)))
	if w.Code != http.StatusServiceUnavailable || gateway.JobKnown(target, "download-given-up") {
		t.Fatalf("a start given up while read: %d %s, job known %v; want 503 and no job", w.Code, w.Body, gateway.JobKnown(target, "download-given-up"))
	}
	// Nor one given up after it was read, while the target made it
	// ready (a template's million links expanded).
	var req peer.JobRequest
	json.Unmarshal(body, &req)
	if _, err := gateway.StartJobPart(target, ctx, req); !errors.Is(err, api.ErrUnavailable) || gateway.JobKnown(target, "download-given-up") {
		t.Fatalf("a start given up as it was made ready: %v, job known %v; want 503 and no job", err, gateway.JobKnown(target, "download-given-up"))
	}
	w = httptest.NewRecorder()
	gateway.HandleStartJob(target)(w, httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/peer/jobs", bytes.NewReader(body)))
	if w.Code != http.StatusOK || !gateway.JobKnown(target, "download-given-up") {
		t.Fatalf("the same start, not given up: %d %s", w.Code, w.Body)
	}
}

// A target that comes back with a download job saved does not resume it
// when another target of the job has it aborted (aborted while this one
// was away: removed from the cluster, or stopping).
func TestDownloadAbortedWhileATargetWasAwayIsNotResumed(t *testing.T) {
	release := new(atomic.Bool)
	defer release.Store(true)
	origin := stallingOrigin(t, func(path string) bool { return path > "/f-03" }, release)
	c, client := downloadClusterOf(t, 2)
	id := startRange(t, client, origin.URL+"/f-{00..39}")
	eventually(t, func() bool { _, err := client.Head(t.Context(), "dl", "f-03"); return err == nil }, "the first files were not downloaded")
	away, stays := c.Targets()[0], c.Targets()[1]
	c.Kill(away) // its jobs end as at a shutdown: its file is kept
	c.WaitForState(away.Node.ID(), cluster.StateOffline)
	if err := gateway.AbortLocalJob(stays.Node, id); err != nil {
		t.Fatal(err)
	}
	back := c.Restart(away)
	if gateway.JobKnown(back.Node, id) || gateway.DownloadSaved(back.Node, id) {
		t.Fatalf("the job aborted on %s came back on %s", stays.Node.ID(), back.Node.ID())
	}
}
