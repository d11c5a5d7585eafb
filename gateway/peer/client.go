package peer

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/cluster/rebalance"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/shards"
	"github.com/aisgo/aisgo/store"
)

// Limits of what a node reads of another's answer.
const (
	// MaxAnswer bounds the JSON answer of a control call (a listing page,
	// a status, a snapshot).
	MaxAnswer = 64 << 20
	// MaxPlan bounds the records' metadata of one target: an extraction
	// answer or a shard plan (pipeline.MaxPlanRecords of them).
	MaxPlan = pipeline.MaxPlanBytes
)

// MetaMessage carries the cluster map and bucket metadata from the
// primary to every node (PUT /v1/metasync), and back to a node that joins
// or proposes a change (PUT /v1/internal/cluster).
type MetaMessage struct {
	Map     *cluster.Map          `json:"map,omitempty"`
	Buckets *store.BucketMetadata `json:"bmd,omitempty"`
	// Config is the cluster config, in the answer to a change.
	Config *membership.ClusterConfig `json:"config,omitempty"`
	// Tokens are the revoked user tokens.
	Tokens *membership.RevokedTokens `json:"tokens,omitempty"`
	// AllowEmpty: the primary's own change left no targets or buckets.
	AllowEmpty bool `json:"allow_empty,omitempty"`
	// Index is the leader's log position of a change's answer (see
	// membership.Snapshot.Index).
	Index uint64 `json:"index,omitempty"`
}

// Snapshot returns the message's snapshot.
func (m MetaMessage) Snapshot() membership.Snapshot {
	return membership.Snapshot{Map: m.Map, Buckets: m.Buckets, Config: m.Config, Tokens: m.Tokens, Index: m.Index}
}

// RemoveRequest asks a target to remove objects older than Stamp (zero:
// as of now), wherever placement would put them.
type RemoveRequest struct {
	Names []string    `json:"names"`
	Stamp store.Stamp `json:"stamp"`
	// Job, when set, removes only the copies that dSort job wrote (the
	// output of a failed job): others of the same names stay.
	Job string `json:"job,omitempty"`
	// BeforeAttempt, with Job, above 0, removes only the copies of the
	// job's attempts before it: a later attempt's output stays.
	BeforeAttempt int `json:"before_attempt,omitempty"`
	// AllOfJob, with Job and no Names, removes every object of the
	// bucket the job wrote, found by scanning the target's copies: the
	// output of a job settled without its coordinator, whose names no
	// node keeps.
	AllOfJob bool `json:"all_of_job,omitempty"`
	// Held removes only the copies the target holds, leaving no
	// tombstone where it has none (a stray copy's removal, outside a
	// rebalance: the owner keeps the delete's tombstone).
	Held bool `json:"held,omitempty"`
}

// ClientConfig configures a Client.
type ClientConfig struct {
	Auth *Auth
	// Node is the id requests are signed as.
	Node string
	// Transport carries the requests; nil means api.NewTransport(). In an
	// HTTPS cluster it trusts the nodes' CA and shows this node's
	// certificate to peers that verify clients (api.NewTransportTLS).
	Transport http.RoundTripper
	// Timeout bounds a control call (not a phase or a stream); zero means
	// 30s.
	Timeout time.Duration
	// UserAuth is this node's user authentication as a join tells it
	// (membership.Change.Auth).
	UserAuth string
	// RecordsStall bounds how long a stream between targets (a dSort
	// records fetch, an EC part sent or read) waits for the peer's next
	// bytes: one that stalls would hold a job in create, or a restore and
	// every read waiting on it, for good. Zero means 2m.
	RecordsStall time.Duration
}

// Client is a node's side of every intra-cluster exchange: each request is
// signed (see Auth), each answer bounded. It implements the transports the
// control plane (membership.Transport), the rebalance (rebalance.Sender)
// and dSort (pipeline.Targets, pipeline.Fetcher) declare.
type Client struct {
	http *http.Client
	// records carries record streams (Fetch): a creator has one open
	// per holder of each shard it builds, up to (targets-1) x builds at
	// once, so its connections take small buffers (the bytes of a big
	// file go from the connection straight into the shard).
	records      *http.Client
	timeout      time.Duration
	recordsStall time.Duration
	userAuth     string
	// pushed is the last snapshot a push encoded, and its body: a round
	// of keepalives pushes one snapshot to every target, encoded once.
	pushed struct {
		mu     sync.Mutex
		key    pushKey
		body   encoded
		digest string
		// took are the nodes that took this body whole, by id: the next
		// rounds send them its digest alone (a snapshot with many
		// revoked tokens is megabytes, every round, to every node).
		took map[string]bool
	}
}

// pushKey names a pushed snapshot by its parts, which a change replaces
// and never alters.
type pushKey struct {
	m          *cluster.Map
	buckets    *store.BucketMetadata
	config     *membership.ClusterConfig
	tokens     *membership.RevokedTokens
	allowEmpty bool
}

// encoded is a request body already in JSON.
type encoded []byte

var (
	_ membership.Transport = (*Client)(nil)
	_ rebalance.Sender     = (*Client)(nil)
	_ pipeline.Fetcher     = (*Client)(nil)
)

// NewClient returns a client.
func NewClient(cfg ClientConfig) *Client {
	if cfg.Transport == nil {
		cfg.Transport = api.NewTransport()
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	noRedirects := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c := &Client{
		http:         &http.Client{Transport: cfg.Auth.Transport(cfg.Node, cfg.Transport), CheckRedirect: noRedirects},
		timeout:      cfg.Timeout,
		recordsStall: cmp.Or(cfg.RecordsStall, 2*time.Minute),
		userAuth:     cfg.UserAuth,
	}
	c.records = c.http
	if t, ok := cfg.Transport.(*http.Transport); ok {
		small := t.Clone()
		small.ReadBufferSize, small.WriteBufferSize = recordsReadBuffer, 4<<10
		c.records = &http.Client{Transport: cfg.Auth.Transport(cfg.Node, small), CheckRedirect: noRedirects}
	}
	return c
}

// recordsReadBuffer is the read buffer of a record stream's connection.
const recordsReadBuffer = 32 << 10

// HTTP returns the signing HTTP client, for requests the methods here do
// not cover (relaying a stream). Use it for other nodes only.
func (c *Client) HTTP() *http.Client { return c.http }

// Call sends a control request with a JSON body (when in is not nil) and
// decodes a JSON answer into out (when not nil). An unreachable node is
// api.ErrUnavailable; a node's error answer is an *api.Error.
func (c *Client) Call(ctx context.Context, method, url string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return c.call(ctx, method, url, in, out)
}

// callLong is Call for work that may outlast the request timeout (a
// removal over a whole bucket, an abort that removes what a job wrote):
// the caller's deadline bounds it when it has one.
func (c *Client) callLong(ctx context.Context, method, url string, in, out any) error {
	if _, ok := ctx.Deadline(); ok {
		return c.call(ctx, method, url, in, out)
	}
	return c.Call(ctx, method, url, in, out)
}

func (c *Client) call(ctx context.Context, method, url string, in, out any) error {
	var body io.Reader
	if e, ok := in.(encoded); ok {
		body = bytes.NewReader(e)
	} else if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	resp, err := c.do(ctx, method, url, body, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, MaxAnswer))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, MaxAnswer)).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, url, err)
	}
	return nil
}

// do sends a request and returns a 2xx answer; the caller closes it.
func (c *Client) do(ctx context.Context, method, url string, body io.Reader, contentType string) (*http.Response, error) {
	return c.doWith(ctx, c.http, method, url, body, contentType)
}

func (c *Client) doWith(ctx context.Context, client *http.Client, method, url string, body io.Reader, contentType string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	if body != nil && contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %w", api.ErrUnavailable, method, url, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

// decodeError reads a node's error answer; a dSort kind wraps its
// sentinel, so errors.Is works as if the error had been returned here.
func decodeError(resp *http.Response) error {
	err := api.DecodeError(resp)
	var remote *api.Error
	if errors.As(err, &remote) {
		if sentinel := pipeline.Kinds.Err(remote.Kind); sentinel != nil {
			return fmt.Errorf("%w: %w", sentinel, err)
		}
	}
	return err
}

// stream sends a long-running request (no timeout: a phase takes as long
// as it takes; cancellation ends it).
func (c *Client) stream(ctx context.Context, url string, body []byte) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	return c.do(ctx, http.MethodPost, url, r, "application/msgpack")
}

// The control plane (membership.Transport).

// unreachable marks errors a join may wait out.
func unreachable(err error) error {
	if errors.Is(err, api.ErrUnavailable) || errors.Is(err, api.ErrNoQuorum) {
		return fmt.Errorf("%w: %w", membership.ErrUnreachable, err)
	}
	return err
}

// QueryPlacement carries the cluster.Map.Placement a rebalance batch was
// placed by.
const QueryPlacement = "placement"

// Push sends a snapshot to a node's metasync route.
// A node that answers with a server error (but 503: starting, or
// removed) is alive and failed to take it (membership.ErrRefused); an
// answer no node signed with its id is a miss (a proxy's); a 4xx
// (another cluster's node, another secret, a stale sender) is not ours
// to count as alive.
//
// A node that took the same body whole before is sent its digest alone
// (QueryDigest), which it takes as the body it stands for; one that
// does not know it (restarted, of an older version) is sent the body.
func (c *Client) Push(ctx context.Context, to cluster.Node, s membership.Snapshot, allowEmpty bool) error {
	body, digest, took, err := c.pushBody(s, allowEmpty, to.ID)
	if err != nil {
		return err
	}
	if took {
		err := c.pushTo(ctx, to, to.URL+"/v1/metasync?"+QueryDigest+"="+digest, nil)
		var answer *api.Error
		if !errors.As(err, &answer) && !errors.Is(err, errNoNodeAnswered) {
			return err // taken, or not reached
		}
		// Answered otherwise (it does not know the digest): the body.
	}
	err = c.pushTo(ctx, to, to.URL+"/v1/metasync", body)
	var answer *api.Error
	if errors.As(err, &answer) && answer.Status == http.StatusServiceUnavailable && strings.Contains(answer.Message, StoppingMessage) {
		return fmt.Errorf("%w: %w", membership.ErrStopping, err)
	}
	if errors.As(err, &answer) && answer.Status >= 500 && answer.Status != http.StatusServiceUnavailable {
		return fmt.Errorf("%w: %w", membership.ErrRefused, err)
	}
	if err == nil {
		c.pushed.mu.Lock()
		if c.pushed.digest == digest {
			c.pushed.took[to.ID] = true
		}
		c.pushed.mu.Unlock()
	}
	return err
}

// errNoNodeAnswered is an answer without a node's id: not the node's.
var errNoNodeAnswered = errors.New("answered by no node")

// pushTo sends a push to a node's address and takes the answer as the
// node's only if that node gave it: another at its address (the node
// restarted elsewhere, its address taken by another) has not taken the
// map, nor shown the node alive, nor refused it.
func (c *Client) pushTo(ctx context.Context, to cluster.Node, url string, body encoded) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w: PUT %s: %w", api.ErrUnavailable, url, err)
	}
	defer resp.Body.Close()
	if id := resp.Header.Get(api.HeaderNodeID); id != "" && id != to.ID {
		return fmt.Errorf("%w: PUT %s: answered by node %s, not %s", api.ErrUnavailable, url, id, to.ID)
	}
	if resp.StatusCode >= 300 && resp.Header.Get(api.HeaderNodeID) == "" {
		// Every node names itself: this is an HTTP proxy's answer in
		// front of a node gone (502, 504), a miss, not a refusal that
		// would show the node alive.
		return fmt.Errorf("%w: PUT %s: %w: %s: %v", api.ErrUnavailable, url, errNoNodeAnswered, resp.Status, decodeError(resp))
	}
	if resp.StatusCode >= 300 {
		return decodeError(resp)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, MaxAnswer))
	return nil
}

// QueryDigest names a metasync push's digest: the body it stands for is
// the one the node took last.
const QueryDigest = "digest"

// Digest is a metasync body's digest.
func Digest(body []byte) string { return strconv.FormatUint(xxhash.Sum64(body), 16) }

// pushBody is the body of a push of s, encoded once for the snapshot,
// its digest, and whether node took it whole already.
func (c *Client) pushBody(s membership.Snapshot, allowEmpty bool, node string) (encoded, string, bool, error) {
	key := pushKey{s.Map, s.Buckets, s.Config, s.Tokens, allowEmpty}
	c.pushed.mu.Lock()
	defer c.pushed.mu.Unlock()
	if c.pushed.body != nil && c.pushed.key == key {
		return c.pushed.body, c.pushed.digest, c.pushed.took[node], nil
	}
	data, err := json.Marshal(MetaMessage{Map: s.Map, Buckets: s.Buckets, Config: s.Config, Tokens: s.Tokens, AllowEmpty: allowEmpty})
	if err != nil {
		return nil, "", false, err
	}
	c.pushed.key, c.pushed.body, c.pushed.digest, c.pushed.took = key, data, Digest(data), map[string]bool{}
	return data, c.pushed.digest, false, nil
}

// Join asks the gateway at url to add self, of the cluster uuid if known.
func (c *Client) Join(ctx context.Context, url string, self cluster.Node, uuid string) (membership.Snapshot, error) {
	return c.change(ctx, url, membership.Change{Kind: membership.Join, Node: self, UUID: uuid, Auth: c.userAuth})
}

// Forward sends a change to the primary.
func (c *Client) Forward(ctx context.Context, primary cluster.Node, ch membership.Change) (membership.Snapshot, error) {
	return c.change(ctx, primary.URL, ch)
}

func (c *Client) change(ctx context.Context, url string, ch membership.Change) (membership.Snapshot, error) {
	var answer MetaMessage
	if err := c.Call(ctx, http.MethodPut, url+"/v1/internal/cluster", ch, &answer); err != nil {
		// A leader of an older build refusing a change of a newer level
		// answers 503, to retry once an upgraded gateway leads: the
		// caller is told at once (it may send an older form), not left
		// retrying until it reads as no quorum.
		if strings.Contains(err.Error(), "the change needs a newer protocol level") { // as any build says it
			return membership.Snapshot{}, fmt.Errorf("%w: %s: %w", membership.ErrLeaderBehind, url, err)
		}
		return membership.Snapshot{}, unreachable(err)
	}
	if answer.Map == nil || answer.Buckets == nil {
		return membership.Snapshot{}, fmt.Errorf("%s: the answer has no cluster map", url)
	}
	return answer.Snapshot(), nil
}

// Probe checks that a node answers at its URL as itself.
func (c *Client) Probe(ctx context.Context, node cluster.Node) error {
	status, err := c.Status(ctx, node)
	if err != nil {
		return err
	}
	if status.ID != node.ID {
		return fmt.Errorf("the node at %s is %q", node.URL, status.ID)
	}
	return nil
}

// HeaderLogIndex carries, with a gateway's map, the index of the last
// entry of the replicated log it applied: a gateway catching up waits
// until it applied that far (revoked tokens and S3 keys, which the pull
// does not carry, among them).
const HeaderLogIndex = "Ais-Log-Index"

// Pull fetches a node's snapshot; a gateway's has its log index.
func (c *Client) Pull(ctx context.Context, from cluster.Node) (membership.Snapshot, error) {
	msg := MetaMessage{Map: new(cluster.Map), Buckets: new(store.BucketMetadata)}
	index, err := c.pullMap(ctx, from.URL+"/v1/cluster?what=smap", msg.Map)
	if err != nil {
		return membership.Snapshot{}, err
	}
	msg.Index = index
	if err := c.Call(ctx, http.MethodGet, from.URL+"/v1/cluster?what=bmd", nil, msg.Buckets); err != nil {
		return membership.Snapshot{}, err
	}
	if from.Role.IsGateway() {
		config := new(membership.ClusterConfig)
		if err := c.Call(ctx, http.MethodGet, from.URL+"/v1/cluster?what=config", nil, config); err != nil {
			return membership.Snapshot{}, err
		}
		msg.Config = config
	}
	return msg.Snapshot(), nil
}

// pullMap reads a node's map, and the log index that came with it.
func (c *Client) pullMap(ctx context.Context, url string, m *cluster.Map) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.do(ctx, http.MethodGet, url, nil, "")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, MaxAnswer)).Decode(m); err != nil {
		return 0, fmt.Errorf("GET %s: decode answer: %w", url, err)
	}
	index, _ := strconv.ParseUint(resp.Header.Get(HeaderLogIndex), 10, 64) // none: 0
	return index, nil
}

// StoppingMessage is in the 503 a stopping target answers a push with
// (membership.ErrStopping).
const StoppingMessage = "is stopping: it takes no more snapshots"

// LogIndexOf is the index of the replicated log a gateway's state has (0
// for none), as its map's answer says.
func (c *Client) LogIndexOf(ctx context.Context, node cluster.Node) (uint64, error) {
	return c.pullMap(ctx, node.URL+"/v1/cluster?what=smap", new(cluster.Map))
}

// PullMap reads a node's cluster map.
func (c *Client) PullMap(ctx context.Context, from cluster.Node) (*cluster.Map, error) {
	m := new(cluster.Map)
	if _, err := c.pullMap(ctx, from.URL+"/v1/cluster?what=smap", m); err != nil {
		return nil, err
	}
	return m, nil
}

// Status asks a node for its own status.
func (c *Client) Status(ctx context.Context, node cluster.Node) (api.NodeStatus, error) {
	var s api.NodeStatus
	err := c.Call(ctx, http.MethodGet, node.URL+"/v1/internal/status", nil, &s)
	return s, err
}

// Objects on targets.

// List asks a target for a page of its objects of a bucket.
// A page cut short by the target's bound on bytes (HeaderListCut) says
// so: entries past its last name may be there still.
func (c *Client) List(ctx context.Context, target cluster.Node, b store.Bucket, query url.Values) (page []api.ListEntry, cut bool, err error) {
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set(api.QueryProvider, b.Normalize().Provider)
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	address := target.URL + "/v1/internal/list/" + url.PathEscape(b.Name) + "?" + q.Encode()
	resp, err := c.do(ctx, http.MethodGet, address, nil, "")
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, MaxAnswer)).Decode(&page); err != nil {
		return nil, false, fmt.Errorf("list %s on target %s: decode answer: %w", b, target.ID, err)
	}
	return page, resp.Header.Get(HeaderListCut) != "", nil
}

// HeaderListCut marks a target's listing page cut short by its bound on
// bytes rather than by the entries asked for.
const HeaderListCut = "Ais-List-Cut"

// Remove has a target remove objects older than the request's stamp and
// returns how many it removed.
func (c *Client) Remove(ctx context.Context, target cluster.Node, b store.Bucket, req RemoveRequest) (int, error) {
	var answer struct {
		Removed int `json:"removed"`
	}
	err := c.callLong(ctx, http.MethodPost, target.URL+"/v1/internal/remove/"+url.PathEscape(b.Name)+"?"+providerQuery(b), req, &answer)
	return answer.Removed, err
}

// Send streams a rebalance batch to a target (rebalance.Sender).
// A receiver that takes nothing of the batch, or answers nothing once it
// has it all, for the stall time fails it (the run tries again): a hung
// handler on a live target would hold the rebalance until the map
// changes.
func (c *Client) Send(ctx context.Context, to cluster.Node, placement uint64, body io.Reader) ([]rebalance.Receipt, error) {
	watch := c.watchStall(ctx, fmt.Errorf("%w: target %s took or answered nothing of a rebalance batch for %s", api.ErrUnavailable, to.ID, c.recordsStall))
	resp, err := c.do(watch.ctx, http.MethodPost, to.URL+"/v1/internal/receive?"+QueryPlacement+"="+strconv.FormatUint(placement, 10), watch.sent(body), "application/msgpack")
	if err != nil {
		return nil, watch.end(err)
	}
	answer := watch.body(resp.Body)
	defer answer.Close()
	var receipts []rebalance.Receipt
	if err := json.NewDecoder(io.LimitReader(answer, MaxAnswer)).Decode(&receipts); err != nil {
		return nil, watch.end(fmt.Errorf("decode receipts: %w", err))
	}
	return receipts, nil
}

// dSort phases on targets (pipeline.Targets) and record fetches
// (pipeline.Fetcher).

// Init prepares a job on a target.
func (c *Client) Init(ctx context.Context, t cluster.Node, init pipeline.JobInit) error {
	return c.callLong(ctx, http.MethodPost, t.URL+"/v1/sort/init", init, nil)
}

// Extract runs extraction on a target and returns its records' metadata.
func (c *Client) Extract(ctx context.Context, t cluster.Node, id string) ([]shards.RecordMeta, error) {
	resp, err := c.stream(ctx, t.URL+"/v1/sort/extract/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxPlan+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxPlan {
		return nil, fmt.Errorf("%w: the extraction answer of %s is over %d bytes", pipeline.ErrWireLimit, t.ID, MaxPlan)
	}
	metas, _, err := pipeline.ReadRecords(data, pipeline.MaxPlanRecords)
	return metas, err
}

// Create builds a target's output shards.
func (c *Client) Create(ctx context.Context, t cluster.Node, id string, planned []shards.OutputShard) error {
	resp, err := c.stream(ctx, t.URL+"/v1/sort/create/"+url.PathEscape(id), pipeline.AppendShards(nil, planned))
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Finish releases a finished job on a target.
func (c *Client) Finish(ctx context.Context, t cluster.Node, id string) error {
	// Bounded by the caller's deadline: a finish releases the job's
	// spill files first, which may take longer than a request.
	return c.callLong(ctx, http.MethodPost, t.URL+"/v1/sort/finish/"+url.PathEscape(id), nil, nil)
}

// Abort stops a job on a target.
func (c *Client) Abort(ctx context.Context, t cluster.Node, id, cause string) error {
	if len(cause) > maxAbortCause {
		cause = cause[:maxAbortCause] + "..." // in the URL: within a header's bounds
	}
	return c.callLong(ctx, http.MethodDelete, t.URL+"/v1/sort/abort/"+url.PathEscape(id)+"?cause="+url.QueryEscape(cause), nil, nil)
}

// maxAbortCause bounds the cause an abort carries.
const maxAbortCause = 4 << 10

// RemoveJob forgets a finished job on a target.
func (c *Client) RemoveJob(ctx context.Context, t cluster.Node, id string) error {
	return c.Call(ctx, http.MethodDelete, t.URL+"/v1/sort/remove/"+url.PathEscape(id), nil, nil)
}

// Stats returns a job's state on a target.
func (c *Client) Stats(ctx context.Context, t cluster.Node, id string) (pipeline.JobStats, error) {
	var s pipeline.JobStats
	err := c.Call(ctx, http.MethodGet, t.URL+"/v1/sort/stats/"+url.PathEscape(id), nil, &s)
	return s, err
}

// RegisteredJob asks a gateway for a job's entry in the registry.
func (c *Client) RegisteredJob(ctx context.Context, gateway cluster.Node, id string) (membership.Job, error) {
	var j membership.Job
	err := c.Call(ctx, http.MethodGet, gateway.URL+"/v1/sort/registry/"+url.PathEscape(id), nil, &j)
	return j, err
}

// Keepalive tells a target a job's coordinator is alive.
func (c *Client) Keepalive(ctx context.Context, t cluster.Node, id string) error {
	return c.Call(ctx, http.MethodGet, t.URL+"/v1/sort/stats/"+url.PathEscape(id)+"?keepalive=true", nil, nil)
}

// Jobs lists the dSort jobs of a target.
func (c *Client) Jobs(ctx context.Context, t cluster.Node) ([]pipeline.JobStats, error) {
	var jobs []pipeline.JobStats
	err := c.Call(ctx, http.MethodGet, t.URL+"/v1/sort/stats", nil, &jobs)
	return jobs, err
}

// QueryAttempt names the attempt of the job a records fetch is of.
const QueryAttempt = "attempt"

// Fetch asks a holder for records' bytes in one request. A holder that
// sends nothing for RecordsStall while the caller waits for its answer or
// its next bytes fails the fetch.
func (c *Client) Fetch(ctx context.Context, holder cluster.Node, id string, attempt int, records []shards.RecordMeta) (io.ReadCloser, error) {
	watch := c.watchStall(ctx, fmt.Errorf("%w: holder %s at %s sent nothing for %s", api.ErrUnavailable, holder.ID, holder.URL, c.recordsStall))
	link := holder.URL + "/v1/sort/records/" + url.PathEscape(id) + "?" + QueryAttempt + "=" + strconv.Itoa(attempt)
	resp, err := c.doWith(watch.ctx, c.records, http.MethodPost, link, bytes.NewReader(pipeline.AppendFetch(nil, records)), "application/msgpack")
	if err != nil {
		return nil, watch.end(err)
	}
	return watch.body(resp.Body), nil
}

// stallWatch fails a stream with a peer that moves no bytes for the
// client's stall bound (RecordsStall) while its caller waits: for the
// answer, for its next bytes, or for the peer to take the next bytes
// sent. The caller's own pauses between reads do not count.
type stallWatch struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
	stall  time.Duration
	cause  error
}

// watchStall starts a watch, which runs until the answer comes; cause is
// the error a stall fails the stream with.
func (c *Client) watchStall(ctx context.Context, cause error) *stallWatch {
	ctx, cancel := context.WithCancelCause(ctx)
	w := &stallWatch{ctx: ctx, cancel: cancel, stall: c.recordsStall, cause: cause}
	w.timer = time.AfterFunc(w.stall, func() { cancel(cause) })
	return w
}

// end ends the watch, and returns err, or the stall when it caused err.
func (w *stallWatch) end(err error) error {
	w.timer.Stop()
	if err != nil && context.Cause(w.ctx) == w.cause {
		err = w.cause
	}
	w.cancel(nil)
	return err
}

// body is an answer's body, watched as it is read; its Close ends the
// watch.
func (w *stallWatch) body(r io.ReadCloser) io.ReadCloser {
	w.timer.Stop()
	return &stallingBody{body: r, watch: w}
}

// sent is a request's body, watched as the peer takes it: each read of
// it restarts the wait.
func (w *stallWatch) sent(r io.Reader) io.Reader { return watchedReader{r, w} }

type watchedReader struct {
	r     io.Reader
	watch *stallWatch
}

func (r watchedReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.watch.timer.Reset(r.watch.stall)
	return n, err
}

// stallingBody fails a read that waits longer than the stall for bytes.
type stallingBody struct {
	body  io.ReadCloser
	watch *stallWatch
}

func (b *stallingBody) Read(p []byte) (int, error) {
	b.watch.timer.Reset(b.watch.stall)
	n, err := b.body.Read(p)
	b.watch.timer.Stop()
	if err != nil && err != io.EOF {
		if cause := context.Cause(b.watch.ctx); cause != nil {
			err = cause
		}
	}
	return n, err
}

func (b *stallingBody) Close() error {
	err := b.body.Close()
	b.watch.end(nil)
	return err
}

// providerQuery names a bucket's provider in an intra-cluster request.
func providerQuery(b store.Bucket) string {
	return url.Values{api.QueryProvider: {b.Normalize().Provider}}.Encode()
}
