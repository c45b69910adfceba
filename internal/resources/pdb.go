package resources

import (
	"fmt"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// PodDisruptionBudget renders shard's PodDisruptionBudget: at most one pod
// of the shard voluntarily disrupted (drained, evicted) at a time. The
// controller creates it only when spec.podDisruptionBudget.IsEnabled() and
// deletes it otherwise.
func PodDisruptionBudget(rc *redisv1alpha1.RedisCluster, shard int) (*policyv1.PodDisruptionBudget, error) {
	if err := checkShard(rc, shard); err != nil {
		return nil, err
	}
	maxUnavailable := intstr.FromInt32(1)
	pdb := &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: objectMeta(rc, PodDisruptionBudgetName(rc, shard), ShardLabels(rc, shard)),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: &maxUnavailable,
			Selector:       &metav1.LabelSelector{MatchLabels: ShardSelectorLabels(rc, shard)},
		},
	}
	if err := stampSpecHash(pdb); err != nil {
		return nil, err
	}
	return pdb, nil
}

// checkShard rejects a shard index outside 0..masters-1.
func checkShard(rc *redisv1alpha1.RedisCluster, shard int) error {
	if shard < 0 || shard >= int(rc.Spec.Masters) {
		return fmt.Errorf("shard %d of RedisCluster %s/%s: out of range 0..%d", shard, rc.Namespace, rc.Name, rc.Spec.Masters-1)
	}
	return nil
}
