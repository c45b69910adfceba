package planner

import (
	"fmt"
	"math"
	"slices"

	"github.com/redkube/redkube/pkg/topology"
)

// RepairInput is everything Repair needs: the observation plus the key
// holders, which only I/O can find out.
type RepairInput struct {
	// Snapshot is the observed cluster.
	Snapshot *topology.Snapshot
	// KeyHolders maps a slot to the masters holding keys in it (CLUSTER
	// COUNTKEYSINSLOT > 0), most keys first. The caller needs to fill it
	// only for open and uncovered slots.
	KeyHolders map[int][]topology.NodeID
}

// Repair returns the plan that rcctl fix runs, in this order:
//
//   - SetSlotOwner for slots some reachable node attributes to another owner
//     than the consensus (see Agree), grouped by owner;
//   - FixOpenSlot for every slot some node has MIGRATING or IMPORTING: the
//     owner is the consensus owner, else the importing node, else the
//     migrating node; keys held elsewhere move to it;
//   - AssignSlots for uncovered slots: to the master holding keys in the
//     slot (followed by a FixOpenSlot when several hold keys), the others
//     spread over the masters with the fewest slots in contiguous runs;
//   - Forget for unreachable nodes that own no slot and that every
//     reachable node knowing them flags fail or noaddr.
func Repair(in RepairInput) Plan {
	c := Agree(in.Snapshot)
	var plan Plan
	open := openSlotsOf(in.Snapshot)
	plan.Steps = append(plan.Steps, ownerFixes(c, open)...)
	plan.Steps = append(plan.Steps, openSlotFixes(in, c, open)...)
	assign, notes := coverageFixes(in, c, open)
	plan.Steps = append(plan.Steps, assign...)
	forget, forgetNotes := forgets(in.Snapshot, c)
	plan.Steps = append(plan.Steps, forget...)
	plan.Notes = append(notes, forgetNotes...)
	return plan
}

// openSlotsOf maps each open slot to the nodes importing and migrating it.
func openSlotsOf(snap *topology.Snapshot) map[int]*openSlot {
	open := map[int]*openSlot{}
	get := func(x int) *openSlot {
		if open[x] == nil {
			open[x] = &openSlot{}
		}
		return open[x]
	}
	for _, id := range snap.IDs() {
		self := snap.Self(id)
		if self == nil {
			continue
		}
		for x := range self.Importing {
			get(x).importing = append(get(x).importing, id)
		}
		for x := range self.Migrating {
			get(x).migrating = append(get(x).migrating, id)
		}
	}
	return open
}

type openSlot struct {
	importing, migrating []topology.NodeID // sorted: snap.IDs() order
}

func slotSetOf(m map[int]*openSlot) topology.SlotSet {
	var s topology.SlotSet
	for x := range m {
		s.Add(x)
	}
	return s
}

func ownerFixes(c *Consensus, open map[int]*openSlot) []Step {
	bad := c.Disputed.Difference(slotSetOf(open))
	byOwner := map[topology.NodeID]topology.SlotSet{}
	bad.Each(func(x int) bool {
		if o := c.Owners[x]; o != "" {
			s := byOwner[o]
			s.Add(x)
			byOwner[o] = s
		}
		return true
	})
	var out []Step
	for _, id := range sortedIDs(byOwner) {
		out = append(out, SetSlotOwner{Owner: id, Slots: byOwner[id]})
	}
	return out
}

func openSlotFixes(in RepairInput, c *Consensus, open map[int]*openSlot) []Step {
	var out []Step
	for _, x := range slotSetOf(open).Slots() {
		owner := c.Owners[x]
		switch {
		case owner != "":
		case len(open[x].importing) > 0:
			owner = open[x].importing[0]
		default:
			owner = open[x].migrating[0]
		}
		out = append(out, FixOpenSlot{Slot: x, Owner: owner, MoveKeysFrom: othersThan(in.KeyHolders[x], owner)})
	}
	return out
}

func othersThan(ids []topology.NodeID, owner topology.NodeID) []topology.NodeID {
	var out []topology.NodeID
	for _, id := range ids {
		if id != owner && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

func coverageFixes(in RepairInput, c *Consensus, open map[int]*openSlot) ([]Step, []string) {
	uncovered := c.Covered().Complement().Difference(slotSetOf(open))
	if uncovered.IsEmpty() {
		return nil, nil
	}
	owners := healthyMasters(c)
	if len(owners) == 0 {
		return nil, []string{fmt.Sprintf("%d uncovered slots but no healthy master to give them to", uncovered.Count())}
	}
	var out []Step
	withKeys := map[topology.NodeID]topology.SlotSet{}
	var fixes []Step
	var empty topology.SlotSet
	uncovered.Each(func(x int) bool {
		holders := in.KeyHolders[x]
		if len(holders) == 0 {
			empty.Add(x)
			return true
		}
		s := withKeys[holders[0]]
		s.Add(x)
		withKeys[holders[0]] = s
		if rest := othersThan(holders, holders[0]); len(rest) > 0 {
			fixes = append(fixes, FixOpenSlot{Slot: x, Owner: holders[0], MoveKeysFrom: rest})
		}
		return true
	})
	for _, id := range sortedIDs(withKeys) {
		out = append(out, AssignSlots{Node: id, Slots: withKeys[id]})
		owners[id] = owners[id].Union(withKeys[id])
	}
	out = append(out, spreadSlots(owners, empty)...)
	return append(out, fixes...), nil
}

// healthyMasters returns the agreed masters not flagged failing.
func healthyMasters(c *Consensus) Ownership {
	o := Ownership{}
	for _, n := range c.View.Masters() {
		if !n.Failing() && !n.Flags.Has(topology.FlagNoAddr) {
			o[n.ID] = n.Slots
		}
	}
	return o
}

// spreadSlots gives slots to the masters with the fewest slots, levelling
// them as far as the slots reach, each master getting one contiguous run
// of the slots in ascending order.
func spreadSlots(o Ownership, slots topology.SlotSet) []Step {
	if slots.IsEmpty() {
		return nil
	}
	ids := o.IDs()
	slices.SortStableFunc(ids, func(a, b topology.NodeID) int { return o[a].Count() - o[b].Count() })
	counts := make([]int, len(ids))
	for i, id := range ids {
		counts[i] = o[id].Count()
	}
	shares := waterFill(counts, slots.Count())
	var out []Step
	left := slots
	for i, id := range ids {
		if shares[i] == 0 {
			continue
		}
		take := left.TakeLowest(shares[i])
		left = left.Difference(take)
		out = append(out, AssignSlots{Node: id, Slots: take})
	}
	return out
}

// waterFill splits n among buckets holding counts (ascending) so that the
// smallest end levels are as high as possible; leftovers go to the first
// buckets.
func waterFill(counts []int, n int) []int {
	shares := make([]int, len(counts))
	level := counts[0]
	k := 1 // buckets at the current level
	for n > 0 {
		for k < len(counts) && counts[k] <= level {
			k++
		}
		next := math.MaxInt
		if k < len(counts) {
			next = counts[k]
		}
		step := min(next-level, n/k)
		if step == 0 {
			for i := 0; i < n; i++ {
				shares[i]++
			}
			return shares
		}
		for i := range k {
			shares[i] += step
		}
		n -= step * k
		level += step
	}
	return shares
}

// forgets returns Forget steps for nodes that are gone: unreachable, owning
// no slot by consensus, and flagged fail (or noaddr) by every reachable
// node that knows them.
func forgets(snap *topology.Snapshot, c *Consensus) ([]Step, []string) {
	var out []Step
	var notes []string
	for _, n := range c.View.Nodes {
		if snap.Nodes[n.ID] != nil || !goneEverywhere(snap, n.ID) {
			continue
		}
		if !n.Slots.IsEmpty() {
			notes = append(notes, fmt.Sprintf("failed master %s still owns %d slots; fail over to a replica or reassign them before it can be forgotten", n.ID.Short(), n.Slots.Count()))
			continue
		}
		out = append(out, Forget{Node: n.ID})
	}
	return out, notes
}

func goneEverywhere(snap *topology.Snapshot, id topology.NodeID) bool {
	known := false
	for _, rid := range snap.IDs() {
		view := snap.Nodes[rid].View
		if view == nil {
			continue
		}
		line := view.Node(id)
		if line == nil {
			continue
		}
		known = true
		if line.Flags&(topology.FlagFail|topology.FlagNoAddr) == 0 {
			return false
		}
	}
	return known
}
