// Package checker runs concurrent go-redis cluster clients against a Redis
// Cluster while something changes underneath it (a rebalance, a failover)
// and judges afterwards whether any client saw the cluster break its
// promises.
//
// Each client owns its keys: single keys it writes with increasing versions
// and reads back, and groups of hash-tagged keys ({tag}) it writes together
// with one MSET and reads together with one MGET. Every operation is
// recorded in the client's History, with whether it was acknowledged.
//
// Verify is pure: it judges the histories and the values read at the end.
// A violation is one of
//   - LostWrite: a read (during the run or at the end) returned a version
//     older than the key's last acknowledged write;
//   - Resurrected: a read returned a version older than one the same client
//     had already read (an old value came back);
//   - Phantom: a read returned a version the client never attempted;
//   - Torn: an MGET of a group returned keys of different versions, although
//     every write of the group set all its keys to one version.
//
// A write that failed (an error reply, a timeout) is "attempted": it may or
// may not have been applied, so a later read may return it without a
// violation. Errors are counted by class (TRYAGAIN, CLUSTERDOWN, MOVED, ASK,
// timeout, other) in Errors: they are not violations, but a caller can
// report or bound them.
//
// Start and Stop (run.go) drive real clients; they need a cluster. Verify and the
// types it judges need nothing and are unit tested on hand-written
// histories.
package checker
