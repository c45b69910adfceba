package heal_test

import (
	"strings"
	"testing"

	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/heal/healtest"
	"github.com/redkube/redkube/pkg/planner"
)

func TestFailover(t *testing.T) {
	runCases(t, []ruleCase{
		{
			name: "hands a master being deleted to its in-sync replica gracefully",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				w.Pod("rc-1-0").Terminating = true
				return w
			},
			kind: heal.Failover,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				f := d.Plan.Steps[0].(planner.Failover)
				if f.Replica != w.Pod("rc-1-1").NodeID || f.Mode != planner.FailoverGraceful || d.Forced {
					t.Errorf("failover %v forced=%t, want graceful to rc-1-1", f, d.Forced)
				}
			},
		},
		{
			name: "never promotes a replica whose link is down",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				w.Pod("rc-1-0").Terminating = true
				w.Pod("rc-1-1").LinkUp = false
				return w
			},
			kind: heal.None,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				if !strings.Contains(d.Blocked, "link to the master down") {
					t.Errorf("blocked = %q, want the link-down reason", d.Blocked)
				}
			},
		},
		{
			name: "never promotes a replica whose offset lags",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				w.Pod("rc-1-0").Terminating = true
				w.Pod("rc-1-0").Offset = 5 << 20
				return w
			},
			kind: heal.None,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				if !strings.Contains(d.Blocked, "trails the master") {
					t.Errorf("blocked = %q, want the lag reason", d.Blocked)
				}
			},
		},
		{
			name: "forces a failover when the master's pod is gone and its address refuses",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				m := w.Pod("rc-0-0")
				m.Silent = true
				m.Terminating = true
				w.Probes[m.NodeID] = heal.Probe{Gone: true, Detail: "refused"}
				w.Pod("rc-0-1").LinkUp = false
				return w
			},
			kind: heal.Failover,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				f := d.Plan.Steps[0].(planner.Failover)
				if f.Replica != w.Pod("rc-0-1").NodeID || f.Mode != planner.FailoverForce || !d.Forced {
					t.Errorf("failover %v forced=%t, want FORCE to rc-0-1", f, d.Forced)
				}
			},
		},
		{
			name: "forces the failover to the replica with the most data, whatever its link to the gone master says",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 2, "n0", "n1", "n2", "n3")
				m := w.Pod("rc-0-0")
				m.Silent = true
				w.Probes[m.NodeID] = heal.Probe{Gone: true, Detail: "refused"}
				w.Pod("rc-0-1").Offset = 900 // has not noticed the master is gone yet
				w.Pod("rc-0-2").LinkUp = false
				return w
			},
			kind: heal.Failover,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				f := d.Plan.Steps[0].(planner.Failover)
				if f.Replica != w.Pod("rc-0-2").NodeID || f.Mode != planner.FailoverForce {
					t.Errorf("failover %v, want FORCE to rc-0-2 (offset 1000, not 900)", f)
				}
			},
		},
		{
			name: "takes over without a vote when two of three masters are gone",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				probedGone(w, "rc-0-0", "rc-1-0")
				return w
			},
			kind: heal.Failover,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				f := d.Plan.Steps[0].(planner.Failover)
				if f.Replica != w.Pod("rc-0-1").NodeID || f.Mode != planner.FailoverTakeover || !d.Forced {
					t.Errorf("failover %v forced=%t, want TAKEOVER to rc-0-1", f, d.Forced)
				}
				if !strings.Contains(d.Message, "2 of 3 masters are gone") {
					t.Errorf("message %q does not say why there is no election", d.Message)
				}
			},
		},
		{
			name: "forces with an election when the masters left still make a majority",
			world: func() *healtest.World {
				w := healtest.Healthy(5, 1, "n0", "n1", "n2", "n3", "n4")
				probedGone(w, "rc-0-0", "rc-3-0")
				return w
			},
			kind: heal.Failover,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				if f := d.Plan.Steps[0].(planner.Failover); f.Mode != planner.FailoverForce {
					t.Errorf("failover %v, want FORCE: 3 of 5 masters can still vote", f)
				}
			},
		},
		{
			name: "does not take over for a silent master that is not proven gone, even with the majority lost",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				gone := w.Pod("rc-0-0")
				gone.Silent = true
				w.Probes[gone.NodeID] = heal.Probe{Gone: true, Detail: "refused"}
				w.Synced[w.Pod("rc-0-1").NodeID] = false
				silent := w.Pod("rc-1-0")
				silent.Silent = true
				w.Probes[silent.NodeID] = heal.Probe{Detail: "i/o timeout"}
				return w
			},
			kind: heal.None,
		},
		{
			name: "leaves a master that times out to Redis's own failover",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				m := w.Pod("rc-0-0")
				m.Silent = true
				w.Probes[m.NodeID] = heal.Probe{Gone: false, Detail: "i/o timeout"}
				return w
			},
			kind: heal.None,
		},
		{
			name: "forces a failover when the master's pod is gone, it times out and its replicas saw the link close",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				m := w.Pod("rc-0-0")
				m.Silent = true
				w.Probes[m.NodeID] = heal.Probe{Detail: "i/o timeout"}
				w.Pod("rc-0-1").LinkUp = false
				return w
			},
			kind: heal.Failover,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				f := d.Plan.Steps[0].(planner.Failover)
				if f.Replica != w.Pod("rc-0-1").NodeID || f.Mode != planner.FailoverForce || !strings.Contains(d.Message, "links to it are closed") {
					t.Errorf("failover %v (%q), want FORCE to rc-0-1 naming the closed links", f, d.Message)
				}
			},
		},
		{
			name: "does not force while the silent master still accepts connections, whatever its replicas say",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				m := w.Pod("rc-0-0")
				m.Silent = true
				w.Probes[m.NodeID] = heal.Probe{Reached: true, Detail: "accepts connections"}
				w.Pod("rc-0-1").LinkUp = false
				return w
			},
			kind: heal.None,
		},
		{
			name: "does not force a timed-out master while one of its replicas is still linked",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 2, "n0", "n1", "n2", "n3")
				m := w.Pod("rc-0-0")
				m.Silent = true
				w.Probes[m.NodeID] = heal.Probe{Detail: "i/o timeout"}
				w.Pod("rc-0-1").LinkUp = false
				return w
			},
			kind: heal.None,
		},
		{
			name: "does not force a replica the last pass did not see in sync",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				m := w.Pod("rc-0-0")
				m.Silent = true
				w.Probes[m.NodeID] = heal.Probe{Gone: true, Detail: "refused"}
				w.Synced[w.Pod("rc-0-1").NodeID] = false
				return w
			},
			kind: heal.None,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				if !strings.Contains(d.Blocked, "none of its replicas was in sync") {
					t.Errorf("blocked = %q", d.Blocked)
				}
			},
		},
	})
}

// probedGone makes the named pods silent and their addresses refuse
// connections.
func probedGone(w *healtest.World, names ...string) {
	for _, name := range names {
		m := w.Pod(name)
		m.Silent = true
		w.Probes[m.NodeID] = heal.Probe{Gone: true, Detail: "refused"}
	}
}
