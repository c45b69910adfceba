package podnet

import (
	"fmt"
	"net/netip"

	"github.com/redkube/redkube/internal/kubenet"
)

// DefaultNetnsDir is where named network namespaces are bind-mounted; it is
// the directory iproute2 uses, so `ip netns exec <name>` works for debugging.
const DefaultNetnsDir = "/run/netns"

// Config names the bridge and the subnet pods are attached to.
type Config struct {
	// Bridge is the Linux bridge name (at most 15 bytes).
	Bridge string
	// CIDR is the pod subnet; the bridge holds its first address (Gateway).
	CIDR netip.Prefix
	// NetnsDir is where named netns files live (DefaultNetnsDir when empty).
	NetnsDir string
	// Routes are sent from inside each pod to the gateway (the host), e.g.
	// the Service CIDR so pods reach ClusterIPs such as the cluster DNS.
	// There is no default route: nothing else leaves the bridge subnet.
	Routes []netip.Prefix
}

// DefaultConfig is the local cluster's pod network (package kubenet).
func DefaultConfig() Config {
	return Config{
		Bridge:   kubenet.BridgeName,
		CIDR:     kubenet.MustPrefix(kubenet.PodCIDR),
		NetnsDir: DefaultNetnsDir,
		Routes:   []netip.Prefix{kubenet.MustPrefix(kubenet.ServiceCIDR)},
	}
}

// Gateway is the bridge's own address: the first host address of CIDR.
func (c Config) Gateway() netip.Addr { return c.CIDR.Masked().Addr().Next() }

func (c Config) netnsDir() string {
	if c.NetnsDir == "" {
		return DefaultNetnsDir
	}
	return c.NetnsDir
}

// Validate reports a configuration the functions of this package cannot use.
func (c Config) Validate() error {
	if c.Bridge == "" || len(c.Bridge) > 15 {
		return fmt.Errorf("podnet: bridge name %q must be 1..15 bytes", c.Bridge)
	}
	if !c.CIDR.IsValid() || !c.CIDR.Addr().Is4() || c.CIDR.Bits() > 30 {
		return fmt.Errorf("podnet: pod CIDR %s must be an IPv4 prefix of /30 or larger", c.CIDR)
	}
	return nil
}
