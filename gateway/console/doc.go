// Package console is the web console that every gateway serves at
// /console/: one HTML page with plain JavaScript (no framework, nothing
// fetched from elsewhere) that shows the cluster's nodes and capacity,
// browses buckets, objects and shard members, follows and starts dSort
// jobs and the other jobs, and draws live charts of /metrics.
//
// The page is a client of the node's public REST API, on the same origin:
// everything it shows comes from /v1/... and /metrics, and it inserts
// what the server says as text, never as markup. The assets are embedded
// in the binary; the package only serves them.
//
//	mux.Handle("GET /console/", console.Handler(notFound))
package console
