package nodeagent

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/redkube/redkube/internal/podexec"
)

// ctr is one container of a pod, across its restarts.
type ctr struct {
	name         string
	spec         corev1.Container
	gen          int // bumps per process instance; stale events are ignored
	proc         *proc
	id           string
	startedAt    time.Time
	restartCount int32
	everStarted  bool
	env          []string

	waitingReason, waitingMsg string
	term, prevTerm            *corev1.ContainerStateTerminated

	ready, started bool
	backoff        time.Duration
	backoffUntil   time.Time
	failBackoff    time.Duration
	failUntil      time.Time
	probeCancel    context.CancelFunc
	hookCancel     context.CancelFunc // a running lifecycle hook
	postStarting   bool               // the postStart hook runs; probes wait
	preStopping    bool               // the preStop hook runs; SIGTERM waits
	hookCutOff     bool               // the preStop hook was cancelled at the deadline
	stopDeadline   time.Time          // end of the grace period of the stop
	killing        bool               // being stopped (stopContainer)
	killDeadline   time.Time          // SIGKILL then
	adopted        bool               // running process found in a record; probes not started yet
	init, sidecar  bool               // an init container; one with restartPolicy Always
}

// proc is a running container process.
type proc struct {
	pid   int
	ticks uint64
}

func (c *ctr) stopProbes() {
	if c.probeCancel != nil {
		c.probeCancel()
		c.probeCancel = nil
	}
}

// restartWanted says whether an exited container is to run again.
func restartWanted(policy corev1.RestartPolicy, c *ctr) bool {
	if c.term == nil {
		return true // never ran
	}
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return c.term.ExitCode != 0
	default:
		return true
	}
}

// allTerminatedForGood reports whether every container has exited and none
// will be restarted: the pod reached a terminal phase.
func (w *podWorker) allTerminatedForGood() bool {
	if w.initFailed {
		return true
	}
	if len(w.pod.Spec.Containers) == 0 {
		return false
	}
	for _, cs := range w.pod.Spec.Containers {
		c := w.ctrs[cs.Name]
		if c == nil || c.proc != nil || c.term == nil || w.wantsRestart(c) {
			return false
		}
	}
	return true
}

// ctrFor returns the state of the container spec, creating it.
func (w *podWorker) ctrFor(spec corev1.Container, init bool) *ctr {
	c := w.ctrs[spec.Name]
	if c == nil {
		c = &ctr{name: spec.Name}
		w.ctrs[spec.Name] = c
	}
	c.spec = spec
	c.init = init
	c.sidecar = init && spec.RestartPolicy != nil && *spec.RestartPolicy == corev1.ContainerRestartPolicyAlways
	return c
}

// wantsRestart applies the pod's restart policy to c: init containers are
// retried only on failure (unless Never), sidecars always.
func (w *podWorker) wantsRestart(c *ctr) bool {
	policy := w.pod.Spec.RestartPolicy
	switch {
	case c.sidecar:
		policy = corev1.RestartPolicyAlways
	case c.init && policy == corev1.RestartPolicyAlways:
		policy = corev1.RestartPolicyOnFailure
	}
	return restartWanted(policy, c)
}

// syncContainers runs the init containers one after the other (a sidecar
// counts as done once running), then keeps the main containers running.
func (w *podWorker) syncContainers(ctx context.Context) {
	now := time.Now()
	for _, spec := range w.pod.Spec.InitContainers {
		c := w.ctrFor(spec, true)
		w.runOne(ctx, c, now)
		if c.sidecar {
			if c.proc == nil {
				return
			}
			continue
		}
		if c.proc != nil || c.term == nil || c.term.ExitCode != 0 {
			if c.proc == nil && c.term != nil && !w.wantsRestart(c) {
				w.initFailed = true
			}
			return
		}
	}
	for _, spec := range w.pod.Spec.Containers {
		w.runOne(ctx, w.ctrFor(spec, false), now)
	}
}

// pendingInit names the init containers that have not completed (sidecars:
// are not running).
func (w *podWorker) pendingInit() []string {
	var names []string
	for _, spec := range w.pod.Spec.InitContainers {
		c := w.ctrs[spec.Name]
		switch {
		case c == nil:
			names = append(names, spec.Name)
		case c.sidecar && c.proc == nil, !c.sidecar && (c.proc != nil || c.term == nil || c.term.ExitCode != 0):
			names = append(names, spec.Name)
		}
	}
	return names
}

// runOne keeps one container going: it enforces a pending probe kill,
// restarts an exited container when its policy and back-off allow, and
// records why it could not start.
func (w *podWorker) runOne(ctx context.Context, c *ctr, now time.Time) {
	if c.proc != nil {
		if c.adopted {
			// Probes of a process a previous agent started.
			c.adopted = false
			w.startProbes(c)
		}
		w.enforceKillDeadline(c, now)
		return
	}
	if !w.wantsRestart(c) {
		return
	}
	if now.Before(c.failUntil) {
		w.wakeAt(c.failUntil)
		return
	}
	if c.term != nil && now.Before(c.backoffUntil) {
		c.waitingReason = waitingCrashLoop
		c.waitingMsg = fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)",
			c.backoff/2, c.name, w.name, w.ns, w.uid)
		w.eventOnce(corev1.EventTypeWarning, reasonBackOff, c.name, fmt.Sprintf("Back-off restarting failed container %s in pod %s_%s(%s)", c.name, w.name, w.ns, w.uid))
		w.wakeAt(c.backoffUntil)
		return
	}
	reason, err := w.startContainer(ctx, c)
	if err != nil {
		c.waitingReason, c.waitingMsg = reason, err.Error()
		w.eventOnce(corev1.EventTypeWarning, reasonFailed, c.name, fmt.Sprintf("Error: %s", err))
		c.failBackoff = nextBackoff(c.failBackoff, w.a.cfg.BackoffInitial, w.a.cfg.BackoffMax)
		c.failUntil = now.Add(c.failBackoff)
		w.wakeAt(c.failUntil)
	}
}

func nextBackoff(cur, initial, maxB time.Duration) time.Duration {
	if cur == 0 {
		return initial
	}
	return min(2*cur, maxB)
}

// startContainer starts c's process; on failure it returns the waiting
// reason with the error.
func (w *podWorker) startContainer(ctx context.Context, c *ctr) (string, error) {
	spec := c.spec
	bin, argv, reason, err := w.a.cfg.commandFor(spec)
	if err != nil {
		return reason, err
	}
	user, err := containerUser(w.pod, &spec)
	if err != nil {
		return waitingConfigError, err
	}
	home := "/root"
	if user != nil && user.UID != 0 {
		// The runtime takes HOME from the image's /etc/passwd, and uses
		// "/" for a user it does not list.
		home = "/"
	}
	env, err := w.buildEnv(ctx, spec, home)
	if err != nil {
		return waitingConfigError, err
	}
	vars := envMap(env)
	for i := 1; i < len(argv); i++ {
		argv[i] = expandVars(argv[i], vars)
	}
	mounts, err := w.mountsFor(spec)
	if err != nil {
		return waitingConfigError, err
	}
	cdir := filepath.Join(w.dir, "containers", spec.Name)
	scratch := filepath.Join(cdir, "scratch")
	workdir := spec.WorkingDir
	if workdir == "" {
		// No image WORKDIR: a private folder rather than the host's "/".
		workdir = filepath.Join(cdir, "workdir")
	}
	for _, d := range []string{scratch, filepath.Join(cdir, "workdir")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return waitingRunError, fmt.Errorf("create container folder: %w", err)
		}
	}
	if user != nil && spec.WorkingDir == "" {
		// The private working folder stands in for the image's WORKDIR:
		// the container's user may write there.
		if err := os.Chown(workdir, int(user.UID), int(user.GID)); err != nil {
			return waitingRunError, fmt.Errorf("give the working folder to user %d: %w", user.UID, err)
		}
	}
	cmd, err := podexec.Command(podexec.Spec{
		Path: bin, Args: argv, Env: env, Dir: workdir,
		NetnsPath: w.sandbox.NetnsPath, Hostname: podHostname(w.pod),
		Mounts: mounts, ScratchDir: scratch, User: user,
		ReadOnlyRoot:  readOnlyRoot(&spec),
		NoNewPrivs:    noNewPrivs(&spec),
		DieWithParent: !w.a.cfg.KeepPodsOnExit,
	})
	if err != nil {
		return waitingRunError, err
	}
	if c.everStarted {
		if err := rotateLog(cdir); err != nil {
			return waitingRunError, fmt.Errorf("keep the previous container log: %w", err)
		}
	}
	out, err := w.a.openContainerLog(cdir)
	if err != nil {
		return waitingRunError, err
	}
	cmd.Stdout, cmd.Stderr = out.stdout, out.stderr
	err = w.a.spawner.start(ctx, cmd)
	out.started()
	if err != nil {
		out.abort()
		return waitingRunError, fmt.Errorf("start container process: %w", err)
	}
	pid := cmd.Process.Pid
	ticks, _ := podexec.StartTicks(pid)
	c.gen++
	gen := c.gen
	if c.everStarted {
		c.restartCount++
	}
	c.everStarted = true
	c.proc = &proc{pid: pid, ticks: ticks}
	c.id = "redkube://" + strings.ReplaceAll(uuid.NewString(), "-", "")
	c.startedAt = time.Now()
	c.env = env
	c.waitingReason, c.waitingMsg = "", ""
	c.failBackoff, c.failUntil = 0, time.Time{}
	c.ready = false
	c.started = spec.StartupProbe == nil
	c.killing, c.preStopping, c.postStarting = false, false, false
	runCtx := w.a.runCtx
	go func() {
		err := cmd.Wait()
		out.finish()
		code, known := exitStatus(cmd, err)
		w.send(runCtx, exitEvent{name: spec.Name, gen: gen, code: code, known: known})
	}()
	w.event(corev1.EventTypeNormal, reasonPulled, fmt.Sprintf("Container image %q already present on machine (runs %s)", spec.Image, bin))
	w.event(corev1.EventTypeNormal, reasonCreated, fmt.Sprintf("Created container: %s", spec.Name))
	w.event(corev1.EventTypeNormal, reasonStarted, fmt.Sprintf("Started container %s", spec.Name))
	if !w.startPostStart(c) {
		w.startProbes(c)
	}
	w.persist()
	w.a.log.Info("container started", "pod", w.key(), "container", spec.Name, "pid", pid, "binary", bin, "restartCount", c.restartCount)
	return "", nil
}

func exitStatus(cmd *exec.Cmd, err error) (int, bool) {
	st := cmd.ProcessState
	if st == nil {
		return 137, false
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), true
	}
	_ = err
	return st.ExitCode(), true
}

// containerExited records a process exit and arms the restart back-off.
func (w *podWorker) containerExited(e exitEvent) {
	c := w.ctrs[e.name]
	if c == nil || c.gen != e.gen || c.proc == nil {
		return
	}
	c.stopProbes()
	c.cancelHook()
	c.proc = nil
	c.ready = false
	c.killing, c.preStopping, c.postStarting = false, false, false
	now := time.Now()
	t := &corev1.ContainerStateTerminated{
		ExitCode:    int32(e.code),
		StartedAt:   metav1.NewTime(c.startedAt),
		FinishedAt:  metav1.NewTime(now),
		ContainerID: c.id,
	}
	switch {
	case !e.known:
		t.Reason = "ContainerStatusUnknown"
		t.Message = "The container exited while the node agent was not watching it; its exit status is unknown"
	case e.code == 0:
		t.Reason = "Completed"
	default:
		t.Reason = "Error"
		if c.spec.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError || e.code == podexec.InitFailedExitCode {
			t.Message = logTail(containerLogPath(w.dir, c.name, false), 1024)
		}
	}
	c.prevTerm, c.term = c.term, t
	// Kubelet forgets the back-off of a container that ran long enough.
	if now.Sub(c.startedAt) > 2*w.a.cfg.BackoffMax {
		c.backoff = 0
	}
	if c.backoff == 0 {
		c.backoffUntil = now // first crash: restart at once
		c.backoff = w.a.cfg.BackoffInitial
	} else {
		c.backoffUntil = now.Add(c.backoff)
		c.backoff = min(2*c.backoff, w.a.cfg.BackoffMax)
	}
	w.persist()
	w.a.log.Info("container exited", "pod", w.key(), "container", c.name, "exitCode", e.code, "restartAt", c.backoffUntil)
}

// watchAdopted waits for an adopted (non-child) process to exit.
func watchAdopted(w *podWorker, name string, gen, pid int, ticks uint64) {
	ctx := w.a.runCtx
	fd, err := unix.PidfdOpen(pid, 0)
	if err == nil {
		// A pidfd holds no data; closing it only releases the descriptor.
		defer func() { _ = unix.Close(fd) }()
	}
	for ctx.Err() == nil {
		if fd >= 0 && err == nil {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			if n, perr := unix.Poll(fds, 1000); perr == nil && n > 0 {
				break
			}
		} else {
			time.Sleep(time.Second)
		}
		if !podexec.Alive(pid, ticks) {
			break
		}
	}
	if ctx.Err() != nil {
		return
	}
	w.send(ctx, exitEvent{name: name, gen: gen, code: 137, known: false})
}

// commandFor maps a container to a host binary and argv. With a command,
// command[0] is looked up (Config.Commands, then PATH); without one, the
// image must be in the image map and args follow the binary.
func (c Config) commandFor(spec corev1.Container) (bin string, argv []string, reason string, err error) {
	if len(spec.Command) > 0 {
		bin, err := c.resolveCommand(spec.Command[0])
		if err != nil {
			return "", nil, waitingRunError, err
		}
		return bin, append(append([]string{spec.Command[0]}, spec.Command[1:]...), spec.Args...), "", nil
	}
	bin, err = c.resolveImage(spec.Image)
	if err != nil {
		return "", nil, waitingImageNotMapped, err
	}
	return bin, append([]string{filepath.Base(bin)}, spec.Args...), "", nil
}
