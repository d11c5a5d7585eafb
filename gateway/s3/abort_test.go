package s3_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	s3api "github.com/aisgo/aisgo/gateway/s3"
	"github.com/aisgo/aisgo/store"
)

// partDeleteFails fails the deletes of every upload's second part while
// failing is set.
type partDeleteFails struct {
	store.Store
	failing *atomic.Bool
}

func (s partDeleteFails) Delete(ctx context.Context, b store.Bucket, name string, opts store.DeleteOptions) error {
	if s.failing.Load() && strings.HasSuffix(name, "/part-00002") {
		return errors.New("the test's disk refuses the delete")
	}
	return s.Store.Delete(ctx, b, name, opts)
}

// An abort that cannot remove every part answers an error, not 204; the
// upload is gone for everything but an abort (no part, no listing), and
// the abort's retry removes what is left.
func TestAbortThatFailsMidwayIsRetried(t *testing.T) {
	var failing atomic.Bool
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.S3Keys = map[string]string{accessKey: secretKey}
		if cfg.Store != nil {
			cfg.Store = partDeleteFails{Store: cfg.Store, failing: &failing}
		}
	}})
	client := newClient(c.Primary().URL()+"/s3", secretKey)
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("abort")}); err != nil {
		t.Fatal(err)
	}
	up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("abort"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	for n := int32(1); n <= 3; n++ {
		if _, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("abort"), Key: aws.String("k"), UploadId: up.UploadId,
			PartNumber: aws.Int32(n), Body: bytes.NewReader([]byte("part"))}); err != nil {
			t.Fatal(err)
		}
	}
	abort := func() error {
		_, err := client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("abort"), Key: aws.String("k"), UploadId: up.UploadId})
		return err
	}
	failing.Store(true)
	if err := abort(); err == nil {
		t.Fatal("an abort that left a part answered success")
	}
	failing.Store(false)
	if _, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("abort"), Key: aws.String("k"), UploadId: up.UploadId,
		PartNumber: aws.Int32(4), Body: bytes.NewReader([]byte("late"))}); code(err) != "NoSuchUpload" {
		t.Fatalf("a part of an upload being aborted: %v, want NoSuchUpload", err)
	}
	list, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("abort")})
	if err != nil || len(list.Uploads) != 0 {
		t.Fatalf("uploads listed during an abort: %+v %v", list, err)
	}
	if err := abort(); err != nil {
		t.Fatalf("the abort's retry: %v", err)
	}
	left := 0
	for e, err := range c.Client().ListAll(ctx, "abort", api.ListObjectsMessage{}) {
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("left: %s", e.Name)
		left++
	}
	if left != 0 {
		t.Fatalf("%d objects of the aborted upload are left", left)
	}
	if err := abort(); code(err) != "NoSuchUpload" {
		t.Fatalf("an abort of an upload gone: %v, want NoSuchUpload", err)
	}
}

// partGone answers a part as gone once gone is set: an abort that
// removed it while a Complete read the parts.
type partGone struct {
	store.Store
	gone *atomic.Bool
}

func (s partGone) Open(ctx context.Context, b store.Bucket, name string, opts store.OpenOptions) (store.Object, error) {
	if s.gone.Load() && strings.HasSuffix(name, "/part-00002") {
		return nil, store.ErrNotFound
	}
	return s.Store.Open(ctx, b, name, opts)
}

// twoPartUpload makes a bucket and an upload of key into it, of two parts
// (5 MiB and a tail), and returns the upload and its parts.
func twoPartUpload(t *testing.T, client *s3.Client, bucket, key string) (*s3.CreateMultipartUploadOutput, []types.CompletedPart) {
	t.Helper()
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for n, body := range [][]byte{bytes.Repeat([]byte("a"), 5<<20), []byte("tail")} {
		out, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(n + 1)), Body: bytes.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(n + 1)), ETag: out.ETag})
	}
	return up, parts
}

// A Complete that finds a part gone as it reads the parts (an abort came)
// answers NoSuchUpload, not NoSuchKey for the object it was making.
func TestCompleteRacingAnAbortAnswersNoSuchUpload(t *testing.T) {
	var gone atomic.Bool
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.S3Keys = map[string]string{accessKey: secretKey}
		if cfg.Store != nil {
			cfg.Store = partGone{Store: cfg.Store, gone: &gone}
		}
	}})
	client := newClient(c.Primary().URL()+"/s3", secretKey)
	ctx := t.Context()
	up, parts := twoPartUpload(t, client, "race", "k")
	gone.Store(true)
	_, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("race"), Key: aws.String("k"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "NoSuchUpload" {
		t.Fatalf("complete with a part gone meanwhile: %v, want NoSuchUpload", err)
	}
}

// An abort of an upload completed already (its cleanup cut short) is
// NoSuchUpload, as S3 answers, not a 204 over the object that stays; what
// the cleanup left goes.
func TestAbortOfACompletedUploadIsNoSuchUpload(t *testing.T) {
	var failing atomic.Bool
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.S3Keys = map[string]string{accessKey: secretKey}
		if cfg.Store != nil {
			cfg.Store = partDeleteFails{Store: cfg.Store, failing: &failing}
		}
	}})
	client := newClient(c.Primary().URL()+"/s3", secretKey)
	ctx := t.Context()
	up, parts := twoPartUpload(t, client, "done", "k")
	failing.Store(true) // the complete's cleanup leaves a part, and the record
	client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("done"), Key: aws.String("k"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	failing.Store(false)
	if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("done"), Key: aws.String("k")}); err != nil {
		t.Fatalf("the completed object: %v", err)
	}
	_, err := client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("done"), Key: aws.String("k"), UploadId: up.UploadId})
	if code(err) != "NoSuchUpload" {
		t.Fatalf("an abort of a completed upload: %v, want NoSuchUpload", err)
	}
	if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("done"), Key: aws.String("k")}); err != nil {
		t.Fatalf("the completed object after the abort: %v", err)
	}
}

// One key's uploads list in the order they began (S3's order), and a
// completed upload's Location is its path escaped.
func TestUploadsOfAKeyListInTheOrderTheyBegan(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.S3Keys = map[string]string{accessKey: secretKey}
	}})
	client := newClient(c.Primary().URL()+"/s3", secretKey)
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("order")}); err != nil {
		t.Fatal(err)
	}
	var began []string
	for range 6 {
		up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("order"), Key: aws.String("k")})
		if err != nil {
			t.Fatal(err)
		}
		began = append(began, aws.ToString(up.UploadId))
	}
	list, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("order")})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, u := range list.Uploads {
		listed = append(listed, aws.ToString(u.UploadId))
	}
	if !slices.Equal(listed, began) {
		t.Fatalf("uploads listed %v, want the order they began %v", listed, began)
	}
	if got := s3api.Location("b", "a b?c#d"); got != "/b/a%20b%3Fc%23d" {
		t.Fatalf("location %q", got)
	}
}

// partsHeld counts the opens of every upload's first part, and holds
// those of its second while hold is open.
type partsHeld struct {
	store.Store
	firstOpens *atomic.Int32
	hold       chan struct{}
}

func (s partsHeld) Open(ctx context.Context, b store.Bucket, name string, opts store.OpenOptions) (store.Object, error) {
	switch {
	case strings.HasSuffix(name, "/part-00001"):
		s.firstOpens.Add(1)
	case strings.HasSuffix(name, "/part-00002"):
		<-s.hold
	}
	return s.Store.Open(ctx, b, name, opts)
}

// A Complete sent again while the first still copies the parts (its
// client lost the connection) waits for it and answers as it does,
// rather than copy the parts a second time over what may be written
// after the first.
func TestCompleteSentAgainWaitsForTheFirst(t *testing.T) {
	var firstOpens atomic.Int32
	hold := make(chan struct{})
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.S3Keys = map[string]string{accessKey: secretKey}
		if cfg.Store != nil {
			cfg.Store = partsHeld{Store: cfg.Store, firstOpens: &firstOpens, hold: hold}
		}
	}})
	client := newClient(c.Primary().URL()+"/s3", secretKey)
	ctx := t.Context()
	released := false
	release := func() {
		if !released {
			released = true
			close(hold)
		}
	}
	defer release()
	// The parts, stored before the hold matters (only reads are held).
	up, parts := twoPartUpload(t, client, "again", "k")
	complete := func() (string, error) {
		out, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("again"), Key: aws.String("k"), UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.ETag), nil
	}
	type result struct {
		etag string
		err  error
	}
	results := make(chan result, 2)
	go func() { etag, err := complete(); results <- result{etag, err} }()
	for firstOpens.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	go func() { etag, err := complete(); results <- result{etag, err} }()
	time.Sleep(300 * time.Millisecond) // the second reaches its copy
	release()
	var etags []string
	for range 2 {
		r := <-results
		if r.err != nil {
			t.Fatalf("a Complete: %v", r.err)
		}
		etags = append(etags, r.etag)
	}
	if etags[0] != etags[1] || !strings.HasSuffix(strings.Trim(etags[0], `"`), "-2") {
		t.Fatalf("the two Completes answered %v", etags)
	}
	if n := firstOpens.Load(); n != 1 {
		t.Fatalf("the parts were copied %d times", n)
	}
}

// lastPartHeld opens every upload's second part at once and holds its
// first read while hold is open: a Complete that has every part open.
type lastPartHeld struct {
	store.Store
	opened chan struct{} // gets one value per open of a second part
	hold   chan struct{}
}

func (s lastPartHeld) Open(ctx context.Context, b store.Bucket, name string, opts store.OpenOptions) (store.Object, error) {
	obj, err := s.Store.Open(ctx, b, name, opts)
	if err != nil || !strings.HasSuffix(name, "/part-00002") {
		return obj, err
	}
	select {
	case s.opened <- struct{}{}:
	default:
	}
	return heldObject{Object: obj, hold: s.hold}, nil
}

type heldObject struct {
	store.Object
	hold chan struct{}
}

func (o heldObject) Read(p []byte) (int, error) {
	<-o.hold
	return o.Object.Read(p)
}

func (o heldObject) WriteTo(w io.Writer) (int64, error) {
	<-o.hold
	return o.Object.WriteTo(w)
}

// heldComplete is a Complete through the first gateway of a cluster of
// two whose last part's read is held.
type heldComplete struct {
	gateways [2]*s3.Client
	up       *s3.CreateMultipartUploadOutput
	parts    []types.CompletedPart
	release  func()
	result   <-chan error
	opened   <-chan struct{} // a second open of the last part (another copy)
}

// completeHeld starts a Complete whose last part's read is held, and
// returns it once it has every part open; its result comes once the hold
// is released.
func completeHeld(t *testing.T, noPeerAuth bool) heldComplete {
	t.Helper()
	opened, hold := make(chan struct{}, 1), make(chan struct{})
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 2, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.S3Keys = map[string]string{accessKey: secretKey}
		cfg.NoPeerAuth = noPeerAuth
		if cfg.Store != nil {
			cfg.Store = lastPartHeld{Store: cfg.Store, opened: opened, hold: hold}
		}
	}})
	members := c.Members()
	h := heldComplete{gateways: [2]*s3.Client{newClient(members[0].URL()+"/s3", secretKey), newClient(members[1].URL()+"/s3", secretKey)}, opened: opened}
	h.up, h.parts = twoPartUpload(t, h.gateways[0], "held", "k")
	var once sync.Once
	h.release = func() { once.Do(func() { close(hold) }) }
	t.Cleanup(h.release)
	done := make(chan error, 1)
	go func() {
		_, err := h.gateways[0].CompleteMultipartUpload(context.WithoutCancel(t.Context()), &s3.CompleteMultipartUploadInput{Bucket: aws.String("held"), Key: aws.String("k"), UploadId: h.up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: h.parts}})
		done <- err
	}()
	h.result = done
	select {
	case <-opened:
	case <-time.After(time.Minute):
		t.Fatal("the Complete did not open the last part")
	}
	return h
}

// An abort while a Complete has every part open (its client gone, the
// SDKs abort what they think failed) is not a 204 with the object made
// after it: on the Complete's gateway it waits and finds the upload
// completed; on another it is refused while the Complete runs.
func TestAbortDuringCompleteIsNotA204(t *testing.T) {
	held := completeHeld(t, false)
	gateways, up, release, completed := held.gateways, held.up, held.release, held.result
	abort := func(client *s3.Client) <-chan error {
		out := make(chan error, 1)
		go func() {
			_, err := client.AbortMultipartUpload(t.Context(), &s3.AbortMultipartUploadInput{Bucket: aws.String("held"), Key: aws.String("k"), UploadId: up.UploadId})
			out <- err
		}()
		return out
	}
	if err := <-abort(gateways[1]); code(err) != "OperationAborted" {
		t.Fatalf("an abort through another gateway while the Complete runs: %v, want OperationAborted", err)
	}
	same := abort(gateways[0])
	select {
	case err := <-same:
		t.Fatalf("an abort through the Complete's gateway answered before the Complete ended: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	release()
	if err := <-completed; err != nil {
		t.Fatalf("the Complete: %v", err)
	}
	if err := <-same; code(err) != "NoSuchUpload" {
		t.Fatalf("the abort that waited for the Complete: %v, want NoSuchUpload", err)
	}
	if _, err := gateways[1].HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String("held"), Key: aws.String("k")}); err != nil {
		t.Fatalf("the completed object: %v", err)
	}
}

// The same Complete sent again through another gateway while the first
// runs (its client's retry through a balancer) waits for it, copies no
// part, and answers as the first: one object, one ETag.
func TestCompleteSentAgainThroughAnotherGatewayWaits(t *testing.T) {
	held := completeHeld(t, false)
	again := make(chan *s3.CompleteMultipartUploadOutput, 1)
	againErr := make(chan error, 1)
	go func() {
		out, err := held.gateways[1].CompleteMultipartUpload(context.WithoutCancel(t.Context()), &s3.CompleteMultipartUploadInput{Bucket: aws.String("held"), Key: aws.String("k"),
			UploadId: held.up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: held.parts}})
		again <- out
		againErr <- err
	}()
	select {
	case <-held.opened:
		t.Fatal("the Complete sent again through another gateway copies the parts while the first does")
	case err := <-againErr:
		t.Fatalf("the Complete sent again answered before the first ended: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	held.release()
	if err := <-held.result; err != nil {
		t.Fatalf("the first Complete: %v", err)
	}
	out := <-again
	if err := <-againErr; err != nil {
		t.Fatalf("the Complete sent again: %v", err)
	}
	head, err := held.gateways[0].HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String("held"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ETag) != aws.ToString(head.ETag) || !strings.HasSuffix(aws.ToString(head.ETag), `-2"`) {
		t.Fatalf("the Complete sent again answered ETag %s, the object has %s", aws.ToString(out.ETag), aws.ToString(head.ETag))
	}
}

// A Complete whose mark lapsed (its gateway seemed gone) and whose upload
// was aborted meanwhile makes no object, though it had every part open:
// stopped by the check before its last byte goes (a body sent with its
// length, peer authentication off, is committed once whole), or by its
// mark's renewal finding the upload closed; it answers NoSuchUpload.
func TestCompleteAbortedPastItsLeaseMakesNoObject(t *testing.T) {
	for _, tc := range []struct {
		name       string
		renewal    time.Duration
		noPeerAuth bool
	}{{"checked before the end", time.Hour, false}, {"a body sent with its length", time.Hour, true}, {"renewed", 10 * time.Millisecond, false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(s3api.SetCompleteLease(time.Nanosecond, tc.renewal)) // lapsed at once
			held := completeHeld(t, tc.noPeerAuth)
			gateways, up, release, completed := held.gateways, held.up, held.release, held.result
			if _, err := gateways[1].AbortMultipartUpload(t.Context(), &s3.AbortMultipartUploadInput{Bucket: aws.String("held"), Key: aws.String("k"), UploadId: up.UploadId}); err != nil {
				t.Fatalf("an abort past the Complete's lease: %v", err)
			}
			if tc.renewal < time.Second {
				time.Sleep(20 * tc.renewal) // renewals find it closed
			}
			release()
			if err := <-completed; code(err) != "NoSuchUpload" {
				t.Fatalf("the Complete of an upload aborted as it read the parts: %v, want NoSuchUpload", err)
			}
			_, err := gateways[0].HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String("held"), Key: aws.String("k")})
			if notFound := new(types.NotFound); !errors.As(err, &notFound) {
				t.Fatalf("the object of an aborted upload: %v, want 404", err)
			}
			list, err := gateways[0].ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String("held")})
			if err != nil || len(list.Uploads) != 0 {
				t.Fatalf("uploads after the abort: %+v, %v: want none (a mark must not bring the record back)", list.Uploads, err)
			}
		})
	}
}

// recordClosesFail fails the writes that close an upload's record while
// failing is set: the cleanup of a completed upload.
type recordClosesFail struct {
	store.Store
	failing *atomic.Bool
	times   *atomic.Int64 // when set, the writes failing fails (of any name, counted)
}

func (s recordClosesFail) Put(ctx context.Context, b store.Bucket, name string, r io.Reader, opts store.PutOptions) (store.ObjectMeta, error) {
	if s.failing.Load() && s.times != nil && s.times.Add(-1) < 0 {
		s.failing.Store(false) // failed as many times as told
	}
	if !s.failing.Load() || !strings.HasSuffix(name, "/upload") {
		return s.Store.Put(ctx, b, name, r, opts)
	}
	record, err := io.ReadAll(r)
	if err != nil {
		return store.ObjectMeta{}, err
	}
	if bytes.Contains(record, []byte(`"closed":true`)) {
		return store.ObjectMeta{}, errors.New("the test's disk refuses the record's close")
	}
	return s.Store.Put(ctx, b, name, bytes.NewReader(record), opts)
}

// closesFailCluster is a cluster of gateways and a target whose record
// closes fail while failing is set, a Complete's close tried once more.
func closesFailCluster(t *testing.T, gateways int, failing *atomic.Bool) *gatewaytest.Cluster {
	t.Cleanup(s3api.SetCloseRetries(10 * time.Millisecond))
	return gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: gateways, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.S3Keys = map[string]string{accessKey: secretKey}
		if cfg.Store != nil {
			cfg.Store = recordClosesFail{Store: cfg.Store, failing: failing}
		}
	}})
}

// A Complete whose cleanup could not close the record leaves its mark on
// it: an abort then is NoSuchUpload (the object is the upload's), not a
// refusal for a Complete that ended.
func TestAbortAfterACompleteThatLeftItsMark(t *testing.T) {
	var failing atomic.Bool
	c := closesFailCluster(t, 2, &failing)
	client := newClient(c.Primary().URL()+"/s3", secretKey)
	ctx := t.Context()
	up, parts := twoPartUpload(t, client, "marked", "k")
	failing.Store(true)
	if _, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("marked"), Key: aws.String("k"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatalf("the Complete: %v", err)
	}
	record := ".s3-multipart/" + aws.ToString(up.UploadId) + "/upload"
	data, err := c.Client().GetBytes(ctx, "marked", record, api.GetOptions{})
	if err != nil || !strings.Contains(string(data), `"completing"`) || strings.Contains(string(data), `"closed"`) {
		t.Fatalf("the record after a Complete whose close failed: %s, %v: the test wants it open and marked", data, err)
	}
	failing.Store(false)
	// Through the other gateway: the mark is not its own.
	other := newClient(c.Members()[1].URL()+"/s3", secretKey)
	_, err = other.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("marked"), Key: aws.String("k"), UploadId: up.UploadId})
	if code(err) != "NoSuchUpload" {
		t.Fatalf("an abort after a Complete that left its mark: %v, want NoSuchUpload", err)
	}
	if _, err := c.Client().Head(ctx, "marked", record); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the record after the abort: %v, want it removed", err)
	}
}

// An upload whose Complete made its object but could not close its
// record is swept at the next sweep, young as it is: open, it would take
// that Complete sent again over a later write of the key.
func TestSweepRemovesAnUploadItsCompleteLeftOpen(t *testing.T) {
	var failing atomic.Bool
	c := closesFailCluster(t, 1, &failing)
	client, native := newClient(c.Primary().URL()+"/s3", secretKey), c.Client()
	ctx := t.Context()
	up, parts := twoPartUpload(t, client, "left", "k")
	open, _ := startUpload(t, client, "left", "other")
	failing.Store(true)
	if _, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("left"), Key: aws.String("k"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatalf("the Complete: %v", err)
	}
	failing.Store(false)
	record := ".s3-multipart/" + aws.ToString(up.UploadId) + "/upload"
	if _, err := native.Head(ctx, "left", record); err != nil {
		t.Fatalf("the record after a Complete whose close failed: %v: the test wants it there", err)
	}
	server := s3api.New(s3api.Config{Backend: clientBackend{native}})
	removed, err := server.SweepUploads(ctx, time.Now().Add(-time.Hour))
	if err != nil || removed != 1 {
		t.Fatalf("the sweep: removed %d, %v; want the completed upload", removed, err)
	}
	want := []string{".s3-multipart/" + open + "/part-00001", ".s3-multipart/" + open + "/upload"}
	if got := multipartNames(t, native, "left"); !slices.Equal(got, want) {
		t.Fatalf("left after the sweep: %q, want the open upload's only", got)
	}
	if meta, err := native.Head(ctx, "left", "k"); err != nil || meta.Size == 0 {
		t.Fatalf("the completed object after the sweep: %+v %v", meta, err)
	}
}

// A bucket keeps a bounded number of uploads in progress: past it a new
// one is refused (SlowDown, saying why) rather than make the bucket's
// uploads unlistable; an upload aborted makes room again.
func TestUploadsInProgressAreBounded(t *testing.T) {
	t.Cleanup(s3api.SetMaxUploads(3))
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.S3Keys = map[string]string{accessKey: secretKey}
	}})
	client := newClient(c.Primary().URL()+"/s3", secretKey)
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bounded")}); err != nil {
		t.Fatal(err)
	}
	create := func(key string) (*s3.CreateMultipartUploadOutput, error) {
		return client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("bounded"), Key: aws.String(key)})
	}
	var first *s3.CreateMultipartUploadOutput
	for i := range 3 {
		up, err := create(fmt.Sprintf("k%d", i))
		if err != nil {
			t.Fatalf("upload %d of 3: %v", i+1, err)
		}
		first = cmp.Or(first, up)
	}
	_, err := create("k3")
	if code(err) != "SlowDown" || !strings.Contains(err.Error(), "3 multipart uploads in progress") {
		t.Fatalf("a fourth upload in a bucket that keeps 3: %v, want SlowDown saying why", err)
	}
	list, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("bounded"), Prefix: aws.String("k1")})
	if err != nil || len(list.Uploads) != 1 {
		t.Fatalf("the uploads of k1: %+v, %v", list, err)
	}
	if _, err := client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("bounded"), Key: aws.String("k0"), UploadId: first.UploadId}); err != nil {
		t.Fatal(err)
	}
	if _, err := create("k3"); err != nil {
		t.Fatalf("an upload once one was aborted: %v", err)
	}
}

// An upload's record is an object a user may write through the native
// API: one forged with reserved metadata (a remote's Last-Modified, a
// dSort job's mark) carries none of it into the object its Complete
// makes; the user metadata in it stays.
func TestForgedUploadRecordCarriesNoReservedMetadata(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.S3Keys = map[string]string{accessKey: secretKey}
	}})
	client := newClient(c.Primary().URL()+"/s3", secretKey)
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("forged")}); err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("ab", 16)
	record := `{"key":"k","initiated":"2026-01-01T00:00:00Z","custom":{"s3.meta.color":"blue","remote.modified":"1","dsort.job":"srt-victim"}}`
	if _, err := c.Client().Put(ctx, "forged", ".s3-multipart/"+id+"/upload", strings.NewReader(record), api.PutOptions{Size: int64(len(record))}); err != nil {
		t.Fatal(err)
	}
	part, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("forged"), Key: aws.String("k"), UploadId: aws.String(id), PartNumber: aws.Int32(1), Body: strings.NewReader("whole")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("forged"), Key: aws.String("k"), UploadId: aws.String(id),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}}); err != nil {
		t.Fatal(err)
	}
	meta, err := c.Client().Head(ctx, "forged", "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := meta.Custom["remote.modified"]; ok || meta.Custom["dsort.job"] != "" || meta.Custom["s3.meta.color"] != "blue" {
		t.Fatalf("the object of a forged record: custom %v, want the user metadata only", meta.Custom)
	}
}

// putHeld holds the write of an object named "first" while hold is
// open, and tells when it began.
type putHeld struct {
	store.Store
	began chan struct{}
	hold  chan struct{}
}

func (s putHeld) Put(ctx context.Context, b store.Bucket, name string, r io.Reader, opts store.PutOptions) (store.ObjectMeta, error) {
	if name == "first" {
		close(s.began)
		<-s.hold
	}
	return s.Store.Put(ctx, b, name, r, opts)
}

// Copies run on after their client hangs up: a gateway runs a bounded
// number at once and refuses more with SlowDown, saying why, rather than
// pile up copies for requests sent and dropped.
func TestLongWritesAreBounded(t *testing.T) {
	t.Cleanup(s3api.SetMaxSlowWrites(1))
	began, hold := make(chan struct{}), make(chan struct{})
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.S3Keys = map[string]string{accessKey: secretKey}
		if cfg.Store != nil {
			cfg.Store = putHeld{Store: cfg.Store, began: began, hold: hold}
		}
	}})
	var once sync.Once
	release := func() { once.Do(func() { close(hold) }) }
	t.Cleanup(release) // before the cluster closes
	client := newClient(c.Primary().URL()+"/s3", secretKey)
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("copies")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("copies"), Key: aws.String("source"), Body: strings.NewReader("source")}); err != nil {
		t.Fatal(err)
	}
	copyTo := func(key string) error {
		_, err := client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("copies"), Key: aws.String(key), CopySource: aws.String("copies/source")})
		return err
	}
	first := make(chan error, 1)
	go func() { first <- copyTo("first") }()
	select {
	case <-began: // the first copy writes, in the only slot
	case <-time.After(time.Minute):
		t.Fatal("the first copy did not begin its write")
	}
	if err := copyTo("second"); code(err) != "SlowDown" || !strings.Contains(err.Error(), "the most it runs at once") {
		t.Fatalf("a copy while the gateway runs its most: %v, want SlowDown saying why", err)
	}
	release()
	if err := <-first; err != nil {
		t.Fatalf("the first copy: %v", err)
	}
	if err := copyTo("third"); err != nil {
		t.Fatalf("a copy once the first ended: %v", err)
	}
}

// An abort that checked the upload before a Complete through another
// gateway marked it, and closes it only after that Complete made the
// object, is not a 204 with the object there: its close is of the record
// as it read it, and it answers NoSuchUpload.
func TestAbortRacingACompleteElsewhereIsNotA204(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 2, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.S3Keys = map[string]string{accessKey: secretKey}
	}})
	members := c.Members()
	gateways := [2]*s3.Client{newClient(members[0].URL()+"/s3", secretKey), newClient(members[1].URL()+"/s3", secretKey)}
	up, parts := twoPartUpload(t, gateways[0], "raced", "k")
	var once sync.Once
	t.Cleanup(s3api.OnAbortChecked(func(string) {
		once.Do(func() {
			_, err := gateways[0].CompleteMultipartUpload(context.WithoutCancel(t.Context()), &s3.CompleteMultipartUploadInput{Bucket: aws.String("raced"), Key: aws.String("k"), UploadId: up.UploadId,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
			if err != nil {
				t.Errorf("the Complete between the abort's check and its close: %v", err)
			}
		})
	}))
	_, err := gateways[1].AbortMultipartUpload(t.Context(), &s3.AbortMultipartUploadInput{Bucket: aws.String("raced"), Key: aws.String("k"), UploadId: up.UploadId})
	if code(err) != "NoSuchUpload" {
		t.Fatalf("an abort whose upload was completed after its check: %v, want NoSuchUpload", err)
	}
	if _, err := gateways[1].HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String("raced"), Key: aws.String("k")}); err != nil {
		t.Fatalf("the completed object: %v", err)
	}
}

// answerLost commits the PUT of the object "k" and then fails it, once
// armed: the target's answer lost on its way to the gateway.
type answerLost struct {
	store.Store
	armed *atomic.Bool
}

func (s answerLost) Put(ctx context.Context, b store.Bucket, name string, r io.Reader, opts store.PutOptions) (store.ObjectMeta, error) {
	meta, err := s.Store.Put(ctx, b, name, r, opts)
	if err == nil && name == "k" && s.armed.CompareAndSwap(true, false) {
		return store.ObjectMeta{}, errors.New("the test's connection lost the answer")
	}
	return meta, err
}

// A Complete that committed its object but lost the answer answers as a
// Complete done and removes the upload: its parts do not stay, and it
// takes no more parts or Completes.
func TestCompleteWhoseAnswerWasLostRemovesTheUpload(t *testing.T) {
	var armed atomic.Bool
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.S3Keys = map[string]string{accessKey: secretKey}
		if cfg.Store != nil {
			cfg.Store = answerLost{Store: cfg.Store, armed: &armed}
		}
	}})
	client := newClient(c.Primary().URL()+"/s3", secretKey)
	ctx := t.Context()
	up, parts := twoPartUpload(t, client, "lost", "k")
	armed.Store(true)
	if _, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("lost"), Key: aws.String("k"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatalf("a Complete whose object was made: %v", err)
	}
	if armed.Load() {
		t.Fatal("the test's store was not asked for the object")
	}
	if _, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("lost"), Key: aws.String("k"), UploadId: up.UploadId,
		PartNumber: aws.Int32(3), Body: bytes.NewReader([]byte("late"))}); code(err) != "NoSuchUpload" {
		t.Fatalf("a part of a completed upload: %v, want NoSuchUpload", err)
	}
	for e, err := range c.Client().ListAll(ctx, "lost", api.ListObjectsMessage{}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Name != "k" {
			t.Errorf("left of the completed upload: %s", e.Name)
		}
	}
}

// An upload's key XML 1.0 cannot carry is listed only URL-encoded (as
// it is, it would be U+FFFD: another key, skipping the uploads after it).
func TestUploadOfAKeyXMLCannotCarryIsListedEncoded(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.S3Keys = map[string]string{accessKey: secretKey}
	}})
	client := newClient(c.Primary().URL()+"/s3", secretKey)
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("control")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("control"), Key: aws.String("k\x01")}); err != nil {
		t.Fatal(err)
	}
	_, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("control")})
	if code(err) != "InvalidArgument" || !strings.Contains(err.Error(), "encoding-type=url") {
		t.Fatalf("a listing of a key XML cannot carry: %v, want InvalidArgument naming encoding-type=url", err)
	}
	list, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("control"), EncodingType: types.EncodingTypeUrl})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Uploads) != 1 || (aws.ToString(list.Uploads[0].Key) != "k%01" && aws.ToString(list.Uploads[0].Key) != "k\x01") {
		t.Fatalf("uploads listed URL-encoded: %+v", list.Uploads)
	}
}

// A Complete whose close of the record failed once (a target away a
// moment) tries it again: an upload left open would take a Complete sent
// again after the key was written since, and copy the parts over it.
func TestCompleteClosesItsRecordAgain(t *testing.T) {
	t.Cleanup(s3api.SetCloseRetries(10 * time.Millisecond))
	var failing atomic.Bool
	var times atomic.Int64
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.S3Keys = map[string]string{accessKey: secretKey}
		if cfg.Store != nil {
			cfg.Store = recordClosesFail{Store: cfg.Store, failing: &failing, times: &times}
		}
	}})
	client := newClient(c.Primary().URL()+"/s3", secretKey)
	ctx := t.Context()
	up, parts := twoPartUpload(t, client, "again", "k")
	// The Complete's writes: its mark on the record, the object, then
	// the record's close (failed), then the close again.
	times.Store(3)
	failing.Store(true)
	if _, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("again"), Key: aws.String("k"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatalf("the Complete: %v", err)
	}
	record := ".s3-multipart/" + aws.ToString(up.UploadId) + "/upload"
	if _, err := c.Client().Head(ctx, "again", record); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the record after a Complete whose first close failed: %v, want it closed and removed", err)
	}
}
