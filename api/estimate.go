package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/aisgo/aisgo/store"
)

// DsortEstimate is what a dSort job of a spec would do, answered without
// running it (POST /v1/sort/estimate): every target reads only the
// headers of the input shards it owns and times its disk, the gateway
// plans the output shards as the job would and times the network.
// Durations are nanoseconds in JSON.
type DsortEstimate struct {
	Input        Bck    `json:"input_bck"`
	Output       Bck    `json:"output_bck"`
	InputFormat  string `json:"input_format"`
	OutputFormat string `json:"output_format"`
	// InputShards were found, MissingShards not.
	InputShards   int64 `json:"input_shards"`
	MissingShards int64 `json:"missing_shards"`
	// Records are those extraction finds, OutputRecords those the output
	// shards hold (fewer when a key map drops some).
	Records       int64 `json:"records"`
	OutputRecords int64 `json:"output_records"`
	// InputBytes is the input shards' size, FileBytes the bytes of the
	// files in them (a job's extracted_size).
	InputBytes int64 `json:"input_bytes"`
	FileBytes  int64 `json:"file_bytes"`
	// OutputBytes is the output shards' size: to the byte when
	// OutputExact (tar output), otherwise their size as tar, before the
	// output format compresses or re-encodes them.
	OutputBytes  int64  `json:"output_bytes"`
	OutputExact  bool   `json:"output_exact"`
	OutputShards int64  `json:"output_shards"`
	FirstShard   string `json:"first_shard,omitempty"`
	LastShard    string `json:"last_shard,omitempty"`
	// Spills: the bytes past a target's memory budget go to spill files;
	// false for tar input, whose entries then stay in their shards.
	Spills   bool                  `json:"spills"`
	Targets  []DsortTargetEstimate `json:"targets"`
	Forecast DsortForecast         `json:"forecast"`
	// Seed is the seed of a shuffle: a job cuts the same shards only
	// with the same seed. Written as a string, as in a spec (a drawn one
	// is past what a JSON number keeps exactly in a browser); read as
	// either (an older node's is a number).
	Seed     store.Int64String `json:"seed,omitempty"`
	Elapsed  time.Duration     `json:"elapsed"`
	Warnings []string          `json:"warnings,omitempty"`
}

// DsortTargetEstimate is one target's part of an estimate.
type DsortTargetEstimate struct {
	Node          string   `json:"node"`
	InputShards   int64    `json:"input_shards"`
	MissingShards int64    `json:"missing_shards,omitempty"`
	Missing       []string `json:"missing,omitempty"`
	Records       int64    `json:"records"`
	InputBytes    int64    `json:"input_bytes"`
	FileBytes     int64    `json:"file_bytes"`
	// Memory keeps every record in memory; MemoryLimit is the job's
	// budget on the target; PastBudget the bytes that do not fit it.
	Memory      int64 `json:"memory"`
	MemoryLimit int64 `json:"memory_limit"`
	PastBudget  int64 `json:"past_budget"`
	// What reading the headers read and took, and the disk's samples.
	ScanBytes  int64         `json:"scan_bytes"`
	ScanTime   time.Duration `json:"scan_time"`
	ReadBytes  int64         `json:"read_bytes"`
	ReadTime   time.Duration `json:"read_time"`
	WriteBytes int64         `json:"write_bytes"`
	WriteTime  time.Duration `json:"write_time"`
	// Disk names the disks under the target's mountpaths: targets with
	// the same Disk share them.
	Disk string `json:"disk,omitempty"`
	// The output shards the target would create, the record bytes it
	// would take from and send to other targets, and the network sample.
	OutputShards int64         `json:"output_shards"`
	OutputBytes  int64         `json:"output_bytes"`
	FetchBytes   int64         `json:"fetch_bytes"`
	ServeBytes   int64         `json:"serve_bytes"`
	NetworkBytes int64         `json:"network_bytes"`
	NetworkTime  time.Duration `json:"network_time"`
	// The forecast of the target's phases.
	Extract  time.Duration `json:"extract_time"`
	Create   time.Duration `json:"create_time"`
	Warnings []string      `json:"warnings,omitempty"`
}

// DsortForecast is the time a job's phases should take.
type DsortForecast struct {
	Extract time.Duration `json:"extract_time"`
	Sort    time.Duration `json:"sort_time"`
	Create  time.Duration `json:"create_time"`
	Total   time.Duration `json:"total_time"`
}

// Rate is bytes per second, 0 when nothing was timed.
func Rate(bytes int64, d time.Duration) float64 {
	if bytes <= 0 || d <= 0 {
		return 0
	}
	return float64(bytes) / d.Seconds()
}

// EstimateDsort answers what a job of the spec (JSON or YAML) would do,
// without starting it. It can take as long as reading every input
// shard's headers (all of a compressed shard), so the gateway timeout
// does not apply; ctx bounds it. An input that matches no object is an
// ErrBadRequest naming the template.
func (c *Client) EstimateDsort(ctx context.Context, spec []byte) (DsortEstimate, error) {
	var est DsortEstimate
	err := c.doJSON(ctx, request{method: http.MethodPost, path: "/v1/sort/estimate", body: strings.NewReader(string(spec)), size: int64(len(spec)),
		header: http.Header{"Content-Type": {"application/json"}}, patient: true}, &est)
	return est, err
}
