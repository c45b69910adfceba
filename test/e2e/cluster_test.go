package e2e

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"testing"

	"github.com/redkube/redkube/internal/kubenet"
	"github.com/redkube/redkube/internal/localkube"
	"github.com/redkube/redkube/internal/localkube/services"
	"github.com/redkube/redkube/internal/proc"
	"github.com/redkube/redkube/test/harness"
)

// env is a running local cluster with pods, DNS and Services, on the
// default pod bridge.
type env struct {
	*localkube.Cluster
	// DNS is the cluster DNS server's address on the pod bridge.
	DNS netip.AddrPort
	// Gateway is the pod bridge's host address; NodePorts are served there.
	Gateway netip.Addr
	h       *harness.Env
	dns     *services.DNS
	proxy   *services.Proxy
}

// logMemory logs the resident memory of CoreDNS, kube-proxy and the
// control-plane processes (a measurement, not an assertion).
func (e *env) logMemory(t *testing.T) {
	t.Helper()
	pids := e.Processes()
	pids[services.ComponentDNS] = e.dns.PID()
	pids[services.ComponentProxy] = e.proxy.PID()
	var parts []string
	for name, pid := range pids {
		if rss, err := proc.Status(pid, "VmRSS"); err == nil {
			parts = append(parts, fmt.Sprintf("%s=%d kB", name, rss/1024))
		}
	}
	sort.Strings(parts)
	t.Logf("memory: RSS %s", strings.Join(parts, ", "))
}

// startEnv starts a three-node cluster with the node agent, CoreDNS and
// kube-proxy on the default pod bridge (test/harness), all stopped in
// t.Cleanup.
func startEnv(t *testing.T) *env {
	t.Helper()
	h := startHarness(t, harness.Options{Name: "e2e-tutorial", Services: true}, "nft", "redis-server", "redis-cli")
	return &env{
		Cluster: h.Cluster, h: h,
		DNS: h.Services.DNS.Addr, Gateway: kubenet.MustAddr(kubenet.GatewayIP),
		dns: h.Services.DNS, proxy: h.Services.Proxy,
	}
}

// kubectl runs the cluster's kubectl with args and returns its output.
func (e *env) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	return kubectlT(t, e.h, args...)
}
