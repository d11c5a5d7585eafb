package api

import (
	"time"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/store"
)

// Shapes of AIStore's answers that AIS-Go gives as AIStore does, so that
// AIStore's own clients read them. AIStore writes its int64 counters as
// JSON strings (store.Int64String).

// More headers, actions and query parameters of AIStore.
const (
	HeaderXactionID  = "Ais-Xaction-Id"  // the job a request started
	HeaderLocation   = "Ais-Location"    // where a HEAD object found it
	HeaderBucketSumm = "Ais-Bucket-Summ" // a bucket's summary, on HEAD (AIStore's apc.HdrBucketSumm)

	ActionSummaryBucket   = "summary-bck"
	ActionDeleteListRange = "delete-listrange"
	ActionEvictListRange  = "evict-listrange"
	ActionEvictRemote     = "evict-remote-bck"
	ActionCopyBucket      = "copy-bck"
	ActionCopyListRange   = "copy-listrange"
	ActionPrefetch        = "prefetch-listrange"
	// ActionIndexShards writes a shard index beside each selected tar
	// shard (value: a ListRange, or {} for every shard).
	ActionIndexShards = "index-shard"
	// ActionArchive (PUT on the source bucket) writes the selected objects
	// into one shard (value: ArchiveMessage).
	ActionArchive = "archive"

	QueryBucketTo = "bck_to"
	// QueryPresence is AIStore's fltPresence: 0 and 1 every object (a
	// remote bucket's not in the cluster too), 2 to 4 those in the
	// cluster, 5 those only outside it.
	QueryPresence    = "presence"
	QuerySummary     = "bsumm_remote"
	QueryTimeFormat  = "time_format"
	WhatJobSnapshots = "qryxstats"
)

// JobQuery selects jobs (the body of what=qryxstats): by id, kind, bucket,
// and only the running ones when ShowActive is true.
type JobQuery struct {
	ID         string `json:"id,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Bck        Bck    `json:"bck,omitzero"`
	ShowActive *bool  `json:"show_active,omitempty"`
	Node       string `json:"node,omitempty"`
}

// JobSnap is one job on one target, in AIStore's names (core.Snap): its
// Go client reads a job with no start-time as not started, and waits.
type JobSnap struct {
	ID        string       `json:"id"`
	Kind      string       `json:"kind"`
	Bck       Bck          `json:"bck"`
	StartTime time.Time    `json:"start-time"`
	EndTime   time.Time    `json:"end-time"`
	Stats     JobSnapStats `json:"stats"`
	Aborted   bool         `json:"aborted"`
	Running   bool         `json:"running"`
	IsIdle    bool         `json:"is_idle"`
	AbortErr  string       `json:"abort-err"`
	Err       string       `json:"err"`
}

// JobSnapStats are a job's counters on one target (AIStore's names).
type JobSnapStats struct {
	Objects    store.Int64String `json:"loc-objs"`
	Bytes      store.Int64String `json:"loc-bytes"`
	OutObjects store.Int64String `json:"out-objs"`
	OutBytes   store.Int64String `json:"out-bytes"`
	InObjects  store.Int64String `json:"in-objs"`
	InBytes    store.Int64String `json:"in-bytes"`
}

// AISJobStatus is AIStore's status of one job (what=status with a job in
// the body): EndTime in Unix nanoseconds, 0 while it runs anywhere.
type AISJobStatus struct {
	UUID    string `json:"uuid"`
	Kind    string `json:"kind"`
	Err     string `json:"err"`
	EndTime int64  `json:"end_time"`
	Aborted bool   `json:"aborted"`
}

// JobSnaps are the answer of what=qryxstats: target id → its jobs.
type JobSnaps map[string][]JobSnap

// ListRange names objects: a list of names, or a template (one without
// ranges is a prefix).
type ListRange struct {
	ObjNames []string `json:"objnames,omitempty"`
	Template string   `json:"template,omitempty"`
}

// ArchiveMessage is the value of archive (AIStore's ArchiveBckMsg): the
// objects a ListRange selects (every one when empty; a template without
// ranges is a prefix) written, in order, into the shard ArchName of ToBck
// (the source bucket when empty).
type ArchiveMessage struct {
	ToBck    Bck    `json:"tobck"`
	ArchName string `json:"archname"`
	// Mime is the shard's format when ArchName's extension does not say.
	Mime string `json:"mime,omitempty"`
	ListRange
	// BaseNameOnly names each file by the object's base name; InclSrcBname
	// puts the source bucket's name before it.
	BaseNameOnly bool `json:"bnonly,omitempty"`
	InclSrcBname bool `json:"isbn,omitempty"`
	// AppendIfExists adds the files to the shard's; otherwise it is
	// replaced.
	AppendIfExists bool `json:"aate,omitempty"`
	// ContinueOnError skips selected objects that are missing.
	ContinueOnError bool `json:"coer,omitempty"`
	// NonRecursive leaves out the objects under a prefix's directories.
	NonRecursive bool `json:"non-recurs,omitempty"`
}

// CopyBucketMessage is the value of copy-bck and copy-listrange.
type CopyBucketMessage struct {
	ListRange
	Prefix string `json:"prefix,omitempty"`
	DryRun bool   `json:"dry_run,omitempty"`
	// ToBck is the destination of a copy-listrange, where AIStore's
	// clients put it (cmn.TCOMsg); the bck_to query names it otherwise.
	ToBck Bck `json:"tobck,omitzero"`
	// Prepend, LatestVer and Sync are AIStore's options this copy does
	// not take: refused when set, not ignored.
	Prepend   string `json:"prepend,omitempty"`
	LatestVer bool   `json:"latest-ver,omitempty"`
	Sync      bool   `json:"synchronize,omitempty"`
}

// SummaryMessage is the value of summary-bck: UUID empty starts a summary,
// the id it answered polls it. ObjCached false (AIStore's default) counts
// a named remote bucket's own objects too, in ObjCount.Remote.
type SummaryMessage struct {
	UUID       string `json:"uuid"`
	Prefix     string `json:"prefix"`
	ObjCached  bool   `json:"cached"`
	BckPresent bool   `json:"present"`
	DontWait   bool   `json:"dont_wait"`
}

// BucketSummary is one bucket's summary (AIStore's BsummResult).
type BucketSummary struct {
	Name      string    `json:"name"`
	Provider  string    `json:"provider"`
	Namespace Namespace `json:"namespace"`
	ObjCount  struct {
		Present store.Int64String `json:"obj_count_present"`
		Remote  store.Int64String `json:"obj_count_remote"`
	} `json:"ObjCount"`
	TotalSize struct {
		OnDisk      store.Int64String `json:"size_on_disk"`
		PresentObjs store.Int64String `json:"size_all_present_objs"`
		RemoteObjs  store.Int64String `json:"size_all_remote_objs"`
		Disks       store.Int64String `json:"total_disks_size"`
	} `json:"TotalSize"`
	UsedPct      uint64 `json:"used_pct"`
	IsBckPresent bool   `json:"is_present"`
}

// DaemonStatus is a node's status (AIStore's node_status): what `ais show
// cluster` and the Python SDK's get_info read.
type DaemonStatus struct {
	Snode       cluster.Snode     `json:"snode"`
	Status      string            `json:"status"`
	Deployment  string            `json:"deployment"`
	Version     string            `json:"ais_version"`
	BuildTime   string            `json:"build_time"`
	PodName     string            `json:"k8s_pod_name"`
	SmapVersion store.Int64String `json:"smap_version"`
	// Uptime is in nanoseconds.
	Uptime   store.Int64String   `json:"uptime"`
	SysInfo  SysInfo             `json:"sys_info"`
	Capacity TargetCapacity      `json:"capacity"`
	Tracker  map[string]StatItem `json:"tracker"`
}

// StatItem is one counter of a node's tracker.
type StatItem struct {
	Value store.Int64String `json:"v"`
}

// SysInfo is the memory and CPU of a node's host and process.
type SysInfo struct {
	MemUsed    uint64  `json:"mem_used"`
	MemAvail   uint64  `json:"mem_avail"`
	PctMemUsed float64 `json:"pct_mem_used"`
	PctCPUUsed float64 `json:"pct_cpu_used"`
	ProcMem    uint64  `json:"proc_mem"`
	CPUs       int     `json:"num_cpu"`
	LoadAvg    LoadAvg `json:"load_avg"`
}

// LoadAvg is the host's load average.
type LoadAvg struct {
	One     float64 `json:"one"`
	Five    float64 `json:"five"`
	Fifteen float64 `json:"fifteen"`
}

// TargetCapacity is a target's capacity, per mountpath and in total.
type TargetCapacity struct {
	Mountpaths map[string]MountpathUsage `json:"mountpaths"`
	PctMax     int32                     `json:"pct_max"`
	PctAvg     int32                     `json:"pct_avg"`
	PctMin     int32                     `json:"pct_min"`
	TotalUsed  store.Int64String         `json:"total_used"`
	TotalAvail store.Int64String         `json:"total_avail"`
	Error      string                    `json:"cs_err,omitempty"`
}

// MountpathUsage is one mountpath's capacity and state.
type MountpathUsage struct {
	Used    store.Int64String `json:"used"`
	Avail   store.Int64String `json:"avail"`
	PctUsed int32             `json:"pct_used"`
	State   string            `json:"state"`
	Disks   []string          `json:"disks"`
}
