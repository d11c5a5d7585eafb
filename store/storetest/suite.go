package storetest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aisgo/aisgo/store"
)

// Options configure the suite for one implementation.
type Options struct {
	// New returns an empty store; it is called once per subtest.
	New func(t *testing.T) store.Store
	// Corrupt, when set, flips bytes of a stored object behind the store's
	// back, to check that reads with validation refuse it.
	Corrupt func(t *testing.T, st store.Store, b store.Bucket, name string)
	// DiscardsData says reads return the right size but not the bytes
	// written (store/dryrun): the suite then compares sizes, not bytes,
	// and does not check corruption detection. Zero compares bytes.
	DiscardsData bool
	// NoChecksums says Put neither computes nor verifies checksums
	// (store/dryrun): metadata carries none and a wrong checksum sent
	// with a Put is not refused. Zero checks both.
	NoChecksums bool
}

// same reports whether data read back matches what was written: the same
// bytes, or the same length when the store discards data.
func (o Options) same(got, want []byte) bool {
	if o.DiscardsData {
		return len(got) == len(want)
	}
	return bytes.Equal(got, want)
}

// Run runs every conformance test.
func Run(t *testing.T, opts Options) {
	tests := []struct {
		name string
		run  func(t *testing.T, st store.Store, opts Options)
	}{
		{"Buckets", testBuckets},
		{"BucketNames", testBucketNames},
		{"PutGetHeadDelete", testPutGetHeadDelete},
		{"Checksums", testChecksums},
		{"ETag", testETag},
		{"BadChecksumStoresNothing", testBadChecksum},
		{"SizeMismatchStoresNothing", testSizeMismatch},
		{"DirectPuts", testDirectPuts},
		{"Versioning", testVersioning},
		{"ObjectNames", testObjectNames},
		{"NameConflicts", testNameConflicts},
		{"ListOrderAndPages", testListOrderAndPages},
		{"ListPrefix", testListPrefix},
		{"ConcurrentPutsOfOneName", testConcurrentPuts},
		{"ConditionalPuts", testConditionalPuts},
		{"SyncBuckets", testSyncBuckets},
		{"MissingBucketAndObject", testMissing},
		{"Corruption", testCorruption},
		{"StampsAndTombstones", testStampsAndTombstones},
		{"Precommit", testPrecommit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, opts.New(t), opts)
		})
	}
}

var bucket = store.NewBucket("test-bucket")

func mustCreate(t *testing.T, st store.Store, b store.Bucket, props store.Props) {
	t.Helper()
	if err := st.CreateBucket(t.Context(), b, props); err != nil {
		t.Fatalf("create bucket %s: %v", b, err)
	}
}

// Put stores data and fails the test on error.
func Put(t testing.TB, st store.Store, b store.Bucket, name string, data []byte) store.ObjectMeta {
	t.Helper()
	meta, err := st.Put(t.Context(), b, name, bytes.NewReader(data), store.PutOptions{Size: int64(len(data))})
	if err != nil {
		t.Fatalf("put %s: %v", name, err)
	}
	return meta
}

// Get reads a whole object and fails the test on error.
func Get(t testing.TB, st store.Store, b store.Bucket, name string) []byte {
	t.Helper()
	obj, err := st.Open(t.Context(), b, name, store.OpenOptions{})
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return data
}

func testBuckets(t *testing.T, st store.Store, _ Options) {
	ctx := t.Context()
	md0, err := st.Buckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, st, bucket, store.Props{})
	if err := st.CreateBucket(ctx, bucket, store.Props{}); !errors.Is(err, store.ErrBucketExists) {
		t.Fatalf("second create: %v, want ErrBucketExists", err)
	}
	md, _ := st.Buckets(ctx)
	props, ok := md.Props(bucket)
	if !ok {
		t.Fatalf("bucket missing from metadata %+v", md)
	}
	if md.Version <= md0.Version {
		t.Fatalf("version %d did not grow from %d", md.Version, md0.Version)
	}
	if props.Checksum.Type != store.ChecksumXXHash || !props.Versioning.Enabled {
		t.Fatalf("default props %+v: want xxhash and versioning", props)
	}
	props.Checksum.Type = store.ChecksumSHA256
	if err := st.SetBucketProps(ctx, bucket, props); err != nil {
		t.Fatal(err)
	}
	md2, _ := st.Buckets(ctx)
	if props2, _ := md2.Props(bucket); props2.Checksum.Type != store.ChecksumSHA256 || md2.Version <= md.Version {
		t.Fatalf("props not updated: %+v", md2)
	}
	bad := props
	bad.Checksum.Type = "crc64"
	if err := st.SetBucketProps(ctx, bucket, bad); !errors.Is(err, store.ErrInvalidProps) {
		t.Fatalf("bad checksum type: %v, want ErrInvalidProps", err)
	}
	Put(t, st, bucket, "x", []byte("x"))
	if err := st.DestroyBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Head(ctx, bucket, "x"); !errors.Is(err, store.ErrBucketNotFound) {
		t.Fatalf("head after destroy: %v", err)
	}
	if err := st.DestroyBucket(ctx, bucket); !errors.Is(err, store.ErrBucketNotFound) {
		t.Fatalf("second destroy: %v", err)
	}
	// A re-created bucket starts empty.
	mustCreate(t, st, bucket, store.Props{})
	if list, _ := st.List(ctx, bucket, store.ListOptions{}); len(list) != 0 {
		t.Fatalf("re-created bucket lists %d objects", len(list))
	}
}

func testBucketNames(t *testing.T, st store.Store, _ Options) {
	for _, name := range []string{"", ".", "..", "a/b", "a b", "ä", strings.Repeat("x", 65), "x\x00"} {
		err := st.CreateBucket(t.Context(), store.NewBucket(name), store.Props{})
		if !errors.Is(err, store.ErrInvalidName) {
			t.Errorf("bucket %q: %v, want ErrInvalidName", name, err)
		}
	}
	for _, name := range []string{"a", "A-b_c.d", strings.Repeat("x", 64)} {
		mustCreate(t, st, store.NewBucket(name), store.Props{})
	}
}

func testPutGetHeadDelete(t *testing.T, st store.Store, opts Options) {
	ctx := t.Context()
	mustCreate(t, st, bucket, store.Props{})
	for _, size := range []int{0, 1, 4095, 300 << 10} {
		name := fmt.Sprintf("dir/obj-%d.bin", size)
		data := randomBytes(size, uint64(size))
		meta := Put(t, st, bucket, name, data)
		if meta.Size != int64(size) || meta.Checksum.IsEmpty() && !opts.NoChecksums {
			t.Fatalf("put meta %+v", meta)
		}
		if got := Get(t, st, bucket, name); !opts.same(got, data) {
			t.Fatalf("%s: read back %d bytes that differ", name, len(got))
		}
		head, err := st.Head(ctx, bucket, name)
		if err != nil {
			t.Fatal(err)
		}
		if head.Size != meta.Size || head.Checksum != meta.Checksum || head.Version != meta.Version || head.Atime.IsZero() {
			t.Fatalf("head %+v, put %+v", head, meta)
		}
		obj, err := st.Open(ctx, bucket, name, store.OpenOptions{Validate: true})
		if err != nil {
			t.Fatalf("open with validation: %v", err)
		}
		if size > 10 {
			part := make([]byte, 5)
			if _, err := obj.ReadAt(part, 3); err != nil || !opts.same(part, data[3:8]) {
				t.Fatalf("ReadAt: %v", err)
			}
		}
		obj.Close()
	}
	Put(t, st, bucket, "custom", []byte("c"))
	custom := map[string]string{"source": "unit"}
	meta, err := st.Put(ctx, bucket, "custom", strings.NewReader("cc"), store.PutOptions{Size: -1, Custom: custom})
	if err != nil || meta.Size != 2 {
		t.Fatalf("put with unknown size: %+v %v", meta, err)
	}
	// The store keeps its own copy: the caller's map and the one Head
	// returns may change without changing the object.
	custom["source"] = "changed by the caller"
	head, _ := st.Head(ctx, bucket, "custom")
	if head.Custom["source"] != "unit" {
		t.Fatalf("custom metadata lost: %+v", head)
	}
	head.Custom["source"] = "changed by a reader"
	if head, _ := st.Head(ctx, bucket, "custom"); head.Custom["source"] != "unit" {
		t.Fatalf("custom metadata changed through a map the store handed out: %+v", head)
	}
	if err := st.Delete(ctx, bucket, "dir/obj-0.bin", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Head(ctx, bucket, "dir/obj-0.bin"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("head after delete: %v", err)
	}
	if err := st.Delete(ctx, bucket, "dir/obj-0.bin", store.DeleteOptions{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func testChecksums(t *testing.T, st store.Store, opts Options) {
	data := []byte("the quick brown fox")
	sum := md5.Sum(data)
	want := map[string]string{
		store.ChecksumXXHash: "",
		store.ChecksumMD5:    hex.EncodeToString(sum[:]),
		store.ChecksumSHA256: "",
		store.ChecksumCRC32C: "",
	}
	for typ, value := range want {
		b := store.NewBucket("ck-" + typ)
		props := store.DefaultProps()
		props.Checksum.Type = typ
		mustCreate(t, st, b, props)
		meta := Put(t, st, b, "o", data)
		switch {
		case opts.NoChecksums:
			// Nothing computed, nothing to compare.
		case meta.Checksum.Type != typ || meta.Checksum.Value == "":
			t.Fatalf("%s: checksum %+v", typ, meta.Checksum)
		case value != "" && meta.Checksum.Value != value:
			t.Fatalf("%s: checksum %s, want %s", typ, meta.Checksum.Value, value)
		}
		// The sender's checksum of the right value is accepted, of any type.
		_, err := st.Put(t.Context(), b, "o2", bytes.NewReader(data), store.PutOptions{Size: -1,
			Checksum: store.Checksum{Type: store.ChecksumMD5, Value: hex.EncodeToString(sum[:])}})
		if err != nil {
			t.Fatalf("%s: put with a correct md5: %v", typ, err)
		}
	}
}

// A Put asked for an ETag keeps the MD5 of the bytes beside the custom
// metadata the caller gave, whatever the bucket's checksum; Head and Open
// return it.
func testETag(t *testing.T, st store.Store, opts Options) {
	mustCreate(t, st, bucket, store.DefaultProps())
	data := randomBytes(300<<10, 3)
	sum := md5.Sum(data)
	custom := map[string]string{"k": "v"}
	meta, err := st.Put(t.Context(), bucket, "tagged", bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), Custom: custom, ETag: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"k": "v", store.CustomETag: hex.EncodeToString(sum[:])}
	if !maps.Equal(meta.Custom, want) || len(custom) != 1 {
		t.Fatalf("put: custom %v (the caller's map now %v), want %v", meta.Custom, custom, want)
	}
	head, err := st.Head(t.Context(), bucket, "tagged")
	if err != nil || !maps.Equal(head.Custom, want) {
		t.Fatalf("head: %v %v, want %v", head.Custom, err, want)
	}
	plain := Put(t, st, bucket, "plain", data)
	if _, ok := plain.Custom[store.CustomETag]; ok {
		t.Fatal("a Put not asked for an ETag computed one")
	}
	// The sender's MD5 (S3's Content-MD5) is checked against the ETag's.
	withMD5 := func(sum string) error {
		_, err := st.Put(t.Context(), bucket, "sent", bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), ETag: true,
			Checksum: store.Checksum{Type: store.ChecksumMD5, Value: sum}})
		return err
	}
	if err := withMD5(hex.EncodeToString(sum[:])); err != nil {
		t.Fatalf("put with its MD5: %v", err)
	}
	if err := withMD5("00000000000000000000000000000000"); !opts.NoChecksums && !errors.Is(err, store.ErrBadChecksum) {
		t.Fatalf("put with a wrong MD5: %v, want ErrBadChecksum", err)
	}
}

func testBadChecksum(t *testing.T, st store.Store, opts Options) {
	mustCreate(t, st, bucket, store.Props{})
	old := Put(t, st, bucket, "o", []byte("old"))
	_, err := st.Put(t.Context(), bucket, "o", strings.NewReader("new"), store.PutOptions{Size: 3,
		Checksum: store.Checksum{Type: store.ChecksumXXHash, Value: "0123456789abcdef"}})
	if opts.NoChecksums {
		// A store that does not verify may take the put, but must not
		// fail another way or lose the object.
		if err != nil && !errors.Is(err, store.ErrBadChecksum) {
			t.Fatalf("put with a wrong checksum: %v, want success or ErrBadChecksum", err)
		}
		if got := Get(t, st, bucket, "o"); len(got) != 3 {
			t.Fatalf("object is %d bytes after a put of 3 over 3", len(got))
		}
		return
	}
	if !errors.Is(err, store.ErrBadChecksum) {
		t.Fatalf("put with a wrong checksum: %v, want ErrBadChecksum", err)
	}
	if got := Get(t, st, bucket, "o"); !opts.same(got, []byte("old")) {
		t.Fatalf("object is %q after a refused put, want the old version", got)
	}
	if head, _ := st.Head(t.Context(), bucket, "o"); head.Version != old.Version || head.Stamp != old.Stamp {
		t.Fatalf("head %+v after a refused put, want the old version %+v", head, old)
	}
}

func testSizeMismatch(t *testing.T, st store.Store, _ Options) {
	mustCreate(t, st, bucket, store.Props{})
	_, err := st.Put(t.Context(), bucket, "o", strings.NewReader("short"), store.PutOptions{Size: 100})
	if !errors.Is(err, store.ErrSizeMismatch) {
		t.Fatalf("put of 5 bytes announced as 100: %v", err)
	}
	if _, err := st.Head(t.Context(), bucket, "o"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused put left an object: %v", err)
	}
}

// A Put asked to write past the page cache stores the same bytes with the
// same checksum as any other, at sizes around the blocks and buffers of a
// direct write; one refused for its size stores nothing.
func testDirectPuts(t *testing.T, st store.Store, opts Options) {
	mustCreate(t, st, bucket, store.Props{})
	for _, size := range []int{0, 1, 4095, 4096, 4097, 1<<20 + 1, 3<<20 + 100} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i*7 + size)
		}
		name := fmt.Sprintf("direct-%d", size)
		meta, err := st.Put(t.Context(), bucket, name, bytes.NewReader(data), store.PutOptions{Size: int64(size), Direct: true})
		if err != nil {
			t.Fatalf("direct put of %d bytes: %v", size, err)
		}
		plain := Put(t, st, bucket, name+"-plain", data)
		if !opts.NoChecksums && meta.Checksum != plain.Checksum {
			t.Fatalf("direct put of %d bytes: checksum %+v, a plain put's %+v", size, meta.Checksum, plain.Checksum)
		}
		if got := Get(t, st, bucket, name); !opts.same(got, data) {
			t.Fatalf("direct put of %d bytes reads back %d bytes unlike those put", size, len(got))
		}
	}
	_, err := st.Put(t.Context(), bucket, "direct-short", strings.NewReader("short"), store.PutOptions{Size: 100, Direct: true})
	if !errors.Is(err, store.ErrSizeMismatch) {
		t.Fatalf("direct put of 5 bytes announced as 100: %v", err)
	}
	if _, err := st.Head(t.Context(), bucket, "direct-short"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused direct put left an object: %v", err)
	}
}

func testVersioning(t *testing.T, st store.Store, _ Options) {
	mustCreate(t, st, bucket, store.Props{})
	for i := 1; i <= 3; i++ {
		if meta := Put(t, st, bucket, "v", []byte{byte(i)}); meta.Version != fmt.Sprint(i) {
			t.Fatalf("put %d: version %q", i, meta.Version)
		}
	}
	plain := store.NewBucket("unversioned")
	props := store.DefaultProps()
	props.Versioning.Enabled = false
	mustCreate(t, st, plain, props)
	if meta := Put(t, st, plain, "v", []byte("x")); meta.Version != "" {
		t.Fatalf("unversioned bucket gave version %q", meta.Version)
	}
}

// BadObjectNames are names every store rejects with store.ErrInvalidName.
var BadObjectNames = []string{
	"", "/abs", "a/../b", "..", "../x", "a/./b", ".", "a//b", "a/", "nul\x00byte",
	strings.Repeat("n", store.MaxNameLength+1), "bad\xffutf8", strings.Repeat("s", 256),
}

func testObjectNames(t *testing.T, st store.Store, opts Options) {
	mustCreate(t, st, bucket, store.Props{})
	for _, name := range BadObjectNames {
		_, err := st.Put(t.Context(), bucket, name, strings.NewReader("x"), store.PutOptions{Size: 1})
		if !errors.Is(err, store.ErrInvalidName) {
			t.Errorf("put %q: %v, want ErrInvalidName", name, err)
		}
	}
	good := []string{"a", "a.b", "dir/sub/file.tar", "ünïcødé/名前", "with space", ".hidden", "x..y", strings.Repeat("d/", 300) + "f"}
	for _, name := range good {
		Put(t, st, bucket, name, []byte(name))
		if got := Get(t, st, bucket, name); !opts.same(got, []byte(name)) {
			t.Errorf("%q read back %q", name, got)
		}
	}
}

// testNameConflicts: "a" and "a/b" cannot both be files on one filesystem.
// A store may keep both (when they land on different mountpaths) or refuse
// the second with ErrConflict, but never lose or damage the first.
func testNameConflicts(t *testing.T, st store.Store, opts Options) {
	mustCreate(t, st, bucket, store.Props{})
	pairs := [][2]string{{"a", "a/b"}, {"d/e", "d"}, {"p/q/r", "p/q"}, {"x", "x/y/z"}}
	for _, pair := range pairs {
		first, second := pair[0], pair[1]
		Put(t, st, bucket, first, []byte(first))
		_, err := st.Put(t.Context(), bucket, second, strings.NewReader(second), store.PutOptions{Size: int64(len(second))})
		switch {
		case err == nil:
			if got := Get(t, st, bucket, second); !opts.same(got, []byte(second)) {
				t.Fatalf("%s read back %q", second, got)
			}
		case errors.Is(err, store.ErrConflict):
			if _, err := st.Head(t.Context(), bucket, second); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("refused %s is visible: %v", second, err)
			}
		default:
			t.Fatalf("put %s after %s: %v, want success or ErrConflict", second, first, err)
		}
		if got := Get(t, st, bucket, first); !opts.same(got, []byte(first)) {
			t.Fatalf("%s damaged by a put of %s: %q", first, second, got)
		}
	}
}

func testListOrderAndPages(t *testing.T, st store.Store, opts Options) {
	mustCreate(t, st, bucket, store.Props{})
	names := []string{"a", "a.b", "a0", "b/c", "b.c", "b/c.d", "b/c/e", "b0/x", "c", "x/y/z/w", "x/y0", "x/y.z"}
	// b/c and b/c/e cannot both exist: drop the conflicting one.
	names = slices.DeleteFunc(names, func(s string) bool { return s == "b/c" })
	for i := range 300 {
		names = append(names, fmt.Sprintf("many/%04d", i))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	shuffled := slices.Clone(names)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, n := range shuffled {
		Put(t, st, bucket, n, []byte(n))
	}
	slices.Sort(names)
	all, err := st.List(t.Context(), bucket, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := namesOf(all); !slices.Equal(got, names) {
		t.Fatalf("listing order:\n got %q\nwant %q", got[:min(20, len(got))], names[:20])
	}
	for _, e := range all {
		if e.Size != int64(len(e.Name)) {
			t.Fatalf("%s: size %d", e.Name, e.Size)
		}
	}
	for _, pageSize := range []int{1, 7, 100} {
		var walked []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > len(names)+1 {
				t.Fatal("paging does not end")
			}
			page, err := st.List(t.Context(), bucket, store.ListOptions{StartAfter: after, Limit: pageSize, WithMeta: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > pageSize {
				t.Fatalf("page of %d entries, limit %d", len(page), pageSize)
			}
			if len(page) == 0 {
				break
			}
			if page[0].Checksum.IsEmpty() && !opts.NoChecksums || page[0].Version == "" || page[0].Atime.IsZero() {
				t.Fatalf("WithMeta listing lacks metadata: %+v", page[0])
			}
			walked = append(walked, namesOf(page)...)
			after = page[len(page)-1].Name
		}
		if !slices.Equal(walked, names) {
			t.Fatalf("page size %d: walked %d names, want %d in order", pageSize, len(walked), len(names))
		}
	}
}

func testListPrefix(t *testing.T, st store.Store, _ Options) {
	mustCreate(t, st, bucket, store.Props{})
	for _, n := range []string{"img/1", "img/2", "img.tar", "imgs/3", "other"} {
		Put(t, st, bucket, n, []byte("x"))
	}
	for prefix, want := range map[string][]string{
		"img/": {"img/1", "img/2"},
		"img":  {"img.tar", "img/1", "img/2", "imgs/3"},
		"i":    {"img.tar", "img/1", "img/2", "imgs/3"},
		"zzz":  nil,
	} {
		got, err := st.List(t.Context(), bucket, store.ListOptions{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(namesOf(got), want) {
			t.Errorf("prefix %q: %q, want %q", prefix, namesOf(got), want)
		}
	}
	got, _ := st.List(t.Context(), bucket, store.ListOptions{Prefix: "img", StartAfter: "img/1"})
	if !slices.Equal(namesOf(got), []string{"img/2", "imgs/3"}) {
		t.Errorf("prefix with start-after: %q", namesOf(got))
	}
}

func testConcurrentPuts(t *testing.T, st store.Store, opts Options) {
	mustCreate(t, st, bucket, store.Props{})
	const writers = 8
	payloads := make([][]byte, writers)
	for i := range payloads {
		payloads[i] = bytes.Repeat([]byte{byte('a' + i)}, 64<<10)
	}
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			if _, err := st.Put(context.WithoutCancel(t.Context()), bucket, "hot", bytes.NewReader(payloads[i]), store.PutOptions{Size: -1}); err != nil {
				t.Errorf("put: %v", err)
			}
		})
	}
	wg.Wait()
	got := Get(t, st, bucket, "hot")
	if !slices.ContainsFunc(payloads, func(p []byte) bool { return opts.same(got, p) }) {
		t.Fatalf("object is a mix of concurrent puts")
	}
	if head, _ := st.Head(t.Context(), bucket, "hot"); head.Version != fmt.Sprint(writers) {
		t.Fatalf("version %q after %d puts", head.Version, writers)
	}
}

// testConditionalPuts: If-None-Match creates only a free name, of
// concurrent creates exactly one wins, and If-Match replaces only the
// version it names; a failed condition changes nothing.
func testConditionalPuts(t *testing.T, st store.Store, opts Options) {
	mustCreate(t, st, bucket, store.Props{})
	ctx := context.WithoutCancel(t.Context())
	const writers = 8
	payloads := make([][]byte, writers)
	for i := range payloads {
		payloads[i] = bytes.Repeat([]byte{byte('a' + i)}, 32<<10)
	}
	var wg sync.WaitGroup
	var won, refused atomic.Int32
	for i := range writers {
		wg.Go(func() {
			_, err := st.Put(ctx, bucket, "lock", bytes.NewReader(payloads[i]), store.PutOptions{Size: -1, ETag: true, IfNoneMatch: "*"})
			switch {
			case err == nil:
				won.Add(1)
			case errors.Is(err, store.ErrPreconditionFailed):
				refused.Add(1)
			default:
				t.Errorf("create: %v", err)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 || refused.Load() != writers-1 {
		t.Fatalf("%d of %d concurrent creates won, %d refused: want exactly one", won.Load(), writers, refused.Load())
	}
	first, err := st.Head(ctx, bucket, "lock")
	if err != nil {
		t.Fatal(err)
	}
	winner := Get(t, st, bucket, "lock")
	// If-Match: a wrong ETag changes nothing, the right one replaces.
	if _, err := st.Put(ctx, bucket, "lock", bytes.NewReader([]byte("stale")), store.PutOptions{Size: -1, ETag: true, IfMatch: "0123"}); !errors.Is(err, store.ErrPreconditionFailed) {
		t.Fatalf("If-Match with a wrong ETag: %v", err)
	}
	if got := Get(t, st, bucket, "lock"); !opts.same(got, winner) {
		t.Fatal("a failed If-Match changed the object")
	}
	if _, err := st.Put(ctx, bucket, "lock", bytes.NewReader([]byte("next")), store.PutOptions{Size: -1, ETag: true, IfMatch: store.ETagOf(first)}); err != nil {
		t.Fatalf("If-Match with the object's ETag: %v", err)
	}
	if got := Get(t, st, bucket, "lock"); !opts.same(got, []byte("next")) {
		t.Fatalf("If-Match did not replace the object: %q", got)
	}
	// "*" and an ETag in If-None-Match, "*" in If-Match, as HTTP has them.
	next, err := st.Head(ctx, bucket, "lock")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, bucket, "lock", bytes.NewReader([]byte("same")), store.PutOptions{Size: -1, ETag: true, IfNoneMatch: store.ETagOf(next)}); !errors.Is(err, store.ErrPreconditionFailed) {
		t.Fatalf("If-None-Match with the object's ETag: %v", err)
	}
	if _, err := st.Put(ctx, bucket, "lock", bytes.NewReader([]byte("other")), store.PutOptions{Size: -1, ETag: true, IfNoneMatch: "0123"}); err != nil {
		t.Fatalf("If-None-Match with another ETag: %v", err)
	}
	if _, err := st.Put(ctx, bucket, "lock", bytes.NewReader([]byte("any")), store.PutOptions{Size: -1, ETag: true, IfMatch: "*"}); err != nil {
		t.Fatalf("If-Match * on an object: %v", err)
	}
	if _, err := st.Put(ctx, bucket, "absent", bytes.NewReader([]byte("x")), store.PutOptions{Size: -1, IfMatch: "*"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("If-Match * on a missing object: %v", err)
	}
	if _, err := st.Put(ctx, bucket, "absent", bytes.NewReader([]byte("x")), store.PutOptions{Size: -1, IfMatch: store.ETagOf(first)}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("If-Match on a missing object: %v", err)
	}
	if _, err := st.Head(ctx, bucket, "absent"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a failed If-Match left an object: %v", err)
	}
}

func testSyncBuckets(t *testing.T, st store.Store, _ Options) {
	ctx := t.Context()
	mustCreate(t, st, store.NewBucket("old"), store.Props{})
	md, _ := st.Buckets(ctx)
	newer := store.BucketMetadata{Version: md.Version + 5, Buckets: map[store.Bucket]store.Props{store.NewBucket("fresh"): store.DefaultProps()}}
	if err := st.SyncBuckets(ctx, newer); err != nil {
		t.Fatal(err)
	}
	got, _ := st.Buckets(ctx)
	if got.Version != newer.Version || len(got.Buckets) != 1 {
		t.Fatalf("after sync: %+v", got)
	}
	Put(t, st, store.NewBucket("fresh"), "o", []byte("x"))
	stale := store.BucketMetadata{Version: 1, Buckets: map[store.Bucket]store.Props{}}
	if err := st.SyncBuckets(ctx, stale); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Buckets(ctx); got.Version != newer.Version {
		t.Fatalf("an older version was adopted: %+v", got)
	}
}

func testMissing(t *testing.T, st store.Store, _ Options) {
	ctx := t.Context()
	none := store.NewBucket("nope")
	if _, err := st.Put(ctx, none, "o", strings.NewReader("x"), store.PutOptions{Size: 1}); !errors.Is(err, store.ErrBucketNotFound) {
		t.Errorf("put into a missing bucket: %v", err)
	}
	if _, err := st.List(ctx, none, store.ListOptions{}); !errors.Is(err, store.ErrBucketNotFound) {
		t.Errorf("list of a missing bucket: %v", err)
	}
	if _, err := st.Head(ctx, none, "o"); !errors.Is(err, store.ErrBucketNotFound) {
		t.Errorf("head in a missing bucket: %v", err)
	}
	if err := st.Delete(ctx, none, "o", store.DeleteOptions{}); !errors.Is(err, store.ErrBucketNotFound) {
		t.Errorf("delete in a missing bucket: %v", err)
	}
	if _, err := st.Tombstones(ctx, none); !errors.Is(err, store.ErrBucketNotFound) {
		t.Errorf("tombstones of a missing bucket: %v", err)
	}
	if err := st.DropTombstone(ctx, none, "o", store.Stamp{Map: 1}); !errors.Is(err, store.ErrBucketNotFound) {
		t.Errorf("drop of a tombstone in a missing bucket: %v", err)
	}
	mustCreate(t, st, bucket, store.Props{})
	if _, err := st.Open(ctx, bucket, "missing", store.OpenOptions{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("open of a missing object: %v", err)
	}
	if err := st.DropTombstone(ctx, bucket, "../x", store.Stamp{Map: 1}); !errors.Is(err, store.ErrInvalidName) {
		t.Errorf("drop of a tombstone with a bad name: %v", err)
	}
}

func testCorruption(t *testing.T, st store.Store, opts Options) {
	// Without stored bytes there is nothing to corrupt, and without a
	// checksum nothing to detect it with: the whole test is that check.
	if opts.DiscardsData || opts.NoChecksums {
		t.Skip("no stored bytes or no checksum: corruption cannot be made or detected")
	}
	if opts.Corrupt == nil {
		t.Fatal("storetest.Options.Corrupt is required: the suite checks that corrupt data is refused")
	}
	mustCreate(t, st, bucket, store.Props{})
	Put(t, st, bucket, "o", randomBytes(10000, 7))
	opts.Corrupt(t, st, bucket, "o")
	if _, err := st.Open(t.Context(), bucket, "o", store.OpenOptions{Validate: true}); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("validated read of corrupt data: %v, want ErrCorrupt", err)
	}
}

func namesOf(list []store.ObjectMeta) []string {
	out := make([]string, len(list))
	for i, e := range list {
		out[i] = e.Name
	}
	return out
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// testStampsAndTombstones: the latest write of a name wins by stamp, in
// puts and deletes, and a tombstone keeps an older copy from coming back.
func testStampsAndTombstones(t *testing.T, st store.Store, opts Options) {
	ctx := t.Context()
	mustCreate(t, st, bucket, store.Props{})
	put := func(name, data string, opts store.PutOptions) error {
		opts.Size = int64(len(data))
		_, err := st.Put(ctx, bucket, name, strings.NewReader(data), opts)
		return err
	}
	stamp := func(m, c int64) store.Stamp { return store.Stamp{Map: m, Clock: c} }
	at := func(s store.Stamp) func() (func(), store.Stamp, error) {
		return func() (func(), store.Stamp, error) { return func() {}, s, nil }
	}
	if err := put("o", "first", store.PutOptions{Precommit: at(stamp(5, 100))}); err != nil {
		t.Fatal(err)
	}
	if head, _ := st.Head(ctx, bucket, "o"); head.Stamp != stamp(5, 100) {
		t.Fatalf("stamp from precommit: %v", head.Stamp)
	}
	if err := put("o", "older", store.PutOptions{Stamp: stamp(5, 50), IfNewer: true}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("an older copy: %v, want ErrExists", err)
	}
	// "first" and "older" have one length: the stamp tells them apart
	// where the bytes are not kept.
	if got := Get(t, st, bucket, "o"); !opts.same(got, []byte("first")) {
		t.Fatalf("an older copy replaced the object: %q", got)
	}
	if head, _ := st.Head(ctx, bucket, "o"); head.Stamp != stamp(5, 100) {
		t.Fatalf("an older copy replaced the object: stamp %v", head.Stamp)
	}
	if err := put("o", "newer", store.PutOptions{Stamp: stamp(6, 1), IfNewer: true, Version: "7"}); err != nil {
		t.Fatalf("a newer copy: %v", err)
	}
	if head, _ := st.Head(ctx, bucket, "o"); head.Stamp != stamp(6, 1) || head.Version != "7" {
		t.Fatalf("a newer copy keeps its stamp and version: %+v", head)
	}
	if err := st.Delete(ctx, bucket, "o", store.DeleteOptions{IfStamp: stamp(5, 100)}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("delete of a copy since replaced: %v, want ErrExists", err)
	}
	if err := st.Delete(ctx, bucket, "o", store.DeleteOptions{Stamp: stamp(5, 0), Tombstone: true}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("a delete older than the object: %v, want ErrExists", err)
	}
	if got := Get(t, st, bucket, "o"); !opts.same(got, []byte("newer")) {
		t.Fatalf("after refused deletes: %q", got)
	}
	if head, _ := st.Head(ctx, bucket, "o"); head.Stamp != stamp(6, 1) {
		t.Fatalf("after refused deletes: stamp %v", head.Stamp)
	}
	if err := st.Delete(ctx, bucket, "o", store.DeleteOptions{Stamp: stamp(7, 0), Tombstone: true}); err != nil {
		t.Fatal(err)
	}
	if err := put("o", "resurrected", store.PutOptions{Stamp: stamp(6, 9), IfNewer: true}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("a copy older than the delete: %v, want ErrExists", err)
	}
	if _, err := st.Head(ctx, bucket, "o"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a deleted object came back: %v", err)
	}
	if err := st.Delete(ctx, bucket, "gone", store.DeleteOptions{Stamp: stamp(3, 3), Tombstone: true}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete of nothing: %v, want ErrNotFound", err)
	}
	tombs, err := st.Tombstones(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(tombs, func(a, b store.Tombstone) int { return strings.Compare(a.Name, b.Name) })
	if len(tombs) != 2 || tombs[0].Name != "gone" || tombs[1].Name != "o" || tombs[1].Stamp != stamp(7, 0) || tombs[1].Created == 0 {
		t.Fatalf("tombstones: %+v", tombs)
	}
	if err := put("o", "after", store.PutOptions{Stamp: stamp(8, 0), IfNewer: true}); err != nil {
		t.Fatalf("a write after the delete: %v", err)
	}
	// A tombstone of "x" does not stand in the way of "x/y".
	st.Delete(ctx, bucket, "x", store.DeleteOptions{Stamp: stamp(1, 1), Tombstone: true})
	if err := put("x/y", "child", store.PutOptions{}); err != nil {
		t.Fatalf("put under a deleted name: %v", err)
	}
	if err := st.DropTombstone(ctx, bucket, "o", stamp(6, 0)); err != nil {
		t.Fatal(err)
	}
	if tombs, _ := st.Tombstones(ctx, bucket); len(tombs) != 3 {
		t.Fatalf("a newer tombstone was dropped: %+v", tombs)
	}
	for _, name := range []string{"o", "gone", "x"} {
		if err := st.DropTombstone(ctx, bucket, name, stamp(9, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if tombs, _ := st.Tombstones(ctx, bucket); len(tombs) != 0 {
		t.Fatalf("dropped tombstones remain: %+v", tombs)
	}
	if err := st.Delete(ctx, bucket, "o", store.DeleteOptions{IfStamp: stamp(8, 0)}); err != nil {
		t.Fatalf("delete of the copy with that stamp: %v", err)
	}
}

func testPrecommit(t *testing.T, st store.Store, _ Options) {
	mustCreate(t, st, bucket, store.Props{})
	refused := errors.New("placement moved")
	released := 0
	_, err := st.Put(t.Context(), bucket, "o", strings.NewReader("x"), store.PutOptions{Size: 1,
		Precommit: func() (func(), store.Stamp, error) { return nil, store.Stamp{}, refused }})
	if !errors.Is(err, refused) {
		t.Fatalf("put refused at precommit: %v", err)
	}
	if _, err := st.Head(t.Context(), bucket, "o"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a put refused at precommit is visible: %v", err)
	}
	_, err = st.Put(t.Context(), bucket, "o", strings.NewReader("x"), store.PutOptions{Size: 1,
		Precommit: func() (func(), store.Stamp, error) { return func() { released++ }, store.Stamp{}, nil }})
	if err != nil || released != 1 {
		t.Fatalf("put with precommit: %v, released %d times", err, released)
	}
}
