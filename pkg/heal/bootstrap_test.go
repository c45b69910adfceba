package heal_test

import (
	"testing"

	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/heal/healtest"
	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

func TestBootstrap(t *testing.T) {
	runCases(t, []ruleCase{
		{
			name:  "bootstraps once every pod is up and fresh",
			world: func() *healtest.World { return healtest.Fresh(3, 1, threeHosts...) },
			kind:  heal.Bootstrap,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				assigned := map[topology.NodeID]topology.SlotSet{}
				replicate := map[topology.NodeID]topology.NodeID{}
				for _, s := range d.Plan.Steps {
					switch s := s.(type) {
					case planner.AssignSlots:
						assigned[s.Node] = s.Slots
					case planner.Replicate:
						replicate[s.Replica] = s.Master
					}
				}
				var all topology.SlotSet
				hosts := map[string]bool{}
				for s := range 3 {
					var master *healtest.Pod
					for _, p := range w.Pods {
						if p.Group == s && !assigned[p.NodeID].IsEmpty() {
							if master != nil {
								t.Errorf("shard %d has two masters", s)
							}
							master = p
						}
					}
					if master == nil {
						t.Fatalf("shard %d has no master", s)
					}
					hosts[master.Host] = true
					all = all.Union(assigned[master.NodeID])
					for _, p := range w.Pods {
						if p.Group == s && p != master && replicate[p.NodeID] != master.NodeID {
							t.Errorf("%s replicates %q, want its shard's master %s", p.Name, replicate[p.NodeID], master.NodeID)
						}
					}
				}
				if !all.IsFull() {
					t.Errorf("assigned %d slots, want all", all.Count())
				}
				if len(hosts) != 3 {
					t.Errorf("masters on %d hosts, want 3", len(hosts))
				}
			},
		},
		{
			name: "waits for every pod before bootstrapping",
			world: func() *healtest.World {
				w := healtest.Fresh(3, 1, threeHosts...)
				w.Pod("rc-2-1").Ready = false
				return w
			},
			kind: heal.None,
		},
	})
}
