package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redkube/redkube/internal/kubenet"
	"github.com/redkube/redkube/internal/localkube"
	"github.com/redkube/redkube/internal/localkube/localkubetest"
	"github.com/redkube/redkube/internal/localkube/services"
	"github.com/redkube/redkube/internal/nodeagent"
)

// env is a running local cluster with pods, DNS and Services.
type env struct {
	*localkube.Cluster
	// DNS is the cluster DNS server's address on the pod bridge.
	DNS netip.AddrPort
	// Gateway is the pod bridge's host address; NodePorts are served there.
	Gateway netip.Addr
	dir     string
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
		b, err := os.ReadFile(filepath.Join("/proc", fmt.Sprint(pid), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "VmRSS:") {
				parts = append(parts, name+"="+strings.Join(strings.Fields(line)[1:], " "))
			}
		}
	}
	sort.Strings(parts)
	t.Logf("memory: RSS %s", strings.Join(parts, ", "))
}

// startEnv starts a three-node cluster with the node agent, CoreDNS and
// kube-proxy, all stopped in t.Cleanup.
func startEnv(t *testing.T) *env {
	t.Helper()
	localkubetest.SkipIfNoBinaries(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces, the pod bridge and nftables")
	}
	for _, cmd := range []string{"nft", "redis-server", "redis-cli"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Fatalf("the e2e tests need %s: %v", cmd, err)
		}
	}
	began := time.Now()
	c := localkubetest.Start(t, localkube.Options{
		Nodes:     3,
		NodeAgent: localkube.PodAgent(nodeagent.Config{DeleteBridgeOnExit: true}),
	})
	t.Logf("timing: cluster start (control plane, nodes, agent) %v", time.Since(began))

	e := &env{Cluster: c, Gateway: kubenet.MustAddr(kubenet.GatewayIP), dir: t.TempDir()}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	began = time.Now()
	svcs, err := services.Start(ctx, services.Config{
		BinDir: c.BinDir, Kubeconfig: c.Kubeconfig, Client: c.Client, NodeName: c.Nodes[0], Dir: e.dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := svcs.Stop(context.Background()); err != nil {
			t.Errorf("stop DNS and kube-proxy: %v", err)
		}
	})
	e.DNS, e.dns, e.proxy = svcs.DNS.Addr, svcs.DNS, svcs.Proxy
	t.Logf("timing: CoreDNS and kube-proxy start to ready %v", time.Since(began))
	t.Cleanup(func() {
		if t.Failed() {
			for _, f := range []string{"coredns.log", "kube-proxy.log"} {
				b, _ := os.ReadFile(filepath.Join(e.dir, f))
				lines := strings.Split(strings.TrimSpace(string(b)), "\n")
				if len(lines) > 30 {
					lines = lines[len(lines)-30:]
				}
				t.Logf("--- %s (last lines)\n%s", f, strings.Join(lines, "\n"))
			}
		}
	})
	return e
}

// kubectl runs the cluster's kubectl with args and returns its output.
func (e *env) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	// Not t.Context(): kubectl also runs in cleanups, after it is cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args = append([]string{"--kubeconfig", e.Kubeconfig}, args...)
	out, err := exec.CommandContext(ctx, filepath.Join(e.BinDir, "kubectl"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
