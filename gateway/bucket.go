package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/authn"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/internal/redact"
	"github.com/aisgo/aisgo/store"
)

func (n *Node) handleListBuckets(w http.ResponseWriter, r *http.Request) {
	// AIStore's clients may name one bucket in the body ({"action":
	// "list","name":...}), or as the query bucket: only it is listed
	// (aisloader asks so whether to create its bucket).
	var msg api.ActionMessage
	if err := decodeBody(r, &msg); err != nil {
		n.writeError(w, r, err)
		return
	}
	if msg.Action == api.ActionSummaryBucket {
		if err := n.requireGateway(); err != nil {
			n.writeError(w, r, err)
			return
		}
		n.handleSummary(w, r, store.Bucket{}, msg.Value)
		return
	}
	// Not before the gateway is ready: its buckets before that may be a
	// snapshot's, or none (an existing bucket would read as missing).
	if err := n.requireGateway(); err != nil {
		n.writeError(w, r, err)
		return
	}
	only := msg.Name
	// ?provider=ais lists those alone (AIStore's Python client asks for
	// it by default, and takes what comes for ais:// buckets).
	provider := r.URL.Query().Get(api.QueryProvider)
	if provider != "" {
		provider = store.Bucket{Provider: provider}.Normalize().Provider
	}
	md := n.currentBuckets()
	out := make([]api.BucketEntry, 0, len(md.Buckets))
	for b, props := range md.Buckets {
		if (only == "" || b.Name == only) && (provider == "" || b.Provider == provider) {
			out = append(out, api.BucketEntry{Name: b.Name, Provider: b.Provider, Created: int64(props.Created)})
		}
	}
	slices.SortFunc(out, func(a, b api.BucketEntry) int { return strings.Compare(a.Name, b.Name) })
	writeJSON(w, out)
}

// requireGateway refuses control requests sent to a target.
func (n *Node) requireGateway() error {
	if !n.config.Role.IsGateway() {
		return badRequest("node %s is a target: send bucket requests to a gateway", n.config.ID)
	}
	if !n.ready.Load() {
		return n.notReady()
	}
	return nil
}

// bucketAction reads a bucket control request and its JSON action, which
// must be one of want (an empty body is the first). It answers errors by itself; ok means the caller goes on.
func (n *Node) bucketAction(w http.ResponseWriter, r *http.Request, want ...string) (b store.Bucket, msg api.ActionMessage, ok bool) {
	b, err := bucketOf(r)
	if err == nil {
		err = n.requireGateway()
	}
	var body []byte
	if err == nil {
		body, err = readBody(r)
	}
	if err == nil && len(body) == 0 {
		msg.Action = want[0]
	} else if err == nil {
		if jerr := json.Unmarshal(body, &msg); jerr != nil {
			err = badRequest("bucket action: malformed JSON: %w", jerr)
		} else if !slices.Contains(want, msg.Action) {
			err = badRequest("bucket action %q is not supported here (want %s)", msg.Action, strings.Join(want, ", "))
		}
	}
	if err != nil {
		n.writeError(w, r, err)
		return b, msg, false
	}
	return b, msg, true
}

func (n *Node) handleBucketAction(w http.ResponseWriter, r *http.Request) {
	b, msg, ok := n.bucketAction(w, r, api.ActionCreateBucket, api.ActionMakeNCopies, api.ActionECEncode, api.ActionScrub,
		api.ActionCopyBucket, api.ActionCopyListRange, api.ActionIndexShards, api.ActionPrefetch)
	if !ok {
		return
	}
	if msg.Action == api.ActionPrefetch {
		n.handlePrefetch(w, r, b, msg)
		return
	}
	if msg.Action == api.ActionIndexShards {
		n.handleIndexShards(w, r, b, msg)
		return
	}
	if msg.Action == api.ActionCopyBucket || msg.Action == api.ActionCopyListRange {
		n.handleCopyBucket(w, r, b, msg)
		return
	}
	if msg.Action != api.ActionCreateBucket {
		n.handleProtectAction(w, r, b, msg)
		return
	}
	// A remote bucket's defaults (LRU on: its copies are a cache) under
	// what the request sets, as for one that joins at first access.
	props := store.DefaultProps()
	if b.IsRemote() {
		props = store.DefaultRemoteProps(b)
	}
	if len(msg.Value) > 0 && string(msg.Value) != "null" {
		if err := json.Unmarshal(msg.Value, &props); err != nil {
			n.writeError(w, r, badRequest("create-bck: bucket props: %w", err))
			return
		}
		if err := checkPropsFields("create-bck", msg.Value); err != nil {
			n.writeError(w, r, err)
			return
		}
		// A new bucket gets every permission and no feature (see
		// bucketChange): another value asked for would be dropped and
		// the bucket answered as made with it.
		if err := checkFixedProps("create-bck", store.Props{}, msg.Value); err != nil {
			n.writeError(w, r, err)
			return
		}
	}
	if err := n.checkProtection(r.Context(), nil, props); err != nil {
		n.writeError(w, r, err)
		return
	}
	// Where a remote bucket's data is (an S3 endpoint, an HTTP origin) is
	// the cluster's to say: creating a bucket must not point a shared
	// name somewhere else, nor the cluster's credentials.
	if props.Extra != nil {
		if _, err := n.authorize(r, authn.PermAdmin, ""); err != nil {
			n.writeError(w, r, fmt.Errorf("create-bck: props with extra (endpoint, origin): %w", err))
			return
		}
	}
	if b.IsRemote() {
		// A remote bucket joins the cluster when its store has it.
		if _, ok := n.currentBuckets().Props(b); ok {
			n.writeError(w, r, fmt.Errorf("bucket %s: %w", b, store.ErrBucketExists))
			return
		}
		if err := n.addRemoteBucket(r.Context(), b, &props); err != nil {
			n.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	if err := n.createBucket(r.Context(), b, props); err != nil {
		n.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// createBucket adds a bucket to the cluster's bucket metadata.
func (n *Node) createBucket(ctx context.Context, b store.Bucket, props store.Props) error {
	_, err := n.control.Propose(ctx, membership.Change{Kind: membership.CreateBucket, Bucket: b, Props: &props, Created: timeNow()})
	return membershipError(err)
}

func (n *Node) handleDestroyBucket(w http.ResponseWriter, r *http.Request) {
	b, msg, ok := n.bucketAction(w, r, api.ActionDestroyBucket, api.ActionDeleteListRange, api.ActionEvictListRange, api.ActionEvictRemote)
	if !ok {
		return
	}
	switch {
	case msg.Action == api.ActionEvictListRange || msg.Action == api.ActionEvictRemote:
		n.handleEvict(w, r, b, msg)
		return
	case msg.Action == api.ActionDestroyBucket && b.IsRemote():
		// The remote bucket is not the cluster's to destroy: it leaves the
		// cluster, and what was cached of it goes.
		msg.Action = api.ActionEvictRemote
		n.handleEvict(w, r, b, msg)
		return
	case msg.Action != api.ActionDestroyBucket:
		n.handleDeleteListRange(w, r, b, msg)
		return
	}
	if err := n.proposeDestroy(r.Context(), b); err != nil {
		n.writeError(w, r, membershipError(err))
		return
	}
	w.WriteHeader(http.StatusOK)
}

// proposeDestroy destroys a bucket as this gateway knows it; refused as
// created again since (this gateway's view was behind the log), it
// destroys the bucket as it is once this gateway has that (within 2 s;
// else the refusal is the answer).
func (n *Node) proposeDestroy(ctx context.Context, b store.Bucket) error {
	change := destroyChange(n.currentBuckets(), b)
	_, err := n.control.Propose(ctx, change)
	// (A forwarded refusal crosses the wire as a 409 with its message.)
	createdAgain := errors.Is(err, membership.ErrMapChanged) || statusOf(err) == http.StatusConflict && strings.Contains(err.Error(), "created again")
	if change.Created == 0 || !createdAgain {
		return err
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		// The bucket as this gateway has it once caught up (a bucket of
		// the name created within these 2 s, racing the destroy, may be
		// it: creation times are of other nodes' clocks, not compared).
		if again := destroyChange(n.currentBuckets(), b); again.Created != 0 && again.Created != change.Created {
			_, err = n.control.Propose(ctx, again)
			return err
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return err
}

// destroyChange destroys the bucket as this gateway knows it: a destroy
// sent again after its answer was lost does not remove a bucket of the
// name created since, and finds its own done.
func destroyChange(md *store.BucketMetadata, b store.Bucket) membership.Change {
	change := membership.Change{Kind: membership.DestroyBucket, Bucket: b}
	if props, ok := md.Props(b); ok {
		change.Created = int64(props.Created)
	}
	return change
}

// bucketProps returns a bucket's props from the node's BMD.
// On a gateway, a remote bucket its store has joins the metadata on this
// first access.
func (n *Node) bucketProps(b store.Bucket) (store.Props, error) {
	p, ok := n.currentBuckets().Props(b)
	// (Not an ht:// bucket: its origin is an admin's or the proxy's to
	// give; one not made is not found.)
	if !ok && b.IsRemote() && b.Provider != store.ProviderHT && n.config.Role.IsGateway() && n.config.RemoteBuckets != nil && n.loopsContext() != nil {
		if err := n.addRemoteBucket(n.loopsContext(), b, nil); err != nil {
			return p, err
		}
		p, ok = n.currentBuckets().Props(b)
	}
	if !ok {
		return p, fmt.Errorf("bucket %s: %w", b, store.ErrBucketNotFound)
	}
	return p, nil
}

// requestedBucketProps is bucketProps for a client's request: at a
// follower gateway, a bucket it does not know is looked for again once it
// caught up with the leader (catchUpWithLeader).
func (n *Node) requestedBucketProps(b store.Bucket) (store.Props, error) {
	p, err := n.bucketProps(b)
	for range 2 {
		if !errors.Is(err, store.ErrBucketNotFound) {
			break
		}
		moved, shared := n.catchUpWithLeader()
		if !moved {
			break
		}
		p, err = n.bucketProps(b)
		if !shared {
			break
		}
		// A catch-up under way when this request came may have read the
		// leader's index before the bucket was made: one more.
	}
	return p, err
}

// catchUpWithLeader brings a follower gateway's state up to the leader's
// (a read index), for a bucket it does not know: one just made through
// another gateway reaches a follower at the leader's next append, and a
// client sent here meanwhile got 404 for it. Concurrent misses share one
// catch-up (shared says so). It reports whether the state may have moved.
func (n *Node) catchUpWithLeader() (moved, shared bool) {
	loops := n.loopsContext()
	if !n.config.Role.IsGateway() || loops == nil || n.control.IsPrimary() {
		return false, false
	}
	_, err, shared := n.catchUps.Do("leader", func() (any, error) {
		ctx, cancel := context.WithTimeout(loops, 3*time.Second)
		defer cancel()
		if c, ok := n.control.(interface{ CatchUp(context.Context) error }); ok {
			return nil, c.CatchUp(ctx) // the leader's log index alone
		}
		return nil, n.control.Refresh(ctx)
	})
	return err == nil, shared
}

func (n *Node) handleBucketProps(w http.ResponseWriter, r *http.Request) {
	err := n.requireGateway() // not before it caught up: a 404 then would be wrong
	var b store.Bucket
	if err == nil {
		b, err = bucketOf(r)
	}
	var props store.Props
	if err == nil {
		props, err = n.requestedBucketProps(b)
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	data, _ := json.Marshal(n.shownProps(r, props))
	w.Header().Set(api.HeaderBucketProps, string(data))
	if q := r.URL.Query(); q.Has(api.QuerySummary) {
		// As AIStore: bsumm_remote=true counts the remote's objects too.
		remote, _ := strconv.ParseBool(q.Get(api.QuerySummary))
		n.headSummary(w, r, b, q.Get(api.QueryUUID), remote)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (n *Node) handleSetProps(w http.ResponseWriter, r *http.Request) {
	b, msg, ok := n.bucketAction(w, r, api.ActionSetProps)
	if !ok {
		return
	}
	if len(msg.Value) == 0 {
		n.writeError(w, r, badRequest("set-bprops: value must be the props to change"))
		return
	}
	if err := checkPatch("set-bprops", msg.Value); err != nil {
		n.writeError(w, r, err)
		return
	}
	if err := n.checkExtraChange(r, b, msg.Value); err != nil {
		n.writeError(w, r, err)
		return
	}
	// The value is partial: it is decoded over the current props. A job
	// the change calls for (copies, parts) has its id in the answer.
	id, err := n.setProtectedProps(r.Context(), b, msg.Value)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	if id != "" {
		w.Header().Set(api.HeaderJobID, id)
	}
	w.WriteHeader(http.StatusOK)
}

// checkExtraChange lets only a cluster admin change where a remote
// bucket's data is (extra: an S3 endpoint, an HTTP origin), as on create:
// a bucket's admin must not point a shared name, and the cluster's
// credentials, somewhere else. Any patch that names extra is such a
// change: one that leaves it as this gateway sees it may be applied over
// another admin's change the gateway has not seen yet.
// shownProps are a bucket's props as a caller may read them: an ht://
// origin's user and password (https://user:secret@host) only to an
// admin, who alone may set them (checkExtraChange), and to the nodes.
func (n *Node) shownProps(r *http.Request, props store.Props) store.Props {
	if props.Extra == nil || props.Extra.HTTP == nil || !strings.Contains(props.Extra.HTTP.Origin, "@") {
		return props
	}
	if n.verifier == nil {
		return props // (no users: every caller is the cluster's admin)
	}
	if _, err := n.authorize(r, authn.PermAdmin, ""); err == nil {
		return props
	}
	shown := props.Clone()
	shown.Extra.HTTP.Origin = redact.Link(shown.Extra.HTTP.Origin)
	return shown
}

// shownBuckets are the bucket metadata as a caller may read them (see
// shownProps).
func (n *Node) shownBuckets(r *http.Request, md *store.BucketMetadata) *store.BucketMetadata {
	if md == nil {
		return nil
	}
	shown := &store.BucketMetadata{Version: md.Version, Buckets: make(map[store.Bucket]store.Props, len(md.Buckets))}
	for b, props := range md.Buckets {
		shown.Buckets[b] = n.shownProps(r, props)
	}
	return shown
}

func (n *Node) checkExtraChange(r *http.Request, b store.Bucket, patch json.RawMessage) error {
	// (A bucket just made through another gateway is known here first.)
	if _, err := n.requestedBucketProps(b); err != nil {
		return err
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(patch, &fields) != nil {
		return nil // (the change refuses it, saying why)
	}
	if !slices.ContainsFunc(slices.Collect(maps.Keys(fields)), func(k string) bool { return strings.EqualFold(k, "extra") }) {
		return nil
	}
	if _, err := n.authorize(r, authn.PermAdmin, ""); err != nil {
		return fmt.Errorf("set-bprops: a change of extra (endpoint, origin): %w", err)
	}
	return nil
}

// headSummary answers HEAD bucket with bsumm_remote: without a uuid it
// starts a summary (202 and its id in Ais-Xaction-Id); with the id, 202
// while it runs, then 200 with the summary in Ais-Bucket-Summ.
func (n *Node) headSummary(w http.ResponseWriter, r *http.Request, b store.Bucket, id string, remote bool) {
	// A summary walks the whole bucket on every target: a listing's
	// right, not a HEAD's.
	if err := n.authorizeBucket(r, authn.PermList, b); err != nil {
		n.writeError(w, r, err)
		return
	}
	if id == "" {
		// A HEAD needs no CORS approval: one that starts a job is a change.
		if err := n.sentByAnotherSite(r); err != nil {
			n.writeError(w, r, err)
			return
		}
		id, err := n.startSummary(r.Context(), b, "", remote)
		if err != nil {
			n.writeError(w, r, err)
			return
		}
		w.Header().Set(api.HeaderXactionID, id)
		w.WriteHeader(http.StatusAccepted)
		return
	}
	summaries, done, err := n.collectSummary(r.Context(), id)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	w.Header().Set(api.HeaderXactionID, id)
	if !done {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	for _, s := range summaries {
		if s.Name == b.Name && s.Provider == b.Provider {
			data, _ := json.Marshal(s)
			w.Header().Set(api.HeaderBucketSumm, string(data))
		}
	}
	w.WriteHeader(http.StatusOK)
}

// aisOnlyProps are AIStore's bucket props taken and not acted on here
// (a client's whole props sent back carries them), by section ("" the
// top level).
var aisOnlyProps = map[string][]string{
	"":           {"backend_bck", "write_policy", "chunks", "rate_limit"},
	"checksum":   {"validate_obj_move"},
	"versioning": {"synchronize"},
	"mirror":     {"burst_buffer"},
	"ec":         {"compression", "bundle_multiplier", "disk_only"},
	"lru":        {"capacity_upd_time"},
	"extra":      {"gcp", "oci"},
	// (cloud_region is taken as the region: see store.AWSProps.)
	"extra.aws": {"cloud_region", "profile", "max_pagesize"},
}

// checkPropsFields refuses bucket props that name a field no bucket has
// ({"mirror":{"copy":3}}, {"lru":{"enable":true}}): decoded, it would be
// dropped and the change answered as made.
func checkPropsFields(action string, data []byte) error {
	if key := repeatedKey(data); key != "" {
		// Decoded, the last wins, in any case of its letters: a patch
		// read and written again would mean another change.
		return badRequest("%s: bucket props name %q more than once", action, key)
	}
	return checkFieldsOf(action, data, reflect.TypeFor[store.Props](), "")
}

// repeatedKey returns a key a JSON object names twice (in any case), or
// "" (also for what is not an object: the decode says what is wrong).
func repeatedKey(data []byte) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		key, ok := t.(string)
		if err != nil || !ok {
			return ""
		}
		if seen[strings.ToLower(key)] {
			return key
		}
		seen[strings.ToLower(key)] = true
		var value json.RawMessage
		if dec.Decode(&value) != nil {
			return ""
		}
	}
	return ""
}

// checkNotAsked refuses an AIStore-only field set to what would be a
// real request here (a backend bucket, a rate limit, a credentials
// profile, versions synchronized, a deferred write): taken and not acted
// on, the bucket would be answered as made with it. Their defaults, as a
// client's props sent back carry them, pass.
func checkNotAsked(action, section, name string, value json.RawMessage) error {
	switch strings.ToLower(strings.TrimPrefix(section+"."+name, ".")) {
	case "extra.aws.profile":
		var profile string
		if json.Unmarshal(value, &profile) == nil && profile != "" && profile != "default" {
			return badRequest("%s: extra.aws.profile %q: credential profiles are not supported (the nodes' own credentials are used)", action, profile)
		}
	case "versioning.synchronize":
		var on bool
		if json.Unmarshal(value, &on) == nil && on {
			return badRequest("%s: versioning.synchronize: not supported (versioning.validate_warm_get checks a cached copy against the remote)", action)
		}
	case "write_policy":
		var policy map[string]string
		if json.Unmarshal(value, &policy) == nil {
			for _, kind := range slices.Sorted(maps.Keys(policy)) {
				if v := policy[kind]; v != "" && v != "immediate" {
					return badRequest("%s: write_policy.%s %q: every write is immediate here (leave it so)", action, kind, v)
				}
			}
		}
	case "backend_bck":
		var backend struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(value, &backend) == nil && backend.Name != "" {
			return badRequest("%s: backend_bck %q: buckets with a backend are not supported (use the remote bucket itself, as s3://%s)", action, backend.Name, backend.Name)
		}
	case "rate_limit":
		var limits map[string]struct {
			Enabled bool `json:"enabled"`
		}
		if json.Unmarshal(value, &limits) == nil {
			for _, side := range slices.Sorted(maps.Keys(limits)) {
				if limits[side].Enabled {
					return badRequest("%s: rate_limit.%s: rate limiting is not supported (leave it disabled)", action, side)
				}
			}
		}
	}
	return nil
}

func checkFieldsOf(action string, data []byte, t reflect.Type, section string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var fields map[string]json.RawMessage
	if t.Kind() != reflect.Struct || json.Unmarshal(data, &fields) != nil {
		return nil // a value, or one the decode refuses, saying why
	}
	var known []string
	types := map[string]reflect.Type{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			known = append(known, name)
			types[name] = t.Field(i).Type
		}
	}
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		// (Field names match in any case, as the decode takes them.)
		if i := slices.IndexFunc(known, func(k string) bool { return strings.EqualFold(k, name) }); i >= 0 {
			if err := checkFieldsOf(action, fields[name], types[known[i]], strings.TrimPrefix(section+"."+known[i], ".")); err != nil {
				return err
			}
			continue
		}
		if slices.ContainsFunc(aisOnlyProps[section], func(k string) bool { return strings.EqualFold(k, name) }) {
			if err := checkNotAsked(action, section, name, fields[name]); err != nil {
				return err
			}
			continue
		}
		where := "bucket props"
		if section != "" {
			where = section
		}
		return badRequest("%s: %s has no field %q (it has %s)", action, where, name, strings.Join(known, ", "))
	}
	return nil
}
