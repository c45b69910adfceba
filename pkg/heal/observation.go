package heal

import (
	"net"
	"time"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// StuckLinkAfter is how long replicas may be out of sync, and a replica's
// member must have lived, before a replica whose link stays down (not in a
// sync) is restarted (the stuck-replica rule). The out-of-sync clock starts
// before a new replica is even attached, and a healthy new replica then
// waits repl-diskless-sync-delay (5 s) with its link down and no sync in
// progress: at 10 s the benchmark saw fresh replicas restarted during
// create (bench/operator.sh, 2026-11-25). 30 s clears that with margin and
// still heals the stuck link this exists for (seen lasting minutes).
const StuckLinkAfter = 30 * time.Second

// DefaultForgetAfter is how long a node flagged fail must have been silent
// before it is forgotten where the member list is not authoritative.
const DefaultForgetAfter = 60 * time.Second

// Observation is what one pass gathered, as plain data.
type Observation struct {
	// Spec is the declared shape; Spec.Declared is false for a cluster
	// nobody declared (rcctl heal), where no rule creates, reshards or
	// removes shards.
	Spec Spec
	// Platform says what the world around the nodes can do.
	Platform Platform
	// Members are the nodes the cluster holds, sorted by group then
	// ordinal.
	Members []Member
	// Snap is the Redis observation; nil when no node answered.
	Snap *topology.Snapshot
	// KeyHolders lists, for open and uncovered slots only, the masters
	// holding keys in them (for planner.Repair).
	KeyHolders map[int][]topology.NodeID
	// Probes holds, for the masters ProbeTargets named, what a probe of
	// their address found.
	Probes map[topology.NodeID]Probe
	// Hosts are the hosts members can run on (for Kubernetes: Ready,
	// schedulable nodes matching the placement).
	Hosts []string
	// RetiringGroups are the groups >= Spec.Masters that still exist on
	// the platform (their StatefulSets, after spec.masters was lowered).
	RetiringGroups []int
	// GroupsPending is set while the platform has not yet caught up with
	// a new member template: which members are outdated is not known.
	GroupsPending bool
	// Memory is what the previous pass recorded.
	Memory Memory
	// Now is the time of the observation (Redis's pong times are compared
	// with it).
	Now time.Time
	// ForgetAfter is how long a node flagged fail must have been silent
	// before it is forgotten where the member list is not authoritative
	// (0: DefaultForgetAfter).
	ForgetAfter time.Duration
}

// Spec is the declared shape of the cluster.
type Spec struct {
	// Declared is false when nobody declared a shape: the groups were
	// derived from the cluster as found (see Unmanaged).
	Declared bool
	// Masters is the number of groups (shards) wanted.
	Masters int
	// ReplicasPerMaster is the number of replicas wanted per master.
	ReplicasPerMaster int
	// ReshardingPaused holds the slot moves of a change of Masters (the
	// reshard rule reports what it would move and waits).
	ReshardingPaused bool
	// RestoreShards are, in a same-layout restore that has not finished,
	// the slots of each backup shard: group i's member of ordinal 0
	// started on shard i's RDB and claimed the slots its keys are in. Until
	// the cluster is formed such claims are no cluster (Bootstrapped
	// ignores them) and the bootstrap-from-shards rule creates the cluster
	// around them. Nil for any other cluster.
	RestoreShards []topology.SlotSet
}

// Platform says what the world around the Redis nodes can do.
type Platform struct {
	// Recreates is set when a deleted member is recreated by the platform
	// (a StatefulSet does it), possibly elsewhere when its storage is
	// deleted too: the rules may then restart or move members.
	Recreates bool
	// AuthoritativeMembers is set when Members lists every node the
	// cluster should hold: a node outside them is a stranger to forget.
	AuthoritativeMembers bool
}

// Memory is what the previous pass recorded, an explicit input: the rules
// never read an old status.
type Memory struct {
	// LastInSync are the replicas the previous pass saw in sync: once a
	// master is gone, offsets cannot be compared, and this is what the
	// forced failover relies on.
	LastInSync map[topology.NodeID]bool
	// StuckLinks are replicas whose link to their master was already down
	// in the previous pass, while replicas have been out of sync for at
	// least StuckLinkAfter.
	StuckLinks map[topology.NodeID]bool
	// WasReady is the previous pass's verdict: the optional moves
	// (placement, master spread) wait for one calm pass after any change.
	WasReady bool
	// Resharding is set while a change of Spec.Masters has not finished.
	Resharding bool
}

// Member is one node the cluster should hold, as the platform and Redis
// report it.
type Member struct {
	// Name names the member for people (a pod name, or an address).
	Name string
	// Group is the member's shard; -1 when it belongs to none yet (a node
	// found empty by rcctl heal).
	Group int
	// Ordinal orders the members of a group (a StatefulSet's ordinal).
	Ordinal int
	// Addr is the member's Redis address, "" before it has one.
	Addr string
	// Host and Zone locate the member; "" when unknown.
	Host, Zone string
	// Ready is set when the platform reports the member ready.
	Ready bool
	// Terminating is set once the member is being deleted.
	Terminating bool
	// HostDown is set when the platform reports the member's host down
	// (Kubernetes: its Node not Ready, its kubelet silent): the member
	// still holds its address, but that no longer shows a process behind
	// it, so a silent master there is probed like one whose pod is gone.
	HostDown bool
	// Outdated is set when the member runs an older template (image,
	// resources, configuration) than the platform wants.
	Outdated bool
	// Age is the time since the member was created.
	Age time.Duration
	// Announce is the endpoint the member's node should announce (its
	// external endpoint, its hostname); nil when the platform has no wish,
	// or does not know it yet (a load balancer without an address).
	Announce *topology.Endpoint
	// State is what the Redis node at Addr reported; nil when it did not
	// answer.
	State *topology.NodeState
}

// Probe is what a probe of a silent master's address found.
type Probe struct {
	// Gone is true when the address refused the connection, no host
	// answered for it, or another node answers there: no process can be
	// serving that master at that address.
	Gone bool
	// Reached is true when the master's own process accepted the
	// connection: it is alive at its address.
	Reached bool
	// Detail says what the probe saw.
	Detail string
}

// IP returns the host part of the member's address.
func (m *Member) IP() string {
	host, _, err := net.SplitHostPort(m.Addr)
	if err != nil {
		return ""
	}
	return host
}

// PeerIP is the IP the member's peers should list for it: the IP it is to
// announce, else the host of its address.
func (m *Member) PeerIP() string {
	if m.Announce != nil {
		return m.Announce.IP
	}
	return m.IP()
}

// Self returns the node's own line, or nil when it did not answer.
func (m *Member) Self() *topology.Node {
	if m.State == nil || m.State.View == nil {
		return nil
	}
	return m.State.View.Myself()
}

// ID returns the node ID the member's Redis reported ("" when it did not
// answer).
func (m *Member) ID() topology.NodeID {
	if s := m.Self(); s != nil {
		return s.ID
	}
	return ""
}

// Live reports whether the member answers and is not being deleted.
func (m *Member) Live() bool { return m.State != nil && !m.Terminating && m.Self() != nil }

// ServingMaster reports whether the member's node is a master serving slots
// in its own view.
func (m *Member) ServingMaster() bool {
	s := m.Self()
	return s != nil && s.IsMaster() && !s.Slots.IsEmpty()
}

// OpenSlots reports whether the member's node has a slot MIGRATING or
// IMPORTING.
func (m *Member) OpenSlots() bool {
	s := m.Self()
	return s != nil && (len(s.Migrating) > 0 || len(s.Importing) > 0)
}

// liveAddresses returns the IPs of the members that are not being deleted,
// and the endpoints they are to announce.
func liveAddresses(members []Member) (ips, announced map[string]bool) {
	ips, announced = map[string]bool{}, map[string]bool{}
	for i := range members {
		if m := &members[i]; m.Addr != "" && !m.Terminating && !m.HostDown {
			ips[m.IP()] = true
			if m.Announce != nil {
				announced[m.Announce.Addr()] = true
			}
		}
	}
	return ips, announced
}

// Target is a silent master to probe.
type Target struct {
	ID   topology.NodeID
	Addr string
}

// ProbeTargets returns the masters to probe in the second round of a
// gather: masters that some answering node lists with slots, that did not
// answer themselves, and whose address no live (not terminating) member
// holds. A master whose member is live is not probed: the platform does not
// know its process is gone, so Redis's own failover decides. The forced
// failover rule acts only on masters probed this way.
func ProbeTargets(members []Member, snap *topology.Snapshot) []Target {
	if snap == nil {
		return nil
	}
	liveIP, liveAnnounced := liveAddresses(members)
	seen := map[topology.NodeID]bool{}
	var out []Target
	for _, rid := range snap.IDs() {
		v := snap.Nodes[rid].View
		if v == nil {
			continue
		}
		for _, n := range v.Nodes {
			if _, answered := snap.Nodes[n.ID]; answered || seen[n.ID] || !n.IsMaster() || n.Slots.IsEmpty() {
				continue
			}
			if n.Host() == "" || liveIP[n.Host()] || liveAnnounced[n.Addr] {
				continue
			}
			seen[n.ID] = true
			out = append(out, Target{ID: n.ID, Addr: n.Addr})
		}
	}
	return out
}

// ReplicasOf returns the live members that replicate master id: whose
// replication state a gather re-reads after a probe of id went unanswered
// (a replica's link closes the moment the master's process exits).
func ReplicasOf(members []Member, id topology.NodeID) []*Member {
	var out []*Member
	for i := range members {
		m := &members[i]
		if s := m.Self(); m.Live() && s.IsReplica() && s.MasterID == id {
			out = append(out, m)
		}
	}
	return out
}

// SlotsToInspect returns the slots whose key holders a gather must find
// for the repair rule (KeyHolders): those no node owns by consensus and
// those some node has open. It is empty before the cluster exists.
func SlotsToInspect(snap *topology.Snapshot) topology.SlotSet {
	if snap == nil {
		return topology.SlotSet{}
	}
	covered := planner.Agree(snap).Covered()
	if covered.IsEmpty() {
		return topology.SlotSet{}
	}
	return covered.Complement().Union(snap.OpenSlots())
}
