package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	mathrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tinylib/msgp/msgp"
	"golang.org/x/sync/errgroup"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/extract"
	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/internal/directwrite"
	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/shards"
	"github.com/aisgo/aisgo/sort"
	"github.com/aisgo/aisgo/store"
)

// An estimate tells, before a job runs, what it would do: its records,
// bytes and output shards (counted and named exactly as the job plans
// them), the memory each target would need, and a forecast of its time.
// Every target reads only the headers of the input shards it owns (a
// compressed shard is streamed through, keeping nothing) and times its
// disk; the coordinator plans the output with plan, as a job does, and
// times the network to each target. Each measurement is bounded in bytes
// and time. No job is registered and nothing is stored: the disk's write
// sample is a temporary file in the work directory, removed at once.

// Estimators is what Coordinator.Estimate asks of the targets; the
// coordinator's Targets implements it to make estimates work.
type Estimators interface {
	// Estimate has a target read the headers of the input shards it owns
	// under init.Map and time its disk (Worker.Estimate).
	Estimate(ctx context.Context, target cluster.Node, init JobInit) (TargetEstimate, error)
	// SampleNetwork reads up to size bytes of filler from a target, the
	// way record bytes come, and returns how many arrived before ctx
	// ended.
	SampleNetwork(ctx context.Context, target cluster.Node, size int64) (int64, error)
}

// Bounds of an estimate's measurements.
const (
	// diskSample bounds the input a target reads, and the file it
	// writes, to time its disk.
	diskSample = 128 << 20
	// networkSample bounds what a coordinator reads from each target.
	networkSample = 16 << 20
	// MaxNetworkSample bounds what a target sends for one network sample.
	MaxNetworkSample = 64 << 20
	// sampleTime bounds each sample; what came by then counts.
	sampleTime = time.Second
	// sampleChunk is the unit of the disk samples.
	sampleChunk = 1 << 20
	// maxEstimateNames bounds the missing names and warnings a target
	// reports.
	maxEstimateNames = 100
	// maxEstimateHeader bounds the JSON part of a target's answer.
	maxEstimateHeader = 1 << 20
)

// ErrNoInput marks an estimate whose input selects no object, or misses
// shards a job would abort on.
var ErrNoInput = errors.New("no input shard")

// ErrInputNotCached: an estimate's input shard of a remote bucket is not
// cached (an estimate fetches nothing).
var ErrInputNotCached = errors.New("dsort estimate: the input is not cached")

// TargetEstimate is one target's part of an estimate: what its extraction
// would find and hold, and how fast its disk reads and writes. The
// coordinator fills the output, network and forecast fields. Durations
// are nanoseconds in JSON.
type TargetEstimate struct {
	Node string `json:"node"`
	// InputShards is the owned input shards found, MissingShards the
	// owned names without an object; Missing names the first of them.
	InputShards   int64    `json:"input_shards"`
	MissingShards int64    `json:"missing_shards,omitempty"`
	Missing       []string `json:"missing,omitempty"`
	Records       int64    `json:"records"`
	// InputBytes is the size of the shards found, FileBytes the bytes of
	// the files in them (what a job reports as extracted).
	InputBytes int64 `json:"input_bytes"`
	FileBytes  int64 `json:"file_bytes"`
	// Memory is what extraction would hold to keep every record in
	// memory, MemoryLimit the job's budget here, PastBudget the bytes that
	// do not fit it: spilled to disk, or, in a tar, left in the input
	// shards and read again at creation.
	Memory      int64 `json:"memory"`
	MemoryLimit int64 `json:"memory_limit"`
	PastBudget  int64 `json:"past_budget"`
	// ScanBytes and ScanTime are what reading the headers read and took.
	ScanBytes int64         `json:"scan_bytes"`
	ScanTime  time.Duration `json:"scan_time"`
	// ReadBytes in ReadTime is a read of the owned input; WriteBytes in
	// WriteTime a write to the work directory, synced.
	ReadBytes  int64         `json:"read_bytes"`
	ReadTime   time.Duration `json:"read_time"`
	WriteBytes int64         `json:"write_bytes"`
	WriteTime  time.Duration `json:"write_time"`
	// Disk names the disks under the target's mountpaths: targets with
	// the same Disk share them (a cluster on one host), and their samples,
	// taken at once, are each its share of the disks.
	Disk     string   `json:"disk,omitempty"`
	Warnings []string `json:"warnings,omitempty"`

	// OutputShards and OutputBytes are the output shards this target
	// would create; FetchBytes the record bytes it would take from other
	// targets for them, ServeBytes those it would send to others.
	OutputShards int64 `json:"output_shards"`
	OutputBytes  int64 `json:"output_bytes"`
	FetchBytes   int64 `json:"fetch_bytes"`
	ServeBytes   int64 `json:"serve_bytes"`
	// NetworkBytes in NetworkTime came from this target to the
	// coordinator.
	NetworkBytes int64         `json:"network_bytes"`
	NetworkTime  time.Duration `json:"network_time"`
	// Extract and Create are the forecast of this target's phases.
	Extract time.Duration `json:"extract_time"`
	Create  time.Duration `json:"create_time"`

	// metas are the records' metadata, sorted as the target's run;
	// extras the tar header bytes past 512 that records' files take in an
	// output shard (long names, a raw entry's PAX headers), when any.
	metas  []shards.RecordMeta
	extras []recordBytes
}

// recordBytes is a number of bytes of one record.
type recordBytes struct {
	ID    shards.RecordID
	Bytes int64
}

// Forecast is the time a job's phases should take.
type Forecast struct {
	Extract time.Duration `json:"extract_time"`
	Sort    time.Duration `json:"sort_time"`
	Create  time.Duration `json:"create_time"`
	Total   time.Duration `json:"total_time"`
}

// Estimate is what a job of a spec would do, answered without running it.
type Estimate struct {
	Input        store.Bucket `json:"input_bck"`
	Output       store.Bucket `json:"output_bck"`
	InputFormat  string       `json:"input_format"`
	OutputFormat string       `json:"output_format"`
	// InputShards were found, MissingShards not.
	InputShards   int64 `json:"input_shards"`
	MissingShards int64 `json:"missing_shards"`
	// Records are those extraction finds, OutputRecords those the output
	// shards hold (fewer when a key map drops some).
	Records       int64 `json:"records"`
	OutputRecords int64 `json:"output_records"`
	InputBytes    int64 `json:"input_bytes"`
	FileBytes     int64 `json:"file_bytes"`
	// OutputBytes is the output shards' size: to the byte when
	// OutputExact (tar output), otherwise their size as tar, before the
	// output format encodes them.
	OutputBytes  int64  `json:"output_bytes"`
	OutputExact  bool   `json:"output_exact"`
	OutputShards int64  `json:"output_shards"`
	FirstShard   string `json:"first_shard,omitempty"`
	LastShard    string `json:"last_shard,omitempty"`
	// Spills tells where the bytes past a target's budget go: spill files
	// (true), or, for tar input, nowhere (they stay in the input shards).
	Spills   bool             `json:"spills"`
	Targets  []TargetEstimate `json:"targets"`
	Forecast Forecast         `json:"forecast"`
	// Seed is the seed of a shuffle: a job cuts the same shards only with
	// the same seed.
	Seed     int64         `json:"seed,omitempty"`
	Elapsed  time.Duration `json:"elapsed"`
	Warnings []string      `json:"warnings,omitempty"`
}

func newEstimateID() string {
	var b [6]byte
	rand.Read(b[:])
	return "est-" + hex.EncodeToString(b[:])
}

// Estimate answers what a job of spec would do without running it (see
// the Estimate type). It validates the spec as Start does, has every
// active target read the headers of the inputs it owns, and plans the
// output shards as the job would. An input that selects no object is
// ErrNoInput (and ErrInvalidSpec), naming the template.
func (c *Coordinator) Estimate(ctx context.Context, spec Spec) (Estimate, error) {
	began := time.Now()
	estimators, ok := c.config.Targets.(Estimators)
	if !ok {
		return Estimate{}, errors.New("dsort estimate: the coordinator's targets do not take estimates")
	}
	spec = spec.WithDefaults(c.config.Cluster.Defaults())
	plan, err := spec.Validate(c.config.Formats)
	if err != nil {
		return Estimate{}, err
	}
	if _, err := c.config.Cluster.BucketProps(ctx, plan.Input); err != nil {
		if errors.Is(err, store.ErrBucketNotFound) {
			return Estimate{}, specError("input_bck %q does not exist", plan.Input.Name)
		}
		return Estimate{}, err
	}
	// A job of its own, never registered: plan and the key map read it.
	job := &coordinatedJob{id: newEstimateID(), plan: plan}
	if spec.EKMFile != "" {
		if job.keyMap, err = c.loadKeyMap(ctx, job, plan); err != nil {
			return Estimate{}, err
		}
	}
	seed := plan.Algorithm.Seed
	if spec.Algorithm.Seed == "" {
		seed = time.Now().UnixNano() & math.MaxInt64 // as Start draws it
	}
	smap := c.config.Cluster.Map()
	job.targets = smap.ActiveTargets()
	if len(job.targets) == 0 {
		return Estimate{}, cluster.ErrNoTargets
	}
	job.init = JobInit{ID: job.id, Spec: spec, Seed: seed, Map: smap}
	answers := make([]TargetEstimate, len(job.targets))
	err = c.broadcast(ctx, job, func(ctx context.Context, t cluster.Node) error {
		i := slices.IndexFunc(job.targets, func(n cluster.Node) bool { return n.ID == t.ID })
		e, err := estimators.Estimate(ctx, t, job.init)
		if err != nil {
			return fmt.Errorf("estimate: %w", err)
		}
		e.Node = t.ID
		// The records it holds, by its index: another would index past
		// the targets below.
		for _, m := range e.metas {
			if int(m.Holder) != i {
				return fmt.Errorf("estimate: target %s answered a record held by target %d, not itself (%d)", t.ID, m.Holder, i)
			}
		}
		answers[i] = e
		return nil
	})
	if err != nil {
		return Estimate{}, err
	}
	est := Estimate{
		Input: plan.Input, Output: plan.Output, InputFormat: plan.InputFormat.Name(), OutputFormat: plan.OutputFormat.Name(),
		OutputExact: plan.OutputFormat.Name() == formats.Tar{}.Name(), Spills: !plan.InputFormat.Offsets(),
	}
	if plan.Algorithm.Kind == sort.Shuffle {
		est.Seed = seed
		if spec.Algorithm.Seed == "" {
			est.warn(fmt.Sprintf("algorithm.seed is not set: this estimate shuffled with seed %d, a job draws its own, "+
				"and may cut its shards elsewhere when record sizes vary", seed))
		}
	}
	var missing []string
	for _, a := range answers {
		est.InputShards += a.InputShards
		est.MissingShards += a.MissingShards
		est.Records += a.Records
		est.InputBytes += a.InputBytes
		est.FileBytes += a.FileBytes
		missing = append(missing, a.Missing...)
		for _, w := range a.Warnings {
			est.warn(fmt.Sprintf("target %s: %s", a.Node, w))
		}
	}
	slices.Sort(missing)
	if est.MissingShards > 0 && len(missing) == 0 {
		missing = []string{"(not named)"} // a target that counted and named none
	}
	if err := checkInputFound(plan, est, missing); err != nil {
		return Estimate{}, err
	}
	if est.MissingShards > 0 && plan.Reactions.MissingShards == ReactWarn {
		est.warn(fmt.Sprintf("%d input shards do not exist, the first %s", est.MissingShards, missing[0]))
	}

	runs := make([][]shards.RecordMeta, len(answers))
	for i := range answers {
		runs[i] = answers[i].metas
	}
	sortStart := time.Now()
	planned, err := c.plan(ctx, job, runs)
	sortTime := time.Since(sortStart)
	if errors.Is(err, sort.ErrTooFewNames) {
		return Estimate{}, specError("%w", err)
	}
	if errors.Is(err, sort.ErrKeyMap) {
		return Estimate{}, fmt.Errorf("%w: dsort estimate: sort: %w", ErrInvalidInput, err)
	}
	if err != nil {
		return Estimate{}, fmt.Errorf("dsort estimate: sort: %w", err)
	}
	job.mu.Lock()
	for _, w := range job.mu.status.Warnings {
		est.warn(w)
	}
	job.mu.Unlock()
	// A plan a target could not take fails the job at its sort phase.
	perTarget := make([][]shards.OutputShard, len(job.targets))
	for _, s := range planned {
		perTarget[s.Owner] = append(perTarget[s.Owner], s)
	}
	if err := checkPlans(perTarget, job.targets, MaxPlanRecords, MaxPlanBytes); err != nil {
		return Estimate{}, fmt.Errorf("dsort estimate: the job would fail at its sort phase: %w", err)
	}
	est.account(answers, planned)
	c.sampleNetwork(ctx, estimators, job.targets, answers, &est)
	est.Targets = answers
	est.forecast(plan, planned, sortTime)
	est.Elapsed = time.Since(began)
	return est, nil
}

func (e *Estimate) warn(msg string) {
	if len(e.Warnings) < maxEstimateNames {
		e.Warnings = append(e.Warnings, msg)
	}
}

// checkInputFound refuses an input that selects nothing, naming what
// selected it, and missing shards a job would abort on.
func checkInputFound(plan *Plan, est Estimate, missing []string) error {
	if est.InputShards == 0 {
		if plan.InputNames != nil {
			return specError("%w: none of the %d input_format.objnames exists in bucket %s", ErrNoInput, len(plan.InputNames), plan.Input)
		}
		return specError("%w: input_format.template %q matches no object in bucket %s", ErrNoInput, plan.InputTemplate.String(), plan.Input)
	}
	if est.MissingShards > 0 && plan.Reactions.MissingShards == ReactAbort {
		return specError("%w: %d input shards do not exist (the first: %s), and missing_shards is abort: the job would abort",
			ErrNoInput, est.MissingShards, missing[0])
	}
	if est.Records == 0 {
		// As the job would abort at its extract phase.
		return specError("%w: the %d input shards found in bucket %s hold no record (empty, or only links or files the key extension leaves out): the job would abort",
			ErrNoInput, est.InputShards, plan.Input)
	}
	return nil
}

// account fills the output figures from the planned shards: their bytes
// as the tar writer makes them, and the record bytes that cross between
// targets.
func (e *Estimate) account(targets []TargetEstimate, planned []shards.OutputShard) {
	extras := map[shards.RecordID]int64{}
	for _, t := range targets {
		for _, x := range t.extras {
			extras[x.ID] = x.Bytes
		}
	}
	const endMarker = 1024 // two zero blocks close every tar
	for _, s := range planned {
		owner := &targets[s.Owner]
		bytes := s.Size + endMarker
		for _, r := range s.Records {
			size := r.Size + extras[r.ID]
			bytes += extras[r.ID]
			if r.Holder != s.Owner {
				owner.FetchBytes += size
				targets[r.Holder].ServeBytes += size
			}
		}
		owner.OutputShards++
		owner.OutputBytes += bytes
		e.OutputShards++
		e.OutputBytes += bytes
		e.OutputRecords += int64(len(s.Records))
	}
	if len(planned) > 0 {
		e.FirstShard, e.LastShard = planned[0].Name, planned[len(planned)-1].Name
	}
}

// sampleNetwork times a bounded read from every target at once, as
// creation moves records between all of them.
func (c *Coordinator) sampleNetwork(ctx context.Context, estimators Estimators, targets []cluster.Node, answers []TargetEstimate, est *Estimate) {
	var wg sync.WaitGroup
	failures := make([]error, len(targets))
	for i, t := range targets {
		wg.Go(func() {
			sampleCtx, cancel := context.WithTimeout(ctx, sampleTime)
			defer cancel()
			start := time.Now()
			n, err := estimators.SampleNetwork(sampleCtx, t, networkSample)
			answers[i].NetworkBytes, answers[i].NetworkTime = n, time.Since(start)
			if err != nil && n == 0 {
				failures[i] = err
			}
		})
	}
	wg.Wait()
	for i, err := range failures {
		if err != nil {
			est.warn(fmt.Sprintf("target %s: no network sample: %v", targets[i].ID, err))
		}
	}
}

// forecast fills the times from the measured rates. A target extracts
// at its disk's read rate (a compressed input at the pace its scan
// decoded it), spilling at its write rate; it creates by writing its
// output shards while it takes and sends records over the network, and
// reads back the bytes past its budget. Targets that share disks, sampled
// at once, move their bytes together at the sum of their rates. The job
// takes its slowest target's extraction, the sort (the records' metadata
// to the coordinator and the plan back, and the merge, timed here), and
// its slowest target's creation.
func (e *Estimate) forecast(plan *Plan, planned []shards.OutputShard, sortTime time.Duration) {
	readMean := meanRate(e.Targets, func(t TargetEstimate) (int64, time.Duration) { return t.ReadBytes, t.ReadTime })
	writeMean := meanRate(e.Targets, func(t TargetEstimate) (int64, time.Duration) { return t.WriteBytes, t.WriteTime })
	networkMean := meanRate(e.Targets, func(t TargetEstimate) (int64, time.Duration) { return t.NetworkBytes, t.NetworkTime })
	perTarget := make([][]shards.RecordMeta, len(e.Targets))
	for _, s := range planned {
		perTarget[s.Owner] = append(perTarget[s.Owner], s.Records...)
	}
	reads, writes := make([]float64, len(e.Targets)), make([]float64, len(e.Targets))
	type shared struct{ read, write diskShare }
	disks := map[string]*shared{}
	for i := range e.Targets {
		t := &e.Targets[i]
		reads[i] = orMean(rate(t.ReadBytes, t.ReadTime), readMean)
		writes[i] = orMean(rate(t.WriteBytes, t.WriteTime), writeMean)
		if t.Disk == "" {
			continue // a group of its own
		}
		d := disks[t.Disk]
		if d == nil {
			d = &shared{}
			disks[t.Disk] = d
		}
		d.read.add(t.InputBytes, reads[i])
		d.write.add(t.OutputBytes, writes[i])
	}
	var upload, download time.Duration
	for i := range e.Targets {
		t := &e.Targets[i]
		read, write := reads[i], writes[i]
		network := orMean(rate(t.NetworkBytes, t.NetworkTime), networkMean)
		inputTime, outputTime := timeFor(t.InputBytes, read), timeFor(t.OutputBytes, write)
		if d := disks[t.Disk]; d != nil {
			// A shared disk gives its whole rate to whichever targets
			// still move bytes: the last one ends with the group.
			inputTime, outputTime = d.read.time(), d.write.time()
		}
		if plan.InputFormat.Offsets() && read > 0 {
			// The job reads a plain tar ahead, whole and in order (see
			// extract): its disk's sequential rate, not the estimate's
			// own scan of scattered headers.
			t.Extract = inputTime
		} else if plan.InputFormat.Offsets() {
			t.Extract = t.ScanTime
		} else {
			t.Extract = max(t.ScanTime, inputTime) + timeFor(t.PastBudget, write)
		}
		t.Create = max(outputTime, timeFor(max(t.FetchBytes, t.ServeBytes), network)) + timeFor(t.PastBudget, read)
		upload = max(upload, timeFor(recordsWireSize(t.metas), network))
		download = max(download, timeFor(recordsWireSize(perTarget[i]), network))
		e.Forecast.Extract = max(e.Forecast.Extract, t.Extract)
		e.Forecast.Create = max(e.Forecast.Create, t.Create)
	}
	e.Forecast.Sort = upload + sortTime + download
	e.Forecast.Total = e.Forecast.Extract + e.Forecast.Sort + e.Forecast.Create
}

// diskShare is the bytes that targets sharing a disk move on it, and the
// sum of their rates.
type diskShare struct {
	bytes int64
	rate  float64
}

func (d *diskShare) add(bytes int64, rate float64) { d.bytes, d.rate = d.bytes+bytes, d.rate+rate }

func (d *diskShare) time() time.Duration { return timeFor(d.bytes, d.rate) }

// rate is bytes per second, 0 when nothing was timed.
func rate(bytes int64, d time.Duration) float64 {
	if bytes <= 0 || d <= 0 {
		return 0
	}
	return float64(bytes) / d.Seconds()
}

// meanRate is the rate over every target that measured one, for those
// that did not.
func meanRate(targets []TargetEstimate, of func(TargetEstimate) (int64, time.Duration)) float64 {
	var bytes int64
	var d time.Duration
	for _, t := range targets {
		b, t := of(t)
		if b > 0 && t > 0 {
			bytes, d = bytes+b, d+t
		}
	}
	return rate(bytes, d)
}

func orMean(r, mean float64) float64 {
	if r > 0 {
		return r
	}
	return mean
}

// timeFor is the time bytes take at a rate; 0 when the rate is unknown.
func timeFor(bytes int64, rate float64) time.Duration {
	if bytes <= 0 || rate <= 0 {
		return 0
	}
	return time.Duration(float64(bytes) / rate * float64(time.Second))
}

// recordsWireSize is the size of records' metadata on the wire
// (AppendRecords), encoded a slice at a time.
func recordsWireSize(records []shards.RecordMeta) int64 {
	const batch = 4096
	var n int64
	buf := make([]byte, 0, 64*batch)
	for len(records) > 0 {
		k := min(batch, len(records))
		buf = AppendRecords(buf[:0], records[:k])
		n += int64(len(buf))
		records = records[k:]
	}
	return n
}

// Estimate reads the headers of the input shards this target owns under
// init.Map, with the reactions and concurrency of the job's extraction,
// and times the disk: a read of the owned input and a synced write to the
// work directory, each at most 128 MiB and about a second. It registers no
// job and keeps nothing.
func (w *Worker) Estimate(ctx context.Context, init JobInit) (TargetEstimate, error) {
	if err := ValidateJobID(init.ID); err != nil {
		return TargetEstimate{}, err
	}
	if init.Map == nil {
		return TargetEstimate{}, fmt.Errorf("%w: dsort estimate: the field map (the cluster map of the job) is missing", ErrInvalidInit)
	}
	if err := init.Map.Validate(); err != nil {
		return TargetEstimate{}, fmt.Errorf("%w: dsort estimate: the job's cluster map: %w", ErrInvalidInit, err)
	}
	plan, err := init.Spec.Validate(w.config.Formats)
	if err != nil {
		return TargetEstimate{}, err
	}
	select {
	case w.estimating <- struct{}{}:
		defer func() { <-w.estimating }()
	case <-ctx.Done():
		return TargetEstimate{}, context.Cause(ctx)
	}
	plan.Algorithm.Seed = init.Seed
	targets := init.Map.ActiveTargets()
	self := slices.IndexFunc(targets, func(n cluster.Node) bool { return n.ID == w.config.NodeID })
	if self < 0 {
		return TargetEstimate{}, fmt.Errorf("dsort estimate: node %s is not an active target of the map", w.config.NodeID)
	}
	// A job's view of ownership, never registered.
	j := &targetJob{w: w, id: init.ID, workDir: w.workDir(), plan: plan, targets: targets, placement: &cluster.Map{Nodes: targets},
		self: int32(self), inputs: plan.InputShards(w.config.Formats)}
	opener := storeOpener{store: w.config.Store, bucket: plan.Input, cachedOnly: true, node: w.config.NodeID}
	est := TargetEstimate{Node: w.config.NodeID, MemoryLimit: memoryLimit(plan, w.config.MemoryTotal), Disk: w.diskID(ctx)}

	// The disk first, before the scan brings the input into the cache.
	mountpaths := w.mountpaths(ctx)
	est.ReadBytes, est.ReadTime, err = sampleRead(ctx, opener, j.ownedInputs(), concurrency(plan.ExtractConcurrency, mountpaths))
	if err != nil {
		return TargetEstimate{}, fmt.Errorf("dsort estimate: read sample: %w", err)
	}
	est.WriteBytes, est.WriteTime, err = w.sampleWrite(ctx, createConcurrency(plan.CreateConcurrency, mountpaths))
	if errors.Is(err, syscall.ENOSPC) {
		// A full work directory is the job's concern, not the estimate's:
		// the forecast takes the other targets' write rate.
		est.WriteBytes, est.WriteTime = 0, 0
		est.Warnings = append(est.Warnings, fmt.Sprintf("no write sample: the dsort work directory of target %s is full", w.config.NodeID))
	} else if err != nil {
		return TargetEstimate{}, fmt.Errorf("dsort estimate: write sample: %w", err)
	}

	var scanned, sizes atomic.Int64
	var mu sync.Mutex
	note := func(list *[]string, s string) {
		mu.Lock()
		if len(*list) < maxEstimateNames {
			*list = append(*list, s)
		}
		mu.Unlock()
	}
	// The names the scan holds count as the job's would, within the
	// node's budget as the job's are: an input the job could not hold
	// fails the estimate too. The node's budget as it is with no job
	// running, not the one jobs share: jobs running meanwhile neither
	// fail for an estimate's names nor make its verdict (one estimate at
	// a time).
	names := extract.NewBudget(w.memory.Limit()).Child(est.MemoryLimit)
	defer names.ReleaseMetadata()
	cfg := extract.Config{
		Format:      plan.InputFormat,
		Concurrency: concurrency(plan.ExtractConcurrency, mountpaths),
		Budget:      names,
		HeadersOnly: true,
		Key:         extract.KeyConfig{Extension: plan.KeyExtension, Kind: plan.KeyKind},
		// What the job's extraction refuses, refused here too: a member
		// or record the output format cannot hold.
		CheckEntry: j.checkEntry(), CheckRecord: j.checkRecord(),
		OnDuplicate: func(shard string, dup *shards.DuplicateError) error {
			err := fmt.Errorf("shard %s: %w", shard, dup)
			switch plan.Reactions.DuplicatedRecords {
			case ReactAbort:
				return err
			case ReactWarn:
				note(&est.Warnings, err.Error())
			}
			return nil
		},
		OnMissing: func(shard string, err error) error {
			note(&est.Missing, shard) // the coordinator applies the reaction
			return nil
		},
		OnLinks: func(shard string, count int, names []string) error {
			note(&est.Warnings, linksSkipped(shard, count, names).Error())
			return nil
		},
	}
	var counters extract.Counters
	start := time.Now()
	result, err := extract.RunEach(ctx, cfg, j.ownedInputs(), countingOpener{opener, &scanned, &sizes}, &counters)
	if err != nil {
		if inputFault(err) {
			err = fmt.Errorf("%w: %w", ErrInvalidInput, err)
		}
		return TargetEstimate{}, err
	}
	defer result.Close()
	est.ScanTime, est.ScanBytes, est.InputBytes = time.Since(start), scanned.Load(), sizes.Load()
	est.InputShards, est.MissingShards = counters.Shards.Load(), counters.Missing.Load()
	est.Records, est.FileBytes = int64(len(result.Records)), counters.Bytes.Load()
	est.Memory, est.PastBudget = extract.MemoryNeed(plan.InputFormat, result.Records, est.MemoryLimit)
	raw := plan.InputFormat.Offsets() && takesRaw(plan.OutputFormat)
	est.metas = make([]shards.RecordMeta, len(result.Records))
	for i := range result.Records {
		r := &result.Records[i]
		est.metas[i] = r.Meta(j.self)
		if extra := headerExtra(r, raw); extra != 0 {
			est.extras = append(est.extras, recordBytes{r.ID, extra})
		}
	}
	sort.Local(est.metas, plan.Algorithm)
	return est, nil
}

// headerExtra is the tar header bytes past 512 that a record's files take
// in an output shard: a raw copy keeps the input's headers, a written
// entry gets what the writer needs for its name.
func headerExtra(r *shards.Record, raw bool) int64 {
	var extra int64
	for _, f := range r.Files {
		if raw && f.RawSize > 0 {
			extra += f.RawSize - shards.EncodedSize(f.Size)
		} else {
			extra += formats.TarHeaderSize(f.Name, f.Size) - 512
		}
	}
	return extra
}

// sampleRead reads the owned input as extraction does: as many shards at
// once as it reads, each asked ahead and read from its start a chunk at a
// time, one shard after another, until diskSample bytes in all or
// sampleTime. A disk that serves several streams faster than one is timed
// as the job uses it.
func sampleRead(ctx context.Context, opener storeOpener, inputs iter.Seq[extract.Input], streams int) (int64, time.Duration, error) {
	streams = max(1, min(streams, diskSample/sampleChunk))
	perShard := int64(diskSample / streams)
	names := make(chan string, diskSample/sampleChunk)
	for in := range inputs {
		if len(names) == cap(names) {
			break
		}
		names <- in.Name
	}
	close(names)
	var claimed, total atomic.Int64
	start := time.Now()
	group, ctx := errgroup.WithContext(ctx)
	for range min(streams, len(names)) {
		group.Go(func() error {
			buf := pool.Get(sampleChunk)
			defer pool.Put(buf)
			for name := range names {
				if claimed.Load() >= diskSample || time.Since(start) >= sampleTime {
					return nil
				}
				shard, size, err := opener.Open(ctx, name)
				if errors.Is(err, extract.ErrMissing) {
					continue
				}
				if err != nil {
					return err
				}
				// Each stream claims its part of the bound before it reads.
				size = min(size, perShard)
				before := claimed.Add(size) - size
				if size = min(size, diskSample-before); size <= 0 {
					shard.Close() // the bound is reached (or the shard empty)
					return nil
				}
				if w, ok := shard.(extract.WillNeeder); ok {
					w.WillNeed(0, size)
				}
				n, err := readSample(ctx, shard, size, buf, start)
				shard.Close()
				total.Add(n)
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			}
			return nil
		})
	}
	if err := group.Wait(); err != nil {
		return 0, 0, err
	}
	return total.Load(), time.Since(start), nil
}

// readSample reads the first size bytes of a shard, a chunk at a time,
// until sampleTime has passed since start.
func readSample(ctx context.Context, shard extract.Shard, size int64, buf []byte, start time.Time) (int64, error) {
	var off int64
	for off < size && time.Since(start) < sampleTime {
		if err := ctx.Err(); err != nil {
			return off, context.Cause(ctx)
		}
		k, err := shard.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		off += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return off, err
		}
	}
	return off, nil
}

// sampleWrite writes pseudo-random bytes to temporary files in the work
// directory as the store writes output shards (past the page cache), as
// many at once as creation builds, until diskSample bytes in all or
// sampleTime; it syncs each, as a built shard is, and removes them.
func (w *Worker) sampleWrite(ctx context.Context, streams int) (int64, time.Duration, error) {
	dir := w.workDir()
	if err := pathsafe.MkdirAll(dir, dir, 0o755); err != nil {
		return 0, 0, err
	}
	streams = max(1, min(streams, diskSample/sampleChunk))
	perStream := writeSampleSize(dir, streams)
	// Random bytes: a compressing file system must not make it look fast.
	buf := pool.Get(sampleChunk)
	defer pool.Put(buf)
	mathrand.NewChaCha8([32]byte{'a', 'i', 's'}).Read(buf)
	var total atomic.Int64
	start := time.Now()
	group, ctx := errgroup.WithContext(ctx)
	for range streams {
		group.Go(func() error {
			// As the store writes a shard: past the page cache.
			d, err := directwrite.Create(filepath.Join(dir, newEstimateID()+".tmp"), 0o644)
			if err != nil {
				return err
			}
			f := d.File()
			defer pathsafe.Remove(dir, f.Name())
			defer f.Close()
			defer d.Discard()
			var n int64
			for n < perStream && time.Since(start) < sampleTime {
				if err := ctx.Err(); err != nil {
					return context.Cause(ctx)
				}
				k, err := d.Write(buf[:min(int64(len(buf)), perStream-n)])
				n += int64(k)
				if err != nil {
					return err
				}
			}
			if err := d.Finish(); err != nil {
				return err
			}
			total.Add(n)
			return f.Sync()
		})
	}
	if err := group.Wait(); err != nil {
		return 0, 0, err
	}
	return total.Load(), time.Since(start), nil
}

// writeSampleSize is what each of streams writers writes to time the disk
// under dir: diskSample in all, or a tenth of the free space when that is
// less, so that the sample never fills a disk.
func writeSampleSize(dir string, streams int) int64 {
	size := int64(diskSample / streams)
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err == nil {
		free := int64(st.Bavail) * int64(st.Bsize)
		size = min(size, free/10/int64(streams))
	}
	return max(size, 1)
}

// diskID names the disks under this target's mountpaths, the host's boot
// id and their devices, for the forecast to tell targets that share them;
// "" when they are not known.
func (w *Worker) diskID(ctx context.Context) string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	capacity, err := w.config.Store.Capacity(ctx)
	if err != nil || len(capacity) == 0 {
		return ""
	}
	devices := make([]string, 0, len(capacity))
	for _, m := range capacity {
		fi, err := os.Stat(m.Path)
		if err != nil {
			return ""
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return ""
		}
		devices = append(devices, strconv.FormatUint(st.Dev, 16))
	}
	slices.Sort(devices)
	return strings.TrimSpace(string(boot)) + "/" + strings.Join(slices.Compact(devices), ",")
}

// countingOpener adds up the sizes of the shards it opens, and what they
// read.
type countingOpener struct {
	opener      extract.Opener
	read, sizes *atomic.Int64
}

func (o countingOpener) Open(ctx context.Context, name string) (extract.Shard, int64, error) {
	s, size, err := o.opener.Open(ctx, name)
	if err != nil {
		return nil, 0, err
	}
	o.sizes.Add(size)
	return countingShard{s, o.read}, size, nil
}

type countingShard struct {
	extract.Shard
	read *atomic.Int64
}

func (s countingShard) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.Shard.ReadAt(p, off)
	s.read.Add(int64(n))
	return n, err
}

// AppendTargetEstimate encodes a target's estimate: its figures as JSON,
// then its records' metadata and header extras as msgpack.
func AppendTargetEstimate(b []byte, e TargetEstimate) ([]byte, error) {
	header, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	b = msgp.AppendBytes(b, header)
	b = AppendRecords(b, e.metas)
	b = msgp.AppendArrayHeader(b, uint32(len(e.extras)))
	for _, x := range e.extras {
		b = msgp.AppendArrayHeader(b, 3)
		b = msgp.AppendInt32(b, x.ID.Shard)
		b = msgp.AppendInt32(b, x.ID.Record)
		b = msgp.AppendInt64(b, x.Bytes)
	}
	return b, nil
}

// ReadTargetEstimate decodes what AppendTargetEstimate wrote, refusing
// more than maxRecords records.
func ReadTargetEstimate(b []byte, maxRecords int) (TargetEstimate, error) {
	var e TargetEstimate
	header, b, err := msgp.ReadBytesZC(b)
	if err != nil {
		return e, fmt.Errorf("dsort estimate: %w", err)
	}
	if len(header) > maxEstimateHeader {
		return e, fmt.Errorf("%w: an estimate's figures of %d bytes", ErrWireLimit, len(header))
	}
	if err := json.Unmarshal(header, &e); err != nil {
		return e, fmt.Errorf("dsort estimate: %w", err)
	}
	if e.metas, b, err = ReadRecords(b, maxRecords); err != nil {
		return e, fmt.Errorf("dsort estimate: %w", err)
	}
	n, b, err := msgp.ReadArrayHeaderBytes(b)
	if err != nil {
		return e, fmt.Errorf("dsort estimate: %w", err)
	}
	const minExtraBytes = 4 // an array header and three small integers
	if int64(n) > int64(len(b)/minExtraBytes) || int(n) > len(e.metas) {
		return e, fmt.Errorf("%w: %d header extras for %d records", ErrWireLimit, n, len(e.metas))
	}
	e.extras = make([]recordBytes, n)
	for i := range e.extras {
		x := &e.extras[i]
		var fields uint32
		if fields, b, err = msgp.ReadArrayHeaderBytes(b); err == nil && fields != 3 {
			err = fmt.Errorf("a header extra has %d fields, want 3", fields)
		}
		if err == nil {
			x.ID.Shard, b, err = msgp.ReadInt32Bytes(b)
		}
		if err == nil {
			x.ID.Record, b, err = msgp.ReadInt32Bytes(b)
		}
		if err == nil {
			x.Bytes, b, err = msgp.ReadInt64Bytes(b)
		}
		if err != nil {
			return e, fmt.Errorf("dsort estimate: %w", err)
		}
	}
	return e, nil
}

// inputFault reports an extraction error of the input shards themselves,
// which the job would fail on as the estimate did.
func inputFault(err error) bool {
	for _, fault := range []error{formats.ErrCorrupt, formats.ErrUnsupported, formats.ErrInvalidName, formats.ErrEntrySize,
		extract.ErrKeyMissing, shards.ErrDuplicate, shards.ErrTooManyFiles} {
		if errors.Is(err, fault) {
			return true
		}
	}
	return false
}
