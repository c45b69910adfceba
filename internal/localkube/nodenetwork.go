package localkube

import (
	"fmt"
	"net/netip"

	"github.com/redkube/redkube/internal/kubenet"
	"github.com/redkube/redkube/internal/nodenet"
)

// NodeNetwork returns the node network of the cluster (Options.NodeNetwork;
// the zero value when it has none).
func (c *Cluster) NodeNetwork() nodenet.Config { return c.opts.NodeNetwork }

// LoadBalancerPool returns the range the load-balancer controller assigns
// addresses from.
func (c *Cluster) LoadBalancerPool() netip.Prefix { return c.opts.loadBalancerPool() }

// NodeAddresses returns each node's InternalIP (its pods' hostIP), by node
// name: its own address with a node network, the pod bridge's gateway
// otherwise.
func (c *Cluster) NodeAddresses() map[string]netip.Addr {
	m := make(map[string]netip.Addr, len(c.Nodes))
	for i, n := range c.Nodes {
		m[n] = c.nodeAddr(i + 1)
	}
	return m
}

// nodeAddr is the InternalIP of the i-th node (1-based).
func (c *Cluster) nodeAddr(i int) netip.Addr {
	if c.opts.NodeNetwork.Enabled() {
		return c.opts.NodeNetwork.NodeAddr(i)
	}
	return kubenet.MustAddr(kubenet.GatewayIP)
}

// podRoutes are the ranges pods must route to the host beyond the pod
// network's own routes: the node CIDR and the load-balancer pool.
func (c *Cluster) podRoutes() []netip.Prefix {
	if !c.opts.NodeNetwork.Enabled() {
		return nil
	}
	return c.opts.NodeNetwork.Routes()
}

// setupNodeNetwork puts the node addresses on the host.
func (c *Cluster) setupNodeNetwork() error {
	nn := c.opts.NodeNetwork
	if !nn.Enabled() {
		return nil
	}
	if err := nodenet.Setup(nn, len(c.Nodes)); err != nil {
		return fmt.Errorf("node network: %w", err)
	}
	c.nodeNetUp = true
	c.log.Info("node addresses on the host", "link", nn.Link, "cidr", nn.CIDR.String(), "first", nn.NodeAddr(1).String(), "loadBalancerPool", nn.LoadBalancerPool.String())
	return nil
}

// teardownNodeNetwork removes what setupNodeNetwork made.
func (c *Cluster) teardownNodeNetwork() error {
	if !c.nodeNetUp {
		return nil
	}
	c.nodeNetUp = false
	if err := nodenet.Teardown(c.opts.NodeNetwork.Link); err != nil {
		return fmt.Errorf("node network: %w", err)
	}
	return nil
}
