package store_test

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/store"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string // substring of the message; empty = valid
	}{
		{"a", ""},
		{"dir/sub/file.tar", ""},
		{"ünï/名前.jpg", ""},
		{".hidden/x..y", ""},
		{"", "empty"},
		{"/etc/passwd", "absolute"},
		{"a/../b", `".." segment`},
		{"..", `".." segment`},
		{"a/./b", `"." segment`},
		{"a//b", "empty path segment"},
		{"trailing/", "empty path segment"},
		{"nul\x00", "NUL"},
		{"\xff", "UTF-8"},
		{strings.Repeat("x", 1025), "1025 bytes"},
		{strings.Repeat("y", 256), "longer than 255"},
	}
	for _, tc := range tests {
		err := store.ValidateName(tc.name)
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, store.ErrInvalidName) || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: %v, want ErrInvalidName saying %q", tc.name, err, tc.wantErr)
		}
	}
}

// FuzzValidateName checks that every accepted name stays inside the bucket
// directory and maps to a file path that gives the name back.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../x", "a/./b", "/x", "a//b", "x\x00", "ü/ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if store.ValidateName(name) != nil {
			return
		}
		root := "/bucket"
		path := filepath.Join(root, filepath.FromSlash(name))
		rel, err := filepath.Rel(root, path)
		if err != nil || strings.HasPrefix(rel, "..") || filepath.ToSlash(rel) != name {
			t.Fatalf("accepted name %q maps to %q outside or aliased", name, path)
		}
	})
}

func TestBucketValidate(t *testing.T) {
	for _, good := range []string{"a", "A.b-c_d", strings.Repeat("z", 64)} {
		if err := store.NewBucket(good).Validate(); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", strings.Repeat("z", 65), "sp ace"} {
		if err := store.NewBucket(bad).Validate(); !errors.Is(err, store.ErrInvalidName) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if err := (store.Bucket{Name: "x", Provider: "gcp"}).Validate(); err == nil {
		t.Error("unsupported provider accepted")
	}
}

func TestCheckBucketUpdate(t *testing.T) {
	cur := store.BucketMetadata{Version: 7, Buckets: map[store.Bucket]store.Props{store.NewBucket("a"): store.DefaultProps()}}
	next := func(version int64, names ...string) store.BucketMetadata {
		md := store.BucketMetadata{Version: version, Buckets: map[store.Bucket]store.Props{}}
		for _, n := range names {
			md.Buckets[store.NewBucket(n)] = store.DefaultProps()
		}
		return md
	}
	tests := []struct {
		name  string
		next  store.BucketMetadata
		rules store.BucketUpdateRules
		err   error
	}{
		{"the next version", next(8, "a", "b"), store.BucketUpdateRules{}, nil},
		{"every bucket gone", next(8), store.BucketUpdateRules{}, store.ErrBucketsWipe},
		{"every bucket gone, allowed", next(8), store.BucketUpdateRules{AllowNoBuckets: true}, nil},
		{"version 5000 ahead", next(1<<62, "a"), store.BucketUpdateRules{}, store.ErrBucketsJump},
		{"far ahead when joining", next(1<<62, "a"), store.BucketUpdateRules{Recovery: true}, nil},
		{"a name that climbs out", next(8, "../../../srv"), store.BucketUpdateRules{}, store.ErrInvalidName},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := store.CheckBucketUpdate(cur, tc.next, tc.rules); tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
		})
	}
}

// The CRCs S3 keeps, by their standard check values (of "123456789").
func TestRemoteChecksumTypes(t *testing.T) {
	for typ, want := range map[string]string{store.ChecksumCRC32: "cbf43926", store.ChecksumCRC32C: "e3069283", store.ChecksumCRC64NVME: "ae8b14860a799888"} {
		h, err := store.NewHash(typ)
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte("123456789"))
		if got := store.ChecksumOf(typ, h); got.Value != want {
			t.Errorf("%s of 123456789: %s, want %s", typ, got.Value, want)
		}
		// Not a bucket's type: AIStore's are.
		if err := store.CheckBucketChecksumType(typ); typ != store.ChecksumCRC32C && err == nil {
			t.Errorf("%s taken as a bucket's checksum type", typ)
		}
	}
}

// extra.aws.multipart_size is 0 or a size S3 takes as a part.
func TestMultipartSizeIsAPartS3Takes(t *testing.T) {
	for size, ok := range map[store.Int64String]bool{0: true, 5 << 20: true, 64 << 20: true, 5 << 30: true, 1 << 20: false, 6 << 30: false, -1: false} {
		props := store.DefaultRemoteProps(store.Bucket{Provider: store.ProviderAWS, Name: "b"})
		props.Extra = &store.ExtraProps{AWS: &store.AWSProps{MultipartSize: size}}
		if err := props.Validate(); (err == nil) != ok || err != nil && !strings.Contains(err.Error(), "multipart_size") {
			t.Errorf("multipart_size %d: %v", size, err)
		}
	}
}

// lru.dont_evict_time is not negative: a cutoff in the future would let
// the LRU evict objects read a moment ago.
func TestDontEvictTimeIsNotNegative(t *testing.T) {
	for d, ok := range map[time.Duration]bool{0: true, time.Hour: true, -time.Hour: false} {
		props := store.DefaultRemoteProps(store.Bucket{Provider: store.ProviderAWS, Name: "b"})
		props.LRU.DontEvictTime = store.Duration(d)
		if err := props.Validate(); (err == nil) != ok || err != nil && !strings.Contains(err.Error(), "dont_evict_time") {
			t.Errorf("dont_evict_time %s: %v", d, err)
		}
	}
}

// A remote's ETag is an object's own, cached or not; one that is weak,
// or would not survive a condition's list (a comma, a quote), is not:
// the checksum is. A remote's Last-Modified is the object's time.
func TestETagAndModifiedOfARemoteObject(t *testing.T) {
	checksum := store.Checksum{Type: store.ChecksumXXHash, Value: "0123456789abcdef"}
	for tag, want := range map[string]string{"9b2cf535f27731c974343645a3985328": "9b2cf535f27731c974343645a3985328",
		`W/"x"`: checksum.Value, "a,b": checksum.Value, `a"b`: checksum.Value, "a b": checksum.Value, "": checksum.Value} {
		meta := store.ObjectMeta{Checksum: checksum, Custom: map[string]string{store.CustomRemoteETag: tag}}
		if got := store.ETagOf(meta); got != want {
			t.Errorf("remote ETag %q: ETag %q, want %q", tag, got, want)
		}
	}
	modified := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	meta := store.ObjectMeta{Stamp: store.Stamp{Map: 1, Clock: time.Now().UnixNano()},
		Custom: map[string]string{store.CustomRemoteModified: strconv.FormatInt(modified.UnixNano(), 10)}}
	if got := store.ModifiedOf(meta); !got.Equal(modified) {
		t.Errorf("a remote object's time: %s, want the remote's %s", got, modified)
	}
}
