// Package benchenv is what the operator benchmarks (bench/operator and
// bench/manager-mem) share: a local Kubernetes (internal/localkube, three
// nodes, real redis-server pods on a pod network private to the run) with
// the RedisCluster CRD installed, the manager binary run as its own
// process against it (its resident memory sampled from /proc, its
// /metrics scraped), and the polling helpers the scenarios wait with.
//
// Start returns an Env; Env.StartManager starts the manager; Env.Stop
// stops the manager, the local cluster (pods, bridge, control plane) and
// removes the run's work folder. Start cleans up after itself when it
// fails, so the caller stops only an Env it got.
//
// Errors are returned wrapped (%w) with what was being done; Poll's error
// wraps the context's (context.DeadlineExceeded when its time ran out) and
// the last error of the poll function, if any. The package needs root, as
// the local cluster's pod network does, and only one local Kubernetes can
// run on a machine at a time.
package benchenv
