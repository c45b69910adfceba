package heal

import (
	"net"
	"sort"
	"time"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// Unmanaged builds the observation of a cluster nobody declared, as rcctl
// heal finds it outside Kubernetes: the members are the nodes that
// answered in snap; each master that owns slots by consensus makes a group
// (ordered by its first slot) with the replicas that follow it; a node
// that holds no slot and follows no such master belongs to no group
// (Group -1) and is attached by the attach rule. The spec is the shape
// found: as many masters as groups, and as many replicas per master as the
// group with the fewest has. A member's host is its label's (the caller's
// host hints) or else its address's host; Hosts are the members' hosts.
// Nothing is remembered between runs: the previous pass counts as calm,
// and the platform neither recreates members nor knows them all, so nodes
// are forgotten only once flagged fail and silent for forgetAfter.
func Unmanaged(snap *topology.Snapshot, now time.Time, forgetAfter time.Duration) Observation {
	o := Observation{Snap: snap, Now: now, ForgetAfter: forgetAfter, Memory: Memory{WasReady: true}}
	if snap == nil {
		return o
	}
	cons := planner.Agree(snap)
	groupOf := masterGroups(cons)
	o.Spec.Masters = len(groupOf)
	replicas := make([]int, len(groupOf))
	hosts := map[string]bool{}
	for _, id := range snap.IDs() {
		ns := snap.Nodes[id]
		self := ns.Self()
		m := Member{Name: ns.Addr, Group: -1, Addr: ns.Addr, Host: ns.Labels.Host, Zone: ns.Labels.Zone, Ready: true, State: ns}
		if m.Host == "" {
			m.Host, _, _ = net.SplitHostPort(ns.Addr)
		}
		hosts[m.Host] = true
		if g, ok := groupOf[id]; ok {
			m.Group = g
		} else if g, ok := groupOf[self.MasterID]; ok && self.IsReplica() {
			m.Group = g
			replicas[g]++
			m.Ordinal = replicas[g]
		}
		o.Members = append(o.Members, m)
	}
	if len(replicas) > 0 {
		o.Spec.ReplicasPerMaster = replicas[0]
		for _, n := range replicas {
			o.Spec.ReplicasPerMaster = min(o.Spec.ReplicasPerMaster, n)
		}
	}
	sort.SliceStable(o.Members, func(a, b int) bool {
		ga, gb := o.Members[a].Group, o.Members[b].Group
		if ga != gb {
			return ga < gb
		}
		return o.Members[a].Ordinal < o.Members[b].Ordinal
	})
	for h := range hosts {
		o.Hosts = append(o.Hosts, h)
	}
	sort.Strings(o.Hosts)
	return o
}

// masterGroups numbers the slot owners of cons by their first slot.
func masterGroups(cons *planner.Consensus) map[topology.NodeID]int {
	out := map[topology.NodeID]int{}
	for _, id := range cons.Owners {
		if _, ok := out[id]; id != "" && !ok {
			out[id] = len(out)
		}
	}
	return out
}
