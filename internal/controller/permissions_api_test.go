package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
)

// rbacFixture is a service account of the test's own, as the manager
// would run as it: the generated ClusterRole (config/rbac/role.yaml,
// under a name of this test's), a ClusterRole with the cluster-scoped
// reads bound cluster-wide, and namespaces to bind the role in.
type rbacFixture struct {
	t        *testing.T
	op       string // the service account's namespace
	sa, user string
	role     string // the generated ClusterRole's name here
	cfg      *rest.Config
}

func newRBACFixture(t *testing.T) *rbacFixture {
	t.Helper()
	ctx := context.Background()
	f := &rbacFixture{t: t, op: newNamespace(t), sa: "mgr"}
	f.user = "system:serviceaccount:" + f.op + ":" + f.sa
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.Unmarshal(b, &role); err != nil {
		t.Fatal(err)
	}
	role.Name = "redkube-manager-" + f.op
	f.role = role.Name
	reads := rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "cluster-reads-" + f.op}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"storage.k8s.io"}, Resources: []string{"storageclasses"}, Verbs: []string{"get", "list", "watch"}},
	}}
	binding := rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: reads.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reads.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: f.op, Name: f.sa}},
	}
	if err := apiClient.Create(ctx, &role); err != nil {
		t.Fatal(err)
	}
	if err := apiClient.Create(ctx, &reads); err != nil {
		t.Fatal(err)
	}
	if err := apiClient.Create(ctx, &binding); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = apiClient.Delete(context.Background(), &binding)
		_ = apiClient.Delete(context.Background(), &reads)
		_ = apiClient.Delete(context.Background(), &role)
	})
	f.cfg = rest.CopyConfig(restConfig)
	f.cfg.Impersonate = rest.ImpersonationConfig{UserName: f.user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + f.op, "system:authenticated"}}
	return f
}

// bind grants the service account the generated ClusterRole in ns, or the
// ClusterRole name when given.
func (f *rbacFixture) bind(ns string, name ...string) {
	f.t.Helper()
	role := f.role
	if len(name) > 0 {
		role = name[0]
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mgr-" + role},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: f.op, Name: f.sa}},
	}
	if err := apiClient.Create(context.Background(), rb); err != nil {
		f.t.Fatal(err)
	}
}

// roleWithout creates a copy of the generated ClusterRole without verb on
// the core resource res and returns its name.
func (f *rbacFixture) roleWithout(res, verb string) string {
	f.t.Helper()
	var role rbacv1.ClusterRole
	if err := apiClient.Get(context.Background(), types.NamespacedName{Name: f.role}, &role); err != nil {
		f.t.Fatal(err)
	}
	var rules []rbacv1.PolicyRule
	for _, r := range role.Rules {
		if slices.Contains(r.APIGroups, "") && slices.Contains(r.Resources, res) && slices.Contains(r.Verbs, verb) {
			rest := r.DeepCopy()
			rest.Resources = slices.DeleteFunc(rest.Resources, func(s string) bool { return s == res })
			if len(rest.Resources) > 0 {
				rules = append(rules, *rest)
			}
			rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{res},
				Verbs: slices.DeleteFunc(slices.Clone(r.Verbs), func(s string) bool { return s == verb })})
			continue
		}
		rules = append(rules, r)
	}
	partial := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: f.role + "-no-" + verb + "-" + res}, Rules: rules}
	if err := apiClient.Create(context.Background(), partial); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = apiClient.Delete(context.Background(), partial) })
	return partial.Name
}

// waitMissing checks the service account's permissions for namespaces
// until exactly want (as strings) is missing; RBAC reaches the API
// server's authorizer through an informer, a moment after the write.
func (f *rbacFixture) waitMissing(namespaces []string, want []string) {
	f.t.Helper()
	cs, err := kubernetes.NewForConfig(f.cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	required := RequiredPermissions(ControllerPermissions, namespaces)
	var got []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		began := time.Now()
		missing, err := CheckPermissions(context.Background(), cs.AuthorizationV1(), required)
		if err != nil {
			f.t.Fatal(err)
		}
		took := time.Since(began)
		got = got[:0]
		for _, p := range missing {
			got = append(got, p.String())
		}
		if slices.Equal(got, want) {
			f.t.Logf("timing: %d SelfSubjectAccessReviews (client QPS %v): %v", len(required), cs.AuthorizationV1().RESTClient().GetRateLimiter().QPS(), took)
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("missing permissions:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCheckPermissionsFindsExactlyWhatTheServiceAccountLacks asks the
// real API server's RBAC authorizer, as the manager's service account.
func TestCheckPermissionsFindsExactlyWhatTheServiceAccountLacks(t *testing.T) {
	needAPIServer(t)
	f := newRBACFixture(t)
	a, b := newNamespace(t), newNamespace(t)
	f.bind(a)

	cs, err := kubernetes.NewForConfig(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if who, err := WhoAmI(context.Background(), cs.AuthenticationV1()); err != nil || who != f.user {
		t.Fatalf("WhoAmI = %q, %v; want %q", who, err, f.user)
	}

	t.Run("the role bound in one watched namespace but not the other: everything in the other", func(t *testing.T) {
		var want []string
		for _, p := range RequiredPermissions(ControllerPermissions, []string{b}) {
			if p.Namespace == b {
				want = append(want, p.String())
			}
		}
		f.waitMissing([]string{a, b}, want)
	})
	t.Run("a role without one verb: that verb", func(t *testing.T) {
		f.bind(b, f.roleWithout("pods", "delete"))
		f.waitMissing([]string{a, b}, []string{`delete pods in namespace "` + b + `"`})
	})
	t.Run("the whole cluster watched with namespaced grants only: every namespaced permission", func(t *testing.T) {
		var want []string
		for _, p := range RequiredPermissions(ControllerPermissions, nil) {
			if p.Namespaced {
				want = append(want, p.String())
			}
		}
		f.waitMissing(nil, want)
	})
	t.Run("the role in every watched namespace: nothing", func(t *testing.T) {
		f.bind(b)
		f.waitMissing([]string{a, b}, nil)
	})
}

// syncBuffer is a bytes.Buffer for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestManagerWaitsForItsPermissionsAndNamesTheMissingOnes runs the
// manager as a service account whose role is missing in one watched
// namespace: the controller does not start, the log, /readyz/permissions
// and an event on the manager's Pod name the namespace; once the role is
// bound there the manager becomes ready and manages RedisClusters in the
// watched namespaces only.
func TestManagerWaitsForItsPermissionsAndNamesTheMissingOnes(t *testing.T) {
	needAPIServer(t)
	f := newRBACFixture(t)
	a, b, unwatched := newNamespace(t), newNamespace(t), newNamespace(t)
	f.bind(a)
	f.bind(unwatched) // only the cache's namespaces keep the manager out
	f.bind(f.op)      // the event on its own Pod

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	health := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	pod := types.NamespacedName{Namespace: f.op, Name: "redkube-controller-manager-0"}
	// The manager's pod object (no kubelet runs it here); the manager is
	// given no UID and looks it up.
	podObj := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "manager", Image: "ghcr.io/redkube/redkube-operator:test"}}},
	}
	if err := apiClient.Create(context.Background(), podObj); err != nil {
		t.Fatal(err)
	}
	mgr, err := NewManager(f.cfg, ManagerOptions{
		MetricsBindAddress: "0", HealthProbeBindAddress: health,
		WatchNamespaces: []string{a, b}, Pod: &pod,
		PermissionCheckInterval: 300 * time.Millisecond, SkipControllerNameValidation: true,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	readyz := func() (int, string) {
		resp, err := http.Get("http://" + health + "/readyz/" + PermissionsCheckName)
		if err != nil {
			return 0, err.Error()
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	wantMissing := `service account ` + f.op + `/` + f.sa + ` lacks `
	wantWhere := `it needs in namespace "` + b + `"`
	waitFor(t, 30*time.Second, "/readyz/permissions to fail naming namespace "+b, func() bool {
		code, body := readyz()
		return code == http.StatusInternalServerError && strings.Contains(body, wantMissing) && strings.Contains(body, wantWhere)
	})
	t.Run("one log line names the service account and the namespace", func(t *testing.T) {
		var lines []map[string]any
		for l := range strings.Lines(logs.String()) {
			var rec map[string]any
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatalf("log line %q: %v", l, err)
			}
			if strings.Contains(rec["msg"].(string), "missing RBAC permissions") {
				lines = append(lines, rec)
			}
		}
		if len(lines) != 1 {
			t.Fatalf("%d log lines about missing permissions, want 1: %v", len(lines), lines)
		}
		if msg, _ := lines[0]["err"].(string); !strings.Contains(msg, wantMissing) || !strings.Contains(msg, wantWhere) || lines[0]["user"] != f.user {
			t.Errorf("log line %v does not name %q, %q and the user %s", lines[0], wantMissing, wantWhere, f.user)
		}
	})
	t.Run("a Warning event on the manager's Pod says the same", func(t *testing.T) {
		waitFor(t, 10*time.Second, "a MissingPermissions event on the manager's Pod", func() bool {
			evs := &corev1.EventList{}
			if err := apiClient.List(context.Background(), evs); err != nil {
				return false
			}
			for _, ev := range evs.Items {
				o := ev.InvolvedObject
				if o.Kind == "Pod" && o.Namespace == pod.Namespace && o.Name == pod.Name && o.UID == podObj.UID &&
					ev.Type == corev1.EventTypeWarning && ev.Reason == EventMissingPermissions && strings.Contains(ev.Message, wantWhere) {
					return true
				}
			}
			return false
		})
	})
	t.Run("no controller runs while permissions are missing", func(t *testing.T) {
		createCluster(t, a, "early", nil)
		time.Sleep(time.Second) // three checks; a running controller applies within one pass
		cm := &corev1.ConfigMap{}
		err := apiClient.Get(context.Background(), types.NamespacedName{Namespace: a, Name: "early-config"}, cm)
		if !apierrors.IsNotFound(err) {
			t.Errorf("the ConfigMap of a RedisCluster was written while permissions were missing (err %v)", err)
		}
	})

	f.bind(b)
	waitFor(t, 30*time.Second, "/readyz/permissions to pass", func() bool {
		code, _ := readyz()
		return code == http.StatusOK
	})
	t.Run("once granted, the watched namespaces' RedisClusters are managed and no others", func(t *testing.T) {
		inB := createCluster(t, b, "redis", nil)
		outside := createCluster(t, unwatched, "redis", nil)
		configOf := func(rc *redisv1alpha1.RedisCluster) error {
			return apiClient.Get(context.Background(), types.NamespacedName{Namespace: rc.Namespace, Name: resources.ConfigMapName(rc)}, &corev1.ConfigMap{})
		}
		waitFor(t, 30*time.Second, "the ConfigMaps of the RedisClusters in "+a+" and "+b, func() bool {
			return configOf(inB) == nil && configOf(getCluster(t, a, "early")) == nil
		})
		if err := configOf(outside); !apierrors.IsNotFound(err) {
			t.Errorf("the RedisCluster in the unwatched namespace %s got its ConfigMap (err %v)", unwatched, err)
		}
	})
}

// waitFor polls ok every 100 ms until it holds, failing t after d.
func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The table's Namespaced flags agree with the API server's discovery: a
// cluster-scoped resource is never checked per namespace, nor the other
// way round.
func TestPermissionTablesScopeMatchesDiscovery(t *testing.T) {
	needAPIServer(t)
	mapper := apiClient.RESTMapper()
	for _, table := range [][]PermissionRule{ControllerPermissions, MetricsAuthPermissions, LeaderElectionPermissions} {
		for _, r := range table {
			for _, res := range r.Resources {
				resource, _, _ := strings.Cut(res, "/")
				gvk, err := mapper.KindFor(schema.GroupVersionResource{Group: r.Group, Resource: resource})
				if err != nil {
					t.Errorf("%s.%s: %v", resource, r.Group, err)
					continue
				}
				m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
				if err != nil {
					t.Errorf("%s: %v", gvk, err)
					continue
				}
				if namespaced := m.Scope.Name() == meta.RESTScopeNameNamespace; namespaced != r.Namespaced {
					t.Errorf("%s.%s: namespaced %v in the table, %v in discovery", resource, r.Group, r.Namespaced, namespaced)
				}
			}
		}
	}
}
