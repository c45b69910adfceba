package controller

import (
	"testing"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

func TestRestoreGate(t *testing.T) {
	phase := func(p redisv1alpha1.RestorePhase) *redisv1alpha1.RestoreStatus {
		return &redisv1alpha1.RestoreStatus{Phase: p, Location: "s3://b/x", Message: "m"}
	}
	cases := []struct {
		name       string
		st         *redisv1alpha1.RestoreStatus
		ready      bool
		wantReason redisv1alpha1.ConditionReason
		holdsReady bool
	}{
		{"waits for the cluster before anything", nil, false, redisv1alpha1.ReasonRestoreWaitingForCluster, false},
		{"a cluster up asks for the restore and is not Ready", nil, true, redisv1alpha1.ReasonRestorePending, true},
		{"a waiting restore keeps Ready False", phase(redisv1alpha1.RestorePending), true, redisv1alpha1.ReasonRestorePending, true},
		{"a running restore keeps Ready False", phase(redisv1alpha1.RestoreRunning), true, redisv1alpha1.ReasonRestoreRunning, true},
		{"a failed restore keeps Ready False and says so", phase(redisv1alpha1.RestoreFailed), true, redisv1alpha1.ReasonRestoreFailed, true},
		{"a succeeded restore lets Ready be", phase(redisv1alpha1.RestoreSucceeded), true, redisv1alpha1.ReasonRestored, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := map[redisv1alpha1.ConditionType]redisv1alpha1.ConditionReason{}
			calls := map[redisv1alpha1.ConditionType]int{}
			readySet := restoreGate(func(ct redisv1alpha1.ConditionType, ok bool, reason redisv1alpha1.ConditionReason, _ string) {
				got[ct] = reason
				calls[ct]++
				if ct == redisv1alpha1.ConditionRestored && ok != (reason == redisv1alpha1.ReasonRestored) {
					t.Errorf("Restored %v with reason %s", ok, reason)
				}
				if ct == redisv1alpha1.ConditionReady && ok && c.holdsReady {
					t.Errorf("Ready set True while the restore is not done")
				}
			}, c.st, c.ready)
			// readiness sets Ready once, True when the cluster is ready.
			readySet(redisv1alpha1.ConditionReady, c.ready, redisv1alpha1.ReasonClusterReady, "")
			if calls[redisv1alpha1.ConditionReady] != 1 {
				t.Errorf("Ready set %d times in one pass, want once (its transition time would move)", calls[redisv1alpha1.ConditionReady])
			}
			if c.holdsReady != (got[redisv1alpha1.ConditionReady] != redisv1alpha1.ReasonClusterReady) {
				t.Errorf("Ready reason %q, holding %v", got[redisv1alpha1.ConditionReady], c.holdsReady)
			}
			if got[redisv1alpha1.ConditionRestored] != c.wantReason {
				t.Errorf("Restored reason %q, want %q", got[redisv1alpha1.ConditionRestored], c.wantReason)
			}
		})
	}
}
