package peer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/pipeline"
)

// dSort estimates on targets (pipeline.Estimators).

var _ pipeline.Estimators = (*Client)(nil)

// Estimate has a target read the headers of the input shards it owns
// and time its disk. It takes as long as the reading does (a compressed
// shard is read whole), so no control timeout applies; the answer is
// bounded as an extraction's is.
func (c *Client) Estimate(ctx context.Context, t cluster.Node, init pipeline.JobInit) (pipeline.TargetEstimate, error) {
	body, err := json.Marshal(init)
	if err != nil {
		return pipeline.TargetEstimate{}, err
	}
	resp, err := c.do(ctx, http.MethodPost, t.URL+"/v1/sort/scan", bytes.NewReader(body), "application/json")
	if err != nil {
		return pipeline.TargetEstimate{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxPlan+1))
	if err != nil {
		return pipeline.TargetEstimate{}, err
	}
	if len(data) > MaxPlan {
		return pipeline.TargetEstimate{}, fmt.Errorf("%w: the estimate of %s is over %d bytes", pipeline.ErrWireLimit, t.ID, MaxPlan)
	}
	return pipeline.ReadTargetEstimate(data, pipeline.MaxPlanRecords)
}

// SampleNetwork reads up to size bytes of filler from a target and
// returns how many came before ctx ended; an error with some bytes is the
// end of the sample, not a failure.
func (c *Client) SampleNetwork(ctx context.Context, t cluster.Node, size int64) (int64, error) {
	resp, err := c.do(ctx, http.MethodGet, t.URL+"/v1/sort/network-sample?size="+strconv.FormatInt(size, 10), nil, "")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return io.Copy(io.Discard, io.LimitReader(resp.Body, size))
}
