package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
)

// +kubebuilder:rbac:groups=redis.redkube.io,resources=redisclusterbackups,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=redis.redkube.io,resources=redisclusterbackups/finalizers,verbs=update
// +kubebuilder:rbac:groups=redis.redkube.io,resources=redisclusterbackups/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=pods/log,verbs=get

// Event reasons on a RedisClusterBackup.
const (
	// EventBackupStarted: the backup Job was created; the note names it
	// and the node rcctl starts from.
	EventBackupStarted = "BackupStarted"
	// EventBackupSucceeded: the manifest was read; the note has the
	// shards, keys, bytes and duration.
	EventBackupSucceeded = "BackupSucceeded"
	// EventBackupFailed: the Job failed or its result was unreadable; the
	// note has the cause.
	EventBackupFailed = "BackupFailed"
	// EventBackupObjectsDeleted: a deleted backup's objects were removed
	// from the store.
	EventBackupObjectsDeleted = "BackupObjectsDeleted"
	// EventBackupObjectsNotDeleted: the Job removing a deleted backup's
	// objects failed; the note names the location.
	EventBackupObjectsNotDeleted = "BackupObjectsNotDeleted"
)

// BackupObjectsFinalizer is on the backups a schedule makes: deleting one
// deletes its objects in the store first.
const BackupObjectsFinalizer = "redis.redkube.io/backup-objects"

// backupPendingRetry is how soon a Pending backup (its cluster missing or
// without a ready pod) is looked at again.
const backupPendingRetry = 10 * time.Second

// backupLogLimit bounds the backup pod's log read for its result (the
// manifest of a few hundred shards is well below it).
const backupLogLimit = 4 << 20

// PodLogs reads a container's log.
type PodLogs interface {
	// Read returns at most limit bytes of the log of container in pod
	// namespace/name.
	Read(ctx context.Context, namespace, name, container string, limit int64) ([]byte, error)
}

// clientsetLogs reads pod logs through the API server.
type clientsetLogs struct{ cs kubernetes.Interface }

func (c clientsetLogs) Read(ctx context.Context, ns, name, container string, limit int64) ([]byte, error) {
	r, err := c.cs.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{Container: container, LimitBytes: &limit}).Stream(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the log of pod %s/%s: %w", ns, name, err)
	}
	defer func() { _ = r.Close() }() // read-only stream
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read the log of pod %s/%s: %w", ns, name, err)
	}
	return b, nil
}

// BackupReconciler runs each RedisClusterBackup as one Job (`rcctl
// backup` in the operator image) and fills its status from the manifest
// the Job reports: Pending (no cluster or no ready pod yet) → Running (the
// Job exists) → Succeeded or Failed, each final.
type BackupReconciler struct {
	// Client reads through the manager's cache and writes to the API server.
	Client client.Client
	// Logs reads the backup pod's log (its JSON result).
	Logs PodLogs
	// Recorder emits events on RedisClusterBackups.
	Recorder recorder.EventRecorder
	// Clock is injected for tests (default: the real clock).
	Clock clock.PassiveClock
	// Image is the operator image, which holds /rcctl (default:
	// DefaultExporterImage, the operator image at its version).
	Image string
	// ClusterDomain is the cluster's DNS domain (default cluster.local).
	ClusterDomain string
}

// SetupWithManager registers the controller: it watches backups and the
// Jobs they own.
func (r *BackupReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.Image == "" {
		r.Image = DefaultExporterImage
	}
	if r.ClusterDomain == "" {
		r.ClusterDomain = resources.DefaultClusterDomain
	}
	err := ctrl.NewControllerManagedBy(mgr).
		For(&redisv1alpha1.RedisClusterBackup{}).
		Owns(&batchv1.Job{}).
		Complete(r)
	if err != nil {
		return fmt.Errorf("set up the RedisClusterBackup controller: %w", err)
	}
	return nil
}

// Reconcile moves one backup along its phases.
func (r *BackupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	b := &redisv1alpha1.RedisClusterBackup{}
	if err := r.Client.Get(ctx, req.NamespacedName, b); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if b.DeletionTimestamp != nil {
		return ctrl.Result{}, r.deleteObjects(ctx, b)
	}
	if b.Status.Phase == redisv1alpha1.BackupSucceeded {
		recordBackupSuccess(b)
		return ctrl.Result{}, nil
	}
	if b.Status.Phase.Terminal() {
		return ctrl.Result{}, nil
	}
	base := b.DeepCopy()
	res, err := r.advance(ctx, b)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !equality.Semantic.DeepEqual(base.Status, b.Status) {
		b.Status.ObservedGeneration = b.Generation
		if err := r.Client.Status().Update(ctx, b); err != nil {
			return ctrl.Result{}, fmt.Errorf("write the status of backup %s: %w", req.NamespacedName, err)
		}
	}
	return res, nil
}

// advance looks at the backup's Job and sets the status it implies,
// starting the Job when there is none yet.
func (r *BackupReconciler) advance(ctx context.Context, b *redisv1alpha1.RedisClusterBackup) (ctrl.Result, error) {
	now := metav1.NewTime(r.Clock.Now())
	job := &batchv1.Job{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: resources.BackupJobName(b)}, job)
	switch {
	case apierrors.IsNotFound(err):
		if b.Status.Phase == redisv1alpha1.BackupRunning {
			r.fail(b, now, "its Job "+resources.BackupJobName(b)+" was deleted before it finished")
			return ctrl.Result{}, nil
		}
		return r.start(ctx, b, now)
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("get the Job of backup %s: %w", b.Name, err)
	}
	if b.Status.Phase != redisv1alpha1.BackupRunning {
		// A Job made by an earlier pass whose status write was lost.
		b.Status.Phase, b.Status.JobName = redisv1alpha1.BackupRunning, job.Name
		b.Status.StartTime = &job.CreationTimestamp
		setBackupCondition(b, false, redisv1alpha1.ReasonBackupRunning, "Job "+job.Name+" runs rcctl backup", now)
	}
	switch {
	case jobCondition(job, batchv1.JobComplete):
		r.finish(ctx, b, now)
	case jobCondition(job, batchv1.JobFailed):
		r.fail(b, now, r.jobFailure(ctx, b, job))
	}
	return ctrl.Result{}, nil
}

// start creates the Job once the cluster has a ready pod to start from.
func (r *BackupReconciler) start(ctx context.Context, b *redisv1alpha1.RedisClusterBackup, now metav1.Time) (ctrl.Result, error) {
	rc := &redisv1alpha1.RedisCluster{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.Cluster}, rc); err != nil {
		if apierrors.IsNotFound(err) {
			r.pending(b, now, "RedisCluster "+b.Spec.Cluster+" does not exist in namespace "+b.Namespace)
			return ctrl.Result{RequeueAfter: backupPendingRetry}, nil
		}
		return ctrl.Result{}, fmt.Errorf("get RedisCluster %s: %w", b.Spec.Cluster, err)
	}
	seed, err := seedOf(ctx, r.Client, rc, r.ClusterDomain)
	if err != nil {
		return ctrl.Result{}, err
	}
	if seed == "" {
		r.pending(b, now, "RedisCluster "+rc.Name+" has no ready Redis pod")
		return ctrl.Result{RequeueAfter: backupPendingRetry}, nil
	}
	job := resources.BackupJob(resources.BackupJobInput{Backup: b, Cluster: rc, Image: r.Image, Seed: seed})
	if err := r.Client.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
		return ctrl.Result{}, fmt.Errorf("create the Job of backup %s: %w", b.Name, err)
	}
	b.Status.Phase, b.Status.JobName, b.Status.StartTime = redisv1alpha1.BackupRunning, job.Name, &now
	msg := fmt.Sprintf("Job %s runs rcctl backup from %s to %s", job.Name, seed, b.Spec.Destination.URL)
	setBackupCondition(b, false, redisv1alpha1.ReasonBackupRunning, msg, now)
	r.event(b, corev1.EventTypeNormal, EventBackupStarted, msg)
	log.FromContext(ctx).Info("backup started", "backup", b.Name, "cluster", rc.Name, "job", job.Name, "seed", seed)
	return ctrl.Result{}, nil
}

// seedOf is the address of the cluster's first ready Redis pod by name,
// "" when none is ready.
func seedOf(ctx context.Context, c client.Client, rc *redisv1alpha1.RedisCluster, clusterDomain string) (string, error) {
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(rc.Namespace), client.MatchingLabelsSelector{Selector: resources.ClusterSelector(rc)}); err != nil {
		return "", fmt.Errorf("list the pods of RedisCluster %s: %w", rc.Name, err)
	}
	sort.Slice(pods.Items, func(i, j int) bool { return pods.Items[i].Name < pods.Items[j].Name })
	for i := range pods.Items {
		p := &pods.Items[i]
		shard, ordinal, ok := resources.ParsePodName(rc, p.Name)
		if ok && p.DeletionTimestamp == nil && podReady(p) {
			return resources.BackupSeed(rc, shard, ordinal, clusterDomain), nil
		}
	}
	return "", nil
}

// finish reads the Job's result and marks the backup Succeeded, or
// Failed when the result cannot be read: a backup whose manifest was not
// seen is never reported complete.
func (r *BackupReconciler) finish(ctx context.Context, b *redisv1alpha1.RedisClusterBackup, now metav1.Time) {
	res, err := r.result(ctx, b)
	if err != nil {
		b.Status.Phase, b.Status.CompletionTime = redisv1alpha1.BackupFailed, &now
		msg := "the Job succeeded but its result is unreadable, so the backup is not reported complete: " + err.Error()
		setBackupCondition(b, false, redisv1alpha1.ReasonBackupResultUnreadable, msg, now)
		r.event(b, corev1.EventTypeWarning, EventBackupFailed, msg)
		return
	}
	succeededStatus(&b.Status, res)
	b.Status.Phase, b.Status.CompletionTime = redisv1alpha1.BackupSucceeded, &now
	msg := fmt.Sprintf("%d shards, %d keys, %d bytes in %s to %s", len(b.Status.Shards), b.Status.Keys, b.Status.Size, b.Status.Duration, b.Status.Location)
	setBackupCondition(b, true, redisv1alpha1.ReasonBackupSucceeded, msg, now)
	r.event(b, corev1.EventTypeNormal, EventBackupSucceeded, msg)
	recordBackupSuccess(b)
}

// result reads the backup pod's log and parses its JSON result.
func (r *BackupReconciler) result(ctx context.Context, b *redisv1alpha1.RedisClusterBackup) (backupResult, error) {
	pod, err := r.jobPod(ctx, b)
	if err != nil {
		return backupResult{}, err
	}
	if pod == nil {
		return backupResult{}, errors.New("the backup pod is gone")
	}
	logText, err := r.Logs.Read(ctx, pod.Namespace, pod.Name, resources.BackupContainerName, backupLogLimit)
	if err != nil {
		return backupResult{}, err
	}
	return parseBackupLog(logText)
}

// jobPod is the backup's pod (the Job runs one, never retried), nil when
// there is none.
func (r *BackupReconciler) jobPod(ctx context.Context, b *redisv1alpha1.RedisClusterBackup) (*corev1.Pod, error) {
	return podOfJob(ctx, r.Client, b.Namespace, resources.BackupJobName(b))
}

// podOfJob is the pod of a Job that runs one pod and never retries, nil
// when there is none.
func podOfJob(ctx context.Context, c client.Client, namespace, job string) (*corev1.Pod, error) {
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(namespace), client.MatchingLabels{batchv1.JobNameLabel: job}); err != nil {
		return nil, fmt.Errorf("list the pods of Job %s: %w", job, err)
	}
	if len(pods.Items) == 0 {
		return nil, nil
	}
	return &pods.Items[0], nil
}

// terminationCause is the cause of a failed Job: its container's
// termination message's last line (rcctl's error), else the Job's own
// condition message.
func terminationCause(ctx context.Context, c client.Client, job *batchv1.Job, container string) string {
	fallback := "Job " + job.Name + " failed"
	for _, cond := range job.Status.Conditions {
		if cond.Type == batchv1.JobFailed && cond.Message != "" {
			fallback = "Job " + job.Name + " failed: " + cond.Message
		}
	}
	pod, err := podOfJob(ctx, c, job.Namespace, job.Name)
	if err != nil || pod == nil {
		return fallback
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if t := cs.State.Terminated; cs.Name == container && t != nil {
			return failureCause(t.Message, fallback)
		}
	}
	return fallback
}

// jobFailure is the cause of a failed backup Job.
func (r *BackupReconciler) jobFailure(ctx context.Context, _ *redisv1alpha1.RedisClusterBackup, job *batchv1.Job) string {
	return terminationCause(ctx, r.Client, job, resources.BackupContainerName)
}

func (r *BackupReconciler) pending(b *redisv1alpha1.RedisClusterBackup, now metav1.Time, msg string) {
	b.Status.Phase = redisv1alpha1.BackupPending
	setBackupCondition(b, false, redisv1alpha1.ReasonBackupPending, msg, now)
}

func (r *BackupReconciler) fail(b *redisv1alpha1.RedisClusterBackup, now metav1.Time, cause string) {
	b.Status.Phase, b.Status.CompletionTime = redisv1alpha1.BackupFailed, &now
	setBackupCondition(b, false, redisv1alpha1.ReasonBackupFailed, cause, now)
	r.event(b, corev1.EventTypeWarning, EventBackupFailed, cause)
}

func (r *BackupReconciler) event(b *redisv1alpha1.RedisClusterBackup, typ, reason, msg string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(b, nil, typ, reason, "Backup", "%s", msg)
	}
}

// deleteObjects runs, for a deleted backup that holds the finalizer
// BackupObjectsFinalizer and succeeded, a Job that deletes its objects in
// the store, and releases the backup once the Job has ended. A failed
// backup has no objects (rcctl removed them), so it is released at once;
// so is one whose delete Job failed, with a Warning event naming the
// location left behind, so that retention never stops on one backup.
func (r *BackupReconciler) deleteObjects(ctx context.Context, b *redisv1alpha1.RedisClusterBackup) error {
	if !controllerutil.ContainsFinalizer(b, BackupObjectsFinalizer) {
		return nil
	}
	if b.Status.Phase == redisv1alpha1.BackupSucceeded && b.Status.Location != "" {
		job := &batchv1.Job{}
		err := r.Client.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: resources.BackupDeleteJobName(b)}, job)
		switch {
		case apierrors.IsNotFound(err):
			job = resources.BackupDeleteJob(b, r.Image)
			if err := r.Client.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("create the Job deleting backup %s's objects: %w", b.Name, err)
			}
			return nil
		case err != nil:
			return fmt.Errorf("get the Job deleting backup %s's objects: %w", b.Name, err)
		case jobCondition(job, batchv1.JobComplete):
			r.event(b, corev1.EventTypeNormal, EventBackupObjectsDeleted, "deleted the manifest and objects at "+b.Status.Location)
		case jobCondition(job, batchv1.JobFailed):
			r.event(b, corev1.EventTypeWarning, EventBackupObjectsNotDeleted, "the Job "+job.Name+" failed; the objects at "+b.Status.Location+" may be left: delete them with rcctl delete-backup --from "+b.Status.Location)
		default:
			return nil // the Job's end brings the next pass
		}
	}
	controllerutil.RemoveFinalizer(b, BackupObjectsFinalizer)
	if err := r.Client.Update(ctx, b); err != nil {
		return fmt.Errorf("release backup %s: %w", b.Name, err)
	}
	return nil
}

// jobCondition reports whether the Job's condition t is True.
func jobCondition(job *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}
