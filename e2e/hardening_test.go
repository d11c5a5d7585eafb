//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/tinylib/msgp/msgp"
)

// signedClient acts as a node that holds the cluster secret.
func signedClient(secret peer.Secret, id string) *http.Client {
	return &http.Client{Transport: peer.NewAuth(secret, peer.Options{}).Transport(id, http.DefaultTransport)}
}

// attack sends one request and returns the status.
func attack(t *testing.T, client *http.Client, method, url string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestAttacksOnRealNodes replays, against real aisnode processes, the
// forged requests that once wiped a cluster: every one is refused, the
// data stays, and directories outside the data directory survive.
func TestAttacksOnRealNodes(t *testing.T) {
	c := startCLICluster(t, 1, 3, "-keepalive=200ms", "-keepalive-timeout=2s")
	secretText, err := os.ReadFile(filepath.Join(c.dir, "cluster-secret"))
	if err != nil {
		t.Fatal(err)
	}
	secret, err := peer.ParseSecret(string(secretText))
	if err != nil {
		t.Fatal(err)
	}
	client := c.client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "keep", nil); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		name := fmt.Sprintf("o-%02d", i)
		if _, err := client.Put(ctx, "keep", name, strings.NewReader(name), api.PutOptions{Size: int64(len(name))}); err != nil {
			t.Fatal(err)
		}
	}
	m, err := client.Map(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gw, _ := m.PrimaryNode()
	target := m.ActiveTargets()[0]
	// Sentinels beside the data directory, where the attacks aim.
	top := filepath.Dir(c.dir)
	victim := filepath.Join(top, "victim")
	os.MkdirAll(filepath.Join(victim, "inner"), 0o755)
	escape := strings.Repeat("../", 20) + strings.TrimPrefix(victim, "/")
	outsider := http.DefaultClient
	asPrimary := signedClient(secret, gw.ID)

	emptyMap := m.Clone()
	emptyMap.Version, emptyMap.Nodes = 999, nil
	jump := m.Clone()
	jump.Version = 1<<63 - 1
	js := func(v any) []byte { b, _ := json.Marshal(v); return b }
	huge := msgp.AppendArrayHeader(nil, 420_000_000)
	huge = append(huge, make([]byte, 1<<20)...)
	init := func(id string) []byte {
		return js(map[string]any{"id": id, "spec": map[string]any{"input_bck": map[string]string{"name": "keep"},
			"input_format": map[string]string{"template": "o-{00..29}"}, "input_extension": ".tar", "output_format": "x-{00..99}.tar"}})
	}
	join := js(map[string]any{"kind": "join", "node": cluster.Node{ID: "evil", Role: cluster.RoleTarget, URL: "http://127.0.0.1:9"}})

	tests := []struct {
		name   string
		client *http.Client
		method string
		url    string
		body   []byte
		want   int
	}{
		{"wipe every bucket", outsider, http.MethodPut, gw.URL + "/v1/metasync", js(map[string]any{"bmd": map[string]any{"version": 5000, "buckets": map[string]any{}}}), 401},
		{"an empty map at version 999", outsider, http.MethodPut, target.URL + "/v1/metasync", js(map[string]any{"map": emptyMap}), 401},
		{"a map at version MaxInt64", outsider, http.MethodPut, target.URL + "/v1/metasync", js(map[string]any{"map": jump}), 401},
		{"a bucket that climbs out", outsider, http.MethodPut, target.URL + "/v1/metasync", js(map[string]any{"bmd": map[string]any{"version": 5000, "buckets": map[string]any{escape: map[string]any{}}}}), 401},
		{"a job id that climbs out", outsider, http.MethodPost, target.URL + "/v1/sort/init", init("x/../../../../../../../../../.." + victim), 401},
		{"abort of that job", outsider, http.MethodDelete, target.URL + "/v1/sort/abort/x%2F..%2F..%2F..%2Fvictim", nil, 401},
		{"a fake target joins", outsider, http.MethodPut, gw.URL + "/v1/internal/cluster", join, 401},
		{"remove objects", outsider, http.MethodPost, target.URL + "/v1/internal/remove/keep", js(map[string]any{"names": []string{"o-01"}}), 401},
		{"plant an object", outsider, http.MethodPost, target.URL + "/v1/internal/receive", []byte{0x80}, 401},
		{"420M records", outsider, http.MethodPost, target.URL + "/v1/sort/records/srt-x", huge, 401},
		// With the secret, the same requests still fail where they are
		// unsound: validation stands behind authentication.
		{"signed: no buckets", asPrimary, http.MethodPut, target.URL + "/v1/metasync", js(map[string]any{"bmd": map[string]any{"version": 5000, "buckets": map[string]any{}}}), 409},
		{"signed: an empty map", asPrimary, http.MethodPut, target.URL + "/v1/metasync", js(map[string]any{"map": emptyMap}), 409},
		{"signed: MaxInt64", asPrimary, http.MethodPut, target.URL + "/v1/metasync", js(map[string]any{"map": jump}), 409},
		{"signed: a bucket that climbs out", asPrimary, http.MethodPut, target.URL + "/v1/metasync", js(map[string]any{"bmd": map[string]any{"version": 5000, "buckets": map[string]any{escape: map[string]any{}}}}), 400},
		{"signed: a job id that climbs out", asPrimary, http.MethodPost, target.URL + "/v1/sort/init", init("x/../../../../../../../../../.." + victim), 400},
		{"signed: 420M records for no job", asPrimary, http.MethodPost, target.URL + "/v1/sort/records/srt-x", huge, 404},
		// Refused as one the joiner may wait out a while (DNS lag).
		{"signed: a join at a URL that does not answer", asPrimary, http.MethodPut, gw.URL + "/v1/internal/cluster", join, 503},
		{"a target's metrics as a key map", outsider, http.MethodPost, gw.URL + "/v1/sort", js(map[string]any{"input_bck": map[string]string{"name": "keep"},
			"input_format": map[string]string{"template": "o-{00..29}"}, "output_format": "x-{00..99}.tar", "output_shard_size": "1MiB", "ekm_file": target.URL + "/metrics"}), 502},
	}
	for _, tc := range tests {
		if got := attack(t, tc.client, tc.method, tc.url, tc.body); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	time.Sleep(time.Second) // a keepalive round: a forged map would have spread
	after, err := client.Map(ctx)
	if err != nil || after.Version != m.Version || len(after.ActiveTargets()) != 3 {
		t.Fatalf("the map changed: %+v %v", after, err)
	}
	for i := range 30 {
		name := fmt.Sprintf("o-%02d", i)
		if data, err := client.GetBytes(ctx, "keep", name, api.GetOptions{}); err != nil || string(data) != name {
			t.Fatalf("%s after the attacks: %q %v", name, data, err)
		}
	}
	if _, err := os.Stat(filepath.Join(victim, "inner")); err != nil {
		t.Fatalf("the directory outside the data directory was touched: %v", err)
	}
	t.Logf("%d attacks refused; map version %d unchanged; 30 objects intact", len(tests), after.Version)
}

// TestNodeListensOnLoopbackByDefault: aisnode with no -host does not
// listen on every interface.
func TestNodeListensOnLoopbackByDefault(t *testing.T) {
	port := freePort(t)
	p := &process{url: fmt.Sprintf("http://127.0.0.1:%d", port), args: []string{"-port", fmt.Sprint(port), "-data", t.TempDir()}, t: t}
	p.start()
	if !strings.Contains(p.log.String(), fmt.Sprintf("addr=127.0.0.1:%d", port)) {
		t.Fatalf("aisnode does not listen on loopback only:\n%s", p.log)
	}
}

// TestReturningTargetUndoesNothing is the drill of a target that dies and
// comes back: writes and deletes acknowledged while it was away hold after
// it returns, and what only it held answers 503, not 404, meanwhile.
func TestReturningTargetUndoesNothing(t *testing.T) {
	c := startCLICluster(t, 1, 3, "-keepalive=200ms", "-keepalive-timeout=2s")
	client := c.client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "drill", nil); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{} // name -> content; "" for deleted
	put := func(name, content string) error {
		_, err := client.Put(ctx, "drill", name, strings.NewReader(content), api.PutOptions{Size: int64(len(content))})
		return err
	}
	for i := range 300 {
		name := fmt.Sprintf("o-%03d", i)
		if err := put(name, "v1-"+name); err != nil {
			t.Fatal(err)
		}
		want[name] = "v1-" + name
	}
	before, _ := client.Map(ctx)
	var held, elsewhere []string
	for i := range 300 {
		name := fmt.Sprintf("o-%03d", i)
		if owner, _ := before.Owner(cluster.Uname("ais", "drill", name)); owner.ID == "t2" {
			held = append(held, name)
		} else {
			elsewhere = append(elsewhere, name)
		}
	}
	if len(held) < 40 {
		t.Fatalf("t2 holds only %d objects", len(held))
	}
	c.kill9("t2")
	c.waitState("t2", cluster.StateOffline)

	overwrites, deletes, refused := 0, 0, 0
	// Overwrite 20 of t2's objects and delete 10 of those; overwrite and
	// delete some elsewhere too.
	for _, name := range slices.Concat(held[:20], elsewhere[:10]) {
		if err := put(name, "v2-"+name); err != nil {
			t.Fatalf("overwrite %s while t2 is away: %v", name, err)
		}
		want[name] = "v2-" + name
		overwrites++
	}
	for _, name := range slices.Concat(held[:10], elsewhere[:5]) {
		if err := client.Delete(ctx, "drill", name); err != nil {
			t.Fatalf("delete %s while t2 is away: %v", name, err)
		}
		want[name] = ""
		deletes++
	}
	// What only t2 holds is unavailable, not missing: a DELETE or GET of
	// it is refused with 503 and changes nothing.
	for _, name := range held[20:22] { // each 503 costs the client its retries
		if err := client.Delete(ctx, "drill", name); !errorsIsUnavailable(err) {
			t.Fatalf("delete of %s held by the offline target: %v, want 503", name, err)
		}
		if _, err := client.GetBytes(ctx, "drill", name, api.GetOptions{}); !errorsIsUnavailable(err) {
			t.Fatalf("GET of %s held by the offline target: %v, want 503", name, err)
		}
		refused += 2
	}

	ais(t, c.endpoint, "cluster", "start", "--dir", c.dir, "--aisnode", filepath.Join(binDir, "aisnode"))
	m := c.waitMap(4)
	c.waitRebalance(m.Version)
	lost := 0
	for name, content := range want {
		data, err := client.GetBytes(ctx, "drill", name, api.GetOptions{})
		switch {
		case content == "" && err == nil:
			t.Errorf("%s was deleted while t2 was away and came back as %q", name, data)
			lost++
		case content == "" && !strings.Contains(fmt.Sprint(err), "not found"):
			t.Errorf("%s: %v, want not found", name, err)
		case content != "" && (err != nil || string(data) != content):
			t.Errorf("%s: %q %v, want %q", name, data, err, content)
			lost++
		}
	}
	t.Logf("drill: %d objects checked; during the outage %d overwrites and %d deletes acknowledged, %d requests refused with 503; lost %d", len(want), overwrites, deletes, refused, lost)
}

func errorsIsUnavailable(err error) bool {
	var e *api.Error
	return errors.As(err, &e) && e.Status == http.StatusServiceUnavailable
}

// TestSecondNodeOnItsDirectoriesIsRefused: a node's data directory, and
// each of its mountpaths, serve one node: a second aisnode given one
// (a unit started twice, a copied config) fails to start, naming it,
// rather than write over the first's metadata and objects.
func TestSecondNodeOnItsDirectoriesIsRefused(t *testing.T) {
	data := t.TempDir()
	gw := startNode(t, "-role", "gateway", "-id", "g1", "-data", data)
	mountpath := t.TempDir()
	// One the first node's store makes as it starts (not there before)
	// is locked too.
	made := filepath.Join(t.TempDir(), "made-at-start")
	startNode(t, "-role", "target", "-id", "t1", "-data", t.TempDir(), "-mountpaths", mountpath+","+made, "-join", gw.url, "-no-sync")
	for _, args := range [][]string{
		{"-role", "gateway", "-id", "g1", "-data", data},
		{"-role", "target", "-id", "t2", "-data", t.TempDir(), "-mountpaths", mountpath, "-join", gw.url},
		{"-role", "target", "-id", "t1", "-data", t.TempDir(), "-mountpaths", made, "-join", gw.url},
	} {
		cmd := exec.Command(filepath.Join(binDir, "aisnode"), append([]string{"-host", "127.0.0.1", "-port", fmt.Sprint(freePort(t))}, args...)...)
		cmd.Env = append(os.Environ(), "AIS_CLUSTER_SECRET="+testSecret.String())
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "in use by another aisnode") {
			t.Fatalf("aisnode %v beside a running node: %v\n%s", args, err, out)
		}
	}
	if _, err := gw.client().Health(t.Context()); err != nil {
		t.Fatalf("the first node after the refusals: %v", err)
	}
}

// A node whose log pipe lost its reader (tee in a terminal closed, a log
// shipper gone) drains and stops at a hang-up: the write of its shutdown
// line to the broken pipe killed it with SIGPIPE before the store closed.
func TestBrokenLogPipeDoesNotKillANode(t *testing.T) {
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	read, write, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, "aisnode"), "-host", "127.0.0.1", "-port", fmt.Sprint(port), "-role", "gateway", "-id", "g1", "-data", t.TempDir())
	cmd.Env = append(os.Environ(), "AIS_CLUSTER_SECRET="+testSecret.String())
	cmd.Stderr = write
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	write.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	// Its log read while it starts, as tee would.
	go io.Copy(io.Discard, read)
	client := api.NewClient(url)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := client.Health(t.Context()); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the node did not start")
		}
	}
	read.Close()
	cmd.Process.Signal(syscall.SIGHUP)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the node at a hang-up with its log pipe broken: %v (%v), want a drained stop", err, cmd.ProcessState)
		}
	case <-time.After(time.Minute):
		t.Fatal("the node did not stop at a hang-up")
	}
}

// A target stopped by SIGTERM (systemd, a shell's kill; no Kubernetes
// preStop hook) is offline in the map before it exits: gateways stopped
// sending clients to it while it still served, not at the keepalive's
// timeout (an hour here) after its port closed.
func TestStoppedTargetIsOfflineBeforeItExits(t *testing.T) {
	gw := startNode(t, "-role", "gateway", "-id", "g1", "-data", t.TempDir(), "-keepalive", "200ms", "-keepalive-timeout", "1h")
	startNode(t, "-role", "target", "-id", "t1", "-data", t.TempDir(), "-join", gw.url, "-no-sync")
	t2 := startNode(t, "-role", "target", "-id", "t2", "-data", t.TempDir(), "-join", gw.url, "-no-sync")
	client := gw.client()
	for deadline := time.Now().Add(20 * time.Second); len(mustMap(t, client).Nodes) != 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the map: %+v", mustMap(t, client))
		}
	}
	if err := client.CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatal(err)
	}
	t2.cmd.Process.Signal(syscall.SIGTERM)
	if err := t2.cmd.Wait(); err != nil {
		t.Fatalf("t2 at SIGTERM: %v\n%s", err, t2.log)
	}
	if self, _ := mustMap(t, client).Node("t2"); self.State != cluster.StateOffline {
		t.Fatalf("t2 exited, and the map has it %s, want offline\n%s", self.State, t2.log)
	}
	for i := range 10 {
		if _, err := client.Put(t.Context(), "b", fmt.Sprint(i), strings.NewReader("x"), api.PutOptions{Size: 1}); err != nil {
			t.Fatalf("a PUT after t2 stopped: %v", err)
		}
	}
}

// TestMetadataSurvivesKill: kill -9 a gateway while it saves the cluster
// map and the bucket metadata in a loop; every restart finds both whole
// (never an empty or cut file) and no older than what was acknowledged.
func TestMetadataSurvivesKill(t *testing.T) {
	gw := startNode(t, "-role", "gateway", "-id", "g1", "-data", t.TempDir(), "-keepalive-timeout", "1h")
	// Two targets: the only active one is kept out of maintenance.
	startNode(t, "-role", "target", "-id", "t1", "-data", t.TempDir(), "-join", gw.url, "-no-sync")
	startNode(t, "-role", "target", "-id", "t2", "-data", t.TempDir(), "-join", gw.url, "-no-sync")
	client := gw.client()
	ctx := t.Context()
	until(t, 20*time.Second, "both targets in the map", func() bool { return len(mustMap(t, client).Nodes) == 3 })
	var acked int64
	var created []string // buckets whose creation was acknowledged
	for round := range 5 {
		stop := make(chan struct{})
		done := make(chan struct{})
		var saves atomic.Int64 // acknowledged in this round
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if i%2 == 0 {
					err = client.StartMaintenance(ctx, "t1")
				} else {
					err = client.StopMaintenance(ctx, "t1")
				}
				if err == nil {
					if m, err := client.Map(ctx); err == nil && m.Version > acked {
						acked = m.Version
						saves.Add(1)
					}
				}
				name := fmt.Sprintf("b-%d-%d", round, i)
				if client.CreateBucket(ctx, name, nil) == nil {
					created = append(created, name)
					saves.Add(1)
				}
			}
		}()
		// The kill falls a little later each round, after saves began.
		until(t, 30*time.Second, "a save acknowledged", func() bool { return saves.Load() >= 2 })
		time.Sleep(time.Duration(round*70) * time.Millisecond)
		gw.kill()
		close(stop)
		<-done
		gw.restart()
		m := mustMap(t, client)
		if m.Version < acked {
			t.Fatalf("round %d: the map went back to version %d after %d was acknowledged", round, m.Version, acked)
		}
		buckets, err := client.ListBuckets(ctx)
		if err != nil {
			t.Fatalf("round %d: bucket metadata after the restart: %v", round, err)
		}
		for _, name := range created {
			if !slices.ContainsFunc(buckets, func(b api.BucketEntry) bool { return b.Name == name }) {
				t.Fatalf("round %d: bucket %s, acknowledged, is gone after the restart (%d buckets listed)", round, name, len(buckets))
			}
		}
	}
	t.Logf("5 kills during saves: the gateway restarted every time with map version %d or newer", acked)
}

func mustMap(t *testing.T, c *api.Client) *cluster.Map {
	t.Helper()
	m, err := c.Map(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return m
}
