package services

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// process is one child this package started.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
}

// startProcess starts bin with args, stdout and stderr appended to logPath.
// The child gets its own process group and is killed by the kernel if this
// process dies, so no DNS server or proxy outlives its launcher.
func startProcess(name, bin string, args []string, logPath string, log *slog.Logger) (*process, error) {
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log of %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = lf
	cmd.Stderr = lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = lf.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		_ = lf.Close()
		close(p.done)
	}()
	log.Info("started process", "component", name, "pid", cmd.Process.Pid, "log", logPath)
	return p, nil
}

// pid returns the child's process ID.
func (p *process) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM, waits up to grace (or until ctx ends), then SIGKILLs.
// It returns once the child has been reaped.
func (p *process) stop(ctx context.Context, grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return
	case <-t.C:
	case <-ctx.Done():
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// exitedError returns a non-nil error describing the exit when the child has
// already ended, with the tail of its log.
func (p *process) exitedError() error {
	select {
	case <-p.done:
		cause := p.waitErr
		if cause == nil {
			cause = errors.New("exit status 0")
		}
		return fmt.Errorf("%s exited (%w); log tail:\n%s", p.name, cause, tailFile(p.logPath, 20))
	default:
		return nil
	}
}

// waitHTTPOK polls url until it answers 200, the process exits, or ctx ends.
func (p *process) waitHTTPOK(ctx context.Context, url string) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if err := p.exitedError(); err != nil {
			return err
		}
		last = getOK(ctx, hc, url)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s at %s: %w (last: %w)", p.name, url, ctx.Err(), last)
		case <-p.done:
		case <-tick.C:
		}
	}
}

func getOK(ctx context.Context, hc *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	// The answer is read in full below; closing a response body only
	// releases the connection and has nothing to report.
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

// tailFile returns the last n lines of the file at path (best effort: a read
// error is returned as the text, since it only decorates another error).
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// freeLoopbackPorts returns n TCP ports that were free on 127.0.0.1 a moment
// ago (they are released before returning, so a race with another process is
// possible but harmless: the child then fails to bind and says so).
func freeLoopbackPorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free loopback port: %w", err)
		}
		ls = append(ls, l)
		_, ps, err := net.SplitHostPort(l.Addr().String())
		if err != nil {
			return nil, fmt.Errorf("parse listener address: %w", err)
		}
		p, err := strconv.Atoi(ps)
		if err != nil {
			return nil, fmt.Errorf("parse listener port: %w", err)
		}
		ports = append(ports, p)
	}
	return ports, nil
}

// errNoBinary is wrapped by the Start functions when the binary is missing.
var errNoBinary = errors.New("binary not found")

// netInterface returns the host interface called name.
func netInterface(name string) (*net.Interface, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", name, err)
	}
	return ifc, nil
}
