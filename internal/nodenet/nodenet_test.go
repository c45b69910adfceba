package nodenet_test

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/redkube/redkube/internal/nodenet"
)

func testConfig() nodenet.Config {
	return nodenet.Config{
		Link:             fmt.Sprintf("rknt%d", os.Getpid()%100000),
		CIDR:             netip.MustParsePrefix("10.243.240.0/26"),
		LoadBalancerPool: netip.MustParsePrefix("10.243.240.64/26"),
	}
}

func TestValidateRefusesWhatCannotHoldTheNodes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   func(*nodenet.Config)
		nodes int
	}{
		{"a node CIDR too small for the nodes", func(c *nodenet.Config) { c.CIDR = netip.MustParsePrefix("10.243.240.0/28") }, 5},
		{"a pool overlapping the nodes", func(c *nodenet.Config) { c.LoadBalancerPool = netip.MustParsePrefix("10.243.240.0/24") }, 3},
		{"a link name over 15 bytes", func(c *nodenet.Config) { c.Link = "redkube-nodes-xyz" }, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			tc.cfg(&c)
			if err := c.Validate(tc.nodes); err == nil {
				t.Errorf("Validate(%d) of %+v passed", tc.nodes, c)
			}
		})
	}
	if err := testConfig().Validate(3); err != nil {
		t.Errorf("the test configuration is refused: %v", err)
	}
}

func TestSetupPutsNodeAddressesOnTheHostAndTeardownRemovesThem(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network interfaces)")
	}
	c := testConfig()
	t.Cleanup(func() { _ = nodenet.Teardown(c.Link) })
	if err := nodenet.Setup(c, 3); err != nil {
		t.Fatal(err)
	}
	addrs := ip(t, "-br", "addr", "show", "dev", c.Link)
	for _, want := range []string{"10.243.240.11/26", "10.243.240.12/26", "10.243.240.13/26"} {
		if !strings.Contains(addrs, want) {
			t.Errorf("%s lacks %s: %s", c.Link, want, addrs)
		}
	}
	if routes := ip(t, "route", "show", "dev", c.Link); !strings.Contains(routes, "10.243.240.64/26") || !strings.Contains(routes, "10.243.240.0/26") {
		t.Errorf("node CIDR and pool not routed to %s: %s", c.Link, routes)
	}
	if err := nodenet.Setup(c, 3); err != nil {
		t.Errorf("a second Setup (a launcher restarted over a leftover link) failed: %v", err)
	}
	other := c
	other.Link = c.Link + "b"
	t.Cleanup(func() { _ = nodenet.Teardown(other.Link) })
	if err := nodenet.Setup(other, 3); err == nil || !strings.Contains(err.Error(), "already on "+c.Link) {
		t.Errorf("a second cluster on the same addresses: err = %v, want one naming %s", err, c.Link)
	}
	if err := nodenet.Teardown(c.Link); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ip", "route", "get", "10.243.240.70").CombinedOutput(); err == nil && strings.Contains(string(out), c.Link) {
		t.Errorf("pool still routed to %s after Teardown: %s", c.Link, out)
	}
	if err := nodenet.Teardown(c.Link); err != nil {
		t.Errorf("Teardown of a missing link: %v", err)
	}
}

func TestCleanupStaleRemovesTheLinksOfProcessesThatAreGone(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network interfaces)")
	}
	mine := nodenet.ForProcess("rkns")
	stale := mine
	stale.Link = fmt.Sprintf("rkns-%d", 0x7ffffff0) // no such pid: pid_max is at most 2^22
	stale.CIDR = netip.MustParsePrefix("10.243.241.0/26")
	stale.LoadBalancerPool = netip.MustParsePrefix("10.243.241.64/26")
	for _, c := range []nodenet.Config{mine, stale} {
		t.Cleanup(func() { _ = nodenet.Teardown(c.Link) })
		if err := nodenet.Setup(c, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := nodenet.CleanupStale("rkns"); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ip", "link", "show", stale.Link).CombinedOutput(); err == nil {
		t.Errorf("the stale link survived: %s", out)
	}
	ip(t, "link", "show", mine.Link) // fails the test when gone
}

func ip(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
