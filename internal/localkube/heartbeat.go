package localkube

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// LeaseDuration is the duration of the node leases HeartbeatAgent writes
// (the kubelet's nodeLeaseDurationSeconds).
const LeaseDuration = 40 * time.Second

// HeartbeatAgent is a minimal NodeAgentFactory: every
// AgentEnv.HeartbeatInterval it renews each node's Lease in kube-node-lease
// and refreshes its Ready condition, with the node's own identity, and runs
// no pods. It suits control-plane tests that need
// schedulable nodes, and shows node failure: StopNode stops the node's
// heartbeats, so the node lifecycle controller marks it NotReady.
func HeartbeatAgent(_ context.Context, env AgentEnv) (NodeAgent, error) {
	a := &heartbeatAgent{clients: make(map[string]kubernetes.Interface, len(env.Nodes)), stopped: map[string]bool{}}
	for _, n := range env.Nodes {
		cs, err := kubernetes.NewForConfig(env.NodeConfigs[n])
		if err != nil {
			return nil, fmt.Errorf("client of node %s: %w", n, err)
		}
		a.clients[n] = cs
	}
	a.nodes = append(a.nodes, env.Nodes...)
	a.log = env.Logger
	a.interval = env.HeartbeatInterval
	if a.interval <= 0 {
		a.interval = DefaultHeartbeatInterval
	}
	return a, nil
}

type heartbeatAgent struct {
	nodes    []string
	interval time.Duration
	clients  map[string]kubernetes.Interface
	log      *slog.Logger

	mu      sync.Mutex
	stopped map[string]bool
}

func (a *heartbeatAgent) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, n := range a.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.loop(ctx, n)
		}()
	}
	wg.Wait()
	return nil
}

func (a *heartbeatAgent) loop(ctx context.Context, node string) {
	t := time.NewTicker(a.interval)
	defer t.Stop()
	for {
		if !a.isStopped(node) {
			if err := a.beat(ctx, node); err != nil && ctx.Err() == nil {
				a.log.Error("node heartbeat failed", "node", node, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *heartbeatAgent) isStopped(node string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stopped[node]
}

// beat renews the node's lease and marks it Ready with a fresh heartbeat.
func (a *heartbeatAgent) beat(ctx context.Context, node string) error {
	cs := a.clients[node]
	now := metav1.NewMicroTime(time.Now())
	leases := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	lease, err := leases.Get(ctx, node, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		lease = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: node, Namespace: corev1.NamespaceNodeLease},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(node),
				LeaseDurationSeconds: ptr.To(int32(LeaseDuration / time.Second)),
				RenewTime:            &now,
			},
		}
		if _, err := leases.Create(ctx, lease, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create lease: %w", err)
		}
	case err != nil:
		return fmt.Errorf("get lease: %w", err)
	default:
		lease.Spec.RenewTime = &now
		if _, err := leases.Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("renew lease: %w", err)
		}
	}

	// The node lifecycle controller updates the Node too (taints,
	// conditions): a conflict is read again and retried, as a kubelet does.
	ts := metav1.NewTime(now.Time)
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("get node: %w", err)
		}
		markReady(n, ts)
		if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update node status: %w", err)
		}
		return nil
	})
	return err
}

// markReady sets n's Ready condition True with a heartbeat at ts.
func markReady(n *corev1.Node, ts metav1.Time) {
	found := false
	for i := range n.Status.Conditions {
		cond := &n.Status.Conditions[i]
		if cond.Type != corev1.NodeReady {
			continue
		}
		found = true
		if cond.Status != corev1.ConditionTrue {
			cond.Status, cond.LastTransitionTime = corev1.ConditionTrue, ts
		}
		cond.Reason, cond.Message, cond.LastHeartbeatTime = "KubeletReady", "heartbeat from localkube", ts
	}
	if !found {
		n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			Message: "heartbeat from localkube", LastHeartbeatTime: ts, LastTransitionTime: ts,
		})
	}
}

func (a *heartbeatAgent) setStopped(node string, stopped bool) error {
	if _, ok := a.clients[node]; !ok {
		return fmt.Errorf("unknown node %q", node)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopped[node] = stopped
	return nil
}

func (a *heartbeatAgent) StopNode(_ context.Context, name string) error {
	return a.setStopped(name, true)
}

func (a *heartbeatAgent) StartNode(ctx context.Context, name string) error {
	if err := a.setStopped(name, false); err != nil {
		return err
	}
	return a.beat(ctx, name)
}
