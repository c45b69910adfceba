package nodenet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/redkube/redkube/internal/kubenet"
)

// routeProtocol tags the load-balancer pool route (the number kube-proxy's
// service-CIDR route of internal/localkube/services uses too).
const routeProtocol = netlink.RouteProtocol(0x7b)

// Config is the host side of the nodes' network.
type Config struct {
	// Link is the port-less bridge holding the node addresses (1..15
	// bytes). Empty means no node network: nodes share the pod bridge's
	// gateway address, as before there was one.
	Link string
	// CIDR holds the node addresses: node i gets kubenet.NodeAddr(CIDR, i).
	CIDR netip.Prefix
	// LoadBalancerPool is the range of Service type LoadBalancer addresses;
	// it is routed to Link. Invalid means none is routed.
	LoadBalancerPool netip.Prefix
}

// DefaultConfig is the node network of `localkube up`: kubenet.NodeCIDR and
// kubenet.LoadBalancerCIDR on kubenet.NodeLinkName.
func DefaultConfig() Config {
	return Config{
		Link:             kubenet.NodeLinkName,
		CIDR:             kubenet.MustPrefix(kubenet.NodeCIDR),
		LoadBalancerPool: kubenet.MustPrefix(kubenet.LoadBalancerCIDR),
	}
}

// Enabled reports whether c describes a node network.
func (c Config) Enabled() bool { return c.Link != "" }

// NodeAddr returns the address of the i-th node (1-based).
func (c Config) NodeAddr(i int) netip.Addr { return kubenet.NodeAddr(c.CIDR, i) }

// Routes are the ranges a network must route to the host to reach the
// nodes and the load balancers: pods and outside clients get these.
func (c Config) Routes() []netip.Prefix {
	routes := []netip.Prefix{c.CIDR.Masked()}
	if c.LoadBalancerPool.IsValid() {
		routes = append(routes, c.LoadBalancerPool.Masked())
	}
	return routes
}

// Validate reports a configuration that cannot hold nodes nodes.
func (c Config) Validate(nodes int) error {
	if len(c.Link) == 0 || len(c.Link) > 15 {
		return fmt.Errorf("nodenet: link name %q must be 1..15 bytes", c.Link)
	}
	if !c.CIDR.IsValid() || !c.CIDR.Addr().Is4() {
		return fmt.Errorf("nodenet: node CIDR %s must be an IPv4 prefix", c.CIDR)
	}
	if last := c.NodeAddr(nodes); !c.CIDR.Contains(last) || last == lastAddr(c.CIDR) {
		return fmt.Errorf("nodenet: node CIDR %s has no room for %d nodes from offset %d", c.CIDR, nodes, kubenet.NodeAddrOffset)
	}
	if c.LoadBalancerPool.IsValid() && c.LoadBalancerPool.Overlaps(c.CIDR) {
		return fmt.Errorf("nodenet: load-balancer pool %s overlaps node CIDR %s", c.LoadBalancerPool, c.CIDR)
	}
	return nil
}

// Setup creates c.Link (a bridge without ports; an existing one of that name is
// reused, as after a killed launcher), gives it the addresses of nodes
// 1..nodes with the node CIDR's prefix length, routes the load-balancer
// pool to it and brings it up. An address already held by another
// interface (another local cluster) is an error. On failure the link is
// deleted again.
func Setup(c Config, nodes int) (err error) {
	if err := c.Validate(nodes); err != nil {
		return err
	}
	if err := checkAddrsFree(c, nodes); err != nil {
		return err
	}
	link, err := ensureLink(c.Link)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, Teardown(c.Link))
		}
	}()
	for i := 1; i <= nodes; i++ {
		a := &netlink.Addr{IPNet: ipNet(c.NodeAddr(i), c.CIDR.Bits())}
		if err := netlink.AddrReplace(link, a); err != nil {
			return fmt.Errorf("nodenet: add %s to %s: %w", a.IPNet, c.Link, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("nodenet: bring %s up: %w", c.Link, err)
	}
	if c.LoadBalancerPool.IsValid() {
		r := &netlink.Route{
			LinkIndex: link.Attrs().Index,
			Dst:       ipNet(c.LoadBalancerPool.Masked().Addr(), c.LoadBalancerPool.Bits()),
			Scope:     netlink.SCOPE_LINK,
			Protocol:  routeProtocol,
		}
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("nodenet: route %s to %s: %w", c.LoadBalancerPool, c.Link, err)
		}
	}
	return nil
}

// Teardown deletes the link with its addresses and routes; a missing link
// is not an error.
func Teardown(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if errors.As(err, &notFound) {
			return nil
		}
		return fmt.Errorf("nodenet: look up %s: %w", name, err)
	}
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("nodenet: delete %s: %w", name, err)
	}
	return nil
}

// ensureLink returns the link name, creating it when missing. It is a
// bridge that never gets ports: this kernel has no dummy driver
// (CONFIG_DUMMY), and a port-less bridge behaves as one, holding addresses
// and swallowing what is routed to it.
func ensureLink(name string) (netlink.Link, error) {
	link, err := netlink.LinkByName(name)
	if err == nil {
		if _, ok := link.(*netlink.Bridge); !ok {
			return nil, fmt.Errorf("nodenet: link %s exists and is a %s, not a bridge", name, link.Type())
		}
		return link, nil
	}
	var notFound netlink.LinkNotFoundError
	if !errors.As(err, &notFound) {
		return nil, fmt.Errorf("nodenet: look up %s: %w", name, err)
	}
	if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("nodenet: create %s: %w", name, err)
	}
	link, err = netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("nodenet: look up new link %s: %w", name, err)
	}
	return link, nil
}

// checkAddrsFree fails when an interface other than c.Link holds a node
// address: two local clusters would otherwise share (and remove) it.
func checkAddrsFree(c Config, nodes int) error {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("nodenet: list host addresses: %w", err)
	}
	want := map[netip.Addr]bool{}
	for i := 1; i <= nodes; i++ {
		want[c.NodeAddr(i)] = true
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || !want[ip.Unmap()] {
			continue
		}
		link, err := netlink.LinkByIndex(a.LinkIndex)
		if err != nil {
			return fmt.Errorf("nodenet: look up the link holding %s: %w", ip, err)
		}
		if link.Attrs().Name != c.Link {
			return fmt.Errorf("nodenet: node address %s is already on %s (another local cluster?)", ip, link.Attrs().Name)
		}
	}
	return nil
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(bits, a.BitLen())}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= (1 << (32 - p.Bits())) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// ForProcess returns a node network private to the calling process, for
// tests that run beside each other and beside `localkube up`: link
// <linkPrefix>-<pid> (the prefix at most 7 bytes; the dash keeps it apart
// from the harness's pod bridges, <prefix><digits>), node CIDR
// 10.243.<n>.0/26 and load-balancer pool 10.243.<n>.64/26 with n = pid mod
// 250 + 3 (0..2 are the defaults'). OutsideRange is the rest of that /24.
// Two processes whose pids agree mod 250 would share addresses: Setup
// refuses the second. CleanupStale(linkPrefix) removes the links of
// processes that are gone.
func ForProcess(linkPrefix string) Config {
	pid := os.Getpid()
	n := byte(pid%250 + 3)
	return Config{
		Link:             fmt.Sprintf("%s-%d", linkPrefix, pid),
		CIDR:             netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 243, n, 0}), 26),
		LoadBalancerPool: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 243, n, 64}), 26),
	}
}

// OutsideRange returns where outside namespaces (internal/localkube/outside)
// of a ForProcess network take their subnets: the upper half of the /24
// holding its node CIDR. For DefaultConfig it is kubenet.OutsideCIDR.
func (c Config) OutsideRange() netip.Prefix {
	if c.CIDR == kubenet.MustPrefix(kubenet.NodeCIDR) {
		return kubenet.MustPrefix(kubenet.OutsideCIDR)
	}
	b := c.CIDR.Masked().Addr().As4()
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{b[0], b[1], b[2], 128}), 25)
}

// CleanupStale deletes the links named <linkPrefix>-<pid> (ForProcess's)
// whose process is gone, with their addresses and routes: what a test
// killed before it could stop its cluster left behind.
func CleanupStale(linkPrefix string) error {
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("nodenet: list links: %w", err)
	}
	var errs []error
	for _, l := range links {
		rest, ok := strings.CutPrefix(l.Attrs().Name, linkPrefix+"-")
		pid, err := strconv.Atoi(rest)
		if !ok || err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		if _, isBridge := l.(*netlink.Bridge); !isBridge {
			continue
		}
		errs = append(errs, Teardown(l.Attrs().Name))
	}
	return errors.Join(errs...)
}

func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
