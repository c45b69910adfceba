package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// testOperatorPodFailures creates clusters whose pods cannot run and checks
// that the RedisCluster names the cause (Degraded and Ready, with the pod
// and the scheduler's or the StatefulSet controller's words) instead of
// "PodsNotReady" or a pending claim.
func testOperatorPodFailures(t *testing.T, e *opEnv) {
	for _, tc := range []struct {
		name      string
		placement redisv1alpha1.PlacementSpec
		reason    redisv1alpha1.ConditionReason
		says      []string
		// claimWaits is what StorageBound says of a pending claim.
		claimWaits string
	}{
		{
			name:       "nowhere",
			placement:  redisv1alpha1.PlacementSpec{NodeSelector: map[string]string{"redkube.io/e2e-no-such-label": "x"}},
			reason:     redisv1alpha1.ReasonUnschedulable,
			says:       []string{"pod nowhere-0-0 cannot be scheduled: 0/3 nodes are available", "node affinity/selector"},
			claimWaits: "which cannot be scheduled",
		},
		{
			name:       "nopriority",
			placement:  redisv1alpha1.PlacementSpec{PriorityClassName: "e2e-missing-priority"},
			reason:     redisv1alpha1.ReasonPodCreateFailed,
			says:       []string{"StatefulSet nopriority-0 cannot create its pod", "no PriorityClass with name e2e-missing-priority was found"},
			claimWaits: "which StatefulSet nopriority-",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := &redisv1alpha1.RedisCluster{
				ObjectMeta: metav1.ObjectMeta{Name: tc.name, Namespace: opNS},
				Spec: redisv1alpha1.RedisClusterSpec{
					Masters: 3, ReplicasPerMaster: 1, Placement: tc.placement,
					Storage: redisv1alpha1.StorageSpec{Size: resource.MustParse("64Mi")},
				},
			}
			e.create(t.Context(), t, rc)
			began := time.Now()
			opWait(t, time.Minute, "Degraded and Ready naming "+string(tc.reason), func(ctx context.Context) error {
				got, err := e.get(ctx, tc.name)
				if err != nil {
					return err
				}
				for _, ct := range []redisv1alpha1.ConditionType{redisv1alpha1.ConditionDegraded, redisv1alpha1.ConditionReady} {
					c := meta.FindStatusCondition(got.Status.Conditions, string(ct))
					if c == nil || c.Reason != string(tc.reason) {
						return fmt.Errorf("%s = %+v", ct, c)
					}
					for _, s := range tc.says {
						if !strings.Contains(c.Message, s) {
							return fmt.Errorf("%s message %q does not say %q", ct, c.Message, s)
						}
					}
				}
				if !meta.IsStatusConditionTrue(got.Status.Conditions, string(redisv1alpha1.ConditionDegraded)) {
					return fmt.Errorf("Degraded is not True")
				}
				if c := meta.FindStatusCondition(got.Status.Conditions, string(redisv1alpha1.ConditionStorageBound)); c != nil && c.Reason == string(redisv1alpha1.ReasonClaimPending) &&
					!strings.Contains(c.Message, tc.claimWaits) {
					return fmt.Errorf("StorageBound blames the claim: %q", c.Message)
				}
				return nil
			})
			t.Logf("timing: %s named on the RedisCluster %v after create", tc.reason, time.Since(began))
		})
	}
}
