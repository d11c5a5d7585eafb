// Package raft is the control plane of a cluster with several gateways:
// the snapshot of cluster/membership (map, buckets, dSort job registry,
// cluster config) replicated by github.com/hashicorp/raft with a durable log
// (raft-boltdb). Every change goes through the log; the state machine is
// membership.Apply, a pure function of the log, so every gateway holds the
// same snapshot at the same index, and a snapshot restore equals the
// replay.
//
// The Raft leader is the primary: when it takes office it records itself
// as the map's primary (a Lead change, which bumps the map version), and it
// pushes the snapshot to the targets at every change and keepalive round,
// as membership.Push does. Other gateways forward changes to the leader and
// answer once they applied them; during an election a change waits for the
// new leader. Without a quorum, changes are refused with ErrNoQuorum,
// which names the gateways that answer (a leader verifies its majority
// before it appends); data requests do not need the control plane. A
// restarted gateway is ready only once it caught up with the leader.
//
// Raft's own traffic goes over a StreamLayer the gateway gives (an
// authenticated connection between gateways).
//
// Usage:
//
//	ctl, err := raft.New(raft.Config{Self: self, Dir: dir, Transport: t, Stream: s})
//	err = ctl.Start(ctx, loops)
//	snap, err := ctl.Propose(ctx, membership.Change{Kind: membership.CreateBucket, Bucket: b})
package raft
