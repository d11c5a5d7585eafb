package fs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/fs"
)

// heldWrite is a store with the bucket "b", its creation, and a write
// of "held" into it that waits, with its data in, until release is
// closed; written gets its outcome.
func heldWrite(t *testing.T) (st *fs.Store, b store.Bucket, created store.Int64String, release chan struct{}, written chan error) {
	ctx := t.Context()
	st = open(t, t.TempDir())
	b = store.NewBucket("b")
	if err := st.CreateBucket(ctx, b, store.Props{}); err != nil {
		t.Fatal(err)
	}
	md, _ := st.Buckets(ctx)
	props, _ := md.Props(b)
	created = props.Created
	entered := make(chan struct{})
	release, written = make(chan struct{}), make(chan error, 1)
	go func() {
		_, err := st.Put(ctx, b, "held", strings.NewReader("x"), store.PutOptions{Size: 1, Precommit: func() (func(), store.Stamp, error) {
			close(entered)
			<-release
			return func() {}, store.Stamp{}, nil
		}})
		written <- err
	}()
	<-entered
	return st, b, created, release, written
}

// A sealed bucket takes no new object, and the seal returns only once a
// write that was committing has ended: a destroy that finds the bucket
// empty then cannot lose a write it acknowledged.
func TestSealWaitsOutCommitsAndRefusesNewOnes(t *testing.T) {
	ctx := t.Context()
	st, b, created, release, written := heldWrite(t)
	sealed := make(chan error, 1)
	go func() { sealed <- st.SealBucket(ctx, b, created, "first", time.Now().Add(time.Minute)) }()
	select {
	case err := <-sealed:
		t.Fatalf("the seal returned (%v) while a write was committing", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if err := <-sealed; err != nil {
		t.Fatal(err)
	}
	if _, err := st.Head(ctx, b, "held"); err != nil {
		t.Fatalf("the write that committed before the seal: %v", err)
	}

	_, err := st.Put(ctx, b, "late", strings.NewReader("y"), store.PutOptions{Size: 1})
	if !errors.Is(err, store.ErrBucketSealed) {
		t.Fatalf("a write into a sealed bucket: %v, want ErrBucketSealed", err)
	}
	if _, err := st.Head(ctx, b, "late"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused write left an object: %v", err)
	}

	// Each destroy lifts its own seal only: the bucket is sealed while
	// another's holds.
	if err := st.SealBucket(ctx, b, created, "second", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	st.UnsealBucket(b, "first")
	if _, err := st.Put(ctx, b, "late", strings.NewReader("y"), store.PutOptions{Size: 1}); !errors.Is(err, store.ErrBucketSealed) {
		t.Fatalf("one destroy's unseal lifted another's seal: %v", err)
	}
	st.UnsealBucket(b, "second")
	if _, err := st.Put(ctx, b, "late", strings.NewReader("y"), store.PutOptions{Size: 1}); err != nil {
		t.Fatalf("a write after the unseal: %v", err)
	}
	// A seal names the bucket's creation: the same name created again
	// is not sealed.
	if err := st.SealBucket(ctx, b, created+1, "third", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, b, "other", strings.NewReader("z"), store.PutOptions{Size: 1}); err != nil {
		t.Fatalf("a seal of another creation of the bucket held: %v", err)
	}

	// A seal ends by itself.
	if err := st.SealBucket(ctx, b, created, "fourth", time.Now().Add(50*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := st.Put(ctx, b, "after", strings.NewReader("w"), store.PutOptions{Size: 1}); err != nil {
		t.Fatalf("a write after the seal expired: %v", err)
	}
}

// A seal that cannot wait out a write gives up and leaves the bucket
// open.
func TestSealGivesUpWithItsContext(t *testing.T) {
	ctx := t.Context()
	st, b, created, release, written := heldWrite(t)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := st.SealBucket(short, b, created, "first", time.Now().Add(time.Minute)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("seal: %v, want its deadline", err)
	}
	close(release)
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, b, "next", strings.NewReader("y"), store.PutOptions{Size: 1}); err != nil {
		t.Fatalf("a seal that gave up still holds: %v", err)
	}
}
