package controller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// backupLastSuccess is the completion time of the newest succeeded
// backup of each cluster, for the RedkubeBackupLate alert. It is set from
// every Succeeded RedisClusterBackup the controller sees, so a restarted
// operator rebuilds it from the backups' status.
var backupLastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "redkube_backup_last_success_timestamp_seconds",
	Help: "Unix time at which the newest successful RedisClusterBackup of the cluster completed.",
}, []string{"namespace", "cluster"})

// backupInterval is the time between two runs of a cluster's backup
// schedule (spec.backup.schedule), so an alert can say a backup is late
// without knowing the schedule: RedkubeBackupLate fires when the last
// success is more than two intervals old.
var backupInterval = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "redkube_backup_schedule_interval_seconds",
	Help: "Seconds between two runs of the cluster's spec.backup.schedule (its next two times); absent without a schedule.",
}, []string{"namespace", "cluster"})

func init() {
	ctrlmetrics.Registry.MustRegister(backupLastSuccess, backupInterval)
}

// InitBackupMetrics creates the backup series of a cluster with a
// schedule: the interval between its runs and, when no backup has
// succeeded yet, a last success at since (the cluster's creation), so that
// RedkubeBackupLate fires for a cluster whose backups never succeed once
// two runs have passed, and not before.
func InitBackupMetrics(namespace, cluster string, since time.Time, interval time.Duration) {
	backupInterval.WithLabelValues(namespace, cluster).Set(interval.Seconds())
	g := backupLastSuccess.WithLabelValues(namespace, cluster)
	if gaugeValue(g) == 0 {
		g.Set(float64(since.Unix()))
	}
}

// dropBackupMetrics removes the series of a cluster without a schedule.
func dropBackupMetrics(namespace, cluster string) {
	backupInterval.DeleteLabelValues(namespace, cluster)
	backupLastSuccess.DeleteLabelValues(namespace, cluster)
}

// recordBackupSuccess raises the cluster's last-success time to the
// backup's completion time (never lowers it: an older backup seen later
// does not make the newest one older).
func recordBackupSuccess(b *redisv1alpha1.RedisClusterBackup) {
	if b.Status.CompletionTime == nil {
		return
	}
	g := backupLastSuccess.WithLabelValues(b.Namespace, b.Spec.Cluster)
	t := float64(b.Status.CompletionTime.Unix())
	if cur := gaugeValue(g); cur < t {
		g.Set(t)
	}
}

// gaugeValue is g's current value.
func gaugeValue(g prometheus.Gauge) float64 {
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		return 0 // a plain gauge's Write does not fail
	}
	return m.GetGauge().GetValue()
}
