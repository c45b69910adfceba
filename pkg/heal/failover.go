package heal

import (
	"fmt"
	"slices"
	"strings"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// failoverDecision hands the master role to replica.
func failoverDecision(replica topology.NodeID, mode planner.FailoverMode, msg string) Decision {
	return Decision{
		Kind:    Failover,
		Reason:  ReasonFailingOver,
		Message: msg,
		Plan:    planner.Plan{Steps: []planner.Step{planner.Failover{Replica: replica, Mode: mode}}},
		Forced:  mode != planner.FailoverGraceful,
	}
}

// candidates returns the replica status of each member for ranking.
func candidates(members []*Member) []planner.ReplicaStatus {
	out := make([]planner.ReplicaStatus, 0, len(members))
	for _, m := range members {
		out = append(out, planner.ReplicaStatus{ID: m.ID(), Replication: m.State.Replication})
	}
	return out
}

// safeReplica returns the best replica of master that is safe to promote
// with a graceful failover, and why each better-ranked one is not.
func safeReplica(master topology.Replication, replicas []*Member) (topology.NodeID, []string) {
	var why []string
	for _, c := range planner.RankReplicas(master, candidates(replicas)) {
		ok, reason := planner.PromotionSafeWithin(master, c.ReplicaStatus, planner.CaughtUpLag)
		if ok {
			return c.ID, why
		}
		why = append(why, reason)
	}
	if len(replicas) == 0 {
		why = append(why, "no live replica")
	}
	return "", why
}

// gracefulFailover hands the master role of a member being deleted to its
// best replica, when that replica is safe to promote.
func gracefulFailover(c *Cluster) (Decision, string) {
	var blocked []string
	for i := range c.Members {
		m := &c.Members[i]
		if !m.Terminating || !m.ServingMaster() {
			continue
		}
		id := m.ID()
		// Members the spec keeps first: a replica beyond replicasPerMaster
		// takes over only when none of them can, and is handed back later
		// (surplusMaster).
		reps := ReplicasOf(c.Members, id)
		to, why := safeReplica(m.State.Replication, c.kept(reps))
		if to == "" {
			to, why = safeReplica(m.State.Replication, reps)
		}
		if to != "" {
			return failoverDecision(to, planner.FailoverGraceful,
				fmt.Sprintf("pod %s (master %s) is being deleted: graceful failover to %s (pod %s)", m.Name, id.Short(), to.Short(), c.Member(to).Name)), ""
		}
		blocked = append(blocked, fmt.Sprintf("pod %s (master %s) is being deleted but no replica is safe to promote: %s", m.Name, id.Short(), strings.Join(why, "; ")))
	}
	return Decision{}, strings.Join(blocked, "; ")
}

// forcedFailover promotes a replica of a master that serves slots, did not
// answer, and is positively gone: the caller probed it (ProbeTargets: no
// live member at its address), and either the address refuses connections
// (or no host holds it), or the probe did not reach it and every live
// replica reports its link closed (see LinksClosed). The replica must have
// been recorded in sync by the previous pass, hold data, and not be in a
// sync; among those, planner.RankReplicas picks the most advanced (the
// highest offset, then the smaller ID; links are not compared). A master
// that is merely unreachable while its replicas are still linked to it
// (maybe a partition where clients still write to it, or a process not
// killed yet) is not touched; if it stays so, Redis's own failover, which
// needs a majority of masters, decides.
//
// The promotion is CLUSTER FAILOVER FORCE, an election the replica wins with
// the votes of a majority of the masters that serve slots. When so many of
// them are gone that the rest cannot make that majority (see
// majorityLost), no election can be won, by Redis's own failover either:
// the replica takes over with TAKEOVER, which needs no vote. The evidence
// asked of each gone master is the same as for FORCE, so the one risk
// TAKEOVER adds — two masters claiming one shard — needs a master that the
// probe found gone to come back serving writes, which it cannot do without
// first learning the taker's higher epoch.
func forcedFailover(c *Cluster) (Decision, string) {
	gone, why := goneMasters(c)
	mode, quorum := planner.FailoverForce, ""
	if lost, voters, need := majorityLost(c, len(gone)); lost {
		mode = planner.FailoverTakeover
		quorum = fmt.Sprintf("; %d of %d masters are gone, the %d left cannot make the %d votes an election needs: takeover without a vote", len(gone), voters+len(gone), voters, need)
	}
	var blocked []string
	for _, id := range gone {
		var synced []*Member
		for _, r := range ReplicasOf(c.Members, id) {
			rep := r.State.Replication
			if c.Memory.LastInSync[r.ID()] && rep.Offset > 0 && !rep.MasterSyncInProgress {
				synced = append(synced, r)
			}
		}
		if len(synced) == 0 {
			blocked = append(blocked, fmt.Sprintf("master %s is gone (%s) but none of its replicas was in sync", id.Short(), why[id]))
			continue
		}
		// With the master gone, a link still reported up is one whose close
		// the replica has not noticed yet: it says nothing about the data,
		// so the most advanced replica wins whatever its link says.
		cands := candidates(synced)
		for i := range cands {
			cands[i].Replication.MasterLinkUp = false
		}
		best := planner.RankReplicas(topology.Replication{}, cands)[0].ID
		verb := "forced failover"
		if mode == planner.FailoverTakeover {
			verb = "takeover"
		}
		return failoverDecision(best, mode,
			fmt.Sprintf("master %s is gone (%s): %s to %s (pod %s), in sync when last observed%s", id.Short(), why[id], verb, best.Short(), c.Member(best).Name, quorum)), ""
	}
	return Decision{}, strings.Join(blocked, "; ")
}

// goneMasters returns, in order, the masters that serve slots by consensus
// and are positively gone by forcedFailover's standard, with what showed it.
func goneMasters(c *Cluster) ([]topology.NodeID, map[topology.NodeID]string) {
	var gone []topology.NodeID
	why := map[topology.NodeID]string{}
	for _, id := range sortedProbes(c.Probes) {
		pr := c.Probes[id]
		if !c.Owns(id) {
			continue
		}
		switch {
		case pr.Gone:
			why[id] = pr.Detail
		case !pr.Reached && c.LinksClosed(id):
			why[id] = pr.Detail + "; its replicas' links to it are closed"
		default:
			continue
		}
		gone = append(gone, id)
	}
	return gone, why
}

// majorityLost reports whether the masters that serve slots, less the gone
// ones, are too few to elect: a failover needs the votes of more than half
// of the masters serving slots (Redis's cluster size, failed ones
// included). It also returns how many may vote and how many votes are
// needed.
func majorityLost(c *Cluster, gone int) (lost bool, voters, need int) {
	size := len(c.owned)
	need = size/2 + 1
	voters = size - gone
	return gone > 0 && voters < need, voters, need
}

// sortedProbes returns the probed node IDs in order.
func sortedProbes(p map[topology.NodeID]Probe) []topology.NodeID {
	ids := make([]topology.NodeID, 0, len(p))
	for id := range p {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
