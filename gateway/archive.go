package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/internal/namelock"
	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/shards"
	"github.com/aisgo/aisgo/store"
)

// Archive modes of a multi-file selection (archmode with archregx).
const (
	archModeRegexp = "regexp"
	archModePrefix = "prefix"
	archModeSuffix = "suffix"
	archModeSubstr = "substr"
	archModeWDSKey = "wdskey" // the record: the name up to its extension
)

// getFromArchive answers a GET with archpath (one file of a shard) or
// archregx (the files that match, as a tar), of the format archmime names
// or the shard's name or first bytes tell.
func (n *Node) getFromArchive(w http.ResponseWriter, r *http.Request, b store.Bucket, obj store.Object, name string) {
	q := r.URL.Query()
	member, expr := q.Get(api.QueryArchPath), q.Get(api.QueryArchRegex)
	if member != "" && expr != "" {
		n.writeError(w, r, badRequest("%s and %s select files of a shard in two ways: send one", api.QueryArchPath, api.QueryArchRegex))
		return
	}
	var match func(string) bool
	if expr != "" {
		var err error
		if match, err = archiveMatcher(expr, q.Get(api.QueryArchMode)); err != nil {
			n.writeError(w, r, err)
			return
		}
	}
	f, err := n.archiveFormat(obj, name, q.Get(api.QueryArchMime))
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	if match == nil {
		data, size, err := n.openMember(r.Context(), f, b, obj, name, path.Clean(member))
		if err != nil {
			n.writeError(w, r, shardError(err))
			return
		}
		status, length := http.StatusOK, size
		start, part, err := int64(0), int64(0), errIgnoreRange
		if spec := r.Header.Get("Range"); spec != "" {
			start, part, err = parseRange(spec, size)
		}
		if !errors.Is(err, errIgnoreRange) {
			// A range of the file, as of a whole object.
			if err != nil {
				w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
				n.writeError(w, r, err)
				return
			}
			// A tar's file is a section of the shard: no need to read up to
			// the range.
			if seeker, ok := data.(io.Seeker); ok {
				_, err = seeker.Seek(start, io.SeekStart)
			} else {
				_, err = io.CopyN(io.Discard, data, start)
			}
			if err != nil {
				n.writeError(w, r, shardError(err))
				return
			}
			data, status, length = io.LimitReader(data, part), http.StatusPartialContent, part
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+part-1, size))
		}
		w.Header().Set("Content-Length", strconv.FormatInt(length, 10))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(status)
		buf := pool.Get(pool.CopyBufferSize)
		defer pool.Put(buf)
		// A read that fails (a zip member's CRC, checked with its last
		// bytes) sends none of its bytes: the body stops short of its
		// length, and the client sees the failure, not a whole file.
		if _, err := io.CopyBuffer(w, failWhole{data}, buf); err != nil {
			n.logger.Debug("archpath: copy interrupted", "object", name, "member", member, "err", err)
		}
		return
	}
	if r.Header.Get("Range") != "" {
		n.writeError(w, r, badRequest("a Range of the files %s selects is not supported: read them whole, or one with %s", api.QueryArchRegex, api.QueryArchPath))
		return
	}
	release, err := n.holdShard(r.Context(), f, obj)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	defer release()
	// Through the request's context: a compressed shard's members that
	// do not match are decompressed all the same, which a client gone
	// stops.
	rd, err := f.NewReader(contextReaderAt{r.Context(), obj}, obj.Meta().Size, name)
	if err != nil {
		n.writeError(w, r, shardError(err))
		return
	}
	n.getArchivedSet(w, r, rd, name, match)
}

// openMember finds a file of a shard: in a tar shard by the directory of
// its files (tarDirs), in the others by reading up to it. It returns a
// reader of the file's data (not to be used past obj's Close) and its
// size. A zip shard's directory is read within zipMemory, taken until
// the file is found, and let go then (formats.Detacher): held while the
// file streams, a get-batch's entries (read ahead, written in order)
// would wait for one another, and untaken, many slow readers would hold
// a directory each.
func (n *Node) openMember(ctx context.Context, f formats.Format, b store.Bucket, obj store.Object, name, member string) (io.Reader, int64, error) {
	if f.Offsets() {
		e, err := n.tarDirs.find(ctx, f, b, name, contextObject{obj, ctx}, member)
		if err != nil {
			return nil, 0, err
		}
		return io.NewSectionReader(obj, e.DataOffset, e.Size), e.Size, nil
	}
	release, err := n.holdShard(ctx, f, obj)
	if err != nil {
		return nil, 0, err
	}
	defer release()
	// A zip's directory is in memory: of a name twice, the later copy is
	// the file (as unzip and dSort take it), found by a look at it first.
	// (A compressed tar stream is read up to the first: a look past it
	// would decompress the whole shard.)
	want := 1
	if _, ok := f.(formats.Zip); ok {
		if want, err = membersNamed(ctx, f, obj, name, member); err != nil {
			return nil, 0, err
		}
	}
	// Read through the context: a compressed shard is decompressed up
	// to the file (or whole, for one it lacks), which a caller gone
	// stops.
	rd, err := f.NewReader(contextReaderAt{ctx, obj}, obj.Meta().Size, name)
	if err != nil {
		return nil, 0, err
	}
	seen := 0
	for {
		e, err := rd.Next()
		if err == io.EOF {
			return nil, 0, missingMember(name, member)
		}
		if err != nil {
			return nil, 0, err
		}
		if e.Name == member {
			if seen++; seen < want {
				continue
			}
			if d, ok := rd.(formats.Detacher); ok {
				if err := d.Detach(); err != nil {
					return nil, 0, err
				}
			}
			return io.LimitReader(rd, e.Size), e.Size, nil
		}
	}
}

// membersNamed counts a zip shard's files named member, by its central
// directory (at least 1: none is told by the read after).
func membersNamed(ctx context.Context, f formats.Format, obj store.Object, name, member string) (int, error) {
	rd, err := f.NewReader(contextReaderAt{ctx, obj}, obj.Meta().Size, name)
	if err != nil {
		return 0, err
	}
	counter, ok := rd.(interface{ CountNamed(string) int })
	if !ok {
		return 1, nil
	}
	return max(counter.CountNamed(member), 1), nil
}

// maxZipMemory bounds the central directories of the zip shards being
// read at once (archpath, get-batch: until the file is found; archregx:
// the whole read), with dSort's in the same process.
const maxZipMemory = formats.MaxZipMemory

// holdShard takes a zip shard's share of zipMemory, waiting for it until
// ctx ends; other formats hold nothing. The function it returns releases
// it.
func (n *Node) holdShard(ctx context.Context, f formats.Format, obj store.Object) (func(), error) {
	if f.Name() != (formats.Zip{}).Name() || n.zipMemory == nil {
		return func() {}, nil
	}
	weight := formats.ZipWeight(obj, obj.Meta().Size)
	if err := n.zipMemory.Acquire(ctx, weight); err != nil {
		return nil, fmt.Errorf("%w: zip shards of %d bytes of directories are being read: %w", api.ErrUnavailable, maxZipMemory, context.Cause(ctx))
	}
	return func() { n.zipMemory.Release(weight) }, nil
}

// contextObject is an object whose ReadAt fails once its context ends:
// a scan of a big shard's headers stops when its caller is gone.
type contextObject struct {
	store.Object
	ctx context.Context
}

func (c contextObject) ReadAt(p []byte, off int64) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.Object.ReadAt(p, off)
}

// contextReaderAt fails its reads once its context ends.
type contextReaderAt struct {
	ctx context.Context
	r   io.ReaderAt
}

func (c contextReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.r.ReadAt(p, off)
}

// failWhole is a reader whose read that fails returns no bytes with its
// error.
type failWhole struct{ r io.Reader }

func (f failWhole) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err != nil && err != io.EOF {
		return 0, err
	}
	return n, err
}

// missingMember is the error of a file a shard does not have.
func missingMember(name, member string) error {
	return fmt.Errorf("%w: %w: %q is not in %s", store.ErrNotFound, errNoMember, member, name)
}

// errNoMember marks a 404 of a shard that is here, for a file it does not
// have (headerShardHeld): a read relayed from this copy answers it, not
// "ask another".
var errNoMember = errors.New("the shard has no such file")

// headerShardHeld says a 404 is of a file of a shard that is there.
const headerShardHeld = "Ais-Shard-Held"

// archiveFormat is a shard object's format: the one archmime names, else
// the one of its name's extension, else the one its first bytes show (obj
// nil: a shard yet to be made).
func (n *Node) archiveFormat(obj store.Object, name, mime string) (formats.Format, error) {
	detect := func() (formats.Format, bool) {
		head := make([]byte, 1024)
		k, _ := obj.ReadAt(head, 0)
		return n.formats.Detect(head[:k])
	}
	if mime != "" {
		f, ok := n.formats.ByExtension(mime)
		if !ok {
			return nil, badRequest("%s=%q is not a shard format (want one of %v)", api.QueryArchMime, mime, n.formats.Extensions())
		}
		// A shard whose bytes show another format: the request is
		// wrong, not the shard (read as the other, it would be corrupt).
		if obj != nil {
			if other, ok := detect(); ok && other.Name() != f.Name() {
				return nil, badRequest("%s=%s, but %s is a %s shard", api.QueryArchMime, mime, name, other.Name())
			}
		}
		return f, nil
	}
	if f, ok := n.formats.ByName(name); ok {
		return f, nil
	}
	if obj != nil {
		if f, ok := detect(); ok {
			return f, nil
		}
	}
	return nil, badRequest("%s is not a known archive (want one of %v, or name the format with %s)", name, n.formats.Extensions(), api.QueryArchMime)
}

// maxArchRegex bounds an archregx expression: its matching costs its
// length for every file of the shard.
const maxArchRegex = 4096

// archiveMatcher selects files of a shard by name as AIStore's archmode
// does; an empty mode is a regular expression.
func archiveMatcher(expr, mode string) (func(string) bool, error) {
	switch mode {
	case "", archModeRegexp:
		if len(expr) > maxArchRegex {
			return nil, badRequest("%s is %d bytes long, at most %d", api.QueryArchRegex, len(expr), maxArchRegex)
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, badRequest("%s=%q is not a regular expression: %v", api.QueryArchRegex, expr, err)
		}
		return re.MatchString, nil
	case archModePrefix:
		return func(s string) bool { return strings.HasPrefix(s, expr) }, nil
	case archModeSuffix:
		return func(s string) bool { return strings.HasSuffix(s, expr) }, nil
	case archModeSubstr:
		return func(s string) bool { return strings.Contains(s, expr) }, nil
	case archModeWDSKey:
		return func(s string) bool { record, _ := shards.SplitName(s); return record == expr }, nil
	}
	return nil, badRequest("%s=%q: want %s, %s, %s, %s or %s", api.QueryArchMode, mode,
		archModeRegexp, archModePrefix, archModeSuffix, archModeSubstr, archModeWDSKey)
}

// getArchivedSet streams the members that match as a tar, in the shard's
// order. The status waits for the first match, so that a shard with none
// is a 404 and a corrupt one found early a 400.
func (n *Node) getArchivedSet(w http.ResponseWriter, r *http.Request, rd formats.Reader, name string, match func(string) bool) {
	tarFormat, _ := n.formats.ByExtension(".tar")
	var tw formats.Writer
	buf := pool.Get(pool.CopyBufferSize)
	defer pool.Put(buf)
	// Once the status is sent, a failure cuts the answer off: a tar that
	// merely ends early would read as a whole one.
	cut := func(err error) {
		n.logger.Warn("archregx: cut short", "object", name, "err", err)
		recordCut(w, r, err)
		formats.Abort(tw)
		panic(http.ErrAbortHandler)
	}
	for {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err == nil {
			err = r.Context().Err() // a client gone stops a scan that matches nothing
		}
		if err != nil {
			if tw == nil {
				n.writeError(w, r, shardError(err))
				return
			}
			cut(err)
		}
		if !match(e.Name) {
			continue
		}
		if tw == nil {
			w.Header().Set("Content-Type", "application/x-tar")
			w.WriteHeader(http.StatusOK)
			if tw, err = tarFormat.NewWriter(w); err != nil {
				return
			}
		}
		if err := tw.WriteHeader(&formats.Entry{Name: e.Name, Size: e.Size}); err != nil {
			cut(err)
		}
		if _, err := io.CopyBuffer(tw, io.LimitReader(rd, e.Size), buf); err != nil {
			cut(err)
		}
	}
	if tw == nil {
		n.writeError(w, r, fmt.Errorf("%w: %w: no file of %s matches %s", store.ErrNotFound, errNoMember, name, r.URL.Query().Get(api.QueryArchRegex)))
		return
	}
	if err := tw.Close(); err != nil {
		cut(err)
	}
}

// shardLockWait bounds a file PUT's wait for its shard's lock (a
// variable for the tests).
var shardLockWait = 30 * time.Second

// shardLocks lets one rewrite of a shard run at a time on its owner. The
// If-Match of the rewrite's PUT guards against any other write; this also
// covers the buckets where it cannot (remote ones, whose PUTs take no
// condition), for the rewrites among themselves.
type shardLocks struct {
	names namelock.Locks
	mu    sync.Mutex
	// jobs are the shards an archive job holds (its name as a key).
	jobs map[string]bool
}

// lock waits for the shard's lock, until ctx ends (a caller gone, a job
// aborted: an archive job may hold it long); the function it returns
// unlocks.
func (l *shardLocks) lock(ctx context.Context, b store.Bucket, name string) (func(), error) {
	unlock, err := l.names.LockContext(ctx, l.key(b, name))
	if err != nil {
		return nil, fmt.Errorf("%w: %s/%s: another write into the shard is under way: %w", api.ErrUnavailable, b, name, err)
	}
	return unlock, nil
}

func (l *shardLocks) key(b store.Bucket, name string) string {
	return b.Normalize().String() + "/" + name
}

// lockForJob is lock, the shard marked as an archive job's while held.
func (l *shardLocks) lockForJob(ctx context.Context, b store.Bucket, name string) (func(), error) {
	unlock, err := l.lock(ctx, b, name)
	if err != nil {
		return nil, err
	}
	key := l.key(b, name)
	l.mu.Lock()
	if l.jobs == nil {
		l.jobs = map[string]bool{}
	}
	l.jobs[key] = true
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		delete(l.jobs, key)
		l.mu.Unlock()
		unlock()
	}, nil
}

// lockUnlessJob is lock for a file PUT: past wait, while an archive job
// holds the shard (it may for long), it gives up (503: send again);
// behind other file PUTs it waits its turn.
func (l *shardLocks) lockUnlessJob(ctx context.Context, b store.Bucket, name string, wait time.Duration) (func(), error) {
	for {
		bounded, cancel := context.WithTimeout(ctx, wait)
		unlock, err := l.lock(bounded, b, name)
		cancel()
		if err == nil || ctx.Err() != nil {
			return unlock, err
		}
		l.mu.Lock()
		job := l.jobs[l.key(b, name)]
		l.mu.Unlock()
		if job {
			return nil, fmt.Errorf("%w: %s/%s: an archive job is writing the shard: send the file again once it ends", api.ErrUnavailable, b, name)
		}
	}
}

// shardError marks a malformed shard as a bad request: the object cannot
// be read as the archive it claims to be.
func shardError(err error) error {
	if errors.Is(err, formats.ErrCorrupt) || errors.Is(err, formats.ErrUnsupported) {
		return fmt.Errorf("%w: %w", api.ErrBadRequest, err)
	}
	return err
}

// putIntoArchive answers a PUT with archpath: the body becomes that file
// of the shard (a file of the same name is replaced), and the shard is
// created when there is none, of the format archmime or its name tells.
// The shard is written anew and stored only if no other write changed it
// meanwhile (412 then: send it again), so no concurrent change is lost.
func (n *Node) putIntoArchive(w http.ResponseWriter, r *http.Request, b store.Bucket, name string) {
	q := r.URL.Query()
	member := q.Get(api.QueryArchPath)
	if err := pathsafe.Name(member); err != nil {
		n.writeError(w, r, badRequest("%s: %v", api.QueryArchPath, err))
		return
	}
	if r.ContentLength < 0 {
		n.writeError(w, r, badRequest("%s: a PUT of a file into a shard needs its Content-Length", api.QueryArchPath))
		return
	}
	// A format not known is the request's, whatever the shard: told
	// before the wait for the shard and the space check.
	if mime := q.Get(api.QueryArchMime); mime != "" {
		if _, err := n.archiveFormat(nil, name, mime); err != nil {
			n.writeError(w, r, err)
			return
		}
	}
	// A job writing the shard may hold it for long: past a while, the
	// client is told to send again rather than hang.
	unlock, err := n.shardLocks.lockUnlessJob(r.Context(), b, name, shardLockWait)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	defer unlock()
	opts := store.PutOptions{Size: -1}
	var old store.Object
	// A remote bucket's shard as the remote has it now, not a cached copy
	// replaced there since: the remote's PUT takes no condition, and the
	// files added there would go.
	obj, err := n.config.Store.Open(r.Context(), b, name, store.OpenOptions{Latest: b.IsRemote()})
	switch {
	case err == nil:
		old = obj
		defer old.Close()
		if !b.IsRemote() {
			// (A remote bucket's write-through describes the new bytes
			// as the remote does.)
			opts.Custom = keptShardCustom(old.Meta().Custom)
			opts.IfMatch = store.ETagOf(old.Meta())
		}
	case errors.Is(err, store.ErrNotFound):
		err = nil
		if !b.IsRemote() {
			opts.IfNoneMatch = "*"
		}
	default:
		n.writeError(w, r, err)
		return
	}
	f, err := n.archiveFormat(old, name, q.Get(api.QueryArchMime))
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	// The whole shard is written anew: it must fit, not only the file.
	size := r.ContentLength
	if old != nil {
		size += old.Meta().Size
	}
	if err := n.checkSpaceFor(r.Context(), size); err != nil {
		n.writeError(w, r, err)
		return
	}
	if f.Name() == (formats.Msgpack{}).Name() || f.Name() == (formats.TFRecord{}).Name() {
		// A record format's writer holds a record (up to
		// formats.MaxBufferedRecord) in memory: a few such rewrites at
		// a time, whatever the shards.
		select {
		case n.recordRewrites <- struct{}{}:
			defer func() { <-n.recordRewrites }()
		case <-r.Context().Done():
			n.writeError(w, r, context.Cause(r.Context()))
			return
		}
	}
	if old != nil {
		// The old shard is read through its reader: a zip's holds its
		// central directory all the while.
		release, err := n.holdShard(r.Context(), f, old)
		if err != nil {
			n.writeError(w, r, err)
			return
		}
		defer release()
	}
	pr, pw := io.Pipe()
	written := make(chan struct{})
	go func() {
		defer close(written)
		pw.CloseWithError(rewriteShard(r.Context(), pw, f, old, name, member, r.Body, r.ContentLength))
	}()
	meta, err := n.putOwnedHeld(r.Context(), b, name, n.guardSpace(r.Context(), pr), opts)
	// The writer stops if the put did; it reads the request's body, so
	// the handler waits for it.
	pr.CloseWithError(io.ErrClosedPipe)
	<-written
	if err != nil {
		// A name the format cannot hold, a file past what its record
		// may hold, a body short of its length: the request's.
		if errors.Is(err, formats.ErrInvalidName) || errors.Is(err, formats.ErrEntrySize) {
			err = badRequest("%s: %v", api.QueryArchPath, err)
		}
		n.writeError(w, r, shardError(err))
		return
	}
	setMetaHeaders(w.Header(), meta)
	w.WriteHeader(http.StatusOK)
}

// rewriteShard writes the files of the old shard (if any) with member,
// size bytes of body, in the place of the old one of its name, else right
// after the other files of its record, else last: a file moved away from
// its record's would split the record in two (a second sample of the same
// key in msgpack and TFRecord shards, and for WebDataset's readers).
func rewriteShard(ctx context.Context, dst io.Writer, f formats.Format, old store.Object, name, member string, body io.Reader, size int64) error {
	record, _ := shards.SplitName(member)
	return writeArchiveWith(dst, f, func(sw formats.Writer, buf []byte) error {
		done := false
		writeMember := func() error {
			if done {
				return nil
			}
			done = true
			if err := sw.WriteHeader(&formats.Entry{Name: member, Size: size}); err != nil {
				return err
			}
			written, err := io.CopyBuffer(sw, io.LimitReader(body, size), buf)
			if err != nil {
				return err
			}
			if written != size {
				return fmt.Errorf("%w: received %d bytes of %s, announced %d", store.ErrSizeMismatch, written, member, size)
			}
			return nil
		}
		if old != nil {
			inRecord := false
			err := eachEntry(ctx, f, old, name, func(e *formats.Entry, data io.Reader) error {
				if e.Name == member {
					return writeMember() // in the old one's place (a copy again of its name goes)
				}
				if strings.HasPrefix(e.Name, member+"/") || strings.HasPrefix(member, e.Name+"/") {
					return membersClash(name, e.Name, member)
				}
				r, _ := shards.SplitName(e.Name)
				if inRecord && r != record {
					if err := writeMember(); err != nil {
						return err
					}
				}
				inRecord = r == record
				return copyEntry(sw, e, data, buf)
			})
			if err != nil {
				return err
			}
		}
		return writeMember()
	})
}

// membersClash refuses a file of a shard whose name is another's
// directory (a and a/b): tar, unzip and Python's tarfile cannot extract
// both, as a bucket cannot hold both.
func membersClash(shard, old, added string) error {
	return fmt.Errorf("%w: shard %s: file %q and file %q cannot both be in it (one is a directory of the other)", store.ErrConflict, shard, old, added)
}

// parentDirs returns the directories of name: a, a/b of a/b/c.
func parentDirs(name string) []string {
	var dirs []string
	for i := range len(name) {
		if name[i] == '/' {
			dirs = append(dirs, name[:i])
		}
	}
	return dirs
}

// writeArchiveWith writes an archive of format f to w through fn, which
// gets a pooled copy buffer: the archive is closed when fn succeeds, and
// aborted when it fails (its buffers and compressor released, and no
// well-formed end written).
func writeArchiveWith(w io.Writer, f formats.Format, fn func(aw formats.Writer, buf []byte) error) error {
	aw, err := f.NewWriter(w)
	if err != nil {
		return err
	}
	buf := pool.Get(pool.CopyBufferSize)
	defer pool.Put(buf)
	if err := fn(aw, buf); err != nil {
		formats.Abort(aw)
		return err
	}
	return aw.Close()
}

// copyEntries writes the files of a shard that keep says to keep into a
// shard being written.
func copyEntries(ctx context.Context, sw formats.Writer, f formats.Format, old store.Object, name string, keep func(string) bool, buf []byte) error {
	return eachEntry(ctx, f, old, name, func(e *formats.Entry, data io.Reader) error {
		if !keep(e.Name) {
			return nil
		}
		return copyEntry(sw, e, data, buf)
	})
}

// copyEntry writes one file of a shard, read from data, into another.
func copyEntry(sw formats.Writer, e *formats.Entry, data io.Reader, buf []byte) error {
	if err := sw.WriteHeader(&formats.Entry{Name: e.Name, Size: e.Size}); err != nil {
		return err
	}
	_, err := io.CopyBuffer(sw, io.LimitReader(data, e.Size), buf)
	return err
}

// eachEntry calls fn with each file of a shard and a reader of its bytes
// (read or not); a shard holding links, which a rewrite would drop, is
// refused at its end.
func eachEntry(ctx context.Context, f formats.Format, old store.Object, name string, fn func(e *formats.Entry, data io.Reader) error) error {
	// Through the context: one entry of a compressed shard may inflate
	// to far more than it (its expansion bound), long after the caller
	// went.
	rd, err := f.NewReader(contextReaderAt{ctx, old}, old.Meta().Size, name)
	if err != nil {
		return err
	}
	for {
		e, err := rd.Next()
		if err == io.EOF {
			// The shard is written anew from its files: its links would
			// be lost without a word.
			if lr, ok := rd.(formats.LinkReporter); ok {
				if n, names := lr.Links(); n > 0 {
					return badRequest("%s holds %d links (%s): a change would drop them, and it is refused", name, n, strings.Join(names, ", "))
				}
			}
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(e, rd); err != nil {
			return err
		}
	}
}

// keptShardCustom is the metadata a shard rewritten with more members
// keeps: its own, but what described its old bytes (the MD5 ETag, a
// multipart upload's parts) and a dSort job's marks (the user's shard
// now: a job's cleanup must not take it).
func keptShardCustom(custom map[string]string) map[string]string {
	kept := maps.Clone(custom)
	maps.DeleteFunc(kept, func(key, _ string) bool {
		return key == store.CustomETag || key == pipeline.CustomJob || key == pipeline.CustomAttempt || strings.HasPrefix(key, "s3.mp-")
	})
	return kept
}
