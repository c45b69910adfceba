package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/redkube/redkube/internal/podexec"
)

type probeKind string

const (
	probeStartup   probeKind = "Startup"
	probeLiveness  probeKind = "Liveness"
	probeReadiness probeKind = "Readiness"
)

// startProbes starts one goroutine per configured probe of c's current
// process; they report state changes to the worker and end with the
// process (stopProbes).
func (w *podWorker) startProbes(c *ctr) {
	spec := c.spec
	if spec.StartupProbe == nil && spec.LivenessProbe == nil && spec.ReadinessProbe == nil {
		c.ready = true
		return
	}
	ctx, cancel := context.WithCancel(w.a.runCtx)
	c.probeCancel = cancel
	started := make(chan struct{})
	if spec.StartupProbe == nil {
		close(started)
	}
	t := probeTarget{ip: w.sandbox.IP, pid: c.proc.pid, env: c.env, ports: spec.Ports}
	gen, name := c.gen, c.name
	if spec.ReadinessProbe == nil {
		go func() {
			select {
			case <-started:
				w.send(ctx, probeEvent{name: name, gen: gen, kind: probeReadiness, ok: true})
			case <-ctx.Done():
			}
		}()
	}
	if spec.StartupProbe != nil {
		go w.probeLoop(ctx, name, gen, probeStartup, spec.StartupProbe, t, nil, started)
	}
	if spec.LivenessProbe != nil {
		go w.probeLoop(ctx, name, gen, probeLiveness, spec.LivenessProbe, t, started, nil)
	}
	if spec.ReadinessProbe != nil {
		go w.probeLoop(ctx, name, gen, probeReadiness, spec.ReadinessProbe, t, started, nil)
	}
}

type probeTarget struct {
	ip    netip.Addr
	pid   int
	env   []string
	ports []corev1.ContainerPort
}

// probeLoop runs one probe per kubelet's rules: initialDelaySeconds, then
// every periodSeconds with timeoutSeconds; successThreshold and
// failureThreshold consecutive results flip the state. Readiness reports
// every flip; liveness and startup report failure (and startup success).
func (w *podWorker) probeLoop(ctx context.Context, name string, gen int, kind probeKind, p *corev1.Probe, t probeTarget, after <-chan struct{}, onSuccess chan struct{}) {
	if after != nil {
		select {
		case <-after:
		case <-ctx.Done():
			return
		}
	}
	period := secondsOr(p.PeriodSeconds, 10)
	timeout := secondsOr(p.TimeoutSeconds, 1)
	succT := int(max(p.SuccessThreshold, 1))
	failT := int(max(p.FailureThreshold, 3))
	if d := time.Duration(p.InitialDelaySeconds) * time.Second; d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return
		}
	}
	var succ, fail int
	state := -1 // unknown
	for {
		out, err := runProbe(ctx, w.a.spawner, p, t, timeout)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			succ, fail = succ+1, 0
		} else {
			succ, fail = 0, fail+1
			w.send(ctx, probeEvent{name: name, gen: gen, kind: kind, ok: false, output: "probe-failed: " + strings.TrimSpace(err.Error()+" "+out)})
		}
		switch {
		case succ >= succT && state != 1:
			state = 1
			w.send(ctx, probeEvent{name: name, gen: gen, kind: kind, ok: true})
			if onSuccess != nil {
				close(onSuccess)
				return
			}
		case fail >= failT && state != 0:
			state = 0
			w.send(ctx, probeEvent{name: name, gen: gen, kind: kind, ok: false, output: "threshold: " + strings.TrimSpace(errString(err)+" "+out)})
			if kind != probeReadiness {
				return // the container is killed
			}
		}
		select {
		case <-time.After(period):
		case <-ctx.Done():
			return
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func secondsOr(v int32, def int) time.Duration {
	if v <= 0 {
		return time.Duration(def) * time.Second
	}
	return time.Duration(v) * time.Second
}

// runProbe runs one probe attempt; a nil error is success.
func runProbe(ctx context.Context, sp *spawner, p *corev1.Probe, t probeTarget, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return runHandler(ctx, sp, p.ProbeHandler, t)
}

// runHandler runs an exec, TCP or HTTP GET handler against the container
// (probes and lifecycle hooks share it); a nil error is success.
func runHandler(ctx context.Context, sp *spawner, p corev1.ProbeHandler, t probeTarget) (string, error) {
	switch {
	case p.Exec != nil:
		return execProbe(ctx, sp, p.Exec.Command, t)
	case p.TCPSocket != nil:
		port, err := resolvePort(p.TCPSocket.Port, t.ports)
		if err != nil {
			return "", err
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(t.ip, uint16(port)).String())
		if err != nil {
			return "", fmt.Errorf("dial tcp %s:%d: %w", t.ip, port, err)
		}
		return "", conn.Close()
	case p.HTTPGet != nil:
		port, err := resolvePort(p.HTTPGet.Port, t.ports)
		if err != nil {
			return "", err
		}
		scheme := "http"
		if p.HTTPGet.Scheme == corev1.URISchemeHTTPS {
			scheme = "https"
		}
		host := t.ip.String()
		if p.HTTPGet.Host != "" {
			host = p.HTTPGet.Host
		}
		url := fmt.Sprintf("%s://%s/%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), strings.TrimPrefix(p.HTTPGet.Path, "/"))
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return "", fmt.Errorf("build probe request: %w", err)
		}
		for _, h := range p.HTTPGet.HTTPHeaders {
			req.Header.Add(h.Name, h.Value)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", fmt.Errorf("GET %s: %w", url, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return "", fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
		}
		return "", nil
	}
	return "", fmt.Errorf("probe type not supported by the redkube node agent")
}

// execProbe runs a command inside the container's namespaces.
func execProbe(ctx context.Context, sp *spawner, command []string, t probeTarget) (string, error) {
	if len(command) == 0 {
		return "", fmt.Errorf("exec probe without a command")
	}
	bin, err := exec.LookPath(command[0])
	if err != nil {
		return "", fmt.Errorf("exec probe command %q not found on the node: %w", command[0], err)
	}
	var cmd *exec.Cmd
	if nsenter := nsenterPath(); nsenter != "" {
		// util-linux nsenter (a small C program) joins the namespaces for a
		// fraction of the cost of re-executing this Go binary.
		args := []string{"nsenter", "--target", strconv.Itoa(t.pid), "--mount", "--uts", "--net", "--wd=/", "--", bin}
		cmd = &exec.Cmd{Path: nsenter, Args: append(args, command[1:]...), Env: t.env,
			SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}}
	} else {
		cmd, err = podexec.Command(podexec.Spec{Path: bin, Args: command, Env: t.env, Dir: "/", JoinPID: t.pid, DieWithParent: true})
		if err != nil {
			return "", err
		}
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := sp.start(ctx, cmd); err != nil {
		return "", fmt.Errorf("start exec probe: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return truncate(out.String(), 512), fmt.Errorf("command %q: %w", strings.Join(command, " "), err)
		}
		return truncate(out.String(), 512), nil
	case <-ctx.Done():
		_ = podexec.KillGroup(cmd.Process.Pid, 0) // it may have exited already; Wait below tells
		timedOut := fmt.Errorf("command %q timed out", strings.Join(command, " "))
		// The killed command's exit status adds nothing; a failing Wait does.
		var ee *exec.ExitError
		if err := <-done; err != nil && !errors.As(err, &ee) {
			return "", errors.Join(timedOut, fmt.Errorf("reap: %w", err))
		}
		return "", timedOut
	}
}

var (
	nsenterOnce sync.Once
	nsenterBin  string
)

// nsenterPath is the host's nsenter, or "" when there is none.
func nsenterPath() string {
	nsenterOnce.Do(func() {
		if p, err := exec.LookPath("nsenter"); err == nil {
			nsenterBin = p
		}
	})
	return nsenterBin
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func resolvePort(p intstr.IntOrString, ports []corev1.ContainerPort) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("port %q not found in the container's ports", p.StrVal)
}

// probeChanged applies a probe result to the container.
func (w *podWorker) probeChanged(ctx context.Context, e probeEvent) {
	c := w.ctrs[e.name]
	if c == nil || c.gen != e.gen || c.proc == nil {
		return
	}
	if !e.ok && strings.HasPrefix(e.output, "probe-failed: ") {
		w.eventOnce(corev1.EventTypeWarning, reasonUnhealthy, c.name+string(e.kind),
			fmt.Sprintf("%s probe failed: %s", e.kind, strings.TrimPrefix(e.output, "probe-failed: ")))
		return
	}
	switch e.kind {
	case probeReadiness:
		c.ready = e.ok
	case probeStartup:
		if e.ok {
			c.started = true
			return
		}
		w.killForProbe(c, "startup")
	case probeLiveness:
		if !e.ok {
			w.killForProbe(c, "liveness")
		}
	}
	_ = ctx
}

// killForProbe stops a container that failed its liveness or startup
// probe: its preStop hook, SIGTERM, SIGKILL after the grace period; then
// the normal restart path.
func (w *podWorker) killForProbe(c *ctr, which string) {
	if c.killing {
		return
	}
	w.event(corev1.EventTypeNormal, reasonKilling, fmt.Sprintf("Container %s failed %s probe, will be restarted", c.name, which))
	w.stopContainer(c, w.podGrace())
}
