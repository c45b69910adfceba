package heal_test

import (
	"strings"
	"testing"

	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/heal/healtest"
	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// swapped makes the replica `to` of shard 0 its master (a failover
// happened earlier), the old master following it.
func swapped(w *healtest.World, master, to string) {
	m, r := w.Pod(master), w.Pod(to)
	r.Master, r.Slots, m.Master, m.Slots = "", m.Slots, r.NodeID, topology.SlotSet{}
	for _, p := range w.Pods {
		if p.Group == m.Group && p != m && p != r {
			p.Master = r.NodeID
		}
	}
}

func TestReplicasPerMasterLowered(t *testing.T) {
	runCases(t, []ruleCase{
		{
			name: "hands the master role off a pod beyond replicasPerMaster to a pod that stays",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 2, "n0", "n1", "n2", "n3")
				swapped(w, "rc-0-0", "rc-0-2")
				w.Replicas = 1
				return w
			},
			kind: heal.Failover,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				f := d.Plan.Steps[0].(planner.Failover)
				if f.Mode != planner.FailoverGraceful || f.Replica == w.Pod("rc-0-2").NodeID {
					t.Fatalf("failover %v, want graceful to rc-0-0 or rc-0-1", f)
				}
				if !strings.Contains(d.Message, "rc-0-2 is beyond spec.replicasPerMaster (1)") {
					t.Errorf("message %q does not say why", d.Message)
				}
			},
		},
		{
			name: "down to no replica: the master role goes back to ordinal 0",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				swapped(w, "rc-1-0", "rc-1-1")
				w.Replicas = 0
				return w
			},
			kind: heal.Failover,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				if f := d.Plan.Steps[0].(planner.Failover); f.Replica != w.Pod("rc-1-0").NodeID {
					t.Errorf("failover to %s, want rc-1-0", f.Replica.Short())
				}
			},
		},
		{
			name: "waits while no pod that stays is in sync",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				swapped(w, "rc-1-0", "rc-1-1")
				w.Pod("rc-1-0").LinkUp = false
				w.Replicas = 0
				return w
			},
			rule: "surplus master",
			kind: heal.None,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				_, why := rule(t, "surplus master").Decide(w.Cluster())
				if !strings.Contains(why, "rc-1-1 (master of shard 1) is beyond spec.replicasPerMaster (0)") {
					t.Errorf("blocked %q", why)
				}
			},
		},
		{
			name: "leaves replicas beyond the count to the platform",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 2, "n0", "n1", "n2", "n3")
				w.Replicas = 1
				return w
			},
			rule: "surplus master",
			kind: heal.None,
		},
	})
}
