package chart

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
)

// The monitoring engineer's files, which the chart includes when present.
const (
	rulesFile     = "files/prometheus-rules.yaml"
	dashboardFile = "files/grafana-dashboard.json"
)

// monitoringOn enables every optional monitoring object.
var monitoringOn = []string{"serviceMonitor.enabled=true", "podMonitor.enabled=true", "prometheusRule.enabled=true", "grafanaDashboard.enabled=true"}

// copyChart copies the chart into a temporary folder without the rule file
// and the dashboard, then writes files (chart-relative path to content)
// into it, and returns the folder.
func copyChart(t *testing.T, files map[string]string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "redkube")
	err := filepath.WalkDir(chartDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(chartDir, p)
		if err != nil {
			return err
		}
		if rel == rulesFile || rel == dashboardFile {
			return nil
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy the chart: %v", err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dst, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// A rule file as the monitoring engineer writes it: Prometheus's format,
// with alert templates the chart must pass through untouched.
const ruleFixture = `# Alerts of the redkube operator.
groups:
- name: redkube.rules
  rules:
  - alert: RedisClusterNotReady
    expr: redkube_rediscluster_ready == 0
    for: 5m
    labels:
      severity: warning
    annotations:
      summary: 'RedisCluster {{ $labels.namespace }}/{{ $labels.name }} is not Ready'
  - record: redkube:slots_ok:sum
    expr: sum by (namespace) (redkube_rediscluster_slots_ok)
`

const dashboardFixture = `{"title": "redkube", "panels": [{"type": "stat", "title": "Ready <clusters> & \"nodes\""}], "schemaVersion": 39}
`

func TestChartMonitoringObjects(t *testing.T) {
	h := newHelm(t)

	t.Run("renders no PrometheusRule or dashboard while the chart lacks their files, even when enabled", func(t *testing.T) {
		objs := h.template(t, release{name: "redkube", namespace: "redkube-system", chart: copyChart(t, nil), set: monitoringOn})
		if n, m := len(objs.ofKind("PrometheusRule")), len(objs.ofKind("ConfigMap")); n+m != 0 {
			t.Errorf("rendered %d PrometheusRules and %d ConfigMaps without the files", n, m)
		}
	})

	t.Run("renders the rule file's groups untouched as a PrometheusRule", func(t *testing.T) {
		dir := copyChart(t, map[string]string{rulesFile: ruleFixture})
		if objs := h.template(t, release{name: "redkube", namespace: "redkube-system", chart: dir}); len(objs.ofKind("PrometheusRule")) != 0 {
			t.Error("rendered a PrometheusRule with prometheusRule.enabled false")
		}
		objs := h.template(t, release{name: "redkube", namespace: "redkube-system", chart: dir, set: []string{"prometheusRule.enabled=true", "prometheusRule.labels.release=kube-prometheus-stack"}})
		pr := mustGet(t, objs, "PrometheusRule", "redkube-system", "redkube")
		var want map[string]any
		if err := yaml.Unmarshal([]byte(ruleFixture), &want); err != nil {
			t.Fatal(err)
		}
		if got := pr.Object["spec"]; !reflect.DeepEqual(got, want) {
			t.Errorf("PrometheusRule spec\n%v\nwant the rule file\n%v", got, want)
		}
		if pr.GetLabels()["release"] != "kube-prometheus-stack" {
			t.Errorf("PrometheusRule labels %v lack prometheusRule.labels", pr.GetLabels())
		}
	})

	t.Run("refuses a rule file without groups", func(t *testing.T) {
		dir := copyChart(t, map[string]string{rulesFile: "rules: []\n"})
		r := release{name: "redkube", namespace: "redkube-system", chart: dir, set: []string{"prometheusRule.enabled=true"}}
		_, err := h.run(t.Context(), append([]string{"template"}, r.args()...)...)
		if err == nil || !strings.Contains(err.Error(), "files/prometheus-rules.yaml has no top-level groups") {
			t.Errorf("helm template: %v, want the missing groups named", err)
		}
	})

	t.Run("renders the dashboard byte for byte in a ConfigMap the Grafana sidecar finds", func(t *testing.T) {
		dir := copyChart(t, map[string]string{dashboardFile: dashboardFixture})
		objs := h.template(t, release{name: "redkube", namespace: "redkube-system", chart: dir, set: []string{"grafanaDashboard.enabled=true", "grafanaDashboard.namespace=monitoring", "grafanaDashboard.annotations.grafana_folder=Redis"}})
		var cm corev1.ConfigMap
		objs.one(t, "ConfigMap", &cm)
		if cm.Namespace != "monitoring" || cm.Labels["grafana_dashboard"] != "1" || cm.Annotations["grafana_folder"] != "Redis" {
			t.Errorf("dashboard ConfigMap %s/%s labels %v annotations %v, want namespace monitoring, grafana_dashboard \"1\", the folder annotation", cm.Namespace, cm.Name, cm.Labels, cm.Annotations)
		}
		if got := cm.Data["redkube.json"]; got != dashboardFixture {
			t.Errorf("dashboard ConfigMap data %q, want the file %q", got, dashboardFixture)
		}
	})

	t.Run("scrapes the metrics Service's HTTPS port with a token", func(t *testing.T) {
		objs := h.template(t, defaultRelease("serviceMonitor.enabled=true", "metrics.readerSubjects[0].kind=ServiceAccount", "metrics.readerSubjects[0].name=prometheus", "metrics.readerSubjects[0].namespace=monitoring"))
		var svc corev1.Service
		objs.one(t, "Service", &svc)
		sm := mustGet(t, objs, "ServiceMonitor", "redkube-system", "redkube")
		sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
		if len(sel) == 0 || !labels.SelectorFromSet(sel).Matches(labels.Set(svc.Labels)) {
			t.Errorf("ServiceMonitor selector %v does not select the metrics Service %v", sel, svc.Labels)
		}
		eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		if len(eps) != 1 {
			t.Fatalf("ServiceMonitor endpoints %v, want one", eps)
		}
		ep := eps[0].(map[string]any)
		if ep["port"] != svc.Spec.Ports[0].Name || ep["scheme"] != "https" || ep["path"] != "/metrics" || ep["bearerTokenFile"] == nil {
			t.Errorf("ServiceMonitor endpoint %v, want /metrics over https on the Service's port %q with a bearer token", ep, svc.Spec.Ports[0].Name)
		}
		crb := mustGet(t, objs, "ClusterRoleBinding", "", "redkube-metrics-reader")
		subjects, _, _ := unstructured.NestedSlice(crb.Object, "subjects")
		if len(subjects) != 1 || subjects[0].(map[string]any)["name"] != "prometheus" {
			t.Errorf("metrics-reader binding subjects %v, want the prometheus ServiceAccount", subjects)
		}
	})

	t.Run("selects the pods the operator creates, in every namespace", func(t *testing.T) {
		objs := h.template(t, defaultRelease("podMonitor.enabled=true"))
		pm := mustGet(t, objs, "PodMonitor", "redkube-system", "redkube-redis")
		sel, _, _ := unstructured.NestedStringMap(pm.Object, "spec", "selector", "matchLabels")
		podLabels := redisPodLabels(t)
		if len(sel) == 0 || !labels.SelectorFromSet(sel).Matches(podLabels) {
			t.Errorf("PodMonitor selector %v does not select a RedisCluster pod (labels %v)", sel, podLabels)
		}
		if anyNS, _, _ := unstructured.NestedBool(pm.Object, "spec", "namespaceSelector", "any"); !anyNS {
			t.Errorf("PodMonitor namespaceSelector %v, want any namespace in the cluster watch mode", pm.Object["spec"].(map[string]any)["namespaceSelector"])
		}
		eps, _, _ := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
		if len(eps) != 1 || eps[0].(map[string]any)["port"] != "metrics" {
			t.Errorf("PodMonitor endpoints %v, want the port named metrics", eps)
		}
	})
}

// redisPodLabels are the labels of a pod the operator creates for a
// RedisCluster (internal/resources builds it).
func redisPodLabels(t *testing.T) labels.Set {
	t.Helper()
	rc := &redisv1alpha1.RedisCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "cache", Namespace: "team-a"},
		Spec:       redisv1alpha1.RedisClusterSpec{Masters: 3, ReplicasPerMaster: 1, Image: "redis:7.0"},
	}
	sts, err := resources.ShardStatefulSet(rc, 0, resources.Options{})
	if err != nil {
		t.Fatalf("render a shard: %v", err)
	}
	return labels.Set(sts.Spec.Template.Labels)
}

// The chart's own rule file and dashboard, once the monitoring work has
// added them: a PrometheusRule with groups, a dashboard that is JSON.
func TestChartIncludesItsMonitoringFiles(t *testing.T) {
	h := newHelm(t)
	for _, f := range []string{rulesFile, dashboardFile} {
		if _, err := os.Stat(filepath.Join(chartDir, f)); err != nil {
			t.Skipf("the chart has no %s yet: %v", f, err)
		}
	}
	objs := h.template(t, defaultRelease(monitoringOn...))
	pr := mustGet(t, objs, "PrometheusRule", "redkube-system", "redkube")
	if groups, _, _ := unstructured.NestedSlice(pr.Object, "spec", "groups"); len(groups) == 0 {
		t.Error("the PrometheusRule has no groups")
	}
	var cm corev1.ConfigMap
	objs.one(t, "ConfigMap", &cm)
	var dashboard map[string]any
	if err := json.Unmarshal([]byte(cm.Data["redkube.json"]), &dashboard); err != nil {
		t.Errorf("the dashboard ConfigMap does not hold JSON: %v", err)
	}
}
