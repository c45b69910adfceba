package controller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/redkube/redkube/pkg/heal"
)

// The operator's Prometheus metrics, registered on controller-runtime's
// registry so the manager's metrics endpoint serves them. Every series is
// labelled with the RedisCluster's namespace and name.
var (
	clusterStateOK = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "redkube_cluster_state_ok",
		Help: "1 when every Redis node of the cluster reports cluster_state:ok, 0 otherwise.",
	}, []string{"namespace", "name"})
	clusterReady = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "redkube_cluster_ready",
		Help: "1 when the RedisCluster's Ready condition is True.",
	}, []string{"namespace", "name"})
	slotsOK = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "redkube_slots_ok",
		Help: "Slots served by a healthy master.",
	}, []string{"namespace", "name"})
	slotsFailing = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "redkube_slots_failing",
		Help: "Slots not served by a healthy master (16384 minus redkube_slots_ok once the cluster exists).",
	}, []string{"namespace", "name"})
	failoversTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "redkube_failovers_total",
		Help: "Failovers the operator carried out, by mode (graceful, force, takeover).",
	}, []string{"namespace", "name", "mode"})
	reconcileErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "redkube_reconcile_errors_total",
		Help: "Reconcile passes that returned an error.",
	}, []string{"namespace", "name"})
	reshardSlotsRemaining = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "redkube_resharding_slots_remaining",
		Help: "Slots the running resharding (a change of spec.masters) still has to move, as of the last pass; 0 when none runs.",
	}, []string{"namespace", "name"})
	slotsMovedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "redkube_slots_moved_total",
		Help: "Slots moved by reshardings.",
	}, []string{"namespace", "name"})
	podsOutdated = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "redkube_pods_outdated",
		Help: "Pods running an older revision of their StatefulSet's template, still to be replaced by the rolling update.",
	}, []string{"namespace", "name"})
	shardsWithoutInSyncReplica = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "redkube_shards_without_insync_replica",
		Help: "Shards none of whose replicas is in sync with the master (0 when spec.replicasPerMaster is 0 or the cluster does not exist yet): losing such a master loses writes or the shard.",
	}, []string{"namespace", "name"})
	replicasOnMasterHost = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "redkube_replicas_on_master_host",
		Help: "Replicas running on the same Kubernetes node as their master: one node failure takes both.",
	}, []string{"namespace", "name"})
	reconcileDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "redkube_reconcile_duration_seconds",
		Help:    "Duration of reconcile passes, topology actions included.",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"namespace", "name"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(clusterStateOK, clusterReady, slotsOK, slotsFailing, failoversTotal, reconcileErrors, reconcileDuration,
		reshardSlotsRemaining, slotsMovedTotal, podsOutdated, shardsWithoutInSyncReplica, replicasOnMasterHost)
}

// failoverModes are the values of redkube_failovers_total's mode label.
var failoverModes = []string{"graceful", "force", "takeover"}

// InitMetrics creates every series of the RedisCluster namespace/name that
// does not exist yet, at zero: counters then start from 0, so increase()
// in alerts counts the first failover, and dashboards show the series
// before the first event. Reconcile calls it for every existing
// RedisCluster; existing series keep their values.
func InitMetrics(namespace, name string) {
	for _, v := range []*prometheus.GaugeVec{clusterStateOK, clusterReady, slotsOK, slotsFailing, reshardSlotsRemaining, podsOutdated,
		shardsWithoutInSyncReplica, replicasOnMasterHost, tlsExpiryDays} {
		v.WithLabelValues(namespace, name)
	}
	for _, mode := range failoverModes {
		failoversTotal.WithLabelValues(namespace, name, mode)
	}
	slotsMovedTotal.WithLabelValues(namespace, name)
	initReshardMetrics(namespace, name)
	reconcileErrors.WithLabelValues(namespace, name)
	reconcileDuration.WithLabelValues(namespace, name)
}

// observeReconcile records one pass's duration and error.
func observeReconcile(namespace, name string, took time.Duration, err error) {
	reconcileDuration.WithLabelValues(namespace, name).Observe(took.Seconds())
	if err != nil {
		reconcileErrors.WithLabelValues(namespace, name).Inc()
	}
}

// setClusterMetrics records the gauges of a pass that observed Redis.
func setClusterMetrics(namespace, name string, stateOK, ready bool, ok, failing int) {
	clusterStateOK.WithLabelValues(namespace, name).Set(b2f(stateOK))
	clusterReady.WithLabelValues(namespace, name).Set(b2f(ready))
	slotsOK.WithLabelValues(namespace, name).Set(float64(ok))
	slotsFailing.WithLabelValues(namespace, name).Set(float64(failing))
}

// setProgressMetrics records the progress of a resharding and of a
// rolling update.
func setProgressMetrics(namespace, name string, slotsRemaining, outdated int) {
	reshardSlotsRemaining.WithLabelValues(namespace, name).Set(float64(slotsRemaining))
	podsOutdated.WithLabelValues(namespace, name).Set(float64(outdated))
}

// setRiskMetrics records the shards a single failure would hurt.
func setRiskMetrics(namespace, name string, withoutInSync, onMasterHost int) {
	shardsWithoutInSyncReplica.WithLabelValues(namespace, name).Set(float64(withoutInSync))
	replicasOnMasterHost.WithLabelValues(namespace, name).Set(float64(onMasterHost))
}

// replicationRisks counts the shards of c without an in-sync replica (when
// spec.replicasPerMaster asks for replicas) and the replicas on their
// master's host. A cluster that does not exist yet has neither.
func replicationRisks(c *heal.Cluster) (withoutInSync, onMasterHost int) {
	if !c.Bootstrapped() {
		return 0, 0
	}
	for _, sh := range c.Shards {
		inSync := 0
		for _, r := range sh.Replicas {
			if r.InSync {
				inSync++
			}
			if sh.Master != nil && r.Member != nil && sh.Master.Host != "" && r.Member.Host == sh.Master.Host {
				onMasterHost++
			}
		}
		if c.Spec.ReplicasPerMaster > 0 && inSync == 0 {
			withoutInSync++
		}
	}
	return withoutInSync, onMasterHost
}

// forgetMetrics drops the series of a deleted RedisCluster.
func forgetMetrics(namespace, name string) {
	l := prometheus.Labels{"namespace": namespace, "name": name}
	for _, v := range []*prometheus.GaugeVec{clusterStateOK, clusterReady, slotsOK, slotsFailing, reshardSlotsRemaining, podsOutdated,
		shardsWithoutInSyncReplica, replicasOnMasterHost, tlsExpiryDays} {
		v.DeletePartialMatch(l)
	}
	failoversTotal.DeletePartialMatch(l)
	slotsMovedTotal.DeletePartialMatch(l)
	forgetReshardMetrics(l)
	reconcileErrors.DeletePartialMatch(l)
	reconcileDuration.DeletePartialMatch(l)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
