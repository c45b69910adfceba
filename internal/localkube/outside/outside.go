package outside

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/redkube/redkube/internal/kubenet"
	"github.com/redkube/redkube/internal/podnet"
)

// DefaultPrefix starts the names of outside namespaces and their host veths.
// Namespaces are named <prefix>-<pid>-<n>: a pod's namespace is
// <bridge>-<pod UID>, so neither the node agent's orphan cleanup nor
// CleanupStale mistakes one kind for the other.
const DefaultPrefix = "rkout"

// Config configures New.
type Config struct {
	// Prefix starts the namespace's name (<Prefix>-<pid>-<n>) and its host
	// veth's; 1..6 letters. Empty means DefaultPrefix.
	Prefix string
	// CIDR is the namespace's subnet, a /30 or larger: the host end of the
	// veth pair gets its first address, the namespace its second. Invalid
	// means kubenet.OutsideCIDR.
	CIDR netip.Prefix
	// Routes are the only ranges the namespace routes, all to the host end;
	// nodenet.Config.Routes gives the node CIDR and the load-balancer pool.
	Routes []netip.Prefix
}

// Namespace is a running outside network namespace.
type Namespace struct {
	// Name is the namespace's name (`ip netns exec <Name>`).
	Name string
	// Path is its bind-mounted file.
	Path string
	// HostVeth is the host end of its veth pair.
	HostVeth string
	// HostAddr is the host end's address, the namespace's next hop.
	HostAddr netip.Addr
	// Addr is the namespace's address.
	Addr netip.Addr

	closed atomic.Bool
}

var seq atomic.Int64

// New removes stale namespaces of cfg.Prefix, then creates a namespace
// with lo up, eth0 holding the second address of cfg.CIDR and a route to
// each of cfg.Routes via the first, which the host end holds. Forwarding is
// enabled on the host end only (net.ipv4.conf.<veth>.forwarding), so the
// host forwards what the namespace sends to kube-proxy's DNAT targets. On
// failure what was made is removed.
func New(cfg Config) (_ *Namespace, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := CleanupStale(cfg.Prefix); err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s-%d-%d", cfg.Prefix, os.Getpid(), seq.Add(1))
	hostAddr := cfg.CIDR.Masked().Addr().Next()
	n := &Namespace{Name: name, HostVeth: vethName(cfg.Prefix, name), HostAddr: hostAddr, Addr: hostAddr.Next()}
	defer func() {
		if err != nil {
			err = errors.Join(err, n.Close())
		}
	}()
	if n.Path, err = podnet.CreateNetns(podnet.DefaultNetnsDir, name); err != nil {
		return nil, fmt.Errorf("outside: %w", err)
	}
	if err := n.wire(cfg); err != nil {
		return nil, err
	}
	return n, nil
}

func (c Config) withDefaults() (Config, error) {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if !c.CIDR.IsValid() {
		c.CIDR = kubenet.MustPrefix(kubenet.OutsideCIDR)
	}
	switch {
	case len(c.Prefix) > 6 || strings.Trim(c.Prefix, "abcdefghijklmnopqrstuvwxyz") != "":
		return c, fmt.Errorf("outside: prefix %q must be 1..6 lower-case letters", c.Prefix)
	case !c.CIDR.Addr().Is4() || c.CIDR.Bits() > 30:
		return c, fmt.Errorf("outside: subnet %s must be an IPv4 /30 or larger", c.CIDR)
	case len(c.Routes) == 0:
		return c, errors.New("outside: no routes: the namespace would reach nothing")
	}
	return c, nil
}

// wire creates the veth pair, addresses both ends, routes cfg.Routes and
// enables forwarding on the host end.
func (n *Namespace) wire(cfg Config) error {
	peerTmp := n.HostVeth + "p"
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: n.HostVeth}, PeerName: peerTmp}); err != nil {
		return fmt.Errorf("outside: create veth %s: %w", n.HostVeth, err)
	}
	host, err := netlink.LinkByName(n.HostVeth)
	if err != nil {
		return fmt.Errorf("outside: look up %s: %w", n.HostVeth, err)
	}
	if err := netlink.AddrAdd(host, &netlink.Addr{IPNet: ipNet(n.HostAddr, cfg.CIDR.Bits())}); err != nil {
		return fmt.Errorf("outside: add %s to %s: %w", n.HostAddr, n.HostVeth, err)
	}
	if err := os.WriteFile(filepath.Join("/proc/sys/net/ipv4/conf", n.HostVeth, "forwarding"), []byte("1"), 0o644); err != nil {
		return fmt.Errorf("outside: enable forwarding on %s: %w", n.HostVeth, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("outside: bring %s up: %w", n.HostVeth, err)
	}
	ns, err := netns.GetFromPath(n.Path)
	if err != nil {
		return fmt.Errorf("outside: open netns %s: %w", n.Name, err)
	}
	defer func() { _ = ns.Close() }() // a netns handle holds no data; close only frees the fd
	peer, err := netlink.LinkByName(peerTmp)
	if err != nil {
		return fmt.Errorf("outside: look up %s: %w", peerTmp, err)
	}
	if err := netlink.LinkSetNsFd(peer, int(ns)); err != nil {
		return fmt.Errorf("outside: move %s into %s: %w", peerTmp, n.Name, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("outside: netlink handle in %s: %w", n.Name, err)
	}
	defer h.Close()
	return n.configureInside(h, peerTmp, cfg)
}

// configureInside brings lo and eth0 up in the namespace, addresses eth0
// and adds the routes.
func (n *Namespace) configureInside(h *netlink.Handle, peer string, cfg Config) error {
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("outside: look up lo in %s: %w", n.Name, err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("outside: bring lo up in %s: %w", n.Name, err)
	}
	eth, err := h.LinkByName(peer)
	if err != nil {
		return fmt.Errorf("outside: look up %s in %s: %w", peer, n.Name, err)
	}
	if err := h.LinkSetName(eth, "eth0"); err != nil {
		return fmt.Errorf("outside: rename %s to eth0 in %s: %w", peer, n.Name, err)
	}
	if err := h.AddrAdd(eth, &netlink.Addr{IPNet: ipNet(n.Addr, cfg.CIDR.Bits())}); err != nil {
		return fmt.Errorf("outside: add %s to eth0 in %s: %w", n.Addr, n.Name, err)
	}
	if err := h.LinkSetUp(eth); err != nil {
		return fmt.Errorf("outside: bring eth0 up in %s: %w", n.Name, err)
	}
	for _, r := range cfg.Routes {
		route := &netlink.Route{LinkIndex: eth.Attrs().Index, Dst: ipNet(r.Masked().Addr(), r.Bits()), Gw: net.IP(n.HostAddr.AsSlice())}
		if err := h.RouteAdd(route); err != nil {
			return fmt.Errorf("outside: route %s via %s in %s: %w", r, n.HostAddr, n.Name, err)
		}
	}
	return nil
}

// DialContext connects to addr (an IP and port; names are resolved in the
// host's namespace) from inside the namespace. Its signature is go-redis's
// Options.Dialer and net.Dialer.DialContext's.
func (n *Namespace) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		conn, err := n.dialInside(ctx, network, addr)
		done <- result{conn, err}
	}()
	r := <-done
	return r.conn, r.err
}

// dialInside runs on its own goroutine: it locks the goroutine to its OS
// thread, moves the thread into the namespace, dials (the socket is made
// on this thread, so in the namespace) and moves the thread back. A thread
// that cannot be moved back stays locked, so the runtime ends it with the
// goroutine instead of reusing it.
func (n *Namespace) dialInside(ctx context.Context, network, addr string) (net.Conn, error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("outside: open the thread's netns: %w", err)
	}
	defer func() { _ = orig.Close() }() // frees the fd of a handle only
	target, err := netns.GetFromPath(n.Path)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("outside: open netns %s: %w", n.Name, err)
	}
	defer func() { _ = target.Close() }()
	if err := netns.Set(target); err != nil {
		// A failed setns(2) leaves the thread where it was.
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("outside: enter %s: %w", n.Name, err)
	}
	var d net.Dialer
	conn, dialErr := d.DialContext(ctx, network, addr)
	if err := netns.Set(orig); err != nil {
		if conn != nil {
			_ = conn.Close() // the dial's result is dropped with this thread
		}
		return nil, fmt.Errorf("outside: return from %s: %w", n.Name, err)
	}
	runtime.UnlockOSThread()
	if dialErr != nil {
		return nil, fmt.Errorf("outside: dial %s from %s: %w", addr, n.Name, dialErr)
	}
	return conn, nil
}

// Command returns a command running name with args inside the namespace
// (through `ip netns exec`), e.g. redis-cli against a node address.
func (n *Namespace) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Close deletes the veth pair and the namespace. It is safe to call more
// than once.
func (n *Namespace) Close() error {
	if n.closed.Swap(true) {
		return nil
	}
	return destroy(n.Name, n.Path, n.HostVeth)
}

// CleanupStale removes the outside namespaces named with prefix
// (<prefix>-<pid>-<n>) whose process is gone, with their veth pairs.
func CleanupStale(prefix string) error {
	names, err := podnet.ListNetns(podnet.Config{NetnsDir: podnet.DefaultNetnsDir}, prefix+"-")
	if err != nil {
		return fmt.Errorf("outside: %w", err)
	}
	var errs []error
	for _, name := range names {
		pid, ok := ownerPID(prefix, name)
		if !ok || processAlive(pid) {
			continue
		}
		errs = append(errs, destroy(name, filepath.Join(podnet.DefaultNetnsDir, name), vethName(prefix, name)))
	}
	return errors.Join(errs...)
}

func destroy(name, path, veth string) error {
	sb := podnet.Sandbox{Name: name, NetnsPath: path, HostVeth: veth}
	if err := podnet.DestroySandbox(podnet.Config{}, sb); err != nil {
		return fmt.Errorf("outside: remove %s: %w", name, err)
	}
	return nil
}

// ownerPID parses <prefix>-<pid>-<n>; anything else (a pod's
// <bridge>-<uid>) is not an outside namespace.
func ownerPID(prefix, name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, prefix+"-")
	if !ok {
		return 0, false
	}
	p, n, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(p)
	if _, nerr := strconv.Atoi(n); err != nil || nerr != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// vethName derives the host veth's name (at most 15 bytes, and 14 so the
// temporary peer name may add a byte) from the namespace's.
func vethName(prefix, name string) string {
	sum := sha256.Sum256([]byte(name))
	return prefix + hex.EncodeToString(sum[:])[:14-len(prefix)]
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(bits, a.BitLen())}
}
