package heal

import (
	"fmt"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// bootstrap creates the cluster once every member the spec asks for is up
// and no node serves slots: one master per group, taken from the group's
// own members (planner.GroupLayout). A same-layout restore is created by
// bootstrapFromShards instead.
func bootstrap(c *Cluster) (Decision, string) {
	if !c.Spec.Declared || len(c.Spec.RestoreShards) > 0 || c.Bootstrapped() || !c.MembersComplete() {
		return Decision{}, ""
	}
	groups := make([][]planner.Member, c.Spec.Masters)
	for i := range c.Members {
		m := &c.Members[i]
		if !c.wanted(m) {
			continue
		}
		s := m.Self()
		if !s.IsMaster() || !s.Slots.IsEmpty() || len(m.State.View.Nodes) != 1 {
			return Decision{}, fmt.Sprintf("pod %s is not a fresh node (it knows %d nodes); not creating the cluster over it", m.Name, len(m.State.View.Nodes))
		}
		groups[m.Group] = append(groups[m.Group], planner.Member{ID: s.ID, Addr: m.Addr, Labels: topology.Labels{Host: m.Host, Zone: m.Zone}})
	}
	plan, _, err := planner.GroupLayout(groups)
	if err != nil {
		return Decision{}, err.Error()
	}
	return Decision{
		Kind:    Bootstrap,
		Reason:  ReasonBootstrapping,
		Message: fmt.Sprintf("creating the cluster: %d masters, %d replicas each", c.Spec.Masters, c.Spec.ReplicasPerMaster),
		Plan:    plan,
	}, ""
}
