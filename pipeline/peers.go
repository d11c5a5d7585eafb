package pipeline

import (
	"context"
	"io"
	"time"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/shards"
	"github.com/aisgo/aisgo/store"
)

// JobInit is what every target of a job receives before it starts.
type JobInit struct {
	ID   string `json:"id"`
	Spec Spec   `json:"spec"`
	// Seed is the shuffle seed the coordinator fixed, so that every target
	// agrees even when the spec left it out.
	Seed int64 `json:"seed"`
	// Map is the cluster map the job runs on: its active targets extract,
	// hold and create; placement uses it throughout.
	Map *cluster.Map `json:"map"`
	// Attempt counts the job's runs: a job that lost a target runs again
	// under the same id with a higher attempt, which replaces what is
	// left of the previous one on each target.
	Attempt int `json:"attempt,omitempty"`
}

// Cluster is what a coordinator asks of the cluster around a job: the
// map, buckets, listings, key maps, removal.
type Cluster interface {
	// Map returns the current cluster map.
	Map() *cluster.Map
	// BucketProps returns a bucket's props, or store.ErrBucketNotFound.
	BucketProps(ctx context.Context, b store.Bucket) (store.Props, error)
	// CreateBucket creates a bucket (the output of a job).
	CreateBucket(ctx context.Context, b store.Bucket, props store.Props) error
	// DestroyEmptyBucket removes a bucket job made if it is still empty
	// and no other job writes into it: the job did not start.
	DestroyEmptyBucket(ctx context.Context, b store.Bucket, job string) error
	// FetchKeyMap reads an external key map from a URL or an ais:// object.
	FetchKeyMap(ctx context.Context, location string) ([]byte, error)
	// RemoveObjects removes the copies job wrote (CustomJob) of objects,
	// wherever in the cluster they are, once no rebalance is moving them:
	// the output of an aborted job may have moved while the targets
	// changed. Copies another writer stored (before the job, or since)
	// stay; so do copies newer than asOf (the moment the job failed).
	RemoveObjects(ctx context.Context, b store.Bucket, names []string, job string, asOf store.Stamp) error
	// RegisterJob records a job in the cluster's replicated registry
	// before any target holds it, so that another gateway can end it if
	// its coordinator goes; an error refuses the job.
	RegisterJob(ctx context.Context, reg JobRegistration) error
	// EndJob records how a job ended: cause is "" for a finished job.
	EndJob(ctx context.Context, id, cause string) error
	// Defaults returns the cluster's defaults of a spec's optional fields.
	Defaults() Defaults
}

// JobRegistration is a job as the registry holds it.
type JobRegistration struct {
	ID      string
	Output  store.Bucket
	Targets []string
	Started time.Time
	// Names names the output shards (the output template with its
	// suffix, or the key map's templates): a job running into the same
	// bucket under the same names would write over this one's shards.
	Names string
}

// Targets runs a job's phases on its targets.
type Targets interface {
	Init(ctx context.Context, target cluster.Node, init JobInit) error
	// Extract runs extraction on a target and returns its records'
	// metadata, sorted as its run.
	Extract(ctx context.Context, target cluster.Node, id string) ([]shards.RecordMeta, error)
	// Create builds a target's output shards.
	Create(ctx context.Context, target cluster.Node, id string, planned []shards.OutputShard) error
	// Finish releases a finished job's resources on a target.
	Finish(ctx context.Context, target cluster.Node, id string) error
	// Abort stops a job on a target and removes what it wrote.
	Abort(ctx context.Context, target cluster.Node, id string, cause string) error
	// Stats returns a job's state on a target: ErrJobNotFound from a
	// target that restarted since.
	Stats(ctx context.Context, target cluster.Node, id string) (JobStats, error)
	// Keepalive tells a target the job's coordinator is alive (see
	// Worker.Heard).
	Keepalive(ctx context.Context, target cluster.Node, id string) error
}

// Fetcher is how a target gets record bytes from the target holding them:
// one request for many records, answered with a stream of frames.
type Fetcher interface {
	// attempt is the asking job's (see Worker.ServeRecords).
	Fetch(ctx context.Context, holder cluster.Node, id string, attempt int, records []shards.RecordMeta) (io.ReadCloser, error)
}
