package fs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aisgo/aisgo/internal/atomicfile"
	"github.com/aisgo/aisgo/internal/hrw"
	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/store"
)

// Config configures a filesystem store.
type Config struct {
	// Mountpaths are the directories objects are spread over; at least one.
	Mountpaths []string
	// NoSync skips making a PUT durable before it is acknowledged:
	// faster, but a power loss may lose acknowledged objects. Zero means
	// group commit (see groupSyncer).
	NoSync bool
	// SyncFS makes what was written on a mountpath's filesystem durable
	// (the renames of PUTs); nil means syncfs(2). Tests inject their own.
	SyncFS func(mountpath string) error
	// SyncData makes a work file's data durable before its rename; nil
	// means fdatasync(2). Tests inject their own.
	SyncData func(f *os.File) error
	// Logger receives notices; nil discards them.
	Logger *slog.Logger
	// OnMountpathChange, when set, is told when a mountpath is enabled,
	// disabled (by a failed health check or by hand) or detached: the
	// node then moves objects to their places (a resilver job).
	OnMountpathChange func(path, state, reason string)
	// OnRepair, when set, is told of each copy rewritten from a good one
	// after a checksum mismatch.
	OnRepair func(b store.Bucket, name, path string)
	// RecordDir, when set, is a directory off the mountpaths (the node's
	// metadata) that keeps a copy of their record: a node whose every
	// disk did not mount learns there that its mountpaths held data, and
	// does not start empty on their mount points (writes there would
	// vanish beneath the disks once mounted).
	RecordDir string
	// Owner, when set, is the node the mountpaths are for: each keeps it
	// (.ais/owner), and one that names another node is refused (another
	// node's disk, given to this one by mistake, or shared by two).
	// FormerOwner is this node's id before (-id renamed it): its
	// mountpaths are this node's.
	Owner, FormerOwner string
}

// Store keeps objects as plain files on mountpaths.
type Store struct {
	config Config
	// mps is the current mountpath set; mpsMu serializes its changes.
	mps   atomic.Pointer[mountpathSet]
	mpsMu sync.RWMutex
	// dropMu: tombstone drops (read) against a mountpath coming back
	// (write).
	dropMu sync.RWMutex
	// reconciling holds the one reconcile of returning mountpaths at a
	// time (a resilver and a detach's may both ask): once the first
	// enabled a mountpath, a second walking it took each copy there for
	// a current one of its own, and removed it.
	reconciling chan struct{}
	// awayVersion is the version of the last away record (under mpsMu).
	awayVersion int64
	// claimed are the mountpaths this node claimed as no node's at start
	// (no owner file): a record of mountpaths away found there is of the
	// node that had the disk before, when it names no owner.
	claimed map[string]bool
	// configured are the mountpaths of the config (absolute); others
	// were attached while the node ran.
	configured []string
	logger     *slog.Logger
	// nameLocks serialize writers of the same name (by hash), so that
	// versions increment without gaps or repeats.
	nameLocks [256]sync.Mutex
	// partLocks serialize the writers of a name's parts. They are apart
	// from nameLocks: a PUT of an erasure-coded object holds its name
	// lock while it sends parts to other targets, whose own PUTs may be
	// sending parts here; one lock space for both would deadlock them
	// across targets when two names share a stripe.
	partLocks [256]sync.Mutex

	mu struct {
		sync.Mutex
		md store.BucketMetadata
		// attaching are new mountpaths whose bucket directories are made
		// before they take objects: a bucket destroyed or made meanwhile
		// is destroyed or made on them too.
		attaching []mountpath
		// behind are the buckets SyncBuckets last failed to bring to
		// the cluster's metadata, and why (see store.ErrBucketBehind).
		behind map[store.Bucket]error
	}
	// dirs caches the sorted entries of big directories for listings.
	dirs dirCache
	// copies queue the copies burst-mode PUTs leave to make; verifies,
	// the objects whose other copies a validated read leaves to check.
	copies       chan pendingCopy
	copierOnce   sync.Once
	verifies     chan pendingCopy
	verifierOnce sync.Once
	// background is the work of the two queues; queueMu and closed stop
	// new work once Close runs.
	background sync.WaitGroup
	queueMu    sync.Mutex
	closed     bool
	// refreshFailed are the objects whose older copies could not be
	// rewritten lately (under queueMu), by the time it failed: reads do
	// not queue them again for refreshRetry.
	refreshFailed map[string]time.Time
	// stopping tells background deletions that the store closes.
	stopping atomic.Bool
	// syncers group the syncs of durable PUTs, one per mountpath path.
	syncers sync.Map
	// unsynced are the mountpaths with removals not synced yet (a job's,
	// one object after another): every sync syncs them too, so that a
	// delete or a PUT acknowledged after such a removal is not undone by
	// a crash that brings the removed copy back.
	unsynced sync.Map // path -> mountpath
	// atimes are the access times not yet written (see touch).
	atimes accessTimes
	// seals are the buckets that take no new objects (SealBucket).
	seals seals
	// room, when set, is asked before a copy of so many bytes goes to a
	// mountpath (the node's capacity watermarks; SetRoomCheck).
	room atomic.Pointer[func(context.Context, string, int64) error]
}

// SetRoomCheck sets what make-n-copies, a resilver and a detach ask
// before they write a copy of size bytes to mountpath: an error (it would
// pass its out_of_space watermark) ends the job, as it refuses a PUT,
// rather than fill the disk. Asked of the destination: a disk added to a
// full target takes the objects that move to it.
func (s *Store) SetRoomCheck(check func(ctx context.Context, mountpath string, size int64) error) {
	s.room.Store(&check)
}

var (
	_ store.Store      = (*Store)(nil)
	_ store.Maintainer = (*Store)(nil)
)

// Open prepares the mountpaths (creating them if needed), removes leftover
// work files and loads the bucket metadata. It fails if a mountpath's
// filesystem has no extended attributes.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if len(cfg.Mountpaths) == 0 {
		return nil, errors.New("fs store: no mountpaths configured")
	}
	started := time.Now().UnixNano()
	s := &Store{config: cfg, logger: cfg.Logger, reconciling: make(chan struct{}, 1), claimed: map[string]bool{}}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	seen := map[string]bool{}
	// A mountpath in use before that cannot be used now: recorded away,
	// so that its copies return (not served as current) when it does.
	lost := false
	set := &mountpathSet{disabled: map[string]string{}, since: map[string]time.Time{}, awaySince: map[string]int64{}, unguarded: map[string]bool{}}
	var fresh []mountpath // configured mountpaths without the store's .ais
	for _, p := range cfg.Mountpaths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("mountpath %s: %w", p, err)
		}
		if seen[abs] {
			return nil, fmt.Errorf("mountpath %s is listed twice", abs)
		}
		seen[abs] = true
		// The same directory by two names (a symlink, a bind mount seen
		// through one), or one inside another: a PUT that removes an
		// object's copies from the mountpaths it does not place it on
		// would remove the one it just wrote.
		for _, other := range s.configured {
			if overlapping(abs, other) {
				return nil, fmt.Errorf("mountpaths %s and %s are the same directory, or one holds the other", other, abs)
			}
		}
		m := newMountpath(abs)
		s.configured = append(s.configured, abs)
		if _, err := os.Stat(filepath.Join(abs, ".ais")); err != nil {
			// Made once the record tells it is new (below).
			fresh = append(fresh, m)
			continue
		}
		if _, err := os.Stat(filepath.Join(abs, ".ais", ownerFile)); errors.Is(err, os.ErrNotExist) && cfg.Owner != "" {
			s.claimed[abs] = true // by prepare, now
		}
		if err := s.prepare(m, true); err != nil {
			if errors.Is(err, store.ErrNoXattr) || errors.Is(err, errOtherOwner) {
				return nil, err // a filesystem that cannot hold objects, another node's disk
			}
			// A disk the store used (its .ais is there) that fails now
			// (read-only after errors, EIO): disabled, as the health
			// check would have it, while the others serve; recorded
			// away, it returns (its copies may be stale by then).
			lost = true
			s.logger.Error("a mountpath cannot be opened at start: it is disabled, and its objects are missing until it is enabled", "mountpath", abs, "err", err)
			set.disabled[abs] = "cannot be opened at start: " + err.Error()
			set.since[abs] = time.Now()
			continue
		}
		set.enabled = append(set.enabled, m)
		set.since[abs] = time.Now()
	}
	// Those away when the node stopped come back returning; one stays
	// enabled at least.
	rec := s.loadAway(set.enabled)
	// Those attached while it ran come back too; and the newest record
	// may be on them only (a configured one disabled after the attach
	// took no later record): read again over them, until none is newer.
	for {
		for _, path := range rec.Attached {
			if seen[path] || !filepath.IsAbs(path) {
				continue
			}
			seen[path] = true
			m := newMountpath(path)
			if rootGone(m) {
				// Its attach made .ais: without it, this is not the disk
				// (its mount point's empty directory, the disk not
				// mounted), and writes there would land beneath its mount.
				lost = true
				s.logger.Error("a mountpath attached before the restart has no .ais: is its disk mounted? It is disabled", "mountpath", path)
				set.disabled[path] = "its .ais is missing at start: not the disk it was (not mounted?): mount it and restart"
				set.since[path] = time.Now()
				continue
			}
			if err := s.prepare(m, false); err != nil {
				if errors.Is(err, errOtherOwner) {
					return nil, err
				}
				// Kept as disabled, not forgotten: enabled again, it returns
				// and is reconciled, as its copies may be stale by then.
				lost = true
				s.logger.Error("a mountpath attached before the restart cannot be opened: it is disabled, and its objects are missing until it is enabled", "mountpath", path, "err", err)
				set.disabled[path] = "cannot be opened at start: " + err.Error()
				set.since[path] = time.Now()
				continue
			}
			set.enabled = append(set.enabled, m)
			set.since[path] = time.Now()
		}
		next := s.loadAway(set.enabled)
		if next.Version <= rec.Version {
			break
		}
		rec = next
	}
	s.awayVersion = rec.Version
	// One the store used before (its record says so: configured, or
	// attached while it ran) that has no .ais now is not the disk it was:
	// one that did not mount, its directory empty on the root filesystem.
	// Disabled, not made (nor recorded well at the next start): the
	// disk's objects would be missing, and writes would land beneath its
	// mount. The others are new (a detached one too: detach and attach is
	// how a new empty disk takes a mountpath's place).
	used := slices.Concat(rec.Configured, rec.Attached)
	for _, m := range fresh {
		if slices.Contains(used, m.path) {
			s.logger.Error("a mountpath the store used before has no .ais: is its disk mounted? It is disabled", "mountpath", m.path)
			set.disabled[m.path] = "its .ais is missing at start: not the disk it was (not mounted?): mount it and restart, or for a new empty disk detach and attach the mountpath"
			set.since[m.path] = time.Now()
			lost = true
			continue
		}
		if err := s.prepare(m, true); err != nil {
			return nil, err
		}
		set.enabled = append(set.enabled, m)
		set.since[m.path] = time.Now()
	}
	if len(set.enabled) == 0 {
		if cfg.RecordDir != "" && len(fresh) > 0 {
			return nil, fmt.Errorf("fs store: no mountpath can be used: %v; for new empty disks in their place, remove %s to start the node empty",
				set.disabled, filepath.Join(cfg.RecordDir, recordFile))
		}
		return nil, fmt.Errorf("fs store: no mountpath can be used: %v", set.disabled)
	}
	// So do those detached while disabled, if configured again; and one
	// that was away and is not configured now stays known as gone (its
	// copies are stale if it is configured again later).
	set.gone = slices.Clone(rec.Detached)
	// Those away, and those configured before and not now, are gone
	// while out of the set.
	left := false // one configured before is not now
	for _, path := range slices.Concat(rec.Away, rec.Configured) {
		if !slices.Contains(set.paths(), path) && !slices.Contains(set.gone, path) {
			set.gone = append(set.gone, path)
			left = left || !slices.Contains(rec.Away, path)
		}
	}
	// A disk the store used under another path (its .ais and owner were
	// there, its path in no record: a mount point renamed, a disk moved)
	// may hold copies older than the others', and missed deletes: it
	// returns, reconciled, as one away does, against every tombstone
	// (since when it was away is not known). Not unguarded: a renamed
	// mount point, the common case, would have every object only it
	// holds set aside.
	var moved []string
	if rec.Version > 0 && len(rec.Configured) > 0 {
		for _, m := range set.enabled {
			known := slices.Contains(slices.Concat(rec.Configured, rec.Attached, rec.Away, rec.Detached), m.path) ||
				slices.ContainsFunc(fresh, func(f mountpath) bool { return f.path == m.path }) // new: made now
			if !known && !s.claimed[m.path] {
				s.logger.Warn("a mountpath holds this node's disk under a path no record names (moved?): it returns, reconciled, before its copies are served", "mountpath", m.path)
				moved = append(moved, m.path)
			}
		}
	}
	for _, path := range slices.Concat(rec.Away, rec.Detached, moved) {
		i := slices.IndexFunc(set.enabled, func(m mountpath) bool { return m.path == path })
		if i >= 0 && len(set.enabled) == 1 && lost {
			// Its copies would be served as current, stale: the disk
			// that did not mount must be there first.
			return nil, fmt.Errorf("fs store: mountpath %s was away and the others cannot be used (%v): mount their disks first", path, set.disabled)
		}
		if i >= 0 && len(set.enabled) > 1 {
			set.returning = append(set.returning, set.enabled[i])
			set.enabled = slices.Delete(set.enabled, i, i+1)
		}
	}
	guardsFromRecord(set, rec, started)
	for _, path := range moved {
		if slices.ContainsFunc(set.returning, func(m mountpath) bool { return m.path == path }) {
			set.awaySince[path] = 0 // away since no one knows: any tombstone guards it
		}
	}
	if left || lost || !slices.Equal(rec.Configured, slices.Sorted(slices.Values(s.configured))) || s.recordMissing() {
		// Recorded now: the next start may leave one out, or have one
		// left out configured again.
		if err := s.saveAway(set); err != nil {
			return nil, err
		}
	}
	s.mps.Store(set)
	if err := s.loadBuckets(); err != nil {
		return nil, err
	}
	return s, nil
}

// errOtherOwner marks a mountpath that names another node as its owner.
var errOtherOwner = errors.New("the mountpath is another node's")

// prepare prepares a mountpath (prepareMountpath) once it is known to be
// this node's (checked before anything there changes), claiming it if it
// is no node's yet, or was this node's under its former id.
func (s *Store) prepare(m mountpath, create bool) error {
	owner := s.config.Owner
	marker := filepath.Join(m.path, ".ais", ownerFile)
	claim := false
	if owner != "" {
		data, err := os.ReadFile(marker)
		switch {
		case errors.Is(err, os.ErrNotExist):
			claim = true
		case err != nil:
			return fmt.Errorf("mountpath %s: %w", m.path, classify(err))
		default:
			other := strings.TrimSpace(string(data))
			claim = other == s.config.FormerOwner && other != ""
			if other != owner && !claim {
				return fmt.Errorf("%w: %w: mountpath %s belongs to node %.64q (its .ais/%s), not to this node %s: if this is that node, start it with -id %.64s; else give each node disks of its own (to take this one over, objects and all, remove that file)",
					store.ErrMountpath, errOtherOwner, m.path, other, ownerFile, owner, other)
			}
		}
	}
	if err := prepareMountpath(m, create); err != nil {
		return err
	}
	if claim {
		if err := atomicfile.Write(marker, []byte(owner+"\n"), 0o644); err != nil {
			return fmt.Errorf("mountpath %s: %w", m.path, classify(err))
		}
	}
	return nil
}

// ownerFile, under a mountpath's .ais, names the node it is for.
const ownerFile = "owner"

// prepareMountpath makes the store's directories on a mountpath (create:
// the mountpath itself too), empties its work and trash, and checks that
// it takes extended attributes.
func prepareMountpath(m mountpath, create bool) error {
	if !create {
		if fi, err := os.Stat(m.path); err != nil || !fi.IsDir() {
			return fmt.Errorf("mountpath %s: not a directory: %w", m.path, err)
		}
	}
	for _, dir := range []string{m.path, m.workDir(), m.trashDir(), m.healthDir()} {
		if err := pathsafe.MkdirAll(m.path, dir, 0o755); err != nil {
			return fmt.Errorf("mountpath %s: %w", m.path, classify(err))
		}
	}
	// A crash may leave work files, trash and health probes behind; none
	// is visible as an object, so all go (a probe only once old: a check
	// may be writing one now).
	for _, dir := range []string{m.workDir(), m.trashDir(), m.healthDir()} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("mountpath %s: %w", m.path, err)
		}
		for _, e := range entries {
			if info, err := e.Info(); dir == m.healthDir() && (err != nil || time.Since(info.ModTime()) < time.Minute) {
				continue
			}
			if err := pathsafe.RemoveAll(dir, filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("mountpath %s: remove leftover %s: %w", m.path, e.Name(), err)
			}
		}
	}
	removeLeftoverTemps(m)
	if err := layParts(m); err != nil {
		return fmt.Errorf("mountpath %s: move its erasure-coded parts to this version's layout: %w", m.path, classify(err))
	}
	probe := filepath.Join(m.workDir(), "xattr-probe")
	if err := os.WriteFile(probe, nil, 0o644); err != nil {
		return fmt.Errorf("mountpath %s: %w", m.path, classify(err))
	}
	defer os.Remove(probe)
	if err := syscall.Setxattr(probe, xattrName, []byte{1}, 0); err != nil {
		return fmt.Errorf("mountpath %s: %w: setting %s failed: %w", m.path, store.ErrNoXattr, xattrName, err)
	}
	return nil
}

// removeLeftoverTemps removes what a crash left of the store's atomic
// writes on a mountpath not yet in use: the temporary files of its
// records (bucket metadata, what was away) and of tombstones.
func removeLeftoverTemps(m mountpath) {
	meta := filepath.Join(m.path, ".ais")
	if entries, err := os.ReadDir(meta); err == nil {
		for _, e := range entries {
			if !e.IsDir() && atomicfile.IsTemp(e.Name()) && (strings.HasPrefix(e.Name(), "bmd.json") || strings.HasPrefix(e.Name(), "away.json")) {
				pathsafe.Remove(meta, filepath.Join(meta, e.Name()))
			}
		}
	}
	tombstones := filepath.Join(meta, "tombstones")
	filepath.WalkDir(tombstones, func(path string, e iofs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && atomicfile.IsTemp(e.Name()) {
			pathsafe.Remove(tombstones, path)
		}
		return nil
	})
}

// Mountpaths returns the absolute directories of the enabled mountpaths.
func (s *Store) Mountpaths() []string {
	var out []string
	for _, m := range s.placement() {
		out = append(out, m.path)
	}
	return out
}

// uname is the placement name of an object.
func uname(b store.Bucket, name string) string {
	b = b.Normalize()
	return b.Provider + "/" + b.Name + "/" + name
}

// mountpathOf returns the HRW mountpath of an object.
func (s *Store) mountpathOf(b store.Bucket, name string) mountpath {
	mps := s.placement()
	if len(mps) == 1 {
		return mps[0]
	}
	item := hrw.Digest(uname(b, name))
	best, index := uint64(0), 0
	for i, m := range mps {
		if score := hrw.Score(m.digest, item); i == 0 || score > best {
			best, index = score, i
		}
	}
	return mps[index]
}

// mountpathsOf returns the first n mountpaths for an object in HRW order,
// highest score first: where n copies go on distinct mountpaths, the
// first being mountpathOf's. Fewer when there are fewer mountpaths; nil
// when n <= 0.
func (s *Store) mountpathsOf(b store.Bucket, name string, n int) []mountpath {
	return rankMountpaths(s.placement(), b, name, n)
}

// rankMountpaths is mountpathsOf over the mountpaths mps.
func rankMountpaths(mps []mountpath, b store.Bucket, name string, n int) []mountpath {
	digests := make([]uint64, len(mps))
	for i, m := range mps {
		digests[i] = m.digest
	}
	order := hrw.Rank(digests, hrw.Digest(uname(b, name)), n)
	if len(order) == 0 {
		return nil
	}
	out := make([]mountpath, len(order))
	for i, k := range order {
		out[i] = mps[k]
	}
	return out
}

func (s *Store) lockName(b store.Bucket, name string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(uname(b, name)))
	return &s.nameLocks[h.Sum32()%uint32(len(s.nameLocks))]
}

// lockParts returns the lock of a name's parts (see partLocks).
func (s *Store) lockParts(b store.Bucket, name string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(uname(b, name)))
	return &s.partLocks[h.Sum32()%uint32(len(s.partLocks))]
}

func randomName() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Store) loadBuckets() error {
	var best store.BucketMetadata
	for _, m := range s.readable() {
		data, err := os.ReadFile(m.bmdPath())
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("bucket metadata on %s: %w", m.path, classify(err))
		}
		var md store.BucketMetadata
		if err := json.Unmarshal(data, &md); err != nil {
			s.logger.Warn("ignoring unreadable bucket metadata", "path", m.bmdPath(), "err", err)
			continue
		}
		if md.Version > best.Version {
			best = md
		}
	}
	if best.Buckets == nil {
		best.Buckets = map[store.Bucket]store.Props{}
	}
	if err := best.Validate(); err != nil {
		return fmt.Errorf("saved bucket metadata: %w", err)
	}
	// Every mountpath gets every bucket directory and the newest metadata.
	for b, props := range best.Buckets {
		if err := s.createDirs(b, props.Created); err != nil {
			return err
		}
	}
	return s.saveBucketsLocked(best)
}

// saveBucketsLocked persists md on every mountpath, then makes it the
// store's own: a save that fails (a full disk) leaves memory as it was.
func (s *Store) saveBucketsLocked(md store.BucketMetadata) error {
	return s.saveBucketsOnLocked(s.readable(), md)
}

// saveBucketsOnLocked writes the bucket metadata to the mountpaths given.
func (s *Store) saveBucketsOnLocked(mountpaths []mountpath, md store.BucketMetadata) error {
	data, err := json.MarshalIndent(md, "", " ")
	if err != nil {
		return err
	}
	// One mountpath full (or failing) does not hold every bucket change,
	// nor the node's start, which saves at every open: the newest copy
	// wins at the next load, and the cluster's is handed out again.
	var errs []error
	for _, m := range mountpaths {
		if err := atomicfile.Write(m.bmdPath(), data, 0o644); err != nil {
			errs = append(errs, fmt.Errorf("save bucket metadata on %s: %w", m.path, classify(err)))
		}
	}
	if len(mountpaths) > 0 && len(errs) == len(mountpaths) {
		return errors.Join(errs...)
	}
	for _, err := range errs {
		s.logger.Warn("bucket metadata not saved on a mountpath (the others have it)", "err", err)
	}
	s.mu.md = md
	return nil
}

// Capacity reports used and total bytes of each mountpath's filesystem.
// A mountpath whose filesystem cannot be asked is left out (and checked),
// and the error comes with the others: their watermarks still hold.
func (s *Store) Capacity(ctx context.Context) ([]store.MountpathCapacity, error) {
	mps := s.readable()
	writable := map[string]bool{}
	for _, m := range s.placement() {
		writable[m.path] = true
	}
	out := make([]store.MountpathCapacity, 0, len(mps))
	var failed error
	for _, m := range mps {
		var st syscall.Statfs_t
		if err := syscall.Statfs(m.path, &st); err != nil {
			failed = fmt.Errorf("capacity of %s: %w", m.path, classify(err))
			s.logger.Warn("capacity of a mountpath", "mountpath", m.path, "err", err)
			s.suspectAfter(m, err)
			continue
		}
		total := int64(st.Blocks) * blockUnit(st)
		free := int64(st.Bavail) * blockUnit(st)
		out = append(out, store.MountpathCapacity{Path: m.path, Used: total - free, Total: total, NoWrites: !writable[m.path],
			Filesystem: filesystemID(uint32(st.Fsid.X__val[0]), uint32(st.Fsid.X__val[1]), m.path)})
	}
	return out, failed
}

// filesystemID names the filesystem of a mountpath by its fsid; by its
// device when the fsid is zero (FUSE, some network filesystems), which
// would make every such mountpath one filesystem to LRU.
func filesystemID(x, y uint32, path string) string {
	if x != 0 || y != 0 {
		return fmt.Sprintf("%x:%x", x, y)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return "path:" + path
	}
	return fmt.Sprintf("dev:%x", st.Dev)
}

// overlapping reports whether two mountpaths are one directory by two
// names (a symlink, a bind mount), or one holds the other: a PUT that
// removes an object's copies from the mountpaths it does not place it on
// would remove the one it wrote.
func overlapping(a, b string) bool {
	ra, rb := pathsafe.Resolve(a), pathsafe.Resolve(b)
	return isWithin(ra, rb) || isWithin(rb, ra) || sameDirectory(a, b)
}

// sameDirectory reports whether two existing paths are one directory
// (a bind mount shows the same inode under two paths).
func sameDirectory(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

// blockUnit is the size of the blocks statfs counts: the fragment size,
// which Linux reports them in (the block size differs on some FUSE
// filesystems).
func blockUnit(st syscall.Statfs_t) int64 {
	if st.Frsize > 0 {
		return st.Frsize
	}
	return st.Bsize
}
