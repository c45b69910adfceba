package planner

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/redkube/redkube/pkg/topology"
)

// disagreementByArray is the per-slot definition disagreement implements
// with slot sets: a slot is disputed when the owner the view's lines give
// it differs from the consensus's. Views built here never claim a slot
// twice, where the two definitions would differ.
func disagreementByArray(view *topology.View, owners *[topology.SlotCount]topology.NodeID) topology.SlotSet {
	var d topology.SlotSet
	theirs := view.SlotOwners()
	for i := range theirs {
		if theirs[i] != owners[i] {
			d.Add(i)
		}
	}
	return d
}

func TestDisagreementMatchesThePerSlotDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for round := range 300 {
		nodes := 2 + rng.IntN(6)
		ids := make([]topology.NodeID, nodes)
		for i := range ids {
			ids[i] = topology.NodeID(fmt.Sprintf("%040x", i+1))
		}
		// Each view assigns every slot to one of the nodes or to nobody,
		// in runs, and may leave some nodes out of its listing.
		snap := &topology.Snapshot{Nodes: map[topology.NodeID]*topology.NodeState{}}
		for r := range 1 + rng.IntN(nodes) {
			slots := make([]topology.SlotSet, nodes)
			for s := 0; s < topology.SlotCount; {
				n := 1 + rng.IntN(3000)
				owner := rng.IntN(nodes + 1)
				for x := s; x < min(s+n, topology.SlotCount); x++ {
					if owner < nodes {
						slots[owner].Add(x)
					}
				}
				s += n
			}
			v := &topology.View{}
			for i, id := range ids {
				if i != r && !slots[i].IsEmpty() && rng.IntN(8) == 0 {
					continue // not listed by this view
				}
				n := &topology.Node{ID: id, Addr: fmt.Sprintf("10.0.0.%d:6379", i+1), Flags: topology.FlagMaster, Slots: slots[i], Connected: true}
				if i == r {
					n.Flags |= topology.FlagMyself
				}
				v.Nodes = append(v.Nodes, n)
			}
			snap.Nodes[ids[r]] = &topology.NodeState{Addr: fmt.Sprintf("10.0.0.%d:6379", r+1), View: v}
		}
		c := Agree(snap)
		for _, id := range snap.IDs() {
			view := snap.Nodes[id].View
			got, want := disagreement(view, c), disagreementByArray(view, &c.Owners)
			if !got.Equal(want) {
				t.Fatalf("round %d, view of %s: disagreement %s, per-slot definition %s", round, id.Short(), got, want)
			}
		}
	}
}
