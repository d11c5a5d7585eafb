package gateway

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/authn"
	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/store"
)

// handleDsortEstimate: POST /v1/sort/estimate with a spec; answers what
// the job would do (api.DsortEstimate) without starting it. The caller
// needs GET on the input (and on an ais:// key map): the targets read it
// for the caller, and write nothing.
func (n *Node) handleDsortEstimate(w http.ResponseWriter, r *http.Request) {
	if spec, ok := n.readSpec(w, r); ok {
		n.answerEstimate(w, r, spec)
	}
}

// answerEstimate answers a spec's estimate: POST /v1/sort/estimate, or
// POST /v1/sort with "dry_run": "estimate".
func (n *Node) answerEstimate(w http.ResponseWriter, r *http.Request, spec pipeline.Spec) {
	if n.verifier != nil && spec.InputBucket.Name != "" {
		if err := n.authorizeBucket(r, authn.PermGet, store.Bucket(spec.InputBucket).Normalize()); err != nil {
			n.writeError(w, r, err)
			return
		}
		if bucket, ok := keyMapBucket(spec.EKMFile); ok {
			if err := n.authorizeBucket(r, authn.PermGet, bucket); err != nil {
				n.writeError(w, r, err)
				return
			}
		}
	}
	// As for a job: the buckets as the cluster has them now.
	n.refresh(r.Context())
	est, err := n.coordinator.Estimate(r.Context(), spec)
	if err != nil {
		n.writeError(w, r, dsortError(err))
		return
	}
	writeJSON(w, estimateInfo(est))
}

// keyMapBucket is the bucket of an ais:// key map.
func keyMapBucket(location string) (store.Bucket, bool) {
	rest, ok := strings.CutPrefix(location, "ais://")
	if !ok {
		return store.Bucket{}, false
	}
	name, _, _ := strings.Cut(rest, "/")
	return store.Bucket{Name: name}, true
}

// handleDsortScan: a coordinator's estimate on this target
// (pipeline.Worker.Estimate); answers the msgpack of
// pipeline.AppendTargetEstimate.
func (n *Node) handleDsortScan(w http.ResponseWriter, r *http.Request) {
	var init pipeline.JobInit
	err := n.requireWorker()
	if err == nil {
		err = decodeBody(r, &init)
	}
	var est pipeline.TargetEstimate
	if err == nil {
		est, err = n.worker.Estimate(r.Context(), init)
	}
	var answer []byte
	if err == nil {
		answer, err = pipeline.AppendTargetEstimate(nil, est)
	}
	if err != nil {
		n.writeError(w, r, dsortError(err))
		return
	}
	w.Header().Set("Content-Type", "application/msgpack")
	w.Write(answer)
}

// handleNetworkSample: GET /v1/sort/network-sample?size=N sends N bytes
// of filler (at most pipeline.MaxNetworkSample) for a coordinator to time
// the network.
func (n *Node) handleNetworkSample(w http.ResponseWriter, r *http.Request) {
	size, err := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
	if err != nil || size < 0 || size > pipeline.MaxNetworkSample {
		n.writeError(w, r, badRequest("size %q: want a number of bytes up to %d", r.URL.Query().Get("size"), pipeline.MaxNetworkSample))
		return
	}
	buf := pool.Get(pool.CopyBufferSize)
	defer pool.Put(buf)
	clear(buf)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	for size > 0 {
		k, err := w.Write(buf[:min(int64(len(buf)), size)])
		if err != nil {
			return // the coordinator has what it needs
		}
		size -= int64(k)
	}
}

// estimateInfo is an estimate in the API's shape.
func estimateInfo(e pipeline.Estimate) api.DsortEstimate {
	out := api.DsortEstimate{
		Input: api.BckOf(e.Input), Output: api.BckOf(e.Output), InputFormat: e.InputFormat, OutputFormat: e.OutputFormat,
		InputShards: e.InputShards, MissingShards: e.MissingShards, Records: e.Records, OutputRecords: e.OutputRecords,
		InputBytes: e.InputBytes, FileBytes: e.FileBytes, OutputBytes: e.OutputBytes, OutputExact: e.OutputExact,
		OutputShards: e.OutputShards, FirstShard: e.FirstShard, LastShard: e.LastShard, Spills: e.Spills,
		Forecast: api.DsortForecast{Extract: e.Forecast.Extract, Sort: e.Forecast.Sort, Create: e.Forecast.Create, Total: e.Forecast.Total},
		Seed:     store.Int64String(e.Seed), Elapsed: e.Elapsed, Warnings: e.Warnings,
	}
	for _, t := range e.Targets {
		out.Targets = append(out.Targets, api.DsortTargetEstimate{
			Node: t.Node, InputShards: t.InputShards, MissingShards: t.MissingShards, Missing: t.Missing, Records: t.Records,
			InputBytes: t.InputBytes, FileBytes: t.FileBytes, Memory: t.Memory, MemoryLimit: t.MemoryLimit, PastBudget: t.PastBudget,
			ScanBytes: t.ScanBytes, ScanTime: t.ScanTime, ReadBytes: t.ReadBytes, ReadTime: t.ReadTime,
			WriteBytes: t.WriteBytes, WriteTime: t.WriteTime, Disk: t.Disk, OutputShards: t.OutputShards, OutputBytes: t.OutputBytes,
			FetchBytes: t.FetchBytes, ServeBytes: t.ServeBytes, NetworkBytes: t.NetworkBytes, NetworkTime: t.NetworkTime,
			Extract: t.Extract, Create: t.Create, Warnings: t.Warnings,
		})
	}
	return out
}
