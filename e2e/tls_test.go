//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	"github.com/aisgo/aisgo/internal/selfsigned"
)

// A cluster of 1 gateway and 2 targets started by `ais cluster start
// --tls-cert --tls-key` serves HTTPS only: the Go client with the
// certificate as its CA and the CLI with --skip-verify read and write
// (routed, redirected, listed), the CLI without either fails with a
// certificate error, plain HTTP is refused, and a third target joins and
// takes its objects over TLS.
func TestTLS(t *testing.T) {
	cert, key, err := selfsigned.Write(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	port := freePortRange(t, 5)
	endpoint := fmt.Sprintf("https://127.0.0.1:%d", port)
	t.Cleanup(func() {
		aisResult(endpoint, "cluster", "stop", "--dir", dir)
		if t.Failed() {
			logs, _ := filepath.Glob(filepath.Join(dir, "*", "node.log"))
			for _, path := range logs {
				data, _ := os.ReadFile(path)
				t.Logf("%s:\n%s", path, data[max(0, len(data)-3000):])
			}
		}
	})
	out := ais(t, endpoint, "cluster", "start", "--gateways", "1", "--targets", "2", "--dir", dir, "--port", strconv.Itoa(port),
		"--no-sync", "--aisnode", filepath.Join(binDir, "aisnode"), "--tls-cert", cert, "--tls-key", key)
	if !strings.Contains(out, "endpoint: "+endpoint) || !strings.Contains(out, api.EnvClientCA+"="+cert) {
		t.Fatalf("cluster start printed:\n%s", out)
	}

	config, err := api.TLSConfig{CAFile: cert}.Config()
	if err != nil {
		t.Fatal(err)
	}
	client := api.NewClientWith(endpoint, &http.Client{Transport: api.NewTransportTLS(config)})
	ctx := t.Context()
	m, err := client.Map(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range m.Nodes {
		if !strings.HasPrefix(n.URL, "https://") {
			t.Fatalf("node %s advertises %s", n.ID, n.URL)
		}
	}
	if err := client.CreateBucket(ctx, "tls", nil); err != nil {
		t.Fatal(err)
	}
	// PUTs routed to the owner targets; GETs through the gateway's
	// redirects.
	const objects = 40
	body := func(i int) string { return strings.Repeat(fmt.Sprintf("object %d;", i), 100) }
	for i := range objects {
		data := body(i)
		if _, err := client.Put(ctx, "tls", fmt.Sprintf("o%02d", i), strings.NewReader(data), api.PutOptions{Size: int64(len(data))}); err != nil {
			t.Fatalf("PUT o%02d: %v", i, err)
		}
	}
	readAll := func(c *api.Client, how string) {
		t.Helper()
		for i := range objects {
			r, _, err := c.Get(ctx, "tls", fmt.Sprintf("o%02d", i), api.GetOptions{})
			if err != nil {
				t.Fatalf("%s: GET o%02d: %v", how, i, err)
			}
			data, err := io.ReadAll(r)
			r.Close()
			if err != nil || string(data) != body(i) {
				t.Fatalf("%s: GET o%02d: %d bytes, %v", how, i, len(data), err)
			}
		}
	}
	redirected := api.NewClientWith(endpoint, &http.Client{Transport: api.NewTransportTLS(config)}).UseRedirects()
	readAll(redirected, "redirected")
	page, err := client.ListObjects(ctx, "tls", api.ListObjectsMessage{})
	if err != nil || len(page.Entries) != objects {
		t.Fatalf("list: %d entries, %v", len(page.Entries), err)
	}

	// The CLI: --skip-verify, the CA from the environment, neither.
	file := filepath.Join(t.TempDir(), "cli.txt")
	os.WriteFile(file, []byte("through the CLI"), 0o644)
	ais(t, endpoint, "--skip-verify", "put", file, "ais://tls/cli.txt")
	if got := ais(t, endpoint, "get", "--skip-verify", "ais://tls/cli.txt", "-"); got != "through the CLI" {
		t.Fatalf("ais get: %q", got)
	}
	if got := ais(t, endpoint, "ls", "ais://tls", "--skip-verify"); !strings.Contains(got, "cli.txt") || !strings.Contains(got, "o39") {
		t.Fatalf("ais ls:\n%s", got)
	}
	if got, errOut, err := aisEnv([]string{api.EnvClientCA + "=" + cert}, endpoint, "ls", "ais://tls"); err != nil || !strings.Contains(got, "cli.txt") {
		t.Fatalf("ais ls with %s: %v\n%s%s", api.EnvClientCA, err, got, errOut)
	}
	if got, errOut, err := aisEnv([]string{api.EnvSkipVerify + "=true"}, endpoint, "ls", "ais://tls"); err != nil || !strings.Contains(got, "cli.txt") {
		t.Fatalf("ais ls with %s: %v\n%s%s", api.EnvSkipVerify, err, got, errOut)
	}
	_, errOut, err := aisResult(endpoint, "ls", "ais://tls")
	if err == nil || !strings.Contains(errOut, "certificate") || !strings.Contains(errOut, "--skip-verify") {
		t.Fatalf("ais without --skip-verify: %v\n%s", err, errOut)
	}

	// Plain HTTP to the HTTPS port is refused.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/v1/health", port))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP was served")
		}
	}

	// A third target joins over TLS; the rebalance moves its objects to it.
	ais(t, endpoint, "cluster", "add-target", "--dir", dir, "--aisnode", filepath.Join(binDir, "aisnode"))
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, err := client.Map(ctx)
		var s *api.ClusterStatus
		if err == nil && len(m.Nodes) == 4 {
			s, err = client.ClusterStatus(ctx)
			if err == nil && gatewaytest.Rebalanced(s, m.Version) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rebalance onto t3 did not finish: %+v %v", s, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	moved, _ := filepath.Glob(filepath.Join(dir, "t3", "mp1", "ais", "tls", "o*"))
	if len(moved) == 0 {
		t.Fatal("no object moved to the new target")
	}
	readAll(client, "routed after the rebalance")
	readAll(redirected, "redirected after the rebalance")
}

// aisEnv runs the CLI with more environment variables.
func aisEnv(env []string, endpoint string, args ...string) (string, string, error) {
	cmd := exec.Command(filepath.Join(binDir, "ais"), args...)
	cmd.Env = append(append(os.Environ(), "AIS_ENDPOINT="+endpoint), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}
