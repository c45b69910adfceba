package kubenet

import "testing"

func TestConstantsAreConsistent(t *testing.T) {
	pods := MustPrefix(PodCIDR)
	if !pods.Contains(MustAddr(GatewayIP)) {
		t.Errorf("gateway %s is outside the pod CIDR %s", GatewayIP, PodCIDR)
	}
	svc := MustPrefix(ServiceCIDR)
	for _, ip := range []string{APIServiceIP, DNSServiceIP} {
		if !svc.Contains(MustAddr(ip)) {
			t.Errorf("%s is outside the service CIDR %s", ip, ServiceCIDR)
		}
	}
	if svc.Overlaps(pods) {
		t.Errorf("service CIDR %s overlaps pod CIDR %s", ServiceCIDR, PodCIDR)
	}
	if first := svc.Masked().Addr().Next(); first != MustAddr(APIServiceIP) {
		t.Errorf("APIServiceIP = %s, want the first service address %s", APIServiceIP, first)
	}
}

func TestNodeNetworksDoNotOverlapThePodsOrServices(t *testing.T) {
	nets := map[string]string{"pods": PodCIDR, "services": ServiceCIDR, "nodes": NodeCIDR, "load balancers": LoadBalancerCIDR, "outside": OutsideCIDR}
	for a, ca := range nets {
		for b, cb := range nets {
			if a < b && MustPrefix(ca).Overlaps(MustPrefix(cb)) {
				t.Errorf("%s %s overlaps %s %s", a, ca, b, cb)
			}
		}
	}
}

func TestNodeAddrCountsFromTheOffset(t *testing.T) {
	if got := NodeAddr(MustPrefix(NodeCIDR), 1); got != MustAddr("10.243.0.11") {
		t.Errorf("node 1 = %s, want 10.243.0.11", got)
	}
	if got := NodeAddr(MustPrefix("10.1.2.64/26"), 3); got != MustAddr("10.1.2.77") {
		t.Errorf("node 3 of 10.1.2.64/26 = %s, want 10.1.2.77", got)
	}
}
