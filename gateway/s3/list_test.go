package s3

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/store"
)

// sliceSource is a Source over sorted keys that counts what it is asked;
// with levels, it lists one level when asked, as the native API does.
type sliceSource struct {
	keys     []string
	calls    int
	returned int
	levels   bool
}

func newSliceSource(keys ...string) *sliceSource {
	sorted := slices.Clone(keys)
	sort.Strings(sorted) // byte order, as S3's
	return &sliceSource{keys: slices.Compact(sorted)}
}

// listLevel lists as the targets' listLevel does: a start after a
// folder is past it, and a folder is given for its first key after the
// start.
func (s *sliceSource) listLevel(prefix, startAfter string, limit int) ([]Entry, bool, error) {
	after := startAfter
	if strings.HasSuffix(after, "/") {
		after += "\xff"
	}
	var out []Entry
	for {
		i, found := slices.BinarySearch(s.keys, after)
		if found {
			i++
		}
		if j, _ := slices.BinarySearch(s.keys, prefix); j > i {
			i = j
		}
		if i == len(s.keys) || !strings.HasPrefix(s.keys[i], prefix) {
			return out, false, nil
		}
		if len(out) == limit {
			return out, true, nil
		}
		key := s.keys[i]
		s.returned++
		if slash := strings.IndexByte(key[len(prefix):], '/'); slash >= 0 {
			folder := key[:len(prefix)+slash+1]
			if len(out) > 0 && out[len(out)-1].Key == folder {
				after = key // (a key past folder+"\xff", not UTF-8)
				continue
			}
			out = append(out, Entry{Key: folder, CommonPrefix: true})
			after = folder + "\xff"
			continue
		}
		out = append(out, entryOf(key))
		after = key
	}
}

var modified = time.Date(2024, 1, 2, 3, 4, 5, 600_000_000, time.UTC)

func entryOf(key string) Entry {
	sum := md5.Sum([]byte(key))
	return Entry{Key: key, Size: int64(len(key)), ETag: hex.EncodeToString(sum[:]), LastModified: modified}
}

func (s *sliceSource) list(_ context.Context, prefix, startAfter string, limit int, oneLevel bool) ([]Entry, bool, error) {
	s.calls++
	if limit < 1 {
		return nil, false, fmt.Errorf("a limit of %d", limit)
	}
	if s.levels && oneLevel {
		return s.listLevel(prefix, startAfter, limit)
	}
	i, found := slices.BinarySearch(s.keys, startAfter)
	if found {
		i++
	}
	if j, _ := slices.BinarySearch(s.keys, prefix); j > i {
		i = j
	}
	var out []Entry
	for ; i < len(s.keys) && strings.HasPrefix(s.keys[i], prefix); i++ {
		if len(out) == limit {
			return out, true, nil
		}
		out = append(out, entryOf(s.keys[i]))
		s.returned++
	}
	return out, false, nil
}

// reference lists keys under prefix the plain way: every key read, each
// rolled into its common prefix when it has the delimiter after prefix.
func reference(keys []string, prefix, delimiter string) (contents, prefixes []string) {
	sorted := slices.Clone(keys)
	sort.Strings(sorted)
	for _, key := range slices.Compact(sorted) {
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		if i := strings.Index(key[len(prefix):], delimiter); delimiter != "" && i >= 0 {
			if p := key[:len(prefix)+i+len(delimiter)]; !slices.Contains(prefixes, p) {
				prefixes = append(prefixes, p)
			}
			continue
		}
		contents = append(contents, key)
	}
	return contents, prefixes
}

// summary is what a test compares of a page; next is v1's NextMarker or
// v2's decoded NextContinuationToken.
type summary struct {
	keys, prefixes []string
	truncated      bool
	next           string
}

func (s summary) String() string {
	return fmt.Sprintf("keys %q prefixes %q truncated %v next %q", s.keys, s.prefixes, s.truncated, s.next)
}

func summarize(t *testing.T, result any) summary {
	t.Helper()
	var s summary
	var contents []Object
	var prefixes []CommonPrefix
	switch r := result.(type) {
	case *ListBucketResult:
		contents, prefixes, s.truncated, s.next = r.Contents, r.CommonPrefixes, r.IsTruncated, r.NextMarker
	case *ListBucketResultV2:
		contents, prefixes, s.truncated = r.Contents, r.CommonPrefixes, r.IsTruncated
		if r.KeyCount != len(r.Contents)+len(r.CommonPrefixes) {
			t.Errorf("KeyCount %d for %d keys and %d prefixes", r.KeyCount, len(r.Contents), len(r.CommonPrefixes))
		}
		if r.NextContinuationToken != "" {
			after, err := decodeToken(r.NextContinuationToken)
			if err != nil {
				t.Fatalf("NextContinuationToken %q: %v", r.NextContinuationToken, err)
			}
			s.next = after
		}
	default:
		t.Fatalf("List returned a %T", result)
	}
	for _, c := range contents {
		s.keys = append(s.keys, c.Key)
	}
	for _, p := range prefixes {
		s.prefixes = append(s.prefixes, p.Prefix)
	}
	return s
}

var classic = []string{
	"sample.jpg",
	"photos/2006/January/sample.jpg",
	"photos/2006/February/sample2.jpg",
	"photos/2006/February/sample3.jpg",
	"photos/2006/February/sample4.jpg",
}

func TestListClassicExamples(t *testing.T) {
	tests := []struct {
		name string
		req  ListRequest
		want summary
	}{
		{
			name: "everything",
			req:  ListRequest{MaxKeys: 1000},
			want: summary{keys: []string{"photos/2006/February/sample2.jpg", "photos/2006/February/sample3.jpg", "photos/2006/February/sample4.jpg", "photos/2006/January/sample.jpg", "sample.jpg"}},
		},
		{
			name: "the top level",
			req:  ListRequest{Delimiter: "/", MaxKeys: 1000},
			want: summary{keys: []string{"sample.jpg"}, prefixes: []string{"photos/"}},
		},
		{
			name: "the months of 2006",
			req:  ListRequest{Prefix: "photos/2006/", Delimiter: "/", MaxKeys: 1000},
			want: summary{prefixes: []string{"photos/2006/February/", "photos/2006/January/"}},
		},
		{
			name: "a prefix that ends inside a name",
			req:  ListRequest{Prefix: "photos/2006/Feb", Delimiter: "/", MaxKeys: 1000},
			want: summary{prefixes: []string{"photos/2006/February/"}},
		},
		{
			name: "a prefix that is a whole key",
			req:  ListRequest{Prefix: "photos/2006/February/sample2.jpg", Delimiter: "/", MaxKeys: 1000},
			want: summary{keys: []string{"photos/2006/February/sample2.jpg"}},
		},
		{
			name: "a prefix of nothing",
			req:  ListRequest{Prefix: "videos/", Delimiter: "/", MaxKeys: 1000},
			want: summary{},
		},
		{
			name: "two keys of five, no delimiter: no NextMarker",
			req:  ListRequest{MaxKeys: 2},
			want: summary{keys: []string{"photos/2006/February/sample2.jpg", "photos/2006/February/sample3.jpg"}, truncated: true},
		},
		{
			name: "after a marker",
			req:  ListRequest{Marker: "photos/2006/February/sample3.jpg", MaxKeys: 1000},
			want: summary{keys: []string{"photos/2006/February/sample4.jpg", "photos/2006/January/sample.jpg", "sample.jpg"}},
		},
		{
			name: "a common prefix fills the page",
			req:  ListRequest{Delimiter: "/", MaxKeys: 1},
			want: summary{prefixes: []string{"photos/"}, truncated: true, next: "photos/"},
		},
		{
			name: "after a common prefix",
			req:  ListRequest{Delimiter: "/", Marker: "photos/", MaxKeys: 1},
			want: summary{keys: []string{"sample.jpg"}},
		},
		{
			name: "after a marker deep inside a common prefix, its rest rolls up again",
			req:  ListRequest{Delimiter: "/", Marker: "photos/2006/February/sample2.jpg", MaxKeys: 1000},
			want: summary{keys: []string{"sample.jpg"}, prefixes: []string{"photos/"}},
		},
		{
			name: "exactly as many as there are: not truncated",
			req:  ListRequest{Delimiter: "/", MaxKeys: 2},
			want: summary{keys: []string{"sample.jpg"}, prefixes: []string{"photos/"}},
		},
		{
			name: "a delimiter of several bytes",
			req:  ListRequest{Delimiter: "sample", MaxKeys: 1000},
			want: summary{prefixes: []string{"photos/2006/February/sample", "photos/2006/January/sample", "sample"}},
		},
		{
			name: "v2 a common prefix fills the page",
			req:  ListRequest{V2: true, Delimiter: "/", MaxKeys: 1},
			want: summary{prefixes: []string{"photos/"}, truncated: true, next: "photos/"},
		},
		{
			name: "v2 resumed after a common prefix",
			req:  ListRequest{V2: true, Delimiter: "/", ContinuationToken: encodeToken("photos/"), MaxKeys: 1},
			want: summary{keys: []string{"sample.jpg"}},
		},
		{
			name: "v2 start-after",
			req:  ListRequest{V2: true, StartAfter: "photos/2006/January/sample.jpg", MaxKeys: 1000},
			want: summary{keys: []string{"sample.jpg"}},
		},
		{
			name: "v2 a continuation token overrides start-after",
			req:  ListRequest{V2: true, StartAfter: "photos/2006/January/sample.jpg", ContinuationToken: encodeToken("photos/2006/February/sample3.jpg"), MaxKeys: 1},
			want: summary{keys: []string{"photos/2006/February/sample4.jpg"}, truncated: true, next: "photos/2006/February/sample4.jpg"},
		},
		{
			name: "v2 without delimiter gives a token",
			req:  ListRequest{V2: true, MaxKeys: 4},
			want: summary{keys: []string{"photos/2006/February/sample2.jpg", "photos/2006/February/sample3.jpg", "photos/2006/February/sample4.jpg", "photos/2006/January/sample.jpg"}, truncated: true, next: "photos/2006/January/sample.jpg"},
		},
		{
			name: "max-keys 0 with keys: nothing returned, not truncated",
			req:  ListRequest{Delimiter: "/", MaxKeys: 0},
			want: summary{},
		},
		{
			name: "v2 max-keys 0 after start-after: nothing, no token",
			req:  ListRequest{V2: true, StartAfter: "photos/2006/January/sample.jpg", MaxKeys: 0},
			want: summary{},
		},
		{
			name: "max-keys 0 past every key: not truncated",
			req:  ListRequest{Marker: "sample.jpg", MaxKeys: 0},
			want: summary{},
		},
		{
			name: "max-keys past 1000 is 1000",
			req:  ListRequest{MaxKeys: 5000, Prefix: "sample"},
			want: summary{keys: []string{"sample.jpg"}},
		},
	}
	for _, tc := range tests {
		src := newSliceSource(classic...)
		result, err := List(t.Context(), src.list, "bucket", tc.req)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := summarize(t, result); got.String() != tc.want.String() {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

// An empty continuation-token is echoed as given (ceph/s3-tests
// test_bucket_listv2_continuationtoken_empty); none given, none echoed.
func TestListEchoesAnEmptyToken(t *testing.T) {
	src := newSliceSource(classic...)
	for query, want := range map[string]bool{"list-type=2&continuation-token=": true, "list-type=2": false} {
		q, _ := url.ParseQuery(query)
		req, err := ParseListRequest(q)
		if err != nil {
			t.Fatal(err)
		}
		result, err := List(t.Context(), src.list, "bucket", req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := xml.Marshal(result)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(body), "<ContinuationToken></ContinuationToken>"); got != want {
			t.Errorf("%s: an empty ContinuationToken in the answer is %v, want %v: %s", query, got, want, body)
		}
	}
}

func TestListAnswerFields(t *testing.T) {
	src := newSliceSource(classic...)
	result, err := List(t.Context(), src.list, "bucket", ListRequest{Prefix: "photos/", Delimiter: "/", Marker: "a", MaxKeys: 5000})
	if err != nil {
		t.Fatal(err)
	}
	v1 := result.(*ListBucketResult)
	if v1.Name != "bucket" || v1.Prefix != "photos/" || v1.Marker != "a" || v1.Delimiter != "/" || v1.MaxKeys != 1000 || v1.EncodingType != "" {
		t.Errorf("v1 %+v", v1)
	}
	result, err = List(t.Context(), src.list, "bucket", ListRequest{V2: true, MaxKeys: 1, StartAfter: "a", ContinuationToken: encodeToken("b"), TokenGiven: true})
	if err != nil {
		t.Fatal(err)
	}
	v2 := result.(*ListBucketResultV2)
	if v2.StartAfter != "a" || v2.ContinuationToken == nil || *v2.ContinuationToken != encodeToken("b") || v2.KeyCount != 1 || v2.MaxKeys != 1 {
		t.Errorf("v2 %+v", v2)
	}
	c := v2.Contents[0]
	want := entryOf("photos/2006/February/sample2.jpg")
	if c.Key != want.Key || c.Size != want.Size || c.ETag != `"`+want.ETag+`"` || c.LastModified != "2024-01-02T03:04:05.600Z" || c.StorageClass != "STANDARD" || c.Owner != nil {
		t.Errorf("contents %+v", c)
	}
	// v1 always names the owner, v2 when fetch-owner asks.
	for _, req := range []ListRequest{{MaxKeys: 1}, {V2: true, FetchOwner: true, MaxKeys: 1}} {
		result, err := List(t.Context(), src.list, "bucket", req)
		if err != nil {
			t.Fatal(err)
		}
		var first Object
		if v1, ok := result.(*ListBucketResult); ok {
			first = v1.Contents[0]
		} else {
			first = result.(*ListBucketResultV2).Contents[0]
		}
		if first.Owner == nil || first.Owner.ID == "" {
			t.Errorf("%+v: no owner in %+v", req, first)
		}
	}
}

// tricky keys: unicode of every UTF-8 length, bytes around 0x7f, keys
// that are prefixes of others, keys ending with the delimiter.
var tricky = append(slices.Clone(classic),
	"a", "a/", "a/b", "a/b/c", "a/c", "a//d", "a///", "ab", "b/", "b/x/y",
	"ü/x", "ü/y", "üz", "日本/語/1", "日本/語/2", "日本語", "日本語/x",
	"\u007f/x", "\u0080/x", "\u00ff/a", "\u07ff", "\uffff/x", "\U0010FFFF/x", "\U0010FFFF", "\U0010FFFF\U0010FFFF/y",
	"😀/a", "😀/b", "z", "z/\U0010FFFF", "z/\U0010FFFF/q", " space/x", "plus+/y", "per%cent/z", "~tilde/t",
)

// TestListPagination: following NextMarker, the last key or the
// continuation token page after page visits every key and common prefix
// once, in order, every page full but the last, whatever the page size.
func TestListPagination(t *testing.T) {
	prefixes := []string{"", "a", "a/", "photos/", "ü", "日本/", "\U0010FFFF", "z/", "nothing"}
	delimiters := []string{"", "/", "語", "//", "b", "\U0010FFFF"}
	sizes := []int{1, 2, 3, 4, 5, 6, 7, 1000}
	for _, v2 := range []bool{false, true} {
		for _, encoding := range []string{"", "url"} {
			for _, prefix := range prefixes {
				for _, delimiter := range delimiters {
					for _, size := range sizes {
						for _, levels := range []bool{false, true} {
							name := fmt.Sprintf("v2=%v encoding=%q prefix=%q delimiter=%q size=%d levels=%v", v2, encoding, prefix, delimiter, size, levels)
							keys := tricky
							if encoding == "" {
								// (U+FFFF is listed only URL-encoded.)
								keys = slices.DeleteFunc(slices.Clone(tricky), func(k string) bool { return fitsXML(k) != nil })
							}
							paginate(t, name, keys, levels, ListRequest{V2: v2, EncodingType: encoding, Prefix: prefix, Delimiter: delimiter, MaxKeys: size})
						}
					}
				}
			}
		}
	}
}

func paginate(t *testing.T, name string, keys []string, levels bool, req ListRequest) {
	t.Helper()
	src := newSliceSource(keys...)
	src.levels = levels
	wantKeys, wantPrefixes := reference(keys, req.Prefix, req.Delimiter)
	decode := func(s string) string {
		if req.EncodingType != "url" {
			return s
		}
		decoded, err := url.QueryUnescape(s)
		if err != nil {
			t.Fatalf("%s: %q does not decode: %v", name, s, err)
		}
		return decoded
	}
	var gotKeys, gotPrefixes []string
	last := ""
	for page := 0; ; page++ {
		if page > len(keys)+1 {
			t.Fatalf("%s: still listing after %d pages", name, page)
		}
		result, err := List(t.Context(), src.list, "bucket", req)
		if err != nil {
			t.Fatalf("%s: page %d: %v", name, page, err)
		}
		s := summarize(t, result)
		for i := range s.keys {
			s.keys[i] = decode(s.keys[i])
		}
		for i := range s.prefixes {
			s.prefixes[i] = decode(s.prefixes[i])
		}
		items := slices.Concat(s.keys, s.prefixes)
		sort.Strings(items)
		if len(items) > 0 && items[0] <= last {
			t.Fatalf("%s: page %d starts with %q, not after %q", name, page, items[0], last)
		}
		if s.truncated && len(items) != req.MaxKeys {
			t.Fatalf("%s: page %d is truncated with %d items of %d", name, page, len(items), req.MaxKeys)
		}
		gotKeys = append(gotKeys, s.keys...)
		gotPrefixes = append(gotPrefixes, s.prefixes...)
		if !s.truncated {
			break
		}
		last = items[len(items)-1]
		switch {
		case req.V2:
			result := result.(*ListBucketResultV2)
			if s.next != last {
				t.Fatalf("%s: page %d: token of %q, want %q", name, page, s.next, last)
			}
			req.ContinuationToken = result.NextContinuationToken
		case req.Delimiter != "":
			if decode(s.next) != last {
				t.Fatalf("%s: page %d: NextMarker %q, want %q", name, page, decode(s.next), last)
			}
			req.Marker = decode(s.next)
		default:
			if s.next != "" {
				t.Fatalf("%s: page %d: NextMarker %q without a delimiter", name, page, s.next)
			}
			req.Marker = last
		}
	}
	if fmt.Sprintf("%q", gotKeys) != fmt.Sprintf("%q", wantKeys) || fmt.Sprintf("%q", gotPrefixes) != fmt.Sprintf("%q", wantPrefixes) {
		t.Fatalf("%s:\n got keys %q prefixes %q\nwant keys %q prefixes %q", name, gotKeys, gotPrefixes, wantKeys, wantPrefixes)
	}
}

// A listing of one level answers as a flat one from any start a client
// gives: inside a folder, a folder itself, the prefix's own key, a name
// ending in "/" that is no folder of the level.
func TestListOfOneLevelFromAnyStart(t *testing.T) {
	keys := []string{"a/", "a/b/c/", "a/b/c/x", "a/b/d", "a/b/c0", "a/c", "a/d/", "a/d/e", "a/e", "b/x"}
	starts := []string{"", "a", "a/", "a/b", "a/b/", "a/b/c", "a/b/c/", "a/b/c/x", "a/b/d", "a/c", "a/d/", "a/d/e", "a/e", "a/f/", "b/"}
	for _, prefix := range []string{"", "a/", "a/b/"} {
		for _, start := range starts {
			for _, size := range []int{1, 2, 1000} {
				req := ListRequest{V2: true, Prefix: prefix, Delimiter: "/", StartAfter: start, MaxKeys: size}
				flat, level := newSliceSource(keys...), newSliceSource(keys...)
				level.levels = true
				want, err := List(t.Context(), flat.list, "bucket", req)
				if err != nil {
					t.Fatal(err)
				}
				got, err := List(t.Context(), level.list, "bucket", req)
				if err != nil {
					t.Errorf("prefix %q start %q size %d: %v", prefix, start, size, err)
					continue
				}
				if w, g := summarize(t, want), summarize(t, got); g.String() != w.String() {
					t.Errorf("prefix %q start %q size %d: one level gives %s, flat %s", prefix, start, size, g, w)
				}
			}
		}
	}
}

// A level that gives only the folder already shown (keys of it past
// beyond, on a page a target cut short) does not list it for good: the
// listing goes on flat past them.
func TestListOfOneLevelThatStallsGoesOnFlat(t *testing.T) {
	keys := []string{"d/a", "d/\U0010FFFFz", "d/\U0010FFFFzz", "e/x", "f"}
	level := newSliceSource(keys...)
	level.levels = true
	cut := func(ctx context.Context, prefix, startAfter string, limit int, oneLevel bool) ([]Entry, bool, error) {
		return level.list(ctx, prefix, startAfter, 1, oneLevel) // a page cut to one entry
	}
	req := ListRequest{V2: true, Delimiter: "/", MaxKeys: 1}
	var got []string
	for range 10 {
		result, err := List(t.Context(), cut, "bucket", req)
		if err != nil {
			t.Fatal(err)
		}
		s := summarize(t, result)
		got = append(got, slices.Concat(s.keys, s.prefixes)...)
		if !s.truncated {
			break
		}
		req.ContinuationToken = result.(*ListBucketResultV2).NextContinuationToken
	}
	if want := []string{"d/", "e/", "f"}; !slices.Equal(got, want) {
		t.Fatalf("pages %q, want %q", got, want)
	}
}

// Past a folder shown, a level goes on from the folder itself: keys of
// it that sort past beyond are not read one by one; and a folder name so
// long that the position past it is longer than a name may be (the
// native API refuses such a start) lists on all the same.
func TestListPastAFolderShown(t *testing.T) {
	keys := []string{"-a", "e"}
	for i := range 2000 {
		keys = append(keys, fmt.Sprintf("d/\U0010FFFF%04d", i))
	}
	level := newSliceSource(keys...)
	level.levels = true
	paginateCounting := func(src *sliceSource, req ListRequest) []string {
		t.Helper()
		var got []string
		for range 10 {
			result, err := List(t.Context(), func(ctx context.Context, prefix, startAfter string, limit int, oneLevel bool) ([]Entry, bool, error) {
				if len(startAfter) > store.MaxNameLength {
					return nil, false, fmt.Errorf("a start of %d bytes", len(startAfter))
				}
				return src.list(ctx, prefix, startAfter, limit, oneLevel)
			}, "bucket", req)
			if err != nil {
				t.Fatal(err)
			}
			s := summarize(t, result)
			got = append(got, slices.Concat(s.keys, s.prefixes)...)
			if !s.truncated {
				return got
			}
			req.ContinuationToken = result.(*ListBucketResultV2).NextContinuationToken
		}
		t.Fatal("still listing after 10 pages")
		return nil
	}
	if got := paginateCounting(level, ListRequest{V2: true, Delimiter: "/", MaxKeys: 2}); !slices.Equal(got, []string{"-a", "d/", "e"}) || level.returned > 20 {
		t.Errorf("pages %q, %d entries read, want -a d/ e of a few", got, level.returned)
	}
	long := strings.Repeat("f", store.MaxNameLength-3) + "/"
	for _, levels := range []bool{false, true} {
		src := newSliceSource(long+"x", long+"y", "z")
		src.levels = levels
		if got := paginateCounting(src, ListRequest{V2: true, Delimiter: "/", MaxKeys: 1}); !slices.Equal(got, []string{long, "z"}) || src.calls > 8 {
			t.Errorf("levels %v: pages %.40q in %d calls, want the long folder and z in a few", levels, got, src.calls)
		}
	}
	// Under a prefix that lists flat, past a long folder of many keys.
	folder := "f" + strings.Repeat("g", store.MaxNameLength-5) + "/"
	many := []string{"fz"}
	for i := range 50 {
		many = append(many, fmt.Sprintf("%s%02d", folder, i))
	}
	src := newSliceSource(many...)
	if got := paginateCounting(src, ListRequest{V2: true, Prefix: "f", Delimiter: "/", MaxKeys: 1}); !slices.Equal(got, []string{folder, "fz"}) || src.calls > 20 {
		t.Errorf("pages %.40q in %d calls, want the long folder and fz in a few", got, src.calls)
	}
}

// Folders of one key each under a prefix that lists flat (no level) are
// read in batches that grow: nothing under them is read for nothing.
func TestListOfFoldersOfOneKeyGrowsItsBatches(t *testing.T) {
	var keys []string
	for i := range 1000 {
		keys = append(keys, fmt.Sprintf("img/2024-%04d/x", i))
	}
	src := newSliceSource(keys...)
	result, err := List(t.Context(), src.list, "bucket", ListRequest{V2: true, Prefix: "img/2024-", Delimiter: "/", MaxKeys: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if r := result.(*ListBucketResultV2); len(r.CommonPrefixes) != 1000 || src.calls > 8 {
		t.Errorf("%d common prefixes in %d calls, want 1000 in a few", len(r.CommonPrefixes), src.calls)
	}
}

// Keys that are not UTF-8 can hold 0xff, past the position a common
// prefix jumps to: they are still rolled up once.
func TestListKeysThatAreNotUTF8(t *testing.T) {
	keys := []string{"a/\xff", "a/\xff\xff", "a/\xff\xffz", "a/\xffz", "a\xff", "b", "b/\xff/\xff", "\xff", "\xff/\xff", "\xff\xff/"}
	for _, delimiter := range []string{"/", "\xff"} {
		for size := 1; size <= 5; size++ {
			for _, v2 := range []bool{false, true} {
				for _, levels := range []bool{false, true} {
					name := fmt.Sprintf("delimiter=%q size=%d v2=%v levels=%v", delimiter, size, v2, levels)
					paginate(t, name, keys, levels, ListRequest{V2: v2, Delimiter: delimiter, MaxKeys: size})
				}
			}
		}
	}
}

// A common prefix of many keys costs one call to the source, not a
// page of calls per thousand keys.
func TestListSkipsTheKeysOfACommonPrefix(t *testing.T) {
	keys := []string{"a", "big", "c/1", "zz"}
	for i := range 100_000 {
		keys = append(keys, fmt.Sprintf("big/%06d", i))
	}
	src := newSliceSource(keys...)
	result, err := List(t.Context(), src.list, "bucket", ListRequest{Delimiter: "/", MaxKeys: 1000})
	if err != nil {
		t.Fatal(err)
	}
	want := summary{keys: []string{"a", "big", "zz"}, prefixes: []string{"big/", "c/"}}
	if got := summarize(t, result); got.String() != want.String() {
		t.Errorf("got %s, want %s", got, want)
	}
	if src.calls > 2 || src.returned > 1010 {
		t.Errorf("%d calls returned %d entries, want at most 2 and 1010", src.calls, src.returned)
	}
	// Page by page too, one item a page.
	req := ListRequest{Delimiter: "/", MaxKeys: 1}
	for page := 0; ; page++ {
		src.calls, src.returned = 0, 0
		result, err := List(t.Context(), src.list, "bucket", req)
		if err != nil {
			t.Fatal(err)
		}
		if src.calls > 3 || src.returned > 10 {
			t.Errorf("page %d: %d calls returned %d entries, want at most 3 and 10", page, src.calls, src.returned)
		}
		r := result.(*ListBucketResult)
		if !r.IsTruncated {
			break
		}
		req.Marker = r.NextMarker
	}
}

// A level of many common prefixes of many keys each (folders of a
// dataset) costs about the page, not the keys under its prefixes: each
// batch after a common prefix starts small again.
func TestListOfManyLargePrefixesReadsAboutThePage(t *testing.T) {
	var keys []string
	for dir := range 1000 {
		for i := range 200 {
			keys = append(keys, fmt.Sprintf("train/%04d/%04d", dir, i))
		}
	}
	src := newSliceSource(keys...)
	result, err := List(t.Context(), src.list, "bucket", ListRequest{V2: true, Prefix: "train/", Delimiter: "/", MaxKeys: 1000})
	if err != nil {
		t.Fatal(err)
	}
	r := result.(*ListBucketResultV2)
	if len(r.CommonPrefixes) != 1000 || r.IsTruncated || r.CommonPrefixes[999].Prefix != "train/0999/" {
		t.Fatalf("%d common prefixes, truncated %v", len(r.CommonPrefixes), r.IsTruncated)
	}
	if src.returned > 20*1000 {
		t.Errorf("%d calls returned %d entries for a page of 1000 common prefixes, want at most %d", src.calls, src.returned, 20*1000)
	}
	// A source that lists one level gives the folders in a few calls.
	level := newSliceSource(keys...)
	level.levels = true
	again, err := List(t.Context(), level.list, "bucket", ListRequest{V2: true, Prefix: "train/", Delimiter: "/", MaxKeys: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if summarize(t, again).String() != summarize(t, result).String() {
		t.Errorf("one level listed otherwise than flat")
	}
	if level.calls > 1 {
		t.Errorf("a listing of one level took %d calls for a page of 1000 folders", level.calls)
	}
}

func TestListURLEncoding(t *testing.T) {
	src := newSliceSource("dir one/a(1).png", "dir one/sub/x", "top~file*", "ü+ß", "plain")
	tests := []struct {
		name string
		req  ListRequest
		want string // the answer's encoded fields, as "%q"
	}{
		{
			name: "v1 with a delimiter",
			req:  ListRequest{EncodingType: "url", Prefix: "dir one/", Delimiter: "/", Marker: "dir one/ ", MaxKeys: 1},
			want: `prefix "dir one/" delimiter "/" marker "dir%20one/%20" next "dir%20one/a%281%29.png" keys ["dir%20one/a%281%29.png"] prefixes []`,
		},
		{
			name: "v1 common prefixes",
			req:  ListRequest{EncodingType: "url", Prefix: "dir one/", Delimiter: "/", MaxKeys: 10},
			want: `prefix "dir one/" delimiter "/" marker "" next "" keys ["dir%20one/a%281%29.png"] prefixes ["dir%20one/sub/"]`,
		},
		{
			name: "v2",
			req:  ListRequest{V2: true, EncodingType: "url", StartAfter: "p", MaxKeys: 10},
			want: `prefix "" delimiter "" marker "p" next "" keys ["plain" "top%7Efile*" "%C3%BC%2B%C3%9F"] prefixes []`,
		},
		{
			name: "not asked",
			req:  ListRequest{V2: true, StartAfter: "p", MaxKeys: 10},
			want: `prefix "" delimiter "" marker "p" next "" keys ["plain" "top~file*" "ü+ß"] prefixes []`,
		},
	}
	for _, tc := range tests {
		result, err := List(t.Context(), src.list, "bucket", tc.req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got string
		var contents []Object
		var prefixes []CommonPrefix
		switch r := result.(type) {
		case *ListBucketResult:
			got = fmt.Sprintf("prefix %q delimiter %q marker %q next %q", r.Prefix, r.Delimiter, r.Marker, r.NextMarker)
			contents, prefixes = r.Contents, r.CommonPrefixes
			if r.EncodingType != tc.req.EncodingType {
				t.Errorf("%s: EncodingType %q", tc.name, r.EncodingType)
			}
		case *ListBucketResultV2:
			got = fmt.Sprintf("prefix %q delimiter %q marker %q next %q", r.Prefix, r.Delimiter, r.StartAfter, "")
			contents, prefixes = r.Contents, r.CommonPrefixes
		}
		keys, names := []string{}, []string{}
		for _, c := range contents {
			keys = append(keys, c.Key)
		}
		for _, p := range prefixes {
			names = append(names, p.Prefix)
		}
		got += fmt.Sprintf(" keys %q prefixes %q", keys, names)
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestURLEncode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain/Key-1_2.txt", "plain/Key-1_2.txt"},
		{"a b", "a%20b"},
		{"a+b", "a%2Bb"},
		{"test_file(3).png", "test_file%283%29.png"},
		{"~*", "%7E*"},
		{"100%", "100%25"},
		{"ü", "%C3%BC"},
		{"\x00\x7f\xff", "%00%7F%FF"},
		{"?&=#", "%3F%26%3D%23"},
	}
	for _, tc := range tests {
		got := urlEncode(tc.in)
		if got != tc.want {
			t.Errorf("urlEncode(%q) = %q, want %q", tc.in, got, tc.want)
		}
		// What S3's clients do to undo it.
		if back, err := url.QueryUnescape(got); err != nil || back != tc.in {
			t.Errorf("QueryUnescape(%q) = %q %v, want %q", got, back, err, tc.in)
		}
	}
}

func TestCommonPrefix(t *testing.T) {
	tests := []struct{ key, prefix, delimiter, want string }{
		{"a/b/c", "", "/", "a/"},
		{"a/b/c", "a/", "/", "a/b/"},
		{"a/b", "a/", "/", ""},
		{"a/", "", "/", "a/"},
		{"a/b", "b", "/", ""},
		{"ab//c", "a", "//", "ab//"},
		{"日本/語/1", "日本/", "語", "日本/語"},
	}
	for _, tc := range tests {
		if got := commonPrefix(tc.key, tc.prefix, tc.delimiter); got != tc.want {
			t.Errorf("commonPrefix(%q, %q, %q) = %q, want %q", tc.key, tc.prefix, tc.delimiter, got, tc.want)
		}
	}
}

func TestListRefusals(t *testing.T) {
	src := newSliceSource(classic...)
	broken := errors.New("target down")
	failing := func(context.Context, string, string, int, bool) ([]Entry, bool, error) { return nil, false, broken }
	unordered := func(context.Context, string, string, int, bool) ([]Entry, bool, error) {
		return []Entry{entryOf("b"), entryOf("a")}, false, nil
	}
	offPrefix := func(context.Context, string, string, int, bool) ([]Entry, bool, error) {
		return []Entry{entryOf("other")}, false, nil
	}
	emptyButMore := func(context.Context, string, string, int, bool) ([]Entry, bool, error) { return nil, true, nil }
	tests := []struct {
		name string
		src  Source
		req  ListRequest
		is   error  // the error wanted, or nil to check code
		code string // the S3 code wanted, or "" for an internal error
	}{
		{"negative max-keys", src.list, ListRequest{MaxKeys: -1}, ErrInvalidArgument, ""},
		{"another encoding", src.list, ListRequest{MaxKeys: 1, EncodingType: "base64"}, ErrInvalidArgument, ""},
		{"a token not ours", src.list, ListRequest{V2: true, MaxKeys: 1, ContinuationToken: "%%%"}, ErrInvalidArgument, ""},
		{"the source fails", failing, ListRequest{MaxKeys: 1}, broken, ""},
		{"the source is out of order", unordered, ListRequest{MaxKeys: 5}, nil, ""},
		{"the source is off the prefix", offPrefix, ListRequest{Prefix: "p", MaxKeys: 5}, nil, ""},
		{"the source says more but gives nothing", emptyButMore, ListRequest{MaxKeys: 5}, nil, ""},
	}
	for _, tc := range tests {
		_, err := List(t.Context(), tc.src, "bucket", tc.req)
		switch {
		case err == nil:
			t.Errorf("%s: no error", tc.name)
		case tc.is != nil && !errors.Is(err, tc.is):
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.is)
		case tc.is == nil && errors.As(err, new(*Error)):
			t.Errorf("%s: error %v is an S3 error, want an internal one", tc.name, err)
		}
	}
}

func TestParseListRequest(t *testing.T) {
	tests := []struct {
		query string
		want  ListRequest
		bad   bool
	}{
		{query: "", want: ListRequest{MaxKeys: 1000}},
		{query: "prefix=a%2Fb&delimiter=%2F&marker=m&encoding-type=url", want: ListRequest{Prefix: "a/b", Delimiter: "/", Marker: "m", EncodingType: "url", MaxKeys: 1000}},
		{query: "list-type=2&start-after=s&fetch-owner=true&max-keys=10", want: ListRequest{V2: true, StartAfter: "s", FetchOwner: true, MaxKeys: 10}},
		{query: "list-type=2&continuation-token=" + encodeToken("k"), want: ListRequest{V2: true, ContinuationToken: encodeToken("k"), TokenGiven: true, MaxKeys: 1000}},
		{query: "list-type=1", want: ListRequest{MaxKeys: 1000}},
		{query: "continuation-token=%25%25", want: ListRequest{ContinuationToken: "%%", TokenGiven: true, MaxKeys: 1000}}, // v1 has none
		{query: "max-keys=0", want: ListRequest{MaxKeys: 0}},
		{query: "max-keys=5000", want: ListRequest{MaxKeys: 1000}},
		{query: "max-keys=99999999999999999999999", want: ListRequest{MaxKeys: 1000}},
		{query: "max-keys=", want: ListRequest{MaxKeys: 1000}},
		{query: "max-keys=-1", bad: true},
		{query: "max-keys=ten", bad: true},
		{query: "max-keys=1.5", bad: true},
		{query: "max-keys=+5", bad: true},
		{query: "encoding-type=URL", bad: true},
		{query: "encoding-type=base64", bad: true},
		{query: "list-type=3", bad: true},
		{query: "fetch-owner=perhaps", bad: true},
		{query: "list-type=2&continuation-token=", want: ListRequest{V2: true, MaxKeys: 1000, TokenGiven: true}}, // empty: the first page
		{query: "list-type=2&continuation-token=%25%25", bad: true},
		{query: "list-type=2&continuation-token=a+b", bad: true},
		// Not UTF-8: a key cannot be, and the listing would seek another
		// position.
		{query: "list-type=2&start-after=%FF", bad: true},
		{query: "prefix=a%FF", bad: true},
		{query: "marker=%C3", bad: true},
		{query: "delimiter=%FE", bad: true},
		{query: "list-type=2&continuation-token=" + encodeToken("\xff"), bad: true},
		{query: "prefix=%E2%82%AC", want: ListRequest{Prefix: "€", MaxKeys: 1000}},
	}
	for _, tc := range tests {
		q, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseListRequest(q)
		if tc.bad {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("%q: error %v, want InvalidArgument", tc.query, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %+v %v, want %+v", tc.query, got, err, tc.want)
		}
	}
}

// A key XML 1.0 cannot carry (a control character, U+FFFE) is listed
// only URL-encoded: written as it is, it would be U+FFFD, and a client
// going on after it would skip the keys between.
func TestListOfAKeyXMLCannotCarry(t *testing.T) {
	src := newSliceSource("a\x01", "a0", "a1", "b", "c\uFFFE")
	for _, req := range []ListRequest{{MaxKeys: 1}, {V2: true, MaxKeys: 1000}, {Delimiter: "/", MaxKeys: 1}, {MaxKeys: 1, Marker: "b"}} {
		_, err := List(t.Context(), src.list, "bucket", req)
		var s3err *Error
		if !errors.As(err, &s3err) || s3err.Code != "InvalidArgument" || !strings.Contains(err.Error(), "encoding-type=url") {
			t.Errorf("%+v: %v, want InvalidArgument naming encoding-type=url", req, err)
		}
	}
	// After the key (a marker past it), the listing goes on.
	if _, err := List(t.Context(), src.list, "bucket", ListRequest{Marker: "a\x01", MaxKeys: 2}); err == nil {
		t.Error("a marker XML cannot carry was echoed")
	}
	if _, err := List(t.Context(), src.list, "bucket", ListRequest{Marker: "a0", MaxKeys: 2}); err != nil {
		t.Errorf("a page of keys XML carries: %v", err)
	}
	paginate(t, "url", []string{"a\x01", "a0", "a1", "b", "c\uFFFE"}, false, ListRequest{EncodingType: "url", MaxKeys: 1})
	// v1 echoes its Prefix unencoded, but for one XML cannot carry.
	answer, err := List(t.Context(), src.list, "bucket", ListRequest{EncodingType: "url", Prefix: "a\x01", MaxKeys: 5})
	if err != nil {
		t.Fatal(err)
	}
	if got := answer.(*ListBucketResult).Prefix; got != "a%01" {
		t.Fatalf("v1's Prefix a\\x01 echoed as %q, want a%%01", got)
	}
}
