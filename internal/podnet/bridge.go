package podnet

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// EnsureBridge creates the bridge with the gateway address when it is
// missing, adds the address when absent and brings the bridge up. It is
// idempotent, so the launcher and the node agent may both call it.
func EnsureBridge(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	link, err := netlink.LinkByName(cfg.Bridge)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if !errors.As(err, &notFound) {
			return fmt.Errorf("podnet: look up bridge %s: %w", cfg.Bridge, err)
		}
		// The address is given at creation, which pins it: a bridge
		// created without one takes the lowest address among its ports
		// and changes it as pods' veths come and go (see bridgeAddr).
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: cfg.Bridge, HardwareAddr: bridgeAddr(cfg.Bridge)}}
		if err := netlink.LinkAdd(br); err != nil && !errors.Is(err, errExist) {
			return fmt.Errorf("podnet: create bridge %s: %w", cfg.Bridge, err)
		}
		if link, err = netlink.LinkByName(cfg.Bridge); err != nil {
			return fmt.Errorf("podnet: look up new bridge %s: %w", cfg.Bridge, err)
		}
	}
	if _, ok := link.(*netlink.Bridge); !ok {
		return fmt.Errorf("podnet: link %s exists and is a %s, not a bridge", cfg.Bridge, link.Type())
	}
	gw := ipNet(cfg.Gateway(), cfg.CIDR.Bits())
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("podnet: list addresses of %s: %w", cfg.Bridge, err)
	}
	has := false
	for _, a := range addrs {
		if a.IPNet.String() == gw.String() {
			has = true
		}
	}
	if !has {
		if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: gw}); err != nil && !errors.Is(err, errExist) {
			return fmt.Errorf("podnet: add %s to bridge %s: %w", gw, cfg.Bridge, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("podnet: bring bridge %s up: %w", cfg.Bridge, err)
	}
	return nil
}

// bridgeAddr is the bridge's own MAC address: locally administered,
// unicast, derived from its name (a bridge made again after a restart gets
// the same one). Without one, Linux gives the bridge the lowest address of
// its ports and changes it when that port goes, and pods' replies to the
// host were lost for a TCP retransmission timeout (200 ms) each time; see
// docs/design/2026-12-06-pod-bridge-address.md.
func bridgeAddr(name string) net.HardwareAddr {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	sum := h.Sum(nil)
	mac := net.HardwareAddr(sum[:6])
	mac[0] = mac[0]&^0x01 | 0x02 // unicast, locally administered
	return mac
}

// DeleteBridge removes the bridge; a missing bridge is not an error.
func DeleteBridge(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if errors.As(err, &notFound) {
			return nil
		}
		return fmt.Errorf("podnet: look up bridge %s: %w", name, err)
	}
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("podnet: delete bridge %s: %w", name, err)
	}
	return nil
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(bits, a.BitLen())}
}
