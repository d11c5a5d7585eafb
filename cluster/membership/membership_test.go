package membership_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/store"
)

// memStore keeps the metadata in memory.
type memStore struct {
	mu sync.Mutex
	m  *cluster.Map
	md *store.BucketMetadata
	// failing saves fail (a metadata volume gone read only);
	// bucketSavesLeft, when positive, is the saves of buckets before
	// they fail.
	failing         bool
	bucketSavesLeft int
}

func (s *memStore) LoadMap() (*cluster.Map, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		return nil, nil
	}
	return s.m.Clone(), nil
}
func (s *memStore) SaveMap(m *cluster.Map) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing {
		return errors.New("read-only file system")
	}
	s.m = m.Clone()
	return nil
}
func (s *memStore) LoadBuckets() (store.BucketMetadata, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.md == nil {
		return store.BucketMetadata{}, false, nil
	}
	return s.md.Clone(), true, nil
}
func (s *memStore) SaveBuckets(md store.BucketMetadata) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bucketSavesLeft > 0 {
		if s.bucketSavesLeft--; s.bucketSavesLeft == 0 {
			s.failing = true
		}
	} else if s.failing {
		return errors.New("read-only file system")
	}
	c := md.Clone()
	s.md = &c
	return nil
}
func (s *memStore) LoadControl() (membership.ControlState, error) {
	return membership.ControlState{}, nil
}
func (s *memStore) SaveControl(membership.ControlState) error { return nil }

// network connects control planes in memory; a node that is down fails
// every message to it.
type network struct {
	mu    sync.Mutex
	nodes map[string]*membership.Push // by URL
	ids   map[string]string           // URL to id
	down  map[string]bool             // by id
	// refusing nodes take a push and answer it refused (ErrRefused), as
	// a target whose bucket sync fails after it installed the map.
	refusing map[string]bool
	// stopping nodes refuse pushes as stopping (ErrStopping), calling
	// their hook first, once, when set.
	stopping map[string]func()
	joins    []string // "id@url" of each join asked
	pulls    int      // snapshots pulled
}

func newNetwork() *network {
	return &network{nodes: map[string]*membership.Push{}, ids: map[string]string{}, down: map[string]bool{}, refusing: map[string]bool{}, stopping: map[string]func(){}}
}

func (n *network) at(url string) (*membership.Push, string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	p, ok := n.nodes[url]
	if !ok || n.down[n.ids[url]] {
		return nil, "", fmt.Errorf("%w: %s", membership.ErrUnreachable, url)
	}
	return p, n.ids[url], nil
}

func (n *network) setDown(id string, down bool) { n.mu.Lock(); n.down[id] = down; n.mu.Unlock() }

// transport is one node's view of the network.
type transport struct {
	net  *network
	self string
}

func (t transport) Push(ctx context.Context, to cluster.Node, s membership.Snapshot, allowEmpty bool) error {
	p, id, err := t.net.at(to.URL)
	if err != nil {
		return err
	}
	t.net.mu.Lock()
	hook, stopping := t.net.stopping[id]
	t.net.stopping[id] = nil
	if !stopping {
		delete(t.net.stopping, id)
	}
	t.net.mu.Unlock()
	if stopping {
		if hook != nil {
			hook()
		}
		return fmt.Errorf("%w: 503 node %s is stopping", membership.ErrStopping, id)
	}
	err = p.Accept(ctx, s, membership.Origin{Sender: t.self, AllowEmpty: allowEmpty})
	t.net.mu.Lock()
	refusing := t.net.refusing[id]
	t.net.mu.Unlock()
	if err == nil && refusing {
		err = fmt.Errorf("%w: 500 the test's bucket sync fails", membership.ErrRefused)
	}
	return err
}

func (t transport) Join(ctx context.Context, url string, self cluster.Node, uuid string) (membership.Snapshot, error) {
	t.net.mu.Lock()
	t.net.joins = append(t.net.joins, self.ID+"@"+url)
	t.net.mu.Unlock()
	p, _, err := t.net.at(url)
	if err != nil {
		return membership.Snapshot{}, err
	}
	return p.Propose(ctx, membership.Change{Kind: membership.Join, Node: self, UUID: uuid})
}

func (t transport) Forward(ctx context.Context, primary cluster.Node, c membership.Change) (membership.Snapshot, error) {
	p, _, err := t.net.at(primary.URL)
	if err != nil {
		return membership.Snapshot{}, err
	}
	return p.Propose(ctx, c)
}

func (t transport) Probe(ctx context.Context, n cluster.Node) error {
	_, id, err := t.net.at(n.URL)
	if err == nil && id != n.ID {
		err = fmt.Errorf("the node at %s is %s", n.URL, id)
	}
	return err
}

func (t transport) Pull(ctx context.Context, from cluster.Node) (membership.Snapshot, error) {
	t.net.mu.Lock()
	t.net.pulls++
	t.net.mu.Unlock()
	p, _, err := t.net.at(from.URL)
	if err != nil {
		return membership.Snapshot{}, err
	}
	return p.Current(), nil
}

type fixture struct {
	t   *testing.T
	net *network
	now time.Time
	all map[string]*membership.Push
	g1  *membership.Push
	// stores are the nodes' metadata stores, by id.
	stores map[string]*memStore
	// syncFails has the nodes whose store cannot take new buckets (a
	// mountpath read only).
	syncFails sync.Map
	// beforeRejoin has the nodes' checks before they join again, by id.
	beforeRejoin sync.Map
}

func (f *fixture) start(id string, role cluster.Role, join string) *membership.Push {
	f.t.Helper()
	self := cluster.Node{ID: id, Role: role, URL: "http://127.0.0.1:" + fmt.Sprint(1000+len(f.all)), State: cluster.StateActive}
	meta := &memStore{}
	if f.stores == nil {
		f.stores = map[string]*memStore{}
	}
	f.stores[id] = meta
	p, err := membership.NewPush(membership.Config{
		Self: self, Join: join, Store: meta, Transport: transport{f.net, id},
		KeepaliveInterval: time.Second, KeepaliveTimeout: 5 * time.Second,
		Now: func() time.Time { return f.now },
		BeforeRejoin: func(ctx context.Context) error {
			if check, ok := f.beforeRejoin.Load(id); ok {
				return check.(func(context.Context) error)(ctx)
			}
			return nil
		},
		SyncBuckets: func(context.Context, store.BucketMetadata) error {
			if _, fails := f.syncFails.Load(id); fails {
				return errors.New("mkdir: read-only file system")
			}
			return nil
		},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.net.mu.Lock()
	f.net.nodes[self.URL], f.net.ids[self.URL] = p, id
	f.net.mu.Unlock()
	if err := p.Start(f.t.Context(), f.t.Context()); err != nil {
		f.t.Fatal(err)
	}
	f.all[id] = p
	return p
}

func newFixture(t *testing.T, targets int) *fixture {
	f := &fixture{t: t, net: newNetwork(), now: time.Unix(1_800_000_000, 0), all: map[string]*membership.Push{}}
	f.g1 = f.start("g1", cluster.RoleGateway, "")
	primaryURL := f.g1.Current().Map.Nodes[0].URL
	f.start("g2", cluster.RoleGateway, primaryURL)
	for i := range targets {
		f.start(fmt.Sprintf("t%d", i+1), cluster.RoleTarget, primaryURL)
	}
	return f
}

// tick moves the fixture's clock and runs a keepalive round.
func (f *fixture) tick(after time.Duration) {
	f.now = f.now.Add(after)
	f.g1.Tick(f.t.Context(), f.now)
}

// agree checks that every running node has the primary's snapshot.
func (f *fixture) agree() membership.Snapshot {
	f.t.Helper()
	want := f.g1.Current()
	for id, p := range f.all {
		if f.net.down[id] {
			continue
		}
		got := p.Current()
		if got.Map.Version != want.Map.Version || got.Buckets.Version != want.Buckets.Version {
			f.t.Fatalf("%s has map %d, buckets %d; the primary %d, %d", id, got.Map.Version, got.Buckets.Version, want.Map.Version, want.Buckets.Version)
		}
	}
	return want
}

// A target that cannot save the metadata it is pushed (its metadata
// volume gone read only) takes it all the same: refused, it would stay on
// its old map for good while answering as alive.
func TestTargetTakesWhatItCannotSave(t *testing.T) {
	f := newFixture(t, 2)
	f.stores["t1"].mu.Lock()
	f.stores["t1"].failing = true
	f.stores["t1"].mu.Unlock()
	if _, err := f.g1.Propose(t.Context(), membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("b"), Created: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.g1.Propose(t.Context(), membership.Change{Kind: membership.Maintenance, Node: cluster.Node{ID: "t2"}}); err != nil {
		t.Fatal(err)
	}
	f.agree()
}

// A target takes the cluster config its primary sends though it breaks
// a rule of this version (a bound added since it was set): refused, the
// target could not join; the revoked tokens of the push are taken too.
func TestTargetTakesAConfigOfOlderRules(t *testing.T) {
	f := newFixture(t, 1)
	s := f.g1.Current()
	config := membership.DefaultClusterConfig()
	config.Version = 5
	config.LRU.CapacityUpdTime = store.Duration(48 * time.Hour)
	s.Config = &config
	s.Tokens = &membership.RevokedTokens{Version: 3, Tokens: map[string]int64{"jti-1": time.Now().Add(time.Hour).Unix()}}
	if err := f.all["t1"].Accept(t.Context(), s, membership.Origin{Sender: "g1"}); err != nil {
		t.Fatalf("a push of a config of older rules: %v", err)
	}
	got := f.all["t1"].Current()
	if got.Config == nil || got.Config.Version != 5 || got.Tokens == nil || !got.Tokens.Has("jti-1") {
		t.Fatalf("after the push: config %+v, tokens %+v", got.Config, got.Tokens)
	}
}

// A target whose store cannot take a new bucket still takes the revoked
// tokens and the config of the same push: its bucket sync may fail for
// long, and a revoked token would work on it meanwhile.
func TestTargetTakesRevocationsThoughItsBucketsFail(t *testing.T) {
	f := newFixture(t, 1)
	f.syncFails.Store("t1", true)
	s := f.g1.Current()
	md := s.Buckets.Clone()
	md.Version++
	md.Buckets[store.NewBucket("b")] = store.Props{}
	s.Buckets = &md
	config := membership.DefaultClusterConfig()
	config.Version = 5
	s.Config = &config
	s.Tokens = &membership.RevokedTokens{Version: 3, Tokens: map[string]int64{"jti-1": time.Now().Add(time.Hour).Unix()}}
	if err := f.all["t1"].Accept(t.Context(), s, membership.Origin{Sender: "g1"}); err == nil {
		t.Fatal("a push of buckets the store cannot take: accepted")
	}
	got := f.all["t1"].Current()
	if got.Config == nil || got.Config.Version != 5 || got.Tokens == nil || !got.Tokens.Has("jti-1") {
		t.Fatalf("after the push: config %+v, tokens %+v", got.Config, got.Tokens)
	}
	if _, ok := got.Buckets.Props(store.NewBucket("b")); ok {
		t.Fatal("the bucket the store could not take is in the node's view")
	}
}

// A running node joins again only once its check before (a target
// removed while away sets its objects aside) passed.
func TestRejoinWaitsForItsCheck(t *testing.T) {
	f := newFixture(t, 1)
	joins := func() int {
		f.net.mu.Lock()
		defer f.net.mu.Unlock()
		return len(f.net.joins)
	}
	before := joins()
	var checks atomic.Int32
	// Only the second check passes (the loop below may ask once more).
	f.beforeRejoin.Store("t1", func(context.Context) error {
		if checks.Add(1) != 2 {
			return errors.New("set aside: read-only file system")
		}
		return nil
	})
	deadline := time.Now().Add(10 * time.Second)
	for checks.Load() < 2 || joins() == before {
		if time.Now().After(deadline) {
			t.Fatalf("%d checks, %d joins", checks.Load(), joins()-before)
		}
		f.all["t1"].Rejoin() // one at a time: the second once the first ended
		time.Sleep(5 * time.Millisecond)
	}
	if n := joins() - before; n != 1 {
		t.Fatalf("%d joins after a failed check and a passed one, want 1", n)
	}
}

func TestJoinAndProposeEverywhere(t *testing.T) {
	f := newFixture(t, 3)
	s := f.agree()
	if len(s.Map.Nodes) != 5 || len(s.Map.ActiveTargets()) != 3 {
		t.Fatalf("map %+v", s.Map.Nodes)
	}
	// A change proposed on a target or the other gateway is forwarded.
	if _, err := f.all["t2"].Propose(t.Context(), membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("b"), Created: 7}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.all["g2"].Propose(t.Context(), membership.Change{Kind: membership.SetProps, Bucket: store.NewBucket("b"), Patch: []byte(`{"versioning":{"enabled":false}}`)}); err != nil {
		t.Fatal(err)
	}
	s = f.agree()
	props := s.Buckets.Buckets[store.NewBucket("b")]
	if props.Created != 7 || props.Versioning.Enabled || props.Checksum.Type != store.ChecksumXXHash {
		t.Fatalf("props %+v", props)
	}
	// AIStore's clients want a bucket id and the access bits; a props
	// change keeps them.
	if props.BID == 0 || props.Access != store.AccessAll || props.Features != "0" {
		t.Fatalf("bid %d access %q features %q", props.BID, props.Access, props.Features)
	}
	// A used id at another URL is refused before anything changes.
	_, err := f.g1.Propose(t.Context(), membership.Change{Kind: membership.Join, Node: cluster.Node{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:9"}})
	if !errors.Is(err, cluster.ErrDuplicateNode) {
		t.Fatalf("a duplicate id: %v", err)
	}
	// Another id at a member's URL (a target that lost its data
	// directory) is refused: it would take the member's pushes.
	t1, _ := s.Map.Node("t1")
	_, err = f.g1.Propose(t.Context(), membership.Change{Kind: membership.Join, Node: cluster.Node{ID: "t9", Role: cluster.RoleTarget, URL: t1.URL}})
	if !errors.Is(err, cluster.ErrDuplicateNode) || !strings.Contains(err.Error(), "t1") {
		t.Fatalf("another id at t1's URL: %v", err)
	}
	// However spelled: localhost for 127.0.0.1.
	if other := strings.Replace(t1.URL, "127.0.0.1", "localhost", 1); other != t1.URL {
		_, err = f.g1.Propose(t.Context(), membership.Change{Kind: membership.Join, Node: cluster.Node{ID: "t9", Role: cluster.RoleTarget, URL: other}})
		if !errors.Is(err, cluster.ErrDuplicateNode) {
			t.Fatalf("another id at t1's URL spelled %s: %v", other, err)
		}
	} else {
		t.Fatalf("t1's URL %s is not of 127.0.0.1: the test proves nothing", t1.URL)
	}
	// A node that does not answer at its URL cannot join.
	_, err = f.g1.Propose(t.Context(), membership.Change{Kind: membership.Join, Node: cluster.Node{ID: "t9", Role: cluster.RoleTarget, URL: "http://127.0.0.1:9"}})
	if err == nil {
		t.Fatal("a node that does not answer joined")
	}
	if f.agree().Map.Version != s.Map.Version {
		t.Fatal("a refused change moved the map")
	}
}

// TestKeepalive drives the keepalive by hand with an injected clock: a
// silent target goes offline after the timeout, comes back active when it
// answers; a silent gateway leaves the map.
func TestKeepalive(t *testing.T) {
	f := newFixture(t, 3)
	tick := f.tick
	tick(time.Second)
	f.net.setDown("t2", true)
	tick(time.Second) // first missed
	tick(3 * time.Second)
	if n, _ := f.g1.Current().Map.Node("t2"); n.State != cluster.StateActive {
		t.Fatalf("t2 is %s before the timeout", n.State)
	}
	tick(3 * time.Second)
	if n, _ := f.g1.Current().Map.Node("t2"); n.State != cluster.StateOffline {
		t.Fatalf("t2 is %s after the timeout", n.State)
	}
	f.agree()
	tick(time.Minute)
	if n, _ := f.g1.Current().Map.Node("t2"); n.State != cluster.StateOffline {
		t.Fatalf("t2 left the offline state while silent: %s", n.State)
	}
	f.net.setDown("t2", false)
	tick(time.Second)
	if n, _ := f.g1.Current().Map.Node("t2"); n.State != cluster.StateActive {
		t.Fatalf("t2 answers again but is %s", n.State)
	}
	f.net.setDown("g2", true)
	tick(time.Second)
	tick(6 * time.Second)
	tick(time.Second) // the third round missed in a row
	if _, ok := f.g1.Current().Map.Node("g2"); ok {
		t.Fatal("a silent gateway is still in the map")
	}
	f.agree()
}

// A target that refuses a push because it is stopping goes offline at
// that round, without the timeout; a gateway saying so is judged as a
// silent one.
func TestKeepaliveTakesAStoppingTargetOfflineAtOnce(t *testing.T) {
	m := &cluster.Map{Version: 4, Primary: "g1", Nodes: []cluster.Node{
		{ID: "g1", Role: cluster.RoleGateway, State: cluster.StateActive},
		{ID: "g2", Role: cluster.RoleGateway, State: cluster.StateActive},
		{ID: "t1", Role: cluster.RoleTarget, State: cluster.StateActive},
		{ID: "t2", Role: cluster.RoleTarget, State: cluster.StateActive},
	}}
	var k membership.Keepalive
	now := time.Unix(1000, 0)
	k.Round(now, m, nil)
	stopping := fmt.Errorf("%w: 503", membership.ErrStopping)
	changes := k.Round(now.Add(time.Second), m, map[string]error{"t1": stopping, "g2": stopping})
	if len(changes) != 1 || changes[0].Kind != membership.Offline || changes[0].Node.ID != "t1" || changes[0].IfMap != m.Version {
		t.Fatalf("a round with a stopping target and gateway: %+v, want t1 offline only", changes)
	}
	m.Version, m.Nodes[2].State = 5, cluster.StateOffline
	if changes := k.Round(now.Add(2*time.Second), m, map[string]error{"t1": stopping}); len(changes) != 0 {
		t.Fatalf("a stopping target already offline: %+v, want no change", changes)
	}
}

// A round judges the map it pushed: a stopping refusal of a round during
// which the map changed (the target restarted and joined again, here a
// change of another target) does not take the target offline by the
// newer map; the next round, of the map it refuses again, does.
func TestStoppingRefusalJudgedAgainstTheMapPushed(t *testing.T) {
	f := newFixture(t, 2)
	f.tick(time.Second)
	f.net.mu.Lock()
	f.net.stopping["t1"] = func() {
		if _, err := f.g1.Propose(t.Context(), membership.Change{Kind: membership.Maintenance, Node: cluster.Node{ID: "t2"}}); err != nil {
			t.Error(err)
		}
	}
	f.net.mu.Unlock()
	f.tick(time.Second)
	if n, _ := f.g1.Current().Map.Node("t1"); n.State != cluster.StateActive {
		t.Fatalf("t1 is %s after a round whose map changed as it refused", n.State)
	}
	f.tick(time.Second)
	if n, _ := f.g1.Current().Map.Node("t1"); n.State != cluster.StateOffline {
		t.Fatalf("t1, still stopping, is %s after the next round", n.State)
	}
}

// Two targets silent together go offline in the same round: the round's
// changes follow each other (each as of the map the one before it left),
// not refused as of a map changed by the first.
func TestKeepaliveTakesTwoSilentTargetsOfflineTogether(t *testing.T) {
	f := newFixture(t, 3)
	f.tick(time.Second)
	f.net.setDown("t1", true)
	f.net.setDown("t2", true)
	f.tick(time.Second)
	f.tick(3 * time.Second)
	f.tick(3 * time.Second)
	for _, id := range []string{"t1", "t2"} {
		if n, _ := f.g1.Current().Map.Node(id); n.State != cluster.StateOffline {
			t.Fatalf("%s is %s after the round that took the other offline", id, n.State)
		}
	}
}

// A target that left the map and joins again later gets the whole
// timeout before a silence takes it offline, as a new one does.
func TestKeepaliveForgetsNodesThatLeft(t *testing.T) {
	t1 := cluster.Node{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:2", State: cluster.StateActive}
	g1 := cluster.Node{ID: "g1", Role: cluster.RoleGateway, URL: "http://127.0.0.1:1", State: cluster.StateActive}
	with := &cluster.Map{Version: 1, Primary: "g1", Nodes: []cluster.Node{g1, t1}}
	without := &cluster.Map{Version: 2, Primary: "g1", Nodes: []cluster.Node{g1}}
	back := &cluster.Map{Version: 3, Primary: "g1", Nodes: []cluster.Node{g1, t1}}
	var k membership.Keepalive
	start := time.Now()
	k.Round(start, with, nil)
	k.Round(start.Add(time.Second), with, map[string]error{"t1": errors.New("refused")})
	k.Round(start.Add(time.Hour), without, nil)
	if changes := k.Round(start.Add(time.Hour+time.Second), back, map[string]error{"t1": errors.New("refused")}); len(changes) != 0 {
		t.Fatalf("a target back in the map missed one round: %+v, want no change", changes)
	}
	if changes := k.Round(start.Add(time.Hour+12*time.Second), back, map[string]error{"t1": errors.New("refused")}); len(changes) != 0 {
		t.Fatalf("silent for the timeout, two rounds: %+v, want no change", changes)
	}
	if changes := k.Round(start.Add(time.Hour+13*time.Second), back, map[string]error{"t1": errors.New("refused")}); len(changes) != 1 || changes[0].Kind != membership.Offline {
		t.Fatalf("silent for the timeout and three rounds: %+v, want it offline", changes)
	}
}

// The keepalive's Offline is of the map it judged: a target that joined
// again meanwhile (restarted during the round) is not taken offline by
// it, which started two rebalances for nothing and failed its writes.
func TestKeepaliveOfflineIsOfTheMapItJudged(t *testing.T) {
	t1 := cluster.Node{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:2", State: cluster.StateActive}
	g1 := cluster.Node{ID: "g1", Role: cluster.RoleGateway, URL: "http://127.0.0.1:1", State: cluster.StateActive}
	m := &cluster.Map{Version: 4, Primary: "g1", Nodes: []cluster.Node{g1, t1}}
	k := membership.Keepalive{Timeout: time.Second}
	start := time.Now()
	missed := map[string]error{"t1": errors.New("connection refused")}
	var changes []membership.Change
	for i := 0; i < 10 && len(changes) == 0; i++ {
		changes = k.Round(start.Add(time.Duration(i)*time.Second), m, missed)
	}
	if len(changes) != 1 || changes[0].Kind != membership.Offline || changes[0].IfMap != m.Version {
		t.Fatalf("a silent target: %+v, want it offline as of map %d", changes, m.Version)
	}
	joined := m.Clone()
	joined.Version++ // t1's join, committed while the round pushed
	if _, err := membership.Apply(membership.Snapshot{Map: joined}, changes[0]); !errors.Is(err, membership.ErrMapChanged) {
		t.Fatalf("an Offline judged on map %d applied to map %d: %v, want refused", m.Version, joined.Version, err)
	}
	if s, err := membership.Apply(membership.Snapshot{Map: m}, changes[0]); err != nil {
		t.Fatal(err)
	} else if node, _ := s.Map.Node("t1"); node.State != cluster.StateOffline {
		t.Fatalf("t1 after the Offline of its map: %+v", node)
	}
}

// Rounds stretched past the timeout (each waits for the push timeout of
// a node that hangs) do not take a live target offline at its first
// missed answer; a target silent for three of them goes offline.
func TestKeepaliveStretchedRoundsNeedThreeMisses(t *testing.T) {
	t1 := cluster.Node{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:2", State: cluster.StateActive}
	g1 := cluster.Node{ID: "g1", Role: cluster.RoleGateway, URL: "http://127.0.0.1:1", State: cluster.StateActive}
	m := &cluster.Map{Version: 1, Primary: "g1", Nodes: []cluster.Node{g1, t1}}
	missed := map[string]error{"t1": errors.New("connection reset")}
	k := membership.Keepalive{Timeout: 10 * time.Second}
	start := time.Now()
	round := func(i int, failed map[string]error) []membership.Change {
		return k.Round(start.Add(time.Duration(i)*11*time.Second), m, failed)
	}
	round(0, nil)
	if changes := round(1, missed); len(changes) != 0 {
		t.Fatalf("one missed answer after a stretched round: %+v, want no change", changes)
	}
	round(2, nil)
	if changes := round(3, missed); len(changes) != 0 {
		t.Fatalf("a missed answer after one: %+v, want no change", changes)
	}
	if changes := round(4, missed); len(changes) != 0 {
		t.Fatalf("two missed in a row: %+v, want no change", changes)
	}
	if changes := round(5, missed); len(changes) != 1 || changes[0].Kind != membership.Offline || changes[0].Node.ID != "t1" {
		t.Fatalf("three missed in a row, 33s silent: %+v, want t1 offline", changes)
	}
}

// A target whose Offline was refused (another change of the map won the
// race) is proposed again after three more missed rounds, not given the
// whole timeout again as one that joined back; so is a gateway whose
// Remove was refused. One removed that joins back before the next round
// starts afresh.
func TestKeepaliveProposesARefusedChangeAgain(t *testing.T) {
	t1 := cluster.Node{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:2", State: cluster.StateActive}
	g1 := cluster.Node{ID: "g1", Role: cluster.RoleGateway, URL: "http://127.0.0.1:1", State: cluster.StateActive}
	g2 := cluster.Node{ID: "g2", Role: cluster.RoleGateway, URL: "http://127.0.0.1:3", State: cluster.StateActive}
	missed := map[string]error{"t1": errors.New("timed out"), "g2": errors.New("timed out")}
	k := membership.Keepalive{Timeout: 10 * time.Second}
	start := time.Now()
	m := &cluster.Map{Version: 1, Primary: "g1", Nodes: []cluster.Node{g1, g2, t1}}
	k.Round(start, m, nil)
	var changes []membership.Change
	for i := 1; i <= 3; i++ {
		changes = k.Round(start.Add(time.Duration(i)*5*time.Second), m, missed)
	}
	if len(changes) != 2 {
		t.Fatalf("silent for 15s and three rounds: %+v, want g2 removed and t1 offline", changes)
	}
	refuse := func(context.Context, membership.Change) (membership.Snapshot, error) {
		return membership.Snapshot{}, membership.ErrMapChanged
	}
	k.Refused(membership.ProposeRound(t.Context(), changes, m.Version, refuse, slog.New(slog.DiscardHandler)))
	m = &cluster.Map{Version: 2, Primary: "g1", Nodes: []cluster.Node{g1, g2, t1}} // the change that won
	for i := range 2 {
		if changes := k.Round(start.Add(time.Duration(20+i)*time.Second), m, missed); len(changes) != 0 {
			t.Fatalf("round %d after the changes were refused: %+v, want none yet (misses counted again)", i+1, changes)
		}
	}
	if changes = k.Round(start.Add(22*time.Second), m, missed); len(changes) != 2 {
		t.Fatalf("the third missed round after the changes were refused: %+v, want both proposed again", changes)
	}
	// Made this time; g2 joins back before the next round: afresh.
	m = &cluster.Map{Version: 4, Primary: "g1", Nodes: []cluster.Node{g1, g2, {ID: "t1", Role: cluster.RoleTarget, URL: t1.URL, State: cluster.StateOffline}}}
	for i := range 3 {
		if changes := k.Round(start.Add(time.Duration(23+i)*time.Second), m, missed); len(changes) != 0 {
			t.Fatalf("round %d after g2 joined back: %+v, want no change within its timeout", i+1, changes)
		}
	}
}

// A target offline for an hour that joins again (not by answering a
// push) gets the whole timeout before a silence takes it offline: its
// sighting from before it went down does not count.
func TestKeepaliveRestartsTheClockOfARejoinedTarget(t *testing.T) {
	t1 := cluster.Node{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:2", State: cluster.StateActive}
	g1 := cluster.Node{ID: "g1", Role: cluster.RoleGateway, URL: "http://127.0.0.1:1", State: cluster.StateActive}
	down := t1
	down.State = cluster.StateOffline
	active := &cluster.Map{Version: 1, Primary: "g1", Nodes: []cluster.Node{g1, t1}}
	offline := &cluster.Map{Version: 2, Primary: "g1", Nodes: []cluster.Node{g1, down}}
	rejoined := &cluster.Map{Version: 3, Primary: "g1", Nodes: []cluster.Node{g1, t1}}
	refused := map[string]error{"t1": errors.New("refused")}
	var k membership.Keepalive
	start := time.Now()
	k.Round(start, active, nil)
	k.Round(start.Add(time.Second), active, refused)
	k.Round(start.Add(12*time.Second), offline, refused)
	k.Round(start.Add(time.Hour), offline, refused)
	if changes := k.Round(start.Add(time.Hour+time.Second), rejoined, refused); len(changes) != 0 {
		t.Fatalf("a target that joined again missed one round: %+v, want no change", changes)
	}
	if changes := k.Round(start.Add(time.Hour+12*time.Second), rejoined, refused); len(changes) != 0 {
		t.Fatalf("a target that joined again missed two rounds: %+v, want no change", changes)
	}
	if changes := k.Round(start.Add(time.Hour+13*time.Second), rejoined, refused); len(changes) != 1 || changes[0].Kind != membership.Offline {
		t.Fatalf("silent for the timeout and three rounds: %+v, want it offline", changes)
	}
	// Joined again before a round saw the map with it offline.
	quick := &cluster.Map{Version: 5, Primary: "g1", Nodes: []cluster.Node{g1, t1}}
	if changes := k.Round(start.Add(time.Hour+14*time.Second), quick, refused); len(changes) != 0 {
		t.Fatalf("a target that joined again at once missed one round: %+v, want no change", changes)
	}
}

// A target restarted at another address (a pod's new IP) waits for the
// keepalive to find its old entry silent, then joins; it does not fail
// to start because the map still has it active at the old one.
func TestTargetRestartedAtAnotherAddressJoins(t *testing.T) {
	f := newFixture(t, 1)
	old, _ := f.g1.Current().Map.Node("t1")
	f.net.mu.Lock()
	delete(f.net.nodes, old.URL) // the old process is gone
	f.net.mu.Unlock()
	self := cluster.Node{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:1999", State: cluster.StateActive}
	p, err := membership.NewPush(membership.Config{
		Self: self, Join: f.g1.Current().Map.Nodes[0].URL, Store: &memStore{}, Transport: transport{f.net, "t1"},
		KeepaliveInterval: time.Second, KeepaliveTimeout: 5 * time.Second, Now: func() time.Time { return f.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.net.mu.Lock()
	f.net.nodes[self.URL], f.net.ids[self.URL] = p, "t1"
	f.net.mu.Unlock()
	started := make(chan error, 1)
	go func() { started <- p.Start(t.Context(), t.Context()) }()
	select {
	case err := <-started:
		t.Fatalf("the restarted target started (%v) while its old entry was active", err)
	case <-time.After(300 * time.Millisecond):
	}
	f.tick(time.Second)
	f.tick(6 * time.Second)
	f.tick(time.Second) // the old entry is silent past the timeout, three rounds
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("the restarted target: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the restarted target did not join once its old entry went offline")
	}
	if n, _ := f.g1.Current().Map.Node("t1"); n.URL != self.URL || n.State != cluster.StateActive {
		t.Fatalf("t1 in the map: %+v, want active at %s", n, self.URL)
	}
}

// A node that would join at another member's address is refused at once:
// no keepalive settles that, and waiting would only hide it.
func TestJoinAtAMembersAddressFailsAtOnce(t *testing.T) {
	f := newFixture(t, 1)
	used, _ := f.g1.Current().Map.Node("t1")
	self := cluster.Node{ID: "t9", Role: cluster.RoleTarget, URL: used.URL, State: cluster.StateActive}
	started := startJoiner(t, f, self)
	select {
	case err := <-started:
		if !errors.Is(err, cluster.ErrDuplicateNode) || errors.Is(err, cluster.ErrNodeElsewhere) {
			t.Fatalf("a join at t1's address: %v, want refused as a duplicate", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a join at another member's address waits")
	}
}

// startJoiner starts a node that joins f's cluster as self; its Start's
// error comes on the channel.
func startJoiner(t *testing.T, f *fixture, self cluster.Node) <-chan error {
	t.Helper()
	p, err := membership.NewPush(membership.Config{
		Self: self, Join: f.g1.Current().Map.Nodes[0].URL, Store: &memStore{}, Transport: transport{f.net, self.ID},
		KeepaliveInterval: time.Second, KeepaliveTimeout: 5 * time.Second, Now: func() time.Time { return f.now },
		JoinProbeWait: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan error, 1)
	go func() { started <- p.Start(t.Context(), t.Context()) }()
	return started
}

// A joiner the gateway cannot reach at the URL it gave is waited for a
// while (its name not in DNS yet), then the join fails naming the probe.
func TestJoinAtAURLNobodyAnswersGivesUp(t *testing.T) {
	f := newFixture(t, 1)
	self := cluster.Node{ID: "t9", Role: cluster.RoleTarget, URL: "http://127.0.0.1:9", State: cluster.StateActive}
	started := startJoiner(t, f, self)
	select {
	case err := <-started:
		if !membership.ProbeFailed(err) || !strings.Contains(err.Error(), self.URL) {
			t.Fatalf("a join at a URL nobody answers: %v, want a probe failure naming the URL", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a join at a URL nobody answers waits for ever")
	}
	f.net.mu.Lock()
	joins := len(f.net.joins)
	f.net.mu.Unlock()
	if joins < 2 {
		t.Fatalf("%d joins asked, want the join tried again while it waits", joins)
	}
}

// TestApplyTable: each change and what it does, or why it is refused.
func TestApplyTable(t *testing.T) {
	base := membership.Snapshot{Map: &cluster.Map{Version: 3, Primary: "g1", Nodes: []cluster.Node{
		{ID: "g1", Role: cluster.RoleGateway, URL: "http://127.0.0.1:1", State: cluster.StateActive},
		{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:2", State: cluster.StateActive},
		{ID: "t2", Role: cluster.RoleTarget, URL: "http://127.0.0.1:3", State: cluster.StateLeaving},
		{ID: "t3", Role: cluster.RoleTarget, URL: "http://127.0.0.1:4", State: cluster.StateOffline},
	}}, Buckets: &store.BucketMetadata{Version: 2, Buckets: map[store.Bucket]store.Props{store.NewBucket("b"): store.DefaultProps()}}}
	node := func(id string) cluster.Node { return cluster.Node{ID: id} }
	tests := []struct {
		name   string
		change membership.Change
		state  map[string]cluster.State // expected states; "" means gone
		err    error
	}{
		{"a target leaves", membership.Change{Kind: membership.Leave, Node: node("t1")}, map[string]cluster.State{"t1": cluster.StateLeaving}, nil},
		{"a leaving target is gone", membership.Change{Kind: membership.Left, Node: node("t2")}, map[string]cluster.State{"t2": ""}, nil},
		{"left of an active target", membership.Change{Kind: membership.Left, Node: node("t1")}, nil, membership.ErrNotLeaving},
		{"a leaving target asked to leave again", membership.Change{Kind: membership.Leave, Node: node("t2")}, nil, membership.ErrLeavingAlready},
		{"an offline target is removed", membership.Change{Kind: membership.Leave, Node: node("t3")}, map[string]cluster.State{"t3": ""}, nil},
		{"maintenance", membership.Change{Kind: membership.Maintenance, Node: node("t1")}, map[string]cluster.State{"t1": cluster.StateMaintenance}, nil},
		{"offline", membership.Change{Kind: membership.Offline, Node: node("t1")}, map[string]cluster.State{"t1": cluster.StateOffline}, nil},
		{"back from offline", membership.Change{Kind: membership.Returned, Node: node("t3")}, map[string]cluster.State{"t3": cluster.StateActive}, nil},
		{"the primary leaves", membership.Change{Kind: membership.Leave, Node: node("g1")}, nil, membership.ErrPrimaryLeaves},
		{"an unknown node", membership.Change{Kind: membership.Maintenance, Node: node("x")}, nil, cluster.ErrNodeNotFound},
		{"a join with a path in its id", membership.Change{Kind: membership.Join, Node: cluster.Node{ID: "../x", Role: cluster.RoleTarget, URL: "http://127.0.0.1:9"}}, nil, cluster.ErrInvalidNode},
		{"a restarted leaving target rejoins leaving", membership.Change{Kind: membership.Join, Node: cluster.Node{ID: "t2", Role: cluster.RoleTarget, URL: "http://127.0.0.1:3"}}, map[string]cluster.State{"t2": cluster.StateLeaving}, nil},
		{"a restarted offline target rejoins", membership.Change{Kind: membership.Join, Node: cluster.Node{ID: "t3", Role: cluster.RoleTarget, URL: "http://127.0.0.1:8"}}, map[string]cluster.State{"t3": cluster.StateActive}, nil},
		{"the primary joins as a target", membership.Change{Kind: membership.Join, Node: cluster.Node{ID: "g1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:1"}}, nil, membership.ErrRoleChange},
		{"a target joins as a gateway", membership.Change{Kind: membership.Join, Node: cluster.Node{ID: "t1", Role: cluster.RoleGateway, URL: "http://127.0.0.1:2"}}, nil, membership.ErrRoleChange},
		{"a bucket exists", membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("b")}, nil, store.ErrBucketExists},
		{"a bucket name that climbs", membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("../x")}, nil, store.ErrInvalidName},
		{"bad props", membership.Change{Kind: membership.SetProps, Bucket: store.NewBucket("b"), Patch: []byte(`{"checksum":{"type":"rot13"}}`)}, nil, store.ErrInvalidProps},
		{"destroy a missing bucket", membership.Change{Kind: membership.DestroyBucket, Bucket: store.NewBucket("x")}, nil, store.ErrBucketNotFound},
		{"destroy under another map", membership.Change{Kind: membership.DestroyBucket, Bucket: store.NewBucket("b"), IfMap: 2}, nil, membership.ErrMapChanged},
		{"destroy a bucket created again", membership.Change{Kind: membership.DestroyBucket, Bucket: store.NewBucket("b"), Created: 12345}, nil, membership.ErrMapChanged},
		{"an unknown change", membership.Change{Kind: "reboot"}, nil, membership.ErrUnknownChange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next, err := membership.Apply(base, tc.change)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("got %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if next.Map.Version != base.Map.Version+1 {
				t.Fatalf("version %d", next.Map.Version)
			}
			for id, want := range tc.state {
				n, ok := next.Map.Node(id)
				if want == "" && ok || want != "" && (!ok || n.State != want) {
					t.Fatalf("%s: %+v %v, want %q", id, n, ok, want)
				}
			}
		})
	}
	if len(base.Map.Nodes) != 4 || base.Map.Version != 3 {
		t.Fatal("Apply changed its input")
	}
}

// TestLeavingSurvivesOffline: a leaving target that goes offline goes on
// leaving when it is back, whether the keepalive hears it again or it
// restarts and joins; an active one comes back active. An
// administrator's maintenance or decommission change to an offline
// target takes effect when it is back.
func TestLeavingSurvivesOffline(t *testing.T) {
	start := membership.Snapshot{Map: &cluster.Map{Version: 1, Primary: "g1", Nodes: []cluster.Node{
		{ID: "g1", Role: cluster.RoleGateway, URL: "http://127.0.0.1:1", State: cluster.StateActive},
		{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:2", State: cluster.StateActive},
	}}, Buckets: &store.BucketMetadata{Buckets: map[store.Bucket]store.Props{}}}
	t1 := cluster.Node{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:2"}
	apply := func(s membership.Snapshot, kinds ...membership.Kind) cluster.Node {
		t.Helper()
		for _, k := range kinds {
			var err error
			if s, err = membership.Apply(s, membership.Change{Kind: k, Node: t1}); err != nil {
				t.Fatalf("%s: %v", k, err)
			}
		}
		n, _ := s.Map.Node("t1")
		return n
	}
	for _, tc := range []struct {
		name  string
		kinds []membership.Kind
		want  cluster.State
	}{
		{"offline while leaving, heard again", []membership.Kind{membership.Leave, membership.Offline, membership.Returned}, cluster.StateLeaving},
		{"offline while leaving, restarted", []membership.Kind{membership.Leave, membership.Offline, membership.Join}, cluster.StateLeaving},
		{"offline twice while leaving", []membership.Kind{membership.Leave, membership.Offline, membership.Returned, membership.Offline, membership.Join}, cluster.StateLeaving},
		{"offline while active", []membership.Kind{membership.Offline, membership.Activate, membership.Returned}, cluster.StateActive},
		{"offline while active, restarted", []membership.Kind{membership.Offline, membership.Join}, cluster.StateActive},
		{"decommission cancelled once back", []membership.Kind{membership.Leave, membership.Offline, membership.Returned, membership.Activate}, cluster.StateActive},
		// An administrator's change to an offline target takes effect
		// once it is back: it is not made active (an owner) before.
		{"maintenance stopped while offline", []membership.Kind{membership.Maintenance, membership.Offline, membership.Activate}, cluster.StateOffline},
		{"maintenance stopped while offline, returned", []membership.Kind{membership.Maintenance, membership.Offline, membership.Activate, membership.Returned}, cluster.StateActive},
		{"decommission cancelled while offline", []membership.Kind{membership.Leave, membership.Offline, membership.Activate}, cluster.StateOffline},
		{"decommission cancelled while offline, returned", []membership.Kind{membership.Leave, membership.Offline, membership.Activate, membership.Returned}, cluster.StateActive},
		{"a target back in maintenance", []membership.Kind{membership.Maintenance, membership.Offline, membership.Activate, membership.Offline, membership.Join}, cluster.StateActive},
		// The keepalive hears an offline target again: it is what it was.
		{"offline while leaving, returned", []membership.Kind{membership.Leave, membership.Offline, membership.Returned}, cluster.StateLeaving},
		{"offline while active, returned", []membership.Kind{membership.Offline, membership.Returned}, cluster.StateActive},
		{"offline in maintenance, returned", []membership.Kind{membership.Maintenance, membership.Offline, membership.Returned}, cluster.StateMaintenance},
		// A restart ends maintenance (a rolling upgrade relies on it).
		{"offline in maintenance, restarted", []membership.Kind{membership.Maintenance, membership.Offline, membership.Join}, cluster.StateActive},
		{"in maintenance, restarted", []membership.Kind{membership.Maintenance, membership.Join}, cluster.StateActive},
		{"offline twice in maintenance", []membership.Kind{membership.Maintenance, membership.Offline, membership.Returned, membership.Offline, membership.Returned}, cluster.StateMaintenance},
		{"maintenance ended once back", []membership.Kind{membership.Maintenance, membership.Offline, membership.Returned, membership.Activate}, cluster.StateActive},
		{"returned while not offline", []membership.Kind{membership.Maintenance, membership.Returned}, cluster.StateMaintenance},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := apply(start, tc.kinds...)
			if n.State != tc.want || n.Leaving || n.Maintained {
				t.Fatalf("%+v, want %s and no leaving or maintenance mark", n, tc.want)
			}
		})
	}
	if n := apply(start, membership.Leave, membership.Offline); n.State != cluster.StateOffline || !n.Leaving {
		t.Fatalf("a leaving target taken offline: %+v, want offline and marked leaving", n)
	}
	if n := apply(start, membership.Offline, membership.Maintenance); n.State != cluster.StateOffline || !n.Maintained || n.Leaving {
		t.Fatalf("maintenance started while offline: %+v, want offline and marked in maintenance", n)
	}
	if n := apply(start, membership.Leave, membership.Offline, membership.Maintenance, membership.Returned); n.State != cluster.StateMaintenance || n.Maintained || n.Leaving {
		t.Fatalf("maintenance started while offline and leaving, returned: %+v, want in maintenance", n)
	}
	// The joiner cannot mark itself.
	marked := t1
	marked.Leaving = true
	s, err := membership.Apply(start, membership.Change{Kind: membership.Join, Node: marked})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Map.Node("t1"); n.Leaving || n.State != cluster.StateActive {
		t.Fatalf("a join marked leaving: %+v", n)
	}
}

// TestApplyIsAFunctionOfTheChanges: the same sequence gives the same
// snapshot, whoever applies it.
// A node or bucket change committed before any Lead (forwarded to a new
// leader without a map yet) is refused on every replay, not a panic.
func TestApplyBeforeAMapIsRefused(t *testing.T) {
	for _, c := range []membership.Change{
		{Kind: membership.Maintenance, Node: cluster.Node{ID: "t1"}},
		{Kind: membership.Returned, Node: cluster.Node{ID: "t1"}},
		{Kind: membership.Join, Node: cluster.Node{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:2"}},
		{Kind: membership.CreateBucket, Bucket: store.NewBucket("b")},
		{Kind: membership.DestroyBucket, Bucket: store.NewBucket("b")},
	} {
		if _, err := membership.Apply(membership.Snapshot{}, c); !errors.Is(err, membership.ErrNoMap) {
			t.Errorf("%v before a map: %v", c.Kind, err)
		}
	}
}

// The buckets are bounded below what a push of the metadata can carry.
func TestBucketsAreBounded(t *testing.T) {
	md := store.NewBucketMetadata()
	for i := range membership.MaxBuckets {
		props := store.DefaultProps()
		props.Provider, props.Created = "ais", store.Int64String(1_800_000_000_000_000_000+int64(i))
		md.Set(store.NewBucket(fmt.Sprintf("bucket-of-a-long-name-%06d", i)), props)
	}
	data, err := json.Marshal(md)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > peer.MaxAnswer/2 {
		t.Fatalf("%d buckets take %d bytes, more than half of a push (%d)", membership.MaxBuckets, len(data), peer.MaxAnswer)
	}
	s := membership.Snapshot{Map: &cluster.Map{Version: 1}, Buckets: &md}
	if _, err := membership.Apply(s, membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("one-more"), Created: 1}); !errors.Is(err, membership.ErrTooManyBuckets) {
		t.Fatalf("a bucket past the bound: %v", err)
	}
	if _, err := membership.Apply(s, membership.Change{Kind: membership.DestroyBucket, Bucket: store.NewBucket("bucket-of-a-long-name-000000")}); err != nil {
		t.Fatalf("a destroy at the bound: %v", err)
	}
}

// A node that is also a target, taken offline, that then leads is back as
// what it was: active, or in the maintenance it was in.
func TestOfflineNodeThatLeadsIsBack(t *testing.T) {
	for _, c := range []struct {
		maintained bool
		want       cluster.State
	}{{false, cluster.StateActive}, {true, cluster.StateMaintenance}} {
		s := membership.Snapshot{Map: &cluster.Map{Version: 5, Primary: "a1", Nodes: []cluster.Node{
			{ID: "a1", Role: cluster.RoleAll, URL: "http://127.0.0.1:1", State: cluster.StateActive},
			{ID: "a2", Role: cluster.RoleAll, URL: "http://127.0.0.1:2", State: cluster.StateOffline, Maintained: c.maintained},
		}}, Buckets: &store.BucketMetadata{Version: 1}}
		next, err := membership.Apply(s, membership.Change{Kind: membership.Lead, Node: cluster.Node{ID: "a2", Role: cluster.RoleAll, URL: "http://127.0.0.1:2"}})
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := next.Map.Node("a2"); next.Map.Primary != "a2" || n.State != c.want || n.Maintained || next.Map.Version <= 5 {
			t.Fatalf("maintained %v: a2 leads as %s (marked %v), primary %s, version %d; want %s", c.maintained, n.State, n.Maintained, next.Map.Primary, next.Map.Version, c.want)
		}
	}
}

func TestApplyIsAFunctionOfTheChanges(t *testing.T) {
	start := membership.Snapshot{Map: &cluster.Map{UUID: "u", Primary: "g1", Nodes: []cluster.Node{{ID: "g1", Role: cluster.RoleGateway, URL: "http://127.0.0.1:1", State: cluster.StateActive}}},
		Buckets: &store.BucketMetadata{Buckets: map[store.Bucket]store.Props{}}}
	changes := []membership.Change{
		{Kind: membership.Join, Node: cluster.Node{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:2"}},
		{Kind: membership.CreateBucket, Bucket: store.NewBucket("a"), Created: 1},
		{Kind: membership.Join, Node: cluster.Node{ID: "t2", Role: cluster.RoleTarget, URL: "http://127.0.0.1:3"}},
		{Kind: membership.SetProps, Bucket: store.NewBucket("a"), Patch: []byte(`{"mirror":{"copies":3}}`)},
		{Kind: membership.Offline, Node: cluster.Node{ID: "t1"}},
		{Kind: membership.CreateBucket, Bucket: store.NewBucket("b"), Created: 2},
		{Kind: membership.DestroyBucket, Bucket: store.NewBucket("a")},
	}
	run := func() membership.Snapshot {
		s := start
		for _, c := range changes {
			var err error
			if s, err = membership.Apply(s, c); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	a, b := run(), run()
	if fmt.Sprint(a.Map.Nodes, a.Map.Version, a.Buckets) != fmt.Sprint(b.Map.Nodes, b.Map.Version, b.Buckets) {
		t.Fatalf("two replays differ:\n%v\n%v", a, b)
	}
}

// TestJobRegistry: a job is registered running, ends once (the first
// outcome wins), and only the newest ended jobs stay.
func TestJobRegistry(t *testing.T) {
	s := membership.Snapshot{}
	apply := func(c membership.Change) error {
		next, err := membership.Apply(s, c)
		if err == nil {
			s = next
		}
		return err
	}
	job := membership.Job{ID: "srt-1", Coordinator: "g2", Targets: []string{"t1"}, Started: 1}
	if err := apply(membership.Change{Kind: membership.JobStarted, Job: job}); err != nil {
		t.Fatal(err)
	}
	if s.Jobs["srt-1"].State != membership.JobRunning {
		t.Fatalf("registered: %+v", s.Jobs["srt-1"])
	}
	aborted := membership.Job{ID: "srt-1", State: membership.JobAborted, Cause: "coordinator g2 stopped answering", Ended: 2}
	if err := apply(membership.Change{Kind: membership.JobEnded, Job: aborted}); err != nil {
		t.Fatal(err)
	}
	late := membership.Job{ID: "srt-1", State: membership.JobFinished, Ended: 3}
	if err := apply(membership.Change{Kind: membership.JobEnded, Job: late}); err != nil {
		t.Fatal(err)
	}
	if j := s.Jobs["srt-1"]; j.State != membership.JobAborted || j.Cause == "" || j.Coordinator != "g2" {
		t.Fatalf("after two ends: %+v, want the first (aborted, with its cause)", j)
	}
	if err := apply(membership.Change{Kind: membership.JobEnded, Job: membership.Job{ID: "srt-x", State: membership.JobFinished}}); !errors.Is(err, membership.ErrJobUnknown) {
		t.Fatalf("the end of an unknown job: %v", err)
	}
	if err := apply(membership.Change{Kind: membership.JobEnded, Job: membership.Job{ID: "srt-1", State: "paused"}}); err != nil {
		t.Fatalf("an end of an ended job is ignored: %v", err)
	}
	for i := range membership.MaxEndedJobs + 10 {
		id := fmt.Sprintf("srt-%03d", i)
		apply(membership.Change{Kind: membership.JobStarted, Job: membership.Job{ID: id}})
		if err := apply(membership.Change{Kind: membership.JobEnded, Job: membership.Job{ID: id, State: membership.JobFinished, Ended: int64(10 + i)}}); err != nil {
			t.Fatal(err)
		}
	}
	apply(membership.Change{Kind: membership.JobStarted, Job: membership.Job{ID: "srt-running"}})
	if len(s.Jobs) != membership.MaxEndedJobs+1 {
		t.Fatalf("%d jobs kept, want %d ended and the running one", len(s.Jobs), membership.MaxEndedJobs)
	}
	if _, ok := s.Jobs["srt-000"]; ok {
		t.Fatal("the oldest ended job stayed")
	}
	if err := apply(membership.Change{Kind: membership.JobRemoved, Job: membership.Job{ID: "srt-running"}}); !errors.Is(err, membership.ErrJobRunning) {
		t.Fatalf("removing a running job: %v", err)
	}
	newest := fmt.Sprintf("srt-%03d", membership.MaxEndedJobs+9)
	if err := apply(membership.Change{Kind: membership.JobRemoved, Job: membership.Job{ID: newest}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Jobs[newest]; ok {
		t.Fatal("a removed job stayed")
	}
}

// At LevelKeepAway, the pruning of the oldest ended jobs keeps an aborted
// one while a target of it is offline: back, that target asks how the
// job ended, and removes its shards only when the registry says aborted
// (pruned, they stayed for good). Back, the next pruning takes it; at an
// older level, it goes as any other.
func TestPruningKeepsAnAbortedJobOfAnOfflineTarget(t *testing.T) {
	offline := &cluster.Map{Version: 2, Primary: "g1", Nodes: []cluster.Node{
		{ID: "g1", Role: cluster.RoleGateway, URL: "http://127.0.0.1:1", State: cluster.StateActive},
		{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:2", State: cluster.StateActive},
		{ID: "t2", Role: cluster.RoleTarget, URL: "http://127.0.0.1:3", State: cluster.StateOffline},
	}}
	back := offline.Clone()
	back.Version, back.Nodes[2].State = 3, cluster.StateActive
	fill := func(s membership.Snapshot, level, from int) membership.Snapshot {
		t.Helper()
		for i := range membership.MaxEndedJobs + 1 {
			id := fmt.Sprintf("srt-%04d", from+i)
			var err error
			if s, err = membership.Apply(s, membership.Change{Kind: membership.JobStarted, Job: membership.Job{ID: id, Targets: []string{"t1"}}}); err != nil {
				t.Fatal(err)
			}
			if s, err = membership.Apply(s, membership.Change{Kind: membership.JobEnded, Level: level, Job: membership.Job{ID: id, State: membership.JobFinished, Ended: int64(10 + from + i)}}); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	start := func(m *cluster.Map, state membership.JobState) membership.Snapshot {
		t.Helper()
		s, err := membership.Apply(membership.Snapshot{Map: m}, membership.Change{Kind: membership.JobStarted, Job: membership.Job{ID: "srt-away", Targets: []string{"t1", "t2"}}})
		if err == nil {
			s, err = membership.Apply(s, membership.Change{Kind: membership.JobEnded, Job: membership.Job{ID: "srt-away", State: state, Cause: "test", Ended: 1}})
		}
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if !membership.KeepsAway(start(offline, membership.JobAborted)) {
		t.Fatal("an aborted job of an offline target does not ask for LevelKeepAway")
	}
	if membership.KeepsAway(start(back, membership.JobAborted)) || membership.KeepsAway(start(offline, membership.JobFinished)) {
		t.Fatal("LevelKeepAway asked with no aborted job of an offline target: older gateways would stop following the log")
	}
	s := fill(start(offline, membership.JobAborted), membership.LevelKeepAway, 0)
	if _, ok := s.Jobs["srt-away"]; !ok {
		t.Fatal("an aborted job of an offline target was pruned")
	}
	if _, ok := s.Jobs["srt-0000"]; ok || len(s.Jobs) != membership.MaxEndedJobs+1 {
		t.Fatalf("%d jobs kept, want the newest %d and the held one", len(s.Jobs), membership.MaxEndedJobs)
	}
	s.Map = back
	if s = fill(s, membership.LevelKeepAway, 1000); len(s.Jobs) != membership.MaxEndedJobs {
		t.Fatalf("%d jobs kept once the target is back, want %d", len(s.Jobs), membership.MaxEndedJobs)
	}
	if _, ok := fill(start(offline, membership.JobAborted), 0, 0).Jobs["srt-away"]; ok {
		t.Fatal("an older level's pruning kept the aborted job")
	}
	if _, ok := fill(start(offline, membership.JobFinished), membership.LevelKeepAway, 0).Jobs["srt-away"]; ok {
		t.Fatal("a finished job of an offline target was kept past the bound")
	}
}

// A job counted lost keeps running in the registry with its cause (its
// output's removal to be finished by any leader), and ends aborted with
// that cause whoever records its end, finished or not.
func TestJobLost(t *testing.T) {
	s, err := membership.Apply(membership.Snapshot{}, membership.Change{Kind: membership.JobStarted, Job: membership.Job{ID: "srt-1", Coordinator: "g2"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []membership.Change{
		{Kind: membership.JobLost, Level: membership.LevelJobLost, Job: membership.Job{ID: "srt-1"}},         // no cause
		{Kind: membership.JobLost, Job: membership.Job{ID: "srt-1", Cause: "lost"}},                          // no level
		{Kind: membership.JobLost, Level: membership.LevelJobLost, Job: membership.Job{ID: "x", Cause: "l"}}, // unknown
	} {
		if _, err := membership.Apply(s, bad); err == nil {
			t.Fatalf("%+v applied", bad)
		}
	}
	const cause = "target t2 lost its shards before the job finished there"
	s, err = membership.Apply(s, membership.Change{Kind: membership.JobLost, Level: membership.LevelJobLost, Job: membership.Job{ID: "srt-1", Cause: cause}})
	if err != nil {
		t.Fatal(err)
	}
	if j := s.Jobs["srt-1"]; j.State != membership.JobRunning || j.Cause != cause || s.Level != membership.LevelJobLost {
		t.Fatalf("counted lost: %+v (level %d), want running with the cause", j, s.Level)
	}
	s, err = membership.Apply(s, membership.Change{Kind: membership.JobEnded, Job: membership.Job{ID: "srt-1", State: membership.JobFinished, Ended: 5}})
	if err != nil {
		t.Fatal(err)
	}
	if j := s.Jobs["srt-1"]; j.State != membership.JobAborted || j.Cause != cause || j.Ended != 5 {
		t.Fatalf("recorded finished after it was counted lost: %+v, want aborted with the cause", j)
	}
	// Ended: nothing more to count.
	after, err := membership.Apply(s, membership.Change{Kind: membership.JobLost, Level: membership.LevelJobLost, Job: membership.Job{ID: "srt-1", Cause: "another"}})
	if err != nil || after.Jobs["srt-1"].Cause != cause {
		t.Fatalf("counted lost once ended: %+v %v", after.Jobs["srt-1"], err)
	}
}

// TestClusterConfig: a partial config changes only its fields, bumps the
// version, and an unknown field or a bad value changes nothing.
func TestClusterConfig(t *testing.T) {
	s := membership.Snapshot{}
	if got := s.ClusterConfig(); got.Dsort.MissingShards != "ignore" || got.Dsort.EKMMissingKey != "abort" || got.Dsort.DefaultMaxMemUsage != "80%" {
		t.Fatalf("defaults: %+v", got)
	}
	next, err := membership.Apply(s, membership.Change{Kind: membership.SetConfig, Patch: []byte(`{"distributed_sort":{"missing_shards":"warn","default_max_mem_usage":"2GiB"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	got := next.ClusterConfig()
	if got.Version != 1 || got.Dsort.MissingShards != "warn" || got.Dsort.DefaultMaxMemUsage != "2GiB" || got.Dsort.EKMMissingKey != "abort" {
		t.Fatalf("after the change: %+v", got)
	}
	for _, bad := range []string{
		`{"distributed_sort":{"missing_shards":"explode"}}`,
		`{"distributed_sort":{"default_max_mem_usage":"150%"}}`,
		`{"distributed_sort":{"default_max_mem_usage":"lots"}}`,
		// What a job's max_mem_usage would refuse, the config refuses.
		`{"distributed_sort":{"default_max_mem_usage":"+8GiB"}}`,
		`{"distributed_sort":{"default_max_mem_usage":"100000000TB"}}`,
		`{"distributed_sort":{"default_max_mem_usage":-5}}`,
		`{"lru":{"capacity_upd_time":"2400h"}}`,
		`{"distributed_sort":{"no_such_field":"x"}}`,
		`{"no_such_section":{}}`,
		`not json`,
	} {
		after, err := membership.Apply(next, membership.Change{Kind: membership.SetConfig, Patch: []byte(bad)})
		if !errors.Is(err, membership.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", bad, err)
		}
		if after.ClusterConfig() != got {
			t.Errorf("%s changed the config", bad)
		}
	}
}

// A config change resolved by the leader is installed as the leader's
// rules made it, by a node whose rules differ (a cluster being
// upgraded): every node holds the same config at the same version. One
// resolved against an older config (a change committed between) is
// applied from its patch.
func TestResolvedConfigIsInstalledAsMade(t *testing.T) {
	s, err := membership.Apply(membership.Snapshot{}, membership.Change{Kind: membership.SetConfig, Patch: []byte(`{"space":{"lowwm":70}}`)})
	if err != nil {
		t.Fatal(err)
	}
	patch := []byte(`{"distributed_sort":{"missing_shards":"warn"}}`)
	resolved, err := membership.ResolveConfig(s, membership.Change{Kind: membership.SetConfig, Patch: patch})
	if err != nil || resolved.Config == nil || resolved.Config.Version != 2 || resolved.Config.Dsort.MissingShards != "warn" || resolved.Config.Space.LowWM != 70 {
		t.Fatalf("resolved: %+v, %v", resolved.Config, err)
	}
	next, err := membership.Apply(s, resolved)
	if err != nil || next.ClusterConfig() != *resolved.Config {
		t.Fatalf("applied: %+v, %v; want the leader's %+v", next.ClusterConfig(), err, *resolved.Config)
	}
	// Resolved against version 1, applied over version 2: the patch.
	later, err := membership.Apply(next, membership.Change{Kind: membership.SetConfig, Patch: []byte(`{"space":{"lowwm":60}}`), Config: resolved.Config})
	if err != nil || later.ClusterConfig().Version != 3 || later.ClusterConfig().Space.LowWM != 60 || later.ClusterConfig().Dsort.MissingShards != "warn" {
		t.Fatalf("a change resolved against an older config: %+v, %v", later.ClusterConfig(), err)
	}
	// The leader's rules took a value this build's refuse: installed.
	made := *resolved.Config
	made.LRU.CapacityUpdTime = store.Duration(48 * time.Hour)
	foreign, err := membership.Apply(s, membership.Change{Kind: membership.SetConfig, Patch: patch, Config: &made})
	if err != nil || foreign.ClusterConfig() != made {
		t.Fatalf("applied: %+v, %v; want the leader's %+v", foreign.ClusterConfig(), err, made)
	}
	// A node whose config fell behind (its older build refused a change)
	// takes the next resolved one whole, and is level again.
	ahead := made
	ahead.Version = 5
	caught, err := membership.Apply(s, membership.Change{Kind: membership.SetConfig, Patch: patch, Config: &ahead})
	if err != nil || caught.ClusterConfig() != ahead {
		t.Fatalf("a node behind: %+v, %v; want the leader's %+v", caught.ClusterConfig(), err, ahead)
	}
	// A patch this build refuses is not resolved.
	if _, err := membership.ResolveConfig(s, membership.Change{Kind: membership.SetConfig, Patch: []byte(`{"lru":{"capacity_upd_time":"48h"}}`)}); !errors.Is(err, membership.ErrInvalidConfig) {
		t.Fatalf("an invalid patch resolved: %v", err)
	}
}

// The config takes every budget a job's max_mem_usage takes: fractions,
// short units, a number of bytes.
func TestClusterConfigMemUsage(t *testing.T) {
	for patch, want := range map[string]membership.MemUsage{
		`"1.5GiB"`: "1.5GiB", `"1K"`: "1K", `"2PB"`: "2PB", `1073741824`: "1073741824", `" 60% "`: " 60% ",
	} {
		next, err := membership.Apply(membership.Snapshot{}, membership.Change{Kind: membership.SetConfig, Patch: []byte(`{"distributed_sort":{"default_max_mem_usage":` + patch + `}}`)})
		if err != nil {
			t.Errorf("%s: %v", patch, err)
			continue
		}
		if got := next.ClusterConfig().Dsort.DefaultMaxMemUsage; got != want {
			t.Errorf("%s: kept %q", patch, got)
		}
	}
}

func TestWatch(t *testing.T) {
	f := newFixture(t, 1)
	ctx, cancel := context.WithCancel(t.Context())
	ch := f.all["t1"].Watch(ctx)
	f.g1.Propose(t.Context(), membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("w")})
	s := <-ch
	if _, ok := s.Buckets.Buckets[store.NewBucket("w")]; !ok {
		t.Fatalf("watch saw %+v", s.Buckets)
	}
	cancel()
	for range ch {
	}
}

// A target that answers and refuses the pushes (a disk that cannot take a
// bucket's directories) is alive: the keepalive does not take it offline,
// which would make it flap and restart every rebalance. A silent one goes.
func TestKeepaliveKeepsATargetThatRefuses(t *testing.T) {
	m := &cluster.Map{Version: 3, Primary: "g1", Nodes: []cluster.Node{
		{ID: "g1", Role: cluster.RoleGateway, URL: "http://127.0.0.1:1", State: cluster.StateActive},
		{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:2", State: cluster.StateActive},
		{ID: "t2", Role: cluster.RoleTarget, URL: "http://127.0.0.1:3", State: cluster.StateActive},
	}}
	var k membership.Keepalive
	start := time.Unix(1000, 0)
	failed := map[string]error{
		"t1": fmt.Errorf("%w: 500 read-only file system", membership.ErrRefused),
		"t2": fmt.Errorf("%w: connection refused", membership.ErrUnreachable),
	}
	offline := map[string]bool{}
	for i := range 30 {
		for _, ch := range k.Round(start.Add(time.Duration(i)*time.Second), m, failed) {
			if ch.Kind == membership.Offline {
				offline[ch.Node.ID] = true
			}
		}
	}
	if !offline["t2"] || offline["t1"] {
		t.Fatalf("taken offline: %v, want t2 (silent) and not t1 (refusing)", offline)
	}
}

// Apply is pure: a set-props patch of extra decodes into a copy, not
// through the pointers the current snapshot shares.
func TestApplySetPropsLeavesTheSnapshot(t *testing.T) {
	b := store.Bucket{Name: "b", Provider: store.ProviderAWS}
	props := store.DefaultProps()
	props.Extra = &store.ExtraProps{AWS: &store.AWSProps{Endpoint: "http://127.0.0.1:9000"}}
	md := &store.BucketMetadata{Version: 1}
	md.Set(b, props)
	s := membership.Snapshot{Buckets: md}
	next, err := membership.Apply(s, membership.Change{Kind: membership.SetProps, Bucket: b,
		Patch: []byte(`{"extra":{"aws":{"endpoint":"http://127.0.0.2:9000"}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := next.Buckets.Props(b); got.AWS().Endpoint != "http://127.0.0.2:9000" {
		t.Fatalf("the change gave %+v", got.AWS())
	}
	if got, _ := s.Buckets.Props(b); got.AWS().Endpoint != "http://127.0.0.1:9000" {
		t.Fatalf("the snapshot the change applied to now has %+v", got.AWS())
	}
}

// Bucket props that fail a rule of this build (a negative
// dont_evict_time, too many mirror copies: as if set under a build
// without the rule) replay from the log and load from a snapshot; only a
// new change is held to the rule. What a node needs to act at all (a
// checksum it knows) is checked on both.
func TestBucketPropsRulesHoldNewChangesNotTheLog(t *testing.T) {
	b := store.NewBucket("b")
	md := &store.BucketMetadata{Version: 1}
	md.Set(b, store.DefaultProps())
	s := membership.Snapshot{Buckets: md}
	set := membership.Change{Kind: membership.SetProps, Bucket: b, Patch: []byte(`{"lru":{"dont_evict_time":"-1h"}}`)}
	if err := membership.Admissible(s, set); !errors.Is(err, store.ErrInvalidProps) || !strings.Contains(err.Error(), "dont_evict_time") {
		t.Fatalf("a new change against a rule: %v, want ErrInvalidProps naming dont_evict_time", err)
	}
	next, err := membership.Apply(s, set)
	if err != nil {
		t.Fatalf("the change replayed from the log: %v", err)
	}
	if err := next.Validate(); err != nil {
		t.Fatalf("a snapshot holding it: %v", err)
	}
	props := store.DefaultProps()
	props.Mirror = store.MirrorProps{Enabled: true, Copies: 99}
	create := membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("c"), Props: &props, Created: 1}
	if err := membership.Admissible(next, create); !errors.Is(err, store.ErrInvalidProps) || !strings.Contains(err.Error(), "create bucket ais://c") {
		t.Fatalf("a new bucket against a rule: %v, want ErrInvalidProps naming it", err)
	}
	if _, err := membership.Apply(next, create); err != nil {
		t.Fatalf("the creation replayed from the log: %v", err)
	}
	unknown := membership.Change{Kind: membership.SetProps, Bucket: b, Patch: []byte(`{"checksum":{"type":"crc99"}}`)}
	if _, err := membership.Apply(s, unknown); !errors.Is(err, store.ErrInvalidProps) {
		t.Fatalf("an unknown checksum replayed: %v, want ErrInvalidProps", err)
	}
	if err := membership.Admissible(s, membership.Change{Kind: membership.SetProps, Bucket: b, Patch: []byte(`{"lru":{"dont_evict_time":"1h"}}`)}); err != nil {
		t.Fatalf("a sound change: %v", err)
	}
}

// A seed whose config breaks a rule of this build (set under one without
// it) replays from the log: refused, the replica would go on with no map
// and diverge from the others.
func TestSeedReplaysWhateverItsConfigRules(t *testing.T) {
	m := &cluster.Map{Version: 4, UUID: "u", Primary: "g1", Nodes: []cluster.Node{{ID: "g1", Role: cluster.RoleGateway, URL: "http://127.0.0.1:1", State: cluster.StateActive}}}
	md := store.NewBucketMetadata()
	config := membership.DefaultClusterConfig()
	config.Space.LowWM = 0 // against this build's rule
	seed := membership.Change{Kind: membership.Seed, Seed: &membership.Snapshot{Map: m, Buckets: &md, Config: &config}}
	next, err := membership.Apply(membership.Snapshot{}, seed)
	if err != nil || next.Map == nil || next.Map.UUID != "u" || next.Config == nil || next.Config.Space.LowWM != 0 {
		t.Fatalf("a seed of a config against a rule, replayed: %+v, %v", next, err)
	}
}

// A props change with IfProps applies only to the props it was asked
// against (another committed first makes it ErrMapChanged, to check
// again), and needs its level.
func TestSetPropsIfProps(t *testing.T) {
	b := store.NewBucket("b")
	md := &store.BucketMetadata{Version: 1}
	md.Set(b, store.DefaultProps())
	s := membership.Snapshot{Buckets: md}
	asked, _ := s.Buckets.Props(b)
	change := membership.Change{Kind: membership.SetProps, Bucket: b, Patch: []byte(`{"ec":{"enabled":true,"data_slices":2,"parity_slices":1}}`),
		IfProps: membership.PropsDigest(asked), Level: membership.LevelPropsIf}
	other, err := membership.Apply(s, membership.Change{Kind: membership.SetProps, Bucket: b, Patch: []byte(`{"ec":{"data_slices":8,"parity_slices":4}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := membership.Apply(other, change); !errors.Is(err, membership.ErrMapChanged) {
		t.Fatalf("a change asked against props another changed since: %v, want ErrMapChanged", err)
	}
	next, err := membership.Apply(s, change)
	if got, _ := next.Buckets.Props(b); err != nil || !got.EC.Enabled || got.EC.DataSlices != 2 {
		t.Fatalf("a change asked against the props as they are: %+v %v", got.EC, err)
	}
	change.Level = 0
	if _, err := membership.Apply(s, change); !errors.Is(err, membership.ErrUnknownChange) {
		t.Fatalf("if_props without its level: %v, want refused", err)
	}
}

// A target pushed a newer map of its cluster by a primary it has not heard
// of (elected while it was away) refuses it, and joins again through that
// primary: refusing alone, it stayed out of the cluster for good.
func TestTargetJoinsThroughAPrimaryItDoesNotKnow(t *testing.T) {
	f := newFixture(t, 1)
	t1, g2 := f.all["t1"], f.all["g2"].Current()
	cur := t1.Current()
	self, _ := g2.Map.Node("g2")
	next := cur.Map.Clone()
	next.Version += 2
	next.Primary = "g9" // not in t1's map: a gateway that joined while it was away
	next.Nodes = append(next.Nodes, cluster.Node{ID: "g9", Role: cluster.RoleGateway, URL: self.URL, State: cluster.StateActive})
	slices.SortFunc(next.Nodes, func(a, b cluster.Node) int { return strings.Compare(a.ID, b.ID) })
	err := t1.Accept(t.Context(), membership.Snapshot{Map: next}, membership.Origin{Sender: "g9"})
	if !errors.Is(err, cluster.ErrNotPrimary) {
		t.Fatalf("a push from a primary not in the map: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.net.mu.Lock()
		joined := slices.Contains(f.net.joins, "t1@"+self.URL)
		f.net.mu.Unlock()
		if joined {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("t1 did not join through the new primary's address; joins %v", f.net.joins)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A target in maintenance, offline in the map of a primary elected while
// it was away, takes that primary's map and returns in maintenance: a
// join (its answer to a primary it did not know) ended the maintenance,
// and the target took writes while its disks were being replaced.
func TestTargetInMaintenanceFollowsAPrimaryItDoesNotKnow(t *testing.T) {
	f := newFixture(t, 1)
	t1 := f.all["t1"]
	next := t1.Current().Map.Clone()
	next.Version += 2
	next.Primary = "g9"
	g9 := cluster.Node{ID: "g9", Role: cluster.RoleGateway, URL: "http://127.0.0.1:1999", State: cluster.StateActive}
	next.Nodes = append(next.Nodes, g9)
	slices.SortFunc(next.Nodes, func(a, b cluster.Node) int { return strings.Compare(a.ID, b.ID) })
	for i := range next.Nodes {
		if next.Nodes[i].ID == "t1" {
			next.Nodes[i].State, next.Nodes[i].Maintained = cluster.StateOffline, true
		}
	}
	primary, err := membership.NewPush(membership.Config{Self: g9, Store: &memStore{m: next}, Transport: transport{f.net, "g9"},
		KeepaliveInterval: time.Hour, KeepaliveTimeout: time.Hour, Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.net.mu.Lock()
	f.net.nodes[g9.URL], f.net.ids[g9.URL] = primary, "g9"
	f.net.mu.Unlock()
	if err := primary.Start(t.Context(), t.Context()); err != nil {
		t.Fatal(err)
	}
	// Its start pushed its map to t1 already, which may have taken it.
	if err := t1.Accept(t.Context(), membership.Snapshot{Map: next}, membership.Origin{Sender: "g9"}); !errors.Is(err, cluster.ErrNotPrimary) && !errors.Is(err, cluster.ErrStaleMap) {
		t.Fatalf("a push from a primary not in the map: %v", err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		self, _ := primary.Current().Map.Node("t1")
		if self.State == cluster.StateMaintenance {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("t1 in the new primary's map: %+v, want back in maintenance", self)
		}
	}
	f.net.mu.Lock()
	defer f.net.mu.Unlock()
	if slices.Contains(f.net.joins, "t1@"+g9.URL) {
		t.Fatal("t1 joined through the new primary (a join ends its maintenance)")
	}
}

// A target pushed a map too far ahead of its own asks the primary it
// knows for its map, taken however far ahead: a target away through many
// changes catches up, and a forged version (not the primary's) changes
// nothing, nor makes the target join again.
func TestTargetPushedFarAheadAsksThePrimary(t *testing.T) {
	f := newFixture(t, 1)
	t1 := f.all["t1"]
	cur := t1.Current()
	next := cur.Map.Clone()
	next.Version += 20000
	f.net.mu.Lock()
	joins, pulls := len(f.net.joins), f.net.pulls
	f.net.mu.Unlock()
	err := t1.Accept(t.Context(), membership.Snapshot{Map: next}, membership.Origin{Sender: cur.Map.Primary})
	if !errors.Is(err, cluster.ErrVersionJump) {
		t.Fatalf("a push far ahead: %v", err)
	}
	f.awaitPull(pulls, "t1 did not ask the primary for its map")
	time.Sleep(100 * time.Millisecond) // a join, if one were coming
	f.net.mu.Lock()
	joined := len(f.net.joins) > joins
	f.net.mu.Unlock()
	if joined || t1.Current().Map.Version != cur.Map.Version || f.g1.Current().Map.Version != cur.Map.Version {
		t.Fatalf("after a forged version: joined %v, t1 at %d, the primary at %d; want no join and version %d", joined, t1.Current().Map.Version, f.g1.Current().Map.Version, cur.Map.Version)
	}
}

// A target pushed bucket metadata too far ahead of its own asks the
// primary for its snapshot, as for a map: refused alone, every push
// after it was refused too, and the target went offline and back for good.
func TestTargetPushedBucketsFarAheadAsksThePrimary(t *testing.T) {
	f := newFixture(t, 1)
	t1 := f.all["t1"]
	cur := t1.Current()
	md := cur.Buckets.Clone()
	md.Version += 20000
	f.net.mu.Lock()
	pulls := f.net.pulls
	f.net.mu.Unlock()
	err := t1.Accept(t.Context(), membership.Snapshot{Buckets: &md}, membership.Origin{Sender: cur.Map.Primary})
	if !errors.Is(err, store.ErrBucketsJump) {
		t.Fatalf("bucket metadata pushed far ahead: %v", err)
	}
	f.awaitPull(pulls, "t1 did not ask the primary for its snapshot")
}

// awaitPull waits for a pull past the first pulls, or fails saying why.
func (f *fixture) awaitPull(pulls int, why string) {
	f.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		f.net.mu.Lock()
		pulled := f.net.pulls > pulls
		f.net.mu.Unlock()
		if pulled {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatal(why)
		}
	}
}

// A target in maintenance that was taken offline and answers again stays
// in maintenance: it sees itself offline in the map it is pushed, and
// waits for the keepalive's Returned rather than join again (a join ends
// maintenance, as a restart does).
func TestMaintenanceSurvivesAnOfflineSpell(t *testing.T) {
	f := newFixture(t, 2)
	ctx := t.Context()
	tick := f.tick
	if _, err := f.g1.Propose(ctx, membership.Change{Kind: membership.Maintenance, Node: cluster.Node{ID: "t2"}}); err != nil {
		t.Fatal(err)
	}
	tick(time.Second)
	f.net.setDown("t2", true)
	tick(time.Second)
	tick(6 * time.Second)
	tick(time.Second)
	if n, _ := f.g1.Current().Map.Node("t2"); n.State != cluster.StateOffline {
		t.Fatalf("t2 is %s after the timeout", n.State)
	}
	f.net.setDown("t2", false)
	tick(time.Second)
	time.Sleep(300 * time.Millisecond) // a join again, if one is coming
	if n, _ := f.g1.Current().Map.Node("t2"); n.State != cluster.StateMaintenance {
		t.Fatalf("t2 answers again and is %s, want still in maintenance", n.State)
	}
}

// A target in maintenance, offline a while, that answers again but
// refuses the pushes (it takes the map, and fails after: the keepalive
// does not bring it back) returns by itself into maintenance, not active.
func TestMaintenanceSurvivesAnOfflineSpellWithRefusedPushes(t *testing.T) {
	f := newFixture(t, 2)
	ctx := t.Context()
	if _, err := f.g1.Propose(ctx, membership.Change{Kind: membership.Maintenance, Node: cluster.Node{ID: "t2"}}); err != nil {
		t.Fatal(err)
	}
	f.tick(time.Second)
	f.net.setDown("t2", true)
	f.tick(time.Second)
	f.tick(6 * time.Second)
	f.tick(time.Second)
	if n, _ := f.g1.Current().Map.Node("t2"); n.State != cluster.StateOffline {
		t.Fatalf("t2 is %s after the timeout", n.State)
	}
	f.net.mu.Lock()
	f.net.refusing["t2"] = true
	f.net.mu.Unlock()
	f.net.setDown("t2", false)
	f.tick(time.Second) // t2 takes the map that has it offline, and refuses
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, _ := f.g1.Current().Map.Node("t2")
		if n.State == cluster.StateMaintenance {
			break
		}
		if n.State != cluster.StateOffline || time.Now().After(deadline) {
			t.Fatalf("t2, back but refusing pushes, is %s, want maintenance", n.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hangingTransport takes pushes and answers none, until the caller gives
// up.
type hangingTransport struct{ transport }

func (hangingTransport) Push(ctx context.Context, to cluster.Node, s membership.Snapshot, allowEmpty bool) error {
	<-ctx.Done()
	return ctx.Err()
}

// A node that hangs holds a push round (and the changes that push under
// the primary's lock) for PushTimeout at most.
func TestPushToAHangingNodeIsBounded(t *testing.T) {
	defer func(old time.Duration) { membership.PushTimeout = old }(membership.PushTimeout)
	membership.PushTimeout = 100 * time.Millisecond
	s := membership.Snapshot{Map: &cluster.Map{Version: 1, Primary: "g1", Nodes: []cluster.Node{
		{ID: "g1", Role: cluster.RoleGateway, URL: "http://127.0.0.1:1", State: cluster.StateActive},
		{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:2", State: cluster.StateActive},
	}}}
	start := time.Now()
	failed := membership.PushAll(t.Context(), hangingTransport{}, s, "g1", false, nil)
	if _, ok := failed["t1"]; !ok || time.Since(start) > 5*time.Second {
		t.Fatalf("a push to a hanging node: failed %v after %s", failed, time.Since(start))
	}
}

// The probe's wait counts from its first refusal: a join that waited for
// the gateway before gets the whole wait for its name to resolve.
func TestProbeWaitCountsFromTheFirstProbeRefusal(t *testing.T) {
	var w membership.ProbeWait
	if got := w.FailedFor(fmt.Errorf("%w: no quorum", membership.ErrUnreachable)); got != 0 {
		t.Fatalf("another error: %v, want 0", got)
	}
	probe := fmt.Errorf("%w: node t9 at http://x", membership.ErrProbe)
	if got := w.FailedFor(probe); got > time.Second {
		t.Fatalf("the first probe refusal: %v, want its start", got)
	}
	time.Sleep(20 * time.Millisecond)
	if got := w.FailedFor(probe); got < 20*time.Millisecond {
		t.Fatalf("a second probe refusal: %v, want the time since the first", got)
	}
	w.FailedFor(errors.New("another answer"))
	if got := w.FailedFor(probe); got >= 20*time.Millisecond {
		t.Fatalf("a probe refusal after another answer: %v, want counted anew", got)
	}
}

// The only active target neither goes into maintenance nor leaves (every
// object would be out of reach, the leave never done), forwarded or not;
// with another active target it does, and then the other is the only one.
func TestOnlyActiveTargetStays(t *testing.T) {
	f := newFixture(t, 2)
	g2 := f.all["g2"]
	if _, err := f.g1.Propose(t.Context(), membership.Change{Kind: membership.Maintenance, Node: cluster.Node{ID: "t1"}}); err != nil {
		t.Fatal(err)
	}
	for _, via := range []*membership.Push{f.g1, g2} {
		for _, kind := range []membership.Kind{membership.Maintenance, membership.Leave} {
			_, err := via.Propose(t.Context(), membership.Change{Kind: kind, Node: cluster.Node{ID: "t2"}})
			if !errors.Is(err, membership.ErrLastTarget) {
				t.Fatalf("%s of the only active target: %v", kind, err)
			}
		}
	}
	if n, _ := f.g1.Current().Map.Node("t2"); n.State != cluster.StateActive {
		t.Fatalf("the only active target is %s", n.State)
	}
	// Back from maintenance, t1 is active: t2 may go.
	if _, err := f.g1.Propose(t.Context(), membership.Change{Kind: membership.Activate, Node: cluster.Node{ID: "t1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := g2.Propose(t.Context(), membership.Change{Kind: membership.Leave, Node: cluster.Node{ID: "t2"}}); err != nil {
		t.Fatal(err)
	}
}

// Two targets asked into maintenance at once (a drain of two machines):
// one goes, the other stays active.
func TestOnlyActiveTargetStaysUnderConcurrentMaintenance(t *testing.T) {
	for range 5 {
		f := newFixture(t, 2)
		errs := make(chan error, 2)
		for _, id := range []string{"t1", "t2"} {
			go func() {
				_, err := f.g1.Propose(t.Context(), membership.Change{Kind: membership.Maintenance, Node: cluster.Node{ID: id}})
				errs <- err
			}()
		}
		refused := 0
		for range 2 {
			if err := <-errs; errors.Is(err, membership.ErrLastTarget) {
				refused++
			} else if err != nil {
				t.Fatal(err)
			}
		}
		if active := f.g1.Current().Map.ActiveTargets(); refused != 1 || len(active) != 1 {
			t.Fatalf("two maintenances at once: %d refused, %d targets active; want one of each", refused, len(active))
		}
	}
}

// A job whose output a running job writes (the same names in the same
// bucket) is refused in the log's order, at LevelJobNames; an older
// level's start is registered as an older node would.
func TestJobOfARunningJobsOutputIsRefused(t *testing.T) {
	s := membership.Snapshot{}
	apply := func(c membership.Change) error {
		next, err := membership.Apply(s, c)
		if err == nil {
			s = next
		}
		return err
	}
	out := store.NewBucket("dst")
	start := func(id, names string, level int) error {
		return apply(membership.Change{Kind: membership.JobStarted, Level: level, Job: membership.Job{ID: id, Output: out, Names: names}})
	}
	if err := start("srt-1", "out-{0..9}.tar", membership.LevelJobNames); err != nil {
		t.Fatal(err)
	}
	if err := start("srt-2", "out-{0..9}.tar", membership.LevelJobNames); !errors.Is(err, membership.ErrJobOutputTaken) || !strings.Contains(err.Error(), "srt-1") {
		t.Fatalf("a second job of the same output: %v, want refused naming srt-1", err)
	}
	for _, other := range []struct{ id, names string }{{"srt-3", "val-{0..9}.tar"}, {"srt-4", ""}} {
		if err := start(other.id, other.names, membership.LevelJobNames); err != nil {
			t.Fatalf("a job of output %q: %v", other.names, err)
		}
	}
	if err := start("srt-5", "out-{0..9}.tar", 0); err != nil {
		t.Fatalf("a start of an older level: %v, want it registered", err)
	}
	if err := apply(membership.Change{Kind: membership.JobEnded, Job: membership.Job{ID: "srt-1", State: membership.JobFinished, Ended: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := apply(membership.Change{Kind: membership.JobEnded, Job: membership.Job{ID: "srt-5", State: membership.JobFinished, Ended: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := start("srt-6", "out-{0..9}.tar", membership.LevelJobNames); err != nil {
		t.Fatalf("the job once the other ended: %v", err)
	}
}

// A primary whose store cannot take a bucket change puts back the
// metadata it saved, and says so when it cannot: a restart would load
// the change the caller was told failed.
func TestRefusedBucketChangeThatCannotBePutBackIsSaid(t *testing.T) {
	f := newFixture(t, 1)
	f.syncFails.Store("g1", true)
	f.stores["g1"].mu.Lock()
	f.stores["g1"].bucketSavesLeft = 1 // the change's save, not its undoing
	f.stores["g1"].mu.Unlock()
	_, err := f.g1.Propose(t.Context(), membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("b"), Created: 1})
	if err == nil || !strings.Contains(err.Error(), "put back the bucket metadata") {
		t.Fatalf("a bucket change the store refused, not put back: %v, want it said", err)
	}
}
