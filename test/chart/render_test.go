package chart

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// operatorPodLabels are the labels the e2e harness selects the manager
// pods by (test/harness/chart.go).
func operatorPodLabels(release string) labels.Set {
	return labels.Set{"app.kubernetes.io/instance": release, "app.kubernetes.io/component": "operator"}
}

func TestChartLintsStrictly(t *testing.T) {
	h := newHelm(t)
	for _, tc := range []struct {
		name string
		set  []string
	}{
		{name: "with the default values"},
		{name: "watching two namespaces", set: namespacesRelease().set},
		{name: "with every optional object enabled", set: []string{"serviceMonitor.enabled=true", "podMonitor.enabled=true", "prometheusRule.enabled=true", "grafanaDashboard.enabled=true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"lint", "--strict", chartDir, "--namespace", "redkube-system"}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			out, err := h.run(t.Context(), args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if strings.Contains(string(out), "[WARNING]") || strings.Contains(string(out), "[ERROR]") {
				t.Errorf("helm lint reported problems:\n%s", out)
			}
		})
	}
}

// The default install: two manager pods under leader election, locked
// down, probed, reachable for metrics on 8443, with the CRD.
func TestChartRendersTheOperatorWithDefaultValues(t *testing.T) {
	h := newHelm(t)
	objs := h.template(t, defaultRelease())

	var d appsv1.Deployment
	objs.one(t, "Deployment", &d)
	if d.Namespace != "redkube-system" {
		t.Errorf("Deployment in namespace %q, want the release namespace", d.Namespace)
	}
	if got := ptr.Deref(d.Spec.Replicas, 0); got != 2 {
		t.Errorf("replicas = %d, want 2", got)
	}
	tpl := d.Spec.Template
	if !labels.SelectorFromSet(operatorPodLabels("redkube")).Matches(labels.Set(tpl.Labels)) {
		t.Errorf("pod labels %v lack the ones the e2e harness selects by, %v", tpl.Labels, operatorPodLabels("redkube"))
	}
	sel := labels.SelectorFromSet(d.Spec.Selector.MatchLabels)
	if !sel.Matches(labels.Set(tpl.Labels)) {
		t.Errorf("the Deployment's selector %v does not select its pods %v", d.Spec.Selector.MatchLabels, tpl.Labels)
	}

	psc := tpl.Spec.SecurityContext
	if psc == nil || !ptr.Deref(psc.RunAsNonRoot, false) || ptr.Deref(psc.RunAsUser, 0) != 65532 || ptr.Deref(psc.RunAsGroup, 0) != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v, want runAsNonRoot, user and group 65532, seccomp RuntimeDefault", psc)
	}
	if len(tpl.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want the manager only", len(tpl.Spec.Containers))
	}
	c := tpl.Spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || !ptr.Deref(sc.ReadOnlyRootFilesystem, false) || ptr.Deref(sc.AllowPrivilegeEscalation, true) ||
		!ptr.Deref(sc.RunAsNonRoot, false) || sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
		t.Errorf("container securityContext %+v, want a read-only root, no privilege escalation, runAsNonRoot, every capability dropped", sc)
	}
	if want := "ghcr.io/redkube/redkube-operator:" + readVersion(t); c.Image != want {
		t.Errorf("image %q, want %q (the tag defaults to the appVersion, which is VERSION)", c.Image, want)
	}
	for _, a := range []string{"--leader-elect", "--metrics-bind-address=:8443", "--health-probe-bind-address=:8081"} {
		if !slices.Contains(c.Args, a) {
			t.Errorf("args %v lack %s", c.Args, a)
		}
	}
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--watch-namespaces") || a == "-v" {
			t.Errorf("args %v: %s with the default values (cluster watch, log level info)", c.Args, a)
		}
	}
	checkProbe(t, "liveness", c.LivenessProbe, "/healthz", c.Ports)
	checkProbe(t, "readiness", c.ReadinessProbe, "/readyz", c.Ports)
	checkEnv(t, c.Env)
	if c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
		t.Errorf("resources %+v, want a memory limit (GOMEMLIMIT follows it) and a CPU request", c.Resources)
	}
	checkAntiAffinity(t, tpl)

	var svc corev1.Service
	objs.one(t, "Service", &svc)
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8443 || svc.Spec.Ports[0].TargetPort.StrVal != "https" ||
		!hasPort(c.Ports, "https", 8443) {
		t.Errorf("metrics Service ports %+v, container ports %+v: want 8443 to the container's port https 8443", svc.Spec.Ports, c.Ports)
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(tpl.Labels)) {
		t.Errorf("metrics Service selector %v does not select the pods", svc.Spec.Selector)
	}
	var pdb policyv1.PodDisruptionBudget
	objs.one(t, "PodDisruptionBudget", &pdb)
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 ||
		!labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels).Matches(labels.Set(tpl.Labels)) {
		t.Errorf("PodDisruptionBudget %+v, want maxUnavailable 1 over the operator pods", pdb.Spec)
	}

	crds := objs.ofKind("CustomResourceDefinition")
	var names []string
	for _, u := range crds {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &crd); err != nil {
			t.Fatal(err)
		}
		if crd.Spec.Scope != apiextensionsv1.NamespaceScoped {
			t.Errorf("CRD %s is %s, want namespaced", crd.Name, crd.Spec.Scope)
		}
		names = append(names, crd.Name)
	}
	slices.Sort(names)
	if want := []string{"redisclusterbackups.redis.redkube.io", "redisclusters.redis.redkube.io"}; !slices.Equal(names, want) {
		t.Errorf("CRDs %v, want %v", names, want)
	}
	for _, kind := range []string{"ServiceMonitor", "PodMonitor", "PrometheusRule", "ConfigMap", "Namespace", "Role"} {
		if l := objs.ofKind(kind); kind == "Role" && len(l) != 1 || kind != "Role" && len(l) != 0 {
			t.Errorf("rendered %d objects of kind %s with the default values", len(l), kind)
		}
	}
	checkRBAC(t, objs, "redkube-system", d.Spec.Template.Spec.ServiceAccountName, false)
}

func checkProbe(t *testing.T, what string, p *corev1.Probe, path string, ports []corev1.ContainerPort) {
	t.Helper()
	if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.StrVal != "health" || !hasPort(ports, "health", 8081) {
		t.Errorf("%s probe %+v, want GET %s on the port named health (8081)", what, p, path)
	}
}

func hasPort(ports []corev1.ContainerPort, name string, n int32) bool {
	return slices.ContainsFunc(ports, func(p corev1.ContainerPort) bool { return p.Name == name && p.ContainerPort == n })
}

// checkEnv wants the pod's namespace and name from the downward API and
// GOMEMLIMIT from the container's memory limit.
func checkEnv(t *testing.T, env []corev1.EnvVar) {
	t.Helper()
	field := func(name string) string {
		for _, e := range env {
			if e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
				return e.ValueFrom.FieldRef.FieldPath
			}
		}
		return ""
	}
	if field("POD_NAMESPACE") != "metadata.namespace" || field("POD_NAME") != "metadata.name" {
		t.Errorf("env %+v: want POD_NAMESPACE and POD_NAME from the pod's metadata", env)
	}
	i := slices.IndexFunc(env, func(e corev1.EnvVar) bool { return e.Name == "GOMEMLIMIT" })
	if i < 0 || env[i].ValueFrom == nil || env[i].ValueFrom.ResourceFieldRef == nil || env[i].ValueFrom.ResourceFieldRef.Resource != "limits.memory" {
		t.Errorf("env %+v: want GOMEMLIMIT from limits.memory", env)
	}
}

// checkAntiAffinity wants the default preferred anti-affinity that spreads
// the operator's own pods over nodes.
func checkAntiAffinity(t *testing.T, tpl corev1.PodTemplateSpec) {
	t.Helper()
	a := tpl.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 ||
		len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 0 {
		t.Fatalf("affinity %+v, want one preferred pod anti-affinity term", a)
	}
	term := a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm
	if term.TopologyKey != corev1.LabelHostname || term.LabelSelector == nil ||
		!labels.SelectorFromSet(term.LabelSelector.MatchLabels).Matches(labels.Set(tpl.Labels)) {
		t.Errorf("anti-affinity term %+v, want the operator's pods apart by %s", term, corev1.LabelHostname)
	}
}

// checkRBAC checks the roles of a release in namespace ns whose manager
// runs as ServiceAccount sa: the manager's rules are exactly the generated
// ones (all in the ClusterRole, or with namespaced the namespaced ones in a
// Role per watched namespace), no wildcards, leader election in ns,
// metrics-auth and metrics-reader, every binding to sa.
func checkRBAC(t *testing.T, objs objects, ns, sa string, namespaced bool) {
	t.Helper()
	if objs.get("ServiceAccount", ns, sa) == nil {
		t.Errorf("no ServiceAccount %s/%s, which the Deployment runs as", ns, sa)
	}
	rules := readSplitRules(t)
	for _, u := range append(objs.ofKind("ClusterRole"), objs.ofKind("Role")...) {
		var r rbacv1.ClusterRole // a Role has the same fields
		convert(t, u, &r)
		noWildcards(t, u.GetKind()+" "+u.GetName(), r.Rules)
	}
	for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
		for _, u := range objs.ofKind(kind) {
			var b rbacv1.RoleBinding
			convert(t, u, &b)
			bindsTo(t, kind+" "+b.Namespace+"/"+b.Name, b.Subjects, ns, sa)
			if b.RoleRef.Kind == "Role" && objs.get("Role", b.Namespace, b.RoleRef.Name) == nil ||
				b.RoleRef.Kind == "ClusterRole" && objs.get("ClusterRole", "", b.RoleRef.Name) == nil {
				t.Errorf("%s %s/%s refers to %s %s, which the chart does not render", kind, b.Namespace, b.Name, b.RoleRef.Kind, b.RoleRef.Name)
			}
		}
	}

	var manager rbacv1.ClusterRole
	convert(t, mustGet(t, objs, "ClusterRole", "", "redkube-manager"), &manager)
	if namespaced {
		sameGrants(t, "ClusterRole redkube-manager", manager.Rules, rules.Cluster)
		for _, wns := range []string{"team-a", "team-b"} {
			var r rbacv1.Role
			convert(t, mustGet(t, objs, "Role", wns, "redkube-manager"), &r)
			sameGrants(t, "Role "+wns+"/redkube-manager", r.Rules, rules.Namespaced)
			if objs.get("RoleBinding", wns, "redkube-manager") == nil {
				t.Errorf("no RoleBinding %s/redkube-manager", wns)
			}
		}
	} else {
		sameGrants(t, "ClusterRole redkube-manager", manager.Rules, generatedRole(t))
	}

	var le rbacv1.Role
	convert(t, mustGet(t, objs, "Role", ns, "redkube-leader-election"), &le)
	sameGrants(t, "leader-election Role", le.Rules, []rbacv1.PolicyRule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	})
	var auth, reader rbacv1.ClusterRole
	convert(t, mustGet(t, objs, "ClusterRole", "", "redkube-metrics-auth"), &auth)
	sameGrants(t, "metrics-auth ClusterRole", auth.Rules, []rbacv1.PolicyRule{
		{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
		{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
	})
	if objs.get("ClusterRoleBinding", "", "redkube-metrics-auth") == nil {
		t.Error("the metrics-auth ClusterRole is not bound")
	}
	// The e2e harness binds "<release>-metrics-reader" to its scraper.
	convert(t, mustGet(t, objs, "ClusterRole", "", "redkube-metrics-reader"), &reader)
	sameGrants(t, "metrics-reader ClusterRole", reader.Rules, []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}})
}

func mustGet(t *testing.T, objs objects, kind, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u := objs.get(kind, ns, name)
	if u == nil {
		t.Fatalf("no %s %s/%s rendered", kind, ns, name)
	}
	return u
}

// Watching two namespaces: the manager is told which, may change
// namespaced objects only there (a Role in each), and its ClusterRole keeps
// the cluster-scoped reads only.
func TestChartWatchingNamespacesGrantsRolesInThemOnly(t *testing.T) {
	h := newHelm(t)
	objs := h.template(t, namespacesRelease("podMonitor.enabled=true"))
	var d appsv1.Deployment
	objs.one(t, "Deployment", &d)
	if args := d.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--watch-namespaces=team-a,team-b") {
		t.Errorf("args %v lack --watch-namespaces=team-a,team-b", args)
	}
	checkRBAC(t, objs, "redkube-system", d.Spec.Template.Spec.ServiceAccountName, true)
	if n := len(objs.ofKind("Role")); n != 3 {
		t.Errorf("rendered %d Roles, want leader election and one per watched namespace", n)
	}
	pm := mustGet(t, objs, "PodMonitor", "redkube-system", "redkube-redis")
	names, _, _ := unstructured.NestedStringSlice(pm.Object, "spec", "namespaceSelector", "matchNames")
	if !reflect.DeepEqual(names, []string{"team-a", "team-b"}) {
		t.Errorf("PodMonitor namespaceSelector.matchNames = %v, want the watched namespaces", names)
	}
}

// The values users get wrong are refused by values.schema.json before
// anything is installed, with the message helm install prints.
func TestChartRefusesInvalidValues(t *testing.T) {
	h := newHelm(t)
	for _, tc := range []struct {
		name string
		set  []string
		want string
	}{
		{name: "refuses a negative replica count", set: []string{"replicaCount=-1"}, want: "at '/replicaCount': minimum: got -1, want 1"},
		{name: "refuses zero replicas", set: []string{"replicaCount=0"}, want: "at '/replicaCount': minimum: got 0, want 1"},
		{name: "refuses a replica count that is not an integer", set: []string{"replicaCount=1.5"}, want: "at '/replicaCount': got string, want integer"},
		{name: "refuses an unknown watch mode", set: []string{"watch.mode=everything"}, want: "at '/watch/mode': value must be one of 'cluster', 'namespaces'"},
		{name: "refuses the namespaces mode without namespaces", set: []string{"watch.mode=namespaces"}, want: "at '/watch/namespaces': minItems: got 0, want 1"},
		{name: "refuses namespaces to watch in the cluster mode", set: []string{"watch.namespaces={team-a}"}, want: "at '/watch/namespaces': maxItems: got 1, want 0"},
		{name: "refuses a watched namespace that is not a DNS label", set: []string{"watch.mode=namespaces", "watch.namespaces={Team_A}"}, want: "at '/watch/namespaces/0': 'Team_A' does not match pattern"},
		{name: "refuses an image without tag or digest", set: []string{"image.tag="}, want: "at '/image/tag': minLength: got 0, want 1"},
		{name: "refuses a tag that is not a tag", set: []string{"image.tag=v1:latest"}, want: "at '/image/tag': 'v1:latest' does not match pattern"},
		{name: "refuses a digest that is not sha256", set: []string{"image.digest=sha256:abc"}, want: "at '/image/digest': 'sha256:abc' does not match pattern"},
		{name: "refuses a memory limit that is not a quantity", set: []string{"resources.limits.memory=lots"}, want: "at '/resources/limits/memory': 'lots' does not match pattern"},
		{name: "refuses resources of an unknown shape", set: []string{"resources.memory=64Mi"}, want: "at '/resources': additional properties 'memory' not allowed"},
		{name: "refuses an unknown log level", set: []string{"logLevel=trace"}, want: "at '/logLevel': value must be one of 'info', 'debug'"},
		{name: "refuses a misspelled top-level value", set: []string{"replicas=3"}, want: "at '': additional properties 'replicas' not allowed"},
		{name: "refuses an existing ServiceAccount without a name", set: []string{"serviceAccount.create=false"}, want: "at '/serviceAccount/name': minLength: got 0, want 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := defaultRelease(tc.set...)
			out, err := h.run(t.Context(), append([]string{"install", "--dry-run=client"}, r.args()...)...)
			if err == nil {
				t.Fatalf("helm install accepted %v:\n%.400s", tc.set, out)
			}
			msg := err.Error()
			if !strings.Contains(msg, "INSTALLATION FAILED: values don't meet the specifications of the schema(s)") || !strings.Contains(msg, tc.want) {
				t.Errorf("helm install with %v failed with\n%s\nwant the schema's message %q", tc.set, msg, tc.want)
			}
		})
	}
}

// Each image reference the values allow, and the flags of the log level
// and extra arguments.
func TestChartRendersTheImageAndFlagsFromValues(t *testing.T) {
	h := newHelm(t)
	digest := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name      string
		set       []string
		wantImage string
		wantArgs  []string
		wantPod   map[string]string // annotations and labels
	}{
		{name: "takes the tag given", set: []string{"image.tag=0.1.0-e2e"}, wantImage: "ghcr.io/redkube/redkube-operator:0.1.0-e2e"},
		{name: "takes a numeric tag as a string", set: []string{"image.tag=20261204"}, wantImage: "ghcr.io/redkube/redkube-operator:20261204"},
		{name: "pins the digest over the tag", set: []string{"image.tag=0.1.0", "image.digest=" + digest}, wantImage: "ghcr.io/redkube/redkube-operator@" + digest},
		{name: "pins a digest with an empty tag", set: []string{"image.tag=", "image.digest=" + digest}, wantImage: "ghcr.io/redkube/redkube-operator@" + digest},
		{name: "takes another repository", set: []string{"image.repository=registry.local/redkube"}, wantImage: "registry.local/redkube:" + readVersion(t)},
		{name: "logs debug messages with -v", set: []string{"logLevel=debug"}, wantArgs: []string{"-v"}},
		{name: "adds extra arguments after its own", set: []string{"extraArgs={--memory-limit=64Mi}"}, wantArgs: []string{"--memory-limit=64Mi"}},
		{
			name:    "renders pod annotations and labels given as numbers or booleans as strings",
			set:     []string{`podAnnotations.redkube\.io/e2e-upgrade=1`, "podLabels.canary=true"},
			wantPod: map[string]string{"redkube.io/e2e-upgrade": "1", "canary": "true"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d appsv1.Deployment
			h.template(t, defaultRelease(tc.set...)).one(t, "Deployment", &d)
			c := d.Spec.Template.Spec.Containers[0]
			if tc.wantImage != "" && c.Image != tc.wantImage {
				t.Errorf("image %q, want %q", c.Image, tc.wantImage)
			}
			if n := len(tc.wantArgs); n > 0 && (len(c.Args) < n || !reflect.DeepEqual(c.Args[len(c.Args)-n:], tc.wantArgs)) {
				t.Errorf("args %v, want them to end with %v", c.Args, tc.wantArgs)
			}
			meta := d.Spec.Template.ObjectMeta
			for k, v := range tc.wantPod {
				if meta.Annotations[k] != v && meta.Labels[k] != v {
					t.Errorf("pod annotations %v and labels %v lack %s=%q", meta.Annotations, meta.Labels, k, v)
				}
			}
		})
	}
}
