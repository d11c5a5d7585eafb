package gateway

import (
	"strconv"

	"github.com/aisgo/aisgo/store"
)

// whatClusterConfig is AIStore's name of the cluster config query.
const whatClusterConfig = "cluster_config"

// aisConfig is the cluster config in AIStore's shape: the sections its
// clients read. The bucket sections are the defaults a new bucket gets;
// distributed_sort is the replicated config; the rest are fixed values of
// AIS-Go, given so that the clients find the keys they expect.
type aisConfig struct {
	Version    string                `json:"config_version"` // AIStore's name, an integer in a string
	Space      map[string]any        `json:"space"`
	LRU        map[string]any        `json:"lru"`
	Mirror     store.MirrorProps     `json:"mirror"`
	EC         store.ECProps         `json:"ec"`
	Checksum   store.ChecksumProps   `json:"checksum"`
	Versioning store.VersioningProps `json:"versioning"`
	Dsort      map[string]any        `json:"distributed_sort"`
	Timeout    map[string]string     `json:"timeout"`
	Client     map[string]string     `json:"client"`
	Features   string                `json:"features"`
}

// clusterConfigAIS builds the cluster config in AIStore's shape.
func (n *Node) clusterConfigAIS() aisConfig {
	cfg := n.control.Current().ClusterConfig()
	defaults := store.DefaultProps()
	return aisConfig{
		Version:    strconv.FormatInt(cfg.Version, 10),
		Space:      map[string]any{"cleanupwm": max(cfg.Space.LowWM-10, 1), "lowwm": cfg.Space.LowWM, "highwm": cfg.Space.HighWM, "out_of_space": cfg.Space.OutOfSpace},
		LRU:        map[string]any{"enabled": defaults.LRU.Enabled, "dont_evict_time": defaults.LRU.DontEvictTime, "capacity_upd_time": cfg.LRU.CapacityUpdTime},
		Mirror:     defaults.Mirror,
		EC:         defaults.EC,
		Checksum:   defaults.Checksum,
		Versioning: defaults.Versioning,
		Dsort: map[string]any{
			"duplicated_records": cfg.Dsort.DuplicatedRecords, "missing_shards": cfg.Dsort.MissingShards,
			"ekm_malformed_line": cfg.Dsort.EKMMalformedLine, "ekm_missing_key": cfg.Dsort.EKMMissingKey,
			"default_max_mem_usage": cfg.Dsort.DefaultMaxMemUsage, "call_timeout": "10m", "compression": "never",
		},
		Timeout:  map[string]string{"cplane_operation": "2s", "max_keepalive": "4s", "max_host_busy": "20s", "startup_time": "1m", "send_file_time": "5m"},
		Client:   map[string]string{"client_timeout": "2m", "client_long_timeout": "30m", "list_timeout": "10m"},
		Features: "0",
	}
}
