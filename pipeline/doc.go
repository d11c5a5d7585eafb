// Package pipeline runs dSort jobs across nodes. It owns the job spec
// (AIStore's field names, JSON or YAML, validated with errors that name the
// field), the lifecycle of a job (start, progress, abort, remove), and the
// flow of the three phases over a cluster:
//
//   - a Coordinator (on the gateway that received the job) initializes the
//     job on every target, collects every target's locally sorted record
//     metadata, merges and partitions it with package sort, and hands each
//     target the output shards it owns;
//   - a Worker (on every target) extracts the input shards it owns with
//     package extract, serves record bytes to other targets in batched
//     streams, and builds its output shards with package creation;
//   - an estimate (Coordinator.Estimate) tells what a job would do before
//     it runs: the targets read only their inputs' headers and time their
//     disks, and the coordinator plans the output as the job would.
//
// The network reaches this package only through the Cluster, Targets,
// Estimators and Fetcher interfaces, implemented over HTTP by package gateway and in memory by
// tests, so a whole multi-target job runs in one test without sockets.
// Cancellation (context.WithCancelCause) is the only abort path.
//
// Invariant: the output depends only on the input and the spec (seed
// included): 1, 3 or 5 targets, any memory budget and any concurrency write
// byte-identical shards, which pipeline/reference checks.
package pipeline
