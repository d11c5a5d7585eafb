package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
)

// Health returns the gateway's health; an error means it is not ready.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	err := c.doJSON(ctx, request{method: http.MethodGet, path: "/v1/health"}, &h)
	return h, err
}

// NodeHealth asks one node, by URL, for its health.
func (c *Client) NodeHealth(ctx context.Context, nodeURL string) (Health, error) {
	var h Health
	err := c.doJSON(ctx, request{method: http.MethodGet, path: "/v1/health", base: nodeURL}, &h)
	return h, err
}

// Map returns the cluster map; the client learns the gateways it names.
func (c *Client) Map(ctx context.Context) (*cluster.Map, error) {
	m := new(cluster.Map)
	if err := c.doJSON(ctx, request{method: http.MethodGet, path: "/v1/cluster", query: url.Values{QueryWhat: {"smap"}}}, m); err != nil {
		return m, err
	}
	c.mu.Lock()
	c.learnLocked(m)
	c.mu.Unlock()
	return m, nil
}

// ClusterStatus returns every node's status: roles, states, capacity, jobs.
func (c *Client) ClusterStatus(ctx context.Context) (*ClusterStatus, error) {
	return c.clusterStatus(ctx, url.Values{QueryWhat: {"status"}})
}

// jobOnlyStatus is every node's status with one job's entries only: what
// a user with LIST on the job's bucket (not the cluster) may read.
func (c *Client) jobOnlyStatus(ctx context.Context, id string) (*ClusterStatus, error) {
	return c.clusterStatus(ctx, url.Values{QueryWhat: {"status"}, QueryJob: {id}})
}

func (c *Client) clusterStatus(ctx context.Context, query url.Values) (*ClusterStatus, error) {
	s := new(ClusterStatus)
	err := c.doJSON(ctx, request{method: http.MethodGet, path: "/v1/cluster", query: query}, s)
	return s, err
}

// clusterAction sends PUT /v1/cluster with an action on a node.
func (c *Client) clusterAction(ctx context.Context, action, nodeID string) error {
	value, _ := json.Marshal(map[string]string{"id": nodeID})
	return c.doJSON(ctx, request{method: http.MethodPut, path: "/v1/cluster", bodyJSON: ActionMessage{Action: action, Value: value}}, nil)
}

// RemoveNode takes a node out of the cluster. A target's objects move to
// the remaining targets by rebalance.
func (c *Client) RemoveNode(ctx context.Context, nodeID string) error {
	return c.clusterAction(ctx, "leave", nodeID)
}

// StartMaintenance takes a target out of placement while it stays in the
// map; its objects move away.
func (c *Client) StartMaintenance(ctx context.Context, nodeID string) error {
	return c.clusterAction(ctx, "start-maintenance", nodeID)
}

// StopMaintenance puts a target back into placement.
func (c *Client) StopMaintenance(ctx context.Context, nodeID string) error {
	return c.clusterAction(ctx, "stop-maintenance", nodeID)
}

// ClusterConfig is the cluster-wide configuration the gateways replicate.
type ClusterConfig = membership.ClusterConfig

// ClusterConfig returns the cluster config.
func (c *Client) ClusterConfig(ctx context.Context) (ClusterConfig, error) {
	var cfg ClusterConfig
	err := c.doJSON(ctx, request{method: http.MethodGet, path: "/v1/cluster", query: url.Values{QueryWhat: {"config"}}}, &cfg)
	return cfg, err
}

// SetClusterConfig changes fields of the cluster config and returns the
// result. patch is a partial config as a JSON-able value, for example
// map[string]any{"distributed_sort": map[string]any{"missing_shards": "warn"}}.
func (c *Client) SetClusterConfig(ctx context.Context, patch any) (ClusterConfig, error) {
	value, err := json.Marshal(patch)
	if err != nil {
		return ClusterConfig{}, err
	}
	var cfg ClusterConfig
	err = c.doJSON(ctx, request{method: http.MethodPut, path: "/v1/cluster", bodyJSON: ActionMessage{Action: actionSetConfig, Value: value}}, &cfg)
	return cfg, err
}
