package membership

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalidConfig marks a cluster config change that names an unknown
// field or an invalid value.
var ErrInvalidConfig = errors.New("membership: invalid cluster config")

// ClusterConfig is the cluster-wide configuration every gateway holds:
// the defaults of what a request leaves out. AIStore's names and shapes.
type ClusterConfig struct {
	Version int64       `json:"version"`
	Dsort   DsortConfig `json:"distributed_sort"`
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
	DefaultMaxMemUsage string `json:"default_max_mem_usage"`
}

// DefaultClusterConfig is the config of a new cluster.
func DefaultClusterConfig() ClusterConfig {
	return ClusterConfig{Dsort: DsortConfig{
		DuplicatedRecords: "ignore", MissingShards: "ignore", EKMMalformedLine: "abort", EKMMissingKey: "abort",
		DefaultMaxMemUsage: "80%",
	}}
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
	if !validMemUsage(c.Dsort.DefaultMaxMemUsage) {
		return fmt.Errorf("%w: distributed_sort.default_max_mem_usage is %q (want a percentage like \"80%%\" or a size in bytes)", ErrInvalidConfig, c.Dsort.DefaultMaxMemUsage)
	}
	return nil
}

// validMemUsage accepts "N%" with N in (0, 100], or a positive number of
// bytes with an optional IEC unit (KiB, MiB, GiB, TiB; KB, MB, GB, TB).
func validMemUsage(s string) bool {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(p, 64)
		return err == nil && v > 0 && v <= 100
	}
	number := strings.TrimRight(s, "BIKMGTbikmgt")
	switch strings.ToUpper(s[len(number):]) {
	case "", "B", "KB", "MB", "GB", "TB", "KIB", "MIB", "GIB", "TIB":
	default:
		return false
	}
	v, err := strconv.ParseInt(number, 10, 64)
	return err == nil && v > 0
}

// applyConfig decodes a partial config over the current one; an unknown
// field or a bad value refuses the whole change.
func applyConfig(current *ClusterConfig, patch json.RawMessage) (*ClusterConfig, error) {
	next := DefaultClusterConfig()
	if current != nil {
		next = *current
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
