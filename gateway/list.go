package gateway

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/store"
)

// listMessage reads the list request from the JSON body (AIStore's
// {"action":"list","value":{...}}) or, for curl and browsers, from query
// parameters.
func listMessage(r *http.Request) (api.ListObjectsMessage, error) {
	var msg api.ListObjectsMessage
	var action api.ActionMessage
	if err := decodeBody(r, &action); err != nil {
		return msg, err
	}
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
	if v := q.Get(api.QueryPageSize); v != "" {
		size, err := strconv.Atoi(v)
		if err != nil {
			return msg, badRequest("pagesize %q is not a number", v)
		}
		msg.PageSize = size
	}
	if msg.PageSize < 0 {
		return msg, badRequest("pagesize %d is negative", msg.PageSize)
	}
	if msg.PageSize == 0 || msg.PageSize > api.MaxPageSize {
		msg.PageSize = api.MaxPageSize
	}
	return msg, nil
}

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
	if err != nil || len(b) > store.MaxNameLength {
		return "", badRequest("continuation_token %q is not one this cluster issued", token)
	}
	return string(b), nil
}

// wantsMeta reports whether the props ask for more than name and size.
func wantsMeta(props string) bool {
	for p := range strings.SplitSeq(props, ",") {
		switch strings.TrimSpace(p) {
		case "checksum", "atime", "version", "etag":
			return true
		}
	}
	return false
}

// handleListObjects lists a bucket through a gateway: every target lists
// its page after the token and the gateway merges them in name order.
// Walking all pages returns each object once, in order.
func (n *Node) handleListObjects(w http.ResponseWriter, r *http.Request) {
	b, err := bucketOf(r)
	if err == nil {
		err = n.requireGateway()
	}
	if err == nil {
		_, err = n.bucketProps(b)
	}
	msg, merr := listMessage(r)
	if err == nil {
		err = merr
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
	after = max(after, msg.StartAfter)
	page, err := n.listPage(r.Context(), b, msg, after)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	writeJSON(w, page)
}

// listPage gathers one page from every target.
func (n *Node) listPage(ctx context.Context, b store.Bucket, msg api.ListObjectsMessage, after string) (*api.ListPage, error) {
	// An offline target cannot answer: its objects are missing from the
	// listing until it is back.
	targets := n.currentMap().Reachable()
	if len(targets) == 0 {
		return nil, cluster.ErrNoTargets
	}
	q := url.Values{}
	q.Set(api.QueryPrefix, msg.Prefix)
	q.Set(api.QueryStartAfter, after)
	q.Set(api.QueryPageSize, strconv.Itoa(msg.PageSize))
	q.Set(api.QueryProps, msg.Props)
	pages := make([][]api.ListEntry, len(targets))
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { pages[i], errs[i] = n.peer.List(ctx, t, b, q) })
	}
	wg.Wait()
	var merged []api.ListEntry
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("list %s on target %s: %w", b, targets[i].ID, err)
		}
		merged = append(merged, pages[i]...)
	}
	slices.SortFunc(merged, func(a, b api.ListEntry) int { return strings.Compare(a.Name, b.Name) })
	// The same name on two targets (an object being moved) counts once.
	merged = slices.CompactFunc(merged, func(a, b api.ListEntry) bool { return a.Name == b.Name })
	page := &api.ListPage{Entries: merged}
	if len(merged) >= msg.PageSize {
		page.Entries = merged[:msg.PageSize]
		page.ContinuationToken = encodeToken(page.Entries[len(page.Entries)-1].Name)
	}
	if page.Entries == nil {
		page.Entries = []api.ListEntry{}
	}
	return page, nil
}

// handleLocalList answers a gateway with this target's page.
func (n *Node) handleLocalList(w http.ResponseWriter, r *http.Request) {
	b, err := bucketOf(r)
	if err == nil && n.config.Store == nil {
		err = badRequest("node %s stores no objects", n.config.ID)
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get(api.QueryPageSize))
	props := q.Get(api.QueryProps)
	objects, err := n.config.Store.List(r.Context(), b, store.ListOptions{
		Prefix:     q.Get(api.QueryPrefix),
		StartAfter: q.Get(api.QueryStartAfter),
		Limit:      limit,
		WithMeta:   wantsMeta(props),
	})
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	out := make([]api.ListEntry, len(objects))
	for i, o := range objects {
		out[i] = api.ListEntry{Name: o.Name, Size: o.Size, Version: o.Version}
		if !o.Checksum.IsEmpty() {
			out[i].Checksum = o.Checksum.Value
		}
		if !o.Atime.IsZero() {
			out[i].Atime = o.Atime.UTC().Format("2006-01-02T15:04:05.000000000Z")
		}
		out[i].ETag = o.Custom[store.CustomETag]
		if o.Stamp.Clock > 0 {
			out[i].Mtime = time.Unix(0, o.Stamp.Clock).UTC().Format(time.RFC3339Nano)
		}
	}
	writeJSON(w, out)
}
