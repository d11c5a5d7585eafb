package fs

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aisgo/aisgo/store"
)

// List returns up to opts.Limit objects after opts.StartAfter whose names
// start with opts.Prefix, in byte order. Each mountpath is walked in name
// order (see walk) and the walks are merged: a page reads the directories
// on its way (each whole: the filesystem has no seek by name) and sorts
// only their entries that sort after StartAfter, not the whole bucket.
func (s *Store) List(ctx context.Context, b store.Bucket, opts store.ListOptions) ([]store.ObjectMeta, error) {
	if _, err := s.bucketProps(b); err != nil {
		return nil, err
	}
	type cursor struct {
		m         mountpath
		next      func() (listed, bool)
		stop      func()
		head      listed
		ok        bool
		returning bool
	}
	cursors := make([]*cursor, 0, len(s.readable()))
	for _, m := range s.readable() {
		next, stop := iter.Pull(walkCached(&s.dirs, m.bucketDir(b), opts.Prefix, opts.StartAfter))
		c := &cursor{m: m, next: next, stop: stop, returning: s.isReturning(m)}
		c.head, c.ok = next()
		cursors = append(cursors, c)
	}
	defer func() {
		for _, c := range cursors {
			c.stop()
		}
	}()
	var out []store.ObjectMeta
	for opts.Limit <= 0 || len(out) < opts.Limit {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var min *cursor
		for _, c := range cursors {
			if c.ok && (min == nil || c.head.name < min.head.name) {
				min = c
			}
		}
		if min == nil {
			break
		}
		item, returning, m := min.head, min.returning, min.m
		min.head, min.ok = min.next()
		if item.err != nil {
			return nil, fmt.Errorf("list %s: %w", b, classify(item.err))
		}
		// Deduplicated by what was listed: a copy skipped (hidden, or
		// its metadata unreadable) does not hide the name's other copies.
		if len(out) > 0 && out[len(out)-1].Name == item.name {
			// A mirror's other copy, or a stale one: a read of the
			// copy counts as a read of the object.
			if opts.WithMeta && !(returning && s.hidden(b, item.name, item.path)) {
				s.mergeCopy(&out[len(out)-1], item)
			}
			continue
		}
		if returning && s.hidden(b, item.name, item.path) {
			continue
		}
		meta := store.ObjectMeta{Name: item.name, Size: item.size}
		// A file without AIS metadata is not an object (GET answers 404):
		// listing agrees.
		// A disk's error fails the page: an object skipped would make a
		// bucket look empty to the checks that destroy it. Another (a
		// stray file this node may not read) skips the file.
		if opts.WithMeta {
			if err := readMeta(item.path, &meta); err != nil {
				if !failsListing(err) {
					continue // removed since it was walked, not ours, or not readable
				}
				s.suspectAfter(m, err)
				return nil, fmt.Errorf("list %s: %w", b, err)
			}
			meta.Name = item.name
			if t, ok := s.accessTime(item.path); ok && t.After(meta.Atime) {
				meta.Atime = t
			}
		} else if has, err := hasMeta(item.path); err != nil && failsListing(err) {
			s.suspectAfter(m, err)
			return nil, fmt.Errorf("list %s: %w", b, err)
		} else if !has {
			continue
		}
		out = append(out, meta)
	}
	return out, nil
}

// failsListing reports an error reading an object's metadata that fails
// a listing page: the disk's, or the machine short of something for a
// moment (the page is asked again).
func failsListing(err error) bool {
	return isDiskError(err) || transient(err)
}

// mergeCopy folds another copy of meta's object into it: a newer copy
// (by stamp) is the object listed; one of the same write gives its later
// access time (a read goes to the least busy copy, and LRU must not take
// a mirrored object read all day for cold).
func (s *Store) mergeCopy(meta *store.ObjectMeta, copy listed) {
	other := store.ObjectMeta{Name: meta.Name, Size: copy.size}
	if readMeta(copy.path, &other) != nil {
		return
	}
	if t, ok := s.accessTime(copy.path); ok && t.After(other.Atime) {
		other.Atime = t
	}
	switch c := other.Stamp.Compare(meta.Stamp); {
	case c > 0:
		// The newer copy is the object, as a GET or a HEAD reads it (a
		// crash between a mirrored overwrite's installs left the first
		// mountpath's the older).
		other.Name, other.Atime = meta.Name, maxTime(other.Atime, meta.Atime)
		*meta = other
	case c == 0:
		meta.Atime = maxTime(meta.Atime, other.Atime)
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

type listed struct {
	name string // object name, '/'-separated
	path string
	size int64
	err  error
}

// walk yields the regular files under root whose names (relative to root)
// start with prefix and sort after startAfter, in byte order of the names.
//
// A directory "d" holds exactly the names that start with "d/", so sorting
// a directory's entries by name, with "/" appended to subdirectories, gives
// the byte order of the full names. Subtrees that cannot hold a wanted name
// are skipped without being read. With a cache, a big directory that has
// not changed is read and sorted once for all the pages of a listing.
func walk(root, prefix, startAfter string) iter.Seq[listed] {
	return walkCached(nil, root, prefix, startAfter)
}

func walkCached(cache *dirCache, root, prefix, startAfter string) iter.Seq[listed] {
	return func(yield func(listed) bool) {
		walkDir(cache, root, "", prefix, startAfter, yield)
	}
}

func walkDir(cache *dirCache, dir, rel, prefix, startAfter string, yield func(listed) bool) bool {
	items, err := cache.read(dir)
	if err != nil {
		// Gone since its parent was read, or made an object's name
		// (ENOTDIR): nothing of it to list.
		if os.IsNotExist(err) || errors.Is(err, syscall.ENOTDIR) {
			return true
		}
		return yield(listed{err: err})
	}
	// The first item that may be listed: after startAfter, or the
	// directory that holds it.
	first := sort.Search(len(items), func(i int) bool { return rel+items[i].key() > startAfter })
	if first > 0 && items[first-1].dir && strings.HasPrefix(startAfter, rel+items[first-1].key()) {
		first--
	}
	for _, item := range items[first:] {
		key := rel + item.key()
		if !strings.HasPrefix(key, prefix) && !strings.HasPrefix(prefix, key) {
			if key > prefix {
				break // sorted: no later name has the prefix
			}
			continue
		}
		if item.dir {
			if !walkDir(cache, filepath.Join(dir, item.name), key, prefix, startAfter, yield) {
				return false
			}
			continue
		}
		if !item.regular || !strings.HasPrefix(key, prefix) {
			continue
		}
		info, err := os.Lstat(filepath.Join(dir, item.name))
		if err != nil || !info.Mode().IsRegular() {
			continue // removed or replaced since the directory was read
		}
		if !yield(listed{name: key, path: filepath.Join(dir, item.name), size: info.Size()}) {
			return false
		}
	}
	return true
}

// dirItem is a directory entry as a listing walks it.
type dirItem struct {
	name         string
	dir, regular bool
}

// key sorts a directory's entries in the byte order of the full names
// below them: a subdirectory as its name and "/".
func (d dirItem) key() string {
	if d.dir {
		return d.name + "/"
	}
	return d.name
}

// dirCache keeps the sorted entries of big directories that have not
// changed lately: the pages of a listing of a big flat bucket read and
// sort its directory once, not once a page (O(n) for the listing, not
// O(n²)).
type dirCache struct {
	mu    sync.Mutex
	dirs  map[string]*cachedDir
	order []string // oldest first
	bytes int64
}

type cachedDir struct {
	mtime time.Time
	items []dirItem
	bytes int64
}

const (
	// dirCacheMinEntries: smaller directories are cheap to read again.
	dirCacheMinEntries = 1024
	// dirCacheBytes bounds the names cached; one directory may take up
	// to half of it (a flat bucket of a million 20-byte names: 60 MiB).
	dirCacheBytes = 128 << 20
	// dirItemBytes is what an entry costs besides its name (the string's
	// header, the flags, the slice's slack).
	dirItemBytes = 40
	// dirSettled is how long a directory must not have changed before
	// its entries are cached: a change after that moves its mtime to
	// another clock tick for sure, and the cached copy is not used.
	dirSettled = time.Second
)

// read returns a directory's entries in key order, from the cache when
// the directory has not changed since they were cached.
func (c *dirCache) read(dir string) ([]dirItem, error) {
	var before os.FileInfo
	if c != nil {
		var err error
		if before, err = os.Stat(dir); err != nil {
			return nil, err
		}
		c.mu.Lock()
		cached, ok := c.dirs[dir]
		c.mu.Unlock()
		if ok && cached.mtime.Equal(before.ModTime()) {
			return cached.items, nil
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	items := make([]dirItem, len(entries))
	bytes := int64(0)
	for i, e := range entries {
		items[i] = dirItem{name: e.Name(), dir: e.IsDir(), regular: e.Type().IsRegular()}
		bytes += int64(len(e.Name())) + dirItemBytes
	}
	slices.SortFunc(items, func(a, b dirItem) int { return strings.Compare(a.key(), b.key()) })
	if c != nil && len(items) >= dirCacheMinEntries && bytes <= dirCacheBytes/2 && time.Since(before.ModTime()) > dirSettled {
		if after, err := os.Stat(dir); err == nil && after.ModTime().Equal(before.ModTime()) {
			c.keep(dir, &cachedDir{mtime: before.ModTime(), items: items, bytes: bytes})
		}
	}
	return items, nil
}

func (c *dirCache) keep(dir string, d *cachedDir) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dirs == nil {
		c.dirs = map[string]*cachedDir{}
	}
	if old, ok := c.dirs[dir]; ok {
		c.bytes -= old.bytes
		c.order = slices.DeleteFunc(c.order, func(x string) bool { return x == dir })
	}
	for c.bytes+d.bytes > dirCacheBytes && len(c.order) > 0 {
		c.bytes -= c.dirs[c.order[0]].bytes
		delete(c.dirs, c.order[0])
		c.order = c.order[1:]
	}
	c.dirs[dir] = d
	c.order = append(c.order, dir)
	c.bytes += d.bytes
}
