package controller

import (
	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
)

// keepSurplusMasters returns, per shard, the pod count that keeps the
// shard's master pod when the spec lowered replicasPerMaster below its
// ordinal, from the last status (it names each shard's master and
// replicas): until the heal chain handed the role to a pod that stays
// (surplusMaster), the StatefulSet keeps its pods up to that one. The
// first pass of a new generation has not observed Redis under the new spec
// yet, and its status may predate a failover: it keeps every pod the
// status lists. A master removed despite this hands over as any deleted
// master pod does (preStop, graceful failover).
func keepSurplusMasters(rc *redisv1alpha1.RedisCluster, old redisv1alpha1.RedisClusterStatus) map[int]int32 {
	keep := map[int]int32{}
	hold := func(shard int, pod string) {
		s, ordinal, ok := resources.ParsePodName(rc, pod)
		if ok && s == shard && shard < int(rc.Spec.Masters) && int32(ordinal) >= rc.Spec.PodsPerShard() {
			keep[shard] = max(keep[shard], int32(ordinal)+1)
		}
	}
	fresh := old.ObservedGeneration != rc.Generation
	for _, sh := range old.Shards {
		hold(int(sh.Index), sh.MasterPod)
		if !fresh {
			continue
		}
		for _, r := range sh.Replicas {
			hold(int(sh.Index), r.Pod)
		}
	}
	if len(keep) == 0 {
		return nil
	}
	return keep
}
