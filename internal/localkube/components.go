package localkube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"

	"k8s.io/client-go/rest"

	"github.com/redkube/redkube/internal/kubenet"
)

// serviceAccountIssuer is the issuer of service-account tokens.
const serviceAccountIssuer = "https://kubernetes.default.svc." + kubenet.ClusterDomain

func loopbackURL(scheme string, port int) string {
	return scheme + "://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

func (c *Cluster) etcdArgs() []string {
	client := loopbackURL("https", c.ports.EtcdClient)
	peer := loopbackURL("http", c.ports.EtcdPeer)
	return []string{
		"--name=localkube",
		"--data-dir=" + c.path(dirEtcd),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		// A single member: the peer listener carries no traffic and stays on
		// loopback.
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=localkube=" + peer,
		"--initial-cluster-state=new",
		"--cert-file=" + c.pki.EtcdServer.Cert,
		"--key-file=" + c.pki.EtcdServer.Key,
		"--trusted-ca-file=" + c.pki.CA.Cert,
		"--client-cert-auth=true",
		// A local cluster's data is disposable; fsync on a shared disk is what
		// makes etcd slow here.
		"--unsafe-no-fsync=true",
		"--logger=zap",
		"--log-level=warn",
	}
}

func (c *Cluster) apiserverArgs() []string {
	args := []string{
		"--etcd-servers=" + loopbackURL("https", c.ports.EtcdClient),
		"--etcd-cafile=" + c.pki.CA.Cert,
		"--etcd-certfile=" + c.pki.APIServerEtcd.Cert,
		"--etcd-keyfile=" + c.pki.APIServerEtcd.Key,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// The default reconciler refuses a loopback advertise address.
		"--endpoint-reconciler-type=none",
		"--secure-port=" + strconv.Itoa(c.ports.APIServer),
		"--cert-dir=" + c.path(dirPKI),
		"--tls-cert-file=" + c.pki.APIServer.Cert,
		"--tls-private-key-file=" + c.pki.APIServer.Key,
		"--client-ca-file=" + c.pki.CA.Cert,
		"--requestheader-client-ca-file=" + c.pki.FrontProxyCA,
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--service-cluster-ip-range=" + kubenet.ServiceCIDR,
		"--service-account-issuer=" + serviceAccountIssuer,
		"--service-account-key-file=" + c.pki.ServiceAccountPub,
		"--service-account-signing-key-file=" + c.pki.ServiceAccountKey,
		// Pod logs: the API server proxies them to the node agent's kubelet
		// endpoint of the pod's node, at the address the agent publishes as
		// the node's ExternalIP (127.0.0.1) and the port in its
		// status.daemonEndpoints.
		"--kubelet-client-certificate=" + c.pki.KubeletClient.Cert,
		"--kubelet-client-key=" + c.pki.KubeletClient.Key,
		"--kubelet-certificate-authority=" + c.pki.CA.Cert,
		"--kubelet-preferred-address-types=ExternalIP,InternalIP,Hostname",
		"--authorization-mode=Node,RBAC",
		// On top of the default admission plugins: nodes may only touch
		// their own Node, Lease and pods, as with a real kubelet.
		"--enable-admission-plugins=NodeRestriction",
		// The launcher registers its nodes already Ready; without this plugin
		// they are not created with the not-ready taint, which the node
		// lifecycle controller would only lift on its next pass (about 5s).
		// A node that stops heartbeating is still tainted as usual.
		"--disable-admission-plugins=TaintNodesByCondition",
		"--allow-privileged=true",
		"--profiling=false",
	}
	if s := c.opts.NotReadyTolerationSeconds; s > 0 {
		args = append(args, "--default-not-ready-toleration-seconds="+strconv.FormatInt(s, 10))
	}
	if s := c.opts.UnreachableTolerationSeconds; s > 0 {
		args = append(args, "--default-unreachable-toleration-seconds="+strconv.FormatInt(s, 10))
	}
	return args
}

// componentServingArgs are the flags controller-manager and scheduler share:
// a loopback HTTPS endpoint with a certificate of our CA, delegated
// authentication and authorization through the API server.
func (c *Cluster) componentServingArgs(kubeconfig string, port int) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + c.pki.ComponentsServing.Cert,
		"--tls-private-key-file=" + c.pki.ComponentsServing.Key,
		"--leader-elect=false",
		"--profiling=false",
	}
}

func (c *Cluster) controllerManagerArgs() []string {
	args := append(c.componentServingArgs(c.path(dirKubeconfigs, "controller-manager.kubeconfig"), c.ports.ControllerManager),
		"--controllers=*",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+c.pki.ServiceAccountKey,
		"--root-ca-file="+c.pki.CA.Cert,
		"--allocate-node-cidrs=false",
		"--cluster-name="+contextName,
	)
	if d := c.opts.NodeMonitorGracePeriod; d > 0 {
		args = append(args, "--node-monitor-grace-period="+d.String())
	}
	if d := c.opts.NodeMonitorPeriod; d > 0 {
		args = append(args, "--node-monitor-period="+d.String())
	}
	return args
}

func (c *Cluster) schedulerArgs() []string {
	return c.componentServingArgs(c.path(dirKubeconfigs, "scheduler.kubeconfig"), c.ports.Scheduler)
}

// tlsClient returns an HTTP client that trusts the cluster CA and, when
// client is set, presents that client certificate.
func (c *Cluster) tlsClient(client *certFiles) (*http.Client, error) {
	caPEM, err := os.ReadFile(c.pki.CA.Cert)
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no certificate in %s", c.pki.CA.Cert)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if client != nil {
		pair, err := tls.LoadX509KeyPair(client.Cert, client.Key)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}, nil
}

// get fetches url with hc and returns the body of a 200 answer.
func get(ctx context.Context, hc *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	// The answer is read in full below; closing a response body only
	// releases the connection and has nothing to report.
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("GET %s: read body: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// etcdHealthy checks etcd's /health endpoint.
func (c *Cluster) etcdHealthy(ctx context.Context) error {
	hc, err := c.tlsClient(&c.pki.APIServerEtcd)
	if err != nil {
		return err
	}
	body, err := get(ctx, hc, loopbackURL("https", c.ports.EtcdClient)+"/health")
	if err != nil {
		return err
	}
	var h struct {
		Health string `json:"health"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return fmt.Errorf("decode etcd health: %w", err)
	}
	if h.Health != "true" {
		return fmt.Errorf("etcd unhealthy: %s", h.Reason)
	}
	return nil
}

// apiserverReady checks the API server's /readyz as the admin.
func (c *Cluster) apiserverReady(ctx context.Context) error {
	hc, err := rest.HTTPClientFor(c.Config)
	if err != nil {
		return fmt.Errorf("admin HTTP client: %w", err)
	}
	_, err = get(ctx, hc, c.APIServerURL+"/readyz")
	return err
}

// componentHealthy returns a check of the /healthz endpoint of the
// controller-manager or scheduler on port.
func (c *Cluster) componentHealthy(port int) func(context.Context) error {
	return func(ctx context.Context) error {
		hc, err := c.tlsClient(nil)
		if err != nil {
			return err
		}
		_, err = get(ctx, hc, loopbackURL("https", port)+"/healthz")
		return err
	}
}
