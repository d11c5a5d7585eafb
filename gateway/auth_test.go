package gateway_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/store"
)

// concrete fills a route pattern's wildcards.
func concrete(pattern string) string {
	r := strings.NewReplacer("{bucket}", "b", "{id}", "srt-0", "{object...}", "o")
	return r.Replace(pattern)
}

func send(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestIntraRoutesRefuseOutsiders walks the route table: every intra route
// refuses a request that is unsigned, signed with another secret, replayed
// or stale with 401; public routes answer without a signature.
func TestIntraRoutesRefuseOutsiders(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true})
	node := c.Primary()
	good := peer.NewAuth(c.Secret(), peer.Options{})
	wrong := peer.NewAuth(peer.NewSecret(), peer.Options{})
	late := peer.NewAuth(c.Secret(), peer.Options{Now: func() time.Time { return time.Now().Add(-time.Minute) }})
	intra := 0
	for _, rt := range gateway.Routes(node.Node) {
		{
			method := rt.Method
			url := node.URL() + concrete(rt.Pattern)
			newRequest := func() *http.Request {
				req, _ := http.NewRequest(method, url, bytes.NewReader([]byte("{}")))
				return req
			}
			if !rt.Intra {
				if resp := send(t, newRequest()); resp.StatusCode == http.StatusUnauthorized {
					t.Errorf("public route %s %s asks for a signature", method, rt.Pattern)
				}
				continue
			}
			intra++
			unsigned := send(t, newRequest())
			other := newRequest()
			wrong.Sign(other, "n1")
			stale := newRequest()
			late.Sign(stale, "n1")
			first := newRequest()
			good.Sign(first, "n1")
			replay := newRequest()
			replay.Header = first.Header.Clone()
			// Signed for another node's address (captured on its way
			// there), sent here.
			elsewhere := newRequest()
			elsewhere.Host = "127.0.0.2:9"
			good.Sign(elsewhere, "n1")
			genuine := send(t, first)
			responses := map[string]*http.Response{
				"unsigned": unsigned, "another secret": send(t, other), "stale": send(t, stale), "replay": send(t, replay),
			}
			// Only a join reaches a seed at any address (its body
			// here is another change).
			responses["signed for another node"] = send(t, elsewhere)
			for name, resp := range responses {
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s %s %s: %d, want 401", name, method, rt.Pattern, resp.StatusCode)
				}
			}
			if genuine.StatusCode == http.StatusUnauthorized {
				t.Errorf("signed %s %s: 401", method, rt.Pattern)
			}
		}
	}
	if intra < 10 {
		t.Fatalf("only %d intra routes found", intra)
	}
	// A join reaches a seed at any address (an alias of the gateway).
	join := []byte(`{"kind":"join","node":{"id":"t9","role":"target","url":"http://127.0.0.1:9"}}`)
	req, _ := http.NewRequest(http.MethodPut, node.URL()+"/v1/internal/cluster", bytes.NewReader(join))
	req.Host = "seed.example:8080"
	good.Sign(req, "t9")
	if resp := send(t, req); resp.StatusCode == http.StatusUnauthorized {
		t.Error("a join sent to a seed's alias: 401")
	}
}

// TestForgedMetadataIsRefused replays the attacks on metasync: nothing but
// the primary's own, sound, in-sequence pushes changes a node's metadata.
func TestForgedMetadataIsRefused(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true})
	client := c.Client()
	if err := client.CreateBucket(t.Context(), "keep", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(t.Context(), "keep", "o", strings.NewReader("data"), api.PutOptions{Size: 4}); err != nil {
		t.Fatal(err)
	}
	target := c.Targets()[0]
	primaryID := c.Primary().Node.ID()
	current := c.Primary().Node.Map()
	push := func(httpClient *http.Client, body any) (int, api.Error) {
		data, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPut, target.URL()+"/v1/metasync", bytes.NewReader(data))
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e api.Error
		json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e
	}
	emptyMap := current.Clone()
	emptyMap.Version, emptyMap.Nodes = 999, nil
	jump := current.Clone()
	jump.Version = 1<<63 - 1
	escape := map[string]any{"version": 5000, "buckets": map[string]any{strings.Repeat("../", 20) + "srv": map[string]any{}}}
	tests := []struct {
		name   string
		client *http.Client
		body   any
		status int
	}{
		{"an outsider wipes the buckets", http.DefaultClient, map[string]any{"bmd": map[string]any{"version": 5000, "buckets": map[string]any{}}}, http.StatusUnauthorized},
		{"a target pushes bucket metadata", c.PeerClient(target.Node.ID()), map[string]any{"bmd": map[string]any{"version": 5000, "buckets": map[string]any{}}}, http.StatusForbidden},
		{"the primary's id pushes no buckets", c.PeerClient(primaryID), map[string]any{"bmd": map[string]any{"version": 5000, "buckets": map[string]any{}}}, http.StatusConflict},
		{"an empty map at version 999", c.PeerClient(primaryID), map[string]any{"map": emptyMap}, http.StatusConflict},
		{"a map at version MaxInt64", c.PeerClient(primaryID), map[string]any{"map": jump}, http.StatusConflict},
		{"a bucket name that climbs out", c.PeerClient(primaryID), map[string]any{"bmd": escape}, http.StatusBadRequest},
	}
	for _, tc := range tests {
		status, e := push(tc.client, tc.body)
		if status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, status, e.Message, tc.status)
		}
	}
	if got := target.Node.Map().Version; got != current.Version {
		t.Fatalf("the target's map moved to version %d", got)
	}
	if _, ok := target.Node.Buckets().Buckets[store.NewBucket("keep")]; !ok {
		t.Fatal("the target lost its bucket")
	}
	if _, _, err := client.Get(t.Context(), "keep", "o", api.GetOptions{}); err != nil {
		t.Fatalf("the data is gone: %v", err)
	}
}

// TestJoinIsChecked: a join needs the cluster secret, a sound URL, and a
// node that answers there as itself; one that does not answer yet (its
// name not in DNS yet, its listener not up) is a 503 the joiner waits
// out, not a 400 that stops it.
func TestJoinIsChecked(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	impostor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(api.NodeStatus{ID: "someone-else"})
	}))
	defer impostor.Close()
	join := func(httpClient *http.Client, id, url string) int {
		body, _ := json.Marshal(map[string]any{"kind": "join", "node": map[string]string{"id": id, "role": "target", "url": url}})
		req, _ := http.NewRequest(http.MethodPut, c.Primary().URL()+"/v1/internal/cluster", bytes.NewReader(body))
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	other := c.Targets()[0]
	for _, tc := range []struct {
		name   string
		client *http.Client
		id     string
		url    string
		status int
	}{
		{"an outsider", http.DefaultClient, "evil", "http://127.0.0.1:1", http.StatusUnauthorized},
		{"a URL that is not one", c.PeerClient("x"), "x", "::::", http.StatusBadRequest},
		{"nobody answers", c.PeerClient("x"), "x", "http://127.0.0.1:1", http.StatusServiceUnavailable},
		{"another answers", c.PeerClient("x"), "x", impostor.URL, http.StatusBadRequest},
		// A member's URL is its own: refused before the probe.
		{"another node answers", c.PeerClient("x"), "x", other.URL(), http.StatusConflict},
	} {
		if got := join(tc.client, tc.id, tc.url); got != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.status)
		}
	}
	if n := len(c.Primary().Node.Map().Nodes); n != 2 {
		t.Fatalf("the map has %d nodes", n)
	}
}

// TestDsortInitWithoutMap: a signed init that lacks the cluster map is a
// 400 naming the field, not a 500.
func TestDsortInitWithoutMap(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true})
	body := []byte(`{"id":"srt-1","spec":{"input_bck":{"name":"b"},"input_format":{"template":"a-{0..9}.tar"},"output_format":"o-{0..9}.tar"}}`)
	req, _ := http.NewRequest(http.MethodPost, c.Primary().URL()+"/v1/sort/init", bytes.NewReader(body))
	resp, err := c.PeerClient(c.Primary().Node.ID()).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e api.Error
	json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(e.Message, "map") {
		t.Fatalf("%d %s", resp.StatusCode, e.Message)
	}
}

// TestRoutesByRole walks the route table on a gateway and on a target:
// a node answers a route of the other role with a JSON 400 naming who
// serves it (a target once reset the connection on a gateway route).
func TestRoutesByRole(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	checked := 0
	for _, m := range []*gatewaytest.Member{c.Primary(), c.Targets()[0]} {
		for _, rt := range gateway.Routes(m.Node) {
			if rt.Served {
				continue
			}
			url := m.URL() + concrete(rt.Pattern) + "?uuid=x"
			req, _ := http.NewRequest(rt.Method, url, bytes.NewReader([]byte("{}")))
			resp, err := c.PeerClient("g1").Do(req)
			if err != nil {
				t.Fatalf("%s %s on %s: %v", rt.Method, rt.Pattern, m.Node.ID(), err)
			}
			var e api.Error
			if rt.Method == http.MethodHead {
				json.Unmarshal([]byte(resp.Header.Get(api.HeaderError)), &e)
			} else {
				json.NewDecoder(resp.Body).Decode(&e)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(e.Message, "served by") {
				t.Errorf("%s %s on %s: %d %q, want 400 naming who serves it", rt.Method, rt.Pattern, m.Node.ID(), resp.StatusCode, e.Message)
			}
			checked++
		}
	}
	if checked < 10 {
		t.Fatalf("only %d routes of another role", checked)
	}
	if gw, target := gateway.ServedBy(c.Primary().Node, http.MethodDelete, "/v1/sort/abort"); !gw || target {
		t.Fatal("the dSort abort route is not gateway-only")
	}
}

// The changes the leader makes of what it sees itself (taking office, its
// keepalive) are not taken from a peer, even one with the cluster secret:
// a forged "lead" or "offline" would take the cluster down.
func TestIntraClusterChangeRefusesTheLeadersOwnKinds(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true})
	node := c.Primary()
	auth := peer.NewAuth(c.Secret(), peer.Options{})
	for _, body := range []string{
		`{"kind":"lead","node":{"id":"t1","role":"target","url":"http://127.0.0.1:1"}}`,
		`{"kind":"offline","node":{"id":"t1"}}`,
		`{"kind":"remove","node":{"id":"g1"}}`,
		`{"kind":"seed","seed":{}}`,
	} {
		req, _ := http.NewRequest(http.MethodPut, node.URL()+"/v1/internal/cluster", strings.NewReader(body))
		auth.Sign(req, "n1")
		resp := send(t, req)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", body, resp.StatusCode)
		}
	}
}

// The output of a failed dSort job is removed by the job's mark: a copy of
// the same name that another writer stored (before the job, or since)
// stays.
func TestRemoveByJobKeepsOthersObjects(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	ctx := t.Context()
	client := c.Client()
	if err := client.CreateBucket(ctx, "dst", nil); err != nil {
		t.Fatal(err)
	}
	target := c.Targets()[0]
	b := store.NewBucket("dst")
	if _, err := target.Store.Put(ctx, b, "theirs.tar", strings.NewReader("theirs"), store.PutOptions{Size: 6}); err != nil {
		t.Fatal(err)
	}
	if _, err := target.Store.Put(ctx, b, "ours.tar", strings.NewReader("ours"), store.PutOptions{Size: 4, Custom: map[string]string{"dsort.job": "srt-1"}}); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(peer.RemoveRequest{Names: []string{"theirs.tar", "ours.tar"}, Job: "srt-1",
		Stamp: store.Stamp{Map: 1 << 30, Clock: time.Now().Add(time.Hour).UnixNano()}})
	req, _ := http.NewRequest(http.MethodPost, target.URL()+"/v1/internal/remove/dst", bytes.NewReader(body))
	peer.NewAuth(c.Secret(), peer.Options{}).Sign(req, "g1")
	if resp := send(t, req); resp.StatusCode != http.StatusOK {
		t.Fatalf("remove: %d", resp.StatusCode)
	}
	if _, err := target.Store.Head(ctx, b, "theirs.tar"); err != nil {
		t.Fatalf("an object the job did not write was removed with its output: %v", err)
	}
	if _, err := target.Store.Head(ctx, b, "ours.tar"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the job's output stays: %v", err)
	}
}

// A job's copy goes by its attempt whatever the asker's clock: a target
// removing an index whose write it did not hear back from (an abort) is
// behind the owner's clock, which stamped the copy.
func TestRemoveByJobAttemptIgnoresTheAskersClock(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	ctx := t.Context()
	if err := c.Client().CreateBucket(ctx, "dst", nil); err != nil {
		t.Fatal(err)
	}
	target := c.Targets()[0]
	b := store.NewBucket("dst")
	custom := map[string]string{"dsort.job": "srt-1", "dsort.attempt": "0"}
	for _, name := range []string{"a.tar.idx", "b.tar.idx"} {
		// Stamped by the owner's clock, ahead of the asker's.
		if _, err := target.Store.Put(ctx, b, name, strings.NewReader("idx"), store.PutOptions{Size: 3, Custom: custom, Stamp: store.Stamp{Map: 2, Clock: time.Now().UnixNano()}}); err != nil {
			t.Fatal(err)
		}
	}
	peers := peer.NewClient(peer.ClientConfig{Auth: peer.NewAuth(c.Secret(), peer.Options{}), Node: c.Primary().Node.ID()})
	node := cluster.Node{ID: target.Node.ID(), Role: cluster.RoleTarget, URL: target.URL()}
	behind := store.Stamp{Map: 1, Clock: time.Now().Add(-time.Minute).UnixNano()}
	// Without an attempt bound, a copy newer than the request stays (the
	// job may have written it since); with one, the attempt tells.
	if _, err := peers.Remove(ctx, node, b, peer.RemoveRequest{Names: []string{"a.tar.idx"}, Job: "srt-1", Stamp: behind}); err != nil {
		t.Fatal(err)
	}
	if _, err := target.Store.Head(ctx, b, "a.tar.idx"); err != nil {
		t.Fatalf("a copy newer than an unbounded removal: %v, want it kept", err)
	}
	if _, err := peers.Remove(ctx, node, b, peer.RemoveRequest{Names: []string{"b.tar.idx"}, Job: "srt-1", BeforeAttempt: 1, Stamp: behind}); err != nil {
		t.Fatal(err)
	}
	if _, err := target.Store.Head(ctx, b, "b.tar.idx"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the job's attempt-0 copy after a removal of attempts before 1 by a clock behind: %v, want it gone", err)
	}
}
