package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/store"
)

// serveMap answers a gateway's pulls with m (read as asked) and no
// buckets.
func serveMap(m *cluster.Map) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("what") {
		case "smap":
			json.NewEncoder(w).Encode(m)
		case "bmd":
			json.NewEncoder(w).Encode(store.BucketMetadata{})
		default:
			w.Write([]byte("{}"))
		}
	}))
}

// Whether a target back late is still a member is the primary's word: a
// gateway behind -join (a follower cut off from the others) that still
// lists it is not taken at its word, the primary it names is asked.
func TestRemovedCheckTakesThePrimarysWord(t *testing.T) {
	primaryMap := &cluster.Map{Version: 9, UUID: "u", Primary: "g1"}
	primary := serveMap(primaryMap)
	defer primary.Close()
	primaryMap.Nodes = []cluster.Node{{ID: "g1", Role: cluster.RoleGateway, URL: primary.URL, State: cluster.StateActive}}
	// The follower's older map still has t1.
	followerMap := &cluster.Map{Version: 7, UUID: "u", Primary: "g1", Nodes: []cluster.Node{
		{ID: "g1", Role: cluster.RoleGateway, URL: primary.URL, State: cluster.StateActive},
		{ID: "g2", Role: cluster.RoleGateway, URL: "http://127.0.0.1:1", State: cluster.StateActive},
		{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:2", State: cluster.StateOffline},
	}}
	follower := serveMap(followerMap)
	defer follower.Close()
	n := &Node{config: Config{ID: "t1", Join: follower.URL}, peer: peer.NewClient(peer.ClientConfig{Auth: peer.NewAuth(peer.NewSecret(), peer.Options{}), Node: "t1"})}
	s, err := n.primarysSnapshot(t.Context(), follower.URL)
	if err != nil {
		t.Fatal(err)
	}
	if s.Map.Version != 9 {
		t.Fatalf("the snapshot taken: version %d, want the primary's 9", s.Map.Version)
	}
	if _, ok := s.Map.Node("t1"); ok {
		t.Fatal("the follower's word was taken: t1 reads as a member")
	}
}

// setAsideSpy records a set-aside.
type setAsideSpy struct {
	store.Maintainer
	names []string
}

func (s *setAsideSpy) SetAside(_ context.Context, name string) (bool, error) {
	s.names = append(s.names, name)
	return true, nil
}

// A mark of membership that cannot be read (a disk failing it) is not
// "never a member": the primary is asked, and a target it no longer has
// sets its objects aside.
func TestUnreadableMembershipMarkAsksThePrimary(t *testing.T) {
	m := &cluster.Map{Version: 3, UUID: "u", Primary: "g1"}
	primary := serveMap(m)
	defer primary.Close()
	m.Nodes = []cluster.Node{{ID: "g1", Role: cluster.RoleGateway, URL: primary.URL, State: cluster.StateActive}}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, memberFile), 0o755); err != nil { // (its read fails)
		t.Fatal(err)
	}
	spy := &setAsideSpy{}
	n := &Node{config: Config{ID: "t1", Join: primary.URL, StateDir: dir, Storage: spy, TombstoneTTL: time.Hour}, control: &laggingControl{},
		logger: slog.New(slog.DiscardHandler), peer: peer.NewClient(peer.ClientConfig{Auth: peer.NewAuth(peer.NewSecret(), peer.Options{}), Node: "t1"})}
	if err := n.setAsideIfRemoved(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(spy.names) != 1 {
		t.Fatalf("set aside %v, want once: the primary no longer has the target", spy.names)
	}
}
