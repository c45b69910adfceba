package controller

import (
	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
)

// keepSurplusMasters returns, per shard, the pod count that keeps the
// shard's master pod when the spec lowered replicasPerMaster below its
// ordinal: the last status names each shard's master pod, and until the
// heal chain handed the role to a pod that stays (surplusMaster), the
// StatefulSet keeps its pods up to that one. A status older than a
// failover since can only make the hold late by a pass; a master removed
// meanwhile hands over as any deleted master pod does (preStop, graceful
// failover).
func keepSurplusMasters(rc *redisv1alpha1.RedisCluster, old redisv1alpha1.RedisClusterStatus) map[int]int32 {
	var keep map[int]int32
	for _, sh := range old.Shards {
		shard, ordinal, ok := resources.ParsePodName(rc, sh.MasterPod)
		if !ok || shard != int(sh.Index) || shard >= int(rc.Spec.Masters) || int32(ordinal) < rc.Spec.PodsPerShard() {
			continue
		}
		if keep == nil {
			keep = map[int]int32{}
		}
		keep[shard] = int32(ordinal) + 1
	}
	return keep
}
