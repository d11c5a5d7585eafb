package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/internal/atomicfile"
	"github.com/aisgo/aisgo/internal/sibling"
	"github.com/aisgo/aisgo/shards"
)

// localNode is one aisnode process of a local cluster.
type localNode struct {
	Name string `json:"name"` // g1, t1, ...; also the node id
	Role string `json:"role"`
	Port int    `json:"port"`
	Dir  string `json:"dir"`
	PID  int    `json:"pid"`
}

// localCluster is the state file of `ais cluster start`, DIR/cluster.json.
type localCluster struct {
	// authnEnv is the environment of the AuthN service alone (its first
	// admin's password): nodes do not inherit it. Not saved.
	authnEnv []string

	Endpoint string   `json:"endpoint"`
	Aisnode  string   `json:"aisnode"`
	Args     []string `json:"args,omitempty"` // extra aisnode flags
	// Mountpaths is the number of mountpaths of each target (DIR/tN/mpK).
	Mountpaths int `json:"mountpaths,omitempty"`
	// SecretFile holds the cluster secret every node is started with.
	SecretFile string `json:"secret_file,omitempty"`
	// TLSCert and TLSKey, when set, are every node's certificate and key:
	// the nodes serve HTTPS.
	TLSCert string      `json:"tls_cert,omitempty"`
	TLSKey  string      `json:"tls_key,omitempty"`
	Nodes   []localNode `json:"nodes"`
	// AuthN, when set, is the AuthN service started beside the nodes,
	// and AuthKey the secret every node checks tokens with (--auth).
	AuthN   *localNode `json:"authn,omitempty"`
	AuthKey string     `json:"auth_key,omitempty"`
	// S3KeyFile, when set, holds the S3 key (access key and secret, a
	// line each) the cluster was started with: every node it launches,
	// added or restarted later from any shell, takes it.
	S3KeyFile string `json:"s3_key_file,omitempty"`
	// Forming: the cluster's first gateway has not started yet (its
	// first start failed before). Started again, it forms the cluster
	// (no -join), as a gateway of a formed cluster would not.
	Forming bool `json:"forming,omitempty"`
}

func statePath(dir string) string { return filepath.Join(dir, "cluster.json") }

func loadCluster(dir string) (*localCluster, error) {
	data, err := os.ReadFile(statePath(dir))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no local cluster in %s (start one with 'ais cluster start --dir %s')", dir, dir)
		}
		return nil, err
	}
	var c localCluster
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", statePath(dir), err)
	}
	return &c, nil
}

func (c *localCluster) save(dir string) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(statePath(dir), data, 0o644)
}

// counts returns the number of gateways and targets of the cluster.
func (c *localCluster) counts() (gateways, targets int) {
	for _, n := range c.Nodes {
		if n.Role == "gateway" {
			gateways++
		} else {
			targets++
		}
	}
	return gateways, targets
}

// gatewayURLs returns the URLs of the cluster's gateways, the endpoint
// first.
func (c *localCluster) gatewayURLs() []string {
	urls := []string{c.Endpoint}
	for _, n := range c.Nodes {
		if u := c.url(n); n.Role == "gateway" && u != c.Endpoint {
			urls = append(urls, u)
		}
	}
	return urls
}

// joinURL returns a gateway a new or restarted node joins through: the
// first that runs, else the endpoint.
func (c *localCluster) joinURL() string {
	for _, n := range c.Nodes {
		if n.Role == "gateway" && n.running() {
			return c.url(n)
		}
	}
	return c.Endpoint
}

// client returns a client of the cluster that fails over between its
// gateways.
func (c *localCluster) client() (*api.Client, error) {
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	return newClient(tc, c.gatewayURLs()...), nil
}

// tlsConfig is the configuration of the command's client, which also
// trusts the nodes' certificate and shows it to nodes that verify clients.
func (c *localCluster) tlsConfig() (*tls.Config, error) {
	if c.TLSCert == "" {
		return clientTLS, nil
	}
	pair, err := api.LoadKeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if clientTLS != nil {
		tc = clientTLS.Clone()
	}
	if tc.RootCAs != nil {
		tc.RootCAs = tc.RootCAs.Clone()
	} else if tc.RootCAs, err = x509.SystemCertPool(); err != nil {
		tc.RootCAs = x509.NewCertPool()
	}
	tc.RootCAs.AddCert(pair.Leaf)
	if len(tc.Certificates) == 0 {
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// scheme is the nodes' URL scheme.
func (c *localCluster) scheme() string {
	if c.TLSCert != "" {
		return "https"
	}
	return "http"
}

// url returns the URL of one of the cluster's nodes.
func (c *localCluster) url(n localNode) string {
	return fmt.Sprintf("%s://127.0.0.1:%d", c.scheme(), n.Port)
}

// openCluster loads the local cluster in dir, returning its absolute path.
func openCluster(cmd *cobra.Command, dir string) (string, *localCluster, func(), error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", nil, nil, err
	}
	if _, err := os.Stat(statePath(abs)); err != nil {
		_, err := loadCluster(abs) // its error, naming what to do
		return "", nil, nil, err
	}
	unlock, err := lockCluster(cmd, abs)
	if err != nil {
		return "", nil, nil, err
	}
	c, err := loadCluster(abs)
	if err != nil {
		unlock()
		return "", nil, nil, err
	}
	return abs, c, unlock, nil
}

// lockWait bounds the wait for another command on the same local cluster.
const lockWait = 5 * time.Minute

// lockCluster takes the local cluster in dir for one command until unlock
// (or its exit): two at once (two add-target) would each save the state
// as they read it, and the last one lose the other's node.
func lockCluster(cmd *cobra.Command, dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// Closed on exec: a node started under the lock does not keep it.
	f, err := os.OpenFile(filepath.Join(dir, "cluster.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(lockWait)
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("another 'ais cluster' command has held the local cluster in %s for %s: let it end, or stop it", dir, lockWait)
			}
			return nil, fmt.Errorf("lock the local cluster in %s: %w", dir, err)
		}
		if !told {
			fmt.Fprintf(cmd.ErrOrStderr(), "ais: waiting for another 'ais cluster' command on %s to end\n", dir)
			told = true
		}
		select {
		case <-cmd.Context().Done():
			f.Close()
			return nil, context.Cause(cmd.Context())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// alive reports whether a process runs; a zombie (exited, not yet reaped
// by its new parent) does not. Whether it is still a node's is running's
// to tell (by its data directory, whatever the binary is named).
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesized command name.
	if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// running reports whether the node's saved process is still this node:
// one started with its data directory (its aisnode, by whatever name
// --aisnode gave). A PID another program took since (another cluster's
// node, after a reboot) is not this node's: stop must not signal it.
func (n *localNode) running() bool {
	if !alive(n.PID) {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", n.PID))
	if err != nil {
		return true // no /proc to tell by
	}
	args := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
	for i := 1; i+1 < len(args); i++ {
		if args[i] == "-data" || args[i] == "--data" {
			return args[i+1] == n.Dir
		}
		if v, ok := strings.CutPrefix(args[i], "-data="); ok {
			return v == n.Dir
		}
	}
	return false
}

// stop stops the node's process (stopProcess), when it is still this
// node's; it reports whether it was running.
func (n *localNode) stop() bool {
	if !n.running() {
		return false
	}
	return stopProcess(n.PID, n.running)
}

// findAisnode locates the aisnode binary: the flag, next to ais, or PATH.
func findAisnode(flagValue string) (string, error) {
	path, err := sibling.Find("aisnode", flagValue)
	if err != nil {
		return "", fmt.Errorf("%w (build it with 'make build' or pass --aisnode)", err)
	}
	return path, nil
}

// nodeExitError reports a node process that exited while ais waited for
// it to join the cluster.
type nodeExitError struct {
	Node string
	Err  error  // from Wait: the exit status; nil for status 0
	Log  string // path of the node's log
	Tail string // the last lines the node logged in this run
}

func (e *nodeExitError) Error() string {
	status := "exit status 0"
	if e.Err != nil {
		status = e.Err.Error()
	}
	tail := e.Tail
	if tail == "" {
		tail = "it logged nothing"
	}
	return fmt.Sprintf("node %s exited during start (%s): %s (log: %s)", e.Node, status, tail, e.Log)
}

func (e *nodeExitError) Unwrap() error { return e.Err }

// portsFree checks that the port of every node to start (and of the
// AuthN service) is free.
func (c *localCluster) portsFree() error {
	nodes := c.Nodes
	if c.AuthN != nil {
		nodes = append(slices.Clone(nodes), *c.AuthN)
	}
	for _, n := range nodes {
		if n.running() {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(n.Port)))
		if err != nil {
			return fmt.Errorf("port %d of node %s is in use (another cluster, or another program): stop it, or start this one with --port: %w", n.Port, n.Name, err)
		}
		l.Close()
	}
	return nil
}

// nextFreePort returns the first port from from on that loopback takes.
func nextFreePort(from int) (int, error) {
	for port := from; port < from+100 && port < 65536; port++ {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			l.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port among %d..%d for the new node (other programs hold them)", from, min(from+99, 65535))
}

// Environment variables of the nodes' S3 key.
const (
	envS3Access = "AIS_S3_ACCESS_KEY"
	envS3Secret = "AIS_S3_SECRET_KEY"
)

// nodeEnvironment is the user's environment without what would configure
// the nodes behind the cluster's own settings: an AuthN secret (turning
// authentication on; --auth does) and an S3 key (the cluster's own, saved
// when it started, goes instead: a node added from another shell would
// serve S3 unsigned).
func nodeEnvironment(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		return strings.HasPrefix(kv, "AIS_AUTHN_") || strings.HasPrefix(kv, envS3Access+"=") || strings.HasPrefix(kv, envS3Secret+"=")
	})
}

// keepS3Key saves the S3 key of the environment (both variables set) as
// the cluster's, for every node it launches; without one, the cluster
// keeps the key it has, if any.
func (c *localCluster) keepS3Key(dir string) error {
	access, secret := os.Getenv(envS3Access), os.Getenv(envS3Secret)
	switch {
	case access == "" && secret == "":
		return nil
	case access == "" || secret == "":
		return fmt.Errorf("%s and %s go together: set both (or neither)", envS3Access, envS3Secret)
	}
	saved, err := c.s3KeyEnvironment()
	if changed := err == nil && len(saved) == 2 && (saved[0] != envS3Access+"="+access || saved[1] != envS3Secret+"="+secret); changed {
		// Nodes of the cluster that run keep the key they started with.
		for _, n := range c.Nodes {
			if n.running() {
				return fmt.Errorf("node %s runs with the cluster's S3 key, not the one in %s: stop the cluster (ais cluster stop) to change it", n.Name, envS3Access)
			}
		}
	}
	path := filepath.Join(dir, "s3-key")
	if err := atomicfile.Write(path, []byte(access+"\n"+secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("save the S3 key: %w", err)
	}
	c.S3KeyFile = path
	return nil
}

// s3KeyEnvironment is the cluster's S3 key as the nodes' environment.
func (c *localCluster) s3KeyEnvironment() ([]string, error) {
	if c.S3KeyFile == "" {
		return nil, nil
	}
	data, err := os.ReadFile(c.S3KeyFile)
	if err != nil {
		return nil, fmt.Errorf("the cluster's S3 key (the nodes would serve S3 unsigned): %w", err)
	}
	access, secret, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
	if access == "" || secret == "" {
		return nil, fmt.Errorf("the cluster's S3 key in %s: want the access key and the secret, a line each", c.S3KeyFile)
	}
	return []string{envS3Access + "=" + access, envS3Secret + "=" + strings.TrimSpace(secret)}, nil
}

// launch starts one node detached from the terminal, logging to its dir.
// If the process exits while ais still runs, onExit gets a
// *nodeExitError, so that a wait for the cluster can fail at once rather
// than time out.
func (c *localCluster) launch(n *localNode, join string, onExit func(error)) error {
	if err := os.MkdirAll(n.Dir, 0o755); err != nil {
		return err
	}
	logPath := filepath.Join(n.Dir, "node.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	// Restarts append to the log: only what this run writes explains its exit.
	info, err := logFile.Stat()
	if err != nil {
		return err
	}
	args := []string{"-role", n.Role, "-id", n.Name, "-host", "127.0.0.1", "-port", strconv.Itoa(n.Port), "-data", n.Dir, "-secret-file", c.SecretFile}
	if c.AuthKey != "" {
		args = append(args, "-auth-key", c.AuthKey)
	}
	if c.TLSCert != "" {
		args = append(args, "-tls-cert", c.TLSCert, "-tls-key", c.TLSKey)
	}
	if join != "" {
		args = append(args, "-join", join)
	}
	if n.Role == "target" && c.Mountpaths > 1 {
		paths := make([]string, c.Mountpaths)
		for i := range paths {
			paths[i] = filepath.Join(n.Dir, fmt.Sprintf("mp%d", i+1))
		}
		args = append(args, "-mountpaths", strings.Join(paths, ","))
	}
	if n.Role != roleAuthn {
		args = append(args, c.Args...)
	}
	keyEnv, err := c.s3KeyEnvironment()
	if err != nil {
		return err
	}
	cmd := exec.Command(c.Aisnode, args...)
	cmd.Env = append(nodeEnvironment(os.Environ()), keyEnv...)
	if n.Role == roleAuthn {
		cmd.Env = append(cmd.Env, c.authnEnv...)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", n.Name, err)
	}
	n.PID = cmd.Process.Pid
	// Reap the child, and tell the waiter if it exits while ais still
	// runs. The goroutine ends with the process (or with ais).
	name, from := n.Name, info.Size()
	go func() {
		err := cmd.Wait()
		onExit(&nodeExitError{Node: name, Err: err, Log: logPath, Tail: logTail(logPath, from)})
	}()
	return nil
}

// logTail returns, on one line, the last few lines written to a log after
// offset from: what a node said before it exited.
func logTail(path string, from int64) string {
	const window, maxLines = 4 << 10, 5
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return ""
	}
	cut := info.Size()-window > from
	if cut {
		from = info.Size() - window
	}
	data, err := io.ReadAll(io.NewSectionReader(f, from, info.Size()-from))
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if cut && len(lines) > 1 {
		lines = lines[1:] // the window starts mid-line
	}
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return strings.Join(lines, " | ")
}

// ensureSecret makes sure the cluster has a secret file, creating one
// readable only by its owner for a new cluster.
func (c *localCluster) ensureSecret(dir string) error {
	if c.SecretFile == "" {
		c.SecretFile = filepath.Join(dir, "cluster-secret")
	}
	if _, err := os.Stat(c.SecretFile); err == nil {
		return nil
	}
	if err := atomicfile.Write(c.SecretFile, []byte(peer.NewSecret().String()+"\n"), 0o600); err != nil {
		return fmt.Errorf("cluster secret: %w", err)
	}
	return nil
}

// waitHealthy waits until the node c talks to answers its health check.
// When ctx is canceled it returns the cause, such as a *nodeExitError.
func waitHealthy(ctx context.Context, c *api.Client, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		_, err := c.Health(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitForNodes waits until the cluster map holds want nodes, all active,
// and those in direct (clients of the nodes themselves) answer their
// health checks: a restarted node that exits at once is still active in
// the map of its last run. When ctx is canceled it returns the cause,
// such as a *nodeExitError.
func waitForNodes(ctx context.Context, c *api.Client, want []string, direct map[string]*api.Client, timeout time.Duration) (*api.ClusterStatus, error) {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		m, err := c.Map(ctx)
		var waiting []string
		if err == nil {
			// The nodes launched must be in and active; the others may be
			// in maintenance, leaving or offline, as they were.
			for _, id := range want {
				if n, ok := m.Node(id); !ok || n.State != cluster.StateActive {
					waiting = append(waiting, id)
				} else if node := direct[id]; node != nil {
					if _, err := node.Health(ctx); err != nil {
						waiting = append(waiting, id)
					}
				}
			}
			if len(waiting) == 0 {
				return c.ClusterStatus(ctx)
			}
			lastErr = fmt.Errorf("node(s) %s not in the map or not active yet", strings.Join(waiting, ", "))
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("cluster not ready after %s: %w", timeout, lastErr)
}

func newClusterCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Run a local cluster of aisnode processes, change and show membership"}
	cmd.AddCommand(
		newClusterStartCommand(),
		newClusterStopCommand(),
		newClusterAddTargetCommand(),
		newClusterRmTargetCommand(),
		newClusterAddGatewayCommand(),
		newClusterRmGatewayCommand(),
		newClusterShowCommand(),
		newMaintenanceCommand(),
	)
	return cmd
}

func newClusterStartCommand() *cobra.Command {
	var (
		gateways, targets, port int
		mountpaths              int
		dir, aisnode            string
		tlsCert, tlsKey         string
		noSync, auth            bool
		nodeFlags               []string
	)
	start := &cobra.Command{
		Use:   "start",
		Short: "Start a local cluster on loopback (or restart a stopped one, or its dead nodes, in the same --dir)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			binary, err := findAisnode(aisnode)
			if err != nil {
				return err
			}
			if tlsCert, tlsKey, err = tlsFiles(tlsCert, tlsKey); err != nil {
				return err
			}
			unlock, err := lockCluster(cmd, dir)
			if err != nil {
				return err
			}
			defer unlock()
			c, err := loadCluster(dir)
			if _, serr := os.Stat(statePath(dir)); err != nil && !errors.Is(serr, os.ErrNotExist) {
				// Taken for no cluster, it would be started over the
				// nodes' data, without its authentication and TLS.
				return fmt.Errorf("%w: the cluster in %s is not started over a state it cannot read: fix the file, or remove %s (its data goes too) to start a new one", err, dir, dir)
			}
			restart := err == nil
			if restart {
				if err := checkRestartFlags(cmd, c, dir); err != nil {
					return err
				}
				if (cmd.Flags().Changed("tls-cert") || cmd.Flags().Changed("tls-key")) && (tlsCert != c.TLSCert || tlsKey != c.TLSKey) {
					return fmt.Errorf("cannot restart the cluster in %s with --tls-cert %q --tls-key %q: it was created with %q and %q (empty: plain HTTP), which its nodes' URLs keep",
						dir, tlsCert, tlsKey, c.TLSCert, c.TLSKey)
				}
				if auth && c.AuthN == nil {
					// Restarted without it, the user would think tokens are checked.
					return fmt.Errorf("cannot restart the cluster in %s with --auth: it was created without authentication, which its nodes keep; "+
						"stop it and remove %s (its data goes too) to start one with --auth", dir, dir)
				}
				if (cmd.Flags().Changed("no-sync") || cmd.Flags().Changed("node-flag")) && !slices.Equal(nodeArgs(noSync, nodeFlags), c.Args) {
					fmt.Fprintf(cmd.ErrOrStderr(), "ais: ignoring --no-sync and --node-flag: the nodes keep the flags the cluster was created with %q\n", c.Args)
				}
			} else {
				if gateways < 1 || targets < 1 {
					return errors.New("a cluster needs at least one gateway and one target")
				}
				if mountpaths < 1 || mountpaths > 64 {
					return fmt.Errorf("--mountpaths %d: want 1 to 64", mountpaths)
				}
				// Every node's port, and the AuthN service's after them.
				if last := port + gateways + targets; port < 1 || last > 65535 {
					return fmt.Errorf("--port %d: the nodes take ports %d to %d, which must lie within 1 to 65535", port, port, last)
				}
				c = &localCluster{Args: nodeArgs(noSync, nodeFlags), Mountpaths: mountpaths, TLSCert: tlsCert, TLSKey: tlsKey, Forming: true}
				c.Endpoint = fmt.Sprintf("%s://127.0.0.1:%d", c.scheme(), port)
				for i := range gateways + targets {
					role, name := "gateway", fmt.Sprintf("g%d", i+1)
					if i >= gateways {
						role, name = "target", fmt.Sprintf("t%d", i-gateways+1)
					}
					c.Nodes = append(c.Nodes, localNode{Name: name, Role: role, Port: port + i, Dir: filepath.Join(dir, name)})
				}
				if auth {
					// The service takes the port after the nodes'; targets
					// added later take the ones after it.
					c.AuthN = &localNode{Name: roleAuthn, Role: roleAuthn, Port: port + gateways + targets, Dir: filepath.Join(dir, roleAuthn)}
					c.AuthKey = filepath.Join(dir, "authn-secret")
				}
			}
			c.Aisnode = binary
			running := 0
			for i := range c.Nodes {
				if c.Nodes[i].running() {
					running++
				}
			}
			// Its AuthN service too: with it down, no login works.
			if running == len(c.Nodes) && (c.AuthN == nil || c.AuthN.running()) {
				return fmt.Errorf("a cluster already runs in %s (stop it with 'ais cluster stop --dir %s')", dir, dir)
			}
			if restart {
				g, t := c.counts()
				fmt.Fprintf(cmd.OutOrStdout(), "restarting the existing cluster in %s (%d gateway(s), %d target(s))\n", dir, g, t)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			if err := c.ensureSecret(dir); err != nil {
				return err
			}
			if err := c.keepS3Key(dir); err != nil {
				return err
			}
			tc, err := c.tlsConfig()
			if err != nil {
				return err
			}
			// Ports taken (another cluster on them) would have this one's
			// nodes exit while the other's answer its health checks:
			// checked before anything starts, the AuthN service too.
			if err := c.portsFree(); err != nil {
				return err
			}
			// A node that exits cancels the waits below with its error.
			ctx, cancel := context.WithCancelCause(cmd.Context())
			defer cancel(nil)
			// With --auth the AuthN service starts first: the nodes' clients
			// here need an admin's token.
			var admin *authnAdmin
			if c.AuthN != nil {
				admin, err = c.startAuthn(ctx, tc, cancel)
				// Saved at once: a start that fails (or is interrupted)
				// leaves what runs known to stop.
				if serr := c.save(dir); err == nil {
					err = serr
				}
				if err != nil {
					return err
				}
			}
			withToken := func(client *api.Client) *api.Client {
				if admin != nil {
					client.SetToken(admin.token)
				}
				return client
			}
			// Start what is not running: all of a new or stopped cluster,
			// or the nodes of a running one that died. Restarted gateways
			// start together: they need a majority to elect a leader.
			join := c.joinURL()
			var launched []string
			for i := range c.Nodes {
				if c.Nodes[i].running() {
					if i == 0 && c.Forming {
						// Up since a first start cut short: it formed the
						// cluster. Kept, the mark had every later restart
						// start it alone and wait for it in vain.
						c.Forming = false
						if err := c.save(dir); err != nil {
							return c.leftRunning(dir, launched, err)
						}
					}
					continue
				}
				launched = append(launched, c.Nodes[i].Name)
				nodeJoin := join
				forms := i == 0 && (!restart || c.Forming)
				if forms {
					nodeJoin = "" // the first gateway of a new cluster
				}
				if err := c.launch(&c.Nodes[i], nodeJoin, cancel); err != nil {
					return c.leftRunning(dir, launched, err)
				}
				if err := c.save(dir); err != nil {
					return c.leftRunning(dir, launched, err)
				}
				if forms {
					// Others join through the first gateway: let it listen first.
					if err := waitHealthy(ctx, withToken(newClient(tc, c.Endpoint)), 15*time.Second); err != nil {
						if exited, ok := errors.AsType[*nodeExitError](err); ok {
							return c.leftRunning(dir, launched, exited)
						}
						return c.leftRunning(dir, launched, fmt.Errorf("primary gateway did not start (see %s): %w", filepath.Join(c.Nodes[0].Dir, "node.log"), err))
					}
					// Formed: from now on its gateways restart
					// together, as any cluster's.
					c.Forming = false
					if err := c.save(dir); err != nil {
						return c.leftRunning(dir, launched, err)
					}
				}
			}
			if err := c.save(dir); err != nil {
				return c.leftRunning(dir, launched, err)
			}
			direct := map[string]*api.Client{}
			for _, n := range c.Nodes {
				if slices.Contains(launched, n.Name) {
					direct[n.Name] = withToken(newClient(tc, c.url(n)))
				}
			}
			status, err := waitForNodes(ctx, withToken(newClient(tc, c.gatewayURLs()...)), launched, direct, 30*time.Second)
			if err != nil {
				if exited, ok := errors.AsType[*nodeExitError](err); ok {
					return c.leftRunning(dir, launched, exited)
				}
				return c.leftRunning(dir, launched, fmt.Errorf("%w (logs in %s/*/node.log)", err, dir))
			}
			g, t := c.counts()
			gateways := strings.Join(c.gatewayURLs(), ",")
			fmt.Printf("local cluster running: %d gateway(s), %d target(s), map version %d, primary %s\nendpoint: %s\n  export AIS_ENDPOINT=%s\n",
				g, t, status.MapVersion, status.Primary, c.Endpoint, gateways)
			if c.TLSCert != "" {
				fmt.Printf("  export %s=%s   # to trust the nodes' certificate (or: ais --skip-verify ...)\n", api.EnvClientCA, c.TLSCert)
			}
			if admin != nil {
				if err := admin.register(ctx, withToken(newClient(tc, c.gatewayURLs()...)), c.gatewayURLs()); err != nil {
					return err
				}
				fmt.Printf("AuthN service: %s (users, roles, tokens; every node checks tokens)\n  export AIS_AUTHN_URL=%s\n  %s\n",
					admin.url, admin.url, admin.loginHint)
			}
			return nil
		},
	}
	start.Flags().BoolVar(&auth, "auth", false, "also run an AuthN service and turn user authentication on in every node; the first admin is $AIS_AUTHN_SU_NAME (default admin) with $AIS_AUTHN_SU_PASS (default: generated and kept in DIR/authn/admin-password); both are taken at the first start only")
	start.Flags().IntVar(&gateways, "gateways", 1, "gateways to start (3 or 5 keep the control plane up when one, or two, fail)")
	start.Flags().IntVar(&targets, "targets", 3, "targets to start")
	start.Flags().IntVar(&mountpaths, "mountpaths", 1, "mountpaths (directories) of each target: 2 or more allow mirroring")
	start.Flags().IntVar(&port, "port", 8080, "port of the first node; the others use the next ports")
	start.Flags().StringVar(&dir, "dir", ".ais-cluster", "directory for the nodes' data and logs")
	start.Flags().StringVar(&aisnode, "aisnode", "", "path of the aisnode binary (default: next to ais, or in PATH)")
	start.Flags().BoolVar(&noSync, "no-sync", false, "run the targets without fsync (faster, for throwaway data)")
	start.Flags().StringArrayVar(&nodeFlags, "node-flag", nil, "an extra aisnode flag for every node, e.g. --node-flag=-keepalive-timeout=5s (repeatable)")
	start.Flags().StringVar(&tlsCert, "tls-cert", "", "PEM certificate `file` for every node: the cluster serves HTTPS (with --tls-key; it must name 127.0.0.1)")
	start.Flags().StringVar(&tlsKey, "tls-key", "", "PEM private key `file` of --tls-cert")
	return start
}

// tlsFiles checks the certificate and key of a new cluster and returns
// their absolute paths, which restarts from another directory keep.
func tlsFiles(cert, key string) (string, string, error) {
	if cert == "" && key == "" {
		return "", "", nil
	}
	if cert == "" || key == "" {
		return "", "", fmt.Errorf("--tls-cert %q and --tls-key %q go together: one is missing", cert, key)
	}
	if _, err := api.LoadKeyPair(cert, key); err != nil {
		return "", "", err
	}
	cert, err := filepath.Abs(cert)
	if err != nil {
		return "", "", err
	}
	key, err = filepath.Abs(key)
	return cert, key, err
}

// nodeArgs are the extra aisnode flags a new cluster saves for its nodes.
func nodeArgs(noSync bool, nodeFlags []string) []string {
	var args []string
	if noSync {
		args = append(args, "-no-sync")
	}
	return append(args, nodeFlags...)
}

// checkRestartFlags refuses to restart the saved cluster c in dir when the
// user set --gateways, --targets, --port or --mountpaths to other values: a restart keeps
// the existing nodes, so ignoring the flags would surprise.
func checkRestartFlags(cmd *cobra.Command, c *localCluster, dir string) error {
	gateways, targets := c.counts()
	firstPort := 0
	if len(c.Nodes) > 0 {
		firstPort = c.Nodes[0].Port
	}
	saved := []struct {
		flag  string
		value int
		what  string
	}{
		{"gateways", gateways, fmt.Sprintf("%d gateway(s)", gateways)},
		{"targets", targets, fmt.Sprintf("%d target(s)", targets)},
		{"port", firstPort, fmt.Sprintf("first port %d", firstPort)},
		{"mountpaths", max(c.Mountpaths, 1), fmt.Sprintf("%d mountpath(s) per target", max(c.Mountpaths, 1))},
	}
	var mismatches, flags []string
	for _, s := range saved {
		if !cmd.Flags().Changed(s.flag) {
			continue
		}
		v, err := cmd.Flags().GetInt(s.flag)
		if err != nil {
			return err
		}
		if v != s.value {
			mismatches = append(mismatches, fmt.Sprintf("--%s=%d (it has %s)", s.flag, v, s.what))
			flags = append(flags, "--"+s.flag)
		}
	}
	if len(mismatches) == 0 {
		return nil
	}
	return fmt.Errorf("cannot restart the cluster in %s with %s: a restart keeps its nodes; drop %s to restart it as it is, "+
		"or stop it with 'ais cluster stop --dir %s' and remove %s (its data goes too) to start a new one",
		dir, strings.Join(mismatches, ", "), strings.Join(flags, " and "), dir, dir)
}

func newClusterStopCommand() *cobra.Command {
	var dir string
	stop := &cobra.Command{
		Use:   "stop",
		Short: "Stop the local cluster in --dir (its data stays)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, c, unlock, err := openCluster(cmd, dir)
			if err != nil {
				return err
			}
			defer unlock()
			// The targets together, then the gateways: each target waits
			// to be offline in the map before it exits (a keepalive round),
			// which the gateways, still up, make.
			var stopped atomic.Int64
			for _, targets := range []bool{true, false} {
				var wg sync.WaitGroup
				for i := len(c.Nodes) - 1; i >= 0; i-- {
					if n := &c.Nodes[i]; (n.Role == "target") == targets {
						wg.Go(func() {
							if n.stop() {
								stopped.Add(1)
							}
							n.PID = 0
						})
					}
				}
				wg.Wait()
			}
			if c.AuthN != nil {
				if c.AuthN.stop() {
					stopped.Add(1)
				}
				c.AuthN.PID = 0
			}
			if err := c.save(dir); err != nil {
				return err
			}
			fmt.Printf("stopped %d node(s) of the cluster in %s\n", stopped.Load(), dir)
			return nil
		},
	}
	stop.Flags().StringVar(&dir, "dir", ".ais-cluster", "directory of the local cluster")
	return stop
}

func newClusterAddTargetCommand() *cobra.Command {
	return newClusterAddCommand("target", "t", "Start one more target in the local cluster in --dir; objects rebalance onto it")
}

func newClusterAddGatewayCommand() *cobra.Command {
	return newClusterAddCommand("gateway", "g", "Start one more gateway in the local cluster in --dir; it joins the Raft voters of the control plane")
}

// newClusterAddCommand starts one more node of a role in a local cluster.
func newClusterAddCommand(role, prefix, short string) *cobra.Command {
	var dir, aisnode string
	add := &cobra.Command{
		Use:   "add-" + role,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, c, unlock, err := openCluster(cmd, dir)
			if err != nil {
				return err
			}
			defer unlock()
			if c.Aisnode, err = findAisnode(aisnode); err != nil {
				return err
			}
			next := 0
			if c.AuthN != nil {
				next = c.AuthN.Port + 1
			}
			for _, n := range c.Nodes {
				next = max(next, n.Port+1)
			}
			if next, err = nextFreePort(next); err != nil {
				return err
			}
			name := c.newNodeName(dir, role, prefix)
			client, err := c.client()
			if err != nil {
				return err
			}
			// The cluster answers before a node is added to it.
			if _, err := client.Map(cmd.Context()); err != nil {
				return err
			}
			n := localNode{Name: name, Role: role, Port: next, Dir: filepath.Join(dir, name)}
			if err := c.ensureSecret(dir); err != nil {
				return err
			}
			// A new node that exits cancels the wait with its error.
			ctx, cancel := context.WithCancelCause(cmd.Context())
			defer cancel(nil)
			if err := c.launch(&n, c.joinURL(), cancel); err != nil {
				return err
			}
			c.Nodes = append(c.Nodes, n)
			if err := c.save(dir); err != nil {
				return err
			}
			// Its own health too: a gateway answers once it is a voter of
			// the log (it joins as a nonvoter until it caught up), and a
			// removal of another right after would find too few voters.
			tc, err := c.tlsConfig()
			if err != nil {
				return err
			}
			direct := map[string]*api.Client{n.Name: newClient(tc, c.url(n))}
			if _, err := waitForNodes(ctx, client, []string{n.Name}, direct, 30*time.Second); err != nil {
				if exited, ok := errors.AsType[*nodeExitError](err); ok {
					// Never in the cluster: not kept, or no command could
					// remove it (nor the cluster start again on its port).
					// One the map has (it joined, then exited) stays, to
					// start again.
					if m, merr := client.Map(cmd.Context()); merr == nil {
						if _, joined := m.Node(n.Name); !joined {
							c.Nodes = slices.DeleteFunc(c.Nodes, func(x localNode) bool { return x.Name == n.Name })
							if serr := c.save(dir); serr != nil {
								return errors.Join(exited, serr)
							}
						}
					}
					return exited
				}
				return err
			}
			fmt.Printf("added %s %s at %s\n", role, name, c.url(n))
			if role == "gateway" {
				fmt.Printf("  export AIS_ENDPOINT=%s\n", strings.Join(c.gatewayURLs(), ","))
			}
			return nil
		},
	}
	add.Flags().StringVar(&dir, "dir", ".ais-cluster", "directory of the local cluster")
	add.Flags().StringVar(&aisnode, "aisnode", "", "path of the aisnode binary")
	return add
}

func newClusterRmTargetCommand() *cobra.Command {
	return newClusterRmCommand("target", "Take a target out of the cluster; its objects move to the others (an offline one goes at once, with --yes or once confirmed; with --dir, its process stops too)")
}

func newClusterRmGatewayCommand() *cobra.Command {
	return newClusterRmCommand("gateway", "Take a gateway out of the cluster and its Raft voters; the primary hands over first; the last cannot go (with --dir, its process stops too)")
}

// newNodeName names a node of role added to the cluster in dir: the
// next number after the role's nodes, and neither the name of a node it
// has nor of one taken out before (its directory, a gateway's Raft state
// or a target's data, is kept: a new node there would start as the one
// removed).
func (c *localCluster) newNodeName(dir, role, prefix string) string {
	count := 0
	for _, n := range c.Nodes {
		if n.Role == role {
			count++
		}
	}
	taken := func(name string) bool {
		if slices.ContainsFunc(c.Nodes, func(n localNode) bool { return n.Name == name }) {
			return true
		}
		_, err := os.Lstat(filepath.Join(dir, name))
		return err == nil
	}
	name := fmt.Sprintf("%s%d", prefix, count+1)
	for taken(name) {
		count++
		name = fmt.Sprintf("%s%d", prefix, count+1)
	}
	return name
}

// newClusterRmCommand takes a node of a role out of the cluster.
func newClusterRmCommand(role, short string) *cobra.Command {
	var rmDir string
	var rmTimeout time.Duration
	var yes bool
	rm := &cobra.Command{
		Use:   "rm-" + role + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			c := client()
			if rmDir != "" {
				// The --dir cluster's node, whatever AIS_ENDPOINT names:
				// node names repeat from one local cluster to the next.
				_, lc, unlock, err := openCluster(cmd, rmDir)
				if err != nil {
					return err
				}
				unlock() // its client alone: the removal waits, and the state is read again to save it
				if c, err = lc.client(); err != nil {
					return err
				}
			}
			m, err := c.Map(cmd.Context())
			if err != nil {
				return err
			}
			node, ok := m.Node(id)
			if !ok {
				return fmt.Errorf("%s is not in the cluster (see 'ais cluster show')", id)
			}
			if node.Role.IsGateway() != (role == "gateway") {
				return fmt.Errorf("%s is a %s: use 'ais cluster rm-%s'", id, node.Role, node.Role)
			}
			// An offline target is not drained: it goes at once, and what
			// only it holds with it (a blip may be all that made it so).
			if node.Role.IsTarget() && node.State == cluster.StateOffline && !yes {
				err := askYes(cmd, fmt.Sprintf("target %s is offline: taken out now, the objects only it holds are given up. Take it out?", id),
					fmt.Sprintf("target %s is offline: taken out now, the objects only it holds are given up; bring it back to drain it, or pass --yes", id),
					fmt.Sprintf("%s not taken out", id))
				if err != nil {
					return err
				}
			}
			if node.State == cluster.StateLeaving {
				// Asked before (the wait below timed out): wait again.
				fmt.Fprintf(cmd.ErrOrStderr(), "%s is leaving already: waiting for its objects to move\n", id)
			} else if err := c.RemoveNode(cmd.Context(), id); err != nil {
				return err
			}
			// A target leaves once its objects have moved to the others.
			deadline := time.Now().Add(rmTimeout)
			for {
				m, err := c.Map(cmd.Context())
				if err != nil {
					return err
				}
				if _, still := m.Node(id); !still {
					break
				}
				if rmTimeout > 0 && time.Now().After(deadline) {
					return fmt.Errorf("%s is still leaving after %s (see 'ais cluster show')", id, rmTimeout)
				}
				select {
				case <-cmd.Context().Done():
					return fmt.Errorf("%w: %s is still leaving; run 'ais cluster rm-%s %s' again to wait for it", cmd.Context().Err(), id, role, id)
				case <-time.After(200 * time.Millisecond):
				}
			}
			if rmDir != "" {
				dir, lc, unlock, err := openCluster(cmd, rmDir)
				if err != nil {
					return err
				}
				defer unlock()
				for i, n := range lc.Nodes {
					if n.Name == id {
						n.stop()
						lc.Nodes = append(lc.Nodes[:i], lc.Nodes[i+1:]...)
						break
					}
				}
				if lc.Endpoint == node.URL {
					lc.Endpoint = lc.joinURL()
				}
				if err := lc.save(dir); err != nil {
					return err
				}
			}
			fmt.Printf("removed %s from the cluster\n", id)
			return nil
		},
	}
	rm.Flags().StringVar(&rmDir, "dir", "", "directory of a local cluster whose process to stop")
	rm.Flags().DurationVar(&rmTimeout, "timeout", 10*time.Minute, "how long to wait for the node to leave (a target's objects to move away; 0: no limit, as 'ais cluster maintenance')")
	// rm-gateway too: an all-in-one node (a gateway and a target) goes
	// by it.
	rm.Flags().BoolVarP(&yes, "yes", "y", false, "take out an offline target without asking (the objects only it holds are given up)")
	return rm
}

func newClusterShowCommand() *cobra.Command {
	var asJSON bool
	show := &cobra.Command{
		Use:   "show",
		Short: "Show the nodes, roles, states, capacity used and the map version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := client().ClusterStatus(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(s)
			}
			fmt.Printf("cluster %s, map version %d, primary %s\n", s.UUID, s.MapVersion, s.Primary)
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NODE\tROLE\tSTATE\tURL\tUSED\tCAPACITY\tNOTE")
			for _, n := range s.Nodes {
				var used, total int64
				for _, c := range n.Capacity {
					used += c.Used
					total += c.Total
				}
				usedText, totalText := "-", "-"
				if total > 0 {
					usedText = fmt.Sprintf("%s (%.0f%%)", shards.FormatSize(used), 100*float64(used)/float64(total))
					totalText = shards.FormatSize(total)
				}
				var notes []string
				if n.Error != "" {
					notes = append(notes, n.Error)
				}
				for _, j := range n.Jobs {
					if j.Running {
						notes = append(notes, fmt.Sprintf("%s running: %d objects, %s moved", j.Kind, j.Objects, shards.FormatSize(j.Bytes)))
					}
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.ID, n.Role, n.State, n.URL, usedText, totalText, printable(strings.Join(notes, "; ")))
			}
			return w.Flush()
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return show
}

// stopProcess sends SIGTERM, waits up to a minute (a target waits up to
// 20s to be offline in the map, a node drains its requests for 15s, then
// flushes its store: a kill before would drop the copies a mirror still
// makes), then SIGKILL, while ours says the process is
// still the one to stop (its id may be another's once it exited). It
// reports whether the process was running.
func stopProcess(pid int, ours func() bool) bool {
	if !ours() {
		return false
	}
	// Gone: exited, or its id another process's (by its start time). Not
	// by ours: its command line, read as it takes the signal, may come
	// back empty while it runs on (a stop that said done, seen in a
	// loaded test run).
	started := startTime(pid)
	gone := func() bool { return !alive(pid) || startTime(pid) != started }
	syscall.Kill(pid, syscall.SIGTERM)
	for range 600 {
		if gone() {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	return true
}

// startTime is a process's start time (clock ticks since boot, field 22
// of /proc/PID/stat), "" when it cannot be read.
func startTime(pid int) string {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The fields after the parenthesized command name, from the state
	// (field 3): the start time is the 20th of them.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return ""
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 20 {
		return ""
	}
	return fields[19]
}

// leftRunning adds to the error of a start that failed the nodes it
// launched that still run: they are not stopped, and the user is told.
func (c *localCluster) leftRunning(dir string, launched []string, err error) error {
	var running []string
	for i := range c.Nodes {
		if slices.Contains(launched, c.Nodes[i].Name) && c.Nodes[i].running() {
			running = append(running, c.Nodes[i].Name)
		}
	}
	if len(running) == 0 {
		return err
	}
	return fmt.Errorf("%w; started and still running: %s ('ais cluster stop --dir %s' stops them)", err, strings.Join(running, ", "), dir)
}
