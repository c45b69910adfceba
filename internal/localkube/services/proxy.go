package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/redkube/redkube/internal/kubenet"
	"github.com/redkube/redkube/internal/proc"
)

// Names of the proxy pieces.
const (
	// BinKubeProxy is kube-proxy's name in the control-plane binary folder.
	BinKubeProxy = "kube-proxy"
	// ComponentProxy names kube-proxy in logs and file names.
	ComponentProxy = "kube-proxy"
	// DefaultProxyLock is the host-wide lock file StartProxy holds while its
	// kube-proxy runs: kube-proxy owns fixed nftables table names, so two of
	// them on one machine would undo each other's rules.
	DefaultProxyLock = "/run/redkube/kube-proxy.lock"
	// nftBinary is the nftables CLI that kube-proxy's nftables mode drives.
	nftBinary = "nft"
	// routeProtocol tags the service-CIDR route so it can be told apart from
	// routes others made (an unused number in /etc/iproute2/rt_protos).
	routeProtocol = netlink.RouteProtocol(0x7b)
)

// ProxyConfig configures StartProxy.
type ProxyConfig struct {
	// Binary is the kube-proxy executable (BinKubeProxy in the binary
	// folder).
	Binary string
	// Kubeconfig is the kubeconfig kube-proxy watches Services and
	// EndpointSlices with.
	Kubeconfig string
	// NodeName is the registered Node kube-proxy runs as
	// (--hostname-override); it must exist.
	NodeName string
	// Bridge is the pod bridge; the service CIDR is routed into it. Empty
	// means kubenet.BridgeName. It must exist before StartProxy.
	Bridge string
	// Gateway is the bridge's own address, the source of host traffic to
	// ClusterIPs. Invalid means kubenet.GatewayIP.
	Gateway netip.Addr
	// PodCIDR is the cluster CIDR (traffic from outside it to a Service is
	// masqueraded). Invalid means kubenet.PodCIDR.
	PodCIDR netip.Prefix
	// ServiceCIDR is the ClusterIP range. Invalid means kubenet.ServiceCIDR.
	ServiceCIDR netip.Prefix
	// NodePortAddresses are the host addresses NodePorts are served on; nil
	// means the gateway only (Gateway/32). kube-proxy's nftables mode never
	// serves NodePorts on 127.0.0.1.
	NodePortAddresses []netip.Prefix
	// Dir receives kube-proxy's configuration file and log; it must exist.
	Dir string
	// LockPath is the host-wide lock; empty means DefaultProxyLock.
	LockPath string
	// StopTimeout is the grace period on Stop; 0 means DefaultStopTimeout.
	StopTimeout time.Duration
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
}

func (c ProxyConfig) withDefaults() (ProxyConfig, error) {
	if c.Bridge == "" {
		c.Bridge = kubenet.BridgeName
	}
	if !c.Gateway.IsValid() {
		c.Gateway = kubenet.MustAddr(kubenet.GatewayIP)
	}
	if !c.PodCIDR.IsValid() {
		c.PodCIDR = kubenet.MustPrefix(kubenet.PodCIDR)
	}
	if !c.ServiceCIDR.IsValid() {
		c.ServiceCIDR = kubenet.MustPrefix(kubenet.ServiceCIDR)
	}
	if c.NodePortAddresses == nil {
		c.NodePortAddresses = []netip.Prefix{netip.PrefixFrom(c.Gateway, c.Gateway.BitLen())}
	}
	if c.LockPath == "" {
		c.LockPath = DefaultProxyLock
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.Dir == "":
		return c, errors.New("proxy: Dir is required")
	case c.Kubeconfig == "":
		return c, errors.New("proxy: Kubeconfig is required")
	case c.NodeName == "":
		return c, errors.New("proxy: NodeName is required")
	}
	if _, err := os.Stat(c.Binary); err != nil {
		return c, fmt.Errorf("proxy: %w: %w", errNoBinary, err)
	}
	if _, err := exec.LookPath(nftBinary); err != nil {
		return c, fmt.Errorf("proxy: kube-proxy's nftables mode needs the %q command (Debian package nftables): %w", nftBinary, err)
	}
	return c, nil
}

// Proxy is a running kube-proxy.
type Proxy struct {
	// LogPath is kube-proxy's log.
	LogPath string
	// ConfigPath is its KubeProxyConfiguration file.
	ConfigPath string

	cfg   ProxyConfig
	proc  *proc.Process
	lock  *os.File
	route *netlink.Route
	// fwdPath and fwdWas restore the bridge's forwarding sysctl on Stop.
	fwdPath, fwdWas string
}

// StartProxy runs kube-proxy in nftables mode for the local cluster:
//
//  1. takes the host-wide lock (waiting for another local cluster's proxy to
//     stop, or for ctx to end);
//  2. removes tables a previous kube-proxy left behind (kube-proxy --cleanup);
//  3. routes the service CIDR into the pod bridge, so host traffic to a
//     ClusterIP is source-addressed from the gateway and can never leave
//     through the host's default route;
//  4. starts kube-proxy with NodePorts on NodePortAddresses only and no
//     conntrack sysctl changes, and waits for its /healthz (first sync).
//
// ctx bounds the start only. Stop undoes all of it.
func StartProxy(ctx context.Context, cfg ProxyConfig) (_ *Proxy, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	px := &Proxy{cfg: cfg}
	defer func() {
		if err != nil {
			err = errors.Join(err, px.teardown(context.WithoutCancel(ctx)))
		}
	}()
	if px.lock, err = lockFile(ctx, cfg.LockPath); err != nil {
		return nil, err
	}
	if err := CleanupProxy(ctx, cfg.Binary); err != nil {
		return nil, err
	}
	if px.route, err = addServiceRoute(cfg.Bridge, cfg.ServiceCIDR, cfg.Gateway); err != nil {
		return nil, err
	}
	if px.fwdPath, px.fwdWas, err = enableForwarding(cfg.Bridge); err != nil {
		return nil, err
	}
	ports, err := freeLoopbackPorts(2)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	px.ConfigPath = filepath.Join(cfg.Dir, ComponentProxy+".yaml")
	if err := os.WriteFile(px.ConfigPath, []byte(ProxyConfiguration(cfg, ports[0], ports[1])), 0o644); err != nil {
		return nil, fmt.Errorf("proxy: write configuration: %w", err)
	}
	px.LogPath = filepath.Join(cfg.Dir, ComponentProxy+".log")
	px.proc, err = proc.Start(cfg.Binary, []string{"--config", px.ConfigPath, "--v=2"}, proc.Options{Name: ComponentProxy, LogPath: px.LogPath, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	began := time.Now()
	if err := px.proc.WaitReady(ctx, proc.HTTPOK("http://127.0.0.1:"+strconv.Itoa(ports[0])+"/healthz")); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	cfg.Logger.Info("kube-proxy ready", "mode", "nftables", "nodePortAddresses", fmt.Sprint(cfg.NodePortAddresses), "wait", time.Since(began))
	return px, nil
}

// PID returns the kube-proxy process ID.
func (px *Proxy) PID() int { return px.proc.PID() }

// Stop stops kube-proxy, removes its nftables tables (kube-proxy --cleanup)
// and the service-CIDR route, and releases the host-wide lock.
func (px *Proxy) Stop(ctx context.Context) error {
	err := px.teardown(ctx)
	px.cfg.Logger.Info("kube-proxy stopped", "err", err)
	return err
}

func (px *Proxy) teardown(ctx context.Context) error {
	var errs []error
	if px.proc != nil {
		errs = append(errs, px.proc.Stop(ctx, px.cfg.StopTimeout))
		px.proc = nil
	}
	if px.lock != nil {
		// Clean up only while holding the lock: another cluster's proxy may
		// own the tables otherwise.
		errs = append(errs, CleanupProxy(ctx, px.cfg.Binary))
	}
	if px.route != nil {
		if err := netlink.RouteDel(px.route); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("proxy: delete route %s: %w", px.route.Dst, err))
		}
		px.route = nil
	}
	if px.fwdPath != "" {
		if err := os.WriteFile(px.fwdPath, []byte(px.fwdWas), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("proxy: restore %s: %w", px.fwdPath, err))
		}
		px.fwdPath = ""
	}
	if px.lock != nil {
		_ = px.lock.Close() // closing releases the flock
		px.lock = nil
	}
	return errors.Join(errs...)
}

// CleanupProxy runs `kube-proxy --cleanup`, which deletes the nftables tables
// ("ip kube-proxy", "ip6 kube-proxy") a kube-proxy made, and the iptables and
// IPVS leftovers of its other modes where those tools exist. It is what
// StartProxy does first and Stop does last; `localkube down` calls it after
// a launcher died.
func CleanupProxy(ctx context.Context, binary string) error {
	out, err := exec.CommandContext(ctx, binary, "--cleanup", "--proxy-mode=nftables").CombinedOutput()
	if err != nil {
		return fmt.Errorf("proxy: kube-proxy --cleanup: %w: %s", err, tail(out, 10))
	}
	return nil
}

// ProxyConfiguration renders kube-proxy's configuration file. healthzPort and
// metricsPort are loopback ports.
func ProxyConfiguration(cfg ProxyConfig, healthzPort, metricsPort int) string {
	npa := make([]string, len(cfg.NodePortAddresses))
	for i, p := range cfg.NodePortAddresses {
		npa[i] = strconv.Quote(p.String())
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# kube-proxy of the local cluster, written by redkube (internal/localkube/services).\n")
	fmt.Fprintf(&b, "apiVersion: kubeproxy.config.k8s.io/v1alpha1\n")
	fmt.Fprintf(&b, "kind: KubeProxyConfiguration\n")
	fmt.Fprintf(&b, "mode: nftables\n")
	fmt.Fprintf(&b, "clientConnection:\n  kubeconfig: %q\n", cfg.Kubeconfig)
	fmt.Fprintf(&b, "hostnameOverride: %q\n", cfg.NodeName)
	fmt.Fprintf(&b, "bindAddress: %q\n", cfg.Gateway.String())
	fmt.Fprintf(&b, "healthzBindAddress: \"127.0.0.1:%d\"\n", healthzPort)
	fmt.Fprintf(&b, "metricsBindAddress: \"127.0.0.1:%d\"\n", metricsPort)
	fmt.Fprintf(&b, "clusterCIDR: %q\n", cfg.PodCIDR.String())
	fmt.Fprintf(&b, "detectLocalMode: ClusterCIDR\n")
	fmt.Fprintf(&b, "nodePortAddresses: [%s]\n", strings.Join(npa, ", "))
	fmt.Fprintf(&b, "oomScoreAdj: 0\n")
	// Zero everywhere: leave the host's conntrack sysctls as they are.
	fmt.Fprintf(&b, "conntrack:\n")
	fmt.Fprintf(&b, "  maxPerCore: 0\n  min: 0\n")
	fmt.Fprintf(&b, "  tcpEstablishedTimeout: 0s\n  tcpCloseWaitTimeout: 0s\n")
	fmt.Fprintf(&b, "  udpTimeout: 0s\n  udpStreamTimeout: 0s\n")
	fmt.Fprintf(&b, "nftables:\n  syncPeriod: 30s\n  minSyncPeriod: 100ms\n")
	return b.String()
}

// addServiceRoute routes cidr into the bridge with the gateway as source.
func addServiceRoute(bridge string, cidr netip.Prefix, gateway netip.Addr) (*netlink.Route, error) {
	link, err := netlink.LinkByName(bridge)
	if err != nil {
		return nil, fmt.Errorf("proxy: find bridge %s: %w", bridge, err)
	}
	r := &netlink.Route{
		LinkIndex: link.Attrs().Index,
		Dst:       &net.IPNet{IP: cidr.Masked().Addr().AsSlice(), Mask: net.CIDRMask(cidr.Bits(), cidr.Addr().BitLen())},
		Src:       gateway.AsSlice(),
		Scope:     netlink.SCOPE_LINK,
		Protocol:  routeProtocol,
	}
	if err := netlink.RouteReplace(r); err != nil {
		return nil, fmt.Errorf("proxy: route %s via %s: %w", cidr, bridge, err)
	}
	return r, nil
}

// enableForwarding turns on IPv4 forwarding for packets entering through the
// bridge only (net.ipv4.conf.<bridge>.forwarding), which a pod needs to reach
// another pod through a ClusterIP (the host DNATs and forwards the packet back
// into the bridge). The host-wide net.ipv4.ip_forward is left alone, so
// nothing arriving on another interface is forwarded. It returns the sysctl
// path and its previous value.
func enableForwarding(bridge string) (path, was string, err error) {
	path = filepath.Join("/proc/sys/net/ipv4/conf", bridge, "forwarding")
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("proxy: read %s: %w", path, err)
	}
	if err := os.WriteFile(path, []byte("1"), 0o644); err != nil {
		return "", "", fmt.Errorf("proxy: enable forwarding on %s: %w", bridge, err)
	}
	return path, strings.TrimSpace(string(b)), nil
}

// lockFile takes an exclusive flock on path, polling until ctx ends.
func lockFile(ctx context.Context, path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("proxy: lock folder: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("proxy: open lock: %w", err)
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("proxy: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("proxy: wait for lock %s (another local cluster runs kube-proxy): %w", path, ctx.Err())
		case <-tick.C:
		}
	}
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
