package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Defaults applied by the API server (CRD defaults) and by SetDefaults for Go
// callers that build objects without a round trip through the API server.
const (
	// DefaultMasters is the number of masters (shards) when spec.masters is unset.
	DefaultMasters int32 = 3
	// MinMasters is the smallest number of masters a Redis Cluster can fail
	// over with: a failover needs the votes of a majority of masters.
	MinMasters int32 = 3
	// DefaultReplicasPerMaster is the number of replicas per master when unset.
	DefaultReplicasPerMaster int32 = 1
	// DefaultImage is the Redis image when spec.image is unset.
	DefaultImage = "redis:7.0"
	// DefaultStorageSize is the size of each pod's data volume when unset.
	DefaultStorageSize = "1Gi"
	// MaxNodes bounds spec.masters × (1 + spec.replicasPerMaster): Redis
	// Cluster is designed for up to 1000 nodes (its specification's stated
	// goal); every node gossips with every other, so beyond that the bus
	// traffic, not the operator, is the limit.
	MaxNodes = 1000
	// DefaultZoneTopologyKey is the node label that names a node's zone.
	DefaultZoneTopologyKey = "topology.kubernetes.io/zone"
	// DefaultPasswordKey is the key read from the password Secret when unset.
	DefaultPasswordKey = "password"
	// MinNodePort and MaxNodePort bound spec.service.nodePort (the default
	// NodePort range of kube-apiserver).
	MinNodePort int32 = 30000
	// MaxNodePort is the upper bound of spec.service.nodePort.
	MaxNodePort int32 = 32767
)

// ForbiddenConfigKeys are the redis.conf directives the operator owns; the
// CRD refuses them in spec.config (compared case-insensitively, as Redis
// does) with a message saying the operator manages them. The CEL rule is
// generated from this list (ConfigRules); a test checks the CRD holds it.
var ForbiddenConfigKeys = []string{
	"appendfilename",
	"bind",
	"cluster-announce-bus-port",
	"cluster-announce-ip",
	"cluster-announce-port",
	"cluster-config-file",
	"cluster-enabled",
	"cluster-port",
	"daemonize",
	"dbfilename",
	"dir",
	"include",
	"masterauth",
	"masteruser",
	"port",
	"protected-mode",
	"replicaof",
	"requirepass",
	"slaveof",
	// spec.tls sets these (docs/tls.md).
	"tls-auth-clients",
	"tls-ca-cert-file",
	"tls-cert-file",
	"tls-cluster",
	"tls-key-file",
	"tls-port",
	"tls-replication",
}

// ConfigValue is the value of one redis.conf directive in spec.config,
// written verbatim after the directive's name (for example "3600 1 300 100"
// for save). Its type and range depend on the directive (ConfigDirectives).
// +kubebuilder:validation:MaxLength=256
type ConfigValue string

// ServiceType is the kind of Service that gives clients access to the cluster.
// +kubebuilder:validation:Enum=ClusterIP;NodePort
type ServiceType string

const (
	// ServiceTypeClusterIP exposes the cluster inside Kubernetes only.
	ServiceTypeClusterIP ServiceType = "ClusterIP"
	// ServiceTypeNodePort also exposes the cluster on a port of every node.
	ServiceTypeNodePort ServiceType = "NodePort"
)

// AntiAffinity says how strictly the members of one cluster are kept off a
// shared Kubernetes node.
// +kubebuilder:validation:Enum=Required;Preferred
type AntiAffinity string

const (
	// AntiAffinityRequired never schedules two pods of the cluster on one
	// node; pods stay Pending when there are not enough nodes.
	AntiAffinityRequired AntiAffinity = "Required"
	// AntiAffinityPreferred spreads pods over nodes when it can and shares a
	// node when it must (the tutorial's choice).
	AntiAffinityPreferred AntiAffinity = "Preferred"
)

// RedisClusterSpec is the desired state of a Redis Cluster.
//
// +kubebuilder:validation:XValidation:rule="!has(self.service) || !has(self.service.nodePort) || self.service.type == 'NodePort'",fieldPath=".service.nodePort",message="spec.service.nodePort is only allowed when spec.service.type is NodePort"
// +kubebuilder:validation:XValidation:rule="!has(self.externalAccess) || !has(self.announce) || self.announce == 'IP'",fieldPath=".announce",message="spec.announce: Hostname cannot be combined with spec.externalAccess, which announces the external endpoints (set spec.externalAccess.address to a DNS name to announce a name)"
// +kubebuilder:validation:XValidation:rule="!has(self.masters) || self.masters * (1 + (has(self.replicasPerMaster) ? self.replicasPerMaster : 0)) <= 1000",fieldPath=".masters",message="spec.masters × (1 + spec.replicasPerMaster) must be at most 1000 Redis nodes (MaxNodes), the size Redis Cluster is designed for"
// +kubebuilder:validation:XValidation:rule="!has(self.defaultUser) || !has(self.defaultUser.enabled) || self.defaultUser.enabled || !has(self.passwordSecret)",fieldPath=".passwordSecret",message="spec.passwordSecret is the default user's password: unset it when spec.defaultUser.enabled is false"
type RedisClusterSpec struct {
	// Masters is the number of shards, each served by one master; the 16384
	// slots are spread evenly over them. At least 3.
	// +kubebuilder:default=3
	// +kubebuilder:validation:XValidation:rule="self >= 3",message="spec.masters must be at least 3: a Redis Cluster needs a majority of at least 3 masters to fail over"
	// +kubebuilder:validation:XValidation:rule="self <= 1000",message="spec.masters must be at most 1000"
	// +optional
	Masters int32 `json:"masters,omitempty"`

	// ReplicasPerMaster is the number of replicas that follow each master.
	// Unlike the other defaulted fields it is always serialized, so that a
	// Go client can send 0 (no replicas): a manifest may leave it out (1),
	// a Go client sends the value it holds.
	// +kubebuilder:default=1
	// +kubebuilder:validation:XValidation:rule="self >= 0",message="spec.replicasPerMaster must not be negative"
	// +kubebuilder:validation:XValidation:rule="self <= 10",message="spec.replicasPerMaster must be at most 10"
	// +optional
	ReplicasPerMaster int32 `json:"replicasPerMaster"`

	// Image is the container image that runs redis-server.
	// +kubebuilder:default="redis:7.0"
	// +kubebuilder:validation:MinLength=1
	// +optional
	Image string `json:"image,omitempty"`

	// Resources are the compute resources of each Redis container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// Storage describes the persistent volume each Redis pod keeps its data
	// (AOF, RDB and nodes.conf) on.
	// +kubebuilder:default={}
	// +optional
	Storage StorageSpec `json:"storage,omitempty"`

	// Config holds redis.conf directives added to the operator's own (for
	// example maxmemory or maxmemory-policy). Only the directives of
	// ConfigDirectives are allowed, with values of their type and range
	// (docs/configuration.md); directives the operator owns
	// (ForbiddenConfigKeys) are refused with a message saying so.
	// +kubebuilder:validation:MaxProperties=64
	// +optional
	Config RedisConfig `json:"config,omitempty"`

	// Service is the Service clients connect through.
	// +kubebuilder:default={}
	// +optional
	Service ServiceSpec `json:"service,omitempty"`

	// Placement says where the Redis pods may run.
	// +kubebuilder:default={}
	// +optional
	Placement PlacementSpec `json:"placement,omitempty"`

	// PasswordSecret names a Secret (in the cluster's namespace) holding the
	// default user's password, which clients that send no user name log in
	// with. Unset (and no spec.defaultUser.passwordSecrets) means no
	// password. A change is applied to every running node live, no pod
	// restarted; the nodes replicate and the operator connects as users of
	// their own.
	// +optional
	PasswordSecret *PasswordSecretRef `json:"passwordSecret,omitempty"`

	// PodDisruptionBudget limits voluntary disruptions to one pod per shard
	// at a time.
	// +kubebuilder:default={}
	// +optional
	PodDisruptionBudget PodDisruptionBudgetSpec `json:"podDisruptionBudget,omitempty"`

	// Monitoring configures how the Redis pods expose metrics.
	// +optional
	Monitoring *MonitoringSpec `json:"monitoring,omitempty"`

	// ExternalAccess exposes every Redis node to clients outside
	// Kubernetes. Off when unset.
	// +optional
	ExternalAccess *ExternalAccessSpec `json:"externalAccess,omitempty"`

	// Announce is the kind of endpoint the nodes give clients: IP (the pod
	// IP) or Hostname (the pod's DNS name under the headless Service). With
	// externalAccess the external endpoint is announced instead.
	// +kubebuilder:default=IP
	// +optional
	Announce AnnounceType `json:"announce,omitempty"`

	// Resharding paces and pauses the slot moves a change of spec.masters
	// starts.
	// +optional
	Resharding *ReshardingSpec `json:"resharding,omitempty"`

	// TLS turns on TLS for clients, the cluster bus and replication
	// (docs/tls.md). Off when unset.
	// +optional
	TLS *TLSSpec `json:"tls,omitempty"`

	// Users are ACL users kept on every node beside the default user
	// (docs/security.md). Names are unique.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Users []UserSpec `json:"users,omitempty"`

	// DefaultUser restricts Redis's default user, which clients that send
	// only a password (or none) log in as.
	// +optional
	DefaultUser *DefaultUserSpec `json:"defaultUser,omitempty"`

	// Backup schedules RedisClusterBackups of this cluster, with retention.
	// +optional
	Backup *BackupScheduleSpec `json:"backup,omitempty"`

	// Restore fills a new cluster from a backup before it is Ready; only
	// at creation.
	// +optional
	Restore *RestoreSpec `json:"restore,omitempty"`
}

// MonitoringSpec configures the metrics of the Redis pods.
type MonitoringSpec struct {
	// Exporter adds a Prometheus exporter sidecar to every Redis pod.
	// +optional
	Exporter *ExporterSpec `json:"exporter,omitempty"`
}

// ExporterSpec configures the exporter sidecar (redkube-exporter), which
// serves the metrics of its pod's Redis on port 9121 (named "metrics") at
// /metrics, with names compatible with oliver006/redis_exporter.
type ExporterSpec struct {
	// Enabled adds the exporter container to every Redis pod. Changing it
	// replaces the pods one at a time, like any change of the pod template.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// Image is the exporter's image; it must contain /redkube-exporter.
	// Unset means the operator's --exporter-image, by default the
	// operator's own image of the operator's version.
	// +kubebuilder:validation:MinLength=1
	// +optional
	Image string `json:"image,omitempty"`

	// Resources are the exporter container's compute resources. Unset
	// (no requests and no limits) means requests of 10m CPU and 16Mi
	// memory and a memory limit of 64Mi.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
}

// ExporterEnabled reports whether spec.monitoring.exporter.enabled is set.
func (s *RedisClusterSpec) ExporterEnabled() bool {
	return s.Monitoring != nil && s.Monitoring.Exporter != nil && s.Monitoring.Exporter.Enabled
}

// StorageSpec describes the persistent volume of each Redis pod.
// +kubebuilder:validation:XValidation:rule="has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)",fieldPath=".storageClassName",message="spec.storage.storageClassName cannot change once the cluster exists: its claims stay in the class they were made in (create a new cluster to move the data)"
type StorageSpec struct {
	// StorageClassName is the StorageClass of the pods' PVCs; unset means
	// the cluster's default StorageClass. It cannot change once set (nor be
	// set or unset later).
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`

	// Size is the requested size of each pod's volume. It may grow: the
	// operator expands every claim online where the StorageClass allows
	// volume expansion, and the StatefulSets' claim templates follow. It
	// cannot shrink (Kubernetes cannot shrink a volume).
	// +kubebuilder:default="1Gi"
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).compareTo(quantity(string(oldSelf))) >= 0",message="spec.storage.size cannot shrink: Kubernetes cannot make a volume smaller"
	// +optional
	Size resource.Quantity `json:"size,omitempty"`

	// DeleteClaimsWithCluster deletes the pods' PersistentVolumeClaims (and
	// with a Delete reclaim policy their data) when the RedisCluster is
	// deleted. False (the default) keeps them: a cluster created again
	// under the same name finds its data. Claims of shards removed by
	// lowering spec.masters are deleted by the operator either way.
	// +optional
	DeleteClaimsWithCluster bool `json:"deleteClaimsWithCluster,omitempty"`
}

// ServiceSpec describes the access Service.
type ServiceSpec struct {
	// Type is ClusterIP (inside Kubernetes only) or NodePort.
	// +kubebuilder:default=ClusterIP
	// +optional
	Type ServiceType `json:"type,omitempty"`

	// NodePort pins the node port when Type is NodePort; unset lets
	// Kubernetes choose one.
	// +kubebuilder:validation:XValidation:rule="self >= 30000 && self <= 32767",message="spec.service.nodePort must be between 30000 and 32767"
	// +optional
	NodePort *int32 `json:"nodePort,omitempty"`
}

// PlacementSpec says where the Redis pods may run.
type PlacementSpec struct {
	// AntiAffinity keeps pods of this cluster on different nodes: Required
	// (never share a node) or Preferred (share only when there is no other way).
	// +kubebuilder:default=Preferred
	// +optional
	AntiAffinity AntiAffinity `json:"antiAffinity,omitempty"`

	// ZoneTopologyKey is the node label whose values name zones; pods of a
	// shard are preferably spread across zones.
	// +kubebuilder:default="topology.kubernetes.io/zone"
	// +kubebuilder:validation:MinLength=1
	// +optional
	ZoneTopologyKey string `json:"zoneTopologyKey,omitempty"`

	// NodeSelector restricts the pods to nodes with these labels.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Tolerations let the pods run on tainted nodes.
	// +optional
	// +listType=atomic
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// PriorityClassName is the PriorityClass of the pods.
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`
}

// PasswordSecretRef points at the key of a Secret that holds the password.
type PasswordSecretRef struct {
	// Name is the Secret's name.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`

	// Key is the key in the Secret's data.
	// +kubebuilder:default=password
	// +kubebuilder:validation:MinLength=1
	// +optional
	Key string `json:"key,omitempty"`
}

// PodDisruptionBudgetSpec configures one PodDisruptionBudget per shard.
type PodDisruptionBudgetSpec struct {
	// Enabled creates a PodDisruptionBudget with maxUnavailable 1 per shard.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
}

// IsEnabled reports whether the PodDisruptionBudgets are wanted (true when unset).
func (p PodDisruptionBudgetSpec) IsEnabled() bool {
	return p.Enabled == nil || *p.Enabled
}

// RedisClusterStatus is the observed state of a Redis Cluster, written by the
// operator.
type RedisClusterStatus struct {
	// ObservedGeneration is the metadata.generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions are the latest observations: Ready, Progressing, Degraded,
	// SlotsCovered, ReplicasPlaced, ReplicasInSync and StorageBound (see
	// conditions.go).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// ReadyNodes is the number of Redis nodes that are ready: pod ready and
	// part of the cluster.
	// +optional
	ReadyNodes int32 `json:"readyNodes"`

	// SlotsOK is the number of slots (of 16384) served by a healthy master.
	// +optional
	SlotsOK int32 `json:"slotsOK"`

	// Shards summarizes each shard, ordered by index.
	// +optional
	// +listType=map
	// +listMapKey=index
	Shards []ShardStatus `json:"shards,omitempty"`

	// Resharding reports a change of spec.masters being carried out: slots
	// moving onto new shards, or off the shards being removed. It stays
	// until the slots are balanced over spec.masters shards, so an operator
	// restarted meanwhile carries on. Absent when no resharding runs.
	// +optional
	Resharding *ReshardingStatus `json:"resharding,omitempty"`

	// ExternalAccess lists the endpoints clients outside Kubernetes use,
	// when spec.externalAccess is set and the endpoints are known.
	// +optional
	ExternalAccess *ExternalAccessStatus `json:"externalAccess,omitempty"`

	// TLS names the Secret with the CA clients need and reports the
	// certificate the nodes serve, when TLS is on.
	// +optional
	TLS *TLSStatus `json:"tls,omitempty"`

	// Restore is the progress of spec.restore.
	// +optional
	Restore *RestoreStatus `json:"restore,omitempty"`
}

// ReshardingStatus is the progress of a change of spec.masters. The plan
// itself is not stored: each pass plans the remaining moves from the slots
// Redis reports, so a pass cut short (operator restarted, pod deleted) loses
// nothing and never replays a stale plan.
type ReshardingStatus struct {
	// FromShards is the number of shards that served slots when the
	// resharding started.
	FromShards int32 `json:"fromShards"`

	// ToShards is the spec.masters it works towards.
	ToShards int32 `json:"toShards"`

	// SlotsMoved counts the slots moved so far.
	SlotsMoved int32 `json:"slotsMoved"`

	// SlotsRemaining is the number of slots the last pass's plan had left
	// to move.
	SlotsRemaining int32 `json:"slotsRemaining"`

	// StartTime is when the resharding started.
	StartTime metav1.Time `json:"startTime"`

	// Paused is true while spec.resharding.paused holds the moves.
	// +optional
	Paused bool `json:"paused,omitempty"`

	// KeysMoved counts the keys moved so far.
	// +optional
	KeysMoved int64 `json:"keysMoved,omitempty"`

	// KeysPerSecond is the rate of the last pass that moved keys.
	// +optional
	KeysPerSecond int64 `json:"keysPerSecond,omitempty"`

	// EstimatedCompletionTime extrapolates the slots moved per second so
	// far to the slots remaining. Absent while paused or before a slot
	// moved.
	// +optional
	EstimatedCompletionTime *metav1.Time `json:"estimatedCompletionTime,omitempty"`
}

// ShardStatus summarizes one shard: a master and its replicas.
type ShardStatus struct {
	// Index is the shard's index (its StatefulSet is <name>-<index>).
	Index int32 `json:"index"`

	// MasterPod is the name of the pod that serves as master; empty when
	// the shard has no master.
	// +optional
	MasterPod string `json:"masterPod,omitempty"`

	// MasterNodeID is the Redis Cluster node ID of the master.
	// +optional
	MasterNodeID string `json:"masterNodeID,omitempty"`

	// Replicas are the master's replicas.
	// +optional
	// +listType=atomic
	Replicas []ReplicaStatus `json:"replicas,omitempty"`

	// Slots are the slot ranges the master serves, such as "0-5460".
	// +optional
	Slots string `json:"slots,omitempty"`
}

// ReplicaStatus describes one replica of a shard.
type ReplicaStatus struct {
	// Pod is the replica's pod name.
	Pod string `json:"pod"`

	// NodeID is the replica's Redis Cluster node ID.
	// +optional
	NodeID string `json:"nodeID,omitempty"`

	// LinkUp reports whether the replication link to the master is up.
	LinkUp bool `json:"linkUp"`

	// InSync reports whether the replica finished its first sync and its
	// replication offset matches the master's.
	InSync bool `json:"inSync"`
}

// RedisCluster is a Redis Cluster run by the redkube operator: the masters,
// their replicas, storage, configuration and access, from one object.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must start with a letter and contain only lowercase letters, digits and '-': it names the cluster's Services"
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 40",message="metadata.name must be at most 40 characters: it prefixes the names of the cluster's StatefulSets, pods and PVCs"
// +kubebuilder:validation:XValidation:rule="!self.metadata.name.matches('-[0-9]+-[0-9]+-ext$')",message="metadata.name must not end in '-<number>-<number>-ext': that is the name of a Redis pod's external Service of another RedisCluster"
// +kubebuilder:validation:XValidation:rule="has(self.spec.restore) == has(oldSelf.spec.restore) && (!has(self.spec.restore) || self.spec.restore == oldSelf.spec.restore)",message="spec.restore can only be set when the cluster is created, and cannot change"
// +kubebuilder:validation:XValidation:rule="!self.metadata.name.endsWith('-nodes')",message="metadata.name must not end in '-nodes': <name>-nodes is the headless Service of the RedisCluster <name>, so the two clusters' Services would collide"
// +kubebuilder:resource:shortName=rdc,categories=redis
// +kubebuilder:printcolumn:name="Masters",type=integer,JSONPath=".spec.masters"
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=".spec.replicasPerMaster",description="Replicas per master"
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=".status.readyNodes",description="Redis nodes ready"
// +kubebuilder:printcolumn:name="Slots OK",type=integer,JSONPath=".status.slotsOK",description="Slots served by a healthy master"
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=".status.conditions[?(@.type==\"Ready\")].reason",description="Why the cluster is or is not Ready"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"
type RedisCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state.
	// +kubebuilder:default={}
	// +optional
	Spec RedisClusterSpec `json:"spec,omitempty"`

	// Status is the observed state.
	// +optional
	Status RedisClusterStatus `json:"status,omitempty"`
}

// RedisClusterList is a list of RedisClusters.
//
// +kubebuilder:object:root=true
type RedisClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	// Items are the RedisClusters.
	Items []RedisCluster `json:"items"`
}

// PodsPerShard is the number of pods in each shard's StatefulSet: the master
// and its replicas.
func (s *RedisClusterSpec) PodsPerShard() int32 {
	return 1 + s.ReplicasPerMaster
}

// TotalNodes is the number of Redis nodes the spec asks for.
func (s *RedisClusterSpec) TotalNodes() int32 {
	return s.Masters * s.PodsPerShard()
}
