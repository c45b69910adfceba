package controller

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/pkg/executor"
	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/heal/healtest"
	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// scaledOutWorld is a 3-shard cluster whose spec asks for a 4th shard,
// created and attached but owning no slot yet.
func scaledOutWorld(paused bool) *healtest.World {
	w := healtest.Healthy(4, 1, threeHosts...)
	w.Pods = w.Pods[:6]
	ranges := planner.SplitEvenly(3)
	for _, p := range w.Pods {
		if p.Ordinal == 0 {
			p.Slots = topology.RangeSet(ranges[p.Group].Start, ranges[p.Group].End)
		}
	}
	w.AddShard(3, true)
	w.ReshardingPaused = paused
	return w
}

func pausedCluster(paused bool) *redisv1alpha1.RedisCluster {
	rc := &redisv1alpha1.RedisCluster{}
	rc.Name, rc.Namespace = "rc", "ns"
	rc.Spec.Masters = 4
	rc.Spec.ReplicasPerMaster = 1
	rc.Spec.Resharding = &redisv1alpha1.ReshardingSpec{Paused: paused}
	return rc
}

func TestAPausedScaleOutIsNotReadyWithReshardingPausedAndMovesNothing(t *testing.T) {
	w := scaledOutWorld(true)
	c := w.Cluster()
	st := &state{rc: pausedCluster(true), cluster: c, decision: heal.DefaultChain().Decide(c)}
	if !st.decision.IsNone() {
		t.Fatalf("decision %s while paused, want none", st.decision.Kind)
	}
	r := &Reconciler{Clock: clocktesting.NewFakePassiveClock(t0.Time)}
	r.notePausedResharding(st)
	rs := st.resharding
	if rs == nil || !rs.Paused || rs.SlotsRemaining != 4096 || rs.FromShards != 3 || rs.ToShards != 4 {
		t.Fatalf("status.resharding = %+v, want paused, 3 → 4 shards, 4096 slots left", rs)
	}
	s := computeStatus(statusInput{Generation: 7, Cluster: c, Decision: st.decision, Resharding: rs, Now: t0})
	cond := wantCond(t, s, redisv1alpha1.ConditionReady, metav1.ConditionFalse, redisv1alpha1.ReasonReshardingPaused)
	for _, want := range []string{"paused by spec.resharding.paused", "4096 left", "every slot is served"} {
		if !strings.Contains(cond.Message, want) {
			t.Errorf("Ready message %q does not say %q", cond.Message, want)
		}
	}

	// Resumed: the reshard rule moves slots again and the flag clears.
	w.ReshardingPaused = false
	w.Resharding = true
	c = w.Cluster()
	st.rc.Spec.Resharding.Paused = false
	st.cluster, st.decision = c, heal.DefaultChain().Decide(c)
	if st.decision.Kind != heal.Reshard {
		t.Fatalf("decision %s after resuming, want reshard", st.decision.Kind)
	}
	r.notePausedResharding(st)
	r.recordResharding(st, executor.Progress{SlotsDone: 1024, SlotsTotal: 4096, KeysMoved: 5000, Elapsed: 10 * time.Second, KeysPerSecond: 500})
	if rs.Paused || rs.SlotsMoved != 1024 || rs.SlotsRemaining != 3072 || rs.KeysMoved != 5000 || rs.KeysPerSecond != 500 {
		t.Fatalf("status.resharding after a pass = %+v", rs)
	}
	if rs.EstimatedCompletionTime == nil || !rs.EstimatedCompletionTime.Time.Equal(t0.Add(30*time.Second)) {
		t.Errorf("estimated completion %v, want 30 s after the pass (3072 slots at 1024 per 10 s)", rs.EstimatedCompletionTime)
	}
}

func TestReshardETA(t *testing.T) {
	cases := []struct {
		name            string
		done, remaining int
		elapsed         time.Duration
		want            time.Duration
		ok              bool
	}{
		{"extrapolates the pass's pace", 100, 300, 10 * time.Second, 30 * time.Second, true},
		{"no estimate from a pass that moved nothing", 0, 300, 10 * time.Second, 0, false},
		{"no estimate when nothing is left", 100, 0, 10 * time.Second, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := reshardETA(c.done, c.elapsed, c.remaining)
			if got != c.want || ok != c.ok {
				t.Errorf("reshardETA = %v, %t; want %v, %t", got, ok, c.want, c.ok)
			}
		})
	}
}

func TestReshardOptionsFollowTheSpec(t *testing.T) {
	rc := pausedCluster(false)
	if rate, par := reshardOptions(rc); rate != 0 || par != redisv1alpha1.DefaultReshardParallelism {
		t.Errorf("defaults = %v, %d; want unlimited and %d", rate, par, redisv1alpha1.DefaultReshardParallelism)
	}
	rc.Spec.Resharding.MaxKeysPerSecond = ptr.To[int32](2000)
	rc.Spec.Resharding.Parallelism = ptr.To[int32](1)
	if rate, par := reshardOptions(rc); rate != 2000 || par != 1 {
		t.Errorf("set = %v, %d; want 2000 keys/s and 1 transfer", rate, par)
	}
}
