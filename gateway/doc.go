// Package gateway serves every HTTP route of an AIS-Go node: the native
// REST API (/v1/buckets, /v1/objects, /v1/cluster, /v1/sort, /v1/health),
// the intra-cluster routes (metasync, per-target listing, streams), and
// /metrics. Routes are registered by role (routes.go); a node answers a
// route of another role with a 400 naming who serves it. Intra-cluster
// routes take only requests signed with the cluster secret (gateway/peer,
// which is also the node's client of other nodes); the control plane is
// cluster/membership and the rebalance cluster/rebalance, whose HTTP side
// this package is. A Node has a role: a gateway answers control requests and
// redirects data requests to the target that owns the object (GET 301,
// others 307, as AIStore does); a target stores objects; role "all" is both
// in one process, and still redirects, so clients work unchanged when the
// cluster grows.
//
// Errors are mapped to HTTP statuses in one place (errors.go) and carry a
// stable kind that the api package decodes back to the same sentinel.
//
//	node, err := gateway.New(gateway.Config{ID: "n1", Role: cluster.RoleAll, URL: url, Store: st, Storage: st, Meta: meta,
//		Secret: peer.NewSecret(), RaftDir: filepath.Join(dir, "raft"), WorkDir: filepath.Join(dir, "work")})
//	srv := &http.Server{Handler: node.Handler()}
//	go srv.Serve(listener)
//	err = node.Start(ctx)
package gateway
