package heal

import (
	"fmt"
	"strings"

	"github.com/redkube/redkube/pkg/planner"
)

// surplusMaster hands the master role away from a member the spec no
// longer asks for — its ordinal is beyond Spec.ReplicasPerMaster after the
// spec lowered it — to the best in-sync member the spec keeps, with a
// graceful CLUSTER FAILOVER. The platform then removes replicas only (a
// StatefulSet drops its highest ordinals; the operator holds its pod count
// until this handover is done), and the forget rule drops their nodes
// everywhere once they are gone.
func surplusMaster(c *Cluster) (Decision, string) {
	if !c.Spec.Declared || !c.Bootstrapped() {
		return Decision{}, ""
	}
	var blocked []string
	for _, sh := range c.Shards {
		m := sh.Master
		if m == nil || m.Ordinal <= c.Spec.ReplicasPerMaster || !m.Live() || !m.ServingMaster() {
			continue
		}
		to, why := safeReplica(m.State.Replication, c.kept(ReplicasOf(c.Members, m.ID())))
		if to == "" {
			blocked = append(blocked, fmt.Sprintf("pod %s (master of shard %d) is beyond spec.replicasPerMaster (%d) but no pod that stays is safe to promote: %s",
				m.Name, sh.Index, c.Spec.ReplicasPerMaster, strings.Join(why, "; ")))
			continue
		}
		return failoverDecision(to, planner.FailoverGraceful,
			fmt.Sprintf("pod %s is beyond spec.replicasPerMaster (%d): handing shard %d's master role to pod %s before it is removed",
				m.Name, c.Spec.ReplicasPerMaster, sh.Index, c.Member(to).Name)), ""
	}
	return Decision{}, strings.Join(blocked, "; ")
}

// kept returns the members of ms the spec asks for (see wanted); with an
// undeclared spec, all of them.
func (c *Cluster) kept(ms []*Member) []*Member {
	if !c.Spec.Declared {
		return ms
	}
	var out []*Member
	for _, m := range ms {
		if c.wanted(m) {
			out = append(out, m)
		}
	}
	return out
}

// Surplus counts the members of the groups the spec keeps whose ordinal is
// beyond Spec.ReplicasPerMaster: pods the platform has yet to remove after
// the spec lowered the count.
func (c *Cluster) Surplus() int {
	if !c.Spec.Declared {
		return 0
	}
	n := 0
	for i := range c.Members {
		if m := &c.Members[i]; m.Group >= 0 && m.Group < c.Spec.Masters && m.Ordinal > c.Spec.ReplicasPerMaster {
			n++
		}
	}
	return n
}
