package gateway_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/store"
)

// Golden tests of the shapes AIStore's own clients read: they decode the
// raw JSON, as those clients do, and check the integers AIStore writes as
// strings explicitly.

// call sends a request and returns the status, body and headers.
func call(t *testing.T, method, url string, header http.Header, body string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data, resp.Header
}

// object decodes a JSON object into its raw fields.
func object(t *testing.T, data []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %.300s", err, data)
	}
	return m
}

// stringInt checks that a raw value is a JSON string holding an integer
// and returns it.
func stringInt(t *testing.T, what string, raw json.RawMessage) int64 {
	t.Helper()
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("%s is %s: want an integer as a JSON string", what, raw)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%s is %q: want an integer", what, s)
	}
	return v
}

func putObjects(t *testing.T, client *api.Client, bucket string, objects map[string]string) {
	t.Helper()
	for name, data := range objects {
		if _, err := client.Put(t.Context(), bucket, name, strings.NewReader(data), api.PutOptions{Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSmapAndBMDInAIStoreShape(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2})
	if err := c.Client().CreateBucket(t.Context(), "imgs", nil); err != nil {
		t.Fatal(err)
	}
	primary := c.Primary()
	for _, url := range []string{primary.URL() + "/v1/cluster?what=smap", primary.URL() + "/v1/daemon?what=smap", c.Targets()[0].URL() + "/v1/daemon?what=smap"} {
		status, body, _ := call(t, http.MethodGet, url, nil, "")
		if status != http.StatusOK {
			t.Fatalf("%s: %d %s", url, status, body)
		}
		smap := object(t, body)
		if v := stringInt(t, "smap version", smap["version"]); v < 1 {
			t.Fatalf("%s: version %d", url, v)
		}
		var uuid, created string
		json.Unmarshal(smap["uuid"], &uuid)
		json.Unmarshal(smap["creation_time"], &created)
		if uuid == "" || created == "" {
			t.Fatalf("%s: uuid %q, creation_time %q", url, uuid, created)
		}
		var pmap, tmap map[string]map[string]json.RawMessage
		if json.Unmarshal(smap["pmap"], &pmap) != nil || json.Unmarshal(smap["tmap"], &tmap) != nil || len(pmap) != 1 || len(tmap) != 2 {
			t.Fatalf("%s: pmap %s, tmap %s", url, smap["pmap"], smap["tmap"])
		}
		for id, node := range tmap {
			var daemonID, daemonType string
			json.Unmarshal(node["daemon_id"], &daemonID)
			json.Unmarshal(node["daemon_type"], &daemonType)
			if daemonID != id || daemonType != "target" {
				t.Fatalf("tmap[%s]: daemon_id %q, daemon_type %q", id, daemonID, daemonType)
			}
			for _, network := range []string{"public_net", "intra_control_net", "intra_data_net"} {
				var net struct {
					Host string `json:"node_ip_addr"`
					Port string `json:"daemon_port"`
					URL  string `json:"direct_url"`
				}
				if json.Unmarshal(node[network], &net) != nil || net.Host != "127.0.0.1" || net.Port == "" || !strings.HasPrefix(net.URL, "http://127.0.0.1:"+net.Port) {
					t.Fatalf("tmap[%s].%s: %s", id, network, node[network])
				}
			}
			var digest uint64
			if json.Unmarshal(node["id_digest"], &digest) != nil || digest == 0 || string(node["flags"]) != "0" {
				t.Fatalf("tmap[%s]: id_digest %s, flags %s", id, node["id_digest"], node["flags"])
			}
		}
		var primarySI struct {
			ID   string `json:"daemon_id"`
			Type string `json:"daemon_type"`
		}
		if json.Unmarshal(smap["proxy_si"], &primarySI) != nil || primarySI.ID != primary.Node.ID() || primarySI.Type != "proxy" {
			t.Fatalf("%s: proxy_si %s", url, smap["proxy_si"])
		}
	}
	// AIS-Go's own client reads the same shape.
	m, err := c.Client().Map(t.Context())
	if err != nil || len(m.Nodes) != 3 || m.Primary != primary.Node.ID() || len(m.ActiveTargets()) != 2 {
		t.Fatalf("client map %+v, %v", m, err)
	}

	for _, url := range []string{primary.URL() + "/v1/cluster?what=bmd", primary.URL() + "/v1/daemon?what=bmd"} {
		status, body, _ := call(t, http.MethodGet, url, nil, "")
		if status != http.StatusOK {
			t.Fatalf("%s: %d %s", url, status, body)
		}
		bmd := object(t, body)
		stringInt(t, "bmd version", bmd["version"])
		var providers map[string]map[string]map[string]map[string]json.RawMessage
		if err := json.Unmarshal(bmd["providers"], &providers); err != nil {
			t.Fatalf("%s: providers %s: %v", url, bmd["providers"], err)
		}
		props, ok := providers["ais"]["@#"]["imgs"]
		if !ok {
			t.Fatalf("%s: no ais/@#/imgs in %s", url, bmd["providers"])
		}
		if stringInt(t, "created", props["created"]) <= 0 || stringInt(t, "bid", props["bid"]) == 0 {
			t.Fatalf("created %s, bid %s", props["created"], props["bid"])
		}
	}

	status, body, _ := call(t, http.MethodGet, c.Targets()[0].URL()+"/v1/daemon?what=snode", nil, "")
	snode := object(t, body)
	if status != http.StatusOK || string(snode["daemon_type"]) != `"target"` || string(snode["daemon_id"]) != strconv.Quote(c.Targets()[0].Node.ID()) {
		t.Fatalf("snode: %d %s", status, body)
	}
	status, body, _ = call(t, http.MethodGet, primary.URL()+"/v1/daemon?what=nonsense", nil, "")
	if status != http.StatusBadRequest || !strings.Contains(string(body), "node_status") || !strings.Contains(string(body), "snode") {
		t.Fatalf("unknown what on /v1/daemon: %d %s", status, body)
	}
	status, body, _ = call(t, http.MethodGet, primary.URL()+"/v1/cluster?what=nonsense", nil, "")
	if status != http.StatusBadRequest || !strings.Contains(string(body), "qryxstats") {
		t.Fatalf("unknown what on /v1/cluster: %d %s", status, body)
	}
}

func TestNodeStatusThroughReverse(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, Mountpaths: 2})
	target := c.Targets()[1]
	url := c.Primary().URL() + "/v1/reverse/daemon?what=node_status"
	status, body, _ := call(t, http.MethodGet, url, http.Header{api.HeaderNodeID: {target.Node.ID()}}, "")
	if status != http.StatusOK {
		t.Fatalf("node_status: %d %s", status, body)
	}
	ns := object(t, body)
	var snode struct {
		ID string `json:"daemon_id"`
	}
	json.Unmarshal(ns["snode"], &snode)
	if snode.ID != target.Node.ID() {
		t.Fatalf("node_status of %s answered by %s", target.Node.ID(), snode.ID)
	}
	if stringInt(t, "uptime", ns["uptime"]) <= 0 || stringInt(t, "smap_version", ns["smap_version"]) < 1 {
		t.Fatalf("uptime %s, smap_version %s", ns["uptime"], ns["smap_version"])
	}
	var sys struct {
		MemAvail uint64 `json:"mem_avail"`
		CPUs     int    `json:"num_cpu"`
	}
	if json.Unmarshal(ns["sys_info"], &sys) != nil || sys.MemAvail == 0 || sys.CPUs == 0 {
		t.Fatalf("sys_info %s", ns["sys_info"])
	}
	capacity := object(t, ns["capacity"])
	var mountpaths map[string]map[string]json.RawMessage
	if json.Unmarshal(capacity["mountpaths"], &mountpaths) != nil || len(mountpaths) != 2 {
		t.Fatalf("capacity %s: want 2 mountpaths", ns["capacity"])
	}
	for path, mp := range mountpaths {
		if stringInt(t, path+" avail", mp["avail"]) <= 0 || string(mp["state"]) != `"enabled"` {
			t.Fatalf("mountpath %s: %v", path, mp)
		}
		stringInt(t, path+" used", mp["used"])
	}
	// Both mountpaths are directories of one filesystem: its bytes count
	// once in the totals.
	var avail []int64 // (read one after the other: other writers may come between)
	for path, mp := range mountpaths {
		avail = append(avail, stringInt(t, path+" avail", mp["avail"]))
	}
	if total := stringInt(t, "total_avail", capacity["total_avail"]); !slices.Contains(avail, total) {
		t.Fatalf("total_avail %d of 2 mountpaths on one filesystem with %v available", total, avail)
	}

	// disk and mountpaths go the same way; the gateway answers for itself.
	for _, what := range []string{"disk", "mountpaths"} {
		if status, body, _ := call(t, http.MethodGet, c.Primary().URL()+"/v1/reverse/daemon?what="+what, http.Header{api.HeaderNodeID: {target.Node.ID()}}, ""); status != http.StatusOK || len(body) < 10 {
			t.Fatalf("%s: %d %s", what, status, body)
		}
	}
	if status, body, _ := call(t, http.MethodGet, c.Primary().URL()+"/v1/reverse/daemon?what=snode", http.Header{api.HeaderNodeID: {c.Primary().Node.ID()}}, ""); status != http.StatusOK || !strings.Contains(string(body), `"proxy"`) {
		t.Fatalf("the gateway's own snode: %d %s", status, body)
	}
	if status, body, _ := call(t, http.MethodGet, url, nil, ""); status != http.StatusBadRequest || !strings.Contains(string(body), api.HeaderNodeID) {
		t.Fatalf("no node named: %d %s", status, body)
	}
	if status, _, _ := call(t, http.MethodGet, url, http.Header{api.HeaderNodeID: {"nobody"}}, ""); status != http.StatusNotFound {
		t.Fatalf("an unknown node: %d", status)
	}
}

// waitJobSnaps polls what=qryxstats until the job runs nowhere and returns its
// snapshots.
func waitJobSnaps(t *testing.T, gatewayURL, id string) api.JobSnaps {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, body, _ := call(t, http.MethodGet, gatewayURL+"/v1/cluster?what=qryxstats", nil, `{"id":"`+id+`"}`)
		if status != http.StatusOK {
			t.Fatalf("qryxstats %s: %d %s", id, status, body)
		}
		var snaps api.JobSnaps
		if err := json.Unmarshal(body, &snaps); err != nil {
			t.Fatal(err)
		}
		running := false
		for _, list := range snaps {
			for _, s := range list {
				running = running || s.Running
			}
		}
		if !running {
			return snaps
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still runs: %s", id, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A job id drawn that a target holds already (another job's, kept
// since it ended) is drawn again: the start succeeds under a new id, and
// the other job stays as it was, not aborted by the rollback.
func TestClusterJobIDTakenIsDrawnAgain(t *testing.T) {
	var draws atomic.Int32
	defer gateway.SetNewJobID(func(kind string) string {
		if draws.Add(1) <= 2 {
			return kind + "-taken"
		}
		return kind + "-fresh"
	})()
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2})
	client := c.Client()
	if err := client.CreateBucket(t.Context(), "sum", nil); err != nil {
		t.Fatal(err)
	}
	putObjects(t, client, "sum", map[string]string{"a": "1", "b": "22"})
	for i := range 2 {
		sums, err := client.BucketSummary(t.Context(), "sum", api.SummaryMessage{}, 50*time.Millisecond)
		if err != nil || len(sums) != 1 || sums[0].ObjCount.Present != 2 {
			t.Fatalf("a summary: %+v, %v", sums, err)
		}
		if i == 0 {
			// The first target forgets it (restarted, say): the id is
			// taken on the second only, and the first starts the new
			// job before the second refuses it.
			first := c.Targets()[0]
			req, _ := http.NewRequest(http.MethodDelete, first.URL()+"/v1/internal/jobs/summary-taken?remove=true", nil)
			resp, err := c.PeerClient("g1").Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("forget the job on %s: %s", first.Node.ID(), resp.Status)
			}
		}
	}
	if n := draws.Load(); n != 3 {
		t.Fatalf("%d ids drawn for two jobs, want 3 (the taken one drawn again once)", n)
	}
	status, body, _ := call(t, http.MethodGet, c.Primary().URL()+"/v1/cluster?what=qryxstats", nil, `{"id":"summary-taken"}`)
	var snaps api.JobSnaps
	if status != http.StatusOK || json.Unmarshal(body, &snaps) != nil || len(snaps) != 1 {
		t.Fatalf("the first job: %d %s, want its part on the second target alone", status, body)
	}
	for target, list := range snaps {
		for _, s := range list {
			if s.Aborted {
				t.Fatalf("the job whose id was drawn again was aborted on %s: %+v", target, s)
			}
		}
	}
}

func TestBucketSummaryAndJobSnapshots(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2})
	client := c.Client()
	if err := client.CreateBucket(t.Context(), "sum", nil); err != nil {
		t.Fatal(err)
	}
	objects := map[string]string{}
	var size int
	for i := range 12 {
		objects[fmt.Sprintf("o-%02d", i)] = strings.Repeat("x", 100+i)
		size += 100 + i
	}
	putObjects(t, client, "sum", objects)

	url := c.Primary().URL() + "/v1/buckets/sum"
	status, body, header := call(t, http.MethodGet, url, nil, `{"action":"summary-bck","value":{"prefix":""}}`)
	id := header.Get(api.HeaderXactionID)
	if status != http.StatusAccepted || id == "" || string(body) != id {
		t.Fatalf("summary-bck: %d %q, id %q", status, body, id)
	}
	var summaries []map[string]json.RawMessage
	for deadline := time.Now().Add(30 * time.Second); ; {
		status, body, _ = call(t, http.MethodGet, url, nil, `{"action":"summary-bck","value":{"uuid":"`+id+`"}}`)
		if status == http.StatusOK {
			break
		}
		if status != http.StatusAccepted || time.Now().After(deadline) {
			t.Fatalf("summary poll: %d %s", status, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := json.Unmarshal(body, &summaries); err != nil || len(summaries) != 1 {
		t.Fatalf("summary: %s", body)
	}
	s := summaries[0]
	count, sizes := object(t, s["ObjCount"]), object(t, s["TotalSize"])
	if string(s["name"]) != `"sum"` || stringInt(t, "obj_count_present", count["obj_count_present"]) != 12 ||
		stringInt(t, "size_all_present_objs", sizes["size_all_present_objs"]) != int64(size) ||
		stringInt(t, "size_on_disk", sizes["size_on_disk"]) < int64(size) || stringInt(t, "total_disks_size", sizes["total_disks_size"]) <= 0 {
		t.Fatalf("summary %s", body)
	}

	// The job shows in the snapshots, per target.
	status, body, _ = call(t, http.MethodGet, c.Primary().URL()+"/v1/cluster?what=qryxstats", nil, `{"kind":"summary","bck":{"name":"sum","provider":"ais"}}`)
	if status != http.StatusOK {
		t.Fatalf("qryxstats: %d %s", status, body)
	}
	var raw map[string][]map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || len(raw) != 2 {
		t.Fatalf("qryxstats: %s", body)
	}
	var counted int64
	for target, snaps := range raw {
		if len(snaps) != 1 {
			t.Fatalf("target %s: %d jobs", target, len(snaps))
		}
		snap := snaps[0]
		var bck api.Bck
		var start time.Time
		json.Unmarshal(snap["bck"], &bck)
		// AIStore's names (core.Snap): its Go client waits on a job
		// without start-time, and on one not is_idle.
		json.Unmarshal(snap["start-time"], &start)
		var end time.Time
		json.Unmarshal(snap["end-time"], &end)
		if string(snap["id"]) != strconv.Quote(id) || string(snap["kind"]) != `"summary"` || bck.Name != "sum" || bck.Provider != "ais" ||
			start.IsZero() || end.IsZero() || string(snap["running"]) != "false" || string(snap["aborted"]) != "false" || string(snap["is_idle"]) != "true" {
			t.Fatalf("target %s: snapshot %v", target, snap)
		}
		counted += stringInt(t, "stats.loc-objs", object(t, snap["stats"])["loc-objs"])
	}
	if counted < 12 {
		t.Fatalf("the targets counted %d objects, want 12 at least", counted)
	}
	if status, _, _ := call(t, http.MethodGet, c.Primary().URL()+"/v1/cluster?what=qryxstats", nil, `{"id":"summary-nosuchjob"}`); status != http.StatusNotFound {
		t.Fatalf("qryxstats of an unknown job: %d", status)
	}
	// One job's status, as AIStore's Python client waits on it (end_time
	// in nanoseconds, 0 while it runs).
	ended := id
	status, body, _ = call(t, http.MethodGet, c.Primary().URL()+"/v1/cluster?what=status", nil, `{"id":"`+id+`","kind":"summary"}`)
	var js api.AISJobStatus
	if status != http.StatusOK || json.Unmarshal(body, &js) != nil || js.UUID != id || js.EndTime == 0 || js.Aborted || js.Err != "" {
		t.Fatalf("what=status of the ended summary: %d %s", status, body)
	}
	if status, _, _ := call(t, http.MethodGet, c.Primary().URL()+"/v1/cluster?what=status", nil, `{"id":"summary-nosuchjob"}`); status != http.StatusNotFound {
		t.Fatalf("what=status of an unknown job: %d", status)
	}

	// HEAD with bsumm_remote: 202 with the id, then the summary in a header.
	status, _, header = call(t, http.MethodHead, url+"?bsumm_remote=true", nil, "")
	id = header.Get(api.HeaderXactionID)
	if status != http.StatusAccepted || id == "" || header.Get(api.HeaderBucketProps) == "" {
		t.Fatalf("HEAD bsumm_remote: %d %v", status, header)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		status, _, header = call(t, http.MethodHead, url+"?bsumm_remote=true&uuid="+id, nil, "")
		if status == http.StatusOK {
			break
		}
		if status != http.StatusAccepted || time.Now().After(deadline) {
			t.Fatalf("HEAD summary poll: %d", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// In AIStore's header, which its clients read the summary from.
	if api.HeaderBucketSumm != "Ais-Bucket-Summ" {
		t.Fatalf("the summary's header is %s, AIStore's apc.HdrBucketSumm is Ais-Bucket-Summ", api.HeaderBucketSumm)
	}
	info := object(t, []byte(header.Get(api.HeaderBucketSumm)))
	if stringInt(t, "obj_count_present", object(t, info["ObjCount"])["obj_count_present"]) != 12 {
		t.Fatalf("Ais-Bucket-Summ %s", header.Get(api.HeaderBucketSumm))
	}
	// Every bucket, from /v1/buckets/.
	status, _, header = call(t, http.MethodGet, c.Primary().URL()+"/v1/buckets/", nil, `{"action":"summary-bck"}`)
	if status != http.StatusAccepted || header.Get(api.HeaderXactionID) == "" {
		t.Fatalf("summary of every bucket: %d", status)
	}
	if status, body, _ := call(t, http.MethodGet, c.Primary().URL()+"/v1/buckets/nosuch", nil, `{"action":"summary-bck"}`); status != http.StatusNotFound || !strings.Contains(string(body), `"tcode":"ErrBckNotFound"`) {
		t.Fatalf("summary of a missing bucket: %d %s", status, body)
	}
	// A target that does not answer: the job's state there is unknown,
	// not ended.
	killed := c.Targets()[1]
	c.Kill(killed)
	if status, body, _ := call(t, http.MethodGet, c.Primary().URL()+"/v1/cluster?what=status", nil, `{"id":"`+ended+`"}`); status != http.StatusServiceUnavailable {
		t.Fatalf("what=status with a target silent: %d %s, want 503", status, body)
	}
	summary := `{"action":"summary-bck","value":{"uuid":"` + ended + `"}}`
	if status, body, _ := call(t, http.MethodGet, url, nil, summary); status != http.StatusServiceUnavailable || !strings.Contains(string(body), killed.Node.ID()) {
		t.Fatalf("the summary with a target of it silent: %d %s, want 503 naming it", status, body)
	}
	// Back without its part (a summary's is not kept across a restart):
	// the totals would be short, and the summary is not given: for good
	// (a 503 would have clients ask again without end).
	restarted := c.Restart(killed)
	if status, body, _ := call(t, http.MethodGet, url, nil, summary); status != http.StatusConflict || !strings.Contains(string(body), "run the summary again") {
		t.Fatalf("the summary with a target of it restarted: %d %s, want 409", status, body)
	}
	// Gone from the cluster: its objects moved to targets that may have
	// counted already.
	if err := c.Client().RemoveNode(t.Context(), restarted.Node.ID()); err != nil {
		t.Fatal(err)
	}
	waitOutOfTheMap(t, c.Client(), restarted.Node.ID())
	if status, body, _ := call(t, http.MethodGet, url, nil, summary); status != http.StatusConflict || !strings.Contains(string(body), "has left the cluster") {
		t.Fatalf("the summary with a target of it gone from the cluster: %d %s, want 409", status, body)
	}
	// Every target silent: unavailable, not an unknown job.
	c.Kill(restarted)
	c.Kill(c.Targets()[0])
	if status, body, _ := call(t, http.MethodGet, url, nil, summary); status != http.StatusServiceUnavailable {
		t.Fatalf("the summary with every target silent: %d %s, want 503", status, body)
	}
}

// A delete job fails, saying why, when the cluster's targets are not
// those the gateway started it on: each target deletes what it owns,
// and an object moving then would be deleted by none.
func TestDeleteFailsWhenTheTargetsChange(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	client := c.Client()
	if err := client.CreateBucket(t.Context(), "src", nil); err != nil {
		t.Fatal(err)
	}
	putObjects(t, client, "src", map[string]string{"o1": "1"})
	target := c.Targets()[0]
	peers := peer.NewClient(peer.ClientConfig{Auth: peer.NewAuth(c.Secret(), peer.Options{}), Node: c.Primary().Node.ID()})
	// Started on a target that is gone since.
	req := peer.JobRequest{ID: "del-targets-changed", Kind: "delete-listrange", Bucket: store.NewBucket("src"), Names: []string{"o1"},
		Targets: []string{target.Node.ID(), "t-gone"}}
	if err := peers.StartJob(t.Context(), cluster.Node{ID: target.Node.ID(), Role: cluster.RoleTarget, URL: target.URL()}, req); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		status, err := client.ClusterStatus(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(status.Nodes, func(n api.NodeStatus) bool { return n.ID == target.Node.ID() })
		if i >= 0 {
			if j := slices.IndexFunc(status.Nodes[i].Jobs, func(j api.JobStatus) bool { return j.ID == req.ID }); j >= 0 && !status.Nodes[i].Jobs[j].Running {
				if job := status.Nodes[i].Jobs[j]; !strings.Contains(job.Error, "targets changed during the job") {
					t.Fatalf("a delete started on targets that changed: %+v, want it failed saying why", job)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the delete job did not end")
		}
	}
}

// A copy job during which the cluster's targets change (an object moving
// then is copied by no target) does not report success: it fails, saying
// so, and the same copy run again once the rebalance ends copies all.
func TestCopyFailsWhenTheTargetsChange(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true})
	client := c.Client()
	if err := client.CreateBucket(t.Context(), "src", nil); err != nil {
		t.Fatal(err)
	}
	objects := map[string]string{}
	for i := range 40 {
		objects[fmt.Sprintf("o%02d", i)] = "v" + strconv.Itoa(i)
	}
	putObjects(t, client, "src", objects)
	first, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	gateway.SetAfterCopy(t, func() {
		once.Do(func() {
			close(first)
			<-resume
		})
	})
	// start starts the copy; jobErrors waits for its end and joins its
	// targets' errors.
	start := func() string {
		status, body, _ := call(t, http.MethodPost, c.Primary().URL()+"/v1/buckets/src?bck_to=ais://dst", nil, `{"action":"copy-bck","value":{}}`)
		if status != http.StatusOK {
			t.Fatalf("copy-bck: %d %s", status, body)
		}
		return string(body)
	}
	jobErrors := func(id string) (all string) {
		for _, list := range waitJobSnaps(t, c.Primary().URL(), id) {
			for _, s := range list {
				all += s.Err
			}
		}
		return all
	}
	id := start()
	select {
	case <-first:
	case <-time.After(20 * time.Second):
		t.Fatal("the copy copied nothing")
	}
	c.AddTarget()
	m := c.WaitForMap(4)
	close(resume)
	if failed := jobErrors(id); !strings.Contains(failed, "targets changed during the job") {
		t.Fatalf("a copy during which a target joined: errors %q, want it failed saying why", failed)
	}
	c.WaitRebalance(m.Version)
	if failed := jobErrors(start()); failed != "" {
		t.Fatalf("the copy again: %s", failed)
	}
	if names := listNames(t, client, "dst"); len(names) != len(objects) {
		t.Fatalf("dst has %d objects, want %d", len(names), len(objects))
	}
}

// A copy whose destination is destroyed and made again while it runs
// ends: it writes nothing into the new bucket of the name.
func TestCopyEndsWithItsDestination(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "src", nil); err != nil {
		t.Fatal(err)
	}
	objects := map[string]string{}
	for i := range 10 {
		objects[fmt.Sprintf("o%02d", i)] = "v" + strconv.Itoa(i)
	}
	putObjects(t, client, "src", objects)
	first, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	gateway.SetAfterCopy(t, func() {
		once.Do(func() {
			close(first)
			<-resume
		})
	})
	status, body, _ := call(t, http.MethodPost, c.Primary().URL()+"/v1/buckets/src?bck_to=ais://dst", nil, `{"action":"copy-bck","value":{}}`)
	if status != http.StatusOK {
		t.Fatalf("copy-bck: %d %s", status, body)
	}
	select {
	case <-first:
	case <-time.After(20 * time.Second):
		t.Fatal("the copy copied nothing")
	}
	if err := client.DestroyBucket(ctx, "dst"); err != nil {
		t.Fatal(err)
	}
	if err := client.CreateBucket(ctx, "dst", nil); err != nil {
		t.Fatal(err)
	}
	made, err := client.BucketProps(ctx, "dst")
	if err != nil {
		t.Fatal(err)
	}
	target := c.Targets()[0].Store
	eventually(t, func() bool {
		props, err := store.PropsOf(ctx, target, store.NewBucket("dst"))
		return err == nil && props.Created == made.Created
	}, "the target did not take the bucket made again")
	close(resume)
	var failed string
	for _, list := range waitJobSnaps(t, c.Primary().URL(), string(body)) {
		for _, s := range list {
			failed += s.Err
		}
	}
	if !strings.Contains(failed, "bucket ais://dst was destroyed") {
		t.Fatalf("a copy whose destination was made again: errors %q, want it ended saying why", failed)
	}
	if names := listNames(t, client, "dst"); len(names) > 0 {
		t.Fatalf("the copy wrote %v into the destination made again", names)
	}
}

// A job listing leaves out a target that did not answer: its answer
// names it (the console says a job read as ended may still run there);
// one offline in the map is not named (it ran no job since).
func TestJobListingNamesTargetsThatDidNotAnswer(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true, KeepaliveTimeout: time.Minute})
	listing := func() (int, string) {
		t.Helper()
		status, body, header := call(t, http.MethodGet, c.Primary().URL()+"/v1/cluster?what=qryxstats", nil, "")
		if status != http.StatusOK {
			t.Fatalf("qryxstats: %d %s", status, body)
		}
		return status, header.Get("Ais-Unanswered")
	}
	if _, silent := listing(); silent != "" {
		t.Fatalf("every target answered, the listing names %q", silent)
	}
	gone := c.Targets()[1]
	c.Kill(gone) // in the map still: its keepalive has a minute
	if _, silent := listing(); silent != gone.Node.ID() {
		t.Fatalf("the listing names %q as not answering, want %s", silent, gone.Node.ID())
	}
}

func TestDeleteAndCopyByListOrTemplate(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "src", nil); err != nil {
		t.Fatal(err)
	}
	objects := map[string]string{}
	for i := range 10 {
		objects[fmt.Sprintf("a/obj-%d", i)] = "a" + strconv.Itoa(i)
		objects[fmt.Sprintf("b/obj-%d", i)] = "b" + strconv.Itoa(i)
	}
	putObjects(t, client, "src", objects)
	// A dSort job's output shard: the copy is the user's, unmarked.
	marked := gateway.OwnerWriter(c.Targets()[0].Node)
	if _, err := marked.PutToOwner(ctx, store.NewBucket("src"), "a/obj-3", []byte(objects["a/obj-3"]), map[string]string{pipeline.CustomJob: "srt-x", "label": "kept"}); err != nil {
		t.Fatal(err)
	}
	url := c.Primary().URL() + "/v1/buckets/src"

	// Copy the a/ prefix to a new bucket, as a job.
	status, body, header := call(t, http.MethodPost, url+"?bck_to=ais://dst", nil, `{"action":"copy-bck","value":{"prefix":"a/"}}`)
	if status != http.StatusOK || header.Get(api.HeaderXactionID) != string(body) {
		t.Fatalf("copy-bck: %d %s", status, body)
	}
	snaps := waitJobSnaps(t, c.Primary().URL(), string(body))
	var copied int64
	for _, list := range snaps {
		for _, s := range list {
			if s.Err != "" || s.Kind != "copy-bck" {
				t.Fatalf("copy job %+v", s)
			}
			copied += int64(s.Stats.Objects)
		}
	}
	if copied != 10 {
		t.Fatalf("copied %d objects, want 10", copied)
	}
	names := listNames(t, client, "dst")
	if len(names) != 10 || !strings.HasPrefix(names[0], "a/") {
		t.Fatalf("dst has %v", names)
	}
	if meta, err := client.Head(ctx, "dst", "a/obj-3"); err != nil || meta.Custom["label"] != "kept" || meta.Custom[pipeline.CustomJob] != "" {
		t.Fatalf("the copy of a job's output shard: %+v, %v", meta.Custom, err)
	}
	for _, name := range names {
		r, _, err := client.Get(ctx, "dst", name, api.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(r)
		r.Close()
		if string(data) != objects[name] {
			t.Fatalf("dst/%s is %q, want %q", name, data, objects[name])
		}
	}
	// copy-listrange by template.
	status, body, _ = call(t, http.MethodPost, url+"?bck_to=dst2", nil, `{"action":"copy-listrange","value":{"template":"b/obj-{0..2}"}}`)
	if status != http.StatusOK {
		t.Fatalf("copy-listrange: %d %s", status, body)
	}
	// Recorded under AIStore's kind for it.
	for _, snaps := range waitJobSnaps(t, c.Primary().URL(), string(body)) {
		for _, s := range snaps {
			if s.Kind != "copy-listrange" {
				t.Fatalf("copy-listrange recorded as %q", s.Kind)
			}
		}
	}
	if names := listNames(t, client, "dst2"); !slices.Equal(names, []string{"b/obj-0", "b/obj-1", "b/obj-2"}) {
		t.Fatalf("dst2 has %v", names)
	}
	// A dry run is a job AIStore's clients wait on: it counts what a copy
	// would move and writes nothing.
	status, body, _ = call(t, http.MethodPost, url+"?bck_to=dry", nil, `{"action":"copy-bck","value":{"prefix":"b/","dry_run":true}}`)
	if status != http.StatusOK || len(body) == 0 {
		t.Fatalf("copy-bck dry run: %d %q", status, body)
	}
	var counted int64
	for _, snaps := range waitJobSnaps(t, c.Primary().URL(), string(body)) {
		for _, s := range snaps {
			counted += int64(s.Stats.Objects)
		}
	}
	if counted != 10 {
		t.Fatalf("the dry run counted %d objects, want the 10 under b/", counted)
	}
	if _, err := client.BucketProps(ctx, "dry"); !errors.Is(err, api.ErrBucketNotFound) {
		t.Fatalf("the dry run's destination: %v, want not made", err)
	}
	// As AIStore's clients send it: the destination in the value (tobck).
	status, body, _ = call(t, http.MethodPost, url, nil, `{"action":"copy-listrange","value":{"objnames":["b/obj-3"],"tobck":{"name":"dst3","provider":"ais"}}}`)
	if status != http.StatusOK {
		t.Fatalf("copy-listrange to tobck: %d %s", status, body)
	}
	waitJobSnaps(t, c.Primary().URL(), string(body))
	if names := listNames(t, client, "dst3"); !slices.Equal(names, []string{"b/obj-3"}) {
		t.Fatalf("dst3 has %v", names)
	}
	// A destination of another namespace is not served (nor taken for the
	// global bucket of its name): a copy or an archive there is 501.
	for _, value := range []string{
		`{"action":"copy-listrange","value":{"objnames":["b/obj-4"],"tobck":{"name":"dst3","provider":"ais","namespace":{"uuid":"","name":"team1"}}}}`,
		`{"action":"copy-bck","value":{"tobck":{"name":"dst3","namespace":{"uuid":"other","name":""}}}}`,
	} {
		status, body, _ = call(t, http.MethodPost, url, nil, value)
		if status != http.StatusNotImplemented || !strings.Contains(string(body), "namespace") {
			t.Fatalf("%s: %d %s, want 501 naming the namespace", value, status, body)
		}
	}
	archive := `{"action":"archive","value":{"archname":"x.tar","objnames":["b/obj-4"],"tobck":{"name":"dst3","namespace":{"name":"team1"}}}}`
	if status, body, _ = call(t, http.MethodPut, url, nil, archive); status != http.StatusNotImplemented || !strings.Contains(string(body), "namespace") {
		t.Fatalf("an archive into another namespace: %d %s, want 501", status, body)
	}
	download := api.DownloadRequest{Type: api.DownloadSingle, Link: "http://127.0.0.1:1/f", ObjectName: "f", Bucket: api.Bck{Name: "dst3", Namespace: api.Namespace{Name: "team1"}}}
	if _, err := client.StartDownload(ctx, download); !errors.Is(err, api.ErrNotImplemented) {
		t.Fatalf("a download into another namespace: %v, want 501", err)
	}
	if names := listNames(t, client, "dst3"); !slices.Equal(names, []string{"b/obj-3"}) {
		t.Fatalf("dst3 after the refused copies has %v", names)
	}

	// Delete by names, by template, by prefix.
	for _, value := range []string{`{"objnames":["a/obj-0","a/obj-1","a/missing"]}`, `{"template":"a/obj-{2..4}"}`, `{"template":"b/"}`} {
		status, body, _ := call(t, http.MethodDelete, url, nil, `{"action":"delete-listrange","value":`+value+`}`)
		if status != http.StatusOK {
			t.Fatalf("delete-listrange %s: %d %s", value, status, body)
		}
		waitJobSnaps(t, c.Primary().URL(), string(body))
	}
	want := []string{"a/obj-5", "a/obj-6", "a/obj-7", "a/obj-8", "a/obj-9"}
	if names := listNames(t, client, "src"); !slices.Equal(names, want) {
		t.Fatalf("after the deletes src has %v, want %v", names, want)
	}
	// A range of names nobody has: each name's owner keeps its
	// tombstone, no other target writes one.
	status, body, _ = call(t, http.MethodDelete, url, nil, `{"action":"delete-listrange","value":{"template":"none-{00..29}"}}`)
	if status != http.StatusOK {
		t.Fatalf("delete-listrange of missing names: %d %s", status, body)
	}
	waitJobSnaps(t, c.Primary().URL(), string(body))
	smap := c.Primary().Node.Map()
	tombstones := 0
	for _, target := range c.Targets() {
		list, err := target.Store.Tombstones(ctx, store.NewBucket("src"))
		if err != nil {
			t.Fatal(err)
		}
		for _, ts := range list {
			if !strings.HasPrefix(ts.Name, "none-") {
				continue
			}
			tombstones++
			if owner, err := smap.Owner(cluster.Uname("ais", "src", ts.Name)); err != nil || owner.ID != target.Node.ID() {
				t.Errorf("target %s keeps a tombstone of %s, owned by %s", target.Node.ID(), ts.Name, owner.ID)
			}
		}
	}
	if tombstones != 30 {
		t.Fatalf("%d tombstones of the 30 missing names, want one each on its owner", tombstones)
	}

	// Bad input.
	for _, tc := range []struct{ method, query, body, want string }{
		{http.MethodDelete, "", `{"action":"delete-listrange","value":{}}`, "objnames or a template"},
		{http.MethodDelete, "", `{"action":"delete-listrange","value":{"template":"*"}}`, "selects every object"},
		{http.MethodDelete, "", `{"action":"delete-listrange","value":{"template":"a/{5..1}"}}`, "template"},
		{http.MethodDelete, "", `{"action":"delete-listrange","value":{"objnames":["../x"]}}`, "objnames"},
		{http.MethodDelete, "", `{"action":"delete-listrange","value":{"template":"x-%d"}}`, "counts up without end"},
		{http.MethodPost, "?bck_to=dst", `{"action":"copy-listrange","value":{"template":"x-%06d"}}`, "counts up without end"},
		{http.MethodDelete, "", `{"action":"evict-listrange","value":{"template":"a/"}}`, "not a remote bucket"},
		{http.MethodPost, "", `{"action":"copy-bck"}`, "destination bucket is missing"},
		{http.MethodPost, "?bck_to=src", `{"action":"copy-bck"}`, "is the source bucket"},
		{http.MethodPost, "?bck_to=..", `{"action":"copy-bck"}`, "bucket name"},
		{http.MethodPost, "?bck_to=dst", `{"action":"copy-bck","value":{"prepend":"x/"}}`, "prepend"},
		{http.MethodPost, "?bck_to=dst", `{"action":"copy-bck","value":{"latest-ver":true}}`, "latest-ver"},
	} {
		status, body, _ := call(t, tc.method, url+tc.query, nil, tc.body)
		if status != http.StatusBadRequest || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s %s: %d %s, want 400 naming %q", tc.method, tc.body, status, body, tc.want)
		}
	}
}

func listNames(t *testing.T, client *api.Client, bucket string) []string {
	t.Helper()
	var names []string
	for e, err := range client.ListAll(t.Context(), bucket, api.ListObjectsMessage{}) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, e.Name)
	}
	return names
}

func TestListInAIStoreShape(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2})
	client := c.Client()
	if err := client.CreateBucket(t.Context(), "ls", nil); err != nil {
		t.Fatal(err)
	}
	var shard bytes.Buffer
	tw, err := formats.Tar{}.NewWriter(&shard)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"s1.jpg", "s1.cls"} {
		tw.WriteHeader(&formats.Entry{Name: m, Size: 3})
		tw.Write([]byte("abc"))
	}
	tw.Close()
	putObjects(t, client, "ls", map[string]string{"top.txt": "t", "d/x": "xx", "d/y": "yy", "d/e/z": "z", "f/w": "w", "shard.tar": shard.String()})
	url := c.Primary().URL() + "/v1/buckets/ls"

	list := func(value, accept string) (int, []byte) {
		h := http.Header{}
		if accept != "" {
			h.Set("Accept", accept)
		}
		status, body, _ := call(t, http.MethodGet, url, h, `{"action":"list","value":`+value+`}`)
		return status, body
	}
	// Entry flags, copies, location, and atime in RFC822 by default.
	status, body := list(`{"props":"name,size,atime,copies,location","flags":"0"}`, "")
	var page struct {
		Entries []map[string]json.RawMessage `json:"entries"`
		Token   string                       `json:"continuation_token"`
		Flags   *uint32                      `json:"flags"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &page) != nil || len(page.Entries) != 6 || page.Flags == nil {
		t.Fatalf("list: %d %s", status, body)
	}
	for _, e := range page.Entries {
		var atime, location string
		json.Unmarshal(e["atime"], &atime)
		json.Unmarshal(e["location"], &location)
		if _, err := time.Parse(time.RFC822, atime); err != nil {
			t.Fatalf("%s: atime %q is not RFC822", e["name"], atime)
		}
		if string(e["flags"]) != "64" || string(e["copies"]) != "1" || !strings.HasPrefix(location, "t[") || !strings.Contains(location, ":mp[") {
			t.Fatalf("entry %v: want flags 64 (present), copies 1, a location", e)
		}
		stringInt(t, "size", e["size"])
	}
	// Props a target reads once per page, bounded: a list of a million
	// commas is refused, naming it, at the gateway and at a target.
	huge := strings.Repeat("x,", 600)
	status, body = list(`{"props":"`+huge+`name"}`, "")
	if status != http.StatusBadRequest || !strings.Contains(string(body), "props of 1204 bytes") {
		t.Fatalf("props of 1204 bytes: %d %s", status, body)
	}
	req, _ := http.NewRequest(http.MethodGet, c.Targets()[0].URL()+"/v1/internal/list/ls?props="+huge, nil)
	resp, err := c.PeerClient(c.Primary().Node.ID()).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "props of 1200 bytes") {
		t.Fatalf("props of 1200 bytes at a target: %s %s", resp.Status, body)
	}
	status, body = list(`{"props":"name,atime","time_format":"RFC3339"}`, "")
	var rfc3339 api.ListPage
	json.Unmarshal(body, &rfc3339)
	if _, err := time.Parse(time.RFC3339, rfc3339.Entries[0].Atime); status != http.StatusOK || err != nil {
		t.Fatalf("time_format RFC3339: %d %s", status, body)
	}
	if status, body := list(`{"time_format":"nonsense"}`, ""); status != http.StatusBadRequest || !strings.Contains(string(body), "time_format") {
		t.Fatalf("a bad time_format: %d %s", status, body)
	}

	// AIStore's bits (apc.LsNoRecursion, apc.LsNoDirs, apc.LsNotCached),
	// as its clients send them.
	if api.ListNoRecursion != 2048 || api.ListNoDirs != 8192 || api.ListNotCached != 512 {
		t.Fatalf("list flags %d, %d, %d; AIStore's are 2048, 8192, 512", api.ListNoRecursion, api.ListNoDirs, api.ListNotCached)
	}
	if status, body := list(`{"flags":"512"}`, ""); status != http.StatusBadRequest || !strings.Contains(string(body), "not-cached") {
		t.Fatalf("not-cached: %d %s, want refused", status, body)
	}
	// A gateway of an earlier build asks a target for one level with 512:
	// still one level (a rolling upgrade).
	var levels []string
	for _, target := range c.Targets() {
		req, _ = http.NewRequest(http.MethodGet, target.URL()+"/v1/internal/list/ls?flags=512", nil)
		resp, err = c.PeerClient(c.Primary().Node.ID()).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var entries []api.ListEntry
		err = json.NewDecoder(resp.Body).Decode(&entries)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("one level with an earlier build's flag, at a target: %s %v", resp.Status, err)
		}
		levels = append(levels, entryNames(entries)...)
	}
	if slices.Sort(levels); slices.Contains(levels, "d/x") || !slices.Contains(levels, "d/") {
		t.Fatalf("one level with an earlier build's flag, at the targets: %v", levels)
	}
	// The console sends them too.
	script, err := os.ReadFile("console/assets/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"listArchive": api.ListArchive, "listNoRecursion": api.ListNoRecursion, "listCached": api.ListCached, "entryIsDir": api.EntryIsDir} {
		if !strings.Contains(string(script), fmt.Sprintf("const %s = %d;", name, want)) {
			t.Errorf("the console's %s is not %d", name, want)
		}
	}
	// No recursion: one level, directories as entries; paging stays whole.
	want := []string{"d/", "f/", "shard.tar", "top.txt"}
	status, body = list(fmt.Sprintf(`{"flags":"%d"}`, api.ListNoRecursion), "")
	var level api.ListPage
	if json.Unmarshal(body, &level) != nil || status != http.StatusOK || !slices.Equal(entryNames(level.Entries), want) || level.Entries[0].Flags != api.EntryIsDir {
		t.Fatalf("no recursion: %s", body)
	}
	var paged []string
	for token := ""; ; {
		_, body = list(fmt.Sprintf(`{"flags":"%d","pagesize":1,"continuation_token":%q}`, api.ListNoRecursion, token), "")
		var p api.ListPage
		json.Unmarshal(body, &p)
		paged = append(paged, entryNames(p.Entries)...)
		if token = p.ContinuationToken; token == "" || len(paged) > 10 {
			break
		}
	}
	if !slices.Equal(paged, want) {
		t.Fatalf("no recursion a page at a time: %v, want %v", paged, want)
	}
	// Without the directories, a page at a time: pages of directories
	// only come back empty with a token, and no object is skipped.
	paged = nil
	for token, pages := "", 0; ; pages++ {
		_, body = list(fmt.Sprintf(`{"flags":"%d","pagesize":1,"continuation_token":%q}`, api.ListNoRecursion|api.ListNoDirs, token), "")
		var p api.ListPage
		json.Unmarshal(body, &p)
		paged = append(paged, entryNames(p.Entries)...)
		if token = p.ContinuationToken; token == "" || pages > 10 {
			break
		}
	}
	if want := []string{"shard.tar", "top.txt"}; !slices.Equal(paged, want) {
		t.Fatalf("no recursion, no directories, a page at a time: %v, want %v", paged, want)
	}
	_, body = list(fmt.Sprintf(`{"flags":"%d","prefix":"d/"}`, api.ListNoRecursion), "")
	json.Unmarshal(body, &level)
	if !slices.Equal(entryNames(level.Entries), []string{"d/e/", "d/x", "d/y"}) {
		t.Fatalf("no recursion under d/: %s", body)
	}
	// Archive members follow their shard.
	_, body = list(fmt.Sprintf(`{"flags":"%d","prefix":"shard"}`, api.ListArchive), "")
	var arch api.ListPage
	json.Unmarshal(body, &arch)
	if !slices.Equal(entryNames(arch.Entries), []string{"shard.tar", "shard.tar/s1.jpg", "shard.tar/s1.cls"}) || arch.Entries[1].Flags != api.EntryInArch|api.EntryPresent {
		t.Fatalf("archive members: %s", body)
	}
	// A shard cut short lists none of its members, not the ones before
	// the cut as if they were all.
	putObjects(t, client, "ls", map[string]string{"shard-cut.tar": shard.String()[:1024+512+100]})
	_, body = list(fmt.Sprintf(`{"flags":"%d","prefix":"shard-cut"}`, api.ListArchive), "")
	json.Unmarshal(body, &arch)
	if !slices.Equal(entryNames(arch.Entries), []string{"shard-cut.tar"}) {
		t.Fatalf("archive members of a cut shard: %s", body)
	}
	client.Delete(t.Context(), "ls", "shard-cut.tar")

	// msgpack, as AIStore's Python SDK asks.
	status, body = list(`{"props":"name,size,checksum"}`, "application/msgpack")
	if status != http.StatusOK {
		t.Fatalf("msgpack list: %d %s", status, body)
	}
	decoded, rest, err := msgp.ReadIntfBytes(body)
	if err != nil || len(rest) != 0 {
		t.Fatalf("msgpack: %v (%d bytes left)", err, len(rest))
	}
	top, ok := decoded.(map[string]any)
	if !ok {
		t.Fatalf("msgpack: %T", decoded)
	}
	for _, key := range []string{"UUID", "ContinuationToken", "Entries", "Flags"} {
		if _, ok := top[key]; !ok {
			t.Fatalf("msgpack: no %s in %v", key, top)
		}
	}
	entries := top["Entries"].([]any)
	if len(entries) != 6 {
		t.Fatalf("msgpack: %d entries", len(entries))
	}
	first := entries[0].(map[string]any)
	if first["n"] != "d/e/z" || fmt.Sprint(first["s"]) != "1" || first["cs"] == "" || fmt.Sprint(first["f"]) != strconv.Itoa(api.EntryPresent) {
		t.Fatalf("msgpack entry %v", first)
	}
}

func entryNames(entries []api.ListEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Name
	}
	return out
}

// Listing archive members keeps to a budget of bytes a page: shards whose
// member names compress to little (long names) do not make a target build
// a page of any size; the page is refused, naming what to ask instead.
func TestListArchiveMembersKeepsToABudget(t *testing.T) {
	defer gateway.SetListBytes(64 << 10)()
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "arch", nil); err != nil {
		t.Fatal(err)
	}
	shard := func(members int, nameLen int) []byte {
		var buf bytes.Buffer
		tw, err := formats.TarGzip{}.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		for i := range members {
			name := fmt.Sprintf("%04d-%s.bin", i, strings.Repeat("a", nameLen))
			if err := tw.WriteHeader(&formats.Entry{Name: name, Size: 1}); err != nil {
				t.Fatal(err)
			}
			if _, err := tw.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	big := shard(100, 4<<10) // 400 KiB of names, a few KiB stored
	if _, err := client.Put(ctx, "arch", "big.tgz", bytes.NewReader(big), api.PutOptions{Size: int64(len(big))}); err != nil {
		t.Fatal(err)
	}
	small := shard(3, 10)
	if _, err := client.Put(ctx, "arch", "small.tgz", bytes.NewReader(small), api.PutOptions{Size: int64(len(small))}); err != nil {
		t.Fatal(err)
	}
	url := c.Primary().URL() + "/v1/buckets/arch"
	status, body, _ := call(t, http.MethodGet, url, nil, fmt.Sprintf(`{"action":"list","value":{"flags":"%d"}}`, api.ListArchive))
	if status != http.StatusBadRequest || !strings.Contains(string(body), "pagesize") || !strings.Contains(string(body), "big.tgz") {
		t.Fatalf("a page of members past the budget: %d %.300s, want 400 naming the shard and pagesize", status, body)
	}
	status, body, _ = call(t, http.MethodGet, url, nil, fmt.Sprintf(`{"action":"list","value":{"flags":"%d","prefix":"small"}}`, api.ListArchive))
	var page api.ListPage
	if err := json.Unmarshal(body, &page); status != http.StatusOK || err != nil || len(page.Entries) != 4 {
		t.Fatalf("a page within the budget: %d %.300s", status, body)
	}
	// The gateway holds every target's page at once: the budget is the
	// whole page's, shared among the targets. 30 KiB of names fit one
	// target's 64 KiB, not a third of it.
	three := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3})
	if err := three.Client().CreateBucket(ctx, "arch", nil); err != nil {
		t.Fatal(err)
	}
	medium := shard(10, 3<<10)
	if _, err := three.Client().Put(ctx, "arch", "medium.tgz", bytes.NewReader(medium), api.PutOptions{Size: int64(len(medium))}); err != nil {
		t.Fatal(err)
	}
	status, body, _ = call(t, http.MethodGet, three.Primary().URL()+"/v1/buckets/arch", nil, fmt.Sprintf(`{"action":"list","value":{"flags":"%d"}}`, api.ListArchive))
	if status != http.StatusBadRequest || !strings.Contains(string(body), "medium.tgz") {
		t.Fatalf("30 KiB of members over 3 targets' share of 64 KiB: %d %.300s, want 400", status, body)
	}
	if _, err := client.Put(ctx, "arch", "medium.tgz", bytes.NewReader(medium), api.PutOptions{Size: int64(len(medium))}); err != nil {
		t.Fatal(err)
	}
	status, body, _ = call(t, http.MethodGet, url, nil, fmt.Sprintf(`{"action":"list","value":{"flags":"%d","prefix":"medium"}}`, api.ListArchive))
	if status != http.StatusOK {
		t.Fatalf("30 KiB of members on one target: %d %.300s", status, body)
	}
	// A shard past the budget after others ends the page before it: the
	// page is what fits, and the next begins at that shard.
	if _, err := client.Put(ctx, "arch", "a.tgz", bytes.NewReader(small), api.PutOptions{Size: int64(len(small))}); err != nil {
		t.Fatal(err)
	}
	status, body, _ = call(t, http.MethodGet, url, nil, fmt.Sprintf(`{"action":"list","value":{"flags":"%d"}}`, api.ListArchive))
	page = api.ListPage{}
	if err := json.Unmarshal(body, &page); status != http.StatusOK || err != nil || len(page.Entries) != 4 || page.Entries[0].Name != "a.tgz" || page.ContinuationToken == "" {
		t.Fatalf("a page whose second shard passes the budget: %d %.300s, want a.tgz and its 3 members, and a token", status, body)
	}
	status, body, _ = call(t, http.MethodGet, url, nil, fmt.Sprintf(`{"action":"list","value":{"flags":"%d","continuation_token":%q}}`, api.ListArchive, page.ContinuationToken))
	if status != http.StatusBadRequest || !strings.Contains(string(body), "big.tgz") {
		t.Fatalf("the page after: %d %.300s, want 400 naming big.tgz", status, body)
	}
}

// A listing page is bounded by bytes, not only entries: names that take
// six bytes each in JSON (escaped) end pages early, each target's at its
// share, and paging on lists every name once, in order.
func TestListPagesKeepToABoundOnBytes(t *testing.T) {
	defer gateway.SetListBytes(64 << 10)()
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "esc", nil); err != nil {
		t.Fatal(err)
	}
	// 880 '<' take 5,280 bytes escaped: four a target's share of 64 KiB.
	const count = 40
	var want []string
	for i := range count {
		segment := strings.Repeat("<", 220)
		name := fmt.Sprintf("%02d/%s/%s/%s/%s", i, segment, segment, segment, segment)
		want = append(want, name)
		if _, err := client.Put(ctx, "esc", name, strings.NewReader("x"), api.PutOptions{Size: 1}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := client.ListObjects(ctx, "esc", api.ListObjectsMessage{})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Entries) == 0 || len(first.Entries) >= count || first.ContinuationToken == "" {
		t.Fatalf("first page: %d entries, token %q; want fewer than %d and a token", len(first.Entries), first.ContinuationToken, count)
	}
	var got []string
	for e, err := range client.ListAll(ctx, "esc", api.ListObjectsMessage{}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Name)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %d names, want all %d once in order", len(got), count)
	}
	// A prefix or start_after longer than any name is refused, not sent
	// to every target in its URL.
	for _, msg := range []api.ListObjectsMessage{{Prefix: strings.Repeat("<", store.MaxNameLength+1)}, {StartAfter: strings.Repeat("<", store.MaxNameLength+1)}} {
		if _, err := client.ListObjects(ctx, "esc", msg); !errors.Is(err, api.ErrBadRequest) {
			t.Fatalf("a listing after a name longer than any: %v, want 400", err)
		}
	}
	// An older gateway (no list_cut) would take a cut page for the end:
	// a target's page for it is bounded by its shards' members alone, as
	// before (its names past the bound, a shard's members are listed).
	var shard bytes.Buffer
	tw, _ := formats.TarGzip{}.NewWriter(&shard)
	tw.WriteHeader(&formats.Entry{Name: "a.txt", Size: 1})
	tw.Write([]byte("a"))
	tw.Close()
	if _, err := client.Put(ctx, "esc", "zz.tgz", bytes.NewReader(shard.Bytes()), api.PutOptions{Size: int64(shard.Len())}); err != nil {
		t.Fatal(err)
	}
	owner, _ := c.Primary().Node.Map().Owner(cluster.Uname(store.ProviderAIS, "esc", "zz.tgz"))
	var target *gatewaytest.Member
	for _, m := range c.Targets() {
		if m.Node.ID() == owner.ID {
			target = m
		}
	}
	resp, err := c.PeerClient("p1").Get(target.URL() + fmt.Sprintf("/v1/internal/list/esc?provider=ais&list_targets=3&flags=%d", api.ListArchive))
	if err != nil {
		t.Fatal(err)
	}
	var page []api.ListEntry
	err = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	held, _ := target.Store.List(ctx, store.NewBucket("esc"), store.ListOptions{})
	if err != nil || resp.StatusCode != http.StatusOK || len(page) != len(held) || resp.Header.Get(peer.HeaderListCut) != "" || len(page[len(page)-1].Members) != 1 {
		t.Fatalf("a page for an older gateway: %s, %d entries of %d (%v), cut %q", resp.Status, len(page), len(held), err, resp.Header.Get(peer.HeaderListCut))
	}
	// A target behind on the bucket the gateway lists (made again since,
	// as the gateway has it) does not list the one it has: 503, to retry.
	resp, err = c.PeerClient("p1").Get(target.URL() + fmt.Sprintf("/v1/internal/list/esc?provider=ais&list_targets=3&bucket_created=%d&buckets_version=%d", time.Now().Add(time.Hour).UnixNano(), math.MaxInt32))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a page of a bucket made again, from a target behind on it: %s, want 503", resp.Status)
	}
}

func TestHeadObjectAndErrorsInAIStoreShape(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2})
	client := c.Client()
	if err := client.CreateBucket(t.Context(), "h", nil); err != nil {
		t.Fatal(err)
	}
	putObjects(t, client, "h", map[string]string{"obj": "data"})
	status, _, header := call(t, http.MethodHead, c.Primary().URL()+"/v1/objects/h/obj", nil, "")
	if status != http.StatusOK {
		t.Fatalf("HEAD: %d", status)
	}
	want := map[string]string{api.HeaderPresent: "true", api.HeaderName: "obj", api.HeaderBucketName: "h", api.HeaderBucketProvider: "ais", api.HeaderMirrorCopies: "1",
		"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream", "Content-Length": "4"} // as a GET says
	for k, v := range want {
		if header.Get(k) != v {
			t.Errorf("%s: %q, want %q", k, header.Get(k), v)
		}
	}
	if loc := header.Get(api.HeaderLocation); !strings.HasPrefix(loc, "t[") || !strings.Contains(loc, ":mp[") {
		t.Errorf("%s: %q", api.HeaderLocation, loc)
	}
	for _, tc := range []struct{ method, path, tcode string }{
		{http.MethodGet, "/v1/objects/h/missing", "ErrNotFound"},
		{http.MethodGet, "/v1/objects/nosuch/obj", "ErrBckNotFound"},
		{http.MethodPost, "/v1/buckets/h", "ErrBucketAlreadyExists"},
	} {
		status, body, _ := call(t, tc.method, c.Primary().URL()+tc.path, nil, "")
		var e struct {
			TCode  string `json:"tcode"`
			Status int    `json:"status"`
		}
		if json.Unmarshal(body, &e) != nil || e.TCode != tc.tcode || e.Status != status {
			t.Errorf("%s %s: %d %s, want tcode %s", tc.method, tc.path, status, body, tc.tcode)
		}
	}
}

// GET /v1/buckets?provider=ais lists the ais:// buckets alone, as
// AIStore's Python client asks by default (it takes each for an ais://
// bucket); without the query, every bucket.
func TestListBucketsOfAProvider(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "file "+r.URL.Path) }))
	defer origin.Close()
	c, remoteBucket := originCluster(t, 1, origin)
	if err := c.Client().CreateBucket(t.Context(), "local", nil); err != nil {
		t.Fatal(err)
	}
	list := func(query string) []string {
		status, body, _ := call(t, http.MethodGet, c.Primary().URL()+"/v1/buckets"+query, nil, "")
		var entries []api.BucketEntry
		if status != http.StatusOK || json.Unmarshal(body, &entries) != nil {
			t.Fatalf("list buckets%s: %d %s", query, status, body)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Provider+"://"+e.Name)
		}
		return names
	}
	if got := list("?provider=ais"); !slices.Equal(got, []string{"ais://local"}) {
		t.Fatalf("?provider=ais: %v, want ais://local alone (the remote one is %s)", got, remoteBucket)
	}
	if got := list(""); len(got) != 2 {
		t.Fatalf("every bucket: %v", got)
	}
}
