package remote

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aisgo/aisgo/internal/idle"
	"github.com/aisgo/aisgo/internal/namelock"
	"github.com/aisgo/aisgo/store"
)

// Errors of backends.
var (
	// ErrUnavailable: the remote store did not answer, or failed; it is
	// wrapped with the remote's own error.
	ErrUnavailable = store.ErrRemote
)

// Custom metadata keys under which a cached object keeps what the remote
// said of it.
const (
	CustomETag     = store.CustomRemoteETag
	CustomVersion  = "remote.version"
	CustomModified = store.CustomRemoteModified
	// CustomChecksum is the whole-object checksum the remote gave with
	// the bytes a cold GET cached ("crc32:2c407315"), checked against them
	// with checksum.validate_cold_get.
	CustomChecksum = "remote.checksum"
)

// ObjectAttrs describe an object in the remote store.
type ObjectAttrs struct {
	Name     string
	Size     int64
	ETag     string
	Version  string
	Modified time.Time
	// ETagNotMD5: the ETag is not the MD5 of the bytes even when it looks
	// like one (an S3 object encrypted with KMS or a customer's key).
	ETagNotMD5 bool
	// Checksum is a checksum of the whole object the remote gave with
	// the bytes (S3's CRC32C, CRC32, CRC64NVME or SHA-256), if any.
	Checksum store.Checksum
	// Metadata is the object's user metadata at the remote (S3's
	// x-amz-meta-*, names in lower case), as Metadata makes it of its
	// custom metadata.
	Metadata map[string]string
}

// Backend is a remote object store. Missing buckets and objects are
// store.ErrBucketNotFound and store.ErrNotFound; a store that cannot be
// reached is ErrUnavailable.
type Backend interface {
	HeadBucket(ctx context.Context, b store.Bucket) error
	HeadObject(ctx context.Context, b store.Bucket, name string) (ObjectAttrs, error)
	GetObject(ctx context.Context, b store.Bucket, name string) (io.ReadCloser, ObjectAttrs, error)
	// PutObject stores size bytes of r (a seekable reader, which the
	// backend may rewind to retry), with its user metadata (Metadata).
	PutObject(ctx context.Context, b store.Bucket, name string, r io.ReadSeeker, size int64, metadata map[string]string) (ObjectAttrs, error)
	DeleteObject(ctx context.Context, b store.Bucket, name string) error
	// ListObjects returns up to max objects after a page's token, and
	// the token of the next page ("" at the end).
	ListObjects(ctx context.Context, b store.Bucket, prefix, token string, max int) ([]ObjectAttrs, string, error)
}

// Resolver returns the backend of a remote bucket, by its props.
type Resolver func(ctx context.Context, b store.Bucket, props store.Props) (Backend, error)

// Store is a store.Store whose remote buckets are backed by a Backend.
// Buckets of provider ais pass through untouched.
type Store struct {
	store.Store
	resolve Resolver
	// flights are the cold GETs in progress: one per object, whatever
	// the number of readers.
	mu      sync.Mutex
	flights map[string]*flight
	// fetched are the names whose cold GET ended well lately (recentFetch):
	// a reader that missed the copy just before it was stored is not a
	// reason for another.
	fetched map[string]bool
	// fetching are the stamps of each name's cold GETs from their start
	// to their copy's store (see startStamp).
	fetching map[string][]store.Stamp
	// writes serialize the write-through PUTs and DELETEs of a name, so
	// that the remote sees them in the order the local store does.
	writes namelock.Locks
	// noBytes: the local store keeps no bytes (see KeepNoBytes).
	noBytes bool
	// stamp, when set, stamps a cold GET when it starts: its copy is
	// stored only if no write or delete came after (see SetStamp).
	stamp func() store.Stamp
	// spaceCheck, when set, keeps cold GETs within the watermarks (see
	// SetSpaceCheck).
	spaceCheck func(context.Context) error
	// idle is the FetchIdleTimeout of this store (zero: the default).
	idle time.Duration
	// commitCheck, when set, holds a cold GET's copy to where it may be
	// stored as it is committed (see SetCommitCheck).
	commitCheck func(b store.Bucket, name string) (release func(), err error)
}

// SetCommitCheck gives the store the node's placement check: a cold GET's
// copy is committed under it, refused when the object is no longer this
// node's (the map changed while it was fetched: a copy left on a target
// that does not own it escapes the deletes sent to the owner, and comes
// back after them).
func (s *Store) SetCommitCheck(check func(b store.Bucket, name string) (release func(), err error)) {
	s.commitCheck = check
}

// lockName takes a name's write lock and returns its release.
func (s *Store) lockName(key string) func() { return s.writes.Lock(key) }

// SetSpaceCheck gives the store the node's capacity check: a cold GET
// is refused when it fails, and stops when it fails while the object
// streams in (every store.SpaceCheckBytes), rather than fill the disks.
func (s *Store) SetSpaceCheck(check func(context.Context) error) { s.spaceCheck = check }

// guardSpace checks the capacity before a cold GET stores anything, and
// then every store.SpaceCheckBytes of the body.
func (s *Store) guardSpace(ctx context.Context, b store.Bucket, name string, body io.Reader) (io.Reader, error) {
	if s.spaceCheck == nil {
		return body, nil
	}
	if err := s.spaceCheck(ctx); err != nil {
		return nil, fmt.Errorf("cold GET %s/%s: %w", b, name, err)
	}
	return store.GuardSpace(ctx, body, s.spaceCheck), nil
}

// FetchIdleTimeout is how long a cold GET waits for the remote's answer
// and then for each next piece of the object before it gives up: a remote
// that stalls mid-body would otherwise hold the fetch, and every reader
// waiting on it, for good. A whole fetch takes as long as its bytes take.
const FetchIdleTimeout = 2 * time.Minute

// SetFetchIdleTimeout changes FetchIdleTimeout for this store.
func (s *Store) SetFetchIdleTimeout(d time.Duration) { s.idle = d }

// watchIdle is idle.Watch for a cold GET of this store.
func (s *Store) watchIdle(ctx context.Context, b store.Bucket, name string) (context.Context, *idle.Watcher) {
	d := cmp.Or(s.idle, FetchIdleTimeout)
	return idle.Watch(ctx, d, fmt.Errorf("%w: cold GET %s/%s: nothing from the remote for %s", ErrUnavailable, b, name, d))
}

// SetStamp gives the store the node's stamps (map version and clock): a
// cold GET takes one when it starts, and its copy does not replace an
// object written, or a delete made, while it fetched.
func (s *Store) SetStamp(stamp func() store.Stamp) { s.stamp = stamp }

// fetchOptions are the options of a cold GET's Put, stamped when the
// fetch starts. With checksum.validate_cold_get, an S3 object is checked
// as it is stored against the whole-object checksum S3 gave with it, or,
// without one, against its ETag when that is its MD5 (an object not
// uploaded in parts): bytes changed on the way are not cached.
func (s *Store) fetchOptions(ctx context.Context, b store.Bucket, name string, attrs ObjectAttrs, stamp store.Stamp) store.PutOptions {
	// The remote keeps the object: the cached copy need not be durable.
	opts := store.PutOptions{Size: max(attrs.Size, -1), Custom: customOf(attrs), NoSync: true}
	if !stamp.IsZero() {
		opts.Stamp, opts.IfNewer = stamp, true
	}
	if check := s.commitCheck; check != nil {
		opts.Precommit = func() (func(), store.Stamp, error) {
			release, err := check(b, name)
			return release, store.Stamp{}, err
		}
	}
	if b.Provider != store.ProviderAWS || !s.validatesColdGet(ctx, b) {
		return opts
	}
	etag := strings.ToLower(strings.Trim(attrs.ETag, `"`))
	md5ETag := isMD5(etag) && !attrs.ETagNotMD5
	switch {
	case !attrs.Checksum.IsEmpty():
		// A CRC costs a small fraction of an MD5's CPU: the MD5 is not
		// computed, and the ETag, the MD5 of the bytes the CRC checks, is
		// kept as the S3 API's.
		opts.Checksum = attrs.Checksum
		if md5ETag {
			opts.Custom[store.CustomETag] = etag
		}
	case md5ETag:
		opts.Checksum, opts.ETag = store.Checksum{Type: store.ChecksumMD5, Value: etag}, true
	}
	return opts
}

// validatesColdGet reports a bucket's checksum.validate_cold_get.
func (s *Store) validatesColdGet(ctx context.Context, b store.Bucket) bool {
	props, err := store.PropsOf(ctx, s.Store, b)
	return err == nil && props.Checksum.ValidateColdGet
}

// isMD5 reports 32 hex digits: an ETag that is an MD5 (a multipart one
// has "-N" after it).
func isMD5(etag string) bool {
	if len(etag) != 32 {
		return false
	}
	_, err := hex.DecodeString(etag)
	return err == nil
}

// coldGetError names a cold GET whose bytes did not match the remote's
// MD5 as the remote's failure (served again, it may be whole), not the
// client's bad checksum.
func coldGetError(err error) error {
	switch {
	case errors.Is(err, ErrUnavailable):
		return err
	case errors.Is(err, store.ErrBadChecksum):
		return fmt.Errorf("%w: the bytes fetched do not match the remote's checksum: %w", ErrUnavailable, err)
	case errors.Is(err, store.ErrSizeMismatch):
		return fmt.Errorf("%w: the remote sent another size than it said: %w", ErrUnavailable, err)
	}
	return err
}

// remoteBody marks a failed read of a remote's body (a connection cut,
// a short body) as the remote's failure, a 503 to try again, not this
// node's 500.
type remoteBody struct{ r io.Reader }

func (b remoteBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && !errors.Is(err, ErrUnavailable) {
		err = fmt.Errorf("%w: reading the remote's bytes: %w", ErrUnavailable, err)
	}
	return n, err
}

// fetchStamp is the stamp of a cold GET starting now (zero without
// SetStamp).
func (s *Store) fetchStamp() store.Stamp {
	if s.stamp == nil {
		return store.Stamp{}
	}
	return s.stamp()
}

// startStamp is the stamp of a cold GET of name, taken under the name's
// write lock: a write-through PUT stored before it has then reached the
// remote, which the GET reads after. (A GET stamped while the PUT was on
// its way would read the remote's older object and replace the PUT's.)
//
// The fetch counts as under way until fetched is called (once its copy
// is stored or given up): a delete through to the remote meanwhile
// leaves a tombstone, which refuses that copy.
func (s *Store) startStamp(b store.Bucket, name string) (stamp store.Stamp, fetched func()) {
	key := b.String() + "/" + name
	unlock := s.lockName(key)
	defer unlock()
	stamp = s.fetchStamp()
	s.mu.Lock()
	s.fetching[key] = append(s.fetching[key], stamp)
	s.mu.Unlock()
	var once sync.Once
	return stamp, func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			stamps := s.fetching[key]
			if i := slices.Index(stamps, stamp); i >= 0 {
				stamps = slices.Delete(stamps, i, i+1)
			}
			if len(stamps) == 0 {
				delete(s.fetching, key)
			} else {
				s.fetching[key] = stamps
			}
		})
	}
}

// fetchingNow reports the cold GETs of key under way (call under its
// lock): whether there are any, and the newest one's stamp.
func (s *Store) fetchingNow(key string) (bool, store.Stamp) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var newest store.Stamp
	for _, stamp := range s.fetching[key] {
		if stamp.Compare(newest) > 0 {
			newest = stamp
		}
	}
	return len(s.fetching[key]) > 0, newest
}

// superseded reports whether a cold GET's Put failed only because a
// newer write or delete of the name came while it fetched: the name
// holds what it should, and the fetch is done.
func superseded(err error) bool { return errors.Is(err, store.ErrExists) }

// flight is one cold GET; readers that come while it runs wait for it.
type flight struct {
	done chan struct{}
	err  error
	// streaming: its first reader reads the remote's bytes as they come
	// (OpenStreaming), at the reader's pace.
	streaming atomic.Bool
	// second is the one fetch the readers that will not wait for a slow
	// streaming reader share (under Store.mu): at most two fetches of an
	// object, however many readers (but those that want a newer one).
	second *flight
	// started is when the fetch began.
	started time.Time
}

// finished reports whether the fetch is done.
func (f *flight) finished() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// recentFetch is how long a cold GET that ended well stands for the
// readers that missed the copy before it was stored.
const recentFetch = 5 * time.Second

// markFetchedLocked notes a cold GET of key ended well, for recentFetch;
// the caller holds mu.
func (s *Store) markFetchedLocked(key string) {
	if s.fetched[key] {
		return
	}
	s.fetched[key] = true
	time.AfterFunc(recentFetch, func() {
		s.mu.Lock()
		delete(s.fetched, key)
		s.mu.Unlock()
	})
}

// streamJoinWait is how long a reader waits for a cold GET that streams
// to another reader before it fetches a copy of its own: a slow client
// sets the pace of that one.
var streamJoinWait = 5 * time.Second

// New decorates a local store.
func New(local store.Store, resolve Resolver) *Store {
	return &Store{Store: local, resolve: resolve, flights: map[string]*flight{}, fetching: map[string][]store.Stamp{}, fetched: map[string]bool{}}
}

// backend returns a remote bucket's backend and props; ok is false for an
// ais bucket.
func (s *Store) backend(ctx context.Context, b store.Bucket) (Backend, store.Props, bool, error) {
	if !b.IsRemote() {
		return nil, store.Props{}, false, nil
	}
	props, err := store.PropsOf(ctx, s.Store, b)
	if err != nil {
		return nil, props, true, err
	}
	be, err := s.resolve(ctx, b, props)
	return be, props, true, err
}

// Open reads an object: from the local store when it has it (and, with
// versioning.validate_warm_get, when the remote still has the same
// version), else after fetching it from the remote.
func (s *Store) Open(ctx context.Context, b store.Bucket, name string, opts store.OpenOptions) (store.Object, error) {
	be, props, remote, err := s.backend(ctx, b)
	if !remote {
		return s.Store.Open(ctx, b, name, opts)
	}
	if err != nil {
		// A cached copy that needs no word from the remote is served
		// though its client cannot be made now (credentials expired, a
		// metadata service down): the local tier outlives the remote.
		if !props.Versioning.ValidateWarmGet && !opts.Latest && !errors.Is(err, store.ErrBucketNotFound) {
			if obj, lerr := s.Store.Open(ctx, b, name, opts); lerr == nil {
				return obj, nil
			}
		}
		return nil, err
	}
	obj, err := s.Store.Open(ctx, b, name, opts)
	var seen *ObjectAttrs // the remote's version, when asked
	switch {
	case err == nil && !props.Versioning.ValidateWarmGet && !opts.Latest:
		return obj, nil
	case err == nil:
		attrs, herr := be.HeadObject(ctx, b, name)
		seen = &attrs
		if herr != nil {
			stamp := obj.Meta().Stamp
			obj.Close()
			if errors.Is(herr, store.ErrNotFound) {
				// Gone from the remote: the cached copy goes too. Asked
				// again under the name's lock, which a write-through PUT
				// holds until the remote has the object (a copy not
				// there yet is not one the remote lost), and only the
				// copy seen (not a newer write).
				unlock := s.lockName(b.String() + "/" + name)
				now, again := be.HeadObject(ctx, b, name)
				if errors.Is(again, store.ErrNotFound) {
					// A HEAD's 404 does not tell a key gone from a
					// bucket gone (deleted, or an endpoint changed): the
					// copy goes only when the bucket answers.
					// (A 403 says the bucket is there.)
					if berr := be.HeadBucket(ctx, b); berr != nil && !errors.Is(berr, store.ErrRemoteForbidden) {
						again = fmt.Errorf("%s/%s is not found, and neither is its bucket (the copy here is kept): %w", b, name, berr)
					}
				}
				if errors.Is(again, store.ErrNotFound) {
					// Stamped: a tombstone while a mountpath is away keeps
					// a copy there from coming back.
					s.Store.Delete(ctx, b, name, store.DeleteOptions{IfStamp: stamp, Stamp: s.fetchStamp()})
				}
				unlock()
				if again != nil {
					if !errors.Is(again, store.ErrNotFound) {
						return nil, again // (the copy kept: not known gone)
					}
					return nil, herr
				}
				// There after all (a write-through PUT's copy, or written
				// at the remote meanwhile): served when it is the
				// version the remote has now, else fetched.
				attrs = now
				obj, err = s.Store.Open(ctx, b, name, opts)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return nil, err
				}
			} else {
				return nil, herr
			}
		}
		if err == nil {
			if sameVersion(obj.Meta(), attrs) {
				return obj, nil
			}
			obj.Close()
		}
	case !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrBadChecksum) && !errors.Is(err, store.ErrCorrupt):
		return nil, err
	}
	// A cached copy found and not served (another version, or corrupt)
	// needs a fetch begun after it was found.
	var after time.Time
	if err == nil || errors.Is(err, store.ErrBadChecksum) || errors.Is(err, store.ErrCorrupt) {
		after = time.Now()
	}
	var fetched store.Object
	shared, err := s.coldGetThen(ctx, be, b, name, after, func() (err error) {
		fetched, err = s.Store.Open(ctx, b, name, opts)
		return err
	})
	if err == nil && seen == nil && shared && (opts.Latest || props.Versioning.ValidateWarmGet) {
		// No copy was found, and the fetch joined was another reader's,
		// begun maybe before the remote changed: the remote is asked
		// now, as it is of a copy found.
		if attrs, herr := be.HeadObject(ctx, b, name); herr == nil {
			seen = &attrs
		}
	}
	if err == nil && seen != nil && comparable(*seen) && !sameVersion(fetched.Meta(), *seen) {
		// A fetch joined under way had begun before the remote changed
		// to the version this reader saw: one more, begun now.
		fetched.Close()
		_, err = s.coldGetThen(ctx, be, b, name, time.Now(), func() (err error) {
			fetched, err = s.Store.Open(ctx, b, name, opts)
			return err
		})
	}
	return fetched, err
}

// coldGetThen fetches an object and then reads what it stored with read:
// an evict may remove the copy between the two, and the remote still has
// the object, so it is fetched again (evictedRetries times at most).
// shared tells that the fetch read through was another reader's.
func (s *Store) coldGetThen(ctx context.Context, be Backend, b store.Bucket, name string, after time.Time, read func() error) (shared bool, err error) {
	for attempt := 1; ; attempt++ {
		if shared, err = s.coldGet(ctx, be, b, name, after); err != nil {
			return shared, err
		}
		err = read()
		if !errors.Is(err, store.ErrNotFound) || attempt == evictedRetries {
			return shared, err
		}
		after = time.Now() // evicted since: a fetch from now on
	}
}

// evictedRetries bounds the cold GETs of one read whose copy an evict
// keeps removing.
const evictedRetries = 3

// sameVersion reports whether a cached object is the remote's current one.
func sameVersion(cached store.ObjectMeta, remote ObjectAttrs) bool {
	// S3 names every version of a bucket without versioning (or with it
	// suspended) "null": that tells two versions apart no more than none.
	if remote.Version != "" && remote.Version != "null" && cached.Custom[CustomVersion] != "" {
		return keptTag(remote.Version) == cached.Custom[CustomVersion]
	}
	etag := cached.Custom[CustomETag]
	if etag == "" {
		etag = cached.Custom[store.CustomETag] // written through
	}
	// A size unknown (a HEAD without Content-Length) does not tell.
	sameSize := remote.Size < 0 || remote.Size == cached.Size
	if remote.ETag != "" {
		return keptTag(remote.ETag) == etag && sameSize
	}
	// An HTTP origin without ETags (many plain servers) tells a change by
	// its Last-Modified: without it too, every read would fetch again.
	modified := cached.Custom[CustomModified]
	return !remote.Modified.IsZero() && modified != "" && modified == strconv.FormatInt(remote.Modified.UnixNano(), 10) && sameSize
}

// comparable reports whether a remote's attributes tell its versions
// apart (an origin without ETag or Last-Modified does not).
func comparable(a ObjectAttrs) bool {
	return a.ETag != "" || a.Version != "" && a.Version != "null" || !a.Modified.IsZero()
}

// maxKeptTag bounds an ETag or version kept in an object's metadata (a
// few KiB in all): an HTTP origin's ETag may be as long as a header.
const maxKeptTag = 256

// keptTag is how a remote ETag or version is kept: as it is, or, when
// longer than maxKeptTag, as its hash (which compares the same way).
func keptTag(tag string) string {
	if len(tag) <= maxKeptTag {
		return tag
	}
	sum := sha256.Sum256([]byte(tag))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Fetch makes sure the local store has an object (prefetch): a cold GET
// when it does not.
func (s *Store) Fetch(ctx context.Context, b store.Bucket, name string) (fetched bool, size int64, err error) {
	be, _, remote, err := s.backend(ctx, b)
	if !remote || err != nil {
		return false, 0, err
	}
	if meta, err := s.Store.Head(ctx, b, name); err == nil {
		return false, meta.Size, nil
	} else if errors.Is(err, store.ErrInvalidName) {
		return false, 0, err // (a remote's key no object here may have: not downloaded to be refused)
	}
	var meta store.ObjectMeta
	_, err = s.coldGetThen(ctx, be, b, name, time.Time{}, func() (err error) {
		fetched = true
		meta, err = s.Store.Head(ctx, b, name)
		return err
	})
	return fetched, meta.Size, err
}

// coldGet fetches an object into the local store, once for all the
// readers that ask for it at the same time. A reader with after set wants
// a fetch begun then or later (it found the cached copy not current).
// shared tells that the fetch was another reader's (joined, or just
// ended).
func (s *Store) coldGet(ctx context.Context, be Backend, b store.Bucket, name string, after time.Time) (shared bool, err error) {
	key := b.String() + "/" + name
	s.mu.Lock()
	f, ok := s.flights[key]
	if !ok && after.IsZero() && s.fetched[key] {
		// Ended just now, after this reader missed the copy: it is
		// there (an evict since, and the read fetches again).
		s.mu.Unlock()
		return true, nil
	}
	if !ok {
		f = &flight{done: make(chan struct{})}
		s.flights[key] = f
		// The fetch outlives the reader that started it, which may give
		// up (an aborted prefetch) as those that join may.
		go func() {
			f.err = s.fetch(context.WithoutCancel(ctx), be, b, name)
			s.mu.Lock()
			delete(s.flights, key)
			if f.err == nil {
				s.markFetchedLocked(key)
			}
			s.mu.Unlock()
			close(f.done)
		}()
	}
	s.mu.Unlock()
	joined := time.NewTimer(streamJoinWait)
	defer joined.Stop()
	for {
		select {
		case <-f.done:
			return ok, f.err
		case <-ctx.Done():
			return ok, context.Cause(ctx)
		case <-joined.C:
			if f.streaming.Load() {
				// Two copies stored, each stamped as its fetch began:
				// the later is kept.
				return s.secondFetch(ctx, f, be, b, name, after)
			}
			// The stream had not begun (a remote slow to answer): it
			// is looked at again, not waited for to its end.
			joined.Reset(streamJoinWait)
		}
	}
}

// secondFetch has the readers that will not wait for a flight streaming
// to a slow reader share one fetch of their own.
func (s *Store) secondFetch(ctx context.Context, f *flight, be Backend, b store.Bucket, name string, after time.Time) (shared bool, err error) {
	s.mu.Lock()
	second := f.second
	shared = true
	// One running is joined (however many readers, two fetches at
	// most). One done, begun before a reader that wants a newer one found
	// the cached copy not current (a latest read after the remote
	// changed, an evict), is not that reader's: it starts the next.
	if second == nil || second.finished() && second.started.Before(after) {
		shared = false
		second = &flight{done: make(chan struct{}), started: time.Now()}
		f.second = second
		go func() {
			second.err = s.fetch(context.WithoutCancel(ctx), be, b, name)
			if second.err != nil {
				// Failed, it is not kept for the readers to come: each
				// later one that will not wait starts another.
				s.mu.Lock()
				if f.second == second {
					f.second = nil
				}
				s.mu.Unlock()
			}
			close(second.done)
		}()
	}
	s.mu.Unlock()
	select {
	case <-second.done:
		return shared, second.err
	case <-ctx.Done():
		return shared, context.Cause(ctx)
	}
}

func (s *Store) fetch(ctx context.Context, be Backend, b store.Bucket, name string) error {
	stamp, fetched := s.startStamp(b, name)
	defer fetched()
	ctx, watch := s.watchIdle(ctx, b, name)
	defer watch.Stop()
	r, attrs, err := be.GetObject(ctx, b, name)
	if err != nil {
		return cmp.Or(context.Cause(ctx), err)
	}
	defer r.Close()
	body, err := s.guardSpace(ctx, b, name, remoteBody{watch.Reader(r)})
	if err != nil {
		return err
	}
	_, err = s.Store.Put(ctx, b, name, body, s.fetchOptions(ctx, b, name, attrs, stamp))
	if cause := context.Cause(ctx); err != nil && cause != nil {
		err = cause // the stall, not how the read of it failed
	}
	err = coldGetError(err)
	if err != nil && !superseded(err) {
		return fmt.Errorf("cold GET %s/%s: %w", b, name, err)
	}
	return nil
}

// customOf is what a cached object keeps of its remote attributes: its
// custom metadata too, from the remote's user metadata.
func customOf(attrs ObjectAttrs) map[string]string {
	custom := map[string]string{}
	if attrs.ETag != "" {
		custom[CustomETag] = keptTag(attrs.ETag)
	}
	if attrs.Version != "" {
		custom[CustomVersion] = keptTag(attrs.Version)
	}
	if !attrs.Modified.IsZero() {
		custom[CustomModified] = strconv.FormatInt(attrs.Modified.UnixNano(), 10)
	}
	if !attrs.Checksum.IsEmpty() {
		custom[CustomChecksum] = attrs.Checksum.String()
	}
	// The remote's metadata within what a copy keeps beside these (a
	// cold GET of an object of more would be refused once fetched):
	// S3's own user metadata the first to go.
	if len(attrs.Metadata) > 0 {
		more := CustomOf(attrs.Metadata)
		// Counted as stored (a few bytes of framing a pair), with room
		// for the S3 ETag a cold GET adds.
		budget := maxCachedCustom - store.CustomSize(custom) - 4*len(custom) - etagRoom
		// S3's own user metadata the first to go, as store.TrimCustom.
		keys := slices.SortedFunc(maps.Keys(more), func(a, b string) int {
			return cmp.Or(cmp.Compare(boolRank(strings.HasPrefix(a, store.CustomUserPrefix)), boolRank(strings.HasPrefix(b, store.CustomUserPrefix))), strings.Compare(a, b))
		})
		for _, k := range keys {
			if _, ok := custom[k]; ok {
				continue
			}
			if n := len(k) + len(more[k]) + 4; n <= budget {
				custom[k], budget = more[k], budget-n
			}
		}
	}
	return custom
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// maxCachedCustom bounds the custom metadata of a cached copy, stored:
// its metadata is kept in one extended attribute (3 KiB) with the rest;
// etagRoom is what its S3 ETag takes of it.
const (
	maxCachedCustom = store.MaxPartCustom
	etagRoom        = len(store.CustomETag) + 32 + 4
)

// Head answers from the local store, or from the remote for an object
// not cached (Custom[CustomETag] set, Atime zero).
func (s *Store) Head(ctx context.Context, b store.Bucket, name string) (store.ObjectMeta, error) {
	be, _, remote, err := s.backend(ctx, b)
	if !remote {
		return s.Store.Head(ctx, b, name)
	}
	if err != nil {
		// As Open: a cached copy answers without the remote's client.
		if meta, lerr := s.Store.Head(ctx, b, name); lerr == nil && !errors.Is(err, store.ErrBucketNotFound) {
			return meta, nil
		}
		return store.ObjectMeta{}, err
	}
	meta, err := s.Store.Head(ctx, b, name)
	if !errors.Is(err, store.ErrNotFound) {
		return meta, err
	}
	attrs, err := be.HeadObject(ctx, b, name)
	if err != nil {
		return store.ObjectMeta{}, err
	}
	return store.ObjectMeta{Name: name, Size: attrs.Size, Version: attrs.Version, Custom: customOf(attrs)}, nil
}

// HeadLatest is Head asked of the remote when a copy is cached here too
// (store.LatestHeader): a HEAD with latest-ver describes what a GET with
// it would serve. The cached copy, of another version or gone from the
// remote, stays: a GET decides that under the name's lock.
func (s *Store) HeadLatest(ctx context.Context, b store.Bucket, name string) (store.ObjectMeta, error) {
	be, _, remote, err := s.backend(ctx, b)
	if !remote {
		return s.Store.Head(ctx, b, name)
	}
	if err != nil {
		return store.ObjectMeta{}, err
	}
	meta, err := s.Store.Head(ctx, b, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return meta, err
	}
	attrs, herr := be.HeadObject(ctx, b, name)
	switch {
	case herr != nil:
		return store.ObjectMeta{}, herr
	case err == nil && sameVersion(meta, attrs):
		return meta, nil
	}
	return store.ObjectMeta{Name: name, Size: attrs.Size, Version: attrs.Version, Custom: customOf(attrs)}, nil
}

// Put writes through: the object is stored locally, then in the remote,
// and only then acknowledged; a remote failure removes the local copy.
func (s *Store) Put(ctx context.Context, b store.Bucket, name string, r io.Reader, opts store.PutOptions) (store.ObjectMeta, error) {
	be, _, remote, err := s.backend(ctx, b)
	if !remote {
		return s.Store.Put(ctx, b, name, r, opts)
	}
	if err != nil {
		return store.ObjectMeta{}, err
	}
	if s.noBytes {
		return store.ObjectMeta{}, errNoBytes("write", b, name)
	}
	if opts.IfMatch != "" || opts.IfNoneMatch != "" {
		return store.ObjectMeta{}, store.ConditionalRemotePut(b, name)
	}
	// Under the name's lock, the remote gets the writes of a name in the
	// order they are stored here: taken once the body is staged here
	// (a slow client's upload holds up no reader or delete of the name),
	// until the copy here is committed.
	unlock := func() {}
	defer func() { unlock() }()
	// The remote first, from the bytes staged here, then the copy here:
	// no one reads a copy the remote may yet refuse (readers meanwhile
	// read the copy before). A send that may have reached the remote
	// whose copy here then fails leaves the copy before stale: it goes,
	// with a tombstone that keeps a fetch of it under way out. (A crash
	// between the remote's answer and the copy here leaves it too.)
	staged, reached := false, false
	inner := opts.Stage
	localETag := opts.ETag
	opts.Stage = func(data io.ReaderAt, size int64) (map[string]string, error) {
		custom := map[string]string{}
		if inner != nil {
			more, err := inner(data, size)
			if err != nil {
				return nil, err
			}
			maps.Copy(custom, more)
		}
		staged = true
		// Given up with the caller: one gone while another write held
		// the name sent nothing, yet a send cut short "may have reached"
		// the remote, and the other's fresh copy was dropped.
		release, err := s.writes.LockContext(ctx, b.String()+"/"+name)
		if err == nil {
			unlock, err = release, context.Cause(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("write through %s/%s: %w", b, name, err)
		}
		attrs, err := be.PutObject(ctx, b, name, io.NewSectionReader(data, 0, size), size, Metadata(opts.Custom))
		reached = err == nil || mayHaveReached(err)
		if err != nil {
			return nil, fmt.Errorf("write through %s/%s: %w", b, name, err)
		}
		// The remote's ETag and version, as a cold GET keeps them: a
		// validated warm GET then knows the copy is the remote's (an
		// encrypted or versioned object too), and no MD5 is computed
		// here for it.
		maps.Copy(custom, customOf(attrs))
		if etag := strings.ToLower(attrs.ETag); !localETag && isMD5(etag) && !attrs.ETagNotMD5 {
			custom[store.CustomETag] = etag
		}
		return custom, nil
	}
	meta, err := s.Store.Put(ctx, b, name, r, opts)
	if staged {
		if err != nil && reached {
			err = errors.Join(err, s.dropStale(ctx, b, name))
		}
		return meta, err
	}
	if err != nil {
		return meta, err
	}
	// A store that stages nothing keeps no bytes (a dry run not told by
	// KeepNoBytes): what it would read back is made up. Its record goes.
	s.Store.Delete(context.WithoutCancel(ctx), b, name, store.DeleteOptions{IfStamp: meta.Stamp})
	return store.ObjectMeta{}, errNoBytes("write", b, name)
}

// KeepNoBytes tells the store that its local store keeps no bytes (a dry
// run): what it would send a remote is made up, and a delete there would
// be no dry run. Writes and deletes through to a remote are refused.
func (s *Store) KeepNoBytes() { s.noBytes = true }

func errNoBytes(what string, b store.Bucket, name string) error {
	return fmt.Errorf("%s through %s/%s: %w: this node keeps no bytes (a dry run), and writes to or deletes from the remote none", what, b, name, store.ErrUnsupported)
}

// dropStale removes the copy of a name whose write-through may have
// reached the remote but failed here.
func (s *Store) dropStale(ctx context.Context, b store.Bucket, name string) error {
	err := s.Store.Delete(context.WithoutCancel(ctx), b, name, store.DeleteOptions{Stamp: s.fetchStamp(), Tombstone: true})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("the copy here may be older than the remote's: %w", err)
	}
	return nil
}

// mayHaveReached reports whether a failed send may have stored the
// object all the same: anything but the remote's refusal (a 4xx). A send
// cut short (a client gone, a timeout) may have; so may one whose last
// retry found no connection (an earlier one may have stored it).
func mayHaveReached(err error) bool {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.Is(err, store.ErrRemoteForbidden), !errors.Is(err, store.ErrRemote):
		return false // refused
	}
	return true
}

// Delete removes an object from the remote and from the local store. A
// delete that removes a copy (LocalOnly, IfStamp) leaves the remote's. A
// delete as of a stamp goes to the remote only when the local store did
// not keep a newer object: that one is the remote's too.
func (s *Store) Delete(ctx context.Context, b store.Bucket, name string, opts store.DeleteOptions) error {
	be, _, remote, err := s.backend(ctx, b)
	if remote && s.noBytes && !opts.LocalOnly && (opts.WrittenThrough || opts.IfStamp.IsZero()) {
		return errNoBytes("delete", b, name)
	}
	if remote && opts.WrittenThrough && !opts.LocalOnly && !opts.IfStamp.IsZero() {
		if err != nil {
			return err
		}
		return s.deleteWrittenThrough(ctx, be, b, name, opts)
	}
	if !remote || opts.LocalOnly || !opts.IfStamp.IsZero() {
		return s.Store.Delete(ctx, b, name, opts)
	}
	if err != nil {
		return err
	}
	defer s.lockName(b.String() + "/" + name)()
	// The tombstone is stamped under the name's lock, at least as new as
	// every cold GET of the name still fetching: one that began between
	// the caller's stamp and the lock (in a newer map too) must not store
	// the remote's object over the delete once it is gone.
	key := b.String() + "/" + name
	tomb := opts.Stamp
	fetching, newest := s.fetchingNow(key)
	if !opts.Stamp.IsZero() && newest.Compare(tomb) > 0 {
		tomb = newest
	}
	if !opts.Stamp.IsZero() {
		// A newer object here is the remote's too: it stays in both.
		if meta, err := s.Store.Head(ctx, b, name); err == nil && meta.Stamp.Compare(opts.Stamp) > 0 {
			return fmt.Errorf("delete %s/%s: %w: it has stamp %s, newer than the delete's %s", b, name, store.ErrExists, meta.Stamp, opts.Stamp)
		}
	}
	// A delete the local store would refuse (the name moved to another
	// target) is refused before the remote's object goes.
	if opts.Precommit != nil {
		release, err := opts.Precommit()
		if err != nil {
			return err
		}
		release()
	}
	// The remote first: when it fails, the cached copy is still served.
	rerr := be.DeleteObject(ctx, b, name)
	if rerr != nil && !errors.Is(rerr, store.ErrNotFound) {
		return rerr
	}
	opts.Stamp = tomb
	// A cold GET still fetching is refused by a tombstone, which the
	// caller may not ask for (a bulk delete of names a bucket mostly
	// never had leaves none).
	opts.Tombstone = opts.Tombstone || !tomb.IsZero() && fetching
	lerr := s.Store.Delete(ctx, b, name, opts)
	if errors.Is(lerr, store.ErrNotFound) && rerr == nil {
		return nil
	}
	return lerr
}

// deleteWrittenThrough removes the copy with stamp opts.IfStamp and, when
// the remote still has what that copy wrote through (its ETag), the
// remote's object: first, so that a failure leaves the copy that says
// what to remove.
func (s *Store) deleteWrittenThrough(ctx context.Context, be Backend, b store.Bucket, name string, opts store.DeleteOptions) error {
	defer s.lockName(b.String() + "/" + name)()
	meta, err := s.Store.Head(ctx, b, name)
	if err != nil {
		return err
	}
	if meta.Stamp != opts.IfStamp {
		return fmt.Errorf("delete %s/%s: %w: it has stamp %s, not %s", b, name, store.ErrExists, meta.Stamp, opts.IfStamp)
	}
	// The ETag the remote answered the write-through (an encrypted or
	// multipart object's is not its MD5), or, kept by an older build,
	// the MD5 computed here.
	remoteETag, md5ETag := meta.Custom[CustomETag], meta.Custom[store.CustomETag]
	if remoteETag != "" || md5ETag != "" {
		attrs, err := be.HeadObject(ctx, b, name)
		switch {
		case err == nil && (remoteETag != "" && keptTag(attrs.ETag) == remoteETag || remoteETag == "" && attrs.ETag == md5ETag):
			if err := be.DeleteObject(ctx, b, name); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return err
		}
	}
	return s.Store.Delete(ctx, b, name, opts)
}

// Backend returns a remote bucket's backend, for the listing and the
// jobs over remote objects.
func (s *Store) Backend(ctx context.Context, b store.Bucket) (Backend, error) {
	be, _, remote, err := s.backend(ctx, b)
	if !remote {
		return nil, fmt.Errorf("bucket %s is not remote", b)
	}
	return be, err
}

// Buckets answers for remote buckets by their props, in the store's
// terms: what a gateway asks of them (does the bucket exist, a page of
// its listing) and what prefetch lists.
type Buckets struct{ Resolve Resolver }

// HeadBucket checks that a remote bucket exists.
func (bs Buckets) HeadBucket(ctx context.Context, b store.Bucket, props store.Props) error {
	be, err := bs.Resolve(ctx, b, props)
	if err != nil {
		return err
	}
	return be.HeadBucket(ctx, b)
}

// List returns a page of a remote bucket's listing and the next page's
// token ("" at the end).
func (bs Buckets) List(ctx context.Context, b store.Bucket, props store.Props, prefix, token string, max int) ([]store.ObjectMeta, string, error) {
	be, err := bs.Resolve(ctx, b, props)
	if err != nil {
		return nil, "", err
	}
	list, next, err := be.ListObjects(ctx, b, prefix, token, max)
	if err != nil {
		return nil, "", err
	}
	out := make([]store.ObjectMeta, len(list))
	for i, a := range list {
		out[i] = store.ObjectMeta{Name: a.Name, Size: a.Size, Version: a.Version, Custom: customOf(a)}
	}
	return out, next, nil
}
