package planner

import (
	"fmt"
	"maps"
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
//   - AssignSlots for uncovered slots: an open one to the node that will
//     own it (below), one with keys to the master holding most of them,
//     the others spread over the masters with the fewest slots in
//     contiguous runs. Coverage comes first because, with the default
//     cluster-require-full-coverage, no node moves a key (MIGRATE answers
//     CLUSTERDOWN) while any slot is uncovered;
//   - FixOpenSlot for every slot some node has MIGRATING or IMPORTING, those
//     with no key to move first (see openSlotFixes). The
//     owner is the node the slot was being moved to when the move is
//     consistent (the consensus owner has it MIGRATING to a node that has
//     it IMPORTING from the owner, and no other node has it open): the move
//     is finished, as redis-cli --cluster fix does, so keys that already
//     left stay where they are. Otherwise the owner is the consensus owner,
//     else the importing node, else the migrating node. Keys held elsewhere
//     move to the owner;
//   - FixOpenSlot for uncovered slots whose keys several masters hold;
//   - Forget for unreachable nodes that own no slot and that every
//     reachable node knowing them flags fail or noaddr.
func Repair(in RepairInput) Plan {
	c := Agree(in.Snapshot)
	var plan Plan
	open := openSlotsOf(in.Snapshot)
	owners := openSlotOwners(c, open)
	plan.Steps = append(plan.Steps, ownerFixes(c, open)...)
	assign, keyFixes, notes := coverageFixes(in, c, owners)
	plan.Steps = append(plan.Steps, assign...)
	plan.Steps = append(plan.Steps, openSlotFixes(in, owners)...)
	plan.Steps = append(plan.Steps, keyFixes...)
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
			open[x] = &openSlot{importingFrom: map[topology.NodeID]topology.NodeID{}, migratingTo: map[topology.NodeID]topology.NodeID{}}
		}
		return open[x]
	}
	for _, id := range snap.IDs() {
		self := snap.Self(id)
		if self == nil {
			continue
		}
		for x, from := range self.Importing {
			o := get(x)
			o.importing = append(o.importing, id)
			o.importingFrom[id] = from
		}
		for x, to := range self.Migrating {
			o := get(x)
			o.migrating = append(o.migrating, id)
			o.migratingTo[id] = to
		}
	}
	return open
}

type openSlot struct {
	importing, migrating []topology.NodeID // sorted: snap.IDs() order
	// importingFrom and migratingTo are each node's peer for the slot.
	importingFrom, migratingTo map[topology.NodeID]topology.NodeID
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

// openSlotOwners picks the node that ends up owning each open slot (see
// Repair).
func openSlotOwners(c *Consensus, open map[int]*openSlot) map[int]topology.NodeID {
	owners := make(map[int]topology.NodeID, len(open))
	for x, o := range open {
		owner := c.Owners[x]
		switch {
		case owner != "":
			if to, ok := consistentMove(x, owner, o); ok {
				owner = to
			}
		case len(o.importing) > 0:
			owner = o.importing[0]
		default:
			owner = o.migrating[0]
		}
		owners[x] = owner
	}
	return owners
}

// consistentMove returns the node slot x is being moved to when the move
// from owner is consistent: owner alone has x MIGRATING, to the one node
// that has x IMPORTING, from owner.
func consistentMove(x int, owner topology.NodeID, o *openSlot) (topology.NodeID, bool) {
	if len(o.migrating) != 1 || o.migrating[0] != owner || len(o.importing) != 1 {
		return "", false
	}
	to := o.importing[0]
	if o.migratingTo[owner] != to || o.importingFrom[to] != owner {
		return "", false
	}
	return to, true
}

// openSlotFixes closes every open slot, those with no key to move first:
// a node that imports a slot from a node that no longer owns it (a
// migration cut short, then a failover) ignores the owner's claims for it
// and, with the slot unassigned in its own view, answers CLUSTERDOWN to
// every MIGRATE into it. Closing such slots needs no MIGRATE and puts the
// node's view right, so the moves that follow can reach it.
func openSlotFixes(in RepairInput, owners map[int]topology.NodeID) []Step {
	var quiet, moves []Step
	for _, x := range slices.Sorted(maps.Keys(owners)) {
		owner := owners[x]
		fix := FixOpenSlot{Slot: x, Owner: owner, MoveKeysFrom: othersThan(in.KeyHolders[x], owner)}
		if len(fix.MoveKeysFrom) == 0 {
			quiet = append(quiet, fix)
		} else {
			moves = append(moves, fix)
		}
	}
	return append(quiet, moves...)
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

// coverageFixes returns the AssignSlots steps that cover every uncovered
// slot, and the FixOpenSlot steps that gather the keys of uncovered slots
// several masters hold keys in (to run once every slot is covered).
func coverageFixes(in RepairInput, c *Consensus, openOwners map[int]topology.NodeID) (assign, fixes []Step, notes []string) {
	uncovered := c.Covered().Complement()
	if uncovered.IsEmpty() {
		return nil, nil, nil
	}
	withKeys := map[topology.NodeID]topology.SlotSet{}
	var empty topology.SlotSet
	uncovered.Each(func(x int) bool {
		if owner, ok := openOwners[x]; ok {
			// The open slot's own FixOpenSlot gathers its keys.
			s := withKeys[owner]
			s.Add(x)
			withKeys[owner] = s
			return true
		}
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
	owners := healthyMasters(c)
	if len(owners) == 0 && !empty.IsEmpty() {
		notes = append(notes, fmt.Sprintf("%d uncovered slots but no healthy master to give them to", empty.Count()))
		empty = topology.SlotSet{}
	}
	for _, id := range sortedIDs(withKeys) {
		assign = append(assign, AssignSlots{Node: id, Slots: withKeys[id]})
		owners[id] = owners[id].Union(withKeys[id])
	}
	assign = append(assign, spreadSlots(owners, empty)...)
	return assign, fixes, notes
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
