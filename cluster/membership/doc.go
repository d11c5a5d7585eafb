// Package membership is the cluster's control plane: which nodes are in
// the cluster map, which buckets exist, and how every node comes to agree.
//
// The state is a Snapshot (the map, the bucket metadata, the dSort job
// registry and the cluster config). It changes
// only through a Change, applied by Apply, a pure function: the same
// snapshot and change always give the same result, so the state is a
// function of the sequence of changes, whichever implementation orders
// them.
//
// Push is how targets follow the primary (and was the first, single-primary
// implementation for gateways, which now run cluster/membership/raft): the
// primary applies changes,
// saves the snapshot and pushes it to every node (metasync); a keepalive
// round every interval pushes it again and takes silent nodes out (a
// target goes offline, a gateway leaves the map). A node takes a pushed
// snapshot only from the primary, in sequence, and sound
// (cluster.CheckUpdate). The keepalive takes its time from the caller
// (Tick), so all of it runs in tests without sockets or sleeps; the
// network is a Transport the gateway implements.
//
// Usage (on a node):
//
//	ctl, err := membership.NewPush(membership.Config{Self: self, Join: url, Store: meta, Transport: t})
//	err = ctl.Start(ctx)
//	snap := ctl.Current()
//	snap, err = ctl.Propose(ctx, membership.Change{Kind: membership.CreateBucket, Bucket: b})
package membership
