package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/redkube/redkube/internal/kubenet"
	"github.com/redkube/redkube/internal/podnet"
)

// Config configures Start: what the launcher knows about a running cluster.
type Config struct {
	// BinDir holds the coredns and kube-proxy binaries (the folder
	// hack/build-k8s.sh prints).
	BinDir string
	// Kubeconfig is an admin kubeconfig (CoreDNS and kube-proxy read the
	// cluster with it).
	Kubeconfig string
	// Client is an admin clientset (for the kube-dns Service).
	Client kubernetes.Interface
	// NodeName is the Node kube-proxy runs as (any registered node).
	NodeName string
	// Network is the pod bridge and subnet; the zero value means
	// podnet.DefaultConfig().
	Network podnet.Config
	// Dir receives the Corefile, kube-proxy's configuration and both logs;
	// it must exist.
	Dir string
	// NodePortAddresses are host ranges kube-proxy serves NodePorts on
	// besides the pod bridge's gateway: the node CIDR of a cluster with a
	// node network (localkube.Cluster.NodeNetwork), so that each node's
	// address answers on every NodePort.
	NodePortAddresses []netip.Prefix
	// DisableProxy leaves kube-proxy out (DNS is then reachable at the
	// gateway address only, not at kubenet.DNSServiceIP).
	DisableProxy bool
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
}

// Services is the running cluster DNS and kube-proxy of a local cluster.
type Services struct {
	// DNS is the CoreDNS server (on the bridge gateway, port 53).
	DNS *DNS
	// Proxy is kube-proxy; nil when Config.DisableProxy.
	Proxy *Proxy
	// API relays the default/kubernetes Service's endpoint on the gateway
	// to the API server, so pods reach it at its ClusterIP
	// (kubenet.APIServiceIP) through kube-proxy, and in-cluster clients
	// work; nil when Config.DisableProxy.
	API *APIForwarder
	// DNSServiceIP is the kube-dns ClusterIP pods use as nameserver.
	DNSServiceIP netip.Addr

	bridge        string
	createdBridge bool
	log           *slog.Logger
}

// Start gives a running cluster its DNS and Service routing: it makes sure
// the pod bridge exists (the node agent creates it too; whichever comes
// first), starts CoreDNS on the gateway, publishes it as the kube-dns
// Service, relays a gateway port to the API server and publishes it as the
// endpoint of the default/kubernetes Service, and starts kube-proxy. On
// error what was started is stopped again. ctx bounds the start only.
func Start(ctx context.Context, cfg Config) (_ *Services, err error) {
	if cfg.Network.Bridge == "" {
		cfg.Network = podnet.DefaultConfig()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Services{bridge: cfg.Network.Bridge, log: cfg.Logger, DNSServiceIP: kubenet.MustAddr(kubenet.DNSServiceIP)}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Stop(context.WithoutCancel(ctx)))
		}
	}()
	if _, lerr := netInterface(cfg.Network.Bridge); lerr != nil {
		if err := podnet.EnsureBridge(cfg.Network); err != nil {
			return nil, fmt.Errorf("services: %w", err)
		}
		s.createdBridge = true
	}
	gw := cfg.Network.Gateway()
	began := time.Now()
	s.DNS, err = StartDNS(ctx, DNSConfig{
		Binary:       filepath.Join(cfg.BinDir, BinCoreDNS),
		Kubeconfig:   cfg.Kubeconfig,
		Listen:       netip.AddrPortFrom(gw, DNSPort),
		ReverseCIDRs: []netip.Prefix{cfg.Network.CIDR, kubenet.MustPrefix(kubenet.ServiceCIDR)},
		Dir:          cfg.Dir,
		Logger:       cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	if err := EnsureDNSService(ctx, cfg.Client, s.DNSServiceIP, s.DNS.Addr); err != nil {
		return nil, err
	}
	if !cfg.DisableProxy {
		if err := s.startAPIForwarder(ctx, cfg, gw); err != nil {
			return nil, err
		}
		s.Proxy, err = StartProxy(ctx, ProxyConfig{
			Binary:     filepath.Join(cfg.BinDir, BinKubeProxy),
			Kubeconfig: cfg.Kubeconfig,
			NodeName:   cfg.NodeName,
			Bridge:     cfg.Network.Bridge,
			Gateway:    gw,
			PodCIDR:    cfg.Network.CIDR,
			// The gateway first: kube-proxy's own default, kept so that
			// NodePorts answer where they always did.
			NodePortAddresses: append([]netip.Prefix{netip.PrefixFrom(gw, gw.BitLen())}, cfg.NodePortAddresses...),
			Dir:               cfg.Dir,
			Logger:            cfg.Logger,
		})
		if err != nil {
			return nil, err
		}
	}
	cfg.Logger.Info("services ready", "dns", s.DNS.Addr.String(), "dnsService", s.DNSServiceIP.String(), "proxy", s.Proxy != nil, "took", time.Since(began))
	return s, nil
}

// startAPIForwarder relays a free port of the gateway to the API server
// of cfg.Kubeconfig and makes it the kubernetes Service's endpoint.
func (s *Services) startAPIForwarder(ctx context.Context, cfg Config, gw netip.Addr) error {
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return fmt.Errorf("api service: read %s: %w", cfg.Kubeconfig, err)
	}
	target, err := hostPort(rc.Host)
	if err != nil {
		return fmt.Errorf("api service: %w", err)
	}
	if s.API, err = StartAPIForwarder(netip.AddrPortFrom(gw, 0), target, cfg.Logger); err != nil {
		return err
	}
	if err := EnsureAPIServiceEndpoints(ctx, cfg.Client, s.API.Addr); err != nil {
		return err
	}
	cfg.Logger.Info("API server relayed for pods", "listen", s.API.Addr.String(), "apiserver", target)
	return nil
}

// Stop stops kube-proxy (removing its rules) and CoreDNS, and removes the
// bridge if Start created it and it is still there. Safe on a partly
// started Services.
func (s *Services) Stop(ctx context.Context) error {
	var errs []error
	if s.Proxy != nil {
		errs = append(errs, s.Proxy.Stop(ctx))
		s.Proxy = nil
	}
	if s.API != nil {
		errs = append(errs, s.API.Stop())
		s.API = nil
	}
	if s.DNS != nil {
		errs = append(errs, s.DNS.Stop(ctx))
		s.DNS = nil
	}
	if s.createdBridge {
		if _, err := netInterface(s.bridge); err == nil {
			if err := podnet.DeleteBridge(s.bridge); err != nil {
				errs = append(errs, fmt.Errorf("services: %w", err))
			}
		}
		s.createdBridge = false
	}
	return errors.Join(errs...)
}
