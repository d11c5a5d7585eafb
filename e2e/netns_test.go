//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
)

// netLab is a network of "hosts" made of network namespaces: each host a
// namespace with its own address on a bridge that lives in a switch
// namespace, which is also where the test's clients connect from. Nothing
// of it touches the machine's own network; everything goes at cleanup,
// also when the test fails.
type netLab struct {
	t      *testing.T
	id     string // a few hex digits in every name
	subnet string // "10.213.N"
	sw     string // the switch namespace
	dir    string
	secret string
	hosts  []*labHost
	mu     sync.Mutex
}

// labHost is one host of the lab and the aisnode it runs.
type labHost struct {
	lab      *netLab
	name, ns string
	ip       string
	port     int // the port on the switch side of the veth
	swLink   string
	role     string
	dir      string
	args     []string
	cmd      *exec.Cmd
	exited   chan struct{}
}

// newNetLab creates the switch namespace, or skips the test without root:
// namespaces need it (CI has it).
func newNetLab(t *testing.T) *netLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespace tests need root (ip netns); run them as root, as CI does")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("network namespace tests need iproute2's ip")
	}
	var b [3]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	lab := &netLab{t: t, id: id, subnet: fmt.Sprintf("10.213.%d", b[0]), sw: "aisw-" + id, dir: t.TempDir()}
	lab.secret = filepath.Join(lab.dir, "cluster-secret")
	if err := os.WriteFile(lab.secret, []byte(testSecret.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lab.close)
	lab.ip("netns", "add", lab.sw)
	lab.ip("-n", lab.sw, "link", "set", "lo", "up")
	lab.ip("-n", lab.sw, "link", "add", "br0", "type", "bridge")
	lab.ip("-n", lab.sw, "addr", "add", lab.subnet+".1/24", "dev", "br0")
	lab.ip("-n", lab.sw, "link", "set", "br0", "up")
	return lab
}

// ip runs iproute2's ip; a failure fails the test.
func (l *netLab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// close stops every node and removes the namespaces (and with them the
// veths and the bridge).
func (l *netLab) close() {
	for _, h := range l.hosts {
		h.kill()
	}
	for _, h := range l.hosts {
		exec.Command("ip", "netns", "del", h.ns).Run()
	}
	exec.Command("ip", "netns", "del", l.sw).Run()
	if l.t.Failed() {
		for _, h := range l.hosts {
			data, _ := os.ReadFile(filepath.Join(h.dir, "node.log"))
			if len(data) > 3000 {
				data = data[len(data)-3000:]
			}
			l.t.Logf("%s (%s) log:\n%s", h.name, h.ip, data)
		}
	}
}

// addHost makes a host: its namespace, a veth to the bridge, an address.
func (l *netLab) addHost(name string) *labHost {
	l.t.Helper()
	n := len(l.hosts) + 10
	h := &labHost{lab: l, name: name, ns: "ais" + name + "-" + l.id, ip: fmt.Sprintf("%s.%d", l.subnet, n),
		swLink: fmt.Sprintf("v%s%s", name, l.id), dir: filepath.Join(l.dir, name)}
	l.hosts = append(l.hosts, h)
	l.ip("netns", "add", h.ns)
	l.ip("-n", h.ns, "link", "set", "lo", "up")
	l.ip("-n", l.sw, "link", "add", h.swLink, "type", "veth", "peer", "name", "eth0", "netns", h.ns)
	l.ip("-n", l.sw, "link", "set", h.swLink, "master", "br0", "up")
	l.ip("-n", h.ns, "addr", "add", h.ip+"/24", "dev", "eth0")
	l.ip("-n", h.ns, "link", "set", "eth0", "up")
	return h
}

// url is the node's URL: its own address, port 8080 on every host.
func (h *labHost) url() string { return "http://" + net.JoinHostPort(h.ip, "8080") }

// start runs aisnode in the host's namespace, bound to its address.
func (h *labHost) start(role, join string, extra ...string) {
	h.lab.t.Helper()
	h.role = role
	h.args = append([]string{"netns", "exec", h.ns, filepath.Join(binDir, "aisnode"), "-role", role, "-id", h.name,
		"-host", h.ip, "-port", "8080", "-data", h.dir, "-secret-file", h.lab.secret, "-no-sync",
		"-keepalive", "500ms", "-keepalive-timeout", "3s"}, extra...)
	if join != "" {
		h.args = append(h.args, "-join", join)
	}
	h.run()
}

func (h *labHost) run() {
	h.lab.t.Helper()
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		h.lab.t.Fatal(err)
	}
	log, err := os.OpenFile(filepath.Join(h.dir, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		h.lab.t.Fatal(err)
	}
	h.cmd = exec.Command("ip", h.args...)
	h.cmd.Stdout, h.cmd.Stderr = log, log
	if err := h.cmd.Start(); err != nil {
		h.lab.t.Fatal(err)
	}
	log.Close()
	exited := make(chan struct{})
	h.exited = exited
	go func(cmd *exec.Cmd) { cmd.Wait(); close(exited) }(h.cmd)
}

func (h *labHost) kill() {
	if h.cmd != nil && h.cmd.Process != nil {
		h.cmd.Process.Kill()
		<-h.exited
		h.cmd = nil
	}
}

// cut takes the host's link down: nothing reaches it, nothing leaves it.
func (h *labHost) cut() { h.lab.ip("-n", h.lab.sw, "link", "set", h.swLink, "down") }

// heal brings the link back.
func (h *labHost) heal() { h.lab.ip("-n", h.lab.sw, "link", "set", h.swLink, "up") }

// partition cuts the host off from the given hosts, both ways, by
// blackhole routes; the test's clients still reach every host.
func (h *labHost) partition(from ...*labHost) {
	for _, o := range from {
		h.lab.ip("-n", h.ns, "route", "add", "blackhole", o.ip+"/32")
		h.lab.ip("-n", o.ns, "route", "add", "blackhole", h.ip+"/32")
	}
}

// rejoin removes the partition's routes.
func (h *labHost) rejoin(from ...*labHost) {
	for _, o := range from {
		h.lab.ip("-n", h.ns, "route", "del", "blackhole", o.ip+"/32")
		h.lab.ip("-n", o.ns, "route", "del", "blackhole", h.ip+"/32")
	}
}

// dial connects from the switch namespace, where the clients are: the
// socket is made on a thread moved into that namespace for the call.
func (l *netLab) dial(ctx context.Context, network, address string) (net.Conn, error) {
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer self.Close()
	target, err := os.Open("/var/run/netns/" + l.sw)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("enter the switch namespace: %w", err)
	}
	conn, err := (&net.Dialer{Timeout: 3 * time.Second}).DialContext(ctx, network, address)
	if restore := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); restore != nil {
		// The thread stays in the other namespace: it must not run other
		// goroutines, so it ends with this one (no UnlockOSThread).
		return conn, err
	}
	runtime.UnlockOSThread()
	return conn, err
}

// client returns an API client that reaches the cluster from the switch.
func (l *netLab) client(endpoint string) *api.Client {
	transport := api.NewTransport()
	transport.DialContext = l.dial
	return api.NewClientWith(endpoint, &http.Client{Transport: transport})
}

// ais runs the CLI in the switch namespace.
func (l *netLab) ais(endpoint string, args ...string) string {
	l.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.sw, filepath.Join(binDir, "ais")}, args...)...)
	cmd.Env = append(os.Environ(), "AIS_ENDPOINT="+endpoint)
	out, err := cmd.CombinedOutput()
	if err != nil {
		l.t.Fatalf("ais %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// startCluster starts gateways and targets, each on its own host, and
// waits for the map to hold them all.
func (l *netLab) startCluster(gateways, targets int) (gws, tgts []*labHost) {
	l.t.Helper()
	for i := range gateways {
		gws = append(gws, l.addHost(fmt.Sprintf("g%d", i+1)))
	}
	for i := range targets {
		tgts = append(tgts, l.addHost(fmt.Sprintf("t%d", i+1)))
	}
	gws[0].start("gateway", "")
	l.waitMap(gws[0].url(), 1)
	for _, g := range gws[1:] {
		g.start("gateway", gws[0].url())
	}
	for _, t := range tgts {
		t.start("target", gws[0].url())
	}
	m := l.waitMap(gws[0].url(), gateways+targets)
	for _, n := range m.Nodes {
		if strings.Contains(n.URL, "127.0.0.1") || !strings.HasPrefix(n.URL, "http://"+l.subnet+".") {
			l.t.Fatalf("node %s advertises %s, not its own host's address", n.ID, n.URL)
		}
	}
	return gws, tgts
}

// waitMap waits until the gateway's map has n nodes.
func (l *netLab) waitMap(endpoint string, n int) *cluster.Map {
	l.t.Helper()
	client := l.client(endpoint)
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, err := client.Map(l.t.Context())
		if err == nil && len(m.Nodes) == n {
			return m
		}
		for _, h := range l.hosts {
			select {
			case <-h.exited:
				l.t.Fatalf("aisnode %s exited", h.name)
			default:
			}
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("the map of %s does not have %d nodes after 30s: %v %v", endpoint, n, m, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
