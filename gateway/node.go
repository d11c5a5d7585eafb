package gateway

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
	"golang.org/x/sync/singleflight"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/authn"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/cluster/membership/raft"
	"github.com/aisgo/aisgo/cluster/rebalance"
	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/gateway/s3"
	"github.com/aisgo/aisgo/gateway/s3/sigv4"
	"github.com/aisgo/aisgo/internal/egress"
	"github.com/aisgo/aisgo/internal/hlc"
	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/store"
)

// Config configures a node.
type Config struct {
	// ID identifies the node in the cluster map; required and stable
	// across restarts.
	ID string
	// Role is gateway, target or all.
	Role cluster.Role
	// URL is where other nodes and clients reach this node, e.g.
	// "http://127.0.0.1:8080"; required.
	URL string
	// Store holds the objects; required for target roles.
	Store store.Store
	// Protect, when set, puts erasure coding over a target's store
	// (store/ec.Wrap): the store the node then uses and the protector its
	// jobs call. Without it, buckets cannot be erasure-coded.
	Protect func(st store.Store, peers PartPeers, opts ProtectOptions) (store.Store, Protector)
	// Remote, when set, decorates a target's store for remote buckets
	// (store/remote.New): cold GET, write-through, delete from both.
	// RemoteBuckets answers for them on every node (store/remote.Buckets).
	// Without them, s3:// buckets are refused.
	Remote        func(st store.Store) store.Store
	RemoteBuckets RemoteBuckets
	// Storage is the local storage beneath Store: mountpaths and the jobs
	// over them (store/fs); required for target roles.
	Storage store.Maintainer
	// MountpathRoots are where a mountpath may be attached at run time:
	// the configured mountpaths and the data directory.
	MountpathRoots []string
	// S3Keys are the access keys (id to secret) S3 requests must be
	// signed with; none leaves the S3 API unauthenticated.
	S3Keys map[string]string
	// S3Region is the region S3 requests are signed for (us-east-1).
	S3Region string
	// S3Domains are host names under which S3 requests name their
	// bucket by the first label (BUCKET.DOMAIN), besides "localhost" and
	// the host of URL.
	S3Domains []string
	// S3UploadTTL is how long a multipart upload may wait for its
	// Complete: the primary gateway removes older ones, with their
	// parts; zero means 7 days, negative keeps them for good.
	S3UploadTTL time.Duration
	// Meta persists the cluster map and bucket metadata; required.
	Meta membership.MetaStore
	// RaftDir holds a gateway's Raft log; required for gateway roles.
	RaftDir string
	// ElectionTimeout is how long a gateway waits for the Raft leader
	// before it stands for election; zero means 1s.
	ElectionTimeout time.Duration
	// RaftAdmitLevel is the highest protocol level of a change a leading
	// gateway writes to the log; zero means this build's (tests play a
	// newer leader with more).
	RaftAdmitLevel int
	// Secret is the cluster secret that signs every intra-cluster
	// request; required, and the same on every node.
	Secret peer.Secret
	// Auth, when set, turns user authentication on: every route but
	// /v1/health needs a token these keys verify (authn.Verifier) with
	// the permission the route needs. Intra routes never take a token.
	Auth *authn.Keys
	// NoPeerAuth turns intra-cluster authentication off, for benchmarks
	// that measure its cost only; never on a network others can reach.
	NoPeerAuth bool
	// PeerWindow is how far an intra-cluster request's timestamp may be
	// from this node's clock; zero means 30s.
	PeerWindow time.Duration
	// Join is the URL of a gateway of the cluster to join. Empty means
	// this node is the primary gateway of a new (or restarted) cluster.
	Join string
	// Rejoin, for a gateway without Join, is the URL at which the
	// cluster's other gateways answer: with its log lost, the gateway
	// joins the cluster there rather than start a new one.
	Rejoin string
	// KeepaliveInterval is how often the primary checks every node and
	// pushes the current map; zero means 2s.
	KeepaliveInterval time.Duration
	// KeepaliveTimeout is how long a node may miss keepalives before the
	// primary takes it out of the map; zero means 10s.
	KeepaliveTimeout time.Duration
	// JoinProbeWait is how long a join waits for the gateway to reach
	// this node at its URL; zero means 30s (membership.JoinProbeWait).
	JoinProbeWait time.Duration
	// RequestTimeout bounds intra-cluster control requests; zero means 30s.
	RequestTimeout time.Duration
	// Transport carries intra-cluster requests; nil means api.NewTransport().
	Transport http.RoundTripper
	// Logger receives the node's log; nil discards it.
	Logger *slog.Logger
	// WorkDir holds dSort spill files; required for target roles.
	WorkDir string
	// PickWorkDir, when set, says where new work goes now (dSort jobs,
	// appends, downloads, erasure coding's large objects): the work
	// directory follows the first mountpath enabled, away from a disk
	// disabled or detached since the start. Work begun stays where it
	// began. Empty or nil means WorkDir.
	PickWorkDir func() string
	// RecoverDirs are where WorkDir was in earlier runs (it follows the
	// first mountpath enabled): a download job saved there is resumed.
	RecoverDirs []string
	// StateDir holds the node's own state (when a target last heard from
	// the primary as a member): a directory that stays where it is, as
	// the metadata's, unlike WorkDir on the first mountpath enabled.
	// Empty means WorkDir.
	StateDir string
	// BodyTimeout is the grace a request body has to start arriving; after
	// it, the body must keep at least BodyMinRate bytes per second or the
	// request fails with 408. A buffered get-batch answer is held to the
	// same as it is read. Zero means 30s; negative disables.
	BodyTimeout time.Duration
	// BodyMinRate is the slowest a request body may arrive, in bytes per
	// second; zero means 64 KiB/s.
	BodyMinRate int64
	// RebalanceRecent is how long after a rebalance ended objects may
	// still be on their way: deletes then ask every target, and no
	// tombstone is collected until every target's run ended that long
	// ago. Zero means 10m.
	RebalanceRecent time.Duration
	// LeaveRetry is how long a leaving target that holds objects it could
	// not move waits before it tries again (a new rebalance run): the
	// cause may have gone (a name conflict removed, a receiver back).
	// Zero means 1m.
	LeaveRetry time.Duration
	// RecordsStall is how long another target may take no bytes of what
	// this one streams to it (a dSort creator its records, an erasure
	// coding restore a part; plus their length at BodyMinRate) before the
	// stream is cut; zero means 2m.
	RecordsStall time.Duration
	// DataDirs are the node's data directories: error messages sent to
	// clients show them as "<data>", the log in full.
	DataDirs []string
	// KeyMapTimeout bounds the fetch of a dSort spec's ekm_file from an
	// http(s) URL; zero means 10s.
	KeyMapTimeout time.Duration
	// KeyMapMaxSize bounds a fetched key map; zero means 64 MiB.
	KeyMapMaxSize int64
	// FetchAllowLocal lets the node's fetches of URLs users give (the
	// downloader, ht:// origins and the proxy, CONNECT tunnels, dSort key
	// maps) reach loopback and link-local addresses (a developer's
	// machine; cloud metadata is link-local); never this cluster's nodes.
	// Zero refuses them.
	FetchAllowLocal bool
	// ConnectPorts are the ports the proxy tunnels CONNECT requests to
	// (https through the gateway); nil means 443 only.
	ConnectPorts []int
	// TunnelIdle is how long a CONNECT tunnel may carry nothing either
	// way before it is closed; zero means 5 minutes.
	TunnelIdle time.Duration
	// BrowserHosts are names browsers reach the cluster by besides its
	// nodes' own hosts, IP addresses and localhost (a load balancer's).
	// With user authentication off, a page's requests under any other
	// name are refused: a site could rebind its own name to a node's
	// address and read and change everything from its visitors' browsers.
	BrowserHosts []string
	// RebalanceBatchObjects and RebalanceBatchBytes bound one request of a
	// rebalance; zero means 256 objects and 64 MiB.
	RebalanceBatchObjects int
	RebalanceBatchBytes   int64
	// TombstoneTTL is how long a delete's tombstone is kept at least;
	// zero means an hour.
	TombstoneTTL time.Duration
	// Formats reads and writes shards (archpath reads); nil means
	// formats.Default().
	Formats *formats.Registry
	// NewWorker builds a target's dSort worker over what only the node
	// has: the store its writes go through (stamped with the map version,
	// see store.Stamp) and the peer client that fetches records from other
	// targets. nil builds one with the defaults.
	NewWorker func(st store.Store, fetcher pipeline.Fetcher) (*pipeline.Worker, error)
	// NewCoordinator builds a gateway's dSort coordinator over the node's
	// view of the cluster and the peer client that reaches the targets.
	// nil builds one with the defaults.
	NewCoordinator func(cluster pipeline.Cluster, targets pipeline.Targets) *pipeline.Coordinator
	// JobProgress lists the node's jobs for /metrics, read on each
	// scrape; nil means the jobs of the node's own status.
	JobProgress func() []api.JobStatus
}

func (c *Config) withDefaults() {
	if c.KeepaliveInterval <= 0 {
		c.KeepaliveInterval = 2 * time.Second
	}
	if c.KeepaliveTimeout <= 0 {
		c.KeepaliveTimeout = 10 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.TunnelIdle <= 0 {
		c.TunnelIdle = 5 * time.Minute
	}
	if c.Transport == nil {
		c.Transport = api.NewTransport()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.keyMapDefaults()
	if c.Formats == nil {
		c.Formats = formats.Default()
	}
	if c.NewWorker == nil {
		c.NewWorker = func(st store.Store, fetcher pipeline.Fetcher) (*pipeline.Worker, error) {
			return pipeline.NewWorker(pipeline.WorkerConfig{NodeID: c.ID, Store: st, Fetcher: fetcher, Formats: c.Formats, WorkDir: c.WorkDir, PickWorkDir: c.PickWorkDir, RecoverDirs: c.RecoverDirs, Logger: c.Logger.With("node", c.ID)})
		}
	}
	if c.NewCoordinator == nil {
		c.NewCoordinator = func(cluster pipeline.Cluster, targets pipeline.Targets) *pipeline.Coordinator {
			return pipeline.NewCoordinator(pipeline.CoordinatorConfig{Cluster: cluster, Targets: targets, Formats: c.Formats, Logger: c.Logger.With("node", c.ID)})
		}
	}
	if c.TombstoneTTL <= 0 {
		c.TombstoneTTL = time.Hour
	}
	if c.S3UploadTTL == 0 {
		c.S3UploadTTL = 7 * 24 * time.Hour
	}
	if c.BodyTimeout == 0 {
		c.BodyTimeout = 30 * time.Second
	}
	if c.BodyMinRate <= 0 {
		c.BodyMinRate = 64 << 10
	}
	if c.RebalanceRecent <= 0 {
		c.RebalanceRecent = 10 * time.Minute
	}
	if c.RecordsStall <= 0 {
		c.RecordsStall = 2 * time.Minute
	}
	// Routes go after it: "http://h:8080/" would make "//v1".
	c.URL = strings.TrimRight(c.URL, "/")
	if c.LeaveRetry <= 0 {
		c.LeaveRetry = time.Minute
	}
	dirs := make([]string, 0, len(c.DataDirs))
	for _, d := range c.DataDirs {
		if abs, err := filepath.Abs(d); err == nil {
			dirs = append(dirs, abs)
		}
	}
	// The longest first: a mountpath inside the data directory is hidden
	// whole.
	slices.SortFunc(dirs, func(a, b string) int { return len(b) - len(a) })
	c.DataDirs = dirs
}

func (c *Config) validate() error {
	switch {
	case c.Auth != nil && c.NoPeerAuth:
		return errors.New("node: user authentication needs intra-cluster authentication: drop -insecure-no-peer-auth")
	case c.ID == "":
		return errors.New("node: an id is required")
	case c.URL == "":
		return errors.New("node: a public URL is required")
	case c.Meta == nil:
		return errors.New("node: a metadata store is required")
	case len(c.Secret) != peer.SecretSize:
		return fmt.Errorf("node: a cluster secret of %d bytes is required", peer.SecretSize)
	case c.Role.IsTarget() && (c.Store == nil || c.Storage == nil):
		return fmt.Errorf("node: role %s needs a store and its storage", c.Role)
	case c.Role.IsGateway() && c.RaftDir == "":
		return fmt.Errorf("node: role %s needs a directory for its Raft log", c.Role)
	case c.Role.IsTarget() && c.WorkDir == "":
		return fmt.Errorf("node: role %s needs a work directory", c.Role)
	case c.Join == "" && !c.Role.IsGateway():
		return fmt.Errorf("node: a %s must join a cluster (give the URL of a gateway)", c.Role)
	}
	return cluster.Node{ID: c.ID, Role: c.Role, URL: c.URL}.Validate()
}

// Node is one AIS-Go node: its HTTP routes and its view of the cluster.
type Node struct {
	config Config
	self   cluster.Node
	logger *slog.Logger

	// capacityRead is the store's capacity read under way, if any
	// (capacityWithin).
	capacityMu   sync.Mutex
	capacityRead *capacityRead

	// s3 serves the S3 API (gateways), under /s3 and at the root.
	s3, s3Root http.Handler
	s3Server   *s3.Server
	// peer is this node's side of intra-cluster exchanges; it signs every
	// request with the cluster secret.
	peer *peer.Client
	auth *peer.Auth
	// verifier checks user tokens; nil when auth is off.
	verifier *authn.Verifier
	// tunnels counts the proxy's open CONNECT tunnels.
	tunnels chan struct{}
	// archiveSlots holds the archive jobs this target writes at once.
	archiveSlots chan struct{}
	mux          *http.ServeMux
	// objectRoute serves /v1/objects/ outside the mux (see routes).
	objectRoute http.HandlerFunc
	formats     *formats.Registry
	// local is the store beneath erasure coding (config.Store is over it):
	// what this target itself holds. ec is the erasure coding; jobs run
	// over the stored objects. nil on gateways.
	local store.Store
	// held is the store beneath the remote buckets' write-through (over
	// erasure coding): what a rebalance moves and an eviction drops is
	// this target's copy, not the remote's object.
	held store.Store
	ec   Protector
	jobs *pipeline.Jobs
	// abortedEarly are the job ids aborted here before
	// this target knew them (the gateway still starting the job on the
	// targets one by one): their start is refused (abortedBeforeStart).
	abortedEarly struct {
		mu  sync.Mutex
		ids map[string]time.Time
	}
	// recordRewrites bounds the archpath PUTs into record-format shards
	// at once (each holds a record in memory).
	recordRewrites chan struct{}
	// zipMemory bounds the zip shards open at once for their files (each
	// holds its central directory, up to half a GiB), by
	// formats.ZipMemory: the process's, which dSort's extraction shares.
	zipMemory *semaphore.Weighted
	// ecRestarts orders the ec-resilvers a map change starts.
	ecRestarts sync.Mutex
	// leaveWaits is set while a leaving target waits for its download
	// and prefetch jobs to end before it leaves; closing, once Close
	// began (its jobs are aborted then, to resume at the next start).
	leaveWaits, closing atomic.Bool
	// stopping: the target refuses pushes, so that the keepalive takes
	// it offline (GoOffline).
	stopping atomic.Bool
	// leftRetries is set while a leaving target waits to say again that
	// it left.
	leftRetries atomic.Bool
	// moveRetries is set while a leaving target waits to try again to
	// move the objects it could not.
	moveRetries atomic.Bool
	// lruRested is when (Unix nanoseconds) LRU may run again after a run
	// that could not bring the mountpaths under lowwm.
	lruRested atomic.Int64
	// lastMember is when this target last heard from the primary as a
	// member (Unix nanoseconds; see removed.go).
	lastMember atomic.Int64
	// owed are the buckets this target owes a make-n-copies (owed.go).
	owed copiesOwed
	// settleAway holds since when each job being settled has waited for
	// its targets away (mayAbortUnheard).
	// resilverFailing are the ec-resilver failure streaks this node saw
	// (rebalance.go: ecResilversSettled).
	resilverFailing struct {
		sync.Mutex
		since  map[string]int64
		loaded bool
	}
	settleAway struct {
		sync.Mutex
		// since is when each target away of a job was first found away.
		since map[string]map[string]time.Time
		// lost is the cause of a finished job counted as having lost a
		// part, once its output's removal began: kept to the end.
		lost map[string]string
	}
	// resilverPending is set while a resilver waits for the running one
	// to end (a mountpath changed during it).
	resilverPending atomic.Bool
	// worker runs dSort on targets, coordinator on gateways; nil otherwise.
	worker      *pipeline.Worker
	coordinator *pipeline.Coordinator
	metrics     *metrics

	// control is the control plane: the map, the buckets, membership;
	// a Raft log on gateways, pushes from the primary on targets.
	control control
	// raftStream carries Raft's connections on gateways; nil on targets.
	raftStream *peer.RaftStream
	ready      atomic.Bool
	removed    atomic.Bool // a gateway taken out of the cluster
	// startDone: Start is done (ready then unless removed or
	// incompatible); readyMu orders the settles of ready.
	startDone atomic.Bool
	readyMu   sync.Mutex
	// incompatible: the cluster's log needs a newer build (a gateway of
	// a newer version leads); this one's state stopped following it.
	incompatible atomic.Pointer[error]
	// taken is the last metasync body this node took, for a push that
	// names it by its digest alone.
	taken atomic.Pointer[takenPush]
	// digestsTaken counts the pushes taken by their digest alone.
	digestsTaken atomic.Int64

	// background loops end when stop is called; bgMu orders work
	// started in the background by requests (background) with Close.
	stop context.CancelFunc
	// loops is set once, by Start, while requests may already be served.
	loops atomic.Pointer[context.Context]
	// takesPushes is set by Start once the output of dSort jobs a crash
	// interrupted is removed (or its removal tried): a map taken before
	// would serve those shards, and a rebalance could move them away
	// from the recovery.
	takesPushes atomic.Bool
	// marksNow asks settleFinishedMarks for a round now: a target back
	// from offline asks about the dSort jobs it finished before their
	// records can go (an aborted one's shards here go then).
	marksNow chan struct{}
	wg       sync.WaitGroup
	bgMu     sync.Mutex

	// rebalance moves objects on target changes; nil on gateways and
	// until Start (a push served meanwhile reads it).
	rebalance atomic.Pointer[rebalance.Manager]
	// clock stamps writes and deletes (see store.Stamp).
	clock *hlc.Clock
	// placement orders PUT commits against map changes: a commit checks
	// ownership and becomes visible under the read lock, a map change
	// swaps the map under the write lock (see putObject).
	placement sync.RWMutex
	// catchUp is set while this target may hold copies older than its
	// peers do (it was offline, or missed map versions while stopped),
	// until every target's rebalance has ended; caughtUpCheck is when
	// that was last asked (Unix ns). See catchingUp. savedMap is the
	// version of the map saved before this process started (0: none).
	catchUp       atomic.Int64 // a generation; 0: caught up
	caughtUpCheck atomic.Int64
	savedMap      atomic.Int64
	// bucketRefreshed is when a request for a bucket this target was
	// behind on last had it ask the primary (Unix ns; see awaitBucket).
	bucketRefreshed atomic.Int64
	// settle is what rebalancing last saw: the map version under which
	// every target's run had ended (0: not seen), when the question
	// that answered began, and when one was last asked.
	settle struct {
		mu              sync.Mutex
		version         int64
		answered, asked time.Time
		asking          bool                       // a question is under way
		left            map[string]map[string]bool // by bucket, the targets whose last runs left copies (runsLeftCopies)
	}
	// started is when the node was made, for its uptime.
	started time.Time
	// space is the last reading of a target's capacity (see lru.go).
	space capacityCache
	// downloads fetches the downloader's files (see download.go).
	downloads *http.Client
	// proxies are the host:port of the environment's proxies, whose
	// addresses fetches may dial (see FetchControl).
	proxies [][2]string
	// route is how fetches of URLs users give reach out (FetchRoute).
	route egress.Route
	// downloadsStarting counts the download requests between their check
	// of maxDownloadsOnce and their job's start.
	downloadsStarting atomic.Int32
	// appendLocks serialize the pieces of an append (see append.go).
	appendLocks appendLocks
	// appendStarts serializes session starts: the count of open ones and
	// the new one's file, else concurrent starts pass maxAppends.
	appendStarts sync.Mutex
	// shardLocks serialize the rewrites of a shard on its owner: a file
	// PUT into it, an archive job appending to it (archive.go).
	shardLocks shardLocks
	// tarDirs are where the files of tar shards are (tardir.go).
	tarDirs tarDirs
	// batch is what get-batch requests share (batch.go).
	batch     *batchShared
	batchOnce sync.Once
	// cluster is the native API of the cluster as this node reaches its
	// peers: one client, whose map is fetched once, not per request.
	clusterOnce sync.Once
	cluster     *api.Client
	// forClients is that client for the requests it sends for a client
	// (the reverse proxy's): counted in the metrics where they are served.
	forClientsOnce sync.Once
	forClients     *api.Client
	// catchUps shares a follower gateway's catch-up with the leader
	// among the requests that miss a bucket at once.
	catchUps singleflight.Group
}

// control is what a node needs of its control plane (cluster/membership:
// Push on targets, membership/raft on gateways).
type control interface {
	Current() membership.Snapshot
	IsPrimary() bool
	Propose(ctx context.Context, c membership.Change) (membership.Snapshot, error)
	Accept(ctx context.Context, s membership.Snapshot, from membership.Origin) error
	Refresh(ctx context.Context) error
	Start(ctx, loops context.Context) error
	Run(ctx context.Context)
	Wait()
}

// New returns a node; Start brings it into a cluster.
func New(cfg Config) (*Node, error) {
	cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	auth := peer.NewAuth(cfg.Secret, peer.Options{Window: cfg.PeerWindow, Disabled: cfg.NoPeerAuth})
	if cfg.NoPeerAuth {
		cfg.Logger.Warn("intra-cluster authentication is OFF (-insecure-no-peer-auth): any process that reaches this node can act as a node")
	}
	n := &Node{
		marksNow: make(chan struct{}, 1),
		config:   cfg,
		self:     cluster.Node{ID: cfg.ID, Role: cfg.Role, URL: cfg.URL, State: cluster.StateActive},
		logger:   cfg.Logger.With("node", cfg.ID),
		formats:  cfg.Formats,
		auth:     auth,
		clock:    hlc.New(nil),
		started:  time.Now(),
		metrics:  newMetrics(),
		// 4 × formats.MaxBufferedRecord at most.
		recordRewrites: make(chan struct{}, 4),
		zipMemory:      formats.ZipDirectories,
		archiveSlots:   make(chan struct{}, archiveWriters),
		peer:           peer.NewClient(peer.ClientConfig{Auth: auth, Node: cfg.ID, Transport: cfg.Transport, Timeout: cfg.RequestTimeout, RecordsStall: cfg.RecordsStall, UserAuth: userAuthOf(cfg.Auth)}),
	}
	if cfg.Auth != nil {
		n.verifier = n.newVerifier()
	}
	// The map saved before this process: one later on joining means
	// versions were missed while stopped (see catchUp).
	switch m, err := cfg.Meta.LoadMap(); {
	case err != nil:
		// There, but unreadable: a map of a version not known, so that
		// the node catches up as a restarted one (a new node has none).
		n.logger.Error("the saved cluster map cannot be read: the node catches up as one restarted", "err", err)
		n.savedMap.Store(1)
	case m != nil:
		n.savedMap.Store(m.Version)
	}
	// Downloads go to the internet, not to peers nor to the node's own
	// host: a client of their own, its connections checked. A file is
	// stored as its origin sends it (no gzip taken off on the way).
	n.proxies = envProxies()
	n.route = egress.Route{Proxy: n.fetchProxy(http.ProxyFromEnvironment), DialContext: n.fetchDial()}
	n.downloads = &http.Client{Transport: &http.Transport{Proxy: n.route.Proxy, MaxIdleConnsPerHost: downloadWorkers, DisableCompression: true,
		// Links spread over many hosts: idle connections bounded in all.
		MaxIdleConns: 256, TLSHandshakeTimeout: 30 * time.Second,
		DialContext:           n.route.DialContext,
		ResponseHeaderTimeout: time.Minute, IdleConnTimeout: 90 * time.Second,
		MaxResponseHeaderBytes: maxOriginHeader},
		CheckRedirect: egress.NoReferer}
	n.tunnels = make(chan struct{}, maxTunnels)
	var err error
	if n.control, err = n.newControl(); err != nil {
		return nil, err
	}
	n.jobs = pipeline.NewJobs(n.logger)
	n.jobs.SetErrorKinds(jobErrorKinds)
	if cfg.Role.IsTarget() {
		if err := pathsafe.MkdirAll(cfg.WorkDir, filepath.Join(cfg.WorkDir, "ec"), 0o755); err != nil {
			return nil, fmt.Errorf("node: work directory: %w", err)
		}
		// Its parts of cluster jobs that ended are listed after a
		// restart: one not listed is a part the restart lost. (Not a
		// summary's: frequent, large with many buckets, and asked again.)
		n.jobs.Keep(filepath.Join(n.stateDir(), jobRecordsFile), jobSummary)
		n.keepClock()
		// Erasure coding's temporary files are of requests that ended
		// with the last run (a crash leaves them).
		for _, dir := range n.workDirs() {
			if entries, err := os.ReadDir(filepath.Join(dir, "ec")); err == nil {
				for _, e := range entries {
					pathsafe.RemoveAll(dir, filepath.Join(dir, "ec", e.Name()))
				}
			}
		}
		n.local = cfg.Store
		if cfg.Protect != nil {
			n.config.Store, n.ec = cfg.Protect(cfg.Store, ecPeers{n}, ProtectOptions{
				Props: n.ecProps, WorkDir: filepath.Join(cfg.WorkDir, "ec"), PickWorkDir: n.ecWorkDir, Logger: n.logger,
				StateFile: filepath.Join(n.stateDir(), ecStateFile),
				OnRestore: func(store.Bucket, string) { n.metrics.repairs.WithLabelValues("ec").Inc() },
			})
		}
		n.held = n.config.Store
		if cfg.Remote != nil {
			n.config.Store = cfg.Remote(n.config.Store)
			// Cold GETs are stamped as writes are (see remote.Store).
			if stamped, ok := n.config.Store.(interface{ SetStamp(func() store.Stamp) }); ok {
				stamped.SetStamp(n.stamp)
			}
			// A cold GET's copy is committed where the object is this
			// node's, as a PUT is.
			if checked, ok := n.config.Store.(interface {
				SetCommitCheck(func(store.Bucket, string) (func(), error))
			}); ok {
				checked.SetCommitCheck(n.coldCommit)
			}
			// Cold GETs keep to the watermarks, as PUTs do.
			if guarded, ok := n.config.Store.(interface {
				SetSpaceCheck(func(context.Context) error)
			}); ok {
				guarded.SetSpaceCheck(n.checkSpace)
			}
		}
		// make-n-copies too: its copies fill the disks as PUTs do.
		if guarded, ok := cfg.Storage.(interface {
			SetRoomCheck(func(context.Context, string, int64) error)
		}); ok {
			guarded.SetRoomCheck(n.roomOn)
		}
		if n.worker, err = cfg.NewWorker(stampedStore{n.config.Store, n}, n.peer); err == nil {
			n.worker.SetCheckSpace(n.checkSpace) // output shards keep to the watermarks, as PUTs do
		}
		if err != nil {
			return nil, err
		}
	}
	if cfg.Role.IsGateway() {
		n.coordinator = cfg.NewCoordinator(dsortCluster{n}, n.peer)
	}
	if cfg.Role.IsGateway() {
		// S3 goes through the native API, to the owner targets.
		s3Config := s3.Config{Backend: s3Backend{Client: api.NewClientWith(cfg.URL, &http.Client{Transport: cmp.Or[http.RoundTripper](cfg.Transport, api.NewTransport())}).SetToken(""), n: n}, Hidden: s3Backend{Client: n.clusterClient(), n: n}, Keys: s3Keyring{static: sigv4.StaticKeys(cfg.S3Keys), n: n}, Region: cfg.S3Region, Domains: s3Domains(cfg.URL, cfg.S3Domains), Logger: n.logger.With("api", "s3"),
			Redact: n.redact, Reserved: reservedCustom, Gate: n.s3Gate,
			Observe: func(op string, status int, elapsed time.Duration) {
				n.metrics.s3Requests.WithLabelValues(op, strconv.Itoa(status)).Inc()
				n.metrics.s3Duration.WithLabelValues(op).Observe(elapsed.Seconds())
			}}
		if n.verifier != nil {
			s3Config.Authorize = n.authorizeS3
		}
		n.s3Server = s3.New(s3Config)
		n.s3, n.s3Root = n.s3Server.Handler("/s3"), n.s3Server.Handler("")
	}
	n.routes()
	return n, nil
}

// newControl builds the node's control plane: the Raft log on a gateway,
// the primary's pushes on a target.
func (n *Node) newControl() (control, error) {
	cfg := n.config
	var localBuckets func(context.Context) (store.BucketMetadata, error)
	var syncBuckets func(context.Context, store.BucketMetadata) error
	if cfg.Store != nil {
		localBuckets, syncBuckets = cfg.Store.Buckets, cfg.Store.SyncBuckets
		if cfg.Role.IsTarget() {
			syncBuckets = n.syncBucketsOwing
		}
	}
	if !cfg.Role.IsGateway() {
		return membership.NewPush(membership.Config{
			Self: n.self, Join: cfg.Join, Store: cfg.Meta, Transport: n.peer,
			KeepaliveInterval: cfg.KeepaliveInterval, KeepaliveTimeout: cfg.KeepaliveTimeout, JoinProbeWait: cfg.JoinProbeWait,
			Placement: &n.placement, Changed: n.mapChanged, Logger: n.logger,
			LocalBuckets: localBuckets, SyncBuckets: syncBuckets, BeforeRejoin: n.setAsideBeforeRejoin,
		})
	}
	var raftTLS *tls.Config
	if t, ok := cfg.Transport.(*http.Transport); ok {
		raftTLS = t.TLSClientConfig // the intra-cluster calls' trust
	}
	n.raftStream = peer.NewRaftStream(n.auth, cfg.ID, cfg.URL, raftTLS)
	return raft.New(raft.Config{
		Self: n.self, Join: cfg.Join, Rejoin: cfg.Rejoin, Dir: cfg.RaftDir, Transport: n.peer, Stream: n.raftStream,
		Placement: &n.placement, Changed: n.controlChanged, LocalBuckets: localBuckets, SyncBuckets: syncBuckets,
		Legacy: cfg.Meta, KeepaliveInterval: cfg.KeepaliveInterval, KeepaliveTimeout: cfg.KeepaliveTimeout, JoinProbeWait: cfg.JoinProbeWait,
		ElectionTimeout: cfg.ElectionTimeout, AdmitLevel: cfg.RaftAdmitLevel, Logger: n.logger,
		Incompatible: func(err error) {
			n.incompatible.Store(&err)
			n.settleReady()
		},
	})
}

// settleReady makes the node ready once started, unless it was removed
// or its log needs a newer build.
func (n *Node) settleReady() {
	n.readyMu.Lock()
	defer n.readyMu.Unlock()
	n.ready.Store(n.startDone.Load() && !n.removed.Load() && n.incompatible.Load() == nil)
}

// controlChanged keeps a copy of a gateway's map in its metadata store
// (the cluster it belongs to, for a later join), then reacts as any node.
func (n *Node) controlChanged(previous, next membership.Snapshot) {
	if previous.Map != nil && next.Map != nil {
		_, was := previous.Map.Node(n.config.ID)
		_, is := next.Map.Node(n.config.ID)
		switch {
		case was && !is:
			// Its state stops following the cluster: it must not serve.
			n.removed.Store(true)
			n.settleReady()
			n.logger.Warn("this gateway was removed from the cluster; it answers nothing more and can be stopped")
		case !was && is && n.removed.Load():
			// Joined again under its ID (a new raft directory replays the
			// log: the old removal, then the new join).
			n.removed.Store(false)
			n.settleReady()
			n.logger.Info("this gateway is in the cluster again")
		}
	}
	if next.Map != nil && next.Map != previous.Map {
		if err := n.config.Meta.SaveMap(next.Map); err != nil {
			n.logger.Warn("save the cluster map", "err", err)
		}
	}
	// The bucket metadata too: a gateway whose log is lost seeds a new
	// one from what it saved, and stale buckets pushed to the targets
	// would, once their version passes the targets', remove the others.
	if next.Buckets != nil && next.Buckets != previous.Buckets {
		if err := n.config.Meta.SaveBuckets(*next.Buckets); err != nil {
			n.logger.Warn("save the bucket metadata", "err", err)
		}
	}
	// And the rest a new log would start from: revoked tokens must stay
	// revoked.
	if next.Config != previous.Config || next.Tokens != previous.Tokens || next.S3Keys != previous.S3Keys {
		rest := membership.ControlState{Config: next.Config, Tokens: next.Tokens, S3Keys: next.S3Keys}
		if err := n.config.Meta.SaveControl(rest); err != nil {
			n.logger.Warn("save the control state", "err", err)
		}
	}
	n.mapChanged(previous, next)
}

// ID returns the node's id.
func (n *Node) ID() string { return n.config.ID }

// Map returns the node's current cluster map (nil before Start).
func (n *Node) Map() *cluster.Map { return n.currentMap() }

// Buckets returns the node's current bucket metadata.
func (n *Node) Buckets() store.BucketMetadata { return n.currentBuckets().Clone() }

// Start brings the node into the cluster: a primary creates or restores
// the map; any other node joins through config.Join, retrying until the
// gateway answers or ctx ends. Background loops run until Close.
func (n *Node) Start(ctx context.Context) error {
	loops, stop := context.WithCancel(context.WithoutCancel(ctx))
	n.bgMu.Lock()
	n.stop = stop
	n.loops.Store(&loops)
	n.bgMu.Unlock()
	if n.config.Role.IsTarget() {
		n.rebalance.Store(n.newRebalance(loops))
		n.wg.Go(func() { n.collectTombstones(loops) })
		n.wg.Go(func() { n.watchSpace(loops) })
		n.wg.Go(func() { n.sweepAppends(loops) })
		if resumer, ok := n.ec.(interface{ Resume(context.Context) error }); ok {
			if err := resumer.Resume(loops); err != nil {
				// Not a reason to stay down: a holder's next sweep finds
				// most of what they were.
				n.logger.Warn("erasure coding's kept deletes of parts are not resumed", "err", err)
			}
		}
	}
	// The output of dSort jobs a crash interrupted goes before the node
	// serves; what needs the cluster (an erasure-coded bucket's parts)
	// goes as soon as it has joined.
	recovered := true
	if n.worker != nil {
		if err := n.worker.Recover(ctx); err != nil {
			recovered = false
			n.logger.Info("recover dsort jobs: some output of interrupted jobs is removed once the node has joined", "err", err)
		}
	}
	n.takesPushes.Store(true)
	if n.config.Role.IsTarget() {
		if err := n.setAsideIfRemoved(ctx); err != nil {
			return err
		}
		n.wg.Go(func() { n.keepMembership(loops) })
	}
	if err := n.control.Start(ctx, loops); err != nil {
		return err
	}
	n.wg.Go(func() { n.control.Run(loops) })
	if !recovered {
		n.wg.Go(func() { n.retryRecover(loops) })
	}
	if n.s3Server != nil && n.config.S3UploadTTL > 0 {
		n.wg.Go(func() { n.sweepUploads(loops) })
	}
	if n.coordinator != nil {
		// Taken before the gateway serves: the jobs it coordinated
		// before it stopped.
		orphans := n.orphanedJobs()
		n.wg.Go(func() { n.watchJobs(loops, orphans) })
	}
	if n.config.Role.IsTarget() {
		n.resumeDownloads(loops)
		n.resilverReturning()
		if n.worker != nil {
			n.wg.Go(func() { n.worker.RemoveOrphans(loops) })
			n.wg.Go(func() { n.settleFinishedMarks(loops) })
		}
	}
	// Not ready if removed, or on a log this build cannot follow, found
	// as it caught up.
	n.startDone.Store(true)
	n.settleReady()
	if n.config.Role.IsTarget() && !n.rebalancer().Running() {
		// A decommission that goes on across a restart: the rebalance of
		// the join may have ended before the downloads resumed (one still
		// running asks when it ends).
		n.leftIfLeaving(loops, n.currentMap())
	}
	n.logger.Info("node started", "role", n.config.Role, "url", n.config.URL, "map_version", n.currentMap().Version, "primary", n.currentMap().Primary)
	return nil
}

// StepDown hands the control plane's lead to another gateway when this
// one has it, before the node stops serving (see raft.Control.StepDown).
func (n *Node) StepDown() error {
	if c, ok := n.control.(interface{ StepDown() error }); ok {
		return c.StepDown()
	}
	return nil
}

// GoOffline has a stopping target taken offline in the cluster map
// before its port closes: it refuses the primary's pushes from now on
// (the keepalive takes it offline at once for that) and returns once
// the primary's map shows it offline, or ctx ends. Meanwhile it serves
// on: the clients sent to it until then are answered, and those after
// go to the other targets. Other nodes return at once.
func (n *Node) GoOffline(ctx context.Context) error {
	if !n.config.Role.IsTarget() || n.config.Role.IsGateway() {
		return nil
	}
	n.stopping.Store(true)
	m := n.currentMap()
	if m == nil {
		return nil
	}
	if self, ok := m.Node(n.config.ID); !ok || self.State == cluster.StateOffline {
		return nil
	}
	// The primary first; the other gateways when it does not answer (a
	// leader changed meanwhile, this node refusing the pushes).
	gateways := m.Gateways()
	slices.SortStableFunc(gateways, func(a, b cluster.Node) int {
		switch m.Primary {
		case a.ID:
			return -1
		case b.ID:
			return 1
		}
		return 0
	})
	// A primary of this build takes it offline at its next round (a
	// round waits for its slowest push, PushTimeout at most), or the one
	// after when the map changed meanwhile; one of an older build takes
	// the refusal for a miss and waits out its keepalive timeout, which
	// is not worth more of the stop's time.
	giveUp := time.Now().Add(2*n.config.KeepaliveInterval + membership.PushTimeout + time.Second)
	silent := 0
	for {
		if time.Now().After(giveUp) {
			return errors.New("the primary did not take this target offline within two keepalive rounds (a gateway of an older build?)")
		}
		answered := false
		for _, g := range gateways {
			now, err := n.peer.PullMap(ctx, g)
			if err != nil {
				continue
			}
			answered = true
			if self, in := now.Node(n.config.ID); !in || self.State == cluster.StateOffline {
				return nil
			}
			break
		}
		// No gateway (the cluster stopping as a whole, gateways first):
		// no one to send clients here either.
		if silent++; answered {
			silent = 0
		}
		if silent == 3 {
			return errors.New("no gateway answers")
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Close stops the node's background loops and aborts the dSort jobs it
// coordinates or runs.
func (n *Node) Close() error {
	n.bgMu.Lock()
	n.closing.Store(true) // no background work starts after
	n.bgMu.Unlock()
	if n.coordinator != nil {
		n.coordinator.Close()
	}
	n.jobs.Close()
	if n.worker != nil {
		if err := n.worker.Close(); err != nil {
			n.logger.Warn("close dsort jobs", "err", err)
		}
	}
	if n.stop != nil {
		n.stop()
	}
	n.wg.Wait()
	if closer, ok := n.ec.(io.Closer); ok {
		closer.Close() // its retries of deletes end
	}
	if closer, ok := n.control.(io.Closer); ok {
		if err := closer.Close(); err != nil {
			n.logger.Warn("close the control plane", "err", err)
		}
	}
	if n.raftStream != nil {
		n.raftStream.Close()
	}
	n.control.Wait()
	if r := n.rebalancer(); r != nil {
		r.Wait()
	}
	return nil
}

// loopsContext is the context of the node's background loops: nil
// before Start, done once the node closes.
func (n *Node) loopsContext() context.Context {
	if loops := n.loops.Load(); loops != nil {
		return *loops
	}
	return nil
}

// background runs fn as the node's background work, which Close waits
// for; false (fn not run) before Start or once the node closes.
func (n *Node) background(fn func()) bool {
	n.bgMu.Lock()
	defer n.bgMu.Unlock()
	if n.closing.Load() || n.loopsContext() == nil {
		return false
	}
	n.wg.Go(fn)
	return true
}

// retryRecover runs the dSort recovery again until it removes everything
// the interrupted jobs' journals name.
func (n *Node) retryRecover(ctx context.Context) {
	ticker := time.NewTicker(recoverRetry)
	defer ticker.Stop()
	for {
		// Not a reason to stay down (a remote bucket's remote away):
		// the journals stay, and are tried again meanwhile.
		err := n.worker.Recover(ctx)
		if err == nil {
			n.worker.RemoveOrphans(ctx)
			n.logger.Info("recover dsort jobs: done")
			return
		}
		n.logger.Warn("recover dsort jobs: some output of interrupted jobs is not removed yet: tried again every 30 s", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// recoverRetry spaces the tries of a dSort recovery that failed at start.
const recoverRetry = 30 * time.Second
