package proc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Options configure Start.
type Options struct {
	// Name names the process in errors and log messages (a component
	// name such as "kube-apiserver").
	Name string
	// LogPath receives the process's stdout and stderr, appended (the file
	// is created when missing).
	LogPath string
	// Truncate empties LogPath first instead of appending to it.
	Truncate bool
	// Logger gets one "started process" message; nil discards it.
	Logger *slog.Logger
}

// Process is a child started by Start. Its methods are safe for concurrent
// use.
type Process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	// done is closed once the process has exited and been reaped; waitErr
	// is its exit status then, closeErr the error of closing its log.
	done     chan struct{}
	waitErr  error
	closeErr error
	stopOnce sync.Once
	stopErr  error
}

// Start starts bin with args, its output going to opts.LogPath. The child
// gets its own process group and is killed by the kernel (SIGKILL) when
// the thread that started it, in practice this process, dies, so no child
// outlives its launcher.
func Start(bin string, args []string, opts Options) (*Process, error) {
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if opts.Truncate {
		flags = os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	}
	lf, err := os.OpenFile(opts.LogPath, flags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log of %s: %w", opts.Name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = lf
	cmd.Stderr = lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("start %s (%s): %w", opts.Name, bin, err), closeLog(opts.Name, lf))
	}
	p := &Process{name: opts.Name, logPath: opts.LogPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		p.closeErr = closeLog(opts.Name, lf)
		close(p.done)
	}()
	if opts.Logger != nil {
		opts.Logger.Info("started process", "component", opts.Name, "pid", cmd.Process.Pid, "log", opts.LogPath)
	}
	return p, nil
}

func closeLog(name string, f *os.File) error {
	if err := f.Close(); err != nil {
		return fmt.Errorf("close log of %s: %w", name, err)
	}
	return nil
}

// Name is the name given to Start.
func (p *Process) Name() string { return p.name }

// LogPath is the file with the process's output.
func (p *Process) LogPath() string { return p.logPath }

// PID is the process ID (also its process group's).
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is nil while the process runs; once it has ended, Err describes
// how, with the last 20 lines of its log.
func (p *Process) Err() error {
	if !p.Exited() {
		return nil
	}
	cause := p.waitErr
	if cause == nil {
		cause = errors.New("exit status 0")
	}
	return fmt.Errorf("%s exited (%w); last log lines:\n%s", p.name, cause, Tail(p.logPath, 20))
}

// Kill sends SIGKILL to the process group and returns once the process
// is reaped.
func (p *Process) Kill() {
	_ = p.signal(syscall.SIGKILL) // a failure leaves nothing to wait for but done
	<-p.done
}

// Stop sends SIGTERM to the process group, waits up to grace (or until
// ctx ends) for the process to exit, then sends SIGKILL; it returns once
// the process is reaped. An exit status is not an error of Stop's (a
// SIGTERM ends most processes with one); a failed signal or a failure to
// close the log is. Later calls return the first call's error.
func (p *Process) Stop(ctx context.Context, grace time.Duration) error {
	p.stopOnce.Do(func() {
		if !p.Exited() {
			p.stopErr = p.signal(syscall.SIGTERM)
			t := time.NewTimer(grace)
			defer t.Stop()
			select {
			case <-p.done:
			case <-t.C:
			case <-ctx.Done():
			}
			if !p.Exited() {
				p.stopErr = errors.Join(p.stopErr, p.signal(syscall.SIGKILL))
			}
		}
		<-p.done
		p.stopErr = errors.Join(p.stopErr, p.closeErr)
	})
	return p.stopErr
}

// signal sends sig to the process group; a group already gone is no error.
func (p *Process) signal(sig syscall.Signal) error {
	if err := syscall.Kill(-p.PID(), sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %s (%v): %w", p.name, sig, err)
	}
	return nil
}
