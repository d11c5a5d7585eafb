package netlab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNotRoot: namespaces need root.
var ErrNotRoot = errors.New("netlab: network namespaces need root (ip netns)")

// Lab is the switch namespace and the hosts on its bridge.
type Lab struct {
	// Subnet is the lab's /24, e.g. "10.213.7"; the switch is .1.
	Subnet string
	id     string
	sw     string
	hosts  []*Host
}

// Host is one host: a namespace with an address on the bridge.
type Host struct {
	Name, NS, IP string
	link         string // the veth's end on the switch
	lab          *Lab
}

// New makes the switch namespace and its bridge.
func New() (*Lab, error) {
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("netlab: iproute2's ip: %w", err)
	}
	var b [3]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	l := &Lab{id: id, Subnet: fmt.Sprintf("10.213.%d", b[0]), sw: "aisw-" + id}
	if err := ip("netns", "add", l.sw); err != nil {
		return nil, err
	}
	for _, args := range [][]string{
		{"-n", l.sw, "link", "set", "lo", "up"},
		{"-n", l.sw, "link", "add", "br0", "type", "bridge"},
		{"-n", l.sw, "addr", "add", l.Subnet + ".1/24", "dev", "br0"},
		{"-n", l.sw, "link", "set", "br0", "up"},
	} {
		if err := ip(args...); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

func ip(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("netlab: ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Close removes the hosts' namespaces and the switch's.
func (l *Lab) Close() {
	for _, h := range l.hosts {
		exec.Command("ip", "netns", "del", h.NS).Run()
	}
	exec.Command("ip", "netns", "del", l.sw).Run()
}

// AddHost makes a host with the next address of the subnet (from .10).
func (l *Lab) AddHost(name string) (*Host, error) {
	n := len(l.hosts) + 10
	h := &Host{Name: name, NS: "ais" + name + "-" + l.id, IP: fmt.Sprintf("%s.%d", l.Subnet, n), link: "v" + name + l.id, lab: l}
	if len(h.link) > 15 {
		return nil, fmt.Errorf("netlab: host name %q is too long for an interface name", name)
	}
	if err := ip("netns", "add", h.NS); err != nil {
		return nil, err
	}
	l.hosts = append(l.hosts, h)
	for _, args := range [][]string{
		{"-n", h.NS, "link", "set", "lo", "up"},
		{"-n", l.sw, "link", "add", h.link, "type", "veth", "peer", "name", "eth0", "netns", h.NS},
		{"-n", l.sw, "link", "set", h.link, "master", "br0", "up"},
		{"-n", h.NS, "addr", "add", h.IP + "/24", "dev", "eth0"},
		{"-n", h.NS, "link", "set", "eth0", "up"},
	} {
		if err := ip(args...); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Command runs a program in the host's namespace.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// SwitchCommand runs a program in the switch namespace, as a client.
func (l *Lab) SwitchCommand(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", l.sw, name}, args...)...)
}

// Cut takes the host's link down: nothing reaches it, nothing leaves it.
func (h *Host) Cut() error { return ip("-n", h.lab.sw, "link", "set", h.link, "down") }

// Heal brings the link back.
func (h *Host) Heal() error { return ip("-n", h.lab.sw, "link", "set", h.link, "up") }

// Partition cuts the host off from others, both ways (blackhole routes);
// clients in the switch still reach every host.
func (h *Host) Partition(from ...*Host) error {
	for _, o := range from {
		if err := ip("-n", h.NS, "route", "add", "blackhole", o.IP+"/32"); err != nil {
			return err
		}
		if err := ip("-n", o.NS, "route", "add", "blackhole", h.IP+"/32"); err != nil {
			return err
		}
	}
	return nil
}

// Rejoin removes a partition's routes.
func (h *Host) Rejoin(from ...*Host) error {
	for _, o := range from {
		if err := ip("-n", h.NS, "route", "del", "blackhole", o.IP+"/32"); err != nil {
			return err
		}
		if err := ip("-n", o.NS, "route", "del", "blackhole", h.IP+"/32"); err != nil {
			return err
		}
	}
	return nil
}

// Dial connects from the switch namespace: the socket is made on a thread
// moved into that namespace for the call.
func (l *Lab) Dial(ctx context.Context, network, address string) (net.Conn, error) {
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
		return nil, fmt.Errorf("netlab: enter the switch namespace: %w", err)
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, network, address)
	if restore := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); restore != nil {
		// The thread stays in the other namespace: it must run nothing
		// else, so it ends with this goroutine (no UnlockOSThread).
		return conn, err
	}
	runtime.UnlockOSThread()
	return conn, err
}
