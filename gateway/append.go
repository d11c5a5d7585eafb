package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/internal/atomicfile"
	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/store"
)

// Append is AIStore's APPEND: an object written in pieces by separate
// PUTs (append_type=append), then stored whole (append_type=flush). The
// pieces go to a work file on the target that issued the handle, each
// synced before it is acknowledged; flush stores the file as the object,
// checksummed and durable as any PUT, so no reader sees a part of it.
//
// A handle is "TARGET|TOKEN". The token is random and names the work
// file; the session beside it records the bucket and object the append
// was started for, so a handle works for that name only and a forged one
// reaches no other file. (AIStore's handle carries the work file's path.)

// maxAppends bounds the sessions a target keeps open at once (a variable
// for tests).
var maxAppends = 1024

const (
	// appendDir holds the sessions, under the target's work directory.
	appendDir = "append"
	// appendExpiry is how long a session is kept after its last piece
	// when it is not flushed.
	appendExpiry = time.Hour
	// appendTokenLength is the hex length of a token (16 random bytes).
	appendTokenLength = 32
)

// appendSession is what a token stands for, kept as TOKEN.v2.json (an
// older build's, without Size, as TOKEN.json): a build that does not
// know Size finds no session of this one's, and refuses its handle
// rather than append pieces it would not record.
type appendSession struct {
	Bucket store.Bucket `json:"bucket"`
	// Created is when the bucket was created: one of the name destroyed
	// and made again takes no pieces of the one before.
	Created int64     `json:"created,omitempty"`
	Name    string    `json:"name"`
	Started time.Time `json:"started"`
	// Size is the bytes acknowledged, recorded after each piece is
	// synced: a piece a crash cut is cut from the file before the next
	// (sent again, it came after the first's bytes), and a flush stores
	// no more. None: a session of an older build, its file as it is.
	Size *int64 `json:"size,omitempty"`
}

// appendLocks lets one request at a time use a session: two appends at
// once would interleave their bytes.
type appendLocks struct {
	mu   sync.Mutex
	busy map[string]bool
}

func (l *appendLocks) acquire(token string) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.busy[token] {
		return nil, fmt.Errorf("%w: another request is appending with this handle: send the pieces one after another", store.ErrConflict)
	}
	if l.busy == nil {
		l.busy = map[string]bool{}
	}
	l.busy[token] = true
	return func() {
		l.mu.Lock()
		delete(l.busy, token)
		l.mu.Unlock()
	}, nil
}

// appendTarget is the target an append handle names, for routing.
func appendTarget(q url.Values) (string, bool) {
	id, _, ok := strings.Cut(q.Get(api.QueryAppendHandle), "|")
	return id, ok && pathsafe.Segment("node id", id) == nil
}

// appendObject serves a PUT with append_type.
func (n *Node) appendObject(w http.ResponseWriter, r *http.Request, b store.Bucket, name string) {
	q := r.URL.Query()
	handle := q.Get(api.QueryAppendHandle)
	// What such a request would ask for and not get: refused, not ignored
	// (an If-None-Match flush over an object; a piece's checksum).
	refused := []string{"If-Match", "If-None-Match"}
	if q.Get(api.QueryAppendType) == api.AppendTypeAppend {
		refused = append(refused, api.HeaderChecksumType, api.HeaderChecksumValue)
	}
	for _, header := range refused {
		if hasHeader(r, header) { // (any line: an empty first hides the next from Get)
			n.writeError(w, r, badRequest("an append (%s=%s) takes no %s: a checksum goes with the flush, and an append writes whatever is there", api.QueryAppendType, q.Get(api.QueryAppendType), header))
			return
		}
	}
	if param := archiveParam(q); param != "" {
		n.writeError(w, r, badRequest("an append (%s) takes no %s: it writes the whole object", api.QueryAppendType, param))
		return
	}
	switch kind := q.Get(api.QueryAppendType); kind {
	case api.AppendTypeAppend:
		handle, err := n.appendPiece(r, b, name, handle)
		if err != nil {
			n.writeError(w, r, err)
			return
		}
		w.Header().Set(api.HeaderAppendHandle, handle)
		w.WriteHeader(http.StatusOK)
	case api.AppendTypeFlush:
		meta, err := n.flushAppend(r, b, name, handle)
		if err != nil {
			n.writeError(w, r, err)
			return
		}
		setMetaHeaders(w.Header(), meta)
		w.WriteHeader(http.StatusOK)
	default:
		n.writeError(w, r, badRequest("%s=%q: want %s or %s", api.QueryAppendType, kind, api.AppendTypeAppend, api.AppendTypeFlush))
	}
}

// appendPiece adds the request's body to a session, starting one when
// there is no handle; it returns the handle for the next piece. A piece
// that fails leaves the session as it was.
func (n *Node) appendPiece(r *http.Request, b store.Bucket, name, handle string) (string, error) {
	if _, err := n.requestedBucketProps(b); err != nil {
		return "", err
	}
	if err := n.checkSpace(r.Context()); err != nil {
		return "", err
	}
	var token string
	var err error
	started := handle == ""
	if started {
		// The session names the bucket as the cluster has it now (a
		// target behind on a destroy and create would name the one
		// before): a redirect waited for it (awaitBucket); a request
		// straight to the target has it ask the primary, at most every
		// bucketRefreshEvery (each start would cost the primary three
		// reads).
		if !r.URL.Query().Has(queryBucketCreated) && n.mayRefreshBuckets() {
			n.refresh(r.Context())
		}
		token, err = n.startAppend(b, name)
	} else {
		token, err = n.appendToken(handle)
	}
	if err != nil {
		return "", err
	}
	release, err := n.appendLocks.acquire(token)
	if err != nil {
		return "", err
	}
	defer release()
	// Checked under the lock: a flush may have just ended it.
	session, err := n.checkAppendSession(n.config.ID+"|"+token, token, b, name)
	if err != nil {
		if started {
			n.endAppend(token)
		}
		return "", err
	}
	if err := n.writePiece(r, token, session); err != nil {
		if started {
			n.endAppend(token)
		}
		return "", err
	}
	return n.config.ID + "|" + token, nil
}

// writePiece appends the body to the session's file, syncs it and
// records its new size; on failure the file is cut back to where it was.
func (n *Node) writePiece(r *http.Request, token string, session appendSession) error {
	room, err := workDirRoom(n.appendRoot(token), r.ContentLength)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(n.appendPath(token), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("append: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("append: %w", err)
	}
	if acked := session.Size; acked != nil && info.Size() != *acked {
		// Past what was acknowledged: a piece cut by a crash (or a
		// record that failed), sent again now. Short of it: bytes
		// acknowledged are lost, and the session cannot go on.
		if info.Size() < *acked {
			n.endAppend(token)
			return fmt.Errorf("append: the session's file has %d bytes of the %d acknowledged (lost in a crash?), so the append is ended: start it again", info.Size(), *acked)
		}
		cut := truncatePiece(f, *acked)
		if cut == nil {
			cut = unix.Fdatasync(int(f.Fd()))
		}
		if cut != nil {
			n.endAppend(token)
			return fmt.Errorf("append: a piece cut short before could not be cut from the session's file, so the append is ended: start it again: %w", cut)
		}
		info, err = f.Stat()
		if err != nil {
			return fmt.Errorf("append: %w", err)
		}
	}
	buf := pool.Get(pool.CopyBufferSize)
	defer pool.Put(buf)
	// A piece of unknown length stops where the reserve starts; pieces
	// of other sessions at once, each given the room of all, stop there
	// as the reserve is asked again on the way (and out_of_space too).
	body := &roomGuard{body: r.Body, dir: n.appendRoot(token)}
	written, err := io.CopyBuffer(f, io.LimitReader(store.GuardSpace(r.Context(), body, n.checkSpace), room+1), buf)
	if err == nil && written > room {
		err = errPastReserve
	}
	if err == nil && r.ContentLength >= 0 && written != r.ContentLength {
		err = fmt.Errorf("%w: received %d bytes, announced %d", store.ErrSizeMismatch, written, r.ContentLength)
	}
	if err == nil {
		err = unix.Fdatasync(int(f.Fd()))
	}
	stuck := false // the record counts a piece that failed
	if err == nil {
		before := session
		size := info.Size() + written
		session.Size = &size
		if err = n.saveAppendSession(token, session); err != nil && n.recordedSize(token) == size {
			// Renamed before its directory's sync failed, the record
			// counts the piece: put back as it was, or the piece sent
			// again found its session short of it. (One that failed
			// before its rename changed nothing.)
			stuck = n.saveAppendSession(token, before) != nil
		}
	}
	if err != nil {
		if stuck {
			n.endAppend(token)
			return fmt.Errorf("append: the piece's record could not be undone, so the append is ended: start it again: %w", err)
		}
		if terr := truncatePiece(f, info.Size()); terr != nil {
			// The failed piece's bytes would stay in the object, a
			// piece sent again after them: the session cannot go on.
			n.endAppend(token)
			return fmt.Errorf("append: the failed piece could not be cut back (%v), so the append is ended: start it again: %w", terr, err)
		}
		if errors.Is(err, unix.ENOSPC) {
			err = fmt.Errorf("%w: append: %w", store.ErrNoSpace, err)
		}
		return err
	}
	return nil
}

// saveAppendSession records a session, durably.
func (n *Node) saveAppendSession(token string, session appendSession) error {
	data, err := json.Marshal(session)
	if err != nil {
		return err
	}
	if err := writeAppendRecord(n.appendPath(token)+appendRecord, data, 0o644); err != nil {
		return fmt.Errorf("append: record the piece: %w", err)
	}
	// An older build's record goes once this one's is kept, durably: back
	// after a crash, a rollback would follow it.
	root := n.appendRoot(token)
	if err := pathsafe.Remove(root, filepath.Join(root, appendDir, token+appendRecordOld)); err == nil {
		atomicfile.SyncDir(filepath.Join(root, appendDir))
	}
	return nil
}

// recordedSize is the size a session's record holds now, or -1.
func (n *Node) recordedSize(token string) int64 {
	data, err := os.ReadFile(n.appendPath(token) + appendRecord)
	var s appendSession
	if err != nil || json.Unmarshal(data, &s) != nil || s.Size == nil {
		return -1
	}
	return *s.Size
}

// writeAppendRecord writes a session's record; a test makes it fail.
var writeAppendRecord = atomicfile.Write

// truncatePiece cuts a session's file back; a test makes it fail.
var truncatePiece = (*os.File).Truncate

// roomGuard ends a piece's body once the work directory's filesystem is
// down to its reserve, asked every roomCheckBytes (a statfs: cheap).
type roomGuard struct {
	body io.Reader
	dir  string
	read int64 // since the last check
}

var errPastReserve = fmt.Errorf("%w: append: the piece would leave the work directory's filesystem less than %d%% free", store.ErrNoSpace, appendReserve)

// roomCheckBytes is how often a piece asks for the reserve: pieces at
// once go past it by as much each, well within it on a real disk.
const roomCheckBytes = 1 << 20

func (g *roomGuard) Read(p []byte) (int, error) {
	if g.read >= roomCheckBytes {
		g.read = 0
		if _, err := workDirRoom(g.dir, 0); err != nil {
			return 0, errPastReserve
		}
	}
	n, err := g.body.Read(p)
	g.read += int64(n)
	return n, err
}

// appendReserve is the part of the work directory's filesystem appends
// leave free: it need not be a mountpath, whose space LRU and the
// watermarks look after.
const appendReserve = 10 // percent

// workDirRoom refuses a piece of size bytes (-1: unknown) that would
// leave the work directory's filesystem less than appendReserve free, and
// returns the bytes a piece may have.
func workDirRoom(dir string, size int64) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return math.MaxInt64 - 1, nil // a full disk still fails the write, cleanly
	}
	// Blocks are counted in fragment units (some FUSE filesystems differ
	// from their block size), as the store counts them.
	unit := int64(st.Frsize)
	if unit <= 0 {
		unit = int64(st.Bsize)
	}
	total, free := int64(st.Blocks)*unit, int64(st.Bavail)*unit
	room := free - total*appendReserve/100
	if room-max(size, 0) < 0 {
		return 0, fmt.Errorf("%w: append: the work directory's filesystem has %d bytes free of %d, and keeps %d%% free", store.ErrNoSpace, free, total, appendReserve)
	}
	return room, nil
}

// flushAppend stores a session's file as the object, as a PUT would
// (the checksum headers, when sent, are verified), and ends the session.
func (n *Node) flushAppend(r *http.Request, b store.Bucket, name, handle string) (store.ObjectMeta, error) {
	if handle == "" {
		return store.ObjectMeta{}, badRequest("%s=%s needs the %s an append returned", api.QueryAppendType, api.AppendTypeFlush, api.QueryAppendHandle)
	}
	token, err := n.appendToken(handle)
	if err != nil {
		return store.ObjectMeta{}, err
	}
	if k, _ := r.Body.Read(make([]byte, 1)); k > 0 {
		return store.ObjectMeta{}, badRequest("%s=%s takes no body: send the bytes with %s=%s first", api.QueryAppendType, api.AppendTypeFlush, api.QueryAppendType, api.AppendTypeAppend)
	}
	custom, err := decodeCustom(r.Header.Values(api.HeaderCustom), n.signedByNode(r))
	if err != nil {
		return store.ObjectMeta{}, err
	}
	release, err := n.appendLocks.acquire(token)
	if err != nil {
		return store.ObjectMeta{}, err
	}
	defer release()
	session, err := n.checkAppendSession(handle, token, b, name)
	if err != nil {
		return store.ObjectMeta{}, err
	}
	f, err := os.Open(n.appendPath(token))
	if err != nil {
		return store.ObjectMeta{}, fmt.Errorf("flush: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return store.ObjectMeta{}, fmt.Errorf("flush: %w", err)
	}
	size := info.Size()
	if acked := session.Size; acked != nil {
		// The acknowledged pieces alone: not a piece a crash cut.
		if size < *acked {
			n.endAppend(token)
			return store.ObjectMeta{}, fmt.Errorf("flush: the session's file has %d bytes of the %d acknowledged (lost in a crash?), so the append is ended: start it again", size, *acked)
		}
		size = *acked
	}
	body := io.NewSectionReader(f, 0, size)
	var meta store.ObjectMeta
	checksum, err := requestChecksum(r)
	if err != nil {
		return meta, err
	}
	if owner, oerr := n.currentMap().Owner(cluster.Uname(b.Provider, b.Name, name)); oerr == nil && owner.ID != n.config.ID {
		// The map changed since the append started: the object goes to
		// its owner now, as this node's PUT (checked against the owner's
		// disks there, not this node's).
		meta, err = n.batchState().client.Put(r.Context(), b.String(), name, body, api.PutOptions{Size: size, Checksum: checksum, Custom: custom})
	} else {
		// The pieces went to the work directory: the object's mountpath
		// is checked now, as for a PUT of its size.
		if err := n.checkSpaceFor(r.Context(), size); err != nil {
			return meta, err
		}
		meta, err = n.putOwned(r.Context(), b, name, n.guardSpace(r.Context(), body), store.PutOptions{Size: size, Checksum: checksum, Custom: custom})
	}
	if err != nil {
		// The session stays: a flush refused for its checksum may be
		// sent again, or more pieces appended.
		return meta, err
	}
	n.endAppend(token)
	return meta, nil
}

// startAppend opens a session for an object, after dropping expired
// ones; there are at most maxAppends.
func (n *Node) startAppend(b store.Bucket, name string) (string, error) {
	n.appendStarts.Lock()
	defer n.appendStarts.Unlock()
	root := n.workDir()
	if err := pathsafe.MkdirAll(root, filepath.Join(root, appendDir), 0o755); err != nil {
		return "", fmt.Errorf("append: %w", err)
	}
	open, err := n.sweepAppendsLocked()
	if err != nil {
		return "", err
	}
	if open >= maxAppends {
		// Busy, not a conflict of this name: 503, tried again once
		// sessions are flushed or expire.
		return "", fmt.Errorf("%w: target %s has %d appends in progress (at most %d): flush some first", api.ErrUnavailable, n.config.ID, open, maxAppends)
	}
	raw := make([]byte, appendTokenLength/2)
	rand.Read(raw)
	token := hex.EncodeToString(raw)
	none := int64(0)
	session, err := json.Marshal(appendSession{Bucket: b, Created: n.bucketCreated(b), Name: name, Started: time.Now(), Size: &none})
	if err != nil {
		return "", err
	}
	path := filepath.Join(root, appendDir, token) // where appendPath finds it from now on
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return "", fmt.Errorf("append: %w", err)
	}
	f.Close()
	// Durable, with the data file's entry (the same directory): the
	// pieces acknowledged later are of no use without it.
	if err := atomicfile.Write(path+appendRecord, session, 0o644); err != nil {
		n.endAppend(token)
		return "", fmt.Errorf("append: %w", err)
	}
	return token, nil
}

// appendSweepEvery spaces the sweeps of idle appends (a variable for the
// tests).
var appendSweepEvery = appendExpiry / 4

// sweepAppends ends the sessions idle past appendExpiry, every quarter of
// it: abandoned ones would hold the work directory's room (shared with
// erasure coding and dSort) until another append starts here.
func (n *Node) sweepAppends(ctx context.Context) {
	ticker := time.NewTicker(appendSweepEvery)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		n.appendStarts.Lock()
		_, err := n.sweepAppendsLocked()
		n.appendStarts.Unlock()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			n.logger.Warn("sweep idle appends", "err", err)
		}
	}
}

// sweepAppendsLocked ends the idle sessions and counts the others, in
// every work directory (sessions stay where they began); the caller
// holds appendStarts.
func (n *Node) sweepAppendsLocked() (open int, err error) {
	for i, root := range n.workDirs() {
		count, err := n.sweepAppendDir(root)
		// One with no sessions yet, or where the work directory was (a
		// disk gone), is skipped.
		if err != nil && i == 0 && !errors.Is(err, fs.ErrNotExist) {
			return 0, err
		}
		open += count
	}
	return open, nil
}

// sweepAppendDir sweeps the sessions of one work directory.
func (n *Node) sweepAppendDir(root string) (open int, err error) {
	entries, err := os.ReadDir(filepath.Join(root, appendDir))
	if err != nil {
		return 0, fmt.Errorf("append: %w", err)
	}
	for _, e := range entries {
		token := e.Name()
		if atomicfile.IsTemp(token) {
			// A record's write a crash cut (each piece rewrites it), long
			// enough ago not to be one under way.
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > appendExpiry {
				pathsafe.Remove(root, filepath.Join(root, appendDir, token))
			}
			continue
		}
		session, ok := strings.CutSuffix(token, appendRecord)
		if !ok {
			session, ok = strings.CutSuffix(token, appendRecordOld)
		}
		if ok && validToken(session) {
			// Counted by its file; without one (a crash mid-end), it goes.
			if _, err := os.Lstat(filepath.Join(root, appendDir, session)); errors.Is(err, fs.ErrNotExist) {
				pathsafe.Remove(root, filepath.Join(root, appendDir, token))
			}
			continue
		}
		if !validToken(token) {
			continue
		}
		// Idle since its last piece (or its start), and not in use.
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) <= appendExpiry {
			open++
			continue
		}
		appendSweeping(token)
		release, err := n.appendLocks.acquire(token)
		if err != nil {
			open++
			continue
		}
		// Asked again, in use by none: a piece may have come between
		// the look and the lock, and was acknowledged.
		if info, err := os.Lstat(filepath.Join(root, appendDir, token)); err == nil && time.Since(info.ModTime()) <= appendExpiry {
			release()
			open++
			continue
		}
		n.endAppend(token)
		release()
	}
	return open, nil
}

// appendSweeping runs when the sweep found a session idle, before its
// lock (a test's hook).
var appendSweeping = func(token string) {}

// appendToken checks a handle against this target and returns its token.
func (n *Node) appendToken(handle string) (string, error) {
	id, token, ok := strings.Cut(handle, "|")
	if !ok || !validToken(token) {
		return "", badRequest("malformed %s %q: send it back as an append returned it", api.QueryAppendHandle, handle)
	}
	if id != n.config.ID {
		return "", badRequest("%s %q is of target %s, not of %s: the cluster map changed since; start the append again", api.QueryAppendHandle, handle, id, n.config.ID)
	}
	return token, nil
}

// checkAppendSession checks that a session is in progress, for the object
// its handle is used for.
func (n *Node) checkAppendSession(handle, token string, b store.Bucket, name string) (appendSession, error) {
	var s appendSession
	data, err := os.ReadFile(n.appendPath(token) + appendRecord)
	older := errors.Is(err, fs.ErrNotExist)
	if older {
		data, err = os.ReadFile(n.appendPath(token) + appendRecordOld)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return s, badRequest("%s %q: no such append in progress on target %s (flushed, or idle for %s)", api.QueryAppendHandle, handle, n.config.ID, appendExpiry)
	}
	if err != nil {
		return s, fmt.Errorf("append: %w", err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("append: session %s: %w", token, err)
	}
	if older {
		// Its size, if a build of this session's wrote one there, may
		// be short of pieces an older build took since: the file is
		// taken as it is.
		s.Size = nil
	}
	if s.Bucket.Normalize() != b.Normalize() || s.Name != name {
		return s, badRequest("%s %q was issued for %s/%s, not %s/%s", api.QueryAppendHandle, handle, s.Bucket, s.Name, b, name)
	}
	if s.Created != 0 && n.bucketCreated(b) != s.Created {
		n.endAppend(token)
		return s, badRequest("%s %q: bucket %s was destroyed and made again since the append began: its pieces went with it", api.QueryAppendHandle, handle, b)
	}
	// Idle past the expiry, it is gone though no append started since
	// to sweep it: stale pieces do not become an object hours later.
	if info, err := os.Lstat(n.appendPath(token)); err != nil || time.Since(info.ModTime()) > appendExpiry {
		n.endAppend(token)
		return s, badRequest("%s %q: no such append in progress on target %s (flushed, or idle for %s)", api.QueryAppendHandle, handle, n.config.ID, appendExpiry)
	}
	return s, nil
}

// endAppend removes a session and its file.
func (n *Node) endAppend(token string) {
	root := n.appendRoot(token)
	pathsafe.Remove(root, filepath.Join(root, appendDir, token))
	pathsafe.Remove(root, filepath.Join(root, appendDir, token+appendRecord))
	pathsafe.Remove(root, filepath.Join(root, appendDir, token+appendRecordOld))
}

// The record of a session beside its data file: this build's, and an
// older build's.
const (
	appendRecord    = ".v2.json"
	appendRecordOld = ".json"
)

// appendPath is a session's data file; its record is beside it.
func (n *Node) appendPath(token string) string {
	return filepath.Join(n.appendRoot(token), appendDir, token)
}

// appendRoot is the work directory a session is in: the one it began in
// (the work directory may have moved since), or for a new one the work
// directory of now.
func (n *Node) appendRoot(token string) string {
	dirs := n.workDirs()
	for _, root := range dirs {
		for _, name := range []string{token, token + appendRecord, token + appendRecordOld} {
			if _, err := os.Lstat(filepath.Join(root, appendDir, name)); err == nil {
				return root
			}
		}
	}
	return dirs[0]
}

// validToken: lowercase hex of appendTokenLength, as startAppend makes.
func validToken(token string) bool {
	if len(token) != appendTokenLength {
		return false
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
