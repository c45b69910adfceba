package v1alpha1

// ConditionType is the type of a condition in RedisClusterStatus.Conditions.
// Every condition carries observedGeneration and one of the Reason constants.
type ConditionType string

const (
	// ConditionReady is True when every Redis node is up and in the cluster,
	// all 16384 slots are served by healthy masters and every replica is in
	// sync with its master. `kubectl wait --for=condition=Ready` waits on it.
	ConditionReady ConditionType = "Ready"
	// ConditionProgressing is True while the operator is changing something:
	// creating or updating objects, bootstrapping, or healing the topology.
	ConditionProgressing ConditionType = "Progressing"
	// ConditionDegraded is True when the cluster serves with reduced
	// redundancy or availability, or when reconciling fails.
	ConditionDegraded ConditionType = "Degraded"
	// ConditionSlotsCovered is True when every slot is assigned to a master
	// that is not failed and no slot is stuck migrating or importing.
	ConditionSlotsCovered ConditionType = "SlotsCovered"
	// ConditionReplicasPlaced is True when no master shares a Kubernetes node
	// with one of its replicas (or when the spread is impossible and the
	// message says so, with status False).
	ConditionReplicasPlaced ConditionType = "ReplicasPlaced"
	// ConditionReplicasInSync is True when every replica's link to its master
	// is up and its replication offset has caught up.
	ConditionReplicasInSync ConditionType = "ReplicasInSync"
	// ConditionStorageBound is True when every data PVC of the cluster is
	// bound; False names the claim and StorageClass that keep it Pending.
	ConditionStorageBound ConditionType = "StorageBound"
	// ConditionStorageResized is True when every data PVC has the capacity
	// of spec.storage.size; False while claims are being expanded, or when
	// their StorageClass does not allow expansion (the message names it).
	ConditionStorageResized ConditionType = "StorageResized"
	// ConditionExternalAccessReady (only with spec.externalAccess) is True
	// when every Redis node announces the external endpoint of its Service;
	// False names the pods whose endpoint is not known or not announced yet.
	ConditionExternalAccessReady ConditionType = "ExternalAccessReady"
	// ConditionUsersApplied (only with spec.users, or users to remove) is
	// True when every running node holds exactly the users of spec.users.
	ConditionUsersApplied ConditionType = "UsersApplied"
)

// String returns the condition type as the string metav1.Condition.Type holds.
func (t ConditionType) String() string { return string(t) }

// ConditionReason is the CamelCase reason of a condition; prose goes in the
// condition's message.
type ConditionReason string

// String returns the reason as the string metav1.Condition.Reason holds.
func (r ConditionReason) String() string { return string(r) }

// Reasons of Ready.
const (
	// ReasonClusterReady: all nodes up, all slots served, all replicas in sync.
	ReasonClusterReady ConditionReason = "ClusterReady"
	// ReasonPodsNotReady: some Redis pods are missing or not ready.
	ReasonPodsNotReady ConditionReason = "PodsNotReady"
	// ReasonBootstrapPending: the pods are up but the cluster was not yet
	// created (no node owns slots).
	ReasonBootstrapPending ConditionReason = "BootstrapPending"
	// ReasonSlotsNotServed: some slots are not served by a healthy master.
	ReasonSlotsNotServed ConditionReason = "SlotsNotServed"
	// ReasonReplicasNotInSync: a replica has not finished its sync or lags.
	ReasonReplicasNotInSync ConditionReason = "ReplicasNotInSync"
	// ReasonTopologyChanging: a topology action (failover, meet, forget,
	// replicate, repair) is under way.
	ReasonTopologyChanging ConditionReason = "TopologyChanging"
)

// Reasons of Progressing.
const (
	// ReasonCreatingObjects: the operator created or updated Kubernetes
	// objects (ConfigMap, Services, StatefulSets, PodDisruptionBudgets).
	ReasonCreatingObjects ConditionReason = "CreatingObjects"
	// ReasonWaitingForPods: the operator waits for pods to be scheduled,
	// started or ready.
	ReasonWaitingForPods ConditionReason = "WaitingForPods"
	// ReasonBootstrapping: the operator is creating the cluster (assigning
	// slots, meeting nodes, attaching replicas).
	ReasonBootstrapping ConditionReason = "Bootstrapping"
	// ReasonFailingOver: the operator hands a master role to a replica.
	ReasonFailingOver ConditionReason = "FailingOver"
	// ReasonRejoiningNodes: nodes came back with new addresses and are being
	// reintroduced (CLUSTER MEET).
	ReasonRejoiningNodes ConditionReason = "RejoiningNodes"
	// ReasonForgettingNodes: nodes that no longer exist are being forgotten.
	ReasonForgettingNodes ConditionReason = "ForgettingNodes"
	// ReasonAttachingReplicas: new or reset nodes are being attached as
	// replicas of their shard's master.
	ReasonAttachingReplicas ConditionReason = "AttachingReplicas"
	// ReasonRepairingSlots: stuck migrating/importing or unassigned slots
	// are being repaired.
	ReasonRepairingSlots ConditionReason = "RepairingSlots"
	// ReasonMovingReplicas: a replica is being moved off its master's node.
	ReasonMovingReplicas ConditionReason = "MovingReplicas"
	// ReasonResharding: slots are moving because spec.masters changed.
	ReasonResharding ConditionReason = "Resharding"
	// ReasonReshardingPaused: a change of spec.masters waits for
	// spec.resharding.paused to be cleared; every slot is served.
	ReasonReshardingPaused ConditionReason = "ReshardingPaused"
	// ReasonRemovingShards: drained shards are leaving the cluster.
	ReasonRemovingShards ConditionReason = "RemovingShards"
	// ReasonUpdatingPods: pods running an older template (image, resources,
	// redis.conf) are being replaced, replicas first, masters after a
	// graceful failover.
	ReasonUpdatingPods ConditionReason = "UpdatingPods"
	// ReasonAnnouncingEndpoints: nodes are told the endpoint to announce
	// (external access, hostnames).
	ReasonAnnouncingEndpoints ConditionReason = "AnnouncingEndpoints"
	// ReasonReconciled: nothing left to do; the cluster matches the spec.
	ReasonReconciled ConditionReason = "Reconciled"
)

// Reasons of Degraded.
const (
	// ReasonHealthy: full redundancy and availability (status False).
	ReasonHealthy ConditionReason = "Healthy"
	// ReasonReconcileError: the last reconcile failed; the message has the error.
	ReasonReconcileError ConditionReason = "ReconcileError"
	// ReasonMasterDown: a master is failed or its pod is gone.
	ReasonMasterDown ConditionReason = "MasterDown"
	// ReasonReplicaMissing: a shard has fewer in-sync replicas than
	// spec.replicasPerMaster.
	ReasonReplicaMissing ConditionReason = "ReplicaMissing"
	// ReasonClusterStateFail: a node reports cluster_state:fail.
	ReasonClusterStateFail ConditionReason = "ClusterStateFail"
	// ReasonInvalidSpec: the spec cannot be satisfied (for example the
	// password Secret or its key is missing); the message names the field.
	ReasonInvalidSpec ConditionReason = "InvalidSpec"
	// ReasonNameConflict: an object the cluster needs exists under its name
	// but is not controlled by this RedisCluster (another cluster's, or
	// someone else's); the operator does not write it. The message names
	// the object and its controller.
	ReasonNameConflict ConditionReason = "NameConflict"
	// ReasonUnschedulable: a Redis pod cannot be scheduled; the message
	// names the pod and quotes the scheduler (no node matches the
	// nodeSelector, too much CPU or memory requested, ...). Also a reason
	// of Ready.
	ReasonUnschedulable ConditionReason = "Unschedulable"
	// ReasonCrashLoopBackOff: a container keeps exiting; the message names
	// the pod and container, the restarts, the last exit code and the last
	// line of its log. Also a reason of Ready.
	ReasonCrashLoopBackOff ConditionReason = "CrashLoopBackOff"
	// ReasonImagePullFailed: a container's image cannot be pulled. Also a
	// reason of Ready.
	ReasonImagePullFailed ConditionReason = "ImagePullFailed"
	// ReasonContainerCannotStart: a container cannot be created or started
	// (for example a missing ConfigMap or Secret key). Also a reason of
	// Ready.
	ReasonContainerCannotStart ConditionReason = "ContainerCannotStart"
	// ReasonPodCreateFailed: a shard's StatefulSet cannot create a pod (for
	// example a missing PriorityClass, a quota or Pod Security admission);
	// the message quotes the StatefulSet controller's FailedCreate event.
	// Also a reason of Ready.
	ReasonPodCreateFailed ConditionReason = "PodCreateFailed"
)

// Reasons of SlotsCovered.
const (
	// ReasonAllSlotsServed: every slot is owned by a healthy master.
	ReasonAllSlotsServed ConditionReason = "AllSlotsServed"
	// ReasonSlotsUnassigned: some slots have no owner.
	ReasonSlotsUnassigned ConditionReason = "SlotsUnassigned"
	// ReasonSlotsOnFailedMaster: some slots are owned by a failed master.
	ReasonSlotsOnFailedMaster ConditionReason = "SlotsOnFailedMaster"
	// ReasonSlotsOpen: some slots are stuck migrating or importing.
	ReasonSlotsOpen ConditionReason = "SlotsOpen"
	// ReasonNodesDisagree: nodes disagree about slot ownership.
	ReasonNodesDisagree ConditionReason = "NodesDisagree"
)

// Reasons of ReplicasPlaced.
const (
	// ReasonSpreadAcrossNodes: no master shares a node with its replicas.
	ReasonSpreadAcrossNodes ConditionReason = "SpreadAcrossNodes"
	// ReasonSharedNode: a master and one of its replicas run on one node
	// although enough nodes exist; the operator will move the replica.
	ReasonSharedNode ConditionReason = "SharedNode"
	// ReasonNotEnoughNodes: there are fewer schedulable nodes than members
	// of a shard, so the spread is impossible.
	ReasonNotEnoughNodes ConditionReason = "NotEnoughNodes"
)

// Reasons of ReplicasInSync.
const (
	// ReasonAllReplicasInSync: every replica's link is up and its offset
	// matches its master's.
	ReasonAllReplicasInSync ConditionReason = "AllReplicasInSync"
	// ReasonLinkDown: a replica's replication link is down (includes a
	// replica still waiting for its first sync).
	ReasonLinkDown ConditionReason = "LinkDown"
	// ReasonReplicationLag: a replica's offset lags its master's.
	ReasonReplicationLag ConditionReason = "ReplicationLag"
)

// Reasons of StorageBound.
const (
	// ReasonAllClaimsBound: every data PVC is bound.
	ReasonAllClaimsBound ConditionReason = "AllClaimsBound"
	// ReasonClaimPending: a data PVC is Pending; the message names it.
	ReasonClaimPending ConditionReason = "ClaimPending"
	// ReasonStorageClassNotFound: a data PVC names a StorageClass that does
	// not exist; the message names the StorageClass.
	ReasonStorageClassNotFound ConditionReason = "StorageClassNotFound"
)

// Reasons of StorageResized.
const (
	// ReasonClaimsAtSize: every data PVC has at least spec.storage.size.
	ReasonClaimsAtSize ConditionReason = "ClaimsAtSize"
	// ReasonClaimsResizing: data PVCs were asked for spec.storage.size and
	// have not reached it yet; the message names one and its resize
	// condition (Resizing, FileSystemResizePending).
	ReasonClaimsResizing ConditionReason = "ClaimsResizing"
	// ReasonExpansionNotSupported: the claims' StorageClass does not set
	// allowVolumeExpansion (or is gone); nothing was changed and the
	// message names the class.
	ReasonExpansionNotSupported ConditionReason = "ExpansionNotSupported"
	// ReasonResizeFailed: the resizer reported a failure on a claim
	// (ControllerResizeError, NodeResizeError); the message names it.
	ReasonResizeFailed ConditionReason = "ResizeFailed"
)

// Reasons of ExternalAccessReady.
const (
	// ReasonEndpointsAnnounced: every node announces its external endpoint.
	ReasonEndpointsAnnounced ConditionReason = "EndpointsAnnounced"
	// ReasonLoadBalancerPending: a per-pod LoadBalancer Service has no
	// address yet; the message names it.
	ReasonLoadBalancerPending ConditionReason = "LoadBalancerPending"
	// ReasonNodeAddressUnknown: a pod is not scheduled yet, or its node
	// reports no address (NodePort without spec.externalAccess.address).
	ReasonNodeAddressUnknown ConditionReason = "NodeAddressUnknown"
	// ReasonAnnouncePending: a node does not announce its endpoint yet (it
	// is starting, or the operator is about to set it).
	ReasonAnnouncePending ConditionReason = "AnnouncePending"
	// ReasonEndpointUnreachable: the operator could not connect to a node's
	// external endpoint (client or bus port); the node announces its pod
	// address meanwhile.
	ReasonEndpointUnreachable ConditionReason = "EndpointUnreachable"
)

// Reasons of UsersApplied.
const (
	// ReasonUsersInSync: every running node holds exactly spec.users.
	ReasonUsersInSync ConditionReason = "UsersInSync"
	// ReasonUsersLagging: some nodes do not hold the current users yet
	// (they are being applied, or a node did not answer); the message
	// names them.
	ReasonUsersLagging ConditionReason = "UsersLagging"
	// ReasonUserRulesRejected: Redis rejected a user's rules; nothing of
	// the change was applied and the nodes keep the previous users. The
	// message names the user and quotes Redis.
	ReasonUserRulesRejected ConditionReason = "UserRulesRejected"
	// ReasonUserSecretInvalid: a user's password Secret or key is missing
	// or empty; nothing of the change was applied.
	ReasonUserSecretInvalid ConditionReason = "UserSecretInvalid"
)
