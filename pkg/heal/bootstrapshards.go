package heal

import (
	"fmt"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// bootstrapFromShards creates the cluster of a same-layout restore
// (Spec.RestoreShards) once every member the spec asks for is up and none
// knows another node: group i's member of ordinal 0 started on backup
// shard i's RDB and serves the slots its keys are in; it stays the
// group's master, is given the rest of shard i's slots, and the group's
// other members, fresh and empty, become its replicas
// (planner.RestoreLayout). A member of ordinal 0 that claimed a slot
// outside its shard, or any other member that serves slots, blocks the
// create: its data is not what the layout says.
func bootstrapFromShards(c *Cluster) (Decision, string) {
	shards := c.Spec.RestoreShards
	if len(shards) == 0 || !c.Spec.Declared || c.Bootstrapped() || !c.MembersComplete() {
		return Decision{}, ""
	}
	if len(shards) != c.Spec.Masters {
		return Decision{}, fmt.Sprintf("the restore has %d shards and the spec %d masters; not creating the cluster", len(shards), c.Spec.Masters)
	}
	groups := make([][]planner.Member, c.Spec.Masters)
	for g := range groups {
		groups[g] = make([]planner.Member, c.Spec.ReplicasPerMaster+1)
	}
	claimed := make([]topology.SlotSet, c.Spec.Masters)
	for i := range c.Members {
		m := &c.Members[i]
		if !c.wanted(m) {
			continue
		}
		s := m.Self()
		if !c.StartedAlone(m) {
			return Decision{}, fmt.Sprintf("pod %s is not a fresh node (it knows %d nodes); not creating the cluster over it", m.Name, len(m.State.View.Nodes))
		}
		if m.Ordinal != 0 && !s.Slots.IsEmpty() {
			return Decision{}, fmt.Sprintf("pod %s serves slots %s, but only the first pod of a shard starts on the backup's data; not creating the cluster", m.Name, s.Slots.String())
		}
		if m.Ordinal == 0 {
			claimed[m.Group] = s.Slots
		}
		groups[m.Group][m.Ordinal] = planner.Member{ID: s.ID, Addr: m.Addr, Labels: topology.Labels{Host: m.Host, Zone: m.Zone}}
	}
	plan, _, err := planner.RestoreLayout(groups, shards, claimed)
	if err != nil {
		return Decision{}, err.Error()
	}
	claims := 0
	for _, s := range claimed {
		claims += s.Count()
	}
	return Decision{
		Kind:   Bootstrap,
		Reason: ReasonBootstrapping,
		Message: fmt.Sprintf("creating the cluster around the backup's %d shards: each shard's first pod keeps the keys it started with and serves its shard's slots (%d of them claimed at start), %d replicas each",
			c.Spec.Masters, claims, c.Spec.ReplicasPerMaster),
		Plan: plan,
	}, ""
}
