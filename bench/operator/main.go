package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redkube/redkube/internal/localkube"
	"github.com/redkube/redkube/internal/podexec"
)

// config is the command line.
type config struct {
	binDir      string
	manager     string
	crdDir      string
	chart       string
	tutorialDir string
	idle        time.Duration
	verbose     bool
	managerLog  string
}

func main() {
	// The node agent re-executes this binary as each pod's init.
	podexec.MaybeInit()
	var cfg config
	flag.StringVar(&cfg.binDir, "k8s-bin", os.Getenv(localkube.EnvBinDir), "folder of the control-plane binaries (hack/build-k8s.sh's last line)")
	flag.StringVar(&cfg.manager, "manager", "", "the manager binary (go build ./cmd/manager)")
	flag.StringVar(&cfg.crdDir, "crd", "config/crd/bases", "folder of the RedisCluster CRD")
	flag.StringVar(&cfg.chart, "chart", "charts/redkube", "the operator's Helm chart (helm from $REDKUBE_TOOLS_BIN)")
	flag.StringVar(&cfg.tutorialDir, "tutorial", "test/e2e/testdata/tutorial", "folder of the tutorial's manifests")
	flag.DurationVar(&cfg.idle, "idle", 65*time.Second, "idle period over which writes per healthy reconcile are counted (idle passes come every 30 s)")
	flag.BoolVar(&cfg.verbose, "v", false, "log the local cluster's own messages too")
	flag.StringVar(&cfg.managerLog, "manager-log", "", "keep the manager's log in this file (default: a temporary file, removed)")
	flag.Parse()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "operator bench:", err)
		os.Exit(1)
	}
}

func run(cfg config) (err error) {
	if cfg.manager == "" {
		return errors.New("-manager is required (go build -o <path> ./cmd/manager)")
	}
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces, the pod bridge, mounts)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	clusterLog := slog.New(slog.DiscardHandler)
	if cfg.verbose {
		clusterLog = log
	}
	began := time.Now()
	log.Info("starting local cluster and manager")
	e, err := startEnv(ctx, cfg, clusterLog)
	if err != nil {
		return err
	}
	defer func() {
		if serr := e.Stop(); serr != nil {
			err = errors.Join(err, fmt.Errorf("stop: %w", serr))
		}
	}()
	p := newPool()
	defer p.close()
	b := &bench{
		e: e, cfg: cfg, rep: &report{},
		op:  newOperatorTarget(e, p, "bench"),
		tut: &target{label: "tutorial", selector: "app=redis,appCluster=redis-cluster", size: 6, e: e, pool: p},
	}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"create: operator", b.createOperator},
		{"create: tutorial", b.createTutorial},
		// First, while both setups are as bootstrapped (the pod deletions
		// below leave the tutorial's masters and replicas wherever the
		// scheduler put the replacement pods).
		{"node stop: both", b.stopNode},
		{"graceful delete: operator", func(ctx context.Context) error { return b.deletePod(ctx, b.op, podDisruption{slot: 0}) }},
		{"graceful delete: tutorial", func(ctx context.Context) error { return b.deletePod(ctx, b.tut, podDisruption{slot: 0}) }},
		{"force delete: operator", func(ctx context.Context) error {
			return b.deletePod(ctx, b.op, podDisruption{force: true, slot: 16383})
		}},
		{"force delete: tutorial", func(ctx context.Context) error {
			return b.deletePod(ctx, b.tut, podDisruption{force: true, slot: 16383})
		}},
		{"scale out and in: operator", b.scale},
		{"operator at rest: three clusters", b.idle},
		// Last: it stops the host-process manager.
		{"operator in a pod: helm install, leader takeover, upgrade", b.inPod},
	}
	failed := 0
	for i, s := range steps {
		if ctx.Err() != nil {
			break
		}
		log.Info("scenario", "step", s.name)
		at := time.Now()
		if err := s.fn(ctx); err != nil {
			failed++
			log.Error("scenario failed", "step", s.name, "err", err)
			b.rep.note(fmt.Sprintf("scenario %q failed: %v", s.name, err))
			if i < 2 {
				// Nothing else can run without both clusters.
				break
			}
		}
		log.Info("scenario done", "step", s.name, "took", time.Since(at).Round(time.Millisecond))
	}
	b.rep.note(fmt.Sprintf("whole run %v (local cluster start %v)", time.Since(began).Round(time.Second), e.Cluster.StartDuration.Round(100*time.Millisecond)))
	if err := b.rep.print(os.Stdout); err != nil {
		return fmt.Errorf("print report: %w", err)
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "--- manager log (last lines)\n%s\n", e.mgr.LogTail(40))
		return fmt.Errorf("%d scenarios failed", failed)
	}
	return ctx.Err()
}
