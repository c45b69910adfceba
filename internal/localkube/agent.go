package localkube

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"k8s.io/client-go/rest"
)

// NodeAgent plays kubelet for the cluster's nodes: it keeps their leases and
// Ready condition fresh and (for a full agent such as internal/nodeagent)
// runs the pods bound to them.
type NodeAgent interface {
	// Run serves until ctx is cancelled; it returns nil then.
	Run(ctx context.Context) error
	// StopNode simulates the death of node name: its pods' processes are
	// killed and its heartbeats stop, so the node lifecycle controller marks
	// it NotReady and evicts its pods.
	StopNode(ctx context.Context, name string) error
	// StartNode brings a stopped node back: heartbeats resume and its pods
	// are served again.
	StartNode(ctx context.Context, name string) error
}

// NodeAgentFactory builds the node agent of a starting cluster; Start calls
// it once the control plane is ready and the nodes are registered.
type NodeAgentFactory func(ctx context.Context, env AgentEnv) (NodeAgent, error)

// AgentEnv is what a node agent needs to know about the cluster.
type AgentEnv struct {
	// Nodes are the registered node names, in order.
	Nodes []string
	// Admin is a system:masters client configuration.
	Admin *rest.Config
	// NodeConfigs holds, per node name, a client configuration with the
	// node's own identity (user system:node:<name>, group system:nodes), the
	// one the Node authorizer and NodeRestriction admission expect from a
	// kubelet.
	NodeConfigs map[string]*rest.Config
	// StateDir is a folder reserved for the agent (removed by Stop).
	StateDir string
	// VolumesDir is where the provisioner creates volume directories.
	VolumesDir string
	// HeartbeatInterval is how often the agent should renew leases: the
	// kubelet's 10s, or a fifth of Options.NodeMonitorGracePeriod when that
	// is shorter, so that a short grace period does not make healthy nodes
	// flap.
	HeartbeatInterval time.Duration
	// Logger is the launcher's logger.
	Logger *slog.Logger
	// Kubelet is what the agent needs to serve kubelet endpoints (pod logs)
	// the API server can reach.
	Kubelet KubeletTLS
	// Images and Commands map the project's images and image commands to
	// host binaries (ProjectImages of Options.Binaries); nil when it is
	// empty.
	Images, Commands map[string]string
	// PodRoutes are ranges pods must route to the host besides their
	// network's own routes (the node CIDR and the load-balancer pool of
	// Options.NodeNetwork); nil without a node network.
	PodRoutes []netip.Prefix
}

// KubeletTLS are the PEM files of the kubelet endpoints: per node a serving
// certificate of the cluster CA, the CA that signed the API server's client
// certificate, and the only client identity to accept.
type KubeletTLS struct {
	// Serving holds per node name the serving certificate and key files.
	Serving map[string]TLSFiles
	// ClientCA is the CA file client certificates must chain to.
	ClientCA string
	// ClientUser is the common name of the API server's kubelet client
	// certificate (KubeletClientUser).
	ClientUser string
}

// TLSFiles are the paths of a PEM certificate and its key.
type TLSFiles struct {
	Cert, Key string
}

// DefaultHeartbeatInterval is the kubelet's lease renewal interval.
const DefaultHeartbeatInterval = 10 * time.Second

// heartbeatInterval returns the interval agents should renew leases at for
// a node monitor grace period (0 meaning the Kubernetes default).
func heartbeatInterval(grace time.Duration) time.Duration {
	if grace > 0 && grace/5 < DefaultHeartbeatInterval {
		return grace / 5
	}
	return DefaultHeartbeatInterval
}
