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
	"github.com/redkube/redkube/pkg/heal"
)

// statusInput is everything the status of one pass is computed from.
type statusInput struct {
	Generation int64
	Old        redisv1alpha1.RedisClusterStatus
	// Cluster is nil when the pass did not get as far as deciding.
	Cluster *heal.Cluster
	// Storage is nil when the pass did not observe the claims.
	Storage *storageFinding
	// Pods is the first pod-level failure (zero: none, or not observed).
	Pods     podFinding
	Decision heal.Decision
	Err      error
	Invalid  string
	// InvalidReason is Invalid's Degraded reason ("" for InvalidSpec).
	InvalidReason redisv1alpha1.ConditionReason
	Changed       []string
	Now           metav1.Time
	// Resharding is the status.resharding to write.
	Resharding *redisv1alpha1.ReshardingStatus
	// External is the external access finding; nil when not observed.
	External *externalFinding
	// StoragePlan is the storage phase's plan; nil when it did not run.
	StoragePlan *storagePlan
	// Restore is spec.restore (nil: none); its progress is Old.Restore,
	// written by the restore controller.
	Restore *redisv1alpha1.RestoreSpec
}

// externalFinding is status.externalAccess and ExternalAccessReady; Off
// removes both (spec.externalAccess unset).
type externalFinding struct {
	Off     bool
	Status  *redisv1alpha1.ExternalAccessStatus
	Ready   bool
	Reason  redisv1alpha1.ConditionReason
	Message string
}

// setFunc sets one condition of the status being computed.
type setFunc func(t redisv1alpha1.ConditionType, ok bool, reason redisv1alpha1.ConditionReason, msg string)

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
		reason := in.InvalidReason
		if reason == "" {
			reason = redisv1alpha1.ReasonInvalidSpec
		}
		set(redisv1alpha1.ConditionDegraded, true, reason, in.Invalid)
	case in.Err != nil && errors.Is(in.Err, reconcile.TerminalError(nil)):
		set(redisv1alpha1.ConditionDegraded, true, redisv1alpha1.ReasonInvalidSpec, in.Err.Error())
	case in.Err != nil:
		set(redisv1alpha1.ConditionDegraded, true, redisv1alpha1.ReasonReconcileError, in.Err.Error())
	case in.Pods.Reason != "":
		set(redisv1alpha1.ConditionDegraded, true, in.Pods.Reason, in.Pods.Message)
	}
	if in.Storage != nil {
		f := in.Storage
		set(redisv1alpha1.ConditionStorageBound, f.Bound, f.Reason, f.Message)
	}
	if p := in.StoragePlan; p != nil && p.Known {
		set(redisv1alpha1.ConditionStorageResized, p.Resized, p.Reason, p.Message)
	}
	if e := in.External; e != nil && e.Off {
		out.ExternalAccess = nil
		meta.RemoveStatusCondition(&out.Conditions, redisv1alpha1.ConditionExternalAccessReady.String())
	} else if e != nil {
		out.ExternalAccess = e.Status
		set(redisv1alpha1.ConditionExternalAccessReady, e.Ready, e.Reason, e.Message)
	}
	c := in.Cluster
	if c == nil {
		progress(set, in, false, "")
		return out
	}
	out.Shards = shardStatuses(c.Shards)
	out.ReadyNodes = readyNodes(c)
	ok, _ := slotCounts(c)
	out.SlotsOK = int32(ok)
	v := judge(c, in, ok)
	set(redisv1alpha1.ConditionSlotsCovered, v.slotsCovered, v.slotsReason, v.slotsMsg)
	set(redisv1alpha1.ConditionReplicasInSync, v.inSync, v.syncReason, v.syncMsg)
	placed, placeReason, placeMsg := placementCondition(c)
	set(redisv1alpha1.ConditionReplicasPlaced, placed, placeReason, placeMsg)
	if in.Restore != nil {
		readiness(restoreGate(set, out.Restore, v.ready), c, in, v, out.ReadyNodes, ok)
	} else {
		readiness(set, c, in, v, out.ReadyNodes, ok)
	}
	if in.Err == nil && in.Invalid == "" && in.Pods.Reason == "" {
		degraded(set, c, v.boot, v.stateOK, v.inSync, v.syncMsg)
	}
	progress(set, in, v.ready, v.syncMsg)
	return out
}

// verdict is what the status concludes from a derived cluster.
type verdict struct {
	boot, podsOK, stateOK, retiring, ready bool
	slotsCovered                           bool
	slotsReason                            redisv1alpha1.ConditionReason
	slotsMsg                               string
	inSync                                 bool
	syncReason                             redisv1alpha1.ConditionReason
	syncMsg                                string
	outdated, all                          int
	surplus                                int
}

// judge computes the verdict; ok is the number of slots served.
func judge(c *heal.Cluster, in statusInput, ok int) verdict {
	v := verdict{boot: c.Bootstrapped(), podsOK: c.MembersComplete()}
	v.slotsCovered, v.slotsReason, v.slotsMsg = slotsCondition(c, ok)
	v.inSync, v.syncReason, v.syncMsg = syncCondition(c)
	v.stateOK = v.boot && allStateOK(c)
	v.retiring = c.RetiringLeft() || in.Resharding != nil
	v.outdated, v.all = c.Outdated()
	v.surplus = c.Surplus()
	v.ready = in.Err == nil && in.Decision.IsNone() && v.podsOK && v.boot && v.slotsCovered && v.inSync && v.stateOK &&
		!v.retiring && v.outdated == 0 && !c.GroupsPending && v.surplus == 0
	return v
}

// readiness sets Ready: True, or False with the first reason that holds.
func readiness(set setFunc, c *heal.Cluster, in statusInput, v verdict, readyNodes int32, ok int) {
	notReady := func(reason redisv1alpha1.ConditionReason, msg string) {
		set(redisv1alpha1.ConditionReady, false, reason, msg)
	}
	switch {
	case v.ready:
		set(redisv1alpha1.ConditionReady, true, redisv1alpha1.ReasonClusterReady,
			fmt.Sprintf("%d nodes up, %d slots served, every replica in sync", readyNodes, ok))
	case !in.Decision.IsNone():
		notReady(redisv1alpha1.ReasonTopologyChanging, in.Decision.Message)
	case !v.podsOK && in.Pods.Reason != "":
		notReady(in.Pods.Reason, in.Pods.Message)
	case !v.podsOK:
		notReady(redisv1alpha1.ReasonPodsNotReady, fmt.Sprintf("%d of %d Redis pods ready and answering", readyNodes, c.Expected()))
	case !v.boot:
		notReady(redisv1alpha1.ReasonBootstrapPending, "no node serves slots yet")
	case !v.slotsCovered || !v.stateOK:
		notReady(redisv1alpha1.ReasonSlotsNotServed, notOKMessage(v.slotsMsg, c))
	case !v.inSync:
		notReady(redisv1alpha1.ReasonReplicasNotInSync, v.syncMsg)
	case v.retiring && in.Resharding != nil && in.Resharding.Paused:
		notReady(redisv1alpha1.ReasonReshardingPaused, reshardingMessage(c, in.Resharding, in.Decision.Blocked))
	case v.retiring:
		notReady(redisv1alpha1.ReasonTopologyChanging, reshardingMessage(c, in.Resharding, in.Decision.Blocked))
	case v.surplus > 0:
		notReady(redisv1alpha1.ReasonTopologyChanging, fmt.Sprintf("removing %d pods beyond spec.replicasPerMaster (%d)", v.surplus, c.Spec.ReplicasPerMaster))
	case c.GroupsPending:
		notReady(redisv1alpha1.ReasonTopologyChanging, "waiting for the StatefulSet controller to observe the new pod template")
	case v.outdated > 0:
		msg := fmt.Sprintf("rolling update: %d of %d pods run the current template", v.all-v.outdated, v.all)
		if in.Decision.Blocked != "" {
			msg += "; " + in.Decision.Blocked
		}
		notReady(redisv1alpha1.ReasonTopologyChanging, msg)
	default:
		notReady(redisv1alpha1.ReasonReplicasNotInSync, "the last pass failed")
	}
}

// progress sets Progressing.
func progress(set setFunc, in statusInput, ready bool, syncMsg string) {
	switch {
	case !in.Decision.IsNone():
		set(redisv1alpha1.ConditionProgressing, true, redisv1alpha1.ConditionReason(in.Decision.Reason), in.Decision.Message)
	case len(in.Changed) > 0:
		set(redisv1alpha1.ConditionProgressing, true, redisv1alpha1.ReasonCreatingObjects, "wrote "+strings.Join(in.Changed, ", "))
	case in.Cluster != nil && !ready:
		msg := "waiting for Redis pods to be ready"
		if in.Cluster.MembersComplete() && syncMsg != "" {
			msg = "waiting for replicas to sync: " + syncMsg
		}
		if in.Decision.Blocked != "" {
			msg += "; " + in.Decision.Blocked
		}
		set(redisv1alpha1.ConditionProgressing, true, redisv1alpha1.ReasonWaitingForPods, msg)
	case in.Cluster != nil && ready:
		set(redisv1alpha1.ConditionProgressing, false, redisv1alpha1.ReasonReconciled, "the cluster matches the spec")
	}
}

// degraded sets Degraded from the observation.
func degraded(set setFunc, c *heal.Cluster, boot, stateOK, inSync bool, syncMsg string) {
	if !boot {
		set(redisv1alpha1.ConditionDegraded, false, redisv1alpha1.ReasonHealthy, "the cluster is being created")
		return
	}
	for _, n := range c.Cons.View.Nodes {
		if _, answered := c.Snap.Nodes[n.ID]; !answered && c.Owns(n.ID) {
			set(redisv1alpha1.ConditionDegraded, true, redisv1alpha1.ReasonMasterDown,
				fmt.Sprintf("master %s (%s) serving %d slots does not answer", n.ID.Short(), n.Addr, c.OwnedBy(n.ID).Count()))
			return
		}
	}
	if !stateOK {
		set(redisv1alpha1.ConditionDegraded, true, redisv1alpha1.ReasonClusterStateFail, notOKMessage("", c))
		return
	}
	if !inSync {
		set(redisv1alpha1.ConditionDegraded, true, redisv1alpha1.ReasonReplicaMissing, syncMsg)
		return
	}
	set(redisv1alpha1.ConditionDegraded, false, redisv1alpha1.ReasonHealthy, "full redundancy")
}

// isReady reports whether the pass left the Ready condition True.
func isReady(st *state) bool {
	return meta.IsStatusConditionTrue(st.rc.Status.Conditions, redisv1alpha1.ConditionReady.String())
}

// recordTransitions emits the events of condition transitions: an invalid
// spec (once per message), a missing StorageClass, external access.
func (r *Reconciler) recordTransitions(st *state, in statusInput, next redisv1alpha1.RedisClusterStatus) {
	if f := in.External; f != nil && !f.Off {
		prev := meta.FindStatusCondition(st.old.Conditions, redisv1alpha1.ConditionExternalAccessReady.String())
		if prev == nil || prev.Reason != f.Reason.String() {
			r.recordExternal(st.rc, f)
		}
	}
	if st.invalid != "" {
		prev := meta.FindStatusCondition(st.old.Conditions, redisv1alpha1.ConditionDegraded.String())
		now := meta.FindStatusCondition(next.Conditions, redisv1alpha1.ConditionDegraded.String())
		if prev == nil || prev.Reason != now.Reason || prev.Message != now.Message {
			r.recordInvalid(st.rc, now.Reason, now.Message)
		}
	}
	if in.Storage != nil && in.Storage.Reason == redisv1alpha1.ReasonStorageClassNotFound {
		prev := meta.FindStatusCondition(st.old.Conditions, redisv1alpha1.ConditionStorageBound.String())
		if prev == nil || prev.Reason != redisv1alpha1.ReasonStorageClassNotFound.String() {
			r.recordStorage(st.rc, *in.Storage)
		}
	}
}

// externalFindingOf is the pass's external access finding: Off without
// spec.externalAccess, nil when the pass did not get to Redis.
func externalFindingOf(st *state) *externalFinding {
	switch {
	case st.rc.Spec.ExternalAccess == nil:
		return &externalFinding{Off: true}
	case st.cluster != nil:
		status, ready, reason, msg := externalStatus(st)
		return &externalFinding{Status: status, Ready: ready, Reason: reason, Message: msg}
	}
	return nil
}

// writeStatus computes the status, writes it when it changed, emits the
// invalid-spec and storage events on a transition, and updates the gauges.
func (r *Reconciler) writeStatus(ctx context.Context, st *state) error {
	in := statusInput{
		Generation: st.rc.Generation, Old: st.old, Cluster: st.cluster, Decision: st.decision,
		Err: st.err, Invalid: st.invalid, InvalidReason: st.invalidReason, Changed: st.changed, Now: metav1.NewTime(r.Clock.Now()),
		Resharding: st.resharding, StoragePlan: st.storage, Restore: st.rc.Spec.Restore,
	}
	if st.kube.observed {
		in.Storage = &st.kube.storage
		in.Pods = st.kube.podIssue
	}
	in.External = externalFindingOf(st)
	next := computeStatus(in)
	recordRestoreChoice(&next, st.restore)
	recordRestoreKeys(&next, st.restoreKeys)
	r.tlsStatus(st, &next)
	r.usersStatus(st, &next, in.Now)
	r.recordTransitions(st, in, next)
	if c := st.cluster; c != nil {
		ok, failing := slotCounts(c)
		setClusterMetrics(st.rc.Namespace, st.rc.Name, c.Bootstrapped() && allStateOK(c),
			meta.IsStatusConditionTrue(next.Conditions, redisv1alpha1.ConditionReady.String()), ok, failing)
		remaining := 0
		if next.Resharding != nil {
			remaining = int(next.Resharding.SlotsRemaining)
		}
		outdated, _ := c.Outdated()
		setProgressMetrics(st.rc.Namespace, st.rc.Name, remaining, outdated)
		setReshardMetrics(st.rc.Namespace, st.rc.Name, next.Resharding, r.Clock.Now())
		noInSync, onMasterHost := replicationRisks(c)
		setRiskMetrics(st.rc.Namespace, st.rc.Name, noInSync, onMasterHost)
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
