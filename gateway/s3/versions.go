package s3

import (
	"context"
	"encoding/xml"
	"net/url"
)

// ListVersionsResult answers ListObjectVersions. Buckets here keep no
// versions, so every object is its one version, "null" and the latest,
// as S3 lists the objects of a bucket that never had versioning on.
// Cleanup tools (boto3's bucket.object_versions.delete(), the S3 test
// suites) empty a bucket through this listing.
type ListVersionsResult struct {
	XMLName             xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListVersionsResult"`
	Name                string         `xml:"Name"`
	Prefix              string         `xml:"Prefix"`
	KeyMarker           string         `xml:"KeyMarker"`
	VersionIDMarker     string         `xml:"VersionIdMarker"`
	NextKeyMarker       string         `xml:"NextKeyMarker,omitempty"`
	NextVersionIDMarker string         `xml:"NextVersionIdMarker,omitempty"`
	MaxKeys             int            `xml:"MaxKeys"`
	Delimiter           string         `xml:"Delimiter,omitempty"`
	IsTruncated         bool           `xml:"IsTruncated"`
	Versions            []Version      `xml:"Version"`
	CommonPrefixes      []CommonPrefix `xml:"CommonPrefixes"`
	EncodingType        string         `xml:"EncodingType,omitempty"`
}

// Version is one version of an object in ListVersionsResult.
type Version struct {
	Key          string `xml:"Key"`
	VersionID    string `xml:"VersionId"`
	IsLatest     bool   `xml:"IsLatest"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag,omitempty"`
	Size         int64  `xml:"Size"`
	StorageClass string `xml:"StorageClass"`
	Owner        *Owner `xml:"Owner,omitempty"`
}

// nullVersion is the version id of an object in a bucket without
// versioning.
const nullVersion = "null"

// ListVersions answers a ListObjectVersions of bucket from src: the v1
// listing from key-marker, each key as its null version. A version-id-
// marker other than "null" names a version that does not exist here.
func ListVersions(ctx context.Context, src Source, bucket string, q url.Values) (*ListVersionsResult, error) {
	versionMarker := q.Get("version-id-marker")
	if versionMarker != "" && versionMarker != nullVersion {
		return nil, ErrInvalidArgument.WithMessage("version-id-marker %q: this bucket keeps no versions but %q", versionMarker, nullVersion)
	}
	if versionMarker != "" && q.Get("key-marker") == "" {
		return nil, ErrInvalidArgument.WithMessage("a version-id-marker needs a key-marker")
	}
	params := url.Values{}
	for _, name := range []string{"prefix", "delimiter", "max-keys", "encoding-type"} {
		if q.Has(name) {
			params.Set(name, q.Get(name))
		}
	}
	params.Set("marker", q.Get("key-marker"))
	req, err := ParseListRequest(params)
	if err != nil {
		return nil, err
	}
	answer, err := List(ctx, src, bucket, req)
	if err != nil {
		return nil, err
	}
	list := answer.(*ListBucketResult)
	prefix := list.Prefix
	if req.EncodingType == "url" {
		// Unlike v1's, this Prefix is encoded: clients decode it. (From
		// the one asked: v1's may be encoded already, XML not carrying
		// it.)
		prefix = urlEncode(req.Prefix)
	}
	out := &ListVersionsResult{
		Name: bucket, Prefix: prefix, KeyMarker: list.Marker, VersionIDMarker: versionMarker, MaxKeys: list.MaxKeys,
		Delimiter: list.Delimiter, IsTruncated: list.IsTruncated, CommonPrefixes: list.CommonPrefixes, EncodingType: list.EncodingType,
	}
	for _, o := range list.Contents {
		out.Versions = append(out.Versions, Version{Key: o.Key, VersionID: nullVersion, IsLatest: true, LastModified: o.LastModified,
			ETag: o.ETag, Size: o.Size, StorageClass: o.StorageClass, Owner: o.Owner})
	}
	if out.IsTruncated {
		// Without a delimiter v1 gives no NextMarker: the last key is.
		out.NextKeyMarker = list.NextMarker
		if out.NextKeyMarker == "" && len(list.Contents) > 0 {
			out.NextKeyMarker = list.Contents[len(list.Contents)-1].Key
		}
		out.NextVersionIDMarker = nullVersion
	}
	return out, nil
}
