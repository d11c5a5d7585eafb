package fs

import (
	"os"
	"sync"
	"time"

	"github.com/tinylib/msgp/msgp"
	"golang.org/x/sys/unix"

	"github.com/aisgo/aisgo/store"
)

// Access times are kept cheaply: a read notes the time in memory, and the
// notes are written to the objects' metadata in batches (every
// atimeFlushEvery, or when atimeFlushAt are pending), not one write per
// read. Listings with metadata see the pending times, so that LRU orders
// objects by their last read to the second.

const (
	atimeFlushEvery = 10 * time.Second
	atimeFlushAt    = 4096
	// atimePendingMax bounds the times kept while a flush is stuck (a
	// disk that hangs): past it, reads are not noted until it ends.
	atimePendingMax = 1 << 20
)

// accessTimes are the pending access times, by object file path.
type accessTimes struct {
	mu      sync.Mutex
	pending map[string]time.Time
	// flushing are the times a flush is writing: still seen by listings
	// until they are in the metadata.
	flushing map[string]time.Time
	timer    *time.Timer
	// queued is a flush started for a full batch that has not taken the
	// batch yet: one at a time, not one per read while a flush runs.
	queued bool
	// flushMu makes flushes take turns: each reads and writes the
	// metadata, and two at once could write an older time last.
	flushMu sync.Mutex
}

// touch notes a read of the object at path.
func (s *Store) touch(path string) { s.touchAt(path, time.Now()) }

// touchAt notes a read of the object at path at t (one of another copy,
// which a copy kept carries), unless a later one is noted.
func (s *Store) touchAt(path string, t time.Time) {
	a := &s.atimes
	a.mu.Lock()
	if a.pending == nil {
		a.pending = map[string]time.Time{}
	}
	noted, ok := a.pending[path]
	if !ok && len(a.pending) >= atimePendingMax || ok && !t.After(noted) {
		a.mu.Unlock()
		return
	}
	a.pending[path] = t
	full := len(a.pending) >= atimeFlushAt && !a.queued
	if a.timer == nil && !full {
		a.timer = time.AfterFunc(atimeFlushEvery, s.flushAccessTimes)
	}
	if full {
		a.queued = true
	}
	a.mu.Unlock()
	if full {
		go s.flushAccessTimes()
	}
}

// accessTime returns the pending access time of the object at path.
func (s *Store) accessTime(path string) (time.Time, bool) {
	a := &s.atimes
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.pending[path]
	if f, flushing := a.flushing[path]; flushing && (!ok || f.After(t)) {
		t, ok = f, true
	}
	return t, ok
}

// flushAccessTimes writes the pending access times into the objects'
// metadata; an object gone or rewritten since keeps what it has.
func (s *Store) flushAccessTimes() {
	a := &s.atimes
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	a.mu.Lock()
	pending := a.pending
	a.pending, a.flushing, a.queued = nil, pending, false
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	a.mu.Unlock()
	for path, t := range pending {
		flushAccessTime(path, t)
	}
	a.mu.Lock()
	a.flushing = nil
	a.mu.Unlock()
}

// flushAccessTime writes one access time into an object's metadata: read
// and written through one descriptor, so that a PUT renaming a new object
// into the path meanwhile keeps its own metadata (by path, the old
// object's would land on it).
func flushAccessTime(path string, t time.Time) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	fd := int(f.Fd())
	buf := make([]byte, maxMetaSize+512)
	n, err := unix.Fgetxattr(fd, xattrName, buf)
	var meta store.ObjectMeta
	if err != nil || decodeMeta(buf[:n], &meta) != nil || !meta.Atime.Before(t) {
		return
	}
	patched, err := withAtime(buf[:n], t)
	if err != nil {
		return
	}
	unix.Fsetxattr(fd, xattrName, patched, 0) // best effort: an access time only
}

// withAtime is encoded metadata with its access time replaced and every
// other key kept as it is: a newer writer's keys, which decodeMeta skips,
// must not go with a read's access time.
func withAtime(raw []byte, t time.Time) ([]byte, error) {
	n, rest, err := msgp.ReadMapHeaderBytes(raw)
	if err != nil {
		return nil, err
	}
	out := msgp.AppendMapHeader(make([]byte, 0, len(raw)+16), n)
	for range n {
		key, after, err := msgp.ReadStringBytes(rest)
		if err != nil {
			return nil, err
		}
		end, err := msgp.Skip(after)
		if err != nil {
			return nil, err
		}
		out = msgp.AppendString(out, key)
		if key == "a" {
			out = msgp.AppendInt64(out, t.UnixNano())
		} else {
			out = append(out, after[:len(after)-len(end)]...)
		}
		rest = end
	}
	return out, nil
}

// FlushAccessTimes writes every pending access time now (before a
// shutdown, or for a test).
func (s *Store) FlushAccessTimes() { s.flushAccessTimes() }
