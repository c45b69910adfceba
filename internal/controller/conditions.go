package controller

import (
	"fmt"
	"strings"
	"time"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/topology"
)

// slotsCondition computes SlotsCovered.
func slotsCondition(c *heal.Cluster, ok int) (bool, redisv1alpha1.ConditionReason, string) {
	if c.Cons == nil || !c.Bootstrapped() {
		return false, redisv1alpha1.ReasonSlotsUnassigned, "no slot is assigned yet"
	}
	if cov := c.Cons.Covered(); !cov.IsFull() {
		return false, redisv1alpha1.ReasonSlotsUnassigned, fmt.Sprintf("%d slots have no owner", topology.SlotCount-cov.Count())
	}
	for i := range c.Members {
		if m := &c.Members[i]; m.OpenSlots() {
			s := m.Self()
			return false, redisv1alpha1.ReasonSlotsOpen, fmt.Sprintf("pod %s has %d slots migrating and %d importing", m.Name, len(s.Migrating), len(s.Importing))
		}
	}
	if ok < topology.SlotCount {
		return false, redisv1alpha1.ReasonSlotsOnFailedMaster, fmt.Sprintf("%d slots are owned by a master that does not answer or reports cluster_state:fail", topology.SlotCount-ok)
	}
	if !c.Cons.Disputed.IsEmpty() {
		return false, redisv1alpha1.ReasonNodesDisagree, fmt.Sprintf("nodes disagree about the owner of %d slots", c.Cons.Disputed.Count())
	}
	return true, redisv1alpha1.ReasonAllSlotsServed, "all 16384 slots are served"
}

// reshardingMessage explains a change of spec.masters that is not done.
func reshardingMessage(c *heal.Cluster, rs *redisv1alpha1.ReshardingStatus, blocked string) string {
	var msg string
	switch {
	case rs != nil && rs.Paused:
		msg = fmt.Sprintf("resharding from %d to %d shards paused by spec.resharding.paused: %d slots moved, %d left; every slot is served", rs.FromShards, rs.ToShards, rs.SlotsMoved, rs.SlotsRemaining)
	case rs != nil:
		msg = fmt.Sprintf("resharding from %d to %d shards: %d slots moved, %d left in the last plan", rs.FromShards, rs.ToShards, rs.SlotsMoved, rs.SlotsRemaining)
		if rs.EstimatedCompletionTime != nil {
			msg += ", expected done at " + rs.EstimatedCompletionTime.UTC().Format(time.RFC3339)
		}
	case c.SlotsOnRetiring():
		msg = fmt.Sprintf("shards beyond spec.masters (%d) still own slots", c.Spec.Masters)
	default:
		msg = fmt.Sprintf("removing the shards beyond spec.masters (%d)", c.Spec.Masters)
	}
	if blocked != "" {
		msg += "; " + blocked
	}
	return msg
}

// syncCondition computes ReplicasInSync.
func syncCondition(c *heal.Cluster) (bool, redisv1alpha1.ConditionReason, string) {
	if !c.Bootstrapped() {
		return false, redisv1alpha1.ReasonLinkDown, "the cluster does not exist yet"
	}
	for _, sh := range c.Shards {
		for _, r := range sh.Replicas {
			switch {
			case !r.LinkUp:
				return false, redisv1alpha1.ReasonLinkDown, fmt.Sprintf("replica pod %s has its link to the master down (or waits for its first sync)", r.Member.Name)
			case !r.InSync:
				return false, redisv1alpha1.ReasonReplicationLag, fmt.Sprintf("replica pod %s lags its master", r.Member.Name)
			}
		}
	}
	if ok, msg := c.ReplicasInSync(); !ok {
		return false, redisv1alpha1.ReasonLinkDown, msg
	}
	return true, redisv1alpha1.ReasonAllReplicasInSync, "every replica is in sync with its master"
}

// placementCondition computes ReplicasPlaced: no two members of a shard on
// one Kubernetes node, unless there are too few nodes for the spread.
func placementCondition(c *heal.Cluster) (bool, redisv1alpha1.ConditionReason, string) {
	if perShard := 1 + c.Spec.ReplicasPerMaster; len(c.Hosts) < perShard {
		// Said before any pod is placed: the members of a shard cannot all
		// get a node of their own, whatever the scheduler does.
		return false, redisv1alpha1.ReasonNotEnoughNodes,
			fmt.Sprintf("%d schedulable nodes for %d members per shard (a master and %d replicas): some shard's members must share a node", len(c.Hosts), perShard, c.Spec.ReplicasPerMaster)
	}
	for shard := 0; shard < c.Spec.Masters; shard++ {
		seen := map[string]string{}
		for i := range c.Members {
			p := &c.Members[i]
			if p.Group != shard || p.Host == "" {
				continue
			}
			if other, dup := seen[p.Host]; dup {
				if len(c.Hosts) < 1+c.Spec.ReplicasPerMaster {
					return false, redisv1alpha1.ReasonNotEnoughNodes,
						fmt.Sprintf("pods %s and %s of shard %d share node %s: %d schedulable nodes for %d members per shard", other, p.Name, shard, p.Host, len(c.Hosts), 1+c.Spec.ReplicasPerMaster)
				}
				return false, redisv1alpha1.ReasonSharedNode, fmt.Sprintf("pods %s and %s of shard %d share node %s", other, p.Name, shard, p.Host)
			}
			seen[p.Host] = p.Name
		}
	}
	return true, redisv1alpha1.ReasonSpreadAcrossNodes, "no two members of a shard share a node"
}

// shardStatuses renders the per-shard summary.
func shardStatuses(shards []heal.Shard) []redisv1alpha1.ShardStatus {
	out := make([]redisv1alpha1.ShardStatus, 0, len(shards))
	for _, sh := range shards {
		s := redisv1alpha1.ShardStatus{Index: int32(sh.Index), MasterNodeID: string(sh.MasterID), Slots: sh.Slots.String()}
		if sh.Master != nil {
			s.MasterPod = sh.Master.Name
		}
		for _, r := range sh.Replicas {
			s.Replicas = append(s.Replicas, redisv1alpha1.ReplicaStatus{Pod: r.Member.Name, NodeID: string(r.Member.ID()), LinkUp: r.LinkUp, InSync: r.InSync})
		}
		out = append(out, s)
	}
	return out
}

// readyNodes counts pods that are Ready, answer, and are part of the cluster.
func readyNodes(c *heal.Cluster) int32 {
	n := int32(0)
	for i := range c.Members {
		p := &c.Members[i]
		s := p.Self()
		if !p.Ready || s == nil {
			continue
		}
		if !s.Slots.IsEmpty() || s.IsReplica() || len(p.State.View.Nodes) > 1 {
			n++
		}
	}
	return n
}

// slotCounts returns the slots served by a master that answers and reports
// cluster_state:ok, and the others (0 failing before the cluster exists).
func slotCounts(c *heal.Cluster) (ok, failing int) {
	if c.Cons == nil || !c.Bootstrapped() {
		return 0, 0
	}
	for _, owner := range c.Cons.Owners {
		if owner == "" {
			continue
		}
		if ns, answered := c.Snap.Nodes[owner]; answered && ns.ClusterStateOK {
			ok++
		}
	}
	return ok, topology.SlotCount - ok
}

// allStateOK reports whether every answering pod reports cluster_state:ok.
func allStateOK(c *heal.Cluster) bool {
	for i := range c.Members {
		if p := &c.Members[i]; p.State != nil && !p.Terminating && !p.State.ClusterStateOK {
			return false
		}
	}
	return true
}

// notOKMessage names the pods reporting cluster_state:fail.
func notOKMessage(prefix string, c *heal.Cluster) string {
	var bad []string
	for i := range c.Members {
		if p := &c.Members[i]; p.State != nil && !p.Terminating && !p.State.ClusterStateOK {
			bad = append(bad, p.Name)
		}
	}
	if len(bad) == 0 {
		return prefix
	}
	msg := "cluster_state:fail on " + strings.Join(bad, ", ")
	if prefix != "" {
		msg = prefix + "; " + msg
	}
	return msg
}
