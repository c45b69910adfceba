package controller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/pkg/executor"
	"github.com/redkube/redkube/pkg/heal"
)

// The pace of a resharding, beside redkube_resharding_slots_remaining.
var (
	reshardKeysPerSecond = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "redkube_resharding_keys_per_second",
		Help: "Keys per second the running resharding moved in its last pass that moved keys; 0 when none runs.",
	}, []string{"namespace", "name"})
	reshardPaused = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "redkube_resharding_paused",
		Help: "1 while spec.resharding.paused holds a resharding that has slots left to move.",
	}, []string{"namespace", "name"})
	reshardETASeconds = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "redkube_resharding_eta_seconds",
		Help: "Seconds until the running resharding is expected to finish at the pace of its passes so far; 0 when none runs, while paused, or before a slot moved.",
	}, []string{"namespace", "name"})
	reshardGauges = []*prometheus.GaugeVec{reshardKeysPerSecond, reshardPaused, reshardETASeconds}
)

func init() {
	for _, g := range reshardGauges {
		ctrlmetrics.Registry.MustRegister(g)
	}
}

// reshardOptions are the executor's pace for a resharding:
// spec.resharding.maxKeysPerSecond (0: unlimited) and parallelism.
func reshardOptions(rc *redisv1alpha1.RedisCluster) (rate float64, parallel int) {
	parallel = redisv1alpha1.DefaultReshardParallelism
	if rs := rc.Spec.Resharding; rs != nil {
		if rs.MaxKeysPerSecond != nil {
			rate = float64(*rs.MaxKeysPerSecond)
		}
		if rs.Parallelism != nil {
			parallel = int(*rs.Parallelism)
		}
	}
	return rate, parallel
}

// reshardingPaused reports whether the spec holds the slot moves.
func reshardingPaused(rc *redisv1alpha1.RedisCluster) bool {
	return rc.Spec.Resharding != nil && rc.Spec.Resharding.Paused
}

// recordResharding advances status.resharding by a reshard pass's progress:
// slots and keys moved, the pass's key rate, and the completion estimated
// at the pass's pace (slots per second of its moving time).
func (r *Reconciler) recordResharding(st *state, p executor.Progress) {
	now := r.Clock.Now()
	rs := r.startResharding(st, now)
	rs.ToShards = st.rc.Spec.Masters
	rs.Paused = false
	rs.SlotsMoved += int32(p.SlotsDone)
	rs.SlotsRemaining = int32(p.SlotsTotal - p.SlotsDone)
	rs.KeysMoved += p.KeysMoved
	if p.KeysMoved > 0 {
		rs.KeysPerSecond = int64(p.KeysPerSecond)
	}
	rs.EstimatedCompletionTime = nil
	if eta, ok := reshardETA(p.SlotsDone, p.Elapsed, int(rs.SlotsRemaining)); ok {
		t := metav1.NewTime(now.Add(eta).Truncate(time.Second))
		rs.EstimatedCompletionTime = &t
	}
	slotsMovedTotal.WithLabelValues(st.rc.Namespace, st.rc.Name).Add(float64(p.SlotsDone))
}

// startResharding returns status.resharding, started now if none runs.
func (r *Reconciler) startResharding(st *state, now time.Time) *redisv1alpha1.ReshardingStatus {
	if st.resharding == nil {
		st.resharding = &redisv1alpha1.ReshardingStatus{
			FromShards: int32(servingMasters(st.cluster)),
			ToShards:   st.rc.Spec.Masters,
			StartTime:  metav1.NewTime(now),
		}
	}
	return st.resharding
}

// reshardETA extrapolates a pass's pace (done slots in elapsed) to the
// slots remaining; false when the pass moved nothing or nothing is left.
func reshardETA(done int, elapsed time.Duration, remaining int) (time.Duration, bool) {
	if done <= 0 || elapsed <= 0 || remaining <= 0 {
		return 0, false
	}
	return elapsed / time.Duration(done) * time.Duration(remaining), true
}

// notePausedResharding keeps status.resharding.paused in step with the
// spec, and records a change of spec.masters that the pause holds before
// it moved a slot, so that Ready says so (ReshardingPaused) and the moves
// resume from the status after a restart.
func (r *Reconciler) notePausedResharding(st *state) {
	paused := reshardingPaused(st.rc) && st.decision.Kind != heal.Reshard
	if rs := st.resharding; rs != nil {
		rs.Paused = paused
		if paused {
			rs.EstimatedCompletionTime = nil
		}
		return
	}
	if !paused || st.cluster == nil {
		return
	}
	plan, need, _ := heal.ReshardPlan(st.cluster)
	if !need {
		return
	}
	rs := r.startResharding(st, r.Clock.Now())
	rs.Paused = true
	rs.SlotsRemaining = int32(plan.MigratedSlots())
}

// setReshardMetrics records the pace of status.resharding (zeros when none
// runs).
func setReshardMetrics(namespace, name string, rs *redisv1alpha1.ReshardingStatus, now time.Time) {
	var kps, paused, eta float64
	if rs != nil {
		kps = float64(rs.KeysPerSecond)
		paused = b2f(rs.Paused)
		if t := rs.EstimatedCompletionTime; t != nil && t.After(now) {
			eta = t.Sub(now).Seconds()
		}
	}
	reshardKeysPerSecond.WithLabelValues(namespace, name).Set(kps)
	reshardPaused.WithLabelValues(namespace, name).Set(paused)
	reshardETASeconds.WithLabelValues(namespace, name).Set(eta)
}

// initReshardMetrics and forgetReshardMetrics are InitMetrics' and
// forgetMetrics' share for the gauges above.
func initReshardMetrics(namespace, name string) {
	for _, g := range reshardGauges {
		g.WithLabelValues(namespace, name)
	}
}

func forgetReshardMetrics(l prometheus.Labels) {
	for _, g := range reshardGauges {
		g.DeletePartialMatch(l)
	}
}
