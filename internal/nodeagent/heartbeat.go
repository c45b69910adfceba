package nodeagent

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// heartbeatLoop renews the node's lease and Ready condition until ctx ends,
// skipping beats while the node is stopped.
func (a *Agent) heartbeatLoop(ctx context.Context, n *node) {
	t := time.NewTicker(a.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		if !n.isStopped() {
			if err := a.renewLease(ctx, n); err != nil && ctx.Err() == nil {
				a.log.Warn("lease renewal failed", "node", n.name, "err", err)
			}
			if err := a.postNodeStatus(ctx, n); err != nil && ctx.Err() == nil {
				a.log.Warn("node status update failed", "node", n.name, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.kick:
		}
	}
}

func (a *Agent) renewLease(ctx context.Context, n *node) error {
	leases := n.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	lease, err := leases.Get(ctx, n.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		nodeObj, err := n.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("get node %s for its lease owner: %w", n.name, err)
		}
		lease = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{
				Name:      n.name,
				Namespace: corev1.NamespaceNodeLease,
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "v1", Kind: "Node", Name: n.name, UID: nodeObj.UID,
				}},
			},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(n.name),
				LeaseDurationSeconds: ptr.To(int32(a.cfg.LeaseDuration / time.Second)),
				RenewTime:            &now,
			},
		}
		if _, err := leases.Create(ctx, lease, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create lease %s: %w", n.name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get lease %s: %w", n.name, err)
	}
	lease.Spec.HolderIdentity = ptr.To(n.name)
	lease.Spec.LeaseDurationSeconds = ptr.To(int32(a.cfg.LeaseDuration / time.Second))
	lease.Spec.RenewTime = &now
	if _, err := leases.Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("renew lease %s: %w", n.name, err)
	}
	return nil
}

// nodeConditionTypes are the conditions the agent owns, with their healthy
// status, reason and message (kubelet's wording).
var nodeConditions = []struct {
	typ     corev1.NodeConditionType
	status  corev1.ConditionStatus
	reason  string
	message string
}{
	{corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"},
	{corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"},
	{corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"},
	{corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"},
}

// postNodeStatus patches the node's conditions when one differs from the
// healthy value or the last heartbeat is older than StatusReportInterval.
func (a *Agent) postNodeStatus(ctx context.Context, n *node) error {
	obj, err := n.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get node %s: %w", n.name, err)
	}
	now := time.Now()
	n.mu.Lock()
	fresh := now.Sub(n.lastHB) < a.cfg.StatusReportInterval
	n.mu.Unlock()
	current := map[corev1.NodeConditionType]corev1.NodeCondition{}
	for _, c := range obj.Status.Conditions {
		current[c.Type] = c
	}
	changed := false
	conds := make([]corev1.NodeCondition, 0, len(nodeConditions))
	for _, want := range nodeConditions {
		c, ok := current[want.typ]
		if !ok || c.Status != want.status || c.Reason != want.reason {
			changed = true
			c.LastTransitionTime = metav1.NewTime(now)
		}
		c.Type, c.Status, c.Reason, c.Message = want.typ, want.status, want.reason, want.message
		c.LastHeartbeatTime = metav1.NewTime(now)
		conds = append(conds, c)
	}
	status := map[string]any{"conditions": conds}
	if port := a.KubeletPort(n.name); port > 0 {
		// Where kube-apiserver finds the node's kubelet endpoint (logs).
		// The endpoints listen on loopback: the node's ExternalIP (the
		// address the host reaches it on) says so; InternalIP stays the
		// bridge address pods see as their hostIP.
		addr := a.cfg.Kubelet.Address.String()
		if obj.Status.DaemonEndpoints.KubeletEndpoint.Port != int32(port) || !hasAddress(obj, corev1.NodeExternalIP, addr) {
			changed = true
		}
		status["daemonEndpoints"] = corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}}
		// A strategic merge by address type keeps the other addresses.
		status["addresses"] = []corev1.NodeAddress{{Type: corev1.NodeExternalIP, Address: addr}}
	}
	if !changed && fresh {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return fmt.Errorf("encode node status patch: %w", err)
	}
	if _, err := n.client.CoreV1().Nodes().Patch(ctx, n.name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		return fmt.Errorf("patch status of node %s: %w", n.name, err)
	}
	n.mu.Lock()
	n.lastHB = now
	n.mu.Unlock()
	return nil
}

func hasAddress(n *corev1.Node, typ corev1.NodeAddressType, addr string) bool {
	for _, a := range n.Status.Addresses {
		if a.Type == typ && a.Address == addr {
			return true
		}
	}
	return false
}
