package ec

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/sync/semaphore"
	"golang.org/x/sync/singleflight"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/store"
)

// Peers is how the store reaches the other targets; the node implements
// it over its intra-cluster client.
type Peers interface {
	// Self is this target; Map the current cluster map.
	Self() cluster.Node
	Map() *cluster.Map
	// SendPart stores a part on a target (its store's PutPart).
	SendPart(ctx context.Context, to cluster.Node, meta store.PartMeta, r io.Reader) error
	// PartsOf asks a target which parts of an object it keeps.
	PartsOf(ctx context.Context, from cluster.Node, b store.Bucket, name string) ([]store.PartMeta, error)
	// PartsOfMany asks a target which parts of the named objects (at
	// most ensureBatch) it keeps: by name, those it keeps any of.
	PartsOfMany(ctx context.Context, from cluster.Node, b store.Bucket, names []string) (map[string][]store.PartMeta, error)
	// OpenPart reads one part from a target.
	OpenPart(ctx context.Context, from cluster.Node, b store.Bucket, name string, index int) (io.ReadCloser, store.PartMeta, error)
	// DeleteParts removes an object's parts on a target, those not newer
	// than stamp.
	DeleteParts(ctx context.Context, on cluster.Node, b store.Bucket, name string, stamp store.Stamp) error
	// DeleteWriteParts removes an object's parts of exactly stamp (one
	// write's) on a target.
	DeleteWriteParts(ctx context.Context, on cluster.Node, b store.Bucket, name string, stamp store.Stamp) error
	// Ensure asks a target, the owner of the named objects, to restore
	// those whose full replica it lacks.
	Ensure(ctx context.Context, on cluster.Node, b store.Bucket, names []string) error
}

// Options tune a Store.
type Options struct {
	// Props returns a bucket's props (the node's bucket metadata).
	Props func(b store.Bucket) (store.Props, bool)
	// WorkDir holds objects too large to encode or restore in memory.
	WorkDir string
	// PickWorkDir, when set, says where such an object goes now (the
	// node's work directory follows the first mountpath enabled); it
	// returns a directory that exists. Empty or nil means WorkDir.
	PickWorkDir func() string
	// MemoryLimit is the largest object encoded or restored in memory;
	// zero means 64 MiB.
	MemoryLimit int64
	// MemoryBudget bounds the memory of all the PUTs encoding at once;
	// those past it go through files, whose columns take from a budget
	// as large again (they wait for it). Zero means 4 × MemoryLimit.
	MemoryBudget int64
	// OnRestore, when set, is told of each object rebuilt from parts.
	OnRestore func(b store.Bucket, name string)
	Logger    *slog.Logger
	// StateFile, when set, keeps the deletes of parts and the objects to
	// protect that are tried again across restarts (see Resume): a
	// file that stays where it is, not on a mountpath.
	StateFile string
}

// Store is a store decorator that erasure-codes the objects of buckets
// with ec enabled: a PUT stores the object (the full replica) on this
// target, its owner, and, before it is acknowledged, its parts on other
// targets (see Holders): Reed-Solomon slices, or for objects below
// ec.objsize_limit, whole replicas. A read that finds the replica missing
// or corrupt rebuilds it from parts and stores it again.
type Store struct {
	store.Store
	peers  Peers
	opts   Options
	logger *slog.Logger
	codecs sync.Map // Layout -> *Codec
	// restores joins concurrent restores of one object (a GET and a
	// sweep's Ensure), so that it is rebuilt and stored once.
	restores singleflight.Group
	// memory is what PUTs keep in memory to encode (MemoryBudget);
	// streams, the columns of encodes and restores through files (as
	// much again: apart, as one holding memory may wait for them).
	memory, streams *semaphore.Weighted
	// drops are deletes of parts a holder failed, tried again, and
	// protects the objects whose parts could not be made as erasure
	// coding was turned on (drops.go).
	dropMu   sync.Mutex
	drops    map[string]pendingDrop
	protects map[string]pendingProtect
	dropping bool
	// saveScheduled: a save of them (Options.StateFile) is due; saveMu
	// orders the saves, saveWait waits for the one due at Close.
	saveScheduled bool
	saveMu        sync.Mutex
	saveWait      sync.WaitGroup
	// closed ends the retries of drops (Close); dropWait waits for them.
	closed   chan struct{}
	dropWait sync.WaitGroup
	// restoring holds a slot for each restore running (maxRestores).
	restoring chan struct{}
	// writing are the PUTs here whose parts are being sent, by
	// bucket/name: their parts are no lost object's to restore.
	writingMu sync.Mutex
	writing   map[string][]*inflight
}

// inflight is a PUT's write of its parts: done is closed once it ended.
// A copy (a rebalance's, a cold GET's) carries its own stamp: parts of it
// may be there from before (a rebalance), so a restore tries them, and
// waits for the copy only when they do not rebuild.
type inflight struct {
	stamp store.Stamp
	copy  bool
	done  chan struct{}
}

// startWrite notes a PUT's parts on their way; the returned func ends it.
func (s *Store) startWrite(b store.Bucket, name string, stamp store.Stamp, copied bool) func() {
	key := b.String() + "/" + name
	w := &inflight{stamp: stamp, copy: copied, done: make(chan struct{})}
	s.writingMu.Lock()
	if s.writing == nil {
		s.writing = map[string][]*inflight{}
	}
	s.writing[key] = append(s.writing[key], w)
	s.writingMu.Unlock()
	return func() {
		s.writingMu.Lock()
		writes := slices.DeleteFunc(s.writing[key], func(o *inflight) bool { return o == w })
		if len(writes) == 0 {
			delete(s.writing, key)
		} else {
			s.writing[key] = writes
		}
		s.writingMu.Unlock()
		close(w.done)
	}
}

// anyWriteOf is the end of a PUT of the name here under way, nil if none
// is.
func (s *Store) anyWriteOf(b store.Bucket, name string) <-chan struct{} {
	s.writingMu.Lock()
	defer s.writingMu.Unlock()
	if writes := s.writing[b.String()+"/"+name]; len(writes) > 0 {
		return writes[0].done
	}
	return nil
}

// writeOf is the end of a PUT here still sending (or committing) parts
// of this stamp, nil if none is, and whether it is a copy.
func (s *Store) writeOf(b store.Bucket, name string, stamp store.Stamp) (<-chan struct{}, bool) {
	s.writingMu.Lock()
	defer s.writingMu.Unlock()
	for _, w := range s.writing[b.String()+"/"+name] {
		if w.stamp == stamp {
			return w.done, w.copy
		}
	}
	return nil, false
}

// errWriteUnderWay is a restore of parts a PUT here still sends: the
// object is not lost, only not made yet, or being made (writeUnderWay
// tells when that write ends).
var errWriteUnderWay = fmt.Errorf("%w: a write of them is under way", errNoParts)

// writeUnderWay is errWriteUnderWay with the end of the write: a read
// waits for it, then answers what it left (the object, or none).
type writeUnderWay struct{ done <-chan struct{} }

func (writeUnderWay) Error() string { return errWriteUnderWay.Error() }
func (writeUnderWay) Unwrap() error { return errWriteUnderWay }

// awaitWrite waits, for a restore that met a write under way, for that
// write to end; it reports whether there was one, and ctx's cause if it
// ended first (not "not found": the object may well be there).
func awaitWrite(ctx context.Context, err error) (bool, error) {
	var w writeUnderWay
	if !errors.As(err, &w) {
		return false, nil
	}
	select {
	case <-w.done:
		return true, nil
	case <-ctx.Done():
		return true, context.Cause(ctx)
	}
}

// maxRestores bounds the restores one target runs at once (a variable
// for the tests).
var maxRestores = 8

// errStoreClosed is a restore that waited for its turn past Close.
var errStoreClosed = errors.New("the store is closed")

// Wrap returns the decorator over inner.
func Wrap(inner store.Store, peers Peers, opts Options) *Store {
	if opts.MemoryLimit <= 0 {
		opts.MemoryLimit = 64 << 20
	}
	if opts.MemoryBudget <= 0 {
		opts.MemoryBudget = 4 * opts.MemoryLimit
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Store{Store: inner, peers: peers, opts: opts, logger: logger, memory: semaphore.NewWeighted(opts.MemoryBudget), streams: semaphore.NewWeighted(opts.MemoryBudget), closed: make(chan struct{}), restoring: make(chan struct{}, maxRestores)}
}

// Close stops the retries of kept deletes of parts and waits for them;
// what is left is saved in the state file, for the next run (without
// one, it stays on its holders); the store beneath is its owner's to
// close.
func (s *Store) Close() error {
	s.dropMu.Lock()
	if !s.isClosed() {
		close(s.closed)
	}
	s.dropMu.Unlock()
	s.dropWait.Wait()
	s.saveWait.Wait()
	if s.opts.StateFile != "" {
		s.saveState()
	}
	return nil
}

// partChecksum is the checksum type of every part's bytes.
const partChecksum = store.ChecksumXXHash

// BucketProps reads b's props from the store beneath (a
// store.PropsReader: the remote store asks on each read).
func (s *Store) BucketProps(ctx context.Context, b store.Bucket) (store.Props, error) {
	return store.PropsOf(ctx, s.Store, b)
}

func (s *Store) props(b store.Bucket) (store.Props, bool) {
	if s.opts.Props == nil {
		return store.Props{}, false
	}
	p, ok := s.opts.Props(b)
	return p, ok && p.EC.Enabled
}

func (s *Store) codec(l Layout) (*Codec, error) {
	if c, ok := s.codecs.Load(l); ok {
		return c.(*Codec), nil
	}
	c, err := NewCodec(l)
	if err != nil {
		return nil, err
	}
	actual, _ := s.codecs.LoadOrStore(l, c)
	return actual.(*Codec), nil
}

// replicated reports whether an object of size is kept as whole replicas
// rather than slices: below ec.objsize_limit, or always with -1.
func replicated(props store.Props, size int64) bool {
	limit := props.EC.ObjSizeLimit
	return limit < 0 || limit > 0 && size < limit
}

// Put stores an object and, for an erasure-coded bucket, its parts; the
// object becomes visible only once every part is stored.
func (s *Store) Put(ctx context.Context, b store.Bucket, name string, r io.Reader, opts store.PutOptions) (store.ObjectMeta, error) {
	props, ok := s.props(b)
	if !ok {
		meta, err := s.Store.Put(ctx, b, name, r, opts)
		// Erasure coding turned on while the body came in: the ec-encode
		// job may have listed the bucket before this commit.
		if now, on := s.props(b); err == nil && on {
			perr := s.protectStored(context.WithoutCancel(ctx), b, now, name, nil)
			// (Gone or replaced since: that write's own parts stand.)
			if perr != nil && !errors.Is(perr, store.ErrNotFound) && !errors.Is(perr, store.ErrExists) {
				// Nothing else would make them (the ec-encode job
				// passed): tried again until they are made.
				s.logger.Warn("protect an object written as erasure coding was turned on: tried again", "bucket", b.String(), "object", name, "err", perr)
				s.protectLater(ctx, b, name)
			}
		}
		return meta, err
	}
	s.restoreAway(ctx, b, name, opts)
	data := s.newCapture(opts.Size, props.Checksum.Type)
	defer data.close()
	data.custom = opts.Custom
	if opts.ETag {
		data.etag = md5.New()
	}
	if stage := opts.Stage; stage != nil {
		// What the stage says of the object (a remote's ETag) goes with
		// the parts too, as the local store keeps it: when it fits.
		opts.Stage = func(staged io.ReaderAt, size int64) (map[string]string, error) {
			custom, err := stage(staged, size)
			if err == nil && len(custom) > 0 {
				merged := store.MergedCustom(data.custom, custom)
				if fits, ok := s.Store.(interface {
					CustomFits(checksum string, custom map[string]string) bool
				}); ok && fits.CustomFits(props.Checksum.Type, merged) {
					data.custom = merged
				}
			}
			return custom, err
		}
	}
	outer := opts.Precommit
	// The stamp of the parts sent, once they are: some may be stored
	// where the send failed (an answer lost).
	var sent store.Stamp
	// placed is the map the parts were placed by: their holders there
	// are told of a failure (an offline one, in a later map, too).
	var placed *cluster.Map
	replaces := false // an object of the name was there
	allSent := false  // every part of this write was stored
	ended := func() {}
	defer func() { ended() }()
	opts.Precommit = func() (func(), store.Stamp, error) {
		// The stamp under the caller's hold (a map change waits for it),
		// the parts sent without it (a holder slow or gone must not hold
		// map changes, and every write behind them), then the hold
		// again: a write whose map changed meanwhile fails, its parts
		// with it, to be sent again.
		stamp := store.Stamp{}
		if outer != nil {
			release, held, err := outer()
			if err != nil {
				return nil, store.Stamp{}, err
			}
			placed = s.peers.Map()
			release()
			stamp = held
		}
		if !opts.Stamp.IsZero() {
			stamp = opts.Stamp
		}
		if stamp.IsZero() {
			stamp = store.Stamp{Clock: time.Now().UnixNano()}
		}
		meta, err := data.meta(name)
		if err == nil {
			// Ended once the write is done, failed or not (its cleanup
			// with it): a read meanwhile does not restore the object
			// from these parts alone.
			ended = s.startWrite(b, name, stamp, !opts.Stamp.IsZero())
			_, herr := s.Store.Head(ctx, b, name)
			replaces = herr == nil
			meta.Stamp = stamp
			meta.Version = s.nextVersion(ctx, b, name, props, opts.Version)
			sent = stamp
			// A copy moved or fetched with its own stamp (a rebalance,
			// a cold GET) is a version the cluster has already: its
			// parts, wherever they are stored, may be that version's,
			// and a failure must not remove them.
			err = s.protectBy(ctx, placed, b, props, meta, data, nil, opts.Stamp.IsZero())
		}
		if err != nil {
			return nil, store.Stamp{}, fmt.Errorf("erasure-code %s/%s: %w", b, name, err)
		}
		allSent = true
		release := func() {}
		if outer != nil {
			if release, _, err = outer(); err != nil {
				return nil, store.Stamp{}, fmt.Errorf("erasure-code %s/%s: %w", b, name, err)
			}
			// A map that places alike (a gateway joined) keeps the
			// parts where they are; one that does not fails the write.
			if s.peers.Map().Placement() != placed.Placement() {
				release()
				return nil, store.Stamp{}, fmt.Errorf("erasure-code %s/%s: %w while its parts were sent: send it again", b, name, store.ErrPlacementChanged)
			}
		}
		return release, stamp, nil
	}
	meta, err := s.Store.Put(ctx, b, name, io.TeeReader(r, data), opts)
	if _, on := s.props(b); err == nil && !on && !sent.IsZero() {
		// Erasure coding turned off while the body came in: the ec-cleanup
		// job may have passed before these parts were stored.
		s.dropParts(context.WithoutCancel(ctx), b, name, sent, upTo)
		return meta, nil
	}
	if err == nil && replaces {
		// The parts of the version replaced go (a smaller object has
		// fewer parts, and the holders may have changed): left, they
		// would leak, or restore the old version if enough of them
		// outlived the new one's.
		s.dropParts(context.WithoutCancel(ctx), b, name, justBefore(meta.Stamp), upTo)
	}
	if err != nil && errors.Is(err, errNewerParts) {
		return meta, s.newerThanCopy(context.WithoutCancel(ctx), b, name, err)
	}
	if err != nil {
		undo := context.WithoutCancel(ctx)
		stored, herr := s.Store.Head(undo, b, name)
		// Its parts replaced those of the version before on every
		// holder, and that version's copy is gone (its disk failed as
		// the write did): they are all that is left of the object, and
		// stay. The write's outcome was not told (a client sends it
		// again); without them the object was lost whole.
		// (Not when the map changed: the copy may have moved to its
		// new owner.)
		lostBefore := allSent && replaces && errors.Is(herr, store.ErrNotFound) && (placed == nil || s.peers.Map().Placement() == placed.Placement())
		if lostBefore {
			s.logger.Warn("a failed overwrite's parts are kept: the copy of the version before is gone, and they replaced its parts", "bucket", b.String(), "object", name, "err", err)
		}
		// The parts of a write that failed after they were stored go: a
		// restore must not bring back a version never acknowledged.
		if !sent.IsZero() && opts.Stamp.IsZero() && !lostBefore && (herr != nil || stored.Stamp != sent) {
			s.dropParts(undo, b, name, sent, oneWrite)
			if placed != nil && s.peers.Map().Placement() != placed.Placement() {
				// A holder the map took offline meanwhile is not among
				// those dropParts reaches: tried until it answers.
				s.dropPartsOn(undo, b, name, sent, placed)
			}
		}
		// It may have replaced parts of the version stored before it on
		// some holders: they are made again from it. A write refused
		// before it sent parts (its condition failed) replaced none.
		if herr == nil && !sent.IsZero() {
			if perr := s.protectStored(undo, b, props, name, nil); perr != nil && !errors.Is(perr, store.ErrNotFound) && !errors.Is(perr, store.ErrExists) {
				// (A holder down now): tried again, as nothing else
				// would make them until an ec-resilver.
				s.logger.Warn("protect an object again after a failed write: tried again", "bucket", b.String(), "object", name, "err", perr)
				s.protectLater(undo, b, name)
			}
		}
	}
	return meta, err
}

// DropTombstoneIf passes a conditional drop of a tombstone to the store
// beneath, when it has one (fs.Store); DropTombstone otherwise.
func (s *Store) DropTombstoneIf(ctx context.Context, b store.Bucket, name string, stamp store.Stamp, precommit func() (func(), error)) error {
	if conditional, ok := s.Store.(interface {
		DropTombstoneIf(context.Context, store.Bucket, string, store.Stamp, func() (func(), error)) error
	}); ok {
		return conditional.DropTombstoneIf(ctx, b, name, stamp, precommit)
	}
	// Checked, not held: the store beneath takes its own lock, which
	// comes before the placement's.
	if precommit != nil {
		release, err := precommit()
		if err != nil {
			return err
		}
		release()
	}
	return s.Store.DropTombstone(ctx, b, name, stamp)
}

// errNewerParts: a holder keeps a newer part than the stored or moved
// copy being protected.
var errNewerParts = errors.New("a holder keeps a newer part")

// newerThanCopy settles a copy refused for newer parts (err): restored
// from them, the newer version is here and the copy may go (ErrExists,
// which a rebalance's sender takes as "received"); parts that do not
// restore (a failed write's, about to go) refuse it for now only, and
// its sender keeps it.
func (s *Store) newerThanCopy(ctx context.Context, b store.Bucket, name string, err error) error {
	// Newer parts that do not restore, made long ago, go first (a
	// restore would pass over them to an older version): the copy is
	// taken when sent again (else refused on every run).
	if parts, ferr := s.find(ctx, b, name); ferr == nil && len(parts) > 0 && s.dropUnrestorable(ctx, b, name, parts) {
		return fmt.Errorf("%s/%s: holders kept newer parts that do not restore, a failed write's, dropped now: send it again: %s", b, name, err.Error())
	}
	rerr := s.Restore(ctx, b, name)
	if rerr == nil || errors.Is(rerr, store.ErrExists) {
		return fmt.Errorf("%w: %s/%s: a newer version is stored (from its parts): %v", store.ErrExists, b, name, err)
	}
	// Their text only, no sentinel (ErrExists would read as received):
	// a rebalance tries it again.
	return fmt.Errorf("%s/%s: holders keep newer parts that do not restore (%s): %s", b, name, rerr.Error(), err.Error())
}

// dropUnrestorable drops the newest parts of an object when they are too
// few to rebuild it and made long ago (past the retries of their drop):
// a failed write's, left for good, that would hide the version before
// them from every restore and refuse its parts for ever. Only with
// every target asked (one offline may keep the parts that make them
// whole), and only too few: enough that failed to read (a holder slow
// to answer) are an acknowledged version, and stay. It reports whether
// it dropped them.
func (s *Store) dropUnrestorable(ctx context.Context, b store.Bucket, name string, parts []found) bool {
	props, _ := s.props(b)
	newest := newestParts(parts, Layout{Data: props.EC.DataSlices, Parity: props.EC.ParitySlices})
	if !s.leftForGood(parts, newest) {
		return false
	}
	s.logger.Warn("dropping newer parts that do not restore, left by a failed write", "bucket", b.String(), "object", name, "stamp", newest.Stamp.String())
	s.dropParts(ctx, b, name, newest.Stamp, oneWrite)
	return true
}

// leftForGood reports parts of one version (newest) too few to rebuild
// it and made long ago, with every target asked.
func (s *Store) leftForGood(parts []found, newest store.PartMeta) bool {
	indexes := map[int]bool{}
	for _, p := range parts {
		if p.meta.Same(newest) {
			if p.meta.Replica {
				// One whole copy restores it (a version may hold
				// replicas and slices: its size limit raised since).
				return false
			}
			indexes[p.meta.Index] = true
		}
	}
	m := s.peers.Map()
	tooFew := len(indexes) < newest.Data && len(m.Reachable()) == len(m.Targets())
	return tooFew && time.Since(time.Unix(0, newest.Stamp.Clock)) > strayPartAge
}

// strayPartAge is the age past which parts that do not restore are a
// failed write's for good: no write still sends them, and the drop
// that should have removed them stopped trying (dropRetryFor).
const strayPartAge = 2 * time.Hour

// nextVersion is the version the wrapped store gives a write (a PUT is
// committed under the name's lock, which the precommit runs in).
func (s *Store) nextVersion(ctx context.Context, b store.Bucket, name string, props store.Props, given string) string {
	if given != "" || !props.Versioning.Enabled {
		return given
	}
	old, err := s.Store.Head(ctx, b, name)
	if err != nil {
		return "1"
	}
	v, err := strconv.ParseInt(old.Version, 10, 64)
	if err != nil {
		return "1"
	}
	return strconv.FormatInt(v+1, 10)
}

// source is an object's bytes, in memory or in a file.
type source interface {
	io.ReaderAt
	Size() int64
}

// protect stores an object's parts on their holders: replicas below the
// size limit, else slices. Every part must be stored. A fresh write (not
// acknowledged yet) that fails removes the parts it stored; the parts of
// a stored version (made again, or restored) stay whatever fails: they
// protect it, and other holders may have had them before.
func (s *Store) protect(ctx context.Context, b store.Bucket, props store.Props, object store.ObjectMeta, data source, present []found, fresh bool) error {
	return s.protectBy(ctx, nil, b, props, object, data, present, fresh)
}

// protectBy is protect by the holders of map m (nil: the current map): a
// PUT places its parts by the map it checked, not one that changed and
// changed back while they were sent.
func (s *Store) protectBy(ctx context.Context, m *cluster.Map, b store.Bucket, props store.Props, object store.ObjectMeta, data source, present []found, fresh bool) error {
	if m == nil {
		m = s.peers.Map()
	}
	layout := Layout{Data: props.EC.DataSlices, Parity: props.EC.ParitySlices}
	if err := layout.Validate(); err != nil {
		return err
	}
	size := data.Size()
	base := store.PartMeta{
		Bucket: b.Normalize(), Name: object.Name, Data: layout.Data, Parity: layout.Parity, ObjectSize: size,
		Checksum: object.Checksum, Version: object.Version, Stamp: object.Stamp, Custom: object.Custom,
	}
	// Too much to keep beside each part: a restore gives the bytes back
	// with what fits, its S3 ETag and headers before user metadata.
	if custom, dropped := store.TrimCustom(object.Custom, store.MaxPartCustom); dropped > 0 {
		base.Custom = custom
		s.logger.Warn("custom metadata too large to keep whole with the parts: a restore has it cut", "bucket", b.String(), "object", object.Name, "bytes", store.CustomSize(object.Custom), "keys_left_out", dropped)
	}
	if replicated(props, size) {
		holders, err := Holders(m, b, object.Name, layout.Parity)
		if err != nil {
			return err
		}
		sum, err := checksumOf(io.NewSectionReader(data, 0, size))
		if err != nil {
			return err
		}
		parts := make([]store.PartMeta, layout.Parity)
		for i := range parts {
			parts[i] = base
			parts[i].Index, parts[i].Replica, parts[i].SliceSize, parts[i].PartChecksum = i, true, size, sum
		}
		holders, parts = missing(holders, parts, present)
		return s.send(ctx, holders, parts, fresh, func(int) io.Reader { return io.NewSectionReader(data, 0, size) })
	}
	holders, err := Holders(m, b, object.Name, layout.Slices())
	if err != nil {
		return err
	}
	if len(present) > 0 {
		probe := make([]store.PartMeta, len(holders))
		for i := range probe {
			probe[i] = base
			probe[i].Index = i
		}
		if kept, _ := missing(holders, probe, present); len(kept) == 0 {
			return nil // every holder has its slice: nothing to encode
		}
	}
	slices, cleanup, err := s.encode(ctx, layout, data)
	if err != nil {
		return err
	}
	defer cleanup()
	parts := make([]store.PartMeta, layout.Slices())
	for i := range parts {
		sum, err := checksumOf(io.NewSectionReader(slices[i], 0, slices[i].Size()))
		if err != nil {
			return err
		}
		parts[i] = base
		parts[i].Index, parts[i].SliceSize, parts[i].PartChecksum = i, layout.SliceSize(size), sum
	}
	holders, parts = missing(holders, parts, present)
	return s.send(ctx, holders, parts, fresh, func(i int) io.Reader {
		slice := slices[parts[i].Index]
		return io.NewSectionReader(slice, 0, slice.Size())
	})
}

// missing drops the parts a holder keeps already (present, of the same
// version), keeping holders[i] beside parts[i].
func missing(holders []cluster.Node, parts []store.PartMeta, present []found) ([]cluster.Node, []store.PartMeta) {
	if len(present) == 0 {
		return holders, parts
	}
	var keepHolders []cluster.Node
	var keepParts []store.PartMeta
	for i, part := range parts {
		kept := slices.ContainsFunc(present, func(f found) bool {
			return f.node.ID == holders[i].ID && f.meta.Index == part.Index && f.meta.Replica == part.Replica && f.meta.Same(part)
		})
		if !kept {
			keepHolders, keepParts = append(keepHolders, holders[i]), append(keepParts, part)
		}
	}
	return keepHolders, keepParts
}

// encode makes the slices of an object: in memory up to the memory
// limit, else in files in the work directory.
func (s *Store) encode(ctx context.Context, layout Layout, data source) ([]source, func(), error) {
	c, err := s.codec(layout)
	if err != nil {
		return nil, nil, err
	}
	size := data.Size()
	// A PUT's bytes are in memory already; others are read into a pooled
	// buffer. The copy and the parity slices are the node's memory, from
	// its budget: past it, the slices go through files.
	raw, inMemory := data.(interface{ bytes() ([]byte, bool) })
	var buf []byte
	ok := false
	if inMemory && size <= s.opts.MemoryLimit {
		buf, ok = raw.bytes()
	}
	need := encodeMemory(layout, size)
	if !ok {
		need += size
	}
	if size <= s.opts.MemoryLimit && s.memory.TryAcquire(need) {
		held := func() { s.memory.Release(need) }
		free := held
		if !ok {
			buf = pool.Get(int(size))
			free = func() { pool.Put(buf); held() }
			n, err := data.ReadAt(buf, 0)
			if n < len(buf) && (err == nil || errors.Is(err, io.EOF)) {
				// Shorter than its size: the pooled buffer's tail would
				// be encoded as the object's.
				err = fmt.Errorf("%w: %d of the object's %d bytes read", store.ErrCorrupt, n, size)
			}
			if n < len(buf) {
				free()
				return nil, nil, err
			}
		}
		encoded, release, err := c.EncodeShared(buf)
		if err != nil {
			free()
			return nil, nil, err
		}
		out := make([]source, len(encoded))
		for i, e := range encoded {
			out[i] = bytes.NewReader(e)
		}
		return out, func() { release(); free() }, nil
	}
	files := make([]*os.File, layout.Slices())
	cleanup := func() {
		for _, f := range files {
			if f != nil {
				f.Close()
				os.Remove(f.Name())
			}
		}
	}
	writers := make([]io.Writer, len(files))
	for i := range files {
		if files[i], err = os.CreateTemp(s.workDir(), "ec-slice-"); err != nil {
			cleanup()
			return nil, nil, err
		}
		writers[i] = files[i]
	}
	release, err := s.holdStreamMemory(ctx, c, size)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	err = c.EncodeStream(data, size, writers)
	release()
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	out := make([]source, len(files))
	for i, f := range files {
		out[i] = fileSource{f, layout.SliceSize(size)}
	}
	return out, cleanup, nil
}

type fileSource struct {
	*os.File
	size int64
}

func (f fileSource) Size() int64 { return f.size }

// send stores parts[i] on holders[i], all at once; on this target itself
// through the wrapped store. When a part of a fresh write cannot be
// stored, the parts that were are removed again: parts of a write that is
// not acknowledged must not be restored later.
func (s *Store) send(ctx context.Context, holders []cluster.Node, parts []store.PartMeta, fresh bool, body func(i int) io.Reader) error {
	self := s.peers.Self()
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, part := range parts {
		wg.Go(func() {
			var err error
			if holders[i].ID == self.ID {
				err = s.Store.PutPart(ctx, part, body(i))
			} else {
				err = s.peers.SendPart(ctx, holders[i], part, body(i))
			}
			// A holder with a newer part is no failure for a new write
			// (the part's write won); for a stored or moved version it
			// is: that version is older than one the cluster protects,
			// and taking it would serve it over the newer one.
			if err != nil && (!fresh || !errors.Is(err, store.ErrExists)) {
				if errors.Is(err, store.ErrExists) {
					err = fmt.Errorf("%w: %w", errNewerParts, err)
				}
				errs[i] = fmt.Errorf("part %d to target %s: %w", i, holders[i].ID, err)
			}
		})
	}
	wg.Wait()
	err := errors.Join(errs...)
	if err == nil || !fresh {
		return err
	}
	undo := context.WithoutCancel(ctx)
	for i, part := range parts {
		if errs[i] != nil {
			continue
		}
		var derr error
		if deleter, ok := s.Store.(store.PartDeleter); ok && holders[i].ID == self.ID {
			// Exactly the part sent, without the name's lock: a write's
			// commit may hold it (its precommit sends the parts), and a
			// removal of every part under it would wait for itself.
			if derr = deleter.DeletePart(undo, part.Bucket, part.Name, part.Index, part.Stamp); errors.Is(derr, store.ErrNotFound) {
				derr = nil
			}
		} else {
			// Exactly this write's: the part it replaced is gone, those of
			// the version before on the other holders stay.
			derr = s.deletePartsOn(undo, holders[i], part.Bucket, part.Name, part.Stamp, oneWrite)
		}
		if derr != nil {
			s.logger.Warn("remove a part of a write that failed: tried again later", "bucket", part.Bucket.String(), "object", part.Name, "target", holders[i].ID, "err", derr)
			s.dropLater(undo, part.Bucket, part.Name, part.Stamp, oneWrite, holders[i])
		}
	}
	return err
}

// checksumOf is a part's checksum.
func checksumOf(r io.Reader) (store.Checksum, error) {
	h := xxhash.New()
	if _, err := io.Copy(h, r); err != nil {
		return store.Checksum{}, err
	}
	return store.ChecksumOf(partChecksum, h), nil
}

// Open reads an object; for an erasure-coded bucket, a replica missing,
// corrupt or unreadable (EIO: a bad sector) here is rebuilt from parts
// first.
func (s *Store) Open(ctx context.Context, b store.Bucket, name string, opts store.OpenOptions) (store.Object, error) {
	obj, err := s.Store.Open(ctx, b, name, opts)
	if err == nil || !replicaLost(err) {
		return obj, err
	}
	if _, ok := s.props(b); !ok {
		return nil, err
	}
	restore := s.Restore
	if errors.Is(err, store.ErrNotFound) {
		restore = s.restoreMissing
	}
	rerr, err := s.restoreAwaiting(ctx, b, name, restore, func() error {
		_, herr := s.Store.Head(ctx, b, name)
		return herr
	}, err)
	if rerr != nil {
		return nil, rerr
	}
	if err != nil {
		return nil, err
	}
	return s.Store.Open(ctx, b, name, opts)
}

// restoreAwaiting restores with restore, waiting for the writes under way
// it meets (one after another, while ctx lasts): each ended, what it left
// answers (look), else the version before it is restored. It returns the
// restore's error, or missing (the store's not found) when there is
// nothing to restore, or neither when the object is there to read.
func (s *Store) restoreAwaiting(ctx context.Context, b store.Bucket, name string, restore func(context.Context, store.Bucket, string) error, look func() error, missing error) (rerr, notFound error) {
	rerr = restore(ctx, b, name)
	for {
		waited, werr := awaitWrite(ctx, rerr)
		if werr != nil {
			return werr, nil
		}
		if !waited {
			break
		}
		err := look()
		if !errors.Is(err, store.ErrNotFound) {
			return err, nil
		}
		missing = err // not found now, whatever the first read met
		rerr = s.restoreMissing(ctx, b, name)
	}
	switch {
	case rerr == nil, errors.Is(rerr, store.ErrExists):
		// Restored, or deleted after the parts were written, or written
		// anew meanwhile: the store says which.
		return nil, nil
	case errors.Is(rerr, errNoParts):
		return nil, missing
	}
	return rerr, nil
}

// replicaLost reports an open of a replica that the parts can stand in
// for: missing, corrupt, or unreadable.
func replicaLost(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrCorrupt) || errors.Is(err, store.ErrIO)
}

// Head describes an object; for an erasure-coded bucket, a replica
// missing here is rebuilt from parts first.
func (s *Store) Head(ctx context.Context, b store.Bucket, name string) (store.ObjectMeta, error) {
	meta, err := s.Store.Head(ctx, b, name)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return meta, err
	}
	if _, ok := s.props(b); !ok {
		return meta, err
	}
	rerr, err := s.restoreAwaiting(ctx, b, name, s.restoreMissing, func() error {
		_, herr := s.Store.Head(ctx, b, name)
		return herr
	}, err)
	if rerr != nil {
		return meta, rerr
	}
	if err != nil {
		return meta, err
	}
	return s.Store.Head(ctx, b, name)
}

// Delete removes an object and, in an erasure-coded bucket, its parts on
// every target (unless it only moved to another target). An object whose
// replica was lost but whose parts remain is deleted too.
func (s *Store) Delete(ctx context.Context, b store.Bucket, name string, opts store.DeleteOptions) error {
	if s.peers.Map() == nil && !opts.KeepParts && !opts.LocalOnly {
		// Not joined yet (a dSort recovery at start): the parts of an
		// erasure-coded bucket's object can be neither told nor reached,
		// and deleted without them, the object would be restored from
		// them. The bucket's props as this target last stored them tell.
		if local, err := store.PropsOf(ctx, s.Store, b); err != nil || local.EC.Enabled {
			return fmt.Errorf("%w: delete %s/%s: this target has no cluster map yet to reach the parts of the object", store.ErrBucketBehind, b, name)
		}
	}
	_, protected := s.props(b)
	// A target that does not own the name (LocalOnly) removes a copy it
	// holds, no more: the parts are the owner's object's, which may be a
	// newer one than this target's stamp, and a tombstone here would
	// refuse that object when it moves here.
	keepParts := opts.KeepParts || opts.LocalOnly
	if protected && !keepParts {
		// A part a holder fails to delete must not restore the object
		// later: the tombstone refuses that restore. A delete of one
		// version (a job's cleanup: IfStamp) leaves it at that version's
		// stamp: a tombstone needs one.
		opts.Tombstone = true
		if opts.Stamp.IsZero() {
			opts.Stamp = opts.IfStamp
		}
	}
	// The parts that go are those no newer than the delete: an unstamped
	// delete (a job's cleanup, a remote's object gone) takes the stamp
	// of what it removes, else a PUT committed meanwhile, or one made
	// before a failed holder's retry, would lose its parts too.
	dropStamp := opts.Stamp
	if protected && !keepParts && dropStamp.IsZero() {
		if dropStamp = opts.IfStamp; dropStamp.IsZero() {
			if meta, err := s.Store.Head(ctx, b, name); err == nil {
				dropStamp = meta.Stamp
			}
		}
	}
	var copyStamp store.Stamp
	if protected && opts.LocalOnly && !opts.KeepParts {
		if meta, err := s.Store.Head(ctx, b, name); err == nil {
			copyStamp = meta.Stamp
		}
	}
	err := s.Store.Delete(ctx, b, name, opts)
	if protected && opts.LocalOnly && !opts.KeepParts && err == nil && !copyStamp.IsZero() {
		// The copy it removed may be the object's only replica (not
		// moved to its owner yet, which did not list it): its parts go,
		// those no newer than it, else the owner would restore it.
		s.dropParts(ctx, b, name, copyStamp, upTo)
	}
	if keepParts {
		return err
	}
	if !protected || err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	found := s.dropParts(ctx, b, name, dropStamp, upTo)
	if errors.Is(err, store.ErrNotFound) && found > 0 {
		return nil
	}
	return err
}

// dropParts deletes an object's parts of stamp (which says how) on every
// target that keeps some, and returns how many it found.
func (s *Store) dropParts(ctx context.Context, b store.Bucket, name string, stamp store.Stamp, which partsOf) int {
	found, err := s.find(ctx, b, name)
	holders := map[string]cluster.Node{}
	if err != nil {
		// A target that did not tell may hold a part (one a map change
		// left there): every target is asked to delete, else that part
		// would bring the object back once its tombstone goes.
		s.logger.Warn("find the parts of an object: every target deletes them", "bucket", b.String(), "object", name, "err", err)
		for _, t := range s.peers.Map().Reachable() {
			if t.Role.IsTarget() {
				holders[t.ID] = t
			}
		}
	}
	for _, f := range found {
		holders[f.node.ID] = f.node
	}
	// The holders by placement too: a part on a mountpath away is not
	// found, and its holder keeps a tombstone for it (store/fs).
	if props, ok := s.props(b); ok {
		layout := Layout{Data: props.EC.DataSlices, Parity: props.EC.ParitySlices}
		if placed, err := Holders(s.peers.Map(), b, name, layout.Slices()); err == nil {
			for _, node := range placed {
				holders[node.ID] = node
			}
		}
	}
	for _, node := range holders {
		if derr := s.deletePartsOn(ctx, node, b, name, stamp, which); derr != nil {
			s.logger.Warn("delete the parts of an object: tried again later", "bucket", b.String(), "object", name, "target", node.ID, "err", derr)
			s.dropLater(ctx, b, name, stamp, which, node)
		}
	}
	return len(found)
}

// dropPartsOn has the holders m placed a failed write's parts on that
// are offline now delete them, once they answer.
func (s *Store) dropPartsOn(ctx context.Context, b store.Bucket, name string, stamp store.Stamp, m *cluster.Map) {
	props, ok := s.props(b)
	if !ok {
		return
	}
	layout := Layout{Data: props.EC.DataSlices, Parity: props.EC.ParitySlices}
	holders, err := Holders(m, b, name, layout.Slices())
	if err != nil {
		return
	}
	// Those reachable now had dropParts's delete; the others (offline
	// now) are tried until they answer, without holding the write's
	// answer on a node that may hang.
	now := s.peers.Map()
	done := map[string]bool{}
	for _, node := range holders {
		if done[node.ID] {
			continue
		}
		done[node.ID] = true
		if current, ok := now.Node(node.ID); !ok || current.State != cluster.StateOffline {
			continue
		}
		s.dropLater(ctx, b, name, stamp, oneWrite, node)
	}
}

// newestParts picks the parts a restore combines: those of the newest
// version, and of that version's layouts (a bucket whose layout changed
// may keep the old one's parts beside the new's, with the same stamp) one
// that can rebuild it, the current layout first.
func newestParts(parts []found, current Layout) store.PartMeta {
	newest := parts[0].meta
	for _, p := range parts {
		if p.meta.Stamp.Compare(newest.Stamp) > 0 {
			newest = p.meta
		}
	}
	var candidates []store.PartMeta // one per layout of the newest stamp
	for _, p := range parts {
		if p.meta.Stamp == newest.Stamp && !slices.ContainsFunc(candidates, func(c store.PartMeta) bool { return c.Same(p.meta) }) {
			candidates = append(candidates, p.meta)
		}
	}
	rebuilds := func(meta store.PartMeta) bool {
		indexes := map[int]bool{}
		for _, p := range parts {
			if p.meta.Same(meta) {
				if p.meta.Replica {
					return true
				}
				indexes[p.meta.Index] = true
			}
		}
		return len(indexes) >= meta.Data
	}
	slices.SortStableFunc(candidates, func(x, y store.PartMeta) int {
		rank := func(m store.PartMeta) int {
			r := 0
			if !rebuilds(m) {
				r += 2
			}
			if m.Data != current.Data || m.Parity != current.Parity {
				r++
			}
			return r
		}
		return rank(x) - rank(y)
	})
	return candidates[0]
}

// nodeIDs names nodes: "target t1" or "targets t1, t2".
func nodeIDs(nodes []cluster.Node) string {
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID
	}
	if len(ids) == 1 {
		return "target " + ids[0]
	}
	return "targets " + strings.Join(ids, ", ")
}

// found is a part on a target.
type found struct {
	node cluster.Node
	meta store.PartMeta
}

// errNoParts: no target keeps a part of the object.
var errNoParts = errors.New("ec: no part of the object anywhere")

// find asks every target which parts of an object it keeps.
func (s *Store) find(ctx context.Context, b store.Bucket, name string) ([]found, error) {
	m := s.peers.Map()
	self := s.peers.Self()
	var mu sync.Mutex
	var out []found
	var errs []error
	var wg sync.WaitGroup
	for _, t := range m.Reachable() {
		if !t.Role.IsTarget() {
			continue
		}
		wg.Go(func() {
			var metas []store.PartMeta
			var err error
			if t.ID == self.ID {
				metas, err = s.Store.PartsOf(ctx, b, name)
			} else {
				metas, err = s.peers.PartsOf(ctx, t, b, name)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("target %s: %w", t.ID, err))
				return
			}
			for _, meta := range metas {
				out = append(out, found{node: t, meta: meta})
			}
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// Restore rebuilds an object from its parts on the targets and stores it
// here, as the object's full replica, then stores its parts again where
// the current map places them. It restores only the newest version the
// parts hold, and never over a newer replica.
func (s *Store) Restore(ctx context.Context, b store.Bucket, name string) error {
	return s.restoreAs(ctx, b, name, false)
}

// restoreMissing is Restore of a replica not found here: one that appears
// meanwhile (its write committed as the parts were read) is not replaced.
func (s *Store) restoreMissing(ctx context.Context, b store.Bucket, name string) error {
	return s.restoreAs(ctx, b, name, true)
}

func (s *Store) restoreAs(ctx context.Context, b store.Bucket, name string, missing bool) error {
	// A caller already gone starts nothing: a batch whose caller gave
	// up would start a detached restore for every name left.
	if err := context.Cause(ctx); err != nil {
		return err
	}
	key := b.Normalize().String() + "/" + name
	if missing {
		key += "\x00missing"
	}
	// The first caller's cancel must not fail the others that joined it;
	// each may give up (a peer's stream that stalls fails the restore).
	answer := s.restores.DoChan(key, func() (any, error) {
		// A name with no part anywhere (most misses: a GET or HEAD of a
		// name never written) is told at once, not after a slot that
		// real restores hold for minutes.
		if parts, err := s.find(context.WithoutCancel(ctx), b, name); err == nil && len(parts) == 0 {
			if done := s.anyWriteOf(b, name); done != nil {
				// A write whose parts are not sent yet: waited for.
				return nil, fmt.Errorf("restore %s/%s: %w", b, name, writeUnderWay{done})
			}
			return nil, fmt.Errorf("restore %s/%s: %w", b, name, errNoParts)
		}
		// Restores outlive the callers that gave up (a batch timed out,
		// a GET gone): a few at a time, or their work files and buffers
		// would pile up without bound.
		select {
		case s.restoring <- struct{}{}:
			defer func() { <-s.restoring }()
		case <-s.closed:
			return nil, fmt.Errorf("restore %s/%s: %w", b, name, errStoreClosed)
		}
		return nil, s.restore(context.WithoutCancel(ctx), b, name, missing)
	})
	select {
	case result := <-answer:
		return result.Err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (s *Store) restore(ctx context.Context, b store.Bucket, name string, missing bool) error {
	props, ok := s.props(b)
	if !ok {
		return fmt.Errorf("%s is not erasure-coded: %w", b, errNoParts)
	}
	layout := Layout{Data: props.EC.DataSlices, Parity: props.EC.ParitySlices}
	// Offline targets are not asked: parts found, too few, while those
	// the name's parts may be on are offline make a wait (503), not a
	// loss. (None found is "not found": a name never written, most
	// likely, which a GET during an outage must not turn into a 503.)
	bn := b.Normalize()
	away := s.peers.Map().OfflineAmong(cluster.Uname(bn.Provider, bn.Name, name), layout.Data+layout.Parity+1)
	parts, findErr := s.find(ctx, b, name)
	if findErr != nil {
		// A target that did not answer may hold the newest version's
		// parts: a restore from the others could bring back an older
		// one, for good.
		return fmt.Errorf("restore %s/%s: %w", b, name, findErr)
	}
	if len(parts) == 0 {
		return fmt.Errorf("restore %s/%s: %w", b, name, errNoParts)
	}
	newest := newestParts(parts, layout)
	// A failed write's parts left for good hide the version before them:
	// it is restored from its own (which theirs may have replaced in
	// part), theirs stay for a copy sent again to settle.
	for s.leftForGood(parts, newest) {
		stray := newest.Stamp
		parts = slices.DeleteFunc(parts, func(p found) bool { return p.meta.Stamp == stray })
		if len(parts) == 0 {
			return fmt.Errorf("restore %s/%s: %w (those of a failed write only)", b, name, errNoParts)
		}
		newest = newestParts(parts, layout)
	}
	// A PUT here still sends the newest: not a lost object, one not made
	// yet. The version before it, acknowledged, is restored if its parts
	// are there (an overwrite of an object whose replica was lost).
	// passed is the end of the newest write passed over, or of the copy
	// whose parts are tried: a restore that fails waits for it.
	var passed <-chan struct{}
	for {
		done, copied := s.writeOf(b, name, newest.Stamp)
		if done == nil {
			break
		}
		if passed == nil {
			passed = done
		}
		if copied {
			break
		}
		writing := newest.Stamp
		parts = slices.DeleteFunc(parts, func(p found) bool { return p.meta.Stamp == writing })
		if len(parts) == 0 {
			return fmt.Errorf("restore %s/%s: %w", b, name, writeUnderWay{passed})
		}
		newest = newestParts(parts, layout)
	}
	parts = slices.DeleteFunc(parts, func(p found) bool { return !p.meta.Same(newest) })
	have, herr := s.Store.Head(ctx, b, name)
	if herr == nil && (missing && have.Stamp.Compare(newest.Stamp) >= 0 || passed != nil && have.Stamp.Compare(newest.Stamp) > 0) {
		// A replica missing when asked, or the write passed over, is
		// here now (its write committed as the parts were read).
		return fmt.Errorf("restore %s/%s: %w: the replica is here now", b, name, store.ErrExists)
	}
	if herr == nil && have.Stamp.Compare(newest.Stamp) > 0 {
		return fmt.Errorf("%w: restore %s/%s: the parts are of an older version (%s) than the replica here (%s)", store.ErrCorrupt, b, name, newest.Stamp, have.Stamp)
	}
	// A replica missing here is restored only if none of the version
	// appears meanwhile (its write committed as it was rebuilt): a
	// corrupt one is replaced by the same version.
	missing = missing || errors.Is(herr, store.ErrNotFound)
	var bad []found
	object, cleanup, err := s.rebuild(ctx, b, name, newest, parts, &bad)
	if err != nil && passed == nil && !errors.Is(err, errPartsUnreached) {
		// An overwrite that began after the parts were found replaces
		// them as they are read: it is waited for, or what it stored is
		// here (the caller reads that), not a corrupt object.
		if done := s.anyWriteOf(b, name); done != nil {
			passed = done
		} else if now, herr := s.Store.Head(ctx, b, name); herr == nil && now.Stamp.Compare(newest.Stamp) > 0 {
			return fmt.Errorf("restore %s/%s: %w: a newer version is here now (%v)", b, name, store.ErrExists, err)
		}
	}
	if err != nil && passed != nil && !errors.Is(err, errPartsUnreached) {
		// The write replaces the version's parts as it sends its own (or
		// drops them once committed): neither rebuilds until it ends. (A
		// holder that does not answer is the peers' error: 503.)
		return fmt.Errorf("restore %s/%s: %w (%w)", b, name, writeUnderWay{passed}, err)
	}
	if errors.Is(err, errPartsUnreached) {
		return fmt.Errorf("restore %s/%s: %w", b, name, err) // (the peers' error: unavailable)
	}
	if err != nil && len(away) > 0 && errors.Is(err, ErrUnrecoverable) {
		return fmt.Errorf("%w: restore %s/%s: %w (%s, offline, may hold more)", store.ErrUnreached, b, name, err, nodeIDs(away))
	}
	if err != nil {
		return fmt.Errorf("%w: restore %s/%s: %w", store.ErrCorrupt, b, name, err)
	}
	defer cleanup()
	if err := verify(object, newest.Checksum); err != nil {
		return fmt.Errorf("%w: restore %s/%s: the rebuilt object does not match its checksum: %w", store.ErrCorrupt, b, name, err)
	}
	// Checked again under the name's lock when it is stored: a PUT or a
	// DELETE that came during the rebuild is newer, and stays.
	if _, err := s.Store.Put(ctx, b, name, io.NewSectionReader(object, 0, object.Size()), store.PutOptions{
		Size: object.Size(), Checksum: newest.Checksum, Version: newest.Version, Stamp: newest.Stamp, Custom: newest.Custom, IfNewer: missing, IfNotOlder: !missing,
		Precommit: func() (func(), store.Stamp, error) {
			if done, copied := s.writeOf(b, name, newest.Stamp); done != nil && !copied {
				// Its PUT started after the parts were found: that
				// PUT commits the object, or fails and drops them.
				return nil, store.Stamp{}, writeUnderWay{done}
			}
			return func() {}, store.Stamp{}, nil
		},
	}); err != nil {
		if errors.Is(err, errWriteUnderWay) {
			return fmt.Errorf("restore %s/%s: %w", b, name, err)
		}
		if now, herr := s.Store.Head(ctx, b, name); errors.Is(err, store.ErrExists) && (herr != nil || now.Stamp != newest.Stamp) {
			// Deleted (or written) after these parts were made: they are
			// stale, kept by a target away when the delete came. They
			// go now, before the delete's tombstone is collected and
			// nothing refuses them any more. (The version itself,
			// committed meanwhile, keeps them.)
			s.dropParts(ctx, b, name, newest.Stamp, upTo)
		}
		return fmt.Errorf("restore %s/%s: store the rebuilt object: %w", b, name, err)
	}
	s.logger.Warn("restored an object from its parts", "bucket", b.String(), "object", name, "stamp", newest.Stamp.String())
	if s.opts.OnRestore != nil {
		s.opts.OnRestore(b, name)
	}
	meta := store.ObjectMeta{Name: name, Size: newest.ObjectSize, Checksum: newest.Checksum, Version: newest.Version, Stamp: newest.Stamp, Custom: newest.Custom}
	// Parts the holders keep already are not sent again; bad ones are.
	good := slices.DeleteFunc(parts, func(p found) bool {
		return slices.ContainsFunc(bad, func(x found) bool { return x.node.ID == p.node.ID && x.meta.Index == p.meta.Index })
	})
	if err := s.protect(ctx, b, props, meta, object, good, false); err != nil {
		s.logger.Warn("store the parts of a restored object again", "bucket", b.String(), "object", name, "err", err)
	}
	s.dropIfGone(ctx, b, name, newest.Stamp)
	return nil
}

// rebuild fetches good parts and makes the object of them: a replica if
// any is good, else Data good slices through the codec.
// errPartsUnreached marks a rebuild short of parts that were not read (a
// holder down, a stall), not found bad.
var errPartsUnreached = fmt.Errorf("ec: parts could not be read: %w", store.ErrUnreached)

// corruptPart reports a fetch that read a part and found it bad.
func corruptPart(err error) bool {
	return errors.Is(err, store.ErrCorrupt) || errors.Is(err, store.ErrBadChecksum) || errors.Is(err, store.ErrSizeMismatch)
}

func (s *Store) rebuild(ctx context.Context, b store.Bucket, name string, meta store.PartMeta, parts []found, bad *[]found) (source, func(), error) {
	nothing := func() {}
	var unreached []error // fetches that failed short of reading a part
	var replicas, sliced []found
	for _, p := range parts {
		if p.meta.Replica {
			replicas = append(replicas, p)
		} else {
			sliced = append(sliced, p)
		}
	}
	for _, p := range replicas {
		// In memory within the node's budget, which restores share with
		// PUTs: many objects restored at once go through files.
		held, release := s.holdMemory(p.meta.SliceSize, p.meta.SliceSize)
		data, cleanup, err := s.fetch(ctx, b, name, p, held)
		if err == nil {
			return data, func() { cleanup(); release() }, nil
		}
		release()
		s.logger.Warn("a replica is bad", "bucket", b.String(), "object", name, "target", p.node.ID, "err", err)
		*bad = append(*bad, p)
		if !corruptPart(err) {
			unreached = append(unreached, err)
		}
	}
	layout := Layout{Data: meta.Data, Parity: meta.Parity}
	c, err := s.codec(layout)
	if err != nil {
		return nil, nothing, err
	}
	// One good copy of each index, data slices first, until Data of them.
	slices.SortStableFunc(sliced, func(x, y found) int { return x.meta.Index - y.meta.Index })
	got := make([]source, layout.Slices())
	var cleanups []func()
	cleanup := func() {
		for _, c := range cleanups {
			c()
		}
	}
	// The slices, their copies for the codec and the object are held at
	// once: in memory only when the whole object may be, and three times
	// it fits in the node's budget.
	inMemory, release := s.holdMemory(meta.ObjectSize, 3*meta.ObjectSize)
	have := 0
	for _, p := range sliced {
		if have == layout.Data || got[p.meta.Index] != nil {
			continue
		}
		data, done, err := s.fetch(ctx, b, name, p, inMemory)
		if err != nil {
			s.logger.Warn("a slice is bad", "bucket", b.String(), "object", name, "index", p.meta.Index, "target", p.node.ID, "err", err)
			*bad = append(*bad, p)
			if !corruptPart(err) {
				unreached = append(unreached, err)
			}
			continue
		}
		cleanups = append(cleanups, done)
		got[p.meta.Index] = data
		have++
	}
	if have < layout.Data {
		cleanup()
		release()
		err := fmt.Errorf("%w: %d good slices of the %d needed", ErrUnrecoverable, have, layout.Data)
		if len(unreached) > 0 {
			// Parts not read (a holder restarting), not parts found bad:
			// the object may be restored in a while.
			// A holder's "not found" (its part moved or dropped since it
			// was listed) is kept as text: it is not the object's, which
			// is not known to be absent (store.ErrUnreached).
			for i, e := range unreached {
				if errors.Is(e, store.ErrNotFound) {
					unreached[i] = errors.New(e.Error())
				}
			}
			err = errors.Join(fmt.Errorf("%w: %w", errPartsUnreached, err), errors.Join(unreached...))
		}
		return nil, nothing, err
	}
	size := meta.ObjectSize
	if inMemory {
		in := make([][]byte, len(got))
		for i, g := range got {
			if g == nil {
				continue
			}
			in[i] = make([]byte, g.Size())
			if n, err := g.ReadAt(in[i], 0); n < len(in[i]) {
				if err == nil || errors.Is(err, io.EOF) {
					err = fmt.Errorf("%w: slice %d: %d of its %d bytes read", store.ErrCorrupt, i, n, len(in[i]))
				}
				cleanup()
				release()
				return nil, nothing, err
			}
		}
		cleanup()
		object, err := c.Restore(in, size)
		if err != nil {
			release()
			return nil, nothing, err
		}
		return bytes.NewReader(object), release, nil
	}
	out, err := os.CreateTemp(s.workDir(), "ec-object-")
	if err != nil {
		cleanup()
		return nil, nothing, err
	}
	readers := make([]io.Reader, len(got))
	for i, g := range got {
		if g != nil {
			readers[i] = io.NewSectionReader(g, 0, g.Size())
		}
	}
	held, err := s.holdStreamMemory(ctx, c, size)
	if err == nil {
		err = c.RestoreStream(readers, size, out)
		held()
	}
	cleanup()
	done := func() { out.Close(); os.Remove(out.Name()) }
	if err != nil {
		done()
		return nil, nothing, err
	}
	return fileSource{out, size}, done, nil
}

// fetch reads a part from its target and checks it against its checksum:
// in memory up to the memory limit, else into a file.
// encodeMemory is what an in-memory encode of size bytes takes beside
// the bytes themselves: the parity slices and the padded last data ones.
func encodeMemory(layout Layout, size int64) int64 {
	slice := layout.SliceSize(size)
	if slice == 0 {
		return 0
	}
	whole := size / slice
	return (int64(layout.Slices()) - whole) * slice
}

// holdStreamMemory waits for the columns a streaming encode or restore
// of an object of size holds, from the streams' budget: streams past it
// (many PUTs of big objects, wide layouts) wait rather than take more.
// Held only while it streams (a stream waits on no other).
func (s *Store) holdStreamMemory(ctx context.Context, c *Codec, size int64) (func(), error) {
	n := min(c.StreamMemory(size), s.opts.MemoryBudget)
	if err := s.streams.Acquire(ctx, n); err != nil {
		return nil, context.Cause(ctx)
	}
	return func() { s.streams.Release(n) }, nil
}

// holdMemory takes n bytes of the node's budget for a restore of an
// object of size, when it is small enough to restore in memory and they
// fit; false, and a release that does nothing, when not.
func (s *Store) holdMemory(size, n int64) (bool, func()) {
	switch {
	case size > s.opts.MemoryLimit:
		return false, func() {}
	case n <= 0:
		return true, func() {}
	case !s.memory.TryAcquire(n):
		return false, func() {}
	}
	return true, func() { s.memory.Release(n) }
}

func (s *Store) fetch(ctx context.Context, b store.Bucket, name string, p found, inMemory bool) (source, func(), error) {
	var r io.ReadCloser
	var err error
	if p.node.ID == s.peers.Self().ID {
		r, _, err = s.Store.OpenPart(ctx, b, name, p.meta.Index)
	} else {
		r, _, err = s.peers.OpenPart(ctx, p.node, b, name, p.meta.Index)
	}
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	h := xxhash.New()
	limited := io.LimitReader(r, p.meta.SliceSize+1)
	if inMemory {
		data, err := io.ReadAll(io.TeeReader(limited, h))
		if err != nil {
			return nil, nil, err
		}
		if err := checkPart(int64(len(data)), h, p.meta); err != nil {
			return nil, nil, err
		}
		return bytes.NewReader(data), func() {}, nil
	}
	f, err := os.CreateTemp(s.workDir(), "ec-part-")
	if err != nil {
		return nil, nil, err
	}
	done := func() { f.Close(); os.Remove(f.Name()) }
	n, err := io.Copy(io.MultiWriter(f, h), limited)
	if err == nil {
		err = checkPart(n, h, p.meta)
	}
	if err != nil {
		done()
		return nil, nil, err
	}
	return fileSource{f, n}, done, nil
}

func checkPart(n int64, h *xxhash.Digest, meta store.PartMeta) error {
	if n != meta.SliceSize {
		return fmt.Errorf("%w: part %d has %d bytes, want %d", store.ErrCorrupt, meta.Index, n, meta.SliceSize)
	}
	if got := store.ChecksumOf(partChecksum, h); meta.PartChecksum.Type != partChecksum || got.Value != meta.PartChecksum.Value {
		return fmt.Errorf("%w: part %d does not match its checksum", store.ErrCorrupt, meta.Index)
	}
	return nil
}

// verify checks a rebuilt object against the object's checksum.
func verify(object source, sum store.Checksum) error {
	if sum.IsEmpty() {
		return nil // none kept: the parts' own checksums are all there is
	}
	h, err := store.NewHash(sum.Type)
	if err != nil || h == nil {
		return err
	}
	if _, err := io.Copy(h, io.NewSectionReader(object, 0, object.Size())); err != nil {
		return err
	}
	if got := store.ChecksumOf(sum.Type, h); got.Value != sum.Value {
		return fmt.Errorf("%w: %s, want %s", store.ErrCorrupt, got, sum)
	}
	return nil
}

// Protect stores again the parts of every object of a bucket this target
// owns and keeps (ec-encode: a bucket that becomes erasure-coded, or whose
// targets changed).
func (s *Store) Protect(ctx context.Context, b store.Bucket, progress *store.Progress) error {
	props, ok := s.props(b)
	if !ok {
		return fmt.Errorf("%s is not erasure-coded", b)
	}
	self := s.peers.Self()
	after := ""
	// One object that fails does not leave the rest unprotected: each is
	// tried, and the job fails at the end naming the first few.
	var failed []error
	count := 0
	for {
		// With their stamps and checksums: complete() tells by them an
		// object whose parts are all in place, not read again.
		page, err := s.Store.List(ctx, b, store.ListOptions{StartAfter: after, Limit: 1000, WithMeta: true})
		if err != nil {
			return err
		}
		m := s.peers.Map()
		owned := make([]store.ObjectMeta, 0, len(page))
		for _, meta := range page {
			if owner, err := m.Owner(cluster.Uname(b.Normalize().Provider, b.Name, meta.Name)); err == nil && owner.ID == self.ID {
				owned = append(owned, meta)
			}
		}
		for batch := range slices.Chunk(owned, ensureBatch) {
			// Only what a holder lacks is sent: a sweep after a disk
			// lost on one target must not encode and send every object
			// of the cluster again.
			present := s.presentParts(ctx, m, b, props, batch)
			for _, meta := range batch {
				if err := ctx.Err(); err != nil {
					return err
				}
				// Parts made once EC is off again would outlive the
				// cleanup that removes the others.
				if _, on := s.props(b); !on {
					return fmt.Errorf("%s is no longer erasure-coded", b)
				}
				if complete(m, b, props, meta, present[meta.Name]) {
					progress.Add(meta.Size)
					continue
				}
				err := s.protectStored(ctx, b, props, meta.Name, present[meta.Name])
				if errors.Is(err, errReplicaUnreadable) {
					// The replica went bad: rebuilt from the parts,
					// which are then stored again.
					err = s.Restore(ctx, b, meta.Name)
				}
				if errors.Is(err, errNewerParts) {
					// A failed write's parts left for good refuse this
					// version's: they go, and its parts are stored.
					if parts, ferr := s.find(ctx, b, meta.Name); ferr == nil && len(parts) > 0 && s.dropUnrestorable(ctx, b, meta.Name, parts) {
						err = s.protectStored(ctx, b, props, meta.Name, nil)
					}
				}
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					if count++; len(failed) < maxProtectErrors {
						failed = append(failed, fmt.Errorf("protect %s/%s: %w", b, meta.Name, err))
					}
					continue
				}
				progress.Add(meta.Size)
			}
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Name
	}
	if count > len(failed) {
		failed = append(failed, fmt.Errorf("and %d more objects", count-len(failed)))
	}
	return errors.Join(failed...)
}

// maxProtectErrors bounds the objects a failed Protect names.
const maxProtectErrors = 10

// presentParts asks the holders of a batch of objects (by map m) which
// of their parts they keep, one request per holder. A holder that does
// not answer is taken to keep none: its parts are sent again.
func (s *Store) presentParts(ctx context.Context, m *cluster.Map, b store.Bucket, props store.Props, metas []store.ObjectMeta) map[string][]found {
	self := s.peers.Self()
	byNode := map[string][]string{}
	nodes := map[string]cluster.Node{}
	for _, meta := range metas {
		// Every slice's holders: a replica's are the first of them.
		holders, err := Holders(m, b, meta.Name, props.EC.DataSlices+props.EC.ParitySlices)
		if err != nil {
			continue
		}
		for i, h := range holders {
			if !slices.ContainsFunc(holders[:i], func(o cluster.Node) bool { return o.ID == h.ID }) {
				byNode[h.ID] = append(byNode[h.ID], meta.Name)
				nodes[h.ID] = h
			}
		}
	}
	out := map[string][]found{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for id, names := range byNode {
		wg.Go(func() {
			var kept map[string][]store.PartMeta
			var err error
			if id == self.ID {
				kept, err = PartsOfEach(names, func(name string) ([]store.PartMeta, error) { return s.Store.PartsOf(ctx, b, name) })
			} else {
				kept, err = s.peers.PartsOfMany(ctx, nodes[id], b, names)
			}
			if err != nil {
				s.logger.Debug("ask a holder for its parts; they are sent again", "bucket", b.String(), "target", id, "err", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for name, metas := range kept {
				for _, meta := range metas {
					out[name] = append(out[name], found{node: nodes[id], meta: meta})
				}
			}
		})
	}
	wg.Wait()
	return out
}

// PartsOfEach is PartsOfMany of a target that answers one name at a time
// (partsOf): the parts of each name, for those it keeps any of.
func PartsOfEach(names []string, partsOf func(name string) ([]store.PartMeta, error)) (map[string][]store.PartMeta, error) {
	out := map[string][]store.PartMeta{}
	for _, name := range names {
		metas, err := partsOf(name)
		if err != nil {
			return nil, err
		}
		if len(metas) > 0 {
			out[name] = metas
		}
	}
	return out, nil
}

// complete tells whether every holder of an object (by map m) keeps its
// part of the version listed: nothing to encode or send.
func complete(m *cluster.Map, b store.Bucket, props store.Props, meta store.ObjectMeta, present []found) bool {
	if len(present) == 0 {
		return false
	}
	count, replica := props.EC.DataSlices+props.EC.ParitySlices, replicated(props, meta.Size)
	if replica {
		count = props.EC.ParitySlices
	}
	holders, err := Holders(m, b, meta.Name, count)
	if err != nil || len(holders) == 0 {
		return false
	}
	probe := make([]store.PartMeta, len(holders))
	for i := range probe {
		probe[i] = store.PartMeta{Bucket: b.Normalize(), Name: meta.Name, Data: props.EC.DataSlices, Parity: props.EC.ParitySlices,
			ObjectSize: meta.Size, Checksum: meta.Checksum, Stamp: meta.Stamp, Index: i, Replica: replica}
	}
	lacking, _ := missing(holders, probe, present)
	return len(lacking) == 0
}

// DropParts removes the parts of a bucket kept here that are not newer
// than before, the moment erasure coding was turned off (ec-cleanup).
// Parts left would outlive deletes made meanwhile (a delete of a bucket
// without EC drops no parts) and restore them once EC is on again; so it
// goes on when EC is on again before it ends (the encode then waits for
// it), sparing the parts of writes made since, which are newer.
func (s *Store) DropParts(ctx context.Context, b store.Bucket, before store.Stamp, progress *store.Progress) error {
	last := ""
	return s.Store.WalkParts(ctx, b, func(meta store.PartMeta) error {
		if meta.Name == last || !before.IsZero() && meta.Stamp.Compare(before) > 0 {
			return nil
		}
		last = meta.Name
		if err := s.Store.DeleteParts(ctx, b, meta.Name, before); err != nil {
			return err
		}
		progress.Add(0)
		return nil
	})
}

// justBefore is the latest stamp before s: parts not newer than it are
// of the versions before s.
func justBefore(s store.Stamp) store.Stamp { return store.Stamp{Map: s.Map, Clock: s.Clock - 1} }

// dropIfGone drops parts of an object's version just sent when that
// version is no longer the object (deleted or written again while they
// were on their way), or erasure coding was turned off meanwhile: the
// delete's own drop (the cleanup) did not find them yet, and they would
// restore it once its tombstone is collected.
func (s *Store) dropIfGone(ctx context.Context, b store.Bucket, name string, sent store.Stamp) {
	if _, on := s.props(b); !on {
		// Erasure coding turned off while they were on their way: the
		// ec-cleanup job may have passed the holders before they were
		// stored, and they would restore the object after a delete.
		s.dropParts(context.WithoutCancel(ctx), b, name, sent, upTo)
		return
	}
	if ctx.Err() != nil {
		return // cut short (the targets changed): no word on a delete
	}
	cur, err := s.Store.Head(ctx, b, name)
	switch {
	case err == nil && cur.Stamp.Compare(sent) > 0:
		// Written again: the version sent is older. (An older copy found
		// says nothing: the one sent may be on a mountpath away.)
	case errors.Is(err, store.ErrNotFound):
		// Deleted, or moved by a rebalance to its new owner, whose parts
		// they are now: only an owner still this target tells a delete.
		owner, oerr := s.peers.Map().Owner(cluster.Uname(b.Normalize().Provider, b.Name, name))
		if oerr != nil || owner.ID != s.peers.Self().ID || !s.deleted(b, name, sent) {
			return
		}
	default:
		return
	}
	s.dropParts(ctx, b, name, sent, upTo)
}

// deleted reports whether an object not found here was deleted at or
// after stamp: its tombstone says so, or, with every mountpath here, its
// absence does. A mountpath away (disabled) may hold it: its parts are
// then all that would restore it.
func (s *Store) deleted(b store.Bucket, name string, stamp store.Stamp) bool {
	if tombstones, ok := s.Store.(interface {
		Tombstone(store.Bucket, string) (store.Tombstone, bool)
	}); ok {
		if t, found := tombstones.Tombstone(b, name); found && t.Stamp.Compare(stamp) >= 0 {
			return true
		}
	}
	away, ok := s.Store.(interface{ Away() bool })
	return !ok || !away.Away()
}

// restoreAway restores, before a new write of a name, the copy here that
// a mountpath away (disabled, returning) holds: the name's parts are then
// its only whole version, and the write's parts replace them as they go;
// a write that then failed would leave it unrestorable (the repair after
// a failure, and the drop of the old parts after a success, need the copy
// here). Only for a name a mountpath away may hold: other writes do not
// ask the holders for parts; and only when a holder has parts of it (a
// holder that does not answer does not hold the write up).
func (s *Store) restoreAway(ctx context.Context, b store.Bucket, name string, opts store.PutOptions) {
	away, ok := s.Store.(interface {
		MayBeAway(context.Context, store.Bucket, string) bool
	})
	if !ok || !opts.Stamp.IsZero() || !away.MayBeAway(ctx, b, name) {
		return // (a copy moved or fetched with its stamp replaces no parts)
	}
	if _, err := s.Store.Head(ctx, b, name); !errors.Is(err, store.ErrNotFound) {
		return
	}
	parts, err := s.find(ctx, b, name)
	if err != nil {
		// Not known: the write may replace parts of the only whole
		// version.
		s.logger.Warn("an object's parts could not be looked for before it is written again (a mountpath away may hold its copy)", "bucket", b.String(), "object", name, "err", err)
		return
	}
	if len(parts) == 0 {
		return
	}
	if err := s.restoreMissing(ctx, b, name); err != nil && !errors.Is(err, errNoParts) && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrExists) {
		s.logger.Warn("restore an object before it is written again (a mountpath away may hold its copy)", "bucket", b.String(), "object", name, "err", err)
	}
}

// errReplicaUnreadable marks the replica's own failure in what
// protectStored returns (its parts' sends fail with the holders' kinds,
// an EIO among them): the parts may rebuild the replica.
var errReplicaUnreadable = errors.New("ec: the replica here cannot be read")

// protectStored stores the parts of an object kept here.
func (s *Store) protectStored(ctx context.Context, b store.Bucket, props store.Props, name string, present []found) error {
	if protecting != nil {
		protecting(name)
	}
	// Checked first: parts made of a replica gone bad would replace the
	// good ones (they carry the same stamp), and nothing could restore
	// the object then.
	obj, err := s.Store.Open(ctx, b, name, store.OpenOptions{Validate: true, Internal: true})
	if err != nil {
		if replicaLost(err) && !errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrBadChecksum) {
			err = fmt.Errorf("%w: %w", errReplicaUnreadable, err)
		}
		return err
	}
	defer obj.Close()
	meta := obj.Meta()
	err = s.protect(ctx, b, props, meta, objectSource{obj, meta.Size}, present, false)
	s.dropIfGone(ctx, b, name, meta.Stamp)
	return err
}

type objectSource struct {
	store.Object
	size int64
}

func (o objectSource) Size() int64 { return o.size }

// Reprotect stores again the parts of the named objects kept here that a
// holder lacks (a scrub removed a bad one); only the missing are sent.
func (s *Store) Reprotect(ctx context.Context, b store.Bucket, names []string) error {
	props, ok := s.props(b)
	if !ok {
		return nil
	}
	metas := make([]store.ObjectMeta, 0, len(names))
	for _, name := range names {
		if meta, err := s.Store.Head(ctx, b, name); err == nil {
			metas = append(metas, meta)
		}
	}
	var present map[string][]found
	if len(metas) <= ensureBatch {
		present = s.presentParts(ctx, s.peers.Map(), b, props, metas)
	}
	var errs []error
	for _, name := range names {
		err := s.protectStored(ctx, b, props, name, present[name])
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			errs = append(errs, fmt.Errorf("protect %s/%s again: %w", b, name, err))
		}
	}
	return errors.Join(errs...)
}

// Ensure restores the named objects this target owns but lacks.
func (s *Store) Ensure(ctx context.Context, b store.Bucket, names []string) error {
	if s.peers.Map() == nil {
		// Started, no map yet: which it owns is not known.
		return fmt.Errorf("%w: ensure: this target has no cluster map yet", store.ErrUnreached)
	}
	var errs []error
	type pending struct {
		name string
		err  error
	}
	var later []pending
	for _, name := range names {
		if err := context.Cause(ctx); err != nil {
			return errors.Join(append(errs, err)...)
		}
		if _, err := s.Store.Head(ctx, b, name); !errors.Is(err, store.ErrNotFound) {
			continue
		}
		// Asked by a map other than this target's: a copy restored here
		// would be a stray no sweep protects, which a rebalance could
		// bring back to its owner after a delete there.
		if owner, err := s.peers.Map().Owner(cluster.Uname(b.Normalize().Provider, b.Name, name)); err != nil || owner.ID != s.peers.Self().ID {
			continue
		}
		// ErrExists: deleted (its tombstone refused the restore, whose
		// stale parts went) or written meanwhile; either way, done.
		err := s.restoreMissing(ctx, b, name)
		if errors.As(err, new(writeUnderWay)) {
			later = append(later, pending{name, err}) // the others first
			continue
		}
		if err != nil && !errors.Is(err, errNoParts) && !errors.Is(err, store.ErrExists) {
			errs = append(errs, err)
		}
	}
	// A write of a name was under way: what it left, or, if it failed,
	// the version before it, restored if this target still owns it (the
	// map change that fails a write may move the name).
	for _, p := range later {
		rerr := p.err
		for { // one write after another (a client's retry), while ctx lasts
			waited, werr := awaitWrite(ctx, rerr)
			if werr != nil {
				return errors.Join(append(errs, fmt.Errorf("restore %s/%s: %w", b, p.name, werr))...)
			}
			if !waited {
				break
			}
			rerr = nil
			if _, err := s.Store.Head(ctx, b, p.name); !errors.Is(err, store.ErrNotFound) {
				break
			}
			if owner, err := s.peers.Map().Owner(cluster.Uname(b.Normalize().Provider, b.Name, p.name)); err != nil || owner.ID != s.peers.Self().ID {
				break
			}
			rerr = s.restoreMissing(ctx, b, p.name)
		}
		if rerr != nil && !errors.Is(rerr, store.ErrExists) && !errors.Is(rerr, errNoParts) {
			errs = append(errs, rerr)
		}
	}
	return errors.Join(errs...)
}

// Sweep hands the objects whose parts this target keeps to their owners
// (Ensure), so that an owner that lost its replica, or a new owner, gets
// it back; then it protects the objects it owns. A node runs it after the
// targets changed.
func (s *Store) Sweep(ctx context.Context, b store.Bucket, progress *store.Progress) error {
	m := s.peers.Map()
	self := s.peers.Self()
	// Names are handed over a batch at a time as the walk finds them:
	// a target's parts may be millions, and a list of them all would be
	// its memory. A name found twice (its parts on two mountpaths) is
	// asked for twice, which costs its owner a HEAD.
	byOwner := map[string][]string{}
	owners := map[string]cluster.Node{}
	var failed []error
	failures := 0
	ensure := func(id string) error {
		batch := byOwner[id]
		byOwner[id] = batch[:0:0]
		if len(batch) == 0 {
			return nil
		}
		if err := context.Cause(ctx); err != nil {
			return err // aborted (the targets changed again)
		}
		// Each batch may restore objects of any size: bounded by a
		// deadline of its own, not a control call's.
		bctx, cancel := context.WithTimeout(ctx, ensureTimeout)
		var err error
		if id == self.ID {
			err = s.Ensure(bctx, b, batch)
		} else {
			err = s.peers.Ensure(bctx, owners[id], b, batch)
		}
		cancel()
		if err != nil {
			s.logger.Warn("ensure the owner has its objects", "bucket", b.String(), "owner", id, "err", err)
			if failures++; len(failed) < maxProtectErrors {
				failed = append(failed, fmt.Errorf("owner %s of %d objects (%s...): %w", id, len(batch), batch[0], err))
			}
		}
		for range batch {
			progress.Add(0)
		}
		return nil
	}
	last := ""
	err := s.Store.WalkParts(ctx, b, func(meta store.PartMeta) error {
		if meta.Name == last {
			return nil // the next part of the same object
		}
		last = meta.Name
		owner, err := m.Owner(cluster.Uname(b.Normalize().Provider, b.Name, meta.Name))
		if err != nil {
			return nil
		}
		byOwner[owner.ID] = append(byOwner[owner.ID], meta.Name)
		owners[owner.ID] = owner
		if len(byOwner[owner.ID]) < ensureBatch {
			return nil
		}
		return ensure(owner.ID)
	})
	if err != nil {
		return err
	}
	for _, id := range slices.Sorted(maps.Keys(byOwner)) {
		if err := ensure(id); err != nil {
			return err
		}
	}
	// The sweep fails if an owner was not reached: the objects it lacks
	// stay unrestored until read, or until a next sweep.
	err = s.Protect(ctx, b, progress)
	if err == nil {
		err = s.dropStrays(ctx, m, b)
	}
	if failures > len(failed) {
		failed = append(failed, fmt.Errorf("and %d more batches", failures-len(failed)))
	}
	return errors.Join(append(failed, err)...)
}

// protecting, when set (tests), is told of each object protectStored
// reads to protect.
var protecting func(name string)

// dropStrays removes the parts kept here whose index this target no
// longer holds by map m (the targets changed, and with them the
// holders), once their holder keeps the same part or a newer one. One
// whose holder lacks it stays: the owner's sweep sends the holder its
// part, and the next sweep here drops this one.
func (s *Store) dropStrays(ctx context.Context, m *cluster.Map, b store.Bucket) error {
	deleter, ok := s.Store.(store.PartDeleter)
	if !ok {
		return nil
	}
	self := s.peers.Self()
	type stray struct {
		meta   store.PartMeta
		holder cluster.Node
	}
	var batch []stray
	dropped := 0
	// The holders changed again: the walk ends, and the next sweep sees.
	errMapChanged := errors.New("the map changed")
	flush := func() error {
		byHolder := map[string][]string{}
		holders := map[string]cluster.Node{}
		for _, st := range batch {
			if names := byHolder[st.holder.ID]; len(names) == 0 || names[len(names)-1] != st.meta.Name {
				byHolder[st.holder.ID] = append(names, st.meta.Name)
			}
			holders[st.holder.ID] = st.holder
		}
		kept := map[string]map[string][]store.PartMeta{}
		for id, names := range byHolder {
			if got, err := s.peers.PartsOfMany(ctx, holders[id], b, names); err == nil {
				kept[id] = got
			}
		}
		for _, st := range batch {
			if err := context.Cause(ctx); err != nil {
				return err
			}
			if s.peers.Map().Version != m.Version {
				return errMapChanged
			}
			held := slices.ContainsFunc(kept[st.holder.ID][st.meta.Name], func(k store.PartMeta) bool {
				// A replica for a replica: one slice does not restore
				// an object as one replica does.
				return k.Index == st.meta.Index && k.Replica == st.meta.Replica && (k.Same(st.meta) || k.Stamp.Compare(st.meta.Stamp) > 0)
			})
			if !held {
				continue
			}
			if err := deleter.DeletePart(ctx, b, st.meta.Name, st.meta.Index, st.meta.Stamp); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			dropped++
		}
		batch = batch[:0]
		return nil
	}
	err := s.Store.WalkParts(ctx, b, func(meta store.PartMeta) error {
		count := meta.Data + meta.Parity
		if meta.Replica {
			count = meta.Parity
		}
		holders, err := Holders(m, b, meta.Name, count)
		if err != nil || meta.Index >= len(holders) || holders[meta.Index].ID == self.ID {
			return nil
		}
		batch = append(batch, stray{meta, holders[meta.Index]})
		if len(batch) < ensureBatch {
			return nil
		}
		return flush()
	})
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	if dropped > 0 {
		s.logger.Info("dropped parts held elsewhere now", "bucket", b.String(), "parts", dropped)
	}
	if errors.Is(err, errMapChanged) {
		return nil
	}
	return err
}

// ensureBatch is how many names one request hands an owner.
const ensureBatch = 100

// ensureTimeout bounds one request that has an owner restore a batch of
// objects (or store their parts again).
const ensureTimeout = 10 * time.Minute

// capture keeps a copy of what a PUT reads, in memory or, past the memory
// limit (or the node's budget), in a file; and its checksum.
type capture struct {
	limit   int64 // what it may keep in memory, reserved of the budget
	release func()
	dir     string
	buf     []byte
	file    *os.File
	n       int64
	err     error
	typ     string
	hash    hash.Hash // nil for the checksum type none
	// custom and etag make the object's custom metadata, as the store
	// below keeps it, for its parts.
	custom map[string]string
	etag   hash.Hash
}

// workDir is where an object too large for memory goes now.
func (s *Store) workDir() string {
	if s.opts.PickWorkDir != nil {
		if dir := s.opts.PickWorkDir(); dir != "" {
			return dir
		}
	}
	return s.opts.WorkDir
}

func (s *Store) newCapture(size int64, typ string) *capture {
	c := &capture{dir: s.workDir(), typ: store.NormalizeChecksumType(typ), release: func() {}}
	// In memory only within the node's budget: clients that each announce
	// the memory limit, and send slowly, would hold it many times over.
	want := s.opts.MemoryLimit // no size announced: as much as it may be
	if size >= 0 {
		want = size
	}
	if want <= s.opts.MemoryLimit && s.memory.TryAcquire(want) {
		c.limit, c.release = want, func() { s.memory.Release(want) }
		if size >= 0 {
			c.buf = make([]byte, 0, size)
		}
	}
	if h, err := store.NewHash(c.typ); err == nil {
		c.hash = h
	}
	return c
}

func (c *capture) Write(p []byte) (int, error) {
	if c.hash != nil {
		c.hash.Write(p)
	}
	if c.etag != nil {
		c.etag.Write(p)
	}
	c.n += int64(len(p))
	if c.file == nil && c.n <= c.limit {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	if c.file == nil {
		f, err := os.CreateTemp(c.dir, "ec-put-")
		if err != nil {
			c.err = err
			return 0, err
		}
		c.file = f
		if _, err := f.Write(c.buf); err != nil {
			c.err = err
			return 0, err
		}
		c.buf = nil
	}
	if _, err := c.file.Write(p); err != nil {
		c.err = err
		return 0, err
	}
	return len(p), nil
}

func (c *capture) ReadAt(p []byte, off int64) (int, error) {
	if c.file != nil {
		return c.file.ReadAt(p, off)
	}
	return bytes.NewReader(c.buf).ReadAt(p, off)
}

func (c *capture) Size() int64 { return c.n }

// bytes returns the captured bytes when they are all in memory.
func (c *capture) bytes() ([]byte, bool) { return c.buf, c.file == nil && int64(len(c.buf)) == c.n }

// meta describes the captured object.
func (c *capture) meta(name string) (store.ObjectMeta, error) {
	if c.err != nil {
		return store.ObjectMeta{}, c.err
	}
	// (A bucket without checksums: {none, ""}, as its objects have.)
	meta := store.ObjectMeta{Name: name, Size: c.n, Custom: maps.Clone(c.custom), Checksum: store.ChecksumOf(c.typ, c.hash)}
	if c.etag != nil {
		if meta.Custom == nil {
			meta.Custom = map[string]string{}
		}
		meta.Custom[store.CustomETag] = hex.EncodeToString(c.etag.Sum(nil))
	}
	return meta, nil
}

func (c *capture) close() {
	if c.file != nil {
		c.file.Close()
		os.Remove(c.file.Name())
	}
	c.buf = nil
	c.release()
}
