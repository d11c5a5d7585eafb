package s3_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	s3api "github.com/aisgo/aisgo/gateway/s3"
)

// clientBackend is the native client as an S3 backend, for a Server the
// test drives itself.
type clientBackend struct{ *api.Client }

func (clientBackend) DestroyEmptyBucket(context.Context, string, string) error {
	return errors.New("not in this test")
}

// multipartNames lists what a bucket holds under .s3-multipart/.
func multipartNames(t *testing.T, client *api.Client, bucket string) []string {
	t.Helper()
	var names []string
	for e, err := range client.ListAll(t.Context(), bucket, api.ListObjectsMessage{Prefix: ".s3-multipart/"}) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, e.Name)
	}
	slices.Sort(names)
	return names
}

func startUpload(t *testing.T, client *s3.Client, bucket, key string) (string, types.CompletedPart) {
	t.Helper()
	up, err := client.CreateMultipartUpload(t.Context(), &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	part, err := client.UploadPart(t.Context(), &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("part of " + key)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(up.UploadId), types.CompletedPart{PartNumber: aws.Int32(1), ETag: part.ETag}
}

// A sweep removes the uploads started before its cut, closed ones, and
// parts left without a record before the cut; it keeps younger uploads
// and parts, which still complete.
func TestSweepUploads(t *testing.T) {
	c, endpoint := testCluster(t)
	client, native := newClient(endpoint, secretKey), api.NewClient(c.Primary().URL())
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("sweep")}); err != nil {
		t.Fatal(err)
	}
	putNative := func(name string, body []byte) {
		t.Helper()
		if _, err := native.Put(ctx, "sweep", name, bytes.NewReader(body), api.PutOptions{Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
	}
	stale, _ := startUpload(t, client, "sweep", "stale")
	putNative(".s3-multipart/0123456789abcdef0123456789abcdef/part-00001", []byte("an old orphan"))
	time.Sleep(20 * time.Millisecond)
	cut := time.Now()
	time.Sleep(20 * time.Millisecond)
	young, part := startUpload(t, client, "sweep", "young")
	putNative(".s3-multipart/fedcba9876543210fedcba9876543210/part-00001", []byte("a young orphan"))
	// A closed upload (its removal cut short) goes whatever its age.
	closed := "00000000000000000000000000000001"
	record, _ := json.Marshal(map[string]any{"key": "closed", "initiated": time.Now().UTC(), "closed": true})
	putNative(".s3-multipart/"+closed+"/upload", record)
	putNative(".s3-multipart/"+closed+"/part-00002", []byte("a part of a closed upload"))

	server := s3api.New(s3api.Config{Backend: clientBackend{native}})
	removed, err := server.SweepUploads(ctx, cut)
	if err != nil || removed != 2 {
		t.Fatalf("sweep: removed %d uploads, err %v; want 2 (the stale and the closed)", removed, err)
	}
	want := []string{
		".s3-multipart/" + young + "/part-00001",
		".s3-multipart/" + young + "/upload",
		".s3-multipart/fedcba9876543210fedcba9876543210/part-00001",
	}
	slices.Sort(want)
	if got := multipartNames(t, native, "sweep"); !slices.Equal(got, want) {
		t.Fatalf("left after the sweep:\n%q\nwant\n%q", got, want)
	}
	uploads, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("sweep")})
	if err != nil || len(uploads.Uploads) != 1 || aws.ToString(uploads.Uploads[0].UploadId) != young {
		t.Fatalf("uploads listed after the sweep: %+v %v; want only %s", uploads, err, young)
	}
	if _, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("sweep"), Key: aws.String("stale"), UploadId: aws.String(stale), PartNumber: aws.Int32(2), Body: strings.NewReader("late")}); code(err) != "NoSuchUpload" {
		t.Fatalf("a part of a swept upload: %v; want NoSuchUpload", err)
	}
	if _, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("sweep"), Key: aws.String("young"), UploadId: aws.String(young),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{part}}}); err != nil {
		t.Fatalf("complete the young upload after the sweep: %v", err)
	}
	if text := objectText(t, client, "sweep", "young"); text != "part of young" {
		t.Fatalf("the young upload completed to %q", text)
	}
}

// The primary gateway sweeps on its own, every S3UploadTTL/4.
func TestUploadsSweptByThePrimary(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.S3Keys = map[string]string{accessKey: secretKey}
		cfg.S3UploadTTL = time.Second
	}})
	client, native := newClient(c.Primary().URL()+"/s3", secretKey), api.NewClient(c.Primary().URL())
	if _, err := client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String("forgotten")}); err != nil {
		t.Fatal(err)
	}
	startUpload(t, client, "forgotten", "never-completed")
	deadline := time.Now().Add(30 * time.Second)
	for len(multipartNames(t, native, "forgotten")) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the upload was not swept in 30s: %q left", multipartNames(t, native, "forgotten"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
