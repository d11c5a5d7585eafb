package raft

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	stdnet "net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	hraft "github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/store"
)

// ErrNoQuorum marks a change refused because no majority of the gateways
// can agree on it now.
var ErrNoQuorum = errors.New("no quorum")

// errStarting answers what needs the log before Start made it (a request
// to a gateway still starting): to retry, as without a quorum.
var errStarting = fmt.Errorf("%w: this gateway is still starting its log", ErrNoQuorum)

// ErrLastVoter marks the removal of the last gateway of the log.
var ErrLastVoter = errors.New("raft: the last gateway cannot be removed")

// Config configures a Control.
type Config struct {
	// Self is this gateway, as it appears in the map; its URL is its Raft
	// address too.
	Self cluster.Node
	// Join is the URL of a gateway of the cluster to join; empty starts a
	// new cluster, or restarts this gateway's own.
	Join string
	// Rejoin, for a gateway started without Join, is the URL at which its
	// cluster's other gateways answer (a Service): with no log (its
	// volume lost), the gateway joins the cluster found there rather
	// than start a new one beside it. Nothing answers: a new cluster.
	Rejoin string
	// Dir holds the log (raft.db) and snapshots; unused with InMemory.
	Dir string
	// InMemory keeps the log in memory (tests).
	InMemory bool
	// Transport pushes snapshots to targets and forwards changes.
	Transport membership.Transport
	// Stream carries Raft's own connections; RaftTransport, when set,
	// replaces it (an in-memory transport in tests).
	Stream        hraft.StreamLayer
	RaftTransport hraft.Transport
	// Placement, Changed, LocalBuckets and SyncBuckets are as in
	// membership.Config.
	Placement    sync.Locker
	Changed      func(previous, next membership.Snapshot)
	LocalBuckets func(ctx context.Context) (store.BucketMetadata, error)
	SyncBuckets  func(ctx context.Context, md store.BucketMetadata) error
	// Legacy, when set, holds the metadata a gateway saved before it ran
	// Raft: a new log starts from it.
	Legacy membership.MetaStore
	// KeepaliveInterval and KeepaliveTimeout are as in membership.Config.
	KeepaliveInterval time.Duration
	KeepaliveTimeout  time.Duration
	// JoinProbeWait is as in membership.Config.
	JoinProbeWait time.Duration
	// ElectionTimeout is how long a follower waits for the leader before
	// it stands for election; zero means 1s.
	ElectionTimeout time.Duration
	// ApplyTimeout bounds one change; zero means 5s.
	ApplyTimeout time.Duration
	// AdmitLevel is the highest protocol level of a change this gateway,
	// leading, writes to the log; zero means membership.ProtocolLevel (a
	// test plays a newer leader with more).
	AdmitLevel int
	// Now is the keepalive's clock; nil means time.Now.
	Now func() time.Time
	// Incompatible, when set, is told once that the log holds a change
	// of a newer protocol level than this build's (a newer gateway leads):
	// this gateway's state stops following the cluster's.
	Incompatible func(error)
	Logger       *slog.Logger
}

// Control is the Raft control plane of one gateway.
type Control struct {
	config Config
	*membership.Holder
	fsm *fsm
	// raft is the log, set once Start made it: handlers (a join at a
	// gateway still starting) may ask before.
	raft atomic.Pointer[hraft.Raft]
	// joinedAt is the map version the join was answered with: a log
	// replayed from the start (an ID removed once, joining again) has
	// this gateway in older maps too.
	joinedAt  atomic.Int64
	closers   []io.Closer
	keepalive membership.Keepalive
	tickMu    sync.Mutex
	// admitMu takes maintenances, joins and removals one at a time: two
	// at once would each find the other target active
	// (membership.Admissible), or each voter removal find the quorum
	// safe without the other.
	admitMu sync.Mutex
	// addedAt is the log index by which each nonvoter gateway is caught
	// up (see promote).
	addedMu sync.Mutex
	addedAt map[string]uint64
	// promoteChecked is when the leader last checked its nonvoters
	// (promoteCaughtUp); under tickMu.
	promoteChecked time.Time
	// strays are the voters the leader found outside the map, and when
	// (under tickMu): removed once strayVoterGrace has passed;
	// strayChecked is when the last were weighed.
	strays       map[string]time.Time
	strayChecked time.Time
	leading      atomic.Bool
	// officeTerm is the Raft term this gateway took office in (takeOffice
	// applied Lead, after every entry of the terms before): a map naming
	// it primary may be of an earlier term, without the entries between.
	officeTerm atomic.Uint64
	// stopping is set by StepDown: elected since, the gateway hands the
	// lead on rather than take office for its last seconds.
	stopping atomic.Bool
	wg       sync.WaitGroup
	// closed ends the background work when Close is called before loops
	// end.
	closed    chan struct{}
	closeOnce sync.Once
}

// New returns a control plane; Start runs it.
func New(cfg Config) (*Control, error) {
	if cfg.KeepaliveInterval <= 0 {
		cfg.KeepaliveInterval = 2 * time.Second
	}
	if cfg.KeepaliveTimeout <= 0 {
		cfg.KeepaliveTimeout = 10 * time.Second
	}
	if cfg.ElectionTimeout <= 0 {
		cfg.ElectionTimeout = time.Second
	}
	if cfg.ApplyTimeout <= 0 {
		cfg.ApplyTimeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case !cfg.Self.Role.IsGateway():
		return nil, fmt.Errorf("raft: %s is a %s: only gateways run the log", cfg.Self.ID, cfg.Self.Role)
	case cfg.Transport == nil || cfg.Stream == nil && cfg.RaftTransport == nil:
		return nil, errors.New("raft: a transport and a stream layer are required")
	case cfg.Dir == "" && !cfg.InMemory:
		return nil, errors.New("raft: a directory for the log is required")
	}
	c := &Control{config: cfg, closed: make(chan struct{}), addedAt: map[string]uint64{}, keepalive: membership.Keepalive{Timeout: cfg.KeepaliveTimeout, Logger: cfg.Logger,
		Skip: func(n cluster.Node) bool { return n.Role == cluster.RoleGateway }}}
	c.Holder = membership.NewHolder(cfg.Placement, cfg.Changed)
	c.fsm = &fsm{holder: c.Holder, syncBuckets: cfg.SyncBuckets, logger: cfg.Logger, incompatible: cfg.Incompatible}
	return c, nil
}

// Start opens the log and brings the gateway into the cluster: it
// bootstraps a new cluster, restarts its own from the log, or joins the
// gateway at Config.Join. It returns once the gateway holds a map with
// itself in it, or ctx ends. Background work runs until loops ends.
func (c *Control) Start(ctx, loops context.Context) error {
	c.fsm.ctx = loops
	logs, stable, snaps, err := c.openStores()
	if err != nil {
		return err
	}
	trans := c.config.RaftTransport
	if trans == nil {
		trans = hraft.NewNetworkTransportWithConfig(&hraft.NetworkTransportConfig{
			Stream: c.config.Stream, MaxPool: 3, Timeout: 10 * time.Second, Logger: c.hclog("raft-net"),
		})
	}
	conf := hraft.DefaultConfig()
	conf.LocalID = hraft.ServerID(c.config.Self.ID)
	conf.HeartbeatTimeout = c.config.ElectionTimeout
	conf.ElectionTimeout = c.config.ElectionTimeout
	conf.LeaderLeaseTimeout = c.config.ElectionTimeout / 2
	conf.CommitTimeout = 50 * time.Millisecond
	conf.SnapshotThreshold = 1024
	conf.TrailingLogs = 1024
	conf.Logger = c.hclog("raft")
	notify := make(chan bool, 16)
	conf.NotifyCh = notify
	existing, err := hraft.HasExistingState(logs, stable, snaps)
	if err != nil {
		return fmt.Errorf("raft log in %s: %w", c.config.Dir, err)
	}
	if !existing && c.config.Join == "" && c.config.Rejoin != "" {
		if err := c.findRunningCluster(ctx); err != nil {
			return err
		}
	}
	if !existing && c.config.Join != "" {
		// Before the log answers anyone: with an empty log it would vote.
		if err := c.leaveLost(ctx); err != nil {
			return err
		}
	}
	r, err := hraft.NewRaft(conf, c.fsm, logs, stable, snaps, trans)
	if err != nil {
		return fmt.Errorf("raft: %w", err)
	}
	c.raft.Store(r)
	c.wg.Go(func() { c.lead(loops, notify) })
	switch {
	case !existing && c.config.Join == "":
		if err := c.checkNoOtherGateways(); err != nil {
			return err
		}
		cfg := hraft.Configuration{Servers: []hraft.Server{{Suffrage: hraft.Voter, ID: conf.LocalID, Address: trans.LocalAddr()}}}
		if err := r.BootstrapCluster(cfg).Error(); err != nil {
			return fmt.Errorf("raft: bootstrap: %w", err)
		}
	case !existing:
		if err := c.join(ctx); err != nil {
			return err
		}
	case c.config.Join != "":
		if err := c.checkSameCluster(ctx); err != nil {
			return err
		}
	}
	if err := c.waitForMap(ctx, existing); err != nil {
		return err
	}
	if existing {
		return c.catchUp(ctx)
	}
	if c.config.Join != "" && askPromotion {
		c.promoteSelf(ctx)
	}
	return nil
}

// askPromotion: a new gateway asks to be made a voter (false in a test: a
// gateway of an older build, which does not).
var askPromotion = true

// catchUp waits, after a restart, until the gateway applied everything the
// cluster committed: a snapshot restored at start may be older than the
// log, and a stale map must never be served.
func (c *Control) catchUp(ctx context.Context) error {
	// The entries logged before the restart: those after the snapshot
	// (revoked tokens, jobs, ...) are applied only once the leader says
	// they are committed (or, never committed, replaced: the last index
	// then falls).
	logged := c.raftNode().LastIndex()
	var removed removedCheck
	for {
		if err := removed.check(ctx, c); err != nil {
			return err
		}
		if c.IsPrimary() {
			if c.raftNode().Barrier(c.config.ApplyTimeout).Error() == nil {
				return nil
			}
		} else if addr, id := c.raftNode().LeaderWithID(); addr != "" {
			s, err := c.config.Transport.Pull(ctx, cluster.Node{ID: string(id), Role: cluster.RoleGateway, URL: string(addr)})
			// (waitApplied reads the fsm's own index, against the
			// leader's; the last index logged here may be an entry the
			// fsm never sees, a no-op or a configuration: Raft's.)
			if err == nil && c.waitApplied(ctx, s) && c.raftNode().AppliedIndex() >= min(logged, c.raftNode().LastIndex()) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("raft: catching up with the cluster (a majority of the gateways must answer): %w", context.Cause(ctx))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// removedCheck asks, every removedCheckEvery while a restarted gateway
// waits for the cluster, the other gateways it knows whether it is still
// a member: one removed while it was down hears from no leader, and
// would wait for ever.
type removedCheck struct{ last time.Time }

const removedCheckEvery = 2 * time.Second

func (r *removedCheck) check(ctx context.Context, c *Control) error {
	if r.last.IsZero() {
		r.last = time.Now()
	}
	if time.Since(r.last) < removedCheckEvery {
		return nil
	}
	r.last = time.Now()
	// The gateways of the map it had (none before its log is applied),
	// and the one it joins through.
	local := c.Current().Map
	var asked []cluster.Node
	if local != nil {
		for _, gw := range local.Gateways() {
			if gw.ID != c.config.Self.ID {
				asked = append(asked, gw)
			}
		}
	}
	if c.config.Join != "" {
		asked = append(asked, cluster.Node{Role: cluster.RoleGateway, URL: c.config.Join})
	}
	uuid := c.savedUUID()
	if local != nil {
		uuid = local.UUID
	}
	// All at once, bounded together: gateways that do not answer hold the
	// wait for the leader up to one timeout, not one each.
	pulled := make([]membership.Snapshot, len(asked))
	pullCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	var wg sync.WaitGroup
	for i, gw := range asked {
		wg.Go(func() {
			if s, err := c.config.Transport.Pull(pullCtx, gw); err == nil {
				pulled[i] = s
			}
		})
	}
	wg.Wait()
	cancel()
	r.last = time.Now()
	for i, gw := range asked {
		s := pulled[i]
		// The same version is the same map: one without this gateway,
		// which it restarted with (removed while it ran), has it out.
		if s.Map == nil || uuid != "" && s.Map.UUID != uuid || local != nil && s.Map.Version < local.Version {
			continue // not an answer, another cluster's, or older
		}
		// Only the primary's word: a follower behind may not have this
		// gateway's join yet.
		if primary, ok := s.Map.PrimaryNode(); !ok || !strings.EqualFold(strings.TrimRight(primary.URL, "/"), strings.TrimRight(gw.URL, "/")) {
			continue
		}
		if _, ok := s.Map.Node(c.config.Self.ID); !ok {
			return fmt.Errorf("%w: this gateway (%s) was removed from the cluster (map version %d of gateway %s does not have it): "+
				"move its raft directory (%s) away and start it with -join to join again", membership.ErrRemoved, c.config.Self.ID, s.Map.Version, gw.ID, c.config.Dir)
		}
	}
	c.config.Logger.Warn("raft: waiting for the cluster's leader to catch up", "gateway", c.config.Self.ID)
	return nil
}

// openStores opens the log, the stable store and the snapshots; a corrupt
// log is an error, never an empty start.
func (c *Control) openStores() (hraft.LogStore, hraft.StableStore, hraft.SnapshotStore, error) {
	if c.config.InMemory {
		mem := hraft.NewInmemStore()
		return mem, mem, hraft.NewInmemSnapshotStore(), nil
	}
	// The log and snapshots hold the cluster's metadata, S3 keys among
	// it: the node's alone (a directory of an older version is narrowed).
	if err := pathsafe.MkdirAll(c.config.Dir, c.config.Dir, 0o700); err != nil {
		return nil, nil, nil, fmt.Errorf("raft directory: %w", err)
	}
	if err := os.Chmod(c.config.Dir, 0o700); err != nil {
		return nil, nil, nil, fmt.Errorf("raft directory: %w", err)
	}
	path := filepath.Join(c.config.Dir, "raft.db")
	bolt, err := openBolt(path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("raft log %s cannot be read (refusing to start rather than serve stale metadata; move it away to rejoin the cluster as a new gateway): %w", path, err)
	}
	c.closers = append(c.closers, bolt)
	snaps, err := hraft.NewFileSnapshotStoreWithLogger(c.config.Dir, 2, c.hclog("raft-snapshots"))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("raft snapshots in %s: %w", c.config.Dir, err)
	}
	return bolt, bolt, snaps, nil
}

// openBolt opens the bolt log, checking that the file is one; bolt would
// panic on some damage, which is made an error here.
func openBolt(path string) (store *raftboltdb.BoltStore, err error) {
	defer func() {
		if p := recover(); p != nil {
			store, err = nil, fmt.Errorf("the file is damaged: %v", p)
		}
	}()
	if fi, statErr := os.Stat(path); statErr == nil && fi.Size() > 0 && fi.Size() < 4096 {
		return nil, fmt.Errorf("the file is %d bytes, shorter than a bolt page", fi.Size())
	}
	store, err = raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: nil})
	if err != nil {
		return nil, err
	}
	if _, err := store.LastIndex(); err != nil {
		store.Close()
		return nil, err
	}
	return store, nil
}

// join asks the gateway at Config.Join to add this gateway, retrying while
// it cannot be reached.
func (c *Control) join(ctx context.Context) error {
	// A new gateway is no member yet: asked to join through itself, it
	// waited for ever for its own answer. (A restart of one with state
	// joins through no one: its -join may name itself.)
	if cluster.SameURL(c.config.Join, c.config.Self.URL) {
		return fmt.Errorf("join %s: this gateway's own URL: give the URL of another gateway of the cluster, or no -join to start a new cluster", c.config.Join)
	}
	delay := 100 * time.Millisecond
	self := c.config.Self
	var probing membership.ProbeWait
	for {
		joined, err := c.config.Transport.Join(ctx, c.config.Join, self, c.savedUUID())
		if err == nil {
			if joined.Map != nil {
				c.joinedAt.Store(joined.Map.Version)
			}
			return nil
		}
		if !errors.Is(err, membership.ErrUnreachable) && !errors.Is(err, ErrNoQuorum) ||
			probing.FailedFor(err) >= cmp.Or(c.config.JoinProbeWait, membership.JoinProbeWait) {
			return fmt.Errorf("join %s: %w", c.config.Join, err)
		}
		c.config.Logger.Info("waiting for the cluster", "join", c.config.Join, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("join %s: %w", c.config.Join, context.Cause(ctx))
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// leaveLost takes this gateway out of the log's voters before it joins,
// when the cluster still counts it one though its own log is empty (its
// disk was lost, its log moved away): as the same voter, with no entries
// and no memory of its votes, it could elect a gateway that lacks entries
// the cluster committed (they were on its lost log and the leader's). Out
// first, it joins as a new voter (its place in the map stays: a node that
// is a target too keeps its objects). The leader does it with three
// voters or more (see membership.DropVoter).
func (c *Control) leaveLost(ctx context.Context) error {
	probe, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := c.config.Transport.Pull(probe, cluster.Node{Role: cluster.RoleGateway, URL: c.config.Join})
	if err != nil || s.Map == nil {
		return nil // the join waits for the cluster, or says why not
	}
	// Its own place only: at another URL, the id is another live node's
	// (a process started with an id taken), which the join refuses.
	self, ok := s.Map.Node(c.config.Self.ID)
	if !ok || !self.Role.IsGateway() || self.URL != c.config.Self.URL || len(s.Map.Gateways()) < 3 {
		return nil
	}
	// A node that is a target too is not to be removed (its objects
	// would move away, or be given up): it is started again.
	remedy := fmt.Sprintf("retry, or remove it (ais cluster rm-gateway %s) and start it again", self.ID)
	if self.Role.IsTarget() {
		remedy = "start it again once the other gateways answer (it keeps its place and objects)"
	}
	leader, ok := s.Map.Node(s.Map.Primary)
	if !ok || leader.ID == self.ID {
		return fmt.Errorf("join %s: gateway %s has no log, and the cluster still names it its primary: %s", c.config.Join, self.ID, remedy)
	}
	c.config.Logger.Warn("this gateway has no log, and the cluster may still count it a voter (its log was lost): it leaves the voters, then joins anew", "gateway", self.ID, "leader", leader.ID)
	_, err = c.config.Transport.Forward(ctx, leader, membership.Change{Kind: membership.DropVoter, Node: self})
	if err != nil && strings.Contains(err.Error(), membership.ErrUnknownChange.Error()) {
		// A leader of an older build: it joins as before.
		c.config.Logger.Warn("the leading gateway is of an older build: this gateway joins as the voter it was", "gateway", self.ID, "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("join %s: gateway %s has no log, and the cluster still counts it a voter: taking it out before it joins anew failed (%w); %s", c.config.Join, self.ID, err, remedy)
	}
	return nil
}

// checkSameCluster refuses to restart a gateway with a log of one cluster
// told to join another; a join gateway that does not answer is no proof
// either way (it may be restarting too).
func (c *Control) checkSameCluster(ctx context.Context) error {
	mine := c.savedUUID()
	if mine == "" {
		return nil
	}
	probe, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	theirs, err := c.config.Transport.Pull(probe, cluster.Node{Role: cluster.RoleGateway, URL: c.config.Join})
	if err != nil || theirs.Map == nil || theirs.Map.UUID == "" || theirs.Map.UUID == mine {
		return nil
	}
	return fmt.Errorf("join %s: %w: this gateway's log is of cluster %s, the gateway at %s is of cluster %s (move %s away to join as a new gateway)",
		c.config.Join, membership.ErrForeign, mine, c.config.Join, theirs.Map.UUID, c.config.Dir)
}

// findRunningCluster asks Rejoin, for a gateway with no log about to
// start a new cluster, whether a cluster runs there: one that does (this
// gateway's log was lost with its volume) is joined instead, as a
// gateway whose log was lost (see leaveLost). An answer without a map
// (its gateways starting, all new) or none: a new cluster.
func (c *Control) findRunningCluster(ctx context.Context) error {
	if cluster.SameURL(c.config.Rejoin, c.config.Self.URL) {
		return fmt.Errorf("rejoin %s: this gateway's own URL: give the URL at which the other gateways answer (a Service)", c.config.Rejoin)
	}
	// Asked a few times: a running cluster answers one of them (a pod
	// going away behind the Service fails one, not all); nothing
	// answering any is a new cluster.
	// The map alone when the transport reads it so (the peer client):
	// a map read is a cluster running, whatever else would fail after.
	pull := func(ctx context.Context) (*cluster.Map, error) {
		node := cluster.Node{Role: cluster.RoleGateway, URL: c.config.Rejoin}
		if puller, ok := c.config.Transport.(interface {
			PullMap(context.Context, cluster.Node) (*cluster.Map, error)
		}); ok {
			return puller.PullMap(ctx, node)
		}
		s, err := c.config.Transport.Pull(ctx, node)
		return s.Map, err
	}
	var theirs *cluster.Map
	var err error
	for attempt := range rejoinProbes {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-time.After(time.Second):
			}
		}
		probe, cancel := context.WithTimeout(ctx, 5*time.Second)
		theirs, err = pull(probe)
		cancel()
		if err != nil && !nothingAnswers(err) {
			// Something answered, and not with its map: a gateway of the
			// cluster refusing this one (another secret, its majority
			// lost), or one not ready. A new cluster beside it is not
			// started on that.
			return fmt.Errorf("rejoin %s: an answer there, but not a cluster's map (%w): this gateway, without a log, neither joins it nor starts a new cluster beside it; "+
				"give it the cluster's secret (-secret-file), or start it again once the gateways there answer; -rejoin must reach ready gateways only", c.config.Rejoin, err)
		}
		if err == nil && theirs != nil && theirs.UUID != "" {
			break
		}
	}
	if err != nil || theirs == nil || theirs.UUID == "" {
		c.config.Logger.Info("no cluster answers at the rejoin URL: this gateway starts a new one", "rejoin", c.config.Rejoin, "err", err)
		return nil
	}
	c.config.Logger.Warn("this gateway has no log, and a cluster answers at the rejoin URL: it joins that cluster rather than start another", "rejoin", c.config.Rejoin, "cluster", theirs.UUID)
	c.config.Join = c.config.Rejoin
	return nil
}

// rejoinProbes is how many times the rejoin URL is asked before nothing
// answering there is taken for no cluster.
const rejoinProbes = 3

// nothingAnswers tells an error of a request that no server answered
// (unresolved, its connection refused or never made in time: a Service
// without a ready gateway) from one a server answered (a refusal, a TLS
// handshake it refused, an answer cut).
func nothingAnswers(err error) bool {
	var op *stdnet.OpError
	var dns *stdnet.DNSError
	// (A name not found: its Service gone; one not resolved now, a DNS
	// outage, is no answer that nothing runs there.)
	return errors.As(err, &dns) && dns.IsNotFound || errors.As(err, &op) && op.Op == "dial" || errors.Is(err, context.DeadlineExceeded)
}

// checkNoOtherGateways refuses to start a cluster of its own when the
// map this gateway saved names other gateways: its log is gone (moved
// away after it was damaged), and it would lead beside them, pushing its
// map to their targets.
func (c *Control) checkNoOtherGateways() error {
	if c.config.Legacy == nil {
		return nil
	}
	m, err := c.config.Legacy.LoadMap()
	if err != nil {
		// Unreadable, it may name other gateways: a cluster of its own
		// beside theirs is not started on a guess.
		return fmt.Errorf("%w: the Raft log in %s is empty, and the map this gateway saved cannot be read (%w): start it with -join and the URL of a gateway of its cluster, or move the saved map away to start a new cluster",
			ErrOtherGateways, c.config.Dir, err)
	}
	if m == nil {
		return nil
	}
	var others []string
	for _, g := range m.Gateways() {
		if g.ID != c.config.Self.ID {
			others = append(others, g.ID+" at "+g.URL)
		}
	}
	if len(others) == 0 {
		// Alone, it seeds the log from what it saved: all of it, or a
		// cluster without its buckets and revocations would start.
		if _, _, err := c.config.Legacy.LoadBuckets(); err != nil {
			return fmt.Errorf("%w: the Raft log in %s is empty, and the bucket metadata this gateway saved cannot be read (%w): fix it, or move it away to start without its buckets", ErrSavedUnreadable, c.config.Dir, err)
		}
		if _, err := c.config.Legacy.LoadControl(); err != nil {
			return fmt.Errorf("%w: the Raft log in %s is empty, and the control state this gateway saved (revoked tokens, S3 keys, config) cannot be read (%w): fix it, or move it away to start without it", ErrSavedUnreadable, c.config.Dir, err)
		}
		return nil
	}
	return fmt.Errorf("%w: the Raft log in %s is empty, but the map this gateway saved names other gateways of cluster %s (%s): start it with -join and the URL of one of them, or it would lead a cluster of its own beside theirs",
		ErrOtherGateways, c.config.Dir, m.UUID, strings.Join(others, ", "))
}

// ErrOtherGateways refuses a gateway without a log that would start a
// cluster beside the one it was in.
var ErrOtherGateways = errors.New("raft: other gateways lead this cluster")

// ErrSavedUnreadable refuses a gateway without a log whose saved
// metadata, to seed it from, cannot be read.
var ErrSavedUnreadable = errors.New("raft: the saved metadata cannot be read")

// savedUUID returns the cluster this gateway was in before, if it saved
// one: a gateway of another cluster is refused.
func (c *Control) savedUUID() string {
	if c.config.Legacy == nil {
		return ""
	}
	if m, err := c.config.Legacy.LoadMap(); err == nil && m != nil {
		return m.UUID
	}
	return ""
}

// waitForMap waits until the log gave this gateway a map with itself.
func (c *Control) waitForMap(ctx context.Context, restarted bool) error {
	var removed removedCheck
	for {
		if restarted {
			if err := removed.check(ctx, c); err != nil {
				return err
			}
		}
		if m := c.Current().Map; m != nil && m.Primary != "" && m.Version >= c.joinedAt.Load() {
			if _, ok := m.Node(c.config.Self.ID); ok {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("raft: waiting for the cluster map: %w", context.Cause(ctx))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// lead takes office when this gateway becomes the leader: it records
// itself as the primary (and starts the map of a new cluster), and the
// keepalive starts afresh.
func (c *Control) lead(ctx context.Context, notify <-chan bool) {
	// retry, when set, tries takeOffice again: one that failed while this
	// gateway still leads would leave the map naming the old primary
	// (targets refuse its pushes, nobody judges keepalives).
	var retry <-chan time.Time
	delay := 200 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.closed:
			return
		case leading := <-notify:
			c.leading.Store(leading)
			if !leading {
				c.officeTerm.Store(0)
			}
			retry, delay = nil, 200*time.Millisecond
			if !leading {
				continue
			}
		case <-retry:
			retry = nil
			if !c.leading.Load() {
				continue
			}
		}
		// Stopping, it hands the lead on (tried again while it leads: a
		// transfer just after the election may find no voter ready).
		if c.stopping.Load() {
			if err := c.raftNode().LeadershipTransfer().Error(); err != nil {
				c.config.Logger.Warn("raft: stopping: hand the lead over: trying again", "in", delay, "err", err)
				retry = time.After(delay)
				delay = min(2*delay, 5*time.Second)
			}
			continue
		}
		if err := c.takeOffice(ctx); err != nil {
			c.config.Logger.Warn("raft: take office as primary: trying again", "in", delay, "err", err)
			retry = time.After(delay)
			delay = min(2*delay, 5*time.Second)
		}
	}
}

// takingOffice, when set (tests), may fail a leader's takeOffice.
var takingOffice func() error

func (c *Control) takeOffice(ctx context.Context) error {
	term := c.raftNode().CurrentTerm()
	if takingOffice != nil {
		if err := takingOffice(); err != nil {
			return err
		}
	}
	// Everything the previous leader committed is applied first.
	if err := c.raftNode().Barrier(c.config.ApplyTimeout).Error(); err != nil {
		return err
	}
	if err := c.fsm.haltedBy(); err != nil {
		// It cannot apply the log: as the primary, every change would
		// fail here and its map stay behind the others'.
		if terr := c.raftNode().LeadershipTransfer().Error(); terr != nil {
			return fmt.Errorf("this gateway cannot follow the log (%w) and could not hand the lead over: %w", err, terr)
		}
		return fmt.Errorf("this gateway cannot follow the log, and handed the lead over: %w", err)
	}
	c.tickMu.Lock()
	c.keepalive = membership.Keepalive{Timeout: c.config.KeepaliveTimeout, Logger: c.config.Logger, Skip: c.keepalive.Skip}
	c.strays, c.strayChecked = nil, time.Time{} // seen from this term on
	// Marks of another term's leadership are not this log's now (a
	// nonvoter removed and added again since, at another index).
	c.addedMu.Lock()
	clear(c.addedAt)
	c.addedMu.Unlock()
	c.promoteChecked = time.Time{}
	c.tickMu.Unlock()
	cur := c.Current()
	if (cur.Map == nil || len(cur.Map.Nodes) == 0) && c.config.Legacy != nil {
		if seed, ok := c.legacy(ctx); ok {
			if _, err := c.apply(membership.Change{Kind: membership.Seed, Seed: &seed}); err != nil && !errors.Is(err, membership.ErrSeeded) {
				return err
			}
		}
	}
	if m := c.Current().Map; m != nil && len(m.Nodes) > 0 {
		if _, ok := m.Node(c.config.Self.ID); !ok {
			// Out of the map but still a voter: its removal, or its
			// join, was cut short. Leading would put it back as the
			// primary of a cluster it has left.
			if err := c.raftNode().LeadershipTransfer().Error(); err != nil {
				return fmt.Errorf("this gateway is not in the cluster map and could not hand the lead over: %w", err)
			}
			return fmt.Errorf("this gateway is not in the cluster map (its removal or join was cut short): it handed the lead over")
		}
	}
	uuid := ""
	if m := c.Current().Map; m == nil || m.UUID == "" {
		uuid = randomID()
	}
	s, err := c.apply(membership.Change{Kind: membership.Lead, Node: c.config.Self, UUID: uuid, Created: time.Now().UnixNano()})
	if err != nil {
		return err
	}
	c.officeTerm.Store(term)
	c.config.Logger.Info("this gateway leads the cluster", "map_version", s.Map.Version)
	c.push(ctx, s)
	return nil
}

// legacy reads the metadata saved before the log existed.
func (c *Control) legacy(ctx context.Context) (membership.Snapshot, bool) {
	m, err := c.config.Legacy.LoadMap()
	if err != nil || m == nil {
		return membership.Snapshot{}, false
	}
	md, ok, err := c.config.Legacy.LoadBuckets()
	if err != nil {
		return membership.Snapshot{}, false
	}
	if c.config.LocalBuckets != nil {
		if local, err := c.config.LocalBuckets(ctx); err == nil && (!ok || local.Version > md.Version) {
			md = local
		}
	}
	if md.Buckets == nil {
		md = store.NewBucketMetadata()
	}
	// An unreadable rest would forget revoked tokens: no seed, as with
	// unreadable buckets.
	rest, err := c.config.Legacy.LoadControl()
	if err != nil {
		c.config.Logger.Warn("raft: the saved control state cannot be read: no seed from the saved metadata", "err", err)
		return membership.Snapshot{}, false
	}
	return membership.Snapshot{Map: m, Buckets: &md, Config: rest.Config, Tokens: rest.Tokens, S3Keys: rest.S3Keys}, true
}

func randomID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// inOffice reports whether this gateway took office as primary in the
// term it leads now.
func (c *Control) inOffice() bool {
	r := c.raftNode()
	term := c.officeTerm.Load()
	return r != nil && term != 0 && term == r.CurrentTerm() && r.State() == hraft.Leader
}

// raftNode is the log (nil until Start made it).
func (c *Control) raftNode() *hraft.Raft { return c.raft.Load() }

// IsPrimary reports whether this gateway leads the cluster.
func (c *Control) IsPrimary() bool {
	r := c.raftNode()
	return r != nil && r.State() == hraft.Leader
}

// Propose applies a change through the log: on the leader directly, on
// another gateway by forwarding it to the leader. A gateway that joins or
// leaves also joins or leaves the log's voters. While the gateways elect a
// leader, it waits for one (up to three election timeouts) before it
// answers ErrNoQuorum.
func (c *Control) Propose(ctx context.Context, ch membership.Change) (membership.Snapshot, error) {
	if c.raftNode() == nil {
		return membership.Snapshot{}, errStarting
	}
	deadline := time.Now().Add(3 * c.config.ElectionTimeout)
	// A forward whose answer was lost may have been applied: its retry
	// then finds the change made.
	maybeApplied := false
	for {
		if c.IsPrimary() {
			s, again, err := c.proposeAsLeader(ctx, ch, deadline)
			if maybeApplied && madeAlready(c.Current(), ch, err) {
				return c.Current(), nil
			}
			if errors.Is(err, hraft.ErrLeadershipLost) && !time.Now().After(deadline) {
				// In the log, unconfirmed: it may commit under the next
				// leader, which the retry asks (and finds it made), as
				// a forward whose answer was lost.
				maybeApplied, again = true, true
			}
			if !again {
				return s, err
			}
		} else if addr, id := c.raftNode().LeaderWithID(); addr != "" {
			leader := cluster.Node{ID: string(id), Role: cluster.RoleGateway, URL: string(addr)}
			s, err := c.config.Transport.Forward(ctx, leader, ch)
			if err == nil && !c.waitApplied(ctx, s) && ctx.Err() == nil {
				// Made: callers act on it (a job registered, a bucket
				// made), though this gateway answers from a state
				// without it until it catches up (its fsm slow).
				c.config.Logger.Warn("a change made at the leader is not applied here yet", "kind", ch.Kind, "leader", id, "waited", c.config.ApplyTimeout)
			}
			if maybeApplied && err != nil && !errors.Is(err, membership.ErrUnreachable) {
				c.Refresh(ctx) // the leader's state tells whether it is made
				if madeAlready(c.Current(), ch, err) {
					return c.Current(), nil
				}
			}
			if !errors.Is(err, membership.ErrUnreachable) {
				return s, err
			}
			maybeApplied = true
		}
		if time.Now().After(deadline) {
			return membership.Snapshot{}, c.noQuorum(ctx)
		}
		select {
		case <-ctx.Done():
			return membership.Snapshot{}, context.Cause(ctx)
		case <-c.closed:
			return membership.Snapshot{}, c.noQuorum(ctx)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// madeAlready reports a change refused because it was made, by this very
// proposal (a forward applied whose answer was lost): a bucket that
// exists with the change's creation time, or is gone for a destroy of it,
// a node leaving already or gone once it left, a job forgotten.
func madeAlready(s membership.Snapshot, ch membership.Change, err error) bool {
	switch {
	case err == nil:
		return false
	case ch.Kind == membership.CreateBucket && errors.Is(err, store.ErrBucketExists) && ch.Created != 0 && s.Buckets != nil:
		props, ok := s.Buckets.Props(ch.Bucket.Normalize())
		return ok && int64(props.Created) == ch.Created
	case ch.Kind == membership.DestroyBucket && ch.Created != 0 && s.Buckets != nil:
		// By the state too: the bucket as created then is gone.
		props, ok := s.Buckets.Props(ch.Bucket.Normalize())
		return !ok || int64(props.Created) != ch.Created
	case ch.Kind == membership.DestroyBucket && ch.Created == 0 && s.Buckets != nil:
		_, ok := s.Buckets.Props(ch.Bucket.Normalize())
		return !ok
	case ch.Kind == membership.Leave && s.Map != nil:
		// By the state, not the error (which crosses the wire as a bad
		// request): the node leaving, or gone, is the leave made.
		node, ok := s.Map.Node(ch.Node.ID)
		return !ok || node.State == cluster.StateLeaving
	case ch.Kind == membership.Left && s.Map != nil:
		_, ok := s.Map.Node(ch.Node.ID)
		return !ok
	case ch.Kind == membership.JobRemoved:
		// By the state: a forward's refusal crosses the wire as the
		// API's kind, not as ErrJobUnknown.
		_, ok := s.Jobs[ch.Job.ID]
		return !ok
	}
	return false
}

// waitApplied waits, briefly, until this gateway applied the log up to a
// snapshot the leader answered: a client that changes something through a
// follower then reads its change there.
// LogIndex is the index of the last entry of the log this gateway's
// state has (0 before its log is made).
func (c *Control) LogIndex() uint64 {
	r := c.raft.Load()
	if r == nil {
		return 0
	}
	// Raft counts an entry applied once handed to the fsm: the fsm's own
	// index, when it has one, says the state has it.
	index := r.AppliedIndex()
	if own := c.fsm.applied.Load(); own != 0 {
		index = min(index, own)
	}
	return index
}

func (c *Control) waitApplied(ctx context.Context, s membership.Snapshot) bool {
	deadline := time.Now().Add(c.config.ApplyTimeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		// The log index too: S3 keys and jobs, which the answer does not
		// carry to compare, are in the state once it is that far.
		if applied(c.Current(), s) && c.LogIndex() >= s.Index {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// applied reports whether cur has every change s has: each versioned
// part as new, each running job of s, each ended one ended (a restarted
// gateway must not serve revoked tokens, or jobs, of before its
// snapshot).
func applied(cur, s membership.Snapshot) bool {
	if s.Map != nil && (cur.Map == nil || cur.Map.Version < s.Map.Version) ||
		s.Buckets != nil && (cur.Buckets == nil || cur.Buckets.Version < s.Buckets.Version) ||
		s.Config != nil && cur.ClusterConfig().Version < s.Config.Version ||
		s.Tokens != nil && (cur.Tokens == nil || cur.Tokens.Version < s.Tokens.Version) ||
		s.S3Keys != nil && (cur.S3Keys == nil || cur.S3Keys.Version < s.S3Keys.Version) {
		return false
	}
	for id, j := range s.Jobs {
		mine, ok := cur.Jobs[id]
		if j.State == membership.JobRunning && !ok || j.State != membership.JobRunning && ok && mine.State == membership.JobRunning {
			return false
		}
	}
	return true
}

// proposeAsLeader applies a change on the leader. again asks the caller to
// propose it anew: the leader is not in office yet, or handed the lead to
// another gateway so that it can be removed.
func (c *Control) proposeAsLeader(ctx context.Context, ch membership.Change, deadline time.Time) (s membership.Snapshot, again bool, err error) {
	if !c.inOffice() && ch.Kind != membership.Lead {
		// takeOffice has not applied Lead yet: the state here may lack
		// the last leader's entries, against which the change would be
		// checked.
		if time.Now().Before(deadline) {
			return s, true, nil
		}
		return s, false, fmt.Errorf("%w: this gateway leads the log but has not taken office as primary yet", ErrNoQuorum)
	}
	// A gateway's join and its removal too: a removal between the join's
	// voter added and its map applied left a gateway in the map that no
	// longer follows the log.
	// The joiner is probed before the admissions' lock: one that does
	// not answer (a wrong address) held every other membership change
	// for its probe's timeout. A join that does not apply yet (its
	// address still another's, whose removal holds the lock) is checked,
	// and probed, under the lock.
	probed := false
	if ch.Kind == membership.Join {
		// (One refused by this build's rules is refused as such below,
		// not after a probe.)
		if _, err := membership.Apply(c.Current(), ch); err == nil && membership.Admissible(c.Current(), ch) == nil {
			if err := c.probe(ctx, ch.Node); err != nil {
				return s, false, err
			}
			probed = true
		}
	}
	unlock := func() {}
	if ch.Kind == membership.Maintenance || ch.Kind == membership.Leave || ch.Kind == membership.Left || ch.Kind == membership.Join || ch.Kind == membership.Remove || ch.Kind == membership.PromoteVoter {
		c.admitMu.Lock()
		// Let go before the push, which waits on the slowest node.
		unlock = sync.OnceFunc(c.admitMu.Unlock)
		defer unlock()
	}
	// One of a newer level than this leader's (forwarded by an upgraded
	// follower) would halt every gateway of this build in the log, for
	// good: refused, to retry once an upgraded gateway leads.
	if ch.Level > cmp.Or(c.config.AdmitLevel, membership.ProtocolLevel) {
		return s, false, fmt.Errorf("%w (%s of level %d)", membership.ErrLeaderBehind, ch.Kind, ch.Level)
	}
	if err := membership.Admissible(c.Current(), ch); err != nil {
		return s, false, err
	}
	if ch.Kind == membership.RevokeToken {
		// The revocations expired by the change's time are dropped on
		// every node: by the leader's clock, not that of the gateway
		// that proposed it (one hours fast would drop live ones).
		ch.Created = time.Now().Unix()
		if ch.Token.Expires+membership.RevocationMargin < ch.Created && ch.Token.KeysUntil+membership.RevocationMargin < ch.Created {
			// Expired by it: nothing to refuse, and no entry (a
			// service pushes the revocations it keeps again and again).
			return c.Current(), false, nil
		}
	}
	switch ch.Kind {
	case membership.DropVoter:
		// With three voters or more, the others commit without it: out,
		// it joins as a new voter. With fewer they cannot, nor need to:
		// the one other holds every committed entry.
		f := c.raftNode().GetConfiguration()
		if err := f.Error(); err != nil {
			return s, false, c.applyError(ctx, err)
		}
		servers := f.Configuration().Servers
		if len(servers) < 3 || !c.isVoter(ch.Node.ID) {
			return c.Current(), false, nil
		}
		if ch.Node.ID == c.config.Self.ID {
			return s, false, fmt.Errorf("%w: the leader cannot drop itself from the voters", membership.ErrPrimaryLeaves)
		}
		c.config.Logger.Warn("a gateway whose log was lost leaves the voters before it joins again", "gateway", ch.Node.ID)
		return c.Current(), false, c.removeVoter(ctx, ch.Node.ID)
	case membership.PromoteVoter:
		return c.Current(), false, c.promote(ctx, ch.Node.ID, ch.LogIndex)
	case membership.SetConfig:
		if ch, err = membership.ResolveConfig(c.Current(), ch); err != nil {
			return s, false, err
		}
	case membership.Join:
		if _, err := membership.Apply(c.Current(), ch); err != nil {
			return s, false, err
		}
		if !probed {
			if err := c.probe(ctx, ch.Node); err != nil {
				return s, false, err
			}
		}
		if ch.Node.Role.IsGateway() {
			// A nonvoter first: the log goes to it, but no commit waits
			// for it. A voter at once, one that cannot take the log (an
			// older build, a full disk) or takes it slowly would stall
			// every commit while the others are a bare majority. It asks
			// to be promoted once it caught up (PromoteVoter), else the
			// leader's keepalive sees it did (promoteCaughtUp). A joiner
			// has an empty log (a restart with its own does not join):
			// one the log still counts a voter (its removal cut short,
			// its directory moved away) is removed first, else its
			// empty log would vote (AddNonvoter keeps a voter one).
			if c.isVoterBySuffrage(ch.Node.ID) {
				if err := c.checkQuorumWithout(ctx, ch.Node.ID); err != nil {
					return s, false, err
				}
				if err := c.removeVoter(ctx, ch.Node.ID); err != nil {
					return s, false, err
				}
			}
			f := c.raftNode().AddNonvoter(hraft.ServerID(ch.Node.ID), hraft.ServerAddress(ch.Node.URL), 0, c.config.ApplyTimeout)
			if err := c.await(f); err != nil {
				return s, false, c.applyError(ctx, err)
			}
		}
	case membership.Leave, membership.Remove, membership.Left:
		node, ok := c.Current().Map.Node(ch.Node.ID)
		if !ok && c.isVoter(ch.Node.ID) {
			// A gateway that left the map but not the voters (the
			// removal was cut short) is removed again, if the others
			// keep a quorum: out of the map, it still votes, and may be
			// what keeps it now (another gateway went down since).
			if err := c.checkQuorumWithout(ctx, ch.Node.ID); err != nil {
				return s, false, err
			}
			return c.Current(), false, c.removeVoter(ctx, ch.Node.ID)
		}
		// A node that is also a target, asked to leave while it
		// answers, stays (leaving) until its objects moved, following
		// the log: it leaves the map and the voters with Left.
		moving := ch.Kind == membership.Leave && node.Role.IsTarget() && node.State != cluster.StateOffline
		if ok && node.Role.IsGateway() && !moving {
			if err := c.checkNotLastVoter(node.ID); err != nil {
				return s, false, err
			}
			if node.ID == c.config.Self.ID {
				// The primary cannot leave; another gateway takes the
				// lead and removes this one.
				if err := c.raftNode().LeadershipTransfer().Error(); err != nil {
					return s, false, c.applyError(ctx, err)
				}
				return s, true, nil
			}
			if err := c.checkQuorumWithout(ctx, node.ID); err != nil {
				return s, false, err
			}
			// The map first, so that the leaving gateway learns it is
			// out while it still follows the log.
			if s, err = c.apply(ch); err != nil {
				return s, false, c.applyError(ctx, err)
			}
			if err := c.removeVoter(ctx, node.ID); err != nil {
				return s, false, err
			}
			unlock()
			c.push(ctx, s)
			return s, false, nil
		}
	}
	s, err = c.apply(ch)
	if err != nil {
		return s, false, c.applyError(ctx, err)
	}
	if ch.Kind == membership.Join && ch.Node.Role.IsGateway() {
		// A joiner that has its map with itself has the log this far:
		// its ask to be a voter is then granted at once.
		c.setAddedAt(ch.Node.ID, s.Index)
	}
	unlock()
	c.push(ctx, s)
	return s, false, nil
}

// probe checks that a joiner answers at its address.
func (c *Control) probe(ctx context.Context, node cluster.Node) error {
	if err := c.config.Transport.Probe(ctx, node); err != nil {
		return fmt.Errorf("%w: node %s at %s: %w", membership.ErrProbe, node.ID, node.URL, err)
	}
	return nil
}

// ErrNotCaughtUp refuses to promote a gateway whose log lacks entries
// up to the configuration that added it.
var ErrNotCaughtUp = errors.New("raft: the gateway has not caught up with the log yet")

// promote makes a gateway that joined as a nonvoter a voter, once its log
// has every entry up to the configuration that added it (index). The
// caller holds admitMu.
func (c *Control) promote(ctx context.Context, id string, index uint64) error {
	f := c.raftNode().GetConfiguration()
	if err := f.Error(); err != nil {
		return c.applyError(ctx, err)
	}
	i := slices.IndexFunc(f.Configuration().Servers, func(s hraft.Server) bool { return string(s.ID) == id })
	if i < 0 {
		return fmt.Errorf("%w: gateway %s is not in the log's configuration: it joins first", membership.ErrUnknownChange, id)
	}
	server := f.Configuration().Servers[i]
	if server.Suffrage == hraft.Voter {
		c.setAddedAt(id, 0)
		return nil
	}
	// The index of its join's entry, when this leader made it, else the
	// state's index here as it first asks (a fixed mark: one that moved
	// with every commit might never be reached).
	c.addedMu.Lock()
	added, ok := c.addedAt[id]
	if !ok {
		added = c.LogIndex()
		c.addedAt[id] = added
	}
	c.addedMu.Unlock()
	if index < added {
		return fmt.Errorf("%w: gateway %s has the log up to %d, not yet %d", ErrNotCaughtUp, id, index, added)
	}
	if last := c.raftNode().LastIndex(); index > last {
		// A peer's word, bounded by what there is to have.
		return fmt.Errorf("%w: gateway %s says it has the log up to %d, past its end %d", membership.ErrUnknownChange, id, index, last)
	}
	// A gateway the map has: one dropped since its join (a removal) would
	// be a voter that follows nothing.
	if m := c.Current().Map; m == nil {
		return fmt.Errorf("%w: no map yet", ErrNoQuorum)
	} else if node, ok := m.Node(id); !ok || !node.Role.IsGateway() {
		return fmt.Errorf("%w: gateway %s is not in the map", membership.ErrUnknownChange, id)
	}
	if err := c.await(c.raftNode().AddVoter(server.ID, server.Address, 0, c.config.ApplyTimeout)); err != nil {
		return c.applyError(ctx, err)
	}
	c.setAddedAt(id, 0)
	c.config.Logger.Info("raft: a gateway that caught up with the log is a voter now", "gateway", id, "index", index)
	return nil
}

// setAddedAt notes where a nonvoter's addition is in the log; 0 forgets
// it (promoted, removed).
func (c *Control) setAddedAt(id string, index uint64) {
	c.addedMu.Lock()
	defer c.addedMu.Unlock()
	if index == 0 {
		delete(c.addedAt, id)
		return
	}
	c.addedAt[id] = index
}

// promoteWait bounds a joiner's wait to be made a voter; past it, the
// leader's keepalive promotes it once it sees it caught up.
const promoteWait = 15 * time.Second

// promoteSelf asks the leader, once this new gateway has the log up to
// the configuration that added it, to make it a voter.
func (c *Control) promoteSelf(ctx context.Context) {
	deadline := time.Now().Add(promoteWait)
	delay := 50 * time.Millisecond
	for {
		f := c.raftNode().GetConfiguration()
		if f.Error() == nil {
			servers := f.Configuration().Servers
			i := slices.IndexFunc(servers, func(s hraft.Server) bool { return string(s.ID) == c.config.Self.ID })
			if i >= 0 && servers[i].Suffrage == hraft.Voter {
				return // a leader of an older build added it as a voter
			}
		}
		// Raft's applied index: the entries are in its log, handed to
		// the state (whose own index may lag while it applies one).
		_, err := c.Propose(ctx, membership.Change{Kind: membership.PromoteVoter, Node: c.config.Self, LogIndex: c.raftNode().AppliedIndex()})
		if err == nil {
			return
		}
		// Asked again only while it may be granted: behind (a 409 on the
		// wire), or no leader to answer. A leader of an older build logs
		// each ask as a change every node refuses.
		again := errors.Is(err, ErrNotCaughtUp) || strings.Contains(err.Error(), ErrNotCaughtUp.Error()) ||
			errors.Is(err, membership.ErrUnreachable) || errors.Is(err, ErrNoQuorum)
		if !again || time.Now().After(deadline) || ctx.Err() != nil {
			c.config.Logger.Warn("raft: this gateway is not a voter yet: the leader makes it one once it sees it caught up", "err", err)
			return
		}
		select {
		case <-ctx.Done():
		case <-c.closed:
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

// promoteCaughtUp makes voters of the gateways of the map that are
// nonvoters of the log and have caught up with it (one of a build that
// does not ask, or whose ask failed). The caller holds tickMu.
func (c *Control) promoteCaughtUp(ctx context.Context, m *cluster.Map, now time.Time) {
	indexer, ok := c.config.Transport.(interface {
		LogIndexOf(ctx context.Context, node cluster.Node) (uint64, error)
	})
	if !ok || now.Sub(c.promoteChecked) < promoteCheckEvery {
		return
	}
	f := c.raftNode().GetConfiguration()
	if f.Error() != nil {
		return
	}
	var nonvoters []cluster.Node
	for _, server := range f.Configuration().Servers {
		if node, inMap := m.Node(string(server.ID)); server.Suffrage == hraft.Nonvoter && inMap && node.Role.IsGateway() {
			nonvoters = append(nonvoters, cluster.Node{ID: node.ID, Role: cluster.RoleGateway, URL: string(server.Address)})
		}
	}
	if len(nonvoters) == 0 {
		return
	}
	c.promoteChecked = now
	// At once, 2 s at most in all: a dead one holds no round long.
	ask, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	indexes := make([]uint64, len(nonvoters))
	errs := make([]error, len(nonvoters))
	var wg sync.WaitGroup
	for i, node := range nonvoters {
		wg.Go(func() { indexes[i], errs[i] = indexer.LogIndexOf(ask, node) })
	}
	wg.Wait()
	for i, node := range nonvoters {
		if errs[i] != nil {
			continue // not answering: a later check asks again
		}
		c.admitMu.Lock()
		err := c.promote(ctx, node.ID, indexes[i])
		c.admitMu.Unlock()
		if err != nil && !errors.Is(err, ErrNotCaughtUp) {
			c.config.Logger.Warn("raft: promote a gateway that caught up with the log", "gateway", node.ID, "err", err)
		}
	}
}

// promoteCheckEvery spaces the leader's checks of nonvoters (a new
// gateway asks to be promoted itself: these are for one that did not).
var promoteCheckEvery = 5 * time.Second

// isVoter reports whether a gateway is in the log's configuration.
func (c *Control) isVoter(id string) bool {
	f := c.raftNode().GetConfiguration()
	if f.Error() != nil {
		return false
	}
	return slices.ContainsFunc(f.Configuration().Servers, func(s hraft.Server) bool { return string(s.ID) == id })
}

// isVoterBySuffrage reports a node the log's configuration counts as a
// voter (isVoter: as any server of it).
func (c *Control) isVoterBySuffrage(id string) bool {
	f := c.raftNode().GetConfiguration()
	if f.Error() != nil {
		return false
	}
	return slices.ContainsFunc(f.Configuration().Servers, func(s hraft.Server) bool { return string(s.ID) == id && s.Suffrage == hraft.Voter })
}

// checkNotLastVoter refuses to remove the log's last voter.
func (c *Control) checkNotLastVoter(id string) error {
	f := c.raftNode().GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	voters := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == hraft.Voter && string(s.ID) != id {
			voters++
		}
	}
	if voters == 0 {
		return fmt.Errorf("%w: %s", ErrLastVoter, id)
	}
	return nil
}

// checkQuorumWithout refuses the removal of a voter when the others do
// not answer in a majority: Raft counts the new configuration at once,
// and with it the log would stop for good (a gateway that does not
// answer is to be removed first).
func (c *Control) checkQuorumWithout(ctx context.Context, id string) error {
	f := c.raftNode().GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	servers := f.Configuration().Servers
	alive := c.answering(ctx, servers)
	voters, up := 0, 0
	var silent []string
	for _, server := range servers {
		if server.Suffrage != hraft.Voter || string(server.ID) == id {
			continue
		}
		voters++
		if alive[string(server.ID)] {
			up++
		} else {
			silent = append(silent, string(server.ID))
		}
	}
	if up <= voters/2 {
		return fmt.Errorf("%w: without gateway %s, %d of the other %d gateways answer (%s do not): the log would stop; remove or bring back those first",
			ErrQuorumAtRisk, id, up, voters, strings.Join(silent, ", "))
	}
	return nil
}

// ErrQuorumAtRisk refuses the removal of a gateway that would leave the
// log without a majority that answers.
var ErrQuorumAtRisk = errors.New("raft: the removal would stop the log")

// removeVoter takes a gateway out of the log's voters, never the last.
func (c *Control) removeVoter(ctx context.Context, id string) error {
	if err := c.checkNotLastVoter(id); err != nil {
		return err
	}
	if err := c.await(c.raftNode().RemoveServer(hraft.ServerID(id), 0, c.config.ApplyTimeout)); err != nil {
		return c.applyError(ctx, err)
	}
	c.setAddedAt(id, 0)
	return nil
}

// errNotCommitted: a change in the log not committed in time (a
// follower that answers heartbeats but cannot store entries keeps the
// leader in office); it may still apply once a majority agrees.
var errNotCommitted = errors.New("raft: the change was not committed in time")

// await waits for a future of the log, up to twice ApplyTimeout: the
// timeout Raft takes bounds only its queueing, and a change that never
// commits held the locks its caller holds (the keepalive's, the
// admission's) for good. Raft ends the future later on its own.
func (c *Control) await(f hraft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	limit := 2 * c.config.ApplyTimeout
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-c.closed:
		return hraft.ErrRaftShutdown
	case <-timer.C:
		return fmt.Errorf("%w (%s): it may still apply once a majority agrees", errNotCommitted, limit)
	}
}

// verifyLeader asks the majority whether this gateway still leads. A
// log shut down meanwhile may never answer: the wait ends with Close, or
// after the apply timeout.
func (c *Control) verifyLeader() error {
	verify := c.raftNode().VerifyLeader()
	answer := make(chan error, 1)
	go func() { answer <- verify.Error() }()
	select {
	case err := <-answer:
		return err
	case <-c.closed:
		return hraft.ErrRaftShutdown
	case <-time.After(c.config.ApplyTimeout):
		return fmt.Errorf("%w: the majority did not confirm the leader within %s", hraft.ErrLeadershipLost, c.config.ApplyTimeout)
	}
}

// apply commits a change and returns the snapshot after it.
func (c *Control) apply(ch membership.Change) (membership.Snapshot, error) {
	data, err := json.Marshal(ch)
	if err != nil {
		return membership.Snapshot{}, err
	}
	// A leader cut off from the majority refuses before its log holds
	// the change.
	if err := c.verifyLeader(); err != nil {
		return c.Current(), err
	}
	f := c.raftNode().Apply(data, c.config.ApplyTimeout)
	if err := c.await(f); err != nil {
		if errors.Is(err, hraft.ErrLeadershipLost) {
			err = fmt.Errorf("%w: the change was not confirmed, and may still apply once a majority agrees", err)
		}
		return c.Current(), err
	}
	res := f.Response().(result)
	res.snapshot.Index = f.Index()
	return res.snapshot, res.err
}

// applyError turns Raft's refusals into ErrNoQuorum.
func (c *Control) applyError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, hraft.ErrNotLeader), errors.Is(err, hraft.ErrLeadershipLost), errors.Is(err, hraft.ErrEnqueueTimeout),
		errors.Is(err, hraft.ErrLeadershipTransferInProgress), errors.Is(err, hraft.ErrAbortedByRestore), errors.Is(err, errNotCommitted):
		return fmt.Errorf("%w (%w)", c.noQuorum(ctx), err)
	}
	return err
}

// noQuorum names the gateways that answer now.
func (c *Control) noQuorum(ctx context.Context) error {
	m := c.Current().Map
	if m == nil {
		return ErrNoQuorum
	}
	gateways := m.Gateways()
	reachable := []string{c.config.Self.ID}
	var mu sync.Mutex
	var wg sync.WaitGroup
	probe, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	for _, g := range gateways {
		if g.ID == c.config.Self.ID {
			continue
		}
		wg.Go(func() {
			if c.config.Transport.Probe(probe, g) == nil {
				mu.Lock()
				reachable = append(reachable, g.ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(reachable)
	return fmt.Errorf("%w: %d of %d gateways answer (%s); control changes wait for a majority, data requests go on", ErrNoQuorum, len(reachable), len(gateways), strings.Join(reachable, ", "))
}

// push sends the snapshot to the nodes that do not follow the log (the
// targets).
func (c *Control) push(ctx context.Context, s membership.Snapshot) map[string]error {
	// Not to the offline targets: one behind a dead link would hold every
	// change for the push timeout, and the keepalive's rounds push to it.
	return c.pushTo(ctx, s, func(n cluster.Node) bool { return n.State != cluster.StateOffline })
}

// pushTo pushes a snapshot to the targets that match.
func (c *Control) pushTo(ctx context.Context, s membership.Snapshot, match func(cluster.Node) bool) map[string]error {
	// A target behind a dead link drops packets rather than refusing
	// them: without a bound, every change and keepalive round would wait
	// for it. One that misses a push gets the next round's.
	ctx, cancel := context.WithTimeout(ctx, max(c.config.KeepaliveTimeout/2, time.Second))
	defer cancel()
	// A node that is also a target is pushed to as well: it follows the
	// log (and ignores the push), but the push tells the keepalive it
	// answers, and a dead one goes offline as any target.
	return membership.PushAll(ctx, c.config.Transport, s, c.config.Self.ID, allowEmpty(s), func(n cluster.Node) bool { return n.Role != cluster.RoleGateway && match(n) })
}

// allowEmpty: a committed snapshot is the cluster's own word, also when
// it has no targets or buckets left.
func allowEmpty(s membership.Snapshot) bool {
	return s.Buckets != nil && s.Buckets.Version > 0 && len(s.Buckets.Buckets) == 0 ||
		s.Map != nil && s.Map.Version > 1 && len(s.Map.Targets()) == 0
}

// Run runs the keepalive on the leader until ctx ends.
func (c *Control) Run(ctx context.Context) {
	ticker := time.NewTicker(c.config.KeepaliveInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		c.Tick(ctx, c.config.Now())
	}
}

// Tick is one keepalive round on the leader: push the snapshot to the
// targets and apply what the keepalive makes of who answered.
func (c *Control) Tick(ctx context.Context, now time.Time) {
	if !c.IsPrimary() {
		return
	}
	c.tickMu.Lock()
	defer c.tickMu.Unlock()
	if !c.inOffice() {
		return
	}
	s := c.Current()
	// Every target, the offline ones too: their answers bring them back.
	failed := c.pushTo(ctx, s, func(cluster.Node) bool { return true })
	propose, inTerm := c.roundProposer()
	c.keepalive.Refused(membership.ProposeRound(ctx, c.keepalive.Round(now, s.Map, failed), s.Map.Version, propose, c.config.Logger))
	if !inTerm() {
		return
	}
	c.removeStrays(ctx, now, s.Map)
	c.promoteCaughtUp(ctx, s.Map, now)
}

// errLeadChanged refuses a keepalive round's change once the gateway
// left the office it judged the round in.
var errLeadChanged = fmt.Errorf("%w: the lead changed during the keepalive round", membership.ErrMapChanged)

// roundProposer proposes a keepalive round's changes while the gateway
// holds the office it holds now, and refuses them at once after: each
// waited up to three election timeouts for an office the next term's
// takeOffice could not take while the round held tickMu. inTerm tells
// whether it still holds it.
func (c *Control) roundProposer() (propose func(context.Context, membership.Change) (membership.Snapshot, error), inTerm func() bool) {
	term := c.officeTerm.Load()
	inTerm = func() bool { return term != 0 && c.officeTerm.Load() == term && c.inOffice() }
	propose = func(ctx context.Context, ch membership.Change) (membership.Snapshot, error) {
		if !inTerm() {
			return membership.Snapshot{}, errLeadChanged
		}
		return c.Propose(ctx, ch)
	}
	return propose, inTerm
}

// strayVoterGrace is how long a voter may be outside the map: a join
// adds the voter, then the node, within seconds.
const strayVoterGrace = time.Minute

// removeStrays takes out of the log's configuration the gateways the map
// no longer has (a removal cut short after the map's change, a join whose
// map change failed): left there, each voter dead counts against the
// quorum for good, and the log goes on being sent to each nonvoter. At most one goes a check,
// every strayCheckEvery, a dead one first, and only while the voters
// left answer in a majority: a live stray's vote may be what keeps the
// quorum now, and Raft counts a new configuration at once. The caller
// holds tickMu.
func (c *Control) removeStrays(ctx context.Context, now time.Time, m *cluster.Map) {
	f := c.raftNode().GetConfiguration()
	if f.Error() != nil {
		return
	}
	servers := f.Configuration().Servers
	seen := map[string]time.Time{}
	var due []hraft.Server
	for _, server := range servers {
		id := string(server.ID)
		if _, ok := m.Node(id); ok || id == c.config.Self.ID {
			continue
		}
		first, ok := c.strays[id]
		if !ok {
			first = now
		}
		seen[id] = first
		if now.Sub(first) >= strayVoterGrace {
			due = append(due, server)
		}
	}
	c.strays = seen
	if len(due) == 0 || now.Sub(c.strayChecked) < strayCheckEvery {
		return
	}
	c.strayChecked = now
	alive := c.answering(ctx, servers)
	slices.SortStableFunc(due, func(a, b hraft.Server) int {
		return cmp.Compare(boolRank(alive[string(a.ID)]), boolRank(alive[string(b.ID)]))
	})
	stray := string(due[0].ID)
	// One voter removal at a time (a gateway's leave, or Left, checked
	// against the voters as they were, would take the quorum too).
	c.admitMu.Lock()
	defer c.admitMu.Unlock()
	// Against the map of now: the gateway may have joined again while
	// the voters were probed (its join holds admitMu until it is in the
	// map); removed, it would be in the map and follow no log.
	cur := c.Current().Map
	if cur == nil {
		return
	}
	if _, ok := cur.Node(stray); ok {
		return
	}
	if err := c.checkQuorumWithout(ctx, stray); err != nil {
		c.config.Logger.Warn("raft: a voter the map no longer has stays: the others do not answer in a majority without it", "gateway", stray, "err", err)
		return
	}
	if err := c.removeVoter(ctx, stray); err != nil {
		c.config.Logger.Warn("raft: remove a voter the map no longer has", "gateway", stray, "err", err)
		return
	}
	c.config.Logger.Info("raft: removed a voter the map no longer has", "gateway", stray)
	delete(c.strays, stray)
}

// answering probes the voters at once, each for 2 s at most; this
// gateway answers.
func (c *Control) answering(ctx context.Context, servers []hraft.Server) map[string]bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var mu sync.Mutex
	alive := map[string]bool{c.config.Self.ID: true}
	var wg sync.WaitGroup
	for _, server := range servers {
		id := string(server.ID)
		if server.Suffrage != hraft.Voter || id == c.config.Self.ID {
			continue
		}
		wg.Go(func() {
			err := c.config.Transport.Probe(ctx, cluster.Node{ID: id, Role: cluster.RoleGateway, URL: string(server.Address)})
			mu.Lock()
			alive[id] = err == nil
			mu.Unlock()
		})
	}
	wg.Wait()
	return alive
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// strayCheckEvery is how often the strays past their grace are weighed
// for removal (each check probes the voters).
const strayCheckEvery = 30 * time.Second

// Accept is not how a gateway learns the state (the log is); a push from
// the leader is ignored.
func (c *Control) Accept(ctx context.Context, s membership.Snapshot, from membership.Origin) error {
	return nil
}

// Refresh brings a follower up to the leader's state as of now: it asks
// the leader for its versions and waits until it applied as far. A
// decision that must not rest on a stale read (the buckets a dSort job
// starts from) refreshes first. The leader is current already.
func (c *Control) Refresh(ctx context.Context) error {
	if c.raftNode() == nil {
		return errStarting
	}
	if c.IsPrimary() {
		return c.waitInOffice(ctx)
	}
	addr, id := c.raftNode().LeaderWithID()
	if addr == "" {
		return nil // no leader to ask: the applied state is all there is
	}
	s, err := c.config.Transport.Pull(ctx, cluster.Node{ID: string(id), Role: cluster.RoleGateway, URL: string(addr)})
	if err != nil {
		return err
	}
	if !c.waitApplied(ctx, s) {
		return fmt.Errorf("raft: not caught up with the leader %s within %s", id, c.config.ApplyTimeout)
	}
	return nil
}

// CatchUp is Refresh for a read: a follower asks the leader for its log
// index alone (one small request, where Refresh pulls its state whole)
// and waits until it applied that far. A transport that cannot say falls
// back to Refresh.
func (c *Control) CatchUp(ctx context.Context) error {
	indexer, ok := c.config.Transport.(interface {
		LogIndexOf(ctx context.Context, node cluster.Node) (uint64, error)
	})
	if !ok || c.raftNode() == nil || c.IsPrimary() {
		return c.Refresh(ctx)
	}
	addr, id := c.raftNode().LeaderWithID()
	if addr == "" {
		return nil // no leader to ask: the applied state is all there is
	}
	index, err := indexer.LogIndexOf(ctx, cluster.Node{ID: string(id), Role: cluster.RoleGateway, URL: string(addr)})
	if err != nil {
		return err
	}
	if !c.waitApplied(ctx, membership.Snapshot{Index: index}) {
		return fmt.Errorf("raft: not caught up with the leader %s within %s", id, c.config.ApplyTimeout)
	}
	return nil
}

// waitInOffice waits until this leader has taken office (takeOffice
// applies Lead after every entry the last leader committed): a leader
// just elected may not have applied them yet.
func (c *Control) waitInOffice(ctx context.Context) error {
	deadline := time.Now().Add(c.config.ApplyTimeout)
	for {
		if c.inOffice() {
			return nil
		}
		if !c.IsPrimary() {
			return c.Refresh(ctx) // another leads now: asked
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: this gateway leads the log but has not taken office as primary yet", ErrNoQuorum)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-c.closed:
			return hraft.ErrRaftShutdown
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Voters returns the ids of the log's voters.
func (c *Control) Voters() ([]string, error) {
	if c.raftNode() == nil {
		return nil, errStarting
	}
	f := c.raftNode().GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, err
	}
	var ids []string
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == hraft.Voter {
			ids = append(ids, string(s.ID))
		}
	}
	return ids, nil
}

// StepDown hands the lead to another voter when this gateway has it, and
// waits for it: a gateway stopping keeps serving while it drains, but a
// leader whose ports are closed holds every change of the cluster until
// it is gone (its heartbeats keep the others from electing another).
// Elected again before it stops, it hands the lead on again (see lead).
// Nothing to do on a follower or the only voter.
func (c *Control) StepDown() error {
	c.stopping.Store(true)
	r := c.raftNode()
	if r == nil || r.State() != hraft.Leader {
		return nil
	}
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	voters := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == hraft.Voter {
			voters++
		}
	}
	if voters < 2 {
		return nil
	}
	return r.LeadershipTransfer().Error()
}

// Close stops the log and waits for the background work.
func (c *Control) Close() error {
	var err error
	c.closeOnce.Do(func() { close(c.closed) })
	if r := c.raftNode(); r != nil {
		err = r.Shutdown().Error()
	}
	c.wg.Wait()
	for _, cl := range c.closers {
		err = errors.Join(err, cl.Close())
	}
	return err
}

// Wait waits for the background work (after loops ended).
func (c *Control) Wait() { c.wg.Wait() }

// hclog returns Raft's logger, writing through the node's at Warn and
// above.
func (c *Control) hclog(name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Warn, Output: slogWriter{c.config.Logger}})
}

// slogWriter turns Raft's log lines into the node's log.
type slogWriter struct{ logger *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.logger.Warn(strings.TrimSpace(string(p)), "component", "raft")
	return len(p), nil
}
