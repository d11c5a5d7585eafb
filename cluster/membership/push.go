package membership

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/store"
)

// Transport carries the control plane's messages between nodes; the
// gateway implements it over authenticated HTTP. An error that may pass
// (a node not up yet) wraps ErrUnreachable.
type Transport interface {
	// Push sends a snapshot to a node. allowEmpty tells it to take a map
	// without targets or metadata without buckets (see Accept).
	Push(ctx context.Context, to cluster.Node, s Snapshot, allowEmpty bool) error
	// Join asks the gateway at url to add self (of the cluster uuid, when
	// it knows one); it answers the snapshot that has self in it.
	Join(ctx context.Context, url string, self cluster.Node, uuid string) (Snapshot, error)
	// Forward sends a change to the primary; it answers the snapshot
	// after the change.
	Forward(ctx context.Context, primary cluster.Node, c Change) (Snapshot, error)
	// Probe checks that a node answers at its URL, as itself.
	Probe(ctx context.Context, n cluster.Node) error
	// Pull fetches a node's current snapshot.
	Pull(ctx context.Context, from cluster.Node) (Snapshot, error)
}

// ErrUnreachable marks a transport error worth retrying.
var ErrUnreachable = errors.New("membership: node unreachable")

// ErrRefused wraps a push the node answered and refused (a disk that
// cannot take a bucket's directories): the node is alive, and the
// keepalive does not take it offline for it.
var ErrRefused = errors.New("membership: the node refused the snapshot")

// ErrStopping wraps a push a target refused because it is stopping: the
// keepalive takes it offline at once, so that gateways stop sending
// clients to it before its port closes.
var ErrStopping = errors.New("membership: the node is stopping")

// ErrProbe marks a joining node that does not answer at the URL it gave,
// as itself.
var ErrProbe = errors.New("membership: the joining node does not answer at its URL as itself")

// JoinProbeWait is how long a joiner waits by default (Config.JoinProbeWait)
// for the gateway to reach it at the URL it gave (its name not in DNS
// yet, its listener not up); past it, the join fails naming the URL (one
// nobody can reach).
const JoinProbeWait = 30 * time.Second

// ProbeFailed reports a join refused because the joiner did not answer
// at its URL (as a gateway's answer says it: the sentinel does not cross
// the wire).
func ProbeFailed(err error) bool {
	return err != nil && (errors.Is(err, ErrProbe) || strings.Contains(err.Error(), ErrProbe.Error()))
}

// ProbeWait measures how long a join has been refused for its probe
// alone, from the first such refusal after any other answer (a gateway
// away or without quorum before does not count).
type ProbeWait struct{ since time.Time }

// FailedFor notes a join's error and returns how long the probe has
// failed (0 for another error).
func (w *ProbeWait) FailedFor(err error) time.Duration {
	if !ProbeFailed(err) {
		w.since = time.Time{}
		return 0
	}
	if w.since.IsZero() {
		w.since = time.Now()
	}
	return time.Since(w.since)
}

// ErrNoPrimary marks a node that knows no primary to send a change to.
var ErrNoPrimary = errors.New("membership: no primary gateway in the map")

// Config configures a Push control plane.
type Config struct {
	// Self is this node, as it appears in the map.
	Self cluster.Node
	// Join is the URL of a gateway to join through; empty makes this
	// node (a gateway) the primary of a new or restarted cluster.
	Join      string
	Store     MetaStore
	Transport Transport
	// KeepaliveInterval is how often the primary pushes the snapshot to
	// every node; zero means 2s. KeepaliveTimeout is how long a node may
	// miss them before a target goes offline and a gateway leaves the
	// map; zero means 10s.
	KeepaliveInterval time.Duration
	KeepaliveTimeout  time.Duration
	// JoinProbeWait is how long a join waits for the gateway to reach
	// this node at its URL; zero means JoinProbeWait.
	JoinProbeWait time.Duration
	// Rules bound what a pushed map may be (see cluster.CheckUpdate).
	MaxVersionJump int64
	// Placement, when set, is held while the current snapshot changes:
	// a target orders its commits against map changes with it.
	Placement sync.Locker
	// LocalBuckets, when set, gives the bucket metadata a primary's own
	// store holds; the newer of it and the saved one is taken at start.
	LocalBuckets func(ctx context.Context) (store.BucketMetadata, error)
	// SyncBuckets, when set, brings a target's store in line with bucket
	// metadata before the node takes it.
	SyncBuckets func(ctx context.Context, md store.BucketMetadata) error
	// BeforeRejoin, when set, runs before a running node joins again (a
	// target found offline or out of the map): one removed while it was
	// away sets its objects aside, as at a start. An error keeps it out.
	BeforeRejoin func(ctx context.Context) error
	// Changed is called after each change of the current snapshot, in
	// order, with the one it replaced (nil Map before the first).
	Changed func(previous, next Snapshot)
	// Now is the clock of the keepalive; nil means time.Now.
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
}

// Push is the control plane of one primary gateway that pushes every
// change to every node.
type Push struct {
	config Config
	*Holder
	// changeMu serializes changes on the primary; acceptMu the taking of
	// pushed snapshots.
	changeMu sync.Mutex
	acceptMu sync.Mutex
	// emptied: the primary's own changes left no targets or no buckets,
	// which its pushes then allow.
	emptied   atomic.Bool
	keepalive Keepalive
	rejoining atomic.Bool
	// catchingUp: a pull of the primary's snapshot is under way.
	catchingUp atomic.Bool
	// awaitingReturn: this node saw itself offline and waits for the
	// keepalive's Returned before it joins again.
	awaitingReturn atomic.Bool
	// loops is Start's context for background work; nil before Start (a
	// push may be served meanwhile).
	loops atomic.Pointer[context.Context]
	wg    sync.WaitGroup
}

// NewPush returns a control plane; Start brings it into the cluster.
func NewPush(cfg Config) (*Push, error) {
	if cfg.KeepaliveInterval <= 0 {
		cfg.KeepaliveInterval = 2 * time.Second
	}
	if cfg.KeepaliveTimeout <= 0 {
		cfg.KeepaliveTimeout = 10 * time.Second
	}
	if cfg.JoinProbeWait <= 0 {
		cfg.JoinProbeWait = JoinProbeWait
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Store == nil || cfg.Transport == nil {
		return nil, errors.New("membership: a metadata store and a transport are required")
	}
	if cfg.Join == "" && !cfg.Self.Role.IsGateway() {
		return nil, fmt.Errorf("membership: a %s must join a cluster (give the URL of a gateway)", cfg.Self.Role)
	}
	p := &Push{config: cfg, keepalive: Keepalive{Timeout: cfg.KeepaliveTimeout, Logger: cfg.Logger}}
	p.Holder = NewHolder(cfg.Placement, cfg.Changed)
	return p, nil
}

// IsPrimary reports whether this node is the primary.
func (p *Push) IsPrimary() bool {
	m := p.Current().Map
	return m != nil && m.Primary == p.config.Self.ID
}

// Start brings the node into the cluster: a primary restores or creates
// the snapshot; another node joins through Config.Join, retrying while the
// cluster cannot be reached or until ctx ends. Background work (rejoins)
// runs until loops ends.
func (p *Push) Start(ctx, loops context.Context) error {
	p.loops.Store(&loops)
	if p.config.Join == "" {
		return p.startPrimary(ctx)
	}
	return p.join(ctx)
}

// Run runs the keepalive until ctx ends: on the primary, a Tick every
// interval.
func (p *Push) Run(ctx context.Context) {
	ticker := time.NewTicker(p.config.KeepaliveInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		p.Tick(ctx, p.config.Now())
	}
}

// Wait waits for background rejoins to end.
func (p *Push) Wait() { p.wg.Wait() }

func randomID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// startPrimary restores or creates the snapshot with this node as primary.
func (p *Push) startPrimary(ctx context.Context) error {
	m, err := p.config.Store.LoadMap()
	if err != nil {
		return fmt.Errorf("load cluster map: %w", err)
	}
	if m == nil {
		m = &cluster.Map{UUID: randomID(), Created: time.Now().UnixNano()}
	}
	m = m.Clone()
	m.Primary = p.config.Self.ID
	self := p.config.Self
	self.State = cluster.StateActive
	if m, err = m.WithNode(self); err != nil {
		return err
	}
	md, ok, err := p.config.Store.LoadBuckets()
	if err != nil {
		return fmt.Errorf("load bucket metadata: %w", err)
	}
	if p.config.LocalBuckets != nil {
		// An embedded node's store may know buckets the saved copy does
		// not (data moved in by hand): the newer one wins.
		local, err := p.config.LocalBuckets(ctx)
		if err != nil {
			return err
		}
		if !ok || local.Version > md.Version {
			md = local
		}
	}
	if md.Buckets == nil {
		md.Buckets = map[store.Bucket]store.Props{}
	}
	if err := p.config.Store.SaveMap(m); err != nil {
		return fmt.Errorf("save cluster map: %w", err)
	}
	if err := p.config.Store.SaveBuckets(md); err != nil {
		return fmt.Errorf("save bucket metadata: %w", err)
	}
	if p.config.SyncBuckets != nil {
		if err := p.config.SyncBuckets(ctx, md); err != nil {
			return err
		}
	}
	// Saved metadata that is empty but not new was emptied on purpose.
	p.emptied.Store(md.Version > 0 && len(md.Buckets) == 0 || m.Version > 1 && len(m.Targets()) == 0)
	p.install(Snapshot{Map: m, Buckets: &md})
	// Nodes of the saved map learn about the primary at once.
	p.distribute(ctx)
	return nil
}

// install makes next the current snapshot.
func (p *Push) install(next Snapshot) {
	p.Install(next)
	// A node left out of the map while it is alive joins again rather
	// than go on with a map it is not in. One taken offline waits for the
	// keepalive, which heard it and makes it what it was (Returned keeps
	// a maintenance a join would end); only if that does not come does
	// it join again.
	if next.Map != nil && next.Map.Primary != p.config.Self.ID && p.config.Join != "" {
		switch self, ok := next.Map.Node(p.config.Self.ID); {
		case !ok:
			p.Rejoin()
		case self.State == cluster.StateOffline:
			p.rejoinIfStillOffline()
		}
	}
}

// background is the context of background work, or nil before Start.
func (p *Push) background() context.Context {
	if loops := p.loops.Load(); loops != nil {
		return *loops
	}
	return nil
}

// rejoinIfStillOffline joins again once two keepalive rounds passed with
// this node still offline in the map.
func (p *Push) rejoinIfStillOffline() {
	loops := p.background()
	if loops == nil || !p.awaitingReturn.CompareAndSwap(false, true) {
		return
	}
	p.wg.Go(func() {
		defer p.awaitingReturn.Store(false)
		select {
		case <-loops.Done():
			return
		case <-time.After(2 * p.config.KeepaliveInterval):
		}
		self, ok := p.Current().Map.Node(p.config.Self.ID)
		switch {
		case !ok || self.State != cluster.StateOffline:
		case self.Maintained:
			// Back as what it was, as the keepalive would make it: a
			// join (a restart's) would end the maintenance.
			ctx, cancel := context.WithTimeout(loops, 30*time.Second)
			defer cancel()
			if _, err := p.Propose(ctx, Change{Kind: Returned, Node: cluster.Node{ID: self.ID}}); err != nil {
				p.config.Logger.Warn("offline in the map while alive: back into maintenance", "err", err)
			}
		default:
			p.Rejoin()
		}
	})
}

// Propose applies a change: on the primary directly, elsewhere by
// forwarding it to the primary. It returns the snapshot after the change.
func (p *Push) Propose(ctx context.Context, c Change) (Snapshot, error) {
	if !p.IsPrimary() {
		m := p.Current().Map
		if m == nil {
			return Snapshot{}, ErrNoPrimary
		}
		primary, ok := m.PrimaryNode()
		if !ok {
			return Snapshot{}, ErrNoPrimary
		}
		return p.config.Transport.Forward(ctx, primary, c)
	}
	if c.Kind == Join {
		// Refuse a used id before the node is asked anything, then check
		// that it answers at the URL it gave, as itself.
		if _, err := Apply(p.Current(), c); err != nil {
			return Snapshot{}, err
		}
		if err := Admissible(p.Current(), c); err != nil {
			return Snapshot{}, err
		}
		if err := p.config.Transport.Probe(ctx, c.Node); err != nil {
			return Snapshot{}, fmt.Errorf("%w: node %s at %s: %w", ErrProbe, c.Node.ID, c.Node.URL, err)
		}
	}
	return p.change(ctx, c)
}

// change applies a change on the primary: save, push to nodes that join
// first (so that nothing is sent to them before they know the map),
// install, push to the others.
func (p *Push) change(ctx context.Context, c Change) (Snapshot, error) {
	p.changeMu.Lock()
	defer p.changeMu.Unlock()
	previous := p.Current()
	// Under changeMu: two at once would each find the other target active.
	if err := Admissible(previous, c); err != nil {
		return previous, err
	}
	next, err := Apply(previous, c)
	if err != nil {
		return previous, err
	}
	if next.Map != previous.Map {
		if len(next.Map.Targets()) == 0 && len(previous.Map.Targets()) > 0 {
			p.emptied.Store(true)
		}
		if err := p.config.Store.SaveMap(next.Map); err != nil {
			return previous, fmt.Errorf("save cluster map: %w", err)
		}
	}
	if next.Buckets != previous.Buckets {
		if len(next.Buckets.Buckets) == 0 && len(previous.Buckets.Buckets) > 0 {
			p.emptied.Store(true)
		}
		// Saved first, then the local store: a save that fails changes
		// nothing, and a store that fails gets the change again later.
		if err := p.config.Store.SaveBuckets(*next.Buckets); err != nil {
			return previous, fmt.Errorf("save bucket metadata: %w", err)
		}
		if p.config.SyncBuckets != nil {
			if err := p.config.SyncBuckets(ctx, *next.Buckets); err != nil {
				// Put back, else the next start loads the change the
				// caller was told failed; not put back, said so.
				if rerr := p.config.Store.SaveBuckets(*previous.Buckets); rerr != nil {
					return previous, errors.Join(err, fmt.Errorf("put back the bucket metadata saved (a restart would load the change refused): %w", rerr))
				}
				return previous, err
			}
		}
	}
	joined := func(n cluster.Node) bool {
		_, known := previous.Map.Node(n.ID)
		return !known
	}
	failed := p.push(ctx, next, joined)
	p.install(next)
	if next.Map != previous.Map {
		p.config.Logger.Info("cluster map changed", "version", next.Map.Version, "nodes", len(next.Map.Nodes), "change", c.Kind, "node_id", c.Node.ID)
	}
	maps.Copy(failed, p.push(ctx, next, func(n cluster.Node) bool { return !joined(n) }))
	for id, err := range failed {
		p.config.Logger.Warn("metasync failed", "to", id, "err", err)
	}
	return next, nil
}

// distribute pushes the current snapshot to every other node and returns
// the nodes it could not reach.
func (p *Push) distribute(ctx context.Context) map[string]error {
	return p.push(ctx, p.Current(), nil)
}

// push sends a snapshot to the map's other nodes that match.
func (p *Push) push(ctx context.Context, s Snapshot, match func(cluster.Node) bool) map[string]error {
	return PushAll(ctx, p.config.Transport, s, p.config.Self.ID, p.emptied.Load(), match)
}

// Origin says who sent a snapshot and how far to trust a jump ahead.
type Origin struct {
	// Sender is the node that sent it (authenticated on a push).
	Sender string
	// Recovery: the answer to this node's own join, taken even far ahead.
	Recovery bool
	// AllowEmpty: the primary says its change left no targets or buckets.
	AllowEmpty bool
}

// Accept takes a snapshot pushed by, or asked of, another node: the map
// and the bucket metadata each only if newer than the node's own, from
// the primary, in sequence, and sound (cluster.CheckUpdate,
// store.CheckBucketUpdate). A map older than the current one is
// cluster.ErrStaleMap; one of the same version is ignored.
func (p *Push) Accept(ctx context.Context, s Snapshot, from Origin) error {
	p.acceptMu.Lock()
	defer p.acceptMu.Unlock()
	cur := p.Current()
	withMap := cur
	if s.Map != nil {
		err := cluster.CheckUpdate(cur.Map, s.Map, from.Sender, cluster.UpdateRules{MaxVersionJump: p.config.MaxVersionJump, Recovery: from.Recovery, AllowNoTargets: from.AllowEmpty})
		switch {
		case errors.Is(err, cluster.ErrStaleMap) && s.Map.Version == cur.Map.Version:
		case err != nil:
			if errors.Is(err, cluster.ErrVersionJump) && cur.Map != nil && s.Map.UUID == cur.Map.UUID {
				// A map too far ahead (this node was away long, or the
				// push is forged): refused, but the primary this node
				// knows is asked for its map, taken however far ahead.
				// A forged version is not the primary's: nothing changes.
				if g, ok := cur.Map.Node(from.Sender); ok && g.Role.IsGateway() && from.Sender != p.config.Self.ID {
					p.catchUp(g)
				}
			}
			if errors.Is(err, cluster.ErrNotPrimary) && cur.Map != nil && s.Map.UUID == cur.Map.UUID && s.Map.Version > cur.Map.Version {
				// A primary of this cluster this node has not heard of
				// (elected while it was away): refused, it would stay
				// out for good. It takes that primary's map, asked of
				// it (then, offline there, it returns as what it was: a
				// maintenance stays, which a join would end); failing
				// that, it joins again through it.
				if g, ok := s.Map.Node(from.Sender); ok && g.Role.IsGateway() && s.Map.Primary == from.Sender && from.Sender != p.config.Self.ID {
					p.followNewPrimary(g)
				}
			}
			return err
		default:
			// Taken though it cannot be saved (the metadata volume read
			// only, or full): refused, the node would stay on its old
			// map for good while still answering as alive; restarted,
			// its join brings the current one.
			if err := p.config.Store.SaveMap(s.Map); err != nil {
				p.config.Logger.Error("the cluster map cannot be saved: taken in memory only; fix the metadata directory", "version", s.Map.Version, "err", err)
			}
			withMap.Map = s.Map
		}
	}
	// The buckets are in the store before the map that routes requests
	// here is installed: a PUT redirected by the new map finds its bucket
	// (awaitMap waits for the map, not for the buckets).
	if err := p.acceptBuckets(ctx, withMap, s, from); err != nil {
		if withMap.Map != cur.Map {
			p.install(withMap)
		}
		if errors.Is(err, store.ErrBucketsJump) && !from.Recovery {
			// As a map too far ahead: the primary is asked for its
			// snapshot, taken however far ahead; refused alone, every
			// push after it would be too, for good.
			if g, ok := withMap.Map.PrimaryNode(); ok && withMap.Map.Primary == from.Sender && g.ID != p.config.Self.ID {
				p.catchUp(g)
			}
		}
		// The config and revoked tokens stand apart (versions and sender
		// checks of their own): a bucket the store cannot take for long
		// (a mountpath read only) must not keep a revoked token working.
		return errors.Join(err, p.acceptRest(s, from))
	}
	if withMap.Map != cur.Map {
		next := p.Current()
		next.Map = withMap.Map
		p.install(next)
	}
	return p.acceptRest(s, from)
}

// acceptBuckets applies newer bucket metadata from the primary of the map
// withMap has: saved, synced into the local store, installed.
func (p *Push) acceptBuckets(ctx context.Context, withMap Snapshot, s Snapshot, from Origin) error {
	cur := p.Current()
	if s.Buckets != nil && s.Buckets.Version > cur.Buckets.Version {
		if withMap.Map == nil || from.Sender != withMap.Map.Primary {
			return fmt.Errorf("%w: %s sent bucket metadata", cluster.ErrNotPrimary, from.Sender)
		}
		md := s.Buckets.Clone()
		if md.Buckets == nil {
			md.Buckets = map[store.Bucket]store.Props{}
		}
		rules := store.BucketUpdateRules{MaxVersionJump: p.config.MaxVersionJump, Recovery: from.Recovery, AllowNoBuckets: from.AllowEmpty}
		if err := store.CheckBucketUpdate(*cur.Buckets, md, rules); err != nil {
			return err
		}
		if p.config.SyncBuckets != nil {
			if err := p.config.SyncBuckets(ctx, md); err != nil {
				return err
			}
		}
		// The store has it already: the node's view follows, saved or
		// not (unsaved, a restart syncs it again from the gateways).
		if err := p.config.Store.SaveBuckets(md); err != nil {
			p.config.Logger.Error("the bucket metadata cannot be saved: taken in memory only; fix the metadata directory", "version", md.Version, "err", err)
		}
		next := cur
		next.Buckets = &md
		p.install(next)
	}
	return nil
}

// acceptRest applies the cluster config and the revoked tokens of s.
func (p *Push) acceptRest(s Snapshot, from Origin) error {
	cur := p.Current()
	// The cluster config, which targets act on too (capacity watermarks).
	if s.Config != nil && (cur.Config == nil || s.Config.Version > cur.Config.Version) {
		if cur.Map == nil || from.Sender != cur.Map.Primary {
			return fmt.Errorf("%w: %s sent the cluster config", cluster.ErrNotPrimary, from.Sender)
		}
		// Taken though it breaks a rule of this version (a bound added
		// since it was set): the gateways keep it, and refused here it
		// would fail every join and push of this target.
		if err := s.Config.withDefaults().Validate(); err != nil {
			p.config.Logger.Warn("the cluster config breaks a rule of this version: set it again", "version", s.Config.Version, "err", err)
		}
		config := *s.Config
		next := cur
		next.Config = &config
		p.install(next)
	}
	cur = p.Current()
	// The revoked tokens, which every node refuses.
	if s.Tokens != nil && (cur.Tokens == nil || s.Tokens.Version > cur.Tokens.Version) {
		if cur.Map == nil || from.Sender != cur.Map.Primary {
			return fmt.Errorf("%w: %s sent the revoked tokens", cluster.ErrNotPrimary, from.Sender)
		}
		if len(s.Tokens.Tokens) > MaxRevokedTokens || len(s.Tokens.Keys) > MaxRevokedTokens {
			return fmt.Errorf("%w: %d", ErrTooManyRevoked, max(len(s.Tokens.Tokens), len(s.Tokens.Keys)))
		}
		next := cur
		next.Tokens = s.Tokens.clone()
		p.install(next)
	}
	return nil
}

// Refresh pulls the snapshot from the primary and takes it (a node that
// meets a bucket it does not know yet).
func (p *Push) Refresh(ctx context.Context) error {
	m := p.Current().Map
	if m == nil {
		return ErrNoPrimary
	}
	primary, ok := m.PrimaryNode()
	if !ok || primary.ID == p.config.Self.ID {
		return nil
	}
	s, err := p.config.Transport.Pull(ctx, primary)
	if err != nil {
		return err
	}
	return p.Accept(ctx, s, Origin{Sender: primary.ID})
}

// join asks a gateway to add this node, retrying while none can be
// reached, and takes the snapshot it answers with. It asks the configured
// gateway first, then the others of the map it saved: any gateway takes a
// join.
func (p *Push) join(ctx context.Context, first ...string) error {
	delay := 100 * time.Millisecond
	urls := slices.Clone(first)
	if p.config.Join != "" {
		urls = append(urls, p.config.Join)
	}
	uuid := ""
	if saved, err := p.config.Store.LoadMap(); err == nil && saved != nil {
		uuid = saved.UUID
		for _, g := range saved.Gateways() {
			if g.URL != p.config.Join {
				urls = append(urls, g.URL)
			}
		}
	}
	// Not through itself: no member yet, it cannot answer its own join
	// (a target's -join of its own URL waited for ever).
	urls = slices.DeleteFunc(urls, func(u string) bool { return cluster.SameURL(u, p.config.Self.URL) })
	if len(urls) == 0 && p.config.Join != "" {
		return fmt.Errorf("join: -join %s is this node's own URL: give the URL of a gateway of the cluster", p.config.Join)
	}
	if len(urls) == 0 {
		return errors.New("join: no gateway to join through")
	}
	started := time.Now()
	var probing ProbeWait
	for attempt := 0; ; attempt++ {
		url := urls[attempt%len(urls)]
		s, err := p.config.Transport.Join(ctx, url, p.config.Self, uuid)
		if err == nil {
			if s.Map == nil {
				return fmt.Errorf("join %s: the answer has no cluster map", p.config.Join)
			}
			// A newer map may have been pushed while the answer travelled.
			err := p.Accept(ctx, s, Origin{Sender: s.Map.Primary, Recovery: true, AllowEmpty: true})
			if err != nil && !errors.Is(err, cluster.ErrStaleMap) {
				return err
			}
			return nil
		}
		switch {
		case errors.Is(err, cluster.ErrNodeElsewhere) && time.Since(started) < p.duplicateWait():
			// Restarted at another address (a pod's new IP): the map
			// keeps the old one active until the keepalive finds it
			// silent. A live node under the id fails the join after.
			p.config.Logger.Warn("waiting for this node's old entry to go offline", "join", url, "err", err)
		case !errors.Is(err, ErrUnreachable), probing.FailedFor(err) >= p.config.JoinProbeWait:
			return fmt.Errorf("join %s: %w", url, err)
		default:
			p.config.Logger.Info("waiting for the cluster", "join", url, "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("join %s: %w", p.config.Join, context.Cause(ctx))
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// duplicateWait is how long a join waits for the map's entry of this
// node at an older address to go offline: a few keepalive timeouts (the
// primary's may be longer than this node's).
func (p *Push) duplicateWait() time.Duration { return max(3*p.config.KeepaliveTimeout, 2*time.Minute) }

// Rejoin joins the cluster again in the background.
func (p *Push) Rejoin() { p.rejoin() }

// rejoin joins again in the background, trying first the gateways at
// first.
func (p *Push) rejoin(first ...string) {
	loops := p.background()
	if loops == nil || !p.rejoining.CompareAndSwap(false, true) {
		return
	}
	p.wg.Go(func() {
		defer p.rejoining.Store(false)
		p.config.Logger.Warn("this node is not an active member of the cluster map: joining again")
		if p.config.BeforeRejoin != nil {
			if err := p.config.BeforeRejoin(loops); err != nil {
				p.config.Logger.Error("not joining again", "err", err)
				return
			}
		}
		if err := p.join(loops, first...); err != nil {
			p.config.Logger.Warn("join again", "err", err)
		}
	})
}

// followNewPrimary takes the snapshot of a primary this node had not
// heard of, asked of it, in the background; when that fails, it joins
// again through it.
func (p *Push) followNewPrimary(primary cluster.Node) {
	p.pullFrom(primary, func(err error) {
		p.config.Logger.Warn("take the map of a primary this node had not heard of; joining again through it", "gateway", primary.ID, "err", err)
		p.rejoin(primary.URL)
	})
}

// catchUp asks a gateway this node knows for its snapshot, in the
// background, and takes it even far ahead of this node's (Recovery).
func (p *Push) catchUp(gateway cluster.Node) {
	p.pullFrom(gateway, func(err error) {
		if !errors.Is(err, cluster.ErrStaleMap) {
			p.config.Logger.Warn("catch up with the primary's map", "gateway", gateway.ID, "err", err)
		}
	})
}

// pullFrom takes a gateway's snapshot, however far ahead (Recovery), in
// the background, one at a time; failed is told why it could not.
func (p *Push) pullFrom(gateway cluster.Node, failed func(error)) {
	loops := p.background()
	if loops == nil || !p.catchingUp.CompareAndSwap(false, true) {
		return
	}
	p.wg.Go(func() {
		defer p.catchingUp.Store(false)
		ctx, cancel := context.WithTimeout(loops, 30*time.Second)
		defer cancel()
		s, err := p.config.Transport.Pull(ctx, gateway)
		if err == nil {
			err = p.Accept(ctx, s, Origin{Sender: gateway.ID, Recovery: true})
		}
		if err != nil {
			failed(err)
		}
	})
}

// Tick is one keepalive round on the primary at time now: push the
// snapshot to every node, then apply what Keepalive makes of who
// answered. Other nodes do nothing.
func (p *Push) Tick(ctx context.Context, now time.Time) {
	if !p.IsPrimary() {
		return
	}
	// Judged against the map pushed, not one changed during the round:
	// a target that refused it as stopping and joined again since (its
	// restart) is not taken offline by the stale refusal (the IfMap of
	// the pushed version refuses the change).
	s := p.Current()
	failed := p.push(ctx, s, nil)
	m := s.Map
	if m == nil {
		return
	}
	p.keepalive.Refused(ProposeRound(ctx, p.keepalive.Round(now, m, failed), m.Version, p.change, p.config.Logger))
}

// AllowEmpty reports whether the primary's own changes emptied the map
// of targets or the metadata of buckets.
func (p *Push) AllowEmpty() bool { return p.emptied.Load() }
