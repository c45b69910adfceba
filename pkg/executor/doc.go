// Package executor carries out a planner.Plan against a live Redis Cluster
// through a redisadmin.Pool.
//
// Run walks the plan in order. Runs of consecutive steps of the same kind
// that cannot interfere are executed concurrently: SetConfigEpoch and
// AssignSlots per node (pipelined), all Meet steps at once, Replicate steps
// at once, and MigrateSlots steps as independent source→target pairs (up to
// Options.Parallel at a time, never two steps sharing a slot).
//
// Slot migration follows the Redis protocol: SETSLOT IMPORTING on the
// target, MIGRATING on the source, GETKEYSINSLOT + multi-key MIGRATE in
// batches, then SETSLOT NODE on the target, the source and every other
// master. Slots are handled in chunks whose SETSLOT and MIGRATE commands are
// pipelined. A migration resumes from the state it observes, honours a
// keys/s rate limit, reports Progress, and on context cancellation stops at
// a chunk boundary: the chunk in flight is finished so no slot is left
// half-moved, and the context's error is returned wrapped. Transient errors
// (CLUSTERDOWN, TRYAGAIN, LOADING, IOERR, lost connections) are retried with
// bounded exponential back-off (Options.RetryTimeout). A source that Redis
// turned into a replica after it gave away its last slot is accepted as
// done. FixOpenSlot closes any open-slot shape, covering an uncovered slot
// before moving its keys.
//
// WaitConsistent polls a set of nodes until they agree on the layout;
// WaitReplicasSynced until every replica finished its first sync.
//
// # Errors
//
// Errors from nodes are redisadmin *Error values wrapped with the step.
// The executor adds:
//
//	ErrStalePlan          a step does not match what the cluster reports
//	                      (a slot owned by a third node, an open slot towards
//	                      another node, an unknown node ID)
//	*UnsafePromotionError a Failover step refused because the replica may not
//	                      hold its master's data (errors.Is ErrUnsafePromotion)
//
// See docs/design/2026-11-25-executor.md for the protocol choices.
package executor
