package gateway

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/store"
)

// AIStore's per-node queries: GET /v1/daemon?what= on any node, and
// GET /v1/reverse/daemon?what= on a gateway, forwarded to the node named
// in the Ais-Node-Id header.

// Values of ?what= on /v1/daemon.
const (
	whatSnode      = "snode"
	whatNodeStatus = "node_status"
	whatDisk       = "disk"
	whatMountpaths = "mountpaths"
)

// daemonWhats are the queries /v1/daemon answers, for its 400.
var daemonWhats = []string{whatMap, whatBuckets, whatSnode, whatConfig, whatClusterConfig, whatNodeStatus, whatDisk, whatMountpaths}

// maxReverseBody bounds the answer of a node to a forwarded query.
const maxReverseBody = 16 << 20

// handleDaemonGet answers GET /v1/daemon?what=, AIStore's per-node
// queries.
func (n *Node) handleDaemonGet(w http.ResponseWriter, r *http.Request) {
	what := r.URL.Query().Get(api.QueryWhat)
	// The cluster's metadata and settings wait for the node to be ready,
	// as on /v1/cluster (a node starting answered the defaults); its own
	// identity and health do not.
	if (what == whatMap || what == whatBuckets || what == whatConfig || what == whatClusterConfig) && !n.ready.Load() {
		n.writeError(w, r, n.notReady())
		return
	}
	switch what {
	case whatMap:
		writeJSON(w, n.currentMap())
	case whatBuckets:
		writeJSON(w, n.shownBuckets(r, n.currentBuckets()))
	case whatSnode:
		writeJSON(w, n.snode())
	case whatConfig, whatClusterConfig:
		writeJSON(w, n.clusterConfigAIS())
	case whatNodeStatus:
		writeJSON(w, n.nodeStatus(r.Context()))
	case whatDisk:
		writeJSON(w, n.diskStats(r.Context()))
	case whatMountpaths:
		n.handleGetMountpaths(w, r)
	default:
		n.writeError(w, r, badRequest("what=%q is not known on /v1/daemon (want one of %s)", what, strings.Join(daemonWhats, ", ")))
	}
}

// snode is this node in AIStore's shape: a proxy when it is a gateway.
func (n *Node) snode() cluster.Snode {
	if n.config.Role.IsGateway() {
		return n.self.Snode(cluster.DaemonProxy)
	}
	return n.self.Snode(cluster.DaemonTarget)
}

// handleReverseDaemon forwards GET /v1/reverse/daemon to the node the
// Ais-Node-Id header names, as /v1/daemon, and returns its answer.
func (n *Node) handleReverseDaemon(w http.ResponseWriter, r *http.Request) {
	if err := n.requireGateway(); err != nil {
		n.writeError(w, r, err)
		return
	}
	id := r.Header.Get(api.HeaderNodeID)
	if id == "" {
		n.writeError(w, r, badRequest("GET /v1/reverse/daemon: the %s header must name the node", api.HeaderNodeID))
		return
	}
	node, ok := n.currentMap().Node(id)
	if !ok {
		n.writeError(w, r, fmt.Errorf("%w: %q", cluster.ErrNodeNotFound, id))
		return
	}
	if node.ID == n.config.ID {
		n.handleDaemonGet(w, r)
		return
	}
	target := strings.TrimRight(node.URL, "/") + "/v1/daemon?" + r.URL.RawQuery
	// The node answers within peerQueryTimeout (a hung disk's capacity
	// included): one that does not is not waited for without end.
	ctx, cancel := context.WithTimeout(r.Context(), peerQueryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		n.writeError(w, r, badRequest("reverse: %w", err))
		return
	}
	resp, err := n.peer.HTTP().Do(req)
	if err != nil {
		n.writeError(w, r, fmt.Errorf("%w: node %s: %w", api.ErrUnavailable, id, err))
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", api.HeaderError} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, io.LimitReader(resp.Body, maxReverseBody))
}

// nodeStatus gathers this node's status.
func (n *Node) nodeStatus(ctx context.Context) api.DaemonStatus {
	var mapVersion int64 // 0 for a node waiting for its first map
	if m := n.currentMap(); m != nil {
		mapVersion = m.Version
	}
	s := api.DaemonStatus{
		Snode: n.snode(), Status: "online", Deployment: "dev", Version: "aisgo",
		SmapVersion: store.Int64String(mapVersion),
		Uptime:      store.Int64String(time.Since(n.started)),
		SysInfo:     sysInfo(),
		Capacity:    api.TargetCapacity{Mountpaths: map[string]api.MountpathUsage{}},
	}
	s.Tracker = map[string]api.StatItem{"up.ns.time": {Value: s.Uptime}}
	if n.config.Store == nil {
		return s
	}
	capacity, err := n.capacityWithin(ctx)
	if err != nil {
		s.Capacity.Error = n.redact(err.Error())
	}
	states := map[string]string{}
	if n.config.Storage != nil {
		for _, mp := range n.config.Storage.MountpathStatuses() {
			states[mp.Path] = mp.State
		}
	}
	var used, total int64
	s.Capacity.PctMin = 100
	// Mountpaths on one filesystem are the same bytes: summed once.
	counted := map[string]bool{}
	for _, c := range capacity {
		pct := int32(percent(c.Used, c.Total))
		state := states[c.Path]
		if state == "" {
			state = "enabled"
		}
		s.Capacity.Mountpaths[c.Path] = api.MountpathUsage{Used: store.Int64String(c.Used), Avail: store.Int64String(c.Total - c.Used),
			PctUsed: pct, State: state, Disks: []string{}}
		if fs := cmp.Or(c.Filesystem, c.Path); !counted[fs] {
			counted[fs] = true
			used, total = used+c.Used, total+c.Total
		}
		s.Capacity.PctMax = max(s.Capacity.PctMax, pct)
		s.Capacity.PctMin = min(s.Capacity.PctMin, pct)
	}
	if len(capacity) == 0 {
		s.Capacity.PctMin = 0
	}
	s.Capacity.PctAvg = int32(percent(used, total))
	s.Capacity.TotalUsed, s.Capacity.TotalAvail = store.Int64String(used), store.Int64String(total-used)
	return s
}

// diskStats answers what=disk: per mountpath, its usage (AIS-Go does not
// sample block devices).
func (n *Node) diskStats(ctx context.Context) map[string]api.MountpathUsage {
	return n.nodeStatus(ctx).Capacity.Mountpaths
}

// sysInfo reads the host's memory and load and the process's CPU time.
func sysInfo() api.SysInfo {
	info := api.SysInfo{CPUs: runtime.NumCPU()}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	info.ProcMem = ms.Sys
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var total, avail uint64
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 2 {
				continue
			}
			v, _ := strconv.ParseUint(fields[1], 10, 64)
			switch fields[0] {
			case "MemTotal:":
				total = v << 10
			case "MemAvailable:":
				avail = v << 10
			}
		}
		if total > 0 && avail <= total {
			info.MemUsed, info.MemAvail = total-avail, avail
			info.PctMemUsed = float64(total-avail) * 100 / float64(total)
		}
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		fields := strings.Fields(string(data))
		if len(fields) >= 3 {
			info.LoadAvg.One, _ = strconv.ParseFloat(fields[0], 64)
			info.LoadAvg.Five, _ = strconv.ParseFloat(fields[1], 64)
			info.LoadAvg.Fifteen, _ = strconv.ParseFloat(fields[2], 64)
			info.PctCPUUsed = min(100, info.LoadAvg.One*100/float64(info.CPUs))
		}
	}
	return info
}
