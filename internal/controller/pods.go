package controller

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
)

// podFinding names the first pod-level failure among the cluster's pods:
// a pod the scheduler cannot place, a container crash-looping or unable to
// start, or a pod its StatefulSet cannot create. The zero value means none.
type podFinding struct {
	Reason  redisv1alpha1.ConditionReason
	Message string
}

// maxDetail bounds the part of a finding's message quoted from elsewhere
// (a scheduler message, a log line, an admission error).
const maxDetail = 300

// podProblems finds the pod-level failures in pods (sorted by name) and in
// createFailures (StatefulSet name → the message of its latest
// FailedCreate event, for shards short of pods). It is pure.
func podProblems(pods []corev1.Pod, createFailures map[string]string) podFinding {
	var found []podFinding
	for _, set := range slices.Sorted(maps.Keys(createFailures)) {
		found = append(found, podFinding{redisv1alpha1.ReasonPodCreateFailed,
			fmt.Sprintf("StatefulSet %s cannot create its pod: %s", set, clip(createFailures[set]))})
	}
	sorted := slices.Clone(pods)
	slices.SortFunc(sorted, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	for i := range sorted {
		if f := podProblem(&sorted[i]); f.Reason != "" {
			found = append(found, f)
		}
	}
	if len(found) == 0 {
		return podFinding{}
	}
	f := found[0]
	if n := len(found) - 1; n > 0 {
		f.Message += fmt.Sprintf(" (and %d more pod problem%s)", n, plural(n))
	}
	return f
}

// podProblem is the failure of one pod, if any: unschedulable first (its
// containers cannot have run), then the first failing container.
func podProblem(p *corev1.Pod) podFinding {
	if p.DeletionTimestamp != nil {
		return podFinding{}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return podFinding{redisv1alpha1.ReasonUnschedulable,
				fmt.Sprintf("pod %s cannot be scheduled: %s", p.Name, clip(c.Message))}
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		w := cs.State.Waiting
		if w == nil {
			continue
		}
		switch reason := containerReason(w.Reason); reason {
		case "":
		case redisv1alpha1.ReasonCrashLoopBackOff:
			return podFinding{reason, fmt.Sprintf("pod %s container %s is in CrashLoopBackOff (%d restart%s)%s",
				p.Name, cs.Name, cs.RestartCount, plural(int(cs.RestartCount)), lastExit(cs.LastTerminationState.Terminated))}
		default:
			msg := fmt.Sprintf("pod %s container %s cannot start: %s", p.Name, cs.Name, w.Reason)
			if w.Message != "" {
				msg += ": " + clip(w.Message)
			}
			return podFinding{reason, msg}
		}
	}
	return podFinding{}
}

// containerReason maps a container's waiting reason to the condition
// reason that names it; "" for the waits of a container on its way up.
func containerReason(waiting string) redisv1alpha1.ConditionReason {
	switch waiting {
	case "", "ContainerCreating", "PodInitializing":
		return ""
	case "CrashLoopBackOff":
		return redisv1alpha1.ReasonCrashLoopBackOff
	case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "ImageNotMapped":
		return redisv1alpha1.ReasonImagePullFailed
	}
	return redisv1alpha1.ReasonContainerCannotStart
}

// lastExit describes a container's last termination: its exit code and the
// last line of its termination message (the log tail with
// terminationMessagePolicy FallbackToLogsOnError).
func lastExit(t *corev1.ContainerStateTerminated) string {
	if t == nil {
		return ""
	}
	out := fmt.Sprintf("; last exit code %d", t.ExitCode)
	if line := lastLine(t.Message); line != "" {
		out += ": " + clip(line)
	}
	return out
}

// lastLine is the last non-blank line of s, trimmed.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// clip shortens s to maxDetail bytes on a rune boundary, marking the cut.
func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) <= maxDetail {
		return s
	}
	cut := maxDetail
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

// claimWaits says, for each pod whose data claim waits on the pod rather
// than on storage, why the pod is not there: the scheduler cannot place it,
// or its StatefulSet (in createFailures) cannot create it. It is pure.
func claimWaits(rc *redisv1alpha1.RedisCluster, pods []corev1.Pod, createFailures map[string]string) map[string]string {
	out := map[string]string{}
	exists := map[string]bool{}
	for i := range pods {
		p := &pods[i]
		exists[p.Name] = true
		if podProblem(p).Reason == redisv1alpha1.ReasonUnschedulable {
			out[p.Name] = "cannot be scheduled"
		}
	}
	for shard := range int(rc.Spec.Masters) {
		set := resources.ShardName(rc, shard)
		if createFailures[set] == "" {
			continue
		}
		for ordinal := range 1 + int(rc.Spec.ReplicasPerMaster) {
			if pod := resources.PodName(rc, shard, ordinal); !exists[pod] {
				out[pod] = "StatefulSet " + set + " cannot create"
			}
		}
	}
	return out
}
