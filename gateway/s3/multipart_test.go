package s3

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/fs"
)

func TestPartSizeRuns(t *testing.T) {
	sizes := []int64{8 << 20, 8 << 20, 8 << 20, 5 << 20, 5 << 20, 1000}
	parts := make([]storedPart, len(sizes))
	for i, s := range sizes {
		parts[i] = storedPart{number: i + 1, size: s}
	}
	runs := sizeRuns(parts)
	if want := []string{"8388608*3", "5242880*2", "1000"}; !slices.Equal(runs, want) {
		t.Fatalf("runs %v, want %v", runs, want)
	}
	got, ok := partSizes("8388608*3,5242880*2,1000", maxParts)
	if !ok || !slices.Equal(got, sizes) {
		t.Fatalf("sizes %v %v", got, ok)
	}
	// A repeat so big that the count wraps (set through the native API)
	// is refused before anything is made of it.
	for _, bad := range []string{"", "x", "5*0", "5*-1", "-5", "1*10001", "1*9999,2,3", "1,1*9223372036854775807"} {
		if _, ok := partSizes(bad, maxParts); ok {
			t.Errorf("%q read as sizes", bad)
		}
	}
}

// A part record that does not add up to the object (custom metadata set
// through the native API) is no layout: the object is one part, and no
// part answers with a length the object does not have.
func TestPartRangeOfForgedRecords(t *testing.T) {
	meta := func(size int64, parts, sizes string) store.ObjectMeta {
		return store.ObjectMeta{Size: size, Custom: map[string]string{customParts: parts, customPartSizes: sizes}}
	}
	for _, tc := range []struct {
		name          string
		meta          store.ObjectMeta
		part          string
		start, length int64
		count         int
		err           bool
	}{
		{"a real layout", meta(15, "2", "10,5"), "2", 10, 5, 2, false},
		{"sizes past the object", meta(6, "2", "5,1000000"), "2", 0, 0, 0, true},
		{"sizes past the object, part 1", meta(6, "2", "5,1000000"), "1", 0, 6, 0, false},
		{"sizes short of the object", meta(100, "2", "5,5"), "1", 0, 100, 0, false},
		{"sizes that overflow", meta(10, "2", "9223372036854775807,9223372036854775807"), "1", 0, 10, 0, false},
		{"a count that does not match", meta(15, "3", "10,5"), "1", 0, 15, 0, false},
		{"a negative count", meta(15, "-2", "10,5"), "1", 0, 15, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start, length, err := partRange(tc.meta, tc.part)
			if tc.err != (err != nil) || err == nil && (start != tc.start || length != tc.length) {
				t.Fatalf("part %s: %d+%d %v, want %d+%d (error %v)", tc.part, start, length, err, tc.start, tc.length, tc.err)
			}
			if n := partsCount(tc.meta); n != tc.count {
				t.Fatalf("parts count %d, want %d", n, tc.count)
			}
		})
	}
}

// The object of an upload with headers to the limit and parts of many
// sizes is stored: its metadata fits what the store keeps (the sizes go
// when they do not), with any checksum; and with few sizes they stay.
func TestCompletedCustomFitsTheStore(t *testing.T) {
	headers := map[string]string{}
	for i := 0; storedSize(headers) < MaxStoredHeaders-60; i++ {
		headers[fmt.Sprintf("%sx-amz-meta-k%03d", customHeaderPrefix, i)] = strings.Repeat("v", 40)
	}
	var many []storedPart
	for i := range maxSizeRuns {
		many = append(many, storedPart{number: i + 1, size: 5368709120 + int64(i%2)})
	}
	etag := strings.Repeat("f", 32) + "-10000"
	id := strings.Repeat("a", 32)
	st, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{t.TempDir()}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		headers   map[string]string
		parts     []storedPart
		wantSizes bool
	}{
		{headers, many, false},
		{nil, many, true},
		{headers, many[:3], true},
	} {
		custom := completedCustom(tc.headers, etag, id, tc.parts)
		if _, ok := custom[customPartSizes]; ok != tc.wantSizes {
			t.Errorf("%d header bytes, %d parts: sizes kept %v, want %v", storedSize(tc.headers), len(tc.parts), ok, tc.wantSizes)
		}
		for _, checksum := range []string{"xxhash", "sha256", "md5", "crc32c", "none"} {
			b := store.NewBucket("b-" + checksum)
			props := store.DefaultProps()
			props.Checksum.Type = checksum
			if err := st.CreateBucket(t.Context(), b, props); err != nil && !errors.Is(err, store.ErrBucketExists) {
				t.Fatal(err)
			}
			if _, err := st.Put(t.Context(), b, "o", strings.NewReader("x"), store.PutOptions{Size: 1, Custom: custom}); err != nil {
				t.Errorf("checksum %s: an object with %d bytes of custom metadata: %v", checksum, storedSize(custom), err)
			}
		}
	}
}

// A Complete's mark holds for its lease from its time; one dated past a
// lease ahead (its gateway's clock ran ahead, then it went) holds no
// longer, or aborts and Completes elsewhere would wait on it for as long
// as the clock was ahead.
func TestCompleteMarkHoldsForItsLease(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		marked time.Time
		want   bool
	}{{time.Time{}, false}, {now, true}, {now.Add(-completeLease / 2), true}, {now.Add(-completeLease - time.Second), false},
		{now.Add(completeLease / 2), true}, {now.Add(completeLease + time.Second), false}} {
		if got := (upload{Completing: tc.marked}).completeUnderWay(now); got != tc.want {
			t.Errorf("a mark %v from now: under way %v, want %v", tc.marked.Sub(now), got, tc.want)
		}
	}
}

// The keys listings remember stay within their bound: a bucket's that
// would pass it is not kept, and others make room for a new one.
func TestUploadKeysAreBounded(t *testing.T) {
	var k uploadKeys
	keysOf := func(n, keyBytes int) map[string]uploadKey {
		keys := map[string]uploadKey{}
		for i := range n {
			keys[fmt.Sprintf("id-%06d", i)] = uploadKey{key: strings.Repeat("k", keyBytes)}
		}
		return keys
	}
	k.set("huge", keysOf(20000, 1024))
	if k.of("huge") != nil || k.bytes != 0 {
		t.Fatalf("a bucket's keys past the bound were kept (%d bytes)", k.bytes)
	}
	for i := range 40 {
		k.set(fmt.Sprintf("b%d", i), keysOf(1000, 1024))
		if k.bytes > maxUploadKeysBytes {
			t.Fatalf("%d bytes held, past the bound", k.bytes)
		}
	}
	if k.of("b39") == nil {
		t.Fatal("the bucket listed last is not kept")
	}
	k.set("b39", nil)
	if k.of("b39") != nil {
		t.Fatal("a bucket's keys set again are not replaced")
	}
}
