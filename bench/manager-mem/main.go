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
// are in docs/design/2026-11-25-manager-memory.md. The environment is
// test/harness's, the one the end-to-end tests use.
//
// Run as root; everything it starts is stopped on exit. Only one local
// Kubernetes can run on a machine at a time.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/localkube"
	"github.com/redkube/redkube/internal/podexec"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/test/harness"
)

// config is the command line.
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
	flag.StringVar(&cfg.binDir, "bin", os.Getenv(localkube.EnvBinDir), "folder of the control-plane binaries (hack/build-k8s.sh)")
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
	e, err := harness.Start(ctx, harness.Options{
		Name:    "manager-mem",
		BinDir:  cfg.binDir,
		CRDDir:  cfg.crdDir,
		Network: harness.Network("rkmem", 249),
		Logger:  log,
	})
	if err != nil {
		return err
	}
	defer func() {
		if serr := e.Stop(); serr != nil {
			err = errors.Join(err, fmt.Errorf("stop: %w", serr))
		}
	}()
	cl := e.Client
	m, err := e.StartOperator(ctx, harness.OperatorOptions{
		Binary:  cfg.manager,
		LogPath: cfg.logPath,
		Pprof:   cfg.heapOut != "",
		Args:    strings.Fields(cfg.extraArgs),
	})
	if err != nil {
		return err
	}

	var phases []phase
	measure := func(name string, f func() error) error {
		m.ResetPeakRSS()
		t0 := time.Now()
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w (manager log %s)", name, err, m.LogPath)
		}
		phases = append(phases, phase{name: name, took: time.Since(t0), peak: m.ResetPeakRSS()})
		log.Info("phase done", "phase", name, "took", time.Since(t0).Round(time.Millisecond))
		return nil
	}
	if err := measure("manager started, no RedisCluster (5 s)", func() error { return harness.Sleep(ctx, 5*time.Second) }); err != nil {
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
	if err := measure(fmt.Sprintf("idle %v", cfg.idle), func() error { return harness.Sleep(ctx, cfg.idle) }); err != nil {
		return err
	}

	rss, err := m.Status("VmRSS")
	if err != nil {
		return err
	}
	hwm, err := m.Status("VmHWM")
	if err != nil {
		return err
	}
	mappings, err := binaryMappings(m.Pid())
	if err != nil {
		return err
	}
	metrics, err := m.Metrics(ctx)
	if err != nil {
		return err
	}
	if cfg.heapOut != "" {
		prof, err := m.HeapProfile(ctx)
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg.heapOut, prof, 0o644); err != nil {
			return fmt.Errorf("write heap profile: %w", err)
		}
	}

	fmt.Printf("manager: %s %s   GOMEMLIMIT=%q GOGC=%q\n", cfg.manager, cfg.extraArgs, os.Getenv("GOMEMLIMIT"), os.Getenv("GOGC"))
	for _, p := range phases {
		fmt.Printf("  %-55s %8s  peak RSS %6.1f MiB\n", p.name, p.took.Round(100*time.Millisecond), harness.MiB(p.peak))
	}
	fmt.Printf("  %-55s %6.1f MiB\n", "RSS at the end", harness.MiB(rss))
	fmt.Printf("  %-55s %6.1f MiB\n", "VmHWM (peak RSS of the whole run)", harness.MiB(hwm))
	for _, field := range []string{"RssAnon", "RssFile"} {
		v, err := m.Status(field)
		if err != nil {
			return err
		}
		fmt.Printf("  %-55s %6.1f MiB\n", field+" at the end", harness.MiB(v))
	}
	for _, mp := range mappings {
		fmt.Printf("  %-55s %6.1f MiB of %.1f MiB mapped\n", "RSS of the binary's "+mp.perms+" mapping", harness.MiB(mp.rss), harness.MiB(mp.size))
	}
	values := unlabelled(metrics)
	for _, name := range []string{
		"go_memstats_heap_inuse_bytes", "go_memstats_heap_idle_bytes", "go_memstats_heap_released_bytes",
		"go_memstats_stack_inuse_bytes", "go_memstats_sys_bytes", "go_memstats_next_gc_bytes",
		"go_gc_gomemlimit_bytes", "go_gc_gogc_percent", "go_goroutines",
		"go_gc_duration_seconds_count", "process_cpu_seconds_total",
	} {
		if v, ok := values[name]; ok {
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
	_, err := harness.Poll(ctx, 5*time.Minute, 250*time.Millisecond, "every RedisCluster Ready", func(ctx context.Context) (bool, error) {
		pending, err := notReady(ctx, cl, names, replaced)
		if err != nil {
			return false, err
		}
		if pending != "" {
			return false, errors.New(pending)
		}
		return true, nil
	})
	return err
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

// unlabelled returns the values of the samples without labels in
// Prometheus text, by name.
func unlabelled(text string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range harness.ParseMetrics(text) {
		if len(s.Labels) == 0 {
			out[s.Name] = s.Value
		}
	}
	return out
}
