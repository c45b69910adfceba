package benchenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ManagerOptions configures Env.StartManager.
type ManagerOptions struct {
	// Binary is the manager binary (go build ./cmd/manager).
	Binary string
	// LogPath keeps the manager's output; empty means manager.log in the
	// work folder (removed with it).
	LogPath string
	// Pprof serves the manager's /debug/pprof on a free loopback port
	// (Manager.HeapProfile).
	Pprof bool
	// Args are extra manager flags, after the ones StartManager sets.
	Args []string
}

// Manager is a manager process started by Env.StartManager, in its own
// process group, with its resident memory sampled every 500 ms.
type Manager struct {
	// LogPath is the file with the manager's output.
	LogPath string
	// MetricsAddr is the loopback host:port of its /metrics.
	MetricsAddr string
	// PprofAddr is the loopback host:port of its /debug/pprof, "" unless
	// ManagerOptions.Pprof.
	PprofAddr string

	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	waitErr  error         // closing the log file, once done is closed
	rss      *rssSampler
	stopOnce sync.Once
	stopErr  error
}

// StartManager runs the manager binary against the cluster as its own
// process (so that its resident memory can be read from /proc), with its
// metrics on a free loopback port and health probes off, and returns
// when its /metrics answers (within a minute). Env.Stop stops it, if the
// caller has not.
func (e *Env) StartManager(ctx context.Context, opts ManagerOptions) (*Manager, error) {
	m := &Manager{LogPath: opts.LogPath}
	if m.LogPath == "" {
		m.LogPath = filepath.Join(e.Work, "manager.log")
	}
	var err error
	if m.MetricsAddr, err = freeAddr(); err != nil {
		return nil, err
	}
	args := []string{"--kubeconfig", e.Cluster.Kubeconfig,
		"--metrics-bind-address", m.MetricsAddr, "--health-probe-bind-address", "0"}
	if opts.Pprof {
		if m.PprofAddr, err = freeAddr(); err != nil {
			return nil, err
		}
		args = append(args, "--pprof-bind-address", m.PprofAddr)
	}
	args = append(args, opts.Args...)
	f, err := os.Create(m.LogPath)
	if err != nil {
		return nil, fmt.Errorf("manager log: %w", err)
	}
	m.cmd = exec.Command(opts.Binary, args...)
	m.cmd.Stdout, m.cmd.Stderr = f, f
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := m.cmd.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("start manager %s: %w", opts.Binary, err), closeLog(f))
	}
	m.done = make(chan struct{})
	go func() {
		// The exit status is that of a SIGTERM when Stop ended it: not
		// an error of the benchmark's.
		_ = m.cmd.Wait()
		m.waitErr = closeLog(f)
		close(m.done)
	}()
	m.rss = sampleRSS(m.Pid())
	e.managers = append(e.managers, m)
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := m.Metrics(ctx); err == nil {
			break
		}
		select {
		case <-m.done:
			return nil, fmt.Errorf("manager exited at start; log %s:\n%s", m.LogPath, m.LogTail(20))
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the manager's /metrics: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, errors.New("manager /metrics did not answer within 1m")
		}
	}
	e.log.Info("manager started", "pid", m.Pid(), "metrics", m.MetricsAddr)
	return m, nil
}

func closeLog(f *os.File) error {
	if err := f.Close(); err != nil {
		return fmt.Errorf("close the manager log: %w", err)
	}
	return nil
}

// Pid is the manager's process id.
func (m *Manager) Pid() int { return m.cmd.Process.Pid }

// Stop stops the manager's process group (SIGTERM, then SIGKILL after
// 10 s) and the RSS sampler. Later calls return the first call's error.
func (m *Manager) Stop() error {
	m.stopOnce.Do(func() {
		m.rss.stop()
		select {
		case <-m.done:
		default:
			if err := m.signal(syscall.SIGTERM); err != nil {
				m.stopErr = err
			}
			select {
			case <-m.done:
			case <-time.After(10 * time.Second):
				if err := m.signal(syscall.SIGKILL); err != nil {
					m.stopErr = errors.Join(m.stopErr, err)
				}
				<-m.done
			}
		}
		m.stopErr = errors.Join(m.stopErr, m.waitErr)
	})
	return m.stopErr
}

// signal sends sig to the manager's process group; a group already gone
// is no error.
func (m *Manager) signal(sig syscall.Signal) error {
	if err := syscall.Kill(-m.Pid(), sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal the manager (%v): %w", sig, err)
	}
	return nil
}

// PeakRSS is the highest resident memory (VmRSS) sampled since the start
// or the last ResetPeakRSS, in bytes.
func (m *Manager) PeakRSS() uint64 { return m.rss.peakBytes() }

// ResetPeakRSS returns PeakRSS and starts a new peak.
func (m *Manager) ResetPeakRSS() uint64 { return m.rss.resetPeak() }

// Status returns a "kB" field of the manager's /proc/<pid>/status
// (VmRSS, VmHWM, RssAnon, ...) in bytes.
func (m *Manager) Status(field string) (uint64, error) { return ProcStatus(m.Pid(), field) }

// Metrics returns the manager's /metrics text.
func (m *Manager) Metrics(ctx context.Context) (string, error) {
	b, err := httpGet(ctx, "http://"+m.MetricsAddr+"/metrics")
	return string(b), err
}

// HeapProfile returns the manager's heap profile (/debug/pprof/heap,
// gzipped protobuf); it needs ManagerOptions.Pprof.
func (m *Manager) HeapProfile(ctx context.Context) ([]byte, error) {
	if m.PprofAddr == "" {
		return nil, errors.New("heap profile: the manager was started without pprof")
	}
	return httpGet(ctx, "http://"+m.PprofAddr+"/debug/pprof/heap")
}

// LogTail returns the last n lines of the manager's log, or why it could
// not be read.
func (m *Manager) LogTail(n int) string {
	b, err := os.ReadFile(m.LogPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// httpGet returns the body of a GET of url that answers 200 (within 10 s).
func httpGet(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", url, err)
	}
	b, err := io.ReadAll(resp.Body)
	if err = errors.Join(err, resp.Body.Close()); err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get %s: %s", url, resp.Status)
	}
	return b, nil
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
