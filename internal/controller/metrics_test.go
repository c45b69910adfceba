package controller

import (
	"errors"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

func TestMetricsAreServedFromTheManagersRegistry(t *testing.T) {
	observeReconcile("ns", "metrics-test", 30*time.Millisecond, errors.New("boom"))
	setClusterMetrics("ns", "metrics-test", true, false, 16000, 384)
	failoversTotal.WithLabelValues("ns", "metrics-test", "graceful").Inc()
	setProgressMetrics("ns", "metrics-test", 1200, 2)
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
		"redkube_cluster_state_ok":           1,
		"redkube_cluster_ready":              0,
		"redkube_slots_ok":                   16000,
		"redkube_slots_failing":              384,
		"redkube_failovers_total":            1,
		"redkube_reconcile_errors_total":     1,
		"redkube_reconcile_duration_seconds": 1,
		"redkube_resharding_slots_remaining": 1200,
		"redkube_slots_moved_total":          2896,
		"redkube_pods_outdated":              2,
	} {
		if v := value(name); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
}
