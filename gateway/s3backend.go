package gateway

import (
	"context"
	"io"
	"maps"
	"net"
	"net/url"
	"slices"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/gateway/s3"
	"github.com/aisgo/aisgo/store"
)

// s3Backend is how the S3 API reaches objects: the native API, except on
// a node that is also the object's owner target, which reads and writes
// it in process rather than over a loopback hop. Anything unusual (an
// object not here yet, an archive member) takes the native API.
type s3Backend struct {
	*api.Client
	n *Node
}

// owned tells whether this node is the owner target of an object.
func (s s3Backend) owned(bucket, name string) (store.Bucket, bool) {
	b := store.NewBucket(bucket)
	if !s.n.config.Role.IsTarget() || b.Validate() != nil || store.ValidateName(name) != nil {
		return b, false
	}
	smap := s.n.currentMap()
	if smap == nil {
		return b, false
	}
	owner, err := smap.Owner(cluster.Uname(b.Provider, b.Name, name))
	return b, err == nil && owner.ID == s.n.config.ID
}

// Put stores an object this node owns in process.
func (s s3Backend) Put(ctx context.Context, bucket, name string, body io.Reader, opts api.PutOptions) (store.ObjectMeta, error) {
	b, ok := s.owned(bucket, name)
	if !ok {
		if slices.ContainsFunc(slices.Collect(maps.Keys(opts.Custom)), reservedCustom) {
			// A completed upload's ETag and parts: keys the owner takes
			// from a node only (the S3 API checked the user's right).
			return s.n.clusterClient().Put(ctx, bucket, name, body, opts)
		}
		return s.Client.Put(ctx, bucket, name, body, opts)
	}
	if _, err := s.n.requestedBucketProps(b); err != nil {
		return store.ObjectMeta{}, err
	}
	// The watermarks hold for S3 as for a native PUT.
	if err := s.n.checkSpaceFor(ctx, opts.Size); err != nil {
		return store.ObjectMeta{}, err
	}
	return s.n.putOwned(ctx, b, name, s.n.guardSpace(ctx, body), store.PutOptions{Size: opts.Size, Checksum: opts.Checksum, Custom: opts.Custom, ETag: opts.ETag,
		IfNoneMatch: opts.IfNoneMatch, IfMatch: opts.IfMatch})
}

// DestroyEmptyBucket destroys a bucket with no objects, sealed on every
// target meanwhile (see destroyEmptyBucket).
func (s s3Backend) DestroyEmptyBucket(ctx context.Context, bucket, ignore string) error {
	b := store.NewBucket(bucket)
	if err := b.Validate(); err != nil {
		return err
	}
	return s.n.destroyEmptyBucket(ctx, b, ignore)
}

// readsHere tells whether this node serves an object's reads in process:
// it owns it, and is not catching up after a time away (a newer copy, or
// a delete, may be elsewhere: the native API's owner path asks).
func (s s3Backend) readsHere(bucket, name string) (store.Bucket, bool) {
	b, ok := s.owned(bucket, name)
	return b, ok && !s.n.catchingUp()
}

// Head answers from this node's store when it owns and has the object.
func (s s3Backend) Head(ctx context.Context, bucket, name string) (store.ObjectMeta, error) {
	b, ok := s.readsHere(bucket, name)
	if !ok {
		return s.Client.Head(ctx, bucket, name)
	}
	meta, err := s.n.config.Store.Head(ctx, b, name)
	if notHere(err) {
		return s.Client.Head(ctx, bucket, name) // it may still be moving here
	}
	return meta, err
}

// Get reads from this node's store when it owns and has the object; the
// meta's size is of the bytes returned, as the native client's.
func (s s3Backend) Get(ctx context.Context, bucket, name string, opts api.GetOptions) (io.ReadCloser, store.ObjectMeta, error) {
	b, ok := s.readsHere(bucket, name)
	if !ok || opts.ArchPath != "" {
		return s.Client.Get(ctx, bucket, name, opts)
	}
	obj, err := s.n.config.Store.Open(ctx, b, name, store.OpenOptions{Validate: opts.Validate})
	if notHere(err) || err != nil && !s.n.owns(b, name) {
		// Not here, or moved while fetched from its remote: the owner's.
		return s.Client.Get(ctx, bucket, name, opts)
	}
	if err != nil {
		return nil, store.ObjectMeta{}, err
	}
	meta := obj.Meta()
	if opts.Offset == 0 && opts.Length == 0 {
		return obj, meta, nil
	}
	length := opts.Length
	if length == 0 || opts.Offset+length > meta.Size {
		length = meta.Size - opts.Offset
	}
	if opts.Offset < 0 || opts.Offset > meta.Size || length < 0 {
		obj.Close()
		return nil, store.ObjectMeta{}, api.ErrRange
	}
	if _, err := obj.Seek(opts.Offset, io.SeekStart); err != nil {
		obj.Close()
		return nil, store.ObjectMeta{}, err
	}
	meta.Size = length
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(obj, length), obj}, meta, nil
}

// sweepUploads has the primary gateway remove, now and then, the S3
// multipart uploads older than S3UploadTTL, until ctx ends; one gateway
// is enough, and the others would race it over the same records.
func (n *Node) sweepUploads(ctx context.Context) {
	ticker := time.NewTicker(min(max(n.config.S3UploadTTL/4, time.Millisecond), time.Hour))
	defer ticker.Stop()
	// As the node (its requests signed with the cluster secret), not as
	// a user: with authentication on, no user token is there to carry.
	sweeper := s3.New(s3.Config{Backend: s3Backend{Client: n.clusterClient(), n: n}, Logger: n.logger.With("api", "s3")})
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if !n.control.IsPrimary() || !n.ready.Load() {
			continue
		}
		removed, err := sweeper.SweepUploads(ctx, time.Now().Add(-n.config.S3UploadTTL))
		if err != nil && ctx.Err() == nil {
			n.logger.Warn("sweep stale S3 multipart uploads", "removed", removed, "err", err)
		} else if removed > 0 {
			n.logger.Info("stale S3 multipart uploads removed", "removed", removed)
		}
	}
}

// s3Domains are the host names of virtual-hosted S3 requests: the ones
// configured, "localhost", and the host of the node's URL when it is a
// name (an address has no bucket labels in front).
func s3Domains(nodeURL string, configured []string) []string {
	domains := append([]string{"localhost"}, configured...)
	if u, err := url.Parse(nodeURL); err == nil && u.Hostname() != "" && net.ParseIP(u.Hostname()) == nil {
		domains = append(domains, u.Hostname())
	}
	return domains
}
