package controller

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/heal/healtest"
)

func TestMetricsAreServedFromTheManagersRegistry(t *testing.T) {
	observeReconcile("ns", "metrics-test", 30*time.Millisecond, errors.New("boom"))
	setClusterMetrics("ns", "metrics-test", true, false, 16000, 384)
	failoversTotal.WithLabelValues("ns", "metrics-test", "graceful").Inc()
	setProgressMetrics("ns", "metrics-test", 1200, 2)
	setRiskMetrics("ns", "metrics-test", 1, 2)
	slotsMovedTotal.WithLabelValues("ns", "metrics-test").Add(2896)
	t.Cleanup(func() { forgetMetrics("ns", "metrics-test") })

	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.MetricFamily{}
	for _, f := range families {
		got[f.GetName()] = f
	}
	value := func(name string) float64 {
		f := got[name]
		if f == nil {
			t.Fatalf("%s is not registered", name)
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "name" && l.GetValue() == "metrics-test" {
					switch {
					case m.GetGauge() != nil:
						return m.GetGauge().GetValue()
					case m.GetCounter() != nil:
						return m.GetCounter().GetValue()
					case m.GetHistogram() != nil:
						return float64(m.GetHistogram().GetSampleCount())
					}
				}
			}
		}
		t.Fatalf("%s has no series for the test cluster", name)
		return 0
	}
	for name, want := range map[string]float64{
		"redkube_cluster_state_ok":              1,
		"redkube_cluster_ready":                 0,
		"redkube_slots_ok":                      16000,
		"redkube_slots_failing":                 384,
		"redkube_failovers_total":               1,
		"redkube_reconcile_errors_total":        1,
		"redkube_reconcile_duration_seconds":    1,
		"redkube_resharding_slots_remaining":    1200,
		"redkube_slots_moved_total":             2896,
		"redkube_pods_outdated":                 2,
		"redkube_shards_without_insync_replica": 1,
		"redkube_replicas_on_master_host":       2,
	} {
		if v := value(name); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
}

func TestReplicationRisks(t *testing.T) {
	tests := []struct {
		name             string
		world            func() *healtest.World
		wantNoInSync     int
		wantOnMasterHost int
	}{
		{name: "reports none for a healthy spread cluster", world: func() *healtest.World { return healtest.Healthy(3, 1, threeHosts...) }},
		{name: "counts a shard whose only replica's link is down", world: func() *healtest.World {
			w := healtest.Healthy(3, 1, threeHosts...)
			w.Pod("rc-2-1").LinkUp = false
			return w
		}, wantNoInSync: 1},
		{name: "does not count a shard with one of two replicas in sync", world: func() *healtest.World {
			w := healtest.Healthy(3, 2, threeHosts...)
			w.Pod("rc-1-1").LinkUp = false
			return w
		}},
		{name: "counts a replica on its master's node", world: func() *healtest.World {
			w := healtest.Healthy(3, 1, threeHosts...)
			w.Pod("rc-1-1").Host = w.Pod("rc-1-0").Host
			return w
		}, wantOnMasterHost: 1},
		{name: "counts every replica when all pods share one node", world: func() *healtest.World { return healtest.Healthy(3, 1, "node-1") }, wantOnMasterHost: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			noInSync, onHost := replicationRisks(tt.world().Cluster())
			if noInSync != tt.wantNoInSync || onHost != tt.wantOnMasterHost {
				t.Errorf("replicationRisks = (%d, %d), want (%d, %d)", noInSync, onHost, tt.wantNoInSync, tt.wantOnMasterHost)
			}
		})
	}
}

func TestReplicationRisksOfAClusterNotYetCreatedAreZero(t *testing.T) {
	c := heal.Derive(heal.Observation{Spec: heal.Spec{Declared: true, Masters: 3, ReplicasPerMaster: 1}})
	if n, h := replicationRisks(c); n != 0 || h != 0 {
		t.Errorf("replicationRisks = (%d, %d) before the cluster exists, want (0, 0)", n, h)
	}
}

func TestInitMetricsStartsCountersAtZeroAndKeepsExistingValues(t *testing.T) {
	t.Cleanup(func() { forgetMetrics("ns", "init-test") })
	InitMetrics("ns", "init-test")
	for _, mode := range failoverModes {
		if v := read(t, failoversTotal.WithLabelValues("ns", "init-test", mode)); v != 0 {
			t.Errorf("redkube_failovers_total{mode=%q} = %v after InitMetrics, want 0", mode, v)
		}
	}
	failoversTotal.WithLabelValues("ns", "init-test", "force").Inc()
	slotsOK.WithLabelValues("ns", "init-test").Set(16384)
	InitMetrics("ns", "init-test")
	if v := read(t, failoversTotal.WithLabelValues("ns", "init-test", "force")); v != 1 {
		t.Errorf("redkube_failovers_total{mode=force} = %v after a second InitMetrics, want 1", v)
	}
	if v := read(t, slotsOK.WithLabelValues("ns", "init-test")); v != 16384 {
		t.Errorf("redkube_slots_ok = %v after a second InitMetrics, want 16384", v)
	}
}

// read returns the value of a gauge or counter.
func read(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	if out.Counter != nil {
		return out.GetCounter().GetValue()
	}
	return out.GetGauge().GetValue()
}
