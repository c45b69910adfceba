package localkube_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/redkube/redkube/internal/localkube"
	"github.com/redkube/redkube/internal/localkube/localkubetest"
)

func TestStartRegistersNodesAndStopCleansUp(t *testing.T) {
	binDir := localkubetest.SkipIfNoBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := localkube.Start(ctx, localkube.Options{BinDir: binDir, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	stopped := false
	defer func() {
		if !stopped {
			localkubetest.DumpLogs(t, c, 30)
			_ = c.Stop(context.Background())
		}
	}()
	t.Logf("cluster started in %v", c.StartDuration)

	v, err := c.Client.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("API server does not answer: %v", err)
	}
	t.Logf("API server %s", v.GitVersion)

	nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	if len(nodes.Items) != localkube.DefaultNodes {
		t.Fatalf("%d nodes registered, want %d", len(nodes.Items), localkube.DefaultNodes)
	}
	for i, want := range []struct{ name, zone string }{{"node-1", "zone-a"}, {"node-2", "zone-b"}, {"node-3", "zone-c"}} {
		n := nodes.Items[i]
		if n.Name != want.name || n.Labels[corev1.LabelHostname] != want.name || n.Labels[corev1.LabelTopologyZone] != want.zone {
			t.Errorf("node %d: name %q labels %v, want %s in %s", i, n.Name, n.Labels, want.name, want.zone)
		}
		if got := n.Status.Allocatable.Pods().Value(); got != 110 {
			t.Errorf("node %s: %d allocatable pods, want 110", n.Name, got)
		}
		if !nodeReady(&n) {
			t.Errorf("node %s is not Ready", n.Name)
		}
		for _, taint := range n.Spec.Taints {
			t.Errorf("node %s has taint %v", n.Name, taint)
		}
	}

	// The node identity is what the Node authorizer expects: it may read its
	// own Node but not change another's.
	nodeCfg, err := c.NodeConfig("node-1")
	if err != nil {
		t.Fatal(err)
	}
	nodeClient := kubernetes.NewForConfigOrDie(nodeCfg)
	if _, err := nodeClient.CoreV1().Nodes().Get(ctx, "node-1", metav1.GetOptions{}); err != nil {
		t.Errorf("node-1 cannot read its own Node: %v", err)
	}
	other, err := c.Client.CoreV1().Nodes().Get(ctx, "node-2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other.Labels["example.com/touched"] = "yes"
	if _, err := nodeClient.CoreV1().Nodes().Update(ctx, other, metav1.UpdateOptions{}); err == nil {
		t.Errorf("node-1 could update node-2")
	}

	pids := c.Processes()
	for _, comp := range []string{localkube.ComponentEtcd, localkube.ComponentAPIServer, localkube.ComponentControllerManager, localkube.ComponentScheduler} {
		if pids[comp] == 0 {
			t.Errorf("no process recorded for %s", comp)
		}
	}
	if err := c.Err(); err != nil {
		t.Errorf("cluster reports a failure: %v", err)
	}

	stopped = true
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	for comp, pid := range pids {
		if _, err := os.Stat("/proc/" + itoa(pid)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s (pid %d) still exists after Stop", comp, pid)
		}
	}
	if _, err := os.Stat(c.StateDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state folder %s still exists after Stop (stat: %v)", c.StateDir, err)
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
