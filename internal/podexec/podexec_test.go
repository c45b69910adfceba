package podexec_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkube/redkube/internal/podexec"
	"github.com/redkube/redkube/internal/podnet"
)

func TestMain(m *testing.M) {
	podexec.MaybeInit()
	if os.Getenv("PODEXEC_TEST_PARENT") == "1" {
		// Helper mode for TestDieWithParent: start a sleeper, report its
		// PID, and exit without waiting for it.
		cmd, err := podexec.Command(podexec.Spec{Path: "/bin/sleep", Args: []string{"sleep", "120"}, DieWithParent: true})
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(cmd.Process.Pid)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestDieWithParentKillsTheContainerWhenTheAgentDies(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for mount namespaces")
	}
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), "PODEXEC_TEST_PARENT=1")
	out, err := helper.Output()
	if err != nil {
		t.Fatalf("helper: %v: %s", err, out)
	}
	var pid int
	if _, err := fmt.Sscan(strings.TrimSpace(string(out)), &pid); err != nil || pid <= 0 {
		t.Fatalf("helper printed %q", out)
	}
	t.Cleanup(func() { _ = podexec.KillGroup(pid, 0) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := podexec.StartTicks(pid); podexec.IsNoProcess(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("container pid %d outlived its parent", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testNet creates a bridge and subnet private to this test run.
func testNet(t *testing.T) podnet.Config {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network and mount namespaces")
	}
	third := os.Getpid()%200 + 20
	cfg := podnet.Config{
		Bridge:   fmt.Sprintf("rkt%d", os.Getpid()%100000),
		CIDR:     netip.MustParsePrefix(fmt.Sprintf("10.245.%d.0/24", third)),
		NetnsDir: podnet.DefaultNetnsDir,
		Routes:   []netip.Prefix{netip.MustParsePrefix("10.246.0.0/16")},
	}
	if err := podnet.EnsureBridge(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := podnet.DeleteBridge(cfg.Bridge); err != nil {
			t.Error(err)
		}
	})
	return cfg
}

func sandbox(t *testing.T, cfg podnet.Config, ipam *podnet.IPAM, name string) podnet.Sandbox {
	t.Helper()
	ip, err := ipam.Allocate(name)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := podnet.CreateSandbox(cfg, fmt.Sprintf("rktest-%d-%s", os.Getpid(), name), ip)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := podnet.DestroySandbox(cfg, sb); err != nil {
			t.Error(err)
		}
		if podnet.SandboxAlive(sb) {
			t.Errorf("sandbox %s still alive after destroy", sb.Name)
		}
	})
	return sb
}

func TestRedisInPodNamespaceReachableFromHostAndPeer(t *testing.T) {
	cfg := testNet(t)
	dir := t.TempDir()
	ipam, err := podnet.NewIPAM(cfg, filepath.Join(dir, "ipam.json"))
	if err != nil {
		t.Fatal(err)
	}
	a := sandbox(t, cfg, ipam, "a")
	b := sandbox(t, cfg, ipam, "b")
	if a.IP == b.IP {
		t.Fatalf("two sandboxes got the same IP %s", a.IP)
	}

	// A "ConfigMap" directory mounted where the host has nothing.
	conf := filepath.Join(dir, "conf")
	data := filepath.Join(dir, "data")
	for _, d := range []string{conf, data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	confTarget := fmt.Sprintf("/etc/redkube-test-%d", os.Getpid())
	if err := os.WriteFile(filepath.Join(conf, "redis.conf"), []byte("port 6379\nbind 0.0.0.0\nprotected-mode no\ndir /data-"+fmt.Sprint(os.Getpid())+"\nappendonly no\nsave \"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hosts := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hosts, []byte("127.0.0.1 localhost\n"+a.IP.String()+" pod-a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	server, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed")
	}
	spec := podexec.Spec{
		Path:       server,
		Args:       []string{"redis-server", confTarget + "/redis.conf"},
		Env:        []string{"PATH=/usr/bin:/bin"},
		NetnsPath:  a.NetnsPath,
		Hostname:   "pod-a",
		ScratchDir: filepath.Join(dir, "scratch"),
		Mounts: []podexec.Mount{
			{Source: conf, Target: confTarget, ReadOnly: true},
			{Source: data, Target: "/data-" + fmt.Sprint(os.Getpid())},
			{Source: hosts, Target: "/etc/hosts"},
		},
	}
	cmd, err := podexec.Command(spec)
	if err != nil {
		t.Fatal(err)
	}
	var logb strings.Builder
	cmd.Stdout, cmd.Stderr = &logb, &logb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	ticks, err := podexec.StartTicks(pid)
	if err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if err := podexec.KillGroup(pid, 0); err != nil {
			t.Error(err)
		}
		// A killed process reports an *exec.ExitError; anything else means
		// Wait itself failed.
		var ee *exec.ExitError
		if err := <-exited; err != nil && !errors.As(err, &ee) {
			t.Errorf("wait for the pod process: %v", err)
		}
	})

	// The host never saw the mount targets.
	if _, err := os.Stat(confTarget); !os.IsNotExist(err) {
		t.Errorf("mount target %s leaked to the host: %v", confTarget, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: netip.AddrPortFrom(a.IP, 6379).String()})
	defer func() { _ = rdb.Close() }()
	for {
		if err := rdb.Ping(ctx).Err(); err == nil {
			break
		} else if ctx.Err() != nil {
			t.Fatalf("redis in pod a never answered on %s: %v; log:\n%s", a.IP, err, logb.String())
		}
		select {
		case err := <-exited:
			exited <- err // the cleanup reaps it again
			t.Fatalf("redis exited: %v; log:\n%s", err, logb.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if got, err := rdb.ConfigGet(ctx, "dir").Result(); err != nil || got["dir"] != "/data-"+fmt.Sprint(os.Getpid()) {
		t.Errorf("CONFIG GET dir = %v, %v", got, err)
	}
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(data, "dump.rdb")); err != nil {
		t.Errorf("the data volume did not receive dump.rdb: %v", err)
	}

	// Join mode: run commands in pod a's namespaces, and in pod b's to reach a.
	run := func(joinPID int, args ...string) string {
		t.Helper()
		path, err := exec.LookPath(args[0])
		if err != nil {
			t.Fatal(err)
		}
		c, err := podexec.Command(podexec.Spec{Path: path, Args: args, Env: []string{"PATH=/usr/bin:/bin"}, JoinPID: joinPID})
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("%v in pid %d: %v: %s", args, joinPID, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := run(pid, "hostname"); got != "pod-a" {
		t.Errorf("hostname inside pod a = %q", got)
	}
	if got := run(pid, "cat", "/etc/hosts"); !strings.Contains(got, "pod-a") {
		t.Errorf("/etc/hosts inside pod a = %q", got)
	}
	if got := run(pid, "cat", confTarget+"/redis.conf"); !strings.Contains(got, "port 6379") {
		t.Errorf("config inside pod a = %q", got)
	}
	if got := run(pid, "sh", "-c", "touch "+confTarget+"/x 2>&1 || echo readonly"); !strings.Contains(got, "Read-only") && !strings.Contains(got, "readonly") {
		t.Errorf("read-only mount was writable: %q", got)
	}

	// A sleeper in pod b, then redis-cli from b to a over the bridge.
	sleeper, err := podexec.Command(podexec.Spec{Path: "/bin/sleep", Args: []string{"sleep", "60"}, NetnsPath: b.NetnsPath, Hostname: "pod-b"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	if got := run(sleeper.Process.Pid, "redis-cli", "-h", a.IP.String(), "GET", "k"); got != "v" {
		t.Errorf("GET k from pod b = %q", got)
	}
	if got := run(sleeper.Process.Pid, "ip", "-4", "-o", "addr", "show", "eth0"); !strings.Contains(got, b.IP.String()) {
		t.Errorf("eth0 in pod b = %q, want %s", got, b.IP)
	}
	gw := cfg.Gateway().String()
	routes := run(sleeper.Process.Pid, "ip", "-4", "route", "show")
	if !strings.Contains(routes, "10.246.0.0/16 via "+gw) || strings.Contains(routes, "default") {
		t.Errorf("routes in pod b = %q, want the configured prefix via %s and no default route", routes, gw)
	}

	// SIGTERM stops redis; the PID identity check sees it gone.
	if err := podexec.Signal(pid, ticks, 15); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err // for the cleanup
	case <-ctx.Done():
		t.Fatal("redis ignored SIGTERM")
	}
	if podexec.Alive(pid, ticks) {
		t.Error("Alive after exit")
	}
}

func TestUserRunsTheProgramWithTheGivenIdentityAndNoOtherGroups(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for mount namespaces and to change identity")
	}
	id, err := exec.LookPath("id")
	if err != nil {
		t.Skip("no id command")
	}
	cases := []struct {
		name string
		user *podexec.User
		want string
	}{
		{"a user, its group and a supplementary group", &podexec.User{UID: 4242, GID: 4343, Groups: []uint32{4444}}, "4242 4343 4343 4444"},
		{"a user whose only group is its own", &podexec.User{UID: 4242, GID: 4242}, "4242 4242 4242"},
		{"root's own groups are dropped with an empty list", &podexec.User{UID: 0, GID: 4343}, "0 4343 4343"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd, err := podexec.Command(podexec.Spec{
				Path: "/bin/sh", Args: []string{"sh", "-c", id + " -u; " + id + " -g; " + id + " -G"},
				Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/", User: c.user,
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if got := strings.Join(strings.Fields(string(out)), " "); got != c.want {
				t.Errorf("id -u, -g, -G = %q, want %q", got, c.want)
			}
		})
	}
}

func TestReadOnlyRootAndNoNewPrivs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for mount namespaces")
	}
	vol := t.TempDir()
	hostDir := t.TempDir()
	if !sameDevice(t, hostDir, "/") {
		t.Skipf("%s is not on the root filesystem: a read-only root would not cover it", hostDir)
	}
	hostFile := filepath.Join(hostDir, "written-by-the-container")
	script := "touch " + hostFile + " 2>&1; touch /vol/ok && echo vol-ok; grep NoNewPrivs /proc/self/status"
	cases := []struct {
		name       string
		ro, noPriv bool
		want       []string
	}{
		{"read-only root: the host path is refused, the volume is writable, privileges may grow", true, false,
			[]string{"Read-only file system", "vol-ok", "NoNewPrivs:\t0"}},
		{"no new privileges on a writable root", false, true,
			[]string{"vol-ok", "NoNewPrivs:\t1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_ = os.Remove(hostFile)
			cmd, err := podexec.Command(podexec.Spec{
				Path: "/bin/sh", Args: []string{"sh", "-c", script},
				Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/", ScratchDir: t.TempDir(),
				Mounts:       []podexec.Mount{{Source: vol, Target: "/vol"}},
				ReadOnlyRoot: c.ro, NoNewPrivs: c.noPriv,
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			for _, w := range c.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output %q does not say %q", out, w)
				}
			}
			_, statErr := os.Stat(hostFile)
			if written := statErr == nil; written == c.ro {
				t.Errorf("host file written = %v with a read-only root = %v", written, c.ro)
			}
		})
	}
	// The host's root stays writable.
	f := filepath.Join(t.TempDir(), "host-still-writable")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatalf("the host's root became read-only: %v", err)
	}
}

// sameDevice reports whether paths a and b are on one filesystem.
func sameDevice(t *testing.T, a, b string) bool {
	t.Helper()
	var sa, sb syscall.Stat_t
	if err := syscall.Stat(a, &sa); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(b, &sb); err != nil {
		t.Fatal(err)
	}
	return sa.Dev == sb.Dev
}
