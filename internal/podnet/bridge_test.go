package podnet

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/vishvananda/netlink"
)

// TestBridgeKeepsItsAddressWhilePodsComeAndGo attaches pods whose host
// veths have addresses below the bridge's, then removes them: the bridge's
// address must not follow its ports (a change makes the host flush its
// neighbours and the pods' replies to the host go to an address nobody
// owns).
func TestBridgeKeepsItsAddressWhilePodsComeAndGo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a bridge and network namespaces")
	}
	id := os.Getpid() % 200
	cfg := Config{
		Bridge:   fmt.Sprintf("rkbt%d", os.Getpid()),
		CIDR:     netip.MustParsePrefix(fmt.Sprintf("10.251.%d.0/24", id)),
		NetnsDir: DefaultNetnsDir,
	}
	if err := EnsureBridge(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := DeleteBridge(cfg.Bridge); err != nil {
			t.Error(err)
		}
	})
	addr := func() string {
		t.Helper()
		link, err := netlink.LinkByName(cfg.Bridge)
		if err != nil {
			t.Fatal(err)
		}
		return link.Attrs().HardwareAddr.String()
	}
	want := addr()
	check := func(when string) {
		t.Helper()
		if got := addr(); got != want {
			t.Fatalf("%s: bridge address %s, it was %s", when, got, want)
		}
	}
	var sbs []Sandbox
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("%s-%d", cfg.Bridge, i)
		ip := cfg.Gateway()
		for j := 0; j < i; j++ {
			ip = ip.Next()
		}
		sb, err := CreateSandbox(cfg, name, ip)
		if err != nil {
			t.Fatal(err)
		}
		// Idempotent: a sandbox the test removed is not an error again.
		t.Cleanup(func() {
			if err := DestroySandbox(cfg, sb); err != nil {
				t.Error(err)
			}
		})
		sbs = append(sbs, sb)
		// Lower than any address bridgeAddr makes (its first byte has the
		// locally administered bit set, so it is at least 0x02), and than
		// most random ones.
		veth, err := netlink.LinkByName(HostVethName(name))
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetHardwareAddr(veth, net.HardwareAddr{0x02, 0, 0, 0, 0, byte(i)}); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("after pod %d joined", i))
	}
	for i, sb := range sbs {
		if err := DestroySandbox(cfg, sb); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("after pod %d left", i+1))
	}
}
