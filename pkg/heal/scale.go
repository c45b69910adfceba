package heal

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// reshard moves slots after Spec.Masters changed: onto the empty masters of
// new groups, and off the groups being removed, as one planner.Rebalance
// over the groups' masters with the retiring ones removed. It starts when a
// group's master holds no slot or a retiring group still owns some, and
// goes on, pass after pass, while Memory.Resharding is set, until the plan
// is empty. It needs a healthy cluster: every slot covered and closed,
// every member up, every replica in sync, every slot owner answering. Each
// pass moves slots for at most MigrationBudget. While Spec.ReshardingPaused
// it moves nothing and says how many slots wait.
func reshard(c *Cluster) (Decision, string) {
	if !c.Spec.Declared || !c.Bootstrapped() || c.Cons == nil {
		return Decision{}, ""
	}
	plan, need, why := ReshardPlan(c)
	if why != "" && need {
		return Decision{}, "resharding waits: " + why
	}
	if !need || len(plan.Steps) == 0 {
		// Nothing is left to move; the resharding is over once no
		// retiring group owns slots any more.
		return Decision{ReshardingDone: c.Memory.Resharding && !c.SlotsOnRetiring()}, ""
	}
	if c.Spec.ReshardingPaused {
		return Decision{}, fmt.Sprintf("resharding paused: %d slots left to move", plan.MigratedSlots())
	}
	moves, slots := 0, 0
	targets := map[int]int{}
	for _, st := range plan.Steps {
		if m, ok := st.(planner.MigrateSlots); ok {
			moves++
			slots += m.Slots.Count()
			if t := c.Member(m.Target); t != nil {
				targets[t.Group] += m.Slots.Count()
			}
		}
	}
	to := make([]string, 0, len(targets))
	for g, n := range targets {
		to = append(to, fmt.Sprintf("shard %d +%d", g, n))
	}
	sort.Strings(to)
	return Decision{
		Kind:      Reshard,
		Reason:    ReasonResharding,
		Message:   fmt.Sprintf("spreading the slots over %d shards: %d slots to move in %d transfers (%s)", c.Spec.Masters, slots, moves, strings.Join(to, ", ")),
		Plan:      plan,
		Budget:    MigrationBudget,
		Resumable: true,
	}, ""
}

// ReshardPlan returns the remaining resharding plan; need is false when no
// resharding is wanted, why names what it waits for.
func ReshardPlan(c *Cluster) (plan planner.Plan, need bool, why string) {
	if !c.Spec.Declared || c.Cons == nil {
		return plan, false, ""
	}
	owners := planner.Ownership{}
	emptyShard := false
	for g := 0; g < c.Spec.Masters; g++ {
		m, serving := c.ShardMaster(g)
		if m == nil || serving > 1 {
			if c.Memory.Resharding {
				return plan, true, fmt.Sprintf("shard %d has no single master", g)
			}
			return plan, false, ""
		}
		owners[m.ID()] = c.OwnedBy(m.ID())
		emptyShard = emptyShard || owners[m.ID()].IsEmpty()
	}
	if slot, ok := c.firstUnserved(); ok {
		return plan, c.Memory.Resharding, fmt.Sprintf("slot %d is not served", slot)
	}
	remove, onRetiring, why := c.foreignOwners(owners)
	if why != "" {
		return plan, c.Memory.Resharding || emptyShard, why
	}
	need = c.Memory.Resharding || emptyShard || onRetiring
	if !need {
		return plan, false, ""
	}
	switch {
	case !c.MembersComplete():
		return plan, true, "not every pod is up"
	case !c.SlotsClosed():
		return plan, true, "slots are open"
	}
	if ok, msg := c.ReplicasInSync(); !ok {
		return plan, true, msg
	}
	plan, err := planner.Rebalance(planner.RebalanceSpec{Owners: owners, Remove: remove, UseEmptyMasters: true})
	if err != nil {
		return plan, true, err.Error()
	}
	return plan, true, ""
}

// firstUnserved returns the first slot no node owns by consensus.
func (c *Cluster) firstUnserved() (int, bool) {
	for slot, id := range c.Cons.Owners {
		if id == "" {
			return slot, true
		}
	}
	return 0, false
}

// foreignOwners adds to owners the slot owners that are not a group's
// master (the masters of retiring groups) and returns them sorted, whether
// one is in a retiring group, and what blocks a resharding (an owner that
// does not answer). Every slot must have an owner.
func (c *Cluster) foreignOwners(owners planner.Ownership) (remove []topology.NodeID, onRetiring bool, why string) {
	for _, id := range c.Cons.Owners {
		if _, ok := owners[id]; ok {
			continue
		}
		m := c.Member(id)
		if m == nil || !m.Live() {
			return nil, false, fmt.Sprintf("slot owner %s does not answer", id.Short())
		}
		onRetiring = onRetiring || c.Retiring(m)
		owners[id] = c.OwnedBy(id)
		remove = append(remove, id)
	}
	sort.Slice(remove, func(a, b int) bool { return remove[a] < remove[b] })
	return remove, onRetiring, ""
}

// removeShards removes the groups Spec.Masters no longer includes, once
// they own no slot and no resharding runs: CLUSTER RESET on each of their
// nodes (so they stop gossiping and cannot rejoin), CLUSTER FORGET of their
// IDs on every node (which also keeps them out for a minute); the platform
// then deletes their objects and storage (Decision.Groups).
func removeShards(c *Cluster) (Decision, string) {
	if !c.Spec.Declared || !c.Bootstrapped() || !c.RetiringLeft() || c.Memory.Resharding || c.SlotsOnRetiring() {
		return Decision{}, ""
	}
	var resets, forgets []planner.Step
	groups := map[int]bool{}
	for _, g := range c.RetiringGroups {
		groups[g] = true
	}
	for i := range c.Members {
		m := &c.Members[i]
		if !c.Retiring(m) {
			continue
		}
		groups[m.Group] = true
		if !m.Live() {
			continue
		}
		id := m.ID()
		if len(m.State.View.Nodes) > 1 {
			resets = append(resets, planner.ResetNode{Node: id})
		}
		if c.knownByStayers(id) {
			forgets = append(forgets, planner.Forget{Node: id})
		}
	}
	list := make([]int, 0, len(groups))
	for g := range groups {
		list = append(list, g)
	}
	sort.Ints(list)
	names := make([]string, len(list))
	for i, g := range list {
		names[i] = strconv.Itoa(g)
	}
	return Decision{
		Kind:    RemoveShards,
		Reason:  ReasonRemovingShards,
		Message: fmt.Sprintf("removing drained shards %s (spec.masters is %d): resetting %d nodes, forgetting %d, deleting their StatefulSets and claims", strings.Join(names, ", "), c.Spec.Masters, len(resets), len(forgets)),
		Plan:    planner.Plan{Steps: append(resets, forgets...)},
		Groups:  list,
	}, ""
}

// knownByStayers reports whether a live member of a group that stays knows
// node id.
func (c *Cluster) knownByStayers(id topology.NodeID) bool {
	for i := range c.Members {
		m := &c.Members[i]
		if m.Live() && !c.Retiring(m) && m.State.View.Node(id) != nil {
			return true
		}
	}
	return false
}
