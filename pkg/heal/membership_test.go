package heal_test

import (
	"strings"
	"testing"
	"time"

	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/heal/healtest"
	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

func TestMeet(t *testing.T) {
	runCases(t, []ruleCase{
		{
			name: "meets a restarted pod at its new address on every other node",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				p := w.Pod("rc-2-1")
				old := p.Addr
				p.Addr = "10.0.9.9:6379"
				p.KnownAt = map[int]string{}
				for i := range w.Pods {
					p.KnownAt[i] = old
				}
				return w
			},
			kind: heal.Meet,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				if len(d.Plan.Steps) != 5 {
					t.Fatalf("%d meets, want 5:\n%s", len(d.Plan.Steps), d.Plan)
				}
				for _, s := range d.Plan.Steps {
					if m := s.(planner.Meet); m.Peer != w.Pod("rc-2-1").NodeID || m.PeerAddr != "10.0.9.9:6379" {
						t.Errorf("meet %v, want rc-2-1 at its new address", m)
					}
				}
			},
		},
		{
			name: "meets every pod with every other after all restarted with new IPs",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				for _, p := range w.Pods {
					old := p.Addr
					p.Addr = strings.Replace(p.Addr, "10.0.", "10.1.", 1)
					p.KnownAt = map[int]string{}
					for i := range w.Pods {
						p.KnownAt[i] = old
					}
				}
				return w
			},
			kind: heal.Meet,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				if len(d.Plan.Steps) != 30 {
					t.Errorf("%d meets, want 30 (6 x 5)", len(d.Plan.Steps))
				}
			},
		},
		{
			name: "meets a new empty pod before attaching it",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				p := w.Pod("rc-1-1")
				p.Master, p.Offset, p.LinkUp, p.Fresh = "", 0, false, true
				return w
			},
			kind: heal.Meet,
		},
	})
}

func TestForget(t *testing.T) {
	runCases(t, []ruleCase{
		{
			name: "forgets a node no pod holds",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				w.Stale = []*topology.Node{{ID: healtest.NodeID(99), Addr: "10.0.5.5:6379", Flags: topology.FlagReplica | topology.FlagFail, MasterID: w.Pod("rc-0-0").NodeID}}
				return w
			},
			kind: heal.Forget,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				if f := d.Plan.Steps[0].(planner.Forget); f.Node != healtest.NodeID(99) || len(d.Plan.Steps) != 1 {
					t.Errorf("plan %s, want to forget only %s", d.Plan, healtest.NodeID(99))
				}
			},
		},
		{
			name: "forgets nothing while a pod is not ready (its node may be the stranger)",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				w.Stale = []*topology.Node{{ID: healtest.NodeID(99), Addr: "10.0.5.5:6379", Flags: topology.FlagReplica | topology.FlagFail, MasterID: w.Pod("rc-0-0").NodeID}}
				w.Pod("rc-1-1").Ready = false
				return w
			},
			kind: heal.None,
		},
		{
			name: "never forgets a master a live replica still follows (Redis refuses); attaches the replica back first",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				w.Stale = []*topology.Node{{ID: healtest.NodeID(99), Addr: "10.0.5.5:6379", BusPort: 16379, Flags: topology.FlagMaster | topology.FlagFail}}
				p := w.Pod("rc-1-1")
				p.Master, p.LinkUp = healtest.NodeID(99), false
				return w
			},
			kind: heal.Attach,
		},
	})
}

func TestAttach(t *testing.T) {
	runCases(t, []ruleCase{
		{
			name: "attaches a new empty pod as a replica of its shard's master",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				p := w.Pod("rc-1-1")
				p.Master, p.Offset, p.LinkUp = "", 0, false
				return w
			},
			kind: heal.Attach,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				r := d.Plan.Steps[0].(planner.Replicate)
				if r.Replica != w.Pod("rc-1-1").NodeID || r.Master != w.Pod("rc-1-0").NodeID {
					t.Errorf("replicate %v, want rc-1-1 -> rc-1-0", r)
				}
			},
		},
		{
			name: "moves a replica back to its own shard after replica migration",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				w.Pod("rc-2-1").Master = w.Pod("rc-0-0").NodeID
				return w
			},
			kind: heal.Attach,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				r := d.Plan.Steps[0].(planner.Replicate)
				if r.Replica != w.Pod("rc-2-1").NodeID || r.Master != w.Pod("rc-2-0").NodeID {
					t.Errorf("replicate %v, want rc-2-1 -> rc-2-0", r)
				}
			},
		},
	})
}

func TestRestartStuckReplica(t *testing.T) {
	runCases(t, []ruleCase{
		{
			name: "restarts a replica whose link never comes up",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				p := w.Pod("rc-2-1")
				p.LinkUp, p.Age = false, time.Minute
				w.Stuck = map[topology.NodeID]bool{p.NodeID: true}
				return w
			},
			kind: heal.RestartReplica,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				if d.Member != "rc-2-1" || d.MemberOp != heal.DeleteMember {
					t.Errorf("restarts %s (op %d), want rc-2-1 deleted", d.Member, d.MemberOp)
				}
			},
		},
		{
			name: "gives a young replica pod time to connect",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				p := w.Pod("rc-2-1")
				p.LinkUp, p.Age = false, time.Second
				w.Stuck = map[topology.NodeID]bool{p.NodeID: true}
				return w
			},
			kind: heal.None,
		},
		{
			name: "leaves a replica in its first sync alone",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				p := w.Pod("rc-2-1")
				p.LinkUp, p.Syncing, p.Age = false, true, time.Minute
				w.Stuck = map[topology.NodeID]bool{p.NodeID: true}
				return w
			},
			kind: heal.None,
		},
	})
}
