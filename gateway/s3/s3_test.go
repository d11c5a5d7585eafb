package s3_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	s3api "github.com/aisgo/aisgo/gateway/s3"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/store"
)

const (
	accessKey = "AKIDAISGOTEST"
	secretKey = "a-secret-of-the-test-cluster"
)

// testCluster starts a gateway and two targets whose S3 API wants
// requests signed with the test key.
func testCluster(t *testing.T) (*gatewaytest.Cluster, string) {
	return testClusterOf(t, false)
}

// testClusterOf starts a gateway and two targets, or one node that is
// both (whose S3 API reads and writes its own objects in process).
func testClusterOf(t *testing.T, embedded bool) (*gatewaytest.Cluster, string) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, Embedded: embedded, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.S3Keys = map[string]string{accessKey: secretKey}
	}})
	return c, c.Primary().URL() + "/s3"
}

// bothClusters runs a test on a gateway with two targets and on an
// embedded node.
func bothClusters(t *testing.T, test func(t *testing.T, c *gatewaytest.Cluster, endpoint string)) {
	for _, embedded := range []bool{false, true} {
		name := "gateway-and-targets"
		if embedded {
			name = "embedded"
		}
		t.Run(name, func(t *testing.T) {
			c, endpoint := testClusterOf(t, embedded)
			test(t, c, endpoint)
		})
	}
}

func newClient(endpoint, secret string) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, secret, ""),
		Retryer:      aws.NopRetryer{},
	})
}

// code is the S3 error code of an SDK error, "" for none.
func code(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func randomBytes(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func md5hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

func TestBucketsAndObjects(t *testing.T) { bothClusters(t, testBucketsAndObjects) }

func testBucketsAndObjects(t *testing.T, c *gatewaytest.Cluster, endpoint string) {
	client := newClient(endpoint, secretKey)
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatal(err)
	}
	// In us-east-1, as S3 answers there, a bucket made again is made.
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatalf("create twice in us-east-1: %v", err)
	}
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("nothing")}); err == nil {
		t.Fatal("HEAD of a missing bucket succeeded")
	}
	buckets, err := client.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil || len(buckets.Buckets) != 1 || aws.ToString(buckets.Buckets[0].Name) != "photos" {
		t.Fatalf("list buckets: %+v %v", buckets, err)
	}
	if created := aws.ToTime(buckets.Buckets[0].CreationDate); time.Since(created) > time.Minute || time.Until(created) > time.Minute {
		t.Fatalf("the bucket's CreationDate %v is not about now", created)
	}
	data := randomBytes(300<<10, 1)
	put, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("photos"), Key: aws.String("2006/January/sample.jpg"), Body: bytes.NewReader(data),
		ContentType: aws.String("image/jpeg"), CacheControl: aws.String("max-age=60"),
		Metadata: map[string]string{"Camera": "x100", "lens": "23mm"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := `"` + md5hex(data) + `"`; aws.ToString(put.ETag) != want {
		t.Fatalf("PUT ETag %s, want %s", aws.ToString(put.ETag), want)
	}
	got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("2006/January/sample.jpg")})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.Equal(body, data) || aws.ToString(got.ContentType) != "image/jpeg" || aws.ToString(got.CacheControl) != "max-age=60" ||
		got.Metadata["camera"] != "x100" || got.Metadata["lens"] != "23mm" || aws.ToString(got.ETag) != aws.ToString(put.ETag) {
		t.Fatalf("GET: %d bytes, type %s, cache %s, metadata %v, etag %s", len(body), aws.ToString(got.ContentType), aws.ToString(got.CacheControl), got.Metadata, aws.ToString(got.ETag))
	}
	// The same object through the native API: one namespace.
	native, err := c.Client().GetBytes(ctx, "photos", "2006/January/sample.jpg", api.GetOptions{})
	if err != nil || !bytes.Equal(native, data) {
		t.Fatalf("native GET of an S3 object: %d bytes, %v", len(native), err)
	}
	if _, err := c.Client().Put(ctx, "photos", "native.txt", strings.NewReader("native bytes"), api.PutOptions{Size: 12}); err != nil {
		t.Fatal(err)
	}
	nativeObject, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("native.txt")})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(nativeObject.Body); string(b) != "native bytes" {
		t.Fatalf("S3 GET of a native object: %q", b)
	}
	// Ranges.
	for _, tc := range []struct {
		spec       string
		start, end int
	}{
		{"bytes=2-5", 2, 5}, {"bytes=-3", len(data) - 3, len(data) - 1}, {"bytes=100-", 100, len(data) - 1}, {"bytes=10-999999999", 10, len(data) - 1},
	} {
		r, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("2006/January/sample.jpg"), Range: aws.String(tc.spec)})
		if err != nil {
			t.Fatalf("%s: %v", tc.spec, err)
		}
		part, _ := io.ReadAll(r.Body)
		r.Body.Close()
		want := fmt.Sprintf("bytes %d-%d/%d", tc.start, tc.end, len(data))
		if !bytes.Equal(part, data[tc.start:tc.end+1]) || aws.ToString(r.ContentRange) != want {
			t.Fatalf("%s: %d bytes, Content-Range %s, want %s", tc.spec, len(part), aws.ToString(r.ContentRange), want)
		}
	}
	if _, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("native.txt"), Range: aws.String("bytes=50-60")}); code(err) != "InvalidRange" {
		t.Fatalf("an unsatisfiable range: %v", err)
	}
	// Conditions.
	if _, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("2006/January/sample.jpg"), IfMatch: aws.String(`"nope"`)}); code(err) != "PreconditionFailed" {
		t.Fatalf("If-Match of another ETag: %v", err)
	}
	_, err = client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("2006/January/sample.jpg"), IfNoneMatch: put.ETag})
	var respErr interface{ HTTPStatusCode() int }
	if !errors.As(err, &respErr) || respErr.HTTPStatusCode() != http.StatusNotModified {
		t.Fatalf("If-None-Match of its ETag: %v", err)
	}
	// Integrity.
	wrong := md5.Sum([]byte("other"))
	_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("photos"), Key: aws.String("bad"), Body: strings.NewReader("payload"), ContentMD5: aws.String(base64.StdEncoding.EncodeToString(wrong[:]))})
	if code(err) != "BadDigest" {
		t.Fatalf("a wrong Content-MD5: %v", err)
	}
	_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("photos"), Key: aws.String("bad"), Body: strings.NewReader("payload"), ContentMD5: aws.String("not base64!")})
	if code(err) != "InvalidDigest" {
		t.Fatalf("a malformed Content-MD5: %v", err)
	}
	if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("photos"), Key: aws.String("bad")}); err == nil {
		t.Fatal("a PUT with a bad digest stored the object")
	}
	// Errors.
	if _, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("missing")}); code(err) != "NoSuchKey" {
		t.Fatalf("a missing key: %v", err)
	}
	if _, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("nothing"), Key: aws.String("k")}); code(err) != "NoSuchBucket" {
		t.Fatalf("a missing bucket: %v", err)
	}
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("Upper..Case")}); code(err) != "InvalidBucketName" {
		t.Fatalf("a bad bucket name: %v", err)
	}
	if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("photos")}); code(err) != "BucketNotEmpty" {
		t.Fatalf("delete a bucket with objects: %v", err)
	}
	for _, key := range []string{"2006/January/sample.jpg", "native.txt", "missing"} {
		if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("photos"), Key: aws.String(key)}); err != nil {
			t.Fatalf("delete %s: %v", key, err)
		}
	}
	if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatal(err)
	}
}

func TestListObjects(t *testing.T) {
	_, endpoint := testCluster(t)
	client := newClient(endpoint, secretKey)
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("list")}); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := range 5 {
		for j := range 4 {
			keys = append(keys, fmt.Sprintf("dir%d/file%d", i, j))
		}
		keys = append(keys, fmt.Sprintf("top%d", i))
	}
	for _, k := range keys {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("list"), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(keys)
	// Every key once, in order, over small pages.
	var listed []string
	pages := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String("list"), MaxKeys: aws.Int32(3)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToInt32(page.KeyCount) != int32(len(page.Contents)) {
			t.Fatalf("KeyCount %d, %d keys", aws.ToInt32(page.KeyCount), len(page.Contents))
		}
		for _, o := range page.Contents {
			listed = append(listed, aws.ToString(o.Key))
			if aws.ToString(o.ETag) != `"`+md5hex([]byte(aws.ToString(o.Key)))+`"` || aws.ToInt64(o.Size) != int64(len(aws.ToString(o.Key))) {
				t.Fatalf("%s: ETag %s size %d", aws.ToString(o.Key), aws.ToString(o.ETag), aws.ToInt64(o.Size))
			}
		}
	}
	if !slices.Equal(listed, keys) {
		t.Fatalf("v2 listing %v, want %v", listed, keys)
	}
	// A delimiter rolls the directories up.
	var prefixes, files []string
	pages = s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String("list"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(2)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.CommonPrefixes {
			prefixes = append(prefixes, aws.ToString(p.Prefix))
		}
		for _, o := range page.Contents {
			files = append(files, aws.ToString(o.Key))
		}
	}
	if !slices.Equal(prefixes, []string{"dir0/", "dir1/", "dir2/", "dir3/", "dir4/"}) || !slices.Equal(files, []string{"top0", "top1", "top2", "top3", "top4"}) {
		t.Fatalf("with a delimiter: prefixes %v, files %v", prefixes, files)
	}
	// v1 with a prefix and a marker.
	v1, err := client.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("list"), Prefix: aws.String("dir2/"), Marker: aws.String("dir2/file1")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range v1.Contents {
		got = append(got, aws.ToString(o.Key))
	}
	if !slices.Equal(got, []string{"dir2/file2", "dir2/file3"}) || aws.ToBool(v1.IsTruncated) {
		t.Fatalf("v1 after a marker: %v truncated %v", got, aws.ToBool(v1.IsTruncated))
	}
	if _, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("nothing")}); code(err) != "NoSuchBucket" {
		t.Fatalf("list a missing bucket: %v", err)
	}
}

// A listing of folders over a bucket that holds, under the uploads'
// folder, a name the native API took (past it and U+10FFFF) ends: the
// targets showed that folder again and again for it, and the listing of
// the uploads' parts went on for good.
func TestListOfFoldersPastTheUploadsFolderEnds(t *testing.T) {
	c, endpoint := testCluster(t)
	client := newClient(endpoint, secretKey)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("hid")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("hid"), Key: aws.String(".aws/config"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client().Put(ctx, "hid", ".s3-multipart/\U0010FFFFx", strings.NewReader("y"), api.PutOptions{Size: 1}); err != nil {
		t.Fatal(err)
	}
	var listed []string
	pages := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String("hid"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(1)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.CommonPrefixes {
			listed = append(listed, aws.ToString(p.Prefix))
		}
		for _, o := range page.Contents {
			listed = append(listed, aws.ToString(o.Key))
		}
	}
	if !slices.Equal(listed, []string{".aws/"}) {
		t.Fatalf("listed %q, want .aws/ alone", listed)
	}
}

// A copy is the caller's object: the keys the node keeps for itself (a
// dSort job's mark, whose cleanup would take the copy) stay behind.
func TestCopyLeavesTheNodesKeys(t *testing.T) {
	c, endpoint := testCluster(t)
	client := newClient(endpoint, secretKey)
	ctx := t.Context()
	for _, b := range []string{"src", "dst"} {
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	// A job's output, on every target (whichever owns it).
	for _, m := range c.Targets() {
		if _, err := m.Store.Put(ctx, store.NewBucket("src"), "out.tar", strings.NewReader("shard"), store.PutOptions{Size: 5,
			Custom: map[string]string{pipeline.CustomJob: "srt-1", pipeline.CustomAttempt: "0", "s3.meta.k": "v"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy"), CopySource: aws.String("src/out.tar")}); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range c.Targets() {
		meta, err := m.Store.Head(ctx, store.NewBucket("dst"), "copy")
		if err != nil {
			continue
		}
		found = true
		if meta.Custom[pipeline.CustomJob] != "" || meta.Custom[pipeline.CustomAttempt] != "" || meta.Custom["s3.meta.k"] != "v" {
			t.Fatalf("the copy's metadata %v: want the user's, none of the job's", meta.Custom)
		}
	}
	if !found {
		t.Fatal("no target has the copy")
	}
}

func TestCopyAndMultiDelete(t *testing.T) {
	_, endpoint := testCluster(t)
	client := newClient(endpoint, secretKey)
	ctx := t.Context()
	for _, b := range []string{"src", "dst"} {
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	data := randomBytes(70<<10, 2)
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("src"), Key: aws.String("a b/c"), Body: bytes.NewReader(data), Metadata: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy"), CopySource: aws.String("src/a%20b/c")}); err != nil {
		t.Fatal(err)
	}
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy")})
	if err != nil || head.Metadata["k"] != "v" || aws.ToString(head.ETag) != `"`+md5hex(data)+`"` || aws.ToInt64(head.ContentLength) != int64(len(data)) {
		t.Fatalf("a COPY: %+v %v", head, err)
	}
	_, err = client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("src"), Key: aws.String("replaced"), CopySource: aws.String("src/a%20b/c"),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"new": "yes"}})
	if err != nil {
		t.Fatal(err)
	}
	head, err = client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("src"), Key: aws.String("replaced")})
	if err != nil || head.Metadata["new"] != "yes" || head.Metadata["k"] != "" {
		t.Fatalf("a REPLACE: %v %v", head.Metadata, err)
	}
	if _, err := client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("src"), Key: aws.String("a b/c"), CopySource: aws.String("src/a%20b/c")}); code(err) != "InvalidRequest" {
		t.Fatalf("a copy onto itself without REPLACE: %v", err)
	}
	// A source past what one copy may be (5 GiB in S3, here a bound of
	// less than its size) is refused as S3 refuses it: nothing is written.
	restore := s3api.LimitPutSize(int64(len(data)) - 1)
	_, err = client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("too-big"), CopySource: aws.String("src/a%20b/c")})
	restore()
	if code(err) != "InvalidRequest" || !strings.Contains(err.Error(), "maximum allowable size") {
		t.Fatalf("a copy of a source over the bound: %v", err)
	}
	if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dst"), Key: aws.String("too-big")}); err == nil {
		t.Fatal("a refused copy stored its object")
	}
	// Multi-delete, with a key that does not exist.
	out, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("src"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("a b/c")}, {Key: aws.String("replaced")}, {Key: aws.String("never")},
	}}})
	if err != nil || len(out.Deleted) != 3 || len(out.Errors) != 0 {
		t.Fatalf("multi-delete: %+v %v", out, err)
	}
	list, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("src")})
	if err != nil || len(list.Contents) != 0 {
		t.Fatalf("after the multi-delete: %+v %v", list.Contents, err)
	}
	quiet, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("dst"), Delete: &types.Delete{Quiet: aws.Bool(true), Objects: []types.ObjectIdentifier{{Key: aws.String("copy")}}}})
	if err != nil || len(quiet.Deleted) != 0 {
		t.Fatalf("a quiet multi-delete: %+v %v", quiet, err)
	}
	// At most 1000 keys a request, as S3.
	many := make([]types.ObjectIdentifier, 1001)
	for i := range many {
		many[i] = types.ObjectIdentifier{Key: aws.String(fmt.Sprintf("k%d", i))}
	}
	if _, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("dst"), Delete: &types.Delete{Quiet: aws.Bool(true), Objects: many}}); code(err) != "MalformedXML" {
		t.Fatalf("a multi-delete of 1001 keys: %v", err)
	}
}

func TestMultipartUpload(t *testing.T) { bothClusters(t, testMultipartUpload) }

func testMultipartUpload(t *testing.T, c *gatewaytest.Cluster, endpoint string) {
	client := newClient(endpoint, secretKey)
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("multi")}); err != nil {
		t.Fatal(err)
	}
	create := func() string {
		up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("multi"), Key: aws.String("big"), ContentType: aws.String("application/x-tar")})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(up.UploadId)
	}
	id := create()
	parts := [][]byte{randomBytes(5<<20, 3), randomBytes(5<<20, 4), randomBytes(1000, 5)}
	var completed []types.CompletedPart
	sums := md5.New()
	for i, p := range parts {
		out, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("multi"), Key: aws.String("big"), UploadId: aws.String(id), PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.ETag) != `"`+md5hex(p)+`"` {
			t.Fatalf("part %d ETag %s", i+1, aws.ToString(out.ETag))
		}
		sum := md5.Sum(p)
		sums.Write(sum[:])
		completed = append(completed, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
	}
	listed, err := client.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("multi"), Key: aws.String("big"), UploadId: aws.String(id)})
	if err != nil || len(listed.Parts) != 3 || aws.ToInt64(listed.Parts[2].Size) != 1000 {
		t.Fatalf("list parts: %+v %v", listed, err)
	}
	var numbers []int32
	partPages := s3.NewListPartsPaginator(client, &s3.ListPartsInput{Bucket: aws.String("multi"), Key: aws.String("big"), UploadId: aws.String(id), MaxParts: aws.Int32(2)})
	for partPages.HasMorePages() {
		page, err := partPages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Parts {
			numbers = append(numbers, aws.ToInt32(p.PartNumber))
		}
	}
	if !slices.Equal(numbers, []int32{1, 2, 3}) {
		t.Fatalf("parts listed two at a time: %v", numbers)
	}
	uploads, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("multi")})
	if err != nil || len(uploads.Uploads) != 1 || aws.ToString(uploads.Uploads[0].UploadId) != id {
		t.Fatalf("list uploads: %+v %v", uploads, err)
	}
	// A page of none (max 0) is the end, as max-keys=0 of a listing: a
	// truncated empty page would give its client no marker to go on from.
	none, err := client.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("multi"), Key: aws.String("big"), UploadId: aws.String(id), MaxParts: aws.Int32(0)})
	if err != nil || len(none.Parts) != 0 || aws.ToBool(none.IsTruncated) {
		t.Fatalf("list parts, at most 0: want no parts and not truncated (%v)", err)
	}
	noUploads, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("multi"), MaxUploads: aws.Int32(0)})
	if err != nil || len(noUploads.Uploads) != 0 || aws.ToBool(noUploads.IsTruncated) {
		t.Fatalf("list uploads, at most 0: want no uploads and not truncated (%v)", err)
	}
	// Uploads page by key and upload id.
	var others []string
	for _, key := range []string{"a", "a", "z"} {
		up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("multi"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		others = append(others, key+"/"+aws.ToString(up.UploadId))
	}
	var paged []string
	input := &s3.ListMultipartUploadsInput{Bucket: aws.String("multi"), MaxUploads: aws.Int32(2)}
	for range 10 {
		page, err := client.ListMultipartUploads(ctx, input)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range page.Uploads {
			paged = append(paged, aws.ToString(u.Key)+"/"+aws.ToString(u.UploadId))
		}
		if !aws.ToBool(page.IsTruncated) {
			break
		}
		input.KeyMarker, input.UploadIdMarker = page.NextKeyMarker, page.NextUploadIdMarker
	}
	all := append([]string{"big/" + id}, others...)
	slices.Sort(all)
	if !slices.Equal(paged, all) {
		t.Fatalf("uploads two at a time: %v, want %v", paged, all)
	}
	for _, o := range others {
		key, upload, _ := strings.Cut(o, "/")
		if _, err := client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("multi"), Key: aws.String(key), UploadId: aws.String(upload)}); err != nil {
			t.Fatal(err)
		}
	}
	// Bad part lists.
	for _, bad := range []struct {
		parts []types.CompletedPart
		code  string
	}{
		{[]types.CompletedPart{completed[1], completed[0]}, "InvalidPartOrder"},
		{[]types.CompletedPart{completed[0], {PartNumber: aws.Int32(9), ETag: completed[1].ETag}}, "InvalidPart"},
		{[]types.CompletedPart{completed[0], {PartNumber: aws.Int32(2), ETag: aws.String(`"00000000000000000000000000000000"`)}}, "InvalidPart"},
		{[]types.CompletedPart{completed[2], {PartNumber: aws.Int32(4), ETag: completed[2].ETag}}, "InvalidPart"},
	} {
		_, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("multi"), Key: aws.String("big"), UploadId: aws.String(id), MultipartUpload: &types.CompletedMultipartUpload{Parts: bad.parts}})
		if code(err) != bad.code {
			t.Fatalf("complete with %d parts: %v, want %s", len(bad.parts), err, bad.code)
		}
	}
	// A conditional complete the key fails leaves the upload to complete.
	_, err = client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("multi"), Key: aws.String("big"), UploadId: aws.String(id),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: completed}, IfMatch: aws.String(`"0123"`)})
	if code(err) != "NoSuchKey" {
		t.Fatalf("complete with If-Match on a missing key: %v", err)
	}
	complete := func() *s3.CompleteMultipartUploadOutput {
		out, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("multi"), Key: aws.String("big"), UploadId: aws.String(id), MultipartUpload: &types.CompletedMultipartUpload{Parts: completed}})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := fmt.Sprintf(`"%s-3"`, hex.EncodeToString(sums.Sum(nil)))
	if out := complete(); aws.ToString(out.ETag) != want {
		t.Fatalf("complete: ETag %s, want %s", aws.ToString(out.ETag), want)
	}
	if out := complete(); aws.ToString(out.ETag) != want {
		t.Fatalf("complete again: ETag %s, want %s", aws.ToString(out.ETag), want)
	}
	// A first Complete whose cleanup did not end (its node stopped) left
	// the closed record and a part: a Complete sent again finishes it.
	nativeClient := c.Client()
	leftover := `{"key":"big","initiated":"2026-12-01T00:00:00Z","closed":true}`
	for name, body := range map[string]string{".s3-multipart/" + id + "/upload": leftover, ".s3-multipart/" + id + "/part-00002": "a part left"} {
		if _, err := nativeClient.Put(ctx, "multi", name, strings.NewReader(body), api.PutOptions{Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
	}
	if out := complete(); aws.ToString(out.ETag) != want {
		t.Fatalf("complete again over a cleanup left undone: ETag %s, want %s", aws.ToString(out.ETag), want)
	}
	if page, err := nativeClient.ListObjects(ctx, "multi", api.ListObjectsMessage{Prefix: ".s3-multipart/" + id}); err != nil || len(page.Entries) != 0 {
		t.Fatalf("after the Complete again, the upload's leftovers: %d %v", len(page.Entries), err)
	}
	// One whose record could not even be closed left it open: a
	// Complete sent again answers as the first did and cleans up, not
	// copies the parts again (they are gone) over the object.
	open := `{"key":"big","initiated":"2026-12-01T00:00:00Z"}`
	for name, body := range map[string]string{".s3-multipart/" + id + "/upload": open, ".s3-multipart/" + id + "/part-00002": "a part left"} {
		if _, err := nativeClient.Put(ctx, "multi", name, strings.NewReader(body), api.PutOptions{Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
	}
	if out := complete(); aws.ToString(out.ETag) != want {
		t.Fatalf("complete again over a record left open: ETag %s, want %s", aws.ToString(out.ETag), want)
	}
	if page, err := nativeClient.ListObjects(ctx, "multi", api.ListObjectsMessage{Prefix: ".s3-multipart/" + id}); err != nil || len(page.Entries) != 0 {
		t.Fatalf("after the Complete over a record left open, the upload's leftovers: %d %v", len(page.Entries), err)
	}
	// A Complete of other parts did not make the object: it is not told
	// the ETag of the one that did.
	_, err = client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("multi"), Key: aws.String("big"), UploadId: aws.String(id), MultipartUpload: &types.CompletedMultipartUpload{Parts: completed[:2]}})
	if code(err) != "NoSuchUpload" {
		t.Fatalf("complete of two of the three parts after the upload completed: %v, want NoSuchUpload", err)
	}
	// A copy is not what the upload made: a Complete of it there is
	// NoSuchUpload, not a success.
	if _, err := client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("multi"), Key: aws.String("copied"), CopySource: aws.String("multi/big")}); err != nil {
		t.Fatal(err)
	}
	_, err = client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("multi"), Key: aws.String("copied"), UploadId: aws.String(id), MultipartUpload: &types.CompletedMultipartUpload{Parts: completed}})
	if code(err) != "NoSuchUpload" {
		t.Fatalf("complete of the upload on a copy of its object: %v, want NoSuchUpload", err)
	}
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("multi"), Key: aws.String("copied")}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Client().GetBytes(ctx, "multi", "big", api.GetOptions{})
	if err != nil || !bytes.Equal(got, bytes.Join(parts, nil)) {
		t.Fatalf("the completed object: %d bytes, %v", len(got), err)
	}
	part2, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("multi"), Key: aws.String("big"), PartNumber: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(part2.Body)
	if !bytes.Equal(b, parts[1]) || aws.ToInt32(part2.PartsCount) != 3 || aws.ToString(part2.ContentType) != "application/x-tar" {
		t.Fatalf("GET part 2: %d bytes, parts count %d, type %s", len(b), aws.ToInt32(part2.PartsCount), aws.ToString(part2.ContentType))
	}
	// Nothing of the upload is left, and the listing never showed it.
	list, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("multi")})
	if err != nil || len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != "big" {
		t.Fatalf("listing after complete: %+v %v", list.Contents, err)
	}
	native, err := c.Client().ListObjects(ctx, "multi", api.ListObjectsMessage{})
	if err != nil || len(native.Entries) != 1 {
		t.Fatalf("native listing after complete: %+v %v", native, err)
	}
	// A small part before the last one; an abort.
	id = create()
	for i := range 2 {
		if _, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("multi"), Key: aws.String("big"), UploadId: aws.String(id), PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(parts[2])}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("multi"), Key: aws.String("big"), UploadId: aws.String(id), MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
		{PartNumber: aws.Int32(1), ETag: aws.String(`"` + md5hex(parts[2]) + `"`)}, {PartNumber: aws.Int32(2), ETag: aws.String(`"` + md5hex(parts[2]) + `"`)},
	}}})
	if code(err) != "EntityTooSmall" {
		t.Fatalf("a small part before the last: %v", err)
	}
	if _, err := client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("multi"), Key: aws.String("big"), UploadId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("multi"), Key: aws.String("big"), UploadId: aws.String(id), PartNumber: aws.Int32(3), Body: strings.NewReader("x")}); code(err) != "NoSuchUpload" {
		t.Fatalf("a part of an aborted upload: %v", err)
	}
	native, err = c.Client().ListObjects(ctx, "multi", api.ListObjectsMessage{})
	if err != nil || len(native.Entries) != 1 {
		t.Fatalf("native listing after the abort: %+v %v", native, err)
	}
	// The object was not changed by the failed upload.
	if got, err := c.Client().GetBytes(ctx, "multi", "big", api.GetOptions{}); err != nil || !bytes.Equal(got, bytes.Join(parts, nil)) {
		t.Fatalf("after the aborted upload: %d bytes, %v", len(got), err)
	}
}

func TestAuthentication(t *testing.T) {
	_, endpoint := testCluster(t)
	ctx := t.Context()
	if _, err := newClient(endpoint, secretKey).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("auth")}); err != nil {
		t.Fatal(err)
	}
	if _, err := newClient(endpoint, "wrong").ListBuckets(ctx, &s3.ListBucketsInput{}); code(err) != "SignatureDoesNotMatch" {
		t.Fatalf("a wrong secret: %v", err)
	}
	// The gateway counts its S3 requests by operation and status.
	metrics := gatewaytest.Scrape(t, strings.TrimSuffix(endpoint, "/s3"))
	if metrics.Value("ais_s3_requests_total", "op", "PUT bucket", "status", "200") != 1 || metrics.Value("ais_s3_requests_total", "op", "GET service", "status", "403") != 1 {
		t.Fatalf("S3 request metrics: PUT bucket 200 %v, GET service 403 %v", metrics.Value("ais_s3_requests_total", "op", "PUT bucket", "status", "200"),
			metrics.Value("ais_s3_requests_total", "op", "GET service", "status", "403"))
	}
	resp, err := http.Get(endpoint + "/auth")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("x-amz-request-id") == "" {
		t.Fatalf("an unsigned request: %d, request id %q", resp.StatusCode, resp.Header.Get("x-amz-request-id"))
	}
	client := newClient(endpoint, secretKey)
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("auth"), Key: aws.String("k"), Body: strings.NewReader("presigned")}); err != nil {
		t.Fatal(err)
	}
	presigned, err := s3.NewPresignClient(client).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("auth"), Key: aws.String("k")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(presigned.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "presigned" {
		t.Fatalf("a presigned GET: %d %q", resp.StatusCode, body)
	}
	// Signed an hour ago for a minute: expired.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/auth/k", nil)
	creds := aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}
	q := req.URL.Query()
	q.Set("X-Amz-Expires", "60")
	req.URL.RawQuery = q.Encode()
	url, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "AccessDenied") {
		t.Fatalf("an expired presigned URL: %d %s", resp.StatusCode, body)
	}
}

func TestMoreOperations(t *testing.T) { bothClusters(t, testMoreOperations) }

// ACLs: every bucket and object reads as private (its owner with
// FULL_CONTROL); setting that is accepted, any other ACL is a 501, and a
// missing object or bucket is the usual 404.
func TestPrivateACLs(t *testing.T) {
	bothClusters(t, func(t *testing.T, _ *gatewaytest.Cluster, endpoint string) {
		client := newClient(endpoint, secretKey)
		ctx := t.Context()
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("acls")}); err != nil {
			t.Fatal(err)
		}
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("acls"), Key: aws.String("o"), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
		list, err := client.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("acls")})
		if err != nil || len(list.Contents) != 1 || list.Contents[0].Owner == nil {
			t.Fatalf("listing: %+v %v", list, err)
		}
		listed := list.Contents[0].Owner
		private := func(what string, o *types.Owner, grants []types.Grant) {
			t.Helper()
			if o == nil || aws.ToString(o.ID) != aws.ToString(listed.ID) || len(grants) != 1 || grants[0].Permission != types.PermissionFullControl ||
				grants[0].Grantee == nil || grants[0].Grantee.Type != types.TypeCanonicalUser || aws.ToString(grants[0].Grantee.ID) != aws.ToString(listed.ID) {
				t.Fatalf("%s ACL: owner %+v, grants %+v; want the listing's owner %+v with FULL_CONTROL", what, o, grants, listed)
			}
		}
		bucketACL, err := client.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: aws.String("acls")})
		if err != nil {
			t.Fatal(err)
		}
		private("bucket", bucketACL.Owner, bucketACL.Grants)
		objectACL, err := client.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String("acls"), Key: aws.String("o")})
		if err != nil {
			t.Fatal(err)
		}
		private("object", objectACL.Owner, objectACL.Grants)

		if _, err := client.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: aws.String("acls"), Key: aws.String("o"), ACL: types.ObjectCannedACLPrivate}); err != nil {
			t.Fatalf("set the object private: %v", err)
		}
		if _, err := client.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("acls"), AccessControlPolicy: &types.AccessControlPolicy{Owner: objectACL.Owner, Grants: objectACL.Grants}}); err != nil {
			t.Fatalf("set the bucket's ACL to what it reads: %v", err)
		}
		if _, err := client.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: aws.String("acls"), Key: aws.String("o"), ACL: types.ObjectCannedACLPublicRead}); code(err) != "NotImplemented" {
			t.Fatalf("a public-read object: %v, want NotImplemented", err)
		}
		if _, err := client.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("acls"), GrantRead: aws.String(`uri="http://acs.amazonaws.com/groups/global/AllUsers"`)}); code(err) != "NotImplemented" {
			t.Fatalf("a grant header: %v, want NotImplemented", err)
		}
		public := append([]types.Grant{}, objectACL.Grants...)
		public = append(public, types.Grant{Grantee: &types.Grantee{Type: types.TypeGroup, URI: aws.String("http://acs.amazonaws.com/groups/global/AllUsers")}, Permission: types.PermissionRead})
		if _, err := client.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("acls"), AccessControlPolicy: &types.AccessControlPolicy{Owner: objectACL.Owner, Grants: public}}); code(err) != "NotImplemented" {
			t.Fatalf("a body granting READ to everyone: %v, want NotImplemented", err)
		}
		if _, err := client.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String("acls"), Key: aws.String("missing")}); code(err) != "NoSuchKey" {
			t.Fatalf("the ACL of a missing object: %v, want NoSuchKey", err)
		}
		if _, err := client.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: aws.String("no-such-bucket")}); code(err) != "NoSuchBucket" {
			t.Fatalf("the ACL of a missing bucket: %v, want NoSuchBucket", err)
		}
	})
}

// Conditional writes of copies and completes: If-None-Match: * creates
// only, If-Match replaces only the version it names; a failed one
// changes nothing and leaves the upload to complete.
func TestConditionalCopyAndComplete(t *testing.T) {
	bothClusters(t, func(t *testing.T, _ *gatewaytest.Cluster, endpoint string) {
		client := newClient(endpoint, secretKey)
		ctx := t.Context()
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("cond")}); err != nil {
			t.Fatal(err)
		}
		put, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cond"), Key: aws.String("src"), Body: strings.NewReader("source")})
		if err != nil {
			t.Fatal(err)
		}
		read := func(key string) string {
			out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("cond"), Key: aws.String(key)})
			if err != nil {
				return "error: " + code(err)
			}
			defer out.Body.Close()
			data, _ := io.ReadAll(out.Body)
			return string(data)
		}
		copyTo := func(key string, ifNoneMatch, ifMatch *string) error {
			_, err := client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("cond"), Key: aws.String(key), CopySource: aws.String("cond/src"), IfNoneMatch: ifNoneMatch, IfMatch: ifMatch})
			return err
		}
		if err := copyTo("dst", nil, aws.String(`"0123"`)); code(err) != "NoSuchKey" {
			t.Fatalf("copy with If-Match onto a missing key: %v", err)
		}
		if err := copyTo("dst", aws.String("*"), nil); err != nil {
			t.Fatalf("copy with If-None-Match onto a free key: %v", err)
		}
		if err := copyTo("dst", aws.String("*"), nil); code(err) != "PreconditionFailed" {
			t.Fatalf("copy with If-None-Match onto an object: %v", err)
		}
		if err := copyTo("dst", nil, aws.String(`"0123"`)); code(err) != "PreconditionFailed" {
			t.Fatalf("copy with a wrong If-Match: %v", err)
		}
		if err := copyTo("dst", nil, put.ETag); err != nil {
			t.Fatalf("copy with the object's ETag as If-Match: %v", err)
		}
		if got := read("dst"); got != "source" {
			t.Fatalf("after the conditional copies: %q", got)
		}

		upload := func(body string) (string, []types.CompletedPart) {
			created, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("cond"), Key: aws.String("mp")})
			if err != nil {
				t.Fatal(err)
			}
			part, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("cond"), Key: aws.String("mp"), UploadId: created.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader(body)})
			if err != nil {
				t.Fatal(err)
			}
			return aws.ToString(created.UploadId), []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}
		}
		complete := func(id string, parts []types.CompletedPart, ifNoneMatch, ifMatch *string) (string, error) {
			out, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("cond"), Key: aws.String("mp"), UploadId: aws.String(id),
				MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}, IfNoneMatch: ifNoneMatch, IfMatch: ifMatch})
			if err != nil {
				return "", err
			}
			return aws.ToString(out.ETag), nil
		}
		id, parts := upload("first")
		first, err := complete(id, parts, aws.String("*"), nil)
		if err != nil {
			t.Fatalf("complete with If-None-Match onto a free key: %v", err)
		}
		id, parts = upload("second")
		if _, err := complete(id, parts, aws.String("*"), nil); code(err) != "PreconditionFailed" {
			t.Fatalf("complete with If-None-Match onto an object: %v", err)
		}
		if _, err := complete(id, parts, nil, aws.String(`"0123-1"`)); code(err) != "PreconditionFailed" {
			t.Fatalf("complete with a wrong If-Match: %v", err)
		}
		if got := read("mp"); got != "first" {
			t.Fatalf("after the failed completes: %q", got)
		}
		if _, err := complete(id, parts, nil, aws.String(first)); err != nil {
			t.Fatalf("complete with the object's ETag as If-Match: %v", err)
		}
		if got := read("mp"); got != "second" {
			t.Fatalf("after the conditional complete: %q", got)
		}
		if _, err := client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("cond"), Key: aws.String("dst"), CopySource: aws.String("cond/src"), IfNoneMatch: aws.String(`W/"x"`)}); code(err) != "InvalidArgument" {
			t.Fatalf("copy with a weak If-None-Match: %v", err)
		}
	})
}

// Objects are files: on one target a key under another object, or one
// above others, is a clear 409, not a server error a client retries.
func TestKeyConflict(t *testing.T) {
	_, endpoint := testClusterOf(t, true)
	client := newClient(endpoint, secretKey)
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("files")}); err != nil {
		t.Fatal(err)
	}
	put := func(key string) error {
		_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("files"), Key: aws.String(key), Body: strings.NewReader(key)})
		return err
	}
	if err := put("a/b"); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a/b/c", "a"} {
		var re *awshttp.ResponseError
		if err := put(key); code(err) != "KeyConflict" || !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusConflict {
			t.Errorf("put %s beside a/b: %v, want 409 KeyConflict", key, err)
		}
	}
}

func testMoreOperations(t *testing.T, _ *gatewaytest.Cluster, endpoint string) {
	client := newClient(endpoint, secretKey)
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("more")}); err != nil {
		t.Fatal(err)
	}
	location, err := client.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("more")})
	if err != nil || location.LocationConstraint != "" {
		t.Fatalf("location: %+v %v", location, err)
	}
	// Stored headers and the response-* overrides.
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("more"), Key: aws.String("a file+name"), Body: strings.NewReader("hello"),
		ContentEncoding: aws.String("identity"), ContentDisposition: aws.String(`attachment; filename="x"`), ContentLanguage: aws.String("en"), Expires: aws.Time(expires)})
	if err != nil {
		t.Fatal(err)
	}
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("more"), Key: aws.String("a file+name")})
	if err != nil || aws.ToString(head.ContentEncoding) != "identity" || aws.ToString(head.ContentDisposition) != `attachment; filename="x"` ||
		aws.ToString(head.ContentLanguage) != "en" || aws.ToString(head.ExpiresString) != expires.Format(http.TimeFormat) {
		t.Fatalf("stored headers: %+v %v", head, err)
	}
	over, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("more"), Key: aws.String("a file+name"), ResponseContentType: aws.String("text/plain"), ResponseCacheControl: aws.String("no-cache")})
	if err != nil || aws.ToString(over.ContentType) != "text/plain" || aws.ToString(over.CacheControl) != "no-cache" {
		t.Fatalf("response overrides: %+v %v", over, err)
	}
	// Conditions on dates.
	if _, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("more"), Key: aws.String("a file+name"), IfUnmodifiedSince: aws.Time(time.Now().Add(-time.Hour))}); code(err) != "PreconditionFailed" {
		t.Fatalf("If-Unmodified-Since an hour ago: %v", err)
	}
	if _, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("more"), Key: aws.String("a file+name"), IfModifiedSince: aws.Time(time.Now().Add(-time.Hour))}); err != nil {
		t.Fatalf("If-Modified-Since an hour ago: %v", err)
	}
	// encoding-type=url and a presigned PUT.
	list, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("more"), EncodingType: types.EncodingTypeUrl})
	if err != nil || len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != "a%20file%2Bname" {
		t.Fatalf("a listing with encoding-type=url: %+v %v", list.Contents, err)
	}
	// Conditional writes: If-None-Match creates, If-Match replaces the
	// version it names; a failed one changes nothing.
	conditional := func(key, body string, ifNoneMatch, ifMatch *string) (string, error) {
		out, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("more"), Key: aws.String(key), Body: strings.NewReader(body), IfNoneMatch: ifNoneMatch, IfMatch: ifMatch})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.ETag), nil
	}
	if _, err := conditional("a file+name", "x", aws.String("*"), nil); code(err) != "PreconditionFailed" {
		t.Fatalf("If-None-Match on an object: %v", err)
	}
	etag, err := conditional("created", "first", aws.String("*"), nil)
	if err != nil {
		t.Fatalf("If-None-Match on a free key: %v", err)
	}
	if _, err := conditional("created", "stale", nil, aws.String(`"0123"`)); code(err) != "PreconditionFailed" {
		t.Fatalf("If-Match with a wrong ETag: %v", err)
	}
	if _, err := conditional("created", "second", nil, aws.String(etag)); err != nil {
		t.Fatalf("If-Match with the object's ETag: %v", err)
	}
	if _, err := conditional("never", "x", nil, aws.String(etag)); code(err) != "NoSuchKey" {
		t.Fatalf("If-Match on a missing key: %v", err)
	}
	if got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("more"), Key: aws.String("created")}); err != nil {
		t.Fatal(err)
	} else if data, _ := io.ReadAll(got.Body); string(data) != "second" {
		t.Fatalf("after the conditional writes: %q", data)
	}
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("more"), Key: aws.String("created")}); err != nil {
		t.Fatal(err)
	}
	// Every object is its null version (cleanup tools list versions).
	versions, err := client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("more")})
	if err != nil || len(versions.Versions) != 1 || aws.ToString(versions.Versions[0].Key) != "a file+name" ||
		aws.ToString(versions.Versions[0].VersionId) != "null" || !aws.ToBool(versions.Versions[0].IsLatest) {
		t.Fatalf("ListObjectVersions: %+v %v", versions, err)
	}
	presigned, err := s3.NewPresignClient(client).PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("more"), Key: aws.String("presigned")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, presigned.URL, strings.NewReader("put by URL"))
	for k, vs := range presigned.SignedHeader {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("a presigned PUT: %v %v", resp, err)
	}
	resp.Body.Close()
	got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("more"), Key: aws.String("presigned")})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(got.Body); string(b) != "put by URL" {
		t.Fatalf("after a presigned PUT: %q", b)
	}
	// UploadPartCopy with a range, then malformed completion XML.
	src := randomBytes(6<<20, 9)
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("more"), Key: aws.String("source"), Body: bytes.NewReader(src)}); err != nil {
		t.Fatal(err)
	}
	up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("more"), Key: aws.String("assembled")})
	if err != nil {
		t.Fatal(err)
	}
	first, err := client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("more"), Key: aws.String("assembled"), UploadId: up.UploadId, PartNumber: aws.Int32(1),
		CopySource: aws.String("more/source"), CopySourceRange: aws.String(fmt.Sprintf("bytes=0-%d", 5<<20-1))})
	if err != nil {
		t.Fatal(err)
	}
	second, err := client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("more"), Key: aws.String("assembled"), UploadId: up.UploadId, PartNumber: aws.Int32(2),
		CopySource: aws.String("more/source"), CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", 5<<20, len(src)-1))})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/more/assembled?uploadId="+aws.ToString(up.UploadId), strings.NewReader("<CompleteMultipartUpload><Part>"))
	raw.Header.Set("x-amz-content-sha256", hex.EncodeToString(sha256Of("<CompleteMultipartUpload><Part>")))
	if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}, raw, hex.EncodeToString(sha256Of("<CompleteMultipartUpload><Part>")), "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err = http.DefaultClient.Do(raw)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "MalformedXML") {
		t.Fatalf("malformed completion XML: %d %s", resp.StatusCode, body)
	}
	_, err = client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("more"), Key: aws.String("assembled"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
			{PartNumber: aws.Int32(1), ETag: first.CopyPartResult.ETag}, {PartNumber: aws.Int32(2), ETag: second.CopyPartResult.ETag},
		}}})
	if err != nil {
		t.Fatal(err)
	}
	assembled, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("more"), Key: aws.String("assembled")})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(assembled.Body); !bytes.Equal(b, src) {
		t.Fatalf("the object assembled by part copies: %d bytes", len(b))
	}
	head, err = client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("more"), Key: aws.String("assembled"), PartNumber: aws.Int32(1)})
	if err != nil || aws.ToInt32(head.PartsCount) != 2 || aws.ToInt64(head.ContentLength) != 5<<20 {
		t.Fatalf("HEAD part 1: %+v %v", head, err)
	}
	// The parts are counted for a request of a part only, as S3 does.
	head, err = client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("more"), Key: aws.String("assembled")})
	if err != nil || head.PartsCount != nil || aws.ToInt64(head.ContentLength) != int64(len(src)) {
		t.Fatalf("HEAD of the whole object: parts count %v, %v; want none", head.PartsCount, err)
	}
}

func sha256Of(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// ListMultipartUploads with a delimiter rolls keys up into common
// prefixes, pages over them one entry at a time, and encodes keys with
// encoding-type=url.
func TestListUploadsWithDelimiter(t *testing.T) {
	_, endpoint := testCluster(t)
	client := newClient(endpoint, secretKey)
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("ups")}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"logs/a", "logs/b", "data/x/1", "top", "with space"} {
		if _, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("ups"), Key: aws.String(key)}); err != nil {
			t.Fatal(err)
		}
	}
	var entries []string
	input := &s3.ListMultipartUploadsInput{Bucket: aws.String("ups"), Delimiter: aws.String("/"), MaxUploads: aws.Int32(1)}
	for range 10 {
		page, err := client.ListMultipartUploads(ctx, input)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(page.Uploads) + len(page.CommonPrefixes); n > 1 {
			t.Fatalf("a page of one holds %d entries", n)
		}
		for _, p := range page.CommonPrefixes {
			entries = append(entries, "prefix "+aws.ToString(p.Prefix))
		}
		for _, u := range page.Uploads {
			entries = append(entries, "upload "+aws.ToString(u.Key))
		}
		if !aws.ToBool(page.IsTruncated) {
			break
		}
		input.KeyMarker, input.UploadIdMarker = page.NextKeyMarker, page.NextUploadIdMarker
	}
	want := []string{"prefix data/", "prefix logs/", "upload top", "upload with space"}
	if !slices.Equal(entries, want) {
		t.Fatalf("uploads by delimiter: %v, want %v", entries, want)
	}
	under, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("ups"), Prefix: aws.String("data/"), Delimiter: aws.String("/")})
	if err != nil || len(under.CommonPrefixes) != 1 || aws.ToString(under.CommonPrefixes[0].Prefix) != "data/x/" || len(under.Uploads) != 0 {
		t.Fatalf("under data/: %+v %v", under, err)
	}
	// The SDK asks for url encoding and decodes what it gets.
	encoded, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("ups"), Prefix: aws.String("with"), EncodingType: types.EncodingTypeUrl})
	if err != nil || len(encoded.Uploads) != 1 || aws.ToString(encoded.Uploads[0].Key) != "with%20space" && aws.ToString(encoded.Uploads[0].Key) != "with space" {
		t.Fatalf("url-encoded listing: %+v %v", encoded, err)
	}
	_, err = client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("ups"), EncodingType: "base64"})
	if got := code(err); got != "InvalidArgument" {
		t.Fatalf("encoding-type base64: %v (%s)", err, got)
	}
}

// Subresources not served are refused, never taken for the plain
// operation (DELETE ?tagging or ?acl deleted the object, DELETE ?cors the
// bucket), and a version other than "null" is not acted on as the object.
func TestUnservedSubresources(t *testing.T) {
	_, endpoint := testCluster(t)
	client := newClient(endpoint, secretKey)
	ctx := t.Context()
	bucket, key := aws.String("subs"), aws.String("k")
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: key, Body: strings.NewReader("data")}); err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"DeleteBucketCors": func() error {
			_, err := client.DeleteBucketCors(ctx, &s3.DeleteBucketCorsInput{Bucket: bucket})
			return err
		},
		"DeleteBucketEncryption": func() error {
			_, err := client.DeleteBucketEncryption(ctx, &s3.DeleteBucketEncryptionInput{Bucket: bucket})
			return err
		},
		"PutPublicAccessBlock": func() error {
			_, err := client.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: bucket, PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{}})
			return err
		},
		"GetObjectAttributes": func() error {
			_, err := client.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: bucket, Key: key, ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesEtag}})
			return err
		},
		// Taken silently, these would promise what does not hold.
		"PutObject with SSE-C": func() error {
			_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("sse"), Body: strings.NewReader("data"),
				SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String("MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE="), SSECustomerKeyMD5: aws.String("6kO3KzM1TLxnQv+3T5y6Gg==")})
			return err
		},
		"PutObject with SSE-KMS": func() error {
			_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("kms"), Body: strings.NewReader("data"), ServerSideEncryption: types.ServerSideEncryptionAwsKms})
			return err
		},
		"PutObject with an object lock": func() error {
			_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("lock"), Body: strings.NewReader("data"),
				ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(time.Now().Add(time.Hour))})
			return err
		},
		"PutObject with tags": func() error {
			_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("tagged"), Body: strings.NewReader("data"), Tagging: aws.String("project=x")})
			return err
		},
		"CopyObject with tags": func() error {
			_, err := client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: bucket, Key: aws.String("tagged-copy"), CopySource: aws.String("subs/k"),
				TaggingDirective: types.TaggingDirectiveReplace, Tagging: aws.String("project=x")})
			return err
		},
		"PutObject public-read": func() error {
			_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("public"), Body: strings.NewReader("data"), ACL: types.ObjectCannedACLPublicRead})
			return err
		},
		"CopyObject with SSE": func() error {
			_, err := client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: bucket, Key: aws.String("copy"), CopySource: aws.String("subs/k"), ServerSideEncryption: types.ServerSideEncryptionAes256})
			return err
		},
		"CreateMultipartUpload with SSE": func() error {
			_, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: aws.String("mp"), ServerSideEncryption: types.ServerSideEncryptionAes256})
			return err
		},
		"CreateBucket with an object lock": func() error {
			_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("locked"), ObjectLockEnabledForBucket: aws.Bool(true)})
			return err
		},
	} {
		if err := call(); code(err) != "NotImplemented" {
			t.Errorf("%s: %v, want NotImplemented", name, err)
		}
	}
	// A copy's tags under the COPY directive are the source's (none):
	// taken, as S3 ignores x-amz-tagging then.
	if _, err := client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: bucket, Key: aws.String("copied-tags"), CopySource: aws.String("subs/k"), Tagging: aws.String("project=x")}); err != nil {
		t.Errorf("a copy with tags under the COPY directive: %v", err)
	}
	// A canned ACL that grants the owner alone, as cross-account tools
	// send, is what every object has: taken.
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("owned"), Body: strings.NewReader("data"), ACL: types.ObjectCannedACLBucketOwnerFullControl}); err != nil {
		t.Errorf("a PUT with bucket-owner-full-control: %v", err)
	}
	// A conditional delete cannot be checked and done as one step: it
	// is refused, not taken as a plain delete.
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: key, IfMatch: aws.String(`"stale"`)}); code(err) != "NotImplemented" {
		t.Errorf("a DELETE If-Match: %v, want NotImplemented", err)
	}
	conditional, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: bucket, Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: key, ETag: aws.String(`"stale"`)}}}})
	if err != nil || len(conditional.Errors) != 1 || aws.ToString(conditional.Errors[0].Code) != "NotImplemented" {
		t.Errorf("a multi-delete with an ETag condition: %+v %v, want NotImplemented", conditional, err)
	}
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: key, VersionId: aws.String("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")}); code(err) != "InvalidArgument" {
		t.Errorf("a DELETE of another version: %v, want InvalidArgument", err)
	}
	out, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: bucket, Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: key, VersionId: aws.String("v2")}}}})
	if err != nil || len(out.Errors) != 1 || aws.ToString(out.Errors[0].Code) != "NoSuchVersion" {
		t.Errorf("a multi-delete of another version: %+v %v, want NoSuchVersion", out, err)
	}
	if _, err := client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: bucket, Key: aws.String("copy"), CopySource: aws.String("subs/k?versionId=v2")}); code(err) != "InvalidArgument" {
		t.Errorf("a copy of another version: %v, want InvalidArgument", err)
	}
	// Subresources S3 added later, not on any list here: refused too,
	// not taken as the plain operation (a DELETE of the bucket, a PUT of
	// an empty object, a bucket made).
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("subs-empty")}); err != nil {
		t.Fatal(err)
	}
	empty := hex.EncodeToString(sha256Of(""))
	for _, rq := range []struct {
		method, path string
		header       map[string]string
	}{
		{http.MethodDelete, "/subs-empty?metadataTable", nil},
		{http.MethodDelete, "/subs-empty?metadataConfiguration=", nil},
		{http.MethodPut, "/subs/k?renameObject", map[string]string{"x-amz-rename-source": "/subs/other"}},
		{http.MethodPut, "/subs-new?abac", nil},
	} {
		if status, answer := signedRequest(t, rq.method, endpoint, rq.path, "", empty, rq.header); status != http.StatusNotImplemented || !strings.Contains(answer, "NotImplemented") {
			t.Errorf("%s %s: %d %s, want 501 NotImplemented", rq.method, rq.path, status, answer)
		}
	}
	// S3 has no DeleteObjectAcl: not a delete of the object.
	if status, answer := signedRequest(t, http.MethodDelete, endpoint, "/subs/k?acl", "", empty, nil); status != http.StatusMethodNotAllowed || !strings.Contains(answer, "MethodNotAllowed") {
		t.Errorf("DELETE ?acl of an object: %d %s, want 405 MethodNotAllowed", status, answer)
	}
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("subs-empty")}); err != nil {
		t.Errorf("the empty bucket after DELETE ?metadataTable: %v", err)
	}
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("subs-new")}); err == nil {
		t.Error("PUT ?abac made a bucket")
	}
	// All of it left the bucket and the object as they were.
	got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: key, VersionId: aws.String("null")})
	if err != nil {
		t.Fatalf("the object after the refused requests: %v", err)
	}
	data, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if string(data) != "data" {
		t.Fatalf("the object after the refused requests: %q", data)
	}
}

// A PUT whose body does not hash to its signed x-amz-content-sha256 is
// refused with S3's code and stores nothing, though the gateway streams
// it on to a target as it comes (the object as it was stays).
func TestBodyFailingItsHashIsNotStored(t *testing.T) {
	_, endpoint := testCluster(t)
	client := newClient(endpoint, secretKey)
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("hashes")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("hashes"), Key: aws.String("k"), Body: strings.NewReader("first")}); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"forged", strings.Repeat("forged ", 100_000)} {
		status, answer := signedPut(t, endpoint, "/hashes/k", body, hex.EncodeToString(sha256Of(strings.ToUpper(body))), nil)
		if status != http.StatusBadRequest || !strings.Contains(answer, "XAmzContentSHA256Mismatch") {
			t.Fatalf("a body of %d bytes not matching its hash: %d %s", len(body), status, answer)
		}
		if data := objectText(t, client, "hashes", "k"); data != "first" {
			t.Fatalf("after a refused body of %d bytes the object holds %d bytes, want the first", len(body), len(data))
		}
	}
}

// What users stored is served as theirs: an HTML object runs in no origin
// of the gateway's (the console's is there), and is not sniffed.
func TestStoredHTMLIsSandboxed(t *testing.T) {
	_, endpoint := testCluster(t)
	client := newClient(endpoint, secretKey)
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("pages")}); err != nil {
		t.Fatal(err)
	}
	page := "<script>alert(document.cookie)</script>"
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("pages"), Key: aws.String("x.html"), Body: strings.NewReader(page), ContentType: aws.String("text/html")}); err != nil {
		t.Fatal(err)
	}
	resp, body := presignedGet(t, client, &s3.GetObjectInput{Bucket: aws.String("pages"), Key: aws.String("x.html"), ResponseContentType: aws.String("text/html")})
	if resp.StatusCode != http.StatusOK || string(body) != page {
		t.Fatalf("the page: %d %q", resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); csp != "sandbox" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("an HTML object served with policy %q, nosniff %q: want sandbox and nosniff", csp, resp.Header.Get("X-Content-Type-Options"))
	}
}

// presignedGet fetches a URL the client presigns for a GET with plain
// net/http, and returns the answer and its body.
func presignedGet(t *testing.T, client *s3.Client, input *s3.GetObjectInput) (*http.Response, []byte) {
	t.Helper()
	presigned, err := s3.NewPresignClient(client).PresignGetObject(t.Context(), input)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(presigned.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body
}

// A request signed for another region is refused, as S3 does: keys shared
// by two clusters of different regions do not carry a request between them.
func TestOtherRegionRefused(t *testing.T) {
	_, endpoint := testCluster(t)
	client := s3.New(s3.Options{Region: "eu-west-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""), Retryer: aws.NopRetryer{}})
	_, err := client.ListBuckets(t.Context(), &s3.ListBucketsInput{})
	if code(err) != "AuthorizationHeaderMalformed" || !strings.Contains(err.Error(), "expecting 'us-east-1'") {
		t.Fatalf("a request signed for eu-west-1: %v, want AuthorizationHeaderMalformed naming us-east-1", err)
	}
	// The region is in the body and a header (a HEAD has no body), where
	// botocore looks to sign again for it.
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		req, _ := http.NewRequestWithContext(t.Context(), method, endpoint+"/", nil)
		req.Header.Set("x-amz-content-sha256", hex.EncodeToString(sha256Of("")))
		if err := v4.NewSigner().SignHTTP(t.Context(), aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}, req, hex.EncodeToString(sha256Of("")), "s3", "eu-west-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Header.Get("X-Amz-Bucket-Region") != "us-east-1" || method == http.MethodGet && !strings.Contains(string(body), "<Region>us-east-1</Region>") {
			t.Errorf("%s signed for eu-west-1: header %q, body %s; want the region us-east-1 named", method, resp.Header.Get("X-Amz-Bucket-Region"), body)
		}
	}
	// A URL presigned for it has no authorization header to be malformed.
	resp, body := presignedGet(t, client, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k")})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "<Code>AuthorizationQueryParametersError</Code>") {
		t.Fatalf("a URL presigned for eu-west-1: %d %s, want AuthorizationQueryParametersError", resp.StatusCode, body)
	}
}

// A DeleteObjects whose payload is unsigned must say what its body is
// (Content-MD5 or x-amz-checksum-*), as S3 requires: else a body changed
// on its way would delete other keys.
// (A checksum of an algorithm not checked is none.)
func TestDeleteObjectsUnsignedNeedsAnIntegrityHeader(t *testing.T) {
	_, endpoint := testCluster(t)
	body := `<Delete><Object><Key>k</Key></Object></Delete>`
	// (A trailer named without a trailer mode is not read.)
	for _, header := range []map[string]string{nil, {"x-amz-checksum-md5": "x"}, {"x-amz-trailer": "x-amz-checksum-crc32"}} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, endpoint+"/b?delete", strings.NewReader(body))
		req.Header.Set("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		if err := v4.NewSigner().SignHTTP(t.Context(), aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		refusedForContentMD5(t, req, fmt.Sprintf("an unsigned DeleteObjects with headers %v", header))
	}
	// Presigned: its payload is unsigned though no header says so.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, endpoint+"/b?delete=&X-Amz-Expires=300", nil)
	url, signed, err := v4.NewSigner().PresignHTTP(t.Context(), aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	req.Header = signed
	refusedForContentMD5(t, req, "a presigned DeleteObjects without an integrity header")
}

// refusedForContentMD5 sends req and wants it refused for lack of an
// integrity header.
func refusedForContentMD5(t *testing.T, req *http.Request, what string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(answer), "Content-MD5") {
		t.Fatalf("%s: %d %s, want 400 naming Content-MD5", what, resp.StatusCode, answer)
	}
}

// The x-amz-checksum-* headers of a PUT are checked: a body that does not
// match is BadDigest and is not stored, a malformed value InvalidRequest.
func TestChecksumHeaders(t *testing.T) {
	_, endpoint := testCluster(t)
	client := newClient(endpoint, secretKey)
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("sums")}); err != nil {
		t.Fatal(err)
	}
	// The SDK's own checksum, by the algorithm asked.
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("sums"), Key: aws.String("k"), Body: strings.NewReader("first"), ChecksumAlgorithm: types.ChecksumAlgorithmSha256}); err != nil {
		t.Fatal(err)
	}
	crc := func(s string) string {
		return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE([]byte(s))))
	}
	put := func(body, header, value string) (int, string) {
		return signedPut(t, endpoint, "/sums/k", body, hex.EncodeToString(sha256Of(body)), map[string]string{header: value})
	}
	if status, answer := put("second", "x-amz-checksum-crc32", crc("other")); status != http.StatusBadRequest || !strings.Contains(answer, "BadDigest") {
		t.Fatalf("a body not matching its CRC32: %d %s", status, answer)
	}
	if status, answer := put("second", "x-amz-checksum-crc32", "not base64!"); status != http.StatusBadRequest || !strings.Contains(answer, "InvalidRequest") {
		t.Fatalf("a malformed CRC32: %d %s", status, answer)
	}
	if status, answer := put("second", "x-amz-checksum-crc32", ""); status != http.StatusBadRequest || !strings.Contains(answer, "InvalidRequest") {
		t.Fatalf("an empty CRC32: %d %s", status, answer)
	}
	if data := objectText(t, client, "sums", "k"); data != "first" {
		t.Fatalf("after the refused PUTs: %q", data)
	}
	if status, answer := put("second", "x-amz-checksum-crc32", crc("second")); status != http.StatusOK {
		t.Fatalf("a body matching its CRC32: %d %s", status, answer)
	}
	// Signed into a presigned URL's query, a checksum and metadata count
	// as the headers would.
	presignedPut := func(body string, query map[string]string) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, endpoint+"/sums/presigned", nil)
		q := req.URL.Query()
		q.Set("X-Amz-Expires", "60")
		for k, v := range query {
			q.Set(k, v)
		}
		req.URL.RawQuery = q.Encode()
		url, _, err := v4.NewSigner().PresignHTTP(ctx, aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		put, _ := http.NewRequestWithContext(ctx, http.MethodPut, url, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(put)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(answer)
	}
	if status, answer := presignedPut("third", map[string]string{"x-amz-checksum-crc32": crc("other")}); status != http.StatusBadRequest || !strings.Contains(answer, "BadDigest") {
		t.Fatalf("a presigned PUT not matching the CRC32 of its URL: %d %s", status, answer)
	}
	if status, answer := presignedPut("third", map[string]string{"x-amz-checksum-crc32": crc("third"), "x-amz-meta-owner": "alice"}); status != http.StatusOK {
		t.Fatalf("a presigned PUT matching the CRC32 of its URL: %d %s", status, answer)
	}
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("sums"), Key: aws.String("presigned")})
	if err != nil || head.Metadata["owner"] != "alice" {
		t.Fatalf("the metadata of a presigned URL's query: %v %v", head.Metadata, err)
	}
	if status, answer := presignedPut("fourth", map[string]string{"x-amz-acl": "public-read"}); status != http.StatusNotImplemented {
		t.Fatalf("a presigned PUT granting public read in its URL: %d %s, want 501 as for the header", status, answer)
	}
}

// signedPut sends a PUT of body signed as the SDK would, with payload as
// its x-amz-content-sha256 and the extra headers (signed too); it returns
// the status and the answer.
func signedPut(t *testing.T, endpoint, path, body, payload string, header map[string]string) (int, string) {
	t.Helper()
	return signedRequest(t, http.MethodPut, endpoint, path, body, payload, header)
}

// signedRequest sends a request signed as the SDK would (see signedPut).
func signedRequest(t *testing.T, method, endpoint, path, body, payload string, header map[string]string) (int, string) {
	t.Helper()
	ctx := t.Context()
	raw, _ := http.NewRequestWithContext(ctx, method, endpoint+path, strings.NewReader(body))
	raw.Header.Set("x-amz-content-sha256", payload)
	for k, v := range header {
		raw.Header.Set(k, v)
	}
	if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}, raw, payload, "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(raw)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(answer)
}

// objectText is an object's bytes, read with the SDK.
func objectText(t *testing.T, client *s3.Client, bucket, key string) string {
	t.Helper()
	got, err := client.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GET %s/%s: %v", bucket, key, err)
	}
	data, _ := io.ReadAll(got.Body)
	got.Body.Close()
	return string(data)
}

// What a reviewer found: metadata an object could not keep is refused at
// the start of an upload; the multipart directory cannot be taken by an
// object; a bucket made through the native API with a name S3 would not
// take is still served.
func TestStartsRefusedAndNamesServed(t *testing.T) { bothClusters(t, testStartsRefusedAndNamesServed) }

func testStartsRefusedAndNamesServed(t *testing.T, c *gatewaytest.Cluster, endpoint string) {
	ctx := t.Context()
	client := newClient(endpoint, secretKey)
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("limits")}); err != nil {
		t.Fatal(err)
	}
	// The most an object keeps, in a single PUT.
	big := map[string]string{"note": strings.Repeat("n", 2000)}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("limits"), Key: aws.String("full"), Body: strings.NewReader("x"),
		Metadata: big, ContentType: aws.String(strings.Repeat("t", 300))}); err != nil {
		t.Fatalf("a PUT with 2000 bytes of metadata and a 300-byte Content-Type: %v", err)
	}
	_, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("limits"), Key: aws.String("too-much"),
		Metadata: big, ContentDisposition: aws.String(strings.Repeat("d", 1200))})
	if code(err) != "MetadataTooLarge" {
		t.Fatalf("an upload whose metadata its object could not keep: %v, want MetadataTooLarge", err)
	}
	_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("limits"), Key: aws.String(".s3-multipart"), Body: strings.NewReader("x")})
	if code(err) != "InvalidArgument" {
		t.Fatalf("a PUT of the multipart directory's name: %v, want InvalidArgument", err)
	}
	if _, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("limits"), Key: aws.String("k")}); err != nil {
		t.Fatalf("an upload after that: %v", err)
	}
	if err := c.Client().CreateBucket(ctx, "My_Data", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("My_Data"), Key: aws.String("k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatalf("a PUT to a bucket made with a native name: %v", err)
	}
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("My_Data")}); err != nil {
		t.Fatalf("HEAD of a bucket made with a native name: %v", err)
	}
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("Not_S3")}); code(err) != "InvalidBucketName" {
		t.Fatalf("creating a bucket S3 would not name: %v, want InvalidBucketName", err)
	}
}

// An error answer to a GET (a range past the end, a part that is not
// there) carries none of the object's headers: a client would take the
// XML for gzip, or cache it under the object's ETag.
func TestGetErrorsCarryNoObjectHeaders(t *testing.T) {
	_, endpoint := testClusterOf(t, true)
	ctx := t.Context()
	client := newClient(endpoint, secretKey)
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("errors")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("errors"), Key: aws.String("z"), Body: strings.NewReader("zipped"),
		ContentEncoding: aws.String("gzip"), Metadata: map[string]string{"kind": "archive"}}); err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]*s3.GetObjectInput{
		"range":       {Bucket: aws.String("errors"), Key: aws.String("z"), Range: aws.String("bytes=999999-")},
		"part number": {Bucket: aws.String("errors"), Key: aws.String("z"), PartNumber: aws.Int32(3)},
	} {
		_, err := client.GetObject(ctx, in)
		var resp *awshttp.ResponseError
		if !errors.As(err, &resp) || resp.HTTPStatusCode() < 400 {
			t.Fatalf("%s: %v, want an error answer", name, err)
		}
		h := resp.Response.Header
		for _, k := range []string{"Content-Encoding", "ETag", "X-Amz-Meta-Kind", "Last-Modified"} {
			if v := h.Get(k); v != "" {
				t.Errorf("%s: the %d answer has %s: %s", name, resp.HTTPStatusCode(), k, v)
			}
		}
	}
}

// Objects keep no tags: their tagging reads as an empty set (awscli v2
// asks it before a multipart copy), a PUT of no tags and a DELETE are
// done (the object stays), a PUT of tags is refused; a missing key is
// NoSuchKey.
func TestObjectTagging(t *testing.T) {
	_, endpoint := testCluster(t)
	client := newClient(endpoint, secretKey)
	ctx := t.Context()
	bucket, key := aws.String("tags"), aws.String("k")
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: key, Body: strings.NewReader("data")}); err != nil {
		t.Fatal(err)
	}
	got, err := client.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: bucket, Key: key})
	if err != nil || got.TagSet == nil || len(got.TagSet) != 0 {
		t.Fatalf("the tagging of an object: %+v %v, want an empty tag set", got, err)
	}
	if _, err := client.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: bucket, Key: key, Tagging: &types.Tagging{TagSet: []types.Tag{}}}); err != nil {
		t.Fatalf("a PUT of no tags: %v", err)
	}
	tagged := &types.Tagging{TagSet: []types.Tag{{Key: aws.String("team"), Value: aws.String("vision")}}}
	if _, err := client.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: bucket, Key: key, Tagging: tagged}); code(err) != "NotImplemented" {
		t.Fatalf("a PUT of tags: %v, want NotImplemented", err)
	}
	// Bodies without S3's namespace (as some SDKs send them) are read.
	for path, body := range map[string]string{
		"/tags/k?tagging": "<Tagging><TagSet></TagSet></Tagging>",
		"/tags/k?acl":     "<AccessControlPolicy><AccessControlList></AccessControlList></AccessControlPolicy>",
	} {
		if status, answer := signedPut(t, endpoint, path, body, hex.EncodeToString(sha256Of(body)), nil); status != http.StatusOK {
			t.Fatalf("PUT %s with a body without namespace: %d %s", path, status, answer)
		}
	}
	if _, err := client.DeleteObjectTagging(ctx, &s3.DeleteObjectTaggingInput{Bucket: bucket, Key: key}); err != nil {
		t.Fatalf("DeleteObjectTagging: %v", err)
	}
	if text := objectText(t, client, "tags", "k"); text != "data" {
		t.Fatalf("the object after DeleteObjectTagging: %q", text)
	}
	if _, err := client.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: bucket, Key: aws.String("missing")}); code(err) != "NoSuchKey" {
		t.Fatalf("the tagging of a missing key: %v", err)
	}
}

// An empty Content-MD5 is a bad digest, not none; an x-amz-acl that is no
// canned ACL is a bad argument, not one this server does not keep; an
// object stored without a Content-Type reads as S3's default.
func TestHeadersS3Checks(t *testing.T) {
	_, endpoint := testCluster(t)
	client := newClient(endpoint, secretKey)
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("hdrs")}); err != nil {
		t.Fatal(err)
	}
	const unsigned = "UNSIGNED-PAYLOAD"
	if status, body := signedPut(t, endpoint, "/hdrs/md5", "data", unsigned, map[string]string{"Content-MD5": ""}); status != http.StatusBadRequest || !strings.Contains(body, "InvalidDigest") {
		t.Errorf("a PUT with an empty Content-MD5: %d %s", status, body)
	}
	if status, body := signedPut(t, endpoint, "/hdrs/acl", "data", unsigned, map[string]string{"x-amz-acl": "public-ready"}); status != http.StatusBadRequest || !strings.Contains(body, "InvalidArgument") {
		t.Errorf("a PUT with x-amz-acl public-ready: %d %s", status, body)
	}
	if status, body := signedPut(t, endpoint, "/hdrs/acl", "data", unsigned, map[string]string{"x-amz-acl": "public-read"}); status != http.StatusNotImplemented {
		t.Errorf("a PUT with x-amz-acl public-read: %d %s", status, body)
	}
	// (The SDK would send a Content-Type of its own.)
	if status, body := signedPut(t, endpoint, "/hdrs/plain", "data", unsigned, nil); status != http.StatusOK {
		t.Fatalf("a PUT without a Content-Type: %d %s", status, body)
	}
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("hdrs"), Key: aws.String("plain")})
	if err != nil || aws.ToString(head.ContentType) != "binary/octet-stream" {
		t.Errorf("the Content-Type of an object stored without one: %q %v", aws.ToString(head.ContentType), err)
	}
}

// A Range with an If-Range is served only when the If-Range names the
// version held: another one gets the whole object, so a resumed download
// does not join two versions.
func TestIfRange(t *testing.T) {
	_, endpoint := testClusterOf(t, true)
	ctx := t.Context()
	client := newClient(endpoint, secretKey)
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("resume")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("resume"), Key: aws.String("k"), Body: strings.NewReader("version two")}); err != nil {
		t.Fatal(err)
	}
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("resume"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	modified := aws.ToTime(head.LastModified).UTC()
	const emptyPayload = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	for _, tc := range []struct {
		ifRange string
		status  int
		body    string
	}{
		{"", http.StatusPartialContent, "two"},
		{aws.ToString(head.ETag), http.StatusPartialContent, "two"},
		{modified.Format(http.TimeFormat), http.StatusPartialContent, "two"},
		{`"0123456789abcdef0123456789abcdef"`, http.StatusOK, "version two"},
		{"W/" + aws.ToString(head.ETag), http.StatusOK, "version two"},
		{modified.Add(-time.Hour).Format(http.TimeFormat), http.StatusOK, "version two"},
		{"not a date", http.StatusOK, "version two"},
	} {
		header := map[string]string{"Range": "bytes=8-"}
		if tc.ifRange != "" {
			header["If-Range"] = tc.ifRange
		}
		status, body := signedRequest(t, http.MethodGet, endpoint, "/resume/k", "", emptyPayload, header)
		if status != tc.status || body != tc.body {
			t.Errorf("If-Range %q: %d %q, want %d %q", tc.ifRange, status, body, tc.status, tc.body)
		}
	}
}

// DeleteBucket races PUTs of new keys: a PUT that was acknowledged keeps
// the bucket (BucketNotEmpty), and a bucket that was deleted took no PUT.
// Each round starts the two together, the PUT a little later or earlier.
func TestDeleteBucketLosesNoAcknowledgedPut(t *testing.T) {
	c, endpoint := testCluster(t)
	client := newClient(endpoint, secretKey)
	native := api.NewClient(c.Primary().URL())
	ctx := t.Context()
	deleted, kept := 0, 0
	for round := range 40 {
		bucket := aws.String(fmt.Sprintf("race%d", round))
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
			t.Fatal(err)
		}
		putErr, deleteErr := make(chan error, 1), make(chan error, 1)
		delay := time.Duration(round%8) * time.Millisecond
		go func() {
			time.Sleep(delay)
			_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("k"), Body: strings.NewReader("acknowledged")})
			putErr <- err
		}()
		go func() {
			_, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: bucket})
			deleteErr <- err
		}()
		errPut, errDelete := <-putErr, <-deleteErr
		switch {
		case errDelete == nil && errPut == nil:
			t.Fatalf("round %d: DeleteBucket succeeded and so did a PUT into the bucket: the PUT's object is lost", round)
		case errDelete == nil:
			deleted++
			if c := code(errPut); c != "NoSuchBucket" && c != "ServiceUnavailable" {
				t.Fatalf("round %d: a PUT into a bucket deleted meanwhile: %v", round, errPut)
			}
		case code(errDelete) == "BucketNotEmpty" || code(errDelete) == "ServiceUnavailable":
			kept++
			if errPut == nil {
				if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("k")}); err != nil {
					t.Fatalf("round %d: the acknowledged PUT's object: %v", round, err)
				}
			}
			if err := native.DestroyBucket(ctx, *bucket); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("round %d: DeleteBucket: %v", round, errDelete)
		}
	}
	t.Logf("%d buckets deleted, %d kept", deleted, kept)
}

// Uploads in progress do not keep a bucket: they go with it.
func TestDeleteBucketTakesUploadsInProgress(t *testing.T) {
	_, endpoint := testCluster(t)
	client := newClient(endpoint, secretKey)
	ctx := t.Context()
	bucket := aws.String("uploads")
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: aws.String("big"), UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("part")}); err != nil {
		t.Fatal(err)
	}
	// A key that sorts after the uploads' own names keeps the bucket.
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("z"), Body: strings.NewReader("z")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: bucket}); code(err) != "BucketNotEmpty" {
		t.Fatalf("delete a bucket with an upload and an object: %v", err)
	}
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: aws.String("z")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: bucket}); err != nil {
		t.Fatalf("delete a bucket with only an upload in progress: %v", err)
	}
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: bucket}); code(err) != "NotFound" && code(err) != "NoSuchBucket" {
		t.Fatalf("the bucket after its delete: %v", err)
	}
}

// DeleteBucket counts the objects a listing does not show: those that may
// be on a disabled mountpath (503 until it is back), and an erasure-coded
// object whose own copy is lost but whose parts remain (BucketNotEmpty).
func TestDeleteBucketCountsUnlistedObjects(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, Mountpaths: 2, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.S3Keys = map[string]string{accessKey: secretKey}
	}})
	client := newClient(c.Primary().URL()+"/s3", secretKey)
	native := api.NewClient(c.Primary().URL())
	ctx := t.Context()

	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("away")}); err != nil {
		t.Fatal(err)
	}
	target := c.Targets()[0]
	mps, err := native.Mountpaths(ctx, target.URL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := native.MountpathAction(ctx, target.URL(), api.ActionDisableMountpath, mps[1].Path); err != nil {
		t.Fatal(err)
	}
	_, err = client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("away")})
	if code(err) != "ServiceUnavailable" || !strings.Contains(err.Error(), "disabled") {
		t.Fatalf("delete a bucket while a mountpath is disabled: %v", err)
	}
	if _, err := native.MountpathAction(ctx, target.URL(), api.ActionEnableMountpath, mps[1].Path); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("away")}); err != nil {
		t.Fatalf("delete once the mountpath is back: %v", err)
	}

	if err := native.CreateBucket(ctx, "coded", map[string]any{"ec": map[string]any{"enabled": true, "data_slices": 1, "parity_slices": 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("coded"), Key: aws.String("k"), Body: bytes.NewReader(randomBytes(10_000, 7))}); err != nil {
		t.Fatal(err)
	}
	loc, err := native.ObjectLocation(ctx, "coded", "k")
	if err != nil || len(loc.Copies) == 0 || len(loc.Parts) == 0 {
		t.Fatalf("location: %+v %v", loc, err)
	}
	for _, copy := range loc.Copies {
		if err := os.Remove(copy.Path); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("coded")}); code(err) != "BucketNotEmpty" {
		t.Fatalf("delete a bucket with an object left in parts only: %v", err)
	}
}

// A common prefix is skipped from a position the native API's listing
// carries in JSON: keys of 4-byte characters under it (an emoji) are
// still skipped, not taken as out of order (500).
func TestListRollsUpKeysOfFourByteCharacters(t *testing.T) {
	_, endpoint := testCluster(t)
	client := newClient(endpoint, secretKey)
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("emoji")}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"photos/a.jpg", "photos/b.jpg", "photos/😀.jpg", "z😀"} {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("emoji"), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	var items []string
	pages := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String("emoji"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(1)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.CommonPrefixes {
			items = append(items, aws.ToString(p.Prefix))
		}
		for _, o := range page.Contents {
			items = append(items, aws.ToString(o.Key))
		}
	}
	if !slices.Equal(items, []string{"photos/", "z😀"}) {
		t.Fatalf("listed %q, want photos/ and z😀", items)
	}
}

// Without keys an aws-chunked body that does not say its decoded length
// is stored as its payload: the framed length on the wire is not the
// object's size.
func TestUnsignedChunkedBodyWithoutItsLength(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	endpoint := c.Primary().URL() + "/s3"
	do := func(method, path string, header http.Header, body string) (int, string) {
		req, err := http.NewRequestWithContext(t.Context(), method, endpoint+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for name, values := range header {
			req.Header[name] = values
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	if status, body := do(http.MethodPut, "/chunked", nil, ""); status != http.StatusOK {
		t.Fatalf("create bucket: %d %s", status, body)
	}
	header := http.Header{"Content-Encoding": {"aws-chunked"}, "X-Amz-Content-Sha256": {"STREAMING-UNSIGNED-PAYLOAD-TRAILER"}}
	if status, body := do(http.MethodPut, "/chunked/k", header, "5\r\nhello\r\n0\r\n\r\n"); status != http.StatusOK {
		t.Fatalf("put: %d %s", status, body)
	}
	if status, body := do(http.MethodGet, "/chunked/k", nil, ""); status != http.StatusOK || body != "hello" {
		t.Fatalf("get: %d %q", status, body)
	}
}

// refusesPut is a store whose disk refuses to store one name, and is
// slow to store another.
type refusesPut struct {
	store.Store
	name, slow string
}

func (s refusesPut) Put(ctx context.Context, b store.Bucket, name string, r io.Reader, opts store.PutOptions) (store.ObjectMeta, error) {
	switch name {
	case s.name:
		return store.ObjectMeta{}, errors.New("the test's disk refuses " + name)
	case s.slow:
		time.Sleep(2 * time.Second)
	}
	return s.Store.Put(ctx, b, name, r, opts)
}

// Long writes begin their 200 and send white space until their result
// (here at once): the SDK reads the result, or the <Error> that follows
// a 200, as from S3.
func TestLongWritesAnswerSlowly(t *testing.T) {
	defer s3api.AnswerSlowlyAtOnce()()
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.S3Keys = map[string]string{accessKey: secretKey}
		if cfg.Store != nil {
			cfg.Store = refusesPut{Store: cfg.Store, name: "refused", slow: "slowly"}
		}
	}})
	client := newClient(c.Primary().URL()+"/s3", secretKey)
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("slow")}); err != nil {
		t.Fatal(err)
	}
	data := randomBytes(1<<20, 7)
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("slow"), Key: aws.String("src"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	out, err := client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("slow"), Key: aws.String("copy"), CopySource: aws.String("slow/src")})
	if err != nil || aws.ToString(out.CopyObjectResult.ETag) != `"`+md5hex(data)+`"` {
		t.Fatalf("copy: %+v %v", out, err)
	}
	// A client whose read times out before the copy ends gets its answer.
	impatient := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(c.Primary().URL() + "/s3"), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""), Retryer: aws.NopRetryer{},
		HTTPClient: &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: time.Second}}})
	if _, err := impatient.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("slow"), Key: aws.String("slowly"), CopySource: aws.String("slow/src")}); err != nil {
		t.Fatalf("a copy longer than the client's read timeout: %v", err)
	}
	// The copy fails once begun (the disk refuses the name).
	if _, err := client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("slow"), Key: aws.String("refused"), CopySource: aws.String("slow/src")}); code(err) != "InternalError" || !strings.Contains(err.Error(), "the test's disk refuses") {
		t.Fatalf("a copy the disk refuses: %v, want its InternalError", err)
	}
	// Counted as the error its document tells, not the 200 carrying it.
	if metrics := gatewaytest.Scrape(t, c.Primary().URL()); metrics.Value("ais_s3_requests_total", "op", "PUT object", "status", "500") != 1 {
		t.Fatalf("the refused copy in the S3 metrics: %v of status 500, want 1", metrics.Value("ais_s3_requests_total", "op", "PUT object", "status", "500"))
	}
	up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("slow"), Key: aws.String("multi")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("slow"), Key: aws.String("multi"), UploadId: up.UploadId, PartNumber: aws.Int32(1), CopySource: aws.String("slow/src")})
	if err != nil || aws.ToString(part.CopyPartResult.ETag) != `"`+md5hex(data)+`"` {
		t.Fatalf("upload part copy: %+v %v", part, err)
	}
	complete := &s3.CompleteMultipartUploadInput{Bucket: aws.String("slow"), Key: aws.String("multi"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.CopyPartResult.ETag}}}}
	done, err := client.CompleteMultipartUpload(ctx, complete)
	var transport *awshttp.ResponseError
	if errors.As(err, &transport) && transport.HTTPStatusCode() == http.StatusOK && code(err) == "" {
		// Under load the SDK's transport may lose the connection while it
		// reads the slow answer (its own side closed): sent again, as
		// its default retryer would, the Complete that is done answers.
		done, err = client.CompleteMultipartUpload(ctx, complete)
	}
	if err != nil || !strings.HasSuffix(aws.ToString(done.ETag), `-1"`) {
		t.Fatalf("complete: %+v %v", done, err)
	}
	got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("slow"), Key: aws.String("multi")})
	if err != nil {
		t.Fatal(err)
	}
	defer got.Body.Close()
	if body, err := io.ReadAll(got.Body); err != nil || !bytes.Equal(body, data) {
		t.Fatalf("the completed object: %d bytes, %v", len(body), err)
	}
}

// While a target is offline a listing cannot be whole: S3 has no way to
// say a page is partial, so ListObjects answers 503 (a sync would
// delete what the target holds), and a Complete whose parts the target
// holds answers 503, not InvalidPart (the client retries rather than
// abort the upload, leaving the parts on the target for good).
func TestOfflineTargetMakesListingsUnavailable(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true,
		KeepaliveInterval: 100 * time.Millisecond, KeepaliveTimeout: time.Second,
		Configure: func(cfg *gateway.Config) { cfg.S3Keys = map[string]string{accessKey: secretKey} }})
	client := newClient(c.Primary().URL()+"/s3", secretKey)
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for i := range 8 {
		n := int32(i + 1)
		out, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("big"), UploadId: up.UploadId, PartNumber: aws.Int32(n), Body: bytes.NewReader(randomBytes(1000, uint64(n)))})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag})
	}
	victim := c.Targets()[1]
	c.Kill(victim)
	c.WaitForState(victim.Node.ID(), cluster.StateOffline)
	_, err = client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bkt")})
	if code(err) != "ServiceUnavailable" {
		t.Fatalf("a listing while a target is offline: %v, want ServiceUnavailable", err)
	}
	_, err = client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("big"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if code(err) != "ServiceUnavailable" {
		t.Fatalf("a Complete while the target of some parts is offline: %v, want ServiceUnavailable", err)
	}
	// An upload whose parts are all on the targets left completes.
	live, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("small")})
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(1000, 99)
	out, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("small"), UploadId: live.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("small"), UploadId: live.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: out.ETag}}}}); err != nil {
		t.Fatalf("a Complete whose part is on a live target while another is offline: %v", err)
	}
}

// A multi-object delete is checked against its Content-MD5 or
// x-amz-checksum-*: a body changed on its way deletes nothing. A GET that
// names both a part and a range is refused, as S3 does.
func TestDeleteObjectsChecksItsBody(t *testing.T) {
	_, endpoint := testCluster(t)
	client := newClient(endpoint, secretKey)
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("del")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("del"), Key: aws.String("k"), Body: strings.NewReader("data")}); err != nil {
		t.Fatal(err)
	}
	body := `<Delete><Object><Key>k</Key></Object></Delete>`
	other := md5.Sum([]byte(`<Delete><Object><Key>x</Key></Object></Delete>`))
	payload := hex.EncodeToString(sha256Of(body))
	for name, header := range map[string]map[string]string{
		"Content-MD5":          {"Content-MD5": base64.StdEncoding.EncodeToString(other[:])},
		"x-amz-checksum-crc32": {"x-amz-checksum-crc32": base64.StdEncoding.EncodeToString([]byte{1, 2, 3, 4})},
	} {
		status, answer := signedRequest(t, http.MethodPost, endpoint, "/del?delete", body, payload, header)
		if status != http.StatusBadRequest || !strings.Contains(answer, "BadDigest") {
			t.Errorf("a delete whose %s does not match: %d %s", name, status, answer)
		}
	}
	// One over 2 MiB, its digest right, is too long, not corrupt.
	long := `<Delete>` + strings.Repeat(`<Object><Key>`+strings.Repeat("k", 1000)+`</Key></Object>`, 2200) + `</Delete>`
	longSum := md5.Sum([]byte(long))
	if status, answer := signedRequest(t, http.MethodPost, endpoint, "/del?delete", long, hex.EncodeToString(sha256Of(long)), map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(longSum[:])}); status != http.StatusBadRequest || !strings.Contains(answer, "MaxMessageLengthExceeded") {
		t.Errorf("a delete over 2 MiB: %d %.200s", status, answer)
	}
	if got := objectText(t, client, "del", "k"); got != "data" {
		t.Fatalf("after refused deletes: %q", got)
	}
	sum := md5.Sum([]byte(body))
	if status, answer := signedRequest(t, http.MethodPost, endpoint, "/del?delete", body, payload, map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(sum[:])}); status != http.StatusOK || !strings.Contains(answer, "<Deleted>") {
		t.Fatalf("a delete whose Content-MD5 matches: %d %s", status, answer)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("del"), Key: aws.String("k"), Body: strings.NewReader("data")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("del"), Key: aws.String("k"), PartNumber: aws.Int32(1), Range: aws.String("bytes=0-1")}); code(err) != "InvalidRequest" {
		t.Fatalf("a GET of a part and a range: %v, want InvalidRequest", err)
	}
}

// A part is at most 5 GiB, as in S3: one announced larger is refused at
// once (EntityTooLarge), before its body is read.
func TestPartPastFiveGiBIsRefused(t *testing.T) {
	_, endpoint := testClusterOf(t, true)
	client := newClient(endpoint, secretKey)
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("parts")}); err != nil {
		t.Fatal(err)
	}
	up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("parts"), Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	// send writes a signed PUT by hand: a length claimed, or none
	// (chunked), and a few bytes of body.
	send := func(path string, length int64) (int, string) {
		req, _ := http.NewRequest(http.MethodPut, endpoint+path, nil)
		req.Header.Set("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
		if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		conn, err := net.Dial("tcp", req.URL.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\n", req.URL.RequestURI(), req.URL.Host)
		if length >= 0 {
			fmt.Fprintf(conn, "Content-Length: %d\r\n", length)
		} else {
			fmt.Fprint(conn, "Transfer-Encoding: chunked\r\n")
		}
		for k, vs := range req.Header {
			for _, v := range vs {
				fmt.Fprintf(conn, "%s: %s\r\n", k, v)
			}
		}
		if length >= 0 {
			fmt.Fprint(conn, "\r\n0123456789")
		} else {
			fmt.Fprint(conn, "\r\na\r\n0123456789\r\n0\r\n\r\n")
		}
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	part := "/parts/big?partNumber=1&uploadId=" + aws.ToString(up.UploadId)
	for _, c := range []struct {
		what, path string
		length     int64
		status     int
		code       string
	}{
		{"a part of 6 GiB", part, 6 << 30, http.StatusBadRequest, "EntityTooLarge"},
		{"a PUT of 6 GiB", "/parts/single", 6 << 30, http.StatusBadRequest, "EntityTooLarge"},
	} {
		if status, body := send(c.path, c.length); status != c.status || !strings.Contains(body, c.code) {
			t.Errorf("%s: %d %s, want %d %s", c.what, status, body, c.status, c.code)
		}
	}
	// A body of unknown length (chunked) is cut at the bound: 10 bytes
	// past a bound of 9 are refused, within one of 10 stored.
	restore := s3api.LimitPutSize(9)
	for _, path := range []string{part, "/parts/single"} {
		if status, body := send(path, -1); status != http.StatusBadRequest || !strings.Contains(body, "EntityTooLarge") {
			t.Errorf("%s: 10 bytes of no length past a bound of 9: %d %s, want 400 EntityTooLarge", path, status, body)
		}
	}
	if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("parts"), Key: aws.String("single")}); err == nil {
		t.Error("a refused PUT stored its object")
	}
	restore()
	defer s3api.LimitPutSize(10)()
	for _, path := range []string{part, "/parts/single"} {
		if status, body := send(path, -1); status != http.StatusOK {
			t.Errorf("%s: 10 bytes of no length within a bound of 10: %d %s", path, status, body)
		}
	}
}

// A 304 carries what a 200 says of the copy's freshness: Cache-Control,
// Expires and Last-Modified, beside the ETag.
func TestNotModifiedKeepsCachingHeaders(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	endpoint := c.Primary().URL() + "/s3"
	do := func(method, path string, header http.Header, body string) *http.Response {
		req, _ := http.NewRequestWithContext(t.Context(), method, endpoint+path, strings.NewReader(body))
		for name, values := range header {
			req.Header[name] = values
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if resp := do(http.MethodPut, "/cached", nil, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("create bucket: %d", resp.StatusCode)
	}
	put := do(http.MethodPut, "/cached/page", http.Header{"Cache-Control": {"max-age=3600"}, "Expires": {"Wed, 21 Oct 2037 07:28:00 GMT"}}, "hello")
	if put.StatusCode != http.StatusOK {
		t.Fatalf("put: %d", put.StatusCode)
	}
	full := do(http.MethodGet, "/cached/page", nil, "")
	again := do(http.MethodGet, "/cached/page", http.Header{"If-None-Match": {put.Header.Get("ETag")}}, "")
	if again.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match of its ETag: %d", again.StatusCode)
	}
	for _, name := range []string{"ETag", "Cache-Control", "Expires", "Last-Modified"} {
		if got, want := again.Header.Get(name), full.Header.Get(name); got == "" || got != want {
			t.Errorf("304's %s %q, the 200's %q", name, got, want)
		}
	}
}

// An empty last part of a multipart object is read by its number as a
// whole, empty answer: no Content-Range naming a last byte before its
// first.
func TestEmptyLastPartByNumber(t *testing.T) {
	_, endpoint := testClusterOf(t, true)
	client := newClient(endpoint, secretKey)
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("parts")}); err != nil {
		t.Fatal(err)
	}
	up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("parts"), Key: aws.String("o")})
	if err != nil {
		t.Fatal(err)
	}
	var completed []types.CompletedPart
	for i, body := range [][]byte{randomBytes(5<<20, 7), nil} {
		out, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("parts"), Key: aws.String("o"), UploadId: up.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		completed = append(completed, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
	}
	if _, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("parts"), Key: aws.String("o"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: completed}}); err != nil {
		t.Fatal(err)
	}
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("parts"), Key: aws.String("o"), PartNumber: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if len(body) != 0 || aws.ToInt64(out.ContentLength) != 0 || out.ContentRange != nil || aws.ToInt32(out.PartsCount) != 2 {
		t.Fatalf("GET of the empty part 2: %d bytes, length %d, range %q, parts %d", len(body), aws.ToInt64(out.ContentLength), aws.ToString(out.ContentRange), aws.ToInt32(out.PartsCount))
	}
}

// A client that names the bucket by host (aws-sdk-go-v2's default, s3cmd's
// host_bucket) is served: BUCKET.localhost is the bucket, the path its
// key. Routed by path, its PutObject created a bucket named by the key and
// dropped the bytes.
func TestVirtualHostedRequests(t *testing.T) {
	c, endpoint := testCluster(t)
	u, _ := url.Parse(endpoint)
	// BUCKET.localhost reaches the gateway whatever the resolver says.
	dialer := &net.Dialer{}
	transport := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, u.Host)
	}}
	_, port, _ := net.SplitHostPort(u.Host)
	virtual := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://localhost:" + port + "/s3"),
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""), Retryer: aws.NopRetryer{},
		HTTPClient: &http.Client{Transport: transport}})
	ctx := t.Context()
	if _, err := virtual.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatal(err)
	}
	if _, err := virtual.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("photos"), Key: aws.String("dir/cat.jpg"), Body: strings.NewReader("meow")}); err != nil {
		t.Fatal(err)
	}
	if got := objectText(t, virtual, "photos", "dir/cat.jpg"); got != "meow" {
		t.Fatalf("the object read by host: %q", got)
	}
	// The same object by path; no bucket named by the key.
	if _, err := c.Client().Head(ctx, "photos", "dir/cat.jpg"); err != nil {
		t.Fatalf("the object through the native API: %v", err)
	}
	if _, err := c.Client().BucketProps(ctx, "dir"); !errors.Is(err, api.ErrBucketNotFound) {
		t.Fatalf("a bucket named by the key: %v", err)
	}
	list, err := virtual.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("photos")})
	if err != nil || len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != "dir/cat.jpg" {
		t.Fatalf("the listing by host: %+v %v", list, err)
	}
	// A bucket by host that is none answers NoSuchBucket, though the
	// key's first segment names one: not a PUT into that one.
	if _, err := virtual.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("nophotos"), Key: aws.String("photos/x.jpg"), Body: strings.NewReader("x")}); code(err) != "NoSuchBucket" {
		t.Fatalf("a PUT by host into a bucket that is none: %v, want NoSuchBucket", err)
	}
	if _, err := c.Client().Head(ctx, "photos", "x.jpg"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the PUT into a missing bucket by host wrote into the bucket of the key's first segment: %v", err)
	}
	// A path-style client whose endpoint is localhost itself is served
	// by path.
	pathStyle := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://localhost:" + port + "/s3"), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""), Retryer: aws.NopRetryer{},
		HTTPClient: &http.Client{Transport: transport}})
	if got := objectText(t, pathStyle, "photos", "dir/cat.jpg"); got != "meow" {
		t.Fatalf("the object read by path through localhost: %q", got)
	}
}

// A CreateBucket's body is a CreateBucketConfiguration of this region or
// nothing: an object's bytes there (a virtual-hosted PutObject routed by
// path) are refused, not dropped with a bucket made.
func TestCreateBucketBody(t *testing.T) {
	c, endpoint := testCluster(t)
	client := newClient(endpoint, secretKey)
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("here"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: "us-east-1"}}); err != nil {
		t.Fatalf("a configuration of this region: %v", err)
	}
	_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("there"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintEuWest1}})
	if code(err) != "IllegalLocationConstraintException" {
		t.Fatalf("a configuration of another region: %v", err)
	}
	// A PutObject of photo.jpg as a path-routed virtual-hosted client
	// sends it: PUT /photo.jpg with the bytes.
	req, _ := http.NewRequest(http.MethodPut, c.Primary().URL()+"/s3/photo.jpg", strings.NewReader("\xff\xd8\xff\xe0 jpeg bytes"))
	req.Header.Set("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
	if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "MalformedXML") {
		t.Fatalf("an object's bytes as a CreateBucket's body: %d %s", resp.StatusCode, body)
	}
	if _, err := c.Client().BucketProps(ctx, "photo.jpg"); !errors.Is(err, api.ErrBucketNotFound) {
		t.Fatalf("a bucket made of the object's name: %v", err)
	}
}

// A read or delete of a key no object can have ("dir/", as s3fs probes
// and boto3 deletes) is not found, or deleted, as S3 answers of a missing
// key; a write of it is refused.
func TestUnstorableKeysReadAsMissing(t *testing.T) {
	_, endpoint := testCluster(t)
	client := newClient(endpoint, secretKey)
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("dir/")}); !strings.Contains(fmt.Sprint(err), "404") {
		t.Fatalf("HEAD dir/: %v, want 404", err)
	}
	if _, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("dir/")}); code(err) != "NoSuchKey" {
		t.Fatalf("GET dir/: %v, want NoSuchKey", err)
	}
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("dir/")}); err != nil {
		t.Fatalf("DELETE dir/: %v, want done", err)
	}
	out, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("bkt"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("a/")}, {Key: aws.String("x")}}}})
	if err != nil || len(out.Errors) != 0 || len(out.Deleted) != 2 {
		t.Fatalf("DeleteObjects of a/ and x: %+v %v", out, err)
	}
	// Its null version and a read's conditions are as of any missing
	// key; an upload of it is none.
	if _, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("dir/"), VersionId: aws.String("null"), IfMatch: aws.String(`"x"`)}); code(err) != "NoSuchKey" {
		t.Fatalf("GET dir/ of the null version, If-Match: %v, want NoSuchKey", err)
	}
	if _, err := client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("dir/"), UploadId: aws.String("u")}); code(err) != "NoSuchUpload" {
		t.Fatalf("abort an upload of dir/: %v, want NoSuchUpload", err)
	}
	// A version asked of it is checked as of any key.
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("dir/"), VersionId: aws.String("abc")}); err == nil {
		t.Fatal("DELETE dir/ of version abc: done, want refused as of any key")
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("dir/"), Body: strings.NewReader("")}); code(err) != "InvalidArgument" {
		t.Fatalf("PUT dir/: %v, want InvalidArgument", err)
	}
	if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("none"), Key: aws.String("dir/")}); !strings.Contains(fmt.Sprint(err), "404") {
		t.Fatalf("HEAD dir/ of a missing bucket: %v", err)
	}
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("none"), Key: aws.String("dir/")}); code(err) != "NoSuchBucket" {
		t.Fatalf("DELETE dir/ of a missing bucket: %v, want NoSuchBucket", err)
	}
}

// Out of us-east-1, a bucket made again is BucketAlreadyOwnedByYou, as
// S3 answers there.
func TestCreateTwiceOutOfUSEast1(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.S3Keys = map[string]string{accessKey: secretKey}
		cfg.S3Region = "eu-central-1"
	}})
	client := s3.New(s3.Options{Region: "eu-central-1", BaseEndpoint: aws.String(c.Primary().URL() + "/s3"), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""), Retryer: aws.NopRetryer{}})
	input := &s3.CreateBucketInput{Bucket: aws.String("twice"), CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: "eu-central-1"}}
	if _, err := client.CreateBucket(t.Context(), input); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateBucket(t.Context(), input); code(err) != "BucketAlreadyOwnedByYou" {
		t.Fatalf("create twice in eu-central-1: %v", err)
	}
}
