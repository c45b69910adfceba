package storage

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// Event reasons of volume expansion, recorded on claims (the words of the
// Kubernetes CSI resizer).
const (
	ReasonResizing               = "Resizing"
	ReasonVolumeResizeSuccessful = "VolumeResizeSuccessful"
	ReasonVolumeResizeFailed     = "VolumeResizeFailed"
)

// AnnStorageResizer names the resizer that expands a claim. The expand
// controller of kube-controller-manager finds no in-tree plugin able to
// expand a local or hostPath volume, so it only records "waiting for an
// external controller to expand this PVC"; like an external resizer, this
// provisioner marks the claims it expands with its name.
const AnnStorageResizer = "volume.kubernetes.io/storage-resizer"

// resizeClaim expands the bound volume of claim when the claim asks for
// more than it has, in the steps of an external resizer, each safe to
// repeat after a crash:
//  1. mark the claim Resizing (condition, allocatedResources and the
//     resizer annotation);
//  2. raise the PersistentVolume's spec.capacity;
//  3. set the claim's status.capacity and clear the resize conditions.
//
// A directory has no file system of its own to grow, so there is no
// node step (FileSystemResizePending never appears).
func (p *Provisioner) resizeClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	if claim.Status.Phase != corev1.ClaimBound || claim.DeletionTimestamp != nil {
		return nil
	}
	want, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return nil
	}
	have := claim.Status.Capacity[corev1.ResourceStorage]
	if want.Cmp(have) <= 0 {
		return nil
	}
	pv, err := p.volumes.Get(claim.Spec.VolumeName)
	if err != nil {
		return fmt.Errorf("get PersistentVolume %s of claim %s/%s: %w", claim.Spec.VolumeName, claim.Namespace, claim.Name, err)
	}
	if pv.Annotations[annProvisionedBy] != ProvisionerName || pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != claim.UID {
		return nil // not ours, or not bound to this claim
	}
	name := claim.Namespace + "/" + claim.Name
	if !isResizing(claim) {
		next := claim.DeepCopy()
		metav1.SetMetaDataAnnotation(&next.ObjectMeta, AnnStorageResizer, ProvisionerName)
		setResizeCondition(next, corev1.PersistentVolumeClaimResizing)
		if next.Status.AllocatedResources == nil {
			next.Status.AllocatedResources = corev1.ResourceList{}
		}
		next.Status.AllocatedResources[corev1.ResourceStorage] = want
		if next.Status.AllocatedResourceStatuses == nil {
			next.Status.AllocatedResourceStatuses = map[corev1.ResourceName]corev1.ClaimResourceStatus{}
		}
		next.Status.AllocatedResourceStatuses[corev1.ResourceStorage] = corev1.PersistentVolumeClaimControllerResizeInProgress
		if err := p.patchClaimStatus(ctx, claim, next); err != nil {
			return err
		}
		p.recorder.Eventf(claim, corev1.EventTypeNormal, ReasonResizing, "External resizer is resizing volume %s", pv.Name)
		claim = next
	}
	if cur := pv.Spec.Capacity[corev1.ResourceStorage]; cur.Cmp(want) < 0 {
		next := pv.DeepCopy()
		next.Spec.Capacity[corev1.ResourceStorage] = want
		if _, err := p.client.CoreV1().PersistentVolumes().Update(ctx, next, metav1.UpdateOptions{}); err != nil {
			err = fmt.Errorf("resize PersistentVolume %s to %s: %w", pv.Name, want.String(), err)
			p.recorder.Event(claim, corev1.EventTypeWarning, ReasonVolumeResizeFailed, err.Error())
			return err
		}
	}
	next := claim.DeepCopy()
	if next.Status.Capacity == nil {
		next.Status.Capacity = corev1.ResourceList{}
	}
	next.Status.Capacity[corev1.ResourceStorage] = want
	next.Status.Conditions = dropResizeConditions(next.Status.Conditions)
	delete(next.Status.AllocatedResourceStatuses, corev1.ResourceStorage)
	if len(next.Status.AllocatedResourceStatuses) == 0 {
		next.Status.AllocatedResourceStatuses = nil
	}
	if err := p.patchClaimStatus(ctx, claim, next); err != nil {
		return err
	}
	p.log.Info("volume resized", "claim", name, "volume", pv.Name, "from", have.String(), "to", want.String())
	p.recorder.Eventf(claim, corev1.EventTypeNormal, ReasonVolumeResizeSuccessful, "Resized volume %s from %s to %s", pv.Name, quantityOrNone(have), want.String())
	return nil
}

func quantityOrNone(q resource.Quantity) string {
	if q.IsZero() {
		return "nothing"
	}
	return q.String()
}

// isResizing reports whether claim carries the Resizing condition.
func isResizing(claim *corev1.PersistentVolumeClaim) bool {
	for _, c := range claim.Status.Conditions {
		if c.Type == corev1.PersistentVolumeClaimResizing && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// setResizeCondition replaces the claim's resize conditions by t.
func setResizeCondition(claim *corev1.PersistentVolumeClaim, t corev1.PersistentVolumeClaimConditionType) {
	claim.Status.Conditions = append(dropResizeConditions(claim.Status.Conditions), corev1.PersistentVolumeClaimCondition{
		Type: t, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now(),
	})
}

// dropResizeConditions returns conds without the resize conditions.
func dropResizeConditions(conds []corev1.PersistentVolumeClaimCondition) []corev1.PersistentVolumeClaimCondition {
	var out []corev1.PersistentVolumeClaimCondition
	for _, c := range conds {
		switch c.Type {
		case corev1.PersistentVolumeClaimResizing, corev1.PersistentVolumeClaimFileSystemResizePending,
			corev1.PersistentVolumeClaimControllerResizeError, corev1.PersistentVolumeClaimNodeResizeError:
			continue
		}
		out = append(out, c)
	}
	return out
}

// patchClaimStatus writes the difference between old and next (status and
// annotations) through the claim's status subresource, as the Kubernetes
// resizers do.
func (p *Provisioner) patchClaimStatus(ctx context.Context, old, next *corev1.PersistentVolumeClaim) error {
	if equality.Semantic.DeepEqual(old.Status, next.Status) && equality.Semantic.DeepEqual(old.Annotations, next.Annotations) {
		return nil
	}
	oldJSON, err := json.Marshal(old)
	if err != nil {
		return fmt.Errorf("encode claim %s/%s: %w", old.Namespace, old.Name, err)
	}
	nextJSON, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("encode claim %s/%s: %w", next.Namespace, next.Name, err)
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(oldJSON, nextJSON, old)
	if err != nil {
		return fmt.Errorf("diff claim %s/%s: %w", old.Namespace, old.Name, err)
	}
	if _, err := p.client.CoreV1().PersistentVolumeClaims(old.Namespace).Patch(ctx, old.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		return fmt.Errorf("update status of claim %s/%s: %w", old.Namespace, old.Name, err)
	}
	return nil
}
