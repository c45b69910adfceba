package localkube_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/redkube/redkube/internal/localkube"
	"github.com/redkube/redkube/internal/localkube/localkubetest"
)

// A node stopped through the control socket stops heartbeating, the node
// lifecycle controller (with a short grace period) marks it NotReady and
// taints it; started again it becomes Ready.
func TestControlSocketStopsAndStartsANode(t *testing.T) {
	c := localkubetest.Start(t, localkube.Options{
		Nodes:                  2,
		NodeMonitorGracePeriod: 10 * time.Second,
		NodeMonitorPeriod:      time.Second,
		NodeAgent:              localkube.HeartbeatAgent,
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	serveCtx, stopServing := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- c.ServeControl(serveCtx) }()
	defer func() {
		stopServing()
		if err := <-served; err != nil {
			t.Errorf("ServeControl: %v", err)
		}
	}()

	cc := localkube.NewControlClient(c.StateDir)
	var st *localkube.Status
	if err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		var err error
		st, err = cc.Status(ctx)
		return err == nil, nil
	}); err != nil {
		t.Fatalf("control socket never answered: %v", err)
	}
	if st.APIServer != c.APIServerURL || len(st.Components) != 4 || len(st.Nodes) != 2 {
		t.Fatalf("status %+v does not describe the cluster", st)
	}
	for _, comp := range st.Components {
		if !comp.Running || comp.RSSBytes == 0 {
			t.Errorf("component %s: running %v, RSS %d", comp.Name, comp.Running, comp.RSSBytes)
		}
	}

	if err := cc.StopNode(ctx, "node-9"); !errors.Is(err, localkube.ErrUnknownNode) {
		t.Errorf("stopping an unknown node: %v, want ErrUnknownNode", err)
	}
	if err := cc.StopNode(ctx, "node-2"); err != nil {
		t.Fatalf("StopNode: %v", err)
	}
	if st, err := cc.Status(ctx); err != nil || !st.Nodes[1].Stopped || st.Nodes[0].Stopped {
		t.Errorf("status after stopping node-2: %+v, %v", st, err)
	}
	waitNode(t, ctx, c, "node-2", func(n *corev1.Node) bool {
		return readyStatus(n) != corev1.ConditionTrue && hasTaint(n, corev1.TaintNodeUnreachable)
	})
	if n, err := c.Client.CoreV1().Nodes().Get(ctx, "node-1", metav1.GetOptions{}); err != nil || readyStatus(n) != corev1.ConditionTrue {
		t.Errorf("node-1 is not Ready while node-2 is stopped (%v)", err)
	}
	if err := cc.StartNode(ctx, "node-2"); err != nil {
		t.Fatalf("StartNode: %v", err)
	}
	waitNode(t, ctx, c, "node-2", func(n *corev1.Node) bool {
		return readyStatus(n) == corev1.ConditionTrue && !hasTaint(n, corev1.TaintNodeUnreachable)
	})
}

// Down stops the processes of a cluster from its PID records, as
// `localkube down` does for a cluster whose launcher died, and removes the
// state.
func TestDownStopsRecordedProcessesAndRemovesState(t *testing.T) {
	binDir := localkubetest.SkipIfNoBinaries(t)
	stateDir := filepath.Join(t.TempDir(), "state")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	c, err := localkube.Start(ctx, localkube.Options{BinDir: binDir, StateDir: stateDir, Nodes: 1, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer func() { _ = c.Stop(context.Background()) }()
	pids := c.Processes()

	res, err := localkube.Down(ctx, stateDir, 5*time.Second)
	if err != nil {
		t.Fatalf("Down: %v", err)
	}
	if len(res.Stopped) != len(pids) || !res.Removed {
		t.Errorf("Down stopped %v (removed %v), want the %d components and the state removed", res.Stopped, res.Removed, len(pids))
	}
	if err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(context.Context) (bool, error) {
		for _, pid := range pids {
			if _, err := os.Stat("/proc/" + itoa(pid)); err == nil {
				return false, nil // not reaped yet by the launcher's Wait
			}
		}
		return true, nil
	}); err != nil {
		t.Errorf("processes %v still exist after Down: %v", pids, err)
	}
	if _, err := os.Stat(stateDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state folder still exists after Down (stat: %v)", err)
	}
	// A second Down finds nothing.
	res, err = localkube.Down(ctx, stateDir, time.Second)
	if err != nil || len(res.Stopped) != 0 || res.Removed {
		t.Errorf("second Down: %+v, %v; want nothing to do", res, err)
	}
}

func waitNode(t *testing.T, ctx context.Context, c *localkube.Cluster, name string, cond func(*corev1.Node) bool) {
	t.Helper()
	var last *corev1.Node
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = n
		return cond(n), nil
	})
	if err != nil {
		t.Fatalf("node %s never reached the expected state: %v; last: conditions %+v taints %+v", name, err, last.Status.Conditions, last.Spec.Taints)
	}
}

func readyStatus(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

func hasTaint(n *corev1.Node, key string) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}
