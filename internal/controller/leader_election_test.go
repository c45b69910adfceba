package controller

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
)

// restConfig reaches the test API server; runMain (suite_test.go) sets it
// beside apiClient. Managers need it: they build their own clients.
var restConfig *rest.Config

// runningManager is a manager started by startManager.
type runningManager struct {
	name   string
	mgr    ctrl.Manager
	cancel context.CancelFunc
	// done receives Start's result once it returns.
	done chan error
}

// startManager builds a leader-electing manager with its lease in ns and
// starts it; the test's cleanup stops it.
func startManager(t *testing.T, name, ns string) *runningManager {
	t.Helper()
	mgr, err := NewManager(restConfig, ManagerOptions{
		MetricsBindAddress:           "0",
		HealthProbeBindAddress:       "0",
		LeaderElection:               true,
		LeaderElectionNamespace:      ns,
		SkipControllerNameValidation: true,
	})
	if err != nil {
		t.Fatalf("manager %s: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &runningManager{name: name, mgr: mgr, cancel: cancel, done: make(chan error, 1)}
	go func() { m.done <- mgr.Start(ctx) }()
	t.Cleanup(func() { _ = m.stop(time.Minute) })
	return m
}

// stop cancels the manager and waits up to limit for Start to return.
func (m *runningManager) stop(limit time.Duration) error {
	m.cancel()
	select {
	case err, ok := <-m.done:
		if ok {
			close(m.done)
		}
		return err
	case <-time.After(limit):
		return fmt.Errorf("manager %s did not stop within %v", m.name, limit)
	}
}

// elected reports whether the manager has become the leader.
func (m *runningManager) elected() bool {
	select {
	case <-m.mgr.Elected():
		return true
	default:
		return false
	}
}

// waitElected waits up to limit for the first of ms to become the leader.
func waitElected(t *testing.T, limit time.Duration, ms ...*runningManager) *runningManager {
	t.Helper()
	deadline := time.After(limit)
	for {
		for _, m := range ms {
			if m.elected() {
				return m
			}
		}
		for _, m := range ms {
			select {
			case err := <-m.done:
				t.Fatalf("manager %s stopped before any manager was elected: %v", m.name, err)
			default:
			}
		}
		select {
		case <-deadline:
			t.Fatalf("no manager of %d became the leader within %v", len(ms), limit)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// getLease returns the leader-election lease in ns.
func getLease(t *testing.T, ns string) *coordinationv1.Lease {
	t.Helper()
	l := &coordinationv1.Lease{}
	if err := apiClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: LeaderElectionID}, l); err != nil {
		t.Fatalf("get lease %s/%s: %v", ns, LeaderElectionID, err)
	}
	return l
}

func holder(l *coordinationv1.Lease) string {
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// waitLease waits up to limit until the lease in ns satisfies ok.
func waitLease(t *testing.T, ns string, limit time.Duration, what string, ok func(*coordinationv1.Lease) bool) *coordinationv1.Lease {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		l := &coordinationv1.Lease{}
		err := apiClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: LeaderElectionID}, l)
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("get lease %s/%s: %v", ns, LeaderElectionID, err)
		}
		if err == nil && ok(l) {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease %s/%s: %s: not within %v (last: holder %q, err %v)", ns, LeaderElectionID, what, limit, holder(l), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLeaderElectionHandsOverWhenTheLeaderStops runs two managers against
// the real API server: exactly one leads and holds the lease; when it
// stops, it releases the lease and the other takes over.
//
// The leader runs the RedisCluster controller over the whole API server;
// this test creates no RedisCluster, and stops both managers before it
// returns (other tests in the package do not run in parallel).
func TestLeaderElectionHandsOverWhenTheLeaderStops(t *testing.T) {
	needAPIServer(t)
	if restConfig == nil {
		t.Fatal("runMain (suite_test.go) did not set restConfig: the managers need the API server's rest.Config")
	}
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "leader-election-"}}
	if err := apiClient.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = apiClient.Delete(context.Background(), ns) })

	// Bounds on waits, not timings: the defaults are a 15 s lease, 10 s
	// renew deadline and 2 s retry period.
	const electWithin, stopWithin = time.Minute, 30 * time.Second

	a := startManager(t, "a", ns.Name)
	b := startManager(t, "b", ns.Name)
	leader := waitElected(t, electWithin, a, b)
	standby := a
	if leader == a {
		standby = b
	}
	if standby.elected() {
		t.Fatalf("both managers are elected")
	}

	// The leader holds the lease and renews it while the standby keeps
	// trying (every retry period); the standby must still not lead after
	// a renewal.
	first := waitLease(t, ns.Name, electWithin, "held", func(l *coordinationv1.Lease) bool { return holder(l) != "" && l.Spec.RenewTime != nil })
	firstHolder := holder(first)
	renewed := first.Spec.RenewTime.Time
	waitLease(t, ns.Name, electWithin, "renewed by "+firstHolder, func(l *coordinationv1.Lease) bool {
		if h := holder(l); h != firstHolder {
			t.Fatalf("lease moved from %q to %q while the leader ran", firstHolder, h)
		}
		return l.Spec.RenewTime != nil && l.Spec.RenewTime.After(renewed)
	})
	if standby.elected() {
		t.Fatalf("manager %s is elected while %s leads and renews the lease", standby.name, leader.name)
	}

	// Stopping the leader releases the lease; the standby takes it.
	if err := leader.stop(stopWithin); err != nil {
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		if err != nil {
			t.Fatalf("stop leader %s: %v", leader.name, err)
		}
	}
	waitElected(t, electWithin, standby)
	second := waitLease(t, ns.Name, electWithin, "held by the new leader", func(l *coordinationv1.Lease) bool {
		return holder(l) != "" && holder(l) != firstHolder
	})
	if n, m := leaseTransitions(first), leaseTransitions(second); m <= n {
		t.Errorf("lease transitions %d after the hand-over, %d before", m, n)
	}

	// The new leader releases the lease too when it stops.
	if err := standby.stop(stopWithin); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("stop %s: %v", standby.name, err)
	}
	if h := holder(getLease(t, ns.Name)); h != "" {
		t.Errorf("lease still held by %q after both managers stopped (LeaderElectionReleaseOnCancel)", h)
	}
}

func leaseTransitions(l *coordinationv1.Lease) int32 {
	if l.Spec.LeaseTransitions == nil {
		return 0
	}
	return *l.Spec.LeaseTransitions
}
