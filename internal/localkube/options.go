package localkube

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/redkube/redkube/internal/kubenet"
	"github.com/redkube/redkube/internal/nodenet"
)

// EnvBinDir names the environment variable holding the folder with the
// control-plane binaries (the last line printed by hack/build-k8s.sh). It is
// read when Options.BinDir is empty.
const EnvBinDir = "REDKUBE_K8S_BIN"

// Binary names expected in the binary folder.
const (
	binEtcd              = "etcd"
	binAPIServer         = "kube-apiserver"
	binControllerManager = "kube-controller-manager"
	binScheduler         = "kube-scheduler"
)

// Component names, used for log files, PID records and status.
const (
	ComponentEtcd              = "etcd"
	ComponentAPIServer         = "kube-apiserver"
	ComponentControllerManager = "kube-controller-manager"
	ComponentScheduler         = "kube-scheduler"
)

// Zones are assigned to nodes round-robin (node-1 in zone-a, node-2 in
// zone-b, ...), as topology.kubernetes.io/zone labels.
var Zones = []string{"zone-a", "zone-b", "zone-c"}

// Defaults of Options.
const (
	DefaultNodes       = 3
	DefaultStopTimeout = 10 * time.Second
	// DefaultStartTimeout bounds Start when the caller's context has no
	// deadline.
	DefaultStartTimeout = 2 * time.Minute
)

// NodeCapacity is the capacity (and allocatable) every registered node
// reports.
var NodeCapacity = struct {
	CPU, Memory, Pods string
}{CPU: "4", Memory: "8Gi", Pods: "110"}

// Options configures Start. The zero value is a usable 3-node cluster in a
// temporary folder with Kubernetes' default timings, provided the binaries
// are found through EnvBinDir.
type Options struct {
	// BinDir holds etcd, kube-apiserver, kube-controller-manager and
	// kube-scheduler. Empty means $REDKUBE_K8S_BIN, then the newest folder
	// built by hack/build-k8s.sh (see FindBinDir).
	BinDir string
	// StateDir holds the PKI, kubeconfigs, etcd data, logs, PID records and
	// provisioned volumes. Empty means a new temporary folder. Stop removes
	// the folder if Start created it, and otherwise only what Start wrote
	// into it.
	StateDir string
	// Nodes is the number of Node objects to register (node-1 … node-N);
	// 0 means DefaultNodes.
	Nodes int
	// ReuseState starts the cluster kept in StateDir by Cluster.StopKeepState
	// (or left by a launcher that died) again on its state: the same PKI,
	// etcd data, volumes, agent folder and loopback ports; the nodes are
	// registered again under the same names. Without it, Start refuses a
	// StateDir that holds a cluster. With it, StateDir must hold one whose
	// processes have all exited.
	ReuseState bool

	// NodeMonitorGracePeriod is how long the node lifecycle controller waits
	// for a node's heartbeat before marking it NotReady
	// (--node-monitor-grace-period). 0 keeps the Kubernetes default (50s).
	NodeMonitorGracePeriod time.Duration
	// NodeMonitorPeriod is how often the node lifecycle controller checks
	// nodes (--node-monitor-period). 0 keeps the Kubernetes default (5s).
	NodeMonitorPeriod time.Duration
	// NotReadyTolerationSeconds and UnreachableTolerationSeconds are the
	// tolerations the DefaultTolerationSeconds admission plugin adds to pods
	// for the not-ready and unreachable taints: how long pods stay on a dead
	// node before eviction. 0 keeps the Kubernetes default (300s).
	NotReadyTolerationSeconds    int64
	UnreachableTolerationSeconds int64

	// Binaries is the folder holding the project's own binaries (manager,
	// redkube-exporter; `make build` writes them to ./bin). When set, the
	// node agent runs the operator image and the exporter command from
	// it (ProjectImages); entries of the agent's own image and command
	// maps win. Empty maps none of them.
	Binaries string

	// NodeAgent, when set, is started once the nodes are registered and
	// stopped first by Stop. It plays kubelet for the nodes (leases, Ready,
	// pods). Nil means no agent runs: the nodes stay Ready only until the
	// node lifecycle controller's grace period ends. HeartbeatAgent is a
	// minimal agent that keeps nodes Ready and runs no pods.
	NodeAgent NodeAgentFactory
	// DisableProvisioner leaves out the in-process directory volume
	// provisioner (and the default StorageClass).
	DisableProvisioner bool

	// NodeNetwork gives every node an address of its own on the host
	// (internal/nodenet; needs root): node i's InternalIP and its pods'
	// hostIP become NodeNetwork.NodeAddr(i), pods route the node CIDR and
	// the load-balancer pool to the host, and Stop removes the addresses.
	// The zero value (no Link) keeps every node on the pod bridge's
	// gateway address. nodenet.DefaultConfig() is `localkube up`'s.
	NodeNetwork nodenet.Config
	// DisableLoadBalancer leaves out the in-process load-balancer
	// controller (internal/localkube/loadbalancer), which otherwise
	// assigns Services of type LoadBalancer addresses from
	// NodeNetwork.LoadBalancerPool (kubenet.LoadBalancerCIDR when that is
	// unset).
	DisableLoadBalancer bool

	// StopTimeout is how long each process gets to exit after SIGTERM before
	// it is killed; 0 means DefaultStopTimeout.
	StopTimeout time.Duration
	// ExtraArgs adds command-line flags per component (keyed by the
	// Component* names), after the launcher's own.
	ExtraArgs map[string][]string
	// Logger receives the launcher's structured logs; nil discards them.
	Logger *slog.Logger
}

// withDefaults validates o and fills in the defaults.
func (o Options) withDefaults() (Options, error) {
	if o.Nodes == 0 {
		o.Nodes = DefaultNodes
	}
	if o.Nodes < 0 {
		return o, fmt.Errorf("invalid node count %d", o.Nodes)
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = DefaultStopTimeout
	}
	if o.NodeMonitorGracePeriod < 0 || o.NodeMonitorPeriod < 0 || o.NotReadyTolerationSeconds < 0 || o.UnreachableTolerationSeconds < 0 {
		return o, errors.New("negative node monitor or toleration setting")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.NodeNetwork.Enabled() {
		if err := o.NodeNetwork.Validate(o.Nodes); err != nil {
			return o, err
		}
	}
	if o.BinDir == "" {
		dir, err := FindBinDir()
		if err != nil {
			return o, err
		}
		o.BinDir = dir
	}
	abs, err := filepath.Abs(o.BinDir)
	if err != nil {
		return o, fmt.Errorf("resolve binary folder: %w", err)
	}
	o.BinDir = abs
	if o.Binaries != "" {
		if o.Binaries, err = filepath.Abs(o.Binaries); err != nil {
			return o, fmt.Errorf("resolve the project's binary folder: %w", err)
		}
	}
	for _, b := range []string{binEtcd, binAPIServer, binControllerManager, binScheduler} {
		if err := checkExecutable(filepath.Join(o.BinDir, b)); err != nil {
			return o, err
		}
	}
	return o, nil
}

// NodeName returns the name of the i-th node (1-based): node-1, node-2, ...
func NodeName(i int) string { return fmt.Sprintf("node-%d", i) }

// NodeZone returns the zone of the i-th node (1-based), round-robin over
// Zones.
func NodeZone(i int) string { return Zones[(i-1)%len(Zones)] }

func checkExecutable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("control-plane binary: %w", err)
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("control-plane binary %s is not executable", path)
	}
	return nil
}

// loadBalancerPool is the range the load-balancer controller assigns from.
func (o Options) loadBalancerPool() netip.Prefix {
	if o.NodeNetwork.LoadBalancerPool.IsValid() {
		return o.NodeNetwork.LoadBalancerPool
	}
	return kubenet.MustPrefix(kubenet.LoadBalancerCIDR)
}
