package planner

import (
	"slices"

	"github.com/redkube/redkube/pkg/topology"
)

// Consensus is the topology the reachable nodes agree on, merged from every
// node's own view the way Redis Cluster itself resolves conflicts.
type Consensus struct {
	// View has one line per known node (handshake lines left out). A
	// reachable node's line is its own; an unreachable node's line is the
	// one reported with the highest config epoch. Slots are the agreed
	// owners below, and no line carries the myself flag.
	View *topology.View
	// Owners is the agreed owner of each slot, "" when no node claims it.
	Owners [topology.SlotCount]topology.NodeID
	// Disputed holds the slots that some reachable node attributes to a
	// different owner than the agreed one (or to none).
	Disputed topology.SlotSet
}

// claim is a node's claim to a slot at its config epoch.
type claim struct {
	node  topology.NodeID
	epoch uint64
}

// better reports whether c wins over d: the higher config epoch wins, as
// in Redis; equal epochs (a collision Redis resolves by bumping one of
// them) go to the smaller node ID so the result is deterministic.
func (c claim) better(d claim) bool {
	if c.epoch != d.epoch {
		return c.epoch > d.epoch
	}
	return c.node < d.node
}

// Agree merges every reachable node's view in snap into one Consensus.
//
// Slot ownership follows the rule Redis applies to gossip: a node claims
// slots for itself, stamped with its config epoch, and the claim with the
// highest epoch wins. The claims of reachable nodes are read from their own
// lines; the claims of unreachable nodes from the line the reachable nodes
// report for them with the highest epoch. A bystander's belief that some
// other reachable node owns a slot is not a claim (Redis does not keep such
// a belief once the owner's heartbeats say otherwise), so it shows up only
// in Disputed.
func Agree(snap *topology.Snapshot) *Consensus {
	lines := mergedLines(snap)
	c := &Consensus{View: &topology.View{}}
	var best [topology.SlotCount]claim
	for _, id := range sortedIDs(lines) {
		n := lines[id]
		collectClaims(&best, n)
		n = n.Clone()
		n.Flags &^= topology.FlagMyself
		n.Slots = topology.SlotSet{}
		c.View.Nodes = append(c.View.Nodes, n)
	}
	byID := make(map[topology.NodeID]*topology.Node, len(c.View.Nodes))
	for _, n := range c.View.Nodes {
		byID[n.ID] = n
	}
	var owner *topology.Node
	for i, cl := range best {
		c.Owners[i] = cl.node
		if cl.node == "" {
			continue
		}
		if owner == nil || owner.ID != cl.node {
			owner = byID[cl.node] // owners come in runs of slots
		}
		owner.Slots.Add(i)
	}
	c.Disputed = disputed(snap, c)
	return c
}

// mergedLines picks one line per known node (handshake lines left out).
func mergedLines(snap *topology.Snapshot) map[topology.NodeID]*topology.Node {
	lines := map[topology.NodeID]*topology.Node{}
	for _, rid := range snap.IDs() {
		view := snap.Nodes[rid].View
		if view == nil {
			continue
		}
		for _, n := range view.Nodes {
			if n.Flags.Has(topology.FlagHandshake) {
				continue
			}
			if preferLine(lines[n.ID], n) {
				lines[n.ID] = n
			}
		}
	}
	return lines
}

// preferLine reports whether line n describes its node better than prev: a
// node's own line always wins, otherwise the higher config epoch.
func preferLine(prev, n *topology.Node) bool {
	switch {
	case prev == nil || n.IsMyself():
		return true
	case prev.IsMyself():
		return false
	default:
		return n.ConfigEpoch > prev.ConfigEpoch
	}
}

func collectClaims(best *[topology.SlotCount]claim, n *topology.Node) {
	cl := claim{node: n.ID, epoch: n.ConfigEpoch}
	n.Slots.Each(func(x int) bool {
		if best[x].node == "" || cl.better(best[x]) {
			best[x] = cl
		}
		return true
	})
}

func disputed(snap *topology.Snapshot, c *Consensus) topology.SlotSet {
	agreed := c.slotsByNode()
	var d topology.SlotSet
	for _, id := range snap.IDs() {
		view := snap.Nodes[id].View
		if view == nil {
			continue
		}
		d = d.Union(disagreementWith(view, agreed))
	}
	return d
}

// slotsByNode returns the agreed slots of every node of the consensus.
func (c *Consensus) slotsByNode() map[topology.NodeID]topology.SlotSet {
	m := make(map[topology.NodeID]topology.SlotSet, len(c.View.Nodes))
	for _, n := range c.View.Nodes {
		m[n.ID] = n.Slots
	}
	return m
}

// disagreement returns the slots whose owner in view differs from the
// consensus's.
func disagreement(view *topology.View, c *Consensus) topology.SlotSet {
	return disagreementWith(view, c.slotsByNode())
}

// disagreementWith works on slot sets, not per-slot owner arrays (a
// 16384-entry array per view was most of the operator's allocations): a
// slot is disputed when a line of view claims it for a node the consensus
// does not give it to, when the consensus gives it to a node whose line in
// view does not claim it, or when the consensus gives it to a node view
// does not list.
func disagreementWith(view *topology.View, agreed map[topology.NodeID]topology.SlotSet) topology.SlotSet {
	var d topology.SlotSet
	listed := make(map[topology.NodeID]bool, len(view.Nodes))
	for _, n := range view.Nodes {
		listed[n.ID] = true
		a := agreed[n.ID]
		d = d.Union(n.Slots.Difference(a)).Union(a.Difference(n.Slots))
	}
	for id, a := range agreed {
		if !listed[id] {
			d = d.Union(a)
		}
	}
	return d
}

// Ownership returns the agreed masters (not flagged fail, with or without
// slots) and their slots.
func (c *Consensus) Ownership() Ownership { return OwnershipOf(c.View) }

// Covered returns the slots some node owns by consensus.
func (c *Consensus) Covered() topology.SlotSet { return c.View.Covered() }

func sortedIDs[V any](m map[topology.NodeID]V) []topology.NodeID {
	ids := make([]topology.NodeID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
