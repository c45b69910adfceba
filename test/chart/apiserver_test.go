package chart

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// k8sBin returns $REDKUBE_K8S_BIN (etcd, kube-apiserver, kubectl), skipping
// t when it is unset.
func k8sBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv(envK8sBin)
	if bin == "" {
		t.Skipf("%s is unset: no API server to apply the chart to (make test sets it)", envK8sBin)
	}
	return bin
}

// apiServer is a kube-apiserver with etcd (envtest: the control plane
// without controllers, scheduler or nodes, the cheapest real API server)
// and what the tests ask it through.
type apiServer struct {
	// kubeconfig is an admin's (system:masters), for helm.
	kubeconfig string
	dyn        dynamic.Interface
	mapper     *restmapper.DeferredDiscoveryRESTMapper
	disc       discovery.DiscoveryInterface
	warnings   *warnings
	// cfg is the admin's REST configuration.
	cfg *rest.Config
}

// warnings records the warnings the API server returns (deprecations, Pod
// Security violations of workloads, unknown fields).
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

// take returns the warnings recorded since the last call.
func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.list
	w.list = nil
	return l
}

func startAPIServer(t *testing.T, bin string) *apiServer {
	t.Helper()
	env := &envtest.Environment{BinaryAssetsDirectory: bin}
	began := time.Now()
	cfg, err := env.Start()
	if err != nil {
		if stopErr := env.Stop(); stopErr != nil {
			t.Errorf("stop envtest: %v", stopErr)
		}
		t.Fatalf("start envtest from %s: %v", bin, err)
	}
	t.Logf("measured: API server (envtest) started in %v", time.Since(began).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	admin, err := env.ControlPlane.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatalf("add an admin user: %v", err)
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		t.Fatalf("admin kubeconfig: %v", err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "admin.kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg = rest.CopyConfig(cfg)
	w := &warnings{}
	cfg.WarningHandler = w
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &apiServer{cfg: cfg, kubeconfig: kubeconfig, dyn: dyn, disc: disc, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc)), warnings: w}
}

// create creates u (for real, or a server-side dry run) with strict field
// validation.
func (s *apiServer) create(ctx context.Context, u *unstructured.Unstructured, dryRun bool) error {
	gvk := u.GroupVersionKind()
	m, err := s.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("map %s: %w", gvk, err)
	}
	opts := metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var ri dynamic.ResourceInterface = s.dyn.Resource(m.Resource)
	if m.Scope.Name() == "namespace" {
		if u.GetNamespace() == "" {
			return fmt.Errorf("%s %s is namespaced but has no namespace", gvk.Kind, u.GetName())
		}
		ri = s.dyn.Resource(m.Resource).Namespace(u.GetNamespace())
	}
	if _, err := ri.Create(ctx, u, opts); err != nil {
		return fmt.Errorf("create %s %s/%s: %w", gvk.Kind, u.GetNamespace(), u.GetName(), err)
	}
	return nil
}

// createNamespaces creates the namespaces for real.
func (s *apiServer) createNamespaces(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		ns := &unstructured.Unstructured{}
		ns.SetAPIVersion("v1")
		ns.SetKind("Namespace")
		ns.SetName(name)
		if err := s.create(t.Context(), ns, false); err != nil {
			t.Fatal(err)
		}
	}
}

// installCRDs creates the CRDs among objs for real and waits until the API
// server serves them.
func (s *apiServer) installCRDs(t *testing.T, objs objects) {
	t.Helper()
	crds := objs.ofKind("CustomResourceDefinition")
	if len(crds) == 0 {
		t.Fatal("the chart rendered no CRD")
	}
	for _, u := range crds {
		if err := s.create(t.Context(), u, false); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(context.Context) (bool, error) {
		s.mapper.Reset()
		for _, u := range crds {
			var spec struct {
				Group string `json:"group"`
				Names struct {
					Kind string `json:"kind"`
				} `json:"names"`
			}
			if err := convertJSON(u.Object["spec"], &spec); err != nil {
				return false, err
			}
			if _, err := s.mapper.RESTMapping(schema.GroupKind{Group: spec.Group, Kind: spec.Names.Kind}); err != nil {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		t.Fatalf("the CRDs were not served within a minute: %v", err)
	}
}

func convertJSON(in, out any) error {
	b, err := yaml.Marshal(in)
	if err != nil {
		return fmt.Errorf("marshal: %w", err)
	}
	if err := yaml.Unmarshal(b, out); err != nil {
		return fmt.Errorf("unmarshal: %w", err)
	}
	return nil
}

// dryRunAll creates every object of objs but the CRDs and namespaces with
// a server-side dry run, and fails t for each refused object and each
// warning.
func (s *apiServer) dryRunAll(t *testing.T, objs objects) {
	t.Helper()
	s.warnings.take()
	n := 0
	for _, u := range objs {
		if k := u.GetKind(); k == "CustomResourceDefinition" || k == "Namespace" {
			continue
		}
		n++
		if err := s.create(t.Context(), u, true); err != nil {
			t.Error(err)
		}
		for _, w := range s.warnings.take() {
			t.Errorf("%s %s/%s: the API server warns: %s", u.GetKind(), u.GetNamespace(), u.GetName(), w)
		}
	}
	if n == 0 {
		t.Error("nothing to apply")
	}
}

// scopes returns, for every resource the API server serves, whether it is
// namespaced, keyed by group and resource (subresources by their parent).
func (s *apiServer) scopes(t *testing.T) map[schema.GroupResource]bool {
	t.Helper()
	_, lists, err := s.disc.ServerGroupsAndResources()
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	m := map[schema.GroupResource]bool{}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range l.APIResources {
			base, _, _ := strings.Cut(r.Name, "/")
			m[schema.GroupResource{Group: gv.Group, Resource: base}] = r.Namespaced
		}
	}
	return m
}

// checkScopes fails t for a rule of a ClusterRole or Role in objs naming a
// resource the API server does not serve, and, with onlyClusterScoped, for
// a ClusterRole rule on a namespaced resource.
func checkScopes(t *testing.T, objs objects, scopes map[schema.GroupResource]bool, onlyClusterScoped bool) {
	t.Helper()
	for _, u := range append(objs.ofKind("ClusterRole"), objs.ofKind("Role")...) {
		var r rbacv1.ClusterRole
		convert(t, u, &r)
		for _, rule := range r.Rules {
			for _, g := range rule.APIGroups {
				for _, res := range rule.Resources {
					base, _, _ := strings.Cut(res, "/")
					namespaced, served := scopes[schema.GroupResource{Group: g, Resource: base}]
					switch {
					case !served:
						t.Errorf("%s %s grants %q of group %q, which the API server does not serve", u.GetKind(), u.GetName(), res, g)
					case onlyClusterScoped && u.GetKind() == "ClusterRole" && namespaced:
						t.Errorf("ClusterRole %s grants the namespaced %q of group %q while the operator watches namespaces", u.GetName(), res, g)
					}
				}
			}
		}
	}
}

// The chart against a real kube-apiserver: its CRDs are created, then every
// other object it renders, in both watch modes, and everything in the
// release manifest, passes a server-side dry run with strict field
// validation and without a warning (the release namespace enforces the
// restricted Pod Security Standard); the rules name only served resources,
// and with watch.mode namespaces the ClusterRoles only cluster-scoped ones.
func TestChartAppliesToAPIServer(t *testing.T) {
	h := newHelm(t)
	s := startAPIServer(t, k8sBin(t))
	cluster := h.template(t, defaultRelease())
	s.installCRDs(t, cluster)

	nsYAML, err := os.ReadFile("../../config/manager/namespace.yaml")
	if err != nil {
		t.Fatal(err)
	}
	nss, err := decode(nsYAML)
	if err != nil || len(nss) != 1 || nss[0].GetName() != "redkube-system" ||
		nss[0].GetLabels()["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Fatalf("config/manager/namespace.yaml: %v %v, want redkube-system enforcing the restricted policy", nss, err)
	}
	for _, name := range []string{"team-a", "team-b"} {
		ns := &unstructured.Unstructured{}
		ns.SetAPIVersion("v1")
		ns.SetKind("Namespace")
		ns.SetName(name)
		nss = append(nss, ns)
	}
	for _, ns := range nss {
		if err := s.create(t.Context(), ns, false); err != nil {
			t.Fatal(err)
		}
	}
	scopes := s.scopes(t)

	t.Run("warns about a pod template that breaks the restricted policy", func(t *testing.T) {
		// The check below sees Pod Security warnings at all.
		objs := h.template(t, defaultRelease("securityContext.allowPrivilegeEscalation=true"))
		s.warnings.take()
		if err := s.create(t.Context(), objs.ofKind("Deployment")[0], true); err != nil {
			t.Fatal(err)
		}
		if w := s.warnings.take(); len(w) == 0 || !strings.Contains(strings.Join(w, "\n"), "allowPrivilegeEscalation") {
			t.Fatalf("warnings %q, want the restricted policy's about allowPrivilegeEscalation", w)
		}
	})
	t.Run("accepts every object of the cluster watch mode", func(t *testing.T) {
		s.dryRunAll(t, cluster)
		checkScopes(t, cluster, scopes, false)
	})
	t.Run("accepts every object of the namespaces watch mode, with cluster-scoped reads only in ClusterRoles", func(t *testing.T) {
		objs := h.template(t, namespacesRelease())
		s.dryRunAll(t, objs)
		checkScopes(t, objs, scopes, true)
	})
	t.Run("accepts every optional object's built-in kind", func(t *testing.T) {
		dir := copyChart(t, map[string]string{dashboardFile: dashboardFixture})
		objs := h.template(t, release{name: "redkube", namespace: "redkube-system", chart: dir, set: []string{
			"grafanaDashboard.enabled=true", "metrics.readerSubjects[0].kind=ServiceAccount",
			"metrics.readerSubjects[0].name=prometheus", "metrics.readerSubjects[0].namespace=monitoring",
		}})
		var builtin objects
		for _, kind := range []string{"ConfigMap", "ClusterRoleBinding"} {
			builtin = append(builtin, objs.ofKind(kind)...)
		}
		s.dryRunAll(t, builtin)
	})
	t.Run("accepts the release manifest of make release", func(t *testing.T) {
		dir := t.TempDir()
		cmd := exec.CommandContext(t.Context(), "../../hack/release.sh", dir)
		cmd.Env = append(h.env, envToolsBin+"="+filepath.Dir(h.bin))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("hack/release.sh: %v\n%s", err, out)
		}
		version := readVersion(t)
		b, err := os.ReadFile(filepath.Join(dir, "redkube-"+version+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if objs[0].GetKind() != "Namespace" || objs[0].GetName() != "redkube-system" || objs[1].GetKind() != "CustomResourceDefinition" {
			t.Errorf("the release manifest starts with %s %s, %s; want the namespace, then the CRDs", objs[0].GetKind(), objs[0].GetName(), objs[1].GetKind())
		}
		for _, kind := range []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Deployment", "Service"} {
			if len(objs.ofKind(kind)) == 0 {
				t.Errorf("the release manifest has no %s", kind)
			}
		}
		s.dryRunAll(t, objs)
		if _, err := os.Stat(filepath.Join(dir, "redkube-"+version+".tgz")); err != nil {
			t.Errorf("no packaged chart: %v", err)
		}
	})
}

// helm installs the chart on an empty API server as the e2e harness does
// (helm install --create-namespace, but without --wait: no pod runs on
// envtest), CRD included; upgrades it to watch two namespaces, which moves
// the namespaced rules from the ClusterRole into Roles there; and
// uninstalls it, keeping the CRD.
func TestHelmInstallsUpgradesAndUninstallsTheChart(t *testing.T) {
	h := newHelm(t)
	s := startAPIServer(t, k8sBin(t))
	s.createNamespaces(t, "team-a", "team-b")
	helmDo := func(args ...string) {
		t.Helper()
		began := time.Now()
		if _, err := h.run(t.Context(), append(args, "--kubeconfig", s.kubeconfig)...); err != nil {
			t.Fatal(err)
		}
		t.Logf("measured: helm %s took %v", args[0], time.Since(began).Round(time.Millisecond))
	}
	r := defaultRelease()
	get := func(resource schema.GroupVersionResource, ns, name string) (*unstructured.Unstructured, error) {
		return s.dyn.Resource(resource).Namespace(ns).Get(t.Context(), name, metav1.GetOptions{})
	}
	deployments := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	roles := schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}
	clusterRoles := schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}

	helmDo(append([]string{"install", "--create-namespace"}, r.args()...)...)
	if _, err := get(deployments, "redkube-system", "redkube"); err != nil {
		t.Fatalf("after helm install: %v", err)
	}
	grantsPods := func() bool {
		u, err := get(clusterRoles, "", "redkube-manager")
		if err != nil {
			t.Fatalf("manager ClusterRole: %v", err)
		}
		var cr rbacv1.ClusterRole
		convert(t, u, &cr)
		return slices.ContainsFunc(cr.Rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.Resources, "pods") })
	}
	if !grantsPods() {
		t.Error("the cluster watch mode's ClusterRole does not grant pods")
	}

	ns := namespacesRelease()
	helmDo(append([]string{"upgrade"}, ns.args()...)...)
	for _, wns := range []string{"team-a", "team-b"} {
		if _, err := get(roles, wns, "redkube-manager"); err != nil {
			t.Errorf("after switching to the namespaces watch mode: %v", err)
		}
	}
	if grantsPods() {
		t.Error("after switching to the namespaces watch mode, the ClusterRole still grants pods")
	}
	d, err := get(deployments, "redkube-system", "redkube")
	if err != nil {
		t.Fatal(err)
	}
	if args, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers"); !strings.Contains(fmt.Sprint(args), "--watch-namespaces=team-a,team-b") {
		t.Errorf("the upgraded Deployment's containers %v lack --watch-namespaces", args)
	}

	helmDo("uninstall", r.name, "--namespace", r.namespace, "--wait")
	for _, o := range []struct {
		gvr      schema.GroupVersionResource
		ns, name string
	}{{deployments, "redkube-system", "redkube"}, {clusterRoles, "", "redkube-manager"}, {roles, "team-a", "redkube-manager"}} {
		if _, err := get(o.gvr, o.ns, o.name); !apierrors.IsNotFound(err) {
			t.Errorf("%s %s/%s after helm uninstall: %v, want not found", o.gvr.Resource, o.ns, o.name, err)
		}
	}
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	if _, err := get(crds, "", "redisclusters.redis.redkube.io"); err != nil {
		t.Errorf("the CRD after helm uninstall: %v; helm keeps the CRDs of crds/, and so the RedisClusters", err)
	}
}
