package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/shards"
	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/fs"
	"github.com/aisgo/aisgo/store/storetest"
)

// memCluster runs dSort on targets in one process: real stores on temp
// directories, peers and fetches as direct calls.
type memCluster struct {
	t           testing.TB
	mu          sync.Mutex
	smap        *cluster.Map
	workers     map[string]*pipeline.Worker
	stores      map[string]store.Store
	keyMaps     map[string][]byte
	coordinator *pipeline.Coordinator
	// registry is the job registry: "running", or "ended: " and the cause.
	registry map[string]string
	// defaults are the cluster's defaults of a spec.
	defaults pipeline.Defaults
	// wrapStore, when set, decorates each target's store.
	wrapStore func(id string, st store.Store) store.Store
	memory    int64 // MemoryTotal of the workers
	workDirs  map[string]string
	// beforeInit, when set, runs once as the first Init call starts: the
	// job is registered, not yet running.
	beforeInit func()
	initOnce   sync.Once
	// inits are the Init calls sent, in order.
	inits []pipeline.JobInit
	// idle, when set, is the idle timeout of the targets added after.
	idle time.Duration
	// beforeCreate, when set, runs once before the first Create call: a
	// test can take a target away between the phases.
	beforeCreate func()
	createOnce   sync.Once
	// beforeExtract, when set, runs once as the first Extract call
	// starts.
	beforeExtract func()
	extractOnce   sync.Once
	// beforeFinish, when set, runs once before the first Finish call:
	// every shard is created.
	beforeFinish func()
	finishOnce   sync.Once
	// afterFinish, when set, runs once after the first Finish call
	// succeeded, with its context.
	afterFinish     func(context.Context)
	afterFinishOnce sync.Once
	// beforeRemove, when set, runs before RemoveObjects: an aborted
	// job's cleanup.
	beforeRemove func()
	// abortDelay is how long each Abort call takes before it stops the
	// job (a target's cleanup of its spills and shards).
	abortDelay time.Duration
	// finishFailures is how many Finish calls to each target fail (cut
	// on their way) before one is sent.
	finishFailures int
	finishFailed   map[string]int
	// endJobFailures is how many EndJob calls fail before one lands (a
	// leader election, a partition).
	endJobFailures int
	// registerLost records a job and answers an error, as a proposal
	// whose answer was lost.
	registerLost bool
	// registerErr, when set, refuses every registration with it.
	registerErr error
	// removeFails, when set, is RemoveObjects' error.
	removeFails error
	// slowStats is how many Stats calls to each target wait for their
	// context's end (a target busy) before they are answered.
	slowStats   int
	slowStatted map[string]int
}

// kill takes a target away as a crash would: calls to it fail.
func (c *memCluster) kill(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.workers[id] = nil
}

// revive brings a killed target back as a restart would: a new worker on
// the same store and work directory, which first recovers.
func (c *memCluster) revive(id string) {
	c.mu.Lock()
	st, dir := c.stores[id], c.workDirs[id]
	c.mu.Unlock()
	w, err := pipeline.NewWorker(pipeline.WorkerConfig{NodeID: id, Store: st, Fetcher: memFetcher{c}, WorkDir: dir, MemoryTotal: c.memory})
	if err != nil {
		c.t.Error(err)
		return
	}
	if err := w.Recover(c.t.Context()); err != nil {
		c.t.Error(err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.workers[id] = w
}

func newMemCluster(t testing.TB, targets int, wrap func(string, store.Store) store.Store) *memCluster {
	t.Helper()
	c := &memCluster{t: t, workers: map[string]*pipeline.Worker{}, stores: map[string]store.Store{}, keyMaps: map[string][]byte{}, wrapStore: wrap, memory: 1 << 30, workDirs: map[string]string{}}
	// A map as a gateway pushes it (workers validate it): its primary in
	// it, and URLs of a node's shape, never dialed.
	c.smap = &cluster.Map{Version: 1, Primary: "g", Nodes: []cluster.Node{{ID: "g", Role: cluster.RoleGateway, URL: "http://g.test:1", State: cluster.StateActive}}}
	for i := range targets {
		c.addTarget(fmt.Sprintf("t%d", i+1))
	}
	c.coordinator = pipeline.NewCoordinator(pipeline.CoordinatorConfig{Cluster: memPeers{c}, Targets: memPeers{c}})
	t.Cleanup(c.coordinator.Close)
	return c
}

func (c *memCluster) addTarget(id string) {
	c.t.Helper()
	dir := c.t.TempDir()
	var st store.Store
	st, err := fs.Open(c.t.Context(), fs.Config{Mountpaths: []string{dir + "/mp"}, NoSync: true})
	if err != nil {
		c.t.Fatal(err)
	}
	for _, other := range c.stores {
		// A joining target learns the buckets, as metasync would do.
		md, _ := other.Buckets(c.t.Context())
		if err := st.SyncBuckets(c.t.Context(), md); err != nil {
			c.t.Fatal(err)
		}
		break
	}
	if c.wrapStore != nil {
		st = c.wrapStore(id, st)
	}
	c.workDirs[id] = dir + "/work"
	w, err := pipeline.NewWorker(pipeline.WorkerConfig{NodeID: id, Store: st, Fetcher: memFetcher{c}, WorkDir: dir + "/work", MemoryTotal: c.memory, IdleTimeout: c.idle})
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	next, err := c.smap.WithNode(cluster.Node{ID: id, Role: cluster.RoleTarget, URL: "http://" + id + ".test:1", State: cluster.StateActive})
	if err != nil {
		c.t.Fatal(err)
	}
	c.smap = next
	c.workers[id] = w
	c.stores[id] = st
	if c.coordinator != nil {
		c.coordinator.MapChanged(next)
	}
}

func (c *memCluster) worker(id string) *pipeline.Worker {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.workers[id]
}

// createBucket creates a bucket on every target.
func (c *memCluster) createBucket(name string) {
	c.t.Helper()
	c.createBucketWith(name, store.DefaultProps())
}

func (c *memCluster) createBucketWith(name string, props store.Props) {
	c.t.Helper()
	if err := (memPeers{c}).CreateBucket(c.t.Context(), store.NewBucket(name), props); err != nil {
		c.t.Fatal(err)
	}
}

// markOffline counts a target out of the map, as the gateways do with one
// that stopped answering.
func (c *memCluster) markOffline(id string) { c.setState(id, cluster.StateOffline) }

// markActive counts a target in again.
func (c *memCluster) markActive(id string) { c.setState(id, cluster.StateActive) }

func (c *memCluster) setState(id string, state cluster.State) {
	c.mu.Lock()
	node, _ := c.smap.Node(id)
	node.State = state
	next, err := c.smap.WithNode(node)
	if err != nil {
		c.mu.Unlock()
		c.t.Error(err)
		return
	}
	c.smap = next
	c.mu.Unlock()
	c.coordinator.MapChanged(next)
}

// putInputs stores shards on the targets that own them.
func (c *memCluster) putInputs(bucket string, inputs map[string][]byte) {
	c.t.Helper()
	b := store.NewBucket(bucket)
	for name, data := range inputs {
		owner, err := c.smap.Owner(cluster.Uname("ais", bucket, name))
		if err != nil {
			c.t.Fatal(err)
		}
		storetest.Put(c.t, c.stores[owner.ID], b, name, data)
	}
}

// outputs reads every object of a bucket from every target, checking that
// each is stored once and on its owner.
func (c *memCluster) outputs(bucket string) map[string][]byte {
	c.t.Helper()
	b := store.NewBucket(bucket)
	out := map[string][]byte{}
	for _, id := range slices.Sorted(maps.Keys(c.stores)) {
		st := c.stores[id]
		list, err := st.List(c.t.Context(), b, store.ListOptions{})
		if err != nil {
			c.t.Fatal(err)
		}
		for _, o := range list {
			if _, dup := out[o.Name]; dup {
				c.t.Fatalf("output shard %s stored twice", o.Name)
			}
			owner, _ := c.smap.Owner(cluster.Uname("ais", bucket, o.Name))
			if owner.ID != id {
				c.t.Fatalf("output shard %s stored on %s, owner is %s", o.Name, id, owner.ID)
			}
			out[o.Name] = storetest.Get(c.t, st, b, o.Name)
		}
	}
	return out
}

// run starts a job and waits for it.
func (c *memCluster) run(spec pipeline.Spec) (pipeline.Status, error) {
	c.t.Helper()
	id, err := c.coordinator.Start(c.t.Context(), spec)
	if err != nil {
		return pipeline.Status{}, err
	}
	ctx, cancel := context.WithTimeout(c.t.Context(), time.Minute)
	defer cancel()
	status, err := c.coordinator.Wait(ctx, id)
	if err != nil {
		return status, err
	}
	// The registry holds how the job ended.
	c.mu.Lock()
	recorded := c.registry[id]
	c.mu.Unlock()
	if want := "ended: " + status.Error; recorded != want {
		c.t.Fatalf("the registry holds %q for job %s, want %q", recorded, id, want)
	}
	return status, nil
}

type memPeers struct{ c *memCluster }

func (p memPeers) Map() *cluster.Map {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	return p.c.smap
}

func (p memPeers) BucketProps(ctx context.Context, b store.Bucket) (store.Props, error) {
	for _, st := range p.c.stores {
		md, err := st.Buckets(ctx)
		if err != nil {
			return store.Props{}, err
		}
		props, ok := md.Buckets[b.Normalize()]
		if !ok {
			return store.Props{}, store.ErrBucketNotFound
		}
		return props, nil
	}
	return store.Props{}, store.ErrBucketNotFound
}

func (p memPeers) CreateBucket(ctx context.Context, b store.Bucket, props store.Props) error {
	for _, st := range p.c.stores {
		if err := st.CreateBucket(ctx, b, props); err != nil {
			return err
		}
	}
	return nil
}

func (p memPeers) DestroyEmptyBucket(ctx context.Context, b store.Bucket, _ string) error {
	for _, st := range p.c.stores {
		if err := st.DestroyBucket(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// errKeyMapUnreachable is the fake network's failure to fetch a key map.
var errKeyMapUnreachable = errors.New("no such key map")

func (p memPeers) FetchKeyMap(ctx context.Context, location string) ([]byte, error) {
	data, ok := p.c.keyMaps[location]
	if !ok {
		return nil, errKeyMapUnreachable
	}
	return data, nil
}

func (p memPeers) Init(ctx context.Context, t cluster.Node, init pipeline.JobInit) error {
	if p.c.beforeInit != nil {
		p.c.initOnce.Do(p.c.beforeInit)
	}
	p.c.mu.Lock()
	p.c.inits = append(p.c.inits, init)
	p.c.mu.Unlock()
	w := p.c.worker(t.ID)
	if w == nil {
		return fmt.Errorf("target %s is gone", t.ID)
	}
	return w.Init(ctx, init)
}

func (p memPeers) Extract(ctx context.Context, t cluster.Node, id string) ([]shards.RecordMeta, error) {
	if p.c.beforeExtract != nil {
		p.c.extractOnce.Do(p.c.beforeExtract)
	}
	w := p.c.worker(t.ID)
	if w == nil {
		return nil, fmt.Errorf("target %s is gone", t.ID)
	}
	metas, err := w.Extract(ctx, id)
	if err != nil {
		return nil, err
	}
	// Through the wire encoding, as over HTTP.
	back, _, err := pipeline.ReadRecords(pipeline.AppendRecords(nil, metas), pipeline.MaxPlanRecords)
	return back, err
}

func (p memPeers) Create(ctx context.Context, t cluster.Node, id string, planned []shards.OutputShard) error {
	if p.c.beforeCreate != nil {
		p.c.createOnce.Do(p.c.beforeCreate)
	}
	if err := context.Cause(ctx); err != nil {
		return err // as over HTTP: a call cut before it is sent never reaches the target
	}
	back, err := pipeline.ReadShards(pipeline.AppendShards(nil, planned), pipeline.MaxPlanRecords)
	if err != nil {
		return err
	}
	w := p.c.worker(t.ID)
	if w == nil {
		return fmt.Errorf("target %s is gone", t.ID)
	}
	return w.Create(ctx, id, back)
}

func (p memPeers) Finish(ctx context.Context, t cluster.Node, id string) error {
	if p.c.beforeFinish != nil {
		p.c.finishOnce.Do(p.c.beforeFinish)
	}
	p.c.mu.Lock()
	cut := p.c.finishFailed[t.ID] < p.c.finishFailures
	if cut {
		if p.c.finishFailed == nil {
			p.c.finishFailed = map[string]int{}
		}
		p.c.finishFailed[t.ID]++
	}
	p.c.mu.Unlock()
	if cut {
		return fmt.Errorf("finish on target %s: connection reset", t.ID)
	}
	w := p.c.worker(t.ID)
	if w == nil {
		return fmt.Errorf("target %s is gone", t.ID)
	}
	if err := w.Finish(ctx, id); err != nil {
		return err
	}
	if p.c.afterFinish != nil {
		p.c.afterFinishOnce.Do(func() { p.c.afterFinish(ctx) })
	}
	return nil
}

func (p memPeers) Abort(ctx context.Context, t cluster.Node, id, cause string) error {
	if p.c.abortDelay > 0 {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(p.c.abortDelay):
		}
	}
	if w := p.c.worker(t.ID); w != nil {
		return w.Abort(ctx, id, cause)
	}
	return nil
}

func (p memPeers) Keepalive(ctx context.Context, t cluster.Node, id string) error {
	w := p.c.worker(t.ID)
	if w == nil {
		return pipeline.ErrJobNotFound
	}
	return w.Heard(id)
}

func (p memPeers) Stats(ctx context.Context, t cluster.Node, id string) (pipeline.JobStats, error) {
	p.c.mu.Lock()
	slow := p.c.slowStatted[t.ID] < p.c.slowStats
	if slow {
		if p.c.slowStatted == nil {
			p.c.slowStatted = map[string]int{}
		}
		p.c.slowStatted[t.ID]++
	}
	p.c.mu.Unlock()
	if slow {
		<-ctx.Done()
		return pipeline.JobStats{}, context.Cause(ctx)
	}
	w := p.c.worker(t.ID)
	if w == nil {
		return pipeline.JobStats{}, fmt.Errorf("target %s is gone", t.ID)
	}
	return w.Stats(id)
}

func (p memPeers) Defaults() pipeline.Defaults {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	return p.c.defaults
}

func (p memPeers) RegisterJob(ctx context.Context, reg pipeline.JobRegistration) error {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	if p.c.registry == nil {
		p.c.registry = map[string]string{}
	}
	if p.c.registerErr != nil {
		return p.c.registerErr
	}
	p.c.registry[reg.ID] = "running"
	if p.c.registerLost {
		return errors.New("the leader changed: the change may still apply")
	}
	return nil
}

func (p memPeers) EndJob(ctx context.Context, id, cause string) error {
	if err := ctx.Err(); err != nil {
		return err // as a gateway's proposal would
	}
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	if p.c.endJobFailures > 0 {
		p.c.endJobFailures--
		return errors.New("no leader")
	}
	if p.c.registry[id] != "running" {
		return fmt.Errorf("job %s ends twice or was never registered (%q)", id, p.c.registry[id])
	}
	p.c.registry[id] = "ended: " + cause
	return nil
}

func (p memPeers) RemoveObjects(ctx context.Context, b store.Bucket, names []string, job string, asOf store.Stamp) error {
	if p.c.beforeRemove != nil {
		p.c.beforeRemove()
	}
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	if p.c.removeFails != nil {
		return p.c.removeFails
	}
	for _, st := range p.c.stores {
		for _, name := range names {
			meta, err := st.Head(ctx, b, name)
			if err != nil || meta.Custom[pipeline.CustomJob] != job || meta.Stamp.Compare(asOf) > 0 {
				continue
			}
			if err := st.Delete(ctx, b, name, store.DeleteOptions{IfStamp: meta.Stamp}); err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrExists) {
				return err
			}
		}
	}
	return nil
}

type memFetcher struct{ c *memCluster }

func (f memFetcher) Fetch(ctx context.Context, holder cluster.Node, id string, attempt int, records []shards.RecordMeta) (io.ReadCloser, error) {
	w := f.c.worker(holder.ID)
	if w == nil {
		return nil, fmt.Errorf("holder %s is gone", holder.ID)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(w.ServeRecords(ctx, id, attempt, records, pw)) }()
	return pr, nil
}

// equalOutputs compares two sets of shards byte for byte.
func equalOutputs(t testing.TB, got, want map[string][]byte) {
	t.Helper()
	if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
		t.Fatalf("output shards %v, reference %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	for name, data := range want {
		if !bytes.Equal(got[name], data) {
			t.Fatalf("shard %s: %d bytes differ from the reference's %d", name, len(got[name]), len(data))
		}
	}
}
