package controller

import (
	"maps"
	"strings"
	"testing"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

func pod(name string, mutate func(*corev1.Pod)) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "redis", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	if mutate != nil {
		mutate(&p)
	}
	return p
}

func unschedulable(msg string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: msg}}
		p.Status.ContainerStatuses = nil
	}
}

func waiting(reason, msg string, restarts int32, last *corev1.ContainerStateTerminated) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{
			Name: "redis", RestartCount: restarts,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}},
			LastTerminationState: corev1.ContainerState{Terminated: last},
		}}
	}
}

func TestPodProblems(t *testing.T) {
	crashLog := "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, at line 9\n>>> 'maxmemory \"lots\"'\nargument must be a memory value\n"
	for _, tc := range []struct {
		name     string
		pods     []corev1.Pod
		failures map[string]string
		reason   redisv1alpha1.ConditionReason
		says     []string
	}{
		{name: "running pods have no problem", pods: []corev1.Pod{pod("rc-0-0", nil), pod("rc-0-1", nil)}},
		{name: "a container on its way up is no problem", pods: []corev1.Pod{pod("rc-0-0", waiting("ContainerCreating", "", 0, nil))}},
		{name: "an unschedulable pod quotes the scheduler",
			pods:   []corev1.Pod{pod("rc-0-0", nil), pod("rc-0-1", unschedulable("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."))},
			reason: redisv1alpha1.ReasonUnschedulable,
			says:   []string{"pod rc-0-1 cannot be scheduled: 0/3 nodes are available: 3 node(s) didn't match"}},
		{name: "a crash loop names the container, restarts, exit code and last log line",
			pods:   []corev1.Pod{pod("rc-1-0", waiting("CrashLoopBackOff", "back-off 40s", 3, &corev1.ContainerStateTerminated{ExitCode: 1, Message: crashLog}))},
			reason: redisv1alpha1.ReasonCrashLoopBackOff,
			says:   []string{"pod rc-1-0 container redis is in CrashLoopBackOff (3 restarts); last exit code 1: argument must be a memory value"}},
		{name: "a crash loop without a termination message still names the exit code",
			pods:   []corev1.Pod{pod("rc-1-0", waiting("CrashLoopBackOff", "", 1, &corev1.ContainerStateTerminated{ExitCode: 137}))},
			reason: redisv1alpha1.ReasonCrashLoopBackOff,
			says:   []string{"(1 restart); last exit code 137"}},
		{name: "an image that cannot be pulled",
			pods:   []corev1.Pod{pod("rc-0-0", waiting("ImagePullBackOff", `Back-off pulling image "redis:nope"`, 0, nil))},
			reason: redisv1alpha1.ReasonImagePullFailed,
			says:   []string{`pod rc-0-0 container redis cannot start: ImagePullBackOff: Back-off pulling image "redis:nope"`}},
		{name: "a container that cannot be created",
			pods:   []corev1.Pod{pod("rc-0-0", waiting("CreateContainerConfigError", `secret "pw" not found`, 0, nil))},
			reason: redisv1alpha1.ReasonContainerCannotStart,
			says:   []string{`CreateContainerConfigError: secret "pw" not found`}},
		{name: "a StatefulSet that cannot create its pod comes first and the rest are counted",
			pods:     []corev1.Pod{pod("rc-2-0", unschedulable("0/3 nodes are available: 3 Insufficient cpu."))},
			failures: map[string]string{"rc-1": `create Pod rc-1-0 in StatefulSet rc-1 failed error: pods "rc-1-0" is forbidden: no PriorityClass with name gold was found`},
			reason:   redisv1alpha1.ReasonPodCreateFailed,
			says:     []string{"StatefulSet rc-1 cannot create its pod: create Pod rc-1-0", "no PriorityClass with name gold was found", "(and 1 more pod problem)"}},
		{name: "a terminating pod is not reported",
			pods: []corev1.Pod{pod("rc-0-0", func(p *corev1.Pod) {
				unschedulable("gone")(p)
				p.DeletionTimestamp = &metav1.Time{}
			})}},
		{name: "pods are reported in name order",
			pods: []corev1.Pod{
				pod("rc-2-0", waiting("CrashLoopBackOff", "", 2, nil)),
				pod("rc-0-1", unschedulable("0/3 nodes are available: 3 Insufficient memory.")),
			},
			reason: redisv1alpha1.ReasonUnschedulable,
			says:   []string{"pod rc-0-1 cannot be scheduled", "(and 1 more pod problem)"}},
		{name: "a long quote is clipped",
			pods:   []corev1.Pod{pod("rc-0-0", unschedulable(strings.Repeat("é", 400)))},
			reason: redisv1alpha1.ReasonUnschedulable,
			says:   []string{"…"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := podProblems(tc.pods, tc.failures)
			if got.Reason != tc.reason {
				t.Fatalf("reason %q (%s), want %q", got.Reason, got.Message, tc.reason)
			}
			for _, s := range tc.says {
				if !strings.Contains(got.Message, s) {
					t.Errorf("message %q does not say %q", got.Message, s)
				}
			}
			if !utf8.ValidString(got.Message) {
				t.Errorf("message %q is not valid UTF-8", got.Message)
			}
			if len(got.Message) > 2*maxDetail+200 {
				t.Errorf("message is %d bytes long", len(got.Message))
			}
		})
	}
}

func TestClaimWaitsNamesWhyAPodIsNotThere(t *testing.T) {
	rc := &redisv1alpha1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Name: "rc"}, Spec: redisv1alpha1.RedisClusterSpec{Masters: 3, ReplicasPerMaster: 1}}
	pods := []corev1.Pod{
		pod("rc-0-0", nil),
		pod("rc-0-1", unschedulable("0/3 nodes are available")),
		pod("rc-1-0", nil),
	}
	got := claimWaits(rc, pods, map[string]string{"rc-2": "forbidden"})
	want := map[string]string{
		"rc-0-1": "cannot be scheduled",
		"rc-2-0": "StatefulSet rc-2 cannot create",
		"rc-2-1": "StatefulSet rc-2 cannot create",
	}
	if !maps.Equal(got, want) {
		t.Errorf("claimWaits = %v, want %v (rc-1-1 is missing without a create failure: not explained)", got, want)
	}
}
