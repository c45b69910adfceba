package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/pkg/executor"
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
	case actRestartReplica:
		return r.moveReplica(ctx, st, false)
	}
	timeout := actionTimeout
	if st.act.Kind == actRepair {
		timeout = repairTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ex := executor.New(st.pool, executor.Endpoints(st.obs.Snap), executor.Options{
		FailoverTimeout:      failoverTimeout,
		PromotionMaxLag:      promotionMaxLag,
		AllowUnsafePromotion: st.act.Forced,
		Logger:               r.logger(),
	})
	if err := ex.Run(ctx, st.act.Plan); err != nil {
		return err
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
