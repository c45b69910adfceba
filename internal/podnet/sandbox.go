package podnet

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

var errExist = syscall.EEXIST

// Sandbox is one pod's network: a named netns holding eth0 with IP, whose
// veth peer HostVeth is attached to the bridge.
type Sandbox struct {
	// Name is the netns name (a file under Config.NetnsDir).
	Name string `json:"name"`
	// NetnsPath is the bind-mounted netns file; setns(2) it to enter.
	NetnsPath string `json:"netnsPath"`
	// HostVeth is the host-side veth interface name.
	HostVeth string `json:"hostVeth"`
	// IP is the pod's address on the bridge subnet.
	IP netip.Addr `json:"ip"`
}

// HostVethName derives a stable, valid (<= 15 bytes) host interface name
// from a sandbox name.
func HostVethName(sandbox string) string {
	sum := sha256.Sum256([]byte(sandbox))
	return "rkv" + hex.EncodeToString(sum[:])[:11]
}

// CreateSandbox creates the named netns, a veth pair with the host end on the
// bridge and the other end as eth0 holding ip inside the netns, and brings
// lo and eth0 up. On failure it removes what it created.
func CreateSandbox(cfg Config, name string, ip netip.Addr) (sb Sandbox, err error) {
	if err := cfg.Validate(); err != nil {
		return Sandbox{}, err
	}
	if !cfg.CIDR.Contains(ip) {
		return Sandbox{}, fmt.Errorf("podnet: address %s is outside pod CIDR %s", ip, cfg.CIDR)
	}
	sb = Sandbox{Name: name, NetnsPath: filepath.Join(cfg.netnsDir(), name), HostVeth: HostVethName(name), IP: ip}
	defer func() {
		if err != nil {
			_ = DestroySandbox(cfg, sb)
		}
	}()
	if err := newNamedNetns(cfg.netnsDir(), sb.NetnsPath); err != nil {
		return sb, err
	}
	br, err := netlink.LinkByName(cfg.Bridge)
	if err != nil {
		return sb, fmt.Errorf("podnet: look up bridge %s: %w", cfg.Bridge, err)
	}
	peerTmp := "rkp" + sb.HostVeth[3:]
	veth := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: sb.HostVeth, MasterIndex: br.Attrs().Index},
		PeerName:  peerTmp,
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return sb, fmt.Errorf("podnet: create veth %s: %w", sb.HostVeth, err)
	}
	ns, err := netns.GetFromPath(sb.NetnsPath)
	if err != nil {
		return sb, fmt.Errorf("podnet: open netns %s: %w", sb.NetnsPath, err)
	}
	defer func() { _ = ns.Close() }() // a netns handle holds no data; close only frees the fd
	peer, err := netlink.LinkByName(peerTmp)
	if err != nil {
		return sb, fmt.Errorf("podnet: look up veth peer %s: %w", peerTmp, err)
	}
	if err := netlink.LinkSetNsFd(peer, int(ns)); err != nil {
		return sb, fmt.Errorf("podnet: move %s into netns %s: %w", peerTmp, name, err)
	}
	host, err := netlink.LinkByName(sb.HostVeth)
	if err != nil {
		return sb, fmt.Errorf("podnet: look up veth %s: %w", sb.HostVeth, err)
	}
	// Hairpin: with br_netfilter a packet a pod sends to its own Service
	// (kube-proxy DNATs it back to the pod) is bridged out of the port it
	// came in on, which a bridge port drops unless in hairpin mode (what
	// kubelet's hairpin-veth and the CNI bridge plugin's hairpinMode set).
	if err := netlink.LinkSetHairpin(host, true); err != nil {
		return sb, fmt.Errorf("podnet: hairpin mode on %s: %w", sb.HostVeth, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return sb, fmt.Errorf("podnet: bring %s up: %w", sb.HostVeth, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return sb, fmt.Errorf("podnet: netlink handle in netns %s: %w", name, err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return sb, fmt.Errorf("podnet: look up lo in netns %s: %w", name, err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return sb, fmt.Errorf("podnet: bring lo up in netns %s: %w", name, err)
	}
	eth, err := h.LinkByName(peerTmp)
	if err != nil {
		return sb, fmt.Errorf("podnet: look up %s in netns %s: %w", peerTmp, name, err)
	}
	if err := h.LinkSetName(eth, "eth0"); err != nil {
		return sb, fmt.Errorf("podnet: rename %s to eth0 in netns %s: %w", peerTmp, name, err)
	}
	if err := h.AddrAdd(eth, &netlink.Addr{IPNet: ipNet(ip, cfg.CIDR.Bits())}); err != nil {
		return sb, fmt.Errorf("podnet: add %s to eth0 in netns %s: %w", ip, name, err)
	}
	if err := h.LinkSetUp(eth); err != nil {
		return sb, fmt.Errorf("podnet: bring eth0 up in netns %s: %w", name, err)
	}
	for _, r := range cfg.Routes {
		route := &netlink.Route{
			LinkIndex: eth.Attrs().Index,
			Dst:       ipNet(r.Masked().Addr(), r.Bits()),
			Gw:        net.IP(cfg.Gateway().AsSlice()),
		}
		if err := h.RouteAdd(route); err != nil {
			return sb, fmt.Errorf("podnet: route %s via %s in netns %s: %w", r, cfg.Gateway(), name, err)
		}
	}
	return sb, nil
}

// DestroySandbox deletes the host veth (which takes its peer along) and
// unmounts and removes the netns file. Missing pieces are not errors, so it
// can finish a half-done teardown.
func DestroySandbox(cfg Config, sb Sandbox) error {
	var errs []error
	if sb.HostVeth != "" {
		if link, err := netlink.LinkByName(sb.HostVeth); err == nil {
			if err := netlink.LinkDel(link); err != nil {
				errs = append(errs, fmt.Errorf("podnet: delete veth %s: %w", sb.HostVeth, err))
			}
		} else {
			var notFound netlink.LinkNotFoundError
			if !errors.As(err, &notFound) {
				errs = append(errs, fmt.Errorf("podnet: look up veth %s: %w", sb.HostVeth, err))
			}
		}
	}
	if sb.NetnsPath != "" {
		if err := unix.Unmount(sb.NetnsPath, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("podnet: unmount netns %s: %w", sb.NetnsPath, err))
		}
		if err := os.Remove(sb.NetnsPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("podnet: remove netns file %s: %w", sb.NetnsPath, err))
		}
	}
	return errors.Join(errs...)
}

// SandboxAlive reports whether the sandbox's netns file is still a mounted
// namespace and its host veth still exists.
func SandboxAlive(sb Sandbox) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(sb.NetnsPath, &st); err != nil || st.Type != unix.NSFS_MAGIC {
		return false
	}
	_, err := netlink.LinkByName(sb.HostVeth)
	return err == nil
}

// ensureSharedDir makes dir a mount point with shared propagation (as
// iproute2 does for /run/netns), so that unmounting a netns file here also
// unmounts the copies held by pods' private mount namespaces (they are made
// slaves of the host), and a deleted netns is really freed.
func ensureSharedDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("podnet: create %s: %w", dir, err)
	}
	err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("podnet: make %s shared: %w", dir, err)
	}
	// Not a mount point yet: bind it onto itself first.
	if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("podnet: bind %s onto itself: %w", dir, err)
	}
	if err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("podnet: make %s shared: %w", dir, err)
	}
	return nil
}

// CreateNetns creates an empty network namespace (loopback down, no other
// interface) bind-mounted at dir/name, dir being made a shared mount point
// as iproute2 does, and returns its path. DestroySandbox with a Sandbox
// holding only the path removes it.
func CreateNetns(dir, name string) (string, error) {
	path := filepath.Join(dir, name)
	return path, newNamedNetns(dir, path)
}

// newNamedNetns creates a network namespace and bind-mounts it at path.
// The work happens on a dedicated locked OS thread; if that thread cannot
// be put back into the original namespace it is left locked, so the Go
// runtime discards it instead of reusing it.
func newNamedNetns(dir, path string) error {
	if err := ensureSharedDir(dir); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("podnet: create netns file %s: %w", path, err)
	}
	_ = f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("podnet: open current netns: %w", err)
			return
		}
		defer func() { _ = orig.Close() }() // frees the fd of a handle only
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("podnet: unshare netns: %w", err)
			return
		}
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		mountErr := unix.Mount(self, path, "none", unix.MS_BIND, "")
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			errc <- errors.Join(mountErr, fmt.Errorf("podnet: return to original netns: %w", err))
			return
		}
		runtime.UnlockOSThread()
		if mountErr != nil {
			mountErr = fmt.Errorf("podnet: bind netns to %s: %w", path, mountErr)
		}
		errc <- mountErr
	}()
	return <-errc
}

// ListNetns returns the names of netns files under cfg.NetnsDir that start
// with prefix, for cleaning up after a crash.
func ListNetns(cfg Config, prefix string) ([]string, error) {
	entries, err := os.ReadDir(cfg.netnsDir())
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("podnet: list %s: %w", cfg.netnsDir(), err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}
