// Package healtest builds observations for the tests of pkg/heal and of its
// callers: a small world of members and Redis nodes built with option
// helpers, from which the snapshot is derived exactly as a gather derives
// it. It does no I/O.
package healtest

import (
	"fmt"

	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// NodeID returns a deterministic node ID.
func NodeID(i int) topology.NodeID { return topology.NodeID(fmt.Sprintf("%040x", i+1)) }

// World is a cluster under construction, as the operator sees it: members
// are pods of fixed groups (shards), the platform recreates them and knows
// them all.
type World struct {
	Masters, Replicas int
	Pods              []*Pod
	// Stale are nodes that every view knows but no pod holds.
	Stale []*topology.Node
	// Gone are masters that views know but that do not answer.
	Gone   []*topology.Node
	Hosts  []string
	Probes map[topology.NodeID]heal.Probe
	Synced map[topology.NodeID]bool
	Stuck  map[topology.NodeID]bool
	// Unsettled: the previous pass was not Ready.
	Unsettled bool
	// Resharding: a change of spec.masters has not finished.
	Resharding bool
	// ReshardingPaused: the spec holds the slot moves.
	ReshardingPaused bool
	// RetiringGroups are groups beyond Masters still on the platform.
	RetiringGroups []int
	// GroupsPending: the platform has not caught up with a new template.
	GroupsPending bool
	// RestoreShards are a same-layout restore's shards (Spec.RestoreShards).
	RestoreShards []topology.SlotSet
}

// Pod is a member and its node.
type Pod struct {
	heal.Member
	NodeID  topology.NodeID
	Master  topology.NodeID // replica of; "" for a master
	Slots   topology.SlotSet
	Offset  int64
	LinkUp  bool
	Syncing bool
	// Fresh is a new node that knows only itself.
	Fresh bool
	// Silent does not answer.
	Silent bool
	// KnownAt gives, per other pod index, the address it knows this pod
	// at ("" = unknown).
	KnownAt   map[int]string
	Migrating map[int]topology.NodeID
	StateOK   bool
	// Announced is what the node announces (nil: its address, bus port
	// 16379, no hostname): its own line shows it, and peers list it where
	// KnownAt says nothing.
	Announced *topology.Endpoint
}

// Healthy returns a healthy masters x replicas cluster on len(hosts) hosts:
// shard s's master is ordinal 0 on host s, its replicas on the next hosts.
func Healthy(masters, replicas int, hosts ...string) *World {
	w := &World{Masters: masters, Replicas: replicas, Hosts: hosts, Probes: map[topology.NodeID]heal.Probe{}, Synced: map[topology.NodeID]bool{}}
	ranges := planner.SplitEvenly(masters)
	n := 0
	for s := range masters {
		var mid topology.NodeID
		for o := 0; o <= replicas; o++ {
			p := w.newPod(s, o, n)
			if o == 0 {
				mid = p.NodeID
				p.Slots = topology.RangeSet(ranges[s].Start, ranges[s].End)
			} else {
				p.Master = mid
				w.Synced[p.NodeID] = true
			}
			w.Pods = append(w.Pods, p)
			n++
		}
	}
	return w
}

// newPod returns pod o of shard s with node n, answering and in sync.
func (w *World) newPod(s, o, n int) *Pod {
	return &Pod{
		Member: heal.Member{
			Name: fmt.Sprintf("rc-%d-%d", s, o), Group: s, Ordinal: o,
			Addr: fmt.Sprintf("10.0.%d.%d:6379", s, o+10), Host: w.Hosts[(s+o)%len(w.Hosts)], Ready: true,
		},
		NodeID: NodeID(n), Offset: 1000, LinkUp: true, StateOK: true,
	}
}

// AddShard appends shard s's pods as nodes the cluster has met: an empty
// master at ordinal 0 and, with attached, replicas following it (otherwise
// empty masters too). Their node IDs are NodeID(100+10*s+ordinal).
func (w *World) AddShard(s int, attached bool) {
	var mid topology.NodeID
	for o := 0; o <= w.Replicas; o++ {
		p := w.newPod(s, o, 100+10*s+o)
		p.Offset = 0
		if o == 0 {
			mid = p.NodeID
		} else if attached {
			p.Master = mid
			w.Synced[p.NodeID] = true
		}
		w.Pods = append(w.Pods, p)
	}
}

// Fresh returns masters x replicas pods that run but form no cluster yet.
func Fresh(masters, replicas int, hosts ...string) *World {
	w := Healthy(masters, replicas, hosts...)
	for _, p := range w.Pods {
		p.Master, p.Slots, p.Fresh, p.Offset, p.LinkUp = "", topology.SlotSet{}, true, 0, false
	}
	w.Synced = map[topology.NodeID]bool{}
	return w
}

// FreshFromShards returns masters x replicas pods started for a
// same-layout restore of shards: each shard's pod of ordinal 0 knows only
// itself and serves claimed[s] (the slots its keys are in), the others
// are fresh and empty.
func FreshFromShards(replicas int, shards, claimed []topology.SlotSet, hosts ...string) *World {
	w := Fresh(len(shards), replicas, hosts...)
	w.RestoreShards = shards
	for _, p := range w.Pods {
		if p.Ordinal == 0 {
			p.Slots = claimed[p.Group]
		}
	}
	return w
}

// Pod returns the pod named name.
func (w *World) Pod(name string) *Pod {
	for _, p := range w.Pods {
		if p.Name == name {
			return p
		}
	}
	panic("no pod " + name)
}

// Line is the node's CLUSTER NODES line as seen by a peer that knows it at
// addr (its announced endpoint when addr is the announced address).
func (p *Pod) Line(addr string) *topology.Node {
	n := &topology.Node{ID: p.NodeID, Addr: addr, BusPort: 16379, MasterID: p.Master, Slots: p.Slots, Connected: true, Migrating: p.Migrating}
	if a := p.Announced; a != nil && addr == a.Addr() {
		n.BusPort, n.Hostname = a.BusPort, a.Hostname
	}
	if p.Master == "" {
		n.Flags = topology.FlagMaster
	} else {
		n.Flags = topology.FlagReplica
	}
	return n
}

// announcedAddr is the address the pod's node announces.
func (p *Pod) announcedAddr() string {
	if p.Announced != nil {
		return p.Announced.Addr()
	}
	return p.Addr
}

// Observation derives the observation: views and snapshot.
func (w *World) Observation() heal.Observation {
	o := heal.Observation{
		Spec:     heal.Spec{Declared: true, Masters: w.Masters, ReplicasPerMaster: w.Replicas, ReshardingPaused: w.ReshardingPaused, RestoreShards: w.RestoreShards},
		Platform: heal.Platform{Recreates: true, AuthoritativeMembers: true},
		Hosts:    w.Hosts, Probes: w.Probes, RetiringGroups: w.RetiringGroups, GroupsPending: w.GroupsPending,
		Memory: heal.Memory{LastInSync: w.Synced, StuckLinks: w.Stuck, WasReady: !w.Unsettled, Resharding: w.Resharding},
	}
	snap := &topology.Snapshot{Nodes: map[topology.NodeID]*topology.NodeState{}, Unreachable: map[string]string{}}
	for i, p := range w.Pods {
		m := p.Member
		if !p.Silent {
			ns := w.state(i, p)
			snap.Nodes[p.NodeID] = ns
			m.State = ns
		}
		o.Members = append(o.Members, m)
	}
	o.Snap = snap
	return o
}

// Cluster derives the observation.
func (w *World) Cluster() *heal.Cluster { return heal.Derive(w.Observation()) }

// Decide runs the default chain on the world.
func (w *World) Decide() heal.Decision { return heal.DefaultChain().Decide(w.Cluster()) }

// state is what pod i's node reports.
func (w *World) state(i int, p *Pod) *topology.NodeState {
	v := &topology.View{}
	self := p.Line(p.announcedAddr())
	self.Flags |= topology.FlagMyself
	v.Nodes = append(v.Nodes, self)
	if !p.Fresh {
		v.Nodes = append(v.Nodes, w.peerLines(i)...)
	}
	role := "master"
	if p.Master != "" {
		role = "slave"
	}
	return &topology.NodeState{
		Addr: p.Addr, View: v, ClusterStateOK: p.StateOK && !p.Fresh,
		Replication: topology.Replication{Role: role, MasterLinkUp: p.LinkUp, MasterSyncInProgress: p.Syncing, Offset: p.Offset},
		Labels:      topology.Labels{Host: p.Host},
	}
}

// peerLines are the lines pod i's node reports for the other nodes: every
// pod that is not fresh, at the address KnownAt gives (none when it gives
// ""), then the stale and gone nodes.
func (w *World) peerLines(i int) []*topology.Node {
	var out []*topology.Node
	for j, q := range w.Pods {
		if j == i || q.Fresh {
			continue
		}
		addr, ok := q.KnownAt[i]
		if !ok {
			addr = q.announcedAddr()
		}
		if addr != "" {
			out = append(out, q.Line(addr))
		}
	}
	for _, n := range append(append([]*topology.Node{}, w.Stale...), w.Gone...) {
		out = append(out, n.Clone())
	}
	return out
}
