package controller

import (
	corev1 "k8s.io/api/core/v1"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// Event reasons on the RedisCluster: one Normal event per topology action,
// Warning events for failures and for storage that cannot bind.
const (
	// EventBootstrapped: the cluster was created (slots, meets, replicas).
	EventBootstrapped = "Bootstrapped"
	// EventFailedOver: a replica took over a master role.
	EventFailedOver = "FailedOver"
	// EventMetNodes: nodes were introduced at their current addresses.
	EventMetNodes = "MetNodes"
	// EventForgotNodes: nodes no pod holds were forgotten.
	EventForgotNodes = "ForgotNodes"
	// EventAttachedReplicas: nodes were attached as replicas of their shard's master.
	EventAttachedReplicas = "AttachedReplicas"
	// EventRepairedSlots: open or uncovered slots were repaired.
	EventRepairedSlots = "RepairedSlots"
	// EventMovedReplica: a replica sharing a node with its shard was recreated elsewhere.
	EventMovedReplica = "MovedReplica"
	// EventRestartedReplica: a replica whose link never came up was restarted.
	EventRestartedReplica = "RestartedReplica"
	// EventTopologyActionFailed: a topology action failed; the note has the error.
	EventTopologyActionFailed = "TopologyActionFailed"
	// EventStorageClassNotFound: a claim names a StorageClass that does not exist.
	EventStorageClassNotFound = "StorageClassNotFound"
	// EventObjectsUpdated: Kubernetes objects were created or updated.
	EventObjectsUpdated = "ObjectsUpdated"
)

// eventReason returns the event reason of a successful action.
func eventReason(k actionKind) string {
	switch k {
	case actBootstrap:
		return EventBootstrapped
	case actFailover:
		return EventFailedOver
	case actMeet:
		return EventMetNodes
	case actForget:
		return EventForgotNodes
	case actAttach:
		return EventAttachedReplicas
	case actRepair:
		return EventRepairedSlots
	case actMoveReplica:
		return EventMovedReplica
	case actRestartReplica:
		return EventRestartedReplica
	}
	return ""
}

// recordAction emits the event of an action that ran.
func (r *Reconciler) recordAction(rc *redisv1alpha1.RedisCluster, a action, err error) {
	if r.Recorder == nil || a.Kind == actNone {
		return
	}
	if err != nil {
		r.Recorder.Eventf(rc, nil, corev1.EventTypeWarning, EventTopologyActionFailed, a.Kind.String(), "%s: %v", a.Message, err)
		return
	}
	r.Recorder.Eventf(rc, nil, corev1.EventTypeNormal, eventReason(a.Kind), a.Kind.String(), "%s", a.Message)
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
