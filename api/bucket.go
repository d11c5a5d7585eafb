package api

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strings"

	"github.com/cespare/xxhash/v2"

	"github.com/aisgo/aisgo/store"
)

func bucketPath(bucket string) string { return "/v1/buckets/" + url.PathEscape(bucket) }

// CreateBucket creates an ais bucket. props may be nil (the defaults) or
// a partial set of properties, as JSON-able value.
func (c *Client) CreateBucket(ctx context.Context, bucket string, props any) error {
	msg := ActionMessage{Action: ActionCreateBucket}
	if props != nil {
		data, err := json.Marshal(props)
		if err != nil {
			return err
		}
		msg.Value = data
	}
	return c.doJSON(ctx, request{method: http.MethodPost, path: bucketPath(bucket), bodyJSON: msg}, nil)
}

// DestroyBucket removes a bucket and every object in it.
func (c *Client) DestroyBucket(ctx context.Context, bucket string) error {
	msg := ActionMessage{Action: ActionDestroyBucket}
	return c.doJSON(ctx, request{method: http.MethodDelete, path: bucketPath(bucket), bodyJSON: msg}, nil)
}

// ListBuckets returns every bucket.
func (c *Client) ListBuckets(ctx context.Context) ([]BucketEntry, error) {
	var out []BucketEntry
	err := c.doJSON(ctx, request{method: http.MethodGet, path: "/v1/buckets"}, &out)
	return out, err
}

// BucketProps returns a bucket's properties (HEAD /v1/buckets/B).
func (c *Client) BucketProps(ctx context.Context, bucket string) (store.Props, error) {
	var props store.Props
	resp, err := c.do(ctx, request{method: http.MethodHead, path: bucketPath(bucket)})
	if err != nil {
		return props, err
	}
	defer drain(resp)
	if err := json.Unmarshal([]byte(resp.Header.Get(HeaderBucketProps)), &props); err != nil {
		return props, fmt.Errorf("bucket %s: decode %s: %w", bucket, HeaderBucketProps, err)
	}
	return props, nil
}

// SetBucketProps changes some of a bucket's properties: props is a partial
// value, e.g. map[string]any{"checksum": map[string]any{"type": "md5"}}.
func (c *Client) SetBucketProps(ctx context.Context, bucket string, props any) error {
	data, err := json.Marshal(props)
	if err != nil {
		return err
	}
	msg := ActionMessage{Action: ActionSetProps, Value: data}
	// A change of copies or erasure coding starts its job on every
	// target before the gateway answers.
	return c.doJSON(ctx, request{method: http.MethodPatch, path: bucketPath(bucket), bodyJSON: msg, startsJob: true}, nil)
}

// ListObjects returns one page of a bucket's objects in name order. Pass
// the page's ContinuationToken back in msg to get the next page; an empty
// token means the listing is complete.
func (c *Client) ListObjects(ctx context.Context, bucket string, msg ListObjectsMessage) (*ListPage, error) {
	if msg.TimeFormat == "" {
		msg.TimeFormat = "RFC3339Nano" // AIStore's default, RFC822, has minutes only
	}
	value, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	var page ListPage
	body := ActionMessage{Action: ActionList, Value: value}
	// A page waits for every target's, each given 30s by the gateway (a
	// remote's longer): the gateway's bound of a control call would give
	// up on it, and ask the next gateway for it again.
	err = c.doJSON(ctx, request{method: http.MethodGet, path: bucketPath(bucket), bodyJSON: body, slow: true}, &page)
	return &page, err
}

// MaxSeenTokens bounds the page tokens a walk of a listing keeps to tell
// one that goes round.
const MaxSeenTokens = 1 << 16

// ListAll walks every page of a listing and yields each entry. A page
// that could not list every target is preceded by an error wrapping
// ErrIncompleteListing: a caller that goes on past it (a listing shown to
// a user, with a warning) gets the rest.
func (c *Client) ListAll(ctx context.Context, bucket string, msg ListObjectsMessage) iter.Seq2[ListEntry, error] {
	return func(yield func(ListEntry, error) bool) {
		// The tokens of the pages listed (their hashes): one seen again
		// (a remote's going round) would list for ever. (Not the names'
		// order: an archive's members follow their shard, and some
		// remotes list out of order.)
		seen := map[uint64]bool{}
		for {
			page, err := c.ListObjects(ctx, bucket, msg)
			if err != nil {
				yield(ListEntry{}, err)
				return
			}
			// A page asked for by a token that names that token again (a
			// remote that ignores tokens answers its first page again):
			// refused before its entries, which were listed already.
			if msg.ContinuationToken != "" && page.ContinuationToken == msg.ContinuationToken {
				yield(ListEntry{}, fmt.Errorf("list %s: the node answered page token %.100q with itself: the listing goes round; stopped", bucket, page.ContinuationToken))
				return
			}
			// Before the page's entries: a caller that stops after some
			// (ais ls --limit) must still learn the listing is not whole.
			if len(page.Incomplete) > 0 {
				err := fmt.Errorf("list %s: %w: target(s) %s could not be listed; objects only they hold are left out", bucket, ErrIncompleteListing, strings.Join(page.Incomplete, ", "))
				if !yield(ListEntry{}, err) {
					return
				}
			}
			for _, e := range page.Entries {
				if !yield(e, nil) {
					return
				}
			}
			if page.ContinuationToken == "" {
				return
			}
			if len(seen) >= MaxSeenTokens {
				clear(seen) // bounded: a cycle of so many pages goes unseen
			}
			seen[xxhash.Sum64String(msg.ContinuationToken)] = true
			if seen[xxhash.Sum64String(page.ContinuationToken)] {
				yield(ListEntry{}, fmt.Errorf("list %s: the node answered a page token it gave before (%.100q): the listing goes round; stopped", bucket, page.ContinuationToken))
				return
			}
			msg.ContinuationToken = page.ContinuationToken
		}
	}
}
