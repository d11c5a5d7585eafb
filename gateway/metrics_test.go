package gateway_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/authn"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/console"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/store/faulty"
	"github.com/golang-jwt/jwt/v5"
)

// N PUTs of S bytes give exactly N and N×S on the targets that stored
// them, whatever the topology; gateways count only their redirects.
func TestMetricsCountKnownTraffic(t *testing.T) {
	const (
		puts = 24
		size = 1000
		gets = 10
	)
	job := api.JobStatus{ID: "srt-1", Kind: "dsort", Running: true, Objects: 7, Bytes: 7000}
	for _, tc := range []struct {
		name string
		opts gatewaytest.Options
		// redirects of each PUT: one from the gateway to the owner.
		redirectsPerPut float64
	}{
		{"1 gateway 3 targets", gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true}, 1},
		{"embedded", gatewaytest.Options{Embedded: true, NoSync: true}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Configure = func(cfg *gateway.Config) {
				cfg.JobProgress = func() []api.JobStatus {
					// Ended a while ago, and just now: both count in
					// their kind's totals (no series of their own).
					old := api.JobStatus{ID: "lru-old", Kind: "lru", Objects: 3, Finished: time.Now().Add(-time.Hour).UnixNano()}
					recent := api.JobStatus{ID: "lru-new", Kind: "lru", Objects: 4, Finished: time.Now().UnixNano()}
					return []api.JobStatus{job, old, recent}
				}
			}
			c := gatewaytest.NewCluster(t, tc.opts)
			client := c.Client().UseRedirects() // redirects are part of what is counted
			ctx := t.Context()
			if err := client.CreateBucket(ctx, "m", nil); err != nil {
				t.Fatal(err)
			}
			data := bytes.Repeat([]byte("x"), size)
			for i := range puts {
				if _, err := client.Put(ctx, "m", fmt.Sprintf("o-%03d", i), bytes.NewReader(data), api.PutOptions{Size: size}); err != nil {
					t.Fatal(err)
				}
			}
			for i := range gets {
				got, err := client.GetBytes(ctx, "m", fmt.Sprintf("o-%03d", i), api.GetOptions{})
				if err != nil || len(got) != size {
					t.Fatalf("get: %d bytes, %v", len(got), err)
				}
			}
			// A range of 100 bytes counts 100.
			if got, err := client.GetBytes(ctx, "m", "o-000", api.GetOptions{Offset: 10, Length: 100}); err != nil || len(got) != 100 {
				t.Fatalf("range get: %d bytes, %v", len(got), err)
			}
			// The console's download comes through the gateway: the target
			// that serves it counts it, the gateway a redirect.
			resp, err := http.Get(c.Primary().URL() + console.APIPrefix + "v1/objects/m/o-001")
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || len(got) != size {
				t.Fatalf("the console's download: %s, %d bytes", resp.Status, len(got))
			}
			for i := range 3 {
				if _, err := client.Head(ctx, "m", fmt.Sprintf("o-%03d", i)); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 2 {
				if err := client.Delete(ctx, "m", fmt.Sprintf("o-%03d", puts-1-i)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := client.ListObjects(ctx, "m", api.ListObjectsMessage{}); err != nil {
				t.Fatal(err)
			}
			if _, err := client.Head(ctx, "m", "missing"); !errors.Is(err, api.ErrNotFound) {
				t.Fatalf("head of a missing object: %v", err)
			}
			if _, err := client.GetBytes(ctx, "m", "missing", api.GetOptions{}); !errors.Is(err, api.ErrNotFound) {
				t.Fatalf("get of a missing object: %v", err)
			}

			want := []struct {
				name   string
				labels []string
				value  float64
			}{
				{"ais_put_total", nil, puts},
				{"ais_put_bytes_total", nil, puts * size},
				{"ais_get_total", nil, gets + 2},
				{"ais_get_bytes_total", nil, gets*size + 100 + size},
				{"ais_head_total", nil, 3},
				{"ais_delete_total", nil, 2},
				{"ais_list_total", nil, 1},
				{"ais_errors_total", []string{"op", "head", "kind", api.KindNotFound}, 1},
				{"ais_errors_total", []string{"op", "get", "kind", api.KindNotFound}, 1},
				{"ais_errors_total", []string{"op", "put"}, 0},
				{"ais_request_duration_seconds", []string{"op", "put"}, puts},
				{"ais_redirects_total", []string{"op", "put"}, puts * tc.redirectsPerPut},
				{"ais_job_objects_total", []string{"kind", "dsort"}, 7 * float64(len(c.Members()))},
				{"ais_job_bytes_total", []string{"kind", "dsort"}, 7000 * float64(len(c.Members()))},
				{"ais_job_running", []string{"kind", "dsort"}, float64(len(c.Members()))},
				{"ais_job_objects_total", []string{"kind", "lru"}, 7 * float64(len(c.Members()))},
				{"ais_job_running", []string{"kind", "lru"}, 0},
			}
			for _, w := range want {
				if got := c.Metric(w.name, w.labels...); got != w.value {
					t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
				}
			}

			// Gateways serve no object data, so they count none.
			version := c.Primary().Node.Map().Version
			for _, m := range c.Members() {
				metrics := gatewaytest.Scrape(t, m.URL())
				if m.Store == nil && (metrics.Value("ais_put_total") != 0 || metrics.Value("ais_get_total") != 0) {
					t.Errorf("gateway %s counted %v PUTs and %v GETs", m.Node.ID(), metrics.Value("ais_put_total"), metrics.Value("ais_get_total"))
				}
				if got := metrics.Value("ais_cluster_map_version"); got != float64(version) {
					t.Errorf("%s: map version %v, want %d", m.Node.ID(), got, version)
				}
				if m.Store != nil && metrics.Value("ais_mountpath_capacity_bytes") <= 0 {
					t.Errorf("%s: no mountpath capacity", m.Node.ID())
				}
				for _, name := range []string{"go_goroutines", "process_start_time_seconds", "ais_node_info"} {
					if _, ok := metrics[name]; !ok {
						t.Errorf("%s: /metrics has no %s", m.Node.ID(), name)
					}
				}
			}
		})
	}
}

// /metrics speaks the Prometheus text format to a plain HTTP client.
func TestMetricsTextFormat(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true})
	resp, err := http.Get(c.Primary().URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("status %s, content type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	for _, line := range []string{"# TYPE ais_put_total counter", "# TYPE ais_request_duration_seconds histogram", "ais_put_bytes_total 0"} {
		if !strings.Contains(string(body), line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	post, err := http.Post(c.Primary().URL()+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /metrics: %s", post.Status)
	}
}

// Every error series is there, at 0, before the first error: a series
// that first appears at 1 reads as no increase on a dashboard.
func TestErrorSeriesStartAtZero(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, NoSync: true})
	family, ok := gatewaytest.Scrape(t, c.Primary().URL())["ais_errors_total"]
	if !ok {
		t.Fatal("no ais_errors_total before an error")
	}
	found := false
	for _, m := range family.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["op"] == "get" && labels["kind"] == api.KindNotFound && m.GetCounter().GetValue() == 0 {
			found = true
		}
	}
	if !found {
		t.Fatal(`no ais_errors_total{op="get",kind="not-found"} at 0 before an error`)
	}
	// So for the S3 API's server errors, by the operations clients use.
	found = false
	for _, m := range gatewaytest.Scrape(t, c.Primary().URL())["ais_s3_requests_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["op"] == "GET object" && labels["status"] == "500" && m.GetCounter().GetValue() == 0 {
			found = true
		}
	}
	if !found {
		t.Fatal(`no ais_s3_requests_total{op="GET object",status="500"} at 0 before an S3 request`)
	}
}

// A GET whose body the disk cuts after the status went out is counted as
// an error, not as a GET served.
func TestMetricsCountABodyCutByTheDisk(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		if cfg.Store != nil {
			f := faulty.Wrap(cfg.Store)
			f.Inject(faulty.Fault{Op: faulty.OpRead, Prefix: "cut", After: 64 << 10, Err: syscall.EIO})
			cfg.Store = f
		}
	}})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "m", nil); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("x"), 1<<20)
	if _, err := client.Put(ctx, "m", "cut", bytes.NewReader(data), api.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	if got, err := client.GetBytes(ctx, "m", "cut", api.GetOptions{}); err == nil && len(got) == len(data) {
		t.Fatal("a GET the disk cut came whole")
	}
	if got := c.Metric("ais_get_total"); got != 0 {
		t.Errorf("a GET the disk cut counted as served: ais_get_total %v", got)
	}
	if got := c.Metric("ais_errors_total", "op", "get"); got != 1 {
		t.Errorf("a GET the disk cut: ais_errors_total{op=get} %v, want 1", got)
	}
}

// A kind's job totals go on growing as ended jobs leave the node's list
// (removed, pruned): each scrape adds what grew since the one before, and
// a job gone takes nothing back (a counter that fell, Prometheus and
// StatsD would count it all again).
func TestJobTotalsDoNotFallAsJobsLeave(t *testing.T) {
	var listed atomic.Pointer[[]api.JobStatus]
	listed.Store(&[]api.JobStatus{{ID: "lru-1", Kind: "lru", Objects: 5, Bytes: 500}})
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, Configure: func(cfg *gateway.Config) {
		cfg.JobProgress = func() []api.JobStatus { return *listed.Load() }
	}})
	node := c.Primary().Node
	objects := func() float64 {
		t.Helper()
		families, err := node.Gatherer(t.Context()).Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() != "ais_job_objects_total" {
				continue
			}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "kind" && l.GetValue() == "lru" {
						return m.GetCounter().GetValue()
					}
				}
			}
		}
		return -1
	}
	if got := objects(); got != 5 {
		t.Fatalf("lru objects with lru-1 listed: %v, want 5", got)
	}
	listed.Store(&[]api.JobStatus{})
	if got := objects(); got != 5 {
		t.Fatalf("lru objects once lru-1 left the list: %v, want 5 still", got)
	}
	listed.Store(&[]api.JobStatus{{ID: "lru-2", Kind: "lru", Objects: 3, Bytes: 300}})
	if got := objects(); got != 8 {
		t.Fatalf("lru objects with lru-2 listed: %v, want 8", got)
	}
}

// Request durations are measured past a minute (a big object's GET
// streams that long): p99 is not capped at the last bucket.
func TestRequestDurationsReachMinutes(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true})
	if err := c.Client().CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatal(err)
	}
	families, err := c.Primary().Node.Gatherer(t.Context()).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "ais_request_duration_seconds" || len(f.GetMetric()) == 0 {
			continue
		}
		buckets := f.GetMetric()[0].GetHistogram().GetBucket()
		if top := buckets[len(buckets)-1].GetUpperBound(); top < 120 {
			t.Fatalf("the last bucket of request durations is %g s, want minutes", top)
		}
		return
	}
	t.Fatal("no ais_request_duration_seconds after a request")
}

// A listing of archive members whose shard the disk fails to read fails,
// rather than answer the shard with no members as if it were no shard.
func TestListArchiveFailsWhenTheDiskDoes(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		if cfg.Store != nil {
			f := faulty.Wrap(cfg.Store)
			f.Inject(faulty.Fault{Op: faulty.OpRead, Prefix: "eio", After: 100, Err: syscall.EIO})
			cfg.Store = f
		}
	}})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "m", nil); err != nil {
		t.Fatal(err)
	}
	var shard bytes.Buffer
	tw := tar.NewWriter(&shard)
	for _, name := range []string{"a.jpg", "a.cls"} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: 4})
		tw.Write([]byte("data"))
	}
	tw.Close()
	for _, name := range []string{"eio.tar", "fine.tar"} {
		if _, err := client.Put(ctx, "m", name, bytes.NewReader(shard.Bytes()), api.PutOptions{Size: int64(shard.Len())}); err != nil {
			t.Fatal(err)
		}
	}
	if page, err := client.ListObjects(ctx, "m", api.ListObjectsMessage{Prefix: "fine", Flags: api.ListArchive}); err != nil || len(page.Entries) != 3 {
		t.Fatalf("a listing of a shard's members: %+v %v", page, err)
	}
	if page, err := client.ListObjects(ctx, "m", api.ListObjectsMessage{Prefix: "eio", Flags: api.ListArchive}); err == nil {
		t.Fatalf("a listing of members the disk failed to read: %+v, want an error", page.Entries)
	}
	// A shard whose checksum fails (validated as it opens) lists no
	// members, and the page goes on: only the disk failing fails it.
	if err := client.CreateBucket(ctx, "v", map[string]any{"checksum": map[string]any{"validate_warm_get": true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(ctx, "v", "rot.tar", bytes.NewReader(shard.Bytes()), api.PutOptions{Size: int64(shard.Len())}); err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join(c.Targets()[0].Dir, "*", "ais", "v", "rot.tar"))
	if len(paths) != 1 {
		t.Fatalf("the shard's file: %v", paths)
	}
	rotten := slices.Clone(shard.Bytes())
	rotten[600] ^= 0xff // in the first member's data
	if err := os.WriteFile(paths[0], rotten, 0o644); err != nil {
		t.Fatal(err)
	}
	if page, err := client.ListObjects(ctx, "v", api.ListObjectsMessage{Flags: api.ListArchive}); err != nil || len(page.Entries) != 1 {
		t.Fatalf("a listing of a shard whose checksum fails: %+v %v, want the shard alone", page, err)
	}
}

// A node's own requests (a copy job's PUTs, a get-batch's reads of
// entries on other targets, an archive job's listing) are not client traffic: the object figures
// count the clients' requests alone, with authentication off (the
// signature taken as it comes) and on (verified by the guard).
func TestMetricsLeaveOutTheNodesOwnRequests(t *testing.T) {
	keys, err := authn.NewSecretKeys([]byte(authn.NewSecret()))
	if err != nil {
		t.Fatal(err)
	}
	for _, auth := range []*authn.Keys{nil, keys} {
		t.Run(fmt.Sprintf("auth %v", auth != nil), func(t *testing.T) {
			c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true,
				Configure: func(cfg *gateway.Config) { cfg.Auth = auth }})
			client := c.Client()
			var token string
			if auth != nil {
				token, err = auth.Sign(&authn.Claims{Grants: authn.Grants{Perm: authn.Admin}, RegisteredClaims: jwt.RegisteredClaims{
					Issuer: authn.Issuer, Subject: "admin", ID: authn.NewTokenID(), ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}})
				if err != nil {
					t.Fatal(err)
				}
				client.SetToken(token)
			}
			ctx := t.Context()
			metric := func(name string) float64 {
				var sum float64
				for _, m := range c.Members() {
					scraped, err := gatewaytest.ScrapeWithToken(ctx, m.URL(), token)
					if err != nil {
						t.Fatal(err)
					}
					sum += scraped.Value(name)
				}
				return sum
			}
			if err := client.CreateBucket(ctx, "src", nil); err != nil {
				t.Fatal(err)
			}
			const objects, size = 12, 100
			var batch api.BatchRequest
			for i := range objects {
				name := fmt.Sprintf("o-%02d", i)
				if _, err := client.Put(ctx, "src", name, bytes.NewReader(bytes.Repeat([]byte("x"), size)), api.PutOptions{Size: size}); err != nil {
					t.Fatal(err)
				}
				batch.In = append(batch.In, api.BatchEntry{ObjName: name})
			}
			id, err := client.CopyBucket(ctx, "src", "dst", api.CopyBucketMessage{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := client.WaitJob(ctx, id, 20*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if _, err := client.GetBatch(ctx, "src", batch, io.Discard); err != nil {
				t.Fatal(err)
			}
			// An archive of the whole bucket lists it through a gateway.
			id, err = client.Archive(ctx, "src", api.ArchiveMessage{ArchName: "all.tar"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := client.WaitJob(ctx, id, 20*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			for _, w := range []struct {
				name  string
				value float64
			}{
				{"ais_put_total", objects},
				{"ais_put_bytes_total", objects * size},
				{"ais_list_total", 0},
				{"ais_get_total", 0},
				{"ais_get_bytes_total", 0},
			} {
				if got := metric(w.name); got != w.value {
					t.Errorf("%s = %v, want %v (the clients' requests alone)", w.name, got, w.value)
				}
			}
			if got := metric("ais_getbatch_entries_total"); got != objects {
				t.Errorf("ais_getbatch_entries_total = %v, want %d", got, objects)
			}
			// A node's reads sent to a target that does not hold them
			// (its map behind): redirected, granted, followed (each hop
			// signed), still the node's.
			signed := gateway.PeerHTTP(c.Targets()[0].Node)
			redirected := 0
			for _, e := range batch.In {
				url := c.Targets()[0].URL() + "/v1/objects/src/" + e.ObjName
				for hop := 0; ; hop++ {
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
					resp, err := signed.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
					if resp.StatusCode != http.StatusTemporaryRedirect && resp.StatusCode != http.StatusMovedPermanently || hop > 2 {
						t.Fatalf("a node's GET of %s: %d", url, resp.StatusCode)
					}
					url = resp.Header.Get("Location")
					redirected++
				}
			}
			if redirected == 0 {
				t.Fatal("no read was redirected: the test shows nothing")
			}
			if got := metric("ais_get_total"); got != 0 {
				t.Errorf("after a node's redirected reads ais_get_total = %v, want 0", got)
			}
			if auth != nil {
				return
			}
			// A client's header that looks a node's, not a node's
			// signature: the read is the client's.
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.Primary().URL()+"/v1/objects/src/o-00", nil)
			req.Header.Set(peer.HeaderMAC, "made-up")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("a GET with a made-up signature header: %d", resp.StatusCode)
			}
			if got := metric("ais_get_total"); got != 1 {
				t.Errorf("after a client's GET with a made-up signature header ais_get_total = %v, want 1", got)
			}
		})
	}
}

// The S3 requests a gateway refuses before its S3 API reads them (a
// change from a page of another site; any while it is not ready, removed
// from the cluster) are counted by ais_s3_requests_total as any other:
// an alert on S3 errors sees a gateway that answers only 503.
func TestS3RefusalsAreCounted(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 2, Targets: 1, NoSync: true})
	send := func(url, method string, header ...string) int {
		t.Helper()
		req, _ := http.NewRequest(method, url, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	primary := c.Primary().URL()
	if status := send(primary+"/s3/b", http.MethodPut, "Sec-Fetch-Site", "cross-site"); status != http.StatusForbidden {
		t.Fatalf("an S3 bucket PUT from another site: %d, want 403", status)
	}
	if got := gatewaytest.Scrape(t, primary).Value("ais_s3_requests_total", "status", "403"); got != 1 {
		t.Fatalf("ais_s3_requests_total{status=403} is %v after one refused, want 1", got)
	}
	other := c.Members()[1]
	if err := c.Client().RemoveNode(t.Context(), other.Node.ID()); err != nil {
		t.Fatal(err)
	}
	waitOutOfTheMap(t, c.Client(), other.Node.ID())
	deadline := time.Now().Add(10 * time.Second)
	for send(other.URL()+"/s3/b/o", http.MethodGet) != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("the removed gateway still serves S3")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := gatewaytest.Scrape(t, other.URL()).Value("ais_s3_requests_total", "op", "GET object", "status", "503"); got < 1 {
		t.Fatalf("ais_s3_requests_total{op=GET object,status=503} of the removed gateway is %v, want its refusals", got)
	}
}

// A console download relayed by the gateway and cut (the browser left)
// is a redirect the gateway followed: no read of its own in its latency,
// and no error of the cluster's.
func TestRelayCutIsNoGatewayRead(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "m", nil); err != nil {
		t.Fatal(err)
	}
	const size = 64 << 20 // more than the sockets' buffers hold
	if _, err := client.Put(ctx, "m", "big", bytes.NewReader(make([]byte, size)), api.PutOptions{Size: size}); err != nil {
		t.Fatal(err)
	}
	gatewayURL := c.Primary().URL()
	reqCtx, cancel := context.WithCancel(ctx)
	req, _ := http.NewRequestWithContext(reqCtx, http.MethodGet, gatewayURL+console.APIPrefix+"v1/objects/m/big", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	for deadline := time.Now().Add(10 * time.Second); gatewaytest.Scrape(t, gatewayURL).Value("ais_redirects_total", "op", "get") == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the cut relay was not counted as the gateway's redirect")
		}
	}
	m := gatewaytest.Scrape(t, gatewayURL)
	if got := m.Value("ais_request_duration_seconds", "op", "get"); got != 0 {
		t.Errorf("the gateway's GET latency has %v samples, want none (a relay is no read of its own)", got)
	}
	if got := m.Value("ais_errors_total", "op", "get"); got != 0 {
		t.Errorf("the gateway counted %v GET errors for a client that left", got)
	}
}
