package gateway

import (
	"container/list"
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
	members int // over every directory kept
}

// maxTarDirMembers bounds the files of all the directories kept (about
// 100 bytes each), and of one shard's; a variable for the tests.
var maxTarDirMembers = 1 << 20

type tarDirKey struct {
	bucket store.Bucket
	name   string
}

type tarDir struct {
	key     tarDirKey
	version tarVersion
	files   map[string]formats.Entry
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
func (d *tarDirs) find(f formats.Format, b store.Bucket, name string, obj store.Object, member string) (formats.Entry, error) {
	key, version := tarDirKey{b.Normalize(), name}, versionOf(obj.Meta())
	d.mu.Lock()
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
	d.mu.Unlock()
	rd, err := f.NewReader(obj, obj.Meta().Size, name)
	if err != nil {
		return formats.Entry{}, err
	}
	files := map[string]formats.Entry{}
	var found *formats.Entry
	for files != nil || found == nil {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return formats.Entry{}, err
		}
		if found == nil && e.Name == member {
			copied := *e
			found = &copied
		}
		if files == nil {
			continue
		}
		if _, seen := files[e.Name]; !seen {
			files[e.Name] = *e // the first of a name, as a scan finds it
		}
		if len(files) > maxTarDirMembers {
			files = nil // too many to keep: this read scans to its file
		}
	}
	if files != nil {
		d.keep(&tarDir{key: key, version: version, files: files})
	}
	if found == nil {
		return formats.Entry{}, missingMember(name, member)
	}
	return *found, nil
}

// keep adds a directory, replacing the shard's older one, and drops the
// least recently used past maxTarDirMembers.
func (d *tarDirs) keep(dir *tarDir) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lru == nil {
		d.lru, d.byShard = list.New(), map[tarDirKey]*list.Element{}
	}
	if el, ok := d.byShard[dir.key]; ok {
		d.members -= len(el.Value.(*tarDir).files)
		d.lru.Remove(el)
	}
	d.byShard[dir.key] = d.lru.PushFront(dir)
	d.members += len(dir.files)
	for d.members > maxTarDirMembers {
		oldest := d.lru.Back()
		gone := oldest.Value.(*tarDir)
		d.lru.Remove(oldest)
		delete(d.byShard, gone.key)
		d.members -= len(gone.files)
	}
}
