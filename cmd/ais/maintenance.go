package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/rebalance"
	"github.com/aisgo/aisgo/gateway/peer"
)

// envNodeID names the node `ais cluster maintenance` acts on when no ID
// is given: a Kubernetes pod sets it to its own name, its node id, so that
// its preStop hook (an exec without a shell) needs no argument.
const envNodeID = "AIS_NODE_ID"

// newMaintenanceCommand puts a target into maintenance and back; with
// --wait-rebalance it returns once the objects have moved.
func newMaintenanceCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "maintenance",
		Short: "Take a target out of placement (its objects move to the others) and put it back",
	}
	cmd.AddCommand(
		newMaintenanceActionCommand("start", cluster.StateMaintenance,
			"Put a target into maintenance: it stays in the map, owns no object, and its objects move to the other targets"),
		newMaintenanceActionCommand("stop", cluster.StateActive,
			"Take a target out of maintenance: it owns objects again, and they move back to it"),
	)
	return cmd
}

func newMaintenanceActionCommand(verb string, want cluster.State, short string) *cobra.Command {
	var wait bool
	var timeout time.Duration
	var secretFile, skipIf string
	c := &cobra.Command{
		Use:   verb + " [ID]",
		Short: short,
		Long: short + ".\n\nID defaults to $" + envNodeID + ". With --wait-rebalance the command returns once every target\n" +
			"has applied the change and ended the rebalance it caused; it fails when a rebalance failed.\n" +
			"Starting maintenance on the only active target does nothing: its objects have nowhere to go.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := os.Getenv(envNodeID)
			if len(args) == 1 {
				id = args[0]
			}
			if id == "" {
				return fmt.Errorf("maintenance %s: name the target (ID, or $%s)", verb, envNodeID)
			}
			if skipIf != "" {
				skip, err := skipRequested(skipIf)
				if err != nil {
					return err
				}
				if skip {
					fmt.Printf("%s says the whole cluster is stopping: %s is not drained\n", skipIf, id)
					return nil
				}
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			c := client()
			if secretFile != "" {
				// The node itself (its preStop hook) signs with the
				// cluster secret, as nodes sign to each other: no user
				// token to keep fresh in the pod.
				secret, err := peer.LoadSecret(secretFile)
				if err != nil {
					return err
				}
				auth := peer.NewAuth(secret, peer.Options{})
				gateways := endpoints()
				c = api.NewClientWith(gateways[0], &http.Client{Transport: auth.Transport(id, api.NewTransportTLS(clientTLS))}).AddGateways(gateways[1:]...)
			}
			return maintenance(ctx, c, id, want, wait)
		},
	}
	c.Flags().StringVar(&secretFile, "secret-file", "", "sign the requests as the node ID with the cluster secret in this `file` (the node's own preStop hook), instead of a user token")
	c.Flags().BoolVar(&wait, "wait-rebalance", false, "wait until the rebalance the change causes has ended on every target")
	c.Flags().StringVar(&skipIf, "skip-if", "", "do nothing when this `file` reads \"true\" (a Kubernetes ConfigMap key: the whole cluster is stopping, and draining each target onto the ones still up would pile every object onto the last)")
	c.Flags().DurationVar(&timeout, "timeout", time.Hour, "how long to wait in all (0: no limit)")
	return c
}

// skipRequested reads a --skip-if file: "true" skips, "false" or a
// missing file does not, anything else is an error (a typo must not
// silently drain, or not drain, every target).
func skipRequested(path string) (bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("--skip-if: %w", err)
	}
	switch value := strings.TrimSpace(string(data)); value {
	case "true":
		return true, nil
	case "false", "":
		return false, nil
	default:
		return false, fmt.Errorf("--skip-if %s reads %q: want true or false", path, value)
	}
}

// maintenance moves target id to state want (maintenance or active) and,
// with wait, waits for the rebalance that follows.
func maintenance(ctx context.Context, c *api.Client, id string, want cluster.State, wait bool) error {
	m, err := c.Map(ctx)
	if err != nil {
		return err
	}
	node, ok := m.Node(id)
	if !ok {
		return fmt.Errorf("%s is not in the cluster (see 'ais cluster show')", id)
	}
	if !node.Role.IsTarget() {
		return fmt.Errorf("%s is a %s: only targets go into maintenance", id, node.Role)
	}
	if node.State == cluster.StateOffline {
		return maintainOffline(ctx, c, node, want)
	}
	before := m.Version
	changed := node.State != want
	if changed && want == cluster.StateMaintenance && onlyActiveTarget(m, id) {
		fmt.Printf("%s is the only active target: it stays active (its objects have nowhere to go)\n", id)
		return nil
	}
	if changed {
		if want == cluster.StateMaintenance {
			err = c.StartMaintenance(ctx, id)
		} else {
			err = c.StopMaintenance(ctx, id)
		}
		if err != nil {
			return err
		}
	}
	// The version of a map with the change: every target must apply it.
	after, err := waitForState(ctx, c, id, want)
	if err != nil {
		return err
	}
	state := string(want)
	if want == cluster.StateMaintenance {
		state = "in maintenance"
	}
	if changed {
		fmt.Printf("%s is %s (map version %d)\n", id, state, after)
	} else {
		fmt.Printf("%s was already %s\n", id, state)
	}
	if !wait {
		return nil
	}
	if err := waitRebalance(ctx, c, before, after, changed); err != nil {
		return err
	}
	fmt.Println("rebalance done")
	return nil
}

// maintainOffline marks an offline target to go into maintenance, or to
// come back active, when it is back: nothing moves until then, so there
// is no state or rebalance to wait for.
func maintainOffline(ctx context.Context, c *api.Client, node cluster.Node, want cluster.State) error {
	marked := want == cluster.StateMaintenance
	then := map[bool]string{true: "goes into maintenance", false: "is active"}[marked]
	if node.Maintained == marked && !node.Leaving {
		fmt.Printf("%s is offline; it %s when it is back (so marked already)\n", node.ID, then)
		return nil
	}
	var err error
	if marked {
		err = c.StartMaintenance(ctx, node.ID)
	} else {
		err = c.StopMaintenance(ctx, node.ID)
	}
	if err != nil {
		return err
	}
	for {
		m, err := c.Map(ctx)
		if err != nil {
			return err
		}
		n, ok := m.Node(node.ID)
		switch {
		case !ok:
			return fmt.Errorf("%s left the cluster", node.ID)
		case n.State != cluster.StateOffline || n.Maintained == marked && !n.Leaving:
			fmt.Printf("%s is offline; it %s when it is back (map version %d)\n", node.ID, then, m.Version)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s is not marked yet: %w", node.ID, context.Cause(ctx))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// onlyActiveTarget reports whether id is the map's one active target.
func onlyActiveTarget(m *cluster.Map, id string) bool {
	active := m.ActiveTargets()
	return len(active) == 1 && active[0].ID == id
}

// waitForState polls the map until the node is in state want, and
// returns that map's version.
func waitForState(ctx context.Context, c *api.Client, id string, want cluster.State) (int64, error) {
	for {
		m, err := c.Map(ctx)
		if err != nil {
			return 0, err
		}
		node, ok := m.Node(id)
		if !ok {
			return 0, fmt.Errorf("%s left the cluster", id)
		}
		if node.State == want {
			return m.Version, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%s is still %s, not %s: %w", id, node.State, want, context.Cause(ctx))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitRebalance polls the cluster's status until rebalanceDone says so,
// printing what it waits for every few seconds.
func waitRebalance(ctx context.Context, c *api.Client, before, after int64, started bool) error {
	lastLine := time.Time{}
	for {
		s, err := c.ClusterStatus(ctx)
		if err != nil {
			return err
		}
		pending, err := rebalanceDone(s, before, after, started)
		if err != nil {
			return err
		}
		if len(pending) == 0 {
			return nil
		}
		if time.Since(lastLine) > 5*time.Second {
			fmt.Fprintf(os.Stderr, "waiting for the rebalance: %s\n", printable(strings.Join(pending, "; ")))
			lastLine = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("rebalance not done (%s): %w", strings.Join(pending, "; "), context.Cause(ctx))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// rebalanceDone tells what the rebalance caused by a change of the active
// targets still waits for: before is the map version before the change,
// after the version of a map that holds it, and started whether the
// change started a rebalance (it did not when the target already was in
// the state asked for). A target is done once it has applied map after
// or a later one and runs no rebalance; when one was started, it must
// also have one for a version newer than before (runs are named
// reb-VERSION), the newest of which must not have failed. Offline
// targets neither move objects nor wait. pending is empty when every
// target is done; err reports a failed run.
func rebalanceDone(s *api.ClusterStatus, before, after int64, started bool) (pending []string, err error) {
	var failed []error
	for _, n := range s.Nodes {
		if !cluster.Role(n.Role).IsTarget() || n.State == string(cluster.StateOffline) {
			continue
		}
		if n.MapVersion == 0 && n.Error != "" {
			pending = append(pending, fmt.Sprintf("%s does not answer (%s)", n.ID, n.Error))
			continue
		}
		if n.MapVersion < after {
			pending = append(pending, fmt.Sprintf("%s has map version %d, not %d yet", n.ID, n.MapVersion, after))
			continue
		}
		var newest *api.JobStatus
		var newestVersion int64
		running := slices.ContainsFunc(n.Jobs, func(j api.JobStatus) bool { return j.Kind == "rebalance" && j.Running })
		for i, j := range n.Jobs {
			v, ok := rebalanceVersion(j)
			if ok && v > before && (newest == nil || v > newestVersion) {
				newest, newestVersion = &n.Jobs[i], v
			}
		}
		switch {
		case running:
			objects, retrying := int64(0), ""
			if newest != nil {
				objects = newest.Objects
				var result struct {
					Retrying string `json:"retrying"`
				}
				if json.Unmarshal(newest.Result, &result) == nil && result.Retrying != "" {
					retrying = ", trying again after: " + result.Retrying
				}
			}
			pending = append(pending, fmt.Sprintf("%s is moving objects (%d so far%s)", n.ID, objects, retrying))
		case started && newest == nil:
			pending = append(pending, fmt.Sprintf("%s has not started its rebalance", n.ID))
		case started && newest.Error != "":
			failed = append(failed, fmt.Errorf("rebalance %s on %s failed: %s", newest.ID, n.ID, newest.Error))
		}
	}
	return pending, errors.Join(failed...)
}

// rebalanceVersion returns the map version of a rebalance run, named
// reb-VERSION.
func rebalanceVersion(j api.JobStatus) (int64, bool) {
	text, ok := strings.CutPrefix(j.ID, rebalance.RunIDPrefix)
	if j.Kind != "rebalance" || !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(text, 10, 64)
	return v, err == nil
}
