//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/benchmarks"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
)

// localCluster is a gateway and three targets, each its own aisnode
// process on loopback.
type localCluster struct {
	gateway *process
	nodes   []*process
}

func startLocalCluster(t *testing.T, targets int) *localCluster {
	t.Helper()
	gw := startNode(t, "-role", "gateway", "-id", "g1", "-data", t.TempDir(), "-no-sync")
	c := &localCluster{gateway: gw, nodes: []*process{gw}}
	for i := range targets {
		c.nodes = append(c.nodes, startNode(t, "-role", "target", "-id", fmt.Sprintf("t%d", i+1),
			"-data", t.TempDir(), "-join", gw.url, "-no-sync"))
	}
	client := gw.client()
	deadline := time.Now().Add(20 * time.Second)
	for {
		m, err := client.Map(t.Context())
		if err == nil && len(m.Nodes) == targets+1 {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster map did not reach %d nodes: %v %v", targets+1, m, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metric sums a metric over the /metrics of every node.
func (c *localCluster) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	var sum float64
	for _, p := range c.nodes {
		sum += gatewaytest.Scrape(t, p.url).Value(name, labels...)
	}
	return sum
}

// aisloader runs the load generator and returns its exit status, stdout
// and stderr.
func aisloader(t *testing.T, endpoint string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "aisloader"), args...)
	cmd.Env = append(os.Environ(), "AIS_ENDPOINT="+endpoint)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if exit, ok := errors.AsType[*exec.ExitError](err); ok {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// load runs aisloader, which must succeed, and returns its JSON report.
func load(t *testing.T, endpoint string, args ...string) *benchmarks.LoadReport {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.json")
	code, stdout, stderr := aisloader(t, endpoint, append(args, "-json-out", path)...)
	if code != 0 {
		t.Fatalf("aisloader %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r benchmarks.LoadReport
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// A bounded aisloader run against real processes: its counts are the
// ones the nodes report on /metrics, and -cleanup empties its bucket.
func TestAisloaderCountsMatchNodeMetrics(t *testing.T) {
	c := startLocalCluster(t, 3)
	client := c.gateway.client()
	for _, b := range []string{"load", "scratch"} {
		if err := client.CreateBucket(t.Context(), b, nil); err != nil {
			t.Fatal(err)
		}
	}
	common := []string{"-numworkers", "4", "-minsize", "1KiB", "-maxsize", "16KiB", "-statsinterval", "0"}

	put := load(t, c.gateway.url, append(common, "-bucket", "ais://load", "-pctput", "100", "-numops", "120", "-seed", "1")...)
	if put.Put.Ops != 120 || put.Errors() != 0 || put.StopReason != "operations" {
		t.Fatalf("PUT run: %d PUTs, %d errors, stopped by %s", put.Put.Ops, put.Errors(), put.StopReason)
	}
	get := load(t, c.gateway.url, append(common, "-bucket", "ais://load", "-pctput", "0", "-numops", "200", "-readseq")...)
	if get.Get.Ops != 200 || get.Errors() != 0 {
		t.Fatalf("GET run: %d GETs, %d errors", get.Get.Ops, get.Errors())
	}
	mixed := load(t, c.gateway.url, append(common, "-bucket", "ais://scratch", "-pctput", "50", "-numops", "80", "-cleanup", "-randomname=false")...)
	if mixed.Put.Ops == 0 || mixed.Put.Ops+mixed.Get.Ops != 80 || mixed.Delete.Ops != mixed.Put.Ops || mixed.Errors() != 0 {
		t.Fatalf("mixed run: %d PUTs, %d GETs, %d deleted, %d errors", mixed.Put.Ops, mixed.Get.Ops, mixed.Delete.Ops, mixed.Errors())
	}

	for _, w := range []struct {
		name string
		want int64
	}{
		{"ais_put_total", put.Put.Ops + mixed.Put.Ops},
		{"ais_put_bytes_total", put.Put.Bytes + mixed.Put.Bytes},
		{"ais_get_total", get.Get.Ops + mixed.Get.Ops},
		{"ais_get_bytes_total", get.Get.Bytes + mixed.Get.Bytes},
		{"ais_delete_total", mixed.Delete.Ops},
	} {
		if got := c.metric(t, w.name); got != float64(w.want) {
			t.Errorf("%s: the nodes say %v, the reports %d", w.name, got, w.want)
		}
	}
	// Targets serve the data: the client routes by the cluster map, and
	// the gateway serves none of it (at most a redirect while the client
	// fetches the map).
	gw := gatewaytest.Scrape(t, c.gateway.url)
	if gw.Value("ais_put_total") != 0 || gw.Value("ais_get_total") != 0 || gw.Value("ais_redirects_total", "op", "put") > float64(put.Put.Ops+mixed.Put.Ops) {
		t.Errorf("gateway: %v PUTs, %v GETs, %v PUT redirects", gw.Value("ais_put_total"), gw.Value("ais_get_total"), gw.Value("ais_redirects_total", "op", "put"))
	}
	page, err := client.ListObjects(t.Context(), "scratch", api.ListObjectsMessage{})
	if err != nil || len(page.Entries) != 0 {
		t.Fatalf("after -cleanup, ais://scratch lists %d objects, %v", len(page.Entries), err)
	}
	// A run with -cleanup over an earlier run's sequential names writes
	// new ones and deletes those alone; with -json, stdout is JSON only.
	load(t, c.gateway.url, append(common, "-bucket", "ais://scratch", "-pctput", "100", "-numops", "10", "-randomname=false")...)
	code, stdout, stderr := aisloader(t, c.gateway.url, append(common, "-bucket", "ais://scratch", "-pctput", "100", "-numops", "10", "-randomname=false", "-cleanup", "-json")...)
	if code != 0 || !json.Valid([]byte(stdout)) {
		t.Fatalf("aisloader -json: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if page, err = client.ListObjects(t.Context(), "scratch", api.ListObjectsMessage{}); err != nil || len(page.Entries) != 10 {
		t.Fatalf("after a second run's -cleanup, ais://scratch lists %d objects (the first run's 10 kept?), %v", len(page.Entries), err)
	}
	page, err = client.ListObjects(t.Context(), "load", api.ListObjectsMessage{})
	if err != nil || len(page.Entries) != 120 {
		t.Fatalf("ais://load lists %d objects, %v", len(page.Entries), err)
	}
}

// Bad flags and an unknown bucket give one clear line and a failure
// status; no request reaches a node for a flag error.
func TestAisloaderBadFlags(t *testing.T) {
	node := startNode(t, "-data", t.TempDir(), "-no-sync")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown bucket", []string{"-bucket", "ais://nosuch", "-numops", "5"}, 1, "bucket ais://nosuch: store: bucket does not exist"},
		{"negative size", []string{"-bucket", "ais://b", "-minsize", "-4KiB", "-numops", "5"}, 2, "a size cannot be negative"},
		{"min above max", []string{"-bucket", "ais://b", "-pctput", "100", "-minsize", "8KiB", "-maxsize", "1KiB", "-numops", "5"}, 2, "-minsize 8KiB is larger than -maxsize 1KiB"},
		{"no stop condition", []string{"-bucket", "ais://b", "-pctput", "100"}, 2, "no stop condition"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := aisloader(t, node.url, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Fatalf("exit %d, stderr %q; want exit %d and one line with %q", code, stderr, tc.code, tc.want)
			}
		})
	}
	if got := gatewaytest.Scrape(t, node.url).Value("ais_put_total"); got != 0 {
		t.Fatalf("refused runs put %v objects", got)
	}
}

// prometheus is a Prometheus server scraping the nodes every second.
type prometheus struct {
	cmd *exec.Cmd
	url string
	log *bytes.Buffer
}

func startPrometheus(t *testing.T, nodes []*process) *prometheus {
	t.Helper()
	binary, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("prometheus is not installed (.ci/run installs Debian's prometheus package)")
		}
		t.Skip("prometheus is not installed: apt-get install prometheus")
	}
	var targets []string
	for _, n := range nodes {
		targets = append(targets, strconv.Quote(strings.TrimPrefix(n.url, "http://")))
	}
	dir := t.TempDir()
	config := fmt.Sprintf("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: aisgo\n    static_configs:\n      - targets: [%s]\n",
		strings.Join(targets, ", "))
	configPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &prometheus{url: fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), log: new(bytes.Buffer)}
	p.cmd = exec.Command(binary, "--config.file="+configPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+strings.TrimPrefix(p.url, "http://"), "--log.level=warn")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	})
	return p
}

// query asks an instant PromQL query whose answer is one number.
func (p *prometheus) query(ctx context.Context, expr string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/api/v1/query?query="+url.QueryEscape(expr), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var answer struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return 0, err
	}
	if answer.Status != "success" {
		return 0, fmt.Errorf("%s: %s", expr, answer.Error)
	}
	if len(answer.Data.Result) != 1 {
		return 0, fmt.Errorf("%s: %d series", expr, len(answer.Data.Result))
	}
	text, _ := answer.Data.Result[0].Value[1].(string)
	return strconv.ParseFloat(text, 64)
}

// A Debian Prometheus server scrapes every node; PromQL over the scraped
// series gives the totals the load generator reports.
func TestPrometheusScrapesEveryNode(t *testing.T) {
	c := startLocalCluster(t, 3)
	prom := startPrometheus(t, c.nodes)
	client := c.gateway.client()
	if err := client.CreateBucket(t.Context(), "prom", nil); err != nil {
		t.Fatal(err)
	}
	common := []string{"-bucket", "ais://prom", "-numworkers", "3", "-minsize", "2KiB", "-maxsize", "8KiB", "-statsinterval", "0"}
	put := load(t, c.gateway.url, append(common, "-pctput", "100", "-numops", "90")...)
	get := load(t, c.gateway.url, append(common, "-pctput", "0", "-numops", "60")...)
	if put.Errors()+get.Errors() != 0 {
		t.Fatalf("errors: %d PUT, %d GET", put.Errors(), get.Errors())
	}

	want := []struct {
		expr  string
		value float64
	}{
		{`count(up{job="aisgo"} == 1)`, 4},
		{`sum(ais_put_total)`, float64(put.Put.Ops)},
		{`sum(ais_put_bytes_total)`, float64(put.Put.Bytes)},
		{`sum(ais_get_total)`, float64(get.Get.Ops)},
		{`sum(ais_get_bytes_total)`, float64(get.Get.Bytes)},
		{`sum(ais_request_duration_seconds_count{op="get"})`, float64(get.Get.Ops)},
		{`count(ais_node_info)`, 4},
		{`count(ais_mountpath_capacity_bytes > 0)`, 3},
		// The dashboard's capacity: each target's filesystem once.
		{`sum(max by (instance, filesystem) (ais_mountpath_capacity_bytes)) / max(ais_mountpath_capacity_bytes)`, 3},
		{`count(ais_cluster_map_version == scalar(max(ais_cluster_map_version)))`, 4},
	}
	// Scrapes come every second; wait until they have seen the end of
	// the load (the bound only limits a failing run).
	deadline := time.Now().Add(60 * time.Second)
	for {
		var mismatches []string
		for _, w := range want {
			got, err := prom.query(t.Context(), w.expr)
			if err != nil || got != w.value {
				mismatches = append(mismatches, fmt.Sprintf("%s = %v (%v), want %v", w.expr, got, err, w.value))
			}
		}
		if len(mismatches) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus answers:\n%s\nprometheus log:\n%s", strings.Join(mismatches, "\n"), prom.log)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
