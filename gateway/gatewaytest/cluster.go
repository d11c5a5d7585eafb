package gatewaytest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/ec"
	"github.com/aisgo/aisgo/store/fs"
)

// Options shape a test cluster.
type Options struct {
	// Gateways and Targets count the nodes; with Embedded, one node of
	// role "all" is started instead.
	Gateways, Targets int
	Embedded          bool
	// Mountpaths per target; zero means 1.
	Mountpaths int
	// KeepaliveInterval and KeepaliveTimeout of the primary; zero means
	// 200ms and 2s, fast enough for membership tests.
	KeepaliveInterval, KeepaliveTimeout time.Duration
	// Configure, when set, adjusts every node's config before it starts.
	Configure func(*gateway.Config)
	// Verbose logs the nodes' messages through t.Log.
	Verbose bool
	// NoSync skips fsync in the targets' stores, for tests that write
	// many objects.
	NoSync bool
	// Secret is the cluster secret; nil means a new random one.
	Secret peer.Secret
}

// Member is one running node.
type Member struct {
	Node   *gateway.Node
	Server *httptest.Server
	Store  *fs.Store // nil for gateways
	Dir    string
}

// URL is the member's public URL.
func (m *Member) URL() string { return m.Server.URL }

// Cluster is a running test cluster.
type Cluster struct {
	t       testing.TB
	options Options
	mu      sync.Mutex
	members []*Member
	serial  int
}

// NewCluster starts a cluster and waits until every node is in the map.
func NewCluster(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.KeepaliveInterval == 0 {
		opts.KeepaliveInterval = 200 * time.Millisecond
	}
	if opts.KeepaliveTimeout == 0 {
		opts.KeepaliveTimeout = 2 * time.Second
	}
	if opts.Secret == nil {
		opts.Secret = peer.NewSecret()
	}
	c := &Cluster{t: t, options: opts}
	// The first TempDir registers the removal of every temporary
	// directory; registered before Close, it runs after it.
	t.TempDir()
	t.Cleanup(c.Close)
	if opts.Embedded {
		c.start(cluster.RoleAll, "")
		return c
	}
	if opts.Gateways < 1 {
		opts.Gateways = 1
	}
	primary := c.start(cluster.RoleGateway, "")
	for range opts.Gateways - 1 {
		c.start(cluster.RoleGateway, primary.URL())
	}
	for range opts.Targets {
		c.start(cluster.RoleTarget, primary.URL())
	}
	c.WaitForMap(len(c.members))
	return c
}

// start creates, serves and starts one node.
func (c *Cluster) start(role cluster.Role, join string) *Member {
	c.t.Helper()
	c.mu.Lock()
	c.serial++
	id := fmt.Sprintf("%s%d", map[cluster.Role]string{cluster.RoleGateway: "g", cluster.RoleTarget: "t", cluster.RoleAll: "n"}[role], c.serial)
	c.mu.Unlock()
	dir := c.t.TempDir()
	return c.startAt(id, role, join, dir)
}

// startAt starts a node with an id and a directory, e.g. to restart one.
func (c *Cluster) startAt(id string, role cluster.Role, join, dir string) *Member {
	c.t.Helper()
	meta, err := membership.NewFileStore(filepath.Join(dir, "meta"))
	if err != nil {
		c.t.Fatal(err)
	}
	server := httptest.NewUnstartedServer(nil)
	cfg := gateway.Config{
		ID:                id,
		Role:              role,
		URL:               "http://" + server.Listener.Addr().String(),
		Meta:              meta,
		Join:              join,
		Secret:            c.options.Secret,
		DataDirs:          []string{dir},
		RaftDir:           filepath.Join(dir, "meta", "raft"),
		ElectionTimeout:   300 * time.Millisecond,
		KeepaliveInterval: c.options.KeepaliveInterval,
		KeepaliveTimeout:  c.options.KeepaliveTimeout,
		RequestTimeout:    5 * time.Second,
	}
	if c.options.Verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{c.t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	m := &Member{Server: server, Dir: dir}
	events := new(gateway.StorageEvents)
	if role.IsTarget() {
		mps := max(c.options.Mountpaths, 1)
		paths := make([]string, mps)
		for i := range paths {
			paths[i] = filepath.Join(dir, fmt.Sprintf("mp%d", i+1))
		}
		st, err := fs.Open(c.t.Context(), fs.Config{Mountpaths: paths, NoSync: c.options.NoSync, Owner: id,
			OnMountpathChange: events.MountpathChanged, OnRepair: events.Repaired})
		if err != nil {
			c.t.Fatal(err)
		}
		cfg.Store, cfg.Storage, m.Store = st, st, st
		cfg.Protect = func(st store.Store, peers gateway.PartPeers, opts gateway.ProtectOptions) (store.Store, gateway.Protector) {
			coded := ec.Wrap(st, peers, ec.Options{Props: opts.Props, WorkDir: opts.WorkDir, PickWorkDir: opts.PickWorkDir, OnRestore: opts.OnRestore, Logger: opts.Logger, StateFile: opts.StateFile})
			return coded, coded
		}
		cfg.MountpathRoots = []string{dir}
		cfg.WorkDir = filepath.Join(dir, "work")
	}
	if c.options.Configure != nil {
		c.options.Configure(&cfg)
	}
	node, err := gateway.New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	m.Node = node
	events.Bind(node)
	server.Config.Handler = node.Handler()
	server.Start()
	ctx, cancel := context.WithTimeout(c.t.Context(), 20*time.Second)
	defer cancel()
	if err := node.Start(ctx); err != nil {
		server.Close()
		c.t.Fatalf("start %s: %v", id, err)
	}
	c.mu.Lock()
	c.members = append(c.members, m)
	c.mu.Unlock()
	return m
}

// Secret returns the cluster secret, for tests that act as a node.
func (c *Cluster) Secret() peer.Secret { return c.options.Secret }

// PeerClient returns an HTTP client that signs its requests as the node
// id with the cluster secret, for tests that act as a node.
func (c *Cluster) PeerClient(id string) *http.Client {
	return &http.Client{Transport: peer.NewAuth(c.options.Secret, peer.Options{}).Transport(id, http.DefaultTransport)}
}

// Members returns the running nodes; the first is the primary.
func (c *Cluster) Members() []*Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Member(nil), c.members...)
}

// Primary returns the primary gateway.
func (c *Cluster) Primary() *Member { return c.Members()[0] }

// Targets returns the running target members.
func (c *Cluster) Targets() []*Member {
	var out []*Member
	for _, m := range c.Members() {
		if m.Store != nil {
			out = append(out, m)
		}
	}
	return out
}

// Client returns an API client of the primary gateway.
func (c *Cluster) Client() *api.Client { return api.NewClient(c.Primary().URL()) }

// AddTarget starts one more target, joined through the primary.
func (c *Cluster) AddTarget() *Member {
	c.t.Helper()
	return c.start(cluster.RoleTarget, c.Primary().URL())
}

// Kill stops a member abruptly: its server closes and it leaves the map
// only when the primary notices the missed keepalives.
func (c *Cluster) Kill(m *Member) {
	c.mu.Lock()
	for i, x := range c.members {
		if x == m {
			c.members = append(c.members[:i], c.members[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	// New connections refused before the open ones drop, as a dead
	// process's are: a peer that saw its call cut must not reach it
	// again (a coordinator's probe found the target alive, and failed
	// the job instead of waiting for it).
	m.Server.Listener.Close()
	m.Server.CloseClientConnections()
	m.Server.Close()
	m.Node.Close()
}

// Restart starts a killed member again with its id and data.
func (c *Cluster) Restart(m *Member) *Member {
	c.t.Helper()
	role := cluster.RoleTarget
	if m.Store == nil {
		role = cluster.RoleGateway
	}
	return c.startAt(m.Node.ID(), role, c.Primary().URL(), m.Dir)
}

// WaitForMap waits until the primary's map has n nodes, all of whose
// copies agree on its version.
func (c *Cluster) WaitForMap(n int) *cluster.Map {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		m := c.Primary().Node.Map()
		if m != nil && len(m.Nodes) == n && c.agree(m.Version) {
			return m
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("cluster map did not reach %d nodes in agreement: %+v", n, m)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitForState waits until the primary's map has node id in a state and
// every running node has that map.
func (c *Cluster) WaitForState(id string, state cluster.State) *cluster.Map {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		m := c.Primary().Node.Map()
		if node, ok := m.Node(id); ok && node.State == state && c.agree(m.Version) {
			return m
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("node %s did not reach state %s in agreement: %+v", id, state, m)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *Cluster) agree(version int64) bool {
	for _, m := range c.Members() {
		if mm := m.Node.Map(); mm == nil || mm.Version != version {
			return false
		}
	}
	return true
}

// Close stops every node.
func (c *Cluster) Close() {
	for _, m := range c.Members() {
		m.Server.CloseClientConnections()
		m.Server.Close()
		m.Node.Close()
	}
	c.mu.Lock()
	c.members = nil
	c.mu.Unlock()
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// WaitRebalance waits until every target of the primary's map has
// finished a rebalance for map version at least version.
func (c *Cluster) WaitRebalance(version int64) {
	c.t.Helper()
	client := c.Client()
	deadline := time.Now().Add(60 * time.Second)
	for {
		status, err := client.ClusterStatus(c.t.Context())
		if err == nil && Rebalanced(status, version) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("rebalance to map version %d did not finish: %+v %v", version, status, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Rebalanced reports whether every target in status (but offline ones)
// has applied map version at least version and has no rebalance running
// or failed: a rebalance starts when a node applies a map that changes
// the targets.
func Rebalanced(status *api.ClusterStatus, version int64) bool {
	for _, n := range status.Nodes {
		if n.Role == string(cluster.RoleGateway) || n.State == string(cluster.StateOffline) {
			continue
		}
		if n.Error != "" || n.MapVersion < version {
			return false
		}
		var last *api.JobStatus
		for i, j := range n.Jobs {
			if j.Kind == "rebalance" {
				last = &n.Jobs[i]
			}
		}
		if last != nil && (last.Running || last.Error != "") {
			return false
		}
	}
	return true
}
