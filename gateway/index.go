package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/authn"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/store"
)

// Shard indexes (formats.Index): the index-shard job writes one beside
// every tar shard it selects, and dSort beside each output shard when its
// spec has output_index.

// jobIndexShards is the kind of the index-shard job.
const jobIndexShards = "index-shard"

// PutToOwner writes an object through the target that owns its name: this
// one, or another by a PUT to it (pipeline.OwnerWriter).
func (s stampedStore) PutToOwner(ctx context.Context, b store.Bucket, name string, data []byte, custom map[string]string) (store.Stamp, error) {
	meta, err := s.n.putToOwner(ctx, b, name, data, custom)
	return meta.Stamp, err
}

// DeleteFromOwner removes an object through the target that owns its
// name, unless it is newer than stamp (pipeline.OwnerWriter).
func (s stampedStore) DeleteFromOwner(ctx context.Context, b store.Bucket, name string, stamp store.Stamp) error {
	n := s.n
	if n.owns(b, name) {
		return n.config.Store.Delete(ctx, b, name, store.DeleteOptions{Stamp: stamp})
	}
	owner, err := n.currentMap().Owner(cluster.Uname(b.Provider, b.Name, name))
	if err != nil {
		return err
	}
	_, err = n.peer.Remove(ctx, owner, b, peer.RemoveRequest{Names: []string{name}, Stamp: stamp})
	return err
}

// DeleteJobFromOwner removes an object through the target that owns its
// name if job wrote that copy (pipeline.OwnerWriter).
func (s stampedStore) DeleteJobFromOwner(ctx context.Context, b store.Bucket, name, job string, beforeAttempt int) error {
	n := s.n
	if n.owns(b, name) {
		meta, err := n.config.Store.Head(ctx, b, name)
		if err != nil || !writtenByJob(meta, job, beforeAttempt) {
			return err
		}
		// Stamped too: a delete, not a move, it leaves a tombstone while
		// a mountpath is away, so that a copy there does not come back.
		// Written through to a remote bucket: the remote's goes too, as
		// through a peer.
		return n.config.Store.Delete(ctx, b, name, store.DeleteOptions{IfStamp: meta.Stamp, Stamp: n.stamp(), WrittenThrough: true})
	}
	owner, err := n.currentMap().Owner(cluster.Uname(b.Provider, b.Name, name))
	if err != nil {
		return err
	}
	// (Stamped now: the owner removes the job's copy if not newer.)
	_, err = n.peer.Remove(ctx, owner, b, peer.RemoveRequest{Names: []string{name}, Job: job, BeforeAttempt: beforeAttempt, Stamp: n.stamp()})
	return err
}

// writtenByJob reports a copy a dSort job wrote, in an attempt before
// beforeAttempt when that is above 0.
func writtenByJob(meta store.ObjectMeta, job string, beforeAttempt int) bool {
	return meta.Custom[pipeline.CustomJob] == job && (beforeAttempt <= 0 || pipeline.AttemptOf(meta) < beforeAttempt)
}

func (n *Node) putToOwner(ctx context.Context, b store.Bucket, name string, data []byte, custom map[string]string) (store.ObjectMeta, error) {
	if n.owns(b, name) {
		return n.putOwned(ctx, b, name, bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), Custom: custom})
	}
	client := n.clusterClient()
	return client.Put(ctx, b.String(), name, bytes.NewReader(data), api.PutOptions{Size: int64(len(data)), Custom: custom})
}

// indexSelected writes the index of every selected tar shard this target
// owns; other objects (and indexes) are skipped.
func (n *Node) indexSelected(ctx context.Context, b store.Bucket, req peer.JobRequest, p *store.Progress) (any, error) {
	indexed := 0
	var unnamed []string // shards whose index would have no valid name
	var changed []string // shards written while they were indexed
	// Shards that cannot be indexed (malformed, past the index's
	// bounds): the others go on, and the job names them at the end.
	var malformed []string
	var firstMalformed error
	moved := n.targetsUnchanged(req, fmt.Sprintf("index the shards of %s", b), "shards moving then may have no index; run it again once the rebalance ends")
	err := n.eachSelected(ctx, b, req, func(name string) error {
		if err := moved(); err != nil {
			return err
		}
		f, ok := n.formats.ByName(name)
		if !ok || !f.Offsets() || formats.IsIndexName(name) || !n.owns(b, name) {
			return nil
		}
		// A shard at the name limits has no index name: the others go
		// on, and the job names it at the end.
		if store.ValidateName(formats.IndexName(name)) != nil {
			unnamed = append(unnamed, name)
			return nil
		}
		obj, err := n.config.Store.Open(ctx, b, name, store.OpenOptions{})
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidName) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("index %s/%s: %w", b, name, err)
		}
		meta := obj.Meta()
		size, stamp := meta.Size, meta.Stamp
		idx, err := formats.BuildIndex(f, obj, size, name)
		obj.Close()
		if err == nil {
			idx.ShardChecksum = pipeline.ShardChecksum(meta)
		}
		if err != nil {
			if ctx.Err() != nil || !errors.Is(err, formats.ErrCorrupt) && !errors.Is(err, formats.ErrUnsupported) && !errors.Is(err, formats.ErrNotIndexable) {
				return fmt.Errorf("index %s/%s: %w", b, name, shardError(err))
			}
			if firstMalformed == nil {
				firstMalformed = err
			}
			malformed = append(malformed, name)
			return nil
		}
		indexBuilt(name)
		if now, herr := n.config.Store.Head(ctx, b, name); herr != nil || now.Stamp != stamp {
			// Written meanwhile (its own index maybe written since by
			// another job): this one, of the version before, would
			// replace it.
			changed = append(changed, name)
			return nil
		}
		data, err := idx.Encode()
		if err == nil {
			_, err = n.putToOwner(ctx, b, formats.IndexName(name), data, nil)
		}
		if err != nil {
			return fmt.Errorf("index %s/%s: %w", b, name, err)
		}
		indexed++
		p.Objects.Add(1)
		p.Bytes.Add(size)
		return nil
	})
	if err == nil {
		err = moved()
	}
	if err == nil && len(malformed) > 0 {
		err = fmt.Errorf("%w: %d shards could not be indexed, e.g. %.80q: %w", api.ErrBadRequest, len(malformed), malformed[0], firstMalformed)
	}
	if err == nil && len(unnamed) > 0 {
		err = fmt.Errorf("%w: %d shards have no valid index name (%s plus %q is past the name limits), e.g. %.80q", store.ErrInvalidName, len(unnamed), "their name", formats.IndexSuffix, unnamed[0])
	}
	if err == nil && len(changed) > 0 {
		err = fmt.Errorf("%w: %d shards were written while they were indexed, e.g. %.80q: index them again", api.ErrConflict, len(changed), changed[0])
	}
	return map[string]int{"indexed": indexed}, err
}

// indexBuilt is a test's hook: a shard's index was built, not yet written.
var indexBuilt = func(shard string) {}

// handleIndexShards serves index-shard: a job on every target over the
// selected shards (a list, a template, a prefix; every shard when none).
func (n *Node) handleIndexShards(w http.ResponseWriter, r *http.Request, b store.Bucket, msg api.ActionMessage) {
	// It reads every shard it indexes (a remote's are fetched): GET as
	// well as the route's PUT.
	if err := n.authorizeBucket(r, authn.PermGet, b); err != nil {
		n.writeError(w, r, err)
		return
	}
	n.startListRangeJob(w, r, b, msg, jobIndexShards, false)
}
