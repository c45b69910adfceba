package controller

import (
	"fmt"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// Fixtures for the pure tests: a small world of pods and Redis nodes built
// with option helpers, from which the snapshot and consensus are derived
// exactly as observeRedis derives them.

// nodeID returns a deterministic node ID.
func nodeID(i int) topology.NodeID { return topology.NodeID(fmt.Sprintf("%040x", i+1)) }

// world is a cluster under construction.
type world struct {
	masters, replicas int
	pods              []*fxPod
	// stale are nodes that every view knows but no pod holds.
	stale []*topology.Node
	// gone are masters that views know but that do not answer.
	gone   []*topology.Node
	hosts  []string
	probes map[topology.NodeID]probe
	synced map[topology.NodeID]bool
	stuck  map[topology.NodeID]bool
	// unsettled: the previous pass was not Ready.
	unsettled bool
}

// fxPod is a pod and its node.
type fxPod struct {
	podObs
	id        topology.NodeID
	master    topology.NodeID // replica of; "" for a master
	slots     topology.SlotSet
	offset    int64
	linkUp    bool
	syncing   bool
	fresh     bool           // a new node that knows only itself
	silent    bool           // does not answer
	knownAt   map[int]string // per other pod index: the address it knows this pod at ("" = unknown)
	migrating map[int]topology.NodeID
	stateOK   bool
}

// healthy returns a healthy masters x replicas cluster on len(hosts) hosts:
// shard s's master is ordinal 0 on host s, its replicas on the next hosts.
func healthy(masters, replicas int, hosts ...string) *world {
	w := &world{masters: masters, replicas: replicas, hosts: hosts, probes: map[topology.NodeID]probe{}, synced: map[topology.NodeID]bool{}}
	ranges := planner.SplitEvenly(masters)
	n := 0
	for s := range masters {
		var mid topology.NodeID
		for o := 0; o <= replicas; o++ {
			p := &fxPod{
				podObs: podObs{
					Name: fmt.Sprintf("rc-%d-%d", s, o), Shard: s, Ordinal: o,
					IP: fmt.Sprintf("10.0.%d.%d", s, o+10), Host: hosts[(s+o)%len(hosts)], Ready: true,
				},
				id: nodeID(n), offset: 1000, linkUp: true, stateOK: true,
			}
			if o == 0 {
				mid = p.id
				p.slots = topology.RangeSet(ranges[s].Start, ranges[s].End)
			} else {
				p.master = mid
				w.synced[p.id] = true
			}
			w.pods = append(w.pods, p)
			n++
		}
	}
	return w
}

// fresh returns masters x replicas pods that run but form no cluster yet.
func fresh(masters, replicas int, hosts ...string) *world {
	w := healthy(masters, replicas, hosts...)
	for _, p := range w.pods {
		p.master, p.slots, p.fresh, p.offset, p.linkUp = "", topology.SlotSet{}, true, 0, false
	}
	w.synced = map[topology.NodeID]bool{}
	return w
}

// pod returns the pod named name.
func (w *world) pod(name string) *fxPod {
	for _, p := range w.pods {
		if p.Name == name {
			return p
		}
	}
	panic("no pod " + name)
}

// line is the node's CLUSTER NODES line as seen by a peer.
func (p *fxPod) line(addr string) *topology.Node {
	n := &topology.Node{ID: p.id, Addr: addr, BusPort: 16379, MasterID: p.master, Slots: p.slots, Connected: true, Migrating: p.migrating}
	if p.master == "" {
		n.Flags = topology.FlagMaster
	} else {
		n.Flags = topology.FlagReplica
	}
	return n
}

// observation derives the observation: views, snapshot and consensus.
func (w *world) observation() *observation {
	o := &observation{Masters: w.masters, ReplicasPerMaster: w.replicas, Hosts: w.hosts, Probes: w.probes, LastInSync: w.synced, StuckLinks: w.stuck, WasReady: !w.unsettled}
	snap := &topology.Snapshot{Nodes: map[topology.NodeID]*topology.NodeState{}, Unreachable: map[string]string{}}
	masterOffset := map[topology.NodeID]int64{}
	for _, p := range w.pods {
		if p.master == "" {
			masterOffset[p.id] = p.offset
		}
	}
	for i, p := range w.pods {
		po := p.podObs
		if !p.silent {
			v := &topology.View{}
			self := p.line(po.Addr())
			self.Flags |= topology.FlagMyself
			v.Nodes = append(v.Nodes, self)
			if !p.fresh {
				for j, q := range w.pods {
					if j == i || q.fresh {
						continue
					}
					addr := q.Addr()
					if q.knownAt != nil {
						a, ok := q.knownAt[i]
						if !ok {
							a = addr
						}
						if a == "" {
							continue
						}
						addr = a
					}
					v.Nodes = append(v.Nodes, q.line(addr))
				}
				for _, n := range append(append([]*topology.Node{}, w.stale...), w.gone...) {
					v.Nodes = append(v.Nodes, n.Clone())
				}
			}
			role := "master"
			if p.master != "" {
				role = "slave"
			}
			ns := &topology.NodeState{
				Addr: po.Addr(), View: v, ClusterStateOK: p.stateOK && !p.fresh,
				Replication: topology.Replication{Role: role, MasterLinkUp: p.linkUp, MasterSyncInProgress: p.syncing, Offset: p.offset},
				Labels:      topology.Labels{Host: po.Host},
			}
			snap.Nodes[p.id] = ns
			po.State = ns
		}
		o.Pods = append(o.Pods, po)
	}
	o.Snap = snap
	o.Cons = planner.Agree(snap)
	return o
}
