package localkube_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/redkube/redkube/internal/localkube"
	"github.com/redkube/redkube/internal/localkube/localkubetest"
	"github.com/redkube/redkube/internal/nodeagent"
	"github.com/redkube/redkube/internal/podnet"
)

// TestRestartKeepsStateAndRunsPodsAgain stops a cluster keeping its state
// and starts it again on it: the objects, the CA and the nodes are the
// same, and a pod whose processes were killed runs again on its volume, at
// a new address.
func TestRestartKeepsStateAndRunsPodsAgain(t *testing.T) {
	binDir := localkubetest.SkipIfNoBinaries(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root for the pod network and mount namespaces")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	network := podnet.Config{
		Bridge:   fmt.Sprintf("rkl%d", os.Getpid()%100000),
		CIDR:     netip.MustParsePrefix(fmt.Sprintf("10.243.%d.0/24", os.Getpid()%200+20)),
		NetnsDir: podnet.DefaultNetnsDir,
	}
	c, err := localkube.Start(ctx, localkube.Options{
		BinDir:    binDir,
		NodeAgent: localkube.PodAgent(nodeagent.Config{Network: network, DeleteBridgeOnExit: true}),
		Logger:    testLogger(t),
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer func() {
		if t.Failed() {
			localkubetest.DumpLogs(t, c, 30)
		}
		_ = c.Stop(context.Background())
	}()
	stateDir, apiURL := c.StateDir, c.APIServerURL
	ca, err := os.ReadFile(filepath.Join(stateDir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}

	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: metav1.NamespaceDefault},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("16Mi")}},
		},
	}
	if _, err := c.Client.CoreV1().PersistentVolumeClaims(claim.Namespace).Create(ctx, claim, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Every start of the container appends a line to the volume's file.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "keeper", Namespace: metav1.NamespaceDefault},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "c", Image: "busybox",
				Command:      []string{"sh", "-c", "echo started >> /data/starts && exec sleep 3600"},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"},
			}}},
		},
	}
	if _, err := c.Client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := waitRunning(ctx, t, c, "", "")
	volume := volumeDir(ctx, t, c)
	waitFileLines(ctx, t, c, filepath.Join(volume, "starts"), 1)
	if err := os.WriteFile(filepath.Join(volume, "kept"), []byte("written before the restart"), 0o644); err != nil {
		t.Fatal(err)
	}
	oldPIDs := c.Processes()

	c, err = c.Restart(ctx)
	if err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if c.StateDir != stateDir || c.APIServerURL != apiURL {
		t.Errorf("restarted on %s at %s, want %s at %s", c.StateDir, c.APIServerURL, stateDir, apiURL)
	}
	for comp, pid := range c.Processes() {
		if pid == oldPIDs[comp] {
			t.Errorf("%s has the pid it had before the restart (%d)", comp, pid)
		}
	}
	if got, err := os.ReadFile(filepath.Join(stateDir, "pki", "ca.crt")); err != nil || string(got) != string(ca) {
		t.Errorf("the CA changed across the restart (read: %v)", err)
	}
	nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != localkube.DefaultNodes {
		t.Errorf("%d nodes after the restart, want %d", len(nodes.Items), localkube.DefaultNodes)
	}
	after := waitRunning(ctx, t, c, string(before.UID), before.Status.PodIP)
	if after.Spec.NodeName != before.Spec.NodeName {
		t.Errorf("pod on %s after the restart, was on %s", after.Spec.NodeName, before.Spec.NodeName)
	}
	if got := volumeDir(ctx, t, c); got != volume {
		t.Errorf("volume at %s after the restart, was at %s", got, volume)
	}
	waitFileLines(ctx, t, c, filepath.Join(volume, "starts"), 2)
	if got, err := os.ReadFile(filepath.Join(volume, "kept")); err != nil || string(got) != "written before the restart" {
		t.Errorf("volume file after the restart = %q, %v", got, err)
	}
	t.Logf("pod %s: %s before, %s after the restart (took %v)", after.Name, before.Status.PodIP, after.Status.PodIP, c.StartDuration)

	// The temporary state folder was Start's: the last Stop removes it.
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := os.Stat(stateDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state folder %s still exists after Stop (stat: %v)", stateDir, err)
	}
}

// waitRunning waits until the pod "keeper" (with uid, when given) runs and
// is Ready at an address other than notIP.
func waitRunning(ctx context.Context, t *testing.T, c *localkube.Cluster, uid, notIP string) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := c.Client.CoreV1().Pods(metav1.NamespaceDefault).Get(ctx, "keeper", metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // retried until the timeout
		}
		last = p
		if uid != "" && string(p.UID) != uid {
			t.Fatalf("pod keeper was recreated (uid %s, was %s)", p.UID, uid)
		}
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" || p.Status.PodIP == notIP {
			return false, nil
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady {
				return cond.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("pod keeper not running and Ready at a new address: %v; last status %+v", err, last.Status)
	}
	return last
}

// volumeDir returns the directory of the volume bound to the claim "data".
func volumeDir(ctx context.Context, t *testing.T, c *localkube.Cluster) string {
	t.Helper()
	pvc, err := c.Client.CoreV1().PersistentVolumeClaims(metav1.NamespaceDefault).Get(ctx, "data", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pv, err := c.Client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case pv.Spec.HostPath != nil:
		return pv.Spec.HostPath.Path
	case pv.Spec.Local != nil:
		return pv.Spec.Local.Path
	}
	t.Fatalf("volume %s has no directory", pv.Name)
	return ""
}

// waitFileLines waits until the file has n lines; on failure it logs the
// container's output.
func waitFileLines(ctx context.Context, t *testing.T, c *localkube.Cluster, path string, n int) {
	t.Helper()
	var got string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		b, _ := os.ReadFile(path)
		got = string(b)
		return strings.Count(got, "\n") == n, nil
	})
	if err != nil {
		out, lerr := c.Client.CoreV1().Pods(metav1.NamespaceDefault).GetLogs("keeper", &corev1.PodLogOptions{}).DoRaw(ctx)
		t.Fatalf("%s holds %q, want %d lines; container output %q (%v)", path, got, n, out, lerr)
	}
}
