package chart

import (
	"errors"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// kustomize builds config/default with the kubectl of $REDKUBE_K8S_BIN.
func kustomize(t *testing.T) objects {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), filepath.Join(k8sBin(t), "kubectl"), "kustomize", "../../config/default").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("kubectl kustomize config/default: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("kubectl kustomize config/default: %v", err)
	}
	objs, err := decode(out)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// config/ (kubectl apply -k config/default) and the chart with its default
// values install the same operator: the same Deployment but for names and
// labels, the same Service port, disruption budget and rules.
func TestKustomizeManifestsAgreeWithTheChart(t *testing.T) {
	h := newHelm(t)
	kust, chart := kustomize(t), h.template(t, defaultRelease())

	var kd, cd appsv1.Deployment
	kust.one(t, "Deployment", &kd)
	chart.one(t, "Deployment", &cd)
	if *kd.Spec.Replicas != *cd.Spec.Replicas {
		t.Errorf("replicas: config/ %d, chart %d", *kd.Spec.Replicas, *cd.Spec.Replicas)
	}
	kp, cp := kd.Spec.Template.Spec, cd.Spec.Template.Spec
	for _, f := range []struct {
		name     string
		kust, ch any
	}{
		{"pod securityContext", kp.SecurityContext, cp.SecurityContext},
		{"terminationGracePeriodSeconds", kp.TerminationGracePeriodSeconds, cp.TerminationGracePeriodSeconds},
		{"enableServiceLinks", kp.EnableServiceLinks, cp.EnableServiceLinks},
		{"container count", len(kp.Containers), len(cp.Containers)},
	} {
		if !reflect.DeepEqual(f.kust, f.ch) {
			t.Errorf("%s: config/ %+v, chart %+v", f.name, f.kust, f.ch)
		}
	}
	kc, cc := kp.Containers[0], cp.Containers[0]
	ka, ca := slices.Sorted(slices.Values(kc.Args)), slices.Sorted(slices.Values(cc.Args))
	for _, f := range []struct {
		name     string
		kust, ch any
	}{
		{"image", kc.Image, cc.Image},
		{"imagePullPolicy", kc.ImagePullPolicy, cc.ImagePullPolicy},
		{"args", ka, ca},
		{"env", kc.Env, cc.Env},
		{"ports", kc.Ports, cc.Ports},
		{"liveness probe", kc.LivenessProbe, cc.LivenessProbe},
		{"readiness probe", kc.ReadinessProbe, cc.ReadinessProbe},
		{"resources", kc.Resources, cc.Resources},
		{"container securityContext", kc.SecurityContext, cc.SecurityContext},
	} {
		if !reflect.DeepEqual(f.kust, f.ch) {
			t.Errorf("%s: config/ %+v, chart %+v", f.name, f.kust, f.ch)
		}
	}

	var ks, cs corev1.Service
	kust.one(t, "Service", &ks)
	chart.one(t, "Service", &cs)
	if !reflect.DeepEqual(ks.Spec.Ports, cs.Spec.Ports) {
		t.Errorf("metrics Service ports: config/ %+v, chart %+v", ks.Spec.Ports, cs.Spec.Ports)
	}
	var kb, cb policyv1.PodDisruptionBudget
	kust.one(t, "PodDisruptionBudget", &kb)
	chart.one(t, "PodDisruptionBudget", &cb)
	if !reflect.DeepEqual(kb.Spec.MaxUnavailable, cb.Spec.MaxUnavailable) {
		t.Errorf("PodDisruptionBudget maxUnavailable: config/ %v, chart %v", kb.Spec.MaxUnavailable, cb.Spec.MaxUnavailable)
	}

	for _, pair := range []struct{ kind, kust, chart string }{
		{"ClusterRole", "redkube-manager-role", "redkube-manager"},
		{"ClusterRole", "redkube-metrics-auth-role", "redkube-metrics-auth"},
		{"ClusterRole", "redkube-metrics-reader", "redkube-metrics-reader"},
		{"Role", "redkube-leader-election-role", "redkube-leader-election"},
	} {
		ns := ""
		if pair.kind == "Role" {
			ns = "redkube-system"
		}
		var kr, cr rbacv1.ClusterRole
		convert(t, mustGet(t, kust, pair.kind, ns, pair.kust), &kr)
		convert(t, mustGet(t, chart, pair.kind, ns, pair.chart), &cr)
		sameGrants(t, pair.kind+" "+pair.chart+" (chart) against "+pair.kust+" (config/)", cr.Rules, kr.Rules)
	}
	for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
		if k, c := len(kust.ofKind(kind)), len(chart.ofKind(kind)); k != c {
			t.Errorf("%d %ss in config/, %d in the chart", k, kind, c)
		}
	}
}
