package ec

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/store"
)

// A delete of parts that a holder fails (it is down, or its disk) leaves
// a part that would bring the object back once the delete's tombstone is
// collected (TombstoneTTL, 1h by default), and a failed write's replica
// left there would later stand for a version no one acknowledged. The
// delete is tried again until it takes, for dropRetryFor, and past it
// while the holder is offline in the cluster map (down for hours, it
// comes back with the part).
var dropRetryFor = time.Hour

// dropRetryInterval is how often the kept deletes are tried (30s; a
// test's shorter).
var dropRetryInterval atomic.Int64

func init() { dropRetryInterval.Store(int64(30 * time.Second)) }

// maxPendingDrops bounds the deletes kept for another try: a holder down
// for long while a bucket is emptied must not grow them without end.
const maxPendingDrops = 1 << 16

// partsOf says which of an object's parts a drop of a stamp removes.
type partsOf int

const (
	// upTo removes the parts not newer than the stamp (all with a zero
	// one): a delete's, or a replaced version's.
	upTo partsOf = iota
	// oneWrite removes those of the stamp only: a failed write's, which
	// may not have replaced the parts of the version before everywhere.
	oneWrite
)

// pendingDrop is a delete of an object's parts on one holder, to try again.
type pendingDrop struct {
	bucket store.Bucket
	name   string
	stamp  store.Stamp
	which  partsOf
	node   cluster.Node
	until  time.Time
}

// pendingProtect is an object written as erasure coding was turned on
// whose parts could not be made then (a holder down): no job would make
// them later.
type pendingProtect struct {
	bucket store.Bucket
	name   string
	until  time.Time
}

// protectLater keeps an object whose parts could not be made for another
// try, with the drops'.
func (s *Store) protectLater(ctx context.Context, b store.Bucket, name string) {
	s.dropMu.Lock()
	defer s.dropMu.Unlock()
	key := protectKey(b, name)
	if _, ok := s.protects[key]; !ok && len(s.protects) >= maxPendingDrops {
		s.logger.Warn("too many objects to protect again: this one is not", "bucket", b.String(), "object", name)
		return
	}
	if s.protects == nil {
		s.protects = map[string]pendingProtect{}
	}
	s.protects[key] = pendingProtect{bucket: b, name: name, until: time.Now().Add(dropRetryFor)}
	s.saveSoonLocked()
	s.startRetriesLocked(ctx)
}

// startRetriesLocked starts the retries of drops and protects unless they
// run (with ctx's values, not its end).
func (s *Store) startRetriesLocked(ctx context.Context) {
	if !s.dropping && !s.isClosed() {
		s.dropping = true
		// Not the request's context: the retries outlive it, until Close.
		s.dropWait.Go(func() { s.retryDrops(context.WithoutCancel(ctx)) })
	}
}

// retryProtects makes the parts of the kept objects, once each.
func (s *Store) retryProtects(ctx context.Context) {
	if s.peers.Map() == nil {
		// Not joined yet (a restart): the bucket metadata is empty, and
		// every bucket would read as not erasure coded, its objects
		// dropped unprotected.
		return
	}
	s.dropMu.Lock()
	pending := maps.Clone(s.protects)
	s.dropMu.Unlock()
	for key, p := range pending {
		if ctx.Err() != nil {
			return // (what is left is said as the retries end)
		}
		props, on := s.props(p.bucket)
		var err error
		if on {
			// Only the parts missing are made: each try read and sent
			// every part again, every 30 s while a holder was down.
			var meta store.ObjectMeta
			if meta, err = s.Store.Head(ctx, p.bucket, p.name); err == nil {
				present := s.presentParts(ctx, s.peers.Map(), p.bucket, props, []store.ObjectMeta{meta})
				err = s.protectStored(ctx, p.bucket, props, p.name, present[p.name])
			}
		}
		// Done, gone or replaced (that write's own parts), or erasure
		// coding off again: not kept.
		done := err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExists)
		expired := !done && time.Now().After(p.until)
		s.dropMu.Lock()
		if now := s.protects[key]; now == p && (done || expired) {
			delete(s.protects, key)
			s.saveSoonLocked()
		}
		s.dropMu.Unlock()
		switch {
		case on && err == nil:
			s.logger.Info("made the parts of an object written as erasure coding was turned on", "bucket", p.bucket.String(), "object", p.name)
		case expired:
			s.logger.Warn("the parts of an object written as erasure coding was turned on could not be made for an hour: run ec-encode on its bucket", "bucket", p.bucket.String(), "object", p.name, "err", err)
		}
	}
}

// sayProtectsLeft logs the objects left without parts at Close: an
// ec-encode job makes them.
func (s *Store) sayProtectsLeft() {
	s.dropMu.Lock()
	defer s.dropMu.Unlock()
	for _, left := range s.protects {
		s.logger.Warn("an object written as erasure coding was turned on has no parts: run ec-encode on its bucket", "bucket", left.bucket.String(), "object", left.name)
	}
}

// dropLater keeps a failed delete of parts for another try, and starts
// the retries unless they run (with ctx's values, not its end).
func (s *Store) dropLater(ctx context.Context, b store.Bucket, name string, stamp store.Stamp, which partsOf, node cluster.Node) {
	s.dropMu.Lock()
	defer s.dropMu.Unlock()
	key := dropKey(node, b, name, stamp, which)
	if _, ok := s.drops[key]; !ok && len(s.drops) >= maxPendingDrops {
		s.logger.Warn("too many deletes of parts to try again: this one is not", "bucket", b.String(), "object", name, "target", node.ID)
		return
	}
	if s.drops == nil {
		s.drops = map[string]pendingDrop{}
	}
	// One pending for the name keeps the widest delete: a later drop of
	// older parts (a refused restore's) must not narrow one of a delete.
	if old, ok := s.drops[key]; ok && which == upTo && !stamp.IsZero() && (old.stamp.IsZero() || old.stamp.Compare(stamp) > 0) {
		stamp = old.stamp
	}
	// One write's drop that the name's pending ranged one covers is not
	// kept apart: a client retrying a failing PUT would fill the list.
	rangedKey := strings.TrimSuffix(key, "\x00"+stamp.String())
	if ranged, ok := s.drops[rangedKey]; ok && which == oneWrite && (ranged.stamp.IsZero() || ranged.stamp.Compare(stamp) >= 0) {
		// Kept anew: a try of it under way may have listed the parts
		// before this write's came, and must not end it.
		ranged.until = time.Now().Add(dropRetryFor)
		s.drops[rangedKey] = ranged
		s.saveSoonLocked()
		return
	}
	s.drops[key] = pendingDrop{bucket: b, name: name, stamp: stamp, which: which, node: node, until: time.Now().Add(dropRetryFor)}
	s.saveSoonLocked()
	s.startRetriesLocked(ctx)
}

// retryDrops tries the kept deletes and protects again every
// dropRetryInterval until none is left or the store closes.
func (s *Store) retryDrops(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A delete under way ends with Close too (the peer may not answer).
	go func() {
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		timer := time.NewTimer(time.Duration(dropRetryInterval.Load()))
		select {
		case <-ctx.Done():
			timer.Stop()
			s.sayProtectsLeft()
			return
		case <-timer.C:
		}
		s.dropMu.Lock()
		pending := maps.Clone(s.drops)
		s.dropMu.Unlock()
		failing := map[string]error{} // holders that failed this round
		for key, d := range pending {
			// At the holder's address now (back under a new one), and
			// not again this round once it failed (one hung holder would
			// hold every other retry). One offline in the map is asked
			// all the same: it may answer this node.
			node, offline := s.holderNow(d.node)
			err := failing[node.ID]
			if err == nil {
				if err = s.deletePartsOn(ctx, node, d.bucket, d.name, d.stamp, d.which); err != nil {
					failing[node.ID] = err
				}
			}
			s.dropMu.Lock()
			// Unless kept again meanwhile (a newer delete of the name).
			if now := s.drops[key]; now == d {
				switch {
				case err == nil:
					delete(s.drops, key)
					s.saveSoonLocked()
				case offline:
					// Its whole time again once it is back (tried or not).
					// (Not saved for this alone: a restart gives every
					// kept delete its whole time again.)
					d.until = time.Now().Add(dropRetryFor)
					s.drops[key] = d
				case time.Now().After(d.until):
					// (Tried or not: one extended while its holder was
					// offline is not past it yet once it is back.)
					delete(s.drops, key)
					s.saveSoonLocked()
				}
			}
			s.dropMu.Unlock()
			if err == nil {
				s.logger.Info("deleted the parts a delete had left", "bucket", d.bucket.String(), "object", d.name, "target", d.node.ID)
			}
		}
		s.retryProtects(ctx)
		s.dropMu.Lock()
		if len(s.drops) == 0 && len(s.protects) == 0 {
			s.dropping = false
			s.dropMu.Unlock()
			return
		}
		s.dropMu.Unlock()
	}
}

// holderNow is a holder as the cluster map has it now, and whether it
// is offline there (away, not gone: it comes back with its parts).
func (s *Store) holderNow(node cluster.Node) (cluster.Node, bool) {
	if m := s.peers.Map(); m != nil {
		if now, ok := m.Node(node.ID); ok {
			return now, now.State == cluster.StateOffline
		}
	}
	return node, false
}

func (s *Store) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// deletePartsOn deletes an object's parts on a target, this one or another.
func (s *Store) deletePartsOn(ctx context.Context, node cluster.Node, b store.Bucket, name string, stamp store.Stamp, which partsOf) error {
	self := node.ID == s.peers.Self().ID
	switch {
	case which == oneWrite && self:
		return s.DeleteWriteParts(ctx, b, name, stamp)
	case which == oneWrite:
		return s.peers.DeleteWriteParts(ctx, node, b, name, stamp)
	case self:
		return s.Store.DeleteParts(ctx, b, name, stamp)
	default:
		return s.peers.DeleteParts(ctx, node, b, name, stamp)
	}
}

// DeleteWriteParts removes an object's parts of exactly stamp, one
// write's, here (see store.PartDeleter).
func (s *Store) DeleteWriteParts(ctx context.Context, b store.Bucket, name string, stamp store.Stamp) error {
	if deleter, ok := s.Store.(store.PartDeleter); ok {
		return deleter.DeleteWriteParts(ctx, b, name, stamp)
	}
	// A ranged delete instead only when it takes nothing older: else it
	// would take the parts of the versions before, maybe the object's
	// last copy.
	parts, err := s.Store.PartsOf(ctx, b, name)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if p.Stamp.Compare(stamp) < 0 {
			return fmt.Errorf("delete the parts of one write of %s/%s: the store beneath erasure coding cannot without those of the version before", b, name)
		}
	}
	return s.Store.DeleteParts(ctx, b, name, stamp)
}
