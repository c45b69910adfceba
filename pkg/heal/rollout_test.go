package heal_test

import (
	"strings"
	"testing"

	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/heal/healtest"
	"github.com/redkube/redkube/pkg/planner"
)

// outdated returns a healthy cluster whose pods named run an older
// template.
func outdated(masters, replicas int, names ...string) *healtest.World {
	w := healtest.Healthy(masters, replicas, threeHosts...)
	for _, n := range names {
		w.Pod(n).Outdated = true
	}
	return w
}

func TestRollingUpdate(t *testing.T) {
	runCases(t, []ruleCase{
		{
			name:  "replaces replicas first",
			world: func() *healtest.World { return outdated(3, 1, "rc-0-0", "rc-0-1", "rc-1-0", "rc-1-1") },
			kind:  heal.UpdateMember,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				if d.Member != "rc-0-1" || d.MemberOp != heal.DeleteMember {
					t.Fatalf("updates pod %q (op %d, %q), want rc-0-1 (shard 0's replica) replaced first", d.Member, d.MemberOp, d.Message)
				}
				if !strings.Contains(d.Message, "2 of 6 pods run the current template") {
					t.Errorf("message %q does not report progress", d.Message)
				}
			},
		},
		{
			name:  "hands the master role over before replacing the master",
			world: func() *healtest.World { return outdated(3, 1, "rc-0-0") },
			kind:  heal.Failover,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				if d.Reason != heal.ReasonUpdatingPods {
					t.Fatalf("failover with reason %s (%q), want one for the update", d.Reason, d.Message)
				}
				if f := d.Plan.Steps[0].(planner.Failover); f.Replica != w.Pod("rc-0-1").NodeID || f.Mode != planner.FailoverGraceful {
					t.Errorf("failover %v, want graceful to rc-0-1", f)
				}
			},
		},
		{
			name: "waits for replicas in sync",
			world: func() *healtest.World {
				w := outdated(3, 1, "rc-2-1")
				w.Pod("rc-1-1").LinkUp = false
				return w
			},
			kind: heal.UpdateMember,
			not:  true,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				if !strings.Contains(d.Blocked, "rolling update waits") {
					t.Errorf("blocked %q, want the update to wait for rc-1-1's sync", d.Blocked)
				}
			},
		},
		{
			name:  "recreates a master without replicas",
			world: func() *healtest.World { return outdated(3, 0, "rc-1-0") },
			kind:  heal.UpdateMember,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				if d.Member != "rc-1-0" || d.MemberOp != heal.DeleteMember || !strings.Contains(d.Message, "unavailable") {
					t.Errorf("updates pod %q (op %d, %q), want rc-1-0 recreated with a warning", d.Member, d.MemberOp, d.Message)
				}
			},
		},
	})
}
