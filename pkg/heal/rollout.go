package heal

import (
	"fmt"

	"github.com/redkube/redkube/pkg/planner"
)

// rollingUpdate replaces, one member per pass, the members that run an
// older template (Kubernetes: the StatefulSets use OnDelete so that the
// operator orders it): in each group the replicas first, then the master
// role is handed to an updated replica in sync with a graceful CLUSTER
// FAILOVER, and the old master, now a replica, is replaced last. It acts
// only on a healthy cluster (every member up and Ready, every replica in
// sync, every slot served and closed, no resharding), so each replaced
// member has rejoined and synced before the next goes.
func rollingUpdate(c *Cluster) (Decision, string) {
	old, all := c.Outdated()
	if old == 0 || !c.Bootstrapped() || c.Cons == nil || c.Memory.Resharding {
		return Decision{}, ""
	}
	switch {
	case !c.MembersComplete():
		return Decision{}, "rolling update waits: not every pod is up"
	case !c.Covered() || !c.SlotsClosed():
		return Decision{}, "rolling update waits: slots are not all served and closed"
	}
	if ok, msg := c.ReplicasInSync(); !ok {
		return Decision{}, "rolling update waits: " + msg
	}
	progress := fmt.Sprintf("%d of %d pods run the current template", all-old, all)
	for _, sh := range c.Shards {
		if sh.Master == nil {
			continue
		}
		if d, ok := c.updateReplica(sh, progress); ok {
			return d, ""
		}
		if !sh.Master.Outdated {
			continue
		}
		return c.updateMaster(sh, progress)
	}
	return Decision{}, ""
}

// updateMember recreates member m with the current template.
func updateMember(m *Member, msg string) Decision {
	return Decision{Kind: UpdateMember, Reason: ReasonUpdatingPods, Message: msg, Member: m.Name, MemberOp: DeleteMember}
}

// updateReplica recreates the first outdated member of the shard's group
// that is not its master.
func (c *Cluster) updateReplica(sh Shard, progress string) (Decision, bool) {
	for i := range c.Members {
		m := &c.Members[i]
		if m.Group == sh.Index && m != sh.Master && m.Outdated {
			return updateMember(m, fmt.Sprintf("rolling update: recreating replica pod %s with the current template (%s)", m.Name, progress)), true
		}
	}
	return Decision{}, false
}

// updateMaster hands the outdated master's role to an updated replica in
// sync, or recreates the master when it has no replica at all.
func (c *Cluster) updateMaster(sh Shard, progress string) (Decision, string) {
	if len(sh.Replicas) == 0 {
		return updateMember(sh.Master, fmt.Sprintf("rolling update: recreating master pod %s, which has no replica to hand over to: its slots are unavailable until it is back (%s)", sh.Master.Name, progress)), ""
	}
	var updated []*Member
	for _, r := range sh.Replicas {
		if r.Member.Live() && !r.Member.Outdated && !c.Retiring(r.Member) {
			updated = append(updated, r.Member)
		}
	}
	if to, _ := safeReplica(sh.Master.State.Replication, updated); to != "" {
		d := failoverDecision(to, planner.FailoverGraceful,
			fmt.Sprintf("rolling update: handing shard %d's master role from pod %s to updated replica pod %s before %s is recreated (%s)", sh.Index, sh.Master.Name, c.Member(to).Name, sh.Master.Name, progress))
		d.Reason = ReasonUpdatingPods
		return d, ""
	}
	return Decision{}, fmt.Sprintf("rolling update waits: master pod %s has no updated replica in sync to hand over to", sh.Master.Name)
}
