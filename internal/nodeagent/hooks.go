package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/redkube/redkube/internal/podexec"
)

// Kubelet's lifecycle hook event reasons and messages. Like kubelet, the
// events do not carry the hook's output (it may hold secrets); the agent's
// log does.
const (
	reasonFailedPreStopHook   = "FailedPreStopHook"
	reasonFailedPostStartHook = "FailedPostStartHook"
	msgPreStopHookFailed      = "PreStopHook failed"
	msgPostStartHookFailed    = "PostStartHook failed"
)

// minGraceAfterPreStop is what a container gets between the end of its
// preStop hook and SIGKILL when the hook used up (or overran) the grace
// period: kubelet's minimumGracePeriodInSeconds.
const minGraceAfterPreStop = 2 * time.Second

type hookKind string

const (
	hookPreStop   hookKind = "PreStop"
	hookPostStart hookKind = "PostStart"
)

// hookEvent reports that a lifecycle hook of one container instance ended.
type hookEvent struct {
	name   string
	gen    int
	kind   hookKind
	err    error
	output string
	took   time.Duration
}

// cancelHook stops a running hook of c, if any.
func (c *ctr) cancelHook() {
	if c.hookCancel != nil {
		c.hookCancel()
		c.hookCancel = nil
	}
}

// startHook runs h for c's current process in a goroutine bounded by ctx
// (whose cancel c keeps: the worker cuts a hook off by cancelling it) and
// reports a hookEvent.
func (w *podWorker) startHook(ctx context.Context, cancel context.CancelFunc, c *ctr, kind hookKind, h *corev1.LifecycleHandler) {
	c.hookCancel = cancel
	t := probeTarget{ip: w.sandbox.IP, pid: c.proc.pid, env: c.env, ports: c.spec.Ports}
	name, gen, sp, runCtx := c.name, c.gen, w.a.spawner, w.a.runCtx
	log := w.a.log.With("pod", w.key(), "container", name, "hook", string(kind))
	log.Info("lifecycle hook started")
	go func() {
		defer cancel()
		start := time.Now()
		out, err := runHook(ctx, sp, h, t)
		w.send(runCtx, hookEvent{name: name, gen: gen, kind: kind, err: err, output: out, took: time.Since(start)})
	}()
}

// runHook runs one lifecycle handler the way kubelet does: exec in the
// container's namespaces with its env, HTTP GET against the pod IP, or a
// sleep. tcpSocket is accepted by the API only for compatibility and fails,
// as with kubelet.
func runHook(ctx context.Context, sp *spawner, h *corev1.LifecycleHandler, t probeTarget) (string, error) {
	switch {
	case h.Exec != nil:
		return runHandler(ctx, sp, corev1.ProbeHandler{Exec: h.Exec}, t)
	case h.HTTPGet != nil:
		return runHandler(ctx, sp, corev1.ProbeHandler{HTTPGet: h.HTTPGet}, t)
	case h.Sleep != nil:
		select {
		case <-time.After(time.Duration(h.Sleep.Seconds) * time.Second):
			return "", nil
		case <-ctx.Done():
			return "", fmt.Errorf("sleep hook interrupted: %w", ctx.Err())
		}
	case h.TCPSocket != nil:
		return "", errors.New("tcpSocket is not supported as a lifecycle hook")
	}
	return "", errors.New("lifecycle hook without a handler")
}

// stopContainer begins stopping c's process with grace: the preStop hook
// first (when there is one and grace > 0), SIGTERM when it ends, SIGKILL at
// the deadline (enforced by the caller's sync). A container already being
// stopped only has its deadline brought forward. It reports whether the
// stop began now.
func (w *podWorker) stopContainer(c *ctr, grace time.Duration) bool {
	if c.proc == nil {
		return false
	}
	deadline := time.Now().Add(max(grace, 0))
	if c.killing {
		// A shorter grace period (a second delete) wins.
		if deadline.Before(c.stopDeadline) {
			c.stopDeadline = deadline
			if deadline.Before(c.killDeadline) {
				c.killDeadline = deadline
			}
		}
		w.wakeAt(c.killDeadline)
		return false
	}
	c.stopProbes()
	c.cancelHook() // a postStart hook still running
	c.postStarting = false
	c.killing, c.stopDeadline, c.killDeadline, c.ready = true, deadline, deadline, false
	if lc := c.spec.Lifecycle; lc != nil && lc.PreStop != nil && grace > 0 {
		c.preStopping, c.hookCutOff = true, false
		ctx, cancel := context.WithCancel(w.a.runCtx)
		w.startHook(ctx, cancel, c, hookPreStop, lc.PreStop)
	} else {
		w.sigterm(c)
	}
	w.wakeAt(deadline)
	return true
}

func (w *podWorker) sigterm(c *ctr) {
	if err := podexec.Signal(c.proc.pid, c.proc.ticks, 15); err != nil {
		w.a.log.Warn("SIGTERM failed", "pod", w.key(), "container", c.name, "err", err)
	}
}

// enforceKillDeadline acts on c's stop deadline once it passed: a preStop
// hook still running is cut off (SIGTERM follows when it has ended, with
// minGraceAfterPreStop before SIGKILL), else the process group gets SIGKILL.
func (w *podWorker) enforceKillDeadline(c *ctr, now time.Time) {
	if c.proc == nil || !c.killing {
		return
	}
	if !now.Before(c.killDeadline) && c.preStopping {
		if !c.hookCutOff {
			c.hookCutOff = true
			c.cancelHook()
		}
		return
	}
	if !now.Before(c.killDeadline) {
		if err := podexec.KillGroup(c.proc.pid, c.proc.ticks); err != nil {
			w.a.log.Warn("SIGKILL failed", "pod", w.key(), "container", c.name, "err", err)
		}
		return
	}
	w.wakeAt(c.killDeadline)
}

// hookEnded applies the end of a lifecycle hook.
func (w *podWorker) hookEnded(e hookEvent) {
	c := w.ctrs[e.name]
	if c == nil || c.gen != e.gen || c.proc == nil {
		return
	}
	log := w.a.log.With("pod", w.key(), "container", c.name, "hook", string(e.kind), "took", e.took)
	switch e.kind {
	case hookPreStop:
		if !c.preStopping {
			return
		}
		cutOff := c.hookCutOff
		c.preStopping, c.hookCutOff = false, false
		c.hookCancel = nil
		switch {
		case cutOff:
			// Kubelet records no event when the grace period ends first.
			log.Warn("lifecycle hook cut off", "err", e.err, "output", e.output)
		case e.err != nil:
			log.Warn("lifecycle hook failed", "err", e.err, "output", e.output)
			w.event(corev1.EventTypeWarning, reasonFailedPreStopHook, msgPreStopHookFailed)
		default:
			log.Info("lifecycle hook finished")
		}
		w.sigterm(c)
		if least := time.Now().Add(minGraceAfterPreStop); c.killDeadline.Before(least) {
			c.killDeadline = least
		}
		w.wakeAt(c.killDeadline)
	case hookPostStart:
		if !c.postStarting {
			return
		}
		c.postStarting = false
		c.hookCancel = nil
		if e.err != nil {
			log.Warn("lifecycle hook failed", "err", e.err, "output", e.output)
			w.event(corev1.EventTypeWarning, reasonFailedPostStartHook, msgPostStartHookFailed)
			w.event(corev1.EventTypeNormal, reasonKilling, fmt.Sprintf("FailedPostStartHook: stopping container %s", c.name))
			w.stopContainer(c, w.podGrace())
			return
		}
		log.Info("lifecycle hook finished")
		w.startProbes(c)
	}
}

// startPostStart runs c's postStart hook, if any, right after its process
// started; probes (and readiness) wait for it, as the container is not
// started before its postStart hook completes. It reports whether a hook
// runs.
func (w *podWorker) startPostStart(c *ctr) bool {
	lc := c.spec.Lifecycle
	if lc == nil || lc.PostStart == nil {
		return false
	}
	c.postStarting = true
	ctx, cancel := context.WithCancel(w.a.runCtx)
	w.startHook(ctx, cancel, c, hookPostStart, lc.PostStart)
	return true
}

// podGrace is the pod's terminationGracePeriodSeconds (kubelet's default
// when unset).
func (w *podWorker) podGrace() time.Duration {
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if g := w.pod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	return time.Duration(grace) * time.Second
}
