package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/sync/errgroup"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/store"
)

// Remote buckets (s3://): their objects live in an S3 server; the owner
// target caches each on its first read (store/remote). A remote bucket
// joins the cluster's bucket metadata on its first access, or by
// create-bck when it exists remotely.

// RemoteBuckets answers for remote buckets (store/remote.Buckets).
type RemoteBuckets interface {
	HeadBucket(ctx context.Context, b store.Bucket, props store.Props) error
	List(ctx context.Context, b store.Bucket, props store.Props, prefix, token string, max int) ([]store.ObjectMeta, string, error)
}

// Kinds of the jobs over remote objects.
const (
	jobPrefetch = "prefetch-listrange"
	jobEvict    = "evict-listrange"
)

// prefetchWorkers bound the cold GETs a prefetch runs at once per target.
const prefetchWorkers = 8

// remoteTimeout bounds a gateway's question to the remote store.
const remoteTimeout = 30 * time.Second

// remotePageTimeout bounds a page of a job's walk of a remote listing (a
// variable for tests).
var remotePageTimeout = remoteTimeout

// addRemoteBucket adds a remote bucket that exists in its store to the
// bucket metadata, with the default remote props (or props, when given).
func (n *Node) addRemoteBucket(ctx context.Context, b store.Bucket, props *store.Props) error {
	if n.config.RemoteBuckets == nil {
		return badRequest("bucket %s: this cluster has no backend for provider %q (remote buckets are not configured)", b, b.Provider)
	}
	p := store.DefaultRemoteProps(b)
	if props != nil {
		p = *props
		p.Provider = b.Provider
	}
	ctx, cancel := context.WithTimeout(ctx, remoteTimeout)
	defer cancel()
	if err := n.config.RemoteBuckets.HeadBucket(ctx, b, p); err != nil {
		return remoteError(err)
	}
	_, err := n.control.Propose(ctx, membership.Change{Kind: membership.CreateBucket, Bucket: b, Props: &p, Created: timeNow()})
	if errors.Is(err, store.ErrBucketExists) {
		// Added by another request meanwhile: taken when it has the
		// props asked for (a first access's defaults, a create sent
		// twice), refused when it has others (they would be dropped).
		// This gateway may not have applied it yet: it catches up first,
		// else the caller would find no bucket (404).
		n.refresh(ctx)
		if props == nil {
			return nil
		}
		if now, ok := n.currentBuckets().Props(b); ok && sameProps(now, p) {
			return nil
		}
		return fmt.Errorf("bucket %s: %w, with other props than these", b, store.ErrBucketExists)
	}
	return membershipError(err)
}

// sameProps compares two buckets' props but for what the cluster sets as
// it adds a bucket (its creation time, id, access, features, checksum
// name's spelling).
func sameProps(a, b store.Props) bool {
	for _, p := range []*store.Props{&a, &b} {
		p.Created, p.BID, p.Access, p.Features = 0, 0, "", ""
		p.Checksum.Type = store.NormalizeChecksumType(p.Checksum.Type)
	}
	return reflect.DeepEqual(a, b)
}

// remoteError names the remote store in a missing bucket's error.
func remoteError(err error) error {
	if errors.Is(err, store.ErrBucketNotFound) {
		return fmt.Errorf("%w (the remote store has no such bucket)", err)
	}
	return err
}

// listRemote answers a page of a remote bucket's listing: the remote's
// page, each entry flagged present when a target has it cached.
func (n *Node) listRemote(ctx context.Context, b store.Bucket, props store.Props, msg api.ListObjectsMessage) (*api.ListPage, error) {
	if n.config.RemoteBuckets == nil {
		return nil, badRequest("bucket %s: remote buckets are not configured", b)
	}
	rctx, cancel := context.WithTimeout(ctx, remoteTimeout)
	defer cancel()
	size := min(msg.PageSize, 1000)
	list, next, err := n.config.RemoteBuckets.List(rctx, b, props, msg.Prefix, msg.ContinuationToken, size)
	if err != nil {
		return nil, remoteError(err)
	}
	page := &api.ListPage{ContinuationToken: next, Entries: make([]api.ListEntry, 0, len(list))}
	if len(list) == 0 {
		return page, nil
	}
	// What the targets have cached of the page's names, looked up in
	// name order (some remotes, S3's directory buckets, list out of it):
	// from just before the first name not looked up yet, page after page,
	// over the gaps between the names (cached names the remote no longer
	// has). (A shard's members come with it in a page, whose token is a
	// name: none is skipped.)
	sorted := make([]string, 0, len(list))
	for _, o := range list {
		sorted = append(sorted, o.Name)
	}
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	local := msg
	local.ContinuationToken, local.PageSize = "", remoteCachedPage
	after := justBefore(sorted[0])
	present := map[string]api.ListEntry{}
	members := map[string][]api.ListEntry{} // of cached shards (ListArchive), by shard
	// The names looked at are bounded (maxCachedPages full pages); pages
	// cut short by bytes (archive members) are counted apart, each
	// covering at least one name: past that bound, the page is refused
	// rather than shown with cached shards as not cached.
	names, pending := 0, 0 // (pending: the first name of sorted not looked up)
	// The members kept are bounded as a page's bytes are: every lookup's
	// are held until the page is built (each lookup is bounded alone).
	// Those of the page's shards only (a lookup reaches past its names).
	var membersBytes int64
	named := make(map[string]bool, len(list))
	for _, o := range list {
		named[o.Name] = true
	}
	for pages := 0; ; pages++ {
		if pages == maxCachedPages+len(list) || names >= maxCachedPages*remoteCachedPage {
			return nil, badRequest("list %s: what the targets cache of this page's %d names took more than %d pages of theirs; list fewer objects a page (pagesize)", b, len(list), pages)
		}
		if pages > 0 {
			// Past a first full lookup, the names left share what is
			// left of the bound: names spread over the bucket (a page
			// out of order) are a lookup each, smaller.
			local.PageSize = max(1, min(remoteCachedPage, (maxCachedPages*remoteCachedPage-names)/(len(sorted)-pending)))
		}
		cached, err := n.listPage(ctx, b, local, after)
		if err != nil {
			return nil, err
		}
		// Every name is the remote's, but a shard's members are listed
		// from its cached copy: those of a target that could not be
		// listed are missing, and the page says so.
		if msg.Flags&api.ListArchive != 0 {
			for _, t := range cached.Incomplete {
				if !slices.Contains(page.Incomplete, t) {
					page.Incomplete = append(page.Incomplete, t)
				}
			}
		}
		for _, e := range cached.Entries {
			if e.Flags&api.EntryInArch == 0 {
				names++
			}
			if e.Flags&api.EntryInArch != 0 {
				if shard, _, ok := archiveOfMember(e.Name, present); ok && named[shard] {
					if membersBytes += entryBytes(&e); membersBytes > maxListBytes {
						return nil, badRequest("list %s: the members of this page's %d cached shards take more than %d MiB; list fewer objects a page (pagesize)", b, len(list), maxListBytes>>20)
					}
					members[shard] = append(members[shard], e)
				}
				continue
			}
			present[e.Name] = e
		}
		// On from where the page was cut (not its last entry, which may
		// be a shard's member or be left out, as a directory): the names
		// up to there are looked up.
		cut, err := decodeToken(cached.ContinuationToken)
		if cached.ContinuationToken == "" || err != nil {
			break
		}
		for pending < len(sorted) && sorted[pending] <= cut {
			pending++
		}
		if pending == len(sorted) {
			break
		}
		after = max(cut, justBefore(sorted[pending]))
	}
	for _, o := range list {
		// The remote's own attributes, and what only the cached copy
		// has: a copy older than the remote's object shows the remote's
		// size and version, as a GET with validation would serve.
		e := api.ListEntry{Name: o.Name, Size: o.Size, Version: o.Version, ETag: store.ETagOf(o)}
		if modified := store.ModifiedOf(o); modified.Unix() > 0 {
			e.Mtime = modified.Format(time.RFC3339Nano)
		}
		if c, ok := present[o.Name]; ok {
			e.Checksum, e.Atime, e.Location, e.Copies = c.Checksum, c.Atime, c.Location, c.Copies
			e.Flags = c.Flags | api.EntryPresent
			// A copy the remote replaced since (a GET without validation
			// serves the cached bytes): said, as AIStore does, by its
			// size. (The copy's own version is the cluster's numbering,
			// not the remote's.)
			if o.Size >= 0 && c.Size != o.Size {
				e.Flags |= api.EntryVerChanged
			}
		}
		page.Entries = append(page.Entries, e)
		// A cached shard's files follow it, as in a listing of what is
		// cached (an uncached one's would need the shard fetched).
		page.Entries = append(page.Entries, members[o.Name]...)
	}
	return page, nil
}

// archiveOfMember returns the shard, among those listed, a shard
// member's name is in: the longest listed prefix of it before a slash.
func archiveOfMember(name string, listed map[string]api.ListEntry) (shard, member string, ok bool) {
	for i := len(name) - 1; i > 0; i-- {
		if name[i] == '/' {
			if _, found := listed[name[:i]]; found {
				return name[:i], name[i+1:], true
			}
		}
	}
	return "", "", false
}

// remoteCachedPage is the page size of the lookup of what the targets
// have cached of a remote page's names; maxCachedPages bounds the pages
// (cached names the remote no longer has fill them), beside one per name
// of the remote's page (pages cut short by bytes).
var remoteCachedPage = api.MaxPageSize

const maxCachedPages = 10

// justBefore returns a name that sorts just before name: no name of the
// bucket (valid UTF-8, so without 0xff bytes) falls between them.
func justBefore(name string) string {
	if name == "" {
		return ""
	}
	last := name[len(name)-1]
	if last == 0 {
		return name[:len(name)-1]
	}
	return name[:len(name)-1] + string([]byte{last - 1, 0xff})
}

// prefetchSelected fetches the selected objects of a remote bucket this
// target owns and does not have, a few at a time.
func (n *Node) prefetchSelected(ctx context.Context, b store.Bucket, req peer.JobRequest, p *store.Progress) (any, error) {
	props, err := n.bucketProps(b)
	if err != nil {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(prefetchWorkers)
	var fetched, skipped, cached atomic.Int64
	// An object that fails (the remote's error, a stall) does not stop
	// the others: the job ends failed, naming how many and the first few.
	var failures struct {
		sync.Mutex
		count int
		first []string
	}
	fetches := n.downloadShare(b, req.Targets)
	// The map changed since the job started: the owner's cold GET (what
	// it has cached, it sends back) fills it.
	throughOwner := func(name string) error {
		client := n.clusterClient()
		if _, err := client.HeadCached(gctx, b.String(), name); err == nil {
			cached.Add(1)
			return nil
		}
		body, meta, err := client.Get(gctx, b.String(), name, api.GetOptions{})
		if err == nil {
			_, err = io.Copy(io.Discard, body)
			body.Close()
		}
		if err == nil {
			// The owner serves a large object as it streams in, and
			// commits its copy once the read ends, or keeps none (its
			// disk filled): looked for until it shows.
			err = n.ownerKept(gctx, b, name)
		}
		if err != nil {
			return fmt.Errorf("prefetch %s/%s through its owner: %w", b, name, err)
		}
		fetched.Add(1)
		p.Objects.Add(1)
		p.Bytes.Add(meta.Size)
		return nil
	}
	fetch := func(name string) error {
		if !n.owns(b, name) {
			return throughOwner(name)
		}
		if _, err := n.local.Head(gctx, b, name); err == nil {
			cached.Add(1)
			return nil
		}
		obj, err := n.config.Store.Open(gctx, b, name, store.OpenOptions{})
		if err != nil && !n.owns(b, name) {
			return throughOwner(name) // it moved while it was fetched: not kept here
		}
		if err != nil {
			return fmt.Errorf("prefetch %s/%s: %w", b, name, err)
		}
		size := obj.Meta().Size
		obj.Close()
		fetched.Add(1)
		p.Objects.Add(1)
		p.Bytes.Add(size)
		return nil
	}
	each := func(name string) error {
		if !fetches(name) {
			return nil
		}
		g.Go(func() error {
			// A name the remote does not have (a template's gap) or that
			// cannot be stored here is skipped, as AIStore's prefetch
			// does: one must not stop the rest.
			err := fetch(name)
			switch {
			case err == nil:
			case errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidName):
				skipped.Add(1)
				n.logger.Debug("prefetch skips an object", "bucket", b.String(), "name", name, "err", err)
			case gctx.Err() != nil:
				return err // aborted, or the listing failed
			default:
				n.logger.Warn("prefetch of an object failed", "bucket", b.String(), "name", name, "err", err)
				failures.Lock()
				failures.count++
				if len(failures.first) < 3 {
					failures.first = append(failures.first, err.Error())
				}
				failures.Unlock()
			}
			return nil
		})
		return nil
	}
	if len(req.Names) > 0 || req.Template != "" {
		err = n.eachSelected(gctx, b, req, each)
	} else {
		err = n.eachRemote(gctx, b, props, req.Prefix, each)
	}
	if werr := g.Wait(); err == nil {
		err = werr
	}
	if err == nil && failures.count > 0 {
		err = fmt.Errorf("prefetch %s: %d objects failed (%s)", b, failures.count, strings.Join(failures.first, "; "))
	}
	return map[string]int64{"fetched": fetched.Load(), "cached": cached.Load(), "skipped": skipped.Load(), "failed": int64(failures.count)}, err
}

// ownerKeptWait bounds the look for a copy the owner commits after the
// read that fetched it ends.
var ownerKeptWait = 10 * time.Second

// ownerKept waits for the cluster to hold a copy of a remote bucket's
// object its owner just served: an error when it keeps none.
func (n *Node) ownerKept(ctx context.Context, b store.Bucket, name string) error {
	deadline := time.Now().Add(ownerKeptWait)
	for pause := 5 * time.Millisecond; ; pause = min(2*pause, 500*time.Millisecond) {
		_, err := n.clusterClient().HeadCached(ctx, b.String(), name)
		if err == nil || !errors.Is(err, api.ErrNotFound) {
			return err
		}
		if time.Now().Add(pause).After(deadline) {
			return fmt.Errorf("the owner served it but kept no copy (%v later)", ownerKeptWait)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(pause):
		}
	}
}

// eachRemote calls fn on every name of a remote bucket under a prefix.
func (n *Node) eachRemote(ctx context.Context, b store.Bucket, props store.Props, prefix string, fn func(string) error) error {
	// The first failure ends the listing too: a delete the remote
	// refuses must not page through millions of names first.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var fnErr error
	err := n.eachRemoteObject(ctx, b, props, prefix, func(o store.ObjectMeta) {
		if fnErr == nil {
			if fnErr = fn(o.Name); fnErr != nil {
				cancel(fnErr)
			}
		}
	})
	if fnErr != nil {
		return fnErr
	}
	return err
}

// eachRemoteObject walks a remote bucket's listing under a prefix.
func (n *Node) eachRemoteObject(ctx context.Context, b store.Bucket, props store.Props, prefix string, fn func(store.ObjectMeta)) error {
	if n.config.RemoteBuckets == nil {
		return badRequest("bucket %s: remote buckets are not configured", b)
	}
	// The tokens of the pages walked (their hashes): one seen again (a
	// remote's tokens going round, or ignored) would walk for ever, its
	// objects counted again and again. (Not the names' order: some
	// remotes, S3's directory buckets, list out of it.)
	token, seen := "", map[uint64]bool{}
	for {
		// Each page within its time: a remote that stalls in a page
		// would otherwise hold the job until it is aborted.
		pageCtx, cancel := context.WithTimeout(ctx, remotePageTimeout)
		list, next, err := n.config.RemoteBuckets.List(pageCtx, b, props, prefix, token, 1000)
		timedOut := pageCtx.Err() != nil // (read before cancel, which sets it)
		cancel()
		if err != nil {
			if ctx.Err() == nil && timedOut {
				err = fmt.Errorf("%w: bucket %s: a page of the remote's listing did not come within %s: %w", store.ErrRemote, b, remotePageTimeout, err)
			}
			return remoteError(err)
		}
		if token != "" && next == token {
			// Its tokens ignored: this page is the first again, walked
			// already.
			return remoteError(fmt.Errorf("%w: bucket %s: the remote's listing answered a continuation token with itself: its tokens do not advance", store.ErrRemote, b))
		}
		for _, o := range list {
			if err := ctx.Err(); err != nil {
				return context.Cause(ctx)
			}
			fn(o)
		}
		if next == "" {
			return nil
		}
		if len(seen) >= api.MaxSeenTokens {
			clear(seen) // bounded: a cycle of so many pages goes unseen
		}
		seen[xxhash.Sum64String(token)] = true
		if seen[xxhash.Sum64String(next)] {
			return remoteError(fmt.Errorf("%w: bucket %s: the remote's listing gave a continuation token it gave before: its tokens do not advance", store.ErrRemote, b))
		}
		token = next
	}
}

// evictSelected removes the cached copies of the selected objects from
// this target; the remote keeps them.
func (n *Node) evictSelected(ctx context.Context, b store.Bucket, req peer.JobRequest, p *store.Progress) (any, error) {
	// Through erasure coding: parts left would restore the object.
	evicted, err := n.removeSelected(ctx, b, req, p, n.held, func(name string) store.DeleteOptions { return n.evictOptions(b, name) })
	return map[string]int{"evicted": evicted}, err
}

// evictOptions deletes a cached copy: the owner's goes with its parts
// (left, they would restore it) and its tombstone; a copy on another
// target (not moved yet, or left by a map change) goes alone, as the
// parts and any tombstone are those of the owner's object, which may be
// the same version (a copy restored from them is the remote's anyway).
func (n *Node) evictOptions(b store.Bucket, name string) store.DeleteOptions {
	off := !n.owns(b, name)
	return store.DeleteOptions{Stamp: n.stamp(), LocalOnly: off, KeepParts: off}
}

// handlePrefetch serves prefetch-listrange on a remote bucket.
func (n *Node) handlePrefetch(w http.ResponseWriter, r *http.Request, b store.Bucket, msg api.ActionMessage) {
	if !b.IsRemote() {
		n.writeError(w, r, badRequest("%s: %s is not a remote bucket: its objects are all here", msg.Action, b))
		return
	}
	n.startListRangeJob(w, r, b, msg, jobPrefetch, false)
}

// handleEvict serves evict-listrange (the selected objects) and
// evict-remote-bck (the whole bucket: it leaves the bucket metadata and
// every cached object goes); the remote keeps everything.
func (n *Node) handleEvict(w http.ResponseWriter, r *http.Request, b store.Bucket, msg api.ActionMessage) {
	if !b.IsRemote() {
		n.writeError(w, r, badRequest("%s: %s is not a remote bucket: only a remote bucket's cached objects can be evicted", msg.Action, b))
		return
	}
	if _, err := n.requestedBucketProps(b); err != nil {
		n.writeError(w, r, err)
		return
	}
	if msg.Action == api.ActionEvictRemote {
		if err := n.proposeDestroy(r.Context(), b); err != nil {
			n.writeError(w, r, membershipError(err))
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	n.startListRangeJob(w, r, b, msg, jobEvict, true)
}

// knowsBucket reports whether this node's metadata has a bucket; after a
// gateway's redirect (which added it), it waits for the metadata a moment.
func (n *Node) knowsBucket(ctx context.Context, b store.Bucket, wait bool) bool {
	deadline := time.Now().Add(mapWait)
	for {
		if _, ok := n.currentBuckets().Props(b); ok {
			return true
		}
		if !wait || time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}
