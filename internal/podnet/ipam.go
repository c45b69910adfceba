package podnet

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// IPAM allocates pod addresses from a Config's CIDR. Its state lives in one
// JSON file guarded by flock(2), so it survives agent restarts and is safe
// across processes sharing the file. Addresses are handed out round-robin
// (the cursor only moves forward and wraps), so a recreated pod gets a new
// address as long as the subnet is not nearly full.
type IPAM struct {
	cfg  Config
	path string
}

type ipamState struct {
	// Last is the most recently allocated address.
	Last netip.Addr `json:"last"`
	// InUse maps an allocated address to its owner (a pod UID).
	InUse map[netip.Addr]string `json:"inUse"`
}

// NewIPAM returns an allocator whose state is the file path.
func NewIPAM(cfg Config, path string) (*IPAM, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("podnet: create IPAM dir: %w", err)
	}
	return &IPAM{cfg: cfg, path: path}, nil
}

// ErrExhausted is returned when no address of the CIDR is free.
var ErrExhausted = errors.New("podnet: pod CIDR exhausted")

// Allocate returns a free address for owner. An owner that already holds an
// address gets the same one back.
func (p *IPAM) Allocate(owner string) (netip.Addr, error) {
	var got netip.Addr
	err := p.update(func(st *ipamState) error {
		for a, o := range st.InUse {
			if o == owner {
				got = a
				return nil
			}
		}
		first := p.cfg.Gateway().Next()
		prefix := p.cfg.CIDR.Masked()
		bcast := lastAddr(prefix)
		cur := st.Last
		if !cur.IsValid() || !prefix.Contains(cur) {
			cur = p.cfg.Gateway()
		}
		for range 1 << (32 - prefix.Bits()) {
			cur = cur.Next()
			if !prefix.Contains(cur) || cur == bcast {
				cur = first
			}
			if _, used := st.InUse[cur]; !used {
				st.InUse[cur] = owner
				st.Last = cur
				got = cur
				return nil
			}
		}
		return ErrExhausted
	})
	return got, err
}

// Release frees addr; releasing a free address is not an error.
func (p *IPAM) Release(addr netip.Addr) error {
	return p.update(func(st *ipamState) error {
		delete(st.InUse, addr)
		return nil
	})
}

// Claim records addr as owned by owner (used when adopting a sandbox whose
// state survived a restart).
func (p *IPAM) Claim(addr netip.Addr, owner string) error {
	return p.update(func(st *ipamState) error {
		if o, used := st.InUse[addr]; used && o != owner {
			return fmt.Errorf("podnet: %s is held by %s, not %s", addr, o, owner)
		}
		st.InUse[addr] = owner
		return nil
	})
}

// Owners returns a copy of the address -> owner table.
func (p *IPAM) Owners() (map[netip.Addr]string, error) {
	out := map[netip.Addr]string{}
	err := p.update(func(st *ipamState) error {
		for a, o := range st.InUse {
			out[a] = o
		}
		return nil
	})
	return out, err
}

func (p *IPAM) update(fn func(*ipamState) error) error {
	// The lock lives in its own file: the state file is replaced by rename.
	f, err := os.OpenFile(p.path+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("podnet: open IPAM lock %s.lock: %w", p.path, err)
	}
	// The lock file holds no data: closing it only drops the lock, which
	// the kernel does even if close reports an error.
	defer func() { _ = f.Close() }()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("podnet: lock IPAM state %s: %w", p.path, err)
	}
	defer unix.Flock(int(f.Fd()), unix.LOCK_UN) //nolint:errcheck // closing releases it too
	st := ipamState{InUse: map[netip.Addr]string{}}
	data, err := os.ReadFile(p.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("podnet: read IPAM state %s: %w", p.path, err)
	}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &st); err != nil {
			return fmt.Errorf("podnet: decode IPAM state %s: %w", p.path, err)
		}
		if st.InUse == nil {
			st.InUse = map[netip.Addr]string{}
		}
	}
	if err := fn(&st); err != nil {
		return err
	}
	out, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("podnet: encode IPAM state: %w", err)
	}
	tmp := p.path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		return fmt.Errorf("podnet: write IPAM state: %w", err)
	}
	if err := os.Rename(tmp, p.path); err != nil {
		return fmt.Errorf("podnet: replace IPAM state: %w", err)
	}
	return nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := 32 - p.Bits()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= (1 << host) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
