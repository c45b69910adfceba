package nodeagent_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/redkube/redkube/internal/localkube"
)

// shPod runs script with sh in container "c" on node, with the host folder
// dir at /gate.
func shPod(name, node, dir, script string, policy corev1.RestartPolicy) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
		NodeName:                      node,
		RestartPolicy:                 policy,
		TerminationGracePeriodSeconds: ptr.To[int64](1),
		Containers: []corev1.Container{{
			Name: "c", Image: "busybox", Command: []string{"sh", "-c", script},
			VolumeMounts: []corev1.VolumeMount{{Name: "gate", MountPath: "/gate"}},
		}},
		Volumes: []corev1.Volume{{Name: "gate", VolumeSource: corev1.VolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: dir}}}},
	}}
}

// logs returns the pod's log through the API server (which proxies to the
// node agent's kubelet endpoint).
func (e *env) logs(name string, opts *corev1.PodLogOptions) string {
	e.t.Helper()
	b, err := e.client.CoreV1().Pods(e.ns).GetLogs(name, opts).DoRaw(context.Background())
	if err != nil {
		e.t.Fatalf("logs of %s (%+v): %v: %s", name, opts, err, b)
	}
	return string(b)
}

func TestKubectlLogs(t *testing.T) {
	e := newEnv(t)
	e.startAgent(false)
	node := e.cluster.Nodes[1]
	running := func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Running != nil
	}

	t.Run("the log holds stdout and stderr lines, tail and timestamps apply", func(t *testing.T) {
		script := "for i in 1 2 3 4 5; do echo line-$i; done; echo err-line >&2; echo done > /gate/printed; exec sleep 3600"
		dir := t.TempDir()
		e.create(shPod("printer", node, dir, script, corev1.RestartPolicyAlways))
		e.waitPod("printer", "Running", running)
		waitFile(t, filepath.Join(dir, "printed"))

		all := e.logs("printer", &corev1.PodLogOptions{})
		for _, want := range []string{"line-1\n", "line-5\n", "err-line\n"} {
			if !strings.Contains(all, want) {
				t.Errorf("log %q lacks %q", all, want)
			}
		}
		// stdout and stderr are separate pipes: their relative order is
		// the order the agent read them in, so compare with the full log.
		lines := strings.SplitAfter(all, "\n")
		lines = lines[:len(lines)-1] // "" after the last newline
		if len(lines) != 6 {
			t.Fatalf("log %q: want 6 lines", all)
		}
		if got := e.logs("printer", &corev1.PodLogOptions{TailLines: ptr.To[int64](2), Container: "c"}); got != strings.Join(lines[4:], "") {
			t.Errorf("tail 2 = %q, full log %q", got, all)
		}
		stamped := e.logs("printer", &corev1.PodLogOptions{Timestamps: true})
		for _, l := range strings.Split(strings.TrimSuffix(stamped, "\n"), "\n") {
			ts, rest, _ := strings.Cut(l, " ")
			if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || !strings.HasPrefix(rest, "line-") && rest != "err-line" {
				t.Errorf("timestamped line %q: %v", l, err)
			}
		}
		if got := e.logs("printer", &corev1.PodLogOptions{LimitBytes: ptr.To[int64](3)}); got != all[:3] {
			t.Errorf("limitBytes 3 = %q", got)
		}
		if got := e.logs("printer", &corev1.PodLogOptions{SinceTime: &metav1.Time{Time: time.Now().Add(time.Hour)}}); got != "" {
			t.Errorf("since an hour ahead = %q, want nothing", got)
		}
	})

	t.Run("kubectl logs works with the cluster's kubectl", func(t *testing.T) {
		kubectl := filepath.Join(e.cluster.BinDir, "kubectl")
		if _, err := os.Stat(kubectl); err != nil {
			t.Skipf("no kubectl in %s", e.cluster.BinDir)
		}
		full := e.logs("printer", &corev1.PodLogOptions{})
		out, err := exec.Command(kubectl, "--kubeconfig", e.cluster.Kubeconfig, "-n", e.ns, "logs", "printer", "--tail=1").CombinedOutput()
		if err != nil || !strings.HasSuffix(full, "\n"+string(out)) || strings.Count(string(out), "\n") != 1 {
			t.Errorf("kubectl logs --tail=1 = %q, %v; full log %q", out, err, full)
		}
	})

	t.Run("follow streams new lines until the container exits", func(t *testing.T) {
		dir := t.TempDir()
		script := "echo first; while [ ! -e /gate/go ]; do sleep 0.1; done; echo second"
		e.create(shPod("follower", node, dir, script, corev1.RestartPolicyNever))
		e.waitPod("follower", "Running", running)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		rc, err := e.client.CoreV1().Pods(e.ns).GetLogs("follower", &corev1.PodLogOptions{Follow: true}).Stream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = rc.Close() }()
		br := bufio.NewReader(rc)
		if l, err := br.ReadString('\n'); err != nil || l != "first\n" {
			t.Fatalf("first followed line = %q, %v", l, err)
		}
		// The container is still waiting: "second" can only come through
		// the open stream.
		if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		rest, err := io.ReadAll(br)
		if err != nil || string(rest) != "second\n" {
			t.Fatalf("rest of the followed log = %q, %v (want the stream to end after the exit)", rest, err)
		}
	})

	t.Run("previous returns the log of the instance before the restart", func(t *testing.T) {
		dir := t.TempDir()
		script := "n=$(cat /gate/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /gate/n; echo instance-$n; if [ $n -ge 2 ]; then exec sleep 3600; fi; exit 1"
		e.create(shPod("restarter", node, dir, script, corev1.RestartPolicyAlways))
		e.waitPod("restarter", "restarted and Running", func(p *corev1.Pod) bool {
			return running(p) && p.Status.ContainerStatuses[0].RestartCount == 1
		})
		waitFileHolds(t, filepath.Join(dir, "n"), "2")
		if got := e.logs("restarter", &corev1.PodLogOptions{}); got != "instance-2\n" {
			t.Errorf("current log = %q", got)
		}
		if got := e.logs("restarter", &corev1.PodLogOptions{Previous: true}); got != "instance-1\n" {
			t.Errorf("previous log = %q", got)
		}
		if b, err := e.client.CoreV1().Pods(e.ns).GetLogs("printer", &corev1.PodLogOptions{Previous: true}).DoRaw(context.Background()); err == nil {
			t.Errorf("previous log of a container that never restarted = %q, want an error", b)
		}
	})

	t.Run("the endpoint refuses clients other than the API server", func(t *testing.T) {
		port := e.agentKubeletPort(node)
		url := "https://127.0.0.1:" + strconv.Itoa(port) + "/containerLogs/" + e.ns + "/printer/c"
		admin, err := rest.TLSConfigFor(e.cluster.Config)
		if err != nil {
			t.Fatal(err)
		}
		get := func(cfg *tls.Config, url string) (int, error) {
			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 30 * time.Second}
			resp, err := hc.Get(url)
			if err != nil {
				return 0, err
			}
			defer func() { _ = resp.Body.Close() }()
			return resp.StatusCode, nil
		}
		if code, err := get(admin, url); err != nil || code != http.StatusForbidden {
			t.Errorf("cluster admin's certificate: %d, %v; want 403", code, err)
		}
		anon := admin.Clone()
		anon.Certificates, anon.GetClientCertificate = nil, nil
		if code, err := get(anon, url); err != nil || code != http.StatusUnauthorized {
			t.Errorf("no client certificate: %d, %v; want 401", code, err)
		}
		if code, err := get(anon, strings.Replace(url, "/containerLogs/"+e.ns+"/printer/c", "/healthz", 1)); err != nil || code != http.StatusOK {
			t.Errorf("healthz: %d, %v", code, err)
		}
		// GetClientCertificate sends it even though the server asks for
		// certificates of its own CA only.
		own := selfSignedClient(t)
		foreign := &tls.Config{InsecureSkipVerify: true, GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &own[0], nil }} //nolint:gosec // the point: a client of another CA
		if code, err := get(foreign, url); err == nil {
			t.Errorf("a client certificate of another CA was served: %d", code)
		}
	})
}

// agentKubeletPort returns the node's kubelet port as published in its
// status, after checking the agent agrees.
func (e *env) agentKubeletPort(node string) int {
	e.t.Helper()
	n, err := e.client.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	port := int(n.Status.DaemonEndpoints.KubeletEndpoint.Port)
	e.mu.Lock()
	a := e.agent
	e.mu.Unlock()
	if port == 0 || port != a.KubeletPort(node) {
		e.t.Fatalf("node %s publishes kubelet port %d, agent serves %d", node, port, a.KubeletPort(node))
	}
	return port
}

// selfSignedClient is a client certificate no cluster CA signed.
func selfSignedClient(t *testing.T) []tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: localkube.KubeletClientUser},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	waitFileHolds(t, path, "")
}

func waitFileHolds(t *testing.T, path, content string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && (content == "" || strings.TrimSpace(string(b)) == content) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never held %q: %v", path, content, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
