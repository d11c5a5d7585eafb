package remote_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/dryrun"
	"github.com/aisgo/aisgo/store/fs"
	"github.com/aisgo/aisgo/store/remote"
	"github.com/aisgo/aisgo/store/storetest"
)

// fakeBackend is an in-memory remote store that counts its GETs.
type fakeBackend struct {
	mu      sync.Mutex
	objects map[string][]byte
	// metadata is each object's user metadata, as written.
	metadata map[string]map[string]string
	gets     atomic.Int64
	down     atomic.Bool
	// slow delays each GET, so that readers pile up on a cold GET.
	slow time.Duration
	// longTags makes ETags as long as an HTTP origin may send.
	longTags bool
	// putEntered, when set, is told of each PUT, which then waits for
	// putRelease before it stores.
	putEntered, putRelease chan struct{}
	// corrupt flips a byte of each GET's body on the way (its ETag is
	// the object's).
	corrupt atomic.Bool
	// encrypted answers GETs as of an object encrypted with KMS: its
	// ETag is not its MD5.
	encrypted bool
	// kms answers as S3 does for objects encrypted with KMS keys: ETags
	// that look like MD5s and are not the bytes', and a version each.
	kms bool
	// checksum, when set, is the type of the whole-object checksum GETs
	// give with the bytes (of the object, not of a corrupted body), as
	// S3 does for an object uploaded with one.
	checksum string
	// wrongETag answers GETs with an MD5-like ETag that is not the MD5.
	wrongETag bool
	// served counts the bytes read from GETs' bodies.
	served atomic.Int64
	// forbid refuses PUTs as a remote refuses access (a 403).
	forbid atomic.Bool
	// headAnswers, when not empty, answer the next HEADs, one each (nil:
	// as the objects say).
	headAnswers []error
	// cutBodies ends each GET's body halfway: with a connection's error,
	// or (short) as if it were whole.
	cutBodies, shortBodies atomic.Bool
	// bucketGone answers as S3 does once the bucket is deleted: a HEAD
	// of any key 404, and of the bucket too.
	bucketGone atomic.Bool
	// bucketForbidden refuses a HEAD of the bucket (403), as a store
	// whose keys' permissions leave the bucket's out does.
	bucketForbidden atomic.Bool
}

// countedReader counts what is read from r.
type countedReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func etagOf(data []byte) string { sum := md5.Sum(data); return hex.EncodeToString(sum[:]) }

func (f *fakeBackend) etag(data []byte) string {
	if f.longTags {
		return strings.Repeat(etagOf(data), 200)
	}
	if f.kms {
		return etagOf(append([]byte("kms"), data...))
	}
	return etagOf(data)
}

func (f *fakeBackend) check() error {
	if f.down.Load() {
		return errors.Join(remote.ErrUnavailable, errors.New("connection refused"))
	}
	return nil
}

func (f *fakeBackend) HeadBucket(ctx context.Context, b store.Bucket) error {
	if f.bucketGone.Load() {
		return fmt.Errorf("%s: %w", b, store.ErrBucketNotFound)
	}
	if f.bucketForbidden.Load() {
		return fmt.Errorf("%s: %w", b, store.ErrRemoteForbidden)
	}
	return f.check()
}

func (f *fakeBackend) HeadObject(ctx context.Context, b store.Bucket, name string) (remote.ObjectAttrs, error) {
	if err := f.check(); err != nil {
		return remote.ObjectAttrs{}, err
	}
	if f.bucketGone.Load() {
		return remote.ObjectAttrs{}, fmt.Errorf("%s/%s: %w", b, name, store.ErrNotFound)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.headAnswers) > 0 {
		err := f.headAnswers[0]
		f.headAnswers = f.headAnswers[1:]
		if err != nil {
			return remote.ObjectAttrs{}, err
		}
	}
	data, ok := f.objects[name]
	if !ok {
		return remote.ObjectAttrs{}, store.ErrNotFound
	}
	return remote.ObjectAttrs{Name: name, Size: int64(len(data)), ETag: f.etag(data), Metadata: f.metadata[name]}, nil
}

func (f *fakeBackend) GetObject(ctx context.Context, b store.Bucket, name string) (io.ReadCloser, remote.ObjectAttrs, error) {
	if err := context.Cause(ctx); err != nil {
		return nil, remote.ObjectAttrs{}, err // as an SDK's request
	}
	attrs, err := f.HeadObject(ctx, b, name)
	if err != nil {
		return nil, attrs, err
	}
	f.gets.Add(1)
	// The version answered is the one there when the GET came, however
	// long its bytes take.
	f.mu.Lock()
	data := f.objects[name]
	f.mu.Unlock()
	time.Sleep(f.slow)
	if f.corrupt.Load() && len(data) > 0 {
		data = append([]byte{data[0] ^ 0xff}, data[1:]...)
	}
	attrs.ETagNotMD5 = f.encrypted || f.kms
	if f.checksum != "" {
		h, err := store.NewHash(f.checksum)
		if err != nil {
			return nil, attrs, err
		}
		h.Write(f.objects[name])
		attrs.Checksum = store.ChecksumOf(f.checksum, h)
	}
	if f.wrongETag {
		attrs.ETag = strings.Repeat("0", 32)
	}
	var body io.Reader = bytes.NewReader(data)
	switch {
	case f.cutBodies.Load():
		body = io.MultiReader(bytes.NewReader(data[:len(data)/2]), iotest.ErrReader(errors.New("connection reset by peer")))
	case f.shortBodies.Load():
		body = bytes.NewReader(data[:len(data)/2])
	}
	return io.NopCloser(countedReader{body, &f.served}), attrs, nil
}

func (f *fakeBackend) PutObject(ctx context.Context, b store.Bucket, name string, r io.ReadSeeker, size int64, metadata map[string]string) (remote.ObjectAttrs, error) {
	if err := ctx.Err(); err != nil {
		return remote.ObjectAttrs{}, err // as the SDK: nothing sent
	}
	if err := f.check(); err != nil {
		return remote.ObjectAttrs{}, err
	}
	if f.forbid.Load() {
		return remote.ObjectAttrs{}, store.ErrRemoteForbidden
	}
	data, err := io.ReadAll(r)
	if err != nil || int64(len(data)) != size {
		return remote.ObjectAttrs{}, errors.New("short body")
	}
	if f.putEntered != nil {
		f.putEntered <- struct{}{}
		<-f.putRelease
	}
	f.mu.Lock()
	f.objects[name] = data
	if f.metadata == nil {
		f.metadata = map[string]map[string]string{}
	}
	f.metadata[name] = metadata
	f.mu.Unlock()
	attrs := remote.ObjectAttrs{Name: name, Size: size, ETag: f.etag(data), ETagNotMD5: f.kms}
	if f.kms {
		attrs.Version = "v-" + attrs.ETag
	}
	return attrs, nil
}

func (f *fakeBackend) DeleteObject(ctx context.Context, b store.Bucket, name string) error {
	if err := f.check(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.objects[name]; !ok {
		return store.ErrNotFound
	}
	delete(f.objects, name)
	return nil
}

func (f *fakeBackend) ListObjects(ctx context.Context, b store.Bucket, prefix, token string, max int) ([]remote.ObjectAttrs, string, error) {
	return nil, "", f.check()
}

func newRemote(t *testing.T, validateWarm bool) (*remote.Store, *fakeBackend, store.Store, store.Bucket) {
	t.Helper()
	local, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{t.TempDir()}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	be := &fakeBackend{objects: map[string][]byte{}}
	b := store.Bucket{Provider: store.ProviderAWS, Name: "remote-bucket"}
	props := store.DefaultRemoteProps(b)
	props.Versioning.ValidateWarmGet = validateWarm
	if err := local.CreateBucket(t.Context(), b, props); err != nil {
		t.Fatal(err)
	}
	rs := remote.New(local, func(context.Context, store.Bucket, store.Props) (remote.Backend, error) { return be, nil })
	return rs, be, local, b
}

func read(t *testing.T, s store.Store, b store.Bucket, name string) (string, error) {
	t.Helper()
	obj, err := s.Open(t.Context(), b, name, store.OpenOptions{})
	if err != nil {
		return "", err
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	return string(data), err
}

// A reader that found no copy just before a cold GET stored it (its
// fetch ended meanwhile) takes that copy: no second remote GET.
func TestReaderThatMissedAFetchJustEndedTakesItsCopy(t *testing.T) {
	rs, be, _, b := newRemote(t, false)
	be.objects["o"] = []byte("fetched once")
	if data, err := read(t, rs, b, "o"); err != nil || data != "fetched once" {
		t.Fatalf("cold read: %q %v", data, err)
	}
	if err := rs.ColdGet(t.Context(), b, "o"); err != nil {
		t.Fatal(err)
	}
	if n := be.gets.Load(); n != 1 {
		t.Fatalf("a reader that missed the copy as it was stored made %d remote GETs in all, want 1", n)
	}
}

// Many readers of an object not cached make one remote GET; later reads
// never reach the remote, even when it is down.
func TestColdGetOnceThenWarm(t *testing.T) {
	rs, be, local, b := newRemote(t, false)
	be.objects["big"] = bytes.Repeat([]byte("x"), 1<<20)
	be.slow = 50 * time.Millisecond
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if data, err := read(t, rs, b, "big"); err != nil || len(data) != 1<<20 {
				t.Errorf("cold read: %d bytes, %v", len(data), err)
			}
		})
	}
	wg.Wait()
	if n := be.gets.Load(); n != 1 {
		t.Fatalf("50 concurrent cold reads made %d remote GETs, want 1", n)
	}
	meta, err := local.Head(t.Context(), b, "big")
	if err != nil || meta.Custom[remote.CustomETag] != etagOf(be.objects["big"]) {
		t.Fatalf("cached copy %+v, %v: want the remote ETag kept", meta, err)
	}
	be.down.Store(true)
	if data, err := read(t, rs, b, "big"); err != nil || len(data) != 1<<20 {
		t.Fatalf("warm read with the remote down: %v", err)
	}
	if n := be.gets.Load(); n != 1 {
		t.Fatalf("a warm read reached the remote (%d GETs)", n)
	}
	// Not cached and the remote down: unavailable, nothing left behind.
	if _, err := read(t, rs, b, "other"); !errors.Is(err, store.ErrRemote) {
		t.Fatalf("cold read with the remote down: %v, want ErrRemote", err)
	}
	if _, err := local.Head(t.Context(), b, "other"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a failed cold GET left %v", err)
	}
	// Missing remotely: not found.
	be.down.Store(false)
	if _, err := read(t, rs, b, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an object the remote does not have: %v", err)
	}
}

// A cached copy is served, and answers a HEAD, while the remote's client
// cannot be made (credentials expired, a metadata service down); an
// object not cached, or a read that must ask the remote, gets the error.
func TestCachedCopyWithoutTheRemotesClient(t *testing.T) {
	for _, validate := range []bool{false, true} {
		_, be, local, b := newRemote(t, validate)
		var broken atomic.Bool
		errNoCredentials := fmt.Errorf("%w: no S3 credentials", store.ErrRemote)
		rs := remote.New(local, func(context.Context, store.Bucket, store.Props) (remote.Backend, error) {
			if broken.Load() {
				return nil, errNoCredentials
			}
			return be, nil
		})
		be.objects["o"] = []byte("cached")
		if data, err := read(t, rs, b, "o"); data != "cached" || err != nil {
			t.Fatalf("cold read: %q %v", data, err)
		}
		broken.Store(true)
		data, err := read(t, rs, b, "o")
		_, herr := rs.Head(t.Context(), b, "o")
		if validate {
			if !errors.Is(err, errNoCredentials) {
				t.Fatalf("a validated read without the remote's client: %q %v, want its error", data, err)
			}
		} else if data != "cached" || err != nil || herr != nil {
			t.Fatalf("a warm read without the remote's client: %q %v, HEAD %v", data, err, herr)
		}
		if _, err := read(t, rs, b, "not-cached"); !errors.Is(err, errNoCredentials) {
			t.Fatalf("a cold read without the remote's client: %v, want its error", err)
		}
	}
}

// A validated read whose remote says "not found" and then, asked again,
// fails keeps the cached copy and answers the failure, not a 404.
func TestValidatedReadOfAFlappingRemote(t *testing.T) {
	rs, be, local, b := newRemote(t, true)
	be.objects["o"] = []byte("cached")
	if data, err := read(t, rs, b, "o"); data != "cached" || err != nil {
		t.Fatalf("cold read: %q %v", data, err)
	}
	be.mu.Lock()
	be.headAnswers = []error{store.ErrNotFound, fmt.Errorf("%w: 503 slow down", store.ErrRemote)}
	be.mu.Unlock()
	if _, err := read(t, rs, b, "o"); errors.Is(err, store.ErrNotFound) || !errors.Is(err, store.ErrRemote) {
		t.Fatalf("a read whose remote flapped: %v, want the remote's failure", err)
	}
	if _, err := local.Head(t.Context(), b, "o"); err != nil {
		t.Fatalf("the cached copy after a flapping remote: %v", err)
	}
}

// A validated read whose remote says "not found" and then, asked again,
// has another version (deleted and written again between the two) gets
// that version, not the cached one.
func TestValidatedReadOfARemoteRewrittenBetweenItsHeads(t *testing.T) {
	rs, be, _, b := newRemote(t, true)
	be.objects["o"] = []byte("cached")
	if data, err := read(t, rs, b, "o"); data != "cached" || err != nil {
		t.Fatalf("cold read: %q %v", data, err)
	}
	be.mu.Lock()
	be.objects["o"] = []byte("rewritten")
	be.headAnswers = []error{store.ErrNotFound, nil}
	be.mu.Unlock()
	if data, err := read(t, rs, b, "o"); data != "rewritten" || err != nil {
		t.Fatalf("a validated read of an object rewritten between its HEADs: %q %v, want the remote's version", data, err)
	}
}

// OpenCached tells what the remote said of an object not cached here:
// it has it, it has none, it refused (403 for good), or another failure
// (unavailable, retried).
func TestOpenCachedKeepsTheRemotesKind(t *testing.T) {
	rs, be, _, b := newRemote(t, false)
	be.objects["there"] = []byte("x")
	for _, tc := range []struct {
		name   string
		answer error
		want   error
		not    error
	}{
		{"there", nil, store.ErrNotCached, store.ErrNotFound},
		{"absent", nil, store.ErrNotFound, store.ErrRemote},
		{"refused", store.ErrRemoteForbidden, store.ErrRemoteForbidden, store.ErrRemote},
		{"odd", errors.New("an answer of no kind"), store.ErrRemote, store.ErrNotFound},
	} {
		be.mu.Lock()
		be.headAnswers = []error{tc.answer}
		be.mu.Unlock()
		obj, err := rs.OpenCached(t.Context(), b, tc.name)
		if err == nil {
			obj.Close()
		}
		if !errors.Is(err, tc.want) || errors.Is(err, tc.not) {
			t.Errorf("OpenCached of %s, the remote answering %v: %v, want %v and not %v", tc.name, tc.answer, err, tc.want, tc.not)
		}
	}
}

// A remote whose body is cut, or ends short of its length, is the
// remote's failure (503, try again), not this node's; nothing is kept.
func TestColdGetOfACutBodyIsUnavailable(t *testing.T) {
	rs, be, local, b := newRemote(t, false)
	for _, short := range []bool{false, true} {
		be.cutBodies.Store(!short)
		be.shortBodies.Store(short)
		for i, open := range []func(string) (store.Object, error){
			func(name string) (store.Object, error) { return rs.Open(t.Context(), b, name, store.OpenOptions{}) },
			func(name string) (store.Object, error) { return rs.OpenStreaming(t.Context(), b, name) },
		} {
			name := fmt.Sprintf("o-%v-%d", short, i)
			be.objects[name] = bytes.Repeat([]byte("y"), 64<<10)
			obj, err := open(name)
			if err == nil {
				_, err = io.ReadAll(obj)
				obj.Close()
			}
			if !errors.Is(err, remote.ErrUnavailable) {
				t.Fatalf("%s: a cold GET of a body cut short: %v, want the remote unavailable", name, err)
			}
			if _, err := local.Head(t.Context(), b, name); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s: a cut body left a copy: %v", name, err)
			}
		}
	}
}

// With validate_warm_get a changed remote object is fetched again;
// without it the cached bytes are served.
func TestValidateWarmGet(t *testing.T) {
	for _, validate := range []bool{false, true} {
		rs, be, _, b := newRemote(t, validate)
		be.objects["o"] = []byte("version one")
		if data, _ := read(t, rs, b, "o"); data != "version one" {
			t.Fatalf("first read %q", data)
		}
		be.objects["o"] = []byte("version two!")
		want := "version one"
		if validate {
			want = "version two!"
		}
		if data, err := read(t, rs, b, "o"); data != want || err != nil {
			t.Fatalf("validate_warm_get=%v: read %q %v, want %q", validate, data, err, want)
		}
	}
}

// latest-ver (OpenOptions.Latest) checks the remote's version for one
// read in a bucket without validate_warm_get; the reads after it are warm.
func TestLatestVersionForOneRead(t *testing.T) {
	rs, be, _, b := newRemote(t, false)
	be.objects["o"] = []byte("version one")
	if data, _ := read(t, rs, b, "o"); data != "version one" {
		t.Fatalf("first read %q", data)
	}
	be.objects["o"] = []byte("version two!")
	obj, err := rs.Open(t.Context(), b, "o", store.OpenOptions{Latest: true})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(obj)
	obj.Close()
	if string(data) != "version two!" || be.gets.Load() != 2 {
		t.Fatalf("a read with Latest: %q after %d remote GETs, want the new bytes after 2", data, be.gets.Load())
	}
	be.down.Store(true)
	if data, err := read(t, rs, b, "o"); data != "version two!" || err != nil {
		t.Fatalf("the next plain read: %q %v, want the new bytes, warm", data, err)
	}
}

// A PUT writes through to the remote; a remote failure leaves no local
// copy; a delete removes both; HEAD of an object not cached answers from
// the remote.
func TestWriteThroughAndDelete(t *testing.T) {
	rs, be, local, b := newRemote(t, true)
	if _, err := rs.Put(t.Context(), b, "w", strings.NewReader("written"), store.PutOptions{Size: 7}); err != nil {
		t.Fatal(err)
	}
	if string(be.objects["w"]) != "written" {
		t.Fatalf("remote has %q", be.objects["w"])
	}
	// The cached copy is known current: a validated read does not fetch.
	if data, err := read(t, rs, b, "w"); data != "written" || err != nil || be.gets.Load() != 0 {
		t.Fatalf("read after write-through: %q %v, %d GETs", data, err, be.gets.Load())
	}
	// A conditional PUT cannot be checked against the remote: refused,
	// nothing written anywhere.
	if _, err := rs.Put(t.Context(), b, "cond", strings.NewReader("c"), store.PutOptions{Size: 1, IfNoneMatch: "*"}); err == nil || !strings.Contains(err.Error(), "conditional") {
		t.Fatalf("a conditional PUT to a remote bucket: %v", err)
	}
	if _, ok := be.objects["cond"]; ok {
		t.Fatal("a refused conditional PUT reached the remote")
	}
	be.down.Store(true)
	if _, err := rs.Put(t.Context(), b, "x", strings.NewReader("lost"), store.PutOptions{Size: 4}); !errors.Is(err, store.ErrRemote) {
		t.Fatalf("PUT with the remote down: %v", err)
	}
	if _, err := local.Head(t.Context(), b, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a failed write-through left a local copy: %v", err)
	}
	be.down.Store(false)
	be.objects["only-remote"] = []byte("abc")
	meta, err := rs.Head(t.Context(), b, "only-remote")
	if err != nil || meta.Size != 3 || !meta.Atime.IsZero() {
		t.Fatalf("HEAD of an object not cached: %+v %v", meta, err)
	}
	if err := rs.Delete(t.Context(), b, "w", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := be.objects["w"]; ok {
		t.Fatal("the remote still has the deleted object")
	}
	if _, err := local.Head(t.Context(), b, "w"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the local copy of a deleted object: %v", err)
	}
	// ais buckets pass through untouched.
	ais := store.NewBucket("plain")
	local.CreateBucket(t.Context(), ais, store.DefaultProps())
	if _, err := rs.Put(t.Context(), ais, "p", strings.NewReader("p"), store.PutOptions{Size: 1}); err != nil || len(be.objects) != 1 {
		t.Fatalf("an ais PUT: %v, remote has %d objects", err, len(be.objects))
	}
}

// A cold object is served while it is stored: the first reader streams
// it, the others wait for the cached copy; one remote GET in all, and a
// reader that stops early still leaves a whole cached copy.
func TestOpenStreaming(t *testing.T) {
	rs, be, local, b := newRemote(t, false)
	data := bytes.Repeat([]byte("0123456789"), 1_000_000) // past storeFirstSize
	if len(data) <= remote.StoreFirstSize {
		t.Fatalf("the object (%d bytes) would be stored first", len(data))
	}
	be.objects["s"] = data
	be.slow = 30 * time.Millisecond
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			obj, err := rs.OpenStreaming(t.Context(), b, "s")
			if err != nil {
				t.Error(err)
				return
			}
			defer obj.Close()
			got, err := io.ReadAll(obj)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("streamed read: %d bytes, %v", len(got), err)
			}
		})
	}
	wg.Wait()
	if be.gets.Load() != 1 {
		t.Fatalf("%d remote GETs, want 1", be.gets.Load())
	}
	if meta, err := local.Head(t.Context(), b, "s"); err != nil || meta.Size != int64(len(data)) {
		t.Fatalf("the cached copy: %+v %v", meta, err)
	}
	// A reader that reads 10 bytes and stops.
	be.objects["early"] = data
	obj, err := rs.OpenStreaming(t.Context(), b, "early")
	if err != nil {
		t.Fatal(err)
	}
	obj.Read(make([]byte, 10))
	obj.Close()
	if got, err := read(t, local, b, "early"); err != nil || got != string(data) {
		t.Fatalf("after an early close, the cached copy: %d bytes, %v", len(got), err)
	}
	if _, err := obj.Seek(0, io.SeekStart); err == nil {
		t.Fatal("a streamed object seeks")
	}
}

// A small cold object is stored first and served from its file: the
// cached copy is whole before the reader gets the object, which reads at
// offsets like any stored one.
func TestOpenStreamingSmallStoresFirst(t *testing.T) {
	rs, be, local, b := newRemote(t, false)
	data := bytes.Repeat([]byte("abcdefgh"), 128<<10) // 1 MiB
	be.objects["small"] = data
	obj, err := rs.OpenStreaming(t.Context(), b, "small")
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	if meta, err := local.Head(t.Context(), b, "small"); err != nil || meta.Size != int64(len(data)) {
		t.Fatalf("the cached copy before the read: %+v %v", meta, err)
	}
	tail := make([]byte, 8)
	if _, err := obj.ReadAt(tail, int64(len(data)-8)); err != nil || string(tail) != "abcdefgh" {
		t.Fatalf("ReadAt of a small cold object: %q %v", tail, err)
	}
	if be.gets.Load() != 1 {
		t.Fatalf("%d remote GETs, want 1", be.gets.Load())
	}
}

// stamps returns a node's stamp source: map version 1, a clock that
// moves on with each call. The writes of the tests are stamped from it,
// as the node stamps its clients' writes.
func stamps() func() store.Stamp {
	var clock atomic.Int64
	return func() store.Stamp { return store.Stamp{Map: 1, Clock: clock.Add(1)} }
}

// A cached copy of an object gone from the remote goes with a stamp (a
// delete, not a move): while a mountpath is away, the store leaves a
// tombstone, and a copy there does not come back.
func TestCopyOfAnObjectGoneFromTheRemoteGoesStamped(t *testing.T) {
	_, be, local, b := newRemote(t, true)
	recorder := &storetest.DeleteRecorder{Store: local}
	rs := remote.New(recorder, func(context.Context, store.Bucket, store.Props) (remote.Backend, error) { return be, nil })
	rs.SetStamp(stamps())
	be.objects["o"] = []byte("remote bytes")
	if data, err := read(t, rs, b, "o"); data != "remote bytes" || err != nil {
		t.Fatalf("the cold GET: %q %v", data, err)
	}
	cached, err := local.Head(t.Context(), b, "o")
	if err != nil {
		t.Fatal(err)
	}
	delete(be.objects, "o")
	if _, err := read(t, rs, b, "o"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a validated read of an object gone from the remote: %v", err)
	}
	deletes := recorder.Deletes()
	if len(deletes) != 1 {
		t.Fatalf("%d deletes, want 1", len(deletes))
	}
	if got := deletes[0]; got.IfStamp != cached.Stamp || got.Stamp.Compare(cached.Stamp) <= 0 {
		t.Fatalf("the removal of the copy %v: IfStamp %v, Stamp %v; want its stamp and a later one", cached.Stamp, got.IfStamp, got.Stamp)
	}
}

// A validated read whose remote bucket is gone (deleted by mistake, an
// endpoint changed) keeps the cached copy: a HEAD's 404 does not tell a
// key gone from a bucket gone, and the copy may be the last one.
func TestCopyStaysWhenTheRemoteBucketIsGone(t *testing.T) {
	rs, be, local, b := newRemote(t, true)
	be.objects["o"] = []byte("remote bytes")
	if data, err := read(t, rs, b, "o"); data != "remote bytes" || err != nil {
		t.Fatalf("the cold GET: %q %v", data, err)
	}
	be.bucketGone.Store(true)
	if _, err := read(t, rs, b, "o"); !errors.Is(err, store.ErrBucketNotFound) {
		t.Fatalf("a validated read with the bucket gone: %v, want the bucket named missing", err)
	}
	if _, err := local.Head(t.Context(), b, "o"); err != nil {
		t.Fatalf("the cached copy after the bucket went: %v", err)
	}
	// A bucket that refuses its HEAD (403) is there: the key is gone,
	// and so goes its copy.
	be.bucketGone.Store(false)
	be.bucketForbidden.Store(true)
	delete(be.objects, "o")
	if _, err := read(t, rs, b, "o"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a validated read of a key gone from a bucket that refuses its HEAD: %v", err)
	}
	if _, err := local.Head(t.Context(), b, "o"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the cached copy of a key gone: %v", err)
	}
}

// A delete stamped before a cold GET began, and run while it fetches,
// is not undone by it: the GET does not store the remote's object once
// the delete has removed it (the tombstone is stamped under the lock).
// A bulk delete's (no tombstone asked for) is not either.
func TestDeleteStampedBeforeAColdGetIsNotUndoneByIt(t *testing.T) {
	for _, tombstone := range []bool{true, false} {
		rs, be, local, b := newRemote(t, false)
		stamp := stamps()
		rs.SetStamp(stamp)
		be.objects["o"] = []byte("remote bytes")
		be.slow = 300 * time.Millisecond
		before := stamp() // the DELETE's, taken before the GET's
		done := make(chan struct{})
		go func() {
			defer close(done)
			read(t, rs, b, "o") // (its answer either way: the delete came first)
		}()
		for be.gets.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		if err := rs.Delete(t.Context(), b, "o", store.DeleteOptions{Stamp: before, Tombstone: tombstone}); err != nil {
			t.Fatalf("a delete (tombstone %v) while a cold GET fetches: %v", tombstone, err)
		}
		<-done
		if _, err := local.Head(t.Context(), b, "o"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the object deleted (tombstone %v) while it was fetched is cached: %v", tombstone, err)
		}
		// With no cold GET under way, a bulk delete of a name leaves no
		// tombstone (a template of millions of names never there).
		if err := rs.Delete(t.Context(), b, "never", store.DeleteOptions{Stamp: stamp()}); err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		if _, ok := local.(*fs.Store).Tombstone(b, "never"); ok {
			t.Fatal("a bulk delete of a name not fetched left a tombstone")
		}
	}
}

// The same across a map change: a bulk delete (no tombstone asked for)
// stamped in the map before, run while a cold GET stamped in the new map
// fetches, is not undone by it.
func TestDeleteStampedInAnOlderMapIsNotUndoneByAColdGet(t *testing.T) {
	rs, be, local, b := newRemote(t, false)
	var clock atomic.Int64
	rs.SetStamp(func() store.Stamp { return store.Stamp{Map: 2, Clock: clock.Add(1)} })
	be.objects["o"] = []byte("remote bytes")
	be.slow = 300 * time.Millisecond
	before := store.Stamp{Map: 1, Clock: 1 << 40} // the DELETE's, in the map before
	done := make(chan struct{})
	go func() {
		defer close(done)
		read(t, rs, b, "o")
	}()
	for be.gets.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := rs.Delete(t.Context(), b, "o", store.DeleteOptions{Stamp: before}); err != nil {
		t.Fatalf("a delete while a cold GET fetches: %v", err)
	}
	<-done
	if _, err := local.Head(t.Context(), b, "o"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the object deleted while it was fetched (in a newer map) is cached: %v", err)
	}
}

// A cold GET that was fetching while the name was written or deleted does
// not store its older copy over the write or bring the object back.
func TestColdGetDoesNotUndoAWriteOrDelete(t *testing.T) {
	for _, streaming := range []bool{false, true} {
		rs, be, local, b := newRemote(t, false)
		rs.SetStamp(stamps())
		old := bytes.Repeat([]byte("o"), 9<<20) // streamed to its reader when asked
		be.objects["written"], be.objects["deleted"] = old, old
		be.slow = 200 * time.Millisecond
		var wg sync.WaitGroup
		for _, name := range []string{"written", "deleted"} {
			wg.Go(func() {
				var obj store.Object
				var err error
				if streaming {
					obj, err = rs.OpenStreaming(t.Context(), b, name)
				} else {
					obj, err = rs.Open(t.Context(), b, name, store.OpenOptions{})
				}
				if err != nil {
					if !errors.Is(err, store.ErrNotFound) {
						t.Errorf("cold GET %s: %v", name, err)
					}
					return
				}
				io.Copy(io.Discard, obj)
				obj.Close()
			})
		}
		time.Sleep(50 * time.Millisecond) // both fetches are under way
		if _, err := rs.Put(t.Context(), b, "written", strings.NewReader("new"), store.PutOptions{Size: 3, Stamp: rs.Stamp()}); err != nil {
			t.Fatal(err)
		}
		if err := rs.Delete(t.Context(), b, "deleted", store.DeleteOptions{Stamp: rs.Stamp(), Tombstone: true}); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if got, err := read(t, local, b, "written"); err != nil || got != "new" {
			t.Fatalf("streaming %v: the cached copy after a PUT during its cold GET: %d bytes, %v", streaming, len(got), err)
		}
		if _, err := local.Head(t.Context(), b, "deleted"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("streaming %v: a delete during the cold GET: %v, want not found", streaming, err)
		}
	}
}

// A copy that is removed as a copy (not by its owner, or by a rebalance)
// leaves the remote's object; a delete as of a stamp older than the
// object kept here deletes neither.
func TestCopyRemovalsLeaveTheRemote(t *testing.T) {
	rs, be, local, b := newRemote(t, false)
	rs.SetStamp(stamps())
	if _, err := rs.Put(t.Context(), b, "o", strings.NewReader("data"), store.PutOptions{Size: 4, Stamp: rs.Stamp()}); err != nil {
		t.Fatal(err)
	}
	if err := rs.Delete(t.Context(), b, "o", store.DeleteOptions{LocalOnly: true, Stamp: rs.Stamp(), Tombstone: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := local.Head(t.Context(), b, "o"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the local copy after a local delete: %v", err)
	}
	if _, ok := be.objects["o"]; !ok {
		t.Fatal("a local delete removed the remote's object")
	}
	before := rs.Stamp()
	if _, err := rs.Put(t.Context(), b, "n", strings.NewReader("newer"), store.PutOptions{Size: 5, Stamp: rs.Stamp()}); err != nil {
		t.Fatal(err)
	}
	if err := rs.Delete(t.Context(), b, "n", store.DeleteOptions{Stamp: before, Tombstone: true}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("a delete as of before the PUT: %v, want ErrExists", err)
	}
	if _, ok := be.objects["n"]; !ok {
		t.Fatal("a delete older than the object removed it from the remote")
	}
	if got, err := read(t, local, b, "n"); err != nil || got != "newer" {
		t.Fatalf("the local copy after an older delete: %q, %v", got, err)
	}
	if err := rs.Delete(t.Context(), b, "n", store.DeleteOptions{Stamp: rs.Stamp(), Tombstone: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok := be.objects["n"]; ok {
		t.Fatal("a delete after the PUT left the remote's object")
	}
}

// Concurrent write-through PUTs of a name leave the remote and the local
// store with the same object, each sent whole.
// A write-through keeps what the remote answered (its ETag, its version),
// as a cold GET does, and computes no MD5 of its own: a validated read of
// an object whose ETag is not its MD5 (encrypted with KMS) does not fetch
// it again, and one whose ETag is keeps it as its S3 ETag.
// A written object's custom metadata goes to the remote (S3's own as
// its user metadata when a header carries it as it is, the rest in one
// entry), and comes back with the object evicted and read again. What
// the node derives from the remote, or marks its own writes with (a
// dSort job's output), is not taken back from it.
func TestWriteThroughKeepsCustomMetadata(t *testing.T) {
	rs, be, local, b := newRemote(t, false)
	custom := map[string]string{
		"label": "cat", "dsort.job": "j-1", store.CustomUserPrefix + "color": "red",
		store.CustomUserPrefix + "name": "José", store.CustomUserPrefix + "my key": "x", store.CustomUserPrefix + "note": "a\nb",
		store.CustomUserPrefix + "": "empty", store.CustomUserPrefix + "Upper": "u", store.CustomUserPrefix + remote.CustomEntry: "users",
		store.CustomETag: "0123", "remote.etag": "forged",
	}
	if _, err := rs.Put(t.Context(), b, "w", strings.NewReader("written"), store.PutOptions{Size: 7, Custom: custom}); err != nil {
		t.Fatal(err)
	}
	sent := be.metadata["w"]
	if sent["color"] != "red" || sent[remote.CustomEntry] == "" || len(sent) != 2 {
		t.Fatalf("the remote's user metadata %v, want color and the entry of the rest alone", sent)
	}
	if err := rs.Delete(t.Context(), b, "w", store.DeleteOptions{LocalOnly: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := local.Head(t.Context(), b, "w"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("evicted, the copy is still here: %v", err)
	}
	want := map[string]string{"label": "cat", store.CustomUserPrefix + "color": "red", store.CustomUserPrefix + "name": "José", store.CustomUserPrefix + "my key": "x",
		store.CustomUserPrefix + "note": "a\nb", store.CustomUserPrefix + "": "empty", store.CustomUserPrefix + "Upper": "u", store.CustomUserPrefix + remote.CustomEntry: "users"}
	for _, what := range []string{"HEAD of the object not cached", "cold GET"} {
		var meta store.ObjectMeta
		var err error
		if what == "cold GET" {
			if data, err := read(t, rs, b, "w"); data != "written" || err != nil {
				t.Fatalf("cold GET: %q %v", data, err)
			}
			meta, err = local.Head(t.Context(), b, "w")
		} else {
			meta, err = rs.Head(t.Context(), b, "w")
		}
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			if meta.Custom[k] != v {
				t.Errorf("%s: %q is %q, want %q (of %v)", what, k, meta.Custom[k], v, meta.Custom)
			}
		}
		if meta.Custom["dsort.job"] != "" || meta.Custom["remote.etag"] == "forged" {
			t.Fatalf("%s: custom metadata %v: a job's mark or the remote's ETag taken from the remote's metadata", what, meta.Custom)
		}
	}
	// Metadata past S3's limit leaves the entry out (the remote would
	// refuse the write), not the write.
	big := map[string]string{"label": strings.Repeat("x", remote.MaxMetadata), store.CustomUserPrefix + "color": "red"}
	if _, err := rs.Put(t.Context(), b, "big", strings.NewReader("b"), store.PutOptions{Size: 1, Custom: big}); err != nil {
		t.Fatal(err)
	}
	if sent := be.metadata["big"]; len(sent) != 1 || sent["color"] != "red" {
		t.Fatalf("the user metadata of an object of big custom metadata: %v, want S3's own alone", sent)
	}
	// An object another client wrote with as much user metadata as S3
	// takes is read (what the copy cannot keep of it left out), not
	// refused once fetched.
	many := map[string]string{}
	for i := range 110 {
		many[fmt.Sprintf("k%03d", i)] = strings.Repeat("v", 14)
	}
	be.mu.Lock()
	be.objects["many"] = []byte("m")
	be.metadata["many"] = many
	be.mu.Unlock()
	if data, err := read(t, rs, b, "many"); data != "m" || err != nil {
		t.Fatalf("a cold GET of an object of %d bytes of user metadata: %q %v", store.CustomSize(many), data, err)
	}
	// So with an entry of many small keys (a remote that takes more than
	// S3): what the copy keeps is counted as stored.
	small := map[string]string{}
	for i := range 760 {
		small[fmt.Sprintf("%02x", i%256)+fmt.Sprint(i/256)] = ""
	}
	entry := remote.Metadata(small)
	if entry != nil {
		t.Fatalf("an entry past S3's limit was made: %d bytes", store.CustomSize(entry))
	}
	data, _ := json.Marshal(small)
	be.mu.Lock()
	be.objects["small"] = []byte("s")
	be.metadata["small"] = map[string]string{remote.CustomEntry: base64.RawURLEncoding.EncodeToString(data)}
	// S3's own name, set by another client after the entry was written
	// (a copy that kept it), wins over the entry's.
	be.objects["renamed"] = []byte("r")
	be.metadata["renamed"] = remote.Metadata(map[string]string{store.CustomUserPrefix + "name": "José"})
	be.metadata["renamed"]["name"] = "Jose"
	be.mu.Unlock()
	if data, err := read(t, rs, b, "small"); data != "s" || err != nil {
		t.Fatalf("a cold GET of an object of 760 small keys in its entry: %q %v", data, err)
	}
	for range 5 {
		meta, err := rs.Head(t.Context(), b, "renamed")
		if err != nil || meta.Custom[store.CustomUserPrefix+"name"] != "Jose" {
			t.Fatalf("a name in the entry and in S3's own: %v %v, want S3's own", meta.Custom, err)
		}
	}
}

func TestWriteThroughKeepsTheRemoteAnswer(t *testing.T) {
	for _, kms := range []bool{true, false} {
		rs, be, local, b := newRemote(t, true)
		be.kms = kms
		if _, err := rs.Put(t.Context(), b, "w", strings.NewReader("written"), store.PutOptions{Size: 7}); err != nil {
			t.Fatal(err)
		}
		if data, err := read(t, rs, b, "w"); data != "written" || err != nil || be.gets.Load() != 0 {
			t.Fatalf("kms=%v: a validated read after a write-through: %q %v, %d GETs", kms, data, err, be.gets.Load())
		}
		meta, err := local.Head(t.Context(), b, "w")
		etag := be.etag([]byte("written"))
		if err != nil || meta.Custom[remote.CustomETag] != etag {
			t.Fatalf("kms=%v: the copy's metadata %v %v, want the remote's ETag %s", kms, meta.Custom, err, etag)
		}
		if kms && (meta.Custom[remote.CustomVersion] != "v-"+etag || meta.Custom[store.CustomETag] != "") {
			t.Fatalf("an encrypted object's copy: %v, want the remote's version and no MD5 taken for its ETag", meta.Custom)
		}
		if !kms && meta.Custom[store.CustomETag] != etagOf([]byte("written")) {
			t.Fatalf("a plain object's copy: %v, want the remote's MD5 as its S3 ETag", meta.Custom)
		}
		// Undone (a dSort job aborted): the remote's object goes too, known
		// by the ETag the remote answered.
		if err := rs.Delete(t.Context(), b, "w", store.DeleteOptions{IfStamp: meta.Stamp, WrittenThrough: true}); err != nil {
			t.Fatal(err)
		}
		if _, ok := be.objects["w"]; ok {
			t.Fatalf("kms=%v: an undone write-through left the remote's object", kms)
		}
	}
}

func TestWriteThroughPutsKeepOneOrder(t *testing.T) {
	rs, be, local, b := newRemote(t, false)
	rs.SetStamp(stamps())
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			data := strings.Repeat(string(rune('a'+i)), 1<<10*(i+1))
			if _, err := rs.Put(t.Context(), b, "k", strings.NewReader(data), store.PutOptions{Size: int64(len(data)), Stamp: rs.Stamp()}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, err := read(t, local, b, "k")
	if err != nil {
		t.Fatal(err)
	}
	if remote := string(be.objects["k"]); remote != got {
		t.Fatalf("the remote has %d bytes of %q, the local store %d of %q", len(remote), remote[:1], len(got), got[:1])
	}
}

// A write-through PUT whose caller gives up while another write holds
// the name sends nothing and leaves the other's copy: sent on with its
// context ended, it "may have reached" the remote, and the fresh copy of
// the write acknowledged meanwhile was dropped.
func TestWriteThroughGivenUpWhileWaitingLeavesTheOther(t *testing.T) {
	rs, be, local, b := newRemote(t, false)
	rs.SetStamp(stamps())
	be.putEntered, be.putRelease = make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, err := rs.Put(t.Context(), b, "k", strings.NewReader("first"), store.PutOptions{Size: 5, Stamp: rs.Stamp()})
		first <- err
	}()
	<-be.putEntered // the first holds the name, sending
	ctx, cancel := context.WithCancel(t.Context())
	second := make(chan error, 1)
	go func() {
		_, err := rs.Put(ctx, b, "k", strings.NewReader("second"), store.PutOptions{Size: 6, Stamp: rs.Stamp()})
		second <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); rs.NameUsers(b, "k") < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second PUT did not wait for the name")
		}
	}
	cancel()
	close(be.putRelease)
	if err := <-first; err != nil {
		t.Fatalf("the first PUT: %v", err)
	}
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Fatalf("the PUT given up: %v, want its end", err)
	}
	if got, err := read(t, local, b, "k"); err != nil || got != "first" {
		t.Fatalf("the acknowledged write's copy: %q %v", got, err)
	}
	if remote := string(be.objects["k"]); remote != "first" {
		t.Fatalf("the remote has %q", remote)
	}
}

// A cached copy that cannot be served (cut short on disk) is fetched
// again by a streaming read, as by a plain one.
func TestOpenStreamingRefetchesACorruptCopy(t *testing.T) {
	dir := t.TempDir()
	local, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{dir}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	be := &fakeBackend{objects: map[string][]byte{}}
	b := store.Bucket{Provider: store.ProviderAWS, Name: "remote-bucket"}
	if err := local.CreateBucket(t.Context(), b, store.DefaultRemoteProps(b)); err != nil {
		t.Fatal(err)
	}
	rs := remote.New(local, func(context.Context, store.Bucket, store.Props) (remote.Backend, error) { return be, nil })
	rs.SetStamp(stamps())
	data := bytes.Repeat([]byte("c"), 1<<20)
	be.objects["cut"] = data
	if got, err := read(t, rs, b, "cut"); err != nil || len(got) != len(data) {
		t.Fatalf("cold GET: %d bytes, %v", len(got), err)
	}
	var file string
	filepath.WalkDir(dir, func(path string, d iofs.DirEntry, err error) error {
		if err == nil && d.Name() == "cut" && !d.IsDir() {
			file = path
		}
		return nil
	})
	if file == "" {
		t.Fatal("the cached copy's file is not under the mountpath")
	}
	if err := os.Truncate(file, 10); err != nil {
		t.Fatal(err)
	}
	obj, err := rs.OpenStreaming(t.Context(), b, "cut")
	if err != nil {
		t.Fatalf("a streaming read of a copy cut short: %v", err)
	}
	got, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("a streaming read of a copy cut short: %d bytes, %v", len(got), err)
	}
	if be.gets.Load() != 2 {
		t.Fatalf("%d remote GETs, want 2 (the copy fetched again)", be.gets.Load())
	}
}

// Past out_of_space a cold GET is refused and stores nothing; what is
// cached is still served.
func TestColdGetKeepsToTheWatermarks(t *testing.T) {
	rs, be, local, b := newRemote(t, false)
	be.objects["warm"], be.objects["cold"] = []byte("cached"), []byte("not cached")
	if got, err := read(t, rs, b, "warm"); err != nil || got != "cached" {
		t.Fatalf("cold GET: %q, %v", got, err)
	}
	full := fmt.Errorf("%w: mountpath at 96%%", store.ErrNoSpace)
	rs.SetSpaceCheck(func(context.Context) error { return full })
	for _, streaming := range []bool{false, true} {
		var err error
		if streaming {
			_, err = rs.OpenStreaming(t.Context(), b, "cold")
		} else {
			_, err = rs.Open(t.Context(), b, "cold", store.OpenOptions{})
		}
		if !errors.Is(err, store.ErrNoSpace) {
			t.Fatalf("streaming %v: a cold GET past out_of_space: %v, want ErrNoSpace", streaming, err)
		}
	}
	if _, err := local.Head(t.Context(), b, "cold"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused cold GET left %v", err)
	}
	if got, err := read(t, rs, b, "warm"); err != nil || got != "cached" {
		t.Fatalf("a warm GET past out_of_space: %q, %v", got, err)
	}
}

// stallingBody sends a few bytes, then nothing until its GET is given up.
type stallingBody struct {
	ctx  context.Context
	sent bool
}

func (s *stallingBody) Read(p []byte) (int, error) {
	if !s.sent {
		s.sent = true
		return copy(p, "a start"), nil
	}
	<-s.ctx.Done()
	return 0, s.ctx.Err()
}

func (s *stallingBody) Close() error { return nil }

// stallingBackend is a remote whose object bodies stall after their
// first bytes.
type stallingBackend struct{ *fakeBackend }

func (f stallingBackend) GetObject(ctx context.Context, b store.Bucket, name string) (io.ReadCloser, remote.ObjectAttrs, error) {
	attrs, err := f.HeadObject(ctx, b, name)
	if err != nil {
		return nil, attrs, err
	}
	f.gets.Add(1)
	return &stallingBody{ctx: ctx}, attrs, nil
}

// A remote that stalls mid-body ends the cold GET after the idle timeout,
// with an error saying so, and leaves nothing; the next read tries again.
func TestColdGetGivesUpOnAStalledRemote(t *testing.T) {
	for _, size := range []int{1 << 20, 9 << 20} { // stored first, streamed
		local, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{t.TempDir()}, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		be := stallingBackend{&fakeBackend{objects: map[string][]byte{"o": make([]byte, size)}}}
		b := store.Bucket{Provider: store.ProviderAWS, Name: "remote-bucket"}
		if err := local.CreateBucket(t.Context(), b, store.DefaultRemoteProps(b)); err != nil {
			t.Fatal(err)
		}
		rs := remote.New(local, func(context.Context, store.Bucket, store.Props) (remote.Backend, error) { return be, nil })
		rs.SetFetchIdleTimeout(200 * time.Millisecond)
		for attempt := int64(1); attempt <= 2; attempt++ {
			obj, err := rs.OpenStreaming(t.Context(), b, "o")
			if err == nil {
				_, err = io.ReadAll(obj)
				obj.Close()
			}
			if err == nil || !strings.Contains(err.Error(), "nothing from the remote") {
				t.Fatalf("%d bytes, attempt %d: a read of a stalled remote: %v, want the stall named", size, attempt, err)
			}
			if be.gets.Load() != attempt {
				t.Fatalf("%d remote GETs after %d attempts", be.gets.Load(), attempt)
			}
		}
		if _, err := local.Head(t.Context(), b, "o"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a stalled cold GET left %v", err)
		}
	}
}

// A delete the remote cannot take fails and leaves the cached copy, which
// reads still get while the remote is down.
func TestFailedDeleteKeepsTheCachedCopy(t *testing.T) {
	rs, be, _, b := newRemote(t, false)
	rs.SetStamp(stamps())
	if _, err := rs.Put(t.Context(), b, "o", strings.NewReader("data"), store.PutOptions{Size: 4, Stamp: rs.Stamp()}); err != nil {
		t.Fatal(err)
	}
	be.down.Store(true)
	if err := rs.Delete(t.Context(), b, "o", store.DeleteOptions{Stamp: rs.Stamp(), Tombstone: true}); !errors.Is(err, remote.ErrUnavailable) {
		t.Fatalf("a delete with the remote down: %v, want unavailable", err)
	}
	if got, err := read(t, rs, b, "o"); err != nil || got != "data" {
		t.Fatalf("the cached copy after the failed delete: %q, %v", got, err)
	}
}

// A delete of the copy a write went through with (an aborted job's
// output) takes the remote's object too, unless the remote has another
// object by then; a plain delete of that copy (a rebalance) leaves it.
func TestDeleteWrittenThrough(t *testing.T) {
	rs, be, local, b := newRemote(t, false)
	rs.SetStamp(stamps())
	put := func(name, data string) store.ObjectMeta {
		t.Helper()
		meta, err := rs.Put(t.Context(), b, name, strings.NewReader(data), store.PutOptions{Size: int64(len(data)), Stamp: rs.Stamp()})
		if err != nil {
			t.Fatal(err)
		}
		return meta
	}
	moved := put("moved", "a copy a rebalance sent")
	if err := rs.Delete(t.Context(), b, "moved", store.DeleteOptions{IfStamp: moved.Stamp}); err != nil {
		t.Fatal(err)
	}
	if _, ok := be.objects["moved"]; !ok {
		t.Fatal("removing a copy without WrittenThrough removed the remote's object")
	}
	out := put("out", "the job's shard")
	if err := rs.Delete(t.Context(), b, "out", store.DeleteOptions{IfStamp: out.Stamp, WrittenThrough: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok := be.objects["out"]; ok {
		t.Fatal("the remote kept what the removed copy wrote through")
	}
	if _, err := local.Head(t.Context(), b, "out"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the local copy: %v", err)
	}
	// Written to the remote by another client since: it stays there.
	other := put("other", "the job's shard")
	be.mu.Lock()
	be.objects["other"] = []byte("someone else's, later")
	be.mu.Unlock()
	if err := rs.Delete(t.Context(), b, "other", store.DeleteOptions{IfStamp: other.Stamp, WrittenThrough: true}); err != nil {
		t.Fatal(err)
	}
	if string(be.objects["other"]) != "someone else's, later" {
		t.Fatal("the remote's newer object was removed")
	}
	// A copy replaced here since is not removed, anywhere.
	first := put("again", "first")
	put("again", "second")
	if err := rs.Delete(t.Context(), b, "again", store.DeleteOptions{IfStamp: first.Stamp, WrittenThrough: true}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("removing a replaced copy: %v, want ErrExists", err)
	}
	if string(be.objects["again"]) != "second" {
		t.Fatal("the remote lost the newer object")
	}
}

// evictingStore removes an object right after its first store (an evict
// racing the cold GET that fetched it).
type evictingStore struct {
	store.Store
	evicted atomic.Bool
}

func (s *evictingStore) Put(ctx context.Context, b store.Bucket, name string, r io.Reader, opts store.PutOptions) (store.ObjectMeta, error) {
	meta, err := s.Store.Put(ctx, b, name, r, opts)
	if err == nil && s.evicted.CompareAndSwap(false, true) {
		s.Store.Delete(ctx, b, name, store.DeleteOptions{LocalOnly: true})
	}
	return meta, err
}

// A copy evicted between its cold GET and the read is fetched again: the
// read gets the object, not a 404 (the remote has it).
func TestColdGetAfterARacingEvict(t *testing.T) {
	_, be, local, b := newRemote(t, false)
	be.objects["o"] = []byte("remote bytes")
	evicting := &evictingStore{Store: local}
	rs := remote.New(evicting, func(context.Context, store.Bucket, store.Props) (remote.Backend, error) { return be, nil })
	if got, err := read(t, rs, b, "o"); err != nil || got != "remote bytes" {
		t.Fatalf("a read whose copy was evicted after its fetch: %q %v", got, err)
	}
	if !evicting.evicted.Load() || be.gets.Load() != 2 {
		t.Fatalf("evicted %v, remote GETs %d: want one evict and a second fetch", evicting.evicted.Load(), be.gets.Load())
	}
	evicting.evicted.Store(false)
	if _, err := local.Head(t.Context(), b, "o"); err != nil {
		t.Fatal(err)
	}
	local.Delete(t.Context(), b, "o", store.DeleteOptions{})
	if fetched, size, err := rs.Fetch(t.Context(), b, "o"); err != nil || !fetched || size != int64(len("remote bytes")) {
		t.Fatalf("a prefetch whose copy was evicted after its fetch: %v %d %v", fetched, size, err)
	}
}

// The same for a streaming read of a small object (stored, then served).
func TestOpenStreamingAfterARacingEvict(t *testing.T) {
	_, be, local, b := newRemote(t, false)
	be.objects["o"] = []byte("remote bytes")
	evicting := &evictingStore{Store: local}
	rs := remote.New(evicting, func(context.Context, store.Bucket, store.Props) (remote.Backend, error) { return be, nil })
	obj, err := rs.OpenStreaming(t.Context(), b, "o")
	if err != nil {
		t.Fatalf("a streaming read whose copy was evicted after its fetch: %v", err)
	}
	defer obj.Close()
	if got, err := io.ReadAll(obj); err != nil || string(got) != "remote bytes" {
		t.Fatalf("read %q %v", got, err)
	}
}

// An ETag longer than an object's metadata can hold (an HTTP origin's may
// be as long as a header) is kept as its hash: the object is cached, and
// validated against the remote's like any other.
func TestLongRemoteETag(t *testing.T) {
	rs, be, local, b := newRemote(t, true)
	be.longTags = true
	be.objects["o"] = []byte("version one")
	for range 2 {
		if data, err := read(t, rs, b, "o"); data != "version one" || err != nil {
			t.Fatalf("read %q %v", data, err)
		}
	}
	if n := be.gets.Load(); n != 1 {
		t.Fatalf("two reads of an unchanged object made %d remote GETs, want 1", n)
	}
	if _, err := local.Head(t.Context(), b, "o"); err != nil {
		t.Fatalf("not cached: %v", err)
	}
	be.objects["o"] = []byte("version two")
	if data, err := read(t, rs, b, "o"); data != "version two" || err != nil {
		t.Fatalf("read after a change %q %v", data, err)
	}
}

// slowPut is a store whose Put goes on after the body's end (an EC
// bucket's encoding and slices) with the fetch's context.
type slowPut struct {
	store.Store
	delay time.Duration
}

func (s slowPut) Put(ctx context.Context, b store.Bucket, name string, r io.Reader, opts store.PutOptions) (store.ObjectMeta, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return store.ObjectMeta{}, err
	}
	time.Sleep(s.delay)
	if err := context.Cause(ctx); err != nil {
		return store.ObjectMeta{}, err
	}
	return s.Store.Put(ctx, b, name, bytes.NewReader(data), opts)
}

// The idle timeout watches the remote's body only: a store that takes
// longer than it once the whole body arrived does not fail the cold GET.
func TestColdGetIdleTimeoutEndsWithTheBody(t *testing.T) {
	local, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{t.TempDir()}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	be := &fakeBackend{objects: map[string][]byte{"o": []byte("the object")}}
	b := store.Bucket{Provider: store.ProviderAWS, Name: "remote-bucket"}
	if err := local.CreateBucket(t.Context(), b, store.DefaultRemoteProps(b)); err != nil {
		t.Fatal(err)
	}
	rs := remote.New(slowPut{local, 300 * time.Millisecond}, func(context.Context, store.Bucket, store.Props) (remote.Backend, error) { return be, nil })
	rs.SetFetchIdleTimeout(50 * time.Millisecond)
	if data, err := read(t, rs, b, "o"); data != "the object" || err != nil {
		t.Fatalf("a cold GET whose store outlasts the idle timeout: %q %v", data, err)
	}
}

// A validated GET that finds the cached copy of a write-through PUT not
// yet on the remote waits for the PUT: fetched before, the remote's old
// object would replace the PUT's copy.
func TestValidatedGetDoesNotUndoAWriteThrough(t *testing.T) {
	rs, be, local, b := newRemote(t, true)
	rs.SetStamp(stamps())
	be.objects["o"] = []byte("old")
	if data, err := read(t, rs, b, "o"); data != "old" || err != nil {
		t.Fatalf("first read %q %v", data, err)
	}
	be.putEntered, be.putRelease = make(chan struct{}), make(chan struct{})
	put := make(chan error)
	go func() {
		_, err := rs.Put(t.Context(), b, "o", strings.NewReader("new!"), store.PutOptions{Size: 4, Stamp: rs.Stamp()})
		put <- err
	}()
	<-be.putEntered // stored here, on its way to the remote
	got := make(chan error, 1)
	go func() {
		_, err := read(t, rs, b, "o")
		got <- err
	}()
	early := false
	select {
	case <-got: // read before the PUT reached the remote
		early = true
	case <-time.After(300 * time.Millisecond):
	}
	close(be.putRelease)
	if err := <-put; err != nil {
		t.Fatal(err)
	}
	if !early {
		if err := <-got; err != nil {
			t.Fatalf("the validated GET: %v", err)
		}
	}
	if data, err := read(t, local, b, "o"); data != "new!" || err != nil {
		t.Fatalf("the cached copy after a validated GET during a write-through PUT: %q %v", data, err)
	}
}

// The same for the first write-through PUT of a name: the remote does
// not have it yet, and a validated GET must not take the cached copy for
// one the remote lost (and delete it).
func TestValidatedGetKeepsAFirstWriteThrough(t *testing.T) {
	rs, be, local, b := newRemote(t, true)
	rs.SetStamp(stamps())
	be.putEntered, be.putRelease = make(chan struct{}), make(chan struct{})
	put := make(chan error)
	go func() {
		_, err := rs.Put(t.Context(), b, "n", strings.NewReader("new!"), store.PutOptions{Size: 4, Stamp: rs.Stamp()})
		put <- err
	}()
	<-be.putEntered // stored here, on its way to the remote
	got := make(chan error, 1)
	go func() {
		_, err := read(t, rs, b, "n")
		got <- err
	}()
	select {
	case <-got:
	case <-time.After(300 * time.Millisecond):
	}
	close(be.putRelease)
	if err := <-put; err != nil {
		t.Fatal(err)
	}
	// The GET saw no object (the remote did not have it yet) or this one.
	if err := <-got; err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a validated GET during a first write-through: %v", err)
	}
	if data, err := read(t, local, b, "n"); data != "new!" || err != nil {
		t.Fatalf("the cached copy of a first write-through after a validated GET: %q %v", data, err)
	}
}

// A reader that gives up on a cold GET it started (an aborted prefetch)
// returns at once; the fetch goes on for the readers that join it.
func TestColdGetStarterGivesUpAtOnce(t *testing.T) {
	local, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{t.TempDir()}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	be := stallingBackend{&fakeBackend{objects: map[string][]byte{"o": make([]byte, 1<<20)}}}
	b := store.Bucket{Provider: store.ProviderAWS, Name: "remote-bucket"}
	if err := local.CreateBucket(t.Context(), b, store.DefaultRemoteProps(b)); err != nil {
		t.Fatal(err)
	}
	rs := remote.New(local, func(context.Context, store.Bucket, store.Props) (remote.Backend, error) { return be, nil })
	rs.SetFetchIdleTimeout(300 * time.Millisecond)
	ctx, cancel := context.WithCancel(t.Context())
	result := make(chan error, 1)
	go func() {
		_, _, err := rs.Fetch(ctx, b, "o")
		result <- err
	}()
	for be.gets.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-result; !errors.Is(err, context.Canceled) {
		t.Fatalf("a cold GET its starter gave up: %v, want canceled at once (not the stall after the idle timeout)", err)
	}
	// A reader that joins it waits for its end: the stall.
	if _, _, err := rs.Fetch(t.Context(), b, "o"); err == nil || !strings.Contains(err.Error(), "nothing from the remote") {
		t.Fatalf("a reader that joined the stalled cold GET: %v", err)
	}
	if n := be.gets.Load(); n != 1 {
		t.Fatalf("%d remote GETs, want the one the readers shared", n)
	}
}

// A reader that comes while a big cold object streams to a slow reader
// does not wait at that reader's pace: it fetches a copy of its own.
func TestColdGetDoesNotWaitForASlowStreamReader(t *testing.T) {
	defer remote.SetStreamJoinWait(50 * time.Millisecond)()
	rs, _, b, data, slow := slowStream(t)
	// It reads nothing yet: a client that does not take the bytes.
	expectRead(t, readInBackground(t, rs, b, "big"), data, "a reader waited a minute for a cold GET streaming to a reader that reads nothing")
	if n, err := io.Copy(io.Discard, slow); err != nil || n != int64(len(data)) {
		t.Fatalf("the slow reader: %d bytes, %v", n, err)
	}
	slow.Close()
}

// Many readers that will not wait for a slow streaming reader share one
// fetch of their own: two remote GETs in all, not one a reader.
func TestReadersPastASlowStreamShareOneFetch(t *testing.T) {
	defer remote.SetStreamJoinWait(50 * time.Millisecond)()
	rs, be, b, data, slow := slowStream(t)
	var readers []<-chan string
	for range 8 {
		readers = append(readers, readInBackground(t, rs, b, "big"))
	}
	for _, r := range readers {
		expectRead(t, r, data, "a reader waited for a cold GET streaming to a reader that reads nothing")
	}
	if n := be.gets.Load(); n != 2 {
		t.Fatalf("%d remote GETs for 8 readers past a slow stream, want 2 (the stream's and one they share)", n)
	}
	io.Copy(io.Discard, slow)
	slow.Close()
}

// A reader that joined a slow stream's fetch while the second fetch ran,
// and gives up waiting after that one is done, reads what it cached: no
// third fetch of the same version.
func TestReaderPastASecondFetchDoneFetchesNoMore(t *testing.T) {
	defer remote.SetStreamJoinWait(300 * time.Millisecond)()
	rs, be, b, data, slow := slowStream(t)
	defer slow.Close()
	be.slow = 50 * time.Millisecond
	first := readInBackground(t, rs, b, "big") // its wait ends at 300 ms: the second fetch
	time.Sleep(250 * time.Millisecond)
	late := readInBackground(t, rs, b, "big") // joins the stream's; its wait ends at 550 ms
	expectRead(t, first, data, "the first reader past the slow stream")
	expectRead(t, late, data, "the late reader past the slow stream")
	if n := be.gets.Load(); n != 2 {
		t.Fatalf("%d remote GETs, want 2 (the stream's and the second)", n)
	}
}

// A second fetch done is not what a later reader past the same slow
// stream gets: one that asks for the latest version after the remote
// changed fetches that version, not the copy the second fetch cached.
func TestLatestReadPastASlowStreamGetsTheNewVersion(t *testing.T) {
	defer remote.SetStreamJoinWait(50 * time.Millisecond)()
	rs, be, b, data, slow := slowStream(t)
	defer slow.Close()
	expectRead(t, readInBackground(t, rs, b, "big"), data, "a reader waited for a cold GET streaming to a reader that reads nothing")
	newer := bytes.Repeat([]byte("n"), len(data))
	be.mu.Lock()
	be.objects["big"] = newer
	be.mu.Unlock()
	obj, err := rs.Open(t.Context(), b, "big", store.OpenOptions{Latest: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || !bytes.Equal(got, newer) {
		t.Fatalf("a latest read after the remote changed: %d bytes, the newer: %v, %v", len(got), bytes.Equal(got, newer), err)
	}
}

// Latest readers that find the cached copy changed, past a slow stream,
// share the one newer fetch while it runs: three remote GETs in all, not
// one more for each of them.
func TestLatestReadersShareTheNewerFetch(t *testing.T) {
	defer remote.SetStreamJoinWait(50 * time.Millisecond)()
	rs, be, b, data, slow := slowStream(t)
	defer slow.Close()
	expectRead(t, readInBackground(t, rs, b, "big"), data, "a reader past the slow stream")
	newer := bytes.Repeat([]byte("n"), len(data))
	be.mu.Lock()
	be.objects["big"] = newer
	be.mu.Unlock()
	be.slow = 400 * time.Millisecond
	latest := func() <-chan string { return readLatestInBackground(t, rs, b, "big") }
	first := latest()
	time.Sleep(150 * time.Millisecond) // the first one's fetch under way
	second := latest()
	expectRead(t, first, newer, "the first latest reader")
	expectRead(t, second, newer, "the second latest reader")
	if n := be.gets.Load(); n != 3 {
		t.Fatalf("%d remote GETs, want 3 (the stream's, the first second fetch, the newer one)", n)
	}
}

// A latest reader that joins a fetch begun before the remote changed to
// the version it saw gets that version still: one more fetch, begun after.
func TestLatestReaderPastAnOlderRunningFetchGetsItsVersion(t *testing.T) {
	defer remote.SetStreamJoinWait(50 * time.Millisecond)()
	rs, be, b, data, slow := slowStream(t)
	defer slow.Close()
	expectRead(t, readInBackground(t, rs, b, "big"), data, "a reader past the slow stream")
	set := func(v []byte) {
		be.mu.Lock()
		be.objects["big"] = v
		be.mu.Unlock()
	}
	latest := func() <-chan string { return readLatestInBackground(t, rs, b, "big") }
	v1, v2 := bytes.Repeat([]byte("1"), len(data)), bytes.Repeat([]byte("2"), len(data))
	set(v1)
	be.slow = 400 * time.Millisecond
	first := latest() // its fetch (of v1) runs 400 ms
	time.Sleep(200 * time.Millisecond)
	set(v2)
	second := latest() // sees v2, joins the fetch of v1 under way
	expectRead(t, first, v1, "the first latest reader")
	expectRead(t, second, v2, "the latest reader that saw v2")
}

// A latest reader that finds no copy and joins a fetch begun before the
// remote changed asks the remote once it ended: the version it got is
// not the one there now, and it fetches again.
func TestLatestReaderWithoutACopyPastAnOlderFetchGetsItsVersion(t *testing.T) {
	rs, be, _, b := newRemote(t, false)
	v1, v2 := bytes.Repeat([]byte("1"), 64<<10), bytes.Repeat([]byte("2"), 64<<10)
	set := func(v []byte) {
		be.mu.Lock()
		be.objects["o"] = v
		be.mu.Unlock()
	}
	set(v1)
	be.slow = 400 * time.Millisecond
	first := readLatestInBackground(t, rs, b, "o") // its fetch (of v1) runs 400 ms
	time.Sleep(200 * time.Millisecond)
	set(v2)
	second := readLatestInBackground(t, rs, b, "o") // no copy yet: joins the fetch of v1
	expectRead(t, first, v1, "the first latest reader")
	expectRead(t, second, v2, "the latest reader that came after the change")
}

// A reader that joins a cold GET whose remote is slow to answer (the
// stream not begun when it looks) looks again, and fetches for itself
// once the stream goes to a reader that takes nothing: it does not wait
// for that reader's end.
func TestColdGetJoinerLooksAgainAtASlowStart(t *testing.T) {
	defer remote.SetStreamJoinWait(50 * time.Millisecond)()
	rs, be, _, b := newRemote(t, false)
	data := bytes.Repeat([]byte("s"), 9<<20)
	be.objects["big"] = data
	be.slow = 300 * time.Millisecond
	opened := make(chan io.ReadCloser, 1)
	go func() {
		slow, err := rs.OpenStreaming(t.Context(), b, "big")
		if err != nil {
			t.Error(err)
		}
		opened <- slow
	}()
	time.Sleep(20 * time.Millisecond) // the stream's fetch has begun
	got := readInBackground(t, rs, b, "big")
	slow := <-opened
	defer func() {
		io.Copy(io.Discard, slow)
		slow.Close()
	}()
	expectRead(t, got, data, "a reader that joined before the stream began waited for its reader")
}

// readInBackground reads an object on a goroutine; the channel gets its
// bytes, or the error's text.
func readInBackground(t *testing.T, rs *remote.Store, b store.Bucket, name string) <-chan string {
	got := make(chan string, 1)
	go func() {
		data, err := read(t, rs, b, name)
		if err != nil {
			data = err.Error()
		}
		got <- data
	}()
	return got
}

// readLatestInBackground is readInBackground with the remote's latest
// version asked for.
func readLatestInBackground(t *testing.T, rs *remote.Store, b store.Bucket, name string) <-chan string {
	got := make(chan string, 1)
	go func() {
		obj, err := rs.Open(t.Context(), b, name, store.OpenOptions{Latest: true})
		if err != nil {
			got <- err.Error()
			return
		}
		data, _ := io.ReadAll(obj)
		obj.Close()
		got <- string(data)
	}()
	return got
}

// expectRead waits up to 10s for a background read to give want.
func expectRead(t *testing.T, got <-chan string, want []byte, waited string) {
	t.Helper()
	select {
	case other := <-got:
		if other != string(want) {
			t.Fatalf("the other reader read %d bytes", len(other))
		}
	case <-time.After(time.Minute): // a reader that waits for the slow one waits for ever
		t.Fatal(waited)
	}
}

// S3 names every version of an unversioned bucket "null": a copy cached
// as "null" is checked by its ETag and size, not taken as current for
// any "null".
func TestNullVersionIsNoVersion(t *testing.T) {
	cached := store.ObjectMeta{Size: 4, Custom: map[string]string{remote.CustomVersion: "null", remote.CustomETag: "aaaa"}}
	if remote.SameVersion(cached, remote.ObjectAttrs{Version: "null", ETag: "bbbb", Size: 5}) {
		t.Fatal("an overwritten object of an unversioned bucket is taken for the cached one")
	}
	if !remote.SameVersion(cached, remote.ObjectAttrs{Version: "null", ETag: "aaaa", Size: 4}) {
		t.Fatal("the same object is taken for another")
	}
	versioned := store.ObjectMeta{Size: 4, Custom: map[string]string{remote.CustomVersion: "v1", remote.CustomETag: "aaaa"}}
	if remote.SameVersion(versioned, remote.ObjectAttrs{Version: "v2", ETag: "aaaa", Size: 4}) {
		t.Fatal("another version is taken for the cached one")
	}
}

// An HTTP origin without ETags (Python's http.server, many plain servers)
// is checked by its Last-Modified, and a size it does not tell (a HEAD
// without Content-Length) does not count: a warm GET of an unchanged file
// is not fetched again, one of a changed file is.
func TestOriginWithoutETagsIsCheckedByItsTime(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cached := store.ObjectMeta{Size: 4, Custom: map[string]string{remote.CustomModified: strconv.FormatInt(at.UnixNano(), 10)}}
	if !remote.SameVersion(cached, remote.ObjectAttrs{Modified: at, Size: -1}) {
		t.Fatal("an unchanged file of an origin without ETags is taken for another")
	}
	if remote.SameVersion(cached, remote.ObjectAttrs{Modified: at.Add(time.Second), Size: 4}) {
		t.Fatal("a file modified since is taken for the cached one")
	}
	if remote.SameVersion(cached, remote.ObjectAttrs{Modified: at, Size: 5}) {
		t.Fatal("a file of another size is taken for the cached one")
	}
	if remote.SameVersion(store.ObjectMeta{Size: 4}, remote.ObjectAttrs{Size: 4}) {
		t.Fatal("an origin that tells neither ETag nor time is taken as unchanged")
	}
}

// A disk that fills up while a cold GET streams ends the copy kept, not
// the reader's read: it has the headers and part of the object already,
// and gets the rest from the remote, uncached. With validate_cold_get,
// though, the copy is what checks the bytes: unchecked, the read fails at
// its end, as a GET that starts past the watermark does.
func TestStreamedColdGetPastTheWatermark(t *testing.T) {
	// Past the size the space is checked at, and of that size: the copy
	// then has every byte, and its check of the space at its last read
	// (of the end) stops it before it compares the checksum.
	for _, c := range []struct {
		validate bool
		size     int
	}{{false, store.SpaceCheckBytes + 4<<20}, {true, store.SpaceCheckBytes + 4<<20}, {false, store.SpaceCheckBytes}, {true, store.SpaceCheckBytes}} {
		validate := c.validate
		rs, be, local, b := newRemote(t, false)
		md, _ := local.Buckets(t.Context())
		props, _ := md.Props(b)
		props.Checksum.ValidateColdGet = validate
		if err := local.SetBucketProps(t.Context(), b, props); err != nil {
			t.Fatal(err)
		}
		data := bytes.Repeat([]byte("0123456789abcdef"), c.size/16)
		be.objects["big"] = data
		var checks atomic.Int32
		full := fmt.Errorf("%w: mountpath at 96%%", store.ErrNoSpace)
		rs.SetSpaceCheck(func(context.Context) error {
			if checks.Add(1) > 1 {
				return full // the disk filled up since the GET started
			}
			return nil
		})
		obj, err := rs.OpenStreaming(t.Context(), b, "big")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj)
		obj.Close()
		switch {
		case !validate && (err != nil || !bytes.Equal(got, data)):
			t.Fatalf("the streamed read: %d of %d bytes, %v", len(got), len(data), err)
		case validate && (err == nil || len(got) >= len(data) || !strings.Contains(err.Error(), "could not be checked")):
			t.Fatalf("the streamed read of %d bytes with validate_cold_get: %d read, %v; want it cut short, unchecked", len(data), len(got), err)
		}
		if checks.Load() < 2 {
			t.Fatal("the space was not checked again while the object streamed: the test proves nothing")
		}
		if _, err := local.Head(t.Context(), b, "big"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the copy past the watermark: %v, want none kept", err)
		}
	}
}

// A streamed cold GET its reader leaves early is finished into the cache
// from the remote, but no further than the cached copy's failure (the
// disk filled up): the rest would be fetched for nothing.
func TestAbandonedStreamStopsWhenTheCopyFails(t *testing.T) {
	rs, be, local, b := newRemote(t, false)
	data := bytes.Repeat([]byte("0123456789abcdef"), (store.SpaceCheckBytes+(32<<20))/16)
	be.objects["big"] = data
	var checks atomic.Int32
	rs.SetSpaceCheck(func(context.Context) error {
		if checks.Add(1) > 1 {
			return fmt.Errorf("%w: mountpath at 96%%", store.ErrNoSpace)
		}
		return nil
	})
	obj, err := rs.OpenStreaming(t.Context(), b, "big")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(obj, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	obj.Close()
	if checks.Load() < 2 {
		t.Fatal("the space was not checked again: the test proves nothing")
	}
	if n := be.served.Load(); n >= int64(len(data)) {
		t.Fatalf("read %d of %d bytes from the remote after the cached copy failed", n, len(data))
	}
	if _, err := local.Head(t.Context(), b, "big"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the copy past the watermark: %v, want none kept", err)
	}
}

// A streamed cold GET that waits for a write through of the same name
// (which holds the name while it sends to the remote) is not given up
// as stalled while it waits: the idle watch starts with the fetch.
func TestStreamedColdGetWaitsForAWriteThrough(t *testing.T) {
	rs, be, _, b := newRemote(t, false)
	rs.SetFetchIdleTimeout(100 * time.Millisecond)
	old := bytes.Repeat([]byte("o"), 9<<20) // streamed, not stored first
	be.objects["x"] = old
	be.putEntered, be.putRelease = make(chan struct{}, 1), make(chan struct{})
	put := make(chan error, 1)
	go func() {
		_, err := rs.Put(t.Context(), b, "x", bytes.NewReader(old), store.PutOptions{Size: int64(len(old))})
		put <- err
	}()
	<-be.putEntered // the PUT holds the name, sending to the remote
	got := make(chan error, 1)
	go func() {
		obj, err := rs.OpenStreaming(t.Context(), b, "x")
		if err == nil {
			_, err = io.Copy(io.Discard, obj)
			obj.Close()
		}
		got <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); rs.NameUsers(b, "x") < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the cold GET never waited for the write-through's lock")
		}
	}
	time.Sleep(400 * time.Millisecond) // waiting past the idle timeout
	close(be.putRelease)
	if err := <-put; err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("a cold GET that waited for a write through: %v", err)
	}
}

// A write through whose client is slow to upload holds the name only
// once its body is here: a cold GET and a delete of the name meanwhile
// do not wait for the client.
func TestSlowUploadHoldsUpNoReaderOfTheName(t *testing.T) {
	rs, be, _, b := newRemote(t, false)
	old := bytes.Repeat([]byte("o"), 9<<20)
	be.objects["x"], be.objects["y"] = old, []byte("y")
	release := make(chan struct{})
	body := &heldReader{Reader: bytes.NewReader(old), hold: release, started: make(chan struct{})}
	put := make(chan error, 1)
	go func() {
		_, err := rs.Put(t.Context(), b, "x", body, store.PutOptions{Size: int64(len(old))})
		put <- err
	}()
	<-body.started // the upload has begun, and stalls
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	obj, err := rs.OpenStreaming(ctx, b, "x")
	if err == nil {
		_, err = io.Copy(io.Discard, obj)
		obj.Close()
	}
	if err != nil {
		t.Fatalf("a cold GET during a stalled upload of the name: %v", err)
	}
	close(release)
	if err := <-put; err != nil {
		t.Fatal(err)
	}
}

// heldReader holds its first read until hold closes, and tells
// started when it is there.
type heldReader struct {
	io.Reader
	hold    chan struct{}
	started chan struct{}
	once    sync.Once
}

func (r *heldReader) Read(p []byte) (int, error) {
	r.once.Do(func() {
		close(r.started)
		<-r.hold
	})
	return r.Reader.Read(p)
}

// With checksum.validate_cold_get (the default), bytes changed on their
// way from S3 (their MD5 not the ETag's) are not cached: the GET fails as
// the remote's failure, and a later one fetches again. Without it, they
// are taken as they come.
func TestValidateColdGet(t *testing.T) {
	for _, validate := range []bool{true, false} {
		rs, be, local, b := newRemote(t, false)
		if !validate {
			md, _ := local.Buckets(t.Context())
			props, _ := md.Props(b)
			props.Checksum.ValidateColdGet = false
			if err := local.SetBucketProps(t.Context(), b, props); err != nil {
				t.Fatal(err)
			}
		}
		be.objects["o"] = []byte("the object's bytes")
		be.corrupt.Store(true)
		_, err := read(t, rs, b, "o")
		if validate && (!errors.Is(err, store.ErrRemote) || !strings.Contains(err.Error(), "md5")) {
			t.Fatalf("validate_cold_get: a cold GET of changed bytes: %v, want the remote's failure naming the MD5", err)
		}
		if !validate && err != nil {
			t.Fatalf("without validate_cold_get: %v", err)
		}
		if _, err := read(t, local, b, "o"); validate != errors.Is(err, store.ErrNotFound) {
			t.Fatalf("validate_cold_get=%v: the cache after a cold GET of changed bytes: %v", validate, err)
		}
		be.corrupt.Store(false)
		if validate {
			if data, err := read(t, rs, b, "o"); data != "the object's bytes" || err != nil {
				t.Fatalf("the next cold GET: %q %v", data, err)
			}
		}
	}
}

// An object S3 gives with a whole-object checksum (a CRC the SDK sent,
// the CRC64NVME S3 computes) is checked against it, not against the MD5
// of its ETag (a fiftieth of the CPU for a CRC32): changed bytes are not
// cached, and whole ones keep the ETag as their S3 ETag.
func TestValidateColdGetByRemoteChecksum(t *testing.T) {
	for _, typ := range []string{store.ChecksumCRC32C, store.ChecksumCRC32, store.ChecksumCRC64NVME, store.ChecksumSHA256} {
		rs, be, local, b := newRemote(t, false)
		be.checksum = typ
		be.objects["o"] = []byte("the object's bytes")
		be.corrupt.Store(true)
		if _, err := read(t, rs, b, "o"); !errors.Is(err, store.ErrRemote) || !strings.Contains(err.Error(), typ) {
			t.Fatalf("%s: a cold GET of changed bytes: %v, want the remote's failure naming the %s", typ, err, typ)
		}
		if _, err := read(t, local, b, "o"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: the cache after a cold GET of changed bytes: %v", typ, err)
		}
		be.corrupt.Store(false)
		if data, err := read(t, rs, b, "o"); data != "the object's bytes" || err != nil {
			t.Fatalf("%s: the next cold GET: %q %v", typ, data, err)
		}
		meta, err := local.Head(t.Context(), b, "o")
		if want := etagOf(be.objects["o"]); err != nil || meta.Custom[store.CustomETag] != want {
			t.Fatalf("%s: the cached copy's S3 ETag: %q %v, want the remote's %q", typ, meta.Custom[store.CustomETag], err, want)
		}
	}
	// The CRC is what is checked: an ETag that is not the bytes' MD5 (as
	// no S3 gives one) does not fail a cold GET whose CRC holds.
	rs, be, _, b := newRemote(t, false)
	be.checksum, be.wrongETag = store.ChecksumCRC32, true
	be.objects["o"] = []byte("checked by its CRC")
	if data, err := read(t, rs, b, "o"); data != "checked by its CRC" || err != nil {
		t.Fatalf("a cold GET checked by its CRC32: %q %v", data, err)
	}
}

// An object encrypted with KMS keys has an ETag that is not its MD5:
// not checked against it (every cold GET of it would fail).
func TestValidateColdGetSkipsEncryptedObjects(t *testing.T) {
	rs, be, _, b := newRemote(t, false)
	be.encrypted = true
	be.objects["o"] = []byte("sealed")
	be.corrupt.Store(true) // what an MD5 check would refuse
	if _, err := read(t, rs, b, "o"); err != nil {
		t.Fatalf("a cold GET of an encrypted object: %v", err)
	}
}

// A shared second fetch that failed is not the answer of the readers
// that come after it: the next one fetches again.
func TestFailedSecondFetchIsNotKept(t *testing.T) {
	defer remote.SetStreamJoinWait(50 * time.Millisecond)()
	rs, be, b, data, slow := slowStream(t)
	defer slow.Close()
	be.down.Store(true)
	if _, err := read(t, rs, b, "big"); !errors.Is(err, store.ErrRemote) {
		t.Fatalf("a reader past the slow stream, the remote down: %v", err)
	}
	be.down.Store(false)
	if got, err := read(t, rs, b, "big"); err != nil || len(got) != len(data) {
		t.Fatalf("the next reader, the remote back: %d bytes, %v; want a fetch of its own", len(got), err)
	}
}

// slowStream starts a cold GET of a big object ("big") streaming to a
// reader that reads nothing yet (the caller's slow).
func slowStream(t *testing.T) (rs *remote.Store, be *fakeBackend, b store.Bucket, data []byte, slow store.Object) {
	t.Helper()
	rs, be, _, b = newRemote(t, false)
	data = bytes.Repeat([]byte("s"), 9<<20) // streamed to its reader
	be.objects["big"] = data
	slow, err := rs.OpenStreaming(t.Context(), b, "big")
	if err != nil {
		t.Fatal(err)
	}
	return rs, be, b, data, slow
}

// A streamed cold GET (past StoreFirstSize) of bytes changed on their way
// from S3 does not read as whole: the reader gets an error naming the
// checksum (the ETag's MD5, or the CRC S3 gave) before the last byte, and
// nothing is cached. Whole bytes read whole, at every read size.
func TestStreamedColdGetFailsOnABadChecksum(t *testing.T) {
	for _, typ := range []string{store.ChecksumMD5, store.ChecksumCRC32C} {
		t.Run(typ, func(t *testing.T) { testStreamedColdGetFailsOnABadChecksum(t, typ) })
	}
}

func testStreamedColdGetFailsOnABadChecksum(t *testing.T, typ string) {
	rs, be, local, b := newRemote(t, false)
	if typ != store.ChecksumMD5 {
		be.checksum = typ
	}
	data := bytes.Repeat([]byte("0123456789"), remote.StoreFirstSize/10+1000)
	be.objects["big"] = data
	be.corrupt.Store(true)
	obj, err := rs.OpenStreaming(t.Context(), b, "big")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	obj.Close()
	if err == nil || !strings.Contains(err.Error(), "sent "+typ+":") || len(got) >= len(data) {
		t.Fatalf("a streamed read of changed bytes: %d of %d bytes, %v; want an error naming the %s before the end", len(got), len(data), err, typ)
	}
	if _, err := local.Head(t.Context(), b, "big"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the changed bytes were cached: %v", err)
	}
	be.corrupt.Store(false)
	for i, size := range []int{1, 7, 32 << 10} {
		name := fmt.Sprintf("whole-%d", i)
		be.objects[name] = data
		obj, err := rs.OpenStreaming(t.Context(), b, name)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		small, big := make([]byte, size), make([]byte, 1<<20)
		for {
			// Small reads at the start and over the end (the held last
			// byte); between, one small read at a time over 8 MiB is slow.
			buf := small
			if out.Len() > 1<<16 && out.Len() < len(data)-1<<16 {
				buf = big[:min(len(big), len(data)-1<<16-out.Len())]
			}
			n, err := obj.Read(buf)
			out.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("read %d at a time: %v", size, err)
			}
		}
		obj.Close()
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("read %d at a time: %d of %d bytes, not the object", size, out.Len(), len(data))
		}
	}
}

// A write-through's copy is read here only once the remote has taken the
// object: while the remote PUT is under way the copy before is read. One
// the remote refuses (a 403) leaves that copy; one that may have reached
// the remote (a failed connection, a 5xx), or that the remote took and
// the copy here then failed, leaves none (the remote's may be newer).
func TestWriteThroughCopyVisibleOnceTheRemoteHasIt(t *testing.T) {
	rs, be, local, b := newRemote(t, false)
	if _, err := rs.Put(t.Context(), b, "n", strings.NewReader("old"), store.PutOptions{Size: 3}); err != nil {
		t.Fatal(err)
	}
	be.putEntered, be.putRelease = make(chan struct{}), make(chan struct{})
	put := make(chan error)
	var meta store.ObjectMeta
	go func() {
		var err error
		meta, err = rs.Put(t.Context(), b, "n", strings.NewReader("new!"), store.PutOptions{Size: 4})
		put <- err
	}()
	<-be.putEntered // on its way to the remote
	if data, err := read(t, local, b, "n"); data != "old" || err != nil {
		t.Fatalf("the copy here while the remote takes the new one: %q %v, want the old", data, err)
	}
	close(be.putRelease)
	if err := <-put; err != nil {
		t.Fatal(err)
	}
	if data, err := read(t, local, b, "n"); data != "new!" || err != nil || meta.Version != "2" {
		t.Fatalf("the copy here after the write-through: %q %v, version %q (want 2)", data, err, meta.Version)
	}
	be.putEntered = nil

	// The remote refuses: nothing changes, here or there.
	be.forbid.Store(true)
	if _, err := rs.Put(t.Context(), b, "n", strings.NewReader("refused"), store.PutOptions{Size: 7}); !errors.Is(err, store.ErrRemoteForbidden) {
		t.Fatalf("a write-through the remote refuses: %v", err)
	}
	be.forbid.Store(false)
	if data, err := read(t, local, b, "n"); data != "new!" || err != nil {
		t.Fatalf("the copy here after a refused write-through: %q %v", data, err)
	}

	// A send that may have reached the remote: no copy here says what
	// the remote holds; a GET reads it.
	be.down.Store(true)
	if _, err := rs.Put(t.Context(), b, "n", strings.NewReader("unknown"), store.PutOptions{Size: 7}); !errors.Is(err, remote.ErrUnavailable) {
		t.Fatalf("a write-through the remote failed: %v", err)
	}
	be.down.Store(false)
	if _, err := read(t, local, b, "n"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the copy here after a write-through that may have reached the remote: %v, want none", err)
	}
	if data, err := read(t, rs, b, "n"); data != "new!" || err != nil {
		t.Fatalf("a GET after: %q %v, want the remote's", data, err)
	}

	// The remote takes it, the copy here fails (its Precommit): the copy
	// before goes, and the next GET reads the remote's.
	failed := errors.New("the map changed")
	_, err := rs.Put(t.Context(), b, "n", strings.NewReader("newest"), store.PutOptions{Size: 6,
		Precommit: func() (func(), store.Stamp, error) { return nil, store.Stamp{}, failed }})
	if !errors.Is(err, failed) {
		t.Fatalf("a write-through whose copy here failed: %v", err)
	}
	if _, err := read(t, local, b, "n"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the copy before a write-through the remote took: %v, want it gone", err)
	}
	if data, err := read(t, rs, b, "n"); data != "newest" || err != nil {
		t.Fatalf("a GET after: %q %v, want the remote's", data, err)
	}
}

// A write-through the copy here would refuse for sure (a parent of the
// name is an object) is refused before the remote gets it.
func TestWriteThroughRefusedHereIsNotSent(t *testing.T) {
	rs, be, _, b := newRemote(t, false)
	if _, err := rs.Put(t.Context(), b, "a", strings.NewReader("file"), store.PutOptions{Size: 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.Put(t.Context(), b, "a/b", strings.NewReader("under a file"), store.PutOptions{Size: 12}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a write-through under an object's name: %v, want a conflict", err)
	}
	be.mu.Lock()
	_, sent := be.objects["a/b"]
	be.mu.Unlock()
	if sent {
		t.Fatal("the remote got a write-through the copy here refused")
	}
}

// A failed send is taken as refused only when the remote refused it; one
// cut short or failed on the way may have stored the object.
func TestMayHaveReached(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{store.ErrRemoteForbidden, false},
		{fmt.Errorf("put: %w", store.ErrInvalidProps), false},
		{fmt.Errorf("put: %w", context.Canceled), true},
		{fmt.Errorf("put: %w", context.DeadlineExceeded), true},
		{errors.Join(store.ErrRemote, syscall.ECONNREFUSED), true}, // an earlier retry may have stored it
		{errors.Join(store.ErrRemote, errors.New("500 Internal Server Error")), true},
	} {
		if got := remote.MayHaveReached(c.err); got != c.want {
			t.Errorf("MayHaveReached(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// A cold GET's copy is committed under the node's placement check: one
// the check refuses (the object moved to another target while it was
// fetched) is not left here, read whole or streamed; the check's hold is
// released.
func TestColdGetCommitsUnderThePlacementCheck(t *testing.T) {
	rs, be, local, b := newRemote(t, false)
	be.objects["moved"], be.objects["mine"] = []byte("moved away"), []byte("still mine")
	var held, released atomic.Int32
	rs.SetCommitCheck(func(_ store.Bucket, name string) (func(), error) {
		held.Add(1)
		if strings.HasPrefix(name, "moved") {
			return nil, fmt.Errorf("%w: %s moved to t2", remote.ErrUnavailable, name)
		}
		return func() { released.Add(1) }, nil
	})
	if _, err := read(t, rs, b, "moved"); err == nil {
		t.Fatal("a cold GET of an object that moved meanwhile stored and served it as cached")
	}
	if _, err := local.Head(t.Context(), b, "moved"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a copy of an object that moved away was kept: %v", err)
	}
	// Streamed as it is stored (past the size stored first): the reader
	// has every byte, the copy is not kept.
	big := bytes.Repeat([]byte("m"), 9<<20)
	be.objects["moved-big"] = big
	obj, err := rs.OpenStreaming(t.Context(), b, "moved-big")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("the streamed read of an object that moved: %d bytes, %v", len(got), err)
	}
	if _, err := local.Head(t.Context(), b, "moved-big"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a streamed copy of an object that moved away was kept: %v", err)
	}
	if got, err := read(t, rs, b, "mine"); err != nil || got != "still mine" {
		t.Fatalf("a cold GET of an object still this node's: %q %v", got, err)
	}
	if held.Load() < 2 || released.Load() != 1 {
		t.Fatalf("the check was held %d times and released %d, want each commit checked and the kept one released", held.Load(), released.Load())
	}
}

// A node that keeps no bytes (a dry run) has none to write through: the
// PUT is refused and the remote's object left as it is, not replaced
// by the made-up bytes such a node serves.
func TestDryRunWritesNothingThrough(t *testing.T) {
	_, be, local, b := newRemote(t, false)
	be.objects["o"] = []byte("the user's data")
	dry := dryrun.Wrap(local)
	for _, told := range []bool{false, true} {
		rs := remote.New(dry, func(context.Context, store.Bucket, store.Props) (remote.Backend, error) { return be, nil })
		if told {
			rs.KeepNoBytes()
		}
		_, err := rs.Put(t.Context(), b, "o", strings.NewReader("new data"), store.PutOptions{Size: 8})
		if !errors.Is(err, store.ErrUnsupported) || !strings.Contains(err.Error(), "dry run") {
			t.Fatalf("a write-through PUT on a dry-run node (told %v): %v, want refused naming the dry run", told, err)
		}
		be.mu.Lock()
		got := string(be.objects["o"])
		be.mu.Unlock()
		if got != "the user's data" {
			t.Fatalf("the remote's object after a dry-run PUT (told %v): %q", told, got)
		}
	}
	// Told, it keeps what it had of the name, and deletes nothing there.
	rs := remote.New(dry, func(context.Context, store.Bucket, store.Props) (remote.Backend, error) { return be, nil })
	rs.KeepNoBytes()
	if err := rs.Delete(t.Context(), b, "o", store.DeleteOptions{Stamp: store.Stamp{Map: 1, Clock: 1}}); !errors.Is(err, store.ErrUnsupported) {
		t.Fatalf("a delete on a dry-run node: %v, want refused", err)
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	if got := string(be.objects["o"]); got != "the user's data" {
		t.Fatalf("the remote's object after a dry-run DELETE: %q", got)
	}
}

// A streamed cold GET whose reader stopped reading (and keeps its
// connection) ends its fetch for the others once the fetch is given up
// for it: the next reader fetches on its own, not waits for that reader.
func TestStalledStreamReaderDoesNotHoldTheName(t *testing.T) {
	defer remote.SetStreamJoinWait(time.Hour)() // (no second fetch: the flight must end)
	rs, be, _, b := newRemote(t, false)
	rs.SetFetchIdleTimeout(200 * time.Millisecond)
	data := bytes.Repeat([]byte("0123456789abcdef"), (remote.StoreFirstSize+(4<<20))/16)
	be.objects["big"] = data
	stalled, err := rs.OpenStreaming(t.Context(), b, "big")
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	if _, err := io.ReadFull(stalled, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // past the idle timeout: the fetch is given up
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := rs.ColdGet(ctx, b, "big"); err != nil {
		t.Fatalf("a cold GET after the streamed one's reader stalled: %v, want its own fetch", err)
	}
}

// A prefetch of a remote's key no object here may have ("a//b") is
// refused before its download, not downloaded to be refused by the store.
func TestFetchOfAnInvalidNameDownloadsNothing(t *testing.T) {
	rs, be, _, b := newRemote(t, false)
	be.objects["a//b"] = []byte("bytes")
	if _, _, err := rs.Fetch(t.Context(), b, "a//b"); !errors.Is(err, store.ErrInvalidName) {
		t.Fatalf("a prefetch of a//b: %v, want invalid name", err)
	}
	if n := be.gets.Load(); n != 0 {
		t.Fatalf("%d GETs of the remote for a name refused", n)
	}
}
