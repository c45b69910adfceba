package services

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestReverseZones(t *testing.T) {
	cases := []struct {
		name string
		in   []string
		want []string
	}{
		{"names a /16 by its two leading octets", []string{"10.244.0.0/16"}, []string{"244.10.in-addr.arpa"}},
		{"rounds a /20 out to its /16", []string{"10.96.16.0/20"}, []string{"96.10.in-addr.arpa"}},
		{"keeps a /24 to three octets", []string{"192.168.7.0/24"}, []string{"7.168.192.in-addr.arpa"}},
		{"drops duplicates and keeps order", []string{"10.96.0.0/16", "10.244.0.0/16", "10.96.0.0/12"}, []string{"96.10.in-addr.arpa", "244.10.in-addr.arpa", "10.in-addr.arpa"}},
		{"names IPv6 by nibbles", []string{"fd00:10::/32"}, []string{"0.1.0.0.0.0.d.f.ip6.arpa"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ps []netip.Prefix
			for _, s := range tc.in {
				ps = append(ps, netip.MustParsePrefix(s))
			}
			if got := ReverseZones(ps); !slices.Equal(got, tc.want) {
				t.Errorf("ReverseZones(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestCorefileServesOnlyTheClusterZones(t *testing.T) {
	got := Corefile(CorefileParams{
		Listen:       netip.MustParseAddrPort("10.244.0.1:53"),
		Domain:       "cluster.local",
		ReverseZones: []string{"244.10.in-addr.arpa", "96.10.in-addr.arpa"},
		Kubeconfig:   "/state/admin.kubeconfig",
		HealthPort:   4001,
		ReadyPort:    4002,
		TTL:          5,
	})
	want := `# Cluster DNS of the local cluster, written by redkube (internal/localkube/services).
cluster.local:53 244.10.in-addr.arpa:53 96.10.in-addr.arpa:53 {
    bind 10.244.0.1
    errors
    log
    health 127.0.0.1:4001
    ready 127.0.0.1:4002
    kubernetes cluster.local 244.10.in-addr.arpa 96.10.in-addr.arpa {
        kubeconfig /state/admin.kubeconfig
        pods insecure
        ttl 5
    }
    cache 5
}
`
	if got != want {
		t.Errorf("Corefile:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(got, "forward") {
		t.Error("Corefile forwards queries; nothing may leave the machine")
	}
}

func TestProxyConfigurationScopesNodePortsAndConntrack(t *testing.T) {
	cfg := ProxyConfig{
		Kubeconfig:        "/state/admin.kubeconfig",
		NodeName:          "node-1",
		Gateway:           netip.MustParseAddr("10.244.0.1"),
		PodCIDR:           netip.MustParsePrefix("10.244.0.0/16"),
		NodePortAddresses: []netip.Prefix{netip.MustParsePrefix("10.244.0.1/32")},
	}
	got := ProxyConfiguration(cfg, 4001, 4002)
	for _, line := range []string{
		"mode: nftables",
		`nodePortAddresses: ["10.244.0.1/32"]`,
		`healthzBindAddress: "127.0.0.1:4001"`,
		`metricsBindAddress: "127.0.0.1:4002"`,
		`clusterCIDR: "10.244.0.0/16"`,
		"  maxPerCore: 0",
		"  tcpEstablishedTimeout: 0s",
		"  tcpCloseWaitTimeout: 0s",
	} {
		if !strings.Contains(got, line+"\n") {
			t.Errorf("configuration lacks %q:\n%s", line, got)
		}
	}
}
