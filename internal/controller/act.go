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

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/pkg/executor"
	"github.com/redkube/redkube/pkg/topology"
)

// Bounds of one action.
const (
	// actionTimeout bounds an action that moves no keys.
	actionTimeout = 30 * time.Second
	// repairTimeout bounds a slot repair, which may migrate keys.
	repairTimeout = 5 * time.Minute
	// failoverTimeout bounds waiting for a promoted replica to report itself
	// master (a graceful failover gives up after 5 s on the Redis side).
	failoverTimeout = 10 * time.Second
)

// decideAndAct decides the pass's topology action and carries it out.
func (r *Reconciler) decideAndAct(ctx context.Context, st *state) error {
	if st.obs == nil {
		return nil
	}
	st.act = decide(st.obs)
	if st.act.Kind == actNone {
		if st.resharding != nil && !st.obs.slotsOnRetiring() {
			if _, need, why := reshardPlan(st.obs); !need || why == "" {
				// decideReshard found nothing left to move.
				log.FromContext(ctx).Info("resharding done", "shards", st.rc.Spec.Masters, "slotsMoved", st.resharding.SlotsMoved)
				st.resharding = nil
			}
		}
		return nil
	}
	logger := log.FromContext(ctx)
	logger.Info("topology action", "action", st.act.Kind.String(), "message", st.act.Message)
	start := r.Clock.Now()
	err := r.run(ctx, st)
	r.recordAction(st.rc, st.act, err)
	if err != nil {
		st.actErr = err
		return fmt.Errorf("%s: %w", st.act.Kind, err)
	}
	if st.act.Kind == actFailover {
		mode := "graceful"
		if st.act.Forced {
			mode = "force"
		}
		failoversTotal.WithLabelValues(st.rc.Namespace, st.rc.Name, mode).Inc()
	}
	logger.Info("topology action done", "action", st.act.Kind.String(), "took", r.Clock.Now().Sub(start).String())
	return nil
}

// run executes st.act.
func (r *Reconciler) run(ctx context.Context, st *state) error {
	switch st.act.Kind {
	case actMoveReplica:
		return r.moveReplica(ctx, st, true)
	case actRestartReplica, actUpdatePod:
		return r.moveReplica(ctx, st, false)
	case actReshard:
		return r.reshard(ctx, st)
	}
	timeout := actionTimeout
	if st.act.Kind == actRepair {
		timeout = repairTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := r.executor(st).Run(ctx, st.act.Plan); err != nil {
		return err
	}
	if st.act.Kind == actRemoveShards {
		return r.deleteShards(ctx, st)
	}
	return nil
}

// executor returns an executor over the pass's observed nodes.
func (r *Reconciler) executor(st *state) *executor.Executor {
	return executor.New(st.pool, executor.Endpoints(st.obs.Snap), executor.Options{
		FailoverTimeout:      failoverTimeout,
		PromotionMaxLag:      promotionMaxLag,
		AllowUnsafePromotion: st.act.Forced,
		Logger:               r.logger(),
	})
}

// reshard runs the resharding plan for at most reshardBudget; the executor
// stops at a chunk boundary when the budget runs out, and the next pass
// plans what is left. status.resharding records the progress.
func (r *Reconciler) reshard(ctx context.Context, st *state) error {
	if st.resharding == nil {
		st.resharding = &redisv1alpha1.ReshardingStatus{
			FromShards: int32(servingMasters(st.obs)),
			ToShards:   st.rc.Spec.Masters,
			StartTime:  metav1.NewTime(r.Clock.Now()),
		}
	}
	st.resharding.ToShards = st.rc.Spec.Masters
	bctx, cancel := context.WithTimeout(ctx, reshardBudget)
	defer cancel()
	ex := r.executor(st)
	err := ex.Run(bctx, st.act.Plan)
	p := ex.CurrentProgress()
	st.resharding.SlotsMoved += int32(p.SlotsDone)
	slotsMovedTotal.WithLabelValues(st.rc.Namespace, st.rc.Name).Add(float64(p.SlotsDone))
	st.resharding.SlotsRemaining = int32(p.SlotsTotal - p.SlotsDone)
	if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		log.FromContext(ctx).Info("resharding continues next pass", "slotsMoved", p.SlotsDone, "slotsLeft", p.SlotsTotal-p.SlotsDone, "keysMoved", p.KeysMoved)
		return nil // the budget ran out at a chunk boundary: progress, not failure
	}
	return err
}

// servingMasters counts the masters that own slots by consensus.
func servingMasters(o *observation) int {
	if o.Cons == nil {
		return 0
	}
	seen := map[topology.NodeID]bool{}
	for _, id := range o.Cons.Owners {
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
	for _, shard := range st.act.Shards {
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

// moveReplica deletes a replica's claim (withClaim), then its pod (only the
// pod that was observed, by UID): the StatefulSet recreates both and the
// scheduler places the pod away from its shard; the new empty node is
// attached as a replica and the old node ID forgotten by later passes.
// Without the claim it is a plain restart of the replica.
func (r *Reconciler) moveReplica(ctx context.Context, st *state, withClaim bool) error {
	var pod *corev1.Pod
	for i := range st.kube.pods {
		if st.kube.pods[i].Name == st.act.Pod {
			pod = &st.kube.pods[i]
		}
	}
	if pod == nil {
		return fmt.Errorf("pod %s is gone", st.act.Pod)
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
