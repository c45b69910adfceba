// Package harness is the environment the end-to-end tests (test/e2e, which
// assert) and the operator benchmarks (bench/operator and
// bench/manager-mem, which measure) share: a local Kubernetes
// (internal/localkube, three nodes, real redis-server pods run by the node
// agent) on a pod network of its own, optionally with the cluster DNS and
// kube-proxy (internal/localkube/services) and the RedisCluster CRD, each
// node on an address of its own (NodeNetwork: NodePorts and load-balancer
// addresses answer there) and client namespaces outside the cluster
// (Env.Outside); the operator run on it, either in this process or as the built manager
// binary (its resident memory sampled from /proc, its /metrics scraped);
// kubectl; polling helpers; what both sides read of a RedisCluster, its
// pods and its Redis nodes; and the disruptions both apply.
//
// Start returns an Env; Env.StartOperator runs an Operator; Env.Stop stops
// the operators, the services, the local cluster (pods, bridge, control
// plane) and removes the run's work folder. Start cleans up after itself
// when it fails, so the caller stops only an Env it got. The continuous
// writer is test/writeload's.
//
// Nothing here takes a *testing.T: a test wraps the calls it makes in its
// own helpers (see test/e2e), a benchmark reports the errors.
//
// # Errors
//
// Errors are returned wrapped (%w) with what was being done. Poll's and
// Wait's errors wrap the context's (context.DeadlineExceeded when their time
// ran out) and the last error of the polled function, if any. Ready's error
// wraps ErrNotReady when the RedisCluster could be read but is not Ready;
// ClusterCheck's wraps ErrCheckFailed when redis-cli ran and found a
// problem.
//
// The package needs root, as the local cluster's pod network does, and
// only one local Kubernetes on the default pod network (Options.Network
// unset) can run on a machine at a time.
package harness
