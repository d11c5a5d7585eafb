//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
)

// labOutputs lists a bucket's objects with their checksums.
func labOutputs(t *testing.T, client *api.Client, bucket string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for e, err := range client.ListAll(t.Context(), bucket, api.ListObjectsMessage{Props: "name,size,checksum"}) {
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name] = e.Checksum
	}
	return out
}

// TestMultiHostDsort: 1 gateway and 3 targets, each on its own host (a
// network namespace with its own address), advertise and use those
// addresses; a dSort job there gives output byte-identical to the same
// job on a loopback cluster.
func TestMultiHostDsort(t *testing.T) {
	lab := newNetLab(t)
	gws, _ := lab.startCluster(1, 3)
	endpoint := gws[0].url()
	spec := filepath.Join(t.TempDir(), "spec.json")
	os.WriteFile(spec, []byte(`{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":"in-{00..07}.tar"},
		"output_format":"out-{000..999}.tar","output_shard_size":"200KiB","algorithm":{"kind":"shuffle","seed":"11"}}`), 0o644)
	gen := []string{"archive", "gen-shards", "ais://src/in-{00..07}.tar", "--records", "40", "--record-size", "8KiB", "--exts", ".jpg,.cls", "--seed", "4"}
	lab.ais(endpoint, "bucket", "create", "ais://src")
	lab.ais(endpoint, gen...)
	lab.ais(endpoint, "dsort", "start", spec, "--wait")
	multi := labOutputs(t, lab.client(endpoint), "dst")

	loop := startCLICluster(t, 1, 3)
	ais(t, loop.endpoint, "bucket", "create", "ais://src")
	ais(t, loop.endpoint, gen...)
	ais(t, loop.endpoint, "dsort", "start", spec, "--wait")
	local := loop.outputs("dst")
	if len(multi) < 2 || !maps.Equal(multi, local) {
		t.Fatalf("dSort on 4 hosts gave %d shards, on loopback %d; equal: %v", len(multi), len(local), maps.Equal(multi, local))
	}
	fmt.Printf("multi-host dSort: %d output shards, byte-identical to loopback\n", len(multi))
}

// TestMultiHostTargetCut: a target's link goes down while its objects are
// read through the gateway. They answer 503 with Retry-After (not 404)
// once the cluster sees the target gone, read back whole when the link
// is up again, and nothing acknowledged is lost.
func TestMultiHostTargetCut(t *testing.T) {
	lab := newNetLab(t)
	gws, tgts := lab.startCluster(1, 3)
	endpoint := gws[0].url()
	client := lab.client(endpoint)
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	const objects = 200
	acked := map[string][]byte{}
	for i := range objects {
		name, data := fmt.Sprintf("o-%03d", i), bytes.Repeat([]byte{byte(i)}, 1000+i)
		if _, err := client.Put(ctx, "b", name, bytes.NewReader(data), api.PutOptions{Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		acked[name] = data
	}
	m, err := client.Map(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cut := tgts[1]
	var onCut []string
	for name := range acked {
		if owner, _ := m.Owner(cluster.Uname("ais", "b", name)); owner.ID == cut.name {
			onCut = append(onCut, name)
		}
	}
	slices.Sort(onCut)
	if len(onCut) == 0 {
		t.Fatal("no object on the target to cut")
	}
	transport := api.NewTransport()
	transport.DialContext = lab.Dial
	plain := &http.Client{Transport: transport, Timeout: 5 * time.Second}
	get := func(name string) (int, string, []byte) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/v1/objects/b/"+name, nil)
		resp, err := plain.Do(req)
		if err != nil {
			return 0, "", nil
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Retry-After"), data
	}

	cut.cut()
	cutAt := time.Now()
	statuses := map[int]int{}
	saw503 := false
	for i := 0; !saw503; i++ {
		if time.Since(cutAt) > 30*time.Second {
			t.Fatalf("the objects of the cut target never answered 503 (statuses %v)", statuses)
		}
		name := onCut[i%len(onCut)]
		status, retry, data := get(name)
		statuses[status]++
		switch status {
		case http.StatusServiceUnavailable:
			if retry == "" {
				t.Fatalf("GET %s: 503 without Retry-After", name)
			}
			saw503 = true
		case http.StatusOK:
			t.Fatalf("GET %s answered 200 from a cut target", name)
		case 0: // the redirect to the cut target, before the cluster saw it go
		default:
			t.Fatalf("GET %s on a cut target: %d %s, want 503 or a timeout", name, status, data)
		}
	}
	detected := time.Since(cutAt)
	// The others are served all along.
	for name, data := range acked {
		if slices.Contains(onCut, name) {
			if status, retry, _ := get(name); status != http.StatusServiceUnavailable || retry == "" {
				t.Fatalf("GET %s while its target is cut: %d (Retry-After %q), want 503", name, status, retry)
			}
			continue
		}
		if status, _, got := get(name); status != http.StatusOK || !bytes.Equal(got, data) {
			t.Fatalf("GET %s on a target still up: %d", name, status)
		}
	}
	cut.heal()
	healedAt := time.Now()
	until(t, 30*time.Second, "the cut target's objects readable again", func() bool {
		status, _, _ := get(onCut[0])
		return status == http.StatusOK
	})
	lost := 0
	for name, data := range acked {
		if status, _, got := get(name); status != http.StatusOK || !bytes.Equal(got, data) {
			lost++
			t.Errorf("GET %s after the link came back: %d", name, status)
		}
	}
	fmt.Printf("target cut off: %d objects checked, %d on the cut target answered 503 after %s (statuses before: %v), back %s after the link came up, lost %d\n",
		len(acked), len(onCut), detected.Round(time.Millisecond), statuses, time.Since(healedAt).Round(time.Millisecond), lost)
}

// TestMultiHostGatewayPartition: of 3 gateways, the primary is cut off
// from the others and the target (clients still reach it). The majority
// elects a new primary and takes writes; the old one takes none (no split
// brain); once healed it follows the new primary and takes writes again.
func TestMultiHostGatewayPartition(t *testing.T) {
	lab := newNetLab(t)
	gws, tgts := lab.startCluster(3, 1)
	ctx := t.Context()
	m, err := lab.client(gws[0].url()).Map(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var old *labHost
	var majority []*labHost
	for _, g := range gws {
		if g.name == m.Primary {
			old = g
		} else {
			majority = append(majority, g)
		}
	}
	transport := api.NewTransport()
	transport.DialContext = lab.Dial
	plain := &http.Client{Transport: transport, Timeout: 15 * time.Second}
	// create asks one gateway, and only it, to create a bucket.
	create := func(g *labHost, bucket string) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.url()+"/v1/buckets/"+bucket, strings.NewReader(`{"action":"create-bck"}`))
		resp, err := plain.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	// view is one gateway's own map and buckets.
	view := func(g *labHost) (*cluster.Map, map[string]bool) {
		c := lab.client(g.url())
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		gm, err := c.UseRedirects().Map(rctx)
		if err != nil {
			return nil, nil
		}
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, g.url()+"/v1/daemon?what=bmd", nil)
		resp, err := plain.Do(req)
		if err != nil {
			return gm, nil
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			return gm, nil
		}
		buckets := map[string]bool{}
		for _, b := range []string{"before", "during", "minority", "after"} {
			buckets[b] = bytes.Contains(data, []byte(`"`+b+`"`))
		}
		return gm, buckets
	}
	if status, body := create(old, "before"); status != http.StatusOK {
		t.Fatalf("create before the partition: %d %s", status, body)
	}

	old.partition(append(slices.Clone(majority), tgts...)...)
	cutAt := time.Now()
	var leader string
	until(t, 30*time.Second, "a new primary in the majority", func() bool {
		gm, _ := view(majority[0])
		if gm != nil && gm.Primary != old.name {
			leader = gm.Primary
			return true
		}
		return false
	})
	until(t, 30*time.Second, "a write through the majority", func() bool {
		status, _ := create(majority[1], "during")
		return status == http.StatusOK
	})
	elected := time.Since(cutAt)
	status, body := create(old, "minority")
	if status == http.StatusOK || status == 0 && body == "" {
		t.Fatalf("the cut-off primary took a write: %d %s", status, body)
	}
	if _, buckets := view(old); buckets == nil || buckets["minority"] || buckets["during"] {
		t.Fatalf("the minority gateway's metadata moved on its own: %v", buckets)
	}

	old.rejoin(append(slices.Clone(majority), tgts...)...)
	until(t, 30*time.Second, "the old primary follows the new one", func() bool {
		gm, buckets := view(old)
		return gm != nil && gm.Primary == leader && buckets["during"]
	})
	until(t, 30*time.Second, "a write through the healed gateway", func() bool {
		status, _ := create(old, "after")
		return status == http.StatusOK
	})
	var primaries []string
	for _, g := range gws {
		until(t, 10*time.Second, g.name+" has every bucket", func() bool {
			_, buckets := view(g)
			return buckets["before"] && buckets["during"] && buckets["after"] && !buckets["minority"]
		})
		gm, _ := view(g)
		primaries = append(primaries, gm.Primary)
	}
	if len(slices.Compact(slices.Clone(primaries))) != 1 {
		t.Fatalf("the gateways name different primaries after the heal: %v", primaries)
	}
	fmt.Printf("gateway partition: the majority elected %s and took writes %s after the cut; the minority took none (%d %s); healed, one primary, every bucket on every gateway\n",
		leader, elected.Round(time.Millisecond), status, strings.TrimSpace(body))
}

// TestMultiHostUnreachableURL: a node that advertises a URL nobody can
// reach is refused at join, and says which URL.
func TestMultiHostUnreachableURL(t *testing.T) {
	lab := newNetLab(t)
	gws, _ := lab.startCluster(1, 1)
	bad := lab.addHost("t9")
	wrong := "http://" + lab.Subnet + ".250:8080" // an address no host has
	// A shorter wait than the default 30s: the flag is taken.
	bad.start("target", gws[0].url(), "-url", wrong, "-join-probe-wait", "5s")
	select {
	case <-bad.exited:
	case <-time.After(29 * time.Second): // under the default 30s: the flag is taken
		t.Fatal("a target with an unreachable URL did not give up joining")
	}
	log, _ := os.ReadFile(filepath.Join(bad.dir, "node.log"))
	if !strings.Contains(string(log), wrong) {
		t.Fatalf("the refused join does not name the URL %s:\n%s", wrong, log)
	}
	m, err := lab.client(gws[0].url()).Map(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Node("t9"); ok {
		t.Fatal("the target with an unreachable URL is in the map")
	}
}
