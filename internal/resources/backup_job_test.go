package resources

import (
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// backupOf is a RedisClusterBackup of rc to d.
func backupOf(rc *redisv1alpha1.RedisCluster, name string, d redisv1alpha1.BackupDestination) *redisv1alpha1.RedisClusterBackup {
	return &redisv1alpha1.RedisClusterBackup{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: rc.Namespace, UID: "00000000-0000-0000-0000-0000000000b1"},
		Spec:       redisv1alpha1.RedisClusterBackupSpec{Cluster: rc.Name, Destination: d},
	}
}

var (
	s3Destination = redisv1alpha1.BackupDestination{URL: "s3://backups/prod/cache-1", S3: &redisv1alpha1.S3Access{
		Endpoint: "https://s3.eu-west-1.amazonaws.com", Region: "eu-west-1", PathStyle: true,
		CredentialsSecret: &redisv1alpha1.S3CredentialsSecret{Name: "s3-creds", AccessKeyIDKey: "id", SecretAccessKeyKey: "secret"},
	}}
	claimDestination = redisv1alpha1.BackupDestination{URL: "file:///backups/cache-1", PersistentVolumeClaim: &redisv1alpha1.BackupVolumeClaim{ClaimName: "backups"}}
)

func renderBackupJob(t *testing.T, rc *redisv1alpha1.RedisCluster, d redisv1alpha1.BackupDestination) (*batchv1.Job, []byte) {
	t.Helper()
	j := BackupJob(BackupJobInput{Backup: backupOf(rc, "cache-1", d), Cluster: rc, Image: testOptions.ExporterImage, Seed: BackupSeed(rc, 0, 0, DefaultClusterDomain)})
	b, err := yaml.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	return j, b
}

func TestBackupJobGolden(t *testing.T) {
	tls := tlsCluster()
	for _, c := range []struct {
		golden string
		rc     *redisv1alpha1.RedisCluster
		d      redisv1alpha1.BackupDestination
	}{
		{"backup-job-s3.yaml", fullCluster(), s3Destination},
		{"backup-job-claim.yaml", loadSample(t), claimDestination},
		{"backup-job-tls.yaml", tls, s3Destination},
	} {
		t.Run(c.golden, func(t *testing.T) {
			_, b := renderBackupJob(t, c.rc, c.d)
			checkGolden(t, c.golden, b)
		})
	}
}

func TestBackupDeleteJobGolden(t *testing.T) {
	for _, c := range []struct {
		golden string
		d      redisv1alpha1.BackupDestination
	}{
		{"backup-delete-job-s3.yaml", s3Destination},
		{"backup-delete-job-claim.yaml", claimDestination},
	} {
		t.Run(c.golden, func(t *testing.T) {
			b := backupOf(fullCluster(), "cache-1", c.d)
			b.Status.Location = c.d.URL
			out, err := yaml.Marshal(BackupDeleteJob(b, testOptions.ExporterImage))
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, c.golden, out)
		})
	}
}

func TestBackupJobNeverRetriesAndIsOwnedByTheBackup(t *testing.T) {
	j, _ := renderBackupJob(t, fullCluster(), s3Destination)
	if j.Spec.BackoffLimit == nil || *j.Spec.BackoffLimit != 0 {
		t.Errorf("backoffLimit = %v, want 0: a retry would hide the failure's cause", j.Spec.BackoffLimit)
	}
	if o := metav1.GetControllerOf(j); o == nil || o.Kind != "RedisClusterBackup" || o.Name != "cache-1" {
		t.Errorf("controller owner = %+v, want the RedisClusterBackup cache-1", o)
	}
}

func TestBackupPodIsNotOneOfTheClustersPods(t *testing.T) {
	rc := fullCluster()
	j, _ := renderBackupJob(t, rc, s3Destination)
	if ClusterSelector(rc).Matches(labelSet(j.Spec.Template.Labels)) {
		t.Errorf("the backup pod's labels %v match the cluster's pod selector: the controller would take it for a Redis pod", j.Spec.Template.Labels)
	}
}

func TestBackupJobCarriesNoSecretInItsArguments(t *testing.T) {
	rc := fullCluster()
	j, _ := renderBackupJob(t, rc, s3Destination)
	c := j.Spec.Template.Spec.Containers[0]
	for _, want := range []string{PasswordEnv, S3AccessKeyEnv, S3SecretKeyEnv} {
		i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == want })
		if i < 0 || c.Env[i].ValueFrom == nil || c.Env[i].ValueFrom.SecretKeyRef == nil || c.Env[i].Value != "" {
			t.Errorf("%s is not read from a Secret: %+v", want, c.Env)
		}
	}
	if args := strings.Join(c.Args, " "); !strings.Contains(args, "--cluster-name prod/cache") || !strings.Contains(args, "--to s3://backups/prod/cache-1") {
		t.Errorf("args %q lack the location or the cluster's name", args)
	}
}

func TestRestoreJobGolden(t *testing.T) {
	rc := fullCluster()
	rc.Spec.Restore = &redisv1alpha1.RestoreSpec{FromBackup: "cache-1", Replace: true}
	j := RestoreJob(RestoreJobInput{Cluster: rc, Source: s3Destination, Location: s3Destination.URL, OperatorImage: testOptions.ExporterImage, Seed: BackupSeed(rc, 0, 0, DefaultClusterDomain)})
	b, err := yaml.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "restore-job-s3.yaml", b)
	if ClusterSelector(rc).Matches(labelSet(j.Spec.Template.Labels)) {
		t.Errorf("the restore pod's labels %v match the cluster's pod selector", j.Spec.Template.Labels)
	}
}

func TestSameLayoutRestoreStatefulSetGolden(t *testing.T) {
	rc := fullCluster()
	rc.Spec.Restore = &redisv1alpha1.RestoreSpec{FromBackup: "cache-1"}
	o := testOptions
	o.RestoreShards = &ShardRestore{Source: s3Destination, Location: s3Destination.URL, OperatorImage: testOptions.ExporterImage}
	sts, err := ShardStatefulSet(rc, 1, o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(sts)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "samelayout-restore-statefulset.yaml", b)
	inits := sts.Spec.Template.Spec.InitContainers
	if len(inits) != 1 || !slices.Contains(inits[0].Args, "--only-ordinal") || !slices.Contains(inits[0].Args, "1") {
		t.Errorf("init containers %+v, want fetch-shard of shard 1 on ordinal 0 only", inits)
	}
	for _, e := range inits[0].Env {
		if e.Value != "" || e.ValueFrom == nil {
			t.Errorf("init container env %s carries a value, want a Secret reference", e.Name)
		}
	}
	plain, err := ShardStatefulSet(rc, 1, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	if len(plain.Spec.Template.Spec.InitContainers) != 0 {
		t.Errorf("a StatefulSet without a same-layout restore has init containers %+v", plain.Spec.Template.Spec.InitContainers)
	}
}
