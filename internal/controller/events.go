package controller

import (
	corev1 "k8s.io/api/core/v1"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/pkg/heal"
)

// Event reasons on the RedisCluster: one Normal event per topology change,
// whose reason is its kind's (heal.Kind.EventReason: Bootstrapped,
// FailedOver, MetNodes, ForgotNodes, AttachedReplicas, RepairedSlots,
// MovedReplica, RestartedReplica, MovedSlots, RemovedShards,
// UpdatedMember), and Warning events for failures and for storage that
// cannot bind.
const (
	// EventFailedOver: a replica took over a master role.
	EventFailedOver = "FailedOver"
	// EventTopologyActionFailed: a topology action failed; the note has the error.
	EventTopologyActionFailed = "TopologyActionFailed"
	// EventStorageClassNotFound: a claim names a StorageClass that does not exist.
	EventStorageClassNotFound = "StorageClassNotFound"
	// EventObjectsUpdated: Kubernetes objects were created or updated.
	EventObjectsUpdated = "ObjectsUpdated"
	// EventInvalidSpec: the spec cannot be satisfied; the note names the field.
	EventInvalidSpec = "InvalidSpec"
	// EventNameConflict: an object the cluster needs is controlled by
	// someone else; the note names it and its controller.
	EventNameConflict = "NameConflict"
	// EventExternalAccessReady: every node announces its external endpoint.
	EventExternalAccessReady = "ExternalAccessReady"
	// EventExternalAccessPending: a node's external endpoint is not known
	// (a load balancer without an address, a node without one).
	EventExternalAccessPending = "ExternalAccessPending"
)

// recordExternal emits the event of a transition of ExternalAccessReady:
// Normal once every node announces its endpoint, Warning when an endpoint
// cannot be known (the clients outside cannot reach that node).
func (r *Reconciler) recordExternal(rc *redisv1alpha1.RedisCluster, f *externalFinding) {
	if r.Recorder == nil {
		return
	}
	if f.Ready {
		r.Recorder.Eventf(rc, nil, corev1.EventTypeNormal, EventExternalAccessReady, "Announce", "%s", f.Message)
		return
	}
	if f.Reason == redisv1alpha1.ReasonAnnouncePending {
		return // the Announce action's own event follows
	}
	r.Recorder.Eventf(rc, nil, corev1.EventTypeWarning, EventExternalAccessPending, "Announce", "%s: %s", f.Reason, f.Message)
}

// recordInvalid emits the Warning event of a spec the pass could not act
// on (reason InvalidSpec or NameConflict), once per new message.
func (r *Reconciler) recordInvalid(rc *redisv1alpha1.RedisCluster, reason, msg string) {
	if r.Recorder == nil {
		return
	}
	r.Recorder.Eventf(rc, nil, corev1.EventTypeWarning, reason, "Reconcile", "%s", msg)
}

// recordAction emits the event of a topology change that ran.
func (r *Reconciler) recordAction(rc *redisv1alpha1.RedisCluster, d heal.Decision, err error) {
	if r.Recorder == nil || d.IsNone() {
		return
	}
	if err != nil {
		r.Recorder.Eventf(rc, nil, corev1.EventTypeWarning, EventTopologyActionFailed, d.Kind.Action(), "%s: %v", d.Message, err)
		return
	}
	r.Recorder.Eventf(rc, nil, corev1.EventTypeNormal, d.Kind.EventReason(), d.Kind.Action(), "%s", d.Message)
}

// recordStorage emits the Warning event naming a missing StorageClass, once
// per transition of the StorageBound condition to StorageClassNotFound.
func (r *Reconciler) recordStorage(rc *redisv1alpha1.RedisCluster, f storageFinding) {
	if r.Recorder == nil {
		return
	}
	r.Recorder.Eventf(rc, nil, corev1.EventTypeWarning, EventStorageClassNotFound, "WaitForStorage",
		"StorageClass %q not found: %s", f.Class, f.Message)
}
