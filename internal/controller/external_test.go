package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/topology"
)

func TestWantedEndpoint(t *testing.T) {
	rcWith := func(ea *redisv1alpha1.ExternalAccessSpec, announce redisv1alpha1.AnnounceType) *redisv1alpha1.RedisCluster {
		rc := &redisv1alpha1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Name: "rc", Namespace: "ns"}, Spec: redisv1alpha1.RedisClusterSpec{ExternalAccess: ea, Announce: announce}}
		redisv1alpha1.SetDefaults(rc)
		return rc
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "rc-1-0"}, Status: corev1.PodStatus{PodIP: "10.244.0.9", HostIP: "10.243.0.12"}}
	service := func(rc *redisv1alpha1.RedisCluster, lbIP string) map[string]*corev1.Service {
		svc, err := resources.ExternalService(rc, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		svc.Spec.Ports[0].NodePort, svc.Spec.Ports[1].NodePort = 31001, 31002
		if lbIP != "" {
			svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: lbIP}}
		}
		return map[string]*corev1.Service{svc.Name: svc}
	}
	podIP := &topology.Endpoint{IP: "10.244.0.9", Port: 6379, BusPort: 16379}
	nodePort := &redisv1alpha1.ExternalAccessSpec{Type: redisv1alpha1.ExternalAccessNodePort}
	lb := &redisv1alpha1.ExternalAccessSpec{Type: redisv1alpha1.ExternalAccessLoadBalancer, LoadBalancer: &redisv1alpha1.LoadBalancerSpec{LoadBalancerClass: ptr.To("x")}}
	cases := []struct {
		name     string
		rc       *redisv1alpha1.RedisCluster
		services func(*redisv1alpha1.RedisCluster) map[string]*corev1.Service
		want     *topology.Endpoint
		reason   redisv1alpha1.ConditionReason
	}{
		{"without external access, the pod IP", rcWith(nil, redisv1alpha1.AnnounceIP), nil,
			&topology.Endpoint{IP: "10.244.0.9", Port: 6379, BusPort: 16379}, ""},
		{"with hostnames, the pod IP and its DNS name", rcWith(nil, redisv1alpha1.AnnounceHostname), nil,
			&topology.Endpoint{IP: "10.244.0.9", Port: 6379, BusPort: 16379, Hostname: "rc-1-0.rc-nodes.ns.svc.example.org"}, ""},
		{"NodePort: the node's IP and the node ports", rcWith(nodePort, ""), func(rc *redisv1alpha1.RedisCluster) map[string]*corev1.Service { return service(rc, "") },
			&topology.Endpoint{IP: "10.243.0.12", Port: 31001, BusPort: 31002}, ""},
		{"NodePort at a fixed IP", rcWith(&redisv1alpha1.ExternalAccessSpec{Type: redisv1alpha1.ExternalAccessNodePort, Address: "192.0.2.80"}, ""), func(rc *redisv1alpha1.RedisCluster) map[string]*corev1.Service { return service(rc, "") },
			&topology.Endpoint{IP: "192.0.2.80", Port: 31001, BusPort: 31002}, ""},
		{"NodePort at a DNS name: the name for clients, the node's IP for the bus", rcWith(&redisv1alpha1.ExternalAccessSpec{Type: redisv1alpha1.ExternalAccessNodePort, Address: "redis.example.com"}, ""), func(rc *redisv1alpha1.RedisCluster) map[string]*corev1.Service { return service(rc, "") },
			&topology.Endpoint{IP: "10.243.0.12", Port: 31001, BusPort: 31002, Hostname: "redis.example.com"}, ""},
		{"NodePort before its Service exists: the pod IP meanwhile", rcWith(nodePort, ""), nil, podIP, redisv1alpha1.ReasonAnnouncePending},
		{"LoadBalancer: its address and the Service ports", rcWith(lb, ""), func(rc *redisv1alpha1.RedisCluster) map[string]*corev1.Service { return service(rc, "203.0.113.4") },
			&topology.Endpoint{IP: "203.0.113.4", Port: 6379, BusPort: 16379}, ""},
		{"LoadBalancer without an address yet: the pod IP meanwhile", rcWith(lb, ""), func(rc *redisv1alpha1.RedisCluster) map[string]*corev1.Service { return service(rc, "") }, podIP, redisv1alpha1.ReasonLoadBalancerPending},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var svcs map[string]*corev1.Service
			if c.services != nil {
				svcs = c.services(c.rc)
			}
			got := wantedEndpoint(c.rc, pod, 1, 0, svcs, "example.org")
			if got.endpoint == nil || *got.endpoint != *c.want {
				t.Fatalf("endpoint %+v (%s: %s), want %+v", got.endpoint, got.reason, got.detail, *c.want)
			}
			if got.fallback != (c.reason != "") || got.reason != c.reason || (c.reason != "" && got.detail == "") {
				t.Errorf("fallback %t, reason %s %q; want reason %q and a message", got.fallback, got.reason, got.detail, c.reason)
			}
		})
	}
	unscheduled := pod.DeepCopy()
	unscheduled.Status.HostIP = ""
	rc := rcWith(nodePort, "")
	if got := wantedEndpoint(rc, unscheduled, 1, 0, service(rc, ""), "cluster.local"); !got.fallback || got.reason != redisv1alpha1.ReasonNodeAddressUnknown {
		t.Errorf("a pod without a node address: %+v, want NodeAddressUnknown", got)
	}
}

func TestVerifyEndpointsFallsBackToThePodAddressWhenTheEndpointDoesNotAnswer(t *testing.T) {
	rc := &redisv1alpha1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Name: "rc", Namespace: "ns"},
		Spec: redisv1alpha1.RedisClusterSpec{ExternalAccess: &redisv1alpha1.ExternalAccessSpec{Type: redisv1alpha1.ExternalAccessNodePort}}}
	pods := []corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Name: "rc-0-0"}, Status: corev1.PodStatus{PodIP: "10.244.0.5"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "rc-0-1"}, Status: corev1.PodStatus{PodIP: "10.244.0.6"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "rc-1-0"}, Status: corev1.PodStatus{PodIP: "10.244.0.7"}},
	}
	external := []topology.Endpoint{
		{IP: "10.243.0.11", Port: 31001, BusPort: 31002}, // answers, not announced yet
		{IP: "10.243.0.12", Port: 31003, BusPort: 31004}, // bus port does not answer
		{IP: "10.243.0.13", Port: 31005, BusPort: 31006}, // announced already: not probed
	}
	st := &state{rc: rc, wishes: map[string]endpointWish{}}
	st.kube.pods = pods
	for i, p := range pods {
		announced := topology.Endpoint{IP: p.Status.PodIP, Port: 6379, BusPort: 16379}
		if i == 2 {
			announced = external[i]
		}
		self := &topology.Node{ID: topology.NodeID(fmt.Sprintf("%040d", i)), Addr: announced.Addr(), BusPort: announced.BusPort, Flags: topology.FlagMyself | topology.FlagMaster}
		e := external[i]
		st.wishes[p.Name] = endpointWish{endpoint: &e}
		st.obs.Members = append(st.obs.Members, heal.Member{Name: p.Name, Announce: &e, State: &topology.NodeState{View: &topology.View{Nodes: []*topology.Node{self}}}})
	}
	var dialed []string
	var mu sync.Mutex
	verifyEndpoints(t.Context(), st, func(_ context.Context, addr string) error {
		mu.Lock()
		dialed = append(dialed, addr)
		mu.Unlock()
		if addr == "10.243.0.12:31004" {
			return errors.New("connection refused")
		}
		return nil
	})
	slices.Sort(dialed)
	if want := []string{"10.243.0.11:31001", "10.243.0.11:31002", "10.243.0.12:31003", "10.243.0.12:31004"}; !slices.Equal(dialed, want) {
		t.Errorf("dialed %v, want %v", dialed, want)
	}
	if w := st.wishes["rc-0-0"]; w.fallback || *st.obs.Members[0].Announce != external[0] {
		t.Errorf("rc-0-0: %+v, want its external endpoint", w)
	}
	w := st.wishes["rc-0-1"]
	if !w.fallback || w.reason != redisv1alpha1.ReasonEndpointUnreachable || !strings.Contains(w.detail, "10.243.0.12:31003") || st.obs.Members[1].Announce.IP != "10.244.0.6" {
		t.Errorf("rc-0-1: %+v announce %+v, want its pod address and EndpointUnreachable naming the endpoint", w, st.obs.Members[1].Announce)
	}
}

func TestImmutableChangedOnlyForALoadBalancerClass(t *testing.T) {
	svc := func(typ corev1.ServiceType, class *string) *corev1.Service {
		return &corev1.Service{Spec: corev1.ServiceSpec{Type: typ, LoadBalancerClass: class}}
	}
	lb := corev1.ServiceTypeLoadBalancer
	for _, c := range []struct {
		name       string
		live, want *corev1.Service
		recreate   bool
	}{
		{"the class changes", svc(lb, ptr.To("a")), svc(lb, ptr.To("b")), true},
		{"a class is set", svc(lb, nil), svc(lb, ptr.To("b")), true},
		{"the class is removed", svc(lb, ptr.To("a")), svc(lb, nil), true},
		{"the same class", svc(lb, ptr.To("a")), svc(lb, ptr.To("a")), false},
		{"NodePort to LoadBalancer", svc(corev1.ServiceTypeNodePort, nil), svc(lb, ptr.To("a")), false},
		{"LoadBalancer to NodePort", svc(lb, ptr.To("a")), svc(corev1.ServiceTypeNodePort, nil), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := immutableChanged(c.live, c.want); got != c.recreate {
				t.Errorf("immutableChanged = %t, want %t", got, c.recreate)
			}
		})
	}
	if immutableChanged(&corev1.ConfigMap{}, &corev1.ConfigMap{}) {
		t.Error("a ConfigMap is never recreated")
	}
}
