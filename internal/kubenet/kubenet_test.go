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
