//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/internal/netlab"
)

// netLab is a network of hosts made of network namespaces
// (internal/netlab), with an aisnode on each host; the test's clients
// connect from the switch namespace. Everything goes at cleanup, also when
// the test fails.
type netLab struct {
	*netlab.Lab
	t      *testing.T
	dir    string
	secret string
	hosts  []*labHost
}

// labHost is one host of the lab and the aisnode it runs.
type labHost struct {
	*netlab.Host
	lab    *netLab
	name   string
	dir    string
	args   []string
	cmd    *exec.Cmd
	exited chan struct{}
}

// newNetLab creates the lab, or skips the test without root: namespaces
// need it (CI has it).
func newNetLab(t *testing.T) *netLab {
	t.Helper()
	lab, err := netlab.New()
	if errors.Is(err, netlab.ErrNotRoot) {
		t.Skip("network namespace tests need root (ip netns); run them as root, as CI does")
	}
	if err != nil {
		t.Fatal(err)
	}
	l := &netLab{Lab: lab, t: t, dir: t.TempDir()}
	l.secret = filepath.Join(l.dir, "cluster-secret")
	t.Cleanup(l.close)
	if err := os.WriteFile(l.secret, []byte(testSecret.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return l
}

// close stops every node, then removes the namespaces.
func (l *netLab) close() {
	for _, h := range l.hosts {
		h.kill()
	}
	l.Lab.Close()
	if l.t.Failed() {
		for _, h := range l.hosts {
			data, _ := os.ReadFile(filepath.Join(h.dir, "node.log"))
			if len(data) > 3000 {
				data = data[len(data)-3000:]
			}
			l.t.Logf("%s (%s) log:\n%s", h.name, h.IP, data)
		}
	}
}

// addHost makes a host.
func (l *netLab) addHost(name string) *labHost {
	l.t.Helper()
	host, err := l.AddHost(name)
	if err != nil {
		l.t.Fatal(err)
	}
	h := &labHost{Host: host, lab: l, name: name, dir: filepath.Join(l.dir, name)}
	l.hosts = append(l.hosts, h)
	return h
}

// url is the node's URL: its own address, port 8080 on every host.
func (h *labHost) url() string { return "http://" + net.JoinHostPort(h.IP, "8080") }

// start runs aisnode in the host's namespace, bound to its address.
func (h *labHost) start(role, join string, extra ...string) {
	h.lab.t.Helper()
	h.args = append([]string{"-role", role, "-id", h.name,
		"-host", h.IP, "-port", "8080", "-data", h.dir, "-secret-file", h.lab.secret, "-no-sync",
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
	h.cmd = h.Command(filepath.Join(binDir, "aisnode"), h.args...)
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

// cut takes the host's link down.
func (h *labHost) cut() {
	if err := h.Cut(); err != nil {
		h.lab.t.Fatal(err)
	}
}

// heal brings the link back.
func (h *labHost) heal() {
	if err := h.Heal(); err != nil {
		h.lab.t.Fatal(err)
	}
}

// partition cuts the host off from others, both ways.
func (h *labHost) partition(from ...*labHost) {
	if err := h.Partition(hostsOf(from)...); err != nil {
		h.lab.t.Fatal(err)
	}
}

// rejoin ends a partition.
func (h *labHost) rejoin(from ...*labHost) {
	if err := h.Rejoin(hostsOf(from)...); err != nil {
		h.lab.t.Fatal(err)
	}
}

func hostsOf(hosts []*labHost) []*netlab.Host {
	out := make([]*netlab.Host, len(hosts))
	for i, h := range hosts {
		out[i] = h.Host
	}
	return out
}

// client returns an API client that reaches the cluster from the switch.
func (l *netLab) client(endpoint string) *api.Client {
	transport := api.NewTransport()
	transport.DialContext = l.Dial
	return api.NewClientWith(endpoint, &http.Client{Transport: transport})
}

// ais runs the CLI in the switch namespace.
func (l *netLab) ais(endpoint string, args ...string) string {
	l.t.Helper()
	cmd := l.SwitchCommand(filepath.Join(binDir, "ais"), args...)
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
		if strings.Contains(n.URL, "127.0.0.1") || !strings.HasPrefix(n.URL, "http://"+l.Subnet+".") {
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
