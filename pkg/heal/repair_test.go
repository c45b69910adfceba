package heal_test

import (
	"testing"

	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/heal/healtest"
	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

func TestRepair(t *testing.T) {
	runCases(t, []ruleCase{
		{
			name: "repairs a slot left migrating",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				w.Pod("rc-0-0").Migrating = map[int]topology.NodeID{7: w.Pod("rc-1-0").NodeID}
				return w
			},
			kind: heal.Repair,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				if _, ok := d.Plan.Steps[0].(planner.FixOpenSlot); !ok {
					t.Errorf("plan %s, want a FixOpenSlot", d.Plan)
				}
			},
		},
		{
			name: "assigns a slot no node serves",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				w.Pod("rc-1-0").Slots.Remove(6000)
				return w
			},
			kind: heal.Repair,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				a, ok := d.Plan.Steps[0].(planner.AssignSlots)
				if !ok || len(d.Plan.Steps) != 1 || !a.Slots.Has(6000) || a.Slots.Count() != 1 {
					t.Errorf("plan %s, want slot 6000 assigned", d.Plan)
				}
			},
		},
	})
}
