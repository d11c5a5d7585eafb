package gateway

import (
	"container/list"
	"context"
	"io"
	"sync"

	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/store"
)

// tarDirs caches where the files of tar shards are, for the shards this
// target read files of (archpath, get-batch): a file is then read at its
// offset instead of after a scan of every header before it, which made a
// batch of 64 files of a 2,000-file shard cost 2.5 ms a file. A directory
// holds for one version of its shard (the write's stamp, the size and the
// checksum); the least recently used go past the bounds.
type tarDirs struct {
	mu      sync.Mutex
	lru     *list.List // of *tarDir, the most recent first
	byShard map[tarDirKey]*list.Element
	members int   // over every directory kept
	bytes   int64 // their cost (see entryCost), at most maxTarDirBytes
	// building counts the directories being made: at most
	// maxTarDirBuilds at once, so that concurrent reads of shards not yet
	// known cannot each hold a directory's worth of memory.
	building int
	// tooBig are the versions of shards whose directory passed
	// maxTarDirBytes (at most maxTooBig): read again, they are scanned
	// with no directory made, maxTarDirBuilds at once (each scan reads
	// every header of half a million files or more: a get-batch of many
	// of their files would keep every disk and CPU busy otherwise).
	tooBig   map[tarDirKey]tarVersion
	scanning int
	scanned  chan struct{} // closed and replaced when a scan ends
}

// maxTooBig bounds the shards remembered too big for a directory;
// maxTooBigScans bounds the scans of them at once.
const (
	maxTooBig      = 1024
	maxTooBigScans = 2
)

// maxTarDirBytes bounds the memory of all the directories kept, and of
// one being made (a shard's names are its own: a tar name may be a
// megabyte); maxTarDirBuilds bounds the directories made at once.
// Variables for the tests.
var (
	maxTarDirBytes  int64 = 64 << 20
	maxTarDirBuilds       = 2
)

// entryCost is what a file costs a directory: its name, its entry and
// the map's share.
func entryCost(e *formats.Entry) int64 { return int64(len(e.Name)) + 96 }

type tarDirKey struct {
	bucket store.Bucket
	name   string
}

type tarDir struct {
	key     tarDirKey
	version tarVersion
	files   map[string]formats.Entry
	bytes   int64
}

// tarVersion tells one write of a shard from another.
type tarVersion struct {
	stamp    store.Stamp
	size     int64
	checksum string
}

func versionOf(meta store.ObjectMeta) tarVersion {
	return tarVersion{stamp: meta.Stamp, size: meta.Size, checksum: meta.Checksum.Value}
}

// find returns a file of a tar shard, from the directory of the shard's
// version, made (a scan of its headers) when there is none. It returns
// store.ErrNotFound (wrapped) when the shard has no such file.
func (d *tarDirs) find(ctx context.Context, f formats.Format, b store.Bucket, name string, obj store.Object, member string) (formats.Entry, error) {
	key, version := tarDirKey{b.Normalize(), name}, versionOf(obj.Meta())
	d.mu.Lock()
	if known, ok := d.tooBig[key]; ok && known == version {
		for d.scanning >= maxTooBigScans {
			if d.scanned == nil {
				d.scanned = make(chan struct{})
			}
			wait := d.scanned
			d.mu.Unlock()
			select {
			case <-ctx.Done():
				return formats.Entry{}, context.Cause(ctx)
			case <-wait:
			}
			d.mu.Lock()
		}
		d.scanning++
		d.mu.Unlock()
		defer func() {
			d.mu.Lock()
			d.scanning--
			if d.scanned != nil {
				close(d.scanned)
				d.scanned = nil
			}
			d.mu.Unlock()
		}()
		e, _, err := scanFor(f, name, obj, member, nil)
		return e, err
	}
	if el, ok := d.byShard[key]; ok {
		dir := el.Value.(*tarDir)
		if dir.version == version {
			d.lru.MoveToFront(el)
			e, found := dir.files[member]
			d.mu.Unlock()
			if !found {
				return e, missingMember(name, member)
			}
			return e, nil
		}
	}
	// Past the builds allowed, this read scans for its file alone.
	if d.building >= maxTarDirBuilds {
		d.mu.Unlock()
		e, _, err := scanFor(f, name, obj, member, nil)
		return e, err
	}
	d.building++
	files := map[string]formats.Entry{}
	defer func() {
		d.mu.Lock()
		d.building--
		d.mu.Unlock()
	}()
	d.mu.Unlock()
	var cost int64
	found, whole, err := scanFor(f, name, obj, member, func(e *formats.Entry) {
		if files == nil {
			return
		}
		if _, seen := files[e.Name]; !seen {
			cost += entryCost(e)
		}
		files[e.Name] = *e // the later of a name
		if cost > maxTarDirBytes {
			files = nil // too big to keep: this read scans for its file
			d.markTooBig(key, version)
		}
	})
	if whole && files != nil {
		d.keep(&tarDir{key: key, version: version, files: files, bytes: cost})
	}
	return found, err
}

// markTooBig remembers a shard's version too big for a directory.
func (d *tarDirs) markTooBig(key tarDirKey, version tarVersion) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tooBig == nil || len(d.tooBig) >= maxTooBig {
		d.tooBig = map[tarDirKey]tarVersion{} // (bounded: forgotten, one is made again once)
	}
	d.tooBig[key] = version
}

// scanFor reads a tar shard's headers to the end (the data is skipped)
// for a file: of a name twice, the later copy is the file, as tar -x,
// Python's tarfile, dSort and a shard's index take it. It hands each
// header to each, when set. whole is false when damage ended the scan
// past the file: served, as a read that scans to it alone serves it.
func scanFor(f formats.Format, name string, obj store.Object, member string, each func(*formats.Entry)) (e formats.Entry, whole bool, err error) {
	rd, err := f.NewReader(obj, obj.Meta().Size, name)
	if err != nil {
		return formats.Entry{}, false, err
	}
	var found *formats.Entry
	for {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if found != nil {
				return *found, false, nil
			}
			return formats.Entry{}, false, err
		}
		if e.Name == member {
			copied := *e
			found = &copied
		}
		if each != nil {
			each(e)
		}
	}
	if found == nil {
		return formats.Entry{}, true, missingMember(name, member)
	}
	return *found, true, nil
}

// keep adds a directory, replacing the shard's older one, and drops the
// least recently used past maxTarDirBytes.
func (d *tarDirs) keep(dir *tarDir) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lru == nil {
		d.lru, d.byShard = list.New(), map[tarDirKey]*list.Element{}
	}
	if el, ok := d.byShard[dir.key]; ok {
		d.drop(el)
	}
	d.byShard[dir.key] = d.lru.PushFront(dir)
	d.members += len(dir.files)
	d.bytes += dir.bytes
	for d.bytes > maxTarDirBytes {
		d.drop(d.lru.Back())
	}
}

// drop forgets a directory; d.mu is held.
func (d *tarDirs) drop(el *list.Element) {
	gone := el.Value.(*tarDir)
	d.lru.Remove(el)
	delete(d.byShard, gone.key)
	d.members -= len(gone.files)
	d.bytes -= gone.bytes
}
