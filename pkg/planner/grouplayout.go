package planner

import (
	"fmt"

	"github.com/redkube/redkube/pkg/topology"
)

// GroupLayout returns the plan that creates a cluster whose shards are
// fixed groups of fresh nodes (the operator's shards are StatefulSets: a
// node cannot move between them), and the placement it chose: each group's
// master is the member on the host holding the fewest masters chosen so
// far, then in the zone holding the fewest, then first in the group's
// order; where that greedy choice leaves a host more than its share of
// masters (ceil(groups / hosts)), SpreadMasters' handovers move them while
// some chain of them helps, so the masters start spread whenever the
// groups allow it; the group's other members become its replicas; slots are split
// evenly in group order (SplitEvenly). The plan sets a distinct config
// epoch per node in group order, assigns the slots, has the first master
// MEET every other node and makes the replicas replicate. Plan.Notes name
// each replica that shares a host with its master (the groups leave no
// choice then). Layout places members freely instead.
func GroupLayout(groups [][]Member) (Plan, Placement, error) {
	var pl Placement
	hostMasters, zoneMasters := map[string]int{}, map[string]int{}
	ranges := SplitEvenly(len(groups))
	for g, members := range groups {
		if len(members) == 0 {
			return Plan{}, Placement{}, fmt.Errorf("group %d has no member: %w", g, ErrTooFewNodes)
		}
		best := 0
		for i, m := range members[1:] {
			b := members[best]
			if hostMasters[m.Labels.Host] < hostMasters[b.Labels.Host] ||
				(hostMasters[m.Labels.Host] == hostMasters[b.Labels.Host] && zoneMasters[m.Labels.Zone] < zoneMasters[b.Labels.Zone]) {
				best = i + 1
			}
		}
		pl.Shards = append(pl.Shards, Shard{Master: members[best]})
		master := members[best]
		if master.Labels.Host != "" {
			hostMasters[master.Labels.Host]++
		}
		if master.Labels.Zone != "" {
			zoneMasters[master.Labels.Zone]++
		}
	}
	spreadGroupMasters(groups, &pl)
	for g, members := range groups {
		sh := &pl.Shards[g]
		sh.Slots = topology.RangeSet(ranges[g].Start, ranges[g].End)
		for _, m := range members {
			if m.ID != sh.Master.ID {
				sh.Replicas = append(sh.Replicas, m)
			}
		}
	}
	assign := make([]topology.SlotSet, len(pl.Shards))
	for g := range pl.Shards {
		assign[g] = pl.Shards[g].Slots
	}
	return groupLayoutPlan(groups, pl, assign), pl, nil
}

// spreadGroupMasters moves the chosen masters of pl to other members of
// their groups along SpreadMasters' handovers until no host holds more
// than its share, or no chain of handovers helps. Each handover lowers an
// overfull host and raises none above its share, so it ends.
func spreadGroupMasters(groups [][]Member, pl *Placement) {
	hosts := map[string]bool{}
	for _, members := range groups {
		for _, m := range members {
			if m.Labels.Host != "" {
				hosts[m.Labels.Host] = true
			}
		}
	}
	for {
		shards := make([]SpreadShard, len(groups))
		for g, members := range groups {
			shards[g].MasterHost = pl.Shards[g].Master.Labels.Host
			for _, m := range members {
				if m.ID != pl.Shards[g].Master.ID {
					shards[g].Candidates = append(shards[g].Candidates, SpreadCandidate{ID: m.ID, Host: m.Labels.Host})
				}
			}
		}
		sp := SpreadMasters(shards, len(hosts))
		if len(sp.Path) == 0 {
			return
		}
		for _, h := range sp.Path {
			for _, m := range groups[h.Shard] {
				if m.ID == h.To {
					pl.Shards[h.Shard].Master = m
				}
			}
		}
	}
}

// groupLayoutPlan renders a placement of groups as steps; assign[g] are
// the slots shard g's master is given (none when empty).
func groupLayoutPlan(groups [][]Member, pl Placement, assign []topology.SlotSet) Plan {
	var plan Plan
	epoch := uint64(0)
	for _, members := range groups {
		for _, m := range members {
			epoch++
			plan.Steps = append(plan.Steps, SetConfigEpoch{Node: m.ID, Epoch: epoch})
		}
	}
	for g, sh := range pl.Shards {
		if !assign[g].IsEmpty() {
			plan.Steps = append(plan.Steps, AssignSlots{Node: sh.Master.ID, Slots: assign[g]})
		}
	}
	first := pl.Shards[0].Master
	for _, members := range groups {
		for _, m := range members {
			if m.ID != first.ID {
				plan.Steps = append(plan.Steps, Meet{Node: first.ID, Peer: m.ID, PeerAddr: m.Addr})
			}
		}
	}
	for _, sh := range pl.Shards {
		for _, r := range sh.Replicas {
			plan.Steps = append(plan.Steps, Replicate{Replica: r.ID, Master: sh.Master.ID})
			if sameHost(r, sh.Master) {
				plan.Notes = append(plan.Notes, fmt.Sprintf("replica %s (%s) shares host %s with its master %s (%s)", r.ID.Short(), r.Addr, r.Labels.Host, sh.Master.ID.Short(), sh.Master.Addr))
			}
		}
	}
	return plan
}
