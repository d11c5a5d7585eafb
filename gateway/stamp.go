package gateway

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aisgo/aisgo/internal/atomicfile"
	"github.com/aisgo/aisgo/store"
)

// stampedStore stamps every write and delete made through the node (dSort
// output, removals of an aborted job's shards) with the map version and
// the node's clock, as client PUTs are: an unstamped write would look
// older than any tombstone made under a later map, and a rebalance that
// delivers the tombstone would remove it.
type stampedStore struct {
	store.Store
	n *Node
}

// OpenCached opens what this node holds, fetching nothing (a dSort
// estimate's reads), when the store beneath can tell.
func (s stampedStore) OpenCached(ctx context.Context, b store.Bucket, name string) (store.Object, error) {
	if cached, ok := s.Store.(store.CachedOpener); ok {
		return cached.OpenCached(ctx, b, name)
	}
	return s.Store.Open(ctx, b, name, store.OpenOptions{})
}

func (s stampedStore) Put(ctx context.Context, b store.Bucket, name string, r io.Reader, opts store.PutOptions) (store.ObjectMeta, error) {
	if b.IsRemote() && opts.Stamp.IsZero() && opts.Precommit == nil {
		// A new object of the node's (a dSort output shard) waits, as a
		// client's PUT does, for a file put into a shard of its name to
		// be written back (see putOwned): between, it would be replaced.
		unlock, err := s.n.shardLocks.lockUnlessJob(ctx, b, name, shardLockWait)
		if err != nil {
			return store.ObjectMeta{}, err
		}
		defer unlock()
	}
	if opts.Stamp.IsZero() && opts.Precommit == nil {
		// Under the placement lock, as client PUTs: a map change waits
		// for the commit, so a rebalance listing sees the object.
		opts.Precommit = func() (func(), store.Stamp, error) {
			s.n.placement.RLock()
			return s.n.placement.RUnlock, s.n.stamp(), nil
		}
	}
	return s.Store.Put(ctx, b, name, r, opts)
}

func (s stampedStore) Delete(ctx context.Context, b store.Bucket, name string, opts store.DeleteOptions) error {
	// Before the node has a map (a restart removing what an interrupted
	// job wrote), the delete is not ordered: it removes what is there.
	if opts.Stamp.IsZero() && s.n.currentMap() != nil {
		opts.Stamp = s.n.stamp()
	}
	return s.Store.Delete(ctx, b, name, opts)
}

// stamp returns a stamp for a write or delete made now.
func (n *Node) stamp() store.Stamp {
	var version int64
	if m := n.currentMap(); m != nil {
		version = m.Version
	}
	return store.Stamp{Map: version, Clock: n.clock.Now()}
}

// clockFile holds the lease of the node's clock (hlc.Clock.Keep): a node
// started again stamps after every stamp it gave before, though its wall
// clock stepped back or it had followed a peer's faster one, and its
// writes do not look older than those they replaced.
const clockFile = "clock-lease"

// clockLeaseStep is how far ahead of a reading the saved lease is: one
// small synced write each that much clock.
const clockLeaseStep = 10 * time.Second

// keepClock starts the node's clock from its saved lease and keeps the
// next ones in its state directory.
func (n *Node) keepClock() {
	dir := n.stateDir()
	if dir == "" {
		return
	}
	path := filepath.Join(dir, clockFile)
	var saved int64
	data, err := os.ReadFile(path)
	if err == nil {
		saved, err = strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		// Not the value read (out of range, ParseInt gives its bound:
		// stamps past any other for good). The time the lease was
		// written bounds from below what it held (a reading then, a
		// step ahead): a wall clock stepped back since stays behind.
		saved = 0
		if info, serr := os.Stat(path); serr == nil {
			saved = info.ModTime().Add(clockLeaseStep).UnixNano()
		}
		n.logger.Error("the clock's lease cannot be read: stamps start past the time it was written, or the wall clock", "path", path, "err", err)
	}
	n.clock.Keep(saved, clockLeaseStep, func(until int64) error {
		err := atomicfile.Write(path, []byte(strconv.FormatInt(until, 10)), 0o644)
		if err != nil {
			n.logger.Warn("save the clock's lease", "path", path, "err", err)
		}
		return err
	})
}
