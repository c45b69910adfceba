package podnet_test

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/redkube/redkube/internal/podnet"
)

func TestIPAMHandsOutNewAddressesRoundRobin(t *testing.T) {
	cfg := podnet.Config{Bridge: "x", CIDR: netip.MustParsePrefix("10.245.9.0/29")}
	ipam, err := podnet.NewIPAM(cfg, filepath.Join(t.TempDir(), "ipam.json"))
	if err != nil {
		t.Fatal(err)
	}
	first, err := ipam.Allocate("p1")
	if err != nil {
		t.Fatal(err)
	}
	if first != netip.MustParseAddr("10.245.9.2") {
		t.Errorf("first address = %s, want 10.245.9.2", first)
	}
	if again, _ := ipam.Allocate("p1"); again != first {
		t.Errorf("same owner got %s then %s", first, again)
	}
	if err := ipam.Release(first); err != nil {
		t.Fatal(err)
	}
	second, err := ipam.Allocate("p2")
	if err != nil {
		t.Fatal(err)
	}
	if second == first {
		t.Errorf("a released address was handed out again at once: %s", second)
	}
	// /29: .2 .. .6 usable (.1 gateway, .7 broadcast).
	seen := map[netip.Addr]bool{second: true}
	for i := 3; i <= 5; i++ {
		a, err := ipam.Allocate(fmt.Sprint("p", i))
		if err != nil {
			t.Fatal(err)
		}
		seen[a] = true
	}
	if _, err := ipam.Allocate("p6"); err != nil {
		t.Fatalf("wrap-around to the released address failed: %v", err)
	}
	if _, err := ipam.Allocate("p7"); err == nil {
		t.Error("allocation beyond the subnet succeeded")
	}
	if seen[netip.MustParseAddr("10.245.9.7")] || seen[netip.MustParseAddr("10.245.9.1")] {
		t.Error("gateway or broadcast address allocated")
	}
}
