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
