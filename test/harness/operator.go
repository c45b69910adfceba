package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/redkube/redkube/internal/controller"
	"github.com/redkube/redkube/internal/proc"
)

// OperatorOptions configures Env.StartOperator.
type OperatorOptions struct {
	// Binary is the manager binary (go build ./cmd/manager), run as its
	// own process so that its resident memory can be read from /proc.
	// Empty runs the manager in this process (controller.NewManager), as
	// the end-to-end tests do: its pods' IPs are reached through the
	// bridge, as from the host.
	Binary string
	// LogPath keeps the manager's output (truncated first); empty means
	// manager.log in the work folder (removed with it).
	LogPath string
	// Metrics serves the manager's /metrics on a free loopback port
	// (Operator.Metrics). A manager binary always serves them: StartOperator
	// waits for them to answer.
	Metrics bool
	// Pprof serves the manager's /debug/pprof on a free loopback port
	// (Operator.HeapProfile).
	Pprof bool
	// Args are extra flags of a manager binary, after the ones
	// StartOperator sets.
	Args []string
}

// Operator is the RedisCluster operator's manager started by
// Env.StartOperator: a process of its own (its resident memory sampled
// every 500 ms) or a manager in this process.
type Operator struct {
	// LogPath is the file with the manager's log (slog text lines in
	// this process, JSON lines from the binary).
	LogPath string
	// MetricsAddr is the loopback host:port of its /metrics, "" when it
	// serves none.
	MetricsAddr string
	// PprofAddr is the loopback host:port of its /debug/pprof, "" unless
	// OperatorOptions.Pprof.
	PprofAddr string

	proc *proc.Process // the manager binary; nil in this process
	rss  *rssSampler   // nil in this process
	pods *inCluster    // installed with the chart; nil otherwise

	// A manager in this process: cancel stops it, done is closed once it
	// has, logFile is its log.
	cancel  context.CancelFunc
	done    chan struct{}
	logFile *os.File
	logErr  error // writing the manager's end to the log, once done
}

// StartOperator starts the operator's manager on the cluster, with health
// probes off: the binary against the cluster's kubeconfig, returning when
// its /metrics answer (within a minute), or a manager in this process
// logging at level Info to LogPath (it becomes controller-runtime's
// logger), returning once it runs. Env.Stop stops it, if the caller has
// not.
func (e *Env) StartOperator(ctx context.Context, opts OperatorOptions) (*Operator, error) {
	o := &Operator{LogPath: opts.LogPath}
	if o.LogPath == "" {
		o.LogPath = filepath.Join(e.Work, "manager.log")
	}
	var err error
	if opts.Metrics || opts.Binary != "" {
		if o.MetricsAddr, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	if opts.Pprof {
		if o.PprofAddr, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	if opts.Binary == "" {
		err = o.startInProcess(e)
	} else {
		err = o.startProcess(ctx, e, opts)
	}
	if err != nil {
		return nil, err
	}
	e.operators = append(e.operators, o)
	e.log.Info("operator started", "pid", o.Pid(), "inProcess", opts.Binary == "", "metrics", o.MetricsAddr, "log", o.LogPath)
	return o, nil
}

func (o *Operator) startProcess(ctx context.Context, e *Env, opts OperatorOptions) error {
	// Plain HTTP /metrics: the harness scrapes them without a token.
	args := []string{"--kubeconfig", e.Cluster.Kubeconfig,
		"--metrics-bind-address", o.MetricsAddr, "--metrics-secure=false", "--health-probe-bind-address", "0"}
	if o.PprofAddr != "" {
		args = append(args, "--pprof-bind-address", o.PprofAddr)
	}
	args = append(args, opts.Args...)
	p, err := proc.Start(opts.Binary, args, proc.Options{Name: "manager", LogPath: o.LogPath, Truncate: true})
	if err != nil {
		return err
	}
	o.proc = p
	o.rss = sampleRSS(p.PID())
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := p.WaitReady(wctx, proc.HTTPOK("http://"+o.MetricsAddr+"/metrics")); err != nil {
		return errors.Join(fmt.Errorf("wait for the manager's /metrics: %w", err), o.Stop())
	}
	return nil
}

func (o *Operator) startInProcess(e *Env) error {
	f, err := os.Create(o.LogPath)
	if err != nil {
		return fmt.Errorf("manager log: %w", err)
	}
	h := slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo})
	ctrl.SetLogger(logr.FromSlogHandler(h))
	metrics := o.MetricsAddr
	if metrics == "" {
		metrics = "0" // off
	}
	mgr, err := controller.NewManager(e.Config, controller.ManagerOptions{
		MetricsBindAddress: metrics, HealthProbeBindAddress: "0", PprofBindAddress: o.PprofAddr, Logger: slog.New(h),
	})
	if err != nil {
		return errors.Join(fmt.Errorf("new manager: %w", err), f.Close())
	}
	ctx, cancel := context.WithCancel(context.Background())
	o.cancel, o.done, o.logFile = cancel, make(chan struct{}), f
	go func() {
		defer close(o.done)
		// A manager that stops on its own is the operator's failure, not
		// the environment's: it goes to the log, where the test's or
		// benchmark's checks will show its effect.
		if err := mgr.Start(ctx); err != nil {
			if _, werr := fmt.Fprintf(f, "manager stopped: %v\n", err); werr != nil {
				o.logErr = fmt.Errorf("manager stopped: %w (writing it to %s: %w)", err, o.LogPath, werr)
			}
		}
	}()
	return nil
}

// Pid is the manager's process id (this process's for a manager in it,
// 0 for one installed with the chart).
func (o *Operator) Pid() int {
	if o.pods != nil {
		return 0
	}
	if o.proc == nil {
		return os.Getpid()
	}
	return o.proc.PID()
}

// Stop stops the manager: the binary's process group (SIGTERM, then
// SIGKILL after 10 s) and the RSS sampler, or the manager in this process
// (its context cancelled, waiting until it returned). Later calls return
// the first call's error. An operator installed with the chart stays: it
// goes with the local cluster.
func (o *Operator) Stop() error {
	if o.pods != nil {
		return nil
	}
	if o.proc != nil {
		o.rss.stop()
		return o.proc.Stop(context.Background(), 10*time.Second)
	}
	select {
	case <-o.done:
		return nil
	default:
	}
	o.cancel()
	<-o.done
	return errors.Join(o.logErr, o.logFile.Close())
}

// PeakRSS is the highest resident memory (VmRSS) of the manager binary
// sampled since the start or the last ResetPeakRSS, in bytes; 0 for a
// manager in this process.
func (o *Operator) PeakRSS() uint64 { return o.rss.peakBytes() }

// ResetPeakRSS returns PeakRSS and starts a new peak.
func (o *Operator) ResetPeakRSS() uint64 { return o.rss.resetPeak() }

// Status returns a "kB" field of the manager's /proc/<pid>/status (VmRSS,
// VmHWM, RssAnon, ...) in bytes.
func (o *Operator) Status(field string) (uint64, error) { return proc.Status(o.Pid(), field) }

// Metrics returns the manager's /metrics text (within 10 s).
func (o *Operator) Metrics(ctx context.Context) (string, error) {
	if o.pods != nil {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return o.pods.metrics(ctx, o)
	}
	if o.MetricsAddr == "" {
		return "", errors.New("metrics: the manager was started without them")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	b, err := proc.HTTPGet(ctx, "http://"+o.MetricsAddr+"/metrics")
	return string(b), err
}

// HeapProfile returns the manager's heap profile (/debug/pprof/heap,
// gzipped protobuf, within 10 s); it needs OperatorOptions.Pprof.
func (o *Operator) HeapProfile(ctx context.Context) ([]byte, error) {
	if o.PprofAddr == "" {
		return nil, errors.New("heap profile: the manager was started without pprof")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return proc.HTTPGet(ctx, "http://"+o.PprofAddr+"/debug/pprof/heap")
}

// LogTail returns the last n lines of the manager's log (of every manager
// pod's, for an operator installed with the chart), or why it could not be
// read.
func (o *Operator) LogTail(n int) string {
	if o.pods != nil {
		return o.pods.logTail(context.Background(), n)
	}
	return proc.Tail(o.LogPath, n)
}

// LogMark is a point in the manager's log, for LogSince.
type LogMark struct {
	size int64     // the log file's size
	at   time.Time // for the pods' logs, read through the API
}

// LogMark returns the log's current end, for LogSince.
func (o *Operator) LogMark() LogMark {
	m := LogMark{at: time.Now()}
	if fi, err := os.Stat(o.LogPath); err == nil {
		m.size = fi.Size()
	}
	return m
}

// LogSince returns what the manager logged after mark (a LogMark); for an
// operator installed with the chart, what its pods logged from mark's
// second on.
func (o *Operator) LogSince(mark LogMark) (string, error) {
	if o.pods != nil {
		return o.pods.logSince(context.Background(), mark.at)
	}
	b, err := os.ReadFile(o.LogPath)
	if err != nil {
		return "", fmt.Errorf("read the manager log: %w", err)
	}
	if int64(len(b)) < mark.size {
		return "", fmt.Errorf("the manager log is shorter (%d bytes) than the mark %d", len(b), mark.size)
	}
	return string(b[mark.size:]), nil
}

// freeAddr returns a loopback host:port nothing listens on at the moment.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("free port: close the probe listener: %w", err)
	}
	return addr, nil
}
