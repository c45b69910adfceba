package controller

import (
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/heal/healtest"
)

var threeHosts = []string{"node-1", "node-2", "node-3"}

func cond(t *testing.T, s redisv1alpha1.RedisClusterStatus, ct redisv1alpha1.ConditionType) metav1.Condition {
	t.Helper()
	c := meta.FindStatusCondition(s.Conditions, ct.String())
	if c == nil {
		t.Fatalf("no %s condition in %+v", ct, s.Conditions)
	}
	return *c
}

func wantCond(t *testing.T, s redisv1alpha1.RedisClusterStatus, ct redisv1alpha1.ConditionType, status metav1.ConditionStatus, reason redisv1alpha1.ConditionReason) metav1.Condition {
	t.Helper()
	c := cond(t, s, ct)
	if c.Status != status || c.Reason != reason.String() {
		t.Errorf("%s = %s/%s (%s), want %s/%s", ct, c.Status, c.Reason, c.Message, status, reason)
	}
	if c.ObservedGeneration != 7 {
		t.Errorf("%s observedGeneration = %d, want 7", ct, c.ObservedGeneration)
	}
	return c
}

var t0 = metav1.NewTime(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))

func TestStatusOfHealthyClusterIsReady(t *testing.T) {
	w := healtest.Healthy(3, 1, threeHosts...)
	bound := storageFinding{Bound: true, Reason: redisv1alpha1.ReasonAllClaimsBound}
	s := computeStatus(statusInput{Generation: 7, Cluster: w.Cluster(), Storage: &bound, Now: t0})
	wantCond(t, s, redisv1alpha1.ConditionReady, metav1.ConditionTrue, redisv1alpha1.ReasonClusterReady)
	wantCond(t, s, redisv1alpha1.ConditionProgressing, metav1.ConditionFalse, redisv1alpha1.ReasonReconciled)
	wantCond(t, s, redisv1alpha1.ConditionDegraded, metav1.ConditionFalse, redisv1alpha1.ReasonHealthy)
	wantCond(t, s, redisv1alpha1.ConditionSlotsCovered, metav1.ConditionTrue, redisv1alpha1.ReasonAllSlotsServed)
	wantCond(t, s, redisv1alpha1.ConditionReplicasInSync, metav1.ConditionTrue, redisv1alpha1.ReasonAllReplicasInSync)
	wantCond(t, s, redisv1alpha1.ConditionReplicasPlaced, metav1.ConditionTrue, redisv1alpha1.ReasonSpreadAcrossNodes)
	wantCond(t, s, redisv1alpha1.ConditionStorageBound, metav1.ConditionTrue, redisv1alpha1.ReasonAllClaimsBound)
	if s.SlotsOK != 16384 || s.ReadyNodes != 6 || len(s.Shards) != 3 {
		t.Errorf("slotsOK %d readyNodes %d shards %d, want 16384 6 3", s.SlotsOK, s.ReadyNodes, len(s.Shards))
	}
	sh := s.Shards[1]
	if sh.MasterPod != "rc-1-0" || sh.Slots != "5462-10922" || len(sh.Replicas) != 1 || sh.Replicas[0].Pod != "rc-1-1" || !sh.Replicas[0].InSync {
		t.Errorf("shard 1 = %+v", sh)
	}

	// A second pass an hour later changes nothing, transition times included.
	again := computeStatus(statusInput{Generation: 7, Old: s, Cluster: w.Cluster(), Storage: &bound, Now: metav1.NewTime(t0.Add(time.Hour))})
	if c := cond(t, again, redisv1alpha1.ConditionReady); !c.LastTransitionTime.Equal(&t0) {
		t.Errorf("Ready lastTransitionTime moved to %v without a change", c.LastTransitionTime)
	}
}

func TestStatusIsNotReadyUntilEveryReplicaIsInSync(t *testing.T) {
	w := healtest.Healthy(3, 1, threeHosts...)
	w.Pod("rc-2-1").LinkUp = false
	s := computeStatus(statusInput{Generation: 7, Cluster: w.Cluster(), Now: t0})
	wantCond(t, s, redisv1alpha1.ConditionReady, metav1.ConditionFalse, redisv1alpha1.ReasonReplicasNotInSync)
	wantCond(t, s, redisv1alpha1.ConditionReplicasInSync, metav1.ConditionFalse, redisv1alpha1.ReasonLinkDown)
	wantCond(t, s, redisv1alpha1.ConditionDegraded, metav1.ConditionTrue, redisv1alpha1.ReasonReplicaMissing)
}

func TestStatusWhileActing(t *testing.T) {
	w := healtest.Healthy(3, 1, threeHosts...)
	w.Pod("rc-0-0").Terminating = true
	c := w.Cluster()
	d := heal.DefaultChain().Decide(c)
	s := computeStatus(statusInput{Generation: 7, Cluster: c, Decision: d, Now: t0})
	wantCond(t, s, redisv1alpha1.ConditionReady, metav1.ConditionFalse, redisv1alpha1.ReasonTopologyChanging)
	wantCond(t, s, redisv1alpha1.ConditionProgressing, metav1.ConditionTrue, redisv1alpha1.ReasonFailingOver)
}

func TestStatusOfMasterDown(t *testing.T) {
	w := healtest.Healthy(3, 1, threeHosts...)
	w.Pod("rc-0-0").Silent = true
	s := computeStatus(statusInput{Generation: 7, Cluster: w.Cluster(), Now: t0})
	wantCond(t, s, redisv1alpha1.ConditionDegraded, metav1.ConditionTrue, redisv1alpha1.ReasonMasterDown)
	wantCond(t, s, redisv1alpha1.ConditionSlotsCovered, metav1.ConditionFalse, redisv1alpha1.ReasonSlotsOnFailedMaster)
	if s.SlotsOK != 16384-5462 {
		t.Errorf("slotsOK = %d, want %d", s.SlotsOK, 16384-5462)
	}
}

func TestStatusNamesTheMissingStorageClass(t *testing.T) {
	f := storageFinding{Reason: redisv1alpha1.ReasonStorageClassNotFound, Class: "nfs",
		Message: `PersistentVolumeClaim data-rc-0-0 is Pending: storageclass.storage.k8s.io "nfs" not found`}
	s := computeStatus(statusInput{Generation: 7, Cluster: heal.Derive(heal.Observation{Spec: heal.Spec{Declared: true, Masters: 3, ReplicasPerMaster: 1}}), Storage: &f, Now: t0})
	wantCond(t, s, redisv1alpha1.ConditionStorageBound, metav1.ConditionFalse, redisv1alpha1.ReasonStorageClassNotFound)
	wantCond(t, s, redisv1alpha1.ConditionReady, metav1.ConditionFalse, redisv1alpha1.ReasonPodsNotReady)
	if c := cond(t, s, redisv1alpha1.ConditionStorageBound); c.Message != f.Message {
		t.Errorf("message %q", c.Message)
	}
}

func TestStatusOfSharedNode(t *testing.T) {
	w := healtest.Healthy(3, 1, "node-1")
	s := computeStatus(statusInput{Generation: 7, Cluster: w.Cluster(), Now: t0})
	wantCond(t, s, redisv1alpha1.ConditionReplicasPlaced, metav1.ConditionFalse, redisv1alpha1.ReasonNotEnoughNodes)

	w = healtest.Healthy(3, 1, threeHosts...)
	w.Pod("rc-1-1").Host = w.Pod("rc-1-0").Host
	s = computeStatus(statusInput{Generation: 7, Cluster: w.Cluster(), Now: t0})
	wantCond(t, s, redisv1alpha1.ConditionReplicasPlaced, metav1.ConditionFalse, redisv1alpha1.ReasonSharedNode)
}

func TestStatusSaysTooFewNodesBeforeAnyPodIsPlaced(t *testing.T) {
	w := healtest.Fresh(3, 3, threeHosts...)
	s := computeStatus(statusInput{Generation: 7, Cluster: w.Cluster(), Now: t0})
	c := wantCond(t, s, redisv1alpha1.ConditionReplicasPlaced, metav1.ConditionFalse, redisv1alpha1.ReasonNotEnoughNodes)
	if !strings.Contains(c.Message, "3 schedulable nodes for 4 members per shard") {
		t.Errorf("message %q", c.Message)
	}
}

func TestStatusNamesAPodLevelFailure(t *testing.T) {
	w := healtest.Healthy(3, 1, threeHosts...)
	w.Pod("rc-1-1").Ready = false
	pods := podFinding{redisv1alpha1.ReasonCrashLoopBackOff, "pod rc-1-1 container redis is in CrashLoopBackOff (4 restarts); last exit code 1: Bad directive"}
	s := computeStatus(statusInput{Generation: 7, Cluster: w.Cluster(), Pods: pods, Now: t0})
	for _, ct := range []redisv1alpha1.ConditionType{redisv1alpha1.ConditionDegraded, redisv1alpha1.ConditionReady} {
		want := metav1.ConditionFalse
		if ct == redisv1alpha1.ConditionDegraded {
			want = metav1.ConditionTrue
		}
		if c := wantCond(t, s, ct, want, redisv1alpha1.ReasonCrashLoopBackOff); c.Message != pods.Message {
			t.Errorf("%s message %q, want %q", ct, c.Message, pods.Message)
		}
	}
}

func TestStatusOfErrors(t *testing.T) {
	s := computeStatus(statusInput{Generation: 7, Err: errors.New("observe redis: boom"), Now: t0})
	wantCond(t, s, redisv1alpha1.ConditionDegraded, metav1.ConditionTrue, redisv1alpha1.ReasonReconcileError)
	s = computeStatus(statusInput{Generation: 7, Err: reconcile.TerminalError(errors.New("spec.masters is 2")), Now: t0})
	wantCond(t, s, redisv1alpha1.ConditionDegraded, metav1.ConditionTrue, redisv1alpha1.ReasonInvalidSpec)
	s = computeStatus(statusInput{Generation: 7, Invalid: `spec.passwordSecret.name: Secret "pw" not found`, Now: t0})
	wantCond(t, s, redisv1alpha1.ConditionDegraded, metav1.ConditionTrue, redisv1alpha1.ReasonInvalidSpec)
}

// A replica of a silent master keeps the in-sync mark of the last pass
// that saw the master (it takes no writes of its own meanwhile), so that
// a forced failover a few passes later still finds a safe replica; a
// replica not in sync then stays not in sync.
func TestReplicaOfSilentMasterKeepsLastInSync(t *testing.T) {
	w := healtest.Healthy(3, 1, threeHosts...)
	w.Pod("rc-0-0").Silent = true
	w.Pod("rc-0-1").LinkUp = false
	w.Synced[w.Pod("rc-1-1").NodeID] = false
	w.Pod("rc-1-0").Silent = true
	byPod := map[string]bool{}
	for _, sh := range shardStatuses(w.Cluster().Shards) {
		for _, r := range sh.Replicas {
			byPod[r.Pod] = r.InSync
		}
	}
	if !byPod["rc-0-1"] {
		t.Errorf("rc-0-1 (in sync when its master was last seen) is not in sync: %v", byPod)
	}
	if byPod["rc-1-1"] {
		t.Errorf("rc-1-1 (not in sync in the last pass) is in sync: %v", byPod)
	}
}

func TestStatusIsNotReadyWhilePodsAreOutdated(t *testing.T) {
	w := healtest.Healthy(3, 1, threeHosts...)
	w.Pod("rc-2-0").Outdated = true
	s := computeStatus(statusInput{Generation: 7, Cluster: w.Cluster(), Now: t0})
	// The failover the chain would decide is not in the input: the pass's
	// verdict is about the observation alone.
	wantCond(t, s, redisv1alpha1.ConditionReady, metav1.ConditionFalse, redisv1alpha1.ReasonTopologyChanging)
	if c := cond(t, s, redisv1alpha1.ConditionReady); !strings.Contains(c.Message, "5 of 6 pods run the current template") {
		t.Errorf("Ready message %q does not report the rollout", c.Message)
	}
}

func TestStatusIsNotReadyBeforeTheStatefulSetControllerSawTheTemplate(t *testing.T) {
	w := healtest.Healthy(3, 1, threeHosts...)
	w.GroupsPending = true
	s := computeStatus(statusInput{Generation: 7, Cluster: w.Cluster(), Now: t0})
	wantCond(t, s, redisv1alpha1.ConditionReady, metav1.ConditionFalse, redisv1alpha1.ReasonTopologyChanging)
}

func TestRequeueAfter(t *testing.T) {
	ready := redisv1alpha1.RedisClusterStatus{Conditions: []metav1.Condition{{
		Type: redisv1alpha1.ConditionReady.String(), Status: metav1.ConditionTrue,
	}}}
	act := heal.Decision{Kind: heal.Failover}
	for _, tc := range []struct {
		name     string
		invalid  string
		status   redisv1alpha1.RedisClusterStatus
		wasReady bool
		decision heal.Decision
		want     time.Duration
	}{
		{name: "an invalid spec is looked at again slowly", invalid: "spec.x", want: RequeueInvalid},
		{name: "Ready twice in a row with nothing to do is idle", status: ready, wasReady: true, want: RequeueIdle},
		{name: "first Ready pass comes back soon for the optional moves", status: ready, want: RequeueBusy},
		{name: "Ready with an action in flight is busy", status: ready, wasReady: true, decision: act, want: RequeueBusy},
		{name: "not Ready is busy", wasReady: true, want: RequeueBusy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &state{rc: &redisv1alpha1.RedisCluster{Status: tc.status}, invalid: tc.invalid, decision: tc.decision}
			st.obs.Memory.WasReady = tc.wasReady
			if got := requeueAfter(st); got != tc.want {
				t.Errorf("requeueAfter = %v, want %v", got, tc.want)
			}
		})
	}
}
