package metricsauth

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// clientset reaches a real kube-apiserver (envtest with the binaries of
// hack/build-k8s.sh, RBAC authorization); nil when REDKUBE_K8S_BIN is
// unset or with -short.
var clientset kubernetes.Interface

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	flag.Parse()
	bin := os.Getenv("REDKUBE_K8S_BIN")
	if bin == "" || testing.Short() {
		return m.Run()
	}
	env := &envtest.Environment{BinaryAssetsDirectory: bin}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "start envtest from %s: %v\n", bin, err)
		_ = env.Stop()
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop envtest: %v\n", err)
		}
	}()
	if clientset, err = kubernetes.NewForConfig(cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func TestCacheKeepsValuesUntilTheirTTLAndStaysBounded(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	c := newCache[bool]()
	c.put("a", true, now, time.Minute)
	if v, ok := c.get("a", now.Add(59*time.Second)); !ok || !v {
		t.Errorf("a value is gone before its TTL: %v, %v", v, ok)
	}
	if _, ok := c.get("a", now.Add(time.Minute)); ok {
		t.Error("a value outlived its TTL")
	}
	t.Run("a full cache drops what expired first", func(t *testing.T) {
		c := newCache[bool]()
		c.put("old", true, now, time.Second)
		for i := range maxEntries - 1 {
			c.put(fmt.Sprint(i), true, now, time.Hour)
		}
		c.put("new", true, now.Add(time.Minute), time.Hour)
		if _, ok := c.get("0", now.Add(time.Minute)); !ok || c.len() != maxEntries {
			t.Errorf("live entries were dropped: %d left", c.len())
		}
	})
	t.Run("a full cache of live entries starts over", func(t *testing.T) {
		c := newCache[bool]()
		for i := range maxEntries {
			c.put(fmt.Sprint(i), true, now, time.Hour)
		}
		c.put("new", true, now, time.Hour)
		if _, ok := c.get("new", now); !ok || c.len() != 1 {
			t.Errorf("%d entries after overflow, want only the new one", c.len())
		}
	})
}

// fixture makes a namespace with two service accounts, one of them bound
// to a ClusterRole allowed GET /metrics, and returns their tokens.
func fixture(t *testing.T) (reader, other string, unbind func()) {
	t.Helper()
	if clientset == nil {
		t.Skip("REDKUBE_K8S_BIN is unset: no API server (`make test` sets it)")
	}
	ctx := context.Background()
	ns, err := clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "metricsauth-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	token := func(name string) string {
		if _, err := clientset.CoreV1().ServiceAccounts(ns.Name).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		tr, err := clientset.CoreV1().ServiceAccounts(ns.Name).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	reader, other = token("reader"), token("other")
	role, err := clientset.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "metrics-reader-"},
		Rules:      []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	binding, err := clientset.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "metrics-reader-"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns.Name, Name: "reader"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = clientset.RbacV1().ClusterRoleBindings().Delete(context.Background(), binding.Name, metav1.DeleteOptions{})
		_ = clientset.RbacV1().ClusterRoles().Delete(context.Background(), role.Name, metav1.DeleteOptions{})
		_ = clientset.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	// RBAC reaches the authorizer through an informer: wait until the
	// reader is allowed before the tests rely on it.
	deadline := time.Now().Add(10 * time.Second)
	r := New(clientset.AuthenticationV1(), clientset.AuthorizationV1(), nil)
	for {
		user, _, err := r.authenticate(ctx, reader)
		if err != nil {
			t.Fatal(err)
		}
		r.authz = newCache[bool]()
		if ok, err := r.authorize(ctx, user, "get", "/metrics"); err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the metrics reader binding never took effect")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return reader, other, func() {
		if err := clientset.RbacV1().ClusterRoleBindings().Delete(context.Background(), binding.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func get(t *testing.T, srv *httptest.Server, method, path, auth string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestWrapLetsOnlyAnAllowedTokenThrough(t *testing.T) {
	reader, other, _ := fixture(t)
	r := New(clientset.AuthenticationV1(), clientset.AuthorizationV1(), nil)
	srv := httptest.NewServer(r.Wrap(logr.Discard(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "metrics")
	})))
	defer srv.Close()
	for _, c := range []struct {
		name, method, path, auth string
		want                     int
	}{
		{"no token is 401", "GET", "/metrics", "", http.StatusUnauthorized},
		{"another scheme is 401", "GET", "/metrics", "Basic " + reader, http.StatusUnauthorized},
		{"a token the API server does not know is 401", "GET", "/metrics", "Bearer not-a-token", http.StatusUnauthorized},
		{"a valid token without the role is 403", "GET", "/metrics", "Bearer " + other, http.StatusForbidden},
		{"the reader's token is 200", "GET", "/metrics", "Bearer " + reader, http.StatusOK},
		{"the scheme's case does not matter", "GET", "/metrics", "bearer " + reader, http.StatusOK},
		{"the reader may not POST", "POST", "/metrics", "Bearer " + reader, http.StatusForbidden},
		{"nor GET another path", "GET", "/debug/pprof/", "Bearer " + reader, http.StatusForbidden},
	} {
		if got := get(t, srv, c.method, c.path, c.auth); got != c.want {
			t.Errorf("%s: status %d, want %d", c.name, got, c.want)
		}
	}
}

func TestAnAllowedAccessIsReusedForAllowTTL(t *testing.T) {
	reader, _, unbind := fixture(t)
	clk := clocktesting.NewFakePassiveClock(time.Now())
	r := New(clientset.AuthenticationV1(), clientset.AuthorizationV1(), clk)
	srv := httptest.NewServer(r.Wrap(logr.Discard(), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	defer srv.Close()
	if got := get(t, srv, "GET", "/metrics", "Bearer "+reader); got != http.StatusOK {
		t.Fatalf("status %d, want 200", got)
	}
	unbind()
	// Give the API server's authorizer time to see the binding gone, so
	// that a review made now would deny.
	time.Sleep(time.Second)
	clk.SetTime(clk.Now().Add(AllowTTL - time.Second))
	if got := get(t, srv, "GET", "/metrics", "Bearer "+reader); got != http.StatusOK {
		t.Errorf("within AllowTTL: status %d, want the cached 200", got)
	}
	clk.SetTime(clk.Now().Add(2 * time.Second))
	if got := get(t, srv, "GET", "/metrics", "Bearer "+reader); got != http.StatusForbidden {
		t.Errorf("after AllowTTL without the binding: status %d, want 403", got)
	}
}
