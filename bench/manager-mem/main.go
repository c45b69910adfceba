// Command manager-mem measures the resident memory of the redkube manager
// binary while it manages RedisClusters on a local Kubernetes
// (internal/localkube, real redis-server pods). It starts a 3-node
// cluster on a pod network private to the run, installs the CRD, starts
// the manager as its own process (so its VmRSS is read from /proc),
// applies -clusters 3x1 RedisClusters, waits until all are Ready, deletes
// one pod of each cluster and waits until they are Ready again, then
// idles. It samples VmRSS every 500 ms and prints the peak of each phase,
// the RSS at the end, VmHWM and the Go runtime's own figures from the
// manager's /metrics. bench/manager-mem.sh builds and runs it; the numbers
// are in docs/design/2026-11-25-manager-memory.md.
//
// Run as root; everything it starts is stopped on exit. Only one local
// Kubernetes can run on a machine at a time.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/controller"
	"github.com/redkube/redkube/internal/localkube"
	"github.com/redkube/redkube/internal/nodeagent"
	"github.com/redkube/redkube/internal/podexec"
	"github.com/redkube/redkube/internal/podnet"
	"github.com/redkube/redkube/internal/resources"
)

type config struct {
	manager   string
	crdDir    string
	binDir    string
	clusters  int
	idle      time.Duration
	extraArgs string
	heapOut   string
	logPath   string
}

func main() {
	// The node agent re-executes this binary as each pod's init.
	podexec.MaybeInit()
	var cfg config
	flag.StringVar(&cfg.manager, "manager", "", "manager binary (go build ./cmd/manager)")
	flag.StringVar(&cfg.crdDir, "crd", "config/crd/bases", "folder of the CRD manifests")
	flag.StringVar(&cfg.binDir, "bin", os.Getenv("REDKUBE_K8S_BIN"), "folder of the control-plane binaries (hack/build-k8s.sh)")
	flag.IntVar(&cfg.clusters, "clusters", 3, "number of 3x1 RedisClusters")
	flag.DurationVar(&cfg.idle, "idle", 60*time.Second, "idle period after the clusters are healthy again")
	flag.StringVar(&cfg.extraArgs, "manager-args", "", "extra manager flags, space separated (the manager's environment is this process's: set GOMEMLIMIT/GOGC there)")
	flag.StringVar(&cfg.heapOut, "heap-profile", "", "write the manager's heap profile (/debug/pprof/heap) at the end to this file")
	flag.StringVar(&cfg.logPath, "manager-log", "", "keep the manager's log in this file (default: a temporary file)")
	flag.Parse()
	if cfg.manager == "" || cfg.binDir == "" {
		fmt.Fprintln(os.Stderr, "manager-mem: -manager and -bin (or REDKUBE_K8S_BIN) are required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "manager-mem:", err)
		os.Exit(1)
	}
}

// phase is one measured stretch of the run.
type phase struct {
	name string
	took time.Duration
	peak uint64
}

func run(ctx context.Context, cfg config) (err error) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	work, err := os.MkdirTemp("", "manager-mem.")
	if err != nil {
		return fmt.Errorf("work folder: %w", err)
	}
	defer os.RemoveAll(work)

	pid := os.Getpid()
	network := podnet.Config{
		Bridge:   fmt.Sprintf("rkmem%d", pid%100000),
		CIDR:     netip.MustParsePrefix(fmt.Sprintf("10.249.%d.0/24", pid%200+20)),
		NetnsDir: podnet.DefaultNetnsDir,
	}
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	c, err := localkube.Start(sctx, localkube.Options{
		BinDir:    cfg.binDir,
		Nodes:     3,
		NodeAgent: localkube.PodAgent(nodeagent.Config{Network: network, DeleteBridgeOnExit: true}),
		Logger:    log,
	})
	if err != nil {
		return fmt.Errorf("start local cluster: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if serr := c.Stop(sctx); serr != nil {
			err = errors.Join(err, fmt.Errorf("stop local cluster: %w", serr))
		}
	}()
	kubectl := func(args ...string) error {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		out, err := exec.CommandContext(cctx, filepath.Join(c.BinDir, "kubectl"), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := kubectl("apply", "--server-side", "-f", cfg.crdDir); err != nil {
		return err
	}
	if err := kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/redisclusters.redis.redkube.io"); err != nil {
		return err
	}
	scheme, err := controller.Scheme()
	if err != nil {
		return fmt.Errorf("scheme: %w", err)
	}
	cl, err := client.New(c.Config, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}

	m, err := startManager(ctx, cfg, c.Kubeconfig, work)
	if err != nil {
		return err
	}
	defer m.stop()
	log.Info("manager started", "pid", m.cmd.Process.Pid)

	var phases []phase
	measure := func(name string, f func() error) error {
		m.rss.resetPeak()
		t0 := time.Now()
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w (manager log %s)", name, err, m.logPath)
		}
		phases = append(phases, phase{name: name, took: time.Since(t0), peak: m.rss.resetPeak()})
		log.Info("phase done", "phase", name, "took", time.Since(t0).Round(time.Millisecond))
		return nil
	}
	if err := measure("manager started, no RedisCluster (5 s)", func() error { return sleep(ctx, 5*time.Second) }); err != nil {
		return err
	}
	var names []string
	for i := range cfg.clusters {
		names = append(names, fmt.Sprintf("mem-%d", i+1))
	}
	if err := measure(fmt.Sprintf("%d RedisClusters applied → all Ready", cfg.clusters), func() error {
		for _, n := range names {
			if err := cl.Create(ctx, redisCluster(n)); err != nil {
				return fmt.Errorf("create %s: %w", n, err)
			}
		}
		return waitReady(ctx, cl, names, nil)
	}); err != nil {
		return err
	}
	if err := measure("one pod of each deleted → all Ready again", func() error {
		uids := map[string]types.UID{}
		for _, n := range names {
			p := &corev1.Pod{}
			key := types.NamespacedName{Namespace: "default", Name: resources.PodName(redisCluster(n), 0, 0)}
			if err := cl.Get(ctx, key, p); err != nil {
				return fmt.Errorf("get pod %s: %w", key.Name, err)
			}
			uids[key.Name] = p.UID
			if err := cl.Delete(ctx, p); err != nil {
				return fmt.Errorf("delete pod %s: %w", key.Name, err)
			}
		}
		return waitReady(ctx, cl, names, uids)
	}); err != nil {
		return err
	}
	if err := measure(fmt.Sprintf("idle %v", cfg.idle), func() error { return sleep(ctx, cfg.idle) }); err != nil {
		return err
	}

	mpid := m.cmd.Process.Pid
	rss, err := procStatus(mpid, "VmRSS")
	if err != nil {
		return err
	}
	hwm, err := procStatus(mpid, "VmHWM")
	if err != nil {
		return err
	}
	mappings, err := binaryMappings(mpid)
	if err != nil {
		return err
	}
	metrics, err := httpGet(ctx, "http://"+m.metricsAddr+"/metrics")
	if err != nil {
		return err
	}
	if cfg.heapOut != "" {
		prof, err := httpGet(ctx, "http://"+m.pprofAddr+"/debug/pprof/heap")
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg.heapOut, []byte(prof), 0o644); err != nil {
			return fmt.Errorf("write heap profile: %w", err)
		}
	}

	fmt.Printf("manager: %s %s   GOMEMLIMIT=%q GOGC=%q\n", cfg.manager, cfg.extraArgs, os.Getenv("GOMEMLIMIT"), os.Getenv("GOGC"))
	for _, p := range phases {
		fmt.Printf("  %-55s %8s  peak RSS %6.1f MiB\n", p.name, p.took.Round(100*time.Millisecond), mib(p.peak))
	}
	fmt.Printf("  %-55s %6.1f MiB\n", "RSS at the end", mib(rss))
	fmt.Printf("  %-55s %6.1f MiB\n", "VmHWM (peak RSS of the whole run)", mib(hwm))
	for _, field := range []string{"RssAnon", "RssFile"} {
		v, err := procStatus(mpid, field)
		if err != nil {
			return err
		}
		fmt.Printf("  %-55s %6.1f MiB\n", field+" at the end", mib(v))
	}
	for _, mp := range mappings {
		fmt.Printf("  %-55s %6.1f MiB of %.1f MiB mapped\n", "RSS of the binary's "+mp.perms+" mapping", mib(mp.rss), mib(mp.size))
	}
	for _, name := range []string{
		"go_memstats_heap_inuse_bytes", "go_memstats_heap_idle_bytes", "go_memstats_heap_released_bytes",
		"go_memstats_stack_inuse_bytes", "go_memstats_sys_bytes", "go_memstats_next_gc_bytes",
		"go_gc_gomemlimit_bytes", "go_gc_gogc_percent", "go_goroutines",
		"go_gc_duration_seconds_count", "process_cpu_seconds_total",
	} {
		if v, ok := metricValue(metrics, name); ok {
			if strings.HasSuffix(name, "_bytes") {
				fmt.Printf("  %-55s %6.1f MiB\n", name, v/(1<<20))
			} else {
				fmt.Printf("  %-55s %6.1f\n", name, v)
			}
		}
	}
	return nil
}

// redisCluster is a 3x1 RedisCluster with the operator's defaults.
func redisCluster(name string) *redisv1alpha1.RedisCluster {
	rc := &redisv1alpha1.RedisCluster{}
	rc.Name, rc.Namespace = name, "default"
	rc.Spec.Masters, rc.Spec.ReplicasPerMaster = 3, 1
	rc.Spec.Storage.Size = resource.MustParse("64Mi")
	return rc
}

// waitReady waits (up to 5 minutes) until every named RedisCluster is
// Ready with six ready nodes and, for each pod in replaced, a pod of that
// name with another UID exists.
func waitReady(ctx context.Context, cl client.Client, names []string, replaced map[string]types.UID) error {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		pending, err := notReady(ctx, cl, names, replaced)
		if err != nil {
			return err
		}
		if pending == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within 5m: %s", pending)
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
}

// notReady names the first thing not ready yet ("" when all are).
func notReady(ctx context.Context, cl client.Client, names []string, replaced map[string]types.UID) (string, error) {
	for pod, uid := range replaced {
		p := &corev1.Pod{}
		err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: pod}, p)
		if client.IgnoreNotFound(err) != nil {
			return "", fmt.Errorf("get pod %s: %w", pod, err)
		}
		if err != nil || p.UID == uid {
			return "pod " + pod + " not replaced", nil
		}
	}
	for _, n := range names {
		rc := &redisv1alpha1.RedisCluster{}
		if err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: n}, rc); err != nil {
			return "", fmt.Errorf("get RedisCluster %s: %w", n, err)
		}
		if !meta.IsStatusConditionTrue(rc.Status.Conditions, redisv1alpha1.ConditionReady.String()) || rc.Status.ReadyNodes != 6 {
			return fmt.Sprintf("RedisCluster %s (%d ready nodes)", n, rc.Status.ReadyNodes), nil
		}
	}
	return "", nil
}

// mgrProc is the manager process and its RSS sampler.
type mgrProc struct {
	cmd         *exec.Cmd
	done        chan struct{}
	rss         *rssSampler
	logPath     string
	metricsAddr string
	pprofAddr   string
}

func startManager(ctx context.Context, cfg config, kubeconfig, work string) (*mgrProc, error) {
	m := &mgrProc{logPath: cfg.logPath}
	if m.logPath == "" {
		m.logPath = filepath.Join(work, "manager.log")
	}
	var err error
	if m.metricsAddr, err = freeAddr(); err != nil {
		return nil, err
	}
	if m.pprofAddr, err = freeAddr(); err != nil {
		return nil, err
	}
	f, err := os.Create(m.logPath)
	if err != nil {
		return nil, fmt.Errorf("manager log: %w", err)
	}
	args := []string{"--kubeconfig", kubeconfig, "--metrics-bind-address", m.metricsAddr, "--health-probe-bind-address", "0"}
	if cfg.heapOut != "" {
		args = append(args, "--pprof-bind-address", m.pprofAddr)
	}
	args = append(args, strings.Fields(cfg.extraArgs)...)
	m.cmd = exec.Command(cfg.manager, args...)
	m.cmd.Stdout, m.cmd.Stderr = f, f
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := m.cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start manager %s: %w", cfg.manager, err)
	}
	m.done = make(chan struct{})
	go func() {
		_ = m.cmd.Wait()
		_ = f.Close()
		close(m.done)
	}()
	m.rss = startRSSSampler(m.cmd.Process.Pid)
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := httpGet(ctx, "http://"+m.metricsAddr+"/metrics"); err == nil {
			return m, nil
		}
		select {
		case <-m.done:
			m.rss.stop()
			return nil, fmt.Errorf("manager exited at start; log %s", m.logPath)
		case <-ctx.Done():
			m.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.stop()
			return nil, errors.New("manager /metrics did not answer within 1m")
		}
	}
}

// stop stops the manager: SIGTERM, then SIGKILL after 10 s.
func (m *mgrProc) stop() {
	m.rss.stop()
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
		<-m.done
	}
}

// rssSampler reads a process's VmRSS every 500 ms and keeps the peak.
type rssSampler struct {
	mu   sync.Mutex
	peak uint64
	done chan struct{}
	wg   sync.WaitGroup
}

func startRSSSampler(pid int) *rssSampler {
	s := &rssSampler{done: make(chan struct{})}
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

// resetPeak returns the peak since the last reset and starts a new one.
func (s *rssSampler) resetPeak() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.peak
	s.peak = 0
	return p
}

func (s *rssSampler) stop() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.wg.Wait()
}

// procStatus returns a "kB" field of /proc/<pid>/status in bytes.
func procStatus(pid int, field string) (uint64, error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, fmt.Errorf("read status of %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseUint(strings.Fields(rest)[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s of %d: %w", field, pid, err)
			}
			return kb * 1024, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read status of %d: %w", pid, err)
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// mapping is one mapping of the process's own executable.
type mapping struct {
	perms     string
	size, rss uint64
}

// binaryMappings reads /proc/<pid>/smaps and returns the mappings of the
// process's executable (text, read-only data, data) with their resident
// size.
func binaryMappings(pid int) ([]mapping, error) {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return nil, fmt.Errorf("executable of %d: %w", pid, err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return nil, fmt.Errorf("smaps of %d: %w", pid, err)
	}
	var out []mapping
	var cur *mapping
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			cur = nil
			if len(f) == 6 && f[5] == exe {
				out = append(out, mapping{perms: f[1]})
				cur = &out[len(out)-1]
			}
		case cur != nil && len(f) == 3 && (f[0] == "Size:" || f[0] == "Rss:"):
			kb, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("parse smaps of %d: %w", pid, err)
			}
			if f[0] == "Size:" {
				cur.size = kb * 1024
			} else {
				cur.rss = kb * 1024
			}
		}
	}
	return out, nil
}

// metricValue returns the value of an unlabelled sample in Prometheus text.
func metricValue(text, name string) (float64, bool) {
	for line := range strings.Lines(text) {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

func httpGet(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("request %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("get %s: %s", url, resp.Status)
	}
	return string(b), nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
