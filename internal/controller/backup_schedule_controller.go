package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
)

// Labels and annotations of scheduled backups, and the schedule's events
// on the RedisCluster.
const (
	// LabelScheduled marks the backups a schedule made ("true"); only
	// they are subject to retention.
	LabelScheduled = "redis.redkube.io/scheduled"
	// AnnotationScheduledAt holds the schedule time (RFC 3339, UTC) a
	// backup was made for.
	AnnotationScheduledAt = "redis.redkube.io/scheduled-at"
	// EventBackupScheduled: the schedule made a RedisClusterBackup.
	EventBackupScheduled = "BackupScheduled"
	// EventBackupPruned: retention deleted a scheduled backup.
	EventBackupPruned = "BackupPruned"
	// EventInvalidBackupSchedule: spec.backup.schedule does not parse.
	EventInvalidBackupSchedule = "InvalidBackupSchedule"
)

// ScheduleReconciler runs spec.backup of RedisClusters: it makes a
// RedisClusterBackup at every schedule time and deletes the scheduled
// backups retention does not keep (their finalizer deletes their
// objects). It is a controller of its own, outside the RedisCluster's
// heal loop: a schedule never delays healing, and healing never delays a
// backup. Scheduled backups are not owned by the cluster, so deleting a
// cluster leaves its backups (and their data) in place.
type ScheduleReconciler struct {
	// Client reads through the manager's cache and writes to the API server.
	Client client.Client
	// Recorder emits events on RedisClusters.
	Recorder recorder.EventRecorder
	// Clock is injected for tests (default: the real clock).
	Clock clock.PassiveClock
}

// SetupWithManager registers the controller: RedisClusters (spec
// changes) and their scheduled backups (a backup that ends may let a due
// one start, or make an old one go).
func (r *ScheduleReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	byCluster := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		l := o.GetLabels()
		if l[LabelScheduled] != "true" || l[resources.LabelBackupCluster] == "" {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: l[resources.LabelBackupCluster]}}}
	})
	err := ctrl.NewControllerManagedBy(mgr).
		Named("backupschedule").
		For(&redisv1alpha1.RedisCluster{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&redisv1alpha1.RedisClusterBackup{}, byCluster).
		Complete(r)
	if err != nil {
		return fmt.Errorf("set up the backup schedule controller: %w", err)
	}
	return nil
}

// Reconcile makes the due backup of one cluster, deletes what retention
// does not keep, and comes back at the schedule's next time.
func (r *ScheduleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rc := &redisv1alpha1.RedisCluster{}
	if err := r.Client.Get(ctx, req.NamespacedName, rc); err != nil {
		if apierrors.IsNotFound(err) {
			dropBackupMetrics(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	spec := rc.Spec.Backup
	if spec == nil || rc.DeletionTimestamp != nil {
		dropBackupMetrics(rc.Namespace, rc.Name)
		return ctrl.Result{}, nil
	}
	sched, err := parseSchedule(spec.Schedule)
	if err != nil {
		r.event(rc, corev1.EventTypeWarning, EventInvalidBackupSchedule, err.Error())
		return ctrl.Result{}, reconcile.TerminalError(err)
	}
	list := &redisv1alpha1.RedisClusterBackupList{}
	if err := r.Client.List(ctx, list, client.InNamespace(rc.Namespace), client.MatchingLabels{LabelScheduled: "true", resources.LabelBackupCluster: rc.Name}); err != nil {
		return ctrl.Result{}, fmt.Errorf("list the scheduled backups of %s: %w", rc.Name, err)
	}
	now := r.Clock.Now().UTC()
	keep := int(spec.Retention.Keep)
	if keep < 1 {
		keep = int(redisv1alpha1.DefaultBackupKeep)
	}
	in := scheduleInput{Now: now, Schedule: sched, Since: rc.CreationTimestamp.UTC(), Cluster: rc.Name, Keep: keep, Suspend: spec.Suspend}
	if spec.Retention.MaxAge != nil {
		in.MaxAge = spec.Retention.MaxAge.Duration
	}
	for i := range list.Items {
		in.Backups = append(in.Backups, scheduledOf(&list.Items[i]))
	}
	plan := planSchedule(in)
	if next := sched.Next(plan.Next); !next.IsZero() {
		InitBackupMetrics(rc.Namespace, rc.Name, rc.CreationTimestamp.Time, next.Sub(plan.Next))
	}
	for _, name := range plan.Delete {
		b := &redisv1alpha1.RedisClusterBackup{ObjectMeta: metav1.ObjectMeta{Namespace: rc.Namespace, Name: name}}
		if err := r.Client.Delete(ctx, b); client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, fmt.Errorf("delete scheduled backup %s: %w", name, err)
		}
		r.event(rc, corev1.EventTypeNormal, EventBackupPruned, "deleted backup "+name+" (retention), and its objects with it")
	}
	if plan.Create != "" {
		if err := r.create(ctx, rc, plan); err != nil {
			return ctrl.Result{}, err
		}
	}
	if plan.Waiting != "" {
		log.FromContext(ctx).Info("scheduled backup waits for the running one", "cluster", rc.Name, "running", plan.Waiting)
	}
	return ctrl.Result{RequeueAfter: max(plan.Next.Sub(now), time.Second)}, nil
}

// create makes the scheduled backup of plan.
func (r *ScheduleReconciler) create(ctx context.Context, rc *redisv1alpha1.RedisCluster, plan schedulePlan) error {
	d := *rc.Spec.Backup.Destination.DeepCopy()
	d.URL = scheduledLocation(d.URL, plan.Create)
	b := &redisv1alpha1.RedisClusterBackup{
		ObjectMeta: metav1.ObjectMeta{
			Name: plan.Create, Namespace: rc.Namespace,
			Labels:      map[string]string{LabelScheduled: "true", resources.LabelBackupCluster: rc.Name, resources.LabelManagedBy: resources.LabelManagedByValue},
			Annotations: map[string]string{AnnotationScheduledAt: plan.CreateAt.UTC().Format(time.RFC3339)},
			Finalizers:  []string{BackupObjectsFinalizer},
		},
		Spec: redisv1alpha1.RedisClusterBackupSpec{Cluster: rc.Name, Destination: d},
	}
	if err := r.Client.Create(ctx, b); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return fmt.Errorf("create scheduled backup %s: %w", b.Name, err)
	}
	r.event(rc, corev1.EventTypeNormal, EventBackupScheduled, "created RedisClusterBackup "+b.Name+" to "+d.URL)
	return nil
}

// scheduledOf reads what the schedule needs of one of its backups; the
// schedule time falls back to the creation time.
func scheduledOf(b *redisv1alpha1.RedisClusterBackup) scheduledBackup {
	at := b.CreationTimestamp.UTC()
	if s, ok := b.Annotations[AnnotationScheduledAt]; ok {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			at = t.UTC()
		}
	}
	return scheduledBackup{Name: b.Name, At: at, Phase: b.Status.Phase, Deleting: b.DeletionTimestamp != nil}
}

func (r *ScheduleReconciler) event(rc *redisv1alpha1.RedisCluster, typ, reason, msg string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(rc, nil, typ, reason, "BackupSchedule", "%s", msg)
	}
}
