package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
)

// fakeAisnode writes a script that fails the way aisnode does when its
// port is taken: a line on stderr, exit status 1.
func fakeAisnode(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "aisnode")
	script := "#!/bin/sh\necho \"starting $*\"\necho \"aisnode: listen: bind: address already in use\" >&2\nexit 1\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// runningNode starts a process of a program named aisnode, with the
// data directory dir, that does nothing, and returns its id; it is
// killed when the test ends.
func runningNode(t *testing.T, dir string) int {
	t.Helper()
	return runningNodeNamed(t, dir, "aisnode")
}

// runningNodeNamed is runningNode of a binary of another name (--aisnode
// ./bin/node).
func runningNodeNamed(t *testing.T, dir, program string) int {
	t.Helper()
	shell, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	node := filepath.Join(t.TempDir(), program)
	if err := os.Symlink(shell, node); err != nil {
		t.Fatal(err)
	}
	// "; true" keeps the shell from exec'ing sleep in its place.
	cmd := exec.Command(node, "-c", "sleep 300; true", "-data", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	// Until the exec, the child runs as this test's program.
	n := localNode{PID: cmd.Process.Pid, Dir: dir}
	for deadline := time.Now().Add(10 * time.Second); !n.running(); {
		if time.Now().After(deadline) {
			t.Fatal("an aisnode of the node's data directory is not taken for the node")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cmd.Process.Pid
}

// freePort returns a loopback port nothing listens on, so that health and
// map requests fail and only the node's exit can end the wait early.
// freePort returns a port that is free, with the 3 after it: a local
// cluster's nodes take consecutive ports (one in use would fail another
// way than a test expects). From 30000-32767: below the ephemeral range
// (32768-60999 on Linux), where another test process's connections could
// take one before the node binds it, and apart from the 20000-29999 of
// the benchmarks' clusters, which may run beside.
func freePort(t *testing.T) int {
	t.Helper()
	for range 100 {
		port := 30000 + rand.IntN(32768-30000-4)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		held := []net.Listener{l}
		for next := port + 1; next < port+4; next++ {
			if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", next)); err == nil {
				held = append(held, l)
			}
		}
		for _, l := range held {
			l.Close()
		}
		if len(held) == 4 {
			return port
		}
	}
	t.Fatal("no 4 consecutive free ports on 127.0.0.1")
	return 0
}

func TestStartReportsNodeThatExits(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string, port int) // prepares dir
		node  string                                   // the node expected to fail
	}{
		{
			// The primary fails while start waits for its health check.
			name:  "new cluster, primary",
			setup: func(t *testing.T, dir string, port int) {},
			node:  "g1",
		},
		{
			// A restart launches only the dead target; the gateway "runs"
			// as a process of a program named aisnode. The target fails
			// while start waits for the map. Its log holds an older run,
			// which must not show.
			name: "restart, target",
			setup: func(t *testing.T, dir string, port int) {
				c := &localCluster{
					Endpoint: "http://127.0.0.1:" + strconv.Itoa(port),
					Nodes: []localNode{
						{Name: "g1", Role: "gateway", Port: port, Dir: filepath.Join(dir, "g1"), PID: runningNode(t, filepath.Join(dir, "g1"))},
						{Name: "t1", Role: "target", Port: port + 1, Dir: filepath.Join(dir, "t1")},
					},
				}
				if err := os.MkdirAll(filepath.Join(dir, "t1"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "t1", "node.log"), []byte("line of an older run\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := c.save(dir); err != nil {
					t.Fatal(err)
				}
			},
			node: "t1",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, port := t.TempDir(), freePort(t)
			tc.setup(t, dir, port)
			cmd := newClusterStartCommand()
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			cmd.SetArgs([]string{"--dir", dir, "--aisnode", fakeAisnode(t), "--gateways=1", "--targets=1", "--port", strconv.Itoa(port)})
			err := cmd.ExecuteContext(t.Context())
			if err == nil {
				t.Fatal("start succeeded with a node that exits")
			}
			exited, ok := errors.AsType[*nodeExitError](err)
			if !ok {
				t.Fatalf("error %q does not report the node's exit", err)
			}
			msg := err.Error()
			t.Log(msg)
			for _, want := range []string{
				"node " + tc.node + " exited during start (exit status 1)",
				"address already in use",
				filepath.Join(dir, tc.node, "node.log"),
			} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q lacks %q", msg, want)
				}
			}
			if exited.Node != tc.node || strings.Contains(msg, "older run") {
				t.Errorf("error %q names node %s or shows an older run's log", msg, exited.Node)
			}
			// What was launched is saved, for stop, though start failed.
			saved, err := loadCluster(dir)
			if err != nil || saved == nil {
				t.Fatalf("the state of a failed start: %+v %v", saved, err)
			}
			for _, n := range saved.Nodes {
				if n.Name == tc.node && n.PID == 0 {
					t.Errorf("node %s was launched, and its process id is not saved", n.Name)
				}
			}
			if tc.node != "g1" {
				return
			}
			// Started again, the cluster that never formed is formed by
			// its first gateway: not joined to itself, waiting for good.
			again := newClusterStartCommand()
			again.SilenceUsage, again.SilenceErrors = true, true
			again.SetArgs([]string{"--dir", dir, "--aisnode", fakeAisnode(t)})
			again.ExecuteContext(t.Context())
			log, _ := os.ReadFile(filepath.Join(dir, "g1", "node.log"))
			if !strings.Contains(string(log), "starting") || strings.Contains(string(log), "-join") {
				t.Errorf("the first gateway of a cluster that never formed, started again: %s", log)
			}
		})
	}
}

func TestRestartRefusesOtherShape(t *testing.T) {
	saved := &localCluster{Nodes: []localNode{
		{Name: "g1", Role: "gateway", Port: 8080},
		{Name: "t1", Role: "target", Port: 8081},
		{Name: "t2", Role: "target", Port: 8082},
		{Name: "t3", Role: "target", Port: 8083},
	}}
	tests := []struct {
		name string
		args []string
		want []string // in the error; none means no error
	}{
		{name: "no flags", args: nil},
		{name: "other flags", args: []string{"--no-sync", "--dir=x"}},
		{name: "same values", args: []string{"--gateways=1", "--targets=3", "--port=8080"}},
		{name: "targets", args: []string{"--targets=5"}, want: []string{"--targets=5", "3 target(s)", "ais cluster stop --dir /d"}},
		{name: "gateways", args: []string{"--gateways=2"}, want: []string{"--gateways=2", "1 gateway(s)"}},
		{name: "port and targets", args: []string{"--port=9000", "--targets=3", "--targets=4"}, want: []string{"--port=9000", "first port 8080", "--targets=4"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := newClusterStartCommand()
			if err := cmd.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
			err := checkRestartFlags(cmd, saved, "/d")
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("restart with other flag values accepted")
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestLogTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.log")
	old := "old run\n"
	var b strings.Builder
	b.WriteString(old)
	for i := range 8 {
		b.WriteString("line " + strconv.Itoa(i) + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, want := logTail(path, int64(len(old))), "line 3 | line 4 | line 5 | line 6 | line 7"; got != want {
		t.Errorf("tail %q, want %q", got, want)
	}
	if got := logTail(path, int64(b.Len())); got != "" {
		t.Errorf("tail of nothing new: %q", got)
	}
	// A long log: the tail starts at a whole line within the window.
	long := strings.Repeat(strings.Repeat("x", 100)+"\n", 100) + "last\n"
	if err := os.WriteFile(path, []byte(long), 0o644); err != nil {
		t.Fatal(err)
	}
	got := logTail(path, 0)
	if !strings.HasSuffix(got, " | last") || strings.Count(got, " | ") != 4 {
		t.Errorf("tail of a long log: %q", got)
	}
}

// The first admin's password goes to the AuthN service alone: a node
// launched after it does not inherit it.
func TestAuthnPasswordStaysWithTheService(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "aisnode")
	// The fake writes its environment to its data directory.
	script := "#!/bin/sh\nwhile [ $# -gt 0 ]; do if [ \"$1\" = -data ]; then mkdir -p \"$2\"; env > \"$2/env\"; fi; shift; done\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := &localCluster{Aisnode: bin, SecretFile: filepath.Join(dir, "secret"), authnEnv: []string{"AIS_AUTHN_SU_PASS=the-password"}}
	service := &localNode{Name: "authn", Role: roleAuthn, Port: 1, Dir: filepath.Join(dir, "authn")}
	node := &localNode{Name: "g1", Role: "gateway", Port: 2, Dir: filepath.Join(dir, "g1")}
	done := make(chan error, 2)
	for _, n := range []*localNode{service, node} {
		if err := c.launch(n, "", func(err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	<-done
	read := func(n *localNode) string {
		data, err := os.ReadFile(filepath.Join(n.Dir, "env"))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	if !strings.Contains(read(service), "AIS_AUTHN_SU_PASS=the-password") {
		t.Fatal("the AuthN service did not get its first admin's password")
	}
	if strings.Contains(read(node), "the-password") {
		t.Fatal("a node inherited the AuthN admin's password")
	}
}

// A saved PID is the node's only while it is an aisnode of the node's
// data directory: stop leaves another cluster's node that took the PID
// (after a reboot) running.
func TestNodeProcessIsKnownByItsDataDir(t *testing.T) {
	dir := t.TempDir()
	pid := runningNode(t, dir)
	other := localNode{Name: "t1", PID: pid, Dir: filepath.Join(t.TempDir(), "t1")}
	if other.running() {
		t.Fatal("another data directory's aisnode taken for the node")
	}
	if other.stop() {
		t.Fatal("stop reported stopping another cluster's node")
	}
	time.Sleep(100 * time.Millisecond)
	mine := localNode{Name: "t1", PID: pid, Dir: dir}
	if !mine.running() {
		t.Fatal("stop signalled another cluster's node")
	}
	if !mine.stop() {
		t.Fatal("stop did not find the node running")
	}
	if mine.running() {
		t.Fatal("the node still runs after stop")
	}
}

// A node added waits for itself to be in and active, not for every node:
// one in maintenance stays so, and the add does not time out on it.
func TestWaitForNodesWaitsForTheLaunchedOnly(t *testing.T) {
	m := &cluster.Map{Version: 3, Primary: "g1", Nodes: []cluster.Node{
		{ID: "g1", Role: cluster.RoleGateway, State: cluster.StateActive, URL: "http://127.0.0.1:1"},
		{ID: "t1", Role: cluster.RoleTarget, State: cluster.StateActive, URL: "http://127.0.0.1:2"},
		{ID: "t2", Role: cluster.RoleTarget, State: cluster.StateMaintenance, URL: "http://127.0.0.1:3"},
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("what") == "smap" {
			json.NewEncoder(w).Encode(m)
			return
		}
		json.NewEncoder(w).Encode(api.ClusterStatus{MapVersion: 3})
	}))
	defer srv.Close()
	client := api.NewClient(srv.URL)
	if _, err := waitForNodes(t.Context(), client, []string{"t1"}, nil, 5*time.Second); err != nil {
		t.Fatalf("the launched node is active, one other in maintenance: %v", err)
	}
	if _, err := waitForNodes(t.Context(), client, []string{"t3"}, nil, 300*time.Millisecond); err == nil || !strings.Contains(err.Error(), "t3") {
		t.Fatalf("a node not in the map: %v", err)
	}
	// Restarted, t1 is active in the map of its last run; its new process
	// (exited at once) does not answer: still waited for.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	direct := map[string]*api.Client{"t1": api.NewClient(gone.URL)}
	if _, err := waitForNodes(t.Context(), client, []string{"t1"}, direct, 300*time.Millisecond); err == nil || !strings.Contains(err.Error(), "t1") {
		t.Fatalf("a restarted node active in the map that does not answer: %v, want waited for", err)
	}
	direct["t1"] = client // answers its health check
	if _, err := waitForNodes(t.Context(), client, []string{"t1"}, direct, 5*time.Second); err != nil {
		t.Fatalf("a restarted node that answers: %v", err)
	}
}

// A port another program holds stops the start before any node is
// launched: the other's nodes would answer this cluster's health checks.
func TestStartRefusesAPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	c := &localCluster{Nodes: []localNode{{Name: "g1", Role: "gateway", Port: port}}}
	if err := c.portsFree(); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("port %d of node g1 is in use", port)) {
		t.Fatalf("a start onto a port in use: %v", err)
	}
	// The AuthN service's port too, checked before it starts.
	c = &localCluster{AuthN: &localNode{Name: "authn", Role: "authn", Port: port}}
	if err := c.portsFree(); err == nil || !strings.Contains(err.Error(), "node authn") {
		t.Fatalf("a start whose AuthN port is in use: %v", err)
	}
	l.Close()
	if err := c.portsFree(); err != nil {
		t.Fatalf("the port freed: %v", err)
	}
}

// Nodes do not take the user's AuthN secret or S3 key from the
// environment: they follow the cluster's own settings (its S3 key saved
// when it started, in whatever shell a node is added later).
func TestNodesDoNotInheritAuthSettings(t *testing.T) {
	got := nodeEnvironment([]string{"PATH=/bin", "AIS_AUTHN_SECRET_KEY=s", "AIS_AUTHN_URL=http://x", "AIS_S3_ACCESS_KEY=a", "AIS_S3_SECRET_KEY=b", "AIS_ENDPOINT=http://y"})
	if !slices.Equal(got, []string{"PATH=/bin", "AIS_ENDPOINT=http://y"}) {
		t.Fatalf("the nodes' environment: %q", got)
	}
}

// A node added takes a name of its own: not one a node of the cluster
// has, nor one taken out before (its directory is kept, and a node
// started there would be the one removed).
func TestNewNodeNameSkipsRemovedNodes(t *testing.T) {
	dir := t.TempDir()
	c := &localCluster{Nodes: []localNode{{Name: "g1", Role: "gateway"}, {Name: "g2", Role: "gateway"}, {Name: "t1", Role: "target"}}}
	if got := c.newNodeName(dir, "gateway", "g"); got != "g3" {
		t.Fatalf("a third gateway: %s", got)
	}
	os.Mkdir(filepath.Join(dir, "g3"), 0o755) // g3 added, then taken out
	if got := c.newNodeName(dir, "gateway", "g"); got != "g4" {
		t.Fatalf("a gateway after g3 was taken out: %s, want g4", got)
	}
	if got := c.newNodeName(dir, "target", "t"); got != "t2" {
		t.Fatalf("a second target: %s", got)
	}
}

// The S3 key a cluster starts with is saved (0600) and given to every
// node it launches, from a shell without it too; a start without one
// keeps the saved key.
func TestClusterKeepsItsS3Key(t *testing.T) {
	dir := t.TempDir()
	c := &localCluster{}
	t.Setenv("AIS_S3_ACCESS_KEY", "AKIDLOCAL")
	t.Setenv("AIS_S3_SECRET_KEY", "the secret")
	if err := c.keepS3Key(dir); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(c.S3KeyFile); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the saved key: %v %v", info, err)
	}
	t.Setenv("AIS_S3_ACCESS_KEY", "")
	t.Setenv("AIS_S3_SECRET_KEY", "")
	if err := c.keepS3Key(dir); err != nil {
		t.Fatal(err)
	}
	env, err := c.s3KeyEnvironment()
	if err != nil || !slices.Equal(env, []string{"AIS_S3_ACCESS_KEY=AKIDLOCAL", "AIS_S3_SECRET_KEY=the secret"}) {
		t.Fatalf("the nodes' key: %q %v", env, err)
	}
	// One of the two alone is a mistake, not "no key" (the nodes would
	// serve S3 unsigned).
	t.Setenv("AIS_S3_ACCESS_KEY", "AKIDOTHER")
	if err := c.keepS3Key(dir); err == nil || !strings.Contains(err.Error(), "go together") {
		t.Fatalf("an access key without its secret: %v", err)
	}
	// Another key while a node runs with the saved one: refused, the
	// gateways would check two keys.
	t.Setenv("AIS_S3_SECRET_KEY", "another secret")
	nodeDir := t.TempDir()
	c.Nodes = []localNode{{Name: "g1", PID: runningNode(t, nodeDir), Dir: nodeDir}}
	if err := c.keepS3Key(dir); err == nil || !strings.Contains(err.Error(), "g1") {
		t.Fatalf("another key while g1 runs: %v", err)
	}
	if env, _ := c.s3KeyEnvironment(); !slices.Equal(env, []string{"AIS_S3_ACCESS_KEY=AKIDLOCAL", "AIS_S3_SECRET_KEY=the secret"}) {
		t.Fatalf("the saved key after a refused change: %q", env)
	}
}
