// Command operator is the side-by-side benchmark of the RedisCluster
// operator against the plain tutorial StatefulSet bootstrapped by hand
// (rcctl create), both on one local Kubernetes (internal/localkube) with
// real redis-server pods. bench/operator.sh builds it and the manager and
// runs it; see docs/design/2026-11-25-operator.md ("Measured") for what
// it prints and the numbers of the last run.
//
// It measures, in this order, on one 3-node cluster:
//
//  1. create: `kubectl apply` of a 3x1 RedisCluster to Ready, beside the
//     moment its last replica finished its first sync; the tutorial's
//     StatefulSet applied, its pods Ready, `rcctl create`, replicas in sync;
//  2. a Kubernetes node holding a master of each setup stopped without
//     warning (both setups at once, right after create), with a writer on
//     each: time until the lost shards are served again, then, after the
//     node is started again, time until every shard has its replica back
//     in sync, and whether masters and replicas are apart again;
//  3. graceful delete of a master pod under a continuous go-redis
//     ClusterClient writer (nodes cordoned until the shard is served, so the
//     sub-second replacement pod cannot hide the failover): worst gap
//     between two acknowledged writes, write errors, acknowledged writes
//     lost; time until every other node routes the shard to a live master
//     not at the old address; time until healthy again;
//  4. the same with a force delete (grace period 0); before each delete
//     of an operator pod the benchmark waits until the operator is quiet
//     (Ready, one master per node, for 2 s), so its own master-spread
//     handover cannot race the delete; deletes go through the API client,
//     as kubectl sends them, so kubectl's start-up is not timed;
//  5. spec.masters 3 → 4 → 3 under a writer (operator only; the tutorial
//     does it by hand): time to Ready each way, worst gap, lost writes;
//  6. the manager (a separate process, built from ./cmd/manager) managing
//     three RedisClusters: its resident memory, and the Kubernetes API
//     writes (rest_client_requests_total by method on its /metrics) and
//     Redis write/admin commands (INFO commandstats on every node) per
//     reconcile of healthy clusters over an idle period.
//
// The environment (local cluster, CRD, manager process, kubectl, polling,
// disruptions) is test/harness's and the writers are test/writeload's, the
// same the end-to-end tests use.
//
// It is a measurement, not a test: it prints numbers and targets and exits
// 0 when every scenario ran, whether or not a target was met. Everything it
// starts (the local cluster, its pods and bridge, the manager) is stopped
// on exit, also on SIGINT.
package main
