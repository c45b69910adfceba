package controller

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/heal/healtest"
)

func TestKeepSurplusMasters(t *testing.T) {
	rc := &redisv1alpha1.RedisCluster{}
	rc.Name = "rc"
	rc.Spec.Masters, rc.Spec.ReplicasPerMaster = 3, 0
	rc.Generation = 4
	shards := func(masters ...string) redisv1alpha1.RedisClusterStatus {
		s := redisv1alpha1.RedisClusterStatus{ObservedGeneration: 4}
		for i, m := range masters {
			s.Shards = append(s.Shards, redisv1alpha1.ShardStatus{Index: int32(i), MasterPod: m,
				Replicas: []redisv1alpha1.ReplicaStatus{{Pod: fmt.Sprintf("rc-%d-9", i)}}})
		}
		return s
	}
	older := func(s redisv1alpha1.RedisClusterStatus) redisv1alpha1.RedisClusterStatus {
		s.ObservedGeneration = 3
		return s
	}
	cases := []struct {
		name string
		old  redisv1alpha1.RedisClusterStatus
		want map[int]int32
	}{
		{"nothing held when every master is within the count", shards("rc-0-0", "rc-1-0", "rc-2-0"), nil},
		{"keeps the pods up to a master beyond the count", shards("rc-0-0", "rc-1-1", "rc-2-0"), map[int]int32{1: 2}},
		{"ignores a shard without a master", shards("rc-0-0", "", "rc-2-2"), map[int]int32{2: 3}},
		{"ignores a shard the spec removes", shards("rc-0-0", "rc-1-0", "rc-2-0", "rc-3-1"), nil},
		{"ignores a status naming a pod of another cluster", shards("other-0-1", "rc-1-0", "rc-2-0"), nil},
		{"keeps every pod the status lists until a pass observed the new generation", older(shards("rc-0-0", "rc-1-0", "")), map[int]int32{0: 10, 1: 10, 2: 10}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := keepSurplusMasters(rc, c.old); !maps.Equal(got, c.want) {
				t.Errorf("keepSurplusMasters = %v, want %v", got, c.want)
			}
		})
	}
}

func TestStatusIsNotReadyWhilePodsBeyondReplicasPerMasterRemain(t *testing.T) {
	w := healtest.Healthy(3, 1, threeHosts...)
	w.Replicas = 0
	c := w.Cluster()
	s := computeStatus(statusInput{Generation: 7, Cluster: c, Decision: heal.DefaultChain().Decide(c), Now: t0})
	cond := wantCond(t, s, redisv1alpha1.ConditionReady, metav1.ConditionFalse, redisv1alpha1.ReasonTopologyChanging)
	if !strings.Contains(cond.Message, "removing 3 pods beyond spec.replicasPerMaster (0)") {
		t.Errorf("Ready message %q", cond.Message)
	}
}
