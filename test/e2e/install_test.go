package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/redkube/redkube/pkg/heal"
)

// killLeaderDuringReshard waits until the scale-out of name is moving slots,
// then kills the manager pod holding the leader lease (deleted with no
// grace: its process is SIGKILLed, the lease is not released) and waits
// until the other manager pod holds the lease. It returns how long the
// takeover took.
func killLeaderDuringReshard(t *testing.T, e *opEnv, name string) time.Duration {
	t.Helper()
	waitT(t, 2*time.Minute, 50*time.Millisecond, "the scale-out moves slots", func(ctx context.Context) error {
		rc, err := e.get(ctx, name)
		if err != nil {
			return err
		}
		if r := rc.Status.Resharding; r == nil || r.SlotsMoved == 0 {
			return fmt.Errorf("resharding %+v", rc.Status.Resharding)
		}
		return nil
	})
	leader, err := e.op.Leader(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := e.h.Clientset.CoreV1().Pods(e.op.Namespace()).Delete(t.Context(), leader, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatalf("kill the leader %s: %v", leader, err)
	}
	var next string
	waitT(t, time.Minute, 50*time.Millisecond, "another manager pod takes the lease", func(ctx context.Context) error {
		name, err := e.op.Leader(ctx)
		if err != nil {
			return err
		}
		if name == leader {
			return fmt.Errorf("%s, killed, still holds the lease", leader)
		}
		next = name
		return nil
	})
	took := time.Since(killed)
	t.Logf("measured: leader %s killed mid-reshard -> %s holds the lease after %v", leader, next, took)
	return took
}

// testOperatorUpgrade upgrades the operator with helm (a new image tag and
// a pod annotation: the manager pods are replaced one after the other)
// while a writer runs on the cluster name, and checks that no Redis pod
// restarted, no topology action was taken and the writer saw no error.
func testOperatorUpgrade(t *testing.T, e *opEnv, name string) {
	// Start from a cluster the operator has nothing left to do for: the
	// failovers above may leave a master-spread handover pending.
	_, before := e.waitMastersSpread(t, name)
	oldLeader, err := e.op.Leader(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	mark := time.Now()
	logMark := e.logMark()
	w := startWriter(e.addrs(t, name), "upgrade")
	time.Sleep(time.Second)
	if err := e.op.Upgrade(t.Context(), "image.tag=0.1.0-e2e-upgrade", "podAnnotations.redkube\\.io/e2e-upgrade=1"); err != nil {
		w.finish()
		t.Fatal(err)
	}
	upgraded := time.Since(mark)
	newLeader, err := e.op.WaitLeader(t.Context(), time.Minute)
	if err != nil {
		w.finish()
		t.Fatal(err)
	}
	// The new leader's first passes over the cluster (one at start, the
	// idle one 30 s later) must find nothing to do.
	time.Sleep(35 * time.Second)
	res := w.finish()
	t.Logf("measured: helm upgrade (new tag) under a writer: upgrade %v, leader %s -> %s; %d writes acknowledged, %d write errors (first: %v), worst gap %v",
		upgraded, oldLeader, newLeader, len(res.acked), res.errs, res.firstErr, res.worstGap)
	if res.errs > 0 {
		t.Errorf("%d write errors during the operator upgrade (first: %v)", res.errs, res.firstErr)
	}
	if newLeader == oldLeader {
		t.Errorf("the leader %s was not replaced by the upgrade", oldLeader)
	}
	dep, err := e.op.Deployment(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if img := dep.Spec.Template.Spec.Containers[0].Image; !strings.HasSuffix(img, ":0.1.0-e2e-upgrade") {
		t.Errorf("the Deployment runs %s after the upgrade", img)
	}
	after, err := e.pods(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	for n, p := range before {
		q, ok := after[n]
		switch {
		case !ok:
			t.Errorf("Redis pod %s is gone after the operator upgrade", n)
		case q.UID != p.UID:
			t.Errorf("Redis pod %s was recreated by the operator upgrade", n)
		case restarts(q) != restarts(p):
			t.Errorf("Redis pod %s restarted during the operator upgrade (%d -> %d)", n, restarts(p), restarts(q))
		}
	}
	if evs := topologyEventsSince(t, e, name, mark); len(evs) > 0 {
		t.Errorf("topology actions during the operator upgrade: %q", evs)
	}
	if text, err := e.op.LogSince(logMark); err != nil {
		t.Error(err)
	} else if strings.Contains(text, "topology action") {
		t.Errorf("a manager logged a topology action during the upgrade:\n%s", text)
	}
}

// restarts sums the restart counts of a pod's containers.
func restarts(p corev1.Pod) int32 {
	var n int32
	for _, s := range p.Status.ContainerStatuses {
		n += s.RestartCount
	}
	return n
}

// topologyEventsSince returns "reason: message" of the RedisCluster's
// events of a topology action last seen at or after since.
func topologyEventsSince(t *testing.T, e *opEnv, name string, since time.Time) []string {
	t.Helper()
	var reasons []string
	for _, k := range heal.Kinds() {
		reasons = append(reasons, k.EventReason())
	}
	evs := &corev1.EventList{}
	if err := e.cl.List(t.Context(), evs, client.InNamespace(opNS)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs.Items {
		if ev.InvolvedObject.Kind != "RedisCluster" || ev.InvolvedObject.Name != name || !slices.Contains(reasons, ev.Reason) {
			continue
		}
		if eventSeenSince(ev, since) {
			out = append(out, ev.Reason+": "+ev.Message)
		}
	}
	return out
}

// eventSeenSince reports whether an event (core or events.k8s.io written)
// was last observed at or after since. The events.k8s.io times have
// microseconds and are compared exactly; a core event's LastTimestamp has
// whole seconds, so since is truncated for it. (Truncating for both made an
// action taken just before since, in the same second, count as after it.)
func eventSeenSince(ev corev1.Event, since time.Time) bool {
	precise := ev.EventTime.Time
	if ev.Series != nil && ev.Series.LastObservedTime.After(precise) {
		precise = ev.Series.LastObservedTime.Time
	}
	if !precise.IsZero() {
		return !precise.Before(since)
	}
	return !ev.LastTimestamp.Time.Before(since.Truncate(time.Second))
}
