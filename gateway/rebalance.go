package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/store"
	"github.com/tinylib/msgp/msgp"
)

// Rebalance moves objects to their owners when the targets change. Every
// target walks its objects and sends those another target now owns, in
// batches (one request carries many objects), to be stored there only if
// absent; local copies go only once every batch has been acknowledged, so
// at any moment each object is on at least one target, and a GET that
// reaches the new owner first is served from wherever the object still is.

// rebalanceBatch bounds one request of a rebalance.
const (
	rebalanceBatchObjects = 256
	rebalanceBatchBytes   = 64 << 20
	rebalanceHistory      = 8
)

// rebalanceRun is one rebalance on this target.
type rebalanceRun struct {
	id       string
	cancel   context.CancelFunc
	done     chan struct{}
	objects  atomic.Int64
	bytes    atomic.Int64
	started  time.Time
	mu       sync.Mutex
	finished time.Time
	err      error
}

func (r *rebalanceRun) status() api.JobStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := api.JobStatus{ID: r.id, Kind: "rebalance", Objects: r.objects.Load(), Bytes: r.bytes.Load(), Started: r.started.UnixNano(), Running: r.finished.IsZero()}
	if !r.finished.IsZero() {
		s.Finished = r.finished.UnixNano()
	}
	if r.err != nil {
		s.Error = r.err.Error()
	}
	return s
}

// rebalancer keeps this target's rebalance runs.
type rebalancer struct {
	mu      sync.Mutex
	current *rebalanceRun
	history []*rebalanceRun
}

// recentWindow is how long after a rebalance started objects may still be
// on their old targets, or on their way.
const recentWindow = 10 * time.Minute

// recent reports whether a rebalance ran lately here.
func (rb *rebalancer) recent() bool {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	return rb.current != nil && time.Since(rb.current.started) < recentWindow
}

// tombstones remember objects deleted while a rebalance may still bring
// old copies: a copy that arrives afterwards is dropped.
type tombstones struct {
	mu    sync.Mutex
	names map[string]time.Time
}

func (t *tombstones) add(uname string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.names == nil {
		t.names = map[string]time.Time{}
	}
	now := time.Now()
	t.names[uname] = now
	for name, at := range t.names {
		if now.Sub(at) > recentWindow {
			delete(t.names, name)
		}
	}
}

func (t *tombstones) remove(uname string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.names, uname)
}

func (t *tombstones) has(uname string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.names[uname]
	return ok && time.Since(at) <= recentWindow
}

// statuses lists the current and recent runs.
func (rb *rebalancer) statuses() []api.JobStatus {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	out := make([]api.JobStatus, 0, len(rb.history))
	for _, r := range rb.history {
		out = append(out, r.status())
	}
	return out
}

// startRebalance replaces a running rebalance with one for map m.
func (n *Node) startRebalance(m *cluster.Map) {
	if !n.config.Role.IsTarget() {
		return
	}
	rb := &n.rebalance
	rb.mu.Lock()
	previous := rb.current
	ctx, cancel := context.WithCancel(n.loops)
	run := &rebalanceRun{id: fmt.Sprintf("reb-%d", m.Version), cancel: cancel, done: make(chan struct{}), started: time.Now()}
	rb.current = run
	rb.history = append(rb.history, run)
	if len(rb.history) > rebalanceHistory {
		rb.history = rb.history[1:]
	}
	rb.mu.Unlock()
	n.wg.Go(func() {
		defer close(run.done)
		defer cancel()
		if previous != nil {
			previous.cancel()
			<-previous.done
		}
		// A failed run (a target not ready yet, a transient error) is
		// tried again until it succeeds or a newer map replaces it.
		err := n.rebalanceTo(ctx, m, run)
		for delay := time.Second; err != nil && ctx.Err() == nil; delay = min(2*delay, 30*time.Second) {
			n.logger.Info("rebalance will try again", "id", run.id, "in", delay, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(delay):
				err = n.rebalanceTo(ctx, m, run)
			}
		}
		run.mu.Lock()
		run.finished, run.err = time.Now(), err
		run.mu.Unlock()
		if err != nil {
			n.logger.Warn("rebalance stopped", "id", run.id, "moved", run.objects.Load(), "err", err)
			return
		}
		n.logger.Info("rebalance finished", "id", run.id, "moved", run.objects.Load(), "bytes", run.bytes.Load(), "elapsed", time.Since(run.started).Round(time.Millisecond))
		n.leftIfLeaving(ctx, m)
	})
}

// movingObject is one object to send.
type movingObject struct {
	bucket store.Bucket
	meta   store.ObjectMeta
}

// rebalanceTo sends every object another target owns under m to it, then
// removes the local copies that were acknowledged.
func (n *Node) rebalanceTo(ctx context.Context, m *cluster.Map, run *rebalanceRun) error {
	st := n.config.Store
	md, err := st.Buckets(ctx)
	if err != nil {
		return err
	}
	queues := map[string]chan movingObject{}
	var acked []movingObject
	var ackedMu sync.Mutex
	var senders sync.WaitGroup
	var sendErr atomic.Pointer[error]
	queueFor := func(owner cluster.Node) chan movingObject {
		q, ok := queues[owner.ID]
		if ok {
			return q
		}
		q = make(chan movingObject, rebalanceBatchObjects)
		queues[owner.ID] = q
		senders.Go(func() {
			done, err := n.sendObjects(ctx, owner, q, run)
			ackedMu.Lock()
			acked = append(acked, done...)
			ackedMu.Unlock()
			if err != nil {
				sendErr.CompareAndSwap(nil, &err)
			}
		})
		return q
	}
	walkErr := func() error {
		for name := range md.Buckets {
			b := store.NewBucket(name)
			after := ""
			for {
				page, err := st.List(ctx, b, store.ListOptions{StartAfter: after, Limit: 1000, WithMeta: true})
				if err != nil {
					if errors.Is(err, store.ErrBucketNotFound) {
						break
					}
					return err
				}
				if len(page) == 0 {
					break
				}
				for _, o := range page {
					owner, err := m.Owner(cluster.Uname(b.Provider, b.Name, o.Name))
					if err != nil {
						return err
					}
					if owner.ID == n.config.ID {
						continue
					}
					select {
					case queueFor(owner) <- movingObject{bucket: b, meta: o}:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				after = page[len(page)-1].Name
			}
		}
		return nil
	}()
	for _, q := range queues {
		close(q)
	}
	senders.Wait()
	if walkErr != nil {
		return walkErr
	}
	if p := sendErr.Load(); p != nil {
		return *p
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Every copy is acknowledged: the local ones can go.
	for _, o := range acked {
		if err := st.Delete(ctx, o.bucket, o.meta.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("remove moved object %s/%s: %w", o.bucket, o.meta.Name, err)
		}
	}
	return nil
}

// sendObjects drains a queue to one target in batches and returns the
// objects it acknowledged.
func (n *Node) sendObjects(ctx context.Context, to cluster.Node, q <-chan movingObject, run *rebalanceRun) ([]movingObject, error) {
	var done []movingObject
	var batch []movingObject
	var size int64
	var failed error
	flush := func() {
		if len(batch) == 0 || failed != nil {
			batch, size = batch[:0], 0
			return
		}
		ok, err := n.sendBatch(ctx, to, batch)
		if err != nil {
			failed = fmt.Errorf("send to %s: %w", to.ID, err)
		}
		for _, o := range ok {
			run.objects.Add(1)
			run.bytes.Add(o.meta.Size)
		}
		done = append(done, ok...)
		batch, size = nil, 0
	}
	for o := range q {
		batch = append(batch, o)
		size += o.meta.Size
		if len(batch) >= rebalanceBatchObjects || size >= rebalanceBatchBytes {
			flush()
		}
	}
	flush()
	return done, failed
}

// receiveResult is the receiver's answer for one object.
type receiveResult struct {
	Name  string `json:"name"`
	Error string `json:"error,omitempty"`
}

// sendBatch streams objects to a target in one request.
func (n *Node) sendBatch(ctx context.Context, to cluster.Node, batch []movingObject) ([]movingObject, error) {
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 256<<10)
		buf := pool.Get(pool.CopyBufferSize)
		defer pool.Put(buf)
		header := make([]byte, 0, 512)
		for _, o := range batch {
			obj, err := n.config.Store.Open(ctx, o.bucket, o.meta.Name, store.OpenOptions{})
			if errors.Is(err, store.ErrNotFound) {
				continue // deleted since it was listed
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			meta := obj.Meta()
			header = appendObjectFrame(header[:0], o.bucket, meta)
			_, err = bw.Write(header)
			if err == nil {
				var copied int64
				copied, err = io.CopyBuffer(bw, io.LimitReader(obj, meta.Size), buf)
				if err == nil && copied != meta.Size {
					err = fmt.Errorf("%s: read %d of %d bytes", meta.Name, copied, meta.Size)
				}
			}
			obj.Close()
			if err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(bw.Flush())
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, to.URL+"/v1/internal/receive", pr)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/msgpack")
	resp, err := n.client.Do(req)
	// Whatever the answer, the writer must not wait on an unread pipe.
	defer pr.CloseWithError(errors.New("the receiving target stopped reading"))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return nil, api.DecodeError(resp)
	}
	var results []receiveResult
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxControlBody)).Decode(&results); err != nil {
		return nil, fmt.Errorf("decode receipt: %w", err)
	}
	byName := map[string]string{}
	for _, r := range results {
		byName[r.Name] = r.Error
	}
	var ok []movingObject
	var firstErr error
	for _, o := range batch {
		msg, present := byName[o.bucket.Name+"/"+o.meta.Name]
		switch {
		case present && msg == "":
			ok = append(ok, o)
		case present && firstErr == nil:
			firstErr = fmt.Errorf("%s/%s: %s", o.bucket, o.meta.Name, msg)
		}
	}
	return ok, firstErr
}

// appendObjectFrame encodes an object's metadata before its bytes.
func appendObjectFrame(b []byte, bucket store.Bucket, meta store.ObjectMeta) []byte {
	b = msgp.AppendMapHeader(b, 7)
	b = msgp.AppendString(b, "b")
	b = msgp.AppendString(b, bucket.Name)
	b = msgp.AppendString(b, "n")
	b = msgp.AppendString(b, meta.Name)
	b = msgp.AppendString(b, "s")
	b = msgp.AppendInt64(b, meta.Size)
	b = msgp.AppendString(b, "ct")
	b = msgp.AppendString(b, meta.Checksum.Type)
	b = msgp.AppendString(b, "cv")
	b = msgp.AppendString(b, meta.Checksum.Value)
	b = msgp.AppendString(b, "v")
	b = msgp.AppendString(b, meta.Version)
	b = msgp.AppendString(b, "c")
	b = msgp.AppendMapStrStr(b, meta.Custom)
	return b
}

// handleReceive stores a batch of objects sent by a rebalance: each only
// if absent, its checksum verified end to end, its version kept.
func (n *Node) handleReceive(w http.ResponseWriter, r *http.Request) {
	if n.config.Store == nil {
		n.writeError(w, r, badRequest("node %s stores no objects", n.config.ID))
		return
	}
	rd := msgp.NewReaderSize(r.Body, 256<<10)
	rd.SetMaxStringLength(maxFrameString)
	var results []receiveResult
	for {
		var bucket, ct, cv string
		meta := store.ObjectMeta{}
		fields, err := rd.ReadMapHeader()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			n.writeError(w, r, badRequest("object stream: %v", err))
			return
		}
		if fields > maxFrameFields {
			n.writeError(w, r, badRequest("object stream: a frame of %d fields", fields))
			return
		}
		for range fields {
			key, err := rd.ReadString()
			if err != nil {
				n.writeError(w, r, badRequest("object stream: %v", err))
				return
			}
			switch key {
			case "b":
				bucket, err = rd.ReadString()
			case "n":
				meta.Name, err = rd.ReadString()
			case "s":
				meta.Size, err = rd.ReadInt64()
			case "ct":
				ct, err = rd.ReadString()
			case "cv":
				cv, err = rd.ReadString()
			case "v":
				meta.Version, err = rd.ReadString()
			case "c":
				meta.Custom, err = readStringMap(rd)
			default:
				err = rd.Skip()
			}
			if err != nil {
				n.writeError(w, r, badRequest("object stream: %v", err))
				return
			}
		}
		if meta.Size < 0 {
			n.writeError(w, r, badRequest("object stream: %s has a negative size", meta.Name))
			return
		}
		body := io.LimitReader(rd, meta.Size)
		if n.tombstones.has(cluster.Uname(store.ProviderAIS, bucket, meta.Name)) {
			// Deleted while it was on its way: acknowledge and drop it.
			if _, err := io.Copy(io.Discard, body); err != nil {
				n.writeError(w, r, badRequest("object stream: %v", err))
				return
			}
			results = append(results, receiveResult{Name: bucket + "/" + meta.Name})
			continue
		}
		if _, known := n.bmd.Load().Buckets[bucket]; !known {
			// The sender may have the new bucket metadata before this
			// node: ask the primary for it.
			n.pullMeta(r.Context())
		}
		_, err = n.config.Store.Put(r.Context(), store.NewBucket(bucket), meta.Name, body, store.PutOptions{
			Size: meta.Size, Checksum: store.Checksum{Type: ct, Value: cv}, Custom: meta.Custom, Version: meta.Version, IfAbsent: true,
		})
		result := receiveResult{Name: bucket + "/" + meta.Name}
		if err != nil && !errors.Is(err, store.ErrExists) {
			result.Error = err.Error()
		}
		if _, err := io.Copy(io.Discard, body); err != nil {
			n.writeError(w, r, badRequest("object stream: %v", err))
			return
		}
		results = append(results, result)
	}
	writeJSON(w, results)
}

// leftIfLeaving tells the primary that this leaving target has moved all
// its objects away and can leave the map.
func (n *Node) leftIfLeaving(ctx context.Context, m *cluster.Map) {
	self, ok := m.Node(n.config.ID)
	if !ok || self.State != cluster.StateLeaving {
		return
	}
	primary, ok := m.PrimaryNode()
	if !ok {
		return
	}
	value, _ := json.Marshal(nodeChange{ID: n.config.ID})
	msg := api.ActionMessage{Action: actionLeft, Value: value}
	if primary.ID == n.config.ID {
		return
	}
	if err := n.call(ctx, http.MethodPut, primary.URL+"/v1/internal/cluster", msg, nil); err != nil {
		n.logger.Warn("tell the primary this target left", "err", err)
	}
}

// serveFromNeighbors answers a GET or HEAD for an object this target owns
// but does not have: while a rebalance runs it may still be on another
// target. It reports whether it answered.
func (n *Node) serveFromNeighbors(w http.ResponseWriter, r *http.Request, b store.Bucket, name string) bool {
	m := n.smap.Load()
	for _, t := range m.Targets() {
		if t.ID == n.config.ID {
			continue
		}
		u := t.URL + "/v1/internal/objects/" + url.PathEscape(b.Name) + "/" + api.EscapeObjectName(name)
		req, err := http.NewRequestWithContext(r.Context(), r.Method, u, nil)
		if err != nil {
			continue
		}
		if rg := r.Header.Get("Range"); rg != "" {
			req.Header.Set("Range", rg)
		}
		if q := r.URL.Query().Get(api.QueryValidate); q != "" {
			req.URL.RawQuery = api.QueryValidate + "=" + url.QueryEscape(q)
		}
		resp, err := n.client.Do(req)
		if err != nil {
			continue
		}
		if resp.StatusCode == http.StatusNotFound {
			resp.Body.Close()
			continue
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.Header().Set(api.HeaderNodeID, n.config.ID)
		w.WriteHeader(resp.StatusCode)
		buf := pool.Get(pool.CopyBufferSize)
		io.CopyBuffer(w, resp.Body, buf)
		pool.Put(buf)
		resp.Body.Close()
		return true
	}
	return false
}

// handleLocalObject serves an object from this target's store, with no
// placement check: the rebalance fallback of another target.
func (n *Node) handleLocalObject(w http.ResponseWriter, r *http.Request) {
	b, err := bucketOf(r)
	name := r.PathValue("object")
	if err == nil {
		err = store.ValidateName(name)
	}
	if err == nil && n.config.Store == nil {
		err = badRequest("node %s stores no objects", n.config.ID)
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	if r.Method == http.MethodHead {
		n.headObject(w, r, b, name, false)
		return
	}
	n.getObject(w, r, b, name, false)
}

// Limits of an object frame: its metadata fits an xattr (store/fs).
const (
	maxFrameFields = 16
	maxFrameCustom = 256
	maxFrameString = 4 << 10
)

// readStringMap reads a msgpack map of strings.
func readStringMap(rd *msgp.Reader) (map[string]string, error) {
	n, err := rd.ReadMapHeader()
	if err != nil || n == 0 {
		return nil, err
	}
	if n > maxFrameCustom {
		return nil, fmt.Errorf("custom metadata of %d entries (at most %d)", n, maxFrameCustom)
	}
	m := make(map[string]string, n)
	for range n {
		k, err := rd.ReadString()
		if err != nil {
			return nil, err
		}
		v, err := rd.ReadString()
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, nil
}

// pullMeta fetches the current map and bucket metadata from the primary.
func (n *Node) pullMeta(ctx context.Context) {
	primary, ok := n.smap.Load().PrimaryNode()
	if !ok || primary.ID == n.config.ID {
		return
	}
	var msg metaMessage
	msg.Map = new(cluster.Map)
	msg.Buckets = new(store.BucketMetadata)
	if err := n.call(ctx, http.MethodGet, primary.URL+"/v1/cluster?what=smap", nil, msg.Map); err != nil {
		return
	}
	if err := n.call(ctx, http.MethodGet, primary.URL+"/v1/cluster?what=bmd", nil, msg.Buckets); err != nil {
		return
	}
	if err := n.applyMeta(ctx, msg, origin{sender: primary.ID}); err != nil {
		n.logger.Debug("pull metadata", "err", err)
	}
}
