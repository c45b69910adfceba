package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
)

// Events of a restore on create, on the RedisCluster.
const (
	// EventRestoreStarted: the restore Job was created.
	EventRestoreStarted = "RestoreStarted"
	// EventRestoreSucceeded: the backup's keys are in the cluster.
	EventRestoreSucceeded = "RestoreSucceeded"
	// EventRestoreFailed: the restore Job failed; the note has rcctl's
	// error.
	EventRestoreFailed = "RestoreFailed"
)

// restoreWaitRetry is how soon a restore waiting for its backup looks
// again.
const restoreWaitRetry = 10 * time.Second

// RestoreReconciler runs spec.restore of new RedisClusters by the method
// the RedisCluster controller recorded in status.restore.method. Once that
// controller reports the cluster up (Restored False with RestorePending):
// KeyByKey starts one Job running `rcctl restore` and follows it;
// SameLayout (the pods started on the backup's shards, no Job) checks the
// key counts of the shards' masters (restoreKeysVerdict). It records the
// outcome in status.restore, from which the RedisCluster controller sets
// Restored and lets Ready become True. It writes only
// status.restore, with a merge patch, so the two controllers never
// overwrite each other's fields.
type RestoreReconciler struct {
	// Client reads through the manager's cache and writes to the API server.
	Client client.Client
	// Logs reads the restore pod's log (its JSON result).
	Logs PodLogs
	// Recorder emits events on RedisClusters.
	Recorder recorder.EventRecorder
	// Clock is injected for tests (default: the real clock).
	Clock clock.PassiveClock
	// Image is the operator image, which holds /rcctl.
	Image string
	// ClusterDomain is the cluster's DNS domain (default cluster.local).
	ClusterDomain string
}

// SetupWithManager registers the controller for RedisClusters with
// spec.restore (their status changes included: the RedisCluster
// controller's "cluster up" is a status change) and their restore Jobs.
func (r *RestoreReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.Image == "" {
		r.Image = DefaultExporterImage
	}
	if r.ClusterDomain == "" {
		r.ClusterDomain = resources.DefaultClusterDomain
	}
	withRestore := predicate.NewPredicateFuncs(func(o client.Object) bool {
		rc, ok := o.(*redisv1alpha1.RedisCluster)
		return ok && rc.Spec.Restore != nil
	})
	err := ctrl.NewControllerManagedBy(mgr).
		Named("restore").
		For(&redisv1alpha1.RedisCluster{}, builder.WithPredicates(withRestore)).
		Owns(&batchv1.Job{}).
		Complete(r)
	if err != nil {
		return fmt.Errorf("set up the restore controller: %w", err)
	}
	return nil
}

// Reconcile advances one cluster's restore.
func (r *RestoreReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rc := &redisv1alpha1.RedisCluster{}
	if err := r.Client.Get(ctx, req.NamespacedName, rc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if rc.Spec.Restore == nil || rc.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}
	if st := rc.Status.Restore; st != nil && (st.Phase == redisv1alpha1.RestoreSucceeded || st.Phase == redisv1alpha1.RestoreFailed) {
		return ctrl.Result{}, nil
	}
	base := rc.DeepCopy()
	next := redisv1alpha1.RestoreStatus{Phase: redisv1alpha1.RestorePending}
	if rc.Status.Restore != nil {
		next = *rc.Status.Restore.DeepCopy()
	}
	res, err := r.advance(ctx, rc, &next)
	if err != nil {
		return ctrl.Result{}, err
	}
	if rc.Status.Restore == nil || !equality.Semantic.DeepEqual(*rc.Status.Restore, next) {
		rc.Status.Restore = &next
		if err := r.Client.Status().Patch(ctx, rc, client.MergeFrom(base)); err != nil {
			return ctrl.Result{}, fmt.Errorf("write status.restore of %s: %w", rc.Name, err)
		}
	}
	return res, nil
}

// advance sets next from the restore Job, starting it when the cluster is
// up and the backup is ready.
func (r *RestoreReconciler) advance(ctx context.Context, rc *redisv1alpha1.RedisCluster, next *redisv1alpha1.RestoreStatus) (ctrl.Result, error) {
	switch next.Method {
	case "":
		next.Message = "waiting for the restore method to be chosen"
		return ctrl.Result{}, nil // its status change brings the next pass
	case redisv1alpha1.RestoreSameLayout:
		r.advanceSameLayout(rc, next)
		return ctrl.Result{}, nil
	}
	now := metav1.NewTime(r.Clock.Now())
	job := &batchv1.Job{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: rc.Namespace, Name: resources.RestoreJobName(rc)}, job)
	switch {
	case err == nil:
		next.Phase, next.JobName = redisv1alpha1.RestoreRunning, job.Name
		switch {
		case jobCondition(job, batchv1.JobComplete):
			next.Phase, next.CompletionTime = redisv1alpha1.RestoreSucceeded, &now
			next.Message = r.restoredMessage(ctx, job, next.Location) + methodAndTime(rc, next.Method, now)
			r.event(rc, corev1.EventTypeNormal, EventRestoreSucceeded, next.Message)
		case jobCondition(job, batchv1.JobFailed):
			next.Phase, next.CompletionTime = redisv1alpha1.RestoreFailed, &now
			next.Message = terminationCause(ctx, r.Client, job, resources.RestoreContainerName)
			r.event(rc, corev1.EventTypeWarning, EventRestoreFailed, next.Message)
		}
		return ctrl.Result{}, nil
	case !apierrors.IsNotFound(err):
		return ctrl.Result{}, fmt.Errorf("get the restore Job of %s: %w", rc.Name, err)
	case next.Phase == redisv1alpha1.RestoreRunning:
		next.Phase, next.CompletionTime = redisv1alpha1.RestoreFailed, &now
		next.Message = "the restore Job " + next.JobName + " was deleted before it finished"
		r.event(rc, corev1.EventTypeWarning, EventRestoreFailed, next.Message)
		return ctrl.Result{}, nil
	}
	src, location, wait, err := r.source(ctx, rc)
	if err != nil {
		return ctrl.Result{}, err
	}
	if wait != "" {
		next.Message = wait
		return ctrl.Result{RequeueAfter: restoreWaitRetry}, nil
	}
	next.Location = location
	if !clusterUp(rc) {
		next.Message = "waiting for the cluster to be up"
		return ctrl.Result{}, nil // its status change brings the next pass
	}
	seed, err := seedOf(ctx, r.Client, rc, r.ClusterDomain)
	if err != nil || seed == "" {
		next.Message = "no ready Redis pod to start from"
		return ctrl.Result{RequeueAfter: restoreWaitRetry}, err
	}
	job = resources.RestoreJob(resources.RestoreJobInput{Cluster: rc, Source: src, Location: location, OperatorImage: r.Image, Seed: seed})
	if err := r.Client.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
		return ctrl.Result{}, fmt.Errorf("create the restore Job of %s: %w", rc.Name, err)
	}
	next.Phase, next.JobName = redisv1alpha1.RestoreRunning, job.Name
	next.Message = fmt.Sprintf("Job %s runs rcctl restore from %s", job.Name, location)
	r.event(rc, corev1.EventTypeNormal, EventRestoreStarted, next.Message)
	log.FromContext(ctx).Info("restore started", "cluster", rc.Name, "job", job.Name, "from", location)
	return ctrl.Result{}, nil
}

// clusterUp reports whether the RedisCluster controller reports the
// cluster up and waiting for its restore (Restored False with
// RestorePending for the current generation).
func clusterUp(rc *redisv1alpha1.RedisCluster) bool {
	c := meta.FindStatusCondition(rc.Status.Conditions, string(redisv1alpha1.ConditionRestored))
	return c != nil && c.Reason == string(redisv1alpha1.ReasonRestorePending) && c.ObservedGeneration == rc.Generation
}

// advanceSameLayout judges a same-layout restore (no Job: each shard's
// first pod started on its RDB and the cluster was formed around them)
// once the cluster is up, from the key counts of its masters that the
// RedisCluster controller recorded in status.restore.shards.
func (r *RestoreReconciler) advanceSameLayout(rc *redisv1alpha1.RedisCluster, next *redisv1alpha1.RestoreStatus) {
	if !clusterUp(rc) {
		next.Message = "the cluster is being formed around the pods started on the backup's shards"
		return
	}
	known, ok, msg := restoreKeysVerdict(next.Shards)
	if !known {
		next.Message = "the cluster is up; waiting for the key counts of the shards' masters"
		return
	}
	now := metav1.NewTime(r.Clock.Now())
	next.CompletionTime = &now
	if !ok {
		next.Phase, next.Message = redisv1alpha1.RestoreFailed, msg
		r.event(rc, corev1.EventTypeWarning, EventRestoreFailed, next.Message)
		return
	}
	next.Phase = redisv1alpha1.RestoreSucceeded
	next.Message = msg + " from " + next.Location + methodAndTime(rc, next.Method, now)
	r.event(rc, corev1.EventTypeNormal, EventRestoreSucceeded, next.Message)
}

// methodAndTime says how a restore ran and how long the cluster took from
// its creation to holding the backup's keys.
func methodAndTime(rc *redisv1alpha1.RedisCluster, m redisv1alpha1.RestoreMethod, now metav1.Time) string {
	return fmt.Sprintf(" by %s, %s after the cluster was created", m, now.Sub(rc.CreationTimestamp.Time).Round(time.Second))
}

// source resolves spec.restore: the destination to read and its URL, or
// why the restore must wait (a backup that is missing or not finished).
// A failed backup cannot become restorable: that is a wait message too,
// naming it, until the spec names another (a new cluster).
func (r *RestoreReconciler) source(ctx context.Context, rc *redisv1alpha1.RedisCluster) (redisv1alpha1.BackupDestination, string, string, error) {
	spec := rc.Spec.Restore
	if spec.Location != nil {
		return *spec.Location, spec.Location.URL, "", nil
	}
	b := &redisv1alpha1.RedisClusterBackup{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: rc.Namespace, Name: spec.FromBackup}, b); err != nil {
		if apierrors.IsNotFound(err) {
			return redisv1alpha1.BackupDestination{}, "", "RedisClusterBackup " + spec.FromBackup + " does not exist", nil
		}
		return redisv1alpha1.BackupDestination{}, "", "", fmt.Errorf("get RedisClusterBackup %s: %w", spec.FromBackup, err)
	}
	if b.Status.Phase != redisv1alpha1.BackupSucceeded || b.Status.Location == "" {
		return redisv1alpha1.BackupDestination{}, "", fmt.Sprintf("RedisClusterBackup %s is %s, not Succeeded", b.Name, orDefault(string(b.Status.Phase), "new")), nil
	}
	return b.Spec.Destination, b.Status.Location, "", nil
}

// restoredMessage says how many keys the restore wrote, from rcctl's JSON
// result in the pod's log when it can be read.
func (r *RestoreReconciler) restoredMessage(ctx context.Context, job *batchv1.Job, location string) string {
	msg := "restored from " + location
	pod, err := podOfJob(ctx, r.Client, job.Namespace, job.Name)
	if err != nil || pod == nil || r.Logs == nil {
		return msg
	}
	b, err := r.Logs.Read(ctx, pod.Namespace, pod.Name, resources.RestoreContainerName, backupLogLimit)
	if err != nil {
		return msg
	}
	var rep struct {
		Shards       int   `json:"shards"`
		KeysRestored int64 `json:"keysRestored"`
	}
	if i := bytes.LastIndex(b, []byte("\n{\n")); i >= 0 && json.NewDecoder(bytes.NewReader(b[i+1:])).Decode(&rep) == nil {
		return fmt.Sprintf("restored %d keys of %d shards from %s", rep.KeysRestored, rep.Shards, location)
	} else if bytes.HasPrefix(b, []byte("{\n")) && json.Unmarshal(b, &rep) == nil {
		return fmt.Sprintf("restored %d keys of %d shards from %s", rep.KeysRestored, rep.Shards, location)
	}
	return msg
}

func (r *RestoreReconciler) event(rc *redisv1alpha1.RedisCluster, typ, reason, msg string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(rc, nil, typ, reason, "Restore", "%s", msg)
	}
}
