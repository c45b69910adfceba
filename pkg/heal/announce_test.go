package heal_test

import (
	"fmt"
	"testing"

	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/heal/healtest"
	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// external gives every pod of w an external endpoint to announce (node i's
// address 192.0.2.x, node ports 30000+i and 31000+i) and, when applied,
// makes its node announce it already.
func external(w *healtest.World, applied bool) {
	for i, p := range w.Pods {
		want := topology.Endpoint{IP: fmt.Sprintf("192.0.2.%d", 1+i%3), Port: 30000 + i, BusPort: 31000 + i}
		p.Announce = &want
		if applied {
			p.Announced = &want
		}
	}
}

func TestAnnounce(t *testing.T) {
	runCases(t, []ruleCase{
		{
			name: "tells every node still announcing its pod address to announce its external endpoint",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				external(w, false)
				return w
			},
			kind: heal.Announce,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				if len(d.Plan.Steps) != len(w.Pods) {
					t.Fatalf("%d steps, want one per node:\n%s", len(d.Plan.Steps), d.Plan)
				}
				for i, s := range d.Plan.Steps {
					a := s.(planner.Announce)
					if p := w.Pods[i]; a.Node != p.NodeID || a.Endpoint != *p.Announce {
						t.Errorf("step %d = %v, want %s to announce %v", i, a, p.Name, *p.Announce)
					}
				}
			},
		},
		{
			name: "tells only the node whose load balancer address changed",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				external(w, true)
				moved := *w.Pod("rc-1-1").Announce
				moved.IP = "198.51.100.7"
				w.Pod("rc-1-1").Announce = &moved
				return w
			},
			kind: heal.Announce,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				if len(d.Plan.Steps) != 1 || d.Plan.Steps[0].(planner.Announce).Node != w.Pod("rc-1-1").NodeID {
					t.Errorf("plan %s, want one step for rc-1-1", d.Plan)
				}
			},
		},
		{
			name: "adds a hostname to a node that announces its IP only",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				p := w.Pod("rc-0-0")
				want := topology.Endpoint{IP: p.IP(), Port: 6379, BusPort: 16379, Hostname: "rc-0-0.rc-nodes.ns.svc.cluster.local"}
				p.Announce = &want
				return w
			},
			kind: heal.Announce,
		},
		{
			name:  "nothing to do once every node announces its endpoint and its peers know it there",
			world: func() *healtest.World { w := healtest.Healthy(3, 1, threeHosts...); external(w, true); return w },
			kind:  heal.None,
		},
		{
			name: "no wish, no announce: rcctl and clusters without external access",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				external(w, true)
				for _, p := range w.Pods {
					p.Announce = nil
				}
				return w
			},
			rule: "announce",
			kind: heal.Announce, not: true,
		},
		{
			name: "a silent node is left alone",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				external(w, true)
				p := w.Pod("rc-2-1")
				p.Announced, p.Silent = nil, true
				return w
			},
			rule: "announce",
			kind: heal.Announce, not: true,
		},
		{
			name: "failing over comes first",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				external(w, false)
				w.Pod("rc-0-0").Terminating = true
				return w
			},
			kind: heal.Failover,
		},
	})
}

func TestMeetComparesPeersWithTheAnnouncedAddress(t *testing.T) {
	runCases(t, []ruleCase{
		{
			name:  "peers listing a node at its external endpoint need no meet",
			world: func() *healtest.World { w := healtest.Healthy(3, 1, threeHosts...); external(w, true); return w },
			rule:  "meet",
			kind:  heal.Meet, not: true,
		},
		{
			name: "a node its peers still list at an old external address is met again",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				external(w, true)
				p := w.Pod("rc-1-0")
				p.KnownAt = map[int]string{}
				for i := range w.Pods {
					p.KnownAt[i] = "203.0.113.9:30999"
				}
				return w
			},
			rule: "meet",
			kind: heal.Meet,
		},
	})
}

func TestProbeTargetsSkipMastersLiveAtTheirExternalEndpoint(t *testing.T) {
	w := healtest.Healthy(3, 1, threeHosts...)
	external(w, true)
	w.Pod("rc-0-0").Silent = true
	o := w.Observation()
	if got := heal.ProbeTargets(o.Members, o.Snap); len(got) != 0 {
		t.Errorf("ProbeTargets = %v: a silent master whose pod is live at its announced endpoint is Redis's to fail over", got)
	}
	w.Pod("rc-0-0").Terminating = true
	o = w.Observation()
	if got := heal.ProbeTargets(o.Members, o.Snap); len(got) != 1 || got[0].Addr != w.Pod("rc-0-0").Announce.Addr() {
		t.Errorf("ProbeTargets = %v, want the terminating master at its external endpoint", got)
	}
}

func TestProbeTargetsIncludeSilentMastersOnHostsDown(t *testing.T) {
	w := healtest.Healthy(3, 1, threeHosts...)
	w.Pod("rc-0-0").Silent = true
	o := w.Observation()
	if got := heal.ProbeTargets(o.Members, o.Snap); len(got) != 0 {
		t.Fatalf("ProbeTargets = %v: a silent master whose pod and host are up is Redis's to fail over", got)
	}
	// The platform reports its host down (a Node not Ready): the pod's
	// address no longer shows a process, so the probe decides.
	w.Pod("rc-0-0").HostDown = true
	w.Pod("rc-1-1").HostDown = true // a replica there answers: not probed
	o = w.Observation()
	got := heal.ProbeTargets(o.Members, o.Snap)
	if len(got) != 1 || got[0].ID != w.Pod("rc-0-0").NodeID {
		t.Errorf("ProbeTargets = %v, want only the silent master on the down host", got)
	}
}
