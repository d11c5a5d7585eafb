package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"path"
	"slices"
	"sync/atomic"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/authn"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/shards"
	"github.com/aisgo/aisgo/store"
)

// The archive job (AIStore's archive action): the selected objects of a
// bucket, in order, written into one shard by the target that owns the
// shard. It reads them as get-batch does (its own from its store, the
// others from their owners, a few ahead) and stores the shard as a PUT,
// so the shard appears whole or not at all.

const (
	jobArchive = "archive"
	// maxArchiveObjects bounds the objects one archive job takes.
	maxArchiveObjects = 1_000_000
	// maxArchiveNameBytes bounds what a job holds of its objects: each
	// name (with its string's 16 bytes) and its entry of the shard
	// (archiveItemBytes).
	maxArchiveNameBytes = 256 << 20
	// archiveItemBytes is what a job holds per object beside its name.
	archiveItemBytes = 16 + 200
	// archiveWriters bounds the archive jobs a target writes at once
	// (each may hold maxArchiveNameBytes); the others wait their turn.
	archiveWriters = 8
)

// handleBucketPut serves PUT on a bucket: AIStore's archive action.
func (n *Node) handleBucketPut(w http.ResponseWriter, r *http.Request) {
	src, msg, ok := n.bucketAction(w, r, api.ActionArchive)
	if !ok {
		return
	}
	var value api.ArchiveMessage
	err := decodeJSON(msg.Value, &value)
	if err != nil {
		err = badRequest("archive: value: %w", err)
	}
	dst := src
	if err == nil && value.ToBck.Name != "" {
		dst = store.Bucket{Name: value.ToBck.Name, Provider: value.ToBck.Provider}.Normalize()
		err = dst.Validate()
		if err == nil {
			if nerr := value.ToBck.CheckNamespace(); nerr != nil {
				err = fmt.Errorf("archive: tobck: %w", nerr)
			}
		}
	}
	if err == nil {
		if verr := store.ValidateName(value.ArchName); verr != nil {
			err = badRequest("archive: archname: %w", verr)
		}
	}
	if err == nil {
		_, err = n.archiveOutput(value)
	}
	if err == nil && dst.Provider == store.ProviderHT {
		// Refused by its PUT only once the whole shard was made.
		err = badRequest("archive: %s is an HTTP origin's bucket, filled by reading its objects: it takes no writes", dst)
	}
	if err == nil {
		err = n.authorizeBucket(r, authn.PermPut, dst)
	}
	if err == nil {
		_, err = n.requestedBucketProps(src)
	}
	if err == nil {
		_, err = n.requestedBucketProps(dst)
	}
	req := peer.JobRequest{Kind: jobArchive, Bucket: src, To: dst, Archive: &value}
	if err == nil && n.currentMap() == nil {
		err = fmt.Errorf("%w: node %s is starting", api.ErrUnavailable, n.config.ID)
	}
	if err == nil {
		var owner cluster.Node
		if owner, err = n.currentMap().Owner(cluster.Uname(dst.Provider, dst.Name, value.ArchName)); err == nil {
			req.Writer = owner.ID
		}
	}
	if err == nil {
		req, err = listRangeRequest(req, value.ListRange)
	}
	if err == nil && len(req.Names) > maxArchiveObjects {
		err = badRequest("archive: %d objects named, at most %d a shard", len(req.Names), maxArchiveObjects)
	}
	if err == nil && len(req.Names) > 0 {
		// Their members' names are known here: refused before the job
		// starts, not found by its writer. (Two objects of one member
		// clash only when both are there: the job's to tell.)
		named := make(map[string]bool, len(req.Names))
		for _, name := range req.Names {
			if src.Normalize() == dst.Normalize() && name == value.ArchName {
				continue // (the job leaves the shard itself out)
			}
			if named[name] {
				err = badRequest("archive: object %q is named twice", name)
				break
			}
			named[name] = true
			if _, err = archiveEntry(&value, src.Normalize(), dst.Normalize(), name); err != nil {
				break
			}
		}
	}
	if err == nil && req.Template != "" {
		err = checkArchiveTemplate(req.Template)
	}
	if err == nil && value.NonRecursive && (len(req.Names) > 0 || req.Template != "") {
		// It leaves out the objects below a prefix's directories: names
		// and templates select theirs, which would be archived all the
		// same.
		err = badRequest("archive: non-recursive is of a prefix's selection, not of a list or a template")
	}
	n.startJobAnswering(w, r, req, err)
}

// checkArchiveTemplate refuses a template whose names could not all be
// held by the target that lists them: too many, or names that are not
// valid object names (a megabyte of prefix before a range).
func checkArchiveTemplate(text string) error {
	t, err := shards.ParseTemplate(text)
	if err != nil {
		return badRequest("archive: template: %w", err)
	}
	if t.Count() > maxArchiveObjects {
		return badRequest("archive: template %q names %d objects, at most %d a shard", text, t.Count(), maxArchiveObjects)
	}
	first, err := t.At(0)
	if err == nil {
		err = store.ValidateName(first)
	}
	if err != nil {
		return badRequest("archive: template %.64q: %w", text, err)
	}
	if bytes := t.Count() * int64(2*len(first)+archiveItemBytes); bytes > maxArchiveNameBytes {
		return badRequest("archive: template %.64q names %d objects of %d bytes: at most %d MiB of names a shard", text, t.Count(), len(first), maxArchiveNameBytes>>20)
	}
	return nil
}

// archiveOutput is the format of the shard an archive job writes: mime's,
// else its name's; one of the archive formats.
func (n *Node) archiveOutput(msg api.ArchiveMessage) (formats.Format, error) {
	f, ok := n.formats.ByName(msg.ArchName)
	if msg.Mime != "" {
		f, ok = n.formats.ByExtension(msg.Mime)
	}
	if !ok || batchFormats[f.Name()] == "" {
		return nil, badRequest("archive: %q (mime %q) names no archive format: want .tar, .tgz, .zip, .tar.lz4 or .tar.zst", msg.ArchName, msg.Mime)
	}
	return f, nil
}

// archiveEntry is the member an object of src named name takes in the
// shard msg makes in dst: refused when it cannot be a member's name.
func archiveEntry(msg *api.ArchiveMessage, src, dst store.Bucket, name string) (string, error) {
	entry := name
	if msg.BaseNameOnly {
		entry = path.Base(name)
	}
	if msg.InclSrcBname {
		entry = src.Name + "/" + entry
	}
	if err := formats.CheckName(entry); err != nil {
		return "", badRequest("archive %s/%s: object %q cannot be a member named %q (absolute or climbing out as Windows reads it): %v", dst, msg.ArchName, name, entry, err)
	}
	return entry, nil
}

// addArchiveEntry adds archiveEntry to entries, and returns it: refused
// too when it is another object's member already.
func addArchiveEntry(entries map[string]string, msg *api.ArchiveMessage, src, dst store.Bucket, name string) (string, error) {
	entry, err := archiveEntry(msg, src, dst, name)
	if err != nil {
		return "", err
	}
	if other, taken := entries[entry]; taken {
		return "", badRequest("archive %s/%s: objects %q and %q would both be its member %q", dst, msg.ArchName, other, name, entry)
	}
	entries[entry] = name
	return entry, nil
}

// archiveSelected is the archive job on a target: nothing but on the
// shard's owner.
func (n *Node) archiveSelected(ctx context.Context, src store.Bucket, req peer.JobRequest, p *store.Progress) (any, error) {
	msg, dst := req.Archive, req.To.Normalize()
	// The shard's owner when the map changed since is told by its
	// PUT (503: run the job again).
	if msg == nil || req.Writer != n.config.ID {
		return nil, nil
	}
	f, err := n.archiveOutput(*msg)
	if err != nil {
		return nil, err
	}
	if msg.AppendIfExists || dst.IsRemote() {
		// The shard's lock: an append keeps what the shard holds (a
		// write since fails the job, 412, rather than be overwritten),
		// and a remote bucket's PUT takes no condition, so the lock is
		// all that keeps a file put into the shard meanwhile from
		// writing the old shard over this one. Taken before a writer's
		// slot: a job waiting for its shard holds none.
		unlock, err := n.shardLocks.lockForJob(ctx, dst, msg.ArchName)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	select {
	case n.archiveSlots <- struct{}{}:
		defer func() { <-n.archiveSlots }()
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	names, err := n.archiveNames(ctx, src, req)
	if err != nil {
		return nil, err
	}
	items := make([]batchItem, 0, len(names))
	// A member's name once: readers of a shard (archpath, get-batch)
	// take the first of a name, so a second would never be read.
	entries := make(map[string]string, len(names))
	for _, name := range names {
		if src == dst && name == msg.ArchName {
			continue // not the shard into itself
		}
		entry, err := addArchiveEntry(entries, msg, src, dst, name)
		if err != nil {
			return nil, err
		}
		items = append(items, batchItem{BatchEntry: api.BatchEntry{ObjName: name}, bucket: src, name: entry})
	}
	if len(items) == 0 {
		return nil, badRequest("archive %s/%s: nothing to archive: no object of %s matches", dst, msg.ArchName, src)
	}
	// A remote bucket may hold both x and x/y: one shard cannot. (Names
	// given, not listed, may not all be there: those found are checked
	// as they are written.)
	if len(req.Names) == 0 && req.Template == "" {
		for _, item := range items {
			for _, dir := range parentDirs(item.name) {
				if _, taken := entries[dir]; taken {
					return nil, membersClash(msg.ArchName, dir, item.name)
				}
			}
		}
	}
	var old store.Object
	put := store.PutOptions{Size: -1}
	if msg.AppendIfExists {
		// A remote bucket's shard as the remote has it now (see
		// putIntoArchive): its PUT takes no condition.
		obj, err := n.config.Store.Open(ctx, dst, msg.ArchName, store.OpenOptions{Latest: dst.IsRemote()})
		switch {
		case err == nil:
			old = obj
			defer old.Close()
			if f, err = n.archiveFormat(old, msg.ArchName, msg.Mime); err != nil {
				return nil, err
			}
			// Its members are copied through its reader: a zip's holds
			// its central directory all the while.
			release, err := n.holdShard(ctx, f, old)
			if err != nil {
				return nil, err
			}
			defer release()
			if !dst.IsRemote() {
				put.IfMatch = store.ETagOf(old.Meta())
				// The shard's own metadata stays, as a PUT into it
				// keeps it (see putIntoArchive).
				put.Custom = keptShardCustom(old.Meta().Custom)
			}
		case errors.Is(err, store.ErrNotFound):
			if !dst.IsRemote() {
				put.IfNoneMatch = "*"
			}
		default:
			return nil, err
		}
	}
	// Past out_of_space it is refused as a PUT is, and a shard that
	// fills the disk as it is written stops.
	if err := n.checkSpace(ctx); err != nil {
		return nil, fmt.Errorf("archive %s/%s: %w", dst, msg.ArchName, err)
	}
	// Appended, each object goes where it belongs among the old members
	// (read in that order): in the place of the member of its name, else
	// right after its record's last, else last. One moved away from its
	// record's would split the record in two (a second sample of its key
	// for WebDataset's readers, msgpack and TFRecord).
	var plan *appendPlan
	if old != nil {
		if plan, err = planAppend(ctx, f, old, msg.ArchName, items); err != nil {
			return nil, err
		}
		items = plan.items
	}
	reads := n.readAhead(ctx, items)
	defer reads.Close()
	var archived, missing atomic.Int64
	pr, pw := io.Pipe()
	written := make(chan struct{})
	go func() {
		defer close(written)
		pw.CloseWithError(n.writeArchive(ctx, pw, f, old, plan, msg, items, reads, p, &archived, &missing))
	}()
	_, err = n.putOwnedHeld(ctx, dst, msg.ArchName, store.GuardSpace(ctx, pr, n.checkSpace), put)
	pr.CloseWithError(io.ErrClosedPipe)
	<-written
	if err != nil {
		return nil, fmt.Errorf("archive %s/%s: %w", dst, msg.ArchName, err)
	}
	return map[string]int64{"archived": archived.Load(), "missing": missing.Load()}, nil
}

// writeArchive writes the selected objects in order, into the old
// shard's files when appending (by plan: each in the place of the old
// file of its name, or after its record's); a missing one fails the job
// unless the message continues on error, and then the old file of its
// name, if any, stays. A job that archives nothing fails: it would store
// an empty shard, or the old one again.
func (n *Node) writeArchive(ctx context.Context, w io.Writer, f formats.Format, old store.Object, plan *appendPlan, msg *api.ArchiveMessage, items []batchItem, reads *aheadReader, p *store.Progress, archived, missing *atomic.Int64) error {
	return writeArchiveWith(w, f, func(aw formats.Writer, buf []byte) error {
		next := 0 // the next item to write
		// The items written, and their directories: one a directory of
		// another cannot be in the shard beside it.
		wrote, wroteDirs := map[string]bool{}, map[string]string{}
		// write writes the next item; false: it is missing (and skipped).
		write := func() (bool, error) {
			i, item := next, items[next]
			next++
			read := reads.Next()
			if read.err != nil {
				if msg.ContinueOnError && errors.Is(read.err, store.ErrNotFound) {
					missing.Add(1)
					return false, nil
				}
				return false, fmt.Errorf("object %d (%s/%s): %w", i, item.bucket, item.ObjName, read.err)
			}
			if under, ok := wroteDirs[item.name]; ok {
				read.body.Close()
				return false, membersClash(msg.ArchName, under, item.name)
			}
			dirs := parentDirs(item.name)
			for _, dir := range dirs {
				if wrote[dir] {
					read.body.Close()
					return false, membersClash(msg.ArchName, dir, item.name)
				}
			}
			wrote[item.name] = true
			for _, dir := range dirs {
				wroteDirs[dir] = item.name
			}
			if err := writeRead(aw, item, read, buf); err != nil {
				return false, fmt.Errorf("object %d: %w", i, err)
			}
			archived.Add(1)
			p.Objects.Add(1)
			p.Bytes.Add(read.size)
			return true, nil
		}
		if old != nil {
			index := -1
			kept := map[string]bool{} // replaced names whose object is missing
			err := eachEntry(ctx, f, old, msg.ArchName, func(e *formats.Entry, data io.Reader) error {
				index++
				// In its place, the object of its name (first of the name:
				// a later copy of it goes), or, missing, this file stays.
				if next < len(items) && plan.at[next] == index && !plan.after[next] {
					written, err := write()
					if err != nil {
						return err
					}
					if !written {
						kept[e.Name] = true
						if err := copyEntry(aw, e, data, buf); err != nil {
							return err
						}
					}
				} else if !plan.replaced[e.Name] || kept[e.Name] {
					if err := copyEntry(aw, e, data, buf); err != nil {
						return err
					}
				}
				// After the last file of its record, the objects joining it.
				for next < len(items) && plan.at[next] == index && plan.after[next] {
					if _, err := write(); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		for next < len(items) {
			if _, err := write(); err != nil {
				return err
			}
		}
		if archived.Load() == 0 {
			return fmt.Errorf("%w: none of the %d objects to archive exists", store.ErrNotFound, len(items))
		}
		return nil
	})
}

// appendPlan is where an append puts each selected object among the old
// shard's files: items in the order they are written, and for each, the
// index of the old file it goes at (in its place, or after it: after),
// -1 for last.
type appendPlan struct {
	items    []batchItem
	at       []int
	after    []bool
	replaced map[string]bool // the old files' names an object replaces
}

// planAppend reads the old shard's file names (a pass over its headers)
// and orders the items by where each goes: in the place of the first
// old file of its name, else right after the last file of its record,
// else last (in the order selected).
func planAppend(ctx context.Context, f formats.Format, old store.Object, name string, items []batchItem) (*appendPlan, error) {
	// Of the items' names and records only: a shard's names may be
	// millions.
	names, records, dirs := map[string]bool{}, map[string]bool{}, map[string]string{}
	for _, item := range items {
		record, _ := shards.SplitName(item.name)
		names[item.name], records[record] = true, true
		for _, dir := range parentDirs(item.name) {
			dirs[dir] = item.name
		}
	}
	first := map[string]int{}        // an old file's name: its first index
	lastOfRecord := map[string]int{} // an old record: its last file's index
	index := -1
	err := eachEntry(ctx, f, old, name, func(e *formats.Entry, _ io.Reader) error {
		index++
		if added, ok := dirs[e.Name]; ok {
			return membersClash(name, e.Name, added)
		}
		for _, dir := range parentDirs(e.Name) {
			if names[dir] {
				return membersClash(name, e.Name, dir)
			}
		}
		if _, ok := first[e.Name]; !ok && names[e.Name] {
			first[e.Name] = index
		}
		if record, _ := shards.SplitName(e.Name); records[record] {
			lastOfRecord[record] = index
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	type placed struct {
		item  batchItem
		at    int
		after bool
		order int
	}
	list := make([]placed, 0, len(items))
	plan := &appendPlan{replaced: map[string]bool{}}
	for i, item := range items {
		pl := placed{item: item, at: -1, order: i}
		record, _ := shards.SplitName(item.name)
		if at, ok := first[item.name]; ok {
			pl.at = at
			plan.replaced[item.name] = true
		} else if at, ok := lastOfRecord[record]; ok {
			pl.at, pl.after = at, true
		}
		list = append(list, pl)
	}
	// By place (last ones last), in its place before after it, then as
	// selected.
	slices.SortStableFunc(list, func(a, b placed) int {
		pa, pb := a.at, b.at
		if pa < 0 {
			pa = math.MaxInt
		}
		if pb < 0 {
			pb = math.MaxInt
		}
		return cmp.Or(cmp.Compare(pa, pb), cmp.Compare(boolInt(a.after), boolInt(b.after)), cmp.Compare(a.order, b.order))
	})
	for _, pl := range list {
		plan.items = append(plan.items, pl.item)
		plan.at = append(plan.at, pl.at)
		plan.after = append(plan.after, pl.after)
	}
	return plan, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// archiveNames lists what an archive job selects, in order: its names,
// its template's, or every object of the bucket under its prefix (all the
// targets', in name order; not below the prefix's directories with
// NonRecursive).
func (n *Node) archiveNames(ctx context.Context, src store.Bucket, req peer.JobRequest) ([]string, error) {
	var names []string
	var held int64
	if len(req.Names) > 0 || req.Template != "" {
		err := n.eachSelected(ctx, src, req, func(name string) error {
			if held += int64(2*len(name) + archiveItemBytes); held > maxArchiveNameBytes || len(names) == maxArchiveObjects {
				return badRequest("archive: more than %d objects or %d MiB of names: select fewer", maxArchiveObjects, maxArchiveNameBytes>>20)
			}
			names = append(names, name)
			return nil
		})
		return names, err
	}
	// The listing of every target's objects is a gateway's.
	gw, ok := n.currentMap().PrimaryNode()
	if !ok {
		return nil, fmt.Errorf("%w: archive: no primary gateway to list %s", api.ErrUnavailable, src)
	}
	lister := api.NewClientWith(gw.URL, n.peer.HTTP()).SetToken("")
	for e, err := range lister.ListAll(ctx, src.String(), api.ListObjectsMessage{Prefix: req.Prefix}) {
		if err != nil {
			return nil, err
		}
		// One level, as a listing's: "dir" is a directory too ("dir/a"
		// is of its level, "dir/sub/b" is not).
		if _, deeper := levelDir(req.Prefix, e.Name); req.Archive.NonRecursive && deeper {
			continue
		}
		if store.ValidateName(e.Name) != nil {
			continue // a remote's S3 "folder" ("photos/"), "a//b": no object here
		}
		if held += int64(2*len(e.Name) + archiveItemBytes); held > maxArchiveNameBytes || len(names) == maxArchiveObjects {
			return nil, badRequest("archive: more than %d objects or %d MiB of names under %q: select fewer", maxArchiveObjects, maxArchiveNameBytes>>20, req.Prefix)
		}
		names = append(names, e.Name)
	}
	return names, nil
}
