package heal_test

import (
	"strings"
	"testing"

	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/heal/healtest"
	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// scaledOut returns a 3-shard cluster whose spec asks for 4 masters, with
// shard 3's pods met (its replica attached to its master or not).
func scaledOut(attached bool) *healtest.World {
	w := healtest.Healthy(4, 1, threeHosts...)
	w.Pods = w.Pods[:6] // shards 0-2 as created with masters: 3
	reassign(w, 3)
	w.AddShard(3, attached)
	return w
}

// reassign spreads all slots evenly over the first n shards' masters
// (the cluster as it was before spec.masters was raised).
func reassign(w *healtest.World, n int) {
	ranges := planner.SplitEvenly(n)
	for _, p := range w.Pods {
		if p.Ordinal == 0 && p.Group < n {
			p.Slots = topology.RangeSet(ranges[p.Group].Start, ranges[p.Group].End)
		}
	}
}

// migrated sums the MigrateSlots steps of a plan by source and target pod.
func migrated(t *testing.T, w *healtest.World, plan planner.Plan) (from, to map[string]int) {
	t.Helper()
	byID := map[topology.NodeID]string{}
	for _, p := range w.Pods {
		byID[p.NodeID] = p.Name
	}
	from, to = map[string]int{}, map[string]int{}
	for _, s := range plan.Steps {
		m, ok := s.(planner.MigrateSlots)
		if !ok {
			t.Fatalf("step %v is not a slot migration", s)
		}
		from[byID[m.Source]] += m.Slots.Count()
		to[byID[m.Target]] += m.Slots.Count()
	}
	return from, to
}

func TestScaleOut(t *testing.T) {
	runCases(t, []ruleCase{
		{
			name:  "attaches the new shard to a designated master",
			world: func() *healtest.World { return scaledOut(false) },
			kind:  heal.Attach,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				if len(d.Plan.Steps) != 1 {
					t.Fatalf("plan %s, want one attach", d.Plan)
				}
				if r := d.Plan.Steps[0].(planner.Replicate); r.Replica != w.Pod("rc-3-1").NodeID || r.Master != w.Pod("rc-3-0").NodeID {
					t.Errorf("attach %v, want rc-3-1 to follow rc-3-0 (the lowest ordinal)", r)
				}
			},
		},
		{
			name:  "moves slots onto the new shard",
			world: func() *healtest.World { return scaledOut(true) },
			kind:  heal.Reshard,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				from, to := migrated(t, w, d.Plan)
				if len(to) != 1 || to["rc-3-0"] != 4096 {
					t.Errorf("slots moved to %v, want 4096 to rc-3-0 only", to)
				}
				if from["rc-3-0"] != 0 || len(from) != 3 {
					t.Errorf("slots moved from %v, want from the three old masters", from)
				}
				if !strings.Contains(d.Message, "shard 3 +4096") {
					t.Errorf("message %q does not say where the slots go", d.Message)
				}
			},
		},
		{
			name: "waits for the new replica to sync",
			world: func() *healtest.World {
				w := scaledOut(true)
				w.Pod("rc-3-1").LinkUp = false
				w.Pod("rc-3-1").Offset = -1
				return w
			},
			kind: heal.Reshard,
			not:  true,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				if !strings.Contains(d.Blocked, "resharding waits") {
					t.Errorf("blocked %q, want the resharding to wait for the replica", d.Blocked)
				}
			},
		},
		{
			name: "moves nothing while paused and says how many slots wait",
			world: func() *healtest.World {
				w := scaledOut(true)
				w.ReshardingPaused = true
				return w
			},
			kind: heal.None,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				if !strings.Contains(d.Blocked, "resharding paused: 4096 slots left to move") {
					t.Errorf("blocked %q, want the pause and the slots left", d.Blocked)
				}
				if d.ReshardingDone {
					t.Error("a paused resharding reported done")
				}
			},
		},
		{
			name: "finishes a resumed resharding and then stops",
			world: func() *healtest.World {
				w := healtest.Healthy(4, 1, threeHosts...)
				w.Resharding = true
				return w
			},
			kind: heal.None,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				if _, need, why := heal.ReshardPlan(w.Cluster()); need && why != "" {
					t.Errorf("ReshardPlan on a balanced cluster waits: %q", why)
				}
			},
		},
	})
}

func TestScaleIn(t *testing.T) {
	runCases(t, []ruleCase{
		{
			name: "drains the retiring shard",
			world: func() *healtest.World {
				w := healtest.Healthy(4, 1, threeHosts...)
				w.Masters = 3
				return w
			},
			kind: heal.Reshard,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				from, to := migrated(t, w, d.Plan)
				if len(from) != 1 || from["rc-3-0"] != 4096 {
					t.Errorf("slots moved from %v, want all 4096 of rc-3-0", from)
				}
				if to["rc-3-0"] != 0 || len(to) != 3 {
					t.Errorf("slots moved to %v, want the three remaining masters", to)
				}
			},
		},
		{
			name: "a paused scale-in keeps the retiring shard, slots and all",
			world: func() *healtest.World {
				w := healtest.Healthy(4, 1, threeHosts...)
				w.Masters = 3
				w.Resharding = true
				w.RetiringGroups = []int{3}
				w.ReshardingPaused = true
				return w
			},
			kind: heal.None,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				if !strings.Contains(d.Blocked, "resharding paused") {
					t.Errorf("blocked %q, want the pause", d.Blocked)
				}
			},
		},
		{
			name: "removes the drained shard",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				w.AddShard(3, true)
				w.RetiringGroups = []int{3}
				return w
			},
			kind: heal.RemoveShards,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				if len(d.Groups) != 1 || d.Groups[0] != 3 {
					t.Fatalf("removes groups %v, want shard 3", d.Groups)
				}
				resets, forgets := 0, 0
				for i, s := range d.Plan.Steps {
					switch s.(type) {
					case planner.ResetNode:
						resets++
						if forgets > 0 {
							t.Errorf("step %d resets after a forget: the node would gossip itself back", i)
						}
					case planner.Forget:
						forgets++
					}
				}
				if resets != 2 || forgets != 2 {
					t.Errorf("%d resets and %d forgets, want 2 and 2:\n%s", resets, forgets, d.Plan)
				}
			},
		},
		{
			name: "never introduces a drained retiring pod again",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				w.AddShard(3, true)
				w.RetiringGroups = []int{3}
				p := w.Pod("rc-3-1")
				p.KnownAt = map[int]string{}
				for i := range w.Pods {
					p.KnownAt[i] = ""
				}
				return w
			},
			rule: "meet",
			kind: heal.None,
		},
		{
			name: "does not remove a shard that still owns slots",
			world: func() *healtest.World {
				w := healtest.Healthy(4, 1, threeHosts...)
				w.Masters = 3
				w.RetiringGroups = []int{3}
				return w
			},
			rule: "remove shards",
			kind: heal.None,
		},
	})
}
