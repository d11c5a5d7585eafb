package s3

import (
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		header        string
		size          int64
		start, length int64
		ok            bool
		unsatisfiable bool
	}{
		{header: "", size: 10},
		{header: "bytes=0-0", size: 10, start: 0, length: 1, ok: true},
		{header: "bytes=0-9", size: 10, start: 0, length: 10, ok: true},
		{header: "bytes=2-5", size: 10, start: 2, length: 4, ok: true},
		{header: "bytes=0-100", size: 10, start: 0, length: 10, ok: true},
		{header: "bytes=9-", size: 10, start: 9, length: 1, ok: true},
		{header: "bytes=-4", size: 10, start: 6, length: 4, ok: true},
		{header: "bytes=-40", size: 10, start: 0, length: 10, ok: true},
		{header: " bytes = 2 - 3 ", size: 10, start: 2, length: 2, ok: true},
		{header: "Bytes=1-1", size: 10, start: 1, length: 1, ok: true},
		{header: "bytes=0-999999999999999999999", size: 10, start: 0, length: 10, ok: true},
		{header: "bytes=-999999999999999999999", size: 10, start: 0, length: 10, ok: true},
		// Unsatisfiable: 416.
		{header: "bytes=10-", size: 10, unsatisfiable: true},
		{header: "bytes=10-20", size: 10, unsatisfiable: true},
		{header: "bytes=-0", size: 10, unsatisfiable: true},
		{header: "bytes=0-", size: 0, unsatisfiable: true},
		{header: "bytes=-1", size: 0, unsatisfiable: true},
		{header: "bytes=99999999999999999999-", size: 10, unsatisfiable: true},
		// Ignored as S3 does: the whole object.
		{header: "bytes=3-2", size: 10},
		{header: "bytes=20-10", size: 10},
		{header: "bytes=1-2,4-5", size: 10},
		{header: "bytes=0-1,", size: 10},
		{header: "bytes=a-b", size: 10},
		{header: "bytes=+1-2", size: 10},
		{header: "bytes=1-+2", size: 10},
		{header: "bytes=-", size: 10},
		{header: "bytes=", size: 10},
		{header: "bytes=5", size: 10},
		{header: "bytes=--5", size: 10},
		{header: "bytes 0-1", size: 10},
		{header: "bits=0-1", size: 10},
		{header: "items=0-1", size: 10},
	}
	for _, tc := range tests {
		start, length, ok, err := ParseRange(tc.header, tc.size)
		if tc.unsatisfiable {
			var e *Error
			if !errors.As(err, &e) || e.Code != "InvalidRange" || e.Status != 416 || ok {
				t.Errorf("%q of %d: %v ok=%v, want InvalidRange", tc.header, tc.size, err, ok)
			}
			continue
		}
		if err != nil || ok != tc.ok || start != tc.start || length != tc.length {
			t.Errorf("%q of %d: %d+%d ok=%v %v, want %d+%d ok=%v", tc.header, tc.size, start, length, ok, err, tc.start, tc.length, tc.ok)
		}
	}
}

// FuzzParseRange: a range that applies lies inside the object, and an
// error is always InvalidRange.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-1", "bytes=-5", "bytes=3-", "bytes=1-2,3-4", "bytes=-0", "bytes=9-3", "Bytes= 1 - 2"} {
		f.Add(s, int64(10))
	}
	f.Add("bytes=0-", int64(0))
	f.Fuzz(func(t *testing.T, header string, size int64) {
		if size < 0 {
			size = -(size + 1)
		}
		start, length, ok, err := ParseRange(header, size)
		if err != nil {
			if ok || !errors.Is(err, ErrInvalidRange) {
				t.Fatalf("%q of %d: ok=%v with %v", header, size, ok, err)
			}
			return
		}
		if !ok {
			if start != 0 || length != 0 {
				t.Fatalf("%q of %d: %d+%d without a range", header, size, start, length)
			}
			return
		}
		if start < 0 || length < 1 || start >= size || length > size-start {
			t.Fatalf("%q of %d: %d+%d is outside the object", header, size, start, length)
		}
	})
}

func TestCheckConditions(t *testing.T) {
	const (
		before = "Mon, 01 Jan 2024 00:00:00 GMT"
		same   = "Tue, 02 Jan 2024 03:04:05 GMT" // modified, to the second
		after  = "Wed, 03 Jan 2024 00:00:00 GMT"
	)
	tests := []struct {
		name    string
		method  string
		headers map[string]string
		want    error // nil, ErrNotModified or ErrPreconditionFailed
	}{
		{"no condition", "GET", nil, nil},
		{"If-Match quoted", "GET", map[string]string{"If-Match": `"abc"`}, nil},
		{"If-Match unquoted", "GET", map[string]string{"If-Match": `abc`}, nil},
		{"If-Match in a list", "GET", map[string]string{"If-Match": `"x", "abc"`}, nil},
		{"If-Match any", "GET", map[string]string{"If-Match": `*`}, nil},
		{"If-Match another", "GET", map[string]string{"If-Match": `"x"`}, ErrPreconditionFailed},
		{"If-Match weak never matches", "GET", map[string]string{"If-Match": `W/"abc"`}, ErrPreconditionFailed},
		{"If-Match empty quotes", "GET", map[string]string{"If-Match": `""`}, ErrPreconditionFailed},
		{"If-Unmodified-Since before", "GET", map[string]string{"If-Unmodified-Since": before}, ErrPreconditionFailed},
		{"If-Unmodified-Since the same second", "GET", map[string]string{"If-Unmodified-Since": same}, nil},
		{"If-Unmodified-Since after", "GET", map[string]string{"If-Unmodified-Since": after}, nil},
		{"If-Unmodified-Since invalid", "GET", map[string]string{"If-Unmodified-Since": "yesterday"}, nil},
		{"If-Match true makes If-Unmodified-Since moot", "GET", map[string]string{"If-Match": `"abc"`, "If-Unmodified-Since": before}, nil},
		{"If-Match false with If-Unmodified-Since true", "GET", map[string]string{"If-Match": `"x"`, "If-Unmodified-Since": after}, ErrPreconditionFailed},
		{"If-None-Match the same", "GET", map[string]string{"If-None-Match": `"abc"`}, ErrNotModified},
		{"If-None-Match weak", "GET", map[string]string{"If-None-Match": `W/"abc"`}, ErrNotModified},
		{"If-None-Match any", "HEAD", map[string]string{"If-None-Match": `*`}, ErrNotModified},
		{"If-None-Match another", "GET", map[string]string{"If-None-Match": `"x", W/"y"`}, nil},
		{"If-Modified-Since before", "GET", map[string]string{"If-Modified-Since": before}, nil},
		{"If-Modified-Since the same second", "GET", map[string]string{"If-Modified-Since": same}, ErrNotModified},
		{"If-Modified-Since after", "HEAD", map[string]string{"If-Modified-Since": after}, ErrNotModified},
		{"If-Modified-Since in RFC 850", "GET", map[string]string{"If-Modified-Since": "Tuesday, 02-Jan-24 03:04:05 GMT"}, ErrNotModified},
		{"If-Modified-Since in ANSI C", "GET", map[string]string{"If-Modified-Since": "Tue Jan  2 03:04:05 2024"}, ErrNotModified},
		{"If-Modified-Since invalid", "GET", map[string]string{"If-Modified-Since": "2024-01-03"}, nil},
		{"If-None-Match true makes If-Modified-Since moot", "GET", map[string]string{"If-None-Match": `"x"`, "If-Modified-Since": after}, nil},
		{"If-None-Match false with If-Modified-Since true", "GET", map[string]string{"If-None-Match": `"abc"`, "If-Modified-Since": before}, ErrNotModified},
		{"412 before 304", "GET", map[string]string{"If-Match": `"x"`, "If-None-Match": `"abc"`}, ErrPreconditionFailed},
		{"a PUT with If-None-Match any", "PUT", map[string]string{"If-None-Match": "*"}, ErrPreconditionFailed},
		{"a PUT ignores If-Modified-Since", "PUT", map[string]string{"If-Modified-Since": after}, nil},
		{"a DELETE with If-Match another", "DELETE", map[string]string{"If-Match": `"x"`}, ErrPreconditionFailed},
	}
	modified := time.Date(2024, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	for _, tc := range tests {
		r := httptest.NewRequest(tc.method, "/b/k", nil)
		for k, v := range tc.headers {
			r.Header.Set(k, v)
		}
		for _, etag := range []string{"abc", `"abc"`} {
			err := CheckConditions(r, etag, modified)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("%s (etag %s): %v, want %v", tc.name, etag, err, tc.want)
			}
			var e *Error
			if errors.As(err, &e) && (e.Resource != "/b/k" || e.Message == "") {
				t.Errorf("%s: resource %q message %q", tc.name, e.Resource, e.Message)
			}
		}
	}
}

// An object of no known modification time (a remote's, not cached) is
// held to no date: If-Modified-Since and If-Unmodified-Since are
// ignored, the entity tags still count (RFC 9110 13.1.3, 13.1.4).
func TestCheckConditionsWithoutAModificationTime(t *testing.T) {
	for header, want := range map[string]error{
		"If-Modified-Since": nil, "If-Unmodified-Since": nil, "If-None-Match": ErrNotModified,
	} {
		value := "Mon, 01 Jan 2024 00:00:00 GMT"
		if header == "If-None-Match" {
			value = `"abc"`
		}
		r := &http.Request{Method: http.MethodHead, Header: http.Header{header: {value}}}
		if err := CheckConditions(r, "abc", time.Time{}); !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("%s with no modification time: %v, want %v", header, err, want)
		}
	}
}

// A request with only headers (no method, no URL) is a GET.
func TestCheckConditionsOfABareRequest(t *testing.T) {
	r := &http.Request{Header: http.Header{"If-None-Match": {`"abc"`}}}
	if err := CheckConditions(r, "abc", time.Now()); !errors.Is(err, ErrNotModified) {
		t.Errorf("%v, want NotModified", err)
	}
}

func TestCheckCopyConditions(t *testing.T) {
	modified := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		headers map[string]string
		want    error
	}{
		{"none", nil, nil},
		{"if-match", map[string]string{"x-amz-copy-source-if-match": `"abc"`}, nil},
		{"if-match another", map[string]string{"x-amz-copy-source-if-match": `"x"`}, ErrPreconditionFailed},
		{"if-none-match the same", map[string]string{"x-amz-copy-source-if-none-match": `"abc"`}, ErrPreconditionFailed},
		{"if-modified-since after", map[string]string{"x-amz-copy-source-if-modified-since": "Wed, 03 Jan 2024 00:00:00 GMT"}, ErrPreconditionFailed},
		{"if-unmodified-since before", map[string]string{"x-amz-copy-source-if-unmodified-since": "Mon, 01 Jan 2024 00:00:00 GMT"}, ErrPreconditionFailed},
		{"if-match true and if-unmodified-since false", map[string]string{"x-amz-copy-source-if-match": `"abc"`, "x-amz-copy-source-if-unmodified-since": "Mon, 01 Jan 2024 00:00:00 GMT"}, nil},
		{"GET's headers do not count", map[string]string{"If-Match": `"x"`}, nil},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("PUT", "/b/copy", nil)
		r.Header.Set("X-Amz-Copy-Source", "/src/k")
		for k, v := range tc.headers {
			r.Header.Set(k, v)
		}
		err := CheckCopyConditions(r, "abc", modified)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		var e *Error
		if errors.As(err, &e) && (e.Status != 412 || e.Resource != "/src/k") {
			t.Errorf("%s: status %d resource %q", tc.name, e.Status, e.Resource)
		}
	}
}

func TestQuoteETag(t *testing.T) {
	for in, want := range map[string]string{"": "", "abc": `"abc"`, `"abc"`: `"abc"`, `"`: `"""`, "abc-2": `"abc-2"`} {
		if got := QuoteETag(in); got != want {
			t.Errorf("QuoteETag(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestApplyOverrides(t *testing.T) {
	tests := []struct {
		query string
		want  http.Header
	}{
		{"", http.Header{"Content-Type": {"binary/octet-stream"}}},
		{
			"response-content-type=text%2Fplain&response-content-language=fr&response-expires=Thu%2C+01+Dec+1994+16%3A00%3A00+GMT&response-cache-control=no-cache&response-content-disposition=attachment%3B+filename%3Da.txt&response-content-encoding=gzip",
			http.Header{
				"Content-Type": {"text/plain"}, "Content-Language": {"fr"}, "Expires": {"Thu, 01 Dec 1994 16:00:00 GMT"},
				"Cache-Control": {"no-cache"}, "Content-Disposition": {"attachment; filename=a.txt"}, "Content-Encoding": {"gzip"},
			},
		},
		{"response-content-type=&response-other=x&content-type=y", http.Header{"Content-Type": {"binary/octet-stream"}}},
	}
	for _, tc := range tests {
		q, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{"Content-Type": {"binary/octet-stream"}}
		ApplyOverrides(h, q)
		if fmt.Sprint(h) != fmt.Sprint(tc.want) {
			t.Errorf("%q: %v, want %v", tc.query, h, tc.want)
		}
	}
}

func TestParseContentMD5(t *testing.T) {
	empty := md5.Sum(nil)
	tests := []struct {
		value string
		want  []byte
	}{
		{base64.StdEncoding.EncodeToString(empty[:]), empty[:]},
		{"", nil},
		{"not base64!", nil},
		{base64.StdEncoding.EncodeToString(empty[:15]), nil},
		{base64.StdEncoding.EncodeToString(append(empty[:], 0)), nil},
		{strings.TrimRight(base64.StdEncoding.EncodeToString(empty[:]), "="), nil},
		{"1B2M2Y8AsgTpgAmY7PhCfg=", nil},          // one '=' short
		{"d41d8cd98f00b204e9800998ecf8427e", nil}, // hex, not base64
	}
	for _, tc := range tests {
		got, err := ParseContentMD5(tc.value)
		if tc.want == nil {
			if !errors.Is(err, ErrInvalidDigest) {
				t.Errorf("%q: %x %v, want InvalidDigest", tc.value, got, err)
			}
			continue
		}
		if err != nil || string(got) != string(tc.want) {
			t.Errorf("%q: %x %v, want %x", tc.value, got, err, tc.want)
		}
	}
}

func TestValidateBucketName(t *testing.T) {
	tests := []struct {
		name string
		rule string // part of the message, "" when valid
	}{
		{"abc", ""},
		{"my-bucket.1", ""},
		{"1.2.3", ""},
		{"1bucket", ""},
		{"xn-abc", ""},
		{"s3alias-x", ""},
		{strings.Repeat("a", 63), ""},
		{"", "not between 3 and 63"},
		{"ab", "not between 3 and 63"},
		{strings.Repeat("a", 64), "not between 3 and 63"},
		{"My-bucket", "lowercase"},
		{"my_bucket", "lowercase"},
		{"my bucket", "lowercase"},
		{"bücket", "lowercase"},
		{"-abc", "start and end"},
		{"abc-", "start and end"},
		{".abc", "start and end"},
		{"abc.", "start and end"},
		{"a..b", "two adjacent periods"},
		{"foo.-bar", "hyphen next to a period"},
		{"foo-.bar", "hyphen next to a period"},
		{"192.168.5.4", "IP address"},
		{"999.1.1.1", "IP address"},
		{"xn--abc", `prefix "xn--"`},
		{"sthree-abc", `prefix "sthree-"`},
		{"abc-s3alias", `suffix "-s3alias"`},
		{"abc--ol-s3", `suffix "--ol-s3"`},
	}
	for _, tc := range tests {
		err := ValidateBucketName(tc.name)
		if tc.rule == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.name, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != "InvalidBucketName" || e.Status != 400 || !strings.Contains(e.Message, tc.rule) {
			t.Errorf("%q: %v, want InvalidBucketName saying %q", tc.name, err, tc.rule)
		}
	}
}

func TestStoredHeaders(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		want   map[string]string
		large  bool
	}{
		{name: "nothing", header: http.Header{"Authorization": {"x"}, "Content-Length": {"3"}}, want: map[string]string{}},
		{
			name: "user metadata and standard headers",
			header: http.Header{
				"X-Amz-Meta-Color":  {"red"},
				"x-amz-meta-Shape":  {"round"}, // a map built by hand
				"X-Amz-Meta-Tags":   {"a", "b"},
				"X-Amz-Meta-":       {"no name"},
				"Content-Type":      {"text/plain"},
				"Content-Encoding":  {"gzip"},
				"Cache-Control":     {"no-cache"},
				"Expires":           {"Thu, 01 Dec 1994 16:00:00 GMT"},
				"Content-Language":  {"fr"},
				"X-Amz-Acl":         {"private"},
				"X-Amz-Storage-Cls": {"GLACIER"},
			},
			want: map[string]string{
				"s3.meta.color": "red", "s3.meta.shape": "round", "s3.meta.tags": "a,b",
				"s3.content-type": "text/plain", "s3.content-encoding": "gzip", "s3.cache-control": "no-cache",
				"s3.expires": "Thu, 01 Dec 1994 16:00:00 GMT", "s3.content-language": "fr",
			},
		},
		{name: "two spellings of one name", header: http.Header{"X-Amz-Meta-A": {"1"}, "x-amz-meta-a": {"2"}}, want: nil}, // order of a map: checked below
		{name: "2 KiB of user metadata", header: http.Header{"X-Amz-Meta-A": {strings.Repeat("v", MaxUserMetadata-1)}, "Content-Type": {strings.Repeat("t", 400)}}, want: map[string]string{"s3.meta.a": strings.Repeat("v", MaxUserMetadata-1), "s3.content-type": strings.Repeat("t", 400)}},
		// What the object could not keep is refused at the start (of an
		// upload too), not when it is stored.
		{name: "and a long Content-Disposition", header: http.Header{"X-Amz-Meta-A": {strings.Repeat("v", MaxUserMetadata-1)}, "Content-Disposition": {strings.Repeat("d", 1200)}}, large: true},
		{name: "a 70 KB Content-Disposition", header: http.Header{"Content-Disposition": {strings.Repeat("d", 70_000)}}, large: true},
		{name: "a byte more", header: http.Header{"X-Amz-Meta-A": {strings.Repeat("v", MaxUserMetadata)}}, large: true},
		{name: "many small ones", header: manyMeta(500), large: true},
	}
	for _, tc := range tests {
		got, err := StoredHeaders(tc.header)
		if tc.large {
			var e *Error
			if !errors.As(err, &e) || e.Code != "MetadataTooLarge" || e.Status != 400 {
				t.Errorf("%s: %v, want MetadataTooLarge", tc.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if tc.want == nil {
			if v := got["s3.meta.a"]; v != "1,2" && v != "2,1" {
				t.Errorf("%s: %q", tc.name, v)
			}
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s:\n got %v\nwant %v", tc.name, got, tc.want)
		}
	}
}

func manyMeta(n int) http.Header {
	h := http.Header{}
	for i := range n {
		h.Set(fmt.Sprintf("X-Amz-Meta-K%d", i), "v")
	}
	return h
}

func TestRestoreHeaders(t *testing.T) {
	put := http.Header{
		"X-Amz-Meta-Color":    {"red"},
		"Content-Type":        {"image/png"},
		"Content-Disposition": {"attachment"},
	}
	custom, err := StoredHeaders(put)
	if err != nil {
		t.Fatal(err)
	}
	custom["s3.etag"] = "abc"             // the store's, not a header
	custom["s3.meta.bad name"] = "x"      // not a header name
	custom["s3.meta."] = "x"              // no name
	custom["s3.x-unknown"] = "x"          // not a stored header
	custom["user-key"] = "AIS metadata"   // AIS's own
	custom["s3.meta.multi-word"] = "a, b" // a value with a comma
	got := http.Header{"Content-Length": {"5"}}
	RestoreHeaders(got, custom)
	want := http.Header{
		"Content-Length":        {"5"},
		"x-amz-meta-color":      {"red"},
		"x-amz-meta-multi-word": {"a, b"},
		"Content-Type":          {"image/png"},
		"Content-Disposition":   {"attachment"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("\n got %v\nwant %v", got, want)
	}
	RestoreHeaders(got, nil)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("nil custom changed the headers: %v", got)
	}
}

func TestParseCopyRange(t *testing.T) {
	tests := []struct {
		spec          string
		start, length int64
		code          string // the error's S3 code; "" for none
	}{
		{"bytes=0-4", 0, 5, ""},
		{"bytes=2-2", 2, 1, ""},
		{"bytes=0-21", 0, 0, "InvalidRange"}, // past the 5 bytes: not clamped
		{"bytes=5-5", 0, 0, "InvalidRange"},
		{"bytes=3-1", 0, 0, "InvalidArgument"},
		{"bytes=-2", 0, 0, "InvalidArgument"}, // a suffix is a read's, not a copy's
		{"bytes=1-", 0, 0, "InvalidArgument"},
		{"0-4", 0, 0, "InvalidArgument"},
		{"bytes=0-1,3-4", 0, 0, "InvalidArgument"},
	}
	for _, tc := range tests {
		start, length, err := ParseCopyRange(tc.spec, 5)
		var e *Error
		switch {
		case tc.code == "" && (err != nil || start != tc.start || length != tc.length):
			t.Errorf("%q: %d+%d %v, want %d+%d", tc.spec, start, length, err, tc.start, tc.length)
		case tc.code != "" && (!errors.As(err, &e) || e.Code != tc.code):
			t.Errorf("%q: %v, want %s", tc.spec, err, tc.code)
		}
	}
}
