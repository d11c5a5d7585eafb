package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/aisgo/aisgo/authn"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/store"
)

// Route is a route of the node's table, for tests.
type Route struct {
	Method, Pattern string
	Intra           bool
	// Served: the node's role serves the route.
	Served bool
	// Need is what the route needs with authentication on; nil: nothing.
	Need func(*http.Request) (authn.Perm, string)
}

// Routes lists the node's route table.
func Routes(n *Node) []Route {
	var out []Route
	for _, rt := range n.routeTable() {
		out = append(out, Route{Method: rt.method, Pattern: rt.pattern, Intra: rt.intra, Served: rt.roles.serves(n.config.Role), Need: rt.need})
	}
	return out
}

// ServedBy reports which roles serve a route of the table.
func ServedBy(n *Node, method, pattern string) (gateway, target bool) {
	for _, rt := range n.routeTable() {
		if rt.method == method && rt.pattern == pattern {
			return rt.roles.serves(cluster.RoleGateway), rt.roles.serves(cluster.RoleTarget)
		}
	}
	return false, false
}

// ObjectPrefix starts the path of every object request; the object
// routes are served outside the route table, so tests build their path
// from it.
const ObjectPrefix = objectPrefix

// RouteTable lists the route table without a running node: the methods
// and patterns do not depend on the node's state (handlers are method
// values, never called here), so a test can read them without a cluster.
func RouteTable() []Route { return Routes(&Node{}) }

// ObjectMethods lists the methods of the object routes, which the route
// table leaves out.
func ObjectMethods() []string { return slices.Clone(objectMethods) }

// ObjectNeed is what an object request needs.
func ObjectNeed(r *http.Request) (authn.Perm, string) { return objectAccess(r) }

// HoldBatchBuffers takes every buffered get-batch slot of a target until
// the returned release is called.
// BufferedBatches is how many buffered get-batch answers n holds now.
func BufferedBatches(n *Node) int { return len(n.batchState().buffered) }

func HoldBatchBuffers(n *Node) (release func()) {
	s := n.batchState()
	for range cap(s.buffered) {
		s.buffered <- struct{}{}
	}
	return func() {
		for range cap(s.buffered) {
			<-s.buffered
		}
	}
}

// OwnerWriterStore is what dSort writes a shard's index through.
type OwnerWriterStore interface {
	PutToOwner(ctx context.Context, b store.Bucket, name string, data []byte, custom map[string]string) (store.Stamp, error)
	DeleteFromOwner(ctx context.Context, b store.Bucket, name string, stamp store.Stamp) error
	DeleteJobFromOwner(ctx context.Context, b store.Bucket, name, job string, beforeAttempt int) error
}

// OwnerWriter is the store dSort writes a shard's index through.
func OwnerWriter(n *Node) OwnerWriterStore {
	return stampedStore{Store: n.config.Store, n: n}
}

// RebalanceSettled tells whether tombstones may be collected now.
func RebalanceSettled(n *Node) bool { return n.rebalanceSettled(context.Background()) }

// CatchingUp tells whether a target still asks its peers for newer copies.
func CatchingUp(n *Node) bool { return n.catchingUp() }

// FetchProxy is the proxy choice of the node's fetches, with proxyOf in
// place of the environment's.
func FetchProxy(n *Node, proxyOf func(*http.Request) (*url.URL, error)) func(*http.Request) (*url.URL, error) {
	return n.fetchProxy(proxyOf)
}

// SetListBytes sets the bytes a listing page may take, until restore.
func SetListBytes(n int64) (restore func()) {
	old := maxListBytes
	maxListBytes = n
	return func() { maxListBytes = old }
}

// CheckFetchAddress is the check of an address a fetch dials.
func CheckFetchAddress(n *Node, address string) error {
	return n.checkFetchAddress(context.Background(), address)
}

// CheckFetchAddressOf is that check against a list of nodes.
// CheckFetchAddressOf is checkFetchAddress as no node of the list.
func CheckFetchAddressOf(ctx context.Context, address string, nodes []cluster.Node, allowLocal bool) error {
	return checkFetchAddress(ctx, address, nodes, "", allowLocal)
}

// CheckFetchAddressAs is checkFetchAddress as node self.
var CheckFetchAddressAs = checkFetchAddress

// HoldRecordRewrites takes every slot of archpath PUTs into record-format
// shards, until release.
func HoldRecordRewrites(n *Node) (release func()) {
	k := cap(n.recordRewrites)
	for range k {
		n.recordRewrites <- struct{}{}
	}
	return func() {
		for range k {
			<-n.recordRewrites
		}
	}
}

// FailJobEnds fails the records of job ends that a gateway's coordinator
// makes, until restore.
func FailJobEnds(gateway string) (restore func()) {
	fault := func(id string) error {
		if id == gateway {
			return errors.New("the test fails the record of the job's end")
		}
		return nil
	}
	endJobFault.Store(&fault)
	return func() { endJobFault.Store(nil) }
}

// TakenDigest is the digest of the metasync body a node took last.
func TakenDigest(n *Node) string {
	if taken := n.taken.Load(); taken != nil {
		return taken.digest
	}
	return ""
}

// DigestsTaken counts the metasync pushes a node took by their digest.
func DigestsTaken(n *Node) int64 { return n.digestsTaken.Load() }

// RegisteredJob returns a job's entry in the node's registry.
func RegisteredJob(n *Node, id string) (membership.Job, bool) { return n.registeredJob(id) }

// RecordJobLost records in the registry, as a leader does once a
// finished job's output removal begins, that the job lost a part.
func RecordJobLost(ctx context.Context, n *Node, id, cause string) error {
	_, err := n.control.Propose(ctx, membership.Change{Kind: membership.JobLost, Level: membership.LevelJobLost, Job: membership.Job{ID: id, Cause: cause}})
	return err
}

// SettleJob settles a dSort job as the leader does one whose coordinator
// went.
func SettleJob(ctx context.Context, n *Node, id string, output store.Bucket, targets []string, cause string) (settled bool) {
	return n.settleJob(ctx, membership.Job{ID: id, Output: output, Targets: targets, State: membership.JobRunning}, cause)
}

// S3ReadsHere tells whether the node's S3 API reads an object in process.
func S3ReadsHere(n *Node, bucket, name string) bool {
	_, ok := s3Backend{n: n}.readsHere(bucket, name)
	return ok
}

// StartCatchingUp makes the node catch up as after a time away.
func StartCatchingUp(n *Node) { n.catchUp.Add(1) }

// SetPeerQueryTimeout sets how long a node's answer to a client's query
// is waited for, and returns the restore.
func SetPeerQueryTimeout(d time.Duration) func() {
	old, oldCapacity := peerQueryTimeout, capacityTimeout.Load()
	peerQueryTimeout = d
	capacityTimeout.Store(int64(d / 2))
	return func() { peerQueryTimeout = old; capacityTimeout.Store(oldCapacity) }
}

// SetDownloadIdle sets how long a download waits for the next bytes of
// a body, until restore.
func SetDownloadIdle(d time.Duration) (restore func()) {
	old := downloadIdle
	downloadIdle = d
	return func() { downloadIdle = old }
}

// RemoveJobOutput removes the named objects a dSort job wrote, as its
// coordinator does after a failure.
func RemoveJobOutput(ctx context.Context, n *Node, b store.Bucket, names []string, job string, asOf store.Stamp) error {
	return dsortCluster{n}.RemoveObjects(ctx, b, names, job, asOf)
}

// SetRemoteCachedPage changes remoteCachedPage until the returned func
// restores it.
func SetRemoteCachedPage(n int) (restore func()) {
	old := remoteCachedPage
	remoteCachedPage = n
	return func() { remoteCachedPage = old }
}

// ResumeDownloads resumes the download jobs a node finds saved, as it
// does when it starts.
func ResumeDownloads(n *Node, ctx context.Context) { n.resumeDownloads(ctx) }

// StartJob runs fn on a node as a job of kind on b, as its own jobs run.
func StartJob(ctx context.Context, n *Node, kind string, b store.Bucket, fn func(context.Context) error) (string, error) {
	return n.jobs.Start(ctx, "", kind, b, func(ctx context.Context, _ *store.Progress) (any, error) { return nil, fn(ctx) })
}

// SweepAppendsEvery spaces the sweeps of idle appends of the nodes started
// after it, and returns the restore.
func SweepAppendsEvery(d time.Duration) func() {
	old := appendSweepEvery
	appendSweepEvery = d
	return func() { appendSweepEvery = old }
}

// SetMaxAppends bounds the append sessions a target keeps open, and
// returns the restore.
func SetMaxAppends(n int) func() {
	old := maxAppends
	maxAppends = n
	return func() { maxAppends = old }
}

// SetDsortSettleWait sets how long a dSort start waits for the cluster to
// settle, and returns the restore.
func SetDsortSettleWait(d time.Duration) func() {
	old := dsortSettleWait
	dsortSettleWait = d
	return func() { dsortSettleWait = old }
}

// SetAfterCopy sets what a copy job calls after each object it copies,
// until the test ends.
func SetAfterCopy(t interface{ Cleanup(func()) }, f func()) {
	before := afterCopy
	afterCopy = f
	t.Cleanup(func() { afterCopy = before })
}

// HoldShardLock takes a shard's lock on n, as a file PUT into the shard
// does, or an archive job (job), and returns its release.
func HoldShardLock(ctx context.Context, n *Node, b store.Bucket, name string, job bool) func() {
	lock := n.shardLocks.lock
	if job {
		lock = n.shardLocks.lockForJob
	}
	unlock, err := lock(ctx, b, name)
	if err != nil {
		panic(err)
	}
	return unlock
}

// SetShardLockWait sets how long a file PUT waits for its shard's lock,
// and returns the restore.
func SetShardLockWait(d time.Duration) func() {
	old := shardLockWait
	shardLockWait = d
	return func() { shardLockWait = old }
}

// HoldZipMemory takes all of n's zip memory, as zip shards being read
// would, and returns its release.
func HoldZipMemory(ctx context.Context, n *Node) func() {
	if err := n.zipMemory.Acquire(ctx, maxZipMemory); err != nil {
		panic(err)
	}
	return func() { n.zipMemory.Release(maxZipMemory) }
}

// ZipMemoryFree reports whether none of n's zip memory is held.
func ZipMemoryFree(n *Node) bool {
	if !n.zipMemory.TryAcquire(maxZipMemory) {
		return false
	}
	n.zipMemory.Release(maxZipMemory)
	return true
}

// Propose proposes a change to the node's control plane.
func Propose(ctx context.Context, n *Node, c membership.Change) error {
	_, err := n.control.Propose(ctx, c)
	return err
}

// DeletePartsOnlyByPrefix runs a delete-by-prefix job's parts sweep on n,
// as of began.
func DeletePartsOnlyByPrefix(ctx context.Context, n *Node, b store.Bucket, prefix string, began store.Stamp) (int, error) {
	return n.deletePartsOnlyByPrefix(ctx, b, prefix, began, &store.Progress{})
}

// FirstByteWait is how long a read served from another target's copy
// waits for its answer.
func FirstByteWait(n *Node, r *http.Request, b store.Bucket) time.Duration {
	return n.firstByteWait(r, b)
}

// DestroyJobOutput removes the output bucket job made, as a job that did
// not start does.
func DestroyJobOutput(ctx context.Context, n *Node, b store.Bucket, job string) error {
	return dsortCluster{n}.DestroyEmptyBucket(ctx, b, job)
}

// SetLookupNetIP replaces the resolver of nodes' names, and returns the
// restore.
func SetLookupNetIP(f func(ctx context.Context, network, host string) ([]netip.Addr, error)) (restore func()) {
	old := lookupNetIP
	lookupNetIP = f
	return func() { lookupNetIP = old }
}

// ForgetNodeAddrs empties the cache of nodes' addresses, and makes the
// next lookup of each name ask the DNS.
func ForgetNodeAddrs() {
	resolved.mu.Lock()
	defer resolved.mu.Unlock()
	clear(resolved.names)
}

// AgeNodeAddrs makes every name's addresses due to be asked again.
func AgeNodeAddrs() {
	resolved.mu.Lock()
	defer resolved.mu.Unlock()
	for name, entry := range resolved.names {
		entry.asked = time.Time{}
		resolved.names[name] = entry
	}
}

// Rebalancing asks the targets whether their rebalances ended, then
// answers as rebalancing does: whether a DELETE here asks the others too.
func Rebalancing(n *Node) bool {
	n.checkSettled(context.Background(), n.currentMap().Version)
	return n.rebalancing()
}

// SetAsideBeforeRejoin runs the check a running target makes before it
// joins again, as if it last heard as a member at lastMember.
func SetAsideBeforeRejoin(ctx context.Context, n *Node, lastMember time.Time) error {
	n.lastMember.Store(lastMember.UnixNano())
	return n.setAsideBeforeRejoin(ctx)
}

// SetJoin changes the gateway a node joins through (-join).
func SetJoin(n *Node, url string) { n.config.Join = url }

// CloseJobs ends a node's jobs as its shutdown does (a download keeps its
// file, to be resumed).
func CloseJobs(n *Node) { n.jobs.Close() }

// DownloadSaved reports whether a node keeps a download job's file.
func DownloadSaved(n *Node, id string) bool {
	_, err := os.Stat(n.downloadFile(id))
	return err == nil
}

// HandleStartJob is a target's handler of a job's start (a peer route).
func HandleStartJob(n *Node) http.HandlerFunc { return n.handleStartJob }

// JobKnown reports whether a node has a job of the id.
func JobKnown(n *Node, id string) bool {
	_, err := n.jobs.Status(id)
	return err == nil
}

// AbortLocalJob aborts a job on this node alone.
func AbortLocalJob(n *Node, id string) error { return n.jobs.Abort(id, errors.New("a test")) }

// RemoveAllOfJob has every target remove what job wrote to b, as a job
// settled aborted does.
func RemoveAllOfJob(ctx context.Context, n *Node, b store.Bucket, job string) error {
	return n.removeJobObjects(ctx, b, peer.RemoveRequest{Stamp: n.stamp(), Job: job, AllOfJob: true})
}

// AddRemoteBucket adds a remote bucket as a create of it with props (nil:
// a first access) does, past the gateway's own check of its buckets.
func AddRemoteBucket(ctx context.Context, n *Node, b store.Bucket, props *store.Props) error {
	return n.addRemoteBucket(ctx, b, props)
}

// HoldEncodes makes each ec-encode wait, as it begins, until release is
// closed or it is stopped; the returned func restores the hook.
func HoldEncodes(release <-chan struct{}) (restore func()) {
	hook := func(ctx context.Context) {
		select {
		case <-release:
		case <-ctx.Done():
		}
	}
	old := encodeStarting.Swap(&hook)
	return func() { encodeStarting.Store(old) }
}

// LetECOffPastOffline lets erasure coding be turned off while a target is
// offline, until the returned func restores the check.
func LetECOffPastOffline() (restore func()) {
	ecOffPastOffline.Store(true)
	return func() { ecOffPastOffline.Store(false) }
}

// HoldMakeCopies makes each make-n-copies on target node wait, as it
// begins, until it is stopped (held is closed when one waits); the
// returned func restores the hook.
func HoldMakeCopies(node string) (held <-chan struct{}, restore func()) {
	waiting := make(chan struct{})
	var once sync.Once
	hook := func(ctx context.Context, on string) error {
		if on != node {
			return nil
		}
		once.Do(func() { close(waiting) })
		<-ctx.Done()
		return context.Cause(ctx)
	}
	// Atomic: a job of another target may be reading it as it is set.
	old := copiesStarting.Swap(&hook)
	return waiting, func() { copiesStarting.Store(old) }
}

// SetMaxRetryAfter bounds the wait a download takes for an origin's
// Retry-After.
func SetMaxRetryAfter(d time.Duration) (restore func()) {
	old := maxRetryAfter
	maxRetryAfter = d
	return func() { maxRetryAfter = old }
}

// SetNewJobID sets how cluster jobs' ids are drawn.
func SetNewJobID(fn func(kind string) string) (restore func()) {
	old := newJobID
	newJobID = fn
	return func() { newJobID = old }
}

// StartJobPart starts a job's part on a target as its start request
// does, after the request was read.
func StartJobPart(n *Node, ctx context.Context, req peer.JobRequest) (string, error) {
	return n.startJob(ctx, req)
}

// HoldECResilver holds every ec-resilver at its start until the returned
// release (called again, it does nothing). Set before the nodes start;
// released, the hook stays, holding nothing (resilvers still running may
// read it).
func HoldECResilver() (release func()) { return HoldECResilverPastItsAbort(0) }

// HoldECResilverPastItsAbort is HoldECResilver whose sweeps take past
// (a big object's restore) to end once aborted.
func HoldECResilverPastItsAbort(past time.Duration) (release func()) {
	held := make(chan struct{})
	ecResilverHeld = func(ctx context.Context) error {
		select {
		case <-held:
			return nil
		case <-ctx.Done():
			time.Sleep(past)
			return context.Cause(ctx)
		}
	}
	var once sync.Once
	return func() { once.Do(func() { close(held) }) }
}

// FetchDial is the dial of the node's fetches (FetchRoute).
func FetchDial(n *Node) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return n.fetchDial()
}

// SetSettleAwayWait changes how long a settle waits for a job's targets
// away, and returns the restore.
func SetSettleAwayWait(d time.Duration) func() {
	old := settleAwayWait.Swap(int64(d))
	return func() { settleAwayWait.Store(old) }
}

// FillDisks makes the node read its disks as full, for good.
func FillDisks(n *Node) {
	n.space.mu.Lock()
	defer n.space.mu.Unlock()
	n.space.at = time.Now().Add(time.Hour) // (a reading that never ages)
	n.space.last = []store.MountpathCapacity{{Path: "/full", Used: 99, Total: 100}}
}

// FetchDownloadFile fetches one file of a download job as an attempt of
// the job's does, and stores it on its owner.
func FetchDownloadFile(ctx context.Context, n *Node, b store.Bucket, name, link, job string) error {
	_, err, _ := n.fetchOnce(ctx, b, downloadItem{Name: name, URL: link}, job, time.Minute, errors.New("the test's file timed out"))
	return err
}

// SetInterfaceAddrs has this host's addresses listed by fn until the
// returned func restores the system's.
func SetInterfaceAddrs(fn func() ([]net.Addr, error)) (restore func()) {
	old := interfaceAddrs
	set := func(fn func() ([]net.Addr, error)) {
		host.mu.Lock()
		interfaceAddrs, host.at = fn, time.Time{}
		host.mu.Unlock()
	}
	set(fn)
	return func() { set(old) }
}

// PeerHTTP is the HTTP client a node signs its requests with (it follows
// no redirect).
func PeerHTTP(n *Node) *http.Client { return n.peer.HTTP() }

// SettledSeen reports that n saw every target's rebalance ended under its
// current map.
func SettledSeen(n *Node) bool {
	m := n.currentMap()
	n.settle.mu.Lock()
	defer n.settle.mu.Unlock()
	return m != nil && n.settle.version == m.Version
}

// RegisterDsortJob registers a dSort job in the cluster's log as its
// coordinator would, and returns the record of its end.
func RegisterDsortJob(ctx context.Context, n *Node, reg pipeline.JobRegistration) (end func(), err error) {
	if err := (dsortCluster{n: n}).RegisterJob(ctx, reg); err != nil {
		return nil, err
	}
	return func() { n.endJob(context.WithoutCancel(ctx), reg.ID, "") }, nil
}

// OnIndexBuilt sets the hook the index job runs once a shard's index is
// built, before it is written; it returns the restore.
func OnIndexBuilt(hook func(shard string)) (restore func()) {
	old := indexBuilt
	indexBuilt = hook
	return func() { indexBuilt = old }
}

// StartJobOn runs fn on a node as its part of a cluster job of kind on
// b, which runs on targets.
func StartJobOn(ctx context.Context, n *Node, id, kind string, b store.Bucket, targets []string, fn func(context.Context) error) (string, error) {
	return n.jobs.StartOnShared(ctx, id, kind, b, targets, func(ctx context.Context, _ *store.Progress) (any, error) { return nil, fn(ctx) })
}

// StopJobsStoppedElsewhere runs what a target back from offline runs.
func StopJobsStoppedElsewhere(n *Node) { n.stopJobsStoppedElsewhere() }

// JobState is a node's state of one of its jobs.
func JobState(n *Node, id string) (pipeline.JobState, error) { return n.jobs.Status(id) }

// Prefetch runs n's part of a prefetch of names in b, as a job started on
// targets runs it.
func Prefetch(ctx context.Context, n *Node, b store.Bucket, names, targets []string) (any, error) {
	return n.prefetchSelected(ctx, b, peer.JobRequest{Names: names, Targets: targets}, &store.Progress{})
}

// SetOwnerKeptWait changes how long a prefetch through an object's owner
// looks for the copy it keeps, and returns the restore.
func SetOwnerKeptWait(d time.Duration) func() {
	old := ownerKeptWait
	ownerKeptWait = d
	return func() { ownerKeptWait = old }
}
