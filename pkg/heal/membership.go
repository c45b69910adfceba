package heal

import (
	"fmt"
	"strings"
	"time"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// meet introduces every live member to every other live member that does
// not know it at its current address: a restarted pod keeps its node ID
// (nodes.conf on its volume) but has a new IP; Redis matches the ID when
// the handshake completes and updates the address, so the node keeps its
// slots or its replica role. After all pods restarted at once, every node
// is met with every other, which restores the whole cluster. A drained
// member of a retiring group is being removed and is never met again.
func meet(c *Cluster) (Decision, string) {
	if !c.Bootstrapped() {
		return Decision{}, ""
	}
	var steps []planner.Step
	var names []string
	drained := !c.SlotsOnRetiring()
	skip := func(m *Member) bool { return !m.Live() || (drained && c.Retiring(m)) }
	for i := range c.Members {
		m := &c.Members[i]
		if skip(m) {
			continue
		}
		missing := false
		for j := range c.Members {
			peer := &c.Members[j]
			if i == j || skip(peer) {
				continue
			}
			n := peer.State.View.Node(m.ID())
			if n == nil || n.Flags.Has(topology.FlagHandshake) || n.Flags.Has(topology.FlagNoAddr) || n.Host() != m.PeerIP() {
				steps = append(steps, planner.Meet{Node: peer.ID(), Peer: m.ID(), PeerAddr: m.Addr})
				missing = true
			}
		}
		if missing {
			names = append(names, m.Name)
		}
	}
	if len(steps) == 0 {
		return Decision{}, ""
	}
	return Decision{
		Kind:    Meet,
		Reason:  ReasonRejoiningNodes,
		Message: fmt.Sprintf("introducing %s at their current addresses (%d CLUSTER MEET)", strings.Join(names, ", "), len(steps)),
		Plan:    planner.Plan{Steps: steps},
	}, ""
}

// forget forgets nodes that are gone, never a node that owns slots. Where
// the members are authoritative (Kubernetes), a node no member holds is a
// stranger: it acts only when every member the spec asks for answers, so
// each member's node ID is known and a member that is merely restarting is
// never forgotten. Elsewhere, a node is gone when it does not answer, an
// answering node flags it fail, and no answering node has heard from it for
// ForgetAfter.
func forget(c *Cluster) (Decision, string) {
	if !c.Bootstrapped() || c.Cons == nil {
		return Decision{}, ""
	}
	gone := c.failedLongAgo
	what := fmt.Sprintf("forgetting nodes flagged fail and silent for over %s", c.ForgetAfter)
	if c.Platform.AuthoritativeMembers {
		if !c.MembersComplete() {
			return Decision{}, ""
		}
		gone = func(n *topology.Node) bool { return c.Member(n.ID) == nil }
		what = "forgetting nodes no pod holds"
	}
	var steps []planner.Step
	var ids []string
	for _, n := range c.Cons.View.Nodes {
		if n.Flags.Has(topology.FlagHandshake) || c.Owns(n.ID) || c.followed(n.ID) || !gone(n) {
			continue
		}
		steps = append(steps, planner.Forget{Node: n.ID})
		ids = append(ids, n.ID.Short())
	}
	if len(steps) == 0 {
		return Decision{}, ""
	}
	return Decision{
		Kind:    Forget,
		Reason:  ReasonForgettingNodes,
		Message: fmt.Sprintf("%s: %s", what, strings.Join(ids, ", ")),
		Plan:    planner.Plan{Steps: steps},
	}, ""
}

// followed reports whether an answering node replicates id: Redis refuses
// to forget a replica's own master ("Can't forget my master!"), so a plan
// forgetting it would fail on that replica pass after pass; the attach rule
// re-points the replica first.
func (c *Cluster) followed(id topology.NodeID) bool {
	for _, ns := range c.Snap.Nodes {
		if ns.View == nil {
			continue
		}
		if self := ns.View.Myself(); self != nil && self.IsReplica() && self.MasterID == id {
			return true
		}
	}
	return false
}

// failedLongAgo reports whether node n does not answer, some answering node
// flags it fail, and the last pong any answering node received from it is
// older than ForgetAfter.
func (c *Cluster) failedLongAgo(n *topology.Node) bool {
	if _, answered := c.Snap.Nodes[n.ID]; answered {
		return false
	}
	failed, lastPong := false, int64(0)
	for _, ns := range c.Snap.Nodes {
		if ns.View == nil {
			continue
		}
		if line := ns.View.Node(n.ID); line != nil {
			failed = failed || line.Flags.Has(topology.FlagFail)
			lastPong = max(lastPong, line.PongRecv)
		}
	}
	return failed && c.Now.Sub(time.UnixMilli(lastPong)) >= c.ForgetAfter
}

// attach makes every other live member of a group a replica of the group's
// master (new members are empty masters; replicas may follow another
// group's master after Redis's replica migration), and attaches each live
// member of no group that holds no slot and follows no master as a replica
// of the master with the fewest replicas, preferring another host.
func attach(c *Cluster) (Decision, string) {
	if !c.Bootstrapped() {
		return Decision{}, ""
	}
	steps, names := c.attachToGroups()
	orphanSteps, orphanNames := c.attachOrphans()
	steps, names = append(steps, orphanSteps...), append(names, orphanNames...)
	if len(steps) == 0 {
		return Decision{}, ""
	}
	return Decision{
		Kind:    Attach,
		Reason:  ReasonAttachingReplicas,
		Message: fmt.Sprintf("attaching %s as replicas", strings.Join(names, ", ")),
		Plan:    planner.Plan{Steps: steps},
	}, ""
}

// attachToGroups attaches each group's members to the group's master.
func (c *Cluster) attachToGroups() ([]planner.Step, []string) {
	var steps []planner.Step
	var names []string
	for g := 0; g < c.Spec.Masters; g++ {
		master, serving := c.ShardMaster(g)
		if serving > 1 || master == nil {
			continue // two masters in one group (Redis settles it by epoch), or none yet
		}
		mid := master.ID()
		for i := range c.Members {
			m := &c.Members[i]
			if m.Group != g || m == master || !m.Live() {
				continue
			}
			s := m.Self()
			if (s.IsReplica() && s.MasterID == mid) || (s.IsMaster() && !s.Slots.IsEmpty()) {
				continue
			}
			if n := m.State.View.Node(mid); n == nil || n.Flags.Has(topology.FlagHandshake) {
				continue // not met yet
			}
			steps = append(steps, planner.Replicate{Replica: s.ID, Master: mid})
			names = append(names, fmt.Sprintf("%s (of shard %d's master %s)", m.Name, g, master.Name))
		}
	}
	return steps, names
}

// attachOrphans attaches the live empty masters of no group. A master
// without slots that still holds keys is left alone: Redis refuses to make
// it a replica, and doing so would drop its keys.
func (c *Cluster) attachOrphans() ([]planner.Step, []string) {
	load := map[topology.NodeID]int{}
	var masters []*Member
	for _, sh := range c.Shards {
		if sh.Master != nil && sh.Master.Live() && sh.Master.ServingMaster() {
			masters = append(masters, sh.Master)
			load[sh.MasterID] = len(sh.Replicas)
		}
	}
	var steps []planner.Step
	var names []string
	for i := range c.Members {
		m := &c.Members[i]
		s := m.Self()
		if m.Group >= 0 || !m.Live() || !s.IsMaster() || !s.Slots.IsEmpty() || c.Owns(s.ID) || m.State.Keys > 0 {
			continue
		}
		var best *Member
		for _, cand := range masters {
			if n := m.State.View.Node(cand.ID()); n == nil || n.Flags.Has(topology.FlagHandshake) {
				continue // not met yet
			}
			if best == nil || orphanPrefers(m, cand, best, load) {
				best = cand
			}
		}
		if best == nil {
			continue
		}
		load[best.ID()]++
		steps = append(steps, planner.Replicate{Replica: s.ID, Master: best.ID()})
		names = append(names, fmt.Sprintf("%s (of master %s)", m.Name, best.Name))
	}
	return steps, names
}

// orphanPrefers reports whether master a suits orphan m better than b:
// another host than m's first, then fewer replicas, then the smaller ID.
func orphanPrefers(m, a, b *Member, load map[topology.NodeID]int) bool {
	aAway, bAway := m.Host == "" || a.Host != m.Host, m.Host == "" || b.Host != m.Host
	if aAway != bAway {
		return aAway
	}
	if load[a.ID()] != load[b.ID()] {
		return load[a.ID()] < load[b.ID()]
	}
	return a.ID() < b.ID()
}

// restartStuckReplica restarts (deletes) the member of a replica whose
// replication link never came up: attached to its group's master, which
// answers, not in a sync, link down in this and the previous pass
// (Memory.StuckLinks), and the member older than StuckLinkAfter. Seen after
// all pods were deleted at once: a replica restarted with the right master
// address yet never connected (master_link_down_since_seconds -1), and
// CLUSTER REPLICATE did not revive it. Its data is its master's, so a
// restart loses nothing; it comes back and syncs. Only where the platform
// recreates members.
func restartStuckReplica(c *Cluster) (Decision, string) {
	if !c.Platform.Recreates || !c.Bootstrapped() {
		return Decision{}, ""
	}
	for _, sh := range c.Shards {
		if sh.Master == nil || !sh.Master.Live() {
			continue
		}
		for _, r := range sh.Replicas {
			m := r.Member
			rep := m.State.Replication
			if !m.Live() || rep.MasterLinkUp || rep.MasterSyncInProgress || !c.Memory.StuckLinks[m.ID()] || m.Age < StuckLinkAfter {
				continue
			}
			return Decision{
				Kind:     RestartReplica,
				Reason:   ReasonAttachingReplicas,
				Message:  fmt.Sprintf("replica pod %s never got its replication link to %s up: restarting it", m.Name, sh.Master.Name),
				Member:   m.Name,
				MemberOp: DeleteMember,
			}, ""
		}
	}
	return Decision{}, ""
}
