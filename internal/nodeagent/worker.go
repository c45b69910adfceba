package nodeagent

import (
	"context"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/redkube/redkube/internal/podexec"
	"github.com/redkube/redkube/internal/podnet"
)

// Kubelet's event reasons.
const (
	reasonStarted         = "Started"
	reasonCreated         = "Created"
	reasonPulled          = "Pulled"
	reasonKilling         = "Killing"
	reasonBackOff         = "BackOff"
	reasonFailed          = "Failed"
	reasonUnhealthy       = "Unhealthy"
	reasonFailedMount     = "FailedMount"
	reasonFailedSandbox   = "FailedCreatePodSandBox"
	reasonSandboxChanged  = "SandboxChanged"
	waitingCreating       = "ContainerCreating"
	waitingCrashLoop      = "CrashLoopBackOff"
	waitingImageNotMapped = "ImageNotMapped"
	waitingConfigError    = "CreateContainerConfigError"
	waitingRunError       = "RunContainerError"
)

type ctlKind int

const (
	// ctlNodeDown: kill every process at once, drop the sandbox.
	ctlNodeDown ctlKind = iota
)

type ctlMsg struct {
	kind ctlKind
	done chan struct{}
}

// exitEvent reports that a container process ended.
type exitEvent struct {
	name  string
	gen   int
	code  int
	known bool
}

// probeEvent reports a probe state change.
type probeEvent struct {
	name   string
	gen    int
	kind   probeKind
	ok     bool
	output string
}

// podWorker owns one pod; all fields below the channels belong to its run
// goroutine.
type podWorker struct {
	a    *Agent
	node *node
	ns   string
	name string
	uid  types.UID

	notifyCh chan struct{}
	evCh     chan any
	ctlCh    chan ctlMsg
	done     chan struct{} // closed when run returns

	pod       *corev1.Pod
	dir       string
	sandbox   *podnet.Sandbox
	startTime time.Time
	ctrs      map[string]*ctr
	hostIP    string

	volumes     map[string]string // volume name -> host path
	volumesAt   time.Time         // when file volumes were last written
	tokens      map[string]cachedToken
	volumeErr   error
	sandboxErr  error
	terminating bool
	termStart   time.Time
	terminal    bool
	initFailed  bool // an init container failed for good (restartPolicy Never)
	nodeDown    bool
	nextWake    time.Time
	lastEvent   map[string]time.Time
}

func newPodWorker(a *Agent, n *node, ns, name string, uid types.UID, rec *podRecord) *podWorker {
	w := &podWorker{
		a: a, node: n, ns: ns, name: name, uid: uid,
		notifyCh:  make(chan struct{}, 1),
		evCh:      make(chan any, 64),
		ctlCh:     make(chan ctlMsg),
		done:      make(chan struct{}),
		dir:       podDir(a.cfg.StateDir, uid),
		ctrs:      map[string]*ctr{},
		lastEvent: map[string]time.Time{},
	}
	if rec != nil {
		w.adoptRecord(rec)
	}
	return w
}

// adoptRecord restores state persisted by a previous agent. Called before
// the worker runs.
func (w *podWorker) adoptRecord(r *podRecord) {
	w.startTime = r.StartTime
	if r.Sandbox != nil && r.Sandbox.NetnsPath == "" {
		sb := *r.Sandbox // host network
		w.sandbox = &sb
	} else if r.Sandbox != nil {
		if podnet.SandboxAlive(*r.Sandbox) {
			sb := *r.Sandbox
			w.sandbox = &sb
			_ = w.a.ipam.Claim(sb.IP, string(w.uid))
		} else {
			_ = podnet.DestroySandbox(w.a.cfg.Network, *r.Sandbox)
			_ = w.a.ipam.Release(r.Sandbox.IP)
		}
	}
	for name, cr := range r.Containers {
		c := &ctr{name: name, id: cr.ID, startedAt: cr.StartedAt, restartCount: cr.RestartCount, env: cr.Env, term: cr.Term, everStarted: true}
		if cr.PID > 0 && podexec.Alive(cr.PID, cr.Ticks) {
			c.gen++
			c.proc = &proc{pid: cr.PID, ticks: cr.Ticks}
			c.started = true
			c.adopted = true
			go watchAdopted(w, name, c.gen, cr.PID, cr.Ticks)
		} else if cr.PID > 0 {
			c.term = &corev1.ContainerStateTerminated{
				ExitCode: 137, Reason: "ContainerStatusUnknown",
				Message:     "The container exited while the node agent was not running; its exit status is unknown",
				StartedAt:   metav1.NewTime(cr.StartedAt),
				FinishedAt:  metav1.NewTime(time.Now()),
				ContainerID: cr.ID,
			}
		}
		w.ctrs[name] = c
	}
}

func (w *podWorker) key() string { return w.ns + "/" + w.name }

// wake asks the worker to sync; it never blocks.
func (w *podWorker) wake() {
	select {
	case w.notifyCh <- struct{}{}:
	default:
	}
}

// send delivers an event unless ctx ends first.
func (w *podWorker) send(ctx context.Context, ev any) {
	select {
	case w.evCh <- ev:
		return
	default:
	}
	select {
	case w.evCh <- ev:
	case <-ctx.Done():
	}
}

// control runs a control message on the worker and waits for it.
func (w *podWorker) control(ctx context.Context, k ctlKind) error {
	m := ctlMsg{kind: k, done: make(chan struct{})}
	select {
	case w.ctlCh <- m:
	case <-w.done:
		return nil // the worker finished: nothing of the pod is left
	case <-ctx.Done():
		return fmt.Errorf("nodeagent: pod %s: %w", w.key(), ctx.Err())
	}
	select {
	case <-m.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("nodeagent: pod %s: %w", w.key(), ctx.Err())
	}
}

func (w *podWorker) run(ctx context.Context) {
	defer close(w.done)
	log := w.a.log.With("pod", w.key(), "node", w.node.name)
	log.Info("pod worker started")
	// Adopted workers start before the informer has listed the pods.
	if !cache.WaitForCacheSync(ctx.Done(), w.node.informer.HasSynced) {
		w.shutdown()
		return
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		w.nextWake = time.Time{}
		if done := w.sync(ctx); done {
			log.Info("pod worker finished")
			return
		}
		d := time.Minute // periodic resync
		if !w.nextWake.IsZero() {
			d = max(time.Until(w.nextWake), 10*time.Millisecond)
		}
		timer.Reset(d)
		select {
		case <-ctx.Done():
			w.shutdown()
			return
		case <-w.notifyCh:
		case ev := <-w.evCh:
			w.handleEvent(ctx, ev)
		case m := <-w.ctlCh:
			w.handleControl(m)
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// wakeAt schedules the next sync no later than t.
func (w *podWorker) wakeAt(t time.Time) {
	if w.nextWake.IsZero() || t.Before(w.nextWake) {
		w.nextWake = t
	}
}

// currentPod returns the pod from the informer cache, or nil when the pod
// with this worker's UID no longer exists.
func (w *podWorker) currentPod() *corev1.Pod {
	p, err := w.node.lister.Pods(w.ns).Get(w.name)
	if err != nil || p.UID != w.uid {
		return nil
	}
	return p
}

// sync moves the pod one step towards its desired state; it returns true
// when the worker is done.
func (w *podWorker) sync(ctx context.Context) bool {
	pod := w.currentPod()
	if pod == nil {
		// Deleted from the API (force deletion, or our own final delete):
		// nothing may run any more. The processes die before the network
		// goes, as a kubelet stops the containers before the sandbox: a
		// process that exits closes its connections and its peers see
		// them close at once, while one whose network vanished first
		// leaves them hanging until a timeout (a Redis replica then keeps
		// its link to a dead master "up" for repl-timeout).
		w.killAll()
		if !w.awaitExit(killWait) {
			w.a.log.Warn("processes still running after SIGKILL; removing the sandbox anyway", "pod", w.key(), "waited", killWait)
		}
		w.teardown()
		return true
	}
	w.pod = pod
	if w.node.isStopped() {
		return false
	}
	if w.nodeDown {
		w.nodeDown = false
		for _, c := range w.ctrs {
			c.backoff, c.backoffUntil = 0, time.Time{}
		}
	}
	if pod.DeletionTimestamp != nil {
		return w.syncTerminating(ctx)
	}
	if w.startTime.IsZero() {
		if pod.Status.StartTime != nil {
			w.startTime = pod.Status.StartTime.Time
		} else {
			w.startTime = time.Now()
		}
	}
	if !w.terminal {
		if err := w.ensureSandbox(); err != nil {
			w.sandboxErr = err
			w.eventOnce(corev1.EventTypeWarning, reasonFailedSandbox, "sandbox", err.Error())
			w.wakeAt(time.Now().Add(w.a.cfg.RetryInterval))
		} else {
			w.sandboxErr = nil
			if err := w.ensureVolumes(ctx); err != nil {
				w.volumeErr = err
				w.eventOnce(corev1.EventTypeWarning, reasonFailedMount, "mount", err.Error())
				w.wakeAt(time.Now().Add(w.a.cfg.RetryInterval))
			} else {
				w.volumeErr = nil
				w.refreshVolumes(ctx)
				w.syncContainers(ctx)
			}
		}
	}
	w.postStatus(ctx)
	if !w.terminal && w.phase() != corev1.PodPending && w.allTerminatedForGood() {
		w.terminal = true
		w.killAll()
		w.releaseSandbox()
		w.persist()
	}
	return false
}

// syncTerminating carries a graceful deletion forward: each running
// container's preStop hook, then SIGTERM, then SIGKILL when the grace period
// (which includes the hook's time, as with kubelet) runs out.
func (w *podWorker) syncTerminating(ctx context.Context) bool {
	pod := w.pod
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	if pod.DeletionGracePeriodSeconds != nil {
		grace = *pod.DeletionGracePeriodSeconds
	}
	now := time.Now()
	if !w.terminating {
		w.terminating = true
		w.termStart = now
		w.a.log.Info("pod terminating", "pod", w.key(), "grace", grace)
	}
	deadline := w.termStart.Add(time.Duration(grace) * time.Second)
	if grace <= 0 {
		// A force deletion the informer saw before the object vanished
		// (deletionGracePeriodSeconds 0): no hook, no SIGTERM.
		w.killAll()
	}
	for _, c := range w.ctrs {
		c.stopProbes()
		if c.proc != nil && grace > 0 && w.stopContainer(c, deadline.Sub(now)) {
			w.event(corev1.EventTypeNormal, reasonKilling, fmt.Sprintf("Stopping container %s", c.name))
		}
	}
	if w.anyRunning() {
		for _, c := range w.ctrs {
			w.enforceKillDeadline(c, now)
		}
		w.wakeAt(now.Add(time.Second)) // re-check stragglers of the group
		return false
	}
	w.teardown()
	err := w.node.client.CoreV1().Pods(w.ns).Delete(ctx, w.name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To(int64(0)),
		Preconditions:      &metav1.Preconditions{UID: &w.uid},
	})
	if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return true
	}
	w.a.log.Warn("final pod delete failed", "pod", w.key(), "err", err)
	w.wakeAt(now.Add(time.Second))
	return false
}

func (w *podWorker) anyRunning() bool {
	for _, c := range w.ctrs {
		if c.proc != nil {
			return true
		}
	}
	return false
}

// killAll SIGKILLs every container's process group at once; running
// hooks are cancelled.
func (w *podWorker) killAll() {
	for _, c := range w.ctrs {
		c.stopProbes()
		c.cancelHook()
		if c.proc != nil {
			if err := podexec.KillGroup(c.proc.pid, c.proc.ticks); err != nil {
				w.a.log.Warn("SIGKILL failed", "pod", w.key(), "container", c.name, "err", err)
			}
		}
	}
}

// teardown removes everything the pod had on the node. Processes must be
// dead or killed already.
func (w *podWorker) teardown() {
	for _, c := range w.ctrs {
		if c.proc != nil {
			_ = podexec.KillGroup(c.proc.pid, c.proc.ticks)
		}
	}
	w.releaseSandbox()
	if err := os.RemoveAll(w.dir); err != nil {
		w.a.log.Warn("pod folder removal failed", "pod", w.key(), "err", err)
	}
}

// shutdown runs when the agent stops.
func (w *podWorker) shutdown() {
	for _, c := range w.ctrs {
		c.stopProbes()
		c.cancelHook()
	}
	if w.a.cfg.KeepPodsOnExit {
		w.persist()
		return
	}
	for _, c := range w.ctrs {
		if c.proc != nil {
			_ = podexec.Signal(c.proc.pid, c.proc.ticks, 15)
		}
	}
	if !w.awaitExit(w.a.cfg.ShutdownGrace) {
		w.killAll()
		for _, c := range w.ctrs {
			c.proc = nil
		}
	}
	w.teardown()
}

// killWait bounds how long a deleted pod's SIGKILLed processes are waited
// for before its sandbox is removed.
const killWait = 2 * time.Second

// awaitExit waits, for at most d, until no container process runs (their
// exit events arrive on the worker's channel; other events are dropped:
// the pod is going away). It reports whether they all exited.
func (w *podWorker) awaitExit(d time.Duration) bool {
	deadline := time.After(d)
	for w.anyRunning() {
		select {
		case ev := <-w.evCh:
			if e, ok := ev.(exitEvent); ok {
				if c := w.ctrs[e.name]; c != nil && c.gen == e.gen {
					c.proc = nil
				}
			}
		case <-deadline:
			return false
		}
	}
	return true
}

func (w *podWorker) handleControl(m ctlMsg) {
	defer close(m.done)
	switch m.kind {
	case ctlNodeDown:
		w.killAll()
		w.releaseSandbox()
		w.nodeDown = true
		w.persist()
	}
}

func (w *podWorker) handleEvent(ctx context.Context, ev any) {
	switch e := ev.(type) {
	case exitEvent:
		w.containerExited(e)
	case probeEvent:
		w.probeChanged(ctx, e)
	case hookEvent:
		w.hookEnded(e)
	}
}

// event records a pod event.
func (w *podWorker) event(typ, reason, msg string) {
	if w.pod == nil || w.node.recorder == nil || w.node.isStopped() || w.a.runCtx.Err() != nil {
		return
	}
	w.node.recorder.Event(w.pod, typ, reason, msg)
}

// eventOnce records an event at most once per RetryInterval*6 per key, so
// retry loops do not flood the API (the recorder aggregates the rest).
func (w *podWorker) eventOnce(typ, reason, key, msg string) {
	k := reason + "/" + key + "/" + msg
	if t, ok := w.lastEvent[k]; ok && time.Since(t) < 6*w.a.cfg.RetryInterval {
		return
	}
	w.lastEvent[k] = time.Now()
	w.event(typ, reason, msg)
}

// persist writes the pod's record; failures are logged (the record only
// matters for a later adoption).
func (w *podWorker) persist() {
	r := &podRecord{UID: w.uid, Namespace: w.ns, Name: w.name, Node: w.node.name, Sandbox: w.sandbox, StartTime: w.startTime, Containers: map[string]*containerRecord{}}
	for name, c := range w.ctrs {
		cr := &containerRecord{ID: c.id, StartedAt: c.startedAt, RestartCount: c.restartCount, Env: c.env, Term: c.term}
		if c.proc != nil {
			cr.PID, cr.Ticks = c.proc.pid, c.proc.ticks
		}
		r.Containers[name] = cr
	}
	if err := saveRecord(w.a.cfg.StateDir, r); err != nil {
		w.a.log.Warn("pod record not saved", "pod", w.key(), "err", err)
	}
}
