package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/pkg/topology"
)

// statusInput is everything the status of one pass is computed from.
type statusInput struct {
	Generation int64
	Old        redisv1alpha1.RedisClusterStatus
	// Obs is nil when the pass did not get as far as observing Redis.
	Obs *observation
	// Storage is nil when the pass did not observe the claims.
	Storage *storageFinding
	Act     action
	ActErr  error
	Err     error
	Invalid string
	Changed []string
	Now     metav1.Time
	// Resharding is the status.resharding to write.
	Resharding *redisv1alpha1.ReshardingStatus
}

// computeStatus returns the new status. It is pure: conditions that the
// pass could not observe keep their previous value, and a condition's
// lastTransitionTime changes only when its status does.
func computeStatus(in statusInput) redisv1alpha1.RedisClusterStatus {
	out := *in.Old.DeepCopy()
	out.ObservedGeneration = in.Generation
	out.Resharding = in.Resharding
	set := func(t redisv1alpha1.ConditionType, ok bool, reason redisv1alpha1.ConditionReason, msg string) {
		s := metav1.ConditionFalse
		if ok {
			s = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&out.Conditions, metav1.Condition{
			Type: t.String(), Status: s, Reason: reason.String(), Message: msg,
			ObservedGeneration: in.Generation, LastTransitionTime: in.Now,
		})
	}

	// Degraded and Progressing always describe this pass.
	switch {
	case in.Invalid != "":
		set(redisv1alpha1.ConditionDegraded, true, redisv1alpha1.ReasonInvalidSpec, in.Invalid)
	case in.Err != nil && errors.Is(in.Err, reconcile.TerminalError(nil)):
		set(redisv1alpha1.ConditionDegraded, true, redisv1alpha1.ReasonInvalidSpec, in.Err.Error())
	case in.Err != nil:
		set(redisv1alpha1.ConditionDegraded, true, redisv1alpha1.ReasonReconcileError, in.Err.Error())
	}
	if in.Storage != nil {
		f := in.Storage
		set(redisv1alpha1.ConditionStorageBound, f.Bound, f.Reason, f.Message)
	}

	o := in.Obs
	if o == nil {
		progress(set, in, false, "")
		return out
	}
	shards := o.shards()
	out.Shards = shardStatuses(shards)
	out.ReadyNodes = readyNodes(o)
	ok, _ := slotCounts(o)
	out.SlotsOK = int32(ok)

	boot := o.bootstrapped()
	podsOK := o.podsComplete()
	slotsCovered, slotsReason, slotsMsg := slotsCondition(o, ok)
	set(redisv1alpha1.ConditionSlotsCovered, slotsCovered, slotsReason, slotsMsg)
	inSync, syncReason, syncMsg := syncCondition(o, shards)
	set(redisv1alpha1.ConditionReplicasInSync, inSync, syncReason, syncMsg)
	placed, placeReason, placeMsg := placementCondition(o)
	set(redisv1alpha1.ConditionReplicasPlaced, placed, placeReason, placeMsg)

	stateOK := boot && allStateOK(o)
	retiring := o.retiringLeft() || in.Resharding != nil
	outdated, all := o.outdated()
	ready := in.Err == nil && in.Act.Kind == actNone && podsOK && boot && slotsCovered && inSync && stateOK && !retiring && outdated == 0 && !o.SetsPending
	switch {
	case ready:
		set(redisv1alpha1.ConditionReady, true, redisv1alpha1.ReasonClusterReady,
			fmt.Sprintf("%d nodes up, %d slots served, every replica in sync", out.ReadyNodes, ok))
	case in.Act.Kind != actNone:
		set(redisv1alpha1.ConditionReady, false, redisv1alpha1.ReasonTopologyChanging, in.Act.Message)
	case !podsOK:
		set(redisv1alpha1.ConditionReady, false, redisv1alpha1.ReasonPodsNotReady,
			fmt.Sprintf("%d of %d Redis pods ready and answering", out.ReadyNodes, o.expected()))
	case !boot:
		set(redisv1alpha1.ConditionReady, false, redisv1alpha1.ReasonBootstrapPending, "no node serves slots yet")
	case !slotsCovered || !stateOK:
		set(redisv1alpha1.ConditionReady, false, redisv1alpha1.ReasonSlotsNotServed, notOKMessage(slotsMsg, o))
	case !inSync:
		set(redisv1alpha1.ConditionReady, false, redisv1alpha1.ReasonReplicasNotInSync, syncMsg)
	case retiring:
		set(redisv1alpha1.ConditionReady, false, redisv1alpha1.ReasonTopologyChanging, reshardingMessage(o, in.Resharding, in.Act.Blocked))
	case o.SetsPending:
		set(redisv1alpha1.ConditionReady, false, redisv1alpha1.ReasonTopologyChanging, "waiting for the StatefulSet controller to observe the new pod template")
	case outdated > 0:
		msg := fmt.Sprintf("rolling update: %d of %d pods run the current template", all-outdated, all)
		if in.Act.Blocked != "" {
			msg += "; " + in.Act.Blocked
		}
		set(redisv1alpha1.ConditionReady, false, redisv1alpha1.ReasonTopologyChanging, msg)
	default:
		set(redisv1alpha1.ConditionReady, false, redisv1alpha1.ReasonReplicasNotInSync, "the last pass failed")
	}
	if in.Err == nil && in.Invalid == "" {
		degraded(set, o, boot, stateOK, inSync, syncMsg)
	}
	progress(set, in, ready, syncMsg)
	return out
}

// progress sets Progressing.
func progress(set func(redisv1alpha1.ConditionType, bool, redisv1alpha1.ConditionReason, string), in statusInput, ready bool, syncMsg string) {
	switch {
	case in.Act.Kind != actNone:
		set(redisv1alpha1.ConditionProgressing, true, in.Act.Reason, in.Act.Message)
	case len(in.Changed) > 0:
		set(redisv1alpha1.ConditionProgressing, true, redisv1alpha1.ReasonCreatingObjects, "wrote "+strings.Join(in.Changed, ", "))
	case in.Obs != nil && !ready:
		msg := "waiting for Redis pods to be ready"
		if in.Obs.podsComplete() && syncMsg != "" {
			msg = "waiting for replicas to sync: " + syncMsg
		}
		if in.Act.Blocked != "" {
			msg += "; " + in.Act.Blocked
		}
		set(redisv1alpha1.ConditionProgressing, true, redisv1alpha1.ReasonWaitingForPods, msg)
	case in.Obs != nil && ready:
		set(redisv1alpha1.ConditionProgressing, false, redisv1alpha1.ReasonReconciled, "the cluster matches the spec")
	}
}

// degraded sets Degraded from the observation.
func degraded(set func(redisv1alpha1.ConditionType, bool, redisv1alpha1.ConditionReason, string), o *observation, boot, stateOK, inSync bool, syncMsg string) {
	if !boot {
		set(redisv1alpha1.ConditionDegraded, false, redisv1alpha1.ReasonHealthy, "the cluster is being created")
		return
	}
	for _, n := range o.Cons.View.Nodes {
		if _, answered := o.Snap.Nodes[n.ID]; !answered && !o.ownedBy(n.ID).IsEmpty() {
			set(redisv1alpha1.ConditionDegraded, true, redisv1alpha1.ReasonMasterDown,
				fmt.Sprintf("master %s (%s) serving %d slots does not answer", n.ID.Short(), n.Addr, o.ownedBy(n.ID).Count()))
			return
		}
	}
	if !stateOK {
		set(redisv1alpha1.ConditionDegraded, true, redisv1alpha1.ReasonClusterStateFail, notOKMessage("", o))
		return
	}
	if !inSync {
		set(redisv1alpha1.ConditionDegraded, true, redisv1alpha1.ReasonReplicaMissing, syncMsg)
		return
	}
	set(redisv1alpha1.ConditionDegraded, false, redisv1alpha1.ReasonHealthy, "full redundancy")
}

// slotsCondition computes SlotsCovered.
func slotsCondition(o *observation, ok int) (bool, redisv1alpha1.ConditionReason, string) {
	if o.Cons == nil || !o.bootstrapped() {
		return false, redisv1alpha1.ReasonSlotsUnassigned, "no slot is assigned yet"
	}
	if c := o.Cons.Covered(); !c.IsFull() {
		return false, redisv1alpha1.ReasonSlotsUnassigned, fmt.Sprintf("%d slots have no owner", topology.SlotCount-c.Count())
	}
	for i := range o.Pods {
		if s := o.Pods[i].Self(); s != nil && (len(s.Migrating) > 0 || len(s.Importing) > 0) {
			return false, redisv1alpha1.ReasonSlotsOpen, fmt.Sprintf("pod %s has %d slots migrating and %d importing", o.Pods[i].Name, len(s.Migrating), len(s.Importing))
		}
	}
	if ok < topology.SlotCount {
		return false, redisv1alpha1.ReasonSlotsOnFailedMaster, fmt.Sprintf("%d slots are owned by a master that does not answer or reports cluster_state:fail", topology.SlotCount-ok)
	}
	if !o.Cons.Disputed.IsEmpty() {
		return false, redisv1alpha1.ReasonNodesDisagree, fmt.Sprintf("nodes disagree about the owner of %d slots", o.Cons.Disputed.Count())
	}
	return true, redisv1alpha1.ReasonAllSlotsServed, "all 16384 slots are served"
}

// reshardingMessage explains a change of spec.masters that is not done.
func reshardingMessage(o *observation, rs *redisv1alpha1.ReshardingStatus, blocked string) string {
	var msg string
	switch {
	case rs != nil:
		msg = fmt.Sprintf("resharding from %d to %d shards: %d slots moved, %d left in the last plan", rs.FromShards, rs.ToShards, rs.SlotsMoved, rs.SlotsRemaining)
	case o.slotsOnRetiring():
		msg = fmt.Sprintf("shards beyond spec.masters (%d) still own slots", o.Masters)
	default:
		msg = fmt.Sprintf("removing the shards beyond spec.masters (%d)", o.Masters)
	}
	if blocked != "" {
		msg += "; " + blocked
	}
	return msg
}

// syncCondition computes ReplicasInSync.
func syncCondition(o *observation, shards []shardObs) (bool, redisv1alpha1.ConditionReason, string) {
	if !o.bootstrapped() {
		return false, redisv1alpha1.ReasonLinkDown, "the cluster does not exist yet"
	}
	for _, sh := range shards {
		for _, r := range sh.Replicas {
			switch {
			case !r.LinkUp:
				return false, redisv1alpha1.ReasonLinkDown, fmt.Sprintf("replica pod %s has its link to the master down (or waits for its first sync)", r.Pod.Name)
			case !r.InSync:
				return false, redisv1alpha1.ReasonReplicationLag, fmt.Sprintf("replica pod %s lags its master", r.Pod.Name)
			}
		}
	}
	if ok, msg := o.replicasInSync(); !ok {
		return false, redisv1alpha1.ReasonLinkDown, msg
	}
	return true, redisv1alpha1.ReasonAllReplicasInSync, "every replica is in sync with its master"
}

// placementCondition computes ReplicasPlaced: no two members of a shard on
// one Kubernetes node, unless there are too few nodes for the spread.
func placementCondition(o *observation) (bool, redisv1alpha1.ConditionReason, string) {
	for shard := 0; shard < o.Masters; shard++ {
		seen := map[string]string{}
		for i := range o.Pods {
			p := &o.Pods[i]
			if p.Shard != shard || p.Host == "" {
				continue
			}
			if other, dup := seen[p.Host]; dup {
				if len(o.Hosts) < 1+o.ReplicasPerMaster {
					return false, redisv1alpha1.ReasonNotEnoughNodes,
						fmt.Sprintf("pods %s and %s of shard %d share node %s: %d schedulable nodes for %d members per shard", other, p.Name, shard, p.Host, len(o.Hosts), 1+o.ReplicasPerMaster)
				}
				return false, redisv1alpha1.ReasonSharedNode, fmt.Sprintf("pods %s and %s of shard %d share node %s", other, p.Name, shard, p.Host)
			}
			seen[p.Host] = p.Name
		}
	}
	return true, redisv1alpha1.ReasonSpreadAcrossNodes, "no two members of a shard share a node"
}

// shardStatuses renders the per-shard summary.
func shardStatuses(shards []shardObs) []redisv1alpha1.ShardStatus {
	out := make([]redisv1alpha1.ShardStatus, 0, len(shards))
	for _, sh := range shards {
		s := redisv1alpha1.ShardStatus{Index: int32(sh.Index), MasterNodeID: string(sh.MasterID), Slots: sh.Slots.String()}
		if sh.Master != nil {
			s.MasterPod = sh.Master.Name
		}
		for _, r := range sh.Replicas {
			s.Replicas = append(s.Replicas, redisv1alpha1.ReplicaStatus{Pod: r.Pod.Name, NodeID: string(r.Pod.ID()), LinkUp: r.LinkUp, InSync: r.InSync})
		}
		out = append(out, s)
	}
	return out
}

// readyNodes counts pods that are Ready, answer, and are part of the cluster.
func readyNodes(o *observation) int32 {
	n := int32(0)
	for i := range o.Pods {
		p := &o.Pods[i]
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
func slotCounts(o *observation) (ok, failing int) {
	if o.Cons == nil || !o.bootstrapped() {
		return 0, 0
	}
	for _, owner := range o.Cons.Owners {
		if owner == "" {
			continue
		}
		if ns, answered := o.Snap.Nodes[owner]; answered && ns.ClusterStateOK {
			ok++
		}
	}
	return ok, topology.SlotCount - ok
}

// allStateOK reports whether every answering pod reports cluster_state:ok.
func allStateOK(o *observation) bool {
	for i := range o.Pods {
		if p := &o.Pods[i]; p.State != nil && !p.Terminating && !p.State.ClusterStateOK {
			return false
		}
	}
	return true
}

// notOKMessage names the pods reporting cluster_state:fail.
func notOKMessage(prefix string, o *observation) string {
	var bad []string
	for i := range o.Pods {
		if p := &o.Pods[i]; p.State != nil && !p.Terminating && !p.State.ClusterStateOK {
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

// isReady reports whether the pass left the Ready condition True.
func isReady(st *state) bool {
	return meta.IsStatusConditionTrue(st.rc.Status.Conditions, redisv1alpha1.ConditionReady.String())
}

// writeStatus computes the status, writes it when it changed, emits the
// storage event on a transition, and updates the gauges.
func (r *Reconciler) writeStatus(ctx context.Context, st *state) error {
	in := statusInput{
		Generation: st.rc.Generation, Old: st.old, Obs: st.obs, Act: st.act, ActErr: st.actErr,
		Err: st.err, Invalid: st.invalid, Changed: st.changed, Now: metav1.NewTime(r.Clock.Now()),
		Resharding: st.resharding,
	}
	if st.kube.zones != nil {
		in.Storage = &st.kube.storage
	}
	next := computeStatus(in)
	if in.Storage != nil && in.Storage.Reason == redisv1alpha1.ReasonStorageClassNotFound {
		prev := meta.FindStatusCondition(st.old.Conditions, redisv1alpha1.ConditionStorageBound.String())
		if prev == nil || prev.Reason != redisv1alpha1.ReasonStorageClassNotFound.String() {
			r.recordStorage(st.rc, *in.Storage)
		}
	}
	if st.obs != nil {
		ok, failing := slotCounts(st.obs)
		setClusterMetrics(st.rc.Namespace, st.rc.Name, st.obs.bootstrapped() && allStateOK(st.obs),
			meta.IsStatusConditionTrue(next.Conditions, redisv1alpha1.ConditionReady.String()), ok, failing)
		remaining := 0
		if next.Resharding != nil {
			remaining = int(next.Resharding.SlotsRemaining)
		}
		outdated, _ := st.obs.outdated()
		setProgressMetrics(st.rc.Namespace, st.rc.Name, remaining, outdated)
	}
	if equality.Semantic.DeepEqual(st.old, next) {
		return nil
	}
	// A merge patch of the whole status, computed from the object this pass
	// read: no conflict with our own previous write still on its way into
	// the cache, and the pass owns every status field anyway.
	base := st.rc.DeepCopy()
	st.rc.Status = next
	if err := r.Client.Status().Patch(ctx, st.rc, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("update status of RedisCluster %s/%s: %w", st.rc.Namespace, st.rc.Name, err)
	}
	return nil
}
