//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/benchmarks"
	"github.com/aisgo/aisgo/cluster"
)

// primary returns the primary of the cluster's map.
func (c *cliCluster) primary() string {
	c.t.Helper()
	m, err := c.client().Map(c.t.Context())
	if err != nil {
		c.t.Fatal(err)
	}
	return m.Primary
}

// nodeMap reads one node's own map (not the cluster's through a gateway).
func (c *cliCluster) nodeMap(name string) (*cluster.Map, error) {
	ctx, cancel := context.WithTimeout(c.t.Context(), 2*time.Second)
	defer cancel()
	return api.NewClient(c.nodeURL(name)).UseRedirects().Map(ctx)
}

// signal sends a signal to a node's process.
func (c *cliCluster) signal(name string, sig syscall.Signal) {
	c.t.Helper()
	for _, n := range c.state() {
		if n.Name == name {
			if err := syscall.Kill(n.PID, sig); err != nil {
				c.t.Fatalf("signal %s: %v", name, err)
			}
			return
		}
	}
	c.t.Fatalf("no node %s", name)
}

// until polls cond every 20ms, up to a bound; it fails the test with
// what when the bound passes.
func until(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(bound); ; time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, bound)
		}
	}
}

// firstControlWrite creates a bucket through any gateway until it
// succeeds, and returns how long that took from since.
func firstControlWrite(t *testing.T, client *api.Client, bucket string, since time.Time) time.Duration {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err := client.CreateBucket(ctx, bucket, nil)
		cancel()
		if err == nil || errors.Is(err, api.ErrBucketExists) {
			return time.Since(since)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no control write succeeded within 30s: %v", err)
		}
	}
}

// The control plane of three gateways loses its primary to kill -9 under
// aisloader load, is stopped (SIGSTOP) and continued, and loses two of
// three gateways: it fails over within seconds, loses no acknowledged
// PUT, never has two primaries, refuses control writes without a quorum
// while data goes on, and comes back whole.
func TestControlPlaneFailover(t *testing.T) {
	c := startCLICluster(t, 3, 3)
	client := c.client()
	if err := client.CreateBucket(t.Context(), "load", nil); err != nil {
		t.Fatal(err)
	}

	t.Run("kill9-primary-under-load", func(t *testing.T) {
		report := filepath.Join(t.TempDir(), "load.json")
		loader := exec.Command(filepath.Join(binDir, "aisloader"), "-endpoint", c.endpoint, "-bucket", "ais://load",
			"-pctput", "50", "-duration", "8s", "-numworkers", "4", "-minsize", "4KiB", "-maxsize", "32KiB",
			"-randomname=false", "-statsinterval", "0", "-maxerrors", "-1", "-json-out", report)
		var out bytes.Buffer
		loader.Stdout, loader.Stderr = &out, &out
		if err := loader.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { loader.Process.Kill(); loader.Wait() })
		time.Sleep(2 * time.Second)
		old := c.primary()
		before, _ := client.Map(t.Context())
		c.kill9(old)
		killed := time.Now()
		failover := firstControlWrite(t, client, "after-failover", killed)
		fmt.Printf("failover: %s from kill -9 of primary %s to the first bucket create on the new primary (aim: under 5s)\n", failover.Round(time.Millisecond), old)

		if err := loader.Wait(); err != nil {
			t.Fatalf("aisloader: %v\n%s", err, out.String())
		}
		var r benchmarks.LoadReport
		data, err := os.ReadFile(report)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatal(err)
		}
		clientErrors := r.Put.Errors + r.Get.Errors
		fmt.Printf("aisloader across the failover: %d PUTs, %d GETs, %d client errors (aim: 0)\n", r.Put.Ops, r.Get.Ops, clientErrors)
		if r.Put.Ops == 0 || r.Get.Ops == 0 {
			t.Fatalf("no load ran: %+v\n%s", r.LoadStats, out.String())
		}
		if clientErrors != 0 {
			t.Fatalf("%d client errors across the failover\n%s", clientErrors, out.String())
		}
		// Every acknowledged PUT is there, whole: names are sequential
		// and unique, so the listing counts exactly the acknowledged.
		listed := 0
		for e, err := range client.ListAll(t.Context(), "load", api.ListObjectsMessage{}) {
			if err != nil {
				t.Fatal(err)
			}
			if _, err := client.GetBytes(t.Context(), "load", e.Name, api.GetOptions{Validate: true}); err != nil {
				t.Fatalf("%s: %v", e.Name, err)
			}
			listed++
		}
		if int64(listed) != r.Put.Ops {
			t.Fatalf("%d objects listed after the failover, %d PUTs acknowledged", listed, r.Put.Ops)
		}
		m, err := client.Map(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if m.Primary == old || m.Version <= before.Version {
			t.Fatalf("after the failover: primary %s, version %d (was %s, %d)", m.Primary, m.Version, old, before.Version)
		}
		// A target joins through the new primary.
		ais(t, c.endpoint, "cluster", "add-target", "--dir", c.dir, "--aisnode", filepath.Join(binDir, "aisnode"))
		if m, err = client.Map(t.Context()); err != nil || len(m.Targets()) != 4 {
			t.Fatalf("after add-target: %v %v", m, err)
		}
		// The killed gateway restarts and catches up from its log.
		ais(t, c.endpoint, "cluster", "start", "--dir", c.dir, "--aisnode", filepath.Join(binDir, "aisnode"))
		until(t, 30*time.Second, old+" catches up", func() bool {
			own, err := c.nodeMap(old)
			return err == nil && own.Version >= m.Version && len(own.Targets()) == 4 && own.Primary == m.Primary
		})
		c.waitRebalance(m.Version)
	})

	t.Run("sigstop-primary", func(t *testing.T) {
		// A stopped process accepts connections and never answers: the
		// client leaves a gateway silent for 2s.
		client := c.client().SetGatewayTimeout(2 * time.Second)
		old := c.primary()
		c.signal(old, syscall.SIGSTOP)
		stopped := true
		defer func() {
			if stopped {
				c.signal(old, syscall.SIGCONT)
			}
		}()
		failover := firstControlWrite(t, client, "while-stopped", time.Now())
		m, err := client.Map(t.Context())
		if err != nil || m.Primary == old {
			t.Fatalf("while %s is stopped: primary %v, %v", old, m, err)
		}
		fmt.Printf("failover: %s from SIGSTOP of primary %s to the first bucket create on %s\n", failover.Round(time.Millisecond), old, m.Primary)
		c.signal(old, syscall.SIGCONT)
		stopped = false
		// The old primary steps down and follows; targets keep the new
		// leader's map (a push from the old one would be refused).
		until(t, 20*time.Second, old+" follows "+m.Primary, func() bool {
			own, err := c.nodeMap(old)
			return err == nil && own.Primary == m.Primary && own.Version >= m.Version
		})
		if err := api.NewClient(c.nodeURL(old)).CreateBucket(t.Context(), "through-old-primary", nil); err != nil {
			t.Fatalf("a control write through the old primary: %v", err)
		}
		for _, n := range c.state() {
			if n.Role != "target" {
				continue
			}
			until(t, 10*time.Second, "target "+n.Name+" follows "+m.Primary, func() bool {
				own, err := c.nodeMap(n.Name)
				return err == nil && own.Primary == m.Primary && own.Version >= m.Version
			})
		}
		primaries := 0
		for _, n := range c.state() {
			if own, err := c.nodeMap(n.Name); err == nil && n.Role == "gateway" && own.Primary == n.Name {
				primaries++
			}
		}
		if primaries != 1 {
			t.Fatalf("%d gateways call themselves primary", primaries)
		}
	})

	t.Run("two-of-three-gateways-down", func(t *testing.T) {
		var gateways []string
		for _, n := range c.state() {
			if n.Role == "gateway" {
				gateways = append(gateways, n.Name)
			}
		}
		slices.Sort(gateways)
		survivor := gateways[2]
		c.kill9(gateways[0])
		c.kill9(gateways[1])
		alone := api.NewClient(c.nodeURL(survivor))
		err := alone.CreateBucket(t.Context(), "no-quorum", nil)
		var e *api.Error
		if !errors.Is(err, api.ErrNoQuorum) || !errors.As(err, &e) || e.Status != 503 ||
			!strings.Contains(e.Message, "1 of 3 gateways answer ("+survivor+")") {
			t.Fatalf("a control write without a quorum: %v, want 503 no quorum naming %s", err, survivor)
		}
		// Data goes on: through the survivor's redirects and straight to
		// the targets.
		for i, cl := range []*api.Client{api.NewClient(c.nodeURL(survivor)).UseRedirects(), api.NewClient(c.nodeURL(survivor))} {
			name := fmt.Sprintf("during-no-quorum-%d", i)
			if _, err := cl.Put(t.Context(), "load", name, strings.NewReader(name), api.PutOptions{Size: int64(len(name))}); err != nil {
				t.Fatalf("PUT without a quorum: %v", err)
			}
			got, err := cl.GetBytes(t.Context(), "load", name, api.GetOptions{Validate: true})
			if err != nil || string(got) != name {
				t.Fatalf("GET without a quorum: %q %v", got, err)
			}
		}
		// The two come back: the quorum returns, the cluster is whole.
		ais(t, c.endpoint, "cluster", "start", "--dir", c.dir, "--aisnode", filepath.Join(binDir, "aisnode"))
		if err := client.CreateBucket(t.Context(), "quorum-back", nil); err != nil {
			t.Fatal(err)
		}
		for _, g := range gateways {
			until(t, 20*time.Second, g+" has the bucket created after the quorum returned", func() bool {
				ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
				defer cancel()
				_, err := api.NewClient(c.nodeURL(g)).UseRedirects().BucketProps(ctx, "quorum-back")
				return err == nil
			})
		}
		if _, err := client.Head(t.Context(), "load", "during-no-quorum-0"); err != nil {
			t.Fatal(err)
		}
	})
}

// A dSort job whose coordinating gateway is killed mid-run is aborted by
// the new leader once the coordinator stays silent for the keepalive
// timeout: its targets stop and remove what they wrote, the status says
// aborted with the cause, and the job runs again to the same output.
func TestDsortCoordinatorKilled(t *testing.T) {
	c := startCLICluster(t, 3, 3, "-keepalive=200ms", "-keepalive-timeout=2s")
	ais(t, c.endpoint, "bucket", "create", "ais://src")
	ais(t, c.endpoint, "archive", "gen-shards", "ais://src/in-{000..047}.tgz", "--records", "40", "--record-size", "40KiB", "--exts", ".jpg,.cls", "--seed", "3")
	spec := dsortSpec(t, "src", "in-{000..047}.tgz", "dst", "")
	ais(t, c.endpoint, "dsort", "start", spec, "--wait")
	baseline := c.outputs("dst")
	ais(t, c.endpoint, "bucket", "rm", "--yes", "ais://dst")

	// A follower coordinates the job: it is started through it.
	primary := c.primary()
	coordinator := "g2"
	if primary == coordinator {
		coordinator = "g3"
	}
	id := strings.TrimSpace(ais(t, c.nodeURL(coordinator), "dsort", "start", spec))
	c.waitPhase(id, "create")
	c.kill9(coordinator)
	// The targets stop as the coordinator's calls break; the leader then
	// settles the job in the registry, naming the cause.
	if errs := c.waitAborted(id); !strings.Contains(errs, "coordinating gateway") {
		t.Fatalf("errors %q: want the coordinator's death as the cause", errs)
	}
	until(t, 30*time.Second, "the registry records the abort", func() bool {
		metrics, err := c.client().DsortMetrics(t.Context(), id)
		return err == nil && strings.Contains(strings.Join(api.DsortSummary(metrics).Metrics.Errors, "; "), "coordinating gateway "+coordinator+" stopped answering")
	})
	c.waitEmpty("dst")
	// `ais dsort wait` through any gateway ends with the abort.
	_, stderr, err := aisResult(c.endpoint, "dsort", "wait", id)
	if err == nil || !strings.Contains(stderr, "aborted") {
		t.Fatalf("ais dsort wait: %v %q", err, stderr)
	}
	ais(t, c.endpoint, "cluster", "start", "--dir", c.dir, "--aisnode", filepath.Join(binDir, "aisnode"))
	c.rerun(spec, "dst", baseline)
}

// Bad changes of the gateways are refused: a duplicate id, a gateway of
// another cluster, the removal of the last voter, a corrupt log.
func TestGatewayMembershipBadInput(t *testing.T) {
	c := startCLICluster(t, 1, 1)
	aisnode := filepath.Join(binDir, "aisnode")
	ais(t, c.endpoint, "cluster", "add-gateway", "--dir", c.dir, "--aisnode", aisnode)
	ais(t, c.endpoint, "cluster", "add-gateway", "--dir", c.dir, "--aisnode", aisnode)
	m, err := c.client().Map(t.Context())
	if err != nil || len(m.Gateways()) != 3 {
		t.Fatalf("after two add-gateway: %v %v", m, err)
	}
	secret := filepath.Join(c.dir, "cluster-secret")
	// exits runs aisnode to its end and returns its output.
	exits := func(t *testing.T, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, aisnode, append(args, "-secret-file", secret)...).CombinedOutput()
		if err == nil || ctx.Err() != nil {
			t.Fatalf("aisnode %s: %v, want a refusal\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	t.Run("duplicate-id", func(t *testing.T) {
		out := exits(t, "-role", "gateway", "-id", "g2", "-port", fmt.Sprint(freePort(t)), "-data", t.TempDir(), "-join", c.nodeURL("g1"))
		if !strings.Contains(out, "g2") || !strings.Contains(out, "already in use") {
			t.Fatalf("a gateway under a used id: %s", out)
		}
	})
	t.Run("other-cluster", func(t *testing.T) {
		// A cluster of its own (same secret: the same operator), stopped.
		other := t.TempDir()
		first := startNode(t, "-role", "gateway", "-id", "x1", "-data", other, "-secret-file", secret)
		first.kill()
		out := exits(t, "-role", "gateway", "-id", "x1", "-port", fmt.Sprint(freePort(t)), "-data", other, "-join", c.nodeURL("g1"))
		if !strings.Contains(out, "another cluster") || !strings.Contains(out, "of cluster") {
			t.Fatalf("a gateway of another cluster: %s", out)
		}
		m, err := c.client().Map(t.Context())
		if err != nil {
			t.Fatalf("the map after the foreign gateway's join: %v", err)
		}
		if slices.ContainsFunc(m.Nodes, func(n cluster.Node) bool { return n.ID == "x1" }) {
			t.Fatalf("the foreign gateway is in the map: %v", m)
		}
	})
	t.Run("last-voter", func(t *testing.T) {
		ais(t, c.gateways(), "cluster", "rm-gateway", "g3", "--dir", c.dir)
		// The primary goes too: it hands over first.
		primary := c.primary()
		ais(t, c.gateways(), "cluster", "rm-gateway", primary, "--dir", c.dir)
		client := c.client()
		m, err := client.Map(t.Context())
		if err != nil || len(m.Gateways()) != 1 || m.Primary == primary {
			t.Fatalf("after removing two gateways: %v %v", m, err)
		}
		_, stderr, err := aisResult(c.gateways(), "cluster", "rm-gateway", m.Primary)
		if err == nil || !strings.Contains(stderr, "last gateway") {
			t.Fatalf("removing the last voter: %v %q", err, stderr)
		}
		if err := client.CreateBucket(t.Context(), "still-works", nil); err != nil {
			t.Fatal(err)
		}
		// A removed gateway's ID joins again with a new directory, as the
		// refusal of its restart says: replaying the cluster's log (its
		// old join, its removal, its new join), it ends up serving.
		again := startNode(t, "-role", "gateway", "-id", "g3", "-data", t.TempDir(), "-join", c.nodeURL(m.Primary), "-secret-file", secret)
		if _, err := again.client().ListBuckets(t.Context()); err != nil {
			t.Fatalf("g3 joined again: %v", err)
		}
	})
	t.Run("corrupt-log", func(t *testing.T) {
		ais(t, c.gateways(), "cluster", "stop", "--dir", c.dir)
		var gateway localNode
		for _, n := range c.state() {
			if n.Role == "gateway" {
				gateway = n
			}
		}
		log := filepath.Join(gateway.Dir, "meta", "raft", "raft.db")
		data, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		// Damage both meta pages of the bolt file (bolt falls back from
		// one to the other).
		for _, page := range []int{0, 4096} {
			for i := page + 16; i < page+64; i++ {
				data[i] ^= 0xff
			}
		}
		if err := os.WriteFile(log, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, stderr, err := aisResult(c.gateways(), "cluster", "start", "--dir", c.dir, "--aisnode", aisnode)
		if err == nil || !strings.Contains(stderr, "cannot be read") || !strings.Contains(stderr, "refusing to start") {
			t.Fatalf("a corrupt raft log: %v %q", err, stderr)
		}
	})
}
