package outside_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redkube/redkube/internal/localkube/outside"
	"github.com/redkube/redkube/internal/nodenet"
	"github.com/redkube/redkube/internal/podnet"
)

// testNet is a node network of this test process (link rkot<pid>); the
// namespaces take /30s of its outside range.
func testNet(t *testing.T) nodenet.Config {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	nn := nodenet.ForProcess("rkot")
	if err := nodenet.Setup(nn, 2); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nodenet.Teardown(nn.Link); err != nil {
			t.Error(err)
		}
	})
	return nn
}

func subnet(nn nodenet.Config, k int) netip.Prefix {
	a := nn.OutsideRange().Addr()
	for range 4 * k {
		a = a.Next()
	}
	return netip.PrefixFrom(a, 30)
}

func open(t *testing.T, nn nodenet.Config, k int) *outside.Namespace {
	t.Helper()
	ns, err := outside.New(outside.Config{CIDR: subnet(nn, k), Routes: nn.Routes()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Error(err)
		}
	})
	return ns
}

func TestOutsideReachesANodeAddressAndNothingElse(t *testing.T) {
	nn := testNet(t)
	ns := open(t, nn, 0)
	ln, err := net.Listen("tcp", netip.AddrPortFrom(nn.NodeAddr(2), 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, c.RemoteAddr().String())
			_ = c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	conn, err := ns.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial a node address from outside: %v", err)
	}
	peer, err := io.ReadAll(conn)
	_ = conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	if host, _, _ := strings.Cut(string(peer), ":"); host != ns.Addr.String() {
		t.Errorf("the node saw the connection from %s, want the namespace's %s", peer, ns.Addr)
	}
	if _, err := ns.DialContext(ctx, "tcp", "10.244.0.1:53"); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("dial into the pod network: err = %v, want network unreachable", err)
	}
	routes, err := ns.Command(ctx, "ip", "-4", "route").CombinedOutput()
	if err != nil {
		t.Fatalf("ip route inside: %v: %s", err, routes)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(routes)), "\n") {
		dst, _, _ := strings.Cut(line, " ")
		if dst != nn.CIDR.String() && dst != nn.LoadBalancerPool.String() && dst != subnet(nn, 0).String() {
			t.Errorf("unexpected route inside the namespace: %s", line)
		}
	}
	// The test's own thread is still in the host's namespace.
	if c, err := net.Dial("tcp", ln.Addr().String()); err != nil {
		t.Errorf("dial from the host after dialing from outside: %v", err)
	} else {
		_ = c.Close()
	}
}

func TestCloseAndStaleCleanupRemoveTheNamespace(t *testing.T) {
	nn := testNet(t)
	ns := open(t, nn, 1)
	if err := ns.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ns.Path); !os.IsNotExist(err) {
		t.Errorf("netns file %s after Close: %v", ns.Path, err)
	}
	if out, err := exec.Command("ip", "link", "show", ns.HostVeth).CombinedOutput(); err == nil {
		t.Errorf("host veth %s after Close: %s", ns.HostVeth, out)
	}

	// A namespace left by a process that is gone (pid 0x7ffffff0 does not
	// exist: pid_max is at most 2^22).
	stale := fmt.Sprintf("%s-%d-1", outside.DefaultPrefix, 0x7ffffff0)
	// A pod's namespace of a bridge named like the prefix: not ours.
	podLike := fmt.Sprintf("%s-%d-0b7c6a52-1e0c-4c2e-9a57-3f1d2c7b9e01", outside.DefaultPrefix, 0x7ffffff0)
	podPath, err := podnet.CreateNetns(podnet.DefaultNetnsDir, podLike)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = podnet.DestroySandbox(podnet.Config{}, podnet.Sandbox{NetnsPath: podPath}) })
	path, err := podnet.CreateNetns(podnet.DefaultNetnsDir, stale)
	if err != nil {
		t.Fatal(err)
	}
	mine := open(t, nn, 2) // New cleans up first
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		_ = podnet.DestroySandbox(podnet.Config{}, podnet.Sandbox{NetnsPath: path})
		t.Errorf("stale namespace %s survived New: %v", stale, err)
	}
	if _, err := os.Stat(mine.Path); err != nil {
		t.Errorf("a live process's namespace was removed: %v", err)
	}
	if _, err := os.Stat(podPath); err != nil {
		t.Errorf("a pod-like namespace <prefix>-<pid>-<uid> was removed: %v", err)
	}
}
