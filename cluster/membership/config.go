package membership

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aisgo/aisgo/shards"
	"github.com/aisgo/aisgo/store"
)

// ErrInvalidConfig marks a cluster config change that names an unknown
// field or an invalid value.
var ErrInvalidConfig = errors.New("membership: invalid cluster config")

// ClusterConfig is the cluster-wide configuration every gateway holds:
// the defaults of what a request leaves out. AIStore's names and shapes.
type ClusterConfig struct {
	Version int64       `json:"version"`
	Dsort   DsortConfig `json:"distributed_sort"`
	Space   SpaceConfig `json:"space"`
	LRU     LRUConfig   `json:"lru"`
}

// SpaceConfig are the capacity watermarks of every mountpath, in percent
// used: above HighWM, LRU evicts down to LowWM; above OutOfSpace, PUTs are
// refused (507).
type SpaceConfig struct {
	LowWM      int `json:"lowwm"`
	HighWM     int `json:"highwm"`
	OutOfSpace int `json:"out_of_space"`
}

// LRUConfig: how often a target checks its capacity.
type LRUConfig struct {
	CapacityUpdTime store.Duration `json:"capacity_upd_time"`
}

// DsortConfig holds the defaults of a dSort spec's optional fields.
type DsortConfig struct {
	// Reactions to conditions a job meets: ignore, warn or abort.
	DuplicatedRecords string `json:"duplicated_records"`
	MissingShards     string `json:"missing_shards"`
	EKMMalformedLine  string `json:"ekm_malformed_line"`
	EKMMissingKey     string `json:"ekm_missing_key"`
	// DefaultMaxMemUsage caps the memory a job's records take: "N%" of
	// the node's memory or a size.
	DefaultMaxMemUsage MemUsage `json:"default_max_mem_usage"`
}

// DefaultClusterConfig is the config of a new cluster.
func DefaultClusterConfig() ClusterConfig {
	return ClusterConfig{Dsort: DsortConfig{
		DuplicatedRecords: "ignore", MissingShards: "ignore", EKMMalformedLine: "abort", EKMMissingKey: "abort",
		DefaultMaxMemUsage: "80%",
	},
		Space: SpaceConfig{LowWM: 75, HighWM: 90, OutOfSpace: 95},
		LRU:   LRUConfig{CapacityUpdTime: store.Duration(10 * time.Second)},
	}
}

// withDefaults fills the sections a config saved before they existed
// lacks.
func (c ClusterConfig) withDefaults() ClusterConfig {
	d := DefaultClusterConfig()
	if c.Space == (SpaceConfig{}) {
		c.Space = d.Space
	}
	if c.LRU.CapacityUpdTime == 0 {
		c.LRU = d.LRU
	}
	return c
}

// Validate checks every field.
func (c ClusterConfig) Validate() error {
	for _, r := range []struct{ name, value string }{
		{"duplicated_records", c.Dsort.DuplicatedRecords}, {"missing_shards", c.Dsort.MissingShards},
		{"ekm_malformed_line", c.Dsort.EKMMalformedLine}, {"ekm_missing_key", c.Dsort.EKMMissingKey},
	} {
		switch r.value {
		case "ignore", "warn", "abort":
		default:
			return fmt.Errorf("%w: distributed_sort.%s is %q (want ignore, warn or abort)", ErrInvalidConfig, r.name, r.value)
		}
	}
	if sp := c.Space; !(0 < sp.LowWM && sp.LowWM < sp.HighWM && sp.HighWM < sp.OutOfSpace && sp.OutOfSpace <= 100) {
		return fmt.Errorf("%w: space watermarks lowwm %d, highwm %d, out_of_space %d: want 0 < lowwm < highwm < out_of_space <= 100", ErrInvalidConfig, sp.LowWM, sp.HighWM, sp.OutOfSpace)
	}
	if c.LRU.CapacityUpdTime < store.Duration(time.Second) || c.LRU.CapacityUpdTime > store.Duration(24*time.Hour) {
		return fmt.Errorf("%w: lru.capacity_upd_time %s: want 1s to 24h", ErrInvalidConfig, time.Duration(c.LRU.CapacityUpdTime))
	}
	if !validMemUsage(c.Dsort.DefaultMaxMemUsage) {
		return fmt.Errorf("%w: distributed_sort.default_max_mem_usage is %q (want a percentage like \"80%%\" or a size in bytes)", ErrInvalidConfig, c.Dsort.DefaultMaxMemUsage)
	}
	return nil
}

// validMemUsage accepts what a dSort spec's max_mem_usage does.
func validMemUsage(s MemUsage) bool {
	_, _, err := shards.ParseMemUsage(string(s))
	return err == nil
}

// MemUsage is a memory budget, "N%" or a size; a JSON number is a
// number of bytes (as `ais config cluster ...=1073741824` sends it).
type MemUsage string

// UnmarshalJSON accepts a string or a number.
func (m *MemUsage) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		*m = MemUsage(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(data, &n); err != nil {
		return fmt.Errorf("default_max_mem_usage: want a string like \"80%%\" or \"8GiB\", or a number of bytes")
	}
	*m = MemUsage(n.String())
	return nil
}

// ResolveConfig makes a SetConfig carry the whole config its patch makes
// of s's, checked by this build's rules: the nodes that apply it (of this
// build on) install that config, whatever their own rules (a cluster
// being upgraded); a node of an older build applies the patch.
func ResolveConfig(s Snapshot, c Change) (Change, error) {
	if c.Kind != SetConfig {
		return c, nil
	}
	config, err := applyConfig(s.Config, c.Patch)
	if err != nil {
		return c, err
	}
	c.Config = config
	return c, nil
}

// configVersion is a config's version; the default's when there is none.
func configVersion(c *ClusterConfig) int64 {
	if c == nil {
		return DefaultClusterConfig().Version
	}
	return c.Version
}

// applyConfig decodes a partial config over the current one; an unknown
// field or a bad value refuses the whole change.
func applyConfig(current *ClusterConfig, patch json.RawMessage) (*ClusterConfig, error) {
	next := DefaultClusterConfig()
	if current != nil {
		next = current.withDefaults()
	}
	dec := json.NewDecoder(strings.NewReader(string(patch)))
	dec.DisallowUnknownFields()
	decoded := next
	if err := dec.Decode(&decoded); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	decoded.Version = next.Version + 1
	if err := decoded.Validate(); err != nil {
		return nil, err
	}
	return &decoded, nil
}
