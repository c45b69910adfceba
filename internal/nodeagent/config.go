package nodeagent

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"

	"github.com/redkube/redkube/internal/kubenet"
	"github.com/redkube/redkube/internal/podnet"
)

// Config configures an Agent. Only Nodes, a client configuration and
// StateDir are required.
type Config struct {
	// Nodes are the Node names this agent serves (registered by the
	// launcher).
	Nodes []string
	// NodeConfigs holds per node a client configuration with the node's
	// own identity (system:node:<name>); nodes without one use Admin.
	NodeConfigs map[string]*rest.Config
	// Admin is the fallback client configuration.
	Admin *rest.Config
	// StateDir holds per-pod state, volumes and container logs.
	StateDir string

	// Network is the pod bridge and subnet (podnet.DefaultConfig when the
	// bridge name is empty).
	Network podnet.Config
	// DeleteBridgeOnExit removes the bridge when Run returns (unless
	// KeepPodsOnExit).
	DeleteBridgeOnExit bool
	// KeepPodsOnExit leaves the pods running when Run returns, as a kubelet
	// restart does; the next Agent on the same StateDir adopts them. By
	// default Run kills them and removes their namespaces.
	KeepPodsOnExit bool

	// Nameservers go into every pod's resolv.conf (the cluster DNS).
	// Empty means kubenet.DNSServiceIP.
	Nameservers []string
	// ClusterDomain is the DNS domain (kubenet.ClusterDomain when empty).
	ClusterDomain string
	// APIServer is the address:port containers see as
	// KUBERNETES_SERVICE_HOST/PORT (kubenet.APIServiceIP:443 when invalid).
	APIServer netip.AddrPort

	// Images maps an image name to a host binary run when the container
	// has no command. Keys match the image's repository base name without
	// tag or digest ("redis" matches "redis", "redis:7", "docker.io/library/
	// redis@sha256:..."); a key with a '/' or ':' must equal the whole
	// image reference. Values are absolute paths or names looked up in
	// PATH. DefaultImages are used for names not in the map.
	Images map[string]string
	// Commands maps a command name (command[0] or its base name) to a host
	// binary; names not in it are looked up in PATH.
	Commands map[string]string

	// HeartbeatInterval is how often leases are renewed and the Ready
	// condition checked (10s when zero).
	HeartbeatInterval time.Duration
	// LeaseDuration is the Lease's leaseDurationSeconds (40s when zero).
	LeaseDuration time.Duration
	// StatusReportInterval is how often an unchanged Ready condition gets a
	// fresh lastHeartbeatTime (1m when zero).
	StatusReportInterval time.Duration
	// BackoffInitial and BackoffMax bound the crash restart back-off
	// (10s and 5m, like kubelet, when zero).
	BackoffInitial time.Duration
	BackoffMax     time.Duration
	// RetryInterval is how soon a pod whose setup failed (volumes, sandbox)
	// is tried again (5s when zero).
	RetryInterval time.Duration
	// VolumeRefreshInterval is how often ConfigMap, Secret, downward API
	// and projected volume files are rewritten from the API (1m when zero).
	VolumeRefreshInterval time.Duration
	// ShutdownGrace is how long Run waits for containers to exit after
	// SIGTERM when it kills pods on exit (2s when zero).
	ShutdownGrace time.Duration

	// Kubelet configures the nodes' kubelet endpoints, which serve
	// container logs to the API server. Nodes without a serving
	// certificate in it get no endpoint.
	Kubelet KubeletConfig

	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
}

// KubeletConfig configures the per-node kubelet endpoints (HTTPS, one port
// per node, chosen free at start and published in the Node's
// status.daemonEndpoints.kubeletEndpoint.Port).
type KubeletConfig struct {
	// Serving holds per node name the PEM serving certificate and key.
	Serving map[string]TLSFiles
	// ClientCA is the PEM CA file clients' certificates must chain to.
	ClientCA string
	// ClientUser is the only client certificate common name accepted (the
	// API server's kubelet client identity); others get 403.
	ClientUser string
	// Address is the address the endpoints listen on (127.0.0.1 when
	// invalid). The agent publishes it as the node's ExternalIP, which
	// kube-apiserver is told to prefer (--kubelet-preferred-address-types).
	Address netip.Addr
}

// TLSFiles are the paths of a PEM certificate and its private key.
type TLSFiles struct {
	Cert, Key string
}

// DefaultImages is the built-in image map: Redis images run redis-server.
var DefaultImages = map[string]string{
	"redis": "redis-server",
}

// withDefaults validates c and fills in defaults.
func (c Config) withDefaults() (Config, error) {
	if len(c.Nodes) == 0 {
		return c, errors.New("nodeagent: no nodes to serve")
	}
	for _, n := range c.Nodes {
		if c.NodeConfigs[n] == nil && c.Admin == nil {
			return c, fmt.Errorf("nodeagent: no client configuration for node %s", n)
		}
	}
	if c.StateDir == "" {
		return c, errors.New("nodeagent: no state folder")
	}
	abs, err := filepath.Abs(c.StateDir)
	if err != nil {
		return c, fmt.Errorf("nodeagent: resolve state folder: %w", err)
	}
	c.StateDir = abs
	if c.Network.Bridge == "" {
		c.Network = podnet.DefaultConfig()
	}
	if err := c.Network.Validate(); err != nil {
		return c, err
	}
	if len(c.Nameservers) == 0 {
		c.Nameservers = []string{kubenet.DNSServiceIP}
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = kubenet.ClusterDomain
	}
	if !c.APIServer.IsValid() {
		c.APIServer = netip.AddrPortFrom(kubenet.MustAddr(kubenet.APIServiceIP), 443)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.HeartbeatInterval, 10*time.Second)
	def(&c.LeaseDuration, 40*time.Second)
	def(&c.StatusReportInterval, time.Minute)
	def(&c.BackoffInitial, 10*time.Second)
	def(&c.BackoffMax, 5*time.Minute)
	def(&c.RetryInterval, 5*time.Second)
	def(&c.ShutdownGrace, 2*time.Second)
	def(&c.VolumeRefreshInterval, time.Minute)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if len(c.Kubelet.Serving) > 0 {
		if c.Kubelet.ClientCA == "" || c.Kubelet.ClientUser == "" {
			return c, errors.New("nodeagent: kubelet endpoints need a client CA and a client user")
		}
		if !c.Kubelet.Address.IsValid() {
			c.Kubelet.Address = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
	}
	return c, nil
}

// imageBase returns the repository base name of an image reference:
// "docker.io/library/redis:7.2@sha256:..." -> "redis".
func imageBase(image string) string {
	ref := image
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	base := path.Base(ref)
	if i := strings.Index(base, ":"); i >= 0 {
		base = base[:i]
	}
	return base
}

// errImageNotMapped says an image has no host binary, or its binary is
// missing on the node.
var errImageNotMapped = errors.New("image not mapped to a host binary")

// resolveImage returns the host binary an image runs when the container has
// no command.
func (c Config) resolveImage(image string) (string, error) {
	bin, ok := c.Images[image]
	if !ok {
		bin, ok = c.Images[imageBase(image)]
	}
	if !ok {
		bin, ok = DefaultImages[imageBase(image)]
	}
	if !ok {
		return "", fmt.Errorf("%w: image %q has no entry in the node agent's image map and the container has no command", errImageNotMapped, image)
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("%w: image %q maps to the host binary %q, which is missing or not executable: %w", errImageNotMapped, image, bin, err)
	}
	return p, nil
}

// resolveCommand returns the host binary for a container's command[0]. A
// name in Config.Commands (whole or by base name) runs the mapped binary
// and nothing else: when that is missing the container fails, instead of
// running whatever the PATH holds under the same name.
func (c Config) resolveCommand(name string) (string, error) {
	mapped, ok := c.Commands[name]
	if !ok {
		mapped, ok = c.Commands[path.Base(name)]
	}
	if ok {
		p, err := exec.LookPath(mapped)
		if err != nil {
			return "", fmt.Errorf("exec: %q maps to the host binary %q, which is missing or not executable: %w", name, mapped, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	// An absolute path from an image ("/usr/local/bin/redis-server") maps
	// to the host binary of the same name.
	p, err := exec.LookPath(path.Base(name))
	if err != nil {
		return "", fmt.Errorf("exec: %q: executable file not found on the node: %w", name, err)
	}
	return p, nil
}
