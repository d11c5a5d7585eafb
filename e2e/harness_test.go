//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/gateway/peer"
)

// binDir holds aisnode, ais and aisloader, built once by TestMain.
var binDir string

// testSecret is the cluster secret of the nodes startNode runs.
var testSecret = peer.NewSecret()

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aisgo-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-o", dir+"/", "../cmd/aisnode", "../cmd/ais", "../cmd/aisloader")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build binaries:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	// Outside the ephemeral range, as freePortRange: an outgoing
	// connection made before the node binds it cannot take it.
	return freePortRange(t, 1)
}

// process is a running aisnode.
type process struct {
	cmd  *exec.Cmd
	url  string
	log  *bytes.Buffer
	args []string
	t    testing.TB
	// under, when set, runs aisnode under this command (nohup).
	under []string
}

// startNode runs aisnode with args plus -host 127.0.0.1 -port PORT and
// waits until it is healthy. It is killed at the end of the test.
func startNode(t testing.TB, args ...string) *process {
	t.Helper()
	port := freePort(t)
	full := append([]string{"-host", "127.0.0.1", "-port", strconv.Itoa(port)}, args...)
	p := &process{url: fmt.Sprintf("http://127.0.0.1:%d", port), args: full, t: t}
	p.start()
	return p
}

func (p *process) start() {
	p.t.Helper()
	p.log = new(bytes.Buffer)
	p.cmd = exec.Command(filepath.Join(binDir, "aisnode"), p.args...)
	if len(p.under) > 0 {
		p.cmd = exec.Command(p.under[0], append(append(p.under[1:], filepath.Join(binDir, "aisnode")), p.args...)...)
	}
	p.cmd.Env = append(os.Environ(), "AIS_CLUSTER_SECRET="+testSecret.String())
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { p.kill() })
	c := api.NewClient(p.url)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Health(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("aisnode %v not healthy: %v\n%s", p.args, err, p.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits.
func (p *process) kill() {
	if p.cmd.Process != nil && p.cmd.ProcessState == nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	}
}

// restart starts the same node again, with the same flags and data.
func (p *process) restart() { p.start() }

func (p *process) client() *api.Client { return api.NewClient(p.url) }

// ais runs the CLI against an endpoint and returns its stdout; a failure
// fails the test with stderr.
func ais(t testing.TB, endpoint string, args ...string) string {
	t.Helper()
	out, errOut, err := aisResult(endpoint, args...)
	if err != nil {
		t.Fatalf("ais %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// aisResult runs the CLI and returns stdout, stderr and the exit error.
func aisResult(endpoint string, args ...string) (string, string, error) {
	cmd := exec.Command(filepath.Join(binDir, "ais"), args...)
	cmd.Env = append(os.Environ(), "AIS_ENDPOINT="+endpoint)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}
