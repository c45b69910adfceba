package heal

import (
	"fmt"
	"sort"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// Cluster is an Observation with what the rules share derived from it once:
// the consensus, each node's slots, and the shards. Derive builds it;
// nothing changes it afterwards.
type Cluster struct {
	Observation
	// Cons is the consensus of the answering nodes (nil without Snap).
	Cons *planner.Consensus
	// Shards are the groups 0..Spec.Masters-1 with their masters and
	// replicas.
	Shards []Shard
	// owned is the consensus's slots per node.
	owned map[topology.NodeID]topology.SlotSet
	// byID maps an answering member's node ID to the member.
	byID map[topology.NodeID]*Member
}

// Shard is one group as observed: its master and the replicas following it.
type Shard struct {
	Index int
	// Master is the member serving the shard's slots, or its designated
	// empty master (see designatedMaster); nil when none answers.
	Master *Member
	// MasterID is the master's node ID, also when its member is gone.
	MasterID topology.NodeID
	// Slots are the slots the master serves by consensus.
	Slots topology.SlotSet
	// Replicas follow MasterID, sorted by name.
	Replicas []Replica
}

// Replica is one replica and its sync state.
type Replica struct {
	Member *Member
	LinkUp bool
	// InSync: link up, not syncing, within planner.CaughtUpLag of the
	// master; when the master is silent, as the previous pass saw it.
	InSync bool
}

// Derive computes the shared derivations of o. The members are used in the
// order given.
func Derive(o Observation) *Cluster {
	c := &Cluster{Observation: o, owned: map[topology.NodeID]topology.SlotSet{}, byID: map[topology.NodeID]*Member{}}
	if c.Memory.LastInSync == nil {
		c.Memory.LastInSync = map[topology.NodeID]bool{}
	}
	if c.ForgetAfter == 0 {
		c.ForgetAfter = DefaultForgetAfter
	}
	for i := range c.Members {
		if m := &c.Members[i]; m.State != nil {
			if id := m.ID(); id != "" {
				c.byID[id] = m
			}
		}
	}
	if o.Snap != nil {
		c.Cons = planner.Agree(o.Snap)
		// The consensus's lines carry the agreed slots (a slot set is
		// 2 KiB: filling one per slot through a map took most of a pass).
		for _, n := range c.Cons.View.Nodes {
			if !n.Slots.IsEmpty() {
				c.owned[n.ID] = n.Slots
			}
		}
	}
	c.Shards = c.deriveShards()
	return c
}

// Expected is the number of members the spec asks for.
func (c *Cluster) Expected() int { return c.Spec.Masters * (1 + c.Spec.ReplicasPerMaster) }

// Member returns the answering member whose node has id, or nil.
func (c *Cluster) Member(id topology.NodeID) *Member { return c.byID[id] }

// OwnedBy returns the slots the consensus gives to id.
func (c *Cluster) OwnedBy(id topology.NodeID) topology.SlotSet { return c.owned[id] }

// Owns reports whether the consensus gives id any slot.
func (c *Cluster) Owns(id topology.NodeID) bool { return !c.owned[id].IsEmpty() }

// Retiring reports whether the member belongs to a group the spec no longer
// includes.
func (c *Cluster) Retiring(m *Member) bool { return c.Spec.Declared && m.Group >= c.Spec.Masters }

// wanted reports whether the member is one the spec asks for.
func (c *Cluster) wanted(m *Member) bool {
	return m.Group >= 0 && m.Group < c.Spec.Masters && m.Ordinal <= c.Spec.ReplicasPerMaster
}

// MembersComplete reports whether every member the spec asks for exists,
// is Ready, not being deleted, and answers.
func (c *Cluster) MembersComplete() bool {
	n := 0
	for i := range c.Members {
		m := &c.Members[i]
		if !c.wanted(m) {
			continue
		}
		if !m.Ready || !m.Live() {
			return false
		}
		n++
	}
	return n == c.Expected()
}

// Bootstrapped reports whether the cluster was created: some node serves
// slots, other than a restore's pre-bootstrap claim (see StartedAlone).
func (c *Cluster) Bootstrapped() bool {
	for id := range c.owned {
		if m := c.Member(id); m == nil || !c.StartedAlone(m) {
			return true
		}
	}
	for i := range c.Members {
		if m := &c.Members[i]; m.ServingMaster() && !c.StartedAlone(m) {
			return true
		}
	}
	return false
}

// StartedAlone reports whether, in a same-layout restore
// (Spec.RestoreShards), m's node is a master that knows no other node: it
// may serve the slots of the keys it started with, but that is a claim
// made at start, not a cluster. Once the cluster is formed every node
// knows the others (nodes.conf keeps them across restarts).
func (c *Cluster) StartedAlone(m *Member) bool {
	if len(c.Spec.RestoreShards) == 0 {
		return false
	}
	s := m.Self()
	return s != nil && s.IsMaster() && len(m.State.View.Nodes) == 1
}

// SlotsClosed reports whether no answering member has a slot MIGRATING or
// IMPORTING.
func (c *Cluster) SlotsClosed() bool {
	for i := range c.Members {
		if c.Members[i].OpenSlots() {
			return false
		}
	}
	return true
}

// Covered reports whether the consensus gives every slot an owner.
func (c *Cluster) Covered() bool { return c.Cons != nil && c.Cons.Covered().IsFull() }

// LinksClosed reports whether the master id has live replicas and every
// one of them reports its replication link down. A replica sees the link
// drop at once when the master's process exits (the kernel closes its
// sockets), but only after repl-timeout (60 s by default) when the master
// is cut off by the network, by which time a master on the minority side
// has long stopped taking writes (cluster-node-timeout). With the member
// gone from the platform and the address silent, that is the positive sign
// that no client can still be writing to the master.
func (c *Cluster) LinksClosed(id topology.NodeID) bool {
	reps := ReplicasOf(c.Members, id)
	for _, r := range reps {
		if r.State.Replication.MasterLinkUp {
			return false
		}
	}
	return len(reps) > 0
}

// SlotsOnRetiring reports whether a node of a retiring group owns slots, or
// a slot owner does not answer (it may be one): the retiring groups are not
// drained yet.
func (c *Cluster) SlotsOnRetiring() bool {
	for id := range c.owned {
		m := c.Member(id)
		if m == nil || c.Retiring(m) {
			return true
		}
	}
	return false
}

// RetiringLeft reports whether anything of a retiring group is left: a
// member or a group on the platform.
func (c *Cluster) RetiringLeft() bool {
	if len(c.RetiringGroups) > 0 {
		return true
	}
	for i := range c.Members {
		if c.Retiring(&c.Members[i]) {
			return true
		}
	}
	return false
}

// Outdated counts the members of wanted groups that run an older template,
// and all members of those groups.
func (c *Cluster) Outdated() (old, all int) {
	for i := range c.Members {
		m := &c.Members[i]
		if c.Retiring(m) {
			continue
		}
		all++
		if m.Outdated {
			old++
		}
	}
	return old, all
}

// ReplicasInSync reports whether every shard has at least
// Spec.ReplicasPerMaster replicas in sync, and if not, a message naming the
// first shard that lacks.
func (c *Cluster) ReplicasInSync() (bool, string) {
	for _, sh := range c.Shards {
		n := 0
		for _, r := range sh.Replicas {
			if r.InSync {
				n++
			}
		}
		if n < c.Spec.ReplicasPerMaster {
			return false, fmt.Sprintf("shard %d has %d of %d replicas in sync", sh.Index, n, c.Spec.ReplicasPerMaster)
		}
	}
	return true, ""
}

// ShardMaster returns the master of group and how many of its members
// serve slots as masters. With none serving, a new group (spec.masters
// raised) or a group whose every node lost its data gets a designated
// master: its lowest-ordinal live member that is a master without slots,
// provided no member of the group follows a master that still owns slots
// (a master that is merely restarting keeps its group, and Redis may
// promote its replica). The attach rule makes the group's other members its
// replicas and the reshard rule gives it slots.
func (c *Cluster) ShardMaster(group int) (*Member, int) {
	var master *Member
	serving := 0
	for i := range c.Members {
		m := &c.Members[i]
		if m.Group == group && m.Live() && m.ServingMaster() {
			master = m
			serving++
		}
	}
	if serving > 0 {
		return master, serving
	}
	for i := range c.Members {
		m := &c.Members[i]
		if m.Group != group || !m.Live() {
			continue
		}
		s := m.Self()
		if s.IsReplica() && c.Owns(s.MasterID) {
			return nil, 0
		}
		if master == nil && s.IsMaster() && s.Slots.IsEmpty() && !c.Owns(s.ID) {
			master = m
		}
	}
	return master, 0
}

// deriveShards returns the shards by index. A shard's master is the member
// of the group that serves slots (one not being deleted first); when none
// answers, the consensus master that a member of the group follows.
func (c *Cluster) deriveShards() []Shard {
	out := make([]Shard, c.Spec.Masters)
	for i := range out {
		sh := &out[i]
		sh.Index = i
		sh.Master = c.servingMember(i)
		if sh.Master == nil {
			sh.Master, _ = c.ShardMaster(i)
		}
		sh.MasterID = c.followedMaster(i, sh.Master)
		if sh.MasterID == "" {
			continue
		}
		sh.Slots = c.OwnedBy(sh.MasterID)
		sh.Replicas = c.replicasOf(sh)
	}
	return out
}

// servingMember returns the group's member serving slots, preferring one
// that is not being deleted.
func (c *Cluster) servingMember(group int) *Member {
	var terminating *Member
	for i := range c.Members {
		m := &c.Members[i]
		if m.Group != group || !m.ServingMaster() {
			continue
		}
		if !m.Terminating {
			return m
		}
		if terminating == nil {
			terminating = m
		}
	}
	return terminating
}

// followedMaster returns the shard's master ID: master's, or, when no
// member is the master, the slot owner a member of the group follows.
func (c *Cluster) followedMaster(group int, master *Member) topology.NodeID {
	if master != nil {
		return master.ID()
	}
	for i := range c.Members {
		m := &c.Members[i]
		if s := m.Self(); m.Group == group && s != nil && s.IsReplica() && c.Owns(s.MasterID) {
			return s.MasterID
		}
	}
	return ""
}

// replicasOf returns the members replicating sh.MasterID with their sync
// state.
func (c *Cluster) replicasOf(sh *Shard) []Replica {
	var masterRepl *topology.Replication
	if sh.Master != nil {
		masterRepl = &sh.Master.State.Replication
	}
	var out []Replica
	for i := range c.Members {
		m := &c.Members[i]
		s := m.Self()
		if s == nil || !s.IsReplica() || s.MasterID != sh.MasterID {
			continue
		}
		r := Replica{Member: m, LinkUp: m.State.Replication.MasterLinkUp}
		switch {
		case m.Terminating:
		case masterRepl != nil:
			r.InSync, _ = planner.PromotionSafeWithin(*masterRepl, planner.ReplicaStatus{ID: s.ID, Replication: m.State.Replication}, planner.CaughtUpLag)
		default:
			// The master is silent: offsets cannot be compared, and a
			// replica takes no writes of its own, so it stays as in sync
			// as it was when the master was last seen (the memory the
			// forced failover relies on, pass after pass).
			r.InSync = c.Memory.LastInSync[s.ID] && !m.State.Replication.MasterSyncInProgress
		}
		out = append(out, r)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Member.Name < out[b].Member.Name })
	return out
}
