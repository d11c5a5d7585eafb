package api

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/aisgo/aisgo/store"
)

// Headers of the native API.
const (
	HeaderChecksumType  = "Ais-Checksum-Type"
	HeaderChecksumValue = "Ais-Checksum-Value"
	HeaderVersion       = "Ais-Version"
	HeaderAtime         = "Ais-Atime" // Unix nanoseconds
	HeaderStamp         = "Ais-Stamp" // the write's store.Stamp
	// HeaderDeleted is "true" on an intra-cluster 404 for a name deleted
	// at the stamp of HeaderStamp (a tombstone).
	HeaderDeleted = "Ais-Deleted"
	// AIStore's HEAD object headers.
	HeaderPresent        = "Ais-Present"
	HeaderName           = "Ais-Name"
	HeaderBucketName     = "Ais-Bucket-Name"
	HeaderBucketProvider = "Ais-Bucket-Provider"
	HeaderMirrorCopies   = "Ais-Mirror-Copies"
	HeaderCustom         = "Ais-Custom-Md"
	HeaderETag           = "Ais-Etag" // "true" on a PUT: keep the MD5 as the S3 ETag
	HeaderAppendHandle   = "Ais-Append-Handle"
	HeaderBucketProps    = "Ais-Bucket-Props"
	// HeaderJobID names the job a request started (a change of props
	// that makes copies or parts).
	HeaderJobID  = "Ais-Job-Id"
	HeaderNodeID = "Ais-Node-Id" // the node that served a request
	HeaderError  = "Hdr-Error"   // a HEAD error, as the JSON error body
)

// Query parameters of the native API.
const (
	QueryProvider = "provider"
	// QueryNamespace names a bucket's namespace (AIStore's "@uuid#ns");
	// only the global one ("" or "@#") is served.
	QueryNamespace    = "namespace"
	QueryProxyID      = "pid" // set on redirects from a gateway
	QueryRedirectTime = "utm" // Unix nanoseconds of the redirect
	QueryMapVersion   = "smv" // the redirecting node's map version
	QueryArchPath     = "archpath"
	QueryArchMime     = "archmime"    // a shard's format when its name does not tell
	QueryArchRegex    = "archregx"    // with archmode: the files of a shard, as a tar
	QueryArchMode     = "archmode"    // regexp (default), prefix, suffix, substr or wdskey
	QueryLatest       = "latest-ver"  // a GET of a remote object checks the remote's version
	QuerySynchronize  = "synchronize" // latest-ver that also drops a copy the remote no longer has
	QueryAppendType   = "append_type" // append or flush (AppendTypeAppend, AppendTypeFlush)
	QueryAppendHandle = "append_handle"
	QueryValidate     = "validate-checksum"
	QueryProps        = "props"
	QueryPrefix       = "prefix"
	QueryPageSize     = "pagesize"
	QueryToken        = "continuation_token"
	QueryStartAfter   = "start_after"
	QueryWhat         = "what"
	QueryUUID         = "uuid"
	QueryRegex        = "regex"
	QueryOnlyActive   = "only_active"
	// QueryJob, with what=status, narrows the status to one job: what a
	// user with LIST on the job's bucket only may read.
	QueryJob = "job"
	// QueryFlags are a listing's flags (ListArchive...), for clients
	// that cannot send a body with GET (browsers).
	QueryFlags = "flags"
)

// Values of QueryAppendType.
const (
	AppendTypeAppend = "append"
	AppendTypeFlush  = "flush"
)

// Actions of JSON action messages.
const (
	ActionCreateBucket  = "create-bck"
	ActionDestroyBucket = "destroy-bck"
	ActionList          = "list"
	ActionSetProps      = "set-bprops"
	// Data protection: a bucket's copies and parts, and the scrub.
	ActionMakeNCopies = "make-n-copies"
	ActionECEncode    = "ec-encode"
	ActionScrub       = "scrub"
	// Cluster jobs (PUT /v1/cluster): stop a job by id.
	ActionStopJob = "stop"
	// Mountpaths of a target (PUT /v1/daemon/mountpaths).
	ActionAttachMountpath  = "attach"
	ActionDetachMountpath  = "detach"
	ActionEnableMountpath  = "enable"
	ActionDisableMountpath = "disable"
)

// ActionMessage is the body of control requests.
type ActionMessage struct {
	Action string          `json:"action"`
	Name   string          `json:"name,omitempty"`
	Value  json.RawMessage `json:"value,omitempty"`
}

// ListObjectsMessage (AIStore's LsoMsg) selects a page of objects.
type ListObjectsMessage struct {
	UUID              string `json:"uuid,omitempty"`
	Props             string `json:"props,omitempty"` // "name,size,checksum,atime,version,etag"
	Prefix            string `json:"prefix,omitempty"`
	StartAfter        string `json:"start_after,omitempty"`
	ContinuationToken string `json:"continuation_token,omitempty"`
	PageSize          int    `json:"pagesize,omitempty"`
	// Flags are AIStore's list flags (ListNoRecursion, ListArchive...),
	// a string on the wire.
	Flags FlagString `json:"flags,omitempty"`
	// TimeFormat is the layout of atime: a Go layout or a name (RFC822,
	// the default, RFC3339, RFC3339Nano, RFC1123...).
	TimeFormat string `json:"time_format,omitempty"`
}

// List flags of AIStore that AIS-Go honors.
const (
	// ListCached lists only what the cluster has of a remote bucket.
	ListCached = 1 << 0
	// ListArchive lists the members of each shard after it.
	ListArchive = 1 << 3
	// ListNotCached is AIStore's "only what the cluster does not have"
	// of a remote bucket: refused, not taken for a plain listing.
	ListNotCached = 1 << 9
	// ListNoRecursion lists one level under the prefix: objects, and the
	// directories below as entries of their own.
	ListNoRecursion = 1 << 11
	// ListNoDirs leaves the directories out of a ListNoRecursion listing.
	ListNoDirs = 1 << 13
	// ListNoRecursionBefore is the bit an earlier build took for
	// ListNoRecursion: a gateway sends both to targets, and a target
	// takes either from a gateway (which refuses ListNotCached), so that
	// a rolling upgrade lists one level on builds of both.
	ListNoRecursionBefore = 1 << 9
)

// Flags of a list entry (AIStore's).
const (
	EntryPresent = 1 << 6
	EntryInArch  = 1 << 7
	EntryIsDir   = 1 << 8
	// EntryVerChanged marks a remote object the cluster has a copy of
	// that the remote replaced since (its size differs).
	EntryVerChanged = 1 << 10
)

// FlagString is a uint64 that JSON carries as a string, as AIStore sends
// its list flags; a number is read too.
type FlagString uint64

// MarshalJSON writes the flags as a string.
func (f FlagString) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatUint(uint64(f), 10) + `"`), nil
}

// UnmarshalJSON reads "8" or 8 ("" is none).
func (f *FlagString) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" {
		*f = 0
		return nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("flags: want an unsigned integer or a string of one, not %.40s", b)
	}
	*f = FlagString(v)
	return nil
}

// MaxPageSize is the largest page a gateway returns, and the page size of
// a request that asks for 0.
const MaxPageSize = 10000

// ListEntry is one object of a listing.
type ListEntry struct {
	Name     string `json:"name"`
	Size     int64  `json:"size,string"`
	Checksum string `json:"checksum,omitempty"`
	Atime    string `json:"atime,omitempty"`
	Version  string `json:"version,omitempty"`
	// ETag is the MD5 kept for S3 (props "etag"), when the object has
	// one; an object without a checksum gives its write's stamp (the
	// ETag of its HEAD).
	ETag string `json:"etag,omitempty"`
	// Mtime is when the object was written (RFC 3339), with any of the
	// props that read metadata.
	Mtime string `json:"mtime,omitempty"`
	// Location is where the object is: "t[target]:mp[mountpath]" (props
	// "location"); Copies how many copies its target keeps (props
	// "copies").
	Location string `json:"location,omitempty"`
	Copies   int16  `json:"copies,omitempty"`
	// Flags: EntryPresent, EntryInArch, EntryIsDir, EntryVerChanged.
	Flags uint16 `json:"flags,omitempty"`
	// Members are a shard's, from a target to its gateway, which lists
	// them after the shard (ListArchive).
	Members []ListEntry `json:"members,omitempty"`
}

// ListPage (AIStore's LsoRes) is one page of a listing. An empty
// ContinuationToken means the listing is complete.
type ListPage struct {
	UUID              string      `json:"uuid"`
	ContinuationToken string      `json:"continuation_token"`
	Entries           []ListEntry `json:"entries"`
	Flags             uint32      `json:"flags"`
	// Incomplete names the targets that could not be listed (offline):
	// objects only they hold are missing from the page, not gone.
	Incomplete []string `json:"incomplete,omitempty"`
}

// BucketEntry is one bucket of a bucket listing.
type BucketEntry struct {
	Name     string `json:"name"`
	Provider string `json:"provider"`
	// Created is when the bucket was created, in Unix nanoseconds (0:
	// not known, as for a bucket from before it was kept).
	Created int64 `json:"created,omitempty"`
}

// BucketProps is store.Props on the wire.
type BucketProps = store.Props

// Health is the body of GET /v1/health.
type Health struct {
	Status     string `json:"status"` // "ok"
	NodeID     string `json:"node_id"`
	Role       string `json:"role"`
	MapVersion int64  `json:"map_version"`
}

// NodeStatus is one node of GET /v1/cluster?what=status.
type NodeStatus struct {
	ID    string `json:"id"`
	Role  string `json:"role"`
	URL   string `json:"url"`
	State string `json:"state"`
	// MapVersion is the version of the cluster map the node has applied.
	MapVersion int64                     `json:"map_version"`
	Capacity   []store.MountpathCapacity `json:"capacity,omitempty"`
	// Mountpaths are a target's mountpaths and their states.
	Mountpaths []store.MountpathStatus `json:"mountpaths,omitempty"`
	// Error is set when the node did not answer.
	Error string `json:"error,omitempty"`
	// CapacityError says why the node, which answered, could not read its
	// mountpaths' capacity (Capacity then lacks some).
	CapacityError string `json:"capacity_error,omitempty"`
	// Started is when the node's process started (Unix nanoseconds): a
	// job's part on a node restarted since is lost with the restart.
	Started int64 `json:"started,omitempty"`
	// Starting is set while the node, which answered, has not finished
	// starting: jobs it resumes (downloads) are not in Jobs yet.
	Starting bool `json:"starting,omitempty"`
	// Jobs are the node's running and recent jobs (rebalance, dSort...).
	Jobs []JobStatus `json:"jobs,omitempty"`
	// JobsSince (Unix nanoseconds), of a target, is since when its ended
	// parts of cluster jobs are in Jobs across its restarts, by kind (""
	// for a kind not named): one of a job started since that it does not
	// list was cut by a restart. See KeptSince.
	JobsSince map[string]int64 `json:"jobs_since,omitempty"`
}

// KeptSince is since when the node lists its ended parts of jobs of a
// kind across its restarts (Unix nanoseconds; 0: not known).
func (n NodeStatus) KeptSince(kind string) int64 {
	if since, ok := n.JobsSince[kind]; ok {
		return since
	}
	return n.JobsSince[""]
}

// JobStatus is the progress of a background job on one node.
type JobStatus struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"` // "rebalance", "dsort", "make-n-copies", ...
	Bucket string `json:"bucket,omitempty"`
	// To is the bucket the job writes into, when not its own (a copy's,
	// an archive's).
	To      string `json:"to,omitempty"`
	Aborted bool   `json:"aborted,omitempty"`
	// Result is what a job found, e.g. a scrub's counts.
	Result  json.RawMessage `json:"result,omitempty"`
	Running bool            `json:"running"`
	Objects int64           `json:"objects"`
	Bytes   int64           `json:"bytes"`
	// Total is the objects the job expects on the node (0: not known).
	Total int64  `json:"total,omitempty"`
	Error string `json:"error,omitempty"`
	// ErrorKind is Error's kind (Kinds), when it has one: a failed
	// summary answers with its status (404 for a bucket gone, ...).
	ErrorKind string `json:"error_kind,omitempty"`
	Started   int64  `json:"started,omitempty"`  // Unix nanoseconds
	Finished  int64  `json:"finished,omitempty"` // Unix nanoseconds
	// Targets are the targets a download or prefetch runs on.
	Targets []string `json:"targets,omitempty"`
}

// ClusterStatus is the answer of GET /v1/cluster?what=status.
type ClusterStatus struct {
	UUID       string       `json:"uuid"`
	MapVersion int64        `json:"map_version"`
	Primary    string       `json:"primary"`
	Nodes      []NodeStatus `json:"nodes"`
}
