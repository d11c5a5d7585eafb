package gateway_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/remote"
)

// countingRemote is an in-memory remote store that counts the writes and
// deletes it is sent.
type countingRemote struct {
	mu            sync.Mutex
	objects       map[string][]byte
	puts, deletes int
	gets          int
	heads         int
	// failPut, when set, is a name whose writes the remote refuses.
	failPut string
	// kms answers PUTs as for an object encrypted with KMS keys: an ETag
	// that is not its MD5.
	kms bool
	// modified, when set, is every object's Last-Modified.
	modified time.Time
	// ignoreTokens lists from the start whatever token it is given.
	ignoreTokens bool
	// reversed answers each page in reverse name order (as S3's
	// directory buckets list out of order).
	reversed bool
	// failList, when set, is what every listing fails with.
	failList error
}

func (r *countingRemote) HeadBucket(context.Context, store.Bucket) error { return nil }

func (r *countingRemote) HeadObject(_ context.Context, _ store.Bucket, name string) (remote.ObjectAttrs, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.heads++
	data, ok := r.objects[name]
	if !ok {
		return remote.ObjectAttrs{}, store.ErrNotFound
	}
	return remote.ObjectAttrs{Name: name, Size: int64(len(data)), ETag: fmt.Sprintf("%x", md5.Sum(data)), ETagNotMD5: r.kms, Modified: r.modified}, nil
}

func (r *countingRemote) GetObject(ctx context.Context, b store.Bucket, name string) (io.ReadCloser, remote.ObjectAttrs, error) {
	attrs, err := r.HeadObject(ctx, b, name)
	if err != nil {
		return nil, attrs, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gets++
	return io.NopCloser(bytes.NewReader(r.objects[name])), attrs, nil
}

func (r *countingRemote) PutObject(_ context.Context, _ store.Bucket, name string, body io.ReadSeeker, size int64, _ map[string]string) (remote.ObjectAttrs, error) {
	data, err := io.ReadAll(body)
	if err != nil {
		return remote.ObjectAttrs{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if name == r.failPut {
		return remote.ObjectAttrs{}, fmt.Errorf("%w: the test's remote refuses %s", remote.ErrUnavailable, name)
	}
	r.puts++
	r.objects[name] = data
	// S3 answers a PUT with the object's ETag.
	return remote.ObjectAttrs{Name: name, Size: size, ETag: fmt.Sprintf("%x", md5.Sum(data)), ETagNotMD5: r.kms}, nil
}

func (r *countingRemote) DeleteObject(_ context.Context, _ store.Bucket, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deletes++
	if _, ok := r.objects[name]; !ok {
		return store.ErrNotFound
	}
	delete(r.objects, name)
	return nil
}

// ListObjects pages the objects in name order; its tokens are longer
// than any object name, as an S3 server's may be.
func (r *countingRemote) ListObjects(_ context.Context, _ store.Bucket, prefix, token string, max int) ([]remote.ObjectAttrs, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failList != nil {
		return nil, "", r.failList
	}
	after := ""
	if token != "" && r.ignoreTokens {
		token = "" // a remote that lists from the start again
	}
	if token != "" {
		var ok bool
		if _, after, ok = strings.Cut(token, ":"); !ok || len(token) < remoteTokenPad {
			return nil, "", fmt.Errorf("%w: token %.20q... is not one of this remote's", store.ErrInvalidName, token)
		}
	}
	var out []remote.ObjectAttrs
	for _, name := range slices.Sorted(maps.Keys(r.objects)) {
		if !strings.HasPrefix(name, prefix) || name <= after {
			continue
		}
		if len(out) == max {
			next := strings.Repeat("t", remoteTokenPad) + ":" + out[len(out)-1].Name
			if r.reversed {
				slices.Reverse(out)
			}
			return out, next, nil
		}
		data := r.objects[name]
		out = append(out, remote.ObjectAttrs{Name: name, Size: int64(len(data)), ETag: fmt.Sprintf("%x", md5.Sum(data)), Modified: r.modified})
	}
	if r.reversed {
		slices.Reverse(out)
	}
	return out, "", nil
}

// remoteTokenPad makes countingRemote's tokens longer than a name may be.
const remoteTokenPad = 2000

// A rebalance moves a remote bucket's cached copies between targets and
// leaves the remote alone: it neither writes them to it again nor sends
// it the deletes it moves (the tombstone of a name deleted through the
// cluster and written again to the remote since).
func TestRebalanceOfARemoteBucketLeavesTheRemoteAlone(t *testing.T) {
	rs := &countingRemote{objects: map[string][]byte{}}
	for i := range 40 {
		rs.objects[fmt.Sprintf("o%02d", i)] = bytes.Repeat([]byte{byte(i)}, 100+i)
	}
	c := remoteCluster(t, rs, 1)
	client := c.Client()
	ctx := t.Context()
	for i := range 40 {
		if _, err := client.GetBytes(ctx, "s3://rb", fmt.Sprintf("o%02d", i), api.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Deleted through the cluster (a tombstone here), then written again
	// to the remote by someone else.
	for i := range 40 {
		if err := client.Delete(ctx, "s3://rb", fmt.Sprintf("o%02d", i)); err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			if _, err := client.GetBytes(ctx, "s3://rb", fmt.Sprintf("o%02d", i), api.GetOptions{}); err == nil {
				t.Fatal("a deleted object is still served")
			}
		}
	}
	rs.mu.Lock()
	for i := 0; i < 40; i += 2 {
		rs.objects[fmt.Sprintf("o%02d", i)] = []byte("written to the remote since")
	}
	// A few cached again, to move as objects.
	rs.mu.Unlock()
	for i := 0; i < 20; i += 2 {
		if _, err := client.GetBytes(ctx, "s3://rb", fmt.Sprintf("o%02d", i), api.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rs.mu.Lock()
	puts, deletes := rs.puts, rs.deletes
	rs.mu.Unlock()
	c.AddTarget()
	c.AddTarget()
	c.WaitRebalance(c.WaitForMap(4).Version)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.puts != puts || rs.deletes != deletes {
		t.Fatalf("the rebalance sent the remote %d writes and %d deletes", rs.puts-puts, rs.deletes-deletes)
	}
	for i := 0; i < 40; i += 2 {
		if string(rs.objects[fmt.Sprintf("o%02d", i)]) != "written to the remote since" {
			t.Fatalf("o%02d in the remote after the rebalance: %q", i, rs.objects[fmt.Sprintf("o%02d", i)])
		}
	}
}

// Evicting an erasure-coded remote bucket's objects drops their parts
// too: parts left would restore the evicted objects (and fill the disks
// the eviction emptied) rather than let them be fetched again.
func TestEvictDropsTheParts(t *testing.T) {
	rs := &countingRemote{objects: map[string][]byte{}}
	for i := range 6 {
		rs.objects[fmt.Sprintf("o%d", i)] = bytes.Repeat([]byte{byte(i)}, 2000)
	}
	c := remoteCluster(t, rs, 4)
	client := c.Client()
	ctx := t.Context()
	if _, err := client.GetBytes(ctx, "s3://rb", "o0", api.GetOptions{}); err != nil {
		t.Fatal(err) // the bucket is added
	}
	if err := client.SetBucketProps(ctx, "s3://rb", map[string]any{"ec": map[string]any{"enabled": true, "data_slices": 2, "parity_slices": 1}}); err != nil {
		t.Fatal(err)
	}
	b := store.Bucket{Provider: store.ProviderAWS, Name: "rb"}
	parts := func() int {
		n := 0
		for _, target := range c.Targets() {
			for i := range 6 {
				metas, _ := target.Store.PartsOf(ctx, b, fmt.Sprintf("o%d", i))
				n += len(metas)
			}
		}
		return n
	}
	for i := range 6 {
		if _, err := client.GetBytes(ctx, "s3://rb", fmt.Sprintf("o%d", i), api.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, func() bool { return parts() > 0 }, "the cached objects were not erasure-coded")
	id, err := client.Evict(ctx, "s3://rb", api.ListRange{Template: "o"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.WaitJob(ctx, id, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if n := parts(); n != 0 {
		t.Fatalf("%d parts of the evicted objects are left", n)
	}
}

// An archive job into a remote bucket takes the shard's lock, as a file
// put into the shard does: the remote's PUT takes no condition, and a
// file PUT finishing last would write the old shard over the job's.
func TestArchiveIntoARemoteBucketWaitsForTheShardsLock(t *testing.T) {
	rs := &countingRemote{objects: map[string][]byte{}}
	c := remoteCluster(t, rs, 1)
	ctx := t.Context()
	client := c.Client()
	client.CreateBucket(ctx, "src", nil)
	if _, err := client.Put(ctx, "src", "a.txt", strings.NewReader("a"), api.PutOptions{Size: 1}); err != nil {
		t.Fatal(err)
	}
	release := gateway.HoldShardLock(ctx, c.Targets()[0].Node, store.Bucket{Name: "rb", Provider: store.ProviderAWS}, "s.tar", false)
	id, err := client.Archive(ctx, "src", api.ArchiveMessage{ToBck: api.Bck{Name: "rb", Provider: "aws"}, ArchName: "s.tar", ListRange: api.ListRange{Template: "a.txt"}})
	if err != nil {
		release()
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	rs.mu.Lock()
	_, written := rs.objects["s.tar"]
	rs.mu.Unlock()
	release()
	if written {
		t.Fatal("the archive job wrote the shard while a write into it held its lock")
	}
	if _, err := client.WaitJob(ctx, id, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if _, ok := rs.objects["s.tar"]; !ok {
		t.Fatal("the archive job did not write the shard once the lock was free")
	}
}

// remoteCluster is a cluster of 1 gateway and targets whose s3:// buckets
// are those of rs.
func remoteCluster(t *testing.T, rs *countingRemote, targets int) *gatewaytest.Cluster {
	resolve := func(context.Context, store.Bucket, store.Props) (remote.Backend, error) { return rs, nil }
	return gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: targets, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.RemoteBuckets = remote.Buckets{Resolve: resolve}
		cfg.Remote = func(st store.Store) store.Store { return remote.New(st, resolve) }
	}})
}

// A remote's continuation token longer than a name pages on; start_after,
// which the remote listing cannot take, is refused rather than ignored.
func TestRemoteListingPagesWithLongTokens(t *testing.T) {
	rs := &countingRemote{objects: map[string][]byte{"a": []byte("1"), "b": []byte("2"), "c": []byte("3")}}
	c := remoteCluster(t, rs, 1)
	ctx := t.Context()
	client := c.Client()
	var names []string
	token := ""
	for range 10 {
		page, err := client.ListObjects(ctx, "s3://rb", api.ListObjectsMessage{PageSize: 1, ContinuationToken: token})
		if err != nil {
			t.Fatalf("page after %d names: %v", len(names), err)
		}
		for _, e := range page.Entries {
			names = append(names, e.Name)
		}
		if token = page.ContinuationToken; token == "" {
			break
		}
	}
	if !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Fatalf("listed %v", names)
	}
	_, err := client.ListObjects(ctx, "s3://rb", api.ListObjectsMessage{StartAfter: "a"})
	if !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "start_after") {
		t.Fatalf("start_after in a remote listing: %v, want 400", err)
	}
}

// With validate_warm_get, an object the remote deleted is not served from
// another target's cached copy (one the rebalance has not moved yet).
func TestValidatedGetServesNoCopyTheRemoteDeleted(t *testing.T) {
	var held atomic.Bool
	rs := &countingRemote{objects: map[string][]byte{}}
	resolve := func(context.Context, store.Bucket, store.Props) (remote.Backend, error) { return rs, nil }
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.RemoteBuckets = remote.Buckets{Resolve: resolve}
		cfg.Remote = func(st store.Store) store.Store { return remote.New(st, resolve) }
		cfg.Transport = holdReceives{api.NewTransport(), &held}
	}})
	t.Cleanup(func() { held.Store(false) })
	client := c.Client()
	ctx := t.Context()
	second := "t3" // ids are given in order
	name := ownedOnceJoined(c, "aws", "rb", second)
	rs.mu.Lock()
	rs.objects[name] = []byte("cached on the first target")
	rs.mu.Unlock()
	if _, err := client.GetBytes(ctx, "s3://rb", name, api.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.SetBucketProps(ctx, "s3://rb", map[string]any{"versioning": map[string]any{"validate_warm_get": true}}); err != nil {
		t.Fatal(err)
	}
	held.Store(true) // the copy stays on the first target
	if id := c.AddTarget().Node.ID(); id != second {
		t.Fatalf("the second target is %s, not %s: the test's name is wrong", id, second)
	}
	c.WaitForMap(3)
	rs.mu.Lock()
	delete(rs.objects, name)
	rs.mu.Unlock()
	if data, err := client.GetBytes(ctx, "s3://rb", name, api.GetOptions{}); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a validated GET of an object the remote deleted: %q %v, want not found", data, err)
	}
}

// A remote page's cached entries are found though many cached names sort
// between its first name's prefix and it ("log/…" before "logs"), and
// an entry shows the remote's size when the cached copy is older.
func TestRemoteListingFlagsWhatIsCached(t *testing.T) {
	defer gateway.SetRemoteCachedPage(2)()
	rs := &countingRemote{objects: map[string][]byte{"log/1": []byte("1"), "log/2": []byte("2"), "log/3": []byte("3"), "logs": []byte("4")}}
	c := remoteCluster(t, rs, 2)
	ctx := t.Context()
	client := c.Client()
	for _, name := range []string{"log/1", "log/2", "log/3", "logs"} {
		if _, err := client.GetBytes(ctx, "s3://rb", name, api.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rs.mu.Lock()
	rs.objects["logs"] = []byte("changed on the remote")
	rs.mu.Unlock()
	entries := map[string]api.ListEntry{}
	token := ""
	for range 10 {
		page, err := client.ListObjects(ctx, "s3://rb", api.ListObjectsMessage{PageSize: 1, ContinuationToken: token, Props: "name,size,checksum"})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Entries {
			entries[e.Name] = e
		}
		if token = page.ContinuationToken; token == "" {
			break
		}
	}
	for _, name := range []string{"log/1", "log/2", "log/3", "logs"} {
		if entries[name].Flags&api.EntryPresent == 0 {
			t.Errorf("%s is cached, listed as not: %+v", name, entries[name])
		}
	}
	if e := entries["logs"]; e.Size != int64(len("changed on the remote")) || e.Flags&api.EntryVerChanged == 0 {
		t.Errorf("an object changed on the remote: size %d, flags %b; want the remote's size, version-changed", e.Size, e.Flags)
	}
	if e := entries["log/1"]; e.Flags&api.EntryVerChanged != 0 {
		t.Errorf("an object the remote did not change listed as changed: %+v", e)
	}
	// One level of the remote is not listed (it is listed flat): refused,
	// not every name under the prefix; of what is cached, it is.
	if _, err := client.ListObjects(ctx, "s3://rb", api.ListObjectsMessage{Flags: api.ListNoRecursion}); !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "no-recursion") {
		t.Errorf("a no-recursion listing of the remote: %v, want refused", err)
	}
	page, err := client.ListObjects(ctx, "s3://rb", api.ListObjectsMessage{Flags: api.ListNoRecursion | api.ListCached})
	if err != nil || len(page.Entries) != 2 {
		t.Errorf("a no-recursion listing of what is cached: %+v %v, want log/ and logs", page, err)
	}
}

// cacheAllThenForget reads every object of the remote through the
// cluster (cached), then deletes those under prefix from the remote only.
func cacheAllThenForget(t *testing.T, client *api.Client, rs *countingRemote, prefix string) {
	t.Helper()
	rs.mu.Lock()
	names := slices.Collect(maps.Keys(rs.objects))
	rs.mu.Unlock()
	for _, name := range names {
		if _, err := client.GetBytes(t.Context(), "s3://rb", name, api.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for name := range rs.objects {
		if strings.HasPrefix(name, prefix) {
			delete(rs.objects, name)
		}
	}
}

// A remote page listed out of name order has every cached entry flagged,
// not only those between its first and last names.
func TestRemoteListingOutOfOrderFlagsWhatIsCached(t *testing.T) {
	defer gateway.SetRemoteCachedPage(2)()
	rs := &countingRemote{objects: map[string][]byte{"a": []byte("a"), "b": []byte("b"), "c": []byte("c"), "d": []byte("d")}, reversed: true}
	for i := range 25 {
		rs.objects[fmt.Sprintf("bb/%02d", i)] = []byte("b")
	}
	c := remoteCluster(t, rs, 2)
	ctx := t.Context()
	client := c.Client()
	// Cached, gone from the remote: many names between the page's.
	cacheAllThenForget(t, client, rs, "bb/")
	page, err := client.ListObjects(ctx, "s3://rb", api.ListObjectsMessage{PageSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	if names := entryNames(page.Entries); !slices.Equal(names, []string{"d", "c", "b", "a"}) {
		t.Fatalf("the page: %v, want the remote's order", names)
	}
	for _, e := range page.Entries {
		if e.Flags&api.EntryPresent == 0 {
			t.Errorf("%s is cached, listed as not", e.Name)
		}
	}
}

// A remote page with many cached names between its names (the remote no
// longer has them) is listed, those skipped, with or without the shards'
// files; one whose lookups pass the bound is refused, not shown with its
// cached entries as not cached.
func TestRemoteListingPastTheCachedBoundIsRefused(t *testing.T) {
	restore := gateway.SetRemoteCachedPage(2)
	defer func() { restore() }()
	rs := &countingRemote{objects: map[string][]byte{"a": []byte("a"), "c": []byte("c")}}
	for i := range 25 {
		rs.objects[fmt.Sprintf("b/%02d", i)] = []byte("b")
	}
	c := remoteCluster(t, rs, 1)
	ctx := t.Context()
	client := c.Client()
	// Deleted on the remote, still cached: 25 cached names between the
	// page's two, past the bound of 10 lookups of 2.
	cacheAllThenForget(t, client, rs, "b/")
	for _, flags := range []api.FlagString{0, api.ListArchive} {
		page, err := client.ListObjects(ctx, "s3://rb", api.ListObjectsMessage{PageSize: 2, Flags: flags})
		if err != nil || len(page.Entries) != 2 || page.Entries[0].Flags&api.EntryPresent == 0 || page.Entries[1].Flags&api.EntryPresent == 0 {
			t.Fatalf("a page (flags %d) with many cached names between its two: %+v %v, want both listed as cached", flags, page, err)
		}
	}
	// Lookups of one name each: the page's 27 names pass the bound.
	restore()
	restore = gateway.SetRemoteCachedPage(1)
	rs.mu.Lock()
	for i := range 25 {
		rs.objects[fmt.Sprintf("b/%02d", i)] = []byte("b")
	}
	rs.mu.Unlock()
	page, err := client.ListObjects(ctx, "s3://rb", api.ListObjectsMessage{PageSize: 27})
	if err == nil {
		t.Fatalf("a page past the bound of cached names: %+v, want refused", page.Entries)
	}
	if !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "list fewer objects a page") {
		t.Fatalf("a page past the bound of cached names: %v, want refused telling what to do", err)
	}
}

// A rebalance moves a remote bucket's cached copies as they are: it does
// not ask the remote about each (with validate_warm_get, a read would),
// so a remote away does not hold the rebalance.
func TestRebalanceMovesCachedCopiesWithoutTheRemote(t *testing.T) {
	rs := &countingRemote{objects: map[string][]byte{}}
	for i := range 30 {
		rs.objects[fmt.Sprintf("o%02d", i)] = bytes.Repeat([]byte{byte(i)}, 100)
	}
	c := remoteCluster(t, rs, 1)
	client := c.Client()
	ctx := t.Context()
	if err := client.SetBucketProps(ctx, "s3://rb", map[string]any{"versioning": map[string]any{"validate_warm_get": true}}); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if _, err := client.GetBytes(ctx, "s3://rb", fmt.Sprintf("o%02d", i), api.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rs.mu.Lock()
	heads := rs.heads
	rs.mu.Unlock()
	c.AddTarget()
	c.WaitRebalance(c.WaitForMap(3).Version)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.heads != heads {
		t.Fatalf("the rebalance asked the remote about %d objects", rs.heads-heads)
	}
}

// A delete by prefix in a remote bucket deletes the remote's objects
// under it, cached or not, as a delete by name does.
func TestPrefixDeleteOfARemoteBucket(t *testing.T) {
	rs, c := twoTargetsOverARemote(t, func(cfg *gateway.Config) { cfg.RebalanceRecent = time.Millisecond })
	client := c.Client()
	ctx := t.Context()
	rs.mu.Lock()
	for i := range 10 {
		rs.objects[fmt.Sprintf("logs/%d", i)] = []byte("log")
	}
	rs.objects["keep/1"] = []byte("kept")
	rs.objects["logs/"] = nil // an S3 "folder": no name here, skipped
	rs.mu.Unlock()
	if _, err := client.GetBytes(ctx, "s3://rb", "logs/3", api.GetOptions{}); err != nil { // one cached
		t.Fatal(err)
	}
	c.WaitRebalance(c.WaitForMap(3).Version)
	time.Sleep(50 * time.Millisecond) // past the start's rebalance
	id, err := client.DeleteObjects(ctx, "s3://rb", api.ListRange{Template: "logs/"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.WaitJob(ctx, id, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	rs.mu.Lock()
	left := slices.Sorted(maps.Keys(rs.objects))
	rs.mu.Unlock()
	if !slices.Equal(left, []string{"keep/1", "logs/"}) {
		t.Fatalf("the remote after a delete by prefix logs/: %q, want keep/1 and the folder logs/ alone", left)
	}
}

// An archive of a remote bucket by prefix passes over the remote's S3
// "folder" keys ("logs/"), which name no object here, and archives the
// rest.
func TestArchiveOfARemotePrefixSkipsFolders(t *testing.T) {
	rs, c := twoTargetsOverARemote(t, nil)
	client := c.Client()
	ctx := t.Context()
	rs.mu.Lock()
	for i := range 5 {
		rs.objects[fmt.Sprintf("logs/%d", i)] = []byte("log")
	}
	rs.objects["logs/"] = nil
	rs.mu.Unlock()
	if err := client.CreateBucket(ctx, "shards", nil); err != nil {
		t.Fatal(err)
	}
	id, err := client.Archive(ctx, "s3://rb", api.ArchiveMessage{ToBck: api.Bck{Name: "shards"}, ArchName: "logs.tar", ListRange: api.ListRange{Template: "logs/"}})
	if err != nil {
		t.Fatal(err)
	}
	if job, err := client.WaitJob(ctx, id, 20*time.Millisecond); err != nil || len(job.Errors) > 0 || job.Aborted {
		t.Fatalf("an archive of a prefix with a folder key: %+v %v", job, err)
	}
	var members []string
	for e, err := range client.ListAll(ctx, "shards", api.ListObjectsMessage{Prefix: "logs.tar", Flags: api.ListArchive}) {
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(e.Name, "logs.tar/") {
			members = append(members, e.Name)
		}
	}
	if len(members) != 5 {
		t.Fatalf("the shard holds %q, want the 5 logs", members)
	}
}

// A listing of a remote bucket with its shards' files (ListArchive) shows
// the files of the shards cached, after each shard, as a listing of what
// is cached does.
func TestRemoteListingShowsCachedShardsFiles(t *testing.T) {
	rs, c := twoTargetsOverARemote(t, nil)
	client := c.Client()
	ctx := t.Context()
	rs.mu.Lock()
	rs.objects["a.tar"] = tarOf(t, map[string]string{"1.txt": "one", "2.txt": "two"})
	rs.objects["b.tar"] = tarOf(t, map[string]string{"3.txt": "three"})
	rs.objects["c.txt"] = []byte("plain")
	rs.mu.Unlock()
	if _, err := client.GetBytes(ctx, "s3://rb", "a.tar", api.GetOptions{}); err != nil { // cached
		t.Fatal(err)
	}
	var names []string
	for e, err := range client.ListAll(ctx, "s3://rb", api.ListObjectsMessage{Flags: api.ListArchive}) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, e.Name)
	}
	if want := []string{"a.tar", "a.tar/1.txt", "a.tar/2.txt", "b.tar", "c.txt"}; !slices.Equal(names, want) {
		t.Fatalf("the listing with shards' files: %q, want %q", names, want)
	}
}

// twoTargetsOverARemote is a cluster of two targets whose remote buckets
// are kept in a countingRemote; configure, when set, sets more.
func twoTargetsOverARemote(t *testing.T, configure func(*gateway.Config)) (*countingRemote, *gatewaytest.Cluster) {
	rs := &countingRemote{objects: map[string][]byte{}}
	resolve := func(context.Context, store.Bucket, store.Props) (remote.Backend, error) { return rs, nil }
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.RemoteBuckets = remote.Buckets{Resolve: resolve}
		cfg.Remote = func(st store.Store) store.Store { return remote.New(st, resolve) }
		if configure != nil {
			configure(cfg)
		}
	}})
	return rs, c
}

// A copy of a remote bucket asked for its objects not in the cluster too
// (AIStore's presence=0, ais cp --all) is refused, naming what to do:
// done with what is cached alone, it answered a part as the whole. Asked
// for what the cluster holds (presence=2), it copies that.
func TestCopyOfRemoteObjectsNotCachedIsRefused(t *testing.T) {
	rs := &countingRemote{objects: map[string][]byte{"a": []byte("1"), "b": []byte("2")}}
	c := remoteCluster(t, rs, 1)
	ctx := t.Context()
	if _, err := c.Client().GetBytes(ctx, "s3://rb", "a", api.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	copyWith := func(presence string) (int, string) {
		status, body, _ := call(t, http.MethodPost, c.Primary().URL()+"/v1/buckets/rb?provider=aws&bck_to=ais://dst&presence="+presence, nil, `{"action":"copy-bck","value":{}}`)
		return status, string(body)
	}
	for _, presence := range []string{"0", "1", "5"} {
		if status, body := copyWith(presence); status != http.StatusNotImplemented || !strings.Contains(body, "prefetch") {
			t.Fatalf("copy-bck presence=%s: %d %s, want 501 pointing to prefetch", presence, status, body)
		}
	}
	if status, body := copyWith("9"); status != http.StatusBadRequest {
		t.Fatalf("copy-bck presence=9: %d %s, want 400", status, body)
	}
	if status, body := copyWith("2"); status != http.StatusOK {
		t.Fatalf("copy-bck presence=2: %d %s", status, body)
	}
	// Names given are fetched: copied whatever the presence.
	status, body, _ := call(t, http.MethodPost, c.Primary().URL()+"/v1/buckets/rb?provider=aws&bck_to=ais://dst2&presence=0", nil, `{"action":"copy-listrange","value":{"objnames":["b"]}}`)
	if status != http.StatusOK {
		t.Fatalf("copy-listrange of names with presence=0: %d %s", status, body)
	}
}

// A summary of a remote bucket counts the remote's own objects (AIStore's
// cached:false, bsumm_remote=true) once, listed by one target, beside
// what the cluster holds; cached:true and bsumm_remote=false count only
// the latter and list nothing.
func TestRemoteBucketSummaryCountsTheRemote(t *testing.T) {
	rs := &countingRemote{objects: map[string][]byte{"a": []byte("1"), "b": []byte("22"), "c": []byte("333"), "d/e": []byte("4444")}}
	c := remoteCluster(t, rs, 3)
	ctx := t.Context()
	client := c.Client()
	if _, err := client.GetBytes(ctx, "s3://rb", "c", api.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	check := func(what string, sums []api.BucketSummary, present, remoteObjects, remoteSize int64) {
		t.Helper()
		var found *api.BucketSummary
		for i := range sums {
			if sums[i].Name == "rb" {
				found = &sums[i]
			}
		}
		if found == nil || int64(found.ObjCount.Present) != present || int64(found.ObjCount.Remote) != remoteObjects || int64(found.TotalSize.RemoteObjs) != remoteSize {
			t.Fatalf("%s: %+v, want %d present, %d remote objects of %d bytes", what, found, present, remoteObjects, remoteSize)
		}
	}
	sums, err := client.BucketSummary(ctx, "s3://rb", api.SummaryMessage{}, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	check("summary", sums, 1, 4, 10)
	sums, err = client.BucketSummary(ctx, "s3://rb", api.SummaryMessage{Prefix: "d/"}, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	check("summary by prefix", sums, 0, 1, 4)
	sums, err = client.BucketSummary(ctx, "", api.SummaryMessage{}, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	check("summary of every bucket", sums, 1, 0, 0) // (what the cluster holds)

	rs.mu.Lock()
	rs.objects["f"] = []byte("55555")
	rs.mu.Unlock()
	sums, err = client.BucketSummary(ctx, "s3://rb", api.SummaryMessage{ObjCached: true}, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	check("summary of what is cached", sums, 1, 0, 0)

	url := c.Primary().URL() + "/v1/buckets/rb?provider=aws&bsumm_remote="
	for _, tc := range []struct {
		value          string
		objects, bytes int64
	}{{"true", 5, 15}, {"false", 0, 0}} {
		status, _, header := call(t, http.MethodHead, url+tc.value, nil, "")
		id := header.Get(api.HeaderXactionID)
		if status != http.StatusAccepted || id == "" {
			t.Fatalf("HEAD bsumm_remote=%s: %d", tc.value, status)
		}
		eventually(t, func() bool {
			status, _, header = call(t, http.MethodHead, url+tc.value+"&uuid="+id, nil, "")
			return status == http.StatusOK
		}, "the HEAD summary did not end")
		var s api.BucketSummary
		if err := json.Unmarshal([]byte(header.Get(api.HeaderBucketSumm)), &s); err != nil {
			t.Fatal(err)
		}
		check("HEAD bsumm_remote="+tc.value, []api.BucketSummary{s}, 1, tc.objects, tc.bytes)
	}
}

// A summary that fails on a target answers with its cause's status, as
// the target said it: a remote refusing the listing is 403 with its
// error (it was a bare 500), also when the dial guard refused it; one
// down is 502 (the job ended: a poll again, as on a 503, answers the
// same).
func TestFailedSummaryAnswersItsCausesStatus(t *testing.T) {
	rs := &countingRemote{objects: map[string][]byte{"a": []byte("1")}}
	c := remoteCluster(t, rs, 2)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for _, tc := range []struct {
		cause  error
		kind   error
		status int
	}{
		{fmt.Errorf("%w: access denied by the test", store.ErrRemoteForbidden), store.ErrRemoteForbidden, http.StatusForbidden},
		{fmt.Errorf("%w: %w", store.ErrRemote, fmt.Errorf("%w: address 127.0.0.1 is loopback (the test's)", api.ErrForbidden)), api.ErrForbidden, http.StatusForbidden},
		{fmt.Errorf("%w: the test's remote is down", store.ErrRemote), api.ErrBadGateway, http.StatusBadGateway},
		// A condition of the store with no kind of its own: not 500.
		{fmt.Errorf("%w: the test's bucket", store.ErrBucketBehind), api.ErrBadGateway, http.StatusBadGateway},
		{fmt.Errorf("%w: the test's bucket", store.ErrBucketSealed), api.ErrBadGateway, http.StatusBadGateway},
		{fmt.Errorf("%w: the test's map", store.ErrPlacementChanged), api.ErrBadGateway, http.StatusBadGateway},
	} {
		rs.mu.Lock()
		rs.failList = tc.cause
		rs.mu.Unlock()
		_, err := c.Client().BucketSummary(ctx, "s3://rb", api.SummaryMessage{}, 20*time.Millisecond)
		var answer *api.Error
		if !errors.As(err, &answer) || answer.Status != tc.status || !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.cause.Error()) {
			t.Fatalf("a summary whose remote listing fails with %q: %v, want status %d naming it", tc.cause, err, tc.status)
		}
	}
}

// A remote whose listing goes back (its tokens ignored, or going round)
// fails a walk of it, naming why, rather than walk it for ever: a
// summary counted its objects again and again.
func TestRemoteListingThatGoesBackFailsTheWalk(t *testing.T) {
	rs := &countingRemote{objects: map[string][]byte{}, ignoreTokens: true}
	for i := range 1001 { // more than a page
		rs.objects[fmt.Sprintf("o-%04d", i)] = []byte("x")
	}
	c := remoteCluster(t, rs, 1)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, err := c.Client().BucketSummary(ctx, "s3://rb", api.SummaryMessage{}, 20*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "its tokens do not advance") {
		t.Fatalf("a summary of a remote whose listing goes back: %v, want it refused", err)
	}
}

// A conditional GET of a cached object of a bucket with validate_warm_get
// is judged by the remote's current version, as any read of it is, not by
// the cached copy's: the old version's ETag as If-None-Match gets the new
// one (checked against a HEAD first, it got a 304 from the cache).
func TestConditionalGetOfACachedObjectAsksTheRemote(t *testing.T) {
	rs := &countingRemote{objects: map[string][]byte{"o": []byte("first")}}
	c := remoteCluster(t, rs, 1)
	client := c.Client()
	ctx := t.Context()
	if got, err := client.GetBytes(ctx, "s3://rb", "o", api.GetOptions{}); err != nil || string(got) != "first" {
		t.Fatalf("the first read: %q %v", got, err)
	}
	if err := client.SetBucketProps(ctx, "s3://rb", map[string]any{"versioning": map[string]any{"validate_warm_get": true}}); err != nil {
		t.Fatal(err)
	}
	rs.mu.Lock()
	rs.objects["o"] = []byte("second")
	rs.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Primary().URL()+"/v1/objects/rb/o?provider=aws", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("If-None-Match", fmt.Sprintf(`"%x"`, md5.Sum([]byte("first"))))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "second" {
		t.Fatalf("a conditional GET with the cached version's ETag: %s %q, want 200 with the remote's new version", resp.Status, body)
	}
}

// A file put into a shard of a remote bucket is added to the remote's
// current shard, not to a cached copy the remote has replaced since (the
// remote's PUT takes no condition: the files added there would go).
func TestFileIntoARemoteShardTakesTheRemotesCurrentShard(t *testing.T) {
	shard := func(names ...string) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, n := range names {
			tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
			tw.Write([]byte("x"))
		}
		tw.Close()
		return buf.Bytes()
	}
	rs := &countingRemote{objects: map[string][]byte{"s.tar": shard("a.txt")}}
	c := remoteCluster(t, rs, 1)
	ctx := t.Context()
	client := c.Client()
	if _, err := client.GetBytes(ctx, "s3://rb", "s.tar", api.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	// Replaced on the remote behind the cluster's back.
	rs.mu.Lock()
	rs.objects["s.tar"] = shard("a.txt", "b.txt")
	rs.mu.Unlock()
	if _, err := client.Put(ctx, "s3://rb", "s.tar", strings.NewReader("c"), api.PutOptions{Size: 1, ArchPath: "c.txt"}); err != nil {
		t.Fatal(err)
	}
	rs.mu.Lock()
	written := rs.objects["s.tar"]
	rs.mu.Unlock()
	var names []string
	tr := tar.NewReader(bytes.NewReader(written))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	if !slices.Equal(names, []string{"a.txt", "b.txt", "c.txt"}) {
		t.Fatalf("the remote's shard after a file was put into it: %v, want a.txt, b.txt, c.txt", names)
	}
	// So does an archive job's append.
	rs.mu.Lock()
	rs.objects["s.tar"] = shard("a.txt", "b.txt", "c.txt", "d.txt")
	rs.mu.Unlock()
	if err := client.CreateBucket(ctx, "src", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(ctx, "src", "e.txt", strings.NewReader("e"), api.PutOptions{Size: 1}); err != nil {
		t.Fatal(err)
	}
	id, err := client.Archive(ctx, "src", api.ArchiveMessage{ToBck: api.Bck{Name: "rb", Provider: "aws"}, ArchName: "s.tar", ListRange: api.ListRange{ObjNames: []string{"e.txt"}}, AppendIfExists: true})
	if err != nil {
		t.Fatal(err)
	}
	if job, err := client.WaitJob(ctx, id, 20*time.Millisecond); err != nil || len(job.Errors) > 0 {
		t.Fatalf("the archive job: %+v %v", job, err)
	}
	rs.mu.Lock()
	written = rs.objects["s.tar"]
	rs.mu.Unlock()
	names = nil
	tr = tar.NewReader(bytes.NewReader(written))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	if !slices.Equal(names, []string{"a.txt", "b.txt", "c.txt", "d.txt", "e.txt"}) {
		t.Fatalf("the remote's shard after an archive job appended to it: %v, want a.txt to e.txt", names)
	}
}

// A backend download (a prefetch) takes no timeouts: given, they are
// refused, naming them, not dropped with the job answered as bounded.
func TestBackendDownloadRefusesTimeouts(t *testing.T) {
	rs := &countingRemote{objects: map[string][]byte{"a": []byte("a")}}
	c := remoteCluster(t, rs, 1)
	client := c.Client()
	for _, req := range []api.DownloadRequest{
		{Type: api.DownloadBackend, Bucket: api.Bck{Name: "rb", Provider: "aws"}, JobTimeout: "1h"},
		{Type: api.DownloadBackend, Bucket: api.Bck{Name: "rb", Provider: "aws"}, Timeout: "abc"},
	} {
		if _, err := client.StartDownload(t.Context(), req); !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "timeout") {
			t.Fatalf("a backend download with a timeout: %v, want 400 naming it", err)
		}
	}
	id, err := client.StartDownload(t.Context(), api.DownloadRequest{Type: api.DownloadBackend, Bucket: api.Bck{Name: "rb", Provider: "aws"}})
	if err != nil {
		t.Fatalf("a backend download: %v", err)
	}
	// Ended before the cluster closes: it writes into the target's disks.
	if s := waitDownload(t, client, id); s.Finished != 1 {
		t.Fatalf("the backend download: %+v", s)
	}
}

// An archive job of a remote bucket holding both x and x/y (S3 may) is
// refused: tar, unzip and tarfile could not extract both from one shard.
func TestArchiveOfObjectsThatClashIsRefused(t *testing.T) {
	rs := &countingRemote{objects: map[string][]byte{"data": []byte("a"), "data/x": []byte("b")}}
	c := remoteCluster(t, rs, 1)
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "shards", nil); err != nil {
		t.Fatal(err)
	}
	id, err := client.Archive(ctx, "s3://rb", api.ArchiveMessage{ToBck: api.Bck{Name: "shards"}, ArchName: "s.tar", ListRange: api.ListRange{Template: "data"}})
	if err == nil {
		job, werr := client.WaitJob(ctx, id, 20*time.Millisecond)
		if werr == nil && !strings.Contains(fmt.Sprint(job.Errors), "directory") {
			t.Fatalf("an archive of data and data/x: %+v, want refused", job)
		}
	} else if !errors.Is(err, api.ErrConflict) {
		t.Fatalf("an archive of data and data/x: %v, want 409", err)
	}
	if _, err := client.Head(ctx, "shards", "s.tar"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the shard of a refused archive: %v, want none", err)
	}
}

// A PUT of a remote bucket's object waits while a file put into it as a
// shard rewrites it (the remote's PUT takes no condition): after, not
// between its read and its write, whose shard would replace it.
func TestRemotePutWaitsForARewriteOfItsShard(t *testing.T) {
	rs := &countingRemote{objects: map[string][]byte{}}
	c := remoteCluster(t, rs, 1)
	client := c.Client()
	ctx := t.Context()
	release := gateway.HoldShardLock(ctx, c.Targets()[0].Node, store.Bucket{Name: "rb", Provider: store.ProviderAWS}, "s.tar", false)
	done := make(chan error, 1)
	go func() {
		_, err := client.Put(ctx, "s3://rb", "s.tar", strings.NewReader("plain"), api.PutOptions{Size: 5})
		done <- err
	}()
	select {
	case err := <-done:
		release()
		t.Fatalf("a PUT of a shard being rewritten did not wait: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("the PUT once the rewrite ended: %v", err)
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if string(rs.objects["s.tar"]) != "plain" {
		t.Fatalf("the remote's object: %q", rs.objects["s.tar"])
	}
}

// The files of a remote page's cached shards are held until the page is
// built: past a page's bound on bytes in all, the page is refused, naming
// what to ask instead, rather than held whole (each lookup is bounded
// alone, and a page may take a lookup a shard).
func TestRemoteListingBoundsTheCachedShardsFiles(t *testing.T) {
	rs, c := twoTargetsOverARemote(t, nil)
	client := c.Client()
	ctx := t.Context()
	for i := range 6 {
		files := map[string]string{}
		for j := range 20 {
			files[fmt.Sprintf("%s-%02d.txt", strings.Repeat("f", 60), j)] = "x"
		}
		name := fmt.Sprintf("s%d.tar", i)
		rs.mu.Lock()
		rs.objects[name] = tarOf(t, files)
		rs.mu.Unlock()
		if _, err := client.GetBytes(ctx, "s3://rb", name, api.GetOptions{}); err != nil { // cached
			t.Fatal(err)
		}
	}
	defer gateway.SetListBytes(16 << 10)() // ~3.5 KiB a shard's files
	_, err := client.ListObjects(ctx, "s3://rb", api.ListObjectsMessage{Flags: api.ListArchive})
	if !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "pagesize") {
		t.Fatalf("a page whose cached shards' files pass its bound: %v, want a 400 naming pagesize", err)
	}
	page, err := client.ListObjects(ctx, "s3://rb", api.ListObjectsMessage{Flags: api.ListArchive, PageSize: 2})
	if err != nil || len(page.Entries) != 2*21 {
		t.Fatalf("a page of two shards: %d entries (%v), want 42", len(page.Entries), err)
	}
}

// A conditional PUT to a remote bucket is refused as not implemented
// (501: the remote is the truth, and the copy here cannot tell), before
// anything asks the remote or writes.
func TestConditionalPutToARemoteBucketIsNotImplemented(t *testing.T) {
	rs := &countingRemote{objects: map[string][]byte{}}
	c := remoteCluster(t, rs, 1)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, c.Primary().URL()+"/v1/objects/rb/o?provider=aws", strings.NewReader("data"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("If-None-Match", "*")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented || !strings.Contains(string(body), "conditional PUT to a remote bucket") {
		t.Fatalf("a conditional PUT to a remote bucket: %s %s, want 501", resp.Status, body)
	}
	// The Go client reads its kind.
	_, err = c.Client().Put(t.Context(), "s3://rb", "o", strings.NewReader("data"), api.PutOptions{Size: 4, IfNoneMatch: "*"})
	if !errors.Is(err, api.ErrNotImplemented) {
		t.Fatalf("a conditional PUT to a remote bucket through the client: %v, want ErrNotImplemented", err)
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.heads != 0 || rs.puts != 0 {
		t.Fatalf("the refused PUT sent the remote %d HEADs and %d PUTs", rs.heads, rs.puts)
	}
}

// A HEAD with latest-ver describes what a GET with it serves: the
// remote's version, not a stale cached copy's (404 once the remote has
// none); without it, the cached copy. The copy stays either way.
func TestHeadLatestAsksTheRemote(t *testing.T) {
	rs := &countingRemote{objects: map[string][]byte{"o": []byte("first")}}
	c := remoteCluster(t, rs, 1)
	ctx := t.Context()
	if got, err := c.Client().GetBytes(ctx, "s3://rb", "o", api.GetOptions{}); err != nil || string(got) != "first" {
		t.Fatalf("the first read: %q %v", got, err)
	}
	head := func(query string) (int, http.Header) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, c.Primary().URL()+"/v1/objects/rb/o?provider=aws"+query, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	rs.mu.Lock()
	rs.objects["o"] = []byte("second!")
	rs.mu.Unlock()
	if status, h := head(""); status != http.StatusOK || h.Get("Content-Length") != "5" || h.Get(api.HeaderPresent) != "true" {
		t.Fatalf("a plain HEAD: %d, %s bytes, present %s: want the cached copy", status, h.Get("Content-Length"), h.Get(api.HeaderPresent))
	}
	if status, h := head("&latest-ver=true"); status != http.StatusOK || h.Get("Content-Length") != "7" || h.Get(api.HeaderPresent) != "false" {
		t.Fatalf("a HEAD with latest-ver: %d, %s bytes, present %s: want the remote's new version, not cached", status, h.Get("Content-Length"), h.Get(api.HeaderPresent))
	}
	if meta, err := c.Client().HeadLatest(ctx, "s3://rb", "o"); err != nil || meta.Size != 7 {
		t.Fatalf("HeadLatest: %d bytes, %v; want 7", meta.Size, err)
	}
	// presence=2 asks the cluster only: the cached copy, and for a name
	// not cached 404, the remote not asked.
	rs.mu.Lock()
	rs.objects["uncached"] = []byte("x")
	heads := rs.heads
	rs.mu.Unlock()
	if meta, err := c.Client().HeadCached(ctx, "s3://rb", "o"); err != nil || meta.Size != 5 {
		t.Fatalf("HeadCached of a cached object: %d bytes, %v; want the copy's 5", meta.Size, err)
	}
	if _, err := c.Client().HeadCached(ctx, "s3://rb", "uncached"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("HeadCached of an object not cached: %v, want not found", err)
	}
	rs.mu.Lock()
	asked := rs.heads - heads
	rs.mu.Unlock()
	if asked != 0 {
		t.Fatalf("HEADs with presence=2 asked the remote %d times", asked)
	}
	if status, _ := head("&presence=9"); status != http.StatusBadRequest {
		t.Fatalf("presence=9: %d, want 400", status)
	}
	if status, _ := head("&latest-ver=maybe"); status != http.StatusBadRequest {
		t.Fatalf("latest-ver=maybe: %d, want 400", status)
	}
	rs.mu.Lock()
	delete(rs.objects, "o")
	rs.mu.Unlock()
	if status, _ := head("&synchronize=true"); status != http.StatusNotFound {
		t.Fatalf("a HEAD with synchronize of an object the remote deleted: %d, want 404", status)
	}
	if got, err := c.Client().GetBytes(ctx, "s3://rb", "o", api.GetOptions{}); err != nil || string(got) != "first" {
		t.Fatalf("a plain read after the HEADs: %q %v, want the cached copy kept", got, err)
	}
}

// A prefetch through an object's owner (the map changed since the job
// started) counts the object done only when the owner kept a copy: a large
// object is served as it streams in, whether or not its copy is kept (the
// owner's disk filled), and the job ended "0 failed" with nothing cached.
func TestPrefetchThroughTheOwnerChecksTheCopyIsKept(t *testing.T) {
	defer gateway.SetOwnerKeptWait(300 * time.Millisecond)()
	// An ETag that is no MD5: the stream is not held to a checksum, so a
	// copy given up does not cut it.
	rs := &countingRemote{objects: map[string][]byte{}, kms: true}
	resolve := func(context.Context, store.Bucket, store.Props) (remote.Backend, error) { return rs, nil }
	var mu sync.Mutex
	stores := map[string]*remote.Store{}
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.RemoteBuckets = remote.Buckets{Resolve: resolve}
		id := cfg.ID
		cfg.Remote = func(st store.Store) store.Store {
			rst := remote.New(st, resolve)
			mu.Lock()
			stores[id] = rst
			mu.Unlock()
			return rst
		}
	}})
	ctx := t.Context()
	b := store.Bucket{Name: "rb", Provider: store.ProviderAWS}
	// A name the second target owns, big enough to be streamed.
	targets := c.Targets()
	name := ""
	for i := 0; name == "" && i < 100; i++ {
		candidate := fmt.Sprintf("big-%d", i)
		owner, err := c.Primary().Node.Map().Owner(cluster.Uname(b.Provider, b.Name, candidate))
		if err != nil {
			t.Fatal(err)
		}
		if owner.ID == targets[1].Node.ID() {
			name = candidate
		}
	}
	if name == "" {
		t.Fatal("no name of 100 is the second target's")
	}
	rs.mu.Lock()
	rs.objects[name] = bytes.Repeat([]byte("x"), store.SpaceCheckBytes+8<<20)
	rs.objects["small"] = []byte("x")
	rs.mu.Unlock()
	// A first read adds the bucket to the cluster.
	if _, err := c.Client().GetBytes(ctx, "s3://rb", "small", api.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	// The owner's disk fills once the object streams in (checked before
	// it starts, then every store.SpaceCheckBytes).
	var checks atomic.Int64
	stores[targets[1].Node.ID()].SetSpaceCheck(func(context.Context) error {
		if checks.Add(1) > 1 {
			return fmt.Errorf("%w: the test's disk is full", store.ErrNoSpace)
		}
		return nil
	})
	result, err := gateway.Prefetch(ctx, targets[0].Node, b, []string{name}, []string{targets[0].Node.ID()})
	if err == nil || !strings.Contains(err.Error(), "kept no copy") {
		t.Fatalf("a prefetch through an owner that kept no copy: %v %v, want it failed", result, err)
	}
	if _, err := stores[targets[1].Node.ID()].OpenCached(ctx, b, name); err == nil {
		t.Fatal("the owner kept a copy after all: the test made no failure")
	}
	// With room on the owner, it is fetched there; then found cached.
	checks.Store(-1 << 40)
	for _, want := range []string{"fetched", "cached"} {
		result, err := gateway.Prefetch(ctx, targets[0].Node, b, []string{name}, []string{targets[0].Node.ID()})
		if counts, _ := result.(map[string]int64); err != nil || counts[want] != 1 {
			t.Fatalf("a prefetch through the owner: %v %v, want 1 %s", result, err, want)
		}
	}
}
