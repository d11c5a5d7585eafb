// Package cluster is the shared vocabulary of a cluster: nodes, their roles
// and states, the versioned cluster map, and placement of objects on targets
// by HRW (rendezvous) hashing with xxhash64.
//
// A Map is an immutable snapshot: changes make a new Map with a higher
// Version (see the With* methods), which the primary gateway pushes to
// every node; a node ignores a Map older than the one it has. Placement is a
// pure function of the map and the name, so every node computes the same
// owner:
//
//	owner, err := m.Owner(cluster.Uname("ais", "bucket", "object"))
package cluster
