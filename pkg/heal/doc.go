// Package heal is the healing brain shared by the RedisCluster operator and
// `rcctl heal`: pure rules that look at one observation of a Redis Cluster
// and return the one change it needs next.
//
// A pass goes gather → derive → decide → act:
//
//   - The caller gathers an Observation: the members (the nodes the cluster
//     should hold: pods for the operator, the reachable nodes for rcctl),
//     what each Redis node reported (a topology.Snapshot), the probes of
//     silent masters (see ProbeTargets), and the Memory of the previous
//     pass. All I/O happens there.
//   - Derive computes, once, what the rules share: the consensus of the
//     nodes' views, slot ownership per node, and the shards with their
//     masters and replicas. Nothing is patched afterwards.
//   - A Chain of Rules (one file per concern: failover, bootstrap,
//     membership, repair, scale, rollout, placement) is asked in priority
//     order; the first rule that wants a change returns a Decision: a plan of
//     Redis steps for the executor and/or an operation on a member (delete,
//     or delete with its storage so that it is recreated elsewhere), with an
//     event reason and a message. At most one topology change per pass.
//   - The caller acts in bounded steps (Decision.Budget) and observes again.
//
// The Platform says what the world around the nodes can do: Kubernetes
// recreates a deleted pod and knows every member, a bare-metal cluster does
// neither, and the rules adapt (a replica sharing its master's host is
// recreated elsewhere on Kubernetes, re-pointed to another master on bare
// metal).
//
// The package has no I/O, no clock (Observation.Now) and no Kubernetes
// imports; it returns no errors: a rule that cannot act says why in the
// Decision's Blocked text.
package heal
