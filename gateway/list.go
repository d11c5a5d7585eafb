package gateway

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/store"
)

// listMessage reads the list request from the JSON body (AIStore's
// {"action":"list","value":{...}}) or, for curl and browsers, from query
// parameters.
func listMessage(r *http.Request, action api.ActionMessage) (api.ListObjectsMessage, error) {
	var msg api.ListObjectsMessage
	if action.Action != "" || len(action.Value) > 0 {
		if action.Action != api.ActionList {
			return msg, badRequest("bucket GET: action %q is not supported (want %q)", action.Action, api.ActionList)
		}
		if err := decodeJSON(action.Value, &msg); err != nil {
			return msg, badRequest("list: %w", err)
		}
	}
	q := r.URL.Query()
	set := func(dst *string, key string) {
		if v := q.Get(key); v != "" {
			*dst = v
		}
	}
	set(&msg.Prefix, api.QueryPrefix)
	set(&msg.Props, api.QueryProps)
	set(&msg.ContinuationToken, api.QueryToken)
	set(&msg.StartAfter, api.QueryStartAfter)
	set(&msg.TimeFormat, api.QueryTimeFormat)
	if _, err := timeLayout(msg.TimeFormat); err != nil {
		return msg, err
	}
	if v := q.Get(api.QueryPageSize); v != "" {
		size, err := strconv.Atoi(v)
		if err != nil {
			return msg, badRequest("pagesize %q is not a number", v)
		}
		msg.PageSize = size
	}
	if v := q.Get(api.QueryFlags); v != "" {
		flags, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return msg, badRequest("flags %q is not an unsigned number", v)
		}
		msg.Flags = api.FlagString(flags)
	}
	if msg.PageSize < 0 {
		return msg, badRequest("pagesize %d is negative", msg.PageSize)
	}
	if msg.Flags&api.ListNotCached != 0 {
		return msg, badRequest("not-cached (flags %d): not supported; list the remote bucket whole, or what is cached with flags %d", api.ListNotCached, api.ListCached)
	}
	if _, err := parseListProps(msg.Props); err != nil {
		return msg, err
	}
	// Sent on to every target, in its URL: no name is longer.
	for key, v := range map[string]string{api.QueryPrefix: msg.Prefix, api.QueryStartAfter: msg.StartAfter} {
		if len(v) > store.MaxNameLength {
			return msg, badRequest("%s of %d bytes: an object name has at most %d", key, len(v), store.MaxNameLength)
		}
	}
	if msg.PageSize == 0 || msg.PageSize > api.MaxPageSize {
		msg.PageSize = api.MaxPageSize
	}
	return msg, nil
}

// maxTokenBytes bounds a decoded continuation token: a name, or a remote
// bucket's own token (S3 servers make theirs of a key, and longer).
const maxTokenBytes = 8 << 10

// encodeToken makes a continuation token of the last name of a page.
func encodeToken(lastName string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(lastName))
}

// decodeToken reads a continuation token back.
func decodeToken(token string) (string, error) {
	if token == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) > maxTokenBytes {
		return "", badRequest("continuation_token %q is not one this cluster issued", token)
	}
	return string(b), nil
}

// maxListPropsBytes bounds a listing's props, sent on to every target
// and read there once per page: AIStore's every name fits many times.
const maxListPropsBytes = 1 << 10

// listProps is what a listing's props ask for beyond name and size.
type listProps struct {
	meta   bool // checksum, atime, version, etag
	copies bool // copies, location
}

// parseListProps reads a listing's comma-separated props; a name it does
// not know asks for nothing (as in AIStore).
func parseListProps(props string) (listProps, error) {
	var lp listProps
	if len(props) > maxListPropsBytes {
		return lp, badRequest("props of %d bytes: at most %d (names such as name,size,checksum,atime)", len(props), maxListPropsBytes)
	}
	for p := range strings.SplitSeq(props, ",") {
		switch strings.TrimSpace(p) {
		case "checksum", "atime", "version", "etag":
			lp.meta = true
		case "copies", "location":
			lp.copies = true
		}
	}
	return lp, nil
}

// handleListObjects lists a bucket through a gateway: every target lists
// its page after the token and the gateway merges them in name order.
// Walking all pages returns each object once, in order.
func (n *Node) handleListObjects(w http.ResponseWriter, r *http.Request) {
	b, err := bucketOf(r)
	if err == nil {
		err = n.requireGateway()
	}
	var action api.ActionMessage
	if err == nil {
		err = decodeBody(r, &action)
	}
	if err == nil && action.Action == api.ActionSummaryBucket {
		n.handleSummary(w, r, b, action.Value)
		return
	}
	if err == nil {
		_, err = n.requestedBucketProps(b)
	}
	var msg api.ListObjectsMessage
	if err == nil {
		msg, err = listMessage(r, action)
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	after, err := decodeToken(msg.ContinuationToken)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	var page *api.ListPage
	// An HTTP origin cannot be listed: what is cached is what there is.
	if props, _ := n.bucketProps(b); b.IsRemote() && b.Provider != store.ProviderHT && msg.Flags&api.ListCached == 0 {
		if msg.StartAfter != "" {
			n.writeError(w, r, badRequest("start_after: not supported in a listing of remote bucket %s (page with continuation_token, or list what is cached with flags %d)", b, api.ListCached))
			return
		}
		if msg.Flags&api.ListNoRecursion != 0 {
			// The remote is listed flat: one level of it would be every
			// name under the prefix.
			n.writeError(w, r, badRequest("no-recursion (flags %d): not supported in a listing of remote bucket %s (list it whole, or list what is cached with flags %d)", api.ListNoRecursion, b, api.ListCached))
			return
		}
		// The token wraps the remote's own.
		msg.ContinuationToken = after
		page, err = n.listRemote(r.Context(), b, props, msg)
		if err == nil && page.ContinuationToken != "" {
			page.ContinuationToken = encodeToken(page.ContinuationToken)
		}
	} else {
		after = max(after, msg.StartAfter)
		page, err = n.listPage(r.Context(), b, msg, after)
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	if acceptsMsgpack(r) {
		if len(page.Incomplete) > 0 {
			// AIStore's msgpack page has no field to say so: a partial
			// page would read whole (a sync, a delete acting on it).
			w.Header().Set("Retry-After", "1")
			n.writeError(w, r, fmt.Errorf("%w: targets %s are offline: the listing would miss their objects (the JSON answer names them in incomplete)", api.ErrUnavailable, strings.Join(page.Incomplete, ", ")))
			return
		}
		writeMsgpack(w, page)
		return
	}
	writeJSON(w, page)
}

// listPage gathers one page from every target.
// dedupeListing sorts the targets' entries by name and keeps one of each
// name: the same name on two targets (an object being moved, a copy not
// yet removed) counts once, as its owner lists it (the copy a write goes
// to), not as whichever target answered first. targetOf names the target
// of entry k, ownerOf the owner of a name.
func dedupeListing(all []api.ListEntry, targetOf func(k int) string, ownerOf func(name string) string) []api.ListEntry {
	order := make([]int, len(all))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(x, y int) int { return strings.Compare(all[x].Name, all[y].Name) })
	out := make([]api.ListEntry, 0, len(all))
	for i := 0; i < len(order); {
		j := i + 1
		for j < len(order) && all[order[j]].Name == all[order[i]].Name {
			j++
		}
		pick := order[i]
		if j-i > 1 {
			owner := ownerOf(all[pick].Name)
			for _, k := range order[i:j] {
				if targetOf(k) == owner {
					pick = k
					break
				}
			}
		}
		out = append(out, all[pick])
		i = j
	}
	return out
}

func (n *Node) listPage(ctx context.Context, b store.Bucket, msg api.ListObjectsMessage, after string) (*api.ListPage, error) {
	// An offline target cannot answer: the page says which, so that it
	// is not taken for whole (its objects are away, not gone).
	smap := n.currentMap()
	var incomplete []string
	for _, t := range smap.Targets() {
		if t.State == cluster.StateOffline {
			incomplete = append(incomplete, t.ID)
		}
	}
	targets := smap.Reachable()
	if len(targets) == 0 {
		return nil, cluster.ErrNoTargets
	}
	q := url.Values{}
	q.Set(api.QueryPrefix, msg.Prefix)
	q.Set(api.QueryStartAfter, after)
	q.Set(api.QueryPageSize, strconv.Itoa(msg.PageSize))
	q.Set(api.QueryProps, msg.Props)
	flags := uint64(msg.Flags)
	if flags&api.ListNoRecursion != 0 {
		flags |= api.ListNoRecursionBefore // (an earlier build's target)
	}
	q.Set(api.QueryFlags, strconv.FormatUint(flags, 10))
	q.Set(api.QueryTimeFormat, msg.TimeFormat)
	q.Set(queryListTargets, strconv.Itoa(len(targets)))
	q.Set(queryListCut, "true")
	// Which bucket of the name (created when): a target behind on its
	// destroy and create would list the destroyed one's objects, or
	// none of a bucket it has not taken yet.
	if created := n.bucketCreated(b); created != 0 {
		q.Set(queryBucketCreated, strconv.FormatInt(created, 10))
		q.Set(queryBucketsVersion, strconv.FormatInt(n.currentBuckets().Version, 10))
	}
	pages := make([][]api.ListEntry, len(targets))
	cuts := make([]bool, len(targets))
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { pages[i], cuts[i], errs[i] = n.peer.List(ctx, t, b, q) })
	}
	wg.Wait()
	// A page a target cut short by bytes ends this page at its last name:
	// the names past it there are still to list.
	bound, bounded := "", false
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("list %s on target %s: %w", b, targets[i].ID, err)
		}
		if cuts[i] && len(pages[i]) > 0 {
			if last := pages[i][len(pages[i])-1].Name; !bounded || last < bound {
				bound, bounded = last, true
			}
		}
	}
	var all []api.ListEntry
	var from []int // the target of each entry
	for i := range pages {
		for _, e := range pages[i] {
			if bounded && e.Name > bound {
				break // (a page is in name order)
			}
			all = append(all, e)
			from = append(from, i)
		}
	}
	merged := dedupeListing(all, func(k int) string { return targets[from[k]].ID }, func(name string) string {
		owner, _ := smap.Owner(cluster.Uname(b.Provider, b.Name, name))
		return owner.ID
	})
	page := &api.ListPage{Entries: merged, Incomplete: incomplete}
	if len(merged) >= msg.PageSize {
		page.Entries = merged[:msg.PageSize]
	}
	if (len(merged) >= msg.PageSize || bounded) && len(page.Entries) > 0 {
		page.ContinuationToken = encodeToken(page.Entries[len(page.Entries)-1].Name)
	}
	// A shard's members follow it; the token stays the shard's name.
	var flat []api.ListEntry
	for _, e := range page.Entries {
		if e.Flags&api.EntryIsDir != 0 && msg.Flags&api.ListNoDirs != 0 {
			continue // counted, not shown
		}
		members := e.Members
		e.Members = nil
		flat = append(flat, e)
		flat = append(flat, members...)
	}
	page.Entries = flat
	if page.Entries == nil {
		page.Entries = []api.ListEntry{}
	}
	return page, nil
}

// timeLayouts are the names a time_format may give.
var timeLayouts = map[string]string{
	"": time.RFC822, "RFC822": time.RFC822, "RFC822Z": time.RFC822Z, "RFC1123": time.RFC1123, "RFC1123Z": time.RFC1123Z,
	"RFC3339": time.RFC3339, "RFC3339Nano": time.RFC3339Nano, "Stamp": time.Stamp, "StampMilli": time.StampMilli,
	"DateTime": time.DateTime, "Kitchen": time.Kitchen, "ANSIC": time.ANSIC, "UnixDate": time.UnixDate,
}

// timeLayout returns the layout a time_format names: a name of
// timeLayouts, or a Go layout of at most 64 bytes.
func timeLayout(format string) (string, error) {
	if layout, ok := timeLayouts[format]; ok {
		return layout, nil
	}
	if len(format) > 64 || !strings.ContainsAny(format, "0123456789") {
		return "", badRequest("time_format %.64q is neither a known name (RFC822, RFC3339, RFC3339Nano, RFC1123...) nor a Go time layout", format)
	}
	return format, nil
}

// maxArchiveMembers bounds the members listed of one shard.
const maxArchiveMembers = 100000

// maxListBytes bounds what a listing page takes (entries' names and
// fields, archive members' too), shared among the targets a gateway asks
// (it holds every target's page at once): the page is built in memory,
// and a gateway takes no bigger answer from a target (peer.MaxAnswer).
// Names heavy in escapes take six bytes a byte; a shard's member names
// may be long (a tar name up to 1 MiB) and compress well.
var maxListBytes int64 = 48 << 20

// errOverBudget is a page's bytes past its bound.
var errOverBudget = errors.New("over the page's bound on bytes")

// queryListTargets tells a target how many targets a gateway's listing
// asks, to share the bound on bytes by.
const queryListTargets = "list_targets"

// queryListCut tells a target its gateway ends a page where the target
// cut its own (an older gateway would take a cut page for the end).
const queryListCut = "list_cut"

// jsonLength is how many bytes a string takes in the JSON answer: up to
// six a byte (<, >, &, control bytes and invalid UTF-8 are escaped).
func jsonLength(s string) int {
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"', r == '\\', r == '\n', r == '\r', r == '\t', r == '\b', r == '\f':
			n += 2
		case r == utf8.RuneError && size == 1, r < 0x20, r == '<', r == '>', r == '&', r == 0x2028, r == 0x2029:
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}

// entryFieldBytes is about what an entry's keys and small fields take.
const entryFieldBytes = 96

// entryBytes is about what an entry takes in the JSON answer.
func entryBytes(e *api.ListEntry) int64 {
	return int64(jsonLength(e.Name)+jsonLength(e.Version)+jsonLength(e.Location)+
		len(e.Checksum)+len(e.Atime)+len(e.ETag)+len(e.Mtime)) + entryFieldBytes
}

// handleLocalList answers a gateway with this target's page.
func (n *Node) handleLocalList(w http.ResponseWriter, r *http.Request) {
	b, err := bucketOf(r)
	if err == nil && n.config.Store == nil {
		err = badRequest("node %s stores no objects", n.config.ID)
	}
	q := r.URL.Query()
	var layout string
	if err == nil {
		layout, err = timeLayout(q.Get(api.QueryTimeFormat))
	}
	var props listProps
	if err == nil {
		props, err = parseListProps(q.Get(api.QueryProps))
	}
	var flags uint64
	if err == nil && q.Get(api.QueryFlags) != "" {
		if flags, err = strconv.ParseUint(q.Get(api.QueryFlags), 10, 64); err != nil {
			err = badRequest("flags %q is not a number", q.Get(api.QueryFlags))
		}
	}
	if err == nil {
		if err = n.awaitBucket(r.Context(), b, q.Get(queryBucketCreated), q.Get(queryBucketsVersion)); err != nil {
			w.Header().Set("Retry-After", "1")
		}
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	limit, _ := strconv.Atoi(q.Get(api.QueryPageSize))
	if limit <= 0 || limit > api.MaxPageSize {
		limit = api.MaxPageSize
	}
	opts := store.ListOptions{Prefix: q.Get(api.QueryPrefix), StartAfter: q.Get(api.QueryStartAfter), Limit: limit, WithMeta: props.meta}
	var objects []store.ObjectMeta
	var dirs []string
	if flags&(api.ListNoRecursion|api.ListNoRecursionBefore) != 0 {
		objects, dirs, err = n.listLevel(r.Context(), b, opts)
	} else {
		objects, err = n.config.Store.List(r.Context(), b, opts)
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	out := make([]api.ListEntry, 0, len(objects)+len(dirs))
	// The gateway merges every target's page: the bound on bytes is the
	// whole page's, shared, but never under an eighth of it (one big
	// shard on a page of a large cluster is listed still). A page past it
	// ends before the entry that would pass it, and says so, when its
	// gateway ends its page there (queryListCut); its first entry alone
	// past it is refused, naming what to ask instead.
	asked, _ := strconv.Atoi(q.Get(queryListTargets))
	budget := max(maxListBytes/int64(min(max(asked, 1), 1024)), maxListBytes/8)
	share := budget // for the error
	cuts, cut := q.Get(queryListCut) != "", false
	// The directories go to the gateway even with ListNoDirs: they count
	// toward the page, and the gateway drops them once it has cut the
	// page (a page of directories only is not the end of the level).
	// Objects and directories are taken in name order, so that a cut
	// page is all names up to its last.
	for i, j := 0, 0; i < len(objects) || j < len(dirs); {
		var e api.ListEntry
		object := j == len(dirs) || (i < len(objects) && objects[i].Name < dirs[j])
		if object {
			e = n.listEntry(r.Context(), b, objects[i], props, layout)
			i++
		} else {
			e = api.ListEntry{Name: dirs[j], Flags: api.EntryIsDir}
			j++
		}
		// (An older gateway's page is bounded by its members alone, as
		// before: it would take a cut page for the end.)
		if cuts {
			if budget -= entryBytes(&e); budget < 0 && len(out) > 0 {
				cut = true
				break
			}
		}
		if object && flags&api.ListArchive != 0 {
			if e.Members, err = n.archiveMembers(r.Context(), b, e.Name, &budget); errors.Is(err, errOverBudget) && len(out) > 0 && cuts {
				cut = true
				break
			}
			if errors.Is(err, errOverBudget) {
				err = badRequest("list archive members in %s: the members of this page's shards (up to %s) take more than this target's %d KiB; list fewer objects a page (pagesize), or read a big shard's index", b, e.Name, share>>10)
			}
			if err != nil {
				n.writeError(w, r, err)
				return
			}
		}
		out = append(out, e)
	}
	if cut {
		w.Header().Set(peer.HeaderListCut, "true")
	}
	writeJSON(w, out)
}

// listEntry is an object's entry with the props asked for.
func (n *Node) listEntry(ctx context.Context, b store.Bucket, o store.ObjectMeta, props listProps, layout string) api.ListEntry {
	e := api.ListEntry{Name: o.Name, Size: o.Size, Version: o.Version, Flags: api.EntryPresent}
	if !o.Checksum.IsEmpty() {
		e.Checksum = o.Checksum.Value
	}
	if !o.Atime.IsZero() {
		e.Atime = o.Atime.UTC().Format(layout)
	}
	// The ETag and time HEAD gives: a remote bucket's copy shows the
	// remote's when it has no S3 ETag of its own (an encrypted or
	// multipart object's is not an MD5), an object without a checksum
	// its write's stamp.
	if etag := store.ETagOf(o); etag != e.Checksum || o.Custom[store.CustomETag] != "" || o.Custom[store.CustomRemoteETag] != "" {
		e.ETag = etag
	}
	if modified := store.ModifiedOf(o); modified.Unix() > 0 && (o.Stamp.Clock > 0 || o.Custom[store.CustomRemoteModified] != "") {
		e.Mtime = modified.Format(time.RFC3339Nano)
	}
	if props.copies {
		e.Copies = 1
		if n.config.Storage != nil {
			if copies, err := n.config.Storage.Copies(ctx, b, o.Name); err == nil {
				if current := currentCopies(copies); len(current) > 0 {
					e.Copies = int16(min(len(current), 1<<14))
					e.Location = "t[" + n.config.ID + "]:mp[" + current[0].Mountpath + "]"
				}
			}
		}
		if e.Location == "" {
			e.Location = "t[" + n.config.ID + "]"
		}
	}
	return e
}

// listLevel lists one level under the prefix (ListNoRecursion): the
// objects there and the directories below, at most opts.Limit in all.
func (n *Node) listLevel(ctx context.Context, b store.Bucket, opts store.ListOptions) (objects []store.ObjectMeta, dirs []string, err error) {
	after := opts.StartAfter
	if strings.HasSuffix(after, "/") {
		after += "\xff" // past the directory a page ended with
	}
	// A directory takes its first object of a batch, and the rest are
	// read for nothing: batches start small and grow only over objects
	// of this level, so that a level of directories of thousands of
	// objects each is not read whole for one page.
	batch := levelBatch
next:
	for len(objects)+len(dirs) < opts.Limit {
		want := min(opts.Limit-len(objects)-len(dirs), batch)
		page, err := n.config.Store.List(ctx, b, store.ListOptions{Prefix: opts.Prefix, StartAfter: after, Limit: want, WithMeta: opts.WithMeta})
		if err != nil {
			return nil, nil, err
		}
		for _, o := range page {
			if dir, ok := levelDir(opts.Prefix, o.Name); ok {
				dirs = append(dirs, dir)
				// Names are UTF-8: no byte of theirs is 0xff.
				after = dir + "\xff"
				batch = levelBatch
				continue next
			}
			objects = append(objects, o)
			after = o.Name
		}
		if len(page) < want {
			break
		}
		batch *= 2
	}
	return objects, dirs, nil
}

// levelBatch is the first batch of objects a level's listing asks for.
const levelBatch = 16

// levelDir returns the directory under prefix that holds name, if name is
// not at the prefix's own level. A prefix without a final slash is a
// directory too ("a/b" lists "a/b/x" as x).
func levelDir(prefix, name string) (string, bool) {
	rest := strings.TrimPrefix(name, prefix)
	skip := 0
	if prefix != "" && !strings.HasSuffix(prefix, "/") && strings.HasPrefix(rest, "/") {
		skip = 1
	}
	i := strings.IndexByte(rest[skip:], '/')
	if i < 0 {
		return "", false
	}
	return prefix + rest[:skip+i+1], true
}

// archiveMembers lists a shard's members (ListArchive), each taken from
// the page's budget of bytes; an object that is not a shard of a known
// format, or cannot be read whole as one, has none. Members past the
// budget are errOverBudget; a shard with more than maxArchiveMembers is
// refused, naming what to ask instead.
func (n *Node) archiveMembers(ctx context.Context, b store.Bucket, name string, budget *int64) ([]api.ListEntry, error) {
	f, ok := n.formats.ByName(name)
	if !ok {
		return nil, nil
	}
	obj, err := n.config.Store.Open(ctx, b, name, store.OpenOptions{})
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil // (gone since it was listed)
	}
	if err != nil {
		return nil, unreadMembers(b, name, err)
	}
	defer obj.Close()
	// A zip's reader holds its central directory: counted with the
	// others read at once.
	release, err := n.holdShard(ctx, f, obj)
	if err != nil {
		return nil, err
	}
	defer release()
	// Through the context: one entry of a compressed shard may inflate to
	// far more than the shard, long after the caller went.
	rd, err := f.NewReader(contextReaderAt{ctx, obj}, obj.Meta().Size, name)
	if err != nil {
		return nil, unreadMembers(b, name, err)
	}
	var out []api.ListEntry
	for {
		if err := ctx.Err(); err != nil {
			return nil, context.Cause(ctx)
		}
		e, err := rd.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, unreadMembers(b, name, err)
		}
		if len(out) == maxArchiveMembers {
			return nil, badRequest("list archive members in %s: shard %s has more than %d members; read its index, or the shard itself", b, name, maxArchiveMembers)
		}
		if *budget -= int64(jsonLength(name)+1+jsonLength(e.Name)) + entryFieldBytes; *budget < 0 {
			return nil, errOverBudget
		}
		out = append(out, api.ListEntry{Name: name + "/" + e.Name, Size: e.Size, Flags: api.EntryInArch | api.EntryPresent})
	}
}

// unreadMembers is what a shard's members not read answer: a shard that
// does not read as one has none (not some of them), while a disk that
// fails the read fails the page (a short listing is not a complete one).
func unreadMembers(b store.Bucket, name string, err error) error {
	var pathErr *fs.PathError
	var errno syscall.Errno
	if errors.As(err, &pathErr) || errors.As(err, &errno) || errors.Is(err, store.ErrIO) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("list archive members in %s: shard %s: %w", b, name, err)
	}
	return nil
}
