package controller

import (
	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// restoreGate sets Restored for a cluster with spec.restore and returns
// the setter readiness must use: it holds Ready False, with Restored's
// reason, while the cluster is otherwise Ready and the restore has not
// succeeded — set once per pass, so Ready's transition time does not move.
// Restored is RestoreWaitingForCluster while the cluster is not otherwise
// Ready, RestorePending once it is (the restore controller starts the Job
// on that reason), then RestoreRunning, RestoreFailed or Restored from
// status.restore.
func restoreGate(set setFunc, st *redisv1alpha1.RestoreStatus, ready bool) setFunc {
	reason, msg := restoreReason(st, ready)
	set(redisv1alpha1.ConditionRestored, reason == redisv1alpha1.ReasonRestored, reason, msg)
	if !ready || reason == redisv1alpha1.ReasonRestored {
		return set
	}
	return func(t redisv1alpha1.ConditionType, ok bool, r redisv1alpha1.ConditionReason, m string) {
		if t == redisv1alpha1.ConditionReady {
			ok, r, m = false, reason, "the cluster is up; Ready waits for spec.restore: "+msg
		}
		set(t, ok, r, m)
	}
}

// restoreReason is Restored's reason and message.
func restoreReason(st *redisv1alpha1.RestoreStatus, ready bool) (redisv1alpha1.ConditionReason, string) {
	phase, msg := redisv1alpha1.RestorePending, ""
	if st != nil {
		phase, msg = st.Phase, st.Message
	}
	switch {
	case phase == redisv1alpha1.RestoreSucceeded:
		return redisv1alpha1.ReasonRestored, orDefault(msg, "restored from "+st.Location)
	case phase == redisv1alpha1.RestoreFailed:
		return redisv1alpha1.ReasonRestoreFailed, msg
	case phase == redisv1alpha1.RestoreRunning:
		return redisv1alpha1.ReasonRestoreRunning, orDefault(msg, "the restore Job runs")
	case !ready:
		return redisv1alpha1.ReasonRestoreWaitingForCluster, "the restore starts once the cluster is up"
	default:
		return redisv1alpha1.ReasonRestorePending, orDefault(msg, "the restore is about to start")
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
