package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/redkube/redkube/internal/kubenet"
	"github.com/redkube/redkube/internal/proc"
)

// Names of the DNS pieces.
const (
	// BinCoreDNS is the CoreDNS binary's name in the control-plane binary
	// folder.
	BinCoreDNS = "coredns"
	// ComponentDNS names the DNS server in logs and file names.
	ComponentDNS = "coredns"
	// DNSServiceName is the Service (in DNSServiceNamespace) that publishes
	// the cluster DNS at kubenet.DNSServiceIP, as kubeadm names it.
	DNSServiceName = "kube-dns"
	// DNSServiceNamespace is the namespace of DNSServiceName.
	DNSServiceNamespace = "kube-system"
	// DNSPort is the port the DNS server listens on by default.
	DNSPort = 53
	// ManagedBy is the endpointslice.kubernetes.io/managed-by value of the
	// EndpointSlices this package writes.
	ManagedBy = "localkube.redkube.io"
	// DefaultStopTimeout is how long a child gets between SIGTERM and
	// SIGKILL when a config leaves StopTimeout zero.
	DefaultStopTimeout = 10 * time.Second
	// dnsTTL is the TTL of the answers, in seconds; short because pod IPs
	// change when pods are recreated.
	dnsTTL = 5
)

// DNSConfig configures StartDNS.
type DNSConfig struct {
	// Binary is the CoreDNS executable (BinCoreDNS in the binary folder).
	Binary string
	// Kubeconfig is the kubeconfig CoreDNS's kubernetes plugin reads the
	// cluster with; it needs list/watch on Services, EndpointSlices,
	// Namespaces and Pods.
	Kubeconfig string
	// Listen is the UDP and TCP address served. The zero value means
	// kubenet.GatewayIP port DNSPort, which must exist on the host (the pod
	// bridge is up) before StartDNS is called.
	Listen netip.AddrPort
	// Domain is the cluster domain; empty means kubenet.ClusterDomain.
	Domain string
	// ReverseCIDRs get PTR answers (rounded out to whole octets); nil means
	// kubenet.PodCIDR and kubenet.ServiceCIDR.
	ReverseCIDRs []netip.Prefix
	// Dir receives the Corefile and the server's log; it must exist.
	Dir string
	// StopTimeout is the grace period on Stop; 0 means DefaultStopTimeout.
	StopTimeout time.Duration
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
}

func (c DNSConfig) withDefaults() (DNSConfig, error) {
	if !c.Listen.IsValid() {
		c.Listen = netip.AddrPortFrom(kubenet.MustAddr(kubenet.GatewayIP), DNSPort)
	}
	if c.Domain == "" {
		c.Domain = kubenet.ClusterDomain
	}
	if c.ReverseCIDRs == nil {
		c.ReverseCIDRs = []netip.Prefix{kubenet.MustPrefix(kubenet.PodCIDR), kubenet.MustPrefix(kubenet.ServiceCIDR)}
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Dir == "" {
		return c, errors.New("dns: Dir is required")
	}
	if c.Kubeconfig == "" {
		return c, errors.New("dns: Kubeconfig is required")
	}
	if _, err := os.Stat(c.Binary); err != nil {
		return c, fmt.Errorf("dns: %w: %w", errNoBinary, err)
	}
	return c, nil
}

// DNS is a running cluster DNS server.
type DNS struct {
	// Addr is the address served (UDP and TCP).
	Addr netip.AddrPort
	// Corefile is the path of the configuration CoreDNS runs with.
	Corefile string
	// LogPath is the server's log (one line per query).
	LogPath string

	cfg  DNSConfig
	proc *proc.Process
}

// StartDNS writes a Corefile serving cfg.Domain (and the reverse zones) from
// the API server and starts CoreDNS with it. It returns once CoreDNS reports
// ready, which its ready plugin does only after the kubernetes plugin has
// synced with the API server. ctx bounds the start only.
func StartDNS(ctx context.Context, cfg DNSConfig) (*DNS, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ports, err := freeLoopbackPorts(2)
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	health, ready := ports[0], ports[1]
	corefile := filepath.Join(cfg.Dir, "Corefile")
	text := Corefile(CorefileParams{
		Listen:       cfg.Listen,
		Domain:       cfg.Domain,
		ReverseZones: ReverseZones(cfg.ReverseCIDRs),
		Kubeconfig:   cfg.Kubeconfig,
		HealthPort:   health,
		ReadyPort:    ready,
		TTL:          dnsTTL,
	})
	if err := os.WriteFile(corefile, []byte(text), 0o644); err != nil {
		return nil, fmt.Errorf("dns: write Corefile: %w", err)
	}
	logPath := filepath.Join(cfg.Dir, ComponentDNS+".log")
	p, err := proc.Start(cfg.Binary, []string{"-conf", corefile}, proc.Options{Name: ComponentDNS, LogPath: logPath, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	d := &DNS{Addr: cfg.Listen, Corefile: corefile, LogPath: logPath, cfg: cfg, proc: p}
	began := time.Now()
	if err := p.WaitReady(ctx, proc.HTTPOK("http://127.0.0.1:"+strconv.Itoa(ready)+"/ready")); err != nil {
		return nil, fmt.Errorf("dns: %w", errors.Join(err, p.Stop(ctx, 0)))
	}
	cfg.Logger.Info("dns ready", "addr", cfg.Listen.String(), "domain", cfg.Domain, "wait", time.Since(began))
	return d, nil
}

// PID returns the CoreDNS process ID.
func (d *DNS) PID() int { return d.proc.PID() }

// Stop stops CoreDNS (SIGTERM, then SIGKILL after the grace period) and
// waits for it to exit. It is safe to call more than once.
func (d *DNS) Stop(ctx context.Context) error {
	if err := d.proc.Stop(ctx, d.cfg.StopTimeout); err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	d.cfg.Logger.Info("dns stopped", "addr", d.Addr.String())
	return nil
}

// CorefileParams are the inputs of Corefile.
type CorefileParams struct {
	// Listen is the address served.
	Listen netip.AddrPort
	// Domain is the cluster domain.
	Domain string
	// ReverseZones are in-addr.arpa / ip6.arpa zones answered with PTRs.
	ReverseZones []string
	// Kubeconfig is read by the kubernetes plugin.
	Kubeconfig string
	// HealthPort and ReadyPort are loopback ports of the health and ready
	// plugins.
	HealthPort, ReadyPort int
	// TTL is the answers' TTL in seconds (also the cache's upper bound).
	TTL int
}

// Corefile renders the CoreDNS configuration of the cluster DNS: one server
// block for the cluster domain and the reverse zones, answered by the
// kubernetes plugin only. There is deliberately no forward plugin: other
// names are refused rather than sent anywhere.
func Corefile(p CorefileParams) string {
	port := strconv.Itoa(int(p.Listen.Port()))
	zones := append([]string{p.Domain}, p.ReverseZones...)
	keys := make([]string, len(zones))
	for i, z := range zones {
		keys[i] = z + ":" + port
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Cluster DNS of the local cluster, written by redkube (internal/localkube/services).\n")
	fmt.Fprintf(&b, "%s {\n", strings.Join(keys, " "))
	fmt.Fprintf(&b, "    bind %s\n", p.Listen.Addr())
	fmt.Fprintf(&b, "    errors\n")
	fmt.Fprintf(&b, "    log\n")
	fmt.Fprintf(&b, "    health 127.0.0.1:%d\n", p.HealthPort)
	fmt.Fprintf(&b, "    ready 127.0.0.1:%d\n", p.ReadyPort)
	fmt.Fprintf(&b, "    kubernetes %s {\n", strings.Join(zones, " "))
	fmt.Fprintf(&b, "        kubeconfig %s\n", p.Kubeconfig)
	fmt.Fprintf(&b, "        pods insecure\n")
	fmt.Fprintf(&b, "        ttl %d\n", p.TTL)
	fmt.Fprintf(&b, "    }\n")
	fmt.Fprintf(&b, "    cache %d\n", p.TTL)
	fmt.Fprintf(&b, "}\n")
	return b.String()
}

// ReverseZones returns the reverse-lookup zones covering prefixes, each
// rounded out to a whole octet (IPv4) or nibble (IPv6) boundary, without
// duplicates, in input order. 10.244.0.0/16 becomes 244.10.in-addr.arpa.
func ReverseZones(prefixes []netip.Prefix) []string {
	var out []string
	for _, p := range prefixes {
		p = p.Masked()
		var z string
		if p.Addr().Is4() {
			octets := p.Bits() / 8
			a := p.Addr().As4()
			labels := []string{"in-addr.arpa"}
			for i := range octets {
				labels = append([]string{strconv.Itoa(int(a[i]))}, labels...)
			}
			z = strings.Join(labels, ".")
		} else {
			nibbles := p.Bits() / 4
			a := p.Addr().As16()
			labels := []string{"ip6.arpa"}
			for i := range nibbles {
				n := a[i/2] >> 4
				if i%2 == 1 {
					n = a[i/2] & 0x0f
				}
				labels = append([]string{strconv.FormatUint(uint64(n), 16)}, labels...)
			}
			z = strings.Join(labels, ".")
		}
		if !slices.Contains(out, z) {
			out = append(out, z)
		}
	}
	return out
}

// EnsureDNSService publishes the DNS server at server as the Service
// kube-system/kube-dns with ClusterIP serviceIP (kubenet.DNSServiceIP in the
// local cluster), ports 53/UDP and 53/TCP, backed by an EndpointSlice this
// package manages (the server is a host process, not a pod, so the Service
// has no selector). It creates what is missing and updates the
// EndpointSlice in place; it fails when a kube-dns Service with another
// ClusterIP exists.
func EnsureDNSService(ctx context.Context, client kubernetes.Interface, serviceIP netip.Addr, server netip.AddrPort) error {
	svc := dnsService(serviceIP, server)
	got, err := client.CoreV1().Services(DNSServiceNamespace).Get(ctx, DNSServiceName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := client.CoreV1().Services(DNSServiceNamespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("dns: create Service %s/%s: %w", DNSServiceNamespace, DNSServiceName, err)
		}
	case err != nil:
		return fmt.Errorf("dns: get Service %s/%s: %w", DNSServiceNamespace, DNSServiceName, err)
	case got.Spec.ClusterIP != serviceIP.String():
		return fmt.Errorf("dns: Service %s/%s has ClusterIP %s, want %s", DNSServiceNamespace, DNSServiceName, got.Spec.ClusterIP, serviceIP)
	}

	slice := dnsEndpointSlice(server)
	cur, err := client.DiscoveryV1().EndpointSlices(DNSServiceNamespace).Get(ctx, slice.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := client.DiscoveryV1().EndpointSlices(DNSServiceNamespace).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("dns: create EndpointSlice %s/%s: %w", DNSServiceNamespace, slice.Name, err)
		}
	case err != nil:
		return fmt.Errorf("dns: get EndpointSlice %s/%s: %w", DNSServiceNamespace, slice.Name, err)
	default:
		cur.Labels, cur.AddressType, cur.Endpoints, cur.Ports = slice.Labels, slice.AddressType, slice.Endpoints, slice.Ports
		if _, err := client.DiscoveryV1().EndpointSlices(DNSServiceNamespace).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("dns: update EndpointSlice %s/%s: %w", DNSServiceNamespace, slice.Name, err)
		}
	}
	return nil
}

const (
	dnsPortUDP = "dns"
	dnsPortTCP = "dns-tcp"
)

func dnsService(serviceIP netip.Addr, server netip.AddrPort) *corev1.Service {
	target := intstr.FromInt32(int32(server.Port()))
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:      DNSServiceName,
			Namespace: DNSServiceNamespace,
			Labels:    map[string]string{"k8s-app": DNSServiceName, "kubernetes.io/name": "CoreDNS"},
		},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: serviceIP.String(),
			Ports: []corev1.ServicePort{
				{Name: dnsPortUDP, Protocol: corev1.ProtocolUDP, Port: DNSPort, TargetPort: target},
				{Name: dnsPortTCP, Protocol: corev1.ProtocolTCP, Port: DNSPort, TargetPort: target},
			},
		},
	}
}

func dnsEndpointSlice(server netip.AddrPort) *discoveryv1.EndpointSlice {
	port := int32(server.Port())
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	nameUDP, nameTCP := dnsPortUDP, dnsPortTCP
	return hostEndpointSlice(DNSServiceNamespace, DNSServiceName, DNSServiceName+"-host", server.Addr(),
		discoveryv1.EndpointPort{Name: &nameUDP, Protocol: &udp, Port: &port},
		discoveryv1.EndpointPort{Name: &nameTCP, Protocol: &tcp, Port: &port})
}
