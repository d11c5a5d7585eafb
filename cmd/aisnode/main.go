package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/cluster/rebalance"
	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/internal/atomicfile"
	"github.com/aisgo/aisgo/internal/egress"
	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/dryrun"
	"github.com/aisgo/aisgo/store/ec"
	"github.com/aisgo/aisgo/store/fs"
	"github.com/aisgo/aisgo/store/remote"
	"github.com/aisgo/aisgo/store/remote/ht"
	remotes3 "github.com/aisgo/aisgo/store/remote/s3"
)

// config is the node's configuration: defaults, then the -config file,
// then flags given on the command line.
type config struct {
	Role              string        `yaml:"role"`
	Host              string        `yaml:"host"`
	Port              int           `yaml:"port"`
	URL               string        `yaml:"url"`
	ID                string        `yaml:"id"`
	Data              string        `yaml:"data"`
	Mountpaths        []string      `yaml:"mountpaths"`
	Join              string        `yaml:"join"`
	Rejoin            string        `yaml:"rejoin"`
	SecretFile        string        `yaml:"secret_file"`
	KeepaliveInterval time.Duration `yaml:"keepalive_interval"`
	KeepaliveTimeout  time.Duration `yaml:"keepalive_timeout"`
	JoinProbeWait     time.Duration `yaml:"join_probe_wait"` // 0: 30s
	NoSync            bool          `yaml:"no_sync"`
	DryRun            bool          `yaml:"dry_run"`
	// NoPeerAuth is for benchmarks of what authentication costs only.
	NoPeerAuth bool   `yaml:"insecure_no_peer_auth"`
	LogLevel   string `yaml:"log_level"`
	StatsD     string `yaml:"statsd"`
	// FetchAllowLocal lets the fetches of URLs users give (the
	// downloader, ht:// origins and the proxy, CONNECT tunnels, dSort key
	// maps) reach loopback and link-local addresses (a developer's
	// machine; cloud metadata is link-local); off by default.
	FetchAllowLocal bool `yaml:"fetch_allow_local"`
	// EKMAllowLocal is FetchAllowLocal's former name, still read.
	EKMAllowLocal bool `yaml:"ekm_allow_local"`
	// ProxyConnectPorts are the ports the proxy tunnels https (CONNECT)
	// to; empty means 443.
	ProxyConnectPorts []int `yaml:"proxy_connect_ports"`
	// BrowserHosts are names browsers reach the cluster by besides its
	// nodes' hosts, IPs and localhost (with authentication off, pages
	// under other names are refused: DNS rebinding).
	BrowserHosts []string  `yaml:"browser_hosts"`
	Limits       limits    `yaml:"limits"`
	S3           s3        `yaml:"s3"`
	TLS          tlsConfig `yaml:"tls"`
	// AuthKey turns user authentication on: the file of the HS256
	// secret or the RSA public key (PEM) tokens are verified with; for
	// -role authn, of the secret or RSA private key they are signed with.
	AuthKey string `yaml:"auth_key"`
	// TokenTTL is the AuthN service's default token lifetime (24h).
	TokenTTL time.Duration `yaml:"token_ttl"`
}

// tlsConfig turns HTTPS on for every listener of the node (its port and
// the S3 port) and says how the node checks its peers.
type tlsConfig struct {
	// Cert and Key are the node's PEM certificate (chain) and key; both
	// or neither. With them the node serves HTTPS only.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ClientAuth is none (the default), request, require, or verify:
	// require a certificate signed by ClientCA (AIStore's client_auth_tls).
	ClientAuth string `yaml:"client_auth"`
	// ClientCA holds the CAs client certificates are verified against;
	// giving it makes verify the default ClientAuth.
	ClientCA string `yaml:"client_ca"`
	// CA holds the CAs the node trusts when it calls other nodes; empty
	// means the system's, plus the node's own certificate when it is
	// self-signed.
	CA string `yaml:"ca"`
	// SkipVerify accepts any certificate from other nodes: development
	// only.
	SkipVerify bool `yaml:"skip_verify"`
}

// s3 configures a gateway's S3 API.
type s3 struct {
	// Port, when set, serves S3 at the root of a listener of its own
	// (for clients that cannot take a path in their endpoint).
	Port int `yaml:"port"`
	// Keys map access key ids to secrets; AIS_S3_ACCESS_KEY and
	// AIS_S3_SECRET_KEY add one more. None: requests are not checked.
	Keys map[string]string `yaml:"keys"`
	// Region is the one requests are signed for (us-east-1); a request
	// signed for another is refused, as S3 does.
	Region string `yaml:"region"`
	// Domains are the host names under which a request's first label
	// names its bucket (virtual-hosted style: BUCKET.DOMAIN); "localhost"
	// and the host of the node's URL always are.
	Domains []string `yaml:"domains"`
	// UploadTTL is how long a multipart upload may wait for its Complete
	// (7 days; 1m at least): older ones are removed with their parts;
	// -1s keeps them.
	UploadTTL time.Duration `yaml:"upload_ttl"`
}

// limits are the node's tunables; zero means each one's default.
type limits struct {
	// RequestTimeout bounds an intra-cluster control call (30s).
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// BodyTimeout and BodyMinRate: a request body must start within the
	// timeout and keep the rate, and so must a buffered get-batch answer
	// be read (30s, 64 KiB/s; a negative timeout lifts the rule).
	BodyTimeout time.Duration `yaml:"body_timeout"`
	BodyMinRate int64         `yaml:"body_min_rate"`
	// RebalanceBatchObjects and RebalanceBatchBytes bound one request of
	// a rebalance (256, 64 MiB).
	RebalanceBatchObjects int   `yaml:"rebalance_batch_objects"`
	RebalanceBatchBytes   int64 `yaml:"rebalance_batch_bytes"`
	// TombstoneTTL is how long a delete's tombstone is kept at least (1h;
	// 1s at least).
	TombstoneTTL time.Duration `yaml:"tombstone_ttl"`
	// DsortIdleTimeout aborts a dSort job whose coordinator has been
	// silent that long (10m; 3m at least: the coordinator calls every
	// minute).
	DsortIdleTimeout time.Duration `yaml:"dsort_idle_timeout"`
	// ElectionTimeout is how long a gateway waits for the Raft leader
	// before it stands for election (1s).
	ElectionTimeout time.Duration `yaml:"election_timeout"`
	// HealthInterval is how often every mountpath's health is checked,
	// besides after errors (1m).
	HealthInterval time.Duration `yaml:"health_interval"`
}

// protect puts erasure coding over a target's store.
func protect(st store.Store, peers gateway.PartPeers, opts gateway.ProtectOptions) (store.Store, gateway.Protector) {
	coded := ec.Wrap(st, peers, ec.Options{Props: opts.Props, WorkDir: opts.WorkDir, PickWorkDir: opts.PickWorkDir, OnRestore: opts.OnRestore, Logger: opts.Logger, StateFile: opts.StateFile})
	return coded, coded
}

func defaults() config {
	return config{Role: "all", Host: "127.0.0.1", Port: 8080, Data: "ais-data", LogLevel: "info"}
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "aisnode:", err)
		os.Exit(1)
	}
}

func parse(args []string) (config, error) {
	cfg := defaults()
	flags := flag.NewFlagSet("aisnode", flag.ContinueOnError)
	flags.Usage = func() {
		fmt.Fprintf(flags.Output(), "Usage: aisnode [flags]\n\nRuns one AIS-Go node; with no flags, an embedded gateway+target on :8080 with data in ./ais-data.\n\nFlags:\n")
		flags.PrintDefaults()
	}
	configFile := flags.String("config", "", "YAML or JSON config `file`; flags override it")
	role := flags.String("role", cfg.Role, "node role: gateway, target, all, or authn (the AuthN service)")
	host := flags.String("host", cfg.Host, "address to listen on; 0.0.0.0 for every interface")
	port := flags.Int("port", cfg.Port, "port to listen on")
	publicURL := flags.String("url", "", "URL other nodes and clients reach this node at (default http://HOST:PORT, https:// with -tls-cert, HOST 127.0.0.1 when empty)")
	id := flags.String("id", "", "node id, kept in DATA/meta/node-id: later starts are this node (default: one made up at the first start)")
	data := flags.String("data", cfg.Data, "data `directory`: metadata, and the mountpath when -mountpaths is not given")
	mountpaths := flags.String("mountpaths", "", "comma-separated mountpath `directories` (default DATA/mp1)")
	join := flags.String("join", "", "`URL` of a gateway of the cluster to join (default: start as primary)")
	rejoin := flags.String("rejoin", "", "gateways started without -join: `URL` at which the cluster's ready gateways answer (a Service); a gateway that lost its log (its volume) joins the cluster found there rather than start a second one, starts a new one when nothing answers, and refuses to start when an answer there is not a map (another secret)")
	secretFile := flags.String("secret-file", "", "`file` with the cluster secret (default: $AIS_CLUSTER_SECRET, else DATA/meta/cluster-secret, created by a new cluster's first node); it takes precedence over $AIS_CLUSTER_SECRET")
	keepalive := flags.Duration("keepalive", 0, "primary's keepalive interval (default 2s)")
	keepaliveTimeout := flags.Duration("keepalive-timeout", 0, "silence (of three rounds at least) after which the primary takes a target offline or removes a gateway (default 10s)")
	joinProbeWait := flags.Duration("join-probe-wait", 0, "how long a joining node waits for the gateway to reach it at its URL (its name not in DNS yet) before it gives up naming the URL (default 30s)")
	electionTimeout := flags.Duration("election-timeout", 0, "gateways: how long a follower waits for the Raft leader before it stands for election (default 1s)")
	noSync := flags.Bool("no-sync", false, "skip fsync of objects (faster; a power loss may lose recent writes)")
	fetchAllowLocal := flags.Bool("fetch-allow-local", false, "let the downloader, the proxy, ht:// origins and dSort key maps fetch from loopback and link-local addresses (a developer's machine)")
	noPeerAuth := flags.Bool("insecure-no-peer-auth", false, "benchmarks only: turn intra-cluster authentication off, to measure what it costs; any process that reaches the node can then act as a node")
	dryRun := flags.Bool("dry-run", false, "benchmarks only: discard PUT data and serve GETs from memory, to measure the network without the disk")
	logLevel := flags.String("log-level", cfg.LogLevel, "log level: debug, info, warn or error")
	statsd := flags.String("statsd", "", "also push metrics to a StatsD server at UDP `host:port` every 5s")
	s3Port := flags.Int("s3-port", 0, "gateways: also serve the S3 API at the root of this `port` (it is always at /s3 on -port)")
	connectPorts := flags.String("proxy-connect-ports", "", "gateways: comma-separated `ports` the proxy tunnels https (CONNECT) to (default 443)")
	authKey := flags.String("auth-key", "", "turn user authentication on: `file` of the HS256 secret or RSA public key (PEM) tokens are checked with (default $"+envAuthnSecret+"); for -role authn, the secret or RSA private key they are signed with")
	tokenTTL := flags.Duration("token-ttl", 0, "-role authn: a token's default lifetime (default 24h)")
	tlsCert := flags.String("tls-cert", "", "PEM certificate `file`: serve HTTPS on every port (with -tls-key)")
	tlsKey := flags.String("tls-key", "", "PEM private key `file` of -tls-cert")
	tlsClientAuth := flags.String("tls-client-auth", "", "client certificates: none, request, require, or verify (require one signed by -tls-client-ca); default none, verify with -tls-client-ca")
	tlsClientCA := flags.String("tls-client-ca", "", "PEM `file` of the CAs client certificates are verified against")
	tlsCA := flags.String("tls-ca", "", "PEM `file` of the CAs trusted when calling other nodes (default: the system's, plus -tls-cert when self-signed)")
	tlsSkipVerify := flags.Bool("tls-skip-verify", false, "development only: accept any certificate from other nodes")
	if err := flags.Parse(args); err != nil {
		return cfg, err
	}
	if flags.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q (see -help)", flags.Args())
	}
	if *configFile != "" {
		data, err := os.ReadFile(*configFile)
		if err != nil {
			return cfg, err
		}
		// A misspelled field is an error, not a silent default.
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return cfg, fmt.Errorf("config %s: %w", *configFile, err)
		}
		// The former name folds into the new one here, before the flags:
		// -fetch-allow-local=false turns both off.
		if cfg.EKMAllowLocal {
			var keys map[string]any
			yaml.Unmarshal(data, &keys) // (decoded above)
			if _, set := keys["fetch_allow_local"]; set && !cfg.FetchAllowLocal {
				return cfg, fmt.Errorf("config %s: ekm_allow_local is true and fetch_allow_local (its new name) false: set one", *configFile)
			}
			cfg.FetchAllowLocal, cfg.EKMAllowLocal = true, false
		}
	}
	var badPorts error
	flags.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "role":
			cfg.Role = *role
		case "host":
			cfg.Host = *host
		case "port":
			cfg.Port = *port
		case "url":
			cfg.URL = *publicURL
		case "id":
			cfg.ID = *id
		case "data":
			cfg.Data = *data
		case "mountpaths":
			cfg.Mountpaths = strings.Split(*mountpaths, ",")
		case "join":
			cfg.Join = *join
		case "rejoin":
			cfg.Rejoin = *rejoin
		case "secret-file":
			cfg.SecretFile = *secretFile
		case "keepalive":
			cfg.KeepaliveInterval = *keepalive
		case "keepalive-timeout":
			cfg.KeepaliveTimeout = *keepaliveTimeout
		case "join-probe-wait":
			cfg.JoinProbeWait = *joinProbeWait
		case "election-timeout":
			cfg.Limits.ElectionTimeout = *electionTimeout
		case "no-sync":
			cfg.NoSync = *noSync
		case "fetch-allow-local":
			cfg.FetchAllowLocal = *fetchAllowLocal
		case "dry-run":
			cfg.DryRun = *dryRun
		case "insecure-no-peer-auth":
			cfg.NoPeerAuth = *noPeerAuth
		case "log-level":
			cfg.LogLevel = *logLevel
		case "statsd":
			cfg.StatsD = *statsd
		case "proxy-connect-ports":
			cfg.ProxyConnectPorts = nil
			for p := range strings.SplitSeq(*connectPorts, ",") {
				port, err := strconv.Atoi(strings.TrimSpace(p))
				if err != nil || port <= 0 || port > 65535 {
					badPorts = fmt.Errorf("-proxy-connect-ports: %q is not a port", p)
					break
				}
				cfg.ProxyConnectPorts = append(cfg.ProxyConnectPorts, port)
			}
		case "auth-key":
			cfg.AuthKey = *authKey
		case "token-ttl":
			cfg.TokenTTL = *tokenTTL
		case "s3-port":
			cfg.S3.Port = *s3Port
		case "tls-cert":
			cfg.TLS.Cert = *tlsCert
		case "tls-key":
			cfg.TLS.Key = *tlsKey
		case "tls-client-auth":
			cfg.TLS.ClientAuth = *tlsClientAuth
		case "tls-client-ca":
			cfg.TLS.ClientCA = *tlsClientCA
		case "tls-ca":
			cfg.TLS.CA = *tlsCA
		case "tls-skip-verify":
			cfg.TLS.SkipVerify = *tlsSkipVerify
		}
	})
	if badPorts != nil {
		return cfg, badPorts
	}
	// From the config file too: an empty list is the default (443), not
	// "no port", and each must be a port.
	if len(cfg.ProxyConnectPorts) == 0 {
		cfg.ProxyConnectPorts = nil
	}
	for _, port := range cfg.ProxyConnectPorts {
		if port <= 0 || port > 65535 {
			return cfg, fmt.Errorf("proxy_connect_ports: %d is not a port", port)
		}
	}
	if access, secret := os.Getenv("AIS_S3_ACCESS_KEY"), os.Getenv("AIS_S3_SECRET_KEY"); access != "" || secret != "" {
		if access == "" || secret == "" {
			return cfg, errors.New("AIS_S3_ACCESS_KEY and AIS_S3_SECRET_KEY go together: one is set, the other empty")
		}
		if cfg.S3.Keys == nil {
			cfg.S3.Keys = map[string]string{}
		}
		cfg.S3.Keys[access] = secret
	}
	for access, secret := range cfg.S3.Keys {
		// An empty secret signs with a key anyone can make: the S3 API
		// would be open to whoever sees the access key (in every
		// request's Authorization header).
		if strings.TrimSpace(access) == "" || secret == "" {
			return cfg, fmt.Errorf("s3.keys: access key %q has an empty secret, or is empty: each key needs both", access)
		}
	}
	if strings.TrimSpace(cfg.Data) == "" {
		// Empty (a variable unset in -data "$DIR"), it would be the
		// working directory: the node's metadata and mountpaths there.
		return cfg, errors.New("data: empty; give the node's data directory")
	}
	if cfg.S3.Port < 0 || cfg.S3.Port > 65535 || cfg.S3.Port != 0 && cfg.S3.Port == cfg.Port {
		return cfg, fmt.Errorf("s3 port %d: out of range or the node's own port", cfg.S3.Port)
	}
	if _, err := cluster.ParseRole(cfg.Role); err != nil && cfg.Role != roleAuthn {
		return cfg, fmt.Errorf("%w, or %s for the AuthN service", err, roleAuthn)
	}
	// Checked before anything is kept under it: a bad id kept in the
	// data directory and stamped on the disks would refuse the right one.
	if cfg.ID != "" {
		if err := pathsafe.Segment("-id", cfg.ID); err != nil {
			return cfg, err
		}
	}
	if cfg.Port <= 0 || cfg.Port > 65535 {
		return cfg, fmt.Errorf("port %d is out of range", cfg.Port)
	}
	for name, d := range map[string]time.Duration{"keepalive": cfg.KeepaliveInterval, "keepalive-timeout": cfg.KeepaliveTimeout, "join-probe-wait": cfg.JoinProbeWait,
		"limits.health_interval": cfg.Limits.HealthInterval, "limits.request_timeout": cfg.Limits.RequestTimeout,
		"limits.tombstone_ttl": cfg.Limits.TombstoneTTL, "limits.dsort_idle_timeout": cfg.Limits.DsortIdleTimeout,
		"election-timeout": cfg.Limits.ElectionTimeout, "token-ttl": cfg.TokenTTL} {
		if d < 0 {
			return cfg, fmt.Errorf("%s %s: a duration cannot be negative (0 is the default)", name, d)
		}
	}
	// Shorter, deletes would be forgotten before a rebalance could carry
	// them, and uploads swept while their parts are still coming.
	if d := cfg.Limits.TombstoneTTL; d != 0 && d < time.Second {
		return cfg, fmt.Errorf("limits.tombstone_ttl %s: want 1s or more (0 is the default, 1h)", d)
	}
	// A coordinator calls its running jobs' targets every minute: a
	// shorter silence would abort healthy jobs between two calls.
	if d := cfg.Limits.DsortIdleTimeout; d != 0 && d < 3*time.Minute {
		return cfg, fmt.Errorf("limits.dsort_idle_timeout %s: want 3m or more (0 is the default, 10m): a coordinator calls its jobs' targets every minute", d)
	}
	// A domain that can never match a Host (a port, a scheme, a
	// wildcard) would read every virtual-hosted request as path-style:
	// its key's first segment taken for the bucket, silently.
	for i, d := range cfg.S3.Domains {
		d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
		if d == "" || strings.HasPrefix(d, ".") || strings.ContainsAny(d, ":/*@ ") {
			return cfg, fmt.Errorf("s3.domains[%d] %q: want a bare host name, as clients put before their buckets (no port, scheme or wildcard)", i, cfg.S3.Domains[i])
		}
		cfg.S3.Domains[i] = d
	}
	if d := cfg.S3.UploadTTL; d > 0 && d < time.Minute {
		return cfg, fmt.Errorf("s3.upload_ttl %s: want 1m or more (0 is the default, 168h; a negative one keeps uploads)", d)
	}
	if cfg.Limits.BodyMinRate < 0 || cfg.Limits.RebalanceBatchBytes < 0 {
		return cfg, fmt.Errorf("limits.body_min_rate %d, limits.rebalance_batch_bytes %d: neither can be negative (0 is the default)", cfg.Limits.BodyMinRate, cfg.Limits.RebalanceBatchBytes)
	}
	// Raft's leader lease is half of it and must be 5 ms at least.
	if d := cfg.Limits.ElectionTimeout; d != 0 && d < 10*time.Millisecond {
		return cfg, fmt.Errorf("election-timeout %s: want 10ms or more (0 is the default, 1s)", d)
	}
	// A login's own expires_in is capped at 30 days: the default is too;
	// and at least a minute, as a login asks it (a token expired before
	// it is used, and revocation pushes without end).
	if cfg.TokenTTL > 30*24*time.Hour || cfg.TokenTTL > 0 && cfg.TokenTTL < time.Minute {
		return cfg, fmt.Errorf("token-ttl %s: want 1m to 720h (30 days; 0 is the default, 24h)", cfg.TokenTTL)
	}
	if n := cfg.Limits.RebalanceBatchObjects; n < 0 || n > rebalance.MaxBatchObjects {
		// The receipts of a longer batch may not fit the answer its
		// sender reads: every batch would fail.
		return cfg, fmt.Errorf("limits.rebalance_batch_objects %d: want 0 (the default) to %d", n, rebalance.MaxBatchObjects)
	}
	for i, mp := range cfg.Mountpaths {
		// "$MPS" unset, or a stray comma: an empty entry would be the
		// working directory.
		if cfg.Mountpaths[i] = strings.TrimSpace(mp); cfg.Mountpaths[i] == "" {
			return cfg, fmt.Errorf("mountpaths %q: entry %d is empty", strings.Join(cfg.Mountpaths, ","), i+1)
		}
	}
	if len(cfg.Mountpaths) == 0 {
		cfg.Mountpaths = []string{filepath.Join(cfg.Data, "mp1")}
	}
	// Absolute from here on: a relative data directory beside absolute
	// mountpaths (or the other way) compared as other paths, and the
	// metadata could sit in a bucket's directory (a destroy took it).
	abs, err := filepath.Abs(cfg.Data)
	if err != nil {
		return cfg, fmt.Errorf("data %q: %w", cfg.Data, err)
	}
	cfg.Data = abs
	for i, mp := range cfg.Mountpaths {
		if cfg.Mountpaths[i], err = filepath.Abs(mp); err != nil {
			return cfg, fmt.Errorf("mountpath %q: %w", mp, err)
		}
	}
	// A timeout within two rounds takes a target offline for one missed
	// round (the defaults are gateway.Config's).
	if interval, timeout := cmp.Or(cfg.KeepaliveInterval, 2*time.Second), cmp.Or(cfg.KeepaliveTimeout, 10*time.Second); timeout < 2*interval {
		return cfg, fmt.Errorf("keepalive-timeout %s: want at least twice the keepalive interval %s, or one missed round takes a target offline", timeout, interval)
	}
	if err := cfg.TLS.check(); err != nil {
		return cfg, err
	}
	// Nodes put their routes after it: "http://h:8080/" would make "//v1".
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	cfg.Join = strings.TrimRight(cfg.Join, "/")
	cfg.Rejoin = strings.TrimRight(cfg.Rejoin, "/")
	if cfg.URL == "" {
		h := cfg.Host
		if h == "" || h == "0.0.0.0" || h == "::" {
			h = "127.0.0.1"
		}
		scheme := "http://"
		if cfg.TLS.Cert != "" {
			scheme = "https://"
		}
		cfg.URL = scheme + net.JoinHostPort(h, strconv.Itoa(cfg.Port))
	}
	if u, err := neturl.Parse(cfg.URL); err == nil {
		switch scheme := strings.ToLower(u.Scheme); {
		case cfg.TLS.Cert != "" && scheme == "http":
			return cfg, fmt.Errorf("-url %s is http://, but with -tls-cert the node serves HTTPS only", cfg.URL)
		case cfg.TLS.Cert == "" && scheme == "https":
			// Peers and clients would speak TLS to a plain port.
			return cfg, fmt.Errorf("-url %s is https://, but without -tls-cert the node serves plain HTTP: give -tls-cert and -tls-key, or an http:// URL", cfg.URL)
		}
	}
	// Here, before anything is written to the data directory.
	if role, err := cluster.ParseRole(cfg.Role); err == nil && !role.IsGateway() && cfg.Join == "" {
		return cfg, fmt.Errorf("role %s must join a cluster: give -join with the URL of a gateway", cfg.Role)
	}
	if cfg.Rejoin != "" {
		if role, err := cluster.ParseRole(cfg.Role); err == nil && !role.IsGateway() {
			return cfg, fmt.Errorf("-rejoin is for gateways (role %s joins with -join)", cfg.Role)
		}
		if cfg.Join != "" {
			return cfg, fmt.Errorf("-rejoin is for the gateway started without -join: with -join %s it joins already", cfg.Join)
		}
		if u, err := neturl.Parse(cfg.Rejoin); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return cfg, fmt.Errorf("-rejoin %q: want the http(s):// URL at which the cluster's gateways answer", cfg.Rejoin)
		}
	}

	return cfg, nil
}

// clientAuth maps the client_auth values to crypto/tls's.
var clientAuth = map[string]tls.ClientAuthType{
	"none":    tls.NoClientCert,
	"request": tls.RequestClientCert,
	"require": tls.RequireAnyClientCert,
	"verify":  tls.RequireAndVerifyClientCert,
}

// check validates the settings that go together, settling ClientAuth's
// default; the files are read by load.
func (c *tlsConfig) check() error {
	if c.Cert == "" && c.Key != "" {
		return fmt.Errorf("-tls-key %s needs -tls-cert FILE (config tls.cert): the certificate is missing", c.Key)
	}
	if c.Cert != "" && c.Key == "" {
		return fmt.Errorf("-tls-cert %s needs -tls-key FILE (config tls.key): the key is missing", c.Cert)
	}
	if c.ClientAuth == "" {
		c.ClientAuth = "none"
		if c.ClientCA != "" {
			c.ClientAuth = "verify"
		}
	}
	if _, ok := clientAuth[c.ClientAuth]; !ok {
		return fmt.Errorf("-tls-client-auth %q: want none, request, require or verify", c.ClientAuth)
	}
	if c.Cert == "" && (c.ClientAuth != "none" || c.ClientCA != "") {
		return errors.New("-tls-client-auth and -tls-client-ca need -tls-cert and -tls-key: client certificates are asked for over HTTPS only")
	}
	if c.ClientAuth == "verify" && c.ClientCA == "" {
		return errors.New("-tls-client-auth verify needs -tls-client-ca FILE, the CAs to verify client certificates against")
	}
	if c.ClientCA != "" && c.ClientAuth != "verify" {
		return fmt.Errorf("-tls-client-ca is used by -tls-client-auth verify only, not %s", c.ClientAuth)
	}
	return nil
}

// load reads the files: the configuration of the node's listeners (nil
// without a certificate) and that of its calls to other nodes, which show
// the node's certificate to peers that verify clients. Warnings go to
// logger.
func (c tlsConfig) load(logger *slog.Logger, url string) (server, client *tls.Config, err error) {
	client, err = api.TLSConfig{CAFile: c.CA, SkipVerify: c.SkipVerify}.Config()
	if err != nil {
		return nil, nil, err
	}
	if c.SkipVerify {
		logger.Warn("TLS: the certificates of other nodes are not verified (-tls-skip-verify): for development only")
	}
	if c.Cert == "" {
		return nil, client, nil
	}
	pair, err := api.LoadKeyPair(c.Cert, c.Key)
	if err != nil {
		return nil, nil, err
	}
	server = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
		ClientAuth:   clientAuth[c.ClientAuth],
		// HTTP/1.1 only, as over plain HTTP: Raft's connections are
		// hijacked upgrades, which HTTP/2 has not.
		NextProtos: []string{"http/1.1"},
	}
	leaf := pair.Leaf
	if c.ClientCA != "" {
		if server.ClientCAs, err = api.LoadCertPool(c.ClientCA); err != nil {
			return nil, nil, err
		}
		// The node shows its certificate to the peers it calls, which
		// verify it as this node does: one that fails here would fail
		// every call between nodes while each node starts fine.
		intermediates := x509.NewCertPool()
		for _, der := range pair.Certificate[1:] {
			if cert, err := x509.ParseCertificate(der); err == nil {
				intermediates.AddCert(cert)
			}
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: server.ClientCAs, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			return nil, nil, fmt.Errorf("-tls-cert %s does not pass as a client certificate against -tls-client-ca %s, and the node shows it to the peers it calls: %w", c.Cert, c.ClientCA, err)
		}
	}
	client.Certificates = []tls.Certificate{pair}
	if c.CA == "" && bytes.Equal(leaf.RawIssuer, leaf.RawSubject) && leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) == nil {
		// A self-signed certificate, shared by the nodes of a test or
		// development cluster: they trust it.
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pool.AddCert(leaf)
		client.RootCAs = pool
	}
	now := time.Now()
	if now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		logger.Warn("TLS: the certificate is not valid now", "file", c.Cert, "not_before", leaf.NotBefore, "not_after", leaf.NotAfter)
	}
	if u, err := neturl.Parse(url); err == nil && leaf.VerifyHostname(u.Hostname()) != nil {
		logger.Warn("TLS: the certificate does not name the host of the node's URL: other nodes and clients will refuse it", "file", c.Cert, "url", url)
	}
	return server, client, nil
}

// listen opens a TCP listener, speaking TLS when tc is not nil.
func listen(host string, port int, tc *tls.Config) (net.Listener, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil || tc == nil {
		return l, err
	}
	return tls.NewListener(l, tc), nil
}

// metaApart refuses a metadata directory where a mountpath keeps its own
// (buckets at MP/ais/NAME, work files and trash under MP/.ais), or one
// holding a mountpath: a bucket's destroy, the sweep of buckets no
// longer known or of work files would remove the node's secret, id and
// Raft log. MP/meta itself (-data the same as a mountpath) is apart.
func metaApart(metaDir string, mountpaths []string) error {
	meta := pathsafe.Resolve(metaDir)
	for _, mp := range mountpaths {
		real := pathsafe.Resolve(mp)
		inside := false
		if rel, err := filepath.Rel(real, meta); err == nil && pathsafe.Within(real, meta) == nil {
			first, _, _ := strings.Cut(rel, string(filepath.Separator))
			inside = slices.Contains([]string{store.ProviderAIS, store.ProviderAWS, store.ProviderHT, ".ais"}, first)
		}
		if meta == real || inside || pathsafe.Within(meta, real) == nil {
			return fmt.Errorf("mountpath %s holds or is inside the metadata directory %s where the store keeps its own: give -data a directory apart from the mountpaths", mp, metaDir)
		}
	}
	return nil
}

// nodeID is the node's id: -id, or the one kept in DATA/meta/node-id,
// made up at the first start. An -id is kept too, and one other than the
// kept id is refused: the node would start as another node of its
// cluster (a gateway outside its own Raft log, a target refused as a
// second one at its URL).
// saved is the cluster map the node kept, if any: a node whose -id was
// not kept before (older versions kept only a made-up id) is the node the
// map names.
func nodeID(cfg config, metaDir string, saved *cluster.Map) (string, error) {
	path := filepath.Join(metaDir, "node-id")
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		id := strings.TrimSpace(string(data))
		if id == "" {
			return "", fmt.Errorf("%s is empty: write the node's id into it (its id in the cluster map), or pass -id", path)
		}
		if cfg.ID != "" && cfg.ID != id {
			// Only this node's entry: at its URL, in its role (not
			// another node's id, copied by mistake).
			entry, given := saved.Node(cfg.ID)
			given = given && entry.URL == cfg.URL && string(entry.Role) == cfg.Role
			if _, kept := saved.Node(id); saved == nil || !given || kept {
				return "", fmt.Errorf("-id %s: this node's data (%s) is node %s's; start it with -id %s, or give -data a new directory for a new node", cfg.ID, path, id, id)
			}
			// The map knows the node by -id, not by the id kept. The id
			// kept goes to former-id first: disks stamped with it are
			// this node's (a start cut short before it stamped them all
			// would lose it).
			if err := atomicfile.Write(filepath.Join(metaDir, formerIDFile), []byte(id+"\n"), 0o644); err != nil {
				return "", err
			}
			if err := atomicfile.Write(path, []byte(cfg.ID+"\n"), 0o644); err != nil {
				return "", err
			}
			return cfg.ID, nil
		}
		return id, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("node id: %w", err)
	}
	id := cfg.ID
	if owner := mountpathsOwner(cfg.Mountpaths); owner != "" && owner != id {
		// A node whose data directory was lost, or another node's disks:
		// which one, only the operator knows. Nothing is kept yet (kept,
		// -id would be refused for the disks' id, and the disks for it).
		return "", fmt.Errorf("no node id kept (%s), and mountpath disks of node %.64s (their .ais/owner): if this is that node, start it with -id %.64s; else give it disks of its own", path, owner, owner)
	}
	if id == "" {
		var b [4]byte
		rand.Read(b[:])
		prefix := map[string]string{"gateway": "p", "target": "t", "all": "n"}[cfg.Role]
		id = prefix + hex.EncodeToString(b[:])
	}
	// Durable before the node joins under it: an id lost to a crash
	// would make the node another one at its next start.
	if err := atomicfile.Write(path, []byte(id+"\n"), 0o644); err != nil {
		return "", err
	}
	return id, nil
}

// formerIDFile, in the node's metadata, keeps the id it had before -id
// renamed it.
const formerIDFile = "former-id"

// mountpathsOwner is a node one of the mountpaths says it is for
// (store/fs keeps it in .ais/owner), or "".
func mountpathsOwner(mountpaths []string) string {
	for _, mp := range mountpaths {
		data, err := os.ReadFile(filepath.Join(mp, ".ais", "owner"))
		if id := strings.TrimSpace(string(data)); err == nil && id != "" {
			return id
		}
	}
	return ""
}

// secretEnv holds the cluster secret in hex, as an alternative to a file.
const secretEnv = "AIS_CLUSTER_SECRET"

// clusterSecret finds the cluster secret: the file given, the
// environment, or the one kept in the data directory. The first node of a
// new cluster creates it there; a node that joins must be given it.
// authOnFile, in DATA/meta, says the node ran with user authentication.
const authOnFile = "auth-on"

// keepAuthOn refuses to start without an auth key a node that ran with
// one: restarted without it (an env file lost, a unit changed), it would
// serve every route to anyone. The file is made the first time it runs
// with a key; removed, authentication may be turned off on purpose.
func keepAuthOn(metaDir string, on bool) error {
	marker := filepath.Join(metaDir, authOnFile)
	if on {
		if _, err := os.Stat(marker); err == nil {
			return nil
		}
		if err := atomicfile.Write(marker, []byte("this node runs with user authentication: remove this file to turn it off\n"), 0o600); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
		return nil
	}
	if _, err := os.Lstat(marker); err == nil {
		return fmt.Errorf("this node ran with user authentication (%s) and is given no key now: pass -auth-key or set $%s, or remove that file to turn authentication off", marker, envAuthnSecret)
	}
	return nil
}

func clusterSecret(cfg config, metaDir string) (peer.Secret, error) {
	if cfg.SecretFile != "" {
		return peer.LoadSecret(cfg.SecretFile)
	}
	if text := os.Getenv(secretEnv); text != "" {
		s, err := peer.ParseSecret(text)
		if err != nil {
			return nil, fmt.Errorf("$%s: %w", secretEnv, err)
		}
		return s, nil
	}
	kept := filepath.Join(metaDir, "cluster-secret")
	if _, err := os.Stat(kept); err == nil {
		return peer.LoadSecret(kept)
	}
	if cfg.Join != "" {
		return nil, fmt.Errorf("joining %s needs the cluster secret: pass -secret-file FILE or set $%s (the cluster's first node keeps it in its DATA/meta/cluster-secret)", cfg.Join, secretEnv)
	}
	// A node that was in a cluster already was given its secret: a new
	// one would fail every call between it and the others.
	for _, name := range []string{"smap.json", "raft"} {
		if _, err := os.Lstat(filepath.Join(metaDir, name)); err == nil {
			return nil, fmt.Errorf("this node was started with a cluster secret before (it keeps cluster state in %s) and is given none now: pass -secret-file FILE or set $%s", filepath.Join(metaDir, name), secretEnv)
		}
	}
	s := peer.NewSecret()
	if err := atomicfile.Write(kept, []byte(s.String()+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("cluster secret: %w", err)
	}
	return s, nil
}

// softMemoryLimit is the Go runtime's memory limit for a container's
// hard one: 90% of it, so that the collector works harder before the
// kernel kills the process (GOMEMLIMIT at the hard limit leaves it no
// room). 0 when GOMEMLIMIT is set (it is the operator's) or there is no
// container limit.
func softMemoryLimit(env string, container int64) int64 {
	if env != "" || container <= 0 {
		return 0
	}
	return container / 10 * 9
}

func run(args []string) error {
	cfg, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return fmt.Errorf("log level %q: %w", cfg.LogLevel, err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if limit := softMemoryLimit(os.Getenv("GOMEMLIMIT"), pipeline.ContainerMemoryLimit()); limit > 0 {
		debug.SetMemoryLimit(limit)
		logger.Info("memory limit", "soft", limit, "container", pipeline.ContainerMemoryLimit())
	}
	serverTLS, clientTLS, err := cfg.TLS.load(logger, cfg.URL)
	if err != nil {
		return err
	}
	if err := checkHost(cfg.Host); err != nil {
		return err
	}
	// A hang-up (the terminal of a node started by hand closed) drains as
	// a stop does: by default it would end the process at once, without
	// the store's close (queued mirror copies, access times).
	// A signal ignored when the node started (nohup's SIGHUP, a script's
	// background SIGINT) stays ignored.
	// A log pipe whose reader went (tee in a closed terminal, a log
	// shipper) fails the writes, not the node: by default a write to a
	// broken stderr kills the process mid-drain.
	signal.Ignore(syscall.SIGPIPE)
	stopSignals := []os.Signal{syscall.SIGTERM}
	for _, s := range []os.Signal{syscall.SIGINT, syscall.SIGHUP} {
		if !signal.Ignored(s) {
			stopSignals = append(stopSignals, s)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()
	// The first signal ends the start (or the run), and then lets the
	// signals go: a second one ends a start that hangs (a disk's trash
	// removed, a mountpath that does not answer) as it ends a shutdown.
	// Not a second hang-up (a closed terminal sends two).
	context.AfterFunc(ctx, func() {
		signal.Ignore(syscall.SIGHUP)
		stop()
	})
	if cfg.Role == roleAuthn {
		return runAuthn(ctx, cfg, logger, serverTLS, clientTLS)
	}
	keys, err := authKeys(cfg)
	if err != nil {
		return err
	}
	if keys != nil {
		logger.Info("user authentication is on", "algorithm", keys.Algorithm())
	}

	metaDir := filepath.Join(cfg.Data, "meta")
	if err := metaApart(metaDir, cfg.Mountpaths); err != nil {
		return err
	}
	meta, err := membership.NewFileStore(metaDir)
	if err != nil {
		return err
	}
	locks, missing, err := lockDirs(logger, append([]string{metaDir}, cfg.Mountpaths...)...)
	if err != nil {
		return err
	}
	defer locks.Close()
	// Locked, the directory is this process's: what a crash left
	// half-written there goes.
	sweepTemps(logger, metaDir)
	savedMap, _ := meta.LoadMap() // unreadable: the start fails there, naming it
	id, err := nodeID(cfg, metaDir, savedMap)
	if err != nil {
		return err
	}
	// Renamed by -id (the map knows it so): its disks, stamped with the
	// id it had, are its own.
	former, _ := os.ReadFile(filepath.Join(metaDir, formerIDFile))
	formerID := strings.TrimSpace(string(former))
	secret, err := clusterSecret(cfg, metaDir)
	if err != nil {
		return err
	}
	if err := keepAuthOn(metaDir, keys != nil); err != nil {
		return err
	}
	role := cluster.Role(cfg.Role)
	nodeConfig := gateway.Config{
		Secret:            secret,
		NoPeerAuth:        cfg.NoPeerAuth,
		DataDirs:          append([]string{cfg.Data}, cfg.Mountpaths...),
		RaftDir:           filepath.Join(metaDir, "raft"),
		ElectionTimeout:   cfg.Limits.ElectionTimeout,
		ID:                id,
		Role:              role,
		URL:               cfg.URL,
		Meta:              meta,
		Join:              cfg.Join,
		Rejoin:            cfg.Rejoin,
		KeepaliveInterval: cfg.KeepaliveInterval,
		KeepaliveTimeout:  cfg.KeepaliveTimeout,
		JoinProbeWait:     cfg.JoinProbeWait,
		S3Keys:            cfg.S3.Keys,
		S3Region:          cfg.S3.Region,
		S3Domains:         cfg.S3.Domains,
		S3UploadTTL:       cfg.S3.UploadTTL,
		FetchAllowLocal:   cfg.FetchAllowLocal,
		ConnectPorts:      cfg.ProxyConnectPorts,
		BrowserHosts:      cfg.BrowserHosts,
		Logger:            logger,
		RequestTimeout:    cfg.Limits.RequestTimeout,
		BodyTimeout:       cfg.Limits.BodyTimeout,
		BodyMinRate:       cfg.Limits.BodyMinRate,
		TombstoneTTL:      cfg.Limits.TombstoneTTL,

		RebalanceBatchObjects: cfg.Limits.RebalanceBatchObjects,
		RebalanceBatchBytes:   cfg.Limits.RebalanceBatchBytes,
	}
	// Every intra-cluster call (joins, metasync, rebalance, dSort,
	// relayed streams) goes through this transport: it trusts -tls-ca and
	// shows the node's certificate to peers that verify clients.
	nodeConfig.Transport = api.NewTransportTLS(clientTLS)
	nodeConfig.Auth = keys
	// This is where the node's parts are put together: the shard formats,
	// the store and its decorators, dSort's worker and coordinator, the
	// exporters.
	registry := formats.Default()
	nodeLogger := logger.With("node", id)
	nodeConfig.Formats = registry
	nodeConfig.NewCoordinator = func(cluster pipeline.Cluster, targets pipeline.Targets) *pipeline.Coordinator {
		return pipeline.NewCoordinator(pipeline.CoordinatorConfig{Cluster: cluster, Targets: targets, Formats: registry, Logger: nodeLogger})
	}
	// Remote buckets (s3://) through aws-sdk-go-v2, its credential chain
	// and each bucket's extra.aws props.
	// ht:// buckets read from their HTTP origins (the reverse proxy).
	// Origins are URLs users give: they are reached as the node's fetches
	// are, checked (bound below, once the node exists). So are the
	// endpoints a bucket's props name.
	var guard atomic.Pointer[gateway.Node]
	errStarting := errors.New("the node is starting")
	route := egress.Route{
		Proxy: func(r *http.Request) (*neturl.URL, error) {
			if n := guard.Load(); n != nil {
				return n.FetchRoute().Proxy(r)
			}
			return nil, errStarting
		},
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			if n := guard.Load(); n != nil {
				return n.FetchRoute().DialContext(ctx, network, address)
			}
			return nil, errStarting
		},
	}
	backends, origins := remotes3.NewBackends(route), ht.Resolve(ht.NewClient(route))
	resolve := func(ctx context.Context, b store.Bucket, props store.Props) (remote.Backend, error) {
		if b.Normalize().Provider == store.ProviderHT {
			return origins(ctx, b, props)
		}
		return backends.Resolve(ctx, b, props)
	}
	nodeConfig.RemoteBuckets = remote.Buckets{Resolve: resolve}
	nodeConfig.Remote = func(st store.Store) store.Store {
		rs := remote.New(st, resolve)
		if cfg.DryRun {
			rs.KeepNoBytes() // (its made-up bytes must not reach a remote)
		}
		return rs
	}
	events := new(gateway.StorageEvents)
	if role.IsTarget() {
		// The mountpaths' record is kept in the node's metadata too: a
		// node whose every disk did not mount does not start empty.
		st, err := fs.Open(ctx, fs.Config{Mountpaths: cfg.Mountpaths, NoSync: cfg.NoSync, Logger: logger, RecordDir: metaDir, Owner: id, FormerOwner: formerID,
			OnMountpathChange: events.MountpathChanged, OnRepair: events.Repaired})
		if err != nil {
			return err
		}
		// The mountpaths the store made (new, empty) are locked too, until
		// the store has closed (deferred before it, run after it).
		var made io.Closer
		defer func() {
			if made != nil {
				made.Close()
			}
		}()
		// After the node (defers run last first): its background copies
		// end and the pending access times are written.
		defer st.Close()
		if made, _, err = lockDirs(logger, missing...); err != nil {
			return err
		}
		nodeConfig.Store, nodeConfig.Storage = st, st
		// A mountpath may be attached again, or a new one inside the
		// data directory; nowhere else.
		nodeConfig.MountpathRoots = append([]string{cfg.Data}, cfg.Mountpaths...)
		// FSHC: every mountpath is checked now and then, besides after
		// errors.
		go st.WatchHealth(ctx, cmp.Or(cfg.Limits.HealthInterval, time.Minute))
		nodeConfig.Protect = protect
		// dSort spills next to the data, on the first mountpath enabled:
		// new work moves when that one is disabled or detached.
		nodeConfig.WorkDir = filepath.Join(st.Mountpaths()[0], ".ais", "dsort")
		nodeConfig.PickWorkDir = func() string {
			if enabled := st.Mountpaths(); len(enabled) > 0 {
				return filepath.Join(enabled[0], ".ais", "dsort")
			}
			return "" // none enabled: WorkDir, where work fails as the store does
		}
		nodeConfig.StateDir = metaDir
		if cfg.DryRun {
			nodeConfig.Store = dryrun.Wrap(st)
			logger.Warn("dry run: PUT data is discarded and GETs are served from memory")
		}
		// The work directory of an earlier run may have been on another
		// mountpath (the first was disabled then, or is now), one
		// attached at run time included (the store opens those again).
		var recoverDirs []string
		for _, mp := range append(slices.Clone(cfg.Mountpaths), st.Mountpaths()...) {
			if abs, err := filepath.Abs(mp); err == nil {
				mp = abs
			}
			if dir := filepath.Join(mp, ".ais", "dsort"); dir != nodeConfig.WorkDir && !slices.Contains(recoverDirs, dir) {
				recoverDirs = append(recoverDirs, dir)
			}
		}
		nodeConfig.RecoverDirs = recoverDirs
		// A job's spill files go to every mountpath enabled, not the
		// first one's alone: their bytes and bandwidth are shared.
		spillDirs := func() []string {
			var dirs []string
			for _, mp := range st.Mountpaths() {
				dirs = append(dirs, filepath.Join(mp, ".ais", "dsort"))
			}
			return dirs
		}
		nodeConfig.NewWorker = func(st store.Store, fetcher pipeline.Fetcher) (*pipeline.Worker, error) {
			return pipeline.NewWorker(pipeline.WorkerConfig{NodeID: id, Store: st, Fetcher: fetcher, Formats: registry,
				WorkDir: nodeConfig.WorkDir, PickWorkDir: nodeConfig.PickWorkDir, SpillDirs: spillDirs, RecoverDirs: recoverDirs, IdleTimeout: cfg.Limits.DsortIdleTimeout, Logger: nodeLogger})
		}
	}
	node, err := gateway.New(nodeConfig)
	if err == nil {
		guard.Store(node)
	}
	if err != nil {
		return err
	}
	events.Bind(node)
	stopPusher := func() {}
	if cfg.StatsD != "" {
		pusher, err := NewStatsD(StatsDConfig{Address: cfg.StatsD, Prefix: "ais." + statsdSegment(id), Gatherer: node.Gatherer, Logger: logger})
		if err != nil {
			return err
		}
		// Its own context: it pushes what the drain serves after the
		// signal, and a last flush once the node stops serving.
		pushCtx, stopPush := context.WithCancel(context.WithoutCancel(ctx))
		pushed := make(chan struct{})
		go func() {
			defer close(pushed)
			pusher.Run(pushCtx)
		}()
		stopPusher = sync.OnceFunc(func() {
			stopPush()
			<-pushed
		})
		defer stopPusher()
	}
	listener, err := listen(cfg.Host, cfg.Port, serverTLS)
	if err != nil {
		return err
	}
	var running handlers
	server := &http.Server{
		Handler:           running.track(node.Handler()),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	served := make(chan error, 2)
	go func() { served <- server.Serve(listener) }()
	var s3Server *http.Server
	if role.IsGateway() {
		switch {
		case keys != nil && len(cfg.S3.Keys) > 0:
			// A static key names no user: with authentication on, what
			// it signs acts as no one.
			logger.Warn("user authentication is on: a request signed with an S3 key of the config (s3.keys, AIS_S3_ACCESS_KEY) needs a session token too; give S3 clients keys of their users (ais auth add s3-key USER)")
		case keys == nil && len(cfg.S3.Keys) == 0:
			logger.Warn("the S3 API does not check signatures: no access keys (config s3.keys, or AIS_S3_ACCESS_KEY and AIS_S3_SECRET_KEY)")
		}
		if cfg.S3.Port != 0 {
			s3Listener, err := listen(cfg.Host, cfg.S3.Port, serverTLS)
			if err != nil {
				server.Close()
				return fmt.Errorf("s3 port: %w", err)
			}
			s3Server = &http.Server{Handler: running.track(node.S3Handler()), ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 5 * time.Minute,
				ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
			go func() { served <- s3Server.Serve(s3Listener) }()
			defer s3Server.Close()
			logger.Info("serving S3", "addr", s3Listener.Addr().String())
		}
	}
	logger.Info("listening", "id", id, "role", role, "addr", listener.Addr().String(), "url", cfg.URL, "tls", serverTLS != nil, "mountpaths", cfg.Mountpaths)
	if err := node.Start(ctx); err != nil {
		server.Close()
		node.Close() // the loops Start began end before the store closes
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			// Stopped while it joined (a SIGTERM): a stop, not a failure
			// (systemd would mark the unit failed).
			logger.Info("stopped before the node joined", "err", err)
			return nil
		}
		return err
	}
	select {
	case err := <-served:
		server.Close()
		node.Close()
		return err
	case <-ctx.Done():
	}
	// The signals are let go: a second SIGTERM or Ctrl-C ends a shutdown
	// that hangs, as an operator expects. Not a second hang-up (a closed
	// terminal sends two): the drain goes on.
	signal.Ignore(syscall.SIGHUP)
	stop()
	logger.Info("shutting down (a second signal ends it at once)")
	// A target is taken offline first, while it still serves: gateways
	// stop sending clients to it before its port closes (they went on
	// for the keepalive's timeout, and the clients failed). Bounded: a
	// primary that does not answer does not hold the stop.
	offline, cancelOffline := context.WithTimeout(context.Background(), 20*time.Second)
	if err := node.GoOffline(offline); err != nil {
		logger.Warn("stopping before the cluster map shows this target offline", "err", err)
	}
	cancelOffline()
	// The lead first, while the ports still serve: a leader draining with
	// its ports closed held every change of the cluster meanwhile.
	if err := node.StepDown(); err != nil {
		logger.Warn("could not hand the control plane's lead over before the shutdown", "err", err)
	}
	// Both ports drain their requests before the node closes: an S3
	// upload in flight on its own port is not cut. The S3 port first: its
	// requests may reach the objects through the node's main port, which
	// stays open for them meanwhile. Each has its own time: a long S3
	// drain does not leave the main port's requests none.
	drain := func(s *http.Server) error {
		shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		return s.Shutdown(shutdown)
	}
	var s3Err error
	if s3Server != nil {
		s3Err = drain(s3Server)
	}
	if err := cmp.Or(drain(server), s3Err); err != nil {
		// Requests still running past the drain (a long upload) are
		// cut before the node and the store close under them; what was
		// acknowledged is on disk, and the stop is not a failure.
		logger.Warn("requests cut at shutdown", "err", err)
		server.Close()
		if s3Server != nil {
			s3Server.Close()
		}
		// Close does not wait for the handlers: those cut end at their
		// next read or write, before the store closes.
		if !running.wait(5 * time.Second) {
			logger.Warn("requests still running as the node closes")
		}
	}
	stopPusher()
	node.Close()
	return nil
}

// handlers counts the requests being served, so that a shutdown that
// cuts them waits for their handlers to return. A counter, not a
// WaitGroup: a request read just before the cut may start its handler
// while wait runs.
type handlers struct{ running atomic.Int64 }

func (h *handlers) track(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.running.Add(1)
		defer h.running.Add(-1)
		next.ServeHTTP(w, r)
	})
}

// wait waits for the handlers running to return, at most limit (a
// hijacked connection's handler may outlive its request); it reports
// whether they did.
func (h *handlers) wait(limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for h.running.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
