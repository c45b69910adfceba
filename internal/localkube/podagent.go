package localkube

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/redkube/redkube/internal/nodeagent"
	"github.com/redkube/redkube/internal/podnet"
)

// PodAgent returns a NodeAgentFactory for the full node agent
// (internal/nodeagent), which runs pods as processes in their own network
// namespaces on the pod bridge. base may carry agent settings (image map,
// timings, network); the launcher fills in the nodes, their identities, the
// admin configuration, the agent's state folder, the heartbeat interval,
// the kubelet endpoints' certificates and the logger when base leaves them
// empty, adds the project's images and commands (Options.Binaries)
// that base does not map, and the routes pods need to the node network
// (AgentEnv.PodRoutes) that base's network lacks.
//
// A binary or test that uses it must call podexec.MaybeInit first thing in
// main (or TestMain), and must run as root (network namespaces, mounts).
func PodAgent(base nodeagent.Config) NodeAgentFactory {
	return func(_ context.Context, env AgentEnv) (NodeAgent, error) {
		cfg := base
		if len(cfg.Nodes) == 0 {
			cfg.Nodes = env.Nodes
		}
		if cfg.NodeConfigs == nil {
			cfg.NodeConfigs = env.NodeConfigs
		}
		if cfg.Admin == nil {
			cfg.Admin = env.Admin
		}
		if cfg.StateDir == "" {
			cfg.StateDir = env.StateDir
		}
		if cfg.HeartbeatInterval == 0 {
			cfg.HeartbeatInterval = env.HeartbeatInterval
		}
		if cfg.Logger == nil {
			cfg.Logger = env.Logger
		}
		cfg.Network = withRoutes(cfg.Network, env.PodRoutes)
		cfg.Images = mergeMissing(cfg.Images, env.Images)
		cfg.Commands = mergeMissing(cfg.Commands, env.Commands)
		if cfg.Kubelet.Serving == nil && len(env.Kubelet.Serving) > 0 {
			cfg.Kubelet = nodeagent.KubeletConfig{
				Serving:    make(map[string]nodeagent.TLSFiles, len(env.Kubelet.Serving)),
				ClientCA:   env.Kubelet.ClientCA,
				ClientUser: env.Kubelet.ClientUser,
			}
			for n, f := range env.Kubelet.Serving {
				cfg.Kubelet.Serving[n] = nodeagent.TLSFiles{Cert: f.Cert, Key: f.Key}
			}
		}
		a, err := nodeagent.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("node agent: %w", err)
		}
		return a, nil
	}
}

// withRoutes returns network (podnet.DefaultConfig when unset) with the
// routes of extra it lacks appended; network's own slice is not touched.
func withRoutes(network podnet.Config, extra []netip.Prefix) podnet.Config {
	if network.Bridge == "" {
		network = podnet.DefaultConfig()
	}
	routes := slices.Clone(network.Routes)
	for _, r := range extra {
		if !slices.Contains(routes, r) {
			routes = append(routes, r)
		}
	}
	network.Routes = routes
	return network
}
