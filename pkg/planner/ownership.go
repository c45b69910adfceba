package planner

import (
	"fmt"
	"maps"
	"slices"

	"github.com/redkube/redkube/pkg/topology"
)

// Ownership maps each master to the slots it serves. Masters without slots
// are present with an empty set. It is the input of the rebalance planners
// and the model Apply simulates plans on.
type Ownership map[topology.NodeID]topology.SlotSet

// OwnershipOf returns the masters of v (including masters without slots and
// excluding masters flagged fail) with the slots v says they serve.
func OwnershipOf(v *topology.View) Ownership {
	o := Ownership{}
	for _, n := range v.Nodes {
		if n.IsMaster() && !n.Flags.Has(topology.FlagFail) && !n.Flags.Has(topology.FlagHandshake) {
			o[n.ID] = n.Slots
		}
	}
	return o
}

// Clone returns an independent copy of o.
func (o Ownership) Clone() Ownership { return maps.Clone(o) }

// IDs returns the masters sorted by ID.
func (o Ownership) IDs() []topology.NodeID { return slices.Sorted(maps.Keys(o)) }

// Total returns the number of slots owned by any master.
func (o Ownership) Total() int {
	n := 0
	for _, s := range o {
		n += s.Count()
	}
	return n
}

// Owner returns the master serving slot, or "" when none does.
func (o Ownership) Owner(slot int) topology.NodeID {
	for id, s := range o {
		if s.Has(slot) {
			return id
		}
	}
	return ""
}

// Validate reports an error when two masters claim the same slot.
func (o Ownership) Validate() error {
	var seen topology.SlotSet
	for _, id := range o.IDs() {
		s := o[id]
		if s.Overlaps(seen) {
			return fmt.Errorf("master %s claims slots [%s] another master owns", id.Short(), s.Intersect(seen))
		}
		seen = seen.Union(s)
	}
	return nil
}

// Apply simulates plan on a copy of o and returns the resulting ownership.
// It models slot ownership only (keys, epochs and replication are outside
// the model) and fails on a step that could not succeed against a real
// cluster in that state: assigning an owned slot, migrating slots the source
// does not own, forgetting a master that still owns slots. Dry runs and the
// planner's property tests use it.
func Apply(o Ownership, plan Plan) (Ownership, error) {
	out := o.Clone()
	for i, step := range plan.Steps {
		if err := applyStep(out, step); err != nil {
			return nil, fmt.Errorf("step %d (%s): %w", i+1, step, err)
		}
	}
	return out, nil
}

func applyStep(o Ownership, step Step) error {
	switch s := step.(type) {
	case AssignSlots:
		for _, id := range o.IDs() {
			if o[id].Overlaps(s.Slots) {
				return fmt.Errorf("slots [%s] already served by %s", o[id].Intersect(s.Slots), id.Short())
			}
		}
		o[s.Node] = o[s.Node].Union(s.Slots)
	case MigrateSlots:
		src, ok := o[s.Source]
		if !ok || !s.Slots.Difference(src).IsEmpty() {
			return fmt.Errorf("source does not own slots [%s]", s.Slots.Difference(src))
		}
		if _, ok := o[s.Target]; !ok {
			return fmt.Errorf("target %s is not a master", s.Target.Short())
		}
		o[s.Source] = src.Difference(s.Slots)
		o[s.Target] = o[s.Target].Union(s.Slots)
	case SetSlotOwner:
		give(o, s.Owner, s.Slots)
	case FixOpenSlot:
		give(o, s.Owner, topology.NewSlotSet(s.Slot))
	case Forget:
		if !o[s.Node].IsEmpty() {
			return fmt.Errorf("node still owns slots [%s]", o[s.Node])
		}
		delete(o, s.Node)
	case Replicate:
		if !o[s.Replica].IsEmpty() {
			return fmt.Errorf("node owns slots [%s] and cannot become a replica", o[s.Replica])
		}
		delete(o, s.Replica)
	case SetConfigEpoch, Meet, ResetNode, Failover:
		// No change to slot ownership in this model.
	default:
		return fmt.Errorf("unknown step type %T", step)
	}
	return nil
}

// give makes owner the only master serving slots.
func give(o Ownership, owner topology.NodeID, slots topology.SlotSet) {
	for id, s := range o {
		if id != owner && s.Overlaps(slots) {
			o[id] = s.Difference(slots)
		}
	}
	o[owner] = o[owner].Union(slots)
}
