package loadbalancer_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/redkube/redkube/internal/localkube"
	"github.com/redkube/redkube/internal/localkube/loadbalancer"
	"github.com/redkube/redkube/internal/localkube/localkubetest"
)

// pool has two usable addresses: .1 and .2.
var pool = netip.MustParsePrefix("10.243.1.0/30")

// env is a control plane without the built-in controller, and one this
// test starts and stops.
type env struct {
	t      *testing.T
	client kubernetes.Interface
	stop   func()
}

func start(t *testing.T) *env {
	t.Helper()
	c := localkubetest.Start(t, localkube.Options{Nodes: 1, DisableProvisioner: true, DisableLoadBalancer: true})
	e := &env{t: t, client: c.Client}
	e.run()
	t.Cleanup(func() { e.stop() })
	return e
}

// run starts a new controller (a restart after stop).
func (e *env) run() {
	e.t.Helper()
	lb, err := loadbalancer.New(loadbalancer.Config{Client: e.client, Pool: pool, Logger: localkubetest.Logger(e.t)})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lb.Run(ctx) }()
	e.stop = func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("controller: %v", err)
		}
	}
}

func (e *env) createLB(name string, mutate ...func(*corev1.Service)) time.Time {
	e.t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Type:  corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{{Port: 6379}},
		},
	}
	for _, m := range mutate {
		m(svc)
	}
	began := time.Now()
	if _, err := e.client.CoreV1().Services("default").Create(e.t.Context(), svc, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	return began
}

// ingress waits until the Service's status names an address and returns it.
func (e *env) ingress(name string) netip.Addr {
	e.t.Helper()
	var got netip.Addr
	e.poll(name+" gets an address", func(svc *corev1.Service) bool {
		in := svc.Status.LoadBalancer.Ingress
		if len(in) != 1 {
			return false
		}
		if in[0].IPMode == nil || *in[0].IPMode != corev1.LoadBalancerIPModeVIP {
			e.t.Errorf("%s: ingress %+v without ipMode VIP", name, in[0])
		}
		got = netip.MustParseAddr(in[0].IP)
		return true
	}, name)
	return got
}

func (e *env) poll(what string, cond func(*corev1.Service) bool, name string) {
	e.t.Helper()
	err := wait.PollUntilContextTimeout(e.t.Context(), 20*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		svc, err := e.client.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return cond(svc), nil
	})
	if err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
}

// event waits for an event of reason on the Service name.
func (e *env) event(name, reason string) {
	e.t.Helper()
	sel := fields.Set{"involvedObject.name": name, "reason": reason}.String()
	err := wait.PollUntilContextTimeout(e.t.Context(), 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		evs, err := e.client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			return false, err
		}
		return len(evs.Items) > 0, nil
	})
	if err != nil {
		e.t.Fatalf("no %s event on %s: %v", reason, name, err)
	}
}

func (e *env) delete(name string) {
	e.t.Helper()
	if err := e.client.CoreV1().Services("default").Delete(e.t.Context(), name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		e.t.Fatal(err)
	}
}

func TestLoadBalancerAddressesComeFromThePoolAndOutliveTheController(t *testing.T) {
	e := start(t)
	began := e.createLB("first")
	first := e.ingress("first")
	t.Logf("measured: Service created -> load-balancer address in status: %v", time.Since(began))
	if first != netip.MustParseAddr("10.243.1.1") {
		t.Errorf("first Service got %s, want the pool's first usable address 10.243.1.1", first)
	}
	e.event("first", loadbalancer.ReasonIPAllocated)

	e.stop()
	e.createLB("second")
	e.run()
	if got := e.ingress("second"); got != netip.MustParseAddr("10.243.1.2") {
		t.Errorf("after a restart the second Service got %s, want 10.243.1.2 (10.243.1.1 stays the first's)", got)
	}
	if got := e.ingress("first"); got != first {
		t.Errorf("the first Service moved from %s to %s across a restart", first, got)
	}

	e.createLB("third")
	e.event("third", loadbalancer.ReasonAllocationFailed)
	if svc, err := e.client.CoreV1().Services("default").Get(t.Context(), "third", metav1.GetOptions{}); err != nil || len(svc.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("a Service of an exhausted pool has ingress %v (err %v), want none", svc.Status.LoadBalancer.Ingress, err)
	}
	e.delete("first")
	if got := e.ingress("third"); got != first {
		t.Errorf("the waiting Service got %s, want the released %s", got, first)
	}
}

func TestLoadBalancerHonoursRequestsAndLeavesOtherClassesAlone(t *testing.T) {
	e := start(t)
	e.createLB("requested", func(s *corev1.Service) { s.Spec.LoadBalancerIP = "10.243.1.2" })
	if got := e.ingress("requested"); got != netip.MustParseAddr("10.243.1.2") {
		t.Errorf("spec.loadBalancerIP 10.243.1.2 gave %s", got)
	}
	e.createLB("outside-pool", func(s *corev1.Service) { s.Spec.LoadBalancerIP = "10.243.9.9" })
	e.event("outside-pool", loadbalancer.ReasonAllocationFailed)

	e.createLB("other-class", func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptr.To("example.com/other") })
	e.createLB("plain")
	if got := e.ingress("plain"); got != netip.MustParseAddr("10.243.1.1") {
		t.Errorf("plain Service got %s, want 10.243.1.1", got)
	}
	svc, err := e.client.CoreV1().Services("default").Get(t.Context(), "other-class", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("a Service of another loadBalancerClass got %v", svc.Status.LoadBalancer.Ingress)
	}

	// Type LoadBalancer -> ClusterIP releases the address.
	svc, err = e.client.CoreV1().Services("default").Get(t.Context(), "plain", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.Type = corev1.ServiceTypeClusterIP
	svc.Spec.Ports[0].NodePort = 0
	if _, err := e.client.CoreV1().Services("default").Update(t.Context(), svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.event("plain", loadbalancer.ReasonIPReleased)
	e.createLB("next")
	if got := e.ingress("next"); got != netip.MustParseAddr("10.243.1.1") {
		t.Errorf("after the type change the next Service got %s, want the released 10.243.1.1", got)
	}
}
