package loadbalancer

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrExhausted is returned when no address of the pool is free.
var ErrExhausted = errors.New("no free address in the load-balancer pool")

// Pool hands out the addresses of a prefix, one per owner (a Service's
// namespace/name). It is not safe for concurrent use.
type Pool struct {
	prefix  netip.Prefix
	byAddr  map[netip.Addr]string
	byOwner map[string]netip.Addr
}

// NewPool returns an empty pool of prefix's usable addresses: all of them
// but the first and last (network and broadcast) unless the prefix is a
// /31 or /32.
func NewPool(prefix netip.Prefix) (*Pool, error) {
	if !prefix.IsValid() || !prefix.Addr().Is4() {
		return nil, fmt.Errorf("load-balancer pool %s: want an IPv4 prefix", prefix)
	}
	return &Pool{prefix: prefix.Masked(), byAddr: map[netip.Addr]string{}, byOwner: map[string]netip.Addr{}}, nil
}

// Prefix returns the pool's range.
func (p *Pool) Prefix() netip.Prefix { return p.prefix }

// Contains reports whether a is a usable address of the pool.
func (p *Pool) Contains(a netip.Addr) bool {
	if !p.prefix.Contains(a) {
		return false
	}
	if p.prefix.Bits() >= 31 {
		return true
	}
	return a != p.prefix.Addr() && a != last(p.prefix)
}

// Owned returns owner's address, if it holds one.
func (p *Pool) Owned(owner string) (netip.Addr, bool) {
	a, ok := p.byOwner[owner]
	return a, ok
}

// Claim gives a to owner. It fails when a is not a usable address of the
// pool or another owner holds it; an owner that held another address
// releases it.
func (p *Pool) Claim(owner string, a netip.Addr) error {
	if !p.Contains(a) {
		return fmt.Errorf("%s is not in the load-balancer pool %s", a, p.prefix)
	}
	if o, taken := p.byAddr[a]; taken && o != owner {
		return fmt.Errorf("%s is already assigned to %s", a, o)
	}
	p.Release(owner)
	p.byAddr[a], p.byOwner[owner] = owner, a
	return nil
}

// Allocate gives owner its address, or the lowest free one.
func (p *Pool) Allocate(owner string) (netip.Addr, error) {
	if a, ok := p.byOwner[owner]; ok {
		return a, nil
	}
	for a := p.prefix.Addr(); p.prefix.Contains(a); a = a.Next() {
		if _, taken := p.byAddr[a]; !taken && p.Contains(a) {
			p.byAddr[a], p.byOwner[owner] = owner, a
			return a, nil
		}
	}
	return netip.Addr{}, ErrExhausted
}

// Release frees owner's address and returns it; false when it held none.
func (p *Pool) Release(owner string) (netip.Addr, bool) {
	a, ok := p.byOwner[owner]
	if ok {
		delete(p.byOwner, owner)
		delete(p.byAddr, a)
	}
	return a, ok
}

func last(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= (1 << (32 - p.Bits())) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
