package benchmarks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/internal/netlab"
	"github.com/aisgo/aisgo/internal/pool"
)

// clusterTargets is the size of the local cluster of the HTTP suite.
const clusterTargets = 3

// rebalanceObjectSize is the size of the objects the rebalance figure
// moves: small, since a rebalance's cost is mostly per object.
const rebalanceObjectSize = 16 << 10

// errNoRebalance marks a cluster that starts no rebalance job.
var errNoRebalance = errors.New("no rebalance job")

// localCluster is a cluster of aisnode processes on loopback, started as
// `ais cluster start` starts them: the first gateway, then the other
// gateways and the targets, which join it.
type localCluster struct {
	dir      string
	aisnode  string
	args     []string // extra aisnode flags for every node
	env      []string // extra environment of every node
	endpoint string
	nodes    []*clusterNode
	// token is sent by the cluster's clients (a cluster with user
	// authentication on).
	token string
	// lab, when set, puts every node on a host of its own (a network
	// namespace): the clients connect through its switch.
	lab *netlab.Lab
}

// clusterNode is one aisnode process.
type clusterNode struct {
	name, role string
	dir        string
	host       string // "" is 127.0.0.1
	port       int
	cmd        *exec.Cmd
	exited     chan struct{}
}

func (n *clusterNode) url() string {
	return "http://" + net.JoinHostPort(cmp.Or(n.host, "127.0.0.1"), strconv.Itoa(n.port))
}

// startLocalCluster starts one gateway and the given number of targets,
// and waits until all are in the cluster map.
func startLocalCluster(ctx context.Context, dir, aisnode string, targets int, args ...string) (*localCluster, error) {
	return startLocalClusterOf(ctx, dir, aisnode, 1, targets, args...)
}

// startLocalClusterOf starts gateways and targets and waits until all are
// in the cluster map.
func startLocalClusterOf(ctx context.Context, dir, aisnode string, gateways, targets int, args ...string) (*localCluster, error) {
	return startLocalClusterEnv(ctx, dir, aisnode, gateways, targets, nil, args...)
}

// startLocalClusterEnv is startLocalClusterOf with more environment for
// the nodes (an S3 backend's credentials and endpoint).
func startLocalClusterEnv(ctx context.Context, dir, aisnode string, gateways, targets int, env []string, args ...string) (*localCluster, error) {
	c := &localCluster{dir: dir, aisnode: aisnode, args: args, env: env}
	if err := c.withSecret(); err != nil {
		return nil, err
	}
	if err := c.start(ctx, gateways, targets); err != nil {
		return nil, err
	}
	return c, nil
}

// withSecret makes the cluster's directory and secret, and hands the
// secret to every node.
func (c *localCluster) withSecret() error {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	secret := filepath.Join(c.dir, "cluster-secret")
	if err := os.WriteFile(secret, []byte(peer.NewSecret().String()), 0o600); err != nil {
		return err
	}
	c.args = append([]string{"-secret-file", secret}, c.args...)
	return nil
}

// start launches the first gateway, then the other gateways and the
// targets, and waits until all are in the cluster map.
func (c *localCluster) start(ctx context.Context, gateways, targets int) error {
	if _, err := c.launch("g1", "gateway"); err != nil {
		return err
	}
	if err := c.waitForNodes(ctx, 1); err != nil {
		c.stop()
		return err
	}
	for i := 1; i < gateways; i++ {
		if _, err := c.launch(fmt.Sprintf("g%d", i+1), "gateway"); err != nil {
			c.stop()
			return err
		}
	}
	for i := range targets {
		if _, err := c.launch(fmt.Sprintf("t%d", i+1), "target"); err != nil {
			c.stop()
			return err
		}
	}
	if err := c.waitForNodes(ctx, gateways+targets); err != nil {
		c.stop()
		return err
	}
	return nil
}

// client returns a client that knows every gateway.
func (c *localCluster) client() *api.Client {
	client := api.NewClient(c.endpoint).SetToken(c.token)
	if c.lab != nil {
		transport := api.NewTransport()
		transport.DialContext = c.lab.Dial
		client = api.NewClientWith(c.endpoint, &http.Client{Transport: transport}).SetToken(c.token)
	}
	for _, n := range c.nodes {
		if n.role == "gateway" {
			client.AddGateways(n.url())
		}
	}
	return client
}

// node returns the node of a name, or nil.
func (c *localCluster) node(name string) *clusterNode {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// kill9 kills a node with SIGKILL and waits for its end.
func (c *localCluster) kill9(n *clusterNode) {
	n.cmd.Process.Kill()
	<-n.exited
}

// restart starts a killed node again, on its port and data.
func (c *localCluster) restart(n *clusterNode) error {
	restarted, err := c.launchAt(n.name, n.role, n.port)
	if err != nil {
		return err
	}
	*n = *restarted
	c.nodes = c.nodes[:len(c.nodes)-1] // launchAt appended it; n is in place
	return nil
}

// freePort returns a loopback port that was free a moment ago, outside
// the ephemeral range (32768-60999 on Linux): there, the client side of
// another connection (tests running beside) could take it before the
// node binds it. A port is handed out once per process: two clusters
// started at once (suites, tests) do not race for one.
func freePort() (int, error) {
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 200 {
		port := 20000 + rand.IntN(10000)
		if handedOut.ports[port] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		l.Close()
		if handedOut.ports == nil {
			handedOut.ports = map[int]bool{}
		}
		handedOut.ports[port] = true
		return port, nil
	}
	return 0, errors.New("no free loopback port in 20000-29999")
}

// handedOut are the ports freePort returned.
var handedOut struct {
	sync.Mutex
	ports map[int]bool
}

// launch starts one node, logging to node.log in its directory. The
// first node is the primary gateway; the others join it.
func (c *localCluster) launch(name, role string) (*clusterNode, error) {
	if c.lab != nil {
		return c.launchAt(name, role, 8080) // a host of its own: any port
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return c.launchAt(name, role, port)
}

func (c *localCluster) launchAt(name, role string, port int) (*clusterNode, error) {
	n := &clusterNode{name: name, role: role, dir: filepath.Join(c.dir, name), port: port, exited: make(chan struct{})}
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(filepath.Join(n.dir, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	var host *netlab.Host
	if c.lab != nil {
		if host, err = c.lab.AddHost(name); err != nil {
			return nil, err
		}
		n.host = host.IP
	}
	args := []string{"-role", role, "-id", name, "-host", cmp.Or(n.host, "127.0.0.1"), "-port", strconv.Itoa(port), "-data", n.dir, "-log-level", "warn"}
	switch {
	case len(c.nodes) == 0:
		c.endpoint = n.url()
	case c.endpoint == n.url():
		// The first gateway restarts from its log; it joins another.
		for _, other := range c.nodes {
			if other.role == "gateway" && other.name != name {
				args = append(args, "-join", other.url())
				break
			}
		}
	default:
		args = append(args, "-join", c.endpoint)
	}
	n.cmd = exec.Command(c.aisnode, append(args, c.args...)...)
	if host != nil {
		n.cmd = host.Command(c.aisnode, append(args, c.args...)...)
	}
	n.cmd.Stdout, n.cmd.Stderr = logFile, logFile
	if len(c.env) > 0 {
		n.cmd.Env = append(os.Environ(), c.env...)
	}
	// The nodes die with the benchmark, however it ends.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		n.cmd.Wait()
		close(n.exited)
	}()
	c.nodes = append(c.nodes, n)
	return n, nil
}

// waitForNodes waits until the cluster map holds want nodes.
func (c *localCluster) waitForNodes(ctx context.Context, want int) error {
	client := c.client()
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		for _, n := range c.nodes {
			select {
			case <-n.exited:
				return fmt.Errorf("aisnode %s exited: %s", n.name, n.logTail())
			default:
			}
		}
		m, err := client.Map(ctx)
		if err == nil && len(m.Nodes) == want {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("the map has %d of %d nodes", len(m.Nodes), want)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("local cluster not ready after 30s: %w", last)
}

// logTail returns the end of a node's log, for errors.
func (n *clusterNode) logTail() string {
	data, _ := os.ReadFile(filepath.Join(n.dir, "node.log"))
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return strings.TrimSpace(string(data))
}

// addTarget starts one more target and waits until it is in the map.
func (c *localCluster) addTarget(ctx context.Context) (*clusterNode, error) {
	targets := 0
	for _, n := range c.nodes {
		if n.role == "target" {
			targets++
		}
	}
	n, err := c.launch(fmt.Sprintf("t%d", targets+1), "target")
	if err != nil {
		return nil, err
	}
	return n, c.waitForNodes(ctx, len(c.nodes))
}

// stop stops every node: SIGTERM, then SIGKILL after 10 seconds.
func (c *localCluster) stop() {
	for i := len(c.nodes) - 1; i >= 0; i-- {
		n := c.nodes[i]
		n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.exited:
		case <-time.After(10 * time.Second):
			n.cmd.Process.Kill()
			<-n.exited
		}
	}
	c.nodes = nil
}

// reset resets the peak RSS of every node.
func (c *localCluster) reset() {
	for _, n := range c.nodes {
		resetPeakRSS(n.cmd.Process.Pid)
	}
}

// peak returns the largest peak RSS of the nodes and a note with each.
func (c *localCluster) peak() (int64, string) {
	var largest int64
	var parts []string
	for _, n := range c.nodes {
		rss := peakRSS(n.cmd.Process.Pid)
		largest = max(largest, rss)
		parts = append(parts, fmt.Sprintf("%s %.0f", n.name, float64(rss)/(1<<20)))
	}
	return largest, "node peak RSS (MiB): " + strings.Join(parts, ", ")
}

// clusterFigures measures PUT and GET through a 3-target cluster of
// aisnode processes, on disk and in dry-run, and the time to rebalance
// objects onto a fourth target.
func clusterFigures(ctx context.Context, rec *recorder, cfg Config, src []byte) error {
	if cfg.Aisnode == "" {
		why := "no aisnode binary (build it with 'make build', or pass -aisnode)"
		for _, dryRun := range []string{"cluster", "cluster dry-run"} {
			for _, size := range objectSizes {
				rec.skip(apiName(dryRun, "PUT", size, false, httpWorkers), loopbackName("PUT", size, httpWorkers), why)
				rec.skip(apiName(dryRun, "GET", size, false, httpWorkers), loopbackName("GET", size, httpWorkers), why)
			}
		}
		objects := rebalanceObjects(cfg.RebalanceObjects)
		rec.skip(rebalanceLoadName(objects), "", why)
		rec.skip(rebalanceName(cfg.RebalanceObjects), rebalanceLoadName(objects), why)
		return nil
	}
	for _, dryRun := range []bool{false, true} {
		if err := clusterRun(ctx, rec, cfg, src, dryRun); err != nil {
			return err
		}
	}
	return nil
}

func clusterRun(ctx context.Context, rec *recorder, cfg Config, src []byte, dryRun bool) error {
	where, dir, args := "cluster", filepath.Join(cfg.Dir, "cluster"), []string(nil)
	if dryRun {
		where, dir, args = "cluster dry-run", filepath.Join(cfg.Dir, "cluster-dry-run"), []string{"-dry-run"}
	}
	c, err := startLocalCluster(ctx, dir, cfg.Aisnode, clusterTargets, args...)
	if err != nil {
		return err
	}
	defer c.stop()
	client := api.NewClient(c.endpoint)
	if err := client.CreateBucket(ctx, benchBucket, nil); err != nil {
		return err
	}
	note := fmt.Sprintf("1 gateway and %d targets, each an aisnode process", clusterTargets)
	for _, size := range objectSizes {
		n := count(cfg.Size, size)
		bytesMoved := n * int64(size)
		prefix := fmt.Sprintf("%d/", size)
		put := figure{name: apiName(where, "PUT", size, false, httpWorkers), baseline: loopbackName("PUT", size, httpWorkers), bytes: bytesMoved, ops: n, note: note}
		get := figure{name: apiName(where, "GET", size, false, httpWorkers), baseline: loopbackName("GET", size, httpWorkers), bytes: bytesMoved, ops: n, note: note, repeat: true}
		put.repeat = dryRun // a PUT to the disk writes new versions
		if !dryRun {
			// (The disk's bound at as many writers is the datapath
			// suite's: the one-writer figure here is no bound of it.)
			get.bounds = []string{diskReadersName(size, false, httpWorkers)}
		}
		if err := rec.measureWith(ctx, put, func() error { return apiPut(ctx, client, prefix, src, n, size, httpWorkers) }, c); err != nil {
			return err
		}
		if err := rec.measureWith(ctx, get, func() error { return apiGet(ctx, client, prefix, n, size, httpWorkers) }, c); err != nil {
			return err
		}
	}
	if dryRun {
		return nil
	}
	return rebalanceFigures(ctx, rec, cfg, c, src)
}

// rebalanceLoadName is the PUT of the objects the rebalance moves.
func rebalanceLoadName(objects int) string {
	return apiName("cluster", "PUT", rebalanceObjectSize, false, httpWorkers) + fmt.Sprintf(" (%d objects)", objects)
}

func rebalanceName(objects int) string {
	return fmt.Sprintf("rebalance %d objects of %s, %d to %d targets", rebalanceObjects(objects), sizeName(rebalanceObjectSize), clusterTargets, clusterTargets+1)
}

func rebalanceObjects(configured int) int {
	if configured <= 0 {
		return 10_000
	}
	return configured
}

// rebalanceFigures puts the rebalance objects into a fresh bucket (a
// figure itself, the baseline: loading the same data), then times a new
// target joining until every rebalance job the nodes report is done.
func rebalanceFigures(ctx context.Context, rec *recorder, cfg Config, c *localCluster, src []byte) error {
	objects := rebalanceObjects(cfg.RebalanceObjects)
	client := api.NewClient(c.endpoint)
	if err := client.DestroyBucket(ctx, benchBucket); err != nil {
		return err
	}
	if err := client.CreateBucket(ctx, benchBucket, nil); err != nil {
		return err
	}
	n := int64(objects)
	loadName := rebalanceLoadName(objects)
	load := figure{name: loadName, bytes: n * rebalanceObjectSize, ops: n, note: "the data the rebalance moves, put through the API"}
	if err := rec.measureWith(ctx, load, func() error { return apiPut(ctx, client, "r/", src, n, rebalanceObjectSize, httpWorkers) }, c); err != nil {
		return err
	}
	name := rebalanceName(objects)
	c.reset()
	start := time.Now()
	if _, err := c.addTarget(ctx); err != nil {
		return err
	}
	joined := time.Since(start)
	wait := cfg.RebalanceWait
	if wait <= 0 {
		wait = 10 * time.Second
	}
	moved, finished, err := waitForRebalance(ctx, client, start, wait)
	if errors.Is(err, errNoRebalance) {
		rec.skip(name, loadName, fmt.Sprintf("the new target joined in %s, but no node reported a rebalance job within %s: rebalance is not implemented yet", joined.Round(time.Millisecond), wait))
		return nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		// A failing rebalance is a finding of the run, not the end of it.
		rec.skip(name, loadName, fmt.Sprintf("rebalance failed: %v", err))
		return nil
	}
	elapsed := finished.Sub(start)
	rss, rssNote := c.peak()
	if why, err := rebalanceUnfit(ctx, client, n, moved); err != nil || why != "" {
		if why != "" {
			rec.skip(name, loadName, fmt.Sprintf("the new target joined in %s; %s", joined.Round(time.Millisecond), why))
		}
		return err
	}
	// What moved, over the time it took: the objects that stayed cost it
	// nothing.
	note := fmt.Sprintf("from starting the new target to the last job's end (joined after %s); moved %d of %d objects, %s; 100 sampled objects read after; %s",
		joined.Round(time.Millisecond), moved.Objects, n, formatBytes(moved.Bytes), rssNote)
	rec.add(Result{Name: name, Bytes: moved.Bytes, Ops: moved.Objects, Elapsed: elapsed, Baseline: loadName, PeakRSS: rss, Note: note})
	return nil
}

// rebalanceUnfit says why a rebalance of the n objects under "r/" has no
// speed to report ("" when it has): one that lost objects, or moved none.
func rebalanceUnfit(ctx context.Context, client *api.Client, n int64, moved api.JobStatus) (string, error) {
	unreadable, err := sampleReadable(ctx, client, "r/", n)
	switch {
	case err != nil:
		return "", err
	case unreadable > 0:
		return fmt.Sprintf("rebalance lost data: %d of 100 sampled objects unreadable after it", unreadable), nil
	case moved.Objects == 0:
		return "no object moved to the new target: no speed to report", nil
	}
	return "", nil
}

// waitForRebalance polls the cluster status until the rebalance jobs
// started after start are done, and returns what they moved and when the
// last one ended. Only each node's latest job counts for "done" and for
// errors: a change of the map replaces a running rebalance with a new one.
// Until wait has passed, every target must have reported a job, so that a
// target that finishes at once does not end the wait for the others. It
// returns errNoRebalance when no node reports a rebalance job within wait.
func waitForRebalance(ctx context.Context, client *api.Client, start time.Time, wait time.Duration) (api.JobStatus, time.Time, error) {
	appearBy := time.Now().Add(wait)
	giveUp := time.Now().Add(30 * time.Minute)
	for {
		status, err := client.ClusterStatus(ctx)
		if err != nil {
			return api.JobStatus{}, time.Time{}, err
		}
		var moved api.JobStatus
		var last time.Time
		seen, running, silent := false, false, 0
		for _, node := range status.Nodes {
			if node.Role == "target" {
				silent++ // until it reports a job
			}
			var latest *api.JobStatus
			for _, j := range node.Jobs {
				if j.Kind != "rebalance" || j.Started < start.UnixNano() {
					continue
				}
				moved.Objects += j.Objects
				moved.Bytes += j.Bytes
				if latest == nil || j.Started > latest.Started {
					latest = &j
				}
			}
			if latest == nil {
				continue
			}
			if latest.Error != "" {
				return moved, last, fmt.Errorf("rebalance %s on %s: %s", latest.ID, node.ID, latest.Error)
			}
			seen = true
			if node.Role == "target" {
				silent--
			}
			running = running || latest.Running
			if end := time.Unix(0, latest.Finished); latest.Finished != 0 && end.After(last) {
				last = end
			}
		}
		waited := time.Now().After(appearBy)
		switch {
		case seen && !running && (silent == 0 || waited):
			if last.IsZero() {
				last = time.Now()
			}
			return moved, last, nil
		case !seen && waited:
			return moved, last, errNoRebalance
		case time.Now().After(giveUp):
			return moved, last, fmt.Errorf("rebalance still running after 30 minutes: moved %d objects so far", moved.Objects)
		}
		select {
		case <-ctx.Done():
			return moved, last, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// sampleReadable reads 100 of the n objects under prefix through the
// gateway and returns how many failed.
func sampleReadable(ctx context.Context, client *api.Client, prefix string, n int64) (int, error) {
	buf := pool.Get(pool.CopyBufferSize)
	defer pool.Put(buf)
	failed := 0
	step := max(1, n/100)
	for i := int64(0); i < n && i/step < 100; i += step {
		if err := ctx.Err(); err != nil {
			return failed, err
		}
		r, _, err := client.Get(ctx, benchBucket, prefix+objectName(i), api.GetOptions{})
		if err != nil {
			failed++
			continue
		}
		got, err := drainInto(r, buf)
		r.Close()
		if err != nil || got != rebalanceObjectSize {
			failed++
		}
	}
	return failed, nil
}
