package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/redkube/redkube/test/harness"
	"github.com/redkube/redkube/test/writeload"
)

// inPod measures the operator installed as a user installs it, on the same
// local cluster, after the host-process manager has been stopped: helm
// install → Deployment available with a leader, apply → Ready (compared
// with the host process's figure of this run), the leader pod deleted
// (gracefully: the lease is released; forcibly: it expires) → another pod
// holds the lease, and a helm upgrade (new tag) under a writer.
func (b *bench) inPod(ctx context.Context) error {
	if err := b.e.mgr.Stop(); err != nil {
		return fmt.Errorf("stop the host-process manager: %w", err)
	}
	t0 := time.Now()
	op, err := b.e.InstallOperator(ctx, harness.ChartOptions{Chart: b.cfg.chart})
	if err != nil {
		return err
	}
	b.rep.set("in a pod", "helm install → Deployment available, a leader", colOp, since(t0, time.Now()))
	t := newOperatorTarget(b.e, b.op.pool, "inpod")
	t0 = time.Now()
	if err := b.e.ApplyYAML(ctx, "rc-inpod.yaml", redisClusterYAML(t.rc)); err != nil {
		return err
	}
	ready, err := harness.Poll(ctx, 4*time.Minute, 50*time.Millisecond, "RedisCluster Ready", func(ctx context.Context) (bool, error) {
		return t.readySince(ctx, t0)
	})
	if err != nil {
		return err
	}
	b.rep.setText("in a pod", "apply → Ready: in a pod | host process (create above)", colOp,
		fmt.Sprintf("%s | %s", fmtDur(ready.Sub(t0)), b.rep.row("create", "apply → Ready condition True (operator) / bootstrap done by hand (tutorial)").cells[colOp].text))
	for _, force := range []bool{false, true} {
		took, err := b.leaderTakeover(ctx, op, force)
		if err != nil {
			return err
		}
		what := "leader pod deleted (lease released) → another pod leads"
		if force {
			what = "leader pod killed (grace 0, lease expires) → another pod leads"
		}
		b.rep.set("in a pod", what, colOp, dur(took))
	}
	return b.upgrade(ctx, op, t)
}

// leaderTakeover deletes the leader pod and returns how long until another
// manager pod holds the lease.
func (b *bench) leaderTakeover(ctx context.Context, op *harness.Operator, force bool) (time.Duration, error) {
	leader, err := op.WaitLeader(ctx, 2*time.Minute)
	if err != nil {
		return 0, err
	}
	opts := metav1.DeleteOptions{}
	if force {
		opts.GracePeriodSeconds = new(int64)
	}
	t0 := time.Now()
	if err := b.e.Clientset.CoreV1().Pods(op.Namespace()).Delete(ctx, leader, opts); err != nil {
		return 0, fmt.Errorf("delete the leader %s: %w", leader, err)
	}
	at, err := harness.Poll(ctx, 2*time.Minute, 50*time.Millisecond, "another manager pod leads", func(ctx context.Context) (bool, error) {
		name, err := op.Leader(ctx)
		return err == nil && name != leader, err
	})
	if err != nil {
		return 0, err
	}
	return at.Sub(t0), nil
}

// upgrade runs helm upgrade (a new image tag) under a writer on t's
// cluster and reports the writer's errors and the Redis pods restarted.
func (b *bench) upgrade(ctx context.Context, op *harness.Operator, t *target) error {
	before, err := b.e.LivePods(ctx, namespace, t.selector)
	if err != nil {
		return err
	}
	addrs, err := t.addrs(ctx)
	if err != nil {
		return err
	}
	w := writeload.Start(ctx, addrs, "upgrade")
	t0 := time.Now()
	err = op.Upgrade(ctx, "image.tag=0.0.0-bench-upgrade")
	took := time.Since(t0)
	if err == nil {
		_, err = op.WaitLeader(ctx, 2*time.Minute)
	}
	if err == nil {
		err = harness.Sleep(ctx, 5*time.Second)
	}
	res := w.Stop()
	if err != nil {
		return err
	}
	after, err := b.e.LivePods(ctx, namespace, t.selector)
	if err != nil {
		return err
	}
	now := map[string]corev1.Pod{}
	for _, p := range after {
		now[p.Name] = p
	}
	replaced := 0
	for _, p := range before {
		if q, ok := now[p.Name]; !ok || q.UID != p.UID || restarts(q) != restarts(p) {
			replaced++
		}
	}
	b.rep.set("in a pod", "helm upgrade (new tag) → rolled out, a leader", colOp, dur(took))
	b.rep.setValue("in a pod", "writer errors during the upgrade", colOp, float64(res.Errors), fmt.Sprint(res.Errors), "0")
	b.rep.setValue("in a pod", "Redis pods restarted or replaced by the upgrade", colOp, float64(replaced), fmt.Sprint(replaced), "0")
	return nil
}

// restarts sums the restart counts of a pod's containers.
func restarts(p corev1.Pod) int32 {
	var n int32
	for _, s := range p.Status.ContainerStatuses {
		n += s.RestartCount
	}
	return n
}
