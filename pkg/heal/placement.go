package heal

import (
	"fmt"

	"github.com/redkube/redkube/pkg/planner"
)

// calm reports whether the optional moves (placement, master spread) may
// run: the previous pass found the cluster healthy, it exists, every
// member is up and every replica in sync.
func (c *Cluster) calm() bool {
	if !c.Memory.WasReady || !c.Bootstrapped() || !c.MembersComplete() {
		return false
	}
	ok, _ := c.ReplicasInSync()
	return ok
}

// placement moves a replica that shares a host with another member of its
// group. Where the platform recreates members, the replica is recreated
// with its storage (volumes are node-local, and a replica resyncs from its
// master anyway) when a host without a member of that group exists, and
// the scheduler places it there. Elsewhere a node cannot move: a replica
// on its master's host is re-pointed to a master on another host, and
// one of that master's replicas on another host than the first master's
// takes its place, so both keep their replica counts. It acts only on a
// calm cluster, so the shard keeps its data meanwhile.
func placement(c *Cluster) (Decision, string) {
	if !c.calm() {
		return Decision{}, ""
	}
	if !c.Platform.Recreates {
		return c.swapReplicas(), ""
	}
	for _, sh := range c.Shards {
		if sh.Master == nil {
			continue
		}
		if d, blocked := c.recreateSharing(sh); !d.IsNone() || blocked != "" {
			return d, blocked
		}
	}
	return Decision{}, ""
}

// recreateSharing recreates the first replica of sh that shares a host with
// another member of its group, when a host without a member of the group
// exists; otherwise it says why not.
func (c *Cluster) recreateSharing(sh Shard) (Decision, string) {
	hosts := map[string]int{}
	for i := range c.Members {
		if m := &c.Members[i]; m.Group == sh.Index && m.Host != "" {
			hosts[m.Host]++
		}
	}
	free := false
	for _, h := range c.Hosts {
		free = free || hosts[h] == 0
	}
	for _, r := range sh.Replicas {
		m := r.Member
		if m.Group != sh.Index || hosts[m.Host] < 2 {
			continue
		}
		if !free {
			return Decision{}, fmt.Sprintf("shard %d has two members on node %s and no free node to move one to", sh.Index, m.Host)
		}
		return Decision{
			Kind:     MoveReplica,
			Reason:   ReasonMovingReplicas,
			Message:  fmt.Sprintf("replica pod %s shares node %s with another member of shard %d: recreating it (and its claim) elsewhere", m.Name, m.Host, sh.Index),
			Member:   m.Name,
			MemberOp: RecreateMember,
		}, ""
	}
	return Decision{}, ""
}

// swapReplicas re-points a replica that shares its master's host: replica
// r of master A (both on host H) and a replica s of another master B, with
// B and s off H and s off A's host, trade masters.
func (c *Cluster) swapReplicas() Decision {
	for _, sh := range c.Shards {
		a := sh.Master
		if a == nil || a.Host == "" {
			continue
		}
		for _, r := range sh.Replicas {
			if r.Member.Host != a.Host {
				continue
			}
			b, s := c.swapPartner(sh.Index, a.Host)
			if b == nil {
				continue
			}
			return Decision{
				Kind:   MoveReplica,
				Reason: ReasonMovingReplicas,
				Message: fmt.Sprintf("replica %s shares host %s with its master %s: it now replicates %s on %s, and %s replicates %s",
					r.Member.Name, a.Host, a.Name, b.Name, b.Host, s.Name, a.Name),
				Plan: planner.Plan{Steps: []planner.Step{
					planner.Replicate{Replica: r.Member.ID(), Master: b.ID()},
					planner.Replicate{Replica: s.ID(), Master: a.ID()},
				}},
			}
		}
	}
	return Decision{}
}

// swapPartner returns another shard's master off host and one of its in-sync
// replicas off host too, or nils.
func (c *Cluster) swapPartner(shard int, host string) (master, replica *Member) {
	for _, sh := range c.Shards {
		if sh.Index == shard || sh.Master == nil || sh.Master.Host == host || sh.Master.Host == "" {
			continue
		}
		for _, r := range sh.Replicas {
			if r.InSync && r.Member.Host != host && r.Member.Host != "" && r.Member.Host != sh.Master.Host {
				return sh.Master, r.Member
			}
		}
	}
	return nil, nil
}

// masterSpread hands a master role to an in-sync replica so that no host
// holds more than its share of masters (planner.SpreadMasters: a direct
// handover, or the first of a chain that makes room). It acts only on a
// calm cluster, with a graceful failover (no acknowledged write is lost;
// writes to that shard pause for the switch).
func masterSpread(c *Cluster) (Decision, string) {
	if !c.calm() || len(c.Hosts) == 0 {
		return Decision{}, ""
	}
	shards := make([]planner.SpreadShard, len(c.Shards))
	for i, sh := range c.Shards {
		if sh.Master == nil {
			return Decision{}, ""
		}
		shards[i].MasterHost = sh.Master.Host
		for _, r := range sh.Replicas {
			if m := r.Member; r.InSync && m.Live() && m.Host != "" && m.Group == sh.Index {
				shards[i].Candidates = append(shards[i].Candidates, planner.SpreadCandidate{ID: m.ID(), Host: m.Host})
			}
		}
	}
	sp := planner.SpreadMasters(shards, len(c.Hosts))
	if len(sp.Path) == 0 {
		return Decision{}, ""
	}
	h := sp.Path[0]
	sh := c.Shards[h.Shard]
	to := c.Member(h.To)
	why := fmt.Sprintf("node %s holds %d masters (more than %d)", sp.Host, sp.Masters, sp.Limit)
	if len(sp.Path) > 1 {
		why += fmt.Sprintf("; first of %d handovers that make room", len(sp.Path))
	}
	return failoverDecision(h.To, planner.FailoverGraceful,
		fmt.Sprintf("%s: handing shard %d's master role from pod %s on node %s to its replica %s on node %s",
			why, sh.Index, sh.Master.Name, sh.Master.Host, to.Name, to.Host)), ""
}
