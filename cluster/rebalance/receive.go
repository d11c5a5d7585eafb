package rebalance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aisgo/aisgo/store"
)

// ReceiveStore is what Receive needs of the local store.
type ReceiveStore interface {
	Put(ctx context.Context, b store.Bucket, name string, r io.Reader, opts store.PutOptions) (store.ObjectMeta, error)
	Delete(ctx context.Context, b store.Bucket, name string, opts store.DeleteOptions) error
}

// ReceiveConfig configures Receive.
type ReceiveConfig struct {
	Store ReceiveStore
	// BucketMissing, when set, is called once for a bucket the store does
	// not know (the sender may have newer bucket metadata); the item is
	// then tried again.
	BucketMissing func(ctx context.Context, b store.Bucket)
	// Observe, when set, sees every stamp received (a clock moves past
	// them); an item whose stamp it fails is not stored, and is sent
	// again later.
	Observe func(store.Stamp) error
	// MapVersion, when set, is the receiver's cluster map version: a
	// stamp of a later map is refused until this target has that map (a
	// forged one, for good).
	MapVersion func() int64
	// SenderPlacement, when set with Placement, is the cluster.Map.Placement
	// the sender placed the items by: an item is refused (to send again)
	// while this target places objects otherwise. A sender behind would
	// put objects on a target that no longer owns them (one leaving, done
	// listing what it holds); one ahead, on a target that does not know it
	// owns them yet.
	SenderPlacement uint64
	Placement       func() uint64
	// Hold, when set, is called as each item is put in place (a copy's
	// commit, a tombstone's delete): it holds the receiver's placement
	// until the item is visible, and fails when the placement is no
	// longer the sender's. Checked only before the bytes came, a copy
	// could land after a map change, on a target whose new run had
	// listed what it holds already.
	Hold func() (release func(), err error)
}

// ErrPlacementDiffers refuses an item placed by a map whose targets the
// receiver does not have (yet, or any more); the sender sends it again
// once they agree.
var ErrPlacementDiffers = errors.New("rebalance: the sender places objects by other targets than this target")

// MaxFrames bounds the items of one stream: the receipts are kept for
// the answer, which must fit what a sender reads (see MaxBatchObjects,
// a sender's batch at most).
const MaxFrames = MaxBatchObjects

// Receive stores the items of a frame stream: an object only if it is
// newer than the object and tombstone the receiver has, a tombstone by
// deleting what is older. It returns a receipt per item; a malformed
// stream is an error that wraps ErrFrame.
func Receive(ctx context.Context, cfg ReceiveConfig, body io.Reader) ([]Receipt, error) {
	// Placed by other targets already: refused whole, before its bytes
	// are read (each item refused would be read and thrown away, and the
	// sender would send its every batch to this target again).
	if cfg.Placement != nil && cfg.SenderPlacement != 0 && cfg.SenderPlacement != cfg.Placement() {
		return nil, fmt.Errorf("%w: send the batch again once both have the same map", ErrPlacementDiffers)
	}
	rd := newFrameReader(body)
	var receipts []Receipt
	asked := map[store.Bucket]bool{}
	for {
		it, err := readFrame(rd)
		if errors.Is(err, io.EOF) {
			return receipts, nil
		}
		if err != nil {
			return receipts, err
		}
		if len(receipts) >= MaxFrames {
			return receipts, fmt.Errorf("%w: more than %d items in one stream", ErrFrame, MaxFrames)
		}
		data := io.LimitReader(rd, it.Meta.Size)
		if cfg.Placement != nil && cfg.SenderPlacement != 0 && cfg.SenderPlacement != cfg.Placement() {
			err = fmt.Errorf("%w: %s/%s: send it again once both have the same map", ErrPlacementDiffers, it.Bucket, it.Meta.Name)
		} else if cfg.MapVersion != nil && it.Meta.Stamp.Map > cfg.MapVersion() {
			// Not for good: this target's map may lag the sender's.
			err = fmt.Errorf("%s/%s has the stamp of map version %d, after this target's %d: send it again later", it.Bucket, it.Meta.Name, it.Meta.Stamp.Map, cfg.MapVersion())
		} else if ahead := time.Until(time.Unix(0, it.Meta.Stamp.Clock)); ahead > MaxStampAhead {
			// Kept, it would beat every write and delete for as long.
			err = fmt.Errorf("%w: %s/%s has a stamp %s ahead of this target's clock (at most %s)", ErrFrame, it.Bucket, it.Meta.Name, ahead.Round(time.Second), MaxStampAhead)
		} else if it.Tombstone && it.Meta.Stamp.IsZero() {
			// An unconditional delete, with no tombstone to show for it.
			err = fmt.Errorf("%w: %s/%s: a tombstone without a stamp", ErrFrame, it.Bucket, it.Meta.Name)
		} else {
			if cfg.Observe != nil {
				err = cfg.Observe(it.Meta.Stamp)
			}
			if err == nil {
				err = receiveItem(ctx, cfg, it, data)
			}
		}
		if errors.Is(err, store.ErrBucketNotFound) && cfg.BucketMissing != nil && !asked[it.Bucket] {
			asked[it.Bucket] = true
			cfg.BucketMissing(ctx, it.Bucket)
			err = receiveItem(ctx, cfg, it, data)
		}
		// Whatever happened, the stream goes on after this item's bytes.
		if _, cerr := io.Copy(io.Discard, data); cerr != nil {
			return receipts, fmt.Errorf("%w: %s: %w", ErrFrame, it.Meta.Name, cerr)
		}
		r := Receipt{Provider: it.Bucket.Provider, Bucket: it.Bucket.Name, Name: it.Meta.Name}
		if err != nil {
			// Bounded, so that a whole batch's receipts fit the answer a
			// sender reads (see MaxBatchObjects).
			r.Error, r.Kind = strings.ToValidUTF8(truncate(err.Error(), maxReceiptError), ""), store.Kinds.Of(err)
		}
		receipts = append(receipts, r)
	}
}

// maxReceiptError bounds the error text of a receipt.
const maxReceiptError = 128

// MaxBatchObjects bounds the objects of a batch a sender sends, so that
// the receipts of a whole batch (each a name, a bucket and an error, all
// escaped as JSON at 6 bytes a byte at worst: about 7.4 KiB) fit the
// 64 MiB answer a sender reads.
const MaxBatchObjects = 8192

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// MaxStampAhead bounds how far ahead of the receiver's clock an item's
// stamp may be (as the node's clock ignores readings further ahead).
const MaxStampAhead = 24 * time.Hour

// receiveItem stores one item; a copy that is not newer is not an error.
func receiveItem(ctx context.Context, cfg ReceiveConfig, it Item, data io.Reader) error {
	// Of the bucket of the name as made when the sender listed it: one
	// destroyed and made again is another bucket. Which of the two is
	// the current one the metadata tells, not the times (of different
	// clocks): this node asks for it once (a bucket not found), and the
	// sender tries again later, by when it has it too (and drops what
	// it held of a bucket gone).
	if st, ok := cfg.Store.(store.Store); ok && it.Created != 0 {
		if props, err := store.PropsOf(ctx, st, it.Bucket); err == nil && props.Created != 0 && props.Created != it.Created {
			return fmt.Errorf("%w: %s/%s is of bucket %s as made at %d, and this node's was made at %d (destroyed and made again): not taken until both know which is current",
				store.ErrBucketNotFound, it.Bucket, it.Meta.Name, it.Bucket, it.Created, props.Created)
		}
	}
	if it.Tombstone {
		// Held under the name's lock, as a PUT's commit is (held before
		// it, a PUT of the name waiting on the placement behind a map
		// install would deadlock with it).
		err := cfg.Store.Delete(ctx, it.Bucket, it.Meta.Name, store.DeleteOptions{Stamp: it.Meta.Stamp, Tombstone: true, Precommit: cfg.Hold})
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExists) {
			return nil
		}
		return err
	}
	meta := it.Meta
	opts := store.PutOptions{
		Size: meta.Size, Checksum: meta.Checksum, Custom: meta.Custom, Version: meta.Version,
		Stamp: meta.Stamp, IfNewer: true, Atime: meta.Atime,
	}
	if cfg.Hold != nil {
		opts.Precommit = func() (func(), store.Stamp, error) {
			release, err := cfg.Hold()
			return release, store.Stamp{}, err
		}
	}
	_, err := cfg.Store.Put(ctx, it.Bucket, meta.Name, data, opts)
	if errors.Is(err, store.ErrExists) {
		return nil
	}
	return err
}

func unixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
