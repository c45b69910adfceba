package resources

import (
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/pkg/auth"
)

// Labels and names of backup Jobs.
const (
	// LabelBackup carries the RedisClusterBackup's name on its Job and pod.
	LabelBackup = "redis.redkube.io/backup"
	// LabelBackupCluster carries the backed-up RedisCluster's name on a
	// backup's Job and pod (not LabelInstance: the pod is not one of the
	// cluster's Redis pods).
	LabelBackupCluster = "redis.redkube.io/cluster"
	// RcctlCommand is the command of the backup container: the operator
	// image ships rcctl at /rcctl.
	RcctlCommand = "/rcctl"
	// BackupContainerName is the backup Job's container.
	BackupContainerName = "backup"
	// BackupDeleteContainerName is the container of the Job that deletes
	// a backup's objects.
	BackupDeleteContainerName = "delete"
	// backupVolumeName mounts a file:// destination's claim.
	backupVolumeName = "backups"
	// S3AccessKeyEnv and S3SecretKeyEnv are the variables rcctl reads the
	// S3 credentials from (its defaults, as the AWS tools read them).
	S3AccessKeyEnv = "AWS_ACCESS_KEY_ID"
	// S3SecretKeyEnv: see S3AccessKeyEnv.
	S3SecretKeyEnv = "AWS_SECRET_ACCESS_KEY"
)

// BackupJobInput is what a backup Job is built from.
type BackupJobInput struct {
	// Backup is the RedisClusterBackup the Job runs; it owns the Job.
	Backup *redisv1alpha1.RedisClusterBackup
	// Cluster is the backed-up RedisCluster (password and TLS settings).
	Cluster *redisv1alpha1.RedisCluster
	// Image is the operator image, which holds /rcctl.
	Image string
	// Seed is the Redis node rcctl starts from, host:port; it discovers
	// the others.
	Seed string
}

// BackupJobName is the name of a backup's Job.
func BackupJobName(b *redisv1alpha1.RedisClusterBackup) string { return b.Name + "-backup" }

// BackupLabels are the labels of a backup's Job and pod.
func BackupLabels(b *redisv1alpha1.RedisClusterBackup) map[string]string {
	return map[string]string{
		LabelManagedBy:     LabelManagedByValue,
		LabelBackup:        b.Name,
		LabelBackupCluster: b.Spec.Cluster,
	}
}

// BackupJob renders the Job that runs `rcctl backup SEED --to URL
// --cluster-name NS/NAME --json` once: no retry (a failed backup removes
// what it wrote, and a retry would hide the failure's cause), owned by the
// RedisClusterBackup. It reaches the cluster with its password (the
// Secret as an environment variable, as the Redis pods do) and, under
// TLS, with the mounted CA and client certificate; S3 credentials come
// from their Secret as AWS_* variables, a claim is mounted at /backups.
func BackupJob(in BackupJobInput) *batchv1.Job {
	b, rc := in.Backup, in.Cluster
	d := b.Spec.Destination
	args := []string{"backup", in.Seed, "--to", d.URL, "--cluster-name", rc.Namespace + "/" + rc.Name, "--json"}
	args = append(args, rcctlAccessArgs(rc)...)
	env, mounts, volumes := rcctlRedisAccess(rc)
	if s := d.S3; s != nil {
		args = append(args, s3Args(s)...)
		env = append(env, s3CredentialEnv(s)...)
	}
	if c := d.PersistentVolumeClaim; c != nil {
		volumes = append(volumes, claimVolume(c))
		mounts = append(mounts, claimMount())
	}
	labels := BackupLabels(b)
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: backupJobMeta(b, BackupJobName(b), labels),
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To(int32(0)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: rcctlPodSpec(rc, corev1.Container{
					Name:            BackupContainerName,
					Image:           in.Image,
					ImagePullPolicy: corev1.PullIfNotPresent,
					Command:         []string{RcctlCommand},
					Args:            args,
					Env:             env,
					VolumeMounts:    mounts,
					Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
						// One 16 MiB multipart part per shard on S3, 64 KiB
						// buffers otherwise.
						Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
					},
				}, volumes),
			},
		},
	}
}

// rcctlPodSpec is the pod of an rcctl Job: never restarted, as the Redis
// user, meeting the "restricted" Pod Security Standard like the Redis pods.
func rcctlPodSpec(rc *redisv1alpha1.RedisCluster, c corev1.Container, volumes []corev1.Volume) corev1.PodSpec {
	c.SecurityContext = &corev1.SecurityContext{
		ReadOnlyRootFilesystem:   ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	c.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	return corev1.PodSpec{
		RestartPolicy:      corev1.RestartPolicyNever,
		EnableServiceLinks: ptr.To(false),
		NodeSelector:       rc.Spec.Placement.NodeSelector,
		Tolerations:        rc.Spec.Placement.Tolerations,
		SecurityContext: &corev1.PodSecurityContext{
			RunAsUser:      ptr.To(redisUID),
			RunAsGroup:     ptr.To(redisUID),
			RunAsNonRoot:   ptr.To(true),
			FSGroup:        ptr.To(redisUID),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{c},
		Volumes:    volumes,
	}
}

// rcctlRedisAccess is what rcctl needs to reach the cluster's nodes: the
// backup user's password in REDISCLI_AUTH (rcctl's default --password-env;
// the user is rcctlAccessArgs') and, under TLS, the mounted TLS Secret. The
// Job never holds the default user's or the operator's password, and works
// with the default user switched off.
func rcctlRedisAccess(rc *redisv1alpha1.RedisCluster) ([]corev1.EnvVar, []corev1.VolumeMount, []corev1.Volume) {
	var (
		env     = []corev1.EnvVar{usersEnv(rc, PasswordEnv, UsersBackupPasswordKey)}
		mounts  []corev1.VolumeMount
		volumes []corev1.Volume
	)
	if rc.Spec.TLSEnabled() {
		mounts = append(mounts, tlsMount())
		volumes = append(volumes, tlsVolume(rc))
	}
	return env, mounts, volumes
}

// rcctlAccessArgs are rcctl's flags to reach the nodes: the backup user,
// and under TLS the CA and the certificate the Redis pods present (a
// client certificate where spec.tls.authClients asks for one).
func rcctlAccessArgs(rc *redisv1alpha1.RedisCluster) []string {
	args := []string{"--user", auth.BackupUser}
	if !rc.Spec.TLSEnabled() {
		return args
	}
	return append(args, "--tls-ca", TLSCAFile, "--tls-cert", TLSCertFile, "--tls-key", TLSKeyFile)
}

// s3CredentialEnv sets AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from
// the credentials Secret; none without one (anonymous access).
func s3CredentialEnv(s *redisv1alpha1.S3Access) []corev1.EnvVar {
	c := s.CredentialsSecret
	if c == nil {
		return nil
	}
	key := func(k, def string) string {
		if k == "" {
			return def
		}
		return k
	}
	ref := func(k string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: c.Name}, Key: k}}
	}
	return []corev1.EnvVar{
		{Name: S3AccessKeyEnv, ValueFrom: ref(key(c.AccessKeyIDKey, redisv1alpha1.DefaultAccessKeyIDKey))},
		{Name: S3SecretKeyEnv, ValueFrom: ref(key(c.SecretAccessKeyKey, redisv1alpha1.DefaultSecretAccessKeyKey))},
	}
}

// backupJobMeta is the metadata of a Job of backup b: owned by it.
func backupJobMeta(b *redisv1alpha1.RedisClusterBackup, name string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: name, Namespace: b.Namespace, Labels: labels,
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(b, redisv1alpha1.GroupVersion.WithKind("RedisClusterBackup"))},
	}
}

// s3Args are rcctl's flags for the S3 service of s.
func s3Args(s *redisv1alpha1.S3Access) []string {
	args := []string{"--s3-endpoint", s.Endpoint}
	if s.Region != "" {
		args = append(args, "--s3-region", s.Region)
	}
	if s.PathStyle {
		args = append(args, "--s3-path-style")
	}
	return args
}

// claimVolume and claimMount mount a file:// destination's claim at
// /backups.
func claimVolume(c *redisv1alpha1.BackupVolumeClaim) corev1.Volume {
	return corev1.Volume{Name: backupVolumeName, VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.ClaimName},
	}}
}

func claimMount() corev1.VolumeMount {
	return corev1.VolumeMount{Name: backupVolumeName, MountPath: redisv1alpha1.BackupVolumeMountPath}
}

// BackupSeed is the address rcctl starts from: the stable DNS name of the
// given pod (through the headless Service) and the Redis port.
func BackupSeed(rc *redisv1alpha1.RedisCluster, shard, ordinal int, clusterDomain string) string {
	return strings.Join([]string{PodDNSName(rc, shard, ordinal), clusterDomain}, ".") + ":" + strconv.Itoa(RedisPort)
}

// BackupDeleteJobName is the name of the Job that deletes a backup's
// objects.
func BackupDeleteJobName(b *redisv1alpha1.RedisClusterBackup) string { return b.Name + "-delete" }

// BackupDeleteJob renders the Job that runs `rcctl delete-backup --from
// LOCATION` for a backup being deleted: the manifest first, then the
// objects it names. It reaches the store as the backup Job did and no
// Redis node; owned by the backup, run once.
func BackupDeleteJob(b *redisv1alpha1.RedisClusterBackup, image string) *batchv1.Job {
	d := b.Spec.Destination
	args := []string{"delete-backup", "--from", b.Status.Location, "--json"}
	var (
		env     []corev1.EnvVar
		mounts  []corev1.VolumeMount
		volumes []corev1.Volume
	)
	if s := d.S3; s != nil {
		args = append(args, s3Args(s)...)
		env = s3CredentialEnv(s)
	}
	if c := d.PersistentVolumeClaim; c != nil {
		volumes = append(volumes, claimVolume(c))
		mounts = append(mounts, claimMount())
	}
	labels := BackupLabels(b)
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: backupJobMeta(b, BackupDeleteJobName(b), labels),
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To(int32(2)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: rcctlPodSpec(&redisv1alpha1.RedisCluster{}, corev1.Container{
					Name: BackupDeleteContainerName, Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
					Command: []string{RcctlCommand}, Args: args, Env: env, VolumeMounts: mounts,
					Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
						Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
					},
				}, volumes),
			},
		},
	}
}
