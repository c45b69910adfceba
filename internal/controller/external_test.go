package controller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
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
		{"NodePort before its Service exists", rcWith(nodePort, ""), nil, nil, redisv1alpha1.ReasonAnnouncePending},
		{"LoadBalancer: its address and the Service ports", rcWith(lb, ""), func(rc *redisv1alpha1.RedisCluster) map[string]*corev1.Service { return service(rc, "203.0.113.4") },
			&topology.Endpoint{IP: "203.0.113.4", Port: 6379, BusPort: 16379}, ""},
		{"LoadBalancer without an address yet", rcWith(lb, ""), func(rc *redisv1alpha1.RedisCluster) map[string]*corev1.Service { return service(rc, "") }, nil, redisv1alpha1.ReasonLoadBalancerPending},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var svcs map[string]*corev1.Service
			if c.services != nil {
				svcs = c.services(c.rc)
			}
			got := wantedEndpoint(c.rc, pod, 1, 0, svcs, "example.org")
			switch {
			case c.want == nil && got.endpoint != nil:
				t.Fatalf("endpoint %v, want none (%s)", *got.endpoint, c.reason)
			case c.want != nil && (got.endpoint == nil || *got.endpoint != *c.want):
				t.Fatalf("endpoint %+v (%s: %s), want %+v", got.endpoint, got.reason, got.detail, *c.want)
			case c.want == nil && (got.reason != c.reason || got.detail == ""):
				t.Errorf("reason %s %q, want %s and a message", got.reason, got.detail, c.reason)
			}
		})
	}
	unscheduled := pod.DeepCopy()
	unscheduled.Status.HostIP = ""
	rc := rcWith(nodePort, "")
	if got := wantedEndpoint(rc, unscheduled, 1, 0, service(rc, ""), "cluster.local"); got.endpoint != nil || got.reason != redisv1alpha1.ReasonNodeAddressUnknown {
		t.Errorf("a pod without a node address: %+v, want NodeAddressUnknown", got)
	}
}
