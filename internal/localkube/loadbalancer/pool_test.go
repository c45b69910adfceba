package loadbalancer

import (
	"errors"
	"net/netip"
	"testing"
)

func TestPoolHandsOutTheLowestFreeUsableAddress(t *testing.T) {
	p, err := NewPool(netip.MustParsePrefix("10.243.1.0/29"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]netip.Addr{}
	for _, o := range []string{"a", "b", "c", "d", "e", "f"} {
		a, err := p.Allocate(o)
		if err != nil {
			t.Fatalf("allocate %s: %v", o, err)
		}
		got[o] = a
	}
	if got["a"] != netip.MustParseAddr("10.243.1.1") || got["f"] != netip.MustParseAddr("10.243.1.6") {
		t.Errorf("allocations = %v, want .1 to .6 in order", got)
	}
	if _, err := p.Allocate("g"); !errors.Is(err, ErrExhausted) {
		t.Errorf("seventh allocation of a /29: err = %v, want ErrExhausted", err)
	}
	if again, _ := p.Allocate("c"); again != got["c"] {
		t.Errorf("an owner asking again got %s, want its %s", again, got["c"])
	}
	if a, ok := p.Release("c"); !ok || a != got["c"] {
		t.Errorf("Release(c) = %s, %v", a, ok)
	}
	if a, err := p.Allocate("g"); err != nil || a != got["c"] {
		t.Errorf("after a release the next owner got %s, %v; want the freed %s", a, err, got["c"])
	}
}

func TestPoolClaimRefusesTakenAndForeignAddresses(t *testing.T) {
	p, err := NewPool(netip.MustParsePrefix("10.243.1.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Claim("a", netip.MustParseAddr("10.243.1.20")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, addr string }{
		{"an address another Service holds", "10.243.1.20"},
		{"an address outside the pool", "10.243.2.20"},
		{"the network address", "10.243.1.0"},
		{"the broadcast address", "10.243.1.255"},
	} {
		if err := p.Claim("b", netip.MustParseAddr(tc.addr)); err == nil {
			t.Errorf("claiming %s succeeded", tc.name)
		}
	}
	if err := p.Claim("a", netip.MustParseAddr("10.243.1.21")); err != nil {
		t.Fatal(err)
	}
	if err := p.Claim("b", netip.MustParseAddr("10.243.1.20")); err != nil {
		t.Errorf("an owner moving to another address did not free its old one: %v", err)
	}
}
