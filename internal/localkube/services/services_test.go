package services_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/redkube/redkube/internal/kubenet"
	"github.com/redkube/redkube/internal/localkube"
	"github.com/redkube/redkube/internal/localkube/localkubetest"
	"github.com/redkube/redkube/internal/localkube/services"
	"github.com/redkube/redkube/internal/podnet"
)

// startCluster starts a one-node control plane without a node agent.
func startCluster(t *testing.T) *localkube.Cluster {
	t.Helper()
	return localkubetest.Start(t, localkube.Options{Nodes: 1, DisableProvisioner: true})
}

func binary(t *testing.T, c *localkube.Cluster, name string) string {
	t.Helper()
	p := filepath.Join(c.BinDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is not in the binary folder (hack/build-k8s.sh builds it): %v", name, err)
	}
	return p
}

// resolver queries only server, over UDP.
func resolver(server netip.AddrPort) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", server.String())
	}}
}

// waitLookup polls name at server until it resolves to exactly want.
func waitLookup(t *testing.T, server netip.AddrPort, name string, want ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	r := resolver(server)
	var got []string
	var err error
	for ctx.Err() == nil {
		var ips []net.IP
		ips, err = r.LookupIP(ctx, "ip4", name)
		got = got[:0]
		for _, ip := range ips {
			got = append(got, ip.String())
		}
		slices.Sort(got)
		if err == nil && slices.Equal(got, want) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s at %s: got %v (err %v), want %v", name, server, got, err, want)
}

// dnsTestAddr is the loopback address the test's CoreDNS serves on: not
// 127.0.0.1, where the other packages' tests running at the same time open
// thousands of connections from ephemeral ports, one of which can take the
// port picked here before CoreDNS binds its TCP side (seen once under
// `make test`: every query refused for 30 s).
const dnsTestAddr = "127.0.53.1"

func freeUDPPort(t *testing.T) uint16 {
	t.Helper()
	c, err := net.ListenPacket("udp", dnsTestAddr+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }() // only the port number was needed
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

// headless creates a selector-less headless Service name with one
// EndpointSlice holding hostname -> ip.
func headless(t *testing.T, cs kubernetes.Interface, name, hostname, ip string) {
	t.Helper()
	ctx := t.Context()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "redis", Port: 6379}}},
	}
	if _, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	setSlice(t, cs, name, hostname, ip, 6379)
}

func setSlice(t *testing.T, cs kubernetes.Interface, svc, hostname, ip string, port int32) {
	t.Helper()
	ready := true
	pname := "redis"
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: svc + "-test", Namespace: "default", Labels: map[string]string{
			discoveryv1.LabelServiceName: svc, discoveryv1.LabelManagedBy: "services-test",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Hostname: &hostname, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &pname, Port: &port}},
	}
	cur, err := cs.DiscoveryV1().EndpointSlices("default").Get(t.Context(), slice.Name, metav1.GetOptions{})
	if err == nil {
		cur.Endpoints = slice.Endpoints
		_, err = cs.DiscoveryV1().EndpointSlices("default").Update(t.Context(), cur, metav1.UpdateOptions{})
	} else {
		_, err = cs.DiscoveryV1().EndpointSlices("default").Create(t.Context(), slice, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestDNSServesTheClusterDomainFromTheAPIServer(t *testing.T) {
	c := startCluster(t)
	server := netip.AddrPortFrom(netip.MustParseAddr(dnsTestAddr), freeUDPPort(t))
	dns, err := services.StartDNS(t.Context(), services.DNSConfig{
		Binary: binary(t, c, services.BinCoreDNS), Kubeconfig: c.Kubeconfig, Listen: server, Dir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = dns.Stop(context.Background())
		if t.Failed() {
			b, _ := os.ReadFile(dns.LogPath)
			t.Logf("--- CoreDNS log (%s) ---\n%s", dns.LogPath, b)
		}
	})

	headless(t, c.Client, "redis-service", "redis-app-0", "10.244.3.7")
	waitLookup(t, server, "redis-app-0.redis-service.default.svc.cluster.local.", "10.244.3.7")
	waitLookup(t, server, "redis-service.default.svc.cluster.local.", "10.244.3.7")

	// A recreated pod has a new IP: the name follows it.
	setSlice(t, c.Client, "redis-service", "redis-app-0", "10.244.3.9", 6379)
	waitLookup(t, server, "redis-app-0.redis-service.default.svc.cluster.local.", "10.244.3.9")

	// The API server's own Service has its ClusterIP.
	waitLookup(t, server, "kubernetes.default.svc.cluster.local.", kubenet.APIServiceIP)

	// Reverse lookups of pod IPs are answered.
	names, err := resolver(server).LookupAddr(t.Context(), "10.244.3.9")
	if err != nil || len(names) == 0 {
		t.Errorf("PTR 10.244.3.9: %v %v", names, err)
	}

	// Nothing is forwarded: a name outside the cluster domain is refused.
	if ips, err := resolver(server).LookupIP(t.Context(), "ip4", "example.com."); err == nil {
		t.Errorf("example.com resolved to %v; the cluster DNS must not forward", ips)
	}
}

// testNet is a bridge and subnet of this test's own, so it cannot collide
// with a local cluster's pod bridge (kubenet.BridgeName).
var testNet = podnet.Config{Bridge: "rksvct0", CIDR: netip.MustParsePrefix("10.247.0.0/24")}

func setupNet(t *testing.T, names ...string) map[string]podnet.Sandbox {
	t.Helper()
	if err := podnet.EnsureBridge(testNet); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := podnet.DeleteBridge(testNet.Bridge); err != nil {
			t.Errorf("delete bridge: %v", err)
		}
	})
	sbs := map[string]podnet.Sandbox{}
	ip := testNet.Gateway()
	for _, n := range names {
		ip = ip.Next()
		sb, err := podnet.CreateSandbox(testNet, n, ip)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := podnet.DestroySandbox(testNet, sb); err != nil {
				t.Errorf("destroy sandbox %s: %v", n, err)
			}
		})
		// Pods route only the service CIDR to the gateway (no default route).
		out, err := exec.Command("ip", "netns", "exec", sb.Name, "ip", "route", "add", kubenet.ServiceCIDR, "via", testNet.Gateway().String()).CombinedOutput()
		if err != nil {
			t.Fatalf("service route in %s: %v: %s", n, err, out)
		}
		sbs[n] = sb
	}
	return sbs
}

// redisIn runs a redis-server in sandbox sb until the test ends.
func redisIn(t *testing.T, sb podnet.Sandbox) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", sb.Name, "redis-server", "--port", "6379", "--bind", sb.IP.String(), "--save", "", "--appendonly", "no", "--protected-mode", "no")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}

// ping sends PING over a new connection to addr (from the host) and
// returns the reply line.
func ping(ctx context.Context, addr string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close() }() // the reply (or its error) is the result
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSpace(line), err
}

func waitPong(t *testing.T, what string, try func(ctx context.Context) (string, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var got string
	var err error
	for ctx.Err() == nil {
		if got, err = try(ctx); err == nil && got == "+PONG" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: got %q, %v", what, got, err)
}

func nftTableExists(t *testing.T) bool {
	t.Helper()
	err := exec.Command("nft", "list", "table", "ip", "kube-proxy").Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return err == nil
}

// netSysctls reads the host-wide sysctls kube-proxy could change.
func netSysctls(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, root := range []string{"/proc/sys/net/netfilter", "/proc/sys/net/bridge", "/proc/sys/net/ipv4/conf/all", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv4/vs"} {
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasSuffix(p, "_count") {
				return nil
			}
			b, err := os.ReadFile(p)
			if err == nil {
				out[p] = strings.TrimSpace(string(b))
			}
			return nil
		})
	}
	return out
}

func TestProxyServesClusterIPsAndNodePortsAndCleansUp(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Fatalf("nft is required (apt-get install nftables): %v", err)
	}
	c := startCluster(t)
	sbs := setupNet(t, "rksvct-srv", "rksvct-cli")
	redisIn(t, sbs["rksvct-srv"])
	gw := testNet.Gateway()

	// kube-dns at its ClusterIP, served by CoreDNS on this test's gateway.
	dnsAddr := netip.AddrPortFrom(gw, services.DNSPort)
	dns, err := services.StartDNS(t.Context(), services.DNSConfig{
		Binary: binary(t, c, services.BinCoreDNS), Kubeconfig: c.Kubeconfig, Listen: dnsAddr, Dir: t.TempDir(),
		ReverseCIDRs: []netip.Prefix{testNet.CIDR},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dns.Stop(context.Background()) })
	if err := services.EnsureDNSService(t.Context(), c.Client, kubenet.MustAddr(kubenet.DNSServiceIP), dnsAddr); err != nil {
		t.Fatal(err)
	}

	before := netSysctls(t)
	began := time.Now()
	px, err := services.StartProxy(t.Context(), services.ProxyConfig{
		Binary: binary(t, c, services.BinKubeProxy), Kubeconfig: c.Kubeconfig, NodeName: c.Nodes[0],
		Bridge: testNet.Bridge, Gateway: gw, PodCIDR: testNet.CIDR, Dir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-proxy start to healthy: %v", time.Since(began))
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = px.Stop(context.Background())
		}
	})

	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "access", Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{
			{Name: "redis", Port: 6379, TargetPort: intstr.FromInt32(6379), NodePort: 30011},
		}},
	}
	svc, err = c.Client.CoreV1().Services("default").Create(t.Context(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setSlice(t, c.Client, "access", "srv", sbs["rksvct-srv"].IP.String(), 6379)
	clusterIP := svc.Spec.ClusterIP

	waitPong(t, "host -> NodePort on the gateway", func(ctx context.Context) (string, error) {
		return ping(ctx, netip.AddrPortFrom(gw, 30011).String())
	})
	waitPong(t, "host -> ClusterIP", func(ctx context.Context) (string, error) {
		return ping(ctx, net.JoinHostPort(clusterIP, "6379"))
	})
	waitPong(t, "pod -> ClusterIP -> other pod", func(ctx context.Context) (string, error) {
		out, err := exec.CommandContext(ctx, "ip", "netns", "exec", "rksvct-cli", "redis-cli", "-h", clusterIP, "-p", "6379", "PING").CombinedOutput()
		return "+" + strings.TrimSpace(string(out)), err
	})
	kubeDNS := netip.AddrPortFrom(kubenet.MustAddr(kubenet.DNSServiceIP), services.DNSPort)
	waitLookup(t, kubeDNS, "access.default.svc.cluster.local.", clusterIP)

	// The API server, on loopback only, at the kubernetes Service's
	// ClusterIP from a pod: its certificate checks out for that address
	// against the cluster CA, as an in-cluster client's does.
	api, err := services.StartAPIForwarder(netip.AddrPortFrom(gw, 0), strings.TrimPrefix(c.APIServerURL, "https://"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := api.Stop(); err != nil {
			t.Error(err)
		}
	})
	if err := services.EnsureAPIServiceEndpoints(t.Context(), c.Client, api.Addr); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, c.Config.CAData, 0o644); err != nil {
		t.Fatal(err)
	}
	waitPong(t, "pod -> kubernetes Service ClusterIP -> API server", func(ctx context.Context) (string, error) {
		out, err := exec.CommandContext(ctx, "ip", "netns", "exec", "rksvct-cli", "curl", "-sS", "--max-time", "2", "--cacert", ca, "https://"+kubenet.APIServiceIP+"/version").CombinedOutput()
		if err != nil || !strings.Contains(string(out), `"gitVersion"`) {
			return string(out), err
		}
		return "+PONG", nil
	})
	waitLookup(t, kubeDNS, "kubernetes.default.svc.cluster.local.", kubenet.APIServiceIP)

	if out, err := exec.Command("nft", "list", "table", "ip", "kube-proxy").Output(); err == nil {
		t.Logf("nftables table ip kube-proxy with 3 Services: %d lines", strings.Count(string(out), "\n"))
	}
	if out, err := exec.Command("nft", "list", "tables").Output(); err == nil {
		t.Logf("nftables tables while kube-proxy runs: %q", strings.TrimSpace(string(out)))
	}

	// NodePorts are served on the gateway only.
	if _, err := ping(t.Context(), "127.0.0.1:30011"); err == nil {
		t.Error("NodePort answered on 127.0.0.1; it must be served on the gateway only")
	}

	after := netSysctls(t)
	for k, v := range after {
		if before[k] != v {
			t.Errorf("kube-proxy changed host sysctl %s: %q -> %q", k, before[k], v)
		}
	}

	if err := px.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if nftTableExists(t) {
		t.Error("nftables table ip kube-proxy is still there after Stop")
	}
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: &net.IPNet{IP: net.ParseIP("10.96.0.0").To4(), Mask: net.CIDRMask(16, 32)}}, netlink.RT_FILTER_DST)
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 0 {
		t.Errorf("service CIDR routes left after Stop: %v", routes)
	}
	if _, err := ping(t.Context(), netip.AddrPortFrom(gw, 30011).String()); err == nil {
		t.Error("NodePort still answers after Stop")
	}
}
