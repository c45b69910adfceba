package services

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// The default/kubernetes Service, which the API server creates and which
// pods reach the API server through (KUBERNETES_SERVICE_HOST).
const (
	// APIServiceName and APIServiceNamespace name the Service.
	APIServiceName      = "kubernetes"
	APIServiceNamespace = metav1.NamespaceDefault
	// apiSliceName is the EndpointSlice this package writes for it.
	apiSliceName = APIServiceName + "-host"
)

// APIForwarder relays TCP connections from an address pods can reach (the
// bridge gateway) to the API server, which listens on loopback only. The
// bytes pass through untouched: TLS ends at the API server, so its
// certificate (valid for the kubernetes Service's ClusterIP and names) and
// the clients' tokens work as they would against the API server itself.
type APIForwarder struct {
	// Addr is the address it listens on.
	Addr netip.AddrPort

	target string
	ln     net.Listener
	log    *slog.Logger
	wg     sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// StartAPIForwarder listens on addr (port 0: any free port) and relays
// every connection to target (host:port of the API server) until Stop.
func StartAPIForwarder(addr netip.AddrPort, target string, log *slog.Logger) (*APIForwarder, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("api forwarder: listen on %s: %w", addr, err)
	}
	got, err := netip.ParseAddrPort(ln.Addr().String())
	if err != nil {
		return nil, errors.Join(fmt.Errorf("api forwarder: parse %s: %w", ln.Addr(), err), ln.Close())
	}
	f := &APIForwarder{Addr: got, target: target, ln: ln, log: log, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.serve()
	return f, nil
}

func (f *APIForwarder) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				f.log.Error("api forwarder stopped accepting", "err", err)
			}
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.relay(c)
		}()
	}
}

// track adds the relay's two connections to the open ones, for Stop to
// close; false once Stop has begun.
func (f *APIForwarder) track(in, out net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.conns[in], f.conns[out] = struct{}{}, struct{}{}
	return true
}

func (f *APIForwarder) untrack(in, out net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.conns, in)
	delete(f.conns, out)
}

// relay copies both ways between the pod's connection and a new one to
// the API server, and closes both when either side is done.
func (f *APIForwarder) relay(in net.Conn) {
	defer func() { _ = in.Close() }() // a relay has no one to report to
	out, err := net.DialTimeout("tcp", f.target, 10*time.Second)
	if err != nil {
		f.log.Warn("api forwarder cannot reach the API server", "target", f.target, "err", err)
		return
	}
	defer func() { _ = out.Close() }()
	if !f.track(in, out) {
		return
	}
	defer f.untrack(in, out)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src) // ends with either side; both are closed below
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
}

// Stop stops listening, closes the relayed connections and waits for
// their goroutines.
func (f *APIForwarder) Stop() error {
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		_ = c.Close() // tearing down; the peer sees the connection end
	}
	f.mu.Unlock()
	err := f.ln.Close()
	f.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("api forwarder: close listener: %w", err)
	}
	return nil
}

// hostPort returns the host:port of an API server URL.
func hostPort(server string) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("parse API server URL %q: %w", server, err)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "443"), nil
	}
	return u.Host, nil
}

// EnsureAPIServiceEndpoints points the default/kubernetes Service at
// server (the forwarder) with an EndpointSlice managed by ManagedBy, under
// the Service's own port name. The API server creates the Service shortly
// after it starts; this waits up to 30 s for it. (Started with
// --endpoint-reconciler-type=none, the API server writes no endpoints of
// its own: its loopback address would be refused.)
func EnsureAPIServiceEndpoints(ctx context.Context, client kubernetes.Interface, server netip.AddrPort) error {
	var svc *corev1.Service
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		svc, err = client.CoreV1().Services(APIServiceNamespace).Get(ctx, APIServiceName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return fmt.Errorf("api service: get Service %s/%s: %w", APIServiceNamespace, APIServiceName, err)
	}
	if len(svc.Spec.Ports) != 1 {
		return fmt.Errorf("api service: Service %s/%s has %d ports, want 1", APIServiceNamespace, APIServiceName, len(svc.Spec.Ports))
	}
	slice := apiEndpointSlice(svc.Spec.Ports[0].Name, server)
	slices := client.DiscoveryV1().EndpointSlices(APIServiceNamespace)
	cur, err := slices.Get(ctx, slice.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := slices.Create(ctx, slice, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("api service: create EndpointSlice %s/%s: %w", APIServiceNamespace, slice.Name, err)
		}
	case err != nil:
		return fmt.Errorf("api service: get EndpointSlice %s/%s: %w", APIServiceNamespace, slice.Name, err)
	default:
		cur.Labels, cur.AddressType, cur.Endpoints, cur.Ports = slice.Labels, slice.AddressType, slice.Endpoints, slice.Ports
		if _, err := slices.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("api service: update EndpointSlice %s/%s: %w", APIServiceNamespace, slice.Name, err)
		}
	}
	return nil
}

func apiEndpointSlice(portName string, server netip.AddrPort) *discoveryv1.EndpointSlice {
	port := int32(server.Port())
	tcp := corev1.ProtocolTCP
	return hostEndpointSlice(APIServiceNamespace, APIServiceName, apiSliceName, server.Addr(),
		discoveryv1.EndpointPort{Name: &portName, Protocol: &tcp, Port: &port})
}

// hostEndpointSlice is the EndpointSlice, named name, that sends service's
// ports to one ready address on the host.
func hostEndpointSlice(namespace, service, name string, addr netip.Addr, ports ...discoveryv1.EndpointPort) *discoveryv1.EndpointSlice {
	ready := true
	family := discoveryv1.AddressTypeIPv4
	if addr.Is6() {
		family = discoveryv1.AddressTypeIPv6
	}
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: namespace,
			Labels: map[string]string{
				discoveryv1.LabelServiceName: service,
				discoveryv1.LabelManagedBy:   ManagedBy,
			},
		},
		AddressType: family,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{addr.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
		}},
		Ports: ports,
	}
}
