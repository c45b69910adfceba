package controller

import (
	"strings"
	"testing"
	"time"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

var threeHosts = []string{"node-1", "node-2", "node-3"}

func TestDecide(t *testing.T) {
	tests := []struct {
		name string
		// world builds the situation.
		world func() *world
		// kind is the expected action.
		kind actionKind
		// check inspects the action further (optional).
		check func(t *testing.T, w *world, a action)
	}{
		{
			name:  "does nothing on a healthy cluster",
			world: func() *world { return healthy(3, 1, threeHosts...) },
			kind:  actNone,
		},
		{
			name:  "bootstraps once every pod is up and fresh",
			world: func() *world { return fresh(3, 1, threeHosts...) },
			kind:  actBootstrap,
			check: func(t *testing.T, w *world, a action) {
				assigned := map[topology.NodeID]topology.SlotSet{}
				replicate := map[topology.NodeID]topology.NodeID{}
				for _, s := range a.Plan.Steps {
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
					var master *fxPod
					for _, p := range w.pods {
						if p.Shard == s && !assigned[p.id].IsEmpty() {
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
					all = all.Union(assigned[master.id])
					for _, p := range w.pods {
						if p.Shard == s && p != master && replicate[p.id] != master.id {
							t.Errorf("%s replicates %q, want its shard's master %s", p.Name, replicate[p.id], master.id)
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
			world: func() *world {
				w := fresh(3, 1, threeHosts...)
				w.pod("rc-2-1").Ready = false
				return w
			},
			kind: actNone,
		},
		{
			name: "hands a master being deleted to its in-sync replica gracefully",
			world: func() *world {
				w := healthy(3, 1, threeHosts...)
				w.pod("rc-1-0").Terminating = true
				return w
			},
			kind: actFailover,
			check: func(t *testing.T, w *world, a action) {
				f := a.Plan.Steps[0].(planner.Failover)
				if f.Replica != w.pod("rc-1-1").id || f.Mode != planner.FailoverGraceful || a.Forced {
					t.Errorf("failover %v forced=%t, want graceful to rc-1-1", f, a.Forced)
				}
			},
		},
		{
			name: "never promotes a replica whose link is down",
			world: func() *world {
				w := healthy(3, 1, threeHosts...)
				w.pod("rc-1-0").Terminating = true
				w.pod("rc-1-1").linkUp = false
				return w
			},
			kind: actNone,
			check: func(t *testing.T, w *world, a action) {
				if !strings.Contains(a.Blocked, "link to the master down") {
					t.Errorf("blocked = %q, want the link-down reason", a.Blocked)
				}
			},
		},
		{
			name: "never promotes a replica whose offset lags",
			world: func() *world {
				w := healthy(3, 1, threeHosts...)
				w.pod("rc-1-0").Terminating = true
				w.pod("rc-1-0").offset = 5 << 20
				return w
			},
			kind: actNone,
			check: func(t *testing.T, w *world, a action) {
				if !strings.Contains(a.Blocked, "trails the master") {
					t.Errorf("blocked = %q, want the lag reason", a.Blocked)
				}
			},
		},
		{
			name: "forces a failover when the master's pod is gone and its address refuses",
			world: func() *world {
				w := healthy(3, 1, threeHosts...)
				m := w.pod("rc-0-0")
				m.silent = true
				m.Terminating = true
				w.probes[m.id] = probe{Gone: true, Detail: "refused"}
				w.pod("rc-0-1").linkUp = false
				return w
			},
			kind: actFailover,
			check: func(t *testing.T, w *world, a action) {
				f := a.Plan.Steps[0].(planner.Failover)
				if f.Replica != w.pod("rc-0-1").id || f.Mode != planner.FailoverForce || !a.Forced {
					t.Errorf("failover %v forced=%t, want FORCE to rc-0-1", f, a.Forced)
				}
			},
		},
		{
			name: "leaves a master that times out to Redis's own failover",
			world: func() *world {
				w := healthy(3, 1, threeHosts...)
				m := w.pod("rc-0-0")
				m.silent = true
				w.probes[m.id] = probe{Gone: false, Detail: "i/o timeout"}
				return w
			},
			kind: actNone,
		},
		{
			name: "forces a failover when the master's pod is gone, it times out and its replicas saw the link close",
			world: func() *world {
				w := healthy(3, 1, threeHosts...)
				m := w.pod("rc-0-0")
				m.silent = true
				w.probes[m.id] = probe{Detail: "i/o timeout"}
				w.pod("rc-0-1").linkUp = false
				return w
			},
			kind: actFailover,
			check: func(t *testing.T, w *world, a action) {
				f := a.Plan.Steps[0].(planner.Failover)
				if f.Replica != w.pod("rc-0-1").id || f.Mode != planner.FailoverForce || !strings.Contains(a.Message, "links to it are closed") {
					t.Errorf("failover %v (%q), want FORCE to rc-0-1 naming the closed links", f, a.Message)
				}
			},
		},
		{
			name: "does not force while the silent master still accepts connections, whatever its replicas say",
			world: func() *world {
				w := healthy(3, 1, threeHosts...)
				m := w.pod("rc-0-0")
				m.silent = true
				w.probes[m.id] = probe{Reached: true, Detail: "accepts connections"}
				w.pod("rc-0-1").linkUp = false
				return w
			},
			kind: actNone,
		},
		{
			name: "does not force a timed-out master while one of its replicas is still linked",
			world: func() *world {
				w := healthy(3, 2, "n0", "n1", "n2", "n3")
				m := w.pod("rc-0-0")
				m.silent = true
				w.probes[m.id] = probe{Detail: "i/o timeout"}
				w.pod("rc-0-1").linkUp = false
				return w
			},
			kind: actNone,
		},
		{
			name: "does not force a replica the last pass did not see in sync",
			world: func() *world {
				w := healthy(3, 1, threeHosts...)
				m := w.pod("rc-0-0")
				m.silent = true
				w.probes[m.id] = probe{Gone: true, Detail: "refused"}
				w.synced[w.pod("rc-0-1").id] = false
				return w
			},
			kind: actNone,
			check: func(t *testing.T, w *world, a action) {
				if !strings.Contains(a.Blocked, "none of its replicas was in sync") {
					t.Errorf("blocked = %q", a.Blocked)
				}
			},
		},
		{
			name: "meets a restarted pod at its new address on every other node",
			world: func() *world {
				w := healthy(3, 1, threeHosts...)
				p := w.pod("rc-2-1")
				old := p.Addr()
				p.IP = "10.0.9.9"
				p.knownAt = map[int]string{}
				for i := range w.pods {
					p.knownAt[i] = old
				}
				return w
			},
			kind: actMeet,
			check: func(t *testing.T, w *world, a action) {
				if len(a.Plan.Steps) != 5 {
					t.Fatalf("%d meets, want 5:\n%s", len(a.Plan.Steps), a.Plan)
				}
				for _, s := range a.Plan.Steps {
					if m := s.(planner.Meet); m.Peer != w.pod("rc-2-1").id || m.PeerAddr != "10.0.9.9:6379" {
						t.Errorf("meet %v, want rc-2-1 at its new address", m)
					}
				}
			},
		},
		{
			name: "meets every pod with every other after all restarted with new IPs",
			world: func() *world {
				w := healthy(3, 1, threeHosts...)
				for _, p := range w.pods {
					old := p.Addr()
					p.IP = strings.Replace(p.IP, "10.0.", "10.1.", 1)
					p.knownAt = map[int]string{}
					for i := range w.pods {
						p.knownAt[i] = old
					}
				}
				return w
			},
			kind: actMeet,
			check: func(t *testing.T, w *world, a action) {
				if len(a.Plan.Steps) != 30 {
					t.Errorf("%d meets, want 30 (6 x 5)", len(a.Plan.Steps))
				}
			},
		},
		{
			name: "forgets a node no pod holds",
			world: func() *world {
				w := healthy(3, 1, threeHosts...)
				w.stale = []*topology.Node{{ID: nodeID(99), Addr: "10.0.5.5:6379", Flags: topology.FlagReplica | topology.FlagFail, MasterID: w.pod("rc-0-0").id}}
				return w
			},
			kind: actForget,
			check: func(t *testing.T, w *world, a action) {
				if f := a.Plan.Steps[0].(planner.Forget); f.Node != nodeID(99) || len(a.Plan.Steps) != 1 {
					t.Errorf("plan %s, want to forget only %s", a.Plan, nodeID(99))
				}
			},
		},
		{
			name: "forgets nothing while a pod is not ready (its node may be the stranger)",
			world: func() *world {
				w := healthy(3, 1, threeHosts...)
				w.stale = []*topology.Node{{ID: nodeID(99), Addr: "10.0.5.5:6379", Flags: topology.FlagReplica | topology.FlagFail, MasterID: w.pod("rc-0-0").id}}
				w.pod("rc-1-1").Ready = false
				return w
			},
			kind: actNone,
		},
		{
			name: "attaches a new empty pod as a replica of its shard's master",
			world: func() *world {
				w := healthy(3, 1, threeHosts...)
				p := w.pod("rc-1-1")
				p.master, p.offset, p.linkUp = "", 0, false
				return w
			},
			kind: actAttach,
			check: func(t *testing.T, w *world, a action) {
				r := a.Plan.Steps[0].(planner.Replicate)
				if r.Replica != w.pod("rc-1-1").id || r.Master != w.pod("rc-1-0").id {
					t.Errorf("replicate %v, want rc-1-1 -> rc-1-0", r)
				}
			},
		},
		{
			name: "restarts a replica whose link never comes up",
			world: func() *world {
				w := healthy(3, 1, threeHosts...)
				p := w.pod("rc-2-1")
				p.linkUp, p.Age = false, time.Minute
				w.stuck = map[topology.NodeID]bool{p.id: true}
				return w
			},
			kind: actRestartReplica,
			check: func(t *testing.T, w *world, a action) {
				if a.Pod != "rc-2-1" {
					t.Errorf("restarts %s, want rc-2-1", a.Pod)
				}
			},
		},
		{
			name: "gives a young replica pod time to connect",
			world: func() *world {
				w := healthy(3, 1, threeHosts...)
				p := w.pod("rc-2-1")
				p.linkUp, p.Age = false, time.Second
				w.stuck = map[topology.NodeID]bool{p.id: true}
				return w
			},
			kind: actNone,
		},
		{
			name: "leaves a replica in its first sync alone",
			world: func() *world {
				w := healthy(3, 1, threeHosts...)
				p := w.pod("rc-2-1")
				p.linkUp, p.syncing, p.Age = false, true, time.Minute
				w.stuck = map[topology.NodeID]bool{p.id: true}
				return w
			},
			kind: actNone,
		},
		{
			name: "meets a new empty pod before attaching it",
			world: func() *world {
				w := healthy(3, 1, threeHosts...)
				p := w.pod("rc-1-1")
				p.master, p.offset, p.linkUp, p.fresh = "", 0, false, true
				return w
			},
			kind: actMeet,
		},
		{
			name: "moves a replica back to its own shard after replica migration",
			world: func() *world {
				w := healthy(3, 1, threeHosts...)
				w.pod("rc-2-1").master = w.pod("rc-0-0").id
				return w
			},
			kind: actAttach,
			check: func(t *testing.T, w *world, a action) {
				r := a.Plan.Steps[0].(planner.Replicate)
				if r.Replica != w.pod("rc-2-1").id || r.Master != w.pod("rc-2-0").id {
					t.Errorf("replicate %v, want rc-2-1 -> rc-2-0", r)
				}
			},
		},
		{
			name: "repairs a slot left migrating",
			world: func() *world {
				w := healthy(3, 1, threeHosts...)
				w.pod("rc-0-0").migrating = map[int]topology.NodeID{7: w.pod("rc-1-0").id}
				return w
			},
			kind: actRepair,
			check: func(t *testing.T, w *world, a action) {
				if _, ok := a.Plan.Steps[0].(planner.FixOpenSlot); !ok {
					t.Errorf("plan %s, want a FixOpenSlot", a.Plan)
				}
			},
		},
		{
			name: "moves a replica that shares a node with its master when a node is free",
			world: func() *world {
				w := healthy(3, 1, "node-1", "node-2", "node-3", "node-4")
				w.pod("rc-0-1").Host = w.pod("rc-0-0").Host
				return w
			},
			kind: actMoveReplica,
			check: func(t *testing.T, w *world, a action) {
				if a.Pod != "rc-0-1" {
					t.Errorf("moves %s, want rc-0-1 (the replica)", a.Pod)
				}
			},
		},
		{
			name: "leaves a shared node alone when every node holds a member of the shard",
			world: func() *world {
				w := healthy(3, 1, "node-1", "node-2")
				w.pod("rc-0-1").Host = w.pod("rc-0-0").Host
				w.hosts = []string{w.pod("rc-0-0").Host}
				return w
			},
			kind: actNone,
		},
		{
			name: "spreads masters piled up on one node by a graceful failover",
			world: func() *world {
				w := healthy(3, 1, threeHosts...)
				// Shard 1's master moved to node-1 (where shard 0's master is).
				w.pod("rc-1-0").Host = "node-3"
				w.pod("rc-1-1").Host = "node-1"
				w.pod("rc-1-0").master, w.pod("rc-1-1").master = w.pod("rc-1-1").id, ""
				w.pod("rc-1-1").slots, w.pod("rc-1-0").slots = w.pod("rc-1-0").slots, topology.SlotSet{}
				return w
			},
			kind: actFailover,
			check: func(t *testing.T, w *world, a action) {
				f := a.Plan.Steps[0].(planner.Failover)
				if f.Mode != planner.FailoverGraceful || (f.Replica != w.pod("rc-1-0").id && f.Replica != w.pod("rc-0-1").id) {
					t.Errorf("failover %v: want a graceful handover off node-1", f)
				}
			},
		},
		{
			name: "spreads masters through a chain when no direct handover helps",
			world: func() *world {
				w := healthy(3, 1, threeHosts...)
				// After a rolling update: the masters of shards 0 and 1 are on
				// node-1, shard 2's on node-2; shards 0's and 1's replicas are
				// on node-2 too, only shard 2's replica is on node-3.
				for _, s := range []string{"0", "1"} {
					m, r := w.pod("rc-"+s+"-0"), w.pod("rc-"+s+"-1")
					m.Host, r.Host = "node-1", "node-2"
				}
				w.pod("rc-2-0").Host, w.pod("rc-2-1").Host = "node-2", "node-3"
				return w
			},
			kind: actFailover,
			check: func(t *testing.T, w *world, a action) {
				f := a.Plan.Steps[0].(planner.Failover)
				if f.Replica != w.pod("rc-2-1").id || !strings.Contains(a.Message, "first of 2 handovers") {
					t.Errorf("failover %v (%q): want shard 2's master moved to node-3 first, to make room on node-2", f, a.Message)
				}
			},
		},
		{
			name: "waits for one Ready pass before spreading masters",
			world: func() *world {
				w := healthy(3, 1, threeHosts...)
				w.pod("rc-1-0").Host = "node-3"
				w.pod("rc-1-1").Host = "node-1"
				w.pod("rc-1-0").master, w.pod("rc-1-1").master = w.pod("rc-1-1").id, ""
				w.pod("rc-1-1").slots, w.pod("rc-1-0").slots = w.pod("rc-1-0").slots, topology.SlotSet{}
				w.unsettled = true
				return w
			},
			kind: actNone,
		},
		{
			name: "hands over before it meets (one change per pass, most urgent first)",
			world: func() *world {
				w := healthy(3, 1, threeHosts...)
				w.pod("rc-1-0").Terminating = true
				p := w.pod("rc-2-1")
				p.IP = "10.0.9.9"
				p.knownAt = map[int]string{0: "10.0.2.11:6379"}
				return w
			},
			kind: actFailover,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.world()
			a := decide(w.observation())
			if a.Kind != tt.kind {
				t.Fatalf("action %s (%s; blocked: %s), want %s", a.Kind, a.Message, a.Blocked, tt.kind)
			}
			if tt.check != nil {
				tt.check(t, w, a)
			}
		})
	}
}
