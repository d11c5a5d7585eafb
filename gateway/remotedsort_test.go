package gateway_test

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/datasets"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/store"
)

// An aborted dSort job into a remote bucket removes the shards it wrote
// through from the remote too, not only their cached copies; an object
// of the remote bucket the job did not write stays.
func TestAbortedDsortRemovesItsRemoteOutput(t *testing.T) {
	rs := &countingRemote{objects: map[string][]byte{"keep.tar": []byte("not the job's")}, failPut: "out-007.tar"}
	c := remoteCluster(t, rs, 3)
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	putDataset(t, client, "src", datasets.Spec{Template: "in-{00..09}.tar", Records: 20, RecordSize: 2000, Seed: 3})
	spec := `{"input_bck":{"name":"src"},"output_bck":{"name":"out","provider":"aws"},"input_format":{"template":"in-{00..09}.tar"},
		"output_format":"out-{000..999}.tar","output_shard_size":"20KiB","create_concurrency_max_limit":1}`
	id, err := client.DsortStart(ctx, []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	sum := waitDsort(t, client, id)
	if !sum.Aborted {
		t.Fatalf("the job was not aborted by the remote's refusal: %+v", sum)
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.puts == 0 {
		t.Fatal("no output shard reached the remote before the refused one: the test shows nothing")
	}
	for name := range rs.objects {
		if strings.HasPrefix(name, "out-") {
			t.Errorf("the aborted job's %s is left in the remote", name)
		}
	}
	if _, ok := rs.objects["keep.tar"]; !ok {
		t.Error("the remote's own object was removed")
	}
}

// A listing of what is cached of a remote bucket shows each copy's ETag:
// the S3 one (its MD5), or, for an object whose ETag is not its MD5 (an
// encrypted one), the ETag the remote answered its write-through.
func TestCachedListingShowsTheRemoteETag(t *testing.T) {
	for _, kms := range []bool{false, true} {
		rs := &countingRemote{objects: map[string][]byte{}, kms: kms}
		client := remoteCluster(t, rs, 1).Client()
		if _, err := client.Put(t.Context(), "s3://out", "o", strings.NewReader("written"), api.PutOptions{Size: 7}); err != nil {
			t.Fatal(err)
		}
		page, err := client.ListObjects(t.Context(), "s3://out", api.ListObjectsMessage{Flags: api.ListCached, Props: "name,etag"})
		want := fmt.Sprintf("%x", md5.Sum([]byte("written")))
		if err != nil || len(page.Entries) != 1 || page.Entries[0].ETag != want {
			t.Fatalf("kms=%v: the cached listing: %+v %v, want the ETag %s", kms, page, err, want)
		}
	}
}

// An estimate of a job over a remote bucket reads only what the cluster
// holds: a shard not cached is a 409 saying to prefetch it, and nothing
// is fetched from the remote (an estimate downloads no dataset). Once
// cached, the estimate is made.
func TestDsortEstimateFetchesNothing(t *testing.T) {
	shards := map[string][]byte{}
	var mu sync.Mutex
	if _, err := datasets.Generate(t.Context(), datasets.Spec{Template: "in-{0..3}.tar", Records: 10, RecordSize: 1000, Seed: 3}, func(name string) (io.WriteCloser, error) {
		return &bufferShard{name: name, mu: &mu, out: shards}, nil
	}); err != nil {
		t.Fatal(err)
	}
	rs := &countingRemote{objects: shards}
	c := remoteCluster(t, rs, 2)
	client := c.Client()
	ctx := t.Context()
	if _, err := client.ListObjects(ctx, "aws://in", api.ListObjectsMessage{}); err != nil {
		t.Fatal(err)
	}
	// in-4.tar is in neither the cluster nor the remote: missing (the
	// default reaction ignores it), not "not cached".
	spec := []byte(`{"input_bck":{"name":"in","provider":"aws"},"input_format":{"template":"in-{0..4}.tar"},"output_format":"out-{00..99}.tar","output_shard_size":"10KiB"}`)
	_, err := client.EstimateDsort(ctx, spec)
	if !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "not cached") || !strings.Contains(err.Error(), "prefetch") {
		t.Fatalf("an estimate over shards not cached: %v, want a 409 saying to prefetch", err)
	}
	rs.mu.Lock()
	gets := rs.gets
	rs.mu.Unlock()
	if gets != 0 {
		t.Fatalf("the estimate fetched %d objects from the remote", gets)
	}
	for name := range shards {
		obj, _, err := client.Get(ctx, "aws://in", name, api.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, obj)
		obj.Close()
	}
	est, err := client.EstimateDsort(ctx, spec)
	if err != nil || est.Records != 40 || est.MissingShards != 1 {
		t.Fatalf("an estimate over cached shards and one the remote has not: %+v, %v", est, err)
	}
}

// A remote bucket created with props of its own keeps the remote
// defaults under them (LRU on: its copies are a cache), as one that
// joins at first access does.
func TestRemoteBucketCreatedWithPropsKeepsItsDefaults(t *testing.T) {
	c := remoteCluster(t, &countingRemote{objects: map[string][]byte{}}, 1)
	client := c.Client()
	if err := client.CreateBucket(t.Context(), "aws://r", map[string]any{"checksum": map[string]any{"type": "md5"}}); err != nil {
		t.Fatal(err)
	}
	props, err := client.BucketProps(t.Context(), "aws://r")
	if err != nil || !props.LRU.Enabled || props.Checksum.Type != "md5" || props.Provider != "aws" {
		t.Fatalf("a remote bucket created with a checksum type: %+v, %v; want LRU on, md5, provider aws", props, err)
	}
	// A create that raced another (it found no bucket, then one was
	// added): taken with the props it asked for, refused with others
	// rather than answered done with its props dropped.
	b := store.Bucket{Provider: store.ProviderAWS, Name: "r"}
	same := store.DefaultRemoteProps(b)
	same.Checksum.Type = "md5"
	if err := gateway.AddRemoteBucket(t.Context(), c.Primary().Node, b, &same); err != nil {
		t.Fatalf("a create that raced one with the same props: %v", err)
	}
	other := store.DefaultRemoteProps(b)
	if err := gateway.AddRemoteBucket(t.Context(), c.Primary().Node, b, &other); !errors.Is(err, store.ErrBucketExists) {
		t.Fatalf("a create that raced one with other props: %v, want the bucket exists", err)
	}
	if err := gateway.AddRemoteBucket(t.Context(), c.Primary().Node, b, nil); err != nil {
		t.Fatalf("a first access that raced a create: %v", err)
	}
}

// A remote bucket's object answers with the remote's ETag and
// Last-Modified however it is read: a HEAD before it is cached, a cold
// GET streamed while it is stored, a warm GET, a listing. A client that
// resumes a read by If-Range, or syncs by ETag, sees one object.
func TestRemoteObjectKeepsTheRemotesValidators(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), (9<<20)/16) // streamed while stored
	modified := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	rs := &countingRemote{objects: map[string][]byte{"big": data}, modified: modified}
	c := remoteCluster(t, rs, 1)
	url := c.Primary().URL() + "/v1/objects/out/big?provider=aws"
	etag := fmt.Sprintf("%x", md5.Sum(data))
	lastModified := modified.Format(http.TimeFormat)
	check := func(what string, h http.Header) {
		t.Helper()
		if h.Get("ETag") != `"`+etag+`"` || h.Get("Last-Modified") != lastModified {
			t.Fatalf("%s: ETag %q, Last-Modified %q; want %s and %s", what, h.Get("ETag"), h.Get("Last-Modified"), etag, lastModified)
		}
	}
	client := c.Client()
	if err := client.CreateBucket(t.Context(), "s3://out", nil); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Head(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	check("a HEAD of the object not cached", resp.Header)
	for _, what := range []string{"the cold GET", "the warm GET"} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: %d of %d bytes, %v", what, len(got), len(data), err)
		}
		check(what, resp.Header)
	}
	if rs.gets != 1 {
		t.Fatalf("%d GETs reached the remote, want the one cold GET", rs.gets)
	}
	resp, err = http.Head(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	check("a HEAD of the cached object", resp.Header)
	for _, flags := range []api.FlagString{0, api.ListCached} {
		page, err := client.ListObjects(t.Context(), "s3://out", api.ListObjectsMessage{Flags: flags, Props: "name,etag,checksum"})
		if err != nil || len(page.Entries) != 1 || page.Entries[0].ETag != etag || page.Entries[0].Mtime != modified.Format(time.RFC3339Nano) {
			t.Fatalf("the listing (flags %d): %+v %v; want ETag %s, mtime %s", flags, page, err, etag, modified)
		}
	}
	// A bucket of MD5 checksums, not checked at the cold GET: the copy's
	// checksum is the remote's ETag, and its listing still shows it.
	rs.objects["small"] = []byte("small")
	if err := client.SetBucketProps(t.Context(), "s3://out", map[string]any{"checksum": map[string]any{"type": "md5", "validate_cold_get": false}}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.GetBytes(t.Context(), "s3://out", "small", api.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	page, err := client.ListObjects(t.Context(), "s3://out", api.ListObjectsMessage{Flags: api.ListCached, Prefix: "small", Props: "name,etag,checksum"})
	if small := fmt.Sprintf("%x", md5.Sum([]byte("small"))); err != nil || len(page.Entries) != 1 || page.Entries[0].ETag != small {
		t.Fatalf("the cached listing of an MD5 bucket: %+v %v; want ETag %s", page, err, small)
	}
}

// A dSort output shard of a remote bucket waits while a file put into a
// shard of its name rewrites it (the remote's PUT takes no condition:
// written between, the rewrite's write would replace it).
func TestDsortOutputWaitsForARewriteOfItsShard(t *testing.T) {
	rs := &countingRemote{objects: map[string][]byte{}}
	c := remoteCluster(t, rs, 1)
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	putDataset(t, client, "src", datasets.Spec{Template: "in-{0..1}.tar", Records: 5, RecordSize: 500, Seed: 3})
	release := gateway.HoldShardLock(ctx, c.Targets()[0].Node, store.Bucket{Name: "out", Provider: store.ProviderAWS}, "out-0.tar", false)
	released := false
	defer func() {
		if !released {
			release()
		}
	}()
	spec := `{"input_bck":{"name":"src"},"output_bck":{"name":"out","provider":"aws"},"input_format":{"template":"in-{0..1}.tar"},
		"output_format":"out-{0..9}.tar","output_shard_size":"1MiB"}`
	id, err := client.DsortStart(ctx, []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	rs.mu.Lock()
	_, written := rs.objects["out-0.tar"]
	rs.mu.Unlock()
	if written {
		t.Fatal("the output shard was written while a rewrite of its name held it")
	}
	release()
	released = true
	if sum := waitDsort(t, client, id); sum.Aborted {
		t.Fatalf("the job once the rewrite ended: %+v", sum)
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if _, ok := rs.objects["out-0.tar"]; !ok {
		t.Fatal("the output shard is not in the remote once the rewrite ended")
	}
}
