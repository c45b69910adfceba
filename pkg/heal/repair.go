package heal

import (
	"fmt"

	"github.com/redkube/redkube/pkg/planner"
)

// repair closes slots left MIGRATING/IMPORTING and assigns slots no node
// serves (planner.Repair). Disputed ownership alone is not acted on: it is
// what every failover looks like for a moment, until gossip spreads the new
// owner's epoch. Repair's Forget steps are left out: forgetting is the
// forget rule's, which knows which nodes are members. The keys a repair
// moves are bounded by MigrationBudget per pass; the next pass repairs
// what is left.
func repair(c *Cluster) (Decision, string) {
	if !c.Bootstrapped() || c.Cons == nil || c.Snap == nil {
		return Decision{}, ""
	}
	open := !c.SlotsClosed()
	uncovered := !c.Covered()
	if !open && !uncovered {
		return Decision{}, ""
	}
	plan := planner.Repair(planner.RepairInput{Snapshot: c.Snap, KeyHolders: c.KeyHolders})
	var steps []planner.Step
	for _, s := range plan.Steps {
		if _, ok := s.(planner.Forget); !ok {
			steps = append(steps, s)
		}
	}
	if len(steps) == 0 {
		return Decision{}, ""
	}
	return Decision{
		Kind:      Repair,
		Reason:    ReasonRepairingSlots,
		Message:   fmt.Sprintf("repairing slots: %d steps (open slots: %t, uncovered slots: %t)", len(steps), open, uncovered),
		Plan:      planner.Plan{Steps: steps, Notes: plan.Notes},
		Budget:    MigrationBudget,
		Resumable: true,
	}, ""
}
