package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/podnet"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/internal/storage"
	"github.com/redkube/redkube/pkg/backup"
	"github.com/redkube/redkube/test/harness"
	"github.com/redkube/redkube/test/s3env"
)

// TestBackupOperator backs up a password-protected 3-master cluster with
// keys through a RedisClusterBackup to a claim (the operator image's
// rcctl in a Job, as on a real cluster), checks the status against the
// manifest on the volume, and checks that bad backups are named: a
// cluster that does not exist stays Pending, a second backup to the same
// location fails with rcctl's cause and is not reported complete. Two new
// clusters restore the backups on create, both timed: masters: 4 from the
// claim's (key by key, a Job) and masters: 3 from the S3 one (same layout:
// the first pods start on the shards' RDBs, no Job).
func TestBackupOperator(t *testing.T) {
	network := harness.Network("rkb", 251)
	e := startOperatorEnvOn(t, "e2e-backup", network)
	const name, password, keys = "bk", "backup-e2e-pw", 3000
	ctx := t.Context()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bk-auth", Namespace: opNS}, StringData: map[string]string{"password": password}}
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "backups", Namespace: opNS},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("256Mi")}},
		},
	}
	rc := &redisv1alpha1.RedisCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: opNS},
		Spec: redisv1alpha1.RedisClusterSpec{
			Masters: 3, ReplicasPerMaster: 1,
			Storage:        redisv1alpha1.StorageSpec{Size: resource.MustParse("64Mi")},
			PasswordSecret: &redisv1alpha1.PasswordSecretRef{Name: sec.Name},
		},
	}
	if err := e.cl.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	if err := e.cl.Create(ctx, claim); err != nil {
		t.Fatal(err)
	}
	applied := time.Now()
	if err := e.cl.Create(ctx, rc); err != nil {
		t.Fatal(err)
	}
	e.waitReady(t, name, applied, 3*time.Minute)
	cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: e.addrs(t, name), Password: password, MaxRedirects: 8})
	defer func() { _ = cl.Close() }()
	for k := range keys {
		if err := cl.Set(ctx, fmt.Sprintf("bk:%d", k), k, 0).Err(); err != nil {
			t.Fatalf("SET bk:%d: %v", k, err)
		}
	}

	began := time.Now()
	b := newBackup(t, e, "bk-1", name, "file:///backups/bk-1")
	b = waitBackupPhase(t, e, b.Name, redisv1alpha1.BackupSucceeded, 3*time.Minute)
	t.Logf("measured: RedisClusterBackup created -> Succeeded: %v (backup itself: %s)", time.Since(began), b.Status.Duration)

	t.Run("the status holds every shard and matches the manifest on the volume", func(t *testing.T) {
		m := manifestOnClaim(t, e, claim.Name, "bk-1")
		if b.Status.Location != "file:///backups/bk-1" || len(b.Status.Shards) != 3 || len(m.Shards) != 3 {
			t.Fatalf("status: location %q, %d shards; manifest: %d shards", b.Status.Location, len(b.Status.Shards), len(m.Shards))
		}
		if b.Status.Keys != keys || m.TotalKeys() != keys {
			t.Errorf("keys: status %d, manifest %d, want %d", b.Status.Keys, m.TotalKeys(), keys)
		}
		if b.Status.Size != m.TotalSize() || b.Status.Size == 0 {
			t.Errorf("size: status %d, manifest %d", b.Status.Size, m.TotalSize())
		}
		for i, sh := range b.Status.Shards {
			ms := m.Shards[i]
			if sh.SHA256 != ms.SHA256 || sh.Object != ms.Object || sh.MasterID != string(ms.MasterID) || sh.Slots != ms.Slots.String() || sh.Role != "replica" {
				t.Errorf("shard %d: status %+v, manifest %+v (want a replica source)", i, sh, ms)
			}
		}
		if m.Cluster != opNS+"/"+name {
			t.Errorf("manifest cluster %q, want %s/%s", m.Cluster, opNS, name)
		}
		c := meta.FindStatusCondition(b.Status.Conditions, string(redisv1alpha1.ConditionBackupComplete))
		if c == nil || c.Status != metav1.ConditionTrue || c.Reason != string(redisv1alpha1.ReasonBackupSucceeded) || c.ObservedGeneration != b.Generation {
			t.Errorf("Complete condition = %+v", c)
		}
		wantBackupEvent(t, e, b.Name, "BackupStarted", "rcctl backup")
		wantBackupEvent(t, e, b.Name, "BackupSucceeded", "3 shards")
		out := e.kubectl(t, "get", "rdcb", b.Name)
		if !strings.Contains(out, "Succeeded") || !strings.Contains(out, name) {
			t.Errorf("kubectl get rdcb:\n%s", out)
		}
		t.Logf("kubectl get rdcb:\n%s", out)
	})

	t.Run("a new cluster of 4 masters restores the 3-shard backup key by key before it is Ready", func(t *testing.T) {
		testRestoreOnCreate(t, e, restoreCase{name: "rs", masters: 4, method: redisv1alpha1.RestoreKeyByKey}, sec.Name, password, b.Name, keys)
	})

	t.Run("a second backup to the same location fails with the cause and is not complete", func(t *testing.T) {
		again := newBackup(t, e, "bk-again", name, "file:///backups/bk-1")
		again = waitBackupPhase(t, e, again.Name, redisv1alpha1.BackupFailed, 3*time.Minute)
		c := meta.FindStatusCondition(again.Status.Conditions, string(redisv1alpha1.ConditionBackupComplete))
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != string(redisv1alpha1.ReasonBackupFailed) || !strings.Contains(c.Message, "manifest") {
			t.Errorf("Complete condition = %+v, want False BackupFailed naming the existing manifest", c)
		}
		if len(again.Status.Shards) != 0 || again.Status.Location != "" {
			t.Errorf("a failed backup reports shards %v at %q", again.Status.Shards, again.Status.Location)
		}
		wantBackupEvent(t, e, again.Name, "BackupFailed", "manifest")
		if m := manifestOnClaim(t, e, claim.Name, "bk-1"); m.TotalKeys() != keys {
			t.Errorf("the first backup's manifest changed: %d keys", m.TotalKeys())
		}
	})

	t.Run("a schedule makes backups and retention deletes the oldest with their objects", func(t *testing.T) {
		testBackupSchedule(t, e, name, claim.Name)
	})

	t.Run("a backup to a real S3 server fills status from the manifest in the bucket; wrong keys fail naming them; a new cluster of 3 masters starts on its RDBs (same layout)", func(t *testing.T) {
		s3b := testBackupToS3(t, e, network, name, keys)
		t.Run("a new cluster of 3 masters starts on the 3-shard backup's RDBs (same layout) before it is Ready", func(t *testing.T) {
			testRestoreOnCreate(t, e, restoreCase{name: "rs3", masters: 3, replicas: 1, method: redisv1alpha1.RestoreSameLayout}, sec.Name, password, s3b, keys)
		})
	})

	t.Run("a backup of a cluster that does not exist waits, saying so", func(t *testing.T) {
		lost := newBackup(t, e, "bk-lost", "no-such-cluster", "file:///backups/lost")
		opWait(t, time.Minute, "bk-lost Pending", func(ctx context.Context) error {
			got := &redisv1alpha1.RedisClusterBackup{}
			if err := e.cl.Get(ctx, types.NamespacedName{Namespace: opNS, Name: lost.Name}, got); err != nil {
				return err
			}
			c := meta.FindStatusCondition(got.Status.Conditions, string(redisv1alpha1.ConditionBackupComplete))
			if got.Status.Phase != redisv1alpha1.BackupPending || c == nil || !strings.Contains(c.Message, "no-such-cluster does not exist") {
				return fmt.Errorf("phase %q, condition %+v", got.Status.Phase, c)
			}
			return nil
		})
	})
}

// newBackup creates a RedisClusterBackup of cluster to url on the claim
// "backups".
func newBackup(t *testing.T, e *opEnv, name, cluster, url string) *redisv1alpha1.RedisClusterBackup {
	t.Helper()
	b := &redisv1alpha1.RedisClusterBackup{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: opNS},
		Spec: redisv1alpha1.RedisClusterBackupSpec{Cluster: cluster, Destination: redisv1alpha1.BackupDestination{
			URL: url, PersistentVolumeClaim: &redisv1alpha1.BackupVolumeClaim{ClaimName: "backups"},
		}},
	}
	if err := e.cl.Create(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	return b
}

// waitBackupPhase waits until the backup reaches phase and returns it; a
// different final phase fails at once, with its condition.
func waitBackupPhase(t *testing.T, e *opEnv, name string, phase redisv1alpha1.BackupPhase, d time.Duration) *redisv1alpha1.RedisClusterBackup {
	t.Helper()
	var got *redisv1alpha1.RedisClusterBackup
	var final error
	opWait(t, d, "backup "+name+" "+string(phase), func(ctx context.Context) error {
		got = &redisv1alpha1.RedisClusterBackup{}
		if err := e.cl.Get(ctx, types.NamespacedName{Namespace: opNS, Name: name}, got); err != nil {
			return err
		}
		if got.Status.Phase == phase {
			return nil
		}
		err := fmt.Errorf("phase %q, conditions %+v", got.Status.Phase, got.Status.Conditions)
		if got.Status.Phase.Terminal() {
			final = err
			return nil
		}
		return err
	})
	if final != nil {
		t.Logf("job pod log:\n%s", e.kubectl(t, "logs", "-l", resources.LabelBackup+"="+name, "--tail=40"))
		t.Fatalf("backup %s ended otherwise: %v", name, final)
	}
	return got
}

// manifestOnClaim reads the manifest of the backup in dir on the claim's
// volume, from the host (the local Kubernetes's volumes are folders).
func manifestOnClaim(t *testing.T, e *opEnv, claimName, dir string) *backup.Manifest {
	t.Helper()
	pvc := &corev1.PersistentVolumeClaim{}
	if err := e.cl.Get(t.Context(), types.NamespacedName{Namespace: opNS, Name: claimName}, pvc); err != nil {
		t.Fatal(err)
	}
	pv := &corev1.PersistentVolume{}
	if err := e.cl.Get(t.Context(), types.NamespacedName{Name: pvc.Spec.VolumeName}, pv); err != nil {
		t.Fatal(err)
	}
	root := storage.VolumePath(pv)
	if root == "" {
		t.Fatalf("volume %s has no local path", pv.Name)
	}
	loc, err := backup.ParseLocation("file://" + filepath.Join(root, dir))
	if err != nil {
		t.Fatal(err)
	}
	st, err := backup.NewFileStore(loc)
	if err != nil {
		t.Fatal(err)
	}
	m, err := backup.ReadManifest(t.Context(), st)
	if err != nil {
		entries, _ := os.ReadDir(filepath.Join(root, dir))
		t.Fatalf("read the manifest on the volume: %v (folder holds %v)", err, entries)
	}
	return m
}

// wantBackupEvent waits up to 30 s for an event on the backup.
func wantBackupEvent(t *testing.T, e *opEnv, name, reason, text string) {
	t.Helper()
	opWait(t, 30*time.Second, reason+" event on "+name, func(ctx context.Context) error {
		return hasEvent(ctx, e.h, opNS, name, reason, text)
	})
}

// testBackupSchedule sets spec.backup with a schedule every 20 seconds and
// keep 2, waits until retention has deleted a backup, and checks that the
// deleted backup's folder holds no manifest any more while the kept ones
// are complete.
func testBackupSchedule(t *testing.T, e *opEnv, name, claimName string) {
	e.patchSpec(t, name, func(s *redisv1alpha1.RedisClusterSpec) {
		s.Backup = &redisv1alpha1.BackupScheduleSpec{
			Schedule: "@every 20s",
			Destination: redisv1alpha1.BackupDestination{URL: "file:///backups/scheduled",
				PersistentVolumeClaim: &redisv1alpha1.BackupVolumeClaim{ClaimName: claimName}},
			Retention: redisv1alpha1.BackupRetention{Keep: 2},
		}
	})
	var pruned string
	opWait(t, 4*time.Minute, "retention deletes a scheduled backup", func(ctx context.Context) error {
		evs := clusterEvents(t, e, name, "BackupPruned")
		for _, ev := range evs.Items {
			if f := strings.Fields(ev.Message); len(f) > 2 {
				pruned = f[2]
				return nil
			}
		}
		return errors.New("no BackupPruned event yet")
	})
	t.Logf("retention deleted %s", pruned)
	opWait(t, time.Minute, pruned+" gone with its objects", func(ctx context.Context) error {
		err := e.cl.Get(ctx, types.NamespacedName{Namespace: opNS, Name: pruned}, &redisv1alpha1.RedisClusterBackup{})
		if err == nil {
			return errors.New("still there (its finalizer waits for the delete Job)")
		}
		return client.IgnoreNotFound(err)
	})
	wantBackupEvent(t, e, pruned, "BackupObjectsDeleted", "deleted the manifest and objects at file:///backups/scheduled/"+pruned)
	if dir := claimDir(t, e, claimName, "scheduled/"+pruned); fileExists(filepath.Join(dir, backup.ManifestName)) {
		t.Errorf("the pruned backup's manifest is still on the volume in %s", dir)
	} else if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the pruned backup's folder %s still holds %v", dir, entries)
	}
	// Stop the schedule, then count what is kept.
	e.patchSpec(t, name, func(s *redisv1alpha1.RedisClusterSpec) { s.Backup.Suspend = true })
	list := &redisv1alpha1.RedisClusterBackupList{}
	opWait(t, time.Minute, "no scheduled backup running", func(ctx context.Context) error {
		if err := e.cl.List(ctx, list, client.InNamespace(opNS), client.MatchingLabels{"redis.redkube.io/scheduled": "true"}); err != nil {
			return err
		}
		for _, b := range list.Items {
			if !b.Status.Phase.Terminal() {
				return fmt.Errorf("%s is %q", b.Name, b.Status.Phase)
			}
		}
		return nil
	})
	var kept []string
	for _, b := range list.Items {
		if b.DeletionTimestamp != nil || b.Status.Phase != redisv1alpha1.BackupSucceeded {
			continue
		}
		kept = append(kept, b.Name)
		if m := manifestOnClaim(t, e, claimName, "scheduled/"+b.Name); m.TotalKeys() == 0 {
			t.Errorf("kept backup %s has no key", b.Name)
		}
	}
	t.Logf("kept scheduled backups: %v", kept)
	if len(kept) == 0 || len(kept) > 3 {
		t.Errorf("kept %d succeeded scheduled backups %v, want keep 2 (3 while the newest's retention pass is pending)", len(kept), kept)
	}
	e.patchSpec(t, name, func(s *redisv1alpha1.RedisClusterSpec) { s.Backup = nil })
}

// claimDir is the host folder of path on the claim's volume.
func claimDir(t *testing.T, e *opEnv, claimName, path string) string {
	t.Helper()
	pvc := &corev1.PersistentVolumeClaim{}
	if err := e.cl.Get(t.Context(), types.NamespacedName{Namespace: opNS, Name: claimName}, pvc); err != nil {
		t.Fatal(err)
	}
	pv := &corev1.PersistentVolume{}
	if err := e.cl.Get(t.Context(), types.NamespacedName{Name: pvc.Spec.VolumeName}, pv); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(storage.VolumePath(pv), path)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// restoreCase is a cluster restored on create and the method the
// operator must choose for it.
type restoreCase struct {
	name              string
	masters, replicas int32
	method            redisv1alpha1.RestoreMethod
}

// testRestoreOnCreate creates a cluster with spec.restore from the 3-shard
// backup and checks that it is Ready only after the restore, by the
// method wanted (KeyByKey: a Job; SameLayout: no Job, the first pods
// started on the shards' RDBs), with every key of the backup. The cluster
// is deleted afterwards.
func testRestoreOnCreate(t *testing.T, e *opEnv, rcase restoreCase, secret, password, from string, keys int) {
	name := rcase.name
	rc := &redisv1alpha1.RedisCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: opNS},
		Spec: redisv1alpha1.RedisClusterSpec{
			Masters: rcase.masters, ReplicasPerMaster: rcase.replicas,
			Storage:        redisv1alpha1.StorageSpec{Size: resource.MustParse("64Mi")},
			PasswordSecret: &redisv1alpha1.PasswordSecretRef{Name: secret},
			Restore:        &redisv1alpha1.RestoreSpec{FromBackup: from},
		},
	}
	began := time.Now()
	if err := e.cl.Create(t.Context(), rc); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := e.cl.Delete(context.Background(), rc); err != nil {
			t.Logf("delete %s: %v", name, err)
		}
	}()
	var failed string
	opWait(t, 5*time.Minute, "status.restore Succeeded", func(ctx context.Context) error {
		rc, err := e.get(ctx, name)
		if err != nil {
			return err
		}
		switch st := rc.Status.Restore; {
		case st != nil && st.Phase == redisv1alpha1.RestoreFailed:
			failed = st.Message
			return nil
		case st == nil || st.Phase != redisv1alpha1.RestoreSucceeded:
			if ready := meta.FindStatusCondition(rc.Status.Conditions, string(redisv1alpha1.ConditionReady)); ready != nil && ready.Status == metav1.ConditionTrue {
				return errors.New("Ready before the restore finished") // fails at the deadline, with this message
			}
			return fmt.Errorf("status.restore %+v", st)
		}
		return nil
	})
	if failed != "" {
		t.Fatalf("the restore failed: %s", failed)
	}
	got := e.waitReady(t, name, began, 2*time.Minute)
	t.Logf("measured: RedisCluster with spec.restore (%s: %d masters x %d replicas from 3 shards, %d keys) created -> Ready: %v", rcase.method, rcase.masters, rcase.replicas, keys, time.Since(began))
	c := meta.FindStatusCondition(got.Status.Conditions, string(redisv1alpha1.ConditionRestored))
	if c == nil || c.Status != metav1.ConditionTrue || got.Status.Restore == nil || got.Status.Restore.Phase != redisv1alpha1.RestoreSucceeded {
		t.Fatalf("Ready without a finished restore: Restored %+v, status.restore %+v", c, got.Status.Restore)
	}
	t.Logf("restore: %s", got.Status.Restore.Message)
	if m := got.Status.Restore.Method; m != rcase.method {
		t.Errorf("status.restore.method %q (%s), want %q", m, got.Status.Restore.MethodReason, rcase.method)
	}
	job := &batchv1.Job{}
	err := e.cl.Get(t.Context(), types.NamespacedName{Namespace: opNS, Name: resources.RestoreJobName(got)}, job)
	if hasJob := err == nil; hasJob != (rcase.method == redisv1alpha1.RestoreKeyByKey) {
		t.Errorf("restore Job exists: %v (%v), want one only for KeyByKey", hasJob, err)
	}
	if !strings.Contains(got.Status.Restore.Message, fmt.Sprintf("restored %d keys", keys)) {
		t.Errorf("status.restore.message %q does not count %d keys", got.Status.Restore.Message, keys)
	}
	cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: e.addrs(t, name), Password: password, MaxRedirects: 8})
	defer func() { _ = cl.Close() }()
	for k := range keys {
		v, err := cl.Get(t.Context(), fmt.Sprintf("bk:%d", k)).Int()
		if err != nil || v != k {
			t.Fatalf("bk:%d in the restored cluster: %d, %v (want %d)", k, v, err, k)
		}
	}
	var mu sync.Mutex
	n := 0
	err = cl.ForEachMaster(t.Context(), func(ctx context.Context, c *redis.Client) error {
		size, err := c.DBSize(ctx).Result()
		if err != nil {
			return err
		}
		if size == 0 {
			t.Errorf("master %s holds no key: a shard got none", c.Options().Addr)
		}
		mu.Lock()
		n += int(size)
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != keys {
		t.Errorf("the restored cluster's masters hold %d keys, want %d", n, keys)
	}
	wantEvent(t, e, name, "RestoreSucceeded", "restored", string(rcase.method))
	wantEvent(t, e, name, "RestoreMethodChosen", string(rcase.method))
}

// testBackupToS3 backs the cluster up to a SeaweedFS S3 gateway listening
// on the pod network's gateway address (pods reach the host there), with
// credentials from a Secret, and checks the bucket against the status;
// then a backup with a wrong secret key fails with the S3 error. It
// returns the succeeded backup's name; the server lives as long as t.
func testBackupToS3(t *testing.T, e *opEnv, network podnet.Config, cluster string, keys int) string {
	srv := s3env.StartOn(t, network.CIDR.Addr().Next().String())
	srv.MakeBucket(t, "backups")
	for name, secretKey := range map[string]string{"s3-creds": s3env.SecretKey, "s3-wrong": "not-the-secret"} {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: opNS},
			StringData: map[string]string{"AWS_ACCESS_KEY_ID": s3env.AccessKey, "AWS_SECRET_ACCESS_KEY": secretKey}}
		if err := e.cl.Create(t.Context(), sec); err != nil {
			t.Fatal(err)
		}
	}
	s3Backup := func(name, secret string) *redisv1alpha1.RedisClusterBackup {
		b := &redisv1alpha1.RedisClusterBackup{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: opNS},
			Spec: redisv1alpha1.RedisClusterBackupSpec{Cluster: cluster, Destination: redisv1alpha1.BackupDestination{
				URL: "s3://backups/" + cluster + "/" + name,
				S3: &redisv1alpha1.S3Access{Endpoint: srv.Endpoint, PathStyle: true,
					CredentialsSecret: &redisv1alpha1.S3CredentialsSecret{Name: secret}},
			}},
		}
		if err := e.cl.Create(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := waitBackupPhase(t, e, s3Backup("s3-1", "s3-creds").Name, redisv1alpha1.BackupSucceeded, 3*time.Minute)
	loc, err := backup.ParseLocation(b.Status.Location)
	if err != nil {
		t.Fatal(err)
	}
	st, err := backup.NewS3Store(loc, backup.S3Options{Endpoint: srv.Endpoint, PathStyle: true, AccessKey: s3env.AccessKey, SecretKey: s3env.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	m, err := backup.ReadManifest(t.Context(), st)
	if err != nil {
		t.Fatalf("read the manifest in the bucket: %v (objects %v)", err, srv.Objects(t, "backups", cluster+"/s3-1/"))
	}
	if m.TotalKeys() != int64(keys) || b.Status.Keys != int64(keys) || len(m.Shards) != len(b.Status.Shards) {
		t.Errorf("bucket manifest %d keys, %d shards; status %d keys, %d shards; want %d keys", m.TotalKeys(), len(m.Shards), b.Status.Keys, len(b.Status.Shards), keys)
	}
	for i := range m.Shards {
		if i < len(b.Status.Shards) && m.Shards[i].SHA256 != b.Status.Shards[i].SHA256 {
			t.Errorf("shard %d: bucket sha256 %s, status %s", i, m.Shards[i].SHA256, b.Status.Shards[i].SHA256)
		}
	}
	t.Logf("objects in the bucket: %v", srv.Objects(t, "backups", cluster+"/s3-1/"))

	bad := waitBackupPhase(t, e, s3Backup("s3-wrong", "s3-wrong").Name, redisv1alpha1.BackupFailed, 3*time.Minute)
	c := meta.FindStatusCondition(bad.Status.Conditions, string(redisv1alpha1.ConditionBackupComplete))
	if c == nil || !strings.Contains(c.Message, "credentials refused") {
		t.Errorf("a backup with a wrong secret key: condition %+v, want the S3 error naming the credentials", c)
	}
	if objs := srv.Objects(t, "backups", cluster+"/s3-wrong/"); len(objs) != 0 {
		t.Errorf("a failed backup left %v in the bucket", objs)
	}
	return b.Name
}
