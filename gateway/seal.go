package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/store"
)

// sealTime is how long targets refuse new objects in a bucket that is
// destroyed if empty, unless the destroy lifts the seal: past the
// proposal and its push to them, and past a proposal whose outcome is
// not known (a leader lost before it committed may commit it later).
// Once the bucket is destroyed a seal holds for nothing.
const sealTime = 5 * time.Minute

// maxSealTime bounds the seal a peer may ask for.
const maxSealTime = 10 * time.Minute

// destroyEmptyBucket destroys a bucket only if no target holds an object
// in it (names under ignore aside: they go with it). Every target first
// seals the bucket, so a write cannot land between the check and the
// destroy: it is refused (503, to retry) instead of acknowledged and
// lost. S3's DeleteBucket is this.
func (n *Node) destroyEmptyBucket(ctx context.Context, b store.Bucket, ignore string) error {
	props, err := n.bucketProps(b)
	if err != nil {
		return err
	}
	smap := n.currentMap()
	targets := smap.Targets()
	for _, t := range targets {
		if t.State == cluster.StateOffline {
			return fmt.Errorf("%w: destroy bucket %s: target %s is offline and may hold objects of it: retry once it is back", api.ErrUnavailable, b, t.ID)
		}
	}
	var token [16]byte
	rand.Read(token[:])
	req := peer.SealRequest{Created: props.Created, Milliseconds: sealTime.Milliseconds(), Ignore: ignore, Token: hex.EncodeToString(token[:])}
	holds := make([]bool, len(targets))
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			holds[i], errs[i] = n.peer.Seal(ctx, t, b, req)
			if errs[i] != nil {
				// Not wrapped: a target's "not found" is not the bucket's.
				errs[i] = fmt.Errorf("target %s: %v", t.ID, errs[i])
			}
		})
	}
	wg.Wait()
	unseal := func() {
		// Lifted even when the client went away; a seal that is not
		// lifted ends by itself.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		for _, t := range targets {
			wg.Go(func() {
				if err := n.peer.Unseal(ctx, t, b, req.Token); err != nil {
					n.logger.Warn("a bucket's seal was not lifted: it ends by itself", "bucket", b.String(), "target", t.ID, "err", err)
				}
			})
		}
		wg.Wait()
	}
	if err := errors.Join(errs...); err != nil {
		unseal()
		return fmt.Errorf("%w: destroy bucket %s: not every target could tell it holds no object: %v", api.ErrUnavailable, b, err)
	}
	for i, t := range targets {
		if holds[i] {
			unseal()
			return fmt.Errorf("destroy bucket %s: target %s holds objects of it: %w", b, t.ID, store.ErrBucketNotEmpty)
		}
	}
	if now := n.currentMap(); now.Version != smap.Version {
		// A target that joined meanwhile was not sealed (the change
		// checks the version again where it applies).
		unseal()
		return fmt.Errorf("%w: destroy bucket %s: the cluster map changed (version %d to %d) while the targets were asked: retry", api.ErrUnavailable, b, smap.Version, now.Version)
	}
	// Proposed whatever the client does meanwhile. The seals stay on
	// unless the change was refused: a proposal that failed otherwise
	// may still apply (a leader lost, an answer lost), and a write must
	// not be acknowledged before the targets learn of it.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	change := membership.Change{Kind: membership.DestroyBucket, Bucket: b, Created: int64(props.Created), IfMap: smap.Version}
	_, err = n.control.Propose(pctx, change)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrBucketNotFound) || statusOf(err) == http.StatusNotFound:
		// Gone: destroyed by this proposal (an answer lost and the
		// change sent again) or by another.
		return nil
	case errors.Is(err, membership.ErrMapChanged) || statusOf(err) == http.StatusConflict:
		unseal()
		return fmt.Errorf("%w: destroy bucket %s: %v: retry", api.ErrUnavailable, b, err)
	}
	return membershipError(err)
}

// handleSeal seals a bucket on this target and tells whether it holds
// objects in it (intra-cluster, from destroyEmptyBucket).
func (n *Node) handleSeal(w http.ResponseWriter, r *http.Request) {
	b, err := bucketOf(r)
	var req peer.SealRequest
	if err == nil {
		err = decodeBody(r, &req)
	}
	ttl := time.Duration(req.Milliseconds) * time.Millisecond
	switch {
	case err != nil:
	case n.config.Storage == nil || n.local == nil:
		err = badRequest("node %s stores no objects", n.config.ID)
	case ttl <= 0 || ttl > maxSealTime:
		err = badRequest("a seal holds for 1 ms to %s, not %d ms", maxSealTime, req.Milliseconds)
	case len(req.Ignore) > pathsafe.MaxNameLength || !utf8.ValidString(req.Ignore):
		err = badRequest("the prefix of names to ignore is not a name's (%d bytes, at most %d, in UTF-8)", len(req.Ignore), pathsafe.MaxNameLength)
	default:
		err = checkSealToken(req.Token)
	}
	var holds bool
	if err == nil {
		err = n.config.Storage.SealBucket(r.Context(), b, req.Created, req.Token, time.Now().Add(ttl))
		if err == nil {
			if holds, err = n.holdsObjects(r.Context(), b, req.Ignore); err != nil {
				n.config.Storage.UnsealBucket(b, req.Token)
			}
		}
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	writeJSON(w, map[string]bool{"holds_objects": holds})
}

// handleUnseal lifts a seal of a bucket on this target.
func (n *Node) handleUnseal(w http.ResponseWriter, r *http.Request) {
	b, err := bucketOf(r)
	token := r.URL.Query().Get("token")
	if err == nil {
		err = checkSealToken(token)
	}
	if err == nil && n.config.Storage == nil {
		err = badRequest("node %s stores no objects", n.config.ID)
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	n.config.Storage.UnsealBucket(b, token)
	w.WriteHeader(http.StatusOK)
}

// checkSealToken checks a seal's token (a peer's input).
func checkSealToken(token string) error {
	if len(token) == 0 || len(token) > 64 || strings.Trim(token, "0123456789abcdef") != "" {
		return badRequest("a seal's token is 1 to 64 hex digits, not %d bytes of something else", len(token))
	}
	return nil
}

// mountpathDisabled is the state of a mountpath whose objects are not
// listed (store/fs.MountpathDisabled).
const mountpathDisabled = "disabled"

// errPartFound stops a walk of parts at the first that counts.
var errPartFound = errors.New("a part of an object")

// holdsObjects tells whether this target has an object in a bucket whose
// name does not start with ignore: listed, or erasure-coded parts left of
// one whose own copy was lost. A disabled mountpath, whose objects are
// not listed, leaves that unknown.
func (n *Node) holdsObjects(ctx context.Context, b store.Bucket, ignore string) (bool, error) {
	for _, mp := range n.config.Storage.MountpathStatuses() {
		if mp.State == mountpathDisabled {
			return false, fmt.Errorf("%w: mountpath %s of target %s is disabled and may hold objects of %s: enable or detach it first", api.ErrUnavailable, mp.Path, n.config.ID, b)
		}
	}
	counts := func(name string) bool { return ignore == "" || !strings.HasPrefix(name, ignore) }
	first, err := n.firstName(ctx, b, "")
	if err != nil || first != "" && counts(first) {
		return first != "", err
	}
	if first != "" {
		// Past every name under ignore: names are UTF-8, where no byte
		// is 0xff.
		next, err := n.firstName(ctx, b, ignore+"\xff")
		if err != nil || next != "" {
			return next != "", err
		}
	}
	err = n.local.WalkParts(ctx, b, func(part store.PartMeta) error {
		if counts(part.Name) {
			return errPartFound
		}
		return nil
	})
	switch {
	case errors.Is(err, errPartFound):
		return true, nil
	case errors.Is(err, store.ErrBucketNotFound):
		return false, nil
	}
	return false, err
}

// firstName is the name of this target's first object in a bucket after
// after, "" for none.
func (n *Node) firstName(ctx context.Context, b store.Bucket, after string) (string, error) {
	page, err := n.local.List(ctx, b, store.ListOptions{StartAfter: after, Limit: 1})
	switch {
	case errors.Is(err, store.ErrBucketNotFound):
		return "", nil
	case err != nil || len(page) == 0:
		return "", err
	}
	return page[0].Name, nil
}
