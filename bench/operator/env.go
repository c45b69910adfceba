package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/controller"
	"github.com/redkube/redkube/internal/localkube"
	"github.com/redkube/redkube/internal/nodeagent"
	"github.com/redkube/redkube/internal/podnet"
)

// env is the local cluster, the API clients and the manager process.
type env struct {
	c       *localkube.Cluster
	cs      kubernetes.Interface // the benchmark's pollers, not throttled
	cl      client.Client
	work    string
	kubectl string
	log     *slog.Logger

	mgr         *exec.Cmd
	mgrDone     chan struct{}
	mgrLog      string
	metricsAddr string
	rss         *rssSampler
}

// startEnv starts a 3-node local cluster with the node agent on a pod
// network private to this process, installs the CRD and starts the
// manager binary against it. The caller stops it with stop, also when
// startEnv fails half-way (stop handles a partial env).
func startEnv(ctx context.Context, e *env, cfg config) error {
	pid := os.Getpid()
	network := podnet.Config{
		Bridge:   fmt.Sprintf("rkbench%d", pid%100000),
		CIDR:     netip.MustParsePrefix(fmt.Sprintf("10.248.%d.0/24", pid%200+20)),
		NetnsDir: podnet.DefaultNetnsDir,
	}
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	c, err := localkube.Start(sctx, localkube.Options{
		BinDir: cfg.binDir,
		Nodes:  3,
		NodeAgent: localkube.PodAgent(nodeagent.Config{
			Network: network, DeleteBridgeOnExit: true,
		}),
		Logger: e.log,
	})
	if err != nil {
		return fmt.Errorf("start local cluster: %w", err)
	}
	e.c = c
	e.kubectl = filepath.Join(c.BinDir, "kubectl")
	e.log.Info("local cluster started", "took", c.StartDuration, "bridge", network.Bridge, "cidr", network.CIDR)

	rc := rest.CopyConfig(c.Config)
	rc.QPS, rc.Burst = 200, 400
	scheme, err := controller.Scheme()
	if err != nil {
		return fmt.Errorf("scheme: %w", err)
	}
	if e.cs, err = kubernetes.NewForConfig(rc); err != nil {
		return fmt.Errorf("clientset: %w", err)
	}
	if e.cl, err = client.New(rc, client.Options{Scheme: scheme}); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if _, err := e.run(ctx, "apply", "--server-side", "-f", cfg.crdDir); err != nil {
		return err
	}
	if _, err := e.run(ctx, "wait", "--for=condition=Established", "--timeout=60s", "crd/redisclusters.redis.redkube.io"); err != nil {
		return err
	}
	return e.startManager(ctx, cfg.manager, cfg.managerLog)
}

// startManager runs the manager binary as its own process (so that its
// resident memory can be read from /proc) with its metrics on a free
// loopback port.
func (e *env) startManager(ctx context.Context, bin, logPath string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	e.metricsAddr = fmt.Sprintf("127.0.0.1:%d", port)
	e.mgrLog = logPath
	if e.mgrLog == "" {
		e.mgrLog = filepath.Join(e.work, "manager.log")
	}
	f, err := os.Create(e.mgrLog)
	if err != nil {
		return fmt.Errorf("manager log: %w", err)
	}
	cmd := exec.Command(bin, "--kubeconfig", e.c.Kubeconfig,
		"--metrics-bind-address", e.metricsAddr, "--health-probe-bind-address", "0")
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return fmt.Errorf("start manager %s: %w", bin, err)
	}
	e.mgr = cmd
	e.mgrDone = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = f.Close()
		close(e.mgrDone)
	}()
	e.rss = startRSSSampler(cmd.Process.Pid)
	// Ready when /metrics answers.
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := scrape(ctx, e.metricsAddr); err == nil {
			break
		}
		select {
		case <-e.mgrDone:
			return fmt.Errorf("manager exited at start; log %s:\n%s", e.mgrLog, tail(e.mgrLog, 20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("manager /metrics did not answer within 1m")
		}
	}
	e.log.Info("manager started", "pid", cmd.Process.Pid, "metrics", e.metricsAddr)
	return nil
}

// stop stops the manager (SIGTERM, then SIGKILL after 10 s) and the local
// cluster (pods, bridge, control plane, state folder).
func (e *env) stop() {
	if e.rss != nil {
		e.rss.stop()
	}
	if e.mgr != nil {
		_ = syscall.Kill(-e.mgr.Process.Pid, syscall.SIGTERM)
		select {
		case <-e.mgrDone:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-e.mgr.Process.Pid, syscall.SIGKILL)
			<-e.mgrDone
		}
	}
	if e.c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := e.c.Stop(ctx); err != nil {
			e.log.Error("stop local cluster", "err", err)
		}
	}
}

// run runs kubectl against the cluster and returns its output.
func (e *env) run(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	args = append([]string{"--kubeconfig", e.c.Kubeconfig}, args...)
	out, err := exec.CommandContext(ctx, e.kubectl, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// applyYAML writes doc to a file named name in the work folder and
// `kubectl apply`s it.
func (e *env) applyYAML(ctx context.Context, name, doc string) error {
	p := filepath.Join(e.work, name)
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	_, err := e.run(ctx, "apply", "-f", p)
	return err
}

// redisClusterYAML is a 3x1 RedisCluster with the operator's defaults
// (cluster-node-timeout 5000, as in the tutorial's redis.conf).
func redisClusterYAML(name string) string {
	return fmt.Sprintf(`apiVersion: %s
kind: RedisCluster
metadata:
  name: %s
  namespace: default
spec:
  masters: 3
  replicasPerMaster: 1
  storage:
    size: 64Mi
`, redisv1alpha1.GroupVersion.String(), name)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("free port: close the probe listener: %w", err)
	}
	return port, nil
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// rssSampler reads a process's VmRSS every 500 ms and keeps the peak.
type rssSampler struct {
	pid  int
	mu   sync.Mutex
	peak uint64
	done chan struct{}
	wg   sync.WaitGroup
}

func startRSSSampler(pid int) *rssSampler {
	s := &rssSampler{pid: pid, done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			if v, err := procStatus(pid, "VmRSS"); err == nil {
				s.mu.Lock()
				s.peak = max(s.peak, v)
				s.mu.Unlock()
			}
			select {
			case <-s.done:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.wg.Wait()
}

// peakBytes is the highest VmRSS sampled so far.
func (s *rssSampler) peakBytes() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// procStatus returns a "kB" field of /proc/<pid>/status in bytes.
func procStatus(pid int, field string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, fmt.Errorf("read status of %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseUint(strings.Fields(rest)[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s of %d: %w", field, pid, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// scrape returns the manager's /metrics text.
func scrape(ctx context.Context, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return "", fmt.Errorf("metrics request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("scrape %s: %w", addr, err)
	}
	b, err := io.ReadAll(resp.Body)
	err = errors.Join(err, resp.Body.Close())
	if err != nil {
		return "", fmt.Errorf("read metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("scrape %s: %s", addr, resp.Status)
	}
	return string(b), nil
}
