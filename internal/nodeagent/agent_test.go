package nodeagent_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/redkube/redkube/internal/localkube"
	"github.com/redkube/redkube/internal/localkube/localkubetest"
	"github.com/redkube/redkube/internal/nodeagent"
	"github.com/redkube/redkube/internal/podexec"
	"github.com/redkube/redkube/internal/podnet"
)

// The agent must satisfy the launcher's interface.
var _ localkube.NodeAgent = (*nodeagent.Agent)(nil)

func TestMain(m *testing.M) {
	podexec.MaybeInit()
	os.Exit(m.Run())
}

// testNetwork is a bridge and /24 private to this test process.
func testNetwork() podnet.Config {
	third := os.Getpid()%200 + 20
	return podnet.Config{
		Bridge:   fmt.Sprintf("rka%d", os.Getpid()%100000),
		CIDR:     netip.MustParsePrefix(fmt.Sprintf("10.245.%d.0/24", third)),
		NetnsDir: podnet.DefaultNetnsDir,
	}
}

type env struct {
	t       *testing.T
	cluster *localkube.Cluster
	client  kubernetes.Interface
	ns      string
	net     podnet.Config
	state   string
	refresh time.Duration // Config.VolumeRefreshInterval

	mu     sync.Mutex
	agent  *nodeagent.Agent
	cancel context.CancelFunc
	done   chan error
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network and mount namespaces")
	}
	c := localkubetest.Start(t, localkube.Options{
		Nodes:                  2,
		NodeMonitorGracePeriod: 8 * time.Second,
		NodeMonitorPeriod:      2 * time.Second,
	})
	e := &env{t: t, cluster: c, client: c.Client, ns: "agent-test", net: testNetwork(), state: t.TempDir(), refresh: 2 * time.Second}
	ctx := context.Background()
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.stopAgent()
		_ = podnet.DeleteBridge(e.net.Bridge)
	})
	// Pods are refused until the namespace's default ServiceAccount exists.
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts(e.ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("no default service account in %s", e.ns)
	}
	return e
}

// startAgent runs a new Agent on the env's state folder.
func (e *env) startAgent(keep bool) {
	e.t.Helper()
	cfgs := map[string]*rest.Config{}
	for _, n := range e.cluster.Nodes {
		rc, err := e.cluster.NodeConfig(n)
		if err != nil {
			e.t.Fatal(err)
		}
		cfgs[n] = rc
	}
	kt := e.cluster.KubeletTLS()
	kubelet := nodeagent.KubeletConfig{Serving: map[string]nodeagent.TLSFiles{}, ClientCA: kt.ClientCA, ClientUser: kt.ClientUser}
	for n, f := range kt.Serving {
		kubelet.Serving[n] = nodeagent.TLSFiles{Cert: f.Cert, Key: f.Key}
	}
	a, err := nodeagent.New(nodeagent.Config{
		Kubelet:               kubelet,
		Nodes:                 e.cluster.Nodes,
		NodeConfigs:           cfgs,
		StateDir:              e.state,
		Network:               e.net,
		KeepPodsOnExit:        keep,
		HeartbeatInterval:     2 * time.Second,
		BackoffInitial:        time.Second,
		BackoffMax:            4 * time.Second,
		RetryInterval:         time.Second,
		VolumeRefreshInterval: e.refresh,
		Logger:                slog.New(slog.NewTextHandler(testWriter{e.t}, nil)),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	e.mu.Lock()
	e.agent, e.cancel, e.done = a, cancel, done
	e.mu.Unlock()
}

func (e *env) stopAgent() {
	e.mu.Lock()
	cancel, done := e.cancel, e.done
	e.cancel = nil
	e.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	if err := <-done; err != nil {
		e.t.Errorf("agent Run: %v", err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// waitPod polls the pod until cond holds.
func (e *env) waitPod(name string, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	e.t.Helper()
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := e.client.CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // retried
		}
		last = p
		return cond(p), nil
	})
	if err != nil {
		if last != nil {
			e.t.Fatalf("pod %s never %s; last status: phase=%s ip=%s conditions=%+v containers=%+v", name, what, last.Status.Phase, last.Status.PodIP, last.Status.Conditions, last.Status.ContainerStatuses)
		}
		e.t.Fatalf("pod %s never %s: %v", name, what, err)
	}
	return last
}

func (e *env) waitGone(name string) {
	e.t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := e.client.CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		e.t.Fatalf("pod %s never went away: %v", name, err)
	}
}

func (e *env) waitEvent(pod, reason, contains string) {
	e.t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		evs, err := e.client.CoreV1().Events(e.ns).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.name", pod).String()})
		if err != nil {
			return false, nil //nolint:nilerr // retried
		}
		for _, ev := range evs.Items {
			if ev.Reason == reason && strings.Contains(ev.Message, contains) && ev.Source.Component == "kubelet" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		e.t.Fatalf("no %s event containing %q for pod %s", reason, contains, pod)
	}
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

const redisConf = "port 6379\nbind 0.0.0.0\nprotected-mode no\ndir /var/lib/redis\nappendonly yes\n"

// redisPod is a tutorial-like Redis pod: ConfigMap config, a PVC for data,
// the pod IP from the downward API, exec readiness and TCP liveness probes.
func redisPod(name, node, claim string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "redis"}},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			TerminationGracePeriodSeconds: ptr.To(int64(20)),
			Containers: []corev1.Container{{
				Name:    "redis",
				Image:   "redis",
				Command: []string{"redis-server"},
				Args:    []string{"/etc/redis/redis.conf", "--cluster-announce-ip", "$(POD_IP)"},
				Env: []corev1.EnvVar{
					{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				},
				Ports: []corev1.ContainerPort{{Name: "redis", ContainerPort: 6379}},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "redis-conf", MountPath: "/etc/redis"},
					{Name: "redis-data", MountPath: "/var/lib/redis"},
				},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"redis-cli", "ping"}}},
					PeriodSeconds: 1,
				},
				LivenessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("redis")}},
					PeriodSeconds: 2,
				},
			}},
			Volumes: []corev1.Volume{
				{Name: "redis-conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "redis-conf"},
					Items:                []corev1.KeyToPath{{Key: "redis.conf", Path: "redis.conf"}},
				}}},
			},
		},
	}
	if claim != "" {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "redis-data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
	} else {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "redis-data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}
	return p
}

// staticPV creates a hostPath PV and a PVC bound to it.
func (e *env) staticPV(name string) string {
	e.t.Helper()
	dir := filepath.Join(e.t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	ctx := context.Background()
	pvName := fmt.Sprintf("%s-%s", e.ns, name)
	_, err := e.client.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              "",
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		_ = e.client.CoreV1().PersistentVolumes().Delete(context.Background(), pvName, metav1.DeleteOptions{})
	})
	_, err = e.client.CoreV1().PersistentVolumeClaims(e.ns).Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To(""),
			VolumeName:       pvName,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		c, err := e.client.CoreV1().PersistentVolumeClaims(e.ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && c.Status.Phase == corev1.ClaimBound, nil
	})
	if err != nil {
		e.t.Fatalf("claim %s never bound", name)
	}
	return dir
}

func (e *env) create(p *corev1.Pod) time.Time {
	e.t.Helper()
	start := time.Now()
	if _, err := e.client.CoreV1().Pods(e.ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	return start
}

func (e *env) configMap() {
	e.t.Helper()
	_, err := e.client.CoreV1().ConfigMaps(e.ns).Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "redis-conf"},
		Data:       map[string]string{"redis.conf": redisConf},
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
}

func redisClient(ip string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: net.JoinHostPort(ip, "6379"), DialTimeout: 2 * time.Second, MaxRetries: -1})
}

func dialable(ip string) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, "6379"), time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

func netnsFiles(t *testing.T, cfg podnet.Config) []string {
	t.Helper()
	names, err := podnet.ListNetns(cfg, cfg.Bridge+"-")
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatalf("bad address %q: %v", s, err)
	}
	return a
}
