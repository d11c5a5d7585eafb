package s3

import (
	"errors"
	"net/url"
	"testing"
)

func TestListVersions(t *testing.T) {
	src := newSliceSource("a", "b", "c/d", "c/e")
	got, err := ListVersions(t.Context(), src.list, "bucket", url.Values{"versions": {""}, "max-keys": {"2"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Versions) != 2 || got.Versions[0].Key != "a" || got.Versions[1].Key != "b" || !got.IsTruncated ||
		got.NextKeyMarker != "b" || got.NextVersionIDMarker != "null" {
		t.Fatalf("first page: %+v", got)
	}
	for _, v := range got.Versions {
		if v.VersionID != "null" || !v.IsLatest || v.Owner == nil {
			t.Errorf("version %+v: want the null version, latest, with an owner", v)
		}
	}
	// The next page from the markers, with a delimiter.
	next, err := ListVersions(t.Context(), src.list, "bucket", url.Values{"key-marker": {"b"}, "version-id-marker": {"null"}, "delimiter": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(next.Versions) != 0 || len(next.CommonPrefixes) != 1 || next.CommonPrefixes[0].Prefix != "c/" || next.IsTruncated ||
		next.KeyMarker != "b" || next.VersionIDMarker != "null" {
		t.Fatalf("second page: %+v", next)
	}
	// With encoding-type=url every name is encoded, the Prefix too.
	encoded, err := ListVersions(t.Context(), src.list, "bucket", url.Values{"prefix": {"c/"}, "delimiter": {"/"}, "encoding-type": {"url"}, "key-marker": {"c d"}})
	if err != nil {
		t.Fatal(err)
	}
	if encoded.Prefix != "c/" || encoded.KeyMarker != "c%20d" || len(encoded.Versions) != 2 || encoded.Versions[0].Key != "c/d" {
		t.Fatalf("encoded: %+v", encoded)
	}
	spaced, err := ListVersions(t.Context(), newSliceSource("a b/c").list, "bucket", url.Values{"prefix": {"a b/"}, "encoding-type": {"url"}})
	if err != nil || spaced.Prefix != "a%20b/" || len(spaced.Versions) != 1 || spaced.Versions[0].Key != "a%20b/c" {
		t.Fatalf("a prefix with a space: %+v %v", spaced, err)
	}
	// One XML cannot carry, encoded once (v1's Prefix is encoded for it).
	control, err := ListVersions(t.Context(), newSliceSource("a\x01/c").list, "bucket", url.Values{"prefix": {"a\x01/"}, "encoding-type": {"url"}})
	if err != nil || control.Prefix != "a%01/" {
		t.Fatalf("a prefix with a control character: %+v %v, want it encoded once", control, err)
	}
	for _, bad := range []url.Values{
		{"key-marker": {"a"}, "version-id-marker": {"3HL4kqtJlcpXroDTDmJ"}}, // a version that cannot exist
		{"version-id-marker": {"null"}},                                     // without a key-marker
		{"max-keys": {"-1"}},
		{"encoding-type": {"base64"}},
	} {
		if _, err := ListVersions(t.Context(), src.list, "bucket", bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%v: %v, want InvalidArgument", bad, err)
		}
	}
}
