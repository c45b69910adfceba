package planner

import (
	"fmt"
	"sort"

	"github.com/redkube/redkube/pkg/topology"
)

// CaughtUpLag is how many bytes of replication offset a replica may trail
// its master and still count as caught up: in sync for the operator's
// status and rules, safe for a graceful CLUSTER FAILOVER (which lets the
// replica catch up before it switches), not lagging for rcctl check. Every
// place that needs the threshold uses this one.
const CaughtUpLag int64 = 1 << 20

// ReplicaStatus is what was observed of one replica when choosing a
// failover target.
type ReplicaStatus struct {
	// ID is the replica's node ID.
	ID topology.NodeID
	// Err is the error met while observing the replica (nil when it
	// answered); a replica with an error ranks last and is never safe.
	Err error
	// Replication is the replica's INFO replication.
	Replication topology.Replication
}

// Candidate is a replica ranked for promotion.
type Candidate struct {
	ReplicaStatus
	// Safe reports whether promoting it now loses no acknowledged data.
	Safe bool
	// Reason says why it is not safe ("" when it is).
	Reason string
}

// ReplicaRanking sorts replicas best promotion target first: replicas that
// answered before those that did not, link up before link down, then the
// highest replication offset, then the smaller node ID. It implements
// sort.Interface.
type ReplicaRanking []ReplicaStatus

func (r ReplicaRanking) Len() int      { return len(r) }
func (r ReplicaRanking) Swap(i, j int) { r[i], r[j] = r[j], r[i] }

// Less reports whether replica i is a better promotion target than j.
func (r ReplicaRanking) Less(i, j int) bool {
	a, b := r[i], r[j]
	if (a.Err == nil) != (b.Err == nil) {
		return a.Err == nil
	}
	if a.Replication.MasterLinkUp != b.Replication.MasterLinkUp {
		return a.Replication.MasterLinkUp
	}
	if a.Replication.Offset != b.Replication.Offset {
		return a.Replication.Offset > b.Replication.Offset
	}
	return a.ID < b.ID
}

// RankReplicas returns the replicas of master ranked best first (see
// ReplicaRanking), each marked with PromotionSafe. The input is not
// modified.
func RankReplicas(master topology.Replication, replicas []ReplicaStatus) []Candidate {
	ranked := append(ReplicaRanking(nil), replicas...)
	sort.Sort(ranked)
	out := make([]Candidate, len(ranked))
	for i, r := range ranked {
		ok, reason := PromotionSafe(master, r)
		out[i] = Candidate{ReplicaStatus: r, Safe: ok, Reason: reason}
	}
	return out
}

// PromotionSafe reports whether replica can be promoted in place of master
// without losing data, and if not, why: it must have answered, have its
// link to the master up, not be in a sync, and have processed the master's
// whole replication stream (offset >= master's offset). A freshly attached
// replica holds no data until its first sync, which Redis delays by
// repl-diskless-sync-delay; promoting it then would empty the shard, and
// its link is down or its offset behind until that sync is done.
func PromotionSafe(master topology.Replication, replica ReplicaStatus) (bool, string) {
	return PromotionSafeWithin(master, replica, 0)
}

// PromotionSafeWithin is PromotionSafe tolerating a replica whose offset
// trails the master's by at most maxLag bytes (a graceful CLUSTER FAILOVER
// lets the replica catch up before switching, so a small lag under write
// load is fine there). A replica that has never received data while the
// master has some is never safe.
func PromotionSafeWithin(master topology.Replication, replica ReplicaStatus, maxLag int64) (bool, string) {
	rep := replica.Replication
	switch {
	case replica.Err != nil:
		return false, fmt.Sprintf("replica %s did not answer: %v", replica.ID.Short(), replica.Err)
	case !rep.MasterLinkUp:
		return false, fmt.Sprintf("replica %s has its link to the master down", replica.ID.Short())
	case rep.MasterSyncInProgress:
		return false, fmt.Sprintf("replica %s is still in its sync with the master", replica.ID.Short())
	case master.Offset > 0 && rep.Offset <= 0:
		return false, fmt.Sprintf("replica %s holds no replicated data yet (offset %d, master %d)", replica.ID.Short(), rep.Offset, master.Offset)
	case master.Offset-rep.Offset > maxLag:
		return false, fmt.Sprintf("replica %s trails the master by %d bytes", replica.ID.Short(), master.Offset-rep.Offset)
	}
	return true, ""
}
