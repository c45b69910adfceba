package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/pkg/executor"
	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// failoverTimeout bounds waiting for a promoted replica to report itself
// master (a graceful failover gives up after 5 s on the Redis side).
const failoverTimeout = 10 * time.Second

// act carries out the pass's decision within its budget: the plan through
// the executor, then the member operation or the removal of drained
// shards, and records it (event, metrics, status.resharding).
func (r *Reconciler) act(ctx context.Context, st *state) error {
	d := st.decision
	if d.ReshardingDone && st.resharding != nil {
		log.FromContext(ctx).Info("resharding done", "shards", st.rc.Spec.Masters, "slotsMoved", st.resharding.SlotsMoved)
		st.resharding = nil
	}
	r.notePausedResharding(st)
	if d.IsNone() {
		return nil
	}
	logger := log.FromContext(ctx)
	logger.Info("topology action", "action", d.Kind.String(), "message", d.Message)
	start := r.Clock.Now()
	err := r.carryOut(ctx, st)
	r.recordAction(st.rc, d, err)
	if err != nil {
		return fmt.Errorf("%s: %w", d.Kind, err)
	}
	if d.Kind == heal.Failover {
		mode := failoverModes[0]
		if f, ok := d.Plan.Steps[0].(planner.Failover); ok && f.Mode == planner.FailoverTakeover {
			mode = failoverModes[2]
		} else if d.Forced {
			mode = failoverModes[1]
		}
		failoversTotal.WithLabelValues(st.rc.Namespace, st.rc.Name, mode).Inc()
	}
	logger.Info("topology action done", "action", d.Kind.String(), "took", r.Clock.Now().Sub(start).String())
	return nil
}

// carryOut runs the decision's plan for at most its budget, then its
// member operation or shard removal.
func (r *Reconciler) carryOut(ctx context.Context, st *state) error {
	d := st.decision
	if !d.Plan.Empty() {
		if err := r.runPlan(ctx, st); err != nil {
			return err
		}
	}
	switch {
	case len(d.Groups) > 0:
		return r.deleteShards(ctx, st)
	case d.MemberOp != heal.NoMemberOp:
		return r.deletePod(ctx, st, d.Member, d.MemberOp == heal.RecreateMember)
	}
	return nil
}

// runPlan runs the decision's plan through the executor for at most its
// budget. A resumable plan that runs out of budget at a safe boundary made
// progress; the next pass plans the rest from what Redis reports. A
// resharding's progress goes to status.resharding.
func (r *Reconciler) runPlan(ctx context.Context, st *state) error {
	d := st.decision
	bctx, cancel := context.WithTimeout(ctx, d.Budget)
	defer cancel()
	opts := executor.Options{
		FailoverTimeout:      failoverTimeout,
		PromotionMaxLag:      planner.CaughtUpLag,
		AllowUnsafePromotion: d.Forced,
		// Checked under concurrent clients: docs/design/2026-12-05-quiet-handover-default.md.
		QuietHandover: true,
		Logger:        r.logger(),
	}
	if d.Kind == heal.Reshard {
		opts.Rate, opts.Parallel = reshardOptions(st.rc)
	}
	ex := executor.New(st.pool, executor.Endpoints(st.obs.Snap), opts)
	err := ex.Run(bctx, d.Plan)
	p := ex.CurrentProgress()
	if d.Kind == heal.Reshard {
		r.recordResharding(st, p)
	}
	if err != nil && d.Resumable && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		log.FromContext(ctx).Info("budget spent: continuing next pass", "action", d.Kind.String(), "slotsMoved", p.SlotsDone, "slotsLeft", p.SlotsTotal-p.SlotsDone, "keysMoved", p.KeysMoved)
		return nil
	}
	return err
}

// servingMasters counts the masters that own slots by consensus.
func servingMasters(c *heal.Cluster) int {
	if c.Cons == nil {
		return 0
	}
	seen := map[topology.NodeID]bool{}
	for _, id := range c.Cons.Owners {
		if id != "" {
			seen[id] = true
		}
	}
	return len(seen)
}

// deleteShards deletes the StatefulSets, PodDisruptionBudgets and data
// claims of the removed shards. The claims go too: their nodes were reset
// and forgotten, and their data was moved to the remaining shards.
func (r *Reconciler) deleteShards(ctx context.Context, st *state) error {
	rc := st.rc
	remove := map[int]bool{}
	for _, shard := range st.decision.Groups {
		remove[shard] = true
		name := resources.ShardName(rc, shard)
		sts := &appsv1.StatefulSet{}
		sts.Namespace, sts.Name = rc.Namespace, name
		if err := r.Client.Delete(ctx, sts, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete StatefulSet %s: %w", name, err)
		}
		pdb := &policyv1.PodDisruptionBudget{}
		pdb.Namespace, pdb.Name = rc.Namespace, resources.PodDisruptionBudgetName(rc, shard)
		if err := r.Client.Delete(ctx, pdb); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete PodDisruptionBudget %s: %w", pdb.Name, err)
		}
	}
	pvcs := &corev1.PersistentVolumeClaimList{}
	if err := r.Client.List(ctx, pvcs, client.InNamespace(rc.Namespace), client.MatchingLabelsSelector{Selector: resources.ClusterSelector(rc)}); err != nil {
		return fmt.Errorf("list claims: %w", err)
	}
	for i := range pvcs.Items {
		c := &pvcs.Items[i]
		if shard, _, ok := resources.ParseClaimName(rc, c.Name); ok && remove[shard] {
			if err := r.Client.Delete(ctx, c); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete claim %s: %w", c.Name, err)
			}
		}
	}
	return nil
}

// deletePod deletes the pod named name (only the pod that was observed, by
// UID), and first its claim when withClaim is set: the StatefulSet
// recreates both, and the scheduler places a pod whose claim is new away
// from its shard; later passes attach the new empty node as a replica and
// forget the old node ID. Without the claim it is a restart, or the
// replacement of a pod running an old template.
func (r *Reconciler) deletePod(ctx context.Context, st *state, name string, withClaim bool) error {
	var pod *corev1.Pod
	for i := range st.kube.pods {
		if st.kube.pods[i].Name == name {
			pod = &st.kube.pods[i]
		}
	}
	if pod == nil {
		return fmt.Errorf("pod %s is gone", name)
	}
	shard, ordinal, ok := resources.ParsePodName(st.rc, pod.Name)
	if !ok {
		return fmt.Errorf("pod %s is not a pod of %s", pod.Name, st.rc.Name)
	}
	if withClaim {
		pvc := &corev1.PersistentVolumeClaim{}
		pvc.Namespace, pvc.Name = st.rc.Namespace, resources.PVCName(st.rc, shard, ordinal)
		if err := r.Client.Delete(ctx, pvc); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete claim %s: %w", pvc.Name, err)
		}
	}
	if err := r.Client.Delete(ctx, pod, client.Preconditions{UID: &pod.UID}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete pod %s: %w", pod.Name, err)
	}
	return nil
}
