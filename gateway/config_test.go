package gateway_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/store"
)

// The cluster config is changed through any gateway, read back there at
// once and on every gateway soon; a bad change is refused naming what is
// wrong and changes nothing.
func TestClusterConfigThroughAnyGateway(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 3, Targets: 1, NoSync: true})
	members := c.Members()
	follower := api.NewClient(members[1].URL())
	cfg, err := follower.SetClusterConfig(t.Context(), map[string]any{"distributed_sort": map[string]any{"missing_shards": "warn"}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Version != 1 || cfg.Dsort.MissingShards != "warn" || cfg.Dsort.EKMMissingKey != "abort" {
		t.Fatalf("after set-config: %+v", cfg)
	}
	if got, err := follower.ClusterConfig(t.Context()); err != nil || got != cfg {
		t.Fatalf("read back through the same gateway: %+v %v", got, err)
	}
	other := api.NewClient(members[2].URL())
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if got, err := other.ClusterConfig(t.Context()); err == nil && got == cfg {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("another gateway never had the change")
		}
	}

	_, err = follower.SetClusterConfig(t.Context(), map[string]any{"distributed_sort": map[string]any{"missing_shards": "explode"}})
	var e *api.Error
	if !errors.As(err, &e) || e.Status != 400 || !strings.Contains(e.Message, "distributed_sort.missing_shards") {
		t.Fatalf("a bad value: %v", err)
	}
	_, err = follower.SetClusterConfig(t.Context(), map[string]any{"rebalance": map[string]any{"enabled": "no"}})
	if !errors.As(err, &e) || e.Status != 400 || !strings.Contains(e.Message, "rebalance") {
		t.Fatalf("an unknown section: %v", err)
	}
	if got, _ := follower.ClusterConfig(t.Context()); got != cfg {
		t.Fatalf("a refused change changed the config: %+v", got)
	}
	target := api.NewClient(c.Targets()[0].URL()).UseRedirects()
	if _, err := target.ClusterConfig(t.Context()); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("the config asked of a target: %v", err)
	}
}

// AIStore's clients read the cluster config with what=cluster_config, on
// /v1/cluster and /v1/daemon, and want its sections by name.
func TestClusterConfigInAIStoreShape(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true})
	for _, path := range []string{"/v1/cluster", "/v1/daemon"} {
		resp, err := http.Get(c.Primary().URL() + path + "?what=cluster_config")
		if err != nil {
			t.Fatal(err)
		}
		var cfg map[string]json.RawMessage
		err = json.NewDecoder(resp.Body).Decode(&cfg)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, err)
		}
		for _, section := range []string{"space", "lru", "mirror", "ec", "checksum", "versioning", "distributed_sort", "timeout", "client", "features"} {
			if _, ok := cfg[section]; !ok {
				t.Errorf("%s: no section %s in %v", path, section, slices.Sorted(maps.Keys(cfg)))
			}
		}
		var version string
		var checksum struct{ Type string }
		// config_version, AIStore's name: its Go client reads 0 otherwise.
		if json.Unmarshal(cfg["config_version"], &version) != nil || version == "" || json.Unmarshal(cfg["checksum"], &checksum) != nil || checksum.Type != "xxhash" {
			t.Fatalf("%s: config_version %s, checksum %s", path, cfg["config_version"], cfg["checksum"])
		}
		// The bucket sections are what a new bucket gets.
		name := "fresh" + strings.ReplaceAll(path, "/", "-")
		if err := c.Client().CreateBucket(t.Context(), name, nil); err != nil {
			t.Fatal(err)
		}
		bucket, err := c.Client().BucketProps(t.Context(), name)
		var ec store.ECProps
		if err != nil || json.Unmarshal(cfg["ec"], &ec) != nil || ec != bucket.EC {
			t.Fatalf("%s: ec %s, a new bucket's %+v (%v)", path, cfg["ec"], bucket.EC, err)
		}
	}
	// A gateway's map comes with its log index: a gateway catching up
	// waits until it applied that far.
	resp, err := http.Get(c.Primary().URL() + "/v1/cluster?what=smap")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if index, err := strconv.ParseUint(resp.Header.Get(peer.HeaderLogIndex), 10, 64); err != nil || index == 0 {
		t.Fatalf("the map's log index: %q", resp.Header.Get(peer.HeaderLogIndex))
	}
	resp, err = http.Get(c.Primary().URL() + "/v1/daemon?what=nonsense")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "cluster_config") {
		t.Fatalf("an unknown what: %d %s", resp.StatusCode, body)
	}
}

// A bucket made through one gateway is there at once through another: a
// follower that does not know it yet catches up with the leader before it
// answers 404 (it learns the commit at the leader's next append).
func TestBucketMadeThroughOneGatewayIsThereThroughAnother(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 3, Targets: 1, NoSync: true})
	members := c.Members()
	leader, follower := api.NewClient(members[0].URL()), api.NewClient(members[2].URL())
	for i := range 20 {
		name := fmt.Sprintf("made-%d", i)
		if err := leader.CreateBucket(t.Context(), name, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := follower.BucketProps(t.Context(), name); err != nil {
			t.Fatalf("bucket %s, made through the leader, through a follower: %v", name, err)
		}
		if _, err := follower.Put(t.Context(), name, "o", strings.NewReader("x"), api.PutOptions{Size: 1}); err != nil {
			t.Fatalf("a PUT into %s through a follower: %v", name, err)
		}
	}
	// The same for bucket actions: a props change, and a copy whose
	// source and destination were just made.
	for i := range 10 {
		src, dst := fmt.Sprintf("src-%d", i), fmt.Sprintf("dst-%d", i)
		for _, name := range []string{src, dst} {
			if err := leader.CreateBucket(t.Context(), name, nil); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := follower.CopyBucket(t.Context(), src, dst, api.CopyBucketMessage{}); err != nil {
			t.Fatalf("a copy of %s into %s, both made through the leader, through a follower: %v", src, dst, err)
		}
		name := fmt.Sprintf("props-%d", i)
		if err := leader.CreateBucket(t.Context(), name, nil); err != nil {
			t.Fatal(err)
		}
		if err := follower.SetBucketProps(t.Context(), name, map[string]any{"versioning": map[string]any{"enabled": false}}); err != nil {
			t.Fatalf("a props change of %s, made through the leader, through a follower: %v", name, err)
		}
		fresh := fmt.Sprintf("copies-%d", i)
		if err := leader.CreateBucket(t.Context(), fresh, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := follower.MakeNCopies(t.Context(), fresh, 1); err != nil {
			t.Fatalf("make-n-copies of %s, made through the leader, through a follower: %v", fresh, err)
		}
		fresh = fmt.Sprintf("evict-%d", i)
		if err := leader.CreateBucket(t.Context(), fresh, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := follower.DeleteObjects(t.Context(), fresh, api.ListRange{ObjNames: []string{"none"}}); err != nil {
			t.Fatalf("a delete of listed objects of %s, made through the leader, through a follower: %v", fresh, err)
		}
	}
}
