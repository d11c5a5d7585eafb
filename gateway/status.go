package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/authn"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/store"
)

// decodeJSON decodes data into v; empty data leaves v unchanged.
func decodeJSON(data json.RawMessage, v any) error {
	if len(data) == 0 || string(data) == "null" {
		return nil
	}
	return json.Unmarshal(data, v)
}

// localStatus is this node's own part of the cluster status.
func (n *Node) localStatus(ctx context.Context) api.NodeStatus {
	s := api.NodeStatus{ID: n.self.ID, Role: string(n.self.Role), URL: n.self.URL, State: string(n.self.State), Started: n.started.UnixNano(),
		Starting: !n.ready.Load()}
	if m := n.currentMap(); m != nil {
		s.MapVersion = m.Version
		if node, ok := m.Node(n.self.ID); ok {
			s.State = string(node.State)
		}
	}
	if n.config.Store != nil {
		capacity, err := n.capacityWithin(ctx)
		if err != nil {
			// Not Error, which says the node did not answer: a job's
			// status, a summary and ec-encode would wait for it.
			s.CapacityError = n.redact(err.Error())
		}
		s.Capacity = capacity
	}
	if n.config.Storage != nil {
		s.Mountpaths = n.config.Storage.MountpathStatuses()
	}
	s.Jobs = n.jobStatuses()
	for kind, since := range n.jobs.KeptSince() {
		if s.JobsSince == nil {
			s.JobsSince = map[string]int64{}
		}
		s.JobsSince[kind] = since.UnixNano()
	}
	return s
}

// peerQueryTimeout bounds one node's answer to what a client is waiting
// for (a status, a job's view): a node that hangs is shown with its error
// well within a client's patience (the Go client's 15s), not after it.
var peerQueryTimeout = 5 * time.Second

// askTargets asks every target at once, each for at most peerQueryTimeout,
// and returns their answers and errors by target.
func askTargets[T any](ctx context.Context, targets []cluster.Node, ask func(context.Context, cluster.Node) (T, error)) ([]T, []error) {
	answers, errs := make([]T, len(targets)), make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, peerQueryTimeout)
			defer cancel()
			answers[i], errs[i] = ask(ctx, t)
		})
	}
	wg.Wait()
	return answers, errs
}

// status gathers every node's status.
func (n *Node) status(ctx context.Context) api.ClusterStatus {
	m := n.currentMap()
	if m == nil {
		// Not joined yet: only this node is known.
		return api.ClusterStatus{Nodes: []api.NodeStatus{n.localStatus(ctx)}}
	}
	out := api.ClusterStatus{UUID: m.UUID, MapVersion: m.Version, Primary: m.Primary, Nodes: make([]api.NodeStatus, len(m.Nodes))}
	var wg sync.WaitGroup
	for i, node := range m.Nodes {
		if node.ID == n.self.ID {
			wg.Go(func() { out.Nodes[i] = n.localStatus(ctx) })
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, peerQueryTimeout)
			defer cancel()
			s, err := n.peer.Status(ctx, node)
			if err != nil {
				s = api.NodeStatus{ID: node.ID, Role: string(node.Role), URL: node.URL, Error: err.Error()}
			}
			s.State = string(node.State)
			out.Nodes[i] = s
		})
	}
	wg.Wait()
	return out
}

// writeJobOnlyStatus answers what=status&job=ID: every node's status
// with that job's entries only, no disks (nor addresses, unless the
// caller may read the cluster's status). It needs
// LIST on the job's bucket, and LIST or PUT on the one it writes into (a
// copy's); a job of no bucket (a rebalance) needs it on the cluster. A job no node has is an empty answer (the caller tells a
// job not found from one whose targets did not answer), not an error
// naming whose bucket it is.
func (n *Node) writeJobOnlyStatus(w http.ResponseWriter, r *http.Request, id string) {
	if err := pipeline.ValidateJobID(id); err != nil {
		n.writeError(w, r, badRequest("%w", err))
		return
	}
	// Addresses (in peers' errors too) are for who may read the cluster.
	_, notCluster := n.authorize(r, authn.PermList, "")
	s := n.status(r.Context())
	// By bucket: whether PUT does for LIST (the one it writes into only).
	buckets := map[string]bool{}
	for i := range s.Nodes {
		node := &s.Nodes[i]
		node.Capacity, node.Mountpaths, node.CapacityError = nil, nil, ""
		if notCluster != nil {
			node.URL = ""
			if node.Error != "" {
				node.Error = "no answer"
			}
		}
		var jobs []api.JobStatus
		for _, j := range node.Jobs {
			if j.ID == id {
				if notCluster != nil {
					j.Error = n.hideAddresses(j.Error) // (a peer's, in a copy's)
				}
				jobs = append(jobs, j)
				buckets[j.Bucket] = false
				if _, known := buckets[j.To]; j.To != "" && !known {
					buckets[j.To] = true // (its errors name it)
				}
			}
		}
		node.Jobs = jobs
	}
	for _, b := range slices.Sorted(maps.Keys(buckets)) {
		_, err := n.authorize(r, authn.PermList, b)
		if err != nil && buckets[b] {
			// Who started it (PUT there) follows it too.
			if _, perr := n.authorize(r, authn.PermPut, b); perr == nil {
				err = nil
			}
		}
		if err != nil {
			n.writeError(w, r, err)
			return
		}
	}
	writeJSON(w, s)
}

// ipAddresses are the IP addresses hideAddresses hides, with a port.
var ipAddresses = regexp.MustCompile(`\[[0-9A-Fa-f:.]+(%[\w.-]+)?\](:\d+)?|\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b`)

// hideAddresses replaces in an error the nodes' host names (as the map
// has them) and IP addresses with <node>.
func (n *Node) hideAddresses(message string) string {
	if m := n.currentMap(); m != nil {
		for _, node := range m.Nodes {
			if u, err := url.Parse(node.URL); err == nil && u.Hostname() != "" {
				message = strings.ReplaceAll(message, u.Hostname(), "<node>")
			}
		}
	}
	return ipAddresses.ReplaceAllString(message, "<node>")
}

// capacityWithin is the store's capacity within capacityTimeout: a disk
// that hangs (statfs on a dead NFS mount) must not hold a status, a
// scrape or a job's wait. Within the caller's own peerQueryTimeout, so
// that its answer (jobs and all) arrives. One read at a time: callers
// while one runs share it, so a hung disk holds one thread, not one per
// poll.
func (n *Node) capacityWithin(ctx context.Context) ([]store.MountpathCapacity, error) {
	timeout := time.Duration(capacityTimeout.Load())
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	n.capacityMu.Lock()
	read := n.capacityRead
	if read == nil {
		read = &capacityRead{done: make(chan struct{})}
		n.capacityRead = read
		go func() {
			// Not the caller's context: the read outlives a caller that
			// gives up, for the next to share.
			read.capacity, read.err = n.config.Store.Capacity(context.WithoutCancel(ctx))
			n.capacityMu.Lock()
			n.capacityRead = nil
			n.capacityMu.Unlock()
			close(read.done)
		}()
	}
	n.capacityMu.Unlock()
	select {
	case <-read.done:
		return slices.Clone(read.capacity), read.err
	case <-ctx.Done():
		return nil, fmt.Errorf("the node's disks did not tell their capacity within %s", timeout)
	}
}

// capacityRead is one read of the store's capacity, shared by those who
// ask while it runs.
type capacityRead struct {
	done     chan struct{}
	capacity []store.MountpathCapacity
	err      error
}

// capacityTimeout bounds a capacity read (nanoseconds; a test's
// shorter): half of peerQueryTimeout, which a status's caller waits.
var capacityTimeout atomic.Int64

func init() { capacityTimeout.Store(int64(peerQueryTimeout / 2)) }

func (n *Node) handleLocalStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, n.localStatus(r.Context()))
}

// jobStatuses lists the node's background jobs.
func (n *Node) jobStatuses() []api.JobStatus {
	out := append(n.rebalanceStatuses(), n.dsortStatuses()...)
	for _, j := range n.jobs.List() {
		s := api.JobStatus{ID: j.ID, Kind: j.Kind, Running: j.Running, Aborted: j.Aborted, Objects: j.Objects, Bytes: j.Bytes, Total: j.Total,
			Error: j.Error, ErrorKind: j.ErrorKind, Result: j.Result, Started: j.Started.UnixNano(), Targets: j.Targets}
		if j.Bucket.Name != "" {
			s.Bucket = j.Bucket.String()
		}
		if j.To.Name != "" {
			s.To = j.To.String()
		}
		if !j.Finished.IsZero() {
			s.Finished = j.Finished.UnixNano()
		}
		out = append(out, s)
	}
	// Errors name files (a failed disk's): the node's directories are
	// not for every caller to see.
	for i := range out {
		out[i].Error = n.redact(out[i].Error)
	}
	return out
}
