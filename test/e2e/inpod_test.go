package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"

	"github.com/redkube/redkube/internal/controller"
	"github.com/redkube/redkube/internal/kubenet"
	"github.com/redkube/redkube/internal/localkube"
	"github.com/redkube/redkube/internal/podnet"
	"github.com/redkube/redkube/test/harness"
)

// The operator's installation in TestManagerRunsAsAPod, as the in-cluster
// manifests name it.
const (
	operatorNS    = "redkube-system"
	operatorSA    = "redkube-controller-manager"
	operatorImage = "ghcr.io/redkube/redkube-operator:test"
	operatorApp   = "redkube-operator"
	metricsPort   = 8443
	healthPort    = 8081
	// inClusterImage runs the test's in-cluster client (inclusterclient).
	inClusterImage = "example.com/redkube-test/inclusterclient:test"
)

// buildBinaries builds the main packages (by import path below the
// module) into a new folder the pods' non-root users can read, with the
// flags `make build` uses, and returns it.
func buildBinaries(t *testing.T, pkgs ...string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "redkube-e2e-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	// MkdirTemp makes it 0700; the manager runs as user 65532.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"build", "-trimpath", "-o", dir + "/"}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	began := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", pkgs, err, out)
	}
	t.Logf("timing: go build %v: %v", pkgs, time.Since(began))
	return dir
}

// TestManagerRunsAsAPod runs the manager binary the way a cluster runs
// the operator image: as a Deployment's pod, with its own service
// account and RBAC, in-cluster configuration, a readiness probe, leader
// election and authenticated HTTPS metrics. Before that, a small
// in-cluster client shows what the pod environment gives any pod.
func TestManagerRunsAsAPod(t *testing.T) {
	bin := buildBinaries(t, "./cmd/manager", "./test/e2e/inclusterclient")
	crd, err := filepath.Abs("../../config/crd/bases")
	if err != nil {
		t.Fatal(err)
	}
	network := harness.Network("rkp", 248)
	h := startHarness(t, harness.Options{
		Name: "e2e-inpod", CRDDir: crd, Services: true,
		Network:  network,
		Binaries: bin,
		Images:   map[string]string{"inclusterclient": filepath.Join(bin, "inclusterclient")},
	}, "redis-server", "redis-cli")

	t.Run("a pod's in-cluster client reaches the API server as its service account", func(t *testing.T) {
		testInClusterClient(t, h)
	})
	t.Run("a project binary that is not built is named in the pod's status and events", func(t *testing.T) {
		testMissingProjectBinary(t, h, bin)
	})
	testManagerPod(t, h, network)
}

// testInClusterClient runs inclusterclient as user 65532 under a service
// account allowed to list pods in its namespace and nothing else.
func testInClusterClient(t *testing.T, h *harness.Env) {
	const ns, sa = "incluster", "reader"
	applyYAML(t, h, "incluster.yaml", fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: %[2]s
  namespace: %[1]s
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: pod-reader
  namespace: %[1]s
rules:
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: pod-reader
  namespace: %[1]s
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: pod-reader
subjects:
- kind: ServiceAccount
  name: %[2]s
  namespace: %[1]s
`, ns, sa))
	applyYAML(t, h, "incluster-pod.yaml", fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: client
  namespace: %[1]s
spec:
  serviceAccountName: %[2]s
  restartPolicy: Never
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
  containers:
  - name: client
    image: %[3]s
    args: ["pods/%[1]s", "secrets/%[1]s", "pods/kube-system"]
`, ns, sa, inClusterImage))
	began := time.Now()
	var pod *corev1.Pod
	waitT(t, time.Minute, 200*time.Millisecond, "the in-cluster client pod to finish", func(ctx context.Context) error {
		var err error
		if pod, err = h.Clientset.CoreV1().Pods(ns).Get(ctx, "client", metav1.GetOptions{}); err != nil {
			return err
		}
		if p := pod.Status.Phase; p != corev1.PodSucceeded && p != corev1.PodFailed {
			return fmt.Errorf("phase %s", p)
		}
		return nil
	})
	t.Logf("timing: in-cluster client pod created -> finished: %v", time.Since(began))
	logs, err := h.Clientset.CoreV1().Pods(ns).GetLogs("client", &corev1.PodLogOptions{}).DoRaw(t.Context())
	if err != nil {
		t.Fatalf("logs of the client: %v", err)
	}
	if pod.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("the client pod %s:\n%s", pod.Status.Phase, logs)
	}
	want := strings.Join([]string{
		"host https://" + net.JoinHostPort(kubenet.APIServiceIP, "443"),
		"user system:serviceaccount:" + ns + ":" + sa,
		"dns kubernetes.default.svc " + kubenet.APIServiceIP,
		"list pods in " + ns + ": ok",
		"list secrets in " + ns + ": Forbidden",
		"list pods in kube-system: Forbidden",
	}, "\n")
	if got := strings.TrimSpace(string(logs)); got != want {
		t.Errorf("the in-cluster client printed:\n%s\nwant:\n%s", got, want)
	}
}

// testMissingProjectBinary runs the exporter's command, whose binary the
// test did not build, from the operator image.
func testMissingProjectBinary(t *testing.T, h *harness.Env, bin string) {
	applyYAML(t, h, "exporter-pod.yaml", fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: exporter
  namespace: default
spec:
  containers:
  - name: exporter
    image: %s
    command: ["%s"]
`, operatorImage, localkube.ExporterCommand))
	missing := filepath.Join(bin, localkube.ExporterBinary)
	waitT(t, time.Minute, 200*time.Millisecond, "the exporter pod to wait with RunContainerError", func(ctx context.Context) error {
		p, err := h.Clientset.CoreV1().Pods("default").Get(ctx, "exporter", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && w.Reason == "RunContainerError" && strings.Contains(w.Message, missing) {
				return nil
			}
		}
		return fmt.Errorf("container statuses %+v", p.Status.ContainerStatuses)
	})
	waitT(t, 30*time.Second, 200*time.Millisecond, "a Failed event naming "+missing, func(ctx context.Context) error {
		return hasEvent(ctx, h, "default", "exporter", "Failed", missing)
	})
}

// hasEvent returns nil when the object name in ns has an event with the
// reason whose message contains text.
func hasEvent(ctx context.Context, h *harness.Env, ns, name, reason, text string) error {
	evs, err := h.Clientset.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.name", name).String()})
	if err != nil {
		return err
	}
	var seen []string
	for _, ev := range evs.Items {
		if ev.Reason == reason && strings.Contains(ev.Message, text) {
			return nil
		}
		seen = append(seen, ev.Reason+": "+ev.Message)
	}
	return fmt.Errorf("no %s event containing %q; events: %q", reason, text, seen)
}

func applyYAML(t *testing.T, h *harness.Env, name, doc string) {
	t.Helper()
	if err := h.ApplyYAML(context.Background(), name, doc); err != nil {
		t.Fatal(err)
	}
}

// operatorYAML is the operator's installation without the binding of its
// ClusterRole (config/rbac/role.yaml, applied as generated): its service
// account, the leader-election Role, the metrics authentication and
// reader ClusterRoles, two scrapers' service accounts (one allowed to
// read metrics), and the Deployment.
func operatorYAML() string {
	return fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: %[2]s
  namespace: %[1]s
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: redkube-leader-election-role
  namespace: %[1]s
rules:
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["", "events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: redkube-leader-election-rolebinding
  namespace: %[1]s
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: redkube-leader-election-role
subjects:
- kind: ServiceAccount
  name: %[2]s
  namespace: %[1]s
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: redkube-metrics-auth-role
rules:
- apiGroups: ["authentication.k8s.io"]
  resources: ["tokenreviews"]
  verbs: ["create"]
- apiGroups: ["authorization.k8s.io"]
  resources: ["subjectaccessreviews"]
  verbs: ["create"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: redkube-metrics-auth-rolebinding
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: redkube-metrics-auth-role
subjects:
- kind: ServiceAccount
  name: %[2]s
  namespace: %[1]s
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: redkube-metrics-reader
rules:
- nonResourceURLs: ["/metrics"]
  verbs: ["get"]
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: metrics-scraper
  namespace: %[1]s
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: not-a-scraper
  namespace: %[1]s
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: redkube-metrics-scraper
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: redkube-metrics-reader
subjects:
- kind: ServiceAccount
  name: metrics-scraper
  namespace: %[1]s
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: redkube-controller-manager
  namespace: %[1]s
spec:
  replicas: 1
  selector:
    matchLabels:
      app: %[4]s
  template:
    metadata:
      labels:
        app: %[4]s
    spec:
      serviceAccountName: %[2]s
      terminationGracePeriodSeconds: 10
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
      containers:
      - name: manager
        image: %[3]s
        args:
        - --leader-elect
        - --metrics-secure
        - --metrics-bind-address=:%[5]d
        - --health-probe-bind-address=:%[6]d
        env:
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: POD_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        - name: POD_UID
          valueFrom:
            fieldRef:
              fieldPath: metadata.uid
        ports:
        - name: metrics
          containerPort: %[5]d
        - name: health
          containerPort: %[6]d
        readinessProbe:
          httpGet:
            path: /readyz
            port: health
          periodSeconds: 2
        livenessProbe:
          httpGet:
            path: /healthz
            port: health
          initialDelaySeconds: 15
          periodSeconds: 20
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities:
            drop: ["ALL"]
`, operatorNS, operatorSA, operatorImage, operatorApp, metricsPort, healthPort)
}

const managerBindingYAML = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: redkube-manager-rolebinding
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: redkube-manager-role
subjects:
- kind: ServiceAccount
  name: ` + operatorSA + `
  namespace: ` + operatorNS + `
`

// managerPod returns the operator's one live pod.
func managerPod(ctx context.Context, h *harness.Env) (*corev1.Pod, error) {
	pods, err := h.LivePods(ctx, operatorNS, "app="+operatorApp)
	if err != nil {
		return nil, err
	}
	if len(pods) != 1 {
		return nil, fmt.Errorf("%d operator pods, want 1", len(pods))
	}
	return &pods[0], nil
}

func testManagerPod(t *testing.T, h *harness.Env, network podnet.Config) {
	kubectlT(t, h, "apply", "-f", "../../config/rbac/role.yaml")
	applyYAML(t, h, "operator.yaml", operatorYAML())
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := h.Kubectl(context.Background(), "-n", operatorNS, "describe", "pods")
			t.Logf("--- operator pods\n%s", out)
			out, _ = h.Kubectl(context.Background(), "-n", operatorNS, "logs", "deploy/redkube-controller-manager", "--tail=60")
			t.Logf("--- operator log\n%s", out)
		}
	})
	began := time.Now()
	var pod *corev1.Pod

	t.Run("without its ClusterRole bound the manager runs unready and names what it lacks", func(t *testing.T) {
		waitT(t, 2*time.Minute, 200*time.Millisecond, "the manager pod to run", func(ctx context.Context) error {
			var err error
			if pod, err = managerPod(ctx, h); err != nil {
				return err
			}
			if len(pod.Status.ContainerStatuses) != 1 || pod.Status.ContainerStatuses[0].State.Running == nil {
				return fmt.Errorf("container statuses %+v", pod.Status.ContainerStatuses)
			}
			return nil
		})
		t.Logf("timing: Deployment applied -> manager container running: %v", time.Since(began))
		want := "service account " + operatorNS + "/" + operatorSA + " lacks"
		waitT(t, time.Minute, 200*time.Millisecond, "a MissingPermissions event on the manager's pod", func(ctx context.Context) error {
			return hasEvent(ctx, h, operatorNS, pod.Name, controller.EventMissingPermissions, want)
		})
		// Every namespaced permission is missing in all namespaces, and
		// the cluster-scoped reads (the metrics reviews are granted).
		for _, part := range []string{"it needs in all namespaces", "get, list, watch nodes cluster-wide", "get, list, watch storageclasses.storage.k8s.io cluster-wide"} {
			if err := hasEvent(t.Context(), h, operatorNS, pod.Name, controller.EventMissingPermissions, part); err != nil {
				t.Error(err)
			}
		}
		if p, err := managerPod(t.Context(), h); err != nil || harness.PodReady(p) {
			t.Errorf("the manager pod is Ready (%v) without its permissions", err)
		}
	})
	if t.Failed() {
		return
	}

	applyYAML(t, h, "manager-binding.yaml", managerBindingYAML)
	bound := time.Now()
	waitT(t, time.Minute, 200*time.Millisecond, "the manager pod to become Ready", func(ctx context.Context) error {
		var err error
		if pod, err = managerPod(ctx, h); err != nil {
			return err
		}
		if !harness.PodReady(pod) {
			return errors.New("not Ready")
		}
		return nil
	})
	t.Logf("timing: ClusterRoleBinding applied -> manager pod Ready: %v (checks every %v)", time.Since(bound), controller.DefaultPermissionCheckInterval)
	if logs, err := h.Clientset.CoreV1().Pods(operatorNS).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(t.Context()); err == nil {
		for l := range strings.Lines(string(logs)) {
			if strings.Contains(l, "RBAC permissions granted") {
				t.Logf("measured: the manager's permission check: %s", strings.TrimSpace(l))
			}
		}
	}

	t.Run("the Ready manager holds the leader lease", func(t *testing.T) {
		waitT(t, 30*time.Second, 200*time.Millisecond, "the lease held by "+pod.Name, func(ctx context.Context) error {
			l := &coordinationv1.Lease{}
			if err := h.Client.Get(ctx, types.NamespacedName{Namespace: operatorNS, Name: controller.LeaderElectionID}, l); err != nil {
				return err
			}
			if l.Spec.HolderIdentity == nil || !strings.HasPrefix(*l.Spec.HolderIdentity, pod.Name+"_") {
				return fmt.Errorf("holder %v", l.Spec.HolderIdentity)
			}
			return nil
		})
	})

	t.Run("HTTPS metrics answer only a token allowed to read them", func(t *testing.T) {
		url := "https://" + net.JoinHostPort(pod.Status.PodIP, fmt.Sprint(metricsPort)) + "/metrics"
		token := func(sa string) string {
			tr, err := h.Clientset.CoreV1().ServiceAccounts(operatorNS).CreateToken(t.Context(), sa, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return tr.Status.Token
		}
		for _, c := range []struct {
			name, token string
			want        int
		}{
			{"no token", "", http.StatusUnauthorized},
			{"a token without the metrics reader role", token("not-a-scraper"), http.StatusForbidden},
			{"a token of the metrics reader", token("metrics-scraper"), http.StatusOK},
		} {
			code, body, err := scrape(t.Context(), url, c.token)
			if err != nil || code != c.want {
				t.Errorf("%s: status %d, %v; want %d", c.name, code, err, c.want)
				continue
			}
			if c.want == http.StatusOK && !strings.Contains(body, "controller_runtime_reconcile_total") {
				t.Errorf("%s: the metrics lack controller_runtime_reconcile_total:\n%.500s", c.name, body)
			}
		}
	})

	t.Run("the manager's process runs as the pod's user", func(t *testing.T) {
		st, err := processInPod(network, pod, "manager")
		if err != nil {
			t.Fatal(err)
		}
		if st["Uid"][0] != "65532" || st["Gid"][0] != "65532" {
			t.Errorf("the manager runs as uid %v gid %v, want 65532", st["Uid"], st["Gid"])
		}
		t.Logf("measured: manager pod VmRSS %s kB", st["VmRSS"][0])
	})

	t.Run("the manager in its pod makes a RedisCluster Ready", func(t *testing.T) {
		applied := time.Now()
		applyYAML(t, h, "rediscluster.yaml", `apiVersion: redis.redkube.io/v1alpha1
kind: RedisCluster
metadata:
  name: inpod
  namespace: default
spec:
  masters: 3
  replicasPerMaster: 0
  storage:
    size: 64Mi
`)
		if _, err := h.WaitReady(t.Context(), "default", "inpod", applied, 3*time.Minute); err != nil {
			t.Fatal(err)
		}
		t.Logf("timing: RedisCluster 3x0 applied -> Ready: %v", time.Since(applied))
		// The operator's pod spec asks for user 999 and fsGroup 999.
		pods, err := h.LivePods(t.Context(), "default", "app.kubernetes.io/instance=inpod")
		if err != nil || len(pods) != 3 {
			t.Fatalf("%d Redis pods, %v", len(pods), err)
		}
		for _, p := range pods {
			st, err := processInPod(network, &p, "redis-server")
			if err != nil {
				t.Error(err)
				continue
			}
			if st["Uid"][0] != "999" || !slices.Contains(st["Groups"], "999") {
				t.Errorf("Redis of %s runs as uid %v groups %v, want 999 and group 999", p.Name, st["Uid"], st["Groups"])
			}
		}
	})
}

// processInPod returns the fields of /proc/<pid>/status of the one
// process named comm in the pod's network namespace (the node agent's
// <bridge>-<pod UID> under the network's netns folder).
func processInPod(network podnet.Config, pod *corev1.Pod, comm string) (map[string][]string, error) {
	var ns syscall.Stat_t
	if err := syscall.Stat(filepath.Join(network.NetnsDir, network.Bridge+"-"+string(pod.UID)), &ns); err != nil {
		return nil, fmt.Errorf("network namespace of %s: %w", pod.Name, err)
	}
	want := fmt.Sprintf("net:[%d]", ns.Ino)
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return nil, err
	}
	var found []string
	for _, d := range dirs {
		link, err := os.Readlink(filepath.Join(d, "ns", "net"))
		if err != nil || link != want {
			continue
		}
		if c, err := os.ReadFile(filepath.Join(d, "comm")); err == nil && strings.TrimSpace(string(c)) == comm {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("%d processes named %s in the network namespace of %s, want 1", len(found), comm, pod.Name)
	}
	b, err := os.ReadFile(filepath.Join(found[0], "status"))
	if err != nil {
		return nil, err
	}
	st := map[string][]string{}
	for l := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(l, ":"); ok {
			st[k] = strings.Fields(v)
		}
	}
	return st, nil
}

// scrape GETs url over TLS without verifying the manager's self-signed
// certificate, with the bearer token when not empty.
func scrape(ctx context.Context, url, token string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the manager's certificate is self-signed
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
