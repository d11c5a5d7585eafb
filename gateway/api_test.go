package gateway_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/storetest"
)

// noRedirect is an HTTP client that shows redirects instead of following.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func embedded(t *testing.T) (*gatewaytest.Cluster, *api.Client) {
	t.Helper()
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true})
	return c, c.Client()
}

// Conditional PUTs through the native API: If-None-Match: * creates only
// a free name, If-Match replaces only the version it names, and a
// condition the target cannot take is a 400.
func TestConditionalPut(t *testing.T) {
	c, client := embedded(t)
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "locks", nil); err != nil {
		t.Fatal(err)
	}
	first, err := client.Put(ctx, "locks", "leader", strings.NewReader("n1"), api.PutOptions{Size: 2, ETag: true, IfNoneMatch: "*"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(ctx, "locks", "leader", strings.NewReader("n2"), api.PutOptions{Size: 2, IfNoneMatch: "*"}); !errors.Is(err, api.ErrPreconditionFailed) {
		t.Fatalf("a second create: %v, want ErrPreconditionFailed", err)
	}
	if _, err := client.Put(ctx, "locks", "leader", strings.NewReader("n3"), api.PutOptions{Size: 2, IfMatch: store.ETagOf(first)}); err != nil {
		t.Fatalf("If-Match with the ETag: %v", err)
	}
	if _, err := client.Put(ctx, "locks", "leader", strings.NewReader("n4"), api.PutOptions{Size: 2, IfMatch: store.ETagOf(first)}); !errors.Is(err, api.ErrPreconditionFailed) {
		t.Fatalf("If-Match with a replaced ETag: %v, want ErrPreconditionFailed", err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, c.Primary().URL()+"/v1/objects/locks/leader", strings.NewReader("n5"))
	req.Header.Set("If-None-Match", `"abc", "def"`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("If-None-Match with two ETags: %s, want 400", resp.Status)
	}
	// A time condition is refused, not taken for a plain overwrite.
	for _, header := range []string{"If-Unmodified-Since", "If-Modified-Since"} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, c.Primary().URL()+"/v1/objects/locks/leader", strings.NewReader("n6"))
		req.Header.Set(header, time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotImplemented {
			t.Fatalf("a PUT with %s: %s, want 501", header, resp.Status)
		}
	}
	if data, err := client.GetBytes(ctx, "locks", "leader", api.GetOptions{}); err != nil || string(data) != "n3" {
		t.Fatalf("the object after refused writes: %q %v, want n3", data, err)
	}
}

func TestBucketLifecycle(t *testing.T) {
	c, client := embedded(t)
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "imgs", nil); err != nil {
		t.Fatal(err)
	}
	if err := client.CreateBucket(ctx, "imgs", nil); !errors.Is(err, api.ErrBucketExists) {
		t.Fatalf("second create: %v, want ErrBucketExists", err)
	}
	if err := client.CreateBucket(ctx, "md5s", map[string]any{"checksum": map[string]any{"type": "md5"}}); err != nil {
		t.Fatal(err)
	}
	buckets, err := client.ListBuckets(ctx)
	if err != nil || len(buckets) != 2 || buckets[0].Name != "imgs" || buckets[1].Name != "md5s" {
		t.Fatalf("buckets %+v, %v", buckets, err)
	}
	// AIStore's clients name one bucket in the body of the listing; each
	// entry also says when its bucket was created.
	for name, want := range map[string]string{"md5s": `[{"name":"md5s","provider":"ais"}]`, "none": `[]`} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.Primary().URL()+"/v1/buckets/", strings.NewReader(`{"action":"list","name":"`+name+`"}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got []api.BucketEntry
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		var created []int64
		for i := range got {
			created = append(created, got[i].Created)
			got[i].Created = 0
		}
		shape, _ := json.Marshal(got)
		if err != nil || string(shape) != want {
			t.Fatalf("buckets named %q: %s %v, want %s", name, shape, err, want)
		}
		for _, at := range created {
			if since := time.Since(time.Unix(0, at)); since < 0 || since > time.Minute {
				t.Fatalf("bucket %q created %v ago", name, since)
			}
		}
	}
	props, err := client.BucketProps(ctx, "md5s")
	if err != nil || props.Checksum.Type != "md5" || !props.Versioning.Enabled {
		t.Fatalf("props %+v, %v: want md5 and the default versioning", props, err)
	}
	if err := client.SetBucketProps(ctx, "imgs", map[string]any{"versioning": map[string]any{"enabled": false}}); err != nil {
		t.Fatal(err)
	}
	props, _ = client.BucketProps(ctx, "imgs")
	if props.Versioning.Enabled || props.Checksum.Type != "xxhash" {
		t.Fatalf("partial set-bprops: %+v", props)
	}
	if err := client.SetBucketProps(ctx, "imgs", map[string]any{"checksum": map[string]any{"type": "crc64"}}); !errors.Is(err, store.ErrInvalidProps) {
		t.Fatalf("bad checksum type: %v", err)
	}
	// A rule the log does not replay against (see membership.Admissible)
	// still refuses a change.
	if err := client.SetBucketProps(ctx, "imgs", map[string]any{"lru": map[string]any{"dont_evict_time": "-1h"}}); !errors.Is(err, store.ErrInvalidProps) || !strings.Contains(err.Error(), "dont_evict_time") {
		t.Fatalf("a negative dont_evict_time: %v", err)
	}
	// Refused as props, before the targets are asked about the copies.
	if err := client.SetBucketProps(ctx, "imgs", map[string]any{"mirror": map[string]any{"enabled": true, "copies": 99}}); !errors.Is(err, store.ErrInvalidProps) || !strings.Contains(err.Error(), "1..32") {
		t.Fatalf("99 mirror copies: %v", err)
	}
	// A field no bucket has is refused, naming it, not dropped with the
	// change answered as made; AIStore's own that are not acted on here
	// (a client's whole props sent back) are taken.
	for _, patch := range []map[string]any{
		{"mirror": map[string]any{"enabled": true, "copy": 3}},
		{"lru": map[string]any{"enable": true}},
		{"mirorr": map[string]any{"enabled": true}},
		{"extra": map[string]any{"aws": map[string]any{"endpiont": "http://127.0.0.1:1"}}},
	} {
		if err := client.SetBucketProps(ctx, "imgs", patch); !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "has no field") {
			t.Fatalf("set-bprops %v: %v, want 400 naming the field", patch, err)
		}
	}
	if status, body := setPropsRaw(t, c, "imgs", `{"versioning":{"enabled":true},"Versioning":{"enabled":false}}`); status != http.StatusBadRequest || !strings.Contains(body, "more than once") {
		t.Fatalf("set-bprops naming a field twice: %d %s, want 400", status, body)
	}
	if err := client.CreateBucket(ctx, "typo", map[string]any{"ec": map[string]any{"objsize_limt": 1}}); !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "objsize_limt") {
		t.Fatalf("create-bck with a field no bucket has: %v, want 400 naming it", err)
	}
	if err := client.SetBucketProps(ctx, "imgs", map[string]any{"Versioning": map[string]any{"Enabled": false}, "mirror": map[string]any{"burst_buffer": 64}, "write_policy": map[string]any{"data": "immediate"}, "extra": map[string]any{"aws": map[string]any{"profile": "default", "max_pagesize": "1000"}}}); err != nil {
		t.Fatalf("set-bprops with AIStore's fields and capitals: %v", err)
	}
	// What the cluster keeps as it is: refused when set to another
	// value (it would be dropped), taken as it is (props sent back).
	if err := client.SetBucketProps(ctx, "imgs", map[string]any{"access": "1"}); !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "access") {
		t.Fatalf("set-bprops of another access: %v, want 400 naming it", err)
	}
	if err := client.CreateBucket(ctx, "restricted", map[string]any{"access": "1"}); !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "access") {
		t.Fatalf("create-bck with another access: %v, want 400 naming it", err)
	}
	for _, props := range []map[string]any{
		{"backend_bck": map[string]any{"name": "data", "provider": "aws"}},
		{"rate_limit": map[string]any{"backend": map[string]any{"enabled": true}}},
		{"extra": map[string]any{"aws": map[string]any{"profile": "prod"}}},
		{"versioning": map[string]any{"synchronize": true}},
		{"write_policy": map[string]any{"data": "never"}},
	} {
		if err := client.CreateBucket(ctx, "unmet", props); !errors.Is(err, api.ErrBadRequest) {
			t.Fatalf("create-bck with %v: %v, want 400", props, err)
		}
		if err := client.SetBucketProps(ctx, "imgs", props); !errors.Is(err, api.ErrBadRequest) {
			t.Fatalf("set-bprops with %v: %v, want 400", props, err)
		}
	}
	if err := client.CreateBucket(ctx, "defaults", map[string]any{"access": store.AccessAll, "features": "0", "backend_bck": map[string]any{"name": "", "provider": ""},
		"rate_limit": map[string]any{"backend": map[string]any{"enabled": false}}}); err != nil {
		t.Fatalf("create-bck with AIStore's defaults: %v", err)
	}
	if err := client.SetBucketProps(ctx, "imgs", map[string]any{"provider": "ais", "versioning": map[string]any{"enabled": false}}); err != nil {
		t.Fatalf("set-bprops with the provider as it is: %v", err)
	}
	// A change goes into the log as sent, unknown fields too: bounded.
	padded := map[string]any{"versioning": map[string]any{"enabled": true}, "pad": strings.Repeat("x", 100<<10)}
	if err := client.SetBucketProps(ctx, "imgs", padded); !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "more than 65536") {
		t.Fatalf("a 100 KiB props change: %v", err)
	}
	if _, err := client.SetClusterConfig(ctx, padded); !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "more than 65536") {
		t.Fatalf("a 100 KiB config change: %v", err)
	}
	if err := client.DestroyBucket(ctx, "imgs"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.BucketProps(ctx, "imgs"); !errors.Is(err, api.ErrBucketNotFound) {
		t.Fatalf("props of a destroyed bucket: %v", err)
	}
	if err := client.DestroyBucket(ctx, "imgs"); !errors.Is(err, api.ErrBucketNotFound) {
		t.Fatalf("second destroy: %v", err)
	}
}

func TestObjectRoundTrip(t *testing.T) {
	c, client := embedded(t)
	ctx := t.Context()
	client.CreateBucket(ctx, "b", nil)
	data := bytes.Repeat([]byte("0123456789"), 100_000)
	meta, err := client.Put(ctx, "b", "dir/ünï code.bin", bytes.NewReader(data), api.PutOptions{Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	if meta.Checksum.Type != "xxhash" || meta.Version != "1" {
		t.Fatalf("put meta %+v", meta)
	}
	got, err := client.GetBytes(ctx, "b", "dir/ünï code.bin", api.GetOptions{Validate: true})
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get: %d bytes, %v", len(got), err)
	}
	head, err := client.Head(ctx, "b", "dir/ünï code.bin")
	if err != nil || head.Size != int64(len(data)) || head.Checksum != meta.Checksum || head.Atime.IsZero() {
		t.Fatalf("head %+v, %v", head, err)
	}
	// The headers AIStore's clients read of a HEAD.
	req, _ := http.NewRequestWithContext(ctx, http.MethodHead, c.Primary().URL()+"/v1/objects/b/dir/%C3%BCn%C3%AF%20code.bin", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for k, want := range map[string]string{api.HeaderPresent: "true", api.HeaderName: "dir/ünï code.bin", api.HeaderBucketName: "b", api.HeaderBucketProvider: "ais", api.HeaderMirrorCopies: "1"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("HEAD %s: %q, want %q", k, got, want)
		}
	}
	// A name a header would alter (its spaces trimmed) or a client
	// refuse (a control byte) is not sent.
	for _, name := range []string{"spaced ", "a\x01b"} {
		if _, err := client.Put(ctx, "b", name, strings.NewReader("s"), api.PutOptions{Size: 1}); err != nil {
			t.Fatal(err)
		}
		req, _ = http.NewRequestWithContext(ctx, http.MethodHead, c.Primary().URL()+"/v1/objects/b/"+url.PathEscape(name), nil)
		if resp, err = http.DefaultClient.Do(req); err != nil {
			t.Fatalf("HEAD of %q: %v", name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(resp.Header.Values(api.HeaderName)) != 0 {
			t.Errorf("HEAD of %q: %s, %s %q; want no name rather than another's", name, resp.Status, api.HeaderName, resp.Header.Values(api.HeaderName))
		}
	}
	meta2, _ := client.Put(ctx, "b", "dir/ünï code.bin", strings.NewReader("v2"), api.PutOptions{Size: -1, Custom: map[string]string{"src": "a,b=c"}})
	if meta2.Version != "2" {
		t.Fatalf("second put version %q", meta2.Version)
	}
	head, _ = client.Head(ctx, "b", "dir/ünï code.bin")
	if head.Custom["src"] != "a,b=c" || head.Size != 2 {
		t.Fatalf("custom metadata: %+v", head)
	}
	sum := md5.Sum([]byte("checked"))
	if _, err := client.Put(ctx, "b", "ck", strings.NewReader("checked"), api.PutOptions{Size: 7,
		Checksum: store.Checksum{Type: "md5", Value: hex.EncodeToString(sum[:])}}); err != nil {
		t.Fatalf("put with a correct md5: %v", err)
	}
	if _, err := client.Put(ctx, "b", "ck", strings.NewReader("checked"), api.PutOptions{Size: 7,
		Checksum: store.Checksum{Type: "md5", Value: "00"}}); !errors.Is(err, api.ErrBadChecksum) {
		t.Fatalf("put with a wrong md5: %v", err)
	}
	if err := client.Delete(ctx, "b", "ck"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Head(ctx, "b", "ck"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("head after delete: %v", err)
	}
	if err := client.Delete(ctx, "b", "ck"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

// A gateway answers data requests with redirects to the owner target, even
// when it is that target itself: GET 301, the others 307.
func TestDataRequestsAreRedirected(t *testing.T) {
	c, client := embedded(t)
	client.CreateBucket(t.Context(), "b", nil)
	client.Put(t.Context(), "b", "o", strings.NewReader("x"), api.PutOptions{Size: 1})
	for method, want := range map[string]int{"GET": 301, "HEAD": 307, "PUT": 307, "DELETE": 307} {
		req, _ := http.NewRequest(method, c.Primary().URL()+"/v1/objects/b/o", nil)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != want || loc == nil || loc.Query().Get(api.QueryProxyID) == "" || loc.Path != "/v1/objects/b/o" {
			t.Errorf("%s: status %d location %q, want %d to the target", method, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
}

func TestRangeRequests(t *testing.T) {
	c, client := embedded(t)
	client.CreateBucket(t.Context(), "b", nil)
	data := []byte("abcdefghijklmnopqrstuvwxyz")
	client.Put(t.Context(), "b", "alpha", bytes.NewReader(data), api.PutOptions{Size: int64(len(data))})
	tests := []struct {
		spec   string
		status int
		body   string
	}{
		{"bytes=0-4", 206, "abcde"},
		{"bytes=20-", 206, "uvwxyz"},
		{"bytes=-3", 206, "xyz"},
		{"bytes=24-100", 206, "yz"},
		{"bytes=26-30", 416, ""},
		{"bytes=5-2", 416, ""},
		// Several ranges, another unit: ignored, the whole object (RFC
		// 9110), not 416 (no range can be served).
		{"bytes=0-1,3-4", 200, string(data)},
		{"items=0-1", 200, string(data)},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest("GET", c.Primary().URL()+"/v1/objects/b/alpha", nil)
		req.Header.Set("Range", tc.spec)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.spec, resp.StatusCode, tc.status, body)
			continue
		}
		if tc.status != 416 && string(body) != tc.body {
			t.Errorf("%s: body %q, want %q", tc.spec, body, tc.body)
		}
		if tc.status == 416 {
			var e api.Error
			if json.Unmarshal(body, &e) != nil || e.Kind != api.KindRange || e.Message == "" || resp.Header.Get("Content-Range") != "bytes */26" {
				t.Errorf("%s: 416 body %s, Content-Range %q", tc.spec, body, resp.Header.Get("Content-Range"))
			}
		}
	}
	part, err := client.GetBytes(t.Context(), "b", "alpha", api.GetOptions{Offset: 10, Length: 3})
	if err != nil || string(part) != "klm" {
		t.Fatalf("client range: %q %v", part, err)
	}
	// A length past what the offset can reach is the rest (its end
	// overflowed into a range the server refused).
	part, err = client.GetBytes(t.Context(), "b", "alpha", api.GetOptions{Offset: 20, Length: math.MaxInt64})
	if err != nil || string(part) != "uvwxyz" {
		t.Fatalf("client range to the end: %q %v", part, err)
	}
	// A length from the start of an empty object is its nothing, as of
	// any object shorter than the length; past its end is still refused.
	if _, err := client.Put(t.Context(), "b", "empty", strings.NewReader(""), api.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if part, err := client.GetBytes(t.Context(), "b", "empty", api.GetOptions{Length: 100}); err != nil || len(part) != 0 {
		t.Fatalf("client range of an empty object from its start: %q %v", part, err)
	}
	if _, err := client.GetBytes(t.Context(), "b", "empty", api.GetOptions{Offset: 1, Length: 100}); !errors.Is(err, api.ErrRange) {
		t.Fatalf("client range of an empty object past its start: %v, want ErrRange", err)
	}
	// A range held to a validator (a resumed download) is served when it
	// names this version (its ETag, or its Last-Modified date), else the
	// whole object is.
	ranged := func(ifRange string) (int, string) {
		return getHeldRange(t, c.Primary().URL()+"/v1/objects/b/alpha", "bytes=20-", ifRange)
	}
	if status, body := ranged(`"an-etag-of-before"`); status != http.StatusOK || body != string(data) {
		t.Fatalf("a range with If-Range of another version: %d %q, want 200 and the whole object", status, body)
	}
	resp, err := http.Head(c.Primary().URL() + "/v1/objects/b/alpha")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	etag, modified := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if !strings.HasPrefix(etag, `"`) || len(etag) < 3 || modified == "" {
		t.Fatalf("HEAD's validators: ETag %q, Last-Modified %q", etag, modified)
	}
	for _, validator := range []string{etag, modified} {
		if status, body := ranged(validator); status != http.StatusPartialContent || body != "uvwxyz" {
			t.Fatalf("a range with If-Range %s of this version: %d %q, want 206 and the rest", validator, status, body)
		}
	}
	if status, body := ranged("W/" + etag); status != http.StatusOK || body != string(data) {
		t.Fatalf("a range with a weak If-Range: %d %q, want 200 and the whole object", status, body)
	}
}

// A copy of a bucket keeps its objects' S3 ETags: the bytes are the same.
func TestCopyKeepsTheS3ETag(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	if _, err := client.Put(ctx, "src", "o", strings.NewReader("data"), api.PutOptions{Size: 4, ETag: true}); err != nil {
		t.Fatal(err)
	}
	before, err := client.Head(ctx, "src", "o")
	if err != nil || before.Custom[store.CustomETag] == "" {
		t.Fatalf("the source's ETag: %v %v", before.Custom, err)
	}
	id, err := client.CopyBucket(ctx, "src", "dst", api.CopyBucketMessage{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.WaitJob(ctx, id, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	after, err := client.Head(ctx, "dst", "o")
	if err != nil || after.Custom[store.CustomETag] != before.Custom[store.CustomETag] {
		t.Fatalf("the copy's ETag %q (%v), want the source's %q", after.Custom[store.CustomETag], err, before.Custom[store.CustomETag])
	}
}

// A name on two targets (a stray copy not yet removed) is listed as its
// owner holds it, whichever target answers first.
func TestListingTakesTheOwnersCopy(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "b", nil)
	b := store.NewBucket("b")
	strays := map[int]string{} // the index of the owner target → a name it owns
	for i := 0; len(strays) < 2 && i < 100; i++ {
		name := fmt.Sprintf("o-%d", i)
		if _, err := client.Put(ctx, "b", name, strings.NewReader("four"), api.PutOptions{Size: 4}); err != nil {
			t.Fatal(err)
		}
		for k, target := range c.Targets() {
			if _, err := target.Store.Head(ctx, b, name); err == nil && strays[k] == "" {
				strays[k] = name
				// An older, longer copy on the other target.
				other := c.Targets()[1-k]
				if _, err := other.Store.Put(ctx, b, name, strings.NewReader("stale copy"), store.PutOptions{Size: 10}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if len(strays) != 2 {
		t.Fatalf("names owned by each target: %v", strays)
	}
	page, err := client.ListObjects(ctx, "b", api.ListObjectsMessage{Props: "name,size"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range page.Entries {
		if e.Size != 4 {
			t.Errorf("%s listed with %d bytes: the stray copy's, not its owner's", e.Name, e.Size)
		}
	}
}

// Bad input gets the right status and a JSON body that names the problem.
func TestBadRequests(t *testing.T) {
	c, client := embedded(t)
	client.CreateBucket(t.Context(), "b", nil)
	client.Put(t.Context(), "b", "there", strings.NewReader("x"), api.PutOptions{Size: 1})
	base := c.Primary().URL()
	type check struct {
		name, method, path, body string
		status                   int
		kind, says               string
	}
	checks := []check{
		{"missing bucket list", "GET", "/v1/buckets/nope", "", 404, api.KindBucketNotFound, "does not exist"},
		{"missing bucket object", "GET", "/v1/objects/nope/o", "", 404, api.KindBucketNotFound, "does not exist"},
		{"missing object", "GET", "/v1/objects/b/missing?pid=x", "", 404, api.KindNotFound, "not found"},
		{"bad bucket name", "POST", "/v1/buckets/bad%20name", `{"action":"create-bck"}`, 400, api.KindInvalidName, "may contain only"},
		{"malformed action", "POST", "/v1/buckets/new", `{"action":`, 400, api.KindBadRequest, "malformed JSON"},
		{"unknown action", "POST", "/v1/buckets/new", `{"action":"explode"}`, 400, api.KindBadRequest, `"explode" is not supported`},
		{"bad props", "POST", "/v1/buckets/new", `{"action":"create-bck","value":{"checksum":{"type":"crc64"}}}`, 400, api.KindInvalidProps, "crc64"},
		{"bad list action", "GET", "/v1/buckets/b", `{"action":"sum"}`, 400, api.KindBadRequest, "not supported"},
		{"bad token", "GET", "/v1/buckets/b?continuation_token=%21%21", "", 400, api.KindBadRequest, "continuation_token"},
		{"bad page size", "GET", "/v1/buckets/b?pagesize=ten", "", 400, api.KindBadRequest, "pagesize"},
		{"method", "PATCH", "/v1/objects/b/o", "", 405, api.KindBadRequest, "not allowed"},
		{"route", "GET", "/v2/whatever", "", 404, api.KindBadRequest, "no such route"},
		{"what", "GET", "/v1/cluster?what=everything", "", 400, api.KindBadRequest, "what="},
		{"validate", "GET", "/v1/objects/b/there?pid=x&validate-checksum=yes", "", 400, api.KindBadRequest, "validate-checksum"},
	}
	for _, name := range storetest.BadObjectNames {
		if name == "" || strings.ContainsAny(name, "\x00") || strings.HasPrefix(name, "/") {
			continue // not expressible as one path, checked in the store
		}
		checks = append(checks, check{"object name " + name[:min(len(name), 12)], "PUT", "/v1/objects/b/" + escapeSegments(name), "x", 400, api.KindInvalidName, "object name"})
	}
	for _, tc := range checks {
		req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e api.Error
		if err := json.Unmarshal(body, &e); err != nil {
			t.Errorf("%s: status %d body %q is not JSON", tc.name, resp.StatusCode, body)
			continue
		}
		if resp.StatusCode != tc.status || e.Status != tc.status || e.Kind != tc.kind || !strings.Contains(e.Message, tc.says) {
			t.Errorf("%s: %d %+v, want %d %s saying %q", tc.name, resp.StatusCode, e, tc.status, tc.kind, tc.says)
		}
	}
	// HEAD carries its error in a header.
	resp, err := http.Head(base + "/v1/objects/b/missing?pid=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var e api.Error
	if resp.StatusCode != 404 || json.Unmarshal([]byte(resp.Header.Get(api.HeaderError)), &e) != nil || e.Kind != api.KindNotFound {
		t.Fatalf("HEAD error: %d %q", resp.StatusCode, resp.Header.Get(api.HeaderError))
	}
	// AIStore's Python SDK sends a GET's archpath and archregx on the HEAD
	// that goes with it: the shard is described.
	if resp, err = http.Head(base + "/v1/objects/b/there?pid=x&archpath=a.jpg&archregx="); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != "1" {
		t.Fatalf("HEAD with archpath: %d %q", resp.StatusCode, resp.Header.Get(api.HeaderError))
	}
}

func escapeSegments(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// Walking all pages of a 25,000-object bucket returns each object exactly
// once, in name order, through a gateway merging three targets.
func TestListPagesAreStableAndComplete(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "many", nil); err != nil {
		t.Fatal(err)
	}
	const n = api.MaxPageSize + 2000 // two pages of the default size
	smap := c.Primary().Node.Map()
	stores := map[string]store.Store{}
	for _, m := range c.Targets() {
		stores[m.Node.ID()] = m.Store
	}
	want := make([]string, 0, n)
	b := store.NewBucket("many")
	for i := range n {
		name := fmt.Sprintf("dir%02d/obj-%06d", i%37, i)
		owner, _ := smap.Owner(cluster.Uname("ais", "many", name))
		storetest.Put(t, stores[owner.ID], b, name, []byte{byte(i)})
		want = append(want, name)
	}
	slices.Sort(want)
	for _, pageSize := range []int{1000, 0} {
		var got []string
		msg := api.ListObjectsMessage{PageSize: pageSize, Props: "name,size,checksum"}
		pages := 0
		for e, err := range client.ListAll(ctx, "many", msg) {
			if err != nil {
				t.Fatal(err)
			}
			if e.Size != 1 || e.Checksum == "" {
				t.Fatalf("entry %+v lacks size or checksum", e)
			}
			got = append(got, e.Name)
			pages++
		}
		if !slices.Equal(got, want) {
			t.Fatalf("page size %d: walked %d names, want %d in order (first %q)", pageSize, len(got), len(want), got[:min(3, len(got))])
		}
	}
	// The same listing through query parameters, as curl would ask.
	resp, err := http.Get(c.Primary().URL() + "/v1/buckets/many?prefix=dir05/&pagesize=10")
	if err != nil {
		t.Fatal(err)
	}
	var page api.ListPage
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if len(page.Entries) != 10 || page.ContinuationToken == "" || !strings.HasPrefix(page.Entries[0].Name, "dir05/") {
		t.Fatalf("query-parameter listing: %+v", page)
	}
}

// getHeldRange GETs a range held to a version by If-Range, following
// redirects; it returns the status and the body.
func getHeldRange(t *testing.T, url, rangeSpec, ifRange string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Range", rangeSpec)
	req.Header.Set("If-Range", ifRange)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(body)
}

// shardETag is an object's ETag, as HEAD gives it.
func shardETag(t *testing.T, c *gatewaytest.Cluster, name string) string {
	t.Helper()
	resp, err := http.Head(c.Primary().URL() + "/v1/objects/shards/" + name)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("ETag")
}

func TestArchPathReadsOneMember(t *testing.T) {
	c, client := embedded(t)
	ctx := t.Context()
	client.CreateBucket(ctx, "shards", nil)
	for _, ext := range []string{".tar", ".tgz", ".zip", ".msgpack", ".tfrecord"} {
		f, _ := formats.Default().ByExtension(ext)
		var buf bytes.Buffer
		w, err := f.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		for i, name := range []string{"a/1.jpg", "a/1.cls", "b/2.jpg"} {
			content := strings.Repeat(fmt.Sprint(i), 1000+i)
			w.WriteHeader(&formats.Entry{Name: name, Size: int64(len(content))})
			io.WriteString(w, content)
		}
		w.Close()
		shard := "shard-0" + ext
		if _, err := client.Put(ctx, "shards", shard, bytes.NewReader(buf.Bytes()), api.PutOptions{Size: int64(buf.Len())}); err != nil {
			t.Fatal(err)
		}
		got, err := client.GetBytes(ctx, "shards", shard, api.GetOptions{ArchPath: "a/1.cls"})
		if err != nil || string(got) != strings.Repeat("1", 1001) {
			t.Fatalf("%s: archpath read %q, %v", ext, got[:min(len(got), 10)], err)
		}
		if _, err := client.GetBytes(ctx, "shards", shard, api.GetOptions{ArchPath: "c/3.jpg"}); !errors.Is(err, api.ErrNotFound) {
			t.Fatalf("%s: missing member: %v", ext, err)
		}
		// A range of a file, as of an object; one past its end is 416.
		got, err = client.GetBytes(ctx, "shards", shard, api.GetOptions{ArchPath: "b/2.jpg", Offset: 1000, Length: 2})
		if err != nil || string(got) != "22" {
			t.Fatalf("%s: a range of a file: %q, %v", ext, got, err)
		}
		if _, err := client.GetBytes(ctx, "shards", shard, api.GetOptions{ArchPath: "b/2.jpg", Offset: 5000}); !errors.Is(err, api.ErrRange) {
			t.Fatalf("%s: a range past a file's end: %v", ext, err)
		}
		// A range held to another version of the shard (If-Range): the
		// whole file; held to this one, the range.
		for ifRange, want := range map[string]string{`"another-version"`: strings.Repeat("2", 1002), shardETag(t, c, shard): "22"} {
			status, body := getHeldRange(t, c.Primary().URL()+"/v1/objects/shards/"+shard+"?archpath=b/2.jpg", "bytes=1000-1001", ifRange)
			if body != want {
				t.Fatalf("%s: a member's range with If-Range %s: %d %q, want %q", ext, ifRange, status, body[:min(len(body), 10)], want[:min(len(want), 10)])
			}
		}
		if _, err := client.GetBytes(ctx, "shards", shard, api.GetOptions{ArchRegex: "jpg", ArchMode: "suffix", Offset: 10}); !errors.Is(err, api.ErrBadRequest) {
			t.Fatalf("%s: a range of selected files: %v", ext, err)
		}
	}
	client.Put(ctx, "shards", "plain.bin", strings.NewReader("not an archive at all"), api.PutOptions{Size: 21})
	if _, err := client.GetBytes(ctx, "shards", "plain.bin", api.GetOptions{ArchPath: "x"}); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("archpath of a non-archive: %v", err)
	}
	// A zip shard's directory is read within a bound: each read
	// (archpath, archregx, get-batch) lets it go, and past the bound a
	// read waits, then is told to come back (503).
	var out bytes.Buffer
	batch := api.BatchRequest{In: []api.BatchEntry{{ObjName: "shard-0.zip", ArchPath: "a/1.jpg"}, {ObjName: "shard-0.zip", ArchPath: "nope"}}, ContinueOnErr: true}
	if _, err := client.GetBatch(ctx, "shards", batch, &out); err != nil {
		t.Fatal(err)
	}
	if _, err := client.GetBytes(ctx, "shards", "shard-0.zip", api.GetOptions{ArchRegex: "jpg", ArchMode: "suffix"}); err != nil {
		t.Fatal(err)
	}
	node := c.Primary().Node
	if !gateway.ZipMemoryFree(node) {
		t.Fatal("the zip shards read hold their directories still")
	}
	release := gateway.HoldZipMemory(ctx, node)
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := client.GetBytes(short, "shards", "shard-0.zip", api.GetOptions{ArchPath: "a/1.cls"})
	release()
	if err == nil {
		t.Fatal("a zip shard was read past the bound of the directories held")
	}
	// So are a listing of its members and a member's PUT into it.
	release = gateway.HoldZipMemory(ctx, node)
	listing := api.ListObjectsMessage{Prefix: "shard-0.zip", Flags: api.FlagString(api.ListArchive)}
	short, cancel = context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := client.ListObjects(short, "shards", listing); err == nil {
		t.Fatal("a zip shard's members were listed past the bound of the directories held")
	}
	short, cancel = context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := client.Put(short, "shards", "shard-0.zip", strings.NewReader("new"), api.PutOptions{Size: 3, ArchPath: "c/3.cls"}); err == nil {
		t.Fatal("a member was put into a zip shard past the bound of the directories held")
	}
	release()
	if page, err := client.ListObjects(ctx, "shards", listing); err != nil || len(page.Entries) < 4 {
		t.Fatalf("a zip shard's members once the bound is free: %+v %v", page, err)
	}
	if _, err := client.Put(ctx, "shards", "shard-0.zip", strings.NewReader("new"), api.PutOptions{Size: 3, ArchPath: "c/3.cls"}); err != nil {
		t.Fatalf("a member put into a zip shard once the bound is free: %v", err)
	}
	if !gateway.ZipMemoryFree(node) {
		t.Fatal("the zip shards listed and rewritten hold their directories still")
	}
}

// archregx with each archmode returns the matching files of a shard as a
// tar, in the shard's order; archmime reads a shard whose name has no
// format; what cannot be answered is a 400 or 404 that says why.
func TestArchRegexSelectsMembers(t *testing.T) {
	_, client := embedded(t)
	ctx := t.Context()
	client.CreateBucket(ctx, "shards", nil)
	names := []string{"a/1.jpg", "a/1.cls", "b/2.jpg", "b/2.cls"}
	content := func(i int) string { return strings.Repeat(fmt.Sprint(i), 700+i) }
	for _, ext := range []string{".tar", ".tgz", ".zip"} {
		f, _ := formats.Default().ByExtension(ext)
		var buf bytes.Buffer
		w, err := f.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		for i, name := range names {
			w.WriteHeader(&formats.Entry{Name: name, Size: int64(len(content(i)))})
			io.WriteString(w, content(i))
		}
		w.Close()
		shard := "blob-" + ext[1:] // no extension: archmime tells the format
		if _, err := client.Put(ctx, "shards", shard, bytes.NewReader(buf.Bytes()), api.PutOptions{Size: int64(buf.Len())}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			expr, mode string
			want       []int
		}{
			{`\.jpg$`, "", []int{0, 2}},
			{`^b/`, "regexp", []int{2, 3}},
			{"a/", "prefix", []int{0, 1}},
			{".cls", "suffix", []int{1, 3}},
			{"/2.", "substr", []int{2, 3}},
			{"a/1", "wdskey", []int{0, 1}},
		} {
			got, err := client.GetBytes(ctx, "shards", shard, api.GetOptions{ArchRegex: tc.expr, ArchMode: tc.mode, ArchMime: ext})
			if err != nil {
				t.Fatalf("%s archregx=%s archmode=%s: %v", ext, tc.expr, tc.mode, err)
			}
			tr := tar.NewReader(bytes.NewReader(got))
			for _, i := range tc.want {
				h, err := tr.Next()
				if err != nil || h.Name != names[i] {
					t.Fatalf("%s archregx=%s archmode=%s: entry %v, %v; want %s", ext, tc.expr, tc.mode, h, err, names[i])
				}
				if data, _ := io.ReadAll(tr); string(data) != content(i) {
					t.Fatalf("%s %s: %d bytes, want the %d put", ext, names[i], len(data), len(content(i)))
				}
			}
			if h, err := tr.Next(); err != io.EOF {
				t.Fatalf("%s archregx=%s archmode=%s: one more entry %v, %v", ext, tc.expr, tc.mode, h, err)
			}
		}
		if _, err := client.GetBytes(ctx, "shards", shard, api.GetOptions{ArchRegex: "nothing", ArchMode: "prefix", ArchMime: ext}); !errors.Is(err, api.ErrNotFound) {
			t.Fatalf("%s: no match: %v, want ErrNotFound", ext, err)
		}
	}
	for _, tc := range []struct {
		opts api.GetOptions
		want string
	}{
		{api.GetOptions{ArchRegex: "((", ArchMime: "tar"}, "not a regular expression"},
		{api.GetOptions{ArchRegex: strings.Repeat("(a|b)", 1000), ArchMime: "tar"}, "at most 4096"},
		{api.GetOptions{ArchRegex: "a", ArchMode: "glob", ArchMime: "tar"}, "want regexp, prefix"},
		{api.GetOptions{ArchRegex: "a", ArchPath: "a/1.jpg", ArchMime: "tar"}, "send one"},
		{api.GetOptions{ArchPath: "a/1.jpg", ArchMime: "rar"}, "not a shard format"},
		{api.GetOptions{ArchRegex: "a"}, "name the format with archmime"},
		// A format the shard's bytes belie: the request is wrong, not
		// the shard.
		{api.GetOptions{ArchPath: "a/1.jpg", ArchMime: ".zip"}, "blob-tar is a tar shard"},
	} {
		object := "blob-tar"
		if tc.opts.ArchMime == "" {
			object = "plain"
			client.Put(ctx, "shards", object, strings.NewReader("not a shard"), api.PutOptions{Size: 11})
		}
		_, err := client.GetBytes(ctx, "shards", object, tc.opts)
		if !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.200v: %v, want a bad request naming %q", fmt.Sprint(tc.opts), err, tc.want)
		}
	}
}

// A PUT with archpath puts the body as one file of a shard: appended, or
// replacing the file of that name, the shard created when missing; the
// other files stay as they were, and a bad name or format is a 400.
// Archpath PUTs into record-format shards (each holds a record in
// memory) run a few at a time: past them one waits, and ends with its
// client.
func TestArchPathPutIntoRecordShardsIsBounded(t *testing.T) {
	c, client := embedded(t)
	ctx := t.Context()
	client.CreateBucket(ctx, "shards", nil)
	put := func(ctx context.Context) error {
		_, err := client.Put(ctx, "shards", "r.msgpack", strings.NewReader("v"), api.PutOptions{Size: 1, ArchPath: "k.x"})
		return err
	}
	release := gateway.HoldRecordRewrites(c.Primary().Node)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := put(short); err == nil {
		t.Fatal("an archpath PUT into a msgpack shard ran past the bound")
	}
	if _, err := client.Head(ctx, "shards", "r.msgpack"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the shard of the PUT that waited: %v", err)
	}
	release()
	if err := put(ctx); err != nil {
		t.Fatalf("once a slot is free: %v", err)
	}
}

// A file PUT into a shard an archive job holds waits a while, then is
// told to send again (503), rather than hang for the job's length;
// behind another file PUT it waits its turn.
func TestArchPathPutWaitsForItsShardBounded(t *testing.T) {
	defer gateway.SetShardLockWait(200 * time.Millisecond)()
	c, client := embedded(t)
	ctx := t.Context()
	client.CreateBucket(ctx, "shards", nil)
	release := gateway.HoldShardLock(ctx, c.Primary().Node, store.NewBucket("shards"), "s.tar", true)
	short, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, err := client.Put(short, "shards", "s.tar", strings.NewReader("v"), api.PutOptions{Size: 1, ArchPath: "k.x"})
	release()
	if !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "archive job") {
		t.Fatalf("a file PUT into a shard a job holds: %v, want a 503", err)
	}
	// A format not known is told at once, not after the wait.
	release = gateway.HoldShardLock(ctx, c.Primary().Node, store.NewBucket("shards"), "s.tar", true)
	_, err = client.Put(short, "shards", "s.tar", strings.NewReader("v"), api.PutOptions{Size: 1, ArchPath: "k.x", ArchMime: ".rar"})
	release()
	if !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "not a shard format") {
		t.Fatalf("a file PUT of archmime .rar into a shard a job holds: %v, want a 400", err)
	}
	release = gateway.HoldShardLock(ctx, c.Primary().Node, store.NewBucket("shards"), "s.tar", false)
	time.AfterFunc(time.Second, release)
	if _, err := client.Put(short, "shards", "s.tar", strings.NewReader("v"), api.PutOptions{Size: 1, ArchPath: "k.x"}); err != nil {
		t.Fatalf("a file PUT behind another: %v, want it to wait its turn", err)
	}
}

// A file past what a record-format shard's record may hold is the
// request's fault: a 400 that names the bound, not a 500.
func TestArchPathPutPastARecordsBoundIsABadRequest(t *testing.T) {
	_, client := embedded(t)
	ctx := t.Context()
	client.CreateBucket(ctx, "shards", nil)
	if _, err := client.Put(ctx, "shards", "r.msgpack", strings.NewReader("v"), api.PutOptions{Size: 1, ArchPath: "k.x"}); err != nil {
		t.Fatal(err)
	}
	size := int64(formats.MaxBufferedRecord + 1)
	_, err := client.Put(ctx, "shards", "r.msgpack", io.LimitReader(zeros{}, size), api.PutOptions{Size: size, ArchPath: "big.bin"})
	if !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "in memory") {
		t.Fatalf("a %d-byte file into a msgpack shard: %v, want a 400 naming the bound", size, err)
	}
}

func TestArchPathPutAddsMember(t *testing.T) {
	c, client := embedded(t)
	ctx := t.Context()
	client.CreateBucket(ctx, "shards", nil)
	put := func(shard, member, body string, mime string) error {
		_, err := client.Put(ctx, "shards", shard, strings.NewReader(body), api.PutOptions{Size: int64(len(body)), ArchPath: member, ArchMime: mime})
		return err
	}
	for _, ext := range []string{".tar", ".tgz", ".zip"} {
		shard := "s" + ext
		steps := []struct{ member, body string }{
			{"a/1.jpg", "first jpg"}, {"a/1.cls", "7"}, {"b/2.jpg", "second jpg"}, {"a/1.cls", "8"}, {"a/1.json", "{}"},
		}
		for _, s := range steps {
			if err := put(shard, s.member, s.body, ""); err != nil {
				t.Fatalf("%s: put %s: %v", shard, s.member, err)
			}
		}
		want := map[string]string{"a/1.jpg": "first jpg", "b/2.jpg": "second jpg", "a/1.cls": "8", "a/1.json": "{}"}
		data, err := client.GetBytes(ctx, "shards", shard, api.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		order, contents := readArchive(t, ext, data)
		for name, body := range contents {
			if want[name] != body {
				t.Fatalf("%s: %s holds %q, want %q", shard, name, body, want[name])
			}
		}
		// A file replaced stays in its place, a new one goes after its
		// record's: a record's files stay together (one sample).
		if !slices.Equal(order, []string{"a/1.jpg", "a/1.cls", "a/1.json", "b/2.jpg"}) {
			t.Fatalf("%s: files %v, want a/1.jpg, a/1.cls (replaced in its place), a/1.json (after its record's), b/2.jpg", shard, order)
		}
	}
	// A file that is a directory of another, or under another: tar and
	// unzip could not extract both (409), and the shard stays as it was.
	for _, member := range []string{"a", "a/1.jpg/x", "b/2.jpg/y/z"} {
		if err := put("s.tar", member, "clash", ""); !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "directory") {
			t.Fatalf("a file %s into a shard holding a/1.jpg and b/2.jpg: %v, want 409", member, err)
		}
	}
	if data, err := client.GetBytes(ctx, "shards", "s.tar", api.GetOptions{}); err != nil {
		t.Fatal(err)
	} else if order, _ := readArchive(t, ".tar", data); len(order) != 4 {
		t.Fatalf("the shard after refused files: %v", order)
	}
	if err := put("blob", "x.txt", "x", "tgz"); err != nil {
		t.Fatalf("a new shard of archmime tgz: %v", err)
	}
	if got, err := client.GetBytes(ctx, "shards", "blob", api.GetOptions{ArchPath: "x.txt", ArchMime: "tgz"}); err != nil || string(got) != "x" {
		t.Fatalf("the file put into the tgz: %q %v", got, err)
	}
	for _, tc := range []struct{ shard, member, mime, want string }{
		{"s.tar", "../escape", "", "segment"},
		{"s.tar", "/abs", "", "absolute"},
		{"noformat", "x", "", "not a known archive"},
		{"s.tar", "x", "rar", "not a shard format"},
	} {
		if err := put(tc.shard, tc.member, "body", tc.mime); !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s archpath=%s: %v, want a bad request naming %q", tc.shard, tc.member, err, tc.want)
		}
	}
	// Chunked: the size of the file is needed before its bytes.
	u := c.Primary().URL() + "/v1/objects/shards/s.tar?archpath=c.txt"
	var resp *http.Response
	for range 2 { // the gateway's redirect, then the target
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, u, io.MultiReader(strings.NewReader("chunked")))
		req.ContentLength = -1
		var err error
		if resp, err = noRedirect.Do(req); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTemporaryRedirect {
			break
		}
		u = resp.Header.Get("Location")
	}
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a chunked PUT into a shard: %s, want 400", resp.Status)
	}
	// A client that gives up mid-file leaves the shard as it was, and
	// the compressor of the new one holds no goroutine after.
	for range 5 {
		body := io.MultiReader(bytes.NewReader(make([]byte, 3<<20)), iotest.ErrReader(errors.New("client gives up")))
		if _, err := client.Put(ctx, "shards", "s.tgz", body, api.PutOptions{Size: 8 << 20, ArchPath: "big.bin"}); err == nil {
			t.Fatal("a PUT of a file cut short succeeded")
		}
	}
	data, err := client.GetBytes(ctx, "shards", "s.tgz", api.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if order, _ := readArchive(t, ".tgz", data); !slices.Equal(order, []string{"a/1.jpg", "a/1.cls", "a/1.json", "b/2.jpg"}) {
		t.Fatalf("s.tgz after the failed PUTs: %v", order)
	}
	compressing := func() int {
		stacks := make([]byte, 8<<20)
		return strings.Count(string(stacks[:runtime.Stack(stacks, true)]), "klauspost/pgzip")
	}
	deadline := time.Now().Add(10 * time.Second)
	for compressing() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := compressing(); n > 0 {
		t.Fatalf("%d frames of pgzip's goroutines left after the failed PUTs into a tgz", n)
	}
}

// Concurrent PUTs of files into one shard lose none: a PUT that raced
// another is refused (412) and sent again, never stored over it.
func TestArchPathPutConcurrent(t *testing.T) {
	_, client := embedded(t)
	ctx := t.Context()
	client.CreateBucket(ctx, "shards", nil)
	// Without checksums a shard's ETag is its write's stamp: the guard
	// holds there too.
	client.CreateBucket(ctx, "plain", map[string]any{"checksum": map[string]any{"type": "none"}})
	for _, bucket := range []string{"shards", "plain"} {
		const writers = 8
		var wg sync.WaitGroup
		var refused atomic.Int64
		for i := range writers {
			wg.Go(func() {
				body := fmt.Sprintf("file %d", i)
				for attempt := 0; attempt < 100; attempt++ {
					_, err := client.Put(ctx, bucket, "c.tar", strings.NewReader(body), api.PutOptions{Size: int64(len(body)), ArchPath: fmt.Sprintf("f%d.txt", i)})
					if err == nil {
						return
					}
					if !errors.Is(err, api.ErrPreconditionFailed) {
						t.Errorf("%s: writer %d: %v", bucket, i, err)
						return
					}
					refused.Add(1)
				}
				t.Errorf("%s: writer %d: refused 100 times", bucket, i)
			})
		}
		wg.Wait()
		for i := range writers {
			got, err := client.GetBytes(ctx, bucket, "c.tar", api.GetOptions{ArchPath: fmt.Sprintf("f%d.txt", i)})
			if err != nil || string(got) != fmt.Sprintf("file %d", i) {
				t.Fatalf("%s: f%d.txt after %d concurrent writers (%d refused, sent again): %q %v", bucket, i, writers, refused.Load(), got, err)
			}
		}
	}
	// A plain PUT between the read of a shard and its rewrite is not
	// undone: the condition is on the shard's write, content or not.
	meta, err := client.Head(ctx, "plain", "c.tar")
	if err != nil || meta.Stamp == (store.Stamp{}) {
		t.Fatalf("head: %+v %v", meta, err)
	}
	if _, err := client.Put(ctx, "plain", "c.tar", strings.NewReader("x"), api.PutOptions{Size: 1, IfMatch: store.ETagOf(meta)}); err != nil {
		t.Fatalf("a PUT matching the stamp's ETag: %v", err)
	}
	if _, err := client.Put(ctx, "plain", "c.tar", strings.NewReader("y"), api.PutOptions{Size: 1, IfMatch: store.ETagOf(meta)}); !errors.Is(err, api.ErrPreconditionFailed) {
		t.Fatalf("a PUT matching the ETag of an older write: %v, want 412", err)
	}
}

// A client's custom metadata cannot set the keys the node keeps for
// itself: forged remote attributes would pass a validated warm GET, and a
// forged dSort job mark would let that job's recovery remove the object.
func TestCustomMetadataCannotSetReservedKeys(t *testing.T) {
	c, client := embedded(t)
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	forged := map[string]string{"dsort.job": "srt-x", "remote.version": "7", "remote.etag": "e", "owner": "me",
		// An ETag a copied HEAD would carry onto new bytes, and a forged
		// multipart layout.
		"s3.etag": "\"0123\"", "s3.mp-parts": "9", "s3.mp-sizes": "1*9", "s3.mp-upload": "u"}
	if _, err := client.Put(ctx, "b", "o", strings.NewReader("data"), api.PutOptions{Size: 4, Custom: forged}); err != nil {
		t.Fatal(err)
	}
	meta, err := client.Head(ctx, "b", "o")
	if err != nil {
		t.Fatal(err)
	}
	for key := range forged {
		if key != "owner" && meta.Custom[key] != "" {
			t.Errorf("the reserved key %s was set by the client: %q", key, meta.Custom[key])
		}
	}
	if meta.Custom["owner"] != "me" {
		t.Errorf("the client's own key was dropped: %v", meta.Custom)
	}
	// A node of the cluster (a dSort target writing an index through its
	// owner) keeps the job's mark.
	req, _ := http.NewRequest(http.MethodPut, c.Primary().URL()+"/v1/objects/b/o.idx", strings.NewReader("idx"))
	req.ContentLength = 3
	req.Header.Set(api.HeaderCustom, "dsort.job=srt-1")
	resp, err := c.PeerClient("t9").Do(req) // signed at every hop, as nodes do
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a node's PUT: %s", resp.Status)
	}
	if meta, err := client.Head(ctx, "b", "o.idx"); err != nil || meta.Custom["dsort.job"] != "srt-1" {
		t.Fatalf("a node's PUT lost the job's mark: %v %v", meta.Custom, err)
	}
	// A raw key=value a line (AIStore's clients), an empty line among
	// them: every line is kept as it is.
	req, _ = http.NewRequest(http.MethodPut, c.Primary().URL()+"/v1/objects/b/lines", strings.NewReader("l"))
	req.ContentLength = 1
	req.Header["Ais-Custom-Md"] = []string{"", "a=1", "tags=x,y", "pct=50%"}
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a PUT with custom metadata on three lines: %s", resp.Status)
	}
	if meta, err := client.Head(ctx, "b", "lines"); err != nil || meta.Custom["a"] != "1" || meta.Custom["tags"] != "x,y" || meta.Custom["pct"] != "50%" || len(meta.Custom) != 3 {
		t.Fatalf("custom metadata sent on three lines: %v %v", meta.Custom, err)
	}
	// One raw line that is no escaped list is one key=value.
	for _, tc := range []struct{ line, key, value string }{{"tags=x,y", "tags", "x,y"}, {"pct=50%", "pct", "50%"}, {"c=1", "c", "1"}} {
		req, _ = http.NewRequest(http.MethodPut, c.Primary().URL()+"/v1/objects/b/line", strings.NewReader("l"))
		req.ContentLength = 1
		req.Header.Set("Ais-Custom-Md", tc.line)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("a PUT with custom metadata %q: %s", tc.line, resp.Status)
		}
		if meta, err := client.Head(ctx, "b", "line"); err != nil || meta.Custom[tc.key] != tc.value || len(meta.Custom) != 1 {
			t.Fatalf("custom metadata sent as %q: %v %v", tc.line, meta.Custom, err)
		}
	}
}

// A file put into a shard that holds links is refused: the shard is
// written anew from its files, and its links would be lost.
func TestArchPathPutKeepsLinks(t *testing.T) {
	_, client := embedded(t)
	ctx := t.Context()
	client.CreateBucket(ctx, "shards", nil)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "a.txt", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	tw.Write([]byte("a"))
	tw.WriteHeader(&tar.Header{Name: "b.txt", Linkname: "a.txt", Typeflag: tar.TypeSymlink})
	tw.Close()
	before := buf.Bytes()
	if _, err := client.Put(ctx, "shards", "linked.tar", bytes.NewReader(before), api.PutOptions{Size: int64(len(before))}); err != nil {
		t.Fatal(err)
	}
	_, err := client.Put(ctx, "shards", "linked.tar", strings.NewReader("c"), api.PutOptions{Size: 1, ArchPath: "c.txt"})
	if !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "b.txt") {
		t.Fatalf("a put into a shard with a link: %v, want 400 naming the link", err)
	}
	if after, err := client.GetBytes(ctx, "shards", "linked.tar", api.GetOptions{}); err != nil || !bytes.Equal(after, before) {
		t.Fatalf("the shard changed: %v", err)
	}
}

// What a PUT of a whole object asks for (conditions, a checksum, custom
// metadata) is refused on a PUT into a shard, not ignored; a checksum
// value needs its type, and is taken in either case of hex.
func TestPutChecksumAndConditionsAreNotIgnored(t *testing.T) {
	c, client := embedded(t)
	ctx := t.Context()
	client.CreateBucket(ctx, "b", nil)
	if _, err := client.Put(ctx, "b", "s.tar", strings.NewReader("member"), api.PutOptions{Size: 6, ArchPath: "a.txt"}); err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string]api.PutOptions{
		"If-Match":        {IfMatch: "0123"},
		"a checksum":      {Checksum: store.Checksum{Type: store.ChecksumMD5, Value: "00112233445566778899aabbccddeeff"}},
		"custom metadata": {Custom: map[string]string{"k": "v"}},
	} {
		opts.Size, opts.ArchPath = 6, "b.txt"
		if _, err := client.Put(ctx, "b", "s.tar", strings.NewReader("member"), opts); !errors.Is(err, api.ErrBadRequest) {
			t.Errorf("a PUT into a shard with %s: %v, want 400", name, err)
		}
	}
	sum := md5.Sum([]byte("data"))
	value := hex.EncodeToString(sum[:])
	if _, err := client.Put(ctx, "b", "o", strings.NewReader("data"), api.PutOptions{Size: 4, Checksum: store.Checksum{Value: value}}); !errors.Is(err, api.ErrBadRequest) {
		t.Errorf("a checksum value without a type: %v, want 400", err)
	}
	if _, err := client.Put(ctx, "b", "o", strings.NewReader("data"), api.PutOptions{Size: 4, Checksum: store.Checksum{Type: store.ChecksumMD5, Value: strings.ToUpper(value)}}); err != nil {
		t.Errorf("an MD5 in upper-case hex: %v", err)
	}
	// A checksum on second lines, behind empty first ones: refused, not
	// taken as none.
	header := http.Header{api.HeaderChecksumType: {"", store.ChecksumMD5}, api.HeaderChecksumValue: {"", strings.Repeat("0", 32)}}
	if status, body := putHeaders(t, c.Primary().URL()+"/v1/objects/b/o2", "data", header); status != http.StatusBadRequest || !strings.Contains(body, "lines") {
		t.Errorf("a checksum on second header lines: %d %s, want 400", status, body)
	}
	// Nor into a shard: a condition behind an empty first line.
	header = http.Header{"If-None-Match": {"", "*"}}
	if status, body := putHeaders(t, c.Primary().URL()+"/v1/objects/b/s.tar?"+api.QueryArchPath+"=c.txt", "member", header); status != http.StatusBadRequest || !strings.Contains(body, "If-None-Match") {
		t.Errorf("a PUT into a shard with a condition on a second line: %d %s, want 400", status, body)
	}
}

// A zip member whose bytes do not match its CRC (checked as its last
// bytes are read) is not served as a whole file: the read fails.
func TestArchPathOfACorruptZipMemberFails(t *testing.T) {
	_, client := embedded(t)
	ctx := t.Context()
	client.CreateBucket(ctx, "shards", nil)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	fw, err := zw.CreateHeader(&zip.FileHeader{Name: "a.bin", Method: zip.Store})
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("z"), 5000)
	fw.Write(content)
	zw.Close()
	data := buf.Bytes()
	i := bytes.Index(data, content)
	data[i+100] ^= 0xff // the member's bytes change; its CRC stays
	if _, err := client.Put(ctx, "shards", "bad.zip", bytes.NewReader(data), api.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	got, err := client.GetBytes(ctx, "shards", "bad.zip", api.GetOptions{ArchPath: "a.bin"})
	if err == nil {
		t.Fatalf("a member that fails its CRC read whole: %d bytes", len(got))
	}
}

// A GET or HEAD honours its preconditions (RFC 9110 13.2) through the
// gateway's redirect: If-Match or If-Unmodified-Since that fails is 412,
// If-None-Match or If-Modified-Since that holds is 304 with the
// validators; a DELETE with one is refused (501), not taken as a plain
// delete.
func TestObjectPreconditions(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "b", nil)
	data := []byte("the object")
	if _, err := client.Put(ctx, "b", "o", bytes.NewReader(data), api.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	do := func(method string, header map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, c.Primary().URL()+"/v1/objects/b/o", nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	plain := do(http.MethodHead, nil)
	etag, modified := plain.Header.Get("ETag"), plain.Header.Get("Last-Modified")
	if etag == "" || modified == "" {
		t.Fatalf("no validators: ETag %q, Last-Modified %q", etag, modified)
	}
	later := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	earlier := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		for _, tc := range []struct {
			header map[string]string
			status int
		}{
			{map[string]string{"If-Match": etag}, 200},
			{map[string]string{"If-Match": `"other"`}, 412},
			{map[string]string{"If-Unmodified-Since": earlier}, 412},
			{map[string]string{"If-None-Match": etag}, 304},
			{map[string]string{"If-None-Match": "W/" + etag}, 304},
			{map[string]string{"If-None-Match": `"other"`}, 200},
			{map[string]string{"If-Modified-Since": later}, 304},
			{map[string]string{"If-Modified-Since": earlier}, 200},
		} {
			resp := do(method, tc.header)
			if resp.StatusCode != tc.status {
				t.Errorf("%s with %v: %d, want %d", method, tc.header, resp.StatusCode, tc.status)
			}
			if tc.status == 304 && resp.Header.Get("ETag") != etag {
				t.Errorf("%s with %v: 304 with ETag %q, want %q", method, tc.header, resp.Header.Get("ETag"), etag)
			}
		}
	}
	// A list on two lines is one list (RFC 9110 5.3).
	for _, tc := range []struct {
		header string
		status int
		first  string
	}{{"If-None-Match", 304, `"other"`}, {"If-Match", 200, `"other"`}, {"If-None-Match", 304, ""}} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.Primary().URL()+"/v1/objects/b/o", nil)
		req.Header.Add(tc.header, tc.first)
		req.Header.Add(tc.header, etag)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("GET with %s on two lines (%q, then the ETag): %d, want %d", tc.header, tc.first, resp.StatusCode, tc.status)
		}
	}
	if resp := do(http.MethodDelete, map[string]string{"If-Match": `"other"`}); resp.StatusCode != http.StatusNotImplemented {
		t.Fatalf("a conditional DELETE: %d, want 501", resp.StatusCode)
	}
	if _, err := client.Head(ctx, "b", "o"); err != nil {
		t.Fatalf("the object after a refused conditional DELETE: %v", err)
	}
}

// A DELETE of an object its owner lacks removes the copy another target
// holds (one a rebalance could not place), which a GET would serve: the
// delete holds once its tombstone is collected.
func TestDeleteReachesACopyItsOwnerLacks(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true,
		Configure: func(cfg *gateway.Config) { cfg.RebalanceRecent = 100 * time.Millisecond }})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "b", nil)
	b := store.NewBucket("b")
	if _, err := client.Put(ctx, "b", "o", strings.NewReader("four"), api.PutOptions{Size: 4}); err != nil {
		t.Fatal(err)
	}
	// Moved to the other target, as a stray the owner does not have.
	var owner, other *gatewaytest.Member
	for k, target := range c.Targets() {
		if _, err := target.Store.Head(ctx, b, "o"); err == nil {
			owner, other = target, c.Targets()[1-k]
		}
	}
	if _, err := other.Store.Put(ctx, b, "o", strings.NewReader("four"), store.PutOptions{Size: 4}); err != nil {
		t.Fatal(err)
	}
	if err := owner.Store.Delete(ctx, b, "o", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	rc, _, err := client.Get(ctx, "b", "o", api.GetOptions{})
	if err != nil {
		t.Fatalf("the stray copy is served: %v", err)
	}
	rc.Close()
	// Settled: the owner asks the others only because it lacks the object.
	waitNoRebalance(t, c)
	if err := client.Delete(ctx, "b", "o"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := other.Store.Head(ctx, b, "o"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the stray copy after the DELETE: %v", err)
	}
	if err := client.Delete(ctx, "b", "o"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a second delete: %v, want not found", err)
	}
	// A delete of a name no target holds leaves its tombstone on the
	// owner only.
	if err := client.Delete(ctx, "b", "never"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a delete of a name never written: %v, want not found", err)
	}
	m, err := client.Map(ctx)
	if err != nil {
		t.Fatal(err)
	}
	neverOwner, _ := m.Owner(cluster.Uname("ais", "b", "never"))
	for _, target := range c.Targets() {
		if _, ok := target.Store.Tombstone(b, "never"); ok != (target.Node.ID() == neverOwner.ID) {
			t.Fatalf("target %s keeps a tombstone of a name it does not own and never held: %v", target.Node.ID(), ok)
		}
	}
}

// A DELETE its owner misses while another target cannot tell whether it
// holds a copy is 503, to retry: not found would be a guess.
func TestDeleteMissWithASilentNeighborIsUnavailable(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.RebalanceRecent = 100 * time.Millisecond
		if cfg.Store != nil {
			cfg.Store = headFails{cfg.Store, "x", fmt.Errorf("%w: the test's disk", store.ErrIO)}
		}
	}})
	client := c.Client()
	if err := client.CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatal(err)
	}
	waitNoRebalance(t, c)
	if err := client.Delete(t.Context(), "b", "x"); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("a delete the owner misses while another target cannot tell: %v, want 503", err)
	}
	if err := client.Delete(t.Context(), "b", "y"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a delete of a name no target holds: %v, want 404", err)
	}
}

// waitNoRebalance waits (10 s at most) until no target sees a rebalance:
// a DELETE then asks the others only for an object its owner lacks.
func waitNoRebalance(t *testing.T, c *gatewaytest.Cluster) {
	t.Helper()
	for _, target := range c.Targets() {
		for deadline := time.Now().Add(10 * time.Second); gateway.Rebalancing(target.Node); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("target %s still sees a rebalance", target.Node.ID())
			}
		}
	}
}

// An object of a bucket without checksums lists, through S3, with the
// ETag its HEAD gives (its write's stamp): clients that list and then
// read or sync by ETag see one object, not a changed one.
func TestS3ListingETagOfAnObjectWithoutChecksum(t *testing.T) {
	c, client := embedded(t)
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "plain", map[string]any{"checksum": map[string]any{"type": "none"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(ctx, "plain", "o", strings.NewReader("data"), api.PutOptions{Size: 4}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Head(c.Primary().URL() + "/s3/plain/o")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	head := resp.Header.Get("ETag")
	resp, err = http.Get(c.Primary().URL() + "/s3/plain?list-type=2")
	if err != nil {
		t.Fatal(err)
	}
	var listed struct {
		Contents []struct{ Key, ETag string }
	}
	err = xml.NewDecoder(resp.Body).Decode(&listed)
	resp.Body.Close()
	if err != nil || len(listed.Contents) != 1 {
		t.Fatalf("the S3 listing: %+v %v", listed, err)
	}
	if head == "" || head == `""` || listed.Contents[0].ETag != head {
		t.Fatalf("listed ETag %q, HEAD's %q: want the same, not empty", listed.Contents[0].ETag, head)
	}
}

// setPropsRaw sends set-bprops with the props as given (a map would not
// keep a key twice) and returns the status and body.
func setPropsRaw(t *testing.T, c *gatewaytest.Cluster, bucket, props string) (int, string) {
	t.Helper()
	body := `{"action":"set-bprops","value":` + props + `}`
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPatch, c.Primary().URL()+"/v1/buckets/"+bucket, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(answer)
}
