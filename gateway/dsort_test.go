package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/datasets"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/pipeline/reference"
	"github.com/aisgo/aisgo/store"
)

type bufferShard struct {
	bytes.Buffer
	name string
	mu   *sync.Mutex
	out  map[string][]byte
}

func (b *bufferShard) Close() error {
	b.mu.Lock()
	b.out[b.name] = b.Bytes()
	b.mu.Unlock()
	return nil
}

// putDataset generates shards and puts them through the API.
func putDataset(t *testing.T, client *api.Client, bucket string, spec datasets.Spec) map[string][]byte {
	t.Helper()
	var mu sync.Mutex
	out := map[string][]byte{}
	if _, err := datasets.Generate(t.Context(), spec, func(name string) (io.WriteCloser, error) {
		return &bufferShard{name: name, mu: &mu, out: out}, nil
	}); err != nil {
		t.Fatal(err)
	}
	for name, data := range out {
		if _, err := client.Put(t.Context(), bucket, name, bytes.NewReader(data), api.PutOptions{Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// waitDsort polls the job's metrics until it ends.
func waitDsort(t *testing.T, client *api.Client, id string) api.DsortJobInfo {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		metrics, err := client.DsortMetrics(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		sum := api.DsortSummary(metrics)
		if sum.Aborted || sum.Archived {
			return sum
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s did not end: %+v", id, sum)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A dSort job over HTTP on 1 gateway and 3 targets writes exactly what the
// reference writes, and reports AIStore-shaped metrics.
func TestDsortOverHTTP(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	inputs := putDataset(t, client, "src", datasets.Spec{Template: "in-{00..09}.tar", Records: 20, RecordSize: 2000, SizeSpread: 0.5, Extensions: []string{".jpg", ".cls"}, Seed: 9})
	specText := `{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":"in-{00..09}.tar"},
		"output_format":"out-{000..999}.tgz","output_shard_size":"50KiB","algorithm":{"kind":"shuffle","seed":"77"},
		"description":"http test"}`
	id, err := client.DsortStart(ctx, []byte(specText))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id, "srt-") {
		t.Fatalf("job id %q", id)
	}
	sum := waitDsort(t, client, id)
	if !sum.Archived || sum.Aborted {
		t.Fatalf("job ended %+v", sum)
	}
	metrics, _ := client.DsortMetrics(ctx, id)
	if len(metrics) != 3 {
		t.Fatalf("metrics of %d targets", len(metrics))
	}
	if sum.Metrics.Extraction.ExtractedCount != 10 || sum.Metrics.Extraction.ExtractedRecordCount != 200 || sum.Metrics.Creation.CreatedRecordCount != 200 {
		t.Fatalf("summed metrics %+v", sum.Metrics)
	}
	spec, _ := pipeline.ParseSpec([]byte(specText))
	want, err := reference.Run(spec, 77, inputs, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	for e, err := range client.ListAll(ctx, "dst", api.ListObjectsMessage{}) {
		if err != nil {
			t.Fatal(err)
		}
		data, err := client.GetBytes(ctx, "dst", e.Name, api.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got[e.Name] = data
	}
	if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
		t.Fatalf("output %v, reference %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	for name := range want {
		if !bytes.Equal(got[name], want[name]) {
			t.Fatalf("%s differs from the reference", name)
		}
	}
	// The same spec as AIStore's CLI sends it, with the whole dsort config
	// section, writes the same bytes.
	withConfig := strings.Replace(specText, `"output_bck":{"name":"dst"}`, `"output_bck":{"name":"dst2"}`, 1)
	withConfig = strings.Replace(withConfig, `"description":"http test"`, `"description":"config test","Config":{"duplicated_records":"ignore",
		"missing_shards":"ignore","ekm_malformed_line":"abort","ekm_missing_key":"abort","default_max_mem_usage":"80%","call_timeout":"10m",
		"dsorter_mem_threshold":"100GB","compression":"never","dsorter_type":"dsorter_general"}`, 1)
	second, err := client.DsortStart(ctx, []byte(withConfig))
	if err != nil {
		t.Fatal(err)
	}
	if sum := waitDsort(t, client, second); !sum.Archived || sum.Aborted {
		t.Fatalf("the job with AIStore's Config ended %+v", sum)
	}
	for name := range want {
		data, err := client.GetBytes(ctx, "dst2", name, api.GetOptions{})
		if err != nil || !bytes.Equal(data, got[name]) {
			t.Fatalf("%s with AIStore's Config section: %d bytes, %v; differs from the job without it", name, len(data), err)
		}
	}
	if err := client.DsortRemove(ctx, second); err != nil {
		t.Fatal(err)
	}
	// Listing, filters, removal.
	jobs, err := client.DsortList(ctx, "http t", false)
	if err != nil || len(jobs) != 1 || jobs[0].ID != id || !jobs[0].Archived {
		t.Fatalf("list: %+v %v", jobs, err)
	}
	if active, _ := client.DsortList(ctx, "", true); len(active) != 0 {
		t.Fatalf("only_active lists a finished job: %+v", active)
	}
	if err := client.DsortAbort(ctx, id); !errors.Is(err, api.ErrJobFinished) {
		t.Fatalf("abort of a finished job: %v, want 410", err)
	}
	// The job list's stop reaches dSort jobs and says why rebalances go on.
	if err := client.StopJob(ctx, id); !errors.Is(err, api.ErrJobFinished) {
		t.Fatalf("ais job stop of a finished dSort job: %v, want 410", err)
	}
	if err := client.StopJob(ctx, "srt-missing"); !errors.Is(err, api.ErrJobNotFound) {
		t.Fatalf("ais job stop of an unknown dSort job: %v", err)
	}
	if err := client.StopJob(ctx, "reb-7"); !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "rebalance cannot be stopped") {
		t.Fatalf("ais job stop of a rebalance: %v, want 400", err)
	}
	status, body, _ := call(t, http.MethodPut, c.Primary().URL()+"/v1/cluster", nil, `{"action":"stop","value":{"kind":"rebalance"}}`)
	if status != http.StatusBadRequest || !strings.Contains(string(body), "rebalance cannot be stopped") {
		t.Fatalf("stop by kind rebalance: %d %s", status, body)
	}
	if err := client.DsortRemove(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DsortMetrics(ctx, id); !errors.Is(err, api.ErrJobNotFound) {
		t.Fatalf("metrics of a removed job: %v", err)
	}
}

func TestDsortBadRequests(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	for spec, says := range map[string]string{
		`{"input_bck":{"name":"nope"},"input_format":{"template":"a-{0..9}.tar"},"output_format":"b-{0..9}.tar"}`:                           `input_bck "nope" does not exist`,
		`{"input_bck":{"name":"src"},"input_format":{"template":"a-{0..9}.tar"},"output_format":"b-{0..9}.tar","output_shard_size":"10XB"}`: `"10XB" is not a size`,
		`not a spec: [`: "neither JSON nor YAML",
	} {
		_, err := client.DsortStart(ctx, []byte(spec))
		var e *api.Error
		if !errors.As(err, &e) || e.Status != http.StatusBadRequest || !strings.Contains(e.Message, says) {
			t.Errorf("spec %s: %v, want 400 saying %q", spec, err, says)
		}
	}
	if err := client.DsortAbort(ctx, "srt-missing"); !errors.Is(err, api.ErrJobNotFound) {
		t.Errorf("abort of an unknown job: %v", err)
	}
	if _, err := client.DsortMetrics(ctx, "srt-missing"); !errors.Is(err, api.ErrJobNotFound) {
		t.Errorf("metrics of an unknown job: %v", err)
	}
	ctx2, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if jobs, err := client.DsortList(ctx2, "", false); err != nil || len(jobs) != 0 {
		t.Errorf("empty list: %v %v", jobs, err)
	}
}

// TestKeyMapFetchIsConfined: an ekm_file URL cannot make the gateway read
// cluster-internal pages, probe ports, or quote what it fetched.
func TestKeyMapFetchIsConfined(t *testing.T) {
	secretPage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			time.Sleep(2 * time.Second)
		case "/away":
			http.Redirect(w, r, "http://localhost:1/elsewhere", http.StatusFound)
			return
		}
		io.WriteString(w, "TOPSECRET line one\nmore\n")
	}))
	defer secretPage.Close()
	spec := func(url string) []byte {
		return []byte(`{"input_bck":{"name":"src"},"input_format":{"template":"a-{0..9}.tar"},"output_format":"b-{0..9}.tar","output_shard_size":"1MiB","ekm_file":"` + url + `"}`)
	}
	// A fetch that fails, for whatever reason, is a 502 that says only
	// that; a URL that is not http(s) is a bad spec.
	start := func(t *testing.T, c *gatewaytest.Cluster, url string) string {
		t.Helper()
		_, err := c.Client().DsortStart(t.Context(), spec(url))
		want := http.StatusBadGateway
		if !strings.HasPrefix(url, "http") || strings.HasSuffix(url, "/malformed") {
			want = http.StatusBadRequest // the spec, or what it names, is wrong
		}
		var e *api.Error
		if !errors.As(err, &e) || e.Status != want {
			t.Fatalf("ekm_file %s: %v, want %d", url, err, want)
		}
		message := strings.Replace(e.Message, url, "URL", 1)
		for _, leak := range []string{"TOPSECRET", "refused", "timeout", "deadline", "404", "# HELP"} {
			if strings.Contains(message, leak) {
				t.Fatalf("ekm_file %s: the error says %q: %s", url, leak, e.Message)
			}
		}
		return message
	}

	strict := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	strict.Client().CreateBucket(t.Context(), "src", nil)
	refused := start(t, strict, "http://127.0.0.1:1/map.txt")
	for _, url := range []string{strict.Targets()[0].URL() + "/metrics", secretPage.URL + "/map.txt", "file:///etc/passwd", "gopher://127.0.0.1:70/"} {
		start(t, strict, url)
	}

	local := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.FetchAllowLocal, cfg.KeyMapTimeout = true, 500*time.Millisecond
	}})
	local.Client().CreateBucket(t.Context(), "src", nil)
	slow := start(t, local, secretPage.URL+"/slow")
	if slow != start(t, local, "http://127.0.0.1:1/map.txt") || refused != slow {
		t.Errorf("a timeout and a refused port are told apart:\n%s\n%s", slow, refused)
	}
	start(t, local, secretPage.URL+"/away")
	start(t, local, secretPage.URL+"/malformed")
	start(t, local, local.Targets()[0].URL()+"/metrics")
	start(t, local, local.Primary().URL()+"/v1/cluster?what=smap")
}

// An ais:// key map past the size limit is refused, not cut: a cut map
// would leave records without their templates.
func TestKeyMapInBucketPastTheLimit(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.KeyMapMaxSize = 64
	}})
	client := c.Client()
	client.CreateBucket(t.Context(), "src", nil)
	keyMap := strings.Repeat("a-.*\tb-{0..9}.tar\n", 10)
	if _, err := client.Put(t.Context(), "src", "map.txt", strings.NewReader(keyMap), api.PutOptions{Size: int64(len(keyMap))}); err != nil {
		t.Fatal(err)
	}
	spec := []byte(`{"input_bck":{"name":"src"},"input_format":{"template":"a-{0..9}.tar"},"output_format":"b-{0..9}.tar","output_shard_size":"1MiB","ekm_file":"ais://src/map.txt"}`)
	if _, err := client.DsortStart(t.Context(), spec); err == nil || !strings.Contains(err.Error(), "larger than 64 bytes") {
		t.Fatalf("a key map of %d bytes past a limit of 64: %v", len(keyMap), err)
	}
}

// An aborted job says so in the cluster status (and AIStore's
// qryxstats), not only that it is not running.
func TestAbortedDsortShowsAbortedInStatus(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	putDataset(t, client, "src", datasets.Spec{Template: "in-{0..2}.tar", Records: 5, RecordSize: 500, Seed: 1})
	// in-3.tar is missing: the job aborts (missing_shards abort).
	id, err := client.DsortStart(ctx, []byte(`{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":"in-{0..3}.tar"},"output_format":"out-{0..99}.tar","output_shard_size":"10KiB","missing_shards":"abort"}`))
	if err != nil {
		t.Fatal(err)
	}
	if sum := waitDsort(t, client, id); !sum.Aborted {
		t.Fatalf("a job missing a shard: %+v", sum)
	}
	status, err := client.ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, node := range status.Nodes {
		for _, j := range node.Jobs {
			if j.ID != id {
				continue
			}
			seen++
			if j.Running || !j.Aborted {
				t.Fatalf("node %s shows the aborted job as %+v", node.ID, j)
			}
		}
	}
	if seen == 0 {
		t.Fatal("no node shows the job")
	}
}

// A dSort job's errors that name a file of a target (its work directory
// unusable) show <data> for the target's data directory.
func TestDsortErrorsHideTheDataDirectory(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	putDataset(t, client, "src", datasets.Spec{Template: "in-{0..2}.tar", Records: 5, RecordSize: 500, Seed: 1})
	target := c.Targets()[0]
	work := filepath.Join(target.Dir, "work")
	if err := os.RemoveAll(work); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(work, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	id, err := client.DsortStart(ctx, []byte(`{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":"in-{0..2}.tar"},"output_format":"out-{0..99}.tar","output_shard_size":"1KiB"}`))
	if err != nil {
		t.Fatal(err)
	}
	sum := waitDsort(t, client, id)
	errs := strings.Join(sum.Metrics.Errors, "; ")
	if !sum.Aborted || strings.Contains(errs, target.Dir) || !strings.Contains(errs, "<data>") {
		t.Fatalf("a job whose work directory is a file: aborted %v, errors %q; want aborted, naming <data>, not %s", sum.Aborted, errs, target.Dir)
	}
	// Nor does the list of jobs (ais dsort ls).
	jobs, err := client.DsortList(ctx, "", false)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("the job list: %+v %v", jobs, err)
	}
	if listed := strings.Join(jobs[0].Metrics.Errors, "; "); strings.Contains(listed, target.Dir) || !strings.Contains(listed, "<data>") {
		t.Fatalf("the job list's errors: %q; want them naming <data>, not %s", listed, target.Dir)
	}
}

// A job settled without its coordinator, whose targets had finished but
// one of which lost its part (restarted), is aborted; the shards the
// others kept go too, found by their metadata (no node lists them), and
// an object of the output bucket the job did not write stays.
func TestSettledJobWithALostPartRemovesItsOutput(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true,
		KeepaliveInterval: 100 * time.Millisecond, KeepaliveTimeout: time.Second})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	putDataset(t, client, "src", datasets.Spec{Template: "in-{00..05}.tar", Records: 20, RecordSize: 2000, Seed: 4})
	client.CreateBucket(ctx, "dst", nil)
	if _, err := client.Put(ctx, "dst", "not-the-job.tar", strings.NewReader("kept"), api.PutOptions{Size: 4}); err != nil {
		t.Fatal(err)
	}
	// Its end not recorded (its coordinator "died" before): a settle's
	// to judge.
	id, targets, _ := unrecordedFinishedJob(t, c)
	count := func() int { return outputCount(t, c, "dst") }
	if count() < 3 {
		t.Fatal("too few output shards to show anything")
	}
	// A target restarted before the job's finish reached it: its
	// journal has its shards removed, its part counts as lost.
	victim := c.Targets()[1]
	c.Kill(victim)
	c.WaitForState(victim.Node.ID(), cluster.StateOffline)
	marks, _ := filepath.Glob(filepath.Join(victim.Dir, "work", "dsort-"+id+".finished"))
	for _, mark := range marks {
		if err := os.Rename(mark, strings.TrimSuffix(mark, ".finished")+".journal"); err != nil {
			t.Fatal(err)
		}
	}
	back := c.Restart(victim)
	m := c.WaitForState(back.Node.ID(), cluster.StateActive)
	c.WaitRebalance(m.Version)
	gateway.SettleJob(ctx, c.Primary().Node, id, store.Bucket{Provider: "ais", Name: "dst"}, targets, "the test's cause")
	if n := count(); n != 0 {
		t.Fatalf("%d output shards of the settled job are left", n)
	}
	if got, err := client.GetBytes(ctx, "dst", "not-the-job.tar", api.GetOptions{}); err != nil || string(got) != "kept" {
		t.Fatalf("the bucket's other object: %q %v", got, err)
	}
}

// A job whose targets finished, settled without its coordinator while
// one target does not answer, is not recorded finished (that target's
// part may be gone): it is settled once the target answers or the
// cluster counts it out, then as a job that lost a part.
func TestSettleWaitsForASilentTargetOfAFinishedJob(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true,
		KeepaliveInterval: 100 * time.Millisecond, KeepaliveTimeout: 2 * time.Second})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	putDataset(t, client, "src", datasets.Spec{Template: "in-{00..05}.tar", Records: 20, RecordSize: 2000, Seed: 4})
	id, targets := finishedJob(t, c)
	written := outputCount(t, c, "dst")
	dst := store.Bucket{Provider: "ais", Name: "dst"}
	victim := c.Targets()[1]
	c.Kill(victim)
	if gateway.SettleJob(ctx, c.Primary().Node, id, dst, targets, "the test's cause") {
		t.Fatal("a finished job was settled while one of its targets did not answer")
	}
	c.WaitForState(victim.Node.ID(), cluster.StateOffline)
	// Offline (a restart, keepalives missed under load), its part is not
	// counted lost at once: it has its finished mark on its disk.
	if gateway.SettleJob(ctx, c.Primary().Node, id, dst, targets, "the test's cause") {
		t.Fatal("a finished job was settled as soon as one of its targets was offline")
	}
	// (Waited for long: this test's job is ended in the registry, whose
	// rounds forget the waits of jobs not running.)
	t.Cleanup(gateway.SetSettleAwayWait(0))
	// Asked again as the registry's rounds do: a settle waits out a
	// cluster still settling from the target's loss (its removal of the
	// lost part's shards is not made meanwhile).
	eventually(t, func() bool { return gateway.SettleJob(ctx, c.Primary().Node, id, dst, targets, "the test's cause") },
		"the job was not settled once the silent target was counted out")
	// Its end was recorded (finished) before this settle counted a part
	// lost: that record is the job's outcome, and its output stays.
	if j, ok := gateway.RegisteredJob(c.Primary().Node, id); !ok || j.State != membership.JobFinished {
		t.Fatalf("the job is recorded %+v (%v), want finished", j, ok)
	}
	back := c.Restart(victim)
	c.WaitForState(back.Node.ID(), cluster.StateActive)
	if got := outputCount(t, c, "dst"); got != written {
		t.Fatalf("%d output shards after the settle, want the %d written", got, written)
	}
}

// A job settled while every target is away (a whole cluster restarting
// after the job's finish, before its end was recorded) is not recorded
// aborted for want of an answer, its output removed: settled once they
// answer, finished, the output whole.
func TestSettleWaitsForTargetsAwayOfAJobNoneSaidFinished(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true,
		KeepaliveInterval: 100 * time.Millisecond, KeepaliveTimeout: time.Second})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	putDataset(t, client, "src", datasets.Spec{Template: "in-{00..05}.tar", Records: 20, RecordSize: 2000, Seed: 4})
	// Finished on every target, its end not recorded: the targets keep
	// their finished marks (once recorded, they drop them).
	id, targets, restore := unrecordedFinishedJob(t, c)
	written := outputCount(t, c, "dst")
	if written == 0 {
		t.Fatal("the job wrote nothing: the test tests nothing")
	}
	dst := store.Bucket{Provider: "ais", Name: "dst"}
	away := c.Targets()
	for _, m := range away {
		c.Kill(m)
	}
	if gateway.SettleJob(ctx, c.Primary().Node, id, dst, targets, "the test's cause") {
		t.Fatal("a job was settled while every target was away")
	}
	restore()
	for _, m := range away {
		back := c.Restart(m)
		c.WaitForState(back.Node.ID(), cluster.StateActive)
	}
	eventually(t, func() bool { return gateway.SettleJob(ctx, c.Primary().Node, id, dst, targets, "the test's cause") },
		"the job was not settled once its targets were back")
	if j, ok := gateway.RegisteredJob(c.Primary().Node, id); !ok || j.State != membership.JobFinished {
		t.Fatalf("the job is recorded %+v (%v), want finished", j, ok)
	}
	if got := outputCount(t, c, "dst"); got != written {
		t.Fatalf("%d output shards after the settle, want the %d written", got, written)
	}
}

// A finished job that a leader counted as having lost a part, its
// output's removal begun, is not recorded finished by the next leader
// once every target answers: the verdict is the registry's, and the
// output goes.
func TestSettleKeepsAnEarlierLeadersLostVerdict(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 2, Targets: 2, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	putDataset(t, client, "src", datasets.Spec{Template: "in-{00..05}.tar", Records: 20, RecordSize: 2000, Seed: 4})
	// Its coordinator (the primary) does not record the end.
	id, targets, _ := unrecordedFinishedJob(t, c)
	if outputCount(t, c, "dst") == 0 {
		t.Fatal("the job wrote nothing: the test tests nothing")
	}
	const cause = "the test's earlier leader counted a part lost"
	if err := gateway.RecordJobLost(ctx, c.Primary().Node, id, cause); err != nil {
		t.Fatal(err)
	}
	if j, ok := gateway.RegisteredJob(c.Primary().Node, id); !ok || j.State != membership.JobRunning || j.Cause != cause {
		t.Fatalf("the job is recorded %+v (%v), want running with the verdict", j, ok)
	}
	// The next leader has applied the log up to the verdict.
	next := c.Members()[1].Node
	eventually(t, func() bool {
		j, _ := gateway.RegisteredJob(next, id)
		return j.Cause == cause
	}, "the verdict did not reach the other gateway")
	eventually(t, func() bool {
		return gateway.SettleJob(ctx, next, id, store.Bucket{Provider: "ais", Name: "dst"}, targets, "its coordinator stopped answering")
	}, "the job was not settled by the next gateway")
	if j, ok := gateway.RegisteredJob(next, id); !ok || j.State != membership.JobAborted || !strings.Contains(j.Cause, cause) {
		t.Fatalf("the job is recorded %+v (%v), want aborted with the earlier verdict", j, ok)
	}
	if got := outputCount(t, c, "dst"); got != 0 {
		t.Fatalf("%d output shards of a job counted lost, want them removed", got)
	}
}

// A job whose targets all finished, whose coordinator died before the
// registry recorded its end, is settled finished by the leader though a
// target restarted meanwhile: a target's finish is durable, its shards
// are not counted lost, and the output stays whole.
func TestSettleKeepsAJobFinishedOnATargetThatRestarted(t *testing.T) {
	c, id, dst := jobWhoseCoordinatorDied(t, func(c *gatewaytest.Cluster) {
		victim := c.Targets()[1]
		c.Kill(victim)
		c.WaitForState(victim.Node.ID(), cluster.StateOffline)
		back := c.Restart(victim)
		c.WaitForState(back.Node.ID(), cluster.StateActive)
	})
	j := waitJobRecorded(t, c, id)
	if j.State != membership.JobFinished {
		t.Fatalf("the job is recorded %s (%s), want finished", j.State, j.Cause)
	}
	if got := outputCount(t, c, "dst"); got != dst {
		t.Fatalf("%d output shards after the settle, want the %d written", got, dst)
	}
}

// A job settled aborted while a target that had finished it was offline
// (another target lost its part) has that target's shards removed when
// it is back: no node lists them, its finished mark does.
func TestTargetBackFromAnAbortedSettleRemovesItsShards(t *testing.T) {
	t.Cleanup(gateway.SetSettleAwayWait(200 * time.Millisecond)) // away long enough
	var victim *gatewaytest.Member
	c, id, _ := jobWhoseCoordinatorDied(t, func(c *gatewaytest.Cluster) {
		victim = c.Targets()[1]
		c.Kill(victim)
		c.WaitForState(victim.Node.ID(), cluster.StateOffline)
	})
	j := waitJobRecorded(t, c, id)
	if j.State != membership.JobAborted || !strings.Contains(j.Cause, victim.Node.ID()) {
		t.Fatalf("the job is recorded %s (%s), want aborted naming %s", j.State, j.Cause, victim.Node.ID())
	}
	// Not removed while the target that may hold its shards is away: the
	// registry's word is what has them removed.
	if err := c.Client().DsortRemove(t.Context(), id); !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), victim.Node.ID()) {
		t.Fatalf("remove of the aborted job while %s is offline: %v, want a conflict naming it", victim.Node.ID(), err)
	}
	back := c.Restart(victim)
	c.WaitForState(back.Node.ID(), cluster.StateActive)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		n := outputCount(t, c, "dst")
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			j, ok := gateway.RegisteredJob(back.Node, id)
			entries, _ := os.ReadDir(filepath.Join(back.Dir, "work"))
			t.Fatalf("%d output shards of the aborted job left on the target back (its registry: %+v %v; work: %v)", n, j, ok, entries)
		}
	}
	// Its marks go after its shards: waited for, not looked at once.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		marks, _ := filepath.Glob(filepath.Join(back.Dir, "work", "dsort-*"))
		if len(marks) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("left in the work directory: %v", marks)
		}
	}
	if err := c.Client().DsortRemove(t.Context(), id); err != nil {
		t.Fatalf("remove of the aborted job once its targets are back: %v", err)
	}
}

// Jobs the targets forgot (a restart) are the registry's: a finished job
// stays listed and answers 410 to an abort; one removed through another
// gateway is gone through its coordinator too. A list no target
// answers still shows the registry's jobs.
func TestDsortJobsTheTargetsForgot(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 2, Targets: 1, NoSync: true,
		KeepaliveInterval: 100 * time.Millisecond, KeepaliveTimeout: 3 * time.Second})
	client, coordinator := c.Client(), api.NewClient(c.Members()[1].URL())
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	putDataset(t, client, "src", datasets.Spec{Template: "in-{00..05}.tar", Records: 20, RecordSize: 2000, Seed: 4})
	id, err := coordinator.DsortStart(ctx, []byte(`{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":"in-{00..05}.tar"},
		"output_format":"out-{000..999}.tar","output_shard_size":"10KiB"}`))
	if err != nil {
		t.Fatal(err)
	}
	if sum := waitDsort(t, coordinator, id); !sum.Archived {
		t.Fatalf("job ended %+v", sum)
	}
	target := c.Targets()[0]
	c.Kill(target)
	if jobs, err := client.DsortList(ctx, "", false); err != nil || !slices.ContainsFunc(jobs, func(j api.DsortJobInfo) bool { return j.ID == id && j.Archived }) {
		t.Fatalf("the list while the only target is down: %+v %v, want the job finished", jobs, err)
	}
	c.WaitForState(target.Node.ID(), cluster.StateOffline)
	// The mark of a job the registry no longer has (removed while this
	// target was away): nothing left to settle.
	os.MkdirAll(filepath.Join(target.Dir, "work"), 0o755)
	if err := os.WriteFile(filepath.Join(target.Dir, "work", "dsort-srt-removed0001.finished"), []byte("\"ais://dst\"\n{\"attempt\":0}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	back := c.Restart(target)
	c.WaitForState(back.Node.ID(), cluster.StateActive)
	// Its finished marks go once it learns the registry recorded the end,
	// or has no such job.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if marks, _ := filepath.Glob(filepath.Join(back.Dir, "work", "dsort-*.finished")); len(marks) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the restarted target keeps its finished mark")
		}
	}
	jobs, err := client.DsortList(ctx, "", false)
	if err != nil || !slices.ContainsFunc(jobs, func(j api.DsortJobInfo) bool { return j.ID == id && j.Archived }) {
		t.Fatalf("the list after the target forgot the job: %+v %v, want it finished", jobs, err)
	}
	if err := client.DsortAbort(ctx, id); !errors.Is(err, api.ErrJobFinished) {
		t.Fatalf("abort of a finished job its targets forgot: %v, want 410", err)
	}
	if err := client.DsortRemove(ctx, id); err != nil {
		t.Fatal(err)
	}
	// (Once the coordinator applied the removal.)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		metrics, err := coordinator.DsortMetrics(ctx, id)
		if errors.Is(err, api.ErrJobNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job removed through another gateway, through its coordinator: %+v %v, want not found", metrics, err)
		}
	}
}

// jobWhoseCoordinatorDied runs a job through the second of three
// gateways, whose record of the job's end fails; once every target
// finished it, between runs, then the coordinator is killed. It returns
// the job's id and how many output shards it wrote.
// waitFinishedPhase waits until a job's phase is finished on every
// target (whether or not the registry records its end).
func waitFinishedPhase(t *testing.T, client *api.Client, id string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		metrics, err := client.DsortMetrics(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		sum := api.DsortSummary(metrics)
		if sum.Aborted {
			t.Fatalf("job ended %+v", sum)
		}
		if sum.Phase == "finished" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s did not finish: %+v", id, sum)
		}
	}
}

func jobWhoseCoordinatorDied(t *testing.T, between func(c *gatewaytest.Cluster)) (*gatewaytest.Cluster, string, int) {
	t.Helper()
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 3, Targets: 3, NoSync: true,
		KeepaliveInterval: 100 * time.Millisecond, KeepaliveTimeout: time.Second})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	putDataset(t, client, "src", datasets.Spec{Template: "in-{00..05}.tar", Records: 20, RecordSize: 2000, Seed: 4})
	coordinator := c.Members()[1]
	if coordinator.Store != nil {
		t.Fatal("the second member is no gateway")
	}
	restore := gateway.FailJobEnds(coordinator.Node.ID())
	t.Cleanup(restore)
	id, err := api.NewClient(coordinator.URL()).DsortStart(ctx, []byte(`{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":"in-{00..05}.tar"},
		"output_format":"out-{000..999}.tar","output_shard_size":"10KiB"}`))
	if err != nil {
		t.Fatal(err)
	}
	// Finished on every target; its end is not recorded (the registry
	// says running).
	waitFinishedPhase(t, api.NewClient(coordinator.URL()), id)
	written := outputCount(t, c, "dst")
	if written < 3 {
		t.Fatalf("%d output shards: too few to show anything", written)
	}
	between(c)
	if j, ok := gateway.RegisteredJob(c.Primary().Node, id); !ok || j.State != membership.JobRunning {
		t.Fatalf("the registry has the job as %+v (%v), want running", j, ok)
	}
	c.Kill(coordinator)
	return c, id, written
}

// waitJobRecorded waits for the registry to record a job's end.
func waitJobRecorded(t *testing.T, c *gatewaytest.Cluster, id string) membership.Job {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if j, ok := gateway.RegisteredJob(c.Primary().Node, id); ok && j.State != membership.JobRunning {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("the end of job %s is not recorded", id)
		}
	}
}

// outputCount counts a bucket's out-* objects.
func outputCount(t *testing.T, c *gatewaytest.Cluster, bucket string) int {
	t.Helper()
	n := 0
	for e, err := range c.Client().ListAll(t.Context(), bucket, api.ListObjectsMessage{}) {
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(e.Name, "out-") {
			n++
		}
	}
	return n
}

// finishedJob runs a dSort job of src's in-{00..05}.tar into dst to its
// end, and returns its id and the targets it ran on.
func finishedJob(t *testing.T, c *gatewaytest.Cluster) (string, []string) {
	t.Helper()
	client := c.Client()
	id, err := client.DsortStart(t.Context(), []byte(`{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":"in-{00..05}.tar"},
		"output_format":"out-{000..999}.tar","output_shard_size":"10KiB"}`))
	if err != nil {
		t.Fatal(err)
	}
	if sum := waitDsort(t, client, id); !sum.Archived {
		t.Fatalf("job ended %+v", sum)
	}
	var targets []string
	for _, m := range c.Targets() {
		targets = append(targets, m.Node.ID())
	}
	return id, targets
}

// unrecordedFinishedJob is finishedJob with the primary failing to
// record the job's end until restore (also at the test's end).
func unrecordedFinishedJob(t *testing.T, c *gatewaytest.Cluster) (id string, targets []string, restore func()) {
	t.Helper()
	restore = gateway.FailJobEnds(c.Primary().Node.ID())
	t.Cleanup(restore)
	client := c.Client()
	id, err := client.DsortStart(t.Context(), []byte(`{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":"in-{00..05}.tar"},
		"output_format":"out-{000..999}.tar","output_shard_size":"10KiB"}`))
	if err != nil {
		t.Fatal(err)
	}
	waitFinishedPhase(t, client, id)
	for _, m := range c.Targets() {
		targets = append(targets, m.Node.ID())
	}
	return id, targets, restore
}

// The output of a failed job with more names than one control body takes
// (millions of shards) is removed all the same: the names go in batches.
func TestRemovingABigJobsOutput(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Targets: 2, NoSync: true})
	client := c.Client()
	if err := client.CreateBucket(t.Context(), "out", nil); err != nil {
		t.Fatal(err)
	}
	const job = "srt-big"
	var names []string
	// About 10 MiB of names, long ones (fewer to look up).
	long := strings.Repeat(strings.Repeat("shard", 48)+"/", 4)
	for i := range 10_000 {
		names = append(names, fmt.Sprintf("%s%06d.tar", long, i))
	}
	// Output shards as the job's targets wrote them (a client cannot
	// set the job's mark).
	st := c.Targets()[0].Store
	// Stamped by a target's clock ahead of the wall's (a restart's lease).
	ahead := store.Stamp{Map: c.Primary().Node.Map().Version, Clock: time.Now().Add(5 * time.Second).UnixNano()}
	for _, name := range []string{names[0], names[len(names)-1]} {
		if _, err := st.Put(t.Context(), store.NewBucket("out"), name, strings.NewReader("shard"), store.PutOptions{Size: 5, Stamp: ahead, Custom: map[string]string{pipeline.CustomJob: job}}); err != nil {
			t.Fatal(err)
		}
	}
	// Stamped as of the wall clock: the targets' hybrid clocks may be
	// ahead of it, and the job's copies removed all the same.
	asOf := store.Stamp{Map: c.Primary().Node.Map().Version, Clock: time.Now().Add(-time.Minute).UnixNano()}
	if err := gateway.RemoveJobOutput(t.Context(), c.Primary().Node, store.NewBucket("out"), names, job, asOf); err != nil {
		t.Fatalf("remove %d names: %v", len(names), err)
	}
	for _, name := range []string{names[0], names[len(names)-1]} {
		if _, err := st.Head(t.Context(), store.NewBucket("out"), name); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s after the removal: %v, want not found", name[len(name)-12:], err)
		}
	}
}

// inputHoldingStore holds each read of one bucket until released.
type inputHoldingStore struct {
	store.Store
	bucket  string
	opened  chan struct{}
	release chan struct{}
}

func (h inputHoldingStore) Open(ctx context.Context, b store.Bucket, name string, opts store.OpenOptions) (store.Object, error) {
	if b.Name == h.bucket {
		select {
		case h.opened <- struct{}{}:
		default:
		}
		<-h.release
	}
	return h.Store.Open(ctx, b, name, opts)
}

// A mountpath disabled while a job reads its input aborts the job,
// naming it: its shards there would read as missing, and by the default
// of missing_shards be dropped without a word.
func TestMountpathDisabledDuringExtractAbortsTheJob(t *testing.T) {
	opened, release := make(chan struct{}, 1), make(chan struct{})
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.Store = inputHoldingStore{Store: cfg.Store, bucket: "src", opened: opened, release: release}
	}})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	putDataset(t, client, "src", datasets.Spec{Template: "in-{0..3}.tar", Records: 4, RecordSize: 500, Seed: 3})
	id, err := client.DsortStart(ctx, []byte(`{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":"in-{0..3}.tar"},"output_format":"out-{000..999}.tar","output_shard_size":"1MiB"}`))
	if err != nil {
		close(release)
		t.Fatal(err)
	}
	select {
	case <-opened:
	case <-time.After(30 * time.Second):
		close(release)
		t.Fatal("the job read no input")
	}
	c.Primary().Node.MountpathChanged("/mnt/disk9", "disabled", "I/O errors")
	close(release)
	sum := waitDsort(t, client, id)
	if !sum.Aborted || !strings.Contains(strings.Join(sum.Metrics.Errors, " "), "/mnt/disk9") {
		t.Fatalf("a job whose input disk went: %+v, want aborted naming the mountpath", sum)
	}
}

// A job that did not start removes the output bucket it made, unless
// another job started into it meanwhile (empty while that one extracts).
func TestFailedStartLeavesAnotherJobsOutput(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, NoSync: true})
	ctx := t.Context()
	client := c.Client()
	if err := client.CreateBucket(ctx, "shared", nil); err != nil {
		t.Fatal(err)
	}
	n := c.Primary().Node
	other := membership.Job{ID: "srt-y", Coordinator: n.ID(), Output: store.NewBucket("shared"), Started: time.Now().UnixNano()}
	if err := gateway.Propose(ctx, n, membership.Change{Kind: membership.JobStarted, Job: other}); err != nil {
		t.Fatal(err)
	}
	if err := gateway.DestroyJobOutput(ctx, n, store.NewBucket("shared"), "srt-x"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.BucketProps(ctx, "shared"); err != nil {
		t.Fatalf("the output bucket of another running job: %v", err)
	}
	if err := gateway.Propose(ctx, n, membership.Change{Kind: membership.JobEnded, Job: membership.Job{ID: "srt-y", State: membership.JobAborted}}); err != nil {
		t.Fatal(err)
	}
	if err := gateway.DestroyJobOutput(ctx, n, store.NewBucket("shared"), "srt-x"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.BucketProps(ctx, "shared"); !errors.Is(err, api.ErrBucketNotFound) {
		t.Fatalf("the output bucket once no other job writes into it: %v", err)
	}
}

// A file put into a dSort output shard makes it the user's: the job's
// marker goes, so that the job's cleanup (an abort, a settle) leaves it.
func TestFilePutIntoAnOutputShardDropsTheJobMarker(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	putDataset(t, client, "src", datasets.Spec{Template: "in-{0..1}.tar", Records: 4, RecordSize: 500, Seed: 3})
	id, err := client.DsortStart(ctx, []byte(`{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":"in-{0..1}.tar"},"output_format":"out-{000..999}.tar","output_shard_size":"1MiB"}`))
	if err != nil {
		t.Fatal(err)
	}
	if sum := waitDsort(t, client, id); !sum.Archived {
		t.Fatalf("job ended %+v", sum)
	}
	meta, err := client.Head(ctx, "dst", "out-000.tar")
	if err != nil || meta.Custom[pipeline.CustomJob] != id {
		t.Fatalf("the output shard's marker: %v %v", meta.Custom, err)
	}
	if _, err := client.Put(ctx, "dst", "out-000.tar", strings.NewReader("x"), api.PutOptions{Size: 1, ArchPath: "added.txt"}); err != nil {
		t.Fatal(err)
	}
	meta, err = client.Head(ctx, "dst", "out-000.tar")
	if err != nil || meta.Custom[pipeline.CustomJob] != "" || meta.Custom[pipeline.CustomAttempt] != "" {
		t.Fatalf("the shard the user wrote into keeps the job's marker: %v %v", meta.Custom, err)
	}
}

// A job over an ais:// input does not start while a target that may hold
// input shards is away (each target reads the shards it owns from its
// own disks): 503, not a job that drops their records without a word.
func TestDsortWaitsForASettledCluster(t *testing.T) {
	defer gateway.SetDsortSettleWait(300 * time.Millisecond)()
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	putDataset(t, client, "src", datasets.Spec{Template: "in-{00..09}.tar", Records: 5, RecordSize: 500, Extensions: []string{".jpg"}, Seed: 1})
	c.Kill(c.Targets()[1])
	spec := `{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":"in-{00..09}.tar"},"output_format":"out-{000..999}.tar","output_shard_size":"50KiB"}`
	if _, err := client.DsortStart(ctx, []byte(spec)); !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "settled") {
		t.Fatalf("dsort start with a target away: %v, want 503", err)
	}
}

// A job run again on fewer targets (one lost during extraction), whose
// coordinator died before the registry recorded its end, is settled by
// the attempt that finished: the target it no longer ran on, listed by
// the registry since the start, loses no part of it, and the output
// stays whole.
func TestSettleJudgesTheAttemptThatFinished(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	putDataset(t, client, "src", datasets.Spec{Template: "in-{00..05}.tar", Records: 20, RecordSize: 2000, Seed: 4})
	id, targets := finishedJob(t, c)
	written := outputCount(t, c, "dst")
	// The registry names a third target of the first attempt, gone since.
	if !gateway.SettleJob(ctx, c.Primary().Node, id, store.Bucket{Provider: "ais", Name: "dst"}, append(targets, "t-gone"), "the test's cause") {
		t.Fatal("the finished job was not settled")
	}
	if got := outputCount(t, c, "dst"); got != written || written == 0 {
		t.Fatalf("%d output shards after the settle, want the %d written", got, written)
	}
}

// The first target of a finished job asked may have restarted since: it
// knows the job by its mark only, without the attempt's targets, and
// another is asked (taken for the registry's list, the target the job
// no longer ran on counted lost, and the whole output went).
func TestSettleAsksPastATargetThatRestarted(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true,
		KeepaliveInterval: 100 * time.Millisecond, KeepaliveTimeout: time.Second})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	putDataset(t, client, "src", datasets.Spec{Template: "in-{00..05}.tar", Records: 20, RecordSize: 2000, Seed: 4})
	// Its end not recorded: the targets keep their finished marks.
	id, targets, _ := unrecordedFinishedJob(t, c)
	written := outputCount(t, c, "dst")
	victim := c.Targets()[0]
	if victim.Node.ID() != targets[0] {
		t.Fatalf("the first target %s is not the first the registry lists (%v)", victim.Node.ID(), targets)
	}
	c.Kill(victim)
	c.WaitForState(victim.Node.ID(), cluster.StateOffline)
	back := c.Restart(victim)
	c.WaitRebalance(c.WaitForState(back.Node.ID(), cluster.StateActive).Version)
	if !gateway.SettleJob(ctx, c.Primary().Node, id, store.Bucket{Provider: "ais", Name: "dst"}, append(targets, "t-gone"), "the test's cause") {
		t.Fatal("the finished job was not settled")
	}
	if got := outputCount(t, c, "dst"); got != written || written == 0 {
		t.Fatalf("%d output shards after the settle, want the %d written", got, written)
	}
}

// The removal of an aborted job's output with a target silent removes
// what it can and fails naming why (its caller asks again), rather than
// answer done with the silent target's shards left to come back.
func TestJobOutputRemovalWithATargetSilentFails(t *testing.T) {
	// The target answers removals, not the gateway's status question.
	var silentHost atomic.Pointer[string]
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.Transport = statusCut{api.NewTransport(), &silentHost}
	}})
	if err := c.Client().CreateBucket(t.Context(), "out", nil); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(c.Targets()[1].URL(), "http://")
	silentHost.Store(&host)
	err := gateway.RemoveAllOfJob(t.Context(), c.Primary().Node, store.NewBucket("out"), "srt-gone")
	if !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "did not answer") {
		t.Fatalf("a removal with a target silent: %v, want unavailable naming it", err)
	}
}

// statusCut fails the status questions to the host it names.
type statusCut struct {
	next http.RoundTripper
	host *atomic.Pointer[string]
}

func (c statusCut) RoundTrip(r *http.Request) (*http.Response, error) {
	if host := c.host.Load(); host != nil && r.URL.Host == *host && strings.HasSuffix(r.URL.Path, "/internal/status") {
		return nil, fmt.Errorf("%s does not answer its status", *host)
	}
	return c.next.RoundTrip(r)
}

// A job id that is no id (a path's dots) is a 400 naming it, not sent on
// to the targets (whose answer was a redirect to another path).
func TestDsortJobIDsAreChecked(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	for _, rq := range []struct{ method, path string }{
		{http.MethodGet, "/v1/sort?uuid=."},
		{http.MethodDelete, "/v1/sort/abort?uuid=.."},
		{http.MethodDelete, "/v1/sort?uuid=.."},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), rq.method, c.Primary().URL()+rq.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "job id") {
			t.Errorf("%s %s: %d %s, want 400 naming the job id", rq.method, rq.path, resp.StatusCode, body)
		}
	}
}

// An ended job's metrics come from the registry when the targets that
// answer forgot it (restarted) and another fails to answer: not that
// target's error (the job is over whatever it holds).
func TestEndedJobsMetricsWithATargetDown(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	putDataset(t, client, "src", datasets.Spec{Template: "in-{00..05}.tar", Records: 5, RecordSize: 500, Seed: 4})
	id, _ := finishedJob(t, c)
	targets := c.Targets()
	// One restarted: it forgot the job (jobs live in memory).
	c.Kill(targets[0])
	c.WaitForState(targets[0].Node.ID(), cluster.StateOffline)
	back := c.Restart(targets[0])
	c.WaitForState(back.Node.ID(), cluster.StateActive)
	// The other down, still in the map (not offline yet). Asked once
	// (the Go client would retry a 503 until it is offline).
	c.Kill(targets[1])
	resp, err := http.Get(c.Primary().URL() + "/v1/sort?uuid=" + id)
	if err != nil {
		t.Fatal(err)
	}
	var metrics map[string]api.DsortJobInfo
	err = json.NewDecoder(resp.Body).Decode(&metrics)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("the metrics of an ended job with one target restarted and one down: %s %v", resp.Status, err)
	}
	if sum := api.DsortSummary(metrics); !sum.Archived || sum.Aborted {
		t.Fatalf("the ended job reads %+v", sum)
	}
}

// The output bucket a job makes takes the input's protection, checked
// as any new bucket's is: more copies than a target's mountpaths now is
// refused at the start, not found out at every shard's write. (Detached,
// not disabled: a job waits for a disk away.)
func TestDsortOutputProtectionIsChecked(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, Mountpaths: 2, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "src", map[string]any{"mirror": map[string]any{"enabled": true, "copies": 2}}); err != nil {
		t.Fatal(err)
	}
	putDataset(t, client, "src", datasets.Spec{Template: "in-{0..1}.tar", Records: 4, RecordSize: 100, Seed: 3})
	target := c.Targets()[0]
	mps, err := client.Mountpaths(ctx, target.URL())
	if err != nil || len(mps) != 2 {
		t.Fatalf("mountpaths: %v %v", mps, err)
	}
	id, err := client.MountpathAction(ctx, target.URL(), api.ActionDetachMountpath, mps[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	waitJob(t, client, id)
	_, err = client.DsortStart(ctx, []byte(`{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":"in-{0..1}.tar"},"output_format":"out-{0..9}.tar","output_shard_size":"1MiB"}`))
	if !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "mirror.copies") {
		t.Fatalf("a job whose output would have more copies than mountpaths: %v, want 400 naming mirror.copies", err)
	}
	if _, err := client.BucketProps(ctx, "dst"); !errors.Is(err, api.ErrBucketNotFound) {
		t.Fatalf("the refused output bucket: %v, want not made", err)
	}
}

// A dSort job whose output shards a running job writes (a start sent
// again, a spec run twice) is refused, 409: its shards would replace the
// other's, and an abort of either remove them. Other names start.
func TestDsortWritingARunningJobsShardsIsRefused(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	putDataset(t, client, "src", datasets.Spec{Template: "in-{0..2}.tar", Records: 5, RecordSize: 500, Seed: 1})
	var targets []string
	for _, m := range c.Targets() {
		targets = append(targets, m.Node.ID())
	}
	end, err := gateway.RegisterDsortJob(ctx, c.Primary().Node, pipeline.JobRegistration{ID: "running-one", Output: store.NewBucket("dst"), Targets: targets, Started: time.Now(), Names: "out-{0..99}.tar"})
	if err != nil {
		t.Fatal(err)
	}
	spec := `{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":"in-{0..2}.tar"},"output_format":%q,"output_shard_size":"10KiB"}`
	_, err = client.DsortStart(ctx, []byte(fmt.Sprintf(spec, "out-{0..99}.tar")))
	if !errors.Is(err, api.ErrJobBusy) || !strings.Contains(err.Error(), "running-one") {
		t.Fatalf("a job writing the shards of a running one: %v, want 409 naming it", err)
	}
	// A dry run writes nothing: it runs beside.
	dry := `{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":"in-{0..2}.tar"},"output_format":"out-{0..99}.tar","output_shard_size":"10KiB","dry_run":true}`
	id, err := client.DsortStart(ctx, []byte(dry))
	if err != nil {
		t.Fatalf("a dry run of the running job's output: %v", err)
	}
	if sum := waitDsort(t, client, id); sum.Aborted {
		t.Fatalf("a dry run of the running job's output: %+v", sum)
	}
	id, err = client.DsortStart(ctx, []byte(fmt.Sprintf(spec, "val-{0..99}.tar")))
	if err != nil {
		t.Fatalf("a job of other output names: %v", err)
	}
	if sum := waitDsort(t, client, id); sum.Aborted {
		t.Fatalf("a job of other output names: %+v", sum)
	}
	end()
	id, err = client.DsortStart(ctx, []byte(fmt.Sprintf(spec, "out-{0..99}.tar")))
	if err != nil {
		t.Fatalf("the job once the other ended: %v", err)
	}
	if sum := waitDsort(t, client, id); sum.Aborted {
		t.Fatalf("the job once the other ended: %+v", sum)
	}
}

// While the registry has a job running, no target's creation reads as
// finished (AIStore's clients wait on every target's), and a target that
// does not answer is shown, not finished, rather than left out: the
// others' finished parts are not the job's finish.
func TestRunningJobsMetricsDoNotReadFinished(t *testing.T) {
	jobWhoseCoordinatorDied(t, func(c *gatewaytest.Cluster) {
		client := api.NewClient(c.Primary().URL())
		jobs, err := client.DsortList(t.Context(), "", false)
		if err != nil || len(jobs) != 1 {
			t.Fatalf("the jobs: %+v %v, want one", jobs, err)
		}
		id := jobs[0].ID
		finished := func(metrics map[string]api.DsortJobInfo) []string {
			var out []string
			for t, m := range metrics {
				if m.Metrics.Creation.Finished || m.Archived {
					out = append(out, t)
				}
			}
			return out
		}
		metrics, err := client.DsortMetrics(t.Context(), id)
		if err != nil || len(metrics) != 3 || len(finished(metrics)) > 0 {
			t.Fatalf("the metrics of a job the registry has running: %d targets (%v), finished on %v; want 3, none", len(metrics), err, finished(metrics))
		}
		// AIStore's status of the job says the same: not ended.
		status, body, _ := call(t, http.MethodGet, c.Primary().URL()+"/v1/cluster?what=status", nil, `{"id":"`+id+`"}`)
		var js api.AISJobStatus
		if status != http.StatusOK || json.Unmarshal(body, &js) != nil || js.EndTime != 0 || js.Aborted {
			t.Fatalf("what=status of a job the registry has running: %d %s, want no end time", status, body)
		}
		victim := c.Targets()[2]
		c.Kill(victim)
		metrics, err = client.DsortMetrics(t.Context(), id)
		if err != nil || len(finished(metrics)) > 0 {
			t.Fatalf("the metrics with a target killed: %v, finished on %v", err, finished(metrics))
		}
		// (Shown while the map has it: once offline, it is not asked.)
		if _, shown := metrics[victim.Node.ID()]; !shown {
			if node, _ := c.Primary().Node.Map().Node(victim.Node.ID()); node.State == cluster.StateActive {
				t.Fatalf("the metrics with target %s killed: %d targets, want the silent one shown", victim.Node.ID(), len(metrics))
			}
		}
	})
}
