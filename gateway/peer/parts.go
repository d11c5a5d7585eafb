package peer

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/store"
)

// HeaderPart carries a part's description: the base64 of its msgp
// encoding (store.PartMeta).
const HeaderPart = "Ais-Part"

// MaxParts bounds the parts of one object a target answers with.
const MaxParts = 2 * store.MaxSlices

// EncodePart returns a part's description for HeaderPart.
func EncodePart(meta store.PartMeta) (string, error) {
	data, err := meta.MarshalMsg(nil)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(data), nil
}

// DecodePart reads HeaderPart; the description is validated.
func DecodePart(value string) (store.PartMeta, error) {
	var meta store.PartMeta
	if len(value) > 16<<10 {
		return meta, fmt.Errorf("%w: %s is %d bytes", store.ErrInvalidPart, HeaderPart, len(value))
	}
	data, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return meta, fmt.Errorf("%w: %s: %w", store.ErrInvalidPart, HeaderPart, err)
	}
	if _, err := meta.UnmarshalMsg(data); err != nil {
		return meta, err
	}
	return meta, nil
}

// PartsPath is the intra-cluster path of an object's parts on a target.
func PartsPath(b store.Bucket, name string) string {
	b = b.Normalize()
	// With the provider: the parts of s3://b are not those of ais://b.
	return "/v1/internal/parts/" + url.PathEscape(b.Name) + "/" + api.EscapeObjectName(name) + "?" + providerQuery(b)
}

// SendPart stores a part on a target (store/ec.Peers). created, when not
// 0, is the bucket's creation as the sender has it: a target of another
// bucket of the name refuses the part.
func (c *Client) SendPart(ctx context.Context, to cluster.Node, meta store.PartMeta, r io.Reader, created int64) error {
	header, err := EncodePart(meta)
	if err != nil {
		return err
	}
	watch := c.watchStall(ctx, fmt.Errorf("%w: target %s took nothing of part %d of %s/%s for %s", api.ErrUnavailable, to.ID, meta.Index, meta.Bucket, meta.Name, c.recordsStall))
	req, err := http.NewRequestWithContext(watch.ctx, http.MethodPut, to.URL+PartsPath(meta.Bucket, meta.Name)+createdQuery(created), watch.sent(r))
	if err != nil {
		return watch.end(err)
	}
	req.ContentLength = meta.SliceSize
	if meta.SliceSize == 0 {
		req.Body = http.NoBody
	}
	req.Header.Set(HeaderPart, header)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.send(req)
	if err != nil {
		return watch.end(err)
	}
	resp.Body.Close()
	return watch.end(nil)
}

// send sends a prepared request.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %w", api.ErrUnavailable, req.Method, req.URL, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

// PartsOf asks a target which parts of an object it keeps.
// created, when not 0, is the bucket's creation as the asker has it: a
// target of another (the bucket destroyed and made again, one of the two
// not told yet) answers no parts, which are not that bucket's objects'.
func (c *Client) PartsOf(ctx context.Context, from cluster.Node, b store.Bucket, name string, created int64) ([]store.PartMeta, error) {
	var encoded []string
	if err := c.Call(ctx, http.MethodGet, from.URL+PartsPath(b, name)+createdQuery(created), nil, &encoded); err != nil {
		return nil, err
	}
	if len(encoded) > MaxParts {
		return nil, fmt.Errorf("%w: target %s answered %d parts of %s/%s", store.ErrInvalidPart, from.ID, len(encoded), b, name)
	}
	out := make([]store.PartMeta, 0, len(encoded))
	for _, e := range encoded {
		meta, err := DecodePart(e)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", from.ID, err)
		}
		if meta.Bucket.Normalize() != b.Normalize() || meta.Name != name {
			return nil, fmt.Errorf("%w: target %s answered a part of %s/%s for %s/%s", store.ErrInvalidPart, from.ID, meta.Bucket, meta.Name, b, name)
		}
		out = append(out, meta)
	}
	return out, nil
}

// QueryBucketCreated carries the bucket's creation as the asker of parts
// has it.
const QueryBucketCreated = "bucket_created"

func createdQuery(created int64) string {
	if created == 0 {
		return ""
	}
	return "&" + QueryBucketCreated + "=" + strconv.FormatInt(created, 10)
}

// MaxPartsQuery bounds the names of one PartsOfMany (an owner's sweep
// asks for a batch of 100).
const MaxPartsQuery = 100

// PartsOfManyPath is the intra-cluster path that answers which parts of
// many objects of a bucket a target keeps.
func PartsOfManyPath(b store.Bucket) string {
	return "/v1/internal/parts-of/" + url.PathEscape(b.Normalize().Name) + "?" + providerQuery(b)
}

// PartsOfMany asks a target which parts of the named objects it keeps:
// by name, those it keeps any of.
func (c *Client) PartsOfMany(ctx context.Context, from cluster.Node, b store.Bucket, names []string, created int64) (map[string][]store.PartMeta, error) {
	if len(names) > MaxPartsQuery {
		return nil, fmt.Errorf("peer: %d names in one parts query, at most %d", len(names), MaxPartsQuery)
	}
	var encoded map[string][]string
	if err := c.Call(ctx, http.MethodPost, from.URL+PartsOfManyPath(b)+createdQuery(created), names, &encoded); err != nil {
		return nil, err
	}
	asked := make(map[string]bool, len(names))
	for _, name := range names {
		asked[name] = true
	}
	out := make(map[string][]store.PartMeta, len(encoded))
	for name, list := range encoded {
		if !asked[name] {
			return nil, fmt.Errorf("%w: target %s answered the parts of %s/%s, not asked for", store.ErrInvalidPart, from.ID, b, name)
		}
		if len(list) > MaxParts {
			return nil, fmt.Errorf("%w: target %s answered %d parts of %s/%s", store.ErrInvalidPart, from.ID, len(list), b, name)
		}
		for _, e := range list {
			meta, err := DecodePart(e)
			if err != nil {
				return nil, fmt.Errorf("target %s: %w", from.ID, err)
			}
			if meta.Bucket.Normalize() != b.Normalize() || meta.Name != name {
				return nil, fmt.Errorf("%w: target %s answered a part of %s/%s for %s/%s", store.ErrInvalidPart, from.ID, meta.Bucket, meta.Name, b, name)
			}
			out[name] = append(out[name], meta)
		}
	}
	return out, nil
}

// OpenPart reads one part of an object from a target.
func (c *Client) OpenPart(ctx context.Context, from cluster.Node, b store.Bucket, name string, index int, created int64) (io.ReadCloser, store.PartMeta, error) {
	watch := c.watchStall(ctx, fmt.Errorf("%w: target %s sent nothing of part %d of %s/%s for %s", api.ErrUnavailable, from.ID, index, b, name, c.recordsStall))
	req, err := http.NewRequestWithContext(watch.ctx, http.MethodGet, from.URL+PartsPath(b, name)+"&index="+strconv.Itoa(index)+createdQuery(created), nil)
	if err != nil {
		return nil, store.PartMeta{}, watch.end(err)
	}
	resp, err := c.send(req)
	if err != nil {
		return nil, store.PartMeta{}, watch.end(err)
	}
	meta, err := DecodePart(resp.Header.Get(HeaderPart))
	if err == nil && (meta.Bucket.Normalize() != b.Normalize() || meta.Name != name || meta.Index != index) {
		err = fmt.Errorf("%w: target %s answered another part", store.ErrInvalidPart, from.ID)
	}
	if err != nil {
		resp.Body.Close()
		return nil, store.PartMeta{}, watch.end(err)
	}
	return watch.body(resp.Body), meta, nil
}

// DeleteParts removes an object's parts on a target, those not newer than
// stamp (all with a zero stamp).
func (c *Client) DeleteParts(ctx context.Context, on cluster.Node, b store.Bucket, name string, stamp store.Stamp) error {
	return c.Call(ctx, http.MethodDelete, on.URL+PartsPath(b, name)+"&stamp="+url.QueryEscape(stamp.String()), nil, nil)
}

// QueryOneWrite asks a delete of parts for those of its stamp only.
const QueryOneWrite = "one-write"

// DeleteWriteParts removes an object's parts of exactly stamp, one
// write's, on a target.
func (c *Client) DeleteWriteParts(ctx context.Context, on cluster.Node, b store.Bucket, name string, stamp store.Stamp) error {
	return c.Call(ctx, http.MethodDelete, on.URL+PartsPath(b, name)+"&stamp="+url.QueryEscape(stamp.String())+"&"+QueryOneWrite+"=true", nil, nil)
}

// Ensure asks the owner of objects to restore those it lacks.
func (c *Client) Ensure(ctx context.Context, on cluster.Node, b store.Bucket, names []string) error {
	// A restore of many objects outlasts a control call: the caller's
	// deadline bounds it.
	return c.callLong(ctx, http.MethodPost, on.URL+"/v1/internal/ensure/"+url.PathEscape(b.Normalize().Name)+"?"+providerQuery(b), names, nil)
}

// QueryReprotect asks an ensure to store again the parts of objects the
// owner has (a holder removed bad ones).
const QueryReprotect = "reprotect"

// Reprotect asks the owner of objects to store again the parts a holder
// lacks.
func (c *Client) Reprotect(ctx context.Context, on cluster.Node, b store.Bucket, names []string) error {
	return c.callLong(ctx, http.MethodPost, on.URL+"/v1/internal/ensure/"+url.PathEscape(b.Normalize().Name)+"?"+providerQuery(b)+"&"+QueryReprotect+"=true", names, nil)
}

// JobRequest starts a job on a target.
type JobRequest struct {
	ID     string       `json:"id"`
	Kind   string       `json:"kind"`
	Bucket store.Bucket `json:"bucket,omitzero"`
	// BucketCreated is the bucket's creation as the gateway had it (0:
	// not said): a target whose bucket of the name was made again since
	// refuses the job, as it would write into another bucket.
	BucketCreated int64 `json:"bucket_created,omitempty"`
	// ToCreated is the same of To, the bucket a copy or an archive
	// writes into.
	ToCreated int64 `json:"to_created,omitempty"`
	// Repair, for a scrub.
	Repair bool `json:"repair,omitempty"`
	// Path, for a mountpath job.
	Path string `json:"path,omitempty"`
	// Names, Template and Prefix select the objects of a job over some
	// (delete, copy, summary); To is where a copy goes.
	Names    []string     `json:"names,omitempty"`
	Template string       `json:"template,omitempty"`
	Prefix   string       `json:"prefix,omitempty"`
	To       store.Bucket `json:"to,omitzero"`
	// DryRun, for a copy: the objects are counted, not copied.
	DryRun bool `json:"dry_run,omitempty"`
	// Download is the request of a download job (api.DownloadRequest).
	Download json.RawMessage `json:"download,omitempty"`
	// Archive is what an archive job writes (its To is the shard's
	// bucket).
	Archive *api.ArchiveMessage `json:"archive,omitempty"`
	// Writer is the one target that does a job's single part (writes an
	// archive job's shard, counts a summary's remote objects): picked by
	// the gateway, so that one target does, whatever map each has when
	// the job starts.
	Writer string `json:"writer,omitempty"`
	// Remote, for a summary: the remote buckets' own objects are counted
	// too (by the Writer), not only what the cluster holds.
	Remote bool `json:"remote,omitempty"`
	// Targets are the targets a download or prefetch job starts on: each
	// file is fetched by one of them (HRW of its name over these),
	// whatever targets join or leave while the job runs.
	Targets []string `json:"targets,omitempty"`
	// BucketsVersion is the version of the bucket metadata the gateway
	// started the job under: a target behind waits for it (the job of a
	// props change reads the props it changed).
	BucketsVersion int64 `json:"buckets_version,omitempty"`
}

// StartJob starts a job on a target.
func (c *Client) StartJob(ctx context.Context, on cluster.Node, req JobRequest) error {
	// A download's links may be tens of megabytes to read and record:
	// the caller's deadline bounds it.
	return c.callLong(ctx, http.MethodPut, on.URL+"/v1/internal/jobs", req, nil)
}

// AbortJob aborts a job on a target.
func (c *Client) AbortJob(ctx context.Context, on cluster.Node, id string) error {
	return c.Call(ctx, http.MethodDelete, on.URL+"/v1/internal/jobs/"+url.PathEscape(id), nil, nil)
}

// ForgetJob asks a target to forget an ended job of its registry.
func (c *Client) ForgetJob(ctx context.Context, on cluster.Node, id string) error {
	return c.Call(ctx, http.MethodDelete, on.URL+"/v1/internal/jobs/"+url.PathEscape(id)+"?remove=true", nil, nil)
}

// SealRequest asks a target to take no new objects in a bucket for a
// while (store.Maintainer.SealBucket) and to tell whether it holds any.
type SealRequest struct {
	// Created names the bucket's creation the seal holds for.
	Created store.Int64String `json:"created"`
	// Milliseconds is how long the seal holds unless lifted, by the
	// target's clock.
	Milliseconds int64 `json:"milliseconds"`
	// Ignore is a prefix of names that do not count as objects.
	Ignore string `json:"ignore,omitempty"`
	// Token names the destroy that seals: Unseal lifts its seal only.
	Token string `json:"token"`
}

// Seal seals a bucket on a target and tells whether the target holds
// objects in it.
func (c *Client) Seal(ctx context.Context, on cluster.Node, b store.Bucket, req SealRequest) (bool, error) {
	var answer struct {
		Holds bool `json:"holds_objects"`
	}
	err := c.Call(ctx, http.MethodPost, on.URL+SealPath(b), req, &answer)
	return answer.Holds, err
}

// Unseal lifts a target's seal of a bucket made with token.
func (c *Client) Unseal(ctx context.Context, on cluster.Node, b store.Bucket, token string) error {
	return c.Call(ctx, http.MethodDelete, on.URL+SealPath(b)+"&token="+url.QueryEscape(token), nil, nil)
}

// SealPath is the intra-cluster path of a bucket's seal, with its
// provider query.
func SealPath(b store.Bucket) string {
	return "/v1/internal/seal/" + url.PathEscape(b.Normalize().Name) + "?" + providerQuery(b)
}
