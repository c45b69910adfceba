package planner

import (
	"fmt"
	"strings"

	"github.com/redkube/redkube/pkg/topology"
)

// Plan is an ordered list of steps. Steps that touch disjoint node pairs may
// be run in parallel by the executor; otherwise order is significant.
type Plan struct {
	// Steps in execution order.
	Steps []Step
	// Notes explain decisions the planner made that the user should know
	// about (for example, a placement rule that could not be honoured).
	Notes []string
}

// Empty reports whether the plan has nothing to do.
func (p Plan) Empty() bool { return len(p.Steps) == 0 }

// MigratedSlots counts the slots the plan's MigrateSlots steps move.
func (p Plan) MigratedSlots() int {
	n := 0
	for _, st := range p.Steps {
		if m, ok := st.(MigrateSlots); ok {
			n += m.Slots.Count()
		}
	}
	return n
}

// String renders the plan one step per line, for --dry-run output.
func (p Plan) String() string {
	var b strings.Builder
	for i, s := range p.Steps {
		fmt.Fprintf(&b, "%3d. %s\n", i+1, s)
	}
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	return b.String()
}

// Step is one action of a plan. The concrete types below are the only
// implementations; executors switch on them.
type Step interface {
	// String describes the step for humans.
	String() string
	isStep()
}

// SetConfigEpoch gives a fresh node a distinct config epoch before the
// cluster is formed (CLUSTER SET-CONFIG-EPOCH), so that slot ownership
// conflicts cannot arise between freshly created masters.
type SetConfigEpoch struct {
	Node  topology.NodeID
	Epoch uint64
}

// AssignSlots makes Node serve Slots that no node serves yet
// (CLUSTER ADDSLOTSRANGE).
type AssignSlots struct {
	Node  topology.NodeID
	Slots topology.SlotSet
}

// Meet introduces Peer to Node (CLUSTER MEET sent to Node with Peer's
// address). PeerAddr is Peer's "host:port" when the planner knows it.
type Meet struct {
	Node     topology.NodeID
	Peer     topology.NodeID
	PeerAddr string
}

// Replicate makes Replica a replica of Master (CLUSTER REPLICATE).
type Replicate struct {
	Replica topology.NodeID
	Master  topology.NodeID
}

// MigrateSlots moves Slots, with their keys, from Source to Target using the
// SETSLOT IMPORTING/MIGRATING + MIGRATE + SETSLOT NODE protocol.
type MigrateSlots struct {
	Source topology.NodeID
	Target topology.NodeID
	Slots  topology.SlotSet
}

// FixOpenSlot closes a slot left MIGRATING/IMPORTING: keys still held by the
// nodes in MoveKeysFrom are migrated to Owner, then every node is told that
// Owner serves the slot.
type FixOpenSlot struct {
	Slot         int
	Owner        topology.NodeID
	MoveKeysFrom []topology.NodeID
}

// SetSlotOwner tells every node that Owner serves Slots, for slots whose
// ownership the nodes disagree about or that an owner lost track of
// (CLUSTER SETSLOT NODE on each node, then CLUSTER BUMPEPOCH on Owner so its
// claim wins).
type SetSlotOwner struct {
	Owner topology.NodeID
	Slots topology.SlotSet
}

// Forget removes Node from every other node's table (CLUSTER FORGET).
type Forget struct {
	Node topology.NodeID
}

// Announce makes Node announce Endpoint (CONFIG SET cluster-announce-ip,
// -port, -bus-port and -hostname, applied at once): where clients are
// redirected and where its peers reach its bus and replication port.
type Announce struct {
	Node     topology.NodeID
	Endpoint topology.Endpoint
}

// ResetNode wipes a node that left the cluster (CLUSTER RESET), so it can
// be reused.
type ResetNode struct {
	Node topology.NodeID
	Hard bool
}

// FailoverMode selects how a replica takes over from its master.
type FailoverMode int

const (
	// FailoverGraceful is CLUSTER FAILOVER: the master stops writes, the
	// replica catches up, then the roles switch. No acknowledged write is lost.
	FailoverGraceful FailoverMode = iota
	// FailoverForce is CLUSTER FAILOVER FORCE: no handshake with the master,
	// but the other masters still vote. Used when the master is down.
	FailoverForce
	// FailoverTakeover is CLUSTER FAILOVER TAKEOVER: no vote at all. Only on
	// explicit request.
	FailoverTakeover
)

func (m FailoverMode) String() string {
	switch m {
	case FailoverForce:
		return "force"
	case FailoverTakeover:
		return "takeover"
	default:
		return "graceful"
	}
}

// Failover promotes Replica to master of its shard.
type Failover struct {
	Replica topology.NodeID
	Mode    FailoverMode
}

func (SetConfigEpoch) isStep() {}
func (AssignSlots) isStep()    {}
func (Meet) isStep()           {}
func (Replicate) isStep()      {}
func (MigrateSlots) isStep()   {}
func (FixOpenSlot) isStep()    {}
func (SetSlotOwner) isStep()   {}
func (Forget) isStep()         {}
func (ResetNode) isStep()      {}
func (Announce) isStep()       {}
func (Failover) isStep()       {}

func (s SetConfigEpoch) String() string {
	return fmt.Sprintf("set config epoch of %s to %d", s.Node.Short(), s.Epoch)
}

func (s AssignSlots) String() string {
	return fmt.Sprintf("assign %d slots [%s] to %s", s.Slots.Count(), s.Slots, s.Node.Short())
}

func (s Meet) String() string {
	return fmt.Sprintf("introduce %s to %s", s.Peer.Short(), s.Node.Short())
}

func (s Replicate) String() string {
	return fmt.Sprintf("make %s a replica of %s", s.Replica.Short(), s.Master.Short())
}

func (s MigrateSlots) String() string {
	return fmt.Sprintf("move %d slots [%s] from %s to %s", s.Slots.Count(), s.Slots, s.Source.Short(), s.Target.Short())
}

func (s FixOpenSlot) String() string {
	return fmt.Sprintf("close open slot %d on owner %s", s.Slot, s.Owner.Short())
}

func (s SetSlotOwner) String() string {
	return fmt.Sprintf("set owner of %d slots [%s] to %s on every node", s.Slots.Count(), s.Slots, s.Owner.Short())
}

func (s Forget) String() string { return fmt.Sprintf("forget %s on every node", s.Node.Short()) }

func (s Announce) String() string {
	e := s.Endpoint
	out := fmt.Sprintf("make %s announce %s (bus port %d)", s.Node.Short(), e.Addr(), e.BusPort)
	if e.Hostname != "" {
		out += " with hostname " + e.Hostname
	}
	return out
}

func (s ResetNode) String() string {
	kind := "soft"
	if s.Hard {
		kind = "hard"
	}
	return fmt.Sprintf("%s-reset %s", kind, s.Node.Short())
}

func (s Failover) String() string {
	return fmt.Sprintf("fail over to %s (%s)", s.Replica.Short(), s.Mode)
}
