package heal_test

import (
	"strings"
	"testing"

	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/heal/healtest"
	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

func TestPlacement(t *testing.T) {
	runCases(t, []ruleCase{
		{
			name: "moves a replica that shares a node with its master when a node is free",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, "node-1", "node-2", "node-3", "node-4")
				w.Pod("rc-0-1").Host = w.Pod("rc-0-0").Host
				return w
			},
			kind: heal.MoveReplica,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				if d.Member != "rc-0-1" || d.MemberOp != heal.RecreateMember {
					t.Errorf("moves %s (op %d), want rc-0-1 (the replica) recreated", d.Member, d.MemberOp)
				}
			},
		},
		{
			name: "leaves a shared node alone when every node holds a member of the shard",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, "node-1", "node-2")
				w.Pod("rc-0-1").Host = w.Pod("rc-0-0").Host
				w.Hosts = []string{w.Pod("rc-0-0").Host}
				return w
			},
			kind: heal.None,
		},
	})
}

// masterMovedToNode1 returns a healthy 3x1 cluster where shard 1's master
// role moved to its replica on node-1, where shard 0's master is.
func masterMovedToNode1() *healtest.World {
	w := healtest.Healthy(3, 1, threeHosts...)
	w.Pod("rc-1-0").Host = "node-3"
	w.Pod("rc-1-1").Host = "node-1"
	w.Pod("rc-1-0").Master, w.Pod("rc-1-1").Master = w.Pod("rc-1-1").NodeID, ""
	w.Pod("rc-1-1").Slots, w.Pod("rc-1-0").Slots = w.Pod("rc-1-0").Slots, topology.SlotSet{}
	return w
}

func TestMasterSpread(t *testing.T) {
	runCases(t, []ruleCase{
		{
			name:  "spreads masters piled up on one node by a graceful failover",
			world: masterMovedToNode1,
			kind:  heal.Failover,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				f := d.Plan.Steps[0].(planner.Failover)
				if f.Mode != planner.FailoverGraceful || (f.Replica != w.Pod("rc-1-0").NodeID && f.Replica != w.Pod("rc-0-1").NodeID) {
					t.Errorf("failover %v: want a graceful handover off node-1", f)
				}
			},
		},
		{
			name: "spreads masters through a chain when no direct handover helps",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				// After a rolling update: the masters of shards 0 and 1 are on
				// node-1, shard 2's on node-2; shards 0's and 1's replicas are
				// on node-2 too, only shard 2's replica is on node-3.
				for _, s := range []string{"0", "1"} {
					m, r := w.Pod("rc-"+s+"-0"), w.Pod("rc-"+s+"-1")
					m.Host, r.Host = "node-1", "node-2"
				}
				w.Pod("rc-2-0").Host, w.Pod("rc-2-1").Host = "node-2", "node-3"
				return w
			},
			kind: heal.Failover,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				f := d.Plan.Steps[0].(planner.Failover)
				if f.Replica != w.Pod("rc-2-1").NodeID || !strings.Contains(d.Message, "first of 2 handovers") {
					t.Errorf("failover %v (%q): want shard 2's master moved to node-3 first, to make room on node-2", f, d.Message)
				}
			},
		},
		{
			name: "waits for one Ready pass before spreading masters",
			world: func() *healtest.World {
				w := masterMovedToNode1()
				w.Unsettled = true
				return w
			},
			kind: heal.None,
		},
	})
}
