package gateway

import (
	"errors"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/api"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		spec          string
		size          int64
		start, length int64
		ok            bool
	}{
		{"bytes=0-0", 10, 0, 1, true},
		{"bytes=0-9", 10, 0, 10, true},
		{"bytes=0-100", 10, 0, 10, true},
		{"bytes=9-", 10, 9, 1, true},
		{"bytes=-4", 10, 6, 4, true},
		{"bytes=-40", 10, 0, 10, true},
		{" bytes=2-3 ", 10, 2, 2, true},
		{"Bytes=2-3", 10, 2, 2, true},
		{"items=2-3", 10, 0, 0, false}, // ignored
		{"bytes=10-", 10, 0, 0, false},
		{"bytes=-0", 10, 0, 0, false},
		{"bytes=3-2", 10, 0, 0, false},
		{"bytes=1-2,4-5", 10, 0, 0, false},
		{"bytes=a-b", 10, 0, 0, false},
		{"bytes=+1-2", 10, 0, 0, false},
		{"bytes=-", 10, 0, 0, false},
		{"bytes=0-", 0, 0, 0, false},
		{"bytes=-100", 0, 0, 0, false}, // ignored: the whole, empty object
		{"bits=0-1", 10, 0, 0, false},
		{"bytes=99999999999999999999-", 10, 0, 0, false},
		{"bytes=0-999999999999999999999", 10, 0, 10, true},
		{"bytes=4-999999999999999999999", 10, 4, 6, true},
		{"bytes=-999999999999999999999", 10, 0, 10, true},
	}
	for _, tc := range tests {
		start, length, err := parseRange(tc.spec, tc.size)
		if tc.ok != (err == nil) || start != tc.start || length != tc.length {
			t.Errorf("%q of %d: %d+%d %v, want %d+%d ok=%v", tc.spec, tc.size, start, length, err, tc.start, tc.length, tc.ok)
		}
		ignored := strings.HasPrefix(tc.spec, "items") || strings.HasPrefix(tc.spec, "bits") || strings.Contains(tc.spec, ",") || tc.spec == "bytes=-100" && tc.size == 0
		if ignored && !errors.Is(err, errIgnoreRange) {
			t.Errorf("%q of %d: %v, want the Range ignored", tc.spec, tc.size, err)
		}
		if err != nil && !errors.Is(err, api.ErrRange) && !(ignored && errors.Is(err, errIgnoreRange)) {
			t.Errorf("%q: error %v is not ErrRange (or ignored, for another unit or several ranges)", tc.spec, err)
		}
	}
}

// FuzzParseRange: an accepted range always lies inside the object.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-1", "bytes=-5", "bytes=3-", "bytes=1-2,3-4", "bytes=-0"} {
		f.Add(s, int64(10))
	}
	f.Fuzz(func(t *testing.T, spec string, size int64) {
		if size < 0 {
			size = -size
		}
		start, length, err := parseRange(spec, size)
		if err != nil {
			return
		}
		if start < 0 || length <= 0 || start+length > size {
			t.Fatalf("%q of %d gave %d+%d, outside the object", spec, size, start, length)
		}
	})
}

// FuzzContinuationToken: tokens round-trip, and any string either decodes
// to a name of bounded length or is refused as a bad request.
func FuzzContinuationToken(f *testing.F) {
	for _, s := range []string{"", "a", "dir/obj-000001", "ü/名前", "!!", "YQ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) <= 1024 {
			got, err := decodeToken(encodeToken(s))
			if err != nil || got != s {
				t.Fatalf("token of %q decodes to %q, %v", s, got, err)
			}
		}
		name, err := decodeToken(s)
		if err != nil && !errors.Is(err, api.ErrBadRequest) {
			t.Fatalf("token %q: %v is not a bad request", s, err)
		}
		if err == nil && len(name) > 1024 {
			t.Fatalf("token %q decodes to %d bytes", s, len(name))
		}
	})
}
