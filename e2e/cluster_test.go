//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
)

// cliCluster is a cluster of aisnode processes started by `ais cluster`.
type cliCluster struct {
	t        testing.TB
	dir      string
	endpoint string
}

// freePortRange finds n consecutive free loopback ports outside the
// ephemeral range, so outgoing connections cannot take them.
func freePortRange(t testing.TB, n int) int {
	t.Helper()
	for range 200 {
		base := 20000 + rand.IntN(10000)
		ok := true
		for p := base; p < base+n && ok; p++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

// startCLICluster runs `ais cluster start`; the cluster is stopped at
// the end of the test.
func startCLICluster(t testing.TB, gateways, targets int, nodeFlags ...string) *cliCluster {
	t.Helper()
	return startMountpathCluster(t, gateways, targets, 1, nodeFlags...)
}

// startMountpathCluster is startCLICluster with a number of mountpaths per
// target (DIR/tN/mp1...).
func startMountpathCluster(t testing.TB, gateways, targets, mountpaths int, nodeFlags ...string) *cliCluster {
	t.Helper()
	dir := t.TempDir()
	port := freePortRange(t, gateways+targets+4)
	args := []string{"cluster", "start", "--gateways", strconv.Itoa(gateways), "--targets", strconv.Itoa(targets),
		"--mountpaths", strconv.Itoa(mountpaths),
		"--dir", dir, "--port", strconv.Itoa(port), "--no-sync", "--aisnode", filepath.Join(binDir, "aisnode")}
	for _, f := range nodeFlags {
		args = append(args, "--node-flag="+f)
	}
	// The endpoint names every gateway: the CLI and clients fail over.
	var gatewayURLs []string
	for i := range gateways {
		gatewayURLs = append(gatewayURLs, fmt.Sprintf("http://127.0.0.1:%d", port+i))
	}
	c := &cliCluster{t: t, dir: dir, endpoint: strings.Join(gatewayURLs, ",")}
	t.Cleanup(func() {
		aisResult(c.endpoint, "cluster", "stop", "--dir", dir)
		if t.Failed() {
			logs, _ := filepath.Glob(filepath.Join(dir, "*", "node.log"))
			for _, path := range logs {
				data, _ := os.ReadFile(path)
				if len(data) > 4000 {
					data = data[len(data)-4000:]
				}
				t.Logf("%s:\n%s", path, data)
			}
		}
	})
	ais(t, c.endpoint, args...)
	return c
}

// client returns a client of the cluster that fails over between its
// gateways, those it started with and those it has now.
func (c *cliCluster) client() *api.Client {
	urls := strings.Split(c.endpoint, ",")
	return api.NewClient(urls[0]).AddGateways(urls[1:]...).AddGateways(strings.Split(c.gateways(), ",")...)
}

// gateways returns the URLs of the gateways the cluster has now, as
// AIS_ENDPOINT takes them.
func (c *cliCluster) gateways() string {
	var urls []string
	for _, n := range c.state() {
		if n.Role == "gateway" {
			urls = append(urls, fmt.Sprintf("http://127.0.0.1:%d", n.Port))
		}
	}
	return strings.Join(urls, ",")
}

// nodeURL returns the URL of a node of the cluster by its name.
func (c *cliCluster) nodeURL(name string) string {
	c.t.Helper()
	for _, n := range c.state() {
		if n.Name == name {
			return fmt.Sprintf("http://127.0.0.1:%d", n.Port)
		}
	}
	c.t.Fatalf("no node %s", name)
	return ""
}

// localNode is a node in the cluster's state file.
type localNode struct {
	Name string `json:"name"`
	Role string `json:"role"`
	Port int    `json:"port"`
	Dir  string `json:"dir"`
	PID  int    `json:"pid"`
}

// state reads the cluster's state file.
func (c *cliCluster) state() []localNode {
	c.t.Helper()
	data, err := os.ReadFile(filepath.Join(c.dir, "cluster.json"))
	if err != nil {
		c.t.Fatal(err)
	}
	var s struct {
		Nodes []localNode `json:"nodes"`
	}
	if err := json.Unmarshal(data, &s); err != nil {
		c.t.Fatal(err)
	}
	return s.Nodes
}

// waitDead waits for a killed process to be gone or a zombie: one the
// CLI started belongs to PID 1 once the CLI exits, which may never reap it.
func waitDead(t testing.TB, name string, pid int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if i := bytes.LastIndexByte(stat, ')'); err != nil || i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) did not exit after SIGKILL", name, pid)
		}
	}
}

// kill9 kills a node with SIGKILL.
func (c *cliCluster) kill9(name string) {
	c.t.Helper()
	for _, n := range c.state() {
		if n.Name == name {
			if err := syscall.Kill(n.PID, syscall.SIGKILL); err != nil {
				c.t.Fatalf("kill %s: %v", name, err)
			}
			// Dead before anyone restarts it: a start that still saw it
			// running would skip it.
			waitDead(c.t, name, n.PID)
			// Connections it was sending on when it died hold its port
			// for a moment after it.
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", n.Port))
				if err == nil {
					l.Close()
					return
				}
				if time.Now().After(deadline) {
					c.t.Fatalf("the port of %s is still taken 30s after it died: %v", name, err)
				}
			}
		}
	}
	c.t.Fatalf("no node %s", name)
}

// waitMap waits until the map has n nodes, all active, and returns it.
func (c *cliCluster) waitMap(n int) *cluster.Map {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		m, err := c.client().Map(c.t.Context())
		if err == nil && len(m.Nodes) == n && !slices.ContainsFunc(m.Nodes, func(x cluster.Node) bool { return x.State != cluster.StateActive }) {
			return m
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the map did not reach %d nodes: %+v %v", n, m, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitState waits until node name is in a state and returns the map.
func (c *cliCluster) waitState(name string, state cluster.State) *cluster.Map {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		m, err := c.client().Map(c.t.Context())
		if err == nil {
			if node, ok := m.Node(name); ok && node.State == state {
				return m
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("node %s did not reach state %s: %+v %v", name, state, m, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitRebalance waits for every target to finish a rebalance to version.
func (c *cliCluster) waitRebalance(version int64) {
	c.t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		s, err := c.client().ClusterStatus(c.t.Context())
		if err == nil && gatewaytest.Rebalanced(s, version) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("rebalance to version %d did not finish: %+v %v", version, s, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkStored checks, on disk, that every acknowledged object is stored
// exactly once, on its owner, and that nothing else is stored.
func (c *cliCluster) checkStored(bucket string, acked map[string]string) {
	c.t.Helper()
	m, err := c.client().Map(c.t.Context())
	if err != nil {
		c.t.Fatal(err)
	}
	seen := map[string]string{}
	for _, n := range c.state() {
		if n.Role != "target" {
			continue
		}
		if _, inMap := m.Node(n.Name); !inMap {
			continue
		}
		root := filepath.Join(n.Dir, "mp1", "ais", bucket)
		filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return nil
			}
			name, _ := filepath.Rel(root, path)
			if other, dup := seen[name]; dup {
				c.t.Fatalf("%s stored on %s and %s", name, other, n.Name)
			}
			seen[name] = n.Name
			owner, _ := m.Owner(cluster.Uname("ais", bucket, name))
			if owner.ID != n.Name {
				c.t.Fatalf("%s is on %s, its owner is %s", name, n.Name, owner.ID)
			}
			return nil
		})
	}
	for name := range acked {
		if _, ok := seen[name]; !ok {
			c.t.Fatalf("acknowledged object %s is stored nowhere", name)
		}
	}
	if len(seen) != len(acked) {
		c.t.Fatalf("%d objects stored, %d acknowledged", len(seen), len(acked))
	}
}

// traffic runs PUT and GET loops until stop is closed or a bound is reached.
type traffic struct {
	mu        sync.Mutex
	acked     map[string]string // name -> checksum
	putErrors atomic.Int64
	getErrors atomic.Int64
	gets      atomic.Int64
	lastErr   atomic.Value
	wg        sync.WaitGroup
	stop      chan struct{}
	stopOnce  sync.Once
}

func startTraffic(t testing.TB, client *api.Client, bucket string, maxObjects int) *traffic {
	l := &traffic{acked: map[string]string{}, stop: make(chan struct{})}
	// Stopped however the test ends: loops left on a stopped cluster
	// would spin on refused connections while the next tests run.
	t.Cleanup(l.halt)
	ctx := context.WithoutCancel(t.Context())
	var next atomic.Int64
	for w := range 4 {
		l.wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			deadline := time.Now().Add(3 * time.Minute)
			for i := 0; time.Now().Before(deadline); i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				if w < 2 {
					k := next.Add(1)
					if k > int64(maxObjects) {
						time.Sleep(5 * time.Millisecond)
						continue
					}
					name := fmt.Sprintf("obj-%05d", k)
					data := bytes.Repeat([]byte{byte(k)}, 1000+int(k%3000))
					meta, err := client.Put(ctx, bucket, name, bytes.NewReader(data), api.PutOptions{Size: int64(len(data))})
					if err != nil {
						l.putErrors.Add(1)
						l.lastErr.Store(err.Error())
						continue
					}
					l.mu.Lock()
					l.acked[name] = meta.Checksum.Value
					l.mu.Unlock()
					continue
				}
				l.mu.Lock()
				var name string
				for n := range l.acked {
					if rng.IntN(4) == 0 || name == "" {
						name = n
					}
					if rng.IntN(8) == 0 {
						break
					}
				}
				l.mu.Unlock()
				if name == "" {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				if _, err := client.GetBytes(ctx, bucket, name, api.GetOptions{Validate: true}); err != nil {
					l.getErrors.Add(1)
					l.lastErr.Store(fmt.Sprintf("%s at %s", err.Error(), time.Now().Format("15:04:05.000")))
				}
				l.gets.Add(1)
			}
		})
	}
	return l
}

func (l *traffic) finish() map[string]string {
	l.halt()
	return l.acked
}

func (l *traffic) halt() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
}

func (c *cliCluster) verifyAll(bucket string, acked map[string]string) {
	c.t.Helper()
	client := c.client()
	listed := 0
	for _, err := range client.ListAll(c.t.Context(), bucket, api.ListObjectsMessage{PageSize: 500}) {
		if err != nil {
			c.t.Fatal(err)
		}
		listed++
	}
	if listed != len(acked) {
		c.t.Fatalf("listing counts %d objects, %d PUTs were acknowledged", listed, len(acked))
	}
	for name, sum := range acked {
		meta, err := client.Head(c.t.Context(), bucket, name)
		if err != nil || meta.Checksum.Value != sum {
			c.t.Fatalf("%s: %+v %v, want checksum %s", name, meta, err, sum)
		}
		if _, err := client.GetBytes(c.t.Context(), bucket, name, api.GetOptions{Validate: true}); err != nil {
			c.t.Fatalf("%s: %v", name, err)
		}
	}
	c.checkStored(bucket, acked)
}

// PUT and GET loops run while a fourth target joins and then one leaves:
// no request fails, and every acknowledged object ends up stored once, on
// its owner, with its checksum.
func TestClusterMembershipUnderLoad(t *testing.T) {
	c := startCLICluster(t, 1, 3)
	client := c.client()
	if err := client.CreateBucket(t.Context(), "load", nil); err != nil {
		t.Fatal(err)
	}
	l := startTraffic(t, client, "load", 3000)
	time.Sleep(500 * time.Millisecond)
	ais(t, c.endpoint, "cluster", "add-target", "--dir", c.dir, "--aisnode", filepath.Join(binDir, "aisnode"))
	m := c.waitMap(5)
	c.waitRebalance(m.Version)
	ais(t, c.endpoint, "cluster", "rm-target", "t1", "--dir", c.dir)
	c.waitMap(4)
	time.Sleep(300 * time.Millisecond)
	acked := l.finish()
	if l.getErrors.Load() != 0 || l.putErrors.Load() != 0 {
		t.Fatalf("%d GETs and %d PUTs failed during the membership changes; last: %v", l.getErrors.Load(), l.putErrors.Load(), l.lastErr.Load())
	}
	if len(acked) < 100 || l.gets.Load() < 100 {
		t.Fatalf("the load did little: %d PUTs, %d GETs", len(acked), l.gets.Load())
	}
	c.verifyAll("load", acked)
}

// kill -9 of a target, then its restart: the cluster keeps serving what
// the others own, and after the restart everything is complete.
func TestClusterKillAndRestart(t *testing.T) {
	c := startCLICluster(t, 1, 3, "-keepalive=200ms", "-keepalive-timeout=2s")
	client := c.client()
	if err := client.CreateBucket(t.Context(), "kill", nil); err != nil {
		t.Fatal(err)
	}
	l := startTraffic(t, client, "kill", 500)
	deadline := time.Now().Add(time.Minute)
	for {
		l.mu.Lock()
		n := len(l.acked)
		l.mu.Unlock()
		if n >= 500 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	acked := l.finish()
	c.kill9("t2")
	c.waitState("t2", cluster.StateOffline)
	// The remaining targets take new objects.
	for i := range 50 {
		name := fmt.Sprintf("during-%02d", i)
		meta, err := client.Put(t.Context(), "kill", name, bytes.NewReader([]byte(name)), api.PutOptions{Size: int64(len(name))})
		if err != nil {
			t.Fatalf("PUT while t2 is down: %v", err)
		}
		acked[name] = meta.Checksum.Value
	}
	// As if the first start was cut short once its first gateway ran: a
	// start that finds that gateway running marks the cluster formed, or
	// every later restart starts it alone and waits for it in vain.
	state := filepath.Join(c.dir, "cluster.json")
	saved, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(state, bytes.Replace(saved, []byte("{"), []byte("{\n  \"forming\": true,"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	ais(t, c.endpoint, "cluster", "start", "--dir", c.dir, "--aisnode", filepath.Join(binDir, "aisnode"))
	if saved, err := os.ReadFile(state); err != nil || bytes.Contains(saved, []byte(`"forming"`)) {
		t.Fatalf("the cluster started whole is still marked forming: %v\n%s", err, saved)
	}
	m := c.waitMap(4)
	c.waitRebalance(m.Version)
	c.verifyAll("kill", acked)
}
