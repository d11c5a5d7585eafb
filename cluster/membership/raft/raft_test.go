package raft

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	stdnet "net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/store"
)

// net is an in-memory network of gateways: Raft's in-memory transports
// and a membership.Transport that honours partitions.
type net struct {
	// lostAnswers: forwards applied whose answers are lost, as when the
	// leader stops or the connection breaks before it answers.
	lostAnswers atomic.Int32
	mu          sync.Mutex
	// forwards are the changes forwarded to a leader.
	forwards []membership.Change
	controls map[string]*Control // by URL
	trans    map[string]*hraft.InmemTransport
	cut      map[string]bool // by URL: cut off from the others
	// targets are plain targets (by URL): they take pushes and probes,
	// or, hung, hold a push until its context ends (hungPushes counts
	// those made).
	targets    map[string]bool
	hung       map[string]bool
	hungPushes atomic.Int32
	// keepaliveTimeout of the gateways started; zero: the default.
	keepaliveTimeout time.Duration
	// rejoin is the Rejoin URL of the gateways started.
	rejoin string
	// changed, when set, runs as each gateway applies a change.
	changed func(id string, previous, next membership.Snapshot)
	// refusing gateways (by URL) answer a pull with a refusal (another
	// cluster secret).
	refusing map[string]bool
	// slowProbes hold a probe of a node (by URL) until closed; probing
	// tells one started.
	slowProbes map[string]chan struct{}
	probing    chan string
	// stopping targets (by URL) answer a push as a node stopping does;
	// onPush, when set, is called at each push.
	stopping map[string]bool
	onPush   func()
}

func (n *net) reach(from, to string) (*Control, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.controls[to]
	if !ok || n.cut[from] != n.cut[to] {
		// As the peer client's: no server answered.
		return nil, fmt.Errorf("%w: %s: %w", membership.ErrUnreachable, to, &stdnet.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})
	}
	return c, nil
}

// partition cuts url off from the others (or heals it).
func (n *net) partition(url string, cut bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[url] = cut
	for u, t := range n.trans {
		if u == url {
			continue
		}
		if cut {
			t.Disconnect(hraft.ServerAddress(url))
			n.trans[url].Disconnect(hraft.ServerAddress(u))
		} else {
			t.Connect(hraft.ServerAddress(url), n.trans[url])
			n.trans[url].Connect(hraft.ServerAddress(u), t)
		}
	}
}

type transport struct {
	net  *net
	self string
}

// Push reaches the node, or fails as a push to a dead one does.
func (t transport) Push(ctx context.Context, to cluster.Node, s membership.Snapshot, allowEmpty bool) error {
	t.net.mu.Lock()
	target, hung, stopping, onPush := t.net.targets[to.URL], t.net.hung[to.URL], t.net.stopping[to.URL], t.net.onPush
	t.net.mu.Unlock()
	if onPush != nil {
		onPush()
	}
	switch {
	case stopping:
		return fmt.Errorf("%w: %s", membership.ErrStopping, to.URL)
	case hung:
		t.net.hungPushes.Add(1)
		<-ctx.Done()
		return ctx.Err()
	case target:
		return nil
	}
	_, err := t.net.reach(t.self, to.URL)
	return err
}

func (t transport) Join(ctx context.Context, url string, self cluster.Node, uuid string) (membership.Snapshot, error) {
	c, err := t.net.reach(t.self, url)
	if err != nil {
		return membership.Snapshot{}, err
	}
	return c.Propose(ctx, membership.Change{Kind: membership.Join, Node: self, UUID: uuid})
}

func (t transport) Forward(ctx context.Context, primary cluster.Node, ch membership.Change) (membership.Snapshot, error) {
	t.net.mu.Lock()
	t.net.forwards = append(t.net.forwards, ch)
	t.net.mu.Unlock()
	c, err := t.net.reach(t.self, primary.URL)
	if err != nil {
		return membership.Snapshot{}, err
	}
	// As the wire carries it (peer.MetaMessage): no S3 keys, no jobs.
	s, err := c.Propose(ctx, ch)
	if errors.Is(err, membership.ErrLeavingAlready) {
		err = errors.New(err.Error()) // a bad request on the wire: no sentinel
	}
	if t.net.lostAnswers.Add(-1) >= 0 {
		return membership.Snapshot{}, fmt.Errorf("%w: the answer was lost", membership.ErrUnreachable)
	}
	return membership.Snapshot{Map: s.Map, Buckets: s.Buckets, Config: s.Config, Tokens: s.Tokens, Index: s.Index}, err
}

func (t transport) Probe(ctx context.Context, n cluster.Node) error {
	t.net.mu.Lock()
	target, slow := t.net.targets[n.URL], t.net.slowProbes[n.URL]
	t.net.mu.Unlock()
	if slow != nil {
		t.net.probing <- n.URL
		select {
		case <-slow:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if target {
		return nil
	}
	_, err := t.net.reach(t.self, n.URL)
	return err
}

// LogIndexOf answers as a gateway's map does, with its log index.
func (t transport) LogIndexOf(ctx context.Context, node cluster.Node) (uint64, error) {
	c, err := t.net.reach(t.self, node.URL)
	if err != nil {
		return 0, err
	}
	return c.LogIndex(), nil
}

func (t transport) Pull(ctx context.Context, from cluster.Node) (membership.Snapshot, error) {
	c, err := t.net.reach(t.self, from.URL)
	if err != nil {
		return membership.Snapshot{}, err
	}
	t.net.mu.Lock()
	refused := t.net.refusing[from.URL]
	t.net.mu.Unlock()
	if refused {
		return membership.Snapshot{}, fmt.Errorf("%s answered 401: the request's signature is not the cluster's", from.URL)
	}
	// As the peer client: the map, the buckets and the config, and the
	// log index that comes with a gateway's map.
	s := c.Current()
	return membership.Snapshot{Map: s.Map, Buckets: s.Buckets, Config: s.Config, Index: c.LogIndex()}, nil
}

// kill stops a gateway as a dead process: it answers nothing.
func (n *net) kill(c *Control) {
	n.mu.Lock()
	delete(n.controls, c.config.Self.URL)
	n.mu.Unlock()
	c.Close()
}

func newNet() *net {
	return &net{controls: map[string]*Control{}, trans: map[string]*hraft.InmemTransport{}, cut: map[string]bool{},
		targets: map[string]bool{}, hung: map[string]bool{}}
}

// start runs one gateway; join is the URL of another, or "".
func (n *net) start(t *testing.T, id, join string) *Control {
	t.Helper()
	return n.startAt(t, id, join, "http://127.0.0.1:"+fmt.Sprint(7000+len(n.controls)), "")
}

// startAt runs one gateway at url, with its log in dir (in memory when
// dir is "").
func (n *net) startAt(t *testing.T, id, join, url, dir string) *Control {
	t.Helper()
	return n.startNode(t, id, join, url, dir, cluster.RoleGateway)
}

// startAs runs one node of a role (a gateway, or one that is both).
func (n *net) startAs(t *testing.T, id, join string, role cluster.Role) *Control {
	t.Helper()
	return n.startNode(t, id, join, "http://127.0.0.1:"+fmt.Sprint(7000+len(n.controls)), "", role)
}

func (n *net) startNode(t *testing.T, id, join, url, dir string, role cluster.Role) *Control {
	t.Helper()
	c, err := n.startNodeErr(t, id, join, url, dir, role)
	if err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	return c
}

// startNodeErr is startNode, the start's error returned.
func (n *net) startNodeErr(t *testing.T, id, join, url, dir string, role cluster.Role) (*Control, error) {
	t.Helper()
	_, trans := hraft.NewInmemTransport(hraft.ServerAddress(url))
	n.mu.Lock()
	for u, other := range n.trans {
		trans.Connect(hraft.ServerAddress(u), other)
		other.Connect(hraft.ServerAddress(url), trans)
	}
	n.trans[url] = trans
	n.mu.Unlock()
	c, err := New(Config{
		Self: cluster.Node{ID: id, Role: role, URL: url}, Join: join, Rejoin: n.rejoin, InMemory: dir == "", Dir: dir,
		Transport: transport{n, url}, RaftTransport: trans, ElectionTimeout: 400 * time.Millisecond, ApplyTimeout: time.Second,
		KeepaliveTimeout: n.keepaliveTimeout,
		Changed: func(previous, next membership.Snapshot) {
			n.mu.Lock()
			hook := n.changed
			n.mu.Unlock()
			if hook != nil {
				hook(id, previous, next)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	n.controls[url] = c
	n.mu.Unlock()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(func() { cancel(); c.Close() })
	start, stop := context.WithTimeout(t.Context(), 20*time.Second)
	defer stop()
	return c, c.Start(start, ctx)
}

// A gateway removed from the cluster while it was down fails to start,
// saying so, rather than wait for ever for a leader that never comes.
func TestGatewayRemovedWhileDownRefusesToStart(t *testing.T) {
	n := newNet()
	g1 := n.start(t, "g1", "")
	url := g1.config.Self.URL
	n.start(t, "g2", url)
	dir, g3url := t.TempDir(), "http://127.0.0.1:7990"
	g3 := n.startAt(t, "g3", url, g3url, dir)
	eventually(t, "three gateways", func() bool { return len(g1.Current().Map.Gateways()) == 3 })
	n.kill(g3)
	if _, err := g1.Propose(t.Context(), membership.Change{Kind: membership.Leave, Node: cluster.Node{ID: "g3"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "g3 out of the map", func() bool { _, ok := g1.Current().Map.Node("g3"); return !ok })
	_, err := n.startNodeErr(t, "g3", url, g3url, dir, cluster.RoleGateway)
	if !errors.Is(err, membership.ErrRemoved) || !strings.Contains(err.Error(), "-join") {
		t.Fatalf("a removed gateway restarted: %v, want refused as removed", err)
	}
}

// A gateway removed while it ran, whose last snapshot has the removal,
// fails to start, saying so: the map it restarts with has not changed
// since, and the primary's of the same version has it out too.
func TestGatewayRemovedWhileUpRefusesToStart(t *testing.T) {
	n := newNet()
	g1 := n.start(t, "g1", "")
	url := g1.config.Self.URL
	n.start(t, "g2", url)
	dir, g3url := t.TempDir(), "http://127.0.0.1:7991"
	g3 := n.startAt(t, "g3", url, g3url, dir)
	eventually(t, "three gateways", func() bool { return len(g1.Current().Map.Gateways()) == 3 })
	if _, err := g1.Propose(t.Context(), membership.Change{Kind: membership.Leave, Node: cluster.Node{ID: "g3"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "g3 applies its removal", func() bool { _, ok := g3.Current().Map.Node("g3"); return !ok })
	if err := g3.raftNode().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	n.kill(g3)
	if g1.Current().Map.Version != g3.Current().Map.Version {
		t.Fatalf("the map changed since g3's removal (%d, g3 %d): not the case tested", g1.Current().Map.Version, g3.Current().Map.Version)
	}
	_, err := n.startNodeErr(t, "g3", url, g3url, dir, cluster.RoleGateway)
	if !errors.Is(err, membership.ErrRemoved) || !strings.Contains(err.Error(), "-join") {
		t.Fatalf("a gateway removed while up, restarted: %v, want refused as removed", err)
	}
}

// A gateway joining again under an ID removed before, with a new log,
// replays the cluster's history (its old join, its removal): its start
// returns only once it applied its new join, not on the old one.
func TestGatewayJoiningAgainStartsOnItsNewJoin(t *testing.T) {
	n := newNet()
	g1 := n.start(t, "g1", "")
	url := g1.config.Self.URL
	n.start(t, "g2", url)
	g3 := n.startAt(t, "g3", url, "http://127.0.0.1:7992", "")
	eventually(t, "three gateways", func() bool { return len(g1.Current().Map.Gateways()) == 3 })
	n.kill(g3)
	if _, err := g1.Propose(t.Context(), membership.Change{Kind: membership.Leave, Node: cluster.Node{ID: "g3"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "g3 out of the map", func() bool { _, ok := g1.Current().Map.Node("g3"); return !ok })
	removedAt := g1.Current().Map.Version
	// Its replay slowed down after its old join (past the wait of its
	// promotion), as a node's saves of each map slow it.
	n.mu.Lock()
	n.changed = func(id string, _, next membership.Snapshot) {
		if id == "g3" && next.Map != nil && next.Map.Version == removedAt-1 {
			time.Sleep(2 * time.Second)
		}
	}
	n.mu.Unlock()
	again := n.startAt(t, "g3", url, "http://127.0.0.1:7993", "")
	m := again.Current().Map
	if _, ok := m.Node("g3"); !ok || m.Version <= removedAt {
		t.Fatalf("g3 started on map version %d (g3 in it: %v), before its removal (%d) and new join were applied", m.Version, ok, removedAt)
	}
}

// The removal of a gateway that answers, while another is down, is
// refused: the two left would need both, and the log would stop for
// good. The one down can go first.
func TestRemovalThatWouldStopTheLogIsRefused(t *testing.T) {
	n := newNet()
	g1 := n.start(t, "g1", "")
	url := g1.config.Self.URL
	n.start(t, "g2", url)
	g3 := n.start(t, "g3", url)
	eventually(t, "three gateways", func() bool { return len(g1.Current().Map.Gateways()) == 3 })
	n.kill(g3)
	_, err := g1.Propose(t.Context(), membership.Change{Kind: membership.Leave, Node: cluster.Node{ID: "g2"}})
	if !errors.Is(err, ErrQuorumAtRisk) || !strings.Contains(err.Error(), "g3") {
		t.Fatalf("the removal of g2 with g3 down: %v, want refused naming g3", err)
	}
	if _, ok := g1.Current().Map.Node("g2"); !ok {
		t.Fatal("g2 left the map")
	}
	if _, err := g1.Propose(t.Context(), membership.Change{Kind: membership.Leave, Node: cluster.Node{ID: "g3"}}); err != nil {
		t.Fatalf("the removal of g3, down: %v", err)
	}
	if _, err := g1.Propose(t.Context(), membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("after"), Created: time.Now().UnixNano()}); err != nil {
		t.Fatalf("a change after: %v", err)
	}
}

// A gateway catching up waits until its state is as far in the log as
// the leader's: the versions a pull compares do not cover what it does
// not carry (revoked tokens, S3 keys).
func TestCatchUpWaitsForTheLeadersLogIndex(t *testing.T) {
	n := newNet()
	g1 := n.start(t, "g1", "")
	g2 := n.start(t, "g2", g1.config.Self.URL)
	revoke := membership.Change{Kind: membership.RevokeToken, Token: membership.RevokedToken{ID: "stolen", Expires: time.Now().Add(time.Hour).UnixNano()}, Created: time.Now().UnixNano()}
	if _, err := g1.Propose(t.Context(), revoke); err != nil {
		t.Fatal(err)
	}
	pulled, err := transport{n, g2.config.Self.URL}.Pull(t.Context(), g1.config.Self)
	if err != nil {
		t.Fatal(err)
	}
	if pulled.Index == 0 || pulled.Index != g1.LogIndex() {
		t.Fatalf("the pull carries log index %d, the leader's is %d", pulled.Index, g1.LogIndex())
	}
	eventually(t, "g2 applied the revocation", func() bool { return g2.Current().Tokens.Has("stolen") })
	ahead := pulled
	ahead.Index = g2.LogIndex() + 1 // an entry it has not applied
	short, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if g2.waitApplied(short, ahead) {
		t.Fatal("caught up with a leader further in the log, at the same versions")
	}
	if !g2.waitApplied(t.Context(), pulled) {
		t.Fatal("not caught up with a leader as far in the log")
	}
}

// A revocation proposed with a time hours ahead (its gateway's clock
// fast) does not drop the revocations still live: the leader's clock
// dates it.
func TestRevocationIsDatedByTheLeader(t *testing.T) {
	n := newNet()
	g1 := n.start(t, "g1", "")
	g2 := n.start(t, "g2", g1.config.Self.URL)
	soon := membership.Change{Kind: membership.RevokeToken, Token: membership.RevokedToken{ID: "stolen", Expires: time.Now().Add(time.Hour).Unix()}, Created: time.Now().Unix()}
	if _, err := g2.Propose(t.Context(), soon); err != nil {
		t.Fatal(err)
	}
	fast := membership.Change{Kind: membership.RevokeToken, Token: membership.RevokedToken{ID: "other", Expires: time.Now().Add(24 * time.Hour).Unix()}, Created: time.Now().Add(2 * time.Hour).Unix()}
	if _, err := g2.Propose(t.Context(), fast); err != nil {
		t.Fatal(err)
	}
	for _, g := range []*Control{g1, g2} {
		eventually(t, "the second revocation applied", func() bool { return g.Current().Tokens.Has("other") })
		if !g.Current().Tokens.Has("stolen") {
			t.Fatalf("%s: the live revocation was dropped by one dated by a fast clock", g.config.Self.ID)
		}
	}
	// One expired by the leader's clock writes no entry.
	before := g1.LogIndex()
	expired := membership.Change{Kind: membership.RevokeToken, Token: membership.RevokedToken{ID: "old", Expires: time.Now().Add(-time.Hour).Unix()}, Created: time.Now().Unix()}
	if _, err := g2.Propose(t.Context(), expired); err != nil {
		t.Fatal(err)
	}
	if after := g1.LogIndex(); after != before || g1.Current().Tokens.Has("old") {
		t.Fatalf("a revocation expired by the leader's clock was logged: index %d to %d", before, after)
	}
}

// eventually polls cond, bounded.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within 10s", what)
}

// primaryInOffice waits for the gateway that leads and is the map's
// primary.
func primaryInOffice(t *testing.T, gws []*Control) *Control {
	t.Helper()
	var leader *Control
	eventually(t, "a primary in office", func() bool {
		for _, g := range gws {
			if m := g.Current().Map; g.IsPrimary() && m.Primary == g.config.Self.ID {
				leader = g
				return true
			}
		}
		return false
	})
	return leader
}

func threeGateways(t *testing.T) (*net, []*Control) {
	n := newNet()
	g1 := n.start(t, "g1", "")
	url := g1.config.Self.URL
	return n, []*Control{g1, n.start(t, "g2", url), n.start(t, "g3", url)}
}

// aStrayVoter starts three gateways and takes a follower out of the map
// only: its removal from the voters never happened (cut short).
func aStrayVoter(t *testing.T) (n *net, gws []*Control, leader, stray *Control) {
	t.Helper()
	n, gws = threeGateways(t)
	eventually(t, "every gateway in the map", func() bool { return len(gws[2].Current().Map.Gateways()) == 3 })
	leader = primaryInOffice(t, gws)
	stray = aFollower(gws, leader)
	if _, err := leader.apply(membership.Change{Kind: membership.Leave, Node: cluster.Node{ID: stray.config.Self.ID}}); err != nil {
		t.Fatal(err)
	}
	return n, gws, leader, stray
}

// aFollower is one of the gateways that is not the leader.
func aFollower(gws []*Control, leader *Control) *Control {
	for _, g := range gws {
		if g != leader {
			return g
		}
	}
	return nil
}

func TestThreeGatewaysAgreeAndForward(t *testing.T) {
	_, gws := threeGateways(t)
	eventually(t, "every gateway in the map", func() bool { return len(gws[2].Current().Map.Gateways()) == 3 })
	voters, _ := gws[0].Voters()
	if len(voters) != 3 {
		t.Fatalf("voters %v", voters)
	}
	// A change proposed on a follower is forwarded to the leader.
	follower := gws[1]
	if follower.IsPrimary() {
		follower = gws[2]
	}
	s, err := follower.Propose(t.Context(), membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("b")})
	if err != nil {
		t.Fatal(err)
	}
	// The follower answered once it applied the change itself.
	if _, ok := follower.Current().Buckets.Props(store.NewBucket("b")); !ok {
		t.Fatal("the follower that forwarded the change does not have it applied")
	}
	for _, g := range gws {
		eventually(t, g.config.Self.ID+" has the bucket", func() bool { _, ok := g.Current().Buckets.Props(store.NewBucket("b")); return ok })
	}
	if s.Map.Primary != "g1" {
		t.Fatalf("primary %s", s.Map.Primary)
	}
	// S3 keys (and jobs), which the answer does not carry, are applied
	// on the follower too before it answers.
	keys := map[string]membership.S3Credential{"AKIA1": {Secret: "s", Token: "t"}}
	if _, err := follower.Propose(t.Context(), membership.Change{Kind: membership.SetS3Keys, S3Keys: keys}); err != nil {
		t.Fatal(err)
	}
	if _, ok := follower.Current().S3Keys.Lookup("AKIA1"); !ok {
		t.Fatal("the follower that forwarded the new S3 keys does not have them applied")
	}
}

// TestLeaderLoss: the leader goes; another takes office, the map's primary
// follows with a newer version, and changes go on.
func TestLeaderLoss(t *testing.T) {
	n, gws := threeGateways(t)
	before := gws[1].Current().Map.Version
	n.kill(gws[0])
	var leader *Control
	eventually(t, "a new leader in office", func() bool {
		for _, g := range gws[1:] {
			if g.IsPrimary() && g.Current().Map.Primary == g.config.Self.ID {
				leader = g
				return true
			}
		}
		return false
	})
	if v := leader.Current().Map.Version; v <= before {
		t.Fatalf("map version %d after the change of leader, %d before", v, before)
	}
	if _, err := leader.Propose(t.Context(), membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("after")}); err != nil {
		t.Fatal(err)
	}
}

// TestPartitionedMinority: a gateway cut off alone cannot change anything
// (ErrNoQuorum, naming who answers); the majority goes on; healed, the
// gateway catches up.
func TestPartitionedMinority(t *testing.T) {
	n, gws := threeGateways(t)
	lone := gws[2]
	n.partition(lone.config.Self.URL, true)
	eventually(t, "the lone gateway knows no leader", func() bool { addr, _ := lone.raftNode().LeaderWithID(); return addr == "" })
	_, err := lone.Propose(t.Context(), membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("minority")})
	if !errors.Is(err, ErrNoQuorum) || !strings.Contains(err.Error(), "g3") {
		t.Fatalf("a change in the minority: %v, want ErrNoQuorum naming g3", err)
	}
	if _, err := gws[0].Propose(t.Context(), membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("majority")}); err != nil {
		t.Fatalf("the majority: %v", err)
	}
	n.partition(lone.config.Self.URL, false)
	eventually(t, "the healed gateway catches up", func() bool { _, ok := lone.Current().Buckets.Props(store.NewBucket("majority")); return ok })
	if _, ok := lone.Current().Buckets.Props(store.NewBucket("minority")); ok {
		t.Fatal("a change refused in the minority was applied")
	}
}

func TestLastVoterCannotLeave(t *testing.T) {
	n := newNet()
	g1 := n.start(t, "g1", "")
	if err := g1.removeVoter(t.Context(), "g1"); !errors.Is(err, ErrLastVoter) {
		t.Fatalf("removing the last voter: %v", err)
	}
}

// TestLeaderLeaves: removing the leading gateway hands the lead to another,
// which takes it out of the map and the voters.
func TestLeaderLeaves(t *testing.T) {
	_, gws := threeGateways(t)
	eventually(t, "every gateway in the map", func() bool { return len(gws[0].Current().Map.Gateways()) == 3 })
	s, err := gws[0].Propose(t.Context(), membership.Change{Kind: membership.Leave, Node: cluster.Node{ID: "g1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Map.Node("g1"); ok || s.Map.Primary == "g1" {
		t.Fatalf("g1 still in the map: %+v", s.Map)
	}
	voters, err := gws[1].Voters()
	if err != nil || len(voters) != 2 {
		t.Fatalf("voters after g1 left: %v %v", voters, err)
	}
}

// A gateway that cannot follow the log (a change of a newer level halted
// it) does not lead: elected, it hands the lead over rather than take
// office with a state behind the others'.
func TestHaltedGatewayDoesNotLead(t *testing.T) {
	_, gws := threeGateways(t)
	eventually(t, "every gateway in the map", func() bool { return len(gws[2].Current().Map.Gateways()) == 3 })
	leader := primaryInOffice(t, gws)
	halted := gws[0]
	if halted == leader {
		halted = gws[1]
	}
	halted.fsm.halt(fmt.Errorf("raft log entry 0: %w", membership.ErrTooNew))
	id := halted.config.Self.ID
	if err := leader.raftNode().LeadershipTransferToServer(hraft.ServerID(id), hraft.ServerAddress(halted.config.Self.URL)).Error(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a gateway that follows the log in office", func() bool {
		for _, g := range gws {
			if m := g.Current().Map; g != halted && g.IsPrimary() && m.Primary == g.config.Self.ID {
				return true
			}
		}
		return false
	})
	for _, g := range gws {
		if g != halted && g.Current().Map.Primary == id {
			t.Fatalf("%s's map names the halted gateway its primary", g.config.Self.ID)
		}
	}
}

// A gateway whose removal was cut short (out of the map, still a voter)
// does not lead: elected, it hands the lead over rather than put itself
// back as the primary; and the leader takes it out of the voters once the
// grace a join needs has passed.
func TestGatewayOutOfTheMapDoesNotLead(t *testing.T) {
	n, gws, leader, stray := aStrayVoter(t)
	id := stray.config.Self.ID
	eventually(t, "the stray gateway out of every map", func() bool {
		for _, g := range gws {
			if _, ok := g.Current().Map.Node(id); ok {
				return false
			}
		}
		return true
	})
	if err := leader.raftNode().LeadershipTransferToServer(hraft.ServerID(id), hraft.ServerAddress(stray.config.Self.URL)).Error(); err != nil {
		t.Fatal(err)
	}
	// Whoever leads now, the map never names the stray gateway.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		for _, g := range gws {
			if m := g.Current().Map; m.Primary == id {
				t.Fatalf("the gateway out of the map leads it: %+v", m)
			} else if _, ok := m.Node(id); ok {
				t.Fatalf("the gateway out of the map is back in it: %+v", m)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	eventually(t, "a primary in the map", func() bool {
		for _, g := range gws {
			if m := g.Current().Map; g != stray && g.IsPrimary() && m.Primary == g.config.Self.ID {
				leader = g
				return true
			}
		}
		return false
	})
	now := time.Now()
	leader.Tick(t.Context(), now)
	if voters, _ := leader.Voters(); len(voters) != 3 {
		t.Fatalf("voters %v: the stray one removed within its grace", voters)
	}
	// The other gateway of the map cut off: the stray's vote is the
	// quorum now, and it stays.
	var other *Control
	for _, g := range gws {
		if g != leader && g != stray {
			other = g
		}
	}
	n.partition(other.config.Self.URL, true)
	leader.Tick(t.Context(), now.Add(strayVoterGrace))
	if voters, _ := leader.Voters(); len(voters) != 3 {
		t.Fatalf("voters %v: the stray removed while the map's other gateway was cut off", voters)
	}
	// Nor by its removal asked again (an admin's retry).
	if _, err := leader.Propose(t.Context(), membership.Change{Kind: membership.Remove, Node: cluster.Node{ID: id}}); err == nil {
		t.Fatal("the stray's removal asked again while its vote keeps the quorum succeeded")
	}
	if voters, _ := leader.Voters(); len(voters) != 3 {
		t.Fatalf("voters %v: the stray removed by a retry while the map's other gateway was cut off", voters)
	}
	n.partition(other.config.Self.URL, false)
	later := now.Add(strayVoterGrace)
	eventually(t, "the stray removed once the map's gateways answer", func() bool {
		for _, g := range gws {
			if m := g.Current().Map; g != stray && g.IsPrimary() && m.Primary == g.config.Self.ID {
				later = later.Add(strayCheckEvery) // a check each round
				g.Tick(t.Context(), later)
				voters, _ := g.Voters()
				return len(voters) == 2 && !strings.Contains(strings.Join(voters, ","), id)
			}
		}
		return false
	})
}

// A voter due for removal as a stray, by the map a keepalive round began
// with, that joined the map again meanwhile (its join ran while the
// voters were probed) stays a voter: removed, it would be in the map and
// follow no log.
func TestStrayJoinedMeanwhileStaysAVoter(t *testing.T) {
	_, gws := threeGateways(t)
	leader := primaryInOffice(t, gws)
	var member *Control
	for _, g := range gws {
		if g != leader {
			member = g
		}
	}
	id := member.config.Self.ID
	stale := leader.Current().Map.Clone()
	stale.Nodes = slices.DeleteFunc(stale.Nodes, func(n cluster.Node) bool { return n.ID == id })
	now := time.Now()
	leader.strays = map[string]time.Time{id: now.Add(-strayVoterGrace)}
	leader.strayChecked = time.Time{}
	leader.removeStrays(t.Context(), now, stale)
	voters, err := leader.Voters()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(voters, id) {
		t.Fatalf("voters %v: %s, in the map of now, removed by the map the round began with", voters, id)
	}
}

// A target that hangs (a dead link: it drops packets) holds the changes
// for the push timeout while it is a member; offline, it holds none: the
// change answers while a push to it would still wait.
func TestOfflineTargetDoesNotHoldChanges(t *testing.T) {
	n := newNet()
	n.keepaliveTimeout = 2 * time.Second // pushes wait 1s at most
	g1 := n.start(t, "g1", "")
	t1 := cluster.Node{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:7900"}
	n.mu.Lock()
	n.targets[t1.URL] = true
	n.mu.Unlock()
	if _, err := g1.Propose(t.Context(), membership.Change{Kind: membership.Join, Node: t1}); err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	n.hung[t1.URL] = true
	n.mu.Unlock()
	if _, err := g1.Propose(t.Context(), membership.Change{Kind: membership.Offline, Node: cluster.Node{ID: "t1"}}); err != nil {
		t.Fatal(err)
	}
	if node, _ := g1.Current().Map.Node("t1"); node.State != cluster.StateOffline {
		t.Fatalf("t1 is %s, want offline", node.State)
	}
	// The keepalive's round still asks it (and waits): it is how an
	// offline target is found back.
	before := n.hungPushes.Load()
	g1.Tick(t.Context(), time.Now())
	if n.hungPushes.Load() != before+1 {
		t.Fatal("the keepalive's round did not push to the offline target")
	}
	if _, err := g1.Propose(t.Context(), membership.Change{Kind: membership.SetConfig, Patch: []byte(`{"distributed_sort":{"missing_shards":"warn"}}`)}); err != nil {
		t.Fatal(err)
	}
	if pushes := n.hungPushes.Load() - before - 1; pushes != 0 {
		t.Fatalf("a change pushed to the offline target (%d), waiting for its push timeout", pushes)
	}
}

// A node that is both gateway and target leaves as a target does: it
// stays in the map (leaving) and among the voters, following the log,
// until its objects moved (Left); one that dies goes offline.
func TestNodesThatAreAlsoTargets(t *testing.T) {
	n := newNet()
	g1 := n.start(t, "g1", "")
	url := g1.config.Self.URL
	a2, a3 := n.startAs(t, "a2", url, cluster.RoleAll), n.startAs(t, "a3", url, cluster.RoleAll)
	n.start(t, "g4", url) // a majority once a3 is dead
	eventually(t, "every node in the map", func() bool { return len(g1.Current().Map.Nodes) == 4 })
	s, err := g1.Propose(t.Context(), membership.Change{Kind: membership.Leave, Node: cluster.Node{ID: "a2"}})
	if err != nil {
		t.Fatal(err)
	}
	if node, ok := s.Map.Node("a2"); !ok || node.State != cluster.StateLeaving {
		t.Fatalf("a2 asked to leave is %+v in the map, want leaving", node)
	}
	if voters, err := g1.Voters(); err != nil || len(voters) != 4 {
		t.Fatalf("voters while a2 is leaving: %v %v; want all 4 (it follows the log until it left)", voters, err)
	}
	// The node itself says it left, once its objects moved.
	if _, err := a2.Propose(t.Context(), membership.Change{Kind: membership.Left, Node: cluster.Node{ID: "a2"}}); err != nil {
		t.Fatalf("a2's Left: %v", err)
	}
	if _, ok := g1.Current().Map.Node("a2"); ok {
		t.Fatal("a2 is in the map after it left")
	}
	if voters, err := g1.Voters(); err != nil || len(voters) != 3 {
		t.Fatalf("voters after a2 left: %v %v", voters, err)
	}
	n.kill(a3)
	now := time.Now()
	g1.Tick(t.Context(), now)
	g1.Tick(t.Context(), now.Add(time.Minute))
	g1.Tick(t.Context(), now.Add(time.Minute+time.Second))
	if node, _ := g1.Current().Map.Node("a3"); node.State != cluster.StateOffline {
		t.Fatalf("a3, dead, is %s after the keepalive's timeout, want offline", node.State)
	}
}

// A change forwarded to the leader, applied, whose answer is lost, is
// sent again: the retry, finding the change made (the bucket created at
// its time, the node leaving), answers it made, not refused.
func TestForwardAppliedWithItsAnswerLost(t *testing.T) {
	n, gws := threeGateways(t)
	eventually(t, "every gateway in the map", func() bool { return len(gws[0].Current().Map.Gateways()) == 3 })
	follower := gws[1]
	if follower.IsPrimary() {
		follower = gws[2]
	}
	n.lostAnswers.Store(1)
	if _, err := follower.Propose(t.Context(), membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("once"), Created: 1_800_000_000_000_000_000}); err != nil {
		t.Fatalf("a create forwarded, applied, its answer lost: %v, want made", err)
	}
	n.lostAnswers.Store(1)
	if _, err := follower.Propose(t.Context(), membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("once"), Created: 1_800_000_000_000_000_001}); !errors.Is(err, store.ErrBucketExists) {
		t.Fatalf("another create of that bucket: %v, want exists", err)
	}
	// A leave, told by the node's state (the error crosses the wire as a
	// bad request).
	// (a5 with it: the only active target would not leave.)
	n.startAs(t, "a4", gws[0].config.Self.URL, cluster.RoleAll)
	n.startAs(t, "a5", gws[0].config.Self.URL, cluster.RoleAll)
	eventually(t, "a4 and a5 in the map", func() bool { return len(follower.Current().Map.ActiveTargets()) == 2 })
	n.lostAnswers.Store(1)
	if _, err := follower.Propose(t.Context(), membership.Change{Kind: membership.Leave, Node: cluster.Node{ID: "a4"}}); err != nil {
		t.Fatalf("a leave forwarded, applied, its answer lost: %v, want made", err)
	}
	// A destroy of the bucket as created then: made, not "not found".
	n.lostAnswers.Store(1)
	if _, err := follower.Propose(t.Context(), membership.Change{Kind: membership.DestroyBucket, Bucket: store.NewBucket("once"), Created: 1_800_000_000_000_000_000}); err != nil {
		t.Fatalf("a destroy forwarded, applied, its answer lost: %v, want made", err)
	}
	// A destroy of a bucket created again since does not remove the new one.
	if _, err := follower.Propose(t.Context(), membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("once"), Created: 1_800_000_000_000_000_002}); err != nil {
		t.Fatal(err)
	}
	if _, err := follower.Propose(t.Context(), membership.Change{Kind: membership.DestroyBucket, Bucket: store.NewBucket("once"), Created: 1_800_000_000_000_000_000}); !errors.Is(err, membership.ErrMapChanged) {
		t.Fatalf("a destroy of the bucket created before: %v, want refused", err)
	}
	if _, ok := follower.Current().Buckets.Props(store.NewBucket("once")); !ok {
		t.Fatal("the bucket created again is gone")
	}
}

// TestChangeWaitsForElection: a change proposed while the gateways elect a
// leader waits for the new one rather than fail.
func TestChangeWaitsForElection(t *testing.T) {
	n, gws := threeGateways(t)
	n.kill(gws[0])
	// At once: the followers have not noticed the leader is gone.
	if _, err := gws[1].Propose(t.Context(), membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("during")}); err != nil {
		t.Fatalf("a change during the election: %v", err)
	}
}

// TestSnapshotEqualsReplay: a restored snapshot is the state the log gave.
func TestSnapshotEqualsReplay(t *testing.T) {
	replay := &fsm{holder: membership.NewHolder(nil, nil), logger: nil}
	changes := []membership.Change{
		{Kind: membership.Lead, Node: cluster.Node{ID: "g1", Role: cluster.RoleGateway, URL: "http://127.0.0.1:1"}, UUID: "u"},
		{Kind: membership.Join, Node: cluster.Node{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:2"}},
		{Kind: membership.CreateBucket, Bucket: store.NewBucket("a"), Created: 1},
		{Kind: membership.JobStarted, Job: membership.Job{ID: "srt-1", Coordinator: "g1"}},
		{Kind: membership.SetProps, Bucket: store.NewBucket("a"), Patch: []byte(`{"versioning":{"enabled":false}}`)},
		// A leaving target gone offline: back, it goes on leaving.
		{Kind: membership.Leave, Node: cluster.Node{ID: "t1"}},
		{Kind: membership.Offline, Node: cluster.Node{ID: "t1"}},
	}
	for i, c := range changes {
		data, _ := jsonMarshal(c)
		if res := replay.Apply(&hraft.Log{Index: uint64(i + 1), Data: data}).(result); res.err != nil {
			t.Fatal(res.err)
		}
	}
	snap, err := replay.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored := &fsm{holder: membership.NewHolder(nil, nil)}
	if err := restored.Restore(nopCloser{bytes.NewReader(snap.(fsmSnapshot))}); err != nil {
		t.Fatal(err)
	}
	// It knows the entry its state is of: a restarted gateway's catch-up
	// does not take Raft's count of entries handed to the fsm, ahead of
	// the state, for the state.
	if got := restored.applied.Load(); got != uint64(len(changes)) {
		t.Fatalf("the restored fsm's applied index: %d, want %d", got, len(changes))
	}
	// One of an older version (no index): unknown, as before.
	old, _ := jsonMarshal(replay.holder.Current())
	if err := restored.Restore(nopCloser{bytes.NewReader(old)}); err != nil || restored.applied.Load() != 0 {
		t.Fatalf("a snapshot of an older version: %v, applied %d, want 0", err, restored.applied.Load())
	}
	a, _ := jsonMarshal(replay.holder.Current())
	b, _ := jsonMarshal(restored.holder.Current())
	if !bytes.Equal(a, b) {
		t.Fatalf("restore differs from replay:\n%s\n%s", a, b)
	}
	// The maps as structs: a field the JSON drops differs here.
	if want, got := replay.holder.Current().Map.Nodes, restored.holder.Current().Map.Nodes; !reflect.DeepEqual(want, got) {
		t.Fatalf("the restored map's nodes differ from the replayed ones:\n%+v\n%+v", got, want)
	}
	if t1, _ := restored.holder.Current().Map.Node("t1"); !t1.Leaving {
		t.Fatalf("the restored map forgot that offline t1 was leaving: %+v", t1)
	}
}

// A snapshot that could not have come from the log (a map whose primary
// is not among its nodes, a bucket named "..", a job under another id) is
// refused, and the state stays as it was.
func TestRestoreRefusesAnUnsoundSnapshot(t *testing.T) {
	want := map[string]string{
		"primary not in the map": `primary "g9"`, "bucket named ..": `".." is reserved`,
		"job under another id": `job "b"`,
	}
	for name, snapshot := range map[string]string{
		"primary not in the map": `{"map":{"version":2,"primary":"g9","nodes":[{"id":"g1","role":"gateway","url":"http://127.0.0.1:1"}]}}`,
		"bucket named ..":        `{"bmd":{"version":"1","providers":{"ais":{"@#":{"..":{}}}}}}`,
		"job under another id":   `{"jobs":{"a":{"id":"b"}}}`,
	} {
		f := &fsm{holder: membership.NewHolder(nil, nil)}
		before, _ := jsonMarshal(f.holder.Current())
		if err := f.Restore(nopCloser{bytes.NewReader([]byte(snapshot))}); err == nil {
			t.Errorf("%s: restored", name)
		} else if !strings.Contains(err.Error(), want[name]) {
			t.Errorf("%s: %v, want it to name %q", name, err, want[name])
		}
		if after, _ := jsonMarshal(f.holder.Current()); !bytes.Equal(before, after) {
			t.Errorf("%s: the state changed to %s", name, after)
		}
	}
}

// A change of a newer protocol level halts the fsm: it says so once and
// applies nothing more, rather than follow the log by older rules; a
// snapshot of a newer level is refused the same way.
func TestNewerLevelHaltsTheFSM(t *testing.T) {
	var told []error
	f := &fsm{holder: membership.NewHolder(nil, nil), incompatible: func(err error) { told = append(told, err) }}
	apply := func(i int, c membership.Change) error {
		data, _ := jsonMarshal(c)
		return f.Apply(&hraft.Log{Index: uint64(i), Data: data}).(result).err
	}
	if err := apply(1, membership.Change{Kind: membership.Lead, Node: cluster.Node{ID: "g1", Role: cluster.RoleGateway, URL: "http://127.0.0.1:1"}, UUID: "u"}); err != nil {
		t.Fatal(err)
	}
	if err := apply(2, membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("newer"), Level: membership.ProtocolLevel + 1}); !errors.Is(err, membership.ErrTooNew) {
		t.Fatalf("a change of a newer level: %v", err)
	}
	if err := apply(3, membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("after")}); !errors.Is(err, membership.ErrTooNew) {
		t.Fatalf("a change after it: %v, want the fsm halted", err)
	}
	if n := len(f.holder.Current().Buckets.Buckets); n != 0 || len(told) != 1 {
		t.Fatalf("%d buckets, told %d times; want none and once", n, len(told))
	}
	// Nor a snapshot of the state before the halt, under the log's later
	// index: the log stays for a restart to apply.
	if _, err := f.Snapshot(); !errors.Is(err, membership.ErrTooNew) {
		t.Fatalf("a snapshot of a halted fsm: %v", err)
	}
	restored := &fsm{holder: membership.NewHolder(nil, nil), incompatible: func(err error) { told = append(told, err) }}
	if err := restored.Restore(nopCloser{bytes.NewReader([]byte(fmt.Sprintf(`{"level":%d}`, membership.ProtocolLevel+1)))}); !errors.Is(err, membership.ErrTooNew) || len(told) != 2 {
		t.Fatalf("a snapshot of a newer level: %v, told %d times", err, len(told))
	}
}

// A change of a newer level than the leader's (forwarded by an upgraded
// follower) is refused before it goes into the log: there it would halt
// every gateway of the leader's build.
func TestLeaderRefusesAChangeOfANewerLevel(t *testing.T) {
	_, gws := threeGateways(t)
	leader := primaryInOffice(t, gws)
	newer := membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("newer"), Level: membership.ProtocolLevel + 1}
	if _, err := leader.Propose(t.Context(), newer); !errors.Is(err, membership.ErrLeaderBehind) {
		t.Fatalf("a change of a newer level: %v, want refused", err)
	}
	if _, err := leader.Propose(t.Context(), membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("after")}); err != nil {
		t.Fatalf("a change after it: %v", err)
	}
	for _, g := range gws {
		if _, ok := g.Current().Buckets.Props(store.NewBucket("newer")); ok {
			t.Fatalf("%s applied the change of a newer level", g.config.Self.ID)
		}
	}
}

// A snapshot whose config an older version took, and this one's rules
// refuse (a bound added since), is restored: refused, it would stop the
// gateway for good; the config is set again through the API.
func TestRestoreTakesAConfigOfOlderRules(t *testing.T) {
	f := &fsm{holder: membership.NewHolder(nil, nil)}
	snapshot := `{"config":{"distributed_sort":{"duplicated_records":"ignore","missing_shards":"ignore","ekm_malformed_line":"abort","ekm_missing_key":"abort","default_max_mem_usage":"80%"},"space":{"lowwm":75,"highwm":90,"out_of_space":95},"lru":{"capacity_upd_time":"48h"}}}`
	if err := f.Restore(nopCloser{bytes.NewReader([]byte(snapshot))}); err != nil {
		t.Fatalf("a config of 48h capacity_upd_time: %v", err)
	}
	if got := f.holder.Current().Config; got == nil || time.Duration(got.LRU.CapacityUpdTime) != 48*time.Hour {
		t.Fatalf("the restored config: %+v", got)
	}
}

// TestCorruptLogRefusesToStart: a damaged log file stops the gateway with
// a clear error; it never starts empty.
func TestCorruptLogRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "raft.db"), bytes.Repeat([]byte("garbage!"), 100), 0o644)
	_, trans := hraft.NewInmemTransport("http://127.0.0.1:1")
	c, err := New(Config{Self: cluster.Node{ID: "g1", Role: cluster.RoleGateway, URL: "http://127.0.0.1:1"}, Dir: dir,
		Transport: transport{newNet(), ""}, RaftTransport: trans})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Start(t.Context(), t.Context())
	if err == nil || !strings.Contains(err.Error(), "cannot be read") {
		t.Fatalf("a corrupt log: %v", err)
	}
}

// TestRestartServesNothingStale: a gateway restarted from a snapshot older
// than its log is ready only once it applied the rest.
func TestRestartServesNothingStale(t *testing.T) {
	dir := t.TempDir()
	start := func() *Control {
		url := "http://127.0.0.1:7999"
		_, trans := hraft.NewInmemTransport(hraft.ServerAddress(url))
		c, err := New(Config{Self: cluster.Node{ID: "g1", Role: cluster.RoleGateway, URL: url}, Dir: dir,
			Transport: transport{newNet(), url}, RaftTransport: trans, ElectionTimeout: 400 * time.Millisecond, ApplyTimeout: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithTimeout(t.Context(), 20*time.Second)
		defer stop()
		if err := c.Start(ctx, t.Context()); err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := start()
	eventually(t, "in office", func() bool { return c.IsPrimary() && c.Current().Map.Primary == "g1" })
	if _, err := c.Propose(t.Context(), membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("before")}); err != nil {
		t.Fatal(err)
	}
	if err := c.raftNode().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := c.Propose(t.Context(), membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket(fmt.Sprintf("after-%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	want := c.Current().Buckets.Version
	c.Close()
	c = start()
	defer c.Close()
	if got := c.Current().Buckets.Version; got < want {
		t.Fatalf("restarted with bucket metadata version %d, %d was committed", got, want)
	}
	if _, ok := c.Current().Buckets.Props(store.NewBucket("after-19")); !ok {
		t.Fatal("the last bucket is missing after the restart")
	}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// TestLostLogDoesNotStartASecondCluster: a gateway whose log is gone (moved
// away after damage) and that starts without -join refuses to lead when
// the map it saved names other gateways; it would lead beside them. With
// no other gateway in it, it leads from that map.
func TestLostLogDoesNotStartASecondCluster(t *testing.T) {
	for _, tc := range []struct {
		name     string
		gateways []string
		refused  bool
		corrupt  bool
		// unreadable is a file of the rest it saved made unreadable.
		unreadable string
	}{{"other gateways", []string{"g1", "g2"}, true, false, ""}, {"alone", []string{"g1"}, false, false, ""},
		{"unreadable saved map", []string{"g1", "g2"}, true, true, ""},
		{"alone, unreadable saved buckets", []string{"g1"}, true, false, "bmd.json"},
		{"alone, unreadable saved control state", []string{"g1"}, true, false, "control.json"}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			meta, err := membership.NewFileStore(dir)
			if err != nil {
				t.Fatal(err)
			}
			url := "http://127.0.0.1:7998"
			m := &cluster.Map{Version: 9, UUID: "u1", Primary: "g1"}
			for i, id := range tc.gateways {
				m.Nodes = append(m.Nodes, cluster.Node{ID: id, Role: cluster.RoleGateway, URL: fmt.Sprintf("http://127.0.0.1:%d", 7998-i), State: cluster.StateActive})
			}
			if err := meta.SaveMap(m); err != nil {
				t.Fatal(err)
			}
			if tc.corrupt {
				// It may name other gateways: no cluster on a guess.
				if err := os.WriteFile(filepath.Join(dir, "smap.json"), []byte("{not json"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.unreadable != "" {
				// Seeded without it, the cluster would lose its buckets
				// or its revocations.
				if err := os.WriteFile(filepath.Join(dir, tc.unreadable), []byte("{not json"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err = startWithoutLog(t, url, meta)
			if refused := errors.Is(err, ErrOtherGateways) || errors.Is(err, ErrSavedUnreadable); refused != tc.refused {
				t.Fatalf("start: %v, want refused %v", err, tc.refused)
			}
			if !tc.refused && err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A gateway alone whose log is lost seeds a new one from all it saved:
// the tokens revoked before stay revoked, the cluster config stays.
func TestLostLogSeedsTheSavedControlState(t *testing.T) {
	meta, err := membership.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	url := "http://127.0.0.1:7997"
	m := &cluster.Map{Version: 9, UUID: "u1", Primary: "g1", Nodes: []cluster.Node{{ID: "g1", Role: cluster.RoleGateway, URL: url, State: cluster.StateActive}}}
	if err := meta.SaveMap(m); err != nil {
		t.Fatal(err)
	}
	config := membership.DefaultClusterConfig()
	config.Version, config.Space.HighWM = 4, 91
	saved := membership.ControlState{Config: &config, Tokens: &membership.RevokedTokens{Version: 2, Tokens: map[string]int64{"stolen": time.Now().Add(time.Hour).UnixNano()}},
		S3Keys: &membership.S3Keys{Version: 1, Keys: map[string]membership.S3Credential{"AKIA1": {Secret: "s", Token: "t"}}}}
	if err := meta.SaveControl(saved); err != nil {
		t.Fatal(err)
	}
	c, err := startWithoutLog(t, url, meta)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Current()
	if !s.Tokens.Has("stolen") {
		t.Fatalf("the revoked token is forgotten: %+v", s.Tokens)
	}
	if got := s.ClusterConfig(); got.Space.HighWM != 91 || got.Version != 4 {
		t.Fatalf("cluster config %+v, want the saved one (highwm 91, version 4)", got)
	}
	if _, ok := s.S3Keys.Lookup("AKIA1"); !ok {
		t.Fatal("the S3 key is forgotten")
	}
}

// A follower restarted serves nothing older than what it logged before:
// the entries after its snapshot (a revoked token here) are applied
// before Start returns, though the map and buckets it pulls are current.
func TestRestartedFollowerAppliesItsLog(t *testing.T) {
	n := newNet()
	g1 := n.start(t, "g1", "")
	url, dir := "http://127.0.0.1:7101", t.TempDir()
	g2 := n.startAt(t, "g2", g1.config.Self.URL, url, dir)
	n.start(t, "g3", g1.config.Self.URL)
	eventually(t, "every gateway in g2's map", func() bool { return len(g2.Current().Map.Gateways()) == 3 })
	// Raft refuses a snapshot until its configuration's entry (g3's
	// joining) is applied, which may come after the map's.
	eventually(t, "g2 takes a snapshot", func() bool { return g2.raftNode().Snapshot().Error() == nil })
	revoke := membership.Change{Kind: membership.RevokeToken, Token: membership.RevokedToken{ID: "stolen", Expires: time.Now().Add(time.Hour).UnixNano()}, Created: time.Now().UnixNano()}
	if _, err := g1.Propose(t.Context(), revoke); err != nil {
		t.Fatal(err)
	}
	eventually(t, "g2 has the revocation", func() bool { return g2.Current().Tokens.Has("stolen") })
	n.kill(g2)
	g2 = n.startAt(t, "g2", "", url, dir)
	if !g2.Current().Tokens.Has("stolen") {
		t.Fatal("the restarted follower serves a token revoked before it stopped")
	}
}

// startWithoutLog starts gateway g1 at url with an empty log and the
// metadata it saved before in meta; it is closed at the test's end.
func startWithoutLog(t *testing.T, url string, meta membership.MetaStore) (*Control, error) {
	t.Helper()
	_, trans := hraft.NewInmemTransport(hraft.ServerAddress(url))
	c, err := New(Config{Self: cluster.Node{ID: "g1", Role: cluster.RoleGateway, URL: url}, Dir: t.TempDir(), Legacy: meta,
		Transport: transport{newNet(), url}, RaftTransport: trans, ElectionTimeout: 400 * time.Millisecond, ApplyTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, stop := context.WithTimeout(t.Context(), 20*time.Second)
	defer stop()
	return c, c.Start(ctx, t.Context())
}

// A keepalive round's changes are refused at once when the gateway
// leaves its office during the round (a new term's takeOffice waits for
// the round): each waited three election timeouts for an office that
// could not be taken meanwhile.
func TestRoundChangesStopWhenTheLeadChanges(t *testing.T) {
	n := newNet()
	g1 := n.start(t, "g1", "")
	t1 := cluster.Node{ID: "t1", Role: cluster.RoleTarget, URL: "http://127.0.0.1:7900"}
	n.mu.Lock()
	n.targets[t1.URL] = true
	n.mu.Unlock()
	if _, err := g1.Propose(t.Context(), membership.Change{Kind: membership.Join, Node: t1}); err != nil {
		t.Fatal(err)
	}
	propose, inTerm := g1.roundProposer()
	if !inTerm() {
		t.Fatal("the leader in office is not in its term")
	}
	offline := membership.Change{Kind: membership.Offline, Node: cluster.Node{ID: "t1"}, IfMap: g1.Current().Map.Version}
	term := g1.officeTerm.Load()
	g1.officeTerm.Store(0) // the lead lost, and won again: not in office yet
	if _, err := propose(t.Context(), offline); !errors.Is(err, errLeadChanged) {
		t.Fatalf("a round's change after the lead changed: %v, want refused at once", err)
	}
	g1.officeTerm.Store(term + 1) // in office in another term
	if _, err := propose(t.Context(), offline); !errors.Is(err, errLeadChanged) || inTerm() {
		t.Fatalf("a round's change in another term: %v, want refused at once", err)
	}
	if node, _ := g1.Current().Map.Node("t1"); node.State == cluster.StateOffline {
		t.Fatal("t1 was taken offline by a round of another term")
	}
	g1.officeTerm.Store(term)

	// So in a round: the gateway leaves office as it pushes (and is back
	// in it soon after); the round's change, judged in the office left,
	// is not made.
	n.mu.Lock()
	n.stopping = map[string]bool{t1.URL: true}
	n.onPush = func() {
		g1.officeTerm.Store(0)
		time.AfterFunc(300*time.Millisecond, func() { g1.officeTerm.Store(term) })
	}
	n.mu.Unlock()
	g1.Tick(t.Context(), time.Now())
	n.mu.Lock()
	n.onPush = nil
	n.mu.Unlock()
	time.Sleep(time.Second) // a change let through would be applied by now
	if node, _ := g1.Current().Map.Node("t1"); node.State == cluster.StateOffline {
		t.Fatal("a keepalive round's change was made after the gateway left the office it judged it in")
	}
}

// A joiner slow to answer its probe (a wrong address: the probe's
// timeout) holds no other membership change meanwhile.
func TestSlowJoinerProbeHoldsNoOtherChange(t *testing.T) {
	n := newNet()
	g1 := n.start(t, "g1", "")
	var targets []cluster.Node
	for i := range 2 {
		node := cluster.Node{ID: fmt.Sprintf("t%d", i+1), Role: cluster.RoleTarget, URL: fmt.Sprintf("http://127.0.0.1:%d", 7900+i)}
		n.mu.Lock()
		n.targets[node.URL] = true
		n.mu.Unlock()
		if _, err := g1.Propose(t.Context(), membership.Change{Kind: membership.Join, Node: node}); err != nil {
			t.Fatal(err)
		}
		targets = append(targets, node)
	}
	slow := cluster.Node{ID: "t9", Role: cluster.RoleTarget, URL: "http://127.0.0.1:7909"}
	release := make(chan struct{})
	n.mu.Lock()
	n.targets[slow.URL] = true
	n.slowProbes = map[string]chan struct{}{slow.URL: release}
	n.probing = make(chan string, 1)
	n.mu.Unlock()
	joined := make(chan error, 1)
	go func() {
		_, err := g1.Propose(t.Context(), membership.Change{Kind: membership.Join, Node: slow})
		joined <- err
	}()
	<-n.probing
	// (A lock the probe held is no context's to end: the maintenance is
	// waited for aside, the probe let go when it does not come.)
	maintained := make(chan error, 1)
	go func() {
		_, err := g1.Propose(t.Context(), membership.Change{Kind: membership.Maintenance, Node: cluster.Node{ID: targets[0].ID}})
		maintained <- err
	}()
	select {
	case err := <-maintained:
		close(release)
		if err != nil {
			t.Fatalf("a maintenance while a joiner's probe waits: %v", err)
		}
	case <-time.After(10 * time.Second):
		close(release)
		<-maintained
		t.Fatal("a maintenance waited for a joiner's probe")
	}
	if err := <-joined; err != nil {
		t.Fatalf("the slow joiner's join: %v", err)
	}
	if _, ok := g1.Current().Map.Node("t9"); !ok {
		t.Fatal("the slow joiner is not in the map")
	}
}

// The Raft leader refuses the maintenance or leave of the only active
// target, as the push primary does, before anything is logged.
func TestRaftOnlyActiveTargetStays(t *testing.T) {
	n := newNet()
	g1 := n.start(t, "g1", "")
	a2 := n.startAs(t, "a2", g1.config.Self.URL, cluster.RoleAll)
	eventually(t, "every node in the map", func() bool { return len(g1.Current().Map.Nodes) == 2 })
	before := g1.Current().Map.Version
	for _, kind := range []membership.Kind{membership.Maintenance, membership.Leave} {
		if _, err := a2.Propose(t.Context(), membership.Change{Kind: kind, Node: cluster.Node{ID: "a2"}}); !errors.Is(err, membership.ErrLastTarget) {
			t.Fatalf("%s of the only active target: %v", kind, err)
		}
	}
	if after := g1.Current().Map.Version; after != before {
		t.Fatalf("the map changed from version %d to %d", before, after)
	}
}

// A gateway asked to change the cluster, or to catch up, before its log
// is made (a join reaching it as it starts) answers no quorum, to retry,
// rather than panic.
func TestControlBeforeStartAnswersNoQuorum(t *testing.T) {
	_, trans := hraft.NewInmemTransport("http://127.0.0.1:7999")
	c, err := New(Config{Self: cluster.Node{ID: "g9", Role: cluster.RoleGateway, URL: "http://127.0.0.1:7999"}, InMemory: true, Transport: transport{newNet(), "http://127.0.0.1:7999"},
		RaftTransport: trans, ElectionTimeout: 400 * time.Millisecond, ApplyTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Propose(t.Context(), membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("b")}); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("a change before the start: %v, want no quorum", err)
	}
	if err := c.Refresh(t.Context()); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("a refresh before the start: %v, want no quorum", err)
	}
	if _, err := c.Voters(); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("the voters before the start: %v, want no quorum", err)
	}
}

// A gateway whose log was lost, started again under its id to join, is
// taken out of the log's voters first, then joins anew: as the same
// voter with an empty log (and no memory of its votes), it could elect a
// leader without entries the cluster committed.
func TestGatewayWithALostLogLeavesBeforeItJoins(t *testing.T) {
	n, gws := threeGateways(t)
	leader := primaryInOffice(t, gws)
	lost := aFollower(gws, leader)
	id, url := lost.config.Self.ID, lost.config.Self.URL
	lost.Close()
	again := n.startAt(t, id, leader.config.Self.URL, url, "") // its log gone
	n.mu.Lock()
	left := slices.ContainsFunc(n.forwards, func(ch membership.Change) bool { return ch.Kind == membership.DropVoter && ch.Node.ID == id })
	n.mu.Unlock()
	if !left {
		t.Fatalf("the gateway with a lost log joined without leaving the voters first")
	}
	eventually(t, "the gateway back among the voters and in the map", func() bool {
		voters, err := leader.Voters()
		_, inMap := again.Current().Map.Node(id)
		return err == nil && len(voters) == 3 && slices.Contains(voters, id) && inMap
	})
}

// The gateway that started the cluster, started again without -join and
// without its log (its volume lost), joins the cluster answering at its
// rejoin URL rather than start a second one beside it; with nothing
// answering there, a gateway starts a new cluster.
func TestSeedWithALostLogRejoins(t *testing.T) {
	n, gws := threeGateways(t)
	seed := gws[0]
	id, url, uuid := seed.config.Self.ID, seed.config.Self.URL, seed.Current().Map.UUID
	n.kill(seed)
	others := gws[1:]
	primaryInOffice(t, others)
	eventually(t, "the new primary in the map the rejoin URL answers", func() bool { return others[0].Current().Map.Primary != id })
	n.rejoin = others[0].config.Self.URL
	again := n.startAt(t, id, "", url, "") // its log gone
	if got := again.Current().Map.UUID; got != uuid {
		t.Fatalf("the seed with a lost log is in cluster %q, want %q (a second cluster beside the first)", got, uuid)
	}
	eventually(t, "the seed back among the voters", func() bool {
		voters, err := others[0].Voters()
		return err == nil && len(voters) == 3 && slices.Contains(voters, id)
	})

	alone := newNet()
	alone.rejoin = "http://127.0.0.1:6999" // nothing answers
	first := alone.start(t, "n1", "")
	if m := first.Current().Map; m == nil || m.UUID == "" || m.UUID == uuid {
		t.Fatalf("a gateway with nothing at its rejoin URL: map %+v, want a new cluster", m)
	}
	// Refused there (another secret): it starts no cluster of its own.
	alone.rejoin = first.config.Self.URL
	alone.refusing = map[string]bool{alone.rejoin: true}
	if _, err := alone.startNodeErr(t, "n2", "", "http://127.0.0.1:7990", "", cluster.RoleGateway); err == nil || !strings.Contains(err.Error(), "neither joins it nor starts a new cluster") {
		t.Fatalf("a gateway without a log refused at its rejoin URL: %v, want its start refused", err)
	}
}

// DropVoter takes a gateway out of the voters, not out of the map, with
// three voters or more; with two it does nothing (the other holds every
// committed entry), and it is never logged.
func TestDropVoterLeavesTheMap(t *testing.T) {
	_, gws := threeGateways(t)
	leader := primaryInOffice(t, gws)
	other := aFollower(gws, leader)
	id := other.config.Self.ID
	version := leader.Current().Map.Version
	if _, err := leader.Propose(t.Context(), membership.Change{Kind: membership.DropVoter, Node: other.config.Self}); err != nil {
		t.Fatal(err)
	}
	voters, err := leader.Voters()
	if err != nil || len(voters) != 2 || slices.Contains(voters, id) {
		t.Fatalf("voters after dropping %s: %v %v", id, voters, err)
	}
	if _, ok := leader.Current().Map.Node(id); !ok || leader.Current().Map.Version != version {
		t.Fatalf("the map changed with the voters: %+v", leader.Current().Map)
	}
	// Two voters left: another drop does nothing.
	var last string
	for _, v := range voters {
		if v != leader.config.Self.ID {
			last = v
		}
	}
	lastNode, _ := leader.Current().Map.Node(last)
	if _, err := leader.Propose(t.Context(), membership.Change{Kind: membership.DropVoter, Node: lastNode}); err != nil {
		t.Fatal(err)
	}
	if voters, _ := leader.Voters(); len(voters) != 2 {
		t.Fatalf("a drop with two voters left: %v", voters)
	}
}

// A gateway started with the id of another, live, at another URL, does
// not take that one out of the voters: its join is refused.
func TestGatewayWithATakenIdDropsNoVoter(t *testing.T) {
	n, gws := threeGateways(t)
	leader := primaryInOffice(t, gws)
	other := aFollower(gws, leader)
	if _, err := n.startNodeErr(t, other.config.Self.ID, leader.config.Self.URL, "http://127.0.0.1:7990", "", cluster.RoleGateway); err == nil {
		t.Fatal("a gateway with a taken id joined")
	}
	n.mu.Lock()
	dropped := slices.ContainsFunc(n.forwards, func(ch membership.Change) bool { return ch.Kind == membership.DropVoter })
	n.mu.Unlock()
	if voters, _ := leader.Voters(); dropped || len(voters) != 3 {
		t.Fatalf("a duplicate id's start: drop asked %v, voters %v", dropped, voters)
	}
}

// A leader that has not taken office as primary refuses changes, also
// past its wait for the office: it would check them against a state
// that may lack the last leader's entries (here it has no map at all).
func TestLeaderOutOfOfficeRefusesChanges(t *testing.T) {
	takingOffice = func() error { return errors.New("held out of office") }
	t.Cleanup(func() { takingOffice = nil })
	url := "http://127.0.0.1:7991"
	_, trans := hraft.NewInmemTransport(hraft.ServerAddress(url))
	c, err := New(Config{Self: cluster.Node{ID: "g1", Role: cluster.RoleGateway, URL: url}, Dir: t.TempDir(),
		Transport: transport{newNet(), url}, RaftTransport: trans, ElectionTimeout: 400 * time.Millisecond, ApplyTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, stop := context.WithTimeout(t.Context(), time.Second)
	defer stop()
	if err := c.Start(ctx, t.Context()); err == nil {
		t.Fatal("a gateway that never takes office started")
	}
	eventually(t, "g1 leads the log", func() bool { return c.leading.Load() })
	_, err = c.Propose(t.Context(), membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("b"), Created: time.Now().UnixNano()})
	if !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("a change on a leader out of office: %v, want no quorum", err)
	}
	if md := c.Current().Buckets; md != nil {
		if _, ok := md.Buckets[store.NewBucket("b")]; ok {
			t.Fatal("the bucket was made by a leader out of office")
		}
	}
	// Nor does it say it is current: a decision on a refreshed state
	// (the buckets a dSort job starts from) would miss the last
	// leader's entries.
	if err := c.Refresh(t.Context()); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("a refresh on a leader out of office: %v, want no quorum", err)
	}
}

// A leader stepping down (a gateway shutting down) hands the lead to
// another voter before it goes.
func TestStepDownHandsTheLeadOver(t *testing.T) {
	_, gws := threeGateways(t)
	eventually(t, "every gateway in the map", func() bool { return len(gws[0].Current().Map.Gateways()) == 3 })
	leader := primaryInOffice(t, gws)
	if err := leader.StepDown(); err != nil {
		t.Fatal(err)
	}
	if leader.raftNode().State() == hraft.Leader {
		t.Fatal("the leader still leads after stepping down")
	}
	next := primaryInOffice(t, gws)
	if next == leader {
		t.Fatal("the gateway that stepped down is in office again")
	}
	// Elected again before it stops (the lead handed back to it), it
	// hands the lead on rather than take office.
	id := leader.config.Self.ID
	if err := next.raftNode().LeadershipTransferToServer(hraft.ServerID(id), hraft.ServerAddress(leader.config.Self.URL)).Error(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the lead handed on again, to a gateway in office", func() bool {
		for _, g := range gws {
			if m := g.Current().Map; g != leader && g.IsPrimary() && m.Primary == g.config.Self.ID {
				return leader.raftNode().State() != hraft.Leader
			}
		}
		return false
	})
	if m := leader.Current().Map; m.Primary == leader.config.Self.ID {
		t.Fatalf("the gateway that stepped down took office when the lead came back to it (map version %d)", m.Version)
	}
}

// A gateway joins as a nonvoter: one that never takes the log (an older
// build, a full disk) stalls no commit. As a voter at once, with the
// leader it made two voters, and every commit waited for it.
func TestJoinerThatNeverTakesTheLogStallsNoCommit(t *testing.T) {
	n := newNet()
	g1 := n.start(t, "g1", "")
	stuck := "http://127.0.0.1:7999"
	n.mu.Lock()
	n.targets[stuck] = true // answers probes, takes no log
	n.mu.Unlock()
	if _, err := g1.Propose(t.Context(), membership.Change{Kind: membership.Join, Node: cluster.Node{ID: "g2", Role: cluster.RoleGateway, URL: stuck}}); err != nil {
		t.Fatal(err)
	}
	if _, err := g1.Propose(t.Context(), membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("b")}); err != nil {
		t.Fatalf("a commit after a joiner that takes no log: %v", err)
	}
	if voters, err := g1.Voters(); err != nil || len(voters) != 1 {
		t.Fatalf("voters %v %v, want g1 alone", voters, err)
	}
	// Nor does the keepalive promote it: it never says it caught up.
	g1.Tick(t.Context(), time.Now())
	if voters, err := g1.Voters(); err != nil || len(voters) != 1 {
		t.Fatalf("voters %v %v after a keepalive, want g1 alone", voters, err)
	}
	// Nor does its own ask, behind, or past the log's end (a peer's
	// word, bounded).
	if _, err := g1.Propose(t.Context(), membership.Change{Kind: membership.PromoteVoter, Node: cluster.Node{ID: "g2", Role: cluster.RoleGateway, URL: stuck}, LogIndex: 1}); !errors.Is(err, ErrNotCaughtUp) {
		t.Fatalf("a promotion asked from behind: %v, want ErrNotCaughtUp", err)
	}
	if _, err := g1.Propose(t.Context(), membership.Change{Kind: membership.PromoteVoter, Node: cluster.Node{ID: "g2", Role: cluster.RoleGateway, URL: stuck}, LogIndex: 1 << 60}); !errors.Is(err, membership.ErrUnknownChange) {
		t.Fatalf("a promotion asked with an index past the log's end: %v, want refused", err)
	}
	if voters, err := g1.Voters(); err != nil || len(voters) != 1 {
		t.Fatalf("voters %v %v after the asks, want g1 alone", voters, err)
	}
}

// A new gateway is a voter once its start returns (it asked, caught up);
// one of a build that does not ask is made one by the leader's keepalive
// once it answers caught up.
func TestCaughtUpJoinersBecomeVoters(t *testing.T) {
	n := newNet()
	g1 := n.start(t, "g1", "")
	n.start(t, "g2", g1.config.Self.URL)
	if voters, err := g1.Voters(); err != nil || len(voters) != 2 {
		t.Fatalf("voters %v %v once g2 started, want g1 and g2", voters, err)
	}
	askPromotion = false
	g3 := n.start(t, "g3", g1.config.Self.URL)
	askPromotion = true
	if voters, err := g1.Voters(); err != nil || len(voters) != 2 {
		t.Fatalf("voters %v %v, want g3 a nonvoter until the keepalive", voters, err)
	}
	eventually(t, "g3 caught up", func() bool { return g3.LogIndex() >= g1.LogIndex() })
	g1.Tick(t.Context(), time.Now())
	if voters, err := g1.Voters(); err != nil || len(voters) != 3 {
		t.Fatalf("voters %v %v after a keepalive, want g3 promoted", voters, err)
	}
}

// Office is of a term: a gateway that was the primary, elected again (a
// restart, here) and not in office yet, refuses changes though the map
// it has applied names it: that map may lack the entries of the terms
// between (another leader's).
func TestLeaderElectedAgainIsNotInOfficeByItsOldMap(t *testing.T) {
	url, dir := "http://127.0.0.1:7992", t.TempDir()
	start := func(within time.Duration) (*Control, error) {
		_, trans := hraft.NewInmemTransport(hraft.ServerAddress(url))
		c, err := New(Config{Self: cluster.Node{ID: "g1", Role: cluster.RoleGateway, URL: url}, Dir: dir,
			Transport: transport{newNet(), url}, RaftTransport: trans, ElectionTimeout: 400 * time.Millisecond, ApplyTimeout: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithTimeout(t.Context(), within)
		defer stop()
		return c, c.Start(ctx, t.Context())
	}
	// (The first start as long as a loaded machine takes: a second was
	// short of it under the race detector.)
	c, err := start(20 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m := c.Current().Map; m == nil || m.Primary != "g1" {
		t.Fatalf("the first term's map: %+v", m)
	}
	c.Close()
	// Set before the gateway runs again, released through an atomic: its
	// leader loop reads the hook.
	var held atomic.Bool
	held.Store(true)
	takingOffice = func() error {
		if held.Load() {
			return errors.New("held out of office")
		}
		return nil
	}
	// Reset after the close below; restarted, the gateway serves what it
	// applied (no office needed to start).
	t.Cleanup(func() { takingOffice = nil })
	c, _ = start(time.Second)
	t.Cleanup(func() { c.Close() })
	eventually(t, "g1 leads the log again", func() bool { return c.leading.Load() })
	if m := c.Current().Map; m == nil || m.Primary != "g1" {
		t.Fatalf("the map applied again: %+v", m)
	}
	_, err = c.Propose(t.Context(), membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("b"), Created: time.Now().UnixNano()})
	if !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("a change on a leader not in office in its term: %v, want no quorum", err)
	}
	if err := c.Refresh(t.Context()); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("a refresh on a leader not in office in its term: %v, want no quorum", err)
	}
	// In office once it takes it.
	held.Store(false)
	eventually(t, "g1 in office", func() bool { return c.Refresh(t.Context()) == nil })
	if _, err := c.Propose(t.Context(), membership.Change{Kind: membership.CreateBucket, Bucket: store.NewBucket("b"), Created: time.Now().UnixNano()}); err != nil {
		t.Fatalf("a change once in office: %v", err)
	}
}

// Only a request no server answered leaves a gateway free to start a new
// cluster: a refused TLS handshake or an answer cut is a server's.
func TestNothingAnswers(t *testing.T) {
	for err, want := range map[error]bool{
		&stdnet.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}:           true,
		&stdnet.DNSError{Err: "no such host", Name: "ais.ns.svc", IsNotFound: true}:  true,
		&stdnet.DNSError{Err: "i/o timeout", Name: "ais.ns.svc", IsTimeout: true}:    false,
		fmt.Errorf("GET: %w", context.DeadlineExceeded):                              true,
		&stdnet.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}: false,
		&stdnet.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}:             false,
		errors.New("answered 401"): false,
	} {
		if got := nothingAnswers(fmt.Errorf("pull: %w", err)); got != want {
			t.Errorf("%v: nothing answers %v, want %v", err, got, want)
		}
	}
}

// A gateway out of the map but still a voter (its removal cut short) that
// joins again with an empty log (its directory moved away, as its refused
// start says to) is a nonvoter until it caught up: a voter at once, its
// empty log could elect a leader without the entries it had acknowledged.
func TestGatewayRejoiningWithAnEmptyLogDoesNotVoteAtOnce(t *testing.T) {
	n, _, leader, stray := aStrayVoter(t)
	id := stray.config.Self.ID
	eventually(t, "the gateway out of the leader's map", func() bool { _, ok := leader.Current().Map.Node(id); return !ok })
	n.kill(stray)
	// Its replay held: it does not catch up (and ask to vote) meanwhile.
	release := make(chan struct{})
	n.mu.Lock()
	n.changed = func(node string, _, _ membership.Snapshot) {
		if node == id {
			<-release
		}
	}
	n.mu.Unlock()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	url := "http://127.0.0.1:7995"
	started := make(chan error, 1)
	go func() {
		_, err := n.startNodeErr(t, id, leader.config.Self.URL, url, "", cluster.RoleGateway)
		started <- err
	}()
	server := func() (hraft.Server, bool) {
		f := leader.raftNode().GetConfiguration()
		if f.Error() != nil {
			return hraft.Server{}, false
		}
		for _, s := range f.Configuration().Servers {
			if string(s.ID) == id {
				return s, true
			}
		}
		return hraft.Server{}, false
	}
	eventually(t, "the gateway in the log's configuration at its new address", func() bool {
		s, ok := server()
		return ok && string(s.Address) == url
	})
	s, _ := server()
	close(release)
	if s.Suffrage == hraft.Voter {
		t.Fatalf("%s joined again with an empty log as a voter", id)
	}
	if err := <-started; err != nil {
		t.Fatal(err)
	}
}
