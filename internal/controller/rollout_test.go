package controller

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/pkg/planner"
)

// outdate marks pods as running an older template.
func outdate(w *world, names ...string) {
	for _, n := range names {
		w.pod(n).Outdated = true
	}
}

func TestRollingUpdateReplacesReplicasFirst(t *testing.T) {
	w := healthy(3, 1, threeHosts...)
	outdate(w, "rc-0-0", "rc-0-1", "rc-1-0", "rc-1-1")
	a := decide(w.observation())
	if a.Kind != actUpdatePod || a.Pod != "rc-0-1" {
		t.Fatalf("decide = %s pod %q (%q), want rc-0-1 (shard 0's replica) replaced first", a.Kind, a.Pod, a.Message)
	}
	if !strings.Contains(a.Message, "2 of 6 pods run the current template") {
		t.Errorf("message %q does not report progress", a.Message)
	}
}

func TestRollingUpdateHandsTheMasterRoleOverBeforeReplacingTheMaster(t *testing.T) {
	w := healthy(3, 1, threeHosts...)
	outdate(w, "rc-0-0")
	a := decide(w.observation())
	if a.Kind != actFailover || a.Reason != redisv1alpha1.ReasonUpdatingPods {
		t.Fatalf("decide = %s (%s) %q, want a graceful failover for the update", a.Kind, a.Reason, a.Message)
	}
	if f := a.Plan.Steps[0].(planner.Failover); f.Replica != w.pod("rc-0-1").id || f.Mode != planner.FailoverGraceful {
		t.Errorf("failover %v, want graceful to rc-0-1", f)
	}
}

func TestRollingUpdateWaitsForReplicasInSync(t *testing.T) {
	w := healthy(3, 1, threeHosts...)
	outdate(w, "rc-2-1")
	w.pod("rc-1-1").linkUp = false
	a := decide(w.observation())
	if a.Kind == actUpdatePod || !strings.Contains(a.Blocked, "rolling update waits") {
		t.Fatalf("decide = %s (blocked %q), want the update to wait for rc-1-1's sync", a.Kind, a.Blocked)
	}
}

func TestRollingUpdateRecreatesAMasterWithoutReplicas(t *testing.T) {
	w := healthy(3, 0, threeHosts...)
	outdate(w, "rc-1-0")
	a := decide(w.observation())
	if a.Kind != actUpdatePod || a.Pod != "rc-1-0" || !strings.Contains(a.Message, "unavailable") {
		t.Fatalf("decide = %s pod %q (%q), want rc-1-0 recreated with a warning", a.Kind, a.Pod, a.Message)
	}
}

func TestStatusIsNotReadyWhilePodsAreOutdated(t *testing.T) {
	w := healthy(3, 1, threeHosts...)
	outdate(w, "rc-2-0")
	o := w.observation()
	s := computeStatus(statusInput{Generation: 7, Obs: o, Now: t0})
	// The failover decide would take is not in the input: the pass's
	// verdict is about the observation alone.
	wantCond(t, s, redisv1alpha1.ConditionReady, metav1.ConditionFalse, redisv1alpha1.ReasonTopologyChanging)
	if c := cond(t, s, redisv1alpha1.ConditionReady); !strings.Contains(c.Message, "5 of 6 pods run the current template") {
		t.Errorf("Ready message %q does not report the rollout", c.Message)
	}
}

func TestStatusIsNotReadyBeforeTheStatefulSetControllerSawTheTemplate(t *testing.T) {
	w := healthy(3, 1, threeHosts...)
	o := w.observation()
	o.SetsPending = true
	s := computeStatus(statusInput{Generation: 7, Obs: o, Now: t0})
	wantCond(t, s, redisv1alpha1.ConditionReady, metav1.ConditionFalse, redisv1alpha1.ReasonTopologyChanging)
}
