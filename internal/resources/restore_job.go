package resources

import (
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// Paths and names of the restore Job.
const (
	// RestoreContainerName is the restore Job's container.
	RestoreContainerName = "restore"
	// restoreToolsDir holds the rcctl the init container copies from the
	// operator image (which has no shell) for the Redis image's container.
	restoreToolsDir = "/tools"
	// restoreWorkDir holds the downloaded objects and the scratch
	// servers' files.
	restoreWorkDir = "/work"
	// LabelRestore carries the restored RedisCluster's name on the Job.
	LabelRestore = "redis.redkube.io/restore"
)

// RestoreJobName is the name of a cluster's restore Job.
func RestoreJobName(rc *redisv1alpha1.RedisCluster) string { return rc.Name + "-restore" }

// RestoreJobInput is what a restore Job is built from.
type RestoreJobInput struct {
	// Cluster is the RedisCluster restored into; it owns the Job.
	Cluster *redisv1alpha1.RedisCluster
	// Source is where the backup is and how to reach it; Location is its
	// URL (a backup's status.location, or spec.restore.location's url).
	Source   redisv1alpha1.BackupDestination
	Location string
	// OperatorImage holds /rcctl; the cluster's Redis image runs it (its
	// redis-server parses the RDBs).
	OperatorImage string
	// Seed is a Redis node of the cluster, host:port.
	Seed string
}

// RestoreJob renders the Job that runs `rcctl restore SEED --from URL`
// once: an init container of the operator image copies /rcctl into an
// emptyDir, and the main container runs it in the cluster's Redis image,
// whose redis-server loads each RDB as a scratch server. Objects are
// downloaded into an emptyDir (the whole backup: sized by the cluster's
// storage). With spec.restore.replace, --force.
func RestoreJob(in RestoreJobInput) *batchv1.Job {
	rc := in.Cluster
	rcctl := restoreToolsDir + "/rcctl"
	args := []string{"restore", in.Seed, "--from", in.Location, "--json", "--work-dir", restoreWorkDir, "--redis-server", "redis-server"}
	if rc.Spec.Restore != nil && rc.Spec.Restore.Replace {
		args = append(args, "--force")
	}
	args = append(args, rcctlAccessArgs(rc)...)
	env, mounts, volumes := rcctlRedisAccess(rc)
	// The scratch servers' sockets go to the temp folder; the root
	// filesystem is read-only.
	env = append(env, corev1.EnvVar{Name: "TMPDIR", Value: restoreWorkDir})
	if s := in.Source.S3; s != nil {
		args = append(args, s3Args(s)...)
		env = append(env, s3CredentialEnv(s)...)
	}
	if c := in.Source.PersistentVolumeClaim; c != nil {
		volumes = append(volumes, claimVolume(c))
		m := claimMount()
		m.ReadOnly = true
		mounts = append(mounts, m)
	}
	volumes = append(volumes,
		corev1.Volume{Name: "tools", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	mounts = append(mounts,
		corev1.VolumeMount{Name: "tools", MountPath: restoreToolsDir, ReadOnly: true},
		corev1.VolumeMount{Name: "work", MountPath: restoreWorkDir})
	labels := map[string]string{LabelManagedBy: LabelManagedByValue, LabelRestore: rc.Name}
	spec := rcctlPodSpec(rc, corev1.Container{
		Name: RestoreContainerName, Image: rc.Spec.Image, ImagePullPolicy: corev1.PullIfNotPresent,
		Command: []string{rcctl}, Args: args, Env: env, VolumeMounts: mounts,
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		},
	}, volumes)
	spec.InitContainers = []corev1.Container{{
		Name: "rcctl", Image: in.OperatorImage, ImagePullPolicy: corev1.PullIfNotPresent,
		Command:      []string{RcctlCommand, "install", rcctl},
		VolumeMounts: []corev1.VolumeMount{{Name: "tools", MountPath: restoreToolsDir}},
		SecurityContext: &corev1.SecurityContext{
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}}
	return &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name: RestoreJobName(rc), Namespace: rc.Namespace, Labels: labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rc, redisv1alpha1.GroupVersion.WithKind("RedisCluster"))},
		},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To(int32(0)),
			Template:     corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec},
		},
	}
}

// RestoreShardContainerName is the same-layout restore's init container.
const RestoreShardContainerName = "restore-shard"

// ShardRestore is where a same-layout restore's shards are: the backup's
// location and how to reach it, and the operator image that holds rcctl.
type ShardRestore struct {
	Source        redisv1alpha1.BackupDestination
	Location      string
	OperatorImage string
}

// RestoreShardContainer renders the init container of shard's pods in a
// same-layout restore: `rcctl backup fetch-shard --shard SHARD
// --redis-conf … --only-ordinal 0` from the operator image (no shell
// needed). In the pod of ordinal 0, the shard's planned master, on a
// volume with no nodes.conf, it streams the shard's RDB, checked against
// the manifest, to where redis.conf loads it (the AOF's base file with
// appendonly yes); anywhere else, and on every later start, it does
// nothing.
func RestoreShardContainer(rc *redisv1alpha1.RedisCluster, shard int, r *ShardRestore) corev1.Container {
	args := []string{"backup", "fetch-shard", "--from", r.Location, "--shard", strconv.Itoa(shard),
		"--redis-conf", ConfigDir + "/" + ConfigKey, "--only-ordinal", "0", "--no-progress"}
	// The pod's name tells its ordinal (the host name need not be it).
	env := []corev1.EnvVar{{Name: PodNameEnv, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}}}
	mounts := []corev1.VolumeMount{
		{Name: ConfigVolumeName, MountPath: ConfigDir, ReadOnly: true},
		{Name: DataVolumeName, MountPath: DataDir},
	}
	if s := r.Source.S3; s != nil {
		args = append(args, s3Args(s)...)
		env = append(env, s3CredentialEnv(s)...)
	}
	if r.Source.PersistentVolumeClaim != nil {
		m := claimMount()
		m.ReadOnly = true
		mounts = append(mounts, m)
	}
	return corev1.Container{
		Name: RestoreShardContainerName, Image: r.OperatorImage, ImagePullPolicy: corev1.PullIfNotPresent,
		Command: []string{RcctlCommand}, Args: args, Env: env, VolumeMounts: mounts,
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		},
		SecurityContext: &corev1.SecurityContext{
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}
