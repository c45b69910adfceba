package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Defaults and fixed paths of backups.
const (
	// BackupVolumeMountPath is where a destination's PersistentVolumeClaim
	// is mounted in the backup Job's pod; a file:// destination with a
	// claim names a directory below it (file:///backups/<dir>).
	BackupVolumeMountPath = "/backups"
	// DefaultAccessKeyIDKey and DefaultSecretAccessKeyKey are the keys read
	// from an S3 credentials Secret when unset (the AWS variable names).
	DefaultAccessKeyIDKey = "AWS_ACCESS_KEY_ID"
	// DefaultSecretAccessKeyKey: see DefaultAccessKeyIDKey.
	DefaultSecretAccessKeyKey = "AWS_SECRET_ACCESS_KEY"
)

// BackupDestination is where a backup is written: an S3 bucket and prefix
// (url s3://bucket/prefix with s3) or a directory on a
// PersistentVolumeClaim (url file:///backups/<dir> with
// persistentVolumeClaim, mounted at /backups).
//
// +kubebuilder:validation:XValidation:rule="self.url.startsWith('s3://') || self.url.startsWith('file:///')",fieldPath=".url",message="url must be s3://bucket/prefix or file:///backups/<dir>"
// +kubebuilder:validation:XValidation:rule="!self.url.startsWith('s3://') || has(self.s3)",fieldPath=".s3",message="an s3:// url needs s3 (at least s3.endpoint)"
// +kubebuilder:validation:XValidation:rule="!has(self.s3) || self.url.startsWith('s3://')",fieldPath=".s3",message="s3 is only for an s3:// url"
// +kubebuilder:validation:XValidation:rule="!self.url.startsWith('file:///') || has(self.persistentVolumeClaim)",fieldPath=".persistentVolumeClaim",message="a file:// url needs persistentVolumeClaim: the backup Job's own filesystem is gone when it ends"
// +kubebuilder:validation:XValidation:rule="!has(self.persistentVolumeClaim) || self.url.startsWith('file:///backups/')",fieldPath=".url",message="with persistentVolumeClaim the url is file:///backups/<dir>: the claim is mounted at /backups"
type BackupDestination struct {
	// URL is s3://bucket/prefix or file:///backups/<dir>. A backup is
	// written at the URL itself; a schedule writes each backup below it,
	// at <url>/<backup name>.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="!self.contains('?') && !self.contains('#') && !self.contains('..')",message="url must have no query, fragment or '..'"
	URL string `json:"url"`

	// S3 says how to reach the bucket of an s3:// url.
	// +optional
	S3 *S3Access `json:"s3,omitempty"`

	// PersistentVolumeClaim is the claim a file:// url is on, in the
	// namespace of the cluster; it is mounted at /backups.
	// +optional
	PersistentVolumeClaim *BackupVolumeClaim `json:"persistentVolumeClaim,omitempty"`
}

// S3Access is the endpoint and credentials of an S3-compatible service.
type S3Access struct {
	// Endpoint is the service's URL, https://s3.eu-west-1.amazonaws.com
	// or http://minio.storage:9000.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.startsWith('https://') || self.startsWith('http://')",message="s3.endpoint must be an http:// or https:// URL"
	Endpoint string `json:"endpoint"`

	// Region of the bucket; empty asks the service.
	// +optional
	Region string `json:"region,omitempty"`

	// PathStyle sends path-style requests (http://host/bucket/key), which
	// most self-hosted services need.
	// +optional
	PathStyle bool `json:"pathStyle,omitempty"`

	// CredentialsSecret holds the access key; unset means anonymous access.
	// +optional
	CredentialsSecret *S3CredentialsSecret `json:"credentialsSecret,omitempty"`
}

// S3CredentialsSecret names a Secret in the cluster's namespace with an
// access key ID and a secret access key.
type S3CredentialsSecret struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// AccessKeyIDKey is the key holding the access key ID.
	// +kubebuilder:default=AWS_ACCESS_KEY_ID
	// +optional
	AccessKeyIDKey string `json:"accessKeyIDKey,omitempty"`
	// SecretAccessKeyKey is the key holding the secret access key.
	// +kubebuilder:default=AWS_SECRET_ACCESS_KEY
	// +optional
	SecretAccessKeyKey string `json:"secretAccessKeyKey,omitempty"`
}

// BackupVolumeClaim names a PersistentVolumeClaim.
type BackupVolumeClaim struct {
	// ClaimName is the claim's name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ClaimName string `json:"claimName"`
}

// RedisClusterBackupSpec says which cluster to back up and where. It
// cannot change: a backup is one run.
type RedisClusterBackupSpec struct {
	// Cluster is the name of the RedisCluster, in this namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=40
	Cluster string `json:"cluster"`

	// Destination is where the backup is written (its location).
	Destination BackupDestination `json:"destination"`
}

// BackupPhase is where a backup is in its life.
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed
type BackupPhase string

// Phases of a backup.
const (
	// BackupPending: waiting for the cluster (missing or without a ready
	// pod) before a Job is started.
	BackupPending BackupPhase = "Pending"
	// BackupRunning: the backup Job runs.
	BackupRunning BackupPhase = "Running"
	// BackupSucceeded: the Job ended and its manifest is complete; status
	// holds every shard.
	BackupSucceeded BackupPhase = "Succeeded"
	// BackupFailed: the Job failed (its objects were removed by rcctl) or
	// its result could not be read; the Complete condition says why.
	BackupFailed BackupPhase = "Failed"
)

// Terminal reports whether the phase is final.
func (p BackupPhase) Terminal() bool { return p == BackupSucceeded || p == BackupFailed }

// BackupShardStatus is one shard's RDB object in a finished backup.
type BackupShardStatus struct {
	// MasterID is the node ID of the shard's master at backup time.
	MasterID string `json:"masterID"`
	// SourceNode is the address of the node the RDB came from.
	SourceNode string `json:"sourceNode"`
	// Role is replica (the master was not forked) or master (no replica
	// was in sync).
	Role string `json:"role"`
	// Slots are the shard's slots, as ranges ("0-5460").
	Slots string `json:"slots"`
	// Keys is the source node's DBSIZE at the fetch.
	Keys int64 `json:"keys"`
	// Object is the RDB's name under the backup's location.
	Object string `json:"object"`
	// Size is the RDB's length in bytes.
	Size int64 `json:"size"`
	// SHA256 is the RDB's hex digest.
	SHA256 string `json:"sha256"`
}

// RedisClusterBackupStatus is the observed state of a backup.
type RedisClusterBackupStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Phase is Pending, Running, Succeeded or Failed.
	// +optional
	Phase BackupPhase `json:"phase,omitempty"`
	// JobName is the Job that runs the backup.
	// +optional
	JobName string `json:"jobName,omitempty"`
	// StartTime is when the Job was created.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// CompletionTime is when the backup was found finished (succeeded or
	// failed).
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// Duration is the backup's own duration (the manifest's start to end),
	// as a Go duration ("3.2s").
	// +optional
	Duration string `json:"duration,omitempty"`
	// Location is the URL the backup was written to (a restore's source).
	// +optional
	Location string `json:"location,omitempty"`
	// Keys is the sum of the shards' keys.
	// +optional
	Keys int64 `json:"keys,omitempty"`
	// Size is the sum of the shards' RDB sizes in bytes.
	// +optional
	Size int64 `json:"size,omitempty"`
	// Shards are the backup's objects, one per shard, in slot order.
	// +optional
	// +listType=atomic
	Shards []BackupShardStatus `json:"shards,omitempty"`
	// Conditions: Complete (True once Succeeded; False with the reason
	// otherwise).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ConditionBackupComplete is True when the backup succeeded and its
// manifest is complete; False with BackupPending, BackupRunning or
// BackupFailed otherwise. `kubectl wait --for=condition=Complete` waits on
// it.
const ConditionBackupComplete ConditionType = "Complete"

// Reasons of a backup's Complete condition.
const (
	// ReasonBackupPending: the cluster is missing or has no ready pod.
	ReasonBackupPending ConditionReason = "BackupPending"
	// ReasonBackupRunning: the Job runs.
	ReasonBackupRunning ConditionReason = "BackupRunning"
	// ReasonBackupSucceeded: the manifest was read and every shard is in
	// status.
	ReasonBackupSucceeded ConditionReason = "BackupSucceeded"
	// ReasonBackupFailed: the Job failed; the message carries rcctl's
	// error.
	ReasonBackupFailed ConditionReason = "BackupFailed"
	// ReasonBackupResultUnreadable: the Job succeeded but its result (the
	// manifest) could not be read or did not validate; the backup is not
	// reported complete.
	ReasonBackupResultUnreadable ConditionReason = "BackupResultUnreadable"
)

// RedisClusterBackup is one backup of a RedisCluster: an RDB per shard and
// a manifest, written by a Job that runs `rcctl backup`.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 56",message="metadata.name must be at most 56 characters: the backup's Job is named <name>-backup"
// +kubebuilder:validation:XValidation:rule="self.spec == oldSelf.spec",message="spec cannot change: a backup is one run (create another RedisClusterBackup)"
// +kubebuilder:resource:shortName=rdcb,categories=redis
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=".spec.cluster"
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=".status.phase"
// +kubebuilder:printcolumn:name="Keys",type=integer,JSONPath=".status.keys"
// +kubebuilder:printcolumn:name="Size",type=integer,JSONPath=".status.size",description="Bytes of RDB objects"
// +kubebuilder:printcolumn:name="Duration",type=string,JSONPath=".status.duration"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"
type RedisClusterBackup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the backup's cluster and destination.
	Spec RedisClusterBackupSpec `json:"spec"`

	// Status is the observed state.
	// +optional
	Status RedisClusterBackupStatus `json:"status,omitempty"`
}

// RedisClusterBackupList is a list of RedisClusterBackups.
//
// +kubebuilder:object:root=true
type RedisClusterBackupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	// Items are the backups.
	Items []RedisClusterBackup `json:"items"`
}

// DefaultBackupKeep is how many succeeded scheduled backups are kept when
// spec.backup.retention.keep is unset.
const DefaultBackupKeep int32 = 7

// BackupScheduleSpec (spec.backup of a RedisCluster) makes a
// RedisClusterBackup named <cluster>-<yyyymmddhhmmss> (UTC) at every time
// of schedule, written to <destination.url>/<backup name>, and deletes the
// scheduled backups beyond retention together with their objects in the
// store.
type BackupScheduleSpec struct {
	// Schedule is a cron expression in UTC: five fields (minute hour
	// day-of-month month day-of-week) or a descriptor (@hourly, @daily,
	// @every 6h).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Schedule string `json:"schedule"`

	// Destination is where the backups go; each is written below the url,
	// in a folder (or prefix) named after the backup.
	Destination BackupDestination `json:"destination"`

	// Retention says which scheduled backups are deleted.
	// +kubebuilder:default={}
	// +optional
	Retention BackupRetention `json:"retention,omitempty"`

	// Suspend stops making new backups (retention still applies).
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// BackupRetention bounds the scheduled backups kept: the newest keep
// succeeded ones, and (with maxAge) none older than maxAge except the
// newest succeeded one. Failed backups are kept while they are among the
// newest keep backups. Backups made by hand are never deleted.
type BackupRetention struct {
	// Keep is how many succeeded scheduled backups are kept.
	// +kubebuilder:default=7
	// +kubebuilder:validation:XValidation:rule="self >= 1",message="spec.backup.retention.keep must be at least 1"
	// +optional
	Keep int32 `json:"keep,omitempty"`
	// MaxAge deletes scheduled backups older than this Go duration
	// ("720h"), except the newest succeeded one.
	// +optional
	MaxAge *metav1.Duration `json:"maxAge,omitempty"`
}

// RestoreSpec (spec.restore of a new RedisCluster) fills the cluster from
// a backup once it is up, before it is Ready: a Job runs `rcctl restore`
// (any source shard count into any masters). It can only be set when the
// cluster is created.
//
// +kubebuilder:validation:XValidation:rule="has(self.fromBackup) != has(self.location)",message="spec.restore needs exactly one of fromBackup and location"
type RestoreSpec struct {
	// FromBackup is a Succeeded RedisClusterBackup in this namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	FromBackup string `json:"fromBackup,omitempty"`
	// Location is a backup's location and how to reach it (a backup made
	// elsewhere, or by rcctl).
	// +optional
	Location *BackupDestination `json:"location,omitempty"`
	// Replace restores into a cluster that already holds keys (rcctl
	// restore --force): keys of the backup replace keys of the same name.
	// +optional
	Replace bool `json:"replace,omitempty"`
}

// RestorePhase is where a restore on create is.
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed
type RestorePhase string

// Phases of a restore on create.
const (
	// RestorePending: waiting for the backup or the cluster.
	RestorePending RestorePhase = "Pending"
	// RestoreRunning: the restore Job runs (KeyByKey only).
	RestoreRunning RestorePhase = "Running"
	// RestoreSucceeded: every key of the backup was written (KeyByKey),
	// or every master holds its shard's keys (SameLayout).
	RestoreSucceeded RestorePhase = "Succeeded"
	// RestoreFailed: the Job failed, or a master of a same-layout restore
	// holds more keys than its shard, or fewer than expiry explains; the
	// message says why. The cluster stays not Ready.
	RestoreFailed RestorePhase = "Failed"
)

// RestoreMethod is how a restore on create puts the backup's keys into
// the cluster.
// +kubebuilder:validation:Enum=SameLayout;KeyByKey
type RestoreMethod string

// Restore methods.
const (
	// RestoreSameLayout: the backup has one shard per master of the new
	// cluster; each shard's first pod starts on its shard's RDB (an init
	// container fetches it) and the operator creates the cluster around
	// those pods. No key crosses the network and no Job runs.
	RestoreSameLayout RestoreMethod = "SameLayout"
	// RestoreKeyByKey: once the cluster is up, a Job runs `rcctl restore`,
	// which copies every key with RESTORE (any shard count into any
	// masters).
	RestoreKeyByKey RestoreMethod = "KeyByKey"
)

// RestoreShardStatus is one backup shard of a same-layout restore: the
// slots its first pod is made to serve and the keys it must hold.
type RestoreShardStatus struct {
	// Slots are the shard's slots, as ranges ("0-5460").
	Slots string `json:"slots"`
	// Keys is the backup's key count of the shard (its source's DBSIZE).
	Keys int64 `json:"keys"`
	// Found is the DBSIZE of the shard's master once the cluster was
	// formed, recorded by the RedisCluster controller for the key check.
	// +optional
	Found *int64 `json:"found,omitempty"`
	// Expired counts the keys the shard's master dropped as expired, at
	// its RDB load and since, read with Found.
	// +optional
	Expired *int64 `json:"expired,omitempty"`
}

// RestoreStatus is status.restore of a RedisCluster with spec.restore. The
// RedisCluster controller records the method (and, for SameLayout, the
// shards and the source) when it creates the cluster; the restore
// controller writes the rest.
type RestoreStatus struct {
	// Phase is Pending, Running, Succeeded or Failed.
	Phase RestorePhase `json:"phase"`
	// Method is how the keys are restored, chosen once when the cluster's
	// first objects are created and never changed afterwards (the pods are
	// built from it).
	// +optional
	Method RestoreMethod `json:"method,omitempty"`
	// MethodReason says why Method was chosen.
	// +optional
	MethodReason string `json:"methodReason,omitempty"`
	// Shards are the backup's shards in slot order, recorded with
	// Method SameLayout: the create and the final key check use them
	// even if the RedisClusterBackup is deleted afterwards.
	// +optional
	// +listType=atomic
	Shards []RestoreShardStatus `json:"shards,omitempty"`
	// Source is the backup's destination, recorded with Method
	// SameLayout: the pods' init containers read their shards from it.
	// +optional
	Source *BackupDestination `json:"source,omitempty"`
	// Location is the backup restored from.
	// +optional
	Location string `json:"location,omitempty"`
	// JobName is the restore Job.
	// +optional
	JobName string `json:"jobName,omitempty"`
	// Message says what the phase waits for, or why it failed.
	// +optional
	Message string `json:"message,omitempty"`
	// CompletionTime is when the restore was seen finished.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
}

// ConditionRestored (only with spec.restore) is True once the restore
// succeeded; until then Ready is False with Restored's reason.
const ConditionRestored ConditionType = "Restored"

// Reasons of Restored (and of Ready while a restore is not done).
const (
	// ReasonRestoreWaitingForCluster: the cluster is not up yet.
	ReasonRestoreWaitingForCluster ConditionReason = "RestoreWaitingForCluster"
	// ReasonRestorePending: the cluster is up; the restore is about to
	// start (or waits for its backup).
	ReasonRestorePending ConditionReason = "RestorePending"
	// ReasonRestoreRunning: the restore Job runs.
	ReasonRestoreRunning ConditionReason = "RestoreRunning"
	// ReasonRestoreFailed: the restore failed; the message says why.
	ReasonRestoreFailed ConditionReason = "RestoreFailed"
	// ReasonRestored: the backup's keys are in the cluster.
	ReasonRestored ConditionReason = "Restored"
)
