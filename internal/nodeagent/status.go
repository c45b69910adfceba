package nodeagent

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// hostAddress is the node's InternalIP as registered, or the bridge
// gateway (the address pods reach the host on).
func (w *podWorker) hostAddress() string {
	if w.hostIP != "" {
		return w.hostIP
	}
	if n, err := w.node.client.CoreV1().Nodes().Get(w.a.runCtx, w.node.name, metav1.GetOptions{}); err == nil {
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				w.hostIP = a.Address
				return w.hostIP
			}
		}
	}
	w.hostIP = w.a.cfg.Network.Gateway().String()
	return w.hostIP
}

// phase follows kubelet's getPhase for pods without init containers.
func (w *podWorker) phase() corev1.PodPhase {
	if w.initFailed {
		return corev1.PodFailed
	}
	var waiting, running, succeeded, failed int
	for _, cs := range w.pod.Spec.Containers {
		c := w.ctrs[cs.Name]
		switch {
		case c == nil || (c.proc == nil && c.term == nil):
			waiting++
		case c.proc != nil:
			running++
		case c.term.ExitCode == 0:
			succeeded++
		default:
			failed++
		}
	}
	stopped := succeeded + failed
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		switch w.pod.Spec.RestartPolicy {
		case corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case corev1.RestartPolicyOnFailure:
			if failed == 0 {
				return corev1.PodSucceeded
			}
			return corev1.PodRunning
		default:
			if failed == 0 {
				return corev1.PodSucceeded
			}
			return corev1.PodFailed
		}
	}
	return corev1.PodPending
}

// desiredStatus builds the pod status from the worker's state, keeping
// what others own (PodScheduled, DisruptionTarget, qosClass, ...).
func (w *podWorker) desiredStatus() corev1.PodStatus {
	pod := w.pod
	st := *pod.Status.DeepCopy()
	st.Phase = w.phase()
	host := w.hostAddress()
	st.HostIP = host
	st.HostIPs = []corev1.HostIP{{IP: host}}
	if w.sandbox != nil {
		st.PodIP = w.sandbox.IP.String()
		st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	} else if !w.terminal {
		st.PodIP, st.PodIPs = "", nil
	}
	if st.StartTime == nil && !w.startTime.IsZero() {
		t := metav1.NewTime(w.startTime)
		st.StartTime = &t
	}
	st.InitContainerStatuses = nil
	for _, spec := range pod.Spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, w.containerStatus(spec))
	}
	st.ContainerStatuses = nil
	var unready []string
	for _, spec := range pod.Spec.Containers {
		cs := w.containerStatus(spec)
		if !cs.Ready {
			unready = append(unready, spec.Name)
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	now := metav1.NewTime(time.Now())
	setCond := func(t corev1.PodConditionType, ok bool, reason, msg string) {
		status := corev1.ConditionFalse
		if ok {
			status, reason, msg = corev1.ConditionTrue, "", ""
		}
		for i := range st.Conditions {
			c := &st.Conditions[i]
			if c.Type != t {
				continue
			}
			if c.Status != status {
				c.LastTransitionTime = now
			}
			c.Status, c.Reason, c.Message = status, reason, msg
			c.LastProbeTime = metav1.Time{}
			return
		}
		st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: status, Reason: reason, Message: msg, LastTransitionTime: now})
	}
	// A pod bound without the scheduler (spec.nodeName) has no
	// PodScheduled condition; kubelet adds it as True.
	hasScheduled := false
	for _, c := range st.Conditions {
		hasScheduled = hasScheduled || c.Type == corev1.PodScheduled
	}
	if !hasScheduled {
		setCond(corev1.PodScheduled, true, "", "")
	}
	terminal := st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed
	setCond(corev1.PodReadyToStartContainers, w.sandbox != nil, "", "")
	pendingInit := w.pendingInit()
	setCond(corev1.PodInitialized, len(pendingInit) == 0, "ContainersNotInitialized",
		fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(pendingInit, " ")))
	reason, msg := "ContainersNotReady", fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	if terminal {
		reason, msg = "PodCompleted", ""
	}
	ready := len(unready) == 0 && !terminal
	setCond(corev1.ContainersReady, ready, reason, msg)
	gatesOK := true
	for _, g := range pod.Spec.ReadinessGates {
		found := false
		for _, c := range pod.Status.Conditions {
			if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
				found = true
			}
		}
		gatesOK = gatesOK && found
	}
	if ready && !gatesOK {
		reason, msg = "ReadinessGatesNotReady", "corresponding condition of pod readiness gate is not true"
	}
	setCond(corev1.PodReady, ready && gatesOK, reason, msg)
	return st
}

func (w *podWorker) containerStatus(spec corev1.Container) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: spec.Name, Image: spec.Image, ImageID: "redkube://" + imageBase(spec.Image)}
	c := w.ctrs[spec.Name]
	if c == nil {
		reason := waitingCreating
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason}
		cs.Started = new(bool)
		return cs
	}
	cs.RestartCount = c.restartCount
	cs.ContainerID = c.id
	started := false
	switch {
	case c.proc != nil:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.startedAt)}
		cs.Ready = c.ready
		started = c.started
		if c.term != nil {
			cs.LastTerminationState.Terminated = c.term
		}
	case c.waitingReason != "":
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: c.waitingReason, Message: c.waitingMsg}
		if c.term != nil {
			cs.LastTerminationState.Terminated = c.term
		}
	case c.term != nil && !w.wantsRestart(c):
		cs.State.Terminated = c.term
		if c.prevTerm != nil {
			cs.LastTerminationState.Terminated = c.prevTerm
		}
	case c.term != nil:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: waitingCrashLoop}
		cs.LastTerminationState.Terminated = c.term
	default:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: waitingCreating}
	}
	if c.init && !c.sidecar {
		// A completed init container is ready (kubelet's convention).
		cs.Ready = c.proc == nil && c.term != nil && c.term.ExitCode == 0
	}
	cs.Started = &started
	return cs
}

// postStatus patches the pod's status when it differs from the cached one.
// The patch carries the pod's UID, so it never lands on a successor of the
// same name.
func (w *podWorker) postStatus(ctx context.Context) {
	if w.node.isStopped() {
		return
	}
	want := w.desiredStatus()
	if equality.Semantic.DeepEqual(normalize(want), normalize(w.pod.Status)) {
		return
	}
	oldJSON, err := json.Marshal(corev1.Pod{Status: w.pod.Status})
	if err != nil {
		w.a.log.Warn("encode pod status", "pod", w.key(), "err", err)
		return
	}
	newJSON, err := json.Marshal(corev1.Pod{Status: want})
	if err != nil {
		w.a.log.Warn("encode pod status", "pod", w.key(), "err", err)
		return
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(oldJSON, newJSON, corev1.Pod{})
	if err != nil {
		w.a.log.Warn("build pod status patch", "pod", w.key(), "err", err)
		return
	}
	var m map[string]any
	if err := json.Unmarshal(patch, &m); err != nil {
		w.a.log.Warn("decode pod status patch", "pod", w.key(), "err", err)
		return
	}
	m["metadata"] = map[string]any{"uid": string(w.uid)}
	patch, err = json.Marshal(m)
	if err != nil {
		w.a.log.Warn("encode pod status patch", "pod", w.key(), "err", err)
		return
	}
	if _, err := w.node.client.CoreV1().Pods(w.ns).Patch(ctx, w.name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		if ctx.Err() == nil {
			w.a.log.Warn("pod status update failed", "pod", w.key(), "err", err)
			w.wakeAt(time.Now().Add(time.Second))
		}
		return
	}
}

// normalize truncates times to what the API stores (seconds), so a status
// equal up to sub-second precision is not re-posted.
func normalize(s corev1.PodStatus) corev1.PodStatus {
	data, err := json.Marshal(s)
	if err != nil {
		return s
	}
	var out corev1.PodStatus
	if err := json.Unmarshal(data, &out); err != nil {
		return s
	}
	return out
}
